/*
 * memstore.c - the in-memory series store of memstore.h: an array of series,
 * a hash of label sets to find them, points in sorted growable arrays.
 */
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/tvpair.h"
#include "query/promql/memstore.h"
#include "query/promql/engine_int.h"
#include "store/tsdb/matcher.h"

struct mseries {
    struct promql_labels labels; /* in ms->arena */
    int64_t *ts;
    double *vs;
    size_t n, cap;
};

struct promql_memstore {
    struct mseries *s;
    size_t n, cap;
    struct hmap idx;
    struct promql_arena arena;
};

int promql_memstore_new(struct promql_memstore **out)
{
    *out = calloc(1, sizeof **out);
    return *out == NULL ? TT_ENOMEM : 0;
}

void promql_memstore_clear(struct promql_memstore *ms)
{
    for (size_t i = 0; i < ms->n; i++) {
        free(ms->s[i].ts);
        free(ms->s[i].vs);
    }
    free(ms->s);
    ms->s = NULL;
    ms->n = ms->cap = 0;
    hmap_release(&ms->idx);
    promql_arena_release(&ms->arena);
}

void promql_memstore_free(struct promql_memstore *ms)
{
    if (ms == NULL)
        return;
    promql_memstore_clear(ms);
    free(ms);
}

size_t promql_memstore_series_count(const struct promql_memstore *ms)
{
    return ms->n;
}

static int cmp_label(const void *a, const void *b)
{
    const struct promql_label *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static struct mseries *get_series(struct promql_memstore *ms, const struct promql_label *in,
                                  size_t n, int *rc)
{
    struct promql_label tmp[64];
    struct promql_label *v = n <= 64 ? tmp : malloc(n * sizeof *v);
    struct promql_labels ls;
    struct mseries *s = NULL;
    size_t m = 0;
    uint32_t *slot;
    int isnew;

    *rc = TT_ENOMEM;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (in[i].value[0] != '\0')
            v[m++] = in[i];
    qsort(v, m, sizeof *v, cmp_label);
    for (size_t i = 1; i < m; i++)
        if (strcmp(v[i - 1].name, v[i].name) == 0) {
            *rc = TT_EINVAL;
            goto out;
        }
    ls.v = v;
    ls.n = m;
    if (ms->idx.cap == 0 && hmap_init(&ms->idx, 64) != 0)
        goto out;
    slot = hmap_put(&ms->idx, promql_labels_hash(&ls), &isnew);
    if (slot == NULL)
        goto out;
    if (!isnew) {
        s = &ms->s[*slot];
        *rc = 0;
        goto out;
    }
    if (ms->n == ms->cap) {
        size_t cap = ms->cap ? ms->cap * 2 : 64;
        struct mseries *ns = realloc(ms->s, cap * sizeof *ns);
        if (ns == NULL)
            goto out;
        ms->s = ns;
        ms->cap = cap;
    }
    s = &ms->s[ms->n];
    memset(s, 0, sizeof *s);
    if (promql_labels_copy(&ms->arena, &ls, &s->labels) != 0) {
        s = NULL;
        goto out;
    }
    *slot = (uint32_t)ms->n++;
    *rc = 0;
out:
    if (v != tmp)
        free(v);
    return s;
}

int promql_memstore_add(struct promql_memstore *ms, const struct promql_label *ls, size_t n,
                        int64_t t_ms, double v)
{
    int rc;
    struct mseries *s = get_series(ms, ls, n, &rc);
    size_t pos;

    if (s == NULL)
        return rc;
    /* Find the insertion point: usually at the end. */
    pos = s->n;
    while (pos > 0 && s->ts[pos - 1] > t_ms)
        pos--;
    if (pos > 0 && s->ts[pos - 1] == t_ms) {
        s->vs[pos - 1] = v;
        return 0;
    }
    if (tvpair_grow(&s->ts, &s->vs, &s->cap, s->n + 1, 16) != 0)
        return TT_ENOMEM;
    memmove(&s->ts[pos + 1], &s->ts[pos], (s->n - pos) * sizeof *s->ts);
    memmove(&s->vs[pos + 1], &s->vs[pos], (s->n - pos) * sizeof *s->vs);
    s->ts[pos] = t_ms;
    s->vs[pos] = v;
    s->n++;
    return 0;
}

static size_t lower_ts(const int64_t *ts, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int ms_select(void *ctx, const struct promql_matcher *m, size_t nm, int64_t mint,
                     int64_t maxt, promql_series_fn emit, void *arg, char *err, size_t errlen)
{
    struct promql_memstore *ms = ctx;
    struct matcher **cm = NULL;
    int rc = 0;

    if (nm > 0) {
        cm = calloc(nm, sizeof *cm);
        if (cm == NULL)
            return TT_ENOMEM;
    }
    for (size_t i = 0; i < nm; i++) {
        static const enum matcher_type types[] = { MATCH_EQ, MATCH_NEQ, MATCH_RE, MATCH_NRE };
        rc = matcher_new(&cm[i], types[m[i].op], m[i].name.ptr, m[i].value.ptr, 0, err, errlen);
        if (rc != 0)
            goto out;
    }
    for (size_t i = 0; i < ms->n && rc == 0; i++) {
        const struct mseries *s = &ms->s[i];
        int ok = 1;
        for (size_t j = 0; j < nm && ok; j++) {
            const char *v = promql_labels_get(&s->labels, m[j].name.ptr);
            if (v == NULL)
                v = "";
            ok = matcher_matches(cm[j], v, strlen(v));
        }
        if (!ok)
            continue;
        size_t a = lower_ts(s->ts, s->n, mint);
        size_t b = maxt == INT64_MAX ? s->n : lower_ts(s->ts, s->n, maxt + 1);
        if (b > a)
            rc = emit(arg, &s->labels, s->ts + a, s->vs + a, b - a);
    }
out:
    for (size_t i = 0; i < nm; i++)
        matcher_free(cm[i]);
    free(cm);
    return rc;
}

void promql_memstore_storage(struct promql_memstore *ms, struct promql_storage *st)
{
    st->ctx = ms;
    st->select = ms_select;
    st->select_rollup = NULL;
}
