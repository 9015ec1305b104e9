// SPDX-License-Identifier: Apache-2.0
// Host side of the CUDA backend (include/ternary/cuda.hpp): upload/download with the GPU layout
// conversion, operand validation, activation staging and kernel launches. Plain C++ on the CUDA
// runtime API; the kernels live in cuda/*.cu.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cuda_runtime_api.h>
#include <new>
#include <string>
#include <vector>

#include "detail/error.hpp"
#include "launch.hpp"
#include "layout.hpp"

#include "ternary/cuda.hpp"

namespace ternary {
namespace cuda {

using ternary::detail::fail;

struct device_matrix_access {
  static void set(device_matrix* m, const matrix_desc& d, void* buffer, size_t bytes, int device,
                  int64_t row_bytes, const size_t* offsets) {
    m->desc_ = d;
    m->buffer_ = buffer;
    m->bytes_ = bytes;
    m->device_ = device;
    m->row_bytes_ = row_bytes;
    for (int i = 0; i < 5; ++i) m->offsets_[i] = offsets[i];
  }
  static const void* buffer(const device_matrix& m) { return m.buffer_; }
};

namespace {

status cuda_fail(cudaError_t e, const char* fn, const char* what) {
  return fail(e == cudaErrorMemoryAllocation ? status::out_of_memory : status::internal_error,
              "%s: %s failed: %s (%s)", fn, what, cudaGetErrorName(e), cudaGetErrorString(e));
}

// A visible device, or status::no_cuda with the reason.
status require_device(const char* fn) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (e != cudaSuccess) cudaGetLastError();  // clear the sticky-free error state
    return fail(status::no_cuda, "%s: no CUDA device is visible (%s)", fn,
                e == cudaSuccess ? "cudaGetDeviceCount returned 0" : cudaGetErrorString(e));
  }
  return status::ok;
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

bool device_accessible(const void* p, int device) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  if (a.type == cudaMemoryTypeDevice) return a.device == device;
  return a.type == cudaMemoryTypeManaged || (a.type == cudaMemoryTypeHost && a.devicePointer);
}

bool mul_overflows(int64_t a, int64_t b) { return b != 0 && a > INT64_MAX / b; }

}  // namespace

// ---- device_matrix ----------------------------------------------------------------------------

device_matrix::device_matrix(device_matrix&& o) noexcept { *this = std::move(o); }

device_matrix& device_matrix::operator=(device_matrix&& o) noexcept {
  if (this != &o) {
    reset();
    desc_ = o.desc_;
    buffer_ = o.buffer_;
    bytes_ = o.bytes_;
    device_ = o.device_;
    row_bytes_ = o.row_bytes_;
    std::memcpy(offsets_, o.offsets_, sizeof offsets_);
    o.buffer_ = nullptr;
    o.bytes_ = 0;
    o.desc_ = matrix_desc{};
  }
  return *this;
}

device_matrix::~device_matrix() { reset(); }

void device_matrix::reset() noexcept {
  if (buffer_) {
    int cur = 0;
    const bool switch_device = cudaGetDevice(&cur) == cudaSuccess && cur != device_;
    if (switch_device) cudaSetDevice(device_);
    cudaFree(buffer_);
    if (switch_device) cudaSetDevice(cur);
  }
  buffer_ = nullptr;
  bytes_ = 0;
  desc_ = matrix_desc{};
}

const void* device_matrix::plane_ptr(int plane, int section) const noexcept {
  if (!buffer_ || plane < 0 || plane >= desc_.planes) return nullptr;
  return static_cast<const uint8_t*>(buffer_) + offsets_[2 * plane + section];
}

const float* device_matrix::device_bias() const noexcept {
  if (!buffer_ || !desc_.has_bias) return nullptr;
  return reinterpret_cast<const float*>(static_cast<const uint8_t*>(buffer_) + offsets_[4]);
}

// ---- free functions ---------------------------------------------------------------------------

status device_count(int* count) noexcept {
  if (!count) return fail(status::null_pointer, "cuda::device_count: count is null");
  *count = 0;
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    return status::ok;
  }
  if (e != cudaSuccess) return cuda_fail(e, "cuda::device_count", "cudaGetDeviceCount");
  *count = n;
  return status::ok;
}

