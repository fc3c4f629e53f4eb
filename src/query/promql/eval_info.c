/*
 * eval_info.c - PromQL's experimental info(v, [data-label-selector]): adds
 * to each series of v the data labels of the info series (default
 * target_info) that share its identifying labels, instance and job, as
 * Prometheus's promql/info.go does.
 *
 * The pre-pass (ev_info_prepass) turns each info() call into a plan: a
 * synthetic vector selector for the info series (the data-label matchers
 * other than __name__, plus the __name__ matchers that choose the info
 * metrics), fetched once with the query's other selectors over the span of
 * times the call looks at, and the time modifiers that fix that time: the
 * @ and offset of the first vector selector of v and of the subqueries
 * around it, so info(x @ 60) enriches with the info series as of 60 s.
 *
 * At each step (eval_info) v is evaluated, the info series are looked up
 * at the reference time (latest sample within the lookback, not stale),
 * the newest one per (metric name, instance, job) wins, and every series of
 * v not itself an info series gets the union of the data labels of the
 * matching info series; labels it already has are kept.
 *
 * Invariants: plans live from the pre-pass to the end of the evaluation
 * (ev_info_release); everything made during a step is in the step arena
 * except the per-step hash table, freed before returning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/engine_int.h"
#include "store/tsdb/matcher.h"

#define TARGET_INFO "target_info"
#define INFO_RE     ".+_info"

struct info_plan {
    const struct promql_expr *call;
    /* The info series selector, in the query arena (its address keys the
     * fetched data, so it must not move when ev->infos grows). */
    struct promql_expr *sel;
    /* Time modifiers from the outermost subquery around the first vector
     * selector of the first argument down to that selector's own. */
    const struct promql_time_mods **path;
    size_t npath;
    /* The __name__ matchers that make a series an info series (compiled). */
    struct matcher **names;
    size_t nnames;
    /* Data-label matchers other than __name__ (borrowed from the tree). */
    const struct promql_matcher **data;
    size_t ndata;
    int need_match; /* a data matcher rejects "": no info series, no sample */
};

int ev_is_info(const struct promql_expr *e)
{
    return e->kind == PROMQL_CALL && strcmp(e->u.call.func->name, "info") == 0;
}

/* ---- planning --------------------------------------------------------------------- */

static int is_name(const struct promql_str *s)
{
    return s->len == 8 && memcmp(s->ptr, "__name__", 8) == 0;
}

/* first_selector finds the first vector selector of e in Prometheus's
 * Inspect order and pushes onto path the modifiers of the subqueries around
 * it and its own. Returns 1 when found. */
static int first_selector(const struct promql_expr *e, const struct promql_time_mods **path,
                          size_t *n)
{
    switch (e->kind) {
    case PROMQL_VECTOR_SELECTOR:
        path[(*n)++] = &e->u.vs.mods;
        return 1;
    case PROMQL_MATRIX_SELECTOR:
        return first_selector(e->u.ms.vs, path, n);
    case PROMQL_SUBQUERY: {
        size_t keep = *n;
        path[(*n)++] = &e->u.sq.mods;
        if (first_selector(e->u.sq.expr, path, n))
            return 1;
        *n = keep;
        return 0;
    }
    case PROMQL_CALL:
        for (size_t i = 0; i < e->u.call.nargs; i++)
            if (first_selector(e->u.call.args[i], path, n))
                return 1;
        return 0;
    case PROMQL_AGGREGATE:
        return first_selector(e->u.agg.expr, path, n) ||
               (e->u.agg.param != NULL && first_selector(e->u.agg.param, path, n));
    case PROMQL_BINARY:
        return first_selector(e->u.bin.lhs, path, n) || first_selector(e->u.bin.rhs, path, n);
    case PROMQL_UNARY:
        return first_selector(e->u.unary.expr, path, n);
    case PROMQL_PAREN:
        return first_selector(e->u.paren, path, n);
    case PROMQL_NUMBER:
    case PROMQL_STRING:
        return 0;
    }
    return 0;
}

/* ref_time: the time at which the info series are looked up when the call
 * is evaluated at t. The innermost @ on the path anchors it, the offsets
 * from there inwards shift it; without @ it is t shifted by all offsets. */
