/*
 * fuzz_span_metrics.c - fuzz target for the span metrics' pairing table
 * (src/server/span_metrics.c): the input is a program of spans arriving
 * (small ranges of trace ids, span ids and parents so pairs, fan-outs,
 * repeats and cycles happen), clock steps and flushes, run against a tiny
 * wait table. Every step must keep the table within its bound, every flush
 * must emit well-formed series, and once every wait has expired the table
 * must be empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/span_metrics.h"
#include "store/tsdb/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static int emit(void *ctx, const struct labels *ls, int64_t t, double v)
{
    (void)t;
    CHECK(labels_is_normalized(ls));
    CHECK(labels_get(ls, LABELS_METRIC_NAME) != NULL);
    CHECK(v >= 0);
    (*(size_t *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "a", "b", "c", "" };
    static const char *const nodes[] = { "n1", "n2", "x\0y", "" };
    static const uint32_t node_len[] = { 2, 2, 3, 0 };
    struct span_metrics *sm;
    if (size < 1)
        return 0;
    struct span_metrics_config cfg = { .wait_ms = 1000,
                                       .max_pending = 1 + data[0] % 16,
                                       .max_series = 1 + data[0] / 16 };
    CHECK(span_metrics_new(&sm, &cfg) == 0);
    int64_t now = 1000000000000;
    size_t i = 1, samples = 0;
    int64_t tflush = 1;
    while (i < size) {
        uint8_t op = data[i++];
        /* ops: 0, 1 and 3 (but 3 | 0 << 2, a flush) add a span; 2 steps the clock */
        int is_flush = (op & 15) == 3;
        if ((op & 3) != 2 && !is_flush && i + 4 <= size) {
            struct span_row r;
            memset(&r, 0, sizeof r);
            memset(r.trace_id, op >> 6, 16);
            r.span_id = data[i] & 15;
            r.parent_id = data[i] >> 4;
            r.kind = data[i + 1] & 7; /* 5..7 are no kind */
            r.status = (data[i + 1] >> 3) & 3;
            r.duration_ns = (uint64_t)data[i + 2] << (data[i + 3] & 31);
            const char *s = names[(data[i + 3] >> 5) & 3];
            r.service = (struct rec_str){ s, (uint32_t)strlen(s) };
            r.node = (struct rec_str){ nodes[(op >> 2) & 3], node_len[(op >> 2) & 3] };
            r.name = r.service;
            struct span_attr a = { { "http.request.body.size", 22 },
                                   { .type = 2, .u.i = (int64_t)data[i + 2] - 100 } };
            r.attrs = &a;
            r.nattrs = op & 1;
            i += 4;
            CHECK(span_metrics_add(sm, &r, now) == 0);
        } else if ((op & 3) == 2 || !is_flush) {
            now += (int64_t)(op >> 2) * 50000000; /* up to 3.15 s */
            span_metrics_expire(sm, now);
        } else {
            CHECK(span_metrics_flush(sm, tflush++, emit, &samples) == 0);
        }
        struct span_metrics_stats st;
        span_metrics_get_stats(sm, &st);
        CHECK(st.pending <= cfg.max_pending);
        CHECK(st.red_series <= cfg.max_series && st.edges <= cfg.max_series);
        CHECK(st.pairs <= st.spans * 16);
    }
    span_metrics_expire(sm, now + 2000000000);
    struct span_metrics_stats st;
    span_metrics_get_stats(sm, &st);
    CHECK(st.pending == 0);
    span_metrics_free(sm);
    return 0;
}
