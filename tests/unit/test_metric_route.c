/*
 * test_metric_route.c - libtelltale metric records into TSDB samples:
 * counters and gauges with the origin's labels, histograms as classic
 * _bucket{le}/_sum/_count series whose quantile (computed as
 * histogram_quantile does) is close to the true one, bad records refused
 * with nothing emitted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/loglin.h"
#include "core/record.h"
#include "server/metric_route.h"

#define MAXS 512

struct got {
    char key[MAXS][256]; /* "name{a=b,c=d}" in the order given */
    double v[MAXS];
    int64_t t[MAXS];
    size_t n;
};

static int collect(void *ctx, const struct labels *ls, int64_t t_ms, double v)
{
    struct got *g = ctx;
    assert_true(g->n < MAXS);
    char *k = g->key[g->n];
    size_t used = 0;
    /* name first, then the others sorted by name, as a set */
    struct labels c;
    labels_init(&c);
    for (size_t i = 0; i < ls->n; i++)
        assert_int_equal(labels_push(&c, ls->v[i].name, ls->v[i].value), 0);
    assert_int_equal(labels_normalize(&c), 0);
    used += (size_t)snprintf(k, 256, "%s{", labels_get(&c, "__name__"));
    for (size_t i = 0; i < c.n; i++) {
        if (strcmp(c.v[i].name, "__name__") == 0)
            continue;
        used += (size_t)snprintf(k + used, 256 - used, "%s%s=%s", k[used - 1] == '{' ? "" : ",",
                                 c.v[i].name, c.v[i].value);
    }
    snprintf(k + used, 256 - used, "}");
    labels_release(&c);
    g->v[g->n] = v;
    g->t[g->n] = t_ms;
    g->n++;
    return 0;
}

static const char ORIGIN[] = "web1\0checkout/4242";

/* one_record encodes m as a record and decodes its frame into r (the bytes
 * stay in w). */
static void one_record(struct wbuf *w, const struct rec_metric *m, int64_t time_ns, struct rec *r)
{
    char err[128];
    struct rbuf rb;
    wbuf_reset(w);
    assert_int_equal(rec_put_metric(w, 7, time_ns, m), 0);
    rbuf_init(&rb, w->data, w->len);
    assert_int_equal(rec_next(&rb, w->data, r, err, sizeof err), 1);
}

static void test_counter_gauge(void **state)
{
    (void)state;
    struct wbuf w, lw;
    struct rec r;
    struct got *g = calloc(1, sizeof *g);
    char err[256];
    wbuf_init(&w, 0);
    wbuf_init(&lw, 0);
    struct rec_value v = { .type = TT_VAL_STR };
    v.u.s = (struct rec_str){ "GET", 3 };
    rec_kv_put(&lw, "method", 6, &v);
    struct rec_value iv = { .type = TT_VAL_INT, .u.i = 200 };
    rec_kv_put(&lw, "code", 4, &iv);
    struct rec_metric m = { .kind = REC_METRIC_COUNTER,
                            .name = { "http_requests_total", 19 },
                            .labels = { 2, lw.data, (uint32_t)lw.len, 0 },
                            .value = 42 };
    one_record(&w, &m, 1700000000123456789, &r);
    assert_int_equal(
        metric_route_record(&r, ORIGIN, sizeof ORIGIN - 1, collect, g, err, sizeof err), 0);
    assert_int_equal(g->n, 1);
    assert_string_equal(g->key[0], "http_requests_total{code=200,instance=web1:4242,method=GET,"
                                   "node=web1,service=checkout}");
    assert_true(g->v[0] == 42);
    assert_int_equal(g->t[0], 1700000000123);

    /* a gauge whose own labels say node and instance: they are kept; an
     * origin without a pid gives instance=node */
    wbuf_reset(&lw);
    v.u.s = (struct rec_str){ "other", 5 };
    rec_kv_put(&lw, "node", 4, &v);
    m = (struct rec_metric){ .kind = REC_METRIC_GAUGE,
                             .name = { "queue_depth", 11 },
                             .labels = { 1, lw.data, (uint32_t)lw.len, 0 },
                             .value = -3.5 };
    one_record(&w, &m, 5000000, &r);
    g->n = 0;
    assert_int_equal(metric_route_record(&r, "db2\0worker", 10, collect, g, err, sizeof err), 0);
    assert_int_equal(g->n, 1);
    assert_string_equal(g->key[0], "queue_depth{instance=db2,node=other,service=worker}");
    assert_true(g->v[0] == -3.5);
    assert_int_equal(g->t[0], 5);
    free(g);
    wbuf_release(&w);
    wbuf_release(&lw);
}

