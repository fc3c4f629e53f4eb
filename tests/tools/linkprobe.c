/*
 * linkprobe.c - a hostile (and a well-behaved but demanding) agent-link
 * client and a link-cutting TCP relay, for the integration tests
 * (tests/integration/agent_hostile.sh, agent_netcut.sh). It speaks the
 * protocol of docs/design/agent-link.md with the core/link.h encoders and
 * breaks it on purpose, one way per case:
 *
 *   linkprobe HOST:PORT CASE
 *     garbage      bytes that are no frame
 *     header-crc   a PING after HELLO with a wrong header CRC
 *     frame-crc    a PING after HELLO with a wrong frame CRC
 *     truncated    half a BATCH, then close
 *     oversize     a BATCH over the max_batch_bytes of WELCOME, then a good one
 *                  (refused behind it, taken on a new connection)
 *     early-batch  a BATCH before HELLO
 *     bad-body     a BATCH whose records are wrong (CRCs right), then a good one
 *     replay       a BATCH, then the same BATCH again (and on a new connection)
 *     slow         40 bytes of a BATCH, then nothing (slow-loris)
 *     idle         HELLO, then nothing, PINGs unanswered
 *   linkprobe HOST:PORT stall SECONDS   batches without ever reading the ACKs,
 *                                       then up to SECONDS for the server's close
 *   linkprobe HOST:PORT pace SECONDS    a batch every 100 ms, ACK latency
 *   linkprobe relay LISTEN_PORT HOST:PORT CUTS
 *     forwards agent connections to HOST:PORT; the first CUTS connections are
 *     reset (SO_LINGER 0) on purpose: even ones half-way through a BATCH,
 *     odd ones when the server's ACK comes (the batch is stored, the agent
 *     never hears it). Later connections are relayed untouched.
 *
 * Each case prints one line "ok CASE: ..." and exits 0 when the server
 * answered as the protocol says (the BYE or NACK it sent, with its reason),
 * or "FAIL CASE: ..." and exits 1. The server's own log is checked by the
 * test scripts. Samples go to the series tt_probe{case="CASE"}.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/crc32c.h"
#include "core/link.h"
#include "core/record.h"

static const char *g_case = "?";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s: ", g_case);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    exit(1);
}

static int dial(const char *addr, int bufsize)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    struct addrinfo hints, *ai = NULL;
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host)
        die("bad address '%s' (HOST:PORT)", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL)
        die("cannot resolve %s", addr);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    /* A small receive buffer (stall): the server's answers fill it at once. */
    if (bufsize > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        die("connect %s: %s", addr, strerror(errno));
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_raw(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("send: %s", strerror(errno));
        c += w;
        n -= (size_t)w;
    }
}

static void send_buf(int fd, struct wbuf *w)
{
    if (w->err)
        die("encoding: %s", tt_strerror(w->err));
    send_raw(fd, w->data, w->len);
    wbuf_reset(w);
}

/* ---- reading frames --------------------------------------------------------- */

struct peer {
    int fd;
    int no_pong; /* leave the server's PINGs unanswered */
    struct link_reader rd;
    struct link_frame f;
    struct wbuf out;
};

/* next_frame waits up to timeout_ms for a frame; returns its type, 0 at EOF
 * (or a reset), -1 on timeout. PINGs from the server are answered and
 * skipped. */
