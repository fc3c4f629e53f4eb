/*
 * http.c - routing, request parsing and responses on libmicrohttpd (see
 * http.h for the threading choice and the request lifecycle).
 *
 * Invariants: the route table is immutable once the daemon runs (adding
 * routes after start is refused), so request threads read it without locks.
 * A struct http_req is created on the first access callback of a request,
 * stored in MHD's per-request pointer, used only on that connection's
 * thread, and freed by the request-completed callback, whatever happened.
 * Exactly one response is queued per request: either at once on the first
 * callback (404, 405, 413 from Content-Length) or on the last one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "telltale.h"
#include "core/clock.h"
#include "core/json.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/urlform.h"

#define MAX_SEGMENTS 32
/* Memory MHD gives each connection for its headers and read buffer: long
 * GET queries (Grafana's PromQL in the URL) must fit. */
#define CONNECTION_MEMORY_BYTES (256u * 1024u)

struct route {
    char *method;
    char *pattern;
    char **segs; /* pattern segments; a parameter "{name}" kept as "{name" */
    size_t nsegs;
    int star; /* last pattern segment is "*" (not in segs) */
    http_handler_fn handler;
    http_body_fn on_body;
    size_t max_body;
    unsigned flags;
    void *ctx;
};

struct kv {
    char *name; /* one allocation: name\0value\0 */
    const char *value;
};

struct http_server {
    char *addr;
    struct http_config cfg;
    struct route *routes;
    size_t nroutes;
    struct MHD_Daemon *daemon;
    int fd;
    uint16_t port;
    int started;
};

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    const struct route *route;
    const char *method; /* MHD's, valid for the request */
    char *path;
    const char *pp_names[HTTP_MAX_PATH_PARAMS + 1];
    char *pp_values[HTTP_MAX_PATH_PARAMS + 1];
    size_t npp;
    struct kv *params;
    size_t nparams, capparams;
    struct wbuf body;
    uint64_t body_bytes;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int64_t start_ns;
    void *state;
    void (*state_free)(void *);
    /* the response */
    int status;
    char *ctype;
    uint8_t *rbody;
    size_t rlen;
    struct kv *hdrs;
    size_t nhdrs;
    int oom;     /* building the response failed: answer 500 */
    int aborted; /* a response was set while the body arrived: drop the rest */
};

/* --- routes --------------------------------------------------------------- */

static void route_release(struct route *r)
{
    for (size_t i = 0; i < r->nsegs; i++)
        free(r->segs[i]);
    free(r->segs);
    free(r->method);
    free(r->pattern);
}

/* split_pattern fills r->segs from r->pattern; 0 or TT_EINVAL/TT_ENOMEM. */
static int split_pattern(struct route *r)
{
    const char *p = r->pattern;
    size_t nparams = 0;

    if (p[0] != '/')
        return TT_EINVAL;
    r->segs = calloc(MAX_SEGMENTS, sizeof(char *));
    if (r->segs == NULL)
        return TT_ENOMEM;
    if (strcmp(p, "/") == 0)
        return 0;
    while (*p == '/') {
        const char *s = p + 1, *e = strchr(s, '/');
        size_t n = e != NULL ? (size_t)(e - s) : strlen(s);
        if (r->star)
            return TT_EINVAL; /* "*" must be last */
        if (n == 1 && s[0] == '*') {
            r->star = 1;
        } else {
            if (n == 0 || r->nsegs == MAX_SEGMENTS)
                return TT_EINVAL;
            /* A parameter is kept as "{name", so that seg + 1 is its name. */
            if (s[0] == '{') {
                if (n < 3 || s[n - 1] != '}' || ++nparams > HTTP_MAX_PATH_PARAMS)
                    return TT_EINVAL;
                r->segs[r->nsegs] = strndup(s, n - 1);
            } else {
                r->segs[r->nsegs] = strndup(s, n);
            }
            if (r->segs[r->nsegs] == NULL)
                return TT_ENOMEM;
            r->nsegs++;
        }
        p = s + n;
    }
    return 0;
}

