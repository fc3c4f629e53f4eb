/* test_loglin.c - log-linear buckets: monotonic indexes, bounds that contain
 * the value, the relative error bound of the midpoint, symmetry, extremes. */
#include <float.h>
#include <math.h>
#include <string.h>
#include "unit.h"
#include "core/loglin.h"

/* A small deterministic generator (splitmix64) so failures reproduce. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A random value spread log-uniformly over [2^-30, 2^60). */
static double rand_in_range(uint64_t *s)
{
    double u = (double)(next_rand(s) >> 11) / 9007199254740992.0; /* [0,1) */
    double e = LOGLIN_MIN_EXP + u * (LOGLIN_MAX_EXP - LOGLIN_MIN_EXP);
    double v = exp2(e);
    return v < LOGLIN_MIN ? LOGLIN_MIN : v >= LOGLIN_MAX ? nextafter(LOGLIN_MAX, 0) : v;
}

static void test_loglin_known_indexes(void **state)
{
    (void)state;
    /* p = 1: [1, 1.5) and [1.5, 2) are the two halves of the power of two 2^0,
     * which is the 31st one above 2^-30. */
    assert_int_equal(loglin_index(1.0, 1), 30 * 2 + 1);
    assert_int_equal(loglin_index(1.49, 1), 30 * 2 + 1);
    assert_int_equal(loglin_index(1.5, 1), 30 * 2 + 2);
    assert_int_equal(loglin_index(2.0, 1), 31 * 2 + 1);
    assert_int_equal(loglin_index(LOGLIN_MIN, 4), 1);
    assert_int_equal(loglin_index(nextafter(LOGLIN_MAX, 0), 4), LOGLIN_MAX_INDEX(4));
    assert_true(loglin_lower(1, 4) == LOGLIN_MIN);
    assert_true(loglin_upper(LOGLIN_MAX_INDEX(4), 4) == LOGLIN_MAX);
    /* p = 4, v = 1.1: 1.0625 <= 1.1 < 1.125 */
    int32_t i = loglin_index(1.1, 4);
    assert_true(loglin_lower(i, 4) == 1.0625);
    assert_true(loglin_upper(i, 4) == 1.125);
    assert_true(loglin_mid(i, 4) == 1.09375);
    /* The documented range covers 1 ns in seconds and 1e18 bytes. */
    assert_int_not_equal(loglin_index(1e-9, 4), 0);
    assert_true(loglin_upper(loglin_index(1e18, 4), 4) > 1e18);
    assert_true(loglin_index(1e18, 4) < LOGLIN_MAX_INDEX(4) + 1);
}

static void test_loglin_monotonic_sweep(void **state)
{
    (void)state;
    for (int p = LOGLIN_P_MIN; p <= LOGLIN_P_MAX; p++) {
        int32_t prev = loglin_index(0.0, p);
        assert_int_equal(prev, 0);
        int32_t seen_max = 0;
        /* Geometric sweep past both ends with a ratio finer than a bucket. */
        for (double v = 1e-12; v < 1e20; v *= 1.0 + 1.0 / 512) {
            int32_t i = loglin_index(v, p);
            assert_true(i >= prev);
            assert_true(i - prev <= 1); /* no bucket is skipped */
            assert_int_equal(loglin_index(-v, p), -i);
            prev = i;
            seen_max = i;
        }
        assert_int_equal(seen_max, LOGLIN_MAX_INDEX(p));
    }
}

