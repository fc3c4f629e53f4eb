/*
 * otlp_out.c - turning decoded OTLP and Zipkin items into core records,
 * grouped by origin. See otlp_out.h; the mapping is in docs/design/otlp.md.
 */
#include "server/otlp_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/record.h"

void otlp_out_init(struct otlp_out *o)
{
    memset(o, 0, sizeof(*o));
    wbuf_init(&o->res_attrs.b, 0);
    wbuf_init(&o->scope_attrs.b, 0);
    wbuf_init(&o->attrs.b, 0);
    wbuf_init(&o->events.b, 0);
    wbuf_init(&o->links.b, 0);
    wbuf_init(&o->sub.b, 0);
    wbuf_init(&o->comb, 0);
}

void otlp_out_release(struct otlp_out *o)
{
    for (size_t i = 0; i < o->ngroups; i++) {
        free(o->groups[i].origin);
        wbuf_release(&o->groups[i].body);
    }
    free(o->groups);
    free(o->scope_name);
    wbuf_release(&o->res_attrs.b);
    wbuf_release(&o->scope_attrs.b);
    wbuf_release(&o->attrs.b);
    wbuf_release(&o->events.b);
    wbuf_release(&o->links.b);
    wbuf_release(&o->sub.b);
    wbuf_release(&o->comb);
    memset(o, 0, sizeof(*o));
}

uint64_t otlp_origin_id(const char *origin, size_t origin_len)
{
    static const char tag[] = "otlp";
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < sizeof tag; i++) /* the tag and its NUL */
        h = (h ^ (uint8_t)tag[i]) * UINT64_C(0x100000001b3);
    for (size_t i = 0; i < origin_len; i++)
        h = (h ^ (uint8_t)origin[i]) * UINT64_C(0x100000001b3);
    return h ? h : 1;
}

static void kvs_reset(struct otlp_kvs *k)
{
    wbuf_reset(&k->b);
    k->n = 0;
}

int otlp_out_resource(struct otlp_out *o, const char *service, size_t service_len, const char *node,
                      size_t node_len)
{
    if (service == NULL || service_len == 0) {
        service = OTLP_UNKNOWN_SERVICE;
        service_len = strlen(OTLP_UNKNOWN_SERVICE);
    }
    if (node == NULL || node_len == 0) {
        node = o->default_node ? o->default_node : "";
        node_len = strlen(node);
    }
    /* The node ends at the origin's first NUL: cut one inside it there. */
    const char *nul = memchr(node, '\0', node_len);
    if (nul != NULL)
        node_len = (size_t)(nul - node);
    /* The origin is at most BATCH_ORIGIN_MAX (1024) bytes: long names are cut. */
    if (node_len > 255)
        node_len = 255;
    if (service_len > 767)
        service_len = 767;
    kvs_reset(&o->res_attrs);
    kvs_reset(&o->scope_attrs);
    free(o->scope_name);
    o->scope_name = NULL;
    size_t olen = node_len + 1 + service_len;
    for (size_t i = 0; i < o->ngroups; i++) {
        struct otlp_group *g = &o->groups[i];
        if (g->origin_len == olen && memcmp(g->origin, node, node_len) == 0 &&
            memcmp(g->origin + node_len + 1, service, service_len) == 0 &&
            g->origin[node_len] == '\0') {
            o->cur = i;
            return 0;
        }
    }
    if (o->ngroups == o->capgroups) {
        size_t nc = o->capgroups ? o->capgroups * 2 : 4;
        struct otlp_group *n = realloc(o->groups, nc * sizeof(*n));
        if (n == NULL)
            return TT_ENOMEM;
        o->groups = n;
        o->capgroups = nc;
    }
    struct otlp_group *g = &o->groups[o->ngroups];
    memset(g, 0, sizeof(*g));
    g->origin = malloc(olen);
    if (g->origin == NULL)
        return TT_ENOMEM;
    memcpy(g->origin, node, node_len);
    g->origin[node_len] = '\0';
    memcpy(g->origin + node_len + 1, service, service_len);
    g->origin_len = olen;
    g->origin_id = otlp_origin_id(g->origin, olen);
    wbuf_init(&g->body, 0);
    o->cur = o->ngroups++;
    return 0;
}

