/*
 * eval_func.c - PromQL functions: the range-vector functions (rate,
 * increase, delta with Prometheus's extrapolation, irate, idelta, deriv,
 * predict_linear, resets, changes, <agg>_over_time, ...), element-wise math,
 * clamping and rounding, time and date functions, label_replace/label_join,
 * sorting, absent/absent_over_time, scalar/vector (histogram_quantile over
 * classic buckets. Native-histogram functions see only floats here, so
 * they return nothing.
 *
 * Invariants: a function's output keeps the input order; every function but
 * last_over_time/first_over_time and the label and sort functions marks its
 * samples for metric-name removal, as Prometheus does.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/engine_int.h"

/* ---- range-vector functions ---------------------------------------------------------- */

struct rctx {
    const struct val *m; /* the range vector (window and range) */
    double arg;          /* scalar argument (quantile, predict duration, ...) */
    double arg2;
    int64_t t;    /* evaluation time */
    int ext;      /* the selector is anchored or smoothed (raw window) */
    int smoothed; /* ... and which */
    /* The selected series the window lies in (its clean points), or NULL. */
    const struct sel_series *src;
    /* Streamed rows only: what extrapolated() computed for earlier steps of
     * the series, or NULL. */
    struct rate_memo *memo;
};

/* The divisions of extrapolated() for one series over the steps of a range
 * query. Regular scrapes make the window's offsets from its edges, its
 * sample count and so the extrapolation factor repeat from step to step;
 * a repeated input gives the remembered quotient, the very value the
 * division would. */
struct rate_memo {
    int64_t d[3]; /* ms offsets converted to seconds: start, end, sampled */
    double q[3];
    int64_t avg_d;
    size_t avg_n;
    double avg;
    uint64_t fkey[3]; /* bits of sampled, to_start, to_end */
    double factor;
    unsigned have; /* bits 0-2: q[i]; 3: avg; 4: factor */
};

typedef int (*range_fn)(const struct rctx *c, const struct promql_series *s, double *out);

/* ---- anchored / smoothed (Prometheus's extended range selectors) ---------------------- */

/* search: the first i in [0, n) with p[i].t > x (ge: >= x), or n. */
static size_t search(const struct promql_point *p, size_t n, int64_t x, int ge)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ge ? p[mid].t >= x : p[mid].t > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

long ev_ext_first(const struct promql_point *p, size_t n, int64_t from)
{
    size_t i = search(p, n - 1, from, 0);
    return i > 0 ? (long)i - 1 : 0;
}

long ev_ext_last(const struct promql_point *p, size_t n, int64_t to)
{
    return (long)search(p, n - 1, to, 1);
}

/* interpolate: the value at t on the line p1-p2; for a counter that drops
 * between the two, the line starts from 0 at p1 (the reset happened right
 * after it), as the Prometheus test data expects. */
static double interpolate(struct promql_point p1, struct promql_point p2, int64_t t, int is_counter)
{
    double y1 = p1.v, y2 = p2.v;
    if (is_counter && y2 < y1)
        y1 = 0;
    return y1 + (y2 - y1) * (double)(t - p1.t) / (double)(p2.t - p1.t);
}

double ev_ext_left(const struct promql_point *p, size_t first, int64_t from, int smoothed,
                   int is_counter)
{
    if (smoothed && p[first].t < from)
        return interpolate(p[first], p[first + 1], from, is_counter);
    return p[first].v;
}

double ev_ext_right(const struct promql_point *p, size_t last, int64_t to, int smoothed,
                    int is_counter)
{
    if (smoothed && last > 0 && p[last].t > to)
        return interpolate(p[last - 1], p[last], to, is_counter);
    return p[last].v;
}

/* extended_rate: rate, increase or delta of an anchored or smoothed range
 * (Prometheus's extendedRate): the difference of the values at the
 * window's two edges, plus counter resets strictly inside, no
 * extrapolation. s holds the widened window. */
static int extended_rate(const struct rctx *c, const struct promql_series *s, double *out,
                         int is_counter, int is_rate)
{
    const struct promql_point *p = s->points;
    size_t n = s->npoints;
    int64_t from = c->m->win_end - c->m->range_ms, to = c->m->win_end;
    int sm = c->smoothed;
    if (n == 0)
        return 0;
    long first = ev_ext_first(p, n, from);
    long last = sm ? ev_ext_last(p, n, to) : (long)n - 1;
    /* Nothing to say when all data lies before or (smoothed) after it. */
    if (p[last].t <= from || (sm && p[first].t > to))
        return 0;
    double left = ev_ext_left(p, (size_t)first, from, sm, is_counter);
    double right = ev_ext_right(p, (size_t)last, to, sm, is_counter);
    double result = right - left;
    if (is_counter) {
        if (p[first].t <= from)
            first++;
        if (p[last].t >= to)
            last--;
        double prev = left;
        for (long i = first; i <= last; i++) {
            if (p[i].v < prev)
                result += prev;
            prev = p[i].v;
        }
        if (right < prev)
            result += prev;
    }
    if (is_rate)
        result /= (double)c->m->range_ms / 1000;
    *out = result;
    return 1;
}

static int extrapolated(const struct rctx *c, const struct promql_series *s, double *out,
                        int is_counter, int is_rate)
{
    if (c->ext)
        return extended_rate(c, s, out, is_counter, is_rate);
    const struct promql_point *p = s->points;
    size_t n = s->npoints;
    int64_t range_start = c->m->win_end - c->m->range_ms, range_end = c->m->win_end;

    if (n < 2)
        return 0;
    double result = p[n - 1].v - p[0].v;
    if (is_counter && c->src != NULL) {
        /* The same additions in the same order as the scan below, taken
         * from the series' list of resets. */
        const struct sel_series *src = c->src;
        size_t base = (size_t)(p - src->clean), k = 0, hi = src->nresets;
        while (k < hi) {
            size_t mid = k + (hi - k) / 2;
            if (src->resets[mid] <= base)
                k = mid + 1;
            else
                hi = mid;
        }
        for (; k < src->nresets && src->resets[k] < base + n; k++)
            result += src->clean[src->resets[k] - 1].v;
    } else if (is_counter) {
        for (size_t i = 1; i < n; i++)
            if (p[i].v < p[i - 1].v)
                result += p[i - 1].v;
    }
    struct rate_memo *mm = c->memo;
    int64_t d_start = p[0].t - range_start, d_end = range_end - p[n - 1].t;
    int64_t d_sampled = p[n - 1].t - p[0].t;
    double to_start, to_end, sampled, avg;
    if (mm == NULL) {
        to_start = (double)d_start / 1000;
        to_end = (double)d_end / 1000;
        sampled = (double)d_sampled / 1000;
        avg = sampled / (double)(n - 1);
    } else {
        const int64_t d[3] = { d_start, d_end, d_sampled };
        for (int i = 0; i < 3; i++)
            if (!(mm->have & (1u << i)) || mm->d[i] != d[i]) {
                mm->d[i] = d[i];
                mm->q[i] = (double)d[i] / 1000;
                mm->have |= 1u << i;
            }
        to_start = mm->q[0];
        to_end = mm->q[1];
        sampled = mm->q[2];
        if (!(mm->have & 8u) || mm->avg_d != d_sampled || mm->avg_n != n) {
            mm->avg_d = d_sampled;
            mm->avg_n = n;
            mm->avg = sampled / (double)(n - 1);
            mm->have |= 8u;
        }
        avg = mm->avg;
    }
    double threshold = avg * 1.1;

    if (to_start >= threshold)
        to_start = avg / 2;
    if (is_counter && result > 0 && p[0].v >= 0) {
        /* to_zero = sampled * (p[0].v / result) only matters when below
         * to_start; when p[0].v * sampled exceeds 2 * result * to_start
         * (both normal), the rounded to_zero is above to_start whatever
         * the rounding, and the division can be skipped. */
        double a = p[0].v * sampled;
        if (!(a > 2 * result * to_start && a >= 0x1p-1000)) {
            double to_zero = sampled * (p[0].v / result);
            if (to_zero < to_start)
                to_start = to_zero;
        }
    }
    if (to_end >= threshold)
        to_end = avg / 2;
    double factor;
    if (mm != NULL && (mm->have & 16u) && mm->fkey[0] == f64_bits(sampled) &&
        mm->fkey[1] == f64_bits(to_start) && mm->fkey[2] == f64_bits(to_end)) {
        factor = mm->factor;
    } else {
        factor = 1.0;
        if (sampled != 0)
            factor = (sampled + to_start + to_end) / sampled;
        if (is_rate)
            factor /= (double)c->m->range_ms / 1000;
        if (mm != NULL) {
            mm->fkey[0] = f64_bits(sampled);
            mm->fkey[1] = f64_bits(to_start);
            mm->fkey[2] = f64_bits(to_end);
            mm->factor = factor;
            mm->have |= 16u;
        }
    }
    *out = result * factor;
    return 1;
}

