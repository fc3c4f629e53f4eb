/*
 * shipper.c - the agent's shipper thread: one link connection to the
 * server (docs/design/agent-link.md). HELLO, WELCOME (the server's HLC is
 * merged, its max_batch_bytes caps the batches, its durable_end acks the
 * backlog), then a window of BATCHes in flight taken in turn from the
 * backlog and the libtelltale spools, batches over the server's limit cut
 * in self-contained pieces keeping their seq ranges (batch_split.h), ACKs
 * applied to where the batch came from, a PING after 10 s without sending
 * and PONG to the server's PINGs, reconnect with exponential backoff and
 * jitter.
 *
 * Invariant: answers come in the order BATCHes were sent, so the window is
 * a FIFO of what was sent; an answer that is not for its head is a protocol
 * error.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "agent/backlog.h"
#include "agent/batch_split.h"
#include "agent/spool_reader.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/link.h"

#define AGENT_VERSION_STR "0.1.0"
#define WINDOW            16 /* unacked batches in flight */
#define BACKOFF_MIN_MS    200
#define BACKOFF_MAX_MS    30000
/* Defaults of agent_config.io_timeout_ms and ping_idle_ms. */
#define IO_TIMEOUT_MS   15000 /* WELCOME, an ACK for a batch in flight, or a PONG */
#define PING_IDLE_MS    10000 /* a PING after this long without sending */
#define SPOOL_RESCAN_MS 1000
#define SRC_BACKLOG     (-1)

/* One BATCH frame in flight, and where its batch came from. */
struct inflight {
    uint64_t seq; /* link seq */
    uint64_t origin_id;
    uint64_t last;  /* last record seq of the batch (or piece) */
    size_t len;     /* the batch's bytes */
    uint32_t count; /* its records */
    int src;        /* SRC_BACKLOG or a spool index */
    int final;      /* the last piece of its source batch (or the whole batch) */
    struct spool_token tok;
};

struct ship {
    struct agent *a;
    int fd;
    struct link_reader rd;
    struct wbuf out;
    struct inflight q[WINDOW];
    size_t qhead, qn;
    uint64_t link_seq;
    int64_t deadline_ns;      /* for the oldest batch in flight (or WELCOME) */
    int64_t last_send_ns;     /* for the idle PING */
    int64_t ping_deadline_ns; /* 0: no PING unanswered */
    /* Pieces of a source batch over the limit, sent one by one. */
    struct wbuf pieces;
    size_t piece_off, pieces_left;
    int piece_src;
    struct spool_token piece_tok;
    int next_src; /* round robin between the backlog and the spools */
    /* A batch that cannot be sent, dropped once the window is empty. */
    int drop_pending, drop_src;
    uint64_t drop_origin, drop_last;
    struct spool_token drop_tok;
};

static int64_t io_timeout_ns(const struct agent *a)
{
    return (int64_t)(a->cfg.io_timeout_ms ? a->cfg.io_timeout_ms : IO_TIMEOUT_MS) * TT_NS_PER_MS;
}

static int64_t ping_idle_ns(const struct agent *a)
{
    return (int64_t)(a->cfg.ping_idle_ms ? a->cfg.ping_idle_ms : PING_IDLE_MS) * TT_NS_PER_MS;
}