status upload(const packed_matrix& w, device_matrix* out, void* stream) noexcept {
  const char* fn = "cuda::upload";
  if (!out) return fail(status::null_pointer, "%s: out is null", fn);
  if (w.empty()) return fail(status::invalid_argument, "%s: the matrix is empty", fn);
  status st = require_device(fn);
  if (st != status::ok) return st;
  const matrix_view& v = w.view();
  const matrix_desc& d = w.desc();
  const int64_t row_bytes = detail::gpu_row_bytes(v.fmt, v.cols);
  const int64_t nscales = w.scale_count();
  size_t off[5] = {0, 0, 0, 0, 0};
  size_t total = 0;
  for (int p = 0; p < v.planes; ++p) {
    off[2 * p] = total;
    total = align256(total + static_cast<size_t>(row_bytes) * static_cast<size_t>(v.rows));
    off[2 * p + 1] = total;
    total = align256(total + sizeof(float) * static_cast<size_t>(nscales));
  }
  if (d.has_bias) {
    off[4] = total;
    total = align256(total + sizeof(float) * static_cast<size_t>(v.rows));
  }
  std::vector<uint8_t> host;
  try {
    host.assign(total, 0);
    std::vector<int8_t> trits(static_cast<size_t>(detail::row_scratch_trits(v.fmt, v.cols)));
    for (int p = 0; p < v.planes; ++p) {
      uint8_t* plane = host.data() + off[2 * p];
      for (int64_t r = 0; r < v.rows; ++r) {
        detail::encode_row(v, p, r, trits.data(), plane + r * row_bytes);
      }
      st = w.unpack_scales(p, reinterpret_cast<float*>(host.data() + off[2 * p + 1]));
      if (st != status::ok) return ternary::detail::with_context(st, fn);
    }
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "%s: cannot allocate %zu bytes of host staging", fn, total);
  }
  if (d.has_bias)
    std::memcpy(host.data() + off[4], v.bias, sizeof(float) * static_cast<size_t>(v.rows));

  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) return cuda_fail(e, fn, "cudaGetDevice");
  void* buf = nullptr;
  e = cudaMalloc(&buf, total);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return cuda_fail(e, fn, "cudaMalloc");
  }
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  e = cudaMemcpyAsync(buf, host.data(), total, cudaMemcpyHostToDevice, s);
  if (e == cudaSuccess) e = cudaStreamSynchronize(s);
  if (e != cudaSuccess) {
    cudaFree(buf);
    return cuda_fail(e, fn, "copying the matrix to the device");
  }
  device_matrix m;
  device_matrix_access::set(&m, d, buf, total, device, row_bytes, off);
  *out = std::move(m);
  return status::ok;
}

status download(const device_matrix& w, packed_matrix* out, void* stream) noexcept {
  const char* fn = "cuda::download";
  if (!out) return fail(status::null_pointer, "%s: out is null", fn);
  if (w.empty()) return fail(status::invalid_argument, "%s: the device matrix is empty", fn);
  const matrix_desc& d = w.desc();
  std::vector<uint8_t> host;
  std::vector<int8_t> trits[2];
  std::vector<float> scales[2];
  const int64_t units = detail::units_per_row(d.fmt, d.cols);
  const detail::unit_shape sh = detail::shape_of(d.fmt);
  const int64_t groups = d.granularity == scale_granularity::per_group
                             ? (d.cols + d.group_size - 1) / d.group_size
                             : 1;
  const int64_t nscales = scale_count(d.granularity, d.rows, groups);
  try {
    host.resize(w.device_bytes());
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    cudaError_t e = cudaMemcpyAsync(host.data(), device_matrix_access::buffer(w), host.size(),
                                    cudaMemcpyDeviceToHost, s);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
    if (e != cudaSuccess) return cuda_fail(e, fn, "copying the matrix from the device");
    uint32_t table[32];
    detail::fill_sherry_table(table);
    std::vector<uint32_t> words(static_cast<size_t>(detail::unit_words(d.fmt)));
    for (int p = 0; p < d.planes; ++p) {
      const uint8_t* plane =
          host.data() + (static_cast<const uint8_t*>(w.device_weights(p)) -
                         static_cast<const uint8_t*>(device_matrix_access::buffer(w)));
      trits[p].resize(static_cast<size_t>(d.rows * d.cols));
      for (int64_t r = 0; r < d.rows; ++r) {
        const uint8_t* row = plane + r * w.gpu_row_bytes();
        for (int64_t u = 0; u < units; ++u) {
          detail::load_unit(d.fmt, row, units, u, words.data());
          for (int k = 0; k < sh.trits && u * sh.trits + k < d.cols; ++k)
            trits[p][static_cast<size_t>(r * d.cols + u * sh.trits + k)] =
                static_cast<int8_t>(detail::unit_trit(d.fmt, words.data(), k, table));
        }
      }
      const float* sc = reinterpret_cast<const float*>(
          host.data() + (reinterpret_cast<const uint8_t*>(w.device_scales(p)) -
                         static_cast<const uint8_t*>(device_matrix_access::buffer(w))));
      scales[p].assign(sc, sc + nscales);
    }
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "%s: cannot allocate host memory", fn);
  }
  const float* bias = nullptr;
  if (d.has_bias)
    bias = reinterpret_cast<const float*>(
        host.data() + (reinterpret_cast<const uint8_t*>(w.device_bias()) -
                       static_cast<const uint8_t*>(device_matrix_access::buffer(w))));
  const int8_t* tp[2] = {trits[0].data(), d.planes > 1 ? trits[1].data() : nullptr};
  const float* sp[2] = {scales[0].data(), d.planes > 1 ? scales[1].data() : nullptr};
  return ternary::detail::with_context(packed_matrix::pack(d, tp, d.cols, sp, bias, out), fn);
}

