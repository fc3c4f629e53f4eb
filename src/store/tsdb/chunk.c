/*
 * chunk.c - the head chunk codec (see chunk.h; layout in docs/design/tsdb.md).
 *
 * The bit stream is big-endian within bytes (the first bit is the top bit of
 * the first payload byte). The appender ORs bits into zeroed memory through
 * 64-bit loads and stores, so it always keeps at least 32 zero bytes of room
 * after the last payload byte; bits past nbits are zero, which makes a chunk
 * a pure function of its samples.
 *
 * Timestamp of sample i >= 1: dod = (t_i - t_{i-1}) - (t_{i-1} - t_{i-2})
 * computed mod 2^64 (the delta before the first is 0), one of
 *     0                     dod == 0
 *     10    + 5 bits        [-16, 15]
 *     110   + 9 bits        [-256, 255]
 *     1110  + 13 bits       [-4096, 4095]
 *     11110 + 20 bits       [-2^19, 2^19 - 1]
 *     11111 + 64 bits       anything else
 * Value of sample 0: 64 raw bits. Value of sample i >= 1, x = bits ^ ref:
 *     0                     x == 0 (same as the reference)
 *     10  + sig bits        x fits the current window (lead, sig)
 *     110 + 5 lead + 6 (sig - 1) + sig bits: a new window
 *     111                   the stale marker (ref unchanged)
 */
#include "store/tsdb/chunk.h"
#include <string.h>
#include "telltale.h"

#define ROOM_BYTES 32 /* zeroed slack after the payload, > one sample */

static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

static uint8_t *payload(const struct chunk_app *a)
{
    return a->buf->data + a->start + CHUNK_HDR_BYTES;
}

/* put writes the low n bits of v (n <= 56, higher bits of v zero). */
static inline void put(uint8_t *pl, uint64_t *nbits, uint64_t v, unsigned n)
{
    uint8_t *q = pl + (*nbits >> 3);
    unsigned off = (unsigned)(*nbits & 7);
    store_be64(q, load_be64(q) | (v << (64 - off - n)));
    *nbits += n;
}

static inline void put64(uint8_t *pl, uint64_t *nbits, uint64_t v, unsigned n)
{
    if (n > 32) {
        put(pl, nbits, v >> 32, n - 32);
        put(pl, nbits, v & 0xffffffffu, 32);
    } else {
        put(pl, nbits, v, n);
    }
}

static void write_header(const struct chunk_app *a, int64_t min_t)
{
    uint8_t *h = a->buf->data + a->start;
    h[0] = CHUNK_ENC_XOR;
    h[1] = 0;
    h[2] = (uint8_t)a->count;
    h[3] = (uint8_t)(a->count >> 8);
    put_le32(h + 4, (uint32_t)a->nbits);
    put_le64(h + 8, (uint64_t)min_t);
    put_le64(h + 16, (uint64_t)a->t);
}

/* make_room keeps ROOM_BYTES of zeroed capacity after the payload. */
static int make_room(struct chunk_app *a)
{
    size_t end = a->start + CHUNK_HDR_BYTES + (size_t)((a->nbits + 7) >> 3);
    struct wbuf *b = a->buf;
    if (b->cap - end < ROOM_BYTES && wbuf_reserve(b, ROOM_BYTES) != 0)
        return b->err;
    memset(b->data + end, 0, ROOM_BYTES);
    return 0;
}

static int check_limits(uint32_t *max_samples, uint32_t *max_bytes)
{
    if (*max_samples == 0)
        *max_samples = CHUNK_DEF_SAMPLES;
    if (*max_bytes == 0)
        *max_bytes = CHUNK_DEF_BYTES;
    if (*max_samples > CHUNK_MAX_COUNT || *max_bytes < CHUNK_HDR_BYTES + 32 ||
        *max_bytes > (UINT32_MAX >> 3))
        return TT_EINVAL;
    return 0;
}

int chunk_app_init(struct chunk_app *a, struct wbuf *buf, uint32_t max_samples, uint32_t max_bytes)
{
    memset(a, 0, sizeof *a);
    if (check_limits(&max_samples, &max_bytes) != 0)
        return TT_EINVAL;
    a->buf = buf;
    a->start = buf->len;
    a->max_samples = max_samples;
    a->max_bytes = max_bytes;
    if (wbuf_reserve(buf, CHUNK_HDR_BYTES + ROOM_BYTES) != 0)
        return buf->err;
    buf->len += CHUNK_HDR_BYTES;
    write_header(a, 0);
    memset(buf->data + buf->len, 0, ROOM_BYTES);
    return 0;
}

