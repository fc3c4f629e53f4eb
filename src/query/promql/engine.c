/*
 * engine.c - the PromQL engine's driver and its selector-level evaluation
 * (see engine.h): a pre-pass finds every selector and the span of time it
 * can look at, each selector's data is fetched once, and then the tree is
 * evaluated step by step (one step for an instant query). Vector selectors,
 * range selectors, subqueries, parentheses, unary minus and literals are
 * evaluated here; calls, aggregations and binary operators in eval_func.c,
 * eval_agg.c and eval_binop.c.
 *
 * Invariants: a step's values live in the step arena, reset before each
 * step of a range query; the output series of a range query are keyed by
 * their final label set (metric name already dropped where marked), so two
 * samples landing in one series at one step are the "same labelset" error.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/engine_int.h"

#define DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define DEFAULT_SQ_STEP_MS  (60 * 1000)
#define DEFAULT_MAX_SAMPLES 50000000u
#define TOO_MANY_SAMPLES_MSG \
    "query processing would load too many samples into memory in query execution"

/* ---- errors and memory ------------------------------------------------------------ */

int ev_errorf(struct ev *ev, int code, const char *fmt, ...)
{
    if (ev->err->code == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ev->err->msg, sizeof ev->err->msg, fmt, ap);
        va_end(ap);
        ev->err->code = code;
    }
    return code;
}

int ev_nomem(struct ev *ev)
{
    return ev_errorf(ev, TT_ENOMEM, "out of memory");
}

void *ev_alloc(struct ev *ev, size_t n)
{
    void *p = promql_arena_alloc(&ev->sa, n ? n : 1);
    if (p == NULL)
        ev_nomem(ev);
    return p;
}

const struct promql_expr *ev_unparen(const struct promql_expr *e)
{
    while (e->kind == PROMQL_PAREN)
        e = e->u.paren;
    return e;
}

int ev_drop_name_labels(struct ev *ev, const struct promql_labels *ls, struct promql_labels *out)
{
    int any = 0;
    for (size_t i = 0; i < ls->n && !any; i++)
        any = promql_is_metadata_label(ls->v[i].name);
    if (!any) {
        *out = *ls;
        return 0;
    }
    promql_lbuilder_reset(&ev->lb, ls);
    promql_lbuilder_drop_metadata(&ev->lb);
    if (promql_lbuilder_finish(&ev->lb, &ev->sa, out) != 0)
        return ev_nomem(ev);
    return 0;
}

/* ---- hash table ------------------------------------------------------------------- */

int hmap_init(struct hmap *h, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    h->keys = malloc(cap * sizeof *h->keys);
    h->vals = malloc(cap * sizeof *h->vals);
    h->cap = cap;
    h->n = 0;
    if (h->keys == NULL || h->vals == NULL) {
        hmap_release(h);
        return TT_ENOMEM;
    }
    memset(h->vals, 0xff, cap * sizeof *h->vals);
    return 0;
}

uint32_t *hmap_get(const struct hmap *h, uint64_t key)
{
    size_t mask = h->cap - 1;
    for (size_t i = (size_t)(key ^ (key >> 29)) & mask;; i = (i + 1) & mask) {
        if (h->vals[i] == UINT32_MAX)
            return NULL;
        if (h->keys[i] == key)
            return &h->vals[i];
    }
}

static int hmap_grow(struct hmap *h)
{
    struct hmap n;
    if (hmap_init(&n, h->cap) != 0)
        return TT_ENOMEM;
    for (size_t i = 0; i < h->cap; i++) {
        if (h->vals[i] == UINT32_MAX)
            continue;
        int isnew;
        uint32_t *slot = hmap_put(&n, h->keys[i], &isnew);
        *slot = h->vals[i];
    }
    hmap_release(h);
    *h = n;
    return 0;
}

uint32_t *hmap_put(struct hmap *h, uint64_t key, int *isnew)
{
    if ((h->n + 1) * 2 > h->cap && hmap_grow(h) != 0)
        return NULL;
    size_t mask = h->cap - 1;
    for (size_t i = (size_t)(key ^ (key >> 29)) & mask;; i = (i + 1) & mask) {
        if (h->vals[i] == UINT32_MAX) {
            h->keys[i] = key;
            h->vals[i] = 0;
            h->n++;
            *isnew = 1;
            return &h->vals[i];
        }
        if (h->keys[i] == key) {
            *isnew = 0;
            return &h->vals[i];
        }
    }
}

void hmap_release(struct hmap *h)
{
    free(h->keys);
    free(h->vals);
    h->keys = NULL;
    h->vals = NULL;
    h->cap = h->n = 0;
}

/* ---- time modifiers ----------------------------------------------------------------- */

int64_t ev_ref_time(const struct ev *ev, const struct promql_time_mods *m, int64_t t)
{
    if (m->at == PROMQL_AT_NONE && m->offset_expr == NULL)
        return t - m->offset_ms;
    int64_t base = t;
    switch (m->at) {
    case PROMQL_AT_TIMESTAMP:
        base = m->at_ms;
        break;
    case PROMQL_AT_START:
        base = ev->start;
        break;
    case PROMQL_AT_END:
        base = ev->end;
        break;
    case PROMQL_AT_NONE:
        break;
    }
    return base - ev_dur(ev, m->offset_ms, m->offset_expr);
}

int64_t ev_dur(const struct ev *ev, int64_t ms, const struct promql_dur_expr *d)
{
    int64_t v;
    if (d == NULL || !d->dynamic || promql_dur_ms(d, ev->step, ev->end - ev->start, &v) != 0)
        return ms;
    return v;
}

/* check_dur: a dynamic duration expression must evaluate (and, for a range,
 * be > 0) for this query. */
static int check_dur(struct ev *ev, const struct promql_dur_expr *d, int positive)
{
    int64_t v;
    if (d == NULL || !d->dynamic)
        return 0;
    if (promql_dur_ms(d, ev->step, ev->end - ev->start, &v) != 0)
        return ev_errorf(ev, TT_EINVAL, "invalid duration expression: division by zero");
    if (positive && v <= 0)
        return ev_errorf(ev, TT_EINVAL, "duration must be greater than 0");
    return 0;
}

