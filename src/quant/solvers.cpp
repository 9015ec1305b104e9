// SPDX-License-Identifier: Apache-2.0
// Single-plane and TTQ solvers, the shared code rules and the fp16 finalization (solvers.hpp).
#include "quant/solvers.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#include "ternary/half.hpp"

namespace ternary {
namespace quant {
namespace detail {

namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();

// Small arrays (scale groups): a bucket pass on the value range, then an insertion sort that
// only fixes the order inside buckets (linear for smooth data, quadratic at worst in n <= 512).
void sort_small(float* data, int64_t n, std::vector<float>& tmp) {
  float mx = 0;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, data[i]);
  if (!(mx > 0)) return;  // all zero
  constexpr int64_t max_buckets = 512;
  const int64_t nb = std::min(n, max_buckets);
  // In double: nb / mx stays finite even for a subnormal maximum, and v * scale <= nb (+ulp).
  const double scale = static_cast<double>(nb) / static_cast<double>(mx);
  int32_t start[max_buckets + 1] = {};
  tmp.resize(static_cast<size_t>(n));
  auto bucket = [&](float v) {
    return std::min<int64_t>(nb - 1, static_cast<int64_t>(static_cast<double>(v) * scale));
  };
  for (int64_t i = 0; i < n; ++i) ++start[bucket(data[i]) + 1];
  for (int64_t b = 0; b < nb; ++b) start[b + 1] += start[b];
  for (int64_t i = 0; i < n; ++i) tmp[static_cast<size_t>(start[bucket(data[i])]++)] = data[i];
  for (int64_t i = 0; i < n; ++i) {
    const float v = tmp[static_cast<size_t>(i)];
    int64_t j = i;
    while (j > 0 && data[j - 1] > v) {
      data[j] = data[j - 1];
      --j;
    }
    data[j] = v;
  }
}

// Nonnegative finite floats order like their bit patterns: an LSD radix sort on 11/11/9-bit
// digits is much faster than a comparison sort for the row sizes of real matrices. Both paths
// give the same (unique) sorted array.
void sort_nonnegative(float* data, int64_t n, std::vector<float>& tmp) {
  if (n <= 512) {
    sort_small(data, n, tmp);
    return;
  }
  tmp.resize(static_cast<size_t>(n));
  float* src = data;
  float* dst = tmp.data();
  constexpr int shifts[3] = {0, 11, 22};
  constexpr uint32_t masks[3] = {0x7ffu, 0x7ffu, 0x1ffu};
  for (int pass = 0; pass < 3; ++pass) {
    uint32_t count[2048 + 1] = {};
    const int sh = shifts[pass];
    const uint32_t mk = masks[pass];
    for (int64_t i = 0; i < n; ++i) {
      uint32_t b;
      std::memcpy(&b, &src[i], sizeof b);
      ++count[((b >> sh) & mk) + 1];
    }
    for (uint32_t d = 0; d < mk + 1; ++d) count[d + 1] += count[d];
    for (int64_t i = 0; i < n; ++i) {
      uint32_t b;
      std::memcpy(&b, &src[i], sizeof b);
      dst[count[(b >> sh) & mk]++] = src[i];
    }
    std::swap(src, dst);
  }
  // Three passes: the result is in tmp.
  std::memcpy(data, src, static_cast<size_t>(n) * sizeof(float));
}

// Exact symmetric ternary fit of nonnegative magnitudes a[0..m) sorted ascending: the k largest
// are kept for the k maximizing S_k^2 / k, counting only k where the next value is strictly
// smaller (a mask |w| > threshold can only keep whole runs of equal values; the optimum over
// all masks is reached at such a k). Returns k (0 when every value is 0), the kept sum and the
// largest value that is not kept (0 when every nonzero value is kept).
int64_t exact_top(const float* a, int64_t m, double* kept_sum, double* threshold) {
  double s = 0, best = -1, best_s = 0;
  int64_t best_k = 0;
  for (int64_t j = m - 1; j >= 0; --j) {
    const double v = a[j];
    if (v == 0) break;
    s += v;
    if (j == 0 || a[j - 1] < a[j]) {
      const int64_t k = m - j;
      const double score = s * s / static_cast<double>(k);
      if (score > best) {
        best = score;
        best_k = k;
        best_s = s;
      }
    }
  }
  *kept_sum = best_s;
  *threshold = best_k > 0 && best_k < m ? static_cast<double>(a[m - best_k - 1]) : 0.0;
  return best_k;
}

inline bool finite(float w) { return std::fabs(w) <= FLT_MAX; }

inline int8_t sign_of(float w) { return w < 0 ? int8_t{-1} : int8_t{1}; }

}  // namespace

void sort_magnitudes(const float* x, int64_t n, scratch& s) {
  s.sorted.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) s.sorted[static_cast<size_t>(i)] = std::fabs(x[i]);
  sort_nonnegative(s.sorted.data(), n, s.tmp);
}

