/*
 * evseg.h - the events store's block codec: a segment file
 * (DATA/events/NNNNNNNN.evs) is a sequence of blocks, each a header (with
 * its own CRC, the block's time/HLC/severity summary and a Bloom filter of
 * its searchable terms) and a zstd-compressed body of events
 * (docs/design/events.md has the byte layout).
 *
 * Invariants: a reader trusts a header's lengths only after its CRC
 * checked; a body is decoded only after its CRC checked and decompressed to
 * exactly raw_len bytes; event iteration never reads outside the body and
 * reports any entry that does not fit as TT_ECORRUPT.
 */
#ifndef TT_STORE_EVSEG_H
#define TT_STORE_EVSEG_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/record.h"

#define EVSEG_MAGIC       0x31424554u /* "TEB1" */
#define EVSEG_FIXED_LEN   72          /* the header before its Bloom filter */
#define EVSEG_BLOOM_MIN   64          /* Bloom filter bytes: a power of two in */
#define EVSEG_BLOOM_MAX   65536       /* [EVSEG_BLOOM_MIN, EVSEG_BLOOM_MAX] */
#define EVSEG_TRAILER_LEN 4
#define EVSEG_MAX_STORED  (16u << 20)
#define EVSEG_MAX_RAW     (64u << 20)

/* One batch the block holds the first event of: for dedup at reopen. */
struct evseg_key {
    uint64_t origin_id;
    uint64_t first_seq;
};

struct evseg_hdr {
    uint32_t stored_len; /* body bytes as stored (zstd) */
    uint32_t raw_len;    /* body bytes decompressed */
    uint8_t sevmask;     /* bit s set: an event of severity s (0..7) */
    uint16_t nkeys;
    uint32_t count; /* events */
    uint64_t first_id;
    int64_t tmin, tmax;
    uint64_t hlc_min, hlc_max;
    uint32_t header_len;  /* EVSEG_FIXED_LEN + bloom_len */
    uint32_t bloom_len;   /* bytes */
    const uint8_t *bloom; /* borrowed: into the parsed bytes, or the owner's copy */
};

/* One decoded event; strings and attrs point into the body buffer. */
struct evseg_event {
    uint64_t id;
    int64_t time_ns;
    uint64_t hlc;
    uint8_t severity;
    struct rec_str node, process, component, name, message;
    struct rec_list attrs; /* kv list (rec_kv_next) */
};

static inline size_t evseg_total_len(const struct evseg_hdr *h)
{
    return (size_t)h->header_len + h->stored_len + EVSEG_TRAILER_LEN;
}

/* --- Bloom filter of a block's terms (node, component, name, key=value,
 * text tokens), each a kind letter and the term's bytes. The builder sizes
 * it at about 10 bits per distinct term (rounded up to a power of two). ---
 * evseg_term_hash hashes a term (text tokens case-insensitively);
 * evseg_bloom_maybe says whether the term may be in the block (0: surely
 * not). */
uint64_t evseg_term_hash(char kind, const char *p, size_t n);
int evseg_bloom_maybe(const uint8_t *bloom, uint32_t bloom_len, uint64_t term_hash);

/* evseg_value_text formats a value as the API and the kv filter show it
 * (strings as they are, ints in decimal, doubles shortest round-trip, bools
 * true/false) into out; returns the length (truncated to outlen - 1). For a
 * string, *direct points to it instead and out is untouched. */
size_t evseg_value_text(const struct rec_value *v, char *out, size_t outlen, const char **direct);

/* evseg_next_token finds the next text token (a run of ASCII letters and
 * digits, or bytes >= 0x80) in p[*pos..n): returns 1 with *start and *len
 * set and *pos past it, 0 at the end. Tokens compare case-insensitively. */
int evseg_next_token(const char *p, size_t n, size_t *pos, size_t *start, size_t *len);

/* --- the writer: events go into a raw body, evseg_block_finish compresses
 * it and appends the whole block to out. --- */
struct evseg_builder {
    struct wbuf raw; /* entries */
    struct wbuf keys;
    struct wbuf terms; /* u64 term hashes, sorted and deduplicated at finish */
    struct evseg_hdr h;
};

void evseg_builder_init(struct evseg_builder *b);
void evseg_builder_release(struct evseg_builder *b);
/* evseg_builder_reset empties b for a block whose first event gets first_id. */
void evseg_builder_reset(struct evseg_builder *b, uint64_t first_id);
/* evseg_builder_key notes a batch whose first event goes into this block. */
void evseg_builder_key(struct evseg_builder *b, uint64_t origin_id, uint64_t first_seq);
/* evseg_builder_add appends an event (e->id is ignored: ids follow first_id).
 * Returns 0 or the buffer's sticky error (TT_ENOMEM, TT_ETOOBIG). */
int evseg_builder_add(struct evseg_builder *b, const struct evseg_event *e);
/* evseg_builder_finish appends the block to out (nothing when b is empty).
 * Returns 0; TT_ENOMEM; TT_ETOOBIG; TT_EIO (compression failed). */
int evseg_builder_finish(struct evseg_builder *b, struct wbuf *out);

/* --- the reader --- */

/* evseg_parse_header checks and decodes a block header at p (avail bytes);
 * h->bloom points into p. Returns 0; TT_ETRUNC (avail shorter than the
 * header); TT_ECORRUPT (bad magic, CRC or impossible lengths; message in
 * err). */
int evseg_parse_header(const uint8_t *p, size_t avail, struct evseg_hdr *h, char *err,
                       size_t errlen);

/* evseg_open_body checks the body CRC of the block at p (whole block:
 * evseg_total_len(h) bytes) and decompresses it into raw (replaced).
 * Returns 0, TT_ECORRUPT (CRC, decompression, size), TT_ENOMEM. */
int evseg_open_body(const uint8_t *p, const struct evseg_hdr *h, struct wbuf *raw, char *err,
                    size_t errlen);

/* A walk over a decompressed body: keys first, then events. */
struct evseg_iter {
    struct rbuf r;
    const struct evseg_hdr *h;
    uint32_t i;
};

/* evseg_iter_init checks that the keys fit and positions at the first event;
 * keys (may be NULL) gets a borrowed pointer to the nkeys keys (16 bytes
 * each, little-endian origin_id then first_seq). Returns 0 or TT_ECORRUPT. */
int evseg_iter_init(struct evseg_iter *it, const struct evseg_hdr *h, const uint8_t *raw,
                    size_t raw_len, const uint8_t **keys);
/* evseg_iter_next decodes the next event. Returns 1, 0 after count events
 * (TT_ECORRUPT if bytes are left over), or TT_ECORRUPT (message in err). */
int evseg_iter_next(struct evseg_iter *it, struct evseg_event *e, char *err, size_t errlen);

#endif
