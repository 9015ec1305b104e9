// SPDX-License-Identifier: Apache-2.0
// safetensors reader and writer (docs/IO_FILES.md, "safetensors").
#include "ternary/io/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <set>
#include <stdexcept>

#include "detail/error.hpp"
#include "io/common.hpp"
#include "io/json.hpp"
#include <nlohmann/json.hpp>

#include "ternary/half.hpp"

namespace ternary {
namespace io {
namespace safetensors {

using ternary::detail::fail;
using ternary::detail::with_context;
using namespace ternary::io::detail;

namespace {

struct dtype_entry {
  dtype t;
  const char* name;
  size_t size;
};
constexpr dtype_entry dtype_table[] = {
    {dtype::f64, "F64", 8},      {dtype::f32, "F32", 4},         {dtype::f16, "F16", 2},
    {dtype::bf16, "BF16", 2},    {dtype::i64, "I64", 8},         {dtype::i32, "I32", 4},
    {dtype::i16, "I16", 2},      {dtype::i8, "I8", 1},           {dtype::u64, "U64", 8},
    {dtype::u32, "U32", 4},      {dtype::u16, "U16", 2},         {dtype::u8, "U8", 1},
    {dtype::boolean, "BOOL", 1}, {dtype::f8_e4m3, "F8_E4M3", 1}, {dtype::f8_e5m2, "F8_E5M2", 1},
};

const dtype_entry* entry_of(dtype t) noexcept {
  for (const auto& e : dtype_table)
    if (e.t == t) return &e;
  return nullptr;
}

constexpr const char* metadata_key = "__metadata__";
// The header is small and flat: root object, tensor entries, their shape/offset arrays.
constexpr int max_json_depth = 4;

}  // namespace

const char* dtype_name(dtype t) noexcept {
  const dtype_entry* e = entry_of(t);
  return e ? e->name : "?";
}

size_t dtype_size(dtype t) noexcept {
  const dtype_entry* e = entry_of(t);
  return e ? e->size : 0;
}

bool parse_dtype(std::string_view name, dtype* out) noexcept {
  for (const auto& e : dtype_table) {
    if (name == e.name) {
      if (out) *out = e.t;
      return true;
    }
  }
  return false;
}

// ---- reader -------------------------------------------------------------------------------------

struct reader::impl {
  file_buffer buf;
  std::string source;
  uint64_t header_len = 0;
  std::vector<tensor_info> tensors;
  std::vector<uint32_t> by_name;  // indices of tensors sorted by name
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<uint32_t> meta_by_key;
};

reader::reader() noexcept = default;
reader::~reader() = default;
reader::reader(reader&& other) noexcept = default;
reader& reader::operator=(reader&& other) noexcept = default;

namespace {

const std::vector<tensor_info> no_tensors;
const std::vector<std::pair<std::string, std::string>> no_metadata;
const std::string no_source;

// Reads a JSON integer that must be a non-negative value of at most `max`.
bool get_count(const json_node& n, uint64_t max, uint64_t* out) {
  if (n.k != json_node::kind::unsigned_integer || n.u > max) return false;
  *out = n.u;
  return true;
}

status parse_tensor(const std::string& name, const json_node& e, uint64_t buffer_size,
                    tensor_info* t) {
  const char* nm = name.c_str();
  if (e.k != json_node::kind::object)
    return fail(status::corrupt_data, "tensor '%s': entry is %s, expected an object", nm,
                json_kind_name(e.k));
  const json_node* jd = nullptr;
  const json_node* js = nullptr;
  const json_node* jo = nullptr;
  for (const auto& m : e.members) {
    if (m.first == "dtype") {
      jd = &m.second;
    } else if (m.first == "shape") {
      js = &m.second;
    } else if (m.first == "data_offsets") {
      jo = &m.second;
    } else {
      return fail(status::corrupt_data,
                  "tensor '%s': unexpected field '%s' (only dtype, shape, data_offsets)", nm,
                  m.first.c_str());
    }
  }
  if (!jd || !js || !jo)
    return fail(status::corrupt_data, "tensor '%s': missing field '%s'", nm,
                !jd   ? "dtype"
                : !js ? "shape"
                      : "data_offsets");
  if (jd->k != json_node::kind::string)
    return fail(status::corrupt_data, "tensor '%s': dtype is %s, expected a string", nm,
                json_kind_name(jd->k));
  if (!parse_dtype(jd->s, &t->type))
    return fail(status::corrupt_data, "tensor '%s': unknown dtype '%s'", nm, jd->s.c_str());
  if (js->k != json_node::kind::array)
    return fail(status::corrupt_data, "tensor '%s': shape is %s, expected an array", nm,
                json_kind_name(js->k));
  if (js->items.size() > static_cast<size_t>(max_rank))
    return fail(status::corrupt_data, "tensor '%s': shape has rank %zu, at most %d supported", nm,
                js->items.size(), max_rank);
  uint64_t numel = 1;
  t->shape.clear();
  for (size_t i = 0; i < js->items.size(); ++i) {
    uint64_t d = 0;
    if (!get_count(js->items[i], static_cast<uint64_t>(INT64_MAX), &d))
      return fail(status::corrupt_data,
                  "tensor '%s': shape[%zu] is not an integer in [0, 2^63) (found %s)", nm, i,
                  json_kind_name(js->items[i].k));
    if (mul_overflows(numel, d, &numel) || numel > static_cast<uint64_t>(INT64_MAX))
      return fail(status::corrupt_data, "tensor '%s': element count of the shape overflows", nm);
    t->shape.push_back(static_cast<int64_t>(d));
  }
  t->numel = static_cast<int64_t>(numel);
  if (jo->k != json_node::kind::array || jo->items.size() != 2)
    return fail(status::corrupt_data, "tensor '%s': data_offsets must be an array [begin, end]",
                nm);
  uint64_t begin = 0, end = 0;
  if (!get_count(jo->items[0], UINT64_MAX, &begin) || !get_count(jo->items[1], UINT64_MAX, &end))
    return fail(status::corrupt_data, "tensor '%s': data_offsets must be non-negative integers",
                nm);
  if (begin > end)
    return fail(status::corrupt_data, "tensor '%s': data_offsets [%llu, %llu] has begin > end", nm,
                static_cast<unsigned long long>(begin), static_cast<unsigned long long>(end));
  if (end > buffer_size)
    return fail(status::corrupt_data,
                "tensor '%s': data_offsets end %llu is past the data buffer (%llu bytes)", nm,
                static_cast<unsigned long long>(end), static_cast<unsigned long long>(buffer_size));
  uint64_t expected = 0;
  if (mul_overflows(numel, dtype_size(t->type), &expected) || expected != end - begin)
    return fail(status::corrupt_data,
                "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s shape needs "
                "%llu elements x %zu bytes",
                nm, static_cast<unsigned long long>(begin), static_cast<unsigned long long>(end),
                static_cast<unsigned long long>(end - begin), dtype_name(t->type),
                static_cast<unsigned long long>(numel), dtype_size(t->type));
  t->begin = begin;
  t->end = end;
  return status::ok;
}

status parse_file(reader::impl& r) {
  const uint8_t* p = r.buf.data();
  const uint64_t size = r.buf.size();
  if (size < 8)
    return fail(status::corrupt_data, "file is %llu bytes, too short for the 8-byte header length",
                static_cast<unsigned long long>(size));
  const uint64_t n = get_le64(p);
  if (n > max_header_bytes)
    return fail(status::corrupt_data, "header length %llu (at offset 0) exceeds the 100 MiB limit",
                static_cast<unsigned long long>(n));
  if (n > size - 8)
    return fail(status::corrupt_data,
                "header length %llu (at offset 0) runs past the end of the file (%llu bytes)",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(size));
  if (n < 2 || p[8] != '{')
    return fail(status::corrupt_data, "header (offset 8) does not start with '{'");
  r.header_len = n;
  const uint64_t buffer_size = size - 8 - n;
  const uint8_t* buffer = p + 8 + n;

  json_node root;
  std::string err;
  if (!parse_json(reinterpret_cast<const char*>(p + 8), static_cast<size_t>(n), max_json_depth,
                  &root, &err))
    return fail(status::corrupt_data, "header: %s", err.c_str());
  if (root.k != json_node::kind::object)
    return fail(status::corrupt_data, "header is %s, expected an object", json_kind_name(root.k));

  r.tensors.reserve(root.members.size());
  for (const auto& m : root.members) {
    if (m.first == metadata_key) {
      if (m.second.k != json_node::kind::object)
        return fail(status::corrupt_data, "__metadata__ is %s, expected an object of strings",
                    json_kind_name(m.second.k));
      for (const auto& kv : m.second.members) {
        if (kv.second.k != json_node::kind::string)
          return fail(status::corrupt_data, "__metadata__ entry '%s' is %s, expected a string",
                      kv.first.c_str(), json_kind_name(kv.second.k));
        r.metadata.emplace_back(kv.first, kv.second.s);
      }
      continue;
    }
    tensor_info t;
    t.name = m.first;
    const status s = parse_tensor(t.name, m.second, buffer_size, &t);
    if (s != status::ok) return s;
    r.tensors.push_back(std::move(t));
  }
  if (r.tensors.size() > UINT32_MAX) return fail(status::corrupt_data, "too many tensors");

  // File order: by offsets (a stable sort keeps header order among equal ranges). The ranges
  // must tile the buffer: no overlap, no hole, nothing after the last tensor.
  std::stable_sort(r.tensors.begin(), r.tensors.end(),
                   [](const tensor_info& a, const tensor_info& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  uint64_t pos = 0;
  const tensor_info* prev = nullptr;
  for (auto& t : r.tensors) {
    if (t.begin < pos)
      return fail(status::corrupt_data,
                  "tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
                  t.name.c_str(), static_cast<unsigned long long>(t.begin),
                  static_cast<unsigned long long>(t.end), prev->name.c_str(),
                  static_cast<unsigned long long>(prev->begin),
                  static_cast<unsigned long long>(prev->end));
    if (t.begin > pos)
      return fail(status::corrupt_data,
                  "tensor '%s': data_offsets begin %llu leaves a hole of %llu unused bytes at "
                  "buffer offset %llu",
                  t.name.c_str(), static_cast<unsigned long long>(t.begin),
                  static_cast<unsigned long long>(t.begin - pos),
                  static_cast<unsigned long long>(pos));
    pos = t.end;
    prev = &t;
    t.data = t.end > t.begin ? buffer + t.begin : nullptr;
  }
  if (pos != buffer_size)
    return fail(status::corrupt_data,
                "the data buffer has %llu bytes after the last tensor (offset %llu of %llu)",
                static_cast<unsigned long long>(buffer_size - pos),
                static_cast<unsigned long long>(pos), static_cast<unsigned long long>(buffer_size));

  r.by_name.resize(r.tensors.size());
  for (size_t i = 0; i < r.by_name.size(); ++i) r.by_name[i] = static_cast<uint32_t>(i);
  std::sort(r.by_name.begin(), r.by_name.end(),
            [&r](uint32_t a, uint32_t b) { return r.tensors[a].name < r.tensors[b].name; });
  r.meta_by_key.resize(r.metadata.size());
  for (size_t i = 0; i < r.meta_by_key.size(); ++i) r.meta_by_key[i] = static_cast<uint32_t>(i);
  std::sort(r.meta_by_key.begin(), r.meta_by_key.end(),
            [&r](uint32_t a, uint32_t b) { return r.metadata[a].first < r.metadata[b].first; });
  return status::ok;
}

status finish_open(std::unique_ptr<reader::impl>& p, std::unique_ptr<reader::impl>* out) {
  status s = status::ok;
  try {
    s = parse_file(*p);
  } catch (const std::bad_alloc&) {
    s = fail(status::out_of_memory, "out of memory while parsing the header");
  } catch (const std::length_error&) {
    s = fail(status::out_of_memory, "out of memory while parsing the header");
  }
  if (s != status::ok) return with_context(s, p->source.c_str());
  // Moving the impl pointer keeps every pointer into the buffer valid.
  *out = std::move(p);
  return status::ok;
}

}  // namespace

status reader::open(const char* path, reader* out) noexcept {
  if (!out) return fail(status::null_pointer, "safetensors open: out is null");
  if (!path) return fail(status::null_pointer, "safetensors open: path is null");
  std::unique_ptr<impl> p;
  try {
    p.reset(new impl);
    p->source = path;
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "safetensors open: out of memory");
  }
  status s = p->buf.open(path);
  if (s != status::ok) return with_context(s, path);
  return finish_open(p, &out->p_);
}

status reader::open_memory(const void* data, size_t size, reader* out) noexcept {
  if (!out) return fail(status::null_pointer, "safetensors open_memory: out is null");
  std::unique_ptr<impl> p;
  try {
    p.reset(new impl);
    p->source = "<memory>";
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "safetensors open_memory: out of memory");
  }
  status s = p->buf.copy(data, size);
  if (s != status::ok) return with_context(s, "<memory>");
  return finish_open(p, &out->p_);
}

const std::vector<tensor_info>& reader::tensors() const noexcept {
  return p_ ? p_->tensors : no_tensors;
}

const tensor_info* reader::find(std::string_view name) const noexcept {
  if (!p_) return nullptr;
  const auto& t = p_->tensors;
  auto it = std::lower_bound(p_->by_name.begin(), p_->by_name.end(), name,
                             [&t](uint32_t i, std::string_view n) { return t[i].name < n; });
  if (it == p_->by_name.end() || t[*it].name != name) return nullptr;
  return &t[*it];
}

const std::vector<std::pair<std::string, std::string>>& reader::metadata() const noexcept {
  return p_ ? p_->metadata : no_metadata;
}

const std::string* reader::find_metadata(std::string_view key) const noexcept {
  if (!p_) return nullptr;
  const auto& m = p_->metadata;
  auto it = std::lower_bound(p_->meta_by_key.begin(), p_->meta_by_key.end(), key,
                             [&m](uint32_t i, std::string_view k) { return m[i].first < k; });
  if (it == p_->meta_by_key.end() || m[*it].first != key) return nullptr;
  return &m[*it].second;
}

const std::string& reader::source() const noexcept { return p_ ? p_->source : no_source; }
uint64_t reader::file_size() const noexcept { return p_ ? p_->buf.size() : 0; }
uint64_t reader::header_size() const noexcept { return p_ ? p_->header_len : 0; }
uint64_t reader::data_offset() const noexcept { return p_ ? 8 + p_->header_len : 0; }
bool reader::is_mapped() const noexcept { return p_ && p_->buf.mapped(); }

// ---- to_f32 -------------------------------------------------------------------------------------

namespace {

float f8_e4m3_to_float(uint8_t b) noexcept {
  const bool neg = (b & 0x80u) != 0;
  const int e = (b >> 3) & 0xf;
  const int m = b & 0x7;
  float v;
  if (e == 0xf && m == 0x7) {
    v = std::nanf("");
  } else if (e == 0) {
    v = std::ldexp(static_cast<float>(m), -9);  // m/8 * 2^-6
  } else {
    v = std::ldexp(static_cast<float>(8 + m), e - 10);  // (1 + m/8) * 2^(e-7)
  }
  return neg ? -v : v;
}

}  // namespace

status to_f32(const tensor_info& t, float* out, size_t capacity) noexcept {
  const char* nm = t.name.c_str();
  if (!out && t.numel > 0) return fail(status::null_pointer, "to_f32 '%s': out is null", nm);
  if (t.numel < 0 || static_cast<uint64_t>(t.numel) > capacity)
    return fail(status::buffer_too_small, "to_f32 '%s': %lld elements, the output holds %zu", nm,
                static_cast<long long>(t.numel), capacity);
  const size_t es = dtype_size(t.type);
  if (es == 0) return fail(status::invalid_argument, "to_f32 '%s': invalid dtype", nm);
  uint64_t need = 0;
  if (mul_overflows(static_cast<uint64_t>(t.numel), es, &need) || need != t.end - t.begin ||
      (need > 0 && !t.data))
    return fail(status::invalid_argument, "to_f32 '%s': data does not match its shape", nm);
  const size_t n = static_cast<size_t>(t.numel);
  const uint8_t* p = t.data;
  switch (t.type) {
    case dtype::f32:
      for (size_t i = 0; i < n; ++i) {
        const uint32_t b = get_le32(p + 4 * i);
        std::memcpy(out + i, &b, 4);
      }
      break;
    case dtype::f64:
      for (size_t i = 0; i < n; ++i) {
        const uint64_t b = get_le64(p + 8 * i);
        double d;
        std::memcpy(&d, &b, 8);
        out[i] = double_to_float(d);
      }
      break;
    case dtype::f16:
      for (size_t i = 0; i < n; ++i) out[i] = half_to_float(get_le16(p + 2 * i));
      break;
    case dtype::bf16:
      for (size_t i = 0; i < n; ++i) {
        const uint32_t b = uint32_t{get_le16(p + 2 * i)} << 16;
        std::memcpy(out + i, &b, 4);
      }
      break;
    case dtype::f8_e5m2:
      for (size_t i = 0; i < n; ++i) out[i] = half_to_float(static_cast<uint16_t>(p[i] << 8));
      break;
    case dtype::f8_e4m3:
      for (size_t i = 0; i < n; ++i) out[i] = f8_e4m3_to_float(p[i]);
      break;
    case dtype::i8:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<int8_t>(p[i]));
      break;
    case dtype::u8:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
      break;
    case dtype::i16:
      for (size_t i = 0; i < n; ++i)
        out[i] = static_cast<float>(static_cast<int16_t>(get_le16(p + 2 * i)));
      break;
    case dtype::u16:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(get_le16(p + 2 * i));
      break;
    case dtype::i32:
      for (size_t i = 0; i < n; ++i)
        out[i] = static_cast<float>(static_cast<int32_t>(get_le32(p + 4 * i)));
      break;
    case dtype::u32:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(get_le32(p + 4 * i));
      break;
    case dtype::i64:
      for (size_t i = 0; i < n; ++i)
        out[i] = static_cast<float>(static_cast<int64_t>(get_le64(p + 8 * i)));
      break;
    case dtype::u64:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(get_le64(p + 8 * i));
      break;
    case dtype::boolean:
      return fail(status::unsupported, "to_f32 '%s': BOOL tensors are not numeric", nm);
  }
  return status::ok;
}

// ---- writer -------------------------------------------------------------------------------------

struct writer::impl {
  struct entry {
    std::string name;
    dtype type;
    std::vector<int64_t> shape;
    std::vector<data_piece> pieces;
    uint64_t bytes;
  };
  std::vector<entry> entries;
  std::set<std::string, std::less<>> names;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::set<std::string, std::less<>> meta_keys;
};

writer::writer() noexcept = default;
writer::~writer() = default;
writer::writer(writer&& other) noexcept = default;
writer& writer::operator=(writer&& other) noexcept = default;

namespace {

status ensure_impl(std::unique_ptr<writer::impl>& p) {
  if (p) return status::ok;
  try {
    p.reset(new writer::impl);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "safetensors writer: out of memory");
  }
  return status::ok;
}

// Builds the padded JSON header (without the 8-byte length).
status build_header(const writer::impl& w, std::string* out) {
  try {
    nlohmann::ordered_json root = nlohmann::ordered_json::object();
    if (!w.metadata.empty()) {
      nlohmann::ordered_json meta = nlohmann::ordered_json::object();
      for (const auto& kv : w.metadata) meta[kv.first] = kv.second;
      root[metadata_key] = std::move(meta);
    }
    uint64_t offset = 0;
    for (const auto& e : w.entries) {
      nlohmann::ordered_json t = nlohmann::ordered_json::object();
      t["dtype"] = dtype_name(e.type);
      t["shape"] = e.shape;
      t["data_offsets"] = {offset, offset + e.bytes};
      root[e.name] = std::move(t);
      offset += e.bytes;
    }
    *out = root.dump();
    while ((out->size() + 8) % 8 != 0) out->push_back(' ');
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "safetensors writer: out of memory building the header");
  } catch (const std::exception& e) {
    return fail(status::internal_error, "safetensors writer: %s", e.what());
  }
  if (out->size() > max_header_bytes)
    return fail(status::invalid_argument,
                "safetensors writer: the header would be %zu bytes, above the 100 MiB limit",
                out->size());
  return status::ok;
}

status emit(const writer::impl* w, sink& s) {
  static const writer::impl empty;
  if (!w) w = &empty;
  std::string header;
  status st = build_header(*w, &header);
  if (st != status::ok) return st;
  uint8_t len[8];
  put_le(len, header.size(), 8);
  st = s.put(len, 8);
  if (st == status::ok) st = s.put(header.data(), header.size());
  for (const auto& e : w->entries) {
    for (const auto& piece : e.pieces) {
      if (st != status::ok) return st;
      st = s.put(piece.data, piece.bytes);
    }
  }
  return st;
}

}  // namespace

