/*
 * otlp_json.c - OTLP/JSON traces and logs into an otlp_out. The document is
 * parsed whole by jansson (integers as long long, never through a double),
 * then walked: structural fields of the wrong type end the request with
 * TT_ESYNTAX and the field's path; bad ids and times reject only their item.
 */
#include "server/otlp_json.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/hex.h"

/* AnyValues nest (arrays, kvlists); deeper than this is refused. */
#define MAX_DEPTH 16

struct jctx {
    struct otlp_out *o;
    char *err;
    size_t errlen;
};

/* pathf formats a field path; a path cut short at 300 bytes still names
 * the place well enough. */
static void pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

static int bad(struct jctx *c, const char *path, const char *what)
{
    snprintf(c->err, c->errlen, "%s: %s", path, what);
    return TT_ESYNTAX;
}

/* get: the member named camel, or snake (the proto field name). */
static json_t *get(const json_t *obj, const char *camel, const char *snake)
{
    json_t *v = json_object_get(obj, camel);
    if (v == NULL && snake != NULL)
        v = json_object_get(obj, snake);
    if (json_is_null(v))
        return NULL; /* proto3 JSON: null is the default value */
    return v;
}

/* get_str: a string member (absent: "" with len 0). */
static int get_str(struct jctx *c, const json_t *obj, const char *camel, const char *snake,
                   const char *path, const char **s, size_t *len)
{
    json_t *v = get(obj, camel, snake);
    *s = "";
    *len = 0;
    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        char p[300];
        pathf(p, sizeof p, "%s.%s", path, camel);
        return bad(c, p, "expected a string");
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

/* parse_u64 reads decimal digits (the whole of s) as a uint64. -1: not
 * digits or over 2^64 - 1. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* parse_i64: an optional '-' then digits, within int64. */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
    uint64_t u;
    int neg = n > 0 && s[0] == '-';
    if (parse_u64(s + neg, n - (size_t)neg, &u) < 0)
        return -1;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > INT64_MAX)
            return -1;
        *out = (int64_t)u;
    }
    return 0;
}

/* get_u64: a fixed64/uint64 member, a JSON integer or a string of digits
 * (absent: 0). */
static int get_u64(struct jctx *c, const json_t *obj, const char *camel, const char *snake,
                   const char *path, uint64_t *out)
{
    json_t *v = get(obj, camel, snake);
    char p[300];
    *out = 0;
    if (v == NULL)
        return 0;
    pathf(p, sizeof p, "%s.%s", path, camel);
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return bad(c, p, "negative");
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        if (parse_u64(json_string_value(v), json_string_length(v), out) < 0)
            return bad(c, p, "expected an unsigned 64-bit integer in decimal");
        return 0;
    }
    return bad(c, p, "expected an integer (a JSON number without fraction or a string)");
}

/* get_enum: an enum or uint32 member: an integer, or one of names (the
 * proto enum's value names, index = value; names may be NULL). */
static int get_enum(struct jctx *c, const json_t *obj, const char *camel, const char *snake,
                    const char *path, const char *const *names, size_t nnames, uint32_t *out)
{
    json_t *v = get(obj, camel, snake);
    char p[300];
    *out = 0;
    if (v == NULL)
        return 0;
    pathf(p, sizeof p, "%s.%s", path, camel);
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > (json_int_t)UINT32_MAX)
            return bad(c, p, "out of range");
        *out = (uint32_t)i;
        return 0;
    }
    if (json_is_string(v)) {
        uint64_t u;
        const char *s = json_string_value(v);
        if (parse_u64(s, json_string_length(v), &u) == 0 && u <= UINT32_MAX) {
            *out = (uint32_t)u;
            return 0;
        }
        for (size_t i = 0; i < nnames; i++) {
            if (strcmp(s, names[i]) == 0) {
                *out = (uint32_t)i;
                return 0;
            }
        }
    }
    return bad(c, p, "expected an integer");
}

/* get_array: an array member (absent: NULL, no error). */
static int get_array(struct jctx *c, const json_t *obj, const char *camel, const char *snake,
                     const char *path, json_t **out)
{
    json_t *v = get(obj, camel, snake);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_array(v)) {
        char p[300];
        pathf(p, sizeof p, "%s.%s", path, camel);
        return bad(c, p, "expected an array");
    }
    *out = v;
    return 0;
}

