/*
 * test_scrape.c - the Prometheus scraper (agent/scrape.c) against a small
 * HTTP server running in a thread of the test (127.0.0.1, a port the kernel
 * picks) that serves canned bodies: plain text, gzip-encoded, slow, 500,
 * oversize. A recording emitter keeps what the scraper emits.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "unit.h"
#include "agent/scrape.h"
#include "telltale.h"

/* ---- the HTTP server ------------------------------------------------------ */

struct srv {
    int fd;
    int port;
    pthread_t thr;
    atomic_int stop;
    pthread_mutex_t mu;
    /* What /m serves (under mu). */
    char body[8192];
    int status;
    /* The last request's head (under mu). */
    char req[4096];
    int nreq;
};

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* gzip_stored wraps p[0..n) (n < 65536) in a gzip member with one stored
 * deflate block; returns the length written to out. */
static size_t gzip_stored(const char *p, size_t n, uint8_t *out)
{
    static const uint8_t hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
    size_t o = 0;
    memcpy(out, hdr, sizeof hdr);
    o += sizeof hdr;
    out[o++] = 1; /* BFINAL, stored */
    out[o++] = (uint8_t)(n & 0xff);
    out[o++] = (uint8_t)(n >> 8);
    out[o++] = (uint8_t)(~n & 0xff);
    out[o++] = (uint8_t)((~n >> 8) & 0xff);
    memcpy(out + o, p, n);
    o += n;
    uint32_t crc = crc32_ieee((const uint8_t *)p, n);
    for (int i = 0; i < 4; i++)
        out[o++] = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++)
        out[o++] = (uint8_t)(n >> (8 * i));
    return o;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int status, const char *extra, const void *body, size_t n)
{
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d X\r\nContent-Type: text/plain; version=0.0.4\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                      status, n, extra);
    send_all(fd, head, (size_t)hn);
    send_all(fd, body, n);
}

static void serve(struct srv *s, int fd)
{
    char req[4096];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[n] = 0;
    char path[256] = "";
    const char *sp = strchr(req, ' ');
    if (sp) {
        size_t i = 0;
        for (sp++; *sp && *sp != ' ' && i < sizeof path - 1; sp++)
            path[i++] = *sp;
        path[i] = 0;
    }
    pthread_mutex_lock(&s->mu);
    memcpy(s->req, req, n + 1);
    s->nreq++;
    char body[8192];
    memcpy(body, s->body, sizeof body);
    int status = s->status;
    pthread_mutex_unlock(&s->mu);

    if (strcmp(path, "/m") == 0) {
        respond(fd, status, "", body, strlen(body));
    } else if (strcmp(path, "/gz") == 0) {
        static uint8_t gz[8192 + 64];
        size_t gn = gzip_stored(body, strlen(body), gz);
        respond(fd, 200, "Content-Encoding: gzip\r\n", gz, gn);
    } else if (strcmp(path, "/slow") == 0) {
        for (int i = 0; i < 30 && !atomic_load(&s->stop); i++)
            usleep(50 * 1000);
        respond(fd, 200, "", body, strlen(body));
    } else if (strcmp(path, "/nolen") == 0) {
        /* No Content-Length: the body ends when the connection closes, so
         * only the bytes received can tell that it is too big. */
        const char *head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
        send_all(fd, head, strlen(head));
        char line[64];
        for (int i = 0; i < 2000; i++) {
            int ln = snprintf(line, sizeof line, "nolen_metric{i=\"%d\"} %d\n", i, i);
            send_all(fd, line, (size_t)ln);
        }
    } else if (strcmp(path, "/big") == 0) {
        /* 40 KB of valid lines, served in one piece. */
        size_t cap = 40 * 1024, len = 0;
        char *big = malloc(cap + 64);
        for (int i = 0; len < cap; i++)
            len += (size_t)snprintf(big + len, 64, "big_metric{i=\"%d\"} %d\n", i, i);
        respond(fd, 200, "", big, len);
        free(big);
    } else {
        respond(fd, 404, "", "not found\n", 10);
    }
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    while (!atomic_load(&s->stop)) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        if (!atomic_load(&s->stop))
            serve(s, c);
        close(c);
    }
    return NULL;
}

static struct srv *srv_start(void)
{
    struct srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    s->status = 200;
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pthread_create(&s->thr, NULL, srv_main, s), 0);
    return s;
}

