/*
 * api_deps.c - /api/dependencies and /api/tt/dependencies (api_deps.h):
 * reads the span-metric counters through the PromQL storage interface (the
 * head and the blocks, as queries see them), sums them per edge or node
 * pair and writes JSON.
 */
#include "server/api_deps.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/clock.h"
#include "query/promql/engine.h"
#include "server/api_jaeger.h"
#include "server/api_query.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/server.h"
#include "store/tsdb/labels.h"
#include "telltale.h"

/* How far before a window's start the base sample is looked for: twice the
 * longest flush interval (5 min). */
#define MARGIN_MS        (10 * 60 * 1000ll)
#define DEFAULT_LOOKBACK (24 * 3600 * 1000ll)
#define MAX_STEPS        11000

struct api_deps {
    const struct promql_storage *st;
};

/* --- counting ------------------------------------------------------------- */

double deps_increase(const int64_t *ts, const double *vs, size_t n, int64_t a, int64_t b)
{
    double inc = 0, prev = 0;
    int have = 0;
    for (size_t i = 0; i < n && ts[i] <= b; i++) {
        double v = vs[i];
        if (isnan(v))
            continue;
        if (ts[i] > a)
            inc += !have ? v : v >= prev ? v - prev : v;
        prev = v;
        have = 1;
    }
    return inc;
}

double deps_quantile(double q, const double *le, const double *cum, size_t n)
{
    if (n < 2 || isnan(q) || cum[n - 1] <= 0)
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    double rank = q * cum[n - 1];
    size_t i = 0;
    while (i < n - 1 && cum[i] < rank)
        i++;
    if (i == n - 1)
        return le[n - 2]; /* in the +Inf bucket: the highest finite bound */
    double start = 0, below = 0;
    if (i > 0) {
        start = le[i - 1];
        below = cum[i - 1];
    } else if (le[0] <= 0) {
        return le[0];
    }
    double in = cum[i] - below;
    if (in <= 0)
        return le[i];
    return start + (le[i] - start) * ((rank - below) / in);
}

/* --- groups: one edge or node pair ---------------------------------------- */

struct hbuckets {
    double *le, *cnt;
    size_t n, cap;
};

struct grp {
    char *a, *b;
    double calls, errors, bytes[2];
    struct hbuckets cli, srv;
    double *steps; /* node pairs: nsteps */
};

struct gtab {
    struct grp *v;
    size_t n, cap;
    uint32_t *slots; /* index + 1 */
    size_t nslots;
};

static size_t ghash(const char *a, const char *b)
{
    return (size_t)(labels_hash_bytes(a, strlen(a), 7) ^ labels_hash_bytes(b, strlen(b), 11));
}

/* gtab_get finds or adds (a, b): NULL on ENOMEM. */
static struct grp *gtab_get(struct gtab *t, const char *a, const char *b, size_t nsteps)
{
    if (t->nslots != 0) {
        size_t h = ghash(a, b) & (t->nslots - 1);
        while (t->slots[h] != 0) {
            struct grp *g = &t->v[t->slots[h] - 1];
            if (strcmp(g->a, a) == 0 && strcmp(g->b, b) == 0)
                return g;
            h = (h + 1) & (t->nslots - 1);
        }
    }
    if (t->n * 2 + 2 > t->nslots) {
        size_t ns = t->nslots ? t->nslots * 2 : 64;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (sl == NULL)
            return NULL;
        for (size_t i = 0; i < t->n; i++) {
            size_t h = ghash(t->v[i].a, t->v[i].b) & (ns - 1);
            while (sl[h] != 0)
                h = (h + 1) & (ns - 1);
            sl[h] = (uint32_t)i + 1;
        }
        free(t->slots);
        t->slots = sl;
        t->nslots = ns;
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        struct grp *v = realloc(t->v, nc * sizeof *v);
        if (v == NULL)
            return NULL;
        t->v = v;
        t->cap = nc;
    }
    struct grp *g = &t->v[t->n];
    memset(g, 0, sizeof *g);
    g->a = strdup(a);
    g->b = strdup(b);
    if (nsteps > 0)
        g->steps = calloc(nsteps, sizeof *g->steps);
    if (g->a == NULL || g->b == NULL || (nsteps > 0 && g->steps == NULL)) {
        free(g->a);
        free(g->b);
        free(g->steps);
        return NULL;
    }
    size_t h = ghash(a, b) & (t->nslots - 1);
    while (t->slots[h] != 0)
        h = (h + 1) & (t->nslots - 1);
    t->slots[h] = (uint32_t)++t->n;
    return g;
}

