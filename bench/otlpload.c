/*
 * otlpload.c - load generator for OTLP/HTTP trace ingest (bench/spans.sh:
 * ingest_otlp_json_spans_per_s, ingest_otlp_proto_spans_per_s).
 *
 * Usage: otlpload --port PORT [--spans N] [--batch N] [--conns N]
 *                 [--proto] [--json]
 *
 * Builds every request body before the clock starts: ExportTraceServiceRequest
 * in OTLP JSON (lowerCamelCase, hex ids, times as strings) or protobuf
 * (--proto), --batch typical spans a request (12 attributes with
 * OpenTelemetry names, traces of 8 spans, one resource with service.name and
 * host.name per request, 6 services), unique ids throughout. Then --conns
 * threads, one keep-alive HTTP/1.1 connection each, POST their share of the
 * bodies to /v1/traces one after the other (each waits for its answer: the
 * server answers once the spans are durable). The generator's work per
 * request is a send and a read, so it does not bound the figure.
 *
 * Prints one JSON object: spans_per_s (spans answered 200 / wall time from
 * the first send to the last answer), spans, requests, seconds, bytes,
 * errors, start_unix_ns (CLOCK_REALTIME at the first send). Exit 0 when
 * every request was answered 200, 1 otherwise (the first problem on
 * stderr), 2 for a usage error.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

struct params {
    uint16_t port;
    uint64_t spans;
    unsigned batch, conns;
    int proto;
};

struct body {
    uint8_t *p; /* HTTP request: head and body */
    size_t len;
    uint32_t spans;
};

struct conn {
    const struct params *p;
    struct body *b;
    size_t nb;
    uint64_t spans, requests, bytes;
    int failed;
    char msg[256];
};

static pthread_barrier_t start_bar;

