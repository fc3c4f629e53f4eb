/*
 * agentload.c - load generator for the agent -> server pipeline (bench/run
 * agent, bench/agent_pipeline.sh; issue 4: >= 1 M records/s end to end on
 * loopback).
 *
 * Usage: agentload --port PORT [--agents N] [--records N] [--batch N]
 *                  [--series N] [--window N] [--comp none|lz4|zstd]
 *                  [--origin-base X] [--json]
 *
 * N simulated agents, each on its own connection with its own origin and
 * node name, say HELLO, then send real core batches (core/record.h,
 * core/batch.h, core/link.h) as `telltale agent` does: each batch declares
 * the agent's series (batch-local refs, realistic node_exporter-like names
 * and labels) and holds one samples record, plus as many REC_SPAN records
 * as samples (50/50 by record count: a sample and a span are one record
 * each; a samples record carrying k samples counts k). Every batch is built
 * (and compressed, zstd by default as the agent does) before the clock
 * starts, so the figure is the server's, not the generator's. Each agent
 * keeps up to --window batches in flight (pipelined), and counts the records
 * of each ACKed batch. --records is the total over all agents.
 *
 * With --spans-only every batch holds --batch REC_SPAN records and nothing
 * else: typical spans (12 attributes with OpenTelemetry names, traces of 8
 * spans, durations from 20 us to 50 ms) from one service per agent (the
 * batch origin is "node\0service/pid" as libtelltale's), for the span
 * store's ingest figure (bench/spans.sh, ingest_native_spans_per_s).
 *
 * Prints one JSON object: records_per_s (records ACKed / wall time from the
 * first send to the last ACK), samples, spans, batches, agents, seconds,
 * bytes (batch bytes sent), nacks, errors, start_unix_ns (CLOCK_REALTIME
 * at the first send, for scripts that time what follows the ACKs). Exit 0 when every batch was
 * ACKed, 1 otherwise (the message on stderr), 2 for a usage error.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/compress.h"
#include "core/link.h"
#include "core/record.h"

struct params {
    uint16_t port;
    unsigned agents;
    uint64_t records; /* total, samples + spans */
    unsigned batch;   /* records a batch (half samples, half spans) */
    unsigned series;  /* series per agent */
    unsigned window;  /* batches in flight per agent */
    int comp;
    uint64_t origin_base;
    int json;
    int spans_only; /* batches of typical spans only (bench/spans.sh) */
};

/* One pre-built batch. */
struct pbatch {
    uint8_t *frame; /* the BATCH frame, link seq stamped in at send time */
    size_t len;
    uint32_t samples, spans;
};

struct agent {
    const struct params *p;
    unsigned idx;
    uint64_t origin;
    struct pbatch *b;
    size_t nb;
    /* results */
    uint64_t acked_batches, acked_samples, acked_spans, bytes, nacks;
    int failed;
    char msg[256];
};

