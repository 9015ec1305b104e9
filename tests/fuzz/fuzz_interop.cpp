// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the interop codecs (ternary/interop.hpp): import_tq1_0, import_tq2_0,
// import_i2_s, import_hf_bitnet, ggml's reference quantizers, every export and check_export.
//
// Input layout:
//   byte 0   bits 0..2: operation (0 tq1_0, 1 tq2_0, 2 i2_s, 3 hf_bitnet bitlinear,
//                       4 hf_bitnet autobitlinear, 5 quantize_tq1_0, 6 quantize_tq2_0, 7 tq2_0)
//            bits 3..4: target format (bits2, base3, sherry, or an invalid id)
//            bit 5:     pass the payload as it is (any size) instead of fitting it to the shape
//            bit 6:     more columns
//   byte 1   rows: 1 + b % 16
//   byte 2   cols: tq formats 256 * (1 + b % 2) (times 2 with bit 6), others 1 + b (times 4)
//   bytes 3..6  fp32 weight_scale (hf_bitnet), little-endian
//   the rest    payload: the encoded tensor (quantize: fp32 values), zero-extended or cut to the
//               size the shape needs unless bit 5 is set
//
// When an import succeeds:
//   - the matrix has the shape asked for, one plane, no bias, and dequantizes;
//   - check_export(m, f) and export_f agree for every foreign format f;
//   - exporting back to the source layout gives the input bytes, up to the parts the layout
//     does not define: I2_S padding codes of a last partial block (export writes code 1) and
//     tail bytes 4..31 (export writes 0); Hugging Face padding rows (export writes code 0). A
//     bitlinear weight_scale w comes back as a w' with 1/w' == 1/w (not necessarily w itself:
//     fp32 division is not an involution, export picks the shortest such w');
//   - every successful export imports back to a matrix with the same dequantized values.
// A quantize_tq* result imports exactly and exports back to the same bytes.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_util.hpp"

#include "ternary/interop.hpp"
#include "ternary/packed_matrix.hpp"

namespace {

namespace io = ternary::interop;
using io::foreign_format;
using ternary::format;
using ternary::packed_matrix;
using ternary::status;

constexpr foreign_format all_formats[] = {foreign_format::tq1_0, foreign_format::tq2_0,
                                          foreign_format::i2_s, foreign_format::hf_bitnet};

std::vector<float> dequantized(const packed_matrix& m) {
  std::vector<float> w(static_cast<size_t>(m.rows() * m.cols()));
  FUZZ_REQUIRE(m.dequantize(w.data(), m.cols()) == status::ok);
  return w;
}

bool same_values(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!fuzz::same_float(a[i], b[i])) return false;
  return true;
}

/// Exports `m` to `f` (hf_bitnet: bitlinear); `*exact` tells whether the scale is exact.
status export_to(const packed_matrix& m, foreign_format f, std::vector<uint8_t>* bytes,
                 float* weight_scale, bool* exact) {
  *exact = true;
  switch (f) {
    case foreign_format::tq1_0: return io::export_tq1_0(m, bytes);
    case foreign_format::tq2_0: return io::export_tq2_0(m, bytes);
    case foreign_format::i2_s: return io::export_i2_s(m, bytes);
    case foreign_format::hf_bitnet:
      return io::export_hf_bitnet(m, bytes, weight_scale, io::hf_scale_convention::bitlinear,
                                  exact);
  }
  return status::invalid_argument;
}

status import_from(foreign_format f, const std::vector<uint8_t>& bytes, float weight_scale,
                   io::hf_scale_convention conv, int64_t rows, int64_t cols, packed_matrix* out) {
  const io::import_options opt;
  switch (f) {
    case foreign_format::tq1_0:
      return io::import_tq1_0(bytes.data(), bytes.size(), rows, cols, opt, out);
    case foreign_format::tq2_0:
      return io::import_tq2_0(bytes.data(), bytes.size(), rows, cols, opt, out);
    case foreign_format::i2_s:
      return io::import_i2_s(bytes.data(), bytes.size(), rows, cols, opt, out);
    case foreign_format::hf_bitnet:
      return io::import_hf_bitnet(bytes.data(), bytes.size(), rows, cols, weight_scale, conv, opt,
                                  out);
  }
  return status::invalid_argument;
}

