// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the safetensors reader (io::safetensors::reader::open_memory) and what reads
// through it (to_f32, list_packed, load_packed), with writer round trips.
//
// The input is a whole file. When it opens:
//   - every tensor is found by name, its byte range matches its shape and dtype, and to_f32
//     converts it (BOOL: status::unsupported) when it has at most 2^20 elements;
//   - every packed matrix list_packed names either loads or fails with a message; a loaded one
//     stored again with store_packed (and its extras) loads back to the same storage;
//   - the writer, given every metadata entry and tensor, writes a file that opens with the same
//     metadata and tensors in the same order, and writing that file again gives the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_util.hpp"

#include "ternary/io/safetensors.hpp"
#include "ternary/packed_matrix.hpp"

namespace {

namespace st = ternary::io::safetensors;
using ternary::packed_matrix;
using ternary::status;

constexpr int64_t max_convert = int64_t{1} << 20;

void check_tensors(const st::reader& r) {
  for (const st::tensor_info& t : r.tensors()) {
    FUZZ_REQUIRE(r.find(t.name) == &t);
    FUZZ_REQUIRE(t.begin <= t.end && t.end <= r.file_size() - r.data_offset());
    FUZZ_REQUIRE(static_cast<int>(t.shape.size()) <= st::max_rank);
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      FUZZ_REQUIRE(d >= 0);
      numel *= d;  // the reader checked that the product fits
    }
    FUZZ_REQUIRE(numel == t.numel);
    FUZZ_REQUIRE(t.bytes() == static_cast<size_t>(t.numel) * st::dtype_size(t.type));
    FUZZ_REQUIRE((t.data != nullptr) == (t.bytes() > 0));
    if (t.numel > max_convert) continue;
    std::vector<float> f(static_cast<size_t>(t.numel) + 1);
    const status s = st::to_f32(t, f.data(), static_cast<size_t>(t.numel));
    if (t.type == st::dtype::boolean) {
      FUZZ_REQUIRE(s == status::unsupported);
    } else {
      FUZZ_REQUIRE(s == status::ok);
    }
    if (t.numel > 0) {
      fuzz::require_reported(st::to_f32(t, f.data(), static_cast<size_t>(t.numel) - 1));
    }
  }
  for (const auto& kv : r.metadata()) {
    const std::string* v = r.find_metadata(kv.first);
    FUZZ_REQUIRE(v != nullptr && *v == kv.second);
  }
}

/// store_packed(load_packed(x)) loads back to the same matrix.
void check_packed_round_trip(const std::string& name, const packed_matrix& m,
                             const st::string_pairs& extras) {
  st::writer w;
  FUZZ_REQUIRE(st::store_packed(w, name, m, extras) == status::ok);
  std::vector<uint8_t> bytes;
  FUZZ_REQUIRE(w.write_memory(&bytes) == status::ok);
  st::reader r;
  FUZZ_REQUIRE(st::reader::open_memory(bytes.data(), bytes.size(), &r) == status::ok);
  std::vector<std::string> names;
  FUZZ_REQUIRE(st::list_packed(r, &names) == status::ok);
  FUZZ_REQUIRE(names.size() == 1 && names[0] == name);
  packed_matrix back;
  st::string_pairs extras_back;
  FUZZ_REQUIRE(st::load_packed(r, name, &back, &extras_back) == status::ok);
  FUZZ_REQUIRE(extras_back == extras);
  FUZZ_REQUIRE(back.storage_bytes() == m.storage_bytes());
  FUZZ_REQUIRE(std::memcmp(back.storage(), m.storage(), m.storage_bytes()) == 0);
}

void check_packed(const st::reader& r) {
  std::vector<std::string> names;
  FUZZ_REQUIRE(st::list_packed(r, &names) == status::ok);
  for (const std::string& name : names) {
    FUZZ_REQUIRE(r.find(name) != nullptr);
    packed_matrix m;
    st::string_pairs extras;
    if (!fuzz::ok_or_reported(st::load_packed(r, name, &m, &extras))) continue;
    FUZZ_REQUIRE(!m.empty() && m.check_values() == status::ok);
    check_packed_round_trip(name, m, extras);
  }
  packed_matrix none;
  fuzz::require_reported(st::load_packed(r, "\x01no such matrix", &none));
}

/// Writes every metadata entry and tensor of `r`; false when the writer refused one.
bool write_all(const st::reader& r, std::vector<uint8_t>* out) {
  st::writer w;
  for (const auto& kv : r.metadata()) {
    if (!fuzz::ok_or_reported(w.add_metadata(kv.first, kv.second))) return false;
  }
  for (const st::tensor_info& t : r.tensors()) {
    if (!fuzz::ok_or_reported(w.add_tensor(t.name, t.type, t.shape, t.data, t.bytes())))
      return false;
  }
  FUZZ_REQUIRE(w.tensor_count() == r.tensors().size());
  uint64_t predicted = 0;
  FUZZ_REQUIRE(w.file_size(&predicted) == status::ok);
  FUZZ_REQUIRE(w.write_memory(out) == status::ok);
  FUZZ_REQUIRE(predicted == out->size());
  return true;
}

void check_writer_round_trip(const st::reader& r) {
  std::vector<uint8_t> bytes;
  if (!write_all(r, &bytes)) {
    // The only tensor names a reader accepts and the writer refuses: the empty one.
    bool empty_name = false;
    for (const st::tensor_info& t : r.tensors()) empty_name = empty_name || t.name.empty();
    FUZZ_REQUIRE(empty_name);
    return;
  }
  st::reader back;
  FUZZ_REQUIRE(st::reader::open_memory(bytes.data(), bytes.size(), &back) == status::ok);
  FUZZ_REQUIRE(back.metadata() == r.metadata());
  FUZZ_REQUIRE(back.tensors().size() == r.tensors().size());
  FUZZ_REQUIRE(back.data_offset() % 8 == 0);
  for (size_t i = 0; i < r.tensors().size(); ++i) {
    const st::tensor_info& a = r.tensors()[i];
    const st::tensor_info& b = back.tensors()[i];
    FUZZ_REQUIRE(a.name == b.name && a.type == b.type && a.shape == b.shape);
    FUZZ_REQUIRE(a.begin == b.begin && a.end == b.end);
    FUZZ_REQUIRE(a.bytes() == 0 || std::memcmp(a.data, b.data, a.bytes()) == 0);
  }
  std::vector<uint8_t> again;
  FUZZ_REQUIRE(write_all(back, &again));
  FUZZ_REQUIRE(again == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  st::reader r;
  const status s = st::reader::open_memory(data, size, &r);
  if (!fuzz::ok_or_reported(s)) {
    FUZZ_REQUIRE(!r.is_open());
    return 0;
  }
  FUZZ_REQUIRE(r.is_open() && !r.is_mapped());
  FUZZ_REQUIRE(r.file_size() == size && r.data_offset() == 8 + r.header_size());
  check_tensors(r);
  check_packed(r);
  check_writer_round_trip(r);
  return 0;
}