static int f_rate(const struct rctx *c, const struct promql_series *s, double *out)
{
    return extrapolated(c, s, out, 1, 1);
}

static int f_increase(const struct rctx *c, const struct promql_series *s, double *out)
{
    return extrapolated(c, s, out, 1, 0);
}

static int f_delta(const struct rctx *c, const struct promql_series *s, double *out)
{
    return extrapolated(c, s, out, 0, 0);
}

static int instant_value(const struct promql_series *s, double *out, int is_rate)
{
    size_t n = s->npoints;
    if (n < 2)
        return 0;
    const struct promql_point *a = &s->points[n - 2], *b = &s->points[n - 1];
    int64_t dt = b->t - a->t;
    if (dt == 0)
        return 0;
    double r = b->v;
    if (!is_rate || !(b->v < a->v))
        r = b->v - a->v;
    if (is_rate)
        r /= (double)dt / 1000;
    *out = r;
    return 1;
}

static int f_irate(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    return instant_value(s, out, 1);
}

static int f_idelta(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    return instant_value(s, out, 0);
}

static void linreg(const struct promql_series *s, int64_t icept_t, double *slope, double *icept)
{
    double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init = s->points[0].v;
    int consty = 1;
    for (size_t i = 0; i < s->npoints; i++) {
        double v = s->points[i].v;
        if (consty && i > 0 && v != init)
            consty = 0;
        n += 1;
        double x = (double)(s->points[i].t - icept_t) / 1e3;
        ev_kahan_inc(x, &sx, &cx);
        ev_kahan_inc(v, &sy, &cy);
        ev_kahan_inc(x * v, &sxy, &cxy);
        ev_kahan_inc(x * x, &sx2, &cx2);
    }
    if (consty) {
        if (isinf(init)) {
            *slope = *icept = NAN;
            return;
        }
        *slope = 0;
        *icept = init;
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / n, var = sx2 - sx * sx / n;
    *slope = cov / var;
    *icept = sy / n - *slope * sx / n;
}

static int f_deriv(const struct rctx *c, const struct promql_series *s, double *out)
{
    double slope, icept;
    (void)c;
    if (s->npoints < 2)
        return 0;
    linreg(s, s->points[0].t, &slope, &icept);
    *out = slope;
    return 1;
}

static int f_predict_linear(const struct rctx *c, const struct promql_series *s, double *out)
{
    double slope, icept;
    if (s->npoints < 2)
        return 0;
    linreg(s, c->t, &slope, &icept);
    *out = slope * c->arg + icept;
    return 1;
}

static int f_resets(const struct rctx *c, const struct promql_series *s, double *out)
{
    double n = 0;
    (void)c;
    for (size_t i = 1; i < s->npoints; i++)
        if (s->points[i].v < s->points[i - 1].v)
            n++;
    *out = n;
    return 1;
}

static int f_changes(const struct rctx *c, const struct promql_series *s, double *out)
{
    double n = 0;
    (void)c;
    for (size_t i = 1; i < s->npoints; i++) {
        double a = s->points[i - 1].v, b = s->points[i].v;
        if (!(a == b || (isnan(a) && isnan(b))))
            n++;
    }
    *out = n;
    return 1;
}

static int f_avg_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    double sum = s->points[0].v, count = 1, mean = 0, kc = 0;
    int incremental = 0;
    (void)c;
    for (size_t i = 1; i < s->npoints; i++) {
        double f = s->points[i].v;
        count = (double)(i + 1);
        if (!incremental) {
            double ns = sum, nc = kc;
            ev_kahan_inc(f, &ns, &nc);
            if (!isinf(ns)) {
                sum = ns;
                kc = nc;
                continue;
            }
            incremental = 1;
            mean = sum / (count - 1);
            kc /= count - 1;
        }
        double q = (count - 1) / count, m = q * mean, cc = q * kc;
        ev_kahan_inc(f / count, &m, &cc);
        mean = m;
        kc = cc;
    }
    *out = incremental ? mean + kc : sum / count + kc / count;
    return 1;
}

static int f_sum_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    double sum = 0, kc = 0;
    (void)c;
    for (size_t i = 0; i < s->npoints; i++)
        ev_kahan_inc(s->points[i].v, &sum, &kc);
    *out = isinf(sum) ? sum : sum + kc;
    return 1;
}

static int f_count_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    *out = (double)s->npoints;
    return 1;
}

static int f_present_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    (void)s;
    *out = 1;
    return 1;
}

static int f_last_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    *out = s->points[s->npoints - 1].v;
    return 1;
}

static int f_first_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    *out = s->points[0].v;
    return 1;
}

static int f_ts_of_last(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    *out = (double)s->points[s->npoints - 1].t / 1000;
    return 1;
}

static int f_ts_of_first(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    *out = (double)s->points[0].t / 1000;
    return 1;
}

/* compare_over_time: kind 0 max, 1 min, 2 ts of max, 3 ts of min. */
static int compare_over_time(const struct promql_series *s, double *out, int kind)
{
    double best = s->points[0].v;
    int64_t bt = s->points[0].t;
    for (size_t i = 0; i < s->npoints; i++) {
        double f = s->points[i].v;
        int take;
        switch (kind) {
        case 0:
            take = f > best || isnan(best);
            break;
        case 1:
            take = f < best || isnan(best);
            break;
        case 2:
            take = f >= best || isnan(best);
            break;
        default:
            take = f <= best || isnan(best);
            break;
        }
        if (take) {
            best = f;
            bt = s->points[i].t;
        }
    }
    *out = kind >= 2 ? (double)bt / 1000 : best;
    return 1;
}

