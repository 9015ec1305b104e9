// SPDX-License-Identifier: Apache-2.0
// The scalar oracle itself (ref/gemm.hpp, ref/quantize.hpp) against computations written here
// from the documented math: a dense double-precision product for gemm_f32, the documented fp32
// epilogue for gemm_int8 (bit for bit), and the BitNet per-token quantization formula with an
// independent round-half-even.
#include <cmath>
#include <limits>

#include "test_util.hpp"

#include "ternary/ref/gemm.hpp"
#include "ternary/ref/quantize.hpp"

namespace {

using namespace ternary_test;

const std::vector<Gran>& kGrans = all_grans();
const std::vector<format>& kFormats = all_formats();

struct Shape {
  int64_t n, k, tokens;
};
// K tails around every block size, N = 1, one token, one-row matrices.
const Shape kShapes[] = {{1, 1, 1},   {1, 63, 3},   {2, 64, 1},  {3, 65, 2},  {1, 255, 4},
                         {5, 256, 1}, {4, 257, 2},  {3, 319, 1}, {2, 320, 3}, {7, 321, 1},
                         {1, 700, 5}, {6, 1000, 2}, {2, 1537, 1}};

// Y by the textbook: W-hat from the test's own trits and (stored) scales, in double.
void naive_gemm(const TritCase& c, const float* x, int64_t tokens, int64_t ldx,
                std::vector<double>* y, std::vector<double>* mag) {
  const int64_t n_rows = c.d.rows, k_cols = c.d.cols;
  y->assign(static_cast<size_t>(tokens * n_rows), 0.0);
  mag->assign(y->size(), 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t n = 0; n < n_rows; ++n) {
      double acc = 0.0, m = 0.0;
      for (int64_t k = 0; k < k_cols; ++k) {
        double w = 0.0;
        for (int p = 0; p < c.d.planes; ++p) {
          w += static_cast<double>(c.trit(p, n, k)) * static_cast<double>(c.scale(p, n, k));
          m += std::fabs(static_cast<double>(c.scale(p, n, k)) * x[t * ldx + k]);
        }
        acc += w * static_cast<double>(x[t * ldx + k]);
      }
      if (c.d.has_bias) acc += c.bias[static_cast<size_t>(n)];
      (*y)[static_cast<size_t>(t * n_rows + n)] = acc;
      (*mag)[static_cast<size_t>(t * n_rows + n)] = m;
    }
  }
}

// The documented int8 epilogue (gemm.hpp), recomputed from the test's trits and scales:
// acc = 0.f; for p: for g: acc += float(sum_pg) * alpha_pg; y = acc / s; y += bias.
float epilogue(const TritCase& c, const int8_t* xq, float s, int64_t n) {
  const int64_t g_size =
      c.d.granularity == scale_granularity::per_group ? c.d.group_size : c.d.cols;
  float acc = 0.0f;
  for (int p = 0; p < c.d.planes; ++p) {
    for (int64_t g0 = 0; g0 < c.d.cols; g0 += g_size) {
      int32_t sum = 0;
      for (int64_t k = g0; k < std::min(g0 + g_size, c.d.cols); ++k) sum += c.trit(p, n, k) * xq[k];
      acc += static_cast<float>(sum) * c.scale(p, n, g0);
    }
  }
  float y = acc / s;
  if (c.d.has_bias) y += c.bias[static_cast<size_t>(n)];
  return y;
}

class RefGemm : public testing::TestWithParam<std::tuple<format, Gran>> {};

