/*
 * spanblock.h - the span store's block codec: up to a few thousand spans in
 * columns (docs/design/spans.md has the byte layout), compressed with zstd
 * when that is smaller, behind a header that carries what the store's
 * in-memory indexes need without decompressing the body: the time range,
 * the longest duration, the block's distinct trace ids and a Bloom filter
 * over service, (service, operation) and attribute key=value.
 *
 * Invariants: a block is read whole or reported and skipped; the header has
 * its own CRC32C (checked before any of its lengths is trusted) and the
 * stored body another. Decoded strings point into the reader's buffer and
 * stay valid until the next spanblock_read or spanblock_reader_release.
 */
#ifndef TT_SPANBLOCK_H
#define TT_SPANBLOCK_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/record.h"

#define SPANBLOCK_MAGIC     0x32425053u /* "SPB2" as bytes: with the HLC column */
#define SPANBLOCK_MAGIC_V1  0x31425053u /* "SPB1": no HLC column (still read) */
#define SPANBLOCK_FIXED_LEN 53          /* header bytes before trace ids and bloom */
#define SPANBLOCK_MAX_SPANS 65536
#define SPANBLOCK_MAX_RAW   (64u << 20)
#define SPANBLOCK_MAX_BLOOM 65536

/* One attribute of a span: a key and a typed value (tt_value_type). */
struct span_attr {
    struct rec_str key;
    struct rec_value v;
};

/* A span as the store keeps it. service and node come from the batch origin
 * or the span's attributes; events and links stay in the record format
 * (walk them with rec_span_event_next / rec_span_link_next). */
struct span_row {
    uint8_t trace_id[16];
    uint64_t span_id;
    uint64_t parent_id; /* 0: root */
    int64_t start_ns;
    uint64_t duration_ns;
    uint64_t hlc; /* the span's start HLC (core/hlc.h); 0: unknown */
    uint8_t kind, status, flags;
    struct rec_str service;
    struct rec_str node;
    struct rec_str name;
    struct rec_str status_message;
    uint32_t nattrs;
    const struct span_attr *attrs;
    struct rec_list events;
    struct rec_list links;
};

/* The decoded block header. trace_ids and bloom point into the bytes given
 * to spanblock_parse_header. */
struct spanblock_hdr {
    uint8_t version;  /* 1 (SPB1) or 2 (SPB2, with the HLC column) */
    uint32_t hdr_len; /* whole header, magic to CRC */
    uint32_t count;   /* spans */
    int64_t min_start_ns, max_start_ns;
    uint64_t max_duration_ns;
    uint8_t comp; /* batch_compression: NONE or ZSTD */
    uint32_t raw_len, stored_len;
    uint32_t ntraces;
    uint32_t bloom_bytes;     /* a power of two, or 0 */
    const uint8_t *trace_ids; /* ntraces * 16 bytes */
    const uint8_t *bloom;
};

/* spanblock_total_len: bytes of the whole block (header, body, body CRC). */
static inline size_t spanblock_total_len(const struct spanblock_hdr *h)
{
    return (size_t)h->hdr_len + h->stored_len + 4;
}

struct spanblock_writer;

/* spanblock_writer_new makes an empty writer (free with
 * spanblock_writer_free). Returns 0 or TT_ENOMEM. */
int spanblock_writer_new(struct spanblock_writer **out);
void spanblock_writer_free(struct spanblock_writer *w);

/* spanblock_add appends a span to the block being built (everything copied).
 * Returns 0, TT_EFULL (the block holds SPANBLOCK_MAX_SPANS or its raw size
 * would pass SPANBLOCK_MAX_RAW: finish it first), TT_EINVAL (an attribute of
 * unknown type) or TT_ENOMEM. */
int spanblock_add(struct spanblock_writer *w, const struct span_row *s);

/* spanblock_count: spans added since the last finish; spanblock_raw_bytes:
 * their encoded size so far. */
