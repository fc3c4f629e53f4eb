/*
 * memcut.h - an in-memory consistent cut: the latest value of every
 * (node, log, var), implementing cut_iface.h. Used by the tests, the RQL
 * benchmark and `telltale rql --file`; a change is applied with memcut_set.
 *
 * Invariants: node ids and variable keys are dense, in order of first
 * appearance; the node list of a key stays ascending; values are owned
 * copies (a string set again replaces the old copy, so strings handed out
 * by the ops stay valid only until the next memcut_set).
 */
#ifndef TT_QUERY_RQL_MEMCUT_H
#define TT_QUERY_RQL_MEMCUT_H

#include <stdint.h>
#include "query/rql/cut_iface.h"

struct memcut;

/* memcut_new returns an empty cut, NULL when out of memory (free with memcut_free). */
struct memcut *memcut_new(void);

/* memcut_free releases mc (NULL is fine). */
void memcut_free(struct memcut *mc);

/* memcut_set sets log.var on node to v (copied), adding the node and the
 * variable on first sight; *key and *node (each may be NULL) get their ids.
 * Returns 0, TT_ENOMEM, or TT_EINVAL for an empty name. */
int memcut_set(struct memcut *mc, const char *node, const char *log, const char *var,
               const struct rql_value *v, uint32_t *key, uint32_t *node_id);

/* memcut_set_id is memcut_set for ids that memcut_set returned before
 * (the fast path of a benchmark). Returns 0, TT_ENOMEM or TT_EINVAL. */
int memcut_set_id(struct memcut *mc, uint32_t node_id, uint32_t key, const struct rql_value *v);

/* memcut_ops: the cut_iface.h calls, with the memcut as the cut pointer. */
extern const struct rql_cut_ops memcut_ops;

#endif
