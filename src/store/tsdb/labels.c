/*
 * labels.c - label sets (sorting, comparing, hashing, printing) and the
 * symbol table that interns their strings.
 *
 * Symbol table invariants: ids are dense, 0..nsyms-1, in order of first
 * intern; syms[id].p points into an arena block and never moves; the hash
 * table holds id + 1 of every symbol (0 = empty slot) at a load of at most
 * 1/2, with linear probing; each string is stored NUL-terminated.
 */
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "store/tsdb/labels.h"

#define ARENA_BLOCK (64u * 1024u)
#define SYMS_MIN    64u
#define TAB_MIN     128u

struct sym {
    const char *p;
    uint32_t len;
    uint32_t hash; /* low 32 bits of labels_hash_bytes */
};

/* ---- label sets ----------------------------------------------------------- */

void labels_init(struct labels *ls)
{
    ls->v = NULL;
    ls->n = 0;
    ls->cap = 0;
}

void labels_release(struct labels *ls)
{
    free(ls->v);
    labels_init(ls);
}

void labels_reset(struct labels *ls)
{
    ls->n = 0;
}

int labels_push(struct labels *ls, const char *name, const char *value)
{
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 8;
        struct label *v = realloc(ls->v, cap * sizeof *v);
        if (v == NULL)
            return TT_ENOMEM;
        ls->v = v;
        ls->cap = cap;
    }
    ls->v[ls->n].name = name;
    ls->v[ls->n].value = value;
    ls->n++;
    return 0;
}

int labels_normalize(struct labels *ls)
{
    /* Insertion sort: label sets are short (tens of pairs), and it is stable. */
    for (size_t i = 1; i < ls->n; i++) {
        struct label x = ls->v[i];
        size_t j = i;
        while (j > 0 && strcmp(ls->v[j - 1].name, x.name) > 0) {
            ls->v[j] = ls->v[j - 1];
            j--;
        }
        ls->v[j] = x;
    }
    size_t w = 0;
    for (size_t i = 0; i < ls->n; i++) {
        if (ls->v[i].name[0] == 0)
            return TT_EINVAL;
        if (i > 0 && strcmp(ls->v[i - 1].name, ls->v[i].name) == 0)
            return TT_EINVAL;
        if (ls->v[i].value[0] == 0)
            continue;
        ls->v[w++] = ls->v[i];
    }
    ls->n = w;
    return 0;
}

int labels_is_normalized(const struct labels *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        if (ls->v[i].name[0] == 0 || ls->v[i].value[0] == 0)
            return 0;
        if (i > 0 && strcmp(ls->v[i - 1].name, ls->v[i].name) >= 0)
            return 0;
    }
    return 1;
}

const char *labels_get(const struct labels *ls, const char *name)
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

int labels_cmp(const struct labels *a, const struct labels *b)
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
    return a->n < b->n ? -1 : a->n > b->n;
}

int labels_equal(const struct labels *a, const struct labels *b)
{
    return a->n == b->n && labels_cmp(a, b) == 0;
}

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* fmix64: the final avalanche step (every input bit affects every output bit). */
static inline uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* hash_step folds one string, its length included, into the running state h
 * (no final mixing: labels_hash mixes once after all its strings). */
static inline uint64_t hash_step(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    h ^= (n + 1) * 0x9e3779b97f4a7c15ull;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = rotl64(h ^ (w * 0x87c37b91114253d5ull), 31) * 0x4cf5ad432745937full;
        s += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = rotl64(h ^ (w * 0x87c37b91114253d5ull), 31) * 0x4cf5ad432745937full;
    }
    return h;
}

uint64_t labels_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    return fmix64(hash_step(seed, p, n));
}

uint64_t labels_hash(const struct labels *ls, uint64_t seed)
{
    /* Every string's length goes into the state before its bytes, which keeps
     * {a="bc"} apart from {ab="c"}. */
    uint64_t h = seed ^ ls->n;
    for (size_t i = 0; i < ls->n; i++) {
        h = hash_step(h, ls->v[i].name, strlen(ls->v[i].name));
        h = hash_step(h, ls->v[i].value, strlen(ls->v[i].value));
    }
    return fmix64(h);
}

static int is_legacy_name(const char *s, int colon)
{
    if (*s == 0)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static void put_quoted(struct wbuf *out, const char *s)
{
    wbuf_put_u8(out, '"');
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '"')
            esc = "\\\"";
        else if (*p == '\n')
            esc = "\\n";
        if (esc) {
            wbuf_put(out, run, (size_t)(p - run));
            wbuf_put(out, esc, 2);
            run = p + 1;
        }
    }
    wbuf_put(out, run, strlen(run));
    wbuf_put_u8(out, '"');
}

static void put_pair(struct wbuf *out, const struct label *l)
{
    if (is_legacy_name(l->name, 0))
        wbuf_put(out, l->name, strlen(l->name));
    else
        put_quoted(out, l->name);
    wbuf_put_u8(out, '=');
    put_quoted(out, l->value);
}

void labels_format(const struct labels *ls, struct wbuf *out)
{
    wbuf_put_u8(out, '{');
    for (size_t i = 0; i < ls->n; i++) {
        if (i > 0)
            wbuf_put_u8(out, ',');
        put_pair(out, &ls->v[i]);
    }
    wbuf_put_u8(out, '}');
}

