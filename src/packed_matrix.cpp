// SPDX-License-Identifier: Apache-2.0
#include "ternary/packed_matrix.hpp"

#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "detail/error.hpp"
#include "detail/layout.hpp"

namespace ternary {
namespace detail {

namespace {
size_t align_up(size_t v) {
  return (v + section_alignment - 1) / section_alignment * section_alignment;
}
}  // namespace

status compute_layout(const matrix_desc& d, storage_layout* out) noexcept {
  if (!is_valid(d.fmt))
    return fail(status::invalid_argument, "unknown format id %u", static_cast<unsigned>(d.fmt));
  if (!is_valid(d.granularity))
    return fail(status::invalid_argument, "unknown scale granularity id %u",
                static_cast<unsigned>(d.granularity));
  if (!is_valid(d.scale_dtype))
    return fail(status::invalid_argument, "unknown scale type id %u",
                static_cast<unsigned>(d.scale_dtype));
  if (d.rows <= 0 || d.cols <= 0)
    return fail(status::invalid_argument,
                "matrix dimensions must be positive, got rows=%lld cols=%lld",
                static_cast<long long>(d.rows), static_cast<long long>(d.cols));
  if (d.rows > max_rows)
    return fail(status::size_overflow, "rows=%lld exceeds the maximum %lld",
                static_cast<long long>(d.rows), static_cast<long long>(max_rows));
  if (d.cols > max_cols)
    return fail(status::size_overflow, "cols=%lld exceeds the maximum K=%lld",
                static_cast<long long>(d.cols), static_cast<long long>(max_cols));
  if (d.planes != 1 && d.planes != 2)
    return fail(status::invalid_argument, "planes must be 1 or 2, got %d", d.planes);
  int64_t groups = 1;
  if (d.granularity == scale_granularity::per_group) {
    if (d.group_size <= 0 || d.group_size % chunk_trits != 0)
      return fail(status::invalid_argument,
                  "group_size must be a positive multiple of %lld for per_group scales, got %lld",
                  static_cast<long long>(chunk_trits), static_cast<long long>(d.group_size));
    groups = (d.cols + d.group_size - 1) / d.group_size;
  } else if (d.group_size != 0) {
    return fail(status::invalid_argument, "group_size=%lld given with %s scales (must be 0)",
                static_cast<long long>(d.group_size), granularity_name(d.granularity));
  }
  storage_layout l;
  l.row_bytes = row_bytes(d.fmt, d.cols);
  l.groups_per_row = groups;
  l.scale_count = scale_count(d.granularity, d.rows, groups);
  // rows < 2^31, row_bytes <= 2^21 and scale_count < 2^48: every product below fits in 64 bits.
  l.weight_bytes = static_cast<size_t>(d.rows) * static_cast<size_t>(l.row_bytes);
  l.scale_bytes = static_cast<size_t>(l.scale_count) * (d.scale_dtype == scale_type::f16 ? 2u : 4u);
  size_t off = 0;
  for (int p = 0; p < d.planes; ++p) {
    l.weights_offset[p] = off;
    off = align_up(off + l.weight_bytes);
    l.scales_offset[p] = off;
    off = align_up(off + l.scale_bytes);
  }
  l.bias_offset = off;
  if (d.has_bias) off = align_up(off + static_cast<size_t>(d.rows) * sizeof(float));
  l.total = off;
  *out = l;
  return status::ok;
}

}  // namespace detail

using detail::fail;

status validate(const matrix_desc& d) noexcept {
  detail::storage_layout l;
  return detail::compute_layout(d, &l);
}

status storage_size(const matrix_desc& d, size_t* bytes) noexcept {
  if (!bytes) return fail(status::null_pointer, "storage_size: bytes is null");
  detail::storage_layout l;
  const status s = detail::compute_layout(d, &l);
  if (s != status::ok) return s;
  *bytes = l.total;
  return status::ok;
}

void packed_matrix::aligned_free::operator()(uint8_t* p) const noexcept {
  ::operator delete(p, std::align_val_t(detail::section_alignment));
}

packed_matrix::packed_matrix(const packed_matrix& other)
    : desc_(other.desc_),
      view_(other.view_),
      storage_(other.storage_),
      storage_bytes_(other.storage_bytes_) {
  if (other.owned_) {
    auto* p = static_cast<uint8_t*>(
        ::operator new(storage_bytes_, std::align_val_t(detail::section_alignment)));
    std::memcpy(p, other.storage_, storage_bytes_);
    owned_.reset(p);
    bind(desc_, p, storage_bytes_);
  }
}

packed_matrix& packed_matrix::operator=(const packed_matrix& other) {
  if (this != &other) {
    packed_matrix copy(other);
    *this = std::move(copy);
  }
  return *this;
}

packed_matrix::packed_matrix(packed_matrix&& other) noexcept
    : desc_(other.desc_),
      view_(other.view_),
      owned_(std::move(other.owned_)),
      storage_(other.storage_),
      storage_bytes_(other.storage_bytes_) {
  other = packed_matrix();
}

packed_matrix& packed_matrix::operator=(packed_matrix&& other) noexcept {
  if (this != &other) {
    desc_ = other.desc_;
    view_ = other.view_;
    owned_ = std::move(other.owned_);
    storage_ = other.storage_;
    storage_bytes_ = other.storage_bytes_;
    other.desc_ = matrix_desc();
    other.view_ = matrix_view();
    other.storage_ = nullptr;
    other.storage_bytes_ = 0;
  }
  return *this;
}

packed_matrix::~packed_matrix() = default;

status packed_matrix::bind(const matrix_desc& d, const uint8_t* storage, size_t bytes) noexcept {
  detail::storage_layout l;
  const status s = detail::compute_layout(d, &l);
  if (s != status::ok) return s;
  if (bytes < l.total)
    return fail(status::buffer_too_small, "storage has %zu bytes, the matrix needs %zu", bytes,
                l.total);
  matrix_view v;
  v.fmt = d.fmt;
  v.granularity = d.granularity;
  v.scale_dtype = d.scale_dtype;
  v.planes = d.planes;
  v.rows = d.rows;
  v.cols = d.cols;
  v.padded_cols = padded_cols(d.fmt, d.cols);
  v.row_bytes = l.row_bytes;
  v.group_size = d.granularity == scale_granularity::per_group ? d.group_size : v.padded_cols;
  v.groups_per_row = l.groups_per_row;
  for (int p = 0; p < d.planes; ++p) {
    v.weights[p] = storage + l.weights_offset[p];
    v.scales[p] = storage + l.scales_offset[p];
  }
  v.bias = d.has_bias ? reinterpret_cast<const float*>(storage + l.bias_offset) : nullptr;
  desc_ = d;
  view_ = v;
  storage_ = storage;
  storage_bytes_ = l.total;
  return status::ok;
}

status packed_matrix::create(const matrix_desc& d, packed_matrix* out) noexcept {
  if (!out) return fail(status::null_pointer, "create: out is null");
  detail::storage_layout l;
  status s = detail::compute_layout(d, &l);
  if (s != status::ok) return detail::with_context(s, "create");
  uint8_t* p = static_cast<uint8_t*>(
      ::operator new(l.total, std::align_val_t(detail::section_alignment), std::nothrow));
  if (!p) return fail(status::out_of_memory, "create: cannot allocate %zu bytes", l.total);
  std::memset(p, 0, l.total);
  // A zero trit is code 1 in bits2 (byte 0x55 = four 1s) and v = 121 -> 128 in base3; Sherry's
  // all-zero bytes decode to (0, +1, +1, +1), the format having no all-zero quad.
  const uint8_t zero_byte = d.fmt == format::bits2 ? 0x55 : d.fmt == format::base3 ? 128 : 0;
  for (int pl = 0; pl < d.planes; ++pl)
    std::memset(p + l.weights_offset[pl], zero_byte, l.weight_bytes);
  packed_matrix m;
  m.owned_.reset(p);
  s = m.bind(d, p, l.total);
  if (s != status::ok) return s;
  *out = std::move(m);
  return status::ok;
}

namespace {

bool half_is_finite(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

// Packs one row of trits (length cols) into `dst`; `row_buf` has padded_cols bytes.
status pack_row(format f, const int8_t* src, int64_t cols, int64_t padded, int8_t* row_buf,
                uint8_t* dst, int plane, int64_t row) {
  for (int64_t k = 0; k < cols; ++k) {
    const int8_t t = src[k];
    if (t < -1 || t > 1)
      return fail(status::invalid_trit, "trit %d at plane %d row %lld col %lld is not -1, 0 or 1",
                  t, plane, static_cast<long long>(row), static_cast<long long>(k));
    row_buf[k] = t;
  }
  std::memset(row_buf + cols, 0, static_cast<size_t>(padded - cols));
  const int64_t bt = block_trits(f), bb = block_bytes(f);
  if (f == format::sherry) {
    // Quads cut by K: padded lanes read zero activations, so they may hold any sign; use them to
    // complete the 3:4 pattern. A quad whose real lanes already hold a zero gets +1 padding; one
    // without a zero gets its first padded lane as the zero.
    const int64_t first_cut = cols / 4 * 4;
    for (int64_t q = first_cut; q < padded; q += 4) {
      int zeros = 0;
      for (int64_t k = q; k < q + 4 && k < cols; ++k) zeros += row_buf[k] == 0;
      bool zero_placed = zeros > 0;
      for (int64_t k = q; k < q + 4; ++k) {
        if (k < cols) continue;
        row_buf[k] = zero_placed ? 1 : 0;
        zero_placed = true;
      }
    }
    for (int64_t b = 0; b < padded / bt; ++b) {
      const int bad = format_sherry::encode_block(row_buf + b * bt, dst + b * bb);
      if (bad >= 0) {
        const int64_t col = b * bt + 4 * bad;
        return fail(status::invalid_trit,
                    "plane %d row %lld cols %lld..%lld are not a Sherry 3:4 quad (exactly one "
                    "zero among four trits)",
                    plane, static_cast<long long>(row), static_cast<long long>(col),
                    static_cast<long long>(col + 3 < cols ? col + 3 : cols - 1));
      }
    }
    return status::ok;
  }
  for (int64_t b = 0; b < padded / bt; ++b) {
    if (f == format::base3)
      format_base3::encode_block(row_buf + b * bt, dst + b * bb);
    else
      format_bits2::encode_block(row_buf + b * bt, dst + b * bb);
  }
  return status::ok;
}

}  // namespace

status packed_matrix::pack(const matrix_desc& d, const int8_t* const* trits, int64_t ld,
                           const float* const* scales, const float* bias,
                           packed_matrix* out) noexcept {
  if (!out) return fail(status::null_pointer, "pack: out is null");
  detail::storage_layout l;
  status s = detail::compute_layout(d, &l);
  if (s != status::ok) return detail::with_context(s, "pack");
  if (!trits) return fail(status::null_pointer, "pack: trits is null");
  if (!scales) return fail(status::null_pointer, "pack: scales is null");
  for (int p = 0; p < d.planes; ++p) {
    if (!trits[p]) return fail(status::null_pointer, "pack: trits of plane %d is null", p);
    if (!scales[p]) return fail(status::null_pointer, "pack: scales of plane %d is null", p);
  }
  if (ld < d.cols)
    return fail(status::buffer_too_small, "pack: leading dimension %lld is less than cols=%lld",
                static_cast<long long>(ld), static_cast<long long>(d.cols));
  if (d.has_bias && !bias)
    return fail(status::null_pointer, "pack: has_bias is set but bias is null");
  if (!d.has_bias && bias)
    return fail(status::invalid_argument, "pack: bias given but desc.has_bias is false");
  for (int p = 0; p < d.planes; ++p) {
    for (int64_t i = 0; i < l.scale_count; ++i) {
      const float v = scales[p][i];
      if (!std::isfinite(v))
        return fail(status::invalid_scale, "pack: scale %lld of plane %d is %g",
                    static_cast<long long>(i), p, static_cast<double>(v));
      if (d.scale_dtype == scale_type::f16 && !half_is_finite(float_to_half(v)))
        return fail(status::invalid_scale, "pack: scale %lld of plane %d (%g) overflows fp16",
                    static_cast<long long>(i), p, static_cast<double>(v));
    }
  }
  if (bias) {
    for (int64_t r = 0; r < d.rows; ++r)
      if (!std::isfinite(bias[r]))
        return fail(status::invalid_scale, "pack: bias of row %lld is %g",
                    static_cast<long long>(r), static_cast<double>(bias[r]));
  }

  packed_matrix m;
  s = create(d, &m);
  if (s != status::ok) return detail::with_context(s, "pack");
  const int64_t padded = padded_cols(d.fmt, d.cols);
  std::vector<int8_t> row_buf;
  try {
    row_buf.resize(static_cast<size_t>(padded));
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "pack: cannot allocate a row buffer");
  }
  for (int p = 0; p < d.planes; ++p) {
    uint8_t* w = m.mutable_weights(p);
    for (int64_t r = 0; r < d.rows; ++r) {
      s = pack_row(d.fmt, trits[p] + r * ld, d.cols, padded, row_buf.data(), w + r * l.row_bytes, p,
                   r);
      if (s != status::ok) return detail::with_context(s, "pack");
    }
    void* dst = m.mutable_scales(p);
    if (d.scale_dtype == scale_type::f16) {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < l.scale_count; ++i) h[i] = float_to_half(scales[p][i]);
    } else {
      std::memcpy(dst, scales[p], l.scale_bytes);
    }
  }
  if (bias) std::memcpy(m.mutable_bias(), bias, static_cast<size_t>(d.rows) * sizeof(float));
  *out = std::move(m);
  return status::ok;
}