static int get_object(struct jctx *c, const json_t *obj, const char *camel, const char *snake,
                      const char *path, json_t **out)
{
    json_t *v = get(obj, camel, snake);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_object(v)) {
        char p[300];
        pathf(p, sizeof p, "%s.%s", path, camel);
        return bad(c, p, "expected an object");
    }
    *out = v;
    return 0;
}

/* get_id: a hex id member into out[0..*len) (absent or "": *len 0). A
 * wrong length or non-hex digit sets *len to SIZE_MAX (the item is
 * rejected by its check, not the request). */
static int get_id(struct jctx *c, const json_t *obj, const char *camel, const char *snake,
                  const char *path, uint8_t *out, size_t cap, size_t *len)
{
    const char *s;
    size_t n;
    int rc = get_str(c, obj, camel, snake, path, &s, &n);
    *len = 0;
    if (rc < 0 || n == 0)
        return rc;
    if (n % 2 != 0 || n / 2 > cap || tt_hex_decode(s, n, out, n / 2) < 0)
        *len = SIZE_MAX;
    else
        *len = n / 2;
    return 0;
}

static int render_any(struct jctx *c, const json_t *any, struct wbuf *w, const char *path,
                      int depth);

/* render_kvlist writes a KeyValueList's values as a JSON object. */
static int render_kvlist(struct jctx *c, const json_t *kvl, struct wbuf *w, const char *path,
                         int depth)
{
    json_t *vals;
    int rc = get_array(c, kvl, "values", NULL, path, &vals);
    if (rc < 0)
        return rc;
    wbuf_put_u8(w, '{');
    for (size_t i = 0; vals != NULL && i < json_array_size(vals); i++) {
        json_t *kv = json_array_get(vals, i);
        const char *k;
        size_t kl;
        char p[300];
        pathf(p, sizeof p, "%s.values[%zu]", path, i);
        if (!json_is_object(kv))
            return bad(c, p, "expected an object");
        rc = get_str(c, kv, "key", NULL, p, &k, &kl);
        if (rc < 0)
            return rc;
        if (i > 0)
            wbuf_put_u8(w, ',');
        json_put_str(w, k, kl);
        wbuf_put_u8(w, ':');
        json_t *v = get(kv, "value", NULL);
        if (v == NULL) {
            wbuf_put(w, "null", 4);
            continue;
        }
        rc = render_any(c, v, w, p, depth + 1);
        if (rc < 0)
            return rc;
    }
    wbuf_put_u8(w, '}');
    return 0;
}

/* any_kind: which AnyValue member is set (its name), or NULL when none. */
static const char *const any_names[][2] = {
    { "stringValue", "string_value" }, { "boolValue", "bool_value" },
    { "intValue", "int_value" },       { "doubleValue", "double_value" },
    { "arrayValue", "array_value" },   { "kvlistValue", "kvlist_value" },
    { "bytesValue", "bytes_value" },
};
enum { ANY_STR, ANY_BOOL, ANY_INT, ANY_DOUBLE, ANY_ARRAY, ANY_KVLIST, ANY_BYTES, ANY_NONE };

static int any_kind(const json_t *any, json_t **v)
{
    for (int i = 0; i < ANY_NONE; i++) {
        *v = get(any, any_names[i][0], any_names[i][1]);
        if (*v != NULL)
            return i;
    }
    return ANY_NONE;
}

static int any_int(struct jctx *c, const json_t *v, const char *path, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && parse_i64(json_string_value(v), json_string_length(v), out) == 0)
        return 0;
    return bad(c, path, "intValue: expected a 64-bit integer (number or string)");
}

static int any_double(struct jctx *c, const json_t *v, const char *path, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "NaN") == 0)
            *out = NAN;
        else if (strcmp(s, "Infinity") == 0)
            *out = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            *out = -INFINITY;
        else {
            char *end;
            *out = strtod(s, &end);
            if (end == s || *end != '\0')
                return bad(c, path, "doubleValue: expected a number");
        }
        return 0;
    }
    return bad(c, path, "doubleValue: expected a number");
}

/* render_any writes an AnyValue as plain JSON (arrays and kvlists nested
 * inside attribute values, which records cannot hold as such). */
