/*
 * index.c - the head's series index (see index.h for the contract).
 *
 * Layout. A series is a record in the label pool: [n, hash_lo, hash_hi,
 * pair_0, ..., pair_n-1], where pair_i indexes the (name, value) pair table,
 * in label order; records never straddle a pool page (65536 uint32s) and
 * never move. starts maps a series id to its record's pool position
 * (page << 16 | offset). Each pair has its postings list and each label name
 * its own, plus the list of its pairs (its values). So a series costs 4 bytes
 * for its position, 12 for the header, 4 per label in its record and 8 per
 * label in postings (pair and name lists), plus the hash table slot.
 *
 * Locking (see index.h): wmu serializes writers and guards the series hash
 * table (stab); rw guards everything readers look at. Reader-visible state
 * changes only with both held, so a writer may read it under wmu alone.
 * Invariants under rw: every postings list holds ids < nseries, sorted; a
 * series' record, start and all its postings entries appear together in one
 * write-locked section; a pair or name may exist with an empty list (left
 * by a failed insert) and listings skip those.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "telltale.h"
#include "store/tsdb/index.h"

#define PAGE_SHIFT 16
#define PAGE_IDS   (1u << PAGE_SHIFT)
#define PAGE_MASK  (PAGE_IDS - 1)
#define REC_HDR    3
#define NONE       UINT32_MAX
#define MAP_EMPTY  UINT64_MAX
#define SCAN_CHUNK 4096 /* series examined per read-lock hold in listings */

struct plist {
    uint32_t *ids;
    uint32_t n, cap;
};

struct pair {
    uint32_t name;  /* index into names */
    uint32_t value; /* symbol */
    struct plist post;
};

struct lname {
    uint32_t sym;
    uint32_t nvals, capvals;
    uint32_t *vals; /* pair indices, in creation order */
    struct plist post;
};

struct u64map {
    uint64_t *keys;
    uint32_t *vals;
    uint32_t cap, n;
};

struct pages {
    uint32_t **p;
    size_t n, cap;
};

struct index {
    pthread_mutex_t wmu;
    pthread_rwlock_t rw;
    uint64_t seed;
    struct symtab syms;
    uint32_t nseries;
    struct pages starts;
    struct pages pool;
    uint32_t pool_used; /* entries used in the last pool page */
    uint64_t *stab;     /* hash >> 32 << 32 | id + 1, 0 = empty; guarded by wmu */
    uint32_t stabcap;
    struct pair *pairs;
    uint32_t npairs, cappairs;
    struct u64map pairmap; /* name << 32 | value symbol -> pair */
    struct lname *names;
    uint32_t nnames, capnames;
    struct u64map namemap; /* name symbol -> name */
    size_t post_bytes;     /* capacity of every plist */
    size_t vals_bytes;     /* capacity of every lname.vals */
};

/* ---- postings ----------------------------------------------------------------- */

void postings_init(struct postings *p)
{
    p->ids = NULL;
    p->n = 0;
    p->cap = 0;
}

void postings_release(struct postings *p)
{
    free(p->ids);
    postings_init(p);
}

int postings_reserve(struct postings *p, size_t n)
{
    if (n <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap : 16;
    while (cap < n)
        cap *= 2;
    uint32_t *ids = realloc(p->ids, cap * sizeof *ids);
    if (ids == NULL)
        return TT_ENOMEM;
    p->ids = ids;
    p->cap = cap;
    return 0;
}

int postings_push(struct postings *p, uint32_t id)
{
    if (p->n > 0 && p->ids[p->n - 1] >= id)
        return TT_EINVAL;
    if (postings_reserve(p, p->n + 1))
        return TT_ENOMEM;
    p->ids[p->n++] = id;
    return 0;
}

/* gallop: the first index i >= lo with a[i] >= x (n when none). */
static size_t gallop(const uint32_t *a, size_t lo, size_t n, uint32_t x)
{
    if (lo >= n || a[lo] >= x)
        return lo;
    size_t step = 1, hi = lo + 1;
    while (hi < n && a[hi] < x) {
        lo = hi;
        step *= 2;
        hi = lo + step;
    }
    if (hi > n)
        hi = n;
    /* a[lo] < x, and a[hi] >= x or hi == n */
    lo++;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Galloping pays when one list is this many times longer than the other. */
#define SKEW 16

static size_t intersect_raw(uint32_t *out, const uint32_t *a, size_t na, const uint32_t *b,
                            size_t nb)
{
    if (na > nb) {
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tn = na;
        na = nb;
        nb = tn;
    }
    size_t k = 0, i = 0, j = 0;
    if (na * SKEW < nb) {
        for (i = 0; i < na && j < nb; i++) {
            j = gallop(b, j, nb, a[i]);
            if (j < nb && b[j] == a[i])
                out[k++] = a[i];
        }
        return k;
    }
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            out[k++] = a[i];
            i++;
            j++;
        }
    }
    return k;
}

