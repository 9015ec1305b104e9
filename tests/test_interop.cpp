// SPDX-License-Identifier: Apache-2.0
// Interop codecs (ternary/interop.hpp): GGUF TQ1_0/TQ2_0 against ggml's golden files, BitNet
// I2_S and Hugging Face BitNet round trips and layouts, refusals and corrupt input.
//
// The tests re-state each foreign layout independently of the library (tq2_ref_*, i2s_ref_*,
// hf_pack_weights below follow ggml-common.h/ggml-quants.c, bitnet.cpp and transformers'
// integrations/bitnet.py), so a shared misreading would have to be made twice.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "test_util.hpp"
#include <gtest/gtest.h>

#include "ternary/interop.hpp"

#ifndef TERNARY_TEST_DATA_DIR
#error "TERNARY_TEST_DATA_DIR must name tests/data (set by tests/CMakeLists.txt)"
#endif

namespace {

using namespace ternary_test;
namespace ti = ternary::interop;
using ternary::half_to_float;
using ti::foreign_format;
using ti::hf_scale_convention;

// ---- files ------------------------------------------------------------------------------------

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::vector<uint8_t> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  uint8_t buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

/// Little-endian fp32 file contents, assembled byte by byte (host endianness does not matter).
std::vector<float> read_f32(const std::string& path) {
  const std::vector<uint8_t> b = read_bytes(path);
  std::vector<float> v(b.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint32_t u = static_cast<uint32_t>(b[4 * i]) | static_cast<uint32_t>(b[4 * i + 1]) << 8 |
                       static_cast<uint32_t>(b[4 * i + 2]) << 16 |
                       static_cast<uint32_t>(b[4 * i + 3]) << 24;
    v[i] = bits_float(u);
  }
  return v;
}

struct Golden {
  const char* name;
  int64_t rows, cols;
};
const Golden kGoldens[] = {
    {"gauss_4x512", 4, 512}, {"ternary_16x1280", 16, 1280}, {"edge_3x1024", 3, 1024}};

std::string golden_path(const Golden& g, const std::string& suffix) {
  return std::string(TERNARY_TEST_DATA_DIR) + "/ggml/" + g.name + suffix;
}

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
void put_le16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xff);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// ---- independent statements of the foreign layouts -------------------------------------------

