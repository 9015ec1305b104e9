// SPDX-License-Identifier: Apache-2.0
// GGUF reader and writer (docs/IO_FILES.md, "GGUF").
#include "ternary/io/gguf.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <set>
#include <stdexcept>
#include <string>

#include "detail/error.hpp"
#include "io/common.hpp"

namespace ternary {
namespace io {
namespace gguf {

using ternary::detail::fail;
using ternary::detail::with_context;
using namespace ternary::io::detail;

namespace {

constexpr uint8_t magic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t write_version = 3;
// Smallest encodings, used to reject counts that cannot fit in the bytes left.
constexpr uint64_t min_kv_bytes = 8 + 4 + 1;                   // empty key, type, 1-byte value
constexpr uint64_t min_tensor_info_bytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset
constexpr uint64_t min_array_bytes = 4 + 8;                    // element type + count
// Total number of elements of nested arrays in one file (each costs a `value` in memory).
constexpr uint64_t max_nested_elements = uint64_t{1} << 20;

struct type_entry {
  uint32_t id;
  const char* name;
  int64_t block;  // 0: size not known to this build
  size_t bytes;
  tensor_kind kind;
};

// Upstream ggml type ids (ggml.h). Retired ids (4, 5, 31-33, 36-38) are absent.
constexpr type_entry type_table[] = {
    {0, "F32", 1, 4, tensor_kind::f32},
    {1, "F16", 1, 2, tensor_kind::f16},
    {2, "Q4_0", 32, 18, tensor_kind::other},
    {3, "Q4_1", 32, 20, tensor_kind::other},
    {6, "Q5_0", 32, 22, tensor_kind::other},
    {7, "Q5_1", 32, 24, tensor_kind::other},
    {8, "Q8_0", 32, 34, tensor_kind::other},
    {9, "Q8_1", 32, 36, tensor_kind::other},
    {10, "Q2_K", 256, 84, tensor_kind::other},
    {11, "Q3_K", 256, 110, tensor_kind::other},
    {12, "Q4_K", 256, 144, tensor_kind::other},
    {13, "Q5_K", 256, 176, tensor_kind::other},
    {14, "Q6_K", 256, 210, tensor_kind::other},
    {15, "Q8_K", 256, 292, tensor_kind::other},
    {16, "IQ2_XXS", 256, 66, tensor_kind::other},
    {17, "IQ2_XS", 256, 74, tensor_kind::other},
    {18, "IQ3_XXS", 256, 98, tensor_kind::other},
    {19, "IQ1_S", 256, 50, tensor_kind::other},
    {20, "IQ4_NL", 32, 18, tensor_kind::other},
    {21, "IQ3_S", 256, 110, tensor_kind::other},
    {22, "IQ2_S", 256, 82, tensor_kind::other},
    {23, "IQ4_XS", 256, 136, tensor_kind::other},
    {24, "I8", 1, 1, tensor_kind::i8},
    {25, "I16", 1, 2, tensor_kind::i16},
    {26, "I32", 1, 4, tensor_kind::i32},
    {27, "I64", 1, 8, tensor_kind::i64},
    {28, "F64", 1, 8, tensor_kind::f64},
    {29, "IQ1_M", 256, 56, tensor_kind::other},
    {30, "BF16", 1, 2, tensor_kind::bf16},
    {34, "TQ1_0", 256, 54, tensor_kind::tq1_0},
    {35, "TQ2_0", 256, 66, tensor_kind::tq2_0},
    {39, "MXFP4", 32, 17, tensor_kind::mxfp4},
    {40, "NVFP4", 0, 0, tensor_kind::unknown},
    {41, "Q1_0", 128, 18, tensor_kind::other},
    {42, "Q2_0", 64, 18, tensor_kind::q2_0},
};

const type_entry* find_type(uint32_t id) noexcept {
  for (const auto& e : type_table)
    if (e.id == id) return &e;
  return nullptr;
}

constexpr uint32_t id_i2_s = 36, id_i8_s = 37, id_tl1 = 38, id_tl2_old = 39, id_tl2_new = 42;

struct resolution {
  tensor_kind kind = tensor_kind::unknown;
  bool size_known = false;
  uint64_t bytes = 0;
  const type_entry* table = nullptr;  // the upstream entry used, if any
  bool block_mismatch = false;        // ne[0] is not a multiple of the table's block size
};

// Size of an upstream table type for these dimensions.
void table_size(const type_entry* e, const int64_t* ne, int n_dims, resolution* r) {
  r->table = e;
  r->kind = e->kind;
  if (e->block == 0) return;
  if (ne[0] % e->block != 0) {
    r->block_mismatch = true;
    return;
  }
  uint64_t bytes = static_cast<uint64_t>(ne[0] / e->block);
  if (mul_overflows(bytes, e->bytes, &bytes)) return;
  for (int d = 1; d < n_dims; ++d)
    if (mul_overflows(bytes, static_cast<uint64_t>(ne[d]), &bytes)) return;
  r->bytes = bytes;
  r->size_known = true;
}

uint64_t element_count(const int64_t* ne, int n_dims, bool* overflow) {
  uint64_t n = 1;
  *overflow = false;
  for (int d = 0; d < n_dims; ++d) {
    if (ne[d] < 0 || mul_overflows(n, static_cast<uint64_t>(ne[d]), &n) ||
        n > static_cast<uint64_t>(INT64_MAX)) {
      *overflow = true;
      return 0;
    }
  }
  return n;
}

resolution resolve(uint32_t id, dialect dia, const int64_t* ne, int n_dims, uint64_t available) {
  resolution r;
  const type_entry* e = find_type(id);
  if (dia != dialect::upstream) {
    bool overflow = false;
    const uint64_t n = element_count(ne, n_dims, &overflow);
    if (id == id_i2_s && !overflow) {
      // n/4 bytes of 2-bit codes, then a 32-byte tail holding the fp32 scale.
      const uint64_t bytes = n / 4 + 32;
      if (dia == dialect::bitnet_fork || bytes <= available) {
        r.kind = tensor_kind::i2_s;
        r.bytes = bytes;
        r.size_known = true;
      }
      return r;
    }
    if (id == id_i8_s) {
      r.kind = tensor_kind::i8_s;
      return r;
    }
    if (id == id_tl1) {
      r.kind = tensor_kind::tl1;
      return r;
    }
    if (id == id_tl2_old || id == id_tl2_new) {
      // The fork-only architectures use these ids for TL2. Under "bitnet", shared with
      // upstream, the upstream type wins when its size fits the space the tensor has: TL2
      // (about 1.67 bits per weight) is far smaller than MXFP4 (4.25) or Q2_0 (2.25).
      if (dia == dialect::bitnet && e) {
        resolution u;
        table_size(e, ne, n_dims, &u);
        if (u.size_known && u.bytes <= available) return u;
      }
      r.kind = tensor_kind::tl2;
      return r;
    }
  }
  if (e) table_size(e, ne, n_dims, &r);
  return r;
}

std::string lower_dashes(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '_') c = '-';
  }
  return out;
}

}  // namespace

// ---- names and tables ---------------------------------------------------------------------------

const char* value_type_name(value_type t) noexcept {
  switch (t) {
    case value_type::uint8: return "UINT8";
    case value_type::int8: return "INT8";
    case value_type::uint16: return "UINT16";
    case value_type::int16: return "INT16";
    case value_type::uint32: return "UINT32";
    case value_type::int32: return "INT32";
    case value_type::float32: return "FLOAT32";
    case value_type::boolean: return "BOOL";
    case value_type::string: return "STRING";
    case value_type::array: return "ARRAY";
    case value_type::uint64: return "UINT64";
    case value_type::int64: return "INT64";
    case value_type::float64: return "FLOAT64";
  }
  return "?";
}

size_t value_type_size(value_type t) noexcept {
  switch (t) {
    case value_type::uint8:
    case value_type::int8:
    case value_type::boolean: return 1;
    case value_type::uint16:
    case value_type::int16: return 2;
    case value_type::uint32:
    case value_type::int32:
    case value_type::float32: return 4;
    case value_type::uint64:
    case value_type::int64:
    case value_type::float64: return 8;
    case value_type::string:
    case value_type::array: return 0;
  }
  return 0;
}

namespace {
bool valid_value_type(uint32_t t) noexcept { return t <= 12; }
}  // namespace

const char* kind_name(tensor_kind k) noexcept {
  switch (k) {
    case tensor_kind::f32: return "f32";
    case tensor_kind::f16: return "f16";
    case tensor_kind::bf16: return "bf16";
    case tensor_kind::f64: return "f64";
    case tensor_kind::i8: return "i8";
    case tensor_kind::i16: return "i16";
    case tensor_kind::i32: return "i32";
    case tensor_kind::i64: return "i64";
    case tensor_kind::tq1_0: return "tq1_0";
    case tensor_kind::tq2_0: return "tq2_0";
    case tensor_kind::q2_0: return "q2_0";
    case tensor_kind::mxfp4: return "mxfp4";
    case tensor_kind::i2_s: return "i2_s";
    case tensor_kind::i8_s: return "i8_s";
    case tensor_kind::tl1: return "tl1";
    case tensor_kind::tl2: return "tl2";
    case tensor_kind::other: return "other";
    case tensor_kind::unknown: return "unknown";
  }
  return "?";
}

const char* dialect_name(dialect d) noexcept {
  switch (d) {
    case dialect::upstream: return "upstream";
    case dialect::bitnet: return "bitnet";
    case dialect::bitnet_fork: return "bitnet_fork";
  }
  return "?";
}

dialect dialect_of_architecture(std::string_view arch) noexcept {
  try {
    const std::string a = lower_dashes(arch);
    if (a == "bitnet") return dialect::bitnet;
    if (a == "bitnet-25" || a == "bitnet-b1.58" || a == "bitnet-b1-58") return dialect::bitnet_fork;
  } catch (const std::bad_alloc&) {
  }
  return dialect::upstream;
}

const char* upstream_type_name(uint32_t type_id) noexcept {
  const type_entry* e = find_type(type_id);
  return e ? e->name : nullptr;
}

bool upstream_type_size(uint32_t type_id, int64_t* block, size_t* block_bytes) noexcept {
  const type_entry* e = find_type(type_id);
  if (!e || e->block == 0) return false;
  if (block) *block = e->block;
  if (block_bytes) *block_bytes = e->bytes;
  return true;
}

tensor_kind resolve_kind(uint32_t type_id, dialect d, const int64_t* ne, int n_dims,
                         uint64_t available, uint64_t* bytes, bool* size_known) noexcept {
  if (bytes) *bytes = 0;
  if (size_known) *size_known = false;
  if (!ne || n_dims < 1 || n_dims > max_dims) return tensor_kind::unknown;
  bool overflow = false;
  element_count(ne, n_dims, &overflow);
  if (overflow) return tensor_kind::unknown;
  const resolution r = resolve(type_id, d, ne, n_dims, available);
  if (r.size_known) {
    if (bytes) *bytes = r.bytes;
    if (size_known) *size_known = true;
  }
  return r.kind;
}

// ---- value accessors ----------------------------------------------------------------------------

bool value::get_u64(uint64_t* out) const noexcept {
  switch (type) {
    case value_type::uint8:
    case value_type::uint16:
    case value_type::uint32:
    case value_type::uint64: *out = u; return true;
    case value_type::int8:
    case value_type::int16:
    case value_type::int32:
    case value_type::int64:
      if (i < 0) return false;
      *out = static_cast<uint64_t>(i);
      return true;
    default: return false;
  }
}

bool value::get_i64(int64_t* out) const noexcept {
  switch (type) {
    case value_type::uint8:
    case value_type::uint16:
    case value_type::uint32:
    case value_type::uint64:
      if (u > static_cast<uint64_t>(INT64_MAX)) return false;
      *out = static_cast<int64_t>(u);
      return true;
    case value_type::int8:
    case value_type::int16:
    case value_type::int32:
    case value_type::int64: *out = i; return true;
    default: return false;
  }
}

bool value::get_f64(double* out) const noexcept {
  switch (type) {
    case value_type::uint8:
    case value_type::uint16:
    case value_type::uint32:
    case value_type::uint64:
    case value_type::boolean: *out = static_cast<double>(u); return true;
    case value_type::int8:
    case value_type::int16:
    case value_type::int32:
    case value_type::int64: *out = static_cast<double>(i); return true;
    case value_type::float32:
    case value_type::float64: *out = f; return true;
    default: return false;
  }
}

namespace {

// Decodes a fixed-size scalar of type t at p into v.
void decode_scalar(value_type t, const uint8_t* p, value* v) noexcept {
  v->type = t;
  switch (t) {
    case value_type::uint8:
    case value_type::boolean: v->u = p[0]; break;
    case value_type::int8: v->i = static_cast<int8_t>(p[0]); break;
    case value_type::uint16: v->u = get_le16(p); break;
    case value_type::int16: v->i = static_cast<int16_t>(get_le16(p)); break;
    case value_type::uint32: v->u = get_le32(p); break;
    case value_type::int32: v->i = static_cast<int32_t>(get_le32(p)); break;
    case value_type::uint64: v->u = get_le64(p); break;
    case value_type::int64: v->i = static_cast<int64_t>(get_le64(p)); break;
    case value_type::float32: {
      const uint32_t b = get_le32(p);
      float f;
      std::memcpy(&f, &b, 4);
      v->f = f;
      break;
    }
    case value_type::float64: {
      const uint64_t b = get_le64(p);
      std::memcpy(&v->f, &b, 8);
      break;
    }
    default: break;
  }
}

}  // namespace

bool value::element(uint64_t index, value* out) const noexcept {
  if (!out || type != value_type::array || index >= count) return false;
  const size_t es = value_type_size(elem_type);
  if (es == 0 || !raw) return false;
  *out = value();
  decode_scalar(elem_type, raw + index * es, out);
  return true;
}

// ---- reader -------------------------------------------------------------------------------------

struct reader::impl {
  file_buffer buf;
  std::string source;
  uint32_t version = 0;
  uint32_t alignment = default_alignment;
  dialect dia = dialect::upstream;
  uint64_t data_offset = 0;
  std::vector<key_value> kvs;
  std::vector<uint32_t> kv_by_key;
  std::vector<tensor_info> tensors;
  std::vector<uint32_t> tensor_by_name;
};

reader::reader() noexcept = default;
reader::~reader() = default;
reader::reader(reader&& other) noexcept = default;
reader& reader::operator=(reader&& other) noexcept = default;

namespace {

const std::vector<key_value> no_kvs;
const std::vector<tensor_info> no_tensors;
const std::string no_source;

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 120)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > 120) out += "...";
  return out;
}