static void gtab_release(struct gtab *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].a);
        free(t->v[i].b);
        free(t->v[i].cli.le);
        free(t->v[i].cli.cnt);
        free(t->v[i].srv.le);
        free(t->v[i].srv.cnt);
        free(t->v[i].steps);
    }
    free(t->v);
    free(t->slots);
}

/* hb_add adds c to the bucket of bound le (summing series of one bound). */
static int hb_add(struct hbuckets *h, double le, double c)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->le[i] == le) {
            h->cnt[i] += c;
            return 0;
        }
    }
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 32;
        double *l = realloc(h->le, nc * sizeof *l);
        if (l == NULL)
            return TT_ENOMEM;
        h->le = l;
        double *k = realloc(h->cnt, nc * sizeof *k);
        if (k == NULL)
            return TT_ENOMEM;
        h->cnt = k;
        h->cap = nc;
    }
    h->le[h->n] = le;
    h->cnt[h->n] = c;
    h->n++;
    return 0;
}

/* hb_quantile sorts the buckets and answers histogram_quantile(q). */
static double hb_quantile(struct hbuckets *h, double q)
{
    for (size_t i = 1; i < h->n; i++) { /* insertion sort: a few dozen bounds */
        double l = h->le[i], c = h->cnt[i];
        size_t k = i;
        for (; k > 0 && h->le[k - 1] > l; k--) {
            h->le[k] = h->le[k - 1];
            h->cnt[k] = h->cnt[k - 1];
        }
        h->le[k] = l;
        h->cnt[k] = c;
    }
    if (h->n == 0 || !isinf(h->le[h->n - 1]))
        return NAN;
    /* cumulative counts must not fall (increases of separate series may) */
    for (size_t i = 1; i < h->n; i++)
        if (h->cnt[i] < h->cnt[i - 1])
            h->cnt[i] = h->cnt[i - 1];
    return deps_quantile(q, h->le, h->cnt, h->n);
}

/* --- reading the TSDB ----------------------------------------------------- */

enum field { F_CALLS, F_ERRORS, F_BYTES, F_CLI, F_SRV, F_MSGS, F_NODE_BYTES };

struct reader {
    int64_t a, b;            /* the window (a, b] */
    int64_t step, first_end; /* node pair steps end at first_end + i * step */
    size_t nsteps;
    struct gtab edges, nodes;
    enum field f;
    int err;
};

static int on_series(void *arg, const struct promql_labels *ls, const int64_t *ts, const double *vs,
                     size_t n)
{
    struct reader *r = arg;
    int node = r->f == F_MSGS || r->f == F_NODE_BYTES;
    const char *a = promql_labels_get(ls, node ? "client_node" : "client");
    const char *b = promql_labels_get(ls, node ? "server_node" : "server");
    if (a == NULL)
        a = "";
    if (b == NULL)
        b = "";
    struct grp *g = gtab_get(node ? &r->nodes : &r->edges, a, b, node ? r->nsteps : 0);
    if (g == NULL)
        return TT_ENOMEM;
    double inc = deps_increase(ts, vs, n, r->a, r->b);
    const char *dir, *le;
    switch (r->f) {
    case F_CALLS:
        g->calls += inc;
        break;
    case F_ERRORS:
        g->errors += inc;
        break;
    case F_MSGS:
        g->calls += inc;
        for (size_t i = 0; i < r->nsteps; i++) {
            int64_t end = r->first_end + (int64_t)i * r->step;
            g->steps[i] += deps_increase(ts, vs, n, end - r->step, end);
        }
        break;
    case F_BYTES:
    case F_NODE_BYTES:
        dir = promql_labels_get(ls, "direction");
        if (dir != NULL && strcmp(dir, "request") == 0)
            g->bytes[0] += inc;
        else if (dir != NULL && strcmp(dir, "response") == 0)
            g->bytes[1] += inc;
        break;
    case F_CLI:
    case F_SRV:
        le = promql_labels_get(ls, "le");
        if (le != NULL) {
            char *end;
            errno = 0;
            double bound = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, &end);
            if (!isnan(bound))
                return hb_add(r->f == F_CLI ? &g->cli : &g->srv, bound, inc);
        }
        break;
    }
    return 0;
}

/* read_metric adds the increases of every series of name to the groups. */
static int read_metric(const struct promql_storage *st, struct reader *r, const char *name,
                       enum field f, char *err, size_t errlen)
{
    struct promql_matcher m;
    memset(&m, 0, sizeof m);
    m.op = PROMQL_MATCH_EQ;
    m.name.ptr = (char *)LABELS_METRIC_NAME;
    m.name.len = strlen(LABELS_METRIC_NAME);
    m.value.ptr = (char *)name;
    m.value.len = strlen(name);
    r->f = f;
    int64_t mint = r->a - MARGIN_MS;
    if (r->nsteps > 0 && r->first_end - r->step - MARGIN_MS < mint)
        mint = r->first_end - r->step - MARGIN_MS;
    return st->select(st->ctx, &m, 1, mint, r->b, on_series, r, err, errlen);
}