status gemm(const device_matrix& w, const device_activations& x, float* y, int64_t ldy,
            void* stream) noexcept {
  const char* fn = "cuda::gemm";
  if (w.empty()) return fail(status::invalid_argument, "%s: the device matrix is empty", fn);
  if (x.type != act_dtype::int8 && x.type != act_dtype::f16 && x.type != act_dtype::bf16)
    return fail(status::invalid_argument, "%s: unknown activation type id %u", fn,
                static_cast<unsigned>(x.type));
  if (!x.data) return fail(status::null_pointer, "%s: activation data is null", fn);
  if (x.type == act_dtype::int8 && !x.scales)
    return fail(status::null_pointer, "%s: int8 activations need per-token scales (null)", fn);
  if (!y) return fail(status::null_pointer, "%s: output y is null", fn);
  if (x.tokens <= 0 || x.tokens > max_rows)
    return fail(status::invalid_argument, "%s: token count must be in [1, %lld], got %lld", fn,
                static_cast<long long>(max_rows), static_cast<long long>(x.tokens));
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
  int cur = 0;
  cudaError_t e = cudaGetDevice(&cur);
  if (e != cudaSuccess) return cuda_fail(e, fn, "cudaGetDevice");
  if (cur != w.device())
    return fail(status::invalid_argument,
                "%s: the current device is %d but the matrix lives on device %d", fn, cur,
                w.device());
  if (!device_accessible(x.data, cur))
    return fail(status::invalid_argument,
                "%s: activations are not device memory of device %d (upload them first)", fn, cur);
  if (x.type == act_dtype::int8 && !device_accessible(x.scales, cur))
    return fail(status::invalid_argument, "%s: activation scales are not device memory", fn);
  if (!device_accessible(y, cur))
    return fail(status::invalid_argument, "%s: output y is not device memory of device %d", fn,
                cur);

  const matrix_desc& d = w.desc();
  detail::gemv_args a;
  a.fmt = d.fmt;
  a.planes = d.planes;
  for (int p = 0; p < d.planes; ++p) {
    a.weights[p] = static_cast<const uint8_t*>(w.device_weights(p));
    a.scales[p] = w.device_scales(p);
  }
  a.bias = w.device_bias();
  a.granularity = static_cast<int>(d.granularity);
  a.rows = d.rows;
  a.cols = d.cols;
  a.units = detail::units_per_row(d.fmt, d.cols);
  a.row_bytes = w.gpu_row_bytes();
  a.group_chunks = d.granularity == scale_granularity::per_group ? d.group_size / 64 : 1;
  a.groups_per_row = d.granularity == scale_granularity::per_group
                         ? (d.cols + d.group_size - 1) / d.group_size
                         : 1;
  a.chunks_k = (d.cols + 63) / 64;
  a.act = static_cast<detail::act_kind>(static_cast<int>(x.type));
  a.x_ld = a.units * detail::shape_of(d.fmt).trits;
  a.ldy = ldy;

  const int kt = detail::kernel_tokens(std::min<int64_t>(x.tokens, max_kernel_tokens));
  const size_t elem = x.type == act_dtype::int8 ? 1 : 2;
  const size_t x_bytes = static_cast<size_t>(kt) * static_cast<size_t>(a.x_ld) * elem;
  const size_t sum_bytes =
      sizeof(int32_t) * static_cast<size_t>(kt) * static_cast<size_t>(a.x_ld / 64);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  void* scratch = nullptr;
  e = cudaMallocAsync(&scratch, align256(x_bytes) + sum_bytes, s);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return cuda_fail(e, fn, "cudaMallocAsync (activation staging)");
  }
  a.x = scratch;
  a.x_sum = reinterpret_cast<const int32_t*>(static_cast<uint8_t*>(scratch) + align256(x_bytes));
  int err = 0;
  for (int64_t t0 = 0; t0 < x.tokens && err == 0; t0 += max_kernel_tokens) {
    const int64_t n = std::min<int64_t>(max_kernel_tokens, x.tokens - t0);
    const int k = detail::kernel_tokens(n);
    const void* src = static_cast<const uint8_t*>(x.data) + static_cast<size_t>(t0 * x.ld) * elem;
    err = detail::launch_stage(a.act, src, n, x.cols, x.ld, k, scratch, a.x_ld,
                               const_cast<int32_t*>(a.x_sum), stream);
    if (err != 0) break;
    a.tokens = static_cast<int>(n);
    a.x_scale = x.type == act_dtype::int8 ? x.scales + t0 : nullptr;
    a.y = y + t0 * ldy;
    switch (d.fmt) {
      case format::bits2: err = detail::launch_gemv_bits2(a, k, stream); break;
      case format::base3: err = detail::launch_gemv_base3(a, k, stream); break;
      default: err = detail::launch_gemv_sherry(a, k, stream); break;
    }
  }
  cudaFreeAsync(scratch, s);
  if (err != 0) return cuda_fail(static_cast<cudaError_t>(err), fn, "kernel launch");
  return status::ok;
}

