/*
 * test_promql_engine.c - the PromQL engine over the in-memory store:
 * selectors with lookback and staleness, offset and @, range windows, rate
 * extrapolation, aggregations, vector matching and its errors, range
 * queries, subqueries, delayed name removal, and the promqltest runner's
 * pass/fail/skip accounting.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "query/promql/engine.h"
#include "query/promql/memstore.h"
#include "query/promql/parser.h"
#include "query/promql/runner.h"
#include "query/promql/value.h"

struct fx {
    struct promql_memstore *ms;
    struct promql_storage st;
};

static void fx_init(struct fx *f)
{
    assert_int_equal(promql_memstore_new(&f->ms), 0);
    promql_memstore_storage(f->ms, &f->st);
}

static void add(struct fx *f, const char *name, const char *k, const char *v, int64_t t, double val)
{
    struct promql_label ls[2] = { { "__name__", name }, { k, v } };
    assert_int_equal(promql_memstore_add(f->ms, ls, k ? 2 : 1, t, val), 0);
}

/* instant evaluates q at t; returns the engine's code. */
static int instant(struct fx *f, const char *q, int64_t t, struct promql_result **res,
                   struct promql_eval_error *err)
{
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    struct promql_parse_opts o = { .experimental_functions = 1 };
    assert_int_equal(promql_parse(q, strlen(q), &o, &ast, &perr), 0);
    int rc = promql_eval_instant(NULL, &f->st, ast->root, t, res, err);
    promql_ast_free(ast);
    return rc;
}

static double one(struct fx *f, const char *q, int64_t t)
{
    struct promql_result *r = NULL;
    assert_int_equal(instant(f, q, t, &r, NULL), 0);
    double v = NAN;
    if (r->type == PROMQL_TYPE_SCALAR)
        v = r->scalar;
    else if (r->type == PROMQL_TYPE_VECTOR && r->nsamples == 1)
        v = r->samples[0].v;
    else
        fail_msg("expected one value from %s, got type %d n %zu", q, r->type, r->nsamples);
    promql_result_free(r);
    return v;
}

static size_t count(struct fx *f, const char *q, int64_t t)
{
    struct promql_result *r = NULL;
    assert_int_equal(instant(f, q, t, &r, NULL), 0);
    size_t n = r->type == PROMQL_TYPE_VECTOR ? r->nsamples : r->nseries;
    promql_result_free(r);
    return n;
}

static void test_selectors_lookback_staleness(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    add(&f, "m", "a", "1", 0, 1);
    add(&f, "m", "a", "1", 60000, 2);
    add(&f, "m", "a", "1", 120000, promql_stale_nan());
    add(&f, "m", "a", "2", 0, 10);
    assert_true(one(&f, "m{a=\"1\"}", 60000) == 2);
    assert_true(one(&f, "m{a=\"1\"}", 119999) == 2);
    /* The stale marker ends the series at once. */
    assert_int_equal(count(&f, "m{a=\"1\"}", 120000), 0);
    /* Lookback is 5 m and left-open. */
    assert_true(one(&f, "m{a=\"2\"}", 299999) == 10);
    assert_int_equal(count(&f, "m{a=\"2\"}", 300000), 0);
    assert_int_equal(count(&f, "m", 30000), 2);
    assert_int_equal(count(&f, "m{a=~\"1|2\"}", 30000), 2);
    assert_int_equal(count(&f, "m{a!~\"1\"}", 30000), 1);
    /* offset and @ */
    assert_true(one(&f, "m{a=\"1\"} offset 1m", 120000) == 2);
    assert_true(one(&f, "m{a=\"1\"} @ 0", 500000) == 1);
    /* Range windows are left-open: (60s, 120s] has no clean point. */
    assert_int_equal(count(&f, "m{a=\"1\"}[1m]", 120000), 0);
    assert_int_equal(count(&f, "m{a=\"1\"}[61s]", 120000), 1);
    promql_memstore_free(f.ms);
}

static void test_rate_and_functions(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    for (int i = 0; i <= 10; i++)
        add(&f, "c", "j", "x", i * 60000LL, i * 60.0);
    /* 1/s everywhere: rate is 1, increase over 5m is 300. */
    assert_true(fabs(one(&f, "rate(c[5m])", 600000) - 1) < 1e-9);
    assert_true(fabs(one(&f, "increase(c[5m])", 600000) - 300) < 1e-9);
    assert_true(fabs(one(&f, "deriv(c[5m])", 600000) - 1) < 1e-9);
    assert_true(one(&f, "count_over_time(c[5m])", 600000) == 5);
    assert_true(one(&f, "max_over_time(c[5m])", 600000) == 600);
    assert_true(one(&f, "quantile_over_time(0.5, c[5m])", 600000) == 480);
    assert_true(one(&f, "time()", 600000) == 600);
    assert_true(one(&f, "scalar(c)", 600000) == 600);
    assert_true(one(&f, "clamp_max(c, 5)", 600000) == 5);
    assert_true(one(&f, "round(c / 7)", 600000) == 86);
    assert_true(count(&f, "absent(nope{x=\"y\"})", 0) == 1);
    assert_true(count(&f, "absent(c)", 0) == 0);
    /* A subquery of the last 5 minutes at 1 m steps sees 5 points. */
    assert_true(one(&f, "count_over_time(c[5m:1m])", 600000) == 5);
    /* rate drops the metric name; label_replace can bring it back. */
    struct promql_result *r = NULL;
    assert_int_equal(instant(&f, "rate(c[5m])", 600000, &r, NULL), 0);
    assert_null(promql_labels_get(&r->samples[0].labels, "__name__"));
    promql_result_free(r);
    assert_int_equal(instant(&f,
                             "label_replace(rate(c[5m]), \"__name__\", \"r_$1\", \"j\", \"(.*)\")",
                             600000, &r, NULL),
                     0);
    assert_string_equal(promql_labels_get(&r->samples[0].labels, "__name__"), "r_x");
    promql_result_free(r);
    promql_memstore_free(f.ms);
}

