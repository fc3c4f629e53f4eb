/*
 * buf.h - byte buffers for codecs: a growable writer with a maximum size and a
 * bounds-checked reader. All integers are little-endian; varints are LEB128
 * (unsigned) and zigzag LEB128 (signed), at most 10 bytes.
 *
 * Errors are sticky: after the first failure (TT_ENOMEM, TT_ETOOBIG for the
 * writer; TT_ETRUNC, TT_ECORRUPT for the reader) every later call is a no-op
 * and b->err keeps the first code, so a codec checks once at the end.
 */
#ifndef TT_BUF_H
#define TT_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wbuf {
    uint8_t *data; /* owned; NULL until the first write */
    size_t len;
    size_t cap;
    size_t max; /* growth stops here (TT_ETOOBIG); 0 = SIZE_MAX/2 */
    int err;
};

void wbuf_init(struct wbuf *b, size_t max);
/* wbuf_release frees the memory; b may be reused after wbuf_init. */
void wbuf_release(struct wbuf *b);
/* wbuf_reset empties b keeping its memory, and clears the error. */
void wbuf_reset(struct wbuf *b);
/* wbuf_reserve makes room for n more bytes; returns 0 or the sticky error. */
int wbuf_reserve(struct wbuf *b, size_t n);
/* wbuf_put_slow appends n bytes (n > 0), growing b as needed: the out-of-line
 * path of the writers below, which append in place when there is room. */
void wbuf_put_slow(struct wbuf *b, const void *p, size_t n);
/* wbuf_put_uvarint_slow is wbuf_put_uvarint for a buffer with less than 10
 * bytes of room (or an error). */
void wbuf_put_uvarint_slow(struct wbuf *b, uint64_t v);
/* wbuf_set_u32 overwrites 4 bytes at off (< len) in place (length patching). */
void wbuf_set_u32(struct wbuf *b, size_t off, uint32_t v);

/* wbuf_room: 1 when n more bytes fit without growing (and no error is set;
 * an erroring buffer has no room, so its writes go to the no-op slow path). */
/* A double's IEEE-754 bits and back (what every codec and cell stores). */
static inline uint64_t f64_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}
static inline double f64_from_bits(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static inline int wbuf_room(const struct wbuf *b, size_t n)
{
    return !b->err && b->cap - b->len >= n;
}

static inline void wbuf_put(struct wbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (wbuf_room(b, n)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return;
    }
    wbuf_put_slow(b, p, n);
}

static inline void wbuf_put_u8(struct wbuf *b, uint8_t v)
{
    if (wbuf_room(b, 1)) {
        b->data[b->len++] = v;
        return;
    }
    wbuf_put_slow(b, &v, 1);
}

static inline void wbuf_put_u16(struct wbuf *b, uint16_t v)
{
    uint8_t t[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    if (wbuf_room(b, 2)) {
        memcpy(b->data + b->len, t, 2);
        b->len += 2;
        return;
    }
    wbuf_put_slow(b, t, 2);
}

static inline void wbuf_put_u32(struct wbuf *b, uint32_t v)
{
    uint8_t t[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    if (wbuf_room(b, 4)) {
        memcpy(b->data + b->len, t, 4);
        b->len += 4;
        return;
    }
    wbuf_put_slow(b, t, 4);
}

static inline void wbuf_put_u64(struct wbuf *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    if (wbuf_room(b, 8)) {
        memcpy(b->data + b->len, t, 8);
        b->len += 8;
        return;
    }
    wbuf_put_slow(b, t, 8);
}

static inline void wbuf_put_f64(struct wbuf *b, double v)
{
    wbuf_put_u64(b, f64_bits(v));
}

static inline void wbuf_put_uvarint(struct wbuf *b, uint64_t v)
{
    if (!wbuf_room(b, 10)) {
        wbuf_put_uvarint_slow(b, v);
        return;
    }
    uint8_t *p = b->data + b->len;
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    b->len += n;
}

static inline void wbuf_put_svarint(struct wbuf *b, int64_t v)
{
    /* zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ... (computed unsigned) */
    uint64_t u = (uint64_t)v;
    wbuf_put_uvarint(b, (u << 1) ^ (0 - (u >> 63)));
}

/* wbuf_put_str writes a uvarint length then the bytes. */
static inline void wbuf_put_str(struct wbuf *b, const char *s, size_t n)
{
    wbuf_put_uvarint(b, n);
    wbuf_put(b, s, n);
}

struct rbuf {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
    int err;
};

static inline void rbuf_init(struct rbuf *r, const void *p, size_t n)
{
    r->p = (const uint8_t *)p;
    r->end = r->p + n;
    r->err = 0;
}
static inline size_t rbuf_left(const struct rbuf *r)
{
    return (size_t)(r->end - r->p);
}
uint8_t rbuf_u8(struct rbuf *r);
uint16_t rbuf_u16(struct rbuf *r);
uint32_t rbuf_u32(struct rbuf *r);
uint64_t rbuf_u64(struct rbuf *r);
double rbuf_f64(struct rbuf *r);
uint64_t rbuf_uvarint(struct rbuf *r); /* TT_ECORRUPT if longer than 10 bytes */
int64_t rbuf_svarint(struct rbuf *r);
/* rbuf_bytes returns a pointer to the next n bytes (borrowed) and skips them. */
const uint8_t *rbuf_bytes(struct rbuf *r, size_t n);
/* rbuf_str reads a uvarint length and the bytes; *n gets the length. */
const char *rbuf_str(struct rbuf *r, size_t *n);

/* Unaligned little-endian loads and stores for fixed layouts. */
static inline void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}
static inline void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

#endif
