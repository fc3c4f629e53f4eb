/*
 * api_jaeger.c - the Jaeger query API (api_jaeger.h) over the span store.
 *
 * Shapes follow Jaeger's query service (cmd/query/app/apiv3 is newer; the UI
 * and Grafana use this one, structuredResponse in http_handler.go): times
 * in microseconds since the epoch, ids in lowercase hex, tags as {key, type,
 * value} with type string/int64/float64/bool, span events as logs, links as
 * FOLLOWS_FROM references, and per trace a "processes" map from processID
 * to {serviceName, tags} (one process per service and node).
 */
#include "server/api_jaeger.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/clock.h"
#include "query/traces/trace_view.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/server.h"
#include "store/spans/spanstore.h"
#include "telltale.h"
#include "core/hex.h"

#define DEFAULT_LIMIT 20
#define MAX_LIMIT     1500
#define MAX_PROCS     256

struct api_jaeger {
    struct spanstore *ss; /* atomic */
};

static struct spanstore *store_of(struct api_jaeger *aj)
{
    return __atomic_load_n(&aj->ss, __ATOMIC_ACQUIRE);
}

void api_jaeger_set_store(struct api_jaeger *aj, struct spanstore *ss)
{
    __atomic_store_n(&aj->ss, ss, __ATOMIC_RELEASE);
}

/* --- parsing ---------------------------------------------------------------- */

int jaeger_parse_duration(const char *s, uint64_t *ns)
{
    double total = 0;
    const char *p = s;
    if (s == NULL || *s == '\0')
        return TT_ESYNTAX;
    while (*p != '\0') {
        char *end;
        const char *q = p;
        int digits = 0, dots = 0;
        for (; (*q >= '0' && *q <= '9') || *q == '.'; q++) {
            if (*q == '.')
                dots++;
            else
                digits++;
        }
        if (digits == 0 || dots > 1)
            return TT_ESYNTAX;
        errno = 0;
        double v = strtod(p, &end);
        if (end != q || errno != 0 || v < 0)
            return TT_ESYNTAX; /* strtod took more (an exponent) or failed */
        p = end;
        double mul;
        if (strncmp(p, "ns", 2) == 0) {
            mul = 1;
            p += 2;
        } else if (strncmp(p, "us", 2) == 0) {
            mul = 1e3;
            p += 2;
        } else if (strncmp(p, "\xc2\xb5s", 3) == 0 || strncmp(p, "\xce\xbcs", 3) == 0) {
            mul = 1e3; /* U+00B5 micro sign or U+03BC Greek mu, as Go takes both */
            p += 3;
        } else if (strncmp(p, "ms", 2) == 0) {
            mul = 1e6;
            p += 2;
        } else if (*p == 's') {
            mul = 1e9;
            p++;
        } else if (*p == 'm') {
            mul = 60e9;
            p++;
        } else if (*p == 'h') {
            mul = 3600e9;
            p++;
        } else {
            return TT_ESYNTAX; /* Go requires a unit */
        }
        total += v * mul;
    }
    if (total > 1.8e19)
        return TT_ESYNTAX;
    *ns = (uint64_t)total;
    return 0;
}

int jaeger_parse_trace_id(const char *s, uint8_t out[16])
{
    size_t n = s != NULL ? strlen(s) : 0;
    char pad[32];
    if (n == 0 || n > 32)
        return TT_ESYNTAX;
    memset(pad, '0', 32);
    memcpy(pad + 32 - n, s, n);
    for (int i = 0; i < 16; i++) {
        int a = tt_hexval(pad[2 * i]), b = tt_hexval(pad[2 * i + 1]);
        if (a < 0 || b < 0)
            return TT_ESYNTAX;
        out[i] = (uint8_t)(a << 4 | b);
    }
    return 0;
}

int jaeger_parse_bool(const char *s, int *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = 0;
    else
        return TT_ESYNTAX;
    return 0;
}

void jaeger_trace_id_text(const uint8_t id[16], char out[33])
{
    static const char hx[] = "0123456789abcdef";
    int start = 0, high_zero = 1;
    for (int i = 0; i < 8; i++)
        if (id[i] != 0)
            high_zero = 0;
    if (high_zero)
        start = 8;
    int k = 0;
    for (int i = start; i < 16; i++) {
        out[k++] = hx[id[i] >> 4];
        out[k++] = hx[id[i] & 15];
    }
    out[k] = '\0';
}

