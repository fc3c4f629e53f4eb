/*
 * memstore.h - a simple in-memory series store implementing the engine's
 * storage interface (engine.h): what `telltale promqltest` loads test data
 * into, and what unit tests evaluate against. Not built for size or speed:
 * series are found by scanning, each keeps a sorted array of points.
 *
 * Invariants: a series is identified by its label set (sorted, as given);
 * its points are in strictly increasing time order (adding a point at an
 * existing time replaces the value). Matchers are compiled per select with
 * the TSDB's matcher module (PCRE2, fully anchored).
 */
#ifndef TT_PROMQL_MEMSTORE_H
#define TT_PROMQL_MEMSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "query/promql/engine.h"

struct promql_memstore;

/* promql_memstore_new makes an empty store. Returns 0 or TT_ENOMEM. */
int promql_memstore_new(struct promql_memstore **out);
/* promql_memstore_free frees ms and all its data (NULL is fine). */
void promql_memstore_free(struct promql_memstore *ms);
/* promql_memstore_clear removes every series. */
void promql_memstore_clear(struct promql_memstore *ms);

/* promql_memstore_add adds the sample (t_ms, v) to the series with labels
 * ls (n pairs in any order, copied; empty values are dropped as in
 * Prometheus). v may be the staleness marker. Returns 0, TT_EINVAL for a
 * label set with a repeated name, or TT_ENOMEM. */
int promql_memstore_add(struct promql_memstore *ms, const struct promql_label *ls, size_t n,
                        int64_t t_ms, double v);

/* promql_memstore_series_count: number of series held. */
size_t promql_memstore_series_count(const struct promql_memstore *ms);

/* promql_memstore_storage fills st so the engine reads from ms (valid while
 * ms lives). */
void promql_memstore_storage(struct promql_memstore *ms, struct promql_storage *st);

#endif
