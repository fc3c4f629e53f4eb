/*
 * metrics.c - libtelltale's metric registry, per-thread cells and flush.
 *
 * Handles: one struct handle per (name, sorted labels), found through two
 * open-addressing hash tables (by full key for deduplication, by name for
 * kind clashes), created under m->lock and never freed before
 * metrics_release. A counter or histogram handle owns one cell index; every
 * thread has its own cell at that index (struct metrics_thread pages).
 *
 * Cells: a counter's cell holds the bits of a double, the thread's running
 * total. A histogram's cell holds a pointer to the thread's struct hblock
 * (sum, min, max, zero-bucket count, and a directory of per-power-of-two
 * chunks of 2^p bucket counts, each chunk allocated the first time the
 * thread observes a value in that power of two). A gauge has no cell: it is
 * one shared atomic double in the handle.
 *
 * Concurrency invariants:
 *  - Only the owning thread writes its cells, blocks and chunks, with relaxed
 *    atomic load + store (no read-modify-write, no lock): values are never
 *    torn, and the flusher reads them with relaxed loads.
 *  - Pages, blocks and chunks are zeroed before their pointer is published
 *    with a release store; readers other than the owner load with acquire.
 *  - The flusher (metrics_flush, metrics_thread_release) and handle creation
 *    run under m->lock, which also guards the retired totals of exited threads.
 */
#include "lib/metrics.h"
#include "core/buf.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "core/loglin.h"
#include "core/record.h"
#include "lib/tt_int.h"

#define NSLOTS       (2 * LOGLIN_BINADES) /* chunk directory: negative then positive */
#define MAX_CELLS    ((uint32_t)METRICS_PAGE_CELLS * METRICS_MAX_PAGES)
#define POS_INF_BITS 0x7ff0000000000000ULL
#define NEG_INF_BITS 0xfff0000000000000ULL

/* One thread's histogram state (also the retired totals of a handle). Slot s
 * < LOGLIN_BINADES holds negative indexes of power of two LOGLIN_BINADES-1-s,
 * slot LOGLIN_BINADES + b positive indexes of power of two b, so walking the
 * slots in order walks the indexes upwards (with the zero bucket between). */
struct hblock {
    _Atomic uint64_t sum;  /* double bits */
    _Atomic uint64_t min;  /* double bits, +inf before the first value */
    _Atomic uint64_t max;  /* double bits, -inf before the first value */
    _Atomic uint64_t zero; /* count of bucket 0 */
    _Atomic(_Atomic uint64_t *) chunk[NSLOTS];
};

struct registry;

struct handle {
    /* hot fields first */
    uint8_t kind; /* enum metrics_kind */
    uint8_t p;    /* histogram precision bits */
    uint32_t cell;
    _Atomic uint64_t gauge; /* double bits */
    struct registry *reg;
    /* under m->lock */
    double retired;           /* counter total of released threads */
    struct hblock *retired_h; /* histogram totals of released threads */
    /* identity */
    char *key; /* name \0 k1 \0 v1 \0 ... (labels sorted by key) */
    size_t key_len;
    size_t name_len;
    uint64_t key_hash, name_hash;
    char *help;
    size_t help_len;
    struct wbuf labels; /* encoded kv list */
    uint32_t nlabels;
};