/* ---- pre-pass: selectors and their spans ---------------------------------------------- */

static struct sel_data *find_sel(struct ev *ev, const struct promql_expr *vs)
{
    for (size_t i = 0; i < ev->nsels; i++)
        if (ev->sels[i].vs == vs)
            return &ev->sels[i];
    return NULL;
}

static int note_sel(struct ev *ev, const struct promql_expr *vs, int64_t mint, int64_t maxt)
{
    struct sel_data *d = find_sel(ev, vs);
    if (d == NULL) {
        if (ev->nsels == ev->capsels) {
            size_t cap = ev->capsels ? ev->capsels * 2 : 8;
            struct sel_data *n = realloc(ev->sels, cap * sizeof *n);
            if (n == NULL)
                return ev_nomem(ev);
            ev->sels = n;
            ev->capsels = cap;
        }
        d = &ev->sels[ev->nsels++];
        memset(d, 0, sizeof *d);
        d->vs = vs;
        d->mint = mint;
        d->maxt = maxt;
        return 0;
    }
    if (mint < d->mint)
        d->mint = mint;
    if (maxt > d->maxt)
        d->maxt = maxt;
    return 0;
}

struct sel_data *ev_find_sel(struct ev *ev, const struct promql_expr *vs)
{
    return find_sel(ev, vs);
}

int ev_note_sel(struct ev *ev, const struct promql_expr *vs, int64_t mint, int64_t maxt)
{
    return note_sel(ev, vs, mint, maxt);
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    if (b > 0 && a < INT64_MIN + b)
        return INT64_MIN;
    if (b < 0 && a > INT64_MAX + b)
        return INT64_MAX;
    return a - b;
}

/* ref_span: the span of reference times of mods for evaluation times [lo, hi]. */
static void ref_span(const struct ev *ev, const struct promql_time_mods *m, int64_t lo, int64_t hi,
                     int64_t *a, int64_t *b)
{
    if (m->at != PROMQL_AT_NONE) {
        *a = *b = ev_ref_time(ev, m, lo);
        return;
    }
    int64_t off = ev_dur(ev, m->offset_ms, m->offset_expr);
    *a = sat_sub(lo, off);
    *b = sat_sub(hi, off);
}

/* mark_rows: range queries read the selector or streamed call x (read by
 * nothing else) from rows: plain selectors are made rows, and agg (when
 * not NULL) is computed from them. */
static void mark_rows(struct ev *ev, const struct promql_expr *x, const struct promql_expr *agg)
{
    for (size_t i = 0; i < ev->nsels; i++) {
        struct sel_data *d = &ev->sels[i];
        if (x->kind == PROMQL_CALL && d->stream == x) {
            d->agg = agg;
        } else if (x->kind == PROMQL_VECTOR_SELECTOR && d->vs == x && !x->u.vs.smoothed) {
            d->plain = 1;
            d->agg = agg;
        }
    }
}

static int prepass(struct ev *ev, const struct promql_expr *e, int64_t lo, int64_t hi)
{
    int64_t a, b;
    int rc = 0;

    switch (e->kind) {
    case PROMQL_VECTOR_SELECTOR:
        if ((rc = check_dur(ev, e->u.vs.mods.offset_expr, 0)) != 0)
            return rc;
        ref_span(ev, &e->u.vs.mods, lo, hi, &a, &b);
        return note_sel(ev, e, sat_sub(a, ev->lookback_ms),
                        e->u.vs.smoothed ? sat_sub(b, -ev->lookback_ms) : b);
    case PROMQL_MATRIX_SELECTOR: {
        const struct promql_expr *vs = e->u.ms.vs;
        if ((rc = check_dur(ev, e->u.ms.range_expr, 1)) != 0 ||
            (rc = check_dur(ev, vs->u.vs.mods.offset_expr, 0)) != 0)
            return rc;
        ref_span(ev, &vs->u.vs.mods, lo, hi, &a, &b);
        a = sat_sub(a, ev_dur(ev, e->u.ms.range_ms, e->u.ms.range_expr));
        /* anchored and smoothed look one lookback before the window (and
         * smoothed one after it) for the samples they extend to its edges. */
        if (vs->u.vs.anchored || vs->u.vs.smoothed)
            a = sat_sub(a, ev->lookback_ms);
        if (vs->u.vs.smoothed)
            b = sat_sub(b, -ev->lookback_ms);
        return note_sel(ev, vs, a, b);
    }
    case PROMQL_SUBQUERY:
        if ((rc = check_dur(ev, e->u.sq.range_expr, 1)) != 0 ||
            (rc = check_dur(ev, e->u.sq.step_expr, 0)) != 0 ||
            (rc = check_dur(ev, e->u.sq.mods.offset_expr, 0)) != 0)
            return rc;
        ref_span(ev, &e->u.sq.mods, lo, hi, &a, &b);
        ev->in_sq++;
        rc = prepass(ev, e->u.sq.expr, sat_sub(a, ev_dur(ev, e->u.sq.range_ms, e->u.sq.range_expr)),
                     b);
        ev->in_sq--;
        return rc;
    case PROMQL_CALL:
        if (ev_is_info(e)) {
            rc = prepass(ev, e->u.call.args[0], lo, hi);
            return rc ? rc : ev_info_prepass(ev, e, lo, hi);
        }
        for (size_t i = 0; i < e->u.call.nargs && rc == 0; i++)
            rc = prepass(ev, e->u.call.args[i], lo, hi);
        if (rc == 0 && e->u.call.nargs == 1 &&
            (strcmp(e->u.call.func->name, "rate") == 0 ||
             strcmp(e->u.call.func->name, "increase") == 0) &&
            ev_unparen(e->u.call.args[0])->kind == PROMQL_MATRIX_SELECTOR) {
            struct sel_data *d = find_sel(ev, ev_unparen(e->u.call.args[0])->u.ms.vs);
            if (d != NULL) {
                d->counter_check = 1;
                d->counter_pos = e->u.call.args[0]->pos;
            }
        }
        /* Only the steps of the range query itself are known ahead. */
        if (rc == 0 && ev->step > 0 && ev->in_sq == 0 && ev_stream_eligible(e)) {
            struct sel_data *d = find_sel(ev, ev_unparen(e->u.call.args[0])->u.ms.vs);
            if (d != NULL)
                d->stream = e;
        }
        return rc;
    case PROMQL_AGGREGATE:
        if (e->u.agg.param != NULL)
            rc = prepass(ev, e->u.agg.param, lo, hi);
        if (rc == 0)
            rc = prepass(ev, e->u.agg.expr, lo, hi);
        if (rc == 0 && ev->step > 0 && ev->in_sq == 0 && ev_rows_agg_eligible(e))
            mark_rows(ev, ev_unparen(e->u.agg.expr), e);
        return rc;
    case PROMQL_BINARY:
        rc = prepass(ev, e->u.bin.lhs, lo, hi);
        return rc ? rc : prepass(ev, e->u.bin.rhs, lo, hi);
    case PROMQL_UNARY:
        return prepass(ev, e->u.unary.expr, lo, hi);
    case PROMQL_PAREN:
        return prepass(ev, e->u.paren, lo, hi);
    case PROMQL_NUMBER:
    case PROMQL_STRING:
        return 0;
    }
    return 0;
}