static inline int64_t sx(uint64_t v, unsigned n)
{
    return (int64_t)(v << (64 - n)) >> (64 - n);
}

static inline int fits(int64_t d, unsigned n)
{
    int64_t lim = INT64_C(1) << (n - 1);
    return d >= -lim && d < lim;
}

static inline void put_dod(uint8_t *pl, uint64_t *nb, uint64_t udod)
{
    int64_t dod = (int64_t)udod;
    if (dod == 0)
        put(pl, nb, 0, 1);
    else if (fits(dod, 5))
        put(pl, nb, (UINT64_C(2) << 5) | (udod & 0x1f), 7);
    else if (fits(dod, 9))
        put(pl, nb, (UINT64_C(6) << 9) | (udod & 0x1ff), 12);
    else if (fits(dod, 13))
        put(pl, nb, (UINT64_C(14) << 13) | (udod & 0x1fff), 17);
    else if (fits(dod, 20))
        put(pl, nb, (UINT64_C(30) << 20) | (udod & 0xfffff), 25);
    else {
        put(pl, nb, 31, 5);
        put64(pl, nb, udod, 64);
    }
}

static inline void put_value(struct chunk_app *a, uint8_t *pl, uint64_t *nb, uint64_t bits)
{
    uint64_t x = bits ^ a->ref;
    if (x == 0) {
        put(pl, nb, 0, 1);
        return;
    }
    if (bits == CHUNK_STALE_NAN_BITS) {
        put(pl, nb, 7, 3);
        return;
    }
    unsigned lead = (unsigned)__builtin_clzll(x);
    unsigned trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31)
        lead = 31;
    unsigned sig = 64 - lead - trail;
    /* Reuse the window when x fits it and that is no dearer than the 11 bits
     * of a new window's description plus the shorter payload. */
    if (a->sig && lead >= a->lead && trail >= 64u - a->lead - a->sig && a->sig <= sig + 12) {
        unsigned sh = 64u - a->lead - a->sig;
        if (a->sig <= 54)
            put(pl, nb, (UINT64_C(2) << a->sig) | (x >> sh), a->sig + 2);
        else {
            put(pl, nb, 2, 2);
            put64(pl, nb, x >> sh, a->sig);
        }
    } else {
        put(pl, nb, (UINT64_C(6) << 11) | ((uint64_t)lead << 6) | (sig - 1), 14);
        put64(pl, nb, x >> trail, sig);
        a->lead = (uint8_t)lead;
        a->sig = (uint8_t)sig;
    }
    a->ref = bits;
}

int chunk_append(struct chunk_app *a, int64_t t, double v)
{
    if (a->count >= a->max_samples)
        return TT_EFULL;
    if (a->count > 0 && t <= a->t)
        return TT_ERANGE;
    int rc = make_room(a);
    if (rc != 0)
        return rc;
    uint8_t *pl = payload(a);
    uint64_t nb = a->nbits;
    uint64_t bits = f64_bits(v);
    struct chunk_app save = *a;
    uint64_t delta = 0;
    if (a->count == 0) {
        put64(pl, &nb, bits, 64);
        a->ref = bits;
    } else {
        delta = (uint64_t)t - (uint64_t)a->t;
        put_dod(pl, &nb, delta - a->delta);
        put_value(a, pl, &nb, bits);
    }
    if (CHUNK_HDR_BYTES + ((nb + 7) >> 3) > a->max_bytes) {
        /* Undo: clear the bits written after the old end. */
        uint8_t *q = pl + (save.nbits >> 3);
        unsigned off = (unsigned)(save.nbits & 7);
        if (off)
            *q++ &= (uint8_t)(0xff00u >> off);
        memset(q, 0, (size_t)(pl + ((nb + 7) >> 3) - q));
        *a = save;
        return TT_EFULL;
    }
    int64_t min_t = a->count == 0 ? t : (int64_t)get_le64(a->buf->data + a->start + 8);
    a->nbits = nb;
    a->delta = delta;
    a->t = t;
    a->count++;
    a->buf->len = a->start + CHUNK_HDR_BYTES + (size_t)((nb + 7) >> 3);
    write_header(a, min_t);
    return 0;
}

const uint8_t *chunk_app_bytes(const struct chunk_app *a, size_t *len)
{
    *len = CHUNK_HDR_BYTES + (size_t)((a->nbits + 7) >> 3);
    return a->buf->data + a->start;
}

