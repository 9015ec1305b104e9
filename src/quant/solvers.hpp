// SPDX-License-Identifier: Apache-2.0
// Per-unit solvers of the weight-only ternarizers (docs/QUANT.md). A "unit" is the set of
// weights that share one scale per plane: a whole tensor, a row, or a group of a row. Every
// solver here sees one unit as a contiguous array in which NaN/Inf (lenient mode) were already
// replaced by 0, plus the count of finite values for the statistics that divide by a length.
// Solvers pick the scales and a code rule; the driver (ternarize.cpp) applies the rule to each
// weight, so a unit can be solved once and coded row by row.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ternary/quant.hpp"

namespace ternary {
namespace quant {
namespace detail {

/// How the codes of one unit follow from its weights.
enum class code_rule : uint8_t {
  zero,       ///< every code 0
  threshold,  ///< plane 0: t = sign(w) where |w| > thr[0], else 0
  roundclip,  ///< plane 0: t = clamp(nearbyint(w / gamma), -1, 1)
  two_sided,  ///< plane 0: +1 where w > thr[0]; plane 1: -1 where w < -thr[1]
  levels,     ///< two planes: |w| in interval j of thr[0..nthr) gives (u[j][0], u[j][1])·sign(w)
  fixed,      ///< codes were written by the solver itself (Sherry)
};

/// Scales and code rule of one unit.
struct unit_solution {
  float scale[2] = {0.0f, 0.0f};
  code_rule rule = code_rule::zero;
  int nthr = 0;
  float gamma = 0.0f;
  double thr[4] = {0, 0, 0, 0};
  uint8_t tie_up[4] = {0, 0, 0, 0};  ///< levels: a weight exactly on thr[i] goes above it
  int8_t u[5][2] = {};               ///< levels: nonnegative trit pair of each interval
  int32_t iterations = 0;            ///< ptqtp: iterations used
};

/// Reusable buffers of one worker.
struct scratch {
  std::vector<float> values;     ///< a copy of the unit (NaN/Inf replaced by 0)
  std::vector<float> sorted;     ///< |w| sorted ascending
  std::vector<float> negatives;  ///< ttq_optimal: magnitudes of the negative weights
  std::vector<float> tmp;        ///< radix-sort buffer
  std::vector<double> prefix;    ///< prefix sums of sorted |w|
};

/// The smallest float f with f > m (f >= m when `inclusive`): for a float x, x > m (x >= m)
/// holds exactly when x >= f. Infinite when m lies above the largest float.
inline float first_float_above(double m, bool inclusive) {
  const float f = static_cast<float>(m);
  const double fd = f;
  if (fd > m || (inclusive && fd == m)) return f;
  return std::nextafter(f, std::numeric_limits<float>::infinity());
}

/// Sorts |x[0..n)| ascending into s.sorted (every value is finite and nonnegative).
void sort_magnitudes(const float* x, int64_t n, scratch& s);

/// TWN (Li, Zhang, Liu 2016): keep |w| > factor·mean|w| (strict), alpha = mean kept |w|.
void solve_twn(const float* x, int64_t n, int64_t n_valid, double factor, unit_solution* out);
/// Exact L2-optimal symmetric ternary: sort |w| descending, keep the top k maximizing
/// (sum of top k)^2 / k (k only where the next value is strictly smaller), alpha = sum / k.
void solve_optimal(const float* x, int64_t n, scratch& s, unit_solution* out);
/// BitNet b1.58 absmean (Ma et al. 2024): gamma = max(mean|w|, 1e-5), t = RoundClip(w/gamma),
/// alpha = gamma, or the least-squares alpha on that mask with `refit`.
void solve_absmean(const float* x, int64_t n, int64_t n_valid, bool refit, unit_solution* out);
/// TTQ mask (Zhu et al. 2017) with least-squares scales: delta = factor·max|w|, plane 0 keeps
/// w > delta with W_p = mean of those w, plane 1 keeps w < -delta with W_n = mean of their |w|.
void solve_ttq(const float* x, int64_t n, double factor, unit_solution* out);
/// Exact asymmetric optimum: the exact solver on the positive and on the negative weights.
void solve_ttq_optimal(const float* x, int64_t n, scratch& s, unit_solution* out);
/// PTQTP two trit-planes (Xiao et al. 2025): paper-style alternating least squares (`global`
/// false) or the near-global solver over sorted |w| (`global` true). Scales come back
/// canonical (scale[0] >= scale[1] >= 0) as fp32 with the level rule built from them.
void solve_ptqtp(const float* x, int64_t n, int64_t n_valid, bool global, int max_iterations,
                 double tolerance, scratch& s, unit_solution* out);

/// Rebuilds the two-plane level rule from the unit's (rounded) scales: each weight takes the
/// nearest of the 9 values {0, ±s1, ±s0, ±(s0-s1), ±(s0+s1)} as dequantization computes them
/// (fp32 sums); ties go to the sparser pair (zero first, then plane 1 alone, then plane 0 alone).
void build_level_rule(unit_solution* u);

/// Rounds the unit's scales to what the matrix stores (fp16 when `f16`) and, where the codes of
/// the method depend on the scale, re-chooses the rule for the stored value.
void finalize_unit(method m, bool f16, bool refit, unit_solution* u);

/// Applies the rule of `u` to n weights; NaN/Inf weights get code 0. t1 may be null for
/// single-plane rules.
void assign_codes(const unit_solution& u, const float* w, int64_t n, int8_t* t0, int8_t* t1);

}  // namespace detail
}  // namespace quant
}  // namespace ternary
