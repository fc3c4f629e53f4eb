/*
 * engine.h - the PromQL evaluation engine: evaluates a parsed expression
 * (ast.h) at one instant or over a range of steps against any storage that
 * implements struct promql_storage, with Prometheus 3.x semantics (5 m
 * lookback, staleness markers, left-open range windows, offset and @,
 * subqueries, delayed metric-name removal, Prometheus's error messages).
 *
 * Invariants:
 *  - Each selector of a query asks the storage once, for the whole time span
 *    the query can look at; the points are kept for the query's duration and
 *    every step reads them by binary search (no series is decoded twice).
 *  - All memory of an evaluation lives in arenas: one for the query (the
 *    selected data and the result, owned by struct promql_result) and one
 *    per step that is reset between steps of a range query.
 *  - No globals; an engine call can run concurrently with others as long as
 *    the storage allows concurrent selects.
 *  - Native histograms are not supported: storages expose float samples only.
 */
#ifndef TT_PROMQL_ENGINE_H
#define TT_PROMQL_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "query/promql/ast.h"
#include "query/promql/value.h"

/* promql_series_fn receives one selected series: its label set (sorted by
 * name, borrowed for the duration of the call) and its samples in increasing
 * time order (staleness markers as PROMQL_STALE_NAN_BITS values). Returns 0 or
 * a negative TT_E* code, which the storage must pass back from select. */
typedef int (*promql_series_fn)(void *arg, const struct promql_labels *labels, const int64_t *ts,
                                const double *vs, size_t n);

/* One rollup interval of a series (storages with rollups): the samples with
 * t in (t - res, t] without stale markers; min and max ignore NaNs unless
 * all are NaN; count >= 1; last is the value at last_t, the newest one. */
struct promql_rollup_point {
    int64_t t, last_t;
    double min, max, sum, count, last;
};

/* promql_rollup_fn receives one series' rollup points in time order. */
typedef int (*promql_rollup_fn)(void *arg, const struct promql_labels *labels,
                                const struct promql_rollup_point *p, size_t n);

/* The storage the engine reads: an adapter over the TSDB head and blocks,
 * or promql_memstore (memstore.h). */
struct promql_storage {
    void *ctx;
    /* select calls emit once for every series matching all of m[0..nm)
     * (AND; a regex matcher is fully anchored; a matcher that matches the
     * empty string also selects series without the label) that has at least
     * one sample in [mint_ms, maxt_ms], passing only the samples in that
     * range. Series may come in any order, each once. Returns 0, the first
     * non-zero code from emit, or a negative TT_E* code of its own (with a
     * message in err, errlen bytes, for TT_ESYNTAX: a bad regex). */
    int (*select)(void *ctx, const struct promql_matcher *m, size_t nm, int64_t mint_ms,
                  int64_t maxt_ms, promql_series_fn emit, void *arg, char *err, size_t errlen);
    /* select_rollup (NULL when the storage has none) is select for rollups
     * of resolution res_ms (5 min or 1 h): the intervals inside (mint_ms,
     * maxt_ms], both multiples of res_ms, holding a sample. The engine uses
     * it for min/max/sum/count/avg/last/present_over_time over ranges of an
     * hour or more in range queries whose windows fall on interval
     * boundaries, where the answer is that of the raw samples (sum and avg
     * may differ in the last bits: the sums are added in another order). */
    int (*select_rollup)(void *ctx, const struct promql_matcher *m, size_t nm, int64_t mint_ms,
                         int64_t maxt_ms, int64_t res_ms, promql_rollup_fn emit, void *arg,
                         char *err, size_t errlen);
};

struct promql_engine_opts {
    int64_t lookback_ms;              /* instant selectors look back this far; 0: 5 min */
    int64_t default_subquery_step_ms; /* step of `[r:]` subqueries; 0: 1 min */
    size_t max_samples;               /* points held at once; 0: 50 M */
    /* Range queries: threads that compute streamed range functions (e.g.
     * the rate() of sum(rate(x[5m]))) series by series while the calling
     * thread fetches the next ones; 0: none, everything on the calling
     * thread. Results are the same either way, bit for bit. The threads
     * live for one evaluation and never call the storage: select is still
     * called on the calling thread only. */
    unsigned stream_workers;
    /* The query's text (may be NULL), for the "(line:col)" that ends each
     * annotation's message; without it the position is counted on one line. */
    const char *query;
};

/* A query's result and the memory it lives in. type is SCALAR (scalar, t),
 * STRING (str), VECTOR (samples, in the engine's output order, which is
 * meaningful after sort()/sort_desc()/topk()) or MATRIX (series sorted by
 * labels, each with points in time order). Names of samples marked
 * drop_name have already been removed. */
struct promql_result {
    enum promql_type type;
    double scalar;
    int64_t t;
    const char *str;
    struct promql_sample *samples;
    size_t nsamples;
    struct promql_series *series;
    size_t nseries;
    /* Annotations, as Prometheus gives them next to a result: warnings
     * ("PromQL warning: quantile value should be between 0 and 1, got 2
     * (1:10)") and infos ("PromQL info: metric might not be a counter, ...");
     * each message once. */
    const char **warnings;
    size_t nwarnings;
    const char **infos;
    size_t ninfos;
    struct promql_arena arena; /* owns everything above */
};

/* Why an evaluation failed: code is TT_EINVAL for an execution error (the
 * message is Prometheus's, e.g. "vector cannot contain metrics with the same
 * labelset"), TT_ERANGE for a query over the sample limit, TT_ENOMEM, or the
 * storage's code; msg holds the text. */
struct promql_eval_error {
    int code;
    char msg[512];
};

/* promql_eval_instant evaluates e at t_ms. opts may be NULL (defaults). On
 * success returns 0 and *out owns the result (free with promql_result_free);
 * on failure returns a negative TT_E* code, err (may be NULL) says why and
 * *out is NULL. e is only read and must outlive the call. */
int promql_eval_instant(const struct promql_engine_opts *opts, const struct promql_storage *st,
                        const struct promql_expr *e, int64_t t_ms, struct promql_result **out,
                        struct promql_eval_error *err);

/* promql_eval_range evaluates e at start_ms, start_ms + step_ms, ... <= end_ms
 * (step_ms > 0, start <= end). e must be a scalar or instant-vector
 * expression (else TT_EINVAL with Prometheus's message). The result is always
 * a MATRIX; ownership and errors as promql_eval_instant. */
int promql_eval_range(const struct promql_engine_opts *opts, const struct promql_storage *st,
                      const struct promql_expr *e, int64_t start_ms, int64_t end_ms,
                      int64_t step_ms, struct promql_result **out, struct promql_eval_error *err);

/* promql_result_free frees r and everything it points to (NULL is fine). */
void promql_result_free(struct promql_result *r);

#endif
