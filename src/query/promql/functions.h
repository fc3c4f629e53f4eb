/*
 * functions.h - the table of PromQL functions the parser knows: name,
 * argument types, how many optional/extra arguments, and return type, as in
 * Prometheus's promql/parser/functions.go. The parser resolves every call
 * against it and type-checks arguments; the engine keys its implementations
 * on the entry (or on its id).
 *
 * Invariants: the table is constant and sorted by name; ids are the indexes
 * into it and stay stable within a build.
 */
#ifndef TT_PROMQL_FUNCTIONS_H
#define TT_PROMQL_FUNCTIONS_H

#include <stddef.h>
#include "query/promql/ast.h"

#define PROMQL_FUNC_MAX_ARGS 5

struct promql_function {
    const char *name;
    int id; /* index in the table */
    /* Declared argument types; the first nargs entries are used. */
    enum promql_type arg_types[PROMQL_FUNC_MAX_ARGS];
    int nargs;
    /* Prometheus's Variadic: 0 = exactly nargs arguments; n > 0 = the last
     * declared argument is optional and up to n of it may be given (so
     * nargs-1 .. nargs-1+n arguments); -1 = the last argument repeats without
     * limit (at least nargs-1 arguments). */
    int variadic;
    enum promql_type return_type;
    /* 1 for functions Prometheus has behind --enable-feature=
     * promql-experimental-functions: the parser rejects them ("function %q is
     * not enabled") unless asked to allow them. */
    int experimental;
};

/* promql_function_lookup finds a function by exact (case-sensitive) name of
 * len bytes; NULL when there is none. The returned entry is static. */
const struct promql_function *promql_function_lookup(const char *name, size_t len);

/* promql_function_count / promql_function_at: iterate the table (static). */
size_t promql_function_count(void);
const struct promql_function *promql_function_at(size_t i);

#endif
