/*
 * host_cpu.c - CPU time per CPU and mode from /proc/stat, as node_exporter's
 * cpu collector names it: node_cpu_seconds_total{cpu="0",mode="user"} for
 * user, nice, system, idle, iowait, irq, softirq, steal, and
 * node_cpu_guest_seconds_total{cpu,mode="user"|"nice"} for guest time
 * (which the kernel also counts in user and nice, as node_exporter leaves
 * it). The kernel counts in USER_HZ ticks; sysconf(_SC_CLK_TCK) gives it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "agent/host.h"
#include "agent/host_int.h"

static const char *const modes[] = { "user",   "nice", "system",  "idle",
                                     "iowait", "irq",  "softirq", "steal" };
#define NMODES 8
#define MAXF   16

int host_cpu_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    struct host_file hf;
    char *f[MAXF];
    double hz;
    long tck = sysconf(_SC_CLK_TCK);
    int rc = 0;

    hz = tck > 0 ? (double)tck : 100.0;
    if (!host_open(&hf, e, host_root(o, 'p'), "stat"))
        goto out;
    rc = host_meta(e, "node_cpu_seconds_total", AGENT_COUNTER,
                   "Seconds the CPUs spent in each mode.");
    if (rc == 0)
        rc = host_meta(e, "node_cpu_guest_seconds_total", AGENT_COUNTER,
                       "Seconds the CPUs spent in guests (VMs) for each mode.");
    while (rc == 0 && host_next(&hf)) {
        uint64_t v[MAXF];
        size_t n, i;
        struct agent_label l[2];

        /* "cpu" alone is the sum over CPUs: node_exporter leaves it out. */
        if (strncmp(hf.line, "cpu", 3) != 0 || hf.line[3] < '0' || hf.line[3] > '9')
            continue;
        n = host_fields(hf.line, f, MAXF);
        if (n < 1 + NMODES) {
            host_warn(&hf, "%zu fields, expected at least %d", n, 1 + NMODES);
            continue;
        }
        if (n > MAXF)
            n = MAXF;
        for (i = 1; i < n; i++)
            if (host_u64(f[i], &v[i]) != 0)
                break;
        if (i < n) {
            host_warn(&hf, "field %zu \"%s\" is not a number", i + 1, f[i]);
            continue;
        }
        l[0].name = "cpu";
        l[0].value = f[0] + 3;
        l[1].name = "mode";
        for (i = 0; i < NMODES && rc == 0; i++) {
            l[1].value = modes[i];
            rc = host_sample(e, "node_cpu_seconds_total", l, 2, now_ms, (double)v[1 + i] / hz);
        }
        if (rc == 0 && n > 1 + NMODES) {
            l[1].value = "user";
            rc = host_sample(e, "node_cpu_guest_seconds_total", l, 2, now_ms,
                             (double)v[1 + NMODES] / hz);
        }
        if (rc == 0 && n > 2 + NMODES) {
            l[1].value = "nice";
            rc = host_sample(e, "node_cpu_guest_seconds_total", l, 2, now_ms,
                             (double)v[2 + NMODES] / hz);
        }
    }
out:
    host_close(&hf);
    return rc;
}
