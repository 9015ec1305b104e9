// SPDX-License-Identifier: Apache-2.0
// Thread safety of the public API, checked by results (and, in the ThreadSanitizer build of
// scripts/test-sanitize.sh, by TSan):
//   - many threads run gemv/gemm (int8 and fp32 paths, every format, with and without
//     gemm_options::threads, so several callers share the worker pool) on one shared const
//     packed_matrix; every result equals the single-threaded one bit for bit;
//   - gemm_rows driven by a caller-side pool equals one full call, for any split;
//   - quantize_activations, serialize/deserialize and safetensors load_packed run concurrently;
//   - last_error_message() is per thread while threads fail concurrently;
//   - quant::ternarize from several threads (and with its own threads option) gives identical
//     bytes.
// The first use of the dispatch table racing is tested by test_first_use.cpp (a fresh process).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

#include "ternary/gemm.hpp"
#include "ternary/io/safetensors.hpp"
#include "ternary/quant.hpp"
#include "ternary/ref/gemm.hpp"
#include "ternary/ref/quantize.hpp"

namespace {

using namespace ternary_test;
using ternary::act_path;
using ternary::act_type;
using ternary::activations;
using ternary::gemm_options;
namespace tq = ternary::quant;

constexpr int kThreads = 8;
constexpr int64_t kTokens = 5;

// Runs body(t) for t in [0, n) on n threads released at once; joins them all.
void run_concurrently(int n, const std::function<void(int)>& body) {
  std::mutex m;
  std::condition_variable cv;
  int ready = 0;
  bool go = false;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      {
        std::unique_lock<std::mutex> lock(m);
        ++ready;
        cv.notify_all();
        cv.wait(lock, [&] { return go; });
      }
      body(t);
    });
  }
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return ready == n; });
    go = true;
  }
  cv.notify_all();
  for (std::thread& th : threads) th.join();
}

// Per-thread failure reports, read by the test thread after the join (gtest assertions stay on
// the test thread).
class Failures {
 public:
  explicit Failures(int threads) : msgs_(static_cast<size_t>(threads)) {}
  void add(int t, const std::string& m) {
    std::string& s = msgs_[static_cast<size_t>(t)];
    if (s.size() < 2000) s += "  " + m + "\n";
  }
  std::string all() const {
    std::string r;
    for (size_t t = 0; t < msgs_.size(); ++t)
      if (!msgs_[t].empty()) r += "thread " + std::to_string(t) + ":\n" + msgs_[t];
    return r;
  }

 private:
  std::vector<std::string> msgs_;
};

bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// First element where two outputs differ, for failure messages.
std::string first_difference(const std::vector<float>& got, const std::vector<float>& want) {
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    if (!same_bits(got[i], want[i])) {
      std::ostringstream os;
      os << "element " << i << ": got " << std::hexfloat << got[i] << ", expected " << want[i];
      return os.str();
    }
  }
  return got.size() == want.size() ? "no difference" : "sizes differ";
}

// A shared matrix with its inputs and the single-threaded answers.
struct Shared {
  std::string label;
  packed_matrix w;
  int64_t n = 0, k = 0;
  std::vector<float> x;        // kTokens x k
  std::vector<int8_t> xq;      // kTokens x k, quantized by the library
  std::vector<float> xs;       // per-token scales
  std::vector<float> gemv_i8;  // n
  std::vector<float> gemv_f32;
  std::vector<float> gemm_i8;  // kTokens x n
  std::vector<float> gemm_f32;
};

