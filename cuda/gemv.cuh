// SPDX-License-Identifier: Apache-2.0
// The GEMV/GEMM kernel for 1..16 tokens, one template for every format (instantiated per format
// in cuda/gemv_<format>.cu so the three compile in parallel). docs/CUDA.md describes the design.
//
// One warp computes one output row for all T tokens at a time (grid-stride over rows). Lane l
// takes unit 32*step + l of the row: P coalesced loads of the pre-shuffled GPU layout, a decode
// to offset codes u in {0,1,2} once per chunk, then per token 16 dp4a against the int8
// activations (exact int32; Σt·a = Σu·a − Σa with the chunk sums Σa staged with the
// activations). fp16/bf16 activations accumulate in fp32 instead.
//
// Scales and the epilogue follow the bit-exactness contract of docs/FORMATS.md:
//   per_tensor / per_row: the exact int32 row sum is reduced with warp shuffles (integer adds,
//     any order is exact), then acc = acc + float(sum) * alpha per plane;
//   per_group: each lane writes its chunk sums to shared memory and lane t walks the chunks of
//     the step in order for token t, summing the chunks of a group exactly and applying
//     acc = acc + float(group_sum) * alpha_g group by group, in order.
//   y = acc / s (+ bias). Built with --fmad=false, so no multiply-add is contracted.
#pragma once

// clang-format off
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
// clang-format on

#include "launch.hpp"
#include "layout.hpp"

namespace ternary {
namespace cuda {
namespace detail {

constexpr int gemv_warps = 4;  // warps per block
constexpr int gemv_threads = gemv_warps * warp_lanes;
constexpr size_t smem_budget = 48 * 1024;  // no opt-in needed below this

// Compile-time unit shape (the values of shape_of() in layout.hpp).
template <format F>
struct unit_traits;
template <>
struct unit_traits<format::bits2> {
  static constexpr int trits = 64, chunks = 1, pieces = 1, piece_bytes = 16, words = 4;
};
template <>
struct unit_traits<format::base3> {
  static constexpr int trits = 320, chunks = 5, pieces = 4, piece_bytes = 16, words = 16;
};
template <>
struct unit_traits<format::sherry> {
  static constexpr int trits = 256, chunks = 4, pieces = 5, piece_bytes = 8, words = 10;
};

template <act_kind A>
struct acc_of {
  using type = float;
  static constexpr int elem_bytes = 2;
};
template <>
struct acc_of<act_kind::int8> {
  using type = int32_t;
  static constexpr int elem_bytes = 1;
};

inline size_t align16(size_t n) { return (n + 15) / 16 * 16; }

/// Dynamic shared memory of one block: Sherry table, per-group chunk sums, and (when it fits) the
/// staged activations and chunk sums.
struct smem_plan {
  size_t table = 0, chunk_sums = 0, x_sums = 0, x = 0;
  bool stage = false;
  size_t total() const { return table + chunk_sums + (stage ? x_sums + x : 0); }
};

template <format F, act_kind A, int T>
smem_plan plan_smem(const gemv_args& a) {
  using acc_t = typename acc_of<A>::type;
  smem_plan p;
  p.table = 128;
  if (a.granularity == 3)
    p.chunk_sums = align16(sizeof(acc_t) * gemv_warps * T * warp_lanes * unit_traits<F>::chunks);
  const size_t nchunks = static_cast<size_t>(a.x_ld / chunk);
  if (A == act_kind::int8) p.x_sums = align16(sizeof(int32_t) * T * nchunks);
  p.x = static_cast<size_t>(T) * static_cast<size_t>(a.x_ld) * acc_of<A>::elem_bytes;
  p.stage = p.table + p.chunk_sums + p.x_sums + p.x <= smem_budget;
  return p;
}

template <act_kind A>
__device__ inline float act_to_float(uint32_t bits16) {
  if (A == act_kind::bf16) return __uint_as_float(bits16 << 16);  // exact widening
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits16)));
}

