/*
 * test_spanblock_text.c - spanblock_value_text for integers (formatted by
 * hand for speed): the same text as printf's %lld for every edge value,
 * truncated the way snprintf truncates, and one attribute round trip
 * through a block so search by an integer tag still matches.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "store/spans/spanblock.h"
#include "telltale.h"
#include "unit.h"

static void test_value_text_int_matches_printf(void **state)
{
    (void)state;
    static const int64_t vals[] = { 0,         1,         -1,  9,     10,
                                    -10,       200,       503, 8080,  1234567890123,
                                    INT64_MAX, INT64_MIN, -9,  100000 };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        struct rec_value v = { .type = TT_VAL_INT, .u.i = vals[i] };
        char got[64], want[64];
        size_t n = spanblock_value_text(&v, got, sizeof got);
        int wn = snprintf(want, sizeof want, "%" PRId64, vals[i]);
        assert_string_equal(got, want);
        assert_int_equal(n, (size_t)wn);
        /* truncated: the first outlen - 1 characters, NUL-terminated */
        char small[4];
        n = spanblock_value_text(&v, small, sizeof small);
        snprintf(want, sizeof small, "%" PRId64, vals[i]);
        assert_string_equal(small, want);
        assert_int_equal(n, strlen(want));
    }
    struct rec_value v = { .type = TT_VAL_INT, .u.i = 42 };
    char one[1] = { 'x' };
    assert_int_equal(spanblock_value_text(&v, one, 0), 0);
    assert_int_equal(one[0], 'x');
    assert_int_equal(spanblock_value_text(&v, one, 1), 0);
    assert_int_equal(one[0], '\0');
}

UNIT_TESTS(cmocka_unit_test(test_value_text_int_matches_printf))
