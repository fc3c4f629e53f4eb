/*
 * eval_histogram.c - histogram_quantile, histogram_fraction and
 * histogram_quantiles over classic buckets (series with an le label):
 * grouping by the labels other than le, Prometheus's bucket quantile and
 * fraction arithmetic, monotonicity fixes and their annotations, and a
 * per-call cache of the grouping reused while the input's series stay the
 * same from step to step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/engine_int.h"

/* ---- histogram_quantile over classic buckets ------------------------------------------ */

struct bucket {
    double le, count;
};

static int cmp_bucket(const void *a, const void *b)
{
    const struct bucket *x = a, *y = b;
    return x->le < y->le ? -1 : x->le > y->le ? 1 : 0;
}

static int almost_eq(double a, double b, double eps)
{
    const double min_normal = 2.2250738585072014e-308;
    if (a == b)
        return 1;
    double diff = fabs(a - b), sum = fabs(a) + fabs(b);
    if (a == 0 || b == 0 || sum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(sum, 1.7976931348623157e308) < eps;
}

static double bucket_quantile(double q, struct bucket *b, size_t n, int *forced)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    /* stable sort by upper bound */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cmp_bucket(&b[j - 1], &b[j]) > 0; j--) {
            struct bucket t = b[j];
            b[j] = b[j - 1];
            b[j - 1] = t;
        }
    if (!isinf(b[n - 1].le) || b[n - 1].le < 0)
        return NAN;
    size_t k = 0;
    struct bucket last = b[0];
    for (size_t i = 1; i < n; i++) {
        if (b[i].le == last.le) {
            last.count += b[i].count;
        } else {
            b[k++] = last;
            last = b[i];
        }
    }
    b[k++] = last;
    n = k;
    double prev = b[0].count;
    for (size_t i = 1; i < n; i++) {
        double cur = b[i].count;
        if (cur == prev)
            continue;
        if (almost_eq(prev, cur, 1e-12)) {
            b[i].count = prev;
            continue;
        }
        if (cur < prev) {
            b[i].count = prev;
            *forced = 1;
            continue;
        }
        prev = cur;
    }
    if (n < 2)
        return NAN;
    double obs = b[n - 1].count;
    if (obs == 0)
        return NAN;
    double rank = q * obs;
    size_t i = 0;
    while (i < n - 1 && !(b[i].count >= rank))
        i++;
    if (i == n - 1)
        return b[n - 2].le;
    if (i == 0 && b[0].le <= 0)
        return b[0].le;
    double start = 0, end = b[i].le, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].le;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

static size_t sort_coalesce(struct bucket *b, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cmp_bucket(&b[j - 1], &b[j]) > 0; j--) {
            struct bucket t = b[j];
            b[j] = b[j - 1];
            b[j - 1] = t;
        }
    size_t k = 0;
    struct bucket last = b[0];
    for (size_t i = 1; i < n; i++) {
        if (b[i].le == last.le) {
            last.count += b[i].count;
        } else {
            b[k++] = last;
            last = b[i];
        }
    }
    b[k++] = last;
    return k;
}

static double bucket_fraction(double lower, double upper, struct bucket *b, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cmp_bucket(&b[j - 1], &b[j]) > 0; j--) {
            struct bucket t = b[j];
            b[j] = b[j - 1];
            b[j - 1] = t;
        }
    if (!(isinf(b[n - 1].le) && b[n - 1].le > 0))
        return NAN;
    n = sort_coalesce(b, n);
    double count = b[n - 1].count;
    if (count == 0 || isnan(lower) || isnan(upper))
        return NAN;
    if (lower >= upper)
        return 0;
    double rank = 0, lrank = 0, urank = 0;
    int lset = 0, uset = 0;
    double lb = b[0].le <= 0 ? -INFINITY : 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            lb = b[i - 1].le;
        double ub = b[i].le;
        if (!lset && lb >= lower) {
            lrank = rank;
            lset = 1;
        }
        if (!uset && lb >= upper) {
            urank = rank;
            uset = 1;
        }
        if (lset && uset)
            break;
        if (!lset && lb < lower && ub > lower) {
            lrank = isinf(lb) && lb < 0 ? b[i].count
                                        : rank + (b[i].count - rank) * (lower - lb) / (ub - lb);
            lset = 1;
        }
        if (!uset && lb < upper && ub > upper) {
            urank = isinf(lb) && lb < 0 ? b[i].count
                                        : rank + (b[i].count - rank) * (upper - lb) / (ub - lb);
            uset = 1;
        }
        if (lset && uset)
            break;
        rank = b[i].count;
    }
    if (!lset || lrank > count)
        lrank = count;
    if (!uset || urank > count)
        urank = count;
    return (urank - lrank) / count;
}

