// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the Ternary Engine tests: deterministic random data, trit matrices
// (including valid Sherry 3:4 patterns), packing of a test case, a scoped ISA override,
// offset (misaligned) buffers and status/message checks.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ternary/ternary.hpp"

// gtest prints enum classes as raw bytes; give the library's enums readable names in failures.
namespace ternary {
inline void PrintTo(status s, std::ostream* os) { *os << status_name(s); }
inline void PrintTo(format f, std::ostream* os) { *os << format_name(f); }
inline void PrintTo(isa i, std::ostream* os) { *os << isa_name(i); }
inline void PrintTo(scale_granularity g, std::ostream* os) { *os << granularity_name(g); }
inline void PrintTo(scale_type t, std::ostream* os) { *os << scale_type_name(t); }
}  // namespace ternary

namespace ternary_test {

using ternary::format;
using ternary::isa;
using ternary::matrix_desc;
using ternary::packed_matrix;
using ternary::scale_granularity;
using ternary::scale_type;
using ternary::status;

// splitmix64: the same sequence on every platform and standard library, unlike <random>'s
// distributions, so a failing seed reproduces everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint32_t u32() { return static_cast<uint32_t>(next() >> 32); }
  /// Uniform integer in [lo, hi].
  int64_t uniform(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  /// Uniform float in [lo, hi).
  float uniform_float(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>(static_cast<double>(next() >> 40) * 0x1p-24);
  }
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1p-53 < p; }

 private:
  uint64_t state_;
};

/// Smallest prime >= n (for "prime leading dimension" strides).
inline int64_t next_prime(int64_t n) {
  if (n <= 2) return 2;
  for (int64_t c = n;; ++c) {
    bool prime = true;
    for (int64_t d = 2; d * d <= c; ++d) {
      if (c % d == 0) {
        prime = false;
        break;
      }
    }
    if (prime) return c;
  }
}

/// Value written into the leading-dimension gap of trit inputs: not a trit, so a packer that
/// reads past K fails loudly.
constexpr int8_t kTritGapFill = 9;

/// rows x cols trits (leading dimension ld), each 0 with probability p_zero, else +-1.
inline std::vector<int8_t> random_trits(Rng& rng, int64_t rows, int64_t cols, int64_t ld,
                                        double p_zero = 1.0 / 3.0) {
  std::vector<int8_t> t(static_cast<size_t>(rows * ld), kTritGapFill);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) {
      t[static_cast<size_t>(r * ld + k)] =
          rng.chance(p_zero) ? int8_t{0} : (rng.chance(0.5) ? int8_t{1} : int8_t{-1});
    }
  }
  return t;
}

/// rows x cols trits that Sherry can store: one zero per quad of 4 columns; in a quad cut by K
/// the real columns hold at most one zero (sometimes none: the padding then takes the zero).
inline std::vector<int8_t> random_sherry_trits(Rng& rng, int64_t rows, int64_t cols, int64_t ld) {
  std::vector<int8_t> t(static_cast<size_t>(rows * ld), kTritGapFill);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t q0 = 0; q0 < cols; q0 += 4) {
      const int64_t real = std::min<int64_t>(4, cols - q0);
      // real == 4: zero lane 0..3; cut quad: lane 0..real-1, or `real` meaning "no zero here".
      const int64_t zero = rng.uniform(0, real == 4 ? 3 : real);
      for (int64_t lane = 0; lane < real; ++lane) {
        t[static_cast<size_t>(r * ld + q0 + lane)] =
            lane == zero ? int8_t{0} : (rng.chance(0.5) ? int8_t{1} : int8_t{-1});
      }
    }
  }
  return t;
}

/// Random scales: magnitudes log-uniform in [2^-8, 4) (not representable in fp16, so f16
/// storage rounds), some negative, an occasional exact zero.
inline std::vector<float> random_scales(Rng& rng, int64_t count) {
  std::vector<float> s(static_cast<size_t>(count));
  for (auto& v : s) {
    if (rng.chance(0.03)) {
      v = 0.0f;
      continue;
    }
    v = std::exp2(rng.uniform_float(-8.0f, 2.0f));
    if (rng.chance(0.2)) v = -v;
  }
  return s;
}

inline std::vector<float> random_floats(Rng& rng, size_t count, float lo, float hi) {
  std::vector<float> v(count);
  for (auto& x : v) x = rng.uniform_float(lo, hi);
  return v;
}

/// The value a scale has once stored with type t (fp16 storage rounds to nearest even).
inline float stored_scale(float s, scale_type t) {
  return t == scale_type::f16 ? ternary::half_to_float(ternary::float_to_half(s)) : s;
}

