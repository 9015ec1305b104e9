// SPDX-License-Identifier: Apache-2.0
/// \file
/// The dispatch API: Y = X * W-hat^T for a packed ternary matrix W (N x K) and a batch of
/// activations X (tokens x K), writing Y (tokens x N, row t at y + t * ldy, fp32).
///
/// One call serves every backend: the CPU kernel for the active ISA (isa.hpp), and CUDA once the
/// CUDA backend is built (a build without it answers backend::cuda with status::no_cuda).
///
/// Int8 outputs are bit-identical on every backend and ISA: each kernel accumulates exact int32
/// sums per (plane, scale group) and applies the same fp32 epilogue as ref::gemm_int8:
///     acc = 0.f;  for p in planes: for g in groups: acc += float(sum_pg) * alpha_pg;
///     y = acc / s_token;  if bias: y += bias[row]
/// Float-activation outputs agree with ref::gemm_f32 within rounding (summation order differs).
///
/// Threading: `gemm_rows` computes a row range and touches nothing else, so an engine can split
/// [0, N) across its own thread pool (each row's result is independent of the split). `gemm`
/// with `options.threads > 1` splits rows itself.
#pragma once

#include <cstdint>

#include "ternary/activations.hpp"
#include "ternary/config.hpp"
#include "ternary/isa.hpp"
#include "ternary/packed_matrix.hpp"
#include "ternary/status.hpp"

namespace ternary {

enum class backend : int { automatic = 0, cpu = 1, cuda = 2 };

/// How gemm() consumes fp32 activations given as a plain pointer.
enum class act_path : int {
  int8 = 0,  ///< quantize per token to int8 (the BitNet path; exact integer accumulation)
  f32 = 1,   ///< use fp32 directly (accuracy-sensitive layers)
};

struct gemm_options {
  act_path path = act_path::int8;
  int threads = 1;  ///< convenience split of rows; 0 = all hardware threads
  backend target = backend::automatic;
  void* cuda_stream = nullptr;  ///< cudaStream_t for backend::cuda
};

/// Checks operands without running: shapes agree, pointers and leading dimensions are valid,
/// the requested backend and ISA exist. Returns what gemm() would return for a bad request.
TERNARY_API status can_implement(const packed_matrix& w, const activations& x, const float* y,
                                 int64_t ldy, const gemm_options& opt = {}) noexcept;

/// Name of the kernel that would run, for logs and benchmark labels, e.g.
/// "gemm_bits2_i8_group__avx512". Returns "" when no kernel applies.
TERNARY_API const char* kernel_name(const packed_matrix& w, act_type a,
                                    const gemm_options& opt = {}) noexcept;

/// Y = X * W-hat^T for activations given as a view (fp32 or pre-quantized int8); the view's type
/// decides the path (options.path applies only to the fp32-pointer overload). Zero tokens is an
/// error (status::invalid_argument); on any error y is left untouched.
TERNARY_API status gemm(const packed_matrix& w, const activations& x, float* y, int64_t ldy,
                        const gemm_options& opt = {}) noexcept;

/// Y = X * W-hat^T for fp32 activations (tokens x K, leading dimension ldx), consumed as
/// opt.path says (quantized per token by default).
TERNARY_API status gemm(const packed_matrix& w, const float* x, int64_t tokens, int64_t ldx,
                        float* y, int64_t ldy, const gemm_options& opt = {}) noexcept;

/// One token: y[N] = W-hat * x[K].
TERNARY_API status gemv(const packed_matrix& w, const float* x, float* y,
                        const gemm_options& opt = {}) noexcept;

/// Rows [row_begin, row_end) of Y, single-threaded, on the CPU. For engines with their own
/// thread pool: quantize once with quantize_activations(), then give each worker a row range.
TERNARY_API status gemm_rows(const packed_matrix& w, const activations& x, float* y, int64_t ldy,
                             int64_t row_begin, int64_t row_end) noexcept;

/// True when this build contains the CUDA backend.
TERNARY_API bool cuda_built() noexcept;

}  // namespace ternary
