/* test_page_cache.c - the shared cache of decompressed block pages
 * (src/store/tsdb/page_cache.c): hits and misses, LRU eviction within the
 * budget, pages outliving eviction and the cache, a racing put, and many
 * threads getting and putting at once (run it under TSan). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "store/tsdb/page_cache.h"

static struct page *filled(int file, uint32_t no, size_t len)
{
    struct page *p = page_new(file, no, len);
    assert_non_null(p);
    memset(p->data, (int)(no & 0xff), len);
    return p;
}

/* put offers p and returns the cache's page, dropping the caller's p. */
static struct page *put(struct page_cache *c, uint64_t serial, struct page *p)
{
    struct page *got = page_cache_put(c, serial, p);
    page_unref(p);
    return got;
}

static void test_hit_miss(void **state)
{
    (void)state;
    struct page_cache *c;
    assert_int_equal(page_cache_new(&c, 1 << 20), 0);
    uint64_t s1 = page_cache_serial(c), s2 = page_cache_serial(c);
    assert_int_not_equal(s1, s2);
    assert_null(page_cache_get(c, s1, 0, 7));
    struct page *p = put(c, s1, filled(0, 7, 100));
    assert_int_equal(p->len, 100);
    page_unref(p);
    struct page *q = page_cache_get(c, s1, 0, 7);
    assert_non_null(q);
    assert_int_equal(q->data[0], 7);
    page_unref(q);
    /* Another block, another file: different pages. */
    assert_null(page_cache_get(c, s2, 0, 7));
    assert_null(page_cache_get(c, s1, 1, 7));
    assert_int_equal(page_cache_count(c), 1);
    assert_int_equal(page_cache_bytes(c), 100);
    page_cache_free(c);
}

static void test_eviction_lru(void **state)
{
    (void)state;
    struct page_cache *c;
    assert_int_equal(page_cache_new(&c, 300), 0);
    uint64_t s = page_cache_serial(c);
    for (uint32_t no = 0; no < 3; no++)
        page_unref(put(c, s, filled(0, no, 100)));
    assert_int_equal(page_cache_bytes(c), 300);
    /* Touch page 0: page 1 is now the least recently used. */
    struct page *held = page_cache_get(c, s, 0, 0);
    assert_non_null(held);
    page_unref(put(c, s, filled(0, 3, 100)));
    assert_int_equal(page_cache_count(c), 3);
    assert_int_equal(page_cache_bytes(c), 300);
    struct page *gone = page_cache_get(c, s, 0, 1);
    assert_null(gone);
    struct page *p2 = page_cache_get(c, s, 0, 2);
    assert_non_null(p2);
    page_unref(p2);
    /* A page bigger than the whole budget is returned, not kept. */
    struct page *big = put(c, s, filled(0, 9, 1000));
    assert_int_equal(big->len, 1000);
    assert_null(page_cache_get(c, s, 0, 9));
    page_unref(big);
    /* Evict everything; the held page stays readable, also after free. */
    page_unref(put(c, s, filled(0, 10, 300)));
    assert_int_equal(page_cache_count(c), 1);
    assert_null(page_cache_get(c, s, 0, 0));
    page_cache_free(c);
    assert_int_equal(held->data[99], 0);
    page_unref(held);
}

static void test_racing_put(void **state)
{
    (void)state;
    struct page_cache *c;
    assert_int_equal(page_cache_new(&c, 1 << 20), 0);
    uint64_t s = page_cache_serial(c);
    struct page *a = put(c, s, filled(1, 5, 64));
    struct page *b = filled(1, 5, 64);
    b->data[0] = 42;
    struct page *got = put(c, s, b);
    assert_ptr_equal(got, a);
    assert_int_equal(got->data[0], 5);
    page_unref(got);
    page_unref(a);
    assert_int_equal(page_cache_count(c), 1);
    page_cache_free(c);
}

struct worker_arg {
    struct page_cache *c;
    uint64_t serial;
    unsigned seed;
    int bad;
};

static void *worker(void *arg)
{
    struct worker_arg *w = arg;
    for (int i = 0; i < 20000; i++) {
        w->seed = w->seed * 1103515245u + 12345u;
        uint32_t no = (w->seed >> 16) % 64;
        struct page *p = page_cache_get(w->c, w->serial, 0, no);
        if (p == NULL) {
            struct page *n = page_new(0, no, 512);
            if (n == NULL) {
                w->bad = 1;
                break;
            }
            memset(n->data, (int)no, 512);
            p = page_cache_put(w->c, w->serial, n);
            page_unref(n);
        }
        if (p->no != no || p->data[0] != (uint8_t)no || p->data[511] != (uint8_t)no)
            w->bad = 1;
        page_unref(p);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    struct page_cache *c;
    /* Room for half the pages: constant eviction under the threads. */
    assert_int_equal(page_cache_new(&c, 32 * 512), 0);
    uint64_t s = page_cache_serial(c);
    enum { NT = 4 };
    pthread_t th[NT];
    struct worker_arg w[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (struct worker_arg){ c, s, (unsigned)i * 7919u + 1, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    assert_true(page_cache_bytes(c) <= 32 * 512);
    assert_int_equal(page_cache_bytes(c), page_cache_count(c) * 512);
    page_cache_free(c);
}

UNIT_TESTS(cmocka_unit_test(test_hit_miss), cmocka_unit_test(test_eviction_lru),
           cmocka_unit_test(test_racing_put), cmocka_unit_test(test_concurrent))
