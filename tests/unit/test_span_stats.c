/*
 * test_span_stats.c - span analytics over a real span store: latency stats
 * over windows wholly inside the data, straddling block edges and empty,
 * compared with sketches built from the matching spans directly (a merge
 * equals the sketch of the union, so they must be identical); summary
 * sidecars missing or damaged are reported and rebuilt; the slowest spans
 * (pruned by the blocks' longest duration) and traces against brute force.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/sketch.h"
#include "store/spans/spanstats.h"
#include "store/spans/spanstore.h"
#include "telltale.h"
#include "tmpdir.h"
#include "unit.h"

#define NSPANS 6000
#define T0     1700000000000000000ll
#define STEP   1000000ll /* 1 ms between span starts */

static const char *svcs[] = { "frontend", "checkout", "payment" };
static const char *ops[] = { "GET /", "POST /buy", "charge", "refund" };

struct sp {
    uint8_t tid[16];
    uint64_t id, parent;
    int64_t start;
    uint64_t dur;
    uint8_t status;
    int svc, op;
};

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static struct sp spans[NSPANS];
static int problems;

static void on_problem(void *arg, const char *seg, uint64_t off, const char *what)
{
    (void)arg;
    (void)seg;
    (void)off;
    (void)what;
    problems++;
}

static struct rec_str S(const char *s) {
    struct rec_str r = { s, (uint32_t)strlen(s) };
    return r;
}

/* Traces of 4 spans (a root and three children); every 7th trace has no
 * root stored. Durations are log-spread, a few very long. */
static void
make_spans(void)
{
    for (int i = 0; i < NSPANS; i++) {
        struct sp *s = &spans[i];
        int t = i / 4, k = i % 4;
        memset(s, 0, sizeof *s);
        uint64_t a = (uint64_t)t * 0x9e3779b97f4a7c15ull + 1;
        uint64_t tn = (uint64_t)t;
        memcpy(s->tid, &a, 8);
        memcpy(s->tid + 8, &tn, 8); /* the trace's number, for the checks */
        s->id = (uint64_t)i + 1;
        s->parent = k == 0 ? 0 : (uint64_t)(t * 4) + 1;
        s->start = T0 + (int64_t)i * STEP;
        s->dur = 1000 + rnd() % (k == 0 ? 900000000 : 50000000);
        if (rnd() % 500 == 0)
            s->dur = 5000000000ull + rnd() % 1000000000;
        if (t % 7 == 3 && k == 1) /* the rootless traces: a long child */
            s->dur = 2000000000ull + rnd() % 1000000000;
        s->status = rnd() % 10 == 0 ? TT_STATUS_ERROR : TT_STATUS_OK;
        s->svc = k == 0 ? 0 : 1 + (int)(rnd() % 2);
        s->op = k == 0 ? 0 : 1 + (int)(rnd() % 3);
    }
}

static int stored(int i)
{
    return !(spans[i].parent == 0 && (i / 4) % 7 == 3);
}

static void to_row(const struct sp *s, struct span_row *r)
{
    memset(r, 0, sizeof *r);
    memcpy(r->trace_id, s->tid, 16);
    r->span_id = s->id;
    r->parent_id = s->parent;
    r->start_ns = s->start;
    r->duration_ns = s->dur;
    r->status = s->status;
    r->service = S(svcs[s->svc]);
    r->node = S("node-1");
    r->name = S(ops[s->op]);
}

static struct spanstore *open_store(const char *dir)
{
    struct spanstore_options o;
    struct spanstore *ss = NULL;
    char err[256];
    memset(&o, 0, sizeof o);
    o.block_spans = 250;
    o.segment_bytes = 64 << 10; /* several segments */
    o.problem = on_problem;
    int rc = spanstore_open(&ss, dir, &o, err, sizeof err);
    if (rc != 0)
        fail_msg("open: %s", err);
    return ss;
}

static struct spanstore *fill_store(const char *dir)
{
    struct spanstore *ss = open_store(dir);
    char err[256];
    make_spans();
    for (int i = 0; i < NSPANS; i++) {
        struct span_row r;
        if (!stored(i))
            continue;
        to_row(&spans[i], &r);
        assert_int_equal(spanstore_add(ss, &r, err, sizeof err), 0);
    }
    assert_int_equal(spanstore_commit(ss, 1, 100, err, sizeof err), 0);
    return ss;
}

/* check_stats compares spanstats_latency with sketches built from the
 * matching spans; returns the result's block counters through the args. */
