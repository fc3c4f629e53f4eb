/*
 * block.h - persisted immutable blocks of the TSDB (docs/design/tsdb.md,
 * "## Blocks"): every sample of every series over a time range [mint, maxt],
 * written once by block_writer, then only read (and eventually deleted by
 * retention or replaced by compaction).
 *
 * A block is a directory BLOCKS_DIR/<id> holding:
 *   meta.json  what the block holds (id, time range, counts, level, sources);
 *   index      symbol table, series (labels + chunk references), postings per
 *              label pair and per name, label values per name, TOC, CRC32C;
 *   chunks     64 KiB pages of sealed-codec columns (sealed_codec.h, encoded
 *              with zstd level 0), each page zstd-compressed with its own
 *              header and CRC32C; timestamp columns deduplicated by content;
 *   rollups    (optional) per series, 5 min and 1 h aggregates (min, max,
 *              sum, count, last) in the same page format. Stale markers are
 *              not counted; min and max skip NaNs unless every value of the
 *              interval is NaN; sum adds in time order (NaN propagates).
 * The writer builds it in BLOCKS_DIR/<id>.tmp, fsyncs every file and the
 * directory, then renames it into place: a block directory without the .tmp
 * suffix is complete. The id is 26 characters, sortable by creation time
 * (ULID-like: 48-bit milliseconds, 80 random bits, Crockford base32).
 *
 * Invariants: a reader never reads outside the files and answers damage with
 * TT_ECORRUPT naming the file and offset; the index is checked when opened,
 * chunk pages when first read; opening a block costs O(index size) and keeps
 * the index mmap'd (memory per block is small and independent of samples).
 *
 * Threads: a struct block may be read by any number of threads at once
 * (queriers, series sets and iterators belong to one thread each).
 */
#ifndef TT_TSDB_BLOCK_H
#define TT_TSDB_BLOCK_H

#include <stddef.h>
#include <stdint.h>
#include "store/tsdb/index.h"
#include "store/tsdb/labels.h"
#include "store/tsdb/matcher.h"

#define BLOCK_ID_LEN 26

/* Rollup resolutions. */
#define BLOCK_ROLLUP_5M_MS INT64_C(300000)
#define BLOCK_ROLLUP_1H_MS INT64_C(3600000)

struct block_meta {
    char id[BLOCK_ID_LEN + 1];
    int64_t mint, maxt; /* the declared range, inclusive; every sample has mint <= t <= maxt */
    int64_t min_time, max_time; /* the oldest and the newest sample */
    uint64_t series, samples, chunks;
    uint32_t level;  /* 1: cut from the head; n+1: compacted from level <= n */
    int has_rollups; /* rollups file present */
    uint64_t bytes;  /* total size of the block's files */
    /* Ids of the level-1 blocks this one was compacted from (itself for level 1). */
    char (*sources)[BLOCK_ID_LEN + 1];
    size_t nsources;
};

/* ---- writing ---------------------------------------------------------------- */

struct block_writer_options {
    int zstd_level;                          /* page compression level (default 3; 0: none) */
    uint32_t level;                          /* meta level (default 1) */
    const char (*sources)[BLOCK_ID_LEN + 1]; /* copied; NULL: the block itself */
    size_t nsources;
    int rollups;                /* also write 5 min and 1 h rollups */
    int64_t chunk_range_ms;     /* cut a series' samples into chunks at k * range (default 2 h) */
    uint32_t chunk_max_samples; /* and at this many samples (default 4096, <= SEALED_MAX_SAMPLES) */
};

/* block_writer_options_default: zstd 3, level 1, no sources, rollups on, 2 h,
 * 4096. */
void block_writer_options_default(struct block_writer_options *o);

struct block_writer;

/* block_writer_new starts a block for samples with mint <= t <= maxt in
 * blocks_dir (created if missing) under a fresh id. o may be NULL
 * (defaults). Returns 0, TT_EINVAL, TT_ESYS/TT_EIO (with a message), TT_ENOMEM. */
int block_writer_new(struct block_writer **out, const char *blocks_dir, int64_t mint, int64_t maxt,
                     const struct block_writer_options *o, char *err, size_t errlen);

/* block_writer_add_series adds one series: ls normalized, strictly greater
 * than the previous series' labels (labels_cmp), samples strictly increasing
 * in time and inside [mint, maxt], n >= 1 (a series with no sample is simply
 * not added). Everything is copied or written out before the call returns.
 * Returns 0, TT_EINVAL (order, range, empty), TT_ENOMEM, TT_EIO/TT_ESYS
 * (write failed, e.g. disk full: the writer is then unusable; abort it). */
int block_writer_add_series(struct block_writer *w, const struct labels *ls, const int64_t *ts,
                            const double *vs, size_t n, char *err, size_t errlen);

/* block_writer_finish writes the index and meta.json, fsyncs, renames the
 * directory into place and frees w (whatever the outcome). meta (may be NULL)
 * gets the block's meta (its sources array is the caller's to free with
 * block_meta_release). A block with no series is not written: returns
 * TT_ENOTFOUND and leaves nothing behind. Other errors: TT_EIO/TT_ESYS (the
 * temporary directory is removed), TT_ENOMEM. */
int block_writer_finish(struct block_writer *w, struct block_meta *meta, char *err, size_t errlen);

/* block_writer_abort removes the temporary directory and frees w (NULL is fine). */
void block_writer_abort(struct block_writer *w);

/* block_meta_release frees meta's sources. */
void block_meta_release(struct block_meta *meta);

/* ---- reading ---------------------------------------------------------------- */

struct block;

/* block_open opens the complete block directory dir (reads meta.json, maps
 * and checks the index). Returns 0, TT_ECORRUPT (message names the file and
 * what was wrong), TT_ENOTFOUND, TT_ESYS, TT_ENOMEM. */
