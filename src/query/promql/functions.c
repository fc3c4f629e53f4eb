/*
 * functions.c - the PromQL function table (see functions.h). The signatures
 * follow Prometheus's promql/parser/functions.go; native-histogram-only
 * entries the engine cannot serve are left out.
 *
 * Invariant: the table is sorted by name (strcmp order) and each id equals
 * its index; promql_function_lookup relies on the order (binary search).
 */
#include <string.h>
#include "query/promql/functions.h"

#define V   PROMQL_TYPE_VECTOR
#define M   PROMQL_TYPE_MATRIX
#define S   PROMQL_TYPE_SCALAR
#define STR PROMQL_TYPE_STRING

static const struct promql_function table[] = {
    { "abs", 0, { V }, 1, 0, V, 0 },
    { "absent", 1, { V }, 1, 0, V, 0 },
    { "absent_over_time", 2, { M }, 1, 0, V, 0 },
    { "acos", 3, { V }, 1, 0, V, 0 },
    { "acosh", 4, { V }, 1, 0, V, 0 },
    { "asin", 5, { V }, 1, 0, V, 0 },
    { "asinh", 6, { V }, 1, 0, V, 0 },
    { "atan", 7, { V }, 1, 0, V, 0 },
    { "atanh", 8, { V }, 1, 0, V, 0 },
    { "avg_over_time", 9, { M }, 1, 0, V, 0 },
    { "ceil", 10, { V }, 1, 0, V, 0 },
    { "changes", 11, { M }, 1, 0, V, 0 },
    { "clamp", 12, { V, S, S }, 3, 0, V, 0 },
    { "clamp_max", 13, { V, S }, 2, 0, V, 0 },
    { "clamp_min", 14, { V, S }, 2, 0, V, 0 },
    { "cos", 15, { V }, 1, 0, V, 0 },
    { "cosh", 16, { V }, 1, 0, V, 0 },
    { "count_over_time", 17, { M }, 1, 0, V, 0 },
    { "day_of_month", 18, { V }, 1, 1, V, 0 },
    { "day_of_week", 19, { V }, 1, 1, V, 0 },
    { "day_of_year", 20, { V }, 1, 1, V, 0 },
    { "days_in_month", 21, { V }, 1, 1, V, 0 },
    { "deg", 22, { V }, 1, 0, V, 0 },
    { "delta", 23, { M }, 1, 0, V, 0 },
    { "deriv", 24, { M }, 1, 0, V, 0 },
    { "double_exponential_smoothing", 25, { M, S, S }, 3, 0, V, 1 },
    { "end", 26, { 0 }, 0, 0, S, 1 },
    { "exp", 27, { V }, 1, 0, V, 0 },
    { "first_over_time", 28, { M }, 1, 0, V, 0 },
    { "floor", 29, { V }, 1, 0, V, 0 },
    { "histogram_avg", 30, { V }, 1, 0, V, 0 },
    { "histogram_count", 31, { V }, 1, 0, V, 0 },
    { "histogram_fraction", 32, { S, S, V }, 3, 0, V, 0 },
    { "histogram_quantile", 33, { S, V }, 2, 0, V, 0 },
    { "histogram_stddev", 34, { V }, 1, 0, V, 0 },
    { "histogram_stdvar", 35, { V }, 1, 0, V, 0 },
    { "histogram_sum", 36, { V }, 1, 0, V, 0 },
    { "hour", 37, { V }, 1, 1, V, 0 },
    { "idelta", 38, { M }, 1, 0, V, 0 },
    { "increase", 39, { M }, 1, 0, V, 0 },
    { "info", 40, { V, V }, 2, 1, V, 1 },
    { "irate", 41, { M }, 1, 0, V, 0 },
    { "label_join", 42, { V, STR, STR, STR }, 4, -1, V, 0 },
    { "label_replace", 43, { V, STR, STR, STR, STR }, 5, 0, V, 0 },
    { "last_over_time", 44, { M }, 1, 0, V, 0 },
    { "ln", 45, { V }, 1, 0, V, 0 },
    { "log10", 46, { V }, 1, 0, V, 0 },
    { "log2", 47, { V }, 1, 0, V, 0 },
    { "mad_over_time", 48, { M }, 1, 0, V, 1 },
    { "max_of", 49, { S, S }, 2, 0, S, 1 },
    { "max_over_time", 50, { M }, 1, 0, V, 0 },
    { "min_of", 51, { S, S }, 2, 0, S, 1 },
    { "min_over_time", 52, { M }, 1, 0, V, 0 },
    { "minute", 53, { V }, 1, 1, V, 0 },
    { "month", 54, { V }, 1, 1, V, 0 },
    { "pi", 55, { 0 }, 0, 0, S, 0 },
    { "predict_linear", 56, { M, S }, 2, 0, V, 0 },
    { "present_over_time", 57, { M }, 1, 0, V, 0 },
    { "quantile_over_time", 58, { S, M }, 2, 0, V, 0 },
    { "rad", 59, { V }, 1, 0, V, 0 },
    { "range", 60, { 0 }, 0, 0, S, 1 },
    { "rate", 61, { M }, 1, 0, V, 0 },
    { "resets", 62, { M }, 1, 0, V, 0 },
    { "round", 63, { V, S }, 2, 1, V, 0 },
    { "scalar", 64, { V }, 1, 0, S, 0 },
    { "sgn", 65, { V }, 1, 0, V, 0 },
    { "sin", 66, { V }, 1, 0, V, 0 },
    { "sinh", 67, { V }, 1, 0, V, 0 },
    { "sort", 68, { V }, 1, 0, V, 0 },
    { "sort_by_label", 69, { V, STR }, 2, -1, V, 1 },
    { "sort_by_label_desc", 70, { V, STR }, 2, -1, V, 1 },
    { "sort_desc", 71, { V }, 1, 0, V, 0 },
    { "sqrt", 72, { V }, 1, 0, V, 0 },
    { "start", 73, { 0 }, 0, 0, S, 1 },
    { "stddev_over_time", 74, { M }, 1, 0, V, 0 },
    { "stdvar_over_time", 75, { M }, 1, 0, V, 0 },
    { "step", 76, { 0 }, 0, 0, S, 1 },
    { "sum_over_time", 77, { M }, 1, 0, V, 0 },
    { "tan", 78, { V }, 1, 0, V, 0 },
    { "tanh", 79, { V }, 1, 0, V, 0 },
    { "time", 80, { 0 }, 0, 0, S, 0 },
    { "timestamp", 81, { V }, 1, 0, V, 0 },
    { "ts_of_first_over_time", 82, { M }, 1, 0, V, 1 },
    { "ts_of_last_over_time", 83, { M }, 1, 0, V, 1 },
    { "ts_of_max_over_time", 84, { M }, 1, 0, V, 1 },
    { "ts_of_min_over_time", 85, { M }, 1, 0, V, 1 },
    { "vector", 86, { S }, 1, 0, V, 0 },
    { "year", 87, { V }, 1, 1, V, 0 },
};

#undef V
#undef M
#undef S
#undef STR

#define NFUNCS (sizeof(table) / sizeof(table[0]))

const struct promql_function *promql_function_lookup(const char *name, size_t len)
{
    size_t lo = 0, hi = NFUNCS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *t = table[mid].name;
        size_t tlen = strlen(t);
        int c = memcmp(t, name, tlen < len ? tlen : len);
        if (c == 0)
            c = tlen < len ? -1 : (tlen > len ? 1 : 0);
        if (c == 0)
            return &table[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t promql_function_count(void)
{
    return NFUNCS;
}

const struct promql_function *promql_function_at(size_t i)
{
    return i < NFUNCS ? &table[i] : NULL;
}
