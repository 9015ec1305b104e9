// SPDX-License-Identifier: Apache-2.0
// GGUF TQ2_0 / TQ1_0 codecs and ggml's reference quantizers.
//
// Layouts (ggml/src/ggml-common.h, block_tq1_0 and block_tq2_0; QK_K = 256):
//   block_tq2_0 { uint8_t qs[64]; ggml_half d; }             66 bytes
//     element e of the block: byte 32 * (e / 128) + e % 32, bits 2 * ((e % 128) / 32) + 1..+0,
//     code u = t + 1 (quantize_row_tq2_0_ref / dequantize_row_tq2_0 in ggml-quants.c).
//   block_tq1_0 { uint8_t qs[48]; uint8_t qh[4]; ggml_half d; }  54 bytes
//     e in [0,160):   qs[e % 32],               base-3 digit e / 32
//     e in [160,240): qs[32 + (e - 160) % 16],  digit (e - 160) / 16
//     e in [240,256): qh[(e - 240) % 4],        digit (e - 240) / 4 (digit 4 is a 0 pad)
//     a byte holds ceil(v * 256 / 243) with v = sum_n u_n * 3^(4-n), digit 0 most significant
//     (quantize_row_tq1_0_ref / dequantize_row_tq1_0 in ggml-quants.c); that is exactly the
//     library's base3 byte encoding (format/base3.hpp).
//   d is IEEE fp16, little-endian, at the END of the block; ggml decodes (u - 1) * d.
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "detail/error.hpp"
#include "interop/common.hpp"

#include "ternary/half.hpp"

