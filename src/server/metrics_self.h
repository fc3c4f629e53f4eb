/*
 * metrics_self.h - the server's own metrics, served at /metrics in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * A registry holds metric families (counter, gauge, histogram), each with a
 * fixed list of label names; a family's children are its label-value
 * combinations, created on first use. Server modules register families at
 * start-up, keep the struct metric pointers of children they use often, and
 * update them from any thread. Values that are cheaper to read at scrape
 * time than to keep up to date (RSS, series counts, WAL size) come from
 * collectors: callbacks that append their own lines while /metrics renders.
 *
 * Thread safety: updates are lock-free atomics; creating a child, registering
 * and rendering take the registry's mutex. A scrape running concurrently with
 * updates sees each value atomically, but a histogram's buckets, sum and
 * count may be a few observations apart; _count is written as the sum of the
 * buckets so that +Inf and _count always agree.
 *
 * Memory: families and children live until metrics_registry_free; struct
 * metric pointers stay valid until then.
 */
#ifndef TT_METRICS_SELF_H
#define TT_METRICS_SELF_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

enum metric_type {
    METRIC_COUNTER,
    METRIC_GAUGE,
    METRIC_HISTOGRAM,
};

#define METRICS_MAX_LABELS  8
#define METRICS_MAX_BUCKETS 32

/* What a family is: name and help are copied at registration. Names follow
 * Prometheus's rules ([a-zA-Z_:][a-zA-Z0-9_:]*, labels without ':' and not
 * "le" for histograms). buckets are upper bounds, strictly increasing,
 * without +Inf (added implicitly); NULL/0 uses metrics_default_buckets. */
struct metric_desc {
    enum metric_type type;
    const char *name;
    const char *help;
    const char *const *label_names;
    size_t nlabels;
    const double *buckets;
    size_t nbuckets;
};

struct metrics_registry;
struct metric_family;
struct metric;

/* Latency buckets in seconds, 1 ms to 60 s (METRICS_DEFAULT_NBUCKETS). */
extern const double metrics_default_buckets[];
#define METRICS_DEFAULT_NBUCKETS 15

/* metrics_registry_new allocates an empty registry. Returns 0 or TT_ENOMEM. */
int metrics_registry_new(struct metrics_registry **out);

/* metrics_registry_free frees the registry, its families and children. NULL
 * is a no-op. No other thread may use it any more. */
void metrics_registry_free(struct metrics_registry *reg);

/* metrics_register adds a family and sets *out (owned by the registry).
 * Returns 0, TT_EINVAL for a bad name, label, type or bucket list,
 * TT_EEXIST if the name is taken, or TT_ENOMEM. */
int metrics_register(struct metrics_registry *reg, const struct metric_desc *desc,
                     struct metric_family **out);

/* metrics_child returns the child for label_values (nlabels strings, copied;
 * NULL when the family has no labels), creating it at zero on first use.
 * Returns NULL only on allocation failure or a NULL family; every update
 * function below accepts NULL and does nothing, so callers need not check. */
struct metric *metrics_child(struct metric_family *f, const char *const *label_values);

/* Updates. Counters only go up: metric_add ignores negative and NaN deltas
 * on counters. metric_set is for gauges; metric_observe for histograms. */
void metric_inc(struct metric *m);
void metric_add(struct metric *m, double delta);
void metric_set(struct metric *m, double v);
void metric_observe(struct metric *m, double v);

/* Reads (mostly for tests): a counter's or gauge's value, a histogram's sum
 * and count. */
double metric_value(const struct metric *m);
double metric_hist_sum(const struct metric *m);
uint64_t metric_hist_count(const struct metric *m);

/* A collector appends complete families (# HELP, # TYPE, samples) to out at
 * render time, with the writers below. It runs under the registry's mutex:
 * it must not call back into the registry. */
typedef void (*metrics_collect_fn)(void *ctx, struct wbuf *out);

/* metrics_add_collector registers fn(ctx, out) to run on every render, in
 * registration order after the families. Returns 0 or TT_ENOMEM. ctx must
 * outlive the registry (or the collector's last render). */
int metrics_add_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *ctx);

/* metrics_add_process_collector adds the standard process_* metrics read
 * from /proc/self at render time (cpu seconds, resident and virtual memory,
 * open and max fds, start time) and telltale_uptime_seconds. Returns 0 or
 * TT_ENOMEM. */
int metrics_add_process_collector(struct metrics_registry *reg);

/* metrics_render appends the whole exposition to out: families sorted by
 * registration, children in creation order, then the collectors. Returns 0
 * or out's sticky error. */
int metrics_render(struct metrics_registry *reg, struct wbuf *out);

/* Writers for collectors. metrics_write_header writes # HELP and # TYPE
 * lines; metrics_write_sample one sample line, label values escaped (\\, \",
 * \n), the value formatted shortest-round-trip with NaN, +Inf, -Inf. */
void metrics_write_header(struct wbuf *out, const char *name, const char *help,
                          enum metric_type type);
void metrics_write_sample(struct wbuf *out, const char *name, const char *const *label_names,
                          const char *const *label_values, size_t nlabels, double v);

/* metrics_format_value writes v as metrics_write_sample does into out (at
 * least 32 bytes) with a NUL and returns the length. */
size_t metrics_format_value(double v, char *out, size_t outlen);

#endif
