// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the packed-matrix container (packed_matrix::deserialize, docs/FORMATS.md) and
// the kernels on whatever weight bytes it accepts.
//
// Each input is tried as it is, and again with both CRC-32 fields made right (so mutations get
// past the checksums to the checks behind them). When it parses:
//   - the container is canonical: serialize() gives back exactly the input bytes;
//   - a copy, and a wrap() of its storage, serialize to the same bytes;
//   - unpack_trits, unpack_scales and dequantize succeed (rows * cols <= 2^20), and dequantize
//     equals trit times scale summed over planes;
//   - the int8 GEMV, GEMM (3 tokens) and gemm_rows of the active ISA agree bit for bit with the
//     scalar reference (ref::gemm_int8) on any weight bytes, the never-written bits2 code 3
//     included (rows * cols <= 2^16).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_util.hpp"

#include "ternary/gemm.hpp"
#include "ternary/packed_matrix.hpp"
#include "ternary/ref/gemm.hpp"

namespace {

using ternary::packed_matrix;
using ternary::status;

constexpr int64_t max_unpack = int64_t{1} << 20;
constexpr int64_t max_gemm = int64_t{1} << 16;

void check_unpack(const packed_matrix& m) {
  const int64_t n = m.rows(), k = m.cols();
  const size_t nk = static_cast<size_t>(n * k);
  std::vector<int8_t> trits[2];
  std::vector<float> scales[2];
  for (int p = 0; p < m.planes(); ++p) {
    trits[p].assign(nk, 0);
    scales[p].assign(static_cast<size_t>(m.scale_count()), 0.0f);
    FUZZ_REQUIRE(m.unpack_trits(p, trits[p].data(), k) == status::ok);
    FUZZ_REQUIRE(m.unpack_scales(p, scales[p].data()) == status::ok);
    for (int8_t t : trits[p]) {
      // bits2 decodes the never-written code 3 as +2 (format/bits2.hpp); all else is a trit.
      FUZZ_REQUIRE(t >= -1 && t <= 2);
    }
  }
  FUZZ_REQUIRE(m.unpack_trits(m.planes(), trits[0].data(), k) != status::ok);
  FUZZ_REQUIRE(m.unpack_trits(0, trits[0].data(), k - 1) == status::buffer_too_small);

  std::vector<float> w(nk, 0.0f);
  FUZZ_REQUIRE(m.dequantize(w.data(), k) == status::ok);
  const ternary::matrix_view& v = m.view();
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      float expect = 0.0f;
      for (int p = 0; p < m.planes(); ++p) {
        const int64_t g =
            v.granularity == ternary::scale_granularity::per_group ? c / v.group_size : 0;
        const int64_t si = v.granularity == ternary::scale_granularity::per_tensor ? 0
                           : v.granularity == ternary::scale_granularity::per_row
                               ? r
                               : r * v.groups_per_row + g;
        expect += static_cast<float>(trits[p][static_cast<size_t>(r * k + c)]) *
                  scales[p][static_cast<size_t>(si)];
      }
      FUZZ_REQUIRE(fuzz::same_float(w[static_cast<size_t>(r * k + c)], expect));
    }
  }
}

void check_gemm(const packed_matrix& m) {
  const int64_t n = m.rows(), k = m.cols();
  // Deterministic activations covering the int8 range; one token (GEMV) and three (GEMM).
  constexpr int64_t tokens = 3;
  std::vector<int8_t> x(static_cast<size_t>(tokens * k));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<int8_t>(static_cast<int>(i * 37 % 255) - 127);
  const float s[tokens] = {3.0f, 0.5f, 127.0f};
  std::vector<float> ref(static_cast<size_t>(tokens * n), -2.0f);
  ternary::ref::gemm_int8(m.view(), x.data(), s, tokens, k, ref.data(), n, 0, n);
  for (int64_t t : {int64_t{1}, tokens}) {
    std::vector<float> y(static_cast<size_t>(t * n), -1.0f);
    const ternary::activations a = ternary::activations::int8(x.data(), s, t, k, k);
    if (!fuzz::ok_or_reported(ternary::gemm(m, a, y.data(), n))) return;  // no kernel here
    for (size_t i = 0; i < y.size(); ++i) FUZZ_REQUIRE(fuzz::same_float(y[i], ref[i]));
  }
  // A row range, as an engine's thread pool would compute it.
  const int64_t begin = n / 3;
  std::vector<float> y(static_cast<size_t>(tokens * n), -1.0f);
  const ternary::activations a = ternary::activations::int8(x.data(), s, tokens, k, k);
  FUZZ_REQUIRE(ternary::gemm_rows(m, a, y.data(), n, begin, n) == status::ok);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t r = 0; r < n; ++r) {
      const size_t i = static_cast<size_t>(t * n + r);
      FUZZ_REQUIRE(r < begin ? y[i] == -1.0f : fuzz::same_float(y[i], ref[i]));
    }
  }
}

/// CRC-32 (IEEE 802.3, reflected), as the container uses.
uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xedb88320u : c >> 1;
  }
  return ~c;
}

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void check_container(const uint8_t* data, size_t size) {
  packed_matrix m;
  const status s = packed_matrix::deserialize(data, size, &m);
  if (!fuzz::ok_or_reported(s)) {
    FUZZ_REQUIRE(m.empty());
    return;
  }
  FUZZ_REQUIRE(!m.empty() && m.owns_storage());
  FUZZ_REQUIRE(m.check_values() == status::ok);

  // Canonical: the bytes come back unchanged.
  std::vector<uint8_t> bytes;
  FUZZ_REQUIRE(m.serialize(&bytes) == status::ok);
  FUZZ_REQUIRE(bytes.size() == size && std::memcmp(bytes.data(), data, size) == 0);

  // A copy and a view of the storage describe the same matrix.
  const packed_matrix copy(m);
  FUZZ_REQUIRE(copy.storage_bytes() == m.storage_bytes() &&
               std::memcmp(copy.storage(), m.storage(), m.storage_bytes()) == 0);
  packed_matrix view;
  FUZZ_REQUIRE(packed_matrix::wrap(m.desc(), m.storage(), m.storage_bytes(), &view) == status::ok);
  std::vector<uint8_t> again;
  FUZZ_REQUIRE(view.serialize(&again) == status::ok && again == bytes);

  const int64_t nk = m.rows() * m.cols();  // rows <= 2^31, cols <= 2^23: no overflow
  if (nk <= max_unpack) check_unpack(m);
  if (nk <= max_gemm) check_gemm(m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_container(data, size);
  // The same bytes with both checksums made right (payload CRC at 72, header CRC at 124), so
  // mutations reach the checks behind them.
  constexpr size_t header = 128;
  if (size < header) return 0;
  std::vector<uint8_t> fixed(data, data + size);
  put32(fixed.data() + 72, crc32(fixed.data() + header, size - header));
  put32(fixed.data() + 124, crc32(fixed.data(), 124));
  if (std::memcmp(fixed.data(), data, size) != 0) check_container(fixed.data(), size);
  return 0;
}
