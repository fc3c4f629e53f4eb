/*
 * test_head.c - the TSDB head: append/commit/query round trips with matchers,
 * commit visibility and rollback, the out-of-order window, duplicates,
 * restart and truncation (replay gives identical results), kill -9 during
 * commits, writers and readers at once, and the memory and speed figures.
 */
#include <dirent.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "core/buf.h"
#include "store/tsdb/chunk.h"
#include "store/tsdb/head.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif
/* Full-size figures only where they are meaningful and fast. */
#if defined(__OPTIMIZE__) && !SANITIZED
#define FULL_SIZE 1
#else
#define FULL_SIZE 0
#endif

/* ---- fixtures ----------------------------------------------------------------------- */

static void make_tmpdir(char *dir, size_t len)
{
    assert_int_equal(tmpdir_make(dir, len, "head"), 0);
}

static struct head *open_head(const char *dir, int sync)
{
    struct head_options o;
    struct head *h = NULL;
    char err[256] = "";
    head_options_default(&o);
    o.wal.sync = sync;
    int rc = head_open(&h, dir, &o, NULL, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "head_open: %s\n", err);
    assert_int_equal(rc, 0);
    return h;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A label set built from "name", "value", ... pairs (borrowed strings). */
static void mk_labels(struct labels *ls, const char *const *kv, size_t n)
{
    labels_reset(ls);
    for (size_t i = 0; i + 1 < n; i += 2)
        assert_int_equal(labels_push(ls, kv[i], kv[i + 1]), 0);
}

static int add_kv(struct head_appender *a, const char *name, const char *job, int64_t t, double v)
{
    struct labels ls;
    labels_init(&ls);
    /* Deliberately unsorted: the head normalizes. */
    const char *kv[] = { "job", job, LABELS_METRIC_NAME, name };
    mk_labels(&ls, kv, 4);
    int rc = head_appender_add(a, &ls, t, v, NULL);
    labels_release(&ls);
    return rc;
}

static struct matcher *mm(enum matcher_type t, const char *n, const char *v)
{
    struct matcher *m = NULL;
    assert_int_equal(matcher_new(&m, t, n, v, 0, NULL, 0), 0);
    return m;
}

struct got {
    size_t n;
    int64_t t[20000];
    uint64_t bits[20000];
};

/* collect reads every sample of the series that has __name__=name (and
 * job=job when not NULL) in [mint, maxt]; returns the number of series. */
static size_t collect_how(struct head *h, const char *name, const char *job, int64_t mint,
                          int64_t maxt, struct got *g, int runs);

static size_t collect(struct head *h, const char *name, const char *job, int64_t mint, int64_t maxt,
                      struct got *g)
{
    return collect_how(h, name, job, mint, maxt, g, 0);
}

/* collect_how is collect reading with head_iter_next (runs 0), with
 * head_iter_next_run (1), or alternating the two (2). */
static size_t collect_how(struct head *h, const char *name, const char *job, int64_t mint,
                          int64_t maxt, struct got *g, int runs)
{
    struct head_querier *q;
    struct head_series_set *ss;
    struct matcher *ms[2] = { mm(MATCH_EQ, LABELS_METRIC_NAME, name), NULL };
    size_t nms = 1;
    if (job != NULL)
        ms[nms++] = mm(MATCH_EQ, "job", job);
    assert_int_equal(head_querier_new(h, mint, maxt, &q), 0);
    assert_int_equal(head_querier_select(q, ms, nms, &ss), 0);
    g->n = 0;
    size_t nser = head_series_set_count(ss);
    for (size_t i = 0; i < nser; i++) {
        struct head_iter it;
        int rc = 0;
        assert_int_equal(head_iter_init(&it, ss, i), 0);
        for (int k = 0;; k++) {
            if (runs == 1 || (runs == 2 && k % 2 == 1)) {
                const int64_t *ts;
                const double *vs;
                long n = head_iter_next_run(&it, &ts, &vs);
                assert_true(n >= 0);
                rc = n > 0;
                if (n == 0)
                    break;
                for (long j = 0; j < n; j++) {
                    assert_true(g->n < 20000);
                    g->t[g->n] = ts[j];
                    g->bits[g->n++] = f64_bits(vs[j]);
                }
                assert_int_equal(it.t, ts[n - 1]);
                continue;
            }
            if ((rc = head_iter_next(&it)) != 1)
                break;
            assert_true(g->n < 20000);
            g->t[g->n] = it.t;
            g->bits[g->n++] = f64_bits(it.v);
        }
        assert_int_equal(rc, 0);
        head_iter_release(&it);
    }
    head_series_set_free(ss);
    head_querier_free(q);
    for (size_t i = 0; i < nms; i++)
        matcher_free(ms[i]);
    return nser;
}

/* ---- round trips ---------------------------------------------------------------------- */

static void test_roundtrip_matchers(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct head *h = open_head(dir, WAL_SYNC_INTERVAL);
    struct head_appender *a;
    assert_int_equal(head_appender_new(h, &a), 0);
    const char *jobs[] = { "api", "db", "web" };
    /* 3 jobs x 2 metrics x 1000 samples at 10 s: crosses 120-sample cuts and
     * 2 h range boundaries. */
    for (int i = 0; i < 1000; i++) {
        for (int j = 0; j < 3; j++) {
            assert_int_equal(add_kv(a, "up", jobs[j], i * 10000, j), 0);
            assert_int_equal(add_kv(a, "req_total", jobs[j], i * 10000, i * (j + 1) + 0.5), 0);
        }
        if (i % 100 == 99)
            assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    }
    head_appender_free(a);

    struct got *g = malloc(sizeof *g);
    assert_int_equal(collect(h, "req_total", "db", INT64_MIN, INT64_MAX, g), 1);
    assert_int_equal(g->n, 1000);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(g->t[i], i * 10000);
        assert_true(f64_from_bits(g->bits[i]) == i * 2 + 0.5);
    }
    /* A window: inclusive ends. */
    assert_int_equal(collect(h, "up", NULL, 50000, 100000, g), 3);
    assert_int_equal(g->n, 3 * 6);
    assert_int_equal(g->t[0], 50000);
    assert_int_equal(g->t[5], 100000);

