// SPDX-License-Identifier: Apache-2.0
// The public GEMM entry points: operand validation, backend and ISA choice, activation
// quantization for the convenience path, and the row split across threads. Compiled with
// baseline flags only.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "cpu/kernel.hpp"
#include "detail/error.hpp"
#include "detail/isa_select.hpp"

#include "ternary/gemm.hpp"

namespace ternary {
namespace {

using detail::fail;

const cpu::kernel_table* table_for(isa i) noexcept {
  switch (i) {
    case isa::scalar: return cpu::kernels_scalar();
#if defined(TERNARY_HAVE_ISA_AVX2)
    case isa::avx2: return cpu::kernels_avx2();
#endif
#if defined(TERNARY_HAVE_ISA_AVX512)
    case isa::avx512: return cpu::kernels_avx512();
#endif
#if defined(TERNARY_HAVE_ISA_NEON)
    case isa::neon: return cpu::kernels_neon();
#endif
    default: return nullptr;
  }
}

}  // namespace

cpu::quantize_fn cpu::active_quantizer() noexcept {
  const isa i = active_isa();
  const cpu::kernel_table* t = isa_available(i) ? table_for(i) : nullptr;
  return t ? t->quantize : cpu::kernels_scalar()->quantize;
}

namespace {

cpu::gemm_fn kernel_for(isa i, const matrix_view& w, act_type a) noexcept {
  const cpu::kernel_table* t = table_for(i);
  if (!t || !is_valid(w.fmt)) return nullptr;
  const int f = static_cast<int>(w.fmt) - 1;
  return a == act_type::int8 ? t->int8[f] : t->f32[f];
}

bool mul_overflows(int64_t a, int64_t b) { return b != 0 && a > INT64_MAX / b; }

// Byte extent [begin, end) of a strided 2-D operand.
void extent(const void* p, int64_t rows, int64_t ld, int64_t cols, size_t elem, uintptr_t* b,
            uintptr_t* e) {
  *b = reinterpret_cast<uintptr_t>(p);
  *e = *b + static_cast<uintptr_t>(((rows - 1) * ld + cols) * static_cast<int64_t>(elem));
}

status check_operands(const packed_matrix& w, const activations& x, const float* y, int64_t ldy,
                      const char* fn) {
  if (w.empty()) return fail(status::invalid_argument, "%s: the weight matrix is empty", fn);
  if (x.type != act_type::f32 && x.type != act_type::int8)
    return fail(status::invalid_argument, "%s: unknown activation type id %u", fn,
                static_cast<unsigned>(x.type));
  if (!x.data) return fail(status::null_pointer, "%s: activation data is null", fn);
  if (x.type == act_type::int8 && !x.scales)
    return fail(status::null_pointer, "%s: int8 activations need per-token scales (null)", fn);
  if (!y) return fail(status::null_pointer, "%s: output y is null", fn);
  if (x.tokens <= 0)
    return fail(status::invalid_argument, "%s: token count must be positive, got %lld", fn,
                static_cast<long long>(x.tokens));
  if (x.tokens > max_rows)
    return fail(status::size_overflow, "%s: token count %lld exceeds %lld", fn,
                static_cast<long long>(x.tokens), static_cast<long long>(max_rows));
  if (x.cols != w.cols())
    return fail(status::format_mismatch, "%s: activations have %lld columns, the matrix has K=%lld",
                fn, static_cast<long long>(x.cols), static_cast<long long>(w.cols()));
  if (x.ld < x.cols)
    return fail(status::buffer_too_small, "%s: activation leading dimension %lld < K=%lld", fn,
                static_cast<long long>(x.ld), static_cast<long long>(x.cols));
  if (ldy < w.rows())
    return fail(status::buffer_too_small, "%s: output leading dimension %lld < N=%lld", fn,
                static_cast<long long>(ldy), static_cast<long long>(w.rows()));
  if (mul_overflows(x.tokens, x.ld) || mul_overflows(x.tokens, ldy) ||
      mul_overflows(x.tokens * x.ld, 4) || mul_overflows(x.tokens * ldy, 4))
    return fail(status::size_overflow, "%s: tokens x leading dimension overflows", fn);
  if (x.type == act_type::int8) {
    for (int64_t t = 0; t < x.tokens; ++t) {
      const float s = x.scales[t];
      if (!std::isfinite(s) || !(s > 0.0f))
        return fail(status::invalid_scale,
                    "%s: activation scale of token %lld is %g (must be finite and > 0)", fn,
                    static_cast<long long>(t), static_cast<double>(s));
    }
  }
  uintptr_t xb, xe, yb, ye;
  extent(x.data, x.tokens, x.ld, x.cols, x.type == act_type::int8 ? 1 : 4, &xb, &xe);
  extent(y, x.tokens, ldy, w.rows(), sizeof(float), &yb, &ye);
  if (xb < ye && yb < xe)
    return fail(status::invalid_argument, "%s: output y overlaps the activations", fn);
  const auto* sb = static_cast<const uint8_t*>(w.storage());
  const uintptr_t wb = reinterpret_cast<uintptr_t>(sb), we = wb + w.storage_bytes();
  if (wb < ye && yb < we)
    return fail(status::invalid_argument, "%s: output y overlaps the weight matrix", fn);
  return status::ok;
}

status check_backend(const gemm_options& opt, const char* fn) {
  if (opt.target == backend::cuda) {
#if defined(TERNARY_WITH_CUDA)
    // The CUDA backend works on device matrices and device pointers: include/ternary/cuda.hpp.
    return fail(status::unsupported,
                "%s: backend::cuda takes device operands: upload the matrix with "
                "ternary::cuda::upload and call ternary::cuda::gemm (ternary/cuda.hpp)",
                fn);
#else
    return fail(status::no_cuda, "%s: backend::cuda requested but this build has no CUDA backend",
                fn);
#endif
  }
  if (opt.target != backend::automatic && opt.target != backend::cpu)
    return fail(status::invalid_argument, "%s: unknown backend id %d", fn,
                static_cast<int>(opt.target));
  if (opt.threads < 0)
    return fail(status::invalid_argument, "%s: threads must be >= 0, got %d", fn, opt.threads);
  return status::ok;
}

// Runs rows [begin, end) on the calling thread with its own scratch.
// Each thread keeps its kernel scratch between calls (grown, never shrunk, freed at thread
// exit), so a GEMV of tens of microseconds pays for no allocation or page faults.
class scratch_buffer {
 public:
  ~scratch_buffer() { release(); }
  int8_t* get(size_t bytes) noexcept {
    if (bytes > size_) {
      release();
      data_ = static_cast<int8_t*>(::operator new(bytes, std::align_val_t(64), std::nothrow));
      size_ = data_ ? bytes : 0;
    }
    return data_;
  }