static int render_any(struct jctx *c, const json_t *any, struct wbuf *w, const char *path,
                      int depth)
{
    json_t *v;
    int64_t i;
    double d;
    int rc;
    if (depth > MAX_DEPTH)
        return bad(c, path, "values nested too deep");
    if (!json_is_object(any))
        return bad(c, path, "expected an AnyValue object");
    switch (any_kind(any, &v)) {
    case ANY_STR:
    case ANY_BYTES:
        if (!json_is_string(v))
            return bad(c, path, "expected a string");
        json_put_str(w, json_string_value(v), json_string_length(v));
        return 0;
    case ANY_BOOL:
        if (!json_is_boolean(v))
            return bad(c, path, "boolValue: expected true or false");
        if (json_is_true(v))
            wbuf_put(w, "true", 4);
        else
            wbuf_put(w, "false", 5);
        return 0;
    case ANY_INT:
        rc = any_int(c, v, path, &i);
        if (rc == 0)
            json_put_i64(w, i);
        return rc;
    case ANY_DOUBLE:
        rc = any_double(c, v, path, &d);
        if (rc == 0)
            json_put_double(w, d);
        return rc;
    case ANY_ARRAY: {
        json_t *vals;
        if (!json_is_object(v))
            return bad(c, path, "arrayValue: expected an object");
        rc = get_array(c, v, "values", NULL, path, &vals);
        if (rc < 0)
            return rc;
        wbuf_put_u8(w, '[');
        for (size_t k = 0; vals != NULL && k < json_array_size(vals); k++) {
            char p[300];
            pathf(p, sizeof p, "%s.arrayValue.values[%zu]", path, k);
            if (k > 0)
                wbuf_put_u8(w, ',');
            rc = render_any(c, json_array_get(vals, k), w, p, depth + 1);
            if (rc < 0)
                return rc;
        }
        wbuf_put_u8(w, ']');
        return 0;
    }
    case ANY_KVLIST:
        if (!json_is_object(v))
            return bad(c, path, "kvlistValue: expected an object");
        return render_kvlist(c, v, w, path, depth);
    default:
        wbuf_put(w, "null", 4);
        return 0;
    }
}

/* put_any appends key = AnyValue to k: scalars as themselves, arrays and
 * kvlists as their JSON text, bytes as their base64 text; an empty AnyValue
 * is left out. */
static int put_any(struct jctx *c, struct otlp_kvs *k, const char *key, size_t keylen,
                   const json_t *any, const char *path)
{
    json_t *v;
    int64_t i;
    double d;
    int rc;
    if (!json_is_object(any))
        return bad(c, path, "value: expected an AnyValue object");
    switch (any_kind(any, &v)) {
    case ANY_STR:
    case ANY_BYTES:
        if (!json_is_string(v))
            return bad(c, path, "value: expected a string");
        otlp_kv_str(k, key, keylen, json_string_value(v), json_string_length(v));
        return 0;
    case ANY_BOOL:
        if (!json_is_boolean(v))
            return bad(c, path, "boolValue: expected true or false");
        otlp_kv_bool(k, key, keylen, json_is_true(v));
        return 0;
    case ANY_INT:
        rc = any_int(c, v, path, &i);
        if (rc == 0)
            otlp_kv_int(k, key, keylen, i);
        return rc;
    case ANY_DOUBLE:
        rc = any_double(c, v, path, &d);
        if (rc == 0)
            otlp_kv_double(k, key, keylen, d);
        return rc;
    case ANY_ARRAY:
    case ANY_KVLIST: {
        struct wbuf w;
        wbuf_init(&w, 0);
        rc = render_any(c, any, &w, path, 0);
        if (rc == 0 && w.err != 0)
            rc = TT_ENOMEM;
        if (rc == 0)
            otlp_kv_str(k, key, keylen, (const char *)w.data, w.len);
        wbuf_release(&w);
        return rc;
    }
    default:
        return 0;
    }
}

/* put_attrs appends an attributes array (KeyValue objects) to k; with
 * svc/node non-NULL, service.name and host.name are taken out into them
 * instead (a resource). */
