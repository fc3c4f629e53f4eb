/*
 * metrics.h - libtelltale's counters, gauges and histograms (internal).
 *
 * Counters and histograms are aggregated per thread without atomics that other
 * threads write (each thread owns its cells; the flusher only reads them with
 * relaxed atomic loads), gauges are one shared atomic each. The flusher sums
 * the threads' cells and emits one REC_METRIC record per handle per flush.
 *
 * Ownership: struct metrics lives in struct tt_ctx; struct metrics_thread
 * lives in struct tt_thread and is touched only by its thread (writes) and the
 * flusher (reads, and release after the thread died).
 */
#ifndef TT_LIB_METRICS_H
#define TT_LIB_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "telltale.h"
#include "core/buf.h"

struct tt_thread;

#define METRICS_PAGE_CELLS 512
#define METRICS_MAX_PAGES 2048 /* 1M cells per thread at most */

/* Per-thread cells, indexed by a handle's cell index. Pages are allocated on
 * the owning thread the first time it touches a handle on that page. */
struct metrics_thread {
    _Atomic(_Atomic uint64_t *) pages[METRICS_MAX_PAGES];
};

struct metrics {
    pthread_mutex_t lock; /* registry: creation of handles, flush */
    void *impl;           /* private to metrics.c */
};

int metrics_init(struct metrics *m);
void metrics_release(struct metrics *m);

/* metrics_thread_init / _release: set up a new thread's cells; release folds a
 * finished thread's cells into the registry's retired totals and frees them
 * (called by the flusher after the thread exited). */
void metrics_thread_init(struct metrics_thread *mt);
void metrics_thread_release(struct metrics *m, struct metrics_thread *mt);

/* metrics_flush appends one REC_METRIC record per handle to body (counters
 * and histograms summed over threads[0..n) plus retired totals; gauges read),
 * stamped hlc and now_ns. Returns the number of records appended, or a
 * negative TT_E* (body's error). */
int metrics_flush(struct metrics *m, struct tt_thread *const *threads, size_t n,
                  struct wbuf *body, tt_hlc hlc, int64_t now_ns);

#endif
