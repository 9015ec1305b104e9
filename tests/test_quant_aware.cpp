// SPDX-License-Identifier: Apache-2.0
// Tests of the activation-aware mode of ternary::quant (docs/QUANT_AWARE.md): the output error
// ||X (W - W-hat)^T|| / ||X W^T|| against the weight-only result on calibration and held-out
// activations, Gram input against activation input, determinism over thread counts, the
// identity metric, calibration errors, the packed result through gemv, and the statistics.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "test_util.hpp"
#include <gtest/gtest.h>

#include "ternary/gemm.hpp"
#include "ternary/quant.hpp"

namespace {

namespace tq = ternary::quant;
using namespace ternary_test;
using tq::method;

const method kAllMethods[] = {method::twn,          method::optimal,     method::absmean,
                              method::ttq,          method::ttq_optimal, method::ptqtp,
                              method::ptqtp_global, method::sherry};

double gauss(Rng& r) {
  const double u1 = (static_cast<double>(r.next() >> 11) + 0.5) * 0x1p-53;
  const double u2 = static_cast<double>(r.next() >> 11) * 0x1p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// A synthetic layer: Gaussian weights, and per-input channel scales (log-normal spread, a few
// outlier channels x10..x30) for the activations.
struct layer {
  int64_t n = 0, k = 0;
  std::vector<float> w;
  std::vector<double> channel;
};

layer make_layer(int64_t n, int64_t k, uint64_t seed, int outliers = 6) {
  layer l;
  l.n = n;
  l.k = k;
  Rng r(seed);
  l.w.resize(static_cast<size_t>(n * k));
  for (float& v : l.w) v = static_cast<float>(gauss(r));
  l.channel.resize(static_cast<size_t>(k));
  for (double& c : l.channel) c = std::exp(0.5 * gauss(r));
  for (int i = 0; i < outliers; ++i)
    l.channel[static_cast<size_t>(r.uniform(0, k - 1))] *= 10.0 + 20.0 * static_cast<double>(i) / 5;
  return l;
}

// tokens x k activations: an AR(1) process along the channels (correlation 0.8 between
// neighbours) times the channel scales. Different seeds give held-out data from the same
// distribution.
std::vector<float> activations(const layer& l, int64_t tokens, uint64_t seed) {
  Rng r(seed);
  std::vector<float> x(static_cast<size_t>(tokens * l.k));
  for (int64_t t = 0; t < tokens; ++t) {
    double v = gauss(r);
    for (int64_t j = 0; j < l.k; ++j) {
      if (j > 0) v = 0.8 * v + 0.6 * gauss(r);
      x[static_cast<size_t>(t * l.k + j)] =
          static_cast<float>(v * l.channel[static_cast<size_t>(j)]);
    }
  }
  return x;
}

// ||X (W - W-hat)^T||_F / ||X W^T||_F through the Gram matrix X^T X accumulated here in double.
struct evaluator {
  int64_t k = 0;
  std::vector<double> h;

  evaluator(const std::vector<float>& x, int64_t tokens, int64_t k_) : k(k_) {
    h.assign(static_cast<size_t>(k * k), 0.0);
    for (int64_t t = 0; t < tokens; ++t) {
      const float* xr = x.data() + t * k;
      for (int64_t i = 0; i < k; ++i) {
        const double xi = xr[i];
        double* hr = h.data() + i * k;
        for (int64_t j = 0; j <= i; ++j) hr[j] += xi * static_cast<double>(xr[j]);
      }
    }
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < i; ++j)
        h[static_cast<size_t>(j * k + i)] = h[static_cast<size_t>(i * k + j)];
  }

  double quad(const double* e) const {
    double s = 0;
    for (int64_t i = 0; i < k; ++i) {
      double row = 0;
      for (int64_t j = 0; j < k; ++j) row += h[static_cast<size_t>(i * k + j)] * e[j];
      s += e[i] * row;
    }
    return s;
  }

  double rel(const std::vector<float>& w, const std::vector<float>& what, int64_t n) const {
    double num = 0, den = 0;
    std::vector<double> e(static_cast<size_t>(k)), wr(static_cast<size_t>(k));
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t j = 0; j < k; ++j) {
        wr[static_cast<size_t>(j)] = w[static_cast<size_t>(r * k + j)];
        e[static_cast<size_t>(j)] = static_cast<double>(w[static_cast<size_t>(r * k + j)]) -
                                    static_cast<double>(what[static_cast<size_t>(r * k + j)]);
      }
      num += quad(e.data());
      den += quad(wr.data());
    }
    return den > 0 ? std::sqrt(num / den) : 0.0;
  }
};

