/*
 * test_span_store.c - the span block codec and the span store: round trips,
 * bytes per span, trace assembly across blocks and reopen, search, crash
 * points (uncommitted blocks cut), damaged blocks skipped and reported,
 * retention, dedup, rebuild when the state is lost.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "store/spans/spanblock.h"
#include "store/spans/spanstore.h"
#include "telltale.h"
#include "tmpdir.h"
#include "unit.h"

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct rec_str S(const char *s) {
    struct rec_str r = { s, (uint32_t)strlen(s) };
    return r;
}

/* A typical span: realistic names and 12 attributes, some per-span values. */
struct gen {
    struct span_attr attrs[12];
    char url[128], peer[64], uid[32];
    struct span_row row;
};

static const char *svcs[] = { "frontend", "checkout", "payment", "cart", "inventory" };
static const char *ops[] = { "GET /api/cart", "POST /api/checkout", "charge", "SELECT cart_items",
                             "reserve" };

static void gen_span(struct gen *g, const uint8_t trace[16], uint64_t span_id, uint64_t parent,
                     int64_t start, int svc)
{
    static const char *methods[] = { "GET", "POST" };
    memset(&g->row, 0, sizeof g->row);
    memcpy(g->row.trace_id, trace, 16);
    g->row.span_id = span_id;
    g->row.parent_id = parent;
    g->row.start_ns = start;
    g->row.duration_ns = 200000 + rnd() % 50000000;
    g->row.kind = (uint8_t)(1 + svc % 3);
    g->row.status = rnd() % 50 == 0 ? 2 : 0;
    g->row.flags = 1;
    g->row.service = S(svcs[svc]);
    g->row.node = S(svc < 2 ? "web-01" : "app-07");
    g->row.name = S(ops[svc]);
    snprintf(g->url, sizeof g->url, "https://shop.example.com/api/cart/%" PRIu64, rnd() % 5000);
    snprintf(g->peer, sizeof g->peer, "10.0.%d.%d", (int)(rnd() % 4), (int)(rnd() % 250));
    snprintf(g->uid, sizeof g->uid, "user-%" PRIu64, rnd() % 2000);
    const char *keys[12] = { "http.method",   "http.url",  "http.status_code", "net.peer.ip",
                             "net.peer.port", "component", "span.kind",        "user.id",
                             "db.system",     "thread.id", "region",           "retry" };
    for (int i = 0; i < 12; i++)
        g->attrs[i].key = S(keys[i]);
    g->attrs[0].v.type = TT_VAL_STR;
    g->attrs[0].v.u.s = S(methods[svc % 2]);
    g->attrs[1].v.type = TT_VAL_STR;
    g->attrs[1].v.u.s = S(g->url);
    g->attrs[2].v.type = TT_VAL_INT;
    g->attrs[2].v.u.i = rnd() % 20 == 0 ? 500 : 200;
    g->attrs[3].v.type = TT_VAL_STR;
    g->attrs[3].v.u.s = S(g->peer);
    g->attrs[4].v.type = TT_VAL_INT;
    g->attrs[4].v.u.i = 8080;
    g->attrs[5].v.type = TT_VAL_STR;
    g->attrs[5].v.u.s = S("http");
    g->attrs[6].v.type = TT_VAL_STR;
    g->attrs[6].v.u.s = S(svc == 0 ? "server" : "client");
    g->attrs[7].v.type = TT_VAL_STR;
    g->attrs[7].v.u.s = S(g->uid);
    g->attrs[8].v.type = TT_VAL_STR;
    g->attrs[8].v.u.s = S("postgresql");
    g->attrs[9].v.type = TT_VAL_INT;
    g->attrs[9].v.u.i = (int64_t)(rnd() % 64);
    g->attrs[10].v.type = TT_VAL_STR;
    g->attrs[10].v.u.s = S("eu-west-1");
    g->attrs[11].v.type = TT_VAL_BOOL;
    g->attrs[11].v.u.b = 0;
    g->row.attrs = g->attrs;
    g->row.nattrs = 12;
}

static void trace_id_of(uint64_t n, uint8_t out[16])
{
    uint64_t a = n * 0x9e3779b97f4a7c15ull + 1, b = (n + 7) * 0xc2b2ae3d27d4eb4full;
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
}

