// SPDX-License-Identifier: Apache-2.0
// `ternary inspect FILE`: lists the tensors (type, shape, bits per weight, bytes) and metadata of
// a GGUF file, a safetensors file or one of the library's packed-matrix containers. Ternary
// tensors are shown as what they are: GGUF TQ1_0/TQ2_0/I2_S, Hugging Face BitNet packed
// weights, or the library's own packing.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "files.hpp"
#include "load.hpp"
#include "table.hpp"
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "ternary/io/gguf.hpp"
#include "ternary/io/safetensors.hpp"
#include "ternary/packed_matrix.hpp"

namespace ternary {
namespace cli {
namespace {

namespace gg = io::gguf;
namespace st = io::safetensors;

struct inspect_options {
  std::string path;
  bool no_metadata = false;
  size_t width = 72;  ///< longest value text shown
};

std::string clip(std::string s, size_t width) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (s.size() > width) s = s.substr(0, width - 3) + "...";
  return s;
}

std::string scalar_text(const gg::value& v) {
  switch (v.type) {
    case gg::value_type::boolean: return v.u ? "true" : "false";
    case gg::value_type::float32:
    case gg::value_type::float64: return fmt::format("{}", v.f);
    case gg::value_type::string: return fmt::format("\"{}\"", std::string(v.str));
    case gg::value_type::int8:
    case gg::value_type::int16:
    case gg::value_type::int32:
    case gg::value_type::int64: return std::to_string(v.i);
    case gg::value_type::array: return "[...]";
    default: return std::to_string(v.u);
  }
}

std::string value_text(const gg::value& v, size_t width) {
  if (v.type != gg::value_type::array) return clip(scalar_text(v), width);
  std::string s = fmt::format("[{} x {}]", gg::value_type_name(v.elem_type), v.count);
  const uint64_t shown = std::min<uint64_t>(v.count, 8);
  for (uint64_t i = 0; i < shown && s.size() < width; ++i) {
    std::string item;
    if (v.elem_type == gg::value_type::string && i < v.strings.size()) {
      item = fmt::format("\"{}\"", std::string(v.strings[i]));
    } else if (v.elem_type == gg::value_type::array && i < v.arrays.size()) {
      item =
          fmt::format("[{} x {}]", gg::value_type_name(v.arrays[i].elem_type), v.arrays[i].count);
    } else {
      gg::value e;
      if (v.element(i, &e)) item = scalar_text(e);
    }
    s += (i == 0 ? " " : ", ") + item;
  }
  if (shown < v.count) s += ", ...";
  return clip(s, width);
}

int inspect_gguf(const inspect_options& o) {
  gg::reader r;
  if (!check(gg::reader::open(o.path.c_str(), &r))) return exit_failure;
  const std::string_view* arch = r.find_string("general.architecture");
  fmt::print(
      "{}: GGUF v{}, {} tensors, {} key/values, alignment {}, architecture {} "
      "(type ids read as {}), {}\n",
      o.path, r.version(), r.tensors().size(), r.kvs().size(), r.alignment(),
      arch != nullptr ? fmt::format("\"{}\"", std::string(*arch)) : "(none)",
      gg::dialect_name(r.file_dialect()), format_bytes(static_cast<double>(r.file_size())));
  if (!o.no_metadata && !r.kvs().empty()) {
    text_table kv({{"key"}, {"type"}, {"value"}});
    for (const auto& e : r.kvs()) {
      kv.add_row({std::string(e.key), gg::value_type_name(e.val.type), value_text(e.val, o.width)});
    }
    fmt::print("\nmetadata:\n");
    kv.print(stdout, "  ");
  }
  text_table t({{"tensor"},
                {"type"},
                {"id", text_table::align::right},
                {"ne"},
                {"bits/w", text_table::align::right},
                {"bytes", text_table::align::right},
                {"offset", text_table::align::right}});
  uint64_t total = 0;
  for (const auto& e : r.tensors()) {
    std::string ne;
    for (int d = 0; d < e.n_dims; ++d) ne += (d ? ", " : "") + std::to_string(e.ne[d]);
    const char* upstream = gg::upstream_type_name(e.type_id);
    std::string type = gg::kind_name(e.kind);
    if (e.kind == gg::tensor_kind::other && upstream != nullptr) type = upstream;
    t.add_row({std::string(e.name), type, std::to_string(e.type_id), "[" + ne + "]",
               e.size_known && e.numel > 0
                   ? fmt::format("{:.4f}",
                                 static_cast<double>(e.bytes) * 8.0 / static_cast<double>(e.numel))
                   : "?",
               e.size_known ? format_bytes(static_cast<double>(e.bytes)) : "?",
               std::to_string(e.offset)});
    total += e.size_known ? e.bytes : 0;
  }
  fmt::print("\ntensors ({} in {} of data):\n", r.tensors().size(),
             format_bytes(static_cast<double>(total)));
  t.print(stdout, "  ");
  return exit_ok;
}

int inspect_safetensors(const inspect_options& o) {
  st::reader r;
  if (!check(st::reader::open(o.path.c_str(), &r))) return exit_failure;
  std::vector<std::string> packed;
  if (!check(st::list_packed(r, &packed))) return exit_failure;
  fmt::print("{}: safetensors, {} tensors, {} metadata entries, header {}, {}\n", o.path,
             r.tensors().size(), r.metadata().size(),
             format_bytes(static_cast<double>(r.header_size())),
             format_bytes(static_cast<double>(r.file_size())));
  if (!o.no_metadata && !r.metadata().empty()) {
    text_table kv({{"key"}, {"value"}});
    for (const auto& e : r.metadata()) kv.add_row({e.first, clip(e.second, o.width)});
    fmt::print("\nmetadata:\n");
    kv.print(stdout, "  ");
  }
  // Companion tensors of a packed matrix are shown with it, not on their own.
  const std::set<std::string> companions = packed_companions(packed);
  text_table t({{"tensor"},
                {"type"},
                {"shape"},
                {"bits/w", text_table::align::right},
                {"bytes", text_table::align::right}});
  for (const auto& e : r.tensors()) {
    if (companions.count(e.name) != 0) continue;
    std::string type = st::dtype_name(e.type);
    std::string shape = shape_text(e.shape);
    std::string bits = "-";
    double bytes = static_cast<double>(e.bytes());
    if (std::find(packed.begin(), packed.end(), e.name) != packed.end()) {
      packed_matrix m;
      if (!check(st::load_packed(r, e.name, &m))) return exit_failure;
      type = "ternary " + packed_layout_text(m);
      shape = fmt::format("{}x{}", m.rows(), m.cols());
      bits = fmt::format("{:.4f}", packed_bits_per_weight(m));
      bytes = static_cast<double>(m.storage_bytes());
    } else if (hf_bitnet_scale(r, e) != nullptr &&
               e.shape[0] <= std::numeric_limits<int64_t>::max() / 4) {
      // Hugging Face BitNet: four output rows per byte, a scalar `<name>_scale` beside it.
      type = "hf_bitnet (U8)";
      shape = fmt::format("{}x{} (packed {})", 4 * e.shape[0], e.shape[1], shape_text(e.shape));
      bits = "2.0000";
    } else if (e.numel > 0) {
      bits = fmt::format("{}", st::dtype_size(e.type) * 8);
    }
    t.add_row({e.name, type, shape, bits, format_bytes(bytes)});
  }
  fmt::print("\ntensors:\n");
  t.print(stdout, "  ");
  return exit_ok;
}

int inspect_container(const inspect_options& o) {
  packed_matrix m;
  if (!check(packed_matrix::load(o.path.c_str(), &m))) return exit_failure;
  fmt::print("{}: ternary packed-matrix container\n  {}x{} {}, {:.4f} bits/weight, {}\n", o.path,
             m.rows(), m.cols(), packed_layout_text(m), packed_bits_per_weight(m),
             format_bytes(static_cast<double>(m.storage_bytes())));
  return exit_ok;
}

}  // namespace

int inspect_file(const std::string& path, bool no_metadata) {
  inspect_options o;
  o.path = path;
  o.no_metadata = no_metadata;
  std::string why;
  int rc = exit_failure;
  switch (detect_file_kind(o.path, &why)) {
    case file_kind::gguf: rc = inspect_gguf(o); break;
    case file_kind::safetensors: rc = inspect_safetensors(o); break;
    case file_kind::ternary_container: rc = inspect_container(o); break;
    case file_kind::unknown: report_error(why); break;
  }
  return rc;
}

void register_inspect(CLI::App& app) {
  auto o = std::make_shared<inspect_options>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "List the tensors and metadata of a GGUF, safetensors or packed-matrix file");
  cmd->add_option("file", o->path, "File to inspect")->required();
  cmd->add_flag("--no-metadata", o->no_metadata, "Tensors only");
  cmd->callback([o]() {
    const int rc = inspect_file(o->path, o->no_metadata);
    if (rc != exit_ok) exit_with(rc);
  });
}

}  // namespace cli
}  // namespace ternary
