/*
 * json_out.c - the nesting JSON writer (see json_out.h). Invariant: before
 * every value, value() writes the separator its position needs (',' after a
 * sibling, nothing after a key or first in a container) and marks the
 * position used; a key outside an object or nesting past the limit sets the
 * buffer's sticky error instead of writing invalid JSON.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include "telltale.h"
#include "core/json.h"
#include "server/json_out.h"
#include "query/promql/value.h"

void json_out_init(struct json_out *j, struct wbuf *b)
{
    memset(j, 0, sizeof(*j));
    j->b = b;
}

static void fail(struct json_out *j)
{
    if (!j->b->err)
        j->b->err = TT_EINVAL;
}

/* value prepares the position for one value: a comma between siblings. */
static void value(struct json_out *j)
{
    uint64_t bit = UINT64_C(1) << j->depth;

    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->in_object & bit) {
        fail(j); /* an object member needs a key first */
        return;
    }
    if (j->has_value & bit)
        wbuf_put_u8(j->b, ',');
    j->has_value |= bit;
}

static void open_ctr(struct json_out *j, int object)
{
    uint64_t bit;

    value(j);
    if (j->depth + 1 >= JSON_OUT_MAX_DEPTH) {
        fail(j);
        return;
    }
    wbuf_put_u8(j->b, object ? '{' : '[');
    j->depth++;
    bit = UINT64_C(1) << j->depth;
    j->has_value &= ~bit;
    if (object)
        j->in_object |= bit;
    else
        j->in_object &= ~bit;
}

static void close_ctr(struct json_out *j, int object)
{
    uint64_t bit = UINT64_C(1) << j->depth;

    if (j->depth == 0 || j->after_key || !!(j->in_object & bit) != object) {
        fail(j);
        return;
    }
    wbuf_put_u8(j->b, object ? '}' : ']');
    j->in_object &= ~bit;
    j->has_value &= ~bit;
    j->depth--;
}

void json_out_object_begin(struct json_out *j)
{
    open_ctr(j, 1);
}

void json_out_object_end(struct json_out *j)
{
    close_ctr(j, 1);
}

void json_out_array_begin(struct json_out *j)
{
    open_ctr(j, 0);
}

void json_out_array_end(struct json_out *j)
{
    close_ctr(j, 0);
}

void json_out_key(struct json_out *j, const char *key)
{
    uint64_t bit = UINT64_C(1) << j->depth;

    if (!(j->in_object & bit) || j->after_key) {
        fail(j);
        return;
    }
    if (j->has_value & bit)
        wbuf_put_u8(j->b, ',');
    j->has_value |= bit;
    json_put_cstr(j->b, key);
    wbuf_put_u8(j->b, ':');
    j->after_key = 1;
}

void json_out_str(struct json_out *j, const char *s)
{
    value(j);
    json_put_cstr(j->b, s);
}

void json_out_strn(struct json_out *j, const char *s, size_t n)
{
    value(j);
    json_put_str(j->b, s, n);
}

void json_out_i64(struct json_out *j, int64_t v)
{
    value(j);
    json_put_i64(j->b, v);
}

void json_out_u64(struct json_out *j, uint64_t v)
{
    value(j);
    json_put_u64(j->b, v);
}

void json_out_f64(struct json_out *j, double v)
{
    value(j);
    json_put_double(j->b, v);
}

void json_out_bool(struct json_out *j, int v)
{
    value(j);
    if (v)
        wbuf_put(j->b, "true", 4);
    else
        wbuf_put(j->b, "false", 5);
}

void json_out_null(struct json_out *j)
{
    value(j);
    wbuf_put(j->b, "null", 4);
}

void json_out_raw(struct json_out *j, const char *s, size_t n)
{
    value(j);
    wbuf_put(j->b, s, n);
}

/* shortest finds the fewest significant digits of v (finite, > 0) that read
 * back as v: digits[] gets them without a point, *exp10 the exponent of the
 * first digit (v = d.ddd x 10^exp10). Round-tripping is monotonic in the
 * digit count, so a binary search over 1..17 digits needs about 4 tries. */