/// I2_S bytes as export writes them: padding codes of a last partial block 1, tail bytes 4..31
/// zero.
std::vector<uint8_t> canonical_i2_s(std::vector<uint8_t> b, int64_t rows, int64_t cols) {
  const uint64_t n = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols);
  const uint64_t padded = (n + 127) / 128 * 128;
  for (uint64_t e = n; e < padded; ++e) {
    const size_t byte = static_cast<size_t>(e / 128 * 32 + e % 32);
    const int shift = 6 - 2 * static_cast<int>((e % 128) / 32);
    b[byte] = static_cast<uint8_t>((b[byte] & ~(3u << shift)) | (1u << shift));
  }
  std::memset(b.data() + b.size() - 28, 0, 28);
  return b;
}

/// Hugging Face packed weights as export writes them: codes of padding rows 0.
std::vector<uint8_t> canonical_hf(std::vector<uint8_t> b, int64_t rows, int64_t cols) {
  const int64_t p = (rows + 3) / 4;
  for (int64_t o = rows; o < 4 * p; ++o) {
    const int64_t i = o / p, pr = o % p;
    for (int64_t k = 0; k < cols; ++k) {
      uint8_t& x = b[static_cast<size_t>(pr * cols + k)];
      x = static_cast<uint8_t>(x & ~(3u << (2 * i)));
    }
  }
  return b;
}

void check_imported(const packed_matrix& m, foreign_format source, io::hf_scale_convention conv,
                    const std::vector<uint8_t>& payload, int64_t rows, int64_t cols) {
  FUZZ_REQUIRE(m.rows() == rows && m.cols() == cols && m.planes() == 1);
  FUZZ_REQUIRE(!m.desc().has_bias && m.check_values() == status::ok);
  const std::vector<float> w = dequantized(m);
  const float alpha = ternary::scale_at(m.view(), 0, 0, 0);

  for (foreign_format f : all_formats) {
    const status can = io::check_export(m, f);
    std::vector<uint8_t> bytes;
    float ws = 0.0f;
    bool exact = false;
    const status got = export_to(m, f, &bytes, &ws, &exact);
    FUZZ_REQUIRE(can == got);
    if (!fuzz::ok_or_reported(got)) continue;
    size_t expected = 0;
    FUZZ_REQUIRE(io::encoded_size(f, rows, cols, &expected) == status::ok);
    FUZZ_REQUIRE(bytes.size() == expected);
    if (f == foreign_format::hf_bitnet && exact) FUZZ_REQUIRE(fuzz::same_float(1.0f / ws, alpha));

    if (f == source) {
      switch (f) {
        case foreign_format::tq1_0:
        case foreign_format::tq2_0: FUZZ_REQUIRE(bytes == payload); break;
        case foreign_format::i2_s:
          FUZZ_REQUIRE(bytes == canonical_i2_s(payload, rows, cols));
          break;
        case foreign_format::hf_bitnet:
          FUZZ_REQUIRE(bytes == canonical_hf(payload, rows, cols));
          // The imported weight_scale itself qualifies, so the search must find one (it looks
          // at the floats next to 1/alpha, which is within an ulp of it for a normal alpha).
          if (conv == io::hf_scale_convention::bitlinear && std::isnormal(alpha))
            FUZZ_REQUIRE(exact);
          break;
      }
    }
    if (f == foreign_format::hf_bitnet) {
      // The autobitlinear convention stores the scale itself: always exact.
      std::vector<uint8_t> auto_bytes;
      float auto_ws = 0.0f;
      bool auto_exact = false;
      FUZZ_REQUIRE(io::export_hf_bitnet(m, &auto_bytes, &auto_ws,
                                        io::hf_scale_convention::autobitlinear,
                                        &auto_exact) == status::ok);
      FUZZ_REQUIRE(auto_exact && auto_bytes == bytes);
      FUZZ_REQUIRE(fuzz::same_float(auto_ws, alpha));
      packed_matrix back;
      FUZZ_REQUIRE(import_from(f, auto_bytes, auto_ws, io::hf_scale_convention::autobitlinear, rows,
                               cols, &back) == status::ok);
      FUZZ_REQUIRE(same_values(dequantized(back), w));
      if (!exact) continue;
    }
    packed_matrix back;
    FUZZ_REQUIRE(import_from(f, bytes, ws, io::hf_scale_convention::bitlinear, rows, cols, &back) ==
                 status::ok);
    FUZZ_REQUIRE(same_values(dequantized(back), w));
  }
}

