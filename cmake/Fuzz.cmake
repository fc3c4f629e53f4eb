# libFuzzer targets: tests/fuzz/fuzz_<name>.c each define LLVMFuzzerTestOneInput.
# Configure with CC=clang -DTT_FUZZ=ON; run with tests/fuzz/run.sh.
file(GLOB TT_FUZZ_SRC CONFIGURE_DEPENDS tests/fuzz/fuzz_*.c)
foreach(src ${TT_FUZZ_SRC})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE src lib)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  if(name MATCHES "^fuzz_lib_")
    target_link_libraries(${name} PRIVATE telltale_internal m)
  else()
    target_link_libraries(${name} PRIVATE ttserver ttagent m)
  endif()
endforeach()
