/*
 * block_int.h - what the block modules share (block_write.c, block_read.c,
 * block_iter.c): the on-disk constants of docs/design/tsdb.md ("## Blocks"),
 * the opened block's in-memory tables and the decoders of series records.
 *
 * Invariants: a struct block is immutable once block_load has returned 0,
 * and every offset, count and length in its tables has been checked against
 * the bytes it points into, so readers may walk series records without
 * re-checking bounds (they still use struct rbuf, which cannot overrun).
 * Chunk and rollup pages are checked (CRC32C, lengths, decoded contents)
 * when an iterator first reads them.
 */
#ifndef TT_TSDB_BLOCK_INT_H
#define TT_TSDB_BLOCK_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "core/buf.h"
#include "store/tsdb/block.h"

#define BLOCK_FORMAT_VERSION 1
/* File headers: 4 magic bytes, u8 version, 3 zero bytes. */
#define BLOCK_FILE_HDR      8
#define BLOCK_MAGIC_INDEX   "TTIX"
#define BLOCK_MAGIC_CHUNKS  "TTCK"
#define BLOCK_MAGIC_ROLLUPS "TTRU"
/* Page header: u32 crc32c (of the next 12 header bytes and the payload),
 * u32 stored length, u32 raw length, u8 method, 3 zero bytes. */
#define BLOCK_PAGE_HDR  16
#define BLOCK_PAGE_RAW  0
#define BLOCK_PAGE_ZSTD 1
/* Pages are cut before a column would take them past this many raw bytes; a
 * column larger than that gets a page of its own. */
#define BLOCK_PAGE_TARGET 65536
/* No page may hold more raw bytes (bounds what a reader allocates). */
#define BLOCK_PAGE_RAW_MAX (16u << 20)
/* Index header: "TTIX", u8 version, u8 flags, u16 0, i64 mint, i64 maxt. */
#define BLOCK_INDEX_HDR    24
#define BLOCK_FLAG_ROLLUPS 1u
enum { SEC_SYMBOLS, SEC_PAGES, SEC_RPAGES, SEC_TSCOLS, SEC_SERIES, SEC_LABELS, SEC_COUNT };
/* TOC at the end of the index: per section u64 offset, u64 length, u32
 * crc32c; then u32 crc32c of the header and the TOC before it. */
#define BLOCK_TOC_BYTES (SEC_COUNT * 20 + 4)
/* Rollup resolutions in the order series records store them. */
#define BLOCK_NRES 2
/* Columns of a rollup segment record: t, min, max, sum, count, last. */
#define BLOCK_ROLLUP_COLS 6
/* The stale marker (Prometheus's StaleNaN), skipped by rollups. */
#define BLOCK_STALE_BITS UINT64_C(0x7ff0000000000002)

/* meta.json holds no more than this (larger is corrupt). */
#define BLOCK_META_MAX (1u << 24)

enum { BFILE_CHUNKS = 0, BFILE_ROLLUPS = 1 };

/* A page table: where each page of the chunks or rollups file starts. */
struct bpages {
    uint32_t n;
    uint64_t *off;   /* file offset of the page header */
    uint32_t *bytes; /* stored payload bytes */
    uint32_t *raw;   /* raw bytes once decompressed */
};

struct bname {
    uint32_t sym;
    uint32_t first_pair, npairs; /* its values: pairs[first_pair ..] */
    uint32_t npost;
    size_t post; /* offset in the index of its postings (delta uvarints) */
};

struct bpair {
    uint32_t sym; /* value */
    uint32_t npost;
    size_t post;
};

/* A timestamp column (chunks reference them by number: shared ones once). */
struct btscol {
    uint32_t page, off, len;
};

struct block {
    char *dir; /* for messages and block_dir */
    struct block_meta meta;
    void *map[3]; /* mmap'd index, chunks, rollups (NULL for block_open_mem) */
    size_t maplen[3];
    const uint8_t *ix, *file[2]; /* index; chunks and rollups */
    size_t ixlen, filelen[2];
    int64_t mint, maxt;
    int has_rollups;
    uint32_t nsyms;
    uint32_t *symoff; /* string start (after its length) in ix, by symbol */
    uint32_t *symlen;
    struct bpages pages[2];
    uint32_t ntscols;
    struct btscol *tscols;
    uint32_t nseries;
    size_t *seroff; /* record start in ix, by series */
    uint32_t nnames, npairs;
    struct bname *names;
    struct bpair *pairs;
    /* Decompressed pages shared across readers (block_set_page_cache), or
     * NULL; pc_serial names this block's pages in it. */
    struct page_cache *pc;
    uint64_t pc_serial;
};

/* One chunk reference decoded from a series record (or a rollup segment). */
struct bchunk {
    int64_t mint, maxt;
    uint32_t n;
    uint32_t tcol;              /* the timestamp column's number */
    uint32_t tpage, toff, tlen; /* and where it is */
    uint32_t page, off, len;    /* the value column */
};

/* A cursor over the chunk list of one series record. */
struct bcursor {
    const struct block *b;
    struct rbuf r;
    uint32_t left;
    int64_t prev_t;
    uint32_t prev_page;
    int rollup;
};

/* A page cache shared by the iterators of one series set (one thread):
 * refcounted, so iterators may outlive their set (block_iter.c). */
struct bcache;
struct bcache *bcache_new(const struct block *b);
void bcache_unref(struct bcache *c);

struct block_series_set {
    const struct block *b;
    size_t n;
    uint32_t *ids;
    struct labels *ls;
    struct label *lab; /* every set's label array, in one allocation */
    struct bcache *cache;
};

static inline const char *block_sym(const struct block *b, uint32_t s)
{
    return (const char *)b->ix + b->symoff[s];
}

/* block_series_labels decodes series id's labels into ls (interned strings
 * of the mapped index). 0 or TT_ENOMEM. */
int block_series_labels(const struct block *b, uint32_t id, struct labels *ls);

/* block_cursor_init positions c on series id's chunk references. */
void block_cursor_init(const struct block *b, uint32_t id, struct bcursor *c);
/* block_cursor_next decodes the next reference: 1, or 0 at the end. */
int block_cursor_next(struct bcursor *c, struct bchunk *ch);
/* block_series_rollups: where series id's rollup record is (the block must
 * have rollups; the record itself is checked when read). */
void block_series_rollups(const struct block *b, uint32_t id, uint32_t *page, uint32_t *off,
                          uint32_t *len);

/* block_res_index: 0 for 5 min, 1 for 1 h, -1 otherwise. */
static inline int block_res_index(int64_t res_ms)
{
    return res_ms == BLOCK_ROLLUP_5M_MS ? 0 : res_ms == BLOCK_ROLLUP_1H_MS ? 1 : -1;
}

/* block_file_name: "index", "chunks", "rollups" or "meta.json". */
const char *block_file_name(int which);

/* block_errstr: errno e's message (thread-safe, in buf). */
static inline const char *block_errstr(int e, char *buf, size_t len)
{
    return strerror_r(e, buf, len); /* GNU: returns the message */
}

/* block_set_err formats into err (errlen may be 0); returns code. */
int block_set_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
