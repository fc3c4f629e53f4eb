/*
 * test_api_deps.c - the counting behind /api/dependencies and
 * /api/tt/dependencies: exact counter increases over a window (base sample
 * before the window, resets, series born inside it, stale NaNs) and
 * Prometheus's histogram_quantile over bucket counts.
 */
#include <math.h>
#include <stdint.h>
#include "server/api_deps.h"
#include "unit.h"

static void test_increase_window(void **state)
{
    (void)state;
    const int64_t ts[] = { 0, 10, 20, 30, 40 };
    const double vs[] = { 1, 3, 7, 7, 12 };
    /* (10, 30]: 3 -> 7 -> 7 */
    assert_true(deps_increase(ts, vs, 5, 10, 30) == 4);
    /* (5, 40]: base 1 */
    assert_true(deps_increase(ts, vs, 5, 5, 40) == 11);
    /* a window before every sample: nothing; after: nothing */
    assert_true(deps_increase(ts, vs, 5, -20, -10) == 0);
    assert_true(deps_increase(ts, vs, 5, 40, 100) == 0);
    /* born inside the window: counted from zero */
    assert_true(deps_increase(ts, vs, 5, -5, 10) == 3);
    assert_true(deps_increase(ts, vs, 0, 0, 10) == 0);
}

static void test_increase_reset_and_nan(void **state)
{
    (void)state;
    const int64_t ts[] = { 0, 10, 20, 30, 40 };
    const double vs[] = { 5, 9, 0, NAN, 4 };
    /* 5 -> 9 (+4), reset to 0 (+0), stale skipped, 0 -> 4 (+4) */
    assert_true(deps_increase(ts, vs, 5, 0, 40) == 8);
    const double vs2[] = { 5, 9, 2, 3, 4 };
    /* a drop to 2 counts the 2 */
    assert_true(deps_increase(ts, vs2, 5, 10, 40) == 4);
}

static void test_quantile(void **state)
{
    (void)state;
    const double le[] = { 0.1, 0.5, 1, INFINITY };
    const double cum[] = { 10, 20, 20, 20 };
    /* rank 10 of 20: the end of the first bucket */
    assert_true(fabs(deps_quantile(0.5, le, cum, 4) - 0.1) < 1e-12);
    /* rank 15: halfway through (0.1, 0.5] */
    assert_true(fabs(deps_quantile(0.75, le, cum, 4) - 0.3) < 1e-12);
    /* rank 5 in the first bucket: from 0 */
    assert_true(fabs(deps_quantile(0.25, le, cum, 4) - 0.05) < 1e-12);
    const double cum2[] = { 0, 0, 1, 3 };
    /* in the +Inf bucket: the highest finite bound */
    assert_true(deps_quantile(0.9, le, cum2, 4) == 1);
    const double none[] = { 0, 0, 0, 0 };
    assert_true(isnan(deps_quantile(0.5, le, none, 4)));
    assert_true(isnan(deps_quantile(0.5, le, cum, 1)));
    assert_true(deps_quantile(-1, le, cum, 4) == -INFINITY);
    assert_true(deps_quantile(2, le, cum, 4) == INFINITY);
}

UNIT_TESTS(cmocka_unit_test(test_increase_window), cmocka_unit_test(test_increase_reset_and_nan),
           cmocka_unit_test(test_quantile))