static void test_aggregation_and_matching(void **state)
{
    (void)state;
    struct fx f;
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    fx_init(&f);
    add(&f, "m", "g", "a", 0, 1);
    add(&f, "m", "g", "b", 0, 5);
    add(&f, "m", "g", "c", 0, 3);
    add(&f, "n", "g", "a", 0, 10);
    assert_true(one(&f, "sum(m)", 0) == 9);
    assert_true(one(&f, "avg(m)", 0) == 3);
    assert_true(one(&f, "count(m)", 0) == 3);
    assert_true(one(&f, "quantile(0.5, m)", 0) == 3);
    assert_true(fabs(one(&f, "stddev(m)", 0) - sqrt(8.0 / 3)) < 1e-12);
    assert_int_equal(count(&f, "sum by (g) (m)", 0), 3);
    assert_int_equal(count(&f, "count_values(\"v\", m)", 0), 3);
    /* topk orders its output by value, highest first. */
    assert_int_equal(instant(&f, "topk(2, m)", 0, &r, NULL), 0);
    assert_int_equal(r->nsamples, 2);
    assert_true(r->samples[0].v == 5 && r->samples[1].v == 3);
    promql_result_free(r);
    /* One-to-one matching on g, arithmetic drops the name. */
    assert_true(one(&f, "m + n", 0) == 11);
    assert_int_equal(count(&f, "m and n", 0), 1);
    assert_int_equal(count(&f, "m unless n", 0), 2);
    /* n{g="a"} matches m{g="a"} (names are ignored), so only m is kept. */
    assert_int_equal(count(&f, "m or n", 0), 3);
    assert_int_equal(count(&f, "m > 2", 0), 2);
    assert_int_equal(count(&f, "m > bool 2", 0), 3);
    /* Many-to-many is an error with Prometheus's message. */
    assert_int_equal(instant(&f, "n + on() m", 0, &r, &err), TT_EINVAL);
    assert_null(r);
    assert_non_null(strstr(err.msg, "found duplicate series for the match group {} on the right "
                                    "hand-side of the operation"));
    assert_non_null(strstr(err.msg, "many-to-many matching not allowed"));
    /* Dropping the name makes two series collide. */
    assert_int_equal(instant(&f, "-({__name__=~\"m|n\", g=\"a\"})", 0, &r, &err), TT_EINVAL);
    assert_string_equal(err.msg, "vector cannot contain metrics with the same labelset");
    promql_memstore_free(f.ms);
}

static void test_range_query(void **state)
{
    (void)state;
    struct fx f;
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    struct promql_result *r = NULL;
    fx_init(&f);
    for (int i = 0; i < 5; i++)
        add(&f, "m", "a", "1", i * 60000LL, i);
    const char *q = "m * 2";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &perr), 0);
    assert_int_equal(promql_eval_range(NULL, &f.st, ast->root, 0, 240000, 60000, &r, NULL), 0);
    assert_int_equal(r->type, PROMQL_TYPE_MATRIX);
    assert_int_equal(r->nseries, 1);
    assert_int_equal(r->series[0].npoints, 5);
    assert_true(r->series[0].points[4].v == 8 && r->series[0].points[4].t == 240000);
    assert_null(promql_labels_get(&r->series[0].labels, "__name__"));
    promql_result_free(r);
    promql_ast_free(ast);
    /* A range vector is not a range query's result. */
    q = "m[1m]";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &perr), 0);
    assert_int_equal(promql_eval_range(NULL, &f.st, ast->root, 0, 60000, 60000, &r, NULL),
                     TT_EINVAL);
    promql_ast_free(ast);
    promql_memstore_free(f.ms);
}

static void test_runner_counts(void **state)
{
    (void)state;
    static const char text[] = "load 1m\n"
                               "  m{a=\"1\"} 0+1x10\n"
                               "  h {{count:1}}\n"
                               "\n"
                               "eval instant at 5m m\n"
                               "  m{a=\"1\"} 5\n"
                               "\n"
                               "eval instant at 5m m\n"
                               "  m{a=\"1\"} 6\n"
                               "\n"
                               "eval range from 0 to 2m step 1m m * 2\n"
                               "  {a=\"1\"} 0 2 4\n"
                               "\n"
                               "eval instant at 0 h\n"
                               "\n"
                               "eval instant at 0 m +\n"
                               "  expect fail\n";
    struct promqltest_report rep = { 0 };
    char err[256];
    assert_int_equal(promqltest_run(text, strlen(text), "t.test", NULL, &rep, err, sizeof err), 0);
    assert_int_equal(rep.passed, 3);
    assert_int_equal(rep.failed, 1);
    assert_int_equal(rep.skipped, 1);
    assert_int_equal(rep.skipped_histogram, 1);
    assert_int_equal(rep.nitems, 2);
    assert_int_equal(rep.items[0].outcome, PROMQLTEST_FAILED);
    assert_int_equal(rep.items[0].line, 8);
    assert_non_null(strstr(rep.items[0].why, "expected 6"));
    promqltest_report_release(&rep);
}

static void test_xxh64(void **state)
{
    (void)state;
    /* Published XXH64 (seed 0) test vectors. */
    assert_true(promql_xxh64("", 0) == 0xEF46DB3751D8E999ull);
    assert_true(promql_xxh64("a", 1) == 0xD24EC4F1A98C6E5Bull);
    assert_true(promql_xxh64("abc", 3) == 0x44BC2CF5AD770999ull);
    /* Streaming over pairs equals hashing the concatenation (> 32 bytes). */
    struct promql_label l[2] = { { "__name__", "http_requests_total" },
                                 { "instance", "localhost:9090" } };
    struct promql_labels ls = { l, 2 };
    const char flat[] = "__name__\xffhttp_requests_total\xffinstance\xfflocalhost:9090\xff";
    assert_true(promql_labels_prom_hash(&ls) == promql_xxh64(flat, sizeof(flat) - 1));
}

static void test_experimental_features(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    char v[8];
    for (int i = 0; i < 20; i++) {
        snprintf(v, sizeof v, "%d", i);
        add(&f, "m", "i", v, 0, i);
    }
    add(&f, "l", "k", "a", 0, 10);
    add(&f, "l", "k", "b", 0, 20);
    add(&f, "r", "k", "a", 0, 100);
    add(&f, "r", "k", "c", 0, 300);
    /* limitk keeps k series per group, limit_ratio a hash-chosen subset
     * whose complement is limit_ratio(-(1 - r)). */
    assert_int_equal(count(&f, "limitk(3, m)", 0), 3);
    assert_int_equal(count(&f, "limitk(0, m)", 0), 0);
    assert_int_equal(count(&f, "limitk(3, m) and m", 0), 3);
    assert_int_equal(count(&f, "limit_ratio(1, m)", 0), 20);
    assert_int_equal(count(&f, "limit_ratio(0, m)", 0), 0);
    size_t half = count(&f, "limit_ratio(0.5, m)", 0);
    assert_true(half > 0 && half < 20);
    assert_int_equal(count(&f, "limit_ratio(0.5, m) or limit_ratio(-0.5, m)", 0), 20);
    assert_int_equal(count(&f, "limit_ratio(0.3, m) and limit_ratio(-0.7, m)", 0), 0);
    assert_int_equal(count(&f, "limit_ratio(0.5, m) and limit_ratio(0.5, m)", 0), half);
    /* fill: the missing side takes the fill value. */
    assert_int_equal(count(&f, "l + r", 0), 1);
    assert_int_equal(count(&f, "l + fill(0) r", 0), 3);
    assert_int_equal(count(&f, "l + fill_right(0) r", 0), 2);
    assert_true(one(&f, "sum(l + fill_left(5) r)", 0) == 110 + 305);
    assert_true(one(&f, "sum(l + fill_left(1) fill_right(2) r)", 0) == 110 + 22 + 301);
    assert_true(one(&f, "sum(l > bool fill(15) r)", 0) == 1);
    /* duration expressions */
    assert_int_equal(count(&f, "m[1m+1m]", 60000), 20);
    assert_true(one(&f, "sum(m offset (30s*2))", 60000) == 190);
    promql_memstore_free(f.ms);
}

