/*
 * eval_rows.c - range queries from per-step rows (engine_int.h, struct
 * stream_row): plain vector selectors turned into rows while fetching
 * (the sample each step's lookback finds), aggregations computed from the
 * rows of their argument once it is fetched, and results built straight
 * from rows when the query is nothing more.
 *
 * Invariants: a streamed aggregation adds its rows' values in row order,
 * which is the order eval_aggregate would see them at each step, with the
 * same numerics (ev_agg_cell_*), so every value is the per-step one bit for
 * bit; at each step its groups come out in the order of their first row
 * with a value there, as eval_aggregate orders them. Anything these paths
 * cannot reproduce exactly is left to the per-step evaluation.
 */
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/engine_int.h"

/* ---- plain selectors ------------------------------------------------------------------ */

int ev_rows_plain_series(struct ev *ev, struct sel_data *d, const struct promql_labels *labels,
                         const int64_t *ts, const double *vs, size_t n)
{
    const struct promql_time_mods *mods = &d->vs->u.vs.mods;
    struct stream_row *row;

    if (d->plan.ref == NULL) {
        int64_t *ref = promql_arena_alloc_raw(ev->qa, (ev->nsteps + 1) * sizeof *ref);
        if (ref == NULL)
            return ev_nomem(ev);
        for (size_t i = 0; i < ev->nsteps; i++)
            ref[i] = ev_ref_time(ev, mods, ev->start + (int64_t)i * ev->step);
        d->plan.nsteps = ev->nsteps;
        d->plan.ref = ref;
    }
    row = ev_stream_row_new(ev, d, labels);
    if (row == NULL)
        return ev_nomem(ev);
    /* What eval_vs finds at each step: the last sample at or before the
     * reference time, unless it is older than the lookback or a staleness
     * marker. Reference times only move forward with the steps. */
    const int64_t *ref = d->plan.ref;
    size_t k = 0;
    for (size_t i = 0; i < ev->nsteps; i++) {
        int64_t r = ref[i];
        while (k < n && ts[k] <= r)
            k++;
        row->v[i] = 0;
        row->has[i] = 0;
        if (k == 0 || ts[k - 1] <= r - ev->lookback_ms ||
            f64_bits(vs[k - 1]) == PROMQL_STALE_NAN_BITS)
            continue;
        row->v[i] = vs[k - 1];
        row->has[i] = 1;
    }
    return 0;
}

/* step_index: the index of step time t, or an error for a time outside the
 * query's steps (which only a bug can ask for). */
static int step_index(struct ev *ev, int64_t t, size_t *i)
{
    int64_t off = t - ev->start;
    if (off < 0 || off % ev->step != 0 || (size_t)(off / ev->step) >= ev->nsteps)
        return ev_errorf(ev, TT_EINVAL, "internal error: rows read outside the query's steps");
    *i = (size_t)(off / ev->step);
    return 0;
}

int ev_rows_vector(struct ev *ev, const struct sel_data *d, int64_t t, int drop_name,
                   struct val *out)
{
    size_t i = 0;
    int rc = step_index(ev, t, &i);
    if (rc != 0)
        return rc;
    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    out->s = promql_arena_alloc_raw(&ev->sa, (d->nrows + 1) * sizeof *out->s);
    if (out->s == NULL)
        return ev_nomem(ev);
    for (size_t k = 0; k < d->nrows; k++) {
        const struct stream_row *row = &d->rows[k];
        /* Steps read across the rows: fetch each row's next values ahead
         * (a row's values are a stream the hardware does not follow). */
        if (i + 8 < ev->nsteps)
            __builtin_prefetch(row->v + i + 8);
        if (!row->has[i])
            continue;
        struct promql_sample *o = &out->s[out->n++];
        o->labels = row->labels;
        o->v = row->v[i];
        o->t = t;
        o->drop_name = drop_name;
    }
    return 0;
}

int ev_rows_plain_step(struct ev *ev, const struct sel_data *d, int64_t t, struct val *out)
{
    return ev_rows_vector(ev, d, t, 0, out);
}

/* ---- aggregations ---------------------------------------------------------------------- */

int ev_rows_agg_eligible(const struct promql_expr *e)
{
    if (e->kind != PROMQL_AGGREGATE || e->u.agg.param != NULL)
        return 0;
    switch (e->u.agg.op) {
    case PROMQL_AGG_SUM:
    case PROMQL_AGG_AVG:
    case PROMQL_AGG_MIN:
    case PROMQL_AGG_MAX:
    case PROMQL_AGG_COUNT:
    case PROMQL_AGG_GROUP:
        return 1;
    default:
        return 0;
    }
}