    /* Regex and negative matchers; the set is sorted by labels. */
    struct head_querier *q;
    struct head_series_set *ss;
    struct matcher *ms[2] = { mm(MATCH_RE, "job", "a.*|w.b"), mm(MATCH_NEQ, "__name__", "up") };
    assert_int_equal(head_querier_new(h, 0, 1000, &q), 0);
    assert_int_equal(head_querier_select(q, ms, 2, &ss), 0);
    assert_int_equal(head_series_set_count(ss), 2);
    struct wbuf b;
    wbuf_init(&b, 0);
    labels_format(head_series_set_labels(ss, 0), &b);
    wbuf_put_u8(&b, '|');
    labels_format(head_series_set_labels(ss, 1), &b);
    wbuf_put_u8(&b, 0);
    assert_string_equal(
        (char *)b.data,
        "{__name__=\"req_total\",job=\"api\"}|{__name__=\"req_total\",job=\"web\"}");
    wbuf_release(&b);

    /* seek: forward only, stays put, past the end. */
    struct head_iter it;
    assert_int_equal(head_iter_init(&it, ss, 1), 0);
    assert_int_equal(head_iter_seek(&it, 333), 0); /* the querier's range ends at 1000 */
    head_iter_release(&it);
    head_series_set_free(ss);
    head_querier_free(q);
    assert_int_equal(head_querier_new(h, INT64_MIN, INT64_MAX, &q), 0);
    assert_int_equal(head_querier_select(q, ms, 1, &ss), 0);
    assert_int_equal(head_series_set_count(ss), 4);
    assert_int_equal(head_iter_init(&it, ss, 0), 0);
    assert_int_equal(head_iter_seek(&it, 4000001), 1);
    assert_int_equal(it.t, 4010000);
    assert_int_equal(head_iter_seek(&it, 4005000), 1); /* stays */
    assert_int_equal(it.t, 4010000);
    assert_int_equal(head_iter_next(&it), 1);
    assert_int_equal(it.t, 4020000);
    assert_int_equal(head_iter_seek(&it, 9990000), 1);
    assert_int_equal(it.t, 9990000);
    assert_int_equal(head_iter_next(&it), 0);
    assert_int_equal(head_iter_seek(&it, 0), 0);
    head_iter_release(&it);
    head_series_set_free(ss);

    /* Label listing delegates to the index. */
    struct index_strs names, vals;
    assert_int_equal(head_querier_label_names(q, NULL, 0, &names), 0);
    assert_int_equal(names.n, 2);
    assert_string_equal(names.v[0], "__name__");
    assert_int_equal(head_querier_label_values(q, "job", ms + 1, 1, &vals), 0);
    assert_int_equal(vals.n, 3);
    assert_string_equal(vals.v[2], "web");
    index_strs_release(&names);
    index_strs_release(&vals);
    head_querier_free(q);
    matcher_free(ms[0]);
    matcher_free(ms[1]);

    struct head_stats st;
    head_stats(h, &st);
    assert_int_equal(st.series, 6);
    assert_int_equal(st.samples_appended, 6000);
    assert_int_equal(st.commits, 10);
    assert_int_equal(st.min_t, 0);
    assert_int_equal(st.max_t, 9990000);
    assert_true(st.chunks >= 6 * 2); /* 2.8 h: two chunk ranges, one sealed chunk each */
    assert_true(st.memory_bytes > st.index_bytes);
    free(g);
    assert_int_equal(head_close(h), 0);
    rm_rf(dir);
}

static void test_visibility_rollback(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct head *h = open_head(dir, WAL_SYNC_BATCH);
    struct head_appender *a;
    struct got *g = malloc(sizeof *g);
    assert_int_equal(head_appender_new(h, &a), 0);
    head_ref ref = 0;
    struct labels ls;
    labels_init(&ls);
    const char *kv[] = { "__name__", "x", "empty", "" };
    mk_labels(&ls, kv, 4);
    assert_int_equal(head_appender_add(a, &ls, 1000, 1.0, &ref), 0);
    assert_true(ref != 0);
    assert_int_equal(head_appender_add_ref(a, ref, 2000, 2.0), 0);
    assert_int_equal(head_appender_pending(a), 2);
    /* Not committed: not visible (the series exists but has no samples). */
    assert_int_equal(collect(h, "x", NULL, INT64_MIN, INT64_MAX, g), 0);
    head_appender_rollback(a);
    assert_int_equal(head_appender_pending(a), 0);
    assert_int_equal(collect(h, "x", NULL, INT64_MIN, INT64_MAX, g), 0);

    /* Errors leave the batch as it was. */
    assert_int_equal(head_appender_add_ref(a, ref, 3000, 3.0), 0);
    assert_int_equal(head_appender_add_ref(a, 999999, 3000, 3.0), TT_ENOTFOUND);
    const char *bad[] = { "a", "1", "a", "2" };
    mk_labels(&ls, bad, 4);
    assert_int_equal(head_appender_add(a, &ls, 3000, 1, NULL), TT_EINVAL);
    const char *none[] = { "a", "" };
    mk_labels(&ls, none, 2);
    assert_int_equal(head_appender_add(a, &ls, 3000, 1, NULL), TT_EINVAL);
    assert_int_equal(head_appender_pending(a), 1);
    struct head_commit_result r;
    assert_int_equal(head_appender_commit(a, &r, NULL, 0), 0);
    assert_int_equal(r.appended, 1);
    assert_int_equal(r.new_series, 1);
    assert_int_equal(collect(h, "x", NULL, INT64_MIN, INT64_MAX, g), 1);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->t[0], 3000);
    /* The rolled-back samples never come back, not after a restart either. */
    head_appender_free(a);
    assert_int_equal(head_close(h), 0);
    h = open_head(dir, WAL_SYNC_BATCH);
    assert_int_equal(collect(h, "x", NULL, INT64_MIN, INT64_MAX, g), 1);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->t[0], 3000);
    /* The ref fast path works on the reopened head through a labels lookup. */
    assert_int_equal(head_appender_new(h, &a), 0);
    const char *kv2[] = { "__name__", "x" };
    mk_labels(&ls, kv2, 2);
    head_ref ref2 = 0;
    assert_int_equal(head_appender_add(a, &ls, 4000, 4.0, &ref2), 0);
    assert_int_equal(head_appender_add_ref(a, ref2, 5000, 5.0), 0);
    assert_int_equal(head_appender_commit(a, &r, NULL, 0), 0);
    assert_int_equal(r.appended, 2);
    assert_int_equal(r.new_series, 0); /* declared in the replayed WAL */
    assert_int_equal(collect(h, "x", NULL, INT64_MIN, INT64_MAX, g), 1);
    assert_int_equal(g->n, 3);
    head_appender_free(a);
    labels_release(&ls);
    struct head_stats st;
    head_stats(h, &st);
    assert_int_equal(st.rollbacks, 0); /* counted per head: this one is new */
    free(g);
    assert_int_equal(head_close(h), 0);
    rm_rf(dir);
}