static int grp_cmp(const void *x, const void *y)
{
    const struct grp *a = x, *b = y;
    int c = strcmp(a->a, b->a);
    return c != 0 ? c : strcmp(a->b, b->b);
}

/* --- handlers ------------------------------------------------------------- */

/* ms_param reads a non-negative integer of milliseconds: 0, or 1 after
 * answering 400. Absent or empty keeps *v. */
static int ms_param(struct http_req *req, const char *name, int64_t *v)
{
    const char *p = http_req_param(req, name);
    if (p == NULL || *p == '\0')
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(p, &end, 10);
    if (errno != 0 || end == p || *end != '\0' || x < 0 || x > INT64_MAX / 1000000) {
        jaeger_respond_error(
            req, 400, "parameter '%s': '%s' is not milliseconds (a whole number >= 0)", name, p);
        return 1;
    }
    *v = x;
    return 0;
}

static int h_jaeger_deps(struct http_req *req, void *ctx)
{
    struct api_deps *d = ctx;
    int64_t end = clock_realtime_ns() / 1000000, lookback = DEFAULT_LOOKBACK;
    char err[512] = "";
    if (ms_param(req, "endTs", &end) || ms_param(req, "lookback", &lookback))
        return 0;
    struct reader r;
    memset(&r, 0, sizeof r);
    r.b = end;
    r.a = end - lookback;
    int rc =
        read_metric(d->st, &r, "telltale_service_graph_requests_total", F_CALLS, err, sizeof err);
    if (rc < 0) {
        gtab_release(&r.edges);
        return jaeger_respond_error(req, rc == TT_ESTATE ? 503 : 500, "reading the TSDB: %s",
                                    err[0] ? err : tt_strerror(rc));
    }
    if (r.edges.n > 1)
        qsort(r.edges.v, r.edges.n, sizeof *r.edges.v, grp_cmp);
    struct wbuf b;
    struct json_out j;
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_object_begin(&j);
    json_out_key(&j, "data");
    json_out_array_begin(&j);
    int64_t total = 0;
    for (size_t i = 0; i < r.edges.n; i++) {
        const struct grp *g = &r.edges.v[i];
        int64_t calls = (int64_t)llround(g->calls);
        if (calls <= 0)
            continue;
        json_out_object_begin(&j);
        json_out_key(&j, "parent");
        json_out_str(&j, g->a);
        json_out_key(&j, "child");
        json_out_str(&j, g->b);
        json_out_key(&j, "callCount");
        json_out_i64(&j, calls);
        json_out_object_end(&j);
        total++;
    }
    json_out_array_end(&j);
    jaeger_envelope_end(&j, total);
    gtab_release(&r.edges);
    rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    return rc;
}

static void put_quantiles(struct json_out *j, const char *key, struct hbuckets *h)
{
    static const double qs[3] = { 0.5, 0.9, 0.99 };
    static const char *const names[3] = { "p50", "p90", "p99" };
    json_out_key(j, key);
    json_out_object_begin(j);
    for (int i = 0; i < 3; i++) {
        double v = hb_quantile(h, qs[i]);
        json_out_key(j, names[i]);
        if (isnan(v))
            json_out_null(j);
        else
            json_out_f64(j, v);
    }
    json_out_object_end(j);
}