inline bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// A scale layout: granularity plus group size (0 unless per_group).
struct Gran {
  scale_granularity g;
  int64_t group_size;
};
inline std::string gran_label(const Gran& g) {
  return g.g == scale_granularity::per_group ? "group" + std::to_string(g.group_size)
                                             : ternary::granularity_name(g.g);
}
inline void PrintTo(const Gran& g, std::ostream* os) { *os << gran_label(g); }

/// Every scale layout the tests cover (G = 64, 128, 256 for per_group).
inline const std::vector<Gran>& all_grans() {
  static const std::vector<Gran> v = {{scale_granularity::per_tensor, 0},
                                      {scale_granularity::per_row, 0},
                                      {scale_granularity::per_group, 64},
                                      {scale_granularity::per_group, 128},
                                      {scale_granularity::per_group, 256}};
  return v;
}
inline const std::vector<format>& all_formats() {
  static const std::vector<format> v = {format::bits2, format::base3, format::sherry};
  return v;
}

/// Groups per row and scales per plane, computed from the description (not from the library).
inline int64_t expected_groups_per_row(const matrix_desc& d) {
  return d.granularity == scale_granularity::per_group ? (d.cols + d.group_size - 1) / d.group_size
                                                       : 1;
}
inline int64_t expected_scale_count(const matrix_desc& d) {
  switch (d.granularity) {
    case scale_granularity::per_tensor: return 1;
    case scale_granularity::per_row: return d.rows;
    default: return d.rows * expected_groups_per_row(d);
  }
}

inline matrix_desc make_desc(format f, int64_t rows, int64_t cols, scale_granularity g,
                             int64_t group_size = 0, scale_type dtype = scale_type::f32,
                             int planes = 1, bool bias = false) {
  matrix_desc d;
  d.fmt = f;
  d.rows = rows;
  d.cols = cols;
  d.granularity = g;
  d.group_size = g == scale_granularity::per_group ? group_size : 0;
  d.scale_dtype = dtype;
  d.planes = planes;
  d.has_bias = bias;
  return d;
}

inline std::string describe(const matrix_desc& d) {
  std::ostringstream os;
  os << ternary::format_name(d.fmt) << " N=" << d.rows << " K=" << d.cols << " "
     << ternary::granularity_name(d.granularity);
  if (d.granularity == scale_granularity::per_group) os << "(G=" << d.group_size << ")";
  os << " " << ternary::scale_type_name(d.scale_dtype) << " planes=" << d.planes
     << (d.has_bias ? " bias" : " nobias");
  return os.str();
}

/// A matrix as the test knows it: its trits, the scales given to pack, and bias.
struct TritCase {
  matrix_desc d;
  int64_t ld = 0;  ///< leading dimension of the trit inputs (> cols: the gap holds kTritGapFill)
  std::vector<int8_t> trits[2];
  std::vector<float> scales[2];
  std::vector<float> bias;

  int8_t trit(int p, int64_t row, int64_t k) const {
    return trits[p][static_cast<size_t>(row * ld + k)];
  }
  /// The scale index of (row, column k), from the documented layout.
  int64_t scale_index(int64_t row, int64_t k) const {
    switch (d.granularity) {
      case scale_granularity::per_tensor: return 0;
      case scale_granularity::per_row: return row;
      default: return row * expected_groups_per_row(d) + k / d.group_size;
    }
  }
  /// The scale as stored (after fp16 rounding for f16).
  float scale(int p, int64_t row, int64_t k) const {
    return stored_scale(scales[p][static_cast<size_t>(scale_index(row, k))], d.scale_dtype);
  }
};

inline TritCase make_case(Rng& rng, const matrix_desc& d, int64_t ld_extra = 3) {
  TritCase c;
  c.d = d;
  c.ld = d.cols + ld_extra;
  for (int p = 0; p < d.planes; ++p) {
    c.trits[p] = d.fmt == format::sherry ? random_sherry_trits(rng, d.rows, d.cols, c.ld)
                                         : random_trits(rng, d.rows, d.cols, c.ld);
    c.scales[p] = random_scales(rng, expected_scale_count(d));
  }
  if (d.has_bias) c.bias = random_floats(rng, static_cast<size_t>(d.rows), -2.0f, 2.0f);
  return c;
}

inline status pack_case(const TritCase& c, packed_matrix* out) {
  const int8_t* trits[2] = {c.trits[0].data(), c.d.planes > 1 ? c.trits[1].data() : nullptr};
  const float* scales[2] = {c.scales[0].data(), c.d.planes > 1 ? c.scales[1].data() : nullptr};
  return packed_matrix::pack(c.d, trits, c.ld, scales, c.d.has_bias ? c.bias.data() : nullptr, out);
}

/// Forces an ISA for the lifetime of the object and drops the override afterwards.
class ScopedIsa {
 public:
  explicit ScopedIsa(isa i) : result_(ternary::set_isa(i)) {}
  ~ScopedIsa() { ternary::clear_isa_override(); }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;
  status result() const { return result_; }