tq::options make_options(method m, scale_granularity g = scale_granularity::per_row,
                         int64_t group = 0, scale_type t = scale_type::f32,
                         format f = format::bits2) {
  tq::options o;
  o.algo = m;
  o.fmt = m == method::sherry ? format::sherry : f;
  o.granularity = g;
  o.group_size = group;
  o.scale_dtype = t;
  return o;
}

struct result {
  packed_matrix m;
  tq::stats st;
  std::vector<float> what;
};

result run_ok(const std::vector<float>& w, int64_t n, int64_t k, const tq::options& o) {
  result r;
  const status s = tq::ternarize(w.data(), n, k, k, o, &r.m, &r.st);
  EXPECT_EQ(s, status::ok) << tq::method_name(o.algo) << ": " << ternary::last_error_message();
  r.what.assign(static_cast<size_t>(n * k), 0.0f);
  if (s == status::ok) {
    EXPECT_EQ(r.m.dequantize(r.what.data(), k), status::ok);
  }
  return r;
}

tq::calibration calib_x(const std::vector<float>& x, int64_t tokens, int64_t ld) {
  tq::calibration c;
  c.x = x.data();
  c.tokens = tokens;
  c.ld_x = ld;
  return c;
}

std::vector<uint8_t> bytes_of(const packed_matrix& m) {
  std::vector<uint8_t> b;
  EXPECT_EQ(m.serialize(&b), status::ok);
  return b;
}

std::vector<int8_t> trits_of(const packed_matrix& m, int plane) {
  std::vector<int8_t> t(static_cast<size_t>(m.rows() * m.cols()));
  EXPECT_EQ(m.unpack_trits(plane, t.data(), m.cols()), status::ok);
  return t;
}

std::vector<float> scales_of(const packed_matrix& m, int plane) {
  std::vector<float> s(static_cast<size_t>(m.scale_count()));
  EXPECT_EQ(m.unpack_scales(plane, s.data()), status::ok);
  return s;
}

// ---- quality --------------------------------------------------------------------------------

struct quality {
  double cal0, cal1, held0, held1;
};

quality compare(const layer& l, const tq::options& base, const std::vector<float>& x,
                const std::vector<float>& xh, int64_t tokens, const evaluator& ev_cal,
                const evaluator& ev_held, result* aware_out = nullptr, bool error_feedback = true) {
  const result wo = run_ok(l.w, l.n, l.k, base);
  tq::options o = base;
  tq::calibration c = calib_x(x, tokens, l.k);
  c.error_feedback = error_feedback;
  o.calib = &c;
  result aw = run_ok(l.w, l.n, l.k, o);
  (void)xh;
  quality q{ev_cal.rel(l.w, wo.what, l.n), ev_cal.rel(l.w, aw.what, l.n),
            ev_held.rel(l.w, wo.what, l.n), ev_held.rel(l.w, aw.what, l.n)};
  // Never worse than the weight-only result on the calibration data.
  EXPECT_LE(q.cal1, q.cal0 * (1 + 1e-6)) << tq::method_name(base.algo);
  // The reported output error is the calibration error.
  EXPECT_NEAR(aw.st.output_rel_error, q.cal1, 1e-5 * q.cal1 + 1e-9) << tq::method_name(base.algo);
  EXPECT_EQ(wo.st.output_rel_error, -1.0);
  if (aware_out) *aware_out = std::move(aw);
  return q;
}

