// SPDX-License-Identifier: Apache-2.0
// ternary::quant::ternarize: validation, the unit/row driver, threading, statistics and packing
// (docs/QUANT.md). The per-unit solvers live in solvers.cpp and ptqtp.cpp.
//
// Flow: validate -> (activation-aware mode: hand over to detail::ternarize_aware) -> reject or
// count NaN/Inf -> solve every scale unit (rows split across threads; a per-tensor unit is
// solved once on the calling thread) -> assign codes and accumulate the error per row (threads
// again) -> reduce the per-row sums in row order -> pack. No step depends on how rows were
// split, so the bytes are the same for any thread count.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "detail/error.hpp"
#include "quant/aware.hpp"
#include "quant/solvers.hpp"

#include "ternary/quant.hpp"

namespace ternary {
namespace quant {

using ternary::detail::fail;

const char* method_name(method m) noexcept {
  switch (m) {
    case method::twn: return "twn";
    case method::optimal: return "optimal";
    case method::absmean: return "absmean";
    case method::ttq: return "ttq";
    case method::ttq_optimal: return "ttq_optimal";
    case method::ptqtp: return "ptqtp";
    case method::ptqtp_global: return "ptqtp_global";
    case method::sherry: return "sherry";
  }
  return "unknown";
}

bool parse_method(const char* name, method* out) noexcept {
  if (!name || !out) return false;
  static constexpr method all[] = {method::twn,          method::optimal,     method::absmean,
                                   method::ttq,          method::ttq_optimal, method::ptqtp,
                                   method::ptqtp_global, method::sherry};
  for (method m : all) {
    if (std::strcmp(name, method_name(m)) == 0) {
      *out = m;
      return true;
    }
  }
  return false;
}

int method_planes(method m) noexcept {
  switch (m) {
    case method::twn:
    case method::optimal:
    case method::absmean:
    case method::sherry: return 1;
    case method::ttq:
    case method::ttq_optimal:
    case method::ptqtp:
    case method::ptqtp_global: return 2;
  }
  return 0;
}

namespace {

using detail::code_rule;
using detail::scratch;
using detail::unit_solution;

constexpr double twn_default_factor = 0.7;
constexpr double ttq_default_factor = 0.05;

inline bool finite(float v) { return std::fabs(v) <= FLT_MAX; }

// Runs fn(begin, end) on contiguous row ranges covering [0, rows), one per thread; the calling
// thread takes the first range. Returns the first non-ok status in range order. Workers report
// only statuses (their thread-local messages are not the caller's), so the caller words the
// message of an out_of_memory or internal_error itself.
template <class Fn>
status parallel_rows(int threads, int64_t rows, Fn fn) noexcept {
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, rows));
  std::vector<status> result;
  std::vector<std::thread> pool;
  try {
    result.assign(static_cast<size_t>(parts), status::ok);
    pool.reserve(static_cast<size_t>(parts));
  } catch (...) {
    return status::out_of_memory;
  }
  auto run = [&](int64_t part) {
    const int64_t begin = rows * part / parts, end = rows * (part + 1) / parts;
    try {
      result[static_cast<size_t>(part)] = fn(begin, end);
    } catch (const std::bad_alloc&) {
      result[static_cast<size_t>(part)] = status::out_of_memory;
    } catch (...) {
      result[static_cast<size_t>(part)] = status::internal_error;
    }
  };
  int64_t spawned = 1;
  for (; spawned < parts; ++spawned) {
    try {
      pool.emplace_back(run, spawned);
    } catch (...) {
      break;  // no more threads: the calling thread runs the remaining ranges
    }
  }
  run(0);
  for (int64_t p = spawned; p < parts; ++p) run(p);
  for (std::thread& t : pool) t.join();
  for (status s : result)
    if (s != status::ok) return s;
  return status::ok;
}

status worker_failure(status s) noexcept {
  if (s == status::out_of_memory) return fail(s, "ternarize: out of memory");
  return fail(s, "ternarize: internal error in a worker thread");
}

bool valid_method(method m) { return method_planes(m) != 0; }

// The validated request.
struct job {
  const float* w = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
  options opt;
  double factor = 0;   // twn/ttq threshold factor (defaults applied)
  int64_t group = 0;   // columns per unit inside a row (cols unless per_group)
  int64_t groups = 1;  // units per row (1 unless per_group)
  int planes = 1;
  int threads = 1;
  int64_t unit_count = 1;  // scales per plane
  std::vector<int8_t> trits[2];
  std::vector<unit_solution> units;

