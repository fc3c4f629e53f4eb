/*
 * ring.h - a single-producer single-consumer byte ring of variable-length
 * entries: the per-thread buffer between an application thread (producer,
 * never blocks: a full ring drops the entry) and the flusher (consumer).
 *
 * Entries are 8-byte aligned, start with a struct ring_entry header, and never
 * wrap: when the tail room is too small the producer writes a pad entry and
 * starts at offset 0. head and tail are free-running byte counters; the
 * producer publishes head with release, the consumer publishes tail with release.
 */
#ifndef TT_LIB_RING_H
#define TT_LIB_RING_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

struct ring_entry {
    uint32_t len;    /* whole entry including this header, multiple of 8 */
    uint8_t tag;     /* what follows (lib/flush.c), RING_PAD for padding */
    uint8_t a, b, c; /* small fields for the tag's use */
};

#define RING_PAD 0

struct ring {
    uint8_t *buf;
    uint64_t size;                      /* power of two */
    _Alignas(64) _Atomic uint64_t head; /* producer */
    uint64_t cached_tail;               /* producer's last view of tail */
    _Alignas(64) _Atomic uint64_t tail; /* consumer */
};

/* ring_init allocates size bytes (rounded up to a power of two, >= 4096).
 * Returns 0 or TT_ENOMEM. */
int ring_init(struct ring *r, uint64_t size);
void ring_release(struct ring *r);
/* ring_close makes every later ring_reserve fail (the ring looks full
 * forever): for a thread that outlives the library instance. */
void ring_close(struct ring *r);

/* ring_reserve returns room for an entry of len bytes (rounded up to 8) or
 * NULL when the ring is full. Producer only. The entry is invisible to the
 * consumer until ring_commit. */
static inline void *ring_reserve(struct ring *r, uint32_t len)
{
    uint64_t need = (len + 7u) & ~(uint64_t)7u;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t off = head & (r->size - 1);
    uint64_t pad = (off + need > r->size) ? r->size - off : 0;
    if (head + pad + need - r->cached_tail > r->size) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head + pad + need - r->cached_tail > r->size)
            return NULL;
    }
    if (pad) {
        struct ring_entry *p = (struct ring_entry *)(r->buf + off);
        p->len = (uint32_t)pad;
        p->tag = RING_PAD;
        atomic_store_explicit(&r->head, head + pad, memory_order_release);
        off = 0;
    }
    struct ring_entry *e = (struct ring_entry *)(r->buf + off);
    e->len = (uint32_t)need;
    return e;
}

/* ring_commit publishes the entry returned by the last ring_reserve. */
static inline void ring_commit(struct ring *r, void *entry)
{
    struct ring_entry *e = (struct ring_entry *)entry;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, head + e->len, memory_order_release);
}

/* Consumer side: ring_peek returns the next entry or NULL; ring_advance(len)
 * frees bytes once processed. */
static inline struct ring_entry *ring_peek(struct ring *r, uint64_t pos, uint64_t head)
{
    if (pos == head)
        return NULL;
    return (struct ring_entry *)(r->buf + (pos & (r->size - 1)));
}
static inline void ring_release_to(struct ring *r, uint64_t pos)
{
    atomic_store_explicit(&r->tail, pos, memory_order_release);
}

#endif