class parser {
 public:
  explicit parser(reader::impl& r) : r_(r), p_(r.buf.data()), size_(r.buf.size()) {}

  status run() {
    status s = header();
    if (s != status::ok) return s;
    if ((s = key_values()) != status::ok) return s;
    if ((s = tensor_infos()) != status::ok) return s;
    return tensor_ranges();
  }

 private:
  uint64_t left() const { return size_ - pos_; }

  status truncated(const char* what, uint64_t need) {
    return fail(status::corrupt_data,
                "offset %llu: %s%s needs %llu bytes, only %llu remain (truncated file)",
                static_cast<unsigned long long>(pos_), ctx_.c_str(), what,
                static_cast<unsigned long long>(need), static_cast<unsigned long long>(left()));
  }
  status need(const char* what, uint64_t n) {
    return n <= left() ? status::ok : truncated(what, n);
  }

  status u32(const char* what, uint32_t* v) {
    if (left() < 4) return truncated(what, 4);
    *v = get_le32(p_ + pos_);
    pos_ += 4;
    return status::ok;
  }
  status u64(const char* what, uint64_t* v) {
    if (left() < 8) return truncated(what, 8);
    *v = get_le64(p_ + pos_);
    pos_ += 8;
    return status::ok;
  }
  status str(const char* what, std::string_view* out) {
    const uint64_t at = pos_;
    uint64_t len = 0;
    status s = u64(what, &len);
    if (s != status::ok) return s;
    if (len > left()) {
      pos_ = at;
      return fail(status::corrupt_data,
                  "offset %llu: %s%s length %llu runs past the end of the file (%llu bytes "
                  "remain)",
                  static_cast<unsigned long long>(at), ctx_.c_str(), what,
                  static_cast<unsigned long long>(len), static_cast<unsigned long long>(left()));
    }
    *out = std::string_view(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return status::ok;
  }

  status header() {
    if (size_ < 4)
      return fail(status::corrupt_data, "file is %llu bytes, too short for a GGUF header",
                  static_cast<unsigned long long>(size_));
    if (std::memcmp(p_, magic, 4) != 0)
      return fail(status::corrupt_data,
                  "not a GGUF file: magic %02x %02x %02x %02x at offset 0, expected \"GGUF\"",
                  p_[0], p_[1], p_[2], p_[3]);
    pos_ = 4;
    uint32_t version = 0;
    status s = u32("version", &version);
    if (s != status::ok) return s;
    if (version == 1)
      return fail(status::corrupt_data,
                  "offset 4: GGUF version 1 is not supported (32-bit counts; versions 2 and 3 "
                  "are read)");
    if (version != 2 && version != 3) {
      const uint32_t swapped = (version >> 24) | ((version >> 8) & 0xff00u) |
                               ((version << 8) & 0xff0000u) | (version << 24);
      if (swapped >= 1 && swapped <= 3)
        return fail(status::corrupt_data,
                    "offset 4: version field 0x%08x is a byte-swapped (big-endian) GGUF, which "
                    "is not supported",
                    version);
      return fail(status::corrupt_data,
                  "offset 4: GGUF version %u is not supported (versions 2 and 3 are read)",
                  version);
    }
    r_.version = version;
    uint64_t tc = 0, kc = 0;
    if ((s = u64("tensor_count", &tc)) != status::ok) return s;
    if ((s = u64("kv_count", &kc)) != status::ok) return s;
    // Every key/value and tensor info takes some bytes; reject counts the file cannot hold.
    uint64_t kv_min = 0, ti_min = 0, both = 0;
    if (kc > left() / min_kv_bytes || tc > left() / min_tensor_info_bytes ||
        mul_overflows(kc, min_kv_bytes, &kv_min) ||
        mul_overflows(tc, min_tensor_info_bytes, &ti_min) || add_overflows(kv_min, ti_min, &both) ||
        both > left())
      return fail(status::corrupt_data,
                  "offset 8: tensor_count %llu and kv_count %llu cannot fit in the %llu bytes "
                  "that follow the header",
                  static_cast<unsigned long long>(tc), static_cast<unsigned long long>(kc),
                  static_cast<unsigned long long>(left()));
    tensor_count_ = tc;
    kv_count_ = kc;
    return status::ok;
  }

  status read_value(value_type t, int depth, value* v) {
    v->type = t;
    if (t == value_type::string) return str("string value", &v->str);
    if (t != value_type::array) {
      const size_t es = value_type_size(t);
      if (left() < es) return truncated(value_type_name(t), es);
      decode_scalar(t, p_ + pos_, v);
      if (t == value_type::boolean && v->u > 1)
        return fail(status::corrupt_data, "offset %llu: %sBOOL value %llu is not 0 or 1",
                    static_cast<unsigned long long>(pos_), ctx_.c_str(),
                    static_cast<unsigned long long>(v->u));
      pos_ += es;
      return status::ok;
    }
    // Array: element type, count, elements.
    const uint64_t at = pos_;
    uint32_t et = 0;
    uint64_t count = 0;
    status s = u32("array element type", &et);
    if (s != status::ok) return s;
    if (!valid_value_type(et))
      return fail(status::corrupt_data, "offset %llu: %sarray element type %u is unknown",
                  static_cast<unsigned long long>(at), ctx_.c_str(), et);
    if ((s = u64("array length", &count)) != status::ok) return s;
    v->elem_type = static_cast<value_type>(et);
    v->count = count;
    const size_t es = value_type_size(v->elem_type);
    const uint64_t per = es ? es : v->elem_type == value_type::string ? 8 : min_array_bytes;
    if (count > left() / per)
      return fail(status::corrupt_data,
                  "offset %llu: %sarray of %llu %s elements needs at least %llu bytes per element, "
                  "only %llu bytes remain",
                  static_cast<unsigned long long>(at), ctx_.c_str(),
                  static_cast<unsigned long long>(count), value_type_name(v->elem_type),
                  static_cast<unsigned long long>(per), static_cast<unsigned long long>(left()));
    if (es) {
      v->raw = p_ + pos_;
      if (v->elem_type == value_type::boolean) {
        for (uint64_t k = 0; k < count; ++k)
          if (v->raw[k] > 1)
            return fail(status::corrupt_data, "offset %llu: %sBOOL element %llu is %u, not 0 or 1",
                        static_cast<unsigned long long>(pos_ + k), ctx_.c_str(),
                        static_cast<unsigned long long>(k), v->raw[k]);
      }
      pos_ += count * es;
      return status::ok;
    }
    if (v->elem_type == value_type::string) {
      v->strings.resize(static_cast<size_t>(count));
      for (uint64_t k = 0; k < count; ++k)
        if ((s = str("array string", &v->strings[static_cast<size_t>(k)])) != status::ok) return s;
      return status::ok;
    }
    // Nested arrays.
    if (depth + 1 > max_array_depth)
      return fail(status::corrupt_data, "offset %llu: %sarrays nested deeper than %d levels",
                  static_cast<unsigned long long>(at), ctx_.c_str(), max_array_depth);
    if (count > max_nested_elements - nested_)
      return fail(status::corrupt_data,
                  "offset %llu: %snested arrays hold more than %llu elements in total",
                  static_cast<unsigned long long>(at), ctx_.c_str(),
                  static_cast<unsigned long long>(max_nested_elements));
    nested_ += count;
    v->arrays.resize(static_cast<size_t>(count));
    for (uint64_t k = 0; k < count; ++k)
      if ((s = read_value(value_type::array, depth + 1, &v->arrays[static_cast<size_t>(k)])) !=
          status::ok)
        return s;
    return status::ok;
  }

  status key_values() {
    r_.kvs.resize(static_cast<size_t>(kv_count_));
    for (uint64_t i = 0; i < kv_count_; ++i) {
      key_value& kv = r_.kvs[static_cast<size_t>(i)];
      ctx_ = "key/value " + std::to_string(i) + ": ";
      const uint64_t at = pos_;
      status s = str("key", &kv.key);
      if (s != status::ok) return s;
      if (kv.key.empty())
        return fail(status::corrupt_data, "offset %llu: key/value %llu has an empty key",
                    static_cast<unsigned long long>(at), static_cast<unsigned long long>(i));
      ctx_ = "key '" + printable(kv.key) + "': ";
      uint32_t t = 0;
      if ((s = u32("value type", &t)) != status::ok) return s;
      if (!valid_value_type(t))
        return fail(status::corrupt_data, "offset %llu: %svalue type %u is unknown",
                    static_cast<unsigned long long>(pos_ - 4), ctx_.c_str(), t);
      if ((s = read_value(static_cast<value_type>(t), 1, &kv.val)) != status::ok) return s;
    }
    ctx_.clear();
    // Duplicates, through a sorted index (also used for lookups).
    r_.kv_by_key.resize(r_.kvs.size());
    for (size_t i = 0; i < r_.kv_by_key.size(); ++i) r_.kv_by_key[i] = static_cast<uint32_t>(i);
    const auto& kvs = r_.kvs;
    std::stable_sort(r_.kv_by_key.begin(), r_.kv_by_key.end(),
                     [&kvs](uint32_t a, uint32_t b) { return kvs[a].key < kvs[b].key; });
    for (size_t i = 1; i < r_.kv_by_key.size(); ++i)
      if (kvs[r_.kv_by_key[i]].key == kvs[r_.kv_by_key[i - 1]].key)
        return fail(status::corrupt_data, "duplicate key '%s' (key/values %u and %u)",
                    printable(kvs[r_.kv_by_key[i]].key).c_str(), r_.kv_by_key[i - 1],
                    r_.kv_by_key[i]);
    for (const auto& kv : kvs) {
      if (kv.key == "general.alignment") {
        if (kv.val.type != value_type::uint32)
          return fail(status::corrupt_data, "general.alignment is %s, expected UINT32",
                      value_type_name(kv.val.type));
        const uint64_t a = kv.val.u;
        if (a == 0 || (a & (a - 1)) != 0)
          return fail(status::corrupt_data, "general.alignment %llu is not a power of two",
                      static_cast<unsigned long long>(a));
        r_.alignment = static_cast<uint32_t>(a);
      } else if (kv.key == "general.architecture") {
        if (kv.val.type != value_type::string)
          return fail(status::corrupt_data, "general.architecture is %s, expected STRING",
                      value_type_name(kv.val.type));
        r_.dia = dialect_of_architecture(kv.val.str);
      }
    }
    return status::ok;
  }

  status tensor_infos() {
    r_.tensors.resize(static_cast<size_t>(tensor_count_));
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      tensor_info& t = r_.tensors[static_cast<size_t>(i)];
      ctx_ = "tensor info " + std::to_string(i) + ": ";
      const uint64_t at = pos_;
      status s = str("name", &t.name);
      if (s != status::ok) return s;
      if (t.name.empty())
        return fail(status::corrupt_data, "offset %llu: tensor info %llu has an empty name",
                    static_cast<unsigned long long>(at), static_cast<unsigned long long>(i));
      ctx_ = "tensor '" + printable(t.name) + "': ";
      uint32_t nd = 0;
      if ((s = u32("n_dims", &nd)) != status::ok) return s;
      if (nd < 1 || nd > static_cast<uint32_t>(max_dims))
        return fail(status::corrupt_data, "offset %llu: %sn_dims %u is not in [1, %d]",
                    static_cast<unsigned long long>(pos_ - 4), ctx_.c_str(), nd, max_dims);
      t.n_dims = static_cast<int>(nd);
      uint64_t numel = 1;
      for (uint32_t d = 0; d < nd; ++d) {
        uint64_t x = 0;
        if ((s = u64("ne", &x)) != status::ok) return s;
        if (x > static_cast<uint64_t>(INT64_MAX))
          return fail(status::corrupt_data, "offset %llu: %sne[%u] = %llu is negative as int64",
                      static_cast<unsigned long long>(pos_ - 8), ctx_.c_str(), d,
                      static_cast<unsigned long long>(x));
        if (mul_overflows(numel, x, &numel) || numel > static_cast<uint64_t>(INT64_MAX))
          return fail(status::corrupt_data, "offset %llu: %selement count overflows int64",
                      static_cast<unsigned long long>(pos_ - 8), ctx_.c_str());
        t.ne[d] = static_cast<int64_t>(x);
      }
      t.numel = static_cast<int64_t>(numel);
      if ((s = u32("type", &t.type_id)) != status::ok) return s;
      if ((s = u64("offset", &t.offset)) != status::ok) return s;
      if (t.offset % r_.alignment != 0)
        return fail(status::corrupt_data,
                    "offset %llu: %sdata offset %llu is not a multiple of the alignment %u",
                    static_cast<unsigned long long>(pos_ - 8), ctx_.c_str(),
                    static_cast<unsigned long long>(t.offset), r_.alignment);
    }
    ctx_.clear();
    r_.tensor_by_name.resize(r_.tensors.size());
    for (size_t i = 0; i < r_.tensor_by_name.size(); ++i)
      r_.tensor_by_name[i] = static_cast<uint32_t>(i);
    const auto& ts = r_.tensors;
    std::stable_sort(r_.tensor_by_name.begin(), r_.tensor_by_name.end(),
                     [&ts](uint32_t a, uint32_t b) { return ts[a].name < ts[b].name; });
    for (size_t i = 1; i < r_.tensor_by_name.size(); ++i)
      if (ts[r_.tensor_by_name[i]].name == ts[r_.tensor_by_name[i - 1]].name)
        return fail(status::corrupt_data, "duplicate tensor name '%s' (tensor infos %u and %u)",
                    printable(ts[r_.tensor_by_name[i]].name).c_str(), r_.tensor_by_name[i - 1],
                    r_.tensor_by_name[i]);
    return status::ok;
  }