  int64_t unit_index(int64_t r, int64_t g) const {
    switch (opt.granularity) {
      case scale_granularity::per_tensor: return 0;
      case scale_granularity::per_row: return r;
      case scale_granularity::per_group: return r * groups + g;
    }
    return 0;
  }
  const float* row(int64_t r) const { return w + r * ld; }
  int8_t* trit_row(int p, int64_t r) { return trits[p].data() + r * cols; }
};

status validate_common(const float* w, int64_t rows, int64_t cols, int64_t ld, const options& opt,
                       packed_matrix* out, double* factor) noexcept {
  if (!w) return fail(status::null_pointer, "ternarize: w is null");
  if (!out) return fail(status::null_pointer, "ternarize: out is null");
  if (rows <= 0 || cols <= 0)
    return fail(status::invalid_argument,
                "ternarize: matrix dimensions must be positive, got rows=%lld cols=%lld",
                static_cast<long long>(rows), static_cast<long long>(cols));
  if (ld < cols)
    return fail(status::buffer_too_small,
                "ternarize: leading dimension ld=%lld is less than cols=%lld",
                static_cast<long long>(ld), static_cast<long long>(cols));
  if (rows > max_rows || cols > max_cols)
    return fail(status::size_overflow,
                "ternarize: %lld x %lld exceeds the largest matrix (%lld rows, %lld columns)",
                static_cast<long long>(rows), static_cast<long long>(cols),
                static_cast<long long>(max_rows), static_cast<long long>(max_cols));
  if (rows > 1 && ld > (std::numeric_limits<int64_t>::max() - cols) / (rows - 1))
    return fail(status::size_overflow,
                "ternarize: rows=%lld with leading dimension %lld overflows the index range",
                static_cast<long long>(rows), static_cast<long long>(ld));
  if (!valid_method(opt.algo))
    return fail(status::invalid_argument, "ternarize: unknown method id %u",
                static_cast<unsigned>(opt.algo));
  if (!is_valid(opt.fmt))
    return fail(status::invalid_argument, "ternarize: unknown format id %u",
                static_cast<unsigned>(opt.fmt));
  if (!is_valid(opt.granularity))
    return fail(status::invalid_argument, "ternarize: unknown scale granularity id %u",
                static_cast<unsigned>(opt.granularity));
  if (!is_valid(opt.scale_dtype))
    return fail(status::invalid_argument, "ternarize: unknown scale type id %u",
                static_cast<unsigned>(opt.scale_dtype));
  if (opt.granularity == scale_granularity::per_group) {
    if (opt.group_size <= 0 || opt.group_size % chunk_trits != 0)
      return fail(status::invalid_argument,
                  "ternarize: group_size must be a positive multiple of %lld for per_group "
                  "scales, got %lld",
                  static_cast<long long>(chunk_trits), static_cast<long long>(opt.group_size));
  } else if (opt.group_size != 0) {
    return fail(status::invalid_argument,
                "ternarize: group_size=%lld given with %s scales (must be 0)",
                static_cast<long long>(opt.group_size), granularity_name(opt.granularity));
  }
  const double f = opt.threshold_factor;
  if (!std::isfinite(f) || f < 0)
    return fail(status::invalid_argument,
                "ternarize: threshold_factor must be 0 (the method's default) or a positive "
                "finite value, got %g",
                f);
  *factor = f;
  if (opt.algo == method::twn) {
    *factor = f == 0 ? twn_default_factor : f;
    if (*factor > 10)
      return fail(status::invalid_argument,
                  "ternarize: twn threshold_factor (a fraction of mean|w|) must be in (0, 10], "
                  "got %g",
                  f);
  } else if (opt.algo == method::ttq) {
    *factor = f == 0 ? ttq_default_factor : f;
    if (*factor >= 1)
      return fail(status::invalid_argument,
                  "ternarize: ttq threshold_factor (a fraction of max|w|) must be in (0, 1), got "
                  "%g",
                  f);
  }
  if (opt.max_iterations < 1)
    return fail(status::invalid_argument, "ternarize: max_iterations must be at least 1, got %d",
                opt.max_iterations);
  if (!std::isfinite(opt.tolerance) || opt.tolerance < 0)
    return fail(status::invalid_argument,
                "ternarize: tolerance must be finite and nonnegative, got %g", opt.tolerance);
  if (opt.threads < 0)
    return fail(status::invalid_argument, "ternarize: threads must be >= 0, got %d", opt.threads);
  matrix_desc d;
  d.fmt = opt.fmt;
  d.rows = rows;
  d.cols = cols;
  d.granularity = opt.granularity;
  d.group_size = opt.group_size;
  d.scale_dtype = opt.scale_dtype;
  d.planes = method_planes(opt.algo);
  size_t bytes = 0;
  const status s = storage_size(d, &bytes);
  if (s != status::ok) return ternary::detail::with_context(s, "ternarize");
  return status::ok;
}

// Copies n weights, NaN/Inf replaced by 0; returns the count of finite ones.
int64_t copy_finite(const float* src, int64_t n, float* dst) {
  int64_t valid = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool ok = finite(src[i]);
    dst[i] = ok ? src[i] : 0.0f;
    valid += ok ? 1 : 0;
  }
  return valid;
}

