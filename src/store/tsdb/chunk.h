/*
 * chunk.h - the head chunk codec of the TSDB: one series' samples (int64
 * millisecond timestamps, IEEE-754 doubles) appended in time order into a
 * caller-owned byte buffer, Gorilla style (delta-of-delta timestamps, XOR'd
 * values), and read back by an iterator. Layout in docs/design/tsdb.md
 * ("Chunks").
 *
 * Invariants: timestamps inside a chunk are strictly increasing; every double
 * (-0.0, infinities, NaNs with any payload, the Prometheus stale marker) comes
 * back bit for bit; after every successful append the buffer holds a complete,
 * readable chunk (header count, max time and bit length up to date), so a
 * reader may copy or iterate it between appends; the appender writes nothing
 * when an append fails. The decoder never reads outside the bytes it is given
 * and reports damage as TT_ECORRUPT.
 *
 * Not thread-safe: one appender per chunk; readers need the writer's lock (or
 * a copy of the bytes).
 */
#ifndef TT_TSDB_CHUNK_H
#define TT_TSDB_CHUNK_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* Header: encoding u8, flags u8, count u16 LE, payload bits u32 LE, min time
 * i64 LE, max time i64 LE; the bit stream follows. */
#define CHUNK_HDR_BYTES 24
#define CHUNK_ENC_XOR   1 /* the only head encoding so far */
#define CHUNK_MAX_COUNT 65535
/* Defaults for chunk_app_init: Prometheus cuts at 120 samples; 1 KiB bounds
 * the bytes of a chunk of random doubles. */
#define CHUNK_DEF_SAMPLES 120
#define CHUNK_DEF_BYTES   1024
/* The Prometheus staleness marker, a NaN with payload 2. It has its own
 * 3-bit code and does not disturb the XOR reference value. */
#define CHUNK_STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

/* chunk_app appends to one chunk. Caller-owned; no allocation of its own. */
struct chunk_app {
    struct wbuf *buf;     /* borrowed; the chunk starts at buf->data + start */
    size_t start;         /* offset of the chunk's header in buf */
    uint64_t nbits;       /* payload bits written */
    uint32_t max_samples; /* chunk_append returns TT_EFULL beyond these */
    uint32_t max_bytes;
    uint32_t count;
    int64_t t;      /* last timestamp */
    uint64_t delta; /* last timestamp delta (mod 2^64) */
    uint64_t ref;   /* XOR reference: bits of the last non-stale value */
    uint8_t lead;   /* current XOR window: leading zero bits ... */
    uint8_t sig;    /* ... and significant bits (0: no window yet) */
};

/* chunk_app_init starts an empty chunk at the end of buf (which the caller
 * owns and keeps alive while appending; it may hold other chunks before, but
 * nothing may be added after the chunk until its last append).
 * max_samples (1..CHUNK_MAX_COUNT) and max_bytes (>= CHUNK_HDR_BYTES + 32,
 * header included) bound the chunk; 0 takes the defaults above. Writes the
 * header at once. Returns 0, TT_EINVAL for bad limits, or buf's error
 * (TT_ENOMEM, TT_ETOOBIG). */
int chunk_app_init(struct chunk_app *a, struct wbuf *buf, uint32_t max_samples, uint32_t max_bytes);

/* chunk_append adds one sample. Returns 0; TT_ERANGE if t is not after the
 * last timestamp (out of order or duplicate: nothing written); TT_EFULL if the
 * chunk holds max_samples or the sample could push it past max_bytes (cut a
 * new chunk and append there); or buf's error (TT_ENOMEM, TT_ETOOBIG). Any
 * int64 timestamp is accepted, the first one included. */
int chunk_append(struct chunk_app *a, int64_t t, double v);

/* chunk_app_resume continues appending to an existing chunk (data/len, e.g.
 * read back from disk, copied into buf at offset start): it decodes the chunk
 * once to restore the state. Returns 0, TT_ECORRUPT, or TT_EINVAL. */
int chunk_app_resume(struct chunk_app *a, struct wbuf *buf, size_t start, uint32_t max_samples,
                     uint32_t max_bytes);

/* chunk_app_bytes: the chunk so far (borrowed, valid until the next append to
 * or growth of buf) and its length in bytes. */
const uint8_t *chunk_app_bytes(const struct chunk_app *a, size_t *len);

/* What the header of a chunk says, checked for self-consistency. */
struct chunk_info {
    uint32_t count;
    uint32_t nbits;
    int64_t min_t, max_t;
    size_t len; /* bytes the chunk occupies (header + payload) */
};

/* chunk_info_read reads the header of the chunk at data (n bytes, the chunk
 * may be followed by others). Returns 0, TT_ETRUNC if n is too short for the
 * header or the payload it announces, TT_EVERSION for an unknown encoding, or
 * TT_ECORRUPT (count 0 with payload, min > max, ...). */
int chunk_info_read(const uint8_t *data, size_t n, struct chunk_info *ci);

/* chunk_iter reads a chunk. Caller-owned; borrows the bytes it was given. */
struct chunk_iter {
    const uint8_t *p; /* payload */
    uint64_t nbits;   /* payload bits */
    uint64_t pos;     /* next bit */
    uint32_t count, i;
    int64_t max_t; /* from the header; the last sample must have it */
    int64_t t;     /* the current sample after a successful next/seek */
    double v;
    uint64_t delta, ref;
    uint8_t lead, sig;
    int err;
};

/* chunk_iter_init prepares to read the chunk at data (n bytes, as for
 * chunk_info_read). Returns 0 or chunk_info_read's errors. */
int chunk_iter_init(struct chunk_iter *it, const uint8_t *data, size_t n);

/* chunk_iter_next moves to the next sample (it->t, it->v). Returns 1, 0 at the
 * end, or TT_ECORRUPT (sticky: later calls return it too). */
int chunk_iter_next(struct chunk_iter *it);

/* chunk_iter_seek moves forward to the first sample with t >= ts (staying on
 * the current one if it already qualifies). Returns 1, 0 if there is none,
 * or TT_ECORRUPT. */
int chunk_iter_seek(struct chunk_iter *it, int64_t ts);

/* chunk_decode_all decodes the whole chunk into ts/vs (room for cap samples,
 * the count from chunk_info_read is enough). Returns the number of samples,
 * TT_ETOOBIG if cap is too small, or the iterator's errors. */
int chunk_decode_all(const uint8_t *data, size_t n, int64_t *ts, double *vs, size_t cap);

#endif
