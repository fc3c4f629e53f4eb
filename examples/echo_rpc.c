/*
 * echo_rpc.c - a traced TCP echo RPC: server, client, and both in one command
 * for the end-to-end benchmark (bench/run client).
 *
 *   echo_rpc server PORT                      serve on 127.0.0.1:PORT until SIGINT/SIGTERM
 *   echo_rpc client HOST PORT N [options]     send N requests, print latency and throughput
 *   echo_rpc bench N [options]                fork a server on an ephemeral port, run the
 *                                             client against it, stop the server
 * Options: --threads T (client connections, one thread each; default 1),
 *          --payload BYTES (default 64), --warmup W (untimed requests per thread,
 *          default N/10 up to 2000), --cpu C (pin every thread to CPU C;
 *          in bench mode the server's too), --json (one JSON object instead of text).
 *
 * Tracing is configured by the TELLTALE_* environment (TELLTALE_ENABLED=0
 * leaves the calls in but records nothing; TELLTALE_SAMPLE_RATIO=1 records
 * every call). In bench mode the server and the client are two processes,
 * each with its own library instance, spooling under $TELLTALE_SPOOL_DIR/server
 * and $TELLTALE_SPOOL_DIR/client.
 *
 * Wire format: every message is one frame, a fixed 24-byte header followed by
 * three variable parts; integers little-endian:
 *     0  u32  magic: "TTQ1" request, "TTP1" reply
 *     4  u16  traceparent length (0 or 55)
 *     6  u16  tracestate length (0 .. TT_TRACESTATE_MAX - 1)
 *     8  u32  payload length (0 .. 65536)
 *    12  u32  reserved, 0
 *    16  u64  request id (the reply echoes it)
 *    24  traceparent bytes, then tracestate bytes, then payload bytes
 * A reply carries no trace headers and the request's payload. The client
 * starts a CLIENT span and injects its headers into the request; the server
 * starts a SERVER span from them, sends the reply and ends its span; the client
 * ends its span when the reply is in. Latency is measured around the whole
 * call including the tracing work (CLOCK_MONOTONIC).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "telltale.h"

#define FRAME_HDR   24
#define MAGIC_REQ   0x31515454u /* "TTQ1" */
#define MAGIC_REP   0x31505454u /* "TTP1" */
#define PAYLOAD_MAX 65536u
#define FRAME_MAX   (FRAME_HDR + TT_TRACEPARENT_LEN + TT_TRACESTATE_MAX + PAYLOAD_MAX)
#define WARMUP_MAX  2000u
#define SPAN_NAME   "echo.Echo"

/* A decoded frame; the header strings are NUL-terminated copies. */
struct frame {
    uint32_t magic;
    uint16_t tp_len, ts_len;
    uint32_t payload_len;
    uint64_t id;
    char tp[TT_TRACEPARENT_LEN + 1];
    char ts[TT_TRACESTATE_MAX];
    uint8_t payload[PAYLOAD_MAX];
};

struct options {
    uint64_t n;
    unsigned threads;
    uint32_t payload;
    uint64_t warmup; /* UINT64_MAX: default */
    int cpu;         /* -1: not pinned */
    int json;
};

/* ---- small helpers ------------------------------------------------------- */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* read_full reads exactly len bytes. Returns 1, 0 on a clean end of stream
 * before the first byte, or -1 on an error or a stream cut mid-way. */
static int read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t r = recv(fd, p + got, len - got, 0);
        if (r > 0) {
            got += (size_t)r;
        } else if (r == 0) {
            return got == 0 ? 0 : -1;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return 1;
}