void solve_twn(const float* x, int64_t n, int64_t n_valid, double factor, unit_solution* out) {
  *out = unit_solution{};
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::fabs(x[i]);
  if (!(sum > 0) || n_valid <= 0) return;
  const double delta = factor * (sum / static_cast<double>(n_valid));
  double kept = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = std::fabs(x[i]);
    if (a > delta) {
      kept += a;
      ++count;
    }
  }
  if (count == 0) return;
  out->scale[0] = static_cast<float>(kept / static_cast<double>(count));
  out->rule = code_rule::threshold;
  out->thr[0] = delta;
}

void solve_optimal(const float* x, int64_t n, scratch& s, unit_solution* out) {
  *out = unit_solution{};
  sort_magnitudes(x, n, s);
  double kept = 0, threshold = 0;
  const int64_t k = exact_top(s.sorted.data(), n, &kept, &threshold);
  if (k == 0) return;
  out->scale[0] = static_cast<float>(kept / static_cast<double>(k));
  out->rule = code_rule::threshold;
  out->thr[0] = threshold;
}

void solve_absmean(const float* x, int64_t n, int64_t n_valid, bool refit, unit_solution* out) {
  *out = unit_solution{};
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::fabs(x[i]);
  if (!(sum > 0) || n_valid <= 0) return;
  // BitNet: scale = 1 / clamp(mean|w|, min = 1e-5).
  const float gamma = std::max(static_cast<float>(sum / static_cast<double>(n_valid)), 1e-5f);
  out->rule = code_rule::roundclip;
  out->gamma = gamma;
  out->scale[0] = gamma;
  if (!refit) return;
  double kept = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::nearbyint(x[i] / gamma) != 0.0f) {
      kept += std::fabs(x[i]);
      ++count;
    }
  }
  if (count == 0) {
    *out = unit_solution{};
    return;
  }
  out->scale[0] = static_cast<float>(kept / static_cast<double>(count));
}

void solve_ttq(const float* x, int64_t n, double factor, unit_solution* out) {
  *out = unit_solution{};
  float mx = 0;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, std::fabs(x[i]));
  if (!(mx > 0)) return;
  const double delta = factor * static_cast<double>(mx);
  double sp = 0, sn = 0;
  int64_t cp = 0, cn = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (v > delta) {
      sp += v;
      ++cp;
    } else if (v < -delta) {
      sn -= v;
      ++cn;
    }
  }
  out->rule = code_rule::two_sided;
  out->scale[0] = cp > 0 ? static_cast<float>(sp / static_cast<double>(cp)) : 0.0f;
  out->scale[1] = cn > 0 ? static_cast<float>(sn / static_cast<double>(cn)) : 0.0f;
  out->thr[0] = cp > 0 ? delta : infinity;
  out->thr[1] = cn > 0 ? delta : infinity;
}

void solve_ttq_optimal(const float* x, int64_t n, scratch& s, unit_solution* out) {
  *out = unit_solution{};
  // The two signs are independent problems (the objective separates): solve each exactly.
  std::vector<float>& pos = s.sorted;
  std::vector<float>& neg = s.negatives;
  pos.clear();
  neg.clear();
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] > 0)
      pos.push_back(x[i]);
    else if (x[i] < 0)
      neg.push_back(-x[i]);
  }
  sort_nonnegative(pos.data(), static_cast<int64_t>(pos.size()), s.tmp);
  sort_nonnegative(neg.data(), static_cast<int64_t>(neg.size()), s.tmp);
  double sp = 0, tp = 0, sn = 0, tn = 0;
  const int64_t kp = exact_top(pos.data(), static_cast<int64_t>(pos.size()), &sp, &tp);
  const int64_t kn = exact_top(neg.data(), static_cast<int64_t>(neg.size()), &sn, &tn);
  if (kp == 0 && kn == 0) return;
  out->rule = code_rule::two_sided;
  out->scale[0] = kp > 0 ? static_cast<float>(sp / static_cast<double>(kp)) : 0.0f;
  out->scale[1] = kn > 0 ? static_cast<float>(sn / static_cast<double>(kn)) : 0.0f;
  out->thr[0] = kp > 0 ? tp : infinity;
  out->thr[1] = kn > 0 ? tn : infinity;
}

void build_level_rule(unit_solution* u) {
  const float s0 = u->scale[0], s1 = u->scale[1];
  u->nthr = 0;
  if (!(s0 > 0)) {
    u->rule = code_rule::zero;
    return;
  }
  // Candidate nonnegative values with their trit pairs, in tie-break preference order: zero,
  // plane 1 alone (the finer plane), plane 0 alone, then both planes.
  struct cand {
    double v;
    int rank;
    int8_t t0, t1;
  };
  cand c[5] = {{0.0, 0, 0, 0},
               {static_cast<double>(s1), 1, 0, 1},
               {static_cast<double>(s0), 2, 1, 0},
               {static_cast<double>(s0 - s1), 3, 1, -1},
               {static_cast<double>(s0 + s1), 4, 1, 1}};
  std::sort(c, c + 5, [](const cand& a, const cand& b) {
    return a.v < b.v || (a.v == b.v && a.rank < b.rank);
  });
  int n = 0;
  cand kept[5];
  for (const cand& x : c)
    if (n == 0 || x.v != kept[n - 1].v) kept[n++] = x;
  for (int j = 0; j < n; ++j) {
    u->u[j][0] = kept[j].t0;
    u->u[j][1] = kept[j].t1;
  }
  for (int j = 0; j + 1 < n; ++j) {
    u->thr[j] = 0.5 * (kept[j].v + kept[j + 1].v);
    u->tie_up[j] = kept[j + 1].rank < kept[j].rank ? 1 : 0;
  }
  u->nthr = n - 1;
  u->rule = code_rule::levels;
}

