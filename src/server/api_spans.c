/*
 * api_spans.c - span analytics routes (api_spans.h) over spanstats.h.
 *
 * Durations are reported in milliseconds as JSON numbers (fields ending in
 * _ms) and, where exactness matters, also in nanoseconds (_ns); times as
 * Unix milliseconds (_unix_ms). Quantiles come from the merged sketches:
 * within "relative_error" of the exact value of that rank.
 */
#include "server/api_spans.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/clock.h"
#include "core/sketch.h"
#include "server/api_jaeger.h"
#include "server/api_query.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/server.h"
#include "store/spans/spanstats.h"
#include "telltale.h"

#define DEFAULT_WINDOW_NS (3600ll * 1000000000ll)
#define DEFAULT_LIMIT     20
#define MAX_LIMIT         1000

struct api_spans {
    struct spanstore *ss; /* atomic */
};

static struct spanstore *store_of(struct api_spans *as)
{
    return __atomic_load_n(&as->ss, __ATOMIC_ACQUIRE);
}

void api_spans_set_store(struct api_spans *as, struct spanstore *ss)
{
    __atomic_store_n(&as->ss, ss, __ATOMIC_RELEASE);
}

int api_spans_parse_time(const char *s, int64_t *ns)
{
    int64_t ms;
    size_t n = s != NULL ? strlen(s) : 0, digits = 0;
    while (digits < n && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (n >= 13 && digits == n && n <= 18) {
        /* Unix milliseconds: as seconds that would be past the year 5000 */
        ms = 0;
        for (size_t i = 0; i < n; i++)
            ms = ms * 10 + (s[i] - '0');
    } else if (api_parse_time(s, &ms) != 0) {
        return TT_ESYNTAX;
    }
    if (ms > INT64_MAX / 1000000 || ms < INT64_MIN / 1000000)
        return TT_ESYNTAX;
    *ns = ms * 1000000;
    return 0;
}

static int bad(struct http_req *req, const char *param, const char *why)
{
    http_respond_error(req, 400, NULL, "invalid parameter \"%s\": %s", param, why);
    return 0;
}

static int no_store(struct http_req *req)
{
    http_respond_error(req, 503, NULL, "the span store is not open yet");
    return 0;
}

/* Common parameters of the three routes. */
struct params {
    const char *service, *operation;
    int64_t start_ns, end_ns;
    size_t limit;
    int by_operation;
};

/* parse_params reads service, operation, start, end and (want_limit)
 * limit or (else) by. Returns 0, or 1 after answering 400. */
static int parse_params(struct http_req *req, struct params *p, int want_limit)
{
    const char *s;
    memset(p, 0, sizeof *p);
    s = http_req_param(req, "service");
    p->service = s != NULL && *s != '\0' ? s : NULL;
    s = http_req_param(req, "operation");
    p->operation = s != NULL && *s != '\0' ? s : NULL;
    if (p->operation != NULL && p->service == NULL)
        return 1 + bad(req, "operation", "needs the parameter \"service\" too");
    p->end_ns = clock_realtime_ns();
    s = http_req_param(req, "end");
    if (s != NULL && *s != '\0' && api_spans_parse_time(s, &p->end_ns) != 0)
        return 1 + bad(req, "end", "expected RFC 3339, Unix seconds or Unix milliseconds");
    p->start_ns = p->end_ns - DEFAULT_WINDOW_NS;
    s = http_req_param(req, "start");
    if (s != NULL && *s != '\0' && api_spans_parse_time(s, &p->start_ns) != 0)
        return 1 + bad(req, "start", "expected RFC 3339, Unix seconds or Unix milliseconds");
    if (p->end_ns < p->start_ns)
        return 1 + bad(req, "end", "before start");
    if (want_limit) {
        p->limit = DEFAULT_LIMIT;
        s = http_req_param(req, "limit");
        if (s != NULL && *s != '\0') {
            char *end = NULL;
            unsigned long long v = strtoull(s, &end, 10);
            if (s[0] < '0' || s[0] > '9' || *end != '\0' || v == 0 || v > MAX_LIMIT)
                return 1 + bad(req, "limit", "expected an integer from 1 to 1000");
            p->limit = (size_t)v;
        }
    } else {
        p->by_operation = 1;
        s = http_req_param(req, "by");
        if (s != NULL && *s != '\0') {
            if (strcmp(s, "service") == 0)
                p->by_operation = 0;
            else if (strcmp(s, "operation") != 0)
                return 1 + bad(req, "by", "expected service or operation");
        }
    }
    return 0;
}

static void put_ms(struct json_out *j, const char *key, uint64_t ns)
{
    json_out_key(j, key);
    json_out_f64(j, (double)ns / 1e6);
}

static void put_window(struct json_out *j, const struct params *p)
{
    json_out_key(j, "start_unix_ms");
    json_out_i64(j, p->start_ns / 1000000);
    json_out_key(j, "end_unix_ms");
    json_out_i64(j, p->end_ns / 1000000);
}

static int h_stats(struct http_req *req, void *ctx)
{
    struct spanstore *ss = store_of(ctx);
    struct params p;
    struct spanstats_result res;
    struct wbuf b;
    struct json_out j;
    if (ss == NULL)
        return no_store(req);
    if (parse_params(req, &p, 0) != 0)
        return 0;
    struct spanstats_query q = { p.service, p.operation, p.start_ns, p.end_ns, p.by_operation };
    spanstats_result_init(&res);
    int rc = spanstats_latency(ss, &q, &res);
    if (rc != 0) {
        spanstats_result_release(&res);
        http_respond_error(req, 500, NULL, "span stats: %s", tt_strerror(rc));
        return 0;
    }
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    put_window(&j, &p);
    json_out_key(&j, "by");
    json_out_str(&j, p.by_operation ? "operation" : "service");
    json_out_key(&j, "relative_error");
    json_out_f64(&j, SKETCH_REL_ERR);
    json_out_key(&j, "blocks_summarised");
    json_out_u64(&j, res.blocks_summarised);
    json_out_key(&j, "blocks_decoded");
    json_out_u64(&j, res.blocks_decoded);
    json_out_key(&j, "rows");
    json_out_array_begin(&j);
    for (size_t i = 0; i < res.n; i++) {
        const struct spanstats_row *r = &res.rows[i];
        json_out_object_begin(&j);
        json_out_key(&j, "service");
        json_out_str(&j, r->service);
        json_out_key(&j, "operation");
        json_out_str(&j, r->operation); /* null in rows per service */
        json_out_key(&j, "count");
        json_out_u64(&j, r->sk.count);
        json_out_key(&j, "errors");
        json_out_u64(&j, r->errors);
        json_out_key(&j, "error_rate");
        json_out_f64(&j, r->sk.count ? (double)r->errors / (double)r->sk.count : 0.0);
        put_ms(&j, "min_ms", r->sk.min);
        json_out_key(&j, "avg_ms");
        json_out_f64(&j, sketch_mean(&r->sk) / 1e6);
        put_ms(&j, "max_ms", r->sk.max);
        put_ms(&j, "p50_ms", sketch_quantile(&r->sk, 0.5));
        put_ms(&j, "p90_ms", sketch_quantile(&r->sk, 0.9));
        put_ms(&j, "p99_ms", sketch_quantile(&r->sk, 0.99));
        put_ms(&j, "p999_ms", sketch_quantile(&r->sk, 0.999));
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_object_end(&j);
    json_out_success_end(&j);
    spanstats_result_release(&res);
    rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    return rc;
}

static void put_hex64(struct json_out *j, const char *key, uint64_t v)
{
    char hx[17];
    snprintf(hx, sizeof hx, "%016" PRIx64, v);
    json_out_key(j, key);
    json_out_str(j, hx);
}

static void put_trace_id(struct json_out *j, const uint8_t id[16])
{
    char hx[33];
    jaeger_trace_id_text(id, hx);
    json_out_key(j, "trace_id");
    json_out_str(j, hx);
}

static int h_slow_spans(struct http_req *req, void *ctx)
{
    struct spanstore *ss = store_of(ctx);
    struct params p;
    struct spanstats_span *sp = NULL;
    size_t n = 0;
    uint64_t visited = 0;
    struct wbuf b;
    struct json_out j;
    if (ss == NULL)
        return no_store(req);
    if (parse_params(req, &p, 1) != 0)
        return 0;
    struct spanstats_slow_query q = { p.service, p.operation, p.start_ns, p.end_ns, p.limit };
    int rc = spanstats_slowest_spans(ss, &q, &sp, &n, &visited);
    if (rc != 0) {
        http_respond_error(req, 500, NULL, "slowest spans: %s", tt_strerror(rc));
        return 0;
    }
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    put_window(&j, &p);
    json_out_key(&j, "blocks_decoded");
    json_out_u64(&j, visited);
    json_out_key(&j, "spans");
    json_out_array_begin(&j);
    for (size_t i = 0; i < n; i++) {
        json_out_object_begin(&j);
        put_trace_id(&j, sp[i].trace_id);
        put_hex64(&j, "span_id", sp[i].span_id);
        if (sp[i].parent_id != 0)
            put_hex64(&j, "parent_id", sp[i].parent_id);
        json_out_key(&j, "service");
        json_out_str(&j, sp[i].service);
        json_out_key(&j, "operation");
        json_out_str(&j, sp[i].operation);
        json_out_key(&j, "start_unix_ms");
        json_out_i64(&j, sp[i].start_ns / 1000000);
        put_ms(&j, "duration_ms", sp[i].duration_ns);
        json_out_key(&j, "duration_ns");
        json_out_u64(&j, sp[i].duration_ns);
        json_out_key(&j, "error");
        json_out_bool(&j, sp[i].status == TT_STATUS_ERROR);
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_object_end(&j);
    json_out_success_end(&j);
    spanstats_spans_free(sp, n);
    rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    return rc;
}

static int h_slow_traces(struct http_req *req, void *ctx)
{
    struct spanstore *ss = store_of(ctx);
    struct params p;
    struct spanstats_trace *t = NULL;
    size_t n = 0;
    struct wbuf b;
    struct json_out j;
    if (ss == NULL)
        return no_store(req);
    if (parse_params(req, &p, 1) != 0)
        return 0;
    struct spanstats_slow_query q = { p.service, p.operation, p.start_ns, p.end_ns, p.limit };
    int rc = spanstats_slowest_traces(ss, &q, &t, &n);
    if (rc == TT_EFULL) {
        http_respond_error(req, 422, NULL,
                           "the window holds more than %u traces: narrow it (start, end)",
                           (unsigned)SPANSTATS_MAX_TRACES);
        return 0;
    }
    if (rc != 0) {
        http_respond_error(req, 500, NULL, "slowest traces: %s", tt_strerror(rc));
        return 0;
    }
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    put_window(&j, &p);
    json_out_key(&j, "traces");
    json_out_array_begin(&j);
    for (size_t i = 0; i < n; i++) {
        json_out_object_begin(&j);
        put_trace_id(&j, t[i].trace_id);
        json_out_key(&j, "service");
        json_out_str(&j, t[i].service);
        json_out_key(&j, "operation");
        json_out_str(&j, t[i].operation);
        json_out_key(&j, "start_unix_ms");
        json_out_i64(&j, t[i].start_ns / 1000000);
        put_ms(&j, "duration_ms", t[i].duration_ns);
        json_out_key(&j, "duration_ns");
        json_out_u64(&j, t[i].duration_ns);
        /* root: the root span's duration; extent: no root span in the
         * window, so first start to last end of the trace's spans there */
        json_out_key(&j, "duration_from");
        json_out_str(&j, t[i].by_root ? "root" : "extent");
        json_out_key(&j, "spans");
        json_out_u64(&j, t[i].spans);
        json_out_key(&j, "errors");
        json_out_u64(&j, t[i].errors);
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_object_end(&j);
    json_out_success_end(&j);
    spanstats_traces_free(t, n);
    rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    return rc;
}

int api_spans_register(struct server *srv, struct api_spans **out)
{
    struct api_spans *as = calloc(1, sizeof *as);
    if (as == NULL)
        return TT_ENOMEM;
    const struct http_route routes[] = {
        { .method = "GET", .pattern = "/api/tt/spans/stats", .handler = h_stats, .ctx = as },
        { .method = "GET", .pattern = "/api/tt/spans/slowest", .handler = h_slow_spans, .ctx = as },
        { .method = "GET",
          .pattern = "/api/tt/traces/slowest",
          .handler = h_slow_traces,
          .ctx = as },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = server_add_route(srv, &routes[i]);
        if (rc != 0) {
            free(as);
            return rc;
        }
    }
    *out = as;
    return 0;
}

void api_spans_free(struct api_spans *as)
{
    free(as);
}