static size_t difference_raw(uint32_t *out, const uint32_t *a, size_t na, const uint32_t *b,
                             size_t nb)
{
    size_t k = 0, i = 0, j = 0;
    if (na * SKEW < nb) {
        for (i = 0; i < na; i++) {
            j = gallop(b, j, nb, a[i]);
            if (j >= nb || b[j] != a[i])
                out[k++] = a[i];
        }
        return k;
    }
    if (nb * SKEW < na) {
        /* copy the runs of a between the ids of b */
        for (j = 0; j < nb; j++) {
            size_t e = gallop(a, i, na, b[j]);
            memcpy(out + k, a + i, (e - i) * sizeof *a);
            k += e - i;
            i = e < na && a[e] == b[j] ? e + 1 : e;
        }
        memcpy(out + k, a + i, (na - i) * sizeof *a);
        return k + (na - i);
    }
    while (i < na) {
        if (j >= nb || a[i] < b[j])
            out[k++] = a[i++];
        else if (a[i] > b[j])
            j++;
        else {
            i++;
            j++;
        }
    }
    return k;
}

static size_t union_raw(uint32_t *out, const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t k = 0, i = 0, j = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j])
            out[k++] = a[i++];
        else if (a[i] > b[j])
            out[k++] = b[j++];
        else {
            out[k++] = a[i++];
            j++;
        }
    }
    memcpy(out + k, a + i, (na - i) * sizeof *a);
    k += na - i;
    memcpy(out + k, b + j, (nb - j) * sizeof *b);
    return k + (nb - j);
}

int postings_intersect(struct postings *out, const uint32_t *a, size_t na, const uint32_t *b,
                       size_t nb)
{
    out->n = 0;
    if (postings_reserve(out, na < nb ? na : nb))
        return TT_ENOMEM;
    out->n = intersect_raw(out->ids, a, na, b, nb);
    return 0;
}

int postings_union(struct postings *out, const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    out->n = 0;
    if (postings_reserve(out, na + nb))
        return TT_ENOMEM;
    out->n = union_raw(out->ids, a, na, b, nb);
    return 0;
}

int postings_difference(struct postings *out, const uint32_t *a, size_t na, const uint32_t *b,
                        size_t nb)
{
    out->n = 0;
    if (postings_reserve(out, na))
        return TT_ENOMEM;
    out->n = difference_raw(out->ids, a, na, b, nb);
    return 0;
}

int postings_intersects(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    if (na > nb) {
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tn = na;
        na = nb;
        nb = tn;
    }
    size_t j = 0;
    for (size_t i = 0; i < na; i++) {
        j = gallop(b, j, nb, a[i]);
        if (j >= nb)
            return 0;
        if (b[j] == a[i])
            return 1;
    }
    return 0;
}

/* ---- small helpers ------------------------------------------------------------------ */

static uint32_t map_find(const struct u64map *m, uint64_t key)
{
    if (m->cap == 0)
        return NONE;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)labels_hash_bytes(&key, sizeof key, 0) & mask;;
         i = (i + 1) & mask) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (m->keys[i] == MAP_EMPTY)
            return NONE;
    }
}

static void map_place(uint64_t *keys, uint32_t *vals, uint32_t cap, uint64_t key, uint32_t val)
{
    uint32_t mask = cap - 1;
    uint32_t i = (uint32_t)labels_hash_bytes(&key, sizeof key, 0) & mask;
    while (keys[i] != MAP_EMPTY)
        i = (i + 1) & mask;
    keys[i] = key;
    vals[i] = val;
}

