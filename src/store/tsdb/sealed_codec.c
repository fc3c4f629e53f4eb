/*
 * sealed_codec.c - timestamp and value columns of sealed chunks (see
 * sealed_codec.h; byte layouts in docs/design/tsdb.md, "Codec study").
 *
 * Column = mode byte (low 4 bits: mode; 0x80: the body is zstd-compressed)
 * then the body, or, when compressed, uvarint body length and the zstd frame
 * of the body without its 4-byte magic number.
 */
#include "store/tsdb/sealed_codec.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "store/tsdb/chunk.h"
#include "telltale.h"

enum { TS_REGULAR = 1, TS_DOD = 2 };
enum { V_CONST = 1, V_DEC = 2, V_XOR = 3 };
#define COL_ZSTD  0x80
#define MAX_SCALE 18
/* Bodies are never larger than this (decoders refuse announced sizes above). */
#define BODY_MAX(n) (64 + 24 * (size_t)(n))

static const uint8_t zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

static const double p10[MAX_SCALE + 1] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                           1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18 };

int sealed_ctx_init(struct sealed_ctx *c, int zstd_level)
{
    memset(c, 0, sizeof *c);
    if (zstd_level < 0 || zstd_level > 19)
        return TT_EINVAL;
    c->zstd_level = zstd_level;
    wbuf_init(&c->a, 0);
    wbuf_init(&c->b, 0);
    return 0;
}

void sealed_ctx_release(struct sealed_ctx *c)
{
    if (c->cctx)
        ZSTD_freeCCtx(c->cctx);
    if (c->dctx)
        ZSTD_freeDCtx(c->dctx);
    wbuf_release(&c->a);
    wbuf_release(&c->b);
    free(c->ints);
    memset(c, 0, sizeof *c);
}

static inline uint64_t zz(int64_t v)
{
    uint64_t u = (uint64_t)v;
    return (u << 1) ^ (0 - (u >> 63));
}

static inline int64_t unzz(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

static inline unsigned varint_len(uint64_t v)
{
    unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
    return (bits + 6) / 7;
}

/* emit writes mode and body (c->a) to out, compressed when that is smaller. */
static int emit(struct sealed_ctx *c, struct wbuf *out, unsigned mode, const struct wbuf *body)
{
    if (body->err)
        return body->err;
    if (c->zstd_level > 0 && body->len >= 16) {
        if (!c->cctx && !(c->cctx = ZSTD_createCCtx()))
            return TT_ENOMEM;
        size_t bound = ZSTD_compressBound(body->len);
        wbuf_reset(&c->b);
        if (wbuf_reserve(&c->b, bound) != 0)
            return c->b.err;
        size_t z =
            ZSTD_compressCCtx(c->cctx, c->b.data, bound, body->data, body->len, c->zstd_level);
        if (ZSTD_isError(z))
            return TT_EIO;
        if (z > 4 && memcmp(c->b.data, zstd_magic, 4) == 0 &&
            varint_len(body->len) + z - 4 < body->len) {
            wbuf_put_u8(out, (uint8_t)(mode | COL_ZSTD));
            wbuf_put_uvarint(out, body->len);
            wbuf_put(out, c->b.data + 4, z - 4);
            return out->err;
        }
    }
    wbuf_put_u8(out, (uint8_t)mode);
    wbuf_put(out, body->data, body->len);
    return out->err;
}

/* open_col reads the mode byte and returns the body (decompressed into c->a
 * when needed) in *body and *blen. */
static int open_col(struct sealed_ctx *c, const uint8_t *p, size_t len, size_t n, unsigned *mode,
                    const uint8_t **body, size_t *blen)
{
    if (len < 1)
        return TT_ECORRUPT;
    *mode = p[0] & 0x0f;
    if ((p[0] & 0x70) != 0)
        return TT_ECORRUPT;
    if (!(p[0] & COL_ZSTD)) {
        *body = p + 1;
        *blen = len - 1;
        return 0;
    }
    struct rbuf r;
    rbuf_init(&r, p + 1, len - 1);
    uint64_t raw = rbuf_uvarint(&r);
    if (r.err || raw > BODY_MAX(n))
        return TT_ECORRUPT;
    size_t zlen = rbuf_left(&r);
    wbuf_reset(&c->b);
    wbuf_put(&c->b, zstd_magic, 4);
    wbuf_put(&c->b, r.p, zlen);
    wbuf_reset(&c->a);
    if (c->b.err || wbuf_reserve(&c->a, (size_t)raw + 1) != 0)
        return TT_ENOMEM;
    if (!c->dctx && !(c->dctx = ZSTD_createDCtx()))
        return TT_ENOMEM;
    size_t got = ZSTD_decompressDCtx(c->dctx, c->a.data, (size_t)raw + 1, c->b.data, c->b.len);
    if (ZSTD_isError(got) || got != raw)
        return TT_ECORRUPT;
    *body = c->a.data;
    *blen = (size_t)raw;
    return 0;
}

/* ---- timestamps ------------------------------------------------------- */

int sealed_ts_encode(struct sealed_ctx *c, struct wbuf *out, const int64_t *ts, size_t n)
{
    if (n < 1 || n > SEALED_MAX_SAMPLES)
        return TT_EINVAL;
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1])
            return TT_ERANGE;
    struct wbuf *b = &c->a;
    wbuf_reset(b);
    wbuf_put_svarint(b, ts[0]);
    uint64_t step = n > 1 ? (uint64_t)ts[1] - (uint64_t)ts[0] : 0;
    size_t i = 2;
    while (i < n && (uint64_t)ts[i] - (uint64_t)ts[i - 1] == step)
        i++;
    if (i >= n) {
        wbuf_put_uvarint(b, step);
        return emit(c, out, TS_REGULAR, b);
    }
    uint64_t prev = 0;
    for (i = 1; i < n; i++) {
        uint64_t d = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        wbuf_put_uvarint(b, zz((int64_t)(d - prev)));
        prev = d;
    }
    return emit(c, out, TS_DOD, b);
}

