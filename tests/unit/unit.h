/*
 * unit.h - what every unit test includes: cmocka (whose asserts print both
 * sides) and the UNIT_TESTS registration macro used by unit_main.c.
 *
 *   static void test_foo(void **state) { assert_int_equal(1, 1); }
 *   UNIT_TESTS(cmocka_unit_test(test_foo), cmocka_unit_test(test_bar))
 *
 * cmake/Tests.cmake finds every cmocka_unit_test(NAME) and registers NAME as
 * its own CTest test.
 */
#ifndef TT_UNIT_H
#define TT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

extern const struct CMUnitTest unit_tests[];
extern const size_t unit_tests_count;

#define UNIT_TESTS(...)                                     \
    const struct CMUnitTest unit_tests[] = { __VA_ARGS__ }; \
    const size_t unit_tests_count = sizeof(unit_tests) / sizeof(unit_tests[0]);

/* assert_str_n_equal: compare a (pointer, length) string with a C string. */
#define assert_strn_equal(p, n, s)                                            \
    do {                                                                      \
        char tt_buf_[4096];                                                   \
        size_t tt_n_ = (n) < sizeof(tt_buf_) - 1 ? (n) : sizeof(tt_buf_) - 1; \
        memcpy(tt_buf_, (p), tt_n_);                                          \
        tt_buf_[tt_n_] = 0;                                                   \
        assert_string_equal(tt_buf_, (s));                                    \
    } while (0)

#endif