static int connect_server(struct agent *a, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(a->server, ':');
    struct addrinfo hints, *ai = NULL;
    int fd = -1;
    if (colon == NULL || (size_t)(colon - a->server) >= sizeof host) {
        snprintf(err, errlen, "bad server address '%s'", a->server);
        return TT_EINVAL;
    }
    memcpy(host, a->server, (size_t)(colon - a->server));
    host[colon - a->server] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, colon + 1, &hints, &ai);
    if (g != 0) {
        snprintf(err, errlen, "%s: %s", a->server, gai_strerror(g));
        return TT_EIO;
    }
    for (struct addrinfo *p = ai; p != NULL; p = p->ai_next) {
        fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0)
            break;
        snprintf(err, errlen, "connect %s: %s", a->server, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return TT_EIO;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int send_out(struct ship *s)
{
    const uint8_t *p = s->out.data;
    size_t n = s->out.len;
    if (s->out.err)
        return s->out.err;
    while (n > 0) {
        ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return TT_EIO;
        p += w;
        n -= (size_t)w;
    }
    wbuf_reset(&s->out);
    s->last_send_ns = clock_monotonic_ns();
    return 0;
}

static void ack_backlog(struct agent *a, uint64_t origin, uint64_t durable_end)
{
    char err[256];
    if (durable_end == 0)
        return;
    pthread_mutex_lock(&a->mu);
    int rc = backlog_ack(a->backlog, origin, durable_end - 1, err, sizeof err);
    pthread_mutex_unlock(&a->mu);
    if (rc < 0)
        log_warn(a->cfg.log, "backlog ack not persisted", "problem", err);
}

static void ack_spool(struct agent *a, int src, const struct spool_token *tok)
{
    char err[256];
    pthread_mutex_lock(&a->mu);
    int rc = spool_reader_ack(a->spools[src], tok, err, sizeof err);
    pthread_mutex_unlock(&a->mu);
    if (rc < 0)
        log_warn(a->cfg.log, "spool ack not persisted", "dir", spool_reader_dir(a->spools[src]),
                 "problem", err);
}

/* done_head applies the answer for the oldest batch in flight to its source
 * (durable_end 0 for a batch dropped after a NACK) and pops it. */
static void done_head(struct ship *s, uint64_t origin, uint64_t durable_end)
{
    struct agent *a = s->a;
    const struct inflight *q = &s->q[s->qhead];
    if (q->src == SRC_BACKLOG)
        ack_backlog(a, origin, durable_end);
    else if (q->final)
        ack_spool(a, q->src, &q->tok);
    s->qhead = (s->qhead + 1) % WINDOW;
    s->qn--;
    atomic_store(&a->inflight, s->qn);
    s->deadline_ns = clock_monotonic_ns() + io_timeout_ns(a);
}

static int send_pong(struct ship *s, const struct link_ping *p)
{
    struct link_pong g = { .echo_ms = p->physical_ms,
                           .hlc = hlc_now(&s->a->hlc),
                           .physical_ms = (uint64_t)(clock_realtime_ns() / TT_NS_PER_MS) };
    int rc = link_put_pong(&s->out, &g);
    return rc < 0 ? rc : send_out(s);
}

/* handle_frame processes one frame from the server. Returns 0, or < 0 to
 * drop the connection (message in err). */
static int handle_frame(struct ship *s, const struct link_frame *f, char *err, size_t errlen)
{
    struct agent *a = s->a;
    if (f->type == LINK_ACK) {
        struct link_ack k;
        int rc = link_decode_ack(f, &k, err, errlen);
        if (rc < 0)
            return rc;
        if (s->qn == 0 || s->q[s->qhead].seq != k.seq) {
            snprintf(err, errlen, "ACK for batch %llu, not the oldest in flight",
                     (unsigned long long)k.seq);
            return TT_ECORRUPT;
        }
        (void)hlc_recv(&a->hlc, k.hlc, NULL);
        atomic_fetch_add(&a->acked_records, s->q[s->qhead].count);
        done_head(s, k.origin_id, k.durable_end);
        return 0;
    }
    if (f->type == LINK_NACK) {
        struct link_nack n;
        int rc = link_decode_nack(f, &n, err, errlen);
        if (rc < 0)
            return rc;
        if (s->qn == 0 || s->q[s->qhead].seq != n.seq) {
            snprintf(err, errlen, "NACK for batch %llu, not the oldest in flight",
                     (unsigned long long)n.seq);
            return TT_ECORRUPT;
        }
        const struct inflight *q = &s->q[s->qhead];
        char m[LINK_MAX_STR + 1];
        memcpy(m, n.message.p, n.message.len);
        m[n.message.len] = '\0';
        if (n.reason == LINK_NACK_TOO_BIG && q->len > 1) {
            /* Over a limit the server did not announce: cut below this
             * batch and reconnect, so it is sent again in pieces (the
             * rewind starts at the oldest unacknowledged batch). */
            uint32_t lim = atomic_load(&a->max_batch_bytes);
            if (q->len / 2 < lim)
                atomic_store(&a->max_batch_bytes, (uint32_t)(q->len / 2));
            snprintf(err, errlen, "server: batch of %zu bytes too big (%.300s); cutting it", q->len,
                     m);
            return TT_ETOOBIG;
        }
        if (!n.retry) {
            /* The server will never take it: drop it, loudly. */
            char seq[24];
            snprintf(seq, sizeof seq, "%llu", (unsigned long long)q->last);
            log_error(a->cfg.log, "server refused a batch for good; dropped", "reason", m,
                      "last_seq", seq);
            done_head(s, q->origin_id, q->last + 1);
            return 0;
        }
        snprintf(err, errlen, "server refused a batch for now: %.300s", m);
        return TT_EFULL;
    }
    if (f->type == LINK_PING) {
        struct link_ping p;
        int rc = link_decode_ping(f, &p, err, errlen);
        if (rc < 0)
            return rc;
        (void)hlc_recv(&a->hlc, p.hlc, NULL);
        rc = send_pong(s, &p);
        if (rc < 0)
            snprintf(err, errlen, "sending PONG: %s", tt_strerror(rc));
        return rc;
    }
    if (f->type == LINK_PONG) {
        struct link_pong p;
        int rc = link_decode_pong(f, &p, err, errlen);
        if (rc < 0)
            return rc;
        (void)hlc_recv(&a->hlc, p.hlc, NULL);
        s->ping_deadline_ns = 0;
        atomic_fetch_add(&a->pongs, 1);
        return 0;
    }
    if (f->type == LINK_BYE) {
        struct link_bye b;
        if (link_decode_bye(f, &b, err, errlen) == 0)
            snprintf(err, errlen, "server said bye (%u): %.*s", b.code, (int)b.reason.len,
                     b.reason.p);
        return TT_EIO;
    }
    snprintf(err, errlen, "unexpected %s frame from the server", link_type_name(f->type));
    return TT_ECORRUPT;
}

static int handle_welcome(struct ship *s, const struct link_frame *f, char *err, size_t errlen)
{
    struct agent *a = s->a;
    struct link_welcome w;
    int rc = link_decode_welcome(f, &w, err, errlen);
    if (rc < 0)
        return rc;
    (void)hlc_recv(&a->hlc, w.hlc, NULL);
    uint32_t lim = atomic_load(&a->max_batch_bytes);
    if (w.max_batch_bytes > 0 && w.max_batch_bytes < lim)
        atomic_store(&a->max_batch_bytes, w.max_batch_bytes);
    for (uint32_t i = 0; i < w.n_origins; i++) {
        struct link_origin o = link_welcome_origin(&w, i);
        ack_backlog(a, o.origin_id, o.durable_end);
    }
    atomic_store(&a->link_up, 1);
    return 0;
}

/* read_frames reads what the socket has and processes whole frames. */
static int read_frames(struct ship *s, int *welcomed, char *err, size_t errlen)
{
    uint8_t buf[16384];
    ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        snprintf(err, errlen, "server closed the connection");
        return TT_EIO;
    }
    int rc = link_reader_feed(&s->rd, buf, (size_t)n);
    if (rc == TT_ENOMEM)
        return rc;
    for (;;) {
        struct link_frame f;
        rc = link_reader_next(&s->rd, &f, err, errlen);
        if (rc <= 0)
            return rc;
        if (!*welcomed) {
            if (f.type == LINK_BYE)
                return handle_frame(s, &f, err, errlen); /* always < 0 */
            if (f.type != LINK_WELCOME) {
                snprintf(err, errlen, "expected WELCOME, got %s", link_type_name(f.type));
                return TT_ECORRUPT;
            }
            rc = handle_welcome(s, &f, err, errlen);
            if (rc < 0)
                return rc;
            *welcomed = 1;
            continue;
        }
        rc = handle_frame(s, &f, err, errlen);
        if (rc < 0)
            return rc;
    }
}