int http_server_new(const struct http_config *cfg, struct http_server **out)
{
    struct http_server *srv;

    *out = NULL;
    if (cfg == NULL || cfg->addr == NULL)
        return TT_EINVAL;
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return TT_ENOMEM;
    srv->cfg = *cfg;
    srv->addr = strdup(cfg->addr);
    if (srv->addr == NULL) {
        free(srv);
        return TT_ENOMEM;
    }
    srv->cfg.addr = srv->addr;
    if (srv->cfg.max_connections == 0)
        srv->cfg.max_connections = 256;
    if (srv->cfg.idle_timeout_s == 0)
        srv->cfg.idle_timeout_s = 300;
    srv->fd = -1;
    *out = srv;
    return 0;
}

static int valid_method(const char *m)
{
    if (m == NULL || *m == '\0')
        return 0;
    for (; *m != '\0'; m++)
        if (*m < 'A' || *m > 'Z')
            return 0;
    return 1;
}

int http_server_add_route(struct http_server *srv, const struct http_route *route)
{
    struct route r = { 0 }, *grown;
    int rc;

    if (srv->started)
        return TT_ESTATE;
    if (route->handler == NULL || !valid_method(route->method) || route->pattern == NULL)
        return TT_EINVAL;
    for (size_t i = 0; i < srv->nroutes; i++)
        if (strcmp(srv->routes[i].method, route->method) == 0 &&
            strcmp(srv->routes[i].pattern, route->pattern) == 0)
            return TT_EEXIST;
    r.method = strdup(route->method);
    r.pattern = strdup(route->pattern);
    if (r.method == NULL || r.pattern == NULL) {
        rc = TT_ENOMEM;
        goto fail;
    }
    rc = split_pattern(&r);
    if (rc < 0)
        goto fail;
    r.handler = route->handler;
    r.on_body = route->on_body;
    r.max_body = route->max_body_bytes != 0 ? route->max_body_bytes : HTTP_DEFAULT_MAX_BODY_BYTES;
    r.flags = route->flags;
    r.ctx = route->ctx;
    grown = realloc(srv->routes, (srv->nroutes + 1) * sizeof(*grown));
    if (grown == NULL) {
        rc = TT_ENOMEM;
        goto fail;
    }
    srv->routes = grown;
    srv->routes[srv->nroutes++] = r;
    return 0;
fail:
    route_release(&r);
    return rc;
}

/* match checks path against r; on success fills vals/lens with the path
 * parameters (pointers into path) in pattern order, "*" last. */
static int match(const struct route *r, const char *path, const char **vals, size_t *lens,
                 size_t *nvals)
{
    const char *p = path;
    size_t n = 0;

    if (path[0] != '/')
        return 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        const char *s, *e;
        size_t len;
        if (*p != '/')
            return 0;
        s = p + 1;
        e = strchr(s, '/');
        len = e != NULL ? (size_t)(e - s) : strlen(s);
        if (r->segs[i][0] == '{') {
            if (len == 0)
                return 0;
            vals[n] = s;
            lens[n++] = len;
        } else if (strlen(r->segs[i]) != len || memcmp(r->segs[i], s, len) != 0) {
            return 0;
        }
        p = s + len;
    }
    if (r->star) {
        /* A trailing star matches "/static", "/static/" and "/static/a/b". */
        if (*p == '/')
            p++;
        else if (*p != '\0')
            return 0;
        vals[n] = p;
        lens[n++] = strlen(p);
    } else if (*p != '\0' && !(r->nsegs == 0 && strcmp(p, "/") == 0)) {
        return 0;
    }
    *nvals = n;
    return 1;
}

/* --- requests --------------------------------------------------------------- */

static void free_kvs(struct kv *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static void req_free(struct http_req *req)
{
    if (req == NULL)
        return;
    if (req->state_free != NULL)
        req->state_free(req->state);
    free(req->path);
    for (size_t i = 0; i < req->npp; i++)
        free(req->pp_values[i]);
    free_kvs(req->params, req->nparams);
    wbuf_release(&req->body);
    free(req->ctype);
    free(req->rbody);
    free_kvs(req->hdrs, req->nhdrs);
    free(req);
}

/* kv_push appends name=value (copied, n bytes each) to a kv array. */
static int kv_push(struct kv **arr, size_t *n, size_t *cap, const char *name, size_t nn,
                   const char *value, size_t vn)
{
    char *mem;

    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct kv *grown = realloc(*arr, ncap * sizeof(**arr));
        if (grown == NULL)
            return TT_ENOMEM;
        *arr = grown;
        *cap = ncap;
    }
    mem = malloc(nn + vn + 2);
    if (mem == NULL)
        return TT_ENOMEM;
    memcpy(mem, name, nn);
    mem[nn] = '\0';
    memcpy(mem + nn + 1, value, vn);
    mem[nn + 1 + vn] = '\0';
    (*arr)[*n].name = mem;
    (*arr)[*n].value = mem + nn + 1;
    (*n)++;
    return 0;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct http_req *req = cls;

    (void)kind;
    if (value == NULL)
        value = "";
    if (kv_push(&req->params, &req->nparams, &req->capparams, key, strlen(key), value,
                strlen(value)) < 0)
        req->oom = 1;
    return MHD_YES;
}