/// TQ2_0 block (ggml-common.h block_tq2_0): element e at byte 32*(e/128) + e%32, shift
/// 2*((e%128)/32), code t+1; fp16 d at bytes 64..65.
void tq2_ref_encode(const int8_t* t, uint16_t d, uint8_t* blk) {
  std::memset(blk, 0, 66);
  for (int e = 0; e < 256; ++e)
    blk[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((t[e] + 1) << (2 * ((e % 128) / 32)));
  put_le16(blk + 64, d);
}

/// TQ1_0 byte from five codes (ggml: q = q*3 + xi, then (q*256 + 242) / 243).
uint8_t tq1_ref_byte(const int* u) {
  unsigned q = 0;
  for (int n = 0; n < 5; ++n) q = q * 3 + static_cast<unsigned>(u[n]);
  return static_cast<uint8_t>((q * 256 + 242) / 243);
}

/// TQ1_0 block (block_tq1_0): qs[0..31] elements m + 32n, qs[32..47] elements 160 + m + 16n,
/// qh[0..3] elements 240 + m + 4n (n = 0..3, then *3), fp16 d at bytes 52..53.
void tq1_ref_encode(const int8_t* t, uint16_t d, uint8_t* blk) {
  for (int m = 0; m < 32; ++m) {
    int u[5];
    for (int n = 0; n < 5; ++n) u[n] = t[m + 32 * n] + 1;
    blk[m] = tq1_ref_byte(u);
  }
  for (int m = 0; m < 16; ++m) {
    int u[5];
    for (int n = 0; n < 5; ++n) u[n] = t[160 + m + 16 * n] + 1;
    blk[32 + m] = tq1_ref_byte(u);
  }
  for (int m = 0; m < 4; ++m) {
    int u[5] = {0, 0, 0, 0, 0};
    for (int n = 0; n < 4; ++n) u[n] = t[240 + m + 4 * n] + 1;
    blk[48 + m] = tq1_ref_byte(u);
  }
  put_le16(blk + 52, d);
}

/// BitNet I2_S of a flat trit vector (bitnet.cpp quantize_i2_s): block i of 128, byte 32i + j%32
/// holds element j at shift 6 - 2*(j/32); padding code 1; then the 32-byte tail.
std::vector<uint8_t> i2s_ref_encode(const std::vector<int8_t>& flat, float scale) {
  const size_t blocks = (flat.size() + 127) / 128;
  std::vector<uint8_t> out(blocks * 32 + 32, 0);
  for (size_t i = 0; i < blocks * 128; ++i) {
    const int u = i < flat.size() ? flat[i] + 1 : 1;
    out[i / 128 * 32 + i % 32] |= static_cast<uint8_t>(u << (6 - 2 * ((i % 128) / 32)));
  }
  const uint32_t s = float_bits(scale);
  for (int b = 0; b < 4; ++b) out[blocks * 32 + b] = static_cast<uint8_t>(s >> (8 * b));
  return out;
}

/// transformers' pack_weights: row_dim = ceil(out/4); for i < min(4, out // row_dim + 1):
/// packed[: end-start] |= (q[start:end] + 1) << 2i with start = i*row_dim, end = min(start +
/// row_dim, out).
std::vector<uint8_t> hf_pack_weights(const std::vector<int8_t>& t, int64_t out, int64_t in) {
  const int64_t row_dim = (out + 3) / 4;
  std::vector<uint8_t> packed(static_cast<size_t>(row_dim * in), 0);
  const int64_t it = std::min<int64_t>(4, out / row_dim + 1);
  for (int64_t i = 0; i < it; ++i) {
    const int64_t start = i * row_dim, end = std::min(start + row_dim, out);
    for (int64_t r = 0; r < end - start; ++r)
      for (int64_t k = 0; k < in; ++k)
        packed[static_cast<size_t>(r * in + k)] |=
            static_cast<uint8_t>((t[static_cast<size_t>((start + r) * in + k)] + 1) << (2 * i));
  }
  return packed;
}

std::vector<int8_t> unpack_all(const packed_matrix& m) {
  std::vector<int8_t> t(static_cast<size_t>(m.rows() * m.cols()));
  EXPECT_EQ(m.unpack_trits(0, t.data(), m.cols()), status::ok);
  return t;
}

std::vector<float> dequant_all(const packed_matrix& m) {
  std::vector<float> w(static_cast<size_t>(m.rows() * m.cols()));
  EXPECT_EQ(m.dequantize(w.data(), m.cols()), status::ok);
  return w;
}

/// A random fp16 finite bit pattern, with the special values mixed in.
uint16_t random_half(Rng& rng) {
  switch (rng.uniform(0, 9)) {
    case 0: return 0x0000;                                        // +0
    case 1: return 0x8000;                                        // -0
    case 2: return static_cast<uint16_t>(rng.uniform(1, 0x3ff));  // subnormal
    case 3: return static_cast<uint16_t>(0x7bff);                 // largest
    default: {
      uint16_t h;
      do h = static_cast<uint16_t>(rng.u32());
      while ((h & 0x7c00) == 0x7c00);
      return h;
    }
  }
}

/// Random TQ blocks for a rows x cols matrix; every 7th block is ggml's all-zero block.
std::vector<uint8_t> random_tq(Rng& rng, bool tq1, int64_t rows, int64_t cols,
                               std::vector<int8_t>* trits = nullptr, double p_zero = 1.0 / 3) {
  const int64_t nb = cols / 256;
  const size_t bb = tq1 ? 54 : 66;
  std::vector<uint8_t> out(static_cast<size_t>(rows * nb) * bb);
  if (trits) trits->assign(static_cast<size_t>(rows * cols), 0);
  for (int64_t i = 0; i < rows * nb; ++i) {
    std::vector<int8_t> t = random_trits(rng, 1, 256, 256, p_zero);
    uint16_t d = random_half(rng);
    if (i % 7 == 3) {
      std::fill(t.begin(), t.end(), int8_t{0});
      d = 0;
    }
    if (tq1)
      tq1_ref_encode(t.data(), d, out.data() + static_cast<size_t>(i) * bb);
    else
      tq2_ref_encode(t.data(), d, out.data() + static_cast<size_t>(i) * bb);
    if (trits) std::copy(t.begin(), t.end(), trits->begin() + i * 256);
  }
  return out;
}

ti::import_options target(format f) {
  ti::import_options o;
  o.target = f;
  return o;
}

// ---- names and sizes ----------------------------------------------------------------------------

TEST(Names, ForeignFormatsRoundTrip) {
  for (foreign_format f : {foreign_format::tq1_0, foreign_format::tq2_0, foreign_format::i2_s,
                           foreign_format::hf_bitnet}) {
    foreign_format g = foreign_format::tq1_0;
    ASSERT_TRUE(ti::parse_foreign_format(ti::foreign_format_name(f), &g));
    EXPECT_EQ(g, f);
  }
  EXPECT_STREQ(ti::foreign_format_name(foreign_format::tq1_0), "tq1_0");
  EXPECT_STREQ(ti::foreign_format_name(foreign_format::tq2_0), "tq2_0");
  EXPECT_STREQ(ti::foreign_format_name(foreign_format::i2_s), "i2_s");
  EXPECT_STREQ(ti::foreign_format_name(foreign_format::hf_bitnet), "hf_bitnet");
  EXPECT_STREQ(ti::foreign_format_name(static_cast<foreign_format>(99)), "unknown");
  foreign_format g;
  EXPECT_FALSE(ti::parse_foreign_format("TQ2_0", &g));
  EXPECT_FALSE(ti::parse_foreign_format("q2_0", &g));
  EXPECT_FALSE(ti::parse_foreign_format(nullptr, &g));
  EXPECT_FALSE(ti::parse_foreign_format("tq2_0", nullptr));
  hf_scale_convention c;
  ASSERT_TRUE(ti::parse_hf_scale_convention("autobitlinear", &c));
  EXPECT_EQ(c, hf_scale_convention::autobitlinear);
  ASSERT_TRUE(ti::parse_hf_scale_convention("bitlinear", &c));
  EXPECT_EQ(c, hf_scale_convention::bitlinear);
  EXPECT_FALSE(ti::parse_hf_scale_convention("BitLinear", &c));
}

TEST(Sizes, EncodedSize) {
  size_t n = 0;
  ASSERT_EQ(ti::encoded_size(foreign_format::tq2_0, 3, 512, &n), status::ok);
  EXPECT_EQ(n, 3u * 2 * 66);
  ASSERT_EQ(ti::encoded_size(foreign_format::tq1_0, 3, 512, &n), status::ok);
  EXPECT_EQ(n, 3u * 2 * 54);
  ASSERT_EQ(ti::encoded_size(foreign_format::i2_s, 4, 256, &n), status::ok);
  EXPECT_EQ(n, 4u * 256 / 4 + 32);  // ggml's n/4 + 32
  ASSERT_EQ(ti::encoded_size(foreign_format::i2_s, 3, 100, &n), status::ok);
  EXPECT_EQ(n, 3u * 32 + 32);  // 300 weights: 3 blocks (the last padded)
  ASSERT_EQ(ti::encoded_size(foreign_format::hf_bitnet, 6, 10, &n), status::ok);
  EXPECT_EQ(n, 2u * 10);
  EXPECT_TERNARY_ERROR(ti::encoded_size(foreign_format::tq2_0, 3, 100, &n),
                       status::invalid_argument, "cols", "256");
  EXPECT_TERNARY_ERROR(ti::encoded_size(foreign_format::i2_s, 0, 100, &n), status::invalid_argument,
                       "rows");
  EXPECT_TERNARY_ERROR(ti::encoded_size(foreign_format::i2_s, 1, 1, nullptr), status::null_pointer,
                       "bytes");
}

// ---- golden files -------------------------------------------------------------------------------

class GoldenTq : public ::testing::TestWithParam<std::tuple<int, bool, format>> {};

// Import reproduces ggml's dequantization. ggml computes (q - 1) * d, so a zero trit times a
// negative d, or t = -1 times d = 0, is -0.0f; packed_matrix::dequantize sums planes starting
// from +0.0f (0.0f + -0.0f = +0.0f), so such values come out +0.0f. Every value is compared with
// ==, and bit for bit wherever it is nonzero; the edge file has such -0.0f values (a block
// whose max|x| = 9.9e-31 underflows fp16 to d = 0 while its trits are +-1).
TEST_P(GoldenTq, ImportReproducesDequantizedValuesAndGemv) {
  const Golden& g = kGoldens[std::get<0>(GetParam())];
  const bool tq1 = std::get<1>(GetParam());
  const format f = std::get<2>(GetParam());
  const std::string ext = tq1 ? ".tq1_0" : ".tq2_0";
  const std::vector<uint8_t> blocks = read_bytes(golden_path(g, ext));
  const std::vector<float> deq = read_f32(golden_path(g, ext + ".deq.f32"));
  ASSERT_EQ(blocks.size(), static_cast<size_t>(g.rows * g.cols / 256) * (tq1 ? 54u : 66u))
      << "missing or short golden file " << golden_path(g, ext);
  ASSERT_EQ(deq.size(), static_cast<size_t>(g.rows * g.cols));

  packed_matrix m;
  const status s =
      tq1 ? ti::import_tq1_0(blocks.data(), blocks.size(), g.rows, g.cols, target(f), &m)
          : ti::import_tq2_0(blocks.data(), blocks.size(), g.rows, g.cols, target(f), &m);
  if (f == format::sherry) {
    // Golden data is not 3:4 sparse: the import must refuse, naming the row.
    EXPECT_EQ(s, status::invalid_trit);
    EXPECT_TRUE(mentions(ternary::last_error_message(), {"row", "sherry"}))
        << ternary::last_error_message();
    return;
  }
  ASSERT_EQ(s, status::ok) << ternary::last_error_message();
  EXPECT_EQ(m.fmt(), f);
  EXPECT_EQ(m.desc().granularity, scale_granularity::per_group);
  EXPECT_EQ(m.desc().group_size, 256);
  EXPECT_EQ(m.desc().scale_dtype, scale_type::f16);

  // The fp16 scales are ggml's d bits.
  const auto* h = static_cast<const uint16_t*>(m.view().scales[0]);
  for (int64_t i = 0; i < g.rows * g.cols / 256; ++i)
    EXPECT_EQ(h[i],
              le16(blocks.data() + static_cast<size_t>(i) * (tq1 ? 54 : 66) + (tq1 ? 52 : 64)));

  const std::vector<float> w = dequant_all(m);
  int64_t sign_of_zero_only = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    ASSERT_EQ(w[i], deq[i]) << "element " << i;
    if (!same_bits(w[i], deq[i])) {
      ASSERT_EQ(deq[i], 0.0f) << "element " << i << " differs in more than the sign of zero";
      ++sign_of_zero_only;
    }
  }
  if (std::string(g.name) == "edge_3x1024")
    EXPECT_GT(sign_of_zero_only, 0);
  else
    EXPECT_EQ(sign_of_zero_only, 0);

  // GEMV with fp32 activations against a float GEMV over the golden dequantized values.
  Rng rng(0x601d + static_cast<uint64_t>(g.cols));
  const std::vector<float> x = random_floats(rng, static_cast<size_t>(g.cols), -1.0f, 1.0f);
  std::vector<float> y(static_cast<size_t>(g.rows), -7.0f);
  ternary::gemm_options opt;
  opt.path = ternary::act_path::f32;
  ASSERT_EQ(ternary::gemv(m, x.data(), y.data(), opt), status::ok) << ternary::last_error_message();
  for (int64_t r = 0; r < g.rows; ++r) {
    double ref = 0.0, mag = 0.0;
    for (int64_t k = 0; k < g.cols; ++k) {
      const double p = static_cast<double>(deq[static_cast<size_t>(r * g.cols + k)]) * x[k];
      ref += p;
      mag += std::fabs(p);
    }
    EXPECT_NEAR(y[static_cast<size_t>(r)], ref, 1e-5 * mag + 1e-30) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Files, GoldenTq,
                         ::testing::Combine(::testing::Values(0, 1, 2), ::testing::Bool(),
                                            ::testing::Values(format::bits2, format::base3,
                                                              format::sherry)),
                         [](const ::testing::TestParamInfo<GoldenTq::ParamType>& info) {
                           return std::string(kGoldens[std::get<0>(info.param)].name) +
                                  (std::get<1>(info.param) ? "_tq1_0_" : "_tq2_0_") +
                                  ternary::format_name(std::get<2>(info.param));
                         });

TEST(Golden, QuantizeReproducesGgmlBytes) {
  for (const Golden& g : kGoldens) {
    const std::vector<float> x = read_f32(golden_path(g, ".f32"));
    ASSERT_EQ(x.size(), static_cast<size_t>(g.rows * g.cols)) << g.name;
    for (bool tq1 : {false, true}) {
      const std::vector<uint8_t> want = read_bytes(golden_path(g, tq1 ? ".tq1_0" : ".tq2_0"));
      std::vector<uint8_t> got;
      ASSERT_EQ(tq1 ? ti::quantize_tq1_0(x.data(), g.rows, g.cols, &got)
                    : ti::quantize_tq2_0(x.data(), g.rows, g.cols, &got),
                status::ok)
          << ternary::last_error_message();
      ASSERT_EQ(got.size(), want.size()) << g.name;
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], want[i]) << g.name << (tq1 ? " tq1_0" : " tq2_0") << " byte " << i;
    }
  }
}

