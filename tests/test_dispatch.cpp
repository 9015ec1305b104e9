// SPDX-License-Identifier: Apache-2.0
// Every kernel on every ISA this machine can run, against the scalar reference (ref/), on an
// edge-shape grid: K below/at/above every block size, N tails, 1..17 tokens, prime leading
// dimensions, misaligned pointers, sentinel-filled outputs. The int8 path must equal
// ref::gemm_int8 bit for bit; the fp32 path must agree with ref::gemm_f32 within a tolerance
// derived from K and the scales. Failure messages name shape, ISA and index.
#include <cstdlib>
#include <iterator>
#include <sstream>
#include <tuple>

#include "test_util.hpp"

#include "ternary/ref/gemm.hpp"
#include "ternary/ref/quantize.hpp"

namespace {

using namespace ternary_test;
using ternary::act_path;
using ternary::activations;
using ternary::gemm_options;

const std::vector<Gran>& kGrans = all_grans();
const std::vector<format>& kFormats = all_formats();

const int64_t kKs[] = {1, 63, 64, 65, 255, 256, 257, 320, 321, 640, 1000, 2048 + 7};
const int64_t kNs[] = {1, 2, 3, 7, 16, 17, 33};
const int64_t kTokens[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};

// A quiet NaN with a payload no computation produces: outputs that must stay untouched.
const uint32_t kSentinelBits = 0x7fc0beefu;
const float kSentinel = bits_float(kSentinelBits);

// Compares a tokens x [row_begin, row_end) block of y (leading dimension ldy) with `want`
// (tokens x n, dense). tol == nullptr: bit-exact. Every other element of the ldy-wide rows must
// still hold the sentinel.
testing::AssertionResult compare_outputs(const std::string& ctx, const char* call, const float* y,
                                         int64_t ldy, int64_t tokens, int64_t n, int64_t row_begin,
                                         int64_t row_end, const float* want,
                                         const std::vector<double>* tol) {
  int64_t bad = 0;
  std::ostringstream first;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < ldy; ++c) {
      const float got = y[t * ldy + c];
      if (c < row_begin || c >= row_end) {
        if (float_bits(got) != kSentinelBits) {
          if (bad++ == 0) {
            first << "token " << t << " col " << c << " outside rows [" << row_begin << ", "
                  << row_end << ") was written: " << got;
          }
        }
        continue;
      }
      const float w = want[t * n + c];
      bool ok;
      double limit = 0.0;
      if (tol == nullptr) {
        ok = same_bits(got, w);
      } else {
        limit = (*tol)[static_cast<size_t>(t * n + c)];
        ok = std::fabs(static_cast<double>(got) - static_cast<double>(w)) <= limit;
      }
      if (!ok && bad++ == 0) {
        first << "token " << t << " row " << c << ": expected " << std::hexfloat << w << " ("
              << std::defaultfloat << w << ") got " << std::hexfloat << got << " ("
              << std::defaultfloat << got << ")";
        if (tol) first << " tolerance " << limit;
      }
    }
  }
  if (bad == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << call << " [" << ctx << "]: " << bad << " bad elements; first: " << first.str();
}

// One grid point: a packed matrix, activations and the reference answers.
struct Problem {
  TritCase c;
  packed_matrix w;
  int64_t tokens = 0, ldx = 0, ldq = 0, ldy = 0;
  size_t x_offset = 0, y_offset = 0;
  std::unique_ptr<OffsetBuffer<float>> x;  // tokens x ldx, the ld gap holds NaN
  std::vector<int8_t> xq_ref;              // tokens x K (dense)
  std::vector<float> s_ref;
  std::vector<float> y_int8;  // tokens x N (dense), ref::gemm_int8
  std::vector<float> y_f32;   // tokens x N (dense), ref::gemm_f32
  std::vector<double> tol;    // fp32-path tolerance per output

  std::string describe_case() const {
    std::ostringstream os;
    os << describe(c.d) << " tokens=" << tokens << " ldx=" << ldx << " ldq=" << ldq
       << " ldy=" << ldy << " x+" << x_offset << " y+" << y_offset;
    return os.str();
  }
};

// Token t's values: magnitudes vary per token; token 2 (when present) is all zeros, which
// exercises the 1e-5 floor of the activation scale.
void fill_activations(Rng& rng, Problem* pr) {
  const int64_t k_cols = pr->c.d.cols;
  for (int64_t t = 0; t < pr->tokens; ++t) {
    const float range = std::exp2(static_cast<float>(t % 5) * 3.0f - 6.0f);
    for (int64_t k = 0; k < k_cols; ++k) {
      (*pr->x)[static_cast<size_t>(t * pr->ldx + k)] =
          t == 2 ? 0.0f : rng.uniform_float(-range, range);
    }
  }
}