// Every format, odd N (a tail of the 16-row granule) and K (tails of 4, 64 and 256), two planes
// and bias in one of them: the layouts whose kernels differ most.
std::vector<Shared> make_shared_problems() {
  struct Spec {
    format f;
    scale_granularity g;
    int64_t group;
    scale_type st;
    int planes;
    bool bias;
  };
  const Spec specs[] = {
      {format::bits2, scale_granularity::per_group, 64, scale_type::f32, 2, true},
      {format::base3, scale_granularity::per_row, 0, scale_type::f16, 1, false},
      {format::sherry, scale_granularity::per_tensor, 0, scale_type::f32, 1, true},
  };
  std::vector<Shared> v;
  Rng rng(7100);
  for (const Spec& s : specs) {
    Shared p;
    const matrix_desc d = make_desc(s.f, 150, 321, s.g, s.group, s.st, s.planes, s.bias);
    p.label = describe(d);
    p.n = d.rows;
    p.k = d.cols;
    EXPECT_EQ(pack_case(make_case(rng, d), &p.w), status::ok) << ternary::last_error_message();
    p.x = random_floats(rng, static_cast<size_t>(kTokens * p.k), -2.0f, 2.0f);
    p.xq.resize(p.x.size());
    p.xs.resize(static_cast<size_t>(kTokens));
    EXPECT_EQ(
        ternary::quantize_activations(p.x.data(), kTokens, p.k, p.k, p.xq.data(), p.k, p.xs.data()),
        status::ok);
    p.gemv_i8.assign(static_cast<size_t>(p.n), 0.0f);
    p.gemv_f32 = p.gemv_i8;
    p.gemm_i8.assign(static_cast<size_t>(kTokens * p.n), 0.0f);
    p.gemm_f32 = p.gemm_i8;
    gemm_options f32;
    f32.path = act_path::f32;
    EXPECT_EQ(ternary::gemv(p.w, p.x.data(), p.gemv_i8.data()), status::ok);
    EXPECT_EQ(ternary::gemv(p.w, p.x.data(), p.gemv_f32.data(), f32), status::ok);
    EXPECT_EQ(ternary::gemm(p.w, p.x.data(), kTokens, p.k, p.gemm_i8.data(), p.n), status::ok);
    EXPECT_EQ(ternary::gemm(p.w, p.x.data(), kTokens, p.k, p.gemm_f32.data(), p.n, f32),
              status::ok);
    // The int8 answers are also the reference's, bit for bit.
    std::vector<float> want(p.gemm_i8.size());
    ternary::ref::gemm_int8(p.w.view(), p.xq.data(), p.xs.data(), kTokens, p.k, want.data(), p.n, 0,
                            p.n);
    EXPECT_TRUE(same_floats(p.gemm_i8, want))
        << p.label << ": " << first_difference(p.gemm_i8, want);
    v.push_back(std::move(p));
  }
  return v;
}

const std::vector<Shared>& problems() {
  static const std::vector<Shared> v = make_shared_problems();
  return v;
}

// ---------------------------------------------------------------- shared matrix, many callers

TEST(ConcurrentGemm, SharedMatrixManyCallersEveryPathAndFormat) {
  const std::vector<Shared>& ps = problems();
  // Each iteration runs every call once with its thread count; the counts rotate by thread so
  // that at any moment some callers use the pool (2, 4, 0 = all cores) while others run inline.
  const int thread_counts[] = {1, 2, 4, 0};
  constexpr int kIterations = 4;
  Failures failures(kThreads);
  std::atomic<int64_t> calls{0};
  run_concurrently(kThreads, [&](int t) {
    std::vector<float> y;
    for (int it = 0; it < kIterations; ++it) {
      for (const Shared& p : ps) {
        gemm_options opt;
        opt.threads = thread_counts[(t + it) % 4];
        gemm_options opt_f32 = opt;
        opt_f32.path = act_path::f32;
        auto check = [&](const char* what, status st, const std::vector<float>& want) {
          calls.fetch_add(1, std::memory_order_relaxed);
          if (st != status::ok) {
            failures.add(t, p.label + " " + what + ": " + ternary::status_name(st) + " " +
                                ternary::last_error_message());
          } else if (!same_floats(y, want)) {
            failures.add(t, p.label + " " + what + " threads=" + std::to_string(opt.threads) +
                                ": " + first_difference(y, want));
          }
        };
        y.assign(p.gemv_i8.size(), -1.0f);
        check("gemv int8", ternary::gemv(p.w, p.x.data(), y.data(), opt), p.gemv_i8);
        y.assign(p.gemv_f32.size(), -1.0f);
        check("gemv f32", ternary::gemv(p.w, p.x.data(), y.data(), opt_f32), p.gemv_f32);
        y.assign(p.gemm_i8.size(), -1.0f);
        check("gemm int8", ternary::gemm(p.w, p.x.data(), kTokens, p.k, y.data(), p.n, opt),
              p.gemm_i8);
        y.assign(p.gemm_f32.size(), -1.0f);
        check("gemm f32", ternary::gemm(p.w, p.x.data(), kTokens, p.k, y.data(), p.n, opt_f32),
              p.gemm_f32);
        // Pre-quantized activations shared by every thread (const input, private output).
        y.assign(p.gemm_i8.size(), -1.0f);
        check("gemm int8 view",
              ternary::gemm(p.w, activations::int8(p.xq.data(), p.xs.data(), kTokens, p.k, p.k),
                            y.data(), p.n, opt),
              p.gemm_i8);
        y.assign(p.gemm_f32.size(), -1.0f);
        check(
            "gemm f32 view",
            ternary::gemm(p.w, activations::f32(p.x.data(), kTokens, p.k, p.k), y.data(), p.n, opt),
            p.gemm_f32);
      }
    }
  });
  EXPECT_EQ(failures.all(), "");
  EXPECT_EQ(calls.load(), int64_t{kThreads} * kIterations * 3 * 6);
}

