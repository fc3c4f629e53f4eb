/*
 * api_jaeger.h - the Jaeger query API over the span store, with Jaeger's
 * JSON shapes, so Jaeger's UI and Grafana's Jaeger data source read
 * Telltale: GET /api/services, /api/services/{service}/operations,
 * /api/operations?service=, /api/traces (search) and /api/traces/{id}.
 * Every answer is {"data": ..., "total": n, "limit": 0, "offset": 0,
 * "errors": null}; a bad parameter is 400 with errors [{"code": 400, "msg":
 * "<what was wrong with which parameter>"}], an unknown trace 404.
 *
 * The routes are registered before the server starts and answer 503 until
 * the store is attached with api_jaeger_set_store (it opens after the agent
 * listener has opened the record log).
 */
#ifndef TT_API_JAEGER_H
#define TT_API_JAEGER_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "store/spans/spanstore.h"

struct server;
struct spanstore;
struct api_jaeger;

/* api_jaeger_register adds the routes to srv and returns the holder in
 * *out (free with api_jaeger_free after the server has stopped). Returns 0,
 * TT_ENOMEM, or a server_add_route error. */
int api_jaeger_register(struct server *srv, struct api_jaeger **out);

/* api_jaeger_set_store attaches (or, with NULL, detaches) the store the
 * routes read; borrowed; any thread. */
void api_jaeger_set_store(struct api_jaeger *aj, struct spanstore *ss);

void api_jaeger_free(struct api_jaeger *aj);

/* jaeger_parse_duration parses a Go duration as Jaeger's minDuration and
 * maxDuration take it ("1.5s", "100ms", "250us", "250µs", "3m", "1h",
 * "10ns", or several: "1m30s"; numbers are digits with at most one '.', no
 * sign or exponent, as Go's time.ParseDuration takes them) into nanoseconds.
 * Returns 0 or TT_ESYNTAX (also above 1.8e19 ns). */
int jaeger_parse_duration(const char *s, uint64_t *ns);

/* jaeger_parse_trace_id parses 1 to 32 hex digits (high bits first, left
 * padded with zeros) into a 16-byte trace id. Returns 0 or TT_ESYNTAX. */
int jaeger_parse_trace_id(const char *s, uint8_t out[16]);

#define JAEGER_MAX_TAGS 32

/* jaeger_param_fn returns the next value of the query parameter name after
 * *pos (start with *pos = 0) and advances *pos, or NULL when there is no
 * more: http_req_param_next's contract, so that a search's parameters can
 * be parsed without a request (unit tests, tests/fuzz/fuzz_jaeger_params.c). */
typedef const char *(*jaeger_param_fn)(void *arg, const char *name, size_t *pos);

/* The parameters of a search, q ready for spanstore_search: its strings are
 * borrowed from the parameter values (they must outlive it) or owned here. */
struct jaeger_search {
    struct spanstore_query q;
    struct spanstore_tag tags[JAEGER_MAX_TAGS];
    char *owned[JAEGER_MAX_TAGS * 2];
    size_t nowned;
};

/* jaeger_parse_search reads the parameters of GET /api/traces through
 * param: service (required), operation ("all" or empty: any), minDuration
 * and maxDuration (Go durations), start and end (microseconds since the
 * epoch), limit (0: the default 20, at most 1500), tags (a JSON object of
 * strings, numbers or bools: Jaeger's UI, Grafana) and tag=key:value
 * (repeated). Returns 0; TT_ESYNTAX with msg naming the parameter and what
 * is wrong with it; or TT_ENOMEM. Release s with jaeger_search_free in
 * every case. */
int jaeger_parse_search(jaeger_param_fn param, void *arg, struct jaeger_search *s, char *msg,
                        size_t msglen);
void jaeger_search_free(struct jaeger_search *s);

/* jaeger_trace_id_text writes the id as Jaeger does: 16 hex digits when the
 * high half is zero, else 32. out needs 33 bytes. */
void jaeger_trace_id_text(const uint8_t id[16], char out[33]);

/* jaeger_parse_bool parses a flag parameter: "true", "1" or "" (present)
 * as 1, "false" or "0" as 0. Returns 0 or TT_ESYNTAX. */
int jaeger_parse_bool(const char *s, int *out);

/* jaeger_write_trace appends one trace of the store as Jaeger's JSON
 * object to b, its spans placed against clock skew (trace_view.h) with a
 * warning on each moved span, as Jaeger's adjusters do. Returns the number
 * of spans (0: not found; nothing written) or TT_ENOMEM/TT_EIO.
 * jaeger_write_trace_opt with raw set writes the stored times instead. */
int jaeger_write_trace(struct spanstore *ss, const uint8_t id[16], struct wbuf *b);
int jaeger_write_trace_opt(struct spanstore *ss, const uint8_t id[16], struct wbuf *b, int raw);

struct json_out;
struct http_req;

/* jaeger_envelope_end closes Jaeger's answer object after its "data":
 * "total": total, "limit": 0, "offset": 0, "errors": null, and the
 * closing brace. */
void jaeger_envelope_end(struct json_out *j, int64_t total);

/* jaeger_respond_error answers status with Jaeger's error shape: {"data":
 * null, ..., "errors": [{"code": status, "msg": <fmt ...>}]}. Returns
 * http_respond_json's result. */
int jaeger_respond_error(struct http_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