/* Adds ntraces traces of 5 spans (one per service, a chain) to w or ss. */
static void fill(struct spanblock_writer *w, struct spanstore *ss, uint64_t first, size_t ntraces,
                 int64_t t0)
{
    struct gen g;
    char err[256];
    for (size_t t = 0; t < ntraces; t++) {
        uint8_t tid[16];
        trace_id_of(first + t, tid);
        uint64_t parent = 0;
        int64_t start = t0 + (int64_t)t * 2000000;
        for (int s = 0; s < 5; s++) {
            uint64_t id = rnd() | 1;
            gen_span(&g, tid, id, parent, start + s * 100000 + (int64_t)(rnd() % 1000), s);
            if (w != NULL)
                assert_int_equal(spanblock_add(w, &g.row), 0);
            else
                assert_int_equal(spanstore_add(ss, &g.row, err, sizeof err), 0);
            parent = id;
        }
    }
}

static void test_span_block_roundtrip(void **state)
{
    (void)state;
    struct spanblock_writer *w;
    struct wbuf out;
    struct gen g;
    struct spanblock_hdr h;
    struct spanblock_reader r;
    struct span_row s;
    char err[256];
    uint8_t tid[16], ev[64];
    struct wbuf evb;

    assert_int_equal(spanblock_writer_new(&w), 0);
    wbuf_init(&out, 0);
    wbuf_init(&evb, 0);
    trace_id_of(42, tid);
    /* a span with an event and an out-of-block parent, then a child */
    gen_span(&g, tid, 0x1111, 0xdeadbeef, 1700000000000000000, 0);
    struct rec_value v = { .type = TT_VAL_STR, .u.s = S("boom") };
    struct rec_list none = { 0, NULL, 0, 0 };
    rec_kv_put(&evb, "msg", 3, &v);
    struct rec_list eattrs = { 1, evb.data, (uint32_t)evb.len, 0 };
    struct wbuf evl;
    wbuf_init(&evl, 0);
    rec_span_event_put(&evl, 1700000000000001000, "exception", 9, &eattrs);
    g.row.events.count = 1;
    g.row.events.bytes = evl.data;
    g.row.events.len = (uint32_t)evl.len;
    g.row.links = none;
    g.row.status_message = S("it failed");
    assert_int_equal(spanblock_add(w, &g.row), 0);
    gen_span(&g, tid, 0x2222, 0x1111, 1700000000000500000, 1);
    g.row.duration_ns = 12345;
    assert_int_equal(spanblock_add(w, &g.row), 0);
    assert_int_equal(spanblock_count(w), 2);
    assert_int_equal(spanblock_finish(w, &out, 0), 0);
    assert_int_equal(spanblock_count(w), 0);
    assert_int_equal(spanblock_finish(w, &out, 0), TT_ESTATE);

    assert_int_equal(spanblock_parse_header(out.data, out.len, &h, err, sizeof err), 0);
    assert_int_equal(h.count, 2);
    assert_int_equal(h.ntraces, 1);
    assert_memory_equal(h.trace_ids, tid, 16);
    assert_int_equal(spanblock_total_len(&h), out.len);
    char item[256];
    size_t n = spanblock_bloom_service(item, sizeof item, "checkout", 8);
    assert_true(spanblock_bloom_may_contain(&h, item, n));
    n = spanblock_bloom_tag(item, sizeof item, "http.method", 11, "POST", 4);
    assert_true(spanblock_bloom_may_contain(&h, item, n));
    n = spanblock_bloom_service(item, sizeof item, "nosuchservice", 13);
    assert_false(spanblock_bloom_may_contain(&h, item, n));

    spanblock_reader_init(&r);
    assert_int_equal(spanblock_read(&r, out.data, &h, err, sizeof err), 0);
    assert_int_equal(spanblock_next(&r, &s, err, sizeof err), 1);
    assert_int_equal(s.span_id, 0x1111);
    assert_int_equal(s.parent_id, 0xdeadbeef);
    assert_int_equal(s.start_ns, 1700000000000000000);
    assert_strn_equal(s.service.p, s.service.len, "frontend");
    assert_strn_equal(s.status_message.p, s.status_message.len, "it failed");
    assert_int_equal(s.nattrs, 12);
    assert_strn_equal(s.attrs[1].key.p, s.attrs[1].key.len, "http.url");
    assert_int_equal(s.attrs[2].v.type, TT_VAL_INT);
    assert_int_equal(s.attrs[11].v.type, TT_VAL_BOOL);
    assert_int_equal(s.events.count, 1);
    struct rec_list it = s.events;
    struct rec_span_event e;
    assert_int_equal(rec_span_event_next(&it, &e), 1);
    assert_strn_equal(e.name.p, e.name.len, "exception");
    assert_int_equal(e.time_ns, 1700000000000001000);
    assert_int_equal(spanblock_next(&r, &s, err, sizeof err), 1);
    assert_int_equal(s.span_id, 0x2222);
    assert_int_equal(s.parent_id, 0x1111); /* a reference to the row before */
    assert_int_equal(s.duration_ns, 12345);
    assert_strn_equal(s.name.p, s.name.len, "POST /api/checkout");
    assert_int_equal(spanblock_next(&r, &s, err, sizeof err), 0);

    /* damage: header CRC, body CRC, truncation */
    out.data[20] ^= 1;
    assert_int_equal(spanblock_parse_header(out.data, out.len, &h, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "CRC"));
    out.data[20] ^= 1;
    assert_int_equal(spanblock_parse_header(out.data, 30, &h, err, sizeof err), TT_ETRUNC);
    assert_int_equal(spanblock_parse_header(out.data, out.len, &h, err, sizeof err), 0);
    out.data[out.len - 10] ^= 0x40;
    assert_int_equal(spanblock_read(&r, out.data, &h, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "body"));
    (void)ev;

    spanblock_reader_release(&r);
    spanblock_writer_free(w);
    wbuf_release(&out);
    wbuf_release(&evb);
    wbuf_release(&evl);
}