/* ---- out of order and duplicates ------------------------------------------------------ */

/* A reference model: a sorted set of (t, bits). */
struct model {
    size_t n;
    int64_t t[5000];
    uint64_t bits[5000];
};

static int model_add(struct model *m, int64_t t, uint64_t bits)
{
    size_t i = 0;
    while (i < m->n && m->t[i] < t)
        i++;
    if (i < m->n && m->t[i] == t)
        return m->bits[i] == bits ? 1 : -1;
    memmove(m->t + i + 1, m->t + i, (m->n - i) * sizeof *m->t);
    memmove(m->bits + i + 1, m->bits + i, (m->n - i) * sizeof *m->bits);
    m->t[i] = t;
    m->bits[i] = bits;
    m->n++;
    return 0;
}

static void check_model(struct head *h, const char *name, const struct model *m)
{
    struct got *g = malloc(sizeof *g);
    collect(h, name, NULL, INT64_MIN, INT64_MAX, g);
    assert_int_equal(g->n, m->n);
    for (size_t i = 0; i < m->n; i++) {
        assert_int_equal(g->t[i], m->t[i]);
        assert_int_equal(g->bits[i], m->bits[i]);
    }
    free(g);
}

static void test_ooo_window_and_duplicates(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct head *h = open_head(dir, WAL_SYNC_INTERVAL);
    struct head_appender *a;
    struct head_commit_result r;
    assert_int_equal(head_appender_new(h, &a), 0);
    struct model *m = calloc(1, sizeof *m);

    for (int i = 0; i < 100; i++) {
        assert_int_equal(add_kv(a, "m", "j", 1000000 + i * 15001, i), 0);
        model_add(m, 1000000 + i * 15001, f64_bits(i));
    }
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    int64_t maxt = 1000000 + 99 * 15001;
    /* Inside the 10 min window: accepted. Exactly at the edge too. */
    assert_int_equal(add_kv(a, "m", "j", maxt - 7, 0.25), 0);
    model_add(m, maxt - 7, f64_bits(0.25));
    assert_int_equal(add_kv(a, "m", "j", maxt - HEAD_DEF_OOO_WINDOW_MS, 0.5), 0);
    model_add(m, maxt - HEAD_DEF_OOO_WINDOW_MS, f64_bits(0.5));
    /* Too old. */
    assert_int_equal(add_kv(a, "m", "j", maxt - HEAD_DEF_OOO_WINDOW_MS - 1, 1), TT_ERANGE);
    assert_int_equal(add_kv(a, "m", "j", INT64_MIN, 1), TT_ERANGE);
    /* Same time as the newest: exact duplicate ignored, other value refused. */
    assert_int_equal(add_kv(a, "m", "j", maxt, 99), 0);
    assert_int_equal(add_kv(a, "m", "j", maxt, 98), TT_EEXIST);
    assert_int_equal(head_appender_pending(a), 2);
    assert_int_equal(head_appender_commit(a, &r, NULL, 0), 0);
    assert_int_equal(r.appended, 2);
    assert_int_equal(r.ooo, 2);
    assert_int_equal(r.duplicates, 1);
    check_model(h, "m", m);

    /* Duplicates of samples inside chunks and in the OOO buffer, found at
     * commit: exact ones dropped, others refused and counted. */
    assert_int_equal(add_kv(a, "m", "j", maxt - 15001, 98), 0); /* in a chunk: same value */
    assert_int_equal(add_kv(a, "m", "j", maxt - 30002, 5), 0);  /* in a chunk: other value */
    assert_int_equal(add_kv(a, "m", "j", maxt - 7, 0.25), 0);   /* in the OOO buffer */
    assert_int_equal(add_kv(a, "m", "j", maxt - 7, 0.75), 0);   /* in the buffer, other */
    assert_int_equal(head_appender_commit(a, &r, NULL, 0), 0);
    assert_int_equal(r.appended, 0);
    assert_int_equal(r.duplicates, 2);
    assert_int_equal(r.conflicts, 2);
    check_model(h, "m", m);

    /* Many late samples (the buffer merges into the chunks when full) and a
     * stale marker, interleaved with in-order ones, in one batch and across
     * batches; the in-batch order does not matter within the window. */
    uint64_t seed = 42;
    int64_t t = maxt;
    for (int round = 0; round < 20; round++) {
        for (int k = 0; k < 30; k++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            int64_t ts;
            double v = (double)(seed >> 40) / 100.0;
            if (seed % 3 == 0) {
                t += 10000;
                ts = t;
            } else {
                ts = t - (int64_t)((seed >> 20) % 500000);
            }
            if (seed % 17 == 0)
                v = f64_from_bits(CHUNK_STALE_NAN_BITS);
            int rc = add_kv(a, "m", "j", ts, v);
            if (rc == 0) {
                (void)model_add(m, ts, f64_bits(v)); /* conflicts are refused at commit */
            } else {
                assert_true(rc == TT_EEXIST || rc == TT_ERANGE);
            }
        }
        assert_int_equal(head_appender_commit(a, &r, NULL, 0), 0);
        assert_int_equal(r.too_old, 0);
    }
    /* The model may hold a value the head refused as a conflict: rebuild it
     * from first-wins semantics by re-reading and comparing timestamps. */
    struct got *g = malloc(sizeof *g);
    collect(h, "m", NULL, INT64_MIN, INT64_MAX, g);
    assert_int_equal(g->n, m->n);
    for (size_t i = 0; i < g->n; i++)
        assert_int_equal(g->t[i], m->t[i]);
    for (size_t i = 1; i < g->n; i++)
        assert_true(g->t[i] > g->t[i - 1]);
    /* The same after a restart: replay rebuilds the identical series. */
    head_appender_free(a);
    assert_int_equal(head_close(h), 0);
    h = open_head(dir, WAL_SYNC_INTERVAL);
    struct got *g2 = malloc(sizeof *g2);
    collect(h, "m", NULL, INT64_MIN, INT64_MAX, g2);
    assert_int_equal(g2->n, g->n);
    assert_memory_equal(g2->t, g->t, g->n * sizeof g->t[0]);
    assert_memory_equal(g2->bits, g->bits, g->n * sizeof g->bits[0]);

    struct head_stats st;
    head_stats(h, &st);
    assert_int_equal(st.samples_appended, 0); /* replay is not counted as appends */
    free(g);
    free(g2);
    free(m);
    assert_int_equal(head_close(h), 0);
    rm_rf(dir);
}