static size_t dense_max; /* 0: the default; small: rows fall back to sparse merges */

static void check_stats(struct spanstore *ss, const struct spanstats_query *q, uint64_t *summ,
                        uint64_t *dec)
{
    struct spanstats_result res;
    struct sketch want[3][4];
    uint64_t werr[3][4];
    spanstats_result_init(&res);
    res.dense_max = dense_max;
    assert_int_equal(spanstats_latency(ss, q, &res), 0);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++) {
            sketch_init(&want[a][b]);
            werr[a][b] = 0;
        }
    for (int i = 0; i < NSPANS; i++) {
        const struct sp *s = &spans[i];
        if (!stored(i) || s->start < q->start_ns || s->start > q->end_ns)
            continue;
        if (q->service != NULL && strcmp(q->service, svcs[s->svc]) != 0)
            continue;
        if (q->operation != NULL && strcmp(q->operation, ops[s->op]) != 0)
            continue;
        int o = q->by_operation ? s->op : 0;
        assert_int_equal(sketch_add(&want[s->svc][o], s->dur), 0);
        werr[s->svc][o] += s->status == TT_STATUS_ERROR;
    }
    size_t rows = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++) {
            if (want[a][b].count == 0)
                continue;
            const struct spanstats_row *r = NULL;
            for (size_t k = 0; k < res.n; k++)
                if (strcmp(res.rows[k].service, svcs[a]) == 0 &&
                    (!q->by_operation || strcmp(res.rows[k].operation, ops[b]) == 0))
                    r = &res.rows[k];
            if (r == NULL)
                fail_msg("no row for %s/%s", svcs[a], ops[b]);
            if (!q->by_operation)
                assert_null(r->operation);
            assert_int_equal(r->sk.count, want[a][b].count);
            assert_int_equal(r->sk.sum, want[a][b].sum);
            assert_int_equal(r->sk.min, want[a][b].min);
            assert_int_equal(r->sk.max, want[a][b].max);
            assert_int_equal(r->errors, werr[a][b]);
            for (int p = 0; p <= 1000; p += 50)
                assert_int_equal(sketch_quantile(&r->sk, p / 1000.0),
                                 sketch_quantile(&want[a][b], p / 1000.0));
            rows++;
        }
    assert_int_equal(res.n, rows);
    for (size_t k = 1; k < res.n; k++) /* sorted */
        assert_true(strcmp(res.rows[k - 1].service, res.rows[k].service) <= 0);
    if (summ != NULL)
        *summ = res.blocks_summarised;
    if (dec != NULL)
        *dec = res.blocks_decoded;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++)
            sketch_release(&want[a][b]);
    spanstats_result_release(&res);
}

static struct spanstats_query Q(const char *svc, const char *op, int64_t a, int64_t b, int by) {
    struct spanstats_query q = { svc, op, a, b, by };
    return q;
}

static void
windows(void)
{
    char dir[64];
    uint64_t summ, dec;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstats"), 0);
    struct spanstore *ss = fill_store(dir);
    /* everything: all blocks summarised, none decoded */
    struct spanstats_query q = Q(NULL, NULL, INT64_MIN, INT64_MAX, 1);
    check_stats(ss, &q, &summ, &dec);
    assert_true(summ > 10);
    assert_int_equal(dec, 0);
    q.by_operation = 0;
    check_stats(ss, &q, NULL, NULL);
    /* straddling both edges: the middle summarised, the edges decoded */
    q = Q(NULL, NULL, T0 + 1234 * STEP + 17, T0 + 4321 * STEP - 5, 1);
    check_stats(ss, &q, &summ, &dec);
    assert_true(summ > 5);
    assert_int_equal(dec, 2);
    /* inside one block */
    q = Q(NULL, NULL, T0 + 10 * STEP, T0 + 20 * STEP, 1);
    check_stats(ss, &q, &summ, &dec);
    assert_int_equal(summ, 0);
    assert_int_equal(dec, 1);
    /* filters */
    q = Q("checkout", NULL, T0 + 500 * STEP, T0 + 5000 * STEP, 1);
    check_stats(ss, &q, NULL, NULL);
    q = Q("payment", "refund", INT64_MIN, INT64_MAX, 0);
    check_stats(ss, &q, NULL, NULL);
    /* empty: before the data, an unknown service, an unknown operation */
    struct spanstats_result res;
    const struct spanstats_query empty[] = {
        Q(NULL, NULL, 0, T0 - 1, 1),
        Q("nope", NULL, INT64_MIN, INT64_MAX, 1),
        Q("frontend", "POST /buy", INT64_MIN, INT64_MAX, 1),
    };
    for (size_t i = 0; i < 3; i++) {
        spanstats_result_init(&res);
        assert_int_equal(spanstats_latency(ss, &empty[i], &res), 0);
        assert_int_equal(res.n, 0);
        spanstats_result_release(&res);
    }
    assert_int_equal(problems, 0);
    spanstore_close(ss);
    rm_rf(dir);
}