  status tensor_ranges() {
    uint64_t start = 0;
    if (!align_up(pos_, r_.alignment, &start))
      return fail(status::corrupt_data, "data section offset overflows");
    r_.data_offset = start;
    auto& ts = r_.tensors;
    if (ts.empty()) return status::ok;
    if (start > size_)
      return fail(status::corrupt_data,
                  "the data section starts at offset %llu (tensor infos end at %llu, aligned to "
                  "%u), past the end of the file (%llu bytes)",
                  static_cast<unsigned long long>(start), static_cast<unsigned long long>(pos_),
                  r_.alignment, static_cast<unsigned long long>(size_));
    const uint64_t data_size = size_ - start;
    const uint8_t* data = p_ + start;
    std::vector<uint32_t> order(ts.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
    std::stable_sort(order.begin(), order.end(),
                     [&ts](uint32_t a, uint32_t b) { return ts[a].offset < ts[b].offset; });
    // Space from each tensor to the next larger offset (or the end): evidence for resolution.
    std::vector<uint64_t> next_offset(order.size(), data_size);
    for (size_t k = order.size(); k-- > 1;) {
      const uint64_t here = ts[order[k]].offset, before = ts[order[k - 1]].offset;
      next_offset[k - 1] = here > before ? std::min(here, data_size) : next_offset[k];
    }
    for (size_t k = 0; k < order.size(); ++k) {
      tensor_info& t = ts[order[k]];
      const std::string name = printable(t.name);
      const char* nm = name.c_str();
      if (t.offset > data_size)
        return fail(status::corrupt_data,
                    "tensor '%s': data offset %llu is past the end of the data section (%llu "
                    "bytes from file offset %llu)",
                    nm, static_cast<unsigned long long>(t.offset),
                    static_cast<unsigned long long>(data_size),
                    static_cast<unsigned long long>(start));
      const uint64_t next = next_offset[k];
      const resolution r = resolve(t.type_id, r_.dia, t.ne, t.n_dims, next - t.offset);
      if (r.block_mismatch)
        return fail(status::corrupt_data,
                    "tensor '%s': ne[0] = %lld is not a multiple of the %s block size %lld", nm,
                    static_cast<long long>(t.ne[0]), r.table->name,
                    static_cast<long long>(r.table->block));
      if (r.table && r.table->block != 0 && !r.size_known)
        return fail(status::corrupt_data, "tensor '%s': byte size of %s overflows", nm,
                    r.table->name);
      t.kind = r.kind;
      t.size_known = r.size_known;
      t.bytes = r.size_known ? r.bytes : 0;
      if (r.size_known && r.bytes > data_size - t.offset)
        return fail(status::corrupt_data,
                    "tensor '%s': %llu bytes of %s at data offset %llu run past the end of the "
                    "file (%llu bytes of data)",
                    nm, static_cast<unsigned long long>(r.bytes), kind_name(r.kind),
                    static_cast<unsigned long long>(t.offset),
                    static_cast<unsigned long long>(data_size));
      t.data = r.size_known ? data + t.offset : nullptr;
    }
    // Overlaps among tensors whose size is known (an unknown-size tensor's start counts too).
    std::stable_sort(order.begin(), order.end(), [&ts](uint32_t a, uint32_t b) {
      return ts[a].offset != ts[b].offset ? ts[a].offset < ts[b].offset : ts[a].bytes < ts[b].bytes;
    });
    uint64_t max_end = 0;
    const tensor_info* owner = nullptr;
    for (uint32_t idx : order) {
      const tensor_info& t = ts[idx];
      if (owner && t.offset < max_end)
        return fail(status::corrupt_data,
                    "tensor '%s' at data offset %llu overlaps tensor '%s' [%llu, %llu)",
                    printable(t.name).c_str(), static_cast<unsigned long long>(t.offset),
                    printable(owner->name).c_str(), static_cast<unsigned long long>(owner->offset),
                    static_cast<unsigned long long>(max_end));
      if (t.size_known && t.offset + t.bytes > max_end) {
        max_end = t.offset + t.bytes;
        owner = &t;
      }
    }
    return status::ok;
  }

  reader::impl& r_;
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  uint64_t nested_ = 0;
  std::string ctx_;
};

status finish_open(std::unique_ptr<reader::impl>& p, std::unique_ptr<reader::impl>* out) {
  status s = status::ok;
  try {
    parser ps(*p);
    s = ps.run();
  } catch (const std::bad_alloc&) {
    s = fail(status::out_of_memory, "out of memory while reading the GGUF header");
  } catch (const std::length_error&) {
    s = fail(status::out_of_memory, "out of memory while reading the GGUF header");
  }
  if (s != status::ok) return with_context(s, p->source.c_str());
  *out = std::move(p);
  return status::ok;
}

}  // namespace