static void span_id_text(uint64_t id, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, id);
}

/* --- writing ---------------------------------------------------------------- */

static void write_value(struct json_out *j, const struct rec_value *v)
{
    switch (v->type) {
    case TT_VAL_STR:
        json_out_key(j, "type");
        json_out_str(j, "string");
        json_out_key(j, "value");
        json_out_strn(j, v->u.s.p, v->u.s.len);
        break;
    case TT_VAL_INT:
        json_out_key(j, "type");
        json_out_str(j, "int64");
        json_out_key(j, "value");
        json_out_i64(j, v->u.i);
        break;
    case TT_VAL_DOUBLE:
        json_out_key(j, "type");
        json_out_str(j, "float64");
        json_out_key(j, "value");
        json_out_f64(j, v->u.d);
        break;
    case TT_VAL_BOOL:
        json_out_key(j, "type");
        json_out_str(j, "bool");
        json_out_key(j, "value");
        json_out_bool(j, v->u.b);
        break;
    default:
        json_out_key(j, "type");
        json_out_str(j, "string");
        json_out_key(j, "value");
        json_out_str(j, "");
        break;
    }
}

static void write_tag(struct json_out *j, const char *key, size_t kn, const struct rec_value *v)
{
    json_out_object_begin(j);
    json_out_key(j, "key");
    json_out_strn(j, key, kn);
    write_value(j, v);
    json_out_object_end(j);
}

static void write_str_tag(struct json_out *j, const char *key, const char *val)
{
    struct rec_value v = { .type = TT_VAL_STR, .u.s = { val, (uint32_t)strlen(val) } };
    write_tag(j, key, strlen(key), &v);
}

struct proc {
    char *service, *node;
};

/* Placement in one read of the store: each span is written with its
 * times as fixed-width placeholders (a number padded with spaces, which JSON
 * allows) and added to a trace view; once the view is built the times are
 * patched in place and the warnings put where each span's null is. */
#define TIME_FIELD 21 /* an int64 of microseconds with its sign fits */

struct patch {
    uint64_t span_id;
    int64_t start_ns;
    size_t start_off, warn_off; /* the placeholder; the "null" of warnings */
    size_t first_log, nlogs;    /* in tw.logs */
};

struct log_patch {
    size_t off;
    int64_t time_ns;
};

struct tw {
    struct json_out j;
    const char *tid_text;
    struct trace_view *tv; /* placement: the view being gathered; NULL: raw */
    struct patch *patches;
    size_t npatches, cap_patches;
    struct log_patch *logs;
    size_t nlogs, cap_logs;
    struct proc procs[MAX_PROCS];
    size_t nprocs;
    int nomem;
};

static int proc_index(struct tw *t, const struct span_row *s)
{
    size_t i;
    for (i = 0; i < t->nprocs; i++)
        if (strlen(t->procs[i].service) == s->service.len &&
            memcmp(t->procs[i].service, s->service.p, s->service.len) == 0 &&
            strlen(t->procs[i].node) == s->node.len &&
            memcmp(t->procs[i].node, s->node.p, s->node.len) == 0)
            return (int)i;
    if (t->nprocs == MAX_PROCS)
        return MAX_PROCS - 1;
    t->procs[i].service = strndup(s->service.p, s->service.len);
    t->procs[i].node = strndup(s->node.p, s->node.len);
    if (t->procs[i].service == NULL || t->procs[i].node == NULL) {
        free(t->procs[i].service);
        free(t->procs[i].node);
        t->nomem = 1;
        return -1;
    }
    t->nprocs++;
    return (int)i;
}

static const char *kind_name(uint8_t k)
{
    switch (k) {
    case TT_SPAN_SERVER:
        return "server";
    case TT_SPAN_CLIENT:
        return "client";
    case TT_SPAN_PRODUCER:
        return "producer";
    case TT_SPAN_CONSUMER:
        return "consumer";
    default:
        return "internal";
    }
}