status writer::add_metadata(std::string_view key, std::string_view value) noexcept {
  status s = ensure_impl(p_);
  if (s != status::ok) return s;
  if (!valid_utf8(key.data(), key.size()) || !valid_utf8(value.data(), value.size()))
    return fail(status::invalid_argument, "safetensors writer: metadata '%.*s' is not valid UTF-8",
                static_cast<int>(std::min<size_t>(key.size(), 200)), key.data());
  try {
    if (p_->meta_keys.find(key) != p_->meta_keys.end())
      return fail(status::invalid_argument, "safetensors writer: duplicate metadata key '%.*s'",
                  static_cast<int>(std::min<size_t>(key.size(), 200)), key.data());
    p_->metadata.emplace_back(std::string(key), std::string(value));
    p_->meta_keys.emplace(key);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "safetensors writer: out of memory");
  }
  return status::ok;
}

status writer::add_tensor(std::string_view name, dtype type, const int64_t* shape, int rank,
                          const void* data, size_t bytes) noexcept {
  if (rank < 0 || rank > max_rank)
    return fail(status::invalid_argument,
                "safetensors writer: tensor '%.*s': rank %d not in [0, %d]",
                static_cast<int>(std::min<size_t>(name.size(), 200)), name.data(), rank, max_rank);
  if (rank > 0 && !shape)
    return fail(status::null_pointer, "safetensors writer: tensor '%.*s': shape is null",
                static_cast<int>(std::min<size_t>(name.size(), 200)), name.data());
  try {
    const std::vector<int64_t> v(shape, shape + rank);
    const data_piece piece{data, bytes};
    return add_tensor_pieces(name, type, v, &piece, 1);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "safetensors writer: out of memory");
  }
}

