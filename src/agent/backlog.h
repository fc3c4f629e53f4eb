/*
 * backlog.h - the agent's bounded on-disk FIFO of batches the server has not
 * acknowledged yet (docs/design/agent-backlog.md).
 *
 * On disk: STATE/backlog/ holds segment files "<16 hex digits>.seg", each a
 * sequence of whole core batches (docs/design/records.md) exactly as the
 * caller gave them, and one state file "acked" (per origin: the highest
 * acknowledged sequence number and the drop counts not yet reported),
 * replaced atomically (write "acked.tmp", fsync, rename, fsync the dir).
 *
 * Invariants:
 *  - A segment only ever holds whole batches: a failed write is truncated
 *    back before backlog_append returns; only a crash leaves a torn tail,
 *    which backlog_open cuts from the last segment.
 *  - After backlog_open, appends go to a new segment after every existing
 *    one, so nothing is appended behind a tail that was not read.
 *  - A batch is done when its last sequence number (first_seq + count - 1;
 *    first_seq for an empty batch) is <= the acknowledged one of its origin.
 *    A segment is deleted once all its batches are done.
 *  - The bytes of all segments stay <= limit_bytes after every append: the
 *    oldest segments are dropped (and their undone batches counted) first.
 *  - Drop counts are written to the state file before the dropped segment is
 *    deleted, so a crash may count a drop twice but never loses one (if that
 *    write fails, the segment goes anyway and the counts stay in memory).
 *
 * Threads: none inside. One thread uses a backlog at a time (the agent's
 * shipper, or the caller's lock).
 */
#ifndef TT_AGENT_BACKLOG_H
#define TT_AGENT_BACKLOG_H

#include <stddef.h>
#include <stdint.h>

/* When an append is durable. */
enum backlog_sync_policy {
    /* backlog_append returns after an fdatasync covering the batch. */
    BACKLOG_SYNC_ALWAYS = 1,
    /* Grouped: an append fdatasyncs when the last sync is older than
     * interval_ms; backlog_sync (from the caller's timer) and backlog_close
     * sync the rest. A machine crash loses up to interval_ms of appends. */
    BACKLOG_SYNC_INTERVAL = 2,
};

#define BACKLOG_DEFAULT_SEGMENT_BYTES (4u << 20)
#define BACKLOG_DEFAULT_LIMIT_BYTES   (256ull << 20)
#define BACKLOG_SEGMENT_MIN_BYTES     4096 /* smaller are raised to this */

/* A problem found on disk, and what was done about it. */
struct backlog_problem {
    char file[32];   /* "0000000000000003.seg" or "acked" */
    uint64_t offset; /* where the bad bytes start in the file */
    uint64_t bytes;  /* bytes skipped (or cut) there */
    int code;        /* TT_ETRUNC torn tail, TT_ECORRUPT, TT_EVERSION,
                      * TT_ENOTFOUND (state file missing), TT_EIO */
    int cut;         /* 1: the bytes were truncated away */
    char msg[200];
};

struct backlog_options {
    uint64_t segment_bytes;   /* rotate before a segment would pass this */
    uint64_t limit_bytes;     /* all segments together stay <= this */
    int sync;                 /* backlog_sync_policy */
    uint32_t interval_ms;     /* BACKLOG_SYNC_INTERVAL: period */
    uint32_t ack_interval_ms; /* persist acks at most this often; 0: every ack */
    /* Problems found (torn tails, corrupt batches, a bad state file) are
     * passed here, may be NULL. The pointer is valid during the call. */
    void (*problem)(void *arg, const struct backlog_problem *p);
    void *problem_arg;
};

/* Where a batch is: segment number and byte offset in it. */
struct backlog_pos {
    uint64_t seg;
    uint64_t off;
};

/* Batches lost to the byte limit, for one origin, not yet reported. */
struct backlog_drop {
    uint64_t origin_id;
    uint64_t batches;
    uint64_t records;
    uint64_t bytes;               /* of the batches read back (0 for an unreadable segment) */
    uint64_t first_seq, last_seq; /* the seqs they covered; first_seq UINT64_MAX: unknown */
    uint64_t hlc_min, hlc_max;    /* their HLC range; 0: unknown */
};

struct backlog_stats {
    uint64_t bytes;           /* all segments on disk */
    uint64_t batches;         /* batches in them (the acknowledged ones of a segment
                               * not yet deleted included) */
    uint64_t records;         /* their records */
    uint64_t segments;        /* segment files */
    int64_t oldest_ns;        /* wall time of the first batch of the oldest segment
                               * with undone batches; 0: none */
    uint64_t dropped_batches; /* lost to the limit since open (reported or not) */
    uint64_t dropped_records;
    uint64_t dropped_segments;
    uint64_t appends;          /* since open */
    uint64_t syncs;            /* fdatasyncs of segments */
    uint64_t state_writes;     /* state file replacements */
    uint64_t resent;           /* batches the cursor handed out again after a rewind */
    uint64_t unacked_at_open;  /* batches found undone at open: sent again, some
                                * possibly duplicates (acked, ack not persisted) */
    uint64_t problems;         /* reported at open or met by the cursor */
    uint64_t bytes_skipped;    /* in those problems */
    uint64_t segments_deleted; /* fully acknowledged and deleted */
};