/* next_t adds delta to *t if that keeps timestamps strictly increasing. */
static inline int next_t(int64_t *t, uint64_t delta)
{
    if (delta == 0 || delta > (uint64_t)INT64_MAX - (uint64_t)*t)
        return -1;
    *t = (int64_t)((uint64_t)*t + delta);
    return 0;
}

int sealed_ts_decode(struct sealed_ctx *c, const uint8_t *p, size_t len, int64_t *ts, size_t n)
{
    unsigned mode;
    const uint8_t *body;
    size_t blen;
    if (n < 1 || n > SEALED_MAX_SAMPLES)
        return TT_EINVAL;
    int rc = open_col(c, p, len, n, &mode, &body, &blen);
    if (rc != 0)
        return rc;
    struct rbuf r;
    rbuf_init(&r, body, blen);
    int64_t t = rbuf_svarint(&r);
    ts[0] = t;
    if (mode == TS_REGULAR) {
        uint64_t step = rbuf_uvarint(&r);
        if (n > 1 && (step == 0 || step > ((uint64_t)INT64_MAX - (uint64_t)t) / (n - 1)))
            return TT_ECORRUPT;
        for (size_t i = 1; i < n; i++)
            ts[i] = (int64_t)((uint64_t)ts[i - 1] + step);
    } else if (mode == TS_DOD) {
        uint64_t delta = 0;
        for (size_t i = 1; i < n; i++) {
            delta += (uint64_t)unzz(rbuf_uvarint(&r));
            if (r.err || next_t(&t, delta))
                return TT_ECORRUPT;
            ts[i] = t;
        }
    } else {
        return TT_ECORRUPT;
    }
    if (r.err || rbuf_left(&r) != 0)
        return TT_ECORRUPT;
    return 0;
}

/* ---- values ----------------------------------------------------------- */

/* dec_at: 1 if v is m / 10^k for an integer |m| < 2^53 (m in *m). */
static inline int dec_at(double v, unsigned k, int64_t *m)
{
    double x = v * p10[k];
    if (!(fabs(x) < 9007199254740992.0))
        return 0;
    double r = round(x);
    int64_t mi = (int64_t)r;
    if (f64_bits((double)mi / p10[k]) != f64_bits(v))
        return 0;
    *m = mi;
    return 1;
}

