/*
 * head.h - the TSDB head: the in-memory part of the metric store that ingest
 * appends to and queries read (docs/design/tsdb.md, "## Head").
 *
 * A head lives on a data directory: it owns DATA/wal (wal.h), and on open it
 * replays the WAL so that every sample whose commit returned 0 before a crash
 * or a restart is back. Per series it keeps the labels (in the series index,
 * index.h), one open head chunk (chunk.h, a Gorilla-style bit stream), a list
 * of sealed chunks (sealed_codec.h, cut at 120 samples or at an aligned chunk
 * range boundary, 2 h by default) and a small sorted out-of-order buffer.
 *
 * Invariants:
 *  - Every sample visible to a query was written to the WAL by a commit that
 *    returned 0 (or was replayed from it); uncommitted or rolled-back samples
 *    are never visible.
 *  - Per series, samples have unique timestamps: an exact duplicate (same
 *    time, same value bits) is ignored; the same time with different value
 *    bits is refused (TT_EEXIST, "duplicate sample for timestamp").
 *  - Samples older than the series' newest time by more than the
 *    out-of-order window are refused (TT_ERANGE); younger late samples are
 *    accepted into the out-of-order buffer, merged on read and into the chunks
 *    when the buffer fills or a chunk is cut.
 *  - Stale markers (CHUNK_STALE_NAN_BITS) are samples like any other.
 *  - A chunk never spans an aligned chunk-range boundary (k * range).
 *
 * Threads: any number of appenders (one per thread) and queriers (one per
 * thread) may run at once, together with head_truncate and head_stats. Series
 * are guarded by striped mutexes held only to append, to copy a series'
 * chunk bytes for a query, or to drop chunks; no lock is held while a query
 * decodes chunks. A commit becomes visible series by series: a concurrent
 * query may see some series of a commit that is being applied and not yet
 * others, but never a sample that was not committed.
 */
#ifndef TT_TSDB_HEAD_H
#define TT_TSDB_HEAD_H

#include <stddef.h>
#include <stdint.h>
#include "store/tsdb/index.h"
#include "store/tsdb/labels.h"
#include "store/tsdb/matcher.h"
#include "store/tsdb/wal.h"

#define HEAD_DEF_CHUNK_RANGE_MS INT64_C(7200000) /* 2 h, as Prometheus */
#define HEAD_DEF_OOO_WINDOW_MS  INT64_C(600000)  /* 10 min */
#define HEAD_DEF_CHUNK_SAMPLES  120
#define HEAD_MAX_CHUNK_RANGE_MS INT64_C(2147483647) /* a chunk spans < 2^31 ms */
/* Most samples one commit may carry (head_appender_add returns TT_EFULL
 * beyond: commit and go on with a new batch). */
#define HEAD_APPENDER_MAX_SAMPLES (1u << 22)

struct head_options {
    int64_t chunk_range_ms; /* 1..HEAD_MAX_CHUNK_RANGE_MS; chunks are cut at k * range */
    int64_t ooo_window_ms;  /* >= 0; 0 refuses every sample older than the newest */
    uint32_t chunk_samples; /* cut a chunk at this many samples (16..1024) */
    struct wal_options wal; /* sync policy, compression, segment size */
    int no_wal;             /* tests and benchmarks only: no WAL, nothing is durable */
    /* Samples older than this are refused (TT_ERANGE) and dropped by the
     * replay: what blocks already hold (db.h). INT64_MIN: none. */
    int64_t min_valid_t;
    /* Replay progress (may be NULL): bytes of WAL read so far of total. */
    void (*progress)(void *arg, uint64_t done_bytes, uint64_t total_bytes);
    void *progress_arg;
};

/* head_options_default: 2 h chunk range, 10 min out-of-order window, 120
 * samples a chunk, wal_options_default(), WAL on, no progress callback. */
void head_options_default(struct head_options *o);

/* What opening the head found in the WAL. */
struct head_replay_stats {
    struct wal_replay_stats wal; /* files, bytes, batches, problems, ... */
    uint64_t series;             /* series created by the replay */
    uint64_t samples;            /* samples applied */
    uint64_t duplicates;         /* samples dropped as exact duplicates */
    uint64_t rejected;           /* dropped: same time, other value */
    uint64_t unknown_ref;        /* samples of a series the WAL never declared */
};

struct head;

