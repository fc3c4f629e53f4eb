/*
 * eval_binop.c - PromQL binary operators: scalar/scalar, vector/scalar and
 * vector/vector arithmetic and comparison (with bool), the set operators
 * and/or/unless, and vector matching (on/ignoring, group_left/group_right)
 * with Prometheus's errors for ambiguous matches.
 *
 * Invariants: matching is by a 64-bit signature of the matching labels
 * (hash table, linear time); result label sets are built in the step
 * arena; a sample's drop_name follows Prometheus's delayed name removal
 * (arithmetic drops the name at once, `bool` marks it for dropping).
 */
#include <math.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/engine_int.h"
#include "store/tsdb/labels.h"

static int in_names(const char *name, const struct promql_str *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i].ptr, name) == 0)
            return 1;
    return 0;
}

uint64_t ev_signature(const struct promql_labels *ls, int on, const struct promql_str *names,
                      size_t n)
{
    uint64_t h = 0x2545f4914f6cdd1dull;
    for (size_t i = 0; i < ls->n; i++) {
        const char *name = ls->v[i].name;
        int listed = in_names(name, names, n);
        if (on ? !listed : (listed || strcmp(name, "__name__") == 0))
            continue;
        size_t nl = strlen(name), vl = strlen(ls->v[i].value);
        h = labels_hash_bytes(name, nl, h ^ (nl * 0x100000001b3ull));
        h = labels_hash_bytes(ls->v[i].value, vl, h ^ (vl * 0xc2b2ae3d27d4eb4full));
    }
    return h;
}

static int changes_schema(enum promql_binop op)
{
    switch (op) {
    case PROMQL_ADD:
    case PROMQL_SUB:
    case PROMQL_MUL:
    case PROMQL_DIV:
    case PROMQL_POW:
    case PROMQL_MOD:
    case PROMQL_ATAN2:
        return 1;
    default:
        return 0;
    }
}

/* elem: the value of l op r and whether a comparison keeps the element. */
static double elem(enum promql_binop op, double l, double r, int *keep)
{
    *keep = 1;
    switch (op) {
    case PROMQL_ADD:
        return l + r;
    case PROMQL_SUB:
        return l - r;
    case PROMQL_MUL:
        return l * r;
    case PROMQL_DIV:
        return l / r;
    case PROMQL_POW:
        return pow(l, r);
    case PROMQL_MOD:
        return fmod(l, r);
    case PROMQL_ATAN2:
        return atan2(l, r);
    case PROMQL_EQLC:
        *keep = l == r;
        return l;
    case PROMQL_NEQ:
        *keep = l != r;
        return l;
    case PROMQL_GTR:
        *keep = l > r;
        return l;
    case PROMQL_LSS:
        *keep = l < r;
        return l;
    case PROMQL_GTE:
        *keep = l >= r;
        return l;
    case PROMQL_LTE:
        *keep = l <= r;
        return l;
    default:
        *keep = 0;
        return 0;
    }
}

static int vector_scalar(struct ev *ev, const struct promql_binary *b, struct val *vec,
                         double scalar, int swap, struct val *out)
{
    int cmp = promql_binop_is_comparison(b->op);
    size_t w = 0;

    for (size_t i = 0; i < vec->n; i++) {
        struct promql_sample s = vec->s[i];
        double l = s.v, r = scalar, f;
        int keep;
        if (swap) {
            l = scalar;
            r = s.v;
        }
        f = elem(b->op, l, r, &keep);
        if (cmp && swap)
            f = r;
        if (b->return_bool) {
            f = keep ? 1.0 : 0.0;
            keep = 1;
        }
        if (!keep)
            continue;
        s.v = f;
        if (changes_schema(b->op) || b->return_bool)
            s.drop_name = 1;
        vec->s[w++] = s;
    }
    (void)ev;
    out->type = PROMQL_TYPE_VECTOR;
    out->s = vec->s;
    out->n = w;
    return 0;
}