 private:
  void release() noexcept {
    if (data_) ::operator delete(data_, std::align_val_t(64));
    data_ = nullptr;
    size_ = 0;
  }
  int8_t* data_ = nullptr;
  size_t size_ = 0;
};

status run_rows(cpu::gemm_fn fn, const matrix_view& w, const activations& x, float* y, int64_t ldy,
                int64_t begin, int64_t end) {
  static thread_local scratch_buffer buffer;
  const size_t bytes = static_cast<size_t>(cpu::scratch_bytes(w, x.tokens));
  int8_t* scratch = buffer.get(bytes);
  if (!scratch) return fail(status::out_of_memory, "cannot allocate %zu bytes of scratch", bytes);
  cpu::gemm_job j;
  j.w = &w;
  j.x = x.data;
  j.xs = x.scales;
  j.ldx = x.ld;
  j.tokens = x.tokens;
  j.y = y;
  j.ldy = ldy;
  j.row_begin = begin;
  j.row_end = end;
  j.scratch = scratch;
  fn(j);
  return status::ok;
}

// A small persistent pool for the convenience path (gemm_options::threads), so that a GEMV of
// tens of microseconds does not pay for creating threads. Workers are started on first use and
// kept; a call that finds the pool busy (another thread is inside gemm) runs its parts itself.
class worker_pool {
 public:
  ~worker_pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Runs task(i) for i in [0, parts); the caller runs part 0 and any part no worker took.
  template <class Task>
  void run(int64_t parts, const Task& task) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock() || !ensure_workers(parts - 1)) {
      for (int64_t i = 0; i < parts; ++i) task(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = [&task](int64_t i) { task(i); };
      parts_ = parts;
      next_ = 1;
      done_ = 0;
      ++generation_;
      published_.store(generation_, std::memory_order_release);
    }
    start_.notify_all();
    task(0);
    for (;;) {  // help with parts no worker has picked up yet
      int64_t i;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (next_ >= parts_) break;
        i = next_++;
      }
      task(i);
      std::lock_guard<std::mutex> lock(mutex_);
      ++done_;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return done_ == parts_ - 1; });
    task_ = nullptr;
  }

 private:
  bool ensure_workers(int64_t n) {
    try {
      while (static_cast<int64_t>(workers_.size()) < n) workers_.emplace_back([this] { loop(); });
    } catch (...) {
      return !workers_.empty();  // run with the workers that did start
    }
    return true;
  }

  void loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      // Yield-spin briefly before sleeping, so back-to-back calls (a GEMV per layer) reach a
      // worker without a futex wake-up; the predicate below is still checked under the lock.
      lock.unlock();
      for (int spin = 0; spin < spin_iterations; ++spin) {
        if (published_.load(std::memory_order_acquire) != seen) break;
        std::this_thread::yield();
      }
      lock.lock();
      start_.wait(lock, [&] { return stop_ || (generation_ != seen && next_ < parts_); });
      if (stop_) return;
      seen = generation_;
      while (next_ < parts_) {
        const int64_t i = next_++;
        lock.unlock();
        task_(i);
        lock.lock();
        if (++done_ == parts_ - 1) finished_.notify_one();
      }
    }
  }

  static constexpr int spin_iterations = 2000;
  std::atomic<uint64_t> published_{0};
  std::mutex busy_;
  std::mutex mutex_;
  std::condition_variable start_, finished_;
  std::vector<std::thread> workers_;
  std::function<void(int64_t)> task_;
  int64_t parts_ = 0, next_ = 0, done_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