static void test_span_stats_windows(void **state)
{
    (void)state;
    dense_max = 0;
    windows();
    /* rows past the memory cap merge sparse sketches: the same answers */
    dense_max = 40000;
    windows();
    dense_max = 1;
    windows();
    dense_max = 0;
}

static void sum_file(const char *dir, int n, char *out, size_t len)
{
    snprintf(out, len, "%s/%08d.sum", dir, n);
}

static void test_span_stats_sidecar_rebuilt(void **state)
{
    (void)state;
    char dir[64], path[128];
    struct stat sb;
    struct spanstats_query all = Q(NULL, NULL, INT64_MIN, INT64_MAX, 1);
    uint64_t summ, dec;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstats"), 0);
    struct spanstore *ss = fill_store(dir);
    spanstore_close(ss);
    /* missing: reported, rebuilt, same answers, and fine at the next open */
    sum_file(dir, 1, path, sizeof path);
    assert_int_equal(stat(path, &sb), 0);
    off_t orig = sb.st_size;
    assert_int_equal(unlink(path), 0);
    problems = 0;
    ss = open_store(dir);
    assert_int_equal(problems, 1);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, orig);
    check_stats(ss, &all, &summ, &dec);
    assert_int_equal(dec, 0);
    spanstore_close(ss);
    problems = 0;
    ss = open_store(dir);
    assert_int_equal(problems, 0);
    spanstore_close(ss);
    /* damaged in the middle of segment 2's file */
    sum_file(dir, 2, path, sizeof path);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, sb.st_size / 2), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, sb.st_size / 2), 1);
    close(fd);
    problems = 0;
    ss = open_store(dir);
    assert_int_equal(problems, 1);
    check_stats(ss, &all, &summ, &dec);
    assert_int_equal(dec, 0);
    spanstore_close(ss);
    /* records past the committed data (a crash after writing them) are cut
     * silently; a record naming another block makes a rebuild */
    sum_file(dir, 1, path, sizeof path);
    assert_int_equal(stat(path, &sb), 0);
    orig = sb.st_size;
    fd = open(path, O_RDWR | O_APPEND);
    assert_true(fd >= 0);
    uint8_t junk[64];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    problems = 0;
    ss = open_store(dir);
    assert_int_equal(problems, 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, orig);
    check_stats(ss, &all, NULL, NULL);
    spanstore_close(ss);
    rm_rf(dir);
}

static int cmp_dur_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void check_slowest(struct spanstore *ss, const struct spanstats_slow_query *q,
                          uint64_t *visited)
{
    uint64_t want[NSPANS];
    size_t nw = 0, n;
    struct spanstats_span *got;
    for (int i = 0; i < NSPANS; i++) {
        const struct sp *s = &spans[i];
        if (!stored(i) || s->start < q->start_ns || s->start > q->end_ns)
            continue;
        if (q->service != NULL && strcmp(q->service, svcs[s->svc]) != 0)
            continue;
        if (q->operation != NULL && strcmp(q->operation, ops[s->op]) != 0)
            continue;
        want[nw++] = s->dur;
    }
    qsort(want, nw, sizeof *want, cmp_dur_desc);
    assert_int_equal(spanstats_slowest_spans(ss, q, &got, &n, visited), 0);
    assert_int_equal(n, nw < q->limit ? nw : q->limit);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i].duration_ns, want[i]);
        /* a real span with its fields */
        const struct sp *s = &spans[got[i].span_id - 1];
        assert_int_equal(s->dur, got[i].duration_ns);
        assert_int_equal(s->start, got[i].start_ns);
        assert_memory_equal(s->tid, got[i].trace_id, 16);
        assert_string_equal(svcs[s->svc], got[i].service);
        assert_string_equal(ops[s->op], got[i].operation);
    }
    spanstats_spans_free(got, n);
}

