// SPDX-License-Identifier: Apache-2.0
/// \file
/// safetensors files: a strict reader (memory-mapped, zero-copy), a streaming writer with atomic
/// replacement, and the convention that stores the library's packed matrices in such a file
/// (docs/IO_FILES.md describes every rule).
///
/// Layout of a file: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (an object
/// mapping tensor names to {"dtype", "shape", "data_offsets"}, plus an optional
/// "__metadata__" object of string values), then the data buffer. Offsets are relative to the
/// start of the buffer.
///
/// Every function is noexcept and returns a `ternary::status`; on failure
/// `ternary::last_error_message()` names the file, the tensor and the offending field.
///
/// Example:
/// \code
///   ternary::io::safetensors::reader r;
///   if (ternary::io::safetensors::reader::open("model.safetensors", &r) != ternary::status::ok)
///     std::fprintf(stderr, "%s\n", ternary::last_error_message());
///   for (const auto& t : r.tensors()) std::printf("%s %s\n", t.name.c_str(), dtype_name(t.dtype));
/// \endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ternary/config.hpp"
#include "ternary/packed_matrix.hpp"
#include "ternary/status.hpp"

namespace ternary {
namespace io {
namespace safetensors {

/// Element types of the safetensors specification.
enum class dtype : uint32_t {
  f64,
  f32,
  f16,
  bf16,
  i64,
  i32,
  i16,
  i8,
  u64,
  u32,
  u16,
  u8,
  boolean,  ///< "BOOL", one byte per element
  f8_e4m3,  ///< "F8_E4M3" (the "fn" variant: no infinity, NaN = S.1111.111)
  f8_e5m2,  ///< "F8_E5M2"
};

/// Spelling in the file: "F64", "F32", ..., "BOOL", "F8_E4M3", "F8_E5M2" ("?" for an invalid
/// value).
TERNARY_API const char* dtype_name(dtype t) noexcept;
/// Bytes per element (0 for an invalid value).
TERNARY_API size_t dtype_size(dtype t) noexcept;
/// Parses the spelling used in files (case-sensitive). Returns false for an unknown name.
TERNARY_API bool parse_dtype(std::string_view name, dtype* out) noexcept;

/// Largest tensor rank accepted by the reader and the writer.
constexpr int max_rank = 8;
/// Largest accepted JSON header (bytes).
constexpr uint64_t max_header_bytes = uint64_t{100} << 20;

/// A tensor of an open file. Pointers stay valid while the reader that produced them lives
/// (moving the reader keeps them valid).
struct tensor_info {
  std::string name;
  dtype type = dtype::u8;
  std::vector<int64_t> shape;     ///< empty for a scalar
  int64_t numel = 0;              ///< product of shape (1 for a scalar)
  uint64_t begin = 0;             ///< data_offsets[0], relative to the data buffer
  uint64_t end = 0;               ///< data_offsets[1]
  const uint8_t* data = nullptr;  ///< first byte (no alignment guarantee; null when empty)
  size_t bytes() const noexcept { return static_cast<size_t>(end - begin); }
};

/// A read-only safetensors file. Movable, not copyable; owns the mapping (or the in-memory copy).
class TERNARY_API reader {
 public:
  reader() noexcept;
  ~reader();
  reader(reader&& other) noexcept;
  reader& operator=(reader&& other) noexcept;
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  /// Memory-maps `path` read-only (falls back to reading it into memory) and validates it.
  /// corrupt_data: the file breaks a rule of docs/IO_FILES.md; io_error: the OS refused.
  static status open(const char* path, reader* out) noexcept;
  /// Validates `size` bytes at `data` as a whole file; the reader keeps its own copy.
  static status open_memory(const void* data, size_t size, reader* out) noexcept;

  bool is_open() const noexcept { return static_cast<bool>(p_); }
  /// Tensors in the order of their data (ascending offsets; the file's order).
  const std::vector<tensor_info>& tensors() const noexcept;
  /// Tensor by name, or null.
  const tensor_info* find(std::string_view name) const noexcept;
  /// "__metadata__" entries in the order of the file (empty when absent).
  const std::vector<std::pair<std::string, std::string>>& metadata() const noexcept;
  /// Metadata value by key, or null.
  const std::string* find_metadata(std::string_view key) const noexcept;

  /// Path given to open() ("<memory>" for open_memory()).
  const std::string& source() const noexcept;
  uint64_t file_size() const noexcept;
  uint64_t header_size() const noexcept;  ///< N, the JSON header length
  uint64_t data_offset() const noexcept;  ///< 8 + N: file offset of the data buffer
  bool is_mapped() const noexcept;        ///< true when the file is memory-mapped