void solve_unit(const job& j, const float* x, int64_t n, int64_t n_valid, scratch& s,
                unit_solution* u) {
  const options& o = j.opt;
  switch (o.algo) {
    case method::twn: detail::solve_twn(x, n, n_valid, j.factor, u); break;
    case method::optimal: detail::solve_optimal(x, n, s, u); break;
    case method::absmean: detail::solve_absmean(x, n, n_valid, o.refit_scale, u); break;
    case method::ttq: detail::solve_ttq(x, n, j.factor, u); break;
    case method::ttq_optimal: detail::solve_ttq_optimal(x, n, s, u); break;
    case method::ptqtp:
    case method::ptqtp_global:
      detail::solve_ptqtp(x, n, n_valid, o.algo == method::ptqtp_global, o.max_iterations,
                          o.tolerance, s, u);
      break;
    case method::sherry: break;  // solved by solve_sherry
  }
  detail::finalize_unit(o.algo, o.scale_dtype == scale_type::f16, o.refit_scale, u);
}

// Scales of every unit for the methods with a code rule.
status solve_rule_units(job& j) {
  const bool per_tensor = j.opt.granularity == scale_granularity::per_tensor;
  if (per_tensor) {
    scratch s;
    s.values.resize(static_cast<size_t>(j.rows * j.cols));
    int64_t valid = 0;
    for (int64_t r = 0; r < j.rows; ++r)
      valid += copy_finite(j.row(r), j.cols, s.values.data() + r * j.cols);
    solve_unit(j, s.values.data(), j.rows * j.cols, valid, s, &j.units[0]);
    return status::ok;
  }
  return parallel_rows(j.threads, j.rows, [&j](int64_t begin, int64_t end) {
    scratch s;
    s.values.resize(static_cast<size_t>(std::min(j.group, j.cols)));
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t g = 0; g < j.groups; ++g) {
        const int64_t c0 = g * j.group, n = std::min(j.group, j.cols - c0);
        const int64_t valid = copy_finite(j.row(r) + c0, n, s.values.data());
        solve_unit(j, s.values.data(), n, valid, s,
                   &j.units[static_cast<size_t>(j.unit_index(r, g))]);
      }
    }
    return status::ok;
  });
}