uint32_t spanblock_count(const struct spanblock_writer *w);
size_t spanblock_raw_bytes(const struct spanblock_writer *w);

/* spanblock_finish appends the whole block (header, body compressed at zstd
 * level when that is smaller, body CRC) to out and empties the writer.
 * level <= 0 means 3. Returns 0, TT_ESTATE (no spans), TT_EIO (zstd failed)
 * or out's sticky error (then out->len is unchanged). */
int spanblock_finish(struct spanblock_writer *w, struct wbuf *out, int level);

/* spanblock_parse_header checks and decodes the header at p (avail bytes),
 * of either version (a version 1 block's spans decode with hlc 0).
 * Returns 0; TT_ETRUNC (avail shorter than the header, which starts with the
 * magic); TT_ECORRUPT (bad magic, CRC or impossible field; message in err). */
int spanblock_parse_header(const uint8_t *p, size_t avail, struct spanblock_hdr *h, char *err,
                           size_t errlen);

/* spanblock_bloom_may_contain: 1 if item (len bytes) may be in the block's
 * Bloom filter (always 1 without one), 0 if it certainly is not. */
int spanblock_bloom_may_contain(const struct spanblock_hdr *h, const void *item, size_t len);

/* spanblock_bloom_service / _op / _tag build the Bloom items the writer
 * adds: "s" service; "o" service NUL operation; "t" key '=' value, where
 * the value is in its text form (spanblock_value_text). They write into out
 * (at most outlen bytes) and return the length, or 0 if it does not fit. */
size_t spanblock_bloom_service(char *out, size_t outlen, const char *svc, size_t n);
size_t spanblock_bloom_op(char *out, size_t outlen, const char *svc, size_t sn, const char *op,
                          size_t on);
size_t spanblock_bloom_tag(char *out, size_t outlen, const char *key, size_t kn, const char *val,
                           size_t vn);

/* spanblock_value_text writes the text form of v into out (strings as they
 * are, integers in decimal, doubles shortest round-trip, booleans
 * true/false) and returns its length (truncated to outlen - 1, NUL added). */
size_t spanblock_value_text(const struct rec_value *v, char *out, size_t outlen);

/* A block reader: decompresses and walks one block's spans. */
struct spanblock_reader {
    struct wbuf raw;      /* decompressed body (owned) */
    struct rec_str *strs; /* string table */
    uint32_t nstrs, cap_strs;
    struct span_attr *attrs; /* the current span's attributes */
    uint32_t cap_attrs;
    uint64_t *span_ids; /* every span id of the block, for parent references */
    uint32_t cap_ids;
    const uint8_t *trace_ids;
    uint32_t ntraces;
    int64_t min_start;
    uint32_t count, next;
    int64_t prev_start;
    int64_t max_seen;   /* highest string index met (string references) */
    int ncols;          /* 7 in a version 1 block, 8 in version 2 */
    struct rbuf col[8]; /* trace idx, span ids, parents, starts, durations, meta, attrs, hlc */
};

void spanblock_reader_init(struct spanblock_reader *r);
void spanblock_reader_release(struct spanblock_reader *r);

/* spanblock_read checks the body CRC of the block at p (the header h parsed
 * from p, spanblock_total_len(h) bytes available), decompresses it and
 * positions r at its first span. Returns 0; TT_ECORRUPT (CRC, sizes or a
 * column that does not parse; message in err); TT_ENOMEM. */
int spanblock_read(struct spanblock_reader *r, const uint8_t *p, const struct spanblock_hdr *h,
                   char *err, size_t errlen);

/* spanblock_next decodes the next span into *out (pointers valid until the
 * next spanblock_read or release; out->attrs until the next call). Returns
 * 1, 0 at the end, or TT_ECORRUPT (message in err). */
int spanblock_next(struct spanblock_reader *r, struct span_row *out, char *err, size_t errlen);

#endif
