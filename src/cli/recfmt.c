/*
 * recfmt.c - records as text lines and JSON lines (see recfmt.h).
 *
 * Invariant: a record is appended whole or not at all (on a decode error the
 * buffer is cut back to where the record started), and every byte taken from
 * a record goes through core/json.h's escaping, so a hostile string can
 * neither break the one-line-per-record layout nor the JSON.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli/recfmt.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/loglin.h"

static void put_s(struct wbuf *b, const char *s)
{
    wbuf_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct wbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        wbuf_put(b, tmp, (size_t)n);
        return;
    }
    if (wbuf_reserve(b, (size_t)n + 1) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void put_hex(struct wbuf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        wbuf_put_u8(b, (uint8_t)hex[p[i] >> 4]);
        wbuf_put_u8(b, (uint8_t)hex[p[i] & 15]);
    }
}

static void put_id64(struct wbuf *b, uint64_t id)
{
    putf(b, "%016" PRIx64, id);
}

/* JSON key: ,"name": (the comma unless it is the object's first key). */
static void key(struct wbuf *b, const char *name)
{
    if (b->len > 0 && b->data[b->len - 1] != '{')
        wbuf_put_u8(b, ',');
    wbuf_put_u8(b, '"');
    put_s(b, name);
    put_s(b, "\":");
}

