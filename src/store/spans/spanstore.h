/*
 * spanstore.h - the span store: append-only segments of span blocks
 * (spanblock.h) in DATA/spans/, with in-memory indexes rebuilt from the
 * block headers at open: trace id -> blocks, and per block its time range,
 * longest duration and a Bloom filter over service, (service, operation)
 * and attribute key=value, which search uses to skip blocks. The layout is
 * in docs/design/spans.md.
 *
 * Invariants:
 *  - The state file ("state") names the end of the span data (segment and
 *    length), the record-log cursor indexed up to there, and the dedup map
 *    (origin id -> end of the last batch indexed). It is replaced
 *    atomically (write, fsync, rename, fsync the directory) only after the
 *    blocks it covers are fdatasync'd, so after a crash the store reopens at
 *    a consistent point: bytes past the recorded end are cut and the
 *    indexer reads the record log again from the recorded cursor.
 *  - Without a state file the store starts empty (its segments removed) and
 *    is rebuilt from the start of the record log.
 *  - A damaged block is reported (segment name and offset) through the
 *    problem callback and skipped, with the rest of its segment at open.
 *
 * Threads: one writer (the indexer) calls add/commit/retain; any number of
 * threads query at once (a read-write lock).
 */
#ifndef TT_SPANSTORE_H
#define TT_SPANSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "store/spans/spanblock.h"

#define SPANSTORE_DEFAULT_SEGMENT_BYTES (64u << 20)
#define SPANSTORE_DEFAULT_BLOCK_SPANS   4096
#define SPANSTORE_MAX_ORIGINS           65536

struct spanstore;

struct spanstore_options {
    int64_t retention_ms;     /* drop segments whose spans all started before now - this; 0: keep */
    uint64_t retention_bytes; /* drop the oldest segments while the total is above; 0: no limit */
    uint64_t segment_bytes;   /* 0: SPANSTORE_DEFAULT_SEGMENT_BYTES */
    uint32_t block_spans;     /* spans per block; 0: SPANSTORE_DEFAULT_BLOCK_SPANS */
    int zstd_level;           /* 0: 3 */
    /* Damaged data found (segment file name, offset, what): called with the
     * store's lock held; may be NULL. */
    void (*problem)(void *arg, const char *segment, uint64_t off, const char *what);
    void *problem_arg;
};

/* spanstore_open opens (creating) the store in dir. Returns 0 with *out
 * (free with spanstore_close); TT_EIO (a file unusable; message in err);
 * TT_ECORRUPT (the state file is damaged: remove it to rebuild); TT_ENOMEM. */
int spanstore_open(struct spanstore **out, const char *dir, const struct spanstore_options *opt,
                   char *err, size_t errlen);

/* spanstore_close writes pending spans (without moving the cursor) and
 * frees ss (NULL is fine). */
void spanstore_close(struct spanstore *ss);

/* spanstore_cursor: the record-log place (segment, offset) the store has
 * indexed up to, as of the last commit (0, 0 when new). */
void spanstore_cursor(struct spanstore *ss, uint32_t *seg, uint64_t *off);

/* spanstore_batch_seen decides whether a batch of origin_id starting at
 * first_seq was indexed already (1: skip it) and otherwise records that
 * the origin's batches up to first_seq + count are (0). A batch is a
 * repeat when it starts below the end of the last one of its origin.
 * TT_EFULL when SPANSTORE_MAX_ORIGINS origins are known. */
int spanstore_batch_seen(struct spanstore *ss, uint64_t origin_id, uint64_t first_seq,
                         uint32_t count);

/* spanstore_add adds one span (copied). It becomes visible to queries once
 * its block is written: when block_spans spans are pending, or at the next
 * spanstore_commit. Returns 0, TT_EIO (message in err), TT_EINVAL (bad
 * attribute type), TT_ENOMEM. */
int spanstore_add(struct spanstore *ss, const struct span_row *s, char *err, size_t errlen);

/* spanstore_pending: spans added and not yet written. */
uint32_t spanstore_pending(struct spanstore *ss);

/* spanstore_commit writes the pending spans as a block, fdatasyncs the
 * segment and then records (seg, off) as the cursor with the dedup map in
 * the state file. Returns 0 or TT_EIO (message in err). */
int spanstore_commit(struct spanstore *ss, uint32_t seg, uint64_t off, char *err, size_t errlen);

/* spanstore_retain applies retention as of now_ns (whole segments, never
 * the open one). Returns how many segments were removed, or TT_EIO. */
int spanstore_retain(struct spanstore *ss, int64_t now_ns, char *err, size_t errlen);

/* --- queries ---------------------------------------------------------------- */