TEST(ConcurrentGemm, OneCallerWithThreadsEqualsSingleThreaded) {
  // The pool's row split never changes a row's value (the same holds across callers above).
  for (const Shared& p : problems()) {
    for (int threads : {2, 3, 7, 16, 0}) {
      gemm_options opt;
      opt.threads = threads;
      std::vector<float> y(p.gemm_i8.size(), -1.0f);
      ASSERT_EQ(ternary::gemm(p.w, p.x.data(), kTokens, p.k, y.data(), p.n, opt), status::ok);
      EXPECT_TRUE(same_floats(y, p.gemm_i8)) << p.label << " threads " << threads;
      opt.path = act_path::f32;
      ASSERT_EQ(ternary::gemm(p.w, p.x.data(), kTokens, p.k, y.data(), p.n, opt), status::ok);
      EXPECT_TRUE(same_floats(y, p.gemm_f32)) << p.label << " f32 threads " << threads;
    }
  }
}

// ---------------------------------------------------------------- gemm_rows, caller's pool

// Runs gemm_rows over [0, n) in chunks of `chunk` rows taken by `workers` threads from a shared
// counter (an engine's pool), writing one shared y.
status gemm_rows_by_pool(const packed_matrix& w, const activations& x, float* y, int64_t ldy,
                         int64_t chunk, int workers) {
  std::atomic<int64_t> next{0};
  std::atomic<int> failed{0};
  run_concurrently(workers, [&](int) {
    for (;;) {
      const int64_t b = next.fetch_add(chunk);
      if (b >= w.rows()) return;
      const int64_t e = std::min(w.rows(), b + chunk);
      if (ternary::gemm_rows(w, x, y, ldy, b, e) != status::ok) failed.store(1);
    }
  });
  return failed.load() ? status::internal_error : status::ok;
}

