/*
 * api_deps.h - the service dependency graph over HTTP, read from the span
 * metrics that span_metrics.h appends to the TSDB:
 *
 *  - GET /api/dependencies?endTs=<ms>&lookback=<ms> (Jaeger's shape, for
 *    Jaeger UI's System Architecture page and Grafana's node graph):
 *    {"data":[{"parent":"a","child":"b","callCount":N}],"total":n,
 *    "limit":0,"offset":0,"errors":null}. endTs defaults to now, lookback to
 *    24 h (Jaeger's default).
 *  - GET /api/tt/dependencies?start=&end=[&step=] (Prometheus times and
 *    durations; end defaults to now, start to end - 1 h, step to a sixtieth
 *    of the window, at least 1 s, at most 11000 steps): per edge the calls,
 *    errors, error rate, client and server latency p50/p90/p99 (seconds,
 *    from the histograms; null without calls) and bytes each way; per node
 *    pair the messages and bytes and the messages of each step as
 *    [[unix seconds, count], ...] (the step ending at that time).
 *
 * Counts are exact increases of the cumulative counters over the window
 * (start, end]: the last sample at or before start is the base, a drop is a
 * counter reset (a server restart) and counts from zero, and a series first
 * seen inside the window counts from zero (span metrics start every series
 * with a zero). PromQL's increase() would extrapolate to the window's edges
 * and give fractions.
 */
#ifndef TT_API_DEPS_H
#define TT_API_DEPS_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct promql_storage;
struct api_deps;

/* api_deps_register adds the two routes to srv, reading st (borrowed; it
 * answers TT_ESTATE, hence 503, while the store opens). Returns 0, TT_ENOMEM
 * or a server_add_route error; free *out with api_deps_free after the
 * server stopped. */
int api_deps_register(struct server *srv, const struct promql_storage *st, struct api_deps **out);

void api_deps_free(struct api_deps *d);

/* deps_increase: the increase of a counter whose samples are ts/vs (n, in
 * time order; NaNs skipped) over (a, b], as described above. */
double deps_increase(const int64_t *ts, const double *vs, size_t n, int64_t a, int64_t b);

/* deps_quantile: Prometheus's histogram_quantile over n buckets of upper
 * bounds le (increasing, the last +Inf) and cumulative counts cum: NaN when
 * there is no observation. */
double deps_quantile(double q, const double *le, const double *cum, size_t n);

#endif