void build_problem(Rng& rng, const matrix_desc& d, int64_t tokens, int variant, Problem* pr) {
  pr->c = make_case(rng, d, 1 + variant % 3);
  ASSERT_EQ(pack_case(pr->c, &pr->w), status::ok)
      << describe(d) << ": " << ternary::last_error_message();
  pr->tokens = tokens;
  pr->ldx = next_prime(d.cols + 1);
  pr->ldq = next_prime(d.cols + 2);
  pr->ldy = next_prime(d.rows + 1);
  pr->x_offset = static_cast<size_t>(1 + variant % 3);
  pr->y_offset = static_cast<size_t>(1 + (variant + 1) % 3);
  pr->x = std::make_unique<OffsetBuffer<float>>(static_cast<size_t>(tokens * pr->ldx), pr->x_offset,
                                                std::numeric_limits<float>::quiet_NaN());
  fill_activations(rng, pr);

  const int64_t n = d.rows, k = d.cols;
  pr->xq_ref.assign(static_cast<size_t>(tokens * k), 0);
  pr->s_ref.assign(static_cast<size_t>(tokens), 0.0f);
  for (int64_t t = 0; t < tokens; ++t) {
    pr->s_ref[static_cast<size_t>(t)] =
        ternary::ref::quantize_row(pr->x->data() + t * pr->ldx, k, pr->xq_ref.data() + t * k);
  }
  pr->y_int8.assign(static_cast<size_t>(tokens * n), 0.0f);
  pr->y_f32.assign(static_cast<size_t>(tokens * n), 0.0f);
  ternary::ref::gemm_int8(pr->w.view(), pr->xq_ref.data(), pr->s_ref.data(), tokens, k,
                          pr->y_int8.data(), n, 0, n);
  ternary::ref::gemm_f32(pr->w.view(), pr->x->data(), tokens, pr->ldx, pr->y_f32.data(), n, 0, n);

  // |err| <= 1e-5 * sum_p sum_k |alpha_p * x_k| + rounding of the result and the bias.
  pr->tol.assign(static_cast<size_t>(tokens * n), 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t r = 0; r < n; ++r) {
      double mag = 0.0;
      for (int p = 0; p < d.planes; ++p) {
        for (int64_t kk = 0; kk < k; ++kk) {
          mag += std::fabs(static_cast<double>(pr->c.scale(p, r, kk)) *
                           (*pr->x)[static_cast<size_t>(t * pr->ldx + kk)]);
        }
      }
      const double bias = d.has_bias ? std::fabs(pr->c.bias[static_cast<size_t>(r)]) : 0.0;
      const double ref = std::fabs(pr->y_f32[static_cast<size_t>(t * n + r)]);
      pr->tol[static_cast<size_t>(t * n + r)] = 1e-5 * mag + 0x1p-22 * (ref + bias) + 1e-30;
    }
  }
}

std::unique_ptr<OffsetBuffer<float>> sentinel_y(const Problem& pr) {
  return std::make_unique<OffsetBuffer<float>>(static_cast<size_t>(pr.tokens * pr.ldy), pr.y_offset,
                                               kSentinel);
}

