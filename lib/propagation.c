/*
 * propagation.c - the W3C Trace Context (Level 1) headers: traceparent
 * formatting and parsing, and Telltale's HLC entry in tracestate.
 *
 * traceparent = version "-" trace-id "-" parent-id "-" trace-flags, all lowercase
 * hex (2, 32, 16 and 2 digits). Version ff, an all-zero trace-id and an
 * all-zero parent-id are invalid. Version 00 is exactly 55 characters; a higher
 * version must parse the same way over its first 55 characters and, when
 * longer, continue with '-' (the rest is ignored, per the spec's forward
 * compatibility rule). The span id is the big-endian value of its 16 digits.
 *
 * tracestate = up to 32 list members "key=value" separated by ',' with optional
 * spaces and tabs (OWS) around them; empty members are allowed and skipped, and
 * do not count towards the 32. Keys are unique. Telltale's member is
 * "tt=<16 lowercase hex digits of the HLC>".
 *
 * Invariants: nothing here allocates, reads past len, or writes past outlen;
 * outputs are NUL-terminated whenever outlen > 0; on failure the caller's
 * context is left untouched.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "telltale.h"

#define TS_MAX_MEMBERS 32
#define TS_KEY_MAX     256
#define TS_TENANT_MAX  241
#define TS_SYSTEM_MAX  14
#define TS_VALUE_MAX   256
#define TT_KEY         "tt"
#define TT_KEY_LEN     2
#define TT_VALUE_LEN   16
#define TT_ENTRY_LEN   (TT_KEY_LEN + 1 + TT_VALUE_LEN) /* "tt=" + 16 hex */

static const char hexdigits[] = "0123456789abcdef";

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* hex_tab[c] is 0x10 | the value of c for a lowercase hex digit and 0 for
 * any other byte (uppercase is not hex here, per the spec), so the AND of the
 * entries of a run of bytes has bit 0x10 set exactly when all are digits. */
#define HX(c, v) [c] = 0x10 | (v)
static const uint8_t hex_tab[256] = {
    HX('0', 0),  HX('1', 1),  HX('2', 2),  HX('3', 3),  HX('4', 4),  HX('5', 5),
    HX('6', 6),  HX('7', 7),  HX('8', 8),  HX('9', 9),  HX('a', 10), HX('b', 11),
    HX('c', 12), HX('d', 13), HX('e', 14), HX('f', 15),
};
#undef HX

/* Lowercase hex digit value, or -1. */
static int hexval(char c)
{
    uint8_t t = hex_tab[(unsigned char)c];
    return t ? t & 0xf : -1;
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdigits[in[i] >> 4];
        out[2 * i + 1] = hexdigits[in[i] & 0xf];
    }
}

static void hex_u64(uint64_t v, char *out)
{
    for (int i = 15; i >= 0; i--) {
        out[i] = hexdigits[v & 0xf];
        v >>= 4;
    }
}

/* ---- traceparent -------------------------------------------------------- */

int tt_traceparent_format(const tt_span_context *ctx, char *out, size_t outlen)
{
    if (!ctx || !out || outlen < TT_TRACEPARENT_LEN + 1)
        return TT_EINVAL;
    int nonzero = 0;
    for (size_t i = 0; i < sizeof ctx->trace_id; i++)
        nonzero |= ctx->trace_id[i];
    if (!nonzero || ctx->span_id == 0)
        return TT_EINVAL;
    /* Level 1 defines only the sampled bit; other bits MUST be sent as zero. */
    uint8_t flags = ctx->flags & TT_FLAG_SAMPLED;
    char *p = out;
    memcpy(p, "00-", 3);
    p += 3;
    hex_encode(ctx->trace_id, sizeof ctx->trace_id, p);
    p += 32;
    *p++ = '-';
    hex_u64(ctx->span_id, p);
    p += 16;
    *p++ = '-';
    hex_encode(&flags, 1, p);
    p += 2;
    *p = '\0';
    return 0;
}

enum tp_kind { TP_HEX, TP_DASH };

/* The fields of the first 55 characters, in order, with what to say when a
 * byte of them is wrong. */
static const struct tp_field {
    size_t off, len;
    enum tp_kind kind;
    const char *what;
} tp_fields[] = {
    { 0, 2, TP_HEX, "version must be 2 lowercase hex digits" },
    { 2, 1, TP_DASH, "expected '-' after version" },
    { 3, 32, TP_HEX, "trace-id must be 32 lowercase hex digits" },
    { 35, 1, TP_DASH, "expected '-' after trace-id" },
    { 36, 16, TP_HEX, "parent-id must be 16 lowercase hex digits" },
    { 52, 1, TP_DASH, "expected '-' after parent-id" },
    { 53, 2, TP_HEX, "trace-flags must be 2 lowercase hex digits" },
};

