// SPDX-License-Identifier: Apache-2.0
// Activation-aware ternarization: the `calibration` mode of ternary::quant::ternarize
// (docs/QUANT_AWARE.md). Minimizes the output error ||X (W - W-hat)^T||_F over calibration
// activations X instead of the weight error: weight-only initialization, least-squares scale
// refit under the Gram metric H = X^T X, and a GPTQ-style error-feedback pass (Frantar et al.,
// 2022), alternated while the output error drops; the weight-only result is kept when nothing
// beats it.
#include "quant/aware.hpp"

#include <cinttypes>
#include <cmath>
#include <limits>
#include <new>
#include <thread>
#include <utility>

#include "detail/error.hpp"
#include "quant/aware_internal.hpp"

namespace ternary {
namespace quant {
namespace detail {

namespace {

using ternary::detail::fail;
namespace aw = aware;

// Error-feedback rounds at most (each: GPTQ pass, then refit); stops earlier once a round
// improves the output error by less than min_gain (relative).
constexpr int max_rounds = 4;
constexpr double min_gain = 1e-3;
// Visit the columns of the error-feedback pass in decreasing H_ii ("act order"; Sherry: whole
// quads by decreasing sum of H_ii). Off: index order. docs/QUANT_AWARE.md has the measured gain.
constexpr bool act_order = true;

status validate_calibration(const calibration& c, int64_t cols) {
  if (!c.x && !c.gram)
    return fail(status::null_pointer,
                "ternarize: calibration has neither activations (x) nor a Gram matrix (gram)");
  if (c.x && c.gram)
    return fail(status::invalid_argument,
                "ternarize: calibration gives both activations (x) and a Gram matrix (gram); "
                "give exactly one");
  if (!std::isfinite(c.damp) || c.damp < 0)
    return fail(status::invalid_argument, "ternarize: calibration damp=%g must be finite and >= 0",
                c.damp);
  if (c.x) {
    if (c.tokens < 1)
      return fail(status::invalid_argument, "ternarize: calibration tokens=%lld must be >= 1",
                  static_cast<long long>(c.tokens));
    if (c.tokens > max_rows)
      return fail(status::size_overflow, "ternarize: calibration tokens=%lld exceeds %lld",
                  static_cast<long long>(c.tokens), static_cast<long long>(max_rows));
    if (c.ld_x < cols)
      return fail(status::buffer_too_small,
                  "ternarize: calibration ld_x=%lld is less than cols=%lld",
                  static_cast<long long>(c.ld_x), static_cast<long long>(cols));
    if (c.ld_x > std::numeric_limits<int64_t>::max() / c.tokens)
      return fail(status::size_overflow, "ternarize: calibration tokens=%lld x ld_x=%lld overflows",
                  static_cast<long long>(c.tokens), static_cast<long long>(c.ld_x));
    for (int64_t t = 0; t < c.tokens; ++t) {
      const float* row = c.x + t * c.ld_x;
      for (int64_t j = 0; j < cols; ++j) {
        if (!std::isfinite(row[j]))
          return fail(status::invalid_scale,
                      "ternarize: calibration activation x[%lld][%lld] is %g (not finite)",
                      static_cast<long long>(t), static_cast<long long>(j),
                      static_cast<double>(row[j]));
      }
    }
    return status::ok;
  }
  if (c.ld_gram < cols)
    return fail(status::buffer_too_small,
                "ternarize: calibration ld_gram=%lld is less than cols=%lld",
                static_cast<long long>(c.ld_gram), static_cast<long long>(cols));
  if (c.ld_gram > std::numeric_limits<int64_t>::max() / cols)
    return fail(status::size_overflow, "ternarize: calibration cols=%lld x ld_gram=%lld overflows",
                static_cast<long long>(cols), static_cast<long long>(c.ld_gram));
  for (int64_t i = 0; i < cols; ++i) {
    const float* row = c.gram + i * c.ld_gram;
    for (int64_t j = 0; j < cols; ++j) {
      if (!std::isfinite(row[j]))
        return fail(
            status::invalid_scale, "ternarize: calibration gram[%lld][%lld] is %g (not finite)",
            static_cast<long long>(i), static_cast<long long>(j), static_cast<double>(row[j]));
    }
  }
  for (int64_t i = 0; i < cols; ++i) {
    const float d = c.gram[i * c.ld_gram + i];
    if (d < 0)
      return fail(status::invalid_argument,
                  "ternarize: calibration gram[%lld][%lld]=%g is negative (not a Gram matrix)",
                  static_cast<long long>(i), static_cast<long long>(i), static_cast<double>(d));
  }
  // Symmetric up to rounding, and within the Cauchy-Schwarz bound |H_ij| <= sqrt(H_ii H_jj)
  // (a tolerance of 1e-3 of the bound).
  for (int64_t i = 0; i < cols; ++i) {
    const double di = c.gram[i * c.ld_gram + i];
    for (int64_t j = 0; j < i; ++j) {
      const double dj = c.gram[j * c.ld_gram + j];
      const double a = c.gram[i * c.ld_gram + j], b = c.gram[j * c.ld_gram + i];
      const double bound = std::sqrt(di * dj);
      if (std::fabs(a - b) > 1e-3 * bound)
        return fail(status::invalid_argument,
                    "ternarize: calibration gram is not symmetric: gram[%lld][%lld]=%g but "
                    "gram[%lld][%lld]=%g",
                    static_cast<long long>(i), static_cast<long long>(j), a,
                    static_cast<long long>(j), static_cast<long long>(i), b);
      if (std::fabs(a) > bound * (1 + 1e-3) || std::fabs(b) > bound * (1 + 1e-3))
        return fail(status::invalid_argument,
                    "ternarize: calibration gram[%lld][%lld]=%g exceeds sqrt(gram[i][i] * "
                    "gram[j][j])=%g (not positive semidefinite)",
                    static_cast<long long>(i), static_cast<long long>(j), a, bound);
    }
  }
  return status::ok;
}

aw::level_kind kind_of(method m) {
  switch (m) {
    case method::ttq:
    case method::ttq_optimal: return aw::level_kind::ttq;
    case method::ptqtp:
    case method::ptqtp_global: return aw::level_kind::two_plane;
    case method::sherry: return aw::level_kind::sherry;
    default: return aw::level_kind::symmetric;
  }
}

// Relative weight error ||W - W-hat||_F / ||W||_F, rows summed in order.
double weight_error(const aw::problem& p, const aw::state& s) {
  double num = 0, den = 0;
  for (int64_t r = 0; r < p.n; ++r) {
    double rn = 0, rd = 0;
    for (int64_t j = 0; j < p.k; ++j) {
      const float wv = p.w[r * p.k + j];
      const int64_t g = j / p.group;
      float v = 0.0f;
      for (int pl = 0; pl < p.planes; ++pl)
        v += static_cast<float>(s.trits[pl][static_cast<size_t>(r * p.k + j)]) *
             s.scales[pl][static_cast<size_t>(p.scale_index(r, g))];
      const double d = static_cast<double>(wv) - static_cast<double>(v);
      rn += d * d;
      rd += static_cast<double>(wv) * static_cast<double>(wv);
    }
    num += rn;
    den += rd;
  }
  return den > 0 ? std::sqrt(num / den) : 0.0;
}

status run(const float* w, int64_t rows, int64_t cols, int64_t ld, const options& opt,
           packed_matrix* out, stats* st) {
  if (!w) return fail(status::null_pointer, "ternarize: w is null");
  if (!out) return fail(status::null_pointer, "ternarize: out is null");
  const calibration& c = *opt.calib;
  status s = validate_calibration(c, cols);
  if (s != status::ok) return s;
  int threads = opt.threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // 1. Weight-only initialization: same method, format, granularity and scale type.
  options wo = opt;
  wo.calib = nullptr;
  packed_matrix init;
  stats ist{};
  s = ternarize(w, rows, cols, ld, wo, &init, &ist);
  if (s != status::ok) return s;

  // 2. The problem: W (non-finite entries as 0 in lenient mode), H0, U.
  aw::problem p;
  p.n = rows;
  p.k = cols;
  p.planes = init.planes();
  p.kind = kind_of(opt.algo);
  p.granularity = init.desc().granularity;
  p.group = p.granularity == scale_granularity::per_group ? init.desc().group_size : cols;
  p.gpr = (cols + p.group - 1) / p.group;
  p.dtype = init.desc().scale_dtype;
  p.threads = threads;
  if ((p.kind == aw::level_kind::sherry) != (init.fmt() == format::sherry) ||
      p.planes != (p.kind == aw::level_kind::ttq || p.kind == aw::level_kind::two_plane ? 2 : 1))
    return fail(status::internal_error,
                "ternarize: the weight-only result of %s has %d planes in format %s",
                method_name(opt.algo), p.planes, format_name(init.fmt()));
  std::vector<float> wc(static_cast<size_t>(rows * cols));
  std::vector<uint8_t> bad;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      const float v = w[r * ld + j];
      if (std::isfinite(v)) {
        wc[static_cast<size_t>(r * cols + j)] = v;
      } else {
        if (bad.empty()) bad.assign(static_cast<size_t>(rows * cols), 0);
        bad[static_cast<size_t>(r * cols + j)] = 1;
        wc[static_cast<size_t>(r * cols + j)] = 0.0f;
      }
    }
  }
  p.w = wc.data();
  p.bad = bad.empty() ? nullptr : bad.data();