status packed_matrix::pack(const matrix_desc& d, const int8_t* trits, int64_t ld,
                           const float* scales, const float* bias, packed_matrix* out) noexcept {
  if (d.planes != 1)
    return fail(status::invalid_argument,
                "pack: the single-plane form needs desc.planes == 1 (got %d); pass arrays of "
                "plane pointers",
                d.planes);
  const int8_t* t[1] = {trits};
  const float* sc[1] = {scales};
  return pack(d, t, ld, sc, bias, out);
}

status packed_matrix::wrap(const matrix_desc& d, const void* storage, size_t bytes,
                           packed_matrix* out) noexcept {
  if (!out) return fail(status::null_pointer, "wrap: out is null");
  if (!storage) return fail(status::null_pointer, "wrap: storage is null");
  if (reinterpret_cast<uintptr_t>(storage) % alignof(float) != 0)
    return fail(status::invalid_argument, "wrap: storage must be at least %zu-byte aligned",
                alignof(float));
  packed_matrix m;
  status s = m.bind(d, static_cast<const uint8_t*>(storage), bytes);
  if (s != status::ok) return detail::with_context(s, "wrap");
  s = m.check_values();
  if (s != status::ok) return detail::with_context(s, "wrap");
  *out = std::move(m);
  return status::ok;
}

