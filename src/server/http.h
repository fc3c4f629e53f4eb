/*
 * http.h - the server's HTTP layer on libmicrohttpd: a routing table, request
 * parsing (path parameters, query and form parameters, headers, bodies),
 * response helpers and Prometheus-shaped errors.
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION with
 * an internal poll() listener thread), bounded by max_connections. Handlers
 * block: a PromQL query may run for seconds, an import streams gigabytes
 * into the WAL with fsyncs. With an epoll thread pool a slow handler would
 * stall every other connection of its worker (a health check behind a long
 * query); with a thread per connection each request waits only for itself
 * and the kernel shares the cores. The cost, a thread per open connection,
 * is bounded by the connection limit and the idle timeout, and Grafana or
 * Prometheus keep few connections open. All calls for one request happen on
 * its connection's thread, so a request needs no locking; handlers of
 * different requests run concurrently and must make their ctx thread-safe.
 *
 * Request lifecycle, per route:
 *   1. headers arrive: the route is matched (404, or 405 with Allow), a
 *      Content-Length above the route's max_body_bytes is refused at once
 *      with 413 (before "100 Continue", so the body is never sent);
 *   2. body chunks: passed to the route's on_body callback as they arrive
 *      (streaming), or else collected into the request up to max_body_bytes
 *      (413 past it, for chunked uploads that announced no length);
 *   3. body complete: for routes with HTTP_ROUTE_FORM, an
 *      application/x-www-form-urlencoded body is parsed into parameters
 *      after those of the URL; then the handler runs and sets the response.
 * A response set during step 2 (on_body failing with http_respond_error)
 * ends the request: the rest of the body is read and dropped, the handler
 * is not called, and that response is sent.
 *
 * Ownership: everything reachable from a struct http_req (parameters, body,
 * path) is owned by the request and valid until the handler returns (or, for
 * on_body, until the request ends). Route tables are copied at registration.
 */
#ifndef TT_HTTP_H
#define TT_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "core/buf.h"
#include "core/log.h"

struct http_server;
struct http_req;

/* The body limit of routes that leave max_body_bytes at 0. */
#define HTTP_DEFAULT_MAX_BODY_BYTES ((size_t)1 << 20)
/* max_body_bytes of a route that accepts bodies of any size (streaming). */
#define HTTP_UNLIMITED_BODY SIZE_MAX
/* Most path parameters one pattern may have. */
#define HTTP_MAX_PATH_PARAMS 8

/* handler: called once the whole request has arrived; sets the response with
 * one of the http_respond* functions. Returns 0, or a negative TT_E* code:
 * when it returns an error without having set a response, the error becomes
 * one (TT_EINVAL, TT_ESYNTAX, TT_ERANGE -> 400 bad_data; TT_ENOTFOUND -> 404;
 * TT_ETOOBIG -> 413; TT_ESTATE -> 503 unavailable; others -> 500 internal).
 * Returning 0 without a response is a bug and answers 500. */
typedef int (*http_handler_fn)(struct http_req *req, void *ctx);

/* on_body: called with each chunk of the body as it arrives (n > 0), on the
 * request's thread. Returns 0 to go on, or a negative TT_E* code to stop
 * (with a response set by http_respond_error, or mapped as for handlers). */
typedef int (*http_body_fn)(struct http_req *req, void *ctx, const uint8_t *chunk, size_t n);

enum http_route_flags {
    /* Parse application/x-www-form-urlencoded request bodies into the
     * parameters (Prometheus's POST form of /api/v1/query and friends). */
    HTTP_ROUTE_FORM = 1u << 0,
};

struct http_route {
    /* "GET", "POST", "PUT", "DELETE", ...; a GET route also answers HEAD. */
    const char *method;
    /* An absolute path. A segment "{name}" matches one non-empty segment and
     * is read with http_req_path_param(req, "name"); a last segment "*"
     * matches the rest of the path, possibly empty (http_req_path_param(req,
     * "*")). Literal routes should be registered before overlapping
     * parameterised ones: the first matching route wins. */
    const char *pattern;
    http_handler_fn handler; /* required */
    http_body_fn on_body;    /* optional; NULL collects the body */
    size_t max_body_bytes;   /* 0 = HTTP_DEFAULT_MAX_BODY_BYTES */
    unsigned flags;          /* enum http_route_flags */
    void *ctx;               /* passed to handler and on_body */
};

/* Called after each response is queued, on the request's thread: for
 * metrics and access logs. route is the matched pattern or NULL (404). */
typedef void (*http_observe_fn)(void *ctx, const struct http_req *req, const char *route,
                                int status, int64_t duration_ns);

struct http_config {
    /* "host:port", "[v6addr]:port", or ":port" for every interface; port 0
     * picks a free port (see http_server_port). Copied. */
    const char *addr;
    unsigned max_connections; /* 0 = 256 */
    unsigned idle_timeout_s;  /* an idle keep-alive connection is closed; 0 = 300 */
    struct log *log;          /* borrowed, may be NULL */
    http_observe_fn observe;  /* may be NULL */
    void *observe_ctx;
};

/* http_server_new makes a server that is not yet listening. Returns 0,
 * TT_EINVAL (no addr), or TT_ENOMEM. */
