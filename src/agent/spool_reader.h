/*
 * spool_reader.h - the agent's reader of one libtelltale spool directory
 * (docs/design/libtelltale.md "The spool", lib/spool.h): it hands out the
 * complete batches of the segment files "<origin:016x>-<first_seq:016x>.tts"
 * in order, records the server's acknowledgements per segment, and deletes
 * the segments that are wholly acknowledged and finished.
 *
 * State: STATE/spool-<16 hex digits of the directory's hash>, lines
 * "<segment file name> <acknowledged offset>\n", replaced atomically (tmp,
 * fsync, rename, directory fsync) at every acknowledgement, so a restarted
 * agent resumes after the last acknowledged batch of every segment.
 *
 * Invariants:
 *  - Batches are handed out unchanged (their own origin and seqs), per
 *    origin in seq order (its segments oldest first, each in file order),
 *    the origins taking turns; the acknowledged offset of a segment is the
 *    end of a whole batch and only moves forward.
 *  - A batch cut short at the end of the newest segment of its origin is
 *    being written: it is waited for, not reported, while the writing
 *    process lives. Once the writer moved to a newer segment (or its process,
 *    the pid at the end of the batch origin "node\0service/pid", is gone) the
 *    cut bytes are a torn tail: reported once and skipped.
 *  - Damaged bytes inside a segment are reported once and skipped to the
 *    next batch header (core/batch.h's resynchronisation).
 *  - A segment is deleted once every batch of it is acknowledged and it is
 *    finished: not the newest of its origin, or its process is gone.
 *
 * Threads: none inside; the agent calls it under its lock.
 */
#ifndef TT_AGENT_SPOOL_READER_H
#define TT_AGENT_SPOOL_READER_H

#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

/* Which batch was handed out, for the acknowledgement. */
struct spool_token {
    uint64_t seg_id;  /* the reader's id of the segment */
    uint64_t end_off; /* the batch's end in the segment */
};

struct spool_reader_stats {
    uint64_t segments;      /* segment files known */
    uint64_t batches_read;  /* handed out (again after a rewind included) */
    uint64_t batches_acked; /* acknowledged */
    uint64_t segments_deleted;
    uint64_t bytes_skipped; /* torn tails and damaged bytes */
    uint64_t problems;
    uint64_t pending_bytes; /* in the segments, not yet acknowledged */
};

struct spool_reader;

/* spool_reader_open prepares to read the spool directory dir (which may not
 * exist yet) keeping its state in state_dir; log (borrowed, may be NULL)
 * gets the problems. Returns 0 with *out (spool_reader_close), TT_EINVAL
 * (path too long), TT_EIO (state file unreadable), TT_ENOMEM; message in err. */
int spool_reader_open(struct spool_reader **out, const char *dir, const char *state_dir,
                      struct log *log, char *err, size_t errlen);

/* spool_reader_next hands out the next complete batch not yet handed out:
 * returns 1 with *batch, *len (borrowed: valid until the next call on r) and
 * *tok; 0 when there is none now (the directory is looked at again at most
 * every rescan_ms: 0 looks now); TT_EIO/TT_ENOMEM when a segment cannot be
 * read (message in err; a later call tries again). */
int spool_reader_next(struct spool_reader *r, int64_t rescan_ms, const uint8_t **batch, size_t *len,
                      struct spool_token *tok, char *err, size_t errlen);

/* spool_reader_ack records that the batch of tok is durable at the server:
 * persists the segment's new offset and deletes the segment if it is now
 * done. Returns 0, or TT_EIO when the state cannot be written (the ack still
 * counts in memory; message in err). An unknown segment (deleted meanwhile)
 * is ignored. */
int spool_reader_ack(struct spool_reader *r, const struct spool_token *tok, char *err,
                     size_t errlen);

/* spool_reader_rewind makes every unacknowledged batch be handed out again
 * (after a reconnect). */
void spool_reader_rewind(struct spool_reader *r);

/* spool_reader_get_stats fills st. */
void spool_reader_get_stats(const struct spool_reader *r, struct spool_reader_stats *st);

/* spool_reader_dir: the directory read (borrowed from r). */
const char *spool_reader_dir(const struct spool_reader *r);

/* spool_reader_close frees r (NULL is fine). */
void spool_reader_close(struct spool_reader *r);

#endif
