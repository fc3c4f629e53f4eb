/*
 * metric_route.h - libtelltale metric records (REC_METRIC, records.md "Metric")
 * turned into TSDB samples, so what a program counts with tt_counter_* is
 * queryable by PromQL like any scraped series.
 *
 * Mapping (the record's time, in ms, is every sample's timestamp):
 *  - counter, gauge: one sample of name{labels, origin labels} = value
 *    (a libtelltale counter is cumulative since the process started).
 *  - histogram (log-linear buckets, core/loglin.h): Prometheus's classic
 *    form, so histogram_quantile works: name_bucket{le} with cumulative
 *    counts, one series per non-empty bucket (le the bucket's upper bound:
 *    loglin_upper for positive buckets, the bound nearer zero for negative
 *    ones, LOGLIN_MIN for bucket 0), name_bucket{le="+Inf"} = count,
 *    name_sum, name_count. The buckets are cumulative over the process's
 *    life, so a bucket once present is present in every later record.
 *  - origin labels, from the batch origin "node\0service/pid": node=<node>,
 *    service=<service>, instance="<node>:<pid>" (each process its own
 *    instance, as each Prometheus target is: two workers of one service
 *    must not write the same series), each unless the record has it.
 *
 * Checks: the name must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* not starting with "__" (and not "le" in a
 * histogram); non-string label values are formatted. A record that fails is
 * refused whole (its bytes stay in the record log regardless).
 */
#ifndef TT_SERVER_METRIC_ROUTE_H
#define TT_SERVER_METRIC_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "core/record.h"
#include "store/tsdb/labels.h"

struct head_appender;

/* Receives one sample; ls and its strings are valid during the call only.
 * Returns 0 or a negative code, which metric_route_record returns. */
typedef int (*metric_route_emit_fn)(void *ctx, const struct labels *ls, int64_t t_ms, double v);

/* metric_route_record decodes the metric record r of a batch whose origin is
 * origin (origin_len bytes, not NUL-terminated) and passes its samples to
 * emit. Returns 0; TT_ECORRUPT (record does not decode), TT_EUNSUPPORTED
 * (metric kind unknown), TT_EINVAL (a bad name or label): nothing emitted,
 * message in err; TT_ENOMEM; or emit's error (some samples may have been
 * emitted before it). */
int metric_route_record(const struct rec *r, const char *origin, size_t origin_len,
                        metric_route_emit_fn emit, void *ctx, char *err, size_t errlen);

/* A metric_route_emit_fn target appending to a TSDB head appender. */
struct metric_route_head {
    struct head_appender *app;
    uint64_t samples; /* appended */
    uint64_t skipped; /* refused by the head (too old, conflicting, too big) */
};

/* metric_route_to_head is the emit function for a struct metric_route_head:
 * samples the head refuses are counted in skipped, as the agent listener
 * does for samples records; other append errors are returned. */
int metric_route_to_head(void *ctx, const struct labels *ls, int64_t t_ms, double v);

#endif
