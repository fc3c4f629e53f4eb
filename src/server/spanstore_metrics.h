/*
 * spanstore_metrics.h - the span store's figures on the server's /metrics page:
 * spans, blocks, segments, bytes on disk, traces and damaged stretches, read
 * from spanstore_get_stats at render time (under the store's read lock, so
 * a scrape never waits for more than one block write). A span is counted
 * once its block is written, that is once queries can see it: the benchmark
 * (bench/spans.sh) polls telltale_spanstore_spans to know when everything
 * sent has been indexed.
 */
#ifndef TT_SERVER_SPANSTORE_METRICS_H
#define TT_SERVER_SPANSTORE_METRICS_H

#include "core/buf.h"
#include "server/metrics_self.h"
#include "store/spans/spanstore.h"

/* spanstore_metrics_collect is a metrics_collect_fn: ctx is the struct spanstore
 * (borrowed); it appends the telltale_spanstore_* families to out. */
void spanstore_metrics_collect(void *ctx, struct wbuf *out);

/* spanstore_metrics_register adds spanstore_metrics_collect for ss to reg. ss is
 * borrowed and must stay open for as long as reg renders (the server stops
 * before the store closes). Returns 0 or TT_ENOMEM. */
int spanstore_metrics_register(struct metrics_registry *reg, struct spanstore *ss);

#endif