/* head_open opens the head on data_dir (created if missing): opens
 * data_dir/wal and replays it (series, then samples in WAL order; exact
 * duplicates are dropped; the out-of-order window does not apply to replay,
 * so the order a checkpoint and later segments deliver samples in does not
 * matter). o may be NULL (defaults). rs (may be NULL) gets the replay
 * figures. Returns 0 with *out (free with head_close); TT_EINVAL (bad
 * options); TT_EIO/TT_ESYS (directory or WAL unusable); TT_ENOMEM; message in
 * err. Damaged WAL data does not fail the open (wal.h: it is reported in
 * rs->wal.problems and skipped). */
int head_open(struct head **out, const char *data_dir, const struct head_options *o,
              struct head_replay_stats *rs, char *err, size_t errlen);

/* head_close syncs and closes the WAL and frees the head, its index and every
 * string it handed out (NULL is fine). No other call may be running or start.
 * Returns 0 or TT_EIO (the final WAL sync failed; h is freed anyway). */
int head_close(struct head *h);

/* head_index returns the head's series index (for listing; valid until
 * head_close). */
struct index *head_index(struct head *h);

/* ---- appending ---------------------------------------------------------------
 *
 * An appender gathers one batch (one HTTP request, one scrape): add() many
 * times, then commit() or rollback(). The rule, so that nothing is half
 * applied:
 *  - add() checks the sample against what is committed; on error (TT_ERANGE
 *    too old, TT_EEXIST same time with another value, TT_EINVAL bad labels,
 *    TT_ENOMEM, TT_EFULL batch full) the appender is as if the call never
 *    happened, and the caller chooses to go on (skip the sample) or to roll
 *    the whole batch back. An exact duplicate of a committed sample returns 0
 *    and is dropped at commit.
 *  - commit() writes the whole batch as one WAL append (series records for
 *    series the WAL has not seen yet, then the samples), waits until it is
 *    durable per the WAL sync policy, then applies it. If the WAL append or
 *    the wait fails, nothing is applied (the caller must not acknowledge; the
 *    batch may still come back after a restart, like any unacknowledged
 *    write). Once written, every sample is applied except those a concurrent
 *    commit made too old or conflicting since add() checked them: these are
 *    counted in the result and in head_stats.
 *  - rollback() drops the batch. Series created by add() stay in the index
 *    (without samples they are not returned by queries).
 */

struct head_appender;

/* Series refs are handed out by head_appender_add: nonzero, stable for the
 * life of the head, for the fast path head_appender_add_ref. */
typedef uint64_t head_ref;

/* What one commit did. */
struct head_commit_result {
    uint64_t appended;   /* samples now visible (in order or out of order) */
    uint64_t ooo;        /* of which out of order */
    uint64_t duplicates; /* exact duplicates dropped */
    uint64_t too_old;    /* refused at apply: out of the window (concurrent commit) */
    uint64_t conflicts;  /* refused at apply: same time, other value */
    uint64_t new_series; /* series records written to the WAL */
};

/* head_appender_new makes an appender for h (reusable across commits, one
 * thread at a time): 0 or TT_ENOMEM. */
int head_appender_new(struct head *h, struct head_appender **out);
/* head_appender_free rolls back what is pending and frees a (NULL is fine). */
void head_appender_free(struct head_appender *a);

/* head_appender_add adds one sample of the series ls (any label order; empty
 * values are dropped as in Prometheus; the strings are borrowed for the call
 * only), creating the series when new, and returns its ref in *ref (may be
 * NULL). Errors: see the rule above; TT_EINVAL also for an empty label set,
 * an empty or repeated name; TT_ETOOBIG for too many labels or strings too
 * long (index.h). */
int head_appender_add(struct head_appender *a, const struct labels *ls, int64_t t_ms, double v,
                      head_ref *ref);
/* head_appender_add_ref is head_appender_add for a series already known by
 * its ref: no label hashing. TT_ENOTFOUND for a ref this head never gave. */
int head_appender_add_ref(struct head_appender *a, head_ref ref, int64_t t_ms, double v);
/* head_appender_pending: samples added and not yet committed. */
size_t head_appender_pending(const struct head_appender *a);
/* head_appender_commit writes, waits for and applies the batch (rule above).
 * res may be NULL. The appender is empty afterwards whatever the outcome.
 * Returns 0; TT_EIO (WAL write or sync failed; message in err); TT_ETOOBIG
 * (batch too large for one WAL batch); TT_ENOMEM. */
