/*
 * host_pressure.c - pressure stall information (PSI) from /proc/pressure/
 * (kernels >= 4.20 built with it; skipped silently otherwise), as
 * node_exporter's pressure collector names it: the "total=" microseconds of
 * the "some" line are node_pressure_<res>_waiting_seconds_total, those of
 * the "full" line node_pressure_<res>_stalled_seconds_total (io and memory
 * only: node_exporter reports no full line for cpu).
 *
 *   some avg10=0.00 avg60=0.00 avg300=0.00 total=12345
 *   full avg10=0.00 avg60=0.00 avg300=0.00 total=6789
 */
#include <stdio.h>
#include <string.h>
#include "agent/host.h"
#include "agent/host_int.h"

static const struct {
    const char *res, *waiting, *stalled;
} resources[] = {
    { "cpu", "node_pressure_cpu_waiting_seconds_total", NULL },
    { "io", "node_pressure_io_waiting_seconds_total", "node_pressure_io_stalled_seconds_total" },
    { "memory", "node_pressure_memory_waiting_seconds_total",
      "node_pressure_memory_stalled_seconds_total" },
};

static int one(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms, size_t r)
{
    struct host_file hf;
    char rel[64];
    int rc = 0;

    snprintf(rel, sizeof rel, "pressure/%s", resources[r].res);
    if (!host_open(&hf, e, host_root(o, 'p'), rel))
        goto out;
    while (rc == 0 && host_next(&hf)) {
        char *f[6], help[128];
        const char *name = NULL;
        size_t n;
        uint64_t us;
        int some;

        n = host_fields(hf.line, f, 6);
        if (n == 0)
            continue;
        some = strcmp(f[0], "some") == 0;
        if (!some && strcmp(f[0], "full") != 0) {
            host_warn(&hf, "line starts with \"%s\", expected some or full", f[0]);
            continue;
        }
        if (n != 5 || strncmp(f[4], "total=", 6) != 0 || host_u64(f[4] + 6, &us) != 0) {
            host_warn(&hf, "expected \"%s avg10=X avg60=X avg300=X total=N\"", f[0]);
            continue;
        }
        name = some ? resources[r].waiting : resources[r].stalled;
        if (name == NULL)
            continue;
        snprintf(help, sizeof help, "Total time in seconds that %s tasks %s %s.",
                 some ? "some" : "all non-idle", some ? "waited for" : "stalled on",
                 resources[r].res);
        rc = host_meta(e, name, AGENT_COUNTER, help);
        if (rc == 0)
            rc = host_sample(e, name, NULL, 0, now_ms, (double)us / 1e6);
    }
out:
    host_close(&hf);
    return rc;
}

int host_pressure_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    int rc = 0;
    for (size_t r = 0; r < sizeof(resources) / sizeof(resources[0]) && rc == 0; r++)
        rc = one(o, e, now_ms, r);
    return rc;
}
