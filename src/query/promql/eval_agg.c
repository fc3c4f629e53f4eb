/*
 * eval_agg.c - PromQL aggregations (sum, avg, count, min, max, group,
 * stddev, stdvar, quantile, topk, bottomk, count_values, limitk,
 * limit_ratio) with by/without,
 * computed one step at a time with Prometheus's numerics: Kahan-Neumaier
 * summation for sum and avg (switching to an incremental mean when the sum
 * overflows), Welford's method for stddev/stdvar, the same heap order for
 * topk/bottomk so ties resolve alike.
 *
 * Invariants: groups are found by a 64-bit signature of the grouping labels
 * in a hash table (linear time); groups are output in the order their
 * first sample appears.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "query/promql/engine_int.h"

struct group {
    struct promql_labels labels;
    int seen, drop_name;
    struct agg_cell cell; /* the running value (ev_agg_cell_* for the common ops) */
    /* quantile, topk, bottomk: indexes of member samples */
    size_t *idx;
    size_t n, cap;
};

static int less_nan_first(double a, double b)
{
    if (isnan(a))
        return 1;
    return a < b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (less_nan_first(x, y))
        return -1;
    if (less_nan_first(y, x))
        return 1;
    return 0;
}

double eval_quantile(double q, double *v, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(v, n, sizeof *v, cmp_double);
    double rank = q * (double)(n - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin((double)n - 1, lower + 1);
    double weight = rank - floor(rank);
    return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

/* ---- heap with Prometheus's orders (container/heap semantics) ----------------- */

struct kheap {
    const struct promql_sample *s;
    size_t *idx;
    size_t n;
    int reverse; /* bottomk: vectorByReverseValueHeap */
};

static int hless(const struct kheap *h, size_t i, size_t j)
{
    double vi = h->s[h->idx[i]].v, vj = h->s[h->idx[j]].v;
    if (isnan(vi))
        return 1;
    return h->reverse ? vi > vj : vi < vj;
}

static void hswap(struct kheap *h, size_t i, size_t j)
{
    size_t t = h->idx[i];
    h->idx[i] = h->idx[j];
    h->idx[j] = t;
}

static void hup(struct kheap *h, size_t j)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (i == j || !hless(h, j, i))
            break;
        hswap(h, i, j);
        j = i;
    }
}

static int hdown(struct kheap *h, size_t i0, size_t n)
{
    size_t i = i0;
    for (;;) {
        size_t j1 = 2 * i + 1;
        if (j1 >= n)
            break;
        size_t j = j1;
        if (j1 + 1 < n && hless(h, j1 + 1, j1))
            j = j1 + 1;
        if (!hless(h, j, i))
            break;
        hswap(h, i, j);
        i = j;
    }
    return i > i0;
}

/* ---- grouping -------------------------------------------------------------------- */

static int group_labels(struct ev *ev, const struct promql_aggregate *a,
                        const struct promql_labels *ls, struct promql_labels *out)
{
    return ev_agg_group_labels(ev, a, ls, &ev->sa, out);
}

int ev_agg_group_labels(struct ev *ev, const struct promql_aggregate *a,
                        const struct promql_labels *ls, struct promql_arena *ar,
                        struct promql_labels *out)
{
    promql_lbuilder_reset(&ev->lb, ls);
    if (a->without) {
        for (size_t i = 0; i < a->ngrouping; i++)
            promql_lbuilder_del(&ev->lb, a->grouping[i].ptr);
        promql_lbuilder_del(&ev->lb, "__name__");
    } else {
        promql_lbuilder_keep(&ev->lb, a->grouping, a->ngrouping);
    }
    if (promql_lbuilder_finish(&ev->lb, ar, out) != 0)
        return ev_nomem(ev);
    return 0;
}

