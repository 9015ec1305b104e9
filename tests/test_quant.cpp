// SPDX-License-Identifier: Apache-2.0
// Tests of ternary::quant::ternarize, the weight-only ternarizers (docs/QUANT.md):
//   - the exact solvers (optimal, ttq_optimal, sherry) against brute force on small rows;
//   - the error ordering and the analytic error targets of the reference tables;
//   - packing round trips for every method, granularity, format and scale type (short tail
//     groups, K not a multiple of 4/64/256, one column, all-zero rows), codes optimal for the
//     stored scales, GEMV on the packed result;
//   - byte-identical output for any thread count; every error path and the lenient NaN mode.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"
#include <gtest/gtest.h>

#include "ternary/gemm.hpp"
#include "ternary/half.hpp"
#include "ternary/quant.hpp"

namespace {

using namespace ternary_test;
namespace tq = ternary::quant;
using tq::method;

constexpr method kAllMethods[] = {method::twn,          method::optimal,     method::absmean,
                                  method::ttq,          method::ttq_optimal, method::ptqtp,
                                  method::ptqtp_global, method::sherry};

enum class dist { gaussian, laplace };

// I.i.d. N(0,1) (Box-Muller) or unit-variance Laplace (inverse CDF, b = 1/sqrt(2)).
std::vector<float> random_matrix(dist d, int64_t rows, int64_t cols, uint64_t seed) {
  Rng r(seed);
  auto unit = [&r] { return (static_cast<double>(r.next() >> 11) + 0.5) * 0x1p-53; };
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& x : w) {
    if (d == dist::gaussian) {
      const double u1 = unit(), u2 = unit();
      x = static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    } else {
      const double u = unit() - 0.5;
      x = static_cast<float>(-(u < 0 ? -1.0 : 1.0) * std::log(1.0 - 2.0 * std::fabs(u)) /
                             std::sqrt(2.0));
    }
  }
  return w;
}

tq::options make_options(method m, format f = format::bits2,
                         scale_granularity g = scale_granularity::per_row, int64_t group = 0,
                         scale_type t = scale_type::f32) {
  tq::options o;
  o.algo = m;
  o.fmt = f;
  o.granularity = g;
  o.group_size = group;
  o.scale_dtype = t;
  return o;
}

struct result {
  packed_matrix m;
  tq::stats st;
};

result run_ok(const std::vector<float>& w, int64_t rows, int64_t cols, const tq::options& o) {
  result r;
  const status s = tq::ternarize(w.data(), rows, cols, cols, o, &r.m, &r.st);
  EXPECT_EQ(s, status::ok) << tq::method_name(o.algo) << ": " << ternary::last_error_message();
  return r;
}

double rel_error_of(const std::vector<float>& w, int64_t rows, int64_t cols, const tq::options& o) {
  return run_ok(w, rows, cols, o).st.rel_error;
}

struct unpacked {
  std::vector<int8_t> t[2];
  std::vector<float> s[2];
  std::vector<float> w_hat;
  int64_t groups = 1;
  int64_t group = 0;  // columns per scale group (cols unless per_group)
  scale_granularity g = scale_granularity::per_row;

  int64_t unit(int64_t r, int64_t k) const {
    if (g == scale_granularity::per_tensor) return 0;
    if (g == scale_granularity::per_row) return r;
    return r * groups + k / group;
  }
};

unpacked unpack(const packed_matrix& m) {
  unpacked u;
  const int64_t rows = m.rows(), cols = m.cols();
  u.g = m.desc().granularity;
  u.group = u.g == scale_granularity::per_group ? m.desc().group_size : cols;
  u.groups = (cols + u.group - 1) / u.group;
  for (int p = 0; p < m.planes(); ++p) {
    u.t[p].resize(static_cast<size_t>(rows * cols));
    u.s[p].resize(static_cast<size_t>(m.scale_count()));
    EXPECT_EQ(m.unpack_trits(p, u.t[p].data(), cols), status::ok);
    EXPECT_EQ(m.unpack_scales(p, u.s[p].data()), status::ok);
  }
  u.w_hat.resize(static_cast<size_t>(rows * cols));
  EXPECT_EQ(m.dequantize(u.w_hat.data(), cols), status::ok);
  return u;
}

// The library's error definition: per-row sums in double, rows added in order, NaN/Inf as 0.
double reference_rel_error(const std::vector<float>& w, const std::vector<float>& w_hat,
                           int64_t rows, int64_t cols) {
  double err = 0, ref = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double e = 0, f = 0;
    for (int64_t k = 0; k < cols; ++k) {
      const float v = w[static_cast<size_t>(r * cols + k)];
      const double x = std::isfinite(v) ? static_cast<double>(v) : 0.0;
      const double d = x - static_cast<double>(w_hat[static_cast<size_t>(r * cols + k)]);
      e += d * d;
      f += x * x;
    }
    err += e;
    ref += f;
  }
  return ref > 0 ? std::sqrt(err / ref) : 0.0;
}

// Binary baseline: t = sign(w), alpha = mean|w| per row.
double binary_rel_error(const std::vector<float>& w, int64_t rows, int64_t cols) {
  double err = 0, ref = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = w.data() + r * cols;
    double mean = 0;
    for (int64_t k = 0; k < cols; ++k) mean += std::fabs(x[k]);
    mean /= static_cast<double>(cols);
    for (int64_t k = 0; k < cols; ++k) {
      const double d = x[k] - (x[k] < 0 ? -mean : mean);
      err += d * d;
      ref += static_cast<double>(x[k]) * x[k];
    }
  }
  return std::sqrt(err / ref);
}

// Calls f(t) for every ternary vector t of length n.
template <class F>
void for_each_ternary(int n, F f) {
  std::vector<int> t(static_cast<size_t>(n), -1);
  for (;;) {
    f(t);
    int i = 0;
    while (i < n && t[static_cast<size_t>(i)] == 1) t[static_cast<size_t>(i++)] = -1;
    if (i == n) return;
    ++t[static_cast<size_t>(i)];
  }
}

