/*
 * test_span_metrics.c - RED metrics and service-graph pairing from spans:
 * counts and duration buckets, pairs made whichever of parent and child
 * comes first, same-service spans not paired unless client -> server, waits
 * that expire, the bounded wait table, bytes from attributes, failed calls,
 * and the zero sample a new series gets at the previous flush.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/span_metrics.h"
#include "store/tsdb/labels.h"
#include "telltale.h"
#include "unit.h"

#define T0 1700000000000000000ll
#define S  1000000000ll

struct sample {
    char *series;
    int64_t t;
    double v;
};

struct capture {
    struct sample *v;
    size_t n, cap;
};

static int cap_emit(void *ctx, const struct labels *ls, int64_t t, double v)
{
    struct capture *c = ctx;
    struct wbuf b;
    wbuf_init(&b, 0);
    labels_format_metric(ls, &b);
    wbuf_put_u8(&b, 0);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        assert_non_null(c->v);
    }
    c->v[c->n].series = strdup((const char *)b.data);
    c->v[c->n].t = t;
    c->v[c->n].v = v;
    c->n++;
    wbuf_release(&b);
    return 0;
}

static void cap_free(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].series);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* value of series at t, or -1 when absent */
static double get(const struct capture *c, const char *series, int64_t t)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].t == t && strcmp(c->v[i].series, series) == 0)
            return c->v[i].v;
    return -1;
}

struct span_spec {
    uint8_t trace;
    uint64_t id, parent;
    const char *service, *node, *name;
    uint8_t kind, status;
    uint64_t dur_ns;
};

static void add(struct span_metrics *sm, const struct span_spec *p, int64_t now,
                const struct span_attr *attrs, uint32_t nattrs)
{
    struct span_row r;
    memset(&r, 0, sizeof r);
    memset(r.trace_id, p->trace, 16);
    r.span_id = p->id;
    r.parent_id = p->parent;
    r.start_ns = now;
    r.duration_ns = p->dur_ns;
    r.kind = p->kind;
    r.status = p->status;
    r.service = (struct rec_str){ p->service, (uint32_t)strlen(p->service) };
    r.node = (struct rec_str){ p->node, (uint32_t)strlen(p->node) };
    r.name = (struct rec_str){ p->name, (uint32_t)strlen(p->name) };
    r.attrs = attrs;
    r.nattrs = nattrs;
    assert_int_equal(span_metrics_add(sm, &r, now), 0);
}

static struct span_metrics *mk(int64_t wait_ms, uint32_t max_pending)
{
    struct span_metrics *sm;
    struct span_metrics_config c = { .wait_ms = wait_ms, .max_pending = max_pending };
    assert_int_equal(span_metrics_new(&sm, &c), 0);
    return sm;
}

