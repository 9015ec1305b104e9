// SPDX-License-Identifier: Apache-2.0
// BitNet I2_S (bitnet.cpp) and Hugging Face BitNet packed-weight codecs.
//
// I2_S, x86 layout (bitnet.cpp's quantize_i2_s and its Python writer quantize_to_i2_s in
// utils/convert-hf-to-gguf-bitnet.py): the tensor's n = rows * cols weights, flattened
// row-major, form blocks of 128; in block i, byte 32 i + j (j = 0..31) holds elements j, 32 + j,
// 64 + j, 96 + j in bits 7:6, 5:4, 3:2, 1:0, code u = t + 1. After the packed bytes comes a
// 32-byte tail whose first four bytes are the fp32 per-tensor scale (little-endian).
//
// Hugging Face BitNet (transformers, src/transformers/integrations/bitnet.py, pack_weights /
// unpack_weights): `weight` is uint8 [P, in] with P = ceil(out / 4); bits 2i+1:2i of byte
// (r, k) hold output row i * P + r, column k, code u = t + 1. Rows i * P + r >= out are left 0
// by pack_weights. `weight_scale` is 1 / alpha for BitLinear and alpha for AutoBitLinear.
#include <cmath>
#include <cstring>
#include <vector>

#include "detail/error.hpp"
#include "interop/common.hpp"

