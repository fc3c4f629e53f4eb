/*
 * db.h - the metric store as a whole (docs/design/tsdb.md, "## The store"):
 * the head (head.h: WAL + in-memory chunks) plus the persisted blocks
 * (block.h) under one data directory, and the maintenance that moves data
 * from one to the other:
 *
 *   DATA/wal/          the head's WAL
 *   DATA/blocks/<id>/  immutable blocks, each within one aligned window
 *
 *  - cut: once the head spans more than 1.5 block ranges (2 h by default),
 *    its oldest aligned block range is written as a level-1 block and
 *    dropped from the head (and from the WAL by a checkpoint);
 *  - flush (db_flush, POST /api/tt/admin/flush): everything in the head is
 *    written to blocks now, then compaction and retention run;
 *  - compaction: the blocks of one aligned compaction window (24 h by
 *    default) are merged into one block once the head has moved past the
 *    window (or on flush), overlapping blocks included (samples deduplicated
 *    by timestamp); compacted blocks use chunks as long as the window and a
 *    stronger page compression;
 *  - rollups: a block whose newest sample is older than rollup_after (40 h,
 *    as Thanos downsamples) is given 5 min and 1 h rollups (rewritten once,
 *    by its compaction or on its own), which long-range queries use;
 *  - retention: blocks whose newest sample is older than the retention
 *    period (measured from the newest sample of the store), and the oldest
 *    blocks while the store is over its size limit, are deleted.
 *
 * Invariants:
 *  - A sample acknowledged by a head commit is, at every moment, in the head
 *    (WAL) or in a complete block, or both (a crash between a block write and
 *    the WAL checkpoint leaves both; reads deduplicate, and the head refuses
 *    to replay what blocks hold).
 *  - Once a range is written to a block, the head refuses samples older than
 *    its end (head_set_min_valid): nothing lands in the head behind a block.
 *  - Readers take references on the blocks they read; a block compacted away
 *    or expired is deleted from disk when its last reader is done.
 *  - A block that cannot be opened (damaged) is reported with its directory
 *    name, left on disk and skipped; the rest is served.
 *
 * Threads: appends go to db_head; queries (db_select, db_label_*) run
 * concurrently with them and with maintenance; maintenance calls (db_cut,
 * db_flush, the background thread) are serialized internally.
 */
#ifndef TT_TSDB_DB_H
#define TT_TSDB_DB_H

#include <stddef.h>
#include <stdint.h>
#include "store/tsdb/block.h"
#include "store/tsdb/head.h"

struct db_options {
    struct head_options head;
    int64_t block_range_ms;   /* level-1 block length, aligned (2 h); also the head's chunk range */
    int64_t compact_range_ms; /* compaction window, a multiple of block_range (24 h); 0: none */
    int64_t retention_ms;     /* keep this much history (15 d); 0: forever */
    uint64_t retention_bytes; /* blocks + WAL on disk at most this (0: no limit) */
    int zstd_level;           /* page compression of blocks cut from the head (3) */
    int compact_zstd_level;   /* page compression of compacted blocks (9) */
    int rollups;              /* give old blocks 5 min and 1 h rollups (1) */
    int64_t rollup_after_ms;  /* a block gets rollups once its newest sample is
                                 this much older than the store's newest (40 h) */
    int64_t maintenance_ms;   /* background cut/compact/retention period (60 s); 0: no thread */
    size_t page_cache_bytes;  /* decompressed block pages kept for reads (64 MiB); 0: none */
};

/* db_options_default fills o with the defaults above and head_options_default. */
void db_options_default(struct db_options *o);

/* What opening found. */
struct db_open_stats {
    struct head_replay_stats head;
    uint64_t blocks;         /* blocks opened */
    uint64_t blocks_bad;     /* blocks skipped: damaged (named in the log) */
    uint64_t blocks_removed; /* leftovers removed: .tmp, .deleted, compacted sources */
};

struct db;

/* Called with one line for every block that cannot be opened and every
 * maintenance failure (the server logs them). */
typedef void (*db_log_fn)(void *arg, const char *msg);

/* db_open opens the store in dir (created if missing): opens every block,
 * removes leftovers of interrupted writes and compactions, then opens the
 * head (WAL replay; samples older than the newest block's end are dropped
 * as already persisted). o may be NULL (defaults); log (may be NULL) gets
 * problems; st (may be NULL) the figures. Starts the maintenance thread when
 * o->maintenance_ms > 0. Returns 0 with *out (free with db_close), or the
 * head's errors (head_open) with a message. */
int db_open(struct db **out, const char *dir, const struct db_options *o, db_log_fn log,
            void *log_arg, struct db_open_stats *st, char *err, size_t errlen);

/* db_close stops the maintenance thread, closes the head (final WAL sync)
 * and the blocks, frees d (NULL is fine). No query may be running. Returns
 * 0 or TT_EIO (the WAL sync failed). */
int db_close(struct db *d);