/* ---- fetching ------------------------------------------------------------------------ */

/* note_resets lists s's counter resets (clean[i].v < clean[i - 1].v). A
 * NaN compares false both ways, as in the scan it replaces. */
static int note_resets(struct ev *ev, struct sel_series *s)
{
    const struct promql_point *p = s->clean;
    size_t n = 0;
    for (size_t i = 1; i < s->nclean; i++)
        n += p[i].v < p[i - 1].v;
    s->nresets = n;
    s->resets = NULL;
    if (n == 0)
        return 0;
    if (s->nclean > UINT32_MAX)
        return TT_ENOMEM; /* never with the sample limit's sizes */
    s->resets = promql_arena_alloc_raw(ev->qa, n * sizeof *s->resets);
    if (s->resets == NULL)
        return TT_ENOMEM;
    n = 0;
    for (size_t i = 1; i < s->nclean; i++)
        if (p[i].v < p[i - 1].v)
            s->resets[n++] = (uint32_t)i;
    return 0;
}

/* ptr_key: the hash table key of a label array's address. */
static uint64_t ptr_key(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p * UINT64_C(0x9e3779b97f4a7c15);
    return x ^ (x >> 32);
}

/* ev_register_labels remembers the label array's address, so that
 * ev_series_id recognises the labels wherever they travel. */
int ev_register_labels(struct ev *ev, const struct promql_labels *ls, uint32_t *id)
{
    int isnew;
    *id = UINT32_MAX;
    if (ls->v == NULL || ev->nids == UINT32_MAX - 1)
        return 0;
    if (ev->ids.cap == 0 && hmap_init(&ev->ids, 64) != 0)
        return TT_ENOMEM;
    /* ptr_key is a bijection and every series has its own label array, so
     * the key is new. */
    uint32_t *slot = hmap_put(&ev->ids, ptr_key(ls->v), &isnew);
    if (slot == NULL)
        return TT_ENOMEM;
    *id = *slot = ev->nids++;
    return 0;
}

uint32_t ev_series_id(const struct ev *ev, const struct promql_labels *ls)
{
    if (ev->ids.cap == 0 || ls->v == NULL)
        return UINT32_MAX;
    const uint32_t *slot = hmap_get(&ev->ids, ptr_key(ls->v));
    if (slot == NULL || *slot >= ev->nids)
        return UINT32_MAX;
    return *slot;
}

struct stream_row *ev_stream_row_new(struct ev *ev, struct sel_data *d,
                                     const struct promql_labels *labels)
{
    uint32_t id;
    if (d->nrows == d->caprows) {
        size_t cap = d->caprows ? d->caprows * 2 : 16;
        struct stream_row *nr = promql_arena_alloc_raw(ev->qa, cap * sizeof *nr);
        if (nr == NULL)
            return NULL;
        copy_n(nr, d->rows, d->nrows * sizeof *nr);
        d->rows = nr;
        d->caprows = cap;
    }
    struct stream_row *row = &d->rows[d->nrows];
    row->v = promql_arena_alloc_raw(ev->qa, ev->nsteps * sizeof *row->v);
    row->has = promql_arena_alloc_raw(ev->qa, ev->nsteps);
    if (row->v == NULL || row->has == NULL ||
        promql_labels_copy(ev->qa, labels, &row->labels) != 0 ||
        ev_register_labels(ev, &row->labels, &id) != 0)
        return NULL;
    d->nrows++;
    return row;
}

/* note_non_counter: rate() and increase() of a metric whose name does not
 * end in _total, _sum, _count or _bucket get an info annotation. */
static void note_non_counter(struct ev *ev, const struct sel_data *d,
                             const struct promql_labels *labels)
{
    static const char *const suffixes[] = { "_total", "_sum", "_count", "_bucket" };
    const char *name = promql_labels_get(labels, "__name__");
    if (name == NULL)
        return;
    size_t n = strlen(name);
    for (size_t i = 0; i < 4; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && strcmp(name + n - k, suffixes[i]) == 0)
            return;
    }
    ev_annotate(ev, 1, d->counter_pos,
                "PromQL info: metric might not be a counter, name does not end in "
                "_total/_sum/_count/_bucket: \"%s\"",
                name);
}