/* shortest_decimal: the fast path of shortest for the values monitoring data
 * is made of (integers, and decimals with few digits): the first k for which
 * m = round(v * 10^k) gives back exactly v as m / 10^k (one correctly rounded
 * division) has the fewest digits, since a shorter decimal would have been
 * found at a smaller k. Returns the digit count, or -1 to take the slow path
 * (v outside [1e-6, 1e15), needing 16 or more digits, or more than max_k
 * decimals). */
static int shortest_decimal(double v, int max_k, char *digits, int *exp10)
{
    if (!(v >= 1e-6 && v < 1e15))
        return -1;
    double p10 = 1;
    for (int k = 0; k <= max_k; k++, p10 *= 10) {
        double x = v * p10;
        if (x >= 1e15)
            return -1;
        double m = floor(x + 0.5);
        /* When m / p10 rounds to v, x (v * p10 rounded) lies within about
         * 2^-52 * m of m: anything farther needs no division to rule out. */
        if (m == 0 || fabs(x - m) > x * 0x1p-51 || m / p10 != v)
            continue;
        char rev[24];
        int n = 0;
        for (uint64_t u = (uint64_t)m; u; u /= 10)
            rev[n++] = (char)('0' + u % 10);
        for (int i = 0; i < n; i++)
            digits[i] = rev[n - 1 - i];
        *exp10 = n - 1 - k;
        while (n > 1 && digits[n - 1] == '0')
            n--;
        return n;
    }
    return -1;
}

__extension__ typedef unsigned __int128 u128;

static const uint64_t pow5[28] = { UINT64_C(1),
                                   UINT64_C(5),
                                   UINT64_C(25),
                                   UINT64_C(125),
                                   UINT64_C(625),
                                   UINT64_C(3125),
                                   UINT64_C(15625),
                                   UINT64_C(78125),
                                   UINT64_C(390625),
                                   UINT64_C(1953125),
                                   UINT64_C(9765625),
                                   UINT64_C(48828125),
                                   UINT64_C(244140625),
                                   UINT64_C(1220703125),
                                   UINT64_C(6103515625),
                                   UINT64_C(30517578125),
                                   UINT64_C(152587890625),
                                   UINT64_C(762939453125),
                                   UINT64_C(3814697265625),
                                   UINT64_C(19073486328125),
                                   UINT64_C(95367431640625),
                                   UINT64_C(476837158203125),
                                   UINT64_C(2384185791015625),
                                   UINT64_C(11920928955078125),
                                   UINT64_C(59604644775390625),
                                   UINT64_C(298023223876953125),
                                   UINT64_C(1490116119384765625),
                                   UINT64_C(7450580596923828125) };

static const uint64_t pow10[18] = { UINT64_C(1),
                                    UINT64_C(10),
                                    UINT64_C(100),
                                    UINT64_C(1000),
                                    UINT64_C(10000),
                                    UINT64_C(100000),
                                    UINT64_C(1000000),
                                    UINT64_C(10000000),
                                    UINT64_C(100000000),
                                    UINT64_C(1000000000),
                                    UINT64_C(10000000000),
                                    UINT64_C(100000000000),
                                    UINT64_C(1000000000000),
                                    UINT64_C(10000000000000),
                                    UINT64_C(100000000000000),
                                    UINT64_C(1000000000000000),
                                    UINT64_C(10000000000000000),
                                    UINT64_C(100000000000000000) };

/* shortest_exact: the shortest form of v (finite, > 0) by exact integer
 * arithmetic, as Go's strconv picks it: the fewest digits d such that some
 * d-digit decimal lies in v's rounding interval (bounds included when v's
 * mantissa is even, since strtod rounds half to even; the lower half as
 * wide when v is a power of two), and of those the closest to v (ties to
 * even). With X = v * 10^k scaled to about 17 integer digits, v's
 * mantissa m and exponent e2, X = m * 5^k / 2^sh exactly, so X and the
 * interval bounds are integers in units of 2^-(sh + 2) that fit 128 bits
 * for v in about [1e-11, 1e15]. Returns the digit count, or -1 outside that
 * range (the caller then takes the printf path). */