// Runs every entry point on one ISA and compares with the reference answers.
void check_problem_on_isa(const Problem& pr, isa i) {
  ScopedIsa guard(i);
  ASSERT_EQ(guard.result(), status::ok) << "set_isa(" << ternary::isa_name(i) << ")";
  ASSERT_EQ(ternary::active_isa(), i);
  const std::string ctx = pr.describe_case() + " isa=" + ternary::isa_name(i);
  const packed_matrix& w = pr.w;
  const int64_t n = w.rows(), k = w.cols(), tokens = pr.tokens;

  for (ternary::act_type a : {ternary::act_type::int8, ternary::act_type::f32}) {
    const std::string name = ternary::kernel_name(w, a);
    EXPECT_FALSE(name.empty()) << ctx;
    EXPECT_NE(name.find(ternary::isa_name(i)), std::string::npos)
        << ctx << ": kernel_name \"" << name << "\" does not name the ISA";
  }

  // quantize_activations == ref::quantize_row, bit for bit; the ldq gap stays untouched.
  OffsetBuffer<int8_t> xq(static_cast<size_t>(tokens * pr.ldq), pr.x_offset, int8_t{0x7b});
  std::vector<float> scales(static_cast<size_t>(tokens) + 1, kSentinel);
  ASSERT_EQ(ternary::quantize_activations(pr.x->data(), tokens, k, pr.ldx, xq.data(), pr.ldq,
                                          scales.data()),
            status::ok)
      << ctx << ": " << ternary::last_error_message();
  for (int64_t t = 0; t < tokens; ++t) {
    ASSERT_TRUE(same_bits(scales[static_cast<size_t>(t)], pr.s_ref[static_cast<size_t>(t)]))
        << ctx << " token " << t << ": scale " << scales[static_cast<size_t>(t)] << " vs ref "
        << pr.s_ref[static_cast<size_t>(t)];
    for (int64_t c = 0; c < pr.ldq; ++c) {
      const int8_t got = xq[static_cast<size_t>(t * pr.ldq + c)];
      if (c < k) {
        ASSERT_EQ(got, pr.xq_ref[static_cast<size_t>(t * k + c)])
            << ctx << " quantize token " << t << " col " << c << " x "
            << (*pr.x)[static_cast<size_t>(t * pr.ldx + c)];
      } else {
        ASSERT_EQ(got, 0x7b) << ctx << " quantize wrote the ldq gap at token " << t << " col " << c;
      }
    }
  }
  ASSERT_EQ(float_bits(scales[static_cast<size_t>(tokens)]), kSentinelBits) << ctx;

  gemm_options int8_opt;
  int8_opt.path = act_path::int8;
  gemm_options f32_opt;
  f32_opt.path = act_path::f32;

  // fp32 pointer, int8 path: exact.
  auto y_i8 = sentinel_y(pr);
  ASSERT_EQ(ternary::gemm(w, pr.x->data(), tokens, pr.ldx, y_i8->data(), pr.ldy, int8_opt),
            status::ok)
      << ctx << ": " << ternary::last_error_message();
  EXPECT_TRUE(compare_outputs(ctx, "gemm(f32 ptr, int8 path)", y_i8->data(), pr.ldy, tokens, n, 0,
                              n, pr.y_int8.data(), nullptr));
  // Default options are the int8 path.
  {
    auto y = sentinel_y(pr);
    ASSERT_EQ(ternary::gemm(w, pr.x->data(), tokens, pr.ldx, y->data(), pr.ldy), status::ok);
    EXPECT_TRUE(compare_outputs(ctx, "gemm(f32 ptr, default options)", y->data(), pr.ldy, tokens, n,
                                0, n, pr.y_int8.data(), nullptr));
  }
  // Pre-quantized int8 view: exact.
  const activations xq_view = activations::int8(xq.data(), scales.data(), tokens, k, pr.ldq);
  {
    auto y = sentinel_y(pr);
    ASSERT_EQ(ternary::gemm(w, xq_view, y->data(), pr.ldy), status::ok)
        << ctx << ": " << ternary::last_error_message();
    EXPECT_TRUE(compare_outputs(ctx, "gemm(int8 view)", y->data(), pr.ldy, tokens, n, 0, n,
                                pr.y_int8.data(), nullptr));
  }
  // fp32 pointer, f32 path, and an fp32 view: within tolerance.
  auto y_f = sentinel_y(pr);
  ASSERT_EQ(ternary::gemm(w, pr.x->data(), tokens, pr.ldx, y_f->data(), pr.ldy, f32_opt),
            status::ok)
      << ctx << ": " << ternary::last_error_message();
  EXPECT_TRUE(compare_outputs(ctx, "gemm(f32 ptr, f32 path)", y_f->data(), pr.ldy, tokens, n, 0, n,
                              pr.y_f32.data(), &pr.tol));
  const activations xf_view = activations::f32(pr.x->data(), tokens, k, pr.ldx);
  {
    auto y = sentinel_y(pr);
    ASSERT_EQ(ternary::gemm(w, xf_view, y->data(), pr.ldy), status::ok)
        << ctx << ": " << ternary::last_error_message();
    EXPECT_TRUE(compare_outputs(ctx, "gemm(f32 view)", y->data(), pr.ldy, tokens, n, 0, n,
                                pr.y_f32.data(), &pr.tol));
  }

  // gemv: token 0.
  for (act_path path : {act_path::int8, act_path::f32}) {
    OffsetBuffer<float> y(static_cast<size_t>(n + 5), pr.y_offset, kSentinel);
    gemm_options opt;
    opt.path = path;
    ASSERT_EQ(ternary::gemv(w, pr.x->data(), y.data(), opt), status::ok)
        << ctx << ": " << ternary::last_error_message();
    const bool exact = path == act_path::int8;
    EXPECT_TRUE(compare_outputs(ctx, exact ? "gemv(int8 path)" : "gemv(f32 path)", y.data(), n + 5,
                                1, n, 0, n, exact ? pr.y_int8.data() : pr.y_f32.data(),
                                exact ? nullptr : &pr.tol));
  }

  // gemm_rows: only the rows asked for, for several ranges (including empty ones).
  const int64_t ranges[][2] = {{0, n}, {n / 3, n - n / 3}, {n - 1, n},
                               {0, 1}, {n / 2, n / 2},     {n, n}};
  for (const auto& rg : ranges) {
    auto y = sentinel_y(pr);
    ASSERT_EQ(ternary::gemm_rows(w, xq_view, y->data(), pr.ldy, rg[0], rg[1]), status::ok)
        << ctx << " rows [" << rg[0] << ", " << rg[1] << "): " << ternary::last_error_message();
    EXPECT_TRUE(compare_outputs(
        ctx + " rows [" + std::to_string(rg[0]) + ", " + std::to_string(rg[1]) + ")",
        "gemm_rows(int8 view)", y->data(), pr.ldy, tokens, n, rg[0], rg[1], pr.y_int8.data(),
        nullptr));
    auto yf = sentinel_y(pr);
    ASSERT_EQ(ternary::gemm_rows(w, xf_view, yf->data(), pr.ldy, rg[0], rg[1]), status::ok)
        << ctx << ": " << ternary::last_error_message();
    EXPECT_TRUE(compare_outputs(
        ctx + " rows [" + std::to_string(rg[0]) + ", " + std::to_string(rg[1]) + ")",
        "gemm_rows(f32 view)", yf->data(), pr.ldy, tokens, n, rg[0], rg[1], pr.y_f32.data(),
        &pr.tol));
  }

  // Threads: any split gives the single-threaded bits, on both paths.
  for (int threads : {2, 3, 0}) {
    for (act_path path : {act_path::int8, act_path::f32}) {
      gemm_options opt;
      opt.path = path;
      opt.threads = threads;
      auto y = sentinel_y(pr);
      ASSERT_EQ(ternary::gemm(w, pr.x->data(), tokens, pr.ldx, y->data(), pr.ldy, opt), status::ok)
          << ctx << " threads " << threads << ": " << ternary::last_error_message();
      const auto& single = path == act_path::int8 ? *y_i8 : *y_f;
      EXPECT_EQ(std::memcmp(y->data(), single.data(), sizeof(float) * y->size()), 0)
          << ctx << " threads=" << threads << " path=" << (path == act_path::int8 ? "int8" : "f32")
          << ": differs from threads=1";
    }
  }
}