/* form_param adds one parameter of an urlencoded body (urlform_parse). */
static int form_param(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
    struct http_req *req = arg;
    return kv_push(&req->params, &req->nparams, &req->capparams, name, nlen, val, vlen);
}

const char *http_req_method(const struct http_req *req)
{
    return req->method;
}

const char *http_req_path(const struct http_req *req)
{
    return req->path;
}

const char *http_req_path_param(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->npp; i++)
        if (strcmp(req->pp_names[i], name) == 0)
            return req->pp_values[i];
    return NULL;
}

const char *http_req_param(const struct http_req *req, const char *name)
{
    size_t pos = 0;

    return http_req_param_next(req, name, &pos);
}

const char *http_req_param_next(const struct http_req *req, const char *name, size_t *pos)
{
    for (size_t i = *pos; i < req->nparams; i++) {
        if (strcmp(req->params[i].name, name) == 0) {
            *pos = i + 1;
            return req->params[i].value;
        }
    }
    *pos = req->nparams;
    return NULL;
}

size_t http_req_param_count(const struct http_req *req)
{
    return req->nparams;
}

void http_req_param_at(const struct http_req *req, size_t i, const char **name, const char **value)
{
    *name = req->params[i].name;
    *value = req->params[i].value;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const uint8_t *http_req_body(const struct http_req *req, size_t *len)
{
    *len = req->body.len;
    return req->body.len > 0 ? req->body.data : (const uint8_t *)"";
}

uint64_t http_req_body_bytes(const struct http_req *req)
{
    return req->body_bytes;
}

const struct sockaddr *http_req_client_addr(const struct http_req *req, socklen_t *len)
{
    if (len != NULL)
        *len = req->addrlen;
    return (const struct sockaddr *)&req->addr;
}

const char *http_req_client_str(const struct http_req *req, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (req->addr.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&req->addr;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(out, outlen, "%s:%u", host, port);
    } else if (req->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&req->addr;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(out, outlen, "[%s]:%u", host, port);
    } else {
        snprintf(out, outlen, "unknown");
    }
    return out;
}

void http_req_set_state(struct http_req *req, void *state, void (*free_fn)(void *))
{
    req->state = state;
    req->state_free = free_fn;
}

void *http_req_state(const struct http_req *req)
{
    return req->state;
}

int http_req_status(const struct http_req *req)
{
    return req->status;
}

/* --- responses -------------------------------------------------------------- */

int http_resp_header(struct http_req *req, const char *name, const char *value)
{
    size_t cap = req->nhdrs;

    /* kv_push doubles cap when full: passing cap == n makes it grow by
     * reallocating exactly as needed for these few headers. */
    if (kv_push(&req->hdrs, &req->nhdrs, &cap, name, strlen(name), value, strlen(value)) < 0) {
        req->oom = 1;
        return TT_ENOMEM;
    }
    return 0;
}

static int set_response(struct http_req *req, int status, const char *content_type, uint8_t *body,
                        size_t len)
{
    char *ct = strdup(content_type != NULL ? content_type : "text/plain; charset=utf-8");

    free(req->rbody);
    free(req->ctype);
    req->rbody = body;
    req->rlen = len;
    req->ctype = ct;
    req->status = status;
    if (ct == NULL) {
        req->oom = 1;
        return TT_ENOMEM;
    }
    return 0;
}

int http_respond(struct http_req *req, int status, const char *content_type, const void *body,
                 size_t len)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);

    if (copy == NULL) {
        req->oom = 1;
        return TT_ENOMEM;
    }
    if (len > 0)
        memcpy(copy, body, len);
    return set_response(req, status, content_type, copy, len);
}

