/*
 * json.c - JSON writers (see json.h). Invariant: whatever the input bytes,
 * what json_escape appends is valid UTF-8 that needs no further escaping
 * inside a JSON string literal.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/json.h"

/* utf8_len returns the length of the valid UTF-8 sequence at p (n bytes
 * available), or 0 if the bytes there are not one (RFC 3629 table 3-7). */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xbf;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (n < len)
        return 0;
    /* The second byte's range excludes overlong forms, surrogates and values
     * beyond U+10FFFF. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

static void put_u_escape(struct wbuf *b, unsigned cp)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = { '\\',        'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                  hex[cp & 15] };

    wbuf_put(b, e, sizeof(e));
}

void json_escape(struct wbuf *b, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, run = 0; /* run: start of the pending verbatim bytes */

    while (i < n) {
        uint8_t c = p[i];
        const char *esc = NULL;

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t len = utf8_len(p + i, n - i);
            /* U+2028 and U+2029 are valid JSON but end lines in JavaScript. */
            int sep = len == 3 && c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] & 0xfe) == 0xa8;
            if (len > 0 && !sep) {
                i += len;
                continue;
            }
            wbuf_put(b, p + run, i - run);
            if (sep) {
                put_u_escape(b, p[i + 2] == 0xa8 ? 0x2028 : 0x2029);
                i += 3;
            } else {
                put_u_escape(b, 0xfffd);
                i++;
            }
            run = i;
            continue;
        }
        wbuf_put(b, p + run, i - run);
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            break;
        }
        if (esc != NULL)
            wbuf_put(b, esc, 2);
        else
            put_u_escape(b, c);
        i++;
        run = i;
    }
    wbuf_put(b, p + run, n - run);
}

void json_put_str(struct wbuf *b, const char *s, size_t n)
{
    wbuf_put_u8(b, '"');
    json_escape(b, s, n);
    wbuf_put_u8(b, '"');
}

void json_put_cstr(struct wbuf *b, const char *s)
{
    if (s == NULL)
        wbuf_put(b, "null", 4);
    else
        json_put_str(b, s, strlen(s));
}

size_t json_format_double(double v, char *out, size_t outlen)
{
    int n;

    if (isnan(v))
        n = snprintf(out, outlen, "NaN");
    else if (isinf(v))
        n = snprintf(out, outlen, "%s", v < 0 ? "-Infinity" : "Infinity");
    else {
        /* 15 significant digits are enough for most values people write
         * (0.1 stays "0.1"); 17 always round-trip. */
        n = snprintf(out, outlen, "%.15g", v);
        if (n > 0 && (size_t)n < outlen && strtod(out, NULL) != v)
            n = snprintf(out, outlen, "%.17g", v);
    }
    if (n < 0)
        n = 0;
    if ((size_t)n >= outlen)
        n = outlen > 0 ? (int)outlen - 1 : 0;
    return (size_t)n;
}

void json_put_double(struct wbuf *b, double v)
{
    char tmp[40];
    size_t n = json_format_double(v, tmp, sizeof(tmp));

    if (!isfinite(v)) {
        json_put_str(b, tmp, n);
        return;
    }
    wbuf_put(b, tmp, n);
}

void json_put_i64(struct wbuf *b, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

    wbuf_put(b, tmp, (size_t)n);
}

void json_put_u64(struct wbuf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

    wbuf_put(b, tmp, (size_t)n);
}