static int shortest_exact(double v, char *digits, int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int be = (int)(bits >> 52) & 0x7ff;
    if (be == 0 || be == 0x7ff)
        return -1;
    uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
    int k = 16 - (int)floor(log10(v));
    int sh = -(be - 1075 + k);
    if (k < 0 || k > 27 || sh < 0 || sh > 68)
        return -1;
    int ws = sh + 2;
    u128 p5 = pow5[k];
    u128 x = (u128)(m * 4) * p5;
    u128 lo = x - (m == (UINT64_C(1) << 52) && be > 1 ? p5 : 2 * p5);
    u128 hi = x + 2 * p5;
    u128 wmask = ((u128)1 << ws) - 1;
    int incl = (m & 1) == 0;
    uint64_t lf = (uint64_t)(lo >> ws), hf = (uint64_t)(hi >> ws);
    /* At precision j (multiples of 10^j), the candidates are [dmin, dmax]:
     * ceil(lo / 10^j) or floor(lo / 10^j) + 1, and floor(hi / 10^j) or
     * floor((hi - 1) / 10^j), computed from the integer parts alone. */
    uint64_t cmin = incl ? lf + ((lo & wmask) != 0) : lf;
    uint64_t cmax = incl || (hi & wmask) != 0 ? hf : hf - 1;
    uint64_t dmin = incl ? cmin : cmin + 1, dmax = cmax;
    if (dmin > dmax)
        return -1;
    int j = 0;
    uint64_t bmin = dmin, bmax = dmax;
    while (j < 17) {
        cmin = incl ? (cmin + 9) / 10 : cmin / 10;
        cmax /= 10;
        dmin = incl ? cmin : cmin + 1;
        if (dmin > cmax)
            break;
        j++;
        bmin = dmin;
        bmax = cmax;
    }
    /* The closest multiple of 10^j to x, kept inside the interval. */
    u128 p = (u128)pow10[j] << ws;
    uint64_t q = (uint64_t)(x >> ws) / pow10[j];
    u128 r = x - (u128)q * p;
    if (2 * r > p || (2 * r == p && (q & 1)))
        q++;
    if (q < bmin)
        q = bmin;
    if (q > bmax)
        q = bmax;
    char rev[24];
    int n = 0;
    for (; q; q /= 10)
        rev[n++] = (char)('0' + q % 10);
    if (n == 0)
        return -1;
    for (int i = 0; i < n; i++)
        digits[i] = rev[n - 1 - i];
    *exp10 = n - 1 + j - k;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    return n;
}

static int shortest(double v, char *digits, int *exp10)
{
    /* Integers and short decimals are cheapest found by trying; other
     * values in range take the exact integer path. */
    int fast = shortest_decimal(v, 4, digits, exp10);
    if (fast > 0)
        return fast;
    if ((fast = shortest_exact(v, digits, exp10)) > 0)
        return fast;
    if ((fast = shortest_decimal(v, 21, digits, exp10)) > 0)
        return fast;
    /* For normal doubles, 15 significant digits always name v's shortest
     * form padded with zeros when that form has 15 digits or fewer (DBL_DIG);
     * otherwise the correctly rounded 16 digits if they come back, else 17,
     * which always do. */
    char tmp[40];
    int n = 0;
    const char *e;

    if (v < DBL_MIN) {
        /* Subnormals have fewer significant bits: search the precision. */
        int lo = 0, hi = 16;
        while (lo < hi) {
            int p = (lo + hi) / 2;
            snprintf(tmp, sizeof(tmp), "%.*e", p, v);
            if (strtod(tmp, NULL) == v)
                hi = p;
            else
                lo = p + 1;
        }
        snprintf(tmp, sizeof(tmp), "%.*e", lo, v);
    } else {
        snprintf(tmp, sizeof(tmp), "%.14e", v);
        if (strtod(tmp, NULL) != v) {
            snprintf(tmp, sizeof(tmp), "%.15e", v);
            if (strtod(tmp, NULL) != v)
                snprintf(tmp, sizeof(tmp), "%.16e", v);
        }
    }
    for (const char *c = tmp; *c != 'e' && *c != '\0'; c++)
        if (*c != '.')
            digits[n++] = *c;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    e = strchr(tmp, 'e');
    *exp10 = e != NULL ? (int)strtol(e + 1, NULL, 10) : 0;
    return n;
}