int otlp_out_scope(struct otlp_out *o, const char *name, size_t name_len, const char *version,
                   size_t version_len)
{
    kvs_reset(&o->scope_attrs);
    free(o->scope_name);
    o->scope_name = NULL;
    if (name != NULL && name_len > 0) {
        o->scope_name = malloc(name_len + 1);
        if (o->scope_name == NULL)
            return TT_ENOMEM;
        memcpy(o->scope_name, name, name_len);
        o->scope_name[name_len] = '\0';
        otlp_kv_str(&o->scope_attrs, "otel.scope.name", 15, name, name_len);
    }
    if (version != NULL && version_len > 0)
        otlp_kv_str(&o->scope_attrs, "otel.scope.version", 18, version, version_len);
    return o->scope_attrs.b.err;
}

void otlp_out_item_begin(struct otlp_out *o)
{
    kvs_reset(&o->attrs);
    kvs_reset(&o->events);
    kvs_reset(&o->links);
    kvs_reset(&o->sub);
}

void otlp_kv_str(struct otlp_kvs *k, const char *key, size_t keylen, const char *s, size_t n)
{
    struct rec_value v = { .type = TT_VAL_STR };
    v.u.s.p = s;
    v.u.s.len = (uint32_t)n;
    rec_kv_put(&k->b, key, keylen, &v);
    k->n++;
}

void otlp_kv_int(struct otlp_kvs *k, const char *key, size_t keylen, int64_t i)
{
    struct rec_value v = { .type = TT_VAL_INT };
    v.u.i = i;
    rec_kv_put(&k->b, key, keylen, &v);
    k->n++;
}

void otlp_kv_double(struct otlp_kvs *k, const char *key, size_t keylen, double d)
{
    struct rec_value v = { .type = TT_VAL_DOUBLE };
    v.u.d = d;
    rec_kv_put(&k->b, key, keylen, &v);
    k->n++;
}

void otlp_kv_bool(struct otlp_kvs *k, const char *key, size_t keylen, int b)
{
    struct rec_value v = { .type = TT_VAL_BOOL };
    v.u.b = b != 0;
    rec_kv_put(&k->b, key, keylen, &v);
    k->n++;
}

static struct rec_list kvs_list(const struct otlp_kvs *k)
{
    struct rec_list l = { k->n, k->b.data, (uint32_t)k->b.len, 0 };
    if (k->n == 0)
        l.bytes = NULL, l.len = 0;
    return l;
}

