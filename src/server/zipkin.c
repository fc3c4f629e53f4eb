/*
 * zipkin.c - Zipkin v2 JSON spans into an otlp_out (see zipkin.h). Times are
 * microseconds (integers, or strings of digits), ids 16 or 32 hex digits (a
 * 64-bit trace id is the low half of a 128-bit one, as Zipkin and W3C
 * interoperate); tags become attributes ("error" the ERROR status and its
 * message instead), annotations span events, remoteEndpoint peer attributes;
 * the server half of a shared span gets an id of its own (unshare).
 */
#include "server/zipkin.h"
#include "core/hex.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct zctx {
    struct otlp_out *o;
    char *err;
    size_t errlen;
};

static int bad(struct zctx *c, size_t i, const char *field, const char *what)
{
    snprintf(c->err, c->errlen, "[%zu].%s: %s", i, field, what);
    return TT_ESYNTAX;
}

static json_t *get(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int get_str(struct zctx *c, const json_t *obj, const char *key, size_t i, const char *what,
                   const char **s, size_t *n)
{
    json_t *v = get(obj, key);
    *s = NULL;
    *n = 0;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return bad(c, i, what, "expected a string");
    *s = json_string_value(v);
    *n = json_string_length(v);
    return 0;
}

/* get_u64: an integer or a string of digits (absent: 0). */
static int get_u64(struct zctx *c, const json_t *obj, const char *key, size_t i, uint64_t *out)
{
    json_t *v = get(obj, key);
    *out = 0;
    if (v == NULL)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        uint64_t x = 0;
        for (size_t k = 0; k < n && k < 20; k++) {
            if (s[k] < '0' || s[k] > '9' || x > (UINT64_MAX - 9) / 10)
                return bad(c, i, key, "expected an unsigned integer");
            x = x * 10 + (uint64_t)(s[k] - '0');
        }
        if (n == 0 || n > 19)
            return bad(c, i, key, "expected an unsigned integer");
        *out = x;
        return 0;
    }
    return bad(c, i, key, "expected a non-negative integer");
}

/* id: hex into out (16 bytes for a trace id, right-aligned: a 64-bit one
 * gets zero high bytes). *len: bytes, 0 absent, SIZE_MAX malformed. */
static int id(struct zctx *c, const json_t *obj, const char *key, size_t i, uint8_t *out,
              size_t cap, size_t *len)
{
    const char *s;
    size_t n;
    int rc = get_str(c, obj, key, i, key, &s, &n);
    *len = 0;
    if (rc < 0 || s == NULL || n == 0)
        return rc;
    if (cap == 16 && n == 16) {
        memset(out, 0, 8);
        *len = tt_hex_decode(s, n, out + 8, 8) < 0 ? SIZE_MAX : 16;
    } else if (n == 2 * cap) {
        *len = tt_hex_decode(s, n, out, cap) < 0 ? SIZE_MAX : cap;
    } else {
        *len = SIZE_MAX;
    }
    return 0;
}

static int endpoint_attrs(struct zctx *c, const json_t *ep, size_t i)
{
    const char *s;
    size_t n;
    int rc;
    if (!json_is_object(ep))
        return bad(c, i, "remoteEndpoint", "expected an object");
    if ((rc = get_str(c, ep, "serviceName", i, "remoteEndpoint.serviceName", &s, &n)) < 0)
        return rc;
    if (s != NULL)
        otlp_kv_str(&c->o->attrs, "peer.service", 12, s, n);
    if ((rc = get_str(c, ep, "ipv4", i, "remoteEndpoint.ipv4", &s, &n)) < 0)
        return rc;
    if (s == NULL && (rc = get_str(c, ep, "ipv6", i, "remoteEndpoint.ipv6", &s, &n)) < 0)
        return rc;
    if (s != NULL)
        otlp_kv_str(&c->o->attrs, "net.peer.ip", 11, s, n);
    json_t *port = get(ep, "port");
    if (port != NULL) {
        if (!json_is_integer(port))
            return bad(c, i, "remoteEndpoint.port", "expected an integer");
        otlp_kv_int(&c->o->attrs, "net.peer.port", 13, json_integer_value(port));
    }
    return 0;
}

/* unshare gives the server half of a shared span (B3's join: the server
 * reuses the client's span id; Zipkin marks it "shared") an id of its own,
 * a hash of the shared one, and the client span as parent, as Jaeger's
 * span id deduper does: the store keeps one span per id. */
static void unshare(uint8_t sid[8], uint8_t pid[8], size_t *pid_len)
{
    uint64_t x = 0;
    memcpy(pid, sid, 8);
    *pid_len = 8;
    for (int k = 0; k < 8; k++)
        x = x << 8 | sid[k];
    x += UINT64_C(0x9e3779b97f4a7c15); /* splitmix64 */
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    if (x == 0)
        x = 1;
    for (int k = 7; k >= 0; k--, x >>= 8)
        sid[k] = (uint8_t)x;
}

