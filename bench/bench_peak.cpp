// SPDX-License-Identifier: Apache-2.0
// Registers the vpdpbusd peak microbenchmark (1 and 2 threads) when this build has the VNNI loop
// (bench_peak_vnni.cpp) and the CPU runs it. Compiled at baseline flags: the CPU check here
// must not execute an AVX-512 instruction itself.
//
// GOPS counts 2 operations (multiply, add) per byte lane: 128 per `vpdpbusd zmm`.
#include <cstdint>
#include <string>

#include "bench_common.hpp"

namespace ternary_bench {

#if defined(TERNARY_BENCH_HAVE_VNNI_PEAK)
extern const int vpdpbusd_per_round;
int64_t vpdpbusd_zmm_rounds(int64_t rounds);

namespace {

constexpr int64_t rounds_per_iteration = 1 << 16;

void run_peak(benchmark::State& st, int threads) {
  int64_t sinks[2] = {0, 0};
  part_runner runner(threads,
                     [&](int part) { sinks[part] += vpdpbusd_zmm_rounds(rounds_per_iteration); });
  runner.run();
  for (auto _ : st) runner.run();
  benchmark::DoNotOptimize(sinks[0] + sinks[1]);
  const double ops = 128.0 * vpdpbusd_per_round * static_cast<double>(rounds_per_iteration) *
                     static_cast<double>(threads);
  st.counters["GOPS"] = benchmark::Counter(ops * static_cast<double>(st.iterations()) / 1e9,
                                           benchmark::Counter::kIsRate);
  st.SetLabel("vpdpbusd zmm x" + std::to_string(vpdpbusd_per_round) + " accumulators");
}

}  // namespace

bool vnni_peak_available() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

void register_peak_benchmarks() {
  if (!vnni_peak_available()) return;
  for (int threads : current_suite().threads) {
    const std::string name = "BM_vpdpbusd_peak/zmm/threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark(name.c_str(),
                                 [threads](benchmark::State& st) { run_peak(st, threads); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

#else

bool vnni_peak_available() { return false; }
void register_peak_benchmarks() {}

#endif

}  // namespace ternary_bench
