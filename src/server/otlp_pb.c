/*
 * otlp_pb.c - OTLP/protobuf traces and logs into an otlp_out, by a small
 * wire-format reader (varint, fixed32, fixed64, length-delimited) and one
 * function per message. Every length is checked against the bytes of the
 * enclosing message before it is used, so no read goes past the body.
 */
#include "server/otlp_pb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"

#define MAX_DEPTH 16 /* nested AnyValues */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct pctx {
    struct otlp_out *o;
    const uint8_t *base;
    char *err;
    size_t errlen;
};

/* A message: the bytes [p, end) of its encoding. */
struct msg {
    const uint8_t *p, *end;
};

struct field {
    uint32_t num;
    int wt;
    uint64_t v; /* varint, i64, i32 */
    struct msg b;
    const uint8_t *at; /* where the field starts, for messages */
};

static void pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

static int bad(struct pctx *c, const uint8_t *at, const char *path, const char *what)
{
    snprintf(c->err, c->errlen, "byte %zu: %s: %s", (size_t)(at - c->base), path, what);
    return TT_ESYNTAX;
}

static int varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p == end)
            return -1;
        uint8_t b = *p++;
        if (shift == 63 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* next: the next field of m. 1 with f, 0 at the end, TT_ESYNTAX. */
static int next(struct pctx *c, struct msg *m, struct field *f, const char *path)
{
    uint64_t key, len;
    if (m->p == m->end)
        return 0;
    f->at = m->p;
    if (varint(&m->p, m->end, &key) < 0)
        return bad(c, f->at, path, "truncated field key");
    if (key >> 3 == 0 || key >> 3 > UINT32_MAX)
        return bad(c, f->at, path, "field number 0 or too large");
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    switch (f->wt) {
    case WT_VARINT:
        if (varint(&m->p, m->end, &f->v) < 0)
            return bad(c, f->at, path, "truncated varint");
        return 1;
    case WT_I64:
        if (m->end - m->p < 8)
            return bad(c, f->at, path, "truncated fixed64");
        f->v = 0;
        for (int i = 7; i >= 0; i--)
            f->v = f->v << 8 | m->p[i];
        m->p += 8;
        return 1;
    case WT_I32:
        if (m->end - m->p < 4)
            return bad(c, f->at, path, "truncated fixed32");
        f->v = (uint64_t)m->p[0] | (uint64_t)m->p[1] << 8 | (uint64_t)m->p[2] << 16 |
               (uint64_t)m->p[3] << 24;
        m->p += 4;
        return 1;
    case WT_LEN:
        if (varint(&m->p, m->end, &len) < 0)
            return bad(c, f->at, path, "truncated length");
        if (len > (uint64_t)(m->end - m->p))
            return bad(c, f->at, path, "length runs past the end of its message");
        f->b.p = m->p;
        f->b.end = m->p + len;
        m->p += len;
        return 1;
    default:
        return bad(c, f->at, path, "unsupported wire type (groups are not used by OTLP)");
    }
}

/* want: f has wire type wt (a known field with another is malformed). */
static int want(struct pctx *c, const struct field *f, int wt, const char *path, const char *name)
{
    char p[300];
    if (f->wt == wt)
        return 0;
    pathf(p, sizeof p, "%s.%s", path, name);
    return bad(c, f->at, p, "wrong wire type");
}

static size_t blen(const struct field *f)
{
    return (size_t)(f->b.end - f->b.p);
}

static void base64(struct wbuf *w, const uint8_t *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = { t[v >> 18 & 63], t[v >> 12 & 63], i + 1 < n ? t[v >> 6 & 63] : '=',
                      i + 2 < n ? t[v & 63] : '=' };
        wbuf_put(w, q, 4);
    }
}

static double f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int render_any(struct pctx *c, struct msg m, struct wbuf *w, const char *path, int depth);