// ---- names --------------------------------------------------------------------------------

TEST(QuantNames, RoundTripAndPlanes) {
  for (method m : kAllMethods) {
    method parsed = method::twn;
    ASSERT_TRUE(tq::parse_method(tq::method_name(m), &parsed)) << tq::method_name(m);
    EXPECT_EQ(parsed, m);
    const bool two = m == method::ttq || m == method::ttq_optimal || m == method::ptqtp ||
                     m == method::ptqtp_global;
    EXPECT_EQ(tq::method_planes(m), two ? 2 : 1) << tq::method_name(m);
  }
  method m = method::sherry;
  EXPECT_FALSE(tq::parse_method("nope", &m));
  EXPECT_FALSE(tq::parse_method(nullptr, &m));
  EXPECT_FALSE(tq::parse_method("twn", nullptr));
  EXPECT_EQ(m, method::sherry);
  EXPECT_STREQ(tq::method_name(static_cast<method>(99)), "unknown");
  EXPECT_EQ(tq::method_planes(static_cast<method>(99)), 0);
}

// ---- exact solvers against brute force ------------------------------------------------------

TEST(QuantExact, OptimalMatchesBruteForce) {
  for (int n = 1; n <= 10; ++n) {
    const int64_t rows = n <= 7 ? 10 : 3;
    const auto w = random_matrix(dist::gaussian, rows, n, 100 + static_cast<uint64_t>(n));
    const result r = run_ok(w, rows, n, make_options(method::optimal));
    const unpacked u = unpack(r.m);
    for (int64_t row = 0; row < rows; ++row) {
      const float* x = w.data() + row * n;
      double best = std::numeric_limits<double>::infinity(), best_alpha = 0;
      std::vector<int> best_t;
      double sumsq = 0;
      for (int k = 0; k < n; ++k) sumsq += static_cast<double>(x[k]) * x[k];
      for_each_ternary(n, [&](const std::vector<int>& t) {
        double dot = 0, cnt = 0;
        for (int k = 0; k < n; ++k) {
          dot += t[static_cast<size_t>(k)] * static_cast<double>(x[k]);
          cnt += t[static_cast<size_t>(k)] != 0 ? 1 : 0;
        }
        if (cnt == 0 || dot <= 0) return;
        const double sse = sumsq - dot * dot / cnt;
        if (sse < best) {
          best = sse;
          best_alpha = dot / cnt;
          best_t = t;
        }
      });
      for (int k = 0; k < n; ++k)
        EXPECT_EQ(u.t[0][static_cast<size_t>(row * n + k)], best_t[static_cast<size_t>(k)])
            << "n=" << n << " row=" << row << " k=" << k;
      EXPECT_NEAR(u.s[0][static_cast<size_t>(row)], best_alpha, 1e-6 * best_alpha) << "n=" << n;
    }
  }
}

TEST(QuantExact, TtqOptimalMatchesBruteForce) {
  for (int n = 1; n <= 9; ++n) {
    const int64_t rows = n <= 6 ? 10 : 3;
    auto w = random_matrix(dist::laplace, rows, n, 200 + static_cast<uint64_t>(n));
    for (float& v : w) v += 0.3f;  // skewed rows: the two signs get different scales
    const result r = run_ok(w, rows, n, make_options(method::ttq_optimal));
    const unpacked u = unpack(r.m);
    for (int64_t row = 0; row < rows; ++row) {
      const float* x = w.data() + row * n;
      double best = std::numeric_limits<double>::infinity(), best_p = 0, best_n = 0;
      std::vector<int> best_t;
      double sumsq = 0;
      for (int k = 0; k < n; ++k) sumsq += static_cast<double>(x[k]) * x[k];
      for_each_ternary(n, [&](const std::vector<int>& t) {
        double sp = 0, sn = 0, cp = 0, cn = 0;
        for (int k = 0; k < n; ++k) {
          if (t[static_cast<size_t>(k)] > 0) sp += x[k], cp += 1;
          if (t[static_cast<size_t>(k)] < 0) sn -= x[k], cn += 1;
        }
        if ((cp > 0 && sp <= 0) || (cn > 0 && sn <= 0)) return;
        const double sse = sumsq - (cp > 0 ? sp * sp / cp : 0) - (cn > 0 ? sn * sn / cn : 0);
        if (sse < best) {
          best = sse;
          best_p = cp > 0 ? sp / cp : 0;
          best_n = cn > 0 ? sn / cn : 0;
          best_t = t;
        }
      });
      for (int k = 0; k < n; ++k) {
        const size_t i = static_cast<size_t>(row * n + k);
        EXPECT_TRUE(u.t[0][i] == 0 || u.t[0][i] == 1);
        EXPECT_TRUE(u.t[1][i] == 0 || u.t[1][i] == -1);
        EXPECT_EQ(u.t[0][i] + u.t[1][i], best_t[static_cast<size_t>(k)])
            << "n=" << n << " row=" << row << " k=" << k;
      }
      EXPECT_NEAR(u.s[0][static_cast<size_t>(row)], best_p, 1e-6 * (best_p + 1e-30));
      EXPECT_NEAR(u.s[1][static_cast<size_t>(row)], best_n, 1e-6 * (best_n + 1e-30));
    }
  }
}