static int write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* encode_frame writes a frame into out (FRAME_MAX bytes); returns its length. */
static size_t encode_frame(uint8_t *out, uint32_t magic, uint64_t id, const char *tp,
                           const char *ts, const uint8_t *payload, uint32_t payload_len)
{
    /* A traceparent of any other length than 55 is not sent at all. */
    size_t tp_len = tp ? strnlen(tp, TT_TRACEPARENT_LEN + 1) : 0;
    if (tp_len != TT_TRACEPARENT_LEN)
        tp_len = 0;
    size_t ts_len = ts ? strnlen(ts, TT_TRACESTATE_MAX - 1) : 0;
    put_le32(out, magic);
    put_le16(out + 4, (uint16_t)tp_len);
    put_le16(out + 6, (uint16_t)ts_len);
    put_le32(out + 8, payload_len);
    put_le32(out + 12, 0);
    put_le64(out + 16, id);
    size_t off = FRAME_HDR;
    if (tp_len)
        memcpy(out + off, tp, tp_len);
    off += tp_len;
    if (ts_len)
        memcpy(out + off, ts, ts_len);
    off += ts_len;
    if (payload_len)
        memcpy(out + off, payload, payload_len);
    return off + payload_len;
}

/* read_frame reads and checks one frame. Returns 1, 0 at end of stream, -1 on
 * an I/O error or a malformed frame. */
static int read_frame(int fd, struct frame *f)
{
    uint8_t hdr[FRAME_HDR];
    int rc = read_full(fd, hdr, sizeof(hdr));
    if (rc <= 0)
        return rc;
    f->magic = get_le32(hdr);
    f->tp_len = get_le16(hdr + 4);
    f->ts_len = get_le16(hdr + 6);
    f->payload_len = get_le32(hdr + 8);
    f->id = get_le64(hdr + 16);
    if ((f->magic != MAGIC_REQ && f->magic != MAGIC_REP) ||
        (f->tp_len != 0 && f->tp_len != TT_TRACEPARENT_LEN) || f->ts_len >= TT_TRACESTATE_MAX ||
        f->payload_len > PAYLOAD_MAX)
        return -1;
    if (read_full(fd, f->tp, f->tp_len) < 0 || read_full(fd, f->ts, f->ts_len) < 0 ||
        read_full(fd, f->payload, f->payload_len) < 0)
        return -1;
    f->tp[f->tp_len] = '\0';
    f->ts[f->ts_len] = '\0';
    return 1;
}

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* parse_u64 parses a whole decimal string in [min, max]; returns 0 or -1. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* init_tracing starts the library from the environment; spool_sub (may be
 * NULL) is a subdirectory of the configured spool dir to use instead. */