static int grow_ints(struct sealed_ctx *c, size_t n)
{
    if (c->ints_cap >= n)
        return 0;
    int64_t *p = realloc(c->ints, n * sizeof *p);
    if (!p)
        return TT_ENOMEM;
    c->ints = p;
    c->ints_cap = n;
    return 0;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* encode_dec writes the V_DEC body of vs into b; returns 1 if written, 0 if
 * the values are not (mostly) decimals, or a negative error. */
static int encode_dec(struct sealed_ctx *c, struct wbuf *b, const double *vs, size_t n)
{
    unsigned k = 0;
    int64_t m;
    for (size_t i = 0; i < n; i++) {
        if (dec_at(vs[i], k, &m))
            continue;
        for (unsigned j = k + 1; j <= MAX_SCALE; j++)
            if (dec_at(vs[i], j, &m)) {
                k = j;
                break;
            }
    }
    if (grow_ints(c, n) != 0)
        return TT_ENOMEM;
    int64_t *ms = c->ints;
    size_t nexc = 0;
    int64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (dec_at(vs[i], k, &m)) {
            last = m;
        } else {
            nexc++;
            m = last; /* keeps the differences small */
        }
        ms[i] = m;
    }
    if (nexc > n / 4)
        return 0;
    /* Pick the transform (none, delta, delta of delta) with the fewest bytes. */
    uint64_t cost[3] = { 0, 0, 0 };
    for (size_t i = 0; i < n; i++) {
        cost[0] += varint_len(zz(ms[i]));
        if (i >= 1)
            cost[1] += varint_len(zz(ms[i] - ms[i - 1]));
        if (i >= 2)
            cost[2] += varint_len(zz(ms[i] - 2 * ms[i - 1] + ms[i - 2]));
    }
    unsigned order = 0;
    if (n >= 2 && cost[1] + 1 < cost[0])
        order = 1;
    if (n >= 3 && cost[2] + 2 < cost[order])
        order = 2;
    /* The transformed stream in place, from the end. */
    for (unsigned o = 0; o < order; o++)
        for (size_t i = n - 1; i > o; i--)
            ms[i] -= ms[i - 1];
    uint64_t g = 0;
    for (size_t i = order; i < n; i++)
        g = gcd64(g, ms[i] < 0 ? 0 - (uint64_t)ms[i] : (uint64_t)ms[i]);
    if (g == 0)
        g = 1;
    wbuf_put_u8(b, (uint8_t)k);
    wbuf_put_u8(b, (uint8_t)order);
    wbuf_put_uvarint(b, g);
    for (unsigned o = 0; o < order; o++)
        wbuf_put_svarint(b, ms[o]);
    wbuf_put_uvarint(b, nexc);
    size_t lasti = 0;
    for (size_t i = 0; i < n && nexc; i++) {
        if (dec_at(vs[i], k, &m))
            continue;
        wbuf_put_uvarint(b, i - lasti);
        wbuf_put_u64(b, f64_bits(vs[i]));
        lasti = i;
    }
    for (size_t i = order; i < n; i++)
        wbuf_put_uvarint(b, zz(ms[i] / (int64_t)g)); /* |ms| < 2^56: exact */
    return b->err ? b->err : 1;
}

static int encode_xor(struct wbuf *b, const double *vs, size_t n)
{
    struct chunk_app a;
    int rc = chunk_app_init(&a, b, SEALED_MAX_SAMPLES, UINT32_MAX >> 3);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = chunk_append(&a, (int64_t)i, vs[i]);
    if (rc == 0) {
        size_t len;
        chunk_app_bytes(&a, &len);
        b->len = len;
    }
    return rc;
}

