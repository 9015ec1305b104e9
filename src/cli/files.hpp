// SPDX-License-Identifier: Apache-2.0
// File plumbing shared by `ternary quantize`, `inspect` and `convert`: what kind of file a path
// holds, glob matching of tensor names, fp32 views of float tensors, number formatting, and a
// progress line on a terminal.
#pragma once

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "ternary/format/format.hpp"
#include "ternary/io/gguf.hpp"
#include "ternary/io/safetensors.hpp"
#include "ternary/packed_matrix.hpp"

namespace ternary {
namespace cli {

enum class file_kind { gguf, safetensors, ternary_container, unknown };

/// Looks at the first bytes of `path`: "GGUF" magic, the project's own container magic, or a
/// safetensors header (a little-endian length followed by '{'). Sets *why when unknown (also
/// when the file cannot be opened).
file_kind detect_file_kind(const std::string& path, std::string* why);

/// Shell-style wildcard match: '*' any run of characters (including '.'), '?' one character,
/// everything else literal.
bool glob_match(const std::string& pattern, const std::string& text);

/// True for any pattern in `patterns` matching `text`.
bool any_match(const std::vector<std::string>& patterns, const std::string& text);

/// The `<name>_scale` tensor beside a Hugging Face BitNet packed weight (a 2-D U8 `<name>`), or
/// null when `t` is not one.
const io::safetensors::tensor_info* hf_bitnet_scale(const io::safetensors::reader& r,
                                                    const io::safetensors::tensor_info& t);

/// Names of the scale and bias tensors that belong to the packed matrices `packed` (they are
/// read with their matrix, never on their own).
std::set<std::string> packed_companions(const std::vector<std::string>& packed);

/// "4096x11008"-style shape text.
std::string shape_text(const std::vector<int64_t>& shape);

/// "1.58 MiB"-style byte counts and "12.3 ms"-style durations.
std::string format_bytes(double bytes);
std::string format_time(double seconds);

/// Short description of a packed matrix's layout: "bits2 g128 f16", "sherry row f32 x2".
std::string packed_layout_text(const packed_matrix& m);

/// Storage bits per real weight of a packed matrix (trits, scales and bias).
double packed_bits_per_weight(const packed_matrix& m);

/// Re-packs every plane of `in` into format `f` (same shape, scales and bias). Fails with the
/// library's message when the trits do not fit `f` (e.g. Sherry's one zero per quad).
status repack(const packed_matrix& in, format f, packed_matrix* out);

/// A single status line on stderr, rewritten in place; silent unless stderr is a terminal and
/// the progress display was not disabled. finish() clears it.
class progress_line {
 public:
  explicit progress_line(bool enabled);
  ~progress_line();
  void update(const std::string& text);
  void finish();

 private:
  bool enabled_;
  size_t last_width_ = 0;
};

}  // namespace cli
}  // namespace ternary