static int write_span(void *arg, const struct span_row *s)
{
    struct tw *t = arg;
    struct json_out *j = &t->j;
    char sid[17], pid[17], tid[33], procid[16];
    int pi = proc_index(t, s);
    if (pi < 0)
        return TT_ENOMEM;
    snprintf(procid, sizeof procid, "p%d", pi + 1);
    span_id_text(s->span_id, sid);
    json_out_object_begin(j);
    json_out_key(j, "traceID");
    json_out_str(j, t->tid_text);
    json_out_key(j, "spanID");
    json_out_str(j, sid);
    json_out_key(j, "flags");
    json_out_i64(j, s->flags);
    json_out_key(j, "operationName");
    json_out_strn(j, s->name.p, s->name.len);
    json_out_key(j, "references");
    json_out_array_begin(j);
    if (s->parent_id != 0) {
        span_id_text(s->parent_id, pid);
        json_out_object_begin(j);
        json_out_key(j, "refType");
        json_out_str(j, "CHILD_OF");
        json_out_key(j, "traceID");
        json_out_str(j, t->tid_text);
        json_out_key(j, "spanID");
        json_out_str(j, pid);
        json_out_object_end(j);
    }
    struct rec_list it = s->links;
    struct rec_span_link l;
    while (rec_span_link_next(&it, &l) == 1) {
        jaeger_trace_id_text(l.trace_id, tid);
        span_id_text(l.span_id, pid);
        json_out_object_begin(j);
        json_out_key(j, "refType");
        json_out_str(j, "FOLLOWS_FROM");
        json_out_key(j, "traceID");
        json_out_str(j, tid);
        json_out_key(j, "spanID");
        json_out_str(j, pid);
        json_out_object_end(j);
    }
    json_out_array_end(j);
    struct patch *pt = NULL;
    if (t->tv != NULL) {
        if (t->npatches == t->cap_patches) {
            size_t nc = t->cap_patches ? t->cap_patches * 2 : 64;
            struct patch *a = realloc(t->patches, nc * sizeof *a);
            if (a == NULL || trace_view_add(t->tv, s) != 0) {
                if (a != NULL)
                    t->patches = a;
                t->nomem = 1;
                return TT_ENOMEM;
            }
            t->patches = a;
            t->cap_patches = nc;
        } else if (trace_view_add(t->tv, s) != 0) {
            t->nomem = 1;
            return TT_ENOMEM;
        }
        pt = &t->patches[t->npatches++];
        pt->span_id = s->span_id;
        pt->start_ns = s->start_ns;
        pt->first_log = t->nlogs;
        pt->nlogs = 0;
    }
    json_out_key(j, "startTime");
    if (pt != NULL) {
        json_out_raw(j, "0                    ", TIME_FIELD);
        pt->start_off = j->b->len - TIME_FIELD;
    } else {
        json_out_i64(j, s->start_ns / 1000);
    }
    json_out_key(j, "duration");
    json_out_u64(j, s->duration_ns / 1000);
    json_out_key(j, "tags");
    json_out_array_begin(j);
    for (uint32_t i = 0; i < s->nattrs; i++)
        write_tag(j, s->attrs[i].key.p, s->attrs[i].key.len, &s->attrs[i].v);
    write_str_tag(j, "span.kind", kind_name(s->kind));
    if (s->status == TT_STATUS_ERROR) {
        struct rec_value b = { .type = TT_VAL_BOOL, .u.b = 1 };
        write_tag(j, "error", 5, &b);
        write_str_tag(j, "otel.status_code", "ERROR");
    } else if (s->status == TT_STATUS_OK) {
        write_str_tag(j, "otel.status_code", "OK");
    }
    if (s->status_message.len > 0) {
        struct rec_value m = { .type = TT_VAL_STR, .u.s = s->status_message };
        write_tag(j, "otel.status_description", 23, &m);
    }
    json_out_array_end(j);
    json_out_key(j, "logs");
    json_out_array_begin(j);
    it = s->events;
    struct rec_span_event e;
    while (rec_span_event_next(&it, &e) == 1) {
        json_out_object_begin(j);
        json_out_key(j, "timestamp");
        if (pt != NULL) { /* a log moves with its span */
            if (t->nlogs == t->cap_logs) {
                size_t nc = t->cap_logs ? t->cap_logs * 2 : 64;
                struct log_patch *a = realloc(t->logs, nc * sizeof *a);
                if (a == NULL) {
                    t->nomem = 1;
                    return TT_ENOMEM;
                }
                t->logs = a;
                t->cap_logs = nc;
            }
            json_out_raw(j, "0                    ", TIME_FIELD);
            t->logs[t->nlogs].off = j->b->len - TIME_FIELD;
            t->logs[t->nlogs++].time_ns = e.time_ns;
            pt->nlogs++;
        } else {
            json_out_i64(j, e.time_ns / 1000);
        }
        json_out_key(j, "fields");
        json_out_array_begin(j);
        struct rec_value ev = { .type = TT_VAL_STR, .u.s = e.name };
        write_tag(j, "event", 5, &ev);
        struct rec_list ai = e.attrs;
        struct rec_str k;
        struct rec_value v;
        while (rec_kv_next(&ai, &k, &v) == 1)
            write_tag(j, k.p, k.len, &v);
        json_out_array_end(j);
        json_out_object_end(j);
    }
    json_out_array_end(j);
    json_out_key(j, "processID");
    json_out_str(j, procid);
    json_out_key(j, "warnings");
    if (pt != NULL)
        pt->warn_off = j->b->len;
    json_out_null(j);
    json_out_object_end(j);
    return t->j.b->err;
}

