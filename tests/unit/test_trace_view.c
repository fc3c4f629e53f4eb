/*
 * test_trace_view.c - trace assembly, clock-skew placement (with and
 * without HLC), orphans and cycles, self times, the critical path and the
 * diff of two traces, on hand-made traces.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/hlc.h"
#include "query/traces/trace_view.h"
#include "telltale.h"
#include "unit.h"

#define T0 INT64_C(1700000000000000000) /* a whole ms */
#define MS INT64_C(1000000)

static struct rec_str S(const char *s) {
    struct rec_str r = { s, (uint32_t)strlen(s) };
    return r;
}

/* add: a span of node/service at start_ms (from T0) lasting dur_ms; hlc_ahead
 * < 0: no HLC, else its HLC is hlc_ahead ms after its start's ms. */
static void
add(struct trace_view *tv, uint64_t id, uint64_t parent, const char *node, const char *svc,
    const char *op, uint8_t kind, double start_ms, double dur_ms, int hlc_ahead)
{
    struct span_row r;
    memset(&r, 0, sizeof r);
    memset(r.trace_id, 0x11, 16);
    r.span_id = id;
    r.parent_id = parent;
    r.start_ns = T0 + (int64_t)(start_ms * 1e6);
    r.duration_ns = (uint64_t)(dur_ms * 1e6);
    r.kind = kind;
    r.node = S(node);
    r.service = S(svc);
    r.name = S(op);
    if (hlc_ahead >= 0)
        r.hlc = hlc_pack((uint64_t)(r.start_ns / MS + hlc_ahead), 1);
    assert_int_equal(trace_view_add(tv, &r), 0);
}

static const struct tv_span *by_id(const struct trace_view *tv, uint64_t id)
{
    uint32_t i = trace_view_find(tv, id);
    assert_int_not_equal(i, TV_NONE);
    return &tv->spans[i];
}

/* An RPC from node a to node b, whose clock is 10 ms behind: the server
 * span and its local child are stored starting 5 ms before the client call. */
static void rpc_trace(struct trace_view *tv, int with_hlc)
{
    add(tv, 1, 0, "a", "front", "GET /", TT_SPAN_SERVER, 0, 100, with_hlc ? 0 : -1);
    add(tv, 2, 1, "a", "front", "call back", TT_SPAN_CLIENT, 10, 50, with_hlc ? 0 : -1);
    add(tv, 3, 2, "b", "back", "serve", TT_SPAN_SERVER, 5, 40, with_hlc ? 10 : -1);
    add(tv, 4, 3, "b", "back", "work", TT_SPAN_INTERNAL, 7, 30, with_hlc ? 10 : -1);
}

static void test_trace_view_skew_hlc(void **state)
{
    (void)state;
    struct trace_view tv;
    char w[512];
    trace_view_init(&tv);
    rpc_trace(&tv, 1);
    assert_int_equal(trace_view_build(&tv, 1), 0);
    const struct tv_span *srv = by_id(&tv, 3), *work = by_id(&tv, 4), *cli = by_id(&tv, 2);
    /* the HLC says b is 10 ms behind: b's spans move by exactly that */
    assert_int_equal(srv->adjust_ns, 10 * MS);
    assert_int_equal(work->adjust_ns, 10 * MS);
    assert_int_equal(srv->reason, TV_ADJ_HLC);
    assert_true(srv->placed_ns >= cli->placed_ns);
    assert_true(srv->placed_ns + (int64_t)srv->duration_ns <= cli->placed_ns + 50 * MS);
    assert_int_equal(srv->disagree_ns, 5 * MS); /* stored: 5 ms before its caller */
    assert_int_equal(cli->adjust_ns, 0);
    assert_int_equal(tv.nodes[srv->node_ix].offset_ns, 10 * MS);
    assert_int_equal(tv.nodes[cli->node_ix].offset_ns, 0);
    assert_true(trace_view_warning(&tv, trace_view_find(&tv, 3), w, sizeof w) > 0);
    assert_non_null(strstr(w, "clock skew adjustment"));
    assert_non_null(strstr(w, "+10.000ms"));
    assert_non_null(strstr(w, "HLC"));
    assert_non_null(strstr(w, "5.000ms"));
    assert_int_equal(trace_view_warning(&tv, trace_view_find(&tv, 2), w, sizeof w), 0);
    trace_view_release(&tv);
}