void print_quality(const char* label, method m, const quality& q) {
  std::printf(
      "  %-22s %-13s calibration %.4f -> %.4f (-%4.1f%%)  held-out %.4f -> %.4f (-%4.1f%%)\n",
      label, tq::method_name(m), q.cal0, q.cal1, 100 * (1 - q.cal1 / q.cal0), q.held0, q.held1,
      100 * (1 - q.held1 / q.held0));
}

TEST(AwareQuality, OutputErrorDropsOnHeldOutActivations) {
  const layer l = make_layer(128, 256, 11);
  const int64_t tokens = 2048;
  const auto x = activations(l, tokens, 101);
  const auto xh = activations(l, tokens, 202);
  const evaluator ev_cal(x, tokens, l.k), ev_held(xh, tokens, l.k);
  for (method m : kAllMethods) {
    const quality q = compare(l, make_options(m), x, xh, tokens, ev_cal, ev_held);
    print_quality("per_row K=256", m, q);
    const quality r = compare(l, make_options(m), x, xh, tokens, ev_cal, ev_held, nullptr, false);
    print_quality("  refit only", m, r);
    // Measured held-out reductions are 49-73 % (docs/QUANT_AWARE.md); 20 % leaves a wide margin.
    EXPECT_LT(q.held1, 0.8 * q.held0) << tq::method_name(m);
    EXPECT_LT(q.cal1, 0.8 * q.cal0) << tq::method_name(m);
  }
}

TEST(AwareQuality, PerGroupTailGroupTwoPlanesFp16ThroughGemv) {
  const layer l = make_layer(96, 320, 12);  // K = 320: groups of 128, 128 and a tail of 64
  const int64_t tokens = 2048;
  const auto x = activations(l, tokens, 103);
  const auto xh = activations(l, tokens, 204);
  const evaluator ev_cal(x, tokens, l.k), ev_held(xh, tokens, l.k);
  struct cfg {
    method m;
    scale_type t;
    format f;
  };
  const cfg cases[] = {
      {method::optimal, scale_type::f16, format::bits2},
      {method::absmean, scale_type::f32, format::base3},
      {method::ptqtp, scale_type::f16, format::bits2},
      {method::ptqtp_global, scale_type::f32, format::base3},
      {method::ttq_optimal, scale_type::f16, format::bits2},
      {method::sherry, scale_type::f16, format::sherry},
  };
  Rng rx(5);
  std::vector<float> a(static_cast<size_t>(l.k));
  for (float& v : a) v = static_cast<float>(gauss(rx));
  for (const cfg& c : cases) {
    result aw;
    const quality q = compare(l, make_options(c.m, scale_granularity::per_group, 128, c.t, c.f), x,
                              xh, tokens, ev_cal, ev_held, &aw);
    print_quality(c.t == scale_type::f16 ? "per_group 128 K=320 f16" : "per_group 128 K=320", c.m,
                  q);
    EXPECT_LT(q.held1, 0.8 * q.held0) << tq::method_name(c.m);
    // Layout of the result: the options' format, granularity and scale type.
    EXPECT_EQ(aw.m.fmt(), c.m == method::sherry ? format::sherry : c.f);
    EXPECT_EQ(aw.m.desc().granularity, scale_granularity::per_group);
    EXPECT_EQ(aw.m.desc().group_size, 128);
    EXPECT_EQ(aw.m.desc().scale_dtype, c.t);
    EXPECT_EQ(aw.m.planes(), tq::method_planes(c.m));
    // Canonical scales: non-negative; PTQTP a1 >= a2; TTQ planes keep their signs.
    const auto s0 = scales_of(aw.m, 0);
    for (float v : s0) EXPECT_GE(v, 0.0f);
    if (aw.m.planes() == 2) {
      const auto s1 = scales_of(aw.m, 1);
      for (size_t i = 0; i < s1.size(); ++i) {
        EXPECT_GE(s1[i], 0.0f);
        if (c.m == method::ptqtp || c.m == method::ptqtp_global) {
          EXPECT_GE(s0[i], s1[i]) << i;
        }
      }
      if (c.m == method::ttq_optimal) {
        for (int8_t t : trits_of(aw.m, 0)) EXPECT_GE(t, 0);
        for (int8_t t : trits_of(aw.m, 1)) EXPECT_LE(t, 0);
      }
    }
    // gemv (fp32 activations) agrees with dequantize().
    std::vector<float> y(static_cast<size_t>(l.n), -1.0f);
    ternary::gemm_options go;
    go.path = ternary::act_path::f32;
    ASSERT_EQ(ternary::gemv(aw.m, a.data(), y.data(), go), status::ok)
        << ternary::last_error_message();
    for (int64_t r = 0; r < l.n; ++r) {
      double ref = 0, mag = 0;
      for (int64_t j = 0; j < l.k; ++j) {
        const double p = static_cast<double>(aw.what[static_cast<size_t>(r * l.k + j)]) * a[j];
        ref += p;
        mag += std::fabs(p);
      }
      EXPECT_NEAR(y[static_cast<size_t>(r)], ref, 1e-5 * mag + 1e-6)
          << tq::method_name(c.m) << " row " << r;
    }
  }
}