/* anchored and smoothed range selectors (Prometheus 3.x extended range
 * selectors), values from Prometheus's extended_vectors.test. */
static void test_extended_range_selectors(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    /* metric 1+1x4 9+1x4 every 15s: 1..5 at 0..60s, 9..13 at 75..135s. */
    for (int i = 0; i < 10; i++)
        add(&f, "m", NULL, NULL, i * 15000, i < 5 ? 1 + i : 4 + i);
    assert_true(fabs(one(&f, "increase(m[1m])", 20000) - 1.833333333) < 1e-6);
    /* anchored: last sample at or before the window start, no extrapolation. */
    assert_true(one(&f, "increase(m[1m] anchored)", 5000) == 0);
    assert_true(one(&f, "increase(m[1m] anchored)", 80000) == 7);
    assert_true(one(&f, "delta(m[1m] anchored)", 125000) == 7);
    assert_true(one(&f, "rate(m[1m] anchored)", 80000) == 7.0 / 60);
    /* smoothed: both edges interpolated. */
    assert_true(fabs(one(&f, "increase(m[1m] smoothed)", 5000) - 1.0 / 3) < 1e-9);
    assert_true(one(&f, "increase(m[1m] smoothed)", 65000) == 5);
    assert_true(fabs(one(&f, "increase(m[1m] smoothed)", 125000) - 6) < 1e-9);
    /* an instant selector interpolates towards the next sample */
    assert_true(one(&f, "m smoothed", 22500) == 2.5);
    assert_true(one(&f, "m", 22500) == 2);
    /* a bare anchored range gets a point on each edge */
    struct promql_result *r = NULL;
    assert_int_equal(instant(&f, "m[1m] anchored", 80000, &r, NULL), 0);
    assert_int_equal(r->type, PROMQL_TYPE_MATRIX);
    assert_int_equal(r->nseries, 1);
    assert_int_equal(r->series[0].npoints, 6); /* 20s, 30 45 60 75s, 80s */
    assert_int_equal(r->series[0].points[0].t, 20000);
    assert_true(r->series[0].points[0].v == 2);
    assert_int_equal(r->series[0].points[5].t, 80000);
    assert_true(r->series[0].points[5].v == 9);
    promql_result_free(r);
    /* changes sees the sample before the window too */
    assert_true(one(&f, "changes(m[1m])", 80000) == 3);
    assert_true(one(&f, "changes(m[1m] anchored)", 80000) == 4);
    /* only rate and friends (and changes, resets for anchored) accept them */
    struct promql_eval_error err;
    r = NULL;
    assert_int_not_equal(instant(&f, "deriv(m[3m] smoothed)", 60000, &r, &err), 0);
    assert_null(r);
    assert_string_equal(err.msg, "smoothed modifier can only be used with: delta, increase, rate "
                                 "- not with deriv");
    assert_int_not_equal(instant(&f, "max_over_time(m[3m] anchored)", 60000, &r, &err), 0);
    assert_string_equal(err.msg, "anchored modifier can only be used with: changes, delta, "
                                 "increase, rate, resets - not with max_over_time");

    /* a counter reset between the samples around a smoothed edge */
    promql_memstore_clear(f.ms);
    add(&f, "c", NULL, NULL, 0, 100);
    add(&f, "c", NULL, NULL, 15000, 10);
    assert_true(fabs(one(&f, "rate(c[10s] smoothed)", 12000) - 0.666666666666667) < 1e-9);
    promql_memstore_free(f.ms);
}

/* check_range_vs_instant: every step of the range query q equals the
 * instant query at that time (same label sets, same value bits). Range
 * queries compute range functions of plain selectors series by series and
 * cache grouping keys; instant queries do neither, so they are the oracle. */
static void check_range_vs_instant(struct fx *f, const char *q, int64_t start, int64_t end,
                                   int64_t step)
{
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    struct promql_result *rr = NULL;
    struct promql_eval_error err;
    struct promql_parse_opts o = { .experimental_functions = 1 };
    assert_int_equal(promql_parse(q, strlen(q), &o, &ast, &perr), 0);
    assert_int_equal(promql_eval_range(NULL, &f->st, ast->root, start, end, step, &rr, &err), 0);
    size_t seen = 0, total = 0;
    for (size_t i = 0; i < rr->nseries; i++)
        total += rr->series[i].npoints;
    for (int64_t t = start; t <= end; t += step) {
        struct promql_result *ir = NULL;
        assert_int_equal(promql_eval_instant(NULL, &f->st, ast->root, t, &ir, &err), 0);
        assert_int_equal(ir->type, PROMQL_TYPE_VECTOR);
        for (size_t k = 0; k < ir->nsamples; k++) {
            const struct promql_sample *smp = &ir->samples[k];
            const struct promql_point *p = NULL;
            for (size_t i = 0; i < rr->nseries && p == NULL; i++) {
                const struct promql_series *s = &rr->series[i];
                if (!promql_labels_equal(&s->labels, &smp->labels))
                    continue;
                for (size_t j = 0; j < s->npoints; j++)
                    if (s->points[j].t == t)
                        p = &s->points[j];
            }
            if (p == NULL)
                fail_msg("%s at %lld: sample %zu missing from the range result", q, (long long)t,
                         k);
            if (memcmp(&p->v, &smp->v, sizeof p->v) != 0)
                fail_msg("%s at %lld: range %.17g, instant %.17g", q, (long long)t, p->v, smp->v);
            seen++;
        }
        promql_result_free(ir);
    }
    assert_int_equal(seen, total);
    promql_result_free(rr);
    promql_ast_free(ast);
}

static void test_range_matches_instant(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    srand(5);
    /* Counters with resets, a gap, staleness markers and jittered times. */
    for (int s = 0; s < 6; s++) {
        char g[8], id[8];
        snprintf(g, sizeof g, "g%d", s % 2);
        snprintf(id, sizeof id, "%d", s);
        double c = 0;
        for (int64_t t = 0; t < 3600000; t += 10000 + rand() % 3000) {
            if (t > 1200000 + s * 60000 && t < 1500000 + s * 60000)
                continue;
            struct promql_label ls[3] = { { "__name__", "c" }, { "g", g }, { "id", id } };
            double v = c;
            if (rand() % 97 == 0)
                c = 0;
            else
                c += rand() % 100 / 10.0;
            if (rand() % 151 == 0)
                v = promql_stale_nan();
            assert_int_equal(promql_memstore_add(f.ms, ls, 3, t, v), 0);
        }
    }
    static const char *const qs[] = {
        "rate(c[5m])",
        "sum by (g) (rate(c[5m]))",
        "sum without (id) (increase(c[2m] offset 1m))",
        "count_over_time(c[3m] @ 600)",
        "resets(c[10m])",
        "max by (g) (max_over_time(c[1m]))",
        "deriv(c[4m]) * 2",
        "last_over_time(c[1m])",
        "avg(irate(c[1m])) + sum(delta(c[90s]))",
        "sum by (g) (rate(c[5m])) / on (g) group_left count by (g) (c)",
        "max_over_time(rate(c[2m])[10m:1m])",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        check_range_vs_instant(&f, qs[i], 0, 3600000, 45000);
        check_range_vs_instant(&f, qs[i], 1234567, 1334567, 7000);
    }
    promql_memstore_free(f.ms);
}