struct registry {
    struct handle **v; /* creation order */
    size_t n, cap;
    struct handle **by_key, **by_name; /* open addressing, tcap slots each */
    size_t tcap;
    uint32_t next_cell;
    _Atomic uint64_t dropped;
    struct wbuf buckets; /* flush scratch: one histogram's bucket list */
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t ld(_Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void st(_Atomic uint64_t *a, uint64_t v)
{
    atomic_store_explicit(a, v, memory_order_relaxed);
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static struct handle *from_opaque(const void *p)
{
    return (struct handle *)(uintptr_t)p;
}

/* ---- validation ---------------------------------------------------------- */

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Prometheus's name rules: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * without ':'; names starting with "__" are reserved for internal use. */
static int valid_name(const char *s, int colon)
{
    size_t n = strnlen(s, METRICS_NAME_MAX + 1);
    if (n == 0 || n > METRICS_NAME_MAX || (s[0] == '_' && s[1] == '_'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(is_alpha(c) || (colon && c == ':') || (i > 0 && is_digit(c))))
            return 0;
    }
    return 1;
}

/* ---- hash tables ----------------------------------------------------------
 * Two tables of the same capacity (a power of two, at least twice the number
 * of handles): by_key finds a handle by its full key, by_name the first
 * handle of a name. Linear probing; entries are never removed. */

/* probe returns the slot of t holding the handle that matches s (its full
 * key, or with by_name its name), or the empty slot where it would go. */
static struct handle **probe(struct handle **t, size_t cap, const char *s, size_t len,
                             uint64_t hash, int by_name)
{
    for (size_t i = hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
        struct handle *h = t[i];
        if (!h)
            return &t[i];
        if (by_name) {
            if (h->name_hash == hash && h->name_len == len && memcmp(h->key, s, len) == 0)
                return &t[i];
        } else if (h->key_hash == hash && h->key_len == len && memcmp(h->key, s, len) == 0) {
            return &t[i];
        }
    }
}

static void index_handle(struct handle **bk, struct handle **bn, size_t cap, struct handle *h)
{
    *probe(bk, cap, h->key, h->key_len, h->key_hash, 0) = h;
    struct handle **slot = probe(bn, cap, h->key, h->name_len, h->name_hash, 1);
    if (!*slot)
        *slot = h;
}

/* Make room for one more handle in v and both tables. */
static int reserve_one(struct registry *r)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct handle **v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return TT_ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    if ((r->n + 1) * 2 <= r->tcap)
        return 0;
    size_t tcap = r->tcap ? r->tcap * 2 : 32;
    struct handle **bk = calloc(tcap, sizeof *bk);
    struct handle **bn = calloc(tcap, sizeof *bn);
    if (!bk || !bn) {
        free(bk);
        free(bn);
        return TT_ENOMEM;
    }
    for (size_t i = 0; i < r->n; i++)
        index_handle(bk, bn, tcap, r->v[i]);
    free(r->by_key);
    free(r->by_name);
    r->by_key = bk;
    r->by_name = bn;
    r->tcap = tcap;
    return 0;
}

/* ---- histogram blocks ---------------------------------------------------- */

static struct hblock *hblock_new(void)
{
    struct hblock *b = calloc(1, sizeof *b);
    if (b) {
        st(&b->min, POS_INF_BITS);
        st(&b->max, NEG_INF_BITS);
    }
    return b;
}

static void hblock_free(struct hblock *b)
{
    if (!b)
        return;
    for (int s = 0; s < NSLOTS; s++)
        free(atomic_load_explicit(&b->chunk[s], memory_order_acquire));
    free(b);
}

/* Directory slot and offset in the chunk of a non-zero index. */
static int slot_of(int32_t index, int p, uint32_t *sub)
{
    uint32_t a = index > 0 ? (uint32_t)index - 1 : (uint32_t)(-(int64_t)index) - 1;
    int b = (int)(a >> p);
    *sub = a & ((1u << p) - 1);
    return index > 0 ? LOGLIN_BINADES + b : LOGLIN_BINADES - 1 - b;
}

/* Index of entry sub of slot s (the inverse of slot_of). */
static int32_t index_of(int s, uint32_t sub, int p)
{
    if (s >= LOGLIN_BINADES)
        return (int32_t)(((uint32_t)(s - LOGLIN_BINADES) << p) + sub + 1);
    return -(int32_t)(((uint32_t)(LOGLIN_BINADES - 1 - s) << p) + sub + 1);
}

/* The chunk of slot s in a block this thread owns, allocated on first use. */
static _Atomic uint64_t *own_chunk(struct hblock *b, int s, int p)
{
    _Atomic uint64_t *ch = atomic_load_explicit(&b->chunk[s], memory_order_relaxed);
    if (__builtin_expect(ch == NULL, 0)) {
        ch = calloc((size_t)1 << p, sizeof *ch);
        if (ch)
            atomic_store_explicit(&b->chunk[s], ch, memory_order_release);
    }
    return ch;
}

/* Fold src (a released thread's block, no longer written) into dst. Returns 0
 * or TT_ENOMEM (then some counts are lost). */
static int hblock_merge(struct hblock *dst, struct hblock *src, int p)
{
    int rc = 0;
    st(&dst->zero, ld(&dst->zero) + ld(&src->zero));
    st(&dst->sum, f64_bits(f64_from_bits(ld(&dst->sum)) + f64_from_bits(ld(&src->sum))));
    if (f64_from_bits(ld(&src->min)) < f64_from_bits(ld(&dst->min)))
        st(&dst->min, ld(&src->min));
    if (f64_from_bits(ld(&src->max)) > f64_from_bits(ld(&dst->max)))
        st(&dst->max, ld(&src->max));
    for (int s = 0; s < NSLOTS; s++) {
        _Atomic uint64_t *from = atomic_load_explicit(&src->chunk[s], memory_order_acquire);
        if (!from)
            continue;
        _Atomic uint64_t *to = own_chunk(dst, s, p);
        if (!to) {
            rc = TT_ENOMEM;
            continue;
        }
        for (uint32_t k = 0; k < (1u << p); k++)
            st(&to[k], ld(&to[k]) + ld(&from[k]));
    }
    return rc;
}

/* ---- cells --------------------------------------------------------------- */

/* The calling thread's own cell of h, its page allocated on first touch. */
static _Atomic uint64_t *own_cell(struct metrics_thread *mt, const struct handle *h)
{
    uint32_t pi = h->cell / METRICS_PAGE_CELLS;
    _Atomic uint64_t *page = atomic_load_explicit(&mt->pages[pi], memory_order_relaxed);
    if (__builtin_expect(page == NULL, 0)) {
        page = calloc(METRICS_PAGE_CELLS, sizeof *page);
        if (!page)
            return NULL;
        atomic_store_explicit(&mt->pages[pi], page, memory_order_release);
    }
    return &page[h->cell % METRICS_PAGE_CELLS];
}

/* Another thread's cell of h for reading, or NULL if never touched. */
static _Atomic uint64_t *peek_cell(struct metrics_thread *mt, const struct handle *h)
{
    _Atomic uint64_t *page =
        atomic_load_explicit(&mt->pages[h->cell / METRICS_PAGE_CELLS], memory_order_acquire);
    return page ? &page[h->cell % METRICS_PAGE_CELLS] : NULL;
}

static struct hblock *peek_block(struct metrics_thread *mt, const struct handle *h)
{
    _Atomic uint64_t *c = peek_cell(mt, h);
    return c ? (struct hblock *)(uintptr_t)atomic_load_explicit(c, memory_order_acquire) : NULL;
}

static int lost(struct handle *h)
{
    atomic_fetch_add_explicit(&h->reg->dropped, 1, memory_order_relaxed);
    return TT_ENOMEM;
}

/* ---- hot path ------------------------------------------------------------ */

static inline int counter_add(struct metrics_thread *mt, struct handle *h, double v)
{
    if (!h || h->kind != METRICS_COUNTER || !(v >= 0.0 && v <= DBL_MAX))
        return TT_EINVAL;
    _Atomic uint64_t *c = own_cell(mt, h);
    if (__builtin_expect(c == NULL, 0))
        return lost(h);
    st(c, f64_bits(f64_from_bits(ld(c)) + v));
    return 0;
}

static inline int histogram_observe(struct metrics_thread *mt, struct handle *h, double v)
{
    if (!h || h->kind != METRICS_HISTOGRAM || !(v >= -DBL_MAX && v <= DBL_MAX))
        return TT_EINVAL;
    _Atomic uint64_t *c = own_cell(mt, h);
    if (__builtin_expect(c == NULL, 0))
        return lost(h);
    struct hblock *b = (struct hblock *)(uintptr_t)ld(c);
    if (__builtin_expect(b == NULL, 0)) {
        b = hblock_new();
        if (!b)
            return lost(h);
        atomic_store_explicit(c, (uint64_t)(uintptr_t)b, memory_order_release);
    }
    int32_t i = loglin_index(v, h->p);
    _Atomic uint64_t *cnt = &b->zero;
    if (i != 0) {
        uint32_t sub;
        int s = slot_of(i, h->p, &sub);
        _Atomic uint64_t *ch = own_chunk(b, s, h->p);
        if (__builtin_expect(ch == NULL, 0))
            return lost(h);
        cnt = &ch[sub];
    }
    st(cnt, ld(cnt) + 1);
    st(&b->sum, f64_bits(f64_from_bits(ld(&b->sum)) + v));
    if (v < f64_from_bits(ld(&b->min)))
        st(&b->min, f64_bits(v));
    if (v > f64_from_bits(ld(&b->max)))
        st(&b->max, f64_bits(v));
    return 0;
}

int metrics_counter_add_mt(struct metrics_thread *mt, tt_counter *c, double v)
{
    return counter_add(mt, from_opaque(c), v);
}

int metrics_histogram_observe_mt(struct metrics_thread *mt, tt_histogram *h, double v)
{
    return histogram_observe(mt, from_opaque(h), v);
}

/* ---- registry ------------------------------------------------------------ */

int metrics_init(struct metrics *m)
{
    struct registry *r = calloc(1, sizeof *r);
    if (!r)
        return TT_ENOMEM;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(r);
        return TT_ESYS;
    }
    wbuf_init(&r->buckets, 0);
    m->impl = r;
    return 0;
}

static void handle_free(struct handle *h)
{
    if (!h)
        return;
    free(h->key);
    free(h->help);
    wbuf_release(&h->labels);
    hblock_free(h->retired_h);
    free(h);
}

void metrics_release(struct metrics *m)
{
    struct registry *r = m->impl;
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        handle_free(r->v[i]);
    free(r->v);
    free(r->by_key);
    free(r->by_name);
    wbuf_release(&r->buckets);
    free(r);
    m->impl = NULL;
    pthread_mutex_destroy(&m->lock);
}

void metrics_atfork_child(struct metrics *m)
{
    pthread_mutex_init(&m->lock, NULL);
}

uint64_t metrics_dropped(struct metrics *m)
{
    struct registry *r = m->impl;
    return r ? atomic_load_explicit(&r->dropped, memory_order_relaxed) : 0;
}

struct label {
    const char *k, *v;
    size_t klen, vlen;
};

/* Validate labels into ls (sorted by key, no duplicates). Returns the number
 * of pairs or TT_EINVAL. */
static int parse_labels(const char *const *labels, struct label *ls)
{
    int n = 0;
    for (; labels && labels[2 * n]; n++) {
        if (n == METRICS_LABELS_MAX)
            return TT_EINVAL;
        const char *k = labels[2 * n], *v = labels[2 * n + 1];
        if (!v || !valid_name(k, 0))
            return TT_EINVAL;
        struct label l = { k, v, strlen(k), strnlen(v, METRICS_VALUE_MAX + 1) };
        if (l.vlen > METRICS_VALUE_MAX)
            return TT_EINVAL;
        /* Insertion sort: there are at most METRICS_LABELS_MAX. */
        int j = n;
        for (; j > 0; j--) {
            int c = strcmp(ls[j - 1].k, k);
            if (c == 0)
                return TT_EINVAL;
            if (c < 0)
                break;
            ls[j] = ls[j - 1];
        }
        ls[j] = l;
    }
    return n;
}

/* Build a new handle (not yet registered). */
static int handle_build(struct registry *r, enum metrics_kind kind, const char *help, int p,
                        char *key, size_t key_len, size_t name_len, const struct label *ls, int nl,
                        struct handle **out)
{
    struct handle *h = calloc(1, sizeof *h);
    if (!h)
        return TT_ENOMEM;
    h->kind = (uint8_t)kind;
    h->p = (uint8_t)p;
    h->reg = r;
    h->key = key;
    h->key_len = key_len;
    h->name_len = name_len;
    h->key_hash = fnv1a(key, key_len);
    h->name_hash = fnv1a(key, name_len);
    wbuf_init(&h->labels, 0);
    for (int i = 0; i < nl; i++) {
        struct rec_value v = { .type = TT_VAL_STR };
        v.u.s.p = ls[i].v;
        v.u.s.len = (uint32_t)ls[i].vlen;
        rec_kv_put(&h->labels, ls[i].k, ls[i].klen, &v);
    }
    h->nlabels = (uint32_t)nl;
    help = help ? help : "";
    h->help_len = strlen(help);
    h->help = malloc(h->help_len + 1);
    if (h->labels.err || !h->help) {
        h->key = NULL; /* the caller still owns key */
        handle_free(h);
        return TT_ENOMEM;
    }
    memcpy(h->help, help, h->help_len + 1);
    *out = h;
    return 0;
}

int metrics_handle_new(struct metrics *m, enum metrics_kind kind, const char *name,
                       const char *help, const char *const *labels, int precision_bits, void **out)
{
    struct registry *r = m->impl;
    struct label ls[METRICS_LABELS_MAX];
    struct handle *h = NULL;
    char *key = NULL;
    int rc = 0;

    *out = NULL;
    if (!r)
        return TT_ESTATE;
    if (kind < METRICS_COUNTER || kind > METRICS_HISTOGRAM || !name || !valid_name(name, 1))
        return TT_EINVAL;
    int p = 0;
    if (kind == METRICS_HISTOGRAM) {
        p = precision_bits == 0 ? LOGLIN_P_DEFAULT : precision_bits;
        if (p < LOGLIN_P_MIN || p > LOGLIN_P_MAX)
            return TT_EINVAL;
    }
    int nl = parse_labels(labels, ls);
    if (nl < 0)
        return nl;

    size_t name_len = strlen(name), key_len = name_len + 1;
    for (int i = 0; i < nl; i++)
        key_len += ls[i].klen + 1 + ls[i].vlen + 1;
    key = malloc(key_len);
    if (!key)
        return TT_ENOMEM;
    size_t off = 0;
    memcpy(key, name, name_len + 1);
    off = name_len + 1;
    for (int i = 0; i < nl; i++) {
        memcpy(key + off, ls[i].k, ls[i].klen);
        off += ls[i].klen;
        key[off++] = 0;
        memcpy(key + off, ls[i].v, ls[i].vlen);
        off += ls[i].vlen;
        key[off++] = 0;
    }

    pthread_mutex_lock(&m->lock);
    uint64_t key_hash = fnv1a(key, key_len);
    uint64_t name_hash = fnv1a(key, name_len);
    struct handle *same = r->tcap ? *probe(r->by_name, r->tcap, key, name_len, name_hash, 1) : NULL;
    if (same && (same->kind != kind || same->p != p)) {
        rc = TT_EEXIST;
        goto out;
    }
    struct handle *found = r->tcap ? *probe(r->by_key, r->tcap, key, key_len, key_hash, 0) : NULL;
    if (found) {
        *out = found;
        goto out;
    }
    if (kind != METRICS_GAUGE && r->next_cell >= MAX_CELLS) {
        rc = TT_EFULL;
        goto out;
    }
    rc = reserve_one(r);
    if (rc)
        goto out;
    rc = handle_build(r, kind, help, p, key, key_len, name_len, ls, nl, &h);
    if (rc)
        goto out;
    key = NULL; /* owned by h */
    h->cell = kind == METRICS_GAUGE ? UINT32_MAX : r->next_cell++;
    r->v[r->n++] = h;
    index_handle(r->by_key, r->by_name, r->tcap, h);
    *out = h;
out:
    pthread_mutex_unlock(&m->lock);
    free(key);
    if (rc == TT_ENOMEM)
        atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
    return rc;
}

/* ---- threads ------------------------------------------------------------- */

void metrics_thread_init(struct metrics_thread *mt)
{
    for (size_t i = 0; i < METRICS_MAX_PAGES; i++)
        atomic_store_explicit(&mt->pages[i], NULL, memory_order_relaxed);
}

void metrics_thread_release(struct metrics *m, struct metrics_thread *mt)
{
    struct registry *r = m->impl;
    if (r) {
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < r->n; i++) {
            struct handle *h = r->v[i];
            if (h->kind == METRICS_GAUGE)
                continue;
            _Atomic uint64_t *c = peek_cell(mt, h);
            if (!c)
                continue;
            if (h->kind == METRICS_COUNTER) {
                h->retired += f64_from_bits(ld(c));
                continue;
            }
            struct hblock *b = (struct hblock *)(uintptr_t)ld(c);
            if (!b)
                continue;
            if (!h->retired_h)
                h->retired_h = hblock_new();
            if (!h->retired_h || hblock_merge(h->retired_h, b, h->p) != 0)
                atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
            hblock_free(b);
            st(c, 0);
        }
        pthread_mutex_unlock(&m->lock);
    }
    for (size_t i = 0; i < METRICS_MAX_PAGES; i++) {
        _Atomic uint64_t *page = atomic_load_explicit(&mt->pages[i], memory_order_acquire);
        if (page) {
            free(page);
            atomic_store_explicit(&mt->pages[i], NULL, memory_order_relaxed);
        }
    }
}

