/*
 * align.h - after-the-fact alignment of per-node logs by their HLC stamps.
 *
 * Every event carries its node's physical time pt and the HLC (l, c) the node
 * stamped it with. The HLC is causally consistent, physical times are not:
 * l - pt > 0 shows that some clock that drove the HLC (ultimately the fastest
 * node) was at least that far ahead of this node. The shift of node i is
 * a_i = max over its events of (l - pt); adding it to i's physical times
 * gives the aligned time. See docs/design/causality.md "Alignment".
 *
 * Invariants: events keep the order they were added in until align_run sorts
 * them (by HLC, then node, then input order); node ids are dense, in order of
 * first appearance. Nothing here prints; memory grows with the input only.
 */
#ifndef TT_QUERY_CAUSAL_ALIGN_H
#define TT_QUERY_CAUSAL_ALIGN_H

#include <stddef.h>
#include <stdint.h>

/* One event. msg_off/msg_len point into the set's message arena. */
struct align_event {
    int64_t pt_ms;      /* the node's physical time */
    int64_t l_ms;       /* HLC logical part (ms) */
    int64_t aligned_ms; /* filled by align_run: display time in the merged log */
    uint64_t seq;       /* input order, the last tiebreak */
    uint64_t msg_off;
    uint32_t msg_len;
    uint32_t c;        /* HLC count */
    uint32_t node;     /* dense node id */
    uint32_t repaired; /* 1 when aligned_ms was raised to keep HLC order */
};

/* Per-node result of align_run. */
struct align_node {
    char *name;
    int64_t shift_ms; /* a_i: add to the node's physical time */
    int64_t lo_ms;    /* uncertainty interval of the true shift */
    int64_t hi_ms;
    uint64_t events;      /* events of the node */
    uint64_t constrained; /* events with l - pt == a_i > 0: those that set the shift */
};

struct align_set {
    struct align_event *ev;
    size_t nev, cap;
    struct align_node *nodes;
    size_t nnodes, nodes_cap;
    char *msgs; /* message arena */
    uint64_t msgs_len, msgs_cap;
    /* node name -> id hash (open addressing, ids + 1, 0 empty) */
    uint32_t *hash;
    size_t hash_cap;
};

/* align_set_init prepares an empty set (caller-owned struct). */
void align_set_init(struct align_set *s);
/* align_set_release frees everything the set holds; the struct may be reused
 * after align_set_init. */
void align_set_release(struct align_set *s);

/* align_set_node returns the dense id of node `name` (len bytes, copied),
 * adding it if new. Returns 0 and sets *id, TT_EINVAL for an empty name, or
 * TT_ENOMEM. */
int align_set_node(struct align_set *s, const char *name, size_t len, uint32_t *id);

/* align_set_add appends one event of node id (from align_set_node); msg
 * (msglen bytes, may be NULL when 0) is copied. Returns 0, TT_EINVAL for an
 * unknown node id, l_ms or pt_ms outside [0, 2^48) or c > 65535, or TT_ENOMEM. */
int align_set_add(struct align_set *s, uint32_t node, int64_t pt_ms, int64_t l_ms, uint32_t c,
                  const char *msg, size_t msglen);

/* align_run computes every node's shift and uncertainty (s->nodes) and sorts
 * s->ev into the merged log with aligned_ms filled, using up to nthreads
 * threads (1 or 2; more are treated as 2). bound_ms is the largest clock
 * offset the cluster's HLC accepts (its max offset): the upper end of every
 * uncertainty interval that no event bounds tighter; it must be >= 0.
 * Returns 0, TT_EINVAL (bad bound) or TT_ENOMEM (then s is unchanged apart
 * from the per-node fields). */
int align_run(struct align_set *s, int nthreads, int64_t bound_ms);

#endif