TEST(Golden, ImportExportReproducesBytesAcrossFormats) {
  // TQ1_0 and TQ2_0 of the same input hold the same trits and scales: importing either and
  // exporting either reproduces ggml's bytes.
  for (const Golden& g : kGoldens) {
    const std::vector<uint8_t> b1 = read_bytes(golden_path(g, ".tq1_0"));
    const std::vector<uint8_t> b2 = read_bytes(golden_path(g, ".tq2_0"));
    for (format f : {format::bits2, format::base3}) {
      packed_matrix m1, m2;
      ASSERT_EQ(ti::import_tq1_0(b1.data(), b1.size(), g.rows, g.cols, target(f), &m1), status::ok);
      ASSERT_EQ(ti::import_tq2_0(b2.data(), b2.size(), g.rows, g.cols, target(f), &m2), status::ok);
      for (const packed_matrix* m : {&m1, &m2}) {
        std::vector<uint8_t> o1, o2;
        ASSERT_EQ(ti::export_tq1_0(*m, &o1), status::ok) << ternary::last_error_message();
        ASSERT_EQ(ti::export_tq2_0(*m, &o2), status::ok) << ternary::last_error_message();
        EXPECT_EQ(o1, b1) << g.name;
        EXPECT_EQ(o2, b2) << g.name;
      }
    }
  }
}

// ---- TQ round trips on random data --------------------------------------------------------------

TEST(Tq, RandomRoundTripIsByteExact) {
  Rng rng(0x7a11);
  for (bool tq1 : {false, true}) {
    for (format f : {format::bits2, format::base3}) {
      for (int64_t cols : {256, 768, 1280}) {
        const int64_t rows = 5;
        std::vector<int8_t> trits;
        const std::vector<uint8_t> in = random_tq(rng, tq1, rows, cols, &trits);
        packed_matrix m;
        ASSERT_EQ(tq1 ? ti::import_tq1_0(in.data(), in.size(), rows, cols, target(f), &m)
                      : ti::import_tq2_0(in.data(), in.size(), rows, cols, target(f), &m),
                  status::ok)
            << ternary::last_error_message();
        EXPECT_EQ(unpack_all(m), trits);
        std::vector<uint8_t> out;
        ASSERT_EQ(tq1 ? ti::export_tq1_0(m, &out) : ti::export_tq2_0(m, &out), status::ok)
            << ternary::last_error_message();
        EXPECT_EQ(out, in) << (tq1 ? "tq1_0 " : "tq2_0 ") << ternary::format_name(f) << " cols "
                           << cols;
        // Through the container and back: still the same bytes.
        std::vector<uint8_t> ser;
        ASSERT_EQ(m.serialize(&ser), status::ok);
        packed_matrix back;
        ASSERT_EQ(packed_matrix::deserialize(ser.data(), ser.size(), &back), status::ok);
        std::vector<uint8_t> out2;
        ASSERT_EQ(tq1 ? ti::export_tq1_0(back, &out2) : ti::export_tq2_0(back, &out2), status::ok);
        EXPECT_EQ(out2, in);
      }
    }
  }
}

TEST(Tq, NegativeZeroAndAllZeroBlocksSurvive) {
  // Block 0: all codes 1 with d = -0; block 1: trits +-1 with d = +0; block 2: d = -1.5.
  std::vector<int8_t> t(768, 0);
  for (int e = 256; e < 768; ++e)
    t[static_cast<size_t>(e)] = (e % 3 == 0) ? 1 : (e % 3 == 1 ? -1 : 0);
  const uint16_t ds[3] = {0x8000, 0x0000, 0xbe00};
  std::vector<uint8_t> b2(3 * 66), b1(3 * 54);
  for (int b = 0; b < 3; ++b) {
    tq2_ref_encode(t.data() + 256 * b, ds[b], b2.data() + 66 * b);
    tq1_ref_encode(t.data() + 256 * b, ds[b], b1.data() + 54 * b);
  }
  packed_matrix m;
  ASSERT_EQ(ti::import_tq2_0(b2.data(), b2.size(), 1, 768, {}, &m), status::ok);
  std::vector<float> sc(3);
  ASSERT_EQ(m.unpack_scales(0, sc.data()), status::ok);
  EXPECT_TRUE(same_bits(sc[0], -0.0f));
  EXPECT_TRUE(same_bits(sc[1], 0.0f));
  EXPECT_EQ(sc[2], -1.5f);
  std::vector<uint8_t> o2, o1;
  ASSERT_EQ(ti::export_tq2_0(m, &o2), status::ok);
  ASSERT_EQ(ti::export_tq1_0(m, &o1), status::ok);
  EXPECT_EQ(o2, b2);
  EXPECT_EQ(o1, b1);
  const std::vector<float> w = dequant_all(m);
  for (int e = 0; e < 512; ++e) EXPECT_EQ(w[static_cast<size_t>(e)], 0.0f);
  for (int e = 512; e < 768; ++e)
    EXPECT_EQ(w[static_cast<size_t>(e)], -1.5f * t[static_cast<size_t>(e)]);
}