TEST_P(RefGemm, F32MatchesDenseDoubleProduct) {
  const format f = std::get<0>(GetParam());
  const Gran gr = std::get<1>(GetParam());
  Rng rng(300 + static_cast<uint64_t>(f) * 1000 + static_cast<uint64_t>(gr.group_size) +
          static_cast<uint64_t>(gr.g));
  for (int planes : {1, 2}) {
    for (bool bias : {false, true}) {
      for (const Shape& sh : kShapes) {
        const scale_type st = rng.chance(0.5) ? scale_type::f16 : scale_type::f32;
        const matrix_desc d = make_desc(f, sh.n, sh.k, gr.g, gr.group_size, st, planes, bias);
        const TritCase c = make_case(rng, d);
        packed_matrix m;
        ASSERT_EQ(pack_case(c, &m), status::ok) << describe(d) << ternary::last_error_message();
        const int64_t ldx = sh.k + 2, ldy = sh.n + 3;
        const auto x = random_floats(rng, static_cast<size_t>(sh.tokens * ldx), -3.0f, 3.0f);
        std::vector<float> y(static_cast<size_t>(sh.tokens * ldy), -999.0f);
        ternary::ref::gemm_f32(m.view(), x.data(), sh.tokens, ldx, y.data(), ldy, 0, sh.n);
        std::vector<double> want, mag;
        naive_gemm(c, x.data(), sh.tokens, ldx, &want, &mag);
        for (int64_t t = 0; t < sh.tokens; ++t) {
          for (int64_t n = 0; n < ldy; ++n) {
            const float got = y[static_cast<size_t>(t * ldy + n)];
            if (n >= sh.n) {
              ASSERT_EQ(got, -999.0f) << "wrote past N";
              continue;
            }
            const double w = want[static_cast<size_t>(t * sh.n + n)];
            const double tol =
                0x1p-23 * std::fabs(w) + 1e-12 * mag[static_cast<size_t>(t * sh.n + n)];
            ASSERT_NEAR(got, w, tol) << describe(d) << " token " << t << " row " << n;
          }
        }
      }
    }
  }
}

TEST_P(RefGemm, Int8EqualsDocumentedEpilogueBitForBit) {
  const format f = std::get<0>(GetParam());
  const Gran gr = std::get<1>(GetParam());
  Rng rng(400 + static_cast<uint64_t>(f) * 1000 + static_cast<uint64_t>(gr.group_size) +
          static_cast<uint64_t>(gr.g));
  for (int planes : {1, 2}) {
    for (bool bias : {false, true}) {
      for (const Shape& sh : kShapes) {
        const scale_type st = rng.chance(0.5) ? scale_type::f16 : scale_type::f32;
        const matrix_desc d = make_desc(f, sh.n, sh.k, gr.g, gr.group_size, st, planes, bias);
        const TritCase c = make_case(rng, d);
        packed_matrix m;
        ASSERT_EQ(pack_case(c, &m), status::ok) << describe(d) << ternary::last_error_message();
        const int64_t ldx = sh.k + 5, ldy = sh.n + 1;
        // Arbitrary int8 rows (including -128 and 127) and arbitrary positive scales.
        std::vector<int8_t> xq(static_cast<size_t>(sh.tokens * ldx));
        for (auto& v : xq) v = static_cast<int8_t>(rng.uniform(-128, 127));
        xq[0] = -128;
        std::vector<float> s(static_cast<size_t>(sh.tokens));
        for (auto& v : s) v = std::exp2(rng.uniform_float(-4.0f, 12.0f));
        std::vector<float> y(static_cast<size_t>(sh.tokens * ldy), -999.0f);
        ternary::ref::gemm_int8(m.view(), xq.data(), s.data(), sh.tokens, ldx, y.data(), ldy, 0,
                                sh.n);

        std::vector<float> xf(static_cast<size_t>(sh.tokens * ldx));
        for (size_t i = 0; i < xf.size(); ++i) {
          xf[i] = static_cast<float>(xq[i]) / s[i / static_cast<size_t>(ldx)];
        }
        std::vector<double> dense, mag;
        naive_gemm(c, xf.data(), sh.tokens, ldx, &dense, &mag);
        for (int64_t t = 0; t < sh.tokens; ++t) {
          for (int64_t n = 0; n < sh.n; ++n) {
            const float got = y[static_cast<size_t>(t * ldy + n)];
            const float want = epilogue(c, xq.data() + t * ldx, s[static_cast<size_t>(t)], n);
            ASSERT_TRUE(same_bits(got, want))
                << describe(d) << " token " << t << " row " << n << ": ref " << got
                << " vs documented epilogue " << want;
            // And it is the product of W-hat with the dequantized activations x_q / s.
            const double w = dense[static_cast<size_t>(t * sh.n + n)];
            ASSERT_NEAR(got, w,
                        4e-6 * mag[static_cast<size_t>(t * sh.n + n)] + 1e-6 * (std::fabs(w) + 2.0))
                << describe(d) << " token " << t << " row " << n;
          }
          ASSERT_EQ(y[static_cast<size_t>(t * ldy + sh.n)], -999.0f) << "wrote past N";
        }
      }
    }
  }
}

