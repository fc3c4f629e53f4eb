/*
 * host_stat.c - the system-wide counters of /proc/stat, as node_exporter's
 * stat collector names them: node_context_switches_total (ctxt),
 * node_intr_total (first field of intr: all interrupts), node_forks_total
 * (processes), node_boot_time_seconds (btime), node_procs_running and
 * node_procs_blocked. The per-CPU lines are host_cpu.c's.
 */
#include <stdio.h>
#include <string.h>
#include "agent/host.h"
#include "agent/host_int.h"

static const struct {
    const char *key, *name, *help;
    enum agent_metric_type type;
} keys[] = {
    { "ctxt", "node_context_switches_total", "Total number of context switches.", AGENT_COUNTER },
    { "intr", "node_intr_total", "Total number of interrupts serviced.", AGENT_COUNTER },
    { "processes", "node_forks_total", "Total number of forks.", AGENT_COUNTER },
    { "btime", "node_boot_time_seconds", "Node boot time, in unixtime.", AGENT_GAUGE },
    { "procs_running", "node_procs_running", "Number of processes in runnable state.",
      AGENT_GAUGE },
    { "procs_blocked", "node_procs_blocked",
      "Number of processes blocked waiting for I/O to complete.", AGENT_GAUGE },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

int host_stat_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    struct host_file hf;
    int rc = 0;

    if (!host_open(&hf, e, host_root(o, 'p'), "stat"))
        goto out;
    while (rc == 0 && host_next(&hf)) {
        char *f[2];
        size_t n, k;
        uint64_t v;

        n = host_fields(hf.line, f, 2);
        if (n == 0)
            continue;
        for (k = 0; k < NKEYS; k++)
            if (strcmp(f[0], keys[k].key) == 0)
                break;
        if (k == NKEYS)
            continue;
        if (n < 2) {
            host_warn(&hf, "%s has no value", f[0]);
            continue;
        }
        if (host_u64(f[1], &v) != 0) {
            host_warn(&hf, "%s value \"%s\" is not a number", f[0], f[1]);
            continue;
        }
        rc = host_meta(e, keys[k].name, keys[k].type, keys[k].help);
        if (rc == 0)
            rc = host_sample(e, keys[k].name, NULL, 0, now_ms, (double)v);
    }
out:
    host_close(&hf);
    return rc;
}