/* head_iter_next_run gives the samples head_iter_next gives, over sealed
 * chunks, the open chunk and out-of-order samples, for ranges that start
 * and end inside chunks, on their edges, or hold nothing. */
static void test_iter_runs(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct head *h = open_head(dir, WAL_SYNC_INTERVAL);
    struct head_appender *a;
    assert_int_equal(head_appender_new(h, &a), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(add_kv(a, "r", "j", 10000 + (int64_t)i * 10000, i * 1.5), 0);
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(add_kv(a, "s", "j", 10000 + (int64_t)i * 10000, i), 0);
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    /* Late samples for s, in the out-of-order buffer. */
    for (int i = 0; i < 20; i++)
        assert_int_equal(add_kv(a, "s", "j", 10000 + 990 * 10000 + i * 500 + 1, -i), 0);
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    static const int64_t ranges[][2] = {
        { INT64_MIN, INT64_MAX }, { 0, 9999 },
        { 10000, 10000 },         { 15000, 1215000 },
        { 1210000, 1220000 },     { 9000000, 10000000 },
        { 9905000, 9906000 },     { 20000000, 30000000 },
    };
    struct got *g0 = malloc(sizeof *g0), *g1 = malloc(sizeof *g1);
    assert_non_null(g0);
    assert_non_null(g1);
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
        for (int how = 1; how <= 2; how++) {
            const char *const names[] = { "r", "s" };
            for (size_t n = 0; n < 2; n++) {
                collect_how(h, names[n], NULL, ranges[k][0], ranges[k][1], g0, 0);
                collect_how(h, names[n], NULL, ranges[k][0], ranges[k][1], g1, how);
                assert_int_equal(g1->n, g0->n);
                for (size_t i = 0; i < g0->n; i++) {
                    assert_int_equal(g1->t[i], g0->t[i]);
                    assert_int_equal(g1->bits[i], g0->bits[i]);
                }
            }
        }
    }
    collect_how(h, "r", NULL, INT64_MIN, INT64_MAX, g1, 1);
    assert_int_equal(g1->n, 1000);
    free(g0);
    free(g1);
    head_appender_free(a);
    assert_int_equal(head_close(h), 0);
    rm_rf(dir);
}

static void test_ooo_window_zero(void **state)
{
    (void)state;
    struct head_options o;
    struct head *h;
    struct head_appender *a;
    head_options_default(&o);
    o.no_wal = 1;
    o.ooo_window_ms = 0;
    assert_int_equal(head_open(&h, "/nonexistent-no-wal", &o, NULL, NULL, 0), 0);
    assert_int_equal(head_appender_new(h, &a), 0);
    assert_int_equal(add_kv(a, "m", "j", 100, 1), 0);
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    assert_int_equal(add_kv(a, "m", "j", 99, 1), TT_ERANGE);
    assert_int_equal(add_kv(a, "m", "j", 101, 1), 0);
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    struct head_stats st;
    head_stats(h, &st);
    assert_int_equal(st.ooo_rejected, 1);
    assert_int_equal(st.samples_appended, 2);
    head_appender_free(a);
    assert_int_equal(head_close(h), 0);
}

/* ---- truncation ----------------------------------------------------------------------- */

static void test_truncate_checkpoint(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct head *h = open_head(dir, WAL_SYNC_INTERVAL);
    struct head_appender *a;
    assert_int_equal(head_appender_new(h, &a), 0);
    /* 4 h of 10 s data for 2 series, one of which stops after 1 h. */
    for (int i = 0; i < 1440; i++) {
        assert_int_equal(add_kv(a, "a", "j", (int64_t)i * 10000, i), 0);
        if (i < 360)
            assert_int_equal(add_kv(a, "b", "j", (int64_t)i * 10000, i), 0);
        if (i % 200 == 0)
            assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    }
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    struct head_stats before;
    head_stats(h, &before);
    struct head_truncate_stats ts;
    char err[256];
    int64_t cut = 3 * 3600 * 1000;
    assert_int_equal(head_truncate(h, cut, &ts, err, sizeof err), 0);
    assert_true(ts.chunks_dropped > 0);
    assert_int_equal(ts.samples_dropped, 720 + 360); /* whole chunk ranges: [0, 2 h) */
    assert_true(ts.ckpt.series == 2);
    struct head_stats after;
    head_stats(h, &after);
    assert_true(after.chunk_bytes < before.chunk_bytes);
    assert_true(after.chunks < before.chunks);
    struct got *g = malloc(sizeof *g), *g2 = malloc(sizeof *g2);
    assert_int_equal(collect(h, "b", NULL, INT64_MIN, INT64_MAX, g), 0); /* all gone */
    collect(h, "a", NULL, INT64_MIN, INT64_MAX, g);
    assert_int_equal(g->n, 720); /* the chunk of [2 h, 4 h) stays whole */
    assert_int_equal(g->t[0], 7200000);
    assert_int_equal(g->t[g->n - 1], 1439 * 10000);
    assert_int_equal(after.min_t, g->t[0]);
    /* Appends go on; the restart gives the same data back from the
     * checkpoint plus the later segments. */
    assert_int_equal(add_kv(a, "a", "j", 1440 * 10000, 1440), 0);
    assert_int_equal(add_kv(a, "b", "j", 1440 * 10000, -1), 0);
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    collect(h, "a", NULL, INT64_MIN, INT64_MAX, g);
    head_appender_free(a);
    assert_int_equal(head_close(h), 0);
    struct head_replay_stats rs;
    struct head_options o;
    head_options_default(&o);
    assert_int_equal(head_open(&h, dir, &o, &rs, err, sizeof err), 0);
    assert_int_equal(rs.wal.problems, 0);
    assert_int_equal(rs.series, 2);
    collect(h, "a", NULL, INT64_MIN, INT64_MAX, g2);
    assert_int_equal(g2->n, g->n);
    assert_memory_equal(g2->t, g->t, g->n * sizeof g->t[0]);
    assert_memory_equal(g2->bits, g->bits, g->n * sizeof g->bits[0]);
    assert_int_equal(collect(h, "b", NULL, INT64_MIN, INT64_MAX, g2), 1);
    assert_int_equal(g2->n, 1);
    free(g);
    free(g2);
    assert_int_equal(head_close(h), 0);
    rm_rf(dir);
}