TEST(Tq, QuantizeEdgeCases) {
  // All-zero block: d = 0 and every code 1 (TQ2_0 bytes 0x55; TQ1_0 bytes of v = 121 / 40*3).
  std::vector<float> x(256, 0.0f);
  std::vector<uint8_t> b;
  ASSERT_EQ(ti::quantize_tq2_0(x.data(), 1, 256, &b), status::ok);
  ASSERT_EQ(b.size(), 66u);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(b[static_cast<size_t>(i)], 0x55);
  EXPECT_EQ(le16(b.data() + 64), 0);
  ASSERT_EQ(ti::quantize_tq1_0(x.data(), 1, 256, &b), status::ok);
  ASSERT_EQ(b.size(), 54u);
  const int ones[5] = {1, 1, 1, 1, 1}, qh_ones[5] = {1, 1, 1, 1, 0};
  for (int i = 0; i < 48; ++i) EXPECT_EQ(b[static_cast<size_t>(i)], tq1_ref_byte(ones));
  for (int i = 48; i < 52; ++i) EXPECT_EQ(b[static_cast<size_t>(i)], tq1_ref_byte(qh_ones));
  // Ties at exactly amax/2 round away from zero: lroundf(0.5) = 1, lroundf(-0.5) = -1.
  x[0] = 2.0f;
  x[1] = 1.0f;
  x[2] = -1.0f;
  x[3] = 0.99f;
  ASSERT_EQ(ti::quantize_tq2_0(x.data(), 1, 256, &b), status::ok);
  packed_matrix m;
  ASSERT_EQ(ti::import_tq2_0(b.data(), b.size(), 1, 256, {}, &m), status::ok);
  const std::vector<int8_t> t = unpack_all(m);
  EXPECT_EQ(t[0], 1);
  EXPECT_EQ(t[1], 1);
  EXPECT_EQ(t[2], -1);
  EXPECT_EQ(t[3], 0);
  // ggml multiplies by the fp32 reciprocal: with amax = 41, 20.5 * (1/41) = 0.49999997 rounds
  // to 0 where 20.5 / 41 = 0.5 would round to 1.
  std::vector<float> y(256, 0.0f);
  y[0] = 41.0f;
  y[1] = 20.5f;
  y[2] = -20.5f;
  y[3] = 20.6f;
  for (bool tq1 : {false, true}) {
    ASSERT_EQ(
        tq1 ? ti::quantize_tq1_0(y.data(), 1, 256, &b) : ti::quantize_tq2_0(y.data(), 1, 256, &b),
        status::ok);
    ASSERT_EQ(tq1 ? ti::import_tq1_0(b.data(), b.size(), 1, 256, {}, &m)
                  : ti::import_tq2_0(b.data(), b.size(), 1, 256, {}, &m),
              status::ok);
    const std::vector<int8_t> u = unpack_all(m);
    EXPECT_EQ(u[0], 1);
    EXPECT_EQ(u[1], 0);
    EXPECT_EQ(u[2], 0);
    EXPECT_EQ(u[3], 1);
  }
  // Refusals: non-finite input, a scale past the fp16 range, bad shapes, null pointers.
  x[5] = std::nanf("");
  EXPECT_TERNARY_ERROR(ti::quantize_tq2_0(x.data(), 1, 256, &b), status::invalid_argument, "col",
                       "nan");
  x[5] = 70000.0f;
  EXPECT_TERNARY_ERROR(ti::quantize_tq1_0(x.data(), 1, 256, &b), status::invalid_scale, "fp16");
  EXPECT_TERNARY_ERROR(ti::quantize_tq2_0(x.data(), 2, 128, &b), status::invalid_argument, "256");
  EXPECT_TERNARY_ERROR(ti::quantize_tq2_0(nullptr, 1, 256, &b), status::null_pointer, "x");
  EXPECT_TERNARY_ERROR(ti::quantize_tq1_0(x.data(), 1, 256, nullptr), status::null_pointer, "out");
}

// ---- Sherry -------------------------------------------------------------------------------------

TEST(Tq, ImportIntoSherryOnlyWhenEveryQuadIsThreeOfFour) {
  Rng rng(0x5e77);
  const int64_t rows = 4, cols = 512;
  const std::vector<int8_t> t = random_sherry_trits(rng, rows, cols, cols);
  std::vector<uint8_t> b2(static_cast<size_t>(rows * cols / 256) * 66);
  std::vector<uint8_t> b1(static_cast<size_t>(rows * cols / 256) * 54);
  for (int64_t i = 0; i < rows * cols / 256; ++i) {
    const uint16_t d = static_cast<uint16_t>(0x3000 + i);
    tq2_ref_encode(t.data() + i * 256, d, b2.data() + i * 66);
    tq1_ref_encode(t.data() + i * 256, d, b1.data() + i * 54);
  }
  packed_matrix m;
  ASSERT_EQ(ti::import_tq2_0(b2.data(), b2.size(), rows, cols, target(format::sherry), &m),
            status::ok)
      << ternary::last_error_message();
  EXPECT_EQ(m.fmt(), format::sherry);
  EXPECT_EQ(unpack_all(m), t);
  std::vector<uint8_t> o2, o1;
  ASSERT_EQ(ti::export_tq2_0(m, &o2), status::ok);
  ASSERT_EQ(ti::export_tq1_0(m, &o1), status::ok);
  EXPECT_EQ(o2, b2);
  EXPECT_EQ(o1, b1);
  ASSERT_EQ(ti::import_tq1_0(b1.data(), b1.size(), rows, cols, target(format::sherry), &m),
            status::ok);
  EXPECT_EQ(unpack_all(m), t);

  // One quad with two zeros: refused, naming row and columns.
  std::vector<int8_t> bad = t;
  bad[static_cast<size_t>(2 * cols + 260)] = 0;
  bad[static_cast<size_t>(2 * cols + 261)] = 0;
  bad[static_cast<size_t>(2 * cols + 262)] = 1;
  bad[static_cast<size_t>(2 * cols + 263)] = 1;
  tq2_ref_encode(bad.data() + 2 * cols + 256, 0x3c00, b2.data() + 5 * 66);
  EXPECT_TERNARY_ERROR(
      ti::import_tq2_0(b2.data(), b2.size(), rows, cols, target(format::sherry), &m),
      status::invalid_trit, "row 2");
  EXPECT_TRUE(mentions(ternary::last_error_message(), {"260"})) << ternary::last_error_message();
}