  aw::metric m;
  m.k = cols;
  if (c.x) {
    aw::gram_from_activations(c.x, c.tokens, c.ld_x, cols, threads, &m.h0);
  } else {
    m.h0.resize(cols, cols);
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        const double a = c.gram[i * c.ld_gram + j], b = c.gram[j * c.ld_gram + i];
        const float v = static_cast<float>(0.5 * (a + b));
        m.h0(i, j) = v;
        m.h0(j, i) = v;
      }
  }
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < cols; ++j)
      if (!std::isfinite(m.h0(i, j)))
        return fail(status::invalid_scale,
                    "ternarize: the calibration Gram matrix overflows fp32 at [%lld][%lld]",
                    static_cast<long long>(i), static_cast<long long>(j));
  const aw::column_order order = !act_order ? aw::column_order::identity
                                 : p.kind == aw::level_kind::sherry
                                     ? aw::column_order::diagonal_quads
                                     : aw::column_order::diagonal;
  if (!aw::factorize(&m, c.damp, order, threads))
    return fail(status::invalid_argument,
                "ternarize: the damped calibration Gram matrix H + %g * mean(diag H) * I is not "
                "numerically positive definite (Cholesky factorization failed)%s",
                c.damp, c.damp > 0 ? "; increase calibration damp" : "; use calibration damp > 0");
  p.m = &m;
  aw::prepare(&p);

