/*
 * urlform.h - application/x-www-form-urlencoded decoding (a URL's query
 * string has the same syntax): the server's form bodies (http.c) and
 * tests/fuzz/fuzz_jaeger_params.c.
 */
#ifndef TT_URLFORM_H
#define TT_URLFORM_H

#include <stddef.h>

/* urlform_decode decodes s[0..n) in place ('+' is a space, %XX a byte; a
 * '%' not followed by two hex digits stays as it is) and returns the new
 * length (<= n). A decoded byte may be NUL: the caller gets lengths. */
size_t urlform_decode(char *s, size_t n);

/* urlform_fn receives one decoded parameter (not NUL-terminated; a part
 * without '=' has the value "" of length 0); non-zero stops the parse. */
typedef int (*urlform_fn)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);

/* urlform_parse splits s[0..n) at each '&' and each part at its first '=',
 * decodes both in place (s is overwritten) and calls fn for every non-empty
 * part in order. Returns 0, or fn's first non-zero result. */
int urlform_parse(char *s, size_t n, urlform_fn fn, void *arg);

#endif
