/* test_err.c - the error table: every code has a distinct name and a message. */
#include <string.h>
#include "unit.h"
#include "telltale.h"

static void test_err_names_and_messages(void **state)
{
    (void)state;
    assert_string_equal(tt_err_name(TT_EINVAL), "TT_EINVAL");
    assert_string_equal(tt_strerror(TT_OK), "success");
    assert_string_equal(tt_strerror(TT_ECLOCK),
                        "remote clock too far ahead (beyond HLC max offset)");
    assert_string_equal(tt_err_name(12345), "TT_EUNKNOWN");
    assert_string_equal(tt_strerror(-9999), "unknown error");
#define CHECK(name, val, msg)                   \
    assert_int_equal(TT_##name, val);           \
    assert_string_equal(tt_strerror(val), msg); \
    assert_string_equal(tt_err_name(val), "TT_" #name);
    TT_ERRNO_MAP(CHECK)
#undef CHECK
}

UNIT_TESTS(cmocka_unit_test(test_err_names_and_messages))