void otlp_out_event(struct otlp_out *o, uint64_t time_ns, const char *name, size_t name_len)
{
    struct rec_list a = kvs_list(&o->sub);
    rec_span_event_put(&o->events.b, (int64_t)time_ns, name, name_len, &a);
    o->events.n++;
    kvs_reset(&o->sub);
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* check_ids checks a trace id (16 bytes) and span id (8 bytes): wrong
 * lengths and all-zero ids are invalid (W3C Trace Context). */
static int check_ids(const char *what, const uint8_t *t, size_t tlen, const uint8_t *s, size_t slen,
                     char *err, size_t errlen)
{
    if (tlen != 16 || t == NULL) {
        snprintf(err, errlen, "%straceId has %zu bytes, not 16", what, tlen);
        return TT_EINVAL;
    }
    if (all_zero(t, 16)) {
        snprintf(err, errlen, "%straceId is all zero", what);
        return TT_EINVAL;
    }
    if (slen != 8 || s == NULL) {
        snprintf(err, errlen, "%sspanId has %zu bytes, not 8", what, slen);
        return TT_EINVAL;
    }
    if (all_zero(s, 8)) {
        snprintf(err, errlen, "%sspanId is all zero", what);
        return TT_EINVAL;
    }
    return 0;
}

int otlp_out_link(struct otlp_out *o, const uint8_t *trace_id, size_t trace_id_len,
                  const uint8_t *span_id, size_t span_id_len, uint32_t flags, char *err,
                  size_t errlen)
{
    int rc = check_ids("link ", trace_id, trace_id_len, span_id, span_id_len, err, errlen);
    if (rc < 0) {
        kvs_reset(&o->sub);
        return rc;
    }
    struct rec_list a = kvs_list(&o->sub);
    rec_span_link_put(&o->links.b, trace_id, be64(span_id), (uint8_t)flags, &a);
    o->links.n++;
    kvs_reset(&o->sub);
    return 0;
}

void otlp_out_reject(struct otlp_out *o, const char *where, const char *why)
{
    if (o->rejected++ == 0)
        snprintf(o->reject_msg, sizeof o->reject_msg, "%s: %s", where, why);
}

/* combine puts the item's attributes, then the resource's and the scope's,
 * in o->comb and returns the list. */
static struct rec_list combine(struct otlp_out *o, struct otlp_kvs *extra)
{
    struct wbuf *c = &o->comb;
    wbuf_reset(c);
    wbuf_put(c, o->attrs.b.data, o->attrs.b.len);
    if (extra != NULL)
        wbuf_put(c, extra->b.data, extra->b.len);
    wbuf_put(c, o->res_attrs.b.data, o->res_attrs.b.len);
    wbuf_put(c, o->scope_attrs.b.data, o->scope_attrs.b.len);
    uint32_t n = o->attrs.n + o->res_attrs.n + o->scope_attrs.n + (extra ? extra->n : 0);
    struct rec_list l = { n, c->data, (uint32_t)c->len, 0 };
    return l;
}

uint64_t otlp_tracestate_hlc(const char *ts, size_t len)
{
    size_t pos = 0;
    while (ts != NULL && pos < len) {
        const char *comma = memchr(ts + pos, ',', len - pos);
        size_t end = comma != NULL ? (size_t)(comma - ts) : len, b = pos, e = end;
        while (b < e && (ts[b] == ' ' || ts[b] == '\t'))
            b++;
        while (e > b && (ts[e - 1] == ' ' || ts[e - 1] == '\t'))
            e--;
        if (e - b == 19 && ts[b] == 't' && ts[b + 1] == 't' && ts[b + 2] == '=') {
            uint64_t h = 0;
            size_t i;
            for (i = b + 3; i < e; i++) {
                char ch = ts[i];
                int d = ch >= '0' && ch <= '9'   ? ch - '0'
                        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                                 : -1;
                if (d < 0)
                    break;
                h = h << 4 | (uint64_t)d;
            }
            return i == e ? h : 0;
        }
        pos = end + 1;
    }
    return 0;
}

static tt_hlc stamp(struct otlp_out *o)
{
    if (o->hlc != NULL)
        return o->hlc(o->hlc_ctx);
    return (tt_hlc)(clock_realtime_ns() / 1000000) << 16;
}

/* put_result: a record encoder's result as otlp_out_span's. */
static int put_result(struct otlp_out *o, struct wbuf *body, int rc, const char *where)
{
    if (rc == 0 && body->err == 0) {
        o->groups[o->cur].count++;
        o->accepted++;
        return 1;
    }
    if (rc == TT_ETOOBIG) {
        otlp_out_reject(o, where, "over the 16 MiB record limit");
        return 0;
    }
    return TT_ENOMEM;
}

static int buffers_ok(const struct otlp_out *o)
{
    return o->attrs.b.err == 0 && o->events.b.err == 0 && o->links.b.err == 0 &&
           o->sub.b.err == 0 && o->res_attrs.b.err == 0 && o->scope_attrs.b.err == 0 &&
           o->comb.err == 0;
}

int otlp_out_span(struct otlp_out *o, const struct otlp_span *s, const char *where)
{
    static const uint8_t kinds[6] = { TT_SPAN_INTERNAL, TT_SPAN_INTERNAL, TT_SPAN_SERVER,
                                      TT_SPAN_CLIENT,   TT_SPAN_PRODUCER, TT_SPAN_CONSUMER };
    struct rec_span r;
    char why[128];

    if (o->ngroups == 0) {
        otlp_out_reject(o, where, "no resource");
        return 0;
    }
    if (check_ids("", s->trace_id, s->trace_id_len, s->span_id, s->span_id_len, why, sizeof why) <
        0) {
        otlp_out_reject(o, where, why);
        return 0;
    }
    if (s->parent_id_len != 0 && s->parent_id_len != 8) {
        snprintf(why, sizeof why, "parentSpanId has %zu bytes, not 8 or 0", s->parent_id_len);
        otlp_out_reject(o, where, why);
        return 0;
    }
    if (s->start_ns == 0 || s->start_ns > INT64_MAX) {
        otlp_out_reject(o, where,
                        s->start_ns == 0 ? "no startTimeUnixNano"
                                         : "startTimeUnixNano is past the year 2262");
        return 0;
    }
    if (s->end_ns < s->start_ns) {
        otlp_out_reject(o, where, "endTimeUnixNano is before startTimeUnixNano");
        return 0;
    }
    memset(&r, 0, sizeof r);
    memcpy(r.trace_id, s->trace_id, 16);
    r.span_id = be64(s->span_id);
    r.parent_id = s->parent_id_len == 8 ? be64(s->parent_id) : 0;
    r.duration_ns = s->end_ns - s->start_ns;
    r.kind = s->kind < 6 ? kinds[s->kind] : TT_SPAN_INTERNAL;
    r.status = s->status_code <= 2 ? (uint8_t)s->status_code : TT_STATUS_UNSET;
    /* An exported span was recorded: sampled, whatever flags say. */
    r.flags = (uint8_t)((s->flags & 0xff) | TT_FLAG_SAMPLED);
    r.name.p = s->name;
    r.name.len = (uint32_t)s->name_len;
    r.status_message.p = s->status_msg;
    r.status_message.len = (uint32_t)s->status_msg_len;
    r.attrs = combine(o, NULL);
    r.events = kvs_list(&o->events);
    r.links = kvs_list(&o->links);
    if (!buffers_ok(o))
        return TT_ENOMEM;
    struct wbuf *body = &o->groups[o->cur].body;
    /* A span from a libtelltale-propagated context carries the HLC of its
     * cause; the record takes it and says so (REC_FLAG_OWN_HLC), so the
     * span store can place the span by it. Otherwise the record has our
     * stamp, which says nothing about when the span started. */
    uint64_t own = otlp_tracestate_hlc(s->trace_state, s->trace_state_len);
    size_t at = body->len;
    int rc = rec_put_span(body, own != 0 ? own : stamp(o), (int64_t)s->start_ns, &r);
    if (rc == 0 && body->err == 0 && own != 0)
        body->data[at + 1] |= REC_FLAG_OWN_HLC;
    return put_result(o, body, rc, where);
}

uint8_t otlp_severity(uint32_t n, const char *text, size_t len)
{
    static const struct {
        const char *name;
        uint8_t sev;
    } names[] = { { "trace", TT_SEV_DEBUG },      { "debug", TT_SEV_DEBUG },
                  { "info", TT_SEV_INFO },        { "notice", TT_SEV_NOTICE },
                  { "warn", TT_SEV_WARNING },     { "warning", TT_SEV_WARNING },
                  { "error", TT_SEV_ERROR },      { "fatal", TT_SEV_CRITICAL },
                  { "critical", TT_SEV_CRITICAL } };
    if (n >= 1 && n <= 8)
        return TT_SEV_DEBUG;
    if (n >= 9 && n <= 12)
        return TT_SEV_INFO;
    if (n >= 13 && n <= 16)
        return TT_SEV_WARNING;
    if (n >= 17 && n <= 20)
        return TT_SEV_ERROR;
    if (n >= 21)
        return TT_SEV_CRITICAL;
    for (size_t i = 0; text != NULL && i < sizeof names / sizeof names[0]; i++) {
        size_t nl = strlen(names[i].name);
        if (len == nl) {
            size_t j = 0;
            while (j < nl && (text[j] | 0x20) == names[i].name[j])
                j++;
            if (j == nl)
                return names[i].sev;
        }
    }
    return TT_SEV_INFO;
}

static void hex_put(struct otlp_kvs *k, const char *key, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char hex[64];
    if (n == 0 || n > 32)
        return;
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[p[i] >> 4];
        hex[2 * i + 1] = digits[p[i] & 15];
    }
    otlp_kv_str(k, key, strlen(key), hex, 2 * n);
}

