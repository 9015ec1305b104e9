// SPDX-License-Identifier: Apache-2.0
/// \file
/// GGUF files (versions 2 and 3): a strict reader (memory-mapped, zero-copy) and a streaming v3
/// writer with atomic replacement. docs/IO_FILES.md lists every validation rule and the rule
/// that resolves the type ids shared by upstream ggml and the BitNet fork.
///
/// Every function is noexcept and returns a `ternary::status`; on failure
/// `ternary::last_error_message()` names the file, the key or tensor and the offset.
///
/// Example:
/// \code
///   ternary::io::gguf::reader r;
///   if (ternary::io::gguf::reader::open("model.gguf", &r) != ternary::status::ok) return 1;
///   for (const auto& t : r.tensors())
///     std::printf("%.*s %s\n", int(t.name.size()), t.name.data(), kind_name(t.kind));
/// \endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ternary/config.hpp"
#include "ternary/status.hpp"

namespace ternary {
namespace io {
namespace gguf {

/// Key/value types (ids as stored in the file).
enum class value_type : uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

/// "UINT8", ..., "FLOAT64" ("?" for an invalid value).
TERNARY_API const char* value_type_name(value_type t) noexcept;
/// Bytes of one element of a fixed-size type (0 for string, array and invalid values).
TERNARY_API size_t value_type_size(value_type t) noexcept;

/// Deepest nesting of arrays the reader accepts (an array of arrays has depth 2).
constexpr int max_array_depth = 8;
/// Most dimensions of a tensor.
constexpr int max_dims = 4;
/// Alignment of tensor data when the file has no `general.alignment`.
constexpr uint32_t default_alignment = 32;

/// A key/value value. Non-owning: the reader's values point into its buffer (valid while the
/// reader lives); a value handed to writer::add_value() is copied during the call.
struct value {
  value_type type = value_type::uint8;
  // Scalars: unsigned types and bool in `u`, signed types in `i`, float types in `f`.
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  std::string_view str;  ///< string (UTF-8 is not checked)
  // Arrays:
  value_type elem_type = value_type::uint8;
  uint64_t count = 0;            ///< number of elements
  const uint8_t* raw = nullptr;  ///< fixed-size elements: count * size bytes, little-endian
  std::vector<std::string_view> strings;  ///< string elements
  std::vector<value> arrays;              ///< array elements (nested arrays)

  /// An integer scalar (any integer type) that fits uint64_t / int64_t.
  bool get_u64(uint64_t* out) const noexcept;
  bool get_i64(int64_t* out) const noexcept;
  /// Any numeric or bool scalar as double.
  bool get_f64(double* out) const noexcept;
  /// Element i of a fixed-size array, as the scalar value it encodes (type = elem_type).
  bool element(uint64_t i, value* out) const noexcept;
};

struct key_value {
  std::string_view key;
  value val;
};

/// What a tensor's type id means in its file (see resolve_kind()).
enum class tensor_kind : uint32_t {
  f32,
  f16,
  bf16,
  f64,
  i8,
  i16,
  i32,
  i64,
  tq1_0,
  tq2_0,
  q2_0,     ///< upstream id 42
  mxfp4,    ///< upstream id 39
  i2_s,     ///< BitNet fork id 36: 2-bit trits, x86 128-column layout, fp32 scale in a 32-byte tail
  i8_s,     ///< BitNet fork id 37
  tl1,      ///< BitNet fork id 38 (pre-tiled, model-specific size)
  tl2,      ///< BitNet fork id 39 or 42 (pre-tiled, model-specific size)
  other,    ///< another upstream type whose size is known (Q4_0, Q4_K, IQ2_XXS, ...)
  unknown,  ///< an id whose size this build does not know: listing only
};
TERNARY_API const char* kind_name(tensor_kind k) noexcept;

/// Which family of ggml type ids a file uses, decided by `general.architecture`.
enum class dialect : uint32_t {
  upstream,     ///< any other architecture, or none
  bitnet,       ///< "bitnet": used by upstream llama.cpp and by the BitNet fork
  bitnet_fork,  ///< an architecture only the BitNet fork writes ("bitnet-25", "bitnet-b1.58")
};
TERNARY_API const char* dialect_name(dialect d) noexcept;
/// Dialect of an architecture name (case-insensitive, '_' and '-' equivalent).
TERNARY_API dialect dialect_of_architecture(std::string_view arch) noexcept;

/// Upstream name of a type id ("F32", "Q4_K", "TQ2_0", "MXFP4", ...), or null when unknown.
TERNARY_API const char* upstream_type_name(uint32_t type_id) noexcept;
/// Block size (elements) and bytes per block of an upstream type id. False when unknown or
/// retired.
TERNARY_API bool upstream_type_size(uint32_t type_id, int64_t* block, size_t* block_bytes) noexcept;

/// Resolves a type id within a dialect. `ne` holds the tensor's dimensions (n_dims of them);
/// `available` is the number of bytes from the tensor's offset to the next tensor's offset (or to
/// the end of the data), used as evidence where ids collide. On return `*bytes` is the data size,
/// or 0 with `*size_known` false when it cannot be known (tl1, tl2, i8_s, unknown ids).
TERNARY_API tensor_kind resolve_kind(uint32_t type_id, dialect d, const int64_t* ne, int n_dims,
                                     uint64_t available, uint64_t* bytes,
                                     bool* size_known) noexcept;

struct tensor_info {
  std::string_view name;
  int n_dims = 0;
  int64_t ne[max_dims] = {1, 1, 1, 1};  ///< ne[0] is the row length; unused dimensions are 1
  int64_t numel = 0;
  uint32_t type_id = 0;                     ///< raw id from the file
  tensor_kind kind = tensor_kind::unknown;  ///< resolved id
  uint64_t offset = 0;                      ///< relative to the data section
  bool size_known = false;
  uint64_t bytes = 0;             ///< data size when size_known
  const uint8_t* data = nullptr;  ///< first byte when size_known, else null
};

/// A read-only GGUF file. Movable, not copyable; owns the mapping (or the in-memory copy).
class TERNARY_API reader {
 public:
  reader() noexcept;
  ~reader();
  reader(reader&& other) noexcept;
  reader& operator=(reader&& other) noexcept;
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  /// Memory-maps `path` read-only (falls back to reading it into memory) and validates it.
  static status open(const char* path, reader* out) noexcept;
  /// Validates `size` bytes at `data` as a whole file; the reader keeps its own copy.
  static status open_memory(const void* data, size_t size, reader* out) noexcept;

