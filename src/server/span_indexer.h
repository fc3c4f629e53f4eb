/*
 * span_indexer.h - the thread that feeds the span store from the record log:
 * it reads each durable batch from the store's persisted cursor
 * (reclog_read), skips batches it has indexed before (dedup by origin id and
 * sequence number: a batch can be in the log twice after a crash), decodes
 * the REC_SPAN records and adds them to the store, then commits the store
 * with the new cursor once the log is drained (or at least every second
 * while it is not). The service of a span is its "service.name" attribute,
 * else the process part of the batch origin ("node\0service/pid") before the
 * '/'; its node is the origin's node part.
 *
 * Threads: span_indexer_start runs one thread; the store is borrowed and
 * queried by other threads meanwhile (it has its own lock).
 */
#ifndef TT_SPAN_INDEXER_H
#define TT_SPAN_INDEXER_H

#include <stddef.h>
#include <stdint.h>
#include "core/batch.h"
#include "core/log.h"
#include "store/spans/spanstore.h"

struct reclog;
struct span_indexer;

struct span_indexer_stats {
    uint64_t batches; /* read from the log */
    uint64_t repeats; /* skipped as already indexed */
    uint64_t spans;   /* added to the store */
    uint64_t bad;     /* records or stretches that did not decode */
    uint64_t commits;
};

/* span_indexer_new makes an indexer of rl into ss (both borrowed; they must
 * outlive it). poll_ms 0 means 150. log may be NULL. Returns 0 or
 * TT_ENOMEM. */
int span_indexer_new(struct span_indexer **out, struct spanstore *ss, struct reclog *rl,
                     unsigned poll_ms, struct log *log);

/* Called on the indexer's thread with each span added to the store (not
 * for repeats); s and its strings are valid during the call only. */
typedef void (*span_indexer_observe_fn)(void *arg, const struct span_row *s);

/* span_indexer_set_observer sets fn(arg, span) (NULL: none); call it before
 * span_indexer_start. The span metrics (span_metrics.h) watch this way. */
void span_indexer_set_observer(struct span_indexer *ix, span_indexer_observe_fn fn, void *arg);

/* span_indexer_start starts the thread. Returns 0, TT_ESTATE (started),
 * TT_ESYS (no thread). */
int span_indexer_start(struct span_indexer *ix);

/* span_indexer_step indexes what the log holds now, then commits; the
 * thread's loop body, exposed for tests (do not call it while the thread
 * runs). Returns the number of batches read or a TT_E* code (message in
 * err). */
int span_indexer_step(struct span_indexer *ix, char *err, size_t errlen);

/* span_indexer_add_batch indexes one whole batch (raw bytes as the record
 * log holds them) without committing: for span_indexer_step and tests.
 * Returns the number of spans added, or TT_ECORRUPT/TT_EIO/TT_ENOMEM. */
int span_indexer_add_batch(struct span_indexer *ix, const uint8_t *p, size_t len, char *err,
                           size_t errlen);

/* span_indexer_stop stops the thread (committing what it indexed); safe
 * to call twice or when never started. */
void span_indexer_stop(struct span_indexer *ix);

void span_indexer_get_stats(struct span_indexer *ix, struct span_indexer_stats *st);

/* span_indexer_free stops and frees ix (NULL is fine). */
void span_indexer_free(struct span_indexer *ix);

/* span_service_from_origin: the service and node named by a batch origin
 * ("node\0service/pid"): pointers into origin. */
void span_service_from_origin(const char *origin, size_t len, struct rec_str *service,
                              struct rec_str *node);

#endif