// ---------------------------------------------------------------- the grid

class DispatchGrid : public testing::TestWithParam<std::tuple<format, Gran, int>> {};

TEST_P(DispatchGrid, EveryIsaMatchesReference) {
  const format f = std::get<0>(GetParam());
  const Gran gr = std::get<1>(GetParam());
  const int planes = std::get<2>(GetParam());
  const std::vector<isa> isas = available_isas();
  ASSERT_FALSE(isas.empty());
  Rng rng(7000 + static_cast<uint64_t>(f) * 100 + static_cast<uint64_t>(gr.group_size) * 3 +
          static_cast<uint64_t>(gr.g) * 7 + static_cast<uint64_t>(planes));
  int variant = 0;
  for (bool bias : {false, true}) {
    for (size_t ki = 0; ki < std::size(kKs); ++ki) {
      for (int pick = 0; pick < 2; ++pick) {
        const int64_t k = kKs[ki];
        const int64_t n = kNs[(ki * 2 + static_cast<size_t>(pick) * 3 + (bias ? 1 : 0) +
                               static_cast<size_t>(planes)) %
                              std::size(kNs)];
        // Long rows get fewer tokens to keep the reference cheap; every count 1..17 still
        // appears across the grid.
        int64_t tokens = kTokens[static_cast<size_t>(variant) % std::size(kTokens)];
        if (k > 1000 && tokens > 5) tokens = tokens % 5 + 1;
        const scale_type st = variant % 2 ? scale_type::f16 : scale_type::f32;
        const matrix_desc d = make_desc(f, n, k, gr.g, gr.group_size, st, planes, bias);
        Problem pr;
        build_problem(rng, d, tokens, variant, &pr);
        if (HasFatalFailure()) return;
        for (isa i : isas) {
          check_problem_on_isa(pr, i);
          if (HasFailure()) return;  // the first failing grid point is the one to read
        }
        ++variant;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, DispatchGrid,
                         testing::Combine(testing::ValuesIn(kFormats), testing::ValuesIn(kGrans),
                                          testing::Values(1, 2)),
                         [](const testing::TestParamInfo<std::tuple<format, Gran, int>>& info) {
                           return std::string(ternary::format_name(std::get<0>(info.param))) + "_" +
                                  gran_label(std::get<1>(info.param)) + "_planes" +
                                  std::to_string(std::get<2>(info.param));
                         });

// ---------------------------------------------------------------- per-ISA properties

class DispatchIsa : public testing::TestWithParam<isa> {};

// Runs the int8 path on W and returns Y (tokens x N, dense).
std::vector<float> run_int8(const packed_matrix& w, const std::vector<float>& x, int64_t tokens) {
  std::vector<float> y(static_cast<size_t>(tokens * w.rows()), kSentinel);
  const status st = ternary::gemm(w, x.data(), tokens, w.cols(), y.data(), w.rows());
  EXPECT_EQ(st, status::ok) << ternary::last_error_message();
  return y;
}

TEST_P(DispatchIsa, SameTritsInEveryFormatGiveIdenticalInt8Results) {
  ScopedIsa guard(GetParam());
  ASSERT_EQ(guard.result(), status::ok);
  Rng rng(8000);
  for (int64_t k : {int64_t{5}, int64_t{256}, int64_t{321}, int64_t{1283}}) {
    for (const Gran& gr : kGrans) {
      // Sherry-valid trits can be stored in all three formats.
      matrix_desc d =
          make_desc(format::sherry, 11, k, gr.g, gr.group_size, scale_type::f16, 2, true);
      TritCase c = make_case(rng, d);
      const auto x = random_floats(rng, static_cast<size_t>(3 * k), -2.0f, 2.0f);
      std::vector<std::vector<float>> ys;
      for (format f : kFormats) {
        c.d.fmt = f;
        packed_matrix w;
        ASSERT_EQ(pack_case(c, &w), status::ok) << ternary::last_error_message();
        ys.push_back(run_int8(w, x, 3));
      }
      EXPECT_EQ(std::memcmp(ys[0].data(), ys[1].data(), ys[0].size() * 4), 0)
          << "bits2 vs base3, " << describe(c.d) << " isa " << ternary::isa_name(GetParam());
      EXPECT_EQ(std::memcmp(ys[0].data(), ys[2].data(), ys[0].size() * 4), 0)
          << "bits2 vs sherry, " << describe(c.d) << " isa " << ternary::isa_name(GetParam());
    }
  }
}

TEST_P(DispatchIsa, NegatedWeightsNegateTheInt8Result) {
  ScopedIsa guard(GetParam());
  ASSERT_EQ(guard.result(), status::ok);
  Rng rng(8100);
  for (format f : kFormats) {
    for (int64_t k : {int64_t{1}, int64_t{300}, int64_t{777}}) {
      const matrix_desc d =
          make_desc(f, 9, k, scale_granularity::per_group, 64, scale_type::f32, 2, false);
      TritCase c = make_case(rng, d);
      packed_matrix w, neg;
      ASSERT_EQ(pack_case(c, &w), status::ok);
      for (auto& plane : c.trits) {
        for (auto& t : plane) {
          if (t != kTritGapFill) t = static_cast<int8_t>(-t);
        }
      }
      ASSERT_EQ(pack_case(c, &neg), status::ok);
      const auto x = random_floats(rng, static_cast<size_t>(4 * k), -1.0f, 1.0f);
      const auto y = run_int8(w, x, 4);
      const auto yn = run_int8(neg, x, 4);
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_EQ(yn[i], -y[i]) << describe(d) << " index " << i << " isa "
                                << ternary::isa_name(GetParam());
      }
    }
  }
}

TEST_P(DispatchIsa, ZeroWeightsGiveZeroOrBias) {
  ScopedIsa guard(GetParam());
  ASSERT_EQ(guard.result(), status::ok);
  Rng rng(8200);
  for (format f : {format::bits2, format::base3}) {
    const matrix_desc d =
        make_desc(f, 5, 333, scale_granularity::per_row, 0, scale_type::f32, 1, true);
    TritCase c = make_case(rng, d);
    for (auto& t : c.trits[0]) t = t == kTritGapFill ? t : int8_t{0};
    packed_matrix w;
    ASSERT_EQ(pack_case(c, &w), status::ok);
    const auto x = random_floats(rng, static_cast<size_t>(2 * 333), -5.0f, 5.0f);
    for (act_path path : {act_path::int8, act_path::f32}) {
      gemm_options opt;
      opt.path = path;
      std::vector<float> y(10, kSentinel);
      ASSERT_EQ(ternary::gemm(w, x.data(), 2, 333, y.data(), 5, opt), status::ok);
      for (size_t i = 0; i < y.size(); ++i) {
        EXPECT_EQ(y[i], c.bias[i % 5]) << ternary::format_name(f) << " index " << i;
      }
    }
  }
}

TEST_P(DispatchIsa, AccumulatorsStayExactAtMaxCols) {
  // K = max_cols with every activation at -128 or 127 and every trit +1 (Sherry: 0,+1,+1,+1):
  // the offset-form sums sit at the documented int32 bounds. Expected values in closed form.
  ScopedIsa guard(GetParam());
  ASSERT_EQ(guard.result(), status::ok);
  const int64_t k = ternary::max_cols;
  std::vector<int8_t> xq(static_cast<size_t>(2 * k));
  std::fill(xq.begin(), xq.begin() + k, int8_t{-128});
  std::fill(xq.begin() + k, xq.end(), int8_t{127});
  const float s[2] = {1.0f, 1.0f};
  const activations a = activations::int8(xq.data(), s, 2, k, k);
  for (format f : kFormats) {
    matrix_desc d = make_desc(f, 2, k, scale_granularity::per_tensor);
    packed_matrix w;
    ASSERT_EQ(packed_matrix::create(d, &w), status::ok);
    // Row 0: all +1 (Sherry: the create() pattern 0,+1,+1,+1); row 1: all -1 (Sherry 0,-1,-1,-1).
    const int64_t rb = ternary::row_bytes(f, k);
    const int64_t bt = ternary::block_trits(f), bb = ternary::block_bytes(f);
    std::vector<int8_t> blk(static_cast<size_t>(bt));
    std::vector<uint8_t> packed(static_cast<size_t>(bb));
    for (int r = 0; r < 2; ++r) {
      for (int64_t b = 0; b < rb / bb; ++b) {
        for (int64_t i = 0; i < bt; ++i) {
          const bool real = b * bt + i < k;  // base3 pads 2^23 up to whole 320-trit blocks
          blk[static_cast<size_t>(i)] = !real || (f == format::sherry && i % 4 == 0)
                                            ? int8_t{0}
                                            : static_cast<int8_t>(r == 0 ? 1 : -1);
        }
        if (f == format::bits2) ternary::format_bits2::encode_block(blk.data(), packed.data());
        if (f == format::base3) ternary::format_base3::encode_block(blk.data(), packed.data());
        if (f == format::sherry) {
          ASSERT_EQ(ternary::format_sherry::encode_block(blk.data(), packed.data()), -1);
        }
        std::memcpy(w.mutable_weights(0) + r * rb + b * bb, packed.data(), packed.size());
      }
    }
    *static_cast<float*>(w.mutable_scales(0)) = 1.0f;
    ASSERT_EQ(w.check_values(), status::ok);
    std::vector<float> y(4, kSentinel);
    ASSERT_EQ(ternary::gemm(w, a, y.data(), 2), status::ok) << ternary::last_error_message();
    const double nonzero =
        f == format::sherry ? 0.75 * static_cast<double>(k) : static_cast<double>(k);
    const float want[4] = {static_cast<float>(-128 * nonzero), static_cast<float>(128 * nonzero),
                           static_cast<float>(127 * nonzero), static_cast<float>(-127 * nonzero)};
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(y[static_cast<size_t>(i)], want[i])
          << ternary::format_name(f) << " isa " << ternary::isa_name(GetParam()) << " token "
          << i / 2 << " row " << i % 2;
    }
  }
}

TEST_P(DispatchIsa, QuantizeActivationsMatchesReferenceOnTiesAndExtremes) {
  ScopedIsa guard(GetParam());
  ASSERT_EQ(guard.result(), status::ok);
  Rng rng(8300);
  std::vector<std::vector<float>> rows;
  {  // ties: max 127 gives s = 1, x = j + 0.5
    std::vector<float> r = {127.0f};
    for (int j = -127; j < 127; ++j) r.push_back(static_cast<float>(j) + 0.5f);
    rows.push_back(r);
  }
  {  // s = 2 ties
    std::vector<float> r = {63.5f};
    for (int j = -250; j < 250; ++j) r.push_back(static_cast<float>(j) * 0.25f);
    rows.push_back(r);
  }
  rows.push_back(std::vector<float>(301, 0.0f));                        // all zero
  rows.push_back({1e-6f, -5e-6f, 3.3e-6f, 9.99e-6f, 0.0f, -0.0f});      // below the floor
  rows.push_back({std::numeric_limits<float>::max(), -1.0f, 3e37f});    // huge
  rows.push_back({std::numeric_limits<float>::denorm_min(), -1e-40f});  // subnormal
  for (int64_t k : {int64_t{1}, int64_t{15}, int64_t{16}, int64_t{17}, int64_t{63}, int64_t{64},
                    int64_t{65}, int64_t{4099}}) {
    rows.push_back(random_floats(rng, static_cast<size_t>(k), -3.0f, 3.0f));
  }
  for (const auto& r : rows) {
    const int64_t k = static_cast<int64_t>(r.size());
    for (size_t off = 0; off < 4; ++off) {
      OffsetBuffer<float> x(static_cast<size_t>(k), off, 0.0f);
      std::copy(r.begin(), r.end(), x.data());
      OffsetBuffer<int8_t> q(static_cast<size_t>(k + 1), 3 - off, int8_t{0x7b});
      float s = 0.0f;
      ASSERT_EQ(ternary::quantize_activations(x.data(), 1, k, k, q.data(), k, &s), status::ok)
          << ternary::last_error_message();
      std::vector<int8_t> want(static_cast<size_t>(k));
      const float s_want = ternary::ref::quantize_row(r.data(), k, want.data());
      ASSERT_TRUE(same_bits(s, s_want)) << "K " << k << " isa " << ternary::isa_name(GetParam())
                                        << ": scale " << s << " vs " << s_want;
      for (int64_t i = 0; i < k; ++i) {
        ASSERT_EQ(q[static_cast<size_t>(i)], want[static_cast<size_t>(i)])
            << "K " << k << " index " << i << " x " << r[static_cast<size_t>(i)] << " isa "
            << ternary::isa_name(GetParam()) << " offset " << off;
      }
      ASSERT_EQ(q[static_cast<size_t>(k)], 0x7b) << "wrote past K";
    }
  }
}

TEST_P(DispatchIsa, KernelNameNamesTheIsa) {
  ScopedIsa guard(GetParam());
  ASSERT_EQ(guard.result(), status::ok);
  Rng rng(8400);
  for (format f : kFormats) {
    for (const Gran& gr : kGrans) {
      packed_matrix w;
      ASSERT_EQ(pack_case(make_case(rng, make_desc(f, 2, 130, gr.g, gr.group_size)), &w),
                status::ok);
      for (ternary::act_type a : {ternary::act_type::int8, ternary::act_type::f32}) {
        const char* name = ternary::kernel_name(w, a);
        ASSERT_NE(name, nullptr);
        EXPECT_NE(std::string(name).find(ternary::isa_name(GetParam())), std::string::npos)
            << "kernel_name \"" << name << "\" for " << ternary::format_name(f);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Available, DispatchIsa, testing::ValuesIn(available_isas()),
                         [](const testing::TestParamInfo<isa>& info) {
                           return std::string(ternary::isa_name(info.param));
                         });

// ---------------------------------------------------------------- ISA selection

int isa_rank(isa i) { return i == isa::avx512 ? 2 : (i == isa::avx2 || i == isa::neon) ? 1 : 0; }

TEST(IsaSelection, ReportsAvailabilityAndHonorsExpectedList) {
  std::string available, missing;
  for (isa i : all_isas()) {
    (ternary::isa_available(i) ? available : missing) += std::string(" ") + ternary::isa_name(i);
  }
  std::printf("[ INFO     ] ISAs tested:%s; not available on this build/CPU:%s\n",
              available.c_str(), missing.empty() ? " (none)" : missing.c_str());
  RecordProperty("isas_tested", available);
  RecordProperty("isas_not_available", missing);
  EXPECT_TRUE(ternary::isa_available(isa::scalar));

  // CI lists the ISAs its runner must exercise, so a build that lost a kernel cannot pass by
  // silently testing fewer: TERNARY_EXPECT_ISAS="scalar,avx2,avx512".
  if (const char* expect = std::getenv("TERNARY_EXPECT_ISAS")) {
    std::string list = expect;
    for (char& ch : list) {
      if (ch == ',' || ch == ';') ch = ' ';
    }
    std::istringstream in(list);
    std::string name;
    while (in >> name) {
      isa i;
      ASSERT_EQ(ternary::parse_isa(name.c_str(), &i), status::ok)
          << "TERNARY_EXPECT_ISAS names unknown ISA '" << name << "'";
      EXPECT_TRUE(ternary::isa_available(i))
          << "TERNARY_EXPECT_ISAS requires " << name << " but it is not available";
    }
  }
}

TEST(IsaSelection, AvailabilityIsConsistentWithTheCpu) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  EXPECT_FALSE(ternary::isa_available(isa::neon));
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    EXPECT_FALSE(ternary::isa_available(isa::avx2)) << "CPU lacks AVX2/FMA";
  }
  if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))) {
    EXPECT_FALSE(ternary::isa_available(isa::avx512)) << "CPU lacks AVX-512 F/BW/VL/VNNI";
  }