status reader::open(const char* path, reader* out) noexcept {
  if (!out) return fail(status::null_pointer, "gguf open: out is null");
  if (!path) return fail(status::null_pointer, "gguf open: path is null");
  std::unique_ptr<impl> p;
  try {
    p.reset(new impl);
    p->source = path;
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "gguf open: out of memory");
  }
  const status s = p->buf.open(path);
  if (s != status::ok) return with_context(s, path);
  return finish_open(p, &out->p_);
}

status reader::open_memory(const void* data, size_t size, reader* out) noexcept {
  if (!out) return fail(status::null_pointer, "gguf open_memory: out is null");
  std::unique_ptr<impl> p;
  try {
    p.reset(new impl);
    p->source = "<memory>";
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "gguf open_memory: out of memory");
  }
  const status s = p->buf.copy(data, size);
  if (s != status::ok) return with_context(s, "<memory>");
  return finish_open(p, &out->p_);
}

uint32_t reader::version() const noexcept { return p_ ? p_->version : 0; }
uint32_t reader::alignment() const noexcept { return p_ ? p_->alignment : default_alignment; }
dialect reader::file_dialect() const noexcept { return p_ ? p_->dia : dialect::upstream; }
const std::vector<key_value>& reader::kvs() const noexcept { return p_ ? p_->kvs : no_kvs; }
const std::vector<tensor_info>& reader::tensors() const noexcept {
  return p_ ? p_->tensors : no_tensors;
}
const std::string& reader::source() const noexcept { return p_ ? p_->source : no_source; }
uint64_t reader::file_size() const noexcept { return p_ ? p_->buf.size() : 0; }
uint64_t reader::data_offset() const noexcept { return p_ ? p_->data_offset : 0; }
bool reader::is_mapped() const noexcept { return p_ && p_->buf.mapped(); }