static void srv_stop(struct srv *s)
{
    atomic_store(&s->stop, 1);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)s->port);
    (void)connect(c, (struct sockaddr *)&a, sizeof a);
    close(c);
    pthread_join(s->thr, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void srv_set(struct srv *s, int status, const char *body)
{
    pthread_mutex_lock(&s->mu);
    s->status = status;
    snprintf(s->body, sizeof s->body, "%s", body);
    pthread_mutex_unlock(&s->mu);
}

/* ---- the recording emitter ---------------------------------------------------- */

struct rsample {
    char name[128];
    char labels[512]; /* "a=b,c=d" in emitted order */
    int64_t t;
    double v;
};

struct rec {
    struct rsample s[2048];
    size_t n;
    char meta[64][160]; /* "family type help" */
    size_t nmeta;
    char warn[16][800];
    size_t nwarn;
    size_t fail_at; /* sample() fails with TT_EIO at this sample (1-based; 0: never) */
};

static int rec_sample(void *ctx, const char *name, const struct agent_label *l, size_t nl,
                      int64_t t, double v)
{
    struct rec *r = ctx;
    if (r->fail_at && r->n + 1 == r->fail_at)
        return TT_EIO;
    assert_true(r->n < 2048);
    struct rsample *s = &r->s[r->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    size_t o = 0;
    s->labels[0] = 0;
    for (size_t i = 0; i < nl; i++)
        o += (size_t)snprintf(s->labels + o, sizeof s->labels - o, "%s%s=%s", i ? "," : "",
                              l[i].name, l[i].value);
    s->t = t;
    s->v = v;
    return 0;
}

static int rec_meta(void *ctx, const char *family, enum agent_metric_type type, const char *help)
{
    struct rec *r = ctx;
    if (r->nmeta < 64)
        snprintf(r->meta[r->nmeta++], sizeof r->meta[0], "%s %d %s", family, (int)type,
                 help ? help : "-");
    return 0;
}

static void rec_warn(void *ctx, const char *msg)
{
    struct rec *r = ctx;
    if (r->nwarn < 16)
        snprintf(r->warn[r->nwarn++], sizeof r->warn[0], "%s", msg);
}

static void rec_reset(struct rec *r)
{
    size_t fail_at = r->fail_at;
    memset(r, 0, sizeof *r);
    r->fail_at = fail_at;
}

/* find returns the sample of name with labels "a=b,..." or fails the test. */
static const struct rsample *find(const struct rec *r, const char *name, const char *labels)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->s[i].name, name) == 0 && strcmp(r->s[i].labels, labels) == 0)
            return &r->s[i];
    print_error("no sample %s{%s} among %zu:\n", name, labels, r->n);
    for (size_t i = 0; i < r->n; i++)
        print_error("  %s{%s} %g\n", r->s[i].name, r->s[i].labels, r->s[i].v);
    fail();
    return NULL;
}

static size_t count_stale(const struct rec *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += scrape_is_stale_nan(r->s[i].v) != 0;
    return n;
}

static int has_warn(const struct rec *r, const char *sub)
{
    for (size_t i = 0; i < r->nwarn; i++)
        if (strstr(r->warn[i], sub))
            return 1;
    return 0;
}

/* synth_value returns the value of a synthetic series (target labels tl). */
static double synth_value(const struct rec *r, const char *name, const char *tl)
{
    return find(r, name, tl)->v;
}

struct fixture {
    struct srv *srv;
    struct scrape_target *t;
    struct rec *r;
    struct agent_emit emit;
    char url[128];
    char tl[256]; /* the target labels as rec prints them */
};

static void fx_open(struct fixture *f, const char *path, int64_t timeout_ms, size_t limit,
                    const struct agent_label *extra, size_t nextra)
{
    memset(f, 0, sizeof *f);
    f->srv = srv_start();
    f->r = calloc(1, sizeof *f->r);
    assert_non_null(f->r);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d%s", f->srv->port, path);
    snprintf(f->tl, sizeof f->tl, "instance=127.0.0.1:%d,job=test", f->srv->port);
    struct scrape_config cfg = { 0 };
    cfg.url = f->url;
    cfg.job = "test";
    cfg.timeout_ms = timeout_ms;
    cfg.body_limit_bytes = limit;
    cfg.labels = extra;
    cfg.nlabels = nextra;
    char err[256] = "";
    int rc = scrape_target_new(&f->t, &cfg, err, sizeof err);
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    f->emit = (struct agent_emit){ f->r, rec_sample, rec_meta, rec_warn };
}

