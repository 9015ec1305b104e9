// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of the `ternary` tool's file commands: quantize, inspect and convert. Each
// test builds its input files with the library (safetensors/GGUF writers, interop codecs), runs
// the tool as a child process, and checks the exit status, the messages and the files written.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ternary/interop.hpp"
#include "ternary/io/gguf.hpp"
#include "ternary/io/safetensors.hpp"
#include "ternary/quant.hpp"
#include "ternary/ternary.hpp"

#ifndef TERNARY_CLI_PATH
#error "TERNARY_CLI_PATH must name the ternary executable"
#endif

namespace {

namespace st = ternary::io::safetensors;
namespace gg = ternary::io::gguf;
using ternary::status;

struct run_result {
  int code = -1;
  std::string output;  // stdout and stderr
};

run_result run_cli(const std::string& args) {
  run_result r;
  const std::string cmd = std::string("'") + TERNARY_CLI_PATH + "' " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t got = 0;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, got);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool exists(const std::string& path) {
  struct stat s {};
  return ::stat(path.c_str(), &s) == 0;
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ternary_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    const std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  static std::vector<float> gaussian(size_t n, uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> d(0.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(gen);
    return v;
  }

  /// A small model: two float weights (F32 64x256 and 32x320), a 1-D bias, an int tensor.
  void write_model(const std::string& file) {
    w1_ = gaussian(64 * 256, 1);
    w2_ = gaussian(32 * 320, 2);
    bias_ = gaussian(64, 3);
    ids_ = {1, 2, 3, 4};
    st::writer w;
    ASSERT_EQ(w.add_metadata("format", "pt"), status::ok);
    ASSERT_EQ(w.add_tensor("a.weight", st::dtype::f32, {64, 256}, w1_.data(), w1_.size() * 4),
              status::ok);
    ASSERT_EQ(w.add_tensor("a.bias", st::dtype::f32, {64}, bias_.data(), bias_.size() * 4),
              status::ok);
    ASSERT_EQ(w.add_tensor("b.weight", st::dtype::f32, {32, 320}, w2_.data(), w2_.size() * 4),
              status::ok);
    ASSERT_EQ(w.add_tensor("ids", st::dtype::i32, {4}, ids_.data(), ids_.size() * 4), status::ok);
    ASSERT_EQ(w.write(file.c_str()), status::ok);
  }

  std::string dir_;
  std::vector<float> w1_, w2_, bias_;
  std::vector<int32_t> ids_;
};

TEST_F(Cli, QuantizeWritesWhatTheLibraryComputes) {
  write_model(path("in.safetensors"));
  const run_result r =
      run_cli("quantize '" + path("in.safetensors") + "' '" + path("out.safetensors") +
              "' --method ptqtp --format bits2 --group 128 --threads 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("a.weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 tensor(s) ternarized"), std::string::npos) << r.output;

  st::reader out;
  ASSERT_EQ(st::reader::open(path("out.safetensors").c_str(), &out), status::ok);
  std::vector<std::string> names;
  ASSERT_EQ(st::list_packed(out, &names), status::ok);
  EXPECT_EQ(names, (std::vector<std::string>{"a.weight", "b.weight"}));

  // Same bytes as ternarize() on the same input and options.
  ternary::quant::options o;
  o.algo = ternary::quant::method::ptqtp;
  o.granularity = ternary::scale_granularity::per_group;
  o.group_size = 128;
  ternary::packed_matrix expect, got;
  ASSERT_EQ(ternary::quant::ternarize(w1_.data(), 64, 256, 256, o, &expect, nullptr), status::ok);
  st::string_pairs extras;
  ASSERT_EQ(st::load_packed(out, "a.weight", &got, &extras), status::ok);
  std::vector<uint8_t> a, b;
  ASSERT_EQ(expect.serialize(&a), status::ok);
  ASSERT_EQ(got.serialize(&b), status::ok);
  EXPECT_EQ(a, b);
  bool has_method = false;
  for (const auto& e : extras) has_method |= e.first == "method" && e.second == "ptqtp";
  EXPECT_TRUE(has_method);

  // Everything else is copied unchanged, metadata included.
  const st::tensor_info* bias = out.find("a.bias");
  ASSERT_NE(bias, nullptr);
  ASSERT_EQ(bias->bytes(), bias_.size() * 4);
  EXPECT_EQ(std::memcmp(bias->data, bias_.data(), bias->bytes()), 0);
  ASSERT_NE(out.find("ids"), nullptr);
  ASSERT_NE(out.find_metadata("format"), nullptr);
  EXPECT_EQ(*out.find_metadata("format"), "pt");
}

TEST_F(Cli, QuantizeSelectsTensorsByGlob) {
  write_model(path("in.safetensors"));
  const run_result r =
      run_cli("quantize '" + path("in.safetensors") + "' '" + path("out.safetensors") +
              "' --method sherry --format sherry --tensors 'b.*' --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(r.output.empty()) << r.output;
  st::reader out;
  ASSERT_EQ(st::reader::open(path("out.safetensors").c_str(), &out), status::ok);
  std::vector<std::string> names;
  ASSERT_EQ(st::list_packed(out, &names), status::ok);
  EXPECT_EQ(names, std::vector<std::string>{"b.weight"});
  const st::tensor_info* a = out.find("a.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->type, st::dtype::f32);
}

TEST_F(Cli, QuantizeWithCalibrationReportsOutputError) {
  write_model(path("in.safetensors"));
  const std::vector<float> x = gaussian(512 * 256, 9);
  st::writer cw;
  ASSERT_EQ(cw.add_tensor("a", st::dtype::f32, {512, 256}, x.data(), x.size() * 4), status::ok);
  ASSERT_EQ(cw.write(path("calib.safetensors").c_str()), status::ok);
  const run_result r =
      run_cli("quantize '" + path("in.safetensors") + "' '" + path("out.safetensors") +
              "' --method optimal --calib '" + path("calib.safetensors") + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("output err"), std::string::npos);
  st::reader out;
  ASSERT_EQ(st::reader::open(path("out.safetensors").c_str(), &out), status::ok);
  ternary::packed_matrix m;
  st::string_pairs extras;
  ASSERT_EQ(st::load_packed(out, "a.weight", &m, &extras), status::ok);
  bool calibrated = false;
  for (const auto& e : extras) calibrated |= e.first == "calibrated" && e.second == "true";
  EXPECT_TRUE(calibrated);
}

TEST_F(Cli, QuantizeFailureWritesNothing) {
  write_model(path("in.safetensors"));
  // A NaN weight: the default is an error, and the existing output file stays as it was.
  w2_[77] = std::nanf("");
  st::writer w;
  ASSERT_EQ(w.add_tensor("b.weight", st::dtype::f32, {32, 320}, w2_.data(), w2_.size() * 4),
            status::ok);
  ASSERT_EQ(w.write(path("nan.safetensors").c_str()), status::ok);
  { std::ofstream(path("out.safetensors")) << "previous"; }
  run_result r =
      run_cli("quantize '" + path("nan.safetensors") + "' '" + path("out.safetensors") + "'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("b.weight"), std::string::npos) << r.output;
  const std::vector<uint8_t> kept = slurp(path("out.safetensors"));
  EXPECT_EQ(std::string(kept.begin(), kept.end()), "previous");

  r = run_cli("quantize '" + path("nan.safetensors") + "' '" + path("out2.safetensors") +
              "' --lenient-nonfinite --quiet");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(exists(path("out2.safetensors")));

  r = run_cli("quantize '" + path("in.safetensors") + "' '" + path("x.safetensors") +
              "' --method nonsense");
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_cli("quantize '" + path("in.safetensors") + "' '" + path("x.safetensors") +
              "' --group 100");
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_cli("quantize '" + path("missing.safetensors") + "' '" + path("x.safetensors") + "'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_FALSE(exists(path("x.safetensors")));
}

/// A GGUF file with one TQ2_0 tensor (16 x 512, ggml-style ternarized) and one F32 tensor.
struct gguf_fixture {
  std::vector<float> w, norm;
  std::vector<uint8_t> tq2;
};

gguf_fixture write_gguf(const std::string& file, const char* arch = "llama") {
  gguf_fixture f;
  f.w.resize(16 * 512);
  std::mt19937 gen(5);
  std::uniform_int_distribution<int> t(-1, 1);
  // Rows of three different scales (0.25, 0.5, 0.75), each exact in fp16.
  for (size_t i = 0; i < f.w.size(); ++i) {
    f.w[i] = 0.25f * static_cast<float>(1 + (i / 512) % 3) * static_cast<float>(t(gen));
  }
  f.norm.assign(512, 1.0f);
  EXPECT_EQ(ternary::interop::quantize_tq2_0(f.w.data(), 16, 512, &f.tq2), status::ok);
  gg::writer w;
  EXPECT_EQ(w.add_string("general.architecture", arch), status::ok);
  EXPECT_EQ(w.add_u32("llama.block_count", 1), status::ok);
  const int64_t ne[2] = {512, 16};
  EXPECT_EQ(w.add_tensor("blk.0.ffn_up.weight", ne, 2, 35, f.tq2.data(), f.tq2.size()), status::ok);
  const int64_t ne1[1] = {512};
  EXPECT_EQ(w.add_tensor("blk.0.norm.weight", ne1, 1, 0, f.norm.data(), f.norm.size() * 4),
            status::ok);
  EXPECT_EQ(w.write(file.c_str()), status::ok);
  return f;
}

TEST_F(Cli, InspectListsGgufAndSafetensors) {
  write_gguf(path("m.gguf"));
  run_result r = run_cli("inspect '" + path("m.gguf") + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("blk.0.ffn_up.weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tq2_0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2.0625"), std::string::npos) << r.output;  // bits per weight
  EXPECT_NE(r.output.find("llama.block_count"), std::string::npos) << r.output;

  write_model(path("in.safetensors"));
  r = run_cli("quantize '" + path("in.safetensors") + "' '" + path("q.safetensors") +
              "' --format base3 --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("inspect '" + path("q.safetensors") + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ternary base3 row f32"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("ternary_scale"), std::string::npos) << r.output;

  { std::ofstream(path("junk.bin")) << "this is not a model file"; }
  r = run_cli("inspect '" + path("junk.bin") + "'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("neither a GGUF"), std::string::npos) << r.output;

  // A truncated GGUF gets the reader's message, not a crash.
  std::vector<uint8_t> bytes = slurp(path("m.gguf"));
  bytes.resize(bytes.size() / 2);
  {
    std::ofstream out(path("cut.gguf"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  r = run_cli("inspect '" + path("cut.gguf") + "'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("ternary: error:"), std::string::npos) << r.output;
}

TEST_F(Cli, ConvertRoundTripsGgufLosslessly) {
  const gguf_fixture f = write_gguf(path("m.gguf"));
  // TQ2_0 -> TQ1_0 -> library packing -> TQ2_0: the tensor bytes come back.
  run_result r = run_cli("convert '" + path("m.gguf") + "' '" + path("m1.gguf") + "' --to tq1_0");
  ASSERT_EQ(r.code, 0) << r.output;
  gg::reader m1;
  ASSERT_EQ(gg::reader::open(path("m1.gguf").c_str(), &m1), status::ok);
  ASSERT_NE(m1.find("llama.block_count"), nullptr);  // GGUF to GGUF keeps every key
  ASSERT_NE(m1.find_tensor("blk.0.ffn_up.weight"), nullptr);
  EXPECT_EQ(m1.find_tensor("blk.0.ffn_up.weight")->kind, gg::tensor_kind::tq1_0);
  r = run_cli("convert '" + path("m1.gguf") + "' '" + path("m.safetensors") + "' --to base3");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("convert '" + path("m.safetensors") + "' '" + path("m2.gguf") + "' --to tq2_0");
  ASSERT_EQ(r.code, 0) << r.output;
  gg::reader back;
  ASSERT_EQ(gg::reader::open(path("m2.gguf").c_str(), &back), status::ok);
  const gg::tensor_info* t = back.find_tensor("blk.0.ffn_up.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->kind, gg::tensor_kind::tq2_0);
  ASSERT_EQ(t->bytes, f.tq2.size());
  EXPECT_EQ(std::memcmp(t->data, f.tq2.data(), f.tq2.size()), 0);
  const gg::tensor_info* n = back.find_tensor("blk.0.norm.weight");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(std::memcmp(n->data, f.norm.data(), f.norm.size() * 4), 0);

  // The imported matrix runs through the dispatch API and matches the float weights.
  st::reader sr;
  ASSERT_EQ(st::reader::open(path("m.safetensors").c_str(), &sr), status::ok);
  ternary::packed_matrix m;
  ASSERT_EQ(st::load_packed(sr, "blk.0.ffn_up.weight", &m), status::ok);
  const std::vector<float> x = gaussian(512, 4);
  std::vector<float> y(16);
  ternary::gemm_options go;
  go.path = ternary::act_path::f32;
  ASSERT_EQ(ternary::gemv(m, x.data(), y.data(), go), status::ok);
  for (int row = 0; row < 16; ++row) {
    double ref = 0;
    for (int k = 0; k < 512; ++k) ref += double(f.w[row * 512 + k]) * x[k];
    EXPECT_NEAR(y[row], ref, 1e-4 * (1 + std::fabs(ref))) << row;
  }
}

TEST_F(Cli, ConvertRefusesWhatTheTargetCannotHold) {
  write_gguf(path("m.gguf"));
  // Per-block scales do not fit I2_S's one scale per tensor; random trits are not 3:4.
  run_result r = run_cli("convert '" + path("m.gguf") + "' '" + path("x.gguf") +
                         "' --to i2_s --arch bitnet-b1.58");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("blk.0.ffn_up.weight"), std::string::npos) << r.output;
  EXPECT_FALSE(exists(path("x.gguf")));
  r = run_cli("convert '" + path("m.gguf") + "' '" + path("x.safetensors") + "' --to sherry");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_FALSE(exists(path("x.safetensors")));
  // A file without ternary tensors.
  write_model(path("in.safetensors"));
  r = run_cli("convert '" + path("in.safetensors") + "' '" + path("x.gguf") + "' --to tq2_0");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("no ternary tensor"), std::string::npos) << r.output;
  r = run_cli("convert '" + path("m.gguf") + "' '" + path("x.gguf") + "' --to q4_0");
  EXPECT_EQ(r.code, 2) << r.output;
}

TEST_F(Cli, ConvertHuggingFaceBitnetBothWays) {
  // A per-tensor matrix with an fp16-exact scale converts HF -> TQ2_0 -> HF unchanged.
  std::mt19937 gen(8);
  std::uniform_int_distribution<int> t(-1, 1);
  std::vector<int8_t> trits(32 * 256);
  for (auto& v : trits) v = static_cast<int8_t>(t(gen));
  ternary::matrix_desc d;
  d.rows = 32;
  d.cols = 256;
  d.granularity = ternary::scale_granularity::per_tensor;
  const float alpha = 0.5f;
  ternary::packed_matrix m;
  ASSERT_EQ(ternary::packed_matrix::pack(d, trits.data(), 256, &alpha, nullptr, &m), status::ok);
  std::vector<uint8_t> weight;
  float scale = 0;
  ASSERT_EQ(ternary::interop::export_hf_bitnet(m, &weight, &scale), status::ok);
  EXPECT_EQ(scale, 2.0f);
  st::writer w;
  ASSERT_EQ(w.add_tensor("l.weight", st::dtype::u8, {8, 256}, weight.data(), weight.size()),
            status::ok);
  ASSERT_EQ(w.add_tensor("l.weight_scale", st::dtype::f32, {1}, &scale, 4), status::ok);
  ASSERT_EQ(w.write(path("hf.safetensors").c_str()), status::ok);

  run_result r =
      run_cli("convert '" + path("hf.safetensors") + "' '" + path("t.gguf") + "' --to tq2_0");
  ASSERT_EQ(r.code, 0) << r.output;
  // Every 256-block has the same scale, so BitNet's one-scale I2_S holds it too.
  r = run_cli("convert '" + path("t.gguf") + "' '" + path("i2s.gguf") + "' --to i2_s --arch llama");
  EXPECT_EQ(r.code, 1) << r.output;  // "llama" files do not read id 36 as I2_S
  EXPECT_NE(r.output.find("--arch"), std::string::npos) << r.output;
  r = run_cli("convert '" + path("t.gguf") + "' '" + path("i2s.gguf") +
              "' --to i2_s --arch bitnet-b1.58");
  ASSERT_EQ(r.code, 0) << r.output;
  gg::reader i2s;
  ASSERT_EQ(gg::reader::open(path("i2s.gguf").c_str(), &i2s), status::ok);
  ASSERT_NE(i2s.find_tensor("l.weight"), nullptr);
  EXPECT_EQ(i2s.find_tensor("l.weight")->kind, gg::tensor_kind::i2_s);
  r = run_cli("convert '" + path("i2s.gguf") + "' '" + path("hf2.safetensors") +
              "' --to hf_bitnet");
  ASSERT_EQ(r.code, 0) << r.output;
  st::reader back;
  ASSERT_EQ(st::reader::open(path("hf2.safetensors").c_str(), &back), status::ok);
  const st::tensor_info* bw = back.find("l.weight");
  const st::tensor_info* bs = back.find("l.weight_scale");
  ASSERT_NE(bw, nullptr);
  ASSERT_NE(bs, nullptr);
  ASSERT_EQ(bw->bytes(), weight.size());
  EXPECT_EQ(std::memcmp(bw->data, weight.data(), weight.size()), 0);
  float back_scale = 0;
  ASSERT_EQ(st::to_f32(*bs, &back_scale, 1), status::ok);
  EXPECT_EQ(back_scale, 2.0f);

  // The same file read with the autobitlinear convention means alpha = 2.
  r = run_cli("convert '" + path("hf.safetensors") + "' '" + path("auto.safetensors") +
              "' --to ternary --hf-convention autobitlinear");
  ASSERT_EQ(r.code, 0) << r.output;
  st::reader ar;
  ASSERT_EQ(st::reader::open(path("auto.safetensors").c_str(), &ar), status::ok);
  ternary::packed_matrix am;
  ASSERT_EQ(st::load_packed(ar, "l.weight", &am), status::ok);
  float a = 0;
  ASSERT_EQ(am.unpack_scales(0, &a), status::ok);
  EXPECT_EQ(a, 2.0f);
}

TEST_F(Cli, HugeShapesWithNoElementsAreRefusedWithoutOverflow) {
  // Shapes whose element count is 0 (one dimension 0) while the others are huge: the row count
  // the tool derives from them must not overflow int64_t.
  st::writer sw;
  const float one = 1.0f;
  ASSERT_EQ(sw.add_tensor("w", st::dtype::u8, {int64_t{1} << 62, 0}, nullptr, 0), status::ok);
  ASSERT_EQ(sw.add_tensor("w_scale", st::dtype::f32, {1}, &one, 4), status::ok);
  ASSERT_EQ(sw.write(path("hf.safetensors").c_str()), status::ok);
  run_result r = run_cli("inspect '" + path("hf.safetensors") + "'");
  EXPECT_EQ(r.code, 0) << r.output;
  r = run_cli("convert '" + path("hf.safetensors") + "' '" + path("x.gguf") + "' --to tq2_0");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("packed rows"), std::string::npos) << r.output;

  gg::writer gw;
  const int64_t ne[3] = {0, int64_t{1} << 40, int64_t{1} << 40};
  ASSERT_EQ(gw.add_tensor("t", ne, 3, 35, nullptr, 0), status::ok);  // TQ2_0, 0 bytes
  ASSERT_EQ(gw.write(path("t.gguf").c_str()), status::ok);
  r = run_cli("inspect '" + path("t.gguf") + "'");
  EXPECT_EQ(r.code, 0) << r.output;
  r = run_cli("convert '" + path("t.gguf") + "' '" + path("x.safetensors") + "' --to bits2");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("rows a matrix may have"), std::string::npos) << r.output;
  EXPECT_FALSE(exists(path("x.safetensors")));
}

}  // namespace