static uint64_t xs(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

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

/* One span's fields, in both encodings' terms. */
struct span {
    uint8_t trace[16];
    uint64_t id, parent;
    const char *name;
    int kind, error;
    uint64_t start_ns, end_ns;
    const char *skey[9], *sval[9];
    const char *ikey[3];
    int64_t ival[3];
    char url[96], pod[48], peer[24], uid[16];
};

static void make_span(struct span *s, uint64_t *rnd, unsigned sv, unsigned k, uint64_t start_ns)
{
    if (k % 8 == 0) {
        uint64_t a = xs(rnd), b = xs(rnd);
        memcpy(s->trace, &a, 8);
        memcpy(s->trace + 8, &b, 8);
        s->parent = 0;
    } else {
        s->parent = s->id;
    }
    s->id = xs(rnd) | 1;
    uint64_t r = xs(rnd);
    s->name = svc_ops[sv][xs(rnd) % 4];
    s->kind = k % 8 == 0 ? 2 : 3;
    s->error = r % 97 == 0;
    s->start_ns = start_ns;
    s->end_ns = start_ns + 20000 + r % (r % 16 == 0 ? 50000000 : 5000000);
    snprintf(s->url, sizeof s->url, "https://shop.example.com/api/v1/items/%u",
             (unsigned)(xs(rnd) % 20000));
    snprintf(s->pod, sizeof s->pod, "%s-7d9f8b6c5-%05u", svc_names[sv], sv * 7919 % 100000);
    snprintf(s->peer, sizeof s->peer, "10.1.%u.%u", (unsigned)(xs(rnd) % 8),
             (unsigned)(xs(rnd) % 250));
    snprintf(s->uid, sizeof s->uid, "u%06u", (unsigned)(xs(rnd) % 50000));
    const char *sk[9] = { "service.version", "deployment.environment",
                          "cloud.region",    "k8s.pod.name",
                          "http.method",     "http.url",
                          "net.peer.ip",     "rpc.system",
                          "enduser.id" };
    const char *sval[9] = { "3.12.0", "production", regions[sv % 3], s->pod, k % 3 ? "GET" : "POST",
                            s->url,   s->peer,      "grpc",          s->uid };
    memcpy(s->skey, sk, sizeof sk);
    memcpy(s->sval, sval, sizeof sval);
    s->ikey[0] = "http.status_code";
    s->ival[0] = s->error ? 503 : 200;
    s->ikey[1] = "net.peer.port";
    s->ival[1] = 8080;
    s->ikey[2] = "thread.id";
    s->ival[2] = (int64_t)(xs(rnd) % 32);
}

static void hex(char *out, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static void put_s(struct wbuf *b, const char *s)
{
    wbuf_put(b, s, strlen(s));
}

static void json_kv_s(struct wbuf *b, const char *k, const char *v, int comma)
{
    char t[256];
    snprintf(t, sizeof t, "%s{\"key\":\"%s\",\"value\":{\"stringValue\":\"%s\"}}", comma ? "," : "",
             k, v);
    put_s(b, t);
}

static void json_span(struct wbuf *b, const struct span *s, int comma)
{
    char t[512], tid[33], sid[17], pid[17];
    uint8_t x[8];
    hex(tid, s->trace, 16);
    memcpy(x, &s->id, 8);
    hex(sid, x, 8);
    memcpy(x, &s->parent, 8);
    hex(pid, x, 8);
    snprintf(t, sizeof t,
             "%s{\"traceId\":\"%s\",\"spanId\":\"%s\",\"parentSpanId\":\"%s\",\"name\":\"%s\","
             "\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
             "\"attributes\":[",
             comma ? "," : "", tid, sid, s->parent ? pid : "", s->name, s->kind,
             (unsigned long long)s->start_ns, (unsigned long long)s->end_ns);
    put_s(b, t);
    for (int i = 0; i < 9; i++)
        json_kv_s(b, s->skey[i], s->sval[i], i > 0);
    for (int i = 0; i < 3; i++) {
        snprintf(t, sizeof t, ",{\"key\":\"%s\",\"value\":{\"intValue\":\"%lld\"}}", s->ikey[i],
                 (long long)s->ival[i]);
        put_s(b, t);
    }
    snprintf(t, sizeof t, "],\"status\":{\"code\":%d}}", s->error ? 2 : 0);
    put_s(b, t);
}

/* Protobuf: a length-delimited field (tag, length, bytes). */
static void pb_bytes(struct wbuf *b, unsigned field, const void *p, size_t n)
{
    wbuf_put_uvarint(b, (uint64_t)field << 3 | 2);
    wbuf_put_str(b, p, n);
}

static void pb_varint(struct wbuf *b, unsigned field, uint64_t v)
{
    wbuf_put_uvarint(b, (uint64_t)field << 3);
    wbuf_put_uvarint(b, v);
}

static void pb_fixed64(struct wbuf *b, unsigned field, uint64_t v)
{
    wbuf_put_uvarint(b, (uint64_t)field << 3 | 1);
    wbuf_put_u64(b, v);
}

/* KeyValue{1: key, 2: AnyValue{1: string_value | 3: int_value}} into b. */
static void pb_kv(struct wbuf *b, struct wbuf *t, const char *k, const char *sv, int64_t iv)
{
    struct wbuf any;
    wbuf_init(&any, 0);
    if (sv != NULL)
        pb_bytes(&any, 1, sv, strlen(sv));
    else
        pb_varint(&any, 3, (uint64_t)iv);
    wbuf_reset(t);
    pb_bytes(t, 1, k, strlen(k));
    pb_bytes(t, 2, any.data, any.len);
    pb_bytes(b, 9, t->data, t->len); /* Span.attributes */
    wbuf_release(&any);
}

static void pb_span(struct wbuf *out, const struct span *s)
{
    struct wbuf b, t;
    uint8_t x[8];
    wbuf_init(&b, 0);
    wbuf_init(&t, 0);
    pb_bytes(&b, 1, s->trace, 16);
    memcpy(x, &s->id, 8);
    pb_bytes(&b, 2, x, 8);
    if (s->parent) {
        memcpy(x, &s->parent, 8);
        pb_bytes(&b, 4, x, 8);
    }
    pb_bytes(&b, 5, s->name, strlen(s->name));
    pb_varint(&b, 6, (uint64_t)s->kind);
    pb_fixed64(&b, 7, s->start_ns);
    pb_fixed64(&b, 8, s->end_ns);
    for (int i = 0; i < 9; i++)
        pb_kv(&b, &t, s->skey[i], s->sval[i], 0);
    for (int i = 0; i < 3; i++)
        pb_kv(&b, &t, s->ikey[i], NULL, s->ival[i]);
    wbuf_reset(&t);
    pb_varint(&t, 3, s->error ? 2 : 0); /* Status.code */
    pb_bytes(&b, 15, t.data, t.len);
    pb_bytes(out, 2, b.data, b.len); /* ScopeSpans.spans */
    wbuf_release(&b);
    wbuf_release(&t);
}

/* build_body makes one request of n spans of service sv into out (head and
 * body). */
static int build_body(struct body *out, const struct params *p, uint64_t *rnd, unsigned sv,
                      uint32_t n, uint64_t t0_ns)
{
    struct wbuf body, head;
    struct span s;
    char host[32];
    memset(&s, 0, sizeof s);
    wbuf_init(&body, 0);
    wbuf_init(&head, 0);
    snprintf(host, sizeof host, "load-node-%03u", sv);
    if (!p->proto) {
        put_s(&body, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
        json_kv_s(&body, "service.name", svc_names[sv], 0);
        json_kv_s(&body, "host.name", host, 1);
        put_s(&body, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"otlpload\",\"version\":\"1\"},"
                     "\"spans\":[");
        for (uint32_t k = 0; k < n; k++) {
            make_span(&s, rnd, sv, k, t0_ns + (uint64_t)k * 250000);
            json_span(&body, &s, k > 0);
        }
        put_s(&body, "]}]}]}");
    } else {
        struct wbuf res, attrs, scope, ss, t;
        wbuf_init(&res, 0);
        wbuf_init(&attrs, 0);
        wbuf_init(&scope, 0);
        wbuf_init(&ss, 0);
        wbuf_init(&t, 0);
        /* Resource{1: attributes} */
        const char *rk[2] = { "service.name", "host.name" }, *rv[2] = { svc_names[sv], host };
        for (int i = 0; i < 2; i++) {
            struct wbuf any;
            wbuf_init(&any, 0);
            pb_bytes(&any, 1, rv[i], strlen(rv[i]));
            wbuf_reset(&t);
            pb_bytes(&t, 1, rk[i], strlen(rk[i]));
            pb_bytes(&t, 2, any.data, any.len);
            pb_bytes(&attrs, 1, t.data, t.len);
            wbuf_release(&any);
        }
        /* ScopeSpans{1: scope{1: name}, 2: spans} */
        pb_bytes(&scope, 1, "otlpload", 8);
        pb_bytes(&ss, 1, scope.data, scope.len);
        for (uint32_t k = 0; k < n; k++) {
            make_span(&s, rnd, sv, k, t0_ns + (uint64_t)k * 250000);
            pb_span(&ss, &s);
        }
        /* ResourceSpans{1: resource, 2: scope_spans}; request{1: resource_spans} */
        pb_bytes(&res, 1, attrs.data, attrs.len);
        pb_bytes(&res, 2, ss.data, ss.len);
        pb_bytes(&body, 1, res.data, res.len);
        wbuf_release(&res);
        wbuf_release(&attrs);
        wbuf_release(&scope);
        wbuf_release(&ss);
        wbuf_release(&t);
    }
    char h[256];
    snprintf(h, sizeof h,
             "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: %s\r\n"
             "Content-Length: %zu\r\n\r\n",
             (unsigned)p->port, p->proto ? "application/x-protobuf" : "application/json", body.len);
    put_s(&head, h);
    wbuf_put(&head, body.data, body.len);
    int rc = head.err ? -1 : 0;
    if (rc == 0) {
        out->p = head.data;
        out->len = head.len;
        out->spans = n;
        head.data = NULL; /* ownership moves to out */
    }
    wbuf_release(&body);
    if (rc != 0)
        wbuf_release(&head);
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

/* read_response reads one HTTP response (head and Content-Length body):
 * its status, or -1. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        if (have + 1 >= cap)
            return -1;
        ssize_t got = recv(fd, buf + have, cap - 1 - have, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        have += (size_t)got;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    size_t clen = 0;
    for (char *l = buf; l < end; l = strstr(l, "\r\n") + 2) {
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            clen = strtoul(l + 15, NULL, 10);
    }
    size_t body_have = have - (size_t)(end + 4 - buf);
    while (body_have < clen) {
        char junk[4096];
        size_t want = clen - body_have < sizeof junk ? clen - body_have : sizeof junk;
        ssize_t got = recv(fd, junk, want, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        body_have += (size_t)got;
    }
    return status;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    char resp[8192];
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(c->p->port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(c->msg, sizeof c->msg, "connect: %s", strerror(errno));
        c->failed = 1;
        pthread_barrier_wait(&start_bar);
        goto out;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_barrier_wait(&start_bar);
    for (size_t i = 0; i < c->nb; i++) {
        if (send_all(fd, c->b[i].p, c->b[i].len) != 0) {
            snprintf(c->msg, sizeof c->msg, "send: %s", strerror(errno));
            c->failed = 1;
            goto out;
        }
        c->bytes += c->b[i].len;
        int st = read_response(fd, resp, sizeof resp);
        if (st != 200) {
            snprintf(c->msg, sizeof c->msg, "request %zu: %s %.120s", i,
                     st < 0 ? "no answer" : "status", st < 0 ? "" : resp);
            c->failed = 1;
            goto out;
        }
        c->spans += c->b[i].spans;
        c->requests++;
    }
out:
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: otlpload --port PORT [--spans N] [--batch N] [--conns N] [--proto] "
                    "[--json]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct params p = { .spans = 200000, .batch = 500, .conns = 8 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--proto") == 0) {
            p.proto = 1;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            p.proto = 0;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        char *end;
        errno = 0;
        unsigned long long v = strtoull(argv[++i], &end, 10);
        if (errno != 0 || *end != '\0' || v == 0)
            return usage();
        if (strcmp(a, "--port") == 0 && v < 65536)
            p.port = (uint16_t)v;
        else if (strcmp(a, "--spans") == 0)
            p.spans = v;
        else if (strcmp(a, "--batch") == 0 && v <= 100000)
            p.batch = (unsigned)v;
        else if (strcmp(a, "--conns") == 0 && v <= 256)
            p.conns = (unsigned)v;
        else
            return usage();
    }
    if (p.port == 0)
        return usage();

    size_t nbodies = (size_t)((p.spans + p.batch - 1) / p.batch);
    struct conn *c = calloc(p.conns, sizeof *c);
    pthread_t *th = calloc(p.conns, sizeof *th);
    struct body *all = calloc(nbodies, sizeof *all);
    if (c == NULL || th == NULL || all == NULL) {
        fprintf(stderr, "otlpload: out of memory\n");
        return 1;
    }
    uint64_t rnd = 0x6a09e667f3bcc909ull, left = p.spans;
    uint64_t t0_ns = ((uint64_t)time(NULL) - 2 * 3600) * 1000000000ull;
    for (size_t i = 0; i < nbodies; i++) {
        uint32_t n = left < p.batch ? (uint32_t)left : p.batch;
        if (build_body(&all[i], &p, &rnd, (unsigned)(i % 6), n, t0_ns + i * 1000000ull) != 0) {
            fprintf(stderr, "otlpload: cannot build the requests (out of memory?)\n");
            return 1;
        }
        left -= n;
    }
    /* Connection k sends bodies k, k + conns, ...: give each its own slice. */
    struct body *sorted = calloc(nbodies, sizeof *sorted);
    if (sorted == NULL) {
        fprintf(stderr, "otlpload: out of memory\n");
        return 1;
    }
    size_t at = 0;
    for (unsigned k = 0; k < p.conns; k++) {
        c[k].p = &p;
        c[k].b = sorted + at;
        for (size_t i = k; i < nbodies; i += p.conns)
            sorted[at++] = all[i];
        c[k].nb = (size_t)(sorted + at - c[k].b);
    }
    pthread_barrier_init(&start_bar, NULL, p.conns + 1);
    for (unsigned k = 0; k < p.conns; k++) {
        if (pthread_create(&th[k], NULL, conn_main, &c[k]) != 0) {
            fprintf(stderr, "otlpload: cannot start thread %u\n", k);
            return 1;
        }
    }
    struct timespec a, b, rt0;
    pthread_barrier_wait(&start_bar);
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_REALTIME, &rt0);
    for (unsigned k = 0; k < p.conns; k++)
        pthread_join(th[k], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t spans = 0, reqs = 0, bytes = 0, errors = 0;
    for (unsigned k = 0; k < p.conns; k++) {
        spans += c[k].spans;
        reqs += c[k].requests;
        bytes += c[k].bytes;
        if (c[k].failed) {
            if (errors == 0)
                fprintf(stderr, "otlpload: connection %u: %s\n", k, c[k].msg);
            errors++;
        }
    }
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("{\"spans_per_s\":%.0f,\"spans\":%llu,\"requests\":%llu,\"seconds\":%.3f,"
           "\"bytes\":%llu,\"errors\":%llu,\"start_unix_ns\":%lld}\n",
           secs > 0 ? (double)spans / secs : 0.0, (unsigned long long)spans,
           (unsigned long long)reqs, secs, (unsigned long long)bytes, (unsigned long long)errors,
           (long long)rt0.tv_sec * 1000000000ll + rt0.tv_nsec);
    for (size_t i = 0; i < nbodies; i++)
        free(all[i].p);
    free(all);
    free(sorted);
    free(c);
    free(th);
    pthread_barrier_destroy(&start_bar);
    return errors ? 1 : 0;
}