int head_appender_commit(struct head_appender *a, struct head_commit_result *res, char *err,
                         size_t errlen);
/* head_appender_set_origin notes that the next commit stores agent origin
 * o->origin_id's records below o->durable_end (o is copied): the commit
 * writes an origin record (wal.h) in the same WAL append as its samples, so
 * both are durable together; a commit with only origin marks (no samples)
 * is a WAL append too. Several calls for one origin keep the one with the
 * largest durable_end. Without a WAL the mark is dropped. Returns 0 or
 * TT_ENOMEM. */
int head_appender_set_origin(struct head_appender *a, const struct wal_origin *o);
/* head_origins copies the WAL's origin map (replayed at open, raised by
 * commits) into a new array in *out (the caller frees it; NULL and *n 0
 * without a WAL). Returns 0 or TT_ENOMEM. */
int head_origins(struct head *h, struct wal_origin **out, size_t *n);
/* head_appender_rollback drops every pending sample. */
void head_appender_rollback(struct head_appender *a);

/* ---- querying ----------------------------------------------------------------
 *
 *   struct head_querier *q;   head_querier_new(h, mint, maxt, &q);
 *   struct head_series_set *ss;   head_querier_select(q, ms, nms, &ss);
 *   for (size_t i = 0; i < head_series_set_count(ss); i++) {
 *       const struct labels *ls = head_series_set_labels(ss, i);
 *       struct head_iter it;   head_iter_init(&it, ss, i);
 *       while ((rc = head_iter_next(&it)) == 1) use(it.t, it.v);
 *       head_iter_release(&it);        (rc < 0: TT_ECORRUPT, TT_ENOMEM)
 *   }
 *   head_series_set_free(ss);   head_querier_free(q);
 *
 * A querier and everything made from it belong to one thread at a time. */

struct head_querier;
struct head_series_set;

/* head_querier_new makes a querier for samples with mint <= t <= maxt
 * (inclusive, milliseconds). 0 or TT_ENOMEM; TT_EINVAL if mint > maxt. */
int head_querier_new(struct head *h, int64_t mint, int64_t maxt, struct head_querier **out);
void head_querier_free(struct head_querier *q);

/* head_querier_select returns in *out the series every matcher accepts
 * (index_select's rules: a missing label is the empty value; no matcher
 * selects every series) that hold committed samples overlapping [mint, maxt],
 * sorted by labels (labels_cmp). A series appears at most once; its iterator
 * may still yield no sample when its samples only surround the range. The
 * matchers are used during the call only. Returns 0 or TT_ENOMEM. */
int head_querier_select(struct head_querier *q, struct matcher *const *ms, size_t nms,
                        struct head_series_set **out);
/* head_series_set_count: how many series the set holds. */
size_t head_series_set_count(const struct head_series_set *ss);
/* head_series_set_labels: the normalized labels of series i (< count);
 * borrowed, valid until head_series_set_free (the strings until head_close). */
const struct labels *head_series_set_labels(const struct head_series_set *ss, size_t i);
/* head_series_set_ref: the series ref of series i. */
head_ref head_series_set_ref(const struct head_series_set *ss, size_t i);
/* head_series_set_free frees the set (NULL is fine). Iterators made from it
 * must be released first. */
void head_series_set_free(struct head_series_set *ss);

/* A sample iterator over one series within the querier's [mint, maxt]. It
 * holds a private copy of the series' compressed chunks taken at
 * head_iter_init (later commits are not seen) and decodes one chunk at a
 * time. Caller-owned; after a successful next or seek, t and v are the
 * current sample. */
struct head_iter {
    int64_t t;
    double v;
    /* private */
    int64_t mint, maxt;
    uint8_t *snap; /* copied chunk entries */
    size_t snap_len, snap_pos;
    int64_t *ts; /* the decoded current chunk */
    double *vs;
    size_t cn, ci, ccap;
    struct head_sample *ooo; /* out-of-order samples in range */
    size_t on, oi;
    int err;
    int done;
    int cur;   /* t and v hold a sample */
    void *ctx; /* sealed codec scratch */
};

/* head_iter_init positions it before the first sample of series i of ss.
 * Returns 0 or TT_ENOMEM (it is then released and may be released again). */
int head_iter_init(struct head_iter *it, const struct head_series_set *ss, size_t i);
/* head_iter_next moves to the next sample: 1, 0 at the end, or TT_ECORRUPT /
 * TT_ENOMEM (sticky). */