int otlp_out_log(struct otlp_out *o, const struct otlp_log *l, const char *where)
{
    struct rec_event e;
    struct otlp_kvs *ids = &o->sub;

    if (o->ngroups == 0) {
        otlp_out_reject(o, where, "no resource");
        return 0;
    }
    uint64_t t = l->time_ns ? l->time_ns : l->observed_ns;
    if (t == 0)
        t = (uint64_t)o->now_ns;
    if (t > INT64_MAX) {
        otlp_out_reject(o, where, "timeUnixNano is past the year 2262");
        return 0;
    }
    if ((l->trace_id_len != 0 && l->trace_id_len != 16) ||
        (l->span_id_len != 0 && l->span_id_len != 8)) {
        otlp_out_reject(o, where, "traceId must have 16 bytes and spanId 8");
        return 0;
    }
    kvs_reset(ids);
    hex_put(ids, "trace_id", l->trace_id, l->trace_id_len);
    hex_put(ids, "span_id", l->span_id, l->span_id_len);
    memset(&e, 0, sizeof e);
    e.severity = otlp_severity(l->severity_number, l->severity_text, l->severity_text_len);
    if (o->scope_name != NULL) {
        e.component.p = o->scope_name;
        e.component.len = (uint32_t)strlen(o->scope_name);
    }
    if (l->event_name_len > 0) {
        e.name.p = l->event_name;
        e.name.len = (uint32_t)l->event_name_len;
    } else {
        e.name.p = "log";
        e.name.len = 3;
    }
    e.message.p = l->body;
    e.message.len = (uint32_t)l->body_len;
    e.attrs = combine(o, ids);
    if (!buffers_ok(o))
        return TT_ENOMEM;
    struct wbuf *body = &o->groups[o->cur].body;
    int rc = rec_put_event(body, stamp(o), (int64_t)t, &e);
    kvs_reset(ids);
    return put_result(o, body, rc, where);
}