/* tp_fast decodes a valid traceparent in one pass over its 55 characters:
 * returns 1 with *out set, or 0 for anything it does not accept (then the
 * careful parser below finds and reports the first bad byte). It accepts
 * exactly what that parser accepts; only the error reporting is left out. */
static int tp_fast(const char *v, size_t len, tt_span_context *out)
{
    const unsigned char *u = (const unsigned char *)v;
    if (len < TT_TRACEPARENT_LEN || u[2] != '-' || u[35] != '-' || u[52] != '-' ||
        (len > TT_TRACEPARENT_LEN && u[TT_TRACEPARENT_LEN] != '-'))
        return 0;
    unsigned all = hex_tab[u[0]] & hex_tab[u[1]] & hex_tab[u[53]] & hex_tab[u[54]];
    unsigned version = (hex_tab[u[0]] & 0xfu) << 4 | (hex_tab[u[1]] & 0xfu);
    uint64_t hi = 0, lo = 0, span = 0;
    for (size_t i = 0; i < 16; i++) {
        unsigned a = hex_tab[u[3 + i]], b = hex_tab[u[19 + i]], c = hex_tab[u[36 + i]];
        all &= a & b & c;
        hi = hi << 4 | (a & 0xfu);
        lo = lo << 4 | (b & 0xfu);
        span = span << 4 | (c & 0xfu);
    }
    if (!(all & 0x10) || version == 0xff || (len > TT_TRACEPARENT_LEN && version == 0) ||
        (hi | lo) == 0 || span == 0)
        return 0;
    for (int i = 0; i < 8; i++) {
        out->trace_id[i] = (uint8_t)(hi >> (56 - 8 * i));
        out->trace_id[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    out->span_id = span;
    out->flags = (uint8_t)((hex_tab[u[53]] & 0xfu) << 4 | (hex_tab[u[54]] & 0xfu));
    out->remote = 1;
    out->hlc = 0;
    return 1;
}

int tt_traceparent_parse(const char *value, size_t len, tt_span_context *ctx, char *errbuf,
                         size_t errlen)
{
    if (!ctx || (!value && len > 0))
        return TT_EINVAL;
    tt_span_context fast;
    if (tp_fast(value, len, &fast)) {
        *ctx = fast;
        return 0;
    }
    /* Check every byte we have, field by field, so the first bad byte is the
     * one reported, even in a short header. */
    size_t avail = len < TT_TRACEPARENT_LEN ? len : TT_TRACEPARENT_LEN;
    for (size_t f = 0; f < sizeof tp_fields / sizeof tp_fields[0]; f++) {
        const struct tp_field *fd = &tp_fields[f];
        for (size_t i = fd->off; i < fd->off + fd->len && i < avail; i++) {
            int ok = fd->kind == TP_HEX ? hexval(value[i]) >= 0 : value[i] == '-';
            if (!ok) {
                seterr(errbuf, errlen, "traceparent: position %zu: %s", i, fd->what);
                return TT_ESYNTAX;
            }
        }
        if (f == 0 && avail >= 2 && value[0] == 'f' && value[1] == 'f') {
            seterr(errbuf, errlen, "traceparent: position 0: version ff is invalid");
            return TT_ESYNTAX;
        }
    }
    if (len < TT_TRACEPARENT_LEN) {
        seterr(errbuf, errlen,
               "traceparent: position %zu: too short (%d characters expected, got %zu)", len,
               TT_TRACEPARENT_LEN, len);
        return TT_ESYNTAX;
    }
    int version = hexval(value[0]) << 4 | hexval(value[1]);
    if (len > TT_TRACEPARENT_LEN) {
        if (version == 0) {
            seterr(errbuf, errlen,
                   "traceparent: position %d: version 00 must be exactly %d characters, got %zu",
                   TT_TRACEPARENT_LEN, TT_TRACEPARENT_LEN, len);
            return TT_ESYNTAX;
        }
        if (value[TT_TRACEPARENT_LEN] != '-') {
            seterr(errbuf, errlen, "traceparent: position %d: expected '-' after trace-flags",
                   TT_TRACEPARENT_LEN);
            return TT_ESYNTAX;
        }
    }

    tt_span_context c;
    memset(&c, 0, sizeof c);
    int nonzero = 0;
    for (size_t i = 0; i < 16; i++) {
        c.trace_id[i] = (uint8_t)(hexval(value[3 + 2 * i]) << 4 | hexval(value[4 + 2 * i]));
        nonzero |= c.trace_id[i];
    }
    if (!nonzero) {
        seterr(errbuf, errlen, "traceparent: position 3: trace-id must not be all zeros");
        return TT_ESYNTAX;
    }
    for (size_t i = 36; i < 52; i++)
        c.span_id = c.span_id << 4 | (uint64_t)hexval(value[i]);
    if (c.span_id == 0) {
        seterr(errbuf, errlen, "traceparent: position 36: parent-id must not be all zeros");
        return TT_ESYNTAX;
    }
    c.flags = (uint8_t)(hexval(value[53]) << 4 | hexval(value[54]));
    c.remote = 1;
    c.hlc = 0;
    *ctx = c;
    return 0;
}

/* ---- tracestate ----------------------------------------------------------- */

/* One list member: offsets into the header value. */
struct ts_member {
    size_t key, key_len; /* key starts at key */
    size_t val, val_len; /* value starts at val = key + key_len + 1 */
};

struct ts_list {
    struct ts_member m[TS_MAX_MEMBERS];
    size_t n;
};

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_keychar(char c)
{
    return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

/* check_key validates key (at offset off of the header) per Level 1:
 * simple-key = lcalpha 0*255(keychar), or tenant-id "@" system-id with
 * tenant-id = (lcalpha / DIGIT) 0*240(keychar), system-id = lcalpha 0*13(keychar). */
static int check_key(const char *v, size_t off, size_t n, char *errbuf, size_t errlen)
{
    const char *k = v + off;
    if (n == 0) {
        seterr(errbuf, errlen, "tracestate: position %zu: empty key", off);
        return TT_ESYNTAX;
    }
    const char *at = memchr(k, '@', n);
    if (!at) {
        if (!is_lcalpha(k[0])) {
            seterr(errbuf, errlen,
                   "tracestate: position %zu: key must start with a lowercase letter", off);
            return TT_ESYNTAX;
        }
        for (size_t i = 1; i < n; i++) {
            if (!is_keychar(k[i])) {
                seterr(errbuf, errlen,
                       "tracestate: position %zu: key may hold only a-z 0-9 _ - * / @", off + i);
                return TT_ESYNTAX;
            }
        }
        if (n > TS_KEY_MAX) {
            seterr(errbuf, errlen, "tracestate: position %zu: key longer than %d characters", off,
                   TS_KEY_MAX);
            return TT_ESYNTAX;
        }
        return 0;
    }
    size_t tn = (size_t)(at - k), sn = n - tn - 1;
    if (tn == 0 || !(is_lcalpha(k[0]) || is_digit(k[0]))) {
        seterr(errbuf, errlen,
               "tracestate: position %zu: tenant-id must start with a lowercase letter or digit",
               off);
        return TT_ESYNTAX;
    }
    if (sn == 0 || !is_lcalpha(at[1])) {
        seterr(errbuf, errlen,
               "tracestate: position %zu: system-id must start with a lowercase letter",
               off + tn + 1);
        return TT_ESYNTAX;
    }
    for (size_t i = 1; i < n; i++) {
        if (i != tn && !is_keychar(k[i])) {
            seterr(errbuf, errlen, "tracestate: position %zu: key may hold only a-z 0-9 _ - * / @",
                   off + i);
            return TT_ESYNTAX;
        }
    }
    if (tn > TS_TENANT_MAX || sn > TS_SYSTEM_MAX) {
        seterr(errbuf, errlen,
               "tracestate: position %zu: tenant-id longer than %d or system-id longer than %d",
               off, TS_TENANT_MAX, TS_SYSTEM_MAX);
        return TT_ESYNTAX;
    }
    return 0;
}

/* check_value: 1 to 256 characters of 0x20-0x7e except ',' and '='; the last
 * one is not a space (trailing OWS was already stripped by the caller). */
static int check_value(const char *v, size_t off, size_t n, char *errbuf, size_t errlen)
{
    if (n == 0) {
        seterr(errbuf, errlen, "tracestate: position %zu: empty value", off);
        return TT_ESYNTAX;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[off + i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=') {
            seterr(errbuf, errlen,
                   "tracestate: position %zu: value may hold only printable ASCII except ',' "
                   "and '='",
                   off + i);
            return TT_ESYNTAX;
        }
    }
    if (n > TS_VALUE_MAX) {
        seterr(errbuf, errlen, "tracestate: position %zu: value longer than %d characters", off,
               TS_VALUE_MAX);
        return TT_ESYNTAX;
    }
    return 0;
}

/* ts_parse splits and validates a tracestate value into out. Returns 0 or
 * TT_ESYNTAX with the reason in errbuf. */
static int ts_parse(const char *v, size_t len, struct ts_list *out, char *errbuf, size_t errlen)
{
    out->n = 0;
    size_t pos = 0;
    while (pos <= len) {
        const char *comma = len > pos ? memchr(v + pos, ',', len - pos) : NULL;
        size_t end = comma ? (size_t)(comma - v) : len;
        size_t b = pos, e = end;
        while (b < e && is_ows(v[b]))
            b++;
        while (e > b && is_ows(v[e - 1]))
            e--;
        if (b < e) {
            const char *eq = memchr(v + b, '=', e - b);
            if (!eq) {
                seterr(errbuf, errlen, "tracestate: position %zu: list member has no '='", b);
                return TT_ESYNTAX;
            }
            struct ts_member m;
            m.key = b;
            m.key_len = (size_t)(eq - v) - b;
            m.val = m.key + m.key_len + 1;
            m.val_len = e - m.val;
            int rc = check_key(v, m.key, m.key_len, errbuf, errlen);
            if (rc == 0)
                rc = check_value(v, m.val, m.val_len, errbuf, errlen);
            if (rc != 0)
                return rc;
            if (out->n == TS_MAX_MEMBERS) {
                seterr(errbuf, errlen, "tracestate: position %zu: more than %d list members", b,
                       TS_MAX_MEMBERS);
                return TT_ESYNTAX;
            }
            for (size_t i = 0; i < out->n; i++) {
                if (out->m[i].key_len == m.key_len &&
                    memcmp(v + out->m[i].key, v + m.key, m.key_len) == 0) {
                    seterr(errbuf, errlen, "tracestate: position %zu: duplicate key \"%.*s\"", b,
                           (int)(m.key_len > 64 ? 64 : m.key_len), v + m.key);
                    return TT_ESYNTAX;
                }
            }
            out->m[out->n++] = m;
        }
        if (!comma)
            break;
        pos = end + 1;
    }
    return 0;
}

static int is_tt(const char *v, const struct ts_member *m)
{
    return m->key_len == TT_KEY_LEN && memcmp(v + m->key, TT_KEY, TT_KEY_LEN) == 0;
}

int tt_tracestate_get_hlc(const char *value, size_t len, tt_hlc *hlc, char *errbuf, size_t errlen)
{
    if (!hlc || (!value && len > 0))
        return TT_EINVAL;
    if (len == TT_ENTRY_LEN && memcmp(value, TT_KEY "=", TT_KEY_LEN + 1) == 0) {
        /* Fast path: the header is just our own member, as we send it. */
        const unsigned char *u = (const unsigned char *)value + TT_KEY_LEN + 1;
        unsigned all = 0x10;
        uint64_t h = 0;
        for (size_t j = 0; j < TT_VALUE_LEN; j++) {
            all &= hex_tab[u[j]];
            h = h << 4 | (hex_tab[u[j]] & 0xfu);
        }
        if (all & 0x10) {
            *hlc = h;
            return 0;
        }
    }
    struct ts_list list;
    int rc = ts_parse(value, len, &list, errbuf, errlen);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < list.n; i++) {
        const struct ts_member *m = &list.m[i];
        if (!is_tt(value, m))
            continue;
        uint64_t h = 0;
        int ok = m->val_len == TT_VALUE_LEN;
        for (size_t j = 0; ok && j < TT_VALUE_LEN; j++) {
            int d = hexval(value[m->val + j]);
            ok = d >= 0;
            h = h << 4 | (uint64_t)(d & 0xf);
        }
        if (!ok) {
            seterr(errbuf, errlen,
                   "tracestate: position %zu: tt value must be %d lowercase hex digits", m->val,
                   TT_VALUE_LEN);
            return TT_ESYNTAX;
        }
        *hlc = h;
        return 0;
    }
    return TT_ENOTFOUND;
}

int tt_tracestate_put_hlc(const char *incoming, size_t inlen, tt_hlc hlc, char *out, size_t outlen)
{
    if (!out || outlen < TT_ENTRY_LEN + 1)
        return TT_ETOOBIG;
    memcpy(out, TT_KEY "=", TT_KEY_LEN + 1);
    hex_u64(hlc, out + TT_KEY_LEN + 1);
    size_t pos = TT_ENTRY_LEN;
    out[pos] = '\0';
    if (!incoming || inlen == 0)
        return 0;
    struct ts_list list;
    if (ts_parse(incoming, inlen, &list, NULL, 0) != 0)
        return TT_ESYNTAX;
    size_t members = 1;
    for (size_t i = 0; i < list.n && members < TS_MAX_MEMBERS; i++) {
        const struct ts_member *m = &list.m[i];
        if (is_tt(incoming, m))
            continue;
        size_t n = m->key_len + 1 + m->val_len;
        if (pos + 1 + n + 1 > outlen)
            break; /* whole members only: this one and everything after go */
        out[pos++] = ',';
        memcpy(out + pos, incoming + m->key, n);
        pos += n;
        members++;
    }
    out[pos] = '\0';
    return 0;
}