static void put_time(struct wbuf *b, size_t off, int64_t ns)
{
    char num[32];
    int k = snprintf(num, sizeof num, "%" PRId64, ns / 1000);
    if (k > 0 && k <= TIME_FIELD)
        memcpy(b->data + off, num, (size_t)k);
}

/* place builds the gathered view and patches the trace written from start
 * in b: placed times, and Jaeger's warnings on the spans it moved. Returns
 * 0 or TT_ENOMEM. */
static int place(struct tw *t, struct wbuf *b, size_t start)
{
    struct wbuf out, w;
    struct json_out j;
    char warn[512];
    int rc = trace_view_build(t->tv, 1), any = 0;
    if (rc != 0)
        return rc == TT_ENOTFOUND ? 0 : rc;
    for (size_t i = 0; i < t->npatches; i++) {
        const struct patch *p = &t->patches[i];
        uint32_t vi = trace_view_find(t->tv, p->span_id);
        int64_t adj = vi != TV_NONE ? t->tv->spans[vi].adjust_ns : 0;
        put_time(b, p->start_off, p->start_ns + adj);
        for (size_t k = p->first_log; k < p->first_log + p->nlogs; k++)
            put_time(b, t->logs[k].off, t->logs[k].time_ns + adj);
        if (vi != TV_NONE && trace_view_warning(t->tv, vi, warn, sizeof warn) > 0)
            any = 1;
    }
    if (!any)
        return 0;
    /* Jaeger's adjusters say what they did in the span's warnings */
    wbuf_init(&out, 0);
    wbuf_init(&w, 0);
    size_t from = start;
    for (size_t i = 0; i < t->npatches; i++) {
        const struct patch *p = &t->patches[i];
        uint32_t vi = trace_view_find(t->tv, p->span_id);
        if (vi == TV_NONE || trace_view_warning(t->tv, vi, warn, sizeof warn) == 0)
            continue;
        wbuf_put(&out, b->data + from, p->warn_off - from);
        wbuf_reset(&w);
        json_out_init(&j, &w);
        json_out_array_begin(&j);
        json_out_str(&j, warn);
        json_out_array_end(&j);
        wbuf_put(&out, w.data, w.len);
        from = p->warn_off + 4; /* past "null" */
    }
    wbuf_put(&out, b->data + from, b->len - from);
    rc = out.err || w.err ? TT_ENOMEM : 0;
    if (rc == 0) {
        b->len = start;
        wbuf_put(b, out.data, out.len);
    }
    wbuf_release(&out);
    wbuf_release(&w);
    return rc;
}

int jaeger_write_trace(struct spanstore *ss, const uint8_t id[16], struct wbuf *b)
{
    return jaeger_write_trace_opt(ss, id, b, 0);
}