static void test_red_counts_and_buckets(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(0, 0);
    struct span_spec a = { 1, 1, 0, "web", "n1", "GET /", TT_SPAN_SERVER, TT_STATUS_OK, 3000000 };
    add(sm, &a, T0, NULL, 0);
    a.id = 2;
    a.dur_ns = 300000000; /* 0.3 s */
    add(sm, &a, T0, NULL, 0);
    a.id = 3;
    a.status = TT_STATUS_ERROR;
    a.dur_ns = 20 * S; /* past the last bound */
    add(sm, &a, T0, NULL, 0);
    struct capture c = { 0 };
    assert_int_equal(span_metrics_flush(sm, 2000000, cap_emit, &c), 0);
    const char *ok = "operation=\"GET /\",service=\"web\",span_kind=\"SPAN_KIND_SERVER\","
                     "status_code=\"STATUS_CODE_OK\"";
    char s[512];
    snprintf(s, sizeof s, "telltale_span_calls_total{%s}", ok);
    assert_true(get(&c, s, 2000000) == 2);
    snprintf(s, sizeof s, "telltale_span_duration_seconds_bucket{le=\"0.002\",%s}", ok);
    assert_true(get(&c, s, 2000000) == 0);
    snprintf(s, sizeof s, "telltale_span_duration_seconds_bucket{le=\"0.004\",%s}", ok);
    assert_true(get(&c, s, 2000000) == 1);
    snprintf(s, sizeof s, "telltale_span_duration_seconds_bucket{le=\"0.2\",%s}", ok);
    assert_true(get(&c, s, 2000000) == 1);
    snprintf(s, sizeof s, "telltale_span_duration_seconds_bucket{le=\"0.4\",%s}", ok);
    assert_true(get(&c, s, 2000000) == 2);
    snprintf(s, sizeof s, "telltale_span_duration_seconds_sum{%s}", ok);
    assert_true(get(&c, s, 2000000) > 0.3029 && get(&c, s, 2000000) < 0.3031);
    const char *er = "operation=\"GET /\",service=\"web\",span_kind=\"SPAN_KIND_SERVER\","
                     "status_code=\"STATUS_CODE_ERROR\"";
    snprintf(s, sizeof s, "telltale_span_duration_seconds_bucket{le=\"15\",%s}", er);
    assert_true(get(&c, s, 2000000) == 0);
    snprintf(s, sizeof s, "telltale_span_duration_seconds_bucket{le=\"+Inf\",%s}", er);
    assert_true(get(&c, s, 2000000) == 1);
    /* the same-service server spans made no graph edge */
    struct span_metrics_stats st;
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.spans, 3);
    assert_int_equal(st.pairs, 0);
    assert_int_equal(st.red_series, 2);
    cap_free(&c);
    span_metrics_free(sm);
}

static void test_zero_then_cumulative(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(0, 0);
    struct span_spec a = { 1, 1, 0, "web", "n1", "op", TT_SPAN_SERVER, 0, 1000 };
    add(sm, &a, T0, NULL, 0);
    struct capture c = { 0 };
    assert_int_equal(span_metrics_flush(sm, 1000, cap_emit, &c), 0);
    assert_int_equal(span_metrics_flush(sm, 2000, cap_emit, &c), 0);
    a.id = 2;
    add(sm, &a, T0, NULL, 0);
    assert_int_equal(span_metrics_flush(sm, 3000, cap_emit, &c), 0);
    const char *n = "telltale_span_calls_total{operation=\"op\",service=\"web\","
                    "span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"}";
    /* the zero at the previous flush (here: 1 ms before, the first flush
     * being earlier than the module's start time) */
    assert_true(get(&c, n, 999) == 0);
    assert_true(get(&c, n, 1000) == 1);
    assert_true(get(&c, n, 2000) == 1);
    assert_true(get(&c, n, 3000) == 2);
    /* no second zero */
    size_t zeros = 0;
    for (size_t i = 0; i < c.n; i++)
        if (strcmp(c.v[i].series, n) == 0 && c.v[i].v == 0)
            zeros++;
    assert_int_equal(zeros, 1);
    cap_free(&c);
    span_metrics_free(sm);
}

static const char *EDGE = "{client=\"front\",server=\"back\"}";

static double edge_val(struct span_metrics *sm, const char *metric, const char *extra)
{
    struct capture c = { 0 };
    char s[512];
    assert_int_equal(span_metrics_flush(sm, 5000, cap_emit, &c), 0);
    if (extra != NULL)
        snprintf(s, sizeof s, "%s{client=\"front\",%s,server=\"back\"}", metric, extra);
    else
        snprintf(s, sizeof s, "%s%s", metric, EDGE);
    double v = get(&c, s, 5000);
    cap_free(&c);
    return v;
}

