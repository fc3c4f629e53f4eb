/*
 * test_tvpair.c - growing parallel time/value arrays: doubling from the
 * first size, no change when there is room, the contents kept.
 */
#include <stdlib.h>
#include "unit.h"
#include "telltale.h"
#include "core/tvpair.h"

static void test_tvpair_grow(void **state)
{
    (void)state;
    int64_t *ts = NULL;
    double *vs = NULL;
    size_t cap = 0;
    assert_int_equal(tvpair_grow(&ts, &vs, &cap, 0, 16), 0);
    assert_int_equal(cap, 0);
    assert_null(ts);
    assert_int_equal(tvpair_grow(&ts, &vs, &cap, 5, 16), 0);
    assert_int_equal(cap, 16);
    for (int i = 0; i < 16; i++) {
        ts[i] = i * 1000;
        vs[i] = i * 0.5;
    }
    int64_t *before = ts;
    assert_int_equal(tvpair_grow(&ts, &vs, &cap, 16, 16), 0);
    assert_ptr_equal(ts, before); /* room enough: untouched */
    assert_int_equal(tvpair_grow(&ts, &vs, &cap, 100, 16), 0);
    assert_int_equal(cap, 128);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(ts[i], i * 1000);
        assert_true(vs[i] == i * 0.5);
    }
    assert_int_equal(tvpair_grow(&ts, &vs, &cap, SIZE_MAX / 2, 16), TT_ENOMEM);
    assert_int_equal(cap, 128);
    free(ts);
    free(vs);
    int64_t *t2 = NULL;
    double *v2 = NULL;
    size_t c2 = 0;
    assert_int_equal(tvpair_grow(&t2, &v2, &c2, 3, 0), 0); /* first 0 counts as 1 */
    assert_int_equal(c2, 4);
    free(t2);
    free(v2);
}

UNIT_TESTS(cmocka_unit_test(test_tvpair_grow))