/* send_batch frames one batch (borrowed) and puts it in the window. */
static int send_batch(struct ship *s, const uint8_t *batch, size_t len, int src, int final,
                      const struct spool_token *tok, char *err, size_t errlen)
{
    struct agent *a = s->a;
    struct batch_hdr h;
    int rc = batch_parse_header(batch, len, &h, err, errlen);
    if (rc == 0)
        rc = link_put_batch(&s->out, ++s->link_seq, batch, len);
    if (rc < 0)
        return rc;
    if (s->qn == 0)
        s->deadline_ns = clock_monotonic_ns() + io_timeout_ns(a);
    struct inflight *q = &s->q[(s->qhead + s->qn) % WINDOW];
    *q = (struct inflight){
        s->link_seq, h.origin_id, h.count ? h.first_seq + h.count - 1 : h.first_seq,
        len,         h.count,     src,
        final,       { 0, 0 }
    };
    if (tok != NULL)
        q->tok = *tok;
    s->qn++;
    atomic_store(&a->inflight, s->qn);
    atomic_fetch_add(&a->sent_batches, 1);
    rc = send_out(s);
    if (rc < 0)
        snprintf(err, errlen, "send: %s", strerror(errno));
    return rc;
}

/* next_source_batch takes the next batch from the backlog or a spool (round
 * robin), copied into s->pieces (cut into pieces when over the limit).
 * Returns 1, 0 when there is nothing to send, < 0 on error. */