int jaeger_write_trace_opt(struct spanstore *ss, const uint8_t id[16], struct wbuf *b, int raw)
{
    struct tw *t = calloc(1, sizeof *t);
    struct trace_view tv;
    char tid[33];
    size_t start = b->len;
    int n;
    if (t == NULL)
        return TT_ENOMEM;
    trace_view_init(&tv);
    if (!raw)
        t->tv = &tv;
    jaeger_trace_id_text(id, tid);
    t->tid_text = tid;
    json_out_init(&t->j, b);
    json_out_object_begin(&t->j);
    json_out_key(&t->j, "traceID");
    json_out_str(&t->j, tid);
    json_out_key(&t->j, "spans");
    json_out_array_begin(&t->j);
    n = spanstore_trace(ss, id, write_span, t);
    json_out_array_end(&t->j);
    json_out_key(&t->j, "processes");
    json_out_object_begin(&t->j);
    for (size_t i = 0; i < t->nprocs; i++) {
        char key[16];
        snprintf(key, sizeof key, "p%zu", i + 1);
        json_out_key(&t->j, key);
        json_out_object_begin(&t->j);
        json_out_key(&t->j, "serviceName");
        json_out_str(&t->j, t->procs[i].service);
        json_out_key(&t->j, "tags");
        json_out_array_begin(&t->j);
        if (t->procs[i].node[0] != '\0')
            write_str_tag(&t->j, "hostname", t->procs[i].node);
        json_out_array_end(&t->j);
        json_out_object_end(&t->j);
        free(t->procs[i].service);
        free(t->procs[i].node);
    }
    json_out_object_end(&t->j);
    json_out_key(&t->j, "warnings");
    json_out_null(&t->j);
    json_out_object_end(&t->j);
    if (n > 0 && !t->nomem && b->err == 0 && t->tv != NULL && place(t, b, start) != 0)
        t->nomem = 1;
    if (n <= 0 || t->nomem) /* not found, or a partial trace: nothing */
        b->len = start;
    if (n > 0 && t->nomem)
        n = TT_ENOMEM;
    trace_view_release(&tv);
    free(t->patches);
    free(t->logs);
    free(t);
    if (n > 0 && b->err)
        return b->err;
    return n;
}

/* --- responses --------------------------------------------------------------- */

void jaeger_envelope_end(struct json_out *j, int64_t total)
{
    json_out_key(j, "total");
    json_out_i64(j, total);
    json_out_key(j, "limit");
    json_out_i64(j, 0);
    json_out_key(j, "offset");
    json_out_i64(j, 0);
    json_out_key(j, "errors");
    json_out_null(j);
    json_out_object_end(j);
}

int jaeger_respond_error(struct http_req *req, int status, const char *fmt, ...)
{
    char msg[512];
    struct wbuf b;
    struct json_out j;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_object_begin(&j);
    json_out_key(&j, "data");
    json_out_null(&j);
    json_out_key(&j, "total");
    json_out_i64(&j, 0);
    json_out_key(&j, "limit");
    json_out_i64(&j, 0);
    json_out_key(&j, "offset");
    json_out_i64(&j, 0);
    json_out_key(&j, "errors");
    json_out_array_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "code");
    json_out_i64(&j, status);
    json_out_key(&j, "msg");
    json_out_str(&j, msg);
    json_out_object_end(&j);
    json_out_array_end(&j);
    json_out_object_end(&j);
    int rc = http_respond_json(req, status, &b);
    wbuf_release(&b);
    return rc;
}

struct names {
    struct json_out *j;
    int n, objects;
};

static void name_fn(void *arg, const char *name, size_t len)
{
    struct names *nm = arg;
    if (nm->objects) {
        json_out_object_begin(nm->j);
        json_out_key(nm->j, "name");
        json_out_strn(nm->j, name, len);
        json_out_key(nm->j, "spanKind");
        json_out_str(nm->j, "");
        json_out_object_end(nm->j);
    } else {
        json_out_strn(nm->j, name, len);
    }
    nm->n++;
}

static int no_store(struct http_req *req)
{
    return jaeger_respond_error(req, 503, "the span store is not open yet");
}

static int h_services(struct http_req *req, void *ctx)
{
    struct spanstore *ss = store_of(ctx);
    struct wbuf b;
    struct json_out j;
    if (ss == NULL)
        return no_store(req);
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_object_begin(&j);
    json_out_key(&j, "data");
    json_out_array_begin(&j);
    struct names nm = { &j, 0, 0 };
    spanstore_services(ss, name_fn, &nm);
    json_out_array_end(&j);
    jaeger_envelope_end(&j, nm.n);
    int rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    return rc;
}