int http_respond_wbuf(struct http_req *req, int status, const char *content_type, struct wbuf *body)
{
    uint8_t *data = body->data;
    size_t len = body->len, max = body->max;
    int err = body->err;

    if (err) {
        wbuf_release(body);
        wbuf_init(body, max);
        return http_respond_error(req, 500, "internal", "building the response: %s",
                                  tt_strerror(err));
    }
    wbuf_init(body, max); /* the bytes are the response's now */
    if (data == NULL) {
        data = malloc(1);
        if (data == NULL) {
            req->oom = 1;
            return TT_ENOMEM;
        }
    }
    return set_response(req, status, content_type, data, len);
}

int http_respond_json(struct http_req *req, int status, struct wbuf *body)
{
    return http_respond_wbuf(req, status, "application/json", body);
}

const char *http_errtype_for_status(int status)
{
    switch (status) {
    case 400:
    case 405:
    case 413:
        return "bad_data";
    case 404:
        return "not_found";
    case 406:
        return "not_acceptable";
    case 422:
        return "execution";
    case 503:
        return "unavailable";
    case 504:
        return "timeout";
    default:
        return "internal";
    }
}

int http_status_for_err(int err)
{
    switch (err) {
    case TT_EINVAL:
    case TT_ESYNTAX:
    case TT_ERANGE:
        return 400;
    case TT_ENOTFOUND:
        return 404;
    case TT_ETOOBIG:
        return 413;
    case TT_ESTATE:
        return 503;
    default:
        return 500;
    }
}

int http_respond_error(struct http_req *req, int status, const char *errtype, const char *fmt, ...)
{
    char small[512], *msg = small;
    struct wbuf b;
    struct json_out j;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(small)) {
        msg = malloc((size_t)n + 1);
        if (msg != NULL) {
            va_start(ap, fmt);
            vsnprintf(msg, (size_t)n + 1, fmt, ap);
            va_end(ap);
        } else {
            msg = small;
        }
    }
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_object_begin(&j);
    json_out_key(&j, "status");
    json_out_str(&j, "error");
    json_out_key(&j, "errorType");
    json_out_str(&j, errtype != NULL ? errtype : http_errtype_for_status(status));
    json_out_key(&j, "error");
    json_out_str(&j, msg);
    json_out_object_end(&j);
    if (msg != small)
        free(msg);
    if (b.err) {
        wbuf_release(&b);
        req->oom = 1;
        req->status = 500;
        return TT_ENOMEM;
    }
    return http_respond_wbuf(req, status, "application/json", &b);
}

/* --- the MHD callbacks ------------------------------------------------------ */

static enum MHD_Result queue(struct http_req *req)
{
    static const char oom_body[] = "{\"status\":\"error\",\"errorType\":\"internal\","
                                   "\"error\":\"out of memory\"}";
    struct MHD_Response *resp;
    enum MHD_Result ret;
    int status = req->status;

    if (req->oom || status == 0) {
        status = 500;
        resp = MHD_create_response_from_buffer(sizeof(oom_body) - 1, (void *)oom_body,
                                               MHD_RESPMEM_PERSISTENT);
        if (resp != NULL)
            MHD_add_response_header(resp, "Content-Type", "application/json");
    } else {
        resp = MHD_create_response_from_buffer(req->rlen, req->rbody, MHD_RESPMEM_MUST_FREE);
        if (resp != NULL) {
            req->rbody = NULL;
            MHD_add_response_header(resp, "Content-Type", req->ctype);
            for (size_t i = 0; i < req->nhdrs; i++)
                MHD_add_response_header(resp, req->hdrs[i].name, req->hdrs[i].value);
        }
    }
    if (resp == NULL)
        return MHD_NO;
    ret = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (req->srv->cfg.observe != NULL)
        req->srv->cfg.observe(req->srv->cfg.observe_ctx, req,
                              req->route != NULL ? req->route->pattern : NULL, status,
                              clock_monotonic_ns() - req->start_ns);
    return ret;
}