static int emit_series(void *arg, const struct promql_labels *labels, const int64_t *ts,
                       const double *vs, size_t n)
{
    struct ev *ev = ((void **)arg)[0];
    struct sel_data *d = ((void **)arg)[1];
    struct sel_series *s;
    size_t nstale = 0;

    if (n == 0)
        return 0;
    ev->samples += n;
    if (ev->samples > ev->max_samples)
        return ev_errorf(ev, TT_ERANGE, TOO_MANY_SAMPLES_MSG);
    if (d->counter_check)
        note_non_counter(ev, d, labels);
    if (d->stream != NULL)
        return ev_stream_series(ev, d, labels, ts, vs, n);
    if (d->plain)
        return ev_rows_plain_series(ev, d, labels, ts, vs, n);
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct sel_series *ns = promql_arena_alloc(ev->qa, cap * sizeof *ns);
        if (ns == NULL)
            return ev_nomem(ev);
        if (d->n > 0)
            copy_n(ns, d->s, d->n * sizeof *ns);
        d->s = ns;
        d->cap = cap;
    }
    s = &d->s[d->n];
    memset(s, 0, sizeof *s);
    if (promql_labels_copy(ev->qa, labels, &s->labels) != 0)
        return ev_nomem(ev);
    s->all = promql_arena_alloc_raw(ev->qa, n * sizeof *s->all);
    if (s->all == NULL)
        return ev_nomem(ev);
    for (size_t i = 0; i < n; i++) {
        s->all[i].t = ts[i];
        s->all[i].v = vs[i];
        nstale += f64_bits(vs[i]) == PROMQL_STALE_NAN_BITS;
    }
    s->nall = n;
    if (nstale == 0) {
        s->clean = s->all;
        s->nclean = n;
    } else {
        s->clean = promql_arena_alloc_raw(ev->qa, (n - nstale + 1) * sizeof *s->clean);
        if (s->clean == NULL)
            return ev_nomem(ev);
        s->nclean = 0;
        for (size_t i = 0; i < n; i++)
            if (f64_bits(vs[i]) != PROMQL_STALE_NAN_BITS)
                s->clean[s->nclean++] = s->all[i];
    }
    if (note_resets(ev, s) != 0 || ev_register_labels(ev, &s->labels, &s->id) != 0)
        return ev_nomem(ev);
    d->n++;
    return 0;
}

static int emit_rollup(void *arg, const struct promql_labels *labels,
                       const struct promql_rollup_point *p, size_t n)
{
    struct ev *ev = ((void **)arg)[0];
    struct sel_data *d = ((void **)arg)[1];
    if (n == 0)
        return 0;
    ev->samples += n;
    if (ev->samples > ev->max_samples)
        return ev_errorf(ev, TT_ERANGE, TOO_MANY_SAMPLES_MSG);
    return ev_stream_rollup_series(ev, d, labels, p, n);
}

static int fetch_all(struct ev *ev)
{
    for (size_t i = 0; i < ev->nsels; i++) {
        struct sel_data *d = &ev->sels[i];
        const struct promql_vector_selector *vs = &d->vs->u.vs;
        void *arg[2] = { ev, d };
        char msg[256] = "";
        int64_t lo, hi, res = ev_rollup_res(ev, d, &lo, &hi);
        int rc = res > 0 ? ev->st->select_rollup(ev->st->ctx, vs->matchers, vs->nmatchers, lo, hi,
                                                 res, emit_rollup, arg, msg, sizeof msg)
                         : ev->st->select(ev->st->ctx, vs->matchers, vs->nmatchers, d->mint,
                                          d->maxt, emit_series, arg, msg, sizeof msg);
        /* Rows computed by stream workers are complete from here on. */
        int wrc = ev->pool != NULL ? stream_pool_wait(ev->pool) : 0;
        if (rc != 0)
            return ev_errorf(ev, rc, "%s", msg[0] ? msg : tt_strerror(rc));
        if (wrc != 0)
            return ev_nomem(ev);
        d->fetched = 1;
        if (d->agg != NULL && (rc = ev_rows_agg_build(ev, d)) != 0)
            return rc;
    }
    return 0;
}

/* ---- selectors --------------------------------------------------------------------- */

/* upper_from: index of the first point of p[lo..hi) with t > x (hi when
 * none), for p sorted by time. */
static size_t upper_from(const struct promql_point *p, size_t lo, size_t hi, int64_t x)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p[mid].t <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t ev_seek_upper(const struct promql_point *p, size_t n, int64_t x, size_t *hint)
{
    size_t h = *hint < n ? *hint : n;
    size_t r;
    if (h > 0 && p[h - 1].t > x) {
        r = upper_from(p, 0, h, x);
    } else {
        /* Forward from the hint: a step usually moves a few points. */
        size_t end = n - h > 8 ? h + 8 : n;
        while (h < end && p[h].t <= x)
            h++;
        r = h < end || h == n ? h : upper_from(p, h, n, x);
    }
    *hint = r;
    return r;
}

/* eval_vs: an instant vector selector. keep_ts: samples keep the time of
 * the point found (for timestamp()); otherwise they carry t. */
static int eval_vs(struct ev *ev, const struct promql_expr *e, int64_t t, int keep_ts,
                   struct val *out)
{
    struct sel_data *d = find_sel(ev, e);
    int64_t r = ev_ref_time(ev, &e->u.vs.mods, t);

    out->type = PROMQL_TYPE_VECTOR;
    out->n = 0;
    if (d != NULL && d->plain && !keep_ts)
        return ev_rows_plain_step(ev, d, t, out);
    if (d == NULL || d->n == 0)
        return 0;
    out->s = ev_alloc(ev, d->n * sizeof *out->s);
    if (out->s == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < d->n; i++) {
        struct sel_series *s = &d->s[i];
        size_t k = ev_seek_upper(s->all, s->nall, r, &s->hint_all);
        if (k == 0)
            continue;
        const struct promql_point *p = &s->all[k - 1];
        if (p->t <= r - ev->lookback_ms || promql_is_stale(p->v))
            continue;
        struct promql_sample *o = &out->s[out->n++];
        o->labels = s->labels;
        o->t = keep_ts ? p->t : t;
        o->v = p->v;
        /* smoothed: interpolate towards the next sample within lookback. */
        if (e->u.vs.smoothed && p->t < r && k < s->nall && s->all[k].t <= r + ev->lookback_ms &&
            !promql_is_stale(s->all[k].v))
            o->v = p->v + (s->all[k].v - p->v) * (double)(r - p->t) / (double)(s->all[k].t - p->t);
        o->drop_name = 0;
    }
    return 0;
}