static void test_trace_view_skew_no_hlc(void **state)
{
    (void)state;
    struct trace_view tv;
    char w[512];
    trace_view_init(&tv);
    rpc_trace(&tv, 0);
    assert_int_equal(trace_view_build(&tv, 1), 0);
    const struct tv_span *srv = by_id(&tv, 3), *work = by_id(&tv, 4);
    /* Jaeger's adjuster: the 40 ms server span centred in the 50 ms call */
    assert_int_equal(srv->placed_ns, T0 + 15 * MS);
    assert_int_equal(srv->adjust_ns, 10 * MS);
    assert_int_equal(srv->reason, TV_ADJ_SKEW);
    assert_int_equal(work->placed_ns - srv->placed_ns, 2 * MS); /* same node: unmoved between */
    trace_view_warning(&tv, trace_view_find(&tv, 4), w, sizeof w);
    assert_non_null(strstr(w, "no HLC"));
    trace_view_release(&tv);

    /* raw: nothing moves, the disagreement is still measured */
    trace_view_init(&tv);
    rpc_trace(&tv, 0);
    assert_int_equal(trace_view_build(&tv, 0), 0);
    srv = by_id(&tv, 3);
    assert_int_equal(srv->adjust_ns, 0);
    assert_int_equal(srv->placed_ns, T0 + 5 * MS);
    assert_int_equal(srv->disagree_ns, 5 * MS);
    trace_view_warning(&tv, trace_view_find(&tv, 3), w, sizeof w);
    assert_non_null(strstr(w, "not adjusted"));
    trace_view_release(&tv);
}

/* A server span that starts after the call but ends after it (b's clock
 * ahead): moved back into the call; a server span that fits is left. */
static void test_trace_view_server_outside_call(void **state)
{
    (void)state;
    struct trace_view tv;
    trace_view_init(&tv);
    add(&tv, 1, 0, "a", "front", "GET /", TT_SPAN_SERVER, 0, 100, -1);
    add(&tv, 2, 1, "a", "front", "call b", TT_SPAN_CLIENT, 10, 50, -1);
    add(&tv, 3, 2, "b", "back", "serve", TT_SPAN_SERVER, 30, 45, -1);
    add(&tv, 4, 1, "a", "front", "call c", TT_SPAN_CLIENT, 62, 20, -1);
    add(&tv, 5, 4, "c", "other", "serve", TT_SPAN_SERVER, 63, 18, -1);
    assert_int_equal(trace_view_build(&tv, 1), 0);
    const struct tv_span *b = by_id(&tv, 3), *c = by_id(&tv, 5);
    assert_int_equal(b->disagree_ns, 15 * MS);
    assert_int_equal(b->placed_ns, T0 + 12 * MS + MS / 2);
    assert_int_equal(b->adjust_ns, -(17 * MS + MS / 2));
    assert_int_equal(c->adjust_ns, 0);
    assert_int_equal(c->disagree_ns, 0);
    trace_view_release(&tv);
}

/* A node with HLCs that are not ahead (its clock is fine) and a child on
 * it that still starts a little early: Jaeger's adjuster does it. A node
 * whose HLC is ahead but that violates nothing is not moved. */
static void test_trace_view_hlc_only_when_needed(void **state)
{
    (void)state;
    struct trace_view tv;
    trace_view_init(&tv);
    add(&tv, 1, 0, "a", "front", "GET /", TT_SPAN_SERVER, 0, 100, 0);
    add(&tv, 2, 1, "a", "front", "call", TT_SPAN_CLIENT, 10, 50, 0);
    add(&tv, 3, 2, "b", "back", "serve", TT_SPAN_SERVER, 20, 10, 7); /* ahead, but fits */
    add(&tv, 4, 1, "a", "front", "call2", TT_SPAN_CLIENT, 70, 20, 0);
    add(&tv, 5, 4, "c", "third", "serve", TT_SPAN_SERVER, 69.5, 10, 0);
    assert_int_equal(trace_view_build(&tv, 1), 0);
    assert_int_equal(by_id(&tv, 3)->adjust_ns, 0);
    const struct tv_span *c = by_id(&tv, 5);
    assert_int_equal(c->reason, TV_ADJ_SKEW);
    assert_int_equal(c->placed_ns, T0 + 75 * MS);
    trace_view_release(&tv);
}

/* Orphans become extra roots, a parent cycle is cut, a repeated id keeps
 * both spans; the main root is the real one. */