/* Called for each span found; s and its strings are valid during the call
 * only. A nonzero return stops the walk and is returned. */
typedef int (*spanstore_span_fn)(void *arg, const struct span_row *s);

/* spanstore_trace calls fn for every span of the trace, from every block
 * that holds some (in the order stored; duplicates of one span id are given
 * once). Returns the number of spans, or fn's code, or TT_ENOMEM/TT_EIO.
 * Damaged blocks are reported and skipped. */
int spanstore_trace(struct spanstore *ss, const uint8_t trace_id[16], spanstore_span_fn fn,
                    void *arg);

/* spanstore_services calls fn(arg, name, len) for each service known;
 * spanstore_operations for each operation of service (none if unknown). */
typedef void (*spanstore_name_fn)(void *arg, const char *name, size_t len);
void spanstore_services(struct spanstore *ss, spanstore_name_fn fn, void *arg);
void spanstore_operations(struct spanstore *ss, const char *service, spanstore_name_fn fn,
                          void *arg);

struct spanstore_tag {
    const char *key;
    const char *value; /* text form (spanblock_value_text) */
};

/* A search: spans of service (required) and, if given, operation, every
 * tag, min <= duration <= max (max 0: none), start within [start, end]. */
struct spanstore_query {
    const char *service;
    const char *operation; /* NULL: any */
    const struct spanstore_tag *tags;
    size_t ntags;
    uint64_t min_duration_ns, max_duration_ns;
    int64_t start_ns, end_ns;
    size_t limit; /* traces; 0: 20 */
};

/* spanstore_search finds the traces with a matching span, newest blocks
 * first, up to q->limit distinct trace ids written to ids (room for
 * q->limit * 16 bytes). Returns how many, or TT_ENOMEM/TT_EIO. */
int spanstore_search(struct spanstore *ss, const struct spanstore_query *q, uint8_t *ids);

struct spanstore_stats {
    uint64_t spans; /* in written blocks */
    uint64_t blocks;
    uint64_t segments;
    uint64_t bytes;         /* on disk: segments and their summary sidecars */
    uint64_t summary_bytes; /* of which the summary sidecars (.sum) */
    uint64_t traces;
    uint64_t problems;
};

void spanstore_get_stats(struct spanstore *ss, struct spanstore_stats *st);

/* --- block access for the analytics (spanstats.c) ------------------------
 * Blocks are numbered 0..spanstore_nblocks()-1, oldest first. Numbers and
 * everything read through them are only meaningful while the caller holds
 * the read lock (spanstore_rdlock .. spanstore_rdunlock): retention may
 * drop blocks in between. */

struct spanstore_block {
    int64_t min_start_ns, max_start_ns;
    uint64_t max_duration_ns;
    uint32_t count;
    int has_summary;
};

/* A block being read: the block's bytes and its decoder (owned). */
struct spanstore_reader {
    struct wbuf buf;
    struct spanblock_hdr h;
    struct spanblock_reader rd;
};

void spanstore_reader_init(struct spanstore_reader *r);
void spanstore_reader_release(struct spanstore_reader *r);

void spanstore_rdlock(struct spanstore *ss);
void spanstore_rdunlock(struct spanstore *ss);

/* spanstore_nblocks: blocks written; spanstore_block_info fills *out for
 * block i (< spanstore_nblocks). Read lock held. */
size_t spanstore_nblocks(struct spanstore *ss);
void spanstore_block_info(struct spanstore *ss, size_t i, struct spanstore_block *out);

/* spanstore_block_may_have: 0 when block i's Bloom filter rules out a span
 * of service (NULL: any) and operation (NULL: any), else 1. */
int spanstore_block_may_have(struct spanstore *ss, size_t i, const char *service,
                             const char *operation);

/* spanstore_block_open reads block i into r and positions r->rd at its
 * first span (walk with spanblock_next; report a walk error with
 * spanstore_block_problem). Returns 0, TT_ENOMEM, or TT_EIO/TT_ECORRUPT
 * for a damaged block (reported). */
int spanstore_block_open(struct spanstore *ss, size_t i, struct spanstore_reader *r);

/* spanstore_block_summary reads block i's summary record (spansum.h) into
 * buf; *rec points into buf. Returns 0; TT_ENOTFOUND (the block has no
 * summary: decode it instead); TT_EIO/TT_ECORRUPT (reported); TT_ENOMEM. */
struct spansum_rec;
int spanstore_block_summary(struct spanstore *ss, size_t i, struct wbuf *buf,
                            struct spansum_rec *rec);

/* spanstore_block_problem reports damage found in block i (what: the
 * reason) through the problem callback. */
void spanstore_block_problem(struct spanstore *ss, size_t i, const char *what);

#endif
