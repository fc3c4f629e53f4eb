/*
 * trace_view.h - a trace assembled for reading: its spans (from
 * spanstore_trace) as a tree, placed in time despite clock skew, with self
 * times, the critical path, and a structural and timing diff of two traces
 * (docs/design/spans.md, "Trace views"). Library code: no I/O.
 *
 * Placement: every span of one node moves by that node's shift, never
 * relative to the node's other spans. A node's shift comes from the HLC
 * where its spans have one (how far its clock is behind: the most its
 * spans' HLC ms are ahead of their start ms), else from Jaeger's clock-skew
 * adjuster applied to the first span of the node whose times disagree with
 * its parent's on another node, and only when some span of the node starts
 * before its parent (or a SERVER span lies outside its CLIENT parent).
 *
 * Invariants: the tree tolerates anything a store may hold: spans whose
 * parent is missing are extra roots (orphans), parent cycles are cut at the
 * earliest span, and a repeated span id keeps its spans (children link to
 * the first).
 */
#ifndef TT_TRACE_VIEW_H
#define TT_TRACE_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include "store/spans/spanblock.h"

#define TV_NONE UINT32_MAX

/* Why a span's placed start differs from its stored one (bits). */
enum tv_reason {
    TV_ADJ_HLC = 1,  /* its node's HLC said the node's clock is behind */
    TV_ADJ_SKEW = 2, /* Jaeger's adjuster: times disagreed with a parent elsewhere */
};

struct tv_span {
    uint64_t span_id, parent_id;
    int64_t start_ns; /* as stored */
    uint64_t duration_ns;
    uint64_t hlc; /* 0: unknown */
    uint8_t kind, status;
    char *service, *node, *name; /* owned */
    /* the tree */
    uint32_t parent;       /* index, TV_NONE for a root */
    uint32_t first_child;  /* children in order of placed start */
    uint32_t next_sibling; /* TV_NONE: last */
    uint32_t depth;        /* 0 for roots */
    uint32_t node_ix;      /* index into trace_view.nodes */
    int orphan;            /* parent_id set but not in the trace (or a cycle cut) */
    /* placement (trace_view_build) */
    int64_t placed_ns;   /* start_ns + adjust_ns */
    int64_t adjust_ns;   /* its node's shift; 0 with placement off */
    unsigned reason;     /* tv_reason bits, 0: not moved */
    int64_t disagree_ns; /* how far the stored times contradict causality
                          * with its parent on another node (0: they agree) */
    uint64_t self_ns;    /* duration minus the union of its children (placed) */
    int critical;        /* on the critical path (trace_view_critical_path) */
};

struct tv_node {
    char *name;           /* owned */
    int64_t offset_ns;    /* the shift applied to its spans */
    int64_t hlc_ahead_ms; /* max(hlc ms - start ms) over its spans, 0 if none is ahead */
    int has_hlc;          /* some span of the node has an HLC */
    unsigned reason;      /* tv_reason bits of its shift */
};

struct trace_view {
    uint8_t trace_id[16];
    struct tv_span *spans;
    size_t n, cap;
    struct tv_node *nodes;
    size_t nnodes;
    uint32_t *roots; /* in order of placed start */
    size_t nroots;
    uint32_t *order;          /* all spans, depth first, children by placed start */
    void *byid;               /* private: (span id, index) pairs sorted, for trace_view_find */
    int64_t start_ns, end_ns; /* placed extent */
    int built;
};

/* A stretch of the critical path: span (an index) is what the trace waits
 * on from start_ns to end_ns (placed times). */
struct tv_segment {
    uint32_t span;
    int64_t start_ns, end_ns;
};

/* trace_view_init makes an empty view; trace_view_release frees what it
 * holds (the view itself is the caller's). */
void trace_view_init(struct trace_view *tv);
void trace_view_release(struct trace_view *tv);

/* trace_view_add copies span s into the view (before trace_view_build).
 * Returns 0, TT_ESTATE (already built) or TT_ENOMEM. */
int trace_view_add(struct trace_view *tv, const struct span_row *s);

/* trace_view_add_fn: trace_view_add as a spanstore_span_fn (arg is the
 * view). */
int trace_view_add_fn(void *arg, const struct span_row *s);

/* trace_view_build assembles the tree and, when place is nonzero, places
 * the spans (else placed_ns = start_ns, while disagree_ns is still
 * measured); then computes depths, self times and the order. Returns 0,
 * TT_ENOTFOUND (no spans), TT_ESTATE (built already) or TT_ENOMEM. */
int trace_view_build(struct trace_view *tv, int place);

/* trace_view_find: the index of the first span with span_id, or TV_NONE
 * (after build; O(log n)). */
uint32_t trace_view_find(const struct trace_view *tv, uint64_t span_id);

/* trace_view_main_root: the root the trace's latency is measured from: the
 * earliest real root (parent_id 0), else the earliest orphan. TV_NONE when
 * empty. */
uint32_t trace_view_main_root(const struct trace_view *tv);

/* trace_view_critical_path computes the critical path from the main root
 * (Jaeger UI's algorithm on placed times: from the root's end, walk back
 * taking the last child to finish before the current point; what no child
 * covers is the span's own), marks its spans critical, and returns the
 * segments in time order in *out (malloc'd, the caller frees) and their
 * count in *n. Returns 0, TT_ESTATE (not built) or TT_ENOMEM. */
int trace_view_critical_path(struct trace_view *tv, struct tv_segment **out, size_t *n);

/* trace_view_warning writes the Jaeger-style warning of span i into out
 * ("clock skew adjustment: ..." naming the amount and the reason, or how
 * far its times disagree with its parent's when it was not moved) and
 * returns its length; 0 (out "") when there is nothing to say. */
size_t trace_view_warning(const struct trace_view *tv, uint32_t i, char *out, size_t outlen);

/* trace_view_fmt_ns writes a signed duration for people: "+1.500ms",
 * "-250us", "+2.000s". Returns out. */
const char *trace_view_fmt_ns(int64_t ns, char *out, size_t outlen);

/* --- diff ------------------------------------------------------------------ */

/* One node of a diff: a span of A and/or of B with the same path, the
 * (service, operation, occurrence among like siblings) steps from the root. */
struct tv_diff_node {
    uint32_t a, b;                            /* span indexes; TV_NONE: absent on that side */
    char *path;                               /* "svc:op#k/svc:op#k..." (owned) */
    int64_t duration_delta_ns, self_delta_ns; /* b - a, when in both */
};

struct tv_diff {
    struct tv_diff_node *nodes; /* in A's order, then B-only ones in B's order */
    size_t n;
    size_t spans_a, spans_b, matched, only_a, only_b;
    int64_t duration_a_ns, duration_b_ns; /* placed extent of each trace */
    uint32_t *top;                        /* indexes into nodes, largest |duration delta| first */
    size_t ntop;
};

#define TV_DIFF_TOP 10

/* trace_diff compares two built views into *d (release with
 * trace_diff_release). Returns 0, TT_ESTATE (a view not built) or
 * TT_ENOMEM. */
int trace_diff(const struct trace_view *a, const struct trace_view *b, struct tv_diff *d);
void trace_diff_release(struct tv_diff *d);

#endif
