/*
 * fuzz_trace_view.c - fuzz target for trace assembly, placement, the
 * critical path and the diff (src/query/traces/trace_view.c). The input is
 * a split byte, then 12-byte spans: id, parent id (from a small range, so
 * duplicates, missing parents and cycles are common), node, kind,
 * operation, HLC (ahead of the start by -32..95 ms, or none), start, duration
 * and logical count. The spans before the split make trace A, the rest B.
 * Checked on every input: each span is in the order exactly once; spans of
 * one node move together; the critical path is a contiguous run of
 * segments inside the main root covering it; a trace diffed with itself
 * matches every span; warnings and the diff do not read out of bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "query/traces/trace_view.h"
#include "telltale.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 INT64_C(1700000000000000000)

static void check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static void fill(struct trace_view *tv, const uint8_t *p, size_t n)
{
    static const char *nodes[] = { "n0", "n1", "n2", "n3" };
    static const char *ops[] = { "a", "b", "c", "a" };
    static const char *svcs[] = { "s0", "s1", "s2", "s0" };
    for (size_t i = 0; i + 12 <= n; i += 12) {
        const uint8_t *b = p + i;
        struct span_row r;
        memset(&r, 0, sizeof r);
        r.span_id = (uint64_t)(b[0] & 63) + 1;
        r.parent_id = b[1] % 66; /* 65: a parent never present */
        r.node.p = nodes[b[2] & 3];
        r.node.len = 2;
        r.service.p = svcs[b[2] & 3];
        r.service.len = 2;
        r.kind = (uint8_t)(b[3] % 6);
        r.name.p = ops[b[4] & 3];
        r.name.len = 1;
        r.start_ns = T0 + (int64_t)(b[6] | b[7] << 8) * 100000;
        r.duration_ns = (uint64_t)(b[8] | b[9] << 8 | b[10] << 16) * 1000;
        if (!(b[5] & 0x80))
            r.hlc = (uint64_t)(r.start_ns / 1000000 + (int)(b[5] & 0x7f) - 32) << 16 | b[11];
        check(trace_view_add(tv, &r) == 0);
    }
}

static void verify(struct trace_view *tv)
{
    char w[512];
    uint8_t *seen = calloc(tv->n ? tv->n : 1, 1);
    check(seen != NULL);
    for (size_t k = 0; k < tv->n; k++) {
        check(tv->order[k] < tv->n);
        check(!seen[tv->order[k]]);
        seen[tv->order[k]] = 1;
    }
    free(seen);
    for (size_t i = 0; i < tv->n; i++) {
        const struct tv_span *s = &tv->spans[i];
        check(s->adjust_ns == tv->nodes[s->node_ix].offset_ns || s->adjust_ns == 0);
        check(s->placed_ns == s->start_ns + s->adjust_ns);
        check(s->self_ns <= s->duration_ns);
        check(trace_view_find(tv, s->span_id) != TV_NONE);
        trace_view_warning(tv, (uint32_t)i, w, sizeof w);
        check(strlen(w) < sizeof w);
    }
    /* one node, one shift */
    for (size_t i = 0; i + 1 < tv->n; i++)
        if (tv->spans[i].node_ix == tv->spans[i + 1].node_ix)
            check(tv->spans[i].adjust_ns == tv->spans[i + 1].adjust_ns);
    struct tv_segment *seg;
    size_t ns;
    check(trace_view_critical_path(tv, &seg, &ns) == 0);
    uint32_t root = trace_view_main_root(tv);
    check(root != TV_NONE);
    int64_t rs = tv->spans[root].placed_ns, re = rs + (int64_t)tv->spans[root].duration_ns;
    for (size_t i = 0; i < ns; i++) {
        check(seg[i].start_ns < seg[i].end_ns);
        check(seg[i].start_ns >= rs && seg[i].end_ns <= re);
        if (i > 0)
            check(seg[i].start_ns == seg[i - 1].end_ns);
    }
    if (ns > 0)
        check(seg[0].start_ns == rs && seg[ns - 1].end_ns == re);
    free(seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace_view a, b;
    struct tv_diff d;
    if (size < 1 || size > 12 * 512)
        return 0;
    size_t split = 1 + (size_t)data[0] * 12;
    if (split > size)
        split = size;
    trace_view_init(&a);
    trace_view_init(&b);
    fill(&a, data + 1, split - 1);
    fill(&b, data + split, size - split);
    int ra = trace_view_build(&a, 1), rb = trace_view_build(&b, data[0] & 1);
    check(ra == 0 || (ra == TT_ENOTFOUND && a.n == 0));
    check(rb == 0 || (rb == TT_ENOTFOUND && b.n == 0));
    if (ra == 0)
        verify(&a);
    if (rb == 0)
        verify(&b);
    if (ra == 0 && rb == 0) {
        check(trace_diff(&a, &b, &d) == 0);
        check(d.matched + d.only_a == a.n && d.matched + d.only_b == b.n);
        check(d.n == d.matched + d.only_a + d.only_b);
        trace_diff_release(&d);
    }
    if (ra == 0) {
        check(trace_diff(&a, &a, &d) == 0);
        check(d.matched == a.n && d.only_a == 0 && d.only_b == 0 && d.ntop == 0);
        trace_diff_release(&d);
    }
    trace_view_release(&a);
    trace_view_release(&b);
    return 0;
}