static pthread_barrier_t start_bar;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t xs(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static const char *const metric_names[] = {
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_network_receive_bytes_total",
    "node_disk_read_bytes_total",
    "node_filesystem_avail_bytes",
    "node_load1",
    "http_requests_total",
    "process_resident_memory_bytes",
};
static const char *const modes[] = { "user", "system", "idle", "iowait", "irq", "softirq" };
static const char *const span_names[] = { "GET /api/v1/users", "POST /api/v1/orders",
                                          "SELECT orders", "redis GET session", "GET /healthz" };
static const char *const routes[] = { "/api/v1/users", "/api/v1/orders", "/healthz" };

static const char *const svc_names[] = { "frontend", "checkout",  "payment",
                                         "cart",     "inventory", "shipping" };
static const char *const svc_ops[][4] = {
    { "GET /", "GET /product/{id}", "GET /cart", "POST /checkout" },
    { "PlaceOrder", "GetQuote", "ValidateCart", "SELECT orders" },
    { "Charge", "Refund", "Authorize", "POST /v1/charges" },
    { "GetCart", "AddItem", "EmptyCart", "redis GET cart" },
    { "Reserve", "Release", "SELECT stock", "UPDATE stock" },
    { "ShipOrder", "GetQuote", "TrackParcel", "POST /v2/labels" },
};
static const char *const regions[] = { "us-east-1", "eu-west-1", "ap-southeast-1" };

/* put_span_typical encodes one typical span (12 attributes) of service sv
 * into raw: the k-th span of the batch, traces of 8 spans each. */
static int put_span_typical(struct wbuf *raw, struct wbuf *attrs, uint64_t *rnd, unsigned sv,
                            unsigned idx, unsigned k, int64_t start_ns, uint8_t trace[16],
                            uint64_t *parent)
{
    struct rec_span sp;
    struct rec_value v;
    char url[96], pod[48], peer[24], uid[16];
    memset(&sp, 0, sizeof sp);
    if (k % 8 == 0) {
        uint64_t r1 = xs(rnd), r2 = xs(rnd);
        memcpy(trace, &r1, 8);
        memcpy(trace + 8, &r2, 8);
        *parent = 0;
    }
    memcpy(sp.trace_id, trace, 16);
    sp.span_id = xs(rnd) | 1;
    sp.parent_id = *parent;
    *parent = sp.span_id;
    uint64_t r = xs(rnd);
    sp.duration_ns = 20000 + r % (r % 16 == 0 ? 50000000 : 5000000);
    sp.kind = (uint8_t)(k % 8 == 0 ? 2 : 3);
    sp.status = (uint8_t)(r % 97 == 0 ? 2 : 0);
    sp.flags = 1;
    const char *nm = svc_ops[sv][xs(rnd) % 4];
    sp.name = (struct rec_str){ nm, (uint32_t)strlen(nm) };
    wbuf_reset(attrs);
#define KV_S(key, str)                                            \
    do {                                                          \
        v.type = TT_VAL_STR;                                      \
        v.u.s = (struct rec_str){ (str), (uint32_t)strlen(str) }; \
        rec_kv_put(attrs, key, (uint32_t)(sizeof key - 1), &v);   \
    } while (0)
#define KV_I(key, val)                                          \
    do {                                                        \
        v.type = TT_VAL_INT;                                    \
        v.u.i = (val);                                          \
        rec_kv_put(attrs, key, (uint32_t)(sizeof key - 1), &v); \
    } while (0)
    snprintf(url, sizeof url, "https://shop.example.com/api/v1/items/%u",
             (unsigned)(xs(rnd) % 20000));
    snprintf(pod, sizeof pod, "%s-7d9f8b6c5-%05u", svc_names[sv], idx % 4 * 7919 % 100000);
    snprintf(peer, sizeof peer, "10.1.%u.%u", (unsigned)(xs(rnd) % 8), (unsigned)(xs(rnd) % 250));
    snprintf(uid, sizeof uid, "u%06u", (unsigned)(xs(rnd) % 50000));
    KV_S("service.version", "3.12.0");
    KV_S("deployment.environment", "production");
    KV_S("cloud.region", regions[idx % 3]);
    KV_S("k8s.pod.name", pod);
    KV_S("http.method", k % 3 ? "GET" : "POST");
    KV_S("http.url", url);
    KV_I("http.status_code", sp.status == 2 ? 503 : 200);
    KV_S("net.peer.ip", peer);
    KV_I("net.peer.port", 8080);
    KV_S("rpc.system", "grpc");
    KV_S("enduser.id", uid);
    KV_I("thread.id", (int64_t)(xs(rnd) % 32));
#undef KV_S
#undef KV_I
    sp.attrs = (struct rec_list){ 12, attrs->data, (uint32_t)attrs->len, 0 };
    return rec_put_span(raw, 1, start_ns, &sp);
}

/* build_batches makes agent a's batches: nrec records in batches of p->batch. */
static int build_batches(struct agent *a, uint64_t nrec)
{
    const struct params *p = a->p;
    struct wbuf raw, out, attrs, frame;
    uint64_t rnd = 0x9e3779b97f4a7c15ull ^ (a->origin * 0x100000001b3ull);
    uint64_t seq = 0;
    int64_t t0 = (int64_t)time(NULL) * 1000 - 3 * 3600 * 1000;
    char node[32], inst[48];
    size_t cap;
    int rc = 0;

    snprintf(node, sizeof node, "load-node-%03u", a->idx);
    snprintf(inst, sizeof inst, "10.%u.%u.%u:9100", a->idx / 250, a->idx % 250, 7);
    unsigned half = p->batch / 2 ? p->batch / 2 : 1;
    cap = p->spans_only ? (size_t)((nrec + p->batch - 1) / p->batch)
                        : (size_t)((nrec + 2 * half - 1) / (2 * half));
    a->b = calloc(cap ? cap : 1, sizeof *a->b);
    if (a->b == NULL)
        return -1;
    wbuf_init(&raw, 0);
    wbuf_init(&out, 0);
    wbuf_init(&attrs, 0);
    wbuf_init(&frame, 0);
    struct rec_sample *smp = calloc(half, sizeof *smp);
    double *counters = calloc(p->series, sizeof *counters);
    if (smp == NULL || counters == NULL) {
        rc = -1;
        goto out;
    }
    uint64_t done = 0, round = 0;
    unsigned sv = a->idx % 6;
    char origin[96];
    size_t origin_len = (size_t)snprintf(origin, sizeof origin, "%s", node) + 1;
    origin_len += (size_t)snprintf(origin + origin_len, sizeof origin - origin_len, "%s/%u",
                                   svc_names[sv], 1000 + a->idx);
    uint8_t trace[16] = { 0 };
    uint64_t parent = 0;
    while (done < nrec && a->nb < cap) {
        uint32_t count = 0;
        wbuf_reset(&raw);
        if (p->spans_only) {
            uint32_t nsp = 0;
            for (unsigned k = 0; k < p->batch && done + nsp < nrec; k++) {
                int64_t start = (t0 + (int64_t)(round * p->batch + k) / 4) * 1000000;
                if (put_span_typical(&raw, &attrs, &rnd, sv, a->idx, k, start, trace, &parent) !=
                    0) {
                    rc = -1;
                    goto out;
                }
                nsp++;
            }
            count = nsp;
            struct batch_hdr h;
            memset(&h, 0, sizeof h);
            h.count = count;
            h.origin_id = a->origin;
            h.first_seq = seq;
            h.hlc_min = h.hlc_max = 1;
            h.origin = origin;
            h.origin_len = (uint16_t)origin_len;
            wbuf_reset(&out);
            if (batch_encode_compressed(&out, &h, raw.data, raw.len, p->comp) != 0) {
                rc = -1;
                goto out;
            }
            wbuf_reset(&frame);
            if (link_put_batch(&frame, (uint64_t)a->nb + 1, out.data, out.len) != 0) {
                rc = -1;
                goto out;
            }
            struct pbatch *pb = &a->b[a->nb++];
            pb->frame = malloc(frame.len);
            if (pb->frame == NULL) {
                rc = -1;
                goto out;
            }
            memcpy(pb->frame, frame.data, frame.len);
            pb->len = frame.len;
            pb->samples = 0;
            pb->spans = nsp;
            seq += count;
            done += nsp;
            round++;
            continue;
        }
        /* series, as the agent declares them: every series of the batch */
        for (unsigned s = 0; s < p->series; s++) {
            char cpu[16];
            struct rec_label l[5];
            const char *name = metric_names[s % 8];
            snprintf(cpu, sizeof cpu, "%u", s / 8);
            l[0] = (struct rec_label){ { "__name__", 8 }, { name, (uint32_t)strlen(name) } };
            l[1] = (struct rec_label){ { "cpu", 3 }, { cpu, (uint32_t)strlen(cpu) } };
            l[2] = (struct rec_label){ { "instance", 8 }, { inst, (uint32_t)strlen(inst) } };
            l[3] = (struct rec_label){ { "job", 3 }, { "node", 4 } };
            l[4] = (struct rec_label){ { "mode", 4 },
                                       { modes[s % 6], (uint32_t)strlen(modes[s % 6]) } };
            if (rec_put_series(&raw, 1, 0, (uint64_t)s + 1, l, 5) != 0) {
                rc = -1;
                goto out;
            }
            count++;
        }
        /* samples: round robin over the series, 1 s apart per series */
        uint32_t ns = 0;
        for (unsigned k = 0; k < half && done + ns < nrec; k++) {
            unsigned s = k % p->series;
            uint64_t step = round * ((half + p->series - 1) / p->series) + k / p->series;
            counters[s] += (double)(xs(&rnd) % 1000) / 10.0;
            smp[ns].ref = (uint64_t)s + 1;
            smp[ns].t_ms = t0 + (int64_t)step * 1000; /* a 1 s interval */
            smp[ns].v = (s % 8 == 5) ? (double)(xs(&rnd) % 400) / 100.0 : counters[s];
            ns++;
        }
        if (rec_put_samples(&raw, 1, 0, smp, ns, REC_SAMPLES_XOR) != 0) {
            rc = -1;
            goto out;
        }
        count++;
        /* spans: as many as samples */
        uint32_t nsp = 0;
        uint64_t left = nrec - done - ns;
        for (unsigned k = 0; k < ns && nsp < left; k++) {
            struct rec_span sp;
            struct rec_value v;
            memset(&sp, 0, sizeof sp);
            uint64_t r1 = xs(&rnd), r2 = xs(&rnd);
            memcpy(sp.trace_id, &r1, 8);
            memcpy(sp.trace_id + 8, &r2, 8);
            sp.span_id = xs(&rnd) | 1;
            sp.parent_id = k % 4 ? xs(&rnd) : 0;
            sp.duration_ns = 20000 + xs(&rnd) % 5000000;
            sp.kind = (uint8_t)(k % 4 ? 3 : 2);
            sp.status = (uint8_t)(k % 50 ? 1 : 2);
            sp.flags = 1;
            const char *nm = span_names[k % 5];
            sp.name = (struct rec_str){ nm, (uint32_t)strlen(nm) };
            wbuf_reset(&attrs);
            v.type = TT_VAL_STR;
            v.u.s = (struct rec_str){ k % 2 ? "GET" : "POST", k % 2 ? 3u : 4u };
            rec_kv_put(&attrs, "http.method", 11, &v);
            v.u.s = (struct rec_str){ routes[k % 3], (uint32_t)strlen(routes[k % 3]) };
            rec_kv_put(&attrs, "http.route", 10, &v);
            v.type = TT_VAL_INT;
            v.u.i = k % 50 ? 200 : 500;
            rec_kv_put(&attrs, "http.status_code", 16, &v);
            sp.attrs = (struct rec_list){ 3, attrs.data, (uint32_t)attrs.len, 0 };
            int64_t start = (t0 + (int64_t)(round * half + k)) * 1000000;
            if (rec_put_span(&raw, 1, start, &sp) != 0) {
                rc = -1;
                goto out;
            }
            count++;
            nsp++;
        }
        struct batch_hdr h;
        memset(&h, 0, sizeof h);
        h.count = count;
        h.origin_id = a->origin;
        h.first_seq = seq;
        h.hlc_min = h.hlc_max = 1;
        h.origin = node;
        h.origin_len = (uint16_t)strlen(node);
        wbuf_reset(&out);
        if (batch_encode_compressed(&out, &h, raw.data, raw.len, p->comp) != 0) {
            rc = -1;
            goto out;
        }
        wbuf_reset(&frame);
        if (link_put_batch(&frame, (uint64_t)a->nb + 1, out.data, out.len) != 0) {
            rc = -1;
            goto out;
        }
        struct pbatch *pb = &a->b[a->nb++];
        pb->frame = malloc(frame.len);
        if (pb->frame == NULL) {
            rc = -1;
            goto out;
        }
        memcpy(pb->frame, frame.data, frame.len);
        pb->len = frame.len;
        pb->samples = ns;
        pb->spans = nsp;
        seq += count;
        done += ns + nsp;
        round++;
    }
out:
    free(smp);
    free(counters);
    wbuf_release(&raw);
    wbuf_release(&out);
    wbuf_release(&attrs);
    wbuf_release(&frame);
    return rc;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* next_frame reads until rd holds a whole frame: 1, or 0 at EOF/error. */
static int next_frame(int fd, struct link_reader *rd, struct link_frame *f, char *msg, size_t n)
{
    uint8_t buf[16384];
    for (;;) {
        int rc = link_reader_next(rd, f, msg, n);
        if (rc < 0)
            return 0;
        if (rc == 1)
            return 1;
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            snprintf(msg, n, "connection closed by the server");
            return 0;
        }
        if (link_reader_feed(rd, buf, (size_t)got) < 0 && link_reader_next(rd, f, msg, n) < 0)
            return 0;
    }
}

/* agent_main: one simulated agent: connect, HELLO, then its batches with
 * up to window in flight, counting what is ACKed. */
static void *agent_main(void *arg)
{
    struct agent *a = arg;
    const struct params *p = a->p;
    struct link_reader rd;
    struct link_frame f;
    struct wbuf w;
    char msg[256] = "";
    int fd = -1;
    size_t sent = 0, acked = 0;

    link_reader_init(&rd, 0);
    wbuf_init(&w, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(p->port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(a->msg, sizeof a->msg, "connect: %s", strerror(errno));
        a->failed = 1;
        pthread_barrier_wait(&start_bar);
        goto out;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char node[32];
    snprintf(node, sizeof node, "load-node-%03u", a->idx);
    struct link_hello h = { .version = LINK_VERSION,
                            .node = { node, (uint32_t)strlen(node) },
                            .role = { "load", 4 },
                            .release = { "1", 1 },
                            .agent_version = { "agentload", 9 },
                            .origin_id = a->origin,
                            .hlc = 1,
                            .physical_ms = (uint64_t)time(NULL) * 1000 };
    if (link_put_hello(&w, &h) != 0 || send_all(fd, w.data, w.len) != 0 ||
        !next_frame(fd, &rd, &f, msg, sizeof msg) || f.type != LINK_WELCOME) {
        snprintf(a->msg, sizeof a->msg, "HELLO: %.200s", msg[0] ? msg : "no WELCOME");
        a->failed = 1;
        pthread_barrier_wait(&start_bar);
        goto out;
    }
    pthread_barrier_wait(&start_bar);
    while (acked < a->nb) {
        while (sent < a->nb && sent - acked < p->window) {
            if (send_all(fd, a->b[sent].frame, a->b[sent].len) != 0) {
                snprintf(a->msg, sizeof a->msg, "send: %s", strerror(errno));
                a->failed = 1;
                goto out;
            }
            a->bytes += a->b[sent].len;
            sent++;
        }
        if (!next_frame(fd, &rd, &f, msg, sizeof msg)) {
            snprintf(a->msg, sizeof a->msg, "%.200s", msg);
            a->failed = 1;
            goto out;
        }
        if (f.type == LINK_ACK) {
            struct pbatch *pb = &a->b[acked++];
            a->acked_batches++;
            a->acked_samples += pb->samples;
            a->acked_spans += pb->spans;
        } else if (f.type == LINK_NACK) {
            struct link_nack n;
            a->nacks++;
            if (link_decode_nack(&f, &n, msg, sizeof msg) == 0)
                snprintf(a->msg, sizeof a->msg, "NACK: %.*s", (int)n.message.len, n.message.p);
            a->failed = 1;
            goto out;
        } else if (f.type != LINK_PONG) {
            snprintf(a->msg, sizeof a->msg, "unexpected %s frame", link_type_name(f.type));
            a->failed = 1;
            goto out;
        }
    }
    wbuf_reset(&w);
    struct link_bye bye = { LINK_BYE_NORMAL, { "done", 4 } };
    if (link_put_bye(&w, &bye) == 0)
        (void)send_all(fd, w.data, w.len);
out:
    if (fd >= 0)
        close(fd);
    link_reader_release(&rd);
    wbuf_release(&w);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: agentload --port PORT [--agents N] [--records N] [--batch N] "
                    "[--series N] [--window N] [--comp none|lz4|zstd] [--origin-base X] "
                    "[--spans-only] [--json]\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *v = x;
    return 0;
}

int main(int argc, char **argv)
{
    struct params p = { .agents = 1,
                        .records = 2000000,
                        .batch = 4000,
                        .series = 200,
                        .window = 8,
                        .comp = BATCH_COMP_ZSTD,
                        .origin_base = 0x10ad000000000000ull };
    for (int i = 1; i < argc; i++) {
        uint64_t v = 0;
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            p.json = 1;
            continue;
        }
        if (strcmp(a, "--spans-only") == 0) {
            p.spans_only = 1;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        const char *val = argv[++i];
        if (strcmp(a, "--comp") == 0) {
            if (strcmp(val, "none") == 0)
                p.comp = BATCH_COMP_NONE;
            else if (strcmp(val, "lz4") == 0)
                p.comp = BATCH_COMP_LZ4;
            else if (strcmp(val, "zstd") == 0)
                p.comp = BATCH_COMP_ZSTD;
            else
                return usage();
            continue;
        }
        if (parse_u64(val, &v) != 0)
            return usage();
        if (strcmp(a, "--port") == 0 && v > 0 && v < 65536)
            p.port = (uint16_t)v;
        else if (strcmp(a, "--agents") == 0 && v > 0 && v <= 10000)
            p.agents = (unsigned)v;
        else if (strcmp(a, "--records") == 0 && v > 0)
            p.records = v;
        else if (strcmp(a, "--batch") == 0 && v >= 2 && v <= 1000000)
            p.batch = (unsigned)v;
        else if (strcmp(a, "--series") == 0 && v > 0 && v <= 100000)
            p.series = (unsigned)v;
        else if (strcmp(a, "--window") == 0 && v > 0 && v <= 1024)
            p.window = (unsigned)v;
        else if (strcmp(a, "--origin-base") == 0)
            p.origin_base = v;
        else
            return usage();
    }
    if (p.port == 0)
        return usage();

    struct agent *ag = calloc(p.agents, sizeof *ag);
    pthread_t *th = calloc(p.agents, sizeof *th);
    if (ag == NULL || th == NULL) {
        fprintf(stderr, "agentload: out of memory\n");
        return 1;
    }
    uint64_t per = p.records / p.agents;
    for (unsigned i = 0; i < p.agents; i++) {
        ag[i].p = &p;
        ag[i].idx = i;
        ag[i].origin = p.origin_base + i;
        if (build_batches(&ag[i], per + (i < p.records % p.agents)) != 0) {
            fprintf(stderr, "agentload: cannot build the batches (out of memory?)\n");
            return 1;
        }
    }
    pthread_barrier_init(&start_bar, NULL, p.agents + 1);
    for (unsigned i = 0; i < p.agents; i++) {
        if (pthread_create(&th[i], NULL, agent_main, &ag[i]) != 0) {
            fprintf(stderr, "agentload: cannot start thread %u\n", i);
            return 1;
        }
    }
    pthread_barrier_wait(&start_bar);
    int64_t t0 = mono_ns();
    struct timespec rt0;
    clock_gettime(CLOCK_REALTIME, &rt0);
    for (unsigned i = 0; i < p.agents; i++)
        pthread_join(th[i], NULL);
    int64_t t1 = mono_ns();

    uint64_t batches = 0, samples = 0, spans = 0, bytes = 0, nacks = 0, errors = 0;
    for (unsigned i = 0; i < p.agents; i++) {
        batches += ag[i].acked_batches;
        samples += ag[i].acked_samples;
        spans += ag[i].acked_spans;
        bytes += ag[i].bytes;
        nacks += ag[i].nacks;
        if (ag[i].failed) {
            if (errors == 0)
                fprintf(stderr, "agentload: agent %u: %s\n", i, ag[i].msg);
            errors++;
        }
    }
    double secs = (double)(t1 - t0) / 1e9;
    printf("{\"records_per_s\":%.0f,\"records\":%llu,\"samples\":%llu,\"spans\":%llu,"
           "\"batches\":%llu,\"agents\":%u,\"seconds\":%.3f,\"bytes\":%llu,\"nacks\":%llu,"
           "\"errors\":%llu,\"start_unix_ns\":%lld}\n",
           secs > 0 ? (double)(samples + spans) / secs : 0.0, (unsigned long long)(samples + spans),
           (unsigned long long)samples, (unsigned long long)spans, (unsigned long long)batches,
           p.agents, secs, (unsigned long long)bytes, (unsigned long long)nacks,
           (unsigned long long)errors, (long long)rt0.tv_sec * 1000000000ll + rt0.tv_nsec);
    for (unsigned i = 0; i < p.agents; i++) {
        for (size_t k = 0; k < ag[i].nb; k++)
            free(ag[i].b[k].frame);
        free(ag[i].b);
    }
    free(ag);
    free(th);
    pthread_barrier_destroy(&start_bar);
    return errors ? 1 : 0;
}