static int put_attrs(struct jctx *c, struct otlp_kvs *k, const json_t *obj, const char *path,
                     const char **svc, size_t *svc_len, const char **node, size_t *node_len)
{
    json_t *arr;
    int rc = get_array(c, obj, "attributes", NULL, path, &arr);
    for (size_t i = 0; rc == 0 && arr != NULL && i < json_array_size(arr); i++) {
        json_t *kv = json_array_get(arr, i), *v;
        const char *key;
        size_t kl;
        char p[300];
        pathf(p, sizeof p, "%s.attributes[%zu]", path, i);
        if (!json_is_object(kv))
            return bad(c, p, "expected an object");
        rc = get_str(c, kv, "key", NULL, p, &key, &kl);
        if (rc < 0)
            return rc;
        v = get(kv, "value", NULL);
        if (v == NULL)
            continue;
        if (svc != NULL && json_is_object(v)) {
            json_t *s = get(v, "stringValue", "string_value");
            if (json_is_string(s) && kl == 12 && memcmp(key, "service.name", 12) == 0) {
                *svc = json_string_value(s);
                *svc_len = json_string_length(s);
                continue;
            }
            if (json_is_string(s) && kl == 9 && memcmp(key, "host.name", 9) == 0) {
                *node = json_string_value(s);
                *node_len = json_string_length(s);
                continue;
            }
        }
        rc = put_any(c, k, key, kl, v, p);
    }
    return rc;
}

/* resource: starts the group of a ResourceSpans/ResourceLogs object. */
static int resource(struct jctx *c, const json_t *rs, const char *path)
{
    json_t *res;
    const char *svc = NULL, *node = NULL;
    size_t sl = 0, nl = 0;
    char p[300];
    pathf(p, sizeof p, "%s.resource", path);
    int rc = get_object(c, rs, "resource", NULL, path, &res);
    if (rc < 0)
        return rc;
    struct otlp_kvs tmp;
    tmp.n = 0;
    wbuf_init(&tmp.b, 0);
    if (res != NULL)
        rc = put_attrs(c, &tmp, res, p, &svc, &sl, &node, &nl);
    if (rc == 0)
        rc = otlp_out_resource(c->o, svc, sl, node, nl);
    if (rc == 0) {
        wbuf_put(&c->o->res_attrs.b, tmp.b.data, tmp.b.len);
        c->o->res_attrs.n = tmp.n;
        if (tmp.b.err != 0 || c->o->res_attrs.b.err != 0)
            rc = TT_ENOMEM;
    }
    wbuf_release(&tmp.b);
    return rc;
}

static int scope(struct jctx *c, const json_t *ss, const char *path)
{
    json_t *sc;
    const char *name = NULL, *ver = NULL;
    size_t nl = 0, vl = 0;
    char p[300];
    int rc = get_object(c, ss, "scope", NULL, path, &sc);
    pathf(p, sizeof p, "%s.scope", path);
    if (rc == 0 && sc != NULL)
        rc = get_str(c, sc, "name", NULL, p, &name, &nl);
    if (rc == 0 && sc != NULL)
        rc = get_str(c, sc, "version", NULL, p, &ver, &vl);
    if (rc == 0)
        rc = otlp_out_scope(c->o, name, nl, ver, vl);
    return rc;
}