TEST_P(RefGemm, RowRangeWritesOnlyItsRows) {
  const format f = std::get<0>(GetParam());
  const Gran gr = std::get<1>(GetParam());
  Rng rng(500);
  const matrix_desc d = make_desc(f, 9, 130, gr.g, gr.group_size, scale_type::f32, 2, true);
  const TritCase c = make_case(rng, d);
  packed_matrix m;
  ASSERT_EQ(pack_case(c, &m), status::ok);
  const int64_t tokens = 3, ldx = 131, ldy = 11;
  const auto x = random_floats(rng, static_cast<size_t>(tokens * ldx), -1.0f, 1.0f);
  std::vector<float> full(static_cast<size_t>(tokens * ldy), 0.0f);
  ternary::ref::gemm_f32(m.view(), x.data(), tokens, ldx, full.data(), ldy, 0, 9);
  std::vector<float> part(full.size(), -7.0f);
  ternary::ref::gemm_f32(m.view(), x.data(), tokens, ldx, part.data(), ldy, 2, 5);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t n = 0; n < ldy; ++n) {
      const size_t i = static_cast<size_t>(t * ldy + n);
      if (n >= 2 && n < 5) {
        EXPECT_TRUE(same_bits(part[i], full[i]));
      } else {
        EXPECT_EQ(part[i], -7.0f);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, RefGemm,
                         testing::Combine(testing::ValuesIn(kFormats), testing::ValuesIn(kGrans)),
                         [](const testing::TestParamInfo<std::tuple<format, Gran>>& info) {
                           return std::string(ternary::format_name(std::get<0>(info.param))) + "_" +
                                  gran_label(std::get<1>(info.param));
                         });

// ---------------------------------------------------------------- quantize_row

// Round half to even, without nearbyint: floor, then compare the fraction with one half.
double round_half_even(double v) {
  double f = std::floor(v);
  const double frac = v - f;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(f, 2.0) != 0.0)) f += 1.0;
  return f;
}

// The documented formula, computed independently of ref::quantize_row.
float spec_quantize(const std::vector<float>& x, std::vector<int8_t>* q) {
  float amax = 0.0f;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  const float s = 127.0f / std::max(amax, 1e-5f);
  q->resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float prod = x[i] * s;  // fp32 product, as documented
    const double r = std::min(127.0, std::max(-128.0, round_half_even(prod)));
    (*q)[i] = static_cast<int8_t>(r);
  }
  return s;
}

void expect_quantize_matches_spec(const std::vector<float>& x, const std::string& what) {
  std::vector<int8_t> want;
  const float s_want = spec_quantize(x, &want);
  std::vector<int8_t> got(x.size() + 1, int8_t{0x5a});
  const float s = ternary::ref::quantize_row(x.data(), static_cast<int64_t>(x.size()), got.data());
  ASSERT_TRUE(same_bits(s, s_want)) << what << ": s " << s << " vs " << s_want;
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(got[i], want[i]) << what << " index " << i << " x " << x[i];
  }
  ASSERT_EQ(got[x.size()], 0x5a) << what << ": wrote past k";
}

TEST(RefQuantize, RandomRowsFollowTheFormula) {
  Rng rng(600);
  for (int iter = 0; iter < 400; ++iter) {
    const size_t k = static_cast<size_t>(rng.uniform(1, 600));
    const float range = std::exp2(rng.uniform_float(-20.0f, 20.0f));
    expect_quantize_matches_spec(random_floats(rng, k, -range, range),
                                 "iter " + std::to_string(iter));
  }
}

