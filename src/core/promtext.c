/*
 * promtext.c - streaming parser for the Prometheus text exposition format
 * (see promtext.h and docs/design/promtext.md).
 *
 * Structure: promtext_feed cuts the stream into lines (memchr for '\n'),
 * parses complete lines in place and keeps only a line cut by the end of a
 * chunk in the carry buffer. parse_line handles one line, without its '\n'
 * (and without a trailing '\r'), and either delivers it through the
 * callbacks after checking all of it, or reports it with bad_line.
 *
 * Line-level functions return 0 (line done), SKIPPED (the line was bad,
 * reported, and skip mode goes on) or a negative code (stop). Nothing is
 * allocated per line once the buffers have grown to the input's needs.
 */
#include "core/promtext.h"

#include <float.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"

#define SKIPPED 1

/* Byte classes. */
#define C_LSTART 1  /* [a-zA-Z_]: label name start */
#define C_LCONT  2  /* [a-zA-Z0-9_] */
#define C_MSTART 4  /* [a-zA-Z_:]: metric name start */
#define C_MCONT  8  /* [a-zA-Z0-9_:] */
#define C_VSTOP  16 /* '"', '\\' or a non-ASCII byte: stops the label value scan */
#define C_BLANK  32 /* ' ' or '\t' */

static const uint8_t cls[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  32, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  32, 0,  16, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 12, 0,  0,  0,  0,  0,  0,  15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 0,  16, 0,  0,  15,
    0,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 0,  0,  0,  0,  0,  16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
};

#define IS(c, bit) (cls[(uint8_t)(c)] & (bit))

/* ---- scanning -------------------------------------------------------------- */

#if defined(__SSE2__)
#include <emmintrin.h>

/* not_name16: bit k set when byte k of the 16 at p is not a name byte
 * ([a-zA-Z0-9_], plus ':' when colon). Bytes >= 0x80 are negative as signed
 * bytes and fall outside every range. */
static inline unsigned not_name16(const char *p, int colon)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i low = _mm_or_si128(x, _mm_set1_epi8(0x20)); /* 'A'-'Z' -> 'a'-'z' */
    __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(low, _mm_set1_epi8('a' - 1)),
                                  _mm_cmplt_epi8(low, _mm_set1_epi8('z' + 1)));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(x, _mm_set1_epi8(colon ? ':' + 1 : '9' + 1)));
    __m128i ok = _mm_or_si128(_mm_or_si128(alpha, digit), _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
    return (unsigned)_mm_movemask_epi8(ok) ^ 0xFFFFu;
}

/* vstop16: bit k set when byte k of the 16 at p is '"', '\\' or >= 0x80. */
static inline unsigned vstop16(const char *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i q =
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
    return (unsigned)(_mm_movemask_epi8(q) | _mm_movemask_epi8(x));
}
#endif

/* scan_name returns the first index from i whose byte is not of class bit
 * (C_MCONT or C_LCONT), or len. */
static inline size_t scan_name(const char *l, size_t len, size_t i, uint8_t bit)
{
#if defined(__SSE2__)
    while (len - i >= 16) {
        unsigned m = not_name16(l + i, bit == C_MCONT);
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i < len && IS(l[i], bit))
        i++;
    return i;
}

/* scan_value returns the first index from i holding '"', '\\' or a byte >=
 * 0x80, or len. */
static inline size_t scan_value(const char *l, size_t len, size_t i)
{
#if defined(__SSE2__)
    while (len - i >= 16) {
        unsigned m = vstop16(l + i);
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i < len && !IS(l[i], C_VSTOP))
        i++;
    return i;
}

/* ---- numbers --------------------------------------------------------------- */

/* Powers of ten that doubles hold exactly (10^22 is the largest). */
static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
static const uint64_t pow10_u64[16] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
};

#define MANT_EXACT (1ull << 53)

/* The fast path needs double arithmetic without excess precision (x87). */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define FAST_DOUBLE 1
#else
#define FAST_DOUBLE 0
#endif

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    char *nb = realloc(*buf, n);
    if (!nb)
        return TT_ENOMEM;
    *buf = nb;
    *cap = n;
    return 0;
}

static int lower_eq(const char *s, size_t n, const char *lit)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + ('a' - 'A'));
        if (c != lit[i] || lit[i] == 0)
            return 0;
    }
    return lit[n] == 0;
}

/* value_slow converts a syntax-checked decimal with strtod_l in the "C"
 * locale (loc, or one made here when loc is NULL). buf/cap, when given, hold
 * the NUL-terminated copy of long values. */