static const char *const span_kinds[] = { "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                          "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                          "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER" };
static const char *const status_codes[] = { "STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                            "STATUS_CODE_ERROR" };

static int span_events(struct jctx *c, const json_t *span, const char *path)
{
    json_t *arr;
    int rc = get_array(c, span, "events", NULL, path, &arr);
    for (size_t i = 0; rc == 0 && arr != NULL && i < json_array_size(arr); i++) {
        json_t *ev = json_array_get(arr, i);
        const char *name;
        size_t nl;
        uint64_t t;
        char p[300];
        pathf(p, sizeof p, "%s.events[%zu]", path, i);
        if (!json_is_object(ev))
            return bad(c, p, "expected an object");
        rc = get_u64(c, ev, "timeUnixNano", "time_unix_nano", p, &t);
        if (rc == 0)
            rc = get_str(c, ev, "name", NULL, p, &name, &nl);
        if (rc == 0)
            rc = put_attrs(c, &c->o->sub, ev, p, NULL, NULL, NULL, NULL);
        if (rc == 0 && t > INT64_MAX)
            rc = bad(c, p, "timeUnixNano is past the year 2262");
        if (rc == 0)
            otlp_out_event(c->o, t, name, nl);
    }
    return rc;
}

/* span_links: 1 when a link has bad ids (why in why), 0, or an error. */
static int span_links(struct jctx *c, const json_t *span, const char *path, char *why,
                      size_t whylen)
{
    json_t *arr;
    int rc = get_array(c, span, "links", NULL, path, &arr);
    for (size_t i = 0; rc == 0 && arr != NULL && i < json_array_size(arr); i++) {
        json_t *ln = json_array_get(arr, i);
        uint8_t tid[16], sid[8];
        size_t tl, sl;
        uint32_t flags;
        char p[300];
        pathf(p, sizeof p, "%s.links[%zu]", path, i);
        if (!json_is_object(ln))
            return bad(c, p, "expected an object");
        rc = get_id(c, ln, "traceId", "trace_id", p, tid, sizeof tid, &tl);
        if (rc == 0)
            rc = get_id(c, ln, "spanId", "span_id", p, sid, sizeof sid, &sl);
        if (rc == 0)
            rc = get_enum(c, ln, "flags", NULL, p, NULL, 0, &flags);
        if (rc == 0)
            rc = put_attrs(c, &c->o->sub, ln, p, NULL, NULL, NULL, NULL);
        if (rc == 0 && otlp_out_link(c->o, tid, tl == SIZE_MAX ? 0 : tl, sid,
                                     sl == SIZE_MAX ? 0 : sl, flags, why, whylen) < 0)
            return 1;
    }
    return rc;
}

static int one_span(struct jctx *c, const json_t *span, const char *path)
{
    struct otlp_span s;
    uint8_t tid[16], sid[8], pid[8];
    json_t *st;
    char why[160];
    int rc;

    if (!json_is_object(span))
        return bad(c, path, "expected an object");
    memset(&s, 0, sizeof s);
    otlp_out_item_begin(c->o);
    rc = get_id(c, span, "traceId", "trace_id", path, tid, sizeof tid, &s.trace_id_len);
    if (rc == 0)
        rc = get_id(c, span, "spanId", "span_id", path, sid, sizeof sid, &s.span_id_len);
    if (rc == 0)
        rc = get_id(c, span, "parentSpanId", "parent_span_id", path, pid, sizeof pid,
                    &s.parent_id_len);
    if (rc == 0)
        rc = get_str(c, span, "name", NULL, path, &s.name, &s.name_len);
    if (rc == 0)
        rc =
            get_str(c, span, "traceState", "trace_state", path, &s.trace_state, &s.trace_state_len);
    if (rc == 0)
        rc = get_enum(c, span, "kind", NULL, path, span_kinds, 6, &s.kind);
    if (rc == 0)
        rc = get_u64(c, span, "startTimeUnixNano", "start_time_unix_nano", path, &s.start_ns);
    if (rc == 0)
        rc = get_u64(c, span, "endTimeUnixNano", "end_time_unix_nano", path, &s.end_ns);
    if (rc == 0)
        rc = get_enum(c, span, "flags", NULL, path, NULL, 0, &s.flags);
    if (rc == 0)
        rc = get_object(c, span, "status", NULL, path, &st);
    if (rc == 0 && st != NULL) {
        char p[300];
        pathf(p, sizeof p, "%s.status", path);
        rc = get_enum(c, st, "code", NULL, p, status_codes, 3, &s.status_code);
        if (rc == 0)
            rc = get_str(c, st, "message", NULL, p, &s.status_msg, &s.status_msg_len);
    }
    if (rc == 0)
        rc = put_attrs(c, &c->o->attrs, span, path, NULL, NULL, NULL, NULL);
    if (rc == 0)
        rc = span_events(c, span, path);
    if (rc == 0)
        rc = span_links(c, span, path, why, sizeof why);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        otlp_out_reject(c->o, path, why);
        return 0;
    }
    /* A bad hex id: reported with its place by the length check. */
    if (s.trace_id_len == SIZE_MAX) {
        otlp_out_reject(c->o, path, "traceId is not 32 hex digits");
        return 0;
    }
    if (s.span_id_len == SIZE_MAX) {
        otlp_out_reject(c->o, path, "spanId is not 16 hex digits");
        return 0;
    }
    if (s.parent_id_len == SIZE_MAX) {
        otlp_out_reject(c->o, path, "parentSpanId is not 16 hex digits");
        return 0;
    }
    s.trace_id = tid;
    s.span_id = sid;
    s.parent_id = pid;
    rc = otlp_out_span(c->o, &s, path);
    return rc < 0 ? rc : 0;
}

