// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the GGUF reader (io::gguf::reader::open_memory) and its value accessors, with a
// writer round trip.
//
// The input is a whole file. When it opens:
//   - every key/value is found by key; every accessor (get_u64/get_i64/get_f64, element() on
//     fixed-size arrays, nested arrays, string arrays) answers within its contract;
//   - every tensor is found by name; tensor_data() succeeds exactly when its size is known, and
//     then gives the tensor's own range, inside the file;
//   - the writer, given every key/value (add_value) and every tensor of known size, writes a file
//     that opens with the same keys, types and values, and the same tensors (names, types,
//     shapes, kinds, bytes); writing that file again gives the same bytes.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_util.hpp"

#include "ternary/io/gguf.hpp"

namespace {

namespace gg = ternary::io::gguf;
using ternary::status;

bool is_fixed(gg::value_type t) { return gg::value_type_size(t) != 0; }

void check_value(const gg::value& v, int depth) {
  FUZZ_REQUIRE(depth <= gg::max_array_depth);
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  const bool has_u = v.get_u64(&u), has_i = v.get_i64(&i), has_f = v.get_f64(&f);
  switch (v.type) {
    case gg::value_type::uint8:
    case gg::value_type::uint16:
    case gg::value_type::uint32:
    case gg::value_type::uint64:
      FUZZ_REQUIRE(has_u && u == v.u && has_f);
      FUZZ_REQUIRE(has_i == (v.u <= static_cast<uint64_t>(INT64_MAX)));
      break;
    case gg::value_type::int8:
    case gg::value_type::int16:
    case gg::value_type::int32:
    case gg::value_type::int64:
      FUZZ_REQUIRE(has_i && i == v.i && has_f);
      FUZZ_REQUIRE(has_u == (v.i >= 0));
      break;
    case gg::value_type::boolean: FUZZ_REQUIRE(!has_u && !has_i && has_f && v.u <= 1); break;
    case gg::value_type::float32:
    case gg::value_type::float64: FUZZ_REQUIRE(!has_u && !has_i && has_f); break;
    case gg::value_type::string:
    case gg::value_type::array: FUZZ_REQUIRE(!has_u && !has_i && !has_f); break;
  }
  gg::value e;
  if (v.type != gg::value_type::array) {
    FUZZ_REQUIRE(!v.element(0, &e));
    return;
  }
  FUZZ_REQUIRE(gg::value_type_name(v.elem_type)[0] != '?');
  FUZZ_REQUIRE(!v.element(v.count, &e));
  if (is_fixed(v.elem_type)) {
    FUZZ_REQUIRE(v.count == 0 || v.raw != nullptr);
    const uint64_t shown = v.count < 64 ? v.count : 64;
    for (uint64_t k = 0; k < shown; ++k) {
      FUZZ_REQUIRE(v.element(k, &e));
      FUZZ_REQUIRE(e.type == v.elem_type);
      check_value(e, depth);
    }
    if (v.count > 0) FUZZ_REQUIRE(v.element(v.count - 1, &e));
  } else if (v.elem_type == gg::value_type::string) {
    FUZZ_REQUIRE(v.strings.size() == v.count && !v.element(0, &e));
  } else {
    FUZZ_REQUIRE(v.arrays.size() == v.count && !v.element(0, &e));
    for (const gg::value& a : v.arrays) {
      FUZZ_REQUIRE(a.type == gg::value_type::array);
      check_value(a, depth + 1);
    }
  }
}

bool same_value(const gg::value& a, const gg::value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case gg::value_type::uint8:
    case gg::value_type::uint16:
    case gg::value_type::uint32:
    case gg::value_type::uint64:
    case gg::value_type::boolean: return a.u == b.u;
    case gg::value_type::int8:
    case gg::value_type::int16:
    case gg::value_type::int32:
    case gg::value_type::int64: return a.i == b.i;
    case gg::value_type::float32:
    case gg::value_type::float64:
      // A FLOAT32 value is held as a double, so a signalling NaN comes back quiet: any NaN
      // equals any NaN; everything else bit for bit.
      return (std::isnan(a.f) && std::isnan(b.f)) || std::memcmp(&a.f, &b.f, sizeof a.f) == 0;
    case gg::value_type::string: return a.str == b.str;
    case gg::value_type::array: break;
  }
  if (a.elem_type != b.elem_type || a.count != b.count) return false;
  const size_t es = gg::value_type_size(a.elem_type);
  if (es != 0) return a.count == 0 || std::memcmp(a.raw, b.raw, a.count * es) == 0;
  if (a.elem_type == gg::value_type::string) return a.strings == b.strings;
  for (size_t k = 0; k < a.arrays.size(); ++k)
    if (!same_value(a.arrays[k], b.arrays[k])) return false;
  return true;
}

