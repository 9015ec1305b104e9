# SPDX-License-Identifier: Apache-2.0
# Driver of one packaging test (see TernaryPackagingTests.cmake):
#   cmake -DARGS_FILE=<name>.args.cmake -DCONFIG=<config> -P TernaryConsumerTest.cmake
# MODE consumer:   fresh configure + build of CONSUMER_SOURCE, then ctest in it
# MODE install:    cmake --install of the main build tree into PREFIX
# MODE pkg_config: compile, link and run common/main.cpp with `pkg-config --cflags --libs ternary`
cmake_minimum_required(VERSION 3.21)
include("${ARGS_FILE}")
if(NOT CONFIG)
  set(CONFIG Release)
endif()

function(run_step what)
  message(STATUS "[${what}] ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${what}] failed (${rc})")
  endif()
endfunction()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}")
  run_step(install "${CMAKE_COMMAND}" --install "${MAIN_BINARY}" --prefix "${PREFIX}" --config
           "${CONFIG}")
elseif(MODE STREQUAL "pkg_config")
  set(pkg_config "${CONFIGURE_ARGS}")
  set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${PREFIX_LIBDIR}/pkgconfig")
  set(ENV{PKG_CONFIG_LIBDIR} "${PREFIX}/${PREFIX_LIBDIR}/pkgconfig")  # only this prefix
  execute_process(COMMAND "${pkg_config}" --cflags --libs ternary RESULT_VARIABLE rc
                  OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs ternary failed (${rc})")
  endif()
  message(STATUS "pkg-config --cflags --libs ternary: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  file(REMOVE_RECURSE "${CONSUMER_BINARY}")
  file(MAKE_DIRECTORY "${CONSUMER_BINARY}")
  set(exe "${CONSUMER_BINARY}/pkg_config_consumer")
  # -ffp-contract=off: the inline reference it compares with bit for bit is compiled here.
  run_step(compile "${CXX_COMPILER}" -std=c++17 -ffp-contract=off "${PKG_CONFIG_MAIN}" -o "${exe}"
           ${flags})
  set(ENV{LD_LIBRARY_PATH} "${PREFIX}/${PREFIX_LIBDIR}:$ENV{LD_LIBRARY_PATH}")  # shared builds
  run_step(run "${exe}")
elseif(MODE STREQUAL "consumer")
  file(REMOVE_RECURSE "${CONSUMER_BINARY}")
  run_step(configure "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE}" -B "${CONSUMER_BINARY}"
           ${CONFIGURE_ARGS})
  run_step(build "${CMAKE_COMMAND}" --build "${CONSUMER_BINARY}" --config "${CONFIG}")
  run_step(test "${CMAKE_CTEST_COMMAND}" --test-dir "${CONSUMER_BINARY}" -C "${CONFIG}"
           --output-on-failure --no-tests=error)
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
