/*
 * host_tcp.c - TCP connections by state from /proc/net/tcp and
 * /proc/net/tcp6, as node_exporter's tcpstat collector names them:
 * node_tcp_connection_states{state="established"} and so on. Every state
 * is reported, zero included, so a dashboard's series do not come and go;
 * a missing file (no IPv6) counts nothing.
 *
 *   sl  local_address rem_address   st tx_queue rx_queue ...
 *    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/host.h"
#include "agent/host_int.h"

/* The kernel's TCP states, 1 (TCP_ESTABLISHED) to 11 (TCP_CLOSING). */
static const char *const states[12] = {
    NULL,        "established", "syn_sent",   "syn_recv", "fin_wait1", "fin_wait2",
    "time_wait", "close",       "close_wait", "last_ack", "listen",    "closing",
};

/* count adds the connections of one file to n[state]; returns 1 when the
 * file exists, 0 when it does not. */
static int count(const struct host_opts *o, const struct agent_emit *e, const char *rel,
                 uint64_t *n)
{
    struct host_file hf;
    int opened = host_open(&hf, e, host_root(o, 'p'), rel);

    if (!opened)
        goto out;
    while (host_next(&hf)) {
        char *f[4], *end;
        unsigned long st;
        size_t nf;

        if (hf.lineno == 1)
            continue; /* header */
        nf = host_fields(hf.line, f, 4);
        if (nf == 0)
            continue;
        if (nf < 4) {
            host_warn(&hf, "%zu fields, expected at least 4", nf);
            continue;
        }
        st = strtoul(f[3], &end, 16);
        if (*end != 0 || end == f[3] || st < 1 || st > 11) {
            host_warn(&hf, "state \"%s\" is not a TCP state (01 to 0B)", f[3]);
            continue;
        }
        n[st]++;
    }
out:
    host_close(&hf);
    return opened;
}

int host_tcp_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    uint64_t n[12] = { 0 };
    int any, rc;

    any = count(o, e, "net/tcp", n);
    any |= count(o, e, "net/tcp6", n);
    if (!any)
        return 0; /* nothing at all, not even zeros */
    rc = host_meta(e, "node_tcp_connection_states", AGENT_GAUGE, "Number of connection states.");
    for (size_t s = 1; s < 12 && rc == 0; s++) {
        struct agent_label l = { "state", states[s] };
        rc = host_sample(e, "node_tcp_connection_states", &l, 1, now_ms, (double)n[s]);
    }
    return rc;
}