const value* reader::find(std::string_view key) const noexcept {
  if (!p_) return nullptr;
  const auto& kvs = p_->kvs;
  auto it = std::lower_bound(p_->kv_by_key.begin(), p_->kv_by_key.end(), key,
                             [&kvs](uint32_t i, std::string_view k) { return kvs[i].key < k; });
  if (it == p_->kv_by_key.end() || kvs[*it].key != key) return nullptr;
  return &kvs[*it].val;
}

const std::string_view* reader::find_string(std::string_view key) const noexcept {
  const value* v = find(key);
  return v && v->type == value_type::string ? &v->str : nullptr;
}

const tensor_info* reader::find_tensor(std::string_view name) const noexcept {
  if (!p_) return nullptr;
  const auto& ts = p_->tensors;
  auto it = std::lower_bound(p_->tensor_by_name.begin(), p_->tensor_by_name.end(), name,
                             [&ts](uint32_t i, std::string_view n) { return ts[i].name < n; });
  if (it == p_->tensor_by_name.end() || ts[*it].name != name) return nullptr;
  return &ts[*it];
}

status reader::tensor_data(const tensor_info& t, const uint8_t** data,
                           uint64_t* bytes) const noexcept {
  if (!data || !bytes) return fail(status::null_pointer, "gguf tensor_data: null output");
  if (!t.size_known) {
    const char* up = upstream_type_name(t.type_id);
    return fail(status::unsupported,
                "%s: tensor '%.*s': the size of type id %u (%s, resolved as %s in the %s dialect) "
                "is not known, its data cannot be read",
                source().c_str(), static_cast<int>(std::min<size_t>(t.name.size(), 200)),
                t.name.data(), t.type_id, up ? up : "no upstream type", kind_name(t.kind),
                dialect_name(file_dialect()));
  }
  *data = t.data;
  *bytes = t.bytes;
  return status::ok;
}