static int f_max_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    return compare_over_time(s, out, 0);
}

static int f_min_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    return compare_over_time(s, out, 1);
}

static int f_ts_of_max(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    return compare_over_time(s, out, 2);
}

static int f_ts_of_min(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    return compare_over_time(s, out, 3);
}

static double variance(const struct promql_series *s)
{
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (size_t i = 0; i < s->npoints; i++) {
        double f = s->points[i].v;
        count++;
        double delta = f - (mean + cmean);
        ev_kahan_inc(delta / count, &mean, &cmean);
        ev_kahan_inc(delta * (f - (mean + cmean)), &aux, &caux);
    }
    return (aux + caux) / count;
}

static int f_stdvar_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    *out = variance(s);
    return 1;
}

static int f_stddev_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    (void)c;
    *out = sqrt(variance(s));
    return 1;
}

static int f_quantile_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    double *v = malloc(s->npoints * sizeof *v);
    if (v == NULL)
        return -1;
    for (size_t i = 0; i < s->npoints; i++)
        v[i] = s->points[i].v;
    *out = eval_quantile(c->arg, v, s->npoints);
    free(v);
    return 1;
}

static int f_mad_over_time(const struct rctx *c, const struct promql_series *s, double *out)
{
    double *v = malloc(s->npoints * sizeof *v);
    (void)c;
    if (v == NULL)
        return -1;
    for (size_t i = 0; i < s->npoints; i++) {
        v[i] = s->points[i].v;
        if (isnan(v[i])) {
            free(v);
            *out = NAN;
            return 1;
        }
    }
    double median = eval_quantile(0.5, v, s->npoints);
    for (size_t i = 0; i < s->npoints; i++)
        v[i] = fabs(v[i] - median);
    *out = eval_quantile(0.5, v, s->npoints);
    free(v);
    return 1;
}

static int f_double_exp(const struct rctx *c, const struct promql_series *s, double *out)
{
    double sf = c->arg, tf = c->arg2, s0 = 0, s1, b;
    size_t n = s->npoints;
    if (n < 2)
        return 0;
    s1 = s->points[0].v;
    b = s->points[1].v - s->points[0].v;
    for (size_t i = 1; i < n; i++) {
        double x = sf * s->points[i].v;
        if (i - 1 != 0)
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *out = s1;
    return 1;
}

struct range_def {
    const char *name;
    range_fn fn;
    int keep_name; /* last/first_over_time act like offset */
};

static const struct range_def range_defs[] = {
    { "avg_over_time", f_avg_over_time, 0 },
    { "changes", f_changes, 0 },
    { "count_over_time", f_count_over_time, 0 },
    { "delta", f_delta, 0 },
    { "deriv", f_deriv, 0 },
    { "double_exponential_smoothing", f_double_exp, 0 },
    { "first_over_time", f_first_over_time, 1 },
    { "idelta", f_idelta, 0 },
    { "increase", f_increase, 0 },
    { "irate", f_irate, 0 },
    { "last_over_time", f_last_over_time, 1 },
    { "mad_over_time", f_mad_over_time, 0 },
    { "max_over_time", f_max_over_time, 0 },
    { "min_over_time", f_min_over_time, 0 },
    { "predict_linear", f_predict_linear, 0 },
    { "present_over_time", f_present_over_time, 0 },
    { "quantile_over_time", f_quantile_over_time, 0 },
    { "rate", f_rate, 0 },
    { "resets", f_resets, 0 },
    { "stddev_over_time", f_stddev_over_time, 0 },
    { "stdvar_over_time", f_stdvar_over_time, 0 },
    { "sum_over_time", f_sum_over_time, 0 },
    { "ts_of_first_over_time", f_ts_of_first, 0 },
    { "ts_of_last_over_time", f_ts_of_last, 0 },
    { "ts_of_max_over_time", f_ts_of_max, 0 },
    { "ts_of_min_over_time", f_ts_of_min, 0 },
};

static const struct range_def *find_range_def(const char *name)
{
    for (size_t i = 0; i < sizeof range_defs / sizeof range_defs[0]; i++)
        if (strcmp(range_defs[i].name, name) == 0)
            return &range_defs[i];
    return NULL;
}

/* ---- labels for absent() ------------------------------------------------------------- */

static int absent_labels(struct ev *ev, const struct promql_expr *arg, struct promql_labels *out)
{
    const struct promql_expr *e = ev_unparen(arg);
    const struct promql_vector_selector *vs = NULL;

    out->v = NULL;
    out->n = 0;
    if (e->kind == PROMQL_VECTOR_SELECTOR)
        vs = &e->u.vs;
    else if (e->kind == PROMQL_MATRIX_SELECTOR)
        vs = &e->u.ms.vs->u.vs;
    if (vs == NULL)
        return 0;
    promql_lbuilder_reset(&ev->lb, NULL);
    for (size_t i = 0; i < vs->nmatchers; i++) {
        const struct promql_matcher *m = &vs->matchers[i];
        int has = 0;
        if (strcmp(m->name.ptr, "__name__") == 0)
            continue;
        for (size_t j = 0; j < i && !has; j++)
            has = strcmp(vs->matchers[j].name.ptr, m->name.ptr) == 0 &&
                  vs->matchers[j].op == PROMQL_MATCH_EQ;
        /* Only the first equality matcher of a name counts; any other
         * matcher on the name removes it (Prometheus's historic rule). */
        int seen_eq_before = 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(vs->matchers[j].name.ptr, m->name.ptr) == 0 &&
                vs->matchers[j].op == PROMQL_MATCH_EQ)
                seen_eq_before = 1;
        if (m->op == PROMQL_MATCH_EQ && !seen_eq_before)
            promql_lbuilder_set(&ev->lb, m->name.ptr, m->value.ptr);
        else
            promql_lbuilder_del(&ev->lb, m->name.ptr);
        (void)has;
    }
    if (promql_lbuilder_finish(&ev->lb, &ev->sa, out) != 0)
        return ev_nomem(ev);
    return 0;
}

/* ---- label_replace / label_join --------------------------------------------------- */

/* expand appends the template repl with $1, ${1}, $name, ${name} and $$
 * replaced, as Go's regexp.Expand does; a group that does not exist or did
 * not take part is empty. */
