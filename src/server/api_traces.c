/*
 * api_traces.c - /api/tt/traces/... (api_traces.h): a trace read from the
 * span store into a trace_view, placed, and written as JSON. Answers are
 * {"status":"success","data":{...}}.
 */
#include "server/api_traces.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "query/traces/trace_view.h"
#include "server/api_jaeger.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/server.h"
#include "store/spans/spanstore.h"
#include "telltale.h"

struct api_traces {
    struct spanstore *ss; /* atomic */
};

static struct spanstore *store_of(struct api_traces *at)
{
    return __atomic_load_n(&at->ss, __ATOMIC_ACQUIRE);
}

void api_traces_set_store(struct api_traces *at, struct spanstore *ss)
{
    __atomic_store_n(&at->ss, ss, __ATOMIC_RELEASE);
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

static void id_text(uint64_t id, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, id);
}

static void reason_out(struct json_out *j, unsigned r)
{
    if ((r & TV_ADJ_HLC) && (r & TV_ADJ_SKEW))
        json_out_str(j, "hlc+skew");
    else if (r & TV_ADJ_HLC)
        json_out_str(j, "hlc");
    else if (r & TV_ADJ_SKEW)
        json_out_str(j, "skew");
    else
        json_out_null(j);
}

/* load reads trace param (a path or query parameter's value, named what)
 * into tv, built with placement unless raw. On failure it has answered
 * (400, 404, 500) and returns -1. */
static int load(struct http_req *req, struct spanstore *ss, const char *what, const char *idtext,
                int raw, struct trace_view *tv)
{
    uint8_t id[16];
    trace_view_init(tv);
    if (idtext == NULL || *idtext == '\0') {
        http_respond_error(req, 400, NULL, "parameter '%s' is missing: want a trace id", what);
        return -1;
    }
    if (jaeger_parse_trace_id(idtext, id) != 0) {
        http_respond_error(req, 400, NULL,
                           "parameter '%s': '%.64s' is not a trace id (1 to 32 hex digits)", what,
                           idtext);
        return -1;
    }
    int n = spanstore_trace(ss, id, trace_view_add_fn, tv);
    if (n == 0) {
        http_respond_error(req, 404, NULL, "trace not found: %.64s", idtext);
        return -1;
    }
    if (n > 0)
        n = trace_view_build(tv, !raw);
    if (n < 0) {
        http_respond_error(req, 500, NULL, "reading trace %.64s: %s", idtext, tt_strerror(n));
        trace_view_release(tv);
        return -1;
    }
    memcpy(tv->trace_id, id, 16);
    return 0;
}

static int raw_param(struct http_req *req, int *raw)
{
    const char *p = http_req_param(req, "raw");
    *raw = 0;
    if (p != NULL && jaeger_parse_bool(p, raw) != 0) {
        http_respond_error(req, 400, NULL, "parameter 'raw': '%.64s' is not true or false", p);
        return -1;
    }
    return 0;
}

static int no_store(struct http_req *req)
{
    return http_respond_error(req, 503, NULL, "the span store is not open yet");
}

static int respond(struct http_req *req, struct wbuf *b)
{
    int rc = b->err ? http_respond_error(req, 500, NULL, "out of memory")
                    : http_respond_json(req, 200, b);
    wbuf_release(b);
    return rc;
}

static void segments_out(struct json_out *j, const struct trace_view *tv,
                         const struct tv_segment *seg, size_t n)
{
    char sid[17];
    json_out_array_begin(j);
    for (size_t i = 0; i < n; i++) {
        const struct tv_span *s = &tv->spans[seg[i].span];
        id_text(s->span_id, sid);
        json_out_object_begin(j);
        json_out_key(j, "spanID");
        json_out_str(j, sid);
        json_out_key(j, "service");
        json_out_str(j, s->service);
        json_out_key(j, "operation");
        json_out_str(j, s->name);
        json_out_key(j, "start_ns");
        json_out_i64(j, seg[i].start_ns);
        json_out_key(j, "end_ns");
        json_out_i64(j, seg[i].end_ns);
        json_out_key(j, "duration_ns");
        json_out_i64(j, seg[i].end_ns - seg[i].start_ns);
        json_out_object_end(j);
    }
    json_out_array_end(j);
}

