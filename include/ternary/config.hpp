// SPDX-License-Identifier: Apache-2.0
// Compiler portability macros shared by every public header. Valid C++17, no dependencies, so
// nvcc and host compilers read the same definitions.
#pragma once

#include "ternary/version.hpp"

#if defined(__CUDACC__) || defined(__HIPCC__)
#define TERNARY_HOST_DEVICE __host__ __device__ inline
#else
#define TERNARY_HOST_DEVICE inline
#endif

// Symbol visibility for the compiled part (shared builds define TERNARY_BUILDING_SHARED while
// compiling the library and TERNARY_SHARED when consuming it; CMake sets both).
#if defined(_WIN32) && defined(TERNARY_SHARED)
#if defined(TERNARY_BUILDING_SHARED)
#define TERNARY_API __declspec(dllexport)
#else
#define TERNARY_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && defined(TERNARY_SHARED)
#define TERNARY_API __attribute__((visibility("default")))
#else
#define TERNARY_API
#endif

// The int8 epilogue is specified operation by operation (gemm.hpp) so every backend reproduces it
// bit for bit; a fused multiply-add would round differently. The library builds with
// -ffp-contract=off; these keep the header-only reference exact in consumers' builds too
// (GCC contracts across statements under -ffp-contract=fast, its default in GNU modes; clang
// contracts within an expression by default).
#if defined(__clang__)
#define TERNARY_FP_CONTRACT_OFF _Pragma("clang fp contract(off)")
#define TERNARY_NO_FP_CONTRACT
#elif defined(__GNUC__) && !defined(__CUDACC__)
#define TERNARY_FP_CONTRACT_OFF
#define TERNARY_NO_FP_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define TERNARY_FP_CONTRACT_OFF
#define TERNARY_NO_FP_CONTRACT
#endif