/* route_request finds the route of req, or answers 404/405 (returns 0). */
static int route_request(struct http_req *req)
{
    struct http_server *srv = req->srv;
    const char *vals[HTTP_MAX_PATH_PARAMS + 1];
    size_t lens[HTTP_MAX_PATH_PARAMS + 1], nvals = 0;
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    char allow[256];
    size_t alen = 0;

    allow[0] = '\0';
    for (size_t i = 0; i < srv->nroutes; i++) {
        const struct route *r = &srv->routes[i];
        if (!match(r, req->path, vals, lens, &nvals))
            continue;
        if (strcmp(r->method, method) == 0) {
            req->route = r;
            for (size_t k = 0, p = 0; k < nvals; k++) {
                const char *name = "*";
                while (p < r->nsegs && r->segs[p][0] != '{')
                    p++;
                if (p < r->nsegs) {
                    name = r->segs[p] + 1;
                    p++;
                }
                req->pp_names[k] = name;
                req->pp_values[k] = strndup(vals[k], lens[k]);
                req->npp = k + 1;
                if (req->pp_values[k] == NULL)
                    req->oom = 1;
            }
            return 1;
        }
        if (strstr(allow, r->method) == NULL) {
            int n =
                snprintf(allow + alen, sizeof(allow) - alen, "%s%s", alen ? ", " : "", r->method);
            if (n > 0 && (size_t)n < sizeof(allow) - alen)
                alen += (size_t)n;
            if (strcmp(r->method, "GET") == 0) {
                n = snprintf(allow + alen, sizeof(allow) - alen, ", HEAD");
                if (n > 0 && (size_t)n < sizeof(allow) - alen)
                    alen += (size_t)n;
            }
        }
    }
    if (alen > 0) {
        http_resp_header(req, "Allow", allow);
        http_respond_error(req, 405, NULL, "method %s not allowed for %s (allowed: %s)",
                           req->method, req->path, allow);
    } else {
        http_respond_error(req, 404, NULL, "no such endpoint: %s", req->path);
    }
    return 0;
}

static void fail_with(struct http_req *req, int rc)
{
    if (req->status == 0 || req->oom) {
        int st = http_status_for_err(rc);
        req->oom = 0;
        http_respond_error(req, st, NULL, "%s", tt_strerror(rc));
    }
}

static int is_form(struct http_req *req)
{
    const char *ct = http_req_header(req, "Content-Type");

    return ct != NULL && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

static enum MHD_Result finish(struct http_req *req)
{
    const struct route *r = req->route;
    int rc;

    if (!req->aborted && !req->oom) {
        if ((r->flags & HTTP_ROUTE_FORM) && r->on_body == NULL && req->body.len > 0 &&
            is_form(req)) {
            rc = urlform_parse((char *)req->body.data, req->body.len, form_param, req);
            if (rc < 0)
                req->oom = 1;
        }
        if (!req->oom) {
            rc = r->handler(req, r->ctx);
            if (rc < 0)
                fail_with(req, rc);
        }
    }
    return queue(req);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_req *req = *con_cls;
    const union MHD_ConnectionInfo *ci;
    const char *cl;
    int rc;

    (void)version;
    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return MHD_NO;
        req->srv = srv;
        req->conn = conn;
        req->method = method;
        req->start_ns = clock_monotonic_ns();
        *con_cls = req;
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci != NULL && ci->client_addr != NULL) {
            socklen_t n = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                 : sizeof(struct sockaddr_in);
            memcpy(&req->addr, ci->client_addr, n);
            req->addrlen = n;
        }
        req->path = strdup(url);
        if (req->path == NULL)
            return MHD_NO;
        if (!route_request(req))
            return queue(req);
        wbuf_init(&req->body, 0);
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, req);
        cl = http_req_header(req, "Content-Length");
        if (cl != NULL) {
            char *end;
            unsigned long long n;
            errno = 0;
            n = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && n > req->route->max_body) {
                http_respond_error(req, 413, NULL,
                                   "request body of %llu bytes exceeds the "
                                   "limit of %zu bytes",
                                   n, req->route->max_body);
                return queue(req);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        const struct route *r = req->route;
        *upload_data_size = 0;
        if (req->aborted || req->oom)
            return MHD_YES; /* drop the rest of the body */
        req->body_bytes += n;
        if (req->body_bytes > r->max_body) {
            req->aborted = 1;
            http_respond_error(req, 413, NULL, "request body exceeds the limit of %zu bytes",
                               r->max_body);
            return MHD_YES;
        }
        if (r->on_body != NULL) {
            rc = r->on_body(req, r->ctx, (const uint8_t *)upload_data, n);
            if (rc < 0) {
                req->aborted = 1;
                fail_with(req, rc);
            }
        } else {
            wbuf_put(&req->body, upload_data, n);
            if (req->body.err)
                req->oom = 1;
        }
        return MHD_YES;
    }
    if (req->body.len > 0) {
        /* A NUL after the body for handlers that parse text. */
        wbuf_put_u8(&req->body, 0);
        if (req->body.err)
            req->oom = 1;
        else
            req->body.len--;
    }
    return finish(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req_free(*con_cls);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *srv = cls;
    char msg[512];
    int n;

    if (!log_enabled(srv->cfg.log, LOG_LEVEL_INFO))
        return;
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n > 0 && (size_t)n < sizeof(msg) && msg[n - 1] == '\n')
        msg[n - 1] = '\0';
    log_info(srv->cfg.log, "libmicrohttpd", "detail", msg);
}