TEST(Tq, SherryMatrixExportsToTq) {
  Rng rng(0x5e78);
  const int64_t rows = 3, cols = 1024;
  const std::vector<int8_t> t = random_sherry_trits(rng, rows, cols, cols);
  // per_row f32 scales that fp16 represents exactly.
  const std::vector<float> sc = {0.5f, -0.0234375f, 3.0f};
  matrix_desc d =
      make_desc(format::sherry, rows, cols, scale_granularity::per_row, 0, scale_type::f32);
  packed_matrix m;
  ASSERT_EQ(packed_matrix::pack(d, t.data(), cols, sc.data(), nullptr, &m), status::ok);
  for (bool tq1 : {false, true}) {
    std::vector<uint8_t> out;
    ASSERT_EQ(tq1 ? ti::export_tq1_0(m, &out) : ti::export_tq2_0(m, &out), status::ok)
        << ternary::last_error_message();
    std::vector<uint8_t> want(static_cast<size_t>(rows * cols / 256) * (tq1 ? 54 : 66));
    for (int64_t i = 0; i < rows * cols / 256; ++i) {
      const uint16_t h = ternary::float_to_half(sc[static_cast<size_t>(i / (cols / 256))]);
      if (tq1)
        tq1_ref_encode(t.data() + i * 256, h, want.data() + i * 54);
      else
        tq2_ref_encode(t.data() + i * 256, h, want.data() + i * 66);
    }
    EXPECT_EQ(out, want);
    packed_matrix back;
    ASSERT_EQ(tq1 ? ti::import_tq1_0(out.data(), out.size(), rows, cols, {}, &back)
                  : ti::import_tq2_0(out.data(), out.size(), rows, cols, {}, &back),
              status::ok);
    EXPECT_EQ(dequant_all(back), dequant_all(m));
  }
}

// ---- TQ export refusals and accepted scale layouts
// -----------------------------------------------

packed_matrix pack_matrix(format f, int64_t rows, int64_t cols, scale_granularity g, int64_t group,
                          scale_type st, const std::vector<float>& scales, int planes = 1,
                          bool bias = false, uint64_t seed = 1) {
  Rng rng(seed);
  matrix_desc d = make_desc(f, rows, cols, g, group, st);
  d.planes = planes;
  d.has_bias = bias;
  const std::vector<int8_t> t0 = f == format::sherry ? random_sherry_trits(rng, rows, cols, cols)
                                                     : random_trits(rng, rows, cols, cols);
  const std::vector<int8_t> t1 = random_trits(rng, rows, cols, cols);
  const int8_t* tp[2] = {t0.data(), t1.data()};
  const float* sp[2] = {scales.data(), scales.data()};
  std::vector<float> b(static_cast<size_t>(rows), 0.25f);
  packed_matrix m;
  EXPECT_EQ(packed_matrix::pack(d, tp, cols, sp, bias ? b.data() : nullptr, &m), status::ok)
      << ternary::last_error_message();
  return m;
}

TEST(TqExport, AcceptsEveryExactScaleLayout) {
  const int64_t rows = 2, cols = 512;
  struct Case {
    scale_granularity g;
    int64_t group;
    scale_type st;
    std::vector<float> scales;
  };
  const std::vector<Case> cases = {
      {scale_granularity::per_tensor, 0, scale_type::f32, {0.125f}},
      {scale_granularity::per_row, 0, scale_type::f32, {0.75f, -2.5f}},
      {scale_granularity::per_row, 0, scale_type::f16, {0.1f, 0.2f}},  // rounded on pack: exact
      {scale_granularity::per_group,
       64,
       scale_type::f32,
       {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4}},
      {scale_granularity::per_group, 128, scale_type::f16, {1, 1, 0.3f, 0.3f, 5, 5, 6, 6}},
      {scale_granularity::per_group, 256, scale_type::f16, {0.01f, 0.02f, 0.03f, 0.04f}},
      {scale_granularity::per_group, 512, scale_type::f32, {0.5f, 0.25f}},
  };
  for (const Case& c : cases) {
    const packed_matrix m = pack_matrix(format::bits2, rows, cols, c.g, c.group, c.st, c.scales);
    for (bool tq1 : {false, true}) {
      std::vector<uint8_t> out;
      EXPECT_TRUE(ti::can_export(m, tq1 ? foreign_format::tq1_0 : foreign_format::tq2_0));
      ASSERT_EQ(tq1 ? ti::export_tq1_0(m, &out) : ti::export_tq2_0(m, &out), status::ok)
          << describe(m.desc()) << ": " << ternary::last_error_message();
      packed_matrix back;
      ASSERT_EQ(tq1 ? ti::import_tq1_0(out.data(), out.size(), rows, cols, {}, &back)
                    : ti::import_tq2_0(out.data(), out.size(), rows, cols, {}, &back),
                status::ok);
      EXPECT_EQ(unpack_all(back), unpack_all(m));
      const std::vector<float> a = dequant_all(back), b = dequant_all(m);
      for (size_t i = 0; i < a.size(); ++i) ASSERT_TRUE(same_bits(a[i], b[i])) << i;
    }
  }
}

TEST(TqExport, RefusesWhatTqCannotHold) {
  const int64_t rows = 2, cols = 512;
  std::string why;
  // Two trit-planes.
  {
    const packed_matrix m = pack_matrix(format::bits2, rows, cols, scale_granularity::per_row, 0,
                                        scale_type::f32, {1.0f, 0.5f}, 2);
    std::vector<uint8_t> out;
    EXPECT_TERNARY_ERROR(ti::export_tq2_0(m, &out), status::unsupported, "plane");
    EXPECT_TERNARY_ERROR(ti::export_tq1_0(m, &out), status::unsupported, "plane");
    EXPECT_TERNARY_ERROR(ti::check_export(m, foreign_format::tq2_0), status::unsupported, "plane");
    EXPECT_FALSE(ti::can_export(m, foreign_format::tq1_0, &why));
    EXPECT_FALSE(why.empty());
    EXPECT_FALSE(ti::can_export(m, foreign_format::i2_s, &why));
    EXPECT_FALSE(ti::can_export(m, foreign_format::hf_bitnet, &why));
  }
  // Group 128 with different scales inside one 256-column block (row 1, block 0).
  {
    const packed_matrix m = pack_matrix(format::bits2, rows, cols, scale_granularity::per_group,
                                        128, scale_type::f16, {1, 1, 2, 2, 3, 4, 5, 5});
    std::vector<uint8_t> out;
    EXPECT_TERNARY_ERROR(ti::export_tq2_0(m, &out), status::unsupported, "row 1 block 0");
    EXPECT_FALSE(ti::can_export(m, foreign_format::tq1_0, &why));
    EXPECT_TRUE(mentions(why, {"row 1 block 0"})) << why;
  }
  // cols not a multiple of 256.
  {
    const packed_matrix m = pack_matrix(format::bits2, rows, 320, scale_granularity::per_tensor, 0,
                                        scale_type::f32, {0.5f});
    std::vector<uint8_t> out;
    EXPECT_TERNARY_ERROR(ti::export_tq1_0(m, &out), status::unsupported, "cols", "256");
    EXPECT_FALSE(ti::can_export(m, foreign_format::tq2_0));
    EXPECT_TRUE(ti::can_export(m, foreign_format::i2_s));  // any K
    EXPECT_TRUE(ti::can_export(m, foreign_format::hf_bitnet, &why));
    EXPECT_TRUE(why.empty());
  }
  // An f32 scale fp16 cannot represent exactly (row 1).
  {
    const packed_matrix m = pack_matrix(format::base3, rows, cols, scale_granularity::per_row, 0,
                                        scale_type::f32, {1.0f, 0.1f});
    std::vector<uint8_t> out;
    EXPECT_TERNARY_ERROR(ti::export_tq2_0(m, &out), status::unsupported, "fp16");
    EXPECT_TRUE(mentions(ternary::last_error_message(), {"row 1"}));
  }
  // A bias.
  {
    const packed_matrix m = pack_matrix(format::bits2, rows, cols, scale_granularity::per_tensor, 0,
                                        scale_type::f32, {1.0f}, 1, true);
    std::vector<uint8_t> out;
    EXPECT_TERNARY_ERROR(ti::export_tq2_0(m, &out), status::unsupported, "bias");
    EXPECT_TERNARY_ERROR(ti::export_i2_s(m, &out), status::unsupported, "bias");
  }
  // Empty matrix, null output.
  {
    packed_matrix empty;
    std::vector<uint8_t> out;
    EXPECT_TERNARY_ERROR(ti::export_tq2_0(empty, &out), status::invalid_argument, "empty");
    EXPECT_TERNARY_ERROR(ti::check_export(empty, foreign_format::hf_bitnet),
                         status::invalid_argument, "empty");
    const packed_matrix m = pack_matrix(format::bits2, rows, cols, scale_granularity::per_tensor, 0,
                                        scale_type::f32, {1.0f});
    EXPECT_TERNARY_ERROR(ti::export_tq2_0(m, nullptr), status::null_pointer, "out");
    EXPECT_TERNARY_ERROR(ti::check_export(m, static_cast<foreign_format>(77)),
                         status::invalid_argument, "format");
  }
}