/* ---- flush --------------------------------------------------------------- */

/* Sum a histogram over the retired block and the threads' blocks into out,
 * building its bucket list in r->buckets. Returns 0 or the buffer's error. */
static int histogram_collect(struct registry *r, struct handle *h, struct tt_thread *const *threads,
                             size_t n, struct rec_metric *out)
{
    const int p = h->p;
    const uint32_t w = 1u << p;
    uint64_t used[(NSLOTS + 63) / 64] = { 0 };
    uint64_t zero = 0, count = 0;
    double sum = 0, min = INFINITY, max = -INFINITY;

    /* Pass 1: scalar fields and which slots any block has. */
    for (size_t j = 0; j <= n; j++) {
        struct hblock *b = j < n ? peek_block(&threads[j]->metrics, h) : h->retired_h;
        if (!b)
            continue;
        zero += ld(&b->zero);
        sum += f64_from_bits(ld(&b->sum));
        double lo = f64_from_bits(ld(&b->min)), hi = f64_from_bits(ld(&b->max));
        min = lo < min ? lo : min;
        max = hi > max ? hi : max;
        for (int s = 0; s < NSLOTS; s++)
            if (atomic_load_explicit(&b->chunk[s], memory_order_acquire))
                used[s / 64] |= 1ULL << (s % 64);
    }

    /* Pass 2: per slot in index order, add up the chunks and emit non-zero
     * buckets (negative slots walk their chunk backwards: ascending index). */
    wbuf_reset(&r->buckets);
    uint32_t nb = 0;
    int32_t prev = 0;
    for (int s = 0; s < NSLOTS; s++) {
        if (s == LOGLIN_BINADES && zero) {
            rec_bucket_put(&r->buckets, prev, 0, zero);
            prev = 0;
            nb++;
            count += zero;
        }
        if (!(used[s / 64] & (1ULL << (s % 64))))
            continue;
        uint64_t acc[1u << LOGLIN_P_MAX];
        memset(acc, 0, w * sizeof acc[0]);
        for (size_t j = 0; j <= n; j++) {
            struct hblock *b = j < n ? peek_block(&threads[j]->metrics, h) : h->retired_h;
            _Atomic uint64_t *ch =
                b ? atomic_load_explicit(&b->chunk[s], memory_order_acquire) : NULL;
            if (!ch)
                continue;
            for (uint32_t k = 0; k < w; k++)
                acc[k] += ld(&ch[k]);
        }
        for (uint32_t t = 0; t < w; t++) {
            uint32_t k = s < LOGLIN_BINADES ? w - 1 - t : t;
            if (!acc[k])
                continue;
            int32_t idx = index_of(s, k, p);
            rec_bucket_put(&r->buckets, prev, idx, acc[k]);
            prev = idx;
            nb++;
            count += acc[k];
        }
    }
    if (r->buckets.err)
        return r->buckets.err;
    /* No values, or a block read before its first value's min/max landed. */
    if (count == 0 || !(min <= max))
        min = max = 0;
    out->precision_bits = (uint8_t)p;
    out->count = count;
    out->sum = count ? sum : 0;
    out->min = min;
    out->max = max;
    out->buckets.count = nb;
    out->buckets.bytes = r->buckets.data;
    out->buckets.len = (uint32_t)r->buckets.len;
    return 0;
}