/* The HLC column: unknown, equal to the start's ms, ahead and behind it,
 * counts below and above the 4-bit short form, a start before 1970, and
 * the kind/status escape, all read back exactly. */
static void test_span_block_hlc_roundtrip(void **state)
{
    (void)state;
    static const struct {
        int64_t start;
        uint64_t hlc;
        uint8_t kind, status;
    } cases[] = {
        { 1700000000123456789, 0, 2, 0 },
        { 1700000000123456789, (uint64_t)1700000000123 << 16, 1, 1 },
        { 1700000000123456789, (uint64_t)1700000000126 << 16 | 2, 3, 2 },
        { 1700000000123999999, (uint64_t)1700000000120 << 16 | 14, 2, 0 },
        { 1700000000123000000, (uint64_t)1700000000123 << 16 | 15, 2, 0 },
        { 1700000000123000000, (uint64_t)1700000000123 << 16 | 0xffff, 2, 0 },
        { -1500000, (uint64_t)5 << 16 | 1, 30, 6 }, /* before the epoch: floor */
        { 1000, ((uint64_t)1 << 48) - 1, 200, 9 },  /* far ahead; kind/status escape */
        { 1700000000000000000, 1, 31, 7 },          /* escape at the bounds */
    };
    struct spanblock_writer *w;
    struct wbuf out;
    struct gen g;
    struct spanblock_hdr h;
    struct spanblock_reader r;
    struct span_row s;
    char err[256];
    uint8_t tid[16];
    size_t nc = sizeof cases / sizeof cases[0];

    assert_int_equal(spanblock_writer_new(&w), 0);
    wbuf_init(&out, 0);
    trace_id_of(7, tid);
    for (size_t i = 0; i < nc; i++) {
        gen_span(&g, tid, 100 + i, i ? 100 + i - 1 : 0, cases[i].start, (int)(i % 5));
        g.row.hlc = cases[i].hlc;
        g.row.kind = cases[i].kind;
        g.row.status = cases[i].status;
        assert_int_equal(spanblock_add(w, &g.row), 0);
    }
    assert_int_equal(spanblock_finish(w, &out, 0), 0);
    assert_int_equal(spanblock_parse_header(out.data, out.len, &h, err, sizeof err), 0);
    assert_int_equal(h.version, 2);
    assert_int_equal(get_le32(out.data), SPANBLOCK_MAGIC);
    spanblock_reader_init(&r);
    assert_int_equal(spanblock_read(&r, out.data, &h, err, sizeof err), 0);
    for (size_t i = 0; i < nc; i++) {
        assert_int_equal(spanblock_next(&r, &s, err, sizeof err), 1);
        assert_int_equal(s.span_id, 100 + i);
        assert_int_equal(s.start_ns, cases[i].start);
        assert_int_equal(s.hlc, cases[i].hlc);
        assert_int_equal(s.kind, cases[i].kind);
        assert_int_equal(s.status, cases[i].status);
        assert_int_equal(s.nattrs, 12);
    }
    assert_int_equal(spanblock_next(&r, &s, err, sizeof err), 0);
    spanblock_reader_release(&r);
    spanblock_writer_free(w);
    wbuf_release(&out);
}

