// SPDX-License-Identifier: Apache-2.0
// `ternary demo`: an end-to-end tour of the library on a synthetic matrix.
//
//   1. W (N x K) ~ N(0, 1) from std::mt19937_64(seed); X (T x K) ~ N(0, 1) from a second stream.
//   2. Run every ternarizer of ternary::quant on the first --quant-rows rows and print a table.
//   3. Ternarize the whole W with ternary::quant: BitNet absmean per row and per group of G,
//      Sherry 3:4 per row, and PTQTP trit planes per row; check the round trip (dequantize()
//      must equal the unpacked scales times the unpacked trits exactly); report
//      ||W - W_hat||_F / ||W||_F.
//   4. Run GEMV (token 0) and GEMM (T tokens) through ternary::gemv / ternary::gemm on the int8
//      and the f32 activation paths, compare with ref::gemm_int8 (bit-exact) and ref::gemm_f32
//      (relative tolerance) on a subset of rows, and time each kernel (best of --reps).

#include "demo.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "files.hpp"
#include "table.hpp"
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "ternary/quant.hpp"
#include "ternary/ref/gemm.hpp"
#include "ternary/ref/quantize.hpp"
#include "ternary/ternary.hpp"

namespace ternary {
namespace cli {
namespace {

/// Largest accepted max|y - ref| / max|ref| on the f32 path.
constexpr double f32_tolerance = 1e-4;
/// A kernel stops repeating once its runs have taken this long (at least one run always).
constexpr double time_budget_s = 0.1;
/// Largest --tokens.
constexpr int64_t max_tokens = 65536;
/// Largest --threads.
constexpr int64_t max_threads = 1024;

struct demo_options {
  int64_t rows = 4096;
  int64_t cols = 4096;
  int64_t tokens = 8;
  int64_t group = 128;
  int64_t threads = 1;
  uint64_t seed = 1;
  std::string isa;
  int64_t reps = 5;
  int64_t check_rows = 64;
  int64_t quant_rows = 512;
};

/// One packed variant of the matrix.
struct variant {
  std::string format_label;  ///< e.g. "bits2", "bits2 x2"
  std::string scales_label;  ///< e.g. "row f32", "g128 f16"
  matrix_desc desc;
  quant::method algo = quant::method::absmean;
  packed_matrix w;
  double rel_error = 0.0;          ///< ||W - W_hat||_F / ||W||_F from w.dequantize()
  int64_t roundtrip_mismatch = 0;  ///< elements where dequantize() != sum alpha * t
};

// ---------------------------------------------------------------------------------------------
// Ternarizing and packing

/// Ternarizes W into v.w with ternary::quant (v.algo, v.desc's layout), takes the weight error
/// from its statistics, and checks dequantize() against the unpacked trits times the unpacked
/// scales. `buffer` is scratch of rows * cols floats.
void make_variant(variant& v, const std::vector<float>& w, int threads,
                  std::vector<float>& buffer) {
  const int64_t rows = v.desc.rows;
  const int64_t cols = v.desc.cols;
  quant::options qo;
  qo.algo = v.algo;
  qo.fmt = v.desc.fmt;
  qo.granularity = v.desc.granularity;
  qo.group_size = v.desc.group_size;
  qo.scale_dtype = v.desc.scale_dtype;
  qo.threads = threads;
  quant::stats st;
  check_or_exit(quant::ternarize(w.data(), rows, cols, cols, qo, &v.w, &st));
  v.rel_error = st.rel_error;
  check_or_exit(v.w.dequantize(buffer.data(), cols));

  const bool grouped = v.desc.granularity == scale_granularity::per_group;
  const int64_t group = grouped ? v.desc.group_size : cols;
  const int64_t groups = (cols + group - 1) / group;
  std::vector<int8_t> trits[2];
  std::vector<float> scales[2];
  for (int p = 0; p < v.w.planes(); ++p) {
    trits[p].resize(static_cast<size_t>(rows * cols));
    scales[p].resize(static_cast<size_t>(v.w.scale_count()));
    check_or_exit(v.w.unpack_trits(p, trits[p].data(), cols));
    check_or_exit(v.w.unpack_scales(p, scales[p].data()));
  }
  int64_t mismatch = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t end = std::min(cols, (g + 1) * group);
      size_t si = 0;
      if (v.desc.granularity == scale_granularity::per_row) si = static_cast<size_t>(r);
      if (grouped) si = static_cast<size_t>(r * groups + g);
      for (int64_t k = g * group; k < end; ++k) {
        const size_t at = static_cast<size_t>(r * cols + k);
        float expect = 0.0f;
        for (int p = 0; p < v.w.planes(); ++p) {
          expect += scales[p][si] * static_cast<float>(trits[p][at]);
        }
        mismatch += buffer[at] == expect ? 0 : 1;
      }
    }
  }
  v.roundtrip_mismatch = mismatch;
}

/// Every ternarizer on the first `rows` rows of W: bits per weight, weight error, zeros, time.
void print_ternarizer_table(const std::vector<float>& w, int64_t rows, int64_t cols, int64_t group,
                            int threads) {
  struct entry {
    quant::method algo;
    format fmt;
    int64_t group;
  };
  const entry entries[] = {
      {quant::method::twn, format::bits2, 0},
      {quant::method::optimal, format::bits2, 0},
      {quant::method::optimal, format::base3, group},
      {quant::method::absmean, format::bits2, 0},
      {quant::method::ttq, format::bits2, 0},
      {quant::method::ttq_optimal, format::bits2, 0},
      {quant::method::sherry, format::sherry, 0},
      {quant::method::ptqtp, format::bits2, group},
      {quant::method::ptqtp_global, format::bits2, group},
  };
  text_table table({{"method", text_table::align::left},
                    {"format", text_table::align::left},
                    {"scales", text_table::align::left},
                    {"planes", text_table::align::right},
                    {"bits/w", text_table::align::right},
                    {"weight err", text_table::align::right},
                    {"zeros", text_table::align::right},
                    {"scale range", text_table::align::right},
                    {"time", text_table::align::right}});
  for (const entry& e : entries) {
    quant::options qo;
    qo.algo = e.algo;
    qo.fmt = e.fmt;
    if (e.group > 0) {
      qo.granularity = scale_granularity::per_group;
      qo.group_size = e.group;
    }
    qo.threads = threads;
    quant::stats st;
    packed_matrix m;
    const auto t0 = std::chrono::steady_clock::now();
    check_or_exit(quant::ternarize(w.data(), rows, cols, cols, qo, &m, &st));
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int planes = m.planes();
    table.add_row(
        {quant::method_name(e.algo), format_name(e.fmt),
         e.group > 0 ? fmt::format("g{}", e.group) : "row", std::to_string(planes),
         fmt::format("{:.3f}", packed_bits_per_weight(m)), fmt::format("{:.4f}", st.rel_error),
         planes == 2
             ? fmt::format("{:.0f}%/{:.0f}%", 100 * st.zero_fraction[0], 100 * st.zero_fraction[1])
             : fmt::format("{:.0f}%", 100 * st.zero_fraction[0]),
         fmt::format("{:.3g}..{:.3g}", st.scale_min, st.scale_max), format_time(dt)});
  }
  fmt::print("ternarizers on rows [0, {}) of W (ternary::quant, {} thread{}):\n", rows, threads,
             threads == 1 ? "" : "s");
  table.print(stdout);
  fmt::print("\n");
}

// ---------------------------------------------------------------------------------------------
// Formatting

/// Lays out `items` after `head` in lines of at most `width` columns, each item followed by
/// `sep` (but the last) and never split; continuation lines are indented by 4.
std::string wrap(const std::string& head, const std::vector<std::string>& items,
                 const std::string& sep, size_t width = 100) {
  const std::string indent(4, ' ');
  std::string out = head;
  size_t line = text_table::display_width(head);
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string item = items[i] + (i + 1 < items.size() ? sep : "");
    const size_t w = text_table::display_width(item);
    if (line + 1 + w > width && line > indent.size()) {
      out += "\n" + indent + item;
      line = indent.size() + w;
    } else {
      out += (line > 0 ? " " : "") + item;
      line += (line > 0 ? 1 : 0) + w;
    }
  }
  return out;
}