  struct impl;

 private:
  std::unique_ptr<impl> p_;
};

/// Converts a tensor to fp32 (`out` holds `capacity` >= numel floats). F32/F16/BF16/F64 and
/// both F8 types convert by value (F64 rounds to nearest, overflowing to infinity); integer
/// types convert to the nearest float. BOOL is rejected (status::unsupported).
TERNARY_API status to_f32(const tensor_info& t, float* out, size_t capacity) noexcept;

/// A contiguous piece of a tensor's bytes (see writer::add_tensor_pieces).
struct data_piece {
  const void* data = nullptr;
  size_t bytes = 0;
};

/// Builds a safetensors file. Tensor data is referenced, not copied: every pointer given to
/// add_tensor() must stay valid until write() returns. The header lists tensors in insertion
/// order with consecutive data offsets; it is padded with spaces so the data buffer starts at a
/// multiple of 8 bytes.
class TERNARY_API writer {
 public:
  writer() noexcept;
  ~writer();
  writer(writer&& other) noexcept;
  writer& operator=(writer&& other) noexcept;
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  /// Adds a string entry of "__metadata__" (keys unique, valid UTF-8).
  status add_metadata(std::string_view key, std::string_view value) noexcept;
  /// Adds a tensor: unique non-empty UTF-8 name other than "__metadata__", rank <= max_rank,
  /// non-negative dimensions, `bytes` == numel * dtype_size(type). `data` may be null only
  /// when bytes is 0.
  status add_tensor(std::string_view name, dtype type, const int64_t* shape, int rank,
                    const void* data, size_t bytes) noexcept;
  status add_tensor(std::string_view name, dtype type, const std::vector<int64_t>& shape,
                    const void* data, size_t bytes) noexcept;
  /// As add_tensor(), the bytes being the concatenation of `count` pieces.
  status add_tensor_pieces(std::string_view name, dtype type, const std::vector<int64_t>& shape,
                           const data_piece* pieces, size_t count) noexcept;

  size_t tensor_count() const noexcept;
  bool has_tensor(std::string_view name) const noexcept;
  bool has_metadata(std::string_view key) const noexcept;
  /// Bytes the file will have.
  status file_size(uint64_t* bytes) const noexcept;

  /// Writes the file atomically: a temporary `path.tmp.XXXXXX` in the same directory is
  /// renamed over `path` when complete; on failure it is removed and `path` is untouched.
  status write(const char* path) const noexcept;
  /// The file's bytes in memory.
  status write_memory(std::vector<uint8_t>* out) const noexcept;

  struct impl;

 private:
  std::unique_ptr<impl> p_;
};

// ---- Packed matrices ------------------------------------------------------------------------
// A packed matrix `name` is stored as (docs/IO_FILES.md, "Packed matrices"):
//   tensor `name`                  U8  [planes, rows, row_bytes]   packed trits, plane by plane
//   tensor `name.ternary_scale`    F32 or F16 [planes, scale_count]
//   tensor `name.ternary_bias`     F32 [rows]                      (only with a bias)
//   metadata `ternary.name`        compact JSON: {"format","rows","cols","granularity",
//                                  "group_size","scale_dtype","planes","bias","layout_version",
//                                  extras...}

/// Extra string fields of a packed matrix's description (e.g. {"method", "absmean"}).
using string_pairs = std::vector<std::pair<std::string, std::string>>;

/// Adds the tensors and the metadata entry of `m` to `w`. `m` must stay alive and unchanged
/// until `w.write()` returns (its storage is referenced). Extras may not reuse a reserved key.
TERNARY_API status store_packed(writer& w, std::string_view name, const packed_matrix& m,
                                const string_pairs& extras = {}) noexcept;
/// Loads the packed matrix `name` into an owning matrix, validating the description against the
/// tensors, then the scale and bias values. `extras` (optional) receives the extra string
/// fields of the description.
TERNARY_API status load_packed(const reader& r, std::string_view name, packed_matrix* out,
                               string_pairs* extras = nullptr) noexcept;
/// Names of the packed matrices of a file: metadata keys "ternary.<name>" for which a tensor
/// `<name>` exists, in metadata order.
TERNARY_API status list_packed(const reader& r, std::vector<std::string>* names) noexcept;

}  // namespace safetensors
}  // namespace io
}  // namespace ternary