TEST(AwareQuality, PerTensorAndSherryTailQuad) {
  const layer l = make_layer(64, 258, 13);  // K % 4 == 2: Sherry's last quad is cut
  const int64_t tokens = 1024;
  const auto x = activations(l, tokens, 105);
  const auto xh = activations(l, tokens, 206);
  const evaluator ev_cal(x, tokens, l.k), ev_held(xh, tokens, l.k);
  for (method m : {method::optimal, method::ptqtp, method::ttq, method::sherry}) {
    const quality q =
        compare(l, make_options(m, scale_granularity::per_tensor), x, xh, tokens, ev_cal, ev_held);
    print_quality("per_tensor K=258", m, q);
    EXPECT_LT(q.held1, 0.8 * q.held0) << tq::method_name(m);
  }
  const quality q = compare(l, make_options(method::sherry), x, xh, tokens, ev_cal, ev_held);
  print_quality("per_row K=258", method::sherry, q);
  EXPECT_LT(q.held1, 0.8 * q.held0);
}

TEST(AwareQuality, RefitOnlyIsNeverWorse) {
  const layer l = make_layer(64, 256, 14);
  const int64_t tokens = 1024;
  const auto x = activations(l, tokens, 107);
  const evaluator ev(x, tokens, l.k);
  tq::calibration c = calib_x(x, tokens, l.k);
  c.error_feedback = false;
  for (method m : kAllMethods) {
    const result wo = run_ok(l.w, l.n, l.k, make_options(m));
    tq::options o = make_options(m);
    o.calib = &c;
    const result aw = run_ok(l.w, l.n, l.k, o);
    const double e0 = ev.rel(l.w, wo.what, l.n), e1 = ev.rel(l.w, aw.what, l.n);
    EXPECT_LE(e1, e0 * (1 + 1e-6)) << tq::method_name(m);
    // The refit alone already helps the methods whose scales ignore the metric.
    if (m == method::absmean || m == method::ttq) {
      EXPECT_LT(e1, 0.97 * e0) << tq::method_name(m);
    }
  }
}

// ---- inputs ---------------------------------------------------------------------------------