static int set_op(struct ev *ev, const struct promql_binary *b, const struct val *l,
                  const struct val *r, struct val *out)
{
    const struct promql_vector_matching *m = b->matching;
    struct hmap h = { 0 };
    int rc = 0;

    out->type = PROMQL_TYPE_VECTOR;
    out->s = ev_alloc(ev, (l->n + r->n + 1) * sizeof *out->s);
    if (out->s == NULL)
        return TT_ENOMEM;
    out->n = 0;
    if (b->op == PROMQL_OR && (l->n == 0 || r->n == 0)) {
        copy_n(out->s, l->s, l->n * sizeof *out->s);
        copy_n(out->s + l->n, r->s, r->n * sizeof *out->s);
        out->n = l->n + r->n;
        return 0;
    }
    if (b->op == PROMQL_AND && (l->n == 0 || r->n == 0))
        return 0;
    if (b->op == PROMQL_UNLESS && (l->n == 0 || r->n == 0)) {
        copy_n(out->s, l->s, l->n * sizeof *out->s);
        out->n = l->n;
        return 0;
    }
    const struct val *keyside = b->op == PROMQL_OR ? l : r;
    if (hmap_init(&h, keyside->n) != 0)
        return ev_nomem(ev);
    for (size_t i = 0; i < keyside->n; i++) {
        int isnew;
        if (hmap_put(&h, ev_signature(&keyside->s[i].labels, m->on, m->labels, m->nlabels),
                     &isnew) == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
    }
    if (b->op == PROMQL_OR) {
        copy_n(out->s, l->s, l->n * sizeof *out->s);
        out->n = l->n;
        for (size_t i = 0; i < r->n; i++)
            if (hmap_get(&h, ev_signature(&r->s[i].labels, m->on, m->labels, m->nlabels)) == NULL)
                out->s[out->n++] = r->s[i];
    } else {
        int want = b->op == PROMQL_AND;
        for (size_t i = 0; i < l->n; i++) {
            int found =
                hmap_get(&h, ev_signature(&l->s[i].labels, m->on, m->labels, m->nlabels)) != NULL;
            if (found == want)
                out->s[out->n++] = l->s[i];
        }
    }
out:
    hmap_release(&h);
    return rc;
}

/* match_labels: Prometheus's Labels.MatchLabels (the on labels, or all but
 * the ignoring labels and __name__), as a label set in the step arena. */
static int match_labels(struct ev *ev, const struct promql_labels *ls,
                        const struct promql_vector_matching *m, struct promql_labels *sub)
{
    struct promql_label *v = ev_alloc(ev, (ls->n + 1) * sizeof *v);
    sub->v = v;
    sub->n = 0;
    if (v == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < ls->n; i++) {
        int listed = in_names(ls->v[i].name, m->labels, m->nlabels);
        if (m->on == listed && (m->on || strcmp(ls->v[i].name, "__name__") != 0))
            v[sub->n++] = ls->v[i];
    }
    return 0;
}

/* format_match_labels: match_labels, formatted. */
static void format_match_labels(struct ev *ev, const struct promql_labels *ls,
                                const struct promql_vector_matching *m, struct wbuf *w)
{
    struct promql_labels sub;
    if (match_labels(ev, ls, m, &sub) == 0)
        promql_labels_format(&sub, w);
}

static int dup_error(struct ev *ev, const struct promql_vector_matching *m,
                     const struct promql_labels *a, const struct promql_labels *b, int swapped)
{
    struct wbuf w1, w2, w3;
    int rc;
    wbuf_init(&w1, 0);
    wbuf_init(&w2, 0);
    wbuf_init(&w3, 0);
    format_match_labels(ev, a, m, &w1);
    promql_labels_format(a, &w2);
    promql_labels_format(b, &w3);
    wbuf_put_slow(&w1, "", 1);
    wbuf_put_slow(&w2, "", 1);
    wbuf_put_slow(&w3, "", 1);
    if (w1.err || w2.err || w3.err) {
        rc = ev_nomem(ev);
    } else {
        const char *d1 = (const char *)w2.data, *d2 = (const char *)w3.data;
        if (strcmp(d1, d2) > 0) {
            const char *t = d1;
            d1 = d2;
            d2 = t;
        }
        rc = ev_errorf(ev, TT_EINVAL,
                       "found duplicate series for the match group %s on the %s hand-side of the "
                       "operation: [%s, %s];many-to-many matching not allowed: matching labels "
                       "must be unique on one side",
                       (const char *)w1.data, swapped ? "left" : "right", d1, d2);
    }
    wbuf_release(&w1);
    wbuf_release(&w2);
    wbuf_release(&w3);
    return rc;
}

static int result_labels(struct ev *ev, const struct promql_binary *b,
                         const struct promql_labels *ls, const struct promql_labels *rs,
                         struct promql_labels *out)
{
    const struct promql_vector_matching *m = b->matching;
    struct promql_lbuilder *lb = &ev->lb;

    promql_lbuilder_reset(lb, ls);
    if (changes_schema(b->op))
        promql_lbuilder_drop_metadata(lb);
    if (m->card == PROMQL_CARD_ONE_TO_ONE) {
        if (m->on)
            promql_lbuilder_keep(lb, m->labels, m->nlabels);
        else
            for (size_t i = 0; i < m->nlabels; i++)
                promql_lbuilder_del(lb, m->labels[i].ptr);
    }
    for (size_t i = 0; i < m->ninclude; i++) {
        const char *v = promql_labels_get(rs, m->include[i].ptr);
        if (v != NULL && v[0] != '\0')
            promql_lbuilder_set(lb, m->include[i].ptr, v);
        else
            promql_lbuilder_del(lb, m->include[i].ptr);
    }
    if (promql_lbuilder_finish(lb, &ev->sa, out) != 0)
        return ev_nomem(ev);
    return 0;
}

/* join_one computes one pair of vector_vector: ls from the (possibly
 * swapped) left side, rs from the right; either may be a fill series. */
static int join_one(struct ev *ev, const struct promql_binary *b, int swapped,
                    const struct promql_sample *ls, const struct promql_sample *rs, uint64_t sig,
                    struct hmap *matched, struct hmap *inserted, struct val *out)
{
    const struct promql_vector_matching *m = b->matching;
    double fl = ls->v, fr = rs->v, f;
    int keep, isnew, rc;
    if (swapped) {
        fl = rs->v;
        fr = ls->v;
    }
    f = elem(b->op, fl, fr, &keep);
    if (b->return_bool)
        f = keep ? 1.0 : 0.0;
    struct promql_labels res;
    if ((rc = result_labels(ev, b, &ls->labels, &rs->labels, &res)) != 0)
        return rc;
    if (m->card == PROMQL_CARD_ONE_TO_ONE) {
        if (hmap_put(matched, sig, &isnew) == NULL)
            return ev_nomem(ev);
        if (!isnew)
            return ev_errorf(ev, TT_EINVAL,
                             "multiple matches for labels: many-to-one matching must be "
                             "explicit (group_left/group_right)");
    } else {
        uint64_t key = sig * 0x9e3779b97f4a7c15ull ^ promql_labels_hash(&res);
        if (hmap_put(inserted, key, &isnew) == NULL)
            return ev_nomem(ev);
        if (!isnew)
            return ev_errorf(ev, TT_EINVAL,
                             "multiple matches for labels: grouping labels must ensure unique "
                             "matches");
    }
    if (!keep && !b->return_bool)
        return 0;
    struct promql_sample *o = &out->s[out->n++];
    o->labels = res;
    o->v = f;
    o->t = ls->t;
    o->drop_name = b->return_bool;
    return 0;
}

static int vector_vector(struct ev *ev, const struct promql_binary *b, const struct val *lv,
                         const struct val *rv, struct val *out)
{
    const struct promql_vector_matching *m = b->matching;
    int swapped = m->card == PROMQL_CARD_ONE_TO_MANY;
    const struct val *l = swapped ? rv : lv, *r = swapped ? lv : rv;
    struct hmap right = { 0 }, matched = { 0 }, inserted = { 0 };
    unsigned char *rused = NULL;
    int rc = 0;

    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    /* Fill values stay with their positions after the group_right swap. */
    int fill_l = m->has_fill_left && r->n > 0, fill_r = m->has_fill_right && l->n > 0;
    if ((l->n == 0 && !fill_l) || (r->n == 0 && !fill_r))
        return 0;
    out->s = ev_alloc(ev, (l->n + r->n + 1) * sizeof *out->s);
    rused = ev_alloc(ev, r->n + 1);
    if (out->s == NULL || rused == NULL)
        return TT_ENOMEM;
    if (hmap_init(&right, r->n) != 0 || hmap_init(&matched, l->n + r->n) != 0 ||
        hmap_init(&inserted, l->n + r->n) != 0) {
        rc = ev_nomem(ev);
        goto out;
    }
    for (size_t i = 0; i < r->n; i++) {
        int isnew;
        uint64_t sig = ev_signature(&r->s[i].labels, m->on, m->labels, m->nlabels);
        uint32_t *slot = hmap_put(&right, sig, &isnew);
        if (slot == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        if (!isnew) {
            rc = dup_error(ev, m, &r->s[i].labels, &r->s[*slot].labels, swapped);
            goto out;
        }
        *slot = (uint32_t)i;
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct promql_sample *ls = &l->s[i];
        uint64_t sig = ev_signature(&ls->labels, m->on, m->labels, m->nlabels);
        uint32_t *slot = hmap_get(&right, sig);
        struct promql_sample fill;
        const struct promql_sample *rs;
        if (slot != NULL) {
            rs = &r->s[*slot];
            rused[*slot] = 1;
        } else if (fill_r) {
            /* A fill series has no labels: group_left/right extra labels
             * cannot be filled. */
            memset(&fill, 0, sizeof fill);
            fill.v = m->fill_right;
            fill.t = ls->t;
            rs = &fill;
        } else {
            continue;
        }
        if ((rc = join_one(ev, b, swapped, ls, rs, sig, &matched, &inserted, out)) != 0)
            goto out;
    }
    for (size_t i = 0; fill_l && i < r->n; i++) {
        if (rused[i])
            continue;
        /* The missing left series gets the match group's labels. */
        struct promql_sample fill;
        memset(&fill, 0, sizeof fill);
        if ((rc = match_labels(ev, &r->s[i].labels, m, &fill.labels)) != 0)
            goto out;
        fill.v = m->fill_left;
        fill.t = r->s[i].t;
        uint64_t sig = ev_signature(&r->s[i].labels, m->on, m->labels, m->nlabels);
        if ((rc = join_one(ev, b, swapped, &fill, &r->s[i], sig, &matched, &inserted, out)) != 0)
            goto out;
    }
out:
    hmap_release(&right);
    hmap_release(&matched);
    hmap_release(&inserted);
    return rc;
}

static double scalar_op(enum promql_binop op, double l, double r)
{
    int keep;
    double f = elem(op, l, r, &keep);
    if (promql_binop_is_comparison(op))
        return keep ? 1.0 : 0.0;
    return f;
}

int eval_binary(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out)
{
    const struct promql_binary *b = &e->u.bin;
    struct val l, r;
    int rc;

    if ((rc = ev_eval(ev, b->lhs, t, &l)) != 0)
        return rc;
    if ((rc = ev_eval(ev, b->rhs, t, &r)) != 0)
        return rc;
    if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_SCALAR) {
        out->type = PROMQL_TYPE_SCALAR;
        out->scalar = scalar_op(b->op, l.scalar, r.scalar);
        return 0;
    }
    if (l.type == PROMQL_TYPE_VECTOR && r.type == PROMQL_TYPE_SCALAR)
        return vector_scalar(ev, b, &l, r.scalar, 0, out);
    if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_VECTOR)
        return vector_scalar(ev, b, &r, l.scalar, 1, out);
    if (l.type != PROMQL_TYPE_VECTOR || r.type != PROMQL_TYPE_VECTOR || b->matching == NULL)
        return ev_errorf(ev, TT_EINVAL,
                         "binary expression must contain only scalar and "
                         "instant vector types");
    if (promql_binop_is_set(b->op))
        return set_op(ev, b, &l, &r, out);
    return vector_vector(ev, b, &l, &r, out);
}