// ---- writer -------------------------------------------------------------------------------------

struct writer::impl {
  struct tensor {
    std::string name;
    int n_dims;
    int64_t ne[max_dims];
    uint32_t type;
    const void* data;
    uint64_t bytes;
  };
  std::vector<uint8_t> kv_bytes;
  size_t kv_count = 0;
  std::set<std::string, std::less<>> keys;
  uint32_t alignment = default_alignment;
  dialect dia = dialect::upstream;
  std::vector<tensor> tensors;
  std::set<std::string, std::less<>> names;
};

writer::writer() noexcept = default;
writer::~writer() = default;
writer::writer(writer&& other) noexcept = default;
writer& writer::operator=(writer&& other) noexcept = default;

namespace {

void put_string(std::vector<uint8_t>* out, std::string_view s) {
  append_le(out, s.size(), 8);
  out->insert(out->end(), s.begin(), s.end());
}

// Appends the encoding of v (without its type) after validating it.
status encode_value(const value& v, int depth, std::vector<uint8_t>* out) {
  const uint32_t t = static_cast<uint32_t>(v.type);
  if (!valid_value_type(t)) return fail(status::invalid_argument, "value type %u is unknown", t);
  switch (v.type) {
    case value_type::uint8:
    case value_type::uint16:
    case value_type::uint32:
    case value_type::uint64: {
      const size_t es = value_type_size(v.type);
      if (es < 8 && (v.u >> (8 * es)) != 0)
        return fail(status::invalid_argument, "%s value %llu out of range", value_type_name(v.type),
                    static_cast<unsigned long long>(v.u));
      append_le(out, v.u, static_cast<int>(es));
      return status::ok;
    }
    case value_type::int8:
    case value_type::int16:
    case value_type::int32:
    case value_type::int64: {
      const size_t es = value_type_size(v.type);
      if (es < 8) {
        const int64_t lo = -(int64_t{1} << (8 * es - 1)), hi = (int64_t{1} << (8 * es - 1)) - 1;
        if (v.i < lo || v.i > hi)
          return fail(status::invalid_argument, "%s value %lld out of range",
                      value_type_name(v.type), static_cast<long long>(v.i));
      }
      append_le(out, static_cast<uint64_t>(v.i), static_cast<int>(es));
      return status::ok;
    }
    case value_type::boolean:
      if (v.u > 1)
        return fail(status::invalid_argument, "BOOL value %llu is not 0 or 1",
                    static_cast<unsigned long long>(v.u));
      out->push_back(static_cast<uint8_t>(v.u));
      return status::ok;
    case value_type::float32: {
      const float f = double_to_float(v.f);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      append_le(out, b, 4);
      return status::ok;
    }
    case value_type::float64: {
      uint64_t b;
      std::memcpy(&b, &v.f, 8);
      append_le(out, b, 8);
      return status::ok;
    }
    case value_type::string:
      if (!v.str.data() && !v.str.empty())
        return fail(status::null_pointer, "string value is null");
      put_string(out, v.str);
      return status::ok;
    case value_type::array: break;
  }
  if (depth > max_array_depth)
    return fail(status::invalid_argument, "arrays nested deeper than %d levels", max_array_depth);
  const uint32_t et = static_cast<uint32_t>(v.elem_type);
  if (!valid_value_type(et))
    return fail(status::invalid_argument, "array element type %u is unknown", et);
  append_le(out, et, 4);
  append_le(out, v.count, 8);
  const size_t es = value_type_size(v.elem_type);
  if (es) {
    uint64_t bytes = 0;
    if (mul_overflows(v.count, es, &bytes) || bytes > SIZE_MAX)
      return fail(status::size_overflow, "array of %llu elements is too large",
                  static_cast<unsigned long long>(v.count));
    if (v.count > 0 && !v.raw) return fail(status::null_pointer, "array data is null");
    if (v.elem_type == value_type::boolean)
      for (uint64_t k = 0; k < v.count; ++k)
        if (v.raw[k] > 1)
          return fail(status::invalid_argument, "BOOL array element %llu is %u, not 0 or 1",
                      static_cast<unsigned long long>(k), v.raw[k]);
    out->insert(out->end(), v.raw, v.raw + bytes);
    return status::ok;
  }
  if (v.elem_type == value_type::string) {
    if (v.strings.size() != v.count)
      return fail(status::invalid_argument, "string array count %llu but %zu strings",
                  static_cast<unsigned long long>(v.count), v.strings.size());
    for (const auto& s : v.strings) {
      if (!s.data() && !s.empty()) return fail(status::null_pointer, "array string is null");
      put_string(out, s);
    }
    return status::ok;
  }
  if (v.arrays.size() != v.count)
    return fail(status::invalid_argument, "nested array count %llu but %zu arrays",
                static_cast<unsigned long long>(v.count), v.arrays.size());
  for (const auto& a : v.arrays) {
    if (a.type != value_type::array)
      return fail(status::invalid_argument, "element of an array of arrays is a %s",
                  value_type_name(a.type));
    const status s = encode_value(a, depth + 1, out);
    if (s != status::ok) return s;
  }
  return status::ok;
}

status ensure_impl(std::unique_ptr<writer::impl>& p) {
  if (p) return status::ok;
  try {
    p.reset(new writer::impl);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "gguf writer: out of memory");
  }
  return status::ok;
}