static int h_tt_deps(struct http_req *req, void *ctx)
{
    struct api_deps *d = ctx;
    int64_t now = clock_realtime_ns() / 1000000, start, end, step = 0;
    char err[512] = "";
    if (api_param_time(req, "end", 0, now, &end) != 0)
        return 0;
    if (api_param_time(req, "start", 0, end - 3600000, &start) != 0)
        return 0;
    if (end <= start)
        return http_respond_error(req, 400, "bad_data",
                                  "end timestamp must be after the start time");
    const char *p = http_req_param(req, "step");
    if (p != NULL && *p != '\0') {
        if (api_parse_duration(p, &step) != 0 || step <= 0)
            return http_respond_error(req, 400, "bad_data",
                                      "invalid parameter \"step\": cannot parse \"%s\" to a "
                                      "positive duration",
                                      p);
    } else {
        step = (end - start + 59) / 60;
        if (step < 1000)
            step = 1000;
    }
    if ((end - start) / step >= MAX_STEPS)
        return http_respond_error(req, 400, "bad_data",
                                  "exceeded maximum resolution of %d points per series: "
                                  "try a larger step",
                                  MAX_STEPS);
    struct reader r;
    memset(&r, 0, sizeof r);
    r.a = start;
    r.b = end;
    r.step = step;
    r.nsteps = (size_t)((end - start) / step);
    if (r.nsteps == 0)
        r.nsteps = 1;
    r.first_end = end - (int64_t)(r.nsteps - 1) * step;
    static const struct {
        const char *name;
        enum field f;
    } reads[] = {
        { "telltale_service_graph_requests_total", F_CALLS },
        { "telltale_service_graph_request_failed_total", F_ERRORS },
        { "telltale_service_graph_bytes_total", F_BYTES },
        { "telltale_service_graph_request_client_seconds_bucket", F_CLI },
        { "telltale_service_graph_request_server_seconds_bucket", F_SRV },
        { "telltale_node_messages_total", F_MSGS },
        { "telltale_node_bytes_total", F_NODE_BYTES },
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof reads / sizeof reads[0] && rc == 0; i++)
        rc = read_metric(d->st, &r, reads[i].name, reads[i].f, err, sizeof err);
    if (rc < 0) {
        gtab_release(&r.edges);
        gtab_release(&r.nodes);
        return http_respond_error(req, rc == TT_ESTATE ? 503 : 500, NULL, "reading the TSDB: %s",
                                  err[0] ? err : tt_strerror(rc));
    }
    if (r.edges.n > 1)
        qsort(r.edges.v, r.edges.n, sizeof *r.edges.v, grp_cmp);
    if (r.nodes.n > 1)
        qsort(r.nodes.v, r.nodes.n, sizeof *r.nodes.v, grp_cmp);
    struct wbuf b;
    struct json_out j;
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "start");
    json_out_prom_time(&j, start);
    json_out_key(&j, "end");
    json_out_prom_time(&j, end);
    json_out_key(&j, "step");
    json_out_prom_time(&j, step);
    json_out_key(&j, "edges");
    json_out_array_begin(&j);
    for (size_t i = 0; i < r.edges.n; i++) {
        struct grp *g = &r.edges.v[i];
        if (llround(g->calls) <= 0)
            continue;
        json_out_object_begin(&j);
        json_out_key(&j, "client");
        json_out_str(&j, g->a);
        json_out_key(&j, "server");
        json_out_str(&j, g->b);
        json_out_key(&j, "calls");
        json_out_i64(&j, llround(g->calls));
        json_out_key(&j, "errors");
        json_out_i64(&j, llround(g->errors));
        json_out_key(&j, "error_rate");
        json_out_f64(&j, g->errors / g->calls);
        put_quantiles(&j, "client_latency_seconds", &g->cli);
        put_quantiles(&j, "server_latency_seconds", &g->srv);
        json_out_key(&j, "bytes_request");
        json_out_i64(&j, llround(g->bytes[0]));
        json_out_key(&j, "bytes_response");
        json_out_i64(&j, llround(g->bytes[1]));
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_key(&j, "node_pairs");
    json_out_array_begin(&j);
    for (size_t i = 0; i < r.nodes.n; i++) {
        const struct grp *g = &r.nodes.v[i];
        if (llround(g->calls) <= 0)
            continue;
        json_out_object_begin(&j);
        json_out_key(&j, "client_node");
        json_out_str(&j, g->a);
        json_out_key(&j, "server_node");
        json_out_str(&j, g->b);
        json_out_key(&j, "messages");
        json_out_i64(&j, llround(g->calls));
        json_out_key(&j, "bytes_request");
        json_out_i64(&j, llround(g->bytes[0]));
        json_out_key(&j, "bytes_response");
        json_out_i64(&j, llround(g->bytes[1]));
        json_out_key(&j, "series");
        json_out_array_begin(&j);
        for (size_t k = 0; k < r.nsteps; k++) {
            json_out_array_begin(&j);
            json_out_prom_time(&j, r.first_end + (int64_t)k * step);
            json_out_i64(&j, llround(g->steps[k]));
            json_out_array_end(&j);
        }
        json_out_array_end(&j);
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_object_end(&j);
    json_out_success_end(&j);
    gtab_release(&r.edges);
    gtab_release(&r.nodes);
    rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    return rc;
}

int api_deps_register(struct server *srv, const struct promql_storage *st, struct api_deps **out)
{
    struct api_deps *d = calloc(1, sizeof *d);
    if (d == NULL)
        return TT_ENOMEM;
    d->st = st;
    const struct http_route routes[] = {
        { .method = "GET", .pattern = "/api/dependencies", .handler = h_jaeger_deps, .ctx = d },
        { .method = "GET", .pattern = "/api/tt/dependencies", .handler = h_tt_deps, .ctx = d },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = server_add_route(srv, &routes[i]);
        if (rc != 0) {
            free(d);
            return rc;
        }
    }
    *out = d;
    return 0;
}

void api_deps_free(struct api_deps *d)
{
    free(d);
}