float load_f32(const uint8_t* p) {
  const uint32_t b = static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                     static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

void run_quantize(bool tq1, const uint8_t* rest, size_t rest_size, int64_t rows, int64_t cols) {
  std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f);
  std::memcpy(x.data(), rest, std::min(rest_size, x.size() * sizeof(float)));
  std::vector<uint8_t> q;
  const status s = tq1 ? io::quantize_tq1_0(x.data(), rows, cols, &q)
                       : io::quantize_tq2_0(x.data(), rows, cols, &q);
  if (!fuzz::ok_or_reported(s)) return;
  const foreign_format f = tq1 ? foreign_format::tq1_0 : foreign_format::tq2_0;
  packed_matrix m;
  FUZZ_REQUIRE(import_from(f, q, 0.0f, io::hf_scale_convention::bitlinear, rows, cols, &m) ==
               status::ok);
  check_imported(m, f, io::hf_scale_convention::bitlinear, q, rows, cols);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 7) return 0;
  const int op = data[0] & 7;
  const unsigned target_bits = (data[0] >> 3) & 3u;
  const bool raw_size = (data[0] & 0x20u) != 0;
  const bool large = (data[0] & 0x40u) != 0;
  const int64_t rows = 1 + data[1] % 16;
  const bool tq = op == 0 || op == 1 || op == 5 || op == 6 || op == 7;
  const int64_t cols =
      tq ? 256 * (1 + data[2] % 2) * (large ? 2 : 1) : (1 + data[2]) * (large ? 4 : 1);
  const float weight_scale = load_f32(data + 3);
  const uint8_t* rest = data + 7;
  const size_t rest_size = size - 7;

  if (op == 5 || op == 6) {
    run_quantize(op == 5, rest, rest_size, rows, cols);
    return 0;
  }
  const foreign_format source = op == 0              ? foreign_format::tq1_0
                                : op == 1 || op == 7 ? foreign_format::tq2_0
                                : op == 2            ? foreign_format::i2_s
                                                     : foreign_format::hf_bitnet;
  const io::hf_scale_convention conv =
      op == 4 ? io::hf_scale_convention::autobitlinear : io::hf_scale_convention::bitlinear;
  size_t need = 0;
  FUZZ_REQUIRE(io::encoded_size(source, rows, cols, &need) == status::ok);
  std::vector<uint8_t> payload(rest, rest + rest_size);
  if (!raw_size) payload.resize(need, 0);

  io::import_options opt;
  opt.target = target_bits == 3 ? static_cast<format>(7) : static_cast<format>(target_bits + 1);
  packed_matrix m;
  status s = status::ok;
  switch (source) {
    case foreign_format::tq1_0:
      s = io::import_tq1_0(payload.data(), payload.size(), rows, cols, opt, &m);
      break;
    case foreign_format::tq2_0:
      s = io::import_tq2_0(payload.data(), payload.size(), rows, cols, opt, &m);
      break;
    case foreign_format::i2_s:
      s = io::import_i2_s(payload.data(), payload.size(), rows, cols, opt, &m);
      break;
    case foreign_format::hf_bitnet:
      s = io::import_hf_bitnet(payload.data(), payload.size(), rows, cols, weight_scale, conv, opt,
                               &m);
      break;
  }
  if (!fuzz::ok_or_reported(s)) {
    FUZZ_REQUIRE(m.empty());
    return 0;
  }
  FUZZ_REQUIRE(payload.size() == need && target_bits != 3);
  FUZZ_REQUIRE(m.fmt() == opt.target);
  check_imported(m, source, conv, payload, rows, cols);
  return 0;
}