/* render_kv writes one KeyValue as "key":value (into a JSON object). */
static int render_kv(struct pctx *c, struct msg m, struct wbuf *w, const char *path, int depth)
{
    struct field f;
    struct msg key = { NULL, NULL }, val = { NULL, NULL };
    int rc, has_val = 0;
    while ((rc = next(c, &m, &f, path)) == 1) {
        if (f.num == 1 && (rc = want(c, &f, WT_LEN, path, "key")) == 0)
            key = f.b;
        else if (f.num == 2 && (rc = want(c, &f, WT_LEN, path, "value")) == 0)
            val = f.b, has_val = 1;
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    json_put_str(w, (const char *)key.p, (size_t)(key.end - key.p));
    wbuf_put_u8(w, ':');
    if (!has_val) {
        wbuf_put(w, "null", 4);
        return 0;
    }
    return render_any(c, val, w, path, depth + 1);
}

/* render_any writes an AnyValue as plain JSON (nested arrays and kvlists,
 * bytes as base64 strings). An empty AnyValue is null. */
static int render_any(struct pctx *c, struct msg m, struct wbuf *w, const char *path, int depth)
{
    struct field f;
    int rc, any = 0;
    if (depth > MAX_DEPTH)
        return bad(c, m.p, path, "values nested too deep");
    struct msg mm = m;
    struct field last;
    memset(&last, 0, sizeof last);
    /* oneof: the last one set wins */
    while ((rc = next(c, &mm, &f, path)) == 1) {
        if (f.num >= 1 && f.num <= 7) {
            last = f;
            any = 1;
        }
    }
    if (rc < 0)
        return rc;
    if (!any) {
        wbuf_put(w, "null", 4);
        return 0;
    }
    f = last;
    switch (f.num) {
    case 1:
        if ((rc = want(c, &f, WT_LEN, path, "stringValue")) < 0)
            return rc;
        json_put_str(w, (const char *)f.b.p, blen(&f));
        return 0;
    case 2:
        if ((rc = want(c, &f, WT_VARINT, path, "boolValue")) < 0)
            return rc;
        if (f.v)
            wbuf_put(w, "true", 4);
        else
            wbuf_put(w, "false", 5);
        return 0;
    case 3:
        if ((rc = want(c, &f, WT_VARINT, path, "intValue")) < 0)
            return rc;
        json_put_i64(w, (int64_t)f.v);
        return 0;
    case 4:
        if ((rc = want(c, &f, WT_I64, path, "doubleValue")) < 0)
            return rc;
        json_put_double(w, f64(f.v));
        return 0;
    case 5:
    case 6: {
        if ((rc = want(c, &f, WT_LEN, path, f.num == 5 ? "arrayValue" : "kvlistValue")) < 0)
            return rc;
        struct msg arr = f.b;
        struct field e;
        int first = 1;
        wbuf_put_u8(w, f.num == 5 ? '[' : '{');
        while ((rc = next(c, &arr, &e, path)) == 1) {
            if (e.num != 1)
                continue;
            if ((rc = want(c, &e, WT_LEN, path, "values")) < 0)
                return rc;
            if (!first)
                wbuf_put_u8(w, ',');
            first = 0;
            rc = f.num == 5 ? render_any(c, e.b, w, path, depth + 1)
                            : render_kv(c, e.b, w, path, depth);
            if (rc < 0)
                return rc;
        }
        if (rc < 0)
            return rc;
        wbuf_put_u8(w, f.num == 5 ? ']' : '}');
        return 0;
    }
    default: /* 7: bytes */
        if ((rc = want(c, &f, WT_LEN, path, "bytesValue")) < 0)
            return rc;
        wbuf_put_u8(w, '"');
        base64(w, f.b.p, blen(&f));
        wbuf_put_u8(w, '"');
        return 0;
    }
}

/* put_kv appends one KeyValue to k (scalars as such, arrays and kvlists as
 * JSON text, bytes as base64); with svc non-NULL, service.name and
 * host.name string values go to svc and node instead. */
static int put_kv(struct pctx *c, struct otlp_kvs *k, struct msg m, const char *path,
                  struct msg *svc, struct msg *node)
{
    struct field f, v;
    struct msg key = { NULL, NULL }, val = { NULL, NULL };
    int rc, has_val = 0, kind = 0;
    while ((rc = next(c, &m, &f, path)) == 1) {
        if (f.num == 1 && (rc = want(c, &f, WT_LEN, path, "key")) == 0)
            key = f.b;
        else if (f.num == 2 && (rc = want(c, &f, WT_LEN, path, "value")) == 0)
            val = f.b, has_val = 1;
        if (rc < 0)
            return rc;
    }
    if (rc < 0 || !has_val)
        return rc;
    const char *ks = (const char *)key.p;
    size_t kl = (size_t)(key.end - key.p);
    struct msg vm = val;
    while ((rc = next(c, &vm, &f, path)) == 1)
        if (f.num >= 1 && f.num <= 7)
            v = f, kind = (int)f.num;
    if (rc < 0)
        return rc;
    switch (kind) {
    case 0:
        return 0;
    case 1:
        if ((rc = want(c, &v, WT_LEN, path, "stringValue")) < 0)
            return rc;
        if (svc != NULL && kl == 12 && memcmp(ks, "service.name", 12) == 0) {
            *svc = v.b;
            return 0;
        }
        if (svc != NULL && kl == 9 && memcmp(ks, "host.name", 9) == 0) {
            *node = v.b;
            return 0;
        }
        otlp_kv_str(k, ks, kl, (const char *)v.b.p, blen(&v));
        return 0;
    case 2:
        if ((rc = want(c, &v, WT_VARINT, path, "boolValue")) < 0)
            return rc;
        otlp_kv_bool(k, ks, kl, v.v != 0);
        return 0;
    case 3:
        if ((rc = want(c, &v, WT_VARINT, path, "intValue")) < 0)
            return rc;
        otlp_kv_int(k, ks, kl, (int64_t)v.v);
        return 0;
    case 4:
        if ((rc = want(c, &v, WT_I64, path, "doubleValue")) < 0)
            return rc;
        otlp_kv_double(k, ks, kl, f64(v.v));
        return 0;
    case 7:
        if ((rc = want(c, &v, WT_LEN, path, "bytesValue")) < 0)
            return rc;
        {
            struct wbuf w;
            wbuf_init(&w, 0);
            base64(&w, v.b.p, blen(&v));
            otlp_kv_str(k, ks, kl, w.data ? (const char *)w.data : "", w.len);
            rc = w.err;
            wbuf_release(&w);
            return rc;
        }
    default: {
        struct wbuf w;
        wbuf_init(&w, 0);
        rc = render_any(c, val, &w, path, 0);
        if (rc == 0 && w.err != 0)
            rc = TT_ENOMEM;
        if (rc == 0)
            otlp_kv_str(k, ks, kl, (const char *)w.data, w.len);
        wbuf_release(&w);
        return rc;
    }
    }
}

/* attrs_field: a repeated KeyValue field (number num) of f, into k. */
static int attr(struct pctx *c, const struct field *f, struct otlp_kvs *k, const char *path,
                size_t i)
{
    char p[300];
    pathf(p, sizeof p, "%s.attributes[%zu]", path, i);
    int rc = want(c, f, WT_LEN, path, "attributes");
    return rc < 0 ? rc : put_kv(c, k, f->b, p, NULL, NULL);
}

/* resource: field 1 of a ResourceSpans/ResourceLogs (the last one wins). */
static int resource(struct pctx *c, struct msg rs, const char *path)
{
    struct field f, g;
    struct msg res = { NULL, NULL }, svc = { NULL, NULL }, node = { NULL, NULL };
    struct otlp_kvs tmp;
    char p[300];
    int rc;
    while ((rc = next(c, &rs, &f, path)) == 1)
        if (f.num == 1 && (rc = want(c, &f, WT_LEN, path, "resource")) == 0)
            res = f.b;
        else if (rc < 0)
            return rc;
    if (rc < 0)
        return rc;
    tmp.n = 0;
    wbuf_init(&tmp.b, 0);
    pathf(p, sizeof p, "%s.resource", path);
    size_t i = 0;
    while (res.p != NULL && (rc = next(c, &res, &g, p)) == 1) {
        if (g.num != 1)
            continue;
        char q[300];
        pathf(q, sizeof q, "%s.attributes[%zu]", p, i++);
        rc = want(c, &g, WT_LEN, p, "attributes");
        if (rc == 0)
            rc = put_kv(c, &tmp, g.b, q, &svc, &node);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        rc = otlp_out_resource(c->o, (const char *)svc.p, (size_t)(svc.end - svc.p),
                               (const char *)node.p, (size_t)(node.end - node.p));
    if (rc == 0) {
        wbuf_put(&c->o->res_attrs.b, tmp.b.data, tmp.b.len);
        c->o->res_attrs.n = tmp.n;
        if (tmp.b.err != 0 || c->o->res_attrs.b.err != 0)
            rc = TT_ENOMEM;
    }
    wbuf_release(&tmp.b);
    return rc;
}

static int scope(struct pctx *c, struct msg ss, const char *path)
{
    struct field f;
    struct msg sc = { NULL, NULL }, name = { NULL, NULL }, ver = { NULL, NULL };
    int rc;
    while ((rc = next(c, &ss, &f, path)) == 1)
        if (f.num == 1 && (rc = want(c, &f, WT_LEN, path, "scope")) == 0)
            sc = f.b;
        else if (rc < 0)
            return rc;
    while (sc.p != NULL && (rc = next(c, &sc, &f, path)) == 1) {
        if (f.num == 1 && (rc = want(c, &f, WT_LEN, path, "scope.name")) == 0)
            name = f.b;
        else if (f.num == 2 && (rc = want(c, &f, WT_LEN, path, "scope.version")) == 0)
            ver = f.b;
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    return otlp_out_scope(c->o, (const char *)name.p, (size_t)(name.end - name.p),
                          (const char *)ver.p, (size_t)(ver.end - ver.p));
}

static int event(struct pctx *c, struct msg m, const char *path)
{
    struct field f;
    uint64_t t = 0;
    struct msg name = { NULL, NULL };
    size_t na = 0;
    int rc;
    while ((rc = next(c, &m, &f, path)) == 1) {
        if (f.num == 1 && (rc = want(c, &f, WT_I64, path, "timeUnixNano")) == 0)
            t = f.v;
        else if (f.num == 2 && (rc = want(c, &f, WT_LEN, path, "name")) == 0)
            name = f.b;
        else if (f.num == 3)
            rc = attr(c, &f, &c->o->sub, path, na++);
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (t > INT64_MAX)
        return bad(c, m.p, path, "timeUnixNano is past the year 2262");
    otlp_out_event(c->o, t, (const char *)name.p, (size_t)(name.end - name.p));
    return 0;
}

/* link: 1 when its ids are bad (why in why). */
static int link(struct pctx *c, struct msg m, const char *path, char *why, size_t whylen)
{
    struct field f;
    struct msg tid = { NULL, NULL }, sid = { NULL, NULL };
    uint32_t flags = 0;
    size_t na = 0;
    int rc;
    while ((rc = next(c, &m, &f, path)) == 1) {
        if (f.num == 1 && (rc = want(c, &f, WT_LEN, path, "traceId")) == 0)
            tid = f.b;
        else if (f.num == 2 && (rc = want(c, &f, WT_LEN, path, "spanId")) == 0)
            sid = f.b;
        else if (f.num == 4)
            rc = attr(c, &f, &c->o->sub, path, na++);
        else if (f.num == 6 && (rc = want(c, &f, WT_I32, path, "flags")) == 0)
            flags = (uint32_t)f.v;
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    return otlp_out_link(c->o, tid.p, (size_t)(tid.end - tid.p), sid.p, (size_t)(sid.end - sid.p),
                         flags, why, whylen) < 0;
}

static int span(struct pctx *c, struct msg m, const char *path)
{
    struct otlp_span s;
    struct field f;
    size_t na = 0, ne = 0, nl = 0;
    char why[160], p[300];
    int rc, bad_link = 0;

    memset(&s, 0, sizeof s);
    otlp_out_item_begin(c->o);
    while ((rc = next(c, &m, &f, path)) == 1) {
        switch (f.num) {
        case 1:
        case 2:
        case 4:
            if ((rc = want(c, &f, WT_LEN, path, "id")) < 0)
                break;
            if (f.num == 1)
                s.trace_id = f.b.p, s.trace_id_len = blen(&f);
            else if (f.num == 2)
                s.span_id = f.b.p, s.span_id_len = blen(&f);
            else
                s.parent_id = f.b.p, s.parent_id_len = blen(&f);
            break;
        case 3:
            if ((rc = want(c, &f, WT_LEN, path, "traceState")) == 0)
                s.trace_state = (const char *)f.b.p, s.trace_state_len = blen(&f);
            break;
        case 5:
            if ((rc = want(c, &f, WT_LEN, path, "name")) == 0)
                s.name = (const char *)f.b.p, s.name_len = blen(&f);
            break;
        case 6:
            if ((rc = want(c, &f, WT_VARINT, path, "kind")) == 0)
                s.kind = f.v > 5 ? 0 : (uint32_t)f.v;
            break;
        case 7:
            if ((rc = want(c, &f, WT_I64, path, "startTimeUnixNano")) == 0)
                s.start_ns = f.v;
            break;
        case 8:
            if ((rc = want(c, &f, WT_I64, path, "endTimeUnixNano")) == 0)
                s.end_ns = f.v;
            break;
        case 9:
            rc = attr(c, &f, &c->o->attrs, path, na++);
            break;
        case 11:
            if ((rc = want(c, &f, WT_LEN, path, "events")) < 0)
                break;
            pathf(p, sizeof p, "%s.events[%zu]", path, ne++);
            rc = event(c, f.b, p);
            break;
        case 13:
            if ((rc = want(c, &f, WT_LEN, path, "links")) < 0)
                break;
            pathf(p, sizeof p, "%s.links[%zu]", path, nl++);
            rc = link(c, f.b, p, why, sizeof why);
            if (rc == 1)
                bad_link = 1, rc = 0;
            break;
        case 15: {
            if ((rc = want(c, &f, WT_LEN, path, "status")) < 0)
                break;
            struct msg st = f.b;
            struct field g;
            pathf(p, sizeof p, "%s.status", path);
            while ((rc = next(c, &st, &g, p)) == 1) {
                if (g.num == 2 && (rc = want(c, &g, WT_LEN, p, "message")) == 0)
                    s.status_msg = (const char *)g.b.p, s.status_msg_len = blen(&g);
                else if (g.num == 3 && (rc = want(c, &g, WT_VARINT, p, "code")) == 0)
                    s.status_code = g.v > 2 ? 0 : (uint32_t)g.v;
                if (rc < 0)
                    break;
            }
            break;
        }
        case 16:
            if ((rc = want(c, &f, WT_I32, path, "flags")) == 0)
                s.flags = (uint32_t)f.v;
            break;
        default:
            break;
        }
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (bad_link) {
        otlp_out_reject(c->o, path, why);
        return 0;
    }
    rc = otlp_out_span(c->o, &s, path);
    return rc < 0 ? rc : 0;
}

static int log_record(struct pctx *c, struct msg m, const char *path)
{
    struct otlp_log l;
    struct field f;
    struct wbuf bw;
    size_t na = 0;
    int rc;

    memset(&l, 0, sizeof l);
    wbuf_init(&bw, 0);
    otlp_out_item_begin(c->o);
    while ((rc = next(c, &m, &f, path)) == 1) {
        switch (f.num) {
        case 1:
            if ((rc = want(c, &f, WT_I64, path, "timeUnixNano")) == 0)
                l.time_ns = f.v;
            break;
        case 2:
            if ((rc = want(c, &f, WT_VARINT, path, "severityNumber")) == 0)
                l.severity_number = f.v > 24 ? 24 : (uint32_t)f.v;
            break;
        case 3:
            if ((rc = want(c, &f, WT_LEN, path, "severityText")) == 0)
                l.severity_text = (const char *)f.b.p, l.severity_text_len = blen(&f);
            break;
        case 5: {
            if ((rc = want(c, &f, WT_LEN, path, "body")) < 0)
                break;
            /* A string body is the message as is; any other is its JSON. */
            struct msg b = f.b;
            struct field g, last;
            int kind = 0;
            memset(&last, 0, sizeof last);
            while ((rc = next(c, &b, &g, path)) == 1)
                if (g.num >= 1 && g.num <= 7)
                    last = g, kind = (int)g.num;
            if (rc < 0)
                break;
            wbuf_reset(&bw);
            if (kind == 1 && last.wt == WT_LEN) {
                wbuf_put(&bw, last.b.p, blen(&last));
            } else if (kind != 0) {
                char p[300];
                pathf(p, sizeof p, "%s.body", path);
                rc = render_any(c, f.b, &bw, p, 0);
            }
            l.body = bw.data ? (const char *)bw.data : "";
            l.body_len = bw.len;
            break;
        }
        case 6:
            rc = attr(c, &f, &c->o->attrs, path, na++);
            break;
        case 9:
            if ((rc = want(c, &f, WT_LEN, path, "traceId")) == 0)
                l.trace_id = f.b.p, l.trace_id_len = blen(&f);
            break;
        case 10:
            if ((rc = want(c, &f, WT_LEN, path, "spanId")) == 0)
                l.span_id = f.b.p, l.span_id_len = blen(&f);
            break;
        case 11:
            if ((rc = want(c, &f, WT_I64, path, "observedTimeUnixNano")) == 0)
                l.observed_ns = f.v;
            break;
        case 12:
            if ((rc = want(c, &f, WT_LEN, path, "eventName")) == 0)
                l.event_name = (const char *)f.b.p, l.event_name_len = blen(&f);
            break;
        default:
            break;
        }
        if (rc < 0)
            break;
    }
    if (rc == 0 && bw.err != 0)
        rc = TT_ENOMEM;
    if (rc == 0) {
        rc = otlp_out_log(c->o, &l, path);
        rc = rc < 0 ? rc : 0;
    }
    wbuf_release(&bw);
    return rc;
}

typedef int (*item_fn)(struct pctx *c, struct msg m, const char *path);

static int walk(struct otlp_out *o, const uint8_t *p, size_t n, const char *const names[3],
                item_fn item, char *err, size_t errlen)
{
    struct pctx c = { o, p, err, errlen };
    struct msg req = { p, p + n };
    struct field f, g, h;
    size_t i = 0;
    int rc;
    while ((rc = next(&c, &req, &f, "(request)")) == 1) {
        char p1[300];
        if (f.num != 1)
            continue;
        pathf(p1, sizeof p1, "%s[%zu]", names[0], i++);
        if ((rc = want(&c, &f, WT_LEN, "(request)", names[0])) < 0)
            return rc;
        if ((rc = resource(&c, f.b, p1)) < 0)
            return rc;
        struct msg rs = f.b;
        size_t j = 0;
        while ((rc = next(&c, &rs, &g, p1)) == 1) {
            char p2[300];
            if (g.num != 2)
                continue;
            pathf(p2, sizeof p2, "%s.%s[%zu]", p1, names[1], j++);
            if ((rc = want(&c, &g, WT_LEN, p1, names[1])) < 0)
                return rc;
            if ((rc = scope(&c, g.b, p2)) < 0)
                return rc;
            struct msg ss = g.b;
            size_t k = 0;
            while ((rc = next(&c, &ss, &h, p2)) == 1) {
                char p3[300];
                if (h.num != 2)
                    continue;
                pathf(p3, sizeof p3, "%s.%s[%zu]", p2, names[2], k++);
                if ((rc = want(&c, &h, WT_LEN, p2, names[2])) < 0)
                    return rc;
                if ((rc = item(&c, h.b, p3)) < 0)
                    return rc;
            }
            if (rc < 0)
                return rc;
        }
        if (rc < 0)
            return rc;
    }
    return rc;
}

int otlp_pb_traces(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    static const char *const names[3] = { "resourceSpans", "scopeSpans", "spans" };
    return walk(o, p, n, names, span, err, errlen);
}

int otlp_pb_logs(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    static const char *const names[3] = { "resourceLogs", "scopeLogs", "logRecords" };
    return walk(o, p, n, names, log_record, err, errlen);
}

/* ---- metrics ------------------------------------------------------------------ */

/* fixed64s appends a repeated fixed64/double field (packed or not) to w;
 * TT_ESYNTAX for a packed length not a multiple of 8 or another wire type. */
static int fixed64s(struct pctx *c, const struct field *f, struct wbuf *w, const char *path,
                    const char *name)
{
    if (f->wt == WT_I64) {
        wbuf_put_u64(w, f->v);
        return 0;
    }
    int rc = want(c, f, WT_LEN, path, name);
    if (rc < 0)
        return rc;
    if (blen(f) % 8 != 0)
        return bad(c, f->at, path, "packed fixed64 field not a multiple of 8 bytes");
    wbuf_put(w, f->b.p, blen(f));
    return 0;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A metric's kind, as one_metric found it. */
struct mkind {
    struct msg name;
    const char *suffix;
    int counter, delta, histogram;
};

static int number_point(struct pctx *c, struct msg m, const struct mkind *k, const char *path)
{
    struct field f;
    uint64_t t = 0;
    double v = 0;
    int rc, has = 0;
    size_t na = 0;
    otlp_out_item_begin(c->o);
    while ((rc = next(c, &m, &f, path)) == 1) {
        if (f.num == 7)
            rc = attr(c, &f, &c->o->attrs, path, na++);
        else if (f.num == 3 && (rc = want(c, &f, WT_I64, path, "timeUnixNano")) == 0)
            t = f.v;
        else if (f.num == 4 && (rc = want(c, &f, WT_I64, path, "asDouble")) == 0)
            v = f64(f.v), has = 1;
        else if (f.num == 6 && (rc = want(c, &f, WT_I64, path, "asInt")) == 0)
            v = (double)(int64_t)f.v, has = 1;
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (k->delta) {
        otlp_out_reject(c->o, path, "delta temporality is not supported (send cumulative)");
        return 0;
    }
    if (!has) {
        otlp_out_reject(c->o, path, "no value");
        return 0;
    }
    rc = otlp_out_metric(c->o, (const char *)k->name.p, (size_t)(k->name.end - k->name.p),
                         k->suffix, k->counter, t, v, NULL, path);
    return rc < 0 ? rc : 0;
}

static int histogram_point(struct pctx *c, struct msg m, const struct mkind *k, const char *path)
{
    struct field f;
    struct wbuf counts, bounds;
    uint64_t t = 0, count = 0, cum = 0;
    double sum = 0;
    int rc, has_sum = 0;
    size_t na = 0;
    const char *nm = (const char *)k->name.p;
    size_t nl = (size_t)(k->name.end - k->name.p);
    char le[40];

    wbuf_init(&counts, 0);
    wbuf_init(&bounds, 0);
    otlp_out_item_begin(c->o);
    while ((rc = next(c, &m, &f, path)) == 1) {
        if (f.num == 9)
            rc = attr(c, &f, &c->o->attrs, path, na++);
        else if (f.num == 3 && (rc = want(c, &f, WT_I64, path, "timeUnixNano")) == 0)
            t = f.v;
        else if (f.num == 4 && (rc = want(c, &f, WT_I64, path, "count")) == 0)
            count = f.v;
        else if (f.num == 5 && (rc = want(c, &f, WT_I64, path, "sum")) == 0)
            sum = f64(f.v), has_sum = 1;
        else if (f.num == 6)
            rc = fixed64s(c, &f, &counts, path, "bucketCounts");
        else if (f.num == 7)
            rc = fixed64s(c, &f, &bounds, path, "explicitBounds");
        if (rc < 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    if (counts.err != 0 || bounds.err != 0) {
        rc = TT_ENOMEM;
        goto out;
    }
    size_t nb = counts.len / 8, nx = bounds.len / 8;
    if (k->delta) {
        otlp_out_reject(c->o, path, "delta temporality is not supported (send cumulative)");
        goto out;
    }
    if (nb != 0 && nb != nx + 1) {
        otlp_out_reject(c->o, path, "bucketCounts must have one more entry than explicitBounds");
        goto out;
    }
    for (size_t i = 0; i < nb && rc >= 0; i++) {
        cum += le64(counts.data + 8 * i);
        if (i < nx)
            json_format_double(f64(le64(bounds.data + 8 * i)), le, sizeof le);
        else
            snprintf(le, sizeof le, "+Inf");
        rc = otlp_out_metric(c->o, nm, nl, "_bucket", 1, t, (double)cum, le, path);
    }
    if (rc >= 0 && has_sum)
        rc = otlp_out_metric(c->o, nm, nl, "_sum", 1, t, sum, NULL, path);
    if (rc >= 0)
        rc = otlp_out_metric(c->o, nm, nl, "_count", 1, t, (double)count, NULL, path);
out:
    wbuf_release(&counts);
    wbuf_release(&bounds);
    return rc < 0 ? rc : 0;
}

static int one_metric(struct pctx *c, struct msg m, const char *path)
{
    struct field f, g;
    struct mkind k;
    struct msg data = { NULL, NULL };
    uint32_t which = 0;
    int rc, mono = 0;
    uint64_t temp = 0;
    char p[300];

    memset(&k, 0, sizeof k);
    while ((rc = next(c, &m, &f, path)) == 1) {
        if (f.num == 1 && (rc = want(c, &f, WT_LEN, path, "name")) == 0)
            k.name = f.b;
        else if ((f.num == 5 || f.num == 7 || f.num == 9 || f.num == 10 || f.num == 11) &&
                 (rc = want(c, &f, WT_LEN, path, "data")) == 0)
            data = f.b, which = f.num;
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (which != 5 && which != 7 && which != 9) {
        otlp_out_reject(c->o, path, "only gauge, sum and histogram metrics are supported");
        return 0;
    }
    struct msg d = data;
    while ((rc = next(c, &d, &g, path)) == 1) {
        if (g.num == 2 && which != 5 &&
            (rc = want(c, &g, WT_VARINT, path, "aggregationTemporality")) == 0)
            temp = g.v;
        else if (g.num == 3 && which == 7 &&
                 (rc = want(c, &g, WT_VARINT, path, "isMonotonic")) == 0)
            mono = g.v != 0;
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    size_t nl = (size_t)(k.name.end - k.name.p);
    k.delta = temp == 1;
    k.counter = which == 9 || mono;
    k.histogram = which == 9;
    if (which == 7 && mono && !(nl >= 6 && memcmp(k.name.end - 6, "_total", 6) == 0))
        k.suffix = "_total";
    d = data;
    size_t i = 0;
    while ((rc = next(c, &d, &g, path)) == 1) {
        if (g.num != 1)
            continue;
        if ((rc = want(c, &g, WT_LEN, path, "dataPoints")) < 0)
            return rc;
        pathf(p, sizeof p, "%s.%s.dataPoints[%zu]", path,
              which == 5   ? "gauge"
              : which == 7 ? "sum"
                           : "histogram",
              i++);
        rc = k.histogram ? histogram_point(c, g.b, &k, p) : number_point(c, g.b, &k, p);
        if (rc < 0)
            return rc;
    }
    return rc;
}

int otlp_pb_metrics(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    static const char *const names[3] = { "resourceMetrics", "scopeMetrics", "metrics" };
    return walk(o, p, n, names, one_metric, err, errlen);
}