static void test_pair_child_first(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(0, 0);
    struct span_spec child = { 7, 20, 10, "back", "n2", "serve", TT_SPAN_SERVER, 0, 40000000 };
    struct span_spec parent = { 7, 10, 0, "front", "n1", "call", TT_SPAN_CLIENT, 0, 50000000 };
    add(sm, &child, T0, NULL, 0);
    struct span_metrics_stats st;
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.pairs, 0);
    assert_int_equal(st.pending, 2); /* as a child and as a parent */
    add(sm, &parent, T0 + S, NULL, 0);
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.pairs, 1);
    assert_int_equal(st.pending, 2); /* both wait as parents now */
    assert_true(edge_val(sm, "telltale_service_graph_requests_total", NULL) == 1);
    assert_true(edge_val(sm, "telltale_service_graph_request_failed_total", NULL) == 0);
    assert_true(
        edge_val(sm, "telltale_service_graph_request_client_seconds_bucket", "le=\"0.05\"") == 1);
    assert_true(
        edge_val(sm, "telltale_service_graph_request_server_seconds_bucket", "le=\"0.01\"") == 0);
    assert_true(
        edge_val(sm, "telltale_service_graph_request_server_seconds_bucket", "le=\"0.05\"") == 1);
    struct capture c = { 0 };
    assert_int_equal(span_metrics_flush(sm, 6000, cap_emit, &c), 0);
    assert_true(
        get(&c, "telltale_node_messages_total{client_node=\"n1\",server_node=\"n2\"}", 6000) == 1);
    cap_free(&c);
    span_metrics_free(sm);
}

static void test_pair_parent_first_fanout(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(0, 0);
    struct span_spec parent = { 7, 10, 0, "front", "n1", "call", TT_SPAN_PRODUCER, 0, 1000 };
    struct span_spec child = { 7, 20, 10, "back", "n2", "take", TT_SPAN_CONSUMER, 0, 1000 };
    add(sm, &parent, T0, NULL, 0);
    add(sm, &child, T0, NULL, 0);
    child.id = 21;
    add(sm, &child, T0, NULL, 0);
    /* another trace with the same span ids does not pair */
    child.trace = 8;
    child.id = 22;
    add(sm, &child, T0, NULL, 0);
    assert_true(edge_val(sm, "telltale_service_graph_requests_total", NULL) == 2);
    span_metrics_free(sm);
}

static void test_same_service_rules(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(0, 0);
    /* server -> internal in one service: no edge */
    struct span_spec a = { 1, 1, 0, "svc", "n", "in", TT_SPAN_SERVER, 0, 1000 };
    struct span_spec b = { 1, 2, 1, "svc", "n", "work", TT_SPAN_INTERNAL, 0, 1000 };
    add(sm, &a, T0, NULL, 0);
    add(sm, &b, T0, NULL, 0);
    /* client -> server in one service: an edge svc -> svc */
    struct span_spec c = { 1, 3, 2, "svc", "n", "call", TT_SPAN_CLIENT, 0, 1000 };
    struct span_spec d = { 1, 4, 3, "svc", "n", "serve", TT_SPAN_SERVER, 0, 1000 };
    add(sm, &d, T0, NULL, 0);
    add(sm, &c, T0, NULL, 0);
    /* internal span of one service -> span of another: an edge */
    struct span_spec e = { 1, 5, 4, "other", "m", "x", TT_SPAN_INTERNAL, 0, 1000 };
    add(sm, &e, T0, NULL, 0);
    struct span_metrics_stats st;
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.pairs, 2);
    assert_int_equal(st.edges, 2);
    struct capture cap = { 0 };
    assert_int_equal(span_metrics_flush(sm, 9000, cap_emit, &cap), 0);
    assert_true(get(&cap, "telltale_service_graph_requests_total{client=\"svc\",server=\"svc\"}",
                    9000) == 1);
    assert_true(get(&cap, "telltale_service_graph_requests_total{client=\"svc\",server=\"other\"}",
                    9000) == 1);
    cap_free(&cap);
    span_metrics_free(sm);
}