  // 3. The weight-only result as the starting state.
  aw::state s0;
  for (int pl = 0; pl < p.planes; ++pl) {
    s0.trits[pl].resize(static_cast<size_t>(rows * cols));
    s0.scales[pl].resize(static_cast<size_t>(p.scale_count()));
    s = init.unpack_trits(pl, s0.trits[pl].data(), cols);
    if (s == status::ok) s = init.unpack_scales(pl, s0.scales[pl].data());
    if (s != status::ok) return s;
  }
  if (p.kind == aw::level_kind::ttq) {
    // The TTQ levels assume plane 0 in {0,+1} and plane 1 in {0,-1}; anything else is refit and
    // compensated as a general two-plane result.
    for (size_t i = 0; i < s0.trits[0].size(); ++i)
      if (s0.trits[0][i] < 0 || s0.trits[1][i] > 0) {
        p.kind = aw::level_kind::two_plane;
        break;
      }
  }

  // 4. Refit, then error-feedback rounds; keep the candidate with the lowest output error.
  aw::state best = s0;
  bool best_is_init = true;
  aw::state cur = s0;
  aw::refit_result rr = aw::refit(p, &cur);
  double best_err = rr.before;
  if (rr.after < best_err) {
    best = cur;
    best_err = rr.after;
    best_is_init = false;
  }
  if (c.error_feedback) {
    aw::state src = best;
    for (int round = 0; round < max_rounds; ++round) {
      const double start = best_err;
      aw::state g = src;
      aw::error_feedback(p, &g);
      aw::state pre = g;
      rr = aw::refit(p, &g);
      if (rr.before < best_err) {
        best = std::move(pre);
        best_err = rr.before;
        best_is_init = false;
      }
      if (rr.after < best_err) {
        best = g;
        best_err = rr.after;
        best_is_init = false;
      }
      if (!(best_err < start * (1 - min_gain))) break;
      src = std::move(g);
    }
  }
  const double init_err2 = aw::output_error2(p, s0);
  double best_err2 = init_err2;
  if (!best_is_init) {
    best_err2 = aw::output_error2(p, best);
    if (!(best_err2 < init_err2)) {
      best_is_init = true;
      best_err2 = init_err2;
    }
  }
  const aw::state& fin = best_is_init ? s0 : best;

  // 5. Output and statistics.
  packed_matrix res;
  if (best_is_init) {
    res = std::move(init);
  } else {
    const int8_t* tp[2] = {fin.trits[0].data(), p.planes > 1 ? fin.trits[1].data() : nullptr};
    const float* sp[2] = {fin.scales[0].data(), p.planes > 1 ? fin.scales[1].data() : nullptr};
    s = packed_matrix::pack(init.desc(), tp, cols, sp, nullptr, &res);
    if (s != status::ok) return ternary::detail::with_context(s, "ternarize (activation-aware)");
  }
  if (st) {
    stats o = ist;
    o.rel_error = weight_error(p, fin);
    double whw = 0;
    for (double v : p.whw) whw += v;
    o.output_rel_error = whw > 0         ? std::sqrt(std::max(0.0, best_err2) / whw)
                         : best_err2 > 0 ? std::numeric_limits<double>::infinity()
                                         : 0.0;
    const double total = static_cast<double>(rows) * static_cast<double>(cols);
    o.zero_fraction[0] = o.zero_fraction[1] = 0;
    o.scale_min = std::numeric_limits<float>::infinity();
    o.scale_max = -std::numeric_limits<float>::infinity();
    for (int pl = 0; pl < p.planes; ++pl) {
      int64_t zeros = 0;
      for (int8_t t : fin.trits[pl]) zeros += t == 0;
      o.zero_fraction[pl] = static_cast<double>(zeros) / total;
      for (float v : fin.scales[pl]) {
        o.scale_min = std::min(o.scale_min, v);
        o.scale_max = std::max(o.scale_max, v);
      }
    }
    *st = o;
  }
  *out = std::move(res);
  return status::ok;
}

}  // namespace

status ternarize_aware(const float* w, int64_t rows, int64_t cols, int64_t ld, const options& opt,
                       packed_matrix* out, stats* st) noexcept {
  try {
    return run(w, rows, cols, ld, opt, out, st);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "ternarize: out of memory in the activation-aware mode");
  } catch (...) {
    return fail(status::internal_error,
                "ternarize: unexpected exception in the activation-aware mode");
  }
}

}  // namespace detail
}  // namespace quant
}  // namespace ternary