/// `text` wrapped at word boundaries (see wrap()).
std::string wrap_words(const std::string& text, size_t width = 100) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    const size_t j = std::min(text.find(' ', i), text.size());
    if (j > i) words.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return wrap("", words, "", width);
}

// ---------------------------------------------------------------------------------------------
// Checking

/// The rows compared against the reference: [0, check_rows) and the last row.
std::vector<std::pair<int64_t, int64_t>> checked_ranges(int64_t rows, int64_t check_rows) {
  if (check_rows <= 0 || check_rows >= rows - 1) return {{0, rows}};
  return {{0, check_rows}, {rows - 1, rows}};
}

int64_t count_rows(const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  int64_t n = 0;
  for (const auto& r : ranges) n += r.second - r.first;
  return n;
}

/// Bitwise mismatches between y and ref over `tokens` tokens and the checked rows.
int64_t count_mismatches(const float* y, const float* ref, int64_t tokens, int64_t ld,
                         const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  int64_t bad = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    for (const auto& range : ranges) {
      for (int64_t n = range.first; n < range.second; ++n) {
        if (std::memcmp(&y[t * ld + n], &ref[t * ld + n], sizeof(float)) != 0) ++bad;
      }
    }
  }
  return bad;
}

/// max |y - ref| / max |ref| over `tokens` tokens and the checked rows (NaN counts as infinite).
double relative_error(const float* y, const float* ref, int64_t tokens, int64_t ld,
                      const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  double max_err = 0.0;
  double max_ref = 0.0;
  for (int64_t t = 0; t < tokens; ++t) {
    for (const auto& range : ranges) {
      for (int64_t n = range.first; n < range.second; ++n) {
        const double r = static_cast<double>(ref[t * ld + n]);
        const double d = std::fabs(static_cast<double>(y[t * ld + n]) - r);
        max_err = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(max_err, d);
        max_ref = std::max(max_ref, std::fabs(r));
      }
    }
  }
  return max_ref > 0.0 ? max_err / max_ref : max_err;
}