template <format F, act_kind A, int T>
__global__ void __launch_bounds__(gemv_threads)
    gemv_kernel(const gemv_args a, const int stage, const size_t chunk_sum_bytes,
                const size_t x_sum_bytes) {
  using U = unit_traits<F>;
  using acc_t = typename acc_of<A>::type;
  constexpr int CH = U::chunks;
  constexpr int EB = acc_of<A>::elem_bytes;

  extern __shared__ uint4 smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>(smem_raw);
  uint32_t* table = reinterpret_cast<uint32_t*>(smem);
  acc_t* chunk_sums = reinterpret_cast<acc_t*>(smem + 128);

  const int64_t nchunks = a.x_ld / chunk;
  const uint8_t* xb = static_cast<const uint8_t*>(a.x);
  const int32_t* xsum = a.x_sum;
  if (stage) {
    int32_t* s_sum = reinterpret_cast<int32_t*>(smem + 128 + chunk_sum_bytes);
    uint8_t* s_x = smem + 128 + chunk_sum_bytes + x_sum_bytes;
    if (A == act_kind::int8) {
      for (int64_t i = threadIdx.x; i < T * nchunks; i += blockDim.x) s_sum[i] = a.x_sum[i];
      xsum = s_sum;
    }
    const int64_t vecs = static_cast<int64_t>(T) * a.x_ld * EB / 16;
    const uint4* src = static_cast<const uint4*>(a.x);
    for (int64_t i = threadIdx.x; i < vecs; i += blockDim.x)
      reinterpret_cast<uint4*>(s_x)[i] = src[i];
    xb = s_x;
  }
  if (F == format::sherry && threadIdx.x < 32)
    table[threadIdx.x] = format_sherry::quad_codes_u32(threadIdx.x);
  __syncthreads();

  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  acc_t* cs = chunk_sums + static_cast<int64_t>(warp) * T * warp_lanes * CH;
  const bool grouped = a.granularity == 3;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * gemv_warps;

  for (int64_t r = static_cast<int64_t>(blockIdx.x) * gemv_warps + warp; r < a.rows;
       r += warps_total) {
    float acc[T];
#pragma unroll
    for (int t = 0; t < T; ++t) acc[t] = 0.0f;
    float lane_acc = 0.0f;  // per_group: the accumulator of token `lane`

    for (int p = 0; p < a.planes; ++p) {
      const uint8_t* wrow = a.weights[p] + r * a.row_bytes;
      const float* alpha = a.scales[p];
      acc_t tot[T];
#pragma unroll
      for (int t = 0; t < T; ++t) tot[t] = 0;
      acc_t group_sum = 0;

      for (int64_t first = 0; first < a.units; first += warp_lanes) {
        const int64_t u = first + lane;
        const int m = a.units - first < warp_lanes ? static_cast<int>(a.units - first) : warp_lanes;
        if (u < a.units) {
          uint32_t w[U::words];
#pragma unroll
          for (int q = 0; q < U::pieces; ++q) {
            const uint8_t* src =
                wrow + (first * U::pieces + static_cast<int64_t>(q) * m + lane) * U::piece_bytes;
            if constexpr (U::piece_bytes == 16) {
              const uint4 v = __ldg(reinterpret_cast<const uint4*>(src));
              w[4 * q] = v.x;
              w[4 * q + 1] = v.y;
              w[4 * q + 2] = v.z;
              w[4 * q + 3] = v.w;
            } else {
              const uint2 v = __ldg(reinterpret_cast<const uint2*>(src));
              w[2 * q] = v.x;
              w[2 * q + 1] = v.y;
            }
          }
#pragma unroll
          for (int e = 0; e < CH; ++e) {
            uint32_t codes[16];
            chunk_codes<F>(w, e, table, codes);
            const int64_t k0 = u * U::trits + e * chunk;  // first activation of the chunk
#pragma unroll
            for (int t = 0; t < T; ++t) {
              acc_t d;
              if constexpr (A == act_kind::int8) {
                const uint4* xv = reinterpret_cast<const uint4*>(xb + t * a.x_ld + k0);
                uint32_t av[16];
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                  const uint4 v = xv[j];
                  av[4 * j] = v.x;
                  av[4 * j + 1] = v.y;
                  av[4 * j + 2] = v.z;
                  av[4 * j + 3] = v.w;
                }
                d = dot_codes_int8(codes, av, xsum[t * nchunks + u * CH + e]);
              } else {
                const uint16_t* xh = reinterpret_cast<const uint16_t*>(xb) + (t * a.x_ld + k0);
                d = dot_codes_float(codes, [xh](int k) { return act_to_float<A>(xh[k]); });
              }
              if (grouped) {
                cs[(t * warp_lanes + lane) * CH + e] = d;
              } else {
                tot[t] += d;
              }
            }
          }
        }
        if (grouped) {
          __syncwarp();
          if (lane < T) {
            const acc_t* mine = cs + lane * warp_lanes * CH;
            const int64_t base = first * CH;
            for (int c = 0; c < m * CH; ++c) {
              const int64_t gc = base + c;
              if (gc >= a.chunks_k) break;
              group_sum += mine[c];
              if ((gc + 1) % a.group_chunks == 0 || gc + 1 == a.chunks_k) {
                lane_acc = lane_acc + static_cast<float>(group_sum) *
                                          alpha[r * a.groups_per_row + gc / a.group_chunks];
                group_sum = 0;
              }
            }
          }
          __syncwarp();
        }
      }
      if (!grouped) {
#pragma unroll
        for (int t = 0; t < T; ++t) {
#pragma unroll
          for (int o = 16; o > 0; o >>= 1) tot[t] += __shfl_xor_sync(0xffffffffu, tot[t], o);
        }
        const float al = alpha[a.granularity == 1 ? 0 : r];
#pragma unroll
        for (int t = 0; t < T; ++t) acc[t] = acc[t] + static_cast<float>(tot[t]) * al;
      }
    }

    float out = lane_acc;
    if (!grouped) {
#pragma unroll
      for (int t = 0; t < T; ++t)
        if (lane == t) out = acc[t];
    }
    if (lane < a.tokens) {
      if (A == act_kind::int8) out = out / a.x_scale[lane];
      if (a.bias) out = out + a.bias[r];
      a.y[lane * a.ldy + r] = out;
    }
  }
}