static int64_t ref_time(const struct ev *ev, const struct info_plan *pl, int64_t t)
{
    for (size_t i = 0; i < pl->npath; i++)
        t = ev_ref_time(ev, pl->path[i], t);
    return t;
}

static struct info_plan *find_plan(struct ev *ev, const struct promql_expr *e)
{
    for (size_t i = 0; i < ev->ninfos; i++)
        if (ev->infos[i].call == e)
            return &ev->infos[i];
    return NULL;
}

static void set_matcher(struct promql_matcher *m, enum promql_match_op op, const char *value)
{
    m->op = op;
    m->name.ptr = (char *)"__name__";
    m->name.len = 8;
    m->value.ptr = (char *)value;
    m->value.len = strlen(value);
    m->matches_empty = 0;
}

static enum matcher_type matcher_type_of(enum promql_match_op op)
{
    switch (op) {
    case PROMQL_MATCH_EQ:
        return MATCH_EQ;
    case PROMQL_MATCH_NEQ:
        return MATCH_NEQ;
    case PROMQL_MATCH_RE:
        return MATCH_RE;
    case PROMQL_MATCH_NRE:
        return MATCH_NRE;
    }
    return MATCH_EQ;
}

/* make_plan fills pl for call e: the selector's matchers are the data
 * matchers then the effective __name__ matchers, as Prometheus chooses
 * them: those given when one of them is positive (= or =~), `=~".+_info"`
 * before them when all are negative, `="target_info"` when there are none. */
static int make_plan(struct ev *ev, const struct promql_expr *e, struct info_plan *pl)
{
    const struct promql_call *c = &e->u.call;
    const struct promql_vector_selector *ds = c->nargs > 1 ? &c->args[1]->u.vs : NULL;
    size_t nm = ds ? ds->nmatchers : 0, nname = 0, npos = 0;
    struct promql_matcher *m;

    memset(pl, 0, sizeof *pl);
    pl->call = e;
    for (size_t i = 0; i < nm; i++)
        if (is_name(&ds->matchers[i].name)) {
            nname++;
            npos += ds->matchers[i].op == PROMQL_MATCH_EQ || ds->matchers[i].op == PROMQL_MATCH_RE;
        }
    m = promql_arena_alloc(ev->qa, (nm + 1) * sizeof *m);
    pl->data = promql_arena_alloc(ev->qa, (nm + 1) * sizeof *pl->data);
    pl->path = promql_arena_alloc(ev->qa, ((size_t)e->height + 1) * sizeof *pl->path);
    pl->sel = promql_arena_alloc(ev->qa, sizeof *pl->sel);
    pl->names = calloc(nname + 2, sizeof *pl->names);
    if (m == NULL || pl->data == NULL || pl->path == NULL || pl->sel == NULL || pl->names == NULL)
        return ev_nomem(ev);
    size_t k = 0;
    for (size_t i = 0; i < nm; i++)
        if (!is_name(&ds->matchers[i].name)) {
            pl->data[pl->ndata++] = &ds->matchers[i];
            pl->need_match |= !ds->matchers[i].matches_empty;
            m[k++] = ds->matchers[i];
        }
    if (nname == 0)
        set_matcher(&m[k++], PROMQL_MATCH_EQ, TARGET_INFO);
    else if (npos == 0)
        set_matcher(&m[k++], PROMQL_MATCH_RE, INFO_RE);
    for (size_t i = 0; i < nm; i++)
        if (is_name(&ds->matchers[i].name))
            m[k++] = ds->matchers[i];
    pl->sel->kind = PROMQL_VECTOR_SELECTOR;
    pl->sel->type = PROMQL_TYPE_VECTOR;
    pl->sel->pos = e->pos;
    pl->sel->end = e->end;
    pl->sel->u.vs.matchers = m;
    pl->sel->u.vs.nmatchers = k;
    /* The compiled __name__ matchers: the ones just chosen. */
    for (size_t i = pl->ndata; i < k; i++) {
        char msg[256] = "";
        int rc = matcher_new(&pl->names[pl->nnames], matcher_type_of(m[i].op), "__name__",
                             m[i].value.ptr, 0, msg, sizeof msg);
        if (rc == TT_ENOMEM)
            return ev_nomem(ev);
        if (rc != 0)
            return ev_errorf(ev, TT_EINVAL, "info(): bad __name__ matcher \"%s\": %s",
                             m[i].value.ptr, msg);
        pl->nnames++;
    }
    if (!first_selector(c->args[0], pl->path, &pl->npath))
        pl->npath = 0;
    return 0;
}

