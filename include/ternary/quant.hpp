// SPDX-License-Identifier: Apache-2.0
/// \file
/// Offline post-training ternarizers (target `ternary::quant`): turn a dense fp32 weight matrix
/// W (N x K, row-major) into a packed ternary matrix the kernels run directly, plus statistics.
///
/// Methods (docs/QUANT.md has the formulas, edge cases and measured errors):
///   - twn:          T = sign(w)·[|w| > f·mean|w|] (f = threshold_factor, default 0.7),
///                   alpha = mean |w| over the kept weights.
///   - optimal:      the exact L2-optimal symmetric ternary (sorted prefix search).
///   - absmean:      BitNet b1.58 RoundClip: gamma = max(mean|w|, 1e-5), t = clamp(rint(w/gamma)),
///                   alpha = gamma, or the least-squares alpha on that mask with refit_scale.
///   - ttq:          TTQ mask (|w| > f·max|w|, f = threshold_factor, default 0.05) with
///                   least-squares W_p and W_n.
///   - ttq_optimal:  the exact asymmetric optimum (each sign solved exactly on its own).
///     Both TTQ methods give two planes: plane 0 holds the positive weights (t in {0,+1}, scale
///     W_p), plane 1 the negative ones (t in {0,-1}, scale W_n), so the kernels run them as they
///     are.
///   - ptqtp:        two trit-planes, W-hat = a1·T1 + a2·T2 per scale unit, by ridge-regularized
///                   alternating least squares with the 9-way search (max_iterations, stop when
///                   the scales move less than tolerance), from T1 = T2 = sign(w).
///   - ptqtp_global: two trit-planes by the near-global solver over sorted |w|.
///     PTQTP planes are canonical: a1 >= a2 >= 0 (signs folded into the trits).
///   - sherry:       3:4 projection: in each quad of 4 columns zero the smallest |w| (lowest index
///                   on ties), sign of the rest, alpha = mean |w| over kept lanes (the exact L2
///                   optimum). A kept exact zero packs as +1. Packs into any format; the other
///                   methods pack into format::sherry only when their trits happen to be 3:4.
///
/// Every method works per tensor, per row or per group (granularity and group_size of
/// `options`; a group is a positive multiple of 64 columns). Results are deterministic: the same
/// input gives the same bytes for any thread count.
///
/// Activation-aware mode (`calibration`): minimizes the output error ||X (W - W-hat)^T||_F for
/// calibration activations X (M x K) or their Gram matrix H = X^T X (K x K) instead of the weight
/// error. Scales are refit under the Gram metric (optimal, absmean, ptqtp, ptqtp_global), and
/// with error_feedback a GPTQ-style pass over the columns chooses trits column by column using
/// the Cholesky factor of the damped inverse Hessian.
#pragma once

#include <cstdint>

#include "ternary/config.hpp"
#include "ternary/format/format.hpp"
#include "ternary/packed_matrix.hpp"
#include "ternary/status.hpp"

namespace ternary {
namespace quant {

enum class method : uint32_t {
  twn = 1,
  optimal = 2,
  absmean = 3,
  ttq = 4,
  ttq_optimal = 5,
  ptqtp = 6,
  ptqtp_global = 7,
  sherry = 8,
};

/// Stable lower-case name ("twn", "optimal", "absmean", "ttq", "ttq_optimal", "ptqtp",
/// "ptqtp_global", "sherry"); "unknown" otherwise.
TERNARY_API const char* method_name(method m) noexcept;
/// Parses a name written by method_name(); false when unknown.
TERNARY_API bool parse_method(const char* name, method* out) noexcept;
/// Planes the method produces (1, or 2 for ttq, ttq_optimal, ptqtp, ptqtp_global).
TERNARY_API int method_planes(method m) noexcept;

/// Calibration data of the activation-aware mode. Give either the activations (x: tokens x K,
/// leading dimension ld_x >= K) or the Gram matrix (gram: K x K, symmetric, leading dimension
/// ld_gram >= K); not both.
struct calibration {
  const float* x = nullptr;
  int64_t tokens = 0;
  int64_t ld_x = 0;
  const float* gram = nullptr;
  int64_t ld_gram = 0;
  /// Diagonal damping added to H: damp · mean(diag H) (GPTQ's percdamp).
  double damp = 0.01;
  /// Choose trits column by column with error feedback (GPTQ-style), then refit the scales.
  bool error_feedback = true;
};

struct options {
  method algo = method::optimal;
  format fmt = format::bits2;  ///< packed format of the result (any format holds sherry)
  scale_granularity granularity = scale_granularity::per_row;
  int64_t group_size = 0;                    ///< per_group only: a positive multiple of 64
  scale_type scale_dtype = scale_type::f32;  ///< f16: codes are re-chosen for the rounded scales
  /// twn: threshold as a fraction of mean|w|, in (0, 10] (0 = 0.7); ttq: as a fraction of
  /// max|w|, in (0, 1) (0 = 0.05). Other methods ignore it; negative or non-finite is an error.
  double threshold_factor = 0.0;
  bool refit_scale = false;  ///< absmean: least-squares alpha on the RoundClip mask
  int max_iterations = 50;   ///< ptqtp: alternating least-squares iterations at most
  double tolerance = 1e-4;   ///< ptqtp: stop when the scales move less than this
  /// NaN/Inf weights are an error by default; lenient treats them as 0 (code 0, excluded from
  /// every scale statistic) and counts them in stats::nonfinite.
  bool lenient_nonfinite = false;
  int threads = 1;  ///< worker threads; 0 = all hardware threads. Never changes the result.
  const calibration* calib = nullptr;  ///< activation-aware mode when non-null
};

struct stats {
  double rel_error = 0;              ///< ||W - W-hat||_F / ||W||_F (0 for an all-zero W)
  double output_rel_error = -1;      ///< ||X(W - W-hat)^T|| / ||X W^T|| with calibration, else -1
  double zero_fraction[2] = {0, 0};  ///< fraction of zero trits per plane (real columns only)
  float scale_min = 0;               ///< smallest scale over planes and units
  float scale_max = 0;               ///< largest scale
  int64_t iterations_max = 0;        ///< ptqtp: most iterations any unit took (ptqtp_global: of the
                                     ///< final interval polish); 0 for the other methods
  double iterations_mean = 0;        ///< ptqtp, ptqtp_global: mean over units
  int64_t nonfinite = 0;             ///< NaN/Inf weights replaced by 0 (lenient mode)
  double bits_per_weight = 0;        ///< storage bits per real weight (trits + scales + bias)
};

/// Ternarizes W (rows x cols, leading dimension ld >= cols) into `out` (an owning matrix).
/// `st` may be null. Errors: null_pointer, invalid_argument (sizes, options, a method the
/// format cannot hold), buffer_too_small (ld < cols), invalid_scale (NaN/Inf weights without
/// lenient_nonfinite, a scale that overflows fp16, or NaN/Inf in the calibration data),
/// size_overflow, out_of_memory; the message names the cause.
TERNARY_API status ternarize(const float* w, int64_t rows, int64_t cols, int64_t ld,
                             const options& opt, packed_matrix* out, stats* st) noexcept;

/// Relative error ||W - W-hat||_F / ||W||_F of a packed matrix against W, accumulated in double
/// in row order (per-row sums, then rows in order; 0 for an all-zero W). NaN/Inf elements of W
/// count as 0, as in lenient mode, so this equals stats::rel_error of the ternarize() call.
TERNARY_API status relative_error(const float* w, int64_t ld, const packed_matrix& q,
                                  double* out) noexcept;

}  // namespace quant
}  // namespace ternary