/* Range queries read plain selectors, aggregations of them and of streamed
 * calls from per-step rows, and build results straight from rows; instant
 * queries do none of it. Gauges with NaN, infinities and sums that
 * overflow (avg's incremental mean), series that start late, stop early or
 * go stale, so that groups appear in another order at some steps (topk's
 * ties follow that order). */
static void test_rows_match_instant(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    srand(11);
    for (int s = 0; s < 24; s++) {
        char g[8], id[8];
        snprintf(g, sizeof g, "g%d", (s * 7) % 4);
        snprintf(id, sizeof id, "%d", s);
        int64_t from = s % 5 == 1 ? 1200000 + s * 10000 : 0;
        int64_t to = s % 7 == 3 ? 2400000 : 3600000;
        double c = 0;
        for (int64_t t = from; t < to; t += 15000) {
            struct promql_label lx[3] = { { "__name__", "x" }, { "g", g }, { "id", id } };
            struct promql_label lc[3] = { { "__name__", "c" }, { "g", g }, { "id", id } };
            double v = (double)(rand() % 1000) / 7.0 - 50;
            if (s == 5 && rand() % 9 == 0)
                v = INFINITY;
            if (s == 9 && rand() % 11 == 0)
                v = -INFINITY;
            if (s == 6 && rand() % 5 == 0)
                v = NAN;
            if (s == 7 || s == 8)
                v = 1.5e308 * (rand() % 2 ? 1 : 0.75);
            if (s % 6 == 2 && t > 1800000 && t < 2100000)
                continue; /* a gap longer than the lookback */
            if (s % 8 == 4 && t >= 900000 && t < 960000)
                v = promql_stale_nan();
            c = rand() % 53 == 0 ? 0 : c + (double)(rand() % 100) / 3.0;
            assert_int_equal(promql_memstore_add(f.ms, lx, 3, t, v), 0);
            assert_int_equal(promql_memstore_add(f.ms, lc, 3, t, c), 0);
        }
    }
    static const char *const qs[] = {
        "x",
        "sum by (g) (x)",
        "avg by (g) (x)",
        "avg(x)",
        "min without (id) (x)",
        "max by (g) (x offset 2m)",
        "count(x)",
        "group by (g) (x)",
        "(sum by (g) ((x)))",
        "sum by (g) (rate(c[5m]))",
        "avg without (id) (increase(c[3m]))",
        "min by (g) (last_over_time(x[2m]))",
        "rate(c[5m])",
        "last_over_time(x[1m])",
        "topk(1, count by (g) (x))",
        "topk(2, group by (g) (x))",
        "bottomk(2, sum by (g) (x))",
        "count(count by (g) (x))",
        "sum by (g) (x @ 1800)",
        "sum by (id) (x) - on (id) avg by (id) (rate(c[2m]))",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        check_range_vs_instant(&f, qs[i], 0, 3600000, 45000);
        check_range_vs_instant(&f, qs[i], 1234567, 1334567, 7000);
        check_range_vs_instant(&f, qs[i], 3000000, 4000000, 60000);
    }
    promql_memstore_free(f.ms);
}

/* histogram_quantile over the steps of a range query reuses a step's
 * grouping of its input while the input's label sets stay the same: bucket
 * series that start late, stop early or go stale change them, and a
 * malformed le warns at every step it is seen. */
static void test_histogram_quantile_range(void **state)
{
    static const char *const les[] = { "0.1", "0.5", "1", "+Inf", "2" };
    (void)state;
    struct fx f;
    fx_init(&f);
    srand(13);
    for (int s = 0; s < 16; s++) {
        char job[8];
        snprintf(job, sizeof job, "j%d", s == 15 ? 1 : s / 5);
        /* Series 15 takes over from series 6 (stale from 2000000 on): as
         * many samples, other label sets. */
        const char *le = s == 15 ? "0.7" : s == 14 ? "bad" : les[s % 5];
        int64_t from = s == 2 ? 1500000 : s == 15 ? 2000000 : 0;
        int64_t to = s == 8 ? 2500000 : s == 6 ? 2000001 : 3600000;
        double c = 0;
        for (int64_t t = from; t < to; t += 15000) {
            struct promql_label l[3] = { { "__name__", "h_bucket" }, { "job", job }, { "le", le } };
            if (s == 14 && (t < 600000 || t > 900000))
                continue; /* the malformed le only for a while */
            c += (double)(rand() % 10) * (s % 5 + 1);
            double v = (s == 11 && t >= 2000000 && t < 2100000) || (s == 6 && t == 2000000)
                           ? promql_stale_nan()
                           : c;
            assert_int_equal(promql_memstore_add(f.ms, l, 3, t, v), 0);
        }
    }
    static const char *const qs[] = {
        "histogram_quantile(0.9, rate(h_bucket[2m]))",
        "histogram_quantile(0.5, sum by (le) (rate(h_bucket[5m])))",
        "histogram_quantile(0.99, sum by (le, job) (increase(h_bucket[3m])))",
        "histogram_fraction(0, 0.7, rate(h_bucket[2m]))",
        "histogram_quantile(0.5, h_bucket) + histogram_quantile(0.9, h_bucket)",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        check_range_vs_instant(&f, qs[i], 0, 3600000, 45000);
        check_range_vs_instant(&f, qs[i], 1234567, 2334567, 7000);
    }
    promql_memstore_free(f.ms);
}

/* An instant query's histogram_quantile and histogram_fraction samples carry
 * the evaluation time, as every other function's (they had 0). */
static void test_histogram_quantile_instant_time(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    static const char *const les[] = { "1", "+Inf" };
    for (int i = 0; i < 2; i++) {
        struct promql_label l[2] = { { "__name__", "h_bucket" }, { "le", les[i] } };
        assert_int_equal(promql_memstore_add(f.ms, l, 2, 60000, 3.0 + 2 * i), 0);
    }
    static const char *const qs[] = { "histogram_quantile(0.5, h_bucket)",
                                      "histogram_fraction(0, 1, h_bucket)" };
    for (size_t i = 0; i < 2; i++) {
        struct promql_result *r = NULL;
        struct promql_eval_error err;
        assert_int_equal(instant(&f, qs[i], 90000, &r, &err), 0);
        assert_int_equal(r->nsamples, 1);
        assert_int_equal(r->samples[0].t, 90000);
        promql_result_free(r);
    }
    promql_memstore_free(f.ms);
}

/* Series that only differ by name once it is dropped: a range query from
 * rows merges them where they do not meet and fails where they do. */
