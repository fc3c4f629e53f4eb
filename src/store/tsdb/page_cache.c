/*
 * page_cache.c - decompressed block pages shared across queries (see
 * page_cache.h).
 *
 * A chained hash table (fixed number of buckets: the budget keeps the page
 * count in the thousands) and a doubly linked LRU list, most recent first,
 * both threaded through the pages themselves. Invariants: a page is in the
 * table exactly when it is in the list (cached = 1), and then the cache
 * holds one reference to it; bytes is the sum of the cached pages' len and
 * never exceeds budget.
 */
#include "store/tsdb/page_cache.h"
#include <pthread.h>
#include <stdlib.h>
#include "telltale.h"

#define NBUCKETS 4096

struct page_cache {
    pthread_mutex_t mu;
    size_t budget, bytes, count;
    uint64_t next_serial;
    struct page *head, *tail; /* LRU list: head most recent */
    struct page *bucket[NBUCKETS];
};

struct page *page_new(int file, uint32_t no, size_t len)
{
    struct page *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->data = malloc(len ? len : 1);
    if (p->data == NULL) {
        free(p);
        return NULL;
    }
    p->refs = 1;
    p->file = file;
    p->no = no;
    p->len = len;
    return p;
}

void page_ref(struct page *p)
{
    __atomic_fetch_add(&p->refs, 1, __ATOMIC_RELAXED);
}

void page_unref(struct page *p)
{
    if (p != NULL && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(p->data);
        free(p);
    }
}

int page_cache_new(struct page_cache **out, size_t budget_bytes)
{
    *out = NULL;
    struct page_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return TT_ENOMEM;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return TT_ENOMEM;
    }
    c->budget = budget_bytes;
    c->next_serial = 1;
    *out = c;
    return 0;
}

void page_cache_free(struct page_cache *c)
{
    if (c == NULL)
        return;
    struct page *p = c->head;
    while (p != NULL) {
        struct page *next = p->next;
        p->cached = 0;
        page_unref(p);
        p = next;
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

uint64_t page_cache_serial(struct page_cache *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t s = c->next_serial++;
    pthread_mutex_unlock(&c->mu);
    return s;
}

static size_t bucket_of(uint64_t serial, int file, uint32_t no)
{
    uint64_t h = serial * 0x9E3779B97F4A7C15ull ^ ((uint64_t)(unsigned)file << 32 | no);
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (size_t)(h & (NBUCKETS - 1));
}

static struct page *find_locked(struct page_cache *c, uint64_t serial, int file, uint32_t no)
{
    for (struct page *p = c->bucket[bucket_of(serial, file, no)]; p != NULL; p = p->hnext)
        if (p->serial == serial && p->file == file && p->no == no)
            return p;
    return NULL;
}

static void lru_unlink(struct page_cache *c, struct page *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        c->head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    else
        c->tail = p->prev;
    p->prev = p->next = NULL;
}

static void lru_push_front(struct page_cache *c, struct page *p)
{
    p->prev = NULL;
    p->next = c->head;
    if (c->head != NULL)
        c->head->prev = p;
    c->head = p;
    if (c->tail == NULL)
        c->tail = p;
}

/* evict_locked drops the least recently used page. */
static void evict_locked(struct page_cache *c)
{
    struct page *p = c->tail;
    struct page **pp = &c->bucket[bucket_of(p->serial, p->file, p->no)];
    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
    p->hnext = NULL;
    lru_unlink(c, p);
    p->cached = 0;
    c->bytes -= p->len;
    c->count--;
    page_unref(p);
}

struct page *page_cache_get(struct page_cache *c, uint64_t serial, int file, uint32_t no)
{
    pthread_mutex_lock(&c->mu);
    struct page *p = find_locked(c, serial, file, no);
    if (p != NULL) {
        if (c->head != p) {
            lru_unlink(c, p);
            lru_push_front(c, p);
        }
        page_ref(p);
    }
    pthread_mutex_unlock(&c->mu);
    return p;
}

struct page *page_cache_put(struct page_cache *c, uint64_t serial, struct page *p)
{
    if (p->len > c->budget) {
        page_ref(p);
        return p;
    }
    pthread_mutex_lock(&c->mu);
    struct page *have = find_locked(c, serial, p->file, p->no);
    if (have != NULL) {
        page_ref(have);
        pthread_mutex_unlock(&c->mu);
        return have;
    }
    while (c->bytes + p->len > c->budget)
        evict_locked(c);
    p->serial = serial;
    size_t b = bucket_of(serial, p->file, p->no);
    p->hnext = c->bucket[b];
    c->bucket[b] = p;
    lru_push_front(c, p);
    p->cached = 1;
    c->bytes += p->len;
    c->count++;
    page_ref(p); /* the cache's */
    page_ref(p); /* the caller's new one */
    pthread_mutex_unlock(&c->mu);
    return p;
}

size_t page_cache_bytes(struct page_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->bytes;
    pthread_mutex_unlock(&c->mu);
    return n;
}

size_t page_cache_count(struct page_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}
