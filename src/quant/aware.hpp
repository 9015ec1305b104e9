// SPDX-License-Identifier: Apache-2.0
// Activation-aware ternarization (the `calibration` mode of ternary::quant::ternarize).
#pragma once

#include <cstdint>

#include "ternary/quant.hpp"

namespace ternary {
namespace quant {
namespace detail {

// Called by ternarize() when opt.calib is non-null, after the arguments common to every mode
// (pointers, sizes, options) were validated. Validates the calibration data itself.
status ternarize_aware(const float* w, int64_t rows, int64_t cols, int64_t ld, const options& opt,
                       packed_matrix* out, stats* st) noexcept;

}  // namespace detail
}  // namespace quant
}  // namespace ternary