static void fx_close(struct fixture *f)
{
    scrape_target_free(f->t);
    srv_stop(f->srv);
    free(f->r);
}

static int fx_run(struct fixture *f, int64_t now_ms)
{
    rec_reset(f->r);
    return scrape_target_run(f->t, &f->emit, now_ms);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_basic_labels_and_synthetic(void **state)
{
    (void)state;
    struct fixture f;
    struct agent_label extra[] = { { "env", "prod" } };
    fx_open(&f, "/m", 2000, 0, extra, 1);
    snprintf(f.tl, sizeof f.tl, "env=prod,instance=127.0.0.1:%d,job=test", f.srv->port);
    srv_set(f.srv, 200,
            "# HELP requests_total Requests.\n"
            "# TYPE requests_total counter\n"
            "requests_total{code=\"200\",method=\"get\"} 1027\n"
            "requests_total{code=\"500\",method=\"get\"} 3\n"
            "# TYPE temperature gauge\n"
            "temperature -4.5\n"
            "untyped_thing{empty=\"\",z=\"1\"} 7\n"
            "clash{job=\"exported-job\",instance=\"i\",env=\"dev\",exported_env=\"x\"} 1\n");
    assert_int_equal(fx_run(&f, 1000000), 0);
    assert_int_equal(scrape_target_health(f.t, NULL), 1);
    const struct rec *r = f.r;
    char l[512];
    snprintf(l, sizeof l, "code=200,%s,method=get", f.tl);
    const struct rsample *s = find(r, "requests_total", l);
    assert_true(s->v == 1027 && s->t == 1000000);
    assert_true(find(r, "temperature", f.tl)->v == -4.5);
    /* An empty exported label is no label. */
    snprintf(l, sizeof l, "%s,z=1", f.tl);
    assert_true(find(r, "untyped_thing", l)->v == 7);
    /* Target labels win; displaced values move to exported_<name>, and to
     * exported_exported_env when exported_env is taken. */
    snprintf(l, sizeof l,
             "env=prod,exported_env=x,exported_exported_env=dev,exported_instance=i,"
             "exported_job=exported-job,instance=127.0.0.1:%d,job=test",
             f.srv->port);
    assert_true(find(r, "clash", l)->v == 1);
    assert_int_equal(r->n, 5 + 5);
    assert_true(synth_value(r, "up", f.tl) == 1);
    assert_true(synth_value(r, "scrape_samples_scraped", f.tl) == 5);
    assert_true(synth_value(r, "scrape_samples_post_metric_relabeling", f.tl) == 5);
    assert_true(synth_value(r, "scrape_series_added", f.tl) == 5);
    double d = synth_value(r, "scrape_duration_seconds", f.tl);
    assert_true(d > 0 && d < 2);
    assert_int_equal(count_stale(r), 0);
    assert_int_equal(r->nwarn, 0);
    /* Metadata: each family once, before its samples; synthetic ones too. */
    assert_string_equal(r->meta[0], "requests_total 1 Requests.");
    assert_string_equal(r->meta[1], "temperature 2 -");
    assert_int_equal(r->nmeta, 2 + 5);
    /* The request Prometheus would send. */
    pthread_mutex_lock(&f.srv->mu);
    assert_non_null(strstr(f.srv->req, "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n"));
    assert_non_null(strstr(f.srv->req, "Accept-Encoding: gzip\r\n"));
    assert_non_null(strstr(f.srv->req, "X-Prometheus-Scrape-Timeout-Seconds: 2\r\n"));
    assert_non_null(strstr(f.srv->req, "GET /m HTTP/1.1\r\n"));
    pthread_mutex_unlock(&f.srv->mu);
    /* Same body again: nothing added, nothing stale. */
    assert_int_equal(fx_run(&f, 1015000), 0);
    assert_true(synth_value(f.r, "scrape_series_added", f.tl) == 0);
    assert_int_equal(count_stale(f.r), 0);
    assert_true(find(f.r, "temperature", f.tl)->t == 1015000);
    fx_close(&f);
}

static void test_histogram_summary(void **state)
{
    (void)state;
    struct fixture f;
    fx_open(&f, "/m", 2000, 0, NULL, 0);
    srv_set(f.srv, 200,
            "# HELP rpc_duration_seconds RPC latency.\n"
            "# TYPE rpc_duration_seconds histogram\n"
            "rpc_duration_seconds_bucket{le=\"0.05\"} 24054\n"
            "rpc_duration_seconds_bucket{le=\"0.1\"} 33444\n"
            "rpc_duration_seconds_bucket{le=\"+Inf\"} 144320\n"
            "rpc_duration_seconds_sum 53423\n"
            "rpc_duration_seconds_count 144320\n"
            "# TYPE gc_seconds summary\n"
            "gc_seconds{quantile=\"0.5\"} 4.2e-05\n"
            "gc_seconds{quantile=\"0.99\"} NaN\n"
            "gc_seconds_sum 1.5\n"
            "gc_seconds_count 22\n");
    assert_int_equal(fx_run(&f, 5000), 0);
    const struct rec *r = f.r;
    char l[512];
    snprintf(l, sizeof l, "%s,le=0.05", f.tl);
    assert_true(find(r, "rpc_duration_seconds_bucket", l)->v == 24054);
    snprintf(l, sizeof l, "%s,le=+Inf", f.tl);
    assert_true(find(r, "rpc_duration_seconds_bucket", l)->v == 144320);
    assert_true(find(r, "rpc_duration_seconds_sum", f.tl)->v == 53423);
    assert_true(find(r, "rpc_duration_seconds_count", f.tl)->v == 144320);
    snprintf(l, sizeof l, "%s,quantile=0.5", f.tl);
    assert_true(find(r, "gc_seconds", l)->v == 4.2e-05);
    snprintf(l, sizeof l, "%s,quantile=0.99", f.tl);
    const struct rsample *q = find(r, "gc_seconds", l);
    assert_true(isnan(q->v) && !scrape_is_stale_nan(q->v));
    assert_true(find(r, "gc_seconds_sum", f.tl)->v == 1.5);
    assert_true(find(r, "gc_seconds_count", f.tl)->v == 22);
    assert_true(synth_value(r, "scrape_samples_scraped", f.tl) == 9);
    /* One metadata call per family, typed. */
    assert_string_equal(r->meta[0], "rpc_duration_seconds 3 RPC latency.");
    assert_string_equal(r->meta[1], "gc_seconds 4 -");
    assert_int_equal(r->nmeta, 2 + 5);
    fx_close(&f);
}

static void test_timestamps_and_staleness(void **state)
{
    (void)state;
    struct fixture f;
    fx_open(&f, "/m", 2000, 0, NULL, 0);
    srv_set(f.srv, 200, "a 1\nb 2\nwith_ts 3 1234567\n");
    assert_int_equal(fx_run(&f, 10000), 0);
    assert_true(find(f.r, "a", f.tl)->t == 10000);
    assert_true(find(f.r, "with_ts", f.tl)->t == 1234567);
    assert_true(synth_value(f.r, "scrape_series_added", f.tl) == 3);

    /* b and with_ts gone, c new: only b goes stale (a series with its own
     * timestamp is not tracked, as in Prometheus). */
    srv_set(f.srv, 200, "a 1.5\nc 4\n");
    assert_int_equal(fx_run(&f, 20000), 0);
    const struct rsample *b = find(f.r, "b", f.tl);
    assert_true(scrape_is_stale_nan(b->v) && b->t == 20000);
    assert_int_equal(count_stale(f.r), 1);
    assert_true(synth_value(f.r, "scrape_series_added", f.tl) == 1);

    /* Target down (HTTP 500): a and c go stale, up 0, the reason warned. */
    srv_set(f.srv, 500, "oops\n");
    assert_int_equal(fx_run(&f, 30000), 0);
    assert_int_equal(scrape_target_health(f.t, NULL), 0);
    assert_true(scrape_is_stale_nan(find(f.r, "a", f.tl)->v));
    assert_true(scrape_is_stale_nan(find(f.r, "c", f.tl)->v));
    assert_true(find(f.r, "c", f.tl)->t == 30000);
    assert_int_equal(count_stale(f.r), 2);
    assert_true(synth_value(f.r, "up", f.tl) == 0);
    assert_true(synth_value(f.r, "scrape_samples_scraped", f.tl) == 0);
    assert_int_equal(f.r->n, 2 + 5);
    assert_true(has_warn(f.r, "server returned HTTP status 500"));
    const char *why = NULL;
    scrape_target_health(f.t, &why);
    assert_non_null(strstr(why, "HTTP status 500"));

    /* Still down: nothing left to mark stale. */
    assert_int_equal(fx_run(&f, 40000), 0);
    assert_int_equal(f.r->n, 5);
    assert_int_equal(count_stale(f.r), 0);

    /* Back up: everything is new again. */
    srv_set(f.srv, 200, "a 1\nc 4\n");
    assert_int_equal(fx_run(&f, 50000), 0);
    assert_true(synth_value(f.r, "up", f.tl) == 1);
    assert_true(synth_value(f.r, "scrape_series_added", f.tl) == 2);
    assert_int_equal(count_stale(f.r), 0);

    /* The target goes away: its series and the synthetic ones go stale. */
    rec_reset(f.r);
    assert_int_equal(scrape_target_stop(f.t, &f.emit, 60000), 0);
    assert_int_equal(f.r->n, 2 + 5);
    assert_int_equal(count_stale(f.r), 7);
    assert_true(scrape_is_stale_nan(find(f.r, "up", f.tl)->v));
    assert_int_equal(scrape_target_health(f.t, NULL), -1);
    fx_close(&f);
}

static void test_ignore_timestamps(void **state)
{
    (void)state;
    struct srv *s = srv_start();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/m", s->port);
    srv_set(s, 200, "x 1 999\n");
    struct scrape_config cfg = { 0 };
    cfg.url = url;
    cfg.job = "j";
    cfg.ignore_timestamps = 1;
    struct scrape_target *t = NULL;
    assert_int_equal(scrape_target_new(&t, &cfg, NULL, 0), 0);
    struct rec *r = calloc(1, sizeof *r);
    struct agent_emit e = { r, rec_sample, NULL, NULL };
    assert_int_equal(scrape_target_run(t, &e, 7000), 0);
    assert_string_equal(r->s[0].name, "x");
    assert_true(r->s[0].t == 7000);
    /* Tracked now: gone next time means stale. */
    srv_set(s, 200, "");
    rec_reset(r);
    assert_int_equal(scrape_target_run(t, &e, 8000), 0);
    assert_true(r->n == 6 && scrape_is_stale_nan(r->s[0].v));
    free(r);
    scrape_target_free(t);
    srv_stop(s);
}

static void test_malformed_fails_whole_scrape(void **state)
{
    (void)state;
    struct fixture f;
    fx_open(&f, "/m", 2000, 0, NULL, 0);
    srv_set(f.srv, 200, "a 1\nb 2\n");
    assert_int_equal(fx_run(&f, 1000), 0);
    srv_set(f.srv, 200, "a 1\nb 2\nc{x=\"1\" 3\nd 4\n");
    assert_int_equal(fx_run(&f, 2000), 0);
    assert_int_equal(scrape_target_health(f.t, NULL), 0);
    /* Nothing of the body: only stale markers for a and b, and the
     * synthetic series. */
    assert_int_equal(f.r->n, 2 + 5);
    assert_int_equal(count_stale(f.r), 2);
    assert_true(synth_value(f.r, "up", f.tl) == 0);
    assert_true(synth_value(f.r, "scrape_samples_scraped", f.tl) == 2);
    assert_int_equal(f.r->nwarn, 1);
    if (!strstr(f.r->warn[0], "line 3, column"))
        fail_msg("warn: %s", f.r->warn[0]);
    assert_non_null(strstr(f.r->warn[0], f.url));
    assert_int_equal(f.r->nmeta, 5);
    fx_close(&f);
}

static void test_timeout(void **state)
{
    (void)state;
    struct fixture f;
    fx_open(&f, "/slow", 200, 0, NULL, 0);
    srv_set(f.srv, 200, "a 1\n");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(fx_run(&f, 1000), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(wall < 1.0);
    assert_true(synth_value(f.r, "up", f.tl) == 0);
    double d = synth_value(f.r, "scrape_duration_seconds", f.tl);
    assert_true(d >= 0.19 && d < 1.0);
    assert_int_equal(f.r->n, 5);
    if (!has_warn(f.r, "timeout after 200 ms"))
        fail_msg("warn: %s", f.r->nwarn ? f.r->warn[0] : "(none)");
    fx_close(&f);
}

static void test_body_limit(void **state)
{
    (void)state;
    struct fixture f;
    fx_open(&f, "/big", 2000, 10000, NULL, 0);
    assert_int_equal(fx_run(&f, 1000), 0);
    assert_true(synth_value(f.r, "up", f.tl) == 0);
    assert_int_equal(f.r->n, 5);
    assert_true(has_warn(f.r, "body size limit of 10000 bytes exceeded"));
    fx_close(&f);
    /* Without a Content-Length the limit is found while reading. */
    fx_open(&f, "/nolen", 2000, 10000, NULL, 0);
    assert_int_equal(fx_run(&f, 1000), 0);
    assert_true(synth_value(f.r, "up", f.tl) == 0);
    assert_int_equal(f.r->n, 5);
    assert_true(has_warn(f.r, "body size limit of 10000 bytes exceeded"));
    fx_close(&f);
    fx_open(&f, "/nolen", 2000, 1 << 20, NULL, 0);
    assert_int_equal(fx_run(&f, 1000), 0);
    assert_true(synth_value(f.r, "up", f.tl) == 1);
    assert_true(synth_value(f.r, "scrape_samples_scraped", f.tl) == 2000);
    fx_close(&f);
    /* The same body under a larger limit is fine. */
    fx_open(&f, "/big", 2000, 1 << 20, NULL, 0);
    assert_int_equal(fx_run(&f, 1000), 0);
    assert_true(synth_value(f.r, "up", f.tl) == 1);
    assert_true(synth_value(f.r, "scrape_samples_scraped", f.tl) > 1000);
    fx_close(&f);
}

static void test_gzip(void **state)
{
    (void)state;
    struct fixture f;
    fx_open(&f, "/gz", 2000, 0, NULL, 0);
    srv_set(f.srv, 200, "# TYPE z counter\nz_total{k=\"v\"} 42\n");
    assert_int_equal(fx_run(&f, 1000), 0);
    assert_true(synth_value(f.r, "up", f.tl) == 1);
    char l[512];
    snprintf(l, sizeof l, "%s,k=v", f.tl);
    assert_true(find(f.r, "z_total", l)->v == 42);
    fx_close(&f);
}

static void test_connection_refused_and_instance(void **state)
{
    (void)state;
    /* A port nobody listens on: bind one, close it, scrape it. */
    struct srv *s = srv_start();
    int port = s->port;
    srv_stop(s);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    struct scrape_config cfg = { 0 };
    cfg.url = url;
    cfg.job = "j";
    cfg.timeout_ms = 1000;
    struct scrape_target *t = NULL;
    assert_int_equal(scrape_target_new(&t, &cfg, NULL, 0), 0);
    struct rec *r = calloc(1, sizeof *r);
    struct agent_emit e = { r, rec_sample, rec_meta, rec_warn };
    assert_int_equal(scrape_target_run(t, &e, 1000), 0);
    char tl[128];
    snprintf(tl, sizeof tl, "instance=127.0.0.1:%d,job=j", port);
    assert_true(find(r, "up", tl)->v == 0);
    assert_int_equal(r->nwarn, 1);
    scrape_target_free(t);
    /* No port in the URL: the scheme's; an explicit instance wins. */
    cfg.url = "https://example.invalid/metrics";
    assert_int_equal(scrape_target_new(&t, &cfg, NULL, 0), 0);
    rec_reset(r);
    assert_int_equal(scrape_target_run(t, &e, 1000), 0);
    assert_true(find(r, "up", "instance=example.invalid:443,job=j")->v == 0);
    scrape_target_free(t);
    cfg.instance = "node-1";
    assert_int_equal(scrape_target_new(&t, &cfg, NULL, 0), 0);
    rec_reset(r);
    assert_int_equal(scrape_target_run(t, &e, 1000), 0);
    assert_true(find(r, "up", "instance=node-1,job=j")->v == 0);
    scrape_target_free(t);
    free(r);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct scrape_target *t = (struct scrape_target *)1;
    char err[256];
    struct scrape_config cfg = { 0 };
    cfg.job = "j";
    assert_int_equal(scrape_target_new(&t, &cfg, err, sizeof err), TT_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err, "no URL"));
    cfg.url = "ftp://127.0.0.1/x";
    assert_int_equal(scrape_target_new(&t, &cfg, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "http or https"));
    cfg.url = "http://";
    assert_int_equal(scrape_target_new(&t, &cfg, err, sizeof err), TT_EINVAL);
    cfg.url = "http://127.0.0.1:9100/metrics";
    cfg.job = "";
    assert_int_equal(scrape_target_new(&t, &cfg, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "job"));
    cfg.job = "j";
    cfg.timeout_ms = -1;
    assert_int_equal(scrape_target_new(&t, &cfg, err, sizeof err), TT_EINVAL);
    cfg.timeout_ms = 0;
    const struct {
        struct agent_label l[2];
        size_t n;
        const char *msg;
    } bad[] = {
        { { { "1a", "v" } }, 1, "bad label name \"1a\"" },
        { { { "a-b", "v" } }, 1, "bad label name" },
        { { { "__x", "v" } }, 1, "reserved" },
        { { { "job", "v" } }, 1, "reserved" },
        { { { "instance", "v" } }, 1, "reserved" },
        { { { "a", "v" }, { "a", "w" } }, 2, "given twice" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.labels = bad[i].l;
        cfg.nlabels = bad[i].n;
        err[0] = 0;
        assert_int_equal(scrape_target_new(&t, &cfg, err, sizeof err), TT_EINVAL);
        if (!strstr(err, bad[i].msg))
            fail_msg("case %zu: %s", i, err);
    }
    cfg.labels = NULL;
    cfg.nlabels = 0;
    assert_int_equal(scrape_target_new(&t, &cfg, err, sizeof err), 0);
    assert_int_equal(scrape_target_health(t, NULL), -1);
    assert_int_equal(scrape_target_run(t, NULL, 0), TT_EINVAL);
    scrape_target_free(t);
    scrape_target_free(NULL);
}

static void test_emitter_error_keeps_last_scrape(void **state)
{
    (void)state;
    struct fixture f;
    fx_open(&f, "/m", 2000, 0, NULL, 0);
    srv_set(f.srv, 200, "a 1\nb 2\n");
    assert_int_equal(fx_run(&f, 1000), 0);
    /* The emitter fails on the second sample of the next scrape. */
    srv_set(f.srv, 200, "c 1\nd 2\n");
    f.r->fail_at = 2;
    assert_int_equal(fx_run(&f, 2000), TT_EIO);
    assert_int_equal(f.r->n, 1);
    /* The next complete scrape is compared with the first one: a and b go
     * stale, c and d are new. */
    f.r->fail_at = 0;
    assert_int_equal(fx_run(&f, 3000), 0);
    assert_int_equal(count_stale(f.r), 2);
    assert_true(scrape_is_stale_nan(find(f.r, "a", f.tl)->v));
    assert_true(synth_value(f.r, "scrape_series_added", f.tl) == 2);
    fx_close(&f);
}

static void test_duplicate_series(void **state)
{
    (void)state;
    struct fixture f;
    fx_open(&f, "/m", 2000, 0, NULL, 0);
    /* Same series twice (label order differs): the second is dropped. */
    srv_set(f.srv, 200, "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 5\n");
    assert_int_equal(fx_run(&f, 1000), 0);
    char l[512];
    snprintf(l, sizeof l, "%s,x=1,y=2", f.tl);
    assert_true(find(f.r, "a", l)->v == 1);
    assert_int_equal(f.r->n, 1 + 5);
    assert_true(synth_value(f.r, "scrape_samples_scraped", f.tl) == 2);
    assert_true(synth_value(f.r, "scrape_samples_post_metric_relabeling", f.tl) == 1);
    assert_true(has_warn(f.r, "1 samples of series already seen"));
    fx_close(&f);
}

UNIT_TESTS(
    cmocka_unit_test(test_basic_labels_and_synthetic), cmocka_unit_test(test_histogram_summary),
    cmocka_unit_test(test_timestamps_and_staleness), cmocka_unit_test(test_ignore_timestamps),
    cmocka_unit_test(test_malformed_fails_whole_scrape), cmocka_unit_test(test_timeout),
    cmocka_unit_test(test_body_limit), cmocka_unit_test(test_gzip),
    cmocka_unit_test(test_connection_refused_and_instance), cmocka_unit_test(test_config_errors),
    cmocka_unit_test(test_emitter_error_keeps_last_scrape), cmocka_unit_test(test_duplicate_series))
