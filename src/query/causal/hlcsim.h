/*
 * hlcsim.h - the HLC-sync experiment (`telltale sim hlc-sync`): how well the
 * alignment a_i = max over node i's logged events of (l - pt) recovers each
 * node's clock offset from the HLCs of a simulated cluster.
 *
 * Model (docs/experiments/hlc-sync.md): n nodes; node i's physical clock reads
 * pt = t + off_i at tick t, off_0 = 0, off_{n-1} = skew, the others uniform
 * integers in [0, skew]. Each tick, in this order: the messages due at t are
 * received (receive events), then each node logs a local event with
 * probability pe and sends a message to a uniformly chosen other node with
 * probability pm, delivered after a delay uniform in [dmin, dmax] ticks.
 * Every local, send and receive event ticks the node's HLC by the paper's
 * rules (hlcsim_tick, hlcsim_recv); only the local events are in the log the
 * alignment reads. The error of node i is 1 - a_i / D_i, D_i = skew - off_i
 * (how far it is behind the fastest clock); nodes with D_i = 0 (the fastest
 * and any tied with it) are left out. With skew 0 no node is left and the
 * error is 0 by definition (every clock agrees: nothing to recover).
 *
 * Invariants: 0 <= a_i <= max(0, D_i - dmin), so the error of a node is at
 * least min(1, dmin / D_i) (the "floor", reported next to it) and at most 1.
 * Runs are deterministic given the seed: run r of every point draws from the
 * same stream (seed, r), with a fixed number of draws per node and tick, so
 * points that differ only in ticks, pm or a constant delay are coupled (one
 * run's error never rises with more ticks or a higher pm, never falls with a
 * longer constant delay). Results do not depend on the thread count.
 */
#ifndef TT_QUERY_CAUSAL_HLCSIM_H
#define TT_QUERY_CAUSAL_HLCSIM_H

#include <stddef.h>
#include <stdint.h>

/* Limits hlcsim_check enforces (memory and time stay bounded). */
#define HLCSIM_MAX_NODES 100000u
#define HLCSIM_MAX_DELAY 1000000u
#define HLCSIM_MAX_SKEW  UINT64_C(1000000000000)
#define HLCSIM_MAX_TICKS UINT64_C(1000000000)
#define HLCSIM_MAX_RUNS  10000000u

/* One point of the experiment. */
struct hlcsim_params {
    uint32_t nodes; /* >= 2 */
    uint64_t skew;  /* ticks, the largest offset */
    uint32_t dmin;  /* message delay, ticks: 1 <= dmin <= dmax */
    uint32_t dmax;
    double pe;      /* probability of a local event per node and tick */
    double pm;      /* probability of a send per node and tick */
    uint64_t ticks; /* length of a run */
    uint32_t runs;  /* runs averaged */
    uint64_t seed;
};

/* The experiment's defaults (nodes 5, skew 50, delay 3..10, pe 0.4, pm 0.1,
 * ticks 1000, runs 2000, seed 1). */
void hlcsim_defaults(struct hlcsim_params *p);

/* hlcsim_check: 0 if p is a valid point, else TT_EINVAL with the reason (the
 * flag's name and the allowed range) in err. */
int hlcsim_check(const struct hlcsim_params *p, char *err, size_t errlen);

/* An HLC stamp as the simulator keeps it (no 48/16-bit packing: l is in
 * ticks, c never saturates in any run hlcsim_check allows). */
struct hlcsim_stamp {
    uint64_t l;
    uint64_t c;
};

/* hlcsim_tick: a local or send event at physical time pt (Kulkarni et al.):
 * l' = max(l, pt); c' = c + 1 if l' == l, else 0. */
struct hlcsim_stamp hlcsim_tick(struct hlcsim_stamp cur, uint64_t pt);

/* hlcsim_recv: receiving message stamp m at physical time pt:
 * l' = max(l, l_m, pt); c' = max(c, c_m) + 1 if l' == l == l_m, c + 1 if
 * l' == l only, c_m + 1 if l' == l_m only, else 0. */
struct hlcsim_stamp hlcsim_recv(struct hlcsim_stamp cur, struct hlcsim_stamp m, uint64_t pt);

/* The outcome of one run. */
struct hlcsim_run_out {
    double err_sum;   /* sum over counted nodes of 1 - a_i / D_i */
    double floor_sum; /* sum over counted nodes of min(1, dmin / D_i) */
    uint64_t counted; /* nodes with D_i > 0 */
};

/* A run's scratch memory (node states, messages in flight), reused across
 * runs by one thread. */
struct hlcsim_ws;

/* hlcsim_ws_new: an empty workspace, or NULL when out of memory. Free it
 * with hlcsim_ws_free (NULL is fine). */
struct hlcsim_ws *hlcsim_ws_new(void);
void hlcsim_ws_free(struct hlcsim_ws *ws);

/* hlcsim_run: run number `run` of point p (p valid, see hlcsim_check; p->runs
 * is not used). offset and align, when not NULL, receive off_i and a_i for
 * every node (p->nodes entries each, caller-owned). Returns 0, or TT_ENOMEM
 * (out is then undefined). */
int hlcsim_run(struct hlcsim_ws *ws, const struct hlcsim_params *p, uint32_t run,
               struct hlcsim_run_out *out, uint64_t *offset, uint64_t *align);

/* The result of one point: the mean over all its runs and counted nodes. */
struct hlcsim_result {
    double error;     /* mean of 1 - a_i / D_i; 0 when nothing was counted */
    double floor;     /* mean of min(1, dmin / D_i): the least error possible */
    uint64_t counted; /* (run, node) pairs averaged */
};

/* hlcsim_eval: every run of every point (npts points, each valid), spread
 * over `threads` threads (0 or 1: the calling thread only); res[k] for
 * pts[k]. The result does not depend on threads (a thread that cannot be
 * started leaves its share to the others). Returns 0, or TT_ENOMEM (err says
 * so; res is then undefined). */
int hlcsim_eval(const struct hlcsim_params *pts, size_t npts, unsigned threads,
                struct hlcsim_result *res, char *err, size_t errlen);

/* hlcsim_json: the point as one JSON object, no newline:
 * {"nodes":..,"skew":..,"dmin":..,"dmax":..,"pe":..,"pm":..,"ticks":..,
 * "runs":..,"error":..} into out (cap bytes, terminated). Returns the length,
 * or TT_ETOOBIG when cap is too small. */
int hlcsim_json(const struct hlcsim_params *p, const struct hlcsim_result *r, char *out,
                size_t cap);

#endif