/* A block written by the first format (SPB1, no HLC column, kind and status
 * as two bytes; the fuzz corpus keeps one) still reads, every span with
 * hlc 0, and written again as SPB2 reads back the same. */
static void test_span_block_v1_still_reads(void **state)
{
    (void)state;
    const char *path = TT_SOURCE_DIR "/tests/fuzz/corpus/fuzz_spanblock/twoblocks";
    uint8_t buf[8192];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(len > 0 && len < sizeof buf);
    assert_int_equal(get_le32(buf), SPANBLOCK_MAGIC_V1);

    struct spanblock_writer *w;
    struct spanblock_reader r, r2;
    struct spanblock_hdr h, h2;
    struct span_row s, s2;
    struct wbuf out;
    char err[256];
    size_t off = 0, blocks = 0, spans = 0;
    assert_int_equal(spanblock_writer_new(&w), 0);
    spanblock_reader_init(&r);
    spanblock_reader_init(&r2);
    wbuf_init(&out, 0);
    while (off < len) {
        assert_int_equal(spanblock_parse_header(buf + off, len - off, &h, err, sizeof err), 0);
        assert_int_equal(h.version, 1);
        assert_int_equal(spanblock_read(&r, buf + off, &h, err, sizeof err), 0);
        int rc;
        while ((rc = spanblock_next(&r, &s, err, sizeof err)) == 1) {
            assert_int_equal(s.hlc, 0);
            assert_true(s.kind <= TT_SPAN_CONSUMER);
            assert_int_equal(spanblock_add(w, &s), 0);
            spans++;
        }
        assert_int_equal(rc, 0);
        /* the same spans through the new format */
        wbuf_reset(&out);
        assert_int_equal(spanblock_finish(w, &out, 0), 0);
        assert_int_equal(spanblock_parse_header(out.data, out.len, &h2, err, sizeof err), 0);
        assert_int_equal(h2.version, 2);
        assert_int_equal(h2.count, h.count);
        assert_int_equal(spanblock_read(&r, buf + off, &h, err, sizeof err), 0);
        assert_int_equal(spanblock_read(&r2, out.data, &h2, err, sizeof err), 0);
        while ((rc = spanblock_next(&r, &s, err, sizeof err)) == 1) {
            assert_int_equal(spanblock_next(&r2, &s2, err, sizeof err), 1);
            assert_memory_equal(s.trace_id, s2.trace_id, 16);
            assert_int_equal(s.span_id, s2.span_id);
            assert_int_equal(s.parent_id, s2.parent_id);
            assert_int_equal(s.start_ns, s2.start_ns);
            assert_int_equal(s.duration_ns, s2.duration_ns);
            assert_int_equal(s.kind, s2.kind);
            assert_int_equal(s.status, s2.status);
            assert_int_equal(s.flags, s2.flags);
            assert_int_equal(s2.hlc, 0);
            assert_int_equal(s.name.len, s2.name.len);
            assert_memory_equal(s.name.p, s2.name.p, s.name.len);
            assert_int_equal(s.service.len, s2.service.len);
            assert_memory_equal(s.service.p, s2.service.p, s.service.len);
            assert_int_equal(s.nattrs, s2.nattrs);
            assert_int_equal(s.events.len, s2.events.len);
        }
        assert_int_equal(rc, 0);
        off += spanblock_total_len(&h);
        blocks++;
    }
    assert_int_equal(off, len);
    assert_true(blocks >= 2);
    assert_true(spans >= 2);
    spanblock_reader_release(&r);
    spanblock_reader_release(&r2);
    spanblock_writer_free(w);
    wbuf_release(&out);
}