/* --- listening ---------------------------------------------------------------- */

/* split_addr parses "host:port", "[v6]:port" or ":port" into host (empty for
 * every interface) and port. */
static int split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon, *h = addr;
    size_t hn;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return TT_EINVAL;
        h = addr + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
            return TT_EINVAL;
        hn = (size_t)(colon - addr);
    }
    if (hn >= hostlen || strlen(colon + 1) >= portlen || colon[1] == '\0')
        return TT_EINVAL;
    for (const char *p = colon + 1; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return TT_EINVAL;
    memcpy(host, h, hn);
    host[hn] = '\0';
    memcpy(port, colon + 1, strlen(colon + 1) + 1);
    return 0;
}

static int set_err(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (errbuf != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int listen_on(struct http_server *srv, char *errbuf, size_t errlen)
{
    char host[256], port[16];
    struct addrinfo hints = { 0 }, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    int fd = -1, one = 1, zero = 0, rc, gai;

    if (split_addr(srv->addr, host, sizeof(host), port, sizeof(port)) < 0)
        return set_err(errbuf, errlen, TT_EINVAL,
                       "bad listen address '%s' (want host:port, [ipv6]:port or :port)", srv->addr);
    if (strtol(port, NULL, 10) > 65535)
        return set_err(errbuf, errlen, TT_EINVAL, "bad port in listen address '%s'", srv->addr);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    gai = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
    if (gai != 0)
        return set_err(errbuf, errlen, TT_EINVAL, "listen address '%s': %s", srv->addr,
                       gai_strerror(gai));
    /* Every interface: prefer the IPv6 wildcard, dual-stack, when there is one. */
    ai = res;
    if (host[0] == '\0')
        for (struct addrinfo *a = res; a != NULL; a = a->ai_next)
            if (a->ai_family == AF_INET6) {
                ai = a;
                break;
            }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        rc = set_err(errbuf, errlen, TT_ESYS, "socket for %s: %s", srv->addr, strerror(errno));
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6 && host[0] == '\0')
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        rc = set_err(errbuf, errlen, e == EADDRINUSE ? TT_EEXIST : TT_ESYS, "listen on %s: %s",
                     srv->addr, e == EADDRINUSE ? "address already in use" : strerror(e));
        goto out;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
        srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    srv->fd = fd;
    fd = -1;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return rc;
}

int http_server_start(struct http_server *srv, char *errbuf, size_t errlen)
{
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    int rc;

    if (srv->started)
        return set_err(errbuf, errlen, TT_ESTATE, "HTTP server already started");
    rc = listen_on(srv, errbuf, errlen);
    if (rc < 0)
        return rc;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_LISTEN_SOCKET, srv->fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_LIMIT, srv->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        srv->cfg.idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY_BYTES, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        close(srv->fd);
        srv->fd = -1;
        srv->port = 0;
        return set_err(errbuf, errlen, TT_ESYS, "starting the HTTP server on %s failed", srv->addr);
    }
    srv->started = 1;
    return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_stop(struct http_server *srv)
{
    if (srv == NULL || srv->daemon == NULL)
        return;
    MHD_stop_daemon(srv->daemon); /* closes the listening socket too */
    srv->daemon = NULL;
    srv->fd = -1;
}

void http_server_free(struct http_server *srv)
{
    if (srv == NULL)
        return;
    http_server_stop(srv);
    for (size_t i = 0; i < srv->nroutes; i++)
        route_release(&srv->routes[i]);
    free(srv->routes);
    free(srv->addr);
    free(srv);
}
