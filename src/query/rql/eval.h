/*
 * eval.h - evaluating a parsed RQL query (rql.h) over consistent cuts given
 * through cut_iface.h, one cut after another (docs/rql.md, "Semantics").
 *
 * Invariants:
 *  - An unlinked query enumerates the bindings of its WHEN occurrences
 *    (each occurrence its own node; two occurrences of one variable never on
 *    the same node); before it enumerates, it counts them and refuses
 *    (TT_ETOOBIG, with the count and how to narrow) above max_combinations,
 *    so no cut can make it hang.
 *  - A binding whose expression fails at run time (Int("x"), 1/0, a string
 *    compared with a number) does not match; it is counted and the first
 *    message kept (rql_eval_stats).
 *  - With LINK SAME_NODE or EACH_NODE (and no count()/sum() in WHEN) the
 *    result of each node is kept, so a change re-evaluates one node only; a
 *    change of a variable the query does not use re-evaluates nothing.
 *  - No globals; one evaluator is used by one thread at a time.
 */
#ifndef TT_QUERY_RQL_EVAL_H
#define TT_QUERY_RQL_EVAL_H

#include <stdint.h>
#include "query/rql/cut_iface.h"
#include "query/rql/rql.h"

#define RQL_DEFAULT_MAX_COMBINATIONS 100000u
#define RQL_DEFAULT_MAX_ROWS         100u
/* Longest string an expression may make (StrReplace). */
#define RQL_MAX_STRING_BYTES (1u << 20)

struct rql_eval_opts {
    uint64_t max_combinations; /* per cut; 0: RQL_DEFAULT_MAX_COMBINATIONS */
    uint32_t max_rows;         /* rows per cut from rql_eval_rows; 0: RQL_DEFAULT_MAX_ROWS */
};

/* One way a cut matched: the SELECT values and the node of each occurrence
 * ($k took nodes[k-1]). Borrowed from the evaluator until its next call. */
struct rql_row {
    struct rql_value *values; /* nselect */
    uint32_t *nodes;          /* nocc */
};

struct rql_eval_stats {
    uint64_t cuts;     /* rql_eval_cut/rql_eval_change calls */
    uint64_t skipped;  /* changes of variables the query does not use */
    uint64_t bindings; /* bindings (or per-node results) evaluated */
    uint64_t runtime_errors;
    char first_error[256]; /* the first run-time error, "" if none */
};

struct rql_eval;

/* rql_eval_new prepares q (borrowed: it must outlive the evaluator) for
 * cuts reached through ops/cut (borrowed likewise). opts may be NULL.
 * Returns 0 and *out (free with rql_eval_free); TT_ENOTFOUND when the cut
 * has no variable of the query (err names it); TT_ENOMEM. */
int rql_eval_new(const struct rql_query *q, const struct rql_eval_opts *opts,
                 const struct rql_cut_ops *ops, void *cut, struct rql_eval **out, char *err,
                 size_t errlen);

/* rql_eval_free releases ev (NULL is fine). */
void rql_eval_free(struct rql_eval *ev);

/* rql_eval_cut evaluates the WHEN of q over the cut as it is now (all of
 * it) and sets *match. Returns 0; TT_ETOOBIG when an unlinked query would
 * examine more than max_combinations bindings (err says how many and how to
 * narrow); TT_ENOMEM. */
int rql_eval_cut(struct rql_eval *ev, int *match, char *err, size_t errlen);

/* rql_eval_change is rql_eval_cut after the cut changed only the variable
 * of key on node (the previous call must have been on the cut before that
 * change). It evaluates only what the change touched. Returns as
 * rql_eval_cut. */
int rql_eval_change(struct rql_eval *ev, uint32_t key, uint32_t node, int *match, char *err,
                    size_t errlen);

/* rql_eval_rows computes the rows of the current cut (call after a match,
 * on the same cut): up to max_rows, in binding order. *rows is borrowed
 * until the next call on ev. Returns 0, TT_ETOOBIG or TT_ENOMEM. */
int rql_eval_rows(struct rql_eval *ev, const struct rql_row **rows, uint32_t *n, char *err,
                  size_t errlen);

/* rql_eval_stats returns the evaluator's counters (borrowed). */
const struct rql_eval_stats *rql_eval_stats(const struct rql_eval *ev);

/* rql_eval_key returns the cut's key of variable i of the query. */
uint32_t rql_eval_key(const struct rql_eval *ev, uint32_t var);

/* rql_value_eval evaluates a variable-free expression (a constant, or
 * functions of constants) into *out; strings are copied into buf (its
 * contents valid while buf is). Returns 0 or TT_EINVAL with the run-time
 * error in err. For tests and for checking constants. */
int rql_value_eval(const struct rql_query *q, const struct rql_node *n, struct rql_value *out,
                   char *buf, size_t buflen, char *err, size_t errlen);

#endif
