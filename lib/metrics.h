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
#define METRICS_MAX_PAGES  2048 /* 1M cells per thread at most */

/* Limits on what tt_*_new accepts (longer is bad input). */
#define METRICS_NAME_MAX   255  /* metric and label names, bytes */
#define METRICS_VALUE_MAX  1024 /* label values, bytes */
#define METRICS_LABELS_MAX 32   /* label pairs per handle */

/* A handle's kind; the values are those of enum rec_metric_kind. */
enum metrics_kind {
    METRICS_COUNTER = 1,
    METRICS_GAUGE = 2,
    METRICS_HISTOGRAM = 3,
};

/* Per-thread cells, indexed by a handle's cell index. Pages are allocated on
 * the owning thread the first time it touches a handle on that page. */
struct metrics_thread {
    _Atomic(_Atomic uint64_t *) pages[METRICS_MAX_PAGES];
};

struct metrics {
    pthread_mutex_t lock; /* registry: creation of handles, flush */
    void *impl;           /* private to metrics.c */
};

/* metrics_init sets up an empty registry. Returns 0 or TT_ENOMEM/TT_ESYS.
 * metrics_release frees it and every handle (handles dangle afterwards); the
 * threads' cells must have been released with metrics_thread_release first. */
int metrics_init(struct metrics *m);
void metrics_release(struct metrics *m);

/* metrics_handle_new finds or creates the handle of kind for name and labels
 * (a NULL-terminated key, value, ... list, may be NULL; label order does not
 * matter). help (may be NULL) is kept from the first creation. precision_bits
 * (histograms only) is 0 for LOGLIN_P_DEFAULT or 1..7. On success *out is the
 * handle (a tt_counter, tt_gauge or tt_histogram pointer), owned by m. Returns
 * 0, TT_EINVAL for a bad name, label or precision, TT_EEXIST when the name is
 * registered as another kind (or a histogram with another precision),
 * TT_EFULL when all METRICS_PAGE_CELLS * METRICS_MAX_PAGES cells are taken,
 * or TT_ENOMEM. Takes m->lock. */
int metrics_handle_new(struct metrics *m, enum metrics_kind kind, const char *name,
                       const char *help, const char *const *labels, int precision_bits, void **out);

/* The hot path on an explicit thread's cells (the public tt_* functions call
 * these with the calling thread's). Only mt's own thread may call them. Each
 * returns 0, TT_EINVAL (NULL or wrong-kind handle, or a value a counter or
 * histogram refuses: negative, NaN or infinite for counters, NaN or infinite
 * for histograms), or TT_ENOMEM when the first touch of a page, histogram
 * block or bucket chunk could not allocate (the value is lost and counted in
 * metrics_dropped). */
int metrics_counter_add_mt(struct metrics_thread *mt, tt_counter *c, double v);
int metrics_histogram_observe_mt(struct metrics_thread *mt, tt_histogram *h, double v);

/* metrics_dropped: observations lost to allocation failures so far. */
uint64_t metrics_dropped(struct metrics *m);

/* metrics_atfork_child re-initialises m->lock in a forked child (where the
 * thread that held it does not exist). */
void metrics_atfork_child(struct metrics *m);

/* metrics_thread_init / _release: set up a new thread's cells; release folds a
 * finished thread's cells into the registry's retired totals and frees them
 * (called by the flusher after the thread exited; the thread must not record
 * concurrently). After release mt is empty again and may be reused. */
void metrics_thread_init(struct metrics_thread *mt);
void metrics_thread_release(struct metrics *m, struct metrics_thread *mt);

/* metrics_flush appends one REC_METRIC record per handle to body (counters
 * and histograms summed over threads[0..n) plus retired totals; gauges read),
 * stamped hlc and now_ns. Returns the number of records appended, or a
 * negative TT_E* (body's error). */
int metrics_flush(struct metrics *m, struct tt_thread *const *threads, size_t n, struct wbuf *body,
                  tt_hlc hlc, int64_t now_ns);

#endif