TEST(AwareInputs, GramGivesTheSameBytesAsActivations) {
  // Integer activations in [-64, 64]: X^T X is exact in double and in fp32 (|sum| < 2^24), so the
  // Gram matrix computed here is bit-identical to the one the library forms from X.
  const layer l = make_layer(80, 192, 15);
  const int64_t tokens = 1000;
  auto x = activations(l, tokens, 109);
  for (float& v : x) v = std::fmax(-64.0f, std::fmin(64.0f, std::nearbyint(v * 2.0f)));
  std::vector<double> hd(static_cast<size_t>(l.k * l.k), 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < l.k; ++i)
      for (int64_t j = 0; j < l.k; ++j)
        hd[static_cast<size_t>(i * l.k + j)] +=
            static_cast<double>(x[static_cast<size_t>(t * l.k + i)]) *
            x[static_cast<size_t>(t * l.k + j)];
  const int64_t ld_gram = l.k + 5;
  std::vector<float> gram(static_cast<size_t>(l.k * ld_gram), std::nanf(""));
  for (int64_t i = 0; i < l.k; ++i)
    for (int64_t j = 0; j < l.k; ++j)
      gram[static_cast<size_t>(i * ld_gram + j)] =
          static_cast<float>(hd[static_cast<size_t>(i * l.k + j)]);
  for (method m : {method::optimal, method::ptqtp, method::sherry, method::ttq_optimal}) {
    for (const Gran& g :
         {Gran{scale_granularity::per_row, 0}, Gran{scale_granularity::per_group, 64}}) {
      tq::options o = make_options(m, g.g, g.group_size);
      const tq::calibration cx = calib_x(x, tokens, l.k);
      tq::calibration cg;
      cg.gram = gram.data();
      cg.ld_gram = ld_gram;
      o.calib = &cx;
      const result rx = run_ok(l.w, l.n, l.k, o);
      o.calib = &cg;
      const result rg = run_ok(l.w, l.n, l.k, o);
      EXPECT_EQ(bytes_of(rx.m), bytes_of(rg.m)) << tq::method_name(m) << " " << gran_label(g);
      EXPECT_NEAR(rx.st.output_rel_error, rg.st.output_rel_error, 1e-6 * rx.st.output_rel_error)
          << tq::method_name(m);
      EXPECT_EQ(rx.st.rel_error, rg.st.rel_error);
    }
  }
}

TEST(AwareInputs, StridedActivationsFewTokensAndDeadInputs) {
  // ld_x > K, fewer tokens than inputs (H is singular without the damping), and inputs that are
  // always zero (H_ii = 0).
  const layer l = make_layer(48, 256, 16);
  const int64_t tokens = 100, ld = 300;
  const auto dense = activations(l, tokens, 111);
  std::vector<float> x(static_cast<size_t>(tokens * ld), std::nanf(""));
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < l.k; ++j)
      x[static_cast<size_t>(t * ld + j)] =
          (j % 17 == 3) ? 0.0f : dense[static_cast<size_t>(t * l.k + j)];
  std::vector<float> xc(static_cast<size_t>(tokens * l.k));
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < l.k; ++j)
      xc[static_cast<size_t>(t * l.k + j)] = x[static_cast<size_t>(t * ld + j)];
  const evaluator ev(xc, tokens, l.k);
  const tq::calibration c = calib_x(x, tokens, ld);
  for (method m : {method::optimal, method::ptqtp_global, method::sherry}) {
    const result wo = run_ok(l.w, l.n, l.k, make_options(m));
    tq::options o = make_options(m);
    o.calib = &c;
    const result aw = run_ok(l.w, l.n, l.k, o);
    const double e0 = ev.rel(l.w, wo.what, l.n), e1 = ev.rel(l.w, aw.what, l.n);
    EXPECT_LT(e1, 0.8 * e0) << tq::method_name(m);
    EXPECT_NEAR(aw.st.output_rel_error, e1, 1e-5 * e1) << tq::method_name(m);
    // A strided W (ld > K, NaN in the gap) gives the same bytes.
    const int64_t ldw = l.k + 7;
    std::vector<float> ws(static_cast<size_t>(l.n * ldw), std::nanf(""));
    for (int64_t r = 0; r < l.n; ++r)
      for (int64_t j = 0; j < l.k; ++j)
        ws[static_cast<size_t>(r * ldw + j)] = l.w[static_cast<size_t>(r * l.k + j)];
    packed_matrix qs;
    ASSERT_EQ(tq::ternarize(ws.data(), l.n, l.k, ldw, o, &qs, nullptr), status::ok)
        << ternary::last_error_message();
    EXPECT_EQ(bytes_of(qs), bytes_of(aw.m)) << tq::method_name(m);
  }
}

