/* test_lib_metrics.c - the metric registry and per-thread cells: handle
 * deduplication, kind clashes and bad names, counters summed over real
 * threads (including the retired totals of released ones) and read while
 * being written, gauges, histogram fields and bucket placement, quantiles
 * within the log-linear error bound, NULL handles, and the public API through
 * tt_init. Most tests drive a struct metrics directly with their own
 * struct tt_thread objects and decode what metrics_flush wrote. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "core/loglin.h"
#include "core/record.h"
#include "lib/metrics.h"
#include "lib/tt_int.h"

/* ---- fixtures ------------------------------------------------------------ */

static struct tt_thread *fake_thread(void)
{
    size_t size = (sizeof(struct tt_thread) + 63) / 64 * 64;
    struct tt_thread *t = aligned_alloc(64, size);
    assert_non_null(t);
    memset(t, 0, size);
    metrics_thread_init(&t->metrics);
    return t;
}

static void *new_handle(struct metrics *m, enum metrics_kind kind, const char *name,
                        const char *const *labels, int p)
{
    void *h = NULL;
    int rc = metrics_handle_new(m, kind, name, "help text", labels, p, &h);
    assert_int_equal(rc, 0);
    assert_non_null(h);
    return h;
}

#define MAX_RECS 2048

/* What one flush wrote, decoded; the records point into body. */
struct flushed {
    struct wbuf body;
    struct rec_metric *recs; /* MAX_RECS */
    int n;
    int failures; /* cmocka asserts must stay on the main thread */
    _Atomic int done;
};

static void flush_decode(struct metrics *m, struct tt_thread *const *threads, size_t n,
                         struct flushed *out)
{
    char err[256];
    struct rbuf r;
    struct rec rec;

    wbuf_init(&out->body, 0);
    out->recs = calloc(MAX_RECS, sizeof *out->recs);
    assert_non_null(out->recs);
    out->n = metrics_flush(m, threads, n, &out->body, 77, 123456789);
    assert_true(out->n >= 0);
    assert_true(out->n <= MAX_RECS);
    rbuf_init(&r, out->body.data, out->body.len);
    for (int i = 0; i < out->n; i++) {
        assert_int_equal(rec_next(&r, out->body.data, &rec, err, sizeof err), 1);
        assert_int_equal(rec.type, REC_METRIC);
        assert_int_equal(rec.hlc, 77);
        assert_int_equal(rec.time_ns, 123456789);
        if (rec_decode_metric(&rec, &out->recs[i], err, sizeof err) != 0)
            fail_msg("decode: %s", err);
    }
    assert_int_equal(rec_next(&r, out->body.data, &rec, err, sizeof err), 0);
}

static void flushed_release(struct flushed *f)
{
    wbuf_release(&f->body);
    free(f->recs);
}