int metrics_flush(struct metrics *m, struct tt_thread *const *threads, size_t n, struct wbuf *body,
                  tt_hlc hlc, int64_t now_ns)
{
    struct registry *r = m->impl;
    int rc = 0, nrec = 0;

    if (!r)
        return 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < r->n; i++) {
        struct handle *h = r->v[i];
        struct rec_metric rm;
        memset(&rm, 0, sizeof rm);
        rm.kind = h->kind;
        rm.name.p = h->key;
        rm.name.len = (uint32_t)h->name_len;
        rm.help.p = h->help;
        rm.help.len = (uint32_t)h->help_len;
        rm.labels.count = h->nlabels;
        rm.labels.bytes = h->labels.data;
        rm.labels.len = (uint32_t)h->labels.len;
        if (h->kind == METRICS_COUNTER) {
            double v = h->retired;
            for (size_t j = 0; j < n; j++) {
                _Atomic uint64_t *c = peek_cell(&threads[j]->metrics, h);
                if (c)
                    v += f64_from_bits(ld(c));
            }
            rm.value = v;
        } else if (h->kind == METRICS_GAUGE) {
            rm.value = f64_from_bits(ld(&h->gauge));
        } else {
            rc = histogram_collect(r, h, threads, n, &rm);
            if (rc)
                goto out;
        }
        rc = rec_put_metric(body, hlc, now_ns, &rm);
        if (rc)
            goto out;
        nrec++;
    }
