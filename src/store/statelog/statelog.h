/*
 * statelog.h - the state log: the REC_STATE records of the record log (a
 * variable of a named log changing value on a node, with its previous
 * value and HLC), searchable by node, log, variable, time and HLC range
 * (docs/design/events.md, "State log").
 *
 * It is an events store (store/events/evstore.h) opened with records =
 * REC_STATE: the same segments, crash safety, dedup and page tokens; a
 * change is kept as an entry with the log as component, the variable as
 * name and the values as attrs "value" and "prev". This module opens such
 * a store and turns its entries back into changes.
 */
#ifndef TT_STORE_STATELOG_H
#define TT_STORE_STATELOG_H

#include <stdint.h>
#include "core/record.h"
#include "store/events/evstore.h"

struct statelog_change {
    uint64_t id;
    int64_t time_ns;
    uint64_t hlc;
    struct rec_str node, process, log, var;
    struct rec_value value;
    struct rec_value prev; /* type TT_VAL_NONE for a variable's first change */
};

/* statelog_open opens (creating) the state log in cfg->dir; cfg->records
 * is ignored. Returns as evstore_open. */
int statelog_open(struct evstore **out, const struct evstore_config *cfg, char *err, size_t errlen);

/* statelog_change_of reads the change an entry of a state log holds;
 * strings point where e's do. Returns 0, or TT_ECORRUPT when the entry's
 * attrs are not a value and a prev. */
int statelog_change_of(const struct evseg_event *e, struct statelog_change *c);

/* statelog_query_init: a query for changes of node, log and var (each
 * NULL: any), everything else open (evstore_query_init). */
void statelog_query_init(struct evstore_query *q, const char *node, const char *log,
                         const char *var);

#endif
