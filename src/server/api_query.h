/*
 * api_query.h - the Prometheus HTTP query API: /api/v1/query and
 * /api/v1/query_range (GET and POST form), with Prometheus's parameters,
 * JSON shapes and errors, over any storage the PromQL engine can read.
 */
#ifndef TT_API_QUERY_H
#define TT_API_QUERY_H

#include <stdint.h>
#include "query/promql/engine.h"

struct server;
struct http_req;

/* Limits of the query API. */
#define API_QUERY_MAX_POINTS 11000 /* per series of a range query, as Prometheus */
#define API_QUERY_BODY_BYTES (1u << 20)

/* What the query routes evaluate against, and how they parse. */
struct api_query_ctx {
    const struct promql_storage *st;
    /* Accept the functions Prometheus keeps behind
     * --enable-feature=promql-experimental-functions (info, limitk,
     * histogram_quantiles, ...); read on every request. */
    int experimental_functions;
};

/* api_query_register adds the two query routes to srv, evaluating against
 * q (borrowed: it must outlive the server). Returns 0 or
 * TT_ENOMEM/TT_EINVAL. */
int api_query_register(struct server *srv, const struct api_query_ctx *q);

/* api_parse_time parses a Prometheus API time: RFC 3339 ("2015-07-01T20:10:51.781Z",
 * with an offset or 'Z') or Unix seconds with an optional fraction
 * ("1435781451.781"). Returns 0 with milliseconds in *ms, or TT_ESYNTAX. */
int api_parse_time(const char *s, int64_t *ms);

/* api_param_time reads the time parameter name of req (api_parse_time):
 * absent or empty gives dflt, unless required, when that is an error like a
 * bad value. On an error it answers 400 with Prometheus's message ("invalid
 * parameter \"time\": cannot parse \"x\" to a valid timestamp") and returns
 * TT_ESYNTAX; the handler then returns 0. */
int api_param_time(struct http_req *req, const char *name, int required, int64_t dflt, int64_t *ms);

/* api_param_range reads start and end the same way (defaults dmin and dmax
 * when not required) and answers 400 when end is before start. */
int api_param_range(struct http_req *req, int required, int64_t dmin, int64_t dmax, int64_t *start,
                    int64_t *end);

/* api_parse_duration parses a step or timeout: a Prometheus duration ("15s",
 * "1m30s") or seconds as a float ("15", "0.5"). Returns 0 with milliseconds
 * in *ms, or TT_ESYNTAX. */
int api_parse_duration(const char *s, int64_t *ms);

#endif
