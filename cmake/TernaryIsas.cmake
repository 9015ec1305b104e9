# SPDX-License-Identifier: Apache-2.0
# CPU instruction sets compiled into ternary::ternary. Each ISA is one translation unit,
# src/cpu/arch/<isa>.cpp, compiled with that ISA's flags through a source-file property, so the
# flags reach no other TU (the dispatch code stays at baseline) and never reach consumers.
#
# Sets:
#   TERNARY_CPU_ISAS         cache list, validated; "scalar" is always compiled
#   TERNARY_ISA_DEFINITIONS  TERNARY_HAVE_ISA_<UPPER>=1 for each compiled ISA
# Defines:
#   ternary_isa_add_sources(<target>)

include_guard(GLOBAL)
include(CheckCXXSourceCompiles)
include(CMakePushCheckState)

# Host-architecture family of the target platform.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|x64)$" AND CMAKE_SIZEOF_VOID_P EQUAL 8)
  set(_ternary_arch_family x86_64)
  set(_ternary_default_isas "scalar;avx2;avx512")
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(_ternary_arch_family aarch64)
  set(_ternary_default_isas "scalar;neon")
else()
  set(_ternary_arch_family other)
  set(_ternary_default_isas "scalar")
endif()

set(TERNARY_CPU_ISAS "${_ternary_default_isas}" CACHE STRING
    "CPU ISAs to compile kernels for (scalar, avx2, avx512, neon)")

# Per-ISA flags (GCC/Clang spelling; MSVC has coarser /arch switches).
if(MSVC)
  set(_ternary_flags_avx2 /arch:AVX2)
  set(_ternary_flags_avx512 /arch:AVX512)
  set(_ternary_flags_neon "")
else()
  set(_ternary_flags_avx2 -mavx2 -mfma -mf16c -mbmi -mbmi2)
  set(_ternary_flags_avx512 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512cd -mavx512vnni
                            -mavx512vbmi ${_ternary_flags_avx2})
  set(_ternary_flags_neon -march=armv8.2-a+dotprod)
endif()
set(_ternary_family_avx2 x86_64)
set(_ternary_family_avx512 x86_64)
set(_ternary_family_neon aarch64)

# One intrinsic per ISA that needs every flag above, to reject a compiler too old for the set.
set(_ternary_probe_avx2 [[
#include <immintrin.h>
int main() {
  __m256i a = _mm256_set1_epi8(1);
  __m256 h = _mm256_cvtph_ps(_mm_set1_epi16(0));
  __m256 f = _mm256_fmadd_ps(_mm256_set1_ps(1.f), _mm256_set1_ps(2.f), h);
  int bits = (int)_bzhi_u32(7u, 2u) + (int)_blsr_u32(6u);
  return _mm256_extract_epi32(_mm256_maddubs_epi16(a, a), 0) + (int)_mm256_cvtss_f32(f) + bits;
}]])
set(_ternary_probe_avx512 [[
#include <immintrin.h>
int main() {
  __m512i a = _mm512_set1_epi8(1);
  __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), a, a);
  __m512i p = _mm512_permutexvar_epi8(a, a);
  __m256i b = _mm256_set1_epi8(1);
  __m256i v = _mm256_dpbusd_epi32(_mm256_setzero_si256(), b, b);
  int m = (int)_mm512_cmpeq_epi8_mask(a, a);
  return _mm512_reduce_add_epi32(_mm512_add_epi32(d, p)) + _mm256_extract_epi32(v, 0) + m;
}]])
set(_ternary_probe_neon [[
#include <arm_neon.h>
int main() {
  int8x16_t a = vdupq_n_s8(1);
  return vaddvq_s32(vdotq_s32(vdupq_n_s32(0), a, a));
}]])

# Validate the list: known names, matching this architecture, accepted by the compiler.
set(_ternary_isas scalar)
foreach(_isa IN LISTS TERNARY_CPU_ISAS)
  if(_isa STREQUAL "scalar")
    continue()
  endif()
  if(NOT DEFINED _ternary_family_${_isa})
    message(FATAL_ERROR "ternary: unknown ISA '${_isa}' in TERNARY_CPU_ISAS "
                        "(known: scalar, avx2, avx512, neon)")
  endif()
  if(NOT _ternary_family_${_isa} STREQUAL _ternary_arch_family)
    message(FATAL_ERROR "ternary: ISA '${_isa}' needs a ${_ternary_family_${_isa}} target, "
                        "this one is ${CMAKE_SYSTEM_PROCESSOR}")
  endif()
  cmake_push_check_state(RESET)
  list(JOIN _ternary_flags_${_isa} " " CMAKE_REQUIRED_FLAGS)
  set(CMAKE_REQUIRED_QUIET ON)
  check_cxx_source_compiles("${_ternary_probe_${_isa}}" TERNARY_COMPILER_SUPPORTS_${_isa})
  cmake_pop_check_state()
  if(NOT TERNARY_COMPILER_SUPPORTS_${_isa})
    message(FATAL_ERROR "ternary: the compiler cannot build ISA '${_isa}' with flags "
                        "'${_ternary_flags_${_isa}}'; remove it from TERNARY_CPU_ISAS")
  endif()
  list(APPEND _ternary_isas ${_isa})
endforeach()
list(REMOVE_DUPLICATES _ternary_isas)
set(TERNARY_CPU_ISAS "${_ternary_isas}")  # normal variable: the validated list, scalar first

set(TERNARY_ISA_DEFINITIONS)
foreach(_isa IN LISTS TERNARY_CPU_ISAS)
  string(TOUPPER "${_isa}" _isa_upper)
  list(APPEND TERNARY_ISA_DEFINITIONS TERNARY_HAVE_ISA_${_isa_upper}=1)
endforeach()

# Adds src/cpu/arch/<isa>.cpp for each non-scalar ISA with its flags on that file only. Must be
# called from the directory that defines <target> (source-file properties are directory-scoped).
function(ternary_isa_add_sources target)
  foreach(_isa IN LISTS TERNARY_CPU_ISAS)
    if(_isa STREQUAL "scalar")
      continue()  # listed with the baseline sources
    endif()
    set(_src "${PROJECT_SOURCE_DIR}/src/cpu/arch/${_isa}.cpp")
    target_sources(${target} PRIVATE "${_src}")
    set_source_files_properties("${_src}" PROPERTIES COMPILE_OPTIONS "${_ternary_flags_${_isa}}")
  endforeach()
endfunction()
