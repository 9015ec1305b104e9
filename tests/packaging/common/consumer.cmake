# SPDX-License-Identifier: Apache-2.0
# Shared by the packaging consumers (included after ternary's targets exist).

set(TERNARY_PACKAGING_COMMON_DIR "${CMAKE_CURRENT_LIST_DIR}")

# ternary_consumer_check_isolation(): what a subproject build of ternary must not do.
function(ternary_consumer_check_isolation)
  foreach(_t ternary::ternary ternary::headers)
    if(NOT TARGET ${_t})
      message(FATAL_ERROR "target ${_t} missing")
    endif()
  endforeach()
  # Extras default OFF for a subproject: no tests, CLI, benchmarks, examples or install rules.
  foreach(_opt TERNARY_BUILD_TESTS TERNARY_BUILD_CLI TERNARY_BUILD_BENCHMARKS
               TERNARY_BUILD_EXAMPLES)
    if(${_opt})
      message(FATAL_ERROR "${_opt} is ON in a subproject build")
    endif()
  endforeach()
  if(TARGET ternary_cli)
    message(FATAL_ERROR "the CLI was built in a subproject build")
  endif()
  get_property(_subdirs DIRECTORY "${TERNARY_SOURCE_DIR}" PROPERTY SUBDIRECTORIES)
  foreach(_dir IN LISTS _subdirs)
    if(_dir MATCHES "/(tests|bench|examples)$")
      message(FATAL_ERROR "ternary added ${_dir} in a subproject build")
    endif()
  endforeach()
  # Global state: the subproject must not have set the build type or flags.
  if(NOT CMAKE_BUILD_TYPE STREQUAL TERNARY_CONSUMER_BUILD_TYPE)
    message(FATAL_ERROR "CMAKE_BUILD_TYPE changed to '${CMAKE_BUILD_TYPE}' by ternary")
  endif()
  # ISA flags belong to ternary's kernel TUs only.
  foreach(_t ternary ternary_headers)
    get_target_property(_opts ${_t} INTERFACE_COMPILE_OPTIONS)
    if(_opts MATCHES "-m(avx|fma|f16c|bmi|arch)|/arch:")
      message(FATAL_ERROR "${_t} exports ISA flags: ${_opts}")
    endif()
  endforeach()
endfunction()

# ternary_consumer_executable(<name> <link target>): the gemv check from common/main.cpp, run by
# ctest. With baseline compiler flags it also fails to compile if ISA flags leaked into it.
function(ternary_consumer_executable name lib)
  add_executable(${name} "${TERNARY_PACKAGING_COMMON_DIR}/main.cpp")
  target_link_libraries(${name} PRIVATE ${lib})
  # The bit-exact comparison runs the inline ref::gemm_int8 in this TU: no FMA contraction
  # (matters where FMA is baseline, e.g. AArch64).
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang|IntelLLVM")
    target_compile_options(${name} PRIVATE -ffp-contract=off)
  endif()
  if(NOT "${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_RELEASE}" MATCHES "-m|/arch")
    target_compile_definitions(${name} PRIVATE TERNARY_CHECK_BASELINE_FLAGS=1)
  endif()
  add_test(NAME ${name} COMMAND ${name})
endfunction()