status emit(const writer::impl* w, sink& out) {
  static const writer::impl empty;
  if (!w) w = &empty;
  std::vector<uint8_t> head;
  std::vector<uint64_t> offsets;
  try {
    head.insert(head.end(), magic, magic + 4);
    append_le(&head, write_version, 4);
    append_le(&head, w->tensors.size(), 8);
    append_le(&head, w->kv_count, 8);
    head.insert(head.end(), w->kv_bytes.begin(), w->kv_bytes.end());
    uint64_t off = 0;
    for (const auto& t : w->tensors) {
      put_string(&head, t.name);
      append_le(&head, static_cast<uint32_t>(t.n_dims), 4);
      for (int d = 0; d < t.n_dims; ++d) append_le(&head, static_cast<uint64_t>(t.ne[d]), 8);
      append_le(&head, t.type, 4);
      append_le(&head, off, 8);
      offsets.push_back(off);
      if (!align_up(off + t.bytes, w->alignment, &off))
        return fail(status::size_overflow, "gguf writer: data section too large");
    }
    // The data section starts at a multiple of the alignment. A file without tensors has no
    // data section and ends here (as llama.cpp's vocab-only files do): padding it would turn a
    // general.alignment of 2^31 into a 2 GiB file holding nothing.
    if (!w->tensors.empty())
      head.resize((head.size() + w->alignment - 1) / w->alignment * w->alignment, 0);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "gguf writer: out of memory building the header");
  }
  status s = out.put(head.data(), head.size());
  for (const auto& t : w->tensors) {
    if (s != status::ok) return s;
    s = out.put(t.data, static_cast<size_t>(t.bytes));
    const uint64_t pad = (w->alignment - t.bytes % w->alignment) % w->alignment;
    if (s == status::ok) s = out.fill(static_cast<size_t>(pad));
  }
  return s;
}

}  // namespace

status writer::add_value(std::string_view key, const value& v) noexcept {
  status s = ensure_impl(p_);
  if (s != status::ok) return s;
  const int kl = static_cast<int>(std::min<size_t>(key.size(), 200));
  if (key.empty()) return fail(status::invalid_argument, "gguf writer: empty key");
  if (!key.data()) return fail(status::null_pointer, "gguf writer: key is null");
  try {
    if (p_->keys.find(key) != p_->keys.end())
      return fail(status::invalid_argument, "gguf writer: duplicate key '%.*s'", kl, key.data());
    uint32_t alignment = p_->alignment;
    dialect dia = p_->dia;
    if (key == "general.alignment") {
      if (v.type != value_type::uint32)
        return fail(status::invalid_argument, "gguf writer: general.alignment must be UINT32");
      if (v.u == 0 || (v.u & (v.u - 1)) != 0 || v.u > UINT32_MAX)
        return fail(status::invalid_argument,
                    "gguf writer: general.alignment %llu is not a power of two",
                    static_cast<unsigned long long>(v.u));
      if (!p_->tensors.empty())
        return fail(status::invalid_argument,
                    "gguf writer: general.alignment must be added before the tensors");
      alignment = static_cast<uint32_t>(v.u);
    } else if (key == "general.architecture") {
      if (v.type != value_type::string)
        return fail(status::invalid_argument, "gguf writer: general.architecture must be STRING");
      if (!p_->tensors.empty())
        return fail(status::invalid_argument,
                    "gguf writer: general.architecture must be added before the tensors");
      dia = dialect_of_architecture(v.str);
    }
    std::vector<uint8_t> enc;
    put_string(&enc, key);
    append_le(&enc, static_cast<uint32_t>(v.type), 4);
    s = encode_value(v, 1, &enc);
    if (s != status::ok) {
      const std::string ctx = "gguf writer: key '" + std::string(key.substr(0, 200)) + "'";
      return with_context(s, ctx.c_str());
    }
    p_->kv_bytes.insert(p_->kv_bytes.end(), enc.begin(), enc.end());
    p_->keys.emplace(key);
    ++p_->kv_count;
    p_->alignment = alignment;
    p_->dia = dia;
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "gguf writer: out of memory");
  }
  return status::ok;
}

namespace {
value scalar_u(value_type t, uint64_t u) {
  value v;
  v.type = t;
  v.u = u;
  return v;
}
value scalar_i(value_type t, int64_t i) {
  value v;
  v.type = t;
  v.i = i;
  return v;
}
value scalar_f(value_type t, double f) {
  value v;
  v.type = t;
  v.f = f;
  return v;
}
}  // namespace