/* extend_floats cuts p[0..n) (an anchored or smoothed selector's widened
 * window) back to [from, to] with a point exactly on each edge: the last
 * sample at or before the edge, or (smoothed) the value interpolated there,
 * as Prometheus's extendFloats. Returns 0 with o->npoints 0 when no sample
 * lies after from, 1 when o was filled (step arena), TT_ENOMEM. */
static int extend_floats(struct ev *ev, const struct promql_point *p, size_t n, int64_t from,
                         int64_t to, int smoothed, struct promql_series *o)
{
    o->npoints = 0;
    if (n == 0)
        return 0;
    long first = ev_ext_first(p, n, from);
    long last = smoothed ? ev_ext_last(p, n, to) : (long)n - 1;
    if (p[last].t <= from)
        return 0;
    double left = ev_ext_left(p, (size_t)first, from, smoothed, 0);
    double right = ev_ext_right(p, (size_t)last, to, smoothed, 0);
    if (p[first].t <= from)
        first++;
    if (p[last].t >= to)
        last--;
    size_t mid = last >= first ? (size_t)(last - first + 1) : 0;
    struct promql_point *q = ev_alloc(ev, (mid + 2) * sizeof *q);
    if (q == NULL)
        return TT_ENOMEM;
    q[0].t = from;
    q[0].v = left;
    copy_n(q + 1, p + first, mid * sizeof *q);
    q[mid + 1].t = to;
    q[mid + 1].v = right;
    o->points = q;
    o->npoints = mid + 2;
    return 1;
}

int ev_eval_ms(struct ev *ev, const struct promql_expr *e, int64_t t, int raw, struct val *out)
{
    const struct promql_expr *vs = e->u.ms.vs;
    struct sel_data *d = find_sel(ev, vs);
    int64_t r = ev_ref_time(ev, &vs->u.vs.mods, t);
    int64_t range_ms = ev_dur(ev, e->u.ms.range_ms, e->u.ms.range_expr);
    int64_t from = r - range_ms;
    int anchored = vs->u.vs.anchored, smoothed = vs->u.vs.smoothed;
    int64_t lo = anchored || smoothed ? sat_sub(from, ev->lookback_ms) : from;
    int64_t hi = smoothed ? sat_sub(r, -ev->lookback_ms) : r;

    out->type = PROMQL_TYPE_MATRIX;
    out->nm = 0;
    out->win_end = r;
    out->range_ms = range_ms;
    if (d == NULL || d->n == 0)
        return 0;
    out->m = promql_arena_alloc_raw(&ev->sa, d->n * sizeof *out->m);
    out->src = promql_arena_alloc_raw(&ev->sa, d->n * sizeof *out->src);
    if (out->m == NULL || out->src == NULL)
        return ev_nomem(ev);
    for (size_t i = 0; i < d->n; i++) {
        struct sel_series *s = &d->s[i];
        size_t a = ev_seek_upper(s->clean, s->nclean, lo, &s->hint_lo);
        size_t b = ev_seek_upper(s->clean, s->nclean, hi, &s->hint_hi);
        if (b <= a)
            continue;
        struct promql_series *o = &out->m[out->nm];
        out->src[out->nm] = s;
        o->labels = s->labels;
        o->points = s->clean + a;
        o->npoints = b - a;
        o->drop_name = 0;
        if ((anchored || smoothed) && !raw) {
            int rc = extend_floats(ev, s->clean + a, b - a, from, r, smoothed, o);
            if (rc < 0)
                return rc;
            if (rc == 0)
                continue;
            out->src[out->nm] = NULL; /* a copy with new edge points */
        }
        out->nm++;
    }
    return 0;
}

/* ---- subqueries --------------------------------------------------------------------- */

struct acc_series {
    struct promql_labels labels;
    int drop_name;
    struct promql_point *p;
    size_t n, cap;
};

struct acc {
    struct acc_series *s;
    size_t n, cap;
    struct hmap idx;
};

static void acc_release(struct acc *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->s[i].p);
    free(a->s);
    hmap_release(&a->idx);
    memset(a, 0, sizeof *a);
}

/* acc_add appends (t, v) to the series with labels ls (key: its hash).
 * Returns the series or NULL on ENOMEM. */
static struct acc_series *acc_add(struct acc *a, uint64_t key, const struct promql_labels *ls,
                                  int drop_name, int64_t t, double v)
{
    int isnew;
    uint32_t *slot;
    struct acc_series *s;

    if (a->idx.cap == 0 && hmap_init(&a->idx, 16) != 0)
        return NULL;
    slot = hmap_put(&a->idx, key, &isnew);
    if (slot == NULL)
        return NULL;
    if (isnew) {
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 16;
            struct acc_series *ns = realloc(a->s, cap * sizeof *ns);
            if (ns == NULL) {
                *slot = UINT32_MAX; /* leave the table consistent: remove */
                a->idx.n--;
                return NULL;
            }
            a->s = ns;
            a->cap = cap;
        }
        *slot = (uint32_t)a->n;
        s = &a->s[a->n++];
        memset(s, 0, sizeof *s);
        s->labels = *ls;
        s->drop_name = drop_name;
    }
    s = &a->s[*slot];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct promql_point *np = realloc(s->p, cap * sizeof *np);
        if (np == NULL)
            return NULL;
        s->p = np;
        s->cap = cap;
    }
    s->p[s->n].t = t;
    s->p[s->n].v = v;
    s->n++;
    return s;
}