#elif defined(__aarch64__)
  EXPECT_FALSE(ternary::isa_available(isa::avx2));
  EXPECT_FALSE(ternary::isa_available(isa::avx512));
#endif
  const isa best = ternary::best_isa();
  EXPECT_TRUE(ternary::isa_available(best));
  for (isa i : available_isas()) {
    EXPECT_LE(isa_rank(i), isa_rank(best))
        << ternary::isa_name(i) << " beats best_isa() " << ternary::isa_name(best);
  }
}

TEST(IsaSelection, NamesParseAndRoundTrip) {
  for (isa i : all_isas()) {
    isa back = isa::scalar;
    ASSERT_EQ(ternary::parse_isa(ternary::isa_name(i), &back), status::ok);
    EXPECT_EQ(back, i);
  }
  EXPECT_STREQ(ternary::isa_name(isa::scalar), "scalar");
  EXPECT_STREQ(ternary::isa_name(isa::avx2), "avx2");
  EXPECT_STREQ(ternary::isa_name(isa::avx512), "avx512");
  EXPECT_STREQ(ternary::isa_name(isa::neon), "neon");
  isa out = isa::avx2;
  EXPECT_TERNARY_ERROR(ternary::parse_isa("avx1024", &out), status::invalid_argument, "avx1024");
  EXPECT_EQ(out, isa::avx2) << "failed parse changed the output";
  EXPECT_NE(ternary::isa_name(static_cast<isa>(99)), nullptr);
}