/* Bytes per typical span (12 attributes) in a full block: printed for the
 * report, and held under a bound so a regression shows. */
static void test_span_block_bytes_per_span(void **state)
{
    (void)state;
    struct spanblock_writer *w;
    struct wbuf out;
    assert_int_equal(spanblock_writer_new(&w), 0);
    wbuf_init(&out, 0);
    fill(w, NULL, 1000, 4096 / 5, 1700000000000000000);
    uint32_t n = spanblock_count(w);
    size_t raw = spanblock_raw_bytes(w);
    assert_int_equal(spanblock_finish(w, &out, 0), 0);
    double per = (double)out.len / n;
    printf("span block: %u spans, %zu raw column bytes, %zu on disk: %.1f bytes/span\n", n, raw,
           out.len, per);
    assert_true(per < 45.0);
    spanblock_writer_free(w);
    wbuf_release(&out);
}

struct collect {
    size_t n;
    uint64_t ids[64], parents[64], durs[64];
};

static int collect_fn(void *arg, const struct span_row *s)
{
    struct collect *c = arg;
    if (c->n < 64) {
        c->ids[c->n] = s->span_id;
        c->parents[c->n] = s->parent_id;
        c->durs[c->n] = s->duration_ns;
    }
    c->n++;
    return 0;
}

struct probs {
    int n;
    char last[256];
};

static void on_problem(void *arg, const char *segment, uint64_t off, const char *what)
{
    struct probs *p = arg;
    p->n++;
    snprintf(p->last, sizeof p->last, "%s@%" PRIu64 ": %s", segment, off, what);
}

static void names_fn(void *arg, const char *name, size_t len)
{
    (void)name;
    (void)len;
    (*(int *)arg)++;
}

static void test_span_store_trace_and_reopen(void **state)
{
    (void)state;
    char dir[256], err[512];
    struct spanstore *ss;
    struct spanstore_options o = { 0 };
    struct probs pr = { 0 };
    o.block_spans = 100;
    o.problem = on_problem;
    o.problem_arg = &pr;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstore"), 0);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);

    /* one trace's spans arrive in three pieces with other traffic between */
    uint8_t tid[16];
    trace_id_of(7, tid);
    struct gen g;
    gen_span(&g, tid, 0xa1, 0, 1700000000000000000, 0);
    assert_int_equal(spanstore_add(ss, &g.row, err, sizeof err), 0);
    fill(NULL, ss, 100, 50, 1700000000000000000);
    assert_int_equal(spanstore_commit(ss, 1, 500, err, sizeof err), 0);
    gen_span(&g, tid, 0xa2, 0xa1, 1700000000100000000, 1);
    assert_int_equal(spanstore_add(ss, &g.row, err, sizeof err), 0);
    fill(NULL, ss, 200, 50, 1700000000000000000);
    gen_span(&g, tid, 0xa3, 0xa2, 1700000060000000000, 2);
    g.row.duration_ns = 777;
    assert_int_equal(spanstore_add(ss, &g.row, err, sizeof err), 0);
    assert_int_equal(spanstore_commit(ss, 1, 900, err, sizeof err), 0);

    struct collect c = { 0 };
    assert_int_equal(spanstore_trace(ss, tid, collect_fn, &c), 3);
    assert_int_equal(c.ids[0], 0xa1);
    assert_int_equal(c.parents[2], 0xa2);
    assert_int_equal(c.durs[2], 777);
    struct spanstore_stats st;
    spanstore_get_stats(ss, &st);
    assert_int_equal(st.spans, 503);
    assert_true(st.blocks >= 6);
    spanstore_close(ss);

    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    uint32_t seg;
    uint64_t off;
    spanstore_cursor(ss, &seg, &off);
    assert_int_equal(seg, 1);
    assert_int_equal(off, 900);
    memset(&c, 0, sizeof c);
    assert_int_equal(spanstore_trace(ss, tid, collect_fn, &c), 3);
    int nsvc = 0, nops = 0;
    spanstore_services(ss, names_fn, &nsvc);
    assert_int_equal(nsvc, 5);
    spanstore_operations(ss, "payment", names_fn, &nops);
    assert_int_equal(nops, 1);
    uint8_t unknown[16] = { 9 };
    assert_int_equal(spanstore_trace(ss, unknown, collect_fn, &c), 0);

    /* search: service + operation + tag + duration */
    uint8_t ids[16 * 20];
    struct spanstore_tag tag = { "region", "eu-west-1" };
    struct spanstore_query q = { .service = "payment",
                                 .operation = "charge",
                                 .tags = &tag,
                                 .ntags = 1,
                                 .start_ns = 0,
                                 .end_ns = INT64_MAX,
                                 .limit = 20 };
    assert_int_equal(spanstore_search(ss, &q, ids), 20);
    q.min_duration_ns = 700;
    q.max_duration_ns = 800;
    assert_int_equal(spanstore_search(ss, &q, ids), 1);
    assert_memory_equal(ids, tid, 16);
    q.max_duration_ns = 0;
    q.min_duration_ns = 0;
    tag.value = "us-east-1";
    assert_int_equal(spanstore_search(ss, &q, ids), 0);
    tag.key = "http.status_code";
    tag.value = "200";
    q.service = "frontend";
    q.operation = NULL;
    assert_true(spanstore_search(ss, &q, ids) > 0);
    q.service = "nope";
    assert_int_equal(spanstore_search(ss, &q, ids), 0);
    assert_int_equal(pr.n, 0);
    spanstore_close(ss);
    rm_rf(dir);
}

