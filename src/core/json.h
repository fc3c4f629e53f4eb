/*
 * json.h - writing JSON text into a struct wbuf: string literals escaped per
 * RFC 8259, and numbers. Output is always valid UTF-8 and valid JSON, whatever
 * bytes come in: control characters are escaped, invalid UTF-8 sequences are
 * replaced with U+FFFD (written as \ufffd), and NaN/Infinity, which JSON
 * cannot express as numbers, become the strings "NaN", "Infinity" and
 * "-Infinity" (what OTLP/JSON and Prometheus's API do).
 *
 * Writers only; parsing uses jansson. Errors are the wbuf's sticky error.
 */
#ifndef TT_JSON_H
#define TT_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* json_escape appends s[0..n) escaped for the inside of a JSON string, without
 * the quotes: '"' and '\\' are escaped, \b \f \n \r \t use their short forms,
 * other bytes below 0x20, DEL, U+2028 and U+2029 (which break JavaScript
 * embedding) become \u00XX / \u2028 / \u2029, and each byte of an invalid UTF-8
 * sequence (overlong forms, surrogates, beyond U+10FFFF, truncated) becomes
 * \ufffd. Valid UTF-8 is copied as is. s may hold NUL bytes (escaped \u0000). */
void json_escape(struct wbuf *b, const char *s, size_t n);

/* json_put_str appends s[0..n) as a quoted JSON string (json_escape inside). */
void json_put_str(struct wbuf *b, const char *s, size_t n);

/* json_put_cstr: json_put_str of a NUL-terminated string; NULL writes null. */
void json_put_cstr(struct wbuf *b, const char *s);

/* json_put_double appends v as the shortest decimal that reads back as the
 * same double ("0.1", "42", "1e+300"), or as "NaN" / "Infinity" / "-Infinity"
 * strings when v is not finite. */
void json_put_double(struct wbuf *b, double v);

/* json_put_i64 / json_put_u64 append integers as plain JSON numbers. */
void json_put_i64(struct wbuf *b, int64_t v);
void json_put_u64(struct wbuf *b, uint64_t v);

/* json_format_double writes the shortest round-tripping decimal of a finite v
 * into out (at least 32 bytes) with a NUL and returns its length; for
 * non-finite v it writes "NaN", "Infinity" or "-Infinity" (unquoted). */
size_t json_format_double(double v, char *out, size_t outlen);

#endif
