// SPDX-License-Identifier: Apache-2.0
// ternary::cuda in a build without the CUDA backend: every call answers status::no_cuda with a
// message saying how to get it (include/ternary/cuda.hpp). A device_matrix is then always empty.
#include <utility>

#include "detail/error.hpp"

#include "ternary/cuda.hpp"

namespace ternary {
namespace cuda {
namespace {

status no_cuda(const char* fn) {
  return ternary::detail::fail(status::no_cuda,
                               "cuda::%s: this build of ternary has no CUDA backend (configure "
                               "with -DTERNARY_ENABLE_CUDA=ON and a CUDA toolkit)",
                               fn);
}

}  // namespace

device_matrix::device_matrix(device_matrix&& o) noexcept { *this = std::move(o); }
device_matrix& device_matrix::operator=(device_matrix&& o) noexcept {
  if (this != &o) {
    desc_ = o.desc_;
    o.desc_ = matrix_desc{};
  }
  return *this;
}
device_matrix::~device_matrix() = default;
void device_matrix::reset() noexcept { desc_ = matrix_desc{}; }
const void* device_matrix::plane_ptr(int, int) const noexcept { return nullptr; }
const float* device_matrix::device_bias() const noexcept { return nullptr; }

status device_count(int* count) noexcept {
  if (count) *count = 0;
  return no_cuda("device_count");
}
status upload(const packed_matrix&, device_matrix*, void*) noexcept { return no_cuda("upload"); }
status download(const device_matrix&, packed_matrix*, void*) noexcept {
  return no_cuda("download");
}
status gemm(const device_matrix&, const device_activations&, float*, int64_t, void*) noexcept {
  return no_cuda("gemm");
}
status gemv(const device_matrix&, const device_activations&, float*, void*) noexcept {
  return no_cuda("gemv");
}
status quantize_activations(const float*, int64_t, int64_t, int64_t, int8_t*, int64_t, float*,
                            void*) noexcept {
  return no_cuda("quantize_activations");
}
const char* kernel_name(const device_matrix&, act_dtype, int64_t) noexcept { return ""; }

}  // namespace cuda
}  // namespace ternary