static void test_expiry(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(10000, 0);
    struct span_spec child = { 3, 20, 10, "back", "n2", "serve", TT_SPAN_SERVER, 0, 1000 };
    struct span_spec parent = { 3, 10, 0, "front", "n1", "call", TT_SPAN_CLIENT, 0, 1000 };
    add(sm, &child, T0, NULL, 0);
    /* 9 s later the child still waits; at 10 s it has expired */
    span_metrics_expire(sm, T0 + 9 * S);
    struct span_metrics_stats st;
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.expired, 0);
    span_metrics_expire(sm, T0 + 10 * S);
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.expired, 1); /* the orphan child; a server span as parent is not a call */
    add(sm, &parent, T0 + 11 * S, NULL, 0);
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.pairs, 0);
    /* the client span expires without a server child: one more */
    span_metrics_expire(sm, T0 + 30 * S);
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.expired, 2);
    assert_int_equal(st.pending, 0);
    assert_true(edge_val(sm, "telltale_service_graph_requests_total", NULL) == -1);
    span_metrics_free(sm);
}

static void test_size_bound(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(0, 4);
    struct span_spec child = { 1, 20, 10, "back", "n2", "serve", TT_SPAN_SERVER, 0, 1000 };
    add(sm, &child, T0, NULL, 0); /* 2 entries */
    for (uint64_t i = 0; i < 3; i++) {
        struct span_spec r = { 2, 100 + i, 0, "x", "n", "root", TT_SPAN_SERVER, 0, 1000 };
        add(sm, &r, T0, NULL, 0);
    }
    struct span_metrics_stats st;
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.pending, 4);
    assert_int_equal(st.dropped_pending, 1); /* the oldest: the child's wait */
    struct span_spec parent = { 1, 10, 0, "front", "n1", "call", TT_SPAN_CLIENT, 0, 1000 };
    add(sm, &parent, T0, NULL, 0);
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.pairs, 0);
    assert_int_equal(st.pending, 4);
    assert_int_equal(st.dropped_pending, 2);
    /* many more spans than room: the table stays at its bound */
    for (uint64_t i = 0; i < 1000; i++) {
        struct span_spec r = { 3, 1000 + i, 999 + i, "y", "n", "op", TT_SPAN_INTERNAL, 0, 1 };
        add(sm, &r, T0, NULL, 0);
    }
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.pending, 4);
    span_metrics_free(sm);
}

static void test_bytes_attributes(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(0, 0);
    struct span_attr ca[2], sa[2];
    ca[0] =
        (struct span_attr){ { "http.request.body.size", 22 }, { .type = TT_VAL_INT, .u.i = 1200 } };
    ca[1] =
        (struct span_attr){ { "http.method", 11 }, { .type = TT_VAL_STR, .u.s = { "POST", 4 } } };
    sa[0] = (struct span_attr){ { "http.request_content_length", 27 },
                                { .type = TT_VAL_INT, .u.i = 999 } }; /* client's wins */
    sa[1] = (struct span_attr){ { "http.response_content_length", 28 },
                                { .type = TT_VAL_STR, .u.s = { "5000", 4 } } };
    uint64_t rq, rs;
    int hq, hs;
    struct span_row r;
    memset(&r, 0, sizeof r);
    r.attrs = sa;
    r.nattrs = 2;
    span_bytes(&r, &rq, &hq, &rs, &hs);
    assert_true(hq && hs);
    assert_int_equal(rq, 999);
    assert_int_equal(rs, 5000);
    /* a negative or non-numeric size is no size */
    struct span_attr bad[2] = {
        { { "http.request.body.size", 22 }, { .type = TT_VAL_INT, .u.i = -5 } },
        { { "http.response.body.size", 23 }, { .type = TT_VAL_STR, .u.s = { "12a", 3 } } },
    };
    r.attrs = bad;
    span_bytes(&r, &rq, &hq, &rs, &hs);
    assert_false(hq || hs);

    struct span_spec parent = { 5, 10, 0, "front", "n1", "call", TT_SPAN_CLIENT, 0, 1000 };
    struct span_spec child = { 5, 20, 10, "back", "n2", "serve", TT_SPAN_SERVER, 0, 1000 };
    add(sm, &parent, T0, ca, 2);
    add(sm, &child, T0, sa, 2);
    struct span_attr ma = { { "messaging.message.body.size", 27 },
                            { .type = TT_VAL_DOUBLE, .u.d = 300.0 } };
    parent.trace = 6;
    add(sm, &parent, T0, &ma, 1);
    child.trace = 6;
    add(sm, &child, T0, NULL, 0);
    assert_true(edge_val(sm, "telltale_service_graph_bytes_total", "direction=\"request\"") ==
                1500);
    assert_true(edge_val(sm, "telltale_service_graph_bytes_total", "direction=\"response\"") ==
                5000);
    struct capture c = { 0 };
    assert_int_equal(span_metrics_flush(sm, 7000, cap_emit, &c), 0);
    assert_true(get(&c,
                    "telltale_node_bytes_total{client_node=\"n1\",direction=\"request\","
                    "server_node=\"n2\"}",
                    7000) == 1500);
    cap_free(&c);
    span_metrics_free(sm);
}