status writer::add_tensor(std::string_view name, dtype type, const std::vector<int64_t>& shape,
                          const void* data, size_t bytes) noexcept {
  const data_piece piece{data, bytes};
  return add_tensor_pieces(name, type, shape, &piece, 1);
}

status writer::add_tensor_pieces(std::string_view name, dtype type,
                                 const std::vector<int64_t>& shape, const data_piece* pieces,
                                 size_t count) noexcept {
  status s = ensure_impl(p_);
  if (s != status::ok) return s;
  const int nl = static_cast<int>(std::min<size_t>(name.size(), 200));
  const char* nd = name.data();
  if (name.empty()) return fail(status::invalid_argument, "safetensors writer: empty tensor name");
  if (name == metadata_key)
    return fail(status::invalid_argument, "safetensors writer: '__metadata__' is reserved");
  if (!valid_utf8(name.data(), name.size()))
    return fail(status::invalid_argument, "safetensors writer: tensor name is not valid UTF-8");
  if (shape.size() > static_cast<size_t>(max_rank))
    return fail(status::invalid_argument, "safetensors writer: tensor '%.*s': rank %zu above %d",
                nl, nd, shape.size(), max_rank);
  const size_t es = dtype_size(type);
  if (es == 0)
    return fail(status::invalid_argument, "safetensors writer: tensor '%.*s': invalid dtype", nl,
                nd);
  uint64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0)
      return fail(status::invalid_argument,
                  "safetensors writer: tensor '%.*s': shape[%zu] = %lld is negative", nl, nd, i,
                  static_cast<long long>(shape[i]));
    if (mul_overflows(numel, static_cast<uint64_t>(shape[i]), &numel) ||
        numel > static_cast<uint64_t>(INT64_MAX))
      return fail(status::size_overflow, "safetensors writer: tensor '%.*s': shape overflows", nl,
                  nd);
  }
  uint64_t expected = 0;
  if (mul_overflows(numel, es, &expected))
    return fail(status::size_overflow, "safetensors writer: tensor '%.*s': byte size overflows", nl,
                nd);
  if (count > 0 && !pieces)
    return fail(status::null_pointer, "safetensors writer: tensor '%.*s': pieces is null", nl, nd);
  uint64_t total = 0;
  for (size_t i = 0; i < count; ++i) {
    if (!pieces[i].data && pieces[i].bytes != 0)
      return fail(status::null_pointer, "safetensors writer: tensor '%.*s': data is null", nl, nd);
    if (add_overflows(total, pieces[i].bytes, &total))
      return fail(status::size_overflow, "safetensors writer: tensor '%.*s': size overflows", nl,
                  nd);
  }
  if (total != expected)
    return fail(status::buffer_too_small,
                "safetensors writer: tensor '%.*s': %llu bytes given, %s shape needs %llu", nl, nd,
                static_cast<unsigned long long>(total), dtype_name(type),
                static_cast<unsigned long long>(expected));
  try {
    if (p_->names.find(name) != p_->names.end())
      return fail(status::invalid_argument, "safetensors writer: duplicate tensor name '%.*s'", nl,
                  nd);
    impl::entry e{std::string(name), type, shape, {}, total};
    for (size_t i = 0; i < count; ++i)
      if (pieces[i].bytes) e.pieces.push_back(pieces[i]);
    p_->entries.push_back(std::move(e));
    p_->names.emplace(name);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "safetensors writer: out of memory");
  }
  return status::ok;
}

