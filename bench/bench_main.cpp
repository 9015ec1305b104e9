// SPDX-License-Identifier: Apache-2.0
// `ternary_bench`: every benchmark of Ternary Engine in one executable (bench_common.hpp lists
// the names). Own flags, removed before Google Benchmark parses the rest:
//   --suite=full|quick (or --quick)  the set of shapes, token counts and ISAs (default full)
//   --isas=avx512,avx2               restrict the ISAs (default: every available one)
//   --max_call_s=S                   skip a benchmark whose warm-up call takes longer (default 4)
// Typical use: scripts/bench.sh, which adds --benchmark_out=<file> --benchmark_out_format=json.
#include <cstdio>
#include <string>
#include <thread>

#include "bench_common.hpp"

int main(int argc, char** argv) {
  using namespace ternary_bench;
  if (!parse_suite_flags(&argc, argv)) return 2;
  const suite& su = current_suite();

  std::string isas;
  for (ternary::isa i : su.isas)
    isas += (isas.empty() ? "" : ",") + std::string(ternary::isa_name(i));
  benchmark::AddCustomContext("ternary_version", ternary::version_string());
  benchmark::AddCustomContext("ternary_suite", su.name);
  benchmark::AddCustomContext("ternary_isas", isas);
  benchmark::AddCustomContext("ternary_best_isa", ternary::isa_name(su.best));
  benchmark::AddCustomContext("ternary_vnni_peak", vnni_peak_available() ? "yes" : "no");
  benchmark::AddCustomContext("ternary_dram_rotation_bytes", std::to_string(dram_rotation_bytes));
  benchmark::AddCustomContext("ternary_hardware_threads",
                              std::to_string(std::thread::hardware_concurrency()));
#if defined(TERNARY_BENCH_HAVE_EIGEN)
  benchmark::AddCustomContext("ternary_eigen", "yes");
#else
  benchmark::AddCustomContext("ternary_eigen", "no");
#endif

  register_peak_benchmarks();
  for (const shape& s : su.shapes) {
    register_stream_benchmarks(s);
    register_ternary_benchmarks(s);
#if defined(TERNARY_BENCH_HAVE_EIGEN)
    register_eigen_benchmarks(s);
#endif
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
