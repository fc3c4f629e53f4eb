/*
 * test_span_indexer.c - the record log -> span store indexer: spans decoded
 * with their service from the origin or the service.name attribute, other
 * records ignored, repeated batches skipped, the cursor persisted so a
 * reopen indexes nothing twice, and a store rebuilt from the log.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/batch.h"
#include "core/record.h"
#include "server/reclog.h"
#include "server/otlp_out.h"
#include "server/span_indexer.h"
#include "store/spans/spanstore.h"
#include "telltale.h"
#include "tmpdir.h"
#include "unit.h"

static const char ORIGIN[] = "web-01\0checkout/4242";

/* make_batch: n spans of trace t (span ids base.., each the child of the
 * one before), one event record, origin and seq; the last span has a
 * service.name attribute when named is set. */
static void make_batch(struct wbuf *out, uint64_t origin, uint64_t seq, uint8_t t, uint32_t n,
                       uint64_t base, int named)
{
    struct wbuf raw, attrs;
    wbuf_init(&raw, 0);
    wbuf_init(&attrs, 0);
    for (uint32_t i = 0; i < n; i++) {
        struct rec_span s;
        memset(&s, 0, sizeof s);
        memset(s.trace_id, t, 16);
        s.span_id = base + i;
        s.parent_id = i ? base + i - 1 : 0;
        s.duration_ns = 1000 * (i + 1);
        s.kind = 2;
        s.name.p = "GET /x";
        s.name.len = 6;
        wbuf_reset(&attrs);
        struct rec_value v = { .type = TT_VAL_INT, .u.i = 200 };
        rec_kv_put(&attrs, "http.status_code", 16, &v);
        uint32_t na = 1;
        if (named && i + 1 == n) {
            struct rec_value sv = { .type = TT_VAL_STR, .u.s = { "payments", 8 } };
            rec_kv_put(&attrs, "service.name", 12, &sv);
            na++;
        }
        s.attrs.count = na;
        s.attrs.bytes = attrs.data;
        s.attrs.len = (uint32_t)attrs.len;
        assert_int_equal(rec_put_span(&raw, 1, 1700000000000000000 + i * 1000, &s), 0);
    }
    struct rec_event e = { .severity = 3, .component = { "c", 1 }, .name = { "ev", 2 } };
    assert_int_equal(rec_put_event(&raw, 1, 0, &e), 0);
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = n + 1;
    h.origin_id = origin;
    h.first_seq = seq;
    h.origin = ORIGIN;
    h.origin_len = sizeof ORIGIN - 1;
    wbuf_reset(out);
    assert_int_equal(batch_encode(out, &h, raw.data, raw.len), 0);
    wbuf_release(&raw);
    wbuf_release(&attrs);
}

static void append(struct reclog *rl, struct wbuf *b)
{
    struct reclog_pos pos;
    char err[256];
    assert_int_equal(reclog_append(rl, b->data, b->len, &pos, err, sizeof err), 0);
    assert_int_equal(reclog_sync(rl, pos.ticket, err, sizeof err), 0);
}

struct got {
    int n;
    char svc[8][32];
    uint64_t parent[8];
    uint64_t hlc[8];
};

static int got_fn(void *arg, const struct span_row *s)
{
    struct got *g = arg;
    if (g->n < 8) {
        snprintf(g->svc[g->n], 32, "%.*s", (int)s->service.len, s->service.p);
        g->parent[g->n] = s->parent_id;
        g->hlc[g->n] = s->hlc;
    }
    g->n++;
    return 0;
}