TEST(AwareInputs, IdentityMetricKeepsTheWeightError) {
  // X = identity (tokens = K) gives H = I: the output error is the weight error.
  const layer l = make_layer(40, 192, 17);
  std::vector<float> x(static_cast<size_t>(l.k * l.k), 0.0f);
  for (int64_t i = 0; i < l.k; ++i) x[static_cast<size_t>(i * l.k + i)] = 1.0f;
  const tq::calibration c = calib_x(x, l.k, l.k);
  for (method m : kAllMethods) {
    for (const Gran& g :
         {Gran{scale_granularity::per_row, 0}, Gran{scale_granularity::per_group, 64}}) {
      const result wo = run_ok(l.w, l.n, l.k, make_options(m, g.g, g.group_size));
      tq::options o = make_options(m, g.g, g.group_size);
      o.calib = &c;
      const result aw = run_ok(l.w, l.n, l.k, o);
      EXPECT_LE(aw.st.rel_error, wo.st.rel_error + 1e-6)
          << tq::method_name(m) << " " << gran_label(g);
      EXPECT_NEAR(aw.st.output_rel_error, aw.st.rel_error, 1e-5) << tq::method_name(m);
      if (m == method::absmean) {  // gamma = mean|w| is not the least-squares scale
        EXPECT_LT(aw.st.rel_error, wo.st.rel_error - 1e-3);
      }
    }
  }
}

TEST(AwareInputs, ZeroActivationsAndZeroWeights) {
  const layer l = make_layer(16, 128, 18);
  const std::vector<float> x(static_cast<size_t>(64 * l.k), 0.0f);
  const tq::calibration c = calib_x(x, 64, l.k);
  tq::options o = make_options(method::optimal);
  o.calib = &c;
  // All inputs dead: nothing to gain, the weight-only result comes back unchanged.
  const result wo = run_ok(l.w, l.n, l.k, make_options(method::optimal));
  const result aw = run_ok(l.w, l.n, l.k, o);
  EXPECT_EQ(bytes_of(aw.m), bytes_of(wo.m));
  EXPECT_EQ(aw.st.output_rel_error, 0.0);
  // An all-zero W: every trit and scale 0, both errors 0.
  const std::vector<float> zero(static_cast<size_t>(l.n * l.k), 0.0f);
  const auto xa = activations(l, 64, 113);
  const tq::calibration ca = calib_x(xa, 64, l.k);
  for (method m : kAllMethods) {
    tq::options oz = make_options(m);
    oz.calib = &ca;
    const result r = run_ok(zero, l.n, l.k, oz);
    EXPECT_EQ(r.st.rel_error, 0.0) << tq::method_name(m);
    EXPECT_EQ(r.st.output_rel_error, 0.0) << tq::method_name(m);
    for (float v : r.what) ASSERT_EQ(v, 0.0f) << tq::method_name(m);
  }
}

TEST(AwareInputs, LenientNonFiniteWeights) {
  layer l = make_layer(32, 256, 19);
  const int64_t tokens = 512;
  const auto x = activations(l, tokens, 115);
  l.w[5] = std::nanf("");
  l.w[300] = std::numeric_limits<float>::infinity();
  l.w[301] = -std::numeric_limits<float>::infinity();
  const tq::calibration c = calib_x(x, tokens, l.k);
  for (method m : {method::optimal, method::ptqtp, method::sherry}) {
    tq::options o = make_options(m);
    o.calib = &c;
    packed_matrix q;
    EXPECT_TERNARY_ERROR(tq::ternarize(l.w.data(), l.n, l.k, l.k, o, &q, nullptr),
                         status::invalid_scale, "nan", "inf", "finite");
    o.lenient_nonfinite = true;
    const result r = run_ok(l.w, l.n, l.k, o);
    EXPECT_EQ(r.st.nonfinite, 3) << tq::method_name(m);
    EXPECT_TRUE(std::isfinite(r.st.output_rel_error));
    if (m != method::sherry) {
      for (int pl = 0; pl < r.m.planes(); ++pl) {
        const auto t = trits_of(r.m, pl);
        EXPECT_EQ(t[5], 0);
        EXPECT_EQ(t[300], 0);
        EXPECT_EQ(t[301], 0);
      }
    } else {
      const auto t = trits_of(r.m, 0);
      EXPECT_EQ(t[5], 0);                       // the zero lane of its quad
      EXPECT_TRUE(t[300] == 0 || t[301] == 0);  // one quad: one of them is its zero lane
    }
  }
}

