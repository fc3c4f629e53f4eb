# Unit tests: one tests/unit/test_<module>.c per module, cmocka asserts (which print
# both sides). Every test_* name in the file's UNIT_TESTS(...) list becomes its own
# CTest test, run in its own process (`test_<module> NAME`) with a timeout; the
# runner fails on a name it does not have, so the two cannot drift apart.
find_library(CMOCKA_LIB cmocka REQUIRED)
file(GLOB TT_UNIT_TESTS CONFIGURE_DEPENDS tests/unit/test_*.c)
foreach(src ${TT_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} tests/unit/unit_main.c)
  target_include_directories(${name} PRIVATE src lib tests/unit)
  # Fixture trees (tests/fixtures/) are found through the source dir.
  target_compile_definitions(${name} PRIVATE TT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  # Library-side tests (test_lib_*) link the library, the rest every server-side layer.
  if(name STREQUAL "test_lib_torture")
    # Allocation failure injection: the library's calls go through the test's hooks.
    target_link_options(${name} PRIVATE -Wl,--wrap=malloc -Wl,--wrap=calloc
                        -Wl,--wrap=realloc -Wl,--wrap=posix_memalign)
  endif()
  if(name MATCHES "^test_lib_")
    target_link_libraries(${name} PRIVATE telltale_internal ${CMOCKA_LIB} m)
  else()
    target_link_libraries(${name} PRIVATE ttserver ttagent ${CMOCKA_LIB} m)
  endif()
  # Every test_* name inside the file's UNIT_TESTS(...) list is a test.
  file(READ ${src} content)
  string(FIND "${content}" "UNIT_TESTS(" at REVERSE)
  if(at EQUAL -1)
    message(FATAL_ERROR "${src}: no UNIT_TESTS(...) list")
  endif()
  string(SUBSTRING "${content}" ${at} -1 list)
  string(REGEX MATCHALL "[^a-z0-9_]test_[a-z0-9_]+" hits "${list}")
  set(tnames "")
  foreach(hit ${hits})
    string(SUBSTRING "${hit}" 1 -1 tname)
    list(APPEND tnames ${tname})
  endforeach()
  list(REMOVE_DUPLICATES tnames)
  foreach(tname ${tnames})
    add_test(NAME ${name}.${tname} COMMAND ${name} ${tname})
    set_tests_properties(${name}.${tname} PROPERTIES TIMEOUT 60 LABELS unit)
  endforeach()
endforeach()

# Integration tests: tests/integration/*.sh, run from the build dir with the source
# dir as $1; each starts real processes on loopback.
file(GLOB TT_INTEGRATION CONFIGURE_DEPENDS tests/integration/*.sh)
foreach(script ${TT_INTEGRATION})
  get_filename_component(name ${script} NAME_WE)
  add_test(NAME integration.${name} COMMAND bash ${script} ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  # A script with a line "# ctest-label: slow" (mostly waiting) gets that
  # label too: the sanitizer stages of tests/run_all.sh leave those out.
  file(STRINGS ${script} slow_mark REGEX "^# ctest-label: slow$")
  if(slow_mark)
    set_tests_properties(integration.${name} PROPERTIES TIMEOUT 180 LABELS "integration;slow")
  else()
    set_tests_properties(integration.${name} PROPERTIES TIMEOUT 180 LABELS integration)
  endif()
endforeach()

# Fuzz corpora replayed as regression tests through a plain driver (no clang needed).
file(GLOB TT_FUZZ_SRC CONFIGURE_DEPENDS tests/fuzz/fuzz_*.c)
foreach(src ${TT_FUZZ_SRC})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name}_replay ${src} tests/fuzz/replay_main.c)
  target_include_directories(${name}_replay PRIVATE src lib)
  if(name MATCHES "^fuzz_lib_")
    target_link_libraries(${name}_replay PRIVATE telltale_internal m)
  else()
    target_link_libraries(${name}_replay PRIVATE ttserver ttagent m)
  endif()
  add_test(NAME fuzzcorpus.${name} COMMAND ${name}_replay ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
  set_tests_properties(fuzzcorpus.${name} PROPERTIES TIMEOUT 120 LABELS fuzz)
endforeach()

# Test tools the integration tests run (tests/tools/*.c), built next to telltale.
file(GLOB TT_TEST_TOOLS CONFIGURE_DEPENDS tests/tools/*.c)
foreach(src ${TT_TEST_TOOLS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE ttcore)
endforeach()