static void test_span_stats_slowest_spans(void **state)
{
    (void)state;
    char dir[64];
    uint64_t visited;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstats"), 0);
    struct spanstore *ss = fill_store(dir);
    struct spanstore_stats st;
    spanstore_get_stats(ss, &st);
    struct spanstats_slow_query q = { NULL, NULL, INT64_MIN, INT64_MAX, 5 };
    check_slowest(ss, &q, &visited);
    assert_true(visited < st.blocks); /* pruned */
    for (size_t lim = 1; lim <= 200; lim *= 3) {
        q.limit = lim;
        check_slowest(ss, &q, NULL);
    }
    struct spanstats_slow_query more[] = {
        { "checkout", NULL, INT64_MIN, INT64_MAX, 10 },
        { "payment", "refund", T0 + 700 * STEP, T0 + 3000 * STEP, 7 },
        { NULL, NULL, T0 + 100 * STEP + 3, T0 + 100 * STEP + 3, 3 },
        { NULL, NULL, T0 + 100 * STEP, T0 + 100 * STEP, 3 },
        { "nope", NULL, INT64_MIN, INT64_MAX, 3 },
        { NULL, NULL, INT64_MIN, INT64_MAX, 10000 },
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        check_slowest(ss, &more[i], NULL);
    spanstore_close(ss);
    rm_rf(dir);
}

struct bt {
    uint64_t dur;
    int by_root, match;
    int64_t first, last;
};

static void test_span_stats_slowest_traces(void **state)
{
    (void)state;
    char dir[64];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanstats"), 0);
    struct spanstore *ss = fill_store(dir);
    const struct spanstats_slow_query qs[] = {
        { NULL, NULL, INT64_MIN, INT64_MAX, 300 },
        { "payment", "charge", T0 + 1000 * STEP, T0 + 2000 * STEP + 1, 12 },
        { NULL, NULL, T0 + 4 * 700 * STEP + STEP, T0 + 4 * 720 * STEP, 50 },
    };
    for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
        const struct spanstats_slow_query *q = &qs[qi];
        static struct bt bt[NSPANS / 4];
        memset(bt, 0, sizeof bt);
        for (int t = 0; t < NSPANS / 4; t++) {
            bt[t].first = INT64_MAX;
            bt[t].last = INT64_MIN;
        }
        for (int i = 0; i < NSPANS; i++) {
            const struct sp *s = &spans[i];
            struct bt *b = &bt[i / 4];
            if (!stored(i) || s->start < q->start_ns || s->start > q->end_ns)
                continue;
            if ((q->service == NULL || strcmp(q->service, svcs[s->svc]) == 0) &&
                (q->operation == NULL || strcmp(q->operation, ops[s->op]) == 0))
                b->match = 1;
            if (s->start < b->first)
                b->first = s->start;
            if (s->start + (int64_t)s->dur > b->last)
                b->last = s->start + (int64_t)s->dur;
            if (s->parent == 0) {
                b->by_root = 1;
                b->dur = s->dur;
            }
        }
        uint64_t want[NSPANS / 4];
        size_t nw = 0, n;
        for (int t = 0; t < NSPANS / 4; t++) {
            if (!bt[t].match)
                continue;
            want[nw++] = bt[t].by_root ? bt[t].dur : (uint64_t)(bt[t].last - bt[t].first);
        }
        qsort(want, nw, sizeof *want, cmp_dur_desc);
        struct spanstats_trace *got;
        assert_int_equal(spanstats_slowest_traces(ss, q, &got, &n), 0);
        assert_int_equal(n, nw < q->limit ? nw : q->limit);
        int roots = 0, extents = 0;
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(got[i].duration_ns, want[i]);
            uint64_t tn;
            memcpy(&tn, got[i].trace_id + 8, 8);
            assert_true(tn < NSPANS / 4);
            int t = (int)tn;
            assert_int_equal(got[i].by_root, bt[t].by_root);
            if (got[i].by_root) {
                assert_string_equal(got[i].service, "frontend");
                roots++;
            } else {
                extents++;
            }
        }
        if (qi == 0)
            assert_true(roots > 0 && extents > 0); /* both kinds are ranked */
        spanstats_traces_free(got, n);
    }
    spanstore_close(ss);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_span_stats_windows),
           cmocka_unit_test(test_span_stats_sidecar_rebuilt),
           cmocka_unit_test(test_span_stats_slowest_spans),
           cmocka_unit_test(test_span_stats_slowest_traces))