static int eval_subquery(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out)
{
    const struct promql_subquery *sq = &e->u.sq;
    int64_t r = ev_ref_time(ev, &sq->mods, t);
    int64_t sq_step = ev_dur(ev, sq->step_ms, sq->step_expr);
    int64_t step = sq_step > 0 ? sq_step : ev->sq_step_ms;
    int64_t x = r - ev_dur(ev, sq->range_ms, sq->range_expr);
    /* The first multiple of step after x (the window is left-open). */
    int64_t first = step * (x / step);
    struct acc a = { 0 };
    int rc = 0;
    size_t total = 0;

    if (first <= x)
        first += step;
    for (int64_t ts = first; ts <= r; ts += step) {
        struct val v;
        memset(&v, 0, sizeof v);
        rc = ev_eval(ev, sq->expr, ts, &v);
        if (rc != 0)
            goto out;
        if (v.type == PROMQL_TYPE_SCALAR) {
            static const struct promql_labels empty = { NULL, 0 };
            if (acc_add(&a, 0, &empty, 0, ts, v.scalar) == NULL) {
                rc = ev_nomem(ev);
                goto out;
            }
            total++;
            continue;
        }
        for (size_t i = 0; i < v.n; i++) {
            const struct promql_sample *s = &v.s[i];
            uint64_t key = promql_labels_hash(&s->labels) ^ (s->drop_name ? 0x5bd1e995u : 0);
            if (acc_add(&a, key, &s->labels, s->drop_name, ts, s->v) == NULL) {
                rc = ev_nomem(ev);
                goto out;
            }
        }
        total += v.n;
        if (ev->samples + total > ev->max_samples) {
            rc = ev_errorf(ev, TT_ERANGE, TOO_MANY_SAMPLES_MSG);
            goto out;
        }
    }
    out->type = PROMQL_TYPE_MATRIX;
    out->win_end = r;
    out->range_ms = ev_dur(ev, sq->range_ms, sq->range_expr);
    out->nm = 0;
    out->m = ev_alloc(ev, (a.n + 1) * sizeof *out->m);
    if (out->m == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < a.n; i++) {
        struct promql_point *p = ev_alloc(ev, a.s[i].n * sizeof *p);
        if (p == NULL) {
            rc = TT_ENOMEM;
            goto out;
        }
        copy_n(p, a.s[i].p, a.s[i].n * sizeof *p);
        out->m[i].labels = a.s[i].labels;
        out->m[i].drop_name = a.s[i].drop_name;
        out->m[i].points = p;
        out->m[i].npoints = a.s[i].n;
    }
    out->nm = a.n;
out:
    acc_release(&a);
    return rc;
}

/* ---- dispatch ---------------------------------------------------------------------- */

static int eval_unary(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out)
{
    int rc = ev_eval(ev, e->u.unary.expr, t, out);
    if (rc != 0 || !e->u.unary.negate)
        return rc;
    if (out->type == PROMQL_TYPE_SCALAR) {
        out->scalar = -out->scalar;
        return 0;
    }
    for (size_t i = 0; i < out->n; i++) {
        out->s[i].v = -out->s[i].v;
        out->s[i].drop_name = 1;
    }
    return 0;
}

int ev_eval(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out)
{
    memset(out, 0, sizeof *out);
    switch (e->kind) {
    case PROMQL_NUMBER:
        out->type = PROMQL_TYPE_SCALAR;
        out->scalar = e->u.number.value;
        return 0;
    case PROMQL_STRING:
        out->type = PROMQL_TYPE_STRING;
        out->str = e->u.string.ptr;
        return 0;
    case PROMQL_PAREN:
        return ev_eval(ev, e->u.paren, t, out);
    case PROMQL_UNARY:
        return eval_unary(ev, e, t, out);
    case PROMQL_VECTOR_SELECTOR:
        return eval_vs(ev, e, t, 0, out);
    case PROMQL_MATRIX_SELECTOR:
        return ev_eval_ms(ev, e, t, 0, out);
    case PROMQL_SUBQUERY:
        return eval_subquery(ev, e, t, out);
    case PROMQL_CALL:
        if (strcmp(e->u.call.func->name, "timestamp") == 0 &&
            ev_unparen(e->u.call.args[0])->kind == PROMQL_VECTOR_SELECTOR) {
            /* timestamp() of a selector reports the time of the sample found,
             * not the evaluation time. */
            int rc = eval_vs(ev, ev_unparen(e->u.call.args[0]), t, 1, out);
            if (rc != 0)
                return rc;
            for (size_t i = 0; i < out->n; i++) {
                out->s[i].v = (double)out->s[i].t / 1000.0;
                out->s[i].t = t;
                out->s[i].drop_name = 1;
            }
            return 0;
        }
        return eval_call(ev, e, t, out);
    case PROMQL_AGGREGATE:
        return eval_aggregate(ev, e, t, out);
    case PROMQL_BINARY:
        return eval_binary(ev, e, t, out);
    }
    return ev_errorf(ev, TT_EINVAL, "unknown expression kind %d", (int)e->kind);
}

/* ---- drivers ------------------------------------------------------------------------ */

static int setup(struct ev *ev, const struct promql_engine_opts *opts,
                 const struct promql_storage *st, struct promql_eval_error *err,
                 struct promql_result *res)
{
    memset(ev, 0, sizeof *ev);
    ev->st = st;
    ev->lookback_ms = opts && opts->lookback_ms > 0 ? opts->lookback_ms : DEFAULT_LOOKBACK_MS;
    ev->sq_step_ms = opts && opts->default_subquery_step_ms > 0 ? opts->default_subquery_step_ms
                                                                : DEFAULT_SQ_STEP_MS;
    ev->max_samples = opts && opts->max_samples > 0 ? opts->max_samples : DEFAULT_MAX_SAMPLES;
    ev->stream_workers = opts ? opts->stream_workers : 0;
    ev->qa = &res->arena;
    ev->err = err;
    ev->res = res;
    ev->query = opts ? opts->query : NULL;
    return 0;
}

/* ---- annotations ---------------------------------------------------------------- */

void ev_fmt_float(double v, char *buf, size_t n)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Go's %g: the shortest digits that read back as v, in %e form when
     * the decimal exponent is below -4 or at least 6, else in %f form. */
    char e[64];
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    snprintf(e, sizeof e, "%.*e", prec - 1, v);
    const char *x = strchr(e, 'e');
    long exp = x ? strtol(x + 1, NULL, 10) : 0;
    if (exp < -4 || exp >= 6)
        snprintf(buf, n, "%s", e);
    else
        snprintf(buf, n, "%.*f", (int)(prec - 1 - exp > 0 ? prec - 1 - exp : 0), v);
}

