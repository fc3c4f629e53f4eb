/*
 * reclog.h - the server's record log: agent batches holding records other
 * than series and samples (spans, events, metrics, state changes), kept
 * whole, as received, for the stores of later issues to index
 * (docs/design/agent.md, "Server side").
 *
 * On disk: DATA/records/ holds segments named by a zero-padded increasing
 * number ("00000001.log", ...), each a sequence of whole core batches
 * (docs/design/records.md). A segment is closed once the next batch would
 * take it past segment_bytes (a batch bigger than that gets a segment of its
 * own).
 *
 * Invariants:
 *  - An append is one batch, written at the end of the open segment; a
 *    failed write is truncated back, so only a crash leaves a torn tail,
 *    which reclog_open reports and cuts from the last segment before
 *    anything is appended behind it.
 *  - reclog_sync(ticket) returns once an fdatasync that started after the
 *    append with that ticket was written has returned. A syncer thread
 *    starts one as soon as an append is written, so the caller can do other
 *    work (a WAL commit) while it runs, and appends from many threads share
 *    one fdatasync (group commit).
 *
 * Threads: reclog_append and reclog_sync may be called from any number of
 * threads at once; reclog_open and reclog_close from one.
 */
#ifndef TT_SERVER_RECLOG_H
#define TT_SERVER_RECLOG_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/batch.h"
#include "core/batch_scan.h"

#define RECLOG_DEFAULT_SEGMENT_BYTES (64u << 20)

struct reclog;

/* What reclog_open reports while it scans the segments (either may be NULL).
 * Pointers are valid during the call only. batch gets each good batch
 * (header, decompressed body); problem each damaged stretch, by file name
 * ("00000003.log") and offset; cut is 1 when the stretch was a tail of the
 * last segment and was truncated away. A nonzero return from batch stops the
 * scan and is returned by reclog_open. */
struct reclog_scan_cb {
    int (*batch)(void *arg, const struct batch_hdr *h, const uint8_t *body, size_t body_len);
    void (*problem)(void *arg, const char *file, const struct batch_problem *p, int cut);
};

/* reclog_open opens (creating if needed) the record log in dir, scanning
 * every segment in order through cb (NULL: only the last segment is read,
 * for its torn tail). Appends go on at the end of the last segment.
 * segment_bytes 0 means RECLOG_DEFAULT_SEGMENT_BYTES. Returns 0 with *out
 * (free with reclog_close); TT_EIO (directory or a segment unreadable, or the
 * torn tail cannot be cut); TT_ENOMEM; a callback's code; message in err. */
int reclog_open(struct reclog **out, const char *dir, uint64_t segment_bytes,
                const struct reclog_scan_cb *cb, void *arg, char *err, size_t errlen);

/* A reader's place in the log: segment number (0: before the first) and
 * byte offset in it. */
struct reclog_cursor {
    uint32_t seg;
    uint64_t off;
};

/* reclog_durable: the place up to which the log is durable (every batch
 * before it in segment order has been fdatasync'd, or was there at open);
 * seg 0 when the log is empty. Readers that index the log (the span and
 * event stores) stop there, so they never index a batch a crash can take
 * back. */
void reclog_durable(struct reclog *rl, struct reclog_cursor *out);

/* reclog_read reads the next whole batch at or after *cur and before the
 * durable place into out (raw bytes, replacing out's content; its header
 * and body CRCs checked) and moves *cur past it. Returns 1 with a batch; 0
 * when there is none yet (call again later: the log only grows); TT_ECORRUPT
 * for a damaged stretch (the rest of that segment is skipped, *cur moved on,
 * message in err naming segment and offset: call again); TT_EIO (a segment
 * unreadable; message in err); TT_ENOMEM. Any thread, any number of
 * readers, concurrently with appends. */
int reclog_read(struct reclog *rl, struct reclog_cursor *cur, struct wbuf *out, char *err,
                size_t errlen);

/* Where an append went: its segment, the offset where it ends there, and
 * the ticket to wait for with reclog_sync. */
struct reclog_pos {
    uint32_t seg;
    uint64_t end;
    uint64_t ticket;
};

/* reclog_append writes the batch (data, len: a whole core batch, copied) and
 * returns once it is in the page cache (its fdatasync started in the
 * background) with its position in *pos. Returns 0; TT_EIO (nothing of it
 * stays; message in err). */
int reclog_append(struct reclog *rl, const uint8_t *data, size_t len, struct reclog_pos *pos,
                  char *err, size_t errlen);

/* reclog_sync returns when the append with this ticket is fdatasync'd,
 * sharing one fdatasync with every append written meanwhile. Returns 0 or
 * TT_EIO (the fdatasync failed: do not acknowledge; message in err). */
int reclog_sync(struct reclog *rl, uint64_t ticket, char *err, size_t errlen);

/* Counters, for tests and /metrics. */
struct reclog_stats {
    uint32_t segment;     /* number of the open (or last) segment, 0: none */
    uint64_t segment_len; /* its length (after reclog_open: what the scan kept) */
    uint64_t appends;     /* since open */
    uint64_t bytes;       /* appended since open */
    uint64_t syncs;       /* fdatasync calls */
    uint64_t segments;    /* segments on disk */
};

void reclog_get_stats(struct reclog *rl, struct reclog_stats *st);

/* reclog_close fdatasyncs and closes the open segment and frees rl (NULL is
 * fine). Returns 0 or TT_EIO if the final fdatasync failed. */
int reclog_close(struct reclog *rl);

#endif
