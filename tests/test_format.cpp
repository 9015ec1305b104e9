// SPDX-License-Identifier: Apache-2.0
// Exhaustive tests of the packed-trit formats (format/bits2.hpp, format/base3.hpp,
// format/sherry.hpp), their size arithmetic (format/format.hpp) and the fp16 conversion
// (half.hpp). Every expectation is derived from the documented layout, not from the code.
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "test_util.hpp"

namespace {

using namespace ternary_test;
namespace b2 = ternary::format_bits2;
namespace b3 = ternary::format_base3;
namespace sh = ternary::format_sherry;

// ---------------------------------------------------------------- bits2

TEST(Bits2, EveryByteAtEveryPositionDecodesToItsBitField) {
  // Byte value b placed at byte j must yield (b >> 2p) & 3 for trit 64p + j, for every b, every
  // p and a spread of byte positions; the other bytes hold a different pattern.
  for (int j : {0, 1, 17, 31, 32, 62, 63}) {
    for (int b = 0; b < 256; ++b) {
      uint8_t block[64];
      std::memset(block, 0x1b, sizeof block);
      block[j] = static_cast<uint8_t>(b);
      for (int p = 0; p < 4; ++p) {
        const int code = (b >> (2 * p)) & 3;
        const int i = 64 * p + j;
        ASSERT_EQ(b2::decode_code(block, i), code) << "byte " << b << " at " << j << " p " << p;
        // u = 3 is invalid but documented to decode as +2.
        ASSERT_EQ(b2::decode(block, i), code - 1) << "byte " << b << " at " << j << " p " << p;
        ASSERT_EQ(ternary::decode_trit(format::bits2, block, i), code - 1);
      }
    }
  }
}

TEST(Bits2, SingleNonZeroTritLandsOnItsDocumentedBits) {
  // All-zero trits are code 1 everywhere: every byte is 0b01010101. Setting trit 64p + j to
  // +1 (code 2) or -1 (code 0) changes exactly bits 2p+1:2p of byte j.
  for (int i = 0; i < 256; ++i) {
    for (int8_t v : {int8_t{1}, int8_t{-1}}) {
      int8_t trits[256] = {};
      trits[i] = v;
      uint8_t block[64];
      b2::encode_block(trits, block);
      const int j = i % 64, p = i / 64;
      for (int b = 0; b < 64; ++b) {
        const int expected = b != j ? 0x55 : v > 0 ? 0x55 + (1 << (2 * p)) : 0x55 - (1 << (2 * p));
        ASSERT_EQ(block[b], expected) << "trit " << i << " value " << int{v} << " byte " << b;
      }
    }
  }
}

TEST(Bits2, RandomBlocksRoundTrip) {
  Rng rng(101);
  for (int iter = 0; iter < 500; ++iter) {
    const auto t = random_trits(rng, 1, 256, 256, iter % 4 == 0 ? 0.0 : 0.4);
    uint8_t block[64];
    b2::encode_block(t.data(), block);
    int8_t back[256];
    b2::decode_block(block, back);
    for (int i = 0; i < 256; ++i) {
      ASSERT_EQ(back[i], t[static_cast<size_t>(i)]) << "iter " << iter << " trit " << i;
      // Never writes the invalid code 3.
      ASSERT_NE(b2::decode_code(block, i), 3);
    }
  }
}

// ---------------------------------------------------------------- base3

// The five base-3 digits of v, most significant first.
std::array<int, 5> base3_digits(int v) {
  std::array<int, 5> d{};
  for (int n = 4; n >= 0; --n) {
    d[static_cast<size_t>(n)] = v % 3;
    v /= 3;
  }
  return d;
}

TEST(Base3, All243ValuesEncodeToCeilAndDecodeToTheirDigits) {
  std::set<int> bytes_seen;
  for (int v = 0; v < 243; ++v) {
    const auto digits = base3_digits(v);
    int u[5];
    for (int n = 0; n < 5; ++n) u[n] = digits[static_cast<size_t>(n)];
    const uint8_t q = b3::encode_byte(u);
    EXPECT_EQ(int{q}, static_cast<int>(std::ceil(v * 256.0 / 243.0))) << "v " << v;
    bytes_seen.insert(q);
    for (int n = 0; n < 5; ++n) {
      EXPECT_EQ(b3::decode_code_byte(q, n), digits[static_cast<size_t>(n)])
          << "v " << v << " byte " << int{q} << " digit " << n;
    }
  }
  EXPECT_EQ(bytes_seen.size(), 243u) << "encoding is not injective";
  EXPECT_EQ(*bytes_seen.rbegin(), 255);  // q(242) = 255 as documented
}

TEST(Base3, EveryByteDecodesDeterministicallyToValidDigits) {
  for (int q = 0; q < 256; ++q) {
    uint8_t block[64];
    std::memset(block, q, sizeof block);
    for (int n = 0; n < 5; ++n) {
      const int d = b3::decode_code_byte(static_cast<uint8_t>(q), n);
      EXPECT_GE(d, 0) << "byte " << q << " digit " << n;
      EXPECT_LE(d, 2) << "byte " << q << " digit " << n;
      EXPECT_EQ(d, b3::decode_code_byte(static_cast<uint8_t>(q), n));
      for (int j : {0, 5, 63}) {
        EXPECT_EQ(b3::decode_code(block, 64 * n + j), d);
        EXPECT_EQ(b3::decode(block, 64 * n + j), d - 1);
      }
    }
  }
}

TEST(Base3, PositionMappingByteJDigitN) {
  // Distinct bytes in every position: trit 64n + j must read digit n of byte j.
  Rng rng(7);
  for (int iter = 0; iter < 50; ++iter) {
    uint8_t block[64];
    for (auto& b : block) b = static_cast<uint8_t>(rng.u32());
    for (int i = 0; i < 320; ++i) {
      const int j = i % 64, n = i / 64;
      ASSERT_EQ(b3::decode(block, i), b3::decode_code_byte(block[j], n) - 1) << "trit " << i;
      ASSERT_EQ(ternary::decode_trit(format::base3, block, i), b3::decode(block, i));
    }
  }
}

TEST(Base3, SingleNonZeroTritLandsOnItsDocumentedByte) {
  // All-zero trits: u = 1 everywhere, v = 121, byte = ceil(121 * 256 / 243) = 128. Trit 64n + j
  // set to +-1 changes v of byte j by +-3^(4-n).
  const int zero_byte = static_cast<int>(std::ceil(121 * 256.0 / 243.0));
  ASSERT_EQ(zero_byte, 128);
  for (int i = 0; i < 320; ++i) {
    for (int8_t val : {int8_t{1}, int8_t{-1}}) {
      int8_t trits[320] = {};
      trits[i] = val;
      uint8_t block[64];
      b3::encode_block(trits, block);
      const int j = i % 64, n = i / 64;
      const int v = 121 + val * static_cast<int>(std::pow(3, 4 - n));
      const int expected = static_cast<int>(std::ceil(v * 256.0 / 243.0));
      for (int b = 0; b < 64; ++b) {
        ASSERT_EQ(int{block[b]}, b == j ? expected : zero_byte)
            << "trit " << i << " value " << int{val} << " byte " << b;
      }
    }
  }
}

TEST(Base3, RandomBlocksRoundTrip) {
  Rng rng(102);
  for (int iter = 0; iter < 500; ++iter) {
    const auto t = random_trits(rng, 1, 320, 320, iter % 4 == 0 ? 0.0 : 0.4);
    uint8_t block[64];
    b3::encode_block(t.data(), block);
    int8_t back[320];
    b3::decode_block(block, back);
    for (int i = 0; i < 320; ++i) {
      ASSERT_EQ(back[i], t[static_cast<size_t>(i)]) << "iter " << iter << " trit " << i;
    }
  }
}

// ---------------------------------------------------------------- sherry

// The documented code of a valid quad, written from the spec independently of encode_quad:
// c = (sign(n0) < 0) << 4 | z << 2 | (t[n2] != t[n0]) << 1 | (t[n1] != t[n0]).
int spec_code(const int8_t* t) {
  int z = -1;
  int nz[3], k = 0;
  for (int lane = 0; lane < 4; ++lane) {
    if (t[lane] == 0) {
      z = lane;
    } else {
      nz[k++] = lane;
    }
  }
  return (t[nz[0]] < 0 ? 16 : 0) | (z << 2) | ((t[nz[2]] != t[nz[0]]) << 1) |
         (t[nz[1]] != t[nz[0]] ? 1 : 0);
}

TEST(Sherry, All32CodesDecodeToDistinctOneZeroQuads) {
  std::set<std::array<int8_t, 4>> seen;
  for (unsigned c = 0; c < 32; ++c) {
    int8_t t[4] = {7, 7, 7, 7};
    sh::decode_quad(c, t);
    int zeros = 0;
    for (int lane = 0; lane < 4; ++lane) {
      EXPECT_TRUE(t[lane] == -1 || t[lane] == 0 || t[lane] == 1) << "code " << c;
      zeros += t[lane] == 0;
    }
    EXPECT_EQ(zeros, 1) << "code " << c;
    EXPECT_EQ(t[(c >> 2) & 3], 0) << "code " << c << ": zero lane is bits 3:2";
    EXPECT_EQ(spec_code(t), static_cast<int>(c)) << "code " << c;
    EXPECT_EQ(sh::encode_quad(t), static_cast<int>(c)) << "encode(decode(c)) != c for " << c;
    seen.insert({t[0], t[1], t[2], t[3]});
  }
  EXPECT_EQ(seen.size(), 32u);
}

TEST(Sherry, All81QuadsEncodeExactlyWhenOneZero) {
  int valid = 0;
  for (int v = 0; v < 81; ++v) {
    int8_t t[4];
    int x = v, zeros = 0;
    for (int lane = 0; lane < 4; ++lane) {
      t[lane] = static_cast<int8_t>(x % 3 - 1);
      x /= 3;
      zeros += t[lane] == 0;
    }
    const int c = sh::encode_quad(t);
    if (zeros != 1) {
      EXPECT_EQ(c, -1) << "quad " << int{t[0]} << int{t[1]} << int{t[2]} << int{t[3]};
      continue;
    }
    ++valid;
    ASSERT_GE(c, 0);
    ASSERT_LT(c, 32);
    EXPECT_EQ(c, spec_code(t));
    int8_t back[4];
    sh::decode_quad(static_cast<unsigned>(c), back);
    for (int lane = 0; lane < 4; ++lane) EXPECT_EQ(back[lane], t[lane]) << "quad " << v;
  }
  EXPECT_EQ(valid, 32);
  // Values outside {-1, 0, +1} are rejected even with one zero.
  const int8_t bad[][4] = {{0, 2, 1, 1}, {0, 1, -2, 1}, {1, 1, 0, 127}, {-128, 0, 1, 1}};
  for (const auto& q : bad) EXPECT_EQ(sh::encode_quad(q), -1);
}

TEST(Sherry, QuadCodesU32MatchesDecodeQuad) {
  for (unsigned c = 0; c < 32; ++c) {
    int8_t t[4];
    sh::decode_quad(c, t);
    const uint32_t w = sh::quad_codes_u32(c);
    for (int p = 0; p < 4; ++p) {
      EXPECT_EQ(static_cast<int>((w >> (8 * p)) & 0xff), t[p] + 1) << "code " << c << " lane " << p;
    }
  }
}

TEST(Sherry, BlockLayoutMatchesNibbleAndSignPlanes) {
  Rng rng(103);
  for (int iter = 0; iter < 300; ++iter) {
    const auto t = random_sherry_trits(rng, 1, 256, 256);
    // Hand-built block from the documented layout.
    uint8_t expected[40] = {};
    for (int q = 0; q < 64; ++q) {
      const int c = spec_code(&t[static_cast<size_t>(4 * q)]);
      expected[q % 32] = static_cast<uint8_t>(expected[q % 32] | (c & 15) << (q < 32 ? 0 : 4));
      expected[32 + q / 8] = static_cast<uint8_t>(expected[32 + q / 8] | (c >> 4) << (q % 8));
    }
    uint8_t block[40];
    std::memset(block, 0xa5, sizeof block);  // encode_block must write every byte
    ASSERT_EQ(sh::encode_block(t.data(), block), -1) << "iter " << iter;
    for (int b = 0; b < 40; ++b)
      ASSERT_EQ(block[b], expected[b]) << "iter " << iter << " byte " << b;
    for (int q = 0; q < 64; ++q) {
      ASSERT_EQ(static_cast<int>(sh::quad_code(block, q)),
                spec_code(&t[static_cast<size_t>(4 * q)]));
    }
    int8_t back[256];
    sh::decode_block(block, back);
    for (int i = 0; i < 256; ++i) {
      ASSERT_EQ(back[i], t[static_cast<size_t>(i)]) << "iter " << iter << " trit " << i;
      ASSERT_EQ(sh::decode(block, i), t[static_cast<size_t>(i)]);
      ASSERT_EQ(ternary::decode_trit(format::sherry, block, i), t[static_cast<size_t>(i)]);
    }
  }
}

TEST(Sherry, SetQuadCodeOverwritesOldCode) {
  uint8_t block[40];
  std::memset(block, 0, sizeof block);
  for (int q = 0; q < 64; ++q) sh::set_quad_code(block, q, 31u);
  for (int q = 0; q < 64; ++q) {
    const unsigned c = static_cast<unsigned>((q * 7 + 3) % 32);
    sh::set_quad_code(block, q, c);
  }
  for (int q = 0; q < 64; ++q)
    EXPECT_EQ(sh::quad_code(block, q), static_cast<unsigned>((q * 7 + 3) % 32));
}

TEST(Sherry, EncodeBlockReportsFirstInvalidQuad) {
  Rng rng(104);
  auto t = random_sherry_trits(rng, 1, 256, 256);
  uint8_t block[40];
  ASSERT_EQ(sh::encode_block(t.data(), block), -1);
  // Quad 9: two zeros; quad 40: no zero. The first bad quad is reported.
  t[36] = 0;
  t[37] = 0;
  t[160] = t[161] = t[162] = t[163] = 1;
  EXPECT_EQ(sh::encode_block(t.data(), block), 9);
  t[36] = 1;
  t[37] = 1;
  t[38] = 1;
  t[39] = 0;
  EXPECT_EQ(sh::encode_block(t.data(), block), 40);
}

// ---------------------------------------------------------------- size arithmetic

TEST(FormatSizes, BlockConstantsAndBitsPerWeight) {
  EXPECT_EQ(ternary::block_trits(format::bits2), 256);
  EXPECT_EQ(ternary::block_bytes(format::bits2), 64);
  EXPECT_EQ(ternary::block_trits(format::base3), 320);
  EXPECT_EQ(ternary::block_bytes(format::base3), 64);
  EXPECT_EQ(ternary::block_trits(format::sherry), 256);
  EXPECT_EQ(ternary::block_bytes(format::sherry), 40);
  EXPECT_DOUBLE_EQ(ternary::bits_per_weight(format::bits2), 2.0);
  EXPECT_DOUBLE_EQ(ternary::bits_per_weight(format::base3), 1.6);
  EXPECT_DOUBLE_EQ(ternary::bits_per_weight(format::sherry), 1.25);
  // Every block is a whole number of 64-trit chunks.
  for (format f : {format::bits2, format::base3, format::sherry}) {
    EXPECT_EQ(ternary::block_trits(f) % ternary::chunk_trits, 0) << ternary::format_name(f);
  }
  EXPECT_EQ(ternary::max_cols, int64_t{1} << 23);
}

TEST(FormatSizes, PaddedColsAndRowBytes) {
  struct Row {
    format f;
    int64_t cols, padded, bytes;
  };
  const Row rows[] = {
      {format::bits2, 1, 256, 64},       {format::bits2, 255, 256, 64},
      {format::bits2, 256, 256, 64},     {format::bits2, 257, 512, 128},
      {format::bits2, 4096, 4096, 1024}, {format::base3, 1, 320, 64},
      {format::base3, 319, 320, 64},     {format::base3, 320, 320, 64},
      {format::base3, 321, 640, 128},    {format::base3, 4096, 4160, 832},
      {format::sherry, 1, 256, 40},      {format::sherry, 256, 256, 40},
      {format::sherry, 257, 512, 80},    {format::sherry, 4096, 4096, 640},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(ternary::padded_cols(r.f, r.cols), r.padded)
        << ternary::format_name(r.f) << " " << r.cols;
    EXPECT_EQ(ternary::row_bytes(r.f, r.cols), r.bytes)
        << ternary::format_name(r.f) << " " << r.cols;
  }
  // At max_cols the arithmetic is still exact.
  EXPECT_EQ(ternary::row_bytes(format::bits2, ternary::max_cols), ternary::max_cols / 4);
}

TEST(FormatSizes, DecodeTritWalksBlocksOfARow) {
  // A row of three blocks of each format: decode_trit(k) equals the in-block decoder of block
  // k / block_trits at index k % block_trits.
  Rng rng(105);
  for (format f : {format::bits2, format::base3, format::sherry}) {
    const int64_t bt = ternary::block_trits(f), bb = ternary::block_bytes(f);
    const auto t = f == format::sherry ? random_sherry_trits(rng, 1, 3 * bt, 3 * bt)
                                       : random_trits(rng, 1, 3 * bt, 3 * bt);
    std::vector<uint8_t> row(static_cast<size_t>(3 * bb));
    for (int b = 0; b < 3; ++b) {
      const int8_t* src = t.data() + b * bt;
      uint8_t* dst = row.data() + b * bb;
      if (f == format::bits2) b2::encode_block(src, dst);
      if (f == format::base3) b3::encode_block(src, dst);
      if (f == format::sherry) {
        ASSERT_EQ(sh::encode_block(src, dst), -1);
      }
    }
    for (int64_t k = 0; k < 3 * bt; ++k) {
      ASSERT_EQ(ternary::decode_trit(f, row.data(), k), t[static_cast<size_t>(k)])
          << ternary::format_name(f) << " k " << k;
    }
  }
}

TEST(FormatSizes, EnumValidityAndNames) {
  EXPECT_TRUE(ternary::is_valid(format::bits2));
  EXPECT_TRUE(ternary::is_valid(format::sherry));
  EXPECT_FALSE(ternary::is_valid(static_cast<format>(0)));
  EXPECT_FALSE(ternary::is_valid(static_cast<format>(99)));
  EXPECT_FALSE(ternary::is_valid(static_cast<scale_granularity>(0)));
  EXPECT_FALSE(ternary::is_valid(static_cast<scale_type>(3)));
  EXPECT_STREQ(ternary::format_name(format::bits2), "bits2");
  EXPECT_STREQ(ternary::format_name(format::base3), "base3");
  EXPECT_STREQ(ternary::format_name(format::sherry), "sherry");
  EXPECT_STREQ(ternary::granularity_name(scale_granularity::per_tensor), "per_tensor");
  EXPECT_STREQ(ternary::granularity_name(scale_granularity::per_row), "per_row");
  EXPECT_STREQ(ternary::granularity_name(scale_granularity::per_group), "per_group");
  EXPECT_STREQ(ternary::scale_type_name(scale_type::f32), "f32");
  EXPECT_STREQ(ternary::scale_type_name(scale_type::f16), "f16");
  // Unknown values still get a printable (non-null) name.
  EXPECT_NE(ternary::format_name(static_cast<format>(99)), nullptr);
  EXPECT_NE(ternary::granularity_name(static_cast<scale_granularity>(99)), nullptr);
  EXPECT_NE(ternary::scale_type_name(static_cast<scale_type>(99)), nullptr);
}

// ---------------------------------------------------------------- half

// Value of a binary16 bit pattern from the IEEE definition (NaN handled by the caller).
double half_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? std::ldexp(m, -24) : e == 31 ? HUGE_VAL : std::ldexp(1024 + m, e - 25);
  return s ? -v : v;
}

