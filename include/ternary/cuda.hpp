// SPDX-License-Identifier: Apache-2.0
/// \file
/// The CUDA backend: packed matrices uploaded to an NVIDIA GPU and GEMV/GEMM on device pointers
/// (docs/CUDA.md). Declared in every build; in a build without CUDA (`ternary::cuda_built()` is
/// false) every function answers status::no_cuda with a message.
///
/// The CPU dispatch API (gemm.hpp) takes host matrices and host pointers; this header is the
/// CUDA entry point. `gemm_options::target = backend::cuda` in the CPU API is answered with a
/// message pointing here.
///
/// Int8 outputs are bit-identical to ref::gemm_int8 (the same exact int32 sums per plane and
/// scale group and the same fp32 epilogue, compiled without FMA contraction); fp16/bf16
/// activations accumulate in fp32 and agree with ref::gemm_f32 within rounding.
///
/// Example:
/// \code
///   ternary::cuda::device_matrix dw;
///   if (ternary::cuda::upload(w, &dw, stream) != ternary::status::ok) { ... }
///   // x_dev: tokens x K fp32 on the device
///   ternary::cuda::quantize_activations(x_dev, tokens, k, k, xq_dev, k, s_dev, stream);
///   ternary::cuda::gemm(dw, ternary::cuda::device_activations::int8(xq_dev, s_dev, tokens, k, k),
///                       y_dev, n, stream);
/// \endcode
/// All calls are asynchronous with respect to the host on `stream` (a cudaStream_t; null = the
/// default stream), except upload/download, which return when the copies are complete.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternary/config.hpp"
#include "ternary/packed_matrix.hpp"
#include "ternary/status.hpp"

namespace ternary {
namespace cuda {

/// Element type of device activations.
enum class act_dtype : uint32_t {
  int8 = 1,  ///< int8 with one fp32 scale s per token (x ~= x_q / s), exact int32 accumulation
  f16 = 2,   ///< IEEE binary16, fp32 accumulation
  bf16 = 3,  ///< bfloat16, fp32 accumulation
};

/// Tokens one kernel launch computes; larger batches are split into launches of this size.
constexpr int64_t max_kernel_tokens = 16;

/// Non-owning view of activations in device memory: `tokens` rows of `cols` elements, row t at
/// `data + t * ld` elements. For int8, `scales` points to `tokens` fp32 values in device memory.
struct device_activations {
  act_dtype type = act_dtype::int8;
  int64_t tokens = 0;
  int64_t cols = 0;
  int64_t ld = 0;
  const void* data = nullptr;
  const float* scales = nullptr;

  static device_activations int8(const int8_t* x, const float* scales, int64_t tokens, int64_t cols,
                                 int64_t ld) noexcept {
    return make(act_dtype::int8, x, scales, tokens, cols, ld);
  }
  /// `x` points to IEEE binary16 values (e.g. __half).
  static device_activations f16(const void* x, int64_t tokens, int64_t cols, int64_t ld) noexcept {
    return make(act_dtype::f16, x, nullptr, tokens, cols, ld);
  }
  /// `x` points to bfloat16 values (e.g. __nv_bfloat16).
  static device_activations bf16(const void* x, int64_t tokens, int64_t cols, int64_t ld) noexcept {
    return make(act_dtype::bf16, x, nullptr, tokens, cols, ld);
  }

 private:
  static device_activations make(act_dtype t, const void* x, const float* s, int64_t tokens,
                                 int64_t cols, int64_t ld) noexcept {
    device_activations a;
    a.type = t;
    a.tokens = tokens;
    a.cols = cols;
    a.ld = ld;
    a.data = x;
    a.scales = s;
    return a;
  }
};

/// A packed matrix in device memory, in the GPU layout of docs/CUDA.md (weights re-laid out for
/// coalesced loads, scales widened to fp32). Owns its device memory; movable, not copyable.
class TERNARY_API device_matrix {
 public:
  device_matrix() noexcept = default;
  device_matrix(const device_matrix&) = delete;
  device_matrix& operator=(const device_matrix&) = delete;
  device_matrix(device_matrix&& other) noexcept;
  device_matrix& operator=(device_matrix&& other) noexcept;
  ~device_matrix();