static int str_is(struct rec_str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

/* The record of name whose labels include key=value (key may be NULL). */
static const struct rec_metric *find_rec(const struct flushed *f, const char *name, const char *key,
                                         const char *value)
{
    for (int i = 0; i < f->n; i++) {
        const struct rec_metric *r = &f->recs[i];
        if (!str_is(r->name, name))
            continue;
        if (!key)
            return r;
        struct rec_list it = r->labels;
        struct rec_str k;
        struct rec_value v;
        while (rec_kv_next(&it, &k, &v) == 1)
            if (str_is(k, key) && v.type == TT_VAL_STR && str_is(v.u.s, value))
                return r;
    }
    fail_msg("no record %s{%s=%s}", name, key ? key : "", value ? value : "");
    return NULL;
}

/* Decoded buckets of a histogram record. */
struct buckets {
#define BUCKETS_CAP (2 * LOGLIN_MAX_INDEX(LOGLIN_P_MAX) + 1)
    int32_t idx[BUCKETS_CAP];
    uint64_t cnt[BUCKETS_CAP];
    int n;
    uint64_t total;
};

static void get_buckets(const struct rec_metric *r, struct buckets *b)
{
    struct rec_list it = r->buckets;
    int rc = 0;
    b->n = 0;
    b->total = 0;
    while (b->n < BUCKETS_CAP && (rc = rec_bucket_next(&it, &b->idx[b->n], &b->cnt[b->n])) == 1) {
        assert_true(b->cnt[b->n] > 0);
        if (b->n > 0)
            assert_true(b->idx[b->n] > b->idx[b->n - 1]); /* sorted, unique */
        b->total += b->cnt[b->n];
        b->n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(b->n, r->buckets.count);
    assert_int_equal(b->total, r->count);
}

static uint64_t bucket_count(const struct buckets *b, int32_t idx)
{
    for (int i = 0; i < b->n; i++)
        if (b->idx[i] == idx)
            return b->cnt[i];
    return 0;
}

/* ---- registry ------------------------------------------------------------ */

static void test_metrics_dedup(void **state)
{
    (void)state;
    struct metrics m;
    assert_int_equal(metrics_init(&m), 0);
    const char *l1[] = { "method", "GET", "code", "200", NULL };
    const char *l1r[] = { "code", "200", "method", "GET", NULL };
    const char *l2[] = { "method", "PUT", "code", "200", NULL };
    void *a = new_handle(&m, METRICS_COUNTER, "http_requests_total", l1, 0);
    assert_ptr_equal(new_handle(&m, METRICS_COUNTER, "http_requests_total", l1, 0), a);
    assert_ptr_equal(new_handle(&m, METRICS_COUNTER, "http_requests_total", l1r, 0), a);
    void *b = new_handle(&m, METRICS_COUNTER, "http_requests_total", l2, 0);
    assert_ptr_not_equal(a, b);
    void *c = new_handle(&m, METRICS_COUNTER, "http_requests_total", NULL, 0);
    assert_ptr_not_equal(c, a);
    assert_ptr_not_equal(c, b);
    const char *empty[] = { NULL };
    assert_ptr_equal(new_handle(&m, METRICS_COUNTER, "http_requests_total", empty, 0), c);
    /* Values differing only after a shared prefix are different keys. */
    const char *v1[] = { "a", "bc", NULL }, *v2[] = { "ab", "c", NULL };
    assert_ptr_not_equal(new_handle(&m, METRICS_GAUGE, "g", v1, 0),
                         new_handle(&m, METRICS_GAUGE, "g", v2, 0));
    /* Histograms: precision 0 is the default 4. */
    void *h = new_handle(&m, METRICS_HISTOGRAM, "latency_seconds", NULL, 0);
    assert_ptr_equal(new_handle(&m, METRICS_HISTOGRAM, "latency_seconds", NULL, 4), h);

    /* Many handles: the tables grow and every one is still found. */
    void *many[300];
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "m_%d", i);
        many[i] = new_handle(&m, i % 2 ? METRICS_COUNTER : METRICS_HISTOGRAM, name, l1, 0);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "m_%d", i);
        assert_ptr_equal(new_handle(&m, i % 2 ? METRICS_COUNTER : METRICS_HISTOGRAM, name, l1r, 0),
                         many[i]);
    }
    assert_ptr_equal(new_handle(&m, METRICS_COUNTER, "http_requests_total", l1, 0), a);
    metrics_release(&m);
}

static void test_metrics_kind_clash(void **state)
{
    (void)state;
    struct metrics m;
    void *h = (void *)1;
    assert_int_equal(metrics_init(&m), 0);
    const char *l1[] = { "k", "v", NULL };
    const char *l2[] = { "k", "w", NULL };
    new_handle(&m, METRICS_COUNTER, "x_total", l1, 0);
    /* Same name, another kind: refused whatever the labels. */
    assert_int_equal(metrics_handle_new(&m, METRICS_GAUGE, "x_total", NULL, l1, 0, &h), TT_EEXIST);
    assert_null(h);
    assert_int_equal(metrics_handle_new(&m, METRICS_HISTOGRAM, "x_total", NULL, l2, 0, &h),
                     TT_EEXIST);
    new_handle(&m, METRICS_HISTOGRAM, "lat", NULL, 3);
    assert_int_equal(metrics_handle_new(&m, METRICS_HISTOGRAM, "lat", NULL, l1, 5, &h), TT_EEXIST);
    assert_int_equal(metrics_handle_new(&m, METRICS_COUNTER, "lat", NULL, NULL, 0, &h), TT_EEXIST);
    /* The first registrations still work. */
    new_handle(&m, METRICS_COUNTER, "x_total", l2, 0);
    new_handle(&m, METRICS_HISTOGRAM, "lat", l1, 3);
    metrics_release(&m);
}

