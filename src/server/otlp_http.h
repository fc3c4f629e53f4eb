/*
 * otlp_http.h - the standard trace and log ingest endpoints of the server
 * (docs/design/otlp.md, docs/server.md): OTLP/HTTP POST /v1/traces and
 * /v1/logs (application/json or application/x-protobuf) and Zipkin v2 POST
 * /api/v2/spans (JSON). Each request is decoded into core records grouped by
 * origin (node from host.name or the client address, service from
 * service.name) and put into the record log with
 * agent_listener_ingest_local; the answer is sent once they are durable.
 */
#ifndef TT_SERVER_OTLP_HTTP_H
#define TT_SERVER_OTLP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "core/log.h"

struct server;
struct agent_listener;
struct otlp_http;

/* A request body over this is answered 413 (otlp_max_body_bytes). */
#define OTLP_DEFAULT_MAX_BODY (8u << 20)

struct otlp_http_config {
    struct agent_listener *al; /* borrowed; must outlive the server's requests */
    size_t max_body_bytes;     /* 0: OTLP_DEFAULT_MAX_BODY */
    struct log *log;           /* borrowed, may be NULL */
};

/* otlp_http_new registers the routes on srv (before server_start) and
 * returns their context in *out, to free with otlp_http_free after the
 * server stopped. Returns 0, TT_ENOMEM, or server_add_route's error
 * (message in err). */
int otlp_http_new(struct otlp_http **out, const struct otlp_http_config *cfg, struct server *srv,
                  char *err, size_t errlen);

/* otlp_http_free frees h (NULL is fine). */
void otlp_http_free(struct otlp_http *h);

#endif
