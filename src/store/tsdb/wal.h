/*
 * wal.h - the TSDB's write-ahead log: every series and sample the head takes
 * in is appended here first, so that after a crash or restart everything
 * that was acknowledged comes back (docs/design/tsdb.md, "## WAL").
 *
 * On disk: DIR/wal/ holds segment files named by a zero-padded increasing
 * number ("00000001", ...), each a sequence of whole batches in the core
 * batch format (docs/design/records.md) holding series (type 16), samples
 * (type 17) and origin (type 18) records, and at most one checkpoint "checkpoint.NNNNNNNN" (the
 * same format) that stands for every segment numbered NNNNNNNN or lower.
 *
 * Invariants:
 *  - One wal_append is one batch: on replay it is found whole or not at all.
 *  - A segment only ever holds whole batches: a failed write (disk full) is
 *    truncated back before wal_append returns; only a crash leaves a torn
 *    tail, and replay cuts it from the last segment.
 *  - Appends get increasing sequence numbers (LSNs) in file order; an LSN is
 *    durable once an fdatasync that started after its write has returned.
 *  - The WAL keeps the largest durable_end written per agent origin (origin
 *    records): replay rebuilds it, every checkpoint starts with it as it stood
 *    at the checkpoint's cut, so it outlives the segments that held it.
 *  - After wal_open the first append opens a new segment after every
 *    existing one, so nothing is ever appended behind an unread tail.
 *
 * Threads: wal_append, wal_wait, wal_sync, wal_stats and wal_checkpoint may
 * be called from any number of threads at once; wal_replay runs before the
 * first append; wal_close after every other call has returned.
 */
#ifndef TT_WAL_H
#define TT_WAL_H

#include <stddef.h>
#include <stdint.h>
#include "core/record.h"

/* When an append is durable (fdatasync'd) relative to its acknowledgement. */
enum wal_sync_policy {
    /* wal_append returns only after an fdatasync covering the batch. */
    WAL_SYNC_ALWAYS = 1,
    /* Group commit: wal_append returns once the batch is in the page cache;
     * wal_wait(lsn) returns after one fdatasync shared by every append that
     * arrived within batch_window_ms while other commits were waiting (a
     * lone commit is synced at once; appends that arrive during an
     * fdatasync share the next one). Acknowledge the client after wal_wait. */
    WAL_SYNC_BATCH = 2,
    /* A background thread fdatasyncs every interval_ms (never if 0, only on
     * rotation, checkpoint and close); wal_wait does not wait. A crash of the
     * machine (not of the process) loses up to interval_ms of appends. */
    WAL_SYNC_INTERVAL = 3,
};

#define WAL_DEFAULT_SEGMENT_BYTES (128u << 20)
#define WAL_DEFAULT_WINDOW_MS     10
#define WAL_SEGMENT_MIN_BYTES     4096 /* smaller caps are raised to this */

struct wal_options {
    int compression;          /* batch_compression; default BATCH_COMP_LZ4 */
    uint64_t segment_bytes;   /* rotate before a segment would pass this */
    int sync;                 /* wal_sync_policy; default WAL_SYNC_BATCH */
    uint32_t batch_window_ms; /* WAL_SYNC_BATCH: how long a commit gathers */
    uint32_t interval_ms;     /* WAL_SYNC_INTERVAL: period, 0 = never */
    uint8_t value_enc;        /* rec_samples_enc; default REC_SAMPLES_XOR */
};

/* wal_options_default fills o with the defaults named above (lz4, 128 MiB
 * segments, batch policy with a 10 ms window, interval 1000 ms, xor). */
void wal_options_default(struct wal_options *o);

/* A series as appended: its ref (chosen by the caller, unique for the life of
 * the WAL) and its labels, borrowed for the duration of the call. */
struct wal_series {
    uint64_t ref;
    const struct rec_label *labels;
    size_t nlabels;
};

/* An agent origin and the end of what is stored of it (type 18 record,
 * fields as struct rec_origin: the batch that raised durable_end from
 * prev_end ends at reclog_end in record-log segment reclog_seg, 0: none). */
struct wal_origin {
    uint64_t origin_id;
    uint64_t durable_end;
    uint64_t prev_end;
    uint32_t reclog_seg;
    uint64_t reclog_end;
};

struct wal;

/* wal_open opens (creating if needed) the WAL in data_dir/wal with options o
 * (NULL: defaults). It lists the directory but reads no data: leftover
 * checkpoint temporaries, and segments and checkpoints already covered by a
 * newer checkpoint (a crash in the middle of wal_checkpoint), are deleted.
 * Returns 0 with *out (free with wal_close), TT_EINVAL (bad options or path),
 * TT_EIO/TT_ESYS (directory cannot be created, read or written), TT_ENOMEM;
 * message in err. */
