// SPDX-License-Identifier: Apache-2.0
/// \file
/// `packed_matrix`: a packed ternary weight matrix that owns its bytes or views someone else's
/// (a memory-mapped file, an engine's arena), knows its shape, format, scale layout and layout
/// version, and can be saved to and loaded from a versioned, checksummed container
/// (docs/FORMATS.md describes the container byte by byte).
///
/// Storage of a matrix is one contiguous buffer, sections 64-byte aligned, in this order:
///   plane 0 weights, plane 0 scales, [plane 1 weights, plane 1 scales,] [bias (fp32)].
/// `storage_size()` gives its size; `wrap()` views such a buffer without copying.
///
/// Example:
/// \code
///   ternary::matrix_desc d;
///   d.fmt = ternary::format::bits2;
///   d.rows = n; d.cols = k;                       // N outputs, K inputs
///   d.granularity = ternary::scale_granularity::per_row;
///   ternary::packed_matrix w;
///   if (ternary::packed_matrix::pack(d, trits, k, row_scales, nullptr, &w) != ternary::status::ok)
///     std::fprintf(stderr, "%s\n", ternary::last_error_message());
/// \endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ternary/config.hpp"
#include "ternary/matrix_view.hpp"
#include "ternary/status.hpp"

namespace ternary {

/// What a packed matrix is, before it has bytes.
struct matrix_desc {
  format fmt = format::bits2;
  int64_t rows = 0;  ///< N (outputs)
  int64_t cols = 0;  ///< K (inputs, reduction); need not be a multiple of the block
  scale_granularity granularity = scale_granularity::per_row;
  int64_t group_size = 0;  ///< per_group only: a positive multiple of 64 (chunk_trits)
  scale_type scale_dtype = scale_type::f32;
  int planes = 1;         ///< 1, or 2 for trit-plane (PTQTP) weights
  bool has_bias = false;  ///< a per-row fp32 bias added to the outputs
};

/// Checks a description: positive sizes within max_rows/max_cols, known enums, a group size that
/// is a positive multiple of 64 for per_group (and 0 otherwise), 1 or 2 planes.
TERNARY_API status validate(const matrix_desc& d) noexcept;

/// Byte size of the storage buffer of a matrix with this description (each section, the last
/// included, is rounded up to a multiple of 64 bytes). Dimensions above max_rows / max_cols give
/// status::size_overflow.
TERNARY_API status storage_size(const matrix_desc& d, size_t* bytes) noexcept;

class TERNARY_API packed_matrix {
 public:
  packed_matrix() noexcept = default;
  packed_matrix(const packed_matrix& other);
  packed_matrix& operator=(const packed_matrix& other);
  packed_matrix(packed_matrix&& other) noexcept;
  packed_matrix& operator=(packed_matrix&& other) noexcept;
  ~packed_matrix();

  /// Allocates an owning matrix with every trit 0 (Sherry: the pattern 0,+1,+1,+1, the format
  /// having no all-zero quad), every scale 0 and bias 0. Importers fill it through the
  /// mutable_* accessors.
  static status create(const matrix_desc& d, packed_matrix* out) noexcept;

  /// Packs trits into an owning matrix. `trits[p]` is an N x K row-major int8 matrix with leading
  /// dimension `ld` >= K and values in {-1,0,+1}; `scales[p]` holds scale_count() fp32 values
  /// (rounded to fp16 when d.scale_dtype is f16); `bias` holds N values when d.has_bias (else
  /// it must be null). Sherry needs exactly one zero in each quad of 4 columns; in a quad cut by
  /// K the real columns may hold at most one zero and the padding fills the rest.
  static status pack(const matrix_desc& d, const int8_t* const* trits, int64_t ld,
                     const float* const* scales, const float* bias, packed_matrix* out) noexcept;
  /// Single-plane convenience form of pack().
  static status pack(const matrix_desc& d, const int8_t* trits, int64_t ld, const float* scales,
                     const float* bias, packed_matrix* out) noexcept;

  /// Views an existing storage buffer laid out as described above (no copy). The buffer must
  /// outlive the view and stay unchanged; scales and bias are validated (finite) on wrap.
  static status wrap(const matrix_desc& d, const void* storage, size_t bytes,
                     packed_matrix* out) noexcept;

  /// Writes the container to `path` atomically: a temporary file in the same directory is
  /// renamed over `path` only when complete, so `path` is never left half-written.
  status save(const char* path) const noexcept;
  /// Reads and validates a container (magic, version, header fields, sizes, both checksums).
  static status load(const char* path, packed_matrix* out) noexcept;
  /// Container bytes in memory.
  status serialize(std::vector<uint8_t>* out) const noexcept;
  /// Parses container bytes; the result owns a copy.
  static status deserialize(const void* data, size_t size, packed_matrix* out) noexcept;

  /// Unpacks plane p into an N x K int8 matrix (leading dimension ld >= K).
  status unpack_trits(int plane, int8_t* out, int64_t ld) const noexcept;
  /// Copies plane p's scales as fp32 (scale_count() values).
  status unpack_scales(int plane, float* out) const noexcept;
  /// Dense fp32 W-hat (N x K, leading dimension ld), all planes summed.
  status dequantize(float* out, int64_t ld) const noexcept;

  bool empty() const noexcept { return view_.rows == 0; }
  bool owns_storage() const noexcept { return static_cast<bool>(owned_); }
  const matrix_desc& desc() const noexcept { return desc_; }
  const matrix_view& view() const noexcept { return view_; }
  int64_t rows() const noexcept { return view_.rows; }
  int64_t cols() const noexcept { return view_.cols; }
  format fmt() const noexcept { return view_.fmt; }
  int planes() const noexcept { return view_.planes; }
  int64_t scale_count() const noexcept {
    return ternary::scale_count(view_.granularity, view_.rows, view_.groups_per_row);
  }
  /// Bytes of packed trits of all planes (what a GEMV streams), excluding scales and bias.
  size_t weight_bytes() const noexcept {
    return static_cast<size_t>(view_.row_bytes) * static_cast<size_t>(view_.rows) *
           static_cast<size_t>(view_.planes);
  }
  const void* storage() const noexcept { return storage_; }
  size_t storage_bytes() const noexcept { return storage_bytes_; }

  /// Writable sections of an owning matrix (null for a view). After writing scales or bias
  /// through them, call check_values() to reject NaN/Inf before running kernels.
  uint8_t* mutable_weights(int plane) noexcept;
  void* mutable_scales(int plane) noexcept;
  float* mutable_bias() noexcept;
  /// Rejects non-finite scales or bias with a message naming the plane and index.
  status check_values() const noexcept;

 private:
  struct aligned_free {
    void operator()(uint8_t* p) const noexcept;
  };
  status bind(const matrix_desc& d, const uint8_t* storage, size_t bytes) noexcept;

  matrix_desc desc_{};
  matrix_view view_{};
  std::unique_ptr<uint8_t, aligned_free> owned_;
  const uint8_t* storage_ = nullptr;
  size_t storage_bytes_ = 0;
};

}  // namespace ternary
