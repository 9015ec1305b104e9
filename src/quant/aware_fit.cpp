// SPDX-License-Identifier: Apache-2.0
// The two steps of the activation-aware ternarizer (docs/QUANT_AWARE.md): the least-squares
// scale refit under the Gram metric and the GPTQ-style error-feedback pass (Frantar et al.,
// 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers").
#include <cfloat>
#include <cmath>
#include <limits>

#include "quant/aware_internal.hpp"
#include <Eigen/Cholesky>

#include "ternary/half.hpp"

namespace ternary {
namespace quant {
namespace detail {
namespace aware {

namespace {

int64_t blocks_of(int64_t n, int64_t b) { return (n + b - 1) / b; }

int64_t unit_len(const problem& p, int64_t g) { return std::min(p.group, p.k - g * p.group); }

// Double-precision dot product of two float vectors, four partial sums in a fixed order.
double dot(const float* a, const float* b, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    s0 += static_cast<double>(a[j]) * static_cast<double>(b[j]);
    s1 += static_cast<double>(a[j + 1]) * static_cast<double>(b[j + 1]);
    s2 += static_cast<double>(a[j + 2]) * static_cast<double>(b[j + 2]);
    s3 += static_cast<double>(a[j + 3]) * static_cast<double>(b[j + 3]);
  }
  for (; j < n; ++j) s0 += static_cast<double>(a[j]) * static_cast<double>(b[j]);
  return (s0 + s1) + (s2 + s3);
}

// W-hat at (row, col) exactly as packed_matrix::dequantize() forms it.
float dequant(const problem& p, const state& s, int64_t row, int64_t col) {
  const int64_t g = col / p.group;
  const size_t i = static_cast<size_t>(row * p.k + col);
  float v = 0.0f;
  for (int pl = 0; pl < p.planes; ++pl)
    v += static_cast<float>(s.trits[pl][i]) *
         s.scales[pl][static_cast<size_t>(p.scale_index(row, g))];
  return v;
}

// Nearest level for the scales (a0, a1) of one unit. Ties go to the sparser code (zero first),
// then to the finer plane. q is the dequantized value in dequantize()'s arithmetic.
void pick(level_kind kind, float v, float a0, float a1, int8_t* t0, int8_t* t1, float* q) {
  *t0 = 0;
  *t1 = 0;
  *q = 0.0f;
  switch (kind) {
    case level_kind::symmetric:
    case level_kind::sherry: {
      const int8_t sg = v < 0 ? -1 : 1;
      const float lv = static_cast<float>(sg) * a0;
      if (std::fabs(v - lv) < std::fabs(v)) {
        *t0 = sg;
        *q = lv;
      }
      return;
    }
    case level_kind::ttq: {
      if (v > 0) {
        if (std::fabs(v - a0) < std::fabs(v)) {
          *t0 = 1;
          *q = a0;
        }
      } else if (v < 0) {
        const float lv = 0.0f + -1.0f * a1;
        if (std::fabs(v - lv) < std::fabs(v)) {
          *t1 = -1;
          *q = lv;
        }
      }
      return;
    }
    case level_kind::two_plane: {
      // (t1, t2) in order: zero; one non-zero (finer plane first); two non-zeros.
      static const int8_t codes[9][2] = {{0, 0},  {0, 1},  {0, -1}, {1, 0},  {-1, 0},
                                         {1, -1}, {-1, 1}, {1, 1},  {-1, -1}};
      float best = std::fabs(v);
      for (int c = 1; c < 9; ++c) {
        float lv = 0.0f;
        lv += static_cast<float>(codes[c][0]) * a0;
        lv += static_cast<float>(codes[c][1]) * a1;
        const float d = std::fabs(v - lv);
        if (d < best) {
          best = d;
          *t0 = codes[c][0];
          *t1 = codes[c][1];
          *q = lv;
        }
      }
      return;
    }
  }
}

// Least squares A x = b over the units that hold a non-zero trit. A relative ridge of 1e-10
// keeps dependent units (two planes equal up to sign inside a unit) solvable; `nonneg` drops the
// units that come out negative and solves again (TTQ keeps the sign of each plane).
void solve_units(int64_t mu, const double* a, const double* b, const int64_t* nnz, bool nonneg,
                 double* x) {
  std::vector<int64_t> act;
  for (int64_t u = 0; u < mu; ++u) {
    x[u] = 0;
    if (nnz[u] > 0) act.push_back(u);
  }
  while (!act.empty()) {
    const Eigen::Index n = static_cast<Eigen::Index>(act.size());
    Eigen::MatrixXd m(n, n);
    Eigen::VectorXd r(n);
    double dmax = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      for (Eigen::Index j = 0; j < n; ++j)
        m(i, j) = a[act[static_cast<size_t>(i)] * mu + act[static_cast<size_t>(j)]];
      r(i) = b[act[static_cast<size_t>(i)]];
      dmax = std::max(dmax, m(i, i));
    }
    if (!(dmax > 0) || !std::isfinite(dmax)) return;
    m.diagonal().array() += 1e-10 * dmax;
    Eigen::VectorXd sol;
    Eigen::LLT<Eigen::MatrixXd> llt(m);
    if (llt.info() == Eigen::Success)
      sol = llt.solve(r);
    else
      sol = m.ldlt().solve(r);
    for (Eigen::Index i = 0; i < n; ++i)
      if (!std::isfinite(sol(i))) return;  // x stays 0: never better, never chosen
    if (nonneg) {
      std::vector<int64_t> keep;
      for (Eigen::Index i = 0; i < n; ++i)
        if (sol(i) >= 0) keep.push_back(act[static_cast<size_t>(i)]);
      if (static_cast<Eigen::Index>(keep.size()) < n) {
        act.swap(keep);
        continue;
      }
    }
    for (Eigen::Index i = 0; i < n; ++i) x[act[static_cast<size_t>(i)]] = sol(i);
    return;
  }
}

// w^T H0 w - 2 x^T b0 + x^T A0 x.
double quad_error(int64_t mu, double whw, const double* a0, const double* b0, const double* x) {
  double lin = 0, quad = 0;
  for (int64_t u = 0; u < mu; ++u) {
    lin += x[u] * b0[u];
    double row = 0;
    for (int64_t v = 0; v < mu; ++v) row += a0[u * mu + v] * x[v];
    quad += x[u] * row;
  }
  return whw - 2.0 * lin + quad;
}

void flip_unit(const problem& p, state* s, int pl, int64_t row, int64_t g) {
  int8_t* t = s->trits[pl].data() + row * p.k + g * p.group;
  for (int64_t j = 0, n = unit_len(p, g); j < n; ++j) t[j] = static_cast<int8_t>(-t[j]);
}

void zero_unit(const problem& p, state* s, int pl, int64_t row, int64_t g) {
  int8_t* t = s->trits[pl].data() + row * p.k + g * p.group;
  for (int64_t j = 0, n = unit_len(p, g); j < n; ++j) t[j] = 0;
}

void swap_unit(const problem& p, state* s, int64_t row, int64_t g) {
  int8_t* t0 = s->trits[0].data() + row * p.k + g * p.group;
  int8_t* t1 = s->trits[1].data() + row * p.k + g * p.group;
  for (int64_t j = 0, n = unit_len(p, g); j < n; ++j) std::swap(t0[j], t1[j]);
}

// Makes the (rounded, signed) scales x of rows [row_begin, row_end) canonical: non-negative
// scales (trits of a negative unit flipped), PTQTP planes ordered a1 >= a2, and the trits of a
// zero-scale unit zeroed (Sherry keeps its 3:4 pattern). Stores the scales when `store` (a
// per_tensor scale is shared by every row, so its row blocks leave the store to the caller).
void canonicalize(const problem& p, state* s, int64_t row_begin, int64_t row_end, const double* x,
                  bool store) {
  for (int64_t g = 0; g < p.gpr; ++g) {
    double a[2] = {x[g], p.planes > 1 ? x[p.gpr + g] : 0.0};
    bool flip[2] = {false, false};
    bool swap = false;
    for (int pl = 0; pl < p.planes; ++pl) {
      if (a[pl] < 0) {
        flip[pl] = true;
        a[pl] = -a[pl];
      }
    }
    if (p.kind == level_kind::two_plane && a[1] > a[0]) {
      swap = true;
      std::swap(a[0], a[1]);
    }
    for (int64_t row = row_begin; row < row_end; ++row) {
      for (int pl = 0; pl < p.planes; ++pl)
        if (flip[pl]) flip_unit(p, s, pl, row, g);
      if (swap) swap_unit(p, s, row, g);
      for (int pl = 0; pl < p.planes; ++pl) {
        if (!(a[pl] > 0) && p.kind != level_kind::sherry) zero_unit(p, s, pl, row, g);
        if (store)
          s->scales[pl][static_cast<size_t>(p.scale_index(row, g))] =
              a[pl] > 0 ? static_cast<float>(a[pl]) : 0.0f;
      }
    }
  }
}

}  // namespace

float round_scale(double v, scale_type t) {
  float f = std::fabs(v) <= static_cast<double>(FLT_MAX)
                ? static_cast<float>(v)
                : std::copysign(FLT_MAX, static_cast<float>(v));
  if (t == scale_type::f16) {
    uint16_t h = float_to_half(f);
    if ((h & 0x7fffu) >= 0x7c00u) h = static_cast<uint16_t>((h & 0x8000u) | 0x7bffu);
    f = half_to_float(h);
  }
  return f;
}

void prepare(problem* p) {
  const int64_t n = p->n, k = p->k;
  p->hw.resize(n, k);
  p->whw.assign(static_cast<size_t>(n), 0.0);
  const Eigen::Map<const mat_f> w(p->w, n, k);
  parallel_for(blocks_of(n, row_block), p->threads, [&](int64_t bi) {
    const int64_t r0 = bi * row_block, rn = std::min(row_block, n - r0);
    p->hw.middleRows(r0, rn).noalias() = w.middleRows(r0, rn) * p->m->h0;
    for (int64_t r = r0; r < r0 + rn; ++r)
      p->whw[static_cast<size_t>(r)] = dot(p->w + r * k, p->hw.row(r).data(), k);
  });
}

refit_result refit(const problem& p, state* s) {
  const int64_t n = p.n, k = p.k, gpr = p.gpr;
  const int planes = p.planes;
  const int64_t mu = planes * gpr;
  const bool tensor = p.granularity == scale_granularity::per_tensor;
  const bool nonneg = p.kind == level_kind::ttq;
  const double* shift = p.m->shift.data();
  // Rows per work item: keeps the per-item systems (two mu x mu per row) near 32 MiB.
  const int64_t rb = std::max<int64_t>(1, std::min<int64_t>(row_block, 2000000 / (mu * mu)));
  std::vector<double> before(static_cast<size_t>(n)), after(static_cast<size_t>(n));
  // per_tensor: the per-row systems, summed in row order afterwards.
  std::vector<double> t_ad, t_bd, t_a0, t_b0;
  std::vector<int64_t> t_nnz;
  if (tensor) {
    t_ad.assign(static_cast<size_t>(n * mu * mu), 0);
    t_a0.assign(static_cast<size_t>(n * mu * mu), 0);
    t_bd.assign(static_cast<size_t>(n * mu), 0);
    t_b0.assign(static_cast<size_t>(n * mu), 0);
    t_nnz.assign(static_cast<size_t>(n * mu), 0);
  }

  parallel_for(blocks_of(n, rb), p.threads, [&](int64_t bi) {
    const int64_t r0 = bi * rb, rn = std::min(rb, n - r0);
    mat_f tf[2];
    for (int pl = 0; pl < planes; ++pl) {
      tf[pl].resize(rn, k);
      const int8_t* src = s->trits[pl].data() + r0 * k;
      for (int64_t i = 0; i < rn * k; ++i) tf[pl].data()[i] = static_cast<float>(src[i]);
    }
    mat_f c(rn, k);
    std::vector<double> a0(static_cast<size_t>(rn * mu * mu), 0.0);
    std::vector<double> b0(static_cast<size_t>(rn * mu), 0.0);
    // A0[u][v] = t_u^T H0 t_v and b0[u] = t_u^T H0 w, with C = T_u H0 (all rows of the item).
    for (int pl = 0; pl < planes; ++pl) {
      for (int64_t g = 0; g < gpr; ++g) {
        const int64_t g0 = g * p.group, gl = unit_len(p, g), u = pl * gpr + g;
        // Only the units v >= u are needed (A0 is symmetric): in the last plane, the columns
        // from g0 on.
        const int64_t cs = pl == planes - 1 ? g0 : 0;
        c.rightCols(k - cs).noalias() =
            tf[pl].middleCols(g0, gl) * p.m->h0.block(g0, cs, gl, k - cs);
        for (int64_t r = 0; r < rn; ++r) {
          const float* cr = c.row(r).data();
          double* ar = a0.data() + r * mu * mu;
          for (int p2 = pl; p2 < planes; ++p2) {
            for (int64_t g2 = (p2 == pl ? g : 0); g2 < gpr; ++g2) {
              const int64_t v = p2 * gpr + g2, c0 = g2 * p.group;
              const double d = dot(cr + c0, tf[p2].row(r).data() + c0, unit_len(p, g2));
              ar[u * mu + v] = d;
              ar[v * mu + u] = d;
            }
          }
          b0[static_cast<size_t>(r * mu + u)] =
              dot(tf[pl].row(r).data() + g0, p.hw.row(r0 + r).data() + g0, gl);
        }
      }
    }
    std::vector<double> ad(static_cast<size_t>(mu * mu)), bd(static_cast<size_t>(mu));
    std::vector<double> x(static_cast<size_t>(mu)), xold(static_cast<size_t>(mu));
    std::vector<int64_t> nnz(static_cast<size_t>(mu));
    for (int64_t r = 0; r < rn; ++r) {
      const int64_t row = r0 + r;
      const double* ar = a0.data() + r * mu * mu;
      const double* br = b0.data() + r * mu;
      const float* wr = p.w + row * k;
      std::copy(ar, ar + mu * mu, ad.begin());
      std::copy(br, br + mu, bd.begin());
      // Damped system: Hd = H0 + diag(shift) only couples a unit with itself and with the other
      // plane of the same columns.
      for (int64_t g = 0; g < gpr; ++g) {
        const int64_t g0 = g * p.group, gl = unit_len(p, g);
        for (int pl = 0; pl < planes; ++pl) {
          const float* t = tf[pl].row(r).data();
          const int64_t u = pl * gpr + g;
          double sb = 0;
          int64_t cnt = 0;
          for (int64_t j = g0; j < g0 + gl; ++j) {
            sb += static_cast<double>(t[j]) * static_cast<double>(wr[j]) * shift[j];
            cnt += t[j] != 0.0f;
          }
          bd[static_cast<size_t>(u)] += sb;
          nnz[static_cast<size_t>(u)] = cnt;
          for (int p2 = pl; p2 < planes; ++p2) {
            const float* t2 = tf[p2].row(r).data();
            const int64_t v = p2 * gpr + g;
            double sa = 0;
            for (int64_t j = g0; j < g0 + gl; ++j)
              sa += static_cast<double>(t[j]) * static_cast<double>(t2[j]) * shift[j];
            ad[static_cast<size_t>(u * mu + v)] += sa;
            if (v != u) ad[static_cast<size_t>(v * mu + u)] += sa;
          }
        }
      }
      for (int pl = 0; pl < planes; ++pl)
        for (int64_t g = 0; g < gpr; ++g)
          xold[static_cast<size_t>(pl * gpr + g)] =
              s->scales[pl][static_cast<size_t>(p.scale_index(row, g))];
      const double whw = p.whw[static_cast<size_t>(row)];
      before[static_cast<size_t>(row)] = quad_error(mu, whw, ar, br, xold.data());
      if (tensor) {
        std::copy(ad.begin(), ad.end(), t_ad.begin() + row * mu * mu);
        std::copy(ar, ar + mu * mu, t_a0.begin() + row * mu * mu);
        std::copy(bd.begin(), bd.end(), t_bd.begin() + row * mu);
        std::copy(br, br + mu, t_b0.begin() + row * mu);
        std::copy(nnz.begin(), nnz.end(), t_nnz.begin() + row * mu);
        continue;
      }
      solve_units(mu, ad.data(), bd.data(), nnz.data(), nonneg, x.data());
      for (double& v : x) v = static_cast<double>(round_scale(v, p.dtype));
      after[static_cast<size_t>(row)] = quad_error(mu, whw, ar, br, x.data());
      canonicalize(p, s, row, row + 1, x.data(), true);
    }
  });

  refit_result res;
  for (double v : before) res.before += v;
  if (!tensor) {
    for (double v : after) res.after += v;
    return res;
  }
  std::vector<double> ad(static_cast<size_t>(mu * mu), 0), a0(static_cast<size_t>(mu * mu), 0);
  std::vector<double> bd(static_cast<size_t>(mu), 0), b0(static_cast<size_t>(mu), 0);
  std::vector<double> x(static_cast<size_t>(mu));
  std::vector<int64_t> nnz(static_cast<size_t>(mu), 0);
  double whw = 0;
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t i = 0; i < mu * mu; ++i) {
      ad[static_cast<size_t>(i)] += t_ad[static_cast<size_t>(row * mu * mu + i)];
      a0[static_cast<size_t>(i)] += t_a0[static_cast<size_t>(row * mu * mu + i)];
    }
    for (int64_t i = 0; i < mu; ++i) {
      bd[static_cast<size_t>(i)] += t_bd[static_cast<size_t>(row * mu + i)];
      b0[static_cast<size_t>(i)] += t_b0[static_cast<size_t>(row * mu + i)];
      nnz[static_cast<size_t>(i)] += t_nnz[static_cast<size_t>(row * mu + i)];
    }
    whw += p.whw[static_cast<size_t>(row)];
  }
  solve_units(mu, ad.data(), bd.data(), nnz.data(), nonneg, x.data());
  for (double& v : x) v = static_cast<double>(round_scale(v, p.dtype));
  res.after = quad_error(mu, whw, a0.data(), b0.data(), x.data());
  parallel_for(blocks_of(n, row_block), p.threads, [&](int64_t bi) {
    const int64_t r0 = bi * row_block;
    canonicalize(p, s, r0, std::min(n, r0 + row_block), x.data(), false);
  });
  // The shared scales, canonical as canonicalize() makes them.
  for (int pl = 0; pl < planes; ++pl) {
    double a[2] = {std::fabs(x[0]), planes > 1 ? std::fabs(x[1]) : 0.0};
    if (p.kind == level_kind::two_plane && a[1] > a[0]) std::swap(a[0], a[1]);
    s->scales[pl][0] = a[pl] > 0 ? static_cast<float>(a[pl]) : 0.0f;
  }
  return res;
}

