// SPDX-License-Identifier: Apache-2.0
// The roofline: a streaming read of exactly the bytes a GEMV streams (packed_matrix::
// weight_bytes() of each format), from the same residency (cache-resident, or rotated over
// copies for DRAM-resident shapes), on 1 and 2 threads (two threads read one half each).
//
// The read loop is plain C++ summing 64-bit words, compiled with the project's baseline flags
// (no AVX2/AVX-512 -m flag reaches this file): the compiler vectorizes it with the baseline
// vector ISA. It is the bandwidth any kernel could get, not a kernel of the library.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.hpp"

namespace ternary_bench {
namespace {

struct free_deleter {
  void operator()(uint64_t* p) const { std::free(p); }
};

struct stream_buffer {
  std::unique_ptr<uint64_t, free_deleter> data;
  size_t words_per_copy = 0;
  size_t copies = 1;
};

// Buffers kept for the run, keyed by (bytes of one copy, copies).
const stream_buffer& buffer_for(size_t bytes, size_t copies) {
  static std::map<std::pair<size_t, size_t>, std::unique_ptr<stream_buffer>> cache;
  const auto key = std::make_pair(bytes, copies);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto b = std::make_unique<stream_buffer>();
  b->words_per_copy = (bytes + 7) / 8;
  b->copies = copies;
  const size_t total = (b->words_per_copy * copies * 8 + 63) / 64 * 64;
  b->data.reset(static_cast<uint64_t*>(std::aligned_alloc(64, total)));
  if (!b->data) std::abort();
  for (size_t w = 0; w < total / 8; ++w) b->data.get()[w] = w * 0x9e3779b97f4a7c15ull;
  return *cache.emplace(key, std::move(b)).first->second;
}

// Four independent sums: the loop vectorizes at any -O level that vectorizes, and a sum the
// caller consumes keeps every load.
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  for (; i < n; ++i) s0 += p[i];
  return (s0 + s1) + (s2 + s3);
}

void run_stream(benchmark::State& st, const shape& s, size_t bytes, int threads) {
  const size_t copies = rotation_copies(s, bytes);
  const stream_buffer& b = buffer_for(bytes, copies);
  const size_t words = b.words_per_copy;
  const size_t half = (words / 2 + 7) / 8 * 8;  // a whole number of cache lines
  size_t idx = 0;
  uint64_t sums[2] = {0, 0};
  part_runner runner(threads, [&](int part) {
    const uint64_t* base = b.data.get() + idx * words;
    if (threads < 2) {
      sums[0] += sum_words(base, words);
    } else if (part == 0) {
      sums[0] += sum_words(base, half);
    } else {
      sums[1] += sum_words(base + half, words - half);
    }
  });
  runner.run();  // warm-up (and, for cache-resident sizes, brings the buffer into cache)
  idx = copies > 1 ? 1 : 0;
  for (auto _ : st) {
    runner.run();
    if (++idx == copies) idx = 0;
  }
  benchmark::DoNotOptimize(sums[0] + sums[1]);
  set_throughput_counters(st, static_cast<double>(bytes), 0.0, 0);
  st.counters.erase("GOPS");
  st.counters.erase("tokens");
  std::string label = std::string("read_u64 ") + residency(s);
  if (copies > 1) label += " rotate:" + std::to_string(copies);
  st.SetLabel(label);
}

}  // namespace

void register_stream_benchmarks(const shape& s) {
  // Distinct weight sizes of the benchmarked formats (bits2 per-group has bits2's bytes).
  std::vector<size_t> sizes;
  for (int fi = 0; fi < wfmt_count; ++fi) {
    const ternary::matrix_desc d = wfmt_desc(static_cast<wfmt>(fi), s);
    const size_t bytes = static_cast<size_t>(ternary::row_bytes(d.fmt, d.cols)) *
                         static_cast<size_t>(d.rows) * static_cast<size_t>(d.planes);
    bool seen = false;
    for (size_t v : sizes) seen = seen || v == bytes;
    if (!seen) sizes.push_back(bytes);
  }
  for (int threads : current_suite().threads) {
    for (size_t bytes : sizes) {
      const std::string name = "BM_stream/" + s.name() + "/" + std::to_string(bytes) +
                               "B/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(
          name.c_str(),
          [s, bytes, threads](benchmark::State& st) { run_stream(st, s, bytes, threads); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace ternary_bench