static int value_slow(const char *s, size_t n, double *out, void *loc, char **buf, size_t *cap)
{
    char local[128];
    char *b = local, *heap = NULL;
    locale_t own = (locale_t)0;
    int rc = 0;
    if (n + 1 > sizeof local) {
        if (buf) {
            if (grow(buf, cap, n + 1))
                return TT_ENOMEM;
            b = *buf;
        } else {
            heap = malloc(n + 1);
            if (!heap)
                return TT_ENOMEM;
            b = heap;
        }
    }
    memcpy(b, s, n);
    b[n] = 0;
    if (!loc) {
        own = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        if (own == (locale_t)0) {
            rc = TT_ENOMEM;
            goto out;
        }
        loc = own;
    }
    char *end = NULL;
    double v = strtod_l(b, &end, (locale_t)loc);
    if (end != b + n)
        rc = TT_ESYNTAX; /* cannot happen: the syntax was checked */
    else if (isinf(v))
        rc = TT_ERANGE; /* Go's ParseFloat fails with ErrRange; Prometheus rejects */
    else
        *out = v;
out:
    if (own != (locale_t)0)
        freelocale(own);
    free(heap);
    return rc;
}

/* parse_value: see promtext_parse_value. */
static int parse_value(const char *s, size_t n, double *out, void *loc, char **buf, size_t *cap)
{
    size_t i = 0;
    int neg = 0;
    if (n == 0)
        return TT_ESYNTAX;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i < n && ((unsigned)(s[i] - '0') <= 9 || s[i] == '.')) {
        uint64_t m = 0;
        int nd = 0, trunc = 0, sawdig = 0;
        int64_t e10 = 0;
        /* Up to 19 significant digits go into m; later ones only move the
         * exponent (before the point) and mark the value truncated. */
        for (; i < n && (unsigned)(s[i] - '0') <= 9; i++) {
            sawdig = 1;
            if (m == 0 && s[i] == '0')
                continue;
            if (nd < 19) {
                m = m * 10 + (unsigned)(s[i] - '0');
                nd++;
            } else {
                e10++;
                trunc |= s[i] != '0';
            }
        }
        if (i < n && s[i] == '.') {
            for (i++; i < n && (unsigned)(s[i] - '0') <= 9; i++) {
                sawdig = 1;
                if (m == 0 && s[i] == '0') {
                    e10--;
                    continue;
                }
                if (nd < 19) {
                    m = m * 10 + (unsigned)(s[i] - '0');
                    nd++;
                    e10--;
                } else {
                    trunc |= s[i] != '0';
                }
            }
        }
        if (!sawdig)
            return TT_ESYNTAX;
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
            int eneg = 0;
            int64_t e = 0;
            i++;
            if (i < n && (s[i] == '+' || s[i] == '-')) {
                eneg = s[i] == '-';
                i++;
            }
            if (i >= n || (unsigned)(s[i] - '0') > 9)
                return TT_ESYNTAX;
            for (; i < n && (unsigned)(s[i] - '0') <= 9; i++)
                if (e < 100000000)
                    e = e * 10 + (s[i] - '0');
            e10 += eneg ? -e : e;
        }
        if (i != n)
            return TT_ESYNTAX;
        if (m == 0) {
            *out = neg ? -0.0 : 0.0;
            return 0;
        }
        /* Clinger's fast path: m and 10^|e10| are exact doubles, so one
         * correctly rounded multiply or divide gives the correctly rounded
         * result. With e10 above 22, move spare powers of ten into m while it
         * stays exact. */
        if (FAST_DOUBLE && !trunc && m <= MANT_EXACT) {
            if (e10 > 22 && e10 <= 22 + 15 && m <= MANT_EXACT / pow10_u64[e10 - 22]) {
                m *= pow10_u64[e10 - 22];
                e10 = 22;
            }
            if (e10 >= -22 && e10 <= 22) {
                double d = (double)m;
                d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
                *out = neg ? -d : d;
                return 0;
            }
        }
        return value_slow(s, n, out, loc, buf, cap);
    }
    /* Go's special values: [+-]inf, [+-]infinity, nan (no sign), any case. */
    const char *w = s + i;
    size_t wn = n - i;
    if (lower_eq(w, wn, "inf") || lower_eq(w, wn, "infinity")) {
        *out = neg ? -HUGE_VAL : HUGE_VAL;
        return 0;
    }
    if (i == 0 && lower_eq(w, wn, "nan")) {
        /* The bits of Go's math.NaN(), so a stored NaN matches Prometheus's. */
        uint64_t bits = 0x7FF8000000000001ull;
        memcpy(out, &bits, sizeof *out);
        return 0;
    }
    return TT_ESYNTAX;
}

