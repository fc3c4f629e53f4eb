/*
 * spanstats.h - span analytics over the span store: latency stats per
 * service or (service, operation) over any window, the slowest spans and
 * the slowest traces.
 *
 * Stats merge the per-block summaries (spansum.h) of the blocks whose spans
 * all started inside the window and decode only the blocks that straddle
 * its edges (or have no summary), so a query reads about one summary
 * record per block instead of every span; memory is one summary record
 * and one block at a time plus the result rows. The slowest spans visit
 * blocks in descending order of their longest duration and stop once the
 * N-th best found is at least the next block's longest. Windows are
 * [start_ns, end_ns], inclusive, on the span's start time.
 */
#ifndef TT_SPANSTATS_H
#define TT_SPANSTATS_H

#include <stddef.h>
#include <stdint.h>
#include "core/sketch.h"
#include "store/spans/spanstore.h"

struct spanstats_query {
    const char *service;   /* NULL: all */
    const char *operation; /* NULL: all */
    int64_t start_ns, end_ns;
    int by_operation; /* 0: one row per service; 1: per (service, operation) */
};

struct spanstats_row {
    char *service;   /* owned */
    char *operation; /* owned; NULL in rows per service */
    uint64_t errors;
    struct sketch sk; /* count, min, max, sum, quantiles */
    /* internal: bucket counts accumulated densely during the query, and
     * their count, sum, min and max (sk has what did not fit) */
    uint64_t *dense;
    int32_t dlo;
    uint32_t dn;
    uint64_t dcount, dsum, dmin, dmax;
};

/* The most memory a query's rows take for their dense bucket arrays
 * (usually 16 KB per row); rows past it merge sparse sketches instead. */
#define SPANSTATS_DENSE_MAX_BYTES (64u << 20)

struct spanstats_result {
    struct spanstats_row *rows; /* sorted by service, then operation */
    size_t n, cap;
    uint64_t blocks_summarised; /* blocks whose summary was merged */
    uint64_t blocks_decoded;    /* blocks whose spans were read */
    /* internal: row lookup by name; bytes of the rows' dense arrays */
    uint32_t *slots;
    size_t nslots;
    size_t dense_bytes;
    size_t dense_max; /* 0: SPANSTATS_DENSE_MAX_BYTES (tests set less) */
};

void spanstats_result_init(struct spanstats_result *res);
void spanstats_result_release(struct spanstats_result *res);

/* spanstats_latency fills res (initialised, empty) with the stats of the
 * spans matching q. Returns 0 or TT_ENOMEM (res then holds what was found
 * so far; release it either way). Damaged blocks and summaries are
 * reported through the store's problem callback; a damaged summary's
 * block is decoded instead. */
int spanstats_latency(struct spanstore *ss, const struct spanstats_query *q,
                      struct spanstats_result *res);

/* One span or trace of a "slowest" answer; strings owned by it. */
struct spanstats_span {
    uint8_t trace_id[16];
    uint64_t span_id, parent_id;
    int64_t start_ns;
    uint64_t duration_ns;
    uint8_t status;
    char *service, *operation;
};

struct spanstats_slow_query {
    const char *service, *operation; /* NULL: any */
    int64_t start_ns, end_ns;
    size_t limit; /* 0: 20 */
};

/* spanstats_slowest_spans writes up to q->limit spans, longest first (ties
 * by trace id, then span id), into *out (malloc'd array; free with
 * spanstats_spans_free) and their number into *n. *visited (may be NULL)
 * gets how many blocks were decoded. Returns 0 or TT_ENOMEM. */
int spanstats_slowest_spans(struct spanstore *ss, const struct spanstats_slow_query *q,
                            struct spanstats_span **out, size_t *n, uint64_t *visited);

void spanstats_spans_free(struct spanstats_span *s, size_t n);

/* A trace of the slowest-traces answer. duration_ns is the root span's
 * duration when the root span started in the window (by_root = 1), else
 * the trace's extent: the earliest start to the latest end of its spans
 * that started in the window (by_root = 0). service and operation are the
 * root's, or the earliest span's. */
struct spanstats_trace {
    uint8_t trace_id[16];
    int64_t start_ns;
    uint64_t duration_ns;
    int by_root;
    uint32_t spans;  /* spans of the trace in the window */
    uint32_t errors; /* of those, with status error */
    char *service, *operation;
};

/* The most traces one slowest-traces query tracks (about 64 bytes each). */
#define SPANSTATS_MAX_TRACES (4u << 20)

/* spanstats_slowest_traces ranks the traces with a span in the window that
 * matches q->service and q->operation (any span of the trace), longest
 * first, up to q->limit, into *out (malloc'd; spanstats_traces_free).
 * Every block in the window is decoded. Returns 0, TT_ENOMEM, or TT_EFULL
 * when the window holds more than SPANSTATS_MAX_TRACES traces. */
int spanstats_slowest_traces(struct spanstore *ss, const struct spanstats_slow_query *q,
                             struct spanstats_trace **out, size_t *n);

void spanstats_traces_free(struct spanstats_trace *t, size_t n);

#endif