/* rows_drop_name: the drop_name the rows' samples carry at every step. */
static int rows_drop_name(const struct sel_data *d)
{
    return d->stream != NULL ? ev_stream_drop_name(d->stream) : 0;
}

int ev_rows_agg_build(struct ev *ev, struct sel_data *d)
{
    const struct promql_aggregate *a = &d->agg->u.agg;
    size_t nsteps = ev->nsteps;
    struct hmap h = { 0 };
    struct agg_cell *cells = NULL;
    uint32_t *grp = NULL;
    struct stream_agg *sa = NULL;
    int drop_name = rows_drop_name(d);
    int rc = 0;

    if (d->nrows >= UINT32_MAX || nsteps == 0)
        return 0; /* per-step evaluation */
    grp = malloc((d->nrows + 1) * sizeof *grp);
    sa = promql_arena_alloc(ev->qa, sizeof *sa);
    if (grp == NULL || sa == NULL || hmap_init(&h, 32) != 0) {
        rc = ev_nomem(ev);
        goto out;
    }
    /* Groups first: their number sizes the accumulators. */
    for (size_t k = 0; k < d->nrows; k++) {
        int isnew;
        uint64_t sig = ev_signature(&d->rows[k].labels, !a->without, a->grouping, a->ngrouping);
        uint32_t *slot = hmap_put(&h, sig, &isnew);
        if (slot == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        if (isnew)
            *slot = (uint32_t)sa->ng++;
        grp[k] = *slot;
    }
    /* Many groups per row: the per-step evaluation costs about the same and
     * needs no accumulators. */
    if (sa->ng > 0 && sa->ng * 2 > d->nrows + 1)
        goto out;
    sa->g = promql_arena_alloc(ev->qa, (sa->ng + 1) * sizeof *sa->g);
    sa->order = promql_arena_alloc(ev->qa, (sa->ng + 1) * sizeof *sa->order);
    cells = malloc((sa->ng * nsteps + 1) * sizeof *cells);
    if (sa->g == NULL || sa->order == NULL || cells == NULL) {
        rc = ev_nomem(ev);
        goto out;
    }
    for (size_t gi = 0; gi < sa->ng; gi++) {
        struct stream_group *g = &sa->g[gi];
        g->v = promql_arena_alloc_raw(ev->qa, nsteps * sizeof *g->v);
        g->first = promql_arena_alloc_raw(ev->qa, nsteps * sizeof *g->first);
        if (g->v == NULL || g->first == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        memset(g->first, 0xff, nsteps * sizeof *g->first);
        g->labels.v = NULL; /* set from the group's first row below */
        g->labels.n = SIZE_MAX;
        g->drop_name = drop_name;
    }
    /* Row by row in row order: each cell sees its group's values in the
     * order eval_aggregate would at that step. */
    for (size_t k = 0; k < d->nrows; k++) {
        const struct stream_row *row = &d->rows[k];
        struct stream_group *g = &sa->g[grp[k]];
        struct agg_cell *c = cells + (size_t)grp[k] * nsteps;
        if (g->labels.n == SIZE_MAX &&
            (rc = ev_agg_group_labels(ev, a, &row->labels, ev->qa, &g->labels)) != 0)
            goto out;
        ev_agg_cells_add_row(a->op, c, g->first, (uint32_t)k, row->v, row->has, nsteps);
    }
    for (size_t gi = 0; gi < sa->ng; gi++) {
        struct stream_group *g = &sa->g[gi];
        const struct agg_cell *c = cells + gi * nsteps;
        for (size_t i = 0; i < nsteps; i++)
            g->v[i] = g->first[i] != UINT32_MAX ? ev_agg_cell_value(a->op, &c[i]) : 0;
    }
    d->sagg = sa;
out:
    free(cells);
    free(grp);
    hmap_release(&h);
    return rc;
}

/* agg_order fills sa->order with the groups having a value at step i, in
 * the order of their first row there; returns how many. */
static size_t agg_order(struct stream_agg *sa, size_t i)
{
    size_t n = 0;
    int sorted = 1;
    for (size_t gi = 0; gi < sa->ng; gi++) {
        uint32_t f = sa->g[gi].first[i];
        if (f == UINT32_MAX)
            continue;
        if (n > 0 && sa->g[sa->order[n - 1]].first[i] > f)
            sorted = 0;
        sa->order[n++] = (uint32_t)gi;
    }
    if (sorted)
        return n;
    /* Insertion sort: groups that appear late at some steps are few. */
    for (size_t x = 1; x < n; x++) {
        uint32_t o = sa->order[x];
        size_t y = x;
        for (; y > 0 && sa->g[sa->order[y - 1]].first[i] > sa->g[o].first[i]; y--)
            sa->order[y] = sa->order[y - 1];
        sa->order[y] = o;
    }
    return n;
}

int ev_rows_agg_step(struct ev *ev, const struct sel_data *d, int64_t t, struct val *out)
{
    struct stream_agg *sa = d->sagg;
    size_t i = 0;
    int rc = step_index(ev, t, &i);
    if (rc != 0)
        return rc;
    out->type = PROMQL_TYPE_VECTOR;
    out->n = agg_order(sa, i);
    out->s = promql_arena_alloc_raw(&ev->sa, (out->n + 1) * sizeof *out->s);
    if (out->s == NULL)
        return ev_nomem(ev);
    for (size_t k = 0; k < out->n; k++) {
        const struct stream_group *g = &sa->g[sa->order[k]];
        struct promql_sample *o = &out->s[k];
        o->labels = g->labels;
        o->v = g->v[i];
        o->t = t;
        o->drop_name = g->drop_name;
    }
    return 0;
}

/* ---- results straight from rows -------------------------------------------------------- */

static int cmp_series(const void *a, const void *b)
{
    const struct promql_series *x = a, *y = b;
    return promql_labels_cmp(&x->labels, &y->labels);
}

/* add_series appends the output series of one row or group (labels
 * borrowed; a value at step i where first ? first[i] != UINT32_MAX :
 * has[i]) to res, unless it has no value at all. */
static int add_series(struct ev *ev, struct promql_result *res, const struct promql_labels *labels,
                      int drop_name, const double *v, const uint8_t *has, const uint32_t *first)
{
    size_t n = 0;
    for (size_t i = 0; i < ev->nsteps; i++)
        n += first ? first[i] != UINT32_MAX : has[i];
    if (n == 0)
        return 0;
    struct promql_series *o = &res->series[res->nseries];
    struct promql_labels ls = *labels;
    int rc;
    if (drop_name && (rc = ev_drop_name_labels(ev, &ls, &ls)) != 0)
        return rc;
    struct promql_point *p = promql_arena_alloc_raw(ev->qa, n * sizeof *p);
    if (p == NULL || promql_labels_copy(ev->qa, &ls, &o->labels) != 0)
        return ev_nomem(ev);
    n = 0;
    for (size_t i = 0; i < ev->nsteps; i++) {
        if (!(first ? first[i] != UINT32_MAX : has[i]))
            continue;
        p[n].t = ev->start + (int64_t)i * ev->step;
        p[n].v = v[i];
        n++;
    }
    o->points = p;
    o->npoints = n;
    o->drop_name = 0;
    res->nseries++;
    return 0;
}

int ev_rows_result(struct ev *ev, const struct promql_expr *e, struct promql_result *res)
{
    const struct sel_data *d = NULL;
    int agg = 0, rc;

    e = ev_unparen(e);
    for (size_t i = 0; i < ev->nsels && d == NULL; i++) {
        const struct sel_data *s = &ev->sels[i];
        if (s->agg == e && s->sagg != NULL)
            agg = 1;
        else if (!(s->stream != NULL && s->stream == e) && !(s->plain && s->vs == e))
            continue;
        d = s;
    }
    if (d == NULL)
        return 0;
    size_t n = agg ? d->sagg->ng : d->nrows;
    res->type = PROMQL_TYPE_MATRIX;
    res->t = ev->end;
    res->nseries = 0;
    res->series = promql_arena_alloc(ev->qa, (n + 1) * sizeof *res->series);
    if (res->series == NULL)
        return ev_nomem(ev);
    int drop_name = rows_drop_name(d);
    for (size_t k = 0; k < n; k++) {
        if (agg) {
            const struct stream_group *g = &d->sagg->g[k];
            rc = add_series(ev, res, &g->labels, g->drop_name, g->v, NULL, g->first);
        } else {
            const struct stream_row *row = &d->rows[k];
            rc = add_series(ev, res, &row->labels, drop_name, row->v, row->has, NULL);
        }
        if (rc != 0)
            return rc;
    }
    qsort(res->series, res->nseries, sizeof *res->series, cmp_series);
    /* Two rows with one label set once their names are dropped: the
     * per-step evaluation merges them or fails at the step they meet. */
    for (size_t i = 1; i < res->nseries; i++) {
        if (promql_labels_equal(&res->series[i - 1].labels, &res->series[i].labels)) {
            res->series = NULL;
            res->nseries = 0;
            return 0;
        }
    }
    return 1;
}