static void test_span_indexer_log_to_store(void **state)
{
    (void)state;
    char dir[256], rdir[512], sdir[512], err[512];
    struct reclog *rl;
    struct spanstore *ss;
    struct span_indexer *ix;
    struct wbuf b;
    struct span_indexer_stats st;
    uint8_t tid[16];

    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanidx"), 0);
    snprintf(rdir, sizeof rdir, "%s/records", dir);
    snprintf(sdir, sizeof sdir, "%s/spans", dir);
    wbuf_init(&b, 0);
    assert_int_equal(reclog_open(&rl, rdir, 0, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(spanstore_open(&ss, sdir, NULL, err, sizeof err), 0);
    assert_int_equal(span_indexer_new(&ix, ss, rl, 0, NULL), 0);

    make_batch(&b, 77, 0, 0xaa, 3, 100, 0);
    append(rl, &b);
    append(rl, &b); /* the same batch again: skipped */
    make_batch(&b, 77, 4, 0xaa, 2, 200, 1);
    append(rl, &b);
    assert_int_equal(span_indexer_step(ix, err, sizeof err), 3);
    span_indexer_get_stats(ix, &st);
    assert_int_equal(st.batches, 3);
    assert_int_equal(st.repeats, 1);
    assert_int_equal(st.spans, 5);

    struct got g = { 0 };
    memset(tid, 0xaa, 16);
    assert_int_equal(spanstore_trace(ss, tid, got_fn, &g), 5);
    assert_string_equal(g.svc[0], "checkout");
    assert_int_equal(g.parent[0], 0);
    assert_int_equal(g.parent[2], 101);
    assert_string_equal(g.svc[4], "payments");
    assert_int_equal(span_indexer_step(ix, err, sizeof err), 0);
    span_indexer_free(ix);
    spanstore_close(ss);

    /* reopen: the cursor is where it was; a new batch and a late repeat */
    assert_int_equal(spanstore_open(&ss, sdir, NULL, err, sizeof err), 0);
    assert_int_equal(span_indexer_new(&ix, ss, rl, 0, NULL), 0);
    make_batch(&b, 77, 0, 0xaa, 3, 100, 0);
    append(rl, &b);
    make_batch(&b, 78, 0, 0xaa, 1, 300, 0);
    append(rl, &b);
    assert_int_equal(span_indexer_step(ix, err, sizeof err), 2);
    memset(&g, 0, sizeof g);
    assert_int_equal(spanstore_trace(ss, tid, got_fn, &g), 6);
    span_indexer_free(ix);
    spanstore_close(ss);

    /* the span store lost: rebuilt from the whole log, same spans */
    rm_rf(sdir);
    assert_int_equal(spanstore_open(&ss, sdir, NULL, err, sizeof err), 0);
    assert_int_equal(span_indexer_new(&ix, ss, rl, 0, NULL), 0);
    assert_int_equal(span_indexer_step(ix, err, sizeof err), 5);
    memset(&g, 0, sizeof g);
    assert_int_equal(spanstore_trace(ss, tid, got_fn, &g), 6);
    span_indexer_free(ix);
    spanstore_close(ss);
    assert_int_equal(reclog_close(rl), 0);
    wbuf_release(&b);
    rm_rf(dir);
}

/* hlc_batch: one span of trace t, id span_id, stamped hlc, the record flag
 * REC_FLAG_OWN_HLC when own, in a batch of origin id origin. */
static void hlc_batch(struct wbuf *out, uint64_t origin, uint64_t seq, uint8_t t, uint64_t span_id,
                      uint64_t hlc, int own)
{
    struct wbuf raw;
    struct rec_span s;
    wbuf_init(&raw, 0);
    memset(&s, 0, sizeof s);
    memset(s.trace_id, t, 16);
    s.span_id = span_id;
    s.duration_ns = 1000;
    s.kind = 2;
    s.name.p = "GET /h";
    s.name.len = 6;
    assert_int_equal(rec_put_span(&raw, hlc, 1700000000000000000, &s), 0);
    if (own)
        raw.data[1] |= REC_FLAG_OWN_HLC;
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = 1;
    h.origin_id = origin;
    h.first_seq = seq;
    h.origin = ORIGIN;
    h.origin_len = sizeof ORIGIN - 1;
    wbuf_reset(out);
    assert_int_equal(batch_encode(out, &h, raw.data, raw.len), 0);
    wbuf_release(&raw);
}

/* The span's start HLC: an agent's record carries it; a record the server
 * made from OTLP input only when flagged (else the HLC is a receive stamp
 * and the span's is unknown). */
static void test_span_indexer_hlc(void **state)
{
    (void)state;
    char dir[256], err[512];
    struct spanstore *ss;
    struct span_indexer *ix;
    struct wbuf b;
    uint8_t tid[16];
    uint64_t otlp = otlp_origin_id(ORIGIN, sizeof ORIGIN - 1);
    uint64_t stamp = (uint64_t)1700000000003 << 16 | 5;

    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanhlc"), 0);
    wbuf_init(&b, 0);
    assert_int_equal(spanstore_open(&ss, dir, NULL, err, sizeof err), 0);
    assert_int_equal(span_indexer_new(&ix, ss, NULL, 0, NULL), 0);
    hlc_batch(&b, 77, 0, 0xbb, 1, stamp, 0);
    assert_int_equal(span_indexer_add_batch(ix, b.data, b.len, err, sizeof err), 1);
    hlc_batch(&b, otlp, 0, 0xbb, 2, stamp, 0);
    assert_int_equal(span_indexer_add_batch(ix, b.data, b.len, err, sizeof err), 1);
    hlc_batch(&b, otlp, 1, 0xbb, 3, stamp + 1, 1);
    assert_int_equal(span_indexer_add_batch(ix, b.data, b.len, err, sizeof err), 1);
    assert_int_equal(spanstore_commit(ss, 0, 0, err, sizeof err), 0);
    struct got g = { 0 };
    memset(tid, 0xbb, 16);
    assert_int_equal(spanstore_trace(ss, tid, got_fn, &g), 3);
    assert_int_equal(g.hlc[0], stamp);
    assert_int_equal(g.hlc[1], 0);
    assert_int_equal(g.hlc[2], stamp + 1);
    span_indexer_free(ix);
    spanstore_close(ss);
    wbuf_release(&b);
    rm_rf(dir);
}

/* The thread: started, it indexes what arrives and stops cleanly. */
static void test_span_indexer_thread(void **state)
{
    (void)state;
    char dir[256], rdir[512], sdir[512], err[512];
    struct reclog *rl;
    struct spanstore *ss;
    struct span_indexer *ix;
    struct wbuf b;
    uint8_t tid[16];

    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanidx"), 0);
    snprintf(rdir, sizeof rdir, "%s/records", dir);
    snprintf(sdir, sizeof sdir, "%s/spans", dir);
    wbuf_init(&b, 0);
    assert_int_equal(reclog_open(&rl, rdir, 0, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(spanstore_open(&ss, sdir, NULL, err, sizeof err), 0);
    assert_int_equal(span_indexer_new(&ix, ss, rl, 20, NULL), 0);
    assert_int_equal(span_indexer_start(ix), 0);
    assert_int_equal(span_indexer_start(ix), TT_ESTATE);
    make_batch(&b, 5, 0, 0x11, 4, 1, 0);
    append(rl, &b);
    memset(tid, 0x11, 16);
    struct got g = { 0 };
    for (int i = 0; i < 200 && g.n < 4; i++) {
        usleep(10000);
        memset(&g, 0, sizeof g);
        assert_true(spanstore_trace(ss, tid, got_fn, &g) >= 0);
    }
    assert_int_equal(g.n, 4);
    span_indexer_stop(ix);
    span_indexer_stop(ix);
    span_indexer_free(ix);
    spanstore_close(ss);
    assert_int_equal(reclog_close(rl), 0);
    wbuf_release(&b);
    rm_rf(dir);
}

static void test_span_indexer_origin(void **state)
{
    (void)state;
    struct rec_str s, n;
    span_service_from_origin(ORIGIN, sizeof ORIGIN - 1, &s, &n);
    assert_strn_equal(s.p, s.len, "checkout");
    assert_strn_equal(n.p, n.len, "web-01");
    span_service_from_origin("solo", 4, &s, &n);
    assert_int_equal(s.len, 0);
    assert_strn_equal(n.p, n.len, "solo");
    span_service_from_origin("a\0b", 3, &s, &n);
    assert_strn_equal(s.p, s.len, "b");
}

UNIT_TESTS(cmocka_unit_test(test_span_indexer_log_to_store),
           cmocka_unit_test(test_span_indexer_hlc), cmocka_unit_test(test_span_indexer_thread),
           cmocka_unit_test(test_span_indexer_origin))
