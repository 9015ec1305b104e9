// SPDX-License-Identifier: Apache-2.0
// AVX-512 VNNI int8 kernels (vpdpbusd): a row-major GEMV for few tokens and a panel GEMM that
// decodes a 16-row weight panel once and reuses it for every token. Included by the avx512
// translation unit only, after cpu/kernels/generic.hpp (whose anonymous-namespace helpers it
// reuses: load_scale, group_bounds); everything here is in an anonymous namespace too.
//
// Integer contract: offset codes u = t + 1 in {0,1,2} multiply activations a in [-128, 127]
// with vpdpbusd (u8 x s8, four products per int32 lane, no saturation); each scale group's sum
// is then corrected by sum(a) over the group: sum(t*a) = sum(u*a) - sum(a). Padded activations
// are zero, so padded trits contribute nothing whatever their code. |sum(u*a)| < 2^31 for every
// K <= max_cols (format.hpp), so the int32 lanes never overflow.
#pragma once

#include <cstdint>
#include <cstring>
#include <immintrin.h>

#include "cpu/kernel.hpp"
#include "cpu/kernels/generic.hpp"
#include "detail/isa_select.hpp"

// GCC 12 reports its own _mm512_reduce_* / _mm512_undefined helpers as "maybe uninitialized"
// once inlined (a false positive; with -fsanitize=address it says "uninitialized", GCC bug
// 105593); silence it for this header's users only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace ternary {
namespace cpu {
namespace {
namespace avx512 {

// ---- per-format chunk decoders: 64 offset codes for 64 consecutive columns ----------------

// bits2: a 64-byte block holds 4 chunks; chunk q = (block >> 2q) & 3.
struct bits2_decoder {
  static constexpr int chunks_per_block = 4;
  static constexpr int block_bytes = 64;
  __m512i mask3 = _mm512_set1_epi8(3);
  struct state {
    __m512i w;  // (64 bytes) = 4 x 64 codes
  };
  state load(const uint8_t* blk) const { return {_mm512_loadu_si512(blk)}; }
  __m512i chunk(const state& s, int q, int /*half: one per chunk here*/) const {
    return _mm512_and_si512(q == 0 ? s.w : _mm512_srli_epi16(s.w, 2 * q), mask3);
  }
};

// base3: a 64-byte block holds 5 chunks; digit n of every byte by a 256-entry table lookup done
// as two 128-entry vpermt2b (index bits 6:0) blended on bit 7.
struct base3_decoder {
  static constexpr int chunks_per_block = 5;
  static constexpr int block_bytes = 64;
  __m512i table[5][4];  // digit n, byte values [64i, 64i + 64)
  base3_decoder() {
    alignas(64) uint8_t t[5][256];
    static constexpr unsigned pow3[5] = {1, 3, 9, 27, 81};
    for (int n = 0; n < 5; ++n)
      for (int b = 0; b < 256; ++b)
        t[n][b] = static_cast<uint8_t>((((b * pow3[n]) & 0xffu) * 3u) >> 8);
    for (int n = 0; n < 5; ++n)
      for (int i = 0; i < 4; ++i) table[n][i] = _mm512_load_si512(t[n] + 64 * i);
  }
  struct state {
    __m512i w;
    __mmask64 high;  // byte >= 128
  };
  state load(const uint8_t* blk) const {
    const __m512i w = _mm512_loadu_si512(blk);
    return {w, _mm512_movepi8_mask(w)};
  }
  __m512i chunk(const state& s, int n, int /*half: one per chunk here*/) const {
    const __m512i lo = _mm512_permutex2var_epi8(table[n][0], s.w, table[n][1]);
    const __m512i hi = _mm512_permutex2var_epi8(table[n][2], s.w, table[n][3]);
    return _mm512_mask_blend_epi8(s.high, lo, hi);
  }
};

// sherry: a 40-byte block holds 4 chunks of 16 quads; each quad code widens to a dword and two
// 16-entry dword tables (sign bit clear / set) give its four offset codes.
struct sherry_decoder {
  static constexpr int chunks_per_block = 4;
  static constexpr int block_bytes = 40;
  __m512i plus, minus;
  sherry_decoder() {
    alignas(64) uint32_t p[16], m[16];
    for (unsigned c = 0; c < 16; ++c) {
      p[c] = sherry_quad_codes(c);
      m[c] = sherry_quad_codes(c | 16u);
    }
    plus = _mm512_load_si512(p);
    minus = _mm512_load_si512(m);
  }
  struct state {
    __m512i n0, n1;  // quads 0..15 / 32..47 (low / high nibble of bytes 0..15), 16..31 / 48..63
    uint64_t signs;
  };
  state load(const uint8_t* blk) const {
    state s;
    s.n0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    s.n1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16)));
    std::memcpy(&s.signs, blk + 32, 8);
    return s;
  }
  __m512i chunk(const state& s, int q, int /*half: one per chunk here*/) const {
    const __m512i base = (q & 1) ? s.n1 : s.n0;
    // vpermd reads index bits 3:0 only, so the low nibble needs no mask.
    const __m512i idx = q < 2 ? base : _mm512_srli_epi32(base, 4);
    const __mmask16 neg = static_cast<__mmask16>(s.signs >> (16 * q));
    return _mm512_mask_permutexvar_epi32(_mm512_permutexvar_epi32(idx, plus), neg, idx, minus);
  }
};

