// SPDX-License-Identifier: Apache-2.0
/// \file
/// Activations: fp32 tokens, or int8 tokens quantized per token (BitNet b1.58 convention):
///
///     s = 127 / max(max_k |x_k|, 1e-5)      (fp32 arithmetic)
///     x_q = clamp(round_half_even(x * s), -128, 127)
///     y = (sum_k t_k * x_q,k) * alpha / s
///
/// The stored per-token scale is s (the multiplier), so user-supplied int8 activations follow
/// the same convention: x ~= x_q / s.
#pragma once

#include <cstdint>

#include "ternary/config.hpp"
#include "ternary/status.hpp"

namespace ternary {

/// Floor on max|x| before taking 127 / max|x|, so an all-zero token gets a finite scale.
constexpr float act_absmax_floor = 1e-5f;

enum class act_type : uint32_t {
  f32 = 1,   ///< fp32 activations used as they are (no activation quantization)
  int8 = 2,  ///< int8 activations with one fp32 scale s per token
};

/// A non-owning view of a batch of activations: `tokens` rows of `cols` values, row t at
/// `data + t * ld` (elements). For int8, `scales[t]` is the token's s.
struct activations {
  act_type type = act_type::f32;
  int64_t tokens = 0;
  int64_t cols = 0;
  int64_t ld = 0;
  const void* data = nullptr;
  const float* scales = nullptr;

  static activations f32(const float* x, int64_t tokens, int64_t cols, int64_t ld) noexcept {
    activations a;
    a.type = act_type::f32;
    a.tokens = tokens;
    a.cols = cols;
    a.ld = ld;
    a.data = x;
    return a;
  }
  static activations int8(const int8_t* x, const float* scales, int64_t tokens, int64_t cols,
                          int64_t ld) noexcept {
    activations a;
    a.type = act_type::int8;
    a.tokens = tokens;
    a.cols = cols;
    a.ld = ld;
    a.data = x;
    a.scales = scales;
    return a;
  }
};

/// Quantizes `tokens` rows of `cols` fp32 values (row t at x + t*ldx) to int8 rows at
/// xq + t*ldq and per-token scales s. NaN or infinite inputs are rejected with the token and
/// column named. Bit-identical to ref::quantize_row on every ISA.
TERNARY_API status quantize_activations(const float* x, int64_t tokens, int64_t cols, int64_t ldx,
                                        int8_t* xq, int64_t ldq, float* scales) noexcept;

}  // namespace ternary
