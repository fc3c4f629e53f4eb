/*
 * host_tcp.c - TCP connections by state from /proc/net/tcp and
 * /proc/net/tcp6, as node_exporter's tcpstat collector names them:
 * node_tcp_connection_states{state="established"} and so on. Every state
 * is reported, zero included, so a dashboard's series do not come and go;
 * a missing file (no IPv6) counts nothing.
 *
 * On the real /proc the counts come from the kernel's sock_diag netlink
 * interface (inet_diag dumps, as node_exporter's tcpstat does) instead of
 * the text files: producing /proc/net/tcp costs the kernel about 1.2 ms per
 * read with a few hundred sockets (measured), which alone would be a
 * quarter of the agent's CPU budget at a 1 s interval. The dump asked for
 * first is the old TCPDIAG_GETSOCK request, whose family is AF_UNSPEC in the
 * kernel: one walk of the TCP hash tables counts IPv4 and IPv6 together.
 * That walk visits every bucket (262144 on an 8 GB machine), so it is most
 * of the kernel's cost, and one walk instead of one per family halves it
 * (bench/agent_overhead.sh: tcp_diag_dump was 28 % of the agent's CPU with
 * two walks). A kernel that refuses the old request gets one
 * SOCK_DIAG_BY_FAMILY dump per family. When the procfs root is not "/proc"
 * (fixture trees) or netlink is refused (seccomp, no inet_diag module), the
 * files are read.
 *
 *   sl  local_address rem_address   st tx_queue rx_queue ...
 *    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 ...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include "telltale.h"
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

/* diag_read reads the answers (messages of type type) to the dump request
 * numbered seq, adding the sockets to n by state; returns 0, or -1 when
 * netlink did not answer or refused (the caller tries another request or
 * the files). With enoent_ok, ENOENT (no such family: IPv6 disabled) is an
 * empty answer. */
static int diag_read(int fd, uint32_t seq, uint16_t type, int enoent_ok, uint64_t *n)
{
    static _Alignas(struct nlmsghdr) char buf[32768];

    for (;;) {
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)got);
             h = NLMSG_NEXT(h, got)) {
            if (h->nlmsg_seq != seq)
                continue;
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *err = NLMSG_DATA(h);
                /* No such family here (IPv6 disabled): nothing to count. */
                return enoent_ok && h->nlmsg_len >= NLMSG_LENGTH(sizeof *err) &&
                               err->error == -ENOENT
                           ? 0
                           : -1;
            }
            if (h->nlmsg_type == type &&
                h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
                const struct inet_diag_msg *m = NLMSG_DATA(h);
                if (m->idiag_state >= 1 && m->idiag_state <= 11)
                    n[m->idiag_state]++;
            }
        }
    }
}

/* diag_dump_family adds the TCP sockets of one address family, counted by
 * state, to n (a SOCK_DIAG_BY_FAMILY dump); returns 0 or -1 (diag_read). */
static int diag_dump_family(int fd, int family, uint32_t seq, uint64_t *n)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

    memset(&req, 0, sizeof req);
    req.nlh.nlmsg_len = sizeof req;
    req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nlh.nlmsg_seq = seq;
    req.r.sdiag_family = (uint8_t)family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = ~0u; /* every state */
    if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa) != (ssize_t)sizeof req)
        return -1;
    return diag_read(fd, seq, SOCK_DIAG_BY_FAMILY, 1, n);
}

/* diag_dump_all adds the TCP sockets of every family, counted by state, to
 * n: one TCPDIAG_GETSOCK dump, which the kernel runs with family AF_UNSPEC;
 * returns 0 or -1 (diag_read). */
static int diag_dump_all(int fd, uint32_t seq, uint64_t *n)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req r;
    } req;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

    memset(&req, 0, sizeof req);
    req.nlh.nlmsg_len = sizeof req;
    req.nlh.nlmsg_type = TCPDIAG_GETSOCK;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nlh.nlmsg_seq = seq;
    req.r.idiag_family = AF_INET; /* ignored by the dump, checked by nothing */
    req.r.idiag_states = ~0u;
    if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa) != (ssize_t)sizeof req)
        return -1;
    return diag_read(fd, seq, TCPDIAG_GETSOCK, 0, n);
}

int host_tcp_diag_count(int one_dump, uint64_t n[12])
{
    uint64_t m[12] = { 0 };
    struct timeval tv = { 1, 0 }; /* a collector never waits long */
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    int rc = -1;

    if (fd < 0)
        return TT_EIO;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0) {
        if (one_dump)
            rc = diag_dump_all(fd, 1, m);
        else if (diag_dump_family(fd, AF_INET, 2, m) == 0)
            rc = diag_dump_family(fd, AF_INET6, 3, m);
    }
    if (rc == 0)
        memcpy(n, m, sizeof m);
    close(fd);
    return rc == 0 ? 0 : TT_EIO;
}

/* diag_count counts TCP sockets of both families through sock_diag: one
 * dump of every family, else (an old request this kernel refuses) one per
 * family; returns 0, or -1 (n untouched) when netlink cannot be used. */
static int diag_count(uint64_t *n)
{
    if (host_tcp_diag_count(1, n) == 0 || host_tcp_diag_count(0, n) == 0)
        return 0;
    return -1;
}

int host_tcp_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    uint64_t n[12] = { 0 };
    int any, rc;

    if (strcmp(host_root(o, 'p'), "/proc") == 0 && diag_count(n) == 0) {
        any = 1;
    } else {
        any = count(o, e, "net/tcp", n);
        any |= count(o, e, "net/tcp6", n);
    }
    if (!any)
        return 0; /* nothing at all, not even zeros */
    rc = host_meta(e, "node_tcp_connection_states", AGENT_GAUGE, "Number of connection states.");
    for (size_t s = 1; s < 12 && rc == 0; s++) {
        struct agent_label l = { "state", states[s] };
        rc = host_sample(e, "node_tcp_connection_states", &l, 1, now_ms, (double)n[s]);
    }
    return rc;
}
