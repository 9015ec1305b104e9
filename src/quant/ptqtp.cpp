// SPDX-License-Identifier: Apache-2.0
// PTQTP two trit-plane solvers (Xiao et al. 2025, "PTQTP: Post-Training Quantization to
// Trit-Planes"): W-hat = a1·T1 + a2·T2 per unit.
//
// Both solvers work on the sorted magnitudes of the unit. With canonical scales a1 >= a2 >= 0
// the 9 reachable values are ±{0, a2, a1-a2, a1, a1+a2}, and the best pair (t1, t2) of a weight
// depends only on |w| (the sign just multiplies the pair): |w| takes the nearest of the 5
// nonnegative levels, so the 4 midpoints between consecutive levels cut the sorted |w| into at
// most 5 intervals. Counts and sums over an interval come from a prefix sum, so the 2x2 normal
// equations of the least-squares step and the error of the nearest-level assignment cost
// O(log n) per scale pair instead of O(9 n). Codes are assigned per element once, at the end.
#include <algorithm>
#include <cmath>
#include <limits>

#include "quant/solvers.hpp"

namespace ternary {
namespace quant {
namespace detail {

namespace {

struct sorted_unit {
  const float* a = nullptr;   // |w| ascending
  const double* p = nullptr;  // p[i] = sum of a[0..i)
  int64_t n = 0;
  int64_t nonzero = 0;  // index of the first nonzero magnitude
};

// First index whose value is at least t[k] (n when none), for up to 4 thresholds at once. The
// searches run interleaved with the same trip count, so their load latencies overlap, and each
// step is arithmetic (compilers turn a ternary here into a branch that mispredicts half the
// time): no data-dependent branch.
void boundaries(const sorted_unit& su, const float* t, int count, int64_t* out) {
  const float* base[4] = {su.a, su.a, su.a, su.a};
  int64_t len = su.n;
  if (len == 0) {
    for (int k = 0; k < count; ++k) out[k] = 0;
    return;
  }
  while (len > 1) {
    const int64_t half = len >> 1;
    for (int k = 0; k < 4; ++k) base[k] += static_cast<int64_t>(base[k][half - 1] < t[k]) * half;
    len -= half;
  }
  for (int k = 0; k < count; ++k) out[k] = (base[k] - su.a) + (*base[k] < t[k] ? 1 : 0);
}

// Distinct nonnegative levels for canonical (a1, a2), with their trit pairs and midpoints; the
// tie-break order is the one of build_level_rule.
struct level_set {
  int n = 0;
  double v[5];
  int8_t t[5][2];
  double mid[4];
  bool up[4];
  bool dense_zero = false;  // nonzero weights of the zero level take (+1, -1)·sign(w)
};

void make_levels(double a1, double a2, level_set* ls) {
  ls->dense_zero = false;
  // Ascending nonnegative values of canonical (a1 >= a2 >= 0) with their pairs; equal values
  // keep the preferred pair (zero, then plane 1 alone, then plane 0 alone, then both).
  struct cand {
    double v;
    int rank;
    int8_t t0, t1;
  };
  cand c[5];
  int m = 0;
  c[m++] = {0.0, 0, 0, 0};
  if (a2 > 0) {
    const cand lo = {a2, 1, 0, 1}, diff = {a1 - a2, 3, 1, -1};
    if (a2 <= a1 - a2) {
      c[m++] = lo;
      c[m++] = diff;
    } else {
      c[m++] = diff;
      c[m++] = lo;
    }
    c[m++] = {a1, 2, 1, 0};
    c[m++] = {a1 + a2, 4, 1, 1};
  } else {
    c[m++] = {a1, 2, 1, 0};
  }
  int n = 0;
  int rank[5];
  for (int i = 0; i < m; ++i) {
    if (n > 0 && c[i].v == ls->v[n - 1]) {
      if (c[i].rank < rank[n - 1]) {  // equal values: the preferred pair represents them
        ls->t[n - 1][0] = c[i].t0;
        ls->t[n - 1][1] = c[i].t1;
        rank[n - 1] = c[i].rank;
      }
      continue;
    }
    ls->v[n] = c[i].v;
    ls->t[n][0] = c[i].t0;
    ls->t[n][1] = c[i].t1;
    rank[n] = c[i].rank;
    ++n;
  }
  ls->n = n;
  for (int j = 0; j + 1 < n; ++j) {
    ls->mid[j] = 0.5 * (ls->v[j] + ls->v[j + 1]);
    ls->up[j] = rank[j + 1] < rank[j];
  }
}

// Normal equations of the nearest-level assignment for a level set, and its gain
// sum(|w|^2) - SSE = sum over intervals of L (2 S - L c).
struct normal_eq {
  double g11 = 0, g22 = 0, g12 = 0, b1 = 0, b2 = 0, gain = 0;
};

normal_eq assign_intervals(const sorted_unit& su, const level_set& ls) {
  normal_eq e;
  constexpr float inf = std::numeric_limits<float>::infinity();
  float t[4] = {inf, inf, inf, inf};
  for (int j = 0; j + 1 < ls.n; ++j) t[j] = first_float_above(ls.mid[j], ls.up[j]);
  int64_t b[5];
  boundaries(su, t, ls.n - 1, b);
  b[ls.n - 1] = su.n;
  int64_t lo = 0;
  for (int j = 0; j < ls.n; ++j) {
    const int64_t hi = b[j];
    const double c = static_cast<double>(hi - lo);
    const double s = su.p[hi] - su.p[lo];
    const double u1 = ls.t[j][0], u2 = ls.t[j][1];
    e.g11 += c * u1 * u1;
    e.g22 += c * u2 * u2;
    e.g12 += c * u1 * u2;
    e.b1 += u1 * s;
    e.b2 += u2 * s;
    e.gain += ls.v[j] * (2.0 * s - ls.v[j] * c);
    if (j == 0 && ls.dense_zero && hi > su.nonzero) {
      const double cz = static_cast<double>(hi - su.nonzero);
      const double sz = su.p[hi] - su.p[su.nonzero];
      e.g11 += cz;
      e.g22 += cz;
      e.g12 -= cz;
      e.b1 += sz;
      e.b2 -= sz;
    }
    lo = hi;
  }
  return e;
}

// Folds signs into the trits and orders the planes: a1 >= a2 >= 0.
void canonicalize(double* a1, double* a2) {
  *a1 = std::fabs(*a1);
  *a2 = std::fabs(*a2);
  if (*a2 > *a1) std::swap(*a1, *a2);
}

normal_eq evaluate(const sorted_unit& su, double a1, double a2) {
  level_set ls;
  make_levels(a1, a2, &ls);
  return assign_intervals(su, ls);
}

// Paper-style alternating least squares: T1 = T2 = sign(w); then repeat (a) the ridge solve of
// the 2x2 system, lambda escalated from 1e-8 by 10x while the Frobenius condition number of
// (S^T S + lambda I) exceeds 1e6 (at most to 1), and (b) the 9-way assignment; stop when the
// scales move less than `tol` (Euclidean) or after max_it iterations.
int paper_als(const sorted_unit& su, int max_it, double tol, double* a1_out, double* a2_out) {
  const double nnz = static_cast<double>(su.n - su.nonzero);
  const double total = su.p[su.n];
  normal_eq e;
  e.g11 = e.g22 = e.g12 = nnz;
  e.b1 = e.b2 = total;
  double prev1 = 1.0, prev2 = 1.0, a1 = 0, a2 = 0;
  static constexpr double lambdas[9] = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
  int it = 1;
  for (;; ++it) {
    const double base_det = e.g11 * e.g22 - e.g12 * e.g12;
    int li = 0;
    double det = 0;
    for (;; ++li) {
      const double lam = lambdas[li];
      const double d11 = e.g11 + lam, d22 = e.g22 + lam;
      det = base_det + lam * (e.g11 + e.g22) + lam * lam;
      const double fro2 = d11 * d11 + 2.0 * e.g12 * e.g12 + d22 * d22;
      const bool ill = !(det > 0) || fro2 / det > 1e6;
      if (!ill || li == 8) break;
    }
    const double lam = lambdas[li];
    a1 = ((e.g22 + lam) * e.b1 - e.g12 * e.b2) / det;
    a2 = ((e.g11 + lam) * e.b2 - e.g12 * e.b1) / det;
    canonicalize(&a1, &a2);
    level_set ls;
    make_levels(a1, a2, &ls);
    // Symmetric start: with a1 == a2 the pairs (0,0) and ±(1,-1) both give 0. Choosing the
    // zero pair keeps T1 and T2 nested (T1 inside T2, same signs) and the iteration settles
    // in a poor fixed point; the dense pair breaks the symmetry of the planes.
    ls.dense_zero = a1 == a2;
    e = assign_intervals(su, ls);
    if (it >= max_it || std::sqrt((a1 - prev1) * (a1 - prev1) + (a2 - prev2) * (a2 - prev2)) < tol)
      break;
    prev1 = a1;
    prev2 = a2;
  }
  *a1_out = a1;
  *a2_out = a2;
  return it;
}

// Interval alternating least squares from (a1, a2): exact LS scales for the current assignment,
// then the nearest-level assignment, while the gain strictly improves. Returns the iterations.
int polish(const sorted_unit& su, double* a1, double* a2, double* gain) {
  normal_eq e = evaluate(su, *a1, *a2);
  *gain = e.gain;
  int it = 0;
  for (; it < 200; ++it) {
    const double det = e.g11 * e.g22 - e.g12 * e.g12;
    if (!(det > 1e-9 * e.g11 * e.g22)) break;  // one plane unused or the planes tied
    double y1 = (e.g22 * e.b1 - e.g12 * e.b2) / det;
    double y2 = (e.g11 * e.b2 - e.g12 * e.b1) / det;
    canonicalize(&y1, &y2);
    const normal_eq f = evaluate(su, y1, y2);
    if (!(f.gain > *gain)) break;
    const double moved = std::fabs(y1 - *a1) + std::fabs(y2 - *a2);
    *a1 = y1;
    *a2 = y2;
    *gain = f.gain;
    e = f;
    if (moved <= 1e-13 * (*a1)) {
      ++it;
      break;
    }
  }
  return it;
}

// Near-global solver: the paper ALS result and the best points of a grid over
// a1 in (0, 4·rms] x a2/a1 in (0, 1], each polished by interval ALS; the best gain wins (so the
// result is never worse than the ALS one).
int global_search(const sorted_unit& su, double rms, int max_it, double tol, double* a1_out,
                  double* a2_out) {
  double b1 = 0, b2 = 0, best_gain = 0;
  paper_als(su, max_it, tol, &b1, &b2);
  int best_it = polish(su, &b1, &b2, &best_gain);

  // The grid costs O(log n) per point, so small units get a coarser one. Measured against
  // 24 x 16 on i.i.d. data: 8 x 6 costs 2.6e-4 of relative error at G = 128, 12 x 8 costs 3e-5
  // at G = 1024.
  const int grid_scales = su.n <= 128 ? 8 : su.n <= 2048 ? 12 : 24;
  const int grid_ratios = su.n <= 128 ? 6 : su.n <= 2048 ? 8 : 16;
  constexpr int keep = 3;
  struct point {
    double a1, a2, gain;
  };
  point top[keep];
  int ntop = 0;
  for (int ir = 1; ir <= grid_ratios; ++ir) {
    const double r = static_cast<double>(ir) / grid_ratios;
    for (int ia = 1; ia <= grid_scales; ++ia) {
      const double a1 = 4.0 * rms * static_cast<double>(ia) / grid_scales;
      const double g = evaluate(su, a1, r * a1).gain;
      int pos = ntop;
      while (pos > 0 && top[pos - 1].gain < g) --pos;
      if (pos >= keep) continue;
      for (int j = std::min(ntop, keep - 1); j > pos; --j) top[j] = top[j - 1];
      top[pos] = {a1, r * a1, g};
      ntop = std::min(ntop + 1, keep);
    }
  }
  for (int j = 0; j < ntop; ++j) {
    double a1 = top[j].a1, a2 = top[j].a2, g = 0;
    const int it = polish(su, &a1, &a2, &g);
    if (g > best_gain) {
      best_gain = g;
      b1 = a1;
      b2 = a2;
      best_it = it;
    }
  }
  *a1_out = b1;
  *a2_out = b2;
  return best_it;
}

}  // namespace

void solve_ptqtp(const float* x, int64_t n, int64_t n_valid, bool global, int max_iterations,
                 double tolerance, scratch& s, unit_solution* out) {
  *out = unit_solution{};
  double sumsq = 0;
  for (int64_t i = 0; i < n; ++i) sumsq += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  if (!(sumsq > 0) || n_valid <= 0) return;
  sort_magnitudes(x, n, s);
  s.prefix.resize(static_cast<size_t>(n) + 1);
  s.prefix[0] = 0;
  for (int64_t i = 0; i < n; ++i)
    s.prefix[static_cast<size_t>(i) + 1] = s.prefix[static_cast<size_t>(i)] + s.sorted[i];
  sorted_unit su;
  su.a = s.sorted.data();
  su.p = s.prefix.data();
  su.n = n;
  const float above_zero[4] = {first_float_above(0.0, false), 0, 0, 0};
  boundaries(su, above_zero, 1, &su.nonzero);
  double a1 = 0, a2 = 0;
  int it;
  if (global) {
    it = global_search(su, std::sqrt(sumsq / static_cast<double>(n_valid)), max_iterations,
                       tolerance, &a1, &a2);
  } else {
    it = paper_als(su, max_iterations, tolerance, &a1, &a2);
  }
  out->scale[0] = static_cast<float>(a1);
  out->scale[1] = static_cast<float>(a2);
  out->iterations = it;
  out->rule = code_rule::levels;  // built from the stored scales by finalize_unit
}

}  // namespace detail
}  // namespace quant
}  // namespace ternary