int wal_open(struct wal **out, const char *data_dir, const struct wal_options *o, char *err,
             size_t errlen);

/* ---- replay -------------------------------------------------------------- */

/* A problem found by replay: where, what, and what was done about it. */
struct wal_problem {
    char file[32];   /* "00000007" or "checkpoint.00000005" */
    uint64_t offset; /* where the bad bytes start in the file */
    uint64_t bytes;  /* bytes skipped (or cut) there */
    int code;        /* TT_ETRUNC torn tail, TT_ECORRUPT, TT_EVERSION, TT_ENOTFOUND
                      * (a missing segment), ... */
    int cut;         /* 1: the bytes were truncated away (torn tail of the last segment) */
    char msg[200];
};

/* Replay callbacks; any may be NULL. Pointers passed to them are valid only
 * during the call. series and samples return 0 to go on, or a negative code
 * that stops the replay and is returned by wal_replay (the caller's own
 * failure, say TT_ENOMEM; damaged data never stops a replay). */
struct wal_replay_cb {
    int (*series)(void *arg, uint64_t ref, const struct rec_label *labels, size_t nlabels);
    /* A samples record is delivered in runs of at most a few thousand. */
    int (*samples)(void *arg, const struct rec_sample *s, size_t n);
    void (*problem)(void *arg, const struct wal_problem *p);
    /* Called after each file and about every MiB: bytes read so far of all
     * the files to replay. */
    void (*progress)(void *arg, uint64_t done_bytes, uint64_t total_bytes);
    /* An origin record: origin_id's records below durable_end are stored. */
    int (*origin)(void *arg, uint64_t origin_id, uint64_t durable_end);
};

struct wal_replay_stats {
    uint64_t files;         /* checkpoint and segments read */
    uint64_t bytes;         /* their total size before any cut */
    uint64_t batches;       /* good batches */
    uint64_t series;        /* series records delivered */
    uint64_t samples;       /* samples delivered */
    uint64_t origins;       /* origin records delivered */
    uint64_t unknown;       /* records of other types, skipped */
    uint64_t problems;      /* problems reported */
    uint64_t bytes_skipped; /* bytes in problems, cut ones included */
    uint64_t bytes_cut;     /* bytes truncated from the last segment */
    uint64_t last_lsn;      /* highest LSN found (0: none) */
};

/* wal_replay reads the newest checkpoint, then every later segment in order,
 * calling cb for each series and run of samples in the order written. A torn
 * tail (or any damage reaching the end) of the last segment is truncated
 * away and reported with cut = 1; damage elsewhere is reported and skipped,
 * and replay goes on with the next good batch. Appends after the replay get
 * LSNs above every LSN found. st (may be NULL) is filled. Returns 0;
 * TT_ESTATE if called after an append, a checkpoint or a replay; the code a
 * callback returned; TT_EIO when a file cannot be read or the torn tail
 * cannot be cut (message in err). */
int wal_replay(struct wal *w, const struct wal_replay_cb *cb, void *arg,
               struct wal_replay_stats *st, char *err, size_t errlen);

/* wal_replay_buffer replays one segment held in memory (data, len), named
 * name in problem reports, with nothing cut: how tools and the fuzz target
 * read a segment without a directory. Returns 0 or a callback's code. */
int wal_replay_buffer(const uint8_t *data, size_t len, const char *name,
                      const struct wal_replay_cb *cb, void *arg, struct wal_replay_stats *st);

/* ---- appending ------------------------------------------------------------ */

/* wal_append writes nseries series records and nsamples samples (either
 * count may be 0; series come first) as one batch, and returns once it is in
 * the page cache (WAL_SYNC_ALWAYS: once it is fdatasync'd) with its LSN in
 * *lsn (may be NULL). A series must be appended before (or with) its first
 * samples. Everything passed is copied. Returns 0; TT_EIO with a message when
 * the batch cannot be written (disk full, I/O error): nothing of it stays in
 * the segment and the WAL remains usable; TT_ETOOBIG for an append over the
 * batch limits (split it); TT_ENOMEM; TT_EINVAL for a NULL array with a count;
 * with WAL_SYNC_ALWAYS also wal_wait's errors. */
int wal_append(struct wal *w, const struct wal_series *series, size_t nseries,
               const struct rec_sample *samples, size_t nsamples, uint64_t *lsn, char *err,
               size_t errlen);

/* wal_append_origins is wal_append with norigins origin records after the
 * samples, in the same batch (an append of origins only is a batch too).
 * Once written, each origin's entry in the WAL's map is replaced by the
 * record when its durable_end is not lower (durable_end never goes down).
 * Errors as wal_append. */
