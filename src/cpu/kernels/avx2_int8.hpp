// SPDX-License-Identifier: Apache-2.0
// AVX2 int8 kernels (pmaddubsw + pmaddwd), the same two shapes as the AVX-512 ones: a row-major
// GEMV and an 8-row panel GEMM with broadcast activation dwords. A 64-column chunk is two
// 32-byte halves. Included by the avx2 translation unit only, after cpu/kernels/generic.hpp;
// everything is in an anonymous namespace.
//
// Integer contract: u in {0,1,2} times a in [-128,127]: pmaddubsw pairs stay within
// 2 * 2 * 128 = 512, far from int16 saturation; pmaddwd with ones widens to int32.
#pragma once

#include <cstdint>
#include <cstring>
#include <immintrin.h>

#include "cpu/kernel.hpp"
#include "cpu/kernels/generic.hpp"

namespace ternary {
namespace cpu {
namespace {
namespace avx2 {

inline __m256i dot(__m256i acc, __m256i u, __m256i a) {
  const __m256i pairs = _mm256_maddubs_epi16(u, a);  // (16 x i16) u0*a0 + u1*a1, |.| <= 512
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

inline int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Decoders: chunk(state, q, h) = 32 codes of columns 64q + 32h .. + 31 of the block.
struct bits2_decoder {
  static constexpr int chunks_per_block = 4;
  static constexpr int block_bytes = 64;
  struct state {
    __m256i w[2];
  };
  state load(const uint8_t* blk) const {
    return {{_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)),
             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32))}};
  }
  __m256i chunk(const state& s, int q, int h) const {
    return _mm256_and_si256(_mm256_srli_epi16(s.w[h], 2 * q), _mm256_set1_epi8(3));
  }
};

struct base3_decoder {
  static constexpr int chunks_per_block = 5;
  static constexpr int block_bytes = 64;
  struct state {
    __m256i w[2], whi[2];  // bytes, and bytes with the low byte of each 16-bit lane cleared
  };
  state load(const uint8_t* blk) const {
    state s;
    const __m256i hi_mask = _mm256_set1_epi16(static_cast<short>(0xff00));
    for (int h = 0; h < 2; ++h) {
      s.w[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 * h));
      s.whi[h] = _mm256_and_si256(s.w[h], hi_mask);
    }
    return s;
  }
  __m256i chunk(const state& s, int n, int h) const {
    static constexpr short pow3[5] = {1, 3, 9, 27, 81};
    __m256i q = s.w[h];
    if (n > 0) {  // q = byte * 3^n mod 256, per byte, from two 16-bit multiplies
      const __m256i c = _mm256_set1_epi16(pow3[n]);
      const __m256i lo = _mm256_and_si256(_mm256_mullo_epi16(s.w[h], c), _mm256_set1_epi16(0xff));
      q = _mm256_or_si256(lo, _mm256_mullo_epi16(s.whi[h], c));  // high byte: (b * 3^n) mod 256
    }
    // digit = (q * 3) >> 8 = [q >= 86] + [q >= 171]
    const __m256i ge86 = _mm256_cmpeq_epi8(_mm256_max_epu8(q, _mm256_set1_epi8(86)), q);
    const __m256i ge171 =
        _mm256_cmpeq_epi8(_mm256_max_epu8(q, _mm256_set1_epi8(static_cast<char>(171))), q);
    return _mm256_sub_epi8(_mm256_setzero_si256(), _mm256_add_epi8(ge86, ge171));
  }
};