int chunk_info_read(const uint8_t *data, size_t n, struct chunk_info *ci)
{
    if (n < CHUNK_HDR_BYTES)
        return TT_ETRUNC;
    if (data[0] != CHUNK_ENC_XOR || data[1] != 0)
        return TT_EVERSION;
    ci->count = (uint32_t)data[2] | (uint32_t)data[3] << 8;
    ci->nbits = get_le32(data + 4);
    ci->min_t = (int64_t)get_le64(data + 8);
    ci->max_t = (int64_t)get_le64(data + 16);
    ci->len = CHUNK_HDR_BYTES + (size_t)(((uint64_t)ci->nbits + 7) >> 3);
    if (ci->count == 0 && (ci->nbits != 0 || ci->min_t != 0 || ci->max_t != 0))
        return TT_ECORRUPT;
    if (ci->min_t > ci->max_t || (ci->count == 1 && ci->min_t != ci->max_t))
        return TT_ECORRUPT;
    /* Every sample after the first takes at least 2 bits, the first 64. */
    if (ci->count > 0 && ci->nbits < 64 + 2 * (uint64_t)(ci->count - 1))
        return TT_ECORRUPT;
    if (ci->len > n)
        return TT_ETRUNC;
    return 0;
}

int chunk_iter_init(struct chunk_iter *it, const uint8_t *data, size_t n)
{
    struct chunk_info ci;
    memset(it, 0, sizeof *it);
    int rc = chunk_info_read(data, n, &ci);
    if (rc != 0) {
        it->err = rc;
        return rc;
    }
    it->p = data + CHUNK_HDR_BYTES;
    it->nbits = ci.nbits;
    it->count = ci.count;
    it->t = ci.min_t;
    it->max_t = ci.max_t;
    return 0;
}

/* peek returns the next 64 bits of the stream from pos (zeros past the end;
 * at least 57 of them are real when pos + 57 <= nbits). */
static inline uint64_t peek(const struct chunk_iter *it)
{
    uint64_t byte = it->pos >> 3;
    uint64_t nb = (it->nbits + 7) >> 3;
    uint64_t w = 0;
    if (byte + 8 <= nb) {
        w = load_be64(it->p + byte);
    } else {
        for (unsigned i = 0; byte + i < nb; i++)
            w |= (uint64_t)it->p[byte + i] << (56 - 8 * i);
    }
    return w << (it->pos & 7);
}

static inline int take(struct chunk_iter *it, unsigned n, uint64_t *v)
{
    if (it->pos + n > it->nbits)
        return -1;
    *v = peek(it) >> (64 - n);
    it->pos += n;
    return 0;
}

static inline int take64(struct chunk_iter *it, unsigned n, uint64_t *v)
{
    uint64_t hi, lo;
    if (n <= 32)
        return take(it, n, v);
    if (take(it, n - 32, &hi) || take(it, 32, &lo))
        return -1;
    *v = hi << 32 | lo;
    return 0;
}

static int corrupt(struct chunk_iter *it)
{
    it->err = TT_ECORRUPT;
    return TT_ECORRUPT;
}

/* read_dod decodes one timestamp prefix and payload (see the table above). */
static inline int read_dod(struct chunk_iter *it, uint64_t *dod)
{
    if (it->pos + 25 <= it->nbits) {
        uint64_t w = peek(it);
        if (!(w >> 63)) {
            it->pos += 1;
            *dod = 0;
            return 0;
        }
        if (!(w >> 62 & 1)) {
            *dod = (uint64_t)sx(w >> 57, 5);
            it->pos += 7;
            return 0;
        }
        if (!(w >> 61 & 1)) {
            *dod = (uint64_t)sx(w >> 52, 9);
            it->pos += 12;
            return 0;
        }
        if (!(w >> 60 & 1)) {
            *dod = (uint64_t)sx(w >> 47, 13);
            it->pos += 17;
            return 0;
        }
        if (!(w >> 59 & 1)) {
            *dod = (uint64_t)sx(w >> 39, 20);
            it->pos += 25;
            return 0;
        }
        it->pos += 5;
        return take64(it, 64, dod);
    }
    /* Near the end: bit by bit with bounds checks. */
    uint64_t b;
    unsigned ones = 0;
    while (ones < 5) {
        if (take(it, 1, &b))
            return -1;
        if (!b)
            break;
        ones++;
    }
    static const unsigned width[6] = { 0, 5, 9, 13, 20, 64 };
    if (ones == 0) {
        *dod = 0;
        return 0;
    }
    if (take64(it, width[ones], &b))
        return -1;
    *dod = ones == 5 ? b : (uint64_t)sx(b, width[ones]);
    return 0;
}

