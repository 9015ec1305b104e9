// SPDX-License-Identifier: Apache-2.0
// GEMV/GEMM of Ternary Engine through its public API only, per format, ISA, shape, token count
// and thread count. Weights are packed once (bench_common.cpp); activations are made and, for
// the int8 path, quantized before the timed loop. One untimed warm-up call checks the status and
// skips a benchmark whose single call would take longer than --max_call_s.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace ternary_bench {
namespace {

enum class act_kind {
  int8,       ///< pre-quantized int8 activations (activations::int8)
  f32,        ///< fp32 activations used as they are (act_path::f32)
  f32_quant,  ///< fp32 pointer, quantized per token inside the call (act_path::int8)
};

struct case_params {
  shape s;
  wfmt f = wfmt::bits2;
  ternary::isa i = ternary::isa::scalar;
  int64_t tokens = 1;
  int threads = 1;
  act_kind act = act_kind::int8;
  std::string name;  ///< the benchmark's name
};

// Seconds the warm-up call of each benchmark took. Google Benchmark calls a benchmark function
// several times while it sizes the iteration count; a slow case warms up only on the first.
std::map<std::string, double>& warm_up_seconds() {
  static std::map<std::string, double> m;
  return m;
}

void run_case(benchmark::State& st, const case_params& c) {
  if (ternary::set_isa(c.i) != ternary::status::ok) {
    st.SkipWithError(ternary::last_error_message());
    return;
  }
  const weight_set& ws = weights(c.s, c.f);
  const int64_t n = c.s.n, k = c.s.k, tokens = c.tokens;

  const std::vector<float> xf = random_floats(static_cast<size_t>(tokens * k), 77 + tokens);
  std::vector<int8_t> xq(static_cast<size_t>(tokens * k));
  std::vector<float> xs(static_cast<size_t>(tokens));
  if (ternary::quantize_activations(xf.data(), tokens, k, k, xq.data(), k, xs.data()) !=
      ternary::status::ok) {
    st.SkipWithError(ternary::last_error_message());
    return;
  }
  std::vector<float> y(static_cast<size_t>(tokens * n));

  ternary::gemm_options opt;
  opt.threads = c.threads;
  opt.path = c.act == act_kind::f32 ? ternary::act_path::f32 : ternary::act_path::int8;
  const ternary::activations a8 = ternary::activations::int8(xq.data(), xs.data(), tokens, k, k);
  const ternary::activations a32 = ternary::activations::f32(xf.data(), tokens, k, k);
  auto call = [&](const ternary::packed_matrix& w) {
    switch (c.act) {
      case act_kind::int8: return ternary::gemm(w, a8, y.data(), n, opt);
      case act_kind::f32: return ternary::gemm(w, a32, y.data(), n, opt);
      case act_kind::f32_quant: return ternary::gemm(w, xf.data(), tokens, k, y.data(), n, opt);
    }
    return ternary::status::internal_error;
  };

  auto known = warm_up_seconds().find(c.name);
  double warm_s = known != warm_up_seconds().end() ? known->second : 0.0;
  if (warm_s < 0.05) {  // first call of this benchmark, or a cheap one: warm up and check
    const auto t0 = std::chrono::steady_clock::now();
    if (call(ws.copies[0]) != ternary::status::ok) {
      st.SkipWithError(ternary::last_error_message());
      return;
    }
    warm_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    warm_up_seconds()[c.name] = warm_s;
  }
  if (warm_s > current_suite().max_call_s) {
    const std::string msg = "skipped: one call took " + std::to_string(warm_s) +
                            " s > --max_call_s=" + std::to_string(current_suite().max_call_s);
    st.SkipWithError(msg.c_str());
    return;
  }

  const size_t copies = ws.copies.size();
  size_t idx = copies > 1 ? 1 : 0;  // the warm-up call left copy 0 partly cached
  for (auto _ : st) {
    ternary::status r = call(ws.copies[idx]);
    benchmark::DoNotOptimize(r);
    if (++idx == copies) idx = 0;
  }

  const double ops =
      2.0 * static_cast<double>(n) * static_cast<double>(k) * static_cast<double>(tokens);
  set_throughput_counters(st, static_cast<double>(ws.weight_bytes), ops, tokens);
  const ternary::act_type at =
      c.act == act_kind::f32 ? ternary::act_type::f32 : ternary::act_type::int8;
  std::string label = ternary::kernel_name(ws.copies[0], at, opt);
  if (c.act == act_kind::f32_quant) label = "quantize+" + label;
  label += std::string(" ") + residency(c.s);
  if (copies > 1) label += " rotate:" + std::to_string(copies);
  st.SetLabel(label);
}

void add(const char* kind, case_params c) {
  std::string name =
      std::string(kind) + "/" + wfmt_name(c.f) + "/" + ternary::isa_name(c.i) + "/" + c.s.name();
  if (c.tokens > 1) name += "/tokens:" + std::to_string(c.tokens);
  name += "/threads:" + std::to_string(c.threads);
  c.name = name;
  benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& st) { run_case(st, c); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

void register_ternary_benchmarks(const shape& s) {
  const suite& su = current_suite();
  const bool quick = su.name == "quick";
  const bool small = s.n * s.k <= int64_t{4096} * 4096;

  // GEMV: int8 on every ISA; fp32 on every ISA (quick: best only); fp32->int8 on the best. The
  // scalar tier runs on one thread only: it is the portable fallback, and its two-thread runs
  // would cost a minute of the full suite to say nothing new.
  for (int threads : su.threads) {
    for (int fi = 0; fi < wfmt_count; ++fi) {
      for (ternary::isa i : su.isas) {
        if (threads > 1 && i == ternary::isa::scalar && i != su.best) continue;
        case_params c;
        c.s = s;
        c.f = static_cast<wfmt>(fi);
        c.i = i;
        c.threads = threads;
        c.act = act_kind::int8;
        add("BM_gemv", c);
      }
    }
    for (int fi = 0; fi < wfmt_count; ++fi) {
      for (ternary::isa i : su.isas) {
        if (quick && i != su.best) continue;
        if (threads > 1 && i == ternary::isa::scalar && i != su.best) continue;
        case_params c;
        c.s = s;
        c.f = static_cast<wfmt>(fi);
        c.i = i;
        c.threads = threads;
        c.act = act_kind::f32;
        add("BM_gemv_f32", c);
      }
    }
    for (int fi = 0; fi < wfmt_count; ++fi) {
      case_params c;
      c.s = s;
      c.f = static_cast<wfmt>(fi);
      c.i = su.best;
      c.threads = threads;
      c.act = act_kind::f32_quant;
      add("BM_gemv_quant", c);
    }
  }

  // GEMM. Quick runs it on cache-resident shapes only. Other ISAs than the best: tokens 8 and
  // 128 on the small shapes, one thread (enough to compare tiers without the scalar tier's
  // multi-second calls).
  if (quick && s.dram) return;
  for (int64_t tokens : su.gemm_tokens) {
    for (int threads : su.threads) {
      for (int fi = 0; fi < wfmt_count; ++fi) {
        for (ternary::isa i : su.isas) {
          const bool other_ok = !quick && small && threads == 1 && (tokens == 8 || tokens == 128);
          if (i != su.best && !other_ok) continue;
          case_params c;
          c.s = s;
          c.f = static_cast<wfmt>(fi);
          c.i = i;
          c.tokens = tokens;
          c.threads = threads;
          c.act = act_kind::int8;
          add("BM_gemm", c);
          // fp32 GEMM: best ISA, 8 and 128 tokens.
          if (i == su.best && (tokens == 8 || tokens == 128)) {
            c.act = act_kind::f32;
            add("BM_gemm_f32", c);
          }
        }
      }
    }
  }
}

}  // namespace ternary_bench