struct sherry_decoder {
  static constexpr int chunks_per_block = 4;
  static constexpr int block_bytes = 40;
  __m256i table[4];  // codes [8i, 8i + 8) as dwords of offset codes
  sherry_decoder() {
    alignas(32) uint32_t t[32];
    for (unsigned c = 0; c < 32; ++c) t[c] = sherry_quad_codes(c);
    for (int i = 0; i < 4; ++i)
      table[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(t + 8 * i));
  }
  struct state {
    const uint8_t* blk;
    uint64_t signs;
  };
  state load(const uint8_t* blk) const {
    state s{blk, 0};
    std::memcpy(&s.signs, blk + 32, 8);
    return s;
  }
  __m256i chunk(const state& s, int q, int h) const {
    // quads 16q + 8h .. + 7: nibbles of bytes (16q + 8h) mod 32 .., high nibble when q >= 2
    const int first = 16 * q + 8 * h;
    __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s.blk + (first & 31)));
    __m256i idx = _mm256_cvtepu8_epi32(bytes);
    if (q >= 2) idx = _mm256_srli_epi32(idx, 4);
    idx = _mm256_and_si256(idx, _mm256_set1_epi32(15));
    const uint32_t sg = static_cast<uint32_t>(s.signs >> first) & 0xffu;
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i neg =
        _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(sg)), bit), bit);
    const __m256i hi8 = _mm256_slli_epi32(idx, 28);  // bit 3 of the index to the sign position
    const __m256 pos_v = _mm256_blendv_ps(
        _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(table[0], idx)),
        _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(table[1], idx)), _mm256_castsi256_ps(hi8));
    const __m256 neg_v = _mm256_blendv_ps(
        _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(table[2], idx)),
        _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(table[3], idx)), _mm256_castsi256_ps(hi8));
    return _mm256_castps_si256(_mm256_blendv_ps(pos_v, neg_v, _mm256_castsi256_ps(neg)));
  }
};

// Vector primitives of this tier for the shared row-major GEMV (generic.hpp).
struct tier {
  using vec = __m256i;
  static constexpr int halves = 2;         // vector passes per 64-column chunk
  static constexpr int rows_per_pass = 4;  // rows sharing each activation load
  static vec zero() { return _mm256_setzero_si256(); }
  static vec load_act(const int8_t* p) {  // (32 int8)
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  }
  static vec dot(vec acc, vec u, vec a) { return avx2::dot(acc, u, a); }
  static int32_t hsum(vec v) { return avx2::hsum(v); }
};

template <format F>
using decoder_for = pick_decoder<F, bits2_decoder, base3_decoder, sherry_decoder>;

// 8x8 transpose of dwords: in[r] lane i -> out[i] lane r.
inline void transpose8(__m256i* v) {
  __m256i t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
  }
  __m256i u[8];
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // u[4b + k], 128-bit lane L = rows 4b..4b+3 of column 4L + k
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
    v[4 + k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
  }
}

// Plane p of rows [r0, r0 + rows) (rows <= 8): panel[(c * 16 + i) * 32] = dword lane r = codes
// of row r0 + r, columns 64c + 4i .. + 3.
template <format F>
void build_panel(const matrix_view& w, const decoder_for<F>& dec, int p, int64_t r0, int rows,
                 int8_t* panel) {
  using D = decoder_for<F>;
  constexpr int cpb = D::chunks_per_block;
  const int64_t nchunks = (w.cols + 63) / 64;
  for (int64_t c0 = 0; c0 < nchunks; c0 += cpb) {
    typename D::state st[8];
    for (int r = 0; r < 8; ++r)
      st[r] = dec.load(w.weights[p] + (r0 + (r < rows ? r : 0)) * w.row_bytes +
                       c0 / cpb * D::block_bytes);
    for (int q = 0; q < cpb && c0 + q < nchunks; ++q) {
      for (int h = 0; h < 2; ++h) {
        __m256i v[8];
        for (int r = 0; r < 8; ++r)
          v[r] = r < rows ? dec.chunk(st[r], q, h) : _mm256_setzero_si256();
        transpose8(v);
        int8_t* dst = panel + ((c0 + q) * 16 + 8 * h) * 32;
        for (int i = 0; i < 8; ++i)
          _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 32 * i), v[i]);
      }
    }
  }
}

