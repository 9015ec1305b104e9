// SPDX-License-Identifier: Apache-2.0
// The library's packed matrices in safetensors files (docs/IO_FILES.md, "Packed matrices").
#include <cstring>
#include <new>
#include <string>

#include "detail/error.hpp"
#include "io/common.hpp"
#include "io/json.hpp"
#include <nlohmann/json.hpp>

#include "ternary/io/safetensors.hpp"

namespace ternary {
namespace io {
namespace safetensors {

using ternary::detail::fail;
using ternary::detail::with_context;
using namespace ternary::io::detail;

namespace {

constexpr const char* meta_prefix = "ternary.";
constexpr const char* scale_suffix = ".ternary_scale";
constexpr const char* bias_suffix = ".ternary_bias";
constexpr const char* reserved_keys[] = {"format",      "rows",       "cols",
                                         "granularity", "group_size", "scale_dtype",
                                         "planes",      "bias",       "layout_version"};

bool is_reserved(const std::string& k) {
  for (const char* r : reserved_keys)
    if (k == r) return true;
  return false;
}

bool parse_format(const std::string& s, format* f) {
  for (format x : {format::bits2, format::base3, format::sherry}) {
    if (s == format_name(x)) {
      *f = x;
      return true;
    }
  }
  return false;
}
bool parse_granularity(const std::string& s, scale_granularity* g) {
  for (scale_granularity x :
       {scale_granularity::per_tensor, scale_granularity::per_row, scale_granularity::per_group}) {
    if (s == granularity_name(x)) {
      *g = x;
      return true;
    }
  }
  return false;
}
bool parse_scale_type(const std::string& s, scale_type* t) {
  for (scale_type x : {scale_type::f32, scale_type::f16}) {
    if (s == scale_type_name(x)) {
      *t = x;
      return true;
    }
  }
  return false;
}

}  // namespace

status store_packed(writer& w, std::string_view name, const packed_matrix& m,
                    const string_pairs& extras) noexcept {
  try {
    const std::string nm(name);
    if (m.empty())
      return fail(status::invalid_argument, "store_packed '%s': empty matrix", nm.c_str());
    if (name.empty()) return fail(status::invalid_argument, "store_packed: empty name");
    const matrix_desc& d = m.desc();
    const matrix_view& v = m.view();
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["format"] = format_name(d.fmt);
    j["rows"] = d.rows;
    j["cols"] = d.cols;
    j["granularity"] = granularity_name(d.granularity);
    j["group_size"] = d.granularity == scale_granularity::per_group ? d.group_size : 0;
    j["scale_dtype"] = scale_type_name(d.scale_dtype);
    j["planes"] = d.planes;
    j["bias"] = d.has_bias;
    j["layout_version"] = layout_version;
    for (const auto& e : extras) {
      if (is_reserved(e.first) || j.contains(e.first))
        return fail(status::invalid_argument,
                    "store_packed '%s': extra key '%s' is reserved or repeated", nm.c_str(),
                    e.first.c_str());
      if (!valid_utf8(e.first.data(), e.first.size()) ||
          !valid_utf8(e.second.data(), e.second.size()))
        return fail(status::invalid_argument, "store_packed '%s': extra '%s' is not valid UTF-8",
                    nm.c_str(), e.first.c_str());
      j[e.first] = e.second;
    }
    const std::string scale_name = nm + scale_suffix;
    const std::string bias_name = nm + bias_suffix;
    const std::string meta_name = meta_prefix + nm;
    // Reject clashes before adding anything, so a failure leaves the writer unchanged.
    for (const std::string* t : {&nm, &scale_name, &bias_name})
      if (w.has_tensor(*t))
        return fail(status::invalid_argument, "store_packed: tensor '%s' already exists",
                    t->c_str());
    if (w.has_metadata(meta_name))
      return fail(status::invalid_argument, "store_packed: metadata '%s' already exists",
                  meta_name.c_str());
    const size_t weight_plane = static_cast<size_t>(v.row_bytes) * static_cast<size_t>(v.rows);
    const size_t scale_plane =
        static_cast<size_t>(m.scale_count()) * (d.scale_dtype == scale_type::f16 ? 2u : 4u);
    data_piece wp[2], sp[2];
    for (int p = 0; p < d.planes; ++p) {
      wp[p] = {v.weights[p], weight_plane};
      sp[p] = {v.scales[p], scale_plane};
    }
    const int64_t planes = d.planes;
    status s = w.add_tensor_pieces(nm, dtype::u8, {planes, d.rows, v.row_bytes}, wp,
                                   static_cast<size_t>(d.planes));
    if (s != status::ok) return with_context(s, "store_packed");
    s = w.add_tensor_pieces(scale_name, d.scale_dtype == scale_type::f16 ? dtype::f16 : dtype::f32,
                            {planes, m.scale_count()}, sp, static_cast<size_t>(d.planes));
    if (s == status::ok && d.has_bias)
      s = w.add_tensor(bias_name, dtype::f32, {d.rows}, v.bias,
                       static_cast<size_t>(d.rows) * sizeof(float));
    if (s == status::ok) s = w.add_metadata(meta_name, j.dump());
    return with_context(s, "store_packed");
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "store_packed: out of memory");
  } catch (const std::exception& e) {
    return fail(status::internal_error, "store_packed: %s", e.what());
  }
}

namespace {

// Reads field `key` of the description as a non-negative integer.
status get_int(const json_node& j, const char* key, const std::string& nm, int64_t* out) {
  const json_node* n = j.find(key);
  if (!n)
    return fail(status::corrupt_data, "packed matrix '%s': description lacks \"%s\"", nm.c_str(),
                key);
  if (n->k != json_node::kind::unsigned_integer || n->u > static_cast<uint64_t>(INT64_MAX))
    return fail(status::corrupt_data,
                "packed matrix '%s': description field \"%s\" is %s, expected a non-negative "
                "integer",
                nm.c_str(), key, json_kind_name(n->k));
  *out = static_cast<int64_t>(n->u);
  return status::ok;
}

status get_str(const json_node& j, const char* key, const std::string& nm, std::string* out) {
  const json_node* n = j.find(key);
  if (!n)
    return fail(status::corrupt_data, "packed matrix '%s': description lacks \"%s\"", nm.c_str(),
                key);
  if (n->k != json_node::kind::string)
    return fail(status::corrupt_data,
                "packed matrix '%s': description field \"%s\" is %s, expected a string", nm.c_str(),
                key, json_kind_name(n->k));
  *out = n->s;
  return status::ok;
}

status check_tensor(const tensor_info* t, const std::string& tname, const std::string& nm,
                    dtype type, const std::vector<int64_t>& shape) {
  if (!t)
    return fail(status::corrupt_data, "packed matrix '%s': tensor '%s' is missing", nm.c_str(),
                tname.c_str());
  if (t->type != type)
    return fail(status::corrupt_data, "packed matrix '%s': tensor '%s' is %s, expected %s",
                nm.c_str(), tname.c_str(), dtype_name(t->type), dtype_name(type));
  if (t->shape != shape) {
    std::string got, want;
    for (int64_t x : t->shape) got += (got.empty() ? "" : ",") + std::to_string(x);
    for (int64_t x : shape) want += (want.empty() ? "" : ",") + std::to_string(x);
    return fail(status::corrupt_data,
                "packed matrix '%s': tensor '%s' has shape [%s], the description needs [%s]",
                nm.c_str(), tname.c_str(), got.c_str(), want.c_str());
  }
  return status::ok;
}

status load_impl(const reader& r, const std::string& nm, packed_matrix* out, string_pairs* extras) {
  const std::string meta_name = meta_prefix + nm;
  const std::string* meta = r.find_metadata(meta_name);
  if (!meta)
    return fail(status::invalid_argument, "no packed matrix '%s' (metadata '%s' is absent)",
                nm.c_str(), meta_name.c_str());
  json_node j;
  std::string err;
  if (!parse_json(meta->data(), meta->size(), 2, &j, &err))
    return fail(status::corrupt_data, "packed matrix '%s': description: %s", nm.c_str(),
                err.c_str());
  if (j.k != json_node::kind::object)
    return fail(status::corrupt_data, "packed matrix '%s': description is %s, expected an object",
                nm.c_str(), json_kind_name(j.k));
  int64_t version = 0;
  status s = get_int(j, "layout_version", nm, &version);
  if (s != status::ok) return s;
  if (version != static_cast<int64_t>(layout_version))
    return fail(status::corrupt_data,
                "packed matrix '%s': layout_version %lld is not supported (this build reads %u)",
                nm.c_str(), static_cast<long long>(version), layout_version);
  std::string fmt, gran, sdt;
  matrix_desc d;
  int64_t planes = 0;
  if ((s = get_str(j, "format", nm, &fmt)) != status::ok) return s;
  if (!parse_format(fmt, &d.fmt))
    return fail(status::corrupt_data, "packed matrix '%s': unknown format \"%s\"", nm.c_str(),
                fmt.c_str());
  if ((s = get_str(j, "granularity", nm, &gran)) != status::ok) return s;
  if (!parse_granularity(gran, &d.granularity))
    return fail(status::corrupt_data, "packed matrix '%s': unknown granularity \"%s\"", nm.c_str(),
                gran.c_str());
  if ((s = get_str(j, "scale_dtype", nm, &sdt)) != status::ok) return s;
  if (!parse_scale_type(sdt, &d.scale_dtype))
    return fail(status::corrupt_data, "packed matrix '%s': unknown scale_dtype \"%s\"", nm.c_str(),
                sdt.c_str());
  if ((s = get_int(j, "rows", nm, &d.rows)) != status::ok) return s;
  if ((s = get_int(j, "cols", nm, &d.cols)) != status::ok) return s;
  if ((s = get_int(j, "group_size", nm, &d.group_size)) != status::ok) return s;
  if ((s = get_int(j, "planes", nm, &planes)) != status::ok) return s;
  if (planes < 1 || planes > 2)
    return fail(status::corrupt_data, "packed matrix '%s': planes = %lld, expected 1 or 2",
                nm.c_str(), static_cast<long long>(planes));
  d.planes = static_cast<int>(planes);
  const json_node* jb = j.find("bias");
  if (!jb || jb->k != json_node::kind::boolean)
    return fail(status::corrupt_data,
                "packed matrix '%s': description field \"bias\" must be a boolean", nm.c_str());
  d.has_bias = jb->b;
  string_pairs extra;
  for (const auto& m : j.members) {
    if (is_reserved(m.first)) continue;
    if (m.second.k != json_node::kind::string)
      return fail(status::corrupt_data,
                  "packed matrix '%s': extra description field \"%s\" is %s, expected a string",
                  nm.c_str(), m.first.c_str(), json_kind_name(m.second.k));
    extra.emplace_back(m.first, m.second.s);
  }
  const std::string ctx = "packed matrix '" + nm + "'";
  s = validate(d);
  if (s != status::ok) return with_context(status::corrupt_data, ctx.c_str());

  // Check the tensors against the description before allocating what it promises.
  const int64_t rb = row_bytes(d.fmt, d.cols);
  const int64_t groups = d.granularity == scale_granularity::per_group
                             ? (d.cols + d.group_size - 1) / d.group_size
                             : 1;
  const int64_t nscales = scale_count(d.granularity, d.rows, groups);
  const std::string scale_name = nm + scale_suffix;
  const std::string bias_name = nm + bias_suffix;
  const tensor_info* tw = r.find(nm);
  const tensor_info* ts = r.find(scale_name);
  const tensor_info* tb = r.find(bias_name);
  if ((s = check_tensor(tw, nm, nm, dtype::u8, {planes, d.rows, rb})) != status::ok) return s;
  if ((s = check_tensor(ts, scale_name, nm,
                        d.scale_dtype == scale_type::f16 ? dtype::f16 : dtype::f32,
                        {planes, nscales})) != status::ok)
    return s;
  if (d.has_bias) {
    if ((s = check_tensor(tb, bias_name, nm, dtype::f32, {d.rows})) != status::ok) return s;
  } else if (tb) {
    return fail(status::corrupt_data,
                "packed matrix '%s': tensor '%s' exists but the description says no bias",
                nm.c_str(), bias_name.c_str());
  }

  packed_matrix m;
  s = packed_matrix::create(d, &m);
  if (s != status::ok) return with_context(s, ctx.c_str());
  const matrix_view& v = m.view();
  if (v.row_bytes != rb || m.scale_count() != nscales)
    return fail(status::internal_error, "%s: layout disagrees with the description", ctx.c_str());
  const size_t wplane = static_cast<size_t>(v.row_bytes) * static_cast<size_t>(d.rows);
  const size_t es = d.scale_dtype == scale_type::f16 ? 2u : 4u;
  const size_t splane = static_cast<size_t>(m.scale_count()) * es;
  for (int p = 0; p < d.planes; ++p) {
    std::memcpy(m.mutable_weights(p), tw->data + p * wplane, wplane);
    // Scales are little-endian on disk; decode element by element (host independent).
    const uint8_t* src = ts->data + p * splane;
    void* dst = m.mutable_scales(p);
    for (int64_t i = 0; i < m.scale_count(); ++i) {
      if (es == 2) {
        const uint16_t h = get_le16(src + 2 * i);
        std::memcpy(static_cast<uint8_t*>(dst) + 2 * i, &h, 2);
      } else {
        const uint32_t b = get_le32(src + 4 * i);
        std::memcpy(static_cast<uint8_t*>(dst) + 4 * i, &b, 4);
      }
    }
  }
  if (d.has_bias) {
    float* bias = m.mutable_bias();
    for (int64_t i = 0; i < d.rows; ++i) {
      const uint32_t b = get_le32(tb->data + 4 * i);
      std::memcpy(bias + i, &b, 4);
    }
  }
  s = m.check_values();
  if (s != status::ok) return with_context(status::corrupt_data, ctx.c_str());
  *out = std::move(m);
  if (extras) *extras = std::move(extra);
  return status::ok;
}

}  // namespace

status load_packed(const reader& r, std::string_view name, packed_matrix* out,
                   string_pairs* extras) noexcept {
  if (!out) return fail(status::null_pointer, "load_packed: out is null");
  if (!r.is_open()) return fail(status::invalid_argument, "load_packed: the reader is not open");
  status s;
  try {
    s = load_impl(r, std::string(name), out, extras);
  } catch (const std::bad_alloc&) {
    s = fail(status::out_of_memory, "load_packed: out of memory");
  }
  return with_context(s, r.source().c_str());
}

status list_packed(const reader& r, std::vector<std::string>* names) noexcept {
  if (!names) return fail(status::null_pointer, "list_packed: names is null");
  try {
    names->clear();
    const size_t pl = std::strlen(meta_prefix);
    for (const auto& kv : r.metadata()) {
      if (kv.first.size() <= pl || kv.first.compare(0, pl, meta_prefix) != 0) continue;
      std::string n = kv.first.substr(pl);
      if (r.find(n)) names->push_back(std::move(n));
    }
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "list_packed: out of memory");
  }
  return status::ok;
}

}  // namespace safetensors
}  // namespace io
}  // namespace ternary