void finalize_unit(method m, bool f16, bool refit, unit_solution* u) {
  if (f16)
    for (float& s : u->scale) s = half_to_float(float_to_half(s));
  switch (m) {
    case method::optimal:
      if (f16 && u->rule == code_rule::threshold) u->thr[0] = 0.5 * u->scale[0];
      break;
    case method::absmean:
      if (f16 && !refit && u->rule == code_rule::roundclip) u->gamma = u->scale[0];
      break;
    case method::ttq_optimal:
      if (f16 && u->rule == code_rule::two_sided) {
        u->thr[0] = u->scale[0] > 0 ? 0.5 * u->scale[0] : infinity;
        u->thr[1] = u->scale[1] > 0 ? 0.5 * u->scale[1] : infinity;
      }
      break;
    case method::ptqtp:
    case method::ptqtp_global: build_level_rule(u); break;
    default: break;
  }
  // A scale that is (or rounded to) 0 keeps no code.
  switch (u->rule) {
    case code_rule::threshold:
    case code_rule::roundclip:
      if (!(u->scale[0] > 0)) *u = unit_solution{};
      break;
    case code_rule::two_sided:
      if (!(u->scale[0] > 0)) u->thr[0] = infinity;
      if (!(u->scale[1] > 0)) u->thr[1] = infinity;
      if (u->thr[0] == infinity && u->thr[1] == infinity) {
        const int32_t it = u->iterations;
        *u = unit_solution{};
        u->iterations = it;
      }
      break;
    default: break;
  }
}

void assign_codes(const unit_solution& u, const float* w, int64_t n, int8_t* t0, int8_t* t1) {
  switch (u.rule) {
    case code_rule::zero:
      std::memset(t0, 0, static_cast<size_t>(n));
      if (t1) std::memset(t1, 0, static_cast<size_t>(n));
      return;
    case code_rule::fixed: return;
    case code_rule::threshold: {
      const float thr = first_float_above(u.thr[0], false);
      for (int64_t i = 0; i < n; ++i) {
        const float a = std::fabs(w[i]);
        t0[i] = a <= FLT_MAX && a >= thr ? sign_of(w[i]) : int8_t{0};
      }
      if (t1) std::memset(t1, 0, static_cast<size_t>(n));
      return;
    }
    case code_rule::roundclip: {
      const float g = u.gamma;
      for (int64_t i = 0; i < n; ++i) {
        if (!finite(w[i])) {
          t0[i] = 0;
          continue;
        }
        const float q = std::nearbyint(w[i] / g);
        t0[i] = q > 0 ? int8_t{1} : q < 0 ? int8_t{-1} : int8_t{0};
      }
      if (t1) std::memset(t1, 0, static_cast<size_t>(n));
      return;
    }
    case code_rule::two_sided: {
      const float tp = first_float_above(u.thr[0], false);
      const float tn = first_float_above(u.thr[1], false);
      for (int64_t i = 0; i < n; ++i) {
        const bool ok = finite(w[i]);
        t0[i] = ok && w[i] >= tp ? int8_t{1} : int8_t{0};
        t1[i] = ok && -w[i] >= tn ? int8_t{-1} : int8_t{0};
      }
      return;
    }
    case code_rule::levels: {
      // Interval index = number of midpoints the magnitude reaches; each midpoint becomes the
      // smallest float that lies above it (or on it, when a tie goes up), so float compares
      // give exactly the double-precision decision.
      const int nt = u.nthr;
      constexpr float inf = std::numeric_limits<float>::infinity();
      float thr[4] = {inf, inf, inf, inf};
      for (int k = 0; k < nt; ++k) thr[k] = first_float_above(u.thr[k], u.tie_up[k] != 0);
      for (int64_t i = 0; i < n; ++i) {
        const float a = std::fabs(w[i]);
        if (!(a <= FLT_MAX)) {
          t0[i] = 0;
          t1[i] = 0;
          continue;
        }
        const int j = (a >= thr[0] ? 1 : 0) + (a >= thr[1] ? 1 : 0) + (a >= thr[2] ? 1 : 0) +
                      (a >= thr[3] ? 1 : 0);
        const int8_t s = sign_of(w[i]);
        t0[i] = static_cast<int8_t>(u.u[j][0] * s);
        t1[i] = static_cast<int8_t>(u.u[j][1] * s);
      }
      return;
    }
  }
}

}  // namespace detail
}  // namespace quant
}  // namespace ternary