template <format F>
TERNARY_NO_FP_CONTRACT void gemm(const gemm_job& j) {
  TERNARY_FP_CONTRACT_OFF
  const matrix_view& w = *j.w;
  const decoder_for<F> dec;
  const int64_t gpr = w.groups_per_row;
  const int64_t nchunks = (w.cols + 63) / 64;
  const int64_t cpg = (w.group_size + 63) / 64;
  const int64_t tblocks = (j.tokens + 7) / 8;
  // scratch: panel [planes][8 * padded] | scales [planes][gpr][8] | xrow | xp | asum
  int8_t* panel = j.scratch;
  int8_t* cur = j.scratch + align64(w.planes * 8 * w.padded_cols);
  auto* scales = reinterpret_cast<float*>(cur);
  cur += align64(w.planes * gpr * 8 * 4);
  int8_t* xrow = cur;
  cur += align64(w.padded_cols);
  int8_t* xp = cur;
  cur += align64(tblocks * 8 * w.padded_cols);
  auto* asum = reinterpret_cast<int32_t*>(cur);  // [gpr] temp + [tblocks][gpr][8]
  for (int64_t b = 0; b < tblocks; ++b)
    pack_tokens<8>(w, j, 8 * b, xp + b * 8 * w.padded_cols, asum + gpr + b * gpr * 8, asum, xrow);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t r0 = j.row_begin; r0 < j.row_end; r0 += 8) {
    const int rows = static_cast<int>(j.row_end - r0 < 8 ? j.row_end - r0 : 8);
    for (int p = 0; p < w.planes; ++p) {
      build_panel<F>(w, dec, p, r0, rows, panel + p * 8 * w.padded_cols);
      for (int64_t g = 0; g < gpr; ++g)
        for (int r = 0; r < 8; ++r)
          scales[(p * gpr + g) * 8 + r] = r < rows ? load_scale(w, p, r0 + r, g) : 0.0f;
    }
    for (int64_t b = 0; b < tblocks; ++b) {
      const auto* xpb = reinterpret_cast<const int32_t*>(xp + b * 8 * w.padded_cols);
      const int32_t* asb = asum + gpr + b * gpr * 8;
      __m256 facc[8];
      for (int t = 0; t < 8; ++t) facc[t] = _mm256_setzero_ps();
      for (int p = 0; p < w.planes; ++p) {
        const int8_t* pan = panel + p * 8 * w.padded_cols;
        for (int64_t g = 0; g < gpr; ++g) {
          __m256i acc[8];
          for (int t = 0; t < 8; ++t) acc[t] = _mm256_setzero_si256();
          const int64_t c_end = (g + 1) * cpg < nchunks ? (g + 1) * cpg : nchunks;
          for (int64_t c = g * cpg; c < c_end; ++c) {
            for (int i = 0; i < 16; ++i) {
              const __m256i v =  // (8 rows x 4 cols) codes
                  _mm256_load_si256(reinterpret_cast<const __m256i*>(pan + (c * 16 + i) * 32));
              const int32_t* xq = xpb + (c * 16 + i) * 8;
              for (int t = 0; t < 8; ++t) {
                const __m256i pairs = _mm256_maddubs_epi16(v, _mm256_set1_epi32(xq[t]));
                acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(pairs, ones));
              }
            }
          }
          const __m256 sc = _mm256_load_ps(scales + (p * gpr + g) * 8);
          for (int t = 0; t < 8; ++t) {
            const __m256i isum = _mm256_sub_epi32(acc[t], _mm256_set1_epi32(asb[g * 8 + t]));
            facc[t] = _mm256_add_ps(facc[t], _mm256_mul_ps(_mm256_cvtepi32_ps(isum), sc));
          }
        }
      }
      alignas(32) float out[8];
      for (int t = 0; t < 8; ++t) {
        const int64_t tok = 8 * b + t;
        if (tok >= j.tokens) break;
        _mm256_store_ps(out, _mm256_div_ps(facc[t], _mm256_set1_ps(j.xs[tok])));
        for (int r = 0; r < rows; ++r)
          j.y[tok * j.ldy + r0 + r] = w.bias ? out[r] + w.bias[r0 + r] : out[r];
      }
    }
  }
}

// Fewer tokens than this take the GEMV path.
constexpr int64_t gemm_min_tokens = 4;

template <format F>
void gemm_int8(const gemm_job& j) noexcept {
  if (j.tokens < gemm_min_tokens)
    simd_gemv<tier, decoder_for<F>>(j);
  else
    gemm<F>(j);
}

}  // namespace avx2
}  // namespace
}  // namespace cpu
}  // namespace ternary
