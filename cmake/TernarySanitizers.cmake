# SPDX-License-Identifier: Apache-2.0
# TERNARY_SANITIZE: "", address, undefined, "address,undefined" or thread.
#
# The flags go on ternary::ternary as PUBLIC usage requirements: everything linking an
# instrumented library must link the sanitizer runtime, and TSan needs every TU instrumented.
# This is a developer option, so the propagation (into the export too) is intended.
include_guard(GLOBAL)

if(NOT TERNARY_SANITIZE MATCHES "^(|address|undefined|address,undefined|undefined,address|thread)$")
  message(FATAL_ERROR "ternary: TERNARY_SANITIZE='${TERNARY_SANITIZE}' is not one of: '', "
                      "address, undefined, 'address,undefined', thread")
endif()
if(TERNARY_SANITIZE AND MSVC AND NOT TERNARY_SANITIZE STREQUAL "address")
  message(FATAL_ERROR "ternary: MSVC supports only TERNARY_SANITIZE=address")
endif()

function(ternary_target_sanitizers target)
  if(NOT TERNARY_SANITIZE)
    return()
  endif()
  if(MSVC)
    target_compile_options(${target} PUBLIC /fsanitize=address)
    return()
  endif()
  set(_flags -fsanitize=${TERNARY_SANITIZE} -fno-omit-frame-pointer)
  if(TERNARY_SANITIZE MATCHES "undefined")
    list(APPEND _flags -fno-sanitize-recover=all)  # a UB report fails the test
  endif()
  target_compile_options(${target} PUBLIC "$<$<COMPILE_LANGUAGE:CXX>:${_flags}>")
  target_link_options(${target} PUBLIC -fsanitize=${TERNARY_SANITIZE})
endfunction()