int http_server_new(const struct http_config *cfg, struct http_server **out);

/* http_server_add_route copies route (and its strings) into the table.
 * Returns 0, TT_EINVAL (bad pattern or method, no handler), TT_EEXIST (the
 * same method and pattern twice), TT_ESTATE (already started), TT_ENOMEM. */
int http_server_add_route(struct http_server *srv, const struct http_route *route);

/* http_server_start binds and listens, then serves on its own threads.
 * Returns 0; TT_EINVAL for an address that does not parse or resolve;
 * TT_EEXIST when the address is in use; TT_ESYS for other socket or
 * libmicrohttpd failures; TT_ESTATE if already started. On failure errbuf
 * (if not NULL) gets a message for people, e.g. "listen on
 * 127.0.0.1:7070: address already in use". */
int http_server_start(struct http_server *srv, char *errbuf, size_t errlen);

/* http_server_port returns the bound port (after start), 0 before. */
uint16_t http_server_port(const struct http_server *srv);

/* http_server_stop stops listening, waits for the requests in progress to
 * finish and closes every connection. Safe to call twice or unstarted. */
void http_server_stop(struct http_server *srv);

/* http_server_free stops the server if needed and frees it; NULL is a no-op. */
void http_server_free(struct http_server *srv);

/* --- the request --------------------------------------------------------- */

/* The method ("GET", ...) and the decoded path without the query string. */
const char *http_req_method(const struct http_req *req);
const char *http_req_path(const struct http_req *req);

/* http_req_path_param returns the value of a "{name}" segment (or of "*"),
 * or NULL if the route's pattern has no such parameter. */
const char *http_req_path_param(const struct http_req *req, const char *name);

/* http_req_param returns the first value of a query or form parameter
 * (URL query first, then the form body), or NULL when absent. A parameter
 * given without '=' has the value "". */
const char *http_req_param(const struct http_req *req, const char *name);

/* http_req_param_next iterates over every value of a repeated parameter
 * (match[]=a&match[]=b): start with *pos = 0; returns the next value and
 * advances *pos, or NULL at the end. */
const char *http_req_param_next(const struct http_req *req, const char *name, size_t *pos);

/* http_req_param_count returns how many parameters (of any name) there are;
 * http_req_param_at returns the i-th name and value (for listing them all). */
size_t http_req_param_count(const struct http_req *req);
void http_req_param_at(const struct http_req *req, size_t i, const char **name, const char **value);

/* http_req_header returns a request header's value (name case-insensitive),
 * or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);

/* http_req_body returns the collected body and its length (0 and a pointer
 * to "" when there was none or the route streams it through on_body). The
 * bytes are followed by a NUL not counted in *len. */
const uint8_t *http_req_body(const struct http_req *req, size_t *len);

/* http_req_body_bytes returns how many body bytes have arrived so far. */
uint64_t http_req_body_bytes(const struct http_req *req);

/* The client's address (as accepted) and as text: "127.0.0.1:50123" or
 * "[::1]:50123". http_req_client_str returns out. */
const struct sockaddr *http_req_client_addr(const struct http_req *req, socklen_t *len);
const char *http_req_client_str(const struct http_req *req, char *out, size_t outlen);

/* Per-request state for streaming handlers (a parser kept between chunks):
 * free_fn(state) runs when the request ends, whatever happened. */
void http_req_set_state(struct http_req *req, void *state, void (*free_fn)(void *));
void *http_req_state(const struct http_req *req);

/* --- the response -------------------------------------------------------- */
/* Each http_respond* sets the request's response, replacing any earlier one
 * (headers added with http_resp_header are kept). They return 0 or
 * TT_ENOMEM; after TT_ENOMEM the request answers 500. */

/* http_resp_header adds a response header (copied). Content-Type and
 * Content-Length are set by the respond functions. */
int http_resp_header(struct http_req *req, const char *name, const char *value);

/* http_respond sends body[0..len) (copied) with status and content_type. */
int http_respond(struct http_req *req, int status, const char *content_type, const void *body,
                 size_t len);

/* http_respond_wbuf sends body's bytes, taking them over: body is left empty
 * and reinitialised (its max kept). If body has a sticky error (it could
 * not be built) the answer is 500 internal naming that error instead. */
int http_respond_wbuf(struct http_req *req, int status, const char *content_type,
                      struct wbuf *body);

/* http_respond_json: http_respond_wbuf with "application/json". */
int http_respond_json(struct http_req *req, int status, struct wbuf *body);

/* http_respond_error sends Prometheus's error shape,
 *   {"status":"error","errorType":"bad_data","error":"<message>"}
 * errtype NULL derives it from status: 400, 405, 413 -> bad_data, 404 ->
 * not_found, 422 -> execution, 503 -> unavailable, 504 -> timeout, others
 * -> internal. */
int http_respond_error(struct http_req *req, int status, const char *errtype, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* http_errtype_for_status: the errorType http_respond_error uses for status. */
const char *http_errtype_for_status(int status);

/* http_status_for_err: the status a handler's TT_E* error maps to. */
int http_status_for_err(int err);

/* http_req_status returns the status of the response set so far, 0 if none. */
int http_req_status(const struct http_req *req);

#endif
