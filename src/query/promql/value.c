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

/* ---- XXH64, written from the published algorithm description --------------- */

#define XP1 0x9E3779B185EBCA87ull
#define XP2 0xC2B2AE3D27D4EB4Full
#define XP3 0x165667B19E3779F9ull
#define XP4 0x85EBCA77C2B2AE63ull
#define XP5 0x27D4EB2F165667C5ull

static uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t xround(uint64_t acc, uint64_t in)
{
    acc += in * XP2;
    acc = rotl64(acc, 31);
    return acc * XP1;
}

static uint64_t xmerge(uint64_t acc, uint64_t v)
{
    acc ^= xround(0, v);
    return acc * XP1 + XP4;
}

/* XXH64 state for streaming: the 32-byte stripe accumulators and a tail. */
struct xxh {
    uint64_t v[4];
    uint64_t total;
    unsigned char buf[32];
    size_t nbuf;
};

static void xxh_init(struct xxh *x)
{
    memset(x, 0, sizeof *x);
    x->v[0] = XP1 + XP2;
    x->v[1] = XP2;
    x->v[2] = 0;
    x->v[3] = 0 - XP1;
}

static void xxh_stripe(struct xxh *x, const unsigned char *p)
{
    for (int i = 0; i < 4; i++)
        x->v[i] = xround(x->v[i], rd64(p + 8 * i));
}

static void xxh_update(struct xxh *x, const void *data, size_t n)
{
    const unsigned char *p = data;
    x->total += n;
    if (x->nbuf > 0) {
        size_t take = 32 - x->nbuf < n ? 32 - x->nbuf : n;
        memcpy(x->buf + x->nbuf, p, take);
        x->nbuf += take;
        p += take;
        n -= take;
        if (x->nbuf < 32)
            return;
        xxh_stripe(x, x->buf);
        x->nbuf = 0;
    }
    for (; n >= 32; p += 32, n -= 32)
        xxh_stripe(x, p);
    if (n > 0)
        memcpy(x->buf, p, n);
    x->nbuf = n;
}

static uint64_t xxh_final(const struct xxh *x)
{
    uint64_t h;
    if (x->total >= 32) {
        h = rotl64(x->v[0], 1) + rotl64(x->v[1], 7) + rotl64(x->v[2], 12) + rotl64(x->v[3], 18);
        for (int i = 0; i < 4; i++)
            h = xmerge(h, x->v[i]);
    } else {
        h = XP5;
    }
    h += x->total;
    const unsigned char *p = x->buf;
    size_t n = x->nbuf;
    for (; n >= 8; p += 8, n -= 8) {
        h ^= xround(0, rd64(p));
        h = rotl64(h, 27) * XP1 + XP4;
    }
    if (n >= 4) {
        h ^= (uint64_t)rd32(p) * XP1;
        h = rotl64(h, 23) * XP2 + XP3;
        p += 4;
        n -= 4;
    }
    for (; n > 0; p++, n--) {
        h ^= (uint64_t)*p * XP5;
        h = rotl64(h, 11) * XP1;
    }
    h ^= h >> 33;
    h *= XP2;
    h ^= h >> 29;
    h *= XP3;
    h ^= h >> 32;
    return h;
}

uint64_t promql_xxh64(const void *p, size_t n)
{
    struct xxh x;
    xxh_init(&x);
    xxh_update(&x, p, n);
    return xxh_final(&x);
}

uint64_t promql_labels_prom_hash(const struct promql_labels *ls)
{
    static const unsigned char sep = 0xff;
    struct xxh x;
    xxh_init(&x);
    for (size_t i = 0; i < ls->n; i++) {
        xxh_update(&x, ls->v[i].name, strlen(ls->v[i].name));
        xxh_update(&x, &sep, 1);
        xxh_update(&x, ls->v[i].value, strlen(ls->v[i].value));
        xxh_update(&x, &sep, 1);
    }
    return xxh_final(&x);
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
