// SPDX-License-Identifier: Apache-2.0
/// \file
/// 2-bit packed trits: 4 trits per byte, 2.0 bits per weight.
///
/// Block: 256 consecutive trits of one row (along K) in 64 bytes. Each trit t is stored as the
/// offset code u = t + 1 in {0, 1, 2} (3 is never written; decoders map it to +2, see below).
///
///     byte j (0..63) of the block, bits 2p+1:2p (p = 0..3)  <->  trit 64*p + j of the block
///
/// Why: one 64-byte load of a block followed by `(b >> 2p) & 3` yields 64 codes for 64
/// consecutive trits, i.e. one contiguous 64-byte slice of the activations. A 32-byte (AVX2) or
/// 16-byte (NEON) load of bytes [j0, j0+L) gives the trits [64p + j0, 64p + j0 + L) for each p,
/// again contiguous activations. No shuffle is needed on any ISA.
///
/// Invalid code 3: decode_code() returns it unchanged; decode() maps u = 3 to t = +2 so that
/// the kernels (which compute sum(u*a) - sum(a)) and the scalar reference agree on any byte.
/// pack never writes it and packed_matrix validation does not look for it.
#pragma once

#include <cstdint>

#include "ternary/config.hpp"

namespace ternary {
namespace format_bits2 {

constexpr int block_trits = 256;
constexpr int block_bytes = 64;

/// Code u in {0,1,2,(3)} of trit i (0..255) of a block.
TERNARY_HOST_DEVICE int decode_code(const uint8_t* block, int i) {
  return (block[i & 63] >> (2 * (i >> 6))) & 3;
}

/// Trit value t = u - 1 of trit i (0..255) of a block.
TERNARY_HOST_DEVICE int decode(const uint8_t* block, int i) { return decode_code(block, i) - 1; }

/// Packs 256 trits (each in {-1,0,+1}) into one 64-byte block.
TERNARY_HOST_DEVICE void encode_block(const int8_t* trits, uint8_t* block) {
  for (int j = 0; j < 64; ++j) {
    unsigned b = 0;
    for (int p = 0; p < 4; ++p) b |= static_cast<unsigned>(trits[64 * p + j] + 1) << (2 * p);
    block[j] = static_cast<uint8_t>(b);
  }
}

/// Unpacks one block into 256 trits.
TERNARY_HOST_DEVICE void decode_block(const uint8_t* block, int8_t* trits) {
  for (int i = 0; i < 256; ++i) trits[i] = static_cast<int8_t>(decode(block, i));
}

}  // namespace format_bits2
}  // namespace ternary
