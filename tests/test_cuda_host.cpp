// SPDX-License-Identifier: Apache-2.0
// The CUDA backend's host/device helpers (cuda/layout.hpp) checked on the CPU, in every build:
// the GPU weight layout round-trips and decodes like the CPU formats, the kernels' algorithm
// (piece loads, dp4a-style offset-code dots with the Σa correction, the per-group fold order and
// the fp32 epilogue) reproduces ref::gemm_int8 bit for bit, and the device quantizer's rounding
// matches ref::quantize_row. Also: the ternary::cuda API answers no_cuda in a build without CUDA.
#include <cmath>
#include <cstring>
#include <vector>

#include "layout.hpp"
#include "test_util.hpp"
#include <gtest/gtest.h>

#include "ternary/cuda.hpp"
#include "ternary/gemm.hpp"
#include "ternary/ref/gemm.hpp"
#include "ternary/ref/quantize.hpp"

namespace {

using namespace ternary_test;
namespace cd = ternary::cuda::detail;
using ternary::matrix_view;

std::vector<uint32_t> sherry_table() {
  std::vector<uint32_t> t(32);
  cd::fill_sherry_table(t.data());
  return t;
}

// GPU rows of one plane, exactly as cuda::upload builds them.
std::vector<uint8_t> gpu_plane(const packed_matrix& w, int p) {
  const matrix_view& v = w.view();
  const int64_t rb = cd::gpu_row_bytes(v.fmt, v.cols);
  std::vector<uint8_t> out(static_cast<size_t>(rb * v.rows));
  std::vector<int8_t> scratch(static_cast<size_t>(cd::row_scratch_trits(v.fmt, v.cols)));
  for (int64_t r = 0; r < v.rows; ++r) cd::encode_row(v, p, r, scratch.data(), out.data() + r * rb);
  return out;
}

TEST(CudaLayout, PieceOffsetsAreABijection) {
  for (format f : all_formats()) {
    const cd::unit_shape sh = cd::shape_of(f);
    EXPECT_EQ(cd::unit_words(f) * 4, sh.pieces * sh.piece_bytes);
    EXPECT_EQ(sh.chunks * 64, sh.trits);
    for (int64_t units = 1; units <= 70; ++units) {
      std::vector<int> hit(static_cast<size_t>(units * sh.pieces), 0);
      for (int64_t u = 0; u < units; ++u)
        for (int q = 0; q < sh.pieces; ++q) {
          const int64_t off = cd::piece_offset(f, units, u, q);
          ASSERT_EQ(off % sh.piece_bytes, 0);
          ASSERT_GE(off, 0);
          ASSERT_LT(off / sh.piece_bytes, units * sh.pieces);
          ++hit[static_cast<size_t>(off / sh.piece_bytes)];
        }
      for (int h : hit) ASSERT_EQ(h, 1) << ternary::format_name(f) << " units=" << units;
      // A warp-wide load (piece q of the 32 units of a full step) is one contiguous range.
      if (units >= 32) {
        for (int q = 0; q < sh.pieces; ++q)
          for (int l = 1; l < 32; ++l)
            ASSERT_EQ(cd::piece_offset(f, units, l, q),
                      cd::piece_offset(f, units, 0, q) + l * sh.piece_bytes);
      }
    }
  }
}

TEST(CudaLayout, UnitsDecodeLikeTheCpuFormats) {
  const auto table = sherry_table();
  Rng rng(11);
  for (format f : all_formats()) {
    for (int64_t cols : {1, 63, 64, 65, 256, 257, 320, 333, 640, 1100}) {
      const matrix_desc d = make_desc(f, 5, cols, scale_granularity::per_row);
      const TritCase c = make_case(rng, d);
      packed_matrix w;
      ASSERT_EQ(pack_case(c, &w), status::ok);
      const auto g = gpu_plane(w, 0);
      const int64_t units = cd::units_per_row(f, cols), rb = cd::gpu_row_bytes(f, cols);
      const int U = cd::shape_of(f).trits;
      for (int64_t r = 0; r < d.rows; ++r)
        for (int64_t u = 0; u < units; ++u) {
          uint32_t words[16];
          cd::load_unit(f, g.data() + r * rb, units, u, words);
          for (int k = 0; k < U; ++k) {
            const int64_t col = u * U + k;
            const int expect =
                col < w.view().padded_cols ? ternary::trit_at(w.view(), 0, r, col) : 0;
            if (col >= w.view().padded_cols && f == format::sherry) continue;  // code 0 padding
            ASSERT_EQ(cd::unit_trit(f, words, k, table.data()), expect)
                << describe(d) << " row " << r << " col " << col;
          }
        }
    }
  }
}

TEST(CudaLayout, Base3DigitExtractionCoversEveryByte) {
  // unit_codes<base3> decodes four bytes at once in 16-bit lanes; check all 256 byte values in
  // every byte position against the scalar decoder.
  for (int v = 0; v < 256; ++v)
    for (int pos = 0; pos < 4; ++pos) {
      uint32_t w[16] = {};
      w[3] = static_cast<uint32_t>(v) << (8 * pos) | (0xa5u << (8 * ((pos + 1) % 4)));
      for (int n = 0; n < 5; ++n) {
        const uint32_t codes = cd::unit_codes<format::base3>(w, n, 3, nullptr);
        ASSERT_EQ(static_cast<int>((codes >> (8 * pos)) & 0xffu),
                  ternary::format_base3::decode_code_byte(static_cast<uint8_t>(v), n))
            << "byte " << v << " digit " << n;
      }
    }
}

TEST(CudaLayout, Dot4MatchesScalarProducts) {
  Rng rng(3);
  for (int i = 0; i < 10000; ++i) {
    const uint32_t u = rng.u32() & 0x03030303u, a = rng.u32();
    int32_t expect = 7;
    for (int b = 0; b < 4; ++b)
      expect += static_cast<int>((u >> (8 * b)) & 3u) * static_cast<int8_t>((a >> (8 * b)) & 0xffu);
    ASSERT_EQ(cd::dot4(u, a, 7), expect);
  }
  EXPECT_EQ(cd::byte_sum(0x80ff7f01u), -128 - 1 + 127 + 1);
}

// ---- the kernel's algorithm, emulated lane by lane on the CPU -----------------------------------

struct Staged {
  int64_t x_ld = 0;
  std::vector<int8_t> x;      // tokens x x_ld, zero-padded
  std::vector<int32_t> sums;  // tokens x x_ld/64
};

Staged stage(const std::vector<int8_t>& xq, int64_t tokens, int64_t cols, int64_t ld,
             int64_t x_ld) {
  Staged s;
  s.x_ld = x_ld;
  s.x.assign(static_cast<size_t>(tokens * x_ld), 0);
  s.sums.assign(static_cast<size_t>(tokens * (x_ld / 64)), 0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t k = 0; k < cols; ++k) {
      s.x[static_cast<size_t>(t * x_ld + k)] = xq[static_cast<size_t>(t * ld + k)];
      s.sums[static_cast<size_t>(t * (x_ld / 64) + k / 64)] += xq[static_cast<size_t>(t * ld + k)];
    }
  return s;
}

template <format F>
int32_t chunk_sum(const uint32_t* words, int e, const Staged& s, int64_t t, int64_t u,
                  const uint32_t* table) {
  const int U = cd::shape_of(F).trits, CH = cd::shape_of(F).chunks;
  uint32_t act[16];
  std::memcpy(act, s.x.data() + t * s.x_ld + u * U + 64 * e, sizeof act);
  return cd::chunk_dot_int8<F>(words, e, act,
                               s.sums[static_cast<size_t>(t * (s.x_ld / 64) + u * CH + e)], table);
}

// y (tokens x N) computed as the CUDA kernel does: steps of 32 units, per-row sums reduced as
// integers, per-group chunk sums folded in chunk order, fp32 epilogue without FMA.
template <format F>
TERNARY_NO_FP_CONTRACT void emulate_int8(const packed_matrix& w, const Staged& s,
                                         const float* act_scale, int64_t tokens, float* y) {
  TERNARY_FP_CONTRACT_OFF
  const matrix_view& v = w.view();
  const auto table = sherry_table();
  const int CH = cd::shape_of(F).chunks;
  const int64_t units = cd::units_per_row(F, v.cols), rb = cd::gpu_row_bytes(F, v.cols);
  const bool grouped = v.granularity == scale_granularity::per_group;
  const int64_t group_chunks = grouped ? v.group_size / 64 : 1;
  const int64_t chunks_k = (v.cols + 63) / 64;
  std::vector<float> scales[2];
  std::vector<uint8_t> planes[2];
  for (int p = 0; p < v.planes; ++p) {
    planes[p] = gpu_plane(w, p);
    scales[p].resize(static_cast<size_t>(w.scale_count()));
    ASSERT_EQ(w.unpack_scales(p, scales[p].data()), status::ok);
  }
  for (int64_t r = 0; r < v.rows; ++r) {
    std::vector<float> acc(static_cast<size_t>(tokens), 0.0f);
    for (int p = 0; p < v.planes; ++p) {
      const uint8_t* row = planes[p].data() + r * rb;
      for (int64_t t = 0; t < tokens; ++t) {
        int32_t tot = 0, group_sum = 0;
        for (int64_t first = 0; first < units; first += 32) {
          const int64_t m = std::min<int64_t>(32, units - first);
          std::vector<int32_t> cs(static_cast<size_t>(32 * CH), 0);
          for (int64_t lane = 0; lane < m; ++lane) {
            uint32_t words[16];
            cd::load_unit(F, row, units, first + lane, words);
            for (int e = 0; e < CH; ++e)
              cs[static_cast<size_t>(lane * CH + e)] =
                  chunk_sum<F>(words, e, s, t, first + lane, table.data());
          }
          for (int64_t c = 0; c < m * CH; ++c) {
            if (!grouped) {
              tot += cs[static_cast<size_t>(c)];
              continue;
            }
            const int64_t gc = first * CH + c;
            if (gc >= chunks_k) break;
            group_sum += cs[static_cast<size_t>(c)];
            if ((gc + 1) % group_chunks == 0 || gc + 1 == chunks_k) {
              acc[static_cast<size_t>(t)] =
                  acc[static_cast<size_t>(t)] +
                  static_cast<float>(group_sum) *
                      scales[p][static_cast<size_t>(r * v.groups_per_row + gc / group_chunks)];
              group_sum = 0;
            }
          }
        }
        if (!grouped) {
          const float al =
              scales[p]
                    [v.granularity == scale_granularity::per_tensor ? 0 : static_cast<size_t>(r)];
          acc[static_cast<size_t>(t)] = acc[static_cast<size_t>(t)] + static_cast<float>(tot) * al;
        }
      }
    }
    for (int64_t t = 0; t < tokens; ++t) {
      float out = acc[static_cast<size_t>(t)] / act_scale[t];
      if (v.bias) out = out + v.bias[r];
      y[t * v.rows + r] = out;
    }
  }
}

void emulate(const packed_matrix& w, const Staged& s, const float* sc, int64_t tokens, float* y) {
  switch (w.fmt()) {
    case format::bits2: emulate_int8<format::bits2>(w, s, sc, tokens, y); break;
    case format::base3: emulate_int8<format::base3>(w, s, sc, tokens, y); break;
    default: emulate_int8<format::sherry>(w, s, sc, tokens, y); break;
  }
}

TEST(CudaAlgorithm, Int8MatchesReferenceBitForBit) {
  Rng rng(2024);
  int cases = 0;
  std::vector<Gran> grans = all_grans();
  grans.push_back({scale_granularity::per_group, 192});  // G not a power of two
  for (format f : all_formats())
    for (const Gran& g : grans)
      for (int64_t cols : {1, 64, 65, 200, 320, 321, 700, 2100})
        for (int planes : {1, 2}) {
          const bool bias = rng.chance(0.5);
          const scale_type st = rng.chance(0.5) ? scale_type::f16 : scale_type::f32;
          const matrix_desc d = make_desc(f, 7, cols, g.g, g.group_size, st, planes, bias);
          const TritCase c = make_case(rng, d);
          packed_matrix w;
          ASSERT_EQ(pack_case(c, &w), status::ok) << describe(d);
          for (int64_t tokens : {1, 3}) {
            const int64_t ld = cols + 5;
            std::vector<int8_t> xq(static_cast<size_t>(tokens * ld));
            for (auto& v : xq) v = static_cast<int8_t>(rng.uniform(-128, 127));
            std::vector<float> sc(static_cast<size_t>(tokens));
            for (auto& v : sc) v = rng.uniform_float(0.5f, 300.0f);
            const int64_t x_ld = cd::units_per_row(f, cols) * cd::shape_of(f).trits;
            const Staged s = stage(xq, tokens, cols, ld, x_ld);
            std::vector<float> got(static_cast<size_t>(tokens * d.rows)),
                want(static_cast<size_t>(tokens * d.rows));
            emulate(w, s, sc.data(), tokens, got.data());
            ternary::ref::gemm_int8(w.view(), xq.data(), sc.data(), tokens, ld, want.data(), d.rows,
                                    0, d.rows);
            for (size_t i = 0; i < got.size(); ++i)
              ASSERT_TRUE(same_bits(got[i], want[i]))
                  << describe(d) << " tokens=" << tokens << " i=" << i << ": " << got[i] << " vs "
                  << want[i];
            ++cases;
          }
        }
  EXPECT_GT(cases, 200);
}

TEST(CudaAlgorithm, FloatChunkDotMatchesTrits) {
  const auto table = sherry_table();
  Rng rng(5);
  for (format f : all_formats()) {
    const matrix_desc d = make_desc(f, 3, 700, scale_granularity::per_row);
    const TritCase c = make_case(rng, d);
    packed_matrix w;
    ASSERT_EQ(pack_case(c, &w), status::ok);
    const auto g = gpu_plane(w, 0);
    const int64_t units = cd::units_per_row(f, d.cols), rb = cd::gpu_row_bytes(f, d.cols);
    const cd::unit_shape sh = cd::shape_of(f);
    std::vector<float> x(static_cast<size_t>(units * sh.trits), 0.0f);
    for (int64_t k = 0; k < d.cols; ++k) x[static_cast<size_t>(k)] = rng.uniform_float(-2, 2);
    for (int64_t r = 0; r < d.rows; ++r)
      for (int64_t u = 0; u < units; ++u) {
        uint32_t words[16], codes[16];
        cd::load_unit(f, g.data() + r * rb, units, u, words);
        for (int e = 0; e < sh.chunks; ++e) {
          if (f == format::bits2) cd::chunk_codes<format::bits2>(words, e, table.data(), codes);
          if (f == format::base3) cd::chunk_codes<format::base3>(words, e, table.data(), codes);
          if (f == format::sherry) cd::chunk_codes<format::sherry>(words, e, table.data(), codes);
          const float* xc = x.data() + u * sh.trits + 64 * e;
          const float got = cd::dot_codes_float(codes, [xc](int k) { return xc[k]; });
          double want = 0;
          for (int k = 0; k < 64; ++k) {
            const int64_t col = u * sh.trits + 64 * e + k;
            if (col < d.cols) want += ternary::trit_at(w.view(), 0, r, col) * double(xc[k]);
          }
          ASSERT_NEAR(got, want, 1e-4) << describe(d) << " row " << r << " unit " << u;
        }
      }
  }
}

TEST(CudaAlgorithm, QuantizerRoundingMatchesReference) {
  Rng rng(9);
  for (int rep = 0; rep < 200; ++rep) {
    const int64_t k = rng.uniform(1, 300);
    std::vector<float> x(static_cast<size_t>(k));
    for (auto& v : x) v = rng.uniform_float(-4, 4);
    if (rep % 3 == 0) x[0] = 0.0f;
    if (rep % 7 == 0)
      for (auto& v : x) v = 0.0f;  // all-zero token: the 1e-5 floor
    std::vector<int8_t> want(static_cast<size_t>(k));
    const float s_ref = ternary::ref::quantize_row(x.data(), k, want.data());
    float amax = 0.0f;
    for (float v : x) amax = std::fmax(amax, std::fabs(v));
    const float s = cd::act_scale(amax);
    ASSERT_TRUE(same_bits(s, s_ref));
    for (int64_t i = 0; i < k; ++i)
      ASSERT_EQ(cd::quantize_value(x[static_cast<size_t>(i)], s), want[static_cast<size_t>(i)]);
  }
  // Ties round to even; the clamp keeps -128 and 127.
  EXPECT_EQ(cd::quantize_value(2.5f, 1.0f), 2);
  EXPECT_EQ(cd::quantize_value(3.5f, 1.0f), 4);
  EXPECT_EQ(cd::quantize_value(-2.5f, 1.0f), -2);
  EXPECT_EQ(cd::quantize_value(1e30f, 1.0f), 127);
  EXPECT_EQ(cd::quantize_value(-1e30f, 1.0f), -128);
}

// ---- the public API in this build ---------------------------------------------------------------

TEST(CudaApi, AnswersNoCudaWithoutTheBackend) {
  Rng rng(1);
  const matrix_desc d = make_desc(format::bits2, 4, 64, scale_granularity::per_row);
  packed_matrix w;
  ASSERT_EQ(pack_case(make_case(rng, d), &w), status::ok);
  ternary::cuda::device_matrix dm;
  int count = -1;
  const status cs = ternary::cuda::device_count(&count);
  if (ternary::cuda_built()) {
    ASSERT_EQ(cs, status::ok) << ternary::last_error_message();
    if (count > 0) GTEST_SKIP() << "a CUDA device is present: tests/test_cuda.cpp covers it";
    // A CUDA build on a machine without a device explains itself.
    EXPECT_EQ(ternary::cuda::upload(w, &dm), status::no_cuda);
    EXPECT_TRUE(mentions(ternary::last_error_message(), {"no cuda device"}))
        << ternary::last_error_message();
    // The CPU API points to the CUDA entry points.
    ternary::gemm_options opt;
    opt.target = ternary::backend::cuda;
    std::vector<float> x(64, 1.0f), y(4);
    EXPECT_EQ(ternary::gemv(w, x.data(), y.data(), opt), status::unsupported);
    EXPECT_TRUE(mentions(ternary::last_error_message(), {"ternary::cuda::gemm"}));
    return;
  }
  EXPECT_EQ(cs, status::no_cuda);
  EXPECT_EQ(count, 0);
  EXPECT_EQ(ternary::cuda::upload(w, &dm), status::no_cuda);
  EXPECT_TRUE(mentions(ternary::last_error_message(), {"TERNARY_ENABLE_CUDA"}))
      << ternary::last_error_message();
  EXPECT_TRUE(dm.empty());
  packed_matrix back;
  EXPECT_EQ(ternary::cuda::download(dm, &back), status::no_cuda);
  int8_t xq[64] = {};
  float s = 1.0f, y[4] = {};
  const auto x = ternary::cuda::device_activations::int8(xq, &s, 1, 64, 64);
  EXPECT_EQ(ternary::cuda::gemm(dm, x, y, 4), status::no_cuda);
  EXPECT_EQ(ternary::cuda::gemv(dm, x, y), status::no_cuda);
  float xf[64] = {};
  EXPECT_EQ(ternary::cuda::quantize_activations(xf, 1, 64, 64, xq, 64, &s), status::no_cuda);
  EXPECT_STREQ(ternary::cuda::kernel_name(dm, ternary::cuda::act_dtype::int8, 1), "");
  ternary::cuda::device_matrix moved(std::move(dm));
  EXPECT_TRUE(moved.empty());
}

}  // namespace