/* Blocks written after the last commit are cut at reopen: the indexer
 * re-reads the record log from the committed cursor. */
static void test_span_store_uncommitted_cut(void **state)
{
    (void)state;
    char dir[256], err[512];
    struct spanstore *ss;
    struct spanstore_options o = { 0 };
    o.block_spans = 50;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstore"), 0);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    fill(NULL, ss, 1, 20, 1700000000000000000);
    assert_int_equal(spanstore_commit(ss, 3, 1234, err, sizeof err), 0);
    fill(NULL, ss, 500, 40, 1700000000000000000); /* 200 spans: 4 blocks, no commit */
    struct spanstore_stats st;
    spanstore_get_stats(ss, &st);
    assert_int_equal(st.spans, 300);
    spanstore_close(ss);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    spanstore_get_stats(ss, &st);
    assert_int_equal(st.spans, 100);
    uint8_t tid[16];
    struct collect c = { 0 };
    trace_id_of(510, tid);
    assert_int_equal(spanstore_trace(ss, tid, collect_fn, &c), 0);
    trace_id_of(5, tid);
    assert_int_equal(spanstore_trace(ss, tid, collect_fn, &c), 5);
    uint32_t seg;
    uint64_t off;
    spanstore_cursor(ss, &seg, &off);
    assert_int_equal(seg, 3);
    assert_int_equal(off, 1234);
    spanstore_close(ss);
    rm_rf(dir);
}

