/*
 * hex.h - hexadecimal digits, for the parsers that read ids and escapes
 * (URL %XX, trace and span ids in the Jaeger, OTLP and Zipkin APIs). Both
 * cases are accepted. (libtelltale has its own copy: it depends on libc
 * only.)
 */
#ifndef TT_CORE_HEX_H
#define TT_CORE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* tt_hexval: the value of hex digit c (0-9, a-f, A-F), or -1. */
static inline int tt_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* tt_hex_decode turns exactly 2*n hex digits at s (slen bytes, not
 * NUL-terminated) into out[0..n). Returns 0, or -1 when slen is not 2*n or
 * a byte is not a hex digit (out then partly written). */
static inline int tt_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = tt_hexval(s[2 * i]), lo = tt_hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

#endif