int promtext_parse_value(const char *s, size_t n, double *out)
{
    return parse_value(s, n, out, NULL, NULL, NULL);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* eight_digits: when the 8 bytes at s are ASCII digits, sets *out to their
 * value and returns 1. SWAR: a byte is a digit when its high nibble is 3 and
 * adding 6 keeps it so; then pairs, quads and the octet are combined with
 * two multiplies (bytes are little-endian: the first digit is the low byte). */
static inline int eight_digits(const char *s, uint64_t *out)
{
    uint64_t v;
    memcpy(&v, s, 8);
    const uint64_t hi = 0xF0F0F0F0F0F0F0F0ull;
    if (((v & hi) | (((v + 0x0606060606060606ull) & hi) >> 4)) != 0x3333333333333333ull)
        return 0;
    v -= 0x3030303030303030ull;
    v = v * 10 + (v >> 8); /* bytes 0, 2, 4, 6: two-digit numbers */
    const uint64_t m = 0x000000FF000000FFull;
    v = ((v & m) * (100 + (1000000ull << 32)) + ((v >> 16) & m) * (1 + (10000ull << 32))) >> 32;
    *out = v;
    return 1;
}
#define HAVE_EIGHT_DIGITS 1
#else
#define HAVE_EIGHT_DIGITS 0
#endif

int promtext_parse_timestamp(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i >= n)
        return TT_ESYNTAX;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    if (n - i <= 18) {
        /* Up to 18 digits cannot overflow (millisecond timestamps have 13). */
#if HAVE_EIGHT_DIGITS
        uint64_t e8;
        while (n - i >= 8 && eight_digits(s + i, &e8)) {
            v = v * 100000000 + e8;
            i += 8;
        }
#endif
        for (; i < n; i++) {
            unsigned d = (unsigned)(uint8_t)s[i] - '0';
            if (d > 9)
                return TT_ESYNTAX;
            v = v * 10 + d;
        }
    } else {
        int range = 0;
        for (; i < n; i++) {
            unsigned d = (unsigned)(uint8_t)s[i] - '0';
            if (d > 9)
                return TT_ESYNTAX;
            if (v < lim / 10 || (v == lim / 10 && d <= lim % 10))
                v = v * 10 + d;
            else
                range = 1;
        }
        if (range)
            return TT_ERANGE;
    }
    if (!neg)
        *out = (int64_t)v;
    else if (v == (uint64_t)INT64_MAX + 1)
        *out = INT64_MIN;
    else
        *out = -(int64_t)v;
    return 0;
}

/* ---- UTF-8 ----------------------------------------------------------------- */

/* utf8_bad returns the offset of the first byte of s[0..n) that does not
 * start a valid UTF-8 sequence (overlong forms, surrogates, code points past
 * U+10FFFF and truncated sequences are invalid, as in Go), or n. */
static size_t utf8_bad(const char *str, size_t n)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (n - i - 1 < need || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += need + 1;
    }
    return n;
}

/* ---- errors ---------------------------------------------------------------- */

/* quote writes s[0..n) double-quoted for a message: printable ASCII as is,
 * '"' and '\\' escaped, other bytes as \xNN, cut after about 40 bytes. */
static const char *quote(char *out, size_t outsz, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (o + 10 > outsz) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o++] = '"';
    out[o] = 0;
    return out;
}

/* quote_at quotes the byte at l[i], or says "end of line" when i == len. */
static const char *quote_at(char *out, size_t outsz, const char *l, size_t len, size_t i)
{
    if (i >= len) {
        snprintf(out, outsz, "end of line");
        return out;
    }
    char q[16];
    quote(q, sizeof q, l + i, 1);
    q[0] = '\'';
    q[strlen(q) - 1] = '\'';
    snprintf(out, outsz, "%s", q);
    return out;
}

/* bad_line reports the current line as malformed at 0-based column col.
 * Returns SKIPPED in skip mode, else code; or the on_error callback's
 * negative code. */
__attribute__((format(printf, 4, 5))) static int bad_line(struct promtext *p, size_t col, int code,
                                                          const char *fmt, ...)
{
    struct promtext_error e;
    va_list ap;
    e.line = p->line;
    e.column = col + 1;
    e.code = code;
    int n = snprintf(e.msg, sizeof e.msg, "line %" PRIu64 ", column %zu: ", e.line, e.column);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof e.msg)
        vsnprintf(e.msg + n, sizeof e.msg - (size_t)n, fmt, ap);
    va_end(ap);
    p->stats.bad_lines++;
    if (p->err.line == 0)
        p->err = e;
    if (p->cb.on_error) {
        int rc = p->cb.on_error(p->cb.ctx, &e);
        if (rc < 0)
            return rc;
    }
    return (p->opts.flags & PROMTEXT_SKIP_BAD_LINES) ? SKIPPED : code;
}

/* ---- lines ----------------------------------------------------------------- */

static size_t skip_blanks(const char *l, size_t len, size_t i)
{
    while (i < len && IS(l[i], C_BLANK))
        i++;
    return i;
}

/* family_of returns the current family when a sample named name belongs to
 * it, else NULL. */
