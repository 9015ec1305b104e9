// SPDX-License-Identifier: Apache-2.0
// NEON (AArch64 + dot product) int8 GEMV for bits2 and base3 through the shared row-major
// template (generic.hpp): sdot on 16-byte quarters of each 64-column chunk. Offset codes
// u in {0,1,2} are valid signed bytes, so the signed dot product applies directly. Included
// by the neon translation unit only (compiled with +dotprod; the tier requires the extension).
#pragma once

#include <arm_neon.h>
#include <cstdint>

#include "cpu/kernel.hpp"
#include "cpu/kernels/generic.hpp"

namespace ternary {
namespace cpu {
namespace {
namespace neon {

struct tier {
  using vec = int32x4_t;
  static constexpr int halves = 4;         // 16-byte passes per 64-column chunk
  static constexpr int rows_per_pass = 4;  // rows sharing each activation load
  static vec zero() { return vdupq_n_s32(0); }
  static int8x16_t load_act(const int8_t* p) { return vld1q_s8(p); }  // (16 int8)
  static vec dot(vec acc, uint8x16_t u, int8x16_t a) {
    return vdotq_s32(acc, vreinterpretq_s8_u8(u), a);
  }
  static int32_t hsum(vec v) { return vaddvq_s32(v); }
};

// A 64-byte block held as four 16-byte quarters (bits2 and base3 share it).
struct quarters {
  struct state {
    uint8x16_t w[4];
  };
  state load(const uint8_t* blk) const {
    return {{vld1q_u8(blk), vld1q_u8(blk + 16), vld1q_u8(blk + 32), vld1q_u8(blk + 48)}};
  }
};

// bits2: quarter h of chunk q = (bytes [16h, 16h + 16) >> 2q) & 3.
struct bits2_decoder : quarters {
  static constexpr int chunks_per_block = 4;
  static constexpr int block_bytes = 64;
  uint8x16_t chunk(const state& s, int q, int h) const {
    return vandq_u8(vshlq_u8(s.w[h], vdupq_n_s8(static_cast<int8_t>(-2 * q))), vdupq_n_u8(3));
  }
};

// base3: q = byte * 3^n mod 256 (8-bit multiply), digit = [q >= 86] + [q >= 171].
struct base3_decoder : quarters {
  static constexpr int chunks_per_block = 5;
  static constexpr int block_bytes = 64;
  uint8x16_t chunk(const state& s, int n, int h) const {
    static constexpr uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const uint8x16_t q = vmulq_u8(s.w[h], vdupq_n_u8(pow3[n]));
    const uint8x16_t ge86 = vcgeq_u8(q, vdupq_n_u8(86));  // 0xff where true
    const uint8x16_t ge171 = vcgeq_u8(q, vdupq_n_u8(171));
    return vsubq_u8(vdupq_n_u8(0), vaddq_u8(ge86, ge171));  // -(-1 + -1) = 2, etc.
  }
};

template <format F>
void gemm_int8(const gemm_job& j) noexcept {
  if (F == format::bits2) simd_gemv<tier, bits2_decoder>(j);
  if (F == format::base3) simd_gemv<tier, base3_decoder>(j);
}

}  // namespace neon
}  // namespace
}  // namespace cpu
}  // namespace ternary