  bool empty() const noexcept { return buffer_ == nullptr; }
  /// The description of the uploaded matrix (format, shape, scales, planes, bias).
  const matrix_desc& desc() const noexcept { return desc_; }
  int64_t rows() const noexcept { return desc_.rows; }
  int64_t cols() const noexcept { return desc_.cols; }
  /// Device bytes held (weights, fp32 scales, bias).
  size_t device_bytes() const noexcept { return bytes_; }
  /// CUDA device ordinal the memory lives on.
  int device() const noexcept { return device_; }
  /// Frees the device memory (synchronously); the matrix becomes empty.
  void reset() noexcept;

  /// Internal layout facts used by the kernels (docs/CUDA.md).
  const void* device_weights(int plane) const noexcept { return plane_ptr(plane, 0); }
  const float* device_scales(int plane) const noexcept {
    return static_cast<const float*>(plane_ptr(plane, 1));
  }
  const float* device_bias() const noexcept;
  int64_t gpu_row_bytes() const noexcept { return row_bytes_; }

 private:
  friend struct device_matrix_access;
  const void* plane_ptr(int plane, int section) const noexcept;

  matrix_desc desc_{};
  void* buffer_ = nullptr;
  size_t bytes_ = 0;
  int device_ = 0;
  int64_t row_bytes_ = 0;
  size_t offsets_[5] = {0, 0, 0, 0, 0};  // weights0, scales0, weights1, scales1, bias
};

/// Number of visible CUDA devices (0 when none, or in a build without CUDA: then no_cuda).
TERNARY_API status device_count(int* count) noexcept;

/// Copies a packed matrix to the current device, converting it to the GPU layout. Returns when
/// the copy is complete. On error *out is left unchanged.
TERNARY_API status upload(const packed_matrix& w, device_matrix* out,
                          void* stream = nullptr) noexcept;

/// Copies a device matrix back into an owning packed_matrix (the CPU layout; f16 scales are
/// narrowed back exactly). Returns when the copy is complete.
TERNARY_API status download(const device_matrix& w, packed_matrix* out,
                            void* stream = nullptr) noexcept;

/// Y = X * W-hat^T on the device: y (device, fp32) row t at y + t * ldy. Any number of tokens;
/// kernels are specialised for 1..16 (larger batches run in launches of 16). Checks shapes and
/// that x, scales and y are device-accessible pointers; the values of the int8 scales are not
/// checked (they live on the device). Asynchronous on `stream`.
TERNARY_API status gemm(const device_matrix& w, const device_activations& x, float* y, int64_t ldy,
                        void* stream = nullptr) noexcept;

/// One token: y[N] = W-hat * x[K] (device pointers).
TERNARY_API status gemv(const device_matrix& w, const device_activations& x, float* y,
                        void* stream = nullptr) noexcept;

/// Per-token int8 quantization of fp32 device activations, bit-identical to
/// ref::quantize_row / ternary::quantize_activations: s = 127 / max(max|x|, 1e-5),
/// x_q = clamp(round_half_even(x * s), -128, 127). NaN/Inf inputs are not detected on the device
/// (the CPU quantizer rejects them); they give unspecified values. Asynchronous on `stream`.
TERNARY_API status quantize_activations(const float* x, int64_t tokens, int64_t cols, int64_t ldx,
                                        int8_t* xq, int64_t ldq, float* scales,
                                        void* stream = nullptr) noexcept;

/// Name of the kernel gemm() runs for this matrix, activation type and token count, e.g.
/// "cuda_gemv_bits2_i8_t4_per_group"; "" when none applies (or no CUDA).
TERNARY_API const char* kernel_name(const device_matrix& w, act_dtype a, int64_t tokens) noexcept;

}  // namespace cuda
}  // namespace ternary