  bool is_open() const noexcept { return static_cast<bool>(p_); }
  uint32_t version() const noexcept;
  uint32_t alignment() const noexcept;
  dialect file_dialect() const noexcept;
  /// Key/values in file order; lookup by key (null when absent).
  const std::vector<key_value>& kvs() const noexcept;
  const value* find(std::string_view key) const noexcept;
  /// A string value by key (null when absent or not a string).
  const std::string_view* find_string(std::string_view key) const noexcept;
  /// Tensors in file order; lookup by name (null when absent).
  const std::vector<tensor_info>& tensors() const noexcept;
  const tensor_info* find_tensor(std::string_view name) const noexcept;
  /// Data of a tensor; corrupt_data/unsupported with a clear message when its size is unknown.
  status tensor_data(const tensor_info& t, const uint8_t** data, uint64_t* bytes) const noexcept;

  const std::string& source() const noexcept;  ///< path, or "<memory>"
  uint64_t file_size() const noexcept;
  uint64_t data_offset() const noexcept;  ///< file offset of the data section
  bool is_mapped() const noexcept;

  struct impl;

 private:
  std::unique_ptr<impl> p_;
};

/// Builds a GGUF v3 file. Key/values are copied when added; tensor data is referenced and must
/// stay valid until write() returns. Tensors are laid out in insertion order, each padded to the
/// alignment (`general.alignment` when added as UINT32, else 32).
class TERNARY_API writer {
 public:
  writer() noexcept;
  ~writer();
  writer(writer&& other) noexcept;
  writer& operator=(writer&& other) noexcept;
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  // Scalars (keys unique and non-empty).
  status add_u8(std::string_view key, uint8_t v) noexcept;
  status add_i8(std::string_view key, int8_t v) noexcept;
  status add_u16(std::string_view key, uint16_t v) noexcept;
  status add_i16(std::string_view key, int16_t v) noexcept;
  status add_u32(std::string_view key, uint32_t v) noexcept;
  status add_i32(std::string_view key, int32_t v) noexcept;
  status add_f32(std::string_view key, float v) noexcept;
  status add_bool(std::string_view key, bool v) noexcept;
  status add_string(std::string_view key, std::string_view v) noexcept;
  status add_u64(std::string_view key, uint64_t v) noexcept;
  status add_i64(std::string_view key, int64_t v) noexcept;
  status add_f64(std::string_view key, double v) noexcept;
  /// An array of `count` fixed-size elements given in host representation (uint8_t ... double;
  /// bool elements as `bool`).
  status add_array(std::string_view key, value_type elem, const void* values,
                   uint64_t count) noexcept;
  status add_string_array(std::string_view key, const std::vector<std::string>& items) noexcept;
  /// Any value, including nested arrays (e.g. one read from another file).
  status add_value(std::string_view key, const value& v) noexcept;

  /// Adds a tensor. `ne` has n_dims (1..4) entries >= 0. When the type id has a known size in
  /// this writer's dialect (from `general.architecture`, if added before), `bytes` must match it.
  status add_tensor(std::string_view name, const int64_t* ne, int n_dims, uint32_t type_id,
                    const void* data, uint64_t bytes) noexcept;

  size_t tensor_count() const noexcept;
  size_t kv_count() const noexcept;

  /// Writes the file atomically (temporary `path.tmp.XXXXXX` renamed over `path`).
  status write(const char* path) const noexcept;
  status write_memory(std::vector<uint8_t>* out) const noexcept;

  struct impl;

 private:
  std::unique_ptr<impl> p_;
};

}  // namespace gguf
}  // namespace io
}  // namespace ternary
