/*
 * buf.c - the growable writer (struct wbuf) and the bounds-checked reader
 * (struct rbuf) every codec is built on.
 *
 * Invariants: len <= cap <= max for a writer; p <= end for a reader. The
 * first error sticks in b->err / r->err and turns every later call into a
 * no-op (writers write nothing, readers return 0 and do not move), so a codec
 * can chain calls and check once. A reader never reads outside [p, end).
 */
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"

#define WBUF_MIN_CAP 64
#define VARINT_MAX   10

void wbuf_init(struct wbuf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
    b->err = 0;
}

void wbuf_release(struct wbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->err = 0;
}

void wbuf_reset(struct wbuf *b)
{
    b->len = 0;
    b->err = 0;
}

/* grow makes cap >= len + n, doubling so appends are amortised O(1). */
static int grow(struct wbuf *b, size_t n)
{
    size_t max = b->max ? b->max : SIZE_MAX / 2;
    if (n > max || b->len > max - n) {
        b->err = TT_ETOOBIG;
        return b->err;
    }
    size_t need = b->len + n;
    size_t cap = b->cap ? b->cap : WBUF_MIN_CAP;
    while (cap < need)
        cap = cap > max / 2 ? max : cap * 2;
    if (cap > max)
        cap = max;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL) {
        b->err = TT_ENOMEM;
        return b->err;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int wbuf_reserve(struct wbuf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (b->cap - b->len >= n)
        return 0;
    return grow(b, n);
}

/* room: 1 when n more bytes can be written now (growing if needed). */
static inline int room(struct wbuf *b, size_t n)
{
    if (b->err)
        return 0;
    return b->cap - b->len >= n || grow(b, n) == 0;
}

void wbuf_put_slow(struct wbuf *b, const void *p, size_t n)
{
    if (n == 0 || !room(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void wbuf_put_uvarint_slow(struct wbuf *b, uint64_t v)
{
    /* Via tmp, so a buffer near its maximum takes exactly the bytes needed. */
    uint8_t tmp[VARINT_MAX];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    wbuf_put_slow(b, tmp, n);
}

void wbuf_set_u32(struct wbuf *b, size_t off, uint32_t v)
{
    if (b->err || off > b->len || b->len - off < 4)
        return;
    put_le32(b->data + off, v);
}

/* ---- reader ------------------------------------------------------------- */

/* need: 1 when n bytes can be read; otherwise sets TT_ETRUNC (once). */
static inline int need(struct rbuf *r, size_t n)
{
    if (r->err)
        return 0;
    if ((size_t)(r->end - r->p) < n) {
        r->err = TT_ETRUNC;
        return 0;
    }
    return 1;
}

uint8_t rbuf_u8(struct rbuf *r)
{
    if (!need(r, 1))
        return 0;
    return *r->p++;
}

uint16_t rbuf_u16(struct rbuf *r)
{
    if (!need(r, 2))
        return 0;
    uint16_t v = get_le16(r->p);
    r->p += 2;
    return v;
}

uint32_t rbuf_u32(struct rbuf *r)
{
    if (!need(r, 4))
        return 0;
    uint32_t v = get_le32(r->p);
    r->p += 4;
    return v;
}

uint64_t rbuf_u64(struct rbuf *r)
{
    if (!need(r, 8))
        return 0;
    uint64_t v = get_le64(r->p);
    r->p += 8;
    return v;
}

double rbuf_f64(struct rbuf *r)
{
    return f64_from_bits(rbuf_u64(r));
}

/* uvarint_slow decodes a varint of two bytes or more, or one at the very end
 * of the buffer. The tenth byte may only hold the top bit of a uint64. */
static uint64_t uvarint_slow(struct rbuf *r)
{
    const uint8_t *p = r->p;
    uint64_t v = 0;
    for (unsigned i = 0; i < VARINT_MAX; i++) {
        if (p == r->end) {
            r->err = TT_ETRUNC;
            return 0;
        }
        uint8_t c = *p++;
        if (i == VARINT_MAX - 1 && c > 1) {
            r->err = TT_ECORRUPT;
            return 0;
        }
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (c < 0x80) {
            r->p = p;
            return v;
        }
    }
    r->err = TT_ECORRUPT;
    return 0;
}

uint64_t rbuf_uvarint(struct rbuf *r)
{
    if (r->err)
        return 0;
    const uint8_t *p = r->p;
    /* Fast paths: most lengths and small numbers fit one or two bytes. */
    if (r->end - p >= 2) {
        if (p[0] < 0x80) {
            r->p = p + 1;
            return p[0];
        }
        if (p[1] < 0x80) {
            r->p = p + 2;
            return (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        }
    }
    return uvarint_slow(r);
}

int64_t rbuf_svarint(struct rbuf *r)
{
    uint64_t u = rbuf_uvarint(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

const uint8_t *rbuf_bytes(struct rbuf *r, size_t n)
{
    if (!need(r, n))
        return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

const char *rbuf_str(struct rbuf *r, size_t *n)
{
    const uint8_t *start = r->p;
    uint64_t len = rbuf_uvarint(r);
    *n = 0;
    if (r->err)
        return NULL;
    if (len > (uint64_t)(r->end - r->p)) {
        r->p = start; /* a failed read does not move */
        r->err = TT_ETRUNC;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += len;
    *n = (size_t)len;
    return s;
}