namespace ternary {
namespace interop {

using ternary::detail::fail;

namespace {

// ---- I2_S element placement of flat index n ----
inline size_t i2s_byte(uint64_t n) {
  return static_cast<size_t>(n / i2_s_block_weights * i2_s_block_bytes + n % 32);
}
inline int i2s_shift(uint64_t n) { return 6 - 2 * static_cast<int>((n % 128) / 32); }

matrix_desc per_tensor_desc(format f, int64_t rows, int64_t cols) {
  matrix_desc d;
  d.fmt = f;
  d.rows = rows;
  d.cols = cols;
  d.granularity = scale_granularity::per_tensor;
  d.scale_dtype = scale_type::f32;
  return d;
}

status import_i2_s_impl(const void* data, size_t bytes, int64_t rows, int64_t cols,
                        const import_options& opt, packed_matrix* out) {
  const char* fn = "import_i2_s";
  if (!out) return fail(status::null_pointer, "%s: out is null", fn);
  if (!data) return fail(status::null_pointer, "%s: data is null", fn);
  status s = detail::check_dims(fn, rows, cols);
  if (s != status::ok) return s;
  if (!is_valid(opt.target))
    return fail(status::invalid_argument, "%s: unknown target format id %u", fn,
                static_cast<unsigned>(opt.target));
  size_t expected = 0;
  s = encoded_size(foreign_format::i2_s, rows, cols, &expected);
  if (s != status::ok) return ternary::detail::with_context(s, fn);
  s = detail::check_bytes(fn, "the I2_S tensor", bytes, expected);
  if (s != status::ok) return s;
  const auto* src = static_cast<const uint8_t*>(data);
  const float alpha = detail::bits_to_float(detail::load_le32(src + expected - i2_s_tail_bytes));
  if (!std::isfinite(alpha))
    return fail(status::invalid_scale, "%s: the scale in the 32-byte tail is %g", fn,
                static_cast<double>(alpha));

  detail::row_builder rb;
  s = rb.init(fn, per_tensor_desc(opt.target, rows, cols));
  if (s != status::ok) return s;
  *static_cast<float*>(rb.scales()) = alpha;
  for (int64_t r = 0; r < rows; ++r) {
    int8_t* t = rb.row();
    const uint64_t base = static_cast<uint64_t>(r) * static_cast<uint64_t>(cols);
    for (int64_t k = 0; k < cols; ++k) {
      const uint64_t n = base + static_cast<uint64_t>(k);
      const int u = (src[i2s_byte(n)] >> i2s_shift(n)) & 3;
      if (u == 3)
        return fail(status::corrupt_data,
                    "%s: row %lld col %lld (byte %zu, bits %d..%d) has code 3, which I2_S never "
                    "writes (codes are 0, 1, 2 for -1, 0, +1)",
                    fn, static_cast<long long>(r), static_cast<long long>(k), i2s_byte(n),
                    i2s_shift(n) + 1, i2s_shift(n));
      t[k] = static_cast<int8_t>(u - 1);
    }
    s = rb.commit(r);
    if (s != status::ok) return s;
  }
  *out = std::move(rb.matrix());
  return status::ok;
}

status export_i2_s_impl(const packed_matrix& m, std::vector<uint8_t>* out) {
  const char* fn = "export_i2_s";
  if (!out) return fail(status::null_pointer, "%s: out is null", fn);
  float alpha = 0.0f;
  status s = detail::single_scale(fn, "I2_S", m, &alpha);
  if (s != status::ok) return s;
  const matrix_view& v = m.view();
  size_t total = 0;
  s = encoded_size(foreign_format::i2_s, v.rows, v.cols, &total);
  if (s != status::ok) return ternary::detail::with_context(s, fn);
  // 0x55 = four codes 1 (t = 0): the padding of a last partial block, as the Python writer pads.
  std::vector<uint8_t> bytes(total - i2_s_tail_bytes, 0x55);
  bytes.resize(total, 0);
  std::vector<int8_t> row(static_cast<size_t>(v.padded_cols));
  for (int64_t r = 0; r < v.rows; ++r) {
    detail::decode_row(v, r, row.data());
    const uint64_t base = static_cast<uint64_t>(r) * static_cast<uint64_t>(v.cols);
    for (int64_t k = 0; k < v.cols; ++k) {
      const uint64_t n = base + static_cast<uint64_t>(k);
      uint8_t& b = bytes[i2s_byte(n)];
      const int sh = i2s_shift(n);
      b = static_cast<uint8_t>((b & ~(3u << sh)) | (static_cast<unsigned>(row[k] + 1) << sh));
    }
  }
  detail::store_le32(bytes.data() + (total - i2_s_tail_bytes), detail::float_to_bits(alpha));
  out->swap(bytes);
  return status::ok;
}

status import_hf_impl(const void* weight, size_t bytes, int64_t out_features, int64_t in_features,
                      float weight_scale, hf_scale_convention convention, const import_options& opt,
                      packed_matrix* out) {
  const char* fn = "import_hf_bitnet";
  if (!out) return fail(status::null_pointer, "%s: out is null", fn);
  if (!weight) return fail(status::null_pointer, "%s: weight is null", fn);
  status s = detail::check_dims(fn, out_features, in_features);
  if (s != status::ok) return s;
  if (!is_valid(opt.target))
    return fail(status::invalid_argument, "%s: unknown target format id %u", fn,
                static_cast<unsigned>(opt.target));
  float alpha;
  if (convention == hf_scale_convention::bitlinear) {
    alpha = 1.0f / weight_scale;  // transformers computes t / weight_scale: the same fp32 value
  } else if (convention == hf_scale_convention::autobitlinear) {
    alpha = weight_scale;
  } else {
    return fail(status::invalid_argument, "%s: unknown weight_scale convention id %u", fn,
                static_cast<unsigned>(convention));
  }
  if (!std::isfinite(alpha))
    return fail(status::invalid_scale, "%s: weight_scale %g gives the scale %g (%s convention)", fn,
                static_cast<double>(weight_scale), static_cast<double>(alpha),
                hf_scale_convention_name(convention));
  size_t expected = 0;
  s = encoded_size(foreign_format::hf_bitnet, out_features, in_features, &expected);
  if (s != status::ok) return ternary::detail::with_context(s, fn);
  s = detail::check_bytes(fn, "the packed weight", bytes, expected);
  if (s != status::ok) return s;

  detail::row_builder rb;
  s = rb.init(fn, per_tensor_desc(opt.target, out_features, in_features));
  if (s != status::ok) return s;
  *static_cast<float*>(rb.scales()) = alpha;
  const auto* src = static_cast<const uint8_t*>(weight);
  const int64_t planes_rows = (out_features + 3) / 4;
  for (int64_t o = 0; o < out_features; ++o) {
    const int64_t i = o / planes_rows, pr = o % planes_rows;
    const uint8_t* prow = src + static_cast<size_t>(pr) * static_cast<size_t>(in_features);
    int8_t* t = rb.row();
    for (int64_t k = 0; k < in_features; ++k) {
      const int u = (prow[k] >> (2 * i)) & 3;
      if (u == 3)
        return fail(status::corrupt_data,
                    "%s: output row %lld col %lld (packed row %lld, bits %d..%d) has code 3, "
                    "which pack_weights never writes (codes are 0, 1, 2 for -1, 0, +1)",
                    fn, static_cast<long long>(o), static_cast<long long>(k),
                    static_cast<long long>(pr), static_cast<int>(2 * i + 1),
                    static_cast<int>(2 * i));
      t[k] = static_cast<int8_t>(u - 1);
    }
    s = rb.commit(o);
    if (s != status::ok) return s;
  }
  *out = std::move(rb.matrix());
  return status::ok;
}

status export_hf_impl(const packed_matrix& m, std::vector<uint8_t>* weight, float* weight_scale,
                      hf_scale_convention convention, bool* scale_exact) {
  const char* fn = "export_hf_bitnet";
  if (!weight) return fail(status::null_pointer, "%s: weight is null", fn);
  if (!weight_scale) return fail(status::null_pointer, "%s: weight_scale is null", fn);
  if (convention != hf_scale_convention::bitlinear &&
      convention != hf_scale_convention::autobitlinear)
    return fail(status::invalid_argument, "%s: unknown weight_scale convention id %u", fn,
                static_cast<unsigned>(convention));
  float alpha = 0.0f;
  status s = detail::single_scale(fn, "Hugging Face BitNet", m, &alpha);
  if (s != status::ok) return s;
  float ws = alpha;
  bool exact = true;
  if (convention == hf_scale_convention::bitlinear) {
    s = detail::hf_bitlinear_scale(fn, alpha, &ws, &exact);
    if (s != status::ok) return s;
  }
  const matrix_view& v = m.view();
  size_t total = 0;
  s = encoded_size(foreign_format::hf_bitnet, v.rows, v.cols, &total);
  if (s != status::ok) return ternary::detail::with_context(s, fn);
  std::vector<uint8_t> bytes(total, 0);  // padding rows keep code 0, as pack_weights leaves them
  std::vector<int8_t> row(static_cast<size_t>(v.padded_cols));
  const int64_t planes_rows = (v.rows + 3) / 4;
  for (int64_t o = 0; o < v.rows; ++o) {
    detail::decode_row(v, o, row.data());
    const int64_t i = o / planes_rows, pr = o % planes_rows;
    uint8_t* prow = bytes.data() + static_cast<size_t>(pr) * static_cast<size_t>(v.cols);
    for (int64_t k = 0; k < v.cols; ++k)
      prow[k] = static_cast<uint8_t>(prow[k] | static_cast<unsigned>(row[k] + 1) << (2 * i));
  }
  weight->swap(bytes);
  *weight_scale = ws;
  if (scale_exact) *scale_exact = exact;
  return status::ok;
}

/// Trailing zero bits of the fp32 significand (23 for a power of two).
int trailing_zero_bits(float f) {
  uint32_t m = detail::float_to_bits(f) & 0x7fffffu;
  if (m == 0) return 23;
  int n = 0;
  while ((m & 1u) == 0) {
    m >>= 1;
    ++n;
  }
  return n;
}

}  // namespace

namespace detail {

status hf_bitlinear_scale(const char* fn, float alpha, float* weight_scale, bool* exact) noexcept {
  const float w0 = 1.0f / alpha;
  if (alpha == 0.0f || !std::isfinite(w0) || w0 == 0.0f)
    return fail(status::unsupported,
                "%s: the scale %g has no finite nonzero inverse, which the bitlinear convention "
                "stores as weight_scale = 1/scale (export with the autobitlinear convention)",
                fn, static_cast<double>(alpha));
  // fp32 division is not an involution: search the floats next to 1/alpha for one whose
  // reciprocal is alpha again, preferring the shortest significand (a bf16 weight_scale read
  // from a checkpoint then comes back unchanged), then the one closest to 1/alpha.
  constexpr int radius = 4;
  float cand[2 * radius + 1];
  cand[0] = w0;
  float toward_zero = w0, away = w0;
  for (int d = 1; d <= radius; ++d) {  // ordered by distance from 1/alpha
    toward_zero = std::nextafter(toward_zero, 0.0f);
    away = std::nextafter(away, w0 > 0.0f ? HUGE_VALF : -HUGE_VALF);
    cand[2 * d - 1] = toward_zero;
    cand[2 * d] = away;
  }
  float best = w0;
  int best_tz = -1;
  for (float c : cand) {
    if (!std::isfinite(c) || c == 0.0f || 1.0f / c != alpha) continue;
    const int tz = trailing_zero_bits(c);
    if (tz > best_tz) {
      best = c;
      best_tz = tz;
    }
  }
  *weight_scale = best_tz >= 0 ? best : w0;
  *exact = best_tz >= 0;
  return status::ok;
}

}  // namespace detail

status import_i2_s(const void* data, size_t bytes, int64_t rows, int64_t cols,
                   const import_options& opt, packed_matrix* out) noexcept {
  return detail::guarded("import_i2_s",
                         [&] { return import_i2_s_impl(data, bytes, rows, cols, opt, out); });
}

status export_i2_s(const packed_matrix& m, std::vector<uint8_t>* out) noexcept {
  return detail::guarded("export_i2_s", [&] { return export_i2_s_impl(m, out); });
}

status import_hf_bitnet(const void* weight, size_t bytes, int64_t out_features, int64_t in_features,
                        float weight_scale, hf_scale_convention convention,
                        const import_options& opt, packed_matrix* out) noexcept {
  return detail::guarded("import_hf_bitnet", [&] {
    return import_hf_impl(weight, bytes, out_features, in_features, weight_scale, convention, opt,
                          out);
  });
}

status export_hf_bitnet(const packed_matrix& m, std::vector<uint8_t>* weight, float* weight_scale,
                        hf_scale_convention convention, bool* scale_exact) noexcept {
  return detail::guarded("export_hf_bitnet", [&] {
    return export_hf_impl(m, weight, weight_scale, convention, scale_exact);
  });
}

}  // namespace interop
}  // namespace ternary