static void test_span_store_damaged_block(void **state)
{
    (void)state;
    char dir[256], err[512], path[512];
    struct spanstore *ss;
    struct spanstore_options o = { 0 };
    struct probs pr = { 0 };
    o.block_spans = 50;
    o.problem = on_problem;
    o.problem_arg = &pr;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstore"), 0);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    fill(NULL, ss, 1, 30, 1700000000000000000); /* 3 blocks */
    assert_int_equal(spanstore_commit(ss, 1, 1, err, sizeof err), 0);
    spanstore_close(ss);

    /* flip a byte in the middle of the file: inside the second block's body
     * or header */
    snprintf(path, sizeof path, "%s/00000001.seg", dir);
    int fd = open(path, O_RDWR);
    struct stat sb;
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    uint8_t b;
    off_t at = sb.st_size - 20; /* the last block's body */
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);

    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    uint8_t tid[16];
    struct collect c = { 0 };
    trace_id_of(29, tid); /* in the last block */
    assert_int_equal(spanstore_trace(ss, tid, collect_fn, &c), 0);
    assert_true(pr.n >= 1);
    assert_non_null(strstr(pr.last, "00000001.seg"));
    assert_non_null(strstr(pr.last, "CRC"));
    trace_id_of(0 + 1, tid);
    assert_int_equal(spanstore_trace(ss, tid, collect_fn, &c), 5);
    spanstore_close(ss);

    /* a damaged header: the rest of the segment is skipped at open, and new
     * blocks go to a new segment */
    fd = open(path, O_RDWR);
    assert_int_equal(pread(fd, &b, 1, 10), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(fd, &b, 1, 10), 1);
    close(fd);
    pr.n = 0;
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    assert_int_equal(pr.n, 1);
    assert_non_null(strstr(pr.last, "00000001.seg@0"));
    fill(NULL, ss, 900, 10, 1700000000000000000);
    assert_int_equal(spanstore_commit(ss, 1, 2, err, sizeof err), 0);
    spanstore_close(ss);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    trace_id_of(905, tid);
    memset(&c, 0, sizeof c);
    assert_int_equal(spanstore_trace(ss, tid, collect_fn, &c), 5);
    spanstore_close(ss);
    rm_rf(dir);
}

static void test_span_store_retention(void **state)
{
    (void)state;
    char dir[256], err[512];
    struct spanstore *ss;
    struct spanstore_options o = { 0 };
    struct spanstore_stats st;
    o.block_spans = 50;
    o.segment_bytes = 4096;
    o.retention_bytes = 12000;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstore"), 0);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    fill(NULL, ss, 1, 200, 1700000000000000000);
    assert_int_equal(spanstore_commit(ss, 1, 1, err, sizeof err), 0);
    spanstore_get_stats(ss, &st);
    assert_true(st.segments > 4);
    int removed = spanstore_retain(ss, 1700000000000000000, err, sizeof err);
    assert_true(removed > 0);
    spanstore_get_stats(ss, &st);
    assert_true(st.bytes <= 12000);
    uint8_t tid[16];
    struct collect c = { 0 };
    trace_id_of(1, tid);
    assert_int_equal(spanstore_trace(ss, tid, collect_fn, &c), 0);
    trace_id_of(200, tid);
    assert_int_equal(spanstore_trace(ss, tid, collect_fn, &c), 5);
    /* by age: everything but the open segment is older than a day */
    o.retention_bytes = 0;
    spanstore_close(ss);
    o.retention_ms = 86400000;
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    removed = spanstore_retain(ss, 1700000000000000000 + 2 * 86400000000000ll, err, sizeof err);
    assert_true(removed > 0);
    spanstore_get_stats(ss, &st);
    assert_int_equal(st.segments, 1);
    spanstore_close(ss);
    rm_rf(dir);
}

static void test_span_store_dedup_and_rebuild(void **state)
{
    (void)state;
    char dir[256], err[512], path[512];
    struct spanstore *ss;
    struct probs pr = { 0 };
    struct spanstore_options o = { 0 };
    o.problem = on_problem;
    o.problem_arg = &pr;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstore"), 0);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    assert_int_equal(spanstore_batch_seen(ss, 5, 0, 10), 0);
    assert_int_equal(spanstore_batch_seen(ss, 5, 10, 10), 0);
    assert_int_equal(spanstore_batch_seen(ss, 5, 10, 10), 1);
    assert_int_equal(spanstore_batch_seen(ss, 6, 10, 10), 0);
    fill(NULL, ss, 1, 5, 1700000000000000000);
    assert_int_equal(spanstore_commit(ss, 2, 77, err, sizeof err), 0);
    spanstore_close(ss);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    assert_int_equal(spanstore_batch_seen(ss, 5, 0, 10), 1);
    assert_int_equal(spanstore_batch_seen(ss, 5, 20, 1), 0);
    spanstore_close(ss);

    /* the segment lost: start over from the record log's beginning */
    snprintf(path, sizeof path, "%s/00000001.seg", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    assert_int_equal(pr.n, 1);
    uint32_t seg;
    uint64_t off;
    spanstore_cursor(ss, &seg, &off);
    assert_int_equal(seg, 0);
    assert_int_equal(off, 0);
    assert_int_equal(spanstore_batch_seen(ss, 5, 0, 10), 0);
    spanstore_close(ss);

    /* a damaged state file is refused with a message naming it */
    snprintf(path, sizeof path, "%s/state", dir);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fputc('X', f);
    fclose(f);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "state"));
    rm_rf(dir);
}