// ---- TQ import errors ---------------------------------------------------------------------------

TEST(TqImport, CorruptCodesAreReported) {
  Rng rng(0xc0de);
  const int64_t rows = 3, cols = 512;
  packed_matrix m;
  // TQ2_0 code 3 at row 2, block 1, element 200 (byte 32 + 8, shift 2*2).
  std::vector<uint8_t> b2 = random_tq(rng, false, rows, cols);
  b2[static_cast<size_t>(5 * 66 + 32 + 200 % 32)] |= 3u << 4;
  EXPECT_TERNARY_ERROR(ti::import_tq2_0(b2.data(), b2.size(), rows, cols, {}, &m),
                       status::corrupt_data, "row 2 block 1");
  EXPECT_TRUE(mentions(ternary::last_error_message(), {"code 3"}));

  // TQ1_0: every byte value that no ggml encoding produces, in qs and in qh.
  std::vector<bool> produced(256, false);
  for (int v = 0; v < 243; ++v) produced[static_cast<size_t>((v * 256 + 242) / 243)] = true;
  std::vector<bool> produced_qh(256, false);
  for (int v = 0; v < 81; ++v) produced_qh[static_cast<size_t>((v * 3 * 256 + 242) / 243)] = true;
  const std::vector<uint8_t> b1 = random_tq(rng, true, rows, cols);
  int invalid = 0;
  for (int byte = 0; byte < 256; ++byte) {
    std::vector<uint8_t> c = b1;
    c[static_cast<size_t>(54 + 17)] = static_cast<uint8_t>(byte);  // row 0 block 1, qs[17]
    const status s = ti::import_tq1_0(c.data(), c.size(), rows, cols, {}, &m);
    EXPECT_EQ(s, produced[static_cast<size_t>(byte)] ? status::ok : status::corrupt_data) << byte;
    if (!produced[static_cast<size_t>(byte)]) {
      ++invalid;
      EXPECT_TRUE(mentions(ternary::last_error_message(), {"row 0 block 1"}));
    }
    c = b1;
    c[static_cast<size_t>(4 * 54 + 50)] = static_cast<uint8_t>(byte);  // row 2 block 0, qh[2]
    EXPECT_EQ(ti::import_tq1_0(c.data(), c.size(), rows, cols, {}, &m),
              produced_qh[static_cast<size_t>(byte)] ? status::ok : status::corrupt_data)
        << byte;
  }
  EXPECT_EQ(invalid, 256 - 243);

  // A non-finite fp16 scale.
  b2 = random_tq(rng, false, rows, cols);
  put_le16(b2.data() + 66 + 64, 0x7c00);
  EXPECT_TERNARY_ERROR(ti::import_tq2_0(b2.data(), b2.size(), rows, cols, {}, &m),
                       status::invalid_scale, "row 0 block 1");
}

TEST(TqImport, ShapeSizeAndPointerErrors) {
  Rng rng(0x512e);
  const std::vector<uint8_t> b2 = random_tq(rng, false, 2, 512);
  const std::vector<uint8_t> b1 = random_tq(rng, true, 2, 512);
  packed_matrix m;
  EXPECT_TERNARY_ERROR(ti::import_tq2_0(b2.data(), b2.size() - 1, 2, 512, {}, &m),
                       status::buffer_too_small, "bytes");
  EXPECT_TERNARY_ERROR(ti::import_tq2_0(b2.data(), b2.size() + 1, 2, 512, {}, &m),
                       status::invalid_argument, "bytes");
  EXPECT_TERNARY_ERROR(ti::import_tq1_0(b1.data(), b1.size(), 3, 512, {}, &m),
                       status::buffer_too_small, "bytes");
  EXPECT_TERNARY_ERROR(ti::import_tq1_0(b1.data(), b1.size(), 2, 500, {}, &m),
                       status::invalid_argument, "256");
  EXPECT_TERNARY_ERROR(ti::import_tq1_0(b1.data(), b1.size(), 0, 512, {}, &m),
                       status::invalid_argument, "rows");
  EXPECT_TERNARY_ERROR(ti::import_tq2_0(nullptr, b2.size(), 2, 512, {}, &m), status::null_pointer,
                       "blocks");
  EXPECT_TERNARY_ERROR(ti::import_tq2_0(b2.data(), b2.size(), 2, 512, {}, nullptr),
                       status::null_pointer, "out");
  EXPECT_TERNARY_ERROR(
      ti::import_tq2_0(b2.data(), b2.size(), 2, 512, target(static_cast<format>(9)), &m),
      status::invalid_argument, "format");
  EXPECT_TRUE(m.empty());  // no failed call touched the output
}

// ---- BitNet I2_S --------------------------------------------------------------------------------

TEST(I2s, LayoutMatchesBitnet) {
  // Element 0 = +1 (byte 0, bits 7:6 = 2), element 33 = -1 (byte 1, bits 5:4 = 0), element 127 =
  // +1 (byte 31, bits 1:0 = 2), element 128 = -1 (byte 32, bits 7:6 = 0).
  std::vector<int8_t> t(256, 0);
  t[0] = 1;
  t[33] = -1;
  t[127] = 1;
  t[128] = -1;
  const std::vector<uint8_t> in = i2s_ref_encode(t, 0.75f);
  ASSERT_EQ(in.size(), 64u + 32u);
  EXPECT_EQ(in[0], 0x95);
  EXPECT_EQ(in[1], 0x45);
  EXPECT_EQ(in[31], 0x56);
  EXPECT_EQ(in[32], 0x15);
  EXPECT_EQ(in[64], 0x00);  // 0.75f = 0x3f400000, little-endian
  EXPECT_EQ(in[66], 0x40);
  EXPECT_EQ(in[67], 0x3f);
  packed_matrix m;
  ASSERT_EQ(ti::import_i2_s(in.data(), in.size(), 2, 128, {}, &m), status::ok)
      << ternary::last_error_message();
  EXPECT_EQ(m.desc().granularity, scale_granularity::per_tensor);
  EXPECT_EQ(m.desc().scale_dtype, scale_type::f32);
  EXPECT_EQ(unpack_all(m), t);
  std::vector<float> s(1);
  ASSERT_EQ(m.unpack_scales(0, s.data()), status::ok);
  EXPECT_EQ(s[0], 0.75f);
}

