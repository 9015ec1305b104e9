// SPDX-License-Identifier: Apache-2.0
// Compile-only check (tests/headers/CMakeLists.txt; never run): the device-usable public headers
// build under nvcc, and their TERNARY_HOST_DEVICE functions can be called from a __global__
// kernel and from host code of the same .cu translation unit.
#include <ternary/format/format.hpp>
#include <ternary/matrix_view.hpp>
#include <ternary/ref/gemm.hpp>  // also brings <cstdint>: the headers are checked first

namespace ternary_header_check {

// One thread per column of row `row`: every decoder path a CUDA kernel would take.
__global__ void decode_row(ternary::matrix_view w, int64_t row, int* trits, float* scales) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= w.cols || !ternary::is_valid(w.fmt)) return;
  const uint8_t* packed = w.weights[0] + row * w.row_bytes;
  const int64_t bt = ternary::block_trits(w.fmt);
  const uint8_t* block = packed + (k / bt) * ternary::block_bytes(w.fmt);
  const int i = static_cast<int>(k % bt);
  int t = ternary::trit_at(w, 0, row, k);
  if (w.fmt == ternary::format::bits2) {
    t += ternary::format_bits2::decode(block, i);
  } else if (w.fmt == ternary::format::base3) {
    t += ternary::format_base3::decode(block, i);
  } else {
    t += ternary::format_sherry::decode(block, i);
  }
  trits[k] = t - ternary::decode_trit(w.fmt, packed, k);
  const int64_t group =
      w.granularity == ternary::scale_granularity::per_group ? k / w.group_size : 0;
  scales[k] = ternary::scale_at(w, 0, row, group) + ternary::half_to_float(uint16_t{0x3c00});
}

// Host side of the same TU: encode a block, decode it again, run the reference oracle.
float host_roundtrip() {
  int8_t trits[ternary::format_bits2::block_trits];
  for (int i = 0; i < ternary::format_bits2::block_trits; ++i)
    trits[i] = static_cast<int8_t>(i % 3 - 1);
  uint8_t block[ternary::format_bits2::block_bytes] = {};
  ternary::format_bits2::encode_block(trits, block);
  int8_t back[ternary::format_bits2::block_trits];
  ternary::format_bits2::decode_block(block, back);

  const float scale = 0.5f;
  ternary::matrix_view w;
  w.fmt = ternary::format::bits2;
  w.granularity = ternary::scale_granularity::per_row;
  w.rows = 1;
  w.cols = ternary::format_bits2::block_trits;
  w.padded_cols = ternary::padded_cols(w.fmt, w.cols);
  w.row_bytes = ternary::row_bytes(w.fmt, w.cols);
  w.group_size = w.padded_cols;
  w.groups_per_row = 1;
  w.weights[0] = block;
  w.scales[0] = &scale;

  const float s = 1.0f;
  float y = 0.0f;
  ternary::ref::gemm_int8(w, back, &s, 1, w.cols, &y, 1, 0, 1);
  const int t = ternary::trit_at(w, 0, 0, 5) + ternary::decode_trit(w.fmt, block, 7);
  return y + static_cast<float>(t) + ternary::scale_at(w, 0, 0, 0) +
         ternary::half_to_float(ternary::float_to_half(y));
}

}  // namespace ternary_header_check
