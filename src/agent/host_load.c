/*
 * host_load.c - the load averages of /proc/loadavg ("0.52 0.58 0.59 1/467
 * 12345"): node_load1, node_load5, node_load15, gauges, as node_exporter's
 * loadavg collector names them.
 */
#include <stdio.h>
#include "agent/host.h"
#include "agent/host_int.h"

int host_load_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    static const char *const names[3] = { "node_load1", "node_load5", "node_load15" };
    static const char *const helps[3] = { "1m load average.", "5m load average.",
                                          "15m load average." };
    struct host_file hf;
    char *f[3];
    double v[3];
    size_t n;
    int rc = 0;

    if (!host_open(&hf, e, host_root(o, 'p'), "loadavg"))
        goto out;
    if (!host_next(&hf)) {
        host_warn(&hf, "empty file");
        goto out;
    }
    n = host_fields(hf.line, f, 3);
    if (n < 3) {
        host_warn(&hf, "%zu fields, expected at least 3", n);
        goto out;
    }
    for (size_t i = 0; i < 3; i++) {
        if (host_f64(f[i], &v[i]) != 0) {
            host_warn(&hf, "field %zu \"%s\" is not a number", i + 1, f[i]);
            goto out;
        }
    }
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        rc = host_meta(e, names[i], AGENT_GAUGE, helps[i]);
        if (rc == 0)
            rc = host_sample(e, names[i], NULL, 0, now_ms, v[i]);
    }
out:
    host_close(&hf);
    return rc;
}