void ev_check_quantile(struct ev *ev, double q, uint32_t pos)
{
    if (!(q >= 0 && q <= 1)) {
        char b[64];
        ev_fmt_float(q, b, sizeof b);
        ev_annotate(ev, 0, pos, "PromQL warning: quantile value should be between 0 and 1, got %s",
                    b);
    }
}

void ev_annotate(struct ev *ev, int info, uint32_t pos, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    size_t len = strlen(msg);
    /* line:col of pos, 1-based, columns in bytes from the line's start. */
    uint32_t line = 1, col = pos + 1;
    if (ev->query != NULL) {
        size_t qlen = strlen(ev->query);
        uint32_t start = 0;
        for (uint32_t i = 0; i < pos && i < qlen; i++)
            if (ev->query[i] == '\n') {
                line++;
                start = i + 1;
            }
        col = pos - start + 1;
    }
    snprintf(msg + len, sizeof msg - len, " (%u:%u)", line, col);
    struct promql_result *r = ev->res;
    const char ***arr = info ? &r->infos : &r->warnings;
    size_t *n = info ? &r->ninfos : &r->nwarnings;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i], msg) == 0)
            return;
    const char *copy = promql_arena_strdup(ev->qa, msg, strlen(msg));
    const char **na = promql_arena_alloc_raw(ev->qa, (*n + 1) * sizeof *na);
    if (copy == NULL || na == NULL)
        return;
    copy_n(na, *arr, *n * sizeof *na);
    na[(*n)++] = copy;
    *arr = na;
}

static void teardown(struct ev *ev)
{
    /* First: workers may still write rows (in the query arena) after a
     * failed fetch. */
    stream_pool_free(ev->pool);
    ev->pool = NULL;
    promql_arena_release(&ev->sa);
    hmap_release(&ev->ids);
    stream_scratch_release(&ev->scratch);
    for (size_t i = 0; i < ev->nsigs; i++) {
        free(ev->sigs[i].sig);
        free(ev->sigs[i].have);
    }
    free(ev->sigs);
    free(ev->sels);
    ev_info_release(ev);
    promql_lbuilder_release(&ev->lb);
}

static int cmp_series(const void *a, const void *b)
{
    const struct promql_series *x = a, *y = b;
    return promql_labels_cmp(&x->labels, &y->labels);
}

/* finish_vector copies v's samples into the result with names dropped, and
 * checks that no two samples share a label set. */
static int finish_vector(struct ev *ev, const struct val *v, struct promql_result *res)
{
    struct hmap seen = { 0 };
    int rc = 0;

    res->type = PROMQL_TYPE_VECTOR;
    res->samples = promql_arena_alloc(ev->qa, (v->n + 1) * sizeof *res->samples);
    if (res->samples == NULL || hmap_init(&seen, v->n) != 0) {
        rc = ev_nomem(ev);
        goto out;
    }
    for (size_t i = 0; i < v->n; i++) {
        struct promql_sample *o = &res->samples[i];
        struct promql_labels ls = v->s[i].labels;
        int isnew;
        if (v->s[i].drop_name && (rc = ev_drop_name_labels(ev, &ls, &ls)) != 0)
            goto out;
        if (hmap_put(&seen, promql_labels_hash(&ls), &isnew) == NULL) {
            rc = ev_nomem(ev);
            goto out;
        }
        if (!isnew) {
            rc = ev_errorf(ev, TT_EINVAL, "vector cannot contain metrics with the same labelset");
            goto out;
        }
        *o = v->s[i];
        o->drop_name = 0;
        if (promql_labels_copy(ev->qa, &ls, &o->labels) != 0) {
            rc = ev_nomem(ev);
            goto out;
        }
    }
    res->nsamples = v->n;
out:
    hmap_release(&seen);
    return rc;
}

static int finish_matrix(struct ev *ev, const struct val *v, struct promql_result *res)
{
    res->type = PROMQL_TYPE_MATRIX;
    res->series = promql_arena_alloc(ev->qa, (v->nm + 1) * sizeof *res->series);
    if (res->series == NULL)
        return ev_nomem(ev);
    for (size_t i = 0; i < v->nm; i++) {
        struct promql_series *o = &res->series[i];
        struct promql_point *p = promql_arena_alloc(ev->qa, v->m[i].npoints * sizeof *p + 1);
        struct promql_labels ls = v->m[i].labels;
        int rc;
        if (p == NULL)
            return ev_nomem(ev);
        if (v->m[i].drop_name && (rc = ev_drop_name_labels(ev, &ls, &ls)) != 0)
            return rc;
        copy_n(p, v->m[i].points, v->m[i].npoints * sizeof *p);
        if (promql_labels_copy(ev->qa, &ls, &o->labels) != 0)
            return ev_nomem(ev);
        o->points = p;
        o->npoints = v->m[i].npoints;
        o->drop_name = 0;
    }
    res->nseries = v->nm;
    qsort(res->series, res->nseries, sizeof *res->series, cmp_series);
    for (size_t i = 1; i < res->nseries; i++)
        if (promql_labels_equal(&res->series[i - 1].labels, &res->series[i].labels))
            return ev_errorf(ev, TT_EINVAL, "vector cannot contain metrics with the same labelset");
    return 0;
}

static int new_result(struct promql_result **out)
{
    *out = calloc(1, sizeof **out);
    return *out == NULL ? TT_ENOMEM : 0;
}

void promql_result_free(struct promql_result *r)
{
    if (r == NULL)
        return;
    promql_arena_release(&r->arena);
    free(r);
}

int promql_eval_instant(const struct promql_engine_opts *opts, const struct promql_storage *st,
                        const struct promql_expr *e, int64_t t_ms, struct promql_result **out,
                        struct promql_eval_error *err)
{
    struct promql_eval_error local = { 0 };
    struct promql_result *res = NULL;
    struct ev ev;
    struct val v;
    int rc;