static int count_values(struct ev *ev, const struct promql_aggregate *a, const char *label,
                        const struct val *in, struct val *out)
{
    struct hmap h = { 0 };
    struct promql_str *grouping = NULL;
    size_t ng = a->ngrouping;
    int rc = 0;

    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    out->s = ev_alloc(ev, (in->n + 1) * sizeof *out->s);
    grouping = ev_alloc(ev, (ng + 1) * sizeof *grouping);
    if (out->s == NULL || grouping == NULL)
        return TT_ENOMEM;
    copy_n(grouping, a->grouping, ng * sizeof *grouping);
    if (!a->without) {
        grouping[ng].ptr = (char *)label;
        grouping[ng].len = strlen(label);
        ng++;
    }
    if (hmap_init(&h, in->n) != 0)
        return ev_nomem(ev);
    for (size_t i = 0; i < in->n; i++) {
        char buf[400];
        struct promql_labels ls, gl;
        int isnew;
        promql_format_float(in->s[i].v, buf, sizeof buf);
        char *val = promql_arena_strdup(&ev->sa, buf, strlen(buf));
        if (val == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        promql_lbuilder_reset(&ev->lb, &in->s[i].labels);
        promql_lbuilder_set(&ev->lb, label, val);
        if (promql_lbuilder_finish(&ev->lb, &ev->sa, &ls) != 0) {
            rc = ev_nomem(ev);
            goto out;
        }
        uint32_t *slot = hmap_put(&h, ev_signature(&ls, !a->without, grouping, ng), &isnew);
        if (slot == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        if (!isnew) {
            out->s[*slot].v += 1;
            continue;
        }
        promql_lbuilder_reset(&ev->lb, &ls);
        if (a->without) {
            for (size_t k = 0; k < ng; k++)
                promql_lbuilder_del(&ev->lb, grouping[k].ptr);
            promql_lbuilder_del(&ev->lb, "__name__");
        } else {
            promql_lbuilder_keep(&ev->lb, grouping, ng);
        }
        if (promql_lbuilder_finish(&ev->lb, &ev->sa, &gl) != 0) {
            rc = ev_nomem(ev);
            goto out;
        }
        *slot = (uint32_t)out->n;
        out->s[out->n].labels = gl;
        out->s[out->n].v = 1;
        out->s[out->n].drop_name = 0;
        out->n++;
    }
out:
    hmap_release(&h);
    return rc;
}

static int topk(struct ev *ev, const struct promql_aggregate *a, double param, const struct val *in,
                struct val *out)
{
    struct hmap h = { 0 };
    struct group *g = NULL;
    size_t ng = 0;
    int64_t k;
    int rc = 0;

    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    if (param < 1)
        return 0;
    if (isnan(param))
        return ev_errorf(ev, TT_EINVAL, "Parameter value is NaN");
    if (param <= -9.223372036854775808e18)
        return ev_errorf(ev, TT_EINVAL, "Scalar value %g underflows int64", param);
    if (param >= 9.223372036854775807e18)
        return ev_errorf(ev, TT_EINVAL, "Scalar value %g overflows int64", param);
    if (in->n == 0)
        return 0;
    k = (int64_t)param;
    if ((size_t)(k > 0 ? k : 0) > in->n)
        k = (int64_t)in->n;
    if (k < 1)
        return 0;
    out->s = ev_alloc(ev, in->n * sizeof *out->s);
    g = calloc(in->n, sizeof *g);
    size_t *idx = ev_alloc(ev, in->n * sizeof *idx * 1);
    if (out->s == NULL || g == NULL || idx == NULL || hmap_init(&h, in->n) != 0) {
        rc = ev_nomem(ev);
        goto out;
    }
    /* Each group's heap gets k slots out of one array; groups are few. */
    size_t *slots = ev_alloc(ev, in->n * (size_t)k * sizeof *slots);
    if (slots == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < in->n; i++) {
        int isnew;
        uint32_t *slot = hmap_put(
            &h, ev_signature(&in->s[i].labels, !a->without, a->grouping, a->ngrouping), &isnew);
        if (slot == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        if (isnew) {
            *slot = (uint32_t)ng;
            g[ng].idx = slots + ng * (size_t)k;
            ng++;
        }
        struct group *gr = &g[*slot];
        struct kheap kh = { in->s, gr->idx, gr->n, a->op == PROMQL_AGG_BOTTOMK };
        double v = in->s[i].v;
        if ((int64_t)gr->n < k) {
            gr->idx[gr->n] = i;
            kh.n = ++gr->n;
            hup(&kh, kh.n - 1);
        } else {
            double top = in->s[gr->idx[0]].v;
            int better = a->op == PROMQL_AGG_TOPK ? (top < v || (isnan(top) && !isnan(v)))
                                                  : (top > v || (isnan(top) && !isnan(v)));
            if (better) {
                gr->idx[0] = i;
                if (k > 1 && !hdown(&kh, 0, kh.n))
                    hup(&kh, 0);
            }
        }
    }
    for (size_t gi = 0; gi < ng; gi++) {
        struct group *gr = &g[gi];
        struct kheap kh = { in->s, gr->idx, gr->n, a->op == PROMQL_AGG_BOTTOMK };
        /* sort.Sort(sort.Reverse(heap)): insertion sort, stable for ties. */
        for (size_t i = 1; i < gr->n; i++)
            for (size_t j = i; j > 0 && hless(&kh, j - 1, j); j--)
                hswap(&kh, j, j - 1);
        for (size_t i = 0; i < gr->n; i++)
            out->s[out->n++] = in->s[gr->idx[i]];
    }
out:
    free(g);
    hmap_release(&h);
    return rc;
}

/* limit_admits: Prometheus's HashRatioSampler.AddRatioSample: a series is
 * in when its hash offset is below r (r >= 0) or at or above 1 + r (r < 0),
 * so limit_ratio(r) and limit_ratio(-(1 - r)) are complements. */
static int limit_admits(double r, const struct promql_labels *ls)
{
    double off = (double)promql_labels_prom_hash(ls) / (double)UINT64_MAX;
    return (r >= 0 && off < r) || (r < 0 && off >= 1.0 + r);
}

/* limitk / limit_ratio: the first k series of each group in input order, or
 * the series whose label hash falls in the ratio's part of [0, 1]. */
static int limit(struct ev *ev, const struct promql_aggregate *a, double param,
                 const struct val *in, struct val *out)
{
    struct hmap h = { 0 };
    size_t *cnt = NULL, *order = NULL;
    size_t ng = 0;
    int64_t k = 0;
    int rc = 0;

    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    if (a->op == PROMQL_AGG_LIMITK) {
        if (param < 1)
            return 0;
        if (isnan(param))
            return ev_errorf(ev, TT_EINVAL, "Parameter value is NaN");
        if (param >= 9.223372036854775807e18)
            return ev_errorf(ev, TT_EINVAL, "Scalar value %g overflows int64", param);
        k = (int64_t)param;
    } else {
        if (isnan(param))
            return ev_errorf(ev, TT_EINVAL, "Ratio value is NaN");
        if (param == 0)
            return 0;
        if (param < -1 || param > 1) {
            char g[64], to[64];
            ev_fmt_float(param, g, sizeof g);
            ev_fmt_float(param < -1 ? -1 : 1, to, sizeof to);
            ev_annotate(ev, 0, a->param->pos,
                        "PromQL warning: ratio value should be between -1 and 1, got %s, capping "
                        "to %s",
                        g, to);
        }
        param = param < -1 ? -1 : param > 1 ? 1 : param;
    }
    if (in->n == 0)
        return 0;
    out->s = ev_alloc(ev, in->n * sizeof *out->s);
    cnt = calloc(in->n, sizeof *cnt);
    order = calloc(in->n, sizeof *order);
    if (out->s == NULL || cnt == NULL || order == NULL || hmap_init(&h, in->n) != 0) {
        rc = ev_nomem(ev);
        goto out;
    }
    /* Mark the kept samples, then output them group by group (groups in
     * order of first appearance, as Prometheus's result order). */
    for (size_t i = 0; i < in->n; i++) {
        int isnew;
        uint32_t *slot = hmap_put(
            &h, ev_signature(&in->s[i].labels, !a->without, a->grouping, a->ngrouping), &isnew);
        if (slot == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        if (isnew)
            *slot = (uint32_t)ng++;
        int keep;
        if (a->op == PROMQL_AGG_LIMITK)
            keep = (int64_t)cnt[*slot] < k;
        else
            keep = limit_admits(param, &in->s[i].labels);
        order[i] = keep ? (size_t)*slot + 1 : 0;
        if (keep)
            cnt[*slot]++;
    }
    /* cnt becomes each group's output offset. */
    size_t off = 0;
    for (size_t gi = 0; gi < ng; gi++) {
        size_t c = cnt[gi];
        cnt[gi] = off;
        off += c;
    }
    for (size_t i = 0; i < in->n; i++)
        if (order[i] > 0)
            out->s[cnt[order[i] - 1]++] = in->s[i];
    out->n = off;
out:
    free(cnt);
    free(order);
    hmap_release(&h);
    return rc;
}

/* agg_signature: ev_signature of ls's grouping labels for aggregation a
 * (node e), remembered per selected series: the label sets of a selector's
 * series come back at every step of a range query. */
static uint64_t agg_signature(struct ev *ev, const struct promql_expr *e,
                              const struct promql_labels *ls)
{
    const struct promql_aggregate *a = &e->u.agg;
    uint32_t id = ev_series_id(ev, ls);
    struct sig_cache *c = NULL;

    if (id == UINT32_MAX)
        return ev_signature(ls, !a->without, a->grouping, a->ngrouping);
    for (size_t i = 0; i < ev->nsigs && c == NULL; i++)
        if (ev->sigs[i].node == e)
            c = &ev->sigs[i];
    if (c == NULL) {
        struct sig_cache *n = realloc(ev->sigs, (ev->nsigs + 1) * sizeof *n);
        if (n == NULL)
            return ev_signature(ls, !a->without, a->grouping, a->ngrouping);
        ev->sigs = n;
        c = &ev->sigs[ev->nsigs];
        c->node = e;
        c->sig = malloc(ev->nids * sizeof *c->sig);
        c->have = calloc(ev->nids, 1);
        if (c->sig == NULL || c->have == NULL) {
            free(c->sig);
            free(c->have);
            return ev_signature(ls, !a->without, a->grouping, a->ngrouping);
        }
        ev->nsigs++;
    }
    if (!c->have[id]) {
        c->sig[id] = ev_signature(ls, !a->without, a->grouping, a->ngrouping);
        c->have[id] = 1;
    }
    return c->sig[id];
}

/* The numerics of sum, avg, min, max, count and group for one group, shared
 * by eval_aggregate below and the aggregations computed from rows
 * (eval_rows.c), so both give the same bits. */
void ev_agg_cell_first(enum promql_aggop op, struct agg_cell *c, double f)
{
    c->value = op == PROMQL_AGG_GROUP ? 1 : f;
    c->mean = f;
    c->c = 0;
    c->count = 1;
    c->incremental = 0;
}

void ev_agg_cell_add(enum promql_aggop op, struct agg_cell *c, double f)
{
    switch (op) {
    case PROMQL_AGG_SUM:
        ev_kahan_inc(f, &c->value, &c->c);
        break;
    case PROMQL_AGG_AVG:
        c->count++;
        if (!c->incremental) {
            double nv = c->value, nc = c->c;
            ev_kahan_inc(f, &nv, &nc);
            if (!isinf(nv)) {
                c->value = nv;
                c->c = nc;
                break;
            }
            c->incremental = 1;
            c->mean = c->value / (c->count - 1);
            c->c /= c->count - 1;
        }
        {
            double q = (c->count - 1) / c->count;
            double m = q * c->mean, cc = q * c->c;
            ev_kahan_inc(f / c->count, &m, &cc);
            c->mean = m;
            c->c = cc;
        }
        break;
    case PROMQL_AGG_MAX:
        if (c->value < f || isnan(c->value))
            c->value = f;
        break;
    case PROMQL_AGG_MIN:
        if (c->value > f || isnan(c->value))
            c->value = f;
        break;
    case PROMQL_AGG_COUNT:
        c->count++;
        break;
    default:
        break;
    }
}

void ev_agg_cells_add_row(enum promql_aggop op, struct agg_cell *c, uint32_t *first, uint32_t k,
                          const double *v, const uint8_t *has, size_t n)
{
    /* One loop per operation: the switch stays out of the loop. */
#define AGG_ROW_LOOP(ADD)                       \
    for (size_t i = 0; i < n; i++) {            \
        if (!has[i])                            \
            continue;                           \
        if (first[i] == UINT32_MAX) {           \
            first[i] = k;                       \
            ev_agg_cell_first(op, &c[i], v[i]); \
        } else {                                \
            ADD;                                \
        }                                       \
    }
    switch (op) {
    case PROMQL_AGG_SUM:
        AGG_ROW_LOOP(ev_kahan_inc(v[i], &c[i].value, &c[i].c));
        break;
    case PROMQL_AGG_COUNT:
        AGG_ROW_LOOP(c[i].count++);
        break;
    case PROMQL_AGG_GROUP:
        AGG_ROW_LOOP((void)0);
        break;
    default:
        AGG_ROW_LOOP(ev_agg_cell_add(op, &c[i], v[i]));
        break;
    }
#undef AGG_ROW_LOOP
}

double ev_agg_cell_value(enum promql_aggop op, const struct agg_cell *c)
{
    switch (op) {
    case PROMQL_AGG_AVG:
        if (c->incremental)
            return c->mean + c->c;
        return c->value / c->count + c->c / c->count;
    case PROMQL_AGG_COUNT:
        return c->count;
    case PROMQL_AGG_SUM:
        return c->value + c->c;
    default:
        return c->value;
    }
}

int eval_aggregate(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out)
{
    const struct promql_aggregate *a = &e->u.agg;
    struct val in, p;
    struct hmap h = { 0 };
    struct group *g = NULL;
    size_t ng = 0;
    double param = 0;
    int rc;

    for (size_t i = 0; i < ev->nsels; i++)
        if (ev->sels[i].agg == e && ev->sels[i].sagg != NULL)
            return ev_rows_agg_step(ev, &ev->sels[i], t, out);
    memset(&p, 0, sizeof p);
    if (a->param != NULL && (rc = ev_eval(ev, a->param, t, &p)) != 0)
        return rc;
    param = p.scalar;
    if (a->op == PROMQL_AGG_QUANTILE)
        ev_check_quantile(ev, param, a->param->pos);
    if ((rc = ev_eval(ev, a->expr, t, &in)) != 0)
        return rc;
    if (a->op == PROMQL_AGG_COUNT_VALUES)
        return count_values(ev, a, p.str, &in, out);
    if (a->op == PROMQL_AGG_TOPK || a->op == PROMQL_AGG_BOTTOMK)
        return topk(ev, a, param, &in, out);
    if (a->op == PROMQL_AGG_LIMITK || a->op == PROMQL_AGG_LIMIT_RATIO)
        return limit(ev, a, param, &in, out);

    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    if (in.n == 0)
        return 0;
    g = ev_alloc(ev, in.n * sizeof *g);
    double *qv = a->op == PROMQL_AGG_QUANTILE ? ev_alloc(ev, in.n * sizeof *qv) : NULL;
    size_t *order = ev_alloc(ev, in.n * sizeof *order);
    out->s = ev_alloc(ev, in.n * sizeof *out->s);
    /* Sized for a few groups: aggregations usually reduce a lot, and the
     * table grows when they do not. */
    if (g == NULL || order == NULL || out->s == NULL ||
        (a->op == PROMQL_AGG_QUANTILE && qv == NULL) || hmap_init(&h, in.n < 32 ? in.n : 32) != 0) {
        rc = ev_nomem(ev);
        goto out;
    }
    for (size_t i = 0; i < in.n; i++) {
        const struct promql_sample *s = &in.s[i];
        double f = s->v;
        int isnew;
        uint32_t *slot = hmap_put(&h, agg_signature(ev, e, &s->labels), &isnew);
        if (slot == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        if (isnew) {
            *slot = (uint32_t)ng;
            struct group *gr = &g[ng++];
            if ((rc = group_labels(ev, a, &s->labels, &gr->labels)) != 0)
                goto out;
            gr->seen = 1;
            gr->drop_name = s->drop_name;
            ev_agg_cell_first(a->op, &gr->cell, f);
            if (a->op == PROMQL_AGG_STDDEV || a->op == PROMQL_AGG_STDVAR)
                gr->cell.value = (isnan(f) || isinf(f)) ? NAN : 0;
            order[i] = *slot;
            continue;
        }
        struct group *gr = &g[*slot];
        order[i] = *slot;
        if (s->drop_name)
            gr->drop_name = 1;
        switch (a->op) {
        case PROMQL_AGG_STDDEV:
        case PROMQL_AGG_STDVAR: {
            struct agg_cell *c = &gr->cell;
            c->count++;
            double delta = f - c->mean;
            c->mean += delta / c->count;
            c->value += delta * (f - c->mean);
            break;
        }
        default:
            ev_agg_cell_add(a->op, &gr->cell, f);
            break;
        }
    }
    if (a->op == PROMQL_AGG_QUANTILE) {
        /* Collect each group's values contiguously. */
        size_t *start = ev_alloc(ev, (ng + 1) * sizeof *start);
        size_t *fill = ev_alloc(ev, (ng + 1) * sizeof *fill);
        if (start == NULL || fill == NULL) {
            rc = TT_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < in.n; i++)
            start[order[i] + 1]++;
        for (size_t gi = 0; gi < ng; gi++)
            start[gi + 1] += start[gi];
        copy_n(fill, start, (ng + 1) * sizeof *fill);
        for (size_t i = 0; i < in.n; i++)
            qv[fill[order[i]]++] = in.s[i].v;
        for (size_t gi = 0; gi < ng; gi++)
            g[gi].cell.value = eval_quantile(param, qv + start[gi], start[gi + 1] - start[gi]);
    }
    for (size_t gi = 0; gi < ng; gi++) {
        struct group *gr = &g[gi];
        double v;
        switch (a->op) {
        case PROMQL_AGG_STDVAR:
            v = gr->cell.value / gr->cell.count;
            break;
        case PROMQL_AGG_STDDEV:
            v = sqrt(gr->cell.value / gr->cell.count);
            break;
        case PROMQL_AGG_QUANTILE:
            v = gr->cell.value;
            break;
        default:
            v = ev_agg_cell_value(a->op, &gr->cell);
            break;
        }
        struct promql_sample *o = &out->s[out->n++];
        o->labels = gr->labels;
        o->v = v;
        o->t = t;
        o->drop_name = gr->drop_name;
    }
    rc = 0;
out:
    hmap_release(&h);
    return rc;
}
