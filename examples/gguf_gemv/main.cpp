// SPDX-License-Identifier: Apache-2.0
// Loads the TQ2_0 tensors of a GGUF file (as llama.cpp writes them for ternary models), imports
// each into a packed matrix without loss, and runs one GEMV per tensor through the dispatch API.
//
//   gguf_gemv MODEL.gguf     every TQ2_0 / TQ1_0 tensor of the file
//   gguf_gemv                writes a small demo file first (demo_tq2_0.gguf in the current
//                            directory), then reads it back
//
// For each tensor it prints the shape, the kernel used and the largest difference between the
// int8-path GEMV and a float GEMV on the weights ggml would dequantize.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "ternary/interop.hpp"
#include "ternary/io/gguf.hpp"
#include "ternary/ternary.hpp"

namespace {

namespace gg = ternary::io::gguf;

int fail(const char* what) {
  std::fprintf(stderr, "gguf_gemv: %s: %s\n", what, ternary::last_error_message());
  return 1;
}

/// Writes a GGUF file with two TQ2_0 matrices ternarized the way llama.cpp does.
int write_demo(const char* path) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t shapes[2][2] = {{256, 1024}, {1024, 256}};  // rows (outputs) x cols (inputs)
  std::vector<std::vector<uint8_t>> blocks(2);
  gg::writer w;
  if (w.add_string("general.architecture", "llama") != ternary::status::ok ||
      w.add_string("general.name", "ternary demo") != ternary::status::ok) {
    return fail("metadata");
  }
  for (int i = 0; i < 2; ++i) {
    const int64_t rows = shapes[i][0], cols = shapes[i][1];
    std::vector<float> x(static_cast<size_t>(rows * cols));
    for (auto& v : x) v = normal(rng);
    if (ternary::interop::quantize_tq2_0(x.data(), rows, cols, &blocks[i]) != ternary::status::ok) {
      return fail("quantize_tq2_0");
    }
    const int64_t ne[2] = {cols, rows};  // GGUF lists the row length first
    const std::string name = i == 0 ? "blk.0.ffn_up.weight" : "blk.0.ffn_down.weight";
    if (w.add_tensor(name, ne, 2, 35 /* GGML_TYPE_TQ2_0 */, blocks[i].data(), blocks[i].size()) !=
        ternary::status::ok) {
      return fail("add_tensor");
    }
  }
  if (w.write(path) != ternary::status::ok) return fail("write");
  std::printf("wrote %s\n", path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = argc > 1 ? argv[1] : "demo_tq2_0.gguf";
  if (argc <= 1 && write_demo(path.c_str()) != 0) return 1;

  gg::reader file;
  if (gg::reader::open(path.c_str(), &file) != ternary::status::ok) return fail("open");

  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 1.f);
  int used = 0;
  for (const gg::tensor_info& t : file.tensors()) {
    if (t.kind != gg::tensor_kind::tq2_0 && t.kind != gg::tensor_kind::tq1_0) continue;
    const int64_t cols = t.ne[0];
    int64_t rows = 1;
    for (int d = 1; d < t.n_dims; ++d) rows *= t.ne[d];

    const uint8_t* data = nullptr;
    uint64_t bytes = 0;
    if (file.tensor_data(t, &data, &bytes) != ternary::status::ok) return fail("tensor_data");
    ternary::packed_matrix w;
    ternary::interop::import_options opt;  // 2-bit packing; fp16 scales per 256 columns
    const ternary::status s =
        t.kind == gg::tensor_kind::tq2_0
            ? ternary::interop::import_tq2_0(data, bytes, rows, cols, opt, &w)
            : ternary::interop::import_tq1_0(data, bytes, rows, cols, opt, &w);
    if (s != ternary::status::ok) return fail("import");

    // One token through the dispatch API (int8 activations, the BitNet path).
    std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
    for (auto& v : x) v = normal(rng);
    if (ternary::gemv(w, x.data(), y.data()) != ternary::status::ok) return fail("gemv");

    // The same product in float on the dequantized weights: the difference is the int8
    // quantization of x only.
    std::vector<float> dense(static_cast<size_t>(rows * cols));
    if (w.dequantize(dense.data(), cols) != ternary::status::ok) return fail("dequantize");
    double worst = 0.0, scale = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      double ref = 0.0;
      for (int64_t k = 0; k < cols; ++k) ref += double(dense[r * cols + k]) * x[k];
      worst = std::max(worst, std::fabs(ref - y[r]));
      scale = std::max(scale, std::fabs(ref));
    }
    std::printf("%-28.*s %s %6lld x %-6lld kernel %-36s max|y - y_f32| / max|y_f32| = %.2e\n",
                static_cast<int>(t.name.size()), t.name.data(), gg::kind_name(t.kind),
                static_cast<long long>(rows), static_cast<long long>(cols),
                ternary::kernel_name(w, ternary::act_type::int8), worst / std::max(scale, 1e-30));
    if (worst > 0.05 * scale) {
      std::fprintf(stderr, "gguf_gemv: %.*s: int8 GEMV too far from the float GEMV\n",
                   static_cast<int>(t.name.size()), t.name.data());
      return 1;
    }
    ++used;
  }
  if (used == 0) {
    std::fprintf(stderr, "gguf_gemv: %s has no TQ2_0 or TQ1_0 tensor\n", path.c_str());
    return 1;
  }
  return 0;
}
