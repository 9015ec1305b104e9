# SPDX-License-Identifier: Apache-2.0
# Warning flags for targets of this project (PRIVATE: never propagated to consumers).
# ternary_target_warnings(<target>) is also meant for tests, benchmarks and examples.
include_guard(GLOBAL)

function(ternary_target_warnings target)
  if(MSVC)
    set(_flags /W4 /permissive-)
    if(TERNARY_WERROR)
      list(APPEND _flags /WX)
    endif()
  else()
    set(_flags -Wall -Wextra -Wpedantic)
    if(TERNARY_WERROR)
      list(APPEND _flags -Werror)
    endif()
  endif()
  # CXX only: nvcc would reject these host flags.
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${_flags}>")
endfunction()