int wal_append_origins(struct wal *w, const struct wal_series *series, size_t nseries,
                       const struct rec_sample *samples, size_t nsamples,
                       const struct wal_origin *origins, size_t norigins, uint64_t *lsn, char *err,
                       size_t errlen);

/* wal_origins copies the origin map (replayed and appended so far) into a
 * new array in *out (the caller frees it; NULL when *n is 0), in no
 * particular order. Returns 0 or TT_ENOMEM. */
int wal_origins(struct wal *w, struct wal_origin **out, size_t *n);

/* wal_wait returns when the append with LSN lsn is as durable as the policy
 * promises: WAL_SYNC_BATCH and ALWAYS, fdatasync'd (joining or leading a
 * group commit); WAL_SYNC_INTERVAL, at once. Returns 0; TT_EIO if the
 * fdatasync covering lsn failed (the append must not be acknowledged; later
 * appends go to a new segment); TT_EINVAL for an LSN not yet returned by
 * wal_append. */
int wal_wait(struct wal *w, uint64_t lsn, char *err, size_t errlen);

/* wal_sync makes every append so far durable, whatever the policy. Returns 0
 * or TT_EIO (message in err). */
int wal_sync(struct wal *w, char *err, size_t errlen);

/* ---- checkpoints ---------------------------------------------------------- */

enum wal_item_kind {
    WAL_ITEM_SERIES = 1,
    WAL_ITEM_SAMPLES = 2,
};

/* What a checkpoint iterator yields: one series, or a run of samples. */
struct wal_item {
    int kind; /* wal_item_kind */
    struct wal_series series;
    const struct rec_sample *samples;
    size_t nsamples;
};

/* A checkpoint iterator fills *item and returns 1, returns 0 at the end, or
 * a negative code to abandon the checkpoint. What *item points to must stay
 * valid until the next call. */
typedef int (*wal_ckpt_next_fn)(void *arg, struct wal_item *item);

struct wal_ckpt_stats {
    uint32_t segment; /* the checkpoint stands for segments <= this */
    uint64_t series;  /* series written */
    uint64_t samples; /* samples written */
    uint64_t origins; /* origin records written */
    uint64_t bytes;   /* checkpoint file size */
    uint64_t segments_deleted;
};

/* wal_checkpoint closes the open segment (appends go on in a new one), then
 * writes the origin map as it stood at the cut, then what next yields (the
 * live series, and the samples the caller wants to keep, for instance those
 * newer than its last persisted block), into checkpoint.N, where N is the closed segment: written
 * to a temporary file, fsync'd, renamed, directory fsync'd. Only then are segments <= N and older
 * checkpoints deleted. Replay then reads checkpoint.N and the segments after
 * it. Contract: every append whose wal_append returned before wal_checkpoint
 * was called must be reflected in what next yields (samples appended later
 * may be yielded too: replay may then deliver a sample twice, which the head
 * must treat as a duplicate). Returns 0 (st may be NULL); the iterator's
 * code; TT_EIO when the checkpoint cannot be written (disk full: nothing is
 * deleted, the WAL is unchanged); TT_ESTATE if another checkpoint is running. */
int wal_checkpoint(struct wal *w, wal_ckpt_next_fn next, void *arg, struct wal_ckpt_stats *st,
                   char *err, size_t errlen);

/* ---- state ------------------------------------------------------------------ */

struct wal_stats {
    uint32_t first_segment; /* lowest segment on disk (0: none) */
    uint32_t last_segment;  /* highest segment on disk or open (0: none) */
    uint32_t checkpoint;    /* segment of the newest checkpoint (0: none) */
    uint64_t disk_bytes;    /* segments and checkpoint */
    uint64_t written_lsn;   /* LSN of the last append */
    uint64_t durable_lsn;   /* every LSN up to this one is fdatasync'd */
    uint64_t appends;       /* successful appends since wal_open */
    uint64_t bytes_written; /* their batch bytes */
    uint64_t syncs;         /* fdatasync calls (group commits count once) */
    uint64_t write_errors;  /* appends refused because a write failed */
    uint64_t sync_errors;   /* failed fdatasyncs */
};

/* wal_get_stats copies the counters (for /metrics). */
void wal_get_stats(struct wal *w, struct wal_stats *st);

/* wal_close makes every append durable (fdatasync), stops the interval
 * thread, closes the files and frees w (NULL is a no-op). Returns 0 or
 * TT_EIO if the final fdatasync failed (w is freed either way). */
int wal_close(struct wal *w);

#endif
