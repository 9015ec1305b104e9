// SPDX-License-Identifier: Apache-2.0
// Per-token int8 quantization of activations (ternary::quantize_activations), written once on
// xsimd batches and instantiated per architecture by the ISA translation units. xsimd has no
// narrowing int32 -> int8 store, so that one step is a small per-architecture primitive.
//
// Bit-exact with ref::quantize_row: the maximum of |x| does not depend on the order it is taken
// in (the inputs are finite: quantize_activations rejects NaN/Inf first), s is the same scalar
// division, x * s the same fp32 product, and the conversion rounds to nearest even as
// nearbyint() does in the default rounding mode. |x * s| <= 127 (up to one rounding), so
// clamping the int32 result to [-128, 127] equals clamping the float.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include <xsimd/xsimd.hpp>

#include "ternary/activations.hpp"

namespace ternary {
namespace cpu {
namespace {
namespace xq {

// Stores the low byte of each int32 lane (values already in [-128, 127]).
template <class Arch>
inline void narrow_store(const xsimd::batch<int32_t, Arch>& v, int8_t* out) {
  using ib = xsimd::batch<int32_t, Arch>;
  alignas(64) int32_t lanes[ib::size];
  v.store_aligned(lanes);
  for (size_t i = 0; i < ib::size; ++i) out[i] = static_cast<int8_t>(lanes[i]);
}

#if defined(__AVX512F__)
inline void narrow_store(const xsimd::batch<int32_t, xsimd::avx512bw>& v, int8_t* out) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(v));
}
#endif

#if defined(__AVX2__)
inline void narrow_store(const xsimd::batch<int32_t, xsimd::avx2>& v, int8_t* out) {
  const __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
  const __m128i w16 = _mm_packs_epi32(lo, hi);  // 8 x int16, in order
  const __m128i w8 = _mm_packs_epi16(w16, w16);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), w8);
}
#endif

#if defined(__aarch64__)
inline void narrow_store(const xsimd::batch<int32_t, xsimd::neon64>& v, int8_t* out) {
  const int16x4_t w16 = vmovn_s32(v);
  const int8x8_t w8 = vmovn_s16(vcombine_s16(w16, w16));
  std::memcpy(out, &w8, 4);
}
#endif

template <class Arch>
float quantize_row(const float* x, int64_t k, int8_t* q) noexcept {
  using fb = xsimd::batch<float, Arch>;
  using ib = xsimd::batch<int32_t, Arch>;
  constexpr int64_t width = static_cast<int64_t>(fb::size);
  fb m(0.0f);
  int64_t i = 0;
  for (; i + width <= k; i += width) m = xsimd::max(m, xsimd::abs(fb::load_unaligned(x + i)));
  alignas(64) float lanes[fb::size];
  m.store_aligned(lanes);
  float amax = 0.0f;
  for (int64_t l = 0; l < width; ++l) amax = std::fmax(amax, lanes[l]);
  for (; i < k; ++i) amax = std::fmax(amax, std::fabs(x[i]));

  const float s = 127.0f / std::fmax(amax, act_absmax_floor);
  const fb sv(s);
  const ib lo(-128), hi(127);
  for (i = 0; i + width <= k; i += width) {
    const ib r = xsimd::nearbyint_as_int(fb::load_unaligned(x + i) * sv);
    narrow_store(xsimd::min(xsimd::max(r, lo), hi), q + i);
  }
  for (; i < k; ++i) {
    const float v = std::fmin(std::fmax(std::nearbyint(x[i] * s), -128.0f), 127.0f);
    q[i] = static_cast<int8_t>(v);
  }
  return s;
}

}  // namespace xq
}  // namespace
}  // namespace cpu
}  // namespace ternary
