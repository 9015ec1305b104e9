// SPDX-License-Identifier: Apache-2.0
// Shared machinery of the interop codecs: building a packed matrix row by row from decoded
// trits, reading trits and scales back for export, and the export preconditions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "ternary/interop.hpp"
#include "ternary/packed_matrix.hpp"

namespace ternary {
namespace interop {
namespace detail {

/// Little-endian field access, byte by byte (the foreign formats are little-endian; the host
/// need not be).
inline uint16_t load_le16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (static_cast<unsigned>(p[1]) << 8));
}
inline void store_le16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xffu);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline void store_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>((v >> (8 * i)) & 0xffu);
}
float bits_to_float(uint32_t u);
uint32_t float_to_bits(float f);

/// Runs f() (which may throw std::bad_alloc from a std::vector) and turns an allocation failure
/// into status::out_of_memory.
status out_of_memory(const char* fn) noexcept;
template <class F>
status guarded(const char* fn, F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return out_of_memory(fn);
  }
}

/// Validates rows/cols as matrix dimensions (positive, within max_rows/max_cols), recording a
/// message prefixed with `fn`.
status check_dims(const char* fn, int64_t rows, int64_t cols) noexcept;

/// Validates the size of an imported buffer against what the shape needs: smaller is
/// buffer_too_small, larger invalid_argument.
status check_bytes(const char* fn, const char* what, size_t bytes, size_t expected) noexcept;

/// Builds an owning single-plane matrix one row at a time: fill row(), then commit(r).
class row_builder {
 public:
  /// Creates the matrix (all trits 0, scales 0). `fn` prefixes messages.
  status init(const char* fn, const matrix_desc& d);
  /// Trit buffer of padded_cols entries; the caller writes columns [0, cols).
  int8_t* row() { return row_.data(); }
  /// Encodes row() as row r (padding columns are filled here; Sherry quads must be 3:4).
  status commit(int64_t r);
  void* scales() { return m_.mutable_scales(0); }
  packed_matrix& matrix() { return m_; }

 private:
  const char* fn_ = "";
  packed_matrix m_;
  std::vector<int8_t> row_;
  int64_t cols_ = 0;
  int64_t padded_ = 0;
};

/// Decodes row r of plane 0 into `out` (padded_cols entries).
void decode_row(const matrix_view& v, int64_t r, int8_t* out);

/// Common export preconditions: a non-empty matrix, one plane, no bias.
status check_exportable(const char* fn, const char* target, const packed_matrix& m) noexcept;

/// The single scale of a matrix whose every scale is bit-identical (per_tensor, or per_row /
/// per_group with all values equal), as fp32; status::unsupported naming the first differing
/// scale otherwise. Includes check_exportable().
status single_scale(const char* fn, const char* target, const packed_matrix& m,
                    float* alpha) noexcept;

/// The fp16 scale of each 256-column block of each row (rows * cols / 256 values, row-major) for
/// a TQ export; status::unsupported naming the row and block when a block has no single scale
/// that fp16 represents exactly. Includes check_exportable() and the cols % 256 check.
status tq_block_scales(const char* fn, const char* target, const packed_matrix& m,
                       std::vector<uint16_t>* scales);

/// The stored weight_scale of a bitlinear export of alpha (see export_hf_bitnet()); status
/// unsupported when alpha has no finite nonzero inverse.
status hf_bitlinear_scale(const char* fn, float alpha, float* weight_scale, bool* exact) noexcept;

}  // namespace detail
}  // namespace interop
}  // namespace ternary