static int next_source_batch(struct ship *s, char *err, size_t errlen)
{
    struct agent *a = s->a;
    int nsrc = (int)a->nspools + 1;
    for (int k = 0; k < nsrc; k++) {
        int src = (s->next_src + k) % nsrc - 1; /* -1: the backlog */
        const uint8_t *batch = NULL;
        size_t len = 0;
        struct spool_token tok = { 0, 0 };
        int rc;
        pthread_mutex_lock(&a->mu);
        if (src == SRC_BACKLOG)
            rc = backlog_next(a->backlog, &batch, &len, NULL, err, errlen);
        else
            rc =
                spool_reader_next(a->spools[src], SPOOL_RESCAN_MS, &batch, &len, &tok, err, errlen);
        if (rc == 1) {
            size_t lim = atomic_load(&a->max_batch_bytes);
            wbuf_reset(&s->pieces);
            rc = batch_split(batch, len, lim, &s->pieces, &s->pieces_left, err, errlen);
            if (rc == 0)
                rc = 1;
            else if (rc == TT_ETOOBIG || rc == TT_ECORRUPT || rc == TT_EUNSUPPORTED) {
                /* It can never be sent: drop it, loudly, as the server would,
                 * once what was sent before it is acknowledged (acks move
                 * a watermark: acking it now could count those as done). */
                log_error(a->cfg.log, "batch cannot be sent; dropped", "problem", err);
                struct batch_hdr h;
                if (batch_parse_header(batch, len, &h, NULL, 0) == 0) {
                    s->drop_pending = 1;
                    s->drop_src = src;
                    s->drop_origin = h.origin_id;
                    s->drop_last = h.count ? h.first_seq + h.count - 1 : h.first_seq;
                    s->drop_tok = tok;
                }
                rc = 2;
            }
        }
        pthread_mutex_unlock(&a->mu);
        if (rc == 2)
            return 0; /* fill_window drops it once the window is empty */
        if (rc < 0) {
            if (src == SRC_BACKLOG)
                return rc;
            log_warn(a->cfg.log, "spool unreadable for now", "dir",
                     spool_reader_dir(a->spools[src]), "problem", err);
            continue;
        }
        if (rc == 1) {
            s->piece_off = 0;
            s->piece_src = src;
            s->piece_tok = tok;
            s->next_src = (src + 2) % nsrc;
            return 1;
        }
    }
    return 0;
}