#define PROM_FLOAT_MAX 400 /* format_prom_float's buffer */

/* format_prom_float writes v as json_out_prom_value does, unquoted and
 * without a NUL, into tmp[PROM_FLOAT_MAX] (the most it ever writes);
 * returns the length. */
static size_t format_prom_float(double v, char *tmp)
{
    char digits[24];
    size_t len = 0;
    int nd, e;
    double a;

#define PUT(c)                        \
    do {                              \
        if (len + 1 < PROM_FLOAT_MAX) \
            tmp[len++] = (char)(c);   \
    } while (0)

    if (isnan(v)) {
        memcpy(tmp, "NaN", 3);
        return 3;
    }
    if (isinf(v)) {
        memcpy(tmp, v < 0 ? "-Inf" : "+Inf", 4);
        return 4;
    }
    if (signbit(v))
        PUT('-');
    a = fabs(v);
    if (a == 0) {
        PUT('0');
    } else {
        nd = shortest(a, digits, &e);
        if (a < 1e-6 || a >= 1e21) {
            /* Go's 'e' with shortest precision: d[.ddd]e±XX. */
            PUT(digits[0]);
            if (nd > 1) {
                PUT('.');
                for (int i = 1; i < nd; i++)
                    PUT(digits[i]);
            }
            len += (size_t)snprintf(tmp + len, PROM_FLOAT_MAX - len, "e%c%02d", e < 0 ? '-' : '+',
                                    e < 0 ? -e : e);
        } else if (e < 0) {
            PUT('0');
            PUT('.');
            for (int i = 0; i < -e - 1; i++)
                PUT('0');
            for (int i = 0; i < nd; i++)
                PUT(digits[i]);
        } else {
            for (int i = 0; i <= e || i < nd; i++) {
                if (i == e + 1)
                    PUT('.');
                PUT(i < nd ? digits[i] : '0');
            }
        }
    }
#undef PUT
    return len;
}

size_t json_format_prom_float(double v, char *out, size_t outlen)
{
    char tmp[PROM_FLOAT_MAX];
    size_t len = format_prom_float(v, tmp);

    if (outlen == 0)
        return 0;
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, tmp, len);
    out[len] = '\0';
    return len;
}

void json_out_prom_value(struct json_out *j, double v)
{
    struct wbuf *b = j->b;

    value(j);
    if (wbuf_reserve(b, PROM_FLOAT_MAX + 2) != 0)
        return; /* the sticky error says why */
    char *o = (char *)b->data + b->len;
    o[0] = '"';
    size_t n = format_prom_float(v, o + 1);
    o[n + 1] = '"';
    b->len += n + 2;
}

#define PROM_TIME_MAX 32 /* a formatted timestamp's bytes, at most */

/* format_prom_time writes ms as json_out_prom_time does at the end of
 * tmp[PROM_TIME_MAX]; returns where it starts. Written backwards: no printf
 * on the hot path of large matrices. */