int sealed_values_encode(struct sealed_ctx *c, struct wbuf *out, const double *vs, size_t n)
{
    if (n < 1 || n > SEALED_MAX_SAMPLES)
        return TT_EINVAL;
    struct wbuf *b = &c->a;
    wbuf_reset(b);
    uint64_t first = f64_bits(vs[0]);
    size_t i = 1;
    while (i < n && f64_bits(vs[i]) == first)
        i++;
    if (i == n) {
        wbuf_put_u64(b, first);
        return emit(c, out, V_CONST, b);
    }
    int rc = encode_dec(c, b, vs, n);
    if (rc < 0)
        return rc;
    if (rc == 1 && b->len <= 2 * n)
        return emit(c, out, V_DEC, b);
    /* Not decimals, or noisy ones: the XOR chunk may be smaller. */
    struct wbuf x;
    wbuf_init(&x, 0);
    rc = encode_xor(&x, vs, n);
    if (rc == 0) {
        if (b->len == 0 || x.len < b->len)
            rc = emit(c, out, V_XOR, &x);
        else
            rc = emit(c, out, V_DEC, b);
    }
    wbuf_release(&x);
    return rc;
}

/* get_uv reads the uvarint at *pp (before end) as rbuf_uvarint would,
 * inline for up to three bytes; *bad is set when it is damaged. */
