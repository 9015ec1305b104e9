# SPDX-License-Identifier: Apache-2.0
# TERNARY_ENABLE_CUDA: AUTO (build the CUDA backend when a CUDA compiler is found), ON (required)
# or OFF. CPU-only consumers never need the CUDA toolkit. Sets TERNARY_WITH_CUDA and
# TERNARY_CUDA_ARCHITECTURES. Included at file scope: enable_language() cannot run in a function.
include_guard(GLOBAL)

string(TOUPPER "${TERNARY_ENABLE_CUDA}" _ternary_cuda_mode)
if(NOT _ternary_cuda_mode MATCHES "^(AUTO|ON|OFF|TRUE|FALSE|YES|NO|1|0)$")
  message(FATAL_ERROR "ternary: TERNARY_ENABLE_CUDA='${TERNARY_ENABLE_CUDA}': use AUTO, ON or OFF")
endif()

set(TERNARY_WITH_CUDA OFF)
if(NOT _ternary_cuda_mode STREQUAL "AUTO" AND NOT TERNARY_ENABLE_CUDA)
  return()  # OFF
endif()

# Default: real SASS for sm_80 and sm_90 plus sm_90 PTX for newer GPUs, unless the parent chose.
if(DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(TERNARY_CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
else()
  set(TERNARY_CUDA_ARCHITECTURES 80-real 90-real 90-virtual)
  set(CMAKE_CUDA_ARCHITECTURES ${TERNARY_CUDA_ARCHITECTURES})  # this directory scope only
endif()

if(NOT CMAKE_CUDA_COMPILER_LOADED)
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    if(_ternary_cuda_mode STREQUAL "AUTO")
      message(STATUS "ternary: no CUDA compiler found, building without the CUDA backend")
      return()
    endif()
    message(FATAL_ERROR "ternary: TERNARY_ENABLE_CUDA=ON but no CUDA compiler was found "
                        "(set CMAKE_CUDA_COMPILER or put nvcc on PATH)")
  endif()
  enable_language(CUDA)
endif()
find_package(CUDAToolkit REQUIRED)
set(TERNARY_WITH_CUDA ON)