static int h_trace(struct http_req *req, void *ctx)
{
    struct spanstore *ss = store_of(ctx);
    struct trace_view tv;
    struct tv_segment *seg = NULL;
    size_t nseg = 0;
    struct wbuf b;
    struct json_out j;
    char tid[33], sid[17], warn[512];
    int raw;
    if (ss == NULL)
        return no_store(req);
    if (raw_param(req, &raw) != 0 ||
        load(req, ss, "id", http_req_path_param(req, "id"), raw, &tv) != 0)
        return 0;
    if (trace_view_critical_path(&tv, &seg, &nseg) != 0) {
        trace_view_release(&tv);
        return http_respond_error(req, 500, NULL, "out of memory");
    }
    free(seg);
    jaeger_trace_id_text(tv.trace_id, tid);
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "traceID");
    json_out_str(&j, tid);
    json_out_key(&j, "placed");
    json_out_bool(&j, !raw);
    json_out_key(&j, "start_ns");
    json_out_i64(&j, tv.start_ns);
    json_out_key(&j, "duration_ns");
    json_out_i64(&j, tv.end_ns - tv.start_ns);
    json_out_key(&j, "nodes");
    json_out_array_begin(&j);
    for (size_t i = 0; i < tv.nnodes; i++) {
        const struct tv_node *nd = &tv.nodes[i];
        json_out_object_begin(&j);
        json_out_key(&j, "node");
        json_out_str(&j, nd->name);
        json_out_key(&j, "offset_ns");
        json_out_i64(&j, nd->offset_ns);
        json_out_key(&j, "reason");
        reason_out(&j, nd->offset_ns != 0 ? nd->reason : 0);
        json_out_key(&j, "has_hlc");
        json_out_bool(&j, nd->has_hlc);
        json_out_key(&j, "hlc_ahead_ms");
        json_out_i64(&j, nd->hlc_ahead_ms);
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_key(&j, "spans");
    json_out_array_begin(&j);
    for (size_t k = 0; k < tv.n; k++) {
        uint32_t i = tv.order[k];
        const struct tv_span *s = &tv.spans[i];
        json_out_object_begin(&j);
        id_text(s->span_id, sid);
        json_out_key(&j, "spanID");
        json_out_str(&j, sid);
        json_out_key(&j, "parentSpanID");
        if (s->parent_id != 0) {
            id_text(s->parent_id, sid);
            json_out_str(&j, sid);
        } else {
            json_out_null(&j);
        }
        json_out_key(&j, "service");
        json_out_str(&j, s->service);
        json_out_key(&j, "node");
        json_out_str(&j, s->node);
        json_out_key(&j, "operation");
        json_out_str(&j, s->name);
        json_out_key(&j, "kind");
        json_out_str(&j, kind_name(s->kind));
        json_out_key(&j, "depth");
        json_out_u64(&j, s->depth);
        json_out_key(&j, "orphan");
        json_out_bool(&j, s->orphan);
        json_out_key(&j, "start_ns");
        json_out_i64(&j, s->start_ns);
        json_out_key(&j, "placed_start_ns");
        json_out_i64(&j, s->placed_ns);
        json_out_key(&j, "duration_ns");
        json_out_u64(&j, s->duration_ns);
        json_out_key(&j, "adjust_ns");
        json_out_i64(&j, s->adjust_ns);
        json_out_key(&j, "adjust_reason");
        reason_out(&j, s->reason);
        json_out_key(&j, "disagree_ns");
        json_out_i64(&j, s->disagree_ns);
        json_out_key(&j, "self_ns");
        json_out_u64(&j, s->self_ns);
        json_out_key(&j, "critical");
        json_out_bool(&j, s->critical);
        json_out_key(&j, "hlc");
        json_out_u64(&j, s->hlc);
        json_out_key(&j, "warning");
        if (trace_view_warning(&tv, i, warn, sizeof warn) > 0)
            json_out_str(&j, warn);
        else
            json_out_null(&j);
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_object_end(&j);
    json_out_success_end(&j);
    trace_view_release(&tv);
    return respond(req, &b);
}

static int h_critical(struct http_req *req, void *ctx)
{
    struct spanstore *ss = store_of(ctx);
    struct trace_view tv;
    struct tv_segment *seg = NULL;
    size_t nseg = 0;
    struct wbuf b;
    struct json_out j;
    char tid[33];
    int raw;
    if (ss == NULL)
        return no_store(req);
    if (raw_param(req, &raw) != 0 ||
        load(req, ss, "id", http_req_path_param(req, "id"), raw, &tv) != 0)
        return 0;
    if (trace_view_critical_path(&tv, &seg, &nseg) != 0) {
        trace_view_release(&tv);
        return http_respond_error(req, 500, NULL, "out of memory");
    }
    jaeger_trace_id_text(tv.trace_id, tid);
    uint32_t root = trace_view_main_root(&tv);
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "traceID");
    json_out_str(&j, tid);
    json_out_key(&j, "placed");
    json_out_bool(&j, !raw);
    json_out_key(&j, "root_duration_ns");
    json_out_u64(&j, tv.spans[root].duration_ns);
    json_out_key(&j, "segments");
    segments_out(&j, &tv, seg, nseg);
    json_out_object_end(&j);
    json_out_success_end(&j);
    free(seg);
    trace_view_release(&tv);
    return respond(req, &b);
}

