/*
 * page_cache.h - decompressed block pages shared by every reader of a store.
 *
 * Reading a block page means checking its CRC and decompressing it; a query
 * over a day of data does that for the same pages on every run. The cache
 * keeps decompressed pages, across queries and threads, within a byte
 * budget, evicting the least recently used. Pages are refcounted: a page
 * taken from the cache stays valid for its holder after eviction, and is
 * freed by the last page_unref. Blocks are told apart by a serial number the
 * cache hands out (page_cache_serial), never reused, so pages of a closed
 * block are simply never asked for again and age out.
 *
 * Thread-safe: one mutex guards the table and the LRU list; a page's data is
 * never written once it is in the cache.
 */
#ifndef TT_TSDB_PAGE_CACHE_H
#define TT_TSDB_PAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* One decompressed page: data[0..len) of page no of block file file. Only
 * refs changes after creation (atomically). */
struct page {
    uint32_t refs;
    int file;
    uint32_t no;
    size_t len;
    uint8_t *data;
    /* cache bookkeeping (under the cache's mutex) */
    uint64_t serial;
    struct page *hnext, *prev, *next;
    int cached;
};

struct page_cache;

/* page_new allocates a page of len bytes (data uninitialised) with one
 * reference for the caller, or returns NULL when out of memory. */
struct page *page_new(int file, uint32_t no, size_t len);
/* page_ref adds a reference to p. */
void page_ref(struct page *p);
/* page_unref drops a reference to p (NULL is fine); the last one frees it. */
void page_unref(struct page *p);

/* page_cache_new creates a cache holding at most budget_bytes of page data
 * (0: caches nothing). Returns 0 or TT_ENOMEM (*out NULL). Free with
 * page_cache_free. */
int page_cache_new(struct page_cache **out, size_t budget_bytes);
/* page_cache_free drops the cache's references to its pages (pages still
 * held elsewhere live on) and frees c (NULL is fine). */
void page_cache_free(struct page_cache *c);
/* page_cache_serial: a number no other call returns, naming one block's
 * pages in the cache. */
uint64_t page_cache_serial(struct page_cache *c);
/* page_cache_get returns page no of file of block serial with a reference
 * for the caller, or NULL when not cached. */
struct page *page_cache_get(struct page_cache *c, uint64_t serial, int file, uint32_t no);
/* page_cache_put offers page p (the caller's reference is kept) as page
 * (file, no) of block serial, and returns the page the cache holds for that
 * key with a reference for the caller: p itself, or a page another thread
 * put first (then drop p). A page larger than the budget is not kept (p is
 * returned). */
struct page *page_cache_put(struct page_cache *c, uint64_t serial, struct page *p);
/* page_cache_bytes: the page data the cache holds now; page_cache_count:
 * its pages. */
size_t page_cache_bytes(struct page_cache *c);
size_t page_cache_count(struct page_cache *c);

#endif