static const struct promtext_family *family_of(const struct promtext *p, const char *name, size_t n)
{
    const struct promtext_family *f = &p->fam;
    if (f->name_len == 0 || n < f->name_len || memcmp(name, f->name, f->name_len) != 0)
        return NULL;
    if (n == f->name_len)
        return f;
    const char *suf = name + f->name_len;
    size_t sl = n - f->name_len;
    if (f->type == PROMTEXT_HISTOGRAM || f->type == PROMTEXT_SUMMARY) {
        if ((sl == 4 && memcmp(suf, "_sum", 4) == 0) || (sl == 6 && memcmp(suf, "_count", 6) == 0))
            return f;
        if (f->type == PROMTEXT_HISTOGRAM && sl == 7 && memcmp(suf, "_bucket", 7) == 0)
            return f;
    }
    return NULL;
}

/* label_value_escaped finishes a label value that holds a backslash at
 * l[*pi], unescaping it into the scratch buffer. vq is the column of the
 * opening quote. On success *pi is just past the closing quote. */
static int label_value_escaped(struct promtext *p, const char *l, size_t len, size_t vq, size_t *pi,
                               const char **val, size_t *vlen, int *hi,
                               const struct promtext_label *lab)
{
    char q[96];
    /* The unescaped values of a line fit in the line's length, so growing
     * once per line, before the first escaped value, keeps earlier values'
     * pointers valid. */
    if (p->scratch_cap < len && grow(&p->scratch, &p->scratch_cap, len))
        return TT_ENOMEM;
    size_t i = *pi, vs = vq + 1;
    char *o0 = p->scratch + p->scratch_len, *o = o0;
    memcpy(o, l + vs, i - vs);
    o += i - vs;
    for (;;) {
        size_t stop = scan_value(l, len, i);
        memcpy(o, l + i, stop - i);
        o += stop - i;
        i = stop;
        if (i >= len)
            return bad_line(p, vq, TT_ESYNTAX, "unterminated value of label %s (no closing '\"')",
                            quote(q, sizeof q, lab->name, lab->name_len));
        char c = l[i];
        if (c == '"')
            break;
        if (c != '\\') {
            *hi = 1;
            *o++ = l[i++];
            continue;
        }
        char e = i + 1 < len ? l[i + 1] : 0;
        if (e == '\\' || e == '"')
            *o++ = e;
        else if (e == 'n')
            *o++ = '\n';
        else if (i + 1 >= len)
            return bad_line(p, vq, TT_ESYNTAX, "unterminated value of label %s (no closing '\"')",
                            quote(q, sizeof q, lab->name, lab->name_len));
        else
            return bad_line(p, i, TT_ESYNTAX,
                            "invalid escape sequence '\\%c' in the value of label %s (valid: "
                            "\\\\, \\\", \\n)",
                            (e >= 0x20 && e < 0x7f) ? e : '?',
                            quote(q, sizeof q, lab->name, lab->name_len));
        i += 2;
    }
    *val = o0;
    *vlen = (size_t)(o - o0);
    p->scratch_len += *vlen;
    *pi = i + 1;
    return 0;
}