static void expand(struct wbuf *w, const char *repl, const char *subject, pcre2_code *re,
                   pcre2_match_data *md, int rc)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    for (const char *p = repl; *p;) {
        if (*p != '$') {
            wbuf_put_slow(w, p, 1);
            p++;
            continue;
        }
        p++;
        if (*p == '$') {
            wbuf_put_slow(w, "$", 1);
            p++;
            continue;
        }
        char name[128];
        size_t nl = 0;
        int braces = *p == '{';
        const char *q = braces ? p + 1 : p;
        while ((*q == '_' || (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') ||
                (*q >= 'A' && *q <= 'Z')) &&
               nl < sizeof name - 1)
            name[nl++] = *q++;
        name[nl] = '\0';
        if (nl == 0 || (braces && *q != '}')) {
            /* Not a valid reference: Go copies the '$' literally. */
            wbuf_put_slow(w, "$", 1);
            continue;
        }
        if (braces)
            q++;
        p = q;
        long group = -1;
        char *end;
        long num = strtol(name, &end, 10);
        if (*end == '\0')
            group = num;
        else
            group = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
        if (group >= 0 && group < rc && ov[2 * group] != PCRE2_UNSET)
            wbuf_put_slow(w, subject + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
    }
}

/* valid_label_name: Prometheus's UTF-8 label name rule: non-empty, valid
 * UTF-8. */
static int valid_label_name(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (*p == 0)
        return 0;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0)
            return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return 0;
    }
    return 1;
}

static int label_replace(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out)
{
    const struct promql_call *c = &e->u.call;
    const char *dst = c->args[1]->u.string.ptr, *repl = c->args[2]->u.string.ptr;
    const char *src = c->args[3]->u.string.ptr, *restr = c->args[4]->u.string.ptr;
    int errcode, rc = 0;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)restr, PCRE2_ZERO_TERMINATED,
                                   PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL | PCRE2_UTF,
                                   &errcode, &erroff, NULL);
    pcre2_match_data *md = NULL;
    struct wbuf w;

    wbuf_init(&w, 0);
    if (re == NULL)
        return ev_errorf(ev, TT_EINVAL, "invalid regular expression in label_replace(): %s", restr);
    if (!valid_label_name(dst))
        rc = ev_errorf(ev, TT_EINVAL, "invalid destination label name in label_replace(): %s", dst);
    md = pcre2_match_data_create_from_pattern(re, NULL);
    if (rc == 0 && md == NULL)
        rc = ev_nomem(ev);
    if (rc == 0)
        rc = ev_eval(ev, c->args[0], t, out);
    for (size_t i = 0; rc == 0 && i < out->n; i++) {
        struct promql_sample *s = &out->s[i];
        const char *sv = promql_labels_get(&s->labels, src);
        if (sv == NULL)
            sv = "";
        int m = pcre2_match(re, (PCRE2_SPTR)sv, strlen(sv), 0, 0, md, NULL);
        if (m < 0)
            continue;
        wbuf_reset(&w);
        expand(&w, repl, sv, re, md, m);
        char *nv = promql_arena_strdup(&ev->sa, w.data ? (const char *)w.data : "", w.len);
        if (w.err || nv == NULL) {
            rc = ev_nomem(ev);
            break;
        }
        promql_lbuilder_reset(&ev->lb, &s->labels);
        promql_lbuilder_set(&ev->lb, dst, nv);
        if (promql_lbuilder_finish(&ev->lb, &ev->sa, &s->labels) != 0) {
            rc = ev_nomem(ev);
            break;
        }
        if (strcmp(dst, "__name__") == 0)
            s->drop_name = 0;
    }
    wbuf_release(&w);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc;
}

static int label_join(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out)
{
    const struct promql_call *c = &e->u.call;
    const char *dst = c->args[1]->u.string.ptr, *sep = c->args[2]->u.string.ptr;
    struct wbuf w;
    int rc;

    for (size_t k = 3; k < c->nargs; k++)
        if (!valid_label_name(c->args[k]->u.string.ptr))
            return ev_errorf(ev, TT_EINVAL, "invalid source label name in label_join(): %s",
                             c->args[k]->u.string.ptr);
    if (!valid_label_name(dst))
        return ev_errorf(ev, TT_EINVAL, "invalid destination label name in label_join(): %s", dst);
    if ((rc = ev_eval(ev, c->args[0], t, out)) != 0)
        return rc;
    wbuf_init(&w, 0);
    for (size_t i = 0; i < out->n; i++) {
        struct promql_sample *s = &out->s[i];
        wbuf_reset(&w);
        for (size_t k = 3; k < c->nargs; k++) {
            const char *v = promql_labels_get(&s->labels, c->args[k]->u.string.ptr);
            if (k > 3 && sep[0])
                wbuf_put_slow(&w, sep, strlen(sep));
            if (v != NULL && v[0])
                wbuf_put_slow(&w, v, strlen(v));
        }
        char *nv = promql_arena_strdup(&ev->sa, w.data ? (const char *)w.data : "", w.len);
        if (w.err || nv == NULL) {
            rc = ev_nomem(ev);
            break;
        }
        promql_lbuilder_reset(&ev->lb, &s->labels);
        promql_lbuilder_set(&ev->lb, dst, nv);
        if (promql_lbuilder_finish(&ev->lb, &ev->sa, &s->labels) != 0) {
            rc = ev_nomem(ev);
            break;
        }
        if (strcmp(dst, "__name__") == 0)
            s->drop_name = 0;
    }
    wbuf_release(&w);
    return rc;
}

/* ---- sorting ----------------------------------------------------------------------- */

/* stable merge sort of samples with a comparison taking a context. */
typedef int (*scmp_fn)(const struct promql_sample *a, const struct promql_sample *b,
                       const void *ctx);

static void msort(struct promql_sample *v, struct promql_sample *tmp, size_t n, scmp_fn cmp,
                  const void *ctx)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    msort(v, tmp, h, cmp, ctx);
    msort(v + h, tmp, n - h, cmp, ctx);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp(&v[j], &v[i], ctx) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    copy_n(v, tmp, n * sizeof *v);
}

static int cmp_asc(const struct promql_sample *a, const struct promql_sample *b, const void *ctx)
{
    (void)ctx;
    /* ascending, NaN last */
    if (isnan(a->v))
        return isnan(b->v) ? 0 : 1;
    if (isnan(b->v))
        return -1;
    return a->v < b->v ? -1 : a->v > b->v ? 1 : 0;
}

static int cmp_desc(const struct promql_sample *a, const struct promql_sample *b, const void *ctx)
{
    (void)ctx;
    if (isnan(a->v))
        return isnan(b->v) ? 0 : 1;
    if (isnan(b->v))
        return -1;
    return a->v > b->v ? -1 : a->v < b->v ? 1 : 0;
}

/* natcmp: natural order (digit runs compared as numbers). */
static int natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *sa = a, *sb = b;
            while (*sa == '0')
                sa++;
            while (*sb == '0')
                sb++;
            const char *ea = sa, *eb = sb;
            while (*ea >= '0' && *ea <= '9')
                ea++;
            while (*eb >= '0' && *eb <= '9')
                eb++;
            if (ea - sa != eb - sb)
                return ea - sa < eb - sb ? -1 : 1;
            int c = strncmp(sa, sb, (size_t)(ea - sa));
            if (c != 0)
                return c;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

struct bylabel {
    const struct promql_call *call;
    int desc;
};

