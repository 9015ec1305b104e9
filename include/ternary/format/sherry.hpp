// SPDX-License-Identifier: Apache-2.0
/// \file
/// Sherry 3:4 sparse trits: every quad of 4 consecutive trits along K holds exactly one zero and
/// three signs; 4 trits in 5 bits, 1.25 bits per weight.
///
/// Quad code c (5 bits). Let z be the zero lane and n0 < n1 < n2 the other lanes:
///
///     c = (sign(n0) < 0) << 4 | z << 2 | (t[n2] != t[n0]) << 1 | (t[n1] != t[n0])
///
/// i.e. a 4-bit pattern index (zero lane + relative signs, first non-zero lane positive) and a
/// sign bit that negates all three non-zeros. This is the code split of the Sherry paper and the
/// same 32-entry codebook as llama.cpp's STQ1_0 proposal, so conversion is a byte shuffle.
///
/// Block: 256 consecutive trits (64 quads) in 40 bytes:
///
///     bytes  0..31: nibble plane; byte j: low nibble = c[3:0] of quad j, high nibble = c[3:0]
///                   of quad j + 32
///     bytes 32..39: sign plane; bit (i % 8) of byte 32 + i / 8 = c[4] of quad i (LSB first,
///                   i.e. bit i of the little-endian 64-bit word)
///
/// Quad i covers trits 4i..4i+3, so decoding quad codes into 32-bit lanes (byte p = lane p)
/// yields consecutive activations directly: 16 quads = one 64-byte slice. On AVX-512 the 16
/// codes of a 64-trit chunk widen to 16 dword lanes and a 32-entry dword table lookup
/// (`vpermi2d`, selected by the 5-bit code) produces the 64 offset codes in one instruction; the
/// sign plane is exactly a 16-bit mask per chunk.
#pragma once

#include <cstdint>

#include "ternary/config.hpp"

namespace ternary {
namespace format_sherry {

constexpr int block_trits = 256;
constexpr int block_bytes = 40;
constexpr int codes = 32;

/// Decodes a 5-bit quad code into four trits.
TERNARY_HOST_DEVICE void decode_quad(unsigned c, int8_t* t) {
  const int zero = static_cast<int>((c >> 2) & 3u);
  const int s0 = (c & 16u) ? -1 : 1;
  int k = 0;
  for (int lane = 0; lane < 4; ++lane) {
    if (lane == zero) {
      t[lane] = 0;
      continue;
    }
    const int flip = k == 0 ? 0 : static_cast<int>((c >> (k - 1)) & 1u);
    t[lane] = static_cast<int8_t>(flip ? -s0 : s0);
    ++k;
  }
}

/// Encodes four trits with exactly one zero; returns -1 when the quad is not a 3:4 pattern.
TERNARY_HOST_DEVICE int encode_quad(const int8_t* t) {
  int zero = -1;
  for (int lane = 0; lane < 4; ++lane) {
    if (t[lane] == 0) {
      if (zero >= 0) return -1;
      zero = lane;
    } else if (t[lane] != 1 && t[lane] != -1) {
      return -1;
    }
  }
  if (zero < 0) return -1;
  unsigned c = static_cast<unsigned>(zero) << 2;
  int first = 0, k = 0;
  for (int lane = 0; lane < 4; ++lane) {
    if (lane == zero) continue;
    if (k == 0) {
      first = t[lane];
      if (first < 0) c |= 16u;
    } else if (t[lane] != first) {
      c |= 1u << (k - 1);
    }
    ++k;
  }
  return static_cast<int>(c);
}

/// The four offset codes (u = t + 1) of quad code c packed into a 32-bit word, byte p = lane p.
/// This is the table a SIMD decoder looks up.
TERNARY_HOST_DEVICE uint32_t quad_codes_u32(unsigned c) {
  int8_t t[4];
  decode_quad(c, t);
  uint32_t w = 0;
  for (int p = 0; p < 4; ++p) w |= static_cast<uint32_t>(t[p] + 1) << (8 * p);
  return w;
}

/// 5-bit code of quad q (0..63) of a block.
TERNARY_HOST_DEVICE unsigned quad_code(const uint8_t* block, int q) {
  const unsigned nib = (block[q & 31] >> (4 * (q >> 5))) & 0xfu;
  const unsigned sign = (block[32 + (q >> 3)] >> (q & 7)) & 1u;
  return nib | (sign << 4);
}

/// Trit i (0..255) of a block.
TERNARY_HOST_DEVICE int decode(const uint8_t* block, int i) {
  int8_t t[4];
  decode_quad(quad_code(block, i >> 2), t);
  return t[i & 3];
}

/// Stores code c for quad q of a block (the block must start zeroed or hold the old code).
TERNARY_HOST_DEVICE void set_quad_code(uint8_t* block, int q, unsigned c) {
  const int shift = 4 * (q >> 5);
  block[q & 31] = static_cast<uint8_t>((block[q & 31] & ~(0xfu << shift)) | ((c & 0xfu) << shift));
  const unsigned bit = 1u << (q & 7);
  uint8_t& s = block[32 + (q >> 3)];
  s = static_cast<uint8_t>((c & 16u) ? (s | bit) : (s & ~bit));
}

/// Packs 256 trits into one 40-byte block; returns the index of the first quad that is not a
/// 3:4 pattern, or -1 when all are valid (the block is fully written either way).
TERNARY_HOST_DEVICE int encode_block(const int8_t* trits, uint8_t* block) {
  int bad = -1;
  for (int q = 0; q < 64; ++q) {
    int c = encode_quad(trits + 4 * q);
    if (c < 0) {
      if (bad < 0) bad = q;
      c = 0;
    }
    set_quad_code(block, q, static_cast<unsigned>(c));
  }
  return bad;
}

TERNARY_HOST_DEVICE void decode_block(const uint8_t* block, int8_t* trits) {
  for (int q = 0; q < 64; ++q) decode_quad(quad_code(block, q), trits + 4 * q);
}

}  // namespace format_sherry
}  // namespace ternary
