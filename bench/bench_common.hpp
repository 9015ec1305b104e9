// SPDX-License-Identifier: Apache-2.0
// Shared pieces of `ternary_bench`: the suite (which shapes, formats, ISAs, token and thread
// counts run), the packed-weight cache, deterministic data, and a two-thread runner for the
// roofline and peak microbenchmarks.
//
// Benchmark names (Google Benchmark appends "/real_time"):
//   BM_gemv/<fmt>/<isa>/<N>x<K>/threads:<t>                 int8 activations, quantized untimed
//   BM_gemm/<fmt>/<isa>/<N>x<K>/tokens:<T>/threads:<t>
//   BM_gemv_quant/<fmt>/<isa>/<N>x<K>/threads:<t>           fp32 in, quantized inside the call
//   BM_gemv_f32/..., BM_gemm_f32/...                        fp32 activations (act_path::f32)
//   BM_stream/<N>x<K>/<bytes>B/threads:<t>                  roofline: read the weights' bytes
//   BM_eigen_gemv/<N>x<K>/threads:<t>, BM_eigen_gemm/<N>x<K>/tokens:<T>/threads:<t>
//   BM_vpdpbusd_peak/zmm/threads:<t>
// Counters: weight_GBps (weight bytes / time, GB = 1e9 B), GOPS (2*N*K*tokens / time),
// weight_bytes, tokens. The label holds the kernel name and the residency ("cache" or "dram").
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "ternary/ternary.hpp"

namespace ternary_bench {

/// One weight shape, N outputs x K inputs.
struct shape {
  int64_t n = 0;
  int64_t k = 0;
  bool dram = false;  ///< weights rotated over copies so that no call finds them in cache
  std::string name() const { return std::to_string(n) + "x" + std::to_string(k); }
};

/// The weight variants benchmarked. Scales are fp32.
enum class wfmt : int {
  bits2 = 0,         ///< 2-bit, per-row scales
  base3 = 1,         ///< base-3, per-row scales
  sherry = 2,        ///< Sherry 3:4, per-row scales
  bits2_g128 = 3,    ///< 2-bit, per-group scales of 128 columns
  bits2_2plane = 4,  ///< 2-bit, two trit planes (PTQTP), per-row scales
};
constexpr int wfmt_count = 5;
const char* wfmt_name(wfmt f);
ternary::matrix_desc wfmt_desc(wfmt f, const shape& s);

/// Total bytes DRAM-resident weights (and roofline buffers) rotate over: > 3x the 32 MiB L3 so
/// that no copy survives in cache from one call to the next.
constexpr size_t dram_rotation_bytes = size_t{96} << 20;
/// Copies of `bytes` needed to cover dram_rotation_bytes (1 for cache-resident shapes).
size_t rotation_copies(const shape& s, size_t bytes);
inline const char* residency(const shape& s) { return s.dram ? "dram" : "cache"; }

/// What one run of the executable benchmarks.
struct suite {
  std::string name = "full";  ///< "full" or "quick"
  std::vector<shape> shapes;
  std::vector<int64_t> gemm_tokens;  ///< GEMM token counts on the best ISA
  std::vector<int> threads{1, 2};    ///< gemm_options::threads values
  std::vector<ternary::isa> isas;    ///< ISAs to run (available ones only)
  ternary::isa best = ternary::isa::scalar;
  double max_call_s = 4.0;  ///< a benchmark whose untimed warm-up call takes longer is skipped
};
const suite& current_suite();
/// Parses and removes --suite=full|quick, --isas=a,b and --max_call_s=S from argv (before
/// benchmark::Initialize sees them). Returns false and prints a message on a bad value.
bool parse_suite_flags(int* argc, char** argv);

/// Packed weights of (shape, format): one matrix, or rotation_copies() identical copies for a
/// DRAM-resident shape. Packed on first use (outside any timed region) and kept.
struct weight_set {
  std::vector<ternary::packed_matrix> copies;
  size_t weight_bytes = 0;  ///< packed_matrix::weight_bytes() of one copy
};
const weight_set& weights(const shape& s, wfmt f);

/// Deterministic data (splitmix64).
std::vector<float> random_floats(size_t count, uint64_t seed);
std::vector<int8_t> random_int8(size_t count, uint64_t seed);

/// Runs fn(part) on the calling thread (part 0) and, for two parts, on one persistent spinning
/// helper thread (part 1), returning when both are done. Spinning keeps the hand-off well under
/// a microsecond, so a two-thread roofline is not dominated by thread start-up; the helper
/// exists only while the runner does (one benchmark), so it burns no core elsewhere.
class part_runner {
 public:
  part_runner(int parts, std::function<void(int part)> fn);
  ~part_runner();
  part_runner(const part_runner&) = delete;
  part_runner& operator=(const part_runner&) = delete;
  void run();

 private:
  int parts_;
  std::function<void(int)> fn_;
  std::atomic<uint64_t> go_{0};
  std::atomic<uint64_t> done_{0};
  std::atomic<bool> quit_{false};
  std::thread helper_;
};

/// Registration, one per translation unit; each reads current_suite(). The per-shape ones are
/// called shape by shape so that a shape's roofline runs next to its kernels.
void register_peak_benchmarks();
/// True when this build has the vpdpbusd peak loop and the CPU can run it.
bool vnni_peak_available();
void register_stream_benchmarks(const shape& s);
void register_ternary_benchmarks(const shape& s);
void register_eigen_benchmarks(const shape& s);

/// Sets the counters every throughput benchmark reports, for `bytes` of weights and `ops`
/// operations per iteration.
void set_throughput_counters(benchmark::State& st, double bytes, double ops, int64_t tokens);

}  // namespace ternary_bench