static int one_log(struct jctx *c, const json_t *lr, const char *path)
{
    struct otlp_log l;
    uint8_t tid[16], sid[8];
    json_t *body;
    struct wbuf bw;
    int rc;

    if (!json_is_object(lr))
        return bad(c, path, "expected an object");
    memset(&l, 0, sizeof l);
    wbuf_init(&bw, 0);
    otlp_out_item_begin(c->o);
    rc = get_u64(c, lr, "timeUnixNano", "time_unix_nano", path, &l.time_ns);
    if (rc == 0)
        rc =
            get_u64(c, lr, "observedTimeUnixNano", "observed_time_unix_nano", path, &l.observed_ns);
    if (rc == 0)
        rc =
            get_enum(c, lr, "severityNumber", "severity_number", path, NULL, 0, &l.severity_number);
    if (rc == 0)
        rc = get_str(c, lr, "severityText", "severity_text", path, &l.severity_text,
                     &l.severity_text_len);
    if (rc == 0)
        rc = get_str(c, lr, "eventName", "event_name", path, &l.event_name, &l.event_name_len);
    if (rc == 0)
        rc = get_id(c, lr, "traceId", "trace_id", path, tid, sizeof tid, &l.trace_id_len);
    if (rc == 0)
        rc = get_id(c, lr, "spanId", "span_id", path, sid, sizeof sid, &l.span_id_len);
    if (rc == 0)
        rc = put_attrs(c, &c->o->attrs, lr, path, NULL, NULL, NULL, NULL);
    body = get(lr, "body", NULL);
    if (rc == 0 && body != NULL) {
        json_t *v;
        char p[300];
        pathf(p, sizeof p, "%s.body", path);
        if (json_is_object(body) && any_kind(body, &v) == ANY_STR && json_is_string(v)) {
            l.body = json_string_value(v);
            l.body_len = json_string_length(v);
        } else {
            rc = render_any(c, body, &bw, p, 0);
            if (rc == 0 && bw.err != 0)
                rc = TT_ENOMEM;
            l.body = (const char *)bw.data;
            l.body_len = bw.len;
        }
    }
    if (rc == 0) {
        if (l.trace_id_len == SIZE_MAX || l.span_id_len == SIZE_MAX) {
            otlp_out_reject(c->o, path, "traceId or spanId is not hex of 16 or 8 bytes");
        } else {
            l.trace_id = tid;
            l.span_id = sid;
            rc = otlp_out_log(c->o, &l, path);
            rc = rc < 0 ? rc : 0;
        }
    }
    wbuf_release(&bw);
    return rc;
}

typedef int (*item_fn)(struct jctx *c, const json_t *item, const char *path);

/* walk: resource{Spans,Logs}[i].scope{Spans,Logs}[j].{spans,logRecords}[k]. */
static int walk(struct otlp_out *o, const uint8_t *p, size_t n, const char *const names[6],
                item_fn item, char *err, size_t errlen)
{
    struct jctx c = { o, err, errlen };
    json_error_t je;
    json_t *root, *rss;
    int rc;

    root = json_loadb((const char *)p, n, 0, &je);
    if (root == NULL) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return TT_ENOMEM;
        snprintf(err, errlen, "line %d column %d (byte %d): %s", je.line, je.column, je.position,
                 je.text);
        return TT_ESYNTAX;
    }
    if (!json_is_object(root)) {
        rc = bad(&c, "(request)", "expected an object");
        goto out;
    }
    rc = get_array(&c, root, names[0], names[1], "(request)", &rss);
    for (size_t i = 0; rc == 0 && rss != NULL && i < json_array_size(rss); i++) {
        json_t *rs = json_array_get(rss, i), *sss;
        char p1[300];
        pathf(p1, sizeof p1, "%s[%zu]", names[0], i);
        if (!json_is_object(rs)) {
            rc = bad(&c, p1, "expected an object");
            break;
        }
        rc = resource(&c, rs, p1);
        if (rc == 0)
            rc = get_array(&c, rs, names[2], names[3], p1, &sss);
        for (size_t j = 0; rc == 0 && sss != NULL && j < json_array_size(sss); j++) {
            json_t *ss = json_array_get(sss, j), *items;
            char p2[300];
            pathf(p2, sizeof p2, "%s.%s[%zu]", p1, names[2], j);
            if (!json_is_object(ss)) {
                rc = bad(&c, p2, "expected an object");
                break;
            }
            rc = scope(&c, ss, p2);
            if (rc == 0)
                rc = get_array(&c, ss, names[4], names[5], p2, &items);
            for (size_t k = 0; rc == 0 && items != NULL && k < json_array_size(items); k++) {
                char p3[300];
                pathf(p3, sizeof p3, "%s.%s[%zu]", p2, names[4], k);
                rc = item(&c, json_array_get(items, k), p3);
            }
        }
    }