// ---- determinism ----------------------------------------------------------------------------

TEST(AwareDeterminism, SameBytesForAnyThreadCount) {
  const layer l = make_layer(150, 320, 20);  // three row blocks of the parallel passes
  const int64_t tokens = 600;
  const auto x = activations(l, tokens, 117);
  const tq::calibration c = calib_x(x, tokens, l.k);
  const Gran grans[] = {{scale_granularity::per_tensor, 0},
                        {scale_granularity::per_row, 0},
                        {scale_granularity::per_group, 128}};
  for (method m : {method::optimal, method::ptqtp, method::ttq, method::sherry}) {
    for (const Gran& g : grans) {
      std::vector<uint8_t> first;
      double first_err = -1;
      for (int threads : {1, 2, 3, 0}) {
        tq::options o = make_options(m, g.g, g.group_size);
        o.threads = threads;
        o.calib = &c;
        const result r = run_ok(l.w, l.n, l.k, o);
        if (first.empty()) {
          first = bytes_of(r.m);
          first_err = r.st.output_rel_error;
        } else {
          EXPECT_EQ(bytes_of(r.m), first)
              << tq::method_name(m) << " " << gran_label(g) << " threads " << threads;
          EXPECT_EQ(r.st.output_rel_error, first_err);
        }
      }
    }
  }
}

// ---- statistics -----------------------------------------------------------------------------

TEST(AwareStats, AgreeWithTheirDefinitions) {
  const layer l = make_layer(64, 256, 21);
  const int64_t tokens = 512;
  const auto x = activations(l, tokens, 119);
  const tq::calibration c = calib_x(x, tokens, l.k);
  for (method m : {method::absmean, method::ptqtp_global, method::sherry}) {
    tq::options o = make_options(m, scale_granularity::per_group, 64, scale_type::f16);
    o.calib = &c;
    const result r = run_ok(l.w, l.n, l.k, o);
    // output_rel_error: ||X (W - W-hat)^T|| / ||X W^T|| computed directly from X.
    double num = 0, den = 0;
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t n = 0; n < l.n; ++n) {
        double y = 0, e = 0;
        for (int64_t j = 0; j < l.k; ++j) {
          const double xv = x[static_cast<size_t>(t * l.k + j)];
          y += xv * l.w[static_cast<size_t>(n * l.k + j)];
          e += xv * (static_cast<double>(l.w[static_cast<size_t>(n * l.k + j)]) -
                     r.what[static_cast<size_t>(n * l.k + j)]);
        }
        num += e * e;
        den += y * y;
      }
    }
    EXPECT_NEAR(r.st.output_rel_error, std::sqrt(num / den), 1e-5 * std::sqrt(num / den))
        << tq::method_name(m);
    double rel = -1;
    ASSERT_EQ(tq::relative_error(l.w.data(), l.k, r.m, &rel), status::ok);
    EXPECT_NEAR(r.st.rel_error, rel, 1e-9) << tq::method_name(m);
    float smin = std::numeric_limits<float>::infinity(), smax = -smin;
    for (int pl = 0; pl < r.m.planes(); ++pl) {
      const auto t = trits_of(r.m, pl);
      int64_t zeros = 0;
      for (int8_t v : t) zeros += v == 0;
      EXPECT_DOUBLE_EQ(r.st.zero_fraction[pl],
                       static_cast<double>(zeros) / static_cast<double>(t.size()));
      for (float s : scales_of(r.m, pl)) {
        smin = std::fmin(smin, s);
        smax = std::fmax(smax, s);
      }
    }
    EXPECT_EQ(r.st.scale_min, smin);
    EXPECT_EQ(r.st.scale_max, smax);
    EXPECT_GT(r.st.bits_per_weight, 0.0);
  }
}

// ---- errors ---------------------------------------------------------------------------------