TEST(QuantExact, SherryMatchesBruteForce) {
  for (int n = 4; n <= 24; n += 4) {
    const int64_t rows = n <= 16 ? 8 : 3;
    const int quads = n / 4;
    const auto w = random_matrix(dist::gaussian, rows, n, 300 + static_cast<uint64_t>(n));
    const result r = run_ok(w, rows, n, make_options(method::sherry));
    const unpacked u = unpack(r.m);
    for (int64_t row = 0; row < rows; ++row) {
      const float* x = w.data() + row * n;
      double sumsq = 0;
      for (int k = 0; k < n; ++k) sumsq += static_cast<double>(x[k]) * x[k];
      double best = std::numeric_limits<double>::infinity(), best_alpha = 0;
      std::vector<int> best_zero;
      std::vector<int> zero(static_cast<size_t>(quads), 0);
      for (;;) {
        double kept = 0;
        for (int q = 0; q < quads; ++q)
          for (int l = 0; l < 4; ++l)
            if (l != zero[static_cast<size_t>(q)]) kept += std::fabs(x[4 * q + l]);
        const double cnt = 3.0 * quads;
        const double sse = sumsq - kept * kept / cnt;
        if (sse < best) {
          best = sse;
          best_alpha = kept / cnt;
          best_zero = zero;
        }
        int q = 0;
        while (q < quads && zero[static_cast<size_t>(q)] == 3) zero[static_cast<size_t>(q++)] = 0;
        if (q == quads) break;
        ++zero[static_cast<size_t>(q)];
      }
      for (int k = 0; k < n; ++k) {
        const int expect = k % 4 == best_zero[static_cast<size_t>(k / 4)] ? 0 : x[k] < 0 ? -1 : 1;
        EXPECT_EQ(u.t[0][static_cast<size_t>(row * n + k)], expect) << "n=" << n << " k=" << k;
      }
      EXPECT_NEAR(u.s[0][static_cast<size_t>(row)], best_alpha, 1e-6 * best_alpha);
    }
  }
}

// ---- ordering and analytic targets --------------------------------------------------------

class QuantQuality : public ::testing::TestWithParam<dist> {};

TEST_P(QuantQuality, OrderingOfMethods) {
  const int64_t rows = 256, cols = 2048;
  const auto w = random_matrix(GetParam(), rows, cols, 7);
  auto err = [&](method m, double factor = 0, bool refit = false) {
    tq::options o = make_options(m);
    o.threshold_factor = factor;
    o.refit_scale = refit;
    o.threads = 2;
    return rel_error_of(w, rows, cols, o);
  };
  const double opt = err(method::optimal), twn75 = err(method::twn, 0.75), twn70 = err(method::twn),
               abs_ls = err(method::absmean, 0, true), abs = err(method::absmean),
               sherry = err(method::sherry), binary = binary_rel_error(w, rows, cols);
  EXPECT_LE(opt, twn75);
  EXPECT_LE(twn75, twn70);
  EXPECT_LT(twn70, abs_ls);
  EXPECT_LT(abs_ls, abs);
  EXPECT_LT(abs, sherry);
  EXPECT_LT(sherry, binary);
  EXPECT_LE(err(method::ttq_optimal), opt);
  const double als = err(method::ptqtp), global = err(method::ptqtp_global);
  EXPECT_LE(global, als);
  EXPECT_LT(als, opt);
}

TEST_P(QuantQuality, AnalyticTargets) {
  // Targets of the reference table (n -> infinity); 512 x 4096 samples within +-3e-3.
  const bool g = GetParam() == dist::gaussian;
  const int64_t rows = 512, cols = 4096;
  const auto w = random_matrix(GetParam(), rows, cols, g ? 11 : 12);
  auto err = [&](method m) {
    tq::options o = make_options(m);
    o.threads = 2;
    return rel_error_of(w, rows, cols, o);
  };
  EXPECT_NEAR(err(method::twn), g ? 0.4378 : 0.5314, 3e-3);
  EXPECT_NEAR(err(method::optimal), g ? 0.4361 : 0.5140, 3e-3);
  EXPECT_NEAR(err(method::absmean), g ? 0.5132 : 0.6273, 3e-3);
  EXPECT_NEAR(err(method::sherry), g ? 0.5336 : 0.6433, 3e-3);
  EXPECT_LE(err(method::ptqtp), (g ? 0.1730 : 0.2352) + 3e-3);
  EXPECT_LE(err(method::ptqtp_global), (g ? 0.1700 : 0.2190) + 3e-3);
}

INSTANTIATE_TEST_SUITE_P(Dist, QuantQuality, ::testing::Values(dist::gaussian, dist::laplace),
                         [](const ::testing::TestParamInfo<dist>& i) {
                           return i.param == dist::gaussian ? "gaussian" : "laplace";
                         });

// ---- round trips --------------------------------------------------------------------------

struct layout_case {
  const char* name;
  format fmt;
  scale_granularity g;
  int64_t group;
  scale_type dtype;
  int64_t rows, cols;
};

const layout_case kLayouts[] = {
    {"bits2_row_f32_k131", format::bits2, scale_granularity::per_row, 0, scale_type::f32, 5, 131},
    {"base3_g128_f32_k300", format::base3, scale_granularity::per_group, 128, scale_type::f32, 4,
     300},
    {"bits2_g64_f16_k200", format::bits2, scale_granularity::per_group, 64, scale_type::f16, 3,
     200},
    {"bits2_tensor_f32_k77", format::bits2, scale_granularity::per_tensor, 0, scale_type::f32, 6,
     77},
    {"base3_tensor_f16_k1", format::base3, scale_granularity::per_tensor, 0, scale_type::f16, 7, 1},
    {"base3_row_f16_k1", format::base3, scale_granularity::per_row, 0, scale_type::f16, 3, 1},
    {"sherry_row_f32_k258", format::sherry, scale_granularity::per_row, 0, scale_type::f32, 4, 258},
    {"sherry_g256_f16_k515", format::sherry, scale_granularity::per_group, 256, scale_type::f16, 3,
     515},
    {"bits2_row_f32_k64", format::bits2, scale_granularity::per_row, 0, scale_type::f32, 5, 64},
};