static inline uint64_t get_uv(const uint8_t **pp, const uint8_t *end, int *bad)
{
    const uint8_t *p = *pp;
    if (end - p >= 3) {
        if (p[0] < 0x80) {
            *pp = p + 1;
            return p[0];
        }
        if (p[1] < 0x80) {
            *pp = p + 2;
            return (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        }
        if (p[2] < 0x80) {
            *pp = p + 3;
            return (uint64_t)(p[0] & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7 | (uint64_t)p[2] << 14;
        }
    }
    struct rbuf r;
    rbuf_init(&r, p, (size_t)(end - p));
    uint64_t v = rbuf_uvarint(&r);
    if (r.err)
        *bad = 1;
    *pp = r.p;
    return v;
}

/* dec_run decodes vs[i..n) of a decimal column from the varints at q
 * (before end), m and d the running value and difference: order (0-2)
 * undone, divided by scale when div. Called with constant order and div,
 * each use compiles to its own loop. Returns where the varints stopped;
 * *bad is set when one is damaged. */
static inline __attribute__((always_inline)) const uint8_t *
dec_run(const uint8_t *q, const uint8_t *end, double *vs, size_t i, size_t n, uint64_t g,
        uint64_t m, uint64_t d, unsigned order, int div, double scale, int *bad)
{
    for (; i < n && !*bad; i++) {
        uint64_t x = (uint64_t)unzz(get_uv(&q, end, bad)) * g;
        if (order == 0)
            m = x;
        else if (order == 1)
            m += x;
        else
            m += (d += x);
        vs[i] = div ? (double)(int64_t)m / scale : (double)(int64_t)m;
    }
    return q;
}

static int decode_dec(const uint8_t *body, size_t blen, double *vs, size_t n)
{
    struct rbuf r;
    rbuf_init(&r, body, blen);
    unsigned k = rbuf_u8(&r);
    unsigned order = rbuf_u8(&r);
    uint64_t g = rbuf_uvarint(&r);
    if (r.err || k > MAX_SCALE || order > 2 || order > n || g == 0)
        return TT_ECORRUPT;
    uint64_t seed[2] = { 0, 0 };
    for (unsigned o = 0; o < order; o++)
        seed[o] = (uint64_t)rbuf_svarint(&r);
    uint64_t nexc = rbuf_uvarint(&r);
    if (r.err || nexc > n)
        return TT_ECORRUPT;
    struct rbuf exc = r;
    for (uint64_t e = 0; e < nexc; e++) {
        rbuf_uvarint(&r);
        rbuf_u64(&r);
    }
    if (r.err)
        return TT_ECORRUPT;
    double scale = p10[k];
    uint64_t m = 0, d = 0;
    size_t i = 0;
    if (order >= 1 && n >= 1)
        vs[i++] = (double)(int64_t)(m = seed[0]) / scale;
    if (order >= 2 && n >= 2)
        vs[i++] = (double)(int64_t)(m += (d = seed[1])) / scale;
    /* One loop per transform and scale (dec_run with constants): the
     * per-sample work is a varint, an add and the exact division (none when
     * scale is 1). */
    const uint8_t *q = r.p;
    int bad = 0;
    if (k == 0) {
        if (order == 0)
            q = dec_run(q, r.end, vs, i, n, g, m, d, 0, 0, 1, &bad);
        else if (order == 1)
            q = dec_run(q, r.end, vs, i, n, g, m, d, 1, 0, 1, &bad);
        else
            q = dec_run(q, r.end, vs, i, n, g, m, d, 2, 0, 1, &bad);
    } else {
        if (order == 0)
            q = dec_run(q, r.end, vs, i, n, g, m, d, 0, 1, scale, &bad);
        else if (order == 1)
            q = dec_run(q, r.end, vs, i, n, g, m, d, 1, 1, scale, &bad);
        else
            q = dec_run(q, r.end, vs, i, n, g, m, d, 2, 1, scale, &bad);
    }
    r.p = q;
    if (bad || rbuf_left(&r) != 0)
        return TT_ECORRUPT;
    size_t at = 0;
    for (uint64_t e = 0; e < nexc; e++) {
        uint64_t gap = rbuf_uvarint(&exc);
        if (gap > n || at + gap >= n || (e > 0 && gap == 0))
            return TT_ECORRUPT;
        at += gap;
        vs[at] = f64_from_bits(rbuf_u64(&exc));
    }
    return 0;
}

int sealed_values_decode(struct sealed_ctx *c, const uint8_t *p, size_t len, double *vs, size_t n)
{
    unsigned mode;
    const uint8_t *body;
    size_t blen;
    if (n < 1 || n > SEALED_MAX_SAMPLES)
        return TT_EINVAL;
    int rc = open_col(c, p, len, n, &mode, &body, &blen);
    if (rc != 0)
        return rc;
    if (mode == V_CONST) {
        if (blen != 8)
            return TT_ECORRUPT;
        double v = f64_from_bits(get_le64(body));
        for (size_t i = 0; i < n; i++)
            vs[i] = v;
        return 0;
    }
    if (mode == V_DEC)
        return decode_dec(body, blen, vs, n);
    if (mode != V_XOR)
        return TT_ECORRUPT;
    struct chunk_iter it;
    if (chunk_iter_init(&it, body, blen) != 0 || it.count != n)
        return TT_ECORRUPT;
    struct chunk_info ci;
    if (chunk_info_read(body, blen, &ci) != 0 || ci.len != blen)
        return TT_ECORRUPT;
    size_t i = 0;
    while ((rc = chunk_iter_next(&it)) == 1)
        vs[i++] = it.v;
    return rc < 0 ? TT_ECORRUPT : 0;
}

/* ---- whole chunks ----------------------------------------------------- */

int sealed_chunk_encode(struct sealed_ctx *c, struct wbuf *out, const int64_t *ts, const double *vs,
                        size_t n)
{
    struct wbuf t;
    wbuf_init(&t, 0);
    int rc = sealed_ts_encode(c, &t, ts, n);
    if (rc == 0) {
        wbuf_put_uvarint(out, n);
        wbuf_put_uvarint(out, t.len);
        wbuf_put(out, t.data, t.len);
        rc = out->err ? out->err : sealed_values_encode(c, out, vs, n);
    }
    wbuf_release(&t);
    return rc;
}

size_t sealed_chunk_count(const uint8_t *p, size_t len)
{
    struct rbuf r;
    rbuf_init(&r, p, len);
    uint64_t n = rbuf_uvarint(&r);
    if (r.err || n < 1 || n > SEALED_MAX_SAMPLES)
        return 0;
    return (size_t)n;
}

int sealed_chunk_decode(struct sealed_ctx *c, const uint8_t *p, size_t len, int64_t *ts, double *vs,
                        size_t cap)
{
    struct rbuf r;
    rbuf_init(&r, p, len);
    uint64_t n = rbuf_uvarint(&r);
    uint64_t tlen = rbuf_uvarint(&r);
    if (r.err || n < 1 || n > SEALED_MAX_SAMPLES || tlen > rbuf_left(&r))
        return TT_ECORRUPT;
    if (n > cap)
        return TT_ETOOBIG;
    int rc = sealed_ts_decode(c, r.p, (size_t)tlen, ts, (size_t)n);
    if (rc == 0)
        rc = sealed_values_decode(c, r.p + tlen, rbuf_left(&r) - (size_t)tlen, vs, (size_t)n);
    return rc < 0 ? rc : (int)n;
}
