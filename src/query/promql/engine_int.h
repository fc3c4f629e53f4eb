/*
 * engine_int.h - what the files of the PromQL engine share (engine.c,
 * eval_func.c, eval_agg.c, eval_binop.c): the evaluator state, the value of
 * one expression at one step, and a small hash table keyed by 64-bit hashes.
 * Not a public header: only the engine's own files include it.
 *
 * Invariants: every value made during a step lives in ev->sa (the step
 * arena); selected data and the result live in ev->qa. Evaluation functions
 * return 0 or a negative TT_E* code, and on failure the first message has
 * been stored with ev_errorf.
 */
#ifndef TT_PROMQL_ENGINE_INT_H
#define TT_PROMQL_ENGINE_INT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "query/promql/engine.h"
#include "query/promql/functions.h"

/* One selected series: all points (staleness markers included, for instant
 * lookups) and the clean ones (markers removed, for range windows; the same
 * array when the series has no markers). */
struct sel_series {
    struct promql_labels labels;
    struct promql_point *all;
    size_t nall;
    struct promql_point *clean;
    size_t nclean;
    /* Indexes i of clean where clean[i].v < clean[i - 1].v (counter resets),
     * increasing; rate() and friends look them up instead of scanning
     * their window. */
    uint32_t *resets;
    size_t nresets;
    /* Search hints: the answers of the last window lookups. Steps move
     * forward, so the next answer is usually at or just after them. */
    size_t hint_all, hint_lo, hint_hi;
    uint32_t id; /* index among all selected series of the query */
};

/* One series of a streamed range-vector function: its value at each step
 * of the range query (has[i]: there is one at step i). */
struct stream_row {
    struct promql_labels labels;
    double *v;
    uint8_t *has;
};

/* What computing a streamed call needs, fixed for the query (filled on the
 * main thread before any row is computed; only read afterwards, also by
 * stream workers). ref[i] is the reference time of step i. */
struct stream_plan {
    const void *def; /* the range function (eval_func.c) */
    int64_t range_ms;
    int64_t start, step;
    size_t nsteps;
    const int64_t *ref; /* in the query arena */
};

/* Buffers one thread reuses from series to series: a series' points and
 * its counter resets. */
struct stream_scratch {
    struct promql_point *p;
    uint32_t *resets;
    size_t np; /* points in p (ev_stream_copy) */
    size_t cap_p, cap_resets;
};

/* A pool of threads computing streamed rows while the main thread fetches
 * (eval_stream.c). */
struct stream_pool;

/* One group of a streamed aggregation (eval_rows.c): its labels, and its
 * value at each step; first[i] is the index of the group's first row with a
 * value at step i (UINT32_MAX: the group has none there), which orders the
 * groups of a step as eval_aggregate does. */
struct stream_group {
    struct promql_labels labels;
    int drop_name;
    double *v;
    uint32_t *first;
};

struct stream_agg {
    struct stream_group *g;
    size_t ng;
    uint32_t *order; /* one step's groups in output order (scratch) */
};

/* The running value of one group of sum, avg, min, max, count or group at
 * one step (eval_aggregate's numerics, ev_agg_cell_*). */
struct agg_cell {
    double value, mean, c, count;
    int incremental;
};

/* The data of one vector selector node, fetched once per query. */
struct sel_data {
    const struct promql_expr *vs;
    int64_t mint, maxt; /* span to fetch; mint > maxt: nothing yet */
    struct sel_series *s;
    size_t n, cap;
    int fetched;
    /* Range queries: when the selector's only reader is a range-vector
     * function call outside subqueries (stream, e.g. rate(x[5m])), the call
     * is computed for every step series by series while fetching, into
     * rows, and the points are not kept (s stays empty). */
    const struct promql_expr *stream;
    /* Read by rate() or increase(): fetched series whose name does not end
     * like a counter's get Prometheus's info annotation, at counter_pos. */
    int counter_check;
    uint32_t counter_pos;
    struct stream_row *rows;
    size_t nrows, caprows;
    struct stream_plan plan; /* plan.ref == NULL: not made yet */
    /* Range queries: plain (a selector read only by an aggregation or as
     * the whole query) has the selector itself streamed into rows, the
     * sample each step's lookback finds (ev_rows_plain_series). agg is the
     * aggregation (ev_rows_agg_eligible) whose argument is this selector or
     * its stream; sagg is that aggregation computed from the rows for every
     * step once they are all in (NULL: evaluated step by step). */
    int plain;
    const struct promql_expr *agg;
    struct stream_agg *sagg;
};

