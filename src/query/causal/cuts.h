/*
 * cuts.h - consistent cuts of the state logs (docs/design/causality.md,
 * "Cuts and snapshots").
 *
 * The cut at HLC t holds, for every (node, log, var), the latest change
 * with hlc <= t: what every node's variables were at t, consistent because
 * HLCs respect causality (a change that causally follows another never has
 * a smaller HLC). Changes are ordered by (hlc, id): of two changes of one
 * (node, log, var) with the same HLC the later indexed one wins.
 *
 * struct cut is the current cut: a hash map (node, log, var) -> entry
 * (value, prev, hlc), plus an index (log, var) -> the entries of the nodes
 * that have it. It is filled by cut_apply, by cuts_snapshot (the cut at t
 * read from a state log) and advanced by the walkers.
 *
 * Consumer interface (the RQL evaluator plugs in here):
 *   - cuts_walk / cut_walk_changes call a cut_step_fn once per change, in
 *     (hlc, node, log, var, id) order, after applying it. The step names
 *     the (node, log, var) that changed (s->entry) and the cut after it
 *     (s->cut); an evaluator re-evaluates only the predicates that read
 *     s->entry->log / s->entry->var (cut_var_nodes gives the other nodes'
 *     values of a variable, cut_lookup one node's).
 *   - Several changes can share one HLC (different nodes that did not talk
 *     to each other): s->last_of_hlc is 1 on the last of them; only then
 *     is s->cut the cut at s->change->hlc. An evaluator that must only see
 *     complete cuts collects touched variables until last_of_hlc.
 *   - Pointers handed to a callback (entries, strings, values) stay valid
 *     until the next change is applied; node/log/var strings of an entry
 *     stay valid as long as the cut.
 *
 * Threads: a cut is used by one thread at a time; cuts_snapshot and
 * cuts_walk only run searches on the store, which never blocks ingest.
 */
#ifndef TT_QUERY_CAUSAL_CUTS_H
#define TT_QUERY_CAUSAL_CUTS_H

#include <stddef.h>
#include <stdint.h>
#include "core/record.h"
#include "store/events/evstore.h"
#include "store/statelog/statelog.h"

/* One (node, log, var) of a cut. Strings are NUL-terminated. value has
 * type TT_VAL_NONE when the last change set no value (the variable was
 * deleted): cut_lookup and the iterators skip such entries. */
struct cut_entry {
    const char *node, *log, *var;
    const char *process;          /* of the last change */
    struct rec_value value, prev; /* prev: TT_VAL_NONE for a first change */
    uint64_t hlc;
    int64_t time_ns;
    uint64_t id; /* the change's id in the state log */
};

struct cut;

/* cut_new makes an empty cut. Returns 0 with *out (free with cut_free) or
 * TT_ENOMEM. */
int cut_new(struct cut **out);
void cut_free(struct cut *c);

/* cut_apply applies change ch (its strings are copied) if it is not older,
 * by (hlc, id), than what the cut holds for its (node, log, var); *entry
 * (may be NULL) is then set to the entry. Returns 1 when applied, 0 when
 * the cut already held a newer change (*entry: that one), TT_ENOMEM. */
int cut_apply(struct cut *c, const struct statelog_change *ch, const struct cut_entry **entry);

/* cut_lookup: the entry of (node, log, var), NULL when unknown or deleted.
 * Valid until the next cut_apply of that key. */
const struct cut_entry *cut_lookup(const struct cut *c, const char *node, const char *log,
                                   const char *var);

/* cut_var_nodes: the entries of every node that has log.var (deleted ones
 * included: check value.type), in first-seen order; *n set to their
 * number. The array is the cut's, valid until the next cut_apply. Returns
 * NULL (and *n = 0) when no node has it. */
const struct cut_entry *const *cut_var_nodes(const struct cut *c, const char *log, const char *var,
                                             size_t *n);

/* cut_next iterates over the live entries: start with *it = 0; returns
 * NULL at the end. Order: first seen. */
const struct cut_entry *cut_next(const struct cut *c, size_t *it);

/* cut_count: live entries (deleted ones not counted). */
size_t cut_count(const struct cut *c);

/* cut_hlc: the largest HLC applied (0 for an empty cut). */
uint64_t cut_hlc(const struct cut *c);

struct cut_step {
    const struct cut *cut;                /* after the change */
    const struct cut_entry *entry;        /* the (node, log, var) it touched */
    const struct statelog_change *change; /* the change; strings borrowed */
    int last_of_hlc;                      /* no further change with this HLC */
    uint64_t index;                       /* 0, 1, ... within the walk */
};

/* A walk's consumer: return 0 to go on, anything else stops the walk and
 * is returned by it. */
typedef int (*cut_step_fn)(void *arg, const struct cut_step *s);

/* cut_changes_sort sorts changes into walking order: (hlc, node, log, var,
 * id). */
void cut_changes_sort(struct statelog_change *ch, size_t n);

/* cut_walk_changes applies ch[0..n) (sorted, cut_changes_sort) to c one at
 * a time and calls fn after each (a change older than what c holds for its
 * key is still reported, with the entry c keeps). Returns 0, fn's nonzero
 * return, or TT_ENOMEM. */
int cut_walk_changes(struct cut *c, const struct statelog_change *ch, size_t n, cut_step_fn fn,
                     void *arg);

/* Limits of reading a state log: a snapshot or walk reads every change
 * with hlc <= its end that the store still holds (a variable last changed
 * before the oldest retained segment is unknown); at most
 * CUTS_MAX_CHANGES changes are read (TT_ETOOBIG past it). */
#define CUTS_MAX_CHANGES (64u << 20)

/* cuts_snapshot fills c (empty) with the cut at t of the state log st,
 * only changes of log (NULL: every log). Returns 0; TT_ETOOBIG (more than
 * CUTS_MAX_CHANGES changes); TT_ENOMEM; a search error (message in err). */
int cuts_snapshot(struct evstore *st, uint64_t t, const char *log, struct cut *c, char *err,
                  size_t errlen);

/* cuts_walk: c (empty) is set to the cut just before t1 (hlc < t1), then
 * the changes with t1 <= hlc <= t2 (of log; NULL: every log) are walked
 * with fn as cut_walk_changes does, at most limit of them (0: no limit;
 * *truncated set to 1 when more were left, may be NULL). Returns as
 * cuts_snapshot, or fn's nonzero return. */
int cuts_walk(struct evstore *st, uint64_t t1, uint64_t t2, const char *log, size_t limit,
              struct cut *c, cut_step_fn fn, void *arg, int *truncated, char *err, size_t errlen);

/* cuts_parse_hlc reads an HLC: 16 hex digits (the packed form), or "L.C"
 * (decimal milliseconds and count). Returns 0 or TT_ESYNTAX. */
int cuts_parse_hlc(const char *s, uint64_t *hlc);

#endif