namespace ternary {
namespace interop {

using ternary::detail::fail;

namespace {

enum class tq { one, two };

const char* tq_name(tq k) { return k == tq::one ? "TQ1_0" : "TQ2_0"; }
size_t tq_block_bytes(tq k) { return k == tq::one ? tq1_0_block_bytes : tq2_0_block_bytes; }

// ---- TQ2_0 element placement ----
inline int tq2_byte(int e) { return 32 * (e >> 7) + (e & 31); }
inline int tq2_shift(int e) { return 2 * ((e & 127) >> 5); }

// ---- TQ1_0 element placement: byte index and base-3 digit of element e ----
inline void tq1_place(int e, int* byte, int* digit) {
  if (e < 160) {
    *byte = e & 31;
    *digit = e >> 5;
  } else if (e < 240) {
    *byte = 32 + ((e - 160) & 15);
    *digit = (e - 160) >> 4;
  } else {
    *byte = 48 + ((e - 240) & 3);
    *digit = (e - 240) >> 2;
  }
}

/// The 256 possible TQ1_0 bytes: their five digits and whether ggml's encoder can produce them.
struct tq1_table {
  uint8_t digits[256][5];
  bool valid[256];     ///< some v <= 242 encodes to this byte
  bool valid_qh[256];  ///< valid, and the pad digit 4 is 0 (a qh byte)
  tq1_table() {
    for (int b = 0; b < 256; ++b) {
      int u[5];
      for (int n = 0; n < 5; ++n) {
        u[n] = format_base3::decode_code_byte(static_cast<uint8_t>(b), n);
        digits[b][n] = static_cast<uint8_t>(u[n]);
      }
      valid[b] = format_base3::encode_byte(u) == b;
      valid_qh[b] = valid[b] && u[4] == 0;  // ggml's q *= 3 writes a 0 pad digit
    }
  }
};

const tq1_table& tq1() {
  static const tq1_table table;
  return table;
}

/// Decodes one block into 256 trits; returns the first bad byte/element index or -1.
/// For TQ2_0 the index is an element (code 3); for TQ1_0 a byte offset in the block.
int decode_tq_block(tq k, const uint8_t* blk, int8_t* t) {
  if (k == tq::two) {
    for (int e = 0; e < 256; ++e) {
      const int u = (blk[tq2_byte(e)] >> tq2_shift(e)) & 3;
      if (u == 3) return e;
      t[e] = static_cast<int8_t>(u - 1);
    }
    return -1;
  }
  const tq1_table& tab = tq1();
  for (int j = 0; j < 52; ++j) {
    if (j < 48 ? !tab.valid[blk[j]] : !tab.valid_qh[blk[j]]) return j;
  }
  for (int e = 0; e < 256; ++e) {
    int byte, digit;
    tq1_place(e, &byte, &digit);
    t[e] = static_cast<int8_t>(tab.digits[blk[byte]][digit] - 1);
  }
  return -1;
}

/// Encodes 256 trits and the fp16 scale bits into one block.
void encode_tq_block(tq k, const int8_t* t, uint16_t d, uint8_t* blk) {
  if (k == tq::two) {
    std::memset(blk, 0, 64);
    for (int e = 0; e < 256; ++e)
      blk[tq2_byte(e)] =
          static_cast<uint8_t>(blk[tq2_byte(e)] | static_cast<unsigned>(t[e] + 1) << tq2_shift(e));
    detail::store_le16(blk + 64, d);
    return;
  }
  int u[52][5];
  for (int j = 0; j < 52; ++j) u[j][4] = 0;  // qh pad digit (ggml's q *= 3)
  for (int e = 0; e < 256; ++e) {
    int byte, digit;
    tq1_place(e, &byte, &digit);
    u[byte][digit] = t[e] + 1;
  }
  for (int j = 0; j < 52; ++j) blk[j] = format_base3::encode_byte(u[j]);
  detail::store_le16(blk + 52, d);
}

status import_tq(tq k, const char* fn, const void* blocks, size_t bytes, int64_t rows, int64_t cols,
                 const import_options& opt, packed_matrix* out) {
  if (!out) return fail(status::null_pointer, "%s: out is null", fn);
  if (!blocks) return fail(status::null_pointer, "%s: blocks is null", fn);
  status s = detail::check_dims(fn, rows, cols);
  if (s != status::ok) return s;
  if (cols % tq_block_weights != 0)
    return fail(status::invalid_argument,
                "%s: %s needs cols to be a multiple of %lld (ggml's QK_K), got cols=%lld", fn,
                tq_name(k), static_cast<long long>(tq_block_weights), static_cast<long long>(cols));
  if (!is_valid(opt.target))
    return fail(status::invalid_argument, "%s: unknown target format id %u", fn,
                static_cast<unsigned>(opt.target));
  size_t expected = 0;
  s = encoded_size(k == tq::one ? foreign_format::tq1_0 : foreign_format::tq2_0, rows, cols,
                   &expected);
  if (s != status::ok) return ternary::detail::with_context(s, fn);
  s = detail::check_bytes(fn, "the block buffer", bytes, expected);
  if (s != status::ok) return s;

  matrix_desc d;
  d.fmt = opt.target;
  d.rows = rows;
  d.cols = cols;
  d.granularity = scale_granularity::per_group;
  d.group_size = tq_block_weights;
  d.scale_dtype = scale_type::f16;
  detail::row_builder rb;
  s = rb.init(fn, d);
  if (s != status::ok) return s;
  auto* scales = static_cast<uint16_t*>(rb.scales());
  const auto* src = static_cast<const uint8_t*>(blocks);
  const int64_t nb = cols / tq_block_weights;
  const size_t bb = tq_block_bytes(k);
  for (int64_t r = 0; r < rows; ++r) {
    int8_t* t = rb.row();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = src + static_cast<size_t>(r * nb + b) * bb;
      const int bad = decode_tq_block(k, blk, t + b * tq_block_weights);
      if (bad >= 0) {
        if (k == tq::two)
          return fail(status::corrupt_data,
                      "%s: row %lld block %lld: element %d (col %lld) has code 3, which TQ2_0 "
                      "never writes (codes are 0, 1, 2 for -1, 0, +1)",
                      fn, static_cast<long long>(r), static_cast<long long>(b), bad,
                      static_cast<long long>(b * tq_block_weights + bad));
        return fail(status::corrupt_data,
                    "%s: row %lld block %lld: %s byte %d is 0x%02x, which no TQ1_0 encoding "
                    "produces%s",
                    fn, static_cast<long long>(r), static_cast<long long>(b),
                    bad < 48 ? "qs" : "qh", bad < 48 ? bad : bad - 48, blk[bad],
                    bad >= 48 && tq1().valid[blk[bad]] ? " (its padding digit is not 0)" : "");
      }
      const uint16_t h = detail::load_le16(blk + bb - 2);
      if ((h & 0x7c00u) == 0x7c00u)
        return fail(status::invalid_scale,
                    "%s: row %lld block %lld: the fp16 scale 0x%04x is infinite or NaN", fn,
                    static_cast<long long>(r), static_cast<long long>(b), static_cast<unsigned>(h));
      scales[r * nb + b] = h;
    }
    s = rb.commit(r);
    if (s != status::ok) return s;
  }
  *out = std::move(rb.matrix());
  return status::ok;
}

status export_tq(tq k, const char* fn, const packed_matrix& m, std::vector<uint8_t>* out) {
  if (!out) return fail(status::null_pointer, "%s: out is null", fn);
  std::vector<uint16_t> scales;
  status s = detail::tq_block_scales(fn, tq_name(k), m, &scales);
  if (s != status::ok) return s;
  const matrix_view& v = m.view();
  const int64_t nb = v.cols / tq_block_weights;
  const size_t bb = tq_block_bytes(k);
  std::vector<uint8_t> bytes(static_cast<size_t>(v.rows * nb) * bb);
  std::vector<int8_t> row(static_cast<size_t>(v.padded_cols));
  for (int64_t r = 0; r < v.rows; ++r) {
    detail::decode_row(v, r, row.data());
    for (int64_t b = 0; b < nb; ++b)
      encode_tq_block(k, row.data() + b * tq_block_weights, scales[static_cast<size_t>(r * nb + b)],
                      bytes.data() + static_cast<size_t>(r * nb + b) * bb);
  }
  out->swap(bytes);
  return status::ok;
}

status quantize_tq(tq k, const char* fn, const float* x, int64_t rows, int64_t cols,
                   std::vector<uint8_t>* out) {
  if (!out) return fail(status::null_pointer, "%s: out is null", fn);
  if (!x) return fail(status::null_pointer, "%s: x is null", fn);
  status s = detail::check_dims(fn, rows, cols);
  if (s != status::ok) return s;
  if (cols % tq_block_weights != 0)
    return fail(status::invalid_argument,
                "%s: %s needs cols to be a multiple of %lld (ggml's QK_K), got cols=%lld", fn,
                tq_name(k), static_cast<long long>(tq_block_weights), static_cast<long long>(cols));
  const int64_t nb = cols / tq_block_weights;
  const size_t bb = tq_block_bytes(k);
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * nb) * bb);
  int8_t t[256];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = x + r * cols + b * tq_block_weights;
      // ggml: amax = MAX(amax, fabsf(x[j])); d = amax; id = d ? 1.0f/d : 0.0f.
      float amax = 0.0f;
      for (int j = 0; j < 256; ++j) {
        if (!std::isfinite(xb[j]))
          return fail(status::invalid_argument, "%s: x at row %lld col %lld is %g", fn,
                      static_cast<long long>(r), static_cast<long long>(b * tq_block_weights + j),
                      static_cast<double>(xb[j]));
        const float a = std::fabs(xb[j]);
        amax = amax > a ? amax : a;
      }
      const uint16_t h = float_to_half(amax);
      if ((h & 0x7c00u) == 0x7c00u)
        return fail(status::invalid_scale,
                    "%s: row %lld block %lld: max|x| = %g rounds past the fp16 range (ggml "
                    "would store an infinite scale)",
                    fn, static_cast<long long>(r), static_cast<long long>(b),
                    static_cast<double>(amax));
      const float id = amax != 0.0f ? 1.0f / amax : 0.0f;
      for (int j = 0; j < 256; ++j) {
        const float q = xb[j] * id;
        // lroundf: nearest, ties away from zero. When 1/amax overflows (amax below ~2.9e-39)
        // the product is not finite; ggml's lroundf then yields LONG_MIN on x86-64, i.e. code 1
        // (t = 0), which the stored d = 0 makes the right value anyway.
        long u = std::isfinite(q) ? std::lround(q) : 0L;
        u = u < -1 ? -1 : u > 1 ? 1 : u;
        t[j] = static_cast<int8_t>(u);
      }
      encode_tq_block(k, t, h, bytes.data() + static_cast<size_t>(r * nb + b) * bb);
    }
  }
  out->swap(bytes);
  return status::ok;
}

}  // namespace