status writer::add_u8(std::string_view k, uint8_t v) noexcept {
  return add_value(k, scalar_u(value_type::uint8, v));
}
status writer::add_i8(std::string_view k, int8_t v) noexcept {
  return add_value(k, scalar_i(value_type::int8, v));
}
status writer::add_u16(std::string_view k, uint16_t v) noexcept {
  return add_value(k, scalar_u(value_type::uint16, v));
}
status writer::add_i16(std::string_view k, int16_t v) noexcept {
  return add_value(k, scalar_i(value_type::int16, v));
}
status writer::add_u32(std::string_view k, uint32_t v) noexcept {
  return add_value(k, scalar_u(value_type::uint32, v));
}
status writer::add_i32(std::string_view k, int32_t v) noexcept {
  return add_value(k, scalar_i(value_type::int32, v));
}
status writer::add_f32(std::string_view k, float v) noexcept {
  return add_value(k, scalar_f(value_type::float32, v));
}
status writer::add_bool(std::string_view k, bool v) noexcept {
  return add_value(k, scalar_u(value_type::boolean, v ? 1 : 0));
}
status writer::add_u64(std::string_view k, uint64_t v) noexcept {
  return add_value(k, scalar_u(value_type::uint64, v));
}
status writer::add_i64(std::string_view k, int64_t v) noexcept {
  return add_value(k, scalar_i(value_type::int64, v));
}
status writer::add_f64(std::string_view k, double v) noexcept {
  return add_value(k, scalar_f(value_type::float64, v));
}
status writer::add_string(std::string_view k, std::string_view v) noexcept {
  value x;
  x.type = value_type::string;
  x.str = v;
  return add_value(k, x);
}

status writer::add_array(std::string_view key, value_type elem, const void* values,
                         uint64_t count) noexcept {
  const size_t es = value_type_size(elem);
  if (es == 0)
    return fail(status::invalid_argument,
                "gguf writer: add_array takes fixed-size element types (%s given)",
                value_type_name(elem));
  if (!values && count > 0) return fail(status::null_pointer, "gguf writer: values is null");
  uint64_t bytes = 0;
  if (mul_overflows(count, es, &bytes) || bytes > SIZE_MAX / 2)
    return fail(status::size_overflow, "gguf writer: array too large");
  try {
    // Host representation to little-endian bytes.
    std::vector<uint8_t> raw;
    raw.reserve(static_cast<size_t>(bytes));
    const auto* p = static_cast<const uint8_t*>(values);
    for (uint64_t i = 0; i < count; ++i) {
      switch (elem) {
        case value_type::boolean: raw.push_back(static_cast<const bool*>(values)[i] ? 1 : 0); break;
        case value_type::uint8:
        case value_type::int8: raw.push_back(p[i]); break;
        case value_type::uint16:
        case value_type::int16: {
          uint16_t x;
          std::memcpy(&x, p + 2 * i, 2);
          append_le(&raw, x, 2);
          break;
        }
        case value_type::uint32:
        case value_type::int32:
        case value_type::float32: {
          uint32_t x;
          std::memcpy(&x, p + 4 * i, 4);
          append_le(&raw, x, 4);
          break;
        }
        default: {
          uint64_t x;
          std::memcpy(&x, p + 8 * i, 8);
          append_le(&raw, x, 8);
          break;
        }
      }
    }
    value v;
    v.type = value_type::array;
    v.elem_type = elem;
    v.count = count;
    v.raw = raw.data();
    return add_value(key, v);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "gguf writer: out of memory");
  }
}

status writer::add_string_array(std::string_view key,
                                const std::vector<std::string>& items) noexcept {
  try {
    value v;
    v.type = value_type::array;
    v.elem_type = value_type::string;
    v.count = items.size();
    v.strings.reserve(items.size());
    for (const auto& s : items) v.strings.emplace_back(s);
    return add_value(key, v);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "gguf writer: out of memory");
  }
}

status writer::add_tensor(std::string_view name, const int64_t* ne, int n_dims, uint32_t type_id,
                          const void* data, uint64_t bytes) noexcept {
  status s = ensure_impl(p_);
  if (s != status::ok) return s;
  const int nl = static_cast<int>(std::min<size_t>(name.size(), 200));
  const char* nd = name.data();
  if (name.empty()) return fail(status::invalid_argument, "gguf writer: empty tensor name");
  if (n_dims < 1 || n_dims > max_dims)
    return fail(status::invalid_argument, "gguf writer: tensor '%.*s': n_dims %d not in [1, %d]",
                nl, nd, n_dims, max_dims);
  if (!ne) return fail(status::null_pointer, "gguf writer: tensor '%.*s': ne is null", nl, nd);
  for (int d = 0; d < n_dims; ++d)
    if (ne[d] < 0)
      return fail(status::invalid_argument, "gguf writer: tensor '%.*s': ne[%d] = %lld < 0", nl, nd,
                  d, static_cast<long long>(ne[d]));
  bool overflow = false;
  element_count(ne, n_dims, &overflow);
  if (overflow)
    return fail(status::size_overflow, "gguf writer: tensor '%.*s': element count overflows", nl,
                nd);
  if (!data && bytes > 0)
    return fail(status::null_pointer, "gguf writer: tensor '%.*s': data is null", nl, nd);
  if (bytes > SIZE_MAX)
    return fail(status::size_overflow, "gguf writer: tensor '%.*s': too large", nl, nd);
  const resolution r = resolve(type_id, p_->dia, ne, n_dims, bytes);
  if (r.block_mismatch)
    return fail(status::invalid_argument,
                "gguf writer: tensor '%.*s': ne[0] = %lld is not a multiple of the %s block %lld",
                nl, nd, static_cast<long long>(ne[0]), r.table->name,
                static_cast<long long>(r.table->block));
  if (r.size_known && r.bytes != bytes)
    return fail(status::buffer_too_small,
                "gguf writer: tensor '%.*s': %llu bytes given, type id %u (%s) needs %llu", nl, nd,
                static_cast<unsigned long long>(bytes), type_id, kind_name(r.kind),
                static_cast<unsigned long long>(r.bytes));
  try {
    if (p_->names.find(name) != p_->names.end())
      return fail(status::invalid_argument, "gguf writer: duplicate tensor name '%.*s'", nl, nd);
    impl::tensor t{std::string(name), n_dims, {1, 1, 1, 1}, type_id, data, bytes};
    for (int d = 0; d < n_dims; ++d) t.ne[d] = ne[d];
    p_->tensors.push_back(std::move(t));
    p_->names.emplace(name);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "gguf writer: out of memory");
  }
  return status::ok;
}

size_t writer::tensor_count() const noexcept { return p_ ? p_->tensors.size() : 0; }
size_t writer::kv_count() const noexcept { return p_ ? p_->kv_count : 0; }

status writer::write(const char* path) const noexcept {
  if (!path) return fail(status::null_pointer, "gguf write: path is null");
  atomic_file_sink f;
  status s = f.open(path);
  if (s == status::ok) s = emit(p_.get(), f);
  if (s == status::ok) s = f.commit();
  return s == status::ok ? s : with_context(s, "gguf write");
}

status writer::write_memory(std::vector<uint8_t>* out) const noexcept {
  if (!out) return fail(status::null_pointer, "gguf write_memory: out is null");
  out->clear();
  memory_sink m(out);
  return emit(p_.get(), m);
}

}  // namespace gguf
}  // namespace io
}  // namespace ternary