worker_pool& pool() {
  static worker_pool p;
  return p;
}

status run_threaded(cpu::gemm_fn fn, const matrix_view& w, const activations& x, float* y,
                    int64_t ldy, int threads) {
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Whole multiples of 16 rows per part keep output cache lines and GEMM panels apart.
  constexpr int64_t granule = 16;
  const int64_t units = (w.rows + granule - 1) / granule;
  const int64_t parts = std::min<int64_t>(threads, units);
  if (parts <= 1) return run_rows(fn, w, x, y, ldy, 0, w.rows);
  std::atomic<int> failed{0};
  try {
    pool().run(parts, [&](int64_t i) {
      const int64_t b = std::min(w.rows, units * i / parts * granule);
      const int64_t e = std::min(w.rows, units * (i + 1) / parts * granule);
      if (run_rows(fn, w, x, y, ldy, b, e) != status::ok) failed.store(1);
    });
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "cannot start the worker threads");
  }
  if (failed.load())
    return fail(status::out_of_memory, "a worker could not allocate its scratch memory");
  return status::ok;
}

status select_kernel(const packed_matrix& w, act_type a, cpu::gemm_fn* fn, const char* name) {
  isa i;
  status s = detail::resolve_isa(&i);
  if (s != status::ok) return detail::with_context(s, name);
  *fn = kernel_for(i, w.view(), a);
  if (!*fn)
    return fail(status::internal_error, "%s: no %s kernel for format %s", name, isa_name(i),
                format_name(w.fmt()));
  return status::ok;
}

}  // namespace