/* sanitize appends s[0..n) to w with every byte outside [a-zA-Z0-9_:]
 * (label: [a-zA-Z0-9_]) made '_' and a '_' before a leading digit. */
static void sanitize(struct wbuf *w, const char *s, size_t n, int label)
{
    if (n > 0 && s[0] >= '0' && s[0] <= '9')
        wbuf_put_u8(w, '_');
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || (c == ':' && !label);
        wbuf_put_u8(w, ok ? (uint8_t)c : '_');
    }
}

int otlp_out_metric(struct otlp_out *o, const char *name, size_t nlen, const char *suffix,
                    int counter, uint64_t time_ns, double v, const char *le, const char *where)
{
    struct rec_metric m;
    struct wbuf key, mname;
    struct rec_list it;
    struct rec_str k;
    struct rec_value val;
    uint32_t n = 0;
    int rc;

    if (o->ngroups == 0) {
        otlp_out_reject(o, where, "no resource");
        return 0;
    }
    if (nlen == 0) {
        otlp_out_reject(o, where, "metric without a name");
        return 0;
    }
    if (time_ns == 0)
        time_ns = (uint64_t)o->now_ns;
    if (time_ns > INT64_MAX) {
        otlp_out_reject(o, where, "timeUnixNano is past the year 2262");
        return 0;
    }
    wbuf_init(&key, 0);
    wbuf_init(&mname, 0);
    wbuf_reset(&o->comb);
    it = (struct rec_list){ o->attrs.n, o->attrs.b.data, (uint32_t)o->attrs.b.len, 0 };
    while ((rc = rec_kv_next(&it, &k, &val)) == 1) {
        if (le != NULL && k.len == 2 && memcmp(k.p, "le", 2) == 0)
            continue;
        wbuf_reset(&key);
        if (k.len >= 2 && k.p[0] == '_' && k.p[1] == '_')
            wbuf_put(&key, "key", 3);
        sanitize(&key, k.p, k.len, 1);
        rec_kv_put(&o->comb, (const char *)key.data, key.len, &val);
        n++;
    }
    if (le != NULL) {
        struct rec_value lv = { .type = TT_VAL_STR };
        lv.u.s.p = le;
        lv.u.s.len = (uint32_t)strlen(le);
        rec_kv_put(&o->comb, "le", 2, &lv);
        n++;
    }
    sanitize(&mname, name, nlen, 0);
    if (suffix != NULL)
        wbuf_put(&mname, suffix, strlen(suffix));
    memset(&m, 0, sizeof m);
    m.kind = counter ? REC_METRIC_COUNTER : REC_METRIC_GAUGE;
    m.name.p = (const char *)mname.data;
    m.name.len = (uint32_t)mname.len;
    m.labels = (struct rec_list){ n, o->comb.data, (uint32_t)o->comb.len, 0 };
    m.value = v;
    struct wbuf *body = &o->groups[o->cur].body;
    if (key.err != 0 || mname.err != 0 || !buffers_ok(o)) {
        rc = TT_ENOMEM;
    } else {
        rc = rec_put_metric(body, stamp(o), (int64_t)time_ns, &m);
        rc = put_result(o, body, rc, where);
    }
    wbuf_release(&key);
    wbuf_release(&mname);
    return rc;
}
