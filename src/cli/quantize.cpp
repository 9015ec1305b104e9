// SPDX-License-Identifier: Apache-2.0
// `ternary quantize IN.safetensors OUT.safetensors`: ternarizes the float matrices of a
// safetensors file with ternary::quant and writes them in the library's packing
// (docs/IO_FILES.md, "Packed matrices"); every other tensor and the metadata are copied
// unchanged. The output is written atomically, only after every tensor succeeded.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "files.hpp"
#include "table.hpp"
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "ternary/io/safetensors.hpp"
#include "ternary/quant.hpp"
#include "ternary/ternary.hpp"

namespace ternary {
namespace cli {
namespace {

namespace st = io::safetensors;

struct quantize_options {
  std::string input;
  std::string output;
  std::string method = "optimal";
  std::string format_name = "bits2";
  int64_t group = 0;
  bool per_tensor = false;
  std::string scale_dtype = "f32";
  std::vector<std::string> tensors;
  std::vector<std::string> exclude;
  std::string calib;
  double threshold = 0.0;
  bool refit = false;
  int64_t threads = 0;
  bool lenient = false;
  bool quiet = false;
  bool no_progress = false;
};

bool is_float(st::dtype t) {
  return t == st::dtype::f32 || t == st::dtype::f16 || t == st::dtype::bf16;
}

/// The calibration activations of weight `name`: a float tensor [tokens, K] stored under the
/// weight's own name or under its module name (the name without a trailing ".weight").
const st::tensor_info* find_calibration(const st::reader& calib, const std::string& name) {
  if (const auto* t = calib.find(name)) return t;
  const std::string suffix = ".weight";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return calib.find(name.substr(0, name.size() - suffix.size()));
  }
  return nullptr;
}

struct result_row {
  std::string name;
  std::string shape;
  std::string layout;
  double bits = 0;
  quant::stats stats;
  bool calibrated = false;
  double seconds = 0;
};

int run_quantize(const quantize_options& o) {
  quant::options qo;
  if (!quant::parse_method(o.method.c_str(), &qo.algo)) {
    report_error(fmt::format("unknown method '{}'", o.method));
    return exit_usage;
  }
  if (o.format_name == "bits2") {
    qo.fmt = format::bits2;
  } else if (o.format_name == "base3") {
    qo.fmt = format::base3;
  } else if (o.format_name == "sherry") {
    qo.fmt = format::sherry;
  } else {
    report_error(fmt::format("unknown format '{}' (bits2, base3 or sherry)", o.format_name));
    return exit_usage;
  }
  if (o.per_tensor && o.group != 0) {
    report_error("--per-tensor and --group are exclusive");
    return exit_usage;
  }
  if (o.per_tensor) {
    qo.granularity = scale_granularity::per_tensor;
  } else if (o.group > 0) {
    qo.granularity = scale_granularity::per_group;
    qo.group_size = o.group;
  }
  qo.scale_dtype = o.scale_dtype == "f16" ? scale_type::f16 : scale_type::f32;
  qo.threshold_factor = o.threshold;
  qo.refit_scale = o.refit;
  qo.threads = static_cast<int>(o.threads);
  qo.lenient_nonfinite = o.lenient;

  st::reader in;
  if (!check(st::reader::open(o.input.c_str(), &in))) return exit_failure;
  st::reader calib;
  if (!o.calib.empty() && !check(st::reader::open(o.calib.c_str(), &calib))) return exit_failure;

  const std::vector<std::string> patterns =
      o.tensors.empty() ? std::vector<std::string>{"*.weight"} : o.tensors;

  auto chosen = [&](const st::tensor_info& t) {
    return any_match(patterns, t.name) && !any_match(o.exclude, t.name) && is_float(t.type) &&
           t.shape.size() == 2 && t.numel != 0;
  };
  // Count first, so the progress line can say "[i/n]".
  size_t to_do = 0;
  for (const auto& t : in.tensors()) to_do += chosen(t) ? 1 : 0;
  if (to_do == 0) {
    report_error(fmt::format(
        "no 2-D float tensor of '{}' matches {}", o.input,
        o.tensors.empty() ? "the default pattern '*.weight'" : "the --tensors patterns"));
    return exit_failure;
  }

  st::writer out;
  // The input's metadata first (entries the library writes itself are replaced).
  for (const auto& kv : in.metadata()) {
    if (kv.first.rfind("ternary.", 0) == 0) continue;
    if (!check(out.add_metadata(kv.first, kv.second))) return exit_failure;
  }
  if (!check(out.add_metadata("ternary.version", version_string()))) return exit_failure;

  std::vector<std::unique_ptr<packed_matrix>> packed;  // referenced by `out` until write()
  std::vector<result_row> rows;
  progress_line progress(!o.quiet && !o.no_progress);
  std::vector<float> w, x;
  size_t done = 0;
  for (const auto& t : in.tensors()) {
    if (!chosen(t)) {
      if (in.find_metadata("ternary." + t.name) != nullptr) {
        report_error(fmt::format("'{}' is already a packed ternary matrix", t.name));
        return exit_failure;
      }
      if (!check(out.add_tensor(t.name, t.type, t.shape, t.data, t.bytes()))) return exit_failure;
      continue;
    }
    ++done;
    progress.update(fmt::format("[{}/{}] {} {}", done, to_do, t.name, shape_text(t.shape)));
    const int64_t n = t.shape[0], k = t.shape[1];
    w.resize(static_cast<size_t>(t.numel));
    if (!check(st::to_f32(t, w.data(), w.size()))) {
      progress.finish();
      report_error(fmt::format("tensor '{}': cannot read it as fp32", t.name));
      return exit_failure;
    }
    quant::options opt = qo;
    quant::calibration cal;
    bool calibrated = false;
    if (calib.is_open()) {
      if (const st::tensor_info* ct = find_calibration(calib, t.name)) {
        if (!is_float(ct->type) || ct->shape.size() != 2 || ct->shape[1] != k) {
          progress.finish();
          report_error(fmt::format(
              "calibration tensor '{}' of '{}' must be a float [tokens, {}] matrix, got {} {}",
              ct->name, o.calib, k, st::dtype_name(ct->type), shape_text(ct->shape)));
          return exit_failure;
        }
        x.resize(static_cast<size_t>(ct->numel));
        if (!check(st::to_f32(*ct, x.data(), x.size()))) return exit_failure;
        cal.x = x.data();
        cal.tokens = ct->shape[0];
        cal.ld_x = k;
        opt.calib = &cal;
        calibrated = true;
      }
    }
    auto m = std::make_unique<packed_matrix>();
    result_row r;
    const auto t0 = std::chrono::steady_clock::now();
    const status s = quant::ternarize(w.data(), n, k, k, opt, m.get(), &r.stats);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s != status::ok) {
      progress.finish();
      const char* msg = last_error_message();
      report_error(fmt::format("tensor '{}' ({}): {}", t.name, shape_text(t.shape),
                               msg != nullptr && msg[0] ? msg : status_name(s)));
      return exit_failure;
    }
    st::string_pairs extras = {{"method", quant::method_name(qo.algo)},
                               {"source_dtype", st::dtype_name(t.type)}};
    if (calibrated) extras.emplace_back("calibrated", "true");
    if (!check(st::store_packed(out, t.name, *m, extras))) return exit_failure;
    r.name = t.name;
    r.shape = shape_text(t.shape);
    r.layout = packed_layout_text(*m);
    r.bits = packed_bits_per_weight(*m);
    r.calibrated = calibrated;
    rows.push_back(r);
    packed.push_back(std::move(m));
  }
  progress.update(fmt::format("writing {}", o.output));
  const status ws = out.write(o.output.c_str());
  progress.finish();
  if (!check(ws)) return exit_failure;

