/*
 * ev_indexer.h - the thread that tails the record log (server/reclog.h) into
 * the events store (store/events/evstore.h): it reads every durable batch
 * after the store's persisted cursor, indexes its events, and commits the
 * store with the new cursor when it has caught up (or every 64 batches), so
 * the store's data is fdatasync'd before its cursor moves
 * (docs/design/events.md, "Indexing").
 */
#ifndef TT_SERVER_EV_INDEXER_H
#define TT_SERVER_EV_INDEXER_H

#include <stdint.h>
#include "core/log.h"
#include "server/reclog.h"
#include "store/events/evstore.h"

struct ev_indexer;

struct ev_indexer_config {
    struct reclog *rl;  /* borrowed; outlives the indexer */
    struct evstore *st; /* borrowed; the indexer is its only writer */
    struct log *log;    /* borrowed, may be NULL */
    unsigned poll_ms;   /* sleep when caught up; 0: 150 */
};

/* ev_indexer_start starts the thread. Returns 0 with *out (stop with
 * ev_indexer_stop), TT_ENOMEM or TT_ESYS (thread creation failed). */
int ev_indexer_start(struct ev_indexer **out, const struct ev_indexer_config *cfg);

/* ev_indexer_stop stops the thread after its current round (committing what
 * it indexed), joins it and frees ix (NULL is fine). */
void ev_indexer_stop(struct ev_indexer *ix);

/* ev_indexer_wait returns 0 once everything durable in the record log when
 * it was called is indexed and committed, TT_ESTATE if timeout_ms passed
 * first. For tests and a clean shutdown. */
int ev_indexer_wait(struct ev_indexer *ix, unsigned timeout_ms);

struct ev_indexer_stats {
    uint64_t batches; /* read from the record log */
    uint64_t events;  /* indexed */
    uint64_t bad;     /* batches or stretches skipped as damaged */
    uint64_t commits;
    uint64_t errors; /* failed commits (retried) */
};
void ev_indexer_get_stats(struct ev_indexer *ix, struct ev_indexer_stats *s);

#endif
