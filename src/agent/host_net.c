/*
 * host_net.c - traffic per network interface from /proc/net/dev, as
 * node_exporter's netdev collector names it:
 * node_network_receive_bytes_total{device="eth0"} and so on for the eight
 * receive columns (bytes packets errs drop fifo frame compressed multicast)
 * and the eight transmit ones (bytes packets errs drop fifo colls carrier
 * compressed). Every interface is reported, lo included (node_exporter
 * excludes none by default).
 *
 *   Inter-|   Receive                            ...|  Transmit
 *    face |bytes    packets errs drop fifo frame ...|bytes ...
 *       lo: 123 4 0 0 0 0 0 0 123 4 0 0 0 0 0 0
 */
#include <stdio.h>
#include <string.h>
#include "agent/host.h"
#include "agent/host_int.h"

static const char *const cols[16] = {
    "receive_bytes",  "receive_packets",  "receive_errs",       "receive_drop",
    "receive_fifo",   "receive_frame",    "receive_compressed", "receive_multicast",
    "transmit_bytes", "transmit_packets", "transmit_errs",      "transmit_drop",
    "transmit_fifo",  "transmit_colls",   "transmit_carrier",   "transmit_compressed",
};

int host_net_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    struct host_file hf;
    char name[16][64];
    int rc = 0;

    if (!host_open(&hf, e, host_root(o, 'p'), "net/dev"))
        goto out;
    for (size_t i = 0; i < 16 && rc == 0; i++) {
        char help[128];
        snprintf(name[i], sizeof name[i], "node_network_%s_total", cols[i]);
        snprintf(help, sizeof help, "Network device statistic %s.", cols[i]);
        rc = host_meta(e, name[i], AGENT_COUNTER, help);
    }
    while (rc == 0 && host_next(&hf)) {
        char *colon, *dev, *f[17];
        uint64_t v[16];
        struct agent_label l;
        size_t n, i;

        if (hf.lineno <= 2)
            continue; /* the two header lines */
        colon = strchr(hf.line, ':');
        if (colon == NULL) {
            host_warn(&hf, "no ':' after the interface name");
            continue;
        }
        *colon = 0;
        dev = hf.line;
        while (*dev == ' ' || *dev == '\t')
            dev++;
        if (*dev == 0) {
            host_warn(&hf, "empty interface name");
            continue;
        }
        n = host_fields(colon + 1, f, 17);
        if (n != 16) {
            host_warn(&hf, "%s: %zu counters, expected 16", dev, n);
            continue;
        }
        for (i = 0; i < 16; i++)
            if (host_u64(f[i], &v[i]) != 0)
                break;
        if (i < 16) {
            host_warn(&hf, "%s: counter %zu \"%s\" is not a number", dev, i + 1, f[i]);
            continue;
        }
        l.name = "device";
        l.value = dev;
        for (i = 0; i < 16 && rc == 0; i++)
            rc = host_sample(e, name[i], &l, 1, now_ms, (double)v[i]);
    }
out:
    host_close(&hf);
    return rc;
}
