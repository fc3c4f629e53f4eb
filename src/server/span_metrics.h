/*
 * span_metrics.h - RED metrics and the service graph derived from spans, as
 * the OpenTelemetry spanmetrics connector and Tempo's metrics generator
 * derive them, kept as cumulative counters and appended to the TSDB head
 * every flush interval so PromQL charts them (docs/design/spans.md, "Span
 * metrics and the service graph").
 *
 * Every span the span indexer adds is given to span_metrics_add:
 *  - RED: telltale_span_calls_total{service,operation,span_kind,status_code}
 *    and telltale_span_duration_seconds_{bucket,sum,count} with the buckets
 *    SPAN_METRICS_BUCKETS (seconds).
 *  - Service graph: a span is paired with its parent when both are in
 *    different services, or the parent is CLIENT/PRODUCER and the child
 *    SERVER/CONSUMER. Spans of a trace arrive in any order, so each span
 *    waits in a bounded table (by its own id as a parent, by its parent's
 *    id as a child whose parent has not come) until its wait expires; what
 *    expires unpaired and what is pushed out for room is counted. A pair
 *    counts in telltale_service_graph_requests_total{client,server},
 *    ..._request_failed_total (either side has status ERROR),
 *    ..._request_client_seconds and ..._request_server_seconds histograms,
 *    telltale_service_graph_bytes_total{client,server,direction} and per
 *    node pair telltale_node_messages_total{client_node,server_node} and
 *    telltale_node_bytes_total{client_node,server_node,direction}.
 *    A client or producer span whose wait ends without a server or consumer
 *    child but that names its peer (peer.service, db.name, db.system) is a
 *    call to that peer: its edge has connection_type="virtual_node" and no
 *    server latency or node pair.
 *
 * Counters start at 0 when the module starts (a restart is a counter reset
 * to PromQL); a series appears with a 0 sample at the previous flush time
 * so increases over any window count its first calls. Limits: at most
 * max_series series per family (spans past it are counted in
 * dropped_series, not aggregated) and SPAN_METRICS_MAX_NAMES distinct
 * service, operation and node names.
 *
 * Threads: add/expire from one thread (the indexer), flush from another
 * (the module's own thread or a test); stats from any: one mutex. The flush
 * copies the values under the lock and emits them outside it.
 */
#ifndef TT_SPAN_METRICS_H
#define TT_SPAN_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "core/log.h"
#include "server/metric_route.h"
#include "store/spans/spanblock.h"

/* Histogram bounds in seconds: the spanmetrics connector's defaults with
 * four below them (100 us to 1 ms), so in-datacenter RPCs of tens or
 * hundreds of microseconds do not all fall in the first bucket. */
#define SPAN_METRICS_BUCKETS                                                                       \
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1, \
        1.4, 2, 5, 10, 15
#define SPAN_METRICS_NBUCKETS 20

#define SPAN_METRICS_DEFAULT_INTERVAL_MS 15000
#define SPAN_METRICS_DEFAULT_WAIT_MS     60000
#define SPAN_METRICS_DEFAULT_MAX_PENDING 200000
#define SPAN_METRICS_DEFAULT_MAX_SERIES  20000
#define SPAN_METRICS_DEFAULT_MAX_AGE_MS  3600000
#define SPAN_METRICS_MAX_NAMES           100000

struct span_metrics;
struct server_store;
struct metrics_registry;

struct span_metrics_config {
    int64_t interval_ms;  /* flush period of the thread; 0: default */
    int64_t wait_ms;      /* how long a span waits for its pair; 0: default */
    uint32_t max_pending; /* spans waiting at most; 0: default */
    uint32_t max_series;  /* per family (RED, edges, node pairs); 0: default */
    /* Spans that ended more than this before they are added are not counted
     * (a re-indexed record log, a long-offline agent); 0: default; < 0: no
     * limit. */
    int64_t max_age_ms;
    struct log *log; /* may be NULL */
};

struct span_metrics_stats {
    uint64_t spans;           /* aggregated */
    uint64_t too_old;         /* not aggregated: ended before now - max_age */
    uint64_t pairs;           /* parent/child pairs counted as edges */
    uint64_t virtual_pairs;   /* unanswered client calls counted to a named peer */
    uint64_t expired;         /* spans whose wait ended unpaired (orphans, leaf calls) */
    uint64_t dropped_pending; /* pushed out of the full wait table */
    uint64_t dropped_series;  /* spans or pairs not counted: a family was full */
    uint64_t pending;         /* waiting now */
    uint64_t red_series, edges, node_pairs;
    uint64_t flushes, flush_errors;
    uint64_t samples, samples_skipped; /* appended to / refused by the head */
};

/* span_metrics_new makes an empty aggregator (cfg copied; NULL: defaults).
 * Returns 0 or TT_ENOMEM. */
int span_metrics_new(struct span_metrics **out, const struct span_metrics_config *cfg);

/* span_metrics_free stops the thread if running and frees sm (NULL fine). */
void span_metrics_free(struct span_metrics *sm);

/* span_metrics_add aggregates one span (borrowed for the call) arriving at
 * now_ns (server time; waits expire against it), unless it ended more than
 * max_age before. Returns 0 or TT_ENOMEM (the span is then not counted). */
int span_metrics_add(struct span_metrics *sm, const struct span_row *s, int64_t now_ns);

/* span_metrics_observe is span_metrics_add at the wall clock, with the
 * signature of the span indexer's observer (span_indexer.h); arg is sm. */
void span_metrics_observe(void *arg, const struct span_row *s);

/* span_metrics_expire ends the waits that expired by now_ns. */
void span_metrics_expire(struct span_metrics *sm, int64_t now_ns);

/* span_metrics_flush passes every series' cumulative value at t_ms to emit
 * (a new series first gets its zero at the previous flush's time). Returns
 * 0, TT_ENOMEM or emit's error (the series after it are emitted at the
 * next flush). */
int span_metrics_flush(struct span_metrics *sm, int64_t t_ms, metric_route_emit_fn emit, void *ctx);

/* span_metrics_start runs the flush thread: every interval it expires
 * waits and appends one flush to the head of st (borrowed; skipped while
 * the store is opening). Returns 0, TT_ESTATE (running) or TT_ESYS. */
int span_metrics_start(struct span_metrics *sm, struct server_store *st);

/* span_metrics_stop stops the thread after a last flush; safe to repeat. */
void span_metrics_stop(struct span_metrics *sm);

/* span_metrics_register_self adds telltale_span_metrics_* (spans, pairs,
 * expired, dropped, pending, series, flushes) to the server's /metrics.
 * sm must outlive reg. Returns 0 or TT_ENOMEM. */
int span_metrics_register_self(struct span_metrics *sm, struct metrics_registry *reg);

void span_metrics_get_stats(struct span_metrics *sm, struct span_metrics_stats *st);

/* span_bytes reads the request and response sizes a span's attributes
 * state (the keys are listed in docs/design/spans.md): 1 each when found,
 * with the value in *req / *resp (0 when not). */
void span_bytes(const struct span_row *s, uint64_t *req, int *have_req, uint64_t *resp,
                int *have_resp);

#endif