out:
    json_decref(root);
    return rc;
}

int otlp_json_traces(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    static const char *const names[6] = { "resourceSpans", "resource_spans", "scopeSpans",
                                          "scope_spans",   "spans",          NULL };
    return walk(o, p, n, names, one_span, err, errlen);
}

int otlp_json_logs(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    static const char *const names[6] = { "resourceLogs", "resource_logs", "scopeLogs",
                                          "scope_logs",   "logRecords",    "log_records" };
    return walk(o, p, n, names, one_log, err, errlen);
}

/* ---- metrics ------------------------------------------------------------------ */

static const char *const temporalities[] = { "AGGREGATION_TEMPORALITY_UNSPECIFIED",
                                             "AGGREGATION_TEMPORALITY_DELTA",
                                             "AGGREGATION_TEMPORALITY_CUMULATIVE" };

/* point_common: a data point's attributes (into o->attrs) and time. */
static int point_common(struct jctx *c, const json_t *dp, const char *path, uint64_t *t)
{
    if (!json_is_object(dp))
        return bad(c, path, "expected an object");
    otlp_out_item_begin(c->o);
    int rc = put_attrs(c, &c->o->attrs, dp, path, NULL, NULL, NULL, NULL);
    return rc < 0 ? rc : get_u64(c, dp, "timeUnixNano", "time_unix_nano", path, t);
}