static int64_t sub_sat(int64_t a, int64_t b)
{
    return a < INT64_MIN + b ? INT64_MIN : a - b;
}

int ev_info_prepass(struct ev *ev, const struct promql_expr *e, int64_t lo, int64_t hi)
{
    struct info_plan *pl = find_plan(ev, e);
    if (pl == NULL) {
        struct info_plan *n = realloc(ev->infos, (ev->ninfos + 1) * sizeof *n);
        if (n == NULL)
            return ev_nomem(ev);
        ev->infos = n;
        pl = &ev->infos[ev->ninfos++];
        int rc = make_plan(ev, e, pl);
        if (rc != 0)
            return rc;
    }
    /* ref_time never decreases with t: the ends of [lo, hi] bound it. */
    int64_t a = ref_time(ev, pl, lo), b = ref_time(ev, pl, hi);
    return ev_note_sel(ev, pl->sel, sub_sat(a, ev->lookback_ms), b);
}

void ev_info_release(struct ev *ev)
{
    for (size_t i = 0; i < ev->ninfos; i++) {
        struct info_plan *pl = &ev->infos[i];
        for (size_t k = 0; pl->names != NULL && k < pl->nnames; k++)
            matcher_free(pl->names[k]);
        free(pl->names);
    }
    free(ev->infos);
    ev->infos = NULL;
    ev->ninfos = 0;
}

/* ---- evaluation ------------------------------------------------------------------- */

/* One info series found at the reference time. */
struct found {
    const struct sel_series *s;
    const char *name, *instance, *job;
    int64_t t; /* the sample's time: the newest wins */
};

static uint64_t mix_str(uint64_t h, const char *s)
{
    /* FNV-1a; an absent label (NULL) hashes apart from any value. */
    if (s == NULL)
        return (h ^ 0xfe) * UINT64_C(0x100000001b3);
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return (h ^ 0xff) * UINT64_C(0x100000001b3);
}

static uint64_t sig_hash(const char *name, const char *instance, const char *job)
{
    return mix_str(mix_str(mix_str(UINT64_C(0xcbf29ce484222325), name), instance), job);
}

