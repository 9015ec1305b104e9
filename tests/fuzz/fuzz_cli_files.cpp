// SPDX-License-Identifier: Apache-2.0
// Fuzz target: how the `ternary` tool reads files (src/cli/load.hpp), in-process.
//
// The input is written to a file in a private temporary directory (on /dev/shm when there is
// one), then:
//   - detect_file_kind() names its kind, or says why it cannot;
//   - `ternary inspect` lists it or reports an error (exit code 0 or 1, never a crash);
//   - `ternary convert` reads it (GGUF, safetensors or container readers, every ternary tensor
//     imported) or reports an error; an unknown kind is always an error;
//   - when it holds ternary tensors, a conversion to one of the eight targets (chosen from the
//     input's bytes) either fails with a message or writes a file that inspect and convert read
//     again.
// The tool prints to stdout and stderr: scripts/fuzz.sh runs this target with -close_fd_mask=3.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "common.hpp"
#include "files.hpp"
#include "fuzz_util.hpp"
#include "load.hpp"

namespace {

namespace cli = ternary::cli;

/// The private directory, removed at exit.
class temp_dir {
 public:
  temp_dir() {
    const char* env = std::getenv("TMPDIR");
    std::string base = env && *env ? env : "/tmp";
    if (::access("/dev/shm", W_OK) == 0) base = "/dev/shm";
    std::string tmpl = base + "/ternary_fuzz_cli_XXXXXX";
    FUZZ_REQUIRE(::mkdtemp(&tmpl[0]) != nullptr);
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

const temp_dir& dir() {
  static const temp_dir d;
  return d;
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  FUZZ_REQUIRE(f != nullptr);
  FUZZ_REQUIRE(size == 0 || std::fwrite(data, 1, size, f) == size);
  FUZZ_REQUIRE(std::fclose(f) == 0);
}

bool is_exit_code(int rc) { return rc == cli::exit_ok || rc == cli::exit_failure; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in = dir().file("input");
  write_file(in, data, size);
  uint32_t hash = 2166136261u;  // FNV-1a: picks options without taking bytes from the file
  for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 16777619u;

  std::string why;
  const cli::file_kind kind = cli::detect_file_kind(in, &why);
  if (kind == cli::file_kind::unknown) FUZZ_REQUIRE(!why.empty());

  const int inspected = cli::inspect_file(in, (hash & 1u) != 0);
  FUZZ_REQUIRE(is_exit_code(inspected));

  const char* convention = (hash & 2u) != 0 ? "autobitlinear" : "bitlinear";
  size_t tensors = 0, ternary = 0;
  const int read = cli::read_convert_input(in, convention, &tensors, &ternary);
  FUZZ_REQUIRE(is_exit_code(read));
  if (kind == cli::file_kind::unknown)
    FUZZ_REQUIRE(inspected != cli::exit_ok && read != cli::exit_ok);
  if (read != cli::exit_ok || ternary == 0) return 0;
  FUZZ_REQUIRE(ternary <= tensors);

  static const char* const targets[] = {"tq1_0", "tq2_0", "i2_s",   "hf_bitnet",
                                        "bits2", "base3", "sherry", "ternary"};
  cli::convert_options o;
  o.input = in;
  o.output = dir().file("output");
  o.to = targets[(hash >> 2) % 8];
  o.hf_convention = convention;
  o.allow_inexact_scale = (hash & 0x100u) != 0;
  o.quiet = true;
  const int converted = cli::run_convert(o);
  FUZZ_REQUIRE(is_exit_code(converted));
  if (converted == cli::exit_ok) {
    FUZZ_REQUIRE(cli::inspect_file(o.output) == cli::exit_ok);
    size_t back_tensors = 0, back_ternary = 0;
    FUZZ_REQUIRE(cli::read_convert_input(o.output, "bitlinear", &back_tensors, &back_ternary) ==
                 cli::exit_ok);
    FUZZ_REQUIRE(back_ternary >= 1);
  }
  std::remove(o.output.c_str());
  return 0;
}
