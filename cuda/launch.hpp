// SPDX-License-Identifier: Apache-2.0
// Interface between the host side of the CUDA backend (cuda/api.cpp, plain C++) and the kernels
// (cuda/*.cu). No CUDA types: streams travel as void*, errors as the int value of cudaError_t.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternary/format/format.hpp"

namespace ternary {
namespace cuda {
namespace detail {

enum class act_kind : int { int8 = 1, f16 = 2, bf16 = 3 };

/// Everything one GEMV/GEMM launch needs (all pointers are device pointers).
struct gemv_args {
  format fmt = format::bits2;
  const uint8_t* weights[2] = {nullptr, nullptr};  // GPU layout (docs/CUDA.md)
  const float* scales[2] = {nullptr, nullptr};     // fp32
  const float* bias = nullptr;
  int planes = 1;
  int granularity = 2;  // scale_granularity value: 1 per_tensor, 2 per_row, 3 per_group
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t units = 0;           // units per GPU row
  int64_t row_bytes = 0;       // bytes per GPU row
  int64_t group_chunks = 0;    // per_group: G / 64
  int64_t groups_per_row = 1;  // per_group: ceil(K / G)
  int64_t chunks_k = 0;        // ceil(K / 64)

  act_kind act = act_kind::int8;
  const void* x = nullptr;  // staged activations: kernel_tokens rows of x_ld elements, 0-padded
  int64_t x_ld = 0;         // units * unit trits (elements)
  const int32_t* x_sum = nullptr;  // int8: Σ of each 64-element chunk, kernel_tokens x (x_ld/64)
  const float* x_scale = nullptr;  // int8: per-token s
  int tokens = 0;                  // real tokens of this launch (<= kernel token count)
  float* y = nullptr;
  int64_t ldy = 0;
};

/// Token count the kernels are specialised for that covers `tokens` (1, 2, 4, 8 or 16).
inline int kernel_tokens(int64_t tokens) {
  return tokens <= 1 ? 1 : tokens <= 2 ? 2 : tokens <= 4 ? 4 : tokens <= 8 ? 8 : 16;
}

/// Runs the GEMV kernel for a.fmt (cuda/gemv_<format>.cu). Returns a cudaError_t value.
int launch_gemv_bits2(const gemv_args& a, int kernel_tokens, void* stream);
int launch_gemv_base3(const gemv_args& a, int kernel_tokens, void* stream);
int launch_gemv_sherry(const gemv_args& a, int kernel_tokens, void* stream);

/// Copies `tokens` rows of activations (element size 1 or 2) into the zero-padded staging
/// buffer of `kernel_tokens` rows of `x_ld` elements; int8 also writes the chunk sums.
int launch_stage(act_kind kind, const void* x, int64_t tokens, int64_t cols, int64_t ld,
                 int kernel_tokens, void* staged, int64_t x_ld, int32_t* chunk_sums, void* stream);

/// Per-token int8 quantization (layout.hpp: act_scale, quantize_value).
int launch_quantize(const float* x, int64_t tokens, int64_t cols, int64_t ldx, int8_t* xq,
                    int64_t ldq, float* scales, void* stream);

}  // namespace detail
}  // namespace cuda
}  // namespace ternary
