// SPDX-License-Identifier: Apache-2.0
/// \file
/// `matrix_view`: the plain description of a packed ternary matrix that every kernel (scalar,
/// SIMD, CUDA) reads. Owned storage lives in `packed_matrix`; this header has no containers so
/// device code can include it.
///
/// The matrix is W-hat = sum over planes p of diag-by-group(alpha_p) * T_p, with T_p an N x K
/// trit matrix (N = rows = outputs, K = cols = reduction). Plane p's row r is `row_bytes` bytes
/// at `weights[p] + r * row_bytes`, holding `padded_cols` trits of which the last
/// `padded_cols - cols` are padding (zero, except where Sherry's one-zero-per-quad rule needs +1;
/// padding always meets zero activations). Scales of plane p are `scales[p]` (f32 or f16):
///   per_tensor: 1 value; per_row: `rows` values; per_group: `rows * groups_per_row` values,
///   row-major, group g covering columns [g * group_size, min((g + 1) * group_size, cols)).
#pragma once

#include <cstdint>

#include "ternary/config.hpp"
#include "ternary/format/format.hpp"
#include "ternary/half.hpp"

namespace ternary {

/// Version of the row/scale layout described above; stored in containers.
constexpr uint32_t layout_version = 1;

struct matrix_view {
  format fmt = format::bits2;
  scale_granularity granularity = scale_granularity::per_row;
  scale_type scale_dtype = scale_type::f32;
  int32_t planes = 1;          ///< 1, or 2 for trit-plane (PTQTP) weights
  int64_t rows = 0;            ///< N
  int64_t cols = 0;            ///< true K
  int64_t padded_cols = 0;     ///< K rounded up to whole blocks
  int64_t row_bytes = 0;       ///< bytes of one packed row of one plane
  int64_t group_size = 0;      ///< columns per scale: G for per_group, padded_cols otherwise
  int64_t groups_per_row = 0;  ///< ceil(cols / G) for per_group, 1 otherwise
  const uint8_t* weights[2] = {nullptr, nullptr};
  const void* scales[2] = {nullptr, nullptr};
  const float* bias = nullptr;  ///< rows values, or null
};

/// Scale of plane p for (row, group) as fp32 (exact for f16 storage).
TERNARY_HOST_DEVICE float scale_at(const matrix_view& w, int p, int64_t row, int64_t group) {
  int64_t i = 0;
  if (w.granularity == scale_granularity::per_row) {
    i = row;
  } else if (w.granularity == scale_granularity::per_group) {
    i = row * w.groups_per_row + group;
  }
  if (w.scale_dtype == scale_type::f16)
    return half_to_float(static_cast<const uint16_t*>(w.scales[p])[i]);
  return static_cast<const float*>(w.scales[p])[i];
}

/// Number of scales in one plane.
TERNARY_HOST_DEVICE int64_t scale_count(scale_granularity g, int64_t rows, int64_t groups_per_row) {
  return g == scale_granularity::per_tensor ? 1
         : g == scale_granularity::per_row  ? rows
                                            : rows * groups_per_row;
}

/// Trit at (row, k) of plane p.
TERNARY_HOST_DEVICE int trit_at(const matrix_view& w, int p, int64_t row, int64_t k) {
  return decode_trit(w.fmt, w.weights[p] + row * w.row_bytes, k);
}

}  // namespace ternary
