// SPDX-License-Identifier: Apache-2.0
#include "files.hpp"

#include <cstring>
#include <fstream>
#include <unistd.h>

#include <fmt/core.h>

namespace ternary {
namespace cli {

file_kind detect_file_kind(const std::string& path, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = fmt::format("cannot open '{}': {}", path, std::strerror(errno));
    return file_kind::unknown;
  }
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = static_cast<size_t>(in.gcount());
  if (got >= 4 && std::memcmp(head, "GGUF", 4) == 0) return file_kind::gguf;
  if (got >= 8 && std::memcmp(head, "TERNARY\x1a", 8) == 0) return file_kind::ternary_container;
  if (got == 9 && head[8] == '{') return file_kind::safetensors;
  *why = got < 9 ? fmt::format("'{}' is too short ({} bytes) to be a GGUF or safetensors file",
                               path, got)
                 : fmt::format(
                       "'{}' is neither a GGUF file (no \"GGUF\" magic) nor a "
                       "safetensors file (no JSON header after the length)",
                       path);
  return file_kind::unknown;
}

bool glob_match(const std::string& pattern, const std::string& text) {
  // Iterative matcher with one backtracking point (the last '*').
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool any_match(const std::vector<std::string>& patterns, const std::string& text) {
  for (const auto& p : patterns) {
    if (glob_match(p, text)) return true;
  }
  return false;
}

const io::safetensors::tensor_info* hf_bitnet_scale(const io::safetensors::reader& r,
                                                    const io::safetensors::tensor_info& t) {
  if (t.type != io::safetensors::dtype::u8 || t.shape.size() != 2) return nullptr;
  return r.find(t.name + "_scale");
}

std::set<std::string> packed_companions(const std::vector<std::string>& packed) {
  std::set<std::string> names;
  for (const auto& p : packed) {
    names.insert(p + ".ternary_scale");
    names.insert(p + ".ternary_bias");
  }
  return names;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

std::string format_bytes(double bytes) {
  if (bytes < 1024.0) return fmt::format("{:.0f} B", bytes);
  if (bytes < 1024.0 * 1024.0) return fmt::format("{:.2f} KiB", bytes / 1024.0);
  if (bytes < 1024.0 * 1024.0 * 1024.0) return fmt::format("{:.2f} MiB", bytes / 1048576.0);
  return fmt::format("{:.2f} GiB", bytes / 1073741824.0);
}

std::string format_time(double seconds) {
  if (seconds < 1e-3) return fmt::format("{:.1f} µs", seconds * 1e6);
  if (seconds < 1.0) return fmt::format("{:.2f} ms", seconds * 1e3);
  return fmt::format("{:.2f} s", seconds);
}

std::string packed_layout_text(const packed_matrix& m) {
  const matrix_desc& d = m.desc();
  std::string scales;
  switch (d.granularity) {
    case scale_granularity::per_tensor: scales = "tensor"; break;
    case scale_granularity::per_row: scales = "row"; break;
    case scale_granularity::per_group: scales = fmt::format("g{}", d.group_size); break;
  }
  std::string s =
      fmt::format("{} {} {}", format_name(d.fmt), scales, scale_type_name(d.scale_dtype));
  if (d.planes == 2) s += " x2";
  if (d.has_bias) s += " +bias";
  return s;
}

double packed_bits_per_weight(const packed_matrix& m) {
  const matrix_desc& d = m.desc();
  const double scale_bytes = static_cast<double>(m.scale_count()) *
                             (d.scale_dtype == scale_type::f16 ? 2.0 : 4.0) * d.planes;
  const double bias_bytes = d.has_bias ? 4.0 * static_cast<double>(d.rows) : 0.0;
  const double weights = static_cast<double>(d.rows) * static_cast<double>(d.cols);
  return (static_cast<double>(m.weight_bytes()) + scale_bytes + bias_bytes) * 8.0 / weights;
}

status repack(const packed_matrix& in, format f, packed_matrix* out) {
  matrix_desc d = in.desc();
  if (d.fmt == f) {
    *out = in;
    return status::ok;
  }
  d.fmt = f;
  const auto n = static_cast<size_t>(d.rows), k = static_cast<size_t>(d.cols);
  std::vector<int8_t> trits[2];
  std::vector<float> scales[2];
  const int8_t* tp[2] = {nullptr, nullptr};
  const float* sp[2] = {nullptr, nullptr};
  for (int p = 0; p < d.planes; ++p) {
    trits[p].resize(n * k);
    scales[p].resize(static_cast<size_t>(in.scale_count()));
    status s = in.unpack_trits(p, trits[p].data(), d.cols);
    if (s == status::ok) s = in.unpack_scales(p, scales[p].data());
    if (s != status::ok) return s;
    tp[p] = trits[p].data();
    sp[p] = scales[p].data();
  }
  std::vector<float> bias;
  if (d.has_bias) {
    const float* b = in.view().bias;
    bias.assign(b, b + n);
  }
  return packed_matrix::pack(d, tp, d.cols, sp, d.has_bias ? bias.data() : nullptr, out);
}

progress_line::progress_line(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO) != 0) {}

progress_line::~progress_line() { finish(); }

void progress_line::update(const std::string& text) {
  if (!enabled_) return;
  std::string line = text.size() > 118 ? text.substr(0, 115) + "..." : text;
  const size_t width = line.size();
  if (width < last_width_) line.append(last_width_ - width, ' ');
  fmt::print(stderr, "\r{}", line);
  std::fflush(stderr);
  last_width_ = width;
}

void progress_line::finish() {
  if (!enabled_ || last_width_ == 0) return;
  fmt::print(stderr, "\r{}\r", std::string(last_width_, ' '));
  std::fflush(stderr);
  last_width_ = 0;
}

}  // namespace cli
}  // namespace ternary