bool cuda_built() noexcept {
#if defined(TERNARY_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

status can_implement(const packed_matrix& w, const activations& x, const float* y, int64_t ldy,
                     const gemm_options& opt) noexcept {
  status s = check_backend(opt, "can_implement");
  if (s != status::ok) return s;
  s = check_operands(w, x, y, ldy, "can_implement");
  if (s != status::ok) return s;
  cpu::gemm_fn fn;
  return select_kernel(w, x.type, &fn, "can_implement");
}

const char* kernel_name(const packed_matrix& w, act_type a, const gemm_options& opt) noexcept {
  if (w.empty() || (a != act_type::int8 && a != act_type::f32) || opt.target == backend::cuda)
    return "";
  isa i;
  if (detail::resolve_isa(&i) != status::ok) return "";
  // [isa][format][act][granularity][planes - 1]
  static char names[isa_count][3][2][3][2][64];
  static const bool filled = [] {
    const char* acts[2] = {"i8", "f32"};
    for (int is = 0; is < isa_count; ++is)
      for (int f = 0; f < 3; ++f)
        for (int ac = 0; ac < 2; ++ac)
          for (int g = 0; g < 3; ++g)
            for (int p = 0; p < 2; ++p)
              std::snprintf(names[is][f][ac][g][p], 64, "gemm_%s_%s_%s%s__%s",
                            format_name(static_cast<format>(f + 1)), acts[ac],
                            granularity_name(static_cast<scale_granularity>(g + 1)),
                            p ? "_2planes" : "", isa_name(static_cast<isa>(is)));
    return true;
  }();
  (void)filled;
  const matrix_view& v = w.view();
  return names[static_cast<int>(i)][static_cast<int>(v.fmt) - 1][a == act_type::int8 ? 0 : 1]
              [static_cast<int>(v.granularity) - 1][v.planes - 1];
}

status gemm_rows(const packed_matrix& w, const activations& x, float* y, int64_t ldy,
                 int64_t row_begin, int64_t row_end) noexcept {
  status s = check_operands(w, x, y, ldy, "gemm_rows");
  if (s != status::ok) return s;
  if (row_begin < 0 || row_begin > row_end || row_end > w.rows())
    return fail(status::invalid_argument,
                "gemm_rows: row range [%lld, %lld) is not inside [0, %lld)",
                static_cast<long long>(row_begin), static_cast<long long>(row_end),
                static_cast<long long>(w.rows()));
  if (row_begin == row_end) return status::ok;
  cpu::gemm_fn fn;
  s = select_kernel(w, x.type, &fn, "gemm_rows");
  if (s != status::ok) return s;
  return detail::with_context(run_rows(fn, w.view(), x, y, ldy, row_begin, row_end), "gemm_rows");
}

status gemm(const packed_matrix& w, const activations& x, float* y, int64_t ldy,
            const gemm_options& opt) noexcept {
  status s = check_backend(opt, "gemm");
  if (s != status::ok) return s;
  s = check_operands(w, x, y, ldy, "gemm");
  if (s != status::ok) return s;
  cpu::gemm_fn fn;
  s = select_kernel(w, x.type, &fn, "gemm");
  if (s != status::ok) return s;
  return detail::with_context(run_threaded(fn, w.view(), x, y, ldy, opt.threads), "gemm");
}

status gemm(const packed_matrix& w, const float* x, int64_t tokens, int64_t ldx, float* y,
            int64_t ldy, const gemm_options& opt) noexcept {
  if (opt.path != act_path::int8 && opt.path != act_path::f32)
    return fail(status::invalid_argument, "gemm: unknown activation path %d",
                static_cast<int>(opt.path));
  const activations xf = activations::f32(x, tokens, w.cols(), ldx);
  if (opt.path == act_path::f32) return gemm(w, xf, y, ldy, opt);
  status s = check_backend(opt, "gemm");
  if (s != status::ok) return s;
  s = check_operands(w, xf, y, ldy, "gemm");
  if (s != status::ok) return s;
  std::vector<int8_t> xq;
  std::vector<float> scales;
  try {
    xq.resize(static_cast<size_t>(tokens * w.cols()));
    scales.resize(static_cast<size_t>(tokens));
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "gemm: cannot allocate the quantized activations");
  }
  s = quantize_activations(x, tokens, w.cols(), ldx, xq.data(), w.cols(), scales.data());
  if (s != status::ok) return detail::with_context(s, "gemm");
  return gemm(w, activations::int8(xq.data(), scales.data(), tokens, w.cols(), w.cols()), y, ldy,
              opt);
}

status gemv(const packed_matrix& w, const float* x, float* y, const gemm_options& opt) noexcept {
  return gemm(w, x, 1, w.empty() ? 1 : w.cols(), y, w.empty() ? 1 : w.rows(), opt);
}

}  // namespace ternary