/* What histogram_quantile worked out from one step's input labels: each
 * sample's le and group, and the groups' labels. The next step reuses it
 * when its input holds the same label sets in the same order, which gives
 * the same les, groups and labels. Everything lives in the query arena. */
struct hq_cache {
    struct hq_cache *next;
    uint32_t pos; /* the call: its argument's position, and which function */
    int fraction;
    int valid;
    unsigned rebuilds;
    size_t n;                  /* input samples */
    struct promql_labels *in;  /* their label sets (copies) */
    double *les;               /* their le */
    size_t *grp;               /* their group */
    size_t ng;                 /* groups */
    struct promql_labels *out; /* the groups' labels */
};

#define HQ_CACHE_MAX_REBUILDS 16u /* inputs changing at most steps: stop caching */

static struct hq_cache *hq_cache_find(struct ev *ev, uint32_t pos, int fraction)
{
    struct hq_cache *hc;
    for (hc = ev->hqs; hc != NULL; hc = hc->next)
        if (hc->pos == pos && hc->fraction == fraction)
            return hc;
    hc = promql_arena_alloc(ev->qa, sizeof *hc);
    if (hc == NULL)
        return NULL; /* no cache: the uncached path reports memory errors itself */
    memset(hc, 0, sizeof *hc);
    hc->pos = pos;
    hc->fraction = fraction;
    hc->next = ev->hqs;
    ev->hqs = hc;
    return hc;
}

static int hq_cache_hit(const struct hq_cache *hc, const struct val *in)
{
    if (hc == NULL || !hc->valid || hc->n != in->n)
        return 0;
    for (size_t i = 0; i < in->n; i++)
        if (!promql_labels_equal(&in->s[i].labels, &hc->in[i]))
            return 0;
    return 1;
}

/* hq_cache_fill remembers one step's grouping (every sample in a group);
 * on running out of memory the cache is just left invalid. */
static void hq_cache_fill(struct ev *ev, struct hq_cache *hc, const struct val *in,
                          const double *les, const size_t *grp, const struct val *out, size_t ng)
{
    hc->valid = 0;
    if (hc->rebuilds >= HQ_CACHE_MAX_REBUILDS)
        return;
    hc->rebuilds++;
    hc->in = promql_arena_alloc(ev->qa, (in->n + 1) * sizeof *hc->in);
    hc->les = promql_arena_alloc(ev->qa, (in->n + 1) * sizeof *hc->les);
    hc->grp = promql_arena_alloc(ev->qa, (in->n + 1) * sizeof *hc->grp);
    hc->out = promql_arena_alloc(ev->qa, (ng + 1) * sizeof *hc->out);
    if (hc->in == NULL || hc->les == NULL || hc->grp == NULL || hc->out == NULL)
        return;
    for (size_t i = 0; i < in->n; i++)
        if (promql_labels_copy(ev->qa, &in->s[i].labels, &hc->in[i]) != 0)
            return;
    for (size_t g = 0; g < ng; g++)
        if (promql_labels_copy(ev->qa, &out->s[g].labels, &hc->out[g]) != 0)
            return;
    copy_n(hc->les, les, in->n * sizeof *les);
    copy_n(hc->grp, grp, in->n * sizeof *grp);
    hc->n = in->n;
    hc->ng = ng;
    hc->valid = 1;
}

