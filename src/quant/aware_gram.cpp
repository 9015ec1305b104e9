// SPDX-License-Identifier: Apache-2.0
// The calibration metric of the activation-aware ternarizer: the Gram matrix of the activations,
// its damping, and the upper Cholesky factor of the damped inverse Hessian that the
// error-feedback pass needs (docs/QUANT_AWARE.md, "The metric").
#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant/aware_internal.hpp"
#include <Eigen/Cholesky>

namespace ternary {
namespace quant {
namespace detail {
namespace aware {

namespace {

using mat_d_row = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int64_t token_chunk = 1024;  // tokens converted to double at a time
constexpr int64_t panel = 128;         // columns of H per parallel work item

}  // namespace

void gram_from_activations(const float* x, int64_t tokens, int64_t ld, int64_t k, int threads,
                           mat_f* h0) {
  mat_d acc = mat_d::Zero(k, k);
  mat_d_row xc(std::min(tokens, token_chunk), k);
  const int64_t panels = (k + panel - 1) / panel;
  for (int64_t t0 = 0; t0 < tokens; t0 += token_chunk) {
    const int64_t tc = std::min(token_chunk, tokens - t0);
    parallel_for((tc + row_block - 1) / row_block, threads, [&](int64_t b) {
      const int64_t r1 = std::min(tc, (b + 1) * row_block);
      for (int64_t r = b * row_block; r < r1; ++r) {
        const float* src = x + (t0 + r) * ld;
        double* dst = xc.data() + r * k;
        for (int64_t j = 0; j < k; ++j) dst[j] = static_cast<double>(src[j]);
      }
    });
    const auto xs = xc.topRows(tc);
    // Lower triangle by column panels: H[p0:, panel] += X[:, p0:]^T X[:, panel]. Each panel is
    // one item, the chunks run in token order: the sums never depend on the thread count.
    parallel_for(panels, threads, [&](int64_t pi) {
      const int64_t p0 = pi * panel, pw = std::min(panel, k - p0);
      acc.block(p0, p0, k - p0, pw).noalias() +=
          xs.middleCols(p0, k - p0).transpose() * xs.middleCols(p0, pw);
    });
  }
  h0->resize(k, k);
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t i = j; i < k; ++i) {
      const float v = static_cast<float>(acc(i, j));
      (*h0)(i, j) = v;
      (*h0)(j, i) = v;
    }
  }
}

bool factorize(metric* m, double damp, column_order order, int threads) {
  const int64_t k = m->k;
  // Dead inputs (H0_ii == 0: the input is always zero, its weights never reach the output) get
  // only the damping on their diagonal, or the mean live diagonal when there is no damping, so
  // that Hd is invertible; their rows and columns of H0 are zero, so they stay decoupled.
  double sum = 0;
  int64_t live = 0;
  for (int64_t i = 0; i < k; ++i) {
    const double d = static_cast<double>(m->h0(i, i));
    if (d > 0) {
      sum += d;
      ++live;
    }
  }
  const double mean = live > 0 ? sum / static_cast<double>(live) : 1.0;
  m->lambda = damp * mean;
  m->dead = k - live;
  m->shift.assign(static_cast<size_t>(k), m->lambda);
  for (int64_t i = 0; i < k; ++i)
    if (!(m->h0(i, i) > 0) && !(m->lambda > 0)) m->shift[static_cast<size_t>(i)] += mean;

  m->order.resize(static_cast<size_t>(k));
  std::iota(m->order.begin(), m->order.end(), int64_t{0});
  if (order == column_order::diagonal) {
    std::stable_sort(m->order.begin(), m->order.end(),
                     [&](int64_t a, int64_t b) { return m->h0(a, a) > m->h0(b, b); });
  } else if (order == column_order::diagonal_quads) {
    // Whole quads of 4 columns by decreasing sum of H_ii; a quad cut by K stays last so that
    // every full quad starts at a multiple of 4 in the visiting order.
    const int64_t full = k / 4;
    std::vector<int64_t> quads(static_cast<size_t>(full));
    std::vector<double> weight(static_cast<size_t>(full));
    for (int64_t q = 0; q < full; ++q) {
      quads[static_cast<size_t>(q)] = q;
      double sq = 0;
      for (int64_t l = 0; l < 4; ++l) sq += static_cast<double>(m->h0(4 * q + l, 4 * q + l));
      weight[static_cast<size_t>(q)] = sq;
    }
    std::stable_sort(quads.begin(), quads.end(), [&](int64_t a, int64_t b) {
      return weight[static_cast<size_t>(a)] > weight[static_cast<size_t>(b)];
    });
    for (int64_t q = 0; q < full; ++q)
      for (int64_t l = 0; l < 4; ++l)
        m->order[static_cast<size_t>(4 * q + l)] = 4 * quads[static_cast<size_t>(q)] + l;
  }

  // U = upper Cholesky factor of Hd^-1 in the visiting order. With P the reversal permutation
  // and P·Hd·P = L·L^T, Hd^-1 = (P L^-1 P)^T (P L^-1 P) and P L^-1 P is upper triangular with a
  // positive diagonal, so U = P L^-1 P: one Cholesky factorization and one triangular inverse.
  mat_d a(k, k);
  parallel_for((k + panel - 1) / panel, threads, [&](int64_t pi) {
    const int64_t j1 = std::min(k, (pi + 1) * panel);
    for (int64_t j = pi * panel; j < j1; ++j) {
      const int64_t cj = m->order[static_cast<size_t>(k - 1 - j)];
      for (int64_t i = 0; i < k; ++i) {
        const int64_t ci = m->order[static_cast<size_t>(k - 1 - i)];
        a(i, j) = static_cast<double>(m->h0(cj, ci));  // symmetric; row cj is contiguous
      }
      a(j, j) += m->shift[static_cast<size_t>(cj)];
    }
  });
  Eigen::LLT<Eigen::Ref<mat_d>> llt(a);
  if (llt.info() != Eigen::Success) return false;
  for (int64_t i = 0; i < k; ++i)
    if (!(a(i, i) > 0) || !std::isfinite(a(i, i))) return false;

  m->u.setZero(k, k);
  bool finite = true;
  std::vector<uint8_t> block_ok(static_cast<size_t>((k + panel - 1) / panel), 1);
  parallel_for((k + panel - 1) / panel, threads, [&](int64_t bi) {
    const int64_t c0 = bi * panel, bw = std::min(panel, k - c0), n = k - c0;
    mat_d y = mat_d::Zero(n, bw);
    y.topRows(bw).setIdentity();
    a.bottomRightCorner(n, n).triangularView<Eigen::Lower>().solveInPlace(y);
    bool ok = true;
    for (int64_t c = 0; c < bw; ++c) {
      const int64_t j = k - 1 - (c0 + c);
      for (int64_t rho = c; rho < n; ++rho) {
        const double v = y(rho, c);
        const float f = static_cast<float>(v);
        if (!std::isfinite(f)) ok = false;
        m->u(k - 1 - (c0 + rho), j) = f;
      }
    }
    block_ok[static_cast<size_t>(bi)] = ok ? 1 : 0;
  });
  for (uint8_t ok : block_ok) finite = finite && ok;
  for (int64_t i = 0; i < k && finite; ++i) finite = m->u(i, i) > 0;
  if (!finite) {
    m->u.resize(0, 0);
    return false;
  }
  return true;
}

}  // namespace aware
}  // namespace detail
}  // namespace quant
}  // namespace ternary