// Data for round trips: Gaussian with a few exact zeros, and row 1 entirely zero.
std::vector<float> round_trip_data(int64_t rows, int64_t cols, uint64_t seed) {
  auto w = random_matrix(dist::gaussian, rows, cols, seed);
  Rng rng(seed + 1);
  for (float& v : w)
    if (rng.chance(0.05)) v = 0.0f;
  if (rows > 1)
    for (int64_t k = 0; k < cols; ++k) w[static_cast<size_t>(cols + k)] = 0.0f;
  return w;
}

// Reachable dequantized values of a unit, as dequantize computes them.
std::vector<float> reachable(method m, float s0, float s1) {
  std::vector<float> v;
  for (int a = -1; a <= 1; ++a) {
    for (int b = -1; b <= 1; ++b) {
      if (tq::method_planes(m) == 1 && b != 0) continue;
      // TTQ: one sign per weight (plane 0 positive, plane 1 negative), never both planes.
      if ((m == method::ttq || m == method::ttq_optimal) && (a < 0 || b > 0 || a * b != 0))
        continue;
      float x = 0.0f;
      x += static_cast<float>(a) * s0;
      x += static_cast<float>(b) * s1;
      v.push_back(x);
    }
  }
  return v;
}

class QuantRoundTrip : public ::testing::TestWithParam<std::tuple<method, layout_case>> {};

TEST_P(QuantRoundTrip, PackedMatchesSolver) {
  const method m = std::get<0>(GetParam());
  const layout_case& c = std::get<1>(GetParam());
  const auto w = round_trip_data(c.rows, c.cols, 17 + static_cast<uint64_t>(c.cols));
  const tq::options o = make_options(m, c.fmt, c.g, c.group, c.dtype);
  result r;
  const status s = tq::ternarize(w.data(), c.rows, c.cols, c.cols, o, &r.m, &r.st);
  if (c.fmt == format::sherry && m != method::sherry) {
    // Other methods give quads with 0 or 2+ zeros on this data: the format cannot hold them.
    EXPECT_EQ(s, status::invalid_argument);
    EXPECT_TRUE(mentions(ternary::last_error_message(), {"sherry"}));
    return;
  }
  ASSERT_EQ(s, status::ok) << ternary::last_error_message();
  const int planes = tq::method_planes(m);
  ASSERT_EQ(r.m.planes(), planes);
  ASSERT_EQ(r.m.rows(), c.rows);
  ASSERT_EQ(r.m.cols(), c.cols);
  EXPECT_EQ(r.m.fmt(), c.fmt);
  const unpacked u = unpack(r.m);

  // The dequantized matrix is sum_p t_p * s_p and its error is the reported one, bit for bit.
  for (int64_t row = 0; row < c.rows; ++row) {
    for (int64_t k = 0; k < c.cols; ++k) {
      const size_t i = static_cast<size_t>(row * c.cols + k);
      const size_t ui = static_cast<size_t>(u.unit(row, k));
      float x = 0.0f;
      for (int p = 0; p < planes; ++p) x += static_cast<float>(u.t[p][i]) * u.s[p][ui];
      ASSERT_EQ(x, u.w_hat[i]) << "row " << row << " col " << k;
    }
  }
  EXPECT_EQ(r.st.rel_error, reference_rel_error(w, u.w_hat, c.rows, c.cols));
  double again = -1;
  ASSERT_EQ(tq::relative_error(w.data(), c.cols, r.m, &again), status::ok);
  EXPECT_EQ(again, r.st.rel_error);
  EXPECT_EQ(r.st.output_rel_error, -1.0);
  EXPECT_EQ(r.st.nonfinite, 0);

  // Plane structure and canonical scales.
  for (size_t i = 0; i < u.t[0].size(); ++i) {
    if (m == method::ttq || m == method::ttq_optimal) {
      EXPECT_TRUE(u.t[0][i] >= 0 && u.t[1][i] <= 0);
      EXPECT_TRUE(u.t[0][i] == 0 || u.t[1][i] == 0);
    }
  }
  float smin = std::numeric_limits<float>::infinity(), smax = 0;
  for (int p = 0; p < planes; ++p) {
    for (float v : u.s[p]) {
      EXPECT_GE(v, 0.0f);
      smin = std::min(smin, v);
      smax = std::max(smax, v);
      if (c.dtype == scale_type::f16) {
        EXPECT_EQ(v, stored_scale(v, scale_type::f16));
      }
    }
  }
  EXPECT_EQ(r.st.scale_min, smin);
  EXPECT_EQ(r.st.scale_max, smax);
  if (planes == 2 && m != method::ttq && m != method::ttq_optimal) {
    for (size_t i = 0; i < u.s[0].size(); ++i) EXPECT_GE(u.s[0][i], u.s[1][i]);
  }

  // The all-zero row: nothing kept, scale 0 (the Sherry pattern keeps its one zero per quad).
  if (c.rows > 1 && c.g != scale_granularity::per_tensor) {
    for (int64_t k = 0; k < c.cols; ++k) {
      const size_t i = static_cast<size_t>(c.cols + k);
      EXPECT_EQ(u.w_hat[i], 0.0f);
      for (int p = 0; p < planes; ++p) EXPECT_EQ(u.s[p][static_cast<size_t>(u.unit(1, k))], 0.0f);
      if (m != method::sherry) {
        for (int p = 0; p < planes; ++p) EXPECT_EQ(u.t[p][i], 0);
      }
    }
  }

  // Codes are the best ones for the stored scales where the method's codes follow its scale.
  const bool nearest = m == method::optimal || m == method::ttq_optimal || m == method::ptqtp ||
                       m == method::ptqtp_global;
  if (nearest) {
    for (int64_t row = 0; row < c.rows; ++row) {
      for (int64_t k = 0; k < c.cols; ++k) {
        const size_t i = static_cast<size_t>(row * c.cols + k);
        const size_t ui = static_cast<size_t>(u.unit(row, k));
        const double x = w[i];
        const double d = x - u.w_hat[i];
        for (float v : reachable(m, u.s[0][ui], planes > 1 ? u.s[1][ui] : 0.0f))
          ASSERT_LE(d * d, (x - v) * (x - v)) << "row " << row << " col " << k;
      }
    }
  }

  // Sherry: one zero per whole quad, on the smallest |w| (lowest index on ties).
  if (m == method::sherry) {
    for (int64_t row = 0; row < c.rows; ++row) {
      for (int64_t q0 = 0; q0 + 4 <= c.cols; q0 += 4) {
        int zeros = 0, at = -1;
        for (int l = 0; l < 4; ++l) {
          if (u.t[0][static_cast<size_t>(row * c.cols + q0 + l)] == 0) {
            ++zeros;
            at = l;
          }
        }
        ASSERT_EQ(zeros, 1);
        int best = 0;
        for (int l = 1; l < 4; ++l)
          if (std::fabs(w[static_cast<size_t>(row * c.cols + q0 + l)]) <
              std::fabs(w[static_cast<size_t>(row * c.cols + q0 + best)]))
            best = l;
        EXPECT_EQ(at, best);
      }
      for (int64_t k = c.cols / 4 * 4; k < c.cols; ++k)  // a cut quad keeps every real lane
        EXPECT_NE(u.t[0][static_cast<size_t>(row * c.cols + k)], 0);
    }
  }

  // Other formats hold the same trits and scales (Sherry only for the sherry method).
  for (format f : all_formats()) {
    if (f == c.fmt || (f == format::sherry && m != method::sherry)) continue;
    tq::options o2 = o;
    o2.fmt = f;
    const result r2 = run_ok(w, c.rows, c.cols, o2);
    const unpacked u2 = unpack(r2.m);
    for (int p = 0; p < planes; ++p) {
      EXPECT_EQ(u2.t[p], u.t[p]) << ternary::format_name(f);
      EXPECT_EQ(u2.s[p], u.s[p]) << ternary::format_name(f);
    }
    EXPECT_EQ(r2.st.rel_error, r.st.rel_error);
  }

  // fp16 storage: the scales are the fp16 rounding of the f32 run's scales (the iterative PTQTP
  // solvers aside: their scales and codes are found together).
  if (c.dtype == scale_type::f16 && m != method::ptqtp && m != method::ptqtp_global) {
    tq::options o32 = o;
    o32.scale_dtype = scale_type::f32;
    const unpacked u32 = unpack(run_ok(w, c.rows, c.cols, o32).m);
    for (int p = 0; p < planes; ++p)
      for (size_t i = 0; i < u.s[p].size(); ++i)
        EXPECT_EQ(u.s[p][i], stored_scale(u32.s[p][i], scale_type::f16));
  }
}