/* db_head: the head, for appending (valid until db_close). */
struct head *db_head(struct db *d);

/* What maintenance did. */
struct db_maint_stats {
    uint64_t blocks_written;   /* level-1 blocks cut from the head */
    uint64_t blocks_compacted; /* blocks merged away */
    uint64_t blocks_expired;   /* blocks deleted by retention */
    uint64_t blocks_rolled_up; /* blocks rewritten with rollups */
    uint64_t samples_written;  /* samples written into level-1 blocks */
};

/* db_maintain runs one round of maintenance: cut what the head holds beyond
 * 1.5 block ranges, compact closed windows, apply retention. db_flush
 * writes every sample the head holds into blocks (the head keeps accepting
 * newer samples; older ones are then refused), compacts every window with
 * more than one block, and applies retention. Both return 0, or TT_EIO /
 * TT_ESYS / TT_ENOMEM with a message (what was done before the failure
 * stays done; nothing is lost: the head keeps what was not written). st may
 * be NULL. */
int db_maintain(struct db *d, struct db_maint_stats *st, char *err, size_t errlen);
int db_flush(struct db *d, struct db_maint_stats *st, char *err, size_t errlen);

/* ---- reading ----------------------------------------------------------------- */

/* db_series_fn receives one series: its labels (borrowed for the call) and
 * its samples in [mint, maxt], strictly increasing in time (n >= 1; with
 * labels_only, ts and vs are NULL and n is 0). Returns 0 or an error code
 * that db_select passes back. */
typedef int (*db_series_fn)(void *arg, const struct labels *ls, const int64_t *ts, const double *vs,
                            size_t n);

/* db_select calls emit, in label order, once for every series every
 * matcher accepts that has samples in [mint, maxt] in the head or in any
 * block, with the samples of all of them merged (the same timestamp in two
 * places is given once). With labels_only, samples are not read: series
 * whose chunks overlap the range are listed. Returns 0, emit's code, or
 * TT_ECORRUPT (a damaged block page: message in err, naming the block),
 * TT_ENOMEM. */
int db_select(struct db *d, struct matcher *const *ms, size_t nms, int64_t mint, int64_t maxt,
              int labels_only, db_series_fn emit, void *arg, char *err, size_t errlen);

/* One rollup interval of a series: the samples with t in (t - res, t], t a
 * multiple of res, stale markers left out (as PromQL range selections do).
 * min and max ignore NaNs unless every value is NaN; count >= 1; last is the
 * value at last_t, the newest sample's time. */
struct db_rollup_point {
    int64_t t, last_t;
    double min, max, sum, count, last;
};

/* db_rollup_fn receives one series' rollup points in time order (n >= 1). */
typedef int (*db_rollup_fn)(void *arg, const struct labels *ls, const struct db_rollup_point *p,
                            size_t n);

/* db_select_rollup is db_select for rollups: for every selected series, the
 * points of resolution res_ms (BLOCK_ROLLUP_5M_MS or BLOCK_ROLLUP_1H_MS) of
 * the intervals inside (mint, maxt] (both multiples of res_ms) that hold a
 * sample. Blocks' stored rollups are used where the sources do not overlap
 * in time; the head's samples (and overlapping sources) are rolled up from
 * raw samples, so the result is always that of the raw data. Returns as
 * db_select; TT_EINVAL for an unaligned range or resolution. */
int db_select_rollup(struct db *d, struct matcher *const *ms, size_t nms, int64_t mint,
                     int64_t maxt, int64_t res_ms, db_rollup_fn emit, void *arg, char *err,
                     size_t errlen);

/* db_label_names / db_label_values: the union over the head and the blocks
 * overlapping [mint, maxt] of index_label_names / index_label_values (sorted,
 * each once). The strings are copied into out->owned (free everything with
 * db_strs_release). 0 or TT_ENOMEM. */
struct db_strs {
    const char **v;
    size_t n;
    char *owned; /* one allocation holding every string */
};
int db_label_names(struct db *d, struct matcher *const *ms, size_t nms, int64_t mint, int64_t maxt,
                   struct db_strs *out);
int db_label_values(struct db *d, const char *name, struct matcher *const *ms, size_t nms,
                    int64_t mint, int64_t maxt, struct db_strs *out);
void db_strs_release(struct db_strs *s);

/* Figures for /metrics. */
struct db_stats {
    uint64_t blocks;       /* gauge */
    uint64_t block_bytes;  /* gauge: bytes of every block's files */
    uint64_t block_series; /* gauge: sum over blocks */
    uint64_t block_samples;
    int64_t min_t, max_t; /* time range held by blocks (INT64_MAX/MIN: none) */
    uint64_t cuts, compactions, expired, failures; /* counters */
    uint64_t rollup_selects;  /* db_select_rollup calls served from stored rollups */
    uint64_t rollup_fallback; /* ... computed from raw samples */
    uint64_t bad_blocks;      /* gauge: skipped at open */
};
void db_stats(struct db *d, struct db_stats *st);

#endif