/* quantile computes histogram_quantile(q) from the emitted _bucket series as
 * Prometheus does: linear interpolation inside the bucket that holds rank
 * q * count (the lowest bucket starting at 0). */
static double quantile(const struct got *g, double q)
{
    double les[MAXS], cnt[MAXS];
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++) {
        const char *le = strstr(g->key[i], "le=");
        if (strncmp(g->key[i], "lat_seconds_bucket{", 19) != 0 || le == NULL)
            continue;
        les[n] = strncmp(le + 3, "+Inf", 4) == 0 ? INFINITY : strtod(le + 3, NULL);
        cnt[n++] = g->v[i];
    }
    double rank = q * cnt[n - 1];
    for (size_t i = 0; i < n; i++) {
        if (cnt[i] >= rank) {
            if (isinf(les[i]))
                return les[i - 1];
            double lo = i ? les[i - 1] : 0, below = i ? cnt[i - 1] : 0;
            return lo + (les[i] - lo) * (rank - below) / (cnt[i] - below);
        }
    }
    return NAN;
}

static void test_histogram(void **state)
{
    (void)state;
    struct wbuf w, bw;
    struct rec r;
    struct got *g = calloc(1, sizeof *g);
    char err[256];
    const int p = 4;
    static uint64_t counts[2 * 2000];
    double sum = 0;
    wbuf_init(&w, 0);
    wbuf_init(&bw, 0);
    /* 1000 values 1 ms .. 1000 ms */
    memset(counts, 0, sizeof counts);
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (int i = 1; i <= 1000; i++) {
        double x = i / 1000.0;
        int32_t idx = loglin_index(x, p);
        assert_true(idx > 0 && idx < 2000);
        counts[idx]++;
        lo = idx < lo ? idx : lo;
        hi = idx > hi ? idx : hi;
        sum += x;
    }
    uint32_t nb = 0;
    int32_t prev = 0;
    for (int32_t i = lo; i <= hi; i++) {
        if (!counts[i])
            continue;
        rec_bucket_put(&bw, prev, i, counts[i]);
        prev = i;
        nb++;
    }
    struct rec_metric m = { .kind = REC_METRIC_HISTOGRAM,
                            .name = { "lat_seconds", 11 },
                            .precision_bits = p,
                            .count = 1000,
                            .sum = sum,
                            .min = 0.001,
                            .max = 1,
                            .buckets = { nb, bw.data, (uint32_t)bw.len, 0 } };
    one_record(&w, &m, 2000000000, &r);
    assert_int_equal(
        metric_route_record(&r, ORIGIN, sizeof ORIGIN - 1, collect, g, err, sizeof err), 0);
    assert_int_equal(g->n, nb + 3);
    /* cumulative, increasing le, +Inf = count, then _sum and _count */
    double last = 0, last_le = 0;
    for (size_t i = 0; i < nb; i++) {
        const char *le = strstr(g->key[i], "le=");
        assert_non_null(le);
        double b = strtod(le + 3, NULL);
        assert_true(b > last_le);
        assert_true(g->v[i] >= last);
        last_le = b;
        last = g->v[i];
    }
    assert_true(last == 1000);
    assert_string_equal(g->key[nb], "lat_seconds_bucket{instance=web1:4242,le=+Inf,node=web1,"
                                    "service=checkout}");
    assert_true(g->v[nb] == 1000);
    assert_string_equal(g->key[nb + 1], "lat_seconds_sum{instance=web1:4242,node=web1,"
                                        "service=checkout}");
    assert_true(fabs(g->v[nb + 1] - sum) < 1e-9);
    assert_true(g->v[nb + 2] == 1000);
    /* histogram_quantile over these buckets is within the buckets' error */
    double q50 = quantile(g, 0.5), q99 = quantile(g, 0.99);
    assert_true(fabs(q50 - 0.5) < 0.5 * 0.07);
    assert_true(fabs(q99 - 0.99) < 0.99 * 0.07);

    /* negative values and zero: le in value order */
    wbuf_reset(&bw);
    int32_t in = loglin_index(-2.0, p), iz = 0, ip = loglin_index(3.0, p);
    rec_bucket_put(&bw, 0, in, 1);
    rec_bucket_put(&bw, in, iz, 1);
    rec_bucket_put(&bw, iz, ip, 1);
    m.buckets = (struct rec_list){ 3, bw.data, (uint32_t)bw.len, 0 };
    m.count = 3;
    one_record(&w, &m, 0, &r);
    g->n = 0;
    assert_int_equal(
        metric_route_record(&r, ORIGIN, sizeof ORIGIN - 1, collect, g, err, sizeof err), 0);
    assert_int_equal(g->n, 6);
    double l0 = strtod(strstr(g->key[0], "le=") + 3, NULL);
    double l1 = strtod(strstr(g->key[1], "le=") + 3, NULL);
    double l2 = strtod(strstr(g->key[2], "le=") + 3, NULL);
    assert_true(l0 >= -2.0 && l0 < 0);
    assert_true(l1 > 0 && l1 < 1e-8);
    assert_true(l2 > 3.0);

    /* indexes past the outermost share its bound: one bucket, both counts */
    wbuf_reset(&bw);
    int32_t top = LOGLIN_MAX_INDEX(p);
    rec_bucket_put(&bw, 0, ip, 2);
    rec_bucket_put(&bw, ip, top, 3);
    rec_bucket_put(&bw, top, top + 5, 4);
    m.buckets = (struct rec_list){ 3, bw.data, (uint32_t)bw.len, 0 };
    m.count = 9;
    one_record(&w, &m, 0, &r);
    g->n = 0;
    assert_int_equal(
        metric_route_record(&r, ORIGIN, sizeof ORIGIN - 1, collect, g, err, sizeof err), 0);
    assert_int_equal(g->n, 5); /* 2 buckets, +Inf, _sum, _count */
    assert_true(g->v[0] == 2 && g->v[1] == 9 && g->v[2] == 9);
    free(g);
    wbuf_release(&w);
    wbuf_release(&bw);
}

