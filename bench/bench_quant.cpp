// SPDX-License-Identifier: Apache-2.0
// Offline ternarizers (ternary::quant, docs/QUANT.md) on 4096 x 4096 i.i.d. matrices:
//   BM_quant_quality/<method>/<dist>[/g128]   one call (all hardware threads); counters
//       rel_error (||W - W-hat||_F / ||W||_F), reference (the value of the reference table,
//       independent computation, sampling noise ~2e-4), delta = rel_error - reference,
//       zero_fraction_0/1, bits_per_weight, iterations_mean (PTQTP).
//   BM_quant_time/<method>[/g128]             single thread, Gaussian, wall time per call;
//       counter Mweights_per_s.
// Per-row scales unless the name ends in /g128 (per group of 128 columns). Matrices are made
// once per distribution, outside the timed region. These benchmarks register themselves at
// static initialization (they need nothing from the suite flags).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "ternary/quant.hpp"
#include "ternary/ternary.hpp"

namespace {

namespace tq = ternary::quant;
using tq::method;

constexpr int64_t kRows = 4096, kCols = 4096;

enum class dist { gaussian, laplace };
const char* dist_name(dist d) { return d == dist::gaussian ? "gaussian" : "laplace"; }

// splitmix64 stream; N(0,1) by Box-Muller, unit-variance Laplace by the inverse CDF.
const std::vector<float>& matrix(dist d) {
  static std::vector<float> cache[2];
  std::vector<float>& w = cache[d == dist::gaussian ? 0 : 1];
  if (!w.empty()) return w;
  w.resize(static_cast<size_t>(kRows * kCols));
  uint64_t state = d == dist::gaussian ? 20260123u : 20260124u;
  auto unit = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (static_cast<double>(z >> 11) + 0.5) * 0x1p-53;
  };
  for (float& x : w) {
    if (d == dist::gaussian) {
      const double u1 = unit(), u2 = unit();
      x = static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    } else {
      const double u = unit() - 0.5;
      x = static_cast<float>(-(u < 0 ? -1.0 : 1.0) * std::log(1.0 - 2.0 * std::fabs(u)) /
                             std::sqrt(2.0));
    }
  }
  return w;
}

// Reference relative errors, 4096 x 4096 (reference/algorithms.md, section D); -1 when none.
double reference(method m, dist d, bool g128) {
  const bool g = d == dist::gaussian;
  if (g128) {
    switch (m) {
      case method::ptqtp: return g ? 0.1676 : 0.2222;
      case method::ptqtp_global: return g ? 0.1591 : 0.1982;
      default: return -1;
    }
  }
  switch (m) {
    case method::twn: return g ? 0.4376 : 0.5313;
    case method::optimal: return g ? 0.4360 : 0.5138;
    case method::absmean: return g ? 0.5131 : 0.6271;
    case method::ttq: return g ? 0.5260 : 0.5759;
    case method::ttq_optimal: return g ? 0.4359 : 0.5136;
    case method::ptqtp: return g ? 0.1730 : 0.2352;
    case method::ptqtp_global: return g ? 0.1699 : 0.2186;
    case method::sherry: return g ? 0.5336 : 0.6433;
  }
  return -1;
}

tq::options options_for(method m, bool g128, int threads) {
  tq::options o;
  o.algo = m;
  o.fmt = m == method::sherry ? ternary::format::sherry : ternary::format::bits2;
  if (g128) {
    o.granularity = ternary::scale_granularity::per_group;
    o.group_size = 128;
  }
  o.threads = threads;
  return o;
}

void run_quality(benchmark::State& state, method m, dist d, bool g128) {
  const std::vector<float>& w = matrix(d);
  const tq::options o = options_for(m, g128, 0);
  tq::stats st;
  for (auto _ : state) {
    ternary::packed_matrix q;
    if (tq::ternarize(w.data(), kRows, kCols, kCols, o, &q, &st) != ternary::status::ok) {
      state.SkipWithError(ternary::last_error_message());
      return;
    }
    benchmark::DoNotOptimize(q.storage());
  }
  const double ref = reference(m, d, g128);
  state.counters["rel_error"] = st.rel_error;
  state.counters["reference"] = ref;
  state.counters["delta"] = ref >= 0 ? st.rel_error - ref : 0.0;
  state.counters["zero_fraction_0"] = st.zero_fraction[0];
  state.counters["zero_fraction_1"] = st.zero_fraction[1];
  state.counters["bits_per_weight"] = st.bits_per_weight;
  state.counters["iterations_mean"] = st.iterations_mean;
}

void run_time(benchmark::State& state, method m, bool g128) {
  const std::vector<float>& w = matrix(dist::gaussian);
  const tq::options o = options_for(m, g128, 1);
  for (auto _ : state) {
    ternary::packed_matrix q;
    if (tq::ternarize(w.data(), kRows, kCols, kCols, o, &q, nullptr) != ternary::status::ok) {
      state.SkipWithError(ternary::last_error_message());
      return;
    }
    benchmark::DoNotOptimize(q.storage());
  }
  state.counters["Mweights_per_s"] = benchmark::Counter(
      static_cast<double>(kRows * kCols) * 1e-6 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

int register_quant_benchmarks() {
  constexpr method methods[] = {method::twn,          method::optimal,     method::absmean,
                                method::ttq,          method::ttq_optimal, method::ptqtp,
                                method::ptqtp_global, method::sherry};
  for (method m : methods) {
    const bool ptqtp = m == method::ptqtp || m == method::ptqtp_global;
    for (dist d : {dist::gaussian, dist::laplace}) {
      for (bool g128 : {false, true}) {
        if (g128 && !ptqtp) continue;
        const std::string name = std::string("BM_quant_quality/") + tq::method_name(m) + "/" +
                                 dist_name(d) + (g128 ? "/g128" : "");
        benchmark::RegisterBenchmark(
            name.c_str(), [m, d, g128](benchmark::State& s) { run_quality(s, m, d, g128); })
            ->Iterations(1)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  for (method m : methods) {
    const bool ptqtp = m == method::ptqtp || m == method::ptqtp_global;
    for (bool g128 : {false, true}) {
      if (g128 && !ptqtp) continue;
      const std::string name =
          std::string("BM_quant_time/") + tq::method_name(m) + (g128 ? "/g128" : "");
      benchmark::RegisterBenchmark(name.c_str(),
                                   [m, g128](benchmark::State& s) { run_time(s, m, g128); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  return 0;
}

[[maybe_unused]] const int registered = register_quant_benchmarks();

}  // namespace