static inline int read_value(struct chunk_iter *it, uint64_t *bits)
{
    uint64_t c, x;
    if (take(it, 1, &c))
        return -1;
    if (!c) {
        *bits = it->ref;
        return 0;
    }
    if (take(it, 1, &c))
        return -1;
    if (!c) {
        if (!it->sig)
            return -1;
        if (take64(it, it->sig, &x))
            return -1;
        x <<= 64 - it->lead - it->sig;
    } else {
        if (take(it, 1, &c))
            return -1;
        if (c) {
            *bits = CHUNK_STALE_NAN_BITS;
            return 0;
        }
        uint64_t d;
        if (take(it, 11, &d))
            return -1;
        unsigned lead = (unsigned)(d >> 6), sig = (unsigned)(d & 63) + 1;
        if (lead + sig > 64)
            return -1;
        if (take64(it, sig, &x))
            return -1;
        x <<= 64 - lead - sig;
        it->lead = (uint8_t)lead;
        it->sig = (uint8_t)sig;
    }
    if (x == 0)
        return -1; /* the encoder writes x == 0 as "same" */
    it->ref ^= x;
    *bits = it->ref;
    return 0;
}

int chunk_iter_next(struct chunk_iter *it)
{
    if (it->err)
        return it->err;
    if (it->i >= it->count) {
        if (it->count && it->pos != it->nbits)
            return corrupt(it); /* trailing bits */
        return 0;
    }
    uint64_t bits;
    if (it->i == 0) {
        if (take64(it, 64, &bits))
            return corrupt(it);
        it->ref = bits;
    } else {
        uint64_t dod;
        if (read_dod(it, &dod))
            return corrupt(it);
        it->delta += dod;
        /* Timestamps strictly increase: the delta is not 0 and does not
         * carry t past INT64_MAX (computed mod 2^64, exact here). */
        if (it->delta == 0 || it->delta > (uint64_t)INT64_MAX - (uint64_t)it->t)
            return corrupt(it);
        it->t = (int64_t)((uint64_t)it->t + it->delta);
        if (read_value(it, &bits))
            return corrupt(it);
    }
    if (it->t > it->max_t || (it->i + 1 == it->count && it->t != it->max_t))
        return corrupt(it);
    it->v = f64_from_bits(bits);
    it->i++;
    return 1;
}

int chunk_iter_seek(struct chunk_iter *it, int64_t ts)
{
    if (it->err)
        return it->err;
    if (it->i > 0 && it->t >= ts)
        return 1;
    for (;;) {
        int rc = chunk_iter_next(it);
        if (rc <= 0)
            return rc;
        if (it->t >= ts)
            return 1;
    }
}

int chunk_decode_all(const uint8_t *data, size_t n, int64_t *ts, double *vs, size_t cap)
{
    struct chunk_iter it;
    int rc = chunk_iter_init(&it, data, n);
    if (rc != 0)
        return rc;
    if (it.count > cap)
        return TT_ETOOBIG;
    size_t k = 0;
    while ((rc = chunk_iter_next(&it)) == 1) {
        ts[k] = it.t;
        vs[k] = it.v;
        k++;
    }
    return rc < 0 ? rc : (int)k;
}

int chunk_app_resume(struct chunk_app *a, struct wbuf *buf, size_t start, uint32_t max_samples,
                     uint32_t max_bytes)
{
    struct chunk_iter it;
    memset(a, 0, sizeof *a);
    if (check_limits(&max_samples, &max_bytes) != 0 || start > buf->len)
        return TT_EINVAL;
    int rc = chunk_iter_init(&it, buf->data + start, buf->len - start);
    if (rc != 0)
        return rc == TT_ETRUNC || rc == TT_EVERSION ? TT_ECORRUPT : rc;
    while ((rc = chunk_iter_next(&it)) == 1)
        ;
    if (rc < 0)
        return rc;
    a->buf = buf;
    a->start = start;
    a->max_samples = max_samples;
    a->max_bytes = max_bytes;
    a->nbits = it.nbits;
    a->count = it.count;
    a->t = it.t;
    a->delta = it.count > 1 ? it.delta : 0;
    a->ref = it.ref;
    a->lead = it.lead;
    a->sig = it.sig;
    buf->len = start + CHUNK_HDR_BYTES + (size_t)((it.nbits + 7) >> 3);
    return make_room(a);
}