// ---------------------------------------------------------------------------------------------
// The demo

int run_demo(const demo_options& o) {
  if (!o.isa.empty()) {
    isa chosen = isa::scalar;
    if (parse_isa(o.isa.c_str(), &chosen) != status::ok) {
      report_error(
          fmt::format("--isa: unknown ISA '{}' (expected scalar, avx2, avx512 or neon)", o.isa));
      return exit_usage;
    }
    if (!check(set_isa(chosen))) return exit_usage;
  }

  const int64_t rows = o.rows;
  const int64_t cols = o.cols;
  const int64_t tokens = o.tokens;
  const std::string group_label = fmt::format("g{}", o.group);

  // The variants, validated before anything is allocated.
  const struct {
    format fmt;
    scale_granularity granularity;
    scale_type dtype;
    int planes;
    const char* format_label;
  } layouts[] = {
      {format::bits2, scale_granularity::per_row, scale_type::f32, 1, "bits2"},
      {format::base3, scale_granularity::per_row, scale_type::f32, 1, "base3"},
      {format::sherry, scale_granularity::per_row, scale_type::f32, 1, "sherry"},
      {format::bits2, scale_granularity::per_group, scale_type::f32, 1, "bits2"},
      {format::base3, scale_granularity::per_group, scale_type::f32, 1, "base3"},
      {format::bits2, scale_granularity::per_group, scale_type::f16, 1, "bits2"},
      {format::bits2, scale_granularity::per_row, scale_type::f32, 2, "bits2 x2"},
  };
  std::vector<variant> variants;
  for (const auto& l : layouts) {
    variant v;
    v.format_label = l.format_label;
    v.scales_label =
        fmt::format("{} {}", l.granularity == scale_granularity::per_group ? group_label : "row",
                    scale_type_name(l.dtype));
    v.desc.fmt = l.fmt;
    v.desc.rows = rows;
    v.desc.cols = cols;
    v.desc.granularity = l.granularity;
    v.desc.group_size = l.granularity == scale_granularity::per_group ? o.group : 0;
    v.desc.scale_dtype = l.dtype;
    v.desc.planes = l.planes;
    if (!check(validate(v.desc))) return exit_usage;
    variants.push_back(std::move(v));
  }

  fmt::print("ternary {} demo: W {} x {} ~ N(0,1), X {} x {} ~ N(0,1), seed {}, group {}\n",
             version_string(), rows, cols, tokens, cols, o.seed, o.group);
  fmt::print("isa {} (best {}), threads {}, cuda {}\n\n", isa_name(active_isa()),
             isa_name(best_isa()), o.threads, cuda_built() ? "built" : "not built");
  std::fflush(stdout);

  // Synthetic data.
  std::vector<float> w(static_cast<size_t>(rows * cols));
  {
    std::mt19937_64 rng(o.seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : w) v = normal(rng);
  }
  std::vector<float> x(static_cast<size_t>(tokens * cols));
  {
    std::mt19937_64 rng(o.seed ^ 0x9e3779b97f4a7c15ull);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);
  }

  // Ternarize and pack: BitNet absmean, Sherry 3:4, PTQTP trit planes.
  print_ternarizer_table(w, std::min(rows, o.quant_rows), cols, o.group,
                         static_cast<int>(o.threads));
  {
    std::vector<float> scratch(static_cast<size_t>(rows * cols));
    for (variant& v : variants) {
      v.algo = v.desc.fmt == format::sherry ? quant::method::sherry
               : v.desc.planes == 2         ? quant::method::ptqtp
                                            : quant::method::absmean;
      make_variant(v, w, static_cast<int>(o.threads), scratch);
    }
  }

  // Activations quantized by the library (the oracle's input), checked against ref.
  std::vector<int8_t> xq(static_cast<size_t>(tokens * cols));
  std::vector<float> xs(static_cast<size_t>(tokens));
  check_or_exit(quantize_activations(x.data(), tokens, cols, cols, xq.data(), cols, xs.data()));
  int64_t quant_mismatch = 0;
  {
    std::vector<int8_t> q(static_cast<size_t>(cols));
    for (int64_t t = 0; t < tokens; ++t) {
      const float s = ref::quantize_row(&x[static_cast<size_t>(t * cols)], cols, q.data());
      if (std::memcmp(&s, &xs[static_cast<size_t>(t)], sizeof s) != 0) ++quant_mismatch;
      for (int64_t k = 0; k < cols; ++k) {
        if (q[static_cast<size_t>(k)] != xq[static_cast<size_t>(t * cols + k)]) ++quant_mismatch;
      }
    }
  }

  const auto ranges = checked_ranges(rows, o.check_rows);
  const int64_t reps = o.reps;
  text_table table({{"format", text_table::align::left},
                    {"scales", text_table::align::left},
                    {"bits/w", text_table::align::right},
                    {"bytes", text_table::align::right},
                    {"op", text_table::align::left},
                    {"act", text_table::align::left},
                    {"kernel", text_table::align::left},
                    {"time", text_table::align::right},
                    {"weight GB/s", text_table::align::right},
                    {"max error", text_table::align::right}});
  int64_t int8_failures = 0;
  int64_t f32_failures = 0;
  double worst_f32 = 0.0;
  std::vector<float> y(static_cast<size_t>(tokens * rows));
  std::vector<float> ref_i8(static_cast<size_t>(tokens * rows));
  std::vector<float> ref_f32(static_cast<size_t>(tokens * rows));

  for (size_t vi = 0; vi < variants.size(); ++vi) {
    const variant& v = variants[vi];
    const packed_matrix& pw = v.w;
    const matrix_view& view = pw.view();
    for (const auto& range : ranges) {
      ref::gemm_int8(view, xq.data(), xs.data(), tokens, cols, ref_i8.data(), rows, range.first,
                     range.second);
      ref::gemm_f32(view, x.data(), tokens, cols, ref_f32.data(), rows, range.first, range.second);
    }
    const size_t scale_bytes = static_cast<size_t>(pw.scale_count()) *
                               static_cast<size_t>(pw.planes()) *
                               (v.desc.scale_dtype == scale_type::f16 ? 2u : 4u);
    const size_t total_bytes = pw.weight_bytes() + scale_bytes;
    const double bits = 8.0 * static_cast<double>(total_bytes) /
                        (static_cast<double>(rows) * static_cast<double>(cols));
    if (vi > 0) table.add_rule();

    for (const bool gemv_op : {true, false}) {
      const int64_t n_tok = gemv_op ? 1 : tokens;
      for (const act_path path : {act_path::int8, act_path::f32}) {
        gemm_options opt;
        opt.path = path;
        opt.threads = static_cast<int>(o.threads);
        const bool int8 = path == act_path::int8;
        std::fill(y.begin(), y.end(), std::numeric_limits<float>::quiet_NaN());

        double best = std::numeric_limits<double>::infinity();
        double spent = 0.0;
        for (int64_t r = 0; r < reps; ++r) {
          const auto t0 = std::chrono::steady_clock::now();
          const status s = gemv_op ? gemv(pw, x.data(), y.data(), opt)
                                   : gemm(pw, x.data(), tokens, cols, y.data(), rows, opt);
          const auto t1 = std::chrono::steady_clock::now();
          check_or_exit(s);
          const double dt = std::chrono::duration<double>(t1 - t0).count();
          best = std::min(best, dt);
          spent += dt;
          if (spent >= time_budget_s) break;
        }

        std::string error;
        if (int8) {
          const int64_t bad = count_mismatches(y.data(), ref_i8.data(), n_tok, rows, ranges);
          int8_failures += bad > 0 ? 1 : 0;
          error = bad == 0 ? "exact" : fmt::format("{} differ", bad);
        } else {
          const double e = relative_error(y.data(), ref_f32.data(), n_tok, rows, ranges);
          worst_f32 = std::max(worst_f32, e);
          f32_failures += e > f32_tolerance ? 1 : 0;
          error = fmt::format("{:.1e}{}", e, e > f32_tolerance ? " !" : "");
        }
        const char* kname = kernel_name(pw, int8 ? act_type::int8 : act_type::f32, opt);
        const bool first = gemv_op && int8;
        table.add_row(
            {first ? v.format_label : "", first ? v.scales_label : "",
             first ? fmt::format("{:.3f}", bits) : "",
             first ? format_bytes(static_cast<double>(total_bytes)) : "",
             gemv_op ? std::string("gemv") : fmt::format("gemm x{}", tokens), int8 ? "i8" : "f32",
             kname != nullptr && kname[0] ? kname : "-", format_time(best),
             fmt::format("{:.2f}", static_cast<double>(pw.weight_bytes()) / best / 1e9), error});
      }
    }
  }
  table.print(stdout);

  // Footer.
  const std::string checked = count_rows(ranges) == rows
                                  ? fmt::format("all {} rows", rows)
                                  : fmt::format("rows [0, {}) and row {} of {} (--check-rows)",
                                                ranges[0].second, rows - 1, rows);
  fmt::print("\n{}\n", wrap_words(fmt::format(
                           "checked: {} for every token; i8 must equal ref::gemm_int8 bit for "
                           "bit; f32 error is max|y-ref|/max|ref| against ref::gemm_f32 (limit "
                           "{:.0e}).",
                           checked, f32_tolerance)));
  fmt::print("{}\n", wrap_words(fmt::format(
                         "time: best of {} run{} (fewer once a kernel has run {} s); weight GB/s "
                         "= packed weight bytes / time. x2 = two trit planes, W_hat = a1*T1 + "
                         "a2*T2 (PTQTP).",
                         reps, reps == 1 ? "" : "s", time_budget_s)));
  std::vector<std::string> errors;
  for (const variant& v : variants) {
    errors.push_back(fmt::format("{}/{} {:.4f}", v.format_label, v.scales_label, v.rel_error));
  }
  fmt::print("{}\n", wrap("relative weight error ||W - W_hat||_F / ||W||_F:", errors, ","));

  std::vector<std::string> failures;
  if (int8_failures > 0) {
    failures.push_back(fmt::format("{} int8 result(s) not exact", int8_failures));
  }
  if (f32_failures > 0) {
    failures.push_back(fmt::format("{} f32 result(s) above {:.0e} (worst {:.2e})", f32_failures,
                                   f32_tolerance, worst_f32));
  }
  if (quant_mismatch > 0) {
    failures.push_back(fmt::format(
        "quantize_activations differs from ref::quantize_row in {} value(s)", quant_mismatch));
  }
  for (const variant& v : variants) {
    if (v.roundtrip_mismatch > 0) {
      failures.push_back(fmt::format("{}/{}: dequantize() differs from alpha*t in {} weight(s)",
                                     v.format_label, v.scales_label, v.roundtrip_mismatch));
    }
  }
  if (failures.empty()) {
    fmt::print("PASS: all int8 results bit-exact, f32 error <= {:.1e} (worst {:.1e}).\n",
               f32_tolerance, worst_f32);
    return exit_ok;
  }
  std::string joined;
  for (const auto& f : failures) joined += (joined.empty() ? "" : "; ") + f;
  fmt::print("FAIL: {}.\n", joined);
  return exit_failure;
}

}  // namespace