status import_tq2_0(const void* blocks, size_t bytes, int64_t rows, int64_t cols,
                    const import_options& opt, packed_matrix* out) noexcept {
  return detail::guarded("import_tq2_0", [&] {
    return import_tq(tq::two, "import_tq2_0", blocks, bytes, rows, cols, opt, out);
  });
}

status import_tq1_0(const void* blocks, size_t bytes, int64_t rows, int64_t cols,
                    const import_options& opt, packed_matrix* out) noexcept {
  return detail::guarded("import_tq1_0", [&] {
    return import_tq(tq::one, "import_tq1_0", blocks, bytes, rows, cols, opt, out);
  });
}

status export_tq2_0(const packed_matrix& m, std::vector<uint8_t>* out) noexcept {
  return detail::guarded("export_tq2_0",
                         [&] { return export_tq(tq::two, "export_tq2_0", m, out); });
}

status export_tq1_0(const packed_matrix& m, std::vector<uint8_t>* out) noexcept {
  return detail::guarded("export_tq1_0",
                         [&] { return export_tq(tq::one, "export_tq1_0", m, out); });
}

status quantize_tq2_0(const float* x, int64_t rows, int64_t cols,
                      std::vector<uint8_t>* out) noexcept {
  return detail::guarded(
      "quantize_tq2_0", [&] { return quantize_tq(tq::two, "quantize_tq2_0", x, rows, cols, out); });
}

status quantize_tq1_0(const float* x, int64_t rows, int64_t cols,
                      std::vector<uint8_t>* out) noexcept {
  return detail::guarded(
      "quantize_tq1_0", [&] { return quantize_tq(tq::one, "quantize_tq1_0", x, rows, cols, out); });
}

}  // namespace interop
}  // namespace ternary
