// SPDX-License-Identifier: Apache-2.0
// Kernels for the avx2 tier (AVX2 + FMA + F16C + BMI). This translation unit alone is compiled
// with those flags (CMake); the dispatcher calls into it only after CPUID says the CPU can run
// them. Int8 activations use pmaddubsw kernels, fp32 activations the portable kernels compiled
// for this ISA.
#include "cpu/kernels/avx2_int8.hpp"
#include "cpu/kernels/quantize_xsimd.hpp"

namespace ternary {
namespace cpu {
namespace {
constexpr kernel_table avx2_table = {
    {&avx2::gemm_int8<format::bits2>, &avx2::gemm_int8<format::base3>,
     &avx2::gemm_int8<format::sherry>},
    {&gemm_f32<format::bits2>, &gemm_f32<format::base3>, &gemm_f32<format::sherry>},
    &xq::quantize_row<xsimd::avx2>,
};
}  // namespace
const kernel_table* kernels_avx2() noexcept { return &avx2_table; }
}  // namespace cpu
}  // namespace ternary