static void test_trace_view_orphans_cycles(void **state)
{
    (void)state;
    struct trace_view tv;
    trace_view_init(&tv);
    add(&tv, 10, 99, "a", "s", "orphan", TT_SPAN_SERVER, 1, 5, -1);
    add(&tv, 1, 0, "a", "s", "root", TT_SPAN_SERVER, 0, 100, -1);
    add(&tv, 2, 1, "a", "s", "child", TT_SPAN_INTERNAL, 10, 10, -1);
    add(&tv, 2, 1, "a", "s", "child again", TT_SPAN_INTERNAL, 12, 10, -1);
    add(&tv, 20, 21, "b", "s", "cyc1", TT_SPAN_INTERNAL, 30, 10, -1);
    add(&tv, 21, 20, "b", "s", "cyc2", TT_SPAN_INTERNAL, 31, 10, -1);
    add(&tv, 30, 30, "b", "s", "self parent", TT_SPAN_INTERNAL, 40, 1, -1);
    assert_int_equal(trace_view_build(&tv, 1), 0);
    assert_int_equal(tv.n, 7);
    assert_int_equal(tv.nroots, 4); /* root, orphan, the cut cycle, the self-parent */
    assert_string_equal(tv.spans[trace_view_main_root(&tv)].name, "root");
    assert_true(by_id(&tv, 10)->orphan);
    assert_true(by_id(&tv, 20)->orphan); /* the earliest of the cycle */
    assert_false(by_id(&tv, 21)->orphan);
    assert_int_equal(by_id(&tv, 21)->depth, 1);
    assert_true(by_id(&tv, 30)->orphan);
    /* every span is in the order once */
    int seen[7] = { 0 };
    for (size_t k = 0; k < tv.n; k++)
        seen[tv.order[k]]++;
    for (int i = 0; i < 7; i++)
        assert_int_equal(seen[i], 1);
    /* the root's self time: its two children overlap (10..20, 12..22) */
    assert_int_equal(by_id(&tv, 1)->self_ns, (uint64_t)(88 * MS));
    struct tv_segment *seg;
    size_t ns;
    assert_int_equal(trace_view_critical_path(&tv, &seg, &ns), 0);
    assert_true(ns >= 1);
    free(seg);
    trace_view_release(&tv);

    trace_view_init(&tv);
    assert_int_equal(trace_view_build(&tv, 1), TT_ENOTFOUND);
    trace_view_release(&tv);
}

/* Jaeger UI's critical path on nested and overlapping children, with a
 * child that runs past its parent's end (clipped). */
static void test_trace_view_critical_path(void **state)
{
    (void)state;
    struct trace_view tv;
    struct tv_segment *seg;
    size_t n;
    trace_view_init(&tv);
    add(&tv, 1, 0, "a", "s", "root", TT_SPAN_SERVER, 0, 100, -1);
    add(&tv, 2, 1, "a", "s", "c1", TT_SPAN_INTERNAL, 10, 30, -1);
    add(&tv, 3, 1, "a", "s", "c2", TT_SPAN_INTERNAL, 30, 60, -1);
    add(&tv, 4, 3, "a", "s", "g", TT_SPAN_INTERNAL, 35, 45, -1);
    add(&tv, 5, 1, "a", "s", "c3", TT_SPAN_INTERNAL, 95, 25, -1);
    assert_int_equal(trace_view_critical_path(&tv, &seg, &n), TT_ESTATE);
    assert_int_equal(trace_view_build(&tv, 1), 0);
    assert_int_equal(trace_view_critical_path(&tv, &seg, &n), 0);
    static const struct {
        uint64_t id;
        int64_t s, e;
    } want[] = { { 1, 0, 30 },  { 3, 30, 35 }, { 4, 35, 80 },
                 { 3, 80, 90 }, { 1, 90, 95 }, { 5, 95, 100 } };
    assert_int_equal(n, sizeof want / sizeof want[0]);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tv.spans[seg[i].span].span_id, want[i].id);
        assert_int_equal(seg[i].start_ns, T0 + want[i].s * MS);
        assert_int_equal(seg[i].end_ns, T0 + want[i].e * MS);
        total += seg[i].end_ns - seg[i].start_ns;
    }
    assert_int_equal(total, 100 * MS);
    assert_true(by_id(&tv, 4)->critical);
    assert_false(by_id(&tv, 2)->critical);
    /* self times: c2 has g inside; the root's children cover 10..90 and 95..100 */
    assert_int_equal(by_id(&tv, 3)->self_ns, (uint64_t)(15 * MS));
    assert_int_equal(by_id(&tv, 1)->self_ns, (uint64_t)(15 * MS));
    free(seg);
    trace_view_release(&tv);
}

