/*
 * otlp_http.c - POST /v1/traces, /v1/logs (OTLP/HTTP) and /api/v2/spans
 * (Zipkin v2): content negotiation, decoding into an otlp_out, ingest of
 * each origin's records through agent_listener_ingest_local, and the
 * answers each protocol expects. See otlp_http.h.
 */
#include "server/otlp_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/record.h"
#include "server/agent_listener.h"
#include "server/http.h"
#include "server/otlp_json.h"
#include "server/otlp_out.h"
#include "server/otlp_pb.h"
#include "server/server.h"
#include "server/zipkin.h"

/* Records go to the record log in batches of about this many bytes, so a
 * request whose records outgrow the batch limit is still taken. */
#define CHUNK_BYTES (8u << 20)

struct otlp_http {
    struct otlp_http_config cfg;
};

enum signal { SIG_TRACES, SIG_LOGS, SIG_METRICS, SIG_ZIPKIN };
enum ctype { CT_JSON, CT_PROTO, CT_OTHER };

static enum ctype content_type(struct http_req *req)
{
    const char *ct = http_req_header(req, "Content-Type");
    size_t n;
    if (ct == NULL)
        return CT_OTHER;
    while (*ct == ' ')
        ct++;
    n = strcspn(ct, "; ");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return CT_JSON;
    if (n == 22 && strncasecmp(ct, "application/x-protobuf", 22) == 0)
        return CT_PROTO;
    return CT_OTHER;
}

/* respond_status answers an OTLP error: a google.rpc.Status (code, message)
 * in the request's encoding (protobuf, or JSON for JSON and the rest). */
static int respond_status(struct http_req *req, int http_status, enum ctype ct, int code,
                          const char *msg)
{
    struct wbuf b;
    wbuf_init(&b, 0);
    if (ct == CT_PROTO) {
        size_t n = strlen(msg);
        wbuf_put_u8(&b, 0x08); /* field 1, varint: code */
        wbuf_put_uvarint(&b, (uint64_t)code);
        wbuf_put_u8(&b, 0x12); /* field 2, bytes: message */
        wbuf_put_uvarint(&b, n);
        wbuf_put(&b, msg, n);
        return http_respond_wbuf(req, http_status, "application/x-protobuf", &b);
    }
    wbuf_put(&b, "{\"code\":", 8);
    json_put_i64(&b, code);
    wbuf_put(&b, ",\"message\":", 11);
    json_put_cstr(&b, msg);
    wbuf_put_u8(&b, '}');
    return http_respond_json(req, http_status, &b);
}

/* respond_ok answers a stored OTLP export: the Export*ServiceResponse, with
 * partialSuccess when items were rejected. */
static int respond_ok(struct http_req *req, enum signal sig, enum ctype ct,
                      const struct otlp_out *o)
{
    struct wbuf b;
    wbuf_init(&b, 0);
    if (ct == CT_PROTO) {
        if (o->rejected > 0) {
            struct wbuf ps;
            size_t n = strlen(o->reject_msg);
            wbuf_init(&ps, 0);
            wbuf_put_u8(&ps, 0x08); /* rejected_spans / rejected_log_records */
            wbuf_put_uvarint(&ps, o->rejected);
            wbuf_put_u8(&ps, 0x12); /* error_message */
            wbuf_put_uvarint(&ps, n);
            wbuf_put(&ps, o->reject_msg, n);
            wbuf_put_u8(&b, 0x0a); /* partial_success */
            wbuf_put_uvarint(&b, ps.len);
            wbuf_put(&b, ps.data, ps.len);
            if (ps.err != 0)
                b.err = ps.err;
            wbuf_release(&ps);
        }
        return http_respond_wbuf(req, 200, "application/x-protobuf", &b);
    }
    wbuf_put_u8(&b, '{');
    if (o->rejected > 0) {
        char n[32];
        snprintf(n, sizeof n, "\"%llu\"", (unsigned long long)o->rejected);
        wbuf_put(&b, "\"partialSuccess\":{", 18);
        json_put_cstr(&b, sig == SIG_LOGS      ? "rejectedLogRecords"
                          : sig == SIG_METRICS ? "rejectedDataPoints"
                                               : "rejectedSpans");
        wbuf_put_u8(&b, ':');
        wbuf_put(&b, n, strlen(n));
        wbuf_put(&b, ",\"errorMessage\":", 16);
        json_put_cstr(&b, o->reject_msg);
        wbuf_put_u8(&b, '}');
    }
    wbuf_put_u8(&b, '}');
    return http_respond_json(req, 200, &b);
}

