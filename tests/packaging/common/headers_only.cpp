// SPDX-License-Identifier: Apache-2.0
// ternary::headers without the compiled library: encode rows with the bits2 format header and
// check that the reference oracle decodes them (ref::dot_int8 equals the plain integer sum).
// Linking fails if any of these headers needs a symbol from libternary.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "ternary/build_config.hpp"
#include "ternary/format/format.hpp"
#include "ternary/matrix_view.hpp"
#include "ternary/ref/gemm.hpp"
#include "ternary/ref/quantize.hpp"

int main() {
  constexpr int64_t n = 3;
  constexpr int64_t k = ternary::format_bits2::block_trits;  // one block per row
  std::vector<int8_t> trits(n * k);
  for (int64_t i = 0; i < n * k; ++i) trits[i] = static_cast<int8_t>((i * 7 + i / 5) % 3 - 1);
  std::vector<uint8_t> packed(n * ternary::row_bytes(ternary::format::bits2, k));
  const int64_t row_bytes = ternary::row_bytes(ternary::format::bits2, k);
  for (int64_t r = 0; r < n; ++r)
    ternary::format_bits2::encode_block(&trits[r * k], &packed[r * row_bytes]);

  std::vector<float> x(k);
  for (int64_t i = 0; i < k; ++i) x[i] = static_cast<float>(i % 17) - 8.f;
  std::vector<int8_t> xq(k);
  ternary::ref::quantize_row(x.data(), k, xq.data());

  const float scales[n] = {1.f, 0.5f, 2.f};
  ternary::matrix_view w;
  w.fmt = ternary::format::bits2;
  w.granularity = ternary::scale_granularity::per_row;
  w.scale_dtype = ternary::scale_type::f32;
  w.rows = n;
  w.cols = k;
  w.padded_cols = ternary::padded_cols(w.fmt, k);
  w.row_bytes = row_bytes;
  w.group_size = w.padded_cols;
  w.groups_per_row = 1;
  w.weights[0] = packed.data();
  w.scales[0] = scales;

  for (int64_t r = 0; r < n; ++r) {
    int32_t expected = 0;
    for (int64_t i = 0; i < k; ++i) expected += trits[r * k + i] * int32_t{xq[i]};
    const int32_t got = ternary::ref::dot_int8(w, 0, r, 0, k, xq.data());
    if (got != expected) {
      std::fprintf(stderr, "row %lld: ref::dot_int8 %d, expected %d\n", static_cast<long long>(r),
                   got, expected);
      return 1;
    }
  }
  std::printf("ok: headers-only (built ISAs %s)\n", TERNARY_BUILT_CPU_ISAS);
  return 0;
}
