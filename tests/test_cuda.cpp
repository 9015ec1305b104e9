// SPDX-License-Identifier: Apache-2.0
// The CUDA backend on a GPU (label `cuda`; built only with TERNARY_WITH_CUDA): every kernel
// (format x scale layout x planes x bias x token count x activation type) against the CPU
// reference over an edge-shape grid, exactly for int8; the device quantizer against
// ref::quantize_row; upload/download round trips and argument errors. Every test skips with
// "no CUDA device" when cudaGetDeviceCount fails or finds none.
#include <cmath>
#include <cstring>
#include <cuda_runtime_api.h>
#include <vector>

#include "test_util.hpp"
#include <gtest/gtest.h>

#include "ternary/cuda.hpp"
#include "ternary/ref/gemm.hpp"
#include "ternary/ref/quantize.hpp"

namespace {

using namespace ternary_test;
namespace tc = ternary::cuda;

bool have_device() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
}

#define REQUIRE_DEVICE() \
  if (!have_device()) GTEST_SKIP() << "no CUDA device"

// A device buffer freed on scope exit.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(&p_, n * sizeof(T) + 16), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return static_cast<T*>(p_); }
  void put(const std::vector<T>& v) {
    ASSERT_EQ(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> take() const {
    std::vector<T> v(n_);
    EXPECT_EQ(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }

 private:
  void* p_ = nullptr;
  size_t n_;
};

uint16_t to_bf16(float f) {  // round to nearest even
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(Cuda, UploadDownloadRoundTrip) {
  REQUIRE_DEVICE();
  Rng rng(17);
  for (format f : all_formats())
    for (const Gran& g : all_grans())
      for (int64_t cols : {1, 65, 321, 1000}) {
        const matrix_desc d = make_desc(f, 9, cols, g.g, g.group_size,
                                        rng.chance(0.5) ? scale_type::f16 : scale_type::f32,
                                        rng.chance(0.5) ? 2 : 1, rng.chance(0.5));
        packed_matrix w, back;
        ASSERT_EQ(pack_case(make_case(rng, d), &w), status::ok);
        tc::device_matrix dm;
        ASSERT_EQ(tc::upload(w, &dm), status::ok) << ternary::last_error_message();
        ASSERT_EQ(tc::download(dm, &back), status::ok) << ternary::last_error_message();
        std::vector<uint8_t> a, b;
        ASSERT_EQ(w.serialize(&a), status::ok);
        ASSERT_EQ(back.serialize(&b), status::ok);
        EXPECT_EQ(a, b) << describe(d);
      }
}

TEST(Cuda, GemmMatchesReference) {
  REQUIRE_DEVICE();
  Rng rng(4242);
  std::vector<Gran> grans = all_grans();
  grans.push_back({scale_granularity::per_group, 192});
  for (format f : all_formats())
    for (const Gran& g : grans)
      for (int64_t cols : {1, 63, 64, 65, 320, 511, 2050, 8192 + 64})
        for (int64_t rows : {1, 5, 33, 130}) {
          const int planes = rng.chance(0.3) ? 2 : 1;
          const matrix_desc d = make_desc(f, rows, cols, g.g, g.group_size,
                                          rng.chance(0.5) ? scale_type::f16 : scale_type::f32,
                                          planes, rng.chance(0.5));
          packed_matrix w;
          ASSERT_EQ(pack_case(make_case(rng, d), &w), status::ok);
          tc::device_matrix dm;
          ASSERT_EQ(tc::upload(w, &dm), status::ok) << ternary::last_error_message();
          for (int64_t tokens : {1, 2, 3, 4, 7, 8, 13, 16, 21}) {
            SCOPED_TRACE(describe(d) + " tokens=" + std::to_string(tokens));
            const int64_t ld = cols + 3, ldy = rows + 1;
            // int8: exact.
            std::vector<int8_t> xq(static_cast<size_t>(tokens * ld));
            for (auto& v : xq) v = static_cast<int8_t>(rng.uniform(-128, 127));
            std::vector<float> sc(static_cast<size_t>(tokens));
            for (auto& v : sc) v = rng.uniform_float(0.5f, 300.0f);
            std::vector<float> want(static_cast<size_t>(tokens * ldy), 0.0f);
            ternary::ref::gemm_int8(w.view(), xq.data(), sc.data(), tokens, ld, want.data(), ldy, 0,
                                    rows);
            DeviceBuffer<int8_t> dx(xq.size());
            DeviceBuffer<float> ds(sc.size()), dy(want.size());
            dx.put(xq);
            ds.put(sc);
            dy.put(std::vector<float>(want.size(), 0.0f));
            ASSERT_EQ(
                tc::gemm(dm, tc::device_activations::int8(dx.get(), ds.get(), tokens, cols, ld),
                         dy.get(), ldy),
                status::ok)
                << ternary::last_error_message();
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            const auto got = dy.take();
            for (int64_t t = 0; t < tokens; ++t)
              for (int64_t n = 0; n < rows; ++n) {
                const size_t i = static_cast<size_t>(t * ldy + n);
                ASSERT_TRUE(same_bits(got[i], want[i]))
                    << "int8 token " << t << " row " << n << ": " << got[i] << " vs " << want[i];
              }
            // fp16 / bf16: fp32 accumulation, compared with the double-precision reference.
            for (tc::act_dtype at : {tc::act_dtype::f16, tc::act_dtype::bf16}) {
              std::vector<uint16_t> xh(static_cast<size_t>(tokens * ld));
              std::vector<float> xf(xh.size());
              for (size_t i = 0; i < xh.size(); ++i) {
                const float v = rng.uniform_float(-2.0f, 2.0f);
                xh[i] = at == tc::act_dtype::f16 ? ternary::float_to_half(v) : to_bf16(v);
                xf[i] = at == tc::act_dtype::f16 ? ternary::half_to_float(xh[i]) : from_bf16(xh[i]);
              }
              std::vector<float> ref(static_cast<size_t>(tokens * ldy), 0.0f);
              ternary::ref::gemm_f32(w.view(), xf.data(), tokens, ld, ref.data(), ldy, 0, rows);
              DeviceBuffer<uint16_t> dh(xh.size());
              dh.put(xh);
              const auto xa = at == tc::act_dtype::f16
                                  ? tc::device_activations::f16(dh.get(), tokens, cols, ld)
                                  : tc::device_activations::bf16(dh.get(), tokens, cols, ld);
              ASSERT_EQ(tc::gemm(dm, xa, dy.get(), ldy), status::ok)
                  << ternary::last_error_message();
              ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
              const auto gf = dy.take();
              for (int64_t t = 0; t < tokens; ++t)
                for (int64_t n = 0; n < rows; ++n) {
                  const size_t i = static_cast<size_t>(t * ldy + n);
                  // |sum| <= K * 2 * max|alpha| * planes; fp32 summation error ~ K * eps.
                  const double tol = 1e-5 * static_cast<double>(cols) * 8.0 * planes + 1e-4;
                  ASSERT_NEAR(gf[i], ref[i], tol) << "token " << t << " row " << n;
                }
            }
          }
        }
}

TEST(Cuda, QuantizeMatchesReference) {
  REQUIRE_DEVICE();
  Rng rng(77);
  for (int64_t cols : {1, 7, 64, 1000, 4099}) {
    const int64_t tokens = 5, ld = cols + 2;
    std::vector<float> x(static_cast<size_t>(tokens * ld));
    for (auto& v : x) v = rng.uniform_float(-3, 3);
    for (int64_t k = 0; k < cols; ++k) x[static_cast<size_t>(ld + k)] = 0.0f;  // all-zero token
    std::vector<int8_t> want(static_cast<size_t>(tokens * cols));
    std::vector<float> ws(static_cast<size_t>(tokens));
    for (int64_t t = 0; t < tokens; ++t)
      ws[static_cast<size_t>(t)] =
          ternary::ref::quantize_row(x.data() + t * ld, cols, want.data() + t * cols);
    DeviceBuffer<float> dx(x.size()), ds(ws.size());
    DeviceBuffer<int8_t> dq(want.size());
    dx.put(x);
    ASSERT_EQ(tc::quantize_activations(dx.get(), tokens, cols, ld, dq.get(), cols, ds.get()),
              status::ok)
        << ternary::last_error_message();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(dq.take(), want);
    const auto gs = ds.take();
    for (size_t t = 0; t < ws.size(); ++t) EXPECT_TRUE(same_bits(gs[t], ws[t]));
  }
}

TEST(Cuda, RejectsBadArguments) {
  REQUIRE_DEVICE();
  Rng rng(3);
  const matrix_desc d = make_desc(format::bits2, 8, 100, scale_granularity::per_row);
  packed_matrix w;
  ASSERT_EQ(pack_case(make_case(rng, d), &w), status::ok);
  tc::device_matrix dm;
  ASSERT_EQ(tc::upload(w, &dm), status::ok);
  EXPECT_STRNE(tc::kernel_name(dm, tc::act_dtype::int8, 3), "");
  DeviceBuffer<int8_t> dx(100);
  DeviceBuffer<float> ds(1), dy(8);
  std::vector<int8_t> host_x(100);
  float host_s = 1.0f;
  EXPECT_EQ(
      tc::gemm(dm, tc::device_activations::int8(host_x.data(), &host_s, 1, 100, 100), dy.get(), 8),
      status::invalid_argument);
  EXPECT_TRUE(mentions(ternary::last_error_message(), {"device memory"}));
  EXPECT_EQ(tc::gemm(dm, tc::device_activations::int8(dx.get(), ds.get(), 1, 99, 100), dy.get(), 8),
            status::format_mismatch);
  EXPECT_EQ(
      tc::gemm(dm, tc::device_activations::int8(dx.get(), ds.get(), 1, 100, 100), dy.get(), 7),
      status::buffer_too_small);
  EXPECT_EQ(tc::gemm(dm, tc::device_activations::int8(dx.get(), nullptr, 1, 100, 100), dy.get(), 8),
            status::null_pointer);
  tc::device_matrix moved(std::move(dm));
  EXPECT_TRUE(dm.empty());
  EXPECT_FALSE(moved.empty());
  EXPECT_EQ(
      tc::gemm(dm, tc::device_activations::int8(dx.get(), ds.get(), 1, 100, 100), dy.get(), 8),
      status::invalid_argument);
}

}  // namespace
