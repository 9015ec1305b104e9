// SPDX-License-Identifier: Apache-2.0
// A main() for a fuzz target built without libFuzzer: runs LLVMFuzzerTestOneInput once on every
// file given, and on every regular file of every directory given (sorted by name; README.md and
// dot files are skipped). The tests replay tests/fuzz/corpus/<target> and
// tests/fuzz/regressions/<target> this way with the project's normal compiler; a failed invariant
// aborts, which fails the test. A directory that does not exist is an error.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

bool replay(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", file.string().c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replay: %s (%zu bytes)\n", file.string().c_str(), bytes.size());
  // A copy of exactly the input's size, so a read past the end is caught by a sanitizer.
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(data.empty() ? nullptr : data.data(), data.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
    return 2;
  }
  size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_regular_file(arg, ec)) {
      if (!replay(arg)) return 1;
      ++count;
      continue;
    }
    if (!fs::is_directory(arg, ec)) {
      std::fprintf(stderr, "replay: %s is neither a file nor a directory\n", argv[i]);
      return 1;
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(arg, ec)) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file() || name == "README.md" || name[0] == '.') continue;
      files.push_back(e.path());
    }
    if (ec) {
      std::fprintf(stderr, "replay: cannot list %s: %s\n", argv[i], ec.message().c_str());
      return 1;
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      if (!replay(f)) return 1;
      ++count;
    }
  }
  std::printf("replayed %zu input(s)\n", count);
  return 0;
}
