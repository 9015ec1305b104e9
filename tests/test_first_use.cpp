// SPDX-License-Identifier: Apache-2.0
// The first use of the library, raced: threads wait on a barrier and then all make their first
// library call at once, so the ISA choice (TERNARY_ISA read once), the CPU feature detection,
// the kernel-name table, the worker pool and the container's CRC table are all initialised
// concurrently. Each mode runs in its own process (ctest: threads.first_use.*), so the first
// use is real; the results are checked against the inline reference (ref/) after the join.
//
//   first_use compute   threads race on different first calls (active_isa, kernel_name, pack +
//                       gemv, gemm through the pool, quantize_activations, serialize)
//   first_use set_isa   the same first calls while one thread keeps switching the process-wide
//                       override (set_isa, which isa.hpp documents as thread-safe, and
//                       clear_isa_override); int8 results must stay bit-identical, fp32 results
//                       must equal one ISA's answer
//   first_use env       as compute under the TERNARY_ISA that ctest sets: every thread sees the
//                       forced ISA or, when it cannot run, fails with status::unsupported and a
//                       message naming it
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ternary/ref/gemm.hpp"
#include "ternary/ref/quantize.hpp"
#include "ternary/ternary.hpp"

namespace {

constexpr int kThreads = 8;
constexpr int kRoles = 5;
constexpr int64_t kRows = 70, kCols = 300, kTokens = 3;

// splitmix64, as the other tests use (no library call may happen before the barrier).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>(static_cast<double>(next() >> 40) * 0x1p-24);
  }
};

// Inputs made without calling the library.
struct Inputs {
  ternary::matrix_desc d;
  std::vector<int8_t> trits;
  std::vector<float> scales, bias, x;
};

Inputs make_inputs() {
  Inputs in;
  in.d.fmt = ternary::format::bits2;
  in.d.rows = kRows;
  in.d.cols = kCols;
  in.d.granularity = ternary::scale_granularity::per_group;
  in.d.group_size = 128;
  in.d.has_bias = true;
  Rng rng{4242};
  in.trits.resize(static_cast<size_t>(kRows * kCols));
  for (int8_t& t : in.trits) t = static_cast<int8_t>(static_cast<int>(rng.next() % 3) - 1);
  in.scales.resize(static_cast<size_t>(kRows * ((kCols + 127) / 128)));
  for (float& s : in.scales) s = rng.uniform(0.01f, 2.0f);
  in.bias.resize(static_cast<size_t>(kRows));
  for (float& b : in.bias) b = rng.uniform(-1.0f, 1.0f);
  in.x.resize(static_cast<size_t>(kTokens * kCols));
  for (float& v : in.x) v = rng.uniform(-3.0f, 3.0f);
  return in;
}

// A compute call's outcome, judged after the join (the expectation needs library calls).
struct Outcome {
  std::string what;
  ternary::status st = ternary::status::ok;
  std::string message;
};

// What one thread saw.
struct Seen {
  std::string errors;
  std::vector<Outcome> outcomes;
  ternary::isa active = ternary::isa::scalar;
  std::string kernel;
  std::vector<float> gemm_i8;                // kTokens x kRows, int8 path
  std::vector<std::vector<float>> gemm_f32;  // distinct fp32 answers (one per ISA used)
  std::vector<uint8_t> serialized;
  int64_t calls = 0;
};

void add_error(Seen* s, const std::string& what) {
  if (s->errors.size() < 4000) s->errors += "    " + what + "\n";
}

