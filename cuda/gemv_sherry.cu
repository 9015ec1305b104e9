// SPDX-License-Identifier: Apache-2.0
// GEMV/GEMM kernels for format::sherry (cuda/gemv.cuh).
#include "gemv.cuh"

namespace ternary {
namespace cuda {
namespace detail {

int launch_gemv_sherry(const gemv_args& a, int kernel_tokens, void* stream) {
  return launch_gemv<format::sherry>(a, kernel_tokens, stream);
}

}  // namespace detail
}  // namespace cuda
}  // namespace ternary
