/*
 * parser.h - the PromQL parser: query text -> typed syntax tree (ast.h), with
 * Prometheus's grammar, operator precedence, type rules and error messages
 * ("1:5: parse error: unexpected <op:*>", "expected type range vector in
 * call to function \"rate\", got instant vector", ...).
 *
 * Invariants:
 *  - A successful parse returns a tree that type-checks as Prometheus's
 *    checkAST would accept it; every node has its type set.
 *  - On failure nothing is allocated any more (the arena is released) and
 *    the error carries the first problem, as Prometheus reports the first.
 *  - Nesting is capped (PROMQL_MAX_DEPTH levels of tree depth), so neither
 *    the parser nor a recursive walk of its tree can exhaust the stack.
 *  - Not thread-bound and no globals: parses may run concurrently.
 */
#ifndef TT_PROMQL_PARSER_H
#define TT_PROMQL_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include "query/promql/ast.h"

/* Maximum depth of a parsed tree (and of parentheses/unary chains). */
#define PROMQL_MAX_DEPTH 1000
/* Longest query accepted (bytes). */
#define PROMQL_MAX_QUERY_BYTES (16u << 20)

struct promql_error {
    int code;      /* TT_ESYNTAX for parse/type errors, TT_ENOMEM, TT_ETOOBIG */
    size_t offset; /* byte offset of the offending token or expression */
    unsigned line; /* 1-based line and column of offset (column in bytes) */
    unsigned col;
    /* The message without position ("unexpected end of input"). */
    char detail[480];
    /* Prometheus's full text: "<line>:<col>: parse error: <detail>" (or
     * "unknown position: parse error: ..." for an empty query). */
    char msg[512];
};

struct promql_parse_opts {
    /* Accept the functions and aggregations Prometheus keeps behind
     * --enable-feature=promql-experimental-functions (limitk, limit_ratio,
     * sort_by_label, mad_over_time, ...). Default 0: rejected as Prometheus
     * does without the flag. */
    int experimental_functions;
};

/* promql_parse parses query[0..len) (need not be NUL terminated) into a new
 * tree. opts may be NULL (defaults). On success returns 0 and *out owns the
 * tree (free with promql_ast_free); the tree does not point into query. On
 * failure returns TT_ESYNTAX (err filled with Prometheus's message and the
 * position), TT_ENOMEM, or TT_ETOOBIG (query over PROMQL_MAX_QUERY_BYTES);
 * *out is NULL. err may be NULL. */
int promql_parse(const char *query, size_t len, const struct promql_parse_opts *opts,
                 struct promql_ast **out, struct promql_error *err);

/* promql_parse_selector parses a series selector alone (`up{job="x"}`,
 * `{__name__=~"a.*"}`), as the match[] parameter of /api/v1/series and
 * friends: the root of *out is a PROMQL_VECTOR_SELECTOR without offset or @.
 * Unlike promql_parse it does not require a non-empty matcher (callers that
 * need one check it). Same ownership and errors as promql_parse. */
int promql_parse_selector(const char *sel, size_t len, struct promql_ast **out,
                          struct promql_error *err);

/* promql_matcher_matches_empty reports whether m matches the empty string
 * (an absent label), compiling the regex for =~ and !~. Returns 1, 0, or a
 * negative TT_E* code (TT_ESYNTAX: bad regex). */
int promql_matcher_matches_empty(const struct promql_matcher *m);

#endif
