// SPDX-License-Identifier: Apache-2.0
// The AVX-512 VNNI `vpdpbusd zmm` peak loop. This file alone is compiled with
// -mavx512f -mavx512bw -mavx512vnni and includes nothing but <immintrin.h> and <cstdint>, so no
// inline function compiled with those flags can be shared with (and picked over) baseline code.
// bench_peak.cpp calls it only after __builtin_cpu_supports("avx512vnni").
//
// 16 independent accumulators (more than latency x throughput on Zen 4 and Zen 5) stay in
// registers: the empty asm statement after each round makes every accumulator an opaque
// register operand, so the compiler can neither drop the dot products nor spill them to an
// array.
#include <cstdint>
#include <immintrin.h>

namespace ternary_bench {

/// Instructions per round of the loop below.
extern const int vpdpbusd_per_round;
const int vpdpbusd_per_round = 16;

/// Runs `rounds` rounds of 16 independent vpdpbusd zmm; returns a value derived from them.
int64_t vpdpbusd_zmm_rounds(int64_t rounds) {
  __m512i a = _mm512_set1_epi8(3);
  __m512i b = _mm512_set1_epi8(-5);
  asm volatile("" : "+v"(a), "+v"(b));  // unknown operands: nothing folds at compile time
  __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0,
          c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
  for (int64_t r = 0; r < rounds; ++r) {
    c0 = _mm512_dpbusd_epi32(c0, a, b);
    c1 = _mm512_dpbusd_epi32(c1, a, b);
    c2 = _mm512_dpbusd_epi32(c2, a, b);
    c3 = _mm512_dpbusd_epi32(c3, a, b);
    c4 = _mm512_dpbusd_epi32(c4, a, b);
    c5 = _mm512_dpbusd_epi32(c5, a, b);
    c6 = _mm512_dpbusd_epi32(c6, a, b);
    c7 = _mm512_dpbusd_epi32(c7, a, b);
    c8 = _mm512_dpbusd_epi32(c8, a, b);
    c9 = _mm512_dpbusd_epi32(c9, a, b);
    c10 = _mm512_dpbusd_epi32(c10, a, b);
    c11 = _mm512_dpbusd_epi32(c11, a, b);
    c12 = _mm512_dpbusd_epi32(c12, a, b);
    c13 = _mm512_dpbusd_epi32(c13, a, b);
    c14 = _mm512_dpbusd_epi32(c14, a, b);
    c15 = _mm512_dpbusd_epi32(c15, a, b);
    // Two statements: GCC allows at most 30 operands per asm, and "+v" counts twice.
    asm volatile(""
                 : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7));
    asm volatile(""
                 : "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11), "+v"(c12), "+v"(c13), "+v"(c14),
                   "+v"(c15));
  }
  __m512i s =
      _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                       _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
  s = _mm512_add_epi32(
      s,
      _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)),
                       _mm512_add_epi32(_mm512_add_epi32(c12, c13), _mm512_add_epi32(c14, c15))));
  // Summed through memory: GCC 12's _mm512_reduce_add_epi32 trips -Wuninitialized.
  int32_t lanes[16];
  _mm512_storeu_si512(lanes, s);
  int64_t total = 0;
  for (int32_t v : lanes) total += v;
  return total;
}

}  // namespace ternary_bench