static void test_rows_same_labelset(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    for (int64_t t = 0; t <= 1800000; t += 15000) {
        add(&f, "a", "k", "1", t, (double)t);
        if (t >= 1200000)
            add(&f, "b", "k", "1", t, (double)t * 2);
        add(&f, "p", "k", "1", t, (double)t);
        if (t >= 1200000)
            add(&f, "q", "k", "1", t + 1800000, (double)t * 2);
    }
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    const char *q = "rate({__name__=~\"a|b\"}[1m])";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &perr), 0);
    assert_int_equal(promql_eval_range(NULL, &f.st, ast->root, 0, 1800000, 60000, &r, &err),
                     TT_EINVAL);
    assert_non_null(strstr(err.msg, "same labelset"));
    assert_null(r);
    promql_ast_free(ast);
    /* p stops where q starts: one series. */
    check_range_vs_instant(&f, "rate({__name__=~\"p|q\"}[1m])", 0, 3600000, 60000);
    q = "rate({__name__=~\"p|q\"}[1m])";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &perr), 0);
    assert_int_equal(promql_eval_range(NULL, &f.st, ast->root, 0, 3600000, 60000, &r, &err), 0);
    assert_int_equal(r->nseries, 1);
    assert_true(r->series[0].points[0].t < 1800000);
    assert_true(r->series[0].points[r->series[0].npoints - 1].t > 3000000);
    promql_result_free(r);
    promql_ast_free(ast);
    promql_memstore_free(f.ms);
}

/* ---- rollups: range queries answered from rollup points equal raw ------------ */

/* A storage whose select_rollup rolls up the memstore's raw samples (an
 * oracle independent of the store's code), counting its calls. */
struct ru_store {
    struct promql_storage inner;
    int calls;
    int64_t res, mint, maxt;
    promql_rollup_fn emit;
    void *arg;
};

static int ru_collect(void *arg, const struct promql_labels *labels, const int64_t *ts,
                      const double *vs, size_t n)
{
    struct ru_store *rs = arg;
    struct promql_rollup_point *p = calloc(n + 1, sizeof *p);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &vs[i], 8);
        if (ts[i] <= rs->mint || ts[i] > rs->maxt || bits == PROMQL_STALE_NAN_BITS)
            continue;
        int64_t end = ts[i] % rs->res == 0 ? ts[i] : (ts[i] / rs->res + 1) * rs->res;
        if (k > 0 && p[k - 1].t == end) {
            struct promql_rollup_point *q = &p[k - 1];
            if (vs[i] < q->min || (q->min != q->min && vs[i] == vs[i]))
                q->min = vs[i];
            if (vs[i] > q->max || (q->max != q->max && vs[i] == vs[i]))
                q->max = vs[i];
            q->sum += vs[i];
            q->count++;
            q->last = vs[i];
            q->last_t = ts[i];
        } else {
            p[k++] = (struct promql_rollup_point){ end, ts[i], vs[i], vs[i], vs[i], 1, vs[i] };
        }
    }
    int rc = k > 0 ? rs->emit(rs->arg, labels, p, k) : 0;
    free(p);
    return rc;
}

static int ru_select_rollup(void *ctx, const struct promql_matcher *m, size_t nm, int64_t mint,
                            int64_t maxt, int64_t res, promql_rollup_fn emit, void *arg, char *err,
                            size_t errlen)
{
    struct ru_store *rs = ctx;
    rs->calls++;
    assert_true(mint % res == 0 && maxt % res == 0 && mint < maxt);
    rs->res = res;
    rs->mint = mint;
    rs->maxt = maxt;
    rs->emit = emit;
    rs->arg = arg;
    return rs->inner.select(rs->inner.ctx, m, nm, mint + 1, maxt, ru_collect, rs, err, errlen);
}

static int ru_select(void *ctx, const struct promql_matcher *m, size_t nm, int64_t mint,
                     int64_t maxt, promql_series_fn emit, void *arg, char *err, size_t errlen)
{
    struct ru_store *rs = ctx;
    return rs->inner.select(rs->inner.ctx, m, nm, mint, maxt, emit, arg, err, errlen);
}

static struct promql_result *range_q(const struct promql_storage *st, const char *q, int64_t start,
                                     int64_t end, int64_t step)
{
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &perr), 0);
    struct promql_result *r = NULL;
    struct promql_eval_error e;
    int rc = promql_eval_range(NULL, st, ast->root, start, end, step, &r, &e);
    if (rc != 0)
        fail_msg("%s: %s", q, e.msg);
    promql_ast_free(ast);
    return r;
}

static void test_rollup_range_queries(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    /* Two series over 30 h at 10 s: jitter, NaNs, a stale run, a gap. */
    for (int64_t i = 0; i < 30 * 360; i++) {
        int64_t t = INT64_C(1700000000000) / 3600000 * 3600000 + i * 10000 + (i % 5 == 2 ? 3 : 0);
        double v = (double)((i * 7919) % 1000) / 8.0;
        if (i % 211 == 7)
            v = NAN;
        if (i >= 4000 && i < 4300)
            continue; /* gap of 50 min */
        if (i >= 5000 && i < 5050) {
            uint64_t b = PROMQL_STALE_NAN_BITS;
            memcpy(&v, &b, 8);
        }
        add(&f, "g", "host", "a", t, v);
        add(&f, "g", "host", "b", t, -v + 3);
    }
    struct ru_store rs = { f.st, 0, 0, 0, 0, NULL, NULL };
    struct promql_storage with = { &rs, ru_select, ru_select_rollup };
    const int64_t h = 3600000, t0 = INT64_C(1700000000000) / h * h;
    static const char *const fns[] = { "min_over_time",    "max_over_time", "sum_over_time",
                                       "count_over_time",  "avg_over_time", "last_over_time",
                                       "present_over_time" };
    static const char *const ranges[] = { "1h", "3h", "25m" };
    for (size_t fi = 0; fi < sizeof fns / sizeof fns[0]; fi++) {
        for (size_t ri = 0; ri < 3; ri++) {
            char q[128];
            snprintf(q, sizeof q, "%s(g[%s])", fns[fi], ranges[ri]);
            int calls = rs.calls;
            /* Aligned to the hour, steps of an hour and of 5 min; 25m is
             * under an hour: raw. */
            for (int st = 0; st < 2; st++) {
                int64_t step = st == 0 ? h : 300000;
                struct promql_result *a = range_q(&f.st, q, t0 + 2 * h, t0 + 29 * h, step);
                struct promql_result *b = range_q(&with, q, t0 + 2 * h, t0 + 29 * h, step);
                assert_int_equal(a->nseries, b->nseries);
                for (size_t k = 0; k < a->nseries; k++) {
                    assert_int_equal(a->series[k].npoints, b->series[k].npoints);
                    for (size_t j = 0; j < a->series[k].npoints; j++) {
                        double x = a->series[k].points[j].v, y = b->series[k].points[j].v;
                        assert_int_equal(a->series[k].points[j].t, b->series[k].points[j].t);
                        if (isnan(x) || isnan(y))
                            assert_true(isnan(x) && isnan(y));
                        else if (fabs(x - y) > 1e-9 * fmax(1, fabs(x)))
                            fail_msg("%s step %lld point %zu: raw %.17g rollup %.17g", q,
                                     (long long)step, j, x, y);
                    }
                }
                promql_result_free(a);
                promql_result_free(b);
            }
            if (ri < 2)
                assert_int_equal(rs.calls, calls + 2);
            else
                assert_int_equal(rs.calls, calls);
        }
    }
    /* Unaligned start or offset: raw. */
    int calls = rs.calls;
    promql_result_free(range_q(&with, "max_over_time(g[1h])", t0 + 2 * h + 1000, t0 + 5 * h, h));
    promql_result_free(range_q(&with, "max_over_time(g[1h] offset 1m)", t0 + 2 * h, t0 + 5 * h, h));
    assert_int_equal(rs.calls, calls);
    promql_result_free(range_q(&with, "max_over_time(g[1h] offset 5m)", t0 + 2 * h, t0 + 5 * h, h));
    assert_int_equal(rs.calls, calls + 1);
    promql_memstore_free(f.ms);
}