static tt_hlc listener_hlc(void *ctx)
{
    return agent_listener_hlc_now(ctx);
}

/* ingest puts each group's records in, in batches of about CHUNK_BYTES.
 * Returns 0 or agent_listener_ingest_local's error (message in err). */
static int ingest(struct otlp_http *h, const struct otlp_out *o, char *err, size_t errlen)
{
    for (size_t i = 0; i < o->ngroups; i++) {
        const struct otlp_group *g = &o->groups[i];
        const uint8_t *p = g->body.data;
        size_t start = 0;
        uint32_t n = 0;
        struct rbuf r;
        struct rec rec;
        int rc;
        if (g->count == 0)
            continue;
        rbuf_init(&r, p, g->body.len);
        for (;;) {
            size_t before = (size_t)(r.p - p);
            rc = rec_next(&r, p, &rec, err, errlen);
            if (rc < 0)
                return rc;
            size_t here = (size_t)(r.p - p);
            if (n > 0 && (rc == 0 || here - start > CHUNK_BYTES)) {
                rc = agent_listener_ingest_local(h->cfg.al, g->origin, g->origin_len, g->origin_id,
                                                 p + start, before - start, n, NULL, err, errlen);
                if (rc < 0)
                    return rc;
                start = before;
                n = 0;
            }
            if (here == before)
                break;
            n++;
        }
    }
    return 0;
}

/* client_node: the client's address without the port, for resources that
 * do not name their host. */
static void client_node(struct http_req *req, char *out, size_t n)
{
    char a[80];
    http_req_client_str(req, a, sizeof a);
    char *colon = strrchr(a, ':');
    if (colon != NULL)
        *colon = '\0';
    char *s = a;
    if (*s == '[') {
        s++;
        size_t l = strlen(s);
        if (l > 0 && s[l - 1] == ']')
            s[l - 1] = '\0';
    }
    snprintf(out, n, "%s", s);
}

