/*
 * value.c - label sets and the staleness marker (see value.h). Label sets are
 * sorted arrays; edits go through a heap-backed builder whose result is
 * copied into an arena, so evaluation never frees label sets one by one.
 */
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/value.h"
#include "store/tsdb/labels.h"

int promql_is_stale(double v)
{
    return f64_bits(v) == PROMQL_STALE_NAN_BITS;
}

double promql_stale_nan(void)
{
    return f64_from_bits(PROMQL_STALE_NAN_BITS);
}

const char *promql_labels_get(const struct promql_labels *ls, const char *name)
{
    size_t lo = 0, hi = ls->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ls->v[mid].name, name);
        if (c == 0)
            return ls->v[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int promql_labels_cmp(const struct promql_labels *a, const struct promql_labels *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c != 0)
            return c;
        c = strcmp(a->v[i].value, b->v[i].value);
        if (c != 0)
            return c;
    }
    return a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
}

int promql_labels_equal(const struct promql_labels *a, const struct promql_labels *b)
{
    if (a->n != b->n)
        return 0;
    return promql_labels_cmp(a, b) == 0;
}

uint64_t promql_labels_hash(const struct promql_labels *ls)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < ls->n; i++) {
        size_t nl = strlen(ls->v[i].name), vl = strlen(ls->v[i].value);
        /* Lengths go into the hash so {a="bc"} and {ab="c"} differ. */
        h = labels_hash_bytes(ls->v[i].name, nl, h ^ (nl * 0x100000001b3ull));
        h = labels_hash_bytes(ls->v[i].value, vl, h ^ (vl * 0xc2b2ae3d27d4eb4full));
    }
    return h;
}

int promql_labels_format(const struct promql_labels *ls, struct wbuf *out)
{
    wbuf_put_slow(out, "{", 1);
    for (size_t i = 0; i < ls->n; i++) {
        const char *name = ls->v[i].name;
        if (i > 0)
            wbuf_put_slow(out, ", ", 2);
        if (promql_label_name_is_legacy(name, strlen(name)))
            wbuf_put_slow(out, name, strlen(name));
        else
            promql_quote(out, name, strlen(name));
        wbuf_put_slow(out, "=", 1);
        promql_quote(out, ls->v[i].value, strlen(ls->v[i].value));
    }
    wbuf_put_slow(out, "}", 1);
    return out->err;
}

char *promql_arena_strdup(struct promql_arena *a, const char *s, size_t n)
{
    char *p = promql_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int promql_labels_copy(struct promql_arena *a, const struct promql_labels *src,
                       struct promql_labels *dst)
{
    struct promql_label *v = NULL;
    if (src->n > 0) {
        v = promql_arena_alloc(a, src->n * sizeof *v);
        if (v == NULL)
            return TT_ENOMEM;
    }
    for (size_t i = 0; i < src->n; i++) {
        v[i].name = promql_arena_strdup(a, src->v[i].name, strlen(src->v[i].name));
        v[i].value = promql_arena_strdup(a, src->v[i].value, strlen(src->v[i].value));
        if (v[i].name == NULL || v[i].value == NULL)
            return TT_ENOMEM;
    }
    dst->v = v;
    dst->n = src->n;
    return 0;
}

/* ---- builder ------------------------------------------------------------------- */

static int grow(struct promql_lbuilder *b, size_t need)
{
    if (b->err)
        return b->err;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 16;
    while (cap < need)
        cap *= 2;
    struct promql_label *v = realloc(b->v, cap * sizeof *v);
    if (v == NULL) {
        b->err = TT_ENOMEM;
        return b->err;
    }
    b->v = v;
    b->cap = cap;
    return 0;
}

void promql_lbuilder_reset(struct promql_lbuilder *b, const struct promql_labels *ls)
{
    b->n = 0;
    if (ls == NULL || ls->n == 0)
        return;
    if (grow(b, ls->n) != 0)
        return;
    memcpy(b->v, ls->v, ls->n * sizeof *b->v);
    b->n = ls->n;
}

static size_t find(const struct promql_lbuilder *b, const char *name, int *found)
{
    size_t lo = 0, hi = b->n;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(b->v[mid].name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void promql_lbuilder_del(struct promql_lbuilder *b, const char *name)
{
    int found;
    size_t i = find(b, name, &found);
    if (!found)
        return;
    memmove(&b->v[i], &b->v[i + 1], (b->n - i - 1) * sizeof *b->v);
    b->n--;
}

void promql_lbuilder_set(struct promql_lbuilder *b, const char *name, const char *value)
{
    int found;
    if (value == NULL || value[0] == '\0') {
        promql_lbuilder_del(b, name);
        return;
    }
    size_t i = find(b, name, &found);
    if (found) {
        b->v[i].value = value;
        return;
    }
    if (grow(b, b->n + 1) != 0)
        return;
    memmove(&b->v[i + 1], &b->v[i], (b->n - i) * sizeof *b->v);
    b->v[i].name = name;
    b->v[i].value = value;
    b->n++;
}

void promql_lbuilder_keep(struct promql_lbuilder *b, const struct promql_str *names, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < b->n; i++) {
        int keep = 0;
        for (size_t j = 0; j < n && !keep; j++)
            keep = strcmp(b->v[i].name, names[j].ptr) == 0;
        if (keep)
            b->v[w++] = b->v[i];
    }
    b->n = w;
}

int promql_is_metadata_label(const char *name)
{
    return name[0] == '_' && name[1] == '_' &&
           (strcmp(name, "__name__") == 0 || strcmp(name, "__type__") == 0 ||
            strcmp(name, "__unit__") == 0);
}

void promql_lbuilder_drop_metadata(struct promql_lbuilder *b)
{
    size_t w = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!promql_is_metadata_label(b->v[i].name))
            b->v[w++] = b->v[i];
    b->n = w;
}

int promql_lbuilder_finish(struct promql_lbuilder *b, struct promql_arena *a,
                           struct promql_labels *out)
{
    if (b->err)
        return b->err;
    struct promql_label *v = NULL;
    if (b->n > 0) {
        v = promql_arena_alloc(a, b->n * sizeof *v);
        if (v == NULL)
            return TT_ENOMEM;
        memcpy(v, b->v, b->n * sizeof *v);
    }
    out->v = v;
    out->n = b->n;
    return 0;
}

void promql_lbuilder_release(struct promql_lbuilder *b)
{
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
    b->err = 0;
}