struct backlog;

/* backlog_options_default: 4 MiB segments, 256 MiB limit, fdatasync every
 * append, acks persisted at most every 1000 ms, no problem callback. */
void backlog_options_default(struct backlog_options *o);

/* backlog_open opens (creating if needed) state_dir/backlog with options o
 * (NULL: defaults). It reads the state file (missing with segments present,
 * or garbled: reported, and nothing counts as acknowledged), then scans every
 * segment: a torn tail of the last one is cut, damage elsewhere is reported
 * and skipped; segments whose batches are all done are deleted. The cursor
 * starts at the oldest undone batch. Returns 0 with *out (free with
 * backlog_close); TT_EINVAL (bad options, path too long); TT_EIO (directory
 * or file cannot be created, read, cut or written); TT_ENOMEM. Message in err. */
int backlog_open(struct backlog **out, const char *state_dir, const struct backlog_options *o,
                 char *err, size_t errlen);

/* backlog_append writes one complete core batch (len bytes, copied) at the
 * end of the current segment, rotating and dropping the oldest segments to
 * stay within the limit first, and returns once it is durable per the
 * policy, with its position in *pos (may be NULL). Returns 0; TT_EINVAL
 * (batch not exactly one whole batch), TT_ECORRUPT (its checksums fail),
 * TT_ETOOBIG (bigger than the limit); TT_EIO when it cannot be written or
 * synced (nothing of it stays; for a failed fdatasync the segment is closed
 * and later appends go to a new one). */
int backlog_append(struct backlog *b, const void *batch, size_t len, struct backlog_pos *pos,
                   char *err, size_t errlen);

/* backlog_sync fdatasyncs the open segment and writes the state file if acks
 * are pending: call it from a timer with BACKLOG_SYNC_INTERVAL, and before
 * shutting down. Returns 0 or TT_EIO. */
int backlog_sync(struct backlog *b, char *err, size_t errlen);

/* backlog_rewind moves the cursor back to the oldest undone batch (after a
 * reconnect: the server got nothing since its last ack). */
void backlog_rewind(struct backlog *b);

/* backlog_next hands out the next undone batch after the cursor, in append
 * order, without removing it: returns 1 with *batch, *len (borrowed, valid
 * until the next call on b) and *pos (may be NULL); 0 when the cursor is at
 * the end; TT_EIO or TT_ENOMEM when a segment cannot be read (message in err;
 * the cursor stays, so a later call tries again). Damaged bytes are skipped,
 * reported to the problem callback and counted. */
int backlog_next(struct backlog *b, const uint8_t **batch, size_t *len, struct backlog_pos *pos,
                 char *err, size_t errlen);

/* backlog_ack records that the server holds every record of origin_id with
 * sequence number <= seq: those batches are done, fully done segments are
 * deleted, and the state file is written if ack_interval_ms has passed (a
 * lower seq than already acknowledged changes nothing). Returns 0, or TT_EIO
 * when the state file cannot be written (the ack still counts in memory and
 * is written with the next one). */
int backlog_ack(struct backlog *b, uint64_t origin_id, uint64_t seq, char *err, size_t errlen);

/* backlog_acked returns the acknowledged sequence number of origin_id in
 * *seq: 1 if the origin has one, 0 if nothing of it was acknowledged. */
int backlog_acked(const struct backlog *b, uint64_t origin_id, uint64_t *seq);

/* backlog_take_drops hands the per-origin drop counts not yet reported to the
 * caller and resets them (persisted with the next state write): *out is a
 * malloc'd array of *n entries the caller frees (NULL when *n is 0).
 * Returns 0 or TT_ENOMEM (counts kept). */
int backlog_take_drops(struct backlog *b, struct backlog_drop **out, size_t *n);

/* backlog_get_stats fills st (oldest_ns is a wall time: from the append for
 * batches appended since open, else from the batch's hlc_min, else from the
 * segment file's mtime). */
void backlog_get_stats(const struct backlog *b, struct backlog_stats *st);

/* backlog_close syncs the open segment, writes the state file if it changed,
 * and frees b (NULL is a no-op). Returns 0 or TT_EIO (b is freed anyway). */
int backlog_close(struct backlog *b);

/* backlog_scan_buffer walks one segment held in memory (data, len) as
 * backlog_open would, reporting problems (named name) to problem, nothing
 * cut: how the fuzz target and tools read a segment. Returns the number of
 * good batches found. */
uint64_t backlog_scan_buffer(const uint8_t *data, size_t len, const char *name,
                             void (*problem)(void *arg, const struct backlog_problem *p),
                             void *arg);

#endif