/* ---- hash table: 64-bit key -> index ------------------------------------------- */

struct hmap {
    uint64_t *keys;
    uint32_t *vals; /* UINT32_MAX: empty */
    size_t cap, n;
};

/* Grouping signatures of one aggregation node, per series id. */
struct sig_cache {
    const void *node;
    uint64_t *sig;
    uint8_t *have;
};

/* What an info() call of the query needs at every step (eval_info.c). */
struct info_plan;

/* histogram_quantile's grouping of its input at the last step, per call
 * (eval_func.c): a range query's steps mostly see the same series. */
struct hq_cache;

struct ev {
    const struct promql_storage *st;
    int64_t lookback_ms;
    int64_t sq_step_ms;
    size_t max_samples;
    size_t samples;           /* points held now (selected data and subquery results) */
    int64_t start, end, step; /* the query's; step 0 for an instant query */
    struct promql_arena *qa;  /* query arena: selected data, the result */
    struct promql_arena sa;   /* step arena */
    struct sel_data *sels;
    size_t nsels, capsels;
    struct promql_lbuilder lb;
    struct promql_eval_error *err;
    /* Label sets of the selected series (ev_series_id): the address of
     * their label array -> sel_series id. */
    struct hmap ids;
    uint32_t nids;
    /* Grouping signatures cached per aggregation node and series id. */
    struct sig_cache *sigs;
    size_t nsigs;
    size_t nsteps;                 /* steps of a range query */
    int in_sq;                     /* pre-pass: inside a subquery */
    struct stream_scratch scratch; /* streaming on the main thread */
    unsigned stream_workers;       /* threads to start for streaming (opts) */
    struct stream_pool *pool;      /* started at the first streamed series to share */
    int pool_failed;               /* could not start: compute on this thread */
    struct promql_result *res;     /* annotations go straight into it */
    const char *query;             /* opts->query: positions of annotations */
    struct info_plan *infos;       /* one per info() call, made by the pre-pass */
    size_t ninfos;
    struct hq_cache *hqs; /* in qa, one per histogram_quantile call seen */
};

/* The value of an expression at one step. For a range vector, win_end and
 * range_ms give the window (win_end - range_ms, win_end] it was cut from
 * (what rate()'s extrapolation needs). */
struct val {
    enum promql_type type;
    double scalar;
    const char *str;
    struct promql_sample *s;
    size_t n;
    struct promql_series *m;
    size_t nm;
    int64_t win_end, range_ms;
    /* For a range vector cut from selected data: src[i] is the series
     * m[i].points lie in (its clean points), or NULL; src itself may be
     * NULL. */
    const struct sel_series **src;
};

/* ev_kahan_inc adds inc to *sum with Kahan-Neumaier compensation in *c, as
 * Prometheus's kahansum.Inc (an infinite sum drops the compensation). */
static inline void ev_kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    if (isinf(t))
        *c = 0;
    else if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/* copy_n is memcpy that accepts NULL pointers when n is 0 (empty vectors
 * have no array). */
static inline void *copy_n(void *dst, const void *src, size_t n)
{
    return n ? memcpy(dst, src, n) : dst;
}