void recfmt_time(struct wbuf *b, int64_t ns)
{
    int64_t sec = ns / TT_NS_PER_S, frac = ns % TT_NS_PER_S;
    time_t t;
    struct tm tm;

    if (frac < 0) {
        frac += TT_NS_PER_S;
        sec--;
    }
    t = (time_t)sec;
    if (gmtime_r(&t, &tm) == NULL) {
        putf(b, "@%" PRId64 "ns", ns);
        return;
    }
    putf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z", tm.tm_year + 1900, tm.tm_mon + 1,
         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void recfmt_duration(struct wbuf *b, uint64_t ns)
{
    if (ns < 1000)
        putf(b, "%" PRIu64 "ns", ns);
    else if (ns < UINT64_C(1000000))
        putf(b, "%" PRIu64 ".%03" PRIu64 "us", ns / 1000, ns % 1000);
    else if (ns < UINT64_C(1000000000))
        putf(b, "%" PRIu64 ".%03" PRIu64 "ms", ns / 1000000, ns / 1000 % 1000);
    else
        putf(b, "%" PRIu64 ".%03" PRIu64 "s", ns / 1000000000, ns / 1000000 % 1000);
}

static const char *kind_name(uint8_t k)
{
    static const char *const names[] = { "internal", "server", "client", "producer", "consumer" };
    return k < 5 ? names[k] : NULL;
}

static const char *status_name(uint8_t s)
{
    static const char *const names[] = { "unset", "ok", "error" };
    return s < 3 ? names[s] : NULL;
}

static const char *severity_name(uint8_t s)
{
    static const char *const names[] = { NULL,      "debug", "info",    "notice",
                                         "warning", "error", "critical" };
    return s < 7 ? names[s] : NULL;
}

static const char *metric_kind_name(uint8_t k)
{
    static const char *const names[] = { NULL, "counter", "gauge", "histogram" };
    return k < 4 ? names[k] : NULL;
}

/* put_enum writes a name from a table, or "<what>(N)" for a code it lacks. */
static void put_enum(struct wbuf *b, const char *name, const char *what, uint8_t code, int json)
{
    if (json)
        wbuf_put_u8(b, '"');
    if (name != NULL)
        put_s(b, name);
    else
        putf(b, "%s(%u)", what, code);
    if (json)
        wbuf_put_u8(b, '"');
}

static void put_value(struct wbuf *b, const struct rec_value *v, int json)
{
    char tmp[40];

    switch (v->type) {
    case TT_VAL_STR:
        json_put_str(b, v->u.s.p, v->u.s.len);
        break;
    case TT_VAL_INT:
        json_put_i64(b, v->u.i);
        break;
    case TT_VAL_DOUBLE:
        if (json) {
            json_put_double(b, v->u.d);
        } else {
            wbuf_put(b, tmp, json_format_double(v->u.d, tmp, sizeof(tmp)));
        }
        break;
    case TT_VAL_BOOL:
        put_s(b, v->u.b ? "true" : "false");
        break;
    default:
        put_s(b, "null");
        break;
    }
}

/* put_origin writes the batch origin "node\0process" as node/process (text). */
static void put_origin_text(struct wbuf *b, const struct batch_hdr *h)
{
    const char *nul = h->origin_len ? memchr(h->origin, '\0', h->origin_len) : NULL;

    if (h->origin_len == 0) {
        wbuf_put_u8(b, '-');
        return;
    }
    if (nul == NULL) {
        json_escape(b, h->origin, h->origin_len);
        return;
    }
    json_escape(b, h->origin, (size_t)(nul - h->origin));
    wbuf_put_u8(b, '/');
    json_escape(b, nul + 1, h->origin_len - (size_t)(nul - h->origin) - 1);
}

/* text_head writes "<word> <origin> ", what follows the time and HLC. */
static void text_head(struct wbuf *b, const char *word, const struct recfmt_src *src)
{
    put_s(b, word);
    wbuf_put_u8(b, ' ');
    put_origin_text(b, src->h);
    wbuf_put_u8(b, ' ');
}

/* put_kvs writes a key/value list: {k="v", n=1} (text, sep between entries)
 * or {"k":"v","n":1} (JSON). Returns 0 or the iterator's error. */
static int put_kvs(struct wbuf *b, const struct rec_list *l, int json, const char *sep,
                   const char *what, char *err, size_t errlen)
{
    struct rec_list it = *l;
    struct rec_str k;
    struct rec_value v;
    int rc, first = 1;

    wbuf_put_u8(b, '{');
    while ((rc = rec_kv_next(&it, &k, &v)) == 1) {
        if (!first)
            put_s(b, json ? "," : sep);
        first = 0;
        if (json) {
            json_put_str(b, k.p, k.len);
            wbuf_put_u8(b, ':');
        } else {
            json_escape(b, k.p, k.len);
            wbuf_put_u8(b, '=');
        }
        put_value(b, &v, json);
    }
    wbuf_put_u8(b, '}');
    if (rc < 0) {
        snprintf(err, errlen, "%s: malformed key/value entry", what);
        return rc;
    }
    return 0;
}

/* ---- spans ----------------------------------------------------------------- */

static int span_events(struct wbuf *b, const struct rec *r, const struct rec_list *l, int json,
                       char *err, size_t errlen)
{
    struct rec_list it = *l;
    struct rec_span_event ev;
    int rc, first = 1;

    wbuf_put_u8(b, '[');
    while ((rc = rec_span_event_next(&it, &ev)) == 1) {
        if (!first)
            put_s(b, json ? "," : ", ");
        first = 0;
        if (json) {
            wbuf_put_u8(b, '{');
            key(b, "time_ns");
            json_put_i64(b, ev.time_ns);
            key(b, "time");
            wbuf_put_u8(b, '"');
            recfmt_time(b, ev.time_ns);
            wbuf_put_u8(b, '"');
            key(b, "name");
            json_put_str(b, ev.name.p, ev.name.len);
            key(b, "attrs");
        } else {
            json_escape(b, ev.name.p, ev.name.len);
            put_s(b, ev.time_ns >= r->time_ns ? "@+" : "@-");
            recfmt_duration(b, ev.time_ns >= r->time_ns
                                   ? (uint64_t)ev.time_ns - (uint64_t)r->time_ns
                                   : (uint64_t)r->time_ns - (uint64_t)ev.time_ns);
            if (ev.attrs.count == 0)
                continue;
            wbuf_put_u8(b, ' ');
        }
        rc = put_kvs(b, &ev.attrs, json, ", ", "span event attrs", err, errlen);
        if (rc != 0)
            return rc;
        if (json)
            wbuf_put_u8(b, '}');
    }
    if (rc < 0) {
        snprintf(err, errlen, "span events: malformed entry");
        return rc;
    }
    wbuf_put_u8(b, ']');
    return 0;
}

static int span_links(struct wbuf *b, const struct rec_list *l, int json, char *err, size_t errlen)
{
    struct rec_list it = *l;
    struct rec_span_link ln;
    int rc, first = 1;

    wbuf_put_u8(b, '[');
    while ((rc = rec_span_link_next(&it, &ln)) == 1) {
        if (!first)
            put_s(b, json ? "," : ", ");
        first = 0;
        if (json) {
            wbuf_put_u8(b, '{');
            key(b, "trace_id");
            wbuf_put_u8(b, '"');
            put_hex(b, ln.trace_id, 16);
            wbuf_put_u8(b, '"');
            key(b, "span_id");
            wbuf_put_u8(b, '"');
            put_id64(b, ln.span_id);
            wbuf_put_u8(b, '"');
            key(b, "flags");
            json_put_u64(b, ln.flags);
            key(b, "attrs");
        } else {
            put_hex(b, ln.trace_id, 16);
            wbuf_put_u8(b, ':');
            put_id64(b, ln.span_id);
            if (ln.attrs.count == 0)
                continue;
            wbuf_put_u8(b, ' ');
        }
        rc = put_kvs(b, &ln.attrs, json, ", ", "span link attrs", err, errlen);
        if (rc != 0)
            return rc;
        if (json)
            wbuf_put_u8(b, '}');
    }
    if (rc < 0) {
        snprintf(err, errlen, "span links: malformed entry");
        return rc;
    }
    wbuf_put_u8(b, ']');
    return 0;
}

static int fmt_span(struct wbuf *b, const struct rec *r, const struct recfmt_src *src, int json,
                    char *err, size_t errlen)
{
    struct rec_span s;
    int rc = rec_decode_span(r, &s, err, errlen);

    if (rc != 0)
        return rc;
    if (json) {
        key(b, "name");
        json_put_str(b, s.name.p, s.name.len);
        key(b, "trace_id");
        wbuf_put_u8(b, '"');
        put_hex(b, s.trace_id, 16);
        put_s(b, "\",\"span_id\":\"");
        put_id64(b, s.span_id);
        put_s(b, "\",\"parent_id\":\"");
        put_id64(b, s.parent_id);
        wbuf_put_u8(b, '"');
        key(b, "duration_ns");
        json_put_u64(b, s.duration_ns);
        key(b, "kind");
        put_enum(b, kind_name(s.kind), "kind", s.kind, 1);
        key(b, "status");
        put_enum(b, status_name(s.status), "status", s.status, 1);
        key(b, "status_message");
        json_put_str(b, s.status_message.p, s.status_message.len);
        key(b, "flags");
        json_put_u64(b, s.flags);
        key(b, "attrs");
    } else {
        text_head(b, "span", src);
        json_escape(b, s.name.p, s.name.len);
        put_s(b, " trace=");
        put_hex(b, s.trace_id, 16);
        put_s(b, " span=");
        put_id64(b, s.span_id);
        if (s.parent_id != 0) {
            put_s(b, " parent=");
            put_id64(b, s.parent_id);
        }
        put_s(b, " dur=");
        recfmt_duration(b, s.duration_ns);
        put_s(b, " kind=");
        put_enum(b, kind_name(s.kind), "kind", s.kind, 0);
        put_s(b, " status=");
        put_enum(b, status_name(s.status), "status", s.status, 0);
        if (s.status_message.len > 0) {
            wbuf_put_u8(b, '(');
            json_put_str(b, s.status_message.p, s.status_message.len);
            wbuf_put_u8(b, ')');
        }
        if (s.flags != TT_FLAG_SAMPLED)
            putf(b, " flags=%02x", s.flags);
    }
    if (json || s.attrs.count > 0) {
        if (!json)
            put_s(b, " attrs=");
        rc = put_kvs(b, &s.attrs, json, ", ", "span attrs", err, errlen);
        if (rc != 0)
            return rc;
    }
    if (json || s.events.count > 0) {
        if (json)
            key(b, "events");
        else
            put_s(b, " events=");
        rc = span_events(b, r, &s.events, json, err, errlen);
        if (rc != 0)
            return rc;
    }
    if (json || s.links.count > 0) {
        if (json)
            key(b, "links");
        else
            put_s(b, " links=");
        rc = span_links(b, &s.links, json, err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- metrics --------------------------------------------------------------- */

static int buckets(struct wbuf *b, const struct rec_metric *m, int json, char *err, size_t errlen)
{
    struct rec_list it = m->buckets;
    int p = m->precision_bits, known = p >= LOGLIN_P_MIN && p <= LOGLIN_P_MAX;
    int32_t idx;
    uint64_t n;
    int rc, first = 1;
    char lo[40], hi[40];

    /* Text lists the intervals bare, "[lo,hi):n [lo,hi):n", JSON as an array. */
    if (json)
        wbuf_put_u8(b, '[');
    while ((rc = rec_bucket_next(&it, &idx, &n)) == 1) {
        double l = known ? loglin_lower(idx, p) : 0, u = known ? loglin_upper(idx, p) : 0;
        if (!first)
            wbuf_put_u8(b, json ? ',' : ' ');
        first = 0;
        if (json) {
            putf(b, "{\"index\":%" PRId32 ",\"lower\":", idx);
            json_put_double(b, l);
            put_s(b, ",\"upper\":");
            json_put_double(b, u);
            putf(b, ",\"count\":%" PRIu64 "}", n);
            continue;
        }
        if (!known) {
            putf(b, "#%" PRId32 ":%" PRIu64, idx, n);
            continue;
        }
        json_format_double(l, lo, sizeof(lo));
        json_format_double(u, hi, sizeof(hi));
        /* Negative buckets hold lower >= v > upper: print them in order. */
        if (idx < 0)
            putf(b, "(%s,%s]:%" PRIu64, hi, lo, n);
        else
            putf(b, "[%s,%s):%" PRIu64, lo, hi, n);
    }
    if (json)
        wbuf_put_u8(b, ']');
    if (rc < 0) {
        snprintf(err, errlen, "histogram buckets: malformed entry");
        return rc;
    }
    return 0;
}

static int fmt_metric(struct wbuf *b, const struct rec *r, const struct recfmt_src *src, int json,
                      char *err, size_t errlen)
{
    struct rec_metric m;
    char tmp[40];
    int rc = rec_decode_metric(r, &m, err, errlen);

    if (rc != 0)
        return rc;
    if (json) {
        key(b, "kind");
        put_enum(b, metric_kind_name(m.kind), "kind", m.kind, 1);
        key(b, "name");
        json_put_str(b, m.name.p, m.name.len);
        key(b, "help");
        json_put_str(b, m.help.p, m.help.len);
        key(b, "labels");
        rc = put_kvs(b, &m.labels, 1, ",", "labels", err, errlen);
        if (rc != 0)
            return rc;
        if (m.kind != REC_METRIC_HISTOGRAM) {
            key(b, "value");
            json_put_double(b, m.value);
            return 0;
        }
        putf(b, ",\"precision_bits\":%u,\"count\":%" PRIu64 ",\"sum\":", m.precision_bits, m.count);
        json_put_double(b, m.sum);
        key(b, "min");
        json_put_double(b, m.min);
        key(b, "max");
        json_put_double(b, m.max);
        key(b, "buckets");
        return buckets(b, &m, 1, err, errlen);
    }
    /* In text the metric's kind stands where other records have their type. */
    text_head(b, metric_kind_name(m.kind) ? metric_kind_name(m.kind) : "metric", src);
    json_escape(b, m.name.p, m.name.len);
    if (m.labels.count > 0) {
        rc = put_kvs(b, &m.labels, 0, ",", "labels", err, errlen);
        if (rc != 0)
            return rc;
    }
    if (m.kind != REC_METRIC_HISTOGRAM) {
        wbuf_put_u8(b, ' ');
        wbuf_put(b, tmp, json_format_double(m.value, tmp, sizeof(tmp)));
        return 0;
    }
    putf(b, " count=%" PRIu64 " sum=", m.count);
    wbuf_put(b, tmp, json_format_double(m.sum, tmp, sizeof(tmp)));
    put_s(b, " min=");
    wbuf_put(b, tmp, json_format_double(m.min, tmp, sizeof(tmp)));
    put_s(b, " max=");
    wbuf_put(b, tmp, json_format_double(m.max, tmp, sizeof(tmp)));
    putf(b, " p=%u", m.precision_bits);
    if (m.buckets.count == 0)
        return 0;
    put_s(b, " buckets=");
    return buckets(b, &m, 0, err, errlen);
}

/* ---- events and state changes -------------------------------------------- */

static int fmt_event(struct wbuf *b, const struct rec *r, const struct recfmt_src *src, int json,
                     char *err, size_t errlen)
{
    struct rec_event e;
    int rc = rec_decode_event(r, &e, err, errlen);

    if (rc != 0)
        return rc;
    if (json) {
        key(b, "severity");
        put_enum(b, severity_name(e.severity), "severity", e.severity, 1);
        key(b, "component");
        json_put_str(b, e.component.p, e.component.len);
        key(b, "name");
        json_put_str(b, e.name.p, e.name.len);
        key(b, "message");
        json_put_str(b, e.message.p, e.message.len);
        key(b, "attrs");
        return put_kvs(b, &e.attrs, 1, ",", "event attrs", err, errlen);
    }
    text_head(b, "event", src);
    put_enum(b, severity_name(e.severity), "severity", e.severity, 0);
    wbuf_put_u8(b, ' ');
    if (e.component.len > 0) {
        json_escape(b, e.component.p, e.component.len);
        wbuf_put_u8(b, '/');
    }
    json_escape(b, e.name.p, e.name.len);
    if (e.message.len > 0) {
        put_s(b, ": ");
        json_put_str(b, e.message.p, e.message.len);
    }
    if (e.attrs.count == 0)
        return 0;
    put_s(b, " attrs=");
    return put_kvs(b, &e.attrs, 0, ", ", "event attrs", err, errlen);
}

static int fmt_state(struct wbuf *b, const struct rec *r, const struct recfmt_src *src, int json,
                     char *err, size_t errlen)
{
    struct rec_state s;
    int rc = rec_decode_state(r, &s, err, errlen);

    if (rc != 0)
        return rc;
    if (json) {
        key(b, "log");
        json_put_str(b, s.log.p, s.log.len);
        key(b, "var");
        json_put_str(b, s.var.p, s.var.len);
        key(b, "value");
        put_value(b, &s.value, 1);
        key(b, "prev");
        put_value(b, &s.prev, 1);
        return 0;
    }
    text_head(b, "state", src);
    json_escape(b, s.log.p, s.log.len);
    wbuf_put_u8(b, '/');
    json_escape(b, s.var.p, s.var.len);
    put_s(b, ": ");
    put_value(b, &s.value, 0);
    if (s.prev.type != TT_VAL_NONE) {
        put_s(b, " (was ");
        put_value(b, &s.prev, 0);
        wbuf_put_u8(b, ')');
    }
    return 0;
}

/* ---- records ----------------------------------------------------------------- */

int recfmt_known(uint8_t type)
{
    return type >= REC_SPAN && type <= REC_STATE;
}

static int fmt_body(struct wbuf *b, const struct rec *r, const struct recfmt_src *src, int json,
                    char *err, size_t errlen)
{
    switch (r->type) {
    case REC_SPAN:
        return fmt_span(b, r, src, json, err, errlen);
    case REC_METRIC:
        return fmt_metric(b, r, src, json, err, errlen);
    case REC_EVENT:
        return fmt_event(b, r, src, json, err, errlen);
    case REC_STATE:
        return fmt_state(b, r, src, json, err, errlen);
    default:
        snprintf(err, errlen, "unknown record type %u", r->type);
        return TT_EUNSUPPORTED;
    }
}

int recfmt_text(struct wbuf *out, const struct rec *r, const struct recfmt_src *src, char *err,
                size_t errlen)
{
    size_t mark = out->len;
    int rc;

    if (!recfmt_known(r->type))
        return fmt_body(out, r, src, 0, err, errlen);
    recfmt_time(out, r->time_ns);
    putf(out, " hlc=%" PRIu64 ".%u ", (uint64_t)TT_HLC_L(r->hlc), (unsigned)TT_HLC_C(r->hlc));
    rc = fmt_body(out, r, src, 0, err, errlen);
    if (rc != 0) {
        out->len = mark;
        return rc;
    }
    wbuf_put_u8(out, '\n');
    return 0;
}

int recfmt_json(struct wbuf *out, const struct rec *r, const struct recfmt_src *src, char *err,
                size_t errlen)
{
    const struct batch_hdr *h = src->h;
    const char *nul = h->origin_len ? memchr(h->origin, '\0', h->origin_len) : NULL;
    size_t node_len = nul ? (size_t)(nul - h->origin) : h->origin_len;
    size_t mark = out->len;
    int rc;

    if (!recfmt_known(r->type))
        return fmt_body(out, r, src, 1, err, errlen);
    put_s(out, "{\"type\":\"");
    put_s(out, rec_type_name(r->type));
    put_s(out, "\",\"file\":");
    json_put_cstr(out, src->file);
    putf(out, ",\"offset\":%" PRIu64 ",\"origin_id\":\"", src->offset);
    put_id64(out, h->origin_id);
    put_s(out, "\",\"node\":");
    json_put_str(out, h->origin, node_len);
    put_s(out, ",\"process\":");
    if (nul != NULL)
        json_put_str(out, nul + 1, h->origin_len - node_len - 1);
    else
        json_put_str(out, "", 0);
    putf(out,
         ",\"seq\":%" PRIu64 ",\"hlc\":%" PRIu64 ",\"hlc_l\":%" PRIu64 ",\"hlc_c\":%u"
         ",\"time_ns\":%" PRId64 ",\"time\":\"",
         src->seq, (uint64_t)r->hlc, (uint64_t)TT_HLC_L(r->hlc), (unsigned)TT_HLC_C(r->hlc),
         r->time_ns);
    recfmt_time(out, r->time_ns);
    putf(out, "\",\"record_flags\":%u", r->flags);
    rc = fmt_body(out, r, src, 1, err, errlen);
    if (rc != 0) {
        out->len = mark;
        return rc;
    }
    put_s(out, "}\n");
    return 0;
}