/* fill_window sends batches while the window has room. */
static int fill_window(struct ship *s, char *err, size_t errlen)
{
    while (s->qn < WINDOW) {
        if (s->drop_pending) {
            if (s->qn > 0)
                return 0;
            struct agent *a = s->a;
            pthread_mutex_lock(&a->mu);
            if (s->drop_src == SRC_BACKLOG)
                (void)backlog_ack(a->backlog, s->drop_origin, s->drop_last, err, errlen);
            else
                (void)spool_reader_ack(a->spools[s->drop_src], &s->drop_tok, err, errlen);
            pthread_mutex_unlock(&a->mu);
            s->drop_pending = 0;
        }
        if (s->pieces_left == 0) {
            int rc = next_source_batch(s, err, errlen);
            if (rc <= 0)
                return rc;
        }
        struct batch_hdr h;
        const uint8_t *p = s->pieces.data + s->piece_off;
        int rc = batch_parse_header(p, s->pieces.len - s->piece_off, &h, err, errlen);
        if (rc < 0)
            return rc;
        size_t len = batch_total_len(&h);
        s->pieces_left--;
        s->piece_off += len;
        rc = send_batch(s, p, len, s->piece_src, s->pieces_left == 0, &s->piece_tok, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int send_ping(struct ship *s)
{
    struct link_ping p = { .hlc = hlc_now(&s->a->hlc),
                           .physical_ms = (uint64_t)(clock_realtime_ns() / TT_NS_PER_MS) };
    int rc = link_put_ping(&s->out, &p);
    if (rc == 0)
        rc = send_out(s);
    if (rc == 0) {
        s->ping_deadline_ns = clock_monotonic_ns() + io_timeout_ns(s->a);
        atomic_fetch_add(&s->a->pings, 1);
    }
    return rc;
}

/* session runs one connection until an error or stop. welcomed tells the
 * caller whether the backoff may be reset. */
static int session(struct ship *s, int *welcomed, char *err, size_t errlen)
{
    struct agent *a = s->a;
    struct link_hello h = { .version = LINK_VERSION,
                            .node = { a->node, (uint32_t)strlen(a->node) },
                            .role = { a->role, (uint32_t)strlen(a->role) },
                            .release = { a->release, (uint32_t)strlen(a->release) },
                            .agent_version = { AGENT_VERSION_STR, sizeof AGENT_VERSION_STR - 1 },
                            .origin_id = a->origin_id,
                            .hlc = hlc_now(&a->hlc),
                            .physical_ms = (uint64_t)(clock_realtime_ns() / TT_NS_PER_MS) };
    int rc = link_put_hello(&s->out, &h);
    if (rc < 0 || (rc = send_out(s)) < 0) {
        snprintf(err, errlen, "sending HELLO: %s", tt_strerror(rc));
        return rc;
    }
    s->deadline_ns = clock_monotonic_ns() + io_timeout_ns(a);
    while (!atomic_load(&a->stop)) {
        int64_t now = clock_monotonic_ns();
        if (*welcomed) {
            rc = fill_window(s, err, errlen);
            if (rc < 0)
                return rc;
            now = clock_monotonic_ns();
            if (s->ping_deadline_ns == 0 && now - s->last_send_ns >= ping_idle_ns(a)) {
                rc = send_ping(s);
                if (rc < 0) {
                    snprintf(err, errlen, "sending PING: %s", tt_strerror(rc));
                    return rc;
                }
            }
        }
        if ((!*welcomed || s->qn > 0) && now > s->deadline_ns) {
            snprintf(err, errlen, "no answer from the server for %lld ms",
                     (long long)(io_timeout_ns(a) / TT_NS_PER_MS));
            return TT_EIO;
        }
        if (s->ping_deadline_ns != 0 && now > s->ping_deadline_ns) {
            snprintf(err, errlen, "no PONG from the server for %lld ms",
                     (long long)(io_timeout_ns(a) / TT_NS_PER_MS));
            return TT_EIO;
        }
        struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN },
                               { .fd = a->wake_fd, .events = POLLIN } };
        /* Wake for the next PING or deadline, and to look at the spools. */
        int64_t wait_ns = (int64_t)(a->nspools > 0 ? SPOOL_RESCAN_MS / 2 : 1000) * TT_NS_PER_MS;
        if (*welcomed && s->ping_deadline_ns == 0 &&
            s->last_send_ns + ping_idle_ns(a) - now < wait_ns)
            wait_ns = s->last_send_ns + ping_idle_ns(a) - now;
        if (s->ping_deadline_ns != 0 && s->ping_deadline_ns - now < wait_ns)
            wait_ns = s->ping_deadline_ns - now;
        if ((!*welcomed || s->qn > 0) && s->deadline_ns - now < wait_ns)
            wait_ns = s->deadline_ns - now;
        int n = poll(p, 2, wait_ns <= 0 ? 0 : (int)(wait_ns / TT_NS_PER_MS) + 1);
        if (n < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return TT_ESYS;
        }
        if (n > 0 && (p[1].revents & POLLIN)) {
            uint64_t v;
            if (read(a->wake_fd, &v, sizeof v) < 0)
                (void)0; /* EAGAIN: someone else drained it */
        }
        if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            rc = read_frames(s, welcomed, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    struct link_bye b = { LINK_BYE_NORMAL, { "agent stopping", 14 } };
    if (link_put_bye(&s->out, &b) == 0)
        (void)send_out(s);
    return 0;
}

/* sleep_ms waits ms or until stop. */
static void sleep_ms(struct agent *a, int ms)
{
    struct pollfd p = { .fd = a->wake_fd, .events = POLLIN };
    int64_t end = clock_monotonic_ns() + (int64_t)ms * TT_NS_PER_MS;
    while (!atomic_load(&a->stop)) {
        int64_t left = (end - clock_monotonic_ns()) / TT_NS_PER_MS;
        if (left <= 0)
            return;
        if (poll(&p, 1, (int)left) > 0) {
            uint64_t v;
            if (read(a->wake_fd, &v, sizeof v) < 0)
                (void)0;
        }
    }
}

/* rewind_sources makes everything unacknowledged be sent again. */
static void rewind_sources(struct agent *a)
{
    pthread_mutex_lock(&a->mu);
    backlog_rewind(a->backlog);
    for (size_t i = 0; i < a->nspools; i++)
        spool_reader_rewind(a->spools[i]);
    pthread_mutex_unlock(&a->mu);
}

void *agent_shipper_main(void *arg)
{
    struct agent *a = arg;
    int backoff = BACKOFF_MIN_MS, failures = 0;
    char err[512];

    while (!atomic_load(&a->stop)) {
        struct ship s;
        int welcomed = 0;
        memset(&s, 0, sizeof s);
        s.a = a;
        link_reader_init(&s.rd, 0);
        wbuf_init(&s.out, 0);
        wbuf_init(&s.pieces, 0);
        err[0] = '\0';
        s.fd = connect_server(a, err, sizeof err);
        if (s.fd >= 0) {
            /* Everything not acknowledged is sent again, from the oldest. */
            rewind_sources(a);
            int rc = session(&s, &welcomed, err, sizeof err);
            close(s.fd);
            atomic_store(&a->link_up, 0);
            atomic_store(&a->inflight, 0);
            if (rc == 0 && atomic_load(&a->stop)) {
                link_reader_release(&s.rd);
                wbuf_release(&s.out);
                wbuf_release(&s.pieces);
                break;
            }
            atomic_fetch_add(&a->reconnects, 1);
        }
        link_reader_release(&s.rd);
        wbuf_release(&s.out);
        wbuf_release(&s.pieces);
        if (atomic_load(&a->stop))
            break;
        if (welcomed) {
            backoff = BACKOFF_MIN_MS;
            failures = 0;
        }
        failures++;
        if (failures == 1 || failures % 30 == 0)
            log_warn(a->cfg.log, "link to the server down; retrying", "server", a->server, "reason",
                     err);
        /* Exponential backoff with full jitter in [backoff/2, backoff]. */
        a->rng ^= a->rng << 13;
        a->rng ^= a->rng >> 7;
        a->rng ^= a->rng << 17;
        int wait = backoff / 2 + (int)(a->rng % (uint64_t)(backoff / 2 + 1));
        sleep_ms(a, wait);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}