/* parse_labels parses the label set starting at l[*pi] == '{' into p->labels. */
static int parse_labels(struct promtext *p, const char *l, size_t len, size_t *pi, size_t *nlabels)
{
    char q[96], q2[32];
    size_t i = *pi + 1, nl = 0;
    const struct promtext_opts *o = &p->opts;
    for (;;) {
        i = skip_blanks(l, len, i);
        if (i < len && l[i] == '}') {
            i++;
            break;
        }
        if (i >= len || !IS(l[i], C_LSTART))
            return bad_line(p, i, TT_ESYNTAX, "expected label name or '}', found %s",
                            quote_at(q2, sizeof q2, l, len, i));
        size_t ns = i++;
        i = scan_name(l, len, i, C_LCONT);
        size_t nlen = i - ns;
        struct promtext_label lab = { l + ns, nlen, NULL, 0 };
        if (nlen > o->max_name_bytes)
            return bad_line(p, ns, TT_ETOOBIG, "label name longer than the limit of %zu bytes",
                            o->max_name_bytes);
        i = skip_blanks(l, len, i);
        if (i >= len || l[i] != '=')
            return bad_line(p, i, TT_ESYNTAX, "expected '=' after label name %s, found %s",
                            quote(q, sizeof q, lab.name, nlen), quote_at(q2, sizeof q2, l, len, i));
        i = skip_blanks(l, len, i + 1);
        if (i >= len || l[i] != '"')
            return bad_line(p, i, TT_ESYNTAX,
                            "expected '\"' to start the value of label %s, found %s",
                            quote(q, sizeof q, lab.name, nlen), quote_at(q2, sizeof q2, l, len, i));
        size_t vq = i++;
        int hi = 0;
        for (;;) {
            i = scan_value(l, len, i);
            if (i >= len || l[i] != '"') {
                if (i < len && (uint8_t)l[i] >= 0x80) {
                    hi = 1;
                    i++;
                    continue;
                }
                if (i < len) { /* a backslash */
                    int rc = label_value_escaped(p, l, len, vq, &i, &lab.value, &lab.value_len, &hi,
                                                 &lab);
                    if (rc)
                        return rc;
                    break;
                }
                return bad_line(p, vq, TT_ESYNTAX,
                                "unterminated value of label %s (no closing '\"')",
                                quote(q, sizeof q, lab.name, nlen));
            }
            lab.value = l + vq + 1;
            lab.value_len = i - vq - 1;
            i++;
            break;
        }
        if (hi) {
            size_t bad = utf8_bad(lab.value, lab.value_len);
            if (bad < lab.value_len) {
                /* Columns are exact for values without escapes. */
                size_t col = lab.value == l + vq + 1 ? vq + 1 + bad : vq;
                return bad_line(p, col, TT_ESYNTAX, "invalid UTF-8 in the value of label %s",
                                quote(q, sizeof q, lab.name, nlen));
            }
        }
        if (lab.value_len > o->max_value_bytes)
            return bad_line(p, vq, TT_ETOOBIG,
                            "value of label %s longer than the limit of %zu bytes",
                            quote(q, sizeof q, lab.name, nlen), o->max_value_bytes);
        if (nlen == 8 && memcmp(lab.name, "__name__", 8) == 0)
            return bad_line(p, ns, TT_ESYNTAX, "label name \"__name__\" is reserved");
        for (size_t j = 0; j < nl; j++)
            if (p->labels[j].name_len == nlen && memcmp(p->labels[j].name, lab.name, nlen) == 0)
                return bad_line(p, ns, TT_ESYNTAX, "duplicate label name %s",
                                quote(q, sizeof q, lab.name, nlen));
        if (nl >= o->max_labels)
            return bad_line(p, ns, TT_ETOOBIG, "more labels than the limit of %zu", o->max_labels);
        if (nl == p->labels_cap) {
            size_t cap = p->labels_cap ? p->labels_cap * 2 : 16;
            if (cap > o->max_labels)
                cap = o->max_labels;
            struct promtext_label *nb = realloc(p->labels, cap * sizeof *nb);
            if (!nb)
                return TT_ENOMEM;
            p->labels = nb;
            p->labels_cap = cap;
        }
        p->labels[nl++] = lab;
        i = skip_blanks(l, len, i);
        if (i < len && l[i] == ',') {
            i++;
            continue;
        }
        if (i < len && l[i] == '}') {
            i++;
            break;
        }
        return bad_line(p, i, TT_ESYNTAX,
                        "expected ',' or '}' after the value of label %s, found %s",
                        quote(q, sizeof q, lab.name, nlen), quote_at(q2, sizeof q2, l, len, i));
    }
    *pi = i;
    *nlabels = nl;
    return 0;
}

/* remember_series keeps the series text ser[0..n) (name and label set) of
 * the sample just parsed, with its labels' offsets, when none of its values
 * was unescaped into scratch memory; else it forgets the last one. Out of
 * memory only means no shortcut. */
static void remember_series(struct promtext *p, const char *ser, size_t n, size_t name_len,
                            size_t nl)
{
    uintptr_t lo = (uintptr_t)ser, hi = lo + n;
    for (size_t k = 0; k < nl; k++)
        if ((uintptr_t)p->labels[k].value < lo || (uintptr_t)p->labels[k].value > hi)
            return; /* unescaped into scratch */
    if (grow(&p->prev, &p->prev_cap, n))
        return;
    if (2 * nl > p->prev_offs_cap) {
        size_t *o = realloc(p->prev_offs, 2 * nl * sizeof *o);
        if (!o)
            return;
        p->prev_offs = o;
        p->prev_offs_cap = 2 * nl;
    }
    for (size_t k = 0; k < nl; k++) {
        p->prev_offs[2 * k] = (size_t)(p->labels[k].name - ser);
        p->prev_offs[2 * k + 1] = (size_t)(p->labels[k].value - ser);
    }
    memcpy(p->prev, ser, n);
    p->prev_len = n;
    p->prev_name_len = name_len;
    p->prev_nlabels = nl;
}

