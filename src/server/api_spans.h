/*
 * api_spans.h - Telltale's span analytics under /api/tt/ (spanstats.h):
 *
 *   GET /api/tt/spans/stats?service=&operation=&start=&end=&by=service|operation
 *   GET /api/tt/spans/slowest?service=&operation=&start=&end=&limit=
 *   GET /api/tt/traces/slowest?service=&operation=&start=&end=&limit=
 *
 * Times are RFC 3339, Unix seconds (with a fraction) or Unix milliseconds
 * (an integer of 13 digits or more); end defaults to now, start to an hour
 * before end. Answers are {"status":"success","data":{...}}; a bad
 * parameter is 400 with Prometheus's error shape naming it. The routes
 * answer 503 until the store is attached.
 */
#ifndef TT_API_SPANS_H
#define TT_API_SPANS_H

#include <stdint.h>

struct server;
struct spanstore;
struct api_spans;

/* api_spans_register adds the routes to srv and returns the holder in *out
 * (free with api_spans_free after the server has stopped). Returns 0,
 * TT_ENOMEM, or a server_add_route error. */
int api_spans_register(struct server *srv, struct api_spans **out);

/* api_spans_set_store attaches (NULL: detaches) the store read; borrowed. */
void api_spans_set_store(struct api_spans *as, struct spanstore *ss);

void api_spans_free(struct api_spans *as);

/* api_spans_parse_time parses a time parameter (RFC 3339, Unix seconds, or
 * Unix milliseconds when an integer of 13 or more digits) into
 * nanoseconds since the epoch. Returns 0 or TT_ESYNTAX. */
int api_spans_parse_time(const char *s, int64_t *ns);

#endif
