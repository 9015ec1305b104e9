// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the safetensors and GGUF code: little-endian byte helpers, overflow-checked
// size arithmetic, a read-only file buffer (memory-mapped or read) and output sinks, including
// the atomic file writer (temporary file renamed over the target when complete).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "ternary/status.hpp"

namespace ternary {
namespace io {
namespace detail {

// ---- Little-endian helpers (host independent) -------------------------------------------------
inline uint16_t get_le16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
inline uint32_t get_le32(const uint8_t* p) noexcept {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}
inline uint64_t get_le64(const uint8_t* p) noexcept {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
inline void put_le(uint8_t* p, uint64_t v, int bytes) noexcept {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
/// Appends `bytes` little-endian bytes of v.
void append_le(std::vector<uint8_t>* out, uint64_t v, int bytes);

// ---- Checked arithmetic -------------------------------------------------------------------------
inline bool mul_overflows(uint64_t a, uint64_t b, uint64_t* r) noexcept {
  if (a != 0 && b > UINT64_MAX / a) return true;
  *r = a * b;
  return false;
}
inline bool add_overflows(uint64_t a, uint64_t b, uint64_t* r) noexcept {
  if (b > UINT64_MAX - a) return true;
  *r = a + b;
  return false;
}
/// Rounds v up to a multiple of a power of two `align`; false on overflow.
inline bool align_up(uint64_t v, uint64_t align, uint64_t* r) noexcept {
  uint64_t t = 0;
  if (add_overflows(v, align - 1, &t)) return false;
  *r = t & ~(align - 1);
  return true;
}

/// Rounds a double to the nearest float (ties to even), overflowing to infinity, without the
/// undefined behaviour of a cast from an out-of-range value.
inline float double_to_float(double d) noexcept {
  const double max = 3.4028234663852886e38;  // FLT_MAX
  const double to_inf = 0x1.ffffffp127;      // halfway between FLT_MAX and 2^128
  if (d != d) return NAN;
  if (d > max || d < -max) {
    const float big = (d > 0 ? d : -d) >= to_inf ? HUGE_VALF : 3.4028234663852886e38f;
    return d > 0 ? big : -big;
  }
  return static_cast<float>(d);
}

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF).
bool valid_utf8(const char* s, size_t n) noexcept;

// ---- Input ------------------------------------------------------------------------------------
/// A read-only byte range: a memory-mapped file, or an owned copy.
class file_buffer {
 public:
  file_buffer() noexcept = default;
  ~file_buffer();
  file_buffer(const file_buffer&) = delete;
  file_buffer& operator=(const file_buffer&) = delete;

  /// Maps `path` read-only; when mapping fails (or the file is empty) reads it into memory.
  status open(const char* path) noexcept;
  /// Copies `size` bytes.
  status copy(const void* data, size_t size) noexcept;

  const uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  bool mapped() const noexcept { return map_ != nullptr; }

 private:
  void release() noexcept;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::vector<uint8_t> owned_;
};

// ---- Output -----------------------------------------------------------------------------------
class sink {
 public:
  virtual ~sink() = default;
  /// Appends bytes; records a message and returns the status on failure.
  virtual status put(const void* data, size_t size) noexcept = 0;
  /// Appends `count` zero (or `byte`) bytes.
  status fill(size_t count, uint8_t byte = 0) noexcept;
};

/// Appends to a vector.
class memory_sink final : public sink {
 public:
  explicit memory_sink(std::vector<uint8_t>* out) noexcept : out_(out) {}
  status put(const void* data, size_t size) noexcept override;

 private:
  std::vector<uint8_t>* out_;
};

/// Writes `path.tmp.XXXXXX` in the directory of `path`; commit() renames it over `path`. Any
/// failure, or destruction without commit(), removes the temporary file.
class atomic_file_sink final : public sink {
 public:
  atomic_file_sink() noexcept = default;
  ~atomic_file_sink() override;
  atomic_file_sink(const atomic_file_sink&) = delete;
  atomic_file_sink& operator=(const atomic_file_sink&) = delete;

  status open(const char* path) noexcept;
  status put(const void* data, size_t size) noexcept override;
  status commit() noexcept;

 private:
  void abort() noexcept;
  std::string path_;
  std::string tmp_;
  std::FILE* f_ = nullptr;
};

}  // namespace detail
}  // namespace io
}  // namespace ternary
