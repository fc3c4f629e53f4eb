/*
 * cut_iface.h - what the RQL evaluator needs from a consistent cut (the
 * state of every node's variables at one HLC), so the language does not
 * depend on how cuts are stored: the snapshot engine, the in-memory cut of
 * memcut.h (tests, the benchmark, `telltale rql --file`) or anything else
 * implements these five calls.
 *
 * Nodes are small dense ids 0 .. node_count-1. Variables are named by
 * (log, var) once, through resolve, and by the returned key afterwards.
 * Strings handed out stay valid until the cut next changes.
 */
#ifndef TT_QUERY_RQL_CUT_IFACE_H
#define TT_QUERY_RQL_CUT_IFACE_H

#include <stdint.h>
#include "query/rql/rql.h"

struct rql_cut_ops {
    /* resolve sets *key for log.var. Returns 0, or TT_ENOTFOUND when the
     * cut has never seen that variable on any node. */
    int (*resolve)(void *cut, const char *log, const char *var, uint32_t *key);
    /* node_count returns how many nodes the cut knows (ids 0 .. n-1). */
    uint32_t (*node_count)(void *cut);
    /* nodes sets *nodes to the ascending ids of the nodes that have a value
     * for key (borrowed until the cut changes) and returns their number. */
    uint32_t (*nodes)(void *cut, uint32_t key, const uint32_t **nodes);
    /* value returns 1 and fills *out when node has a value for key (a string
     * is borrowed until the cut changes), 0 when it has none. */
    int (*value)(void *cut, uint32_t node, uint32_t key, struct rql_value *out);
    /* node_name returns the node's name (borrowed, NUL terminated). */
    const char *(*node_name)(void *cut, uint32_t node);
};

#endif
