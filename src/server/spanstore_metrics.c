/*
 * spanstore_metrics.c - the span store's figures for /metrics (span_metrics.h).
 */
#include "server/spanstore_metrics.h"

static void put(struct wbuf *out, const char *name, const char *help, enum metric_type type,
                uint64_t v)
{
    metrics_write_header(out, name, help, type);
    metrics_write_sample(out, name, NULL, NULL, 0, (double)v);
}

void spanstore_metrics_collect(void *ctx, struct wbuf *out)
{
    struct spanstore_stats st;
    spanstore_get_stats(ctx, &st);
    put(out, "telltale_spanstore_spans", "Spans in written blocks (visible to queries).",
        METRIC_GAUGE, st.spans);
    put(out, "telltale_spanstore_blocks", "Span blocks written.", METRIC_GAUGE, st.blocks);
    put(out, "telltale_spanstore_segments", "Span segment files.", METRIC_GAUGE, st.segments);
    put(out, "telltale_spanstore_bytes",
        "Bytes of the span store on disk: segments and their summary sidecars.", METRIC_GAUGE,
        st.bytes);
    put(out, "telltale_spanstore_summary_bytes",
        "Bytes of the span store's summary sidecars (.sum), included in telltale_spanstore_bytes.",
        METRIC_GAUGE, st.summary_bytes);
    put(out, "telltale_spanstore_traces", "Distinct trace ids in the trace index.", METRIC_GAUGE,
        st.traces);
    put(out, "telltale_spanstore_problems_total", "Damaged span data found and skipped.",
        METRIC_COUNTER, st.problems);
}

int spanstore_metrics_register(struct metrics_registry *reg, struct spanstore *ss)
{
    return metrics_add_collector(reg, spanstore_metrics_collect, ss);
}
