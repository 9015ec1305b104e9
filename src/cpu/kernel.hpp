// SPDX-License-Identifier: Apache-2.0
// The interface between the dispatcher (baseline flags) and the per-ISA kernel translation
// units. Only plain data crosses it.
#pragma once

#include <cstdint>

#include "ternary/activations.hpp"
#include "ternary/isa.hpp"
#include "ternary/matrix_view.hpp"

namespace ternary {
namespace cpu {

/// One slice of work: rows [row_begin, row_end) of Y for all tokens. Operands are validated by
/// the dispatcher; kernels do not fail.
struct gemm_job {
  const matrix_view* w = nullptr;
  const void* x = nullptr;    ///< int8 or fp32 activations, token t at x + t * ldx elements
  const float* xs = nullptr;  ///< int8 only: per-token scales s
  int64_t ldx = 0;
  int64_t tokens = 0;
  float* y = nullptr;  ///< Y[t, n] at y[t * ldy + n]
  int64_t ldy = 0;
  int64_t row_begin = 0;
  int64_t row_end = 0;
  int8_t* scratch =
      nullptr;  ///< scratch_bytes(*w, tokens) bytes, 64-byte aligned, owned by the caller
};

using gemm_fn = void (*)(const gemm_job&) noexcept;

/// Quantizes one token of k activations to int8 (ref::quantize_row's arithmetic, bit for bit)
/// and returns its scale. The input is finite (checked by the caller).
using quantize_fn = float (*)(const float* x, int64_t k, int8_t* q) noexcept;

/// Scratch a kernel may use (64-byte aligned, carved by the kernel): decoded rows, a 16-row
/// decoded panel with its scales, activations padded and interleaved for the dot instruction
/// (tokens rounded up to 16), and per-(group, token) activation sums.
inline int64_t scratch_bytes(const matrix_view& w, int64_t tokens) {
  auto a64 = [](int64_t v) { return (v + 63) / 64 * 64; };
  const int64_t tpad = (tokens + 15) / 16 * 16;
  const int64_t gpr = w.groups_per_row;
  const int64_t padded = w.padded_cols;
  return a64(w.planes * 16 * padded) + a64(w.planes * gpr * 16 * 4) + a64(padded) +
         a64(tpad * padded) + a64((gpr + gpr * tpad) * 4) + a64(w.planes * padded) + 256;
}

/// Kernels of one ISA, indexed by [format id - 1].
struct kernel_table {
  gemm_fn int8[3];
  gemm_fn f32[3];
  quantize_fn quantize;
};

/// The quantizer of the active ISA (the scalar one when that ISA cannot run here).
quantize_fn active_quantizer() noexcept;

// One accessor per ISA translation unit; call only when isa_available() says the CPU can run it.
const kernel_table* kernels_scalar() noexcept;
const kernel_table* kernels_avx2() noexcept;
const kernel_table* kernels_avx512() noexcept;
const kernel_table* kernels_neon() noexcept;

}  // namespace cpu
}  // namespace ternary