void error_feedback(const problem& p, state* s) {
  const int64_t n = p.n, k = p.k;
  const metric& m = *p.m;
  const int64_t* order = m.order.data();
  const bool two = p.planes > 1;
  parallel_for(blocks_of(n, row_block), p.threads, [&](int64_t bi) {
    const int64_t r0 = bi * row_block, rn = std::min(row_block, n - r0);
    mat_f wb(rn, k);  // the weights being compensated, columns in visiting order
    for (int64_t r = 0; r < rn; ++r) {
      const float* src = p.w + (r0 + r) * k;
      float* dst = wb.row(r).data();
      for (int64_t i = 0; i < k; ++i) dst[i] = src[order[i]];
    }
    mat_f err(rn, column_block);
    for (int64_t b0 = 0; b0 < k; b0 += column_block) {
      const int64_t b1 = std::min(k, b0 + column_block), bl = b1 - b0;
      if (p.kind == level_kind::sherry) {
        // 3:4 quads (the visiting order moves whole quads): for each row choose the zero lane
        // that minimizes the summed GPTQ loss sum_l ((v_l - q_l) / U_ll)^2 of the quad, the
        // lanes compensated in order inside the quad; the other lanes take the sign of their
        // value.
        for (int64_t i = b0; i < b1; i += 4) {
          const int64_t c0 = order[i];  // first column of the quad
          const int ql = static_cast<int>(std::min<int64_t>(4, k - c0));
          float uq[4][4] = {};
          for (int l = 0; l < ql; ++l)
            for (int l2 = l; l2 < ql; ++l2) uq[l][l2] = m.u(i + l, i + l2);
          for (int64_t r = 0; r < rn; ++r) {
            const int64_t row = r0 + r;
            const float a = s->scales[0][static_cast<size_t>(p.scale_index(row, c0 / p.group))];
            float v[4] = {};
            for (int l = 0; l < ql; ++l) v[l] = wb(r, i + l);
            int forced = -1;
            if (p.bad) {
              for (int l = 0; l < ql && forced < 0; ++l)
                if (p.bad[row * k + c0 + l]) forced = l;
            }
            int choices[5];
            int nc = 0;
            if (forced >= 0) {
              choices[nc++] = forced;
            } else {
              if (ql < 4) choices[nc++] = -1;  // the padding holds the zero
              for (int l = 0; l < ql; ++l) choices[nc++] = l;
            }
            float es[4] = {};
            int8_t ts[4] = {};
            auto run = [&](int z) {
              float vv[4] = {v[0], v[1], v[2], v[3]};
              double loss = 0;
              for (int l = 0; l < ql; ++l) {
                const int8_t t = l == z ? 0 : (vv[l] < 0 ? -1 : 1);
                const float q = static_cast<float>(t) * a;
                const float e = (vv[l] - q) / uq[l][l];
                loss += static_cast<double>(e) * static_cast<double>(e);
                for (int l2 = l + 1; l2 < ql; ++l2) vv[l2] -= e * uq[l][l2];
                es[l] = e;
                ts[l] = t;
              }
              return loss;
            };
            int best = choices[0];
            double best_loss = std::numeric_limits<double>::infinity();
            for (int ci = 0; ci < nc; ++ci) {
              const double loss = run(choices[ci]);
              if (loss < best_loss) {
                best_loss = loss;
                best = choices[ci];
              }
            }
            run(best);
            float* wr = wb.row(r).data();
            for (int l = 0; l < ql; ++l) {
              s->trits[0][static_cast<size_t>(row * k + c0 + l)] = ts[l];
              err(r, i + l - b0) = es[l];
              const float* ui = m.u.row(i + l).data();
              for (int64_t j = i + ql; j < b1; ++j) wr[j] -= es[l] * ui[j];
            }
          }
        }
      } else {
        for (int64_t i = b0; i < b1; ++i) {
          const float* ui = m.u.row(i).data();
          const float uii = ui[i];
          const int64_t col = order[i], g = col / p.group;
          for (int64_t r = 0; r < rn; ++r) {
            const int64_t row = r0 + r;
            const size_t si = static_cast<size_t>(p.scale_index(row, g));
            float* wr = wb.row(r).data();
            const float v = wr[i];
            int8_t t0 = 0, t1 = 0;
            float q = 0.0f;
            if (!(p.bad && p.bad[row * k + col]))
              pick(p.kind, v, s->scales[0][si], two ? s->scales[1][si] : 0.0f, &t0, &t1, &q);
            s->trits[0][static_cast<size_t>(row * k + col)] = t0;
            if (two) s->trits[1][static_cast<size_t>(row * k + col)] = t1;
            const float e = (v - q) / uii;
            err(r, i - b0) = e;
            for (int64_t j = i + 1; j < b1; ++j) wr[j] -= e * ui[j];
          }
        }
      }
      if (b1 < k)
        wb.rightCols(k - b1).noalias() -= err.leftCols(bl) * m.u.block(b0, b1, bl, k - b1);
    }
  });
}

double output_error2(const problem& p, const state& s) {
  const int64_t n = p.n, k = p.k;
  std::vector<double> rows(static_cast<size_t>(n), 0.0);
  parallel_for(blocks_of(n, row_block), p.threads, [&](int64_t bi) {
    const int64_t r0 = bi * row_block, rn = std::min(row_block, n - r0);
    mat_f e(rn, k);
    for (int64_t r = 0; r < rn; ++r)
      for (int64_t j = 0; j < k; ++j) e(r, j) = p.w[(r0 + r) * k + j] - dequant(p, s, r0 + r, j);
    const mat_f y = e * p.m->h0;
    for (int64_t r = 0; r < rn; ++r)
      rows[static_cast<size_t>(r0 + r)] = dot(e.row(r).data(), y.row(r).data(), k);
  });
  double total = 0;
  for (double v : rows) total += v;
  return total;
}

}  // namespace aware
}  // namespace detail
}  // namespace quant
}  // namespace ternary