out:
    pthread_mutex_unlock(&m->lock);
    return rc ? rc : nrec;
}

/* ---- public API ---------------------------------------------------------- */

static struct tt_ctx *ctx_get(void)
{
    return atomic_load_explicit((_Atomic(struct tt_ctx *) *)&tt__ctx, memory_order_acquire);
}

/* Count a failure of the hot path or of handle creation. */
static void count_failure(int rc)
{
    struct tt_ctx *ctx = ctx_get();
    if (ctx && rc != TT_ENOMEM)
        TT_CSTAT_ADD(ctx, bad_input, 1);
}

static void *handle_new_public(enum metrics_kind kind, const char *name, const char *help,
                               const char *const *labels, int precision_bits)
{
    struct tt_ctx *ctx = ctx_get();
    void *out = NULL;
    if (!ctx)
        return NULL;
    int rc = metrics_handle_new(&ctx->metrics, kind, name, help, labels, precision_bits, &out);
    if (rc)
        count_failure(rc);
    return out;
}

tt_counter *tt_counter_new(const char *name, const char *help, const char *const *labels)
{
    return handle_new_public(METRICS_COUNTER, name, help, labels, 0);
}

void tt_counter_add(tt_counter *c, double v)
{
    if (!c)
        return;
    struct tt_thread *t = tt_thread_get();
    if (!t)
        return;
    int rc = counter_add(&t->metrics, from_opaque(c), v);
    if (__builtin_expect(rc != 0, 0))
        count_failure(rc);
}