INSTANTIATE_TEST_SUITE_P(All, QuantRoundTrip,
                         ::testing::Combine(::testing::ValuesIn(kAllMethods),
                                            ::testing::ValuesIn(kLayouts)),
                         [](const ::testing::TestParamInfo<std::tuple<method, layout_case>>& i) {
                           return std::string(tq::method_name(std::get<0>(i.param))) + "_" +
                                  std::get<1>(i.param).name;
                         });

// ---- specific rules ------------------------------------------------------------------------

TEST(QuantRules, TailGroupUsesItsRealLength) {
  // K = 200, G = 128: the tail group has 72 columns; its mean|w| divides by 72.
  const int64_t rows = 2, cols = 200, group = 128;
  const auto w = random_matrix(dist::laplace, rows, cols, 41);
  for (method m : {method::absmean, method::twn}) {
    const unpacked u = unpack(
        run_ok(w, rows, cols, make_options(m, format::bits2, scale_granularity::per_group, group))
            .m);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t g = 0; g < 2; ++g) {
        const int64_t c0 = g * group, n = std::min(group, cols - c0);
        const float* x = w.data() + r * cols + c0;
        double sum = 0;
        for (int64_t k = 0; k < n; ++k) sum += std::fabs(x[k]);
        const double mean = sum / static_cast<double>(n);
        double expect = mean;
        if (m == method::twn) {
          double kept = 0, cnt = 0;
          for (int64_t k = 0; k < n; ++k)
            if (std::fabs(x[k]) > 0.7 * mean) kept += std::fabs(x[k]), cnt += 1;
          expect = kept / cnt;
        }
        EXPECT_NEAR(u.s[0][static_cast<size_t>(r * 2 + g)], expect, 1e-6 * expect)
            << tq::method_name(m) << " row " << r << " group " << g;
      }
    }
  }
}

TEST(QuantRules, AbsmeanRoundsHalfToEvenAndRefits) {
  // mean|w| = 1 exactly: 0.5 -> 0 (half to even), 1.5 -> 2 -> clamped to 1.
  const std::vector<float> w = {0.5f, -1.5f, 1.0f, 1.0f};
  const unpacked u = unpack(run_ok(w, 1, 4, make_options(method::absmean)).m);
  EXPECT_EQ(u.t[0], (std::vector<int8_t>{0, -1, 1, 1}));
  EXPECT_EQ(u.s[0][0], 1.0f);
  tq::options o = make_options(method::absmean);
  o.refit_scale = true;
  const unpacked v = unpack(run_ok(w, 1, 4, o).m);
  EXPECT_EQ(v.t[0], u.t[0]);
  EXPECT_FLOAT_EQ(v.s[0][0], 3.5f / 3.0f);
}

TEST(QuantRules, TwnThresholdIsStrict) {
  // mean|w| = 1, factor 0.5: delta = 0.5 exactly, and |w| = 0.5 is not kept.
  const std::vector<float> w = {0.5f, -1.5f};
  tq::options o = make_options(method::twn);
  o.threshold_factor = 0.5;
  const unpacked u = unpack(run_ok(w, 1, 2, o).m);
  EXPECT_EQ(u.t[0], (std::vector<int8_t>{0, -1}));
  EXPECT_EQ(u.s[0][0], 1.5f);
}

