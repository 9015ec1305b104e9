// SPDX-License-Identifier: Apache-2.0
// Activation kernels: staging into the zero-padded layout the GEMV kernels read, and per-token
// int8 quantization (bit-identical to ref::quantize_row).
#include <cuda_runtime.h>

#include "launch.hpp"
#include "layout.hpp"

namespace ternary {
namespace cuda {
namespace detail {
namespace {

constexpr int prep_threads = 256;

// One block per staged token row; rows past `tokens` are zero (the kernels read every row of
// their token count, only real tokens are written out).
__global__ void stage_int8(const int8_t* x, int64_t tokens, int64_t cols, int64_t ld,
                           int8_t* staged, int64_t x_ld, int32_t* sums) {
  const int64_t t = blockIdx.x;
  const int64_t nchunks = x_ld / chunk;
  for (int64_t c = threadIdx.x; c < nchunks; c += blockDim.x) {
    int32_t s = 0;
    for (int k = 0; k < chunk; ++k) {
      const int64_t i = c * chunk + k;
      const int8_t v = (t < tokens && i < cols) ? x[t * ld + i] : int8_t{0};
      staged[t * x_ld + i] = v;
      s += v;
    }
    sums[t * nchunks + c] = s;
  }
}

__global__ void stage_16(const uint16_t* x, int64_t tokens, int64_t cols, int64_t ld,
                         uint16_t* staged, int64_t x_ld) {
  const int64_t t = blockIdx.x;
  for (int64_t i = threadIdx.x; i < x_ld; i += blockDim.x)
    staged[t * x_ld + i] = (t < tokens && i < cols) ? x[t * ld + i] : uint16_t{0};
}

// One block per token: max |x| (an exact reduction in any order), s, then the codes.
__global__ void quantize(const float* x, int64_t cols, int64_t ldx, int8_t* xq, int64_t ldq,
                         float* scales) {
  __shared__ float warp_max[prep_threads / warp_lanes];
  const int64_t t = blockIdx.x;
  const float* row = x + t * ldx;
  float m = 0.0f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) m = fmaxf(m, fabsf(row[i]));
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = m;
  __syncthreads();
  m = 0.0f;
  for (int w = 0; w < prep_threads / warp_lanes; ++w) m = fmaxf(m, warp_max[w]);
  const float s = act_scale(m);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
    xq[t * ldq + i] = quantize_value(row[i], s);
  if (threadIdx.x == 0) scales[t] = s;
}

}  // namespace

int launch_stage(act_kind kind, const void* x, int64_t tokens, int64_t cols, int64_t ld,
                 int kernel_tokens, void* staged, int64_t x_ld, int32_t* chunk_sums, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (kind == act_kind::int8) {
    stage_int8<<<kernel_tokens, prep_threads, 0, s>>>(static_cast<const int8_t*>(x), tokens, cols,
                                                      ld, static_cast<int8_t*>(staged), x_ld,
                                                      chunk_sums);
  } else {
    stage_16<<<kernel_tokens, prep_threads, 0, s>>>(static_cast<const uint16_t*>(x), tokens, cols,
                                                    ld, static_cast<uint16_t*>(staged), x_ld);
  }
  return static_cast<int>(cudaGetLastError());
}

int launch_quantize(const float* x, int64_t tokens, int64_t cols, int64_t ldx, int8_t* xq,
                    int64_t ldq, float* scales, void* stream) {
  // Tokens run as blocks (grid x is limited to 2^31 - 1, the token limit too).
  quantize<<<static_cast<unsigned>(tokens), prep_threads, 0, static_cast<cudaStream_t>(stream)>>>(
      x, cols, ldx, xq, ldq, scales);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace detail
}  // namespace cuda
}  // namespace ternary