/* hq_group fills grp[i] (SIZE_MAX: not a bucket) and les[i] for the
 * samples of in, out->s[g].labels for the groups, and *ngp; from hc when
 * the input's label sets are the ones it remembers. */
static int hq_group(struct ev *ev, struct hq_cache *hc, const struct val *in, struct val *out,
                    size_t *grp, double *les, size_t *ngp, uint32_t pos)
{
    static const struct promql_str le = { (char *)"le", 2 };
    struct hmap h = { 0 };
    size_t ng = 0;
    int rc = 0, all = 1;

    if (hq_cache_hit(hc, in)) {
        copy_n(grp, hc->grp, in->n * sizeof *grp);
        copy_n(les, hc->les, in->n * sizeof *les);
        for (size_t g = 0; g < hc->ng; g++) {
            out->s[g].labels = hc->out[g];
            out->s[g].drop_name = 1;
        }
        *ngp = hc->ng;
        return 0;
    }
    if (hmap_init(&h, in->n) != 0)
        return ev_nomem(ev);
    for (size_t i = 0; i < in->n; i++) {
        const char *lev = promql_labels_get(&in->s[i].labels, "le");
        char *end;
        grp[i] = SIZE_MAX;
        if (lev == NULL || (les[i] = strtod(lev, &end), end == lev || *end != '\0')) {
            const char *mn = promql_labels_get(&in->s[i].labels, "__name__");
            char suffix[512] = "";
            if (mn != NULL)
                snprintf(suffix, sizeof suffix, " for metric name \"%s\"", mn);
            ev_annotate(ev, 0, pos,
                        "PromQL warning: bucket label \"le\" is missing or has a malformed value "
                        "of \"%s\"%s",
                        lev ? lev : "", suffix);
            all = 0;
            continue;
        }
        /* signature: every label but le, metric name included */
        uint64_t sig = ev_signature(&in->s[i].labels, 0, &le, 1);
        const char *name = promql_labels_get(&in->s[i].labels, "__name__");
        if (name != NULL)
            sig = sig * 31 + promql_labels_hash(&(struct promql_labels){
                                 &(struct promql_label){ "__name__", name }, 1 });
        int isnew;
        uint32_t *slot = hmap_put(&h, sig, &isnew);
        if (slot == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        if (isnew) {
            *slot = (uint32_t)ng;
            struct promql_sample *o = &out->s[ng++];
            promql_lbuilder_reset(&ev->lb, &in->s[i].labels);
            promql_lbuilder_del(&ev->lb, "le");
            if (promql_lbuilder_finish(&ev->lb, &ev->sa, &o->labels) != 0) {
                rc = ev_nomem(ev);
                goto out;
            }
            o->drop_name = 1;
        }
        grp[i] = *slot;
    }
    *ngp = ng;
    /* Malformed buckets are warned about at every step: not cached. */
    if (hc != NULL && all)
        hq_cache_fill(ev, hc, in, les, grp, out, ng);
out:
    hmap_release(&h);
    return rc;
}

int ev_histogram_quantile(struct ev *ev, double q, double upper, int fraction, const struct val *in,
                          struct val *out, uint32_t pos)
{
    size_t *grp = NULL, *start = NULL, ng = 0;
    struct bucket *b = NULL;
    double *les = NULL; /* each sample's le, parsed once */
    int rc = 0;

    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    if (in->n == 0)
        return 0;
    grp = ev_alloc(ev, in->n * sizeof *grp);
    start = ev_alloc(ev, (in->n + 2) * sizeof *start);
    b = ev_alloc(ev, in->n * sizeof *b);
    out->s = ev_alloc(ev, in->n * sizeof *out->s);
    les = ev_alloc(ev, in->n * sizeof *les);
    if (grp == NULL || start == NULL || b == NULL || out->s == NULL || les == NULL)
        return TT_ENOMEM;
    /* Only a range query's steps can share the grouping. */
    struct hq_cache *hc = ev->nsteps > 1 ? hq_cache_find(ev, pos, fraction) : NULL;
    if ((rc = hq_group(ev, hc, in, out, grp, les, &ng, pos)) != 0)
        return rc;
    memset(start, 0, (ng + 2) * sizeof *start);
    for (size_t i = 0; i < in->n; i++)
        if (grp[i] != SIZE_MAX)
            start[grp[i] + 1]++;
    for (size_t g = 0; g < ng; g++)
        start[g + 1] += start[g];
    {
        size_t *fill = ev_alloc(ev, (ng + 1) * sizeof *fill);
        if (fill == NULL)
            return TT_ENOMEM;
        copy_n(fill, start, (ng + 1) * sizeof *fill);
        for (size_t i = 0; i < in->n; i++) {
            if (grp[i] == SIZE_MAX)
                continue;
            struct bucket *bk = &b[fill[grp[i]]++];
            bk->le = les[i];
            bk->count = in->s[i].v;
            out->s[grp[i]].t = in->s[i].t; /* the step's time, as its inputs have */
        }
    }
    for (size_t g = 0; g < ng; g++) {
        int forced = 0;
        out->s[g].v = fraction ? bucket_fraction(q, upper, b + start[g], start[g + 1] - start[g])
                               : bucket_quantile(q, b + start[g], start[g + 1] - start[g], &forced);
        if (forced) {
            const char *mn = promql_labels_get(&out->s[g].labels, "__name__");
            char suffix[512] = "";
            if (mn != NULL)
                snprintf(suffix, sizeof suffix, " for metric name \"%s\"", mn);
            ev_annotate(ev, 1, pos,
                        "PromQL info: input to histogram_quantile needed to be fixed for "
                        "monotonicity (see "
                        "https://prometheus.io/docs/prometheus/latest/querying/functions/"
                        "#histogram_quantile)%s",
                        suffix);
        }
    }
    out->n = ng;
    return 0;
}

/* histogram_quantiles(v, "label", q...): histogram_quantile for each q, the
 * results told apart by label = q in OpenMetrics float form ("0.0", "0.25",
 * "NaN"); in is v evaluated at t. */
int ev_histogram_quantiles(struct ev *ev, const struct promql_expr *e, int64_t t,
                           const struct val *in, struct val *out)
{
    const struct promql_call *c = &e->u.call;
    const char *label = c->args[1]->u.string.ptr;
    if (label[0] == '\0')
        return ev_errorf(ev, TT_EINVAL, "invalid label name \"\"");
    size_t nq = c->nargs - 2, cap = in->n * nq + 1, n = 0;
    struct promql_sample *all = ev_alloc(ev, cap * sizeof *all);
    if (all == NULL)
        return TT_ENOMEM;
    for (size_t k = 0; k < nq; k++) {
        struct val q, one;
        int rc = ev_eval(ev, c->args[2 + k], t, &q);
        if (rc != 0)
            return rc;
        ev_check_quantile(ev, q.scalar, c->args[2 + k]->pos);
        if ((rc = ev_histogram_quantile(ev, q.scalar, 0, 0, in, &one, c->args[0]->pos)) != 0)
            return rc;
        char *qs = ev_alloc(ev, 64); /* the label value lives as long as the step */
        if (qs == NULL)
            return TT_ENOMEM;
        ev_fmt_float(q.scalar, qs, 64);
        size_t ql = strlen(qs);
        if (strpbrk(qs, ".eNI") == NULL && ql + 2 < 64) /* "1" -> "1.0" (OpenMetrics) */
            memcpy(qs + ql, ".0", 3);
        for (size_t i = 0; i < one.n && n < cap; i++) {
            struct promql_sample *o = &all[n++];
            *o = one.s[i];
            promql_lbuilder_reset(&ev->lb, &one.s[i].labels);
            promql_lbuilder_set(&ev->lb, label, qs);
            if (promql_lbuilder_finish(&ev->lb, &ev->sa, &o->labels) != 0)
                return ev_nomem(ev);
        }
    }
    out->type = PROMQL_TYPE_VECTOR;
    out->s = all;
    out->n = n;
    return 0;
}