status packed_matrix::check_values() const noexcept {
  for (int p = 0; p < view_.planes; ++p) {
    const int64_t n = scale_count();
    for (int64_t i = 0; i < n; ++i) {
      bool finite;
      if (view_.scale_dtype == scale_type::f16)
        finite = half_is_finite(static_cast<const uint16_t*>(view_.scales[p])[i]);
      else
        finite = std::isfinite(static_cast<const float*>(view_.scales[p])[i]);
      if (!finite)
        return fail(status::invalid_scale, "scale %lld of plane %d is not finite",
                    static_cast<long long>(i), p);
    }
  }
  if (view_.bias) {
    for (int64_t r = 0; r < view_.rows; ++r)
      if (!std::isfinite(view_.bias[r]))
        return fail(status::invalid_scale, "bias of row %lld is not finite",
                    static_cast<long long>(r));
  }
  return status::ok;
}

uint8_t* packed_matrix::mutable_weights(int plane) noexcept {
  if (!owned_ || plane < 0 || plane >= view_.planes) return nullptr;
  return const_cast<uint8_t*>(view_.weights[plane]);
}

void* packed_matrix::mutable_scales(int plane) noexcept {
  if (!owned_ || plane < 0 || plane >= view_.planes) return nullptr;
  return const_cast<void*>(view_.scales[plane]);
}