template <format F, act_kind A, int T>
int launch_one(const gemv_args& a, void* stream) {
  const smem_plan p = plan_smem<F, A, T>(a);
  if (p.table + p.chunk_sums > smem_budget) return static_cast<int>(cudaErrorInvalidConfiguration);
  int dev = 0, sms = 1;
  cudaError_t err = cudaGetDevice(&dev);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  if (err != cudaSuccess) return static_cast<int>(err);
  int64_t blocks = (a.rows + gemv_warps - 1) / gemv_warps;
  // A block that stages the activations reuses them over many rows; otherwise plenty of blocks.
  const int64_t cap = static_cast<int64_t>(sms) * (p.stage ? 8 : 64);
  if (blocks > cap) blocks = cap;
  gemv_kernel<F, A, T>
      <<<static_cast<unsigned>(blocks), gemv_threads, p.total(),
         static_cast<cudaStream_t>(stream)>>>(a, p.stage ? 1 : 0, p.chunk_sums, p.x_sums);
  return static_cast<int>(cudaGetLastError());
}

template <format F, act_kind A>
int launch_tokens(const gemv_args& a, int kernel_tokens, void* stream) {
  switch (kernel_tokens) {
    case 1: return launch_one<F, A, 1>(a, stream);
    case 2: return launch_one<F, A, 2>(a, stream);
    case 4: return launch_one<F, A, 4>(a, stream);
    case 8: return launch_one<F, A, 8>(a, stream);
    case 16: return launch_one<F, A, 16>(a, stream);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

template <format F>
int launch_gemv(const gemv_args& a, int kernel_tokens, void* stream) {
  switch (a.act) {
    case act_kind::int8: return launch_tokens<F, act_kind::int8>(a, kernel_tokens, stream);
    case act_kind::f16: return launch_tokens<F, act_kind::f16>(a, kernel_tokens, stream);
    case act_kind::bf16: return launch_tokens<F, act_kind::bf16>(a, kernel_tokens, stream);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // namespace detail
}  // namespace cuda
}  // namespace ternary