TEST(RefQuantize, TiesRoundToEven) {
  // max|x| = 127 gives s = 1 exactly: x = j + 0.5 lands on a tie.
  std::vector<float> x = {127.0f};
  for (int j = -127; j < 127; ++j) x.push_back(static_cast<float>(j) + 0.5f);
  std::vector<int8_t> q(x.size());
  const float s = ternary::ref::quantize_row(x.data(), static_cast<int64_t>(x.size()), q.data());
  ASSERT_EQ(s, 1.0f);
  for (size_t i = 1; i < x.size(); ++i) {
    const int j = static_cast<int>(i) - 128;  // x = j + 0.5
    const int even = (j % 2 == 0) ? j : j + 1;
    EXPECT_EQ(q[i], even) << "x " << x[i];
  }
  EXPECT_EQ(q[0], 127);
  // max|x| = 63.5 gives s = 2 exactly: 0.25 -> 0.5 -> 0, 0.75 -> 1.5 -> 2, -1.25 -> -2.5 -> -2.
  const std::vector<float> y = {63.5f, 0.25f, 0.75f, -1.25f, -0.25f, 1.75f};
  std::vector<int8_t> qy(y.size());
  ASSERT_EQ(ternary::ref::quantize_row(y.data(), 6, qy.data()), 2.0f);
  EXPECT_EQ(qy[1], 0);
  EXPECT_EQ(qy[2], 2);
  EXPECT_EQ(qy[3], -2);
  EXPECT_EQ(qy[4], 0);
  EXPECT_EQ(qy[5], 4);
  expect_quantize_matches_spec(x, "ties s=1");
  expect_quantize_matches_spec(y, "ties s=2");
}

TEST(RefQuantize, AllZeroAndTinyTokensUseTheFloor) {
  const std::vector<float> zeros(37, 0.0f);
  std::vector<int8_t> q(37, 9);
  const float s = ternary::ref::quantize_row(zeros.data(), 37, q.data());
  EXPECT_TRUE(same_bits(s, 127.0f / 1e-5f));
  EXPECT_TRUE(std::isfinite(s));
  for (int8_t v : q) EXPECT_EQ(v, 0);
  const std::vector<float> neg_zero = {-0.0f, 0.0f};
  std::vector<int8_t> q2(2, 9);
  EXPECT_TRUE(same_bits(ternary::ref::quantize_row(neg_zero.data(), 2, q2.data()), 127.0f / 1e-5f));
  EXPECT_EQ(q2[0], 0);
  // max|x| below the floor: s is still 127 / 1e-5 and values scale by it.
  const std::vector<float> tiny = {1e-6f, -5e-6f, 3.3e-6f, 9.99e-6f};
  std::vector<int8_t> q3(4);
  EXPECT_TRUE(same_bits(ternary::ref::quantize_row(tiny.data(), 4, q3.data()), 127.0f / 1e-5f));
  expect_quantize_matches_spec(tiny, "below floor");
  EXPECT_EQ(q3[0], 13);   // 12.7
  EXPECT_EQ(q3[1], -64);  // -63.5: tie to even
  EXPECT_EQ(ternary::act_absmax_floor, 1e-5f);
}

TEST(RefQuantize, OutputStaysInRangeAndMaxMapsTo127) {
  Rng rng(601);
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<float> x = random_floats(rng, 9, -1.0f, 1.0f);
    const float big = std::exp2(rng.uniform_float(-30.0f, 60.0f)) * (rng.chance(0.5) ? -1 : 1);
    x[static_cast<size_t>(iter % 9)] = big;
    std::vector<int8_t> q(9);
    ternary::ref::quantize_row(x.data(), 9, q.data());
    const int8_t at_max = q[static_cast<size_t>(iter % 9)];
    if (std::fabs(big) >= 1.0f) {
      EXPECT_EQ(std::abs(at_max), 127) << "max " << big;
    }
    expect_quantize_matches_spec(x, "range iter " + std::to_string(iter));
    if (testing::Test::HasFailure()) return;
  }
  // One element.
  expect_quantize_matches_spec({-3.0f}, "k=1");
  const float lowest = std::numeric_limits<float>::lowest();
  expect_quantize_matches_spec({lowest, 1.0f, 0.0f}, "lowest float");
}

}  // namespace