/* ---- stream workers ------------------------------------------------------------------ */

/* A storage that passes the memstore's first `left` series, then fails. */
struct failing_store {
    struct promql_storage inner;
    int left;
    promql_series_fn emit;
    void *arg;
};

static int fs_emit(void *arg, const struct promql_labels *labels, const int64_t *ts,
                   const double *vs, size_t n)
{
    struct failing_store *fs = arg;
    if (fs->left-- <= 0)
        return TT_EIO;
    return fs->emit(fs->arg, labels, ts, vs, n);
}

static int fs_select(void *ctx, const struct promql_matcher *m, size_t nm, int64_t mint,
                     int64_t maxt, promql_series_fn emit, void *arg, char *err, size_t errlen)
{
    struct failing_store *fs = ctx;
    fs->emit = emit;
    fs->arg = arg;
    return fs->inner.select(fs->inner.ctx, m, nm, mint, maxt, fs_emit, fs, err, errlen);
}

static int range_w(const struct promql_storage *st, const char *q, unsigned workers,
                   size_t max_samples, struct promql_result **r, struct promql_eval_error *e)
{
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &perr), 0);
    struct promql_engine_opts o = { 0 };
    o.stream_workers = workers;
    o.max_samples = max_samples;
    int rc = promql_eval_range(&o, st, ast->root, 1000000, 1000000 + 6 * 3600000, 60000, r, e);
    promql_ast_free(ast);
    return rc;
}

/* Rows computed by stream workers are the rows computed inline, bit for
 * bit, whichever thread computed them; errors come out the same. */
static void test_stream_workers(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    /* 300 counters over 7 h at 15 s, in 10 groups: resets, NaNs, a stale
     * run, series that start late or stop early. */
    for (int k = 0; k < 300; k++) {
        char inst[16], grp[16];
        snprintf(inst, sizeof inst, "i%03d", k);
        snprintf(grp, sizeof grp, "g%d", k % 10);
        struct promql_label ls[3] = { { "__name__", "c" }, { "grp", grp }, { "inst", inst } };
        double v = 0;
        int64_t from = k % 7 == 3 ? 2000 : 0, to = k % 11 == 5 ? 900 : 7 * 240;
        for (int64_t i = from; i < to; i++) {
            v += (double)((i * 31 + k * 17) % 97) / 4.0;
            if ((i + k) % 503 == 0)
                v = (double)(k % 5); /* a reset */
            double x = v;
            if ((i + k) % 389 == 11)
                x = NAN;
            if (k % 13 == 4 && i >= 600 && i < 640) {
                uint64_t b = PROMQL_STALE_NAN_BITS;
                memcpy(&x, &b, 8);
            }
            assert_int_equal(promql_memstore_add(f.ms, ls, 3, 1000000 + i * 15000 - 900000, x), 0);
        }
    }
    static const char *const qs[] = {
        "sum by (grp) (rate(c[5m]))",    "rate(c[2m])",
        "increase(c[10m] offset 3m)",    "avg_over_time(c[7m]) + on(grp, inst) changes(c[30m])",
        "max by (grp) (irate(c[1m]))",   "stddev_over_time(c[20m])",
        "resets(c[1h]) * deriv(c[15m])", "last_over_time(c[3m] @ 5000)",
    };
    for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
        struct promql_result *want = NULL;
        struct promql_eval_error e;
        assert_int_equal(range_w(&f.st, qs[qi], 0, 0, &want, &e), 0);
        assert_true(want->nseries > 0);
        for (unsigned w = 1; w <= 3; w += 2) {
            struct promql_result *got = NULL;
            assert_int_equal(range_w(&f.st, qs[qi], w, 0, &got, &e), 0);
            assert_int_equal(got->nseries, want->nseries);
            for (size_t i = 0; i < want->nseries; i++) {
                const struct promql_series *a = &want->series[i], *b = &got->series[i];
                assert_int_equal(promql_labels_cmp(&a->labels, &b->labels), 0);
                assert_int_equal(a->npoints, b->npoints);
                for (size_t j = 0; j < a->npoints; j++) {
                    assert_int_equal(a->points[j].t, b->points[j].t);
                    assert_memory_equal(&a->points[j].v, &b->points[j].v, sizeof(double));
                }
            }
            promql_result_free(got);
        }
        promql_result_free(want);
    }
    /* The sample limit, with rows still queued when it trips. */
    for (unsigned w = 0; w <= 1; w++) {
        struct promql_result *r = NULL;
        struct promql_eval_error e;
        assert_int_equal(range_w(&f.st, "rate(c[5m])", w, 100000, &r, &e), TT_ERANGE);
        assert_null(r);
        assert_non_null(strstr(e.msg, "too many samples"));
    }
    /* A storage failing half-way: its error, whatever the workers hold. */
    for (unsigned w = 0; w <= 1; w++) {
        struct failing_store fs = { f.st, 150, NULL, NULL };
        struct promql_storage st = { &fs, fs_select, NULL };
        struct promql_result *r = NULL;
        struct promql_eval_error e;
        assert_int_equal(range_w(&st, "sum(rate(c[5m]))", w, 0, &r, &e), TT_EIO);
        assert_null(r);
    }
    promql_memstore_free(f.ms);
}

/* Annotations: Prometheus's warnings and infos, each once, with the
 * position of the expression they are about. */