int head_iter_next(struct head_iter *it);
/* head_iter_next_run is head_iter_next for many samples at once: it moves
 * over the next run of samples and points *ts and *vs at their times and
 * values (borrowed from the iterator, valid until its next call or
 * release; t and v are then the last of them). Returns how many (> 0), 0
 * at the end, or TT_ECORRUPT / TT_ENOMEM (sticky). Runs are whole decoded
 * chunks cut to [mint, maxt]; with out-of-order samples to merge they are
 * single samples. Calls may be mixed with head_iter_next. */
long head_iter_next_run(struct head_iter *it, const int64_t **ts, const double **vs);
/* head_iter_seek moves forward to the first sample with t >= ts (staying put
 * when the current one qualifies): 1, 0 when there is none, or an error. */
int head_iter_seek(struct head_iter *it, int64_t ts);
/* head_iter_release frees what it holds. */
void head_iter_release(struct head_iter *it);

/* head_querier_label_names lists the label names of the series the matchers
 * select (all series when nms is 0); head_querier_label_values the values of
 * label name. Both delegate to the index (index_label_names/_values: sorted,
 * each once, strings valid until head_close, the array the caller's to free
 * with index_strs_release) and do not look at the time range: series the
 * head holds without samples in [mint, maxt] are listed too. 0 or
 * TT_ENOMEM. */
int head_querier_label_names(struct head_querier *q, struct matcher *const *ms, size_t nms,
                             struct index_strs *out);
int head_querier_label_values(struct head_querier *q, const char *name, struct matcher *const *ms,
                              size_t nms, struct index_strs *out);

/* ---- maintenance and state ------------------------------------------------------ */

struct head_truncate_stats {
    uint64_t chunks_dropped;
    uint64_t samples_dropped; /* out-of-order buffer samples and whole chunks */
    struct wal_ckpt_stats ckpt;
};

/* head_truncate drops every chunk whose samples are all older than before_t
 * (whole chunks only: a chunk with a sample at or after before_t stays, with
 * its older samples) and out-of-order samples older than before_t, then
 * checkpoints the WAL with every series and every sample still in memory,
 * so a restart gives back exactly what queries see now. Series are kept
 * (even without samples): dropping them needs a new index (future work).
 * Runs alongside appends and queries. st may be NULL. Returns 0; TT_ESTATE if
 * another truncation is running; TT_EIO (checkpoint failed: the chunks are
 * dropped from memory all the same, the WAL keeps them); TT_ENOMEM. */
int head_truncate(struct head *h, int64_t before_t, struct head_truncate_stats *st, char *err,
                  size_t errlen);

/* head_set_min_valid raises the time below which samples are refused
 * (TT_ERANGE at add, counted too old at apply): the db calls it before it
 * copies a time range into a block, so no sample can land in the head behind
 * the block's back. It waits for commits being applied. Lowering is ignored. */
void head_set_min_valid(struct head *h, int64_t t);
/* head_min_valid: the current limit (INT64_MIN: none). */
int64_t head_min_valid(struct head *h);

/* Counters for /metrics (monotonic unless said). */
struct head_stats {
    uint64_t series;           /* series in the index (gauge) */
    uint64_t samples_appended; /* committed and visible, in order or not */
    uint64_t ooo_accepted;
    uint64_t ooo_rejected; /* too old: TT_ERANGE */
    uint64_t duplicates;   /* exact duplicates ignored */
    uint64_t conflicts;    /* same time, other value: TT_EEXIST */
    uint64_t commits;
    uint64_t rollbacks;    /* rollbacks and failed commits */
    uint64_t chunks;       /* sealed + open chunks (gauge) */
    uint64_t chunk_bytes;  /* bytes held by chunks and OOO buffers (gauge) */
    uint64_t series_bytes; /* per-series structs and the series table (gauge) */
    uint64_t index_bytes;  /* index_stats total (gauge) */
    uint64_t memory_bytes; /* the sum of the three (gauge) */
    int64_t min_t, max_t;  /* time range of samples in memory (INT64_MAX/MIN: none) */
    struct wal_stats wal;  /* zeroed with no_wal */
};

/* head_stats fills st from atomic counters (cheap; the index figures take
 * its read lock briefly). */
void head_stats(struct head *h, struct head_stats *st);

#endif