size_t writer::tensor_count() const noexcept { return p_ ? p_->entries.size() : 0; }
bool writer::has_tensor(std::string_view name) const noexcept {
  return p_ && p_->names.find(name) != p_->names.end();
}
bool writer::has_metadata(std::string_view key) const noexcept {
  return p_ && p_->meta_keys.find(key) != p_->meta_keys.end();
}

status writer::file_size(uint64_t* bytes) const noexcept {
  if (!bytes) return fail(status::null_pointer, "safetensors writer: bytes is null");
  static const impl empty;
  const impl& w = p_ ? *p_ : empty;
  std::string header;
  const status s = build_header(w, &header);
  if (s != status::ok) return s;
  uint64_t total = 8 + header.size();
  for (const auto& e : w.entries) total += e.bytes;
  *bytes = total;
  return status::ok;
}

status writer::write(const char* path) const noexcept {
  if (!path) return fail(status::null_pointer, "safetensors write: path is null");
  atomic_file_sink f;
  status s = f.open(path);
  if (s == status::ok) s = emit(p_.get(), f);
  if (s == status::ok) s = f.commit();
  return s == status::ok ? s : with_context(s, "safetensors write");
}

status writer::write_memory(std::vector<uint8_t>* out) const noexcept {
  if (!out) return fail(status::null_pointer, "safetensors write_memory: out is null");
  out->clear();
  memory_sink m(out);
  return emit(p_.get(), m);
}

}  // namespace safetensors
}  // namespace io
}  // namespace ternary