  if (!o.quiet) {
    text_table table({{"tensor"},
                      {"shape"},
                      {"packing"},
                      {"bits/w", text_table::align::right},
                      {"weight err", text_table::align::right},
                      {"output err", text_table::align::right},
                      {"zeros", text_table::align::right},
                      {"time", text_table::align::right}});
    double total_bits = 0, total_weights = 0;
    for (const auto& r : rows) {
      const std::string zeros =
          r.stats.zero_fraction[1] > 0 || r.layout.find("x2") != std::string::npos
              ? fmt::format("{:.1f}%/{:.1f}%", 100 * r.stats.zero_fraction[0],
                            100 * r.stats.zero_fraction[1])
              : fmt::format("{:.1f}%", 100 * r.stats.zero_fraction[0]);
      table.add_row({r.name, r.shape, r.layout, fmt::format("{:.3f}", r.bits),
                     fmt::format("{:.4f}", r.stats.rel_error),
                     r.calibrated ? fmt::format("{:.4f}", r.stats.output_rel_error) : "-", zeros,
                     format_time(r.seconds)});
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      const double weights =
          static_cast<double>(packed[i]->rows()) * static_cast<double>(packed[i]->cols());
      total_bits += rows[i].bits * weights;
      total_weights += weights;
    }
    table.print(stdout);
    fmt::print(
        "\n{} tensor(s) ternarized with {} ({:.3f} bits/weight on average), {} copied; "
        "wrote {}\n",
        rows.size(), quant::method_name(qo.algo), total_bits / total_weights,
        in.tensors().size() - rows.size(), o.output);
    fmt::print(
        "weight err = ||W - W_hat||_F / ||W||_F; output err = ||X (W - W_hat)^T|| / "
        "||X W^T|| on the calibration activations\n");
  }
  return exit_ok;
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto o = std::make_shared<quantize_options>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Ternarize the float matrices of a safetensors file into packed ternary ones");
  cmd->add_option("input", o->input, "Input .safetensors file")->required();
  cmd->add_option("output", o->output, "Output .safetensors file (written atomically)")->required();
  cmd->add_option("--method,-m", o->method,
                  "twn, optimal, absmean, ttq, ttq_optimal, ptqtp, ptqtp_global or sherry")
      ->capture_default_str();
  cmd->add_option("--format,-f", o->format_name, "Packed format: bits2, base3 or sherry")
      ->check(CLI::IsMember({"bits2", "base3", "sherry"}))
      ->capture_default_str();
  cmd->add_option("--group,-g", o->group, "Scale group size G along K (0 = one scale per row)")
      ->check(integer_in(0, no_limit, chunk_trits))
      ->capture_default_str();
  cmd->add_flag("--per-tensor", o->per_tensor, "One scale per tensor");
  cmd->add_option("--scale-dtype", o->scale_dtype, "Stored scale type: f32 or f16")
      ->check(CLI::IsMember({"f32", "f16"}))
      ->capture_default_str();
  cmd->add_option("--tensors,-t", o->tensors,
                  "Glob(s) of tensor names to ternarize (default '*.weight'); only 2-D "
                  "F32/F16/BF16 tensors are taken");
  cmd->add_option("--exclude,-x", o->exclude, "Glob(s) of tensor names to leave unchanged");
  cmd->add_option("--calib", o->calib,
                  "safetensors file of calibration activations: for weight 'a.b.weight' a "
                  "float [tokens, K] tensor named 'a.b.weight' or 'a.b' (activation-aware mode)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--threshold", o->threshold,
                  "twn: threshold / mean|w| (default 0.7); ttq: threshold / max|w| (0.05)");
  cmd->add_flag("--refit-scale", o->refit, "absmean: least-squares scale on its mask");
  cmd->add_option("--threads", o->threads, "Worker threads (0 = all)")
      ->check(integer_in(0, 1024))
      ->capture_default_str();
  cmd->add_flag("--lenient-nonfinite", o->lenient,
                "Treat NaN/Inf weights as 0 (counted) instead of failing");
  cmd->add_flag("--quiet,-q", o->quiet, "No report and no progress line");
  cmd->add_flag("--no-progress", o->no_progress, "No progress line on the terminal");
  cmd->footer(
      "Tensors not ternarized are copied unchanged with the input's metadata. Nothing is\n"
      "written unless every tensor succeeds. docs/QUANT.md describes the methods.");
  cmd->callback([o]() {
    const int rc = run_quantize(*o);
    if (rc != exit_ok) exit_with(rc);
  });
}

}  // namespace cli
}  // namespace ternary
