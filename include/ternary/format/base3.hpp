// SPDX-License-Identifier: Apache-2.0
/// \file
/// Base-3 packed trits: 5 trits per byte, 1.6 bits per weight.
///
/// Five codes u_0..u_4 (u = t + 1) form v = sum_n u_n * 3^(4-n) in [0, 242] (u_0 is the most
/// significant digit). The byte stores q = ceil(v * 256 / 243), the encoding used by ggml's
/// TQ1_0, because digit n is then recovered without division:
///
///     u_n = ((q * 3^n mod 256) * 3) >> 8
///
/// (q * 3^n mod 256 is the fractional part of v / 3^(5-n) in units of 1/256, and its leading
/// base-3 digit is u_n; the ceil keeps the fraction on the right side of every digit boundary.
/// The exhaustive test checks all 243 values.) q is never 0 for v > 0 and q(242) = 255, so every
/// byte 0..255 decodes to some digits; bytes that no v produces still decode deterministically.
///
/// Block: 320 consecutive trits in 64 bytes:
///
///     byte j (0..63), digit n (0..4)  <->  trit 64*n + j of the block
///
/// Why: one 64-byte load yields, after the multiply-shift for digit n, 64 codes for 64
/// consecutive trits (the activation slice [64n, 64n + 64)); narrower vectors load bytes
/// [j0, j0 + L) and again map to contiguous activations. Every 64-trit chunk starts at a multiple
/// of 64 along K, so scale groups that are multiples of 64 never split a chunk.
#pragma once

#include <cstdint>

#include "ternary/config.hpp"

namespace ternary {
namespace format_base3 {

constexpr int block_trits = 320;
constexpr int block_bytes = 64;

/// Powers 3^n mod 256 for n = 0..4 (3^4 = 81 < 256).
TERNARY_HOST_DEVICE unsigned pow3(int n) {
  return n == 0 ? 1u : n == 1 ? 3u : n == 2 ? 9u : n == 3 ? 27u : 81u;
}

/// Packs five codes u_0..u_4 (each 0..2) into one byte.
TERNARY_HOST_DEVICE uint8_t encode_byte(const int* u) {
  unsigned v = 0;
  for (int n = 0; n < 5; ++n) v = v * 3u + static_cast<unsigned>(u[n]);
  // ceil(v * 256 / 243); v <= 242 so the product fits easily and the result is <= 255.
  return static_cast<uint8_t>((v * 256u + 242u) / 243u);
}

/// Digit n (0..4) of a byte: the code u_n in {0,1,2}.
TERNARY_HOST_DEVICE int decode_code_byte(uint8_t q, int n) {
  const unsigned frac = (static_cast<unsigned>(q) * pow3(n)) & 0xffu;
  return static_cast<int>((frac * 3u) >> 8);  // frac * 3 < 768, so the result is 0, 1 or 2
}

/// Code of trit i (0..319) of a block.
TERNARY_HOST_DEVICE int decode_code(const uint8_t* block, int i) {
  return decode_code_byte(block[i & 63], i >> 6);
}

/// Trit value of trit i (0..319) of a block.
TERNARY_HOST_DEVICE int decode(const uint8_t* block, int i) { return decode_code(block, i) - 1; }

/// Packs 320 trits into one 64-byte block.
TERNARY_HOST_DEVICE void encode_block(const int8_t* trits, uint8_t* block) {
  for (int j = 0; j < 64; ++j) {
    int u[5];
    for (int n = 0; n < 5; ++n) u[n] = trits[64 * n + j] + 1;
    block[j] = encode_byte(u);
  }
}

TERNARY_HOST_DEVICE void decode_block(const uint8_t* block, int8_t* trits) {
  for (int i = 0; i < 320; ++i) trits[i] = static_cast<int8_t>(decode(block, i));
}

}  // namespace format_base3
}  // namespace ternary
