// SPDX-License-Identifier: Apache-2.0
// Portable GEMV/GEMM kernels written so that the compiler vectorizes them for the ISA of the
// including translation unit: decode a packed row once into int8 trits, then reuse it for every
// token. Every definition sits in an anonymous namespace and calls no inline function of the
// public headers, so no out-of-line copy compiled with ISA flags can be shared with baseline
// code through COMDAT folding.
//
// Include once per ISA translation unit; the unit defines its kernels_<isa>() table.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/kernel.hpp"

#include "ternary/ref/quantize.hpp"

namespace ternary {
namespace cpu {
namespace {

// fp16 -> fp32 (exact); duplicated from half.hpp on purpose, see the file comment.
float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    uint32_t e = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float load_scale(const matrix_view& w, int p, int64_t row, int64_t group) {
  int64_t i = 0;
  if (w.granularity == scale_granularity::per_row) i = row;
  if (w.granularity == scale_granularity::per_group) i = row * w.groups_per_row + group;
  if (w.scale_dtype == scale_type::f16)
    return half_bits_to_float(static_cast<const uint16_t*>(w.scales[p])[i]);
  return static_cast<const float*>(w.scales[p])[i];
}

// Trits of a packed row, padded length, into t[].
void decode_row_bits2(const uint8_t* row, int64_t padded, int8_t* t) {
  for (int64_t b = 0; b < padded / 256; ++b) {
    const uint8_t* blk = row + b * 64;
    int8_t* out = t + b * 256;
    for (int p = 0; p < 4; ++p)
      for (int j = 0; j < 64; ++j)
        out[64 * p + j] = static_cast<int8_t>(((blk[j] >> (2 * p)) & 3) - 1);
  }
}

void decode_row_base3(const uint8_t* row, int64_t padded, int8_t* t) {
  static constexpr uint8_t pow3[5] = {1, 3, 9, 27, 81};
  for (int64_t b = 0; b < padded / 320; ++b) {
    const uint8_t* blk = row + b * 64;
    int8_t* out = t + b * 320;
    for (int n = 0; n < 5; ++n) {
      for (int j = 0; j < 64; ++j) {
        const uint8_t q = static_cast<uint8_t>(blk[j] * pow3[n]);    // q * 3^n mod 256
        out[64 * n + j] = static_cast<int8_t>(((q * 3u) >> 8) - 1);  // leading base-3 digit
      }
    }
  }
}

struct sherry_lut {
  int8_t t[32][4];
  constexpr sherry_lut() : t{} {
    for (unsigned c = 0; c < 32; ++c) {
      const int zero = static_cast<int>((c >> 2) & 3u);
      const int s0 = (c & 16u) ? -1 : 1;
      int k = 0;
      for (int lane = 0; lane < 4; ++lane) {
        if (lane == zero) {
          t[c][lane] = 0;
          continue;
        }
        const int flip = k == 0 ? 0 : static_cast<int>((c >> (k - 1)) & 1u);
        t[c][lane] = static_cast<int8_t>(flip ? -s0 : s0);
        ++k;
      }
    }
  }
};

void decode_row_sherry(const uint8_t* row, int64_t padded, int8_t* t) {
  static constexpr sherry_lut lut;
  for (int64_t b = 0; b < padded / 256; ++b) {
    const uint8_t* blk = row + b * 40;
    uint64_t signs = 0;
    for (int i = 0; i < 8; ++i) signs |= static_cast<uint64_t>(blk[32 + i]) << (8 * i);
    int8_t* out = t + b * 256;
    for (int q = 0; q < 64; ++q) {
      const unsigned code = ((blk[q & 31] >> (4 * (q >> 5))) & 0xfu) |
                            static_cast<unsigned>(((signs >> q) & 1u) << 4);
      std::memcpy(out + 4 * q, lut.t[code], 4);
    }
  }
}

template <format F>
void decode_row(const uint8_t* row, int64_t padded, int8_t* t) {
  if (F == format::bits2) decode_row_bits2(row, padded, t);
  if (F == format::base3) decode_row_base3(row, padded, t);
  if (F == format::sherry) decode_row_sherry(row, padded, t);
}

int32_t dot_i8(const int8_t* a, const int8_t* b, int64_t n) {
  int32_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  return s;
}

// 16 independent partial sums so the loop vectorizes without reassociation; combined pairwise.
float dot_f32(const int8_t* t, const float* x, int64_t n) {
  float part[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) part[l] += static_cast<float>(t[i + l]) * x[i + l];
  for (int l = 0; i < n; ++i, ++l) part[l] += static_cast<float>(t[i]) * x[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) part[l] += part[l + w];
  return part[0];
}

void group_bounds(const matrix_view& w, int64_t g, int64_t* b, int64_t* e) {
  *b = g * w.group_size;
  *e = *b + w.group_size < w.cols ? *b + w.group_size : w.cols;
}

// The decoder type of format F among a tier's three decoders.
template <format F, class Bits2, class Base3, class Sherry>
using pick_decoder = std::conditional_t<F == format::bits2, Bits2,
                                        std::conditional_t<F == format::base3, Base3, Sherry>>;

// ---- helpers shared by the SIMD kernels of every tier -------------------------------------

inline int64_t align64(int64_t v) { return (v + 63) / 64 * 64; }

// Offset codes (byte p = u of lane p) of Sherry quad code c: the decoders' table entries.
inline uint32_t sherry_quad_codes(unsigned c) {
  static constexpr sherry_lut lut;
  uint32_t w = 0;
  for (int p = 0; p < 4; ++p) w |= static_cast<uint32_t>(lut.t[c][p] + 1) << (8 * p);
  return w;
}

// Epilogue of the SIMD int8 kernels for one (row, token): exactly ref::gemm_int8's fp32 sequence.
TERNARY_NO_FP_CONTRACT inline float epilogue(const matrix_view& w, int64_t row,
                                             const int32_t* isum /* [planes][groups] */, float s) {
  TERNARY_FP_CONTRACT_OFF
  float acc = 0.0f;
  for (int p = 0; p < w.planes; ++p)
    for (int64_t g = 0; g < w.groups_per_row; ++g)
      acc += static_cast<float>(isum[p * w.groups_per_row + g]) * load_scale(w, p, row, g);
  float out = acc / s;
  if (w.bias) out += w.bias[row];
  return out;
}

// Copies token t's activations into a zero-padded buffer and sums each scale group.
inline void pad_token(const matrix_view& w, const int8_t* x, int8_t* xpad, int32_t* asum) {
  std::memcpy(xpad, x, static_cast<size_t>(w.cols));
  std::memset(xpad + w.cols, 0, static_cast<size_t>(w.padded_cols - w.cols));
  for (int64_t g = 0; g < w.groups_per_row; ++g) {
    int64_t b, e;
    group_bounds(w, g, &b, &e);
    int32_t s = 0;
    for (int64_t k = b; k < e; ++k) s += xpad[k];
    asum[g] = s;
  }
}

// Prefetch of the next pass's rows while a pass of R rows [r0, r0 + R) runs (see
// simd_gemv_rows): block step b of the current pass brings bytes [b * R * block_bytes, + R *
// block_bytes) of the next pass's region (rows below row_limit) of the plane into L2.
template <int R, int BlockBytes>
struct next_pass_prefetch {
  static constexpr int64_t step_bytes = int64_t{R} * BlockBytes;
  int64_t offset;  // of the next pass's region within a plane
  int64_t bytes;   // its size (0 when there is no next pass)
  next_pass_prefetch(const matrix_view& w, int64_t r0, int64_t row_limit)
      : offset((r0 + R) * w.row_bytes),
        bytes(std::max<int64_t>(0, std::min<int64_t>(R, row_limit - (r0 + R))) * w.row_bytes) {}
  void step(const uint8_t* plane, int64_t block) const {
    const char* base = reinterpret_cast<const char*>(plane + offset);
    const int64_t end = std::min(block * step_bytes + step_bytes, bytes);
    for (int64_t b = block * step_bytes; b < end; b += 64) __builtin_prefetch(base + b, 0, 2);
  }
};

// ---- row-major int8 GEMV shared by the SIMD tiers ------------------------------------------
// T (the tier) provides vec, halves, rows_per_pass, zero, load_act, dot and hsum; D (the
// format's decoder) load(block) -> state and chunk(state, q, half) -> the codes of columns
// [64q + half * 64 / halves, + 64 / halves) of the block. One token's activations stream from
// L1 while R rows are decoded once per token.
//
// The R rows of a pass are one contiguous region of R * row_bytes bytes, read as R interleaved
// streams of row_bytes each: too short-lived for hardware stream prefetchers to ramp up on when
// the weights come from DRAM. So while a pass runs, the next pass's region (rows below
// row_limit) is prefetched linearly into L2, R blocks' worth of bytes per block step, and
// arrives before that pass starts.
template <class T, class D, int R>
void simd_gemv_rows(const matrix_view& w, const D& dec, const int8_t* xpad, const int32_t* asum,
                    int64_t r0, int64_t row_limit, int32_t* isum /* [R][planes][groups] */) {
  constexpr int cpb = D::chunks_per_block;
  constexpr int width = 64 / T::halves;
  const int64_t nchunks = (w.cols + 63) / 64;
  const int64_t cpg = (w.group_size + 63) / 64;  // chunks per group (whole row: >= nchunks)
  const int64_t gpr = w.groups_per_row;
  const next_pass_prefetch<R, D::block_bytes> prefetch(w, r0, row_limit);
  for (int p = 0; p < w.planes; ++p) {
    const uint8_t* rows[R];
    for (int r = 0; r < R; ++r) rows[r] = w.weights[p] + (r0 + r) * w.row_bytes;
    typename T::vec acc[R];
    for (int r = 0; r < R; ++r) acc[r] = T::zero();
    int64_t g = 0, in_group = 0;
    for (int64_t c0 = 0; c0 < nchunks; c0 += cpb) {
      prefetch.step(w.weights[p], c0 / cpb);
      typename D::state st[R];
      for (int r = 0; r < R; ++r) st[r] = dec.load(rows[r] + c0 / cpb * D::block_bytes);
      for (int q = 0; q < cpb && c0 + q < nchunks; ++q) {
        for (int h = 0; h < T::halves; ++h) {
          const auto a = T::load_act(xpad + 64 * (c0 + q) + width * h);
          for (int r = 0; r < R; ++r) acc[r] = T::dot(acc[r], dec.chunk(st[r], q, h), a);
        }
        if (++in_group == cpg || c0 + q + 1 == nchunks) {
          for (int r = 0; r < R; ++r) {
            // Modulo 2^32: with the never-written bits2 code 3 (u = 3) in a crafted matrix,
            // sum(u*a) can leave int32 near K = max_cols while sum(t*a) still fits.
            isum[(r * w.planes + p) * gpr + g] = static_cast<int32_t>(
                static_cast<uint32_t>(T::hsum(acc[r])) - static_cast<uint32_t>(asum[g]));
            acc[r] = T::zero();
          }
          ++g;
          in_group = 0;
        }
      }
    }
  }
}

template <class T, class D>
void simd_gemv(const gemm_job& j) {
  constexpr int R = T::rows_per_pass;
  const matrix_view& w = *j.w;
  const D dec;
  int8_t* xpad = j.scratch;
  auto* asum = reinterpret_cast<int32_t*>(j.scratch + align64(w.padded_cols));
  int32_t* isum = asum + align64(w.groups_per_row);  // [R][planes][groups]
  const int64_t per_row = w.planes * w.groups_per_row;
  const auto* x = static_cast<const int8_t*>(j.x);
  for (int64_t t = 0; t < j.tokens; ++t) {
    pad_token(w, x + t * j.ldx, xpad, asum);
    int64_t n = j.row_begin;
    for (; n + R <= j.row_end; n += R) {
      simd_gemv_rows<T, D, R>(w, dec, xpad, asum, n, j.row_end, isum);
      for (int r = 0; r < R; ++r)
        j.y[t * j.ldy + n + r] = epilogue(w, n + r, isum + r * per_row, j.xs[t]);
    }
    for (; n < j.row_end; ++n) {
      simd_gemv_rows<T, D, 1>(w, dec, xpad, asum, n, j.row_end, isum);
      j.y[t * j.ldy + n] = epilogue(w, n, isum, j.xs[t]);
    }
  }
}

// Packs tokens [t0, t0 + TB) (missing ones zero) for broadcast dot products:
// xp[(k / 4) * TB + t] = dword of columns k..k+3 of token t, zero-padded to padded_cols;
// asum[g * TB + t] = sum of token t's activations over group g (tmp: groups_per_row ints).
template <int TB>
void pack_tokens(const matrix_view& w, const gemm_job& j, int64_t t0, int8_t* xp, int32_t* asum,
                 int32_t* tmp, int8_t* xrow) {
  const auto* x = static_cast<const int8_t*>(j.x);
  const int64_t nquads = w.padded_cols / 4;
  auto* xp32 = reinterpret_cast<int32_t*>(xp);
  for (int t = 0; t < TB; ++t) {
    if (t0 + t < j.tokens) {
      pad_token(w, x + (t0 + t) * j.ldx, xrow, tmp);
      for (int64_t g = 0; g < w.groups_per_row; ++g) asum[g * TB + t] = tmp[g];
    } else {
      std::memset(xrow, 0, static_cast<size_t>(w.padded_cols));
      for (int64_t g = 0; g < w.groups_per_row; ++g) asum[g * TB + t] = 0;
    }
    int32_t q;
    for (int64_t i = 0; i < nquads; ++i) {
      std::memcpy(&q, xrow + 4 * i, 4);
      xp32[i * TB + t] = q;
    }
  }
}

template <format F>
TERNARY_NO_FP_CONTRACT void gemm_int8(const gemm_job& j) noexcept {
  TERNARY_FP_CONTRACT_OFF
  const matrix_view& w = *j.w;
  const auto* x = static_cast<const int8_t*>(j.x);
  for (int64_t n = j.row_begin; n < j.row_end; ++n) {
    for (int p = 0; p < w.planes; ++p)
      decode_row<F>(w.weights[p] + n * w.row_bytes, w.padded_cols, j.scratch + p * w.padded_cols);
    for (int64_t t = 0; t < j.tokens; ++t) {
      const int8_t* xt = x + t * j.ldx;
      float acc = 0.0f;
      for (int p = 0; p < w.planes; ++p) {
        const int8_t* tr = j.scratch + p * w.padded_cols;
        for (int64_t g = 0; g < w.groups_per_row; ++g) {
          int64_t b, e;
          group_bounds(w, g, &b, &e);
          const int32_t sum = dot_i8(tr + b, xt + b, e - b);
          acc += static_cast<float>(sum) * load_scale(w, p, n, g);
        }
      }
      float out = acc / j.xs[t];
      if (w.bias) out += w.bias[n];
      j.y[t * j.ldy + n] = out;
    }
  }
}

template <format F>
void gemm_f32(const gemm_job& j) noexcept {
  const matrix_view& w = *j.w;
  const auto* x = static_cast<const float*>(j.x);
  for (int64_t n = j.row_begin; n < j.row_end; ++n) {
    for (int p = 0; p < w.planes; ++p)
      decode_row<F>(w.weights[p] + n * w.row_bytes, w.padded_cols, j.scratch + p * w.padded_cols);
    for (int64_t t = 0; t < j.tokens; ++t) {
      const float* xt = x + t * j.ldx;
      float acc = 0.0f;
      for (int p = 0; p < w.planes; ++p) {
        const int8_t* tr = j.scratch + p * w.padded_cols;
        for (int64_t g = 0; g < w.groups_per_row; ++g) {
          int64_t b, e;
          group_bounds(w, g, &b, &e);
          acc += dot_f32(tr + b, xt + b, e - b) * load_scale(w, p, n, g);
        }
      }
      if (w.bias) acc += w.bias[n];
      j.y[t * j.ldy + n] = acc;
    }
  }
}

inline float quantize_row_scalar(const float* x, int64_t k, int8_t* q) noexcept {
  return ref::quantize_row(x, k, q);
}

constexpr kernel_table generic_table = {
    {&gemm_int8<format::bits2>, &gemm_int8<format::base3>, &gemm_int8<format::sherry>},
    {&gemm_f32<format::bits2>, &gemm_f32<format::base3>, &gemm_f32<format::sherry>},
    &quantize_row_scalar,
};

}  // namespace

}  // namespace cpu
}  // namespace ternary
