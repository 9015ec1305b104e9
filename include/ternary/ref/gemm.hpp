// SPDX-License-Identifier: Apache-2.0
/// \file
/// Scalar reference kernels: the oracle every other kernel is tested against. Obviously
/// correct rather than fast: one trit at a time through the format decoders.
///
/// Y[t, n] for rows n in [row_begin, row_end) and tokens t in [0, tokens), y at y + t * ldy.
#pragma once

#include <cstdint>

#include "ternary/matrix_view.hpp"

namespace ternary {
namespace ref {

/// Columns [begin, end) of scale group g of a row (the whole row for per_row / per_tensor).
inline void group_range(const matrix_view& w, int64_t g, int64_t* begin, int64_t* end) {
  if (w.granularity == scale_granularity::per_group) {
    *begin = g * w.group_size;
    *end = (g + 1) * w.group_size < w.cols ? (g + 1) * w.group_size : w.cols;
  } else {
    *begin = 0;
    *end = w.cols;
  }
}

/// Exact int32 sum over columns [begin, end) of t * x for plane p, row `row`.
inline int32_t dot_int8(const matrix_view& w, int p, int64_t row, int64_t begin, int64_t end,
                        const int8_t* x) {
  int32_t acc = 0;
  for (int64_t k = begin; k < end; ++k) acc += trit_at(w, p, row, k) * static_cast<int32_t>(x[k]);
  return acc;
}

/// Int8 activations: x row t at x + t * ldx with per-token scale s[t]. The fp32 epilogue here is
/// the contract every backend reproduces bit for bit (see gemm.hpp).
TERNARY_NO_FP_CONTRACT inline void gemm_int8(const matrix_view& w, const int8_t* x, const float* s,
                                             int64_t tokens, int64_t ldx, float* y, int64_t ldy,
                                             int64_t row_begin, int64_t row_end) {
  TERNARY_FP_CONTRACT_OFF
  for (int64_t t = 0; t < tokens; ++t) {
    const int8_t* xt = x + t * ldx;
    for (int64_t n = row_begin; n < row_end; ++n) {
      float acc = 0.0f;
      for (int p = 0; p < w.planes; ++p) {
        for (int64_t g = 0; g < w.groups_per_row; ++g) {
          int64_t b, e;
          group_range(w, g, &b, &e);
          const int32_t sum = dot_int8(w, p, n, b, e, xt);
          acc += static_cast<float>(sum) * scale_at(w, p, n, g);
        }
      }
      float out = acc / s[t];
      if (w.bias) out += w.bias[n];
      y[t * ldy + n] = out;
    }
  }
}

/// Float activations, accumulated in double (the most accurate answer; fast kernels are compared
/// with a tolerance).
inline void gemm_f32(const matrix_view& w, const float* x, int64_t tokens, int64_t ldx, float* y,
                     int64_t ldy, int64_t row_begin, int64_t row_end) {
  for (int64_t t = 0; t < tokens; ++t) {
    const float* xt = x + t * ldx;
    for (int64_t n = row_begin; n < row_end; ++n) {
      double acc = 0.0;
      for (int p = 0; p < w.planes; ++p) {
        for (int64_t g = 0; g < w.groups_per_row; ++g) {
          int64_t b, e;
          group_range(w, g, &b, &e);
          double sum = 0.0;
          for (int64_t k = b; k < e; ++k) sum += trit_at(w, p, n, k) * static_cast<double>(xt[k]);
          acc += sum * static_cast<double>(scale_at(w, p, n, g));
        }
      }
      if (w.bias) acc += static_cast<double>(w.bias[n]);
      y[t * ldy + n] = static_cast<float>(acc);
    }
  }
}

}  // namespace ref
}  // namespace ternary
