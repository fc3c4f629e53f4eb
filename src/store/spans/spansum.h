/*
 * spansum.h - per-block span summaries: for every (service, operation) of a
 * span block, the span count, the error count and a latency sketch
 * (core/sketch.h) of the durations. The span store appends one summary
 * record per block to a sidecar file per segment (NNNNNNNN.sum), so stats
 * over a window merge the summaries of the blocks wholly inside it instead
 * of decoding their spans. Layout in docs/design/spans.md, "Summaries".
 *
 * A record: u32 magic "SPS1", u32 rec_len (magic to CRC), u64 block_off,
 * u32 block_len, u32 ngroups, u8 comp (0 none, 1 zstd), u32 raw_len (the
 * groups' bytes uncompressed), the groups as stored, u32 CRC32C of
 * everything before it. A group: str service, str operation, uvarint
 * errors, uvarint sketch_len, the sketch's encoding (its count is the
 * group's span count). The groups are zstd-compressed when that is smaller
 * (about half: bucket gaps and counts are small numbers).
 */
#ifndef TT_SPANSUM_H
#define TT_SPANSUM_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/sketch.h"
#include "store/spans/spanblock.h"

#define SPANSUM_MAGIC     0x31535053u /* "SPS1" as bytes */
#define SPANSUM_FIXED_LEN 29 /* magic, rec_len, block_off, block_len, ngroups, comp, raw_len */
#define SPANSUM_MAX_LEN   (16u << 20)

struct spansum_group {
    char *service, *operation; /* owned, NUL-terminated */
    size_t slen, olen;
    uint64_t errors;
    struct sketch sk;
};

/* A summary being built from spans (one block's). */
struct spansum {
    struct spansum_group *g;
    size_t n, cap;
    size_t last; /* the group the previous span went to */
};

void spansum_init(struct spansum *s);
void spansum_release(struct spansum *s);
/* spansum_reset forgets the groups (keeping the array's memory). */
void spansum_reset(struct spansum *s);

/* spansum_add counts span r in its (service, operation) group: duration in
 * the sketch, an error when r->status is TT_STATUS_ERROR. Returns 0 or
 * TT_ENOMEM. */
int spansum_add(struct spansum *s, const struct span_row *r);

/* spansum_encode appends the record of s for the block at block_off
 * (block_len bytes) to out, the groups compressed with zstd at level (<= 0:
 * 3) when smaller; errors are out's sticky error. */
void spansum_encode(const struct spansum *s, uint64_t block_off, uint32_t block_len,
                    struct wbuf *out, int level);

/* A parsed record. groups is NULL until spansum_open_groups. */
struct spansum_rec {
    uint32_t rec_len;
    uint64_t block_off;
    uint32_t block_len;
    uint32_t ngroups;
    uint8_t comp;
    uint32_t raw_len;
    const uint8_t *stored; /* the groups as stored, into the parsed bytes */
    size_t stored_len;
    const uint8_t *groups; /* the groups decoded (spansum_open_groups) */
    size_t groups_len;
};

/* spansum_parse checks the record at p (avail bytes): magic, lengths and
 * CRC. Returns 0; TT_ETRUNC (avail shorter than the record); TT_ECORRUPT
 * (bad magic, length, compression or CRC; reason in err). */
int spansum_parse(const uint8_t *p, size_t avail, struct spansum_rec *rec, char *err,
                  size_t errlen);

/* Scratch space for decompressing groups: reuse one across records. */
struct spansum_scratch {
    struct wbuf raw;
    void *dctx; /* a ZSTD_DCtx */
};

void spansum_scratch_init(struct spansum_scratch *sc);
void spansum_scratch_release(struct spansum_scratch *sc);

/* spansum_open_groups sets rec->groups: the stored bytes, or decompressed
 * into sc (valid until sc's next use). Returns 0, TT_ECORRUPT (does not
 * decompress to raw_len bytes; reason in err) or TT_ENOMEM. */
int spansum_open_groups(struct spansum_rec *rec, struct spansum_scratch *sc, char *err,
                        size_t errlen);

/* A walk over an opened record's groups. */
struct spansum_iter {
    struct rbuf r;
    uint32_t left;
};

void spansum_iter_init(struct spansum_iter *it, const struct spansum_rec *rec);

/* spansum_next reads the next group's names (pointing into the record)
 * and error count, and leaves its sketch encoded in *sk_bytes (*sk_len bytes)
 * (decode with sketch_decode only when the group is wanted). Returns 1, 0
 * at the end, or TT_ECORRUPT (reason in err). */
int spansum_next(struct spansum_iter *it, struct rec_str *service, struct rec_str *operation,
                 uint64_t *errors, const uint8_t **sk_bytes, size_t *sk_len, char *err,
                 size_t errlen);

#endif