// Sherry 3:4 (Sparse-AbsMean, Sherry paper Eq. 4/5): in each quad of 4 columns the zero goes to
// a padded lane if the quad is cut by K, else to a NaN/Inf lane (lenient mode), else to the
// smallest |w| (lowest index on ties); the other lanes keep sign(w) (an exact 0 or a NaN/Inf
// lane kept packs as +1). alpha = mean |w| over the kept real, finite lanes: the exact L2
// optimum, since the zero choice does not depend on alpha.
status solve_sherry(job& j) {
  const bool per_tensor = j.opt.granularity == scale_granularity::per_tensor;
  const int64_t partials = per_tensor ? j.rows : j.unit_count;
  std::vector<double> sum(static_cast<size_t>(partials), 0.0);
  std::vector<int64_t> count(static_cast<size_t>(partials), 0);
  const status st = parallel_rows(j.threads, j.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* x = j.row(r);
      int8_t* t = j.trit_row(0, r);
      for (int64_t c0 = 0; c0 < j.cols; c0 += 4) {
        const int real = static_cast<int>(std::min<int64_t>(4, j.cols - c0));
        int zero = real;  // a padded lane when the quad is cut by K
        if (real == 4) {
          float best = std::numeric_limits<float>::infinity();
          for (int l = 0; l < 4; ++l) {
            if (!finite(x[c0 + l])) {
              zero = l;
              break;
            }
            const float a = std::fabs(x[c0 + l]);
            if (a < best) {
              best = a;
              zero = l;
            }
          }
        }
        const int64_t pi = per_tensor ? r : j.unit_index(r, c0 / j.group);
        double s = 0;
        int64_t c = 0;
        for (int l = 0; l < real; ++l) {
          const float v = x[c0 + l];
          if (l == zero) {
            t[c0 + l] = 0;
            continue;
          }
          t[c0 + l] = v < 0 ? int8_t{-1} : int8_t{1};
          if (finite(v)) {
            s += std::fabs(v);
            ++c;
          }
        }
        sum[static_cast<size_t>(pi)] += s;
        count[static_cast<size_t>(pi)] += c;
      }
    }
    return status::ok;
  });
  if (st != status::ok) return st;
  auto finish = [&j](double s, int64_t c, unit_solution* u) {
    *u = unit_solution{};
    u->rule = code_rule::fixed;
    if (c > 0 && s > 0) u->scale[0] = static_cast<float>(s / static_cast<double>(c));
    detail::finalize_unit(method::sherry, j.opt.scale_dtype == scale_type::f16, false, u);
  };
  if (per_tensor) {
    double s = 0;
    int64_t c = 0;
    for (int64_t r = 0; r < j.rows; ++r) {
      s += sum[static_cast<size_t>(r)];
      c += count[static_cast<size_t>(r)];
    }
    finish(s, c, &j.units[0]);
  } else {
    for (int64_t u = 0; u < j.unit_count; ++u)
      finish(sum[static_cast<size_t>(u)], count[static_cast<size_t>(u)],
             &j.units[static_cast<size_t>(u)]);
  }
  return status::ok;
}

// Per-row error sums and zero counts.
struct row_stats {
  double err = 0;
  double ref = 0;
  int64_t zeros[2] = {0, 0};
};

// Dequantized value exactly as packed_matrix::dequantize computes it.
inline float dequant(int8_t t0, float s0, const int8_t* t1, int64_t k, float s1) {
  float v = 0.0f;
  v += static_cast<float>(t0) * s0;
  if (t1) v += static_cast<float>(t1[k]) * s1;
  return v;
}

// Squared-error terms of one weight; NaN/Inf weights count as 0.
inline void accumulate(float w, float w_hat, row_stats* rs) {
  const double x = finite(w) ? static_cast<double>(w) : 0.0;
  const double d = x - static_cast<double>(w_hat);
  rs->err += d * d;
  rs->ref += x * x;
}

double relative(double err, double ref) { return ref > 0 ? std::sqrt(err / ref) : 0.0; }

}  // namespace