static void test_metrics_bad_names(void **state)
{
    (void)state;
    struct metrics m;
    void *h;
    assert_int_equal(metrics_init(&m), 0);
    const char *bad_names[] = { "", "1abc", "a-b", "a b", "__reserved", "é", "a.b", "x{}" };
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        h = (void *)1;
        assert_int_equal(metrics_handle_new(&m, METRICS_COUNTER, bad_names[i], NULL, NULL, 0, &h),
                         TT_EINVAL);
        assert_null(h);
    }
    assert_int_equal(metrics_handle_new(&m, METRICS_COUNTER, NULL, NULL, NULL, 0, &h), TT_EINVAL);
    char longname[METRICS_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(metrics_handle_new(&m, METRICS_COUNTER, longname, NULL, NULL, 0, &h),
                     TT_EINVAL);
    longname[METRICS_NAME_MAX] = 0; /* exactly the maximum */
    new_handle(&m, METRICS_COUNTER, longname, NULL, 0);

    const char *good_names[] = { "a", "_a", ":a", "ns:sub_system:x9", "A_B" };
    for (size_t i = 0; i < sizeof good_names / sizeof good_names[0]; i++)
        new_handle(&m, METRICS_GAUGE, good_names[i], NULL, 0);

    /* Labels: no ':' and no "__" prefix in names, no duplicates, no
     * missing value, bounded length and count. */
    const char *bl1[] = { "a:b", "v", NULL };
    const char *bl2[] = { "__name__", "v", NULL };
    const char *bl3[] = { "k", "v", "k", "w", NULL };
    const char *bl4[] = { "k", NULL };
    const char *bl5[] = { "9k", "v", NULL };
    const char *bl6[] = { "", "v", NULL };
    const char *const *bad_labels[] = { bl1, bl2, bl3, bl4, bl5, bl6 };
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++)
        assert_int_equal(metrics_handle_new(&m, METRICS_COUNTER, "ok", NULL, bad_labels[i], 0, &h),
                         TT_EINVAL);
    char longval[METRICS_VALUE_MAX + 2];
    memset(longval, 'v', sizeof longval - 1);
    longval[sizeof longval - 1] = 0;
    const char *bl7[] = { "k", longval, NULL };
    assert_int_equal(metrics_handle_new(&m, METRICS_COUNTER, "ok", NULL, bl7, 0, &h), TT_EINVAL);
    const char *many[2 * (METRICS_LABELS_MAX + 1) + 1];
    char keys[METRICS_LABELS_MAX + 1][8];
    for (int i = 0; i <= METRICS_LABELS_MAX; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        many[2 * i] = keys[i];
        many[2 * i + 1] = "v";
    }
    many[2 * (METRICS_LABELS_MAX + 1)] = NULL;
    assert_int_equal(metrics_handle_new(&m, METRICS_COUNTER, "ok", NULL, many, 0, &h), TT_EINVAL);
    many[2 * METRICS_LABELS_MAX] = NULL; /* exactly the maximum */
    new_handle(&m, METRICS_COUNTER, "ok", many, 0);
    /* Label values may be anything, even empty. */
    const char *gl[] = { "path", "/a b/é?x=1", "empty", "", NULL };
    new_handle(&m, METRICS_COUNTER, "ok", gl, 0);

    /* Histogram precision outside [1, 7]. */
    assert_int_equal(metrics_handle_new(&m, METRICS_HISTOGRAM, "hp", NULL, NULL, 8, &h), TT_EINVAL);
    assert_int_equal(metrics_handle_new(&m, METRICS_HISTOGRAM, "hp", NULL, NULL, -1, &h),
                     TT_EINVAL);
    metrics_release(&m);
}

/* ---- counters over threads ---------------------------------------------- */

#define ADDS 200000

struct worker {
    struct tt_thread *t;
    tt_counter *c, *other;
    tt_gauge *g;
    int n;
    int failures; /* cmocka asserts must stay on the main thread */
    _Atomic int done;
};

