/*
 * tt_int.h - libtelltale's internal structures, shared by the files of lib/.
 *
 * One struct tt_ctx per process (tt__ctx), created by tt_init. Each application
 * thread that records gets a struct tt_thread on first use (the only
 * allocation on its path, and the only lock it ever takes, to join the
 * thread list); after that its records go into its own ring buffer, which the
 * flusher thread drains into batches in the spool.
 */
#ifndef TT_LIB_INT_H
#define TT_LIB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include "telltale.h"
#include "core/batch.h"
#include "core/hlc.h"
#include "lib/metrics.h"
#include "lib/ring.h"
#include "lib/spool.h"

#define TT_TLS __thread __attribute__((tls_model("initial-exec")))

/* Process-wide counters (tt_stats); relaxed atomics, bumped off the hot path
 * or per thread (struct tt_thread_stats) and summed on read. */
struct tt_counters {
    _Atomic uint64_t records_flushed;
    _Atomic uint64_t records_dropped_spool;
    _Atomic uint64_t batches_written;
    _Atomic uint64_t bytes_written;
    _Atomic uint64_t segments_dropped;
    _Atomic uint64_t write_errors;
    _Atomic uint64_t bad_input;
    _Atomic uint64_t threads;
    _Atomic uint64_t flushes;
    /* folded in from threads that exited */
    _Atomic uint64_t spans_recorded;
    _Atomic uint64_t spans_unsampled;
    _Atomic uint64_t spans_filtered;
    _Atomic uint64_t records_buffered;
    _Atomic uint64_t records_dropped_full;
};

/* Per-thread counters: written by the owner with relaxed stores (no RMW). */
struct tt_thread_stats {
    _Atomic uint64_t spans_recorded;
    _Atomic uint64_t spans_unsampled;
    _Atomic uint64_t spans_filtered;
    _Atomic uint64_t records_buffered;
    _Atomic uint64_t records_dropped_full;
};

struct tt_thread {
    struct ring ring; /* this thread writes, the flusher reads */
    tt_hlc last_hlc;  /* last stamp this thread handed out */
    uint64_t rng;     /* tt_rand64 state for ids and sampling */
    struct tt_thread_stats stats;
    struct metrics_thread metrics;
    _Atomic int exited; /* set by the thread-exit destructor */
    uint32_t gen;       /* tt__gen when registered */
    pid_t tid;
    struct tt_thread *next; /* ctx->threads list, under ctx->threads_lock */
    void *flush_state;      /* flusher-private per-thread state (flush.c) */
};

struct tt_ctx {
    tt_config cfg;
    struct hlc hlc;
    uint64_t origin_id;
    char origin[BATCH_ORIGIN_MAX]; /* "node\0service/pid" */
    uint16_t origin_len;
    uint64_t next_seq;         /* flusher only */
    uint64_t sample_threshold; /* sample_ratio scaled to 2^64 */
    int sample_all;
    /* rate limit: a token bucket shared by root spans only */
    _Atomic int64_t rl_next_ns; /* next time a token is available */
    int64_t rl_interval_ns;     /* 0 = no limit */
    int have_filters;
    pthread_key_t thread_key;
    pthread_mutex_t threads_lock;
    struct tt_thread *threads;
    struct tt_counters counters;
    struct metrics metrics;
    struct spool spool;
    /* flusher */
    pthread_t flusher;
    int flusher_running;
    pthread_mutex_t flush_lock;
    pthread_cond_t flush_cond;   /* wakes the flusher */
    pthread_cond_t flushed_cond; /* signals tt_flush waiters */
    uint64_t flush_requests, flush_done;
    int stopping;
    void *flush_impl; /* flush.c private */
};

extern struct tt_ctx *tt__ctx;
/* Bumped by every tt_init and tt_shutdown: thread state of another
 * generation is stale and re-registered on the slow path. */
extern _Atomic uint32_t tt__gen;

/* tt_thread_get returns this thread's state, registering it on first use;
 * NULL when the library is not initialised or the allocation failed. */
struct tt_thread *tt_thread_slow(struct tt_ctx *ctx);
extern TT_TLS struct tt_thread *tt__self;

static inline struct tt_thread *tt_thread_get(void)
{
    struct tt_thread *t = tt__self;
    if (__builtin_expect(t != NULL, 1) &&
        __builtin_expect(t->gen == atomic_load_explicit(&tt__gen, memory_order_relaxed), 1))
        return t;
    struct tt_ctx *ctx =
        atomic_load_explicit((_Atomic(struct tt_ctx *) *)&tt__ctx, memory_order_acquire);
    return ctx ? tt_thread_slow(ctx) : NULL;
}

/* Bump a per-thread counter (single writer: no read-modify-write atomics). */
#define TT_TSTAT_INC(t, field)                                                               \
    atomic_store_explicit(&(t)->stats.field,                                                 \
                          atomic_load_explicit(&(t)->stats.field, memory_order_relaxed) + 1, \
                          memory_order_relaxed)
#define TT_CSTAT_ADD(ctx, field, n) \
    atomic_fetch_add_explicit(&(ctx)->counters.field, (n), memory_order_relaxed)

/* Stamp a local record on thread t at physical time now_ns: strictly after
 * everything t stamped before and after the process HLC as last published
 * (receives, sends, state changes), never behind physical time. Does not
 * write the shared clock (see docs/design/hlc.md for why and what it means). */
tt_hlc tt_stamp_local(struct tt_ctx *ctx, struct tt_thread *t, int64_t now_ns);
/* Stamp an event that must be ordered process-wide (send, state change):
 * ticks the shared HLC, also after t's last stamp. */
tt_hlc tt_stamp_global(struct tt_ctx *ctx, struct tt_thread *t, int64_t now_ns);

/* splitmix64 on the thread's state (rng, a Weyl sequence seeded at random
 * per thread): a bijection of the state, so a thread repeats no output within
 * 2^64 draws. The draws of one span depend on each other by one add only,
 * not by the whole mix, so they run in parallel. */
static inline uint64_t tt_rand64(struct tt_thread *t)
{
    uint64_t z = (t->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

#endif
