// SPDX-License-Identifier: Apache-2.0
// Packs a random ternary 256 x 1000 matrix with per-row scales in the 2-bit format, runs
// ternary::gemv on one token and compares it with the scalar reference
// (ternary::ref::gemm_int8 on the same int8-quantized activations). The int8 path is exact, so
// the expected maximum error is 0.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "ternary/ref/gemm.hpp"
#include "ternary/ternary.hpp"

int main() {
  constexpr int64_t n = 256;   // output rows
  constexpr int64_t k = 1000;  // inputs (not a multiple of the 256-trit block)

  std::mt19937 rng(42);
  std::uniform_int_distribution<int> trit(-1, 1);
  std::uniform_real_distribution<float> scale(0.01f, 0.1f);
  std::normal_distribution<float> activation(0.f, 1.f);

  std::vector<int8_t> trits(n * k);
  for (auto& t : trits) t = static_cast<int8_t>(trit(rng));
  std::vector<float> scales(n);
  for (auto& s : scales) s = scale(rng);
  std::vector<float> x(k);
  for (auto& v : x) v = activation(rng);

  ternary::matrix_desc desc;
  desc.fmt = ternary::format::bits2;
  desc.rows = n;
  desc.cols = k;
  desc.granularity = ternary::scale_granularity::per_row;

  ternary::packed_matrix w;
  ternary::status st = ternary::packed_matrix::pack(desc, trits.data(), k, scales.data(),
                                                    /*bias=*/nullptr, &w);
  if (st != ternary::status::ok) {
    std::fprintf(stderr, "pack: %s\n", ternary::last_error_message());
    return 1;
  }

  std::vector<float> y(n);
  st = ternary::gemv(w, x.data(), y.data());
  if (st != ternary::status::ok) {
    std::fprintf(stderr, "gemv: %s\n", ternary::last_error_message());
    return 1;
  }

  // Reference: quantize the token the same way, then the scalar oracle.
  std::vector<int8_t> xq(k);
  float x_scale = 0.f;
  st = ternary::quantize_activations(x.data(), 1, k, k, xq.data(), k, &x_scale);
  if (st != ternary::status::ok) {
    std::fprintf(stderr, "quantize_activations: %s\n", ternary::last_error_message());
    return 1;
  }
  std::vector<float> y_ref(n);
  ternary::ref::gemm_int8(w.view(), xq.data(), &x_scale, 1, k, y_ref.data(), n, 0, n);

  float max_err = 0.f;
  for (int64_t r = 0; r < n; ++r) max_err = std::fmax(max_err, std::fabs(y[r] - y_ref[r]));

  std::printf("gemv %lld x %lld bits2 (%.0f bytes of weights), kernel %s\n",
              static_cast<long long>(n), static_cast<long long>(k),
              static_cast<double>(w.weight_bytes()),
              ternary::kernel_name(w, ternary::act_type::int8));
  std::printf("y[0..3] = %.6f %.6f %.6f %.6f\n", y[0], y[1], y[2], y[3]);
  std::printf("max |gemv - reference| = %g\n", max_err);
  return max_err == 0.f ? 0 : 1;
}