TEST(QuantRules, TtqUsesFractionOfMax) {
  // max|w| = 2, delta = 0.1: 0.05 is dropped, the rest kept with per-sign means.
  const std::vector<float> w = {2.0f, 0.05f, 1.0f, -0.5f, -1.5f, -0.09f};
  const unpacked u = unpack(run_ok(w, 1, 6, make_options(method::ttq)).m);
  EXPECT_EQ(u.t[0], (std::vector<int8_t>{1, 0, 1, 0, 0, 0}));
  EXPECT_EQ(u.t[1], (std::vector<int8_t>{0, 0, 0, -1, -1, 0}));
  EXPECT_EQ(u.s[0][0], 1.5f);
  EXPECT_EQ(u.s[1][0], 1.0f);
}

TEST(QuantRules, SherryPaddingAndExactZeros) {
  // K = 6: the second quad is cut (2 real lanes): both real lanes keep their sign and the
  // padding takes the zero; the alpha denominator counts the 3 + 2 kept real lanes. The first
  // quad has two exact zeros: the first is the zero lane, the second is kept as +1 and counted.
  const std::vector<float> w = {0.0f, -2.0f, 0.0f, 3.0f, -0.25f, 0.5f};
  for (format f : all_formats()) {
    const unpacked u = unpack(run_ok(w, 1, 6, make_options(method::sherry, f)).m);
    EXPECT_EQ(u.t[0], (std::vector<int8_t>{0, -1, 1, 1, -1, 1})) << ternary::format_name(f);
    EXPECT_FLOAT_EQ(u.s[0][0], 5.75f / 5.0f) << ternary::format_name(f);
  }
}

TEST(QuantRules, OtherMethodsIntoSherryOnlyWhenTheyAre34) {
  // Every quad holds one tiny weight and three large ones: the optimal ternary keeps exactly 3.
  const int64_t rows = 3, cols = 16;
  auto w = random_matrix(dist::gaussian, rows, cols, 5);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = i % 4 == 1 ? 0.001f * w[i] : (w[i] < 0 ? -1.0f : 1.0f) + 0.01f * w[i];
  const result r = run_ok(w, rows, cols, make_options(method::optimal, format::sherry));
  const unpacked u = unpack(r.m);
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(u.t[0][i] == 0, i % 4 == 1);
  // Gaussian data: optimal keeps about half, which Sherry cannot store.
  const auto g = random_matrix(dist::gaussian, rows, 64, 6);
  packed_matrix q;
  EXPECT_TERNARY_ERROR(tq::ternarize(g.data(), rows, 64, 64,
                                     make_options(method::optimal, format::sherry), &q, nullptr),
                       status::invalid_argument, "sherry");
  EXPECT_TERNARY_ERROR(tq::ternarize(g.data(), rows, 64, 64,
                                     make_options(method::ptqtp, format::sherry), &q, nullptr),
                       status::invalid_argument, "sherry");
}

TEST(QuantRules, AllZeroMatrix) {
  const std::vector<float> w(3 * 70, 0.0f);
  for (method m : kAllMethods) {
    for (auto g : {scale_granularity::per_tensor, scale_granularity::per_row}) {
      const result r = run_ok(w, 3, 70, make_options(m, format::bits2, g));
      EXPECT_EQ(r.st.rel_error, 0.0);
      EXPECT_EQ(r.st.scale_max, 0.0f);
      const unpacked u = unpack(r.m);
      for (float v : u.w_hat) EXPECT_EQ(v, 0.0f);
    }
  }
}

TEST(QuantRules, Fp16CodesFollowTheRoundedScale) {
  // A weight just above half of the f32 scale but below half of its fp16 rounding (or the
  // reverse) changes its code: the codes must match the stored (rounded) scale.
  const int64_t rows = 64, cols = 256;
  const auto w = random_matrix(dist::gaussian, rows, cols, 77);
  for (method m : {method::optimal, method::ptqtp, method::ptqtp_global, method::absmean}) {
    const result r =
        run_ok(w, rows, cols,
               make_options(m, format::bits2, scale_granularity::per_row, 0, scale_type::f16));
    const unpacked u = unpack(r.m);
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t k = 0; k < cols; ++k) {
        const size_t i = static_cast<size_t>(row * cols + k);
        const double x = w[i], d = x - u.w_hat[i];
        if (m == method::absmean) {  // RoundClip with the stored gamma
          const float q = std::nearbyint(w[i] / u.s[0][static_cast<size_t>(row)]);
          EXPECT_EQ(u.t[0][i], q > 0 ? 1 : q < 0 ? -1 : 0);
          continue;
        }
        for (float v : reachable(m, u.s[0][static_cast<size_t>(row)],
                                 m == method::optimal ? 0.0f : u.s[1][static_cast<size_t>(row)]))
          ASSERT_LE(d * d, (x - v) * (x - v));
      }
    }
  }
}

TEST(QuantRules, StatsFields) {
  const int64_t rows = 8, cols = 256;
  const auto w = random_matrix(dist::gaussian, rows, cols, 3);
  const result s = run_ok(w, rows, cols, make_options(method::sherry));
  EXPECT_EQ(s.st.zero_fraction[0], 0.25);
  EXPECT_EQ(s.st.zero_fraction[1], 0.0);
  EXPECT_DOUBLE_EQ(s.st.bits_per_weight, 2.0 + 32.0 / 256.0);
  EXPECT_EQ(s.st.iterations_max, 0);
  const result sh = run_ok(w, rows, cols, make_options(method::sherry, format::sherry));
  EXPECT_DOUBLE_EQ(sh.st.bits_per_weight, 1.25 + 32.0 / 256.0);
  tq::options o = make_options(method::ptqtp, format::base3, scale_granularity::per_group, 128,
                               scale_type::f16);
  o.max_iterations = 7;
  const result p = run_ok(w, rows, cols, o);
  EXPECT_GE(p.st.iterations_max, 1);
  EXPECT_LE(p.st.iterations_max, 7);
  EXPECT_GT(p.st.iterations_mean, 0.0);
  // base3: 256 columns pad to one 320-trit block of 64 bytes; 2 planes, 2 fp16 scales each.
  EXPECT_DOUBLE_EQ(p.st.bits_per_weight, 2.0 * 8.0 * 64.0 / 256.0 + 2.0 * 2.0 * 16.0 / 256.0);
  EXPECT_GT(p.st.zero_fraction[0], 0.0);
  EXPECT_GT(p.st.zero_fraction[1], 0.0);
  EXPECT_LT(p.st.rel_error, 0.25);
}

