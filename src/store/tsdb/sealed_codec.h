/*
 * sealed_codec.h - the codec of sealed (persisted, immutable) chunks of the
 * TSDB: one series' samples over a block's time range, stored as two
 * independent columns so a block can share one timestamp column between every
 * series scraped together (the block writer dedupes them by content). Chosen
 * by the codec study in docs/design/tsdb.md ("Codec study"), byte layouts
 * there too.
 *
 * Timestamps: "regular" (start + step) when every delta is equal, else
 * delta-of-delta zigzag varints. Values: constant; decimal-aware integers
 * (every value m / 10^k for one k per column, m transformed by delta or
 * delta-of-delta, divided by the common factor, zigzag varints, exceptions
 * for the doubles that are not such decimals); or a head XOR chunk when that
 * is smaller. Each column may be zstd-compressed when that is smaller.
 *
 * Invariants: lossless for every int64 timestamp sequence that strictly
 * increases and every double bit pattern (-0.0, NaN payloads, stale markers);
 * a column is a pure function of its input and the zstd level; decoders never
 * read outside their input and answer damage with TT_ECORRUPT.
 */
#ifndef TT_TSDB_SEALED_CODEC_H
#define TT_TSDB_SEALED_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* A sealed chunk holds at most this many samples (the XOR fallback is a head
 * chunk, whose count is 16 bits). */
#define SEALED_MAX_SAMPLES 65535

/* sealed_ctx holds the scratch memory and zstd contexts the codec reuses.
 * Caller-owned; one per thread. */
struct sealed_ctx {
    int zstd_level; /* 0: never compress (decoding zstd columns still works) */
    void *cctx;     /* ZSTD_CCtx, created on first use */
    void *dctx;     /* ZSTD_DCtx, created on first use */
    struct wbuf a, b;
    int64_t *ints;
    size_t ints_cap;
};

/* sealed_ctx_init prepares c; zstd_level 0 (off) or 1..19 (3 is the default
 * used by the block writer). Returns 0 or TT_EINVAL. */
int sealed_ctx_init(struct sealed_ctx *c, int zstd_level);
/* sealed_ctx_release frees everything c holds. */
void sealed_ctx_release(struct sealed_ctx *c);

/* sealed_ts_encode appends the timestamp column of ts[0..n) (strictly
 * increasing, 1 <= n <= SEALED_MAX_SAMPLES) to out. Returns 0, TT_EINVAL (n out
 * of range), TT_ERANGE (not strictly increasing), TT_ENOMEM, TT_ETOOBIG (out's
 * limit) or TT_EIO (zstd failed). */
int sealed_ts_encode(struct sealed_ctx *c, struct wbuf *out, const int64_t *ts, size_t n);

/* sealed_ts_decode decodes a timestamp column of exactly len bytes holding n
 * samples into ts[0..n). Returns 0, TT_ECORRUPT, TT_EINVAL or TT_ENOMEM. */
int sealed_ts_decode(struct sealed_ctx *c, const uint8_t *p, size_t len, int64_t *ts, size_t n);

/* sealed_values_encode appends the value column of vs[0..n) to out (1 <= n <=
 * SEALED_MAX_SAMPLES). Returns 0, TT_EINVAL, TT_ENOMEM, TT_ETOOBIG or TT_EIO. */
int sealed_values_encode(struct sealed_ctx *c, struct wbuf *out, const double *vs, size_t n);

/* sealed_values_decode decodes a value column of exactly len bytes holding n
 * values into vs[0..n). Returns 0, TT_ECORRUPT, TT_EINVAL or TT_ENOMEM. */
int sealed_values_decode(struct sealed_ctx *c, const uint8_t *p, size_t len, double *vs, size_t n);

/* A self-contained sealed chunk: uvarint n, uvarint length of the timestamp
 * column, the timestamp column, the value column (to the end). */

/* sealed_chunk_encode appends one chunk of n samples to out. Errors as the
 * column encoders. */
int sealed_chunk_encode(struct sealed_ctx *c, struct wbuf *out, const int64_t *ts, const double *vs,
                        size_t n);

/* sealed_chunk_count reads the sample count of the chunk p/len (0 on damage),
 * so the caller can size the arrays for sealed_chunk_decode. */
size_t sealed_chunk_count(const uint8_t *p, size_t len);

/* sealed_chunk_decode decodes the chunk of exactly len bytes into ts and vs
 * (room for cap samples). Returns the count, TT_ETOOBIG if cap is too small,
 * or the column decoders' errors. */
int sealed_chunk_decode(struct sealed_ctx *c, const uint8_t *p, size_t len, int64_t *ts, double *vs,
                        size_t cap);

#endif