void check_tensors(const gg::reader& r) {
  for (const gg::tensor_info& t : r.tensors()) {
    FUZZ_REQUIRE(r.find_tensor(t.name) == &t);
    FUZZ_REQUIRE(t.n_dims >= 1 && t.n_dims <= gg::max_dims);
    int64_t numel = 1;
    for (int d = 0; d < gg::max_dims; ++d) {
      FUZZ_REQUIRE(t.ne[d] >= 0);
      if (d >= t.n_dims) FUZZ_REQUIRE(t.ne[d] == 1);
      numel *= t.ne[d];  // the reader checked that the product fits
    }
    FUZZ_REQUIRE(numel == t.numel);
    FUZZ_REQUIRE(t.offset % r.alignment() == 0);
    FUZZ_REQUIRE(gg::kind_name(t.kind)[0] != '?');
    const char* up = gg::upstream_type_name(t.type_id);
    int64_t block = 0;
    size_t block_bytes = 0;
    if (gg::upstream_type_size(t.type_id, &block, &block_bytes))
      FUZZ_REQUIRE(up != nullptr && block > 0 && block_bytes > 0);
    const uint8_t* data = nullptr;
    uint64_t bytes = 0;
    const status s = r.tensor_data(t, &data, &bytes);
    if (t.size_known) {
      FUZZ_REQUIRE(s == status::ok && data == t.data && bytes == t.bytes);
      FUZZ_REQUIRE(t.offset <= r.file_size() - r.data_offset());
      FUZZ_REQUIRE(t.bytes <= r.file_size() - r.data_offset() - t.offset);
    } else {
      fuzz::require_reported(s);
      FUZZ_REQUIRE(t.data == nullptr);
    }
    // resolve_kind() with all the space there is agrees that a known size stays known.
    uint64_t rb = 0;
    bool known = false;
    gg::resolve_kind(t.type_id, r.file_dialect(), t.ne, t.n_dims, t.bytes, &rb, &known);
    if (t.size_known) FUZZ_REQUIRE(known && rb == t.bytes);
  }
}

/// Writes every key/value and every tensor of known size; false when the writer refused one.
bool write_all(const gg::reader& r, std::vector<uint8_t>* out, size_t* tensors) {
  gg::writer w;
  for (const gg::key_value& kv : r.kvs()) {
    if (!fuzz::ok_or_reported(w.add_value(kv.key, kv.val))) return false;
  }
  *tensors = 0;
  for (const gg::tensor_info& t : r.tensors()) {
    if (!t.size_known) continue;
    FUZZ_REQUIRE(w.add_tensor(t.name, t.ne, t.n_dims, t.type_id, t.data, t.bytes) == status::ok);
    ++*tensors;
  }
  FUZZ_REQUIRE(w.kv_count() == r.kvs().size() && w.tensor_count() == *tensors);
  FUZZ_REQUIRE(w.write_memory(out) == status::ok);
  return true;
}

void check_writer_round_trip(const gg::reader& r) {
  std::vector<uint8_t> bytes;
  size_t written = 0;
  FUZZ_REQUIRE(write_all(r, &bytes, &written));
  gg::reader back;
  FUZZ_REQUIRE(gg::reader::open_memory(bytes.data(), bytes.size(), &back) == status::ok);
  FUZZ_REQUIRE(back.version() == 3 && back.alignment() == r.alignment());
  FUZZ_REQUIRE(back.file_dialect() == r.file_dialect());
  FUZZ_REQUIRE(back.kvs().size() == r.kvs().size());
  for (size_t i = 0; i < r.kvs().size(); ++i) {
    FUZZ_REQUIRE(back.kvs()[i].key == r.kvs()[i].key);
    FUZZ_REQUIRE(same_value(back.kvs()[i].val, r.kvs()[i].val));
  }
  FUZZ_REQUIRE(back.tensors().size() == written);
  size_t j = 0;
  for (const gg::tensor_info& a : r.tensors()) {
    if (!a.size_known) continue;
    const gg::tensor_info& b = back.tensors()[j++];
    FUZZ_REQUIRE(a.name == b.name && a.type_id == b.type_id && a.n_dims == b.n_dims);
    FUZZ_REQUIRE(std::memcmp(a.ne, b.ne, sizeof a.ne) == 0);
    FUZZ_REQUIRE(b.size_known && a.kind == b.kind && a.bytes == b.bytes);
    FUZZ_REQUIRE(a.bytes == 0 || std::memcmp(a.data, b.data, a.bytes) == 0);
  }
  std::vector<uint8_t> again;
  size_t written_again = 0;
  FUZZ_REQUIRE(write_all(back, &again, &written_again));
  FUZZ_REQUIRE(written_again == written && again == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gg::reader r;
  const status s = gg::reader::open_memory(data, size, &r);
  if (!fuzz::ok_or_reported(s)) {
    FUZZ_REQUIRE(!r.is_open());
    return 0;
  }
  FUZZ_REQUIRE(r.is_open() && !r.is_mapped() && r.file_size() == size);
  FUZZ_REQUIRE(r.version() == 2 || r.version() == 3);
  FUZZ_REQUIRE(r.alignment() != 0 && (r.alignment() & (r.alignment() - 1)) == 0);
  FUZZ_REQUIRE(r.data_offset() % r.alignment() == 0);
  FUZZ_REQUIRE(gg::dialect_name(r.file_dialect())[0] != '?');
  for (const gg::key_value& kv : r.kvs()) {
    FUZZ_REQUIRE(!kv.key.empty() && r.find(kv.key) == &kv.val);
    FUZZ_REQUIRE(gg::value_type_name(kv.val.type)[0] != '?');
    const std::string_view* str = r.find_string(kv.key);
    FUZZ_REQUIRE((str != nullptr) == (kv.val.type == gg::value_type::string));
    check_value(kv.val, 1);
  }
  check_tensors(r);
  check_writer_round_trip(r);
  return 0;
}