// Vector primitives of this tier for the shared row-major GEMV (generic.hpp).
struct tier {
  using vec = __m512i;
  static constexpr int halves = 1;         // vector passes per 64-column chunk
  static constexpr int rows_per_pass = 8;  // rows sharing each activation load
  static vec zero() { return _mm512_setzero_si512(); }
  static vec load_act(const int8_t* p) { return _mm512_load_si512(p); }  // (64 int8)
  static vec dot(vec acc, vec u, vec a) { return _mm512_dpbusd_epi32(acc, u, a); }
  // Modulo 2^32 like the other tiers (not GCC's _mm512_reduce_add_epi32, whose signed lane
  // sums overflow when a crafted matrix holds bits2 code 3; see simd_gemv_rows).
  static int32_t hsum(vec v) {
    const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
  }
};

// 128-bit lane m of v; the intrinsic needs an immediate, which a loop index is only once the
// loop is unrolled (not at -O0), hence the switch.
inline __m128i extract128(__m512i v, int m) {
  switch (m) {
    case 0: return _mm512_castsi512_si128(v);
    case 1: return _mm512_extracti32x4_epi32(v, 1);
    case 2: return _mm512_extracti32x4_epi32(v, 2);
    default: return _mm512_extracti32x4_epi32(v, 3);
  }
}

template <format F>
using decoder_for = pick_decoder<F, bits2_decoder, base3_decoder, sherry_decoder>;

// ---- GEMM: 16-row panels, tokens in blocks of TB ------------------------------------------