static int number_points(struct jctx *c, const json_t *pts, const char *name, size_t nlen,
                         const char *suffix, int counter, int delta, const char *path)
{
    for (size_t i = 0; pts != NULL && i < json_array_size(pts); i++) {
        json_t *dp = json_array_get(pts, i), *v;
        uint64_t t;
        double d;
        int64_t iv;
        char p[300];
        int rc;
        pathf(p, sizeof p, "%s.dataPoints[%zu]", path, i);
        if ((rc = point_common(c, dp, p, &t)) < 0)
            return rc;
        if (delta) {
            otlp_out_reject(c->o, p, "delta temporality is not supported (send cumulative)");
            continue;
        }
        if ((v = get(dp, "asDouble", "as_double")) != NULL) {
            if ((rc = any_double(c, v, p, &d)) < 0)
                return rc;
        } else if ((v = get(dp, "asInt", "as_int")) != NULL) {
            if ((rc = any_int(c, v, p, &iv)) < 0)
                return rc;
            d = (double)iv;
        } else {
            otlp_out_reject(c->o, p, "no value");
            continue;
        }
        rc = otlp_out_metric(c->o, name, nlen, suffix, counter, t, d, NULL, p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int histogram_points(struct jctx *c, const json_t *pts, const char *name, size_t nlen,
                            int delta, const char *path)
{
    for (size_t i = 0; pts != NULL && i < json_array_size(pts); i++) {
        json_t *dp = json_array_get(pts, i), *counts, *bounds, *sum;
        uint64_t t, count, cum = 0;
        char p[300], le[40];
        int rc;
        pathf(p, sizeof p, "%s.dataPoints[%zu]", path, i);
        if ((rc = point_common(c, dp, p, &t)) < 0 ||
            (rc = get_u64(c, dp, "count", NULL, p, &count)) < 0 ||
            (rc = get_array(c, dp, "bucketCounts", "bucket_counts", p, &counts)) < 0 ||
            (rc = get_array(c, dp, "explicitBounds", "explicit_bounds", p, &bounds)) < 0)
            return rc;
        if (delta) {
            otlp_out_reject(c->o, p, "delta temporality is not supported (send cumulative)");
            continue;
        }
        size_t nb = counts ? json_array_size(counts) : 0, nx = bounds ? json_array_size(bounds) : 0;
        if (nb != 0 && nb != nx + 1) {
            otlp_out_reject(c->o, p, "bucketCounts must have one more entry than explicitBounds");
            continue;
        }
        for (size_t k = 0; k < nb; k++) {
            json_t *cv = json_array_get(counts, k);
            uint64_t n;
            double b = INFINITY;
            if (json_is_integer(cv) && json_integer_value(cv) >= 0)
                n = (uint64_t)json_integer_value(cv);
            else if (!json_is_string(cv) ||
                     parse_u64(json_string_value(cv), json_string_length(cv), &n) < 0)
                return bad(c, p, "bucketCounts: expected unsigned integers");
            if (k < nx && (rc = any_double(c, json_array_get(bounds, k), p, &b)) < 0)
                return rc;
            cum += n;
            if (k < nx)
                json_format_double(b, le, sizeof le);
            else
                snprintf(le, sizeof le, "+Inf");
            rc = otlp_out_metric(c->o, name, nlen, "_bucket", 1, t, (double)cum, le, p);
            if (rc < 0)
                return rc;
        }
        if ((sum = get(dp, "sum", NULL)) != NULL) {
            double d;
            if ((rc = any_double(c, sum, p, &d)) < 0)
                return rc;
            if ((rc = otlp_out_metric(c->o, name, nlen, "_sum", 1, t, d, NULL, p)) < 0)
                return rc;
        }
        rc = otlp_out_metric(c->o, name, nlen, "_count", 1, t, (double)count, NULL, p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int one_metric(struct jctx *c, const json_t *m, const char *path)
{
    const char *name;
    size_t nlen;
    json_t *g, *pts;
    uint32_t temp = 0;
    int rc;
    char p[300];

    if (!json_is_object(m))
        return bad(c, path, "expected an object");
    if ((rc = get_str(c, m, "name", NULL, path, &name, &nlen)) < 0)
        return rc;
    if ((rc = get_object(c, m, "gauge", NULL, path, &g)) < 0)
        return rc;
    if (g != NULL) {
        pathf(p, sizeof p, "%s.gauge", path);
        if ((rc = get_array(c, g, "dataPoints", "data_points", p, &pts)) < 0)
            return rc;
        return number_points(c, pts, name, nlen, NULL, 0, 0, p);
    }
    if ((rc = get_object(c, m, "sum", NULL, path, &g)) < 0)
        return rc;
    if (g != NULL) {
        json_t *mono = get(g, "isMonotonic", "is_monotonic");
        int is_mono = json_is_true(mono);
        pathf(p, sizeof p, "%s.sum", path);
        if (mono != NULL && !json_is_boolean(mono))
            return bad(c, p, "isMonotonic: expected true or false");
        if ((rc = get_enum(c, g, "aggregationTemporality", "aggregation_temporality", p,
                           temporalities, 3, &temp)) < 0 ||
            (rc = get_array(c, g, "dataPoints", "data_points", p, &pts)) < 0)
            return rc;
        int has_total = nlen >= 6 && memcmp(name + nlen - 6, "_total", 6) == 0;
        return number_points(c, pts, name, nlen, is_mono && !has_total ? "_total" : NULL, is_mono,
                             temp == 1, p);
    }
    if ((rc = get_object(c, m, "histogram", NULL, path, &g)) < 0)
        return rc;
    if (g != NULL) {
        pathf(p, sizeof p, "%s.histogram", path);
        if ((rc = get_enum(c, g, "aggregationTemporality", "aggregation_temporality", p,
                           temporalities, 3, &temp)) < 0 ||
            (rc = get_array(c, g, "dataPoints", "data_points", p, &pts)) < 0)
            return rc;
        return histogram_points(c, pts, name, nlen, temp == 1, p);
    }
    otlp_out_reject(c->o, path, "only gauge, sum and histogram metrics are supported");
    return 0;
}

int otlp_json_metrics(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    static const char *const names[6] = { "resourceMetrics", "resource_metrics", "scopeMetrics",
                                          "scope_metrics",   "metrics",          NULL };
    return walk(o, p, n, names, one_metric, err, errlen);
}