static size_t format_prom_time(int64_t ms, char *tmp)
{
    uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    unsigned frac = (unsigned)(u % 1000);
    size_t n = PROM_TIME_MAX;

    if (frac != 0) {
        for (int i = 0; i < 3; i++, frac /= 10)
            tmp[--n] = (char)('0' + frac % 10);
        tmp[--n] = '.';
    }
    u /= 1000;
    do {
        tmp[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (ms < 0)
        tmp[--n] = '-';
    return n;
}

void json_out_prom_time(struct json_out *j, int64_t ms)
{
    char tmp[PROM_TIME_MAX];
    size_t n = format_prom_time(ms, tmp);

    value(j);
    wbuf_put(j->b, tmp + n, PROM_TIME_MAX - n);
}

void json_out_prom_sample(struct json_out *j, int64_t ms, double v)
{
    json_out_array_begin(j);
    json_out_prom_time(j, ms);
    json_out_prom_value(j, v);
    json_out_array_end(j);
}

/* The most one pair can take: brackets, comma, quotes, the time and what
 * json_format_prom_float may write (its 400-byte buffer). */
#define PROM_POINT_MAX (PROM_TIME_MAX + PROM_FLOAT_MAX + 8)

static const char digits2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* put_prom_time writes ms as json_out_prom_time does at o (room for
 * PROM_TIME_MAX bytes); returns the end. */
static char *put_prom_time(char *o, int64_t ms)
{
    uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    uint64_t secs = u / 1000;
    unsigned frac = (unsigned)(u % 1000);
    size_t nd = 1;

    if (ms < 0)
        *o++ = '-';
    /* Digits: mostly ten (seconds since 2001), found without dividing. */
    if (secs >= UINT64_C(1000000000) && secs < UINT64_C(10000000000))
        nd = 10;
    else
        for (uint64_t x = secs; x >= 10; x /= 10)
            nd++;
    /* Two digits at a time from the end. */
    size_t i = nd;
    for (; i >= 2; i -= 2, secs /= 100) {
        const char *d2 = digits2 + 2 * (secs % 100);
        o[i - 2] = d2[0];
        o[i - 1] = d2[1];
    }
    if (i == 1)
        o[0] = (char)('0' + secs);
    o += nd;
    if (frac != 0) {
        o[0] = '.';
        o[1] = (char)('0' + frac / 100);
        o[2] = (char)('0' + frac / 10 % 10);
        o[3] = (char)('0' + frac % 10);
        o += 4;
    }
    return o;
}

void json_out_prom_points(struct json_out *j, const struct promql_point *p, size_t n)
{
    struct wbuf *b = j->b;

    if (n == 0)
        return;
    if (j->depth + 1 >= JSON_OUT_MAX_DEPTH || j->after_key ||
        (j->in_object & (UINT64_C(1) << j->depth))) {
        for (size_t i = 0; i < n; i++) /* the checks and errors of the general path */
            json_out_prom_sample(j, p[i].t, p[i].v);
        return;
    }
    /* What json_out_prom_sample does, the separator of the first pair aside,
     * with room checked once per pair. */
    value(j);
    size_t last_off = 0, last_len = 0; /* where the previous value's text is in b */
    for (size_t i = 0; i < n; i++) {
        if (wbuf_reserve(b, PROM_POINT_MAX) != 0)
            return; /* the sticky error says why */
        char *o = (char *)b->data + b->len;
        char *o0 = o;
        if (i > 0)
            *o++ = ',';
        *o++ = '[';
        o = put_prom_time(o, p[i].t);
        *o++ = ',';
        *o++ = '"';
        /* A value repeating the previous one (gauges often do) repeats its
         * text. */
        size_t off = (size_t)(o - (char *)b->data), len;
        if (i > 0 && f64_bits(p[i].v) == f64_bits(p[i - 1].v)) {
            len = last_len;
            memcpy(o, b->data + last_off, len);
        } else {
            len = format_prom_float(p[i].v, o);
        }
        last_off = off;
        last_len = len;
        o += len;
        *o++ = '"';
        *o++ = ']';
        b->len += (size_t)(o - o0);
    }
}

void json_out_success_begin(struct json_out *j)
{
    json_out_object_begin(j);
    json_out_key(j, "status");
    json_out_str(j, "success");
    json_out_key(j, "data");
}

void json_out_success_end(struct json_out *j)
{
    json_out_object_end(j);
}

void json_out_time_ns(struct json_out *j, int64_t ns)
{
    char buf[64];
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        json_out_null(j);
        return;
    }
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    json_out_str(j, buf);
}

void json_out_rec_value(struct json_out *j, const struct rec_value *v)
{
    switch (v->type) {
    case TT_VAL_STR:
        json_out_strn(j, v->u.s.p, v->u.s.len);
        break;
    case TT_VAL_INT:
        json_out_i64(j, v->u.i);
        break;
    case TT_VAL_DOUBLE:
        json_out_f64(j, v->u.d);
        break;
    case TT_VAL_BOOL:
        json_out_bool(j, v->u.b);
        break;
    default:
        json_out_null(j);
        break;
    }
}