static void test_annotations(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    for (int64_t i = 0; i <= 20; i++) {
        add(&f, "requests_total", "job", "a", i * 15000, (double)(i * 3));
        add(&f, "temperature", "room", "hall", i * 15000, 20 + (double)(i % 4));
        add(&f, "h_bucket", "le", "1", i * 15000, (double)(i * 5));
        add(&f, "h_bucket", "le", "+Inf", i * 15000, (double)(i * 4)); /* not monotonic */
        add(&f, "h_bucket", "le", "x", i * 15000, 1);                  /* malformed */
    }
    struct promql_result *r = NULL;
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    struct promql_engine_opts o = { 0 };

    o.query = "rate(temperature[1m]) + on() group_left rate(requests_total[1m])";
    assert_int_equal(promql_parse(o.query, strlen(o.query), NULL, &ast, &perr), 0);
    assert_int_equal(promql_eval_instant(&o, &f.st, ast->root, 300000, &r, NULL), 0);
    assert_int_equal(r->ninfos, 1);
    assert_string_equal(r->infos[0], "PromQL info: metric might not be a counter, name does not "
                                     "end in _total/_sum/_count/_bucket: \"temperature\" (1:6)");
    assert_int_equal(r->nwarnings, 0);
    promql_result_free(r);
    promql_ast_free(ast);

    o.query = "quantile(1.5, temperature)\n+ on() quantile_over_time(NaN, temperature[1m])";
    assert_int_equal(promql_parse(o.query, strlen(o.query), NULL, &ast, &perr), 0);
    assert_int_equal(promql_eval_range(&o, &f.st, ast->root, 60000, 300000, 60000, &r, NULL), 0);
    assert_int_equal(r->nwarnings, 2); /* once each, not once per step */
    assert_string_equal(r->warnings[0],
                        "PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:10)");
    assert_string_equal(r->warnings[1],
                        "PromQL warning: quantile value should be between 0 and 1, got NaN (2:27)");
    promql_result_free(r);
    promql_ast_free(ast);

    o.query = "sort(histogram_quantile(0.5, h_bucket))";
    assert_int_equal(promql_parse(o.query, strlen(o.query), NULL, &ast, &perr), 0);
    assert_int_equal(promql_eval_range(&o, &f.st, ast->root, 60000, 120000, 60000, &r, NULL), 0);
    assert_int_equal(r->nwarnings, 2);
    assert_string_equal(r->warnings[0],
                        "PromQL warning: bucket label \"le\" is missing or has a malformed value "
                        "of \"x\" for metric name \"h_bucket\" (1:30)");
    assert_string_equal(r->warnings[1], "PromQL warning: sort is ineffective for range queries "
                                        "since results are always ordered by labels (1:1)");
    assert_int_equal(r->ninfos, 1);
    assert_non_null(strstr(r->infos[0], "needed to be fixed for monotonicity"));
    promql_result_free(r);
    /* The same as an instant query: sort is fine there. */
    assert_int_equal(promql_eval_instant(&o, &f.st, ast->root, 120000, &r, NULL), 0);
    assert_int_equal(r->nwarnings, 1);
    promql_result_free(r);
    promql_ast_free(ast);
    promql_memstore_free(f.ms);
}

/* ---- info() ----------------------------------------------------------------------- */

static void add_ls(struct fx *f, const struct promql_label *ls, size_t n, int64_t t, double v)
{
    assert_int_equal(promql_memstore_add(f->ms, ls, n, t, v), 0);
}

/* A storage that counts the series it hands out. */
struct counting_store {
    struct promql_storage inner;
    size_t selects, series;
    promql_series_fn emit;
    void *arg;
};

static int cs_emit(void *arg, const struct promql_labels *labels, const int64_t *ts,
                   const double *vs, size_t n)
{
    struct counting_store *cs = arg;
    cs->series++;
    return cs->emit(cs->arg, labels, ts, vs, n);
}

static int cs_select(void *ctx, const struct promql_matcher *m, size_t nm, int64_t mint,
                     int64_t maxt, promql_series_fn emit, void *arg, char *err, size_t errlen)
{
    struct counting_store *cs = ctx;
    cs->selects++;
    cs->emit = emit;
    cs->arg = arg;
    return cs->inner.select(cs->inner.ctx, m, nm, mint, maxt, cs_emit, cs, err, errlen);
}

/* label_of: the value of label k of the sample of r whose label "instance"
 * is inst (NULL when no such sample or label). */
static const char *label_of(const struct promql_result *r, const char *inst, const char *k)
{
    for (size_t i = 0; i < r->nsamples; i++) {
        const char *v = promql_labels_get(&r->samples[i].labels, "instance");
        if (v != NULL && strcmp(v, inst) == 0)
            return promql_labels_get(&r->samples[i].labels, k);
    }
    return NULL;
}

static void test_info(void **state)
{
    (void)state;
    struct fx f;
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    char inst[16], zone[16];
    fx_init(&f);
    /* 300 base series, instances 0..299 of job "j"; target_info for the
     * first 200 only, zone = instance mod 7; one base series without
     * identifying labels. */
    for (int i = 0; i < 300; i++) {
        snprintf(inst, sizeof inst, "%d", i);
        snprintf(zone, sizeof zone, "z%d", i % 7);
        struct promql_label b[3] = { { "__name__", "m" }, { "instance", inst }, { "job", "j" } };
        struct promql_label ti[4] = {
            { "__name__", "target_info" }, { "instance", inst }, { "job", "j" }, { "zone", zone }
        };
        for (int64_t t = 0; t <= 600000; t += 60000) {
            add_ls(&f, b, 3, t, i);
            if (i < 200)
                add_ls(&f, ti, 4, t, 1);
        }
    }
    struct promql_label lone[2] = { { "__name__", "m" }, { "other", "x" } };
    for (int64_t t = 0; t <= 600000; t += 60000)
        add_ls(&f, lone, 2, t, 5);

    /* Each enriched with its own zone; the rest (and the lone series)
     * unchanged. */
    assert_int_equal(instant(&f, "info(m)", 300000, &r, &err), 0);
    assert_int_equal(r->nsamples, 301);
    assert_string_equal(label_of(r, "0", "zone"), "z0");
    assert_string_equal(label_of(r, "123", "zone"), "z4");
    assert_string_equal(label_of(r, "199", "zone"), "z3");
    assert_null(label_of(r, "200", "zone"));
    assert_non_null(label_of(r, "299", "job"));
    for (size_t i = 0; i < r->nsamples; i++) /* the name stays (no drop) */
        assert_string_equal(promql_labels_get(&r->samples[i].labels, "__name__"), "m");
    promql_result_free(r);
    /* A data matcher rejecting "" drops what has no info series. */
    assert_int_equal(count(&f, "info(m, {zone=~\".+\"})", 300000), 200);
    assert_int_equal(count(&f, "info(m, {zone=\"z0\"})", 300000), 29);
    /* One that accepts "" keeps the others, unenriched. */
    assert_int_equal(instant(&f, "info(m, {zone=~\"z0|\"})", 300000, &r, &err), 0);
    assert_int_equal(r->nsamples, 301);
    assert_string_equal(label_of(r, "7", "zone"), "z0");
    assert_null(label_of(r, "8", "zone"));
    promql_result_free(r);
    assert_true(one(&f, "count(count by (zone) (info(m, {zone=~\".+\"})))", 300000) == 7);
    assert_true(one(&f, "sum(info(m) * 0 + 1)", 300000) == 301);
    /* Lookback: the last info sample is at 10m. */
    assert_int_equal(count(&f, "info(m, {zone=~\".+\"})", 900000), 0);
    assert_int_equal(count(&f, "info(m offset 5m, {zone=~\".+\"})", 900000), 200);
    assert_int_equal(count(&f, "info(m @ 60, {zone=~\".+\"})", 3600000), 200);

    /* The data-label selector only filters: it is never fetched itself
     * (here it would match every series). */
    struct counting_store cs = { f.st, 0, 0, NULL, NULL };
    struct promql_storage st = { &cs, cs_select, NULL };
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    struct promql_parse_opts po = { .experimental_functions = 1 };
    const char *q = "info(m, {zone=~\".*\"})";
    assert_int_equal(promql_parse(q, strlen(q), &po, &ast, &perr), 0);
    assert_int_equal(promql_eval_instant(NULL, &st, ast->root, 300000, &r, &err), 0);
    assert_int_equal(r->nsamples, 301);
    assert_int_equal(cs.selects, 2);
    assert_int_equal(cs.series, 301 + 200);
    promql_result_free(r);
    promql_ast_free(ast);

    /* A range query agrees with instant queries at every step. */
    check_range_vs_instant(&f, "info(m)", 0, 900000, 60000);
    check_range_vs_instant(&f, "sum by (zone) (info(rate(m[5m])))", 0, 900000, 30000);
    check_range_vs_instant(&f, "info(m offset 3m, {zone=~\"z[12]\"})", 0, 900000, 60000);
    promql_memstore_free(f.ms);
}