static int handle(struct http_req *req, struct otlp_http *h, enum signal sig)
{
    struct otlp_out o;
    char err[512], node[80];
    size_t len;
    const uint8_t *body = http_req_body(req, &len);
    enum ctype ct = content_type(req);
    const char *enc = http_req_header(req, "Content-Encoding");
    int rc;

    if (ct == CT_OTHER || (sig == SIG_ZIPKIN && ct != CT_JSON)) {
        const char *ctv = http_req_header(req, "Content-Type");
        snprintf(err, sizeof err, "unsupported Content-Type '%.200s': use %s", ctv ? ctv : "(none)",
                 sig == SIG_ZIPKIN ? "application/json"
                                   : "application/json or application/x-protobuf");
        return respond_status(req, 415, CT_JSON, 3, err);
    }
    if (enc != NULL && strcasecmp(enc, "identity") != 0) {
        snprintf(err, sizeof err, "unsupported Content-Encoding '%.200s': send it uncompressed",
                 enc);
        return respond_status(req, 415, ct, 3, err);
    }
    otlp_out_init(&o);
    client_node(req, node, sizeof node);
    o.default_node = node;
    o.hlc = listener_hlc;
    o.hlc_ctx = h->cfg.al;
    o.now_ns = clock_realtime_ns();
    err[0] = '\0';
    if (sig == SIG_ZIPKIN)
        rc = zipkin_json_spans(&o, body, len, err, sizeof err);
    else if (ct == CT_JSON)
        rc = sig == SIG_LOGS      ? otlp_json_logs(&o, body, len, err, sizeof err)
             : sig == SIG_METRICS ? otlp_json_metrics(&o, body, len, err, sizeof err)
                                  : otlp_json_traces(&o, body, len, err, sizeof err);
    else
        rc = sig == SIG_LOGS      ? otlp_pb_logs(&o, body, len, err, sizeof err)
             : sig == SIG_METRICS ? otlp_pb_metrics(&o, body, len, err, sizeof err)
                                  : otlp_pb_traces(&o, body, len, err, sizeof err);
    if (rc == TT_ESYNTAX) {
        rc = respond_status(req, 400, ct, 3, err); /* INVALID_ARGUMENT */
        goto out;
    }
    if (rc < 0) {
        rc = respond_status(req, 500, ct, 13, "out of memory");
        goto out;
    }
    rc = ingest(h, &o, err, sizeof err);
    if (rc < 0) {
        log_warn(h->cfg.log, "ingest failed", "path", http_req_path(req), "reason", err);
        rc = respond_status(req, rc == TT_ESTATE || rc == TT_EIO ? 503 : 500, ct,
                            rc == TT_ESTATE || rc == TT_EIO ? 14 : 13, err);
        goto out;
    }
    if (sig == SIG_ZIPKIN) {
        if (o.rejected > 0) {
            struct wbuf b;
            wbuf_init(&b, 0);
            wbuf_put(&b, "{\"rejected\":", 12);
            json_put_u64(&b, o.rejected);
            wbuf_put(&b, ",\"message\":", 11);
            json_put_cstr(&b, o.reject_msg);
            wbuf_put_u8(&b, '}');
            rc = http_respond_json(req, 202, &b);
        } else {
            rc = http_respond(req, 202, "text/plain", "", 0);
        }
        goto out;
    }
    rc = respond_ok(req, sig, ct, &o);
out:
    otlp_out_release(&o);
    return rc;
}

static int handle_traces(struct http_req *req, void *ctx)
{
    return handle(req, ctx, SIG_TRACES);
}

static int handle_logs(struct http_req *req, void *ctx)
{
    return handle(req, ctx, SIG_LOGS);
}

static int handle_metrics(struct http_req *req, void *ctx)
{
    return handle(req, ctx, SIG_METRICS);
}

static int handle_zipkin(struct http_req *req, void *ctx)
{
    return handle(req, ctx, SIG_ZIPKIN);
}

int otlp_http_new(struct otlp_http **out, const struct otlp_http_config *cfg, struct server *srv,
                  char *err, size_t errlen)
{
    struct otlp_http *h = calloc(1, sizeof(*h));
    int rc = 0;
    *out = NULL;
    if (h == NULL)
        return TT_ENOMEM;
    h->cfg = *cfg;
    if (h->cfg.max_body_bytes == 0)
        h->cfg.max_body_bytes = OTLP_DEFAULT_MAX_BODY;
    const struct http_route routes[] = {
        { "POST", "/v1/traces", handle_traces, NULL, h->cfg.max_body_bytes, 0, h },
        { "POST", "/v1/logs", handle_logs, NULL, h->cfg.max_body_bytes, 0, h },
        { "POST", "/v1/metrics", handle_metrics, NULL, h->cfg.max_body_bytes, 0, h },
        { "POST", "/api/v2/spans", handle_zipkin, NULL, h->cfg.max_body_bytes, 0, h },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0] && rc == 0; i++) {
        rc = server_add_route(srv, &routes[i]);
        if (rc < 0)
            snprintf(err, errlen, "route %s: %s", routes[i].pattern, tt_strerror(rc));
    }
    if (rc < 0) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void otlp_http_free(struct otlp_http *h)
{
    free(h);
}