/* ev_errorf records the first error (code, printf message) and returns code. */
int ev_errorf(struct ev *ev, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ev_annotate adds an annotation to the result: a warning (info 0) or an
 * info, the printf message followed by " (line:col)" of byte offset pos in
 * the query; a message already there is not added twice. Running out of
 * memory drops the annotation (the result stands). Main thread only. */
void ev_annotate(struct ev *ev, int info, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* ev_histogram_quantile evaluates histogram_quantile(q, in) (fraction 0)
 * or histogram_fraction(q, upper, in) (fraction 1) over classic buckets
 * into out (step arena); pos is the histogram argument's position for
 * annotations. 0 or TT_ENOMEM. */
int ev_histogram_quantile(struct ev *ev, double q, double upper, int fraction, const struct val *in,
                          struct val *out, uint32_t pos);
/* ev_histogram_quantiles evaluates histogram_quantiles(v, "label", q...)
 * (call e; in is v at t). 0, TT_EINVAL (bad label), TT_ENOMEM. */
int ev_histogram_quantiles(struct ev *ev, const struct promql_expr *e, int64_t t,
                           const struct val *in, struct val *out);

/* ev_check_quantile warns (Prometheus's message, at pos) when q is NaN or
 * outside [0, 1]. */
void ev_check_quantile(struct ev *ev, double q, uint32_t pos);
/* ev_fmt_float writes v as Go's %g with the shortest precision would
 * ("NaN", "+Inf", "1.01", "1e+21") into buf. */
void ev_fmt_float(double v, char *buf, size_t n);

/* ev_find_sel: the data of vector selector node vs (NULL when the pre-pass
 * did not note it). The pointer is valid until the next ev_note_sel. */
struct sel_data *ev_find_sel(struct ev *ev, const struct promql_expr *vs);
/* ev_note_sel asks for the data of vector selector node vs over
 * [mint, maxt] (widening an earlier request). Pre-pass only. Returns 0 or
 * TT_ENOMEM (recorded). */
int ev_note_sel(struct ev *ev, const struct promql_expr *vs, int64_t mint, int64_t maxt);

/* ev_is_info: 1 when e is a call of info(). */
int ev_is_info(const struct promql_expr *e);
/* ev_info_prepass plans info() call e evaluated at times [lo, hi]: which
 * info series to fetch and over which span (the pre-pass has already
 * visited its first argument; the second is not fetched: it only holds
 * matchers). Returns 0 or a TT_E* code (recorded). */
int ev_info_prepass(struct ev *ev, const struct promql_expr *e, int64_t lo, int64_t hi);
/* eval_info evaluates info() call e at t (see eval_info.c). */
int eval_info(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out);
/* ev_info_release frees the plans of ev->infos. */
void ev_info_release(struct ev *ev);

/* ev_nomem records TT_ENOMEM. */
int ev_nomem(struct ev *ev);

/* ev_eval evaluates e at time t (ms) into *out (memory in ev->sa). */
int ev_eval(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out);

/* ev_alloc: zeroed step-arena memory, NULL on ENOMEM (error recorded). */
void *ev_alloc(struct ev *ev, size_t n);

/* ev_dur: the duration field ms, or its dynamic duration expression d
 * (step() / range()) evaluated for this query. */
int64_t ev_dur(const struct ev *ev, int64_t ms, const struct promql_dur_expr *d);

/* ev_unparen strips parentheses. */
const struct promql_expr *ev_unparen(const struct promql_expr *e);

/* ev_eval_ms evaluates a range selector e at time t. For an anchored or
 * smoothed selector, raw = 1 gives the widened window as fetched (one
 * lookback earlier, and for smoothed one later: what rate() and friends
 * need), raw = 0 the window cut to its edges with a point on each. */
int ev_eval_ms(struct ev *ev, const struct promql_expr *e, int64_t t, int raw, struct val *out);

/* Extended range selector helpers (eval_func.c), over points p[0..n) sorted
 * by time, n > 0. ev_ext_first: the index of the last point at or before
 * from (0 when none); ev_ext_last: the first point at or after to among all
 * but the last (n - 1 when none). ev_ext_left/right: the value at the edge,
 * the point's own or (smoothed) interpolated with its neighbour; is_counter
 * treats a drop between the two as a counter reset. */
long ev_ext_first(const struct promql_point *p, size_t n, int64_t from);
long ev_ext_last(const struct promql_point *p, size_t n, int64_t to);
double ev_ext_left(const struct promql_point *p, size_t first, int64_t from, int smoothed,
                   int is_counter);
double ev_ext_right(const struct promql_point *p, size_t last, int64_t to, int smoothed,
                    int is_counter);

/* eval_call, eval_aggregate, eval_binary: one kind of node each. */
int eval_call(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out);
int eval_aggregate(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out);
int eval_binary(struct ev *ev, const struct promql_expr *e, int64_t t, struct val *out);

/* ev_drop_name_labels returns ls without its metadata labels (arena copy
 * when something is removed). */
int ev_drop_name_labels(struct ev *ev, const struct promql_labels *ls, struct promql_labels *out);

/* ev_signature: a hash of the labels of ls named in names (on) or of all
 * but those and __name__ (!on): vector matching and grouping keys. */
uint64_t ev_signature(const struct promql_labels *ls, int on, const struct promql_str *names,
                      size_t n);

/* ev_register_labels gives the label set ls (in the query arena, never
 * changed) the next series id for ev_series_id, stored in *id (UINT32_MAX
 * when ids ran out). Returns 0 or TT_ENOMEM. */
int ev_register_labels(struct ev *ev, const struct promql_labels *ls, uint32_t *id);

/* ev_ref_time: the time a selector with mods looks at when evaluated at t. */
int64_t ev_ref_time(const struct ev *ev, const struct promql_time_mods *m, int64_t t);

/* ev_stream_eligible: 1 when call e can be streamed (see struct sel_data):
 * a range-vector function whose only argument is a plain (not anchored or
 * smoothed) range selector. */
int ev_stream_eligible(const struct promql_expr *e);

/* ev_stream_series computes d->stream over all steps for one fetched series
 * (labels borrowed; ts, vs as the storage gives them) and appends a row.
 * Returns 0 or a TT_E* code (recorded). */
int ev_stream_series(struct ev *ev, struct sel_data *d, const struct promql_labels *labels,
                     const int64_t *ts, const double *vs, size_t n);

/* ev_stream_compute computes the streamed call of plan pl at every step from
 * one series' samples ts/vs[0..n) (as the storage gives them) into v and has
 * (nsteps each; labels only for the function's window). It reads nothing
 * but its arguments and writes only v, has and sc, so any thread may run
 * it. Returns 0 or TT_ENOMEM (nothing recorded). */
int ev_stream_compute(const struct stream_plan *pl, struct stream_scratch *sc,
                      const struct promql_labels *labels, const int64_t *ts, const double *vs,
                      size_t n, double *v, uint8_t *has);

/* ev_stream_copy puts the samples ts/vs[0..n) (as the storage gives them)
 * in sc as points, for ev_stream_clean. Returns 0 or TT_ENOMEM. */
int ev_stream_copy(struct stream_scratch *sc, const int64_t *ts, const double *vs, size_t n);
/* ev_stream_clean removes the staleness markers from the points
 * ev_stream_copy put in sc and lists their counter resets there, as
 * emit_series and note_resets do for kept series; *s describes them
 * (pointing into sc: valid until sc is next used). */
void ev_stream_clean(struct stream_scratch *sc, struct sel_series *s);

/* ev_stream_compute_clean is ev_stream_compute from points already cleaned
 * by ev_stream_clean (src only read). Returns 0 or TT_ENOMEM. */
int ev_stream_compute_clean(const struct stream_plan *pl, const struct sel_series *src,
                            const struct promql_labels *labels, double *v, uint8_t *has);

/* stream_scratch_release frees sc's buffers. */
void stream_scratch_release(struct stream_scratch *sc);

/* stream_pool_new starts nworkers threads (>= 1). Returns 0, TT_ENOMEM or
 * TT_ESYS (a thread could not be started: nothing is left running). */
int stream_pool_new(struct stream_pool **out, unsigned nworkers);
/* stream_pool_submit queues the computation of one row: ts/vs are copied
 * (ev_stream_copy), labels, v and has must stay valid (and v,
 * has untouched) until stream_pool_wait has returned; pl is copied (its ref
 * array must stay).
 * Returns 1 when queued, 0 when the queue is full (the caller computes the
 * row itself), or TT_ENOMEM. Main thread only. */
int stream_pool_submit(struct stream_pool *p, const struct stream_plan *pl,
                       const struct promql_labels *labels, const int64_t *ts, const double *vs,
                       size_t n, double *v, uint8_t *has);
/* stream_pool_wait computes queued rows on the calling thread too until every
 * submitted row is done. Returns 0 or the first error of a row (TT_ENOMEM),
 * which is then cleared. Main thread only. */
int stream_pool_wait(struct stream_pool *p);
/* stream_pool_free stops and joins the threads (after finishing what is
 * queued) and frees p (NULL is fine). */
void stream_pool_free(struct stream_pool *p);

/* ev_stream_row_new appends a row for one series to d (its per-step values
 * and flags allocated in the query arena, the labels copied and registered
 * for ev_series_id) and returns it, or NULL when out of memory. */
struct stream_row *ev_stream_row_new(struct ev *ev, struct sel_data *d,
                                     const struct promql_labels *labels);

/* ev_rollup_res: the rollup resolution (ms) at which d->stream can be
 * computed exactly from rollups over every step of the range query, or 0
 * (not a rollup-able function, range under an hour, windows not on
 * interval boundaries, or the storage has no rollups). *lo and *hi get the
 * span (lo, hi] to ask for. */
int64_t ev_rollup_res(const struct ev *ev, const struct sel_data *d, int64_t *lo, int64_t *hi);

/* ev_stream_rollup_series is ev_stream_series from one series' rollup
 * points (ev_rollup_res said yes). */
int ev_stream_rollup_series(struct ev *ev, struct sel_data *d, const struct promql_labels *labels,
                            const struct promql_rollup_point *p, size_t n);

/* ev_stream_drop_name: whether the samples of streamed call e drop their
 * metric name (every function but those that act like offset). */
int ev_stream_drop_name(const struct promql_expr *e);

/* ---- rows (eval_rows.c) ------------------------------------------------------------ */

/* ev_rows_vector: the instant vector of d's rows at step time t (the rows
 * with a value at that step; drop_name marks the metric name for removal).
 * An error for a time outside the query's steps. */
int ev_rows_vector(struct ev *ev, const struct sel_data *d, int64_t t, int drop_name,
                   struct val *out);

/* ev_rows_plain_series appends the row of plain selector d for one fetched
 * series (labels borrowed; ts, vs as the storage gives them). Returns 0 or
 * a TT_E* code (recorded). */
int ev_rows_plain_series(struct ev *ev, struct sel_data *d, const struct promql_labels *labels,
                         const int64_t *ts, const double *vs, size_t n);
/* ev_rows_plain_step: plain selector d's vector at step time t. */
int ev_rows_plain_step(struct ev *ev, const struct sel_data *d, int64_t t, struct val *out);
/* ev_rows_agg_eligible: 1 when aggregation e can be computed from rows:
 * sum, avg, min, max, count or group, without a parameter. */
int ev_rows_agg_eligible(const struct promql_expr *e);
/* ev_rows_agg_build computes d->agg from d's rows into d->sagg (left NULL
 * when the per-step evaluation is as good). Returns 0 or TT_ENOMEM
 * (recorded). */
int ev_rows_agg_build(struct ev *ev, struct sel_data *d);
/* ev_rows_agg_step: the streamed aggregation of d at step time t. */
int ev_rows_agg_step(struct ev *ev, const struct sel_data *d, int64_t t, struct val *out);
/* ev_rows_result fills res (a MATRIX in the query arena) straight from rows
 * when range query e is a streamed call, plain selector or streamed
 * aggregation. Returns 1 when done, 0 when e must be evaluated step by step
 * (res untouched but for arena memory), or a TT_E* code (recorded). */
int ev_rows_result(struct ev *ev, const struct promql_expr *e, struct promql_result *res);

/* ev_agg_group_labels: the labels of ls's group in aggregation a, built in
 * arena ar. Returns 0 or TT_ENOMEM (recorded). */
int ev_agg_group_labels(struct ev *ev, const struct promql_aggregate *a,
                        const struct promql_labels *ls, struct promql_arena *ar,
                        struct promql_labels *out);
/* ev_agg_cell_first starts cell c of aggregation op with a group's first
 * value f, ev_agg_cell_add adds another and ev_agg_cell_value gives the
 * result, exactly as eval_aggregate computes a group (sum, avg, min, max,
 * count, group). */
void ev_agg_cell_first(enum promql_aggop op, struct agg_cell *c, double f);
void ev_agg_cell_add(enum promql_aggop op, struct agg_cell *c, double f);
double ev_agg_cell_value(enum promql_aggop op, const struct agg_cell *c);
/* ev_agg_cells_add_row adds row k's values v[i] (where has[i]) to cells
 * c[i], i < n, starting the cells whose first[i] is UINT32_MAX (first[i]
 * becomes k): ev_agg_cell_first/add over a whole row. */
void ev_agg_cells_add_row(enum promql_aggop op, struct agg_cell *c, uint32_t *first, uint32_t k,
                          const double *v, const uint8_t *has, size_t n);

/* ev_series_id: the sel_series id of the selected series whose label set ls
 * is (the same array, not an equal copy), or UINT32_MAX. */
uint32_t ev_series_id(const struct ev *ev, const struct promql_labels *ls);

/* ev_seek_upper: the index of the first point of p[0..n) with t > x,
 * searched from *hint (a previous answer), which it updates. */
size_t ev_seek_upper(const struct promql_point *p, size_t n, int64_t x, size_t *hint);

/* eval_quantile: Prometheus's quantile() over v[0..n) (sorted in place). */
double eval_quantile(double q, double *v, size_t n);

/* ---- hash table (struct hmap above) --------------------------------------------- */

/* hmap_init sizes the table for about n entries. Returns 0 or TT_ENOMEM. */
int hmap_init(struct hmap *h, size_t n);
/* hmap_get returns a pointer to the value slot of key, or NULL. */
uint32_t *hmap_get(const struct hmap *h, uint64_t key);
/* hmap_put inserts key (or finds it) and returns its slot; *isnew says
 * which. NULL on ENOMEM. */
uint32_t *hmap_put(struct hmap *h, uint64_t key, int *isnew);
void hmap_release(struct hmap *h);

#endif
