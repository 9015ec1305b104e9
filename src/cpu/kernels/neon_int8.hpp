// SPDX-License-Identifier: Apache-2.0
// NEON (AArch64 + dot product) int8 GEMV for bits2, base3 and Sherry through the shared
// row-major template (generic.hpp): sdot on 16-byte quarters of each 64-column chunk. Offset codes
// u in {0,1,2} are valid signed bytes, so the signed dot product applies directly. Included
// by the neon translation unit only (compiled with +dotprod; the tier requires the extension).
#pragma once

#include <arm_neon.h>
#include <cstdint>
#include <cstring>

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

// sherry: a 40-byte block holds 4 chunks of 16 quads (docs/FORMATS.md). load() turns each
// chunk's 16 quad codes into bytes (sign << 4) | code; quarter h of chunk q covers quads
// 4h..4h+3, and byte j of it is lane j % 4 of quad 4h + j / 4: one 128-entry table lookup at
// index 4 * ((sign << 4) | code) + lane, done as two 64-byte vqtbl4q whose out-of-range
// indices give 0.
struct sherry_decoder {
  static constexpr int chunks_per_block = 4;
  static constexpr int block_bytes = 40;
  uint8x16x4_t low, high;  // byte 4c + p: offset code of lane p of quad code c (c < 16 / >= 16)
  sherry_decoder() {
    uint8_t t[2][64];
    for (unsigned c = 0; c < 32; ++c) {
      const uint32_t codes = sherry_quad_codes(c);
      for (int p = 0; p < 4; ++p)
        t[c / 16][4 * (c % 16) + p] = static_cast<uint8_t>(codes >> (8 * p));
    }
    low = vld1q_u8_x4(t[0]);
    high = vld1q_u8_x4(t[1]);
  }
  struct state {
    uint8x16_t cs[4];  // chunk q: (sign << 4) | code of quads 16q .. 16q + 15
  };
  state load(const uint8_t* blk) const {
    static constexpr uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    static constexpr uint8_t pick[4][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                            {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
                                            {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},
                                            {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7}};
    const uint8x16_t a = vld1q_u8(blk), b = vld1q_u8(blk + 16);
    const uint8x8_t signs = vld1_u8(blk + 32);  // bit i of the 64: quad i
    const uint8x16_t sign_table = vcombine_u8(signs, signs);
    const uint8x16_t nibble[4] = {vandq_u8(a, vdupq_n_u8(15)), vandq_u8(b, vdupq_n_u8(15)),
                                  vshrq_n_u8(a, 4), vshrq_n_u8(b, 4)};
    state s;
    for (int q = 0; q < 4; ++q) {
      const uint8x16_t neg = vtstq_u8(vqtbl1q_u8(sign_table, vld1q_u8(pick[q])), vld1q_u8(bit));
      s.cs[q] = vorrq_u8(nibble[q], vandq_u8(neg, vdupq_n_u8(16)));
    }
    return s;
  }
  uint8x16_t chunk(const state& s, int q, int h) const {
    static constexpr uint8_t lanes[16] = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3};
    static constexpr uint8_t rep[4][16] = {{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3},
                                           {4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
                                           {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11},
                                           {12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15,
                                            15, 15}};  // quad of each byte of quarter h
    const uint8x16_t code = vqtbl1q_u8(s.cs[q], vld1q_u8(rep[h]));
    const uint8x16_t idx = vsliq_n_u8(vld1q_u8(lanes), code, 2);  // 4 * code + lane
    return vorrq_u8(vqtbl4q_u8(low, idx), vqtbl4q_u8(high, vsubq_u8(idx, vdupq_n_u8(64))));
  }
};

template <format F>
void gemm_int8(const gemm_job& j) noexcept {
  if (F == format::bits2) simd_gemv<tier, bits2_decoder>(j);
  if (F == format::base3) simd_gemv<tier, base3_decoder>(j);
  if (F == format::sherry) simd_gemv<tier, sherry_decoder>(j);
}

}  // namespace neon
}  // namespace
}  // namespace cpu
}  // namespace ternary