bool same(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Records a compute call's status and message (on this thread, right after the call).
bool record(Seen* s, const char* what, ternary::status st) {
  ++s->calls;
  s->outcomes.push_back({what, st, st == ternary::status::ok ? "" : ternary::last_error_message()});
  return st == ternary::status::ok;
}

// The calls every thread makes; `role` decides which comes first.
void first_calls(int role, const Inputs& in, Seen* s) {
  using namespace ternary;
  packed_matrix w;
  auto pack = [&] {
    const status st =
        packed_matrix::pack(in.d, in.trits.data(), kCols, in.scales.data(), in.bias.data(), &w);
    if (st != status::ok) add_error(s, std::string("pack: ") + last_error_message());
    return st == status::ok;
  };
  std::vector<int8_t> xq(static_cast<size_t>(kTokens * kCols));
  std::vector<float> xs(static_cast<size_t>(kTokens));
  std::vector<float> y(static_cast<size_t>(kTokens * kRows), -5.0f);
  gemm_options pooled;
  pooled.threads = 4;  // 70 rows = 5 granules of 16: the pool splits them
  switch (role) {
    case 0: s->active = active_isa(); break;
    case 1:
      if (!pack()) return;
      s->kernel = kernel_name(w, act_type::int8);
      break;
    case 2: {
      if (!pack()) return;
      gemm_options f32 = pooled;
      f32.path = act_path::f32;
      if (record(s, "gemm f32 (pool)", gemm(w, in.x.data(), kTokens, kCols, y.data(), kRows, f32)))
        s->gemm_f32.push_back(y);
      break;
    }
    case 3:
      if (quantize_activations(in.x.data(), kTokens, kCols, kCols, xq.data(), kCols, xs.data()) !=
          status::ok)
        add_error(s, std::string("quantize_activations: ") + last_error_message());
      break;
    default:
      if (!pack()) return;
      if (w.serialize(&s->serialized) != status::ok)
        add_error(s, std::string("serialize: ") + last_error_message());
      break;
  }
  if (w.empty() && !pack()) return;
  if (s->kernel.empty()) s->kernel = kernel_name(w, act_type::int8);
  if (role != 0) s->active = active_isa();
  std::fill(y.begin(), y.end(), -5.0f);
  if (record(s, "gemm int8 (pool)", gemm(w, in.x.data(), kTokens, kCols, y.data(), kRows, pooled)))
    s->gemm_i8 = y;
}

// Keeps running the compute calls until `stop`, while another thread switches the ISA.
void reader_loop(const Inputs& in, const std::atomic<bool>& stop, Seen* s) {
  using namespace ternary;
  packed_matrix w;
  if (packed_matrix::pack(in.d, in.trits.data(), kCols, in.scales.data(), in.bias.data(), &w) !=
      status::ok)
    return add_error(s, std::string("pack: ") + last_error_message());
  std::vector<float> y(static_cast<size_t>(kTokens * kRows));
  for (int it = 0; it < 20 || !stop.load(std::memory_order_acquire); ++it) {
    gemm_options opt;
    opt.threads = it % 3;  // inline, all cores, two
    ++s->calls;
    if (gemm(w, in.x.data(), kTokens, kCols, y.data(), kRows, opt) != status::ok)
      add_error(s, std::string("gemm int8: ") + last_error_message());
    else if (!same(y, s->gemm_i8))
      add_error(s, "gemm int8 changed while the ISA was switched");
    opt.path = act_path::f32;
    ++s->calls;
    if (gemm(w, in.x.data(), kTokens, kCols, y.data(), kRows, opt) != status::ok)
      add_error(s, std::string("gemm f32: ") + last_error_message());
    if (std::none_of(s->gemm_f32.begin(), s->gemm_f32.end(),
                     [&](const std::vector<float>& v) { return same(v, y); })) {
      if (s->gemm_f32.size() < 8)
        s->gemm_f32.push_back(y);
      else
        add_error(s, "more distinct fp32 answers than ISAs");
    }
    const isa a = active_isa();
    if (!isa_available(a)) add_error(s, std::string("active_isa() = unavailable ") + isa_name(a));
    const std::string k = kernel_name(w, act_type::int8);
    const size_t at = k.rfind("__");
    isa named;
    if (at == std::string::npos || parse_isa(k.c_str() + at + 2, &named) != status::ok ||
        !isa_available(named))
      add_error(s, "kernel_name() = \"" + k + "\" names no available ISA");
  }
}

// Switches the override among every available ISA (and tries the unavailable ones, which must
// fail and change nothing).
void switcher(Seen* s) {
  using namespace ternary;
  for (int it = 0; it < 200; ++it) {
    for (int i = 0; i < isa_count; ++i) {
      const isa target = static_cast<isa>(i);
      const status st = set_isa(target);
      ++s->calls;
      if (isa_available(target) != (st == status::ok))
        add_error(s, std::string("set_isa(") + isa_name(target) + ") -> " + status_name(st));
    }
    if (it % 3 == 2) clear_isa_override();
    std::this_thread::yield();
  }
  clear_isa_override();
}

class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(m_);
    if (++arrived_ == n_) {
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return arrived_ == n_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_, arrived_ = 0;
};

int run(const std::string& mode) {
  using namespace ternary;
  if (mode != "env") {  // before any library call: no forced ISA
#if defined(_WIN32)
    _putenv_s("TERNARY_ISA", "");
#else
    ::unsetenv("TERNARY_ISA");
#endif
  }
  const Inputs in = make_inputs();
  const char* env = std::getenv("TERNARY_ISA");
  const std::string forced_name = mode == "env" && env ? env : "";
  if (mode == "env" && forced_name.empty()) {
    std::fprintf(stderr, "first_use env: TERNARY_ISA is not set\n");
    return 2;
  }

  std::vector<Seen> seen(kThreads);
  Barrier barrier(kThreads);
  std::atomic<bool> stop{false};
  const bool switching = mode == "set_isa";
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      barrier.arrive_and_wait();
      Seen* s = &seen[static_cast<size_t>(t)];
      if (switching && t == kThreads - 1) {
        // The first set_isa() races with the other threads' first calls.
        switcher(s);
        stop.store(true, std::memory_order_release);
        return;
      }
      first_calls(t % kRoles, in, s);
      if (switching) reader_loop(in, stop, s);
    });
  }
  for (std::thread& th : threads) th.join();

  // Expectations, computed single-threaded after the race.
  int failures = 0;
  auto fail = [&](const std::string& m) {
    ++failures;
    std::fprintf(stderr, "first_use %s: %s\n", mode.c_str(), m.c_str());
  };
  clear_isa_override();
  isa forced = isa::scalar;
  const bool has_forced =
      !forced_name.empty() && parse_isa(forced_name.c_str(), &forced) == status::ok;
  const bool usable = forced_name.empty() || (has_forced && isa_available(forced));
  const isa want_isa = !forced_name.empty() ? (usable ? forced : isa::scalar) : best_isa();
  if (active_isa() != want_isa)
    fail(std::string("active_isa() after the race is ") + isa_name(active_isa()) + ", expected " +
         isa_name(want_isa));

  packed_matrix w;
  if (packed_matrix::pack(in.d, in.trits.data(), kCols, in.scales.data(), in.bias.data(), &w) !=
      status::ok) {
    fail(std::string("pack: ") + last_error_message());
    return 1;
  }
  std::vector<int8_t> xq(static_cast<size_t>(kTokens * kCols));
  std::vector<float> xs(static_cast<size_t>(kTokens));
  for (int64_t t = 0; t < kTokens; ++t)
    xs[static_cast<size_t>(t)] =
        ref::quantize_row(in.x.data() + t * kCols, kCols, xq.data() + t * kCols);
  std::vector<float> want_i8(static_cast<size_t>(kTokens * kRows));
  ref::gemm_int8(w.view(), xq.data(), xs.data(), kTokens, kCols, want_i8.data(), kRows, 0, kRows);
  std::vector<uint8_t> want_bytes;
  if (w.serialize(&want_bytes) != status::ok) fail("serialize after the race failed");
  // fp32 answers of every ISA (the path differs per ISA within rounding, never per thread).
  std::vector<std::vector<float>> want_f32;
  if (usable) {
    for (int i = 0; i < isa_count; ++i) {
      if (!switching && static_cast<isa>(i) != want_isa) continue;
      if (!isa_available(static_cast<isa>(i))) continue;
      if (switching && set_isa(static_cast<isa>(i)) != status::ok) continue;
      gemm_options f32;
      f32.path = act_path::f32;
      std::vector<float> y(want_i8.size());
      if (gemm(w, in.x.data(), kTokens, kCols, y.data(), kRows, f32) != status::ok)
        fail(std::string("gemm f32 after the race: ") + last_error_message());
      want_f32.push_back(y);
    }
    clear_isa_override();
  }
  const std::string want_kernel = kernel_name(w, act_type::int8);
  // Calls that succeed leave this thread's message alone, even under an unusable TERNARY_ISA.
  {
    isa ignored;
    (void)parse_isa("first_use_marker", &ignored);
    const std::string marker = last_error_message();
    std::vector<int8_t> q(static_cast<size_t>(kCols));
    float qs = 0.0f;
    const status qst = quantize_activations(in.x.data(), 1, kCols, kCols, q.data(), kCols, &qs);
    (void)active_isa();
    if (qst != status::ok || marker != last_error_message())
      fail(std::string("a successful call replaced last_error_message() \"") + marker +
           "\" with \"" + last_error_message() + "\"");
  }

  int64_t calls = 0;
  for (int t = 0; t < kThreads; ++t) {
    const Seen& s = seen[static_cast<size_t>(t)];
    const std::string who =
        "thread " + std::to_string(t) + " (role " + std::to_string(t % kRoles) + "): ";
    calls += s.calls;
    if (!s.errors.empty()) fail(who + "\n" + s.errors);
    // Every compute call succeeded, or (forced unusable ISA) failed as unsupported, naming it.
    for (const Outcome& o : s.outcomes) {
      if (usable && o.st != status::ok)
        fail(who + o.what + ": " + status_name(o.st) + ": " + o.message);
      if (!usable &&
          (o.st != status::unsupported || o.message.find(forced_name) == std::string::npos))
        fail(who + o.what + " under TERNARY_ISA=" + forced_name + ": " + status_name(o.st) + " \"" +
             o.message + "\" (expected unsupported naming it)");
    }
    if (switching && t == kThreads - 1) continue;
    if (!switching && s.active != want_isa)
      fail(who + "active_isa() = " + isa_name(s.active) + ", expected " + isa_name(want_isa));
    if (!switching && s.kernel != want_kernel)
      fail(who + "kernel_name() = \"" + s.kernel + "\", expected \"" + want_kernel + "\"");
    if (usable && !same(s.gemm_i8, want_i8)) fail(who + "int8 result differs from ref::gemm_int8");
    for (const std::vector<float>& y : s.gemm_f32) {
      if (std::none_of(want_f32.begin(), want_f32.end(),
                       [&](const std::vector<float>& v) { return same(v, y); }))
        fail(who + "an fp32 result equals no ISA's single-threaded answer");
    }
    if (!s.serialized.empty() && s.serialized != want_bytes) fail(who + "serialized bytes differ");
  }
  if (failures) return 1;
  std::printf("first_use %s: %d threads, %lld checked calls, isa %s%s: ok\n", mode.c_str(),
              kThreads, static_cast<long long>(calls), isa_name(want_isa),
              usable ? "" : " (forced ISA unusable: every compute call refused)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "compute" && mode != "set_isa" && mode != "env") {
    std::fprintf(stderr, "usage: %s compute|set_isa|env\n", argc > 0 ? argv[0] : "first_use");
    return 2;
  }
  return run(mode);
}