static int operations(struct http_req *req, void *ctx, const char *service, int objects)
{
    struct spanstore *ss = store_of(ctx);
    struct wbuf b;
    struct json_out j;
    if (ss == NULL)
        return no_store(req);
    if (service == NULL || *service == '\0')
        return jaeger_respond_error(req, 400, "parameter 'service' is required");
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_object_begin(&j);
    json_out_key(&j, "data");
    json_out_array_begin(&j);
    struct names nm = { &j, 0, objects };
    spanstore_operations(ss, service, name_fn, &nm);
    json_out_array_end(&j);
    jaeger_envelope_end(&j, nm.n);
    int rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    return rc;
}

static int h_service_ops(struct http_req *req, void *ctx)
{
    return operations(req, ctx, http_req_path_param(req, "service"), 0);
}

static int h_operations(struct http_req *req, void *ctx)
{
    return operations(req, ctx, http_req_param(req, "service"), 1);
}

static int h_trace(struct http_req *req, void *ctx)
{
    struct spanstore *ss = store_of(ctx);
    const char *ids = http_req_path_param(req, "id");
    uint8_t id[16];
    struct wbuf b, t;
    struct json_out j;
    if (ss == NULL)
        return no_store(req);
    if (jaeger_parse_trace_id(ids, id) != 0)
        return jaeger_respond_error(req, 400, "trace id '%s': want 1 to 32 hexadecimal digits",
                                    ids);
    /* raw=true: Jaeger's switch for the trace as stored, no clock-skew
     * adjustment */
    int raw = 0;
    const char *rp = http_req_param(req, "raw");
    if (rp != NULL && jaeger_parse_bool(rp, &raw) != 0)
        return jaeger_respond_error(req, 400, "parameter 'raw': '%s' is not true or false", rp);
    wbuf_init(&t, 0);
    int n = jaeger_write_trace_opt(ss, id, &t, raw);
    if (n <= 0) {
        wbuf_release(&t);
        if (n == 0)
            return jaeger_respond_error(req, 404, "trace not found");
        return jaeger_respond_error(req, 500, "reading the trace: %s", tt_strerror(n));
    }
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_object_begin(&j);
    json_out_key(&j, "data");
    json_out_array_begin(&j);
    json_out_raw(&j, (const char *)t.data, t.len);
    json_out_array_end(&j);
    jaeger_envelope_end(&j, 1);
    int rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    wbuf_release(&t);
    return rc;
}

static const char *own(struct jaeger_search *js, const char *s, size_t n)
{
    if (js->nowned == JAEGER_MAX_TAGS * 2)
        return NULL;
    char *c = strndup(s, n);
    if (c != NULL)
        js->owned[js->nowned++] = c;
    return c;
}

void jaeger_search_free(struct jaeger_search *js)
{
    for (size_t i = 0; i < js->nowned; i++)
        free(js->owned[i]);
    js->nowned = 0;
}

/* add_tag appends key=value (copied) to the query's tags. */
static int add_tag(struct jaeger_search *js, const char *param, const char *k, size_t kn,
                   const char *v, size_t vn, char *msg, size_t msglen)
{
    if (js->q.ntags == JAEGER_MAX_TAGS) {
        snprintf(msg, msglen, "parameter '%s': more than %d tags", param, JAEGER_MAX_TAGS);
        return TT_ESYNTAX;
    }
    struct spanstore_tag *t = &js->tags[js->q.ntags];
    t->key = own(js, k, kn);
    t->value = own(js, v, vn);
    if (t->key == NULL || t->value == NULL) {
        snprintf(msg, msglen, "out of memory");
        return TT_ENOMEM;
    }
    js->q.ntags++;
    return 0;
}

/* parse_tags reads tags={"k":"v",...} (Jaeger UI, Grafana; numbers and
 * bools are taken as their text) and repeated tag=k:v. */