// Slow reference float -> half: round |f| to the binary16 grid, nearest, ties to even.
uint16_t slow_float_to_half(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (std::isnan(f)) return 0x7e00;
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return sign | 0x7c00;  // 65520 is halfway from 65504 to 2^16: ties to even
  int e = a == 0.0 ? -14 : std::ilogb(a);
  if (e < -14) e = -14;
  const double quantum = std::ldexp(1.0, e - 10);
  const double n = std::nearbyint(a / quantum);  // exact quotient; default mode is to-even
  const double r = n * quantum;
  if (r == 0.0) return sign;
  if (r < std::ldexp(1.0, -14))
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(r * 16777216.0));
  const int re = std::ilogb(r);
  const int mant = static_cast<int>(r / std::ldexp(1.0, re - 10)) - 1024;
  return static_cast<uint16_t>(sign | (re + 15) << 10 | mant);
}

TEST(Half, AllHalvesToFloatMatchTheDefinitionAndRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t hb = static_cast<uint16_t>(h);
    const float f = ternary::half_to_float(hb);
    const bool is_nan = ((h >> 10) & 31) == 31 && (h & 1023) != 0;
    if (is_nan) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      ASSERT_TRUE(std::isnan(ternary::half_to_float(ternary::float_to_half(f)))) << std::hex << h;
      const uint16_t back = ternary::float_to_half(f);
      ASSERT_EQ(back & 0x7c00, 0x7c00) << std::hex << h;
      ASSERT_NE(back & 0x3ff, 0) << std::hex << h;
      ASSERT_EQ(back & 0x8000, h & 0x8000) << std::hex << h;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), half_value(hb)) << std::hex << h;
    ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << h;
    ASSERT_EQ(ternary::float_to_half(f), hb) << std::hex << h;
  }
}