TEST(I2s, RandomRoundTripIsByteExact) {
  Rng rng(0x125);
  struct Shape {
    int64_t rows, cols;
  };
  // 3 x 100 = 300 weights: the last block is padded with code 1; 7 x 64: blocks straddle rows.
  for (const Shape sh : {Shape{4, 256}, Shape{7, 64}, Shape{3, 100}, Shape{1, 1}, Shape{5, 1000}}) {
    for (format f : {format::bits2, format::base3, format::sherry}) {
      const std::vector<int8_t> t = f == format::sherry
                                        ? random_sherry_trits(rng, sh.rows, sh.cols, sh.cols)
                                        : random_trits(rng, sh.rows, sh.cols, sh.cols);
      for (float scale : {0.0123f, -0.0f, 0.0f, -3.5f}) {
        const std::vector<uint8_t> in = i2s_ref_encode(t, scale);
        packed_matrix m;
        ASSERT_EQ(ti::import_i2_s(in.data(), in.size(), sh.rows, sh.cols, target(f), &m),
                  status::ok)
            << ternary::last_error_message();
        EXPECT_EQ(unpack_all(m), t);
        std::vector<uint8_t> out;
        ASSERT_EQ(ti::export_i2_s(m, &out), status::ok) << ternary::last_error_message();
        EXPECT_EQ(out, in) << sh.rows << "x" << sh.cols << " " << ternary::format_name(f);
      }
    }
  }
}

TEST(I2s, TailHandling) {
  Rng rng(0x7a1);
  const std::vector<int8_t> t = random_trits(rng, 2, 128, 128);
  std::vector<uint8_t> in = i2s_ref_encode(t, 2.0f);
  // Bytes 4..31 of the tail are not part of the format: ignored on import, zero on export.
  for (size_t i = 64 + 4; i < in.size(); ++i) in[i] = 0xab;
  packed_matrix m;
  ASSERT_EQ(ti::import_i2_s(in.data(), in.size(), 2, 128, {}, &m), status::ok);
  std::vector<uint8_t> out;
  ASSERT_EQ(ti::export_i2_s(m, &out), status::ok);
  EXPECT_EQ(out, i2s_ref_encode(t, 2.0f));
  // The scale is the tail's first four bytes.
  const std::vector<float> w = dequant_all(m);
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(w[i], 2.0f * t[i]);
  // A missing tail, an extra byte, a NaN scale.
  EXPECT_TERNARY_ERROR(ti::import_i2_s(in.data(), 64, 2, 128, {}, &m), status::buffer_too_small,
                       "bytes");
  EXPECT_TERNARY_ERROR(ti::import_i2_s(in.data(), in.size(), 2, 200, {}, &m),
                       status::buffer_too_small, "bytes");
  EXPECT_TERNARY_ERROR(ti::import_i2_s(in.data(), in.size(), 1, 128, {}, &m),
                       status::invalid_argument, "bytes");
  std::vector<uint8_t> nan = i2s_ref_encode(t, std::nanf(""));
  EXPECT_TERNARY_ERROR(ti::import_i2_s(nan.data(), nan.size(), 2, 128, {}, &m),
                       status::invalid_scale, "scale");
  EXPECT_TERNARY_ERROR(ti::import_i2_s(nullptr, in.size(), 2, 128, {}, &m), status::null_pointer,
                       "data");
  EXPECT_TERNARY_ERROR(ti::import_i2_s(in.data(), in.size(), 2, 128, {}, nullptr),
                       status::null_pointer, "out");
}

TEST(I2s, CorruptCodeAndRefusals) {
  Rng rng(0x7a2);
  const std::vector<int8_t> t = random_trits(rng, 3, 128, 128);
  std::vector<uint8_t> in = i2s_ref_encode(t, 1.0f);
  in[static_cast<size_t>(64 + 5)] |= 0x0c;  // row 2 (block 2), element 64 + 5: bits 3:2
  packed_matrix m;
  EXPECT_TERNARY_ERROR(ti::import_i2_s(in.data(), in.size(), 3, 128, {}, &m), status::corrupt_data,
                       "row 2 col 69");
  // Export: one scale for the whole tensor.
  const packed_matrix same = pack_matrix(format::bits2, 2, 300, scale_granularity::per_row, 0,
                                         scale_type::f32, {0.5f, 0.5f});
  std::vector<uint8_t> out;
  EXPECT_EQ(ti::export_i2_s(same, &out), status::ok);
  const packed_matrix grp = pack_matrix(format::bits2, 2, 256, scale_granularity::per_group, 128,
                                        scale_type::f16, {0.5f, 0.5f, 0.5f, 0.25f});
  EXPECT_TERNARY_ERROR(ti::export_i2_s(grp, &out), status::unsupported, "scale 3");
  const packed_matrix two = pack_matrix(format::bits2, 2, 256, scale_granularity::per_tensor, 0,
                                        scale_type::f32, {0.5f}, 2);
  EXPECT_TERNARY_ERROR(ti::export_i2_s(two, &out), status::unsupported, "plane");
  EXPECT_TERNARY_ERROR(ti::export_i2_s(same, nullptr), status::null_pointer, "out");
}

// ---- Hugging Face BitNet ------------------------------------------------------------------------

TEST(HfBitnet, LayoutMatchesTransformersPackWeights) {
  Rng rng(0x4f);
  struct Shape {
    int64_t out, in;
  };
  // out % 4 != 0: pack_weights leaves the missing rows' bits 0.
  for (const Shape sh :
       {Shape{8, 5}, Shape{12, 33}, Shape{6, 7}, Shape{5, 3}, Shape{1, 4}, Shape{640, 64}}) {
    for (format f : {format::bits2, format::base3, format::sherry}) {
      const std::vector<int8_t> t = f == format::sherry
                                        ? random_sherry_trits(rng, sh.out, sh.in, sh.in)
                                        : random_trits(rng, sh.out, sh.in, sh.in);
      const std::vector<uint8_t> in = hf_pack_weights(t, sh.out, sh.in);
      for (hf_scale_convention conv :
           {hf_scale_convention::bitlinear, hf_scale_convention::autobitlinear}) {
        packed_matrix m;
        ASSERT_EQ(
            ti::import_hf_bitnet(in.data(), in.size(), sh.out, sh.in, 4.0f, conv, target(f), &m),
            status::ok)
            << ternary::last_error_message();
        EXPECT_EQ(unpack_all(m), t) << sh.out << "x" << sh.in;
        std::vector<float> s(1);
        ASSERT_EQ(m.unpack_scales(0, s.data()), status::ok);
        EXPECT_EQ(s[0], conv == hf_scale_convention::bitlinear ? 0.25f : 4.0f);
        std::vector<uint8_t> w;
        float ws = 0.0f;
        bool exact = false;
        ASSERT_EQ(ti::export_hf_bitnet(m, &w, &ws, conv, &exact), status::ok)
            << ternary::last_error_message();
        EXPECT_EQ(w, in) << sh.out << "x" << sh.in;
        EXPECT_EQ(ws, 4.0f);
        EXPECT_TRUE(exact);
      }
    }
  }
}

TEST(HfBitnet, BothConventionsGiveTheSameWeights) {
  Rng rng(0x50);
  const int64_t out = 16, in = 40;
  const std::vector<int8_t> t = random_trits(rng, out, in, in);
  const std::vector<uint8_t> packed = hf_pack_weights(t, out, in);
  for (float ws : {2.5f, 0.3f, 1.0f / 0.0123f, 7.0f, 1e-3f, -2.0f}) {
    // bitlinear stores 1/alpha: W = t / ws; autobitlinear stores alpha = the fp32 1/ws.
    const float alpha = 1.0f / ws;
    packed_matrix a, b;
    ASSERT_EQ(ti::import_hf_bitnet(packed.data(), packed.size(), out, in, ws,
                                   hf_scale_convention::bitlinear, {}, &a),
              status::ok);
    ASSERT_EQ(ti::import_hf_bitnet(packed.data(), packed.size(), out, in, alpha,
                                   hf_scale_convention::autobitlinear, {}, &b),
              status::ok);
    const std::vector<float> wa = dequant_all(a), wb = dequant_all(b);
    for (size_t i = 0; i < wa.size(); ++i) {
      ASSERT_TRUE(same_bits(wa[i], wb[i])) << i;
      // transformers' value: t / weight_scale in fp32.
      ASSERT_EQ(wa[i], static_cast<float>(t[i]) / ws) << i;
    }
  }
}

