// SPDX-License-Identifier: Apache-2.0
/// \file
/// The list of packed-trit formats and scale layouts, with their size arithmetic. Plain C++17
/// usable from host compilers and nvcc.
#pragma once

#include <cstdint>

#include "ternary/config.hpp"
#include "ternary/format/base3.hpp"
#include "ternary/format/bits2.hpp"
#include "ternary/format/sherry.hpp"

namespace ternary {

/// Packed-trit weight formats. Values are stored in containers: never renumber.
enum class format : uint32_t {
  bits2 = 1,   ///< 2 bits per trit, 256 trits in 64 bytes (format/bits2.hpp)
  base3 = 2,   ///< 5 trits per byte, 320 trits in 64 bytes (format/base3.hpp)
  sherry = 3,  ///< 3:4 sparse, 256 trits in 40 bytes (format/sherry.hpp)
};

/// Where the scales of a plane live. Values are stored in containers: never renumber.
enum class scale_granularity : uint32_t {
  per_tensor = 1,  ///< one scale for the whole plane
  per_row = 2,     ///< one scale per output row
  per_group = 3,   ///< one scale per `group_size` consecutive columns of a row
};

/// Storage type of scales. Values are stored in containers: never renumber.
enum class scale_type : uint32_t {
  f32 = 1,
  f16 = 2,  ///< IEEE binary16, converted exactly to fp32 by the kernels
};

/// Every kernel walks K in chunks of this many trits; each format's block is a whole number of
/// chunks and every chunk maps to a contiguous slice of the activations. Group sizes must be
/// multiples of it so that a chunk never straddles two scale groups.
constexpr int64_t chunk_trits = 64;

/// Largest supported K. With |a| <= 128 and t in {-1,0,1}, |sum t*a| <= 2^30, and the offset form
/// the SIMD kernels use, sum u*a with u in {0,1,2}, stays in [-2^31, 2^31) too: every int32
/// accumulator of every kernel is exact.
constexpr int64_t max_cols = int64_t{1} << 23;
/// Largest supported number of rows (and of tokens in one call).
constexpr int64_t max_rows = (int64_t{1} << 31) - 1;

TERNARY_HOST_DEVICE bool is_valid(format f) {
  return f == format::bits2 || f == format::base3 || f == format::sherry;
}
TERNARY_HOST_DEVICE bool is_valid(scale_granularity g) {
  return g == scale_granularity::per_tensor || g == scale_granularity::per_row ||
         g == scale_granularity::per_group;
}
TERNARY_HOST_DEVICE bool is_valid(scale_type t) {
  return t == scale_type::f32 || t == scale_type::f16;
}

/// Trits per block of a format.
TERNARY_HOST_DEVICE int64_t block_trits(format f) {
  return f == format::base3    ? format_base3::block_trits
         : f == format::sherry ? format_sherry::block_trits
                               : format_bits2::block_trits;
}

/// Bytes per block of a format.
TERNARY_HOST_DEVICE int64_t block_bytes(format f) {
  return f == format::base3    ? format_base3::block_bytes
         : f == format::sherry ? format_sherry::block_bytes
                               : format_bits2::block_bytes;
}

/// Storage bits per weight, excluding scales (2, 1.6, 1.25).
TERNARY_HOST_DEVICE double bits_per_weight(format f) {
  return 8.0 * static_cast<double>(block_bytes(f)) / static_cast<double>(block_trits(f));
}

/// K rounded up to whole blocks: the padded row length the kernels see.
TERNARY_HOST_DEVICE int64_t padded_cols(format f, int64_t cols) {
  const int64_t b = block_trits(f);
  return (cols + b - 1) / b * b;
}

/// Bytes of one packed row.
TERNARY_HOST_DEVICE int64_t row_bytes(format f, int64_t cols) {
  return padded_cols(f, cols) / block_trits(f) * block_bytes(f);
}

/// Trit t (in {-1,0,+1}) at column k of a packed row of format f (k < padded_cols).
TERNARY_HOST_DEVICE int decode_trit(format f, const uint8_t* row, int64_t k) {
  const int64_t b = block_trits(f);
  const uint8_t* block = row + (k / b) * block_bytes(f);
  const int i = static_cast<int>(k % b);
  return f == format::base3    ? format_base3::decode(block, i)
         : f == format::sherry ? format_sherry::decode(block, i)
                               : format_bits2::decode(block, i);
}

/// Short lowercase names: "bits2", "base3", "sherry"; "per_tensor", ...; "f32", "f16".
TERNARY_API const char* format_name(format f) noexcept;
TERNARY_API const char* granularity_name(scale_granularity g) noexcept;
TERNARY_API const char* scale_type_name(scale_type t) noexcept;

}  // namespace ternary
