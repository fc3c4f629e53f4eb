/*
 * store.h - what the server's APIs read and write: the TSDB head, published
 * once the WAL replay at start-up is done (until then the APIs answer 503
 * and /-/ready says not ready), and the PromQL engine's view of it.
 */
#ifndef TT_SERVER_STORE_H
#define TT_SERVER_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "query/promql/engine.h"

struct head;

struct server_store {
    _Atomic(struct head *) head;   /* NULL while opening */
    struct promql_storage storage; /* the engine reads the head through this */
};

struct server;
struct head_replay_stats;

/* server_store_init prepares st (no head yet) and registers the APIs that use
 * it on srv, before the server starts: /api/v1/import/prometheus,
 * /api/v1/write, /api/v1/query, /api/v1/query_range, /api/v1/series, /api/v1/labels,
 * /api/v1/label/<name>/values, and the head's figures on /metrics. Returns 0
 * or TT_ENOMEM/TT_EINVAL. st must outlive srv. */
int server_store_init(struct server_store *st, struct server *srv);

/* server_store_open opens the head on data_dir, replaying its WAL (progress,
 * may be NULL, is called with bytes read of total), then publishes it: the
 * APIs serve from then on. rs (may be NULL) gets the replay figures. Returns
 * 0 or the head's error with a message in err. */
int server_store_open(struct server_store *st, const char *data_dir,
                      void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg,
                      struct head_replay_stats *rs, char *err, size_t errlen);

/* server_store_close unpublishes and closes the head (after the HTTP server
 * stopped). Returns 0 or TT_EIO (the final WAL sync failed). */
int server_store_close(struct server_store *st);

/* server_store_head returns the head, or NULL while it is being opened. */
static inline struct head *server_store_head(struct server_store *s)
{
    return atomic_load_explicit(&s->head, memory_order_acquire);
}

#endif