static int cmp_by_label(const struct promql_sample *a, const struct promql_sample *b,
                        const void *ctx)
{
    const struct bylabel *bl = ctx;
    int sign = bl->desc ? -1 : 1;
    for (size_t k = 1; k < bl->call->nargs; k++) {
        const char *name = bl->call->args[k]->u.string.ptr;
        const char *x = promql_labels_get(&a->labels, name),
                   *y = promql_labels_get(&b->labels, name);
        x = x ? x : "";
        y = y ? y : "";
        if (strcmp(x, y) == 0)
            continue;
        return sign * natcmp(x, y);
    }
    return sign * promql_labels_cmp(&a->labels, &b->labels);
}

/* ---- element-wise --------------------------------------------------------------------- */

static double sgn(double v)
{
    return v > 0 ? 1 : v < 0 ? -1 : v; /* keeps NaN and signed zero */
}

static double deg(double v)
{
    return v * 180 / M_PI;
}

static double rad(double v)
{
    return v * M_PI / 180;
}

struct math_def {
    const char *name;
    double (*fn)(double);
};

static const struct math_def math_defs[] = {
    { "abs", fabs },  { "acos", acos },   { "acosh", acosh }, { "asin", asin }, { "asinh", asinh },
    { "atan", atan }, { "atanh", atanh }, { "ceil", ceil },   { "cos", cos },   { "cosh", cosh },
    { "deg", deg },   { "exp", exp },     { "floor", floor }, { "ln", log },    { "log10", log10 },
    { "log2", log2 }, { "rad", rad },     { "sgn", sgn },     { "sin", sin },   { "sinh", sinh },
    { "sqrt", sqrt }, { "tan", tan },     { "tanh", tanh },
};

static int date_value(const char *name, int64_t secs, double *out)
{
    time_t tt = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL)
        return 0;
    if (strcmp(name, "minute") == 0)
        *out = tm.tm_min;
    else if (strcmp(name, "hour") == 0)
        *out = tm.tm_hour;
    else if (strcmp(name, "day_of_month") == 0)
        *out = tm.tm_mday;
    else if (strcmp(name, "day_of_week") == 0)
        *out = tm.tm_wday;
    else if (strcmp(name, "day_of_year") == 0)
        *out = tm.tm_yday + 1;
    else if (strcmp(name, "month") == 0)
        *out = tm.tm_mon + 1;
    else if (strcmp(name, "year") == 0)
        *out = tm.tm_year + 1900;
    else if (strcmp(name, "days_in_month") == 0) {
        static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int y = tm.tm_year + 1900, d = dim[tm.tm_mon];
        if (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
            d = 29;
        *out = d;
    } else
        return 0;
    return 1;
}

static int is_date_fn(const char *name)
{
    double d;
    return date_value(name, 0, &d);
}

/* ---- dispatch -------------------------------------------------------------------------- */

static int is_rate_family(const char *name)
{
    return strcmp(name, "rate") == 0 || strcmp(name, "increase") == 0 || strcmp(name, "delta") == 0;
}

/* check_ext: Prometheus's runtime check that an anchored or smoothed range
 * selector argument goes to a function that understands its edge points. */
static int check_ext(struct ev *ev, const struct promql_call *c)
{
    const char *name = c->func->name;
    for (size_t i = 0; i < c->nargs; i++) {
        const struct promql_expr *a = ev_unparen(c->args[i]);
        if (a->kind != PROMQL_MATRIX_SELECTOR)
            continue;
        const struct promql_vector_selector *vs = &a->u.ms.vs->u.vs;
        if (vs->anchored && !is_rate_family(name) && strcmp(name, "changes") != 0 &&
            strcmp(name, "resets") != 0)
            return ev_errorf(ev, TT_EINVAL,
                             "anchored modifier can only be used with: changes, delta, increase, "
                             "rate, resets - not with %s",
                             name);
        if (vs->smoothed && !is_rate_family(name))
            return ev_errorf(ev, TT_EINVAL,
                             "smoothed modifier can only be used with: delta, increase, rate - "
                             "not with %s",
                             name);
    }
    return 0;
}

int ev_stream_eligible(const struct promql_expr *e)
{
    if (e->kind != PROMQL_CALL || e->u.call.nargs != 1 ||
        find_range_def(e->u.call.func->name) == NULL)
        return 0;
    const struct promql_expr *ma = ev_unparen(e->u.call.args[0]);
    return ma->kind == PROMQL_MATRIX_SELECTOR && !ma->u.ms.vs->u.vs.anchored &&
           !ma->u.ms.vs->u.vs.smoothed;
}

int ev_stream_drop_name(const struct promql_expr *e)
{
    const struct range_def *def = find_range_def(e->u.call.func->name);
    return def == NULL || !def->keep_name;
}

int ev_stream_copy(struct stream_scratch *sc, const int64_t *ts, const double *vs, size_t n)
{
    if (n > UINT32_MAX)
        return TT_ENOMEM; /* never with the sample limit's sizes */
    if (n > sc->cap_p) {
        struct promql_point *p = realloc(sc->p, n * sizeof *p);
        if (p == NULL)
            return TT_ENOMEM;
        sc->p = p;
        sc->cap_p = n;
    }
    /* Room for a reset at every point: one pass instead of counting first. */
    if (n > sc->cap_resets) {
        uint32_t *r = realloc(sc->resets, n * sizeof *r);
        if (r == NULL)
            return TT_ENOMEM;
        sc->resets = r;
        sc->cap_resets = n;
    }
    struct promql_point *p = sc->p;
    for (size_t i = 0; i < n; i++) {
        p[i].t = ts[i];
        p[i].v = vs[i];
    }
    sc->np = n;
    return 0;
}

void ev_stream_clean(struct stream_scratch *sc, struct sel_series *s)
{
    struct promql_point *p = sc->p;
    uint32_t *resets = sc->resets;
    size_t n = sc->np, k = n, nr = 0;
    int stale = 0;
    /* Staleness markers are rare: look for one before moving anything. */
    for (size_t i = 0; i < n; i++)
        stale |= f64_bits(p[i].v) == PROMQL_STALE_NAN_BITS;
    if (stale) {
        k = 0;
        for (size_t i = 0; i < n; i++)
            if (f64_bits(p[i].v) != PROMQL_STALE_NAN_BITS)
                p[k++] = p[i];
    }
    /* Without branches: a reset is rare but unpredictable. */
    for (size_t i = 1; i < k; i++) {
        resets[nr] = (uint32_t)i;
        nr += p[i].v < p[i - 1].v;
    }
    memset(s, 0, sizeof *s);
    s->all = s->clean = p;
    s->nall = s->nclean = k;
    s->resets = resets;
    s->nresets = nr;
}

void stream_scratch_release(struct stream_scratch *sc)
{
    free(sc->p);
    free(sc->resets);
    memset(sc, 0, sizeof *sc);
}

int ev_stream_compute(const struct stream_plan *pl, struct stream_scratch *sc,
                      const struct promql_labels *labels, const int64_t *ts, const double *vs,
                      size_t n, double *out_v, uint8_t *has)
{
    struct sel_series ss;

    if (ev_stream_copy(sc, ts, vs, n) != 0)
        return TT_ENOMEM;
    ev_stream_clean(sc, &ss);
    return ev_stream_compute_clean(pl, &ss, labels, out_v, has);
}