float* packed_matrix::mutable_bias() noexcept {
  if (!owned_) return nullptr;
  return const_cast<float*>(view_.bias);
}

namespace {
status check_plane(const packed_matrix& m, int plane, const void* out, const char* fn) {
  if (m.empty()) return fail(status::invalid_argument, "%s: the matrix is empty", fn);
  if (plane < 0 || plane >= m.planes())
    return fail(status::invalid_argument, "%s: plane %d does not exist (the matrix has %d)", fn,
                plane, m.planes());
  if (!out) return fail(status::null_pointer, "%s: out is null", fn);
  return status::ok;
}
}  // namespace

status packed_matrix::unpack_trits(int plane, int8_t* out, int64_t ld) const noexcept {
  status s = check_plane(*this, plane, out, "unpack_trits");
  if (s != status::ok) return s;
  if (ld < view_.cols)
    return fail(status::buffer_too_small, "unpack_trits: leading dimension %lld < cols=%lld",
                static_cast<long long>(ld), static_cast<long long>(view_.cols));
  for (int64_t r = 0; r < view_.rows; ++r)
    for (int64_t k = 0; k < view_.cols; ++k)
      out[r * ld + k] = static_cast<int8_t>(trit_at(view_, plane, r, k));
  return status::ok;
}

status packed_matrix::unpack_scales(int plane, float* out) const noexcept {
  status s = check_plane(*this, plane, out, "unpack_scales");
  if (s != status::ok) return s;
  const int64_t n = scale_count();
  for (int64_t i = 0; i < n; ++i) {
    out[i] = view_.scale_dtype == scale_type::f16
                 ? half_to_float(static_cast<const uint16_t*>(view_.scales[plane])[i])
                 : static_cast<const float*>(view_.scales[plane])[i];
  }
  return status::ok;
}

status packed_matrix::dequantize(float* out, int64_t ld) const noexcept {
  status s = check_plane(*this, 0, out, "dequantize");
  if (s != status::ok) return s;
  if (ld < view_.cols)
    return fail(status::buffer_too_small, "dequantize: leading dimension %lld < cols=%lld",
                static_cast<long long>(ld), static_cast<long long>(view_.cols));
  for (int64_t r = 0; r < view_.rows; ++r) {
    for (int64_t k = 0; k < view_.cols; ++k) {
      float v = 0.0f;
      for (int p = 0; p < view_.planes; ++p) {
        const int64_t g =
            view_.granularity == scale_granularity::per_group ? k / view_.group_size : 0;
        v += static_cast<float>(trit_at(view_, p, r, k)) * scale_at(view_, p, r, g);
      }
      out[r * ld + k] = v;
    }
  }
  return status::ok;
}

}  // namespace ternary
