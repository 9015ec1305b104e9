// SPDX-License-Identifier: Apache-2.0
// The file-reading work of `ternary inspect` and `ternary convert`, callable without a command
// line: the subcommands' callbacks use these functions, and so do the in-process fuzz target
// (tests/fuzz/fuzz_cli_files.cpp) and its replay test. Each returns a process exit code
// (common.hpp) after printing the command's output to stdout and any error to stderr.
#pragma once

#include <cstddef>
#include <string>

namespace ternary {
namespace cli {

/// `ternary inspect PATH [--no-metadata]`: lists a GGUF file, a safetensors file or a
/// packed-matrix container.
int inspect_file(const std::string& path, bool no_metadata = false);

/// Options of `ternary convert` (see register_convert() for their meaning).
struct convert_options {
  std::string input;
  std::string output;
  std::string to;
  std::string hf_convention = "bitlinear";
  std::string arch;
  bool allow_inexact_scale = false;
  bool quiet = false;
};

/// `ternary convert`: reads `o.input`, converts every ternary tensor to `o.to` and writes
/// `o.output` atomically (nothing is written unless every tensor converted).
int run_convert(const convert_options& o);

/// The input half of run_convert(): detects the kind of `path` and reads it as `ternary convert`
/// does (every ternary tensor imported, the other tensors referenced), without writing anything.
/// `hf_convention` is "bitlinear" or "autobitlinear". On success *tensors and *ternary (both
/// optional) receive the number of tensors read and how many of them are ternary.
int read_convert_input(const std::string& path, const std::string& hf_convention,
                       size_t* tensors = nullptr, size_t* ternary = nullptr);

}  // namespace cli
}  // namespace ternary