/* window_edge: the first index at or after a (points sorted by time) whose
 * time is past lim, or np. Regular scrapes move a window's edges by the
 * same count from step to step: the guess a + d is checked first (two
 * well-predicted comparisons), the scan from a only runs when it is off. */
static inline size_t window_edge(const struct promql_point *p, size_t np, size_t a, size_t d,
                                 int64_t lim)
{
    size_t g = d < np - a ? a + d : np;
    if ((g == a || p[g - 1].t <= lim) && (g == np || p[g].t > lim))
        return g;
    while (a < np && p[a].t <= lim)
        a++;
    return a;
}

int ev_stream_compute_clean(const struct stream_plan *pl, const struct sel_series *src,
                            const struct promql_labels *labels, double *out_v, uint8_t *has)
{
    const struct range_def *def = pl->def;
    const struct sel_series ss = *src;
    struct val m;
    struct rctx c = { 0 };

    struct rate_memo memo = { 0 };
    memset(&m, 0, sizeof m);
    m.type = PROMQL_TYPE_MATRIX;
    m.range_ms = pl->range_ms;
    c.m = &m;
    c.src = &ss;
    c.memo = &memo;
    /* What ev_eval_ms and eval_range_fn do at each step. The reference
     * time only moves forward with the steps (t - offset, or a fixed @),
     * so the window's edges a (first point > r - range) and b (first
     * point > r) do too. */
    const struct promql_point *p = ss.clean;
    size_t a = 0, b = 0, np = ss.nclean, da = 0, db = 0;
    for (size_t i = 0; i < pl->nsteps; i++) {
        int64_t r = pl->ref[i];
        size_t a0 = a, b0 = b;
        a = window_edge(p, np, a, da, r - pl->range_ms);
        b = window_edge(p, np, b, db, r);
        da = a - a0;
        db = b - b0;
        double v = 0;
        int got = 0;
        if (b > a) {
            struct promql_series w = { *labels, p + a, b - a, 0 };
            m.win_end = r;
            c.t = pl->start + (int64_t)i * pl->step;
            got = def->fn(&c, &w, &v);
            if (got < 0)
                return TT_ENOMEM;
        }
        has[i] = got > 0;
        out_v[i] = v;
    }
    return 0;
}

/* stream_plan_make fills d->plan for d->stream (once per selector). */
static int stream_plan_make(struct ev *ev, struct sel_data *d)
{
    const struct promql_expr *e = d->stream;
    const struct promql_expr *ma = ev_unparen(e->u.call.args[0]);
    const struct promql_time_mods *mods = &ma->u.ms.vs->u.vs.mods;
    int64_t *ref = promql_arena_alloc_raw(ev->qa, (ev->nsteps + 1) * sizeof *ref);
    if (ref == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < ev->nsteps; i++)
        ref[i] = ev_ref_time(ev, mods, ev->start + (int64_t)i * ev->step);
    d->plan.def = find_range_def(e->u.call.func->name);
    d->plan.range_ms = ev_dur(ev, ma->u.ms.range_ms, ma->u.ms.range_expr);
    d->plan.start = ev->start;
    d->plan.step = ev->step;
    d->plan.nsteps = ev->nsteps;
    d->plan.ref = ref;
    return 0;
}

int ev_stream_series(struct ev *ev, struct sel_data *d, const struct promql_labels *labels,
                     const int64_t *ts, const double *vs, size_t n)
{
    struct stream_row *row;

    if (d->plan.ref == NULL && stream_plan_make(ev, d) != 0)
        return ev_nomem(ev);
    row = ev_stream_row_new(ev, d, labels);
    if (row == NULL)
        return ev_nomem(ev);
    /* From the second series on, rows go to the workers while this thread
     * fetches the next series; when they are all busy it computes the row
     * itself. Each row is computed by one thread from its own series alone,
     * so where it is computed does not change it. */
    if (ev->pool == NULL && !ev->pool_failed && ev->stream_workers > 0 && d->nrows > 1 &&
        stream_pool_new(&ev->pool, ev->stream_workers) != 0)
        ev->pool_failed = 1;
    if (ev->pool != NULL) {
        int rc = stream_pool_submit(ev->pool, &d->plan, &row->labels, ts, vs, n, row->v, row->has);
        if (rc < 0)
            return ev_nomem(ev);
        if (rc == 1)
            return 0;
    }
    if (ev_stream_compute(&d->plan, &ev->scratch, &row->labels, ts, vs, n, row->v, row->has) != 0)
        return ev_nomem(ev);
    return 0;
}

/* ---- rollups ----------------------------------------------------------------------- */

enum rollup_fn { RU_NONE, RU_MIN, RU_MAX, RU_SUM, RU_COUNT, RU_AVG, RU_LAST, RU_PRESENT };

static enum rollup_fn rollup_fn_of(const char *name)
{
    static const struct {
        const char *name;
        enum rollup_fn fn;
    } fns[] = { { "min_over_time", RU_MIN },        { "max_over_time", RU_MAX },
                { "sum_over_time", RU_SUM },        { "count_over_time", RU_COUNT },
                { "avg_over_time", RU_AVG },        { "last_over_time", RU_LAST },
                { "present_over_time", RU_PRESENT } };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strcmp(fns[i].name, name) == 0)
            return fns[i].fn;
    return RU_NONE;
}

#define ROLLUP_MIN_RANGE_MS INT64_C(3600000) /* "long ranges": an hour or more */

int64_t ev_rollup_res(const struct ev *ev, const struct sel_data *d, int64_t *lo, int64_t *hi)
{
    static const int64_t res[2] = { INT64_C(3600000), INT64_C(300000) };
    const struct promql_expr *e = d->stream;
    if (e == NULL || ev->st->select_rollup == NULL || ev->nsteps == 0 ||
        rollup_fn_of(e->u.call.func->name) == RU_NONE)
        return 0;
    const struct promql_expr *ma = ev_unparen(e->u.call.args[0]);
    const struct promql_time_mods *mods = &ma->u.ms.vs->u.vs.mods;
    int64_t range = ev_dur(ev, ma->u.ms.range_ms, ma->u.ms.range_expr);
    int64_t r0 = ev_ref_time(ev, mods, ev->start);
    int64_t r1 = ev_ref_time(ev, mods, ev->start + (int64_t)(ev->nsteps - 1) * ev->step);
    int64_t dr = ev->nsteps > 1 ? ev_ref_time(ev, mods, ev->start + ev->step) - r0 : 0;
    if (range < ROLLUP_MIN_RANGE_MS || r0 < INT64_MIN / 4 || r1 > INT64_MAX / 4)
        return 0;
    for (int k = 0; k < 2; k++) {
        if (range % res[k] == 0 && r0 % res[k] == 0 && dr % res[k] == 0) {
            *lo = r0 - range;
            *hi = r1;
            return res[k];
        }
    }
    return 0;
}

static void ru_min(double *a, double v)
{
    if (v < *a || (*a != *a && v == v))
        *a = v;
}