TEST(HfBitnet, Bf16WeightScaleSurvivesBitlinearRoundTrip) {
  // weight_scale values of a checkpoint are bf16 (8-bit significand); 1/(1/ws) in fp32 is not
  // always ws, so export searches for the shortest float whose reciprocal is alpha.
  Rng rng(0xbf16);
  const int64_t out = 4, in = 8;
  const std::vector<int8_t> t = random_trits(rng, out, in, in);
  const std::vector<uint8_t> packed = hf_pack_weights(t, out, in);
  for (int i = 0; i < 2000; ++i) {
    const uint32_t bits = (static_cast<uint32_t>(rng.uniform(0x3800, 0x4a00)) << 16);
    const float ws = bits_float(bits);
    packed_matrix m;
    ASSERT_EQ(ti::import_hf_bitnet(packed.data(), packed.size(), out, in, ws,
                                   hf_scale_convention::bitlinear, {}, &m),
              status::ok);
    std::vector<uint8_t> w;
    float back = 0.0f;
    bool exact = false;
    ASSERT_EQ(ti::export_hf_bitnet(m, &w, &back, hf_scale_convention::bitlinear, &exact),
              status::ok);
    EXPECT_TRUE(exact);
    EXPECT_TRUE(same_bits(back, ws)) << ws << " came back as " << back;
    EXPECT_EQ(w, packed);
  }
  // alpha just above 0.5: several floats near 2 have it as their reciprocal; any one will do.
  std::vector<uint8_t> w;
  float ws = 0.0f;
  bool exact = false;
  const float a1 = 1.0f / bits_float(0x3ffffffdu);
  const packed_matrix m1 =
      pack_matrix(format::bits2, 4, 8, scale_granularity::per_tensor, 0, scale_type::f32, {a1});
  ASSERT_EQ(ti::export_hf_bitnet(m1, &w, &ws, hf_scale_convention::bitlinear, &exact), status::ok);
  EXPECT_TRUE(exact);
  EXPECT_EQ(1.0f / ws, a1);
  // alpha = 0.99999994 is no float's reciprocal (1/1 = 1, 1/1.0000001 = 0.9999999): the nearest
  // weight_scale 1/alpha is stored and reported inexact.
  const float a2 = bits_float(0x3f7fffffu);
  const packed_matrix m2 =
      pack_matrix(format::bits2, 4, 8, scale_granularity::per_tensor, 0, scale_type::f32, {a2});
  ASSERT_EQ(ti::export_hf_bitnet(m2, &w, &ws, hf_scale_convention::bitlinear, &exact), status::ok);
  EXPECT_FALSE(exact);
  EXPECT_EQ(ws, 1.0f / a2);
  EXPECT_EQ(ti::export_hf_bitnet(m2, &w, &ws, hf_scale_convention::autobitlinear, &exact),
            status::ok);
  EXPECT_TRUE(exact);
  EXPECT_EQ(ws, a2);
}

TEST(HfBitnet, ErrorsAndRefusals) {
  Rng rng(0x51);
  const int64_t out = 8, in = 16;
  const std::vector<int8_t> t = random_trits(rng, out, in, in);
  std::vector<uint8_t> packed = hf_pack_weights(t, out, in);
  packed_matrix m;
  EXPECT_TERNARY_ERROR(ti::import_hf_bitnet(packed.data(), packed.size(), out, in, 0.0f,
                                            hf_scale_convention::bitlinear, {}, &m),
                       status::invalid_scale, "weight_scale");
  EXPECT_TERNARY_ERROR(ti::import_hf_bitnet(packed.data(), packed.size(), out, in, std::nanf(""),
                                            hf_scale_convention::autobitlinear, {}, &m),
                       status::invalid_scale, "weight_scale");
  EXPECT_TERNARY_ERROR(ti::import_hf_bitnet(packed.data(), packed.size() - 1, out, in, 1.0f,
                                            hf_scale_convention::bitlinear, {}, &m),
                       status::buffer_too_small, "bytes");
  EXPECT_TERNARY_ERROR(ti::import_hf_bitnet(packed.data(), packed.size(), out, in, 1.0f,
                                            static_cast<hf_scale_convention>(5), {}, &m),
                       status::invalid_argument, "convention");
  EXPECT_TERNARY_ERROR(ti::import_hf_bitnet(nullptr, packed.size(), out, in, 1.0f,
                                            hf_scale_convention::bitlinear, {}, &m),
                       status::null_pointer, "weight");
  // Code 3 at packed row 1, col 5, bits 5:4: output row 2 * 2 + 1 = 5.
  packed[static_cast<size_t>(1 * in + 5)] |= 0x30;
  EXPECT_TERNARY_ERROR(ti::import_hf_bitnet(packed.data(), packed.size(), out, in, 1.0f,
                                            hf_scale_convention::bitlinear, {}, &m),
                       status::corrupt_data, "row 5 col 5");

  // alpha = 0 has no bitlinear weight_scale; autobitlinear stores it.
  const packed_matrix zero = pack_matrix(format::bits2, out, in, scale_granularity::per_tensor, 0,
                                         scale_type::f32, {0.0f});
  std::vector<uint8_t> w;
  float ws = 1.0f;
  EXPECT_TERNARY_ERROR(ti::export_hf_bitnet(zero, &w, &ws), status::unsupported, "autobitlinear");
  EXPECT_FALSE(ti::can_export(zero, foreign_format::hf_bitnet));
  ASSERT_EQ(ti::export_hf_bitnet(zero, &w, &ws, hf_scale_convention::autobitlinear), status::ok);
  EXPECT_EQ(ws, 0.0f);
  // Differing per-row scales, two planes, null outputs.
  const packed_matrix rows = pack_matrix(format::bits2, 2, in, scale_granularity::per_row, 0,
                                         scale_type::f32, {1.0f, 2.0f});
  EXPECT_TERNARY_ERROR(ti::export_hf_bitnet(rows, &w, &ws), status::unsupported, "row 1");
  EXPECT_TERNARY_ERROR(ti::export_hf_bitnet(zero, nullptr, &ws), status::null_pointer, "weight");
  EXPECT_TERNARY_ERROR(ti::export_hf_bitnet(zero, &w, nullptr), status::null_pointer,
                       "weight_scale");
}

TEST(Interop, ExportFromAView) {
  // A matrix wrapping someone else's storage (no copy) exports like an owning one.
  Rng rng(0x71e);
  const std::vector<uint8_t> in = random_tq(rng, false, 2, 512);
  packed_matrix m;
  ASSERT_EQ(ti::import_tq2_0(in.data(), in.size(), 2, 512, {}, &m), status::ok);
  packed_matrix view;
  ASSERT_EQ(packed_matrix::wrap(m.desc(), m.storage(), m.storage_bytes(), &view), status::ok);
  std::vector<uint8_t> out;
  ASSERT_EQ(ti::export_tq2_0(view, &out), status::ok);
  EXPECT_EQ(out, in);
}

}  // namespace