    *out = NULL;
    if (err == NULL)
        err = &local;
    memset(err, 0, sizeof *err);
    if (new_result(&res) != 0) {
        err->code = TT_ENOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return TT_ENOMEM;
    }
    setup(&ev, opts, st, err, res);
    ev.start = ev.end = t_ms;
    rc = prepass(&ev, e, t_ms, t_ms);
    if (rc == 0)
        rc = fetch_all(&ev);
    if (rc == 0)
        rc = ev_eval(&ev, e, t_ms, &v);
    if (rc == 0) {
        res->t = t_ms;
        switch (v.type) {
        case PROMQL_TYPE_SCALAR:
            res->type = PROMQL_TYPE_SCALAR;
            res->scalar = v.scalar;
            break;
        case PROMQL_TYPE_STRING:
            res->type = PROMQL_TYPE_STRING;
            res->str = promql_arena_strdup(ev.qa, v.str, strlen(v.str));
            if (res->str == NULL)
                rc = ev_nomem(&ev);
            break;
        case PROMQL_TYPE_VECTOR:
            rc = finish_vector(&ev, &v, res);
            break;
        case PROMQL_TYPE_MATRIX:
            rc = finish_matrix(&ev, &v, res);
            break;
        case PROMQL_TYPE_NONE:
            rc = ev_errorf(&ev, TT_EINVAL, "expression has no value");
            break;
        }
    }
    teardown(&ev);
    if (rc != 0) {
        if (err->code == 0)
            ev_errorf(&ev, rc, "%s", tt_strerror(rc));
        promql_result_free(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* range_add appends one step's value to the output series. */
static int range_add(struct ev *ev, struct acc *a, const struct val *v, int64_t t)
{
    static const struct promql_labels empty = { NULL, 0 };

    if (v->type == PROMQL_TYPE_SCALAR) {
        if (acc_add(a, 0, &empty, 0, t, v->scalar) == NULL)
            return ev_nomem(ev);
        return 0;
    }
    for (size_t i = 0; i < v->n; i++) {
        struct promql_labels ls = v->s[i].labels;
        int rc;
        if (v->s[i].drop_name && (rc = ev_drop_name_labels(ev, &ls, &ls)) != 0)
            return rc;
        uint64_t key = promql_labels_hash(&ls);
        uint32_t *slot = a->idx.cap ? hmap_get(&a->idx, key) : NULL;
        if (slot != NULL) {
            struct acc_series *s = &a->s[*slot];
            if (s->n > 0 && s->p[s->n - 1].t == t)
                return ev_errorf(ev, TT_EINVAL,
                                 "vector cannot contain metrics with the same labelset");
            if (acc_add(a, key, &ls, 0, t, v->s[i].v) == NULL)
                return ev_nomem(ev);
            continue;
        }
        struct promql_labels copy;
        if (promql_labels_copy(ev->qa, &ls, &copy) != 0)
            return ev_nomem(ev);
        if (acc_add(a, key, &copy, 0, t, v->s[i].v) == NULL)
            return ev_nomem(ev);
    }
    return 0;
}

int promql_eval_range(const struct promql_engine_opts *opts, const struct promql_storage *st,
                      const struct promql_expr *e, int64_t start_ms, int64_t end_ms,
                      int64_t step_ms, struct promql_result **out, struct promql_eval_error *err)
{
    struct promql_eval_error local = { 0 };
    struct promql_result *res = NULL;
    struct acc a = { 0 };
    struct ev ev;
    int rc = 0;

    *out = NULL;
    if (err == NULL)
        err = &local;
    memset(err, 0, sizeof *err);
    if (step_ms <= 0 || end_ms < start_ms) {
        err->code = TT_EINVAL;
        snprintf(err->msg, sizeof err->msg, "invalid range: start %lld, end %lld, step %lld",
                 (long long)start_ms, (long long)end_ms, (long long)step_ms);
        return TT_EINVAL;
    }
    if (e->type != PROMQL_TYPE_SCALAR && e->type != PROMQL_TYPE_VECTOR) {
        err->code = TT_EINVAL;
        snprintf(err->msg, sizeof err->msg,
                 "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                 promql_type_name(e->type));
        return TT_EINVAL;
    }
    if (new_result(&res) != 0) {
        err->code = TT_ENOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return TT_ENOMEM;
    }
    setup(&ev, opts, st, err, res);
    ev.start = start_ms;
    ev.end = end_ms;
    ev.step = step_ms;
    ev.nsteps = (size_t)((end_ms - start_ms) / step_ms) + 1;
    rc = prepass(&ev, e, start_ms, end_ms);
    if (rc == 0)
        mark_rows(&ev, ev_unparen(e), NULL);
    if (rc == 0)
        rc = fetch_all(&ev);
    /* A query that is a selector, a streamed call or an aggregation of one
     * is already computed in rows. */
    int direct = rc == 0 ? ev_rows_result(&ev, e, res) : 0;
    if (direct < 0)
        rc = direct;
    for (int64_t t = start_ms; rc == 0 && !direct && t <= end_ms; t += step_ms) {
        struct val v;
        promql_arena_reset(&ev.sa);
        rc = ev_eval(&ev, e, t, &v);
        if (rc == 0)
            rc = range_add(&ev, &a, &v, t);
        if (end_ms - t < step_ms)
            break;
    }
    if (rc == 0 && !direct) {
        res->type = PROMQL_TYPE_MATRIX;
        res->t = end_ms;
        res->series = promql_arena_alloc(ev.qa, (a.n + 1) * sizeof *res->series);
        if (res->series == NULL)
            rc = ev_nomem(&ev);
    }
    for (size_t i = 0; rc == 0 && !direct && i < a.n; i++) {
        struct promql_point *p = promql_arena_alloc(ev.qa, a.s[i].n * sizeof *p);
        if (p == NULL) {
            rc = ev_nomem(&ev);
            break;
        }
        copy_n(p, a.s[i].p, a.s[i].n * sizeof *p);
        res->series[i].labels = a.s[i].labels;
        res->series[i].points = p;
        res->series[i].npoints = a.s[i].n;
        res->nseries++;
    }
    if (rc == 0 && !direct)
        qsort(res->series, res->nseries, sizeof *res->series, cmp_series);
    acc_release(&a);
    teardown(&ev);
    if (rc != 0) {
        if (err->code == 0)
            ev_errorf(&ev, rc, "%s", tt_strerror(rc));
        promql_result_free(res);
        return rc;
    }
    *out = res;
    return 0;
}