static int parse_tags(jaeger_param_fn param, void *arg, struct jaeger_search *js, char *msg,
                      size_t msglen)
{
    size_t pos = 0;
    const char *tj = param(arg, "tags", &pos);
    int rc = 0;
    if (tj != NULL && *tj != '\0') {
        json_error_t je;
        json_t *o = json_loads(tj, 0, &je);
        if (o == NULL || !json_is_object(o)) {
            snprintf(msg, msglen, "parameter 'tags': want a JSON object of strings (%s)",
                     o == NULL ? je.text : "not an object");
            json_decref(o);
            return TT_ESYNTAX;
        }
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            char txt[64];
            const char *val = NULL;
            if (json_is_string(v)) {
                val = json_string_value(v);
            } else if (json_is_integer(v)) {
                snprintf(txt, sizeof txt, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                val = txt;
            } else if (json_is_boolean(v)) {
                val = json_is_true(v) ? "true" : "false";
            } else {
                snprintf(msg, msglen, "parameter 'tags': value of '%s' is not a string", k);
                rc = TT_ESYNTAX;
                break;
            }
            rc = add_tag(js, "tags", k, strlen(k), val, strlen(val), msg, msglen);
            if (rc != 0)
                break;
        }
        json_decref(o);
        if (rc != 0)
            return rc;
    }
    pos = 0;
    const char *t;
    while ((t = param(arg, "tag", &pos)) != NULL) {
        const char *colon = strchr(t, ':');
        if (colon == NULL || colon == t) {
            snprintf(msg, msglen, "parameter 'tag': '%s' is not key:value", t);
            return TT_ESYNTAX;
        }
        rc = add_tag(js, "tag", t, (size_t)(colon - t), colon + 1, strlen(colon + 1), msg, msglen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* parse_digits reads a decimal number (digits only: no sign, no spaces) of
 * at most max. Returns 0 or -1. */
static int parse_digits(const char *s, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

int jaeger_parse_search(jaeger_param_fn param, void *arg, struct jaeger_search *js, char *msg,
                        size_t msglen)
{
    struct spanstore_query *q = &js->q;
    const char *p;
    size_t pos;
    int64_t v;

#define PARAM(name) (pos = 0, param(arg, name, &pos))
    memset(js, 0, sizeof *js);
    q->tags = js->tags;
    q->end_ns = INT64_MAX;
    q->limit = DEFAULT_LIMIT;
    q->service = PARAM("service");
    if (q->service == NULL || *q->service == '\0') {
        snprintf(msg, msglen, "parameter 'service' is required");
        return TT_ESYNTAX;
    }
    p = PARAM("operation");
    if (p != NULL && *p != '\0' && strcmp(p, "all") != 0)
        q->operation = p;
    if ((p = PARAM("minDuration")) != NULL && *p != '\0' &&
        jaeger_parse_duration(p, &q->min_duration_ns) != 0) {
        snprintf(msg, msglen,
                 "parameter 'minDuration': '%s' is not a duration (1.2s, 100ms, 500us)", p);
        return TT_ESYNTAX;
    }
    if ((p = PARAM("maxDuration")) != NULL && *p != '\0' &&
        jaeger_parse_duration(p, &q->max_duration_ns) != 0) {
        snprintf(msg, msglen,
                 "parameter 'maxDuration': '%s' is not a duration (1.2s, 100ms, 500us)", p);
        return TT_ESYNTAX;
    }
    if (q->max_duration_ns > 0 && q->max_duration_ns < q->min_duration_ns) {
        snprintf(msg, msglen, "parameter 'maxDuration' is below 'minDuration'");
        return TT_ESYNTAX;
    }
    /* microseconds: room for v * 1000 + 999 */
    if ((p = PARAM("start")) != NULL && *p != '\0') {
        if (parse_digits(p, (INT64_MAX - 999) / 1000, &v) != 0) {
            snprintf(msg, msglen, "parameter 'start': '%s' is not microseconds since the epoch", p);
            return TT_ESYNTAX;
        }
        q->start_ns = v * 1000;
    }
    if ((p = PARAM("end")) != NULL && *p != '\0') {
        if (parse_digits(p, (INT64_MAX - 999) / 1000, &v) != 0) {
            snprintf(msg, msglen, "parameter 'end': '%s' is not microseconds since the epoch", p);
            return TT_ESYNTAX;
        }
        q->end_ns = v * 1000 + 999; /* the whole microsecond */
    }
    if (q->end_ns < q->start_ns) {
        snprintf(msg, msglen, "parameter 'end' is before 'start'");
        return TT_ESYNTAX;
    }
    if ((p = PARAM("limit")) != NULL && *p != '\0') {
        if (parse_digits(p, INT64_MAX, &v) != 0) {
            snprintf(msg, msglen, "parameter 'limit': '%s' is not a count", p);
            return TT_ESYNTAX;
        }
        q->limit = v == 0 ? DEFAULT_LIMIT : v > MAX_LIMIT ? MAX_LIMIT : (size_t)v;
    }
#undef PARAM
    return parse_tags(param, arg, js, msg, msglen);
}

static const char *req_param(void *arg, const char *name, size_t *pos)
{
    return http_req_param_next(arg, name, pos);
}

static int h_search(struct http_req *req, void *ctx)
{
    struct spanstore *ss = store_of(ctx);
    struct spanstore_query q;
    struct jaeger_search js;
    const char *p;
    char msg[512];
    uint8_t *ids = NULL;
    int rc;

    if (ss == NULL)
        return no_store(req);
    p = http_req_param(req, "traceID");
    if (p != NULL) {
        /* Jaeger's UI asks for several traces by id this way */
        struct wbuf b, t;
        struct json_out j;
        size_t pos = 0;
        int n = 0;
        wbuf_init(&b, 0);
        wbuf_init(&t, 0);
        json_out_init(&j, &b);
        json_out_object_begin(&j);
        json_out_key(&j, "data");
        json_out_array_begin(&j);
        while ((p = http_req_param_next(req, "traceID", &pos)) != NULL) {
            uint8_t id[16];
            if (jaeger_parse_trace_id(p, id) != 0) {
                wbuf_release(&b);
                wbuf_release(&t);
                return jaeger_respond_error(req, 400, "parameter 'traceID': '%s' is not hex", p);
            }
            wbuf_reset(&t);
            if (jaeger_write_trace(ss, id, &t) > 0) {
                json_out_raw(&j, (const char *)t.data, t.len);
                n++;
            }
        }
        json_out_array_end(&j);
        jaeger_envelope_end(&j, n);
        rc = http_respond_json(req, 200, &b);
        wbuf_release(&b);
        wbuf_release(&t);
        return rc;
    }
    rc = jaeger_parse_search(req_param, req, &js, msg, sizeof msg);
    if (rc != 0) {
        jaeger_search_free(&js);
        return rc == TT_ESYNTAX ? jaeger_respond_error(req, 400, "%s", msg) : rc;
    }
    q = js.q;

    ids = malloc(q.limit * 16);
    if (ids == NULL) {
        jaeger_search_free(&js);
        return TT_ENOMEM;
    }
    int n = spanstore_search(ss, &q, ids);
    jaeger_search_free(&js);
    if (n < 0) {
        free(ids);
        return jaeger_respond_error(req, 500, "search failed: %s", tt_strerror(n));
    }
    struct wbuf b, t;
    struct json_out j;
    int found = 0;
    wbuf_init(&b, 0);
    wbuf_init(&t, 0);
    json_out_init(&j, &b);
    json_out_object_begin(&j);
    json_out_key(&j, "data");
    json_out_array_begin(&j);
    for (int i = 0; i < n; i++) {
        wbuf_reset(&t);
        if (jaeger_write_trace(ss, ids + 16 * i, &t) > 0) {
            json_out_raw(&j, (const char *)t.data, t.len);
            found++;
        }
    }
    json_out_array_end(&j);
    jaeger_envelope_end(&j, found);
    rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    wbuf_release(&t);
    free(ids);
    return rc;
}

int api_jaeger_register(struct server *srv, struct api_jaeger **out)
{
    struct api_jaeger *aj = calloc(1, sizeof *aj);
    if (aj == NULL)
        return TT_ENOMEM;
    const struct http_route routes[] = {
        { .method = "GET", .pattern = "/api/services", .handler = h_services, .ctx = aj },
        { .method = "GET",
          .pattern = "/api/services/{service}/operations",
          .handler = h_service_ops,
          .ctx = aj },
        { .method = "GET", .pattern = "/api/operations", .handler = h_operations, .ctx = aj },
        { .method = "GET", .pattern = "/api/traces", .handler = h_search, .ctx = aj },
        { .method = "GET", .pattern = "/api/traces/{id}", .handler = h_trace, .ctx = aj },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = server_add_route(srv, &routes[i]);
        if (rc != 0) {
            free(aj);
            return rc;
        }
    }
    *out = aj;
    return 0;
}

void api_jaeger_free(struct api_jaeger *aj)
{
    free(aj);
}
