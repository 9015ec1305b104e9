// SPDX-License-Identifier: Apache-2.0
// Kernels for the avx512 tier (AVX-512 F/BW/VL/VNNI/VBMI). This translation unit alone is
// compiled with those flags (CMake); the dispatcher calls into it only after CPUID says the CPU
// can run them. Int8 activations use vpdpbusd kernels, fp32 activations masked adds.
#include "cpu/kernels/avx512_int8.hpp"
#include "cpu/kernels/quantize_xsimd.hpp"

namespace ternary {
namespace cpu {
namespace {
constexpr kernel_table avx512_table = {
    {&avx512::gemm_int8<format::bits2>, &avx512::gemm_int8<format::base3>,
     &avx512::gemm_int8<format::sherry>},
    {&avx512::gemm_f32<format::bits2>, &avx512::gemm_f32<format::base3>,
     &avx512::gemm_f32<format::sherry>},
    &xq::quantize_row<xsimd::avx512bw>,
};
}  // namespace
const kernel_table* kernels_avx512() noexcept { return &avx512_table; }
}  // namespace cpu
}  // namespace ternary