status ternarize(const float* w, int64_t rows, int64_t cols, int64_t ld, const options& opt,
                 packed_matrix* out, stats* st) noexcept {
  double factor = 0;
  status s = validate_common(w, rows, cols, ld, opt, out, &factor);
  if (s != status::ok) return s;
  if (opt.calib != nullptr) return detail::ternarize_aware(w, rows, cols, ld, opt, out, st);

  try {
    job j;
    j.w = w;
    j.rows = rows;
    j.cols = cols;
    j.ld = ld;
    j.opt = opt;
    j.factor = factor;
    j.planes = method_planes(opt.algo);
    j.group = opt.granularity == scale_granularity::per_group ? opt.group_size : cols;
    j.groups = (cols + j.group - 1) / j.group;
    j.unit_count = scale_count(opt.granularity, rows, j.groups);
    int threads = opt.threads;
    if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    j.threads = threads;

    // NaN/Inf: an error naming the first one, or (lenient) counted and treated as 0.
    int64_t nonfinite = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = j.row(r);
      for (int64_t k = 0; k < cols; ++k) {
        if (finite(x[k])) continue;
        if (!opt.lenient_nonfinite)
          return fail(status::invalid_scale,
                      "ternarize: weight at row %lld col %lld is %g; NaN/Inf weights are "
                      "rejected unless options::lenient_nonfinite is set",
                      static_cast<long long>(r), static_cast<long long>(k),
                      static_cast<double>(x[k]));
        ++nonfinite;
      }
    }

    for (int p = 0; p < j.planes; ++p) j.trits[p].resize(static_cast<size_t>(rows * cols));
    j.units.resize(static_cast<size_t>(j.unit_count));

    s = opt.algo == method::sherry ? solve_sherry(j) : solve_rule_units(j);
    if (s != status::ok) return worker_failure(s);

    for (int64_t u = 0; u < j.unit_count; ++u) {
      for (int p = 0; p < j.planes; ++p) {
        const float v = j.units[static_cast<size_t>(u)].scale[p];
        if (!std::isfinite(v))
          return fail(status::invalid_scale,
                      "ternarize: scale %lld of plane %d is not finite after rounding to %s "
                      "(weights too large for the scale type)",
                      static_cast<long long>(u), p, scale_type_name(opt.scale_dtype));
      }
    }

    // Codes (rule methods) and the per-row error terms.
    std::vector<row_stats> per_row(static_cast<size_t>(rows));
    s = parallel_rows(threads, rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* x = j.row(r);
        int8_t* t0 = j.trit_row(0, r);
        int8_t* t1 = j.planes > 1 ? j.trit_row(1, r) : nullptr;
        row_stats rs;
        for (int64_t g = 0; g < j.groups; ++g) {
          const int64_t c0 = g * j.group, n = std::min(j.group, cols - c0);
          const unit_solution& u = j.units[static_cast<size_t>(j.unit_index(r, g))];
          detail::assign_codes(u, x + c0, n, t0 + c0, t1 ? t1 + c0 : nullptr);
          for (int64_t k = c0; k < c0 + n; ++k)
            accumulate(x[k], dequant(t0[k], u.scale[0], t1, k, u.scale[1]), &rs);
        }
        for (int64_t k = 0; k < cols; ++k) rs.zeros[0] += t0[k] == 0 ? 1 : 0;
        if (t1)
          for (int64_t k = 0; k < cols; ++k) rs.zeros[1] += t1[k] == 0 ? 1 : 0;
        per_row[static_cast<size_t>(r)] = rs;
      }
      return status::ok;
    });
    if (s != status::ok) return worker_failure(s);

    // Pack.
    matrix_desc d;
    d.fmt = opt.fmt;
    d.rows = rows;
    d.cols = cols;
    d.granularity = opt.granularity;
    d.group_size = opt.group_size;
    d.scale_dtype = opt.scale_dtype;
    d.planes = j.planes;
    std::vector<float> scales[2];
    const int8_t* trit_ptr[2] = {nullptr, nullptr};
    const float* scale_ptr[2] = {nullptr, nullptr};
    for (int p = 0; p < j.planes; ++p) {
      scales[p].resize(static_cast<size_t>(j.unit_count));
      for (int64_t u = 0; u < j.unit_count; ++u)
        scales[p][static_cast<size_t>(u)] = j.units[static_cast<size_t>(u)].scale[p];
      trit_ptr[p] = j.trits[p].data();
      scale_ptr[p] = scales[p].data();
    }
    packed_matrix q;
    s = packed_matrix::pack(d, trit_ptr, cols, scale_ptr, nullptr, &q);
    if (s != status::ok) {
      if (s == status::invalid_trit && opt.fmt == format::sherry) {
        const std::string why = last_error_message();
        return fail(status::invalid_argument,
                    "ternarize: format sherry cannot hold the trits of method %s (it needs "
                    "exactly one zero per quad of 4 columns; use method sherry or another "
                    "format): %s",
                    method_name(opt.algo), why.c_str());
      }
      return ternary::detail::with_context(s, "ternarize");
    }

    if (st) {
      stats r;
      double err = 0, ref = 0;
      int64_t zeros[2] = {0, 0};
      for (const row_stats& rs : per_row) {  // row order: independent of the thread split
        err += rs.err;
        ref += rs.ref;
        zeros[0] += rs.zeros[0];
        zeros[1] += rs.zeros[1];
      }
      r.rel_error = relative(err, ref);
      r.output_rel_error = -1;
      const double total = static_cast<double>(rows) * static_cast<double>(cols);
      for (int p = 0; p < j.planes; ++p) r.zero_fraction[p] = static_cast<double>(zeros[p]) / total;
      float smin = std::numeric_limits<float>::infinity(), smax = 0;
      int64_t it_sum = 0, it_max = 0;
      for (const unit_solution& u : j.units) {
        for (int p = 0; p < j.planes; ++p) {
          smin = std::min(smin, u.scale[p]);
          smax = std::max(smax, u.scale[p]);
        }
        it_sum += u.iterations;
        it_max = std::max<int64_t>(it_max, u.iterations);
      }
      r.scale_min = smin;
      r.scale_max = smax;
      if (opt.algo == method::ptqtp || opt.algo == method::ptqtp_global) {
        r.iterations_max = it_max;
        r.iterations_mean = static_cast<double>(it_sum) / static_cast<double>(j.unit_count);
      }
      r.nonfinite = nonfinite;
      const double scale_bits = opt.scale_dtype == scale_type::f16 ? 16.0 : 32.0;
      r.bits_per_weight =
          (8.0 * static_cast<double>(q.weight_bytes()) +
           scale_bits * static_cast<double>(j.planes) * static_cast<double>(j.unit_count)) /
          total;
      *st = r;
    }
    *out = std::move(q);
    return status::ok;
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "ternarize: out of memory for a %lld x %lld matrix",
                static_cast<long long>(rows), static_cast<long long>(cols));
  } catch (...) {
    return fail(status::internal_error, "ternarize: unexpected exception");
  }
}