static void diff_node_out(struct json_out *j, const struct trace_view *a,
                          const struct trace_view *b, const struct tv_diff_node *x)
{
    char sid[17];
    json_out_object_begin(j);
    json_out_key(j, "path");
    json_out_str(j, x->path);
    json_out_key(j, "in");
    json_out_str(j, x->a != TV_NONE && x->b != TV_NONE ? "both" : x->a != TV_NONE ? "a" : "b");
    if (x->a != TV_NONE) {
        id_text(a->spans[x->a].span_id, sid);
        json_out_key(j, "a_spanID");
        json_out_str(j, sid);
        json_out_key(j, "a_duration_ns");
        json_out_u64(j, a->spans[x->a].duration_ns);
        json_out_key(j, "a_self_ns");
        json_out_u64(j, a->spans[x->a].self_ns);
    }
    if (x->b != TV_NONE) {
        id_text(b->spans[x->b].span_id, sid);
        json_out_key(j, "b_spanID");
        json_out_str(j, sid);
        json_out_key(j, "b_duration_ns");
        json_out_u64(j, b->spans[x->b].duration_ns);
        json_out_key(j, "b_self_ns");
        json_out_u64(j, b->spans[x->b].self_ns);
    }
    if (x->a != TV_NONE && x->b != TV_NONE) {
        json_out_key(j, "duration_delta_ns");
        json_out_i64(j, x->duration_delta_ns);
        json_out_key(j, "self_delta_ns");
        json_out_i64(j, x->self_delta_ns);
    }
    json_out_object_end(j);
}

static int h_diff(struct http_req *req, void *ctx)
{
    struct spanstore *ss = store_of(ctx);
    struct trace_view a, b;
    struct tv_diff d;
    struct wbuf out;
    struct json_out j;
    char ta[33], tb[33];
    int raw;
    if (ss == NULL)
        return no_store(req);
    if (raw_param(req, &raw) != 0 || load(req, ss, "a", http_req_param(req, "a"), raw, &a) != 0)
        return 0;
    if (load(req, ss, "b", http_req_param(req, "b"), raw, &b) != 0) {
        trace_view_release(&a);
        return 0;
    }
    int rc = trace_diff(&a, &b, &d);
    if (rc != 0) {
        trace_view_release(&a);
        trace_view_release(&b);
        return http_respond_error(req, 500, NULL, "diff: %s", tt_strerror(rc));
    }
    jaeger_trace_id_text(a.trace_id, ta);
    jaeger_trace_id_text(b.trace_id, tb);
    wbuf_init(&out, 0);
    json_out_init(&j, &out);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "a");
    json_out_str(&j, ta);
    json_out_key(&j, "b");
    json_out_str(&j, tb);
    json_out_key(&j, "summary");
    json_out_object_begin(&j);
    json_out_key(&j, "spans_a");
    json_out_u64(&j, d.spans_a);
    json_out_key(&j, "spans_b");
    json_out_u64(&j, d.spans_b);
    json_out_key(&j, "matched");
    json_out_u64(&j, d.matched);
    json_out_key(&j, "only_a");
    json_out_u64(&j, d.only_a);
    json_out_key(&j, "only_b");
    json_out_u64(&j, d.only_b);
    json_out_key(&j, "duration_a_ns");
    json_out_i64(&j, d.duration_a_ns);
    json_out_key(&j, "duration_b_ns");
    json_out_i64(&j, d.duration_b_ns);
    json_out_key(&j, "duration_delta_ns");
    json_out_i64(&j, d.duration_b_ns - d.duration_a_ns);
    json_out_key(&j, "largest_deltas");
    json_out_array_begin(&j);
    for (size_t i = 0; i < d.ntop; i++)
        diff_node_out(&j, &a, &b, &d.nodes[d.top[i]]);
    json_out_array_end(&j);
    json_out_object_end(&j);
    json_out_key(&j, "nodes");
    json_out_array_begin(&j);
    for (size_t i = 0; i < d.n; i++)
        diff_node_out(&j, &a, &b, &d.nodes[i]);
    json_out_array_end(&j);
    json_out_object_end(&j);
    json_out_success_end(&j);
    trace_diff_release(&d);
    trace_view_release(&a);
    trace_view_release(&b);
    return respond(req, &out);
}

int api_traces_register(struct server *srv, struct api_traces **out)
{
    struct api_traces *at = calloc(1, sizeof *at);
    if (at == NULL)
        return TT_ENOMEM;
    /* diff before {id}: the first route that matches answers */
    const struct http_route routes[] = {
        { .method = "GET", .pattern = "/api/tt/traces/diff", .handler = h_diff, .ctx = at },
        { .method = "GET",
          .pattern = "/api/tt/traces/{id}/critical_path",
          .handler = h_critical,
          .ctx = at },
        { .method = "GET", .pattern = "/api/tt/traces/{id}", .handler = h_trace, .ctx = at },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = server_add_route(srv, &routes[i]);
        if (rc != 0) {
            free(at);
            return rc;
        }
    }
    *out = at;
    return 0;
}

void api_traces_free(struct api_traces *at)
{
    free(at);
}