static void test_failed_calls(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(0, 0);
    for (uint8_t t = 1; t <= 4; t++) {
        struct span_spec parent = { t,
                                    10,
                                    0,
                                    "front",
                                    "n1",
                                    "call",
                                    TT_SPAN_CLIENT,
                                    t == 1 ? TT_STATUS_ERROR : TT_STATUS_OK,
                                    1000 };
        struct span_spec child = { t,
                                   20,
                                   10,
                                   "back",
                                   "n2",
                                   "serve",
                                   TT_SPAN_SERVER,
                                   t == 2 ? TT_STATUS_ERROR : TT_STATUS_UNSET,
                                   1000 };
        add(sm, &child, T0, NULL, 0);
        add(sm, &parent, T0, NULL, 0);
    }
    assert_true(edge_val(sm, "telltale_service_graph_requests_total", NULL) == 4);
    assert_true(edge_val(sm, "telltale_service_graph_request_failed_total", NULL) == 2);
    span_metrics_free(sm);
}

static void test_series_limit(void **state)
{
    (void)state;
    struct span_metrics *sm;
    struct span_metrics_config cfg = { .max_series = 3 };
    assert_int_equal(span_metrics_new(&sm, &cfg), 0);
    char name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "op%d", i);
        struct span_spec a = { 1, (uint64_t)i + 1, 0, "web", "n", name, TT_SPAN_SERVER, 0, 1 };
        add(sm, &a, T0, NULL, 0);
    }
    struct span_metrics_stats st;
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.red_series, 3);
    assert_int_equal(st.dropped_series, 7);
    span_metrics_free(sm);
}

static void test_virtual_nodes(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(1000, 0);
    struct span_attr db[2] = {
        { { "db.system", 9 }, { .type = TT_VAL_STR, .u.s = { "postgresql", 10 } } },
        { { "db.name", 7 }, { .type = TT_VAL_STR, .u.s = { "orders", 6 } } },
    };
    struct span_attr ps = { { "peer.service", 12 },
                            { .type = TT_VAL_STR, .u.s = { "stripe", 6 } } };
    /* db.name wins over db.system; the error status counts as failed */
    struct span_spec q = {
        1, 1, 0, "shop", "n1", "SELECT", TT_SPAN_CLIENT, TT_STATUS_ERROR, 2000000
    };
    add(sm, &q, T0, db, 2);
    /* peer.service, answered by a real server span: a real edge only */
    struct span_spec c = { 2, 1, 0, "shop", "n1", "charge", TT_SPAN_CLIENT, 0, 1000 };
    struct span_spec sv = { 2, 2, 1, "payments", "n2", "charge", TT_SPAN_SERVER, 0, 1000 };
    add(sm, &c, T0, &ps, 1);
    add(sm, &sv, T0, NULL, 0);
    /* an internal span naming a peer is no call */
    struct span_spec in = { 3, 1, 0, "shop", "n1", "x", TT_SPAN_INTERNAL, 0, 1000 };
    add(sm, &in, T0, &ps, 1);
    span_metrics_expire(sm, T0 + 2 * S);
    struct span_metrics_stats st;
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.virtual_pairs, 1);
    assert_int_equal(st.pairs, 1);
    assert_int_equal(st.expired, 0);
    struct capture cap = { 0 };
    assert_int_equal(span_metrics_flush(sm, 9000, cap_emit, &cap), 0);
    const char *v = "{client=\"shop\",connection_type=\"virtual_node\",server=\"orders\"}";
    char name[256];
    snprintf(name, sizeof name, "telltale_service_graph_requests_total%s", v);
    assert_true(get(&cap, name, 9000) == 1);
    snprintf(name, sizeof name, "telltale_service_graph_request_failed_total%s", v);
    assert_true(get(&cap, name, 9000) == 1);
    assert_true(get(&cap,
                    "telltale_service_graph_bytes_total{client=\"shop\",connection_type=\"virtual_"
                    "node\",direction=\"request\",server=\"orders\"}",
                    9000) == 0);
    assert_true(get(&cap,
                    "telltale_service_graph_requests_total{client=\"shop\",server=\"payments\"}",
                    9000) == 1);
    assert_true(get(&cap,
                    "telltale_service_graph_requests_total{client=\"shop\",connection_type="
                    "\"virtual_node\",server=\"stripe\"}",
                    9000) == -1);
    cap_free(&cap);
    /* pushed out for room, an unanswered named call still counts */
    struct span_metrics *small = mk(0, 1);
    add(small, &q, T0, db, 2);
    add(small, &in, T0, NULL, 0);
    span_metrics_get_stats(small, &st);
    assert_int_equal(st.virtual_pairs, 1);
    assert_int_equal(st.dropped_pending, 1);
    span_metrics_free(small);
    span_metrics_free(sm);
}