/* map_put adds a key that is not there yet: 0 or TT_ENOMEM. */
static int map_put(struct u64map *m, uint64_t key, uint32_t val)
{
    if ((uint64_t)(m->n + 1) * 2 > m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 64;
        uint64_t *keys = malloc((size_t)cap * sizeof *keys);
        uint32_t *vals = malloc((size_t)cap * sizeof *vals);
        if (keys == NULL || vals == NULL) {
            free(keys);
            free(vals);
            return TT_ENOMEM;
        }
        memset(keys, 0xff, (size_t)cap * sizeof *keys);
        for (uint32_t i = 0; i < m->cap; i++) {
            if (m->keys[i] != MAP_EMPTY)
                map_place(keys, vals, cap, m->keys[i], m->vals[i]);
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    map_place(m->keys, m->vals, m->cap, key, val);
    m->n++;
    return 0;
}

static void map_release(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* plist_reserve1 makes room for one more id. */
static int plist_reserve1(struct index *idx, struct plist *pl)
{
    if (pl->n < pl->cap)
        return 0;
    if (pl->cap >= UINT32_MAX / 2)
        return TT_EFULL;
    uint32_t cap = pl->cap < 8 ? (pl->cap ? pl->cap * 2 : 2) : pl->cap + pl->cap / 2;
    uint32_t *ids = realloc(pl->ids, (size_t)cap * sizeof *ids);
    if (ids == NULL)
        return TT_ENOMEM;
    idx->post_bytes += (size_t)(cap - pl->cap) * sizeof *ids;
    pl->ids = ids;
    pl->cap = cap;
    return 0;
}

static int pages_add(struct pages *pg)
{
    if (pg->n == pg->cap) {
        size_t cap = pg->cap ? pg->cap * 2 : 16;
        uint32_t **p = realloc(pg->p, cap * sizeof *p);
        if (p == NULL)
            return TT_ENOMEM;
        pg->p = p;
        pg->cap = cap;
    }
    uint32_t *page = malloc(PAGE_IDS * sizeof *page);
    if (page == NULL)
        return TT_ENOMEM;
    pg->p[pg->n++] = page;
    return 0;
}

static void pages_release(struct pages *pg)
{
    for (size_t i = 0; i < pg->n; i++)
        free(pg->p[i]);
    free(pg->p);
    memset(pg, 0, sizeof *pg);
}

static const uint32_t *record(const struct index *idx, uint32_t id)
{
    uint32_t pos = idx->starts.p[id >> PAGE_SHIFT][id & PAGE_MASK];
    return idx->pool.p[pos >> PAGE_SHIFT] + (pos & PAGE_MASK);
}

static const char *pair_name(const struct index *idx, uint32_t p)
{
    return symtab_str(&idx->syms, idx->names[idx->pairs[p].name].sym);
}

static const char *pair_value(const struct index *idx, uint32_t p)
{
    return symtab_str(&idx->syms, idx->pairs[p].value);
}

static int record_is(const struct index *idx, const uint32_t *rec, const struct labels *ls,
                     uint64_t h)
{
    if (rec[0] != ls->n || rec[1] != (uint32_t)h || rec[2] != (uint32_t)(h >> 32))
        return 0;
    for (size_t i = 0; i < ls->n; i++) {
        if (strcmp(pair_name(idx, rec[REC_HDR + i]), ls->v[i].name) != 0 ||
            strcmp(pair_value(idx, rec[REC_HDR + i]), ls->v[i].value) != 0)
            return 0;
    }
    return 1;
}

/* The series hash table keeps the high half of each series' hash beside its
 * id, so a probe touches a record only when those 32 bits agree. */
static inline uint64_t stab_slot(uint64_t h, uint32_t id)
{
    return (h >> 32) << 32 | ((uint64_t)id + 1);
}

/* stab_find: the id of ls (hash h), or NONE. Needs wmu. */
static uint32_t stab_find(const struct index *idx, const struct labels *ls, uint64_t h)
{
    if (idx->stabcap == 0)
        return NONE;
    uint32_t mask = idx->stabcap - 1;
    uint64_t tag = h >> 32;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        uint64_t v = idx->stab[i];
        if (v == 0)
            return NONE;
        uint32_t id = (uint32_t)v - 1;
        if (v >> 32 == tag && record_is(idx, record(idx, id), ls, h))
            return id;
    }
}

static void stab_place(uint64_t *tab, uint32_t cap, uint64_t h, uint32_t id)
{
    uint32_t mask = cap - 1;
    uint32_t i = (uint32_t)h & mask;
    while (tab[i] != 0)
        i = (i + 1) & mask;
    tab[i] = stab_slot(h, id);
}

/* stab_grow keeps the load at most 1/2 with one more series. Needs wmu. */
static int stab_grow(struct index *idx)
{
    if ((uint64_t)(idx->nseries + 1) * 2 <= (uint64_t)idx->stabcap)
        return 0;
    if (idx->stabcap >= (1u << 31))
        return TT_EFULL;
    uint32_t cap = idx->stabcap ? idx->stabcap * 2 : 1024;
    uint64_t *tab = calloc(cap, sizeof *tab);
    if (tab == NULL)
        return TT_ENOMEM;
    for (uint32_t id = 0; id < idx->nseries; id++) {
        const uint32_t *rec = record(idx, id);
        stab_place(tab, cap, (uint64_t)rec[1] | (uint64_t)rec[2] << 32, id);
    }
    free(idx->stab);
    idx->stab = tab;
    idx->stabcap = cap;
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

int index_new(struct index **out)
{
    *out = NULL;
    struct index *idx = calloc(1, sizeof *idx);
    if (idx == NULL)
        return TT_ENOMEM;
    if (pthread_mutex_init(&idx->wmu, NULL) != 0) {
        free(idx);
        return TT_ESYS;
    }
    pthread_rwlockattr_t attr;
    int rc = pthread_rwlockattr_init(&attr);
    if (rc == 0) {
        /* A steady stream of readers must not starve the writer. */
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        rc = pthread_rwlock_init(&idx->rw, &attr);
        pthread_rwlockattr_destroy(&attr);
    }
    if (rc != 0) {
        pthread_mutex_destroy(&idx->wmu);
        free(idx);
        return TT_ESYS;
    }
    /* A random seed keeps crafted label sets from piling into one probe chain. */
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)idx;
    }
    idx->seed = seed;
    symtab_init(&idx->syms, seed);
    *out = idx;
    return 0;
}

void index_free(struct index *idx)
{
    if (idx == NULL)
        return;
    for (uint32_t i = 0; i < idx->npairs; i++)
        free(idx->pairs[i].post.ids);
    for (uint32_t i = 0; i < idx->nnames; i++) {
        free(idx->names[i].post.ids);
        free(idx->names[i].vals);
    }
    free(idx->pairs);
    free(idx->names);
    map_release(&idx->pairmap);
    map_release(&idx->namemap);
    pages_release(&idx->starts);
    pages_release(&idx->pool);
    free(idx->stab);
    symtab_release(&idx->syms);
    pthread_rwlock_destroy(&idx->rw);
    pthread_mutex_destroy(&idx->wmu);
    free(idx);
}

/* ---- writing ------------------------------------------------------------------------ */

/* name_get returns in *out the name index of symbol sym, adding it. */
static int name_get(struct index *idx, uint32_t sym, uint32_t *out)
{
    uint32_t n = map_find(&idx->namemap, sym);
    if (n != NONE) {
        *out = n;
        return 0;
    }
    if (idx->nnames == idx->capnames) {
        uint32_t cap = idx->capnames ? idx->capnames * 2 : 32;
        struct lname *v = realloc(idx->names, (size_t)cap * sizeof *v);
        if (v == NULL)
            return TT_ENOMEM;
        idx->names = v;
        idx->capnames = cap;
    }
    if (map_put(&idx->namemap, sym, idx->nnames))
        return TT_ENOMEM;
    memset(&idx->names[idx->nnames], 0, sizeof idx->names[0]);
    idx->names[idx->nnames].sym = sym;
    *out = idx->nnames++;
    return 0;
}

/* pair_get returns in *out the pair index of (name, value symbol), adding it. */
static int pair_get(struct index *idx, uint32_t name, uint32_t vsym, uint32_t *out)
{
    uint64_t key = (uint64_t)name << 32 | vsym;
    uint32_t p = map_find(&idx->pairmap, key);
    if (p != NONE) {
        *out = p;
        return 0;
    }
    if (idx->npairs >= UINT32_MAX - 1)
        return TT_EFULL;
    if (idx->npairs == idx->cappairs) {
        uint32_t cap = idx->cappairs ? idx->cappairs + idx->cappairs / 2 : 256;
        struct pair *v = realloc(idx->pairs, (size_t)cap * sizeof *v);
        if (v == NULL)
            return TT_ENOMEM;
        idx->pairs = v;
        idx->cappairs = cap;
    }
    struct lname *ln = &idx->names[name];
    if (ln->nvals == ln->capvals) {
        uint32_t cap =
            ln->capvals < 8 ? (ln->capvals ? ln->capvals * 2 : 2) : ln->capvals + ln->capvals / 2;
        uint32_t *v = realloc(ln->vals, (size_t)cap * sizeof *v);
        if (v == NULL)
            return TT_ENOMEM;
        idx->vals_bytes += (size_t)(cap - ln->capvals) * sizeof *v;
        ln->vals = v;
        ln->capvals = cap;
    }
    if (map_put(&idx->pairmap, key, idx->npairs))
        return TT_ENOMEM;
    memset(&idx->pairs[idx->npairs], 0, sizeof idx->pairs[0]);
    idx->pairs[idx->npairs].name = name;
    idx->pairs[idx->npairs].value = vsym;
    ln->vals[ln->nvals++] = idx->npairs;
    *out = idx->npairs++;
    return 0;
}

/* add_series publishes a new series; needs wmu and the write lock. Every
 * fallible step (interning, new pairs, room in every list) comes before the
 * first change readers could see as a series. */
static int add_series(struct index *idx, const struct labels *ls, uint64_t h, uint32_t *id)
{
    uint32_t pidx[INDEX_LABELS_MAX];
    int rc;
    for (size_t i = 0; i < ls->n; i++) {
        uint32_t nsym, vsym, name;
        rc = symtab_intern(&idx->syms, ls->v[i].name, strlen(ls->v[i].name), &nsym);
        if (rc == 0)
            rc = symtab_intern(&idx->syms, ls->v[i].value, strlen(ls->v[i].value), &vsym);
        if (rc == 0)
            rc = name_get(idx, nsym, &name);
        if (rc == 0)
            rc = pair_get(idx, name, vsym, &pidx[i]);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < ls->n; i++) {
        struct pair *p = &idx->pairs[pidx[i]];
        rc = plist_reserve1(idx, &p->post);
        if (rc == 0)
            rc = plist_reserve1(idx, &idx->names[p->name].post);
        if (rc)
            return rc;
    }
    uint32_t need = REC_HDR + (uint32_t)ls->n;
    if (idx->pool.n == 0 || idx->pool_used + need > PAGE_IDS) {
        if (idx->pool.n >= PAGE_IDS)
            return TT_EFULL;
        if ((rc = pages_add(&idx->pool)) != 0)
            return rc;
        idx->pool_used = 0;
    }
    uint32_t nid = idx->nseries;
    if ((nid & PAGE_MASK) == 0 && (nid >> PAGE_SHIFT) == idx->starts.n) {
        if ((rc = pages_add(&idx->starts)) != 0)
            return rc;
    }
    /* From here on nothing fails. */
    uint32_t pos = (uint32_t)(idx->pool.n - 1) << PAGE_SHIFT | idx->pool_used;
    uint32_t *rec = idx->pool.p[idx->pool.n - 1] + idx->pool_used;
    idx->pool_used += need;
    rec[0] = (uint32_t)ls->n;
    rec[1] = (uint32_t)h;
    rec[2] = (uint32_t)(h >> 32);
    memcpy(rec + REC_HDR, pidx, ls->n * sizeof *pidx);
    idx->starts.p[nid >> PAGE_SHIFT][nid & PAGE_MASK] = pos;
    for (size_t i = 0; i < ls->n; i++) {
        struct pair *p = &idx->pairs[pidx[i]];
        p->post.ids[p->post.n++] = nid;
        struct plist *np = &idx->names[p->name].post;
        np->ids[np->n++] = nid;
    }
    idx->nseries = nid + 1;
    *id = nid;
    return 0;
}

int index_get_or_create(struct index *idx, const struct labels *ls, uint32_t *id, int *created)
{
    if (created)
        *created = 0;
    if (ls->n == 0 || !labels_is_normalized(ls))
        return TT_EINVAL;
    if (ls->n > INDEX_LABELS_MAX)
        return TT_ETOOBIG;
    uint64_t h = labels_hash(ls, idx->seed);
    int rc = 0;
    pthread_mutex_lock(&idx->wmu);
    uint32_t found = stab_find(idx, ls, h);
    if (found != NONE) {
        *id = found;
        goto out;
    }
    if (idx->nseries >= UINT32_MAX - 1) {
        rc = TT_EFULL;
        goto out;
    }
    if ((rc = stab_grow(idx)) != 0)
        goto out;
    pthread_rwlock_wrlock(&idx->rw);
    rc = add_series(idx, ls, h, id);
    pthread_rwlock_unlock(&idx->rw);
    if (rc == 0) {
        stab_place(idx->stab, idx->stabcap, h, *id);
        if (created)
            *created = 1;
    }
out:
    pthread_mutex_unlock(&idx->wmu);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------ */

int index_lookup(struct index *idx, const struct labels *ls, uint32_t *id)
{
    if (ls->n == 0 || !labels_is_normalized(ls))
        return TT_ENOTFOUND;
    uint64_t h = labels_hash(ls, idx->seed);
    pthread_mutex_lock(&idx->wmu);
    uint32_t found = stab_find(idx, ls, h);
    pthread_mutex_unlock(&idx->wmu);
    if (found == NONE)
        return TT_ENOTFOUND;
    *id = found;
    return 0;
}

uint32_t index_series_count(struct index *idx)
{
    pthread_rwlock_rdlock(&idx->rw);
    uint32_t n = idx->nseries;
    pthread_rwlock_unlock(&idx->rw);
    return n;
}

int index_series_labels(struct index *idx, uint32_t id, struct labels *out)
{
    int rc = 0;
    labels_reset(out);
    pthread_rwlock_rdlock(&idx->rw);
    if (id >= idx->nseries) {
        rc = TT_ENOTFOUND;
    } else {
        const uint32_t *rec = record(idx, id);
        for (uint32_t i = 0; i < rec[0] && rc == 0; i++)
            rc = labels_push(out, pair_name(idx, rec[REC_HDR + i]),
                             pair_value(idx, rec[REC_HDR + i]));
    }
    pthread_rwlock_unlock(&idx->rw);
    return rc;
}

/* name_find: the name index of s, or NONE. Needs a lock. */
static uint32_t name_find(const struct index *idx, const char *s)
{
    uint32_t sym;
    if (symtab_find(&idx->syms, s, strlen(s), &sym) != 0)
        return NONE;
    return map_find(&idx->namemap, sym);
}

static uint32_t pair_find(const struct index *idx, uint32_t name, const char *v, size_t n)
{
    uint32_t sym;
    if (symtab_find(&idx->syms, v, n, &sym) != 0)
        return NONE;
    return map_find(&idx->pairmap, (uint64_t)name << 32 | sym);
}

/* clip: how many of the sorted ids are below limit. */
static size_t clip(const uint32_t *ids, size_t n, uint32_t limit)
{
    if (n == 0 || ids[n - 1] < limit)
        return n;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < limit)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* append_list appends a plist (clipped to limit) to out. */
static int append_list(struct postings *out, const struct plist *pl, uint32_t limit)
{
    size_t n = clip(pl->ids, pl->n, limit);
    if (postings_reserve(out, out->n + n))
        return TT_ENOMEM;
    if (n > 0)
        memcpy(out->ids + out->n, pl->ids, n * sizeof *pl->ids);
    out->n += n;
    return 0;
}

static int fill_range(struct postings *out, uint32_t n)
{
    out->n = 0;
    if (postings_reserve(out, n))
        return TT_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        out->ids[i] = i;
    out->n = n;
    return 0;
}

int postings_combine(struct postings *out, struct postings_term *t, size_t n, uint32_t universe)
{
    struct postings tmp;
    postings_init(&tmp);
    int rc = 0, have = 0;
    for (;;) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (!t[i].skip && !t[i].neg && (best == n || t[i].set->n < t[best].set->n))
                best = i;
        if (best == n)
            break;
        t[best].skip = 1;
        if (!have) {
            postings_release(out);
            *out = *t[best].set;
            postings_init(t[best].set);
            have = 1;
        } else {
            if ((rc = postings_intersect(&tmp, out->ids, out->n, t[best].set->ids,
                                         t[best].set->n)) != 0)
                goto out;
            struct postings x = *out;
            *out = tmp;
            tmp = x;
        }
        if (out->n == 0)
            goto out;
    }
    if (!have && (rc = fill_range(out, universe)) != 0)
        goto out;
    for (size_t i = 0; i < n && out->n > 0; i++) {
        if (t[i].skip || !t[i].neg || t[i].set->n == 0)
            continue;
        if ((rc = postings_difference(&tmp, out->ids, out->n, t[i].set->ids, t[i].set->n)) != 0)
            goto out;
        struct postings x = *out;
        *out = tmp;
        tmp = x;
    }
out:
    postings_release(&tmp);
    if (rc)
        out->n = 0;
    return rc;
}

/* complement replaces p with [0, n) minus p. */
static int complement(struct postings *p, uint32_t n)
{
    struct postings all, res;
    postings_init(&all);
    postings_init(&res);
    int rc = fill_range(&all, n);
    if (rc == 0)
        rc = postings_difference(&res, all.ids, all.n, p->ids, p->n);
    postings_release(&all);
    if (rc) {
        postings_release(&res);
        return rc;
    }
    postings_release(p);
    *p = res;
    return 0;
}

int index_postings(struct index *idx, const char *name, const char *value, struct postings *out)
{
    int rc = 0;
    out->n = 0;
    pthread_rwlock_rdlock(&idx->rw);
    uint32_t limit = idx->nseries;
    uint32_t nm = name_find(idx, name);
    if (nm != NONE) {
        if (value[0] == 0) {
            rc = append_list(out, &idx->names[nm].post, limit);
        } else {
            uint32_t p = pair_find(idx, nm, value, strlen(value));
            if (p != NONE)
                rc = append_list(out, &idx->pairs[p].post, limit);
        }
    }
    pthread_rwlock_unlock(&idx->rw);
    if (rc == 0 && value[0] == 0)
        rc = complement(out, limit);
    return rc;
}

int index_name_postings(struct index *idx, const char *name, struct postings *out)
{
    int rc = 0;
    out->n = 0;
    pthread_rwlock_rdlock(&idx->rw);
    uint32_t nm = name_find(idx, name);
    if (nm != NONE)
        rc = append_list(out, &idx->names[nm].post, idx->nseries);
    pthread_rwlock_unlock(&idx->rw);
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* sort_disjoint sorts p, a concatenation of disjoint sorted lists of ids
 * below limit: a bitmap when the ids are dense, else qsort. */
static int sort_disjoint(struct postings *p, uint32_t limit)
{
    if (p->n < 2)
        return 0;
    if (p->n < (size_t)limit / 64) {
        qsort(p->ids, p->n, sizeof *p->ids, cmp_u32);
        return 0;
    }
    size_t words = ((size_t)limit + 63) / 64;
    uint64_t *bits = calloc(words, sizeof *bits);
    if (bits == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < p->n; i++)
        bits[p->ids[i] >> 6] |= 1ull << (p->ids[i] & 63);
    size_t k = 0;
    for (size_t w = 0; w < words; w++) {
        uint64_t x = bits[w];
        while (x) {
            p->ids[k++] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(x));
            x &= x - 1;
        }
    }
    p->n = k;
    free(bits);
    return 0;
}

/* What one matcher contributes to a selection: the set S (the union of the
 * postings of upairs, subtracted from the name's postings when use_np);
 * the series it accepts are S, or all series but S when neg. */
enum plan_state { PLAN_GO, PLAN_SKIP, PLAN_EMPTY };

struct vref {
    uint32_t pair;
    uint32_t len;
    const char *s;
};

struct plan {
    enum plan_state state;
    int neg, use_np, scan;
    uint32_t name;
    uint32_t *upairs;
    size_t nup;
    struct vref *vals; /* scan: the name's values, copied out */
    size_t nvals;
    struct postings set;
};

static void plan_release(struct plan *pl)
{
    free(pl->upairs);
    free(pl->vals);
    postings_release(&pl->set);
}

/* plan_make: phase 1, under the read lock. */
static int plan_make(const struct index *idx, struct matcher *m, struct plan *pl)
{
    uint32_t nm = name_find(idx, matcher_name(m));
    int empty = matcher_matches_empty(m);
    if (nm == NONE) {
        pl->state = empty ? PLAN_SKIP : PLAN_EMPTY;
        return 0;
    }
    pl->name = nm;
    if (matcher_matches_all_nonempty(m)) {
        pl->state = empty ? PLAN_SKIP : PLAN_GO;
        pl->use_np = 1;
        return 0;
    }
    const struct lname *ln = &idx->names[nm];
    const char *const *vals;
    const size_t *lens;
    long k = matcher_set(m, &vals, &lens);
    if (k >= 0) {
        int positive = matcher_type(m) == MATCH_EQ || matcher_type(m) == MATCH_RE;
        pl->upairs = malloc(((size_t)k + 1) * sizeof *pl->upairs);
        if (pl->upairs == NULL)
            return TT_ENOMEM;
        for (long i = 0; i < k; i++) {
            if (lens[i] == 0)
                continue;
            uint32_t p = pair_find(idx, nm, vals[i], lens[i]);
            if (p != NONE)
                pl->upairs[pl->nup++] = p;
        }
        /* positive: accepts S_v (plus the label-less when "" is in the set);
         * negative: accepts all but S_v (minus the label-less when "" is). */
        pl->use_np = positive ? empty : !empty;
        pl->neg = empty;
        return 0;
    }
    pl->scan = 1;
    pl->neg = empty;
    pl->vals = malloc(((size_t)ln->nvals + 1) * sizeof *pl->vals);
    if (pl->vals == NULL)
        return TT_ENOMEM;
    for (uint32_t i = 0; i < ln->nvals; i++) {
        uint32_t p = ln->vals[i];
        if (idx->pairs[p].post.n == 0)
            continue;
        struct vref *v = &pl->vals[pl->nvals++];
        v->pair = p;
        v->s = symtab_str(&idx->syms, idx->pairs[p].value);
        v->len = (uint32_t)symtab_len(&idx->syms, idx->pairs[p].value);
    }
    return 0;
}

/* plan_scan: phase 2, no lock: run the matcher over the copied values. A
 * matcher that accepts "" contributes the values it rejects (neg). */
static int plan_scan(struct matcher *m, struct plan *pl)
{
    pl->upairs = malloc((pl->nvals + 1) * sizeof *pl->upairs);
    if (pl->upairs == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < pl->nvals; i++) {
        int hit = matcher_matches(m, pl->vals[i].s, pl->vals[i].len);
        if (hit != pl->neg)
            pl->upairs[pl->nup++] = pl->vals[i].pair;
    }
    return 0;
}

/* plan_copy: phase 3, under the read lock: copy the lists out. */
static int plan_copy(const struct index *idx, struct plan *pl, uint32_t limit)
{
    for (size_t i = 0; i < pl->nup; i++) {
        if (append_list(&pl->set, &idx->pairs[pl->upairs[i]].post, limit))
            return TT_ENOMEM;
    }
    return 0;
}

/* plan_finish: phase 4, no lock: S from the copies. np holds the name's
 * postings when use_np. */
static int plan_finish(struct plan *pl, const struct postings *np, uint32_t limit)
{
    int rc = pl->nup > 1 ? sort_disjoint(&pl->set, limit) : 0;
    if (rc == 0 && pl->use_np) {
        struct postings d;
        postings_init(&d);
        rc = postings_difference(&d, np->ids, np->n, pl->set.ids, pl->set.n);
        postings_release(&pl->set);
        pl->set = d;
    }
    return rc;
}

static int select_locked_copy(struct index *idx, struct plan *plans, struct postings *nps,
                              size_t nms, uint32_t limit)
{
    int rc = 0;
    pthread_rwlock_rdlock(&idx->rw);
    for (size_t i = 0; i < nms && rc == 0; i++) {
        if (plans[i].state != PLAN_GO)
            continue;
        rc = plan_copy(idx, &plans[i], limit);
        if (rc == 0 && plans[i].use_np)
            rc = append_list(&nps[i], &idx->names[plans[i].name].post, limit);
    }
    pthread_rwlock_unlock(&idx->rw);
    return rc;
}

static int select_ids(struct index *idx, struct matcher *const *ms, size_t nms,
                      struct postings *out, uint32_t *limit_out)
{
    int rc = 0;
    struct plan *plans = calloc(nms + 1, sizeof *plans);
    struct postings *nps = calloc(nms + 1, sizeof *nps);
    out->n = 0;
    if (plans == NULL || nps == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    /* Phase 1: what each matcher needs (the values of scanned names). */
    pthread_rwlock_rdlock(&idx->rw);
    uint32_t limit = idx->nseries;
    for (size_t i = 0; i < nms && rc == 0; i++)
        rc = plan_make(idx, ms[i], &plans[i]);
    pthread_rwlock_unlock(&idx->rw);
    if (limit_out)
        *limit_out = limit;
    if (rc)
        goto out;
    for (size_t i = 0; i < nms; i++) {
        if (plans[i].state == PLAN_EMPTY)
            goto out; /* nothing can match */
    }
    /* Phase 2: regexes over values, unlocked. */
    for (size_t i = 0; i < nms && rc == 0; i++) {
        if (plans[i].state == PLAN_GO && plans[i].scan)
            rc = plan_scan(ms[i], &plans[i]);
    }
    /* Phase 3: copy the postings out; phase 4: set algebra, unlocked. */
    if (rc == 0)
        rc = select_locked_copy(idx, plans, nps, nms, limit);
    for (size_t i = 0; i < nms && rc == 0; i++) {
        if (plans[i].state == PLAN_GO)
            rc = plan_finish(&plans[i], &nps[i], limit);
    }
    if (rc)
        goto out;
    {
        struct postings_term *t = calloc(nms + 1, sizeof *t);
        if (t == NULL) {
            rc = TT_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nms; i++)
            t[i] = (struct postings_term){ &plans[i].set, plans[i].neg, plans[i].state != PLAN_GO };
        rc = postings_combine(out, t, nms, limit);
        free(t);
    }
out:
    if (plans) {
        for (size_t i = 0; i < nms; i++)
            plan_release(&plans[i]);
    }
    if (nps) {
        for (size_t i = 0; i < nms; i++)
            postings_release(&nps[i]);
    }
    free(plans);
    free(nps);
    if (rc)
        out->n = 0;
    return rc;
}

int index_select(struct index *idx, struct matcher *const *ms, size_t nms, struct postings *out)
{
    return select_ids(idx, ms, nms, out, NULL);
}

void index_strs_release(struct index_strs *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void strs_sort(struct index_strs *s)
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, cmp_str);
}

/* mark_series: for each selected series, under short read-lock holds, mark
 * the names of its labels (nm == NONE) or its pair of name nm. */
static void mark_series(struct index *idx, const struct postings *sel, uint8_t *mark, uint32_t nm)
{
    for (size_t at = 0; at < sel->n; at += SCAN_CHUNK) {
        size_t end = at + SCAN_CHUNK < sel->n ? at + SCAN_CHUNK : sel->n;
        pthread_rwlock_rdlock(&idx->rw);
        for (size_t i = at; i < end; i++) {
            const uint32_t *rec = record(idx, sel->ids[i]);
            for (uint32_t j = 0; j < rec[0]; j++) {
                uint32_t p = rec[REC_HDR + j];
                if (nm == NONE) {
                    mark[idx->pairs[p].name] = 1;
                } else if (idx->pairs[p].name == nm) {
                    mark[p] = 1;
                    break;
                }
            }
        }
        pthread_rwlock_unlock(&idx->rw);
    }
}

int index_label_names(struct index *idx, struct matcher *const *ms, size_t nms,
                      struct index_strs *out)
{
    int rc = 0;
    uint8_t *mark = NULL;
    struct postings sel;
    postings_init(&sel);
    out->v = NULL;
    out->n = 0;
    if (nms > 0) {
        if ((rc = select_ids(idx, ms, nms, &sel, NULL)) != 0)
            goto out;
        if (sel.n == 0)
            goto out;
    }
    pthread_rwlock_rdlock(&idx->rw);
    uint32_t nnames = idx->nnames;
    pthread_rwlock_unlock(&idx->rw);
    if (nnames == 0)
        goto out;
    mark = calloc(nnames, 1);
    out->v = malloc(nnames * sizeof *out->v);
    if (mark == NULL || out->v == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    if (nms > 0)
        mark_series(idx, &sel, mark, NONE);
    pthread_rwlock_rdlock(&idx->rw);
    for (uint32_t i = 0; i < nnames; i++) {
        if (nms > 0 ? mark[i] : idx->names[i].post.n > 0)
            out->v[out->n++] = symtab_str(&idx->syms, idx->names[i].sym);
    }
    pthread_rwlock_unlock(&idx->rw);
    strs_sort(out);
out:
    free(mark);
    postings_release(&sel);
    if (rc)
        index_strs_release(out);
    return rc;
}

int index_label_values(struct index *idx, const char *name, struct matcher *const *ms, size_t nms,
                       struct index_strs *out)
{
    int rc = 0;
    uint8_t *mark = NULL;
    struct postings sel;
    postings_init(&sel);
    out->v = NULL;
    out->n = 0;
    if (nms > 0) {
        if ((rc = select_ids(idx, ms, nms, &sel, NULL)) != 0)
            goto out;
        if (sel.n == 0)
            goto out;
    }
    pthread_rwlock_rdlock(&idx->rw);
    uint32_t nm = name_find(idx, name);
    uint32_t npairs = idx->npairs;
    uint32_t nvals = nm == NONE ? 0 : idx->names[nm].nvals;
    pthread_rwlock_unlock(&idx->rw);
    if (nvals == 0)
        goto out;
    out->v = malloc(nvals * sizeof *out->v);
    if (nms > 0)
        mark = calloc(npairs, 1);
    if (out->v == NULL || (nms > 0 && mark == NULL)) {
        rc = TT_ENOMEM;
        goto out;
    }
    if (nms > 0)
        mark_series(idx, &sel, mark, nm);
    pthread_rwlock_rdlock(&idx->rw);
    const struct lname *ln = &idx->names[nm];
    for (uint32_t i = 0; i < nvals; i++) {
        uint32_t p = ln->vals[i];
        if (nms > 0 ? mark[p] : idx->pairs[p].post.n > 0)
            out->v[out->n++] = symtab_str(&idx->syms, idx->pairs[p].value);
    }
    pthread_rwlock_unlock(&idx->rw);
    strs_sort(out);
out:
    free(mark);
    postings_release(&sel);
    if (rc)
        index_strs_release(out);
    return rc;
}

void index_stats(struct index *idx, struct index_stats *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&idx->wmu);
    pthread_rwlock_rdlock(&idx->rw);
    st->series = idx->nseries;
    st->symbols = symtab_count(&idx->syms);
    st->pairs = idx->npairs;
    st->names = idx->nnames;
    st->symbols_bytes = symtab_bytes(&idx->syms);
    st->series_bytes = (idx->starts.n + idx->pool.n) * (size_t)PAGE_IDS * sizeof(uint32_t) +
                       (idx->starts.cap + idx->pool.cap) * sizeof(uint32_t *) +
                       (size_t)idx->stabcap * sizeof(uint64_t);
    st->postings_bytes = idx->post_bytes;
    st->tables_bytes =
        (size_t)idx->cappairs * sizeof(struct pair) + (size_t)idx->capnames * sizeof(struct lname) +
        idx->vals_bytes +
        (size_t)(idx->pairmap.cap + idx->namemap.cap) * (sizeof(uint64_t) + sizeof(uint32_t)) +
        sizeof *idx;
    pthread_rwlock_unlock(&idx->rw);
    pthread_mutex_unlock(&idx->wmu);
    st->total_bytes = st->symbols_bytes + st->series_bytes + st->postings_bytes + st->tables_bytes;
}
