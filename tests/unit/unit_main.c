/*
 * unit_main.c - the runner every unit test binary shares. A test file defines
 * `const struct CMUnitTest unit_tests[]` and `const size_t unit_tests_count`
 * (use the UNIT_TESTS macro of unit.h); `test_x NAME` runs the one test NAME
 * (how CTest runs each test in its own process), `test_x` runs them all. A
 * NAME that is not in the file is an error, so a registration that drifted
 * from the source fails instead of passing with nothing run.
 */
#include <stdio.h>
#include <string.h>
#include "unit.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        return _cmocka_run_group_tests(argv[0], unit_tests, unit_tests_count, NULL, NULL);
    for (size_t i = 0; i < unit_tests_count; i++) {
        if (strcmp(unit_tests[i].name, argv[1]) == 0)
            return _cmocka_run_group_tests(argv[0], &unit_tests[i], 1, NULL, NULL);
    }
    fprintf(stderr, "%s: no test named %s\n", argv[0], argv[1]);
    return 1;
}
