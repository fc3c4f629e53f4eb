/*
 * ring.c - allocation of the per-thread rings (the hot-path parts are inline in
 * ring.h).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include "lib/ring.h"
#include "telltale.h"

int ring_init(struct ring *r, uint64_t size)
{
    uint64_t sz = 4096;
    while (sz < size && sz < (UINT64_C(1) << 40))
        sz <<= 1;
    /* Mapped and populated now, so the hot path never takes a page fault on
     * its buffer (the ring is touched whole in steady state anyway). */
    void *p = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        return TT_ENOMEM;
    r->buf = p;
    r->size = sz;
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
    r->cached_tail = 0;
    return 0;
}

void ring_release(struct ring *r)
{
    if (r->buf)
        munmap(r->buf, (size_t)r->size);
    r->buf = NULL;
    r->size = 0;
}

void ring_close(struct ring *r)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->tail, head - r->size, memory_order_release);
    r->cached_tail = head - r->size;
}