static void *counter_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        w->failures += metrics_counter_add_mt(&w->t->metrics, w->c, 1.0) != 0;
        if (i % 4 == 0)
            w->failures += metrics_counter_add_mt(&w->t->metrics, w->other, 0.5) != 0;
    }
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_metrics_counter_threads(void **state)
{
    (void)state;
    enum { NT = 4 };
    struct metrics m;
    struct tt_thread *th[NT];
    pthread_t tid[NT];
    struct worker w[NT];
    struct flushed f;
    assert_int_equal(metrics_init(&m), 0);
    const char *lab[] = { "k", "v", NULL };
    tt_counter *c = new_handle(&m, METRICS_COUNTER, "ops_total", lab, 0);
    tt_counter *other = new_handle(&m, METRICS_COUNTER, "half_total", NULL, 0);
    new_handle(&m, METRICS_COUNTER, "untouched_total", NULL, 0);
    /* Push one handle's cell onto a later page. */
    char name[32];
    for (int i = 0; i < METRICS_PAGE_CELLS; i++) {
        snprintf(name, sizeof name, "filler_%d", i);
        new_handle(&m, METRICS_GAUGE, name, NULL, 0); /* gauges take no cell */
    }
    for (int i = 0; i < METRICS_PAGE_CELLS; i++) {
        snprintf(name, sizeof name, "filler_c_%d", i);
        new_handle(&m, METRICS_COUNTER, name, NULL, 0);
    }
    tt_counter *late = new_handle(&m, METRICS_COUNTER, "late_total", NULL, 0);

    for (int i = 0; i < NT; i++) {
        th[i] = fake_thread();
        w[i] = (struct worker){ .t = th[i], .c = c, .other = other, .n = ADDS };
        atomic_init(&w[i].done, 0);
        assert_int_equal(pthread_create(&tid[i], NULL, counter_worker, &w[i]), 0);
    }
    /* Read while the threads write: values only grow, and stay whole
     * numbers (a torn double would not). */
    double last = 0;
    int reads = 0, running = NT;
    while (running > 0 || reads < 3) {
        running = 0;
        for (int i = 0; i < NT; i++)
            running += !atomic_load(&w[i].done);
        reads++;
        flush_decode(&m, th, NT, &f);
        const struct rec_metric *r = find_rec(&f, "ops_total", "k", "v");
        assert_true(r->value >= last);
        assert_true(r->value <= (double)NT * ADDS);
        assert_true(r->value == floor(r->value));
        last = r->value;
        flushed_release(&f);
    }
    for (int i = 0; i < NT; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }

    flush_decode(&m, th, NT, &f);
    assert_int_equal(f.n, 4 + 2 * METRICS_PAGE_CELLS);
    const struct rec_metric *r = find_rec(&f, "ops_total", "k", "v");
    assert_int_equal(r->kind, REC_METRIC_COUNTER);
    assert_true(str_is(r->help, "help text"));
    assert_int_equal(r->labels.count, 1);
    assert_true(r->value == (double)NT * ADDS);
    assert_true(find_rec(&f, "half_total", NULL, NULL)->value == NT * (ADDS / 4) * 0.5);
    assert_true(find_rec(&f, "untouched_total", NULL, NULL)->value == 0);
    flushed_release(&f);

    /* A cell on the second page, from the main thread on its own state. */
    struct tt_thread *self = fake_thread();
    assert_int_equal(metrics_counter_add_mt(&self->metrics, late, 2.5), 0);
    assert_int_equal(metrics_counter_add_mt(&self->metrics, c, 7), 0);

    /* Threads 0 and 1 exit: their totals are retired and still counted. */
    metrics_thread_release(&m, &th[0]->metrics);
    metrics_thread_release(&m, &th[1]->metrics);
    struct tt_thread *live[3] = { th[2], th[3], self };
    flush_decode(&m, live, 3, &f);
    assert_true(find_rec(&f, "ops_total", "k", "v")->value == (double)NT * ADDS + 7);
    assert_true(find_rec(&f, "late_total", NULL, NULL)->value == 2.5);
    flushed_release(&f);

    /* A released state can be used again (a new thread) and adds on top. */
    assert_int_equal(metrics_counter_add_mt(&th[0]->metrics, c, 1), 0);
    struct tt_thread *all[4] = { th[0], th[2], th[3], self };
    flush_decode(&m, all, 4, &f);
    assert_true(find_rec(&f, "ops_total", "k", "v")->value == (double)NT * ADDS + 8);
    flushed_release(&f);

    for (int i = 0; i < NT; i++) {
        metrics_thread_release(&m, &th[i]->metrics);
        free(th[i]);
    }
    metrics_thread_release(&m, &self->metrics);
    free(self);
    flush_decode(&m, NULL, 0, &f);
    assert_true(find_rec(&f, "ops_total", "k", "v")->value == (double)NT * ADDS + 8);
    assert_true(find_rec(&f, "late_total", NULL, NULL)->value == 2.5);
    flushed_release(&f);
    metrics_release(&m);
}

/* ---- gauges -------------------------------------------------------------- */