static int str_eq(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static int sig_eq(const struct found *f, const char *name, const char *instance, const char *job)
{
    return strcmp(f->name, name) == 0 && str_eq(f->instance, instance) && str_eq(f->job, job);
}

/* The chosen info series of one step: at most one per signature. */
struct chosen {
    struct found *f;
    size_t n;
    struct hmap idx; /* signature hash -> index in f (the first with that hash) */
};

static struct found *chosen_get(const struct chosen *c, const char *name, const char *instance,
                                const char *job)
{
    const uint32_t *slot = c->idx.cap ? hmap_get(&c->idx, sig_hash(name, instance, job)) : NULL;
    if (slot == NULL)
        return NULL;
    if (sig_eq(&c->f[*slot], name, instance, job))
        return &c->f[*slot];
    for (size_t i = 0; i < c->n; i++) /* a hash collision: rare */
        if (sig_eq(&c->f[i], name, instance, job))
            return &c->f[i];
    return NULL;
}

static int format_labels(struct ev *ev, const struct promql_labels *ls, char *buf, size_t n)
{
    struct wbuf w;
    wbuf_init(&w, 0);
    promql_labels_format(ls, &w);
    wbuf_put_u8(&w, 0);
    int rc = w.err;
    if (rc == 0)
        snprintf(buf, n, "%s", (const char *)w.data);
    wbuf_release(&w);
    return rc ? ev_nomem(ev) : 0;
}

/* choose adds info series f, keeping the newest per signature; two with
 * the same sample time are Prometheus's duplicate error. */
static int choose(struct ev *ev, struct chosen *c, const struct found *f)
{
    struct found *old = chosen_get(c, f->name, f->instance, f->job);
    if (old != NULL) {
        if (old->t == f->t) {
            char a[200], b[200];
            int rc = format_labels(ev, &old->s->labels, a, sizeof a);
            if (rc == 0)
                rc = format_labels(ev, &f->s->labels, b, sizeof b);
            if (rc != 0)
                return rc;
            return ev_errorf(ev, TT_EINVAL,
                             "found duplicate series for info metric: existing %s @ %lld, new %s "
                             "@ %lld",
                             a, (long long)old->t, b, (long long)f->t);
        }
        if (f->t > old->t)
            *old = *f;
        return 0;
    }
    int isnew;
    uint32_t *slot = hmap_put(&c->idx, sig_hash(f->name, f->instance, f->job), &isnew);
    if (slot == NULL)
        return ev_nomem(ev);
    if (isnew)
        *slot = (uint32_t)c->n;
    c->f[c->n++] = *f;
    return 0;
}

/* is_info_series: the series' name matches every effective __name__
 * matcher, so it passes through info() unchanged. */
static int is_info_series(const struct info_plan *pl, const struct promql_labels *ls)
{
    const char *name = promql_labels_get(ls, "__name__");
    if (name == NULL)
        name = "";
    for (size_t i = 0; i < pl->nnames; i++)
        if (!matcher_matches(pl->names[i], name, strlen(name)))
            return 0;
    return 1;
}

static int is_data_label(const struct info_plan *pl, const char *name)
{
    if (pl->ndata == 0)
        return 1;
    for (size_t i = 0; i < pl->ndata; i++)
        if (strcmp(pl->data[i]->name.ptr, name) == 0)
            return 1;
    return 0;
}

/* Labels an info series adds to one base series (borrowed strings). */
struct added {
    struct promql_label *v;
    size_t n;
};

static const char *added_get(const struct added *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].name, name) == 0)
            return a->v[i].value;
    return NULL;
}

/* enrich merges the data labels of info series f into a for base labels
 * bl: only labels the data matchers name (all when there are none), never
 * __name__, never one bl has; two info metrics disagreeing on a label is
 * an error. */
static int enrich(struct ev *ev, const struct info_plan *pl, const struct promql_labels *bl,
                  const struct found *f, struct added *a)
{
    const struct promql_labels *il = &f->s->labels;
    for (size_t i = 0; i < il->n; i++) {
        const struct promql_label *l = &il->v[i];
        if (strcmp(l->name, "__name__") == 0 || !is_data_label(pl, l->name))
            continue;
        const char *v = added_get(a, l->name);
        if (v != NULL && strcmp(v, l->value) != 0)
            return ev_errorf(ev, TT_EINVAL, "conflicting label: %s", l->name);
        if (v != NULL || promql_labels_get(bl, l->name) != NULL)
            continue;
        a->v[a->n].name = l->name;
        a->v[a->n].value = l->value;
        a->n++;
    }
    return 0;
}

/* lookup: the point an instant selector finds at r in s, or NULL. */
static const struct promql_point *lookup(const struct ev *ev, struct sel_series *s, int64_t r)
{
    size_t k = ev_seek_upper(s->all, s->nall, r, &s->hint_all);
    if (k == 0)
        return NULL;
    const struct promql_point *p = &s->all[k - 1];
    if (p->t <= r - ev->lookback_ms || promql_is_stale(p->v))
        return NULL;
    return p;
}

/* pick fills c with the info series found at r that could join a base
 * series of this step: like Prometheus's selection by identifying label
 * values, an info series lacking instance (job) is left out when some base
 * series has one, and none is taken when no base series has either. */
