/*
 * evstore.h - the events store: the REC_EVENT records of the record log,
 * kept in append-only segments of compressed blocks (store/events/evseg.h)
 * and searched by node, component, severity, name, key=value, time range and
 * text, newest first, a page at a time (docs/design/events.md).
 *
 * Invariants:
 *  - DATA/events/STATE names the record-log place indexed up to and the
 *    segment length that holds exactly what was indexed before it; it is
 *    replaced (write, fsync, rename, fsync dir) only after that data was
 *    fdatasync'd, and at open anything past it is cut. So a crash at any
 *    point re-indexes from STATE and never duplicates or loses an event.
 *  - A batch (origin_id, first_seq) is indexed once: batches seen again
 *    (the record log can hold a batch twice after some crashes) are skipped.
 *  - Event ids grow by one per event, in indexing order, and are never
 *    reused; (time_ns, id) orders results and makes the page token.
 *
 * Threads: one writer (evstore_add_batch, evstore_commit, evstore_retention)
 * and any number of searches at once.
 */
#ifndef TT_STORE_EVSTORE_H
#define TT_STORE_EVSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "core/batch.h"
#include "store/events/evseg.h"

#define EVSTORE_DEFAULT_SEGMENT_BYTES (16u << 20)
#define EVSTORE_DEFAULT_BLOCK_EVENTS  512
#define EVSTORE_MAX_KV                16
#define EVSTORE_MAX_TOKENS            16

struct evstore;

struct evstore_config {
    const char *dir; /* DATA/events; created if missing */
    /* The records kept: REC_EVENT (0 means that too), or REC_STATE for the
     * state log (store/statelog/statelog.h): a change is kept as an entry
     * with log as component, var as name and attrs value and prev. */
    uint8_t records;
    uint64_t segment_bytes;   /* 0: EVSTORE_DEFAULT_SEGMENT_BYTES */
    uint32_t block_events;    /* events per block at most; 0: default */
    uint64_t retention_bytes; /* 0: no size limit */
    int64_t retention_ns;     /* 0: keep everything */
    /* Damaged data found at open, by segment file name and offset (or the
     * STATE file, offset 0): reported, then skipped. May be NULL. */
    void (*problem)(void *arg, const char *file, uint64_t off, const char *msg);
    void *problem_arg;
};

/* evstore_open opens (creating) the store. Returns 0 with *out (free with
 * evstore_close); TT_EINVAL (cfg->records not events or state); TT_EIO (directory or file
 * unusable); TT_ENOMEM; message in err. Damaged blocks are reported through cfg->problem and
 * skipped. */
int evstore_open(struct evstore **out, const struct evstore_config *cfg, char *err, size_t errlen);

/* evstore_close frees st (NULL is fine); what was not committed is lost
 * (it is indexed again from the record log). */
void evstore_close(struct evstore *st);

/* evstore_cursor: the record-log place indexed up to (persisted). */
void evstore_cursor(struct evstore *st, uint32_t *seg, uint64_t *off);

/* evstore_add_batch indexes the records of one batch (REC_EVENT, or REC_STATE) (h, its raw
 * body), unless (origin_id, first_seq) was indexed before. The node and
 * process come from the batch origin ("node\0process"). Returns the number
 * of events added (0 for a duplicate or a batch without events), or
 * TT_ECORRUPT (a record does not decode: nothing of the batch is added;
 * message in err), TT_EIO, TT_ENOMEM. Not visible to searches before
 * evstore_commit. */
int evstore_add_batch(struct evstore *st, const struct batch_hdr *h, const uint8_t *body,
                      size_t body_len, char *err, size_t errlen);

/* evstore_commit writes out the pending events, fdatasyncs them, makes them
 * searchable and then persists (rl_seg, rl_off) as the record-log place
 * indexed up to. Returns 0 or TT_EIO (message in err; the store keeps its
 * previous persisted state and should be reopened). */
int evstore_commit(struct evstore *st, uint32_t rl_seg, uint64_t rl_off, char *err, size_t errlen);

/* evstore_retention deletes whole oldest segments (never the one being
 * written) whose newest event is older than now_ns - retention_ns, then
 * while the segments take more than retention_bytes. Returns the number of
 * segments deleted. */
int evstore_retention(struct evstore *st, int64_t now_ns);

struct evstore_kv {
    const char *key;
    const char *value;
};

struct evstore_query {
    const char *node, *component, *name; /* exact; NULL: any */
    int min_severity;                    /* 0: any */
    struct evstore_kv kv[EVSTORE_MAX_KV];
    size_t nkv;
    const char *text; /* tokens that must all appear in the message or
                         string values (case-insensitive); NULL: none */
    int64_t start_ns; /* inclusive; INT64_MIN: open */
    int64_t end_ns;   /* inclusive; INT64_MAX: open */
    uint64_t hlc_min; /* inclusive HLC range; 0 .. UINT64_MAX: open */
    uint64_t hlc_max;
    size_t limit;          /* 1..10000 */
    int has_after;         /* page token: only events after (older than) */
    int64_t after_time_ns; /* (after_time_ns, after_id) in newest-first order */
    uint64_t after_id;
};

/* evstore_query_init: any event, open range, limit 100. */
void evstore_query_init(struct evstore_query *q);

/* One result: ev's strings and attrs point into mem (owned). */
struct evstore_hit {
    struct evseg_event ev;
    uint8_t *mem;
};

struct evstore_result {
    struct evstore_hit *hits; /* newest first: time_ns, then id, descending */
    size_t n;
    int more; /* more events match after the last hit */
    /* what the search did, for tests and measurements */
    uint64_t blocks_total, blocks_read, events_scanned;
    uint64_t problems; /* blocks that failed to read (reported in err) */
};

/* evstore_search runs q. Returns 0 with *res filled (release with
 * evstore_result_release, also after an error); TT_EINVAL (bad query:
 * limit, too many kv or tokens); TT_ENOMEM. A block that cannot be read
 * (damaged since open) is skipped and counted, with a message in err. */
int evstore_search(struct evstore *st, const struct evstore_query *q, struct evstore_result *res,
                   char *err, size_t errlen);
void evstore_result_release(struct evstore_result *res);

struct evstore_stats {
    uint64_t events; /* searchable */
    uint64_t blocks;
    uint64_t segments;
    uint64_t bytes;    /* segment bytes on disk */
    uint64_t problems; /* damaged stretches found at open */
    uint64_t duplicates;
};
void evstore_get_stats(struct evstore *st, struct evstore_stats *s);

#endif