TEST(AwareErrors, CalibrationArguments) {
  const layer l = make_layer(8, 128, 22);
  const auto x = activations(l, 64, 121);
  std::vector<float> gram(static_cast<size_t>(l.k * l.k), 0.0f);
  for (int64_t i = 0; i < l.k; ++i) gram[static_cast<size_t>(i * l.k + i)] = 1.0f;
  packed_matrix q;
  auto call = [&](const tq::calibration& c) {
    tq::options o = make_options(method::optimal);
    o.calib = &c;
    return tq::ternarize(l.w.data(), l.n, l.k, l.k, o, &q, nullptr);
  };
  const tq::calibration good = calib_x(x, 64, l.k);
  tq::calibration c = good;
  c.gram = gram.data();
  c.ld_gram = l.k;
  EXPECT_TERNARY_ERROR(call(c), status::invalid_argument, "both", "exactly one");
  EXPECT_TERNARY_ERROR(call(tq::calibration{}), status::null_pointer, "neither", "gram");
  c = good;
  c.tokens = 0;
  EXPECT_TERNARY_ERROR(call(c), status::invalid_argument, "tokens");
  c.tokens = -3;
  EXPECT_TERNARY_ERROR(call(c), status::invalid_argument, "tokens");
  c = good;
  c.ld_x = l.k - 1;
  EXPECT_TERNARY_ERROR(call(c), status::buffer_too_small, "ld_x");
  c = good;
  c.damp = -0.01;
  EXPECT_TERNARY_ERROR(call(c), status::invalid_argument, "damp");
  c.damp = std::nan("");
  EXPECT_TERNARY_ERROR(call(c), status::invalid_argument, "damp");
  c.damp = std::numeric_limits<double>::infinity();
  EXPECT_TERNARY_ERROR(call(c), status::invalid_argument, "damp");
  auto xbad = x;
  xbad[static_cast<size_t>(7 * l.k + 9)] = std::nanf("");
  c = calib_x(xbad, 64, l.k);
  EXPECT_TERNARY_ERROR(call(c), status::invalid_scale, "x[7][9]", "finite");
  xbad[static_cast<size_t>(7 * l.k + 9)] = std::numeric_limits<float>::infinity();
  EXPECT_TERNARY_ERROR(call(c), status::invalid_scale, "x[7][9]", "finite");

  tq::calibration g;
  g.gram = gram.data();
  g.ld_gram = l.k - 1;
  EXPECT_TERNARY_ERROR(call(g), status::buffer_too_small, "ld_gram");
  g.ld_gram = l.k;
  auto gbad = gram;
  gbad[3 * l.k + 4] = -std::numeric_limits<float>::infinity();
  g.gram = gbad.data();
  EXPECT_TERNARY_ERROR(call(g), status::invalid_scale, "gram[3][4]", "finite");
  gbad = gram;
  gbad[5 * l.k + 5] = -1.0f;
  EXPECT_TERNARY_ERROR(call(g), status::invalid_argument, "negative");
  gbad = gram;
  gbad[2 * l.k + 6] = 0.5f;  // gram[6][2] stays 0
  EXPECT_TERNARY_ERROR(call(g), status::invalid_argument, "symmetric");
  gbad = gram;
  gbad[2 * l.k + 6] = gbad[6 * l.k + 2] = 1.5f;  // |H_ij| > sqrt(H_ii H_jj)
  EXPECT_TERNARY_ERROR(call(g), status::invalid_argument, "semidefinite");
  // Symmetric, within the Cauchy-Schwarz bounds, but indefinite: the Cholesky factorization
  // fails without damping.
  gbad = gram;
  const float r3[3][3] = {{1.0f, 0.9f, -0.9f}, {0.9f, 1.0f, 0.9f}, {-0.9f, 0.9f, 1.0f}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) gbad[static_cast<size_t>(i * l.k + j)] = r3[i][j];
  g.damp = 0.0;
  EXPECT_TERNARY_ERROR(call(g), status::invalid_argument, "positive definite", "cholesky");

  // A failed call leaves `out` as it was.
  EXPECT_TRUE(q.empty());
  // The arguments common to both modes are still checked first.
  tq::options o = make_options(method::optimal);
  o.calib = &good;
  EXPECT_TERNARY_ERROR(tq::ternarize(nullptr, l.n, l.k, l.k, o, &q, nullptr), status::null_pointer,
                       "w");
}

}  // namespace