static int pick(struct ev *ev, const struct info_plan *pl, int64_t r, const struct val *base,
                const uint8_t *skip, struct chosen *c)
{
    struct sel_data *d = ev_find_sel(ev, pl->sel);
    int inst = 0, job = 0;
    for (size_t i = 0; i < base->n; i++) {
        if (skip[i])
            continue;
        inst |= promql_labels_get(&base->s[i].labels, "instance") != NULL;
        job |= promql_labels_get(&base->s[i].labels, "job") != NULL;
    }
    if ((!inst && !job) || d == NULL || d->n == 0)
        return 0;
    c->f = ev_alloc(ev, d->n * sizeof *c->f);
    if (c->f == NULL || hmap_init(&c->idx, d->n) != 0)
        return ev_nomem(ev);
    for (size_t i = 0; i < d->n; i++) {
        struct sel_series *s = &d->s[i];
        const struct promql_point *p = lookup(ev, s, r);
        if (p == NULL)
            continue;
        struct found f = { s, promql_labels_get(&s->labels, "__name__"),
                           promql_labels_get(&s->labels, "instance"),
                           promql_labels_get(&s->labels, "job"), p->t };
        if (f.name == NULL)
            f.name = "";
        if ((inst && f.instance == NULL) || (job && f.job == NULL))
            continue;
        int rc = choose(ev, c, &f);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* info_names: the distinct metric names among the chosen info series. */
static const char **info_names(struct ev *ev, const struct chosen *c, size_t *n)
{
    const char **v = ev_alloc(ev, (c->n + 1) * sizeof *v);
    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < c->n; i++) {
        size_t k = 0;
        while (k < *n && strcmp(v[k], c->f[i].name) != 0)
            k++;
        if (k == *n)
            v[(*n)++] = c->f[i].name;
    }
    return v;
}

static int combine(struct ev *ev, const struct info_plan *pl, const struct val *base,
                   const uint8_t *skip, const struct chosen *c, struct val *out)
{
    size_t nnames, maxadd = 0;
    const char **names = info_names(ev, c, &nnames);
    if (names == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < c->n; i++)
        maxadd += c->f[i].s->labels.n;
    struct added a = { ev_alloc(ev, (maxadd + 1) * sizeof *a.v), 0 };
    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    out->s = ev_alloc(ev, (base->n + 1) * sizeof *out->s);
    if (a.v == NULL || out->s == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < base->n; i++) {
        const struct promql_sample *bs = &base->s[i];
        if (skip[i]) {
            out->s[out->n++] = *bs;
            continue;
        }
        const char *inst = promql_labels_get(&bs->labels, "instance");
        const char *job = promql_labels_get(&bs->labels, "job");
        size_t seen = 0;
        a.n = 0;
        for (size_t k = 0; k < nnames; k++) {
            const struct found *f = chosen_get(c, names[k], inst, job);
            if (f == NULL)
                continue;
            int rc = enrich(ev, pl, &bs->labels, f, &a);
            if (rc != 0)
                return rc;
            seen++;
        }
        if (seen == 0 && pl->need_match)
            continue; /* the enrichment asked for is not there */
        struct promql_sample *o = &out->s[out->n++];
        *o = *bs;
        if (a.n == 0)
            continue;
        promql_lbuilder_reset(&ev->lb, &bs->labels);
        for (size_t k = 0; k < a.n; k++)
            promql_lbuilder_set(&ev->lb, a.v[k].name, a.v[k].value);
        if (promql_lbuilder_finish(&ev->lb, &ev->sa, &o->labels) != 0)
            return ev_nomem(ev);
    }
    return 0;
}

int eval_info(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out)
{
    const struct info_plan *pl = find_plan(ev, e);
    struct chosen c = { 0 };
    struct val base;
    int rc;

    if (pl == NULL)
        return ev_errorf(ev, TT_EINVAL, "info(): call was not planned");
    if ((rc = ev_eval(ev, e->u.call.args[0], t, &base)) != 0)
        return rc;
    uint8_t *skip = ev_alloc(ev, base.n + 1);
    if (skip == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < base.n; i++)
        skip[i] = (uint8_t)is_info_series(pl, &base.s[i].labels);
    rc = pick(ev, pl, ref_time(ev, pl, t), &base, skip, &c);
    if (rc == 0)
        rc = combine(ev, pl, &base, skip, &c, out);
    hmap_release(&c.idx);
    return rc;
}
