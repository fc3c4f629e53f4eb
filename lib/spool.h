/*
 * spool.h - libtelltale's spool: the directory of segment files the flusher
 * appends batches to and the node agent reads, ships and deletes.
 *
 * Segment files are named "<origin_id:016x>-<first_seq:016x>.tts" and hold whole
 * batches back to back (core/batch.h), so a reader needs no other index. One
 * process writes only its own origin's segments. A segment is closed when it
 * reaches segment_bytes; when the process's segments together exceed
 * max_bytes the oldest are deleted and their records counted as lost (the
 * flusher reports that as an event). Segments the agent already deleted are
 * simply forgotten. Only the flusher thread calls these functions.
 */
#ifndef TT_LIB_SPOOL_H
#define TT_LIB_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include "telltale.h"

struct spool_seg {
    uint64_t first_seq;
    uint64_t bytes;
    uint64_t records;
};

struct spool {
    char dir[TT_PATH_MAX];
    uint64_t origin_id;
    uint64_t max_bytes;
    uint64_t segment_bytes;
    int fsync;
    int fd;                 /* open segment, -1 if none */
    struct spool_seg cur;   /* the open segment */
    struct spool_seg *segs; /* closed segments, oldest first */
    size_t nsegs, cap;
    uint64_t lost_records; /* dropped by the cap, not yet reported */
    uint64_t lost_segments;
};

/* spool_open creates dir (and parents) if missing, checks it is writable,
 * and prepares to write segments of origin_id. No file is created until the
 * first append. Missing directories are created 0755 (never world-writable;
 * a spool shared by several users is prepared by the administrator) and
 * segments 0644, both minus the umask. max_bytes 0 means no cap. Returns 0,
 * TT_EINVAL (empty or too long path), TT_ESYS (cannot create, not a
 * directory) or TT_EIO (not writable), with a message naming the path. */
int spool_open(struct spool *s, const char *dir, uint64_t origin_id, uint64_t max_bytes,
               uint64_t segment_bytes, int fsync, char *err, size_t errlen);

/* spool_append writes one whole batch (len bytes holding count records, the
 * first numbered first_seq) to the open segment, rotating and enforcing the
 * size cap first. A short write is truncated away so the segment never keeps
 * a torn batch written by a live process. Returns 0, or TT_EIO (TT_ENOMEM if
 * the segment list cannot grow): the batch is not written; the caller counts it. */
int spool_append(struct spool *s, const void *batch, size_t len, uint64_t first_seq,
                 uint32_t count);

/* spool_sync fdatasyncs the open segment. Returns 0 or TT_EIO. */
int spool_sync(struct spool *s);

/* spool_take_losses returns the records and segments dropped by the cap since
 * the last call, and resets them. */
void spool_take_losses(struct spool *s, uint64_t *records, uint64_t *segments);

/* spool_close closes the open segment and frees memory; files stay. */
void spool_close(struct spool *s);

/* spool_forget is spool_close for a forked child: frees memory and closes the
 * inherited descriptor without touching the parent's files. */
void spool_forget(struct spool *s);

#endif