static int next_frame(struct peer *p, int timeout_ms)
{
    char err[256];
    int64_t end = mono_ms() + timeout_ms;
    for (;;) {
        int rc = link_reader_next(&p->rd, &p->f, err, sizeof err);
        if (rc < 0)
            die("the server sent a bad stream: %s", err);
        if (rc == 1 && p->f.type == LINK_PING && p->no_pong) {
            p->no_pong++; /* counts the PINGs left unanswered, plus one */
            continue;
        }
        if (rc == 1 && p->f.type == LINK_PING) {
            struct link_ping pi;
            if (link_decode_ping(&p->f, &pi, err, sizeof err) < 0)
                die("bad PING: %s", err);
            struct link_pong po = { pi.physical_ms, 0, (uint64_t)now_ms() };
            link_put_pong(&p->out, &po);
            send_buf(p->fd, &p->out);
            continue;
        }
        if (rc == 1)
            return p->f.type;
        int64_t left = end - mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        uint8_t buf[16384];
        ssize_t n = recv(p->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        if (link_reader_feed(&p->rd, buf, (size_t)n) < 0)
            die("reader: out of memory");
    }
}

static void peer_open(struct peer *p, const char *addr, int bufsize)
{
    p->fd = dial(addr, bufsize);
    link_reader_init(&p->rd, 0);
    wbuf_init(&p->out, 0);
}

static void peer_close(struct peer *p)
{
    close(p->fd);
    link_reader_release(&p->rd);
    wbuf_release(&p->out);
}

/* hello says HELLO as node "probe-CASE" with origin and returns WELCOME's
 * max_batch_bytes; *durable_end gets what the server holds of origin. */
static uint32_t hello(struct peer *p, uint64_t origin, uint64_t *durable_end)
{
    char node[64], err[256];
    int n = snprintf(node, sizeof node, "probe-%s", g_case);
    struct link_hello h = { .version = LINK_VERSION,
                            .node = { node, (uint32_t)n },
                            .role = { "probe", 5 },
                            .release = { "0", 1 },
                            .agent_version = { "linkprobe", 9 },
                            .origin_id = origin,
                            .hlc = 0,
                            .physical_ms = (uint64_t)now_ms() };
    if (link_put_hello(&p->out, &h) < 0)
        die("cannot encode HELLO");
    send_buf(p->fd, &p->out);
    int t = next_frame(p, 10000);
    if (t != LINK_WELCOME)
        die("expected WELCOME, got %s", t <= 0 ? "nothing" : link_type_name((uint8_t)t));
    struct link_welcome w;
    if (link_decode_welcome(&p->f, &w, err, sizeof err) < 0)
        die("bad WELCOME: %s", err);
    *durable_end = w.n_origins > 0 ? link_welcome_origin(&w, 0).durable_end : 0;
    return w.max_batch_bytes;
}

/* make_batch builds a batch of origin from first_seq: the series
 * tt_probe{case=g_case} (ref 1) and nsamp samples from t0 ms, 1 ms apart;
 * undeclared leaves the series out (a bad batch with good CRCs). */
static void make_batch(struct wbuf *out, uint64_t origin, uint64_t first_seq, size_t nsamp,
                       int64_t t0, int undeclared)
{
    struct wbuf raw;
    uint32_t count = 0;
    wbuf_init(&raw, 0);
    struct rec_label l[2] = { { { "__name__", 8 }, { "tt_probe", 8 } },
                              { { "case", 4 }, { g_case, (uint32_t)strlen(g_case) } } };
    if (!undeclared) {
        rec_put_series(&raw, 0, 0, 1, l, 2);
        count++;
    }
    struct rec_sample *s = calloc(nsamp, sizeof(*s));
    if (s == NULL)
        die("out of memory");
    for (size_t k = 0; k < nsamp; k++)
        s[k] = (struct rec_sample){ 1, t0 + (int64_t)k, (double)rand() };
    /* At most 1M samples a record: split into several. */
    for (size_t k = 0; k < nsamp; k += 1000000) {
        size_t n = nsamp - k < 1000000 ? nsamp - k : 1000000;
        if (rec_put_samples(&raw, 0, 0, s + k, n, REC_SAMPLES_RAW) < 0)
            die("cannot encode samples");
        count++;
    }
    free(s);
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = count;
    h.origin_id = origin;
    h.first_seq = first_seq;
    h.origin = "probe";
    h.origin_len = 5;
    if (raw.err || batch_encode(out, &h, raw.data, raw.len) < 0)
        die("cannot encode the batch (%zu bytes of records)", raw.len);
    wbuf_release(&raw);
}

static uint64_t new_origin(void)
{
    return ((uint64_t)now_ms() << 20) ^ ((uint64_t)getpid() << 4) ^ (uint64_t)rand();
}

/* expect_bye reads until a BYE and returns its reason; dies on anything else. */
static void expect_bye(struct peer *p, char *reason, size_t n)
{
    char err[256];
    int t = next_frame(p, 15000);
    if (t != LINK_BYE)
        die("expected BYE, got %s", t < 0    ? "a timeout"
                                    : t == 0 ? "a close"
                                             : link_type_name((uint8_t)t));
    struct link_bye b;
    if (link_decode_bye(&p->f, &b, err, sizeof err) < 0)
        die("bad BYE: %s", err);
    snprintf(reason, n, "BYE %u \"%.*s\"", b.code, (int)b.reason.len, b.reason.p);
    if (next_frame(p, 5000) != 0)
        die("the server did not close after %s", reason);
}

static struct link_ack expect_ack(struct peer *p, uint64_t seq)
{
    char err[256];
    struct link_ack a;
    int t = next_frame(p, 15000);
    if (t != LINK_ACK)
        die("expected ACK of batch %llu, got %s", (unsigned long long)seq,
            t <= 0 ? "nothing" : link_type_name((uint8_t)t));
    if (link_decode_ack(&p->f, &a, err, sizeof err) < 0)
        die("bad ACK: %s", err);
    if (a.seq != seq)
        die("ACK of %llu, expected %llu", (unsigned long long)a.seq, (unsigned long long)seq);
    return a;
}

static struct link_nack expect_nack(struct peer *p, uint64_t seq, char *msg, size_t n)
{
    char err[256];
    struct link_nack k;
    int t = next_frame(p, 15000);
    if (t != LINK_NACK)
        die("expected NACK of batch %llu, got %s", (unsigned long long)seq,
            t <= 0 ? "nothing" : link_type_name((uint8_t)t));
    if (link_decode_nack(&p->f, &k, err, sizeof err) < 0)
        die("bad NACK: %s", err);
    if (k.seq != seq)
        die("NACK of %llu, expected %llu", (unsigned long long)k.seq, (unsigned long long)seq);
    snprintf(msg, n, "NACK reason %u retry %u \"%.*s\"", k.reason, k.retry, (int)k.message.len,
             k.message.p);
    return k;
}

static void send_batch(struct peer *p, uint64_t seq, const struct wbuf *b)
{
    if (link_put_batch(&p->out, seq, b->data, b->len) < 0)
        die("cannot frame the batch");
    send_buf(p->fd, &p->out);
}

/* ---- the hostile cases ---------------------------------------------------------- */

static int run_case(const char *addr, const char *c)
{
    struct peer p;
    struct wbuf b;
    char why[1400], why2[1400];
    uint64_t origin = new_origin(), end;
    int64_t t0 = now_ms();
    g_case = c;
    wbuf_init(&b, 0);
    peer_open(&p, addr, 0);
    if (strcmp(c, "garbage") == 0) {
        send_raw(p.fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 34);
        expect_bye(&p, why, sizeof why);
    } else if (strcmp(c, "header-crc") == 0 || strcmp(c, "frame-crc") == 0) {
        hello(&p, origin, &end);
        struct link_ping pi = { 0, (uint64_t)now_ms() };
        link_put_ping(&p.out, &pi);
        if (c[0] == 'h')
            p.out.data[12] ^= 0x01; /* header CRC */
        else
            p.out.data[p.out.len - 1] ^= 0x80; /* frame CRC */
        send_buf(p.fd, &p.out);
        expect_bye(&p, why, sizeof why);
    } else if (strcmp(c, "truncated") == 0) {
        hello(&p, origin, &end);
        make_batch(&b, origin, 0, 100, t0, 0);
        link_put_batch(&p.out, 1, b.data, b.len);
        send_raw(p.fd, p.out.data, p.out.len / 2);
        snprintf(why, sizeof why, "sent %zu of a %zu-byte BATCH frame and closed", p.out.len / 2,
                 p.out.len);
    } else if (strcmp(c, "slow") == 0) {
        /* slow-loris: a frame begun and never finished */
        hello(&p, origin, &end);
        p.no_pong = 1; /* a PONG now would land inside the frame begun */
        make_batch(&b, origin, 0, 100, t0, 0);
        link_put_batch(&p.out, 1, b.data, b.len);
        send_raw(p.fd, p.out.data, 40);
        wbuf_reset(&p.out);
        int64_t s0 = mono_ms();
        expect_bye(&p, why2, sizeof why2);
        snprintf(why, sizeof why, "40 bytes of a BATCH, then silence: %.1200s after %.1f s", why2,
                 (double)(mono_ms() - s0) / 1000);
    } else if (strcmp(c, "idle") == 0) {
        /* connected, silent, PINGs unanswered */
        hello(&p, origin, &end);
        p.no_pong = 1;
        int64_t s0 = mono_ms();
        expect_bye(&p, why2, sizeof why2);
        if (p.no_pong < 2)
            die("closed as idle without a PING first: %s", why2);
        snprintf(why, sizeof why, "%d PINGs unanswered, then %.1200s after %.1f s", p.no_pong - 1,
                 why2, (double)(mono_ms() - s0) / 1000);
    } else if (strcmp(c, "early-batch") == 0) {
        make_batch(&b, origin, 0, 1, t0, 0);
        send_batch(&p, 1, &b);
        expect_bye(&p, why, sizeof why);
    } else if (strcmp(c, "oversize") == 0) {
        uint32_t max = hello(&p, origin, &end);
        /* A raw sample record entry is about 10 bytes: enough for max + 64 KiB. */
        make_batch(&b, origin, 0, (size_t)max / 8 + 8192, t0, 0);
        if (b.len <= max)
            die("the batch came out %zu bytes, not over %u", b.len, max);
        send_batch(&p, 1, &b);
        struct link_nack k = expect_nack(&p, 1, why, sizeof why);
        if (k.reason != LINK_NACK_TOO_BIG || k.retry != 0)
            die("expected NACK TOO_BIG retry 0, got %s", why);
        size_t big = b.len;
        wbuf_reset(&b);
        make_batch(&b, origin, 0, 3, t0, 0);
        /* The batch behind it on this connection is refused for now (taking
         * it would move the origin past the refused one); on a new
         * connection it is taken. */
        send_batch(&p, 2, &b);
        char why3[600];
        k = expect_nack(&p, 2, why3, sizeof why3);
        if (k.reason != LINK_NACK_OVERLOADED || k.retry != 1)
            die("expected NACK OVERLOADED retry 1 behind the refused batch, got %s", why3);
        peer_close(&p);
        peer_open(&p, addr, 0);
        hello(&p, origin, &end);
        send_batch(&p, 1, &b);
        expect_ack(&p, 1);
        snprintf(why2, sizeof why2,
                 "%.1200s for %zu bytes (max %u); the next batch refused behind it, then ACKed "
                 "on a new connection",
                 why, big, max);
        snprintf(why, sizeof why, "%s", why2);
    } else if (strcmp(c, "bad-body") == 0) {
        hello(&p, origin, &end);
        make_batch(&b, origin, 0, 3, t0, 1);
        send_batch(&p, 1, &b);
        struct link_nack k = expect_nack(&p, 1, why, sizeof why);
        if (k.reason != LINK_NACK_BAD_BATCH || k.retry != 0)
            die("expected NACK BAD_BATCH retry 0, got %s", why);
        wbuf_reset(&b);
        make_batch(&b, origin, 0, 3, t0, 0);
        send_batch(&p, 2, &b);
        expect_ack(&p, 2);
        snprintf(why2, sizeof why2, "%.1200s; the next batch ACKed", why);
        snprintf(why, sizeof why, "%s", why2);
    } else if (strcmp(c, "replay") == 0) {
        hello(&p, origin, &end);
        make_batch(&b, origin, 0, 5, t0, 0); /* 2 records: durable_end 2 */
        send_batch(&p, 1, &b);
        struct link_ack a1 = expect_ack(&p, 1);
        send_batch(&p, 2, &b);
        struct link_ack a2 = expect_ack(&p, 2);
        peer_close(&p);
        /* and once more on a new connection, as after a reconnect */
        peer_open(&p, addr, 0);
        hello(&p, origin, &end);
        if (end != a1.durable_end)
            die("WELCOME says durable_end %llu, the ACK said %llu", (unsigned long long)end,
                (unsigned long long)a1.durable_end);
        send_batch(&p, 1, &b);
        struct link_ack a3 = expect_ack(&p, 1);
        if (a1.durable_end != 2 || a2.durable_end != 2 || a3.durable_end != 2)
            die("durable_end %llu, %llu, %llu (expected 2 each time)",
                (unsigned long long)a1.durable_end, (unsigned long long)a2.durable_end,
                (unsigned long long)a3.durable_end);
        snprintf(why, sizeof why, "5 samples sent 3 times, ACKed each time with durable_end 2");
    } else {
        die("unknown case '%s'", c);
    }
    printf("ok %s: %s\n", c, why);
    peer_close(&p);
    wbuf_release(&b);
    return 0;
}

/* ---- stall and pace ------------------------------------------------------------- */

/* stall sends one-sample batches as fast as the server takes them and never
 * reads an ACK. Once the server stops reading (no progress for 2 s: it is
 * blocked sending us answers we do not read, our send buffer is full), it
 * waits up to SECONDS for the server to close the connection. */
static int run_stall(const char *addr, int seconds)
{
    struct peer p;
    struct wbuf b, fr;
    uint64_t origin = new_origin(), end, n = 0;
    int64_t start = mono_ms(), t0 = now_ms(), stuck_at = 0;
    g_case = "stall";
    peer_open(&p, addr, 2048);
    hello(&p, origin, &end);
    wbuf_init(&b, 0);
    wbuf_init(&fr, 0);
    while (stuck_at == 0 && mono_ms() - start < 60000) {
        if (fr.len == 0) {
            wbuf_reset(&b);
            make_batch(&b, origin, 2 * n, 1, t0 + (int64_t)n, 0);
            link_put_batch(&fr, n + 1, b.data, b.len);
            n++;
        }
        struct pollfd pfd = { .fd = p.fd, .events = POLLOUT };
        if (poll(&pfd, 1, 2000) == 0) {
            stuck_at = mono_ms();
            printf("stall: the server stopped reading after %llu batches (%.1f s)\n",
                   (unsigned long long)n, (double)(stuck_at - start) / 1000);
            break;
        }
        ssize_t w = send(p.fd, fr.data, fr.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0)
            die("connection ended after %llu batches (%s) before the server blocked",
                (unsigned long long)n, w < 0 ? strerror(errno) : "closed");
        memmove(fr.data, fr.data + w, fr.len - (size_t)w);
        fr.len -= (size_t)w;
    }
    if (stuck_at == 0)
        die("the server never stopped reading (%llu batches in 60 s)", (unsigned long long)n);
    /* Wait for the server's close without reading: POLLRDHUP. */
    struct pollfd pfd = { .fd = p.fd, .events = POLLRDHUP };
    int pr = poll(&pfd, 1, seconds * 1000);
    if (pr > 0)
        printf("ok stall: %llu batches; the server closed the connection %.1f s after it "
               "stopped reading\n",
               (unsigned long long)n, (double)(mono_ms() - stuck_at) / 1000);
    else
        printf("ok stall: %llu batches; the connection still open %d s after the server "
               "stopped reading\n",
               (unsigned long long)n, seconds);
    peer_close(&p);
    wbuf_release(&b);
    wbuf_release(&fr);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* pace sends a batch every 100 ms for SECONDS, each after the last one's
 * ACK, and prints the ACK latencies. */
static int run_pace(const char *addr, int seconds)
{
    struct peer p;
    struct wbuf b;
    uint64_t origin = new_origin(), end, n = 0;
    int64_t start = mono_ms(), t0 = now_ms();
    int64_t *lat = calloc((size_t)seconds * 10 + 16, sizeof(*lat));
    g_case = "pace";
    if (lat == NULL)
        die("out of memory");
    peer_open(&p, addr, 0);
    hello(&p, origin, &end);
    wbuf_init(&b, 0);
    while (mono_ms() - start < (int64_t)seconds * 1000 && n < (uint64_t)seconds * 10 + 16) {
        wbuf_reset(&b);
        make_batch(&b, origin, 2 * n, 1, t0 + (int64_t)n, 0);
        int64_t s = mono_ms();
        send_batch(&p, n + 1, &b);
        expect_ack(&p, n + 1);
        lat[n++] = mono_ms() - s;
        int64_t next = start + (int64_t)n * 100 - mono_ms();
        if (next > 0)
            usleep((useconds_t)next * 1000);
    }
    qsort(lat, n, sizeof(*lat), cmp_i64);
    printf("ok pace: %llu batches, ACK latency ms: median %lld, p99 %lld, max %lld\n",
           (unsigned long long)n, (long long)lat[n / 2], (long long)lat[(n * 99) / 100],
           (long long)lat[n - 1]);
    free(lat);
    peer_close(&p);
    wbuf_release(&b);
    return 0;
}

/* ---- the relay ------------------------------------------------------------------ */

/* Frame boundaries of one direction of the stream. */
struct fparse {
    uint8_t hdr[LINK_HEADER_LEN];
    size_t have;   /* header bytes seen of the current frame */
    uint64_t left; /* bytes of the current frame after its header */
    uint64_t total;
    uint8_t type;
};

/* fparse_cut walks n bytes and returns how many to forward before the cut
 * point: half-way through a BATCH (mode 0) or at an ACK's header (mode 1);
 * n when there is none in them. */
static size_t fparse_cut(struct fparse *s, const uint8_t *p, size_t n, int mode)
{
    size_t i = 0;
    while (i < n) {
        if (s->have < LINK_HEADER_LEN) {
            s->hdr[s->have++] = p[i++];
            if (s->have == LINK_HEADER_LEN) {
                s->type = s->hdr[4];
                s->total = LINK_FRAME_OVERHEAD + get_le32(s->hdr + 8);
                s->left = s->total - LINK_HEADER_LEN;
                if (mode == 1 && s->type == LINK_ACK)
                    return i;
            }
            continue;
        }
        size_t take = n - i < s->left ? n - i : (size_t)s->left;
        if (mode == 0 && s->type == LINK_BATCH) {
            uint64_t done = s->total - s->left, half = s->total / 2;
            if (done + take >= half)
                return i + (size_t)(half - done);
        }
        s->left -= take;
        i += take;
        if (s->left == 0)
            s->have = 0;
    }
    return n;
}

static void reset_close(int fd)
{
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static int run_relay(int listen_port, const char *target, int cuts)
{
    g_case = "relay";
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 8) != 0)
        die("relay: listen on %d: %s", listen_port, strerror(errno));
    fprintf(stderr, "relay: listening on %d\n", listen_port);
    for (int conn = 0;; conn++) {
        int a = accept(lfd, NULL, NULL);
        if (a < 0)
            die("relay: accept: %s", strerror(errno));
        int s = dial(target, 0);
        setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int cut = conn < cuts, mode = conn % 2;
        struct fparse up = { 0 }, down = { 0 };
        for (;;) {
            struct pollfd pfd[2] = { { .fd = a, .events = POLLIN }, { .fd = s, .events = POLLIN } };
            if (poll(pfd, 2, -1) < 0 && errno != EINTR)
                break;
            int from_agent = (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
            int src = from_agent ? a : s, dst = from_agent ? s : a;
            if (!from_agent && !(pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            uint8_t buf[65536];
            ssize_t n = recv(src, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            size_t fwd = (size_t)n;
            if (cut && from_agent && mode == 0)
                fwd = fparse_cut(&up, buf, (size_t)n, 0);
            else if (cut && !from_agent && mode == 1)
                fwd = fparse_cut(&down, buf, (size_t)n, 1);
            if (fwd > 0 && send(dst, buf, fwd, MSG_NOSIGNAL) != (ssize_t)fwd)
                break;
            if (fwd < (size_t)n) {
                fprintf(stderr, "relay: cut %d: %s, connection reset\n", conn + 1,
                        mode == 0 ? "half-way through a BATCH" : "the server's ACK withheld");
                usleep(50000); /* let the forwarded half reach the server first */
                break;
            }
        }
        reset_close(a);
        reset_close(s);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    srand((unsigned)(now_ms() ^ getpid()));
    if (argc == 5 && strcmp(argv[1], "relay") == 0)
        return run_relay((int)strtol(argv[2], NULL, 10), argv[3], (int)strtol(argv[4], NULL, 10));
    if (argc == 4 && strcmp(argv[2], "stall") == 0)
        return run_stall(argv[1], (int)strtol(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[2], "pace") == 0)
        return run_pace(argv[1], (int)strtol(argv[3], NULL, 10));
    if (argc == 3)
        return run_case(argv[1], argv[2]);
    fprintf(stderr, "usage: linkprobe HOST:PORT CASE | HOST:PORT stall|pace SECONDS |\n"
                    "       linkprobe relay LISTEN_PORT HOST:PORT CUTS\n");
    return 2;
}