void labels_format_metric(const struct labels *ls, struct wbuf *out)
{
    const char *name = labels_get(ls, LABELS_METRIC_NAME);
    if (name == NULL) {
        labels_format(ls, out);
        return;
    }
    int legacy = is_legacy_name(name, 1);
    if (legacy) {
        wbuf_put(out, name, strlen(name));
        if (ls->n == 1)
            return;
    }
    wbuf_put_u8(out, '{');
    int first = 1;
    if (!legacy) {
        put_quoted(out, name);
        first = 0;
    }
    for (size_t i = 0; i < ls->n; i++) {
        if (ls->v[i].value == name && strcmp(ls->v[i].name, LABELS_METRIC_NAME) == 0)
            continue;
        if (!first)
            wbuf_put_u8(out, ',');
        first = 0;
        put_pair(out, &ls->v[i]);
    }
    wbuf_put_u8(out, '}');
}

/* ---- symbol table --------------------------------------------------------- */

void symtab_init(struct symtab *st, uint64_t seed)
{
    memset(st, 0, sizeof *st);
    st->seed = seed;
}

void symtab_release(struct symtab *st)
{
    for (size_t i = 0; i < st->nblocks; i++)
        free(st->blocks[i]);
    free(st->blocks);
    free(st->syms);
    free(st->table);
    symtab_init(st, st->seed);
}

static int sym_eq(const struct sym *y, const char *s, size_t n, uint32_t h)
{
    return y->hash == h && y->len == n && memcmp(y->p, s, n) == 0;
}

int symtab_find(const struct symtab *st, const char *s, size_t n, uint32_t *id)
{
    if (st->tabcap == 0)
        return TT_ENOTFOUND;
    uint32_t h = (uint32_t)labels_hash_bytes(s, n, st->seed);
    uint32_t mask = st->tabcap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t v = st->table[i];
        if (v == 0)
            return TT_ENOTFOUND;
        if (sym_eq(&st->syms[v - 1], s, n, h)) {
            *id = v - 1;
            return 0;
        }
    }
}

static int rehash(struct symtab *st, uint32_t cap)
{
    uint32_t *t = calloc(cap, sizeof *t);
    if (t == NULL)
        return TT_ENOMEM;
    uint32_t mask = cap - 1;
    for (uint32_t id = 0; id < st->nsyms; id++) {
        uint32_t i = st->syms[id].hash & mask;
        while (t[i] != 0)
            i = (i + 1) & mask;
        t[i] = id + 1;
    }
    free(st->table);
    st->table = t;
    st->tabcap = cap;
    return 0;
}

/* arena_copy copies s[0..n) and a NUL into the arena. */
static const char *arena_copy(struct symtab *st, const char *s, size_t n)
{
    size_t need = n + 1;
    if (st->nblocks == 0 || st->block_size - st->block_used < need) {
        if (st->nblocks == st->capblocks) {
            size_t cap = st->capblocks ? st->capblocks * 2 : 16;
            char **b = realloc(st->blocks, cap * sizeof *b);
            if (b == NULL)
                return NULL;
            st->blocks = b;
            st->capblocks = cap;
        }
        /* A long string gets a block of its own size; the current block stays
         * current when it still has room, so little arena space is wasted. */
        size_t size = need > ARENA_BLOCK / 4 ? need : ARENA_BLOCK;
        char *blk = malloc(size);
        if (blk == NULL)
            return NULL;
        st->arena_bytes += size;
        if (size != ARENA_BLOCK && st->nblocks > 0) {
            /* keep the last block current: insert before it */
            st->blocks[st->nblocks] = st->blocks[st->nblocks - 1];
            st->blocks[st->nblocks - 1] = blk;
            st->nblocks++;
            memcpy(blk, s, n);
            blk[n] = 0;
            return blk;
        }
        st->blocks[st->nblocks++] = blk;
        st->block_size = size;
        st->block_used = 0;
    }
    char *p = st->blocks[st->nblocks - 1] + st->block_used;
    memcpy(p, s, n);
    p[n] = 0;
    st->block_used += need;
    return p;
}

int symtab_intern(struct symtab *st, const char *s, size_t n, uint32_t *id)
{
    if (n > LABELS_STR_MAX)
        return TT_ETOOBIG;
    if (memchr(s, 0, n) != NULL)
        return TT_EINVAL;
    if (symtab_find(st, s, n, id) == 0)
        return 0;
    if (st->nsyms >= UINT32_MAX - 2)
        return TT_EFULL;
    if ((uint64_t)(st->nsyms + 1) * 2 > st->tabcap) {
        int rc = rehash(st, st->tabcap ? st->tabcap * 2 : TAB_MIN);
        if (rc)
            return rc;
    }
    if (st->nsyms == st->capsyms) {
        uint32_t cap = st->capsyms ? st->capsyms + st->capsyms / 2 : SYMS_MIN;
        struct sym *y = realloc(st->syms, (size_t)cap * sizeof *y);
        if (y == NULL)
            return TT_ENOMEM;
        st->syms = y;
        st->capsyms = cap;
    }
    const char *p = arena_copy(st, s, n);
    if (p == NULL)
        return TT_ENOMEM;
    uint32_t h = (uint32_t)labels_hash_bytes(s, n, st->seed);
    uint32_t nid = st->nsyms++;
    st->syms[nid].p = p;
    st->syms[nid].len = (uint32_t)n;
    st->syms[nid].hash = h;
    uint32_t mask = st->tabcap - 1;
    uint32_t i = h & mask;
    while (st->table[i] != 0)
        i = (i + 1) & mask;
    st->table[i] = nid + 1;
    *id = nid;
    return 0;
}

const char *symtab_str(const struct symtab *st, uint32_t id)
{
    return st->syms[id].p;
}

size_t symtab_len(const struct symtab *st, uint32_t id)
{
    return st->syms[id].len;
}

size_t symtab_bytes(const struct symtab *st)
{
    return st->arena_bytes + (size_t)st->capsyms * sizeof(struct sym) +
           (size_t)st->tabcap * sizeof(uint32_t) + st->capblocks * sizeof(char *);
}
