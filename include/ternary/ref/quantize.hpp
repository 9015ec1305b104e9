// SPDX-License-Identifier: Apache-2.0
/// \file
/// Scalar reference of per-token activation quantization (the oracle; see activations.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "ternary/activations.hpp"

namespace ternary {
namespace ref {

/// Quantizes one token of k finite values; returns its scale s = 127 / max(max|x|, 1e-5).
/// Rounding is to nearest, ties to even (std::nearbyint under the default rounding mode).
inline float quantize_row(const float* x, int64_t k, int8_t* q) {
  float amax = 0.0f;
  for (int64_t i = 0; i < k; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  const float s = 127.0f / std::fmax(amax, act_absmax_floor);
  for (int64_t i = 0; i < k; ++i) {
    float v = std::nearbyint(x[i] * s);
    v = std::fmin(std::fmax(v, -128.0f), 127.0f);
    q[i] = static_cast<int8_t>(v);
  }
  return s;
}

}  // namespace ref
}  // namespace ternary