static void *gauge_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++)
        tt_gauge_add(w->g, 1.0);
    return NULL;
}

static void test_metrics_gauge(void **state)
{
    (void)state;
    enum { NT = 4, N = 50000 };
    struct metrics m;
    struct flushed f;
    pthread_t tid[NT];
    struct worker w[NT];
    assert_int_equal(metrics_init(&m), 0);
    tt_gauge *g = new_handle(&m, METRICS_GAUGE, "queue_depth", NULL, 0);
    tt_gauge *g2 = new_handle(&m, METRICS_GAUGE, "temperature", NULL, 0);

    flush_decode(&m, NULL, 0, &f);
    assert_int_equal(find_rec(&f, "queue_depth", NULL, NULL)->kind, REC_METRIC_GAUGE);
    assert_true(find_rec(&f, "queue_depth", NULL, NULL)->value == 0);
    flushed_release(&f);

    tt_gauge_set(g, 10);
    tt_gauge_add(g, -2.5);
    tt_gauge_set(g2, -40);
    flush_decode(&m, NULL, 0, &f);
    assert_true(find_rec(&f, "queue_depth", NULL, NULL)->value == 7.5);
    assert_true(find_rec(&f, "temperature", NULL, NULL)->value == -40);
    flushed_release(&f);

    /* Concurrent adds lose nothing (compare-and-swap loop). */
    tt_gauge_set(g, 0);
    for (int i = 0; i < NT; i++) {
        w[i] = (struct worker){ .g = g, .n = N };
        assert_int_equal(pthread_create(&tid[i], NULL, gauge_worker, &w[i]), 0);
    }
    for (int i = 0; i < NT; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    flush_decode(&m, NULL, 0, &f);
    assert_true(find_rec(&f, "queue_depth", NULL, NULL)->value == (double)NT * N);
    flushed_release(&f);
    metrics_release(&m);
}

/* ---- histograms ---------------------------------------------------------- */

static void test_metrics_histogram_fields(void **state)
{
    (void)state;
    struct metrics m;
    struct flushed f;
    static struct buckets b;
    assert_int_equal(metrics_init(&m), 0);
    const int p = 3;
    tt_histogram *h = new_handle(&m, METRICS_HISTOGRAM, "size_bytes", NULL, p);
    tt_histogram *empty = new_handle(&m, METRICS_HISTOGRAM, "empty_seconds", NULL, 0);
    struct tt_thread *t[2] = { fake_thread(), fake_thread() };

    /* Thread 0: positive values; thread 1: zero, tiny, negative and huge. */
    const double v0[] = { 1.0, 1.0, 3.0, 100.0, 1e-9, 5e17 };
    const double v1[] = { 0.0, -0.0, 1e-12, -2.0, -2.1, -1e6, 1e20 };
    double sum = 0;
    for (size_t i = 0; i < sizeof v0 / sizeof v0[0]; i++) {
        assert_int_equal(metrics_histogram_observe_mt(&t[0]->metrics, h, v0[i]), 0);
        sum += v0[i];
    }
    for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++) {
        assert_int_equal(metrics_histogram_observe_mt(&t[1]->metrics, h, v1[i]), 0);
        sum += v1[i];
    }
    /* NaN and infinities are refused and change nothing. */
    assert_int_equal(metrics_histogram_observe_mt(&t[0]->metrics, h, NAN), TT_EINVAL);
    assert_int_equal(metrics_histogram_observe_mt(&t[0]->metrics, h, INFINITY), TT_EINVAL);
    assert_int_equal(metrics_histogram_observe_mt(&t[0]->metrics, h, -INFINITY), TT_EINVAL);

    flush_decode(&m, t, 2, &f);
    const struct rec_metric *r = find_rec(&f, "size_bytes", NULL, NULL);
    assert_int_equal(r->kind, REC_METRIC_HISTOGRAM);
    assert_int_equal(r->precision_bits, p);
    assert_int_equal(r->count, 13);
    assert_true(r->sum == sum);
    assert_true(r->min == -1e6);
    assert_true(r->max == 1e20);
    get_buckets(r, &b);
    assert_int_equal(bucket_count(&b, loglin_index(1.0, p)), 2);
    assert_int_equal(bucket_count(&b, loglin_index(3.0, p)), 1);
    assert_int_equal(bucket_count(&b, 0), 3); /* 0, -0 and 1e-12 */
    assert_true(loglin_index(-2.0, p) == loglin_index(-2.1, p));
    assert_int_equal(bucket_count(&b, loglin_index(-2.0, p)), 2);
    assert_true(loglin_index(-2.0, p) < 0);
    assert_int_equal(bucket_count(&b, loglin_index(-1e6, p)), 1);
    assert_int_equal(bucket_count(&b, LOGLIN_MAX_INDEX(p)), 1); /* 1e20 clamped */
    assert_int_equal(bucket_count(&b, loglin_index(5e17, p)), 1);
    assert_int_equal(bucket_count(&b, loglin_index(1e-9, p)), 1);
    assert_int_equal(b.n, 9);
    /* Every bucket holds what it should: its bounds contain its values. */
    for (int i = 0; i < b.n; i++)
        assert_true(b.idx[i] >= -LOGLIN_MAX_INDEX(p) && b.idx[i] <= LOGLIN_MAX_INDEX(p));

    const struct rec_metric *e = find_rec(&f, "empty_seconds", NULL, NULL);
    assert_int_equal(e->count, 0);
    assert_int_equal(e->buckets.count, 0);
    assert_true(e->min == 0 && e->max == 0 && e->sum == 0);
    assert_int_equal(e->precision_bits, LOGLIN_P_DEFAULT);
    flushed_release(&f);
    (void)empty;

    /* Thread 1 exits: the totals stay, merged into the retired block; new
     * values on thread 0 add to them. */
    metrics_thread_release(&m, &t[1]->metrics);
    assert_int_equal(metrics_histogram_observe_mt(&t[0]->metrics, h, -2.05), 0);
    flush_decode(&m, t, 1, &f);
    r = find_rec(&f, "size_bytes", NULL, NULL);
    assert_int_equal(r->count, 14);
    assert_true(r->sum == sum - 2.05);
    assert_true(r->min == -1e6);
    assert_true(r->max == 1e20);
    get_buckets(r, &b);
    assert_int_equal(bucket_count(&b, loglin_index(-2.0, p)), 3);
    assert_int_equal(bucket_count(&b, 0), 3);
    flushed_release(&f);

    metrics_thread_release(&m, &t[0]->metrics);
    flush_decode(&m, NULL, 0, &f);
    r = find_rec(&f, "size_bytes", NULL, NULL);
    assert_int_equal(r->count, 14);
    assert_true(r->min == -1e6);
    flushed_release(&f);
    free(t[0]);
    free(t[1]);
    metrics_release(&m);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct hist_worker {
    struct tt_thread *t;
    tt_histogram *h;
    const double *v;
    size_t n;
    int failures;
};

static void *hist_worker(void *arg)
{
    struct hist_worker *w = arg;
    for (size_t i = 0; i < w->n; i++)
        w->failures += metrics_histogram_observe_mt(&w->t->metrics, w->h, w->v[i]) != 0;
    return NULL;
}

/* Quantiles estimated from the flushed buckets (midpoint of the bucket
 * holding the rank-th value) are within the relative error bound of the
 * exact ones, for every precision, with values spread over several threads
 * and over negative numbers too. */
static void test_metrics_histogram_quantiles(void **state)
{
    (void)state;
    enum { N = 40000, NT = 4 };
    struct metrics m;
    struct flushed f;
    static struct buckets b;
    double *v = malloc(N * sizeof *v), *sorted = malloc(N * sizeof *sorted);
    assert_non_null(v);
    assert_non_null(sorted);
    assert_int_equal(metrics_init(&m), 0);
    tt_histogram *h[LOGLIN_P_MAX + 1];
    char name[32];
    for (int p = LOGLIN_P_MIN; p <= LOGLIN_P_MAX; p++) {
        snprintf(name, sizeof name, "lat_p%d", p);
        h[p] = new_handle(&m, METRICS_HISTOGRAM, name, NULL, p);
    }
    /* Log-uniform latencies from 1 us to 10 s, a tenth of them negated. */
    uint64_t seed = 7;
    for (int i = 0; i < N; i++) {
        double u = (double)(splitmix(&seed) >> 11) / 9007199254740992.0;
        v[i] = pow(10, -6 + 7 * u);
        if (splitmix(&seed) % 10 == 0)
            v[i] = -v[i];
    }
    memcpy(sorted, v, N * sizeof *v);
    qsort(sorted, N, sizeof *sorted, cmp_double);

    struct tt_thread *th[NT];
    for (int i = 0; i < NT; i++)
        th[i] = fake_thread();
    for (int p = LOGLIN_P_MIN; p <= LOGLIN_P_MAX; p++) {
        pthread_t tid[NT];
        struct hist_worker w[NT];
        for (int i = 0; i < NT; i++) {
            w[i] = (struct hist_worker){ th[i], h[p], v + i * (N / NT), N / NT, 0 };
            assert_int_equal(pthread_create(&tid[i], NULL, hist_worker, &w[i]), 0);
        }
        for (int i = 0; i < NT; i++) {
            assert_int_equal(pthread_join(tid[i], NULL), 0);
            assert_int_equal(w[i].failures, 0);
        }
    }
    flush_decode(&m, th, NT, &f);
    for (int p = LOGLIN_P_MIN; p <= LOGLIN_P_MAX; p++) {
        snprintf(name, sizeof name, "lat_p%d", p);
        const struct rec_metric *r = find_rec(&f, name, NULL, NULL);
        assert_int_equal(r->count, N);
        assert_true(r->min == sorted[0]);
        assert_true(r->max == sorted[N - 1]);
        get_buckets(r, &b);
        double bound = ldexp(1.0, -(p + 1));
        const double qs[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0 };
        for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
            uint64_t rank = (uint64_t)ceil(qs[qi] * N); /* 1-based */
            uint64_t cum = 0;
            int i = 0;
            for (; i < b.n; i++) {
                cum += b.cnt[i];
                if (cum >= rank)
                    break;
            }
            assert_true(i < b.n);
            double est = loglin_mid(b.idx[i], p), exact = sorted[rank - 1];
            if (!(fabs(est - exact) <= fabs(exact) * bound))
                fail_msg("p=%d q=%g est=%g exact=%g bound=%g", p, qs[qi], est, exact, bound);
        }
    }
    flushed_release(&f);
    for (int i = 0; i < NT; i++) {
        metrics_thread_release(&m, &th[i]->metrics);
        free(th[i]);
    }
    metrics_release(&m);
    free(v);
    free(sorted);
}