/* info() with no info series at all, churning info series over a range
 * query, and Prometheus's errors. */
static void test_info_churn_and_errors(void **state)
{
    (void)state;
    struct fx f;
    struct promql_result *r = NULL;
    struct promql_eval_error err;
    fx_init(&f);
    struct promql_label b[3] = { { "__name__", "m" }, { "instance", "a" }, { "job", "j" } };
    for (int64_t t = 0; t <= 600000; t += 60000)
        add_ls(&f, b, 3, t, (double)t / 60000);

    /* No info series: unchanged, or nothing when a matcher needs a value. */
    assert_int_equal(instant(&f, "info(m)", 60000, &r, &err), 0);
    assert_int_equal(r->nsamples, 1);
    assert_int_equal(r->samples[0].labels.n, 3);
    promql_result_free(r);
    assert_int_equal(count(&f, "info(m, {v=~\".+\"})", 60000), 0);
    assert_int_equal(count(&f, "info(m, {__name__=\"nope_info\"})", 60000), 1);

    /* build_info with v1 until 4m, v2 from 5m (no staleness marker: the
     * newer sample wins while both are within lookback). */
    struct promql_label v1[4] = {
        { "__name__", "build_info" }, { "instance", "a" }, { "job", "j" }, { "version", "v1" }
    };
    struct promql_label v2[4] = {
        { "__name__", "build_info" }, { "instance", "a" }, { "job", "j" }, { "version", "v2" }
    };
    for (int64_t t = 0; t <= 240000; t += 60000)
        add_ls(&f, v1, 4, t, 1);
    for (int64_t t = 300000; t <= 600000; t += 60000)
        add_ls(&f, v2, 4, t, 1);
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    struct promql_parse_opts po = { .experimental_functions = 1 };
    const char *q = "info(m, {__name__=\"build_info\"})";
    assert_int_equal(promql_parse(q, strlen(q), &po, &ast, &perr), 0);
    assert_int_equal(promql_eval_range(NULL, &f.st, ast->root, 0, 600000, 60000, &r, &err), 0);
    assert_int_equal(r->nseries, 2);
    /* Sorted by labels: version v1 first. */
    assert_string_equal(promql_labels_get(&r->series[0].labels, "version"), "v1");
    assert_int_equal(r->series[0].npoints, 5);
    assert_true(r->series[0].points[4].t == 240000 && r->series[0].points[4].v == 4);
    assert_string_equal(promql_labels_get(&r->series[1].labels, "version"), "v2");
    assert_int_equal(r->series[1].npoints, 6);
    assert_true(r->series[1].points[0].t == 300000 && r->series[1].points[0].v == 5);
    promql_result_free(r);
    /* The same with stream workers. */
    struct promql_engine_opts eo = { .stream_workers = 2 };
    assert_int_equal(promql_eval_range(&eo, &f.st, ast->root, 0, 600000, 60000, &r, &err), 0);
    assert_int_equal(r->nseries, 2);
    promql_result_free(r);
    promql_ast_free(ast);
    check_range_vs_instant(&f, "info(m, {__name__=~\".+_info\"})", 0, 600000, 60000);

    /* Two series of one info metric with samples at the same time. */
    struct promql_label v3[4] = {
        { "__name__", "build_info" }, { "instance", "a" }, { "job", "j" }, { "version", "v3" }
    };
    add_ls(&f, v3, 4, 600000, 1);
    assert_int_equal(instant(&f, "info(m, {__name__=\"build_info\"})", 600000, &r, &err),
                     TT_EINVAL);
    assert_non_null(strstr(err.msg, "found duplicate series for info metric: existing "
                                    "{__name__=\"build_info\", instance=\"a\", job=\"j\", "
                                    "version=\"v"));
    assert_non_null(strstr(err.msg, "@ 600000"));
    /* Two info metrics disagreeing on a data label. */
    struct promql_label ti[4] = {
        { "__name__", "target_info" }, { "instance", "a" }, { "job", "j" }, { "version", "other" }
    };
    add_ls(&f, ti, 4, 60000, 1);
    assert_int_equal(instant(&f, "info(m, {__name__=~\".+_info\"})", 60000, &r, &err), TT_EINVAL);
    assert_string_equal(err.msg, "conflicting label: version");
    /* Not when the data matchers leave the label out, nor when the base
     * series has it. */
    assert_int_equal(count(&f, "info(m, {__name__=~\".+_info\", zone=~\".*\"})", 60000), 1);
    assert_int_equal(
        count(&f,
              "info(label_replace(m, \"version\", \"own\", \"\", \"\"), {__name__=~\".+_info\"})",
              60000),
        1);
    promql_memstore_free(f.ms);
}

UNIT_TESTS(cmocka_unit_test(test_info), cmocka_unit_test(test_info_churn_and_errors),
           cmocka_unit_test(test_xxh64), cmocka_unit_test(test_range_matches_instant),
           cmocka_unit_test(test_experimental_features),
           cmocka_unit_test(test_selectors_lookback_staleness),
           cmocka_unit_test(test_rate_and_functions),
           cmocka_unit_test(test_aggregation_and_matching), cmocka_unit_test(test_range_query),
           cmocka_unit_test(test_runner_counts), cmocka_unit_test(test_extended_range_selectors),
           cmocka_unit_test(test_rollup_range_queries), cmocka_unit_test(test_stream_workers),
           cmocka_unit_test(test_annotations), cmocka_unit_test(test_rows_match_instant),
           cmocka_unit_test(test_histogram_quantile_range),
           cmocka_unit_test(test_histogram_quantile_instant_time),
           cmocka_unit_test(test_rows_same_labelset))