status gemv(const device_matrix& w, const device_activations& x, float* y, void* stream) noexcept {
  if (x.tokens != 1)
    return fail(status::invalid_argument, "cuda::gemv: one token expected, got %lld",
                static_cast<long long>(x.tokens));
  return gemm(w, x, y, w.rows(), stream);
}

status quantize_activations(const float* x, int64_t tokens, int64_t cols, int64_t ldx, int8_t* xq,
                            int64_t ldq, float* scales, void* stream) noexcept {
  const char* fn = "cuda::quantize_activations";
  if (!x || !xq || !scales) return fail(status::null_pointer, "%s: a pointer is null", fn);
  if (tokens <= 0 || tokens > max_rows || cols <= 0 || cols > max_cols)
    return fail(status::invalid_argument, "%s: tokens=%lld cols=%lld out of range", fn,
                static_cast<long long>(tokens), static_cast<long long>(cols));
  if (ldx < cols || ldq < cols)
    return fail(status::buffer_too_small, "%s: leading dimensions %lld, %lld < cols=%lld", fn,
                static_cast<long long>(ldx), static_cast<long long>(ldq),
                static_cast<long long>(cols));
  status st = require_device(fn);
  if (st != status::ok) return st;
  int cur = 0;
  cudaError_t e = cudaGetDevice(&cur);
  if (e != cudaSuccess) return cuda_fail(e, fn, "cudaGetDevice");
  if (!device_accessible(x, cur) || !device_accessible(xq, cur) || !device_accessible(scales, cur))
    return fail(status::invalid_argument, "%s: x, xq and scales must be device memory", fn);
  const int err = detail::launch_quantize(x, tokens, cols, ldx, xq, ldq, scales, stream);
  if (err != 0) return cuda_fail(static_cast<cudaError_t>(err), fn, "kernel launch");
  return status::ok;
}

const char* kernel_name(const device_matrix& w, act_dtype a, int64_t tokens) noexcept {
  if (w.empty() || tokens <= 0 ||
      (a != act_dtype::int8 && a != act_dtype::f16 && a != act_dtype::bf16))
    return "";
  // [format][act][kernel tokens index][granularity]
  static char names[3][3][5][3][64];
  static const bool filled = [] {
    const char* acts[3] = {"i8", "f16", "bf16"};
    const int toks[5] = {1, 2, 4, 8, 16};
    for (int f = 0; f < 3; ++f)
      for (int ac = 0; ac < 3; ++ac)
        for (int t = 0; t < 5; ++t)
          for (int g = 0; g < 3; ++g)
            std::snprintf(names[f][ac][t][g], 64, "cuda_gemv_%s_%s_t%d_%s",
                          format_name(static_cast<format>(f + 1)), acts[ac], toks[t],
                          granularity_name(static_cast<scale_granularity>(g + 1)));
    return true;
  }();
  (void)filled;
  const int kt = detail::kernel_tokens(std::min<int64_t>(tokens, max_kernel_tokens));
  const int ti = kt == 1 ? 0 : kt == 2 ? 1 : kt == 4 ? 2 : kt == 8 ? 3 : 4;
  return names[static_cast<int>(w.desc().fmt) - 1][static_cast<int>(a) - 1][ti]
              [static_cast<int>(w.desc().granularity) - 1];
}

}  // namespace cuda
}  // namespace ternary