/* ---- misuse -------------------------------------------------------------- */

static void test_metrics_null_and_misuse(void **state)
{
    (void)state;
    struct metrics m;
    struct flushed f;
    assert_int_equal(metrics_init(&m), 0);
    struct tt_thread *t = fake_thread();
    tt_counter *c = new_handle(&m, METRICS_COUNTER, "c_total", NULL, 0);
    tt_histogram *h = new_handle(&m, METRICS_HISTOGRAM, "h", NULL, 0);
    tt_gauge *g = new_handle(&m, METRICS_GAUGE, "g", NULL, 0);

    assert_int_equal(metrics_counter_add_mt(&t->metrics, NULL, 1), TT_EINVAL);
    assert_int_equal(metrics_histogram_observe_mt(&t->metrics, NULL, 1), TT_EINVAL);
    /* Counters refuse negative, NaN and infinite values. */
    assert_int_equal(metrics_counter_add_mt(&t->metrics, c, -1), TT_EINVAL);
    assert_int_equal(metrics_counter_add_mt(&t->metrics, c, NAN), TT_EINVAL);
    assert_int_equal(metrics_counter_add_mt(&t->metrics, c, INFINITY), TT_EINVAL);
    assert_int_equal(metrics_counter_add_mt(&t->metrics, c, 0), 0);
    /* A handle of the wrong kind (through a cast) is refused. */
    assert_int_equal(metrics_counter_add_mt(&t->metrics, (tt_counter *)(void *)h, 1), TT_EINVAL);
    assert_int_equal(metrics_histogram_observe_mt(&t->metrics, (tt_histogram *)(void *)c, 1),
                     TT_EINVAL);
    assert_int_equal(metrics_counter_add_mt(&t->metrics, (tt_counter *)(void *)g, 1), TT_EINVAL);
    tt_gauge_set((tt_gauge *)(void *)c, 5); /* ignored (counted when initialised) */
    tt_gauge_add((tt_gauge *)(void *)h, 5);

    /* The public functions accept NULL handles and do nothing. */
    tt_counter_add(NULL, 1);
    tt_counter_inc(NULL);
    tt_gauge_set(NULL, 1);
    tt_gauge_add(NULL, 1);
    tt_histogram_observe(NULL, 1);

    flush_decode(&m, &t, 1, &f);
    assert_int_equal(f.n, 3);
    assert_true(find_rec(&f, "c_total", NULL, NULL)->value == 0);
    assert_int_equal(find_rec(&f, "h", NULL, NULL)->count, 0);
    assert_true(find_rec(&f, "g", NULL, NULL)->value == 0);
    flushed_release(&f);
    assert_int_equal(metrics_dropped(&m), 0);

    /* Flushing into a full buffer reports the buffer's error. */
    struct wbuf small;
    wbuf_init(&small, 16);
    assert_int_equal(metrics_flush(&m, &t, 1, &small, 1, 1), TT_ETOOBIG);
    wbuf_release(&small);

    metrics_thread_release(&m, &t->metrics);
    free(t);
    metrics_release(&m);
}