void tt_counter_inc(tt_counter *c)
{
    tt_counter_add(c, 1.0);
}

tt_gauge *tt_gauge_new(const char *name, const char *help, const char *const *labels)
{
    return handle_new_public(METRICS_GAUGE, name, help, labels, 0);
}

void tt_gauge_set(tt_gauge *g, double v)
{
    struct handle *h = from_opaque(g);
    if (!h)
        return;
    if (h->kind != METRICS_GAUGE) {
        count_failure(TT_EINVAL);
        return;
    }
    atomic_store_explicit(&h->gauge, f64_bits(v), memory_order_relaxed);
}

void tt_gauge_add(tt_gauge *g, double v)
{
    struct handle *h = from_opaque(g);
    if (!h)
        return;
    if (h->kind != METRICS_GAUGE) {
        count_failure(TT_EINVAL);
        return;
    }
    uint64_t old = ld(&h->gauge);
    while (!atomic_compare_exchange_weak_explicit(&h->gauge, &old, f64_bits(f64_from_bits(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

tt_histogram *tt_histogram_new(const char *name, const char *help, const char *const *labels,
                               int precision_bits)
{
    return handle_new_public(METRICS_HISTOGRAM, name, help, labels, precision_bits);
}

void tt_histogram_observe(tt_histogram *hg, double v)
{
    if (!hg)
        return;
    struct tt_thread *t = tt_thread_get();
    if (!t)
        return;
    int rc = histogram_observe(&t->metrics, from_opaque(hg), v);
    if (__builtin_expect(rc != 0, 0))
        count_failure(rc);
}