// ---- GEMV on the packed result --------------------------------------------------------------

TEST(QuantGemv, PackedResultRunsThroughGemv) {
  struct gemv_case {
    method m;
    format f;
    scale_granularity g;
    int64_t group;
    scale_type t;
  };
  const gemv_case cases[] = {
      {method::optimal, format::bits2, scale_granularity::per_row, 0, scale_type::f32},
      {method::ptqtp, format::base3, scale_granularity::per_group, 128, scale_type::f16},
      {method::ptqtp_global, format::bits2, scale_granularity::per_group, 64, scale_type::f32},
      {method::sherry, format::sherry, scale_granularity::per_row, 0, scale_type::f16},
      {method::ttq, format::bits2, scale_granularity::per_tensor, 0, scale_type::f32},
      {method::absmean, format::base3, scale_granularity::per_row, 0, scale_type::f32},
  };
  const int64_t n = 37, k = 300;
  const auto w = random_matrix(dist::laplace, n, k, 91);
  const auto x = random_matrix(dist::gaussian, 1, k, 92);
  for (const gemv_case& c : cases) {
    const result r = run_ok(w, n, k, make_options(c.m, c.f, c.g, c.group, c.t));
    const unpacked u = unpack(r.m);
    std::vector<float> y(static_cast<size_t>(n), -1.0f);
    ternary::gemm_options go;
    go.path = ternary::act_path::f32;
    ASSERT_EQ(ternary::gemv(r.m, x.data(), y.data(), go), status::ok)
        << ternary::last_error_message();
    for (int64_t row = 0; row < n; ++row) {
      double ref = 0, mag = 0;
      for (int64_t j = 0; j < k; ++j) {
        const double p = static_cast<double>(u.w_hat[static_cast<size_t>(row * k + j)]) * x[j];
        ref += p;
        mag += std::fabs(p);
      }
      EXPECT_NEAR(y[static_cast<size_t>(row)], ref, 1e-5 * mag + 1e-6)
          << tq::method_name(c.m) << " row " << row;
    }
  }
}

// ---- determinism ----------------------------------------------------------------------------

TEST(QuantDeterminism, SameBytesForAnyThreadCount) {
  const int64_t rows = 37, cols = 300;
  const auto w = random_matrix(dist::laplace, rows, cols, 55);
  const Gran grans[] = {{scale_granularity::per_tensor, 0},
                        {scale_granularity::per_row, 0},
                        {scale_granularity::per_group, 128}};
  for (method m : kAllMethods) {
    for (const Gran& g : grans) {
      std::vector<uint8_t> first;
      double first_err = -1;
      for (int threads : {1, 2, 3, 0}) {
        tq::options o = make_options(m, format::bits2, g.g, g.group_size);
        o.threads = threads;
        const result r = run_ok(w, rows, cols, o);
        std::vector<uint8_t> bytes;
        ASSERT_EQ(r.m.serialize(&bytes), status::ok);
        if (first.empty()) {
          first = bytes;
          first_err = r.st.rel_error;
        } else {
          EXPECT_EQ(bytes, first) << tq::method_name(m) << " " << gran_label(g) << " threads "
                                  << threads;
          EXPECT_EQ(r.st.rel_error, first_err);
        }
      }
    }
  }
}

// ---- errors ---------------------------------------------------------------------------------

TEST(QuantErrors, Arguments) {
  const auto w = random_matrix(dist::gaussian, 4, 128, 1);
  packed_matrix q;
  const tq::options ok = make_options(method::optimal);
  auto call = [&](const tq::options& o, int64_t rows = 4, int64_t cols = 128, int64_t ld = 128,
                  const float* p = nullptr) {
    return tq::ternarize(p ? p : w.data(), rows, cols, ld, o, &q, nullptr);
  };
  EXPECT_TERNARY_ERROR(tq::ternarize(nullptr, 4, 128, 128, ok, &q, nullptr), status::null_pointer,
                       "w");
  EXPECT_TERNARY_ERROR(tq::ternarize(w.data(), 4, 128, 128, ok, nullptr, nullptr),
                       status::null_pointer, "out");
  EXPECT_TERNARY_ERROR(call(ok, 0), status::invalid_argument, "rows");
  EXPECT_TERNARY_ERROR(call(ok, 4, -1), status::invalid_argument, "cols");
  EXPECT_TERNARY_ERROR(call(ok, 4, 128, 127), status::buffer_too_small, "leading");
  EXPECT_TERNARY_ERROR(call(ok, ternary::max_rows + 1, 128), status::size_overflow, "rows");
  EXPECT_TERNARY_ERROR(call(ok, 4, ternary::max_cols + 1, ternary::max_cols + 1),
                       status::size_overflow, "columns");
  EXPECT_TERNARY_ERROR(call(ok, int64_t{1} << 30, 128, int64_t{1} << 40), status::size_overflow,
                       "leading");
  tq::options o = ok;
  o.algo = static_cast<method>(99);
  EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "method");
  o = ok;
  o.fmt = static_cast<format>(9);
  EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "format");
  o = ok;
  o.granularity = static_cast<scale_granularity>(9);
  EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "granularity");
  o = ok;
  o.scale_dtype = static_cast<scale_type>(9);
  EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "scale type");
  for (int64_t gs : {int64_t{0}, int64_t{100}, int64_t{-64}}) {
    o = make_options(method::optimal, format::bits2, scale_granularity::per_group, gs);
    EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "group_size");
  }
  o = make_options(method::optimal, format::bits2, scale_granularity::per_row, 64);
  EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "group_size");
  for (double f : {std::nan(""), -1.0, std::numeric_limits<double>::infinity()}) {
    o = ok;
    o.threshold_factor = f;
    EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "threshold_factor");
  }
  o = make_options(method::twn);
  o.threshold_factor = 11;
  EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "threshold_factor");
  o = make_options(method::ttq);
  o.threshold_factor = 1.0;
  EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "threshold_factor");
  o = ok;
  o.max_iterations = 0;
  EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "max_iterations");
  for (double t : {std::nan(""), -1e-3, std::numeric_limits<double>::infinity()}) {
    o = ok;
    o.tolerance = t;
    EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "tolerance");
  }
  o = ok;
  o.threads = -1;
  EXPECT_TERNARY_ERROR(call(o), status::invalid_argument, "threads");
  // The common checks run before the activation-aware mode takes over.
  tq::calibration cal;
  o = ok;
  o.calib = &cal;
  EXPECT_TERNARY_ERROR(tq::ternarize(nullptr, 4, 128, 128, o, &q, nullptr), status::null_pointer,
                       "w");
  EXPECT_TRUE(q.empty());
}

