// SPDX-License-Identifier: Apache-2.0
// GEMV/GEMM kernels for format::bits2 (cuda/gemv.cuh).
#include "gemv.cuh"

namespace ternary {
namespace cuda {
namespace detail {

int launch_gemv_bits2(const gemv_args& a, int kernel_tokens, void* stream) {
  return launch_gemv<format::bits2>(a, kernel_tokens, stream);
}

}  // namespace detail
}  // namespace cuda
}  // namespace ternary
