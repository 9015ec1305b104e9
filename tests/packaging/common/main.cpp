// SPDX-License-Identifier: Apache-2.0
// Consumer check shared by the packaging tests: packs a small matrix, runs ternary::gemv and
// compares it bit for bit with the reference. The int8 activation path is exact on every ISA
// (gemm.hpp), so any difference is a failure.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "ternary/build_config.hpp"
#include "ternary/ref/gemm.hpp"
#include "ternary/ternary.hpp"

// The consumer is compiled with baseline flags: ternary's per-ISA flags must not reach it.
#if defined(TERNARY_CHECK_BASELINE_FLAGS) &&                                               \
    (defined(__AVX2__) || defined(__AVX512F__) || defined(__FMA__) || defined(__BMI2__) || \
     defined(__ARM_FEATURE_DOTPROD))
#error "ISA flags of ternary's kernel translation units leaked into a consumer"
#endif

namespace {

uint32_t next_random(uint32_t* state) {
  *state = *state * 1664525u + 1013904223u;  // LCG: deterministic on every platform
  return *state >> 8;
}

int fail(const char* what, ternary::status s) {
  std::fprintf(stderr, "%s failed: %s: %s\n", what, ternary::status_name(s),
               ternary::last_error_message());
  return 1;
}

}  // namespace

int main() {
  constexpr int64_t n = 37;   // outputs: not a multiple of any SIMD row tile
  constexpr int64_t k = 300;  // inputs: not a multiple of the 256-trit block (padding path)
  uint32_t seed = 1;

  std::vector<int8_t> trits(n * k);
  for (auto& t : trits) t = static_cast<int8_t>(static_cast<int>(next_random(&seed) % 3) - 1);
  std::vector<float> scales(n);
  for (int64_t r = 0; r < n; ++r) scales[r] = 0.25f + 0.01f * static_cast<float>(r);
  std::vector<float> x(k);
  for (auto& v : x)
    v = static_cast<float>(static_cast<int>(next_random(&seed) % 2001) - 1000) / 250.f;

  ternary::matrix_desc d;
  d.fmt = ternary::format::bits2;
  d.rows = n;
  d.cols = k;
  d.granularity = ternary::scale_granularity::per_row;
  ternary::packed_matrix w;
  ternary::status s = ternary::packed_matrix::pack(d, trits.data(), k, scales.data(), nullptr, &w);
  if (s != ternary::status::ok) return fail("pack", s);

  std::vector<float> y(n);
  s = ternary::gemv(w, x.data(), y.data());
  if (s != ternary::status::ok) return fail("gemv", s);

  std::vector<int8_t> xq(k);
  float x_scale = 0.f;
  s = ternary::quantize_activations(x.data(), 1, k, k, xq.data(), k, &x_scale);
  if (s != ternary::status::ok) return fail("quantize_activations", s);
  std::vector<float> y_ref(n);
  ternary::ref::gemm_int8(w.view(), xq.data(), &x_scale, 1, k, y_ref.data(), n, 0, n);

  for (int64_t r = 0; r < n; ++r) {
    if (std::memcmp(&y[r], &y_ref[r], sizeof(float)) != 0) {
      std::fprintf(stderr, "mismatch at row %lld: gemv %.9g, reference %.9g (isa %s)\n",
                   static_cast<long long>(r), y[r], y_ref[r],
                   ternary::isa_name(ternary::active_isa()));
      return 1;
    }
  }
  if (std::strcmp(ternary::version_string(), TERNARY_VERSION_STRING) != 0) {
    std::fprintf(stderr, "library version %s != header version %s\n", ternary::version_string(),
                 TERNARY_VERSION_STRING);
    return 1;
  }
  std::printf("ok: ternary %s, %lldx%lld bits2, isa %s, kernel %s, built ISAs %s, CUDA %d\n",
              ternary::version_string(), static_cast<long long>(n), static_cast<long long>(k),
              ternary::isa_name(ternary::active_isa()),
              ternary::kernel_name(w, ternary::act_type::int8), TERNARY_BUILT_CPU_ISAS,
              TERNARY_BUILT_WITH_CUDA);
  return 0;
}