TEST(QuantErrors, NonFiniteWeights) {
  const int64_t rows = 3, cols = 70;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    auto w = random_matrix(dist::gaussian, rows, cols, 8);
    w[static_cast<size_t>(2 * cols + 13)] = bad;
    packed_matrix q;
    EXPECT_TERNARY_ERROR(
        tq::ternarize(w.data(), rows, cols, cols, make_options(method::twn), &q, nullptr),
        status::invalid_scale, "row 2");
    EXPECT_TRUE(mentions(ternary::last_error_message(), {"col 13"}));
    EXPECT_TRUE(q.empty());
  }
}

TEST(QuantErrors, LenientNonFinite) {
  const int64_t rows = 4, cols = 96;
  const auto clean = random_matrix(dist::gaussian, rows, cols, 9);
  auto w = clean;
  const size_t bad[] = {5, 6, 100, 200, 201, 383};
  w[5] = std::numeric_limits<float>::quiet_NaN();
  w[6] = std::numeric_limits<float>::infinity();
  w[100] = -std::numeric_limits<float>::infinity();
  w[200] = std::numeric_limits<float>::quiet_NaN();
  w[201] = std::numeric_limits<float>::quiet_NaN();
  w[383] = std::numeric_limits<float>::infinity();
  auto zeroed = w;
  for (size_t i : bad) zeroed[i] = 0.0f;
  for (method m : kAllMethods) {
    for (auto g : {scale_granularity::per_tensor, scale_granularity::per_row}) {
      tq::options o = make_options(m, format::bits2, g);
      o.lenient_nonfinite = true;
      const result r = run_ok(w, rows, cols, o);
      EXPECT_EQ(r.st.nonfinite, 6) << tq::method_name(m);
      EXPECT_TRUE(std::isfinite(r.st.rel_error));
      const unpacked u = unpack(r.m);
      if (m != method::sherry) {
        for (size_t i : bad)
          for (int p = 0; p < tq::method_planes(m); ++p) EXPECT_EQ(u.t[p][i], 0);
      } else {
        // NaN/Inf lanes are the zero lane of their quad (lanes 200/201 share one: one is kept).
        for (size_t i : {size_t{5}, size_t{100}, size_t{200}, size_t{383}}) EXPECT_EQ(u.t[0][i], 0);
      }
      double again = -1;
      ASSERT_EQ(tq::relative_error(w.data(), cols, r.m, &again), status::ok);
      EXPECT_EQ(again, r.st.rel_error);
      // For the methods that exclude NaN/Inf from their statistics, zeros are not the same thing
      // (they count in the means); the ones that ignore zeros anyway match the zeroed input.
      if (m == method::optimal || m == method::ttq || m == method::ttq_optimal ||
          m == method::ptqtp) {
        tq::options oz = o;
        oz.lenient_nonfinite = false;
        const unpacked uz = unpack(run_ok(zeroed, rows, cols, oz).m);
        for (int p = 0; p < tq::method_planes(m); ++p) {
          EXPECT_EQ(uz.t[p], u.t[p]) << tq::method_name(m);
          EXPECT_EQ(uz.s[p], u.s[p]) << tq::method_name(m);
        }
      }
    }
  }
}

TEST(QuantErrors, Fp16ScaleOverflow) {
  std::vector<float> w(64, 1e6f);
  packed_matrix q;
  EXPECT_TERNARY_ERROR(tq::ternarize(w.data(), 1, 64, 64,
                                     make_options(method::optimal, format::bits2,
                                                  scale_granularity::per_row, 0, scale_type::f16),
                                     &q, nullptr),
                       status::invalid_scale, "f16", "fp16");
}

TEST(QuantErrors, RelativeError) {
  const auto w = random_matrix(dist::gaussian, 2, 64, 4);
  const result r = run_ok(w, 2, 64, make_options(method::optimal));
  double e = 0;
  EXPECT_TERNARY_ERROR(tq::relative_error(nullptr, 64, r.m, &e), status::null_pointer, "w");
  EXPECT_TERNARY_ERROR(tq::relative_error(w.data(), 64, r.m, nullptr), status::null_pointer, "out");
  EXPECT_TERNARY_ERROR(tq::relative_error(w.data(), 63, r.m, &e), status::buffer_too_small,
                       "leading");
  const packed_matrix empty;
  EXPECT_TERNARY_ERROR(tq::relative_error(w.data(), 64, empty, &e), status::invalid_argument,
                       "empty");
}

}  // namespace