TEST(Half, FloatToHalfMatchesSlowReference) {
  auto check = [](float f) {
    const uint16_t got = ternary::float_to_half(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(ternary::half_to_float(got))) << f;
      return;
    }
    const uint16_t want = slow_float_to_half(f);
    ASSERT_EQ(got, want) << std::hexfloat << f << " bits 0x" << std::hex << float_bits(f);
#if defined(__FLT16_MAX__) && (defined(__x86_64__) || defined(__clang__))
    const _Float16 hw = static_cast<_Float16>(f);
    uint16_t hw_bits;
    std::memcpy(&hw_bits, &hw, sizeof hw_bits);
    ASSERT_EQ(got, hw_bits) << std::hexfloat << f << " (vs _Float16)";
#endif
  };
  // Every tie between consecutive finite halves, and its neighbours one float ulp away.
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    for (uint16_t sign : {uint16_t{0}, uint16_t{0x8000}}) {
      const double lo = half_value(static_cast<uint16_t>(h | sign));
      const double hi = h + 1 == 0x7c00 ? (sign ? -65536.0 : 65536.0)
                                        : half_value(static_cast<uint16_t>((h + 1) | sign));
      const float mid = static_cast<float>((lo + hi) / 2);  // exact: needs 12 significant bits
      ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
      check(mid);
      check(std::nextafter(mid, 0.0f));
      check(std::nextafter(mid, mid * 2));
      check(static_cast<float>(lo));
    }
  }
  // Random bit patterns (every exponent: underflow, subnormals, overflow, inf, NaN).
  Rng rng(106);
  for (int i = 0; i < 1500000; ++i) check(bits_float(rng.u32()));
  // Random values in and around the half range, log-uniform, including subnormal halves.
  for (int i = 0; i < 1500000; ++i) {
    float f = std::exp2(rng.uniform_float(-27.0f, 16.5f));
    if (rng.chance(0.5)) f = -f;
    check(f);
  }
  // Specials.
  for (float f : {0.0f, -0.0f, 65504.0f, 65519.996f, 65520.0f, 1e9f, -1e9f,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::denorm_min(), 0x1p-25f, 0x1.000002p-25f, 0x1p-24f,
                  0x1.8p-24f, 0x1p-14f, 0x1.ffcp-15f}) {
    check(f);
  }
  EXPECT_EQ(ternary::float_to_half(65520.0f), 0x7c00);
  EXPECT_EQ(ternary::float_to_half(0x1p-25f), 0);    // tie to even (zero)
  EXPECT_EQ(ternary::float_to_half(0x1.8p-24f), 2);  // 1.5 subnormal ulps: tie to even (2)
  EXPECT_TRUE(std::isnan(
      ternary::half_to_float(ternary::float_to_half(std::numeric_limits<float>::quiet_NaN()))));
}

}  // namespace
