// SPDX-License-Identifier: Apache-2.0
// Internals of the activation-aware ternarizer (docs/QUANT_AWARE.md): the Gram matrix and the
// inverse-Hessian factor (aware_gram.cpp), the scale refit and the error-feedback pass
// (aware_fit.cpp). Everything here may throw std::bad_alloc; aware.cpp catches it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <Eigen/Core>

#include "ternary/quant.hpp"

namespace ternary {
namespace quant {
namespace detail {
namespace aware {

using mat_f = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using mat_d = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

/// Rows per work item of every row-parallel pass. Fixed (never derived from the thread count),
/// so each row sees the same arithmetic for any number of threads.
constexpr int64_t row_block = 64;
/// Columns per lazy update of the error-feedback pass (GPTQ's block size).
constexpr int64_t column_block = 128;

/// Runs fn(i) for i in [0, count) on up to `threads` threads (the caller included). fn must write
/// only outputs owned by item i; results then never depend on the thread count. The first
/// exception thrown by an item is rethrown here after every thread joined.
template <class F>
void parallel_for(int64_t count, int threads, const F& fn) {
  if (count <= 0) return;
  const int64_t t = std::min<int64_t>(std::max(threads, 1), count);
  if (t <= 1) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&]() noexcept {
    try {
      for (;;) {
        const int64_t i = next.fetch_add(1);
        if (i >= count) break;
        fn(i);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next.store(count);
    }
  };
  std::vector<std::thread> pool;
  try {
    pool.reserve(static_cast<size_t>(t - 1));
    for (int64_t i = 0; i + 1 < t; ++i) pool.emplace_back(work);
  } catch (...) {
    // Fewer threads than asked: the items still all run (on the threads that exist).
  }
  work();
  for (std::thread& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

/// How the levels of one scale unit are formed from the planes.
enum class level_kind {
  symmetric,  ///< one plane: {0, ±a}
  ttq,        ///< plane 0 in {0,+1} (scale W_p), plane 1 in {0,-1} (scale W_n)
  two_plane,  ///< PTQTP: a1·t1 + a2·t2, canonical a1 >= a2 >= 0
  sherry,     ///< one plane with the 3:4 constraint per quad of columns
};

/// The calibration metric: H0 (the Gram matrix, undamped, rounded to fp32 so that activations
/// and their Gram matrix give identical results), the diagonal that damping and dead inputs add
/// (Hd = H0 + diag(shift)), and the upper Cholesky factor U of Hd^-1 in the order the
/// error-feedback pass visits the columns.
struct metric {
  int64_t k = 0;
  mat_f h0;                    // K x K
  std::vector<double> shift;   // K: Hd_ii - H0_ii (exact in double)
  double lambda = 0;           // damp · mean(diag H0 over live inputs)
  int64_t dead = 0;            // inputs with H0_ii == 0
  std::vector<int64_t> order;  // column visited at step i of the error-feedback pass
  mat_f u;                     // K x K, upper triangle used; empty until factorize()
};

/// Everything the refit and the error-feedback pass need about the problem.
struct problem {
  int64_t n = 0, k = 0;
  int planes = 1;
  level_kind kind = level_kind::symmetric;
  scale_granularity granularity = scale_granularity::per_row;
  int64_t group = 0;  // columns per scale unit along a row (K unless per_group)
  int64_t gpr = 1;    // scale units per row and plane
  scale_type dtype = scale_type::f32;
  int threads = 1;
  const float* w = nullptr;      // N x K, contiguous, non-finite entries replaced by 0
  const uint8_t* bad = nullptr;  // N x K non-finite mask (lenient mode), or null
  const metric* m = nullptr;
  mat_f hw;                 // N x K: W · H0
  std::vector<double> whw;  // per row: w^T H0 w

  int64_t scale_index(int64_t row, int64_t g) const {
    return granularity == scale_granularity::per_tensor ? 0
           : granularity == scale_granularity::per_row  ? row
                                                        : row * gpr + g;
  }
  int64_t scale_count() const {
    return granularity == scale_granularity::per_tensor ? 1
           : granularity == scale_granularity::per_row  ? n
                                                        : n * gpr;
  }
};

/// Trits (N x K per plane) and scales (scale_count() per plane, already rounded to the storage
/// type) of a candidate result.
struct state {
  std::vector<int8_t> trits[2];
  std::vector<float> scales[2];
};

// ---- aware_gram.cpp ----

/// H0 = X^T X accumulated in double (chunks of tokens in order, column panels in parallel), then
/// rounded to fp32 and stored exactly symmetric.
void gram_from_activations(const float* x, int64_t tokens, int64_t ld, int64_t k, int threads,
                           mat_f* h0);

/// Order in which the error-feedback pass visits the columns.
enum class column_order {
  identity,        ///< 0, 1, ..., K-1
  diagonal,        ///< decreasing H_ii ("act order"), ties by index
  diagonal_quads,  ///< whole quads of 4 by decreasing sum of H_ii (Sherry); a cut quad last
};

/// Damping, dead inputs, the column order and the factor U. Returns false when Hd is not
/// numerically positive definite (the factor is left empty).
bool factorize(metric* m, double damp, column_order order, int threads);

// ---- aware_fit.cpp ----

/// Rounds a scale to its storage type (magnitude kept, sign kept).
float round_scale(double v, scale_type t);

/// W·H0 and w^T H0 w per row (fills p->hw and p->whw).
void prepare(problem* p);

struct refit_result {
  double before = 0;  // sum over rows of (w - w-hat)^T H0 (w - w-hat) with the incoming scales
  double after = 0;   // the same with the refit scales (rounded to the storage type)
};

/// Refits every scale of `s` for its trits under the damped metric Hd (least squares, the trits
/// fixed), rounds them to the storage type and canonicalizes (flips trits of a negative unit,
/// orders PTQTP planes a1 >= a2, zero trits of a zero-scale unit). Both errors are measured under
/// H0 by the quadratic expansion.
refit_result refit(const problem& p, state* s);

/// Error-feedback pass (GPTQ): rechooses every trit of `s` column by column for the scales in
/// `s`, propagating each column's error to the columns not yet visited through U.
void error_feedback(const problem& p, state* s);

/// sum over rows of (w - w-hat)^T H0 (w - w-hat), computed directly (w-hat as dequantize() forms
/// it), rows summed in order.
double output_error2(const problem& p, const state& s);

}  // namespace aware
}  // namespace detail
}  // namespace quant
}  // namespace ternary