static void test_bad_records(void **state)
{
    (void)state;
    struct wbuf w, lw, bw;
    struct rec r;
    struct got *g = calloc(1, sizeof *g);
    char err[256];
    wbuf_init(&w, 0);
    wbuf_init(&lw, 0);
    wbuf_init(&bw, 0);
    struct rec_metric m = { .kind = REC_METRIC_COUNTER, .name = { "bad-name", 8 }, .value = 1 };
    one_record(&w, &m, 0, &r);
    assert_int_equal(
        metric_route_record(&r, ORIGIN, sizeof ORIGIN - 1, collect, g, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "bad-name"));
    /* a reserved label name */
    struct rec_value v = { .type = TT_VAL_STR };
    v.u.s = (struct rec_str){ "x", 1 };
    rec_kv_put(&lw, "__secret", 8, &v);
    m = (struct rec_metric){ .kind = REC_METRIC_GAUGE,
                             .name = { "ok", 2 },
                             .labels = { 1, lw.data, (uint32_t)lw.len, 0 } };
    one_record(&w, &m, 0, &r);
    assert_int_equal(
        metric_route_record(&r, ORIGIN, sizeof ORIGIN - 1, collect, g, err, sizeof err), TT_EINVAL);
    /* a histogram with its own le label */
    wbuf_reset(&lw);
    rec_kv_put(&lw, "le", 2, &v);
    m = (struct rec_metric){ .kind = REC_METRIC_HISTOGRAM,
                             .name = { "h", 1 },
                             .precision_bits = 4,
                             .labels = { 1, lw.data, (uint32_t)lw.len, 0 } };
    one_record(&w, &m, 0, &r);
    assert_int_equal(
        metric_route_record(&r, ORIGIN, sizeof ORIGIN - 1, collect, g, err, sizeof err), TT_EINVAL);
    /* a bucket list that lies about its count: nothing emitted */
    rec_bucket_put(&bw, 0, 5, 1);
    m = (struct rec_metric){ .kind = REC_METRIC_HISTOGRAM,
                             .name = { "h", 1 },
                             .precision_bits = 4,
                             .count = 1,
                             .buckets = { 3, bw.data, (uint32_t)bw.len, 0 } };
    one_record(&w, &m, 0, &r);
    assert_true(metric_route_record(&r, ORIGIN, sizeof ORIGIN - 1, collect, g, err, sizeof err) <
                0);
    /* a record cut short */
    struct rec_metric ok = { .kind = REC_METRIC_GAUGE, .name = { "ok", 2 }, .value = 1 };
    one_record(&w, &ok, 0, &r);
    r.payload_len = 3;
    assert_int_equal(
        metric_route_record(&r, ORIGIN, sizeof ORIGIN - 1, collect, g, err, sizeof err),
        TT_ECORRUPT);
    assert_int_equal(g->n, 0);
    free(g);
    wbuf_release(&w);
    wbuf_release(&lw);
    wbuf_release(&bw);
}

UNIT_TESTS(cmocka_unit_test(test_counter_gauge), cmocka_unit_test(test_histogram),
           cmocka_unit_test(test_bad_records))