status relative_error(const float* w, int64_t ld, const packed_matrix& q, double* out) noexcept {
  if (!w) return fail(status::null_pointer, "relative_error: w is null");
  if (!out) return fail(status::null_pointer, "relative_error: out is null");
  if (q.empty()) return fail(status::invalid_argument, "relative_error: the matrix is empty");
  const matrix_view& v = q.view();
  if (ld < v.cols)
    return fail(status::buffer_too_small,
                "relative_error: leading dimension ld=%lld is less than cols=%lld",
                static_cast<long long>(ld), static_cast<long long>(v.cols));
  double err = 0, ref = 0;
  for (int64_t r = 0; r < v.rows; ++r) {
    row_stats rs;
    const float* x = w + r * ld;
    for (int64_t k = 0; k < v.cols; ++k) {
      const int64_t g = v.granularity == scale_granularity::per_group ? k / v.group_size : 0;
      float wh = 0.0f;
      for (int p = 0; p < v.planes; ++p)
        wh += static_cast<float>(trit_at(v, p, r, k)) * scale_at(v, p, r, g);
      accumulate(x[k], wh, &rs);
    }
    err += rs.err;
    ref += rs.ref;
  }
  *out = relative(err, ref);
  return status::ok;
}

}  // namespace quant
}  // namespace ternary