static int one(struct zctx *c, const json_t *js, size_t i)
{
    struct otlp_span s;
    uint8_t tid[16], sid[8], pid[8];
    uint64_t ts, dur;
    const char *svc = NULL, *node = NULL, *kind;
    size_t svcl = 0, nodel = 0, kindl;
    json_t *v;
    int rc;
    char where[32];

    snprintf(where, sizeof where, "[%zu]", i);
    if (!json_is_object(js)) {
        snprintf(c->err, c->errlen, "[%zu]: expected a span object", i);
        return TT_ESYNTAX;
    }
    memset(&s, 0, sizeof s);
    otlp_out_item_begin(c->o);
    if ((rc = id(c, js, "traceId", i, tid, 16, &s.trace_id_len)) < 0 ||
        (rc = id(c, js, "id", i, sid, 8, &s.span_id_len)) < 0 ||
        (rc = id(c, js, "parentId", i, pid, 8, &s.parent_id_len)) < 0 ||
        (rc = get_str(c, js, "name", i, "name", &s.name, &s.name_len)) < 0 ||
        (rc = get_str(c, js, "kind", i, "kind", &kind, &kindl)) < 0 ||
        (rc = get_u64(c, js, "timestamp", i, &ts)) < 0 ||
        (rc = get_u64(c, js, "duration", i, &dur)) < 0)
        return rc;
    if (kind != NULL) {
        static const char *const kinds[] = { "SERVER", "CLIENT", "PRODUCER", "CONSUMER" };
        size_t k = 0;
        while (k < 4 && strcmp(kind, kinds[k]) != 0)
            k++;
        if (k == 4)
            return bad(c, i, "kind", "expected CLIENT, SERVER, PRODUCER or CONSUMER");
        s.kind = (uint32_t)k + 2; /* OTLP numbering: SERVER 2, CLIENT 3, ... */
    }
    if ((v = get(js, "localEndpoint")) != NULL) {
        if (!json_is_object(v))
            return bad(c, i, "localEndpoint", "expected an object");
        if ((rc = get_str(c, v, "serviceName", i, "localEndpoint.serviceName", &svc, &svcl)) < 0 ||
            (rc = get_str(c, v, "ipv4", i, "localEndpoint.ipv4", &node, &nodel)) < 0)
            return rc;
        if (node == NULL &&
            (rc = get_str(c, v, "ipv6", i, "localEndpoint.ipv6", &node, &nodel)) < 0)
            return rc;
    }
    if ((v = get(js, "remoteEndpoint")) != NULL && (rc = endpoint_attrs(c, v, i)) < 0)
        return rc;
    if ((v = get(js, "tags")) != NULL) {
        const char *key;
        json_t *tv;
        if (!json_is_object(v))
            return bad(c, i, "tags", "expected an object");
        json_object_foreach(v, key, tv)
        {
            if (!json_is_string(tv))
                return bad(c, i, "tags", "values must be strings");
            if (strcmp(key, "error") != 0) /* "error" is the status (and its message) */
                otlp_kv_str(&c->o->attrs, key, strlen(key), json_string_value(tv),
                            json_string_length(tv));
            if (strcmp(key, "error") == 0) {
                s.status_code = 2;
                s.status_msg = json_string_value(tv);
                s.status_msg_len = json_string_length(tv);
            }
        }
    }
    if ((v = get(js, "annotations")) != NULL) {
        if (!json_is_array(v))
            return bad(c, i, "annotations", "expected an array");
        for (size_t k = 0; k < json_array_size(v); k++) {
            json_t *a = json_array_get(v, k);
            const char *val;
            size_t vl;
            uint64_t at;
            if (!json_is_object(a))
                return bad(c, i, "annotations", "expected objects");
            if ((rc = get_u64(c, a, "timestamp", i, &at)) < 0 ||
                (rc = get_str(c, a, "value", i, "annotations.value", &val, &vl)) < 0)
                return rc;
            if (at > INT64_MAX / 1000)
                return bad(c, i, "annotations.timestamp", "past the year 2262");
            otlp_out_event(c->o, at * 1000, val, vl);
        }
    }
    if (s.trace_id_len == SIZE_MAX || s.span_id_len == SIZE_MAX || s.parent_id_len == SIZE_MAX) {
        otlp_out_reject(c->o, where, "traceId must be 16 or 32 hex digits, id and parentId 16");
        return 0;
    }
    if (ts == 0) {
        otlp_out_reject(c->o, where, "no timestamp");
        return 0;
    }
    if (ts > INT64_MAX / 1000 || dur > INT64_MAX / 1000 || ts * 1000 + dur * 1000 > INT64_MAX) {
        otlp_out_reject(c->o, where, "timestamp or duration past the year 2262");
        return 0;
    }
    if (json_is_true(get(js, "shared")) && s.span_id_len == 8)
        unshare(sid, pid, &s.parent_id_len);
    s.trace_id = tid;
    s.span_id = sid;
    s.parent_id = pid;
    s.start_ns = ts * 1000;
    s.end_ns = s.start_ns + dur * 1000;
    rc = otlp_out_resource(c->o, svc, svcl, node, nodel);
    if (rc < 0)
        return rc;
    rc = otlp_out_span(c->o, &s, where);
    return rc < 0 ? rc : 0;
}

int zipkin_json_spans(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    struct zctx c = { o, err, errlen };
    json_error_t je;
    json_t *root = json_loadb((const char *)p, n, 0, &je);
    int rc = 0;
    if (root == NULL) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return TT_ENOMEM;
        snprintf(err, errlen, "line %d column %d (byte %d): %s", je.line, je.column, je.position,
                 je.text);
        return TT_ESYNTAX;
    }
    if (!json_is_array(root)) {
        snprintf(err, errlen, "expected a JSON array of spans");
        rc = TT_ESYNTAX;
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(root); i++)
        rc = one(&c, json_array_get(root, i), i);
    json_decref(root);
    return rc;
}
