/*
 * value.h - the values a PromQL evaluation produces and consumes: label sets,
 * samples (instant vector elements), series (range vector elements, points in
 * time order) and the staleness marker.
 *
 * Invariants:
 *  - A label set is an array of (name, value) pairs sorted by name (strcmp),
 *    names unique, no empty values; the metric name is the label "__name__".
 *    Strings are NUL terminated and never NULL.
 *  - Label sets, samples and series do not own their memory: it belongs to
 *    the arena of the evaluation or result that made them (see engine.h).
 *  - Comparison and hashing look at names and values only, so two label sets
 *    are equal exactly when they print the same.
 */
#ifndef TT_PROMQL_VALUE_H
#define TT_PROMQL_VALUE_H

#include <stddef.h>
#include <stdint.h>
#include "query/promql/ast.h"

struct wbuf;

/* The bit pattern Prometheus writes as a staleness marker: a NaN that ends a
 * series (an instant selector finds no value past it). */
#define PROMQL_STALE_NAN_BITS 0x7ff0000000000002ull

/* promql_is_stale: 1 when v is exactly the staleness marker NaN. */
int promql_is_stale(double v);
/* promql_stale_nan returns the staleness marker as a double. */
double promql_stale_nan(void);

struct promql_label {
    const char *name;
    const char *value;
};

struct promql_labels {
    const struct promql_label *v;
    size_t n;
};

/* An instant-vector element. t is the sample's time (the evaluation time,
 * except for what timestamp() looks at); drop_name marks a sample whose
 * metric name is removed at the end of the evaluation (Prometheus's delayed
 * name removal). */
struct promql_sample {
    struct promql_labels labels;
    int64_t t;
    double v;
    int drop_name;
};

struct promql_point {
    int64_t t;
    double v;
};

/* A range-vector element: points in increasing time order. */
struct promql_series {
    struct promql_labels labels;
    const struct promql_point *points;
    size_t npoints;
    int drop_name;
};

/* promql_labels_get returns the value of label name, or NULL when absent. */
const char *promql_labels_get(const struct promql_labels *ls, const char *name);

/* promql_labels_cmp orders label sets as Prometheus's labels.Compare: pair by
 * pair, name then value, a prefix first. Returns <0, 0 or >0. */
int promql_labels_cmp(const struct promql_labels *a, const struct promql_labels *b);

/* promql_labels_equal: 1 when a and b hold the same pairs. */
int promql_labels_equal(const struct promql_labels *a, const struct promql_labels *b);

/* promql_labels_hash: a 64-bit hash of names and values (equal sets hash
 * equal). */
uint64_t promql_labels_hash(const struct promql_labels *ls);

/* promql_labels_prom_hash: Prometheus's Labels.Hash(), i.e. XXH64 (seed 0)
 * of name 0xff value 0xff ... over the pairs in order. limit_ratio's
 * sampling depends on this exact value. */
uint64_t promql_labels_prom_hash(const struct promql_labels *ls);

/* promql_xxh64 returns XXH64 of p[0..n) with seed 0. */
uint64_t promql_xxh64(const void *p, size_t n);

/* promql_labels_format appends ls as Prometheus's Labels.String() does:
 * `{__name__="up", job="x"}` (values quoted Go style). Returns out's sticky
 * error. */
int promql_labels_format(const struct promql_labels *ls, struct wbuf *out);

/* promql_labels_copy deep-copies src (array and strings) into arena a.
 * Returns 0 or TT_ENOMEM. */
int promql_labels_copy(struct promql_arena *a, const struct promql_labels *src,
                       struct promql_labels *dst);

/* promql_arena_strdup copies s[0..n) plus a NUL into a; NULL on ENOMEM. */
char *promql_arena_strdup(struct promql_arena *a, const char *s, size_t n);

/* ---- building label sets ------------------------------------------------------ */

/* A scratch label set to edit: set, delete, keep. Entries point at strings
 * the caller keeps alive (or copies with promql_arena_strdup). Memory comes
 * from the heap; release with promql_lbuilder_release. */
struct promql_lbuilder {
    struct promql_label *v;
    size_t n, cap;
    int err; /* sticky TT_ENOMEM */
};

/* promql_lbuilder_reset starts from ls (may be NULL: empty). */
void promql_lbuilder_reset(struct promql_lbuilder *b, const struct promql_labels *ls);
/* promql_lbuilder_set sets name to value; an empty value deletes the label,
 * as in Prometheus. */
void promql_lbuilder_set(struct promql_lbuilder *b, const char *name, const char *value);
/* promql_lbuilder_del removes name (no-op when absent). */
void promql_lbuilder_del(struct promql_lbuilder *b, const char *name);
/* promql_lbuilder_keep removes every label not among names[0..n). */
void promql_lbuilder_keep(struct promql_lbuilder *b, const struct promql_str *names, size_t n);
/* promql_lbuilder_drop_metadata removes __name__ (and Prometheus's other
 * metadata labels __type__ and __unit__). */
void promql_lbuilder_drop_metadata(struct promql_lbuilder *b);
/* promql_lbuilder_finish copies the result (array only; strings are shared)
 * into arena a. Returns 0 or TT_ENOMEM (also for an earlier failed edit). */
int promql_lbuilder_finish(struct promql_lbuilder *b, struct promql_arena *a,
                           struct promql_labels *out);
void promql_lbuilder_release(struct promql_lbuilder *b);

/* promql_is_metadata_label: 1 for __name__, __type__, __unit__. */
int promql_is_metadata_label(const char *name);

#endif