static int parse_sample(struct promtext *p, const char *l, size_t len, size_t i)
{
    char q[96], q2[32];
    struct promtext_sample s;
    int rc;
    size_t start = i;
    if (p->prev_len > 0 && len - start > p->prev_len &&
        memcmp(l + start, p->prev, p->prev_len) == 0) {
        /* The series of the last sample again: same name, same labels. */
        s.name = l + start;
        s.name_len = p->prev_name_len;
        s.series = l + start;
        s.series_len = p->prev_len;
        s.nlabels = p->prev_nlabels;
        for (size_t k = 0; k < s.nlabels; k++) {
            p->labels[k].name = l + start + p->prev_offs[2 * k];
            p->labels[k].value = l + start + p->prev_offs[2 * k + 1];
        }
        p->scratch_len = 0;
        i = skip_blanks(l, len, start + p->prev_len);
        goto value;
    }
    p->prev_len = 0; /* p->labels is about to change */
    if (!IS(l[i], C_MSTART)) {
        if (l[i] == '{')
            return bad_line(p, i, TT_ESYNTAX,
                            "expected metric name before '{' (quoted UTF-8 names are not "
                            "supported)");
        return bad_line(p, i, TT_ESYNTAX, "expected metric name, found %s",
                        quote_at(q2, sizeof q2, l, len, i));
    }
    i++;
    i = scan_name(l, len, i, C_MCONT);
    s.name = l + start;
    s.name_len = i - start;
    s.nlabels = 0;
    if (s.name_len > p->opts.max_name_bytes)
        return bad_line(p, start, TT_ETOOBIG, "metric name longer than the limit of %zu bytes",
                        p->opts.max_name_bytes);
    if (i < len && l[i] != '{' && !IS(l[i], C_BLANK))
        return bad_line(p, i, TT_ESYNTAX, "unexpected %s in metric name %s",
                        quote_at(q2, sizeof q2, l, len, i), quote(q, sizeof q, s.name, s.name_len));
    s.series = l + start;
    s.series_len = s.name_len;
    i = skip_blanks(l, len, i);
    p->scratch_len = 0;
    int braces = i < len && l[i] == '{';
    if (braces) {
        rc = parse_labels(p, l, len, &i, &s.nlabels);
        if (rc)
            return rc;
        s.series_len = i - start;
        remember_series(p, l + start, s.series_len, s.name_len, s.nlabels);
        i = skip_blanks(l, len, i);
    }
    if (i >= len)
        return bad_line(p, i, TT_ESYNTAX, "expected a value after %s",
                        braces ? "the label set" : "the metric name");
value:;
    size_t vs = i;
    while (i < len && !IS(l[i], C_BLANK))
        i++;
    rc = parse_value(l + vs, i - vs, &s.value, p->c_locale, &p->numbuf, &p->numbuf_cap);
    if (rc == TT_ESYNTAX)
        return bad_line(p, vs, TT_ESYNTAX,
                        "invalid value %s (want a float such as 12, -1.5e-3, NaN or +Inf)",
                        quote(q, sizeof q, l + vs, i - vs));
    if (rc == TT_ERANGE)
        return bad_line(p, vs, TT_ESYNTAX, "value %s is out of range for a double",
                        quote(q, sizeof q, l + vs, i - vs));
    if (rc)
        return rc;
    i = skip_blanks(l, len, i);
    s.has_timestamp = 0;
    s.timestamp_ms = 0;
    if (i < len) {
        size_t ts = i;
        while (i < len && !IS(l[i], C_BLANK))
            i++;
        rc = promtext_parse_timestamp(l + ts, i - ts, &s.timestamp_ms);
        if (rc == TT_ESYNTAX)
            return bad_line(p, ts, TT_ESYNTAX,
                            "invalid timestamp %s (want integer milliseconds since the epoch)",
                            quote(q, sizeof q, l + ts, i - ts));
        if (rc)
            return bad_line(p, ts, TT_ESYNTAX, "timestamp %s is out of range for int64",
                            quote(q, sizeof q, l + ts, i - ts));
        s.has_timestamp = 1;
        i = skip_blanks(l, len, i);
        if (i < len)
            return bad_line(p, i, TT_ESYNTAX, "unexpected text %s after the timestamp",
                            quote(q, sizeof q, l + i, len - i));
    }
    s.labels = p->labels;
    s.line = p->line;
    s.family = family_of(p, s.name, s.name_len);
    p->stats.samples++;
    if (p->cb.on_sample) {
        rc = p->cb.on_sample(p->cb.ctx, &s);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* set_family makes name the current family, keeping its HELP and TYPE when
 * it already is. */
static int set_family(struct promtext *p, const char *name, size_t n)
{
    struct promtext_family *f = &p->fam;
    if (f->name_len == n && memcmp(f->name, name, n) == 0)
        return 0;
    if (grow(&p->fam_name, &p->fam_name_cap, n))
        return TT_ENOMEM;
    memcpy(p->fam_name, name, n);
    f->name = p->fam_name;
    f->name_len = n;
    f->help = "";
    f->help_len = 0;
    f->has_help = 0;
    f->type = PROMTEXT_UNTYPED;
    f->has_type = 0;
    return 0;
}

static const char *const type_names[] = { "untyped", "counter", "gauge", "histogram", "summary" };

const char *promtext_type_name(enum promtext_type t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "untyped";
}

/* parse_meta parses the rest of "# HELP " / "# TYPE " from l[i]. */
static int parse_meta(struct promtext *p, const char *l, size_t len, size_t i, int help)
{
    char q[96], q2[32];
    const char *kw = help ? "HELP" : "TYPE";
    i = skip_blanks(l, len, i);
    if (i >= len || !IS(l[i], C_MSTART))
        return bad_line(p, i, TT_ESYNTAX, "expected metric name after %s, found %s", kw,
                        quote_at(q2, sizeof q2, l, len, i));
    size_t ns = i++;
    i = scan_name(l, len, i, C_MCONT);
    size_t nlen = i - ns;
    if (nlen > p->opts.max_name_bytes)
        return bad_line(p, ns, TT_ETOOBIG, "metric name longer than the limit of %zu bytes",
                        p->opts.max_name_bytes);
    if (i < len && !IS(l[i], C_BLANK))
        return bad_line(p, i, TT_ESYNTAX, "unexpected %s in metric name %s",
                        quote_at(q2, sizeof q2, l, len, i), quote(q, sizeof q, l + ns, nlen));
    i = skip_blanks(l, len, i);
    int rc;
    if (help) {
        /* HELP text: \\ and \n are escapes, any other backslash is kept as
         * written (as Prometheus does). */
        if ((rc = set_family(p, l + ns, nlen)) != 0)
            return rc;
        if (grow(&p->fam_help, &p->fam_help_cap, len - i + 1))
            return TT_ENOMEM;
        char *o = p->fam_help;
        while (i < len) {
            char c = l[i++];
            if (c == '\\' && i < len && (l[i] == '\\' || l[i] == 'n')) {
                c = l[i] == 'n' ? '\n' : '\\';
                i++;
            }
            *o++ = c;
        }
        p->fam.help = p->fam_help;
        p->fam.help_len = (size_t)(o - p->fam_help);
        p->fam.has_help = 1;
        p->stats.metadata++;
        if (p->cb.on_help && (rc = p->cb.on_help(p->cb.ctx, &p->fam)) < 0)
            return rc;
        return 0;
    }
    size_t ts = i;
    while (i < len && !IS(l[i], C_BLANK))
        i++;
    size_t tn = i - ts;
    if (tn == 0)
        return bad_line(p, ts, TT_ESYNTAX, "expected metric type after TYPE %s",
                        quote(q, sizeof q, l + ns, nlen));
    enum promtext_type t;
    if (lower_eq(l + ts, tn, "counter"))
        t = PROMTEXT_COUNTER;
    else if (lower_eq(l + ts, tn, "gauge"))
        t = PROMTEXT_GAUGE;
    else if (lower_eq(l + ts, tn, "histogram"))
        t = PROMTEXT_HISTOGRAM;
    else if (lower_eq(l + ts, tn, "summary"))
        t = PROMTEXT_SUMMARY;
    else if (lower_eq(l + ts, tn, "untyped") || lower_eq(l + ts, tn, "unknown"))
        t = PROMTEXT_UNTYPED;
    else
        return bad_line(p, ts, TT_ESYNTAX,
                        "unknown metric type %s (want counter, gauge, histogram, summary or "
                        "untyped)",
                        quote(q, sizeof q, l + ts, tn));
    i = skip_blanks(l, len, i);
    if (i < len)
        return bad_line(p, i, TT_ESYNTAX, "unexpected text %s after the metric type",
                        quote(q, sizeof q, l + i, len - i));
    if ((rc = set_family(p, l + ns, nlen)) != 0)
        return rc;
    p->fam.type = t;
    p->fam.has_type = 1;
    p->stats.metadata++;
    if (p->cb.on_type && (rc = p->cb.on_type(p->cb.ctx, &p->fam)) < 0)
        return rc;
    return 0;
}

/* parse_comment handles a line whose first non-blank byte, l[i], is '#'. */
static int parse_comment(struct promtext *p, const char *l, size_t len, size_t i)
{
    size_t j = i + 1;
    if (j < len && IS(l[j], C_BLANK)) {
        j = skip_blanks(l, len, j);
        size_t k = j;
        while (k < len && !IS(l[k], C_BLANK))
            k++;
        /* "# HELP" and "# TYPE" count only when followed by a blank, as in
         * Prometheus's lexer; "# HELP" alone is a comment. */
        if (k - j == 4 && k < len && memcmp(l + j, "HELP", 4) == 0)
            return parse_meta(p, l, len, k, 1);
        if (k - j == 4 && k < len && memcmp(l + j, "TYPE", 4) == 0)
            return parse_meta(p, l, len, k, 0);
        if (k - j == 3 && memcmp(l + j, "EOF", 3) == 0 && skip_blanks(l, len, k) == len)
            p->stats.eof_marker = 1;
    }
    p->stats.comments++;
    return 0;
}

/* parse_line parses one line without its '\n'. */
static int parse_line(struct promtext *p, const char *l, size_t len)
{
    p->line++;
    p->stats.lines++;
    if (len > 0 && l[len - 1] == '\r')
        len--;
    size_t i = skip_blanks(l, len, 0);
    if (i == len)
        return 0;
    if (l[i] == '#')
        return parse_comment(p, l, len, i);
    return parse_sample(p, l, len, i);
}

/* too_long reports the line being read as longer than max_line_bytes. */
static int too_long(struct promtext *p)
{
    p->line++;
    p->stats.lines++;
    return bad_line(p, p->opts.max_line_bytes, TT_ETOOBIG,
                    "line longer than the limit of %zu bytes", p->opts.max_line_bytes);
}

/* ---- API ------------------------------------------------------------------- */

int promtext_init(struct promtext *p, const struct promtext_opts *opts,
                  const struct promtext_callbacks *cb)
{
    if (!p)
        return TT_EINVAL;
    memset(p, 0, sizeof *p);
    if (opts)
        p->opts = *opts;
    if (!p->opts.max_line_bytes)
        p->opts.max_line_bytes = PROMTEXT_DEFAULT_MAX_LINE;
    if (!p->opts.max_labels)
        p->opts.max_labels = PROMTEXT_DEFAULT_MAX_LABELS;
    if (!p->opts.max_name_bytes)
        p->opts.max_name_bytes = PROMTEXT_DEFAULT_MAX_NAME;
    if (!p->opts.max_value_bytes)
        p->opts.max_value_bytes = PROMTEXT_DEFAULT_MAX_VALUE;
    if (cb)
        p->cb = *cb;
    p->fam.help = "";
    locale_t loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (loc == (locale_t)0)
        return TT_ENOMEM;
    p->c_locale = loc;
    return 0;
}

void promtext_release(struct promtext *p)
{
    if (!p)
        return;
    if (p->c_locale)
        freelocale((locale_t)p->c_locale);
    free(p->carry);
    free(p->scratch);
    free(p->numbuf);
    free(p->labels);
    free(p->fam_name);
    free(p->fam_help);
    free(p->prev);
    free(p->prev_offs);
    memset(p, 0, sizeof *p);
}

int promtext_feed(struct promtext *p, const void *data, size_t len)
{
    if (p->status)
        return p->status;
    if (p->finished)
        return TT_ESTATE;
    const char *s = data, *end = s + len;
    const size_t max = p->opts.max_line_bytes;
    int rc;
    if (len == 0)
        return 0;
    p->stats.bytes += len;
    if (p->discarding) {
        const char *nl = memchr(s, '\n', len);
        if (!nl)
            return 0;
        p->discarding = 0;
        s = nl + 1;
    }
    if (p->carry_len > 0 && s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        if (n > max - p->carry_len) {
            p->carry_len = 0;
            if ((rc = too_long(p)) < 0)
                return p->status = rc;
            if (!nl) {
                p->discarding = 1;
                return 0;
            }
        } else {
            if (grow(&p->carry, &p->carry_cap, p->carry_len + n))
                return p->status = TT_ENOMEM;
            memcpy(p->carry + p->carry_len, s, n);
            p->carry_len += n;
            if (!nl)
                return 0;
            rc = parse_line(p, p->carry, p->carry_len);
            p->carry_len = 0;
            if (rc < 0)
                return p->status = rc;
        }
        s = nl + 1;
    }
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        if (n > max) {
            if ((rc = too_long(p)) < 0)
                return p->status = rc;
            if (!nl) {
                p->discarding = 1;
                break;
            }
        } else if (!nl) {
            if (grow(&p->carry, &p->carry_cap, n))
                return p->status = TT_ENOMEM;
            memcpy(p->carry, s, n);
            p->carry_len = n;
            break;
        } else if ((rc = parse_line(p, s, n)) < 0) {
            return p->status = rc;
        }
        s = nl + 1;
    }
    return 0;
}

int promtext_finish(struct promtext *p)
{
    if (p->finished || p->status)
        return p->status;
    p->finished = 1;
    if (p->carry_len > 0) {
        int rc = parse_line(p, p->carry, p->carry_len);
        p->carry_len = 0;
        if (rc < 0)
            p->status = rc;
    }
    return p->status;
}

int promtext_parse(const void *buf, size_t len, const struct promtext_opts *opts,
                   const struct promtext_callbacks *cb, struct promtext_stats *stats,
                   struct promtext_error *err)
{
    struct promtext p;
    int rc = promtext_init(&p, opts, cb);
    if (rc)
        return rc;
    rc = promtext_feed(&p, buf, len);
    if (rc == 0)
        rc = promtext_finish(&p);
    if (stats)
        *stats = p.stats;
    if (err)
        *err = p.err;
    promtext_release(&p);
    return rc;
}