static void ru_max(double *a, double v)
{
    if (v > *a || (*a != *a && v == v))
        *a = v;
}

int ev_stream_rollup_series(struct ev *ev, struct sel_data *d, const struct promql_labels *labels,
                            const struct promql_rollup_point *p, size_t np)
{
    const struct promql_expr *e = d->stream;
    enum rollup_fn fn = rollup_fn_of(e->u.call.func->name);
    const struct promql_expr *ma = ev_unparen(e->u.call.args[0]);
    const struct promql_time_mods *mods = &ma->u.ms.vs->u.vs.mods;
    int64_t range_ms = ev_dur(ev, ma->u.ms.range_ms, ma->u.ms.range_expr);
    struct stream_row *row = ev_stream_row_new(ev, d, labels);
    if (row == NULL)
        return ev_nomem(ev);
    /* The window (r - range, r] is the rows a..b-1 (r and range are
     * multiples of the resolution, so rows are whole inside or outside). */
    size_t a = 0, b = 0;
    for (size_t i = 0; i < ev->nsteps; i++) {
        int64_t r = ev_ref_time(ev, mods, ev->start + (int64_t)i * ev->step);
        while (a < np && p[a].t <= r - range_ms)
            a++;
        while (b < np && p[b].t <= r)
            b++;
        row->has[i] = b > a;
        row->v[i] = 0;
        if (b <= a)
            continue;
        double v = 0, c = 0, cnt = 0;
        switch (fn) {
        case RU_MIN:
            v = p[a].min;
            for (size_t k = a + 1; k < b; k++)
                ru_min(&v, p[k].min);
            break;
        case RU_MAX:
            v = p[a].max;
            for (size_t k = a + 1; k < b; k++)
                ru_max(&v, p[k].max);
            break;
        case RU_SUM:
        case RU_AVG:
            for (size_t k = a; k < b; k++) {
                ev_kahan_inc(p[k].sum, &v, &c);
                cnt += p[k].count;
            }
            v = fn == RU_SUM ? v + c : (v + c) / cnt;
            break;
        case RU_COUNT:
            for (size_t k = a; k < b; k++)
                v += p[k].count;
            break;
        case RU_LAST:
            v = p[b - 1].last;
            break;
        case RU_PRESENT:
            v = 1;
            break;
        case RU_NONE:
            break;
        }
        row->v[i] = v;
    }
    return 0;
}

/* stream_step: the value of streamed call e (data in d) at step time t. */
static int stream_step(struct ev *ev, const struct promql_expr *e, const struct sel_data *d,
                       int64_t t, struct val *out)
{
    const struct range_def *def = find_range_def(e->u.call.func->name);
    return ev_rows_vector(ev, d, t, def->keep_name ? 0 : 1, out);
}

static int eval_range_fn(struct ev *ev, const struct promql_expr *e, const struct range_def *d,
                         int64_t t, struct val *out)
{
    const struct promql_call *c = &e->u.call;
    struct rctx rc_ = { 0 };
    struct val m, a;
    size_t mi = 0;
    int rc;

    for (size_t i = 0; i < ev->nsels; i++)
        if (ev->sels[i].stream == e)
            return stream_step(ev, e, &ev->sels[i], t, out);
    for (size_t i = 0; i < c->nargs; i++)
        if (c->args[i]->type == PROMQL_TYPE_MATRIX)
            mi = i;
    /* Scalar arguments first (Prometheus evaluates them per step). */
    for (size_t i = 0, k = 0; i < c->nargs; i++) {
        if (i == mi)
            continue;
        if ((rc = ev_eval(ev, c->args[i], t, &a)) != 0)
            return rc;
        if (k++ == 0)
            rc_.arg = a.scalar;
        else
            rc_.arg2 = a.scalar;
    }
    if (strcmp(d->name, "quantile_over_time") == 0)
        ev_check_quantile(ev, rc_.arg, c->args[0]->pos);
    if (strcmp(d->name, "double_exponential_smoothing") == 0) {
        if (rc_.arg <= 0 || rc_.arg >= 1)
            return ev_errorf(ev, TT_EINVAL,
                             "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", rc_.arg);
        if (rc_.arg2 <= 0 || rc_.arg2 >= 1)
            return ev_errorf(ev, TT_EINVAL, "invalid trend factor. Expected: 0 < tf < 1, got: %f",
                             rc_.arg2);
    }
    const struct promql_expr *ma = ev_unparen(c->args[mi]);
    if (ma->kind == PROMQL_MATRIX_SELECTOR &&
        (ma->u.ms.vs->u.vs.anchored || ma->u.ms.vs->u.vs.smoothed) && is_rate_family(d->name)) {
        /* rate(), increase() and delta() read the widened window themselves. */
        rc_.ext = 1;
        rc_.smoothed = ma->u.ms.vs->u.vs.smoothed;
        rc = ev_eval_ms(ev, ma, t, 1, &m);
    } else {
        rc = ev_eval(ev, c->args[mi], t, &m);
    }
    if (rc != 0)
        return rc;
    rc_.m = &m;
    rc_.t = t;
    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    out->s = ev_alloc(ev, (m.nm + 1) * sizeof *out->s);
    if (out->s == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < m.nm; i++) {
        const struct promql_series *s = &m.m[i];
        double v;
        if (s->npoints == 0)
            continue;
        rc_.src = m.src != NULL ? m.src[i] : NULL;
        int got = d->fn(&rc_, s, &v);
        if (got < 0)
            return ev_nomem(ev);
        if (got == 0)
            continue;
        struct promql_sample *o = &out->s[out->n++];
        o->labels = s->labels;
        o->v = v;
        o->t = t;
        o->drop_name = d->keep_name ? s->drop_name : 1;
    }
    return 0;
}

static int one_sample(struct ev *ev, struct val *out, double v, int64_t t)
{
    out->type = PROMQL_TYPE_VECTOR;
    out->s = ev_alloc(ev, sizeof *out->s);
    if (out->s == NULL)
        return TT_ENOMEM;
    out->s[0].labels.v = NULL;
    out->s[0].labels.n = 0;
    out->s[0].v = v;
    out->s[0].t = t;
    out->s[0].drop_name = 0;
    out->n = 1;
    return 0;
}

