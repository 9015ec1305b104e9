// SPDX-License-Identifier: Apache-2.0
/// \file
/// Umbrella header of Ternary Engine: packed ternary weight formats and GEMV/GEMM kernels.
/// Public API only; no SIMD, CUDA or fmt headers are pulled in.
#pragma once

#include "ternary/activations.hpp"
#include "ternary/config.hpp"
#include "ternary/format/format.hpp"
#include "ternary/gemm.hpp"
#include "ternary/half.hpp"
#include "ternary/isa.hpp"
#include "ternary/matrix_view.hpp"
#include "ternary/packed_matrix.hpp"
#include "ternary/status.hpp"
#include "ternary/version.hpp"

// Declared here, defined in the libraries on top of ternary::ternary: link ternary::quant for
// the ternarizers and ternary::io for files and interop.
#include "ternary/interop.hpp"
#include "ternary/io/gguf.hpp"
#include "ternary/io/safetensors.hpp"
#include "ternary/quant.hpp"

namespace ternary {
/// Library version as "MAJOR.MINOR.PATCH" (of the compiled part, which may differ from the
/// headers' TERNARY_VERSION_STRING if a consumer mixes installs).
TERNARY_API const char* version_string() noexcept;
}  // namespace ternary
