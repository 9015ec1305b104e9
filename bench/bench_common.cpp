// SPDX-License-Identifier: Apache-2.0
#include "bench_common.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

namespace ternary_bench {
namespace {

// splitmix64: the same sequence everywhere.
class rng {
 public:
  explicit rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// N x K trits: about a third of each value, like BitNet b1.58 weights.
std::vector<int8_t> dense_trits(const shape& s, uint64_t seed) {
  std::vector<int8_t> t(static_cast<size_t>(s.n * s.k));
  rng r(seed);
  size_t i = 0;
  while (i < t.size()) {
    uint64_t bits = r.next();
    for (int b = 0; b < 8 && i < t.size(); ++b, bits >>= 8) {
      const unsigned v = static_cast<unsigned>(bits & 0xffu);
      t[i++] = static_cast<int8_t>(v < 85 ? -1 : v < 170 ? 0 : 1);
    }
  }
  return t;
}

// N x K trits with exactly one zero in every quad of 4 columns (Sherry 3:4); K % 4 == 0.
std::vector<int8_t> sherry_trits(const shape& s, uint64_t seed) {
  std::vector<int8_t> t(static_cast<size_t>(s.n * s.k));
  rng r(seed);
  for (size_t q = 0; q + 4 <= t.size(); q += 4) {
    const uint64_t bits = r.next();
    const size_t zero = bits & 3u;
    for (size_t l = 0; l < 4; ++l)
      t[q + l] = l == zero ? int8_t{0} : ((bits >> (8 + l)) & 1u) ? int8_t{1} : int8_t{-1};
  }
  return t;
}

std::vector<float> random_scales(size_t count, uint64_t seed, float base) {
  std::vector<float> v(count);
  rng r(seed);
  for (float& x : v)
    x = base * (0.5f + static_cast<float>(static_cast<double>(r.next() >> 40) * 0x1p-24));
  return v;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "ternary_bench: %s: %s\n", what, ternary::last_error_message());
  std::exit(2);
}

ternary::packed_matrix pack_one(const shape& s, wfmt f) {
  const ternary::matrix_desc d = wfmt_desc(f, s);
  const uint64_t seed = 1000003u * static_cast<uint64_t>(s.n) + static_cast<uint64_t>(s.k);
  std::vector<int8_t> t0 = f == wfmt::sherry ? sherry_trits(s, seed) : dense_trits(s, seed);
  std::vector<int8_t> t1;
  if (d.planes == 2) t1 = dense_trits(s, seed + 1);
  const int64_t groups = d.granularity == ternary::scale_granularity::per_group
                             ? (s.k + d.group_size - 1) / d.group_size
                             : 1;
  const size_t nscales = static_cast<size_t>(s.n * groups);
  const std::vector<float> a0 = random_scales(nscales, seed + 2, 0.02f);
  const std::vector<float> a1 = random_scales(nscales, seed + 3, 0.005f);
  const int8_t* trits[2] = {t0.data(), t1.empty() ? nullptr : t1.data()};
  const float* scales[2] = {a0.data(), a1.data()};
  ternary::packed_matrix m;
  if (ternary::packed_matrix::pack(d, trits, s.k, scales, nullptr, &m) != ternary::status::ok)
    die("packing the benchmark weights failed");
  return m;
}

suite& mutable_suite() {
  static suite s;
  return s;
}

bool parse_isa_list(const std::string& list, std::vector<ternary::isa>* out) {
  out->clear();
  std::stringstream ss(list);
  std::string name;
  while (std::getline(ss, name, ',')) {
    ternary::isa i;
    if (ternary::parse_isa(name.c_str(), &i) != ternary::status::ok) {
      std::fprintf(stderr, "ternary_bench: --isas: %s\n", ternary::last_error_message());
      return false;
    }
    if (!ternary::isa_available(i)) {
      std::fprintf(stderr, "ternary_bench: --isas: %s is not available on this CPU/build\n",
                   name.c_str());
      return false;
    }
    out->push_back(i);
  }
  return !out->empty();
}

void fill_suite(suite* s, bool quick) {
  s->name = quick ? "quick" : "full";
  // BitNet b1.58 2B shapes, Llama-style 4096 shapes, and one DRAM-resident shape (~58 MB bits2).
  const shape all[] = {{2560, 2560, false}, {6912, 2560, false},  {2560, 6912, false},
                       {4096, 4096, false}, {14336, 4096, false}, {28672, 8192, true}};
  s->shapes.clear();
  for (const shape& sh : all)
    if (!quick || (sh.n == 2560 && sh.k == 2560) || sh.dram) s->shapes.push_back(sh);
  s->gemm_tokens = quick ? std::vector<int64_t>{8, 128} : std::vector<int64_t>{8, 32, 128, 512};
  s->threads = {1, 2};
  s->best = ternary::best_isa();
  s->isas.clear();
  for (int i = 0; i < ternary::isa_count; ++i)
    if (ternary::isa_available(static_cast<ternary::isa>(i)))
      s->isas.push_back(static_cast<ternary::isa>(i));
}

}  // namespace

const char* wfmt_name(wfmt f) {
  switch (f) {
    case wfmt::bits2: return "bits2";
    case wfmt::base3: return "base3";
    case wfmt::sherry: return "sherry";
    case wfmt::bits2_g128: return "bits2_g128";
    case wfmt::bits2_2plane: return "bits2_2plane";
  }
  return "?";
}

ternary::matrix_desc wfmt_desc(wfmt f, const shape& s) {
  ternary::matrix_desc d;
  d.rows = s.n;
  d.cols = s.k;
  d.granularity = ternary::scale_granularity::per_row;
  d.scale_dtype = ternary::scale_type::f32;
  switch (f) {
    case wfmt::bits2: d.fmt = ternary::format::bits2; break;
    case wfmt::base3: d.fmt = ternary::format::base3; break;
    case wfmt::sherry: d.fmt = ternary::format::sherry; break;
    case wfmt::bits2_g128:
      d.fmt = ternary::format::bits2;
      d.granularity = ternary::scale_granularity::per_group;
      d.group_size = 128;
      break;
    case wfmt::bits2_2plane:
      d.fmt = ternary::format::bits2;
      d.planes = 2;
      break;
  }
  return d;
}

size_t rotation_copies(const shape& s, size_t bytes) {
  if (!s.dram || bytes == 0) return 1;
  return (dram_rotation_bytes + bytes - 1) / bytes;
}

const suite& current_suite() {
  static const bool init = [] {
    if (mutable_suite().shapes.empty()) fill_suite(&mutable_suite(), false);
    return true;
  }();
  (void)init;
  return mutable_suite();
}

bool parse_suite_flags(int* argc, char** argv) {
  suite& s = mutable_suite();
  bool quick = false;
  for (int i = 1; i < *argc; ++i) {
    const std::string a = argv[i];
    if (a == "--suite=quick" || a == "--quick") quick = true;
    if (a == "--suite=full") quick = false;
  }
  fill_suite(&s, quick);
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string a = argv[i];
    if (a == "--suite=quick" || a == "--quick" || a == "--suite=full") continue;
    if (a.rfind("--suite=", 0) == 0) {
      std::fprintf(stderr, "ternary_bench: --suite must be full or quick, got '%s'\n",
                   a.c_str() + 8);
      return false;
    } else if (a.rfind("--isas=", 0) == 0) {
      if (!parse_isa_list(a.substr(7), &s.isas)) return false;
      // The "best" tier (full GEMM grid, fp32 and quantizing paths) is the widest one kept.
      for (ternary::isa i :
           {ternary::isa::scalar, ternary::isa::neon, ternary::isa::avx2, ternary::isa::avx512})
        for (ternary::isa j : s.isas)
          if (i == j) s.best = i;
    } else if (a.rfind("--max_call_s=", 0) == 0) {
      s.max_call_s = std::atof(a.c_str() + 13);
      if (!(s.max_call_s > 0)) {
        std::fprintf(stderr, "ternary_bench: --max_call_s must be positive\n");
        return false;
      }
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  return true;
}

const weight_set& weights(const shape& s, wfmt f) {
  static std::map<std::pair<std::pair<int64_t, int64_t>, int>, std::unique_ptr<weight_set>> cache;
  auto key = std::make_pair(std::make_pair(s.n, s.k), static_cast<int>(f));
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto ws = std::make_unique<weight_set>();
  ws->copies.push_back(pack_one(s, f));
  ws->weight_bytes = ws->copies[0].weight_bytes();
  const size_t n = rotation_copies(s, ws->weight_bytes);
  ws->copies.reserve(n);
  for (size_t c = 1; c < n; ++c) ws->copies.push_back(ws->copies[0]);
  return *cache.emplace(key, std::move(ws)).first->second;
}

std::vector<float> random_floats(size_t count, uint64_t seed) {
  std::vector<float> v(count);
  rng r(seed);
  for (float& x : v) x = static_cast<float>(static_cast<double>(r.next() >> 40) * 0x1p-23 - 1.0);
  return v;
}

std::vector<int8_t> random_int8(size_t count, uint64_t seed) {
  std::vector<int8_t> v(count);
  rng r(seed);
  for (int8_t& x : v) x = static_cast<int8_t>(static_cast<int>(r.next() % 255u) - 127);
  return v;
}

void set_throughput_counters(benchmark::State& st, double bytes, double ops, int64_t tokens) {
  const double it = static_cast<double>(st.iterations());
  st.counters["weight_GBps"] = benchmark::Counter(bytes * it / 1e9, benchmark::Counter::kIsRate);
  st.counters["GOPS"] = benchmark::Counter(ops * it / 1e9, benchmark::Counter::kIsRate);
  st.counters["weight_bytes"] = benchmark::Counter(bytes);
  st.counters["tokens"] = benchmark::Counter(static_cast<double>(tokens));
}

part_runner::part_runner(int parts, std::function<void(int)> fn)
    : parts_(parts), fn_(std::move(fn)) {
  if (parts_ < 2) return;
  helper_ = std::thread([this] {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g;
      while ((g = go_.load(std::memory_order_acquire)) == seen) {
        if (quit_.load(std::memory_order_relaxed)) return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      seen = g;
      fn_(1);
      done_.store(g, std::memory_order_release);
    }
  });
}

part_runner::~part_runner() {
  quit_.store(true, std::memory_order_relaxed);
  if (helper_.joinable()) helper_.join();
}

void part_runner::run() {
  if (parts_ < 2) {
    fn_(0);
    return;
  }
  const uint64_t g = go_.load(std::memory_order_relaxed) + 1;
  go_.store(g, std::memory_order_release);
  fn_(0);
  while (done_.load(std::memory_order_acquire) != g) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

}  // namespace ternary_bench