int block_open(struct block **out, const char *dir, char *err, size_t errlen);
/* block_open_mem opens a block held in memory (the fuzzer, tools): the
 * contents of meta.json, index, chunks and rollups (rollups may be NULL/0
 * when the block has none), borrowed until block_close. name stands for the
 * directory in messages and block_dir. Errors as block_open. */
int block_open_mem(struct block **out, const char *name, const void *meta, size_t meta_len,
                   const void *index, size_t index_len, const void *chunks, size_t chunks_len,
                   const void *rollups, size_t rollups_len, char *err, size_t errlen);
/* block_close unmaps and frees b (NULL is fine). */
void block_close(struct block *b);
/* block_set_page_cache makes b's readers share decompressed pages through
 * pc (borrowed: it must outlive b and every series set of b). Call once,
 * before b is read. */
struct page_cache;
void block_set_page_cache(struct block *b, struct page_cache *pc);
/* block_get_meta: b's meta (valid until block_close). */
const struct block_meta *block_get_meta(const struct block *b);
/* block_dir: the directory b was opened from. */
const char *block_dir(const struct block *b);

/* A selection of a block's series (sorted by labels). */
struct block_series_set;

/* block_select returns the series every matcher accepts (index_select's
 * rules) that have chunks overlapping [mint, maxt]. Returns 0, TT_ECORRUPT,
 * TT_ENOMEM. */
int block_select(struct block *b, struct matcher *const *ms, size_t nms, int64_t mint, int64_t maxt,
                 struct block_series_set **out);
size_t block_series_set_count(const struct block_series_set *ss);
/* Labels of series i: borrowed, valid until block_series_set_free (the
 * strings until block_close). */
const struct labels *block_series_set_labels(const struct block_series_set *ss, size_t i);
void block_series_set_free(struct block_series_set *ss);

/* block_label_names / block_label_values: as index_label_names/_values
 * (sorted, unique; strings valid until block_close; free the array with
 * index_strs_release). */
int block_label_names(struct block *b, struct matcher *const *ms, size_t nms,
                      struct index_strs *out);
int block_label_values(struct block *b, const char *name, struct matcher *const *ms, size_t nms,
                       struct index_strs *out);

/* Which samples an iterator reads: the raw samples, or one field of a
 * rollup. A rollup row covers the samples with t in (k res, (k + 1) res],
 * left-open like PromQL's range windows, so windows ending on a multiple of
 * res are unions of whole rows; its t is the time of its last counted raw
 * sample (stale markers are not counted); count is a float. */
enum block_series_kind {
    BLOCK_RAW = 0,
    BLOCK_ROLLUP_MIN,
    BLOCK_ROLLUP_MAX,
    BLOCK_ROLLUP_SUM,
    BLOCK_ROLLUP_COUNT,
    BLOCK_ROLLUP_LAST,
};

/* An iterator over series i of a set within [mint, maxt] (caller-owned, one
 * thread). It decodes one chunk at a time; pages come through a small cache
 * shared by the set's iterators. It may outlive its set, not its block. */
struct block_iter {
    int64_t t;
    double v;
    /* private */
    void *priv;
};

/* block_iter_init positions it before the first sample of series i in
 * [mint, maxt]. kind selects raw samples or a rollup field (resolution
 * BLOCK_ROLLUP_5M_MS or BLOCK_ROLLUP_1H_MS; ignored for BLOCK_RAW). Returns 0,
 * TT_ENOTFOUND (the block has no rollups), TT_EINVAL (i, kind or resolution
 * out of range), TT_ENOMEM. Pages are read by next/seek, not here. */
int block_iter_init(struct block_iter *it, const struct block_series_set *ss, size_t i,
                    int64_t mint, int64_t maxt, enum block_series_kind kind, int64_t resolution_ms);
/* block_iter_next: 1 (it->t, it->v hold the next sample), 0 at the end,
 * TT_ECORRUPT (a damaged page: message with block_iter_error) or TT_ENOMEM;
 * errors are sticky. */
int block_iter_next(struct block_iter *it);
/* block_iter_next_run is block_iter_next for many samples at once: it moves
 * over the next run of samples and points *ts and *vs at their times and
 * values (borrowed from the iterator, valid until its next call or release;
 * it->t and it->v are then the last of them). Runs are whole decoded chunks
 * cut to [mint, maxt]. Returns how many (> 0), 0 at the end, or an error as
 * block_iter_next (sticky). Calls may be mixed with next and seek. */
long block_iter_next_run(struct block_iter *it, const int64_t **ts, const double **vs);
/* block_iter_seek: first sample with t >= ts (staying put when the current
 * one qualifies): 1, 0, or an error. */
int block_iter_seek(struct block_iter *it, int64_t ts);
/* block_iter_error: the message of the last error ("" if none). */
const char *block_iter_error(const struct block_iter *it);
void block_iter_release(struct block_iter *it);

/* ---- maintenance ------------------------------------------------------------- */

/* block_remove deletes the block directory dir (renaming it to dir.deleted
 * first so a crash leaves no half block; a dir.deleted left by an earlier
 * crash is removed too). 0, TT_ESYS (also when dir does not exist).
 * Directories <id>.tmp (an unfinished writer) and <id>.deleted (an unfinished
 * removal) left in BLOCKS_DIR by a crash are never blocks: whoever scans
 * BLOCKS_DIR deletes them. */
int block_remove(const char *dir, char *err, size_t errlen);

/* block_new_id writes a fresh id (BLOCK_ID_LEN chars + NUL) into out. */
void block_new_id(char out[BLOCK_ID_LEN + 1]);

#endif
