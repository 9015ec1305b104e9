// SPDX-License-Identifier: Apache-2.0
// Byte layout of a packed matrix's storage buffer (see packed_matrix.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternary/packed_matrix.hpp"

namespace ternary {
namespace detail {

constexpr size_t section_alignment = 64;

struct storage_layout {
  size_t weights_offset[2] = {0, 0};
  size_t scales_offset[2] = {0, 0};
  size_t weight_bytes = 0;  ///< per plane
  size_t scale_bytes = 0;   ///< per plane
  size_t bias_offset = 0;
  size_t total = 0;
  int64_t row_bytes = 0;
  int64_t groups_per_row = 0;
  int64_t scale_count = 0;
};

/// Validates `d` (recording a message on failure) and computes its layout.
status compute_layout(const matrix_desc& d, storage_layout* out) noexcept;

}  // namespace detail
}  // namespace ternary
