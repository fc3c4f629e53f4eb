/*
 * spanblock.c - the span block codec (spanblock.h; layout in
 * docs/design/spans.md). The writer interns every string of the block in
 * one table and writes the spans as seven columns, so that zstd sees runs of
 * like values: trace ids become indexes into the block's trace list, parent
 * ids references to earlier rows, start times deltas.
 */
#include "store/spans/spanblock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "core/batch.h"
#include "core/crc32c.h"
#include "core/hlc.h"
#include "telltale.h"

#define NCOLS    8 /* a version 1 block has the first 7 */
#define NCOLS_V1 7
#define NSTREAMS (NCOLS + 1)
#define HLC_COL  7
#define EMPTY    UINT32_MAX

/* --- hashing and a small u64 -> u32 table ------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return mix64(h);
}

struct u64map {
    uint64_t *keys;
    uint32_t *vals; /* EMPTY: free slot */
    uint32_t cap, n;
};

static void u64map_clear(struct u64map *m)
{
    if (m->vals != NULL)
        memset(m->vals, 0xff, (size_t)m->cap * sizeof(uint32_t));
    m->n = 0;
}

static void u64map_free(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* u64map_slot returns the slot of key (its value is EMPTY when absent), or
 * NULL when the table cannot grow. */
static uint32_t *u64map_slot(struct u64map *m, uint64_t key, uint32_t **keyslot_val,
                             uint64_t **keyslot)
{
    if ((m->n + 1) * 2 > m->cap) {
        uint32_t ncap = m->cap ? m->cap * 2 : 64;
        uint64_t *nk = malloc((size_t)ncap * sizeof *nk);
        uint32_t *nv = malloc((size_t)ncap * sizeof *nv);
        if (nk == NULL || nv == NULL) {
            free(nk);
            free(nv);
            return NULL;
        }
        memset(nv, 0xff, (size_t)ncap * sizeof *nv);
        for (uint32_t i = 0; i < m->cap; i++) {
            if (m->vals[i] == EMPTY)
                continue;
            uint32_t j = (uint32_t)mix64(m->keys[i]) & (ncap - 1);
            while (nv[j] != EMPTY)
                j = (j + 1) & (ncap - 1);
            nk[j] = m->keys[i];
            nv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = ncap;
    }
    uint32_t j = (uint32_t)mix64(key) & (m->cap - 1);
    while (m->vals[j] != EMPTY && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    *keyslot = &m->keys[j];
    *keyslot_val = &m->vals[j];
    return &m->vals[j];
}

static uint32_t u64map_find(const struct u64map *m, uint64_t key)
{
    if (m->cap == 0)
        return EMPTY;
    uint32_t j = (uint32_t)mix64(key) & (m->cap - 1);
    while (m->vals[j] != EMPTY) {
        if (m->keys[j] == key)
            return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return EMPTY;
}

/* --- the writer ---------------------------------------------------------- */

struct spanblock_writer {
    struct wbuf col[NCOLS];
    struct wbuf sbytes;    /* interned strings, back to back */
    uint32_t *soff, *slen; /* per string index */
    uint32_t nstrs, cap_strs;
    struct u64map strmap;  /* string hash -> first index with that hash */
    uint32_t *snext;       /* chain of indexes with equal hash */
    struct u64map ids;     /* span id -> row */
    struct u64map traces;  /* trace hash -> trace index */
    struct wbuf trace_ids; /* 16 bytes each */
    struct wbuf shape;     /* scratch: the current span's attribute shape */
    int64_t max_seen;      /* highest string index referenced so far (-1: none) */
    uint32_t ntraces;
    struct u64map bloom_items; /* distinct item hashes (value unused) */
    uint64_t *items;           /* the same, as a list */
    uint32_t nitems, cap_items;
    uint32_t count;
    int64_t min_start, max_start, prev_start;
    uint64_t max_dur;
};

int spanblock_writer_new(struct spanblock_writer **out)
{
    struct spanblock_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return TT_ENOMEM;
    for (int i = 0; i < NCOLS; i++)
        wbuf_init(&w->col[i], SPANBLOCK_MAX_RAW);
    wbuf_init(&w->sbytes, SPANBLOCK_MAX_RAW);
    wbuf_init(&w->trace_ids, SPANBLOCK_MAX_RAW);
    wbuf_init(&w->shape, SPANBLOCK_MAX_RAW);
    w->max_seen = -1;
    *out = w;
    return 0;
}

void spanblock_writer_free(struct spanblock_writer *w)
{
    if (w == NULL)
        return;
    for (int i = 0; i < NCOLS; i++)
        wbuf_release(&w->col[i]);
    wbuf_release(&w->sbytes);
    wbuf_release(&w->trace_ids);
    wbuf_release(&w->shape);
    free(w->soff);
    free(w->slen);
    free(w->snext);
    free(w->items);
    u64map_free(&w->strmap);
    u64map_free(&w->ids);
    u64map_free(&w->traces);
    u64map_free(&w->bloom_items);
    free(w);
}

static void writer_reset(struct spanblock_writer *w)
{
    for (int i = 0; i < NCOLS; i++)
        wbuf_reset(&w->col[i]);
    wbuf_reset(&w->sbytes);
    wbuf_reset(&w->trace_ids);
    u64map_clear(&w->strmap);
    u64map_clear(&w->ids);
    u64map_clear(&w->traces);
    u64map_clear(&w->bloom_items);
    w->nstrs = w->ntraces = w->nitems = w->count = 0;
    w->max_seen = -1;
    w->min_start = w->max_start = w->prev_start = 0;
    w->max_dur = 0;
}

uint32_t spanblock_count(const struct spanblock_writer *w)
{
    return w->count;
}

size_t spanblock_raw_bytes(const struct spanblock_writer *w)
{
    size_t n = w->sbytes.len + (size_t)w->nstrs * 2 + w->trace_ids.len;
    for (int i = 0; i < NCOLS; i++)
        n += w->col[i].len;
    return n;
}

/* intern returns the index of s in the string table (adding it), or -1 when
 * out of memory. */
static int64_t intern(struct spanblock_writer *w, const char *s, size_t n)
{
    uint64_t h = hash_bytes(s, n), *ks;
    uint32_t *vs, *slot = u64map_slot(&w->strmap, h, &vs, &ks);
    if (slot == NULL)
        return -1;
    for (uint32_t i = *slot; i != EMPTY; i = w->snext[i])
        if (w->slen[i] == n && (n == 0 || memcmp(w->sbytes.data + w->soff[i], s, n) == 0))
            return i;
    if (w->nstrs == w->cap_strs) {
        uint32_t nc = w->cap_strs ? w->cap_strs * 2 : 256;
        uint32_t *a = realloc(w->soff, (size_t)nc * sizeof *a);
        if (a == NULL)
            return -1;
        w->soff = a;
        a = realloc(w->slen, (size_t)nc * sizeof *a);
        if (a == NULL)
            return -1;
        w->slen = a;
        a = realloc(w->snext, (size_t)nc * sizeof *a);
        if (a == NULL)
            return -1;
        w->snext = a;
        w->cap_strs = nc;
    }
    uint32_t idx = w->nstrs;
    w->soff[idx] = (uint32_t)w->sbytes.len;
    w->slen[idx] = (uint32_t)n;
    if (n > 0)
        wbuf_put(&w->sbytes, s, n);
    if (w->sbytes.err)
        return -1;
    if (*slot == EMPTY) {
        *ks = h;
        w->strmap.n++;
        w->snext[idx] = EMPTY;
    } else {
        w->snext[idx] = *slot;
    }
    *slot = idx;
    w->nstrs++;
    return idx;
}

static int add_item(struct spanblock_writer *w, const char *item, size_t n)
{
    uint64_t h, *ks;
    uint32_t *vs, *slot;
    if (n == 0)
        return 0;
    h = hash_bytes(item, n);
    slot = u64map_slot(&w->bloom_items, h, &vs, &ks);
    if (slot == NULL)
        return TT_ENOMEM;
    if (*slot != EMPTY)
        return 0;
    *ks = h;
    *slot = 1;
    w->bloom_items.n++;
    if (w->nitems == w->cap_items) {
        uint32_t nc = w->cap_items ? w->cap_items * 2 : 256;
        uint64_t *a = realloc(w->items, (size_t)nc * sizeof *a);
        if (a == NULL)
            return TT_ENOMEM;
        w->items = a;
        w->cap_items = nc;
    }
    w->items[w->nitems++] = h;
    return 0;
}

static size_t bloom_item(char *out, size_t outlen, char tag, const char *a, size_t an, char sep,
                         const char *b, size_t bn, int with_b)
{
    size_t n = 1 + an + (with_b ? 1 + bn : 0);
    if (n > outlen)
        return 0;
    out[0] = tag;
    if (an)
        memcpy(out + 1, a, an);
    if (with_b) {
        out[1 + an] = sep;
        if (bn)
            memcpy(out + 2 + an, b, bn);
    }
    return n;
}

size_t spanblock_bloom_service(char *out, size_t outlen, const char *svc, size_t n)
{
    return bloom_item(out, outlen, 's', svc, n, 0, NULL, 0, 0);
}

size_t spanblock_bloom_op(char *out, size_t outlen, const char *svc, size_t sn, const char *op,
                          size_t on)
{
    return bloom_item(out, outlen, 'o', svc, sn, '\0', op, on, 1);
}

size_t spanblock_bloom_tag(char *out, size_t outlen, const char *key, size_t kn, const char *val,
                           size_t vn)
{
    return bloom_item(out, outlen, 't', key, kn, '=', val, vn, 1);
}

size_t spanblock_value_text(const struct rec_value *v, char *out, size_t outlen)
{
    int n = 0;
    if (outlen == 0)
        return 0;
    switch (v->type) {
    case TT_VAL_STR: {
        size_t k = v->u.s.len < outlen - 1 ? v->u.s.len : outlen - 1;
        if (k)
            memcpy(out, v->u.s.p, k);
        out[k] = '\0';
        return k;
    }
    case TT_VAL_INT: {
        /* by hand: snprintf was a few % of indexing (a bloom item per
         * integer attribute); the same text */
        char t[24];
        size_t k = sizeof t;
        uint64_t u = v->u.i < 0 ? 0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
        do {
            t[--k] = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (v->u.i < 0)
            t[--k] = '-';
        n = (int)(sizeof t - k);
        if ((size_t)n >= outlen)
            n = (int)outlen - 1;
        memcpy(out, t + k, (size_t)n);
        out[n] = '\0';
        return (size_t)n;
    }
    case TT_VAL_DOUBLE:
        n = snprintf(out, outlen, "%.15g", v->u.d);
        if (n > 0 && (size_t)n < outlen && strtod(out, NULL) != v->u.d)
            n = snprintf(out, outlen, "%.17g", v->u.d);
        break;
    case TT_VAL_BOOL:
        n = snprintf(out, outlen, "%s", v->u.b ? "true" : "false");
        break;
    default:
        out[0] = '\0';
        return 0;
    }
    if (n < 0)
        n = 0;
    return (size_t)n < outlen ? (size_t)n : outlen - 1;
}

/* seen notes that the reader has met string index i. */
static void seen(struct spanblock_writer *w, int64_t i)
{
    if (i > w->max_seen)
        w->max_seen = i;
}

/* put_ref writes a reference to a string in a column read once per span:
 * 0 for "the string after the highest index met so far" (a string's first
 * use, which costs a constant byte instead of a random index), else the
 * index + 1. */
static int put_ref(struct spanblock_writer *w, struct wbuf *col, struct rec_str s)
{
    int64_t i = intern(w, s.p, s.len);
    if (i < 0)
        return TT_ENOMEM;
    wbuf_put_uvarint(col, i == w->max_seen + 1 ? 0 : (uint64_t)i + 1);
    seen(w, i);
    return 0;
}

static void put_list(struct wbuf *col, const struct rec_list *l)
{
    wbuf_put_uvarint(col, l->count);
    wbuf_put_uvarint(col, l->len);
    if (l->len)
        wbuf_put(col, l->bytes, l->len);
}

/* floor_ms: ns to whole ms, rounding down (also before 1970). */
static int64_t floor_ms(int64_t ns)
{
    int64_t q = ns / 1000000;
    return ns % 1000000 < 0 ? q - 1 : q;
}

/* put_hlc writes the span's start HLC relative to its start time: one
 * uvarint, 0 when unknown, else 1 + (zigzag(l - start_ms) << 4 | min(c, 15)),
 * and when c >= 15 a second uvarint c - 15. The HLC's ms are the start's ms
 * or a few more, and c is small, so a span costs one byte of few values. */
static void put_hlc(struct wbuf *col, int64_t start_ns, uint64_t hlc)
{
    if (hlc == 0) {
        wbuf_put_uvarint(col, 0);
        return;
    }
    int64_t d = (int64_t)hlc_l(hlc) - floor_ms(start_ns);
    uint64_t zz = ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
    uint32_t c = hlc_c(hlc), cc = c < 15 ? c : 15;
    wbuf_put_uvarint(col, 1 + (zz << 4 | cc));
    if (cc == 15)
        wbuf_put_uvarint(col, c - 15);
}

int spanblock_add(struct spanblock_writer *w, const struct span_row *s)
{
    char item[1024], txt[512];
    size_t n, need = 64 + s->service.len + s->node.len + s->name.len + s->status_message.len +
                     s->events.len + s->links.len;
    int rc;
    uint64_t h, *ks;
    uint32_t *vs, *slot;

    for (uint32_t i = 0; i < s->nattrs; i++) {
        const struct span_attr *a = &s->attrs[i];
        if (a->v.type > TT_VAL_BOOL)
            return TT_EINVAL;
        need += 16 + a->key.len + (a->v.type == TT_VAL_STR ? a->v.u.s.len : 0);
    }
    if (w->count >= SPANBLOCK_MAX_SPANS || spanblock_raw_bytes(w) + need > SPANBLOCK_MAX_RAW / 2)
        return w->count == 0 ? TT_ETOOBIG : TT_EFULL;

    /* trace index */
    h = hash_bytes(s->trace_id, 16);
    slot = u64map_slot(&w->traces, h, &vs, &ks);
    if (slot == NULL)
        return TT_ENOMEM;
    while (*slot != EMPTY && memcmp(w->trace_ids.data + (size_t)*slot * 16, s->trace_id, 16) != 0) {
        /* a 64-bit hash collision: probe on with a changed key */
        h = mix64(h + 1);
        slot = u64map_slot(&w->traces, h, &vs, &ks);
        if (slot == NULL)
            return TT_ENOMEM;
    }
    if (*slot == EMPTY) {
        *ks = h;
        *slot = w->ntraces++;
        w->traces.n++;
        wbuf_put(&w->trace_ids, s->trace_id, 16);
    }
    wbuf_put_uvarint(&w->col[0], *slot);

    /* span id, and parent: 0 root, 1 raw id follows, 2 + k the row k
     * before this one (a parent stored earlier in the same block) */
    wbuf_put_u64(&w->col[1], s->span_id);
    uint32_t prow = s->parent_id != 0 ? u64map_find(&w->ids, s->parent_id) : EMPTY;
    if (s->parent_id == 0) {
        wbuf_put_uvarint(&w->col[2], 0);
    } else if (prow != EMPTY) {
        wbuf_put_uvarint(&w->col[2], 2 + (uint64_t)(w->count - 1 - prow));
    } else {
        wbuf_put_uvarint(&w->col[2], 1);
        wbuf_put_u64(&w->col[2], s->parent_id);
    }
    slot = u64map_slot(&w->ids, s->span_id, &vs, &ks);
    if (slot == NULL)
        return TT_ENOMEM;
    if (*slot == EMPTY) {
        *ks = s->span_id;
        w->ids.n++;
    }
    *slot = w->count; /* the latest row with this id */

    wbuf_put_svarint(&w->col[3], (int64_t)((uint64_t)s->start_ns - (uint64_t)w->prev_start));
    w->prev_start = s->start_ns;
    wbuf_put_uvarint(&w->col[4], s->duration_ns);
    put_hlc(&w->col[HLC_COL], s->start_ns, s->hlc);

    /* kind and status share a byte (status << 5 | kind) while they are
     * small, as they always are; 0xff escapes to one byte each */
    if (s->kind < 31 && s->status < 7) {
        wbuf_put_u8(&w->col[5], (uint8_t)(s->status << 5 | s->kind));
    } else {
        wbuf_put_u8(&w->col[5], 0xff);
        wbuf_put_u8(&w->col[5], s->kind);
        wbuf_put_u8(&w->col[5], s->status);
    }
    wbuf_put_u8(&w->col[5], s->flags);
    if ((rc = put_ref(w, &w->col[5], s->service)) != 0 ||
        (rc = put_ref(w, &w->col[5], s->node)) != 0 ||
        (rc = put_ref(w, &w->col[5], s->name)) != 0 ||
        (rc = put_ref(w, &w->col[5], s->status_message)) != 0)
        return rc;

    /* the attributes' shape (key indexes and types) is one interned string,
     * so a span with the usual keys costs one index; the values follow */
    wbuf_reset(&w->shape);
    int64_t max_key = -1;
    for (uint32_t i = 0; i < s->nattrs; i++) {
        int64_t k = intern(w, s->attrs[i].key.p, s->attrs[i].key.len);
        if (k < 0)
            return TT_ENOMEM;
        wbuf_put_uvarint(&w->shape, (uint64_t)k);
        wbuf_put_u8(&w->shape, s->attrs[i].v.type);
        if (k > max_key)
            max_key = k;
    }
    if (w->shape.err)
        return w->shape.err;
    struct rec_str shape = { (const char *)w->shape.data, (uint32_t)w->shape.len };
    if ((rc = put_ref(w, &w->col[6], shape)) != 0)
        return rc;
    /* the reader meets the keys when it parses the shape, after its index
     * (seen keeps the highest index only: the keys' highest will do) */
    seen(w, max_key);
    for (uint32_t i = 0; i < s->nattrs; i++) {
        const struct span_attr *a = &s->attrs[i];
        switch (a->v.type) {
        case TT_VAL_STR:
            if ((rc = put_ref(w, &w->col[6], a->v.u.s)) != 0)
                return rc;
            break;
        case TT_VAL_INT:
            wbuf_put_svarint(&w->col[6], a->v.u.i);
            break;
        case TT_VAL_DOUBLE:
            wbuf_put_f64(&w->col[6], a->v.u.d);
            break;
        case TT_VAL_BOOL:
            wbuf_put_u8(&w->col[6], a->v.u.b ? 1 : 0);
            break;
        default:
            break;
        }
        if (a->v.type != TT_VAL_NONE && a->v.type != TT_VAL_DOUBLE) {
            size_t tn = spanblock_value_text(&a->v, txt, sizeof txt);
            n = spanblock_bloom_tag(item, sizeof item, a->key.p, a->key.len, txt, tn);
            if ((rc = add_item(w, item, n)) != 0)
                return rc;
        }
    }
    put_list(&w->col[6], &s->events);
    put_list(&w->col[6], &s->links);

    n = spanblock_bloom_service(item, sizeof item, s->service.p, s->service.len);
    if ((rc = add_item(w, item, n)) != 0)
        return rc;
    n = spanblock_bloom_op(item, sizeof item, s->service.p, s->service.len, s->name.p, s->name.len);
    if ((rc = add_item(w, item, n)) != 0)
        return rc;

    for (int i = 0; i < NCOLS; i++)
        if (w->col[i].err)
            return w->col[i].err;
    if (w->trace_ids.err)
        return w->trace_ids.err;
    if (w->count == 0 || s->start_ns < w->min_start)
        w->min_start = s->start_ns;
    if (w->count == 0 || s->start_ns > w->max_start)
        w->max_start = s->start_ns;
    if (s->duration_ns > w->max_dur)
        w->max_dur = s->duration_ns;
    w->count++;
    return 0;
}

static void bloom_set(uint8_t *bloom, uint32_t bytes, uint64_t h)
{
    uint64_t h2 = mix64(h) | 1;
    uint64_t nbits = (uint64_t)bytes * 8;
    for (int i = 0; i < 4; i++) {
        uint32_t bit = (uint32_t)((h + (uint64_t)i * h2) % nbits);
        bloom[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
}

int spanblock_bloom_may_contain(const struct spanblock_hdr *h, const void *item, size_t len)
{
    if (h->bloom_bytes == 0)
        return 1;
    uint64_t x = hash_bytes(item, len), h2 = mix64(x) | 1;
    uint64_t nbits = (uint64_t)h->bloom_bytes * 8;
    for (int i = 0; i < 4; i++) {
        uint32_t bit = (uint32_t)((x + (uint64_t)i * h2) % nbits);
        if (!(h->bloom[bit >> 3] & (1u << (bit & 7))))
            return 0;
    }
    return 1;
}

int spanblock_finish(struct spanblock_writer *w, struct wbuf *out, int level)
{
    struct wbuf raw;
    size_t start = out->len, lens[NSTREAMS];
    uint32_t bloom_bytes = 64;
    int rc = 0;
    uint8_t *bloom = NULL;

    if (w->count == 0)
        return TT_ESTATE;
    /* 10 bits per distinct item (about 1 % false positives with k = 4),
     * in 64-byte steps */
    uint64_t want = ((uint64_t)w->nitems * 10 + 7) / 8;
    if (want > bloom_bytes)
        bloom_bytes =
            want >= SPANBLOCK_MAX_BLOOM ? SPANBLOCK_MAX_BLOOM : (uint32_t)(want + 63) / 64 * 64;
    bloom = calloc(1, bloom_bytes);
    if (bloom == NULL)
        return TT_ENOMEM;
    for (uint32_t i = 0; i < w->nitems; i++)
        bloom_set(bloom, bloom_bytes, w->items[i]);

    /* the raw body: stream lengths, then the string table and the columns */
    wbuf_init(&raw, 0);
    for (int i = 0; i < NSTREAMS; i++)
        wbuf_put_u32(&raw, 0);
    wbuf_put_uvarint(&raw, w->nstrs);
    for (uint32_t i = 0; i < w->nstrs; i++)
        wbuf_put_str(&raw, (const char *)w->sbytes.data + w->soff[i], w->slen[i]);
    lens[0] = raw.len - NSTREAMS * 4;
    for (int i = 0; i < NCOLS; i++) {
        lens[i + 1] = w->col[i].len;
        if (w->col[i].len)
            wbuf_put(&raw, w->col[i].data, w->col[i].len);
    }
    if (raw.err) {
        rc = raw.err;
        goto out;
    }
    for (int i = 0; i < NSTREAMS; i++)
        put_le32(raw.data + i * 4, (uint32_t)lens[i]);

    uint32_t hdr_len = SPANBLOCK_FIXED_LEN + w->ntraces * 16 + bloom_bytes + 4;
    wbuf_put_u32(out, SPANBLOCK_MAGIC);
    wbuf_put_u32(out, hdr_len);
    wbuf_put_u32(out, w->count);
    wbuf_put_u64(out, (uint64_t)w->min_start);
    wbuf_put_u64(out, (uint64_t)w->max_start);
    wbuf_put_u64(out, w->max_dur);
    size_t comp_at = out->len;
    wbuf_put_u8(out, BATCH_COMP_NONE);
    wbuf_put_u32(out, (uint32_t)raw.len);
    size_t stored_at = out->len;
    wbuf_put_u32(out, 0);
    wbuf_put_u32(out, w->ntraces);
    wbuf_put_u32(out, bloom_bytes);
    wbuf_put(out, w->trace_ids.data, w->trace_ids.len);
    wbuf_put(out, bloom, bloom_bytes);
    size_t crc_at = out->len;
    wbuf_put_u32(out, 0);
    if (out->err) {
        rc = out->err;
        goto out;
    }
    size_t bound = ZSTD_compressBound(raw.len);
    if (wbuf_reserve(out, bound + 4) != 0) {
        rc = out->err;
        goto out;
    }
    size_t zn =
        ZSTD_compress(out->data + out->len, bound, raw.data, raw.len, level > 0 ? level : 3);
    if (ZSTD_isError(zn)) {
        rc = TT_EIO;
        goto out;
    }
    if (zn < raw.len) {
        out->data[comp_at] = BATCH_COMP_ZSTD;
        out->len += zn;
    } else {
        zn = raw.len;
        wbuf_put(out, raw.data, raw.len);
    }
    put_le32(out->data + stored_at, (uint32_t)zn);
    put_le32(out->data + crc_at, crc32c(0, out->data + start, crc_at - start));
    uint32_t bcrc = crc32c(0, out->data + start + hdr_len, zn);
    wbuf_put_u32(out, bcrc);
    rc = out->err;
out:
    if (rc != 0)
        out->len = start;
    else
        writer_reset(w);
    wbuf_release(&raw);
    free(bloom);
    return rc;
}

/* --- reading --------------------------------------------------------------- */

int spanblock_parse_header(const uint8_t *p, size_t avail, struct spanblock_hdr *h, char *err,
                           size_t errlen)
{
    if (avail < 8) {
        if (avail >= 4 && get_le32(p) != SPANBLOCK_MAGIC && get_le32(p) != SPANBLOCK_MAGIC_V1)
            goto bad_magic;
        snprintf(err, errlen, "block header truncated (%zu bytes)", avail);
        return TT_ETRUNC;
    }
    if (get_le32(p) == SPANBLOCK_MAGIC)
        h->version = 2;
    else if (get_le32(p) == SPANBLOCK_MAGIC_V1)
        h->version = 1;
    else
        goto bad_magic;
    uint32_t nstreams = (h->version == 1 ? NCOLS_V1 : NCOLS) + 1;
    h->hdr_len = get_le32(p + 4);
    if (h->hdr_len < SPANBLOCK_FIXED_LEN + 4 ||
        h->hdr_len > SPANBLOCK_FIXED_LEN + 4 + 16u * SPANBLOCK_MAX_SPANS + SPANBLOCK_MAX_BLOOM) {
        snprintf(err, errlen, "block header length %u impossible", h->hdr_len);
        return TT_ECORRUPT;
    }
    if (avail < h->hdr_len) {
        snprintf(err, errlen, "block header truncated (%zu of %u bytes)", avail, h->hdr_len);
        return TT_ETRUNC;
    }
    if (crc32c(0, p, h->hdr_len - 4) != get_le32(p + h->hdr_len - 4)) {
        snprintf(err, errlen, "block header CRC mismatch");
        return TT_ECORRUPT;
    }
    h->count = get_le32(p + 8);
    h->min_start_ns = (int64_t)get_le64(p + 12);
    h->max_start_ns = (int64_t)get_le64(p + 20);
    h->max_duration_ns = get_le64(p + 28);
    h->comp = p[36];
    h->raw_len = get_le32(p + 37);
    h->stored_len = get_le32(p + 41);
    h->ntraces = get_le32(p + 45);
    h->bloom_bytes = get_le32(p + 49);
    if (h->count == 0 || h->count > SPANBLOCK_MAX_SPANS || h->ntraces == 0 ||
        h->ntraces > h->count || (h->comp != BATCH_COMP_NONE && h->comp != BATCH_COMP_ZSTD) ||
        h->raw_len > SPANBLOCK_MAX_RAW || h->raw_len < nstreams * 4 ||
        h->stored_len > SPANBLOCK_MAX_RAW ||
        (h->comp == BATCH_COMP_NONE && h->stored_len != h->raw_len) ||
        h->bloom_bytes > SPANBLOCK_MAX_BLOOM || h->bloom_bytes % 64 != 0 ||
        (uint64_t)SPANBLOCK_FIXED_LEN + 16ull * h->ntraces + h->bloom_bytes + 4 != h->hdr_len ||
        h->min_start_ns > h->max_start_ns) {
        snprintf(err, errlen, "block header fields impossible (count %u, traces %u, bloom %u)",
                 h->count, h->ntraces, h->bloom_bytes);
        return TT_ECORRUPT;
    }
    h->trace_ids = p + SPANBLOCK_FIXED_LEN;
    h->bloom = h->trace_ids + (size_t)h->ntraces * 16;
    return 0;
bad_magic:
    snprintf(err, errlen, "bad block magic 0x%08x", get_le32(p));
    return TT_ECORRUPT;
}

void spanblock_reader_init(struct spanblock_reader *r)
{
    memset(r, 0, sizeof *r);
    wbuf_init(&r->raw, SPANBLOCK_MAX_RAW);
}

void spanblock_reader_release(struct spanblock_reader *r)
{
    wbuf_release(&r->raw);
    free(r->strs);
    free(r->attrs);
    free(r->span_ids);
    memset(r, 0, sizeof *r);
}

int spanblock_read(struct spanblock_reader *r, const uint8_t *p, const struct spanblock_hdr *h,
                   char *err, size_t errlen)
{
    const uint8_t *body = p + h->hdr_len;
    struct rbuf sr;
    size_t off;

    r->count = r->next = 0;
    if (crc32c(0, body, h->stored_len) != get_le32(body + h->stored_len)) {
        snprintf(err, errlen, "block body CRC mismatch");
        return TT_ECORRUPT;
    }
    wbuf_reset(&r->raw);
    if (wbuf_reserve(&r->raw, h->raw_len) != 0)
        return TT_ENOMEM;
    if (h->comp == BATCH_COMP_ZSTD) {
        unsigned long long fcs = ZSTD_getFrameContentSize(body, h->stored_len);
        if (fcs != h->raw_len) {
            snprintf(err, errlen, "block body: zstd frame size differs from raw_len %u",
                     h->raw_len);
            return TT_ECORRUPT;
        }
        size_t n = ZSTD_decompress(r->raw.data, h->raw_len, body, h->stored_len);
        if (ZSTD_isError(n) || n != h->raw_len) {
            snprintf(err, errlen, "block body does not decompress");
            return TT_ECORRUPT;
        }
    } else {
        memcpy(r->raw.data, body, h->raw_len);
    }
    r->raw.len = h->raw_len;

    int ncols = h->version == 1 ? NCOLS_V1 : NCOLS, nstreams = ncols + 1;
    off = (size_t)nstreams * 4;
    size_t lens[NSTREAMS];
    for (int i = 0; i < nstreams; i++) {
        lens[i] = get_le32(r->raw.data + i * 4);
        if (lens[i] > h->raw_len - off) {
            snprintf(err, errlen, "block body: stream %d length %zu past the body", i, lens[i]);
            return TT_ECORRUPT;
        }
        off += lens[i];
    }
    if (off != h->raw_len) {
        snprintf(err, errlen, "block body: streams end at %zu, body is %u bytes", off, h->raw_len);
        return TT_ECORRUPT;
    }
    off = (size_t)nstreams * 4;
    rbuf_init(&sr, r->raw.data + off, lens[0]);
    off += lens[0];
    for (int i = 0; i < NCOLS; i++) {
        if (i < ncols) {
            rbuf_init(&r->col[i], r->raw.data + off, lens[i + 1]);
            off += lens[i + 1];
        } else {
            rbuf_init(&r->col[i], r->raw.data + off, 0); /* empty: not in v1 */
        }
    }
    r->ncols = ncols;
    uint64_t ns = rbuf_uvarint(&sr);
    if (sr.err || ns > lens[0]) {
        snprintf(err, errlen, "block body: string table count impossible");
        return TT_ECORRUPT;
    }
    if (ns > r->cap_strs) {
        struct rec_str *a = realloc(r->strs, (size_t)ns * sizeof *a);
        if (a == NULL)
            return TT_ENOMEM;
        r->strs = a;
        r->cap_strs = (uint32_t)ns;
    }
    for (uint64_t i = 0; i < ns; i++) {
        size_t n;
        const char *s = rbuf_str(&sr, &n);
        if (sr.err) {
            snprintf(err, errlen, "block body: string %" PRIu64 " runs past the table", i);
            return TT_ECORRUPT;
        }
        r->strs[i].p = s;
        r->strs[i].len = (uint32_t)n;
    }
    if (rbuf_left(&sr) != 0) {
        snprintf(err, errlen, "block body: bytes after the string table");
        return TT_ECORRUPT;
    }
    r->nstrs = (uint32_t)ns;
    if (h->count > r->cap_ids) {
        uint64_t *a = realloc(r->span_ids, (size_t)h->count * sizeof *a);
        if (a == NULL)
            return TT_ENOMEM;
        r->span_ids = a;
        r->cap_ids = h->count;
    }
    r->trace_ids = h->trace_ids;
    r->ntraces = h->ntraces;
    r->count = h->count;
    r->prev_start = 0;
    r->max_seen = -1;
    return 0;
}

/* get_key reads an absolute string index (inside a shape). */
static int get_key(struct spanblock_reader *r, struct rbuf *c, struct rec_str *out)
{
    uint64_t i = rbuf_uvarint(c);
    if (c->err || i >= r->nstrs)
        return -1;
    if ((int64_t)i > r->max_seen)
        r->max_seen = (int64_t)i;
    *out = r->strs[i];
    return 0;
}

/* get_ref reads a reference written by put_ref. */
static int get_ref(struct spanblock_reader *r, struct rbuf *c, struct rec_str *out)
{
    uint64_t v = rbuf_uvarint(c);
    int64_t i = v == 0 ? r->max_seen + 1 : (int64_t)(v - 1);
    if (c->err || v > r->nstrs || i < 0 || i >= (int64_t)r->nstrs)
        return -1;
    if (i > r->max_seen)
        r->max_seen = i;
    *out = r->strs[i];
    return 0;
}

static int get_list(struct rbuf *c, struct rec_list *l)
{
    uint64_t cnt = rbuf_uvarint(c), len = rbuf_uvarint(c);
    if (c->err || len > rbuf_left(c) || cnt > len)
        return -1;
    l->count = (uint32_t)cnt;
    l->len = (uint32_t)len;
    l->bytes = rbuf_bytes(c, len);
    l->prev = 0;
    return 0;
}

/* get_hlc reads what put_hlc wrote; -1 when it does not parse or names an
 * HLC out of range. */
static int get_hlc(struct rbuf *c, int64_t start_ns, uint64_t *out)
{
    uint64_t v = rbuf_uvarint(c);
    if (c->err)
        return -1;
    if (v == 0) {
        *out = 0;
        return 0;
    }
    uint64_t x = v - 1, zz = x >> 4, cnt = x & 15;
    if (cnt == 15) {
        cnt += rbuf_uvarint(c);
        if (c->err || cnt > HLC_C_MAX)
            return -1;
    }
    if (zz >> 50 != 0) /* |l - start_ms| is below 2^49 */
        return -1;
    int64_t d = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
    int64_t l = floor_ms(start_ns) + d;
    if (l < 0 || (uint64_t)l > HLC_L_MAX)
        return -1;
    *out = hlc_pack((uint64_t)l, (uint32_t)cnt);
    return 0;
}

int spanblock_next(struct spanblock_reader *r, struct span_row *out, char *err, size_t errlen)
{
    uint32_t row = r->next;
    const char *what = NULL;
    if (row >= r->count) {
        for (int i = 0; i < r->ncols; i++)
            if (rbuf_left(&r->col[i]) != 0) {
                snprintf(err, errlen, "block body: bytes left in column %d after %u spans", i,
                         r->count);
                return TT_ECORRUPT;
            }
        return 0;
    }
    memset(out, 0, sizeof *out);
    uint64_t ti = rbuf_uvarint(&r->col[0]);
    if (r->col[0].err || ti >= r->ntraces) {
        what = "trace index";
        goto bad;
    }
    memcpy(out->trace_id, r->trace_ids + ti * 16, 16);
    out->span_id = rbuf_u64(&r->col[1]);
    if (r->col[1].err) {
        what = "span id";
        goto bad;
    }
    r->span_ids[row] = out->span_id;
    uint64_t pt = rbuf_uvarint(&r->col[2]);
    if (pt == 1)
        out->parent_id = rbuf_u64(&r->col[2]);
    else if (pt >= 2) {
        if (pt - 2 >= row) {
            what = "parent reference";
            goto bad;
        }
        out->parent_id = r->span_ids[row - 1 - (pt - 2)];
    }
    if (r->col[2].err) {
        what = "parent";
        goto bad;
    }
    int64_t d = rbuf_svarint(&r->col[3]);
    out->start_ns = (int64_t)((uint64_t)r->prev_start + (uint64_t)d);
    r->prev_start = out->start_ns;
    out->duration_ns = rbuf_uvarint(&r->col[4]);
    if (r->col[3].err || r->col[4].err) {
        what = "start or duration";
        goto bad;
    }
    if (r->ncols > HLC_COL && get_hlc(&r->col[HLC_COL], out->start_ns, &out->hlc) != 0) {
        what = "hlc";
        goto bad;
    }
    if (r->ncols == NCOLS_V1) {
        out->kind = rbuf_u8(&r->col[5]);
        out->status = rbuf_u8(&r->col[5]);
    } else {
        uint8_t ks = rbuf_u8(&r->col[5]);
        if (ks == 0xff) {
            out->kind = rbuf_u8(&r->col[5]);
            out->status = rbuf_u8(&r->col[5]);
        } else {
            out->kind = ks & 0x1f;
            out->status = (uint8_t)(ks >> 5);
        }
    }
    out->flags = rbuf_u8(&r->col[5]);
    if (get_ref(r, &r->col[5], &out->service) || get_ref(r, &r->col[5], &out->node) ||
        get_ref(r, &r->col[5], &out->name) || get_ref(r, &r->col[5], &out->status_message)) {
        what = "names";
        goto bad;
    }
    struct rbuf *c = &r->col[6];
    struct rec_str shape;
    struct rbuf sh;
    if (get_ref(r, c, &shape)) {
        what = "attribute shape";
        goto bad;
    }
    rbuf_init(&sh, shape.p, shape.len);
    uint64_t na = 0;
    while (rbuf_left(&sh) > 0) {
        if (na == r->cap_attrs) {
            uint32_t nc = r->cap_attrs ? r->cap_attrs * 2 : 16;
            struct span_attr *a = realloc(r->attrs, (size_t)nc * sizeof *a);
            if (a == NULL)
                return TT_ENOMEM;
            r->attrs = a;
            r->cap_attrs = nc;
        }
        struct span_attr *a = &r->attrs[na];
        memset(a, 0, sizeof *a);
        if (get_key(r, &sh, &a->key)) {
            what = "attribute key";
            goto bad;
        }
        a->v.type = rbuf_u8(&sh);
        if (sh.err || a->v.type > TT_VAL_BOOL) {
            what = "attribute type";
            goto bad;
        }
        na++;
    }
    for (uint64_t i = 0; i < na; i++) {
        struct span_attr *a = &r->attrs[i];
        switch (a->v.type) {
        case TT_VAL_STR:
            if (get_ref(r, c, &a->v.u.s)) {
                what = "attribute value";
                goto bad;
            }
            break;
        case TT_VAL_INT:
            a->v.u.i = rbuf_svarint(c);
            break;
        case TT_VAL_DOUBLE:
            a->v.u.d = rbuf_f64(c);
            break;
        case TT_VAL_BOOL:
            a->v.u.b = rbuf_u8(c) != 0;
            break;
        default:
            break;
        }
        if (c->err) {
            what = "attribute value";
            goto bad;
        }
    }
    out->nattrs = (uint32_t)na;
    out->attrs = r->attrs;
    if (get_list(c, &out->events) || get_list(c, &out->links)) {
        what = "events or links";
        goto bad;
    }
    r->next++;
    return 1;
bad:
    snprintf(err, errlen, "block body: span %u: bad %s", row, what);
    return TT_ECORRUPT;
}