// 16x16 transpose of dwords: in[r] lane i -> out[i] lane r.
inline void transpose16(__m512i* v) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    v[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    v[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    v[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    v[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // v[4b + k] now holds, in 128-bit lane L, rows 4L..4L+3 of dword column 4*L' + k... for the
  // four 128-bit lanes; two rounds of 128-bit shuffles finish the transpose.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_i32x4(v[i], v[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_i32x4(v[i], v[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_i32x4(v[i + 8], v[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_i32x4(v[i + 8], v[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    v[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
    v[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
    v[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

// Decodes plane p of rows [r0, r0 + rows) (rows <= 16, missing rows zero) into the panel:
// panel[(c * 16 + i) * 64 ...] = dword lane r = codes of row r0 + r, columns 64c + 4i .. + 3.
template <format F>
void build_panel(const matrix_view& w, const decoder_for<F>& dec, int p, int64_t r0, int rows,
                 int8_t* panel) {
  using D = decoder_for<F>;
  constexpr int cpb = D::chunks_per_block;
  const int64_t nchunks = (w.cols + 63) / 64;
  for (int64_t c0 = 0; c0 < nchunks; c0 += cpb) {
    typename D::state st[16];
    for (int r = 0; r < 16; ++r)
      st[r] = dec.load(w.weights[p] + (r0 + (r < rows ? r : 0)) * w.row_bytes +
                       c0 / cpb * D::block_bytes);
    for (int q = 0; q < cpb && c0 + q < nchunks; ++q) {
      __m512i v[16];
      for (int r = 0; r < 16; ++r)
        v[r] = r < rows ? dec.chunk(st[r], q, 0) : _mm512_setzero_si512();
      transpose16(v);
      int8_t* dst = panel + (c0 + q) * 16 * 64;
      for (int i = 0; i < 16; ++i) _mm512_store_si512(dst + 64 * i, v[i]);
    }
  }
}

template <format F>
TERNARY_NO_FP_CONTRACT void gemm(const gemm_job& j, int8_t* scratch) {
  TERNARY_FP_CONTRACT_OFF
  const matrix_view& w = *j.w;
  const decoder_for<F> dec;
  const int64_t gpr = w.groups_per_row;
  const int64_t nchunks = (w.cols + 63) / 64;
  const int64_t cpg = (w.group_size + 63) / 64;
  const int64_t tblocks = (j.tokens + 15) / 16;
  // scratch: panel [planes][16 * padded] | scales [planes][gpr][16] | xrow | xp [tblocks] | asum
  int8_t* panel = scratch;
  int8_t* cur = scratch + align64(w.planes * 16 * w.padded_cols);
  auto* scales = reinterpret_cast<float*>(cur);
  cur += align64(w.planes * gpr * 16 * 4);
  int8_t* xrow = cur;
  cur += align64(w.padded_cols);
  int8_t* xp = cur;
  cur += align64(tblocks * 16 * w.padded_cols);
  auto* asum = reinterpret_cast<int32_t*>(cur);  // [gpr] scratch + [tblocks][gpr][16]
  for (int64_t b = 0; b < tblocks; ++b)
    pack_tokens<16>(w, j, 16 * b, xp + b * 16 * w.padded_cols, asum + gpr + b * gpr * 16, asum,
                    xrow);

  for (int64_t r0 = j.row_begin; r0 < j.row_end; r0 += 16) {
    const int rows = static_cast<int>(j.row_end - r0 < 16 ? j.row_end - r0 : 16);
    for (int p = 0; p < w.planes; ++p) {
      build_panel<F>(w, dec, p, r0, rows, panel + p * 16 * w.padded_cols);
      for (int64_t g = 0; g < gpr; ++g)
        for (int r = 0; r < 16; ++r)
          scales[(p * gpr + g) * 16 + r] = r < rows ? load_scale(w, p, r0 + r, g) : 0.0f;
    }
    const __mmask16 row_mask = static_cast<__mmask16>((1u << rows) - 1u);
    const __m512 bias = w.bias ? _mm512_maskz_loadu_ps(row_mask, w.bias + r0) : _mm512_setzero_ps();
    for (int64_t b = 0; b < tblocks; ++b) {
      const auto* xpb = reinterpret_cast<const int32_t*>(xp + b * 16 * w.padded_cols);
      const int32_t* asb = asum + gpr + b * gpr * 16;
      // Two halves of 8 tokens keep 8 int32 + 8 fp32 accumulators in registers.
      for (int h = 0; h < 2; ++h) {
        if (16 * b + 8 * h >= j.tokens) break;
        __m512 facc[8];
        for (int t = 0; t < 8; ++t) facc[t] = _mm512_setzero_ps();
        for (int p = 0; p < w.planes; ++p) {
          const int8_t* pan = panel + p * 16 * w.padded_cols;
          for (int64_t g = 0; g < gpr; ++g) {
            __m512i acc[8];
            for (int t = 0; t < 8; ++t) acc[t] = _mm512_setzero_si512();
            const int64_t c_end = (g + 1) * cpg < nchunks ? (g + 1) * cpg : nchunks;
            for (int64_t c = g * cpg; c < c_end; ++c) {
              for (int i = 0; i < 16; ++i) {
                const __m512i v = _mm512_load_si512(pan + (c * 16 + i) * 64);  // (16 rows x 4 cols)
                const int32_t* xq = xpb + (c * 16 + i) * 16 + 8 * h;           // 8 tokens' dwords
                for (int t = 0; t < 8; ++t)
                  acc[t] = _mm512_dpbusd_epi32(acc[t], v, _mm512_set1_epi32(xq[t]));
              }
            }
            const __m512 sc = _mm512_load_ps(scales + (p * gpr + g) * 16);
            for (int t = 0; t < 8; ++t) {
              const __m512i isum =
                  _mm512_sub_epi32(acc[t], _mm512_set1_epi32(asb[g * 16 + 8 * h + t]));
              facc[t] = _mm512_add_ps(facc[t], _mm512_mul_ps(_mm512_cvtepi32_ps(isum), sc));
            }
          }
        }
        for (int t = 0; t < 8; ++t) {
          const int64_t tok = 16 * b + 8 * h + t;
          if (tok >= j.tokens) break;
          __m512 out = _mm512_div_ps(facc[t], _mm512_set1_ps(j.xs[tok]));
          if (w.bias) out = _mm512_add_ps(out, bias);
          _mm512_mask_storeu_ps(j.y + tok * j.ldy + r0, row_mask, out);
        }
      }
    }
  }
}

// ---- fp32 activations --------------------------------------------------------------------
// One row loop for both fp32 kernels; a policy says how a 64-column chunk of codes meets the
// activations (prepared once per token, zero-padded to padded_cols, so no tail masks here).

// Without AVX512_BF16: codes u = 2 add the activation, u = 0 subtract it (no multiply). The
// invalid bits2 code 3, never written by pack, counts as 0 here.
struct masked_policy {
  struct acc_t {
    __m512 a[4];  // one chain per 16-column quarter of a chunk
  };
  struct x_t {
    __m512 v[4];  // (4 x 16 fp32) columns of the chunk
  };
  const float* x;  // padded token
  x_t load(int64_t k0) const {
    x_t r;
    for (int m = 0; m < 4; ++m) r.v[m] = _mm512_loadu_ps(x + k0 + 16 * m);
    return r;
  }
  static acc_t zero() {
    acc_t r;
    for (int m = 0; m < 4; ++m) r.a[m] = _mm512_setzero_ps();
    return r;
  }
  static void add(acc_t& acc, __m512i u, const x_t& xv) {
    const __m128i two = _mm_set1_epi8(2);
    for (int m = 0; m < 4; ++m) {
      // Masks straight from the 16 codes of quarter m keep them in mask registers.
      const __m128i um = extract128(u, m);
      const __mmask16 pos = _mm_cmpeq_epi8_mask(um, two);
      const __mmask16 neg = _mm_testn_epi8_mask(um, um);  // u == 0
      acc.a[m] = _mm512_mask_add_ps(acc.a[m], pos, acc.a[m], xv.v[m]);
      acc.a[m] = _mm512_mask_sub_ps(acc.a[m], neg, acc.a[m], xv.v[m]);
    }
  }
  static float sum(const acc_t& acc) {
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc.a[0], acc.a[1]), _mm512_add_ps(acc.a[2], acc.a[3])));
  }
};

// With AVX512_BF16 (a run-time option inside this tier): each activation is split into three
// bf16 parts, x ~= h + m + l (24 significant bits, as fp32), and trits become bf16 words (-1, 0,
// +1; the invalid bits2 code 3 gives +2 as in the reference) by a word table lookup; vdpbf16ps
// then does 32 multiply-adds per instruction with fp32 accumulation.
#define TERNARY_BF16_TARGET __attribute__((target("avx512bf16")))

struct bf16_policy {
  struct acc_t {
    __m512 a[3];  // h, m, l parts
  };
  struct x_t {
    __m512i v[3][2];  // (3 parts x 2 halves x 32 bf16) activations of the chunk
  };
  const uint16_t* parts[3];  // h, m, l of the padded token
  __m512i table;             // bf16 of t = u - 1 for u = 0..3, repeated
  TERNARY_BF16_TARGET x_t load(int64_t k0) const {
    x_t r;
    for (int i = 0; i < 3; ++i)
      for (int half = 0; half < 2; ++half)
        r.v[i][half] = _mm512_loadu_si512(parts[i] + k0 + 32 * half);
    return r;
  }
  static acc_t zero() {
    acc_t r;
    for (int i = 0; i < 3; ++i) r.a[i] = _mm512_setzero_ps();
    return r;
  }
  TERNARY_BF16_TARGET void add(acc_t& acc, __m512i u, const x_t& xv) const {
    const __m512i t0 =
        _mm512_permutexvar_epi16(_mm512_cvtepu8_epi16(_mm512_castsi512_si256(u)), table);
    const __m512i t1 =
        _mm512_permutexvar_epi16(_mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(u, 1)), table);
    for (int i = 0; i < 3; ++i) {
      acc.a[i] = _mm512_dpbf16_ps(acc.a[i], (__m512bh)t0, (__m512bh)xv.v[i][0]);
      acc.a[i] = _mm512_dpbf16_ps(acc.a[i], (__m512bh)t1, (__m512bh)xv.v[i][1]);
    }
  }
  static float sum(const acc_t& acc) {
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc.a[2], acc.a[1]), acc.a[0]));
  }
};