TEST(GemmRows, CallerSidePoolEqualsOneFullCall) {
  for (const Shared& p : problems()) {
    const int64_t ldy = p.n + 3;  // a gap that must stay untouched
    const activations views[] = {activations::int8(p.xq.data(), p.xs.data(), kTokens, p.k, p.k),
                                 activations::f32(p.x.data(), kTokens, p.k, p.k)};
    for (const activations& a : views) {
      const std::string what = p.label + (a.type == act_type::int8 ? " int8" : " f32");
      std::vector<float> full(static_cast<size_t>(kTokens * ldy), -7.0f);
      ASSERT_EQ(ternary::gemm_rows(p.w, a, full.data(), ldy, 0, p.n), status::ok)
          << ternary::last_error_message();
      // One full gemm_rows equals gemm(): same rows, whatever the entry point.
      const std::vector<float>& want = a.type == act_type::int8 ? p.gemm_i8 : p.gemm_f32;
      for (int64_t t = 0; t < kTokens; ++t) {
        for (int64_t r = 0; r < p.n; ++r) {
          ASSERT_TRUE(same_bits(full[static_cast<size_t>(t * ldy + r)],
                                want[static_cast<size_t>(t * p.n + r)]))
              << what << " token " << t << " row " << r;
        }
      }
      // Chunks not multiples of the kernels' 16-row panels, 1 row, and more chunks than rows.
      for (int64_t chunk : {int64_t{1}, int64_t{7}, int64_t{16}, int64_t{37}, int64_t{149}}) {
        for (int workers : {3, kThreads}) {
          std::vector<float> y(full.size(), -7.0f);
          ASSERT_EQ(gemm_rows_by_pool(p.w, a, y.data(), ldy, chunk, workers), status::ok);
          EXPECT_TRUE(same_floats(y, full)) << what << " chunk " << chunk << " workers " << workers
                                            << ": " << first_difference(y, full);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- activations

TEST(ConcurrentActivations, QuantizeActivationsFromManyThreads) {
  Rng rng(7200);
  const int64_t tokens = 9, cols = 1000, ldx = 1003;
  std::vector<float> x = random_floats(rng, static_cast<size_t>(tokens * ldx), -3.0f, 3.0f);
  x[5 * ldx + 17] = 0.0f;
  std::vector<int8_t> want(static_cast<size_t>(tokens * cols));
  std::vector<float> want_s(static_cast<size_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t)
    want_s[static_cast<size_t>(t)] =
        ternary::ref::quantize_row(x.data() + t * ldx, cols, want.data() + t * cols);
  Failures failures(kThreads);
  run_concurrently(kThreads, [&](int t) {
    std::vector<int8_t> q(want.size());
    std::vector<float> s(want_s.size());
    for (int it = 0; it < 20; ++it) {
      // Thread t quantizes the tokens from t % tokens on (a different slice each thread).
      const int64_t first = (t + it) % tokens, count = tokens - first;
      std::fill(q.begin(), q.end(), int8_t{0x55});
      const status st = ternary::quantize_activations(x.data() + first * ldx, count, cols, ldx,
                                                      q.data(), cols, s.data());
      if (st != status::ok) {
        failures.add(t, std::string("quantize_activations: ") + ternary::last_error_message());
        continue;
      }
      if (std::memcmp(q.data(), want.data() + first * cols, static_cast<size_t>(count * cols)) ||
          std::memcmp(s.data(), want_s.data() + first, static_cast<size_t>(count) * 4)) {
        failures.add(t, "quantize_activations from token " + std::to_string(first) +
                            " differs from ref::quantize_row");
      }
    }
  });
  EXPECT_EQ(failures.all(), "");
}

// ---------------------------------------------------------------- error messages

TEST(ConcurrentErrors, LastErrorMessageIsPerThreadUnderContention) {
  const Shared& p = problems()[0];
  Failures failures(kThreads);
  std::vector<std::string> before(kThreads);
  run_concurrently(kThreads, [&](int t) {
    before[static_cast<size_t>(t)] = ternary::last_error_message();
    std::vector<float> y(static_cast<size_t>(p.n));
    std::vector<float> bad(p.x.begin(), p.x.begin() + p.k);
    std::vector<int8_t> q(static_cast<size_t>(p.k));
    float s = 0;
    for (int it = 0; it < 30; ++it) {
      // A failure whose message only this thread and iteration can produce.
      std::string token;
      status got = status::ok, expect = status::ok;
      switch ((t + it) % 4) {
        case 0: {
          token = "isa_t" + std::to_string(t) + "_i" + std::to_string(it);
          isa ignored;
          got = ternary::parse_isa(token.c_str(), &ignored);
          expect = status::invalid_argument;
          break;
        }
        case 1: {  // K mismatch: the message names the activation column count
          const int64_t cols = p.k + 1000 + t * 100 + it;
          std::vector<float> wide(static_cast<size_t>(cols), 0.25f);
          got = ternary::gemm(p.w, activations::f32(wide.data(), 1, cols, cols), y.data(), p.n);
          token = std::to_string(cols) + " columns";
          expect = status::format_mismatch;
          break;
        }
        case 2: {  // NaN at a column only this thread uses
          const int64_t col = t * 30 + it;
          bad[static_cast<size_t>(col)] = std::numeric_limits<float>::quiet_NaN();
          got = ternary::quantize_activations(bad.data(), 1, p.k, p.k, q.data(), p.k, &s);
          bad[static_cast<size_t>(col)] = 0.5f;
          token = "col " + std::to_string(col) + "]";
          expect = status::invalid_argument;
          break;
        }
        default: {  // an option error of ternary::quant
          tq::options o;
          o.threads = -(1 + t * 100 + it);
          packed_matrix out;
          got = tq::ternarize(p.x.data(), 2, p.k, p.k, o, &out, nullptr);
          token = "got " + std::to_string(o.threads);
          expect = status::invalid_argument;
          break;
        }
      }
      const std::string msg = ternary::last_error_message();
      if (got != expect || msg.find(token) == std::string::npos) {
        failures.add(t, std::string("status ") + ternary::status_name(got) + " message \"" + msg +
                            "\" lacks \"" + token + "\"");
        continue;
      }
      // Other threads keep failing meanwhile; a successful call does not touch the message.
      std::this_thread::yield();
      gemm_options opt;
      opt.threads = 2;
      if (ternary::gemv(p.w, p.x.data(), y.data(), opt) != status::ok)
        failures.add(t, std::string("gemv: ") + ternary::last_error_message());
      if (ternary::last_error_message() != msg)
        failures.add(
            t, "message changed from \"" + msg + "\" to \"" + ternary::last_error_message() + "\"");
    }
  });
  EXPECT_EQ(failures.all(), "");
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(before[static_cast<size_t>(t)], "") << t;
}

TEST(ConcurrentErrors, WorkerFailureIsReportedOnTheCallingThread) {
  // The quant workers' own thread-local messages are not the caller's: a NaN found while the
  // rows are split across threads must still be explained on the calling thread.
  Rng rng(7300);
  const int64_t rows = 24, cols = 128;
  std::vector<float> w = random_floats(rng, static_cast<size_t>(rows * cols), -1.0f, 1.0f);
  w[static_cast<size_t>(21 * cols + 5)] = std::numeric_limits<float>::infinity();
  Failures failures(4);
  run_concurrently(4, [&](int t) {
    tq::options o;
    o.threads = 4;
    packed_matrix out;
    const std::string primed = prime_last_error();
    const status st = tq::ternarize(w.data(), rows, cols, cols, o, &out, nullptr);
    const std::string msg = ternary::last_error_message();
    if (st != status::invalid_scale || msg == primed || msg.empty())
      failures.add(t, std::string(ternary::status_name(st)) + ": \"" + msg + "\"");
  });
  EXPECT_EQ(failures.all(), "");
}

// ---------------------------------------------------------------- quant

TEST(ConcurrentQuant, TernarizeFromManyThreadsGivesIdenticalBytes) {
  Rng rng(7400);
  const int64_t rows = 40, cols = 200;
  const std::vector<float> w = random_floats(rng, static_cast<size_t>(rows * cols), -1.0f, 1.0f);
  const std::vector<float> calib_x = random_floats(rng, 48 * cols, -1.0f, 1.0f);
  tq::calibration calib;
  calib.x = calib_x.data();
  calib.tokens = 48;
  calib.ld_x = cols;
  struct Case {
    tq::method m;
    format f;
    scale_granularity g;
    int64_t group;
    bool aware;
  };
  const Case cases[] = {
      {tq::method::optimal, format::bits2, scale_granularity::per_row, 0, false},
      {tq::method::ptqtp, format::base3, scale_granularity::per_group, 128, false},
      {tq::method::sherry, format::sherry, scale_granularity::per_row, 0, false},
      {tq::method::ttq_optimal, format::bits2, scale_granularity::per_tensor, 0, false},
      {tq::method::absmean, format::bits2, scale_granularity::per_row, 0, true},
  };
  auto options_of = [&](const Case& c, int threads) {
    tq::options o;
    o.algo = c.m;
    o.fmt = c.f;
    o.granularity = c.g;
    o.group_size = c.group;
    o.threads = threads;
    o.calib = c.aware ? &calib : nullptr;
    return o;
  };
  std::vector<std::vector<uint8_t>> want;
  std::vector<double> want_err;
  for (const Case& c : cases) {
    packed_matrix q;
    tq::stats st;
    ASSERT_EQ(tq::ternarize(w.data(), rows, cols, cols, options_of(c, 1), &q, &st), status::ok)
        << ternary::last_error_message();
    want.emplace_back();
    ASSERT_EQ(q.serialize(&want.back()), status::ok);
    want_err.push_back(st.rel_error);
  }
  constexpr int kQuantThreads = 4;
  Failures failures(kQuantThreads);
  run_concurrently(kQuantThreads, [&](int t) {
    const int thread_counts[] = {1, 2, 3, 0};
    for (size_t i = 0; i < std::size(cases); ++i) {
      const int threads = thread_counts[(static_cast<size_t>(t) + i) % 4];
      packed_matrix q;
      tq::stats st;
      const status s =
          tq::ternarize(w.data(), rows, cols, cols, options_of(cases[i], threads), &q, &st);
      std::vector<uint8_t> bytes;
      if (s != status::ok || q.serialize(&bytes) != status::ok) {
        failures.add(
            t, std::string(tq::method_name(cases[i].m)) + ": " + ternary::last_error_message());
      } else if (bytes != want[i] || st.rel_error != want_err[i]) {
        failures.add(t, std::string(tq::method_name(cases[i].m)) +
                            (cases[i].aware ? " aware" : "") +
                            " threads=" + std::to_string(threads) + ": different bytes or error");
      }
    }
  });
  EXPECT_EQ(failures.all(), "");
}

// ---------------------------------------------------------------- containers and files

TEST(ConcurrentIo, SerializeDeserializeAndLoadPackedShareConstObjects) {
  namespace st = ternary::io::safetensors;
  const Shared& p = problems()[0];
  std::vector<uint8_t> container;
  ASSERT_EQ(p.w.serialize(&container), status::ok);
  st::writer wr;
  ASSERT_EQ(st::store_packed(wr, "layer.weight", p.w), status::ok) << ternary::last_error_message();
  std::vector<uint8_t> file;
  ASSERT_EQ(wr.write_memory(&file), status::ok);
  st::reader rd;
  ASSERT_EQ(st::reader::open_memory(file.data(), file.size(), &rd), status::ok)
      << ternary::last_error_message();
  Failures failures(kThreads);
  run_concurrently(kThreads, [&](int t) {
    for (int it = 0; it < 3; ++it) {
      std::vector<uint8_t> bytes;
      if (p.w.serialize(&bytes) != status::ok || bytes != container)
        failures.add(t, "serialize differs");
      packed_matrix a, b;
      std::vector<float> y(static_cast<size_t>(p.n));
      if (packed_matrix::deserialize(container.data(), container.size(), &a) != status::ok)
        failures.add(t, std::string("deserialize: ") + ternary::last_error_message());
      else if (ternary::gemv(a, p.x.data(), y.data()) != status::ok || !same_floats(y, p.gemv_i8))
        failures.add(t, "gemv on the deserialized matrix differs");
      if (st::load_packed(rd, "layer.weight", &b) != status::ok)
        failures.add(t, std::string("load_packed: ") + ternary::last_error_message());
      else if (ternary::gemv(b, p.x.data(), y.data()) != status::ok || !same_floats(y, p.gemv_i8))
        failures.add(t, "gemv on the loaded matrix differs");
    }
  });
  EXPECT_EQ(failures.all(), "");
}

}  // namespace