/* ---- restart with progress --------------------------------------------------------------- */

struct prog {
    int calls;
    uint64_t last, total;
};

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    struct prog *p = arg;
    assert_true(done >= p->last);
    p->calls++;
    p->last = done;
    p->total = total;
}

static void test_restart_identical(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct head *h = open_head(dir, WAL_SYNC_BATCH);
    struct head_appender *a;
    assert_int_equal(head_appender_new(h, &a), 0);
    char job[16];
    uint64_t seed = 7;
    for (int i = 0; i < 300; i++) {
        for (int s = 0; s < 50; s++) {
            snprintf(job, sizeof job, "j%02d", s);
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            double v = s % 5 == 0 ? (double)(seed >> 11) * 0x1.0p-53 : (double)i * s;
            if (i == 150 && s % 7 == 0)
                v = f64_from_bits(CHUNK_STALE_NAN_BITS);
            assert_int_equal(add_kv(a, "metric", job, (int64_t)i * 15000 + s, v), 0);
        }
        if (i % 10 == 9)
            assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    }
    head_appender_free(a);
    struct got *g = malloc(sizeof *g), *g2 = malloc(sizeof *g2);
    assert_int_equal(collect(h, "metric", NULL, INT64_MIN, INT64_MAX, g), 50);
    assert_int_equal(g->n, 15000);
    assert_int_equal(head_close(h), 0);

    struct head_options o;
    struct prog p = { 0, 0, 0 };
    struct head_replay_stats rs;
    head_options_default(&o);
    o.progress = on_progress;
    o.progress_arg = &p;
    assert_int_equal(head_open(&h, dir, &o, &rs, NULL, 0), 0);
    assert_true(p.calls > 0);
    assert_int_equal(p.last, p.total);
    assert_int_equal(rs.series, 50);
    assert_int_equal(rs.samples, 15000);
    assert_int_equal(rs.duplicates, 0);
    assert_int_equal(collect(h, "metric", NULL, INT64_MIN, INT64_MAX, g2), 50);
    assert_int_equal(g2->n, g->n);
    assert_memory_equal(g2->t, g->t, g->n * sizeof g->t[0]);
    assert_memory_equal(g2->bits, g->bits, g->n * sizeof g->bits[0]);
    free(g);
    free(g2);
    assert_int_equal(head_close(h), 0);
    rm_rf(dir);
}

/* ---- kill -9 --------------------------------------------------------------------------- */

#define K9_SERIES 20
#define K9_PER    50 /* samples per series per batch */

static void kill9_child(const char *dir, int fd)
{
    struct head *h = NULL;
    struct head_appender *a = NULL;
    struct head_options o;
    head_options_default(&o);
    o.wal.sync = WAL_SYNC_BATCH;
    o.wal.batch_window_ms = 1;
    o.wal.segment_bytes = 64 << 10; /* rotate often */
    if (head_open(&h, dir, &o, NULL, NULL, 0) != 0 || head_appender_new(h, &a) != 0)
        _exit(2);
    char job[16];
    struct labels ls;
    labels_init(&ls);
    for (uint32_t batch = 0;; batch++) {
        for (int s = 0; s < K9_SERIES; s++) {
            snprintf(job, sizeof job, "k%02d", s);
            const char *kv[] = { "__name__", "k9", "job", job };
            labels_reset(&ls);
            labels_push(&ls, kv[0], kv[1]);
            labels_push(&ls, kv[2], kv[3]);
            for (int k = 0; k < K9_PER; k++) {
                int64_t t = (int64_t)batch * K9_PER + k;
                if (head_appender_add(a, &ls, t * 1000, (double)(t * 31 + s), NULL) != 0)
                    _exit(3);
            }
        }
        if (head_appender_commit(a, NULL, NULL, 0) != 0)
            _exit(4);
        if (write(fd, &batch, sizeof batch) != (ssize_t)sizeof batch)
            _exit(5);
        if (batch % 50 == 49 &&
            head_truncate(h, ((int64_t)batch - 40) * K9_PER * 1000, NULL, NULL, 0) != 0)
            _exit(6);
    }
}