/* ---- the public API through tt_init --------------------------------------- */

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char p[512];
    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        rm_rf(p);
    }
    closedir(d);
    rmdir(path);
}

static void *public_worker(void *arg)
{
    tt_counter *c = arg;
    for (int i = 0; i < 1000; i++)
        tt_counter_inc(c);
    return NULL;
}

static void test_metrics_public_api(void **state)
{
    (void)state;
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/tt-metrics-XXXXXX");
    assert_non_null(mkdtemp(dir));
    tt_config cfg;
    tt_config_default(&cfg);
    snprintf(cfg.spool_dir, sizeof cfg.spool_dir, "%s", dir);
    snprintf(cfg.service, sizeof cfg.service, "metrics-test");

    /* Not initialised: NULL handles, calls do nothing. */
    assert_null(tt_counter_new("a_total", NULL, NULL));
    assert_null(tt_histogram_new("h", NULL, NULL, 0));

    assert_int_equal(tt_init(&cfg), 0);
    const char *lab[] = { "route", "/x", NULL };
    tt_counter *c = tt_counter_new("requests_total", "Requests.", lab);
    assert_non_null(c);
    assert_ptr_equal(tt_counter_new("requests_total", "ignored", lab), c);
    tt_gauge *g = tt_gauge_new("inflight", NULL, NULL);
    assert_non_null(g);
    tt_histogram *h = tt_histogram_new("latency_seconds", NULL, lab, 5);
    assert_non_null(h);

    tt_stats st;
    tt_stats_get(&st);
    uint64_t bad0 = st.bad_input;
    /* Bad names, a kind clash and bad values are counted. */
    assert_null(tt_counter_new("bad name", NULL, NULL));
    assert_null(tt_gauge_new("requests_total", NULL, NULL));
    assert_null(tt_histogram_new("h2", NULL, NULL, 9));
    tt_counter_add(c, -1);
    tt_histogram_observe(h, NAN);
    tt_gauge_set((tt_gauge *)(void *)c, 1);
    tt_stats_get(&st);
    assert_int_equal(st.bad_input - bad0, 6);

    pthread_t tid[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&tid[i], NULL, public_worker, c), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    tt_counter_add(c, 2.5);
    tt_gauge_set(g, 3);
    tt_gauge_add(g, 1);
    tt_histogram_observe(h, 0.25);
    tt_histogram_observe(h, -1);
    tt_stats_get(&st);
    assert_int_equal(st.bad_input - bad0, 6);
    assert_int_equal(tt_flush(), 0);
    /* The flushed values themselves are checked through metrics_flush above;
     * here the library's own context holds them. */
    struct tt_ctx *ctx = tt__ctx;
    struct flushed f;
    flush_decode(&ctx->metrics, NULL, 0, &f);
    /* The three workers exited and were reaped by the flush: their 3000
     * increments are retired totals (this thread's 2.5 is in its own cells). */
    const struct rec_metric *r = find_rec(&f, "requests_total", "route", "/x");
    assert_true(r->value == 3000);
    assert_true(str_is(r->help, "Requests."));
    assert_true(find_rec(&f, "inflight", NULL, NULL)->value == 4);
    flushed_release(&f);
    tt_shutdown();
    assert_null(tt_counter_new("a_total", NULL, NULL));
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_metrics_dedup), cmocka_unit_test(test_metrics_kind_clash),
           cmocka_unit_test(test_metrics_bad_names), cmocka_unit_test(test_metrics_counter_threads),
           cmocka_unit_test(test_metrics_gauge), cmocka_unit_test(test_metrics_histogram_fields),
           cmocka_unit_test(test_metrics_histogram_quantiles),
           cmocka_unit_test(test_metrics_null_and_misuse),
           cmocka_unit_test(test_metrics_public_api))
