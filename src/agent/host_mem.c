/*
 * host_mem.c - /proc/meminfo as node_exporter's meminfo collector names it:
 * "MemTotal: 16318464 kB" is node_memory_MemTotal_bytes 16710107136 (kB
 * values are KiB: times 1024, suffix _bytes), "Active(anon): ..." is
 * node_memory_Active_anon_bytes, a line without a unit
 * ("HugePages_Total: 0") keeps its name and value. Swap is here too
 * (SwapTotal, SwapFree, SwapCached), as in node_exporter. A name ending in
 * "_total" would be a counter, everything else is a gauge.
 */
#include <stdio.h>
#include <string.h>
#include "agent/host.h"
#include "agent/host_int.h"

#define NAME_MAX_BYTES 128

/* metric_name maps a meminfo key ("Active(anon)") to node_exporter's metric
 * name into out; returns 0, or -1 when the key has characters no metric
 * name may hold or is too long. */
static int metric_name(const char *key, int bytes, char *out, size_t cap)
{
    size_t n = 0;
    const char *p;
    int w;

    w = snprintf(out, cap, "node_memory_");
    n = (size_t)w;
    for (p = key; *p != 0; p++) {
        char c = *p;
        if (c == '(')
            c = '_';
        else if (c == ')')
            continue;
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_'))
            return -1;
        if (n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    if (p == key)
        return -1;
    out[n] = 0;
    if (bytes) {
        if (n + 7 >= cap)
            return -1;
        memcpy(out + n, "_bytes", 7);
        n += 6;
    }
    return 0;
}

int host_mem_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    struct host_file hf;
    int rc = 0;

    if (!host_open(&hf, e, host_root(o, 'p'), "meminfo"))
        goto out;
    while (rc == 0 && host_next(&hf)) {
        char *f[3];
        char name[NAME_MAX_BYTES], help[NAME_MAX_BYTES + 40];
        size_t n, klen;
        uint64_t v;
        double dv;
        enum agent_metric_type type = AGENT_GAUGE;

        n = host_fields(hf.line, f, 3);
        if (n == 0)
            continue;
        klen = strlen(f[0]);
        if (n < 2 || n > 3 || klen < 2 || f[0][klen - 1] != ':') {
            host_warn(&hf, "expected \"Key: value [kB]\"");
            continue;
        }
        f[0][klen - 1] = 0;
        if (n == 3 && strcmp(f[2], "kB") != 0) {
            host_warn(&hf, "%s: unit \"%s\", expected kB", f[0], f[2]);
            continue;
        }
        if (host_u64(f[1], &v) != 0) {
            host_warn(&hf, "%s: value \"%s\" is not a number", f[0], f[1]);
            continue;
        }
        if (metric_name(f[0], n == 3, name, sizeof name) != 0) {
            host_warn(&hf, "key \"%s\" cannot be a metric name", f[0]);
            continue;
        }
        dv = n == 3 ? (double)v * 1024.0 : (double)v;
        klen = strlen(name);
        if (klen >= 6 && strcmp(name + klen - 6, "_total") == 0)
            type = AGENT_COUNTER;
        snprintf(help, sizeof help, "Memory information field %s.", name + 12);
        rc = host_meta(e, name, type, help);
        if (rc == 0)
            rc = host_sample(e, name, NULL, 0, now_ms, dv);
    }
out:
    host_close(&hf);
    return rc;
}