static void test_kill9_committed_survive(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        kill9_child(dir, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    struct timespec d = { 0, (200 + rand() % 400) * 1000000L };
    nanosleep(&d, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    uint32_t b, last = 0;
    int any = 0;
    while (read(fds[0], &b, sizeof b) == (ssize_t)sizeof b) {
        last = b;
        any = 1;
    }
    close(fds[0]);
    assert_true(any);

    struct head *h;
    struct head_replay_stats rs;
    char err[256];
    assert_int_equal(head_open(&h, dir, NULL, &rs, err, sizeof err), 0);
    fprintf(stderr, "kill -9 after %u committed batches; replay: %llu samples, %llu bytes cut\n",
            last + 1, (unsigned long long)rs.samples, (unsigned long long)rs.wal.bytes_cut);
    /* Every series holds every committed sample the truncations kept (the
     * child truncated to (batch - 40) batches back every 50 batches). */
    int64_t tb = ((int64_t)last + 1) / 50 * 50 - 1; /* the last truncating batch */
    int64_t keep_from = last >= 49 ? (tb - 40) * K9_PER : 0;
    char job[16];
    struct got *g = malloc(sizeof *g);
    for (int s = 0; s < K9_SERIES; s++) {
        snprintf(job, sizeof job, "k%02d", s);
        collect(h, "k9", job, keep_from * 1000, ((int64_t)last + 1) * K9_PER * 1000 - 1, g);
        assert_int_equal(g->n, (size_t)(((int64_t)last + 1) * K9_PER - keep_from));
        for (size_t i = 0; i < g->n; i++) {
            int64_t t = keep_from + (int64_t)i;
            assert_int_equal(g->t[i], t * 1000);
            assert_true(f64_from_bits(g->bits[i]) == (double)(t * 31 + s));
        }
    }
    free(g);
    assert_int_equal(head_close(h), 0);
    rm_rf(dir);
}

/* ---- concurrency ---------------------------------------------------------------------- */

struct conc {
    struct head *h;
    int id;
    atomic_int stop;
    int64_t last_seen[4];
};

static void *writer(void *arg)
{
    struct conc *c = arg;
    struct head_appender *a;
    char job[16];
    if (head_appender_new(c->h, &a) != 0)
        return (void *)1;
    head_ref refs[20] = { 0 };
    struct labels ls;
    labels_init(&ls);
    for (int i = 0; i < 400; i++) {
        for (int s = 0; s < 20; s++) {
            if (refs[s] == 0) {
                /* series 0..9 are shared by both writers, 10..19 their own */
                snprintf(job, sizeof job, "w%d-%d", s < 10 ? 0 : c->id, s);
                labels_reset(&ls);
                labels_push(&ls, "__name__", "conc");
                labels_push(&ls, "job", job);
                int rc = head_appender_add(a, &ls, i * 1000 + c->id, i, &refs[s]);
                if (rc != 0 && rc != TT_ERANGE && rc != TT_EEXIST)
                    return (void *)2;
            } else {
                int rc = head_appender_add_ref(a, refs[s], i * 1000 + c->id, i);
                if (rc != 0 && rc != TT_ERANGE && rc != TT_EEXIST)
                    return (void *)2;
            }
        }
        if (i % 10 == 9 && head_appender_commit(a, NULL, NULL, 0) != 0)
            return (void *)3;
    }
    labels_release(&ls);
    head_appender_free(a);
    return NULL;
}

static void *reader(void *arg)
{
    struct conc *c = arg;
    struct matcher *m = NULL;
    uint64_t last_total = 0;
    if (matcher_new(&m, MATCH_EQ, "__name__", "conc", 0, NULL, 0) != 0)
        return (void *)1;
    while (!atomic_load(&c->stop)) {
        struct head_querier *q;
        struct head_series_set *ss;
        /* From 60 s on: the truncation running alongside cuts at 50 s. */
        if (head_querier_new(c->h, 60000, INT64_MAX, &q) != 0 ||
            head_querier_select(q, &m, 1, &ss) != 0)
            return (void *)2;
        uint64_t total = 0;
        for (size_t i = 0; i < head_series_set_count(ss); i++) {
            struct head_iter it;
            int64_t prev = INT64_MIN;
            int rc;
            if (head_iter_init(&it, ss, i) != 0)
                return (void *)3;
            while ((rc = head_iter_next(&it)) == 1) {
                if (it.t <= prev)
                    return (void *)4;
                prev = it.t;
                total++;
            }
            head_iter_release(&it);
            if (rc != 0)
                return (void *)5;
        }
        /* Committed samples never disappear. */
        if (total < last_total)
            return (void *)6;
        last_total = total;
        head_series_set_free(ss);
        head_querier_free(q);
    }
    matcher_free(m);
    return NULL;
}

static void test_concurrent_writers_readers(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct head *h = open_head(dir, WAL_SYNC_INTERVAL);
    struct conc w1 = { .h = h, .id = 1 }, w2 = { .h = h, .id = 2 }, r = { .h = h };
    pthread_t t1, t2, t3, t4;
    void *r1, *r2, *r3, *r4;
    atomic_init(&r.stop, 0);
    assert_int_equal(pthread_create(&t3, NULL, reader, &r), 0);
    assert_int_equal(pthread_create(&t4, NULL, reader, &r), 0);
    assert_int_equal(pthread_create(&t1, NULL, writer, &w1), 0);
    assert_int_equal(pthread_create(&t2, NULL, writer, &w2), 0);
    /* A truncation (and its checkpoint) runs alongside. */
    struct timespec d = { 0, 20 * 1000000L };
    nanosleep(&d, NULL);
    int trc = head_truncate(h, 50000, NULL, NULL, 0);
    assert_true(trc == 0);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    atomic_store(&r.stop, 1);
    pthread_join(t3, &r3);
    pthread_join(t4, &r4);
    assert_int_equal((uintptr_t)r1, 0);
    assert_int_equal((uintptr_t)r2, 0);
    assert_int_equal((uintptr_t)r3, 0);
    assert_int_equal((uintptr_t)r4, 0);
    /* Own series hold every sample at or after the truncation's cut. */
    struct got *g = malloc(sizeof *g);
    assert_int_equal(collect(h, "conc", "w1-15", 60000, INT64_MAX, g), 1);
    assert_int_equal(g->n, 400 - 60);
    /* Shared series: both writers' samples 1 ms apart interleave in order
     * (some refused as too old is impossible inside the 10 min window). */
    assert_int_equal(collect(h, "conc", "w0-3", 60000, INT64_MAX, g), 1);
    assert_int_equal(g->n, 2 * (400 - 60));
    free(g);
    struct got *g2 = malloc(sizeof *g2);
    g = malloc(sizeof *g);
    collect(h, "conc", NULL, 0, INT64_MAX, g);
    assert_int_equal(head_close(h), 0);
    h = open_head(dir, WAL_SYNC_INTERVAL);
    collect(h, "conc", NULL, 0, INT64_MAX, g2);
    assert_int_equal(g2->n, g->n);
    assert_memory_equal(g2->t, g->t, g->n * sizeof g->t[0]);
    free(g);
    free(g2);
    assert_int_equal(head_close(h), 0);
    rm_rf(dir);
}

/* ---- figures ----------------------------------------------------------------------------- */

static long env_long(const char *name, long def)
{
    const char *s = getenv(name);
    char *end;
    if (s == NULL)
        return def;
    long v = strtol(s, &end, 10);
    return end != s && v > 0 ? v : def;
}

/* Memory per series with typical data: 10 s scrapes (aligned timestamps, as
 * Prometheus's timestamp tolerance makes them) over 2 h, 6 labels per series.
 * Values: the node_exporter-like mix by default (the recording in
 * ../shared/data has 2/3 constant series): 60% constants, 25% counters,
 * 10% gauges with 2 decimals, 5% full-precision doubles; TT_HEAD_MEM_MIX=heavy
 * gives 20% constants, 40% counters, 30% gauges, 10% doubles. */
static void test_memory_per_series(void **state)
{
    (void)state;
    long nser = env_long("TT_HEAD_MEM_SERIES", FULL_SIZE ? 20000 : 4000);
    long nsamp = env_long("TT_HEAD_MEM_SAMPLES", 720);
    struct head_options o;
    struct head *h;
    struct head_appender *a;
    head_options_default(&o);
    o.no_wal = 1;
    struct mallinfo2 m0 = mallinfo2();
    assert_int_equal(head_open(&h, "/nonexistent-no-wal", &o, NULL, NULL, 0), 0);
    assert_int_equal(head_appender_new(h, &a), 0);
    head_ref *refs = calloc((size_t)nser, sizeof *refs);
    double *val = calloc((size_t)nser, sizeof *val);
    const char *mix = getenv("TT_HEAD_MEM_MIX");
    int heavy = mix != NULL && strcmp(mix, "heavy") == 0;
    struct labels ls;
    labels_init(&ls);
    char host[32], metric[48], dev[16];
    for (long s = 0; s < nser; s++) {
        snprintf(host, sizeof host, "host-%05ld", s / 500);
        snprintf(metric, sizeof metric, "node_metric_%03ld_total", (s % 500) / 4);
        snprintf(dev, sizeof dev, "dev%ld", s % 4);
        labels_reset(&ls);
        labels_push(&ls, "__name__", metric);
        labels_push(&ls, "instance", host);
        labels_push(&ls, "job", "node");
        labels_push(&ls, "device", dev);
        labels_push(&ls, "dc", s % 2 ? "eu-west" : "us-east");
        labels_push(&ls, "env", "prod");
        val[s] = (s * 37 % 100) >= (heavy ? 70 : 35) ? 1 : 0; /* constants are constant */
        assert_int_equal(head_appender_add(a, &ls, 1700000000000, val[s], &refs[s]), 0);
    }
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    uint64_t seed = 1;
    /* Cumulative percentages: counters, gauges, constants (the rest doubles). */
    int pc = heavy ? 40 : 25, pg = heavy ? 70 : 35, pk = heavy ? 90 : 95;
    double t0 = now_s();
    for (long i = 1; i < nsamp; i++) {
        int64_t t = 1700000000000 + i * 10000;
        for (long s = 0; s < nser; s++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            int kind = (int)(s * 37 % 100);
            if (kind < pc)
                val[s] += (double)((seed >> 33) % 50);
            else if (kind < pg)
                val[s] = round((val[s] + (double)((int64_t)((seed >> 33) % 201) - 100) / 100.0) *
                               100.0) /
                         100.0;
            else if (kind < pk)
                val[s] = 1;
            else
                val[s] = (double)(seed >> 11) * 0x1.0p-53 * 1e6;
            assert_int_equal(head_appender_add_ref(a, refs[s], t, val[s]), 0);
        }
        assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    }
    double el = now_s() - t0;
    /* The appender's batch arrays (32 bytes a pending sample, a whole round
     * of nser samples here) are the writer's, not the head's: measured both
     * with and without them. */
    struct mallinfo2 m1a = mallinfo2();
    head_appender_free(a);
    struct mallinfo2 m1 = mallinfo2();
    struct head_stats st;
    head_stats(h, &st);
    double heap = (double)(m1.uordblks + m1.hblkhd) - (double)(m0.uordblks + m0.hblkhd);
    fprintf(
        stderr,
        "head memory, %s mix, %ld series x %ld samples (10 s, 2 h): %.0f bytes/series by malloc "
        "(%.0f with the appender's batch; %.0f accounted: chunks %.0f, series %.0f, index %.0f), "
        "%.2f bytes/sample in chunks; appended %.2f M samples/s (no WAL)\n",
        heavy ? "heavy" : "node_exporter-like", nser, nsamp, heap / (double)nser,
        ((double)(m1a.uordblks + m1a.hblkhd) - (double)(m0.uordblks + m0.hblkhd)) / (double)nser,
        (double)st.memory_bytes / (double)nser, (double)st.chunk_bytes / (double)nser,
        (double)st.series_bytes / (double)nser, (double)st.index_bytes / (double)nser,
        (double)st.chunk_bytes / ((double)nser * (double)nsamp),
        (double)nser * (double)(nsamp - 1) / el / 1e6);
    assert_int_equal(st.samples_appended, (uint64_t)(nser * nsamp));
    /* The target, 1 KB a series, holds at 1 M series (TT_HEAD_MEM_SERIES=1000000:
     * 997 bytes); at the default size the head's fixed tables (stripes, the
     * series page) weigh about 80 bytes a series more. */
    if (!SANITIZED && !heavy && nser >= 10000 && nsamp == 720)
        assert_true(heap / (double)nser < (nser >= 1000000 ? 1024 : 1152));
    labels_release(&ls);
    free(refs);
    free(val);
    assert_int_equal(head_close(h), 0);
}

/* Memory per active series at scale: TT_HEAD_MEM_OPEN_SERIES series (1 M for
 * the figure in docs/design/tsdb.md; 20,000 by default to keep the suite
 * quick) x 10 labels (Kubernetes-like: 2,000 pods x 500 metrics), scraped
 * every 15 s for 30 min, so every series holds one open head chunk of 120
 * samples and nothing sealed (the steady state of a head between cuts).
 * The figure is the heap growth seen by glibc's mallinfo2 (uordblks +
 * hblkhd: bytes of allocated chunks, malloc's own per-chunk header and
 * rounding included, free memory excluded) from before head_open to after
 * the last commit, divided by the series count, without the appender's
 * batch arrays (the writer's memory, not the head's; printed with them
 * too). */
static void test_memory_per_series_1m(void **state)
{
    (void)state;
    long nser = env_long("TT_HEAD_MEM_OPEN_SERIES", 20000);
    long nsamp = env_long("TT_HEAD_MEM_OPEN_SAMPLES", 120);
    struct head_options o;
    struct head *h;
    struct head_appender *a;
    head_options_default(&o);
    o.no_wal = 1;
    head_ref *refs = calloc((size_t)nser, sizeof *refs);
    double *val = calloc((size_t)nser, sizeof *val);
    assert_non_null(refs);
    assert_non_null(val);
    struct mallinfo2 m0 = mallinfo2();
    assert_int_equal(head_open(&h, "/nonexistent-no-wal", &o, NULL, NULL, 0), 0);
    assert_int_equal(head_appender_new(h, &a), 0);
    struct labels ls;
    labels_init(&ls);
    char metric[48], pod[64], node[32], ip[48], cont[32], rs[32];
    /* Aligned to a chunk range so the 30 min stay in one open chunk. */
    int64_t t0 = INT64_C(1700006400000);
    for (long s = 0; s < nser; s++) {
        long p = s / 500, m = s % 500;
        snprintf(metric, sizeof metric, "app_metric_%03ld_total", m / 5);
        snprintf(pod, sizeof pod, "api-%05ld-7f9c8d6b5-x%04ld", p / 4, p);
        snprintf(node, sizeof node, "node-%03ld", p / 20);
        snprintf(ip, sizeof ip, "10.%ld.%ld.%ld:8080", p / 65536, p / 256 % 256, p % 256);
        snprintf(cont, sizeof cont, "c%ld", p % 3);
        snprintf(rs, sizeof rs, "code-%ld", m % 5);
        labels_reset(&ls);
        labels_push(&ls, "__name__", metric);
        labels_push(&ls, "job", "kubernetes-pods");
        labels_push(&ls, "namespace", p % 2 ? "prod" : "staging");
        labels_push(&ls, "pod", pod);
        labels_push(&ls, "instance", ip);
        labels_push(&ls, "node", node);
        labels_push(&ls, "container", cont);
        labels_push(&ls, "app", "api");
        labels_push(&ls, "status", rs);
        labels_push(&ls, "region", p % 3 ? "eu-west-1" : "us-east-1");
        val[s] = (double)(s % 7);
        assert_int_equal(head_appender_add(a, &ls, t0, val[s], &refs[s]), 0);
    }
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    uint64_t seed = 7;
    for (long i = 1; i < nsamp; i++) {
        int64_t t = t0 + i * 15000;
        for (long s = 0; s < nser; s++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            int kind = (int)(s * 37 % 100);
            if (kind < 40) /* counters */
                val[s] += (double)((seed >> 33) % 50);
            else if (kind < 60) /* gauges, 2 decimals */
                val[s] = round((val[s] + (double)((int64_t)((seed >> 33) % 201) - 100) / 100.0) *
                               100.0) /
                         100.0;
            else if (kind >= 95) /* full doubles */
                val[s] = (double)(seed >> 11) * 0x1.0p-53 * 1e3;
            /* else constant */
            assert_int_equal(head_appender_add_ref(a, refs[s], t, val[s]), 0);
        }
        assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    }
    struct mallinfo2 m1a = mallinfo2();
    head_appender_free(a);
    struct mallinfo2 m1 = mallinfo2();
    struct head_stats st;
    head_stats(h, &st);
    double heap = (double)(m1.uordblks + m1.hblkhd) - (double)(m0.uordblks + m0.hblkhd);
    fprintf(stderr,
            "head memory, %ld series x 10 labels x %ld samples (15 s, open chunks only): %.0f "
            "bytes/series by malloc (%.0f with the appender's batch; %.0f accounted: chunks %.0f, "
            "series %.0f, index %.0f)\n",
            nser, nsamp, heap / (double)nser,
            ((double)(m1a.uordblks + m1a.hblkhd) - (double)(m0.uordblks + m0.hblkhd)) /
                (double)nser,
            (double)st.memory_bytes / (double)nser, (double)st.chunk_bytes / (double)nser,
            (double)st.series_bytes / (double)nser, (double)st.index_bytes / (double)nser);
    assert_int_equal(st.samples_appended, (uint64_t)(nser * nsamp));
    assert_int_equal(st.series, (uint64_t)nser);
    if (!SANITIZED && nsamp == 120 && nser >= 20000)
        assert_true(heap / (double)nser < 1024); /* the target: 1 KB a series (711 at 1 M) */
    labels_release(&ls);
    free(refs);
    free(val);
    assert_int_equal(head_close(h), 0);
}

/* Append speed on one core, excluding parsing: batches of 10,000 samples
 * by ref and by labels, without and with the WAL. */
static void test_append_throughput(void **state)
{
    (void)state;
    long nser = 1000, rounds = FULL_SIZE ? 200 : 30;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    for (int mode = 0; mode < 3; mode++) {
        struct head_options o;
        struct head *h;
        struct head_appender *a;
        head_options_default(&o);
        o.no_wal = mode == 0;
        /* Interval sync: the CPU cost of the WAL; the batch policy adds the
         * group-commit window (10 ms) to each commit's latency. */
        o.wal.sync = WAL_SYNC_INTERVAL;
        assert_int_equal(head_open(&h, dir, &o, NULL, NULL, 0), 0);
        assert_int_equal(head_appender_new(h, &a), 0);
        struct labels *lss = calloc((size_t)nser, sizeof *lss);
        head_ref *refs = calloc((size_t)nser, sizeof *refs);
        char(*names)[32] = calloc((size_t)nser, sizeof *names);
        for (long s = 0; s < nser; s++) {
            snprintf(names[s], sizeof names[s], "i%04ld", s);
            labels_init(&lss[s]);
            labels_push(&lss[s], "__name__", "tp_metric");
            labels_push(&lss[s], "instance", names[s]);
            labels_push(&lss[s], "job", "bench");
        }
        int64_t base = 1700000000000 + (int64_t)mode * 100000000;
        double t0 = now_s();
        for (long r = 0; r < rounds; r++) {
            for (long k = 0; k < 10; k++) {
                int64_t t = base + (r * 10 + k) * 15000;
                for (long s = 0; s < nser; s++) {
                    double v = (double)(r * 10 + k) * 3 + (double)s;
                    if (mode == 2 || refs[s] == 0)
                        assert_int_equal(head_appender_add(a, &lss[s], t, v, &refs[s]), 0);
                    else
                        assert_int_equal(head_appender_add_ref(a, refs[s], t, v), 0);
                }
            }
            assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
        }
        double el = now_s() - t0;
        fprintf(stderr, "append %s: %.2f M samples/s (%ld samples, %.3f s)\n",
                mode == 0   ? "by ref, no WAL"
                : mode == 1 ? "by ref, WAL (interval sync)"
                            : "by labels, WAL (interval sync)",
                (double)(nser * rounds * 10) / el / 1e6, nser * rounds * 10, el);
        for (long s = 0; s < nser; s++)
            labels_release(&lss[s]);
        free(lss);
        free(refs);
        free(names);
        head_appender_free(a);
        assert_int_equal(head_close(h), 0);
    }
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_roundtrip_matchers), cmocka_unit_test(test_iter_runs),
           cmocka_unit_test(test_visibility_rollback),
           cmocka_unit_test(test_ooo_window_and_duplicates), cmocka_unit_test(test_ooo_window_zero),
           cmocka_unit_test(test_truncate_checkpoint), cmocka_unit_test(test_restart_identical),
           cmocka_unit_test(test_kill9_committed_survive),
           cmocka_unit_test(test_concurrent_writers_readers),
           cmocka_unit_test(test_memory_per_series), cmocka_unit_test(test_memory_per_series_1m),
           cmocka_unit_test(test_append_throughput))