static void diff_trace(struct trace_view *tv, int slow)
{
    trace_view_init(tv);
    add(tv, 1, 0, "a", "front", "GET /", TT_SPAN_SERVER, 0, slow ? 140 : 100, -1);
    add(tv, 2, 1, "a", "db", "query", TT_SPAN_CLIENT, 10, 10, -1);
    add(tv, 3, 1, "a", "db", "query", TT_SPAN_CLIENT, 20, slow ? 50 : 20, -1);
    if (slow)
        add(tv, 5, 1, "a", "auth", "check", TT_SPAN_CLIENT, 70, 3, -1);
    else
        add(tv, 4, 1, "a", "cache", "get", TT_SPAN_CLIENT, 40, 5, -1);
    assert_int_equal(trace_view_build(tv, 1), 0);
}

static void test_trace_view_diff(void **state)
{
    (void)state;
    struct trace_view a, b;
    struct tv_diff d;
    diff_trace(&a, 0);
    diff_trace(&b, 1);
    assert_int_equal(trace_diff(&a, &b, &d), 0);
    assert_int_equal(d.spans_a, 4);
    assert_int_equal(d.spans_b, 4);
    assert_int_equal(d.matched, 3);
    assert_int_equal(d.only_a, 1);
    assert_int_equal(d.only_b, 1);
    assert_int_equal(d.duration_b_ns - d.duration_a_ns, 40 * MS);
    int saw_cache = 0, saw_auth = 0, saw_q1 = 0;
    for (size_t i = 0; i < d.n; i++) {
        const struct tv_diff_node *x = &d.nodes[i];
        if (strcmp(x->path, "front:GET /#0/cache:get#0") == 0) {
            saw_cache = 1;
            assert_int_equal(x->b, TV_NONE);
        } else if (strcmp(x->path, "front:GET /#0/auth:check#0") == 0) {
            saw_auth = 1;
            assert_int_equal(x->a, TV_NONE);
        } else if (strcmp(x->path, "front:GET /#0/db:query#1") == 0) {
            saw_q1 = 1;
            assert_int_equal(x->duration_delta_ns, 30 * MS);
            assert_int_equal(x->self_delta_ns, 30 * MS);
        } else if (strcmp(x->path, "front:GET /#0") == 0) {
            assert_int_equal(x->duration_delta_ns, 40 * MS);
            assert_int_equal(x->self_delta_ns, 12 * MS); /* 65 -> 77 ms */
        } else {
            assert_string_equal(x->path, "front:GET /#0/db:query#0");
            assert_int_equal(x->duration_delta_ns, 0);
        }
    }
    assert_true(saw_cache && saw_auth && saw_q1);
    assert_int_equal(d.ntop, 2);
    assert_string_equal(d.nodes[d.top[0]].path, "front:GET /#0");
    assert_string_equal(d.nodes[d.top[1]].path, "front:GET /#0/db:query#1");
    trace_diff_release(&d);
    /* a trace against itself: everything matches, no deltas */
    assert_int_equal(trace_diff(&a, &a, &d), 0);
    assert_int_equal(d.matched, 4);
    assert_int_equal(d.only_a + d.only_b + d.ntop, 0);
    trace_diff_release(&d);
    trace_view_release(&a);
    trace_view_release(&b);
}

static void test_trace_view_fmt(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(trace_view_fmt_ns(1500000, b, sizeof b), "+1.500ms");
    assert_string_equal(trace_view_fmt_ns(-250000, b, sizeof b), "-250us");
    assert_string_equal(trace_view_fmt_ns(2000000000, b, sizeof b), "+2.000s");
    assert_string_equal(trace_view_fmt_ns(7, b, sizeof b), "+7ns");
}

UNIT_TESTS(cmocka_unit_test(test_trace_view_skew_hlc),
           cmocka_unit_test(test_trace_view_skew_no_hlc),
           cmocka_unit_test(test_trace_view_server_outside_call),
           cmocka_unit_test(test_trace_view_hlc_only_when_needed),
           cmocka_unit_test(test_trace_view_orphans_cycles),
           cmocka_unit_test(test_trace_view_critical_path), cmocka_unit_test(test_trace_view_diff),
           cmocka_unit_test(test_trace_view_fmt))
