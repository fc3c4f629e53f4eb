/* test_api_spans.c - the span analytics API's time parameters: RFC 3339,
 * Unix seconds (with a fraction) and Unix milliseconds, to nanoseconds;
 * anything else refused. (The routes are exercised end to end by
 * tests/integration/spans_stats.sh.) */
#include <stdint.h>
#include "unit.h"
#include "server/api_spans.h"
#include "telltale.h"

static void test_api_spans_parse_time(void **state)
{
    (void)state;
    int64_t ns = 0;
    assert_int_equal(api_spans_parse_time("1700000000", &ns), 0);
    assert_true(ns == 1700000000ll * 1000000000ll);
    assert_int_equal(api_spans_parse_time("1700000000.25", &ns), 0);
    assert_true(ns == 1700000000250ll * 1000000ll);
    assert_int_equal(api_spans_parse_time("1700000000250", &ns), 0); /* 13 digits: ms */
    assert_true(ns == 1700000000250ll * 1000000ll);
    assert_int_equal(api_spans_parse_time("2023-11-14T22:13:20Z", &ns), 0);
    assert_true(ns == 1700000000ll * 1000000000ll);
    assert_int_equal(api_spans_parse_time("2023-11-14T23:13:20.5+01:00", &ns), 0);
    assert_true(ns == 1700000000500ll * 1000000ll);
    assert_int_equal(api_spans_parse_time("0", &ns), 0);
    assert_true(ns == 0);
    const char *bad[] = {
        "",     "yesterday", "12:00", "1700000000x", "2023-13-01T00:00:00Z", "99999999999999999999",
        "1e300"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (api_spans_parse_time(bad[i], &ns) != TT_ESYNTAX)
            fail_msg("'%s' accepted", bad[i]);
}

UNIT_TESTS(cmocka_unit_test(test_api_spans_parse_time))