 private:
  status result_;
};

inline std::vector<isa> all_isas() { return {isa::scalar, isa::avx2, isa::avx512, isa::neon}; }
inline std::vector<isa> available_isas() {
  std::vector<isa> v;
  for (isa i : all_isas()) {
    if (ternary::isa_available(i)) v.push_back(i);
  }
  return v;
}

/// `count` elements of T starting `offset` elements past a 64-byte-aligned address, every
/// element (and the slack around them) initialised to `fill`: misaligned pointers on demand,
/// and a sentinel to catch writes outside the intended elements.
template <typename T>
class OffsetBuffer {
 public:
  OffsetBuffer(size_t count, size_t offset, T fill)
      : count_(count), raw_(new unsigned char[(count + offset) * sizeof(T) + 128]) {
    void* p = raw_.get();
    size_t space = (count + offset) * sizeof(T) + 128;
    std::align(64, (count + offset) * sizeof(T), p, space);
    base_ = static_cast<T*>(p);
    for (size_t i = 0; i < count + offset; ++i) base_[i] = fill;
    data_ = base_ + offset;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  size_t count_;
  std::unique_ptr<unsigned char[]> raw_;
  T* base_ = nullptr;
  T* data_ = nullptr;
};

// ---- Status and message checks ------------------------------------------------------------

/// Makes the library record a known message, so a later check can tell that the call under
/// test recorded its own (the message survives until the next failing call on the thread).
inline std::string prime_last_error() {
  isa ignored;
  (void)ternary::parse_isa("__primed_message_zz__", &ignored);
  return ternary::last_error_message();
}

inline std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

/// True when the message names one of the keywords: a keyword of 3+ characters as a
/// case-insensitive substring, a shorter one as a whole identifier ("x", "y", "ld").
inline bool mentions(const std::string& message, std::initializer_list<const char*> keywords) {
  const std::string m = lower(message);
  std::vector<std::string> words;
  std::string cur;
  for (char ch : m) {
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') {
      cur += ch;
    } else if (!cur.empty()) {
      words.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(cur);
  for (const char* kw : keywords) {
    const std::string k = lower(kw);
    if (k.size() >= 3) {
      if (m.find(k) != std::string::npos) return true;
    } else if (std::find(words.begin(), words.end(), k) != words.end()) {
      return true;
    }
  }
  return false;
}

inline std::string join(std::initializer_list<const char*> keywords) {
  std::string s;
  for (const char* k : keywords) s += std::string(s.empty() ? "" : ", ") + k;
  return s;
}

}  // namespace ternary_test

/// As EXPECT_TERNARY_ERROR, for a failure the headers allow two statuses for (`a` or `b`; see the
/// report of contract ambiguities).
#define EXPECT_TERNARY_ERROR_EITHER(expr, a, b, ...)                             \
  do {                                                                           \
    const std::string primed_ = ::ternary_test::prime_last_error();              \
    const ::ternary::status st_ = (expr);                                        \
    EXPECT_TRUE(st_ == (a) || st_ == (b))                                        \
        << #expr << " -> " << ::ternary::status_name(st_) << ", expected "       \
        << ::ternary::status_name(a) << " or " << ::ternary::status_name(b);     \
    const std::string msg_ = ::ternary::last_error_message();                    \
    EXPECT_FALSE(msg_.empty()) << #expr << ": empty last_error_message()";       \
    EXPECT_NE(msg_, primed_) << #expr << ": failed without recording a message"; \
    EXPECT_TRUE(::ternary_test::mentions(msg_, {__VA_ARGS__}))                   \
        << #expr << ": message \"" << msg_ << "\" names none of {"               \
        << ::ternary_test::join({__VA_ARGS__}) << "}";                           \
  } while (0)

/// Runs `expr` (a ternary call returning status) and expects `expected`, a fresh non-empty
/// last_error_message() and that the message names one of the keywords that follow.
#define EXPECT_TERNARY_ERROR(expr, expected, ...)                                \
  do {                                                                           \
    const std::string primed_ = ::ternary_test::prime_last_error();              \
    const ::ternary::status st_ = (expr);                                        \
    EXPECT_EQ(st_, expected) << #expr;                                           \
    const std::string msg_ = ::ternary::last_error_message();                    \
    EXPECT_FALSE(msg_.empty()) << #expr << ": empty last_error_message()";       \
    EXPECT_NE(msg_, primed_) << #expr << ": failed without recording a message"; \
    EXPECT_TRUE(::ternary_test::mentions(msg_, {__VA_ARGS__}))                   \
        << #expr << ": message \"" << msg_ << "\" names none of {"               \
        << ::ternary_test::join({__VA_ARGS__}) << "}";                           \
  } while (0)
