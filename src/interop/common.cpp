// SPDX-License-Identifier: Apache-2.0
// Names, sizes, the capability check and the shared row/scale machinery of the interop codecs.
#include "interop/common.hpp"

#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "detail/error.hpp"

#include "ternary/half.hpp"

namespace ternary {
namespace interop {

using ternary::detail::fail;

const char* foreign_format_name(foreign_format f) noexcept {
  switch (f) {
    case foreign_format::tq1_0: return "tq1_0";
    case foreign_format::tq2_0: return "tq2_0";
    case foreign_format::i2_s: return "i2_s";
    case foreign_format::hf_bitnet: return "hf_bitnet";
  }
  return "unknown";
}

bool parse_foreign_format(const char* name, foreign_format* out) noexcept {
  if (!name || !out) return false;
  for (foreign_format f : {foreign_format::tq1_0, foreign_format::tq2_0, foreign_format::i2_s,
                           foreign_format::hf_bitnet}) {
    if (std::strcmp(name, foreign_format_name(f)) == 0) {
      *out = f;
      return true;
    }
  }
  return false;
}

const char* hf_scale_convention_name(hf_scale_convention c) noexcept {
  switch (c) {
    case hf_scale_convention::bitlinear: return "bitlinear";
    case hf_scale_convention::autobitlinear: return "autobitlinear";
  }
  return "unknown";
}

bool parse_hf_scale_convention(const char* name, hf_scale_convention* out) noexcept {
  if (!name || !out) return false;
  for (hf_scale_convention c :
       {hf_scale_convention::bitlinear, hf_scale_convention::autobitlinear}) {
    if (std::strcmp(name, hf_scale_convention_name(c)) == 0) {
      *out = c;
      return true;
    }
  }
  return false;
}

status encoded_size(foreign_format f, int64_t rows, int64_t cols, size_t* bytes) noexcept {
  if (!bytes) return fail(status::null_pointer, "encoded_size: bytes is null");
  status s = detail::check_dims("encoded_size", rows, cols);
  if (s != status::ok) return s;
  // rows < 2^31 and cols <= 2^23: every product below stays under 2^62.
  const uint64_t r = static_cast<uint64_t>(rows), c = static_cast<uint64_t>(cols);
  uint64_t n = 0;
  switch (f) {
    case foreign_format::tq1_0:
    case foreign_format::tq2_0:
      if (cols % tq_block_weights != 0)
        return fail(status::invalid_argument,
                    "encoded_size: %s needs cols to be a multiple of %lld, got %lld",
                    foreign_format_name(f), static_cast<long long>(tq_block_weights),
                    static_cast<long long>(cols));
      n = r * (c / tq_block_weights) *
          (f == foreign_format::tq1_0 ? tq1_0_block_bytes : tq2_0_block_bytes);
      break;
    case foreign_format::i2_s: {
      const uint64_t blocks = (r * c + i2_s_block_weights - 1) / i2_s_block_weights;
      n = blocks * i2_s_block_bytes + i2_s_tail_bytes;
      break;
    }
    case foreign_format::hf_bitnet: n = (r + 3) / 4 * c; break;
    default:
      return fail(status::invalid_argument, "encoded_size: unknown foreign format id %u",
                  static_cast<unsigned>(f));
  }
  if (n > std::numeric_limits<size_t>::max())
    return fail(status::size_overflow, "encoded_size: %llu bytes do not fit size_t",
                static_cast<unsigned long long>(n));
  *bytes = static_cast<size_t>(n);
  return status::ok;
}

status check_export(const packed_matrix& m, foreign_format f) noexcept {
  try {
    switch (f) {
      case foreign_format::tq1_0:
      case foreign_format::tq2_0: {
        std::vector<uint16_t> scales;
        const bool tq1 = f == foreign_format::tq1_0;
        return detail::tq_block_scales(tq1 ? "export_tq1_0" : "export_tq2_0",
                                       tq1 ? "TQ1_0" : "TQ2_0", m, &scales);
      }
      case foreign_format::i2_s: {
        float alpha = 0.0f;
        return detail::single_scale("export_i2_s", "I2_S", m, &alpha);
      }
      case foreign_format::hf_bitnet: {
        float alpha = 0.0f, ws = 0.0f;
        bool exact = false;
        status s = detail::single_scale("export_hf_bitnet", "Hugging Face BitNet", m, &alpha);
        if (s != status::ok) return s;
        return detail::hf_bitlinear_scale("export_hf_bitnet", alpha, &ws, &exact);
      }
    }
    return fail(status::invalid_argument, "check_export: unknown foreign format id %u",
                static_cast<unsigned>(f));
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "check_export: out of memory");
  }
}

bool can_export(const packed_matrix& m, foreign_format f, std::string* why) noexcept {
  const status s = check_export(m, f);
  if (s == status::ok) {
    if (why) why->clear();
    return true;
  }
  if (why) {
    try {
      *why = last_error_message();
    } catch (const std::bad_alloc&) {
      why->clear();
    }
  }
  return false;
}

namespace detail {

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

status out_of_memory(const char* fn) noexcept {
  return fail(status::out_of_memory, "%s: out of memory", fn);
}

status check_dims(const char* fn, int64_t rows, int64_t cols) noexcept {
  if (rows <= 0 || cols <= 0)
    return fail(status::invalid_argument,
                "%s: matrix dimensions must be positive, got rows=%lld cols=%lld", fn,
                static_cast<long long>(rows), static_cast<long long>(cols));
  if (rows > max_rows)
    return fail(status::size_overflow, "%s: rows=%lld exceeds the maximum %lld", fn,
                static_cast<long long>(rows), static_cast<long long>(max_rows));
  if (cols > max_cols)
    return fail(status::size_overflow, "%s: cols=%lld exceeds the maximum K=%lld", fn,
                static_cast<long long>(cols), static_cast<long long>(max_cols));
  return status::ok;
}

status check_bytes(const char* fn, const char* what, size_t bytes, size_t expected) noexcept {
  if (bytes < expected)
    return fail(status::buffer_too_small, "%s: %s has %zu bytes, the shape needs %zu", fn, what,
                bytes, expected);
  if (bytes > expected)
    return fail(status::invalid_argument, "%s: %s has %zu bytes, the shape needs exactly %zu", fn,
                what, bytes, expected);
  return status::ok;
}

status row_builder::init(const char* fn, const matrix_desc& d) {
  fn_ = fn;
  status s = packed_matrix::create(d, &m_);
  if (s != status::ok) return ternary::detail::with_context(s, fn);
  cols_ = d.cols;
  padded_ = padded_cols(d.fmt, d.cols);
  row_.assign(static_cast<size_t>(padded_), 0);  // may throw std::bad_alloc: callers catch it
  return status::ok;
}

status row_builder::commit(int64_t r) {
  const format f = m_.fmt();
  int8_t* t = row_.data();
  std::memset(t + cols_, 0, static_cast<size_t>(padded_ - cols_));
  const int64_t bt = block_trits(f), bb = block_bytes(f);
  uint8_t* dst = m_.mutable_weights(0) + r * m_.view().row_bytes;
  if (f == format::sherry) {
    // A quad cut by K: padded lanes meet zero activations, so they complete the 3:4 pattern (the
    // zero goes to the first padded lane unless a real lane already holds it), as pack() does.
    for (int64_t q = cols_ / 4 * 4; q < padded_; q += 4) {
      bool zero_placed = false;
      for (int64_t k = q; k < q + 4 && k < cols_; ++k) zero_placed = zero_placed || t[k] == 0;
      for (int64_t k = q; k < q + 4; ++k) {
        if (k < cols_) continue;
        t[k] = zero_placed ? 1 : 0;
        zero_placed = true;
      }
    }
    for (int64_t b = 0; b < padded_ / bt; ++b) {
      const int bad = format_sherry::encode_block(t + b * bt, dst + b * bb);
      if (bad >= 0) {
        const int64_t col = b * bt + 4 * bad;
        const int64_t last = col + 3 < cols_ ? col + 3 : cols_ - 1;
        return fail(status::invalid_trit,
                    "%s: row %lld cols %lld..%lld (%d %d %d %d) are not a Sherry 3:4 quad "
                    "(exactly one zero among four trits); import into bits2 or base3 instead",
                    fn_, static_cast<long long>(r), static_cast<long long>(col),
                    static_cast<long long>(last), t[col], t[col + 1], t[col + 2], t[col + 3]);
      }
    }
    return status::ok;
  }
  for (int64_t b = 0; b < padded_ / bt; ++b) {
    if (f == format::base3)
      format_base3::encode_block(t + b * bt, dst + b * bb);
    else
      format_bits2::encode_block(t + b * bt, dst + b * bb);
  }
  return status::ok;
}

void decode_row(const matrix_view& v, int64_t r, int8_t* out) {
  const uint8_t* row = v.weights[0] + r * v.row_bytes;
  const int64_t bt = block_trits(v.fmt), bb = block_bytes(v.fmt);
  for (int64_t b = 0; b < v.padded_cols / bt; ++b) {
    if (v.fmt == format::base3)
      format_base3::decode_block(row + b * bb, out + b * bt);
    else if (v.fmt == format::sherry)
      format_sherry::decode_block(row + b * bb, out + b * bt);
    else
      format_bits2::decode_block(row + b * bb, out + b * bt);
  }
}

status check_exportable(const char* fn, const char* target, const packed_matrix& m) noexcept {
  if (m.empty()) return fail(status::invalid_argument, "%s: the matrix is empty", fn);
  if (m.planes() != 1)
    return fail(status::unsupported,
                "%s: the matrix has %d trit-planes; %s holds a single plane (one trit and one "
                "scale per weight), so the sum of planes cannot be stored exactly",
                fn, m.planes(), target);
  if (m.desc().has_bias)
    return fail(status::unsupported, "%s: the matrix has a bias; %s stores none", fn, target);
  return status::ok;
}

namespace {

/// Raw bits of scale i of plane 0 (fp16 bits widened, or fp32 bits) and its fp32 value.
struct raw_scale {
  uint32_t bits;
  float value;
};

raw_scale scale_bits(const matrix_view& v, int64_t i) {
  if (v.scale_dtype == scale_type::f16) {
    const uint16_t h = static_cast<const uint16_t*>(v.scales[0])[i];
    return {h, half_to_float(h)};
  }
  const float f = static_cast<const float*>(v.scales[0])[i];
  return {float_to_bits(f), f};
}

}  // namespace

status single_scale(const char* fn, const char* target, const packed_matrix& m,
                    float* alpha) noexcept {
  status s = check_exportable(fn, target, m);
  if (s != status::ok) return s;
  const matrix_view& v = m.view();
  const int64_t n = m.scale_count();
  const raw_scale first = scale_bits(v, 0);
  for (int64_t i = 1; i < n; ++i) {
    const raw_scale si = scale_bits(v, i);
    if (si.bits != first.bits) {
      const int64_t row = v.granularity == scale_granularity::per_group ? i / v.groups_per_row : i;
      return fail(status::unsupported,
                  "%s: %s holds one scale per tensor, but the %s scales differ (scale 0 = %.9g, "
                  "scale %lld (row %lld) = %.9g)",
                  fn, target, granularity_name(v.granularity), static_cast<double>(first.value),
                  static_cast<long long>(i), static_cast<long long>(row),
                  static_cast<double>(si.value));
    }
  }
  *alpha = first.value;
  return status::ok;
}

status tq_block_scales(const char* fn, const char* target, const packed_matrix& m,
                       std::vector<uint16_t>* scales) {
  status s = check_exportable(fn, target, m);
  if (s != status::ok) return s;
  const matrix_view& v = m.view();
  if (v.cols % tq_block_weights != 0)
    return fail(status::unsupported,
                "%s: %s needs cols to be a multiple of %lld (ggml's QK_K), the matrix has "
                "cols=%lld",
                fn, target, static_cast<long long>(tq_block_weights),
                static_cast<long long>(v.cols));
  const int64_t blocks = v.cols / tq_block_weights;
  scales->resize(static_cast<size_t>(v.rows * blocks));
  for (int64_t r = 0; r < v.rows; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      // Scales covering columns [256 b, 256 b + 256) of row r.
      int64_t first = 0, last = 0;
      if (v.granularity == scale_granularity::per_row) {
        first = last = r;
      } else if (v.granularity == scale_granularity::per_group) {
        first = r * v.groups_per_row + (b * tq_block_weights) / v.group_size;
        last = r * v.groups_per_row + (b * tq_block_weights + tq_block_weights - 1) / v.group_size;
      }
      const raw_scale s0 = scale_bits(v, first);
      for (int64_t i = first + 1; i <= last; ++i) {
        const raw_scale si = scale_bits(v, i);
        if (si.bits != s0.bits)
          return fail(status::unsupported,
                      "%s: row %lld block %lld (cols %lld..%lld) spans scale groups of %lld "
                      "columns with different scales (%.9g and %.9g); %s holds one scale per "
                      "256 columns",
                      fn, static_cast<long long>(r), static_cast<long long>(b),
                      static_cast<long long>(b * tq_block_weights),
                      static_cast<long long>(b * tq_block_weights + tq_block_weights - 1),
                      static_cast<long long>(v.group_size), static_cast<double>(s0.value),
                      static_cast<double>(si.value), target);
      }
      uint16_t h;
      if (v.scale_dtype == scale_type::f16) {
        h = static_cast<uint16_t>(s0.bits);
      } else {
        h = float_to_half(s0.value);
        if (float_to_bits(half_to_float(h)) != s0.bits)
          return fail(status::unsupported,
                      "%s: row %lld block %lld (cols %lld..%lld): the fp32 scale %.9g is not "
                      "exactly representable in fp16 (nearest %.9g); %s stores fp16 scales",
                      fn, static_cast<long long>(r), static_cast<long long>(b),
                      static_cast<long long>(b * tq_block_weights),
                      static_cast<long long>(b * tq_block_weights + tq_block_weights - 1),
                      static_cast<double>(s0.value), static_cast<double>(half_to_float(h)), target);
      }
      (*scales)[static_cast<size_t>(r * blocks + b)] = h;
    }
  }
  return status::ok;
}

}  // namespace detail
}  // namespace interop
}  // namespace ternary