/* The tags the Jaeger API shows from a span's kind and status (error,
 * span.kind, otel.status_code, otel.status_description) are searchable
 * although they are not attributes (nor in the blocks' Bloom filters). */
static void test_span_store_derived_tags(void **state)
{
    (void)state;
    char dir[256], err[512];
    struct spanstore *ss;
    struct spanstore_options o = { 0 };
    struct probs pr = { 0 };
    o.block_spans = 4;
    o.problem = on_problem;
    o.problem_arg = &pr;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstore"), 0);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    /* trace n: one "cart" span, kind n % 5, status n % 3, a message on n == 4 */
    for (int n = 0; n < 10; n++) {
        uint8_t tid[16];
        struct gen g;
        trace_id_of(1000 + (uint64_t)n, tid);
        gen_span(&g, tid, 0x100 + (uint64_t)n, 0, 1700000000000000000 + n * 1000000, 3);
        g.row.nattrs = 2; /* no span.kind attribute: only the derived one */
        g.row.kind = (uint8_t)(n % 5);
        g.row.status = (uint8_t)(n % 3);
        if (n == 4)
            g.row.status_message = S("disk full");
        assert_int_equal(spanstore_add(ss, &g.row, err, sizeof err), 0);
    }
    assert_int_equal(spanstore_commit(ss, 1, 100, err, sizeof err), 0);
    uint8_t ids[16 * 20], want[16];
    struct spanstore_tag tag = { "error", "true" };
    struct spanstore_query q = {
        .service = "cart", .tags = &tag, .ntags = 1, .end_ns = INT64_MAX, .limit = 20
    };
    assert_int_equal(spanstore_search(ss, &q, ids), 3); /* n = 2, 5, 8 */
    tag.value = "false";
    assert_int_equal(spanstore_search(ss, &q, ids), 0);
    tag.key = "span.kind";
    tag.value = "consumer";
    assert_int_equal(spanstore_search(ss, &q, ids), 2); /* n = 4, 9 */
    tag.value = "internal";
    assert_int_equal(spanstore_search(ss, &q, ids), 2); /* n = 0, 5 */
    tag.key = "otel.status_code";
    tag.value = "OK";
    assert_int_equal(spanstore_search(ss, &q, ids), 3); /* n = 1, 4, 7 */
    tag.value = "ERROR";
    assert_int_equal(spanstore_search(ss, &q, ids), 3);
    tag.key = "otel.status_description";
    tag.value = "disk full";
    assert_int_equal(spanstore_search(ss, &q, ids), 1);
    trace_id_of(1004, want);
    assert_memory_equal(ids, want, 16);
    /* with an attribute in the same query */
    struct spanstore_tag two[2] = { { "span.kind", "server" }, { "http.method", "POST" } };
    q.tags = two;
    q.ntags = 2;
    assert_int_equal(spanstore_search(ss, &q, ids), 2); /* n = 1, 6 */
    two[1].value = "GET";
    assert_int_equal(spanstore_search(ss, &q, ids), 0);
    assert_int_equal(pr.n, 0);
    spanstore_close(ss);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_span_block_roundtrip),
           cmocka_unit_test(test_span_block_hlc_roundtrip),
           cmocka_unit_test(test_span_block_v1_still_reads),
           cmocka_unit_test(test_span_block_bytes_per_span),
           cmocka_unit_test(test_span_store_trace_and_reopen),
           cmocka_unit_test(test_span_store_uncommitted_cut),
           cmocka_unit_test(test_span_store_damaged_block),
           cmocka_unit_test(test_span_store_retention),
           cmocka_unit_test(test_span_store_dedup_and_rebuild),
           cmocka_unit_test(test_span_store_derived_tags))