TEST(IsaSelection, SetIsaOfUnavailableFailsAndChangesNothing) {
  ternary::clear_isa_override();
  ASSERT_EQ(ternary::set_isa(isa::scalar), status::ok);
  EXPECT_EQ(ternary::active_isa(), isa::scalar);
  for (isa i : all_isas()) {
    if (ternary::isa_available(i)) continue;
    EXPECT_TERNARY_ERROR(ternary::set_isa(i), status::unsupported, ternary::isa_name(i));
    EXPECT_EQ(ternary::active_isa(), isa::scalar) << "failed set_isa changed the active ISA";
  }
  for (isa i : available_isas()) {
    ASSERT_EQ(ternary::set_isa(i), status::ok);
    EXPECT_EQ(ternary::active_isa(), i);
  }
  ternary::clear_isa_override();
}

// TERNARY_ISA is read once per process, so ctest runs this test again in processes with the
// variable set (see CMakeLists.txt); without it, the default selection is checked.
TEST(IsaEnv, ActiveIsaFollowsTernaryIsaVariable) {
  ternary::clear_isa_override();
  Rng rng(8500);
  packed_matrix w;
  ASSERT_EQ(
      pack_case(make_case(rng, make_desc(format::bits2, 3, 70, scale_granularity::per_row)), &w),
      status::ok);
  const std::vector<float> x(70, 0.5f);
  std::vector<float> y(3, 0.0f);
  const char* env = std::getenv("TERNARY_ISA");
  if (env == nullptr || *env == '\0') {
    EXPECT_EQ(ternary::active_isa(), ternary::best_isa());
    EXPECT_EQ(ternary::gemv(w, x.data(), y.data()), status::ok);
    return;
  }
  isa forced;
  if (ternary::parse_isa(env, &forced) != status::ok) {
    GTEST_SKIP() << "TERNARY_ISA=" << env << " is not an ISA name; the headers do not say what "
                 << "an unparsable value does";
  }
  if (ternary::isa_available(forced)) {
    EXPECT_EQ(ternary::active_isa(), forced);
    EXPECT_NE(std::string(ternary::kernel_name(w, ternary::act_type::int8)).find(env),
              std::string::npos);
    EXPECT_EQ(ternary::gemv(w, x.data(), y.data()), status::ok);
    return;
  }
  // Forced but unusable: active_isa() reports scalar and compute calls fail, naming the ISA.
  EXPECT_EQ(ternary::active_isa(), isa::scalar);
  EXPECT_TERNARY_ERROR(ternary::gemv(w, x.data(), y.data()), status::unsupported, env);
  EXPECT_TERNARY_ERROR(ternary::gemm(w, x.data(), 1, 70, y.data(), 3), status::unsupported, env);
  const activations xf = activations::f32(x.data(), 1, 70, 70);
  EXPECT_TERNARY_ERROR(ternary::gemm_rows(w, xf, y.data(), 3, 0, 3), status::unsupported, env);
  EXPECT_EQ(ternary::can_implement(w, xf, y.data(), 3), status::unsupported);
  {
    ScopedIsa guard(isa::scalar);  // set_isa() overrides the variable
    ASSERT_EQ(guard.result(), status::ok);
    EXPECT_EQ(ternary::gemv(w, x.data(), y.data()), status::ok) << ternary::last_error_message();
  }
  EXPECT_EQ(ternary::gemv(w, x.data(), y.data()), status::unsupported)
      << "clear_isa_override() did not restore the TERNARY_ISA choice";
}

}  // namespace