void register_demo(CLI::App& app) {
  auto opts = std::make_shared<demo_options>();
  CLI::App* cmd =
      app.add_subcommand("demo", "Pack a random matrix in every format; check and time GEMV/GEMM");
  cmd->add_option("--rows,-n", opts->rows, "Output rows N of the weight matrix")
      ->check(integer_in(1))
      ->capture_default_str();
  cmd->add_option("--cols,-k", opts->cols, "Input columns K (the reduction)")
      ->check(integer_in(1))
      ->capture_default_str();
  cmd->add_option("--tokens,-t", opts->tokens, "Tokens T of the GEMM")
      ->check(integer_in(1, max_tokens))
      ->capture_default_str();
  cmd->add_option("--group,-g", opts->group, "Columns per scale group G")
      ->check(integer_in(chunk_trits, no_limit, chunk_trits))
      ->capture_default_str();
  cmd->add_option("--threads", opts->threads, "Threads per kernel call (0 = all)")
      ->check(integer_in(0, max_threads))
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Seed of the random weights and activations")
      ->capture_default_str();
  cmd->add_option("--isa", opts->isa, "Force a CPU ISA: scalar, avx2, avx512, neon");
  cmd->add_option("--reps", opts->reps, "Timed runs per kernel (best reported)")
      ->check(integer_in(1))
      ->capture_default_str();
  cmd->add_option("--check-rows", opts->check_rows,
                  "Rows checked against the scalar reference, plus the last (0 = all)")
      ->check(integer_in(0))
      ->capture_default_str();
  cmd->add_option("--quant-rows", opts->quant_rows,
                  "Rows of W the ternarizer table runs every method on")
      ->check(integer_in(1))
      ->capture_default_str();
  cmd->footer(fmt::format(
      "Weights are ternarized with BitNet absmean (per row, per group), Sherry 3:4 and PTQTP\n"
      "trit planes (ternary::quant). Exit status 1 if an int8 result is not bit-exact or an f32 "
      "result is off by\n"
      "more than {:.0e} of max|ref|.",
      f32_tolerance));
  cmd->callback([opts]() {
    const int rc = run_demo(*opts);
    if (rc != exit_ok) exit_with(rc);
  });
}

}  // namespace cli
}  // namespace ternary