static int init_tracing(const char *spool_sub, tt_config *cfg)
{
    char err[256] = "";
    tt_config_default(cfg);
    snprintf(cfg->service, sizeof(cfg->service), "echo_rpc");
    int rc = tt_config_from_env(cfg, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "echo_rpc: %s\n", err[0] ? err : tt_strerror(rc));
        return -1;
    }
    if (spool_sub) {
        char base[TT_PATH_MAX];
        memcpy(base, cfg->spool_dir, sizeof(base));
        if (mkdir(base, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "echo_rpc: mkdir %s: %s\n", base, strerror(errno));
            return -1;
        }
        size_t n =
            (size_t)snprintf(cfg->spool_dir, sizeof(cfg->spool_dir), "%s/%s", base, spool_sub);
        if (n >= sizeof(cfg->spool_dir)) {
            fprintf(stderr, "echo_rpc: spool directory name too long\n");
            return -1;
        }
    }
    rc = tt_init(cfg);
    if (rc < 0) {
        fprintf(stderr, "echo_rpc: tt_init(%s): %s\n", cfg->spool_dir, tt_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- server ---------------------------------------------------------------- */

struct conn {
    int fd;
    pthread_t thread;
    struct conn *next;
};

struct server {
    int lfd;
    pthread_t acceptor;
    pthread_mutex_t lock;
    struct conn *conns; /* under lock */
    int stopping;       /* under lock */
};

/* serve_conn answers requests on one connection until it closes. */
static void *serve_conn(void *arg)
{
    struct conn *c = arg;
    struct frame *f = malloc(sizeof(*f));
    uint8_t *out = malloc(FRAME_MAX);
    if (!f || !out)
        goto out;
    for (;;) {
        if (read_frame(c->fd, f) <= 0 || f->magic != MAGIC_REQ)
            break;
        tt_span span;
        tt_server_span_start(&span, SPAN_NAME, f->tp_len ? f->tp : NULL, f->ts_len ? f->ts : NULL);
        size_t len = encode_frame(out, MAGIC_REP, f->id, NULL, NULL, f->payload, f->payload_len);
        int rc = write_full(c->fd, out, len);
        if (rc < 0)
            tt_span_set_status(&span, TT_STATUS_ERROR, "write failed");
        tt_span_end(&span);
        if (rc < 0)
            break;
    }
out:
    free(f);
    free(out);
    return NULL;
}

static void *accept_loop(void *arg)
{
    struct server *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* shut down (EINVAL) or out of resources */
        }
        set_nodelay(fd);
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        pthread_mutex_lock(&s->lock);
        int stopping = s->stopping;
        if (!stopping && pthread_create(&c->thread, NULL, serve_conn, c) == 0) {
            c->next = s->conns;
            s->conns = c;
            c = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        if (c) {
            close(fd);
            free(c);
        }
        if (stopping)
            break;
    }
    return NULL;
}

/* listen_local opens a listening socket on 127.0.0.1:port (0: ephemeral) and
 * returns it, with the actual port in *bound. */
static int listen_local(uint16_t port, uint16_t *bound)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

/* run_server serves on the listening socket lfd until SIGINT or SIGTERM
 * (which the caller has blocked in every thread), then closes every
 * connection and shuts the library down. */
static int run_server(int lfd, const sigset_t *stop_sigs)
{
    struct server s = { .lfd = lfd, .conns = NULL, .stopping = 0 };
    int sig = 0;
    pthread_mutex_init(&s.lock, NULL);
    if (pthread_create(&s.acceptor, NULL, accept_loop, &s) != 0) {
        fprintf(stderr, "echo_rpc: cannot start the server thread\n");
        pthread_mutex_destroy(&s.lock);
        return -1;
    }
    while (sigwait(stop_sigs, &sig) != 0) {
    }
    pthread_mutex_lock(&s.lock);
    s.stopping = 1;
    pthread_mutex_unlock(&s.lock);
    shutdown(lfd, SHUT_RDWR); /* wakes accept() */
    pthread_join(s.acceptor, NULL);
    struct conn *c = s.conns;
    while (c) {
        struct conn *next = c->next;
        shutdown(c->fd, SHUT_RDWR);
        pthread_join(c->thread, NULL);
        close(c->fd);
        free(c);
        c = next;
    }
    pthread_mutex_destroy(&s.lock);
    return 0;
}

/* ---- client ---------------------------------------------------------------- */

struct client_job {
    struct sockaddr_in addr;
    uint64_t n, warmup;
    uint32_t payload;
    uint64_t id_base;
    int64_t *lat_ns; /* n entries */
    pthread_barrier_t *start;
    int failed;
};

/* call makes one traced request and waits for its reply; 0 or -1. */
static int call(int fd, uint64_t id, const uint8_t *payload, uint32_t len, uint8_t *out,
                struct frame *reply)
{
    tt_span span;
    tt_headers hdr;
    hdr.traceparent[0] = '\0'; /* in case the library writes nothing */
    hdr.tracestate[0] = '\0';
    tt_client_span_start(&span, SPAN_NAME, NULL, &hdr);
    size_t flen = encode_frame(out, MAGIC_REQ, id, hdr.traceparent, hdr.tracestate, payload, len);
    int rc = -1;
    if (write_full(fd, out, flen) == 0 && read_frame(fd, reply) == 1 && reply->magic == MAGIC_REP &&
        reply->id == id && reply->payload_len == len)
        rc = 0;
    if (rc < 0)
        tt_span_set_status(&span, TT_STATUS_ERROR, "call failed");
    tt_span_end(&span);
    return rc;
}

static void *client_main(void *arg)
{
    struct client_job *j = arg;
    uint8_t *payload = malloc(j->payload ? j->payload : 1);
    uint8_t *out = malloc(FRAME_MAX);
    struct frame *reply = malloc(sizeof(*reply));
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = payload && out && reply && fd >= 0 &&
             connect(fd, (struct sockaddr *)&j->addr, sizeof(j->addr)) == 0;
    if (ok) {
        set_nodelay(fd);
        for (uint32_t i = 0; i < j->payload; i++)
            payload[i] = (uint8_t)('a' + i % 26);
        for (uint64_t i = 0; ok && i < j->warmup; i++)
            ok = call(fd, j->id_base + i, payload, j->payload, out, reply) == 0;
    }
    /* Everyone meets at the barrier, even a failed thread, so the timing
     * starts together and nobody waits forever. */
    pthread_barrier_wait(j->start);
    for (uint64_t i = 0; ok && i < j->n; i++) {
        int64_t t0 = mono_ns();
        ok = call(fd, j->id_base + j->warmup + i, payload, j->payload, out, reply) == 0;
        j->lat_ns[i] = mono_ns() - t0;
    }
    j->failed = !ok;
    if (fd >= 0)
        close(fd);
    free(payload);
    free(out);
    free(reply);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct(const int64_t *v, uint64_t n, double p)
{
    uint64_t rank = (uint64_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1];
}

/* What a client run measured. */
struct result {
    double secs, rps, p50_us, p99_us, mean_us;
    uint64_t requests;     /* warm-up included */
    double cpu_us_per_req; /* both processes, whole run; < 0: not measured */
    tt_stats st;           /* the client library's counters at the end */
};

/* run_client runs the whole client: opt->n timed requests spread over
 * opt->threads connections to addr, after the warm-up ones; fills res. */
static int run_client(const struct sockaddr_in *addr, const struct options *opt, struct result *res)
{
    unsigned nt = opt->threads;
    uint64_t per = opt->n / nt, extra = opt->n % nt;
    uint64_t warm = opt->warmup;
    struct client_job *jobs = calloc(nt, sizeof(*jobs));
    pthread_t *th = calloc(nt, sizeof(*th));
    int64_t *lat = malloc((opt->n ? opt->n : 1) * sizeof(*lat));
    pthread_barrier_t start;
    unsigned started = 0;
    int rc = -1, barrier = 0;

    if (warm == UINT64_MAX)
        warm = per / 10 < WARMUP_MAX ? per / 10 : WARMUP_MAX;
    if (!jobs || !th || !lat)
        goto out;
    if (pthread_barrier_init(&start, NULL, nt + 1) != 0)
        goto out;
    barrier = 1;
    uint64_t off = 0;
    for (unsigned i = 0; i < nt; i++) {
        struct client_job *j = &jobs[i];
        j->addr = *addr;
        j->n = per + (i < extra);
        j->warmup = warm;
        j->payload = opt->payload;
        j->id_base = (uint64_t)i << 40;
        j->lat_ns = lat + off;
        j->start = &start;
        off += j->n;
    }
    for (; started < nt; started++) {
        if (pthread_create(&th[started], NULL, client_main, &jobs[started]) != 0)
            break;
    }
    if (started < nt) {
        /* Cannot happen in practice; the started threads would block on the
         * barrier, so give up without joining them. */
        fprintf(stderr, "echo_rpc: cannot start client threads\n");
        exit(1);
    }
    pthread_barrier_wait(&start);
    int64_t t0 = mono_ns();
    for (unsigned i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    int64_t wall = mono_ns() - t0;
    for (unsigned i = 0; i < nt; i++) {
        if (jobs[i].failed) {
            fprintf(stderr, "echo_rpc: client connection %u failed\n", i);
            goto out;
        }
    }

    qsort(lat, opt->n, sizeof(*lat), cmp_i64);
    double sum = 0;
    for (uint64_t i = 0; i < opt->n; i++)
        sum += (double)lat[i];
    double secs = (double)wall / 1e9;
    double rps = secs > 0 ? (double)opt->n / secs : 0;
    double p50 = opt->n ? pct(lat, opt->n, 0.50) / 1e3 : 0;
    double p99 = opt->n ? pct(lat, opt->n, 0.99) / 1e3 : 0;
    double mean = opt->n ? sum / (double)opt->n / 1e3 : 0;
    res->secs = secs;
    res->rps = rps;
    res->p50_us = p50;
    res->p99_us = p99;
    res->mean_us = mean;
    res->requests = opt->n + (uint64_t)nt * warm;
    tt_stats_get(&res->st);
    rc = 0;
out:
    if (barrier)
        pthread_barrier_destroy(&start);
    free(jobs);
    free(th);
    free(lat);
    return rc;
}

static double cpu_us(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec * 1e6 + (double)ru->ru_utime.tv_usec +
           (double)ru->ru_stime.tv_sec * 1e6 + (double)ru->ru_stime.tv_usec;
}

/* print_result prints a run's figures and the client library's counters. */
static void print_result(const struct options *opt, const tt_config *cfg, const char *mode,
                         const struct result *res)
{
    const tt_stats *st = &res->st;
    unsigned long long dropped = st->records_dropped_full + st->records_dropped_spool;
    if (opt->json) {
        printf("{\"mode\":\"%s\",\"requests\":%llu,\"threads\":%u,\"payload\":%u,"
               "\"seconds\":%.6f,\"rps\":%.1f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,"
               "\"cpu_us_per_req\":%.4f,\"enabled\":%d,\"sample_ratio\":%g,"
               "\"spans_recorded\":%llu,\"spans_unsampled\":%llu,\"records_dropped\":%llu}\n",
               mode, (unsigned long long)opt->n, opt->threads, opt->payload, res->secs, res->rps,
               res->p50_us, res->p99_us, res->mean_us, res->cpu_us_per_req, cfg->enabled,
               cfg->sample_ratio, (unsigned long long)st->spans_recorded,
               (unsigned long long)st->spans_unsampled, dropped);
    } else {
        printf("echo_rpc %s: %llu requests, %u connection(s), %u-byte payload: %.0f req/s, "
               "p50 %.1f us, p99 %.1f us, mean %.1f us",
               mode, (unsigned long long)opt->n, opt->threads, opt->payload, res->rps, res->p50_us,
               res->p99_us, res->mean_us);
        if (res->cpu_us_per_req >= 0)
            printf(", %.2f CPU us/request", res->cpu_us_per_req);
        printf(" (tracing %s, sample ratio %g; client spans recorded %llu, unsampled %llu, "
               "records dropped %llu)\n",
               cfg->enabled ? "on" : "off", cfg->sample_ratio,
               (unsigned long long)st->spans_recorded, (unsigned long long)st->spans_unsampled,
               dropped);
    }
    fflush(stdout);
}

/* ---- commands -------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: echo_rpc server PORT\n"
                    "       echo_rpc client HOST PORT N [--threads T] [--payload B] "
                    "[--warmup W] [--cpu C] [--json]\n"
                    "       echo_rpc bench N [--threads T] [--payload B] [--warmup W] "
                    "[--cpu C] [--json]\n");
    return 2;
}

/* parse_options reads the flags in argv[i..argc). */
static int parse_options(int argc, char **argv, int i, struct options *opt)
{
    for (; i < argc; i++) {
        uint64_t v;
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            opt->json = 1;
        } else if (i + 1 < argc && strcmp(a, "--threads") == 0) {
            if (parse_u64(argv[++i], 1, 256, &v) < 0)
                return -1;
            opt->threads = (unsigned)v;
        } else if (i + 1 < argc && strcmp(a, "--payload") == 0) {
            if (parse_u64(argv[++i], 0, PAYLOAD_MAX, &v) < 0)
                return -1;
            opt->payload = (uint32_t)v;
        } else if (i + 1 < argc && strcmp(a, "--cpu") == 0) {
            if (parse_u64(argv[++i], 0, CPU_SETSIZE - 1, &v) < 0)
                return -1;
            opt->cpu = (int)v;
        } else if (i + 1 < argc && strcmp(a, "--warmup") == 0) {
            if (parse_u64(argv[++i], 0, UINT32_MAX, &v) < 0)
                return -1;
            opt->warmup = v;
        } else {
            return -1;
        }
    }
    return 0;
}

static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* pin_cpu pins the calling thread, and the threads and processes it starts
 * later, to CPU cpu (-1: leave as is). In bench mode, pinning both processes
 * to one CPU makes the run CPU-bound and repeatable: the round trip is two
 * context switches, with no wake-up of an idle CPU, and all the tracing work,
 * the flushers' included, is paid on that CPU. Returns 0 or -1. */
static int pin_cpu(int cpu)
{
    cpu_set_t set;
    if (cpu < 0)
        return 0;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0) {
        fprintf(stderr, "echo_rpc: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmd_server(int argc, char **argv)
{
    uint64_t port;
    uint16_t bound = 0;
    sigset_t stop;
    tt_config cfg;
    if (argc != 3 || parse_u64(argv[2], 1, 65535, &port) < 0)
        return usage();
    block_stop_signals(&stop);
    int lfd = listen_local((uint16_t)port, &bound);
    if (lfd < 0) {
        fprintf(stderr, "echo_rpc: cannot listen on 127.0.0.1:%llu: %s\n", (unsigned long long)port,
                strerror(errno));
        return 1;
    }
    if (init_tracing(NULL, &cfg) < 0) {
        close(lfd);
        return 1;
    }
    fprintf(stderr, "echo_rpc: serving on 127.0.0.1:%u\n", bound);
    int rc = run_server(lfd, &stop);
    close(lfd);
    tt_shutdown();
    return rc < 0 ? 1 : 0;
}

static int cmd_client(int argc, char **argv)
{
    struct options opt = { .threads = 1, .payload = 64, .warmup = UINT64_MAX, .cpu = -1 };
    struct sockaddr_in addr;
    uint64_t port;
    tt_config cfg;
    if (argc < 5 || parse_u64(argv[3], 1, 65535, &port) < 0 ||
        parse_u64(argv[4], 1, 100000000, &opt.n) < 0 || parse_options(argc, argv, 5, &opt) < 0)
        return usage();
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    const char *host = strcmp(argv[2], "localhost") == 0 ? "127.0.0.1" : argv[2];
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "echo_rpc: HOST must be an IPv4 address: %s\n", argv[2]);
        return 2;
    }
    if (pin_cpu(opt.cpu) < 0 || init_tracing(NULL, &cfg) < 0)
        return 1;
    struct result res = { .cpu_us_per_req = -1 };
    int rc = run_client(&addr, &opt, &res);
    if (rc == 0)
        print_result(&opt, &cfg, "client", &res);
    tt_shutdown();
    return rc < 0 ? 1 : 0;
}

static int cmd_bench(int argc, char **argv)
{
    struct options opt = { .threads = 1, .payload = 64, .warmup = UINT64_MAX, .cpu = -1 };
    uint16_t port = 0;
    sigset_t stop;
    tt_config cfg;
    if (argc < 3 || parse_u64(argv[2], 1, 100000000, &opt.n) < 0 ||
        parse_options(argc, argv, 3, &opt) < 0)
        return usage();
    if (pin_cpu(opt.cpu) < 0)
        return 1;
    /* Block the stop signals before the fork so the server child cannot be
     * killed before it waits for them; the client side unblocks them. */
    block_stop_signals(&stop);
    int lfd = listen_local(0, &port);
    if (lfd < 0) {
        fprintf(stderr, "echo_rpc: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "echo_rpc: fork: %s\n", strerror(errno));
        close(lfd);
        return 1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(1);
        if (init_tracing("server", &cfg) < 0)
            _exit(1);
        int rc = run_server(lfd, &stop);
        close(lfd);
        tt_shutdown();
        _exit(rc < 0 ? 1 : 0);
    }
    close(lfd);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = -1, status = 0;
    struct result res = { .cpu_us_per_req = -1 };
    struct rusage ru_server, ru_client;
    if (init_tracing("client", &cfg) == 0) {
        rc = run_client(&addr, &opt, &res);
        /* The library's final flush is part of its cost: measured after. */
        tt_shutdown();
    }
    kill(pid, SIGTERM);
    memset(&ru_server, 0, sizeof(ru_server));
    while (wait4(pid, &status, 0, &ru_server) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "echo_rpc: server process ended badly (status %d)\n", status);
        rc = -1;
    }
    if (rc == 0) {
        getrusage(RUSAGE_SELF, &ru_client);
        res.cpu_us_per_req = (cpu_us(&ru_client) + cpu_us(&ru_server)) / (double)res.requests;
        print_result(&opt, &cfg, "bench", &res);
    }
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "server") == 0)
        return cmd_server(argc, argv);
    if (strcmp(argv[1], "client") == 0)
        return cmd_client(argc, argv);
    if (strcmp(argv[1], "bench") == 0)
        return cmd_bench(argc, argv);
    return usage();
}
