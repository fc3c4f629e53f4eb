/*
 * json_out.h - a small streaming JSON writer for API responses, on top of
 * core/json.h's escaping: objects and arrays nest, commas and colons are
 * placed by the writer, and Prometheus's value rules are built in:
 *
 *   - sample values are strings: "1.5", "1e-07", "NaN", "+Inf", "-Inf"
 *     (what Prometheus's jsonutil.MarshalFloat writes: shortest round-trip
 *     digits, fixed notation unless |v| < 1e-6 or |v| >= 1e21);
 *   - timestamps are seconds with at most three decimals: 1700000000.123
 *     (milliseconds in, as Prometheus's MarshalTimestamp writes them).
 *
 * Usage:
 *   struct json_out j;
 *   json_out_init(&j, &buf);
 *   json_out_success_begin(&j);     // {"status":"success","data":
 *   json_out_array_begin(&j);
 *   json_out_str(&j, "up");
 *   json_out_array_end(&j);
 *   json_out_success_end(&j);       // }
 *
 * Invariants: the writer keeps one "a value was written at this depth" bit
 * per level, up to JSON_OUT_MAX_DEPTH levels; deeper nesting, or a key
 * outside an object, sets the buffer's sticky error (TT_EINVAL), so the
 * output is either valid JSON or the wbuf reports an error. Errors of the
 * wbuf (TT_ENOMEM, TT_ETOOBIG) are sticky too: check b->err once at the end.
 */
#ifndef TT_JSON_OUT_H
#define TT_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/record.h"

#define JSON_OUT_MAX_DEPTH 64

struct json_out {
    struct wbuf *b;     /* borrowed */
    uint64_t has_value; /* bit d: a value was written at depth d */
    uint64_t in_object; /* bit d: depth d is an object */
    unsigned depth;     /* 0 = top level */
    int after_key;      /* a key was written; its value comes next */
};

/* json_out_init starts writing into b (appending after what b holds). */
void json_out_init(struct json_out *j, struct wbuf *b);

void json_out_object_begin(struct json_out *j);
void json_out_object_end(struct json_out *j);
void json_out_array_begin(struct json_out *j);
void json_out_array_end(struct json_out *j);

/* json_out_key writes an object key (escaped) and the colon; the next value
 * call writes its value. */
void json_out_key(struct json_out *j, const char *key);

/* Values (each in array position, after a key, or at top level). */
void json_out_str(struct json_out *j, const char *s); /* NULL writes null */
void json_out_strn(struct json_out *j, const char *s, size_t n);
void json_out_i64(struct json_out *j, int64_t v);
void json_out_u64(struct json_out *j, uint64_t v);
/* json_out_f64 writes a JSON number; NaN and infinities become the strings
 * "NaN", "Infinity", "-Infinity" (core/json.h's rule). */
void json_out_f64(struct json_out *j, double v);
void json_out_bool(struct json_out *j, int v);
void json_out_null(struct json_out *j);
/* json_out_raw writes s[0..n) as one value, unchecked: it must be valid JSON. */
void json_out_raw(struct json_out *j, const char *s, size_t n);
/* json_out_time_ns writes a time in ns since the epoch as an RFC 3339 string
 * in UTC with nine fraction digits ("2026-11-23T21:08:16.490790899Z"); null
 * when the year cannot be represented. */
void json_out_time_ns(struct json_out *j, int64_t ns);
/* json_out_rec_value writes a record value as JSON: a string, integer, number
 * or boolean; null for none or an unknown type. */
void json_out_rec_value(struct json_out *j, const struct rec_value *v);

/* json_out_prom_value writes a sample value the Prometheus way: a string. */
void json_out_prom_value(struct json_out *j, double v);
/* json_out_prom_time writes a millisecond timestamp as seconds, the way
 * Prometheus's MarshalTimestamp does: the whole seconds, then '.' and three
 * digits when there is a fraction (1500 -> 1.500, 2000 -> 2, -1500 -> -1.500). */
void json_out_prom_time(struct json_out *j, int64_t ms);
/* json_out_prom_sample writes [time, "value"], the pair of vectors and matrices. */
void json_out_prom_sample(struct json_out *j, int64_t ms, double v);
/* json_out_prom_points writes the pairs of p[0..n) (json_out_prom_sample
 * each, as array elements) in one pass; p is only read. */
struct promql_point;
void json_out_prom_points(struct json_out *j, const struct promql_point *p, size_t n);

/* json_out_success_begin writes {"status":"success","data": and leaves the
 * writer expecting the data value; json_out_success_end closes the object. */
void json_out_success_begin(struct json_out *j);
void json_out_success_end(struct json_out *j);

/* json_format_prom_float writes v as json_out_prom_value does, unquoted,
 * into out (at least 32 bytes) with a NUL; returns the length. */
size_t json_format_prom_float(double v, char *out, size_t outlen);

#endif