static void test_too_old(void **state)
{
    (void)state;
    struct span_metrics *sm = mk(0, 0); /* max age: the default, 1 h */
    struct span_row r;
    memset(&r, 0, sizeof r);
    r.service = (struct rec_str){ "web", 3 };
    r.name = (struct rec_str){ "op", 2 };
    r.node = (struct rec_str){ "n", 1 };
    r.span_id = 1;
    /* started 2 h ago, lasted 1 h 1 s: ended 59 min 59 s ago, counted */
    r.start_ns = T0 - 7200 * S;
    r.duration_ns = 3601 * S;
    assert_int_equal(span_metrics_add(sm, &r, T0), 0);
    /* lasted 59 min: ended 61 min ago, not counted */
    r.span_id = 2;
    r.duration_ns = 3540 * S;
    assert_int_equal(span_metrics_add(sm, &r, T0), 0);
    /* extremes do not overflow */
    r.start_ns = INT64_MIN;
    r.duration_ns = UINT64_MAX;
    assert_int_equal(span_metrics_add(sm, &r, T0), 0);
    r.start_ns = INT64_MAX;
    assert_int_equal(span_metrics_add(sm, &r, T0), 0);
    struct span_metrics_stats st;
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.spans, 3);
    assert_int_equal(st.too_old, 1);
    span_metrics_free(sm);
    /* no limit */
    struct span_metrics_config c = { .max_age_ms = -1 };
    assert_int_equal(span_metrics_new(&sm, &c), 0);
    r.start_ns = 0;
    r.duration_ns = 0;
    assert_int_equal(span_metrics_add(sm, &r, T0), 0);
    span_metrics_get_stats(sm, &st);
    assert_int_equal(st.spans, 1);
    assert_int_equal(st.too_old, 0);
    span_metrics_free(sm);
}

UNIT_TESTS(cmocka_unit_test(test_red_counts_and_buckets),
           cmocka_unit_test(test_zero_then_cumulative), cmocka_unit_test(test_pair_child_first),
           cmocka_unit_test(test_pair_parent_first_fanout),
           cmocka_unit_test(test_same_service_rules), cmocka_unit_test(test_expiry),
           cmocka_unit_test(test_size_bound), cmocka_unit_test(test_bytes_attributes),
           cmocka_unit_test(test_failed_calls), cmocka_unit_test(test_series_limit),
           cmocka_unit_test(test_virtual_nodes), cmocka_unit_test(test_too_old))
