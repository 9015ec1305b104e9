// SPDX-License-Identifier: Apache-2.0
// The GPU weight layout of ternary::cuda::device_matrix (docs/CUDA.md) and the decode / dot
// helpers of the CUDA kernels. Everything here is TERNARY_HOST_DEVICE: the kernels call it on the
// device, and tests/test_cuda_host.cpp checks it on the CPU in every build (no GPU needed)
// against the format decoders and the scalar reference.
//
// A GPU row is a sequence of *units* (64 / 320 / 256 trits for bits2 / base3 / sherry). A warp
// walks a row in *steps* of 32 consecutive units, lane l taking unit 32*step + l; each unit is
// P pieces of PB bytes, and piece q of every unit of a step is stored contiguously, so each of
// the P loads of a step is one fully coalesced warp-wide access (the pre-shuffle idea of
// Marlin-class kernels, here along K only).
#pragma once

#include <cmath>
#include <cstdint>

#include "ternary/format/format.hpp"
#include "ternary/matrix_view.hpp"

namespace ternary {
namespace cuda {
namespace detail {

constexpr int warp_lanes = 32;
constexpr int chunk = 64;  // trits per chunk (ternary::chunk_trits)

struct unit_shape {
  int trits;        // trits per unit
  int chunks;       // 64-trit chunks per unit
  int pieces;       // loads per unit
  int piece_bytes;  // bytes per load (16 or 8)
};

TERNARY_HOST_DEVICE unit_shape shape_of(format f) {
  return f == format::base3    ? unit_shape{320, 5, 4, 16}
         : f == format::sherry ? unit_shape{256, 4, 5, 8}
                               : unit_shape{64, 1, 1, 16};
}
TERNARY_HOST_DEVICE int unit_words(format f) {
  const unit_shape s = shape_of(f);
  return s.pieces * s.piece_bytes / 4;
}
TERNARY_HOST_DEVICE int64_t units_per_row(format f, int64_t cols) {
  const int64_t u = shape_of(f).trits;
  return (cols + u - 1) / u;
}
TERNARY_HOST_DEVICE int64_t gpu_row_bytes(format f, int64_t cols) {
  return units_per_row(f, cols) * unit_words(f) * 4;
}
/// Byte offset inside a GPU row of piece q of unit u (units = units per row).
TERNARY_HOST_DEVICE int64_t piece_offset(format f, int64_t units, int64_t u, int q) {
  const unit_shape s = shape_of(f);
  const int64_t first = u / warp_lanes * warp_lanes;
  const int64_t m = units - first < warp_lanes ? units - first : warp_lanes;
  return (first * s.pieces + q * m + (u - first)) * s.piece_bytes;
}

// ---- unit encoding (host side of upload; also used by the tests)
// ---------------------------------- Logical words of one unit (before the piece shuffle; piece q =
// words [q*PB/4, (q+1)*PB/4)):
//   bits2  (4 words):  bit 8b + 2j of word w = code u of trit 16w + 4j + b
//   base3  (16 words): byte i (= byte i%4 of word i/4) = base-3 byte (format/base3.hpp) of the
//                      trits i, 64 + i, 128 + i, 192 + i, 256 + i (the CPU block, unchanged)
//   sherry (10 words): words 2e, 2e+1: 4-bit code c[3:0] of quad q of chunk e at bits 4(q%8) of
//                      word 2e + q/8; word 8 + e/2, bits 16(e%2) + q: c[4] of quad q of chunk e
//                      (the 64 quads of a unit are trits 4Q .. 4Q+3, Q = 16e + q)

/// Encodes `shape_of(f).trits` trits (values in {-1,0,+1}) into `unit_words(f)` words. Sherry
/// quads that are not 3:4 patterns (GPU padding beyond the CPU row) are stored as code 0.
inline void encode_unit(format f, const int8_t* t, uint32_t* w) {
  const int nw = unit_words(f);
  for (int i = 0; i < nw; ++i) w[i] = 0;
  if (f == format::bits2) {
    for (int k = 0; k < 64; ++k) {
      const int word = k / 16, j = (k % 16) / 4, b = k % 4;
      w[word] |= static_cast<uint32_t>(t[k] + 1) << (8 * b + 2 * j);
    }
  } else if (f == format::base3) {
    uint8_t block[64];
    format_base3::encode_block(t, block);
    for (int i = 0; i < 64; ++i) w[i / 4] |= static_cast<uint32_t>(block[i]) << (8 * (i % 4));
  } else {
    for (int quad = 0; quad < 64; ++quad) {
      int c = format_sherry::encode_quad(t + 4 * quad);
      if (c < 0) c = 0;
      const int e = quad / 16, q = quad % 16;
      w[2 * e + q / 8] |= static_cast<uint32_t>(c & 15) << (4 * (q % 8));
      w[8 + e / 2] |= static_cast<uint32_t>((c >> 4) & 1) << (16 * (e % 2) + q);
    }
  }
}

/// Trits of scratch encode_row needs: the longer of the CPU padded row and the GPU row.
inline int64_t row_scratch_trits(format f, int64_t cols) {
  const int64_t gpu = units_per_row(f, cols) * shape_of(f).trits, cpu = padded_cols(f, cols);
  return gpu > cpu ? gpu : cpu;
}

/// Converts row r of plane p of a CPU matrix into its GPU row (gpu_row_bytes(fmt, cols) bytes).
/// `trits` is scratch of row_scratch_trits(fmt, cols) values. Host only (upload).
inline void encode_row(const matrix_view& v, int p, int64_t r, int8_t* trits, uint8_t* out) {
  const unit_shape sh = shape_of(v.fmt);
  const int64_t units = units_per_row(v.fmt, v.cols);
  for (int64_t k = 0; k < row_scratch_trits(v.fmt, v.cols); ++k) trits[k] = 0;
  const uint8_t* row = v.weights[p] + r * v.row_bytes;
  const int64_t bt = block_trits(v.fmt), bb = block_bytes(v.fmt);
  for (int64_t b = 0; b < v.padded_cols / bt; ++b) {
    if (v.fmt == format::bits2) {
      format_bits2::decode_block(row + b * bb, trits + b * bt);
    } else if (v.fmt == format::base3) {
      format_base3::decode_block(row + b * bb, trits + b * bt);
    } else {
      format_sherry::decode_block(row + b * bb, trits + b * bt);
    }
  }
  uint32_t words[16];
  for (int64_t u = 0; u < units; ++u) {
    encode_unit(v.fmt, trits + u * sh.trits, words);
    for (int q = 0; q < sh.pieces; ++q) {
      const uint8_t* src = reinterpret_cast<const uint8_t*>(words) + q * sh.piece_bytes;
      uint8_t* dst = out + piece_offset(v.fmt, units, u, q);
      for (int i = 0; i < sh.piece_bytes; ++i) dst[i] = src[i];
    }
  }
}

/// Gathers the logical words of unit u of a GPU row (the inverse of the piece shuffle).
TERNARY_HOST_DEVICE void load_unit(format f, const uint8_t* gpu_row, int64_t units, int64_t u,
                                   uint32_t* words) {
  const unit_shape sh = shape_of(f);
  for (int q = 0; q < sh.pieces; ++q) {
    const uint8_t* src = gpu_row + piece_offset(f, units, u, q);
    for (int i = 0; i < sh.piece_bytes / 4; ++i)
      words[q * sh.piece_bytes / 4 + i] =
          static_cast<uint32_t>(src[4 * i]) | static_cast<uint32_t>(src[4 * i + 1]) << 8 |
          static_cast<uint32_t>(src[4 * i + 2]) << 16 | static_cast<uint32_t>(src[4 * i + 3]) << 24;
  }
}

/// Offset codes u (byte b = code of trit 4i + b of chunk e) of word i (0..15) of chunk e of a
/// unit. `sherry_table` is the 32-entry format_sherry::quad_codes_u32 table (sherry only).
template <format F>
TERNARY_HOST_DEVICE uint32_t unit_codes(const uint32_t* w, int e, int i,
                                        const uint32_t* sherry_table) {
  if (F == format::bits2) {
    (void)e;
    (void)sherry_table;
    return (w[i >> 2] >> (2 * (i & 3))) & 0x03030303u;
  } else if (F == format::base3) {
    (void)sherry_table;
    // Digit e of the four bytes at once: the bytes sit in 16-bit lanes (even / odd bytes), where
    // byte * 3^e (<= 255 * 81) and (.. mod 256) * 3 (<= 765) never carry into the next lane.
    const uint32_t p = format_base3::pow3(e);
    uint32_t lo = w[i] & 0x00ff00ffu, hi = (w[i] >> 8) & 0x00ff00ffu;
    lo = (((lo * p) & 0x00ff00ffu) * 3u >> 8) & 0x00030003u;
    hi = (((hi * p) & 0x00ff00ffu) * 3u >> 8) & 0x00030003u;
    return lo | (hi << 8);
  } else {
    const uint32_t nib = (w[2 * e + (i >> 3)] >> (4 * (i & 7))) & 15u;
    const uint32_t sign = (w[8 + (e >> 1)] >> (16 * (e & 1) + i)) & 1u;
    return sherry_table[nib | (sign << 4)];
  }
}

/// Trit at position k (0 <= k < shape_of(f).trits) of an encoded unit.
TERNARY_HOST_DEVICE int unit_trit(format f, const uint32_t* w, int k, const uint32_t* table) {
  const int e = k / chunk, i = (k % chunk) / 4, b = k % 4;
  const uint32_t u = f == format::bits2   ? unit_codes<format::bits2>(w, e, i, table)
                     : f == format::base3 ? unit_codes<format::base3>(w, e, i, table)
                                          : unit_codes<format::sherry>(w, e, i, table);
  return static_cast<int>((u >> (8 * b)) & 0xffu) - 1;
}

/// The Sherry lookup table (32 words).
inline void fill_sherry_table(uint32_t* table) {
  for (unsigned c = 0; c < 32; ++c) table[c] = format_sherry::quad_codes_u32(c);
}

// ---- dot products
// ---------------------------------------------------------------------------------

/// acc + sum over the 4 bytes of u (unsigned codes 0..3, so also valid as signed) times the 4
/// signed bytes of a: the `dp4a` instruction on the device (sm_61+), scalar on the host.
TERNARY_HOST_DEVICE int32_t dot4(uint32_t u, uint32_t a, int32_t acc) {
#if defined(__CUDA_ARCH__)
  return __dp4a(static_cast<int>(u), static_cast<int>(a), acc);
#else
  for (int b = 0; b < 4; ++b)
    acc += static_cast<int32_t>((u >> (8 * b)) & 0xffu) *
           static_cast<int32_t>(static_cast<int8_t>((a >> (8 * b)) & 0xffu));
  return acc;
#endif
}

/// Sum of the 4 signed bytes of a (the Σa of the offset-code correction Σt·a = Σu·a − Σa).
TERNARY_HOST_DEVICE int32_t byte_sum(uint32_t a) { return dot4(0x01010101u, a, 0); }

#if defined(__CUDA_ARCH__)
#define TERNARY_CUDA_UNROLL _Pragma("unroll")
#else
#define TERNARY_CUDA_UNROLL
#endif

/// The 16 code words of chunk e of a unit (word i: trits 4i .. 4i+3 of the chunk).
template <format F>
TERNARY_HOST_DEVICE void chunk_codes(const uint32_t* w, int e, const uint32_t* sherry_table,
                                     uint32_t* codes) {
  TERNARY_CUDA_UNROLL
  for (int i = 0; i < 16; ++i) codes[i] = unit_codes<F>(w, e, i, sherry_table);
}

/// Exact Σ t·a of one chunk for one token: `act` holds the 16 activation words of the chunk
/// (64 int8), `asum` their sum. Σ t·a = Σ u·a − Σ a.
TERNARY_HOST_DEVICE int32_t dot_codes_int8(const uint32_t* codes, const uint32_t* act,
                                           int32_t asum) {
  int32_t acc = 0;
  TERNARY_CUDA_UNROLL
  for (int i = 0; i < 16; ++i) acc = dot4(codes[i], act[i], acc);
  return acc - asum;
}

/// Σ t·x of one chunk for float activations: `x(k)` returns activation k (0..63) of the chunk.
template <class Load>
TERNARY_HOST_DEVICE float dot_codes_float(const uint32_t* codes, const Load& x) {
  float acc = 0.0f;
  TERNARY_CUDA_UNROLL
  for (int i = 0; i < 16; ++i) {
    TERNARY_CUDA_UNROLL
    for (int b = 0; b < 4; ++b) {
      const int t = static_cast<int>((codes[i] >> (8 * b)) & 0xffu) - 1;  // code 3 -> +2
      const float v = x(4 * i + b);
      acc = t == 0 ? acc : t < 0 ? acc - v : t == 1 ? acc + v : acc + 2.0f * v;
    }
  }
  return acc;
}

/// Exact Σ t·a over chunk e of a unit for one token (the two steps above).
template <format F>
TERNARY_HOST_DEVICE int32_t chunk_dot_int8(const uint32_t* w, int e, const uint32_t* act,
                                           int32_t asum, const uint32_t* sherry_table) {
  uint32_t codes[16];
  chunk_codes<F>(w, e, sherry_table, codes);
  return dot_codes_int8(codes, act, asum);
}

// ---- activation quantization (BitNet b1.58, as ref::quantize_row) -------------------------------

/// s = 127 / max(amax, 1e-5), IEEE division (nvcc's default -prec-div=true).
TERNARY_HOST_DEVICE float act_scale(float amax) { return 127.0f / (amax > 1e-5f ? amax : 1e-5f); }

/// clamp(round_half_even(x * s), -128, 127): the product is rounded once (no FMA), then rounded
/// to the nearest integer, ties to even (`__float2int_rn` on the device).
TERNARY_HOST_DEVICE int8_t quantize_value(float x, float s) {
#if defined(__CUDA_ARCH__)
  int q = __float2int_rn(__fmul_rn(x, s));
#else
  float v = x * s;
  if (!(v == v)) return 0;  // NaN: as the device conversion
  v = v > 128.0f ? 128.0f : v < -129.0f ? -129.0f : v;
  int q = static_cast<int>(std::nearbyint(v));  // default rounding mode: ties to even
#endif
  q = q < -128 ? -128 : q > 127 ? 127 : q;
  return static_cast<int8_t>(q);
}

}  // namespace detail
}  // namespace cuda
}  // namespace ternary
