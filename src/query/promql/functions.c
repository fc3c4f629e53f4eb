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
    { "histogram_quantiles", 34, { V, STR, S, S }, 4, -1, V, 1 },
    { "histogram_stddev", 35, { V }, 1, 0, V, 0 },
    { "histogram_stdvar", 36, { V }, 1, 0, V, 0 },
    { "histogram_sum", 37, { V }, 1, 0, V, 0 },
    { "hour", 38, { V }, 1, 1, V, 0 },
    { "idelta", 39, { M }, 1, 0, V, 0 },
    { "increase", 40, { M }, 1, 0, V, 0 },
    { "info", 41, { V, V }, 2, 1, V, 1 },
    { "irate", 42, { M }, 1, 0, V, 0 },
    { "label_join", 43, { V, STR, STR, STR }, 4, -1, V, 0 },
    { "label_replace", 44, { V, STR, STR, STR, STR }, 5, 0, V, 0 },
    { "last_over_time", 45, { M }, 1, 0, V, 0 },
    { "ln", 46, { V }, 1, 0, V, 0 },
    { "log10", 47, { V }, 1, 0, V, 0 },
    { "log2", 48, { V }, 1, 0, V, 0 },
    { "mad_over_time", 49, { M }, 1, 0, V, 1 },
    { "max_of", 50, { S, S }, 2, 0, S, 1 },
    { "max_over_time", 51, { M }, 1, 0, V, 0 },
    { "min_of", 52, { S, S }, 2, 0, S, 1 },
    { "min_over_time", 53, { M }, 1, 0, V, 0 },
    { "minute", 54, { V }, 1, 1, V, 0 },
    { "month", 55, { V }, 1, 1, V, 0 },
    { "pi", 56, { 0 }, 0, 0, S, 0 },
    { "predict_linear", 57, { M, S }, 2, 0, V, 0 },
    { "present_over_time", 58, { M }, 1, 0, V, 0 },
    { "quantile_over_time", 59, { S, M }, 2, 0, V, 0 },
    { "rad", 60, { V }, 1, 0, V, 0 },
    { "range", 61, { 0 }, 0, 0, S, 1 },
    { "rate", 62, { M }, 1, 0, V, 0 },
    { "resets", 63, { M }, 1, 0, V, 0 },
    { "round", 64, { V, S }, 2, 1, V, 0 },
    { "scalar", 65, { V }, 1, 0, S, 0 },
    { "sgn", 66, { V }, 1, 0, V, 0 },
    { "sin", 67, { V }, 1, 0, V, 0 },
    { "sinh", 68, { V }, 1, 0, V, 0 },
    { "sort", 69, { V }, 1, 0, V, 0 },
    { "sort_by_label", 70, { V, STR }, 2, -1, V, 1 },
    { "sort_by_label_desc", 71, { V, STR }, 2, -1, V, 1 },
    { "sort_desc", 72, { V }, 1, 0, V, 0 },
    { "sqrt", 73, { V }, 1, 0, V, 0 },
    { "start", 74, { 0 }, 0, 0, S, 1 },
    { "stddev_over_time", 75, { M }, 1, 0, V, 0 },
    { "stdvar_over_time", 76, { M }, 1, 0, V, 0 },
    { "step", 77, { 0 }, 0, 0, S, 1 },
    { "sum_over_time", 78, { M }, 1, 0, V, 0 },
    { "tan", 79, { V }, 1, 0, V, 0 },
    { "tanh", 80, { V }, 1, 0, V, 0 },
    { "time", 81, { 0 }, 0, 0, S, 0 },
    { "timestamp", 82, { V }, 1, 0, V, 0 },
    { "ts_of_first_over_time", 83, { M }, 1, 0, V, 1 },
    { "ts_of_last_over_time", 84, { M }, 1, 0, V, 1 },
    { "ts_of_max_over_time", 85, { M }, 1, 0, V, 1 },
    { "ts_of_min_over_time", 86, { M }, 1, 0, V, 1 },
    { "vector", 87, { S }, 1, 0, V, 0 },
    { "year", 88, { V }, 1, 1, V, 0 },
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
