// SPDX-License-Identifier: Apache-2.0
// Kernels for the neon tier (AArch64 Advanced SIMD + dot product). This translation unit alone
// is compiled with +dotprod (CMake); the dispatcher calls into it only when the CPU has it.
// int8 activations use the sdot GEMV for every format; fp32 activations use the portable kernels
// compiled for this ISA.
#include "cpu/kernels/neon_int8.hpp"
#include "cpu/kernels/quantize_xsimd.hpp"

namespace ternary {
namespace cpu {
namespace {
constexpr kernel_table neon_table = {
    {&neon::gemm_int8<format::bits2>, &neon::gemm_int8<format::base3>,
     &neon::gemm_int8<format::sherry>},
    {&gemm_f32<format::bits2>, &gemm_f32<format::base3>, &gemm_f32<format::sherry>},
    &xq::quantize_row<xsimd::neon64>,
};
}  // namespace
const kernel_table* kernels_neon() noexcept { return &neon_table; }
}  // namespace cpu
}  // namespace ternary
