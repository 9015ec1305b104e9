// SPDX-License-Identifier: Apache-2.0
// Baseline: Eigen fp32 GEMV and GEMM on the same shapes, weights as a row-major
// Eigen::MatrixXf (N x K), Y = X * W^T. This file alone is compiled with -march=native (when the
// compiler has it) and OpenMP, so Eigen uses the machine's widest vectors and its own threading.
//
// Eigen parallelizes matrix-matrix products only (setNbThreads); its GEMV is single-threaded,
// so the two-thread GEMV splits the rows in two halves with an OpenMP parallel region, each half
// an ordinary Eigen GEMV. Without OpenMP only one-thread benchmarks are registered.
//
// fp32 weights are 16x the bytes of 2-bit ones: shapes whose ternary weights stay in cache may
// not as fp32 (e.g. 4096x4096 is 64 MiB), and that is part of what the comparison measures.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "bench_common.hpp"
#include <Eigen/Core>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ternary_bench {
namespace {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

#if defined(_OPENMP)
constexpr bool have_threads = true;
#else
constexpr bool have_threads = false;
#endif

const row_matrix& eigen_weights(const shape& s) {
  static std::map<std::pair<int64_t, int64_t>, std::unique_ptr<row_matrix>> cache;
  const auto key = std::make_pair(s.n, s.k);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto w = std::make_unique<row_matrix>(s.n, s.k);
  const std::vector<float> v = random_floats(static_cast<size_t>(s.n * s.k), 4242);
  std::copy(v.begin(), v.end(), w->data());
  return *cache.emplace(key, std::move(w)).first->second;
}

std::string eigen_label(const shape& s, int threads) {
  return std::string("eigen ") + std::to_string(EIGEN_WORLD_VERSION) + "." +
         std::to_string(EIGEN_MAJOR_VERSION) + "." + std::to_string(EIGEN_MINOR_VERSION) +
         " fp32 [" + Eigen::SimdInstructionSetsInUse() + "] threads:" + std::to_string(threads) +
         " " + residency(s);
}

void run_eigen_gemv(benchmark::State& st, const shape& s, int threads) {
  const row_matrix& w = eigen_weights(s);
  const std::vector<float> xv = random_floats(static_cast<size_t>(s.k), 99);
  Eigen::VectorXf x = Eigen::Map<const Eigen::VectorXf>(xv.data(), s.k);
  Eigen::VectorXf y(s.n);
  const int64_t half = (s.n / 2 + 15) / 16 * 16;
  auto call = [&] {
    if (threads < 2) {
      y.noalias() = w * x;
      return;
    }
#if defined(_OPENMP)
#pragma omp parallel num_threads(2)
    {
      const int part = omp_get_thread_num();
      const int64_t b = part == 0 ? 0 : half, e = part == 0 ? half : s.n;
      y.segment(b, e - b).noalias() = w.middleRows(b, e - b) * x;
    }
#endif
  };
  call();
  for (auto _ : st) {
    call();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_throughput_counters(st, static_cast<double>(s.n * s.k) * sizeof(float),
                          2.0 * static_cast<double>(s.n * s.k), 1);
  st.SetLabel(eigen_label(s, threads) + " gemv");
}

void run_eigen_gemm(benchmark::State& st, const shape& s, int64_t tokens, int threads) {
  const row_matrix& w = eigen_weights(s);
  const std::vector<float> xv = random_floats(static_cast<size_t>(tokens * s.k), 98);
  row_matrix x = Eigen::Map<const row_matrix>(xv.data(), tokens, s.k);
  row_matrix y(tokens, s.n);
  Eigen::setNbThreads(threads);
  y.noalias() = x * w.transpose();
  for (auto _ : st) {
    y.noalias() = x * w.transpose();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  Eigen::setNbThreads(1);
  set_throughput_counters(st, static_cast<double>(s.n * s.k) * sizeof(float),
                          2.0 * static_cast<double>(s.n * s.k) * static_cast<double>(tokens),
                          tokens);
  st.SetLabel(eigen_label(s, threads) + " gemm");
}

}  // namespace

void register_eigen_benchmarks(const shape& s) {
  const suite& su = current_suite();
  const bool quick = su.name == "quick";
  for (int threads : su.threads) {
    if (threads > 1 && !have_threads) continue;
    const std::string name = "BM_eigen_gemv/" + s.name() + "/threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark(
        name.c_str(), [s, threads](benchmark::State& st) { run_eigen_gemv(st, s, threads); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  if (quick && s.dram) return;
  for (int64_t tokens : su.gemm_tokens) {
    if (tokens != 8 && tokens != 128) continue;
    for (int threads : su.threads) {
      if (threads > 1 && !have_threads) continue;
      const std::string name = "BM_eigen_gemm/" + s.name() + "/tokens:" + std::to_string(tokens) +
                               "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(
          name.c_str(),
          [s, tokens, threads](benchmark::State& st) { run_eigen_gemm(st, s, tokens, threads); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace ternary_bench