int eval_call(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out)
{
    const struct promql_call *c = &e->u.call;
    const char *name = c->func->name;
    const struct range_def *rd = find_range_def(name);
    struct val a, b2;
    int rc;

    if ((rc = check_ext(ev, c)) != 0)
        return rc;
    if (rd != NULL)
        return eval_range_fn(ev, e, rd, t, out);
    if (ev_is_info(e))
        return eval_info(ev, e, t, out);
    if (strcmp(name, "label_replace") == 0)
        return label_replace(ev, e, t, out);
    if (strcmp(name, "label_join") == 0)
        return label_join(ev, e, t, out);
    if (strcmp(name, "time") == 0 || strcmp(name, "pi") == 0 || strcmp(name, "start") == 0 ||
        strcmp(name, "end") == 0 || strcmp(name, "range") == 0 || strcmp(name, "step") == 0) {
        out->type = PROMQL_TYPE_SCALAR;
        switch (name[0]) {
        case 't':
            out->scalar = (double)t / 1000;
            break;
        case 'p':
            out->scalar = M_PI;
            break;
        case 's':
            out->scalar = name[1] == 't' && name[2] == 'a' ? (double)ev->start / 1000
                                                           : (double)ev->step / 1000;
            break;
        case 'e':
            out->scalar = (double)ev->end / 1000;
            break;
        default:
            out->scalar = (double)(ev->end - ev->start) / 1000;
            break;
        }
        return 0;
    }
    if (strcmp(name, "absent_over_time") == 0) {
        if ((rc = ev_eval(ev, c->args[0], t, &a)) != 0)
            return rc;
        out->type = PROMQL_TYPE_VECTOR;
        out->n = 0;
        for (size_t i = 0; i < a.nm; i++)
            if (a.m[i].npoints > 0)
                return 0;
        if ((rc = one_sample(ev, out, 1, t)) != 0)
            return rc;
        return absent_labels(ev, c->args[0], &out->s[0].labels);
    }
    /* Every other function takes vectors and scalars: evaluate the first. */
    if (c->nargs > 0 && (rc = ev_eval(ev, c->args[0], t, &a)) != 0)
        return rc;
    if (strcmp(name, "absent") == 0) {
        out->type = PROMQL_TYPE_VECTOR;
        out->n = 0;
        if (a.n > 0)
            return 0;
        if ((rc = one_sample(ev, out, 1, t)) != 0)
            return rc;
        return absent_labels(ev, c->args[0], &out->s[0].labels);
    }
    if (strcmp(name, "vector") == 0)
        return one_sample(ev, out, a.scalar, t);
    if (strcmp(name, "scalar") == 0) {
        out->type = PROMQL_TYPE_SCALAR;
        out->scalar = a.n == 1 ? a.s[0].v : NAN;
        return 0;
    }
    if (strcmp(name, "timestamp") == 0) {
        *out = a;
        for (size_t i = 0; i < out->n; i++) {
            out->s[i].v = (double)out->s[i].t / 1000;
            out->s[i].drop_name = 1;
        }
        return 0;
    }
    if (strcmp(name, "min_of") == 0 || strcmp(name, "max_of") == 0) {
        if ((rc = ev_eval(ev, c->args[1], t, &b2)) != 0)
            return rc;
        out->type = PROMQL_TYPE_SCALAR;
        if (isnan(a.scalar) || isnan(b2.scalar))
            out->scalar = NAN;
        else
            out->scalar = name[1] == 'i' ? fmin(a.scalar, b2.scalar) : fmax(a.scalar, b2.scalar);
        return 0;
    }
    if (strncmp(name, "sort", 4) == 0) {
        if (ev->start != ev->end)
            ev_annotate(ev, 0, e->pos,
                        "PromQL warning: sort is ineffective for range queries since results are "
                        "always ordered by labels");
        struct promql_sample *tmp = ev_alloc(ev, (a.n + 1) * sizeof *tmp);
        struct bylabel bl = { c, strcmp(name, "sort_by_label_desc") == 0 };
        if (tmp == NULL)
            return TT_ENOMEM;
        if (strcmp(name, "sort") == 0)
            msort(a.s, tmp, a.n, cmp_asc, NULL);
        else if (strcmp(name, "sort_desc") == 0)
            msort(a.s, tmp, a.n, cmp_desc, NULL);
        else
            msort(a.s, tmp, a.n, cmp_by_label, &bl);
        *out = a;
        return 0;
    }
    if (strcmp(name, "histogram_quantile") == 0) {
        ev_check_quantile(ev, a.scalar, c->args[0]->pos);
        if ((rc = ev_eval(ev, c->args[1], t, &b2)) != 0)
            return rc;
        return ev_histogram_quantile(ev, a.scalar, 0, 0, &b2, out, c->args[1]->pos);
    }
    if (strcmp(name, "histogram_quantiles") == 0)
        return ev_histogram_quantiles(ev, e, t, &a, out);
    if (strcmp(name, "histogram_fraction") == 0) {
        struct val in;
        if ((rc = ev_eval(ev, c->args[1], t, &b2)) != 0 ||
            (rc = ev_eval(ev, c->args[2], t, &in)) != 0)
            return rc;
        return ev_histogram_quantile(ev, a.scalar, b2.scalar, 1, &in, out, c->args[2]->pos);
    }
    if (strncmp(name, "histogram_", 10) == 0) {
        /* Native-histogram functions: floats are ignored. */
        out->type = PROMQL_TYPE_VECTOR;
        out->n = 0;
        return 0;
    }
    if (is_date_fn(name)) {
        if (c->nargs == 0) {
            double v;
            date_value(name, t / 1000, &v);
            return one_sample(ev, out, v, t);
        }
        for (size_t i = 0; i < a.n; i++) {
            double v = a.s[i].v, r = NAN;
            if (!isnan(v) && !isinf(v) && fabs(v) < 9.2e18)
                date_value(name, (int64_t)v, &r);
            a.s[i].v = r;
            a.s[i].drop_name = 1;
        }
        *out = a;
        return 0;
    }
    if (strcmp(name, "clamp") == 0 || strcmp(name, "clamp_min") == 0 ||
        strcmp(name, "clamp_max") == 0 || strcmp(name, "round") == 0) {
        double lo = -INFINITY, hi = INFINITY, to = 1;
        struct val p1, p2;
        if (c->nargs > 1 && (rc = ev_eval(ev, c->args[1], t, &p1)) != 0)
            return rc;
        if (c->nargs > 2 && (rc = ev_eval(ev, c->args[2], t, &p2)) != 0)
            return rc;
        if (strcmp(name, "clamp") == 0) {
            lo = p1.scalar;
            hi = p2.scalar;
        } else if (strcmp(name, "clamp_min") == 0) {
            lo = p1.scalar;
        } else if (strcmp(name, "clamp_max") == 0) {
            hi = p1.scalar;
        } else if (c->nargs > 1) {
            to = p1.scalar;
        }
        out->type = PROMQL_TYPE_VECTOR;
        if (name[0] == 'c' && hi < lo) {
            out->n = 0;
            return 0;
        }
        double inv = 1.0 / to;
        for (size_t i = 0; i < a.n; i++) {
            double v = a.s[i].v;
            a.s[i].v = name[0] == 'r' ? floor(v * inv + 0.5) / inv : fmax(lo, fmin(hi, v));
            a.s[i].drop_name = 1;
        }
        *out = a;
        return 0;
    }
    for (size_t k = 0; k < sizeof math_defs / sizeof math_defs[0]; k++) {
        if (strcmp(math_defs[k].name, name) != 0)
            continue;
        for (size_t i = 0; i < a.n; i++) {
            a.s[i].v = math_defs[k].fn(a.s[i].v);
            a.s[i].drop_name = 1;
        }
        *out = a;
        return 0;
    }
    return ev_errorf(ev, TT_EUNSUPPORTED, "function %s is not supported", name);
}