// Rows [r0, r0 + R) for one prepared token. Always inlined, so each instantiation takes the
// instruction set of its caller (plain avx512 for masked_policy, +avx512bf16 for bf16_policy).
template <class P, format F, int R>
__attribute__((always_inline)) inline void f32_rows(const matrix_view& w, const decoder_for<F>& dec,
                                                    const P& pol, int64_t r0, int64_t row_limit,
                                                    float* out) {
  using D = decoder_for<F>;
  constexpr int cpb = D::chunks_per_block;
  const int64_t nchunks = (w.cols + 63) / 64;
  const int64_t cpg = (w.group_size + 63) / 64;
  const next_pass_prefetch<R, D::block_bytes> prefetch(w, r0, row_limit);
  float total[R] = {};
  for (int p = 0; p < w.planes; ++p) {
    const uint8_t* rows[R];
    for (int r = 0; r < R; ++r) rows[r] = w.weights[p] + (r0 + r) * w.row_bytes;
    typename P::acc_t acc[R];
    for (int r = 0; r < R; ++r) acc[r] = P::zero();
    int64_t g = 0, in_group = 0;
    for (int64_t c0 = 0; c0 < nchunks; c0 += cpb) {
      prefetch.step(w.weights[p], c0 / cpb);  // as simd_gemv_rows
      typename D::state st[R];
      for (int r = 0; r < R; ++r) st[r] = dec.load(rows[r] + c0 / cpb * D::block_bytes);
      for (int q = 0; q < cpb && c0 + q < nchunks; ++q) {
        const typename P::x_t xv = pol.load(64 * (c0 + q));
        for (int r = 0; r < R; ++r) pol.add(acc[r], dec.chunk(st[r], q, 0), xv);
        if (++in_group == cpg || c0 + q + 1 == nchunks) {
          for (int r = 0; r < R; ++r) {
            total[r] += P::sum(acc[r]) * load_scale(w, p, r0 + r, g);
            acc[r] = P::zero();
          }
          ++g;
          in_group = 0;
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) out[r] = w.bias ? total[r] + w.bias[r0 + r] : total[r];
}

template <class P, format F>
__attribute__((always_inline)) inline void f32_token(const matrix_view& w,
                                                     const decoder_for<F>& dec, const P& pol,
                                                     const gemm_job& j, float* yt) {
  int64_t n = j.row_begin;
  for (; n + 4 <= j.row_end; n += 4) f32_rows<P, F, 4>(w, dec, pol, n, j.row_end, yt + n);
  for (; n < j.row_end; ++n) f32_rows<P, F, 1>(w, dec, pol, n, j.row_end, yt + n);
}

TERNARY_BF16_TARGET inline void split_bf16(const float* x, int64_t padded, uint16_t* h, uint16_t* m,
                                           uint16_t* l) {
  for (int64_t k = 0; k < padded; k += 16) {
    const __m512 v = _mm512_loadu_ps(x + k);
    const __m256bh vh = _mm512_cvtneps_pbh(v);
    const __m512 r1 = _mm512_sub_ps(v, _mm512_cvtpbh_ps(vh));
    const __m256bh vm = _mm512_cvtneps_pbh(r1);
    const __m512 r2 = _mm512_sub_ps(r1, _mm512_cvtpbh_ps(vm));
    const __m256bh vl = _mm512_cvtneps_pbh(r2);
    std::memcpy(h + k, &vh, 32);
    std::memcpy(m + k, &vm, 32);
    std::memcpy(l + k, &vl, 32);
  }
}

// Copies token t into a zero-padded fp32 buffer of padded_cols values.
inline void pad_token_f32(const matrix_view& w, const float* x, float* xpad) {
  std::memcpy(xpad, x, static_cast<size_t>(w.cols) * sizeof(float));
  std::memset(xpad + w.cols, 0, static_cast<size_t>(w.padded_cols - w.cols) * sizeof(float));
}

template <format F>
TERNARY_BF16_TARGET void gemm_f32_bf16(const gemm_job& j) {
  const matrix_view& w = *j.w;
  const decoder_for<F> dec;
  auto* xpad = reinterpret_cast<float*>(j.scratch);
  auto* h = reinterpret_cast<uint16_t*>(j.scratch + align64(4 * w.padded_cols));
  uint16_t* m = h + w.padded_cols;
  uint16_t* l = m + w.padded_cols;
  alignas(64) static const uint16_t tw[32] = {0xBF80, 0, 0x3F80, 0x4000, 0xBF80, 0, 0x3F80, 0x4000,
                                              0xBF80, 0, 0x3F80, 0x4000, 0xBF80, 0, 0x3F80, 0x4000,
                                              0xBF80, 0, 0x3F80, 0x4000, 0xBF80, 0, 0x3F80, 0x4000,
                                              0xBF80, 0, 0x3F80, 0x4000, 0xBF80, 0, 0x3F80, 0x4000};
  const bf16_policy pol{{h, m, l}, _mm512_load_si512(tw)};
  const auto* x = static_cast<const float*>(j.x);
  for (int64_t t = 0; t < j.tokens; ++t) {
    pad_token_f32(w, x + t * j.ldx, xpad);
    split_bf16(xpad, w.padded_cols, h, m, l);
    f32_token<bf16_policy, F>(w, dec, pol, j, j.y + t * j.ldy);
  }
}

template <format F>
void gemm_f32(const gemm_job& j) noexcept {
  if (detail::cpu_has_avx512_bf16()) return gemm_f32_bf16<F>(j);
  const matrix_view& w = *j.w;
  const decoder_for<F> dec;
  auto* xpad = reinterpret_cast<float*>(j.scratch);
  const masked_policy pol{xpad};
  const auto* x = static_cast<const float*>(j.x);
  for (int64_t t = 0; t < j.tokens; ++t) {
    pad_token_f32(w, x + t * j.ldx, xpad);
    f32_token<masked_policy, F>(w, dec, pol, j, j.y + t * j.ldy);
  }
}

// Fewer tokens than this take the GEMV path (decoding per token beats building panels).
constexpr int64_t gemm_min_tokens = 4;

template <format F>
void gemm_int8(const gemm_job& j) noexcept {
  if (j.tokens < gemm_min_tokens)
    simd_gemv<tier, decoder_for<F>>(j);
  else
    gemm<F>(j, j.scratch);
}

}  // namespace avx512
}  // namespace
}  // namespace cpu
}  // namespace ternary
