// SPDX-License-Identifier: Apache-2.0
// `ternary convert IN OUT --to FORMAT`: moves ternary matrices between GGUF TQ1_0 / TQ2_0 /
// I2_S, Hugging Face BitNet safetensors and the library's own packing, losslessly or not at all.
//
// Input: a GGUF file (its TQ1_0, TQ2_0 and I2_S tensors are ternary), a safetensors file (its
// packed ternary matrices, and Hugging Face BitNet U8 `X.weight` tensors that have an
// `X.weight_scale` beside them), or a packed-matrix container (one matrix, named "weight").
// Output: GGUF for tq1_0, tq2_0 and i2_s; safetensors for hf_bitnet and the library's formats
// (bits2, base3, sherry; `ternary` keeps each matrix's own format). Every other tensor is copied
// unchanged when the output container can hold its type, else the conversion is refused.
// The output is written atomically, only when every tensor converted.

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "files.hpp"
#include "load.hpp"
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "ternary/interop.hpp"
#include "ternary/io/gguf.hpp"
#include "ternary/io/safetensors.hpp"
#include "ternary/packed_matrix.hpp"
#include "ternary/ternary.hpp"

namespace ternary {
namespace cli {
namespace {

namespace gg = io::gguf;
namespace st = io::safetensors;

/// GGUF type ids of the types written here (ggml.h).
constexpr uint32_t ggml_f32 = 0, ggml_f16 = 1, ggml_i8 = 24, ggml_i16 = 25, ggml_i32 = 26,
                   ggml_i64 = 27, ggml_f64 = 28, ggml_bf16 = 30, ggml_tq1_0 = 34, ggml_tq2_0 = 35,
                   ggml_i2_s = 36;

/// A tensor copied as it is.
struct plain_tensor {
  std::string name;
  std::vector<int64_t> shape;  ///< outermost first (safetensors order)
  bool from_gguf = false;
  uint32_t gguf_type = 0;           ///< from_gguf: the type id
  st::dtype dtype = st::dtype::u8;  ///< !from_gguf: the dtype
  const uint8_t* data = nullptr;
  size_t bytes = 0;
};

/// One tensor of the input, in input order.
struct item {
  bool ternary = false;
  std::string name;
  std::string source;  ///< what it was: "TQ2_0", "hf_bitnet", "ternary bits2 g128 f16", ...
  std::unique_ptr<packed_matrix> m;
  plain_tensor plain;
};

struct input_file {
  gg::reader gguf;
  st::reader safetensors;
  std::vector<item> items;
  std::vector<std::pair<std::string, std::string>> string_metadata;  // safetensors metadata
  bool is_gguf = false;
};

bool fail_tensor(const std::string& name, const std::string& what) {
  const char* msg = last_error_message();
  report_error(
      fmt::format("tensor '{}': {}{}{}", name, what, msg && msg[0] ? ": " : "", msg ? msg : ""));
  return false;
}

bool read_gguf(const std::string& path, input_file* in) {
  in->is_gguf = true;
  if (!check(gg::reader::open(path.c_str(), &in->gguf))) return false;
  for (const auto& t : in->gguf.tensors()) {
    item it;
    it.name = std::string(t.name);
    const bool tern = t.kind == gg::tensor_kind::tq1_0 || t.kind == gg::tensor_kind::tq2_0 ||
                      t.kind == gg::tensor_kind::i2_s;
    const uint8_t* data = nullptr;
    uint64_t bytes = 0;
    if (!check(in->gguf.tensor_data(t, &data, &bytes))) {
      report_error(fmt::format("tensor '{}' ({}) cannot be read", it.name, gg::kind_name(t.kind)));
      return false;
    }
    if (tern) {
      const int64_t cols = t.ne[0];
      // rows = ne[1] * ne[2] * ne[3]. With ne[0] = 0 the element count is 0 whatever the other
      // dimensions are, so this product need not fit in int64_t: stop once it exceeds max_rows.
      int64_t rows = 1;
      bool too_many_rows = false;
      for (int d = 1; d < t.n_dims; ++d) {
        if (t.ne[d] == 0) {
          rows = 0;
          too_many_rows = false;
          break;
        }
        if (rows > max_rows / t.ne[d]) too_many_rows = true;
        if (!too_many_rows) rows *= t.ne[d];
      }
      if (too_many_rows) {
        report_error(
            fmt::format("tensor '{}': its dimensions [{}, {}, {}, {}] give more than the "
                        "{} rows a matrix may have",
                        it.name, t.ne[0], t.ne[1], t.ne[2], t.ne[3], max_rows));
        return false;
      }
      it.ternary = true;
      it.m = std::make_unique<packed_matrix>();
      interop::import_options opt;
      status s = status::ok;
      switch (t.kind) {
        case gg::tensor_kind::tq1_0:
          s = interop::import_tq1_0(data, bytes, rows, cols, opt, it.m.get());
          it.source = "TQ1_0";
          break;
        case gg::tensor_kind::tq2_0:
          s = interop::import_tq2_0(data, bytes, rows, cols, opt, it.m.get());
          it.source = "TQ2_0";
          break;
        default:
          s = interop::import_i2_s(data, bytes, rows, cols, opt, it.m.get());
          it.source = "I2_S";
          break;
      }
      if (s != status::ok) return fail_tensor(it.name, "import of " + it.source + " failed");
    } else {
      it.plain.name = it.name;
      it.plain.from_gguf = true;
      it.plain.gguf_type = t.type_id;
      for (int d = t.n_dims - 1; d >= 0; --d) it.plain.shape.push_back(t.ne[d]);
      it.plain.data = data;
      it.plain.bytes = static_cast<size_t>(bytes);
      const char* up = gg::upstream_type_name(t.type_id);
      it.source = t.kind == gg::tensor_kind::other && up ? up : gg::kind_name(t.kind);
    }
    in->items.push_back(std::move(it));
  }
  return true;
}

bool read_safetensors(const std::string& path, interop::hf_scale_convention hf, input_file* in) {
  st::reader& r = in->safetensors;
  if (!check(st::reader::open(path.c_str(), &r))) return false;
  std::vector<std::string> packed;
  if (!check(st::list_packed(r, &packed))) return false;
  const std::set<std::string> packed_names(packed.begin(), packed.end());
  std::set<std::string> skipped = packed_companions(packed);  // read with another tensor
  for (const auto& kv : r.metadata()) {
    if (kv.first.rfind("ternary.", 0) != 0) in->string_metadata.push_back(kv);
  }
  for (const auto& t : r.tensors()) {
    if (const st::tensor_info* sc = hf_bitnet_scale(r, t)) skipped.insert(sc->name);
  }
  for (const auto& t : r.tensors()) {
    if (skipped.count(t.name) != 0) continue;
    item it;
    it.name = t.name;
    if (packed_names.count(t.name) != 0) {
      it.ternary = true;
      it.m = std::make_unique<packed_matrix>();
      if (!check(st::load_packed(r, t.name, it.m.get()))) return false;
      it.source = "ternary " + packed_layout_text(*it.m);
    } else if (const st::tensor_info* sc = hf_bitnet_scale(r, t)) {
      if (sc->numel != 1) {
        report_error(
            fmt::format("tensor '{}': a Hugging Face BitNet weight_scale must hold one "
                        "value, '{}' has {} ({})",
                        t.name, sc->name, sc->numel, shape_text(sc->shape)));
        return false;
      }
      float scale = 0;
      if (!check(st::to_f32(*sc, &scale, 1))) return false;
      if (t.shape[0] > max_rows / 4) {  // 4 * shape[0] could overflow int64_t
        report_error(
            fmt::format("tensor '{}': a Hugging Face BitNet weight of {} packed rows holds more "
                        "than the {} rows a matrix may have",
                        t.name, t.shape[0], max_rows));
        return false;
      }
      it.ternary = true;
      it.m = std::make_unique<packed_matrix>();
      const int64_t out_features = 4 * t.shape[0];
      if (interop::import_hf_bitnet(t.data, t.bytes(), out_features, t.shape[1], scale, hf,
                                    interop::import_options{}, it.m.get()) != status::ok) {
        return fail_tensor(t.name, "import of Hugging Face BitNet weights failed");
      }
      it.source = "hf_bitnet";
    } else {
      it.plain.name = t.name;
      it.plain.dtype = t.type;
      it.plain.shape = t.shape;
      it.plain.data = t.data;
      it.plain.bytes = t.bytes();
      it.source = st::dtype_name(t.type);
    }
    in->items.push_back(std::move(it));
  }
  return true;
}

bool gguf_type_of(st::dtype t, uint32_t* id) {
  switch (t) {
    case st::dtype::f32: *id = ggml_f32; return true;
    case st::dtype::f16: *id = ggml_f16; return true;
    case st::dtype::bf16: *id = ggml_bf16; return true;
    case st::dtype::f64: *id = ggml_f64; return true;
    case st::dtype::i8: *id = ggml_i8; return true;
    case st::dtype::i16: *id = ggml_i16; return true;
    case st::dtype::i32: *id = ggml_i32; return true;
    case st::dtype::i64: *id = ggml_i64; return true;
    default: return false;
  }
}

bool safetensors_type_of(uint32_t id, st::dtype* t) {
  switch (id) {
    case ggml_f32: *t = st::dtype::f32; return true;
    case ggml_f16: *t = st::dtype::f16; return true;
    case ggml_bf16: *t = st::dtype::bf16; return true;
    case ggml_f64: *t = st::dtype::f64; return true;
    case ggml_i8: *t = st::dtype::i8; return true;
    case ggml_i16: *t = st::dtype::i16; return true;
    case ggml_i32: *t = st::dtype::i32; return true;
    case ggml_i64: *t = st::dtype::i64; return true;
    default: return false;
  }
}

int write_gguf(const convert_options& o, interop::foreign_format to, input_file& in,
               std::vector<std::vector<uint8_t>>* buffers) {
  gg::writer w;
  std::string arch = o.arch;
  bool arch_written = false;
  // general.architecture first: it decides how the writer reads type ids.
  if (in.is_gguf) {
    const std::string_view* a = in.gguf.find_string("general.architecture");
    if (arch.empty() && a != nullptr) arch = std::string(*a);
  }
  if (to == interop::foreign_format::i2_s) {
    if (arch.empty()) arch = "bitnet-b1.58";
    if (gg::dialect_of_architecture(arch) == gg::dialect::upstream) {
      report_error(fmt::format(
          "I2_S tensors are read as such only in BitNet files (general.architecture 'bitnet', "
          "'bitnet-b1.58' or 'bitnet-25'), and this file's architecture is '{}'; pass --arch",
          arch));
      return exit_failure;
    }
  }
  if (!arch.empty()) {
    if (!check(w.add_string("general.architecture", arch))) return exit_failure;
    arch_written = true;
  }
  if (in.is_gguf) {
    for (const auto& kv : in.gguf.kvs()) {
      if (arch_written && kv.key == "general.architecture") continue;
      if (!check(w.add_value(kv.key, kv.val))) return exit_failure;
    }
  } else {
    for (const auto& kv : in.string_metadata) {
      if (arch_written && kv.first == "general.architecture") continue;
      if (!check(w.add_string(kv.first, kv.second))) return exit_failure;
    }
  }
  for (auto& it : in.items) {
    if (it.ternary) {
      buffers->emplace_back();
      std::vector<uint8_t>& b = buffers->back();
      status s = status::ok;
      uint32_t id = 0;
      switch (to) {
        case interop::foreign_format::tq1_0:
          s = interop::export_tq1_0(*it.m, &b);
          id = ggml_tq1_0;
          break;
        case interop::foreign_format::tq2_0:
          s = interop::export_tq2_0(*it.m, &b);
          id = ggml_tq2_0;
          break;
        default:
          s = interop::export_i2_s(*it.m, &b);
          id = ggml_i2_s;
          break;
      }
      if (s != status::ok) {
        fail_tensor(it.name, fmt::format("{} cannot be written as {} without loss", it.source,
                                         interop::foreign_format_name(to)));
        return exit_failure;
      }
      const int64_t ne[2] = {it.m->cols(), it.m->rows()};
      if (!check(w.add_tensor(it.name, ne, 2, id, b.data(), b.size()))) return exit_failure;
    } else {
      const plain_tensor& p = it.plain;
      uint32_t id = p.gguf_type;
      if (!p.from_gguf && !gguf_type_of(p.dtype, &id)) {
        report_error(fmt::format("tensor '{}': GGUF has no type for safetensors {}", p.name,
                                 st::dtype_name(p.dtype)));
        return exit_failure;
      }
      std::vector<int64_t> ne(p.shape.rbegin(), p.shape.rend());
      if (ne.empty()) ne.push_back(1);
      if (ne.size() > static_cast<size_t>(gg::max_dims)) {
        report_error(fmt::format("tensor '{}': {} dimensions, GGUF allows {}", p.name, ne.size(),
                                 gg::max_dims));
        return exit_failure;
      }
      if (!check(
              w.add_tensor(p.name, ne.data(), static_cast<int>(ne.size()), id, p.data, p.bytes))) {
        return exit_failure;
      }
    }
  }
  return check(w.write(o.output.c_str())) ? exit_ok : exit_failure;
}

int write_safetensors(const convert_options& o, bool hf, format fmt, bool keep_format,
                      input_file& in, std::vector<std::vector<uint8_t>>* buffers,
                      std::vector<std::unique_ptr<packed_matrix>>* repacked,
                      std::vector<float>* hf_scales) {
  st::writer w;
  if (in.is_gguf) {
    for (const auto& kv : in.gguf.kvs()) {
      if (kv.val.type == gg::value_type::string) {
        if (!check(w.add_metadata(kv.key, kv.val.str))) return exit_failure;
      }
    }
  } else {
    for (const auto& kv : in.string_metadata) {
      if (!check(w.add_metadata(kv.first, kv.second))) return exit_failure;
    }
  }
  if (!w.has_metadata("ternary.version") &&
      !check(w.add_metadata("ternary.version", version_string()))) {
    return exit_failure;
  }
  hf_scales->reserve(in.items.size());  // pointers into it must stay valid
  for (auto& it : in.items) {
    if (it.ternary && hf) {
      buffers->emplace_back();
      float scale = 0;
      bool exact = false;
      if (interop::export_hf_bitnet(*it.m, &buffers->back(), &scale,
                                    interop::hf_scale_convention::bitlinear,
                                    &exact) != status::ok) {
        fail_tensor(it.name, it.source +
                                 " cannot be written as Hugging Face BitNet weights "
                                 "without loss");
        return exit_failure;
      }
      if (!exact && !o.allow_inexact_scale) {
        report_error(fmt::format(
            "tensor '{}': no fp32 weight_scale w has 1/w equal to its scale {} exactly (the "
            "bitlinear convention stores the inverse); --allow-inexact-scale accepts 1/w = {}",
            it.name, scale_at(it.m->view(), 0, 0, 0), 1.0f / scale));
        return exit_failure;
      }
      hf_scales->push_back(scale);
      const std::vector<int64_t> shape = {(it.m->rows() + 3) / 4, it.m->cols()};
      const std::vector<int64_t> one = {1};
      if (!check(w.add_tensor(it.name, st::dtype::u8, shape, buffers->back().data(),
                              buffers->back().size())) ||
          !check(w.add_tensor(it.name + "_scale", st::dtype::f32, one, &hf_scales->back(),
                              sizeof(float)))) {
        return exit_failure;
      }
    } else if (it.ternary) {
      const packed_matrix* m = it.m.get();
      if (!keep_format && m->fmt() != fmt) {
        repacked->push_back(std::make_unique<packed_matrix>());
        if (repack(*m, fmt, repacked->back().get()) != status::ok) {
          fail_tensor(it.name, fmt::format("{} cannot be packed as {} without loss", it.source,
                                           format_name(fmt)));
          return exit_failure;
        }
        m = repacked->back().get();
      }
      if (!check(st::store_packed(w, it.name, *m, {{"source", it.source}}))) return exit_failure;
    } else {
      const plain_tensor& p = it.plain;
      st::dtype t = p.dtype;
      if (p.from_gguf && !safetensors_type_of(p.gguf_type, &t)) {
        report_error(
            fmt::format("tensor '{}': safetensors has no type for GGUF {} (only F32, "
                        "F16, BF16, F64 and integer tensors are copied)",
                        p.name, it.source));
        return exit_failure;
      }
      if (!check(w.add_tensor(p.name, t, p.shape, p.data, p.bytes))) return exit_failure;
    }
  }
  return check(w.write(o.output.c_str())) ? exit_ok : exit_failure;
}

/// Reads the input of a conversion: exit_ok, or the exit code after reporting the error.
int read_input(const std::string& path, const std::string& hf_convention, input_file* in) {
  interop::hf_scale_convention hf = interop::hf_scale_convention::bitlinear;
  if (!interop::parse_hf_scale_convention(hf_convention.c_str(), &hf)) {
    report_error(fmt::format("unknown --hf-convention '{}'", hf_convention));
    return exit_usage;
  }
  std::string why;
  bool ok = false;
  switch (detect_file_kind(path, &why)) {
    case file_kind::gguf: ok = read_gguf(path, in); break;
    case file_kind::safetensors: ok = read_safetensors(path, hf, in); break;
    case file_kind::ternary_container: {
      item it;
      it.ternary = true;
      it.name = "weight";
      it.m = std::make_unique<packed_matrix>();
      ok = check(packed_matrix::load(path.c_str(), it.m.get()));
      it.source = ok ? "ternary " + packed_layout_text(*it.m) : "";
      in->items.push_back(std::move(it));
      break;
    }
    case file_kind::unknown: report_error(why); break;
  }
  return ok ? exit_ok : exit_failure;
}

}  // namespace

int read_convert_input(const std::string& path, const std::string& hf_convention, size_t* tensors,
                       size_t* ternary) {
  input_file in;
  const int rc = read_input(path, hf_convention, &in);
  if (rc != exit_ok) return rc;
  size_t ternary_count = 0;
  for (const auto& it : in.items) ternary_count += it.ternary ? 1 : 0;
  if (tensors) *tensors = in.items.size();
  if (ternary) *ternary = ternary_count;
  return exit_ok;
}

int run_convert(const convert_options& o) {
  input_file in;
  const int read_rc = read_input(o.input, o.hf_convention, &in);
  if (read_rc != exit_ok) return read_rc;

  size_t ternary_count = 0;
  for (const auto& it : in.items) ternary_count += it.ternary ? 1 : 0;
  if (ternary_count == 0) {
    report_error(
        fmt::format("'{}' holds no ternary tensor (GGUF TQ1_0/TQ2_0/I2_S, Hugging Face "
                    "BitNet packed weights or the library's packed matrices); "
                    "`ternary quantize` ternarizes float weights",
                    o.input));
    return exit_failure;
  }

  std::vector<std::vector<uint8_t>> buffers;
  buffers.reserve(in.items.size());  // the writers reference these bytes until write()
  std::vector<std::unique_ptr<packed_matrix>> repacked;
  std::vector<float> hf_scales;
  int rc = exit_failure;
  interop::foreign_format foreign{};
  if (o.to == "bits2" || o.to == "base3" || o.to == "sherry" || o.to == "ternary") {
    format f = o.to == "base3" ? format::base3 : o.to == "sherry" ? format::sherry : format::bits2;
    rc = write_safetensors(o, false, f, o.to == "ternary", in, &buffers, &repacked, &hf_scales);
  } else if (interop::parse_foreign_format(o.to.c_str(), &foreign)) {
    if (foreign == interop::foreign_format::hf_bitnet) {
      rc = write_safetensors(o, true, format::bits2, true, in, &buffers, &repacked, &hf_scales);
    } else {
      rc = write_gguf(o, foreign, in, &buffers);
    }
  } else {
    report_error(fmt::format("unknown --to '{}'", o.to));
    return exit_usage;
  }
  if (rc != exit_ok) return rc;
  if (!o.quiet) {
    fmt::print("{} ternary tensor(s) -> {}, {} other tensor(s) copied; wrote {}\n", ternary_count,
               o.to, in.items.size() - ternary_count, o.output);
  }
  return exit_ok;
}

void register_convert(CLI::App& app) {
  auto o = std::make_shared<convert_options>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Convert ternary weights between GGUF, Hugging Face BitNet and the library's "
      "packing, losslessly");
  cmd->add_option("input", o->input, "Input file: GGUF, safetensors or packed-matrix container")
      ->required();
  cmd->add_option("output", o->output, "Output file (written atomically)")->required();
  cmd->add_option("--to", o->to,
                  "tq1_0, tq2_0, i2_s (GGUF); hf_bitnet, bits2, base3, sherry, ternary "
                  "(safetensors; ternary keeps each matrix's format)")
      ->required()
      ->check(CLI::IsMember(
          {"tq1_0", "tq2_0", "i2_s", "hf_bitnet", "bits2", "base3", "sherry", "ternary"}));
  cmd->add_option("--hf-convention", o->hf_convention,
                  "Meaning of an input Hugging Face weight_scale: bitlinear (1/alpha) or "
                  "autobitlinear (alpha)")
      ->check(CLI::IsMember({"bitlinear", "autobitlinear"}))
      ->capture_default_str();
  cmd->add_option("--arch", o->arch, "general.architecture of a GGUF output");
  cmd->add_flag("--allow-inexact-scale", o->allow_inexact_scale,
                "hf_bitnet: accept a weight_scale whose inverse is off by one rounding");
  cmd->add_flag("--quiet,-q", o->quiet, "No summary line");
  cmd->footer(
      "A matrix the target cannot hold exactly (two trit planes, a bias, scales that differ\n"
      "inside one target block, a zero pattern Sherry cannot store) is refused with the reason;\n"
      "nothing is written then. Hugging Face output uses the bitlinear convention.");
  cmd->callback([o]() {
    const int rc = run_convert(*o);
    if (rc != exit_ok) exit_with(rc);
  });
}

}  // namespace cli
}  // namespace ternary
