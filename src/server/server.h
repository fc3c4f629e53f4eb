/*
 * server.h - the telltale server process: configuration, the data directory
 * and its lock, the HTTP daemon, self-metrics, and the registration API that
 * server modules (the status API here; the TSDB, ingest and query APIs
 * later) use to add their routes, metrics and collectors.
 *
 * Lifecycle: server_new (routes of the built-in modules registered) ->
 * modules call server_add_route / server_metrics -> server_start (data dir
 * created and locked, socket bound, serving) -> server_set_ready(1) once the
 * stores are open -> server_stop -> server_free. Routes can only be added
 * before server_start.
 *
 * Built-in endpoints: GET /metrics (self-metrics, text format), GET
 * /-/healthy (200 while the process serves), GET /-/ready (200 once ready,
 * 503 before), GET /api/v1/status/buildinfo.
 *
 * Every request is counted in telltale_http_requests_total{handler,code}
 * and timed in telltale_http_request_duration_seconds{handler}, where
 * handler is the route pattern ("/api/v1/label/{name}/values") or
 * "unmatched"; with the log at debug, each request is logged too.
 */
#ifndef TT_SERVER_H
#define TT_SERVER_H

#include <stdint.h>
#include "core/log.h"
#include "server/http.h"
#include "server/metrics_self.h"

#define SERVER_DEFAULT_DATA_DIR  "./data"
#define SERVER_DEFAULT_HTTP_ADDR "127.0.0.1:7070"

struct server_config {
    const char *data_dir;          /* created if missing */
    const char *http_addr;         /* see struct http_config's addr */
    unsigned http_max_connections; /* 0 = the HTTP layer's default */
    unsigned http_idle_timeout_s;  /* 0 = the HTTP layer's default */
    struct log *log;               /* borrowed; NULL logs nothing */
};

struct server;

/* server_config_defaults fills cfg with the defaults (./data,
 * 127.0.0.1:7070, no log). */
void server_config_defaults(struct server_config *cfg);

/* server_new makes a server from cfg (strings copied) with the built-in
 * routes and metrics registered; nothing is opened yet. Returns 0, TT_EINVAL
 * (missing data_dir or http_addr) or TT_ENOMEM. */
int server_new(const struct server_config *cfg, struct server **out);

/* server_add_route registers a route (see http_server_add_route). */
int server_add_route(struct server *srv, const struct http_route *route);

/* server_start creates and locks the data directory, then listens and
 * serves. Returns 0 or a TT_E* code with a message for people in errbuf:
 * TT_EIO for an unusable data directory, TT_EEXIST for a data directory
 * locked by another server or an address in use, TT_EINVAL for a bad
 * address, TT_ESYS for other failures. After a failure server_free is the
 * only thing left to call. */
int server_start(struct server *srv, char *errbuf, size_t errlen);

/* server_set_ready flips /-/ready (atomic; any thread). */
void server_set_ready(struct server *srv, int ready);
int server_is_ready(const struct server *srv);

/* server_port returns the port the server listens on (after start). */
uint16_t server_port(const struct server *srv);

/* Borrowed parts, valid until server_free. */
struct metrics_registry *server_metrics(struct server *srv);
struct log *server_log(struct server *srv);
const char *server_data_dir(const struct server *srv);

/* server_stop stops serving (waits for requests in progress) and releases
 * the data directory lock. Safe to call twice. */
void server_stop(struct server *srv);

/* server_free stops the server if needed and frees it. NULL is a no-op. */
void server_free(struct server *srv);

/* --- build information (api_status.c) -------------------------------------- */

struct server_build_info {
    const char *version;    /* "0.1.0" */
    const char *revision;   /* git commit, from -DTT_GIT_REVISION, or "unknown" */
    const char *branch;     /* -DTT_GIT_BRANCH or "unknown" */
    const char *build_user; /* -DTT_BUILD_USER or "unknown" */
    const char *build_date; /* -DTT_BUILD_DATE or "unknown" */
};

/* server_build_info returns the static build information. */
const struct server_build_info *server_build_info(void);

/* api_status_register adds /api/v1/status/buildinfo, /-/healthy and
 * /-/ready. Called by server_new. Returns 0 or a server_add_route error. */
int api_status_register(struct server *srv);

#endif