static void test_loglin_error_bound_random(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (int p = LOGLIN_P_MIN; p <= LOGLIN_P_MAX; p++) {
        double bound = ldexp(1.0, -(p + 1));
        double worst = 0;
        for (int n = 0; n < 200000; n++) {
            double v = rand_in_range(&seed);
            if (n & 1)
                v = -v;
            int32_t i = loglin_index(v, p);
            assert_int_not_equal(i, 0);
            assert_true(i >= -LOGLIN_MAX_INDEX(p) && i <= LOGLIN_MAX_INDEX(p));
            double lo = loglin_lower(i, p), hi = loglin_upper(i, p);
            assert_true(fabs(lo) <= fabs(v));
            assert_true(fabs(v) < fabs(hi));
            double err = fabs(loglin_mid(i, p) - v) / fabs(v);
            if (err > worst)
                worst = err;
            if (!(err <= bound))
                fail_msg("p=%d v=%.17g mid=%.17g err=%g > %g", p, v, loglin_mid(i, p), err, bound);
        }
        /* The bound is tight: random values get close to it. */
        assert_true(worst > bound * 0.9);
    }
}

static void test_loglin_bucket_edges(void **state)
{
    (void)state;
    /* Every bucket's lower bound maps to itself and the value just below it to
     * the previous bucket: the bounds and the index agree exactly. */
    for (int p = LOGLIN_P_MIN; p <= LOGLIN_P_MAX; p++) {
        for (int32_t i = 1; i <= LOGLIN_MAX_INDEX(p); i++) {
            double lo = loglin_lower(i, p);
            assert_int_equal(loglin_index(lo, p), i);
            assert_int_equal(loglin_index(nextafter(lo, 0), p), i - 1);
            if (i < LOGLIN_MAX_INDEX(p))
                assert_true(loglin_upper(i, p) == loglin_lower(i + 1, p));
            assert_true(loglin_lower(-i, p) == -lo);
            assert_true(loglin_mid(-i, p) == -loglin_mid(i, p));
        }
    }
}

static void test_loglin_extremes(void **state)
{
    (void)state;
    for (int p = LOGLIN_P_MIN; p <= LOGLIN_P_MAX; p++) {
        int32_t max = LOGLIN_MAX_INDEX(p);
        assert_int_equal(loglin_index(0.0, p), 0);
        assert_int_equal(loglin_index(-0.0, p), 0);
        assert_int_equal(loglin_index(NAN, p), 0);
        assert_int_equal(loglin_index(-NAN, p), 0);
        assert_int_equal(loglin_index(DBL_TRUE_MIN, p), 0);
        assert_int_equal(loglin_index(DBL_MIN, p), 0);
        assert_int_equal(loglin_index(-DBL_TRUE_MIN, p), 0);
        assert_int_equal(loglin_index(1e-12, p), 0);
        assert_int_equal(loglin_index(nextafter(LOGLIN_MIN, 0), p), 0);
        assert_int_equal(loglin_index(1e20, p), max);
        assert_int_equal(loglin_index(-1e20, p), -max);
        assert_int_equal(loglin_index(INFINITY, p), max);
        assert_int_equal(loglin_index(-INFINITY, p), -max);
        assert_int_equal(loglin_index(DBL_MAX, p), max);
        assert_true(loglin_lower(0, p) == 0.0);
        assert_true(loglin_upper(0, p) == LOGLIN_MIN);
        assert_true(loglin_mid(0, p) == 0.0);
        /* Out-of-range indexes (from a corrupt input) clamp to the ends. */
        assert_true(loglin_lower(INT32_MAX, p) == loglin_lower(max, p));
        assert_true(loglin_upper(INT32_MIN, p) == -LOGLIN_MAX);
        assert_true(loglin_mid(INT32_MIN, p) == loglin_mid(-max, p));
    }
    /* An invalid p is treated as the nearest valid one. */
    assert_true(loglin_lower(5, 0) == loglin_lower(5, 1));
    assert_true(loglin_upper(5, 99) == loglin_upper(5, 7));
}

UNIT_TESTS(cmocka_unit_test(test_loglin_known_indexes),
           cmocka_unit_test(test_loglin_monotonic_sweep),
           cmocka_unit_test(test_loglin_error_bound_random),
           cmocka_unit_test(test_loglin_bucket_edges), cmocka_unit_test(test_loglin_extremes))
