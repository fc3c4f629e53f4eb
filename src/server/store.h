/*
 * store.h - what the server's APIs read and write: the metric store (db.h:
 * the TSDB head and its blocks), published once the WAL replay at start-up
 * is done (until then the APIs answer 503 and /-/ready says not ready), and
 * the PromQL engine's view of it.
 */
#ifndef TT_SERVER_STORE_H
#define TT_SERVER_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "query/promql/engine.h"
#include "server/api_query.h"
#include "store/tsdb/db.h"

struct server_store {
    _Atomic(struct db *) db;       /* NULL while opening */
    struct promql_storage storage; /* the engine reads the store through this */
    struct api_query_ctx query;    /* the query API: storage and parse options */
    struct log *log;               /* block problems and maintenance failures (may be NULL) */
};

struct server;

/* server_store_init prepares st (no head yet) and registers the APIs that use
 * it on srv, before the server starts: /api/v1/import/prometheus,
 * /api/v1/write, /api/v1/query, /api/v1/query_range, /api/v1/series, /api/v1/labels,
 * /api/v1/label/<name>/values, POST /api/tt/admin/flush, and the store's
 * figures on /metrics. Returns 0 or TT_ENOMEM/TT_EINVAL. st must outlive
 * srv. */
int server_store_init(struct server_store *st, struct server *srv);

/* server_store_open opens the store on data_dir with options o (NULL:
 * defaults; the progress callback of o->head is called with WAL bytes read
 * of total), then publishes it: the APIs serve from then on. os (may be
 * NULL) gets what opening found. Returns 0 or db_open's error with a
 * message in err. */
int server_store_open(struct server_store *st, const char *data_dir, const struct db_options *o,
                      struct db_open_stats *os, char *err, size_t errlen);

/* server_store_close unpublishes and closes the store (after the HTTP
 * server stopped). Returns 0 or TT_EIO (the final WAL sync failed). */
int server_store_close(struct server_store *st);

/* server_store_db returns the store, or NULL while it is being opened. */
static inline struct db *server_store_db(struct server_store *s)
{
    return atomic_load_explicit(&s->db, memory_order_acquire);
}

/* server_store_head returns the store's head (for appending), or NULL while
 * the store is being opened. */
static inline struct head *server_store_head(struct server_store *s)
{
    struct db *d = server_store_db(s);
    return d ? db_head(d) : NULL;
}

#endif
