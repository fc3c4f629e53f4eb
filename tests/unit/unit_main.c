/*
 * unit_main.c - the runner every unit test binary shares. A test file defines
 * `const struct CMUnitTest unit_tests[]` and `const size_t unit_tests_count`
 * (use the UNIT_TESTS macro of unit.h); `test_x NAME` runs the one test NAME
 * (how CTest runs each test in its own process), `test_x` runs them all.
 */
#include "unit.h"

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return _cmocka_run_group_tests(argv[0], unit_tests, unit_tests_count, NULL, NULL);
}
