/*
 * rql.h - the RQL front end: query text -> checked syntax tree, and the tree
 * printed back as canonical text (docs/rql.md has the grammar and semantics).
 *
 *   SELECT expr, ... FROM log, ... [WHEN cond] [LINK SAME_NODE | LINK EACH_NODE]
 *   [BETWEEN t1 AND t2] [LIMIT n]
 *
 * Invariants:
 *  - A successful parse returns a tree whose variables are all resolved to a
 *    log of the FROM list (rql_var), whose functions exist with the right
 *    arity, and whose variable occurrences are numbered ($1 .. $n, WHEN first,
 *    then the SELECT occurrences of variables that the WHEN does not bind).
 *  - On failure nothing stays allocated and the error names the first
 *    problem with its byte offset, line and column, and for syntax errors the
 *    token(s) that were expected.
 *  - Nesting is capped at RQL_MAX_DEPTH, so neither the parser nor a
 *    recursive walk of the tree can exhaust the stack. No globals.
 *  - rql_print of a parsed tree parses again to a tree that prints the same.
 */
#ifndef TT_QUERY_RQL_H
#define TT_QUERY_RQL_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

#define RQL_MAX_DEPTH       100
#define RQL_MAX_QUERY_BYTES (1u << 20)
#define RQL_MAX_ARGS        64

enum rql_node_type {
    RQL_LIT,   /* literal: value */
    RQL_VAR,   /* variable occurrence: var, occ (0 inside count/sum) */
    RQL_OCC,   /* $k: the value of occurrence k (occ) */
    RQL_UNARY, /* op: RQL_OP_NEG or RQL_OP_NOT; kids[0] */
    RQL_BINARY,
    RQL_CALL, /* fn, kids[0..nkids) */
};

enum rql_op {
    RQL_OP_OR,
    RQL_OP_AND,
    RQL_OP_EQ,
    RQL_OP_NE,
    RQL_OP_LT,
    RQL_OP_LE,
    RQL_OP_GT,
    RQL_OP_GE,
    RQL_OP_ADD,
    RQL_OP_SUB,
    RQL_OP_MUL,
    RQL_OP_DIV,
    RQL_OP_MOD,
    RQL_OP_NEG,
    RQL_OP_NOT,
};

enum rql_fn {
    RQL_FN_INT,
    RQL_FN_FLOAT,
    RQL_FN_STR,
    RQL_FN_STRREPLACE,
    RQL_FN_ABS,
    RQL_FN_MIN,
    RQL_FN_MAX,
    RQL_FN_COUNT,
    RQL_FN_SUM,
    RQL_FN_NODE,
};

enum rql_vtype { RQL_V_NULL, RQL_V_INT, RQL_V_FLOAT, RQL_V_STR, RQL_V_BOOL };

/* A value. Strings are (pointer, length), not NUL terminated; who owns the
 * bytes is said where a value is handed out. */
struct rql_value {
    uint8_t type; /* enum rql_vtype */
    union {
        int64_t i;
        double f;
        int b;
        struct {
            const char *p;
            size_t len;
        } s;
    } u;
};

/* A distinct variable of the query: log.name (NUL terminated, owned by the
 * tree). key is free for the evaluator (the cut's key of the variable). */
struct rql_var {
    char *log;
    char *name;
    uint32_t key;
};

struct rql_node {
    uint8_t type;         /* enum rql_node_type */
    uint8_t op;           /* enum rql_op (UNARY, BINARY) */
    uint8_t fn;           /* enum rql_fn (CALL) */
    uint8_t in_agg;       /* 1 inside count()/sum(): bound per node, not an occurrence */
    uint32_t var;         /* RQL_VAR: index into rql_query.vars */
    uint32_t occ;         /* RQL_VAR outside aggregates, RQL_OCC: 1-based occurrence */
    size_t offset;        /* byte offset in the query text */
    struct rql_value lit; /* RQL_LIT (strings owned by the tree) */
    uint32_t depth;       /* 1 for a leaf; capped at RQL_MAX_DEPTH */
    char *vlog;           /* RQL_VAR: the log as written (NULL for a bare name) */
    char *vname;          /* RQL_VAR: the variable as written */
    uint32_t nkids;
    struct rql_node **kids;
};

enum rql_link { RQL_LINK_NONE, RQL_LINK_SAME_NODE, RQL_LINK_EACH_NODE };

/* One variable occurrence: which variable, and where. */
struct rql_occ {
    uint32_t var;
    size_t offset;
};

struct rql_query {
    uint32_t nselect;
    struct rql_node **select;
    uint32_t nfrom;
    char **from;
    struct rql_node *when; /* NULL without WHEN */
    uint8_t link;          /* enum rql_link */
    int has_between;
    int64_t between_lo, between_hi; /* inclusive, HLC physical ms */
    int has_limit;
    int64_t limit;
    uint32_t nvars;
    struct rql_var *vars;
    uint32_t nocc; /* occurrences $1..$nocc; occs[k-1] is $k */
    struct rql_occ *occs;
    uint32_t nwhen_occ; /* $1..$nwhen_occ are in WHEN */
};

struct rql_error {
    int code;      /* TT_ESYNTAX, TT_ENOTFOUND (unknown log/function), TT_EINVAL
                    * (arity, bad $k), TT_ENOMEM, TT_ETOOBIG */
    size_t offset; /* byte offset of the offending token */
    unsigned line; /* 1-based line and column (bytes) of offset */
    unsigned col;
    char msg[512]; /* "1:8: unexpected ',', expected an expression" */
};

/* rql_parse parses text[0..len) (need not be NUL terminated) into a checked
 * tree. On success returns 0 and *out owns the tree (rql_query_free). On
 * failure returns a negative TT_E* code (see rql_error.code), fills err (may
 * be NULL) and leaves *out NULL. */
int rql_parse(const char *text, size_t len, struct rql_query **out, struct rql_error *err);

/* rql_query_free releases a tree from rql_parse (NULL is fine). */
void rql_query_free(struct rql_query *q);

/* rql_print appends the canonical text of q to b (keywords upper case,
 * binary operations parenthesised, strings double-quoted with \" \\ \n \t
 * escapes). Returns 0 or b's error (TT_ENOMEM, TT_ETOOBIG). */
int rql_print(const struct rql_query *q, struct wbuf *b);

/* rql_print_expr appends the canonical text of one expression. */
int rql_print_expr(const struct rql_query *q, const struct rql_node *n, struct wbuf *b);

/* rql_fn_name returns the canonical name of a function ("Int", "count"). */
const char *rql_fn_name(enum rql_fn fn);

/* rql_query_uses returns 1 when the query reads variable log.var, else 0
 * (a change of anything else cannot change its result). */
int rql_query_uses(const struct rql_query *q, const char *log, const char *var);

#endif
