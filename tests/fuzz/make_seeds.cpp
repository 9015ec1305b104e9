// SPDX-License-Identifier: Apache-2.0
// Writes the seed corpora of the fuzz targets: `fuzz_make_seeds DIR` creates DIR/<target>/ for
// container, safetensors, gguf, interop and cli_files and fills them with small valid inputs made
// by the library's own writers and encoders (deterministic: the same bytes on every run). The
// committed tests/fuzz/corpus/ is this program's output; docs/FUZZING.md says when to rerun it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "ternary/interop.hpp"
#include "ternary/io/gguf.hpp"
#include "ternary/io/safetensors.hpp"
#include "ternary/packed_matrix.hpp"

namespace {

namespace fs = std::filesystem;
namespace st = ternary::io::safetensors;
namespace gg = ternary::io::gguf;
namespace iop = ternary::interop;
using ternary::format;
using ternary::matrix_desc;
using ternary::packed_matrix;
using ternary::scale_granularity;
using ternary::scale_type;
using ternary::status;

fs::path out_dir;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fuzz_make_seeds: %s: %s\n", what, ternary::last_error_message());
  std::exit(1);
}

void must(status s, const char* what) {
  if (s != status::ok) die(what);
}

void write(const std::string& target, const std::string& name, const std::vector<uint8_t>& b) {
  const fs::path d = out_dir / target;
  fs::create_directories(d);
  std::FILE* f = std::fopen((d / name).string().c_str(), "wb");
  if (!f || (!b.empty() && std::fwrite(b.data(), 1, b.size(), f) != b.size()) ||
      std::fclose(f) != 0)
    die(("cannot write " + (d / name).string()).c_str());
}

/// Deterministic pseudo-random numbers (a 64-bit LCG).
struct lcg {
  uint64_t s;
  explicit lcg(uint64_t seed) : s(seed) {}
  uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(s >> 33);
  }
  int trit() { return static_cast<int>(next() % 3) - 1; }
  float uniform() { return static_cast<float>(next() % 20001) / 10000.0f - 1.0f; }
};

/// Trits for rows x cols; Sherry-compatible (exactly one zero in each full quad of 4 columns,
/// none in a cut quad) when `sherry`.
std::vector<int8_t> trits(lcg& g, int64_t rows, int64_t cols, bool sherry) {
  std::vector<int8_t> t(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) {
      int v = g.trit();
      if (sherry) v = (g.next() & 1) != 0 ? 1 : -1;
      t[static_cast<size_t>(r * cols + k)] = static_cast<int8_t>(v);
    }
    if (sherry) {
      for (int64_t q = 0; q + 4 <= cols; q += 4)
        t[static_cast<size_t>(r * cols + q + g.next() % 4)] = 0;
    }
  }
  return t;
}

packed_matrix make_matrix(uint64_t seed, format f, int64_t rows, int64_t cols,
                          scale_granularity gran, int64_t group, scale_type sd, int planes,
                          bool bias) {
  lcg g(seed);
  matrix_desc d;
  d.fmt = f;
  d.rows = rows;
  d.cols = cols;
  d.granularity = gran;
  d.group_size = group;
  d.scale_dtype = sd;
  d.planes = planes;
  d.has_bias = bias;
  const int64_t groups = gran == scale_granularity::per_group ? (cols + group - 1) / group : 1;
  const int64_t ns = ternary::scale_count(gran, rows, groups);
  std::vector<int8_t> t[2];
  std::vector<float> s[2];
  const int8_t* tp[2] = {nullptr, nullptr};
  const float* sp[2] = {nullptr, nullptr};
  for (int p = 0; p < planes; ++p) {
    t[p] = trits(g, rows, cols, f == format::sherry);
    s[p].resize(static_cast<size_t>(ns));
    for (float& x : s[p]) x = 0.25f + static_cast<float>(g.next() % 64) / 64.0f;
    tp[p] = t[p].data();
    sp[p] = s[p].data();
  }
  std::vector<float> b(static_cast<size_t>(rows));
  for (float& x : b) x = g.uniform();
  packed_matrix m;
  must(packed_matrix::pack(d, tp, cols, sp, bias ? b.data() : nullptr, &m), "pack");
  return m;
}

std::vector<uint8_t> container(const packed_matrix& m) {
  std::vector<uint8_t> b;
  must(m.serialize(&b), "serialize");
  return b;
}

void container_seeds() {
  write("container", "bits2_row_f32",
        container(make_matrix(1, format::bits2, 3, 64, scale_granularity::per_row, 0,
                              scale_type::f32, 1, false)));
  write("container", "base3_group64_f16_bias",
        container(make_matrix(2, format::base3, 2, 100, scale_granularity::per_group, 64,
                              scale_type::f16, 1, true)));
  write("container", "sherry_tensor_2planes",
        container(make_matrix(3, format::sherry, 2, 30, scale_granularity::per_tensor, 0,
                              scale_type::f32, 2, false)));
  write("container", "bits2_group128_2planes_bias",
        container(make_matrix(4, format::bits2, 2, 300, scale_granularity::per_group, 128,
                              scale_type::f32, 2, true)));
}

std::vector<uint8_t> st_bytes(const st::writer& w) {
  std::vector<uint8_t> b;
  must(w.write_memory(&b), "safetensors write_memory");
  return b;
}

void safetensors_seeds() {
  {  // Every dtype, a scalar, an empty tensor and metadata.
    st::writer w;
    must(w.add_metadata("format", "pt"), "add_metadata");
    must(w.add_metadata("note", "seed \xc3\xa9"), "add_metadata");
    const float f32[6] = {1.0f, -2.5f, 0.0f, 3.25f, -0.0f, 1e-3f};
    const uint16_t f16[4] = {0x3c00, 0xc000, 0x0001, 0x7bff};
    const uint16_t bf16[2] = {0x3f80, 0xbf80};
    const double f64[1] = {-1.5};
    const int8_t i8[3] = {-128, 0, 127};
    const int16_t i16[2] = {-300, 300};
    const int32_t i32[2] = {-70000, 70000};
    const int64_t i64[1] = {-(int64_t{1} << 40)};
    const uint8_t u8[4] = {0, 1, 128, 255};
    const uint16_t u16[1] = {65535};
    const uint32_t u32[1] = {4000000000u};
    const uint64_t u64[1] = {uint64_t{1} << 63};
    const uint8_t boolean[2] = {0, 1};
    const uint8_t f8[4] = {0x00, 0x38, 0x7f, 0xff};
    must(w.add_tensor("f32", st::dtype::f32, {2, 3}, f32, sizeof f32), "f32");
    must(w.add_tensor("f16", st::dtype::f16, {4}, f16, sizeof f16), "f16");
    must(w.add_tensor("bf16", st::dtype::bf16, {1, 2}, bf16, sizeof bf16), "bf16");
    must(w.add_tensor("f64", st::dtype::f64, std::vector<int64_t>{}, f64, sizeof f64), "f64");
    must(w.add_tensor("i8", st::dtype::i8, {3}, i8, sizeof i8), "i8");
    must(w.add_tensor("i16", st::dtype::i16, {2}, i16, sizeof i16), "i16");
    must(w.add_tensor("i32", st::dtype::i32, {2}, i32, sizeof i32), "i32");
    must(w.add_tensor("i64", st::dtype::i64, {1}, i64, sizeof i64), "i64");
    must(w.add_tensor("u8", st::dtype::u8, {2, 2}, u8, sizeof u8), "u8");
    must(w.add_tensor("u16", st::dtype::u16, {1}, u16, sizeof u16), "u16");
    must(w.add_tensor("u32", st::dtype::u32, {1}, u32, sizeof u32), "u32");
    must(w.add_tensor("u64", st::dtype::u64, {1}, u64, sizeof u64), "u64");
    must(w.add_tensor("bool", st::dtype::boolean, {2}, boolean, sizeof boolean), "bool");
    must(w.add_tensor("f8_e4m3", st::dtype::f8_e4m3, {4}, f8, sizeof f8), "f8_e4m3");
    must(w.add_tensor("f8_e5m2", st::dtype::f8_e5m2, {2, 2}, f8, sizeof f8), "f8_e5m2");
    must(w.add_tensor("empty", st::dtype::f32, {0, 3}, nullptr, 0), "empty");
    write("safetensors", "all_dtypes", st_bytes(w));
  }
  {  // Packed matrices (docs/IO_FILES.md, "Packed matrices").
    const packed_matrix a = make_matrix(5, format::bits2, 3, 70, scale_granularity::per_group, 64,
                                        scale_type::f16, 1, true);
    const packed_matrix b = make_matrix(6, format::base3, 2, 40, scale_granularity::per_row, 0,
                                        scale_type::f32, 2, false);
    st::writer w;
    must(w.add_metadata("ternary.version", "0"), "add_metadata");
    must(st::store_packed(w, "layers.0.q_proj.weight", a, {{"method", "absmean"}}), "store a");
    must(st::store_packed(w, "layers.0.k_proj.weight", b), "store b");
    const float norm[3] = {1.0f, 1.0f, 1.0f};
    must(w.add_tensor("layers.0.norm.weight", st::dtype::f32, {3}, norm, sizeof norm), "norm");
    write("safetensors", "packed", st_bytes(w));
    write("cli_files", "packed.safetensors", st_bytes(w));
  }
  {  // Hugging Face BitNet: U8 [ceil(out/4), in] with a scalar X_scale beside it.
    const packed_matrix m = make_matrix(7, format::bits2, 6, 16, scale_granularity::per_tensor, 0,
                                        scale_type::f32, 1, false);
    std::vector<uint8_t> weight;
    float ws = 0.0f;
    must(iop::export_hf_bitnet(m, &weight, &ws), "export_hf_bitnet");
    const uint16_t ws_bf16 = 0x3f00;  // 0.5 as bf16, as checkpoints store it
    st::writer w;
    must(w.add_tensor("model.layers.0.mlp.up_proj.weight", st::dtype::u8, {2, 16}, weight.data(),
                      weight.size()),
         "hf weight");
    must(w.add_tensor("model.layers.0.mlp.up_proj.weight_scale", st::dtype::f32, {1}, &ws,
                      sizeof ws),
         "hf scale");
    must(w.add_tensor("model.layers.0.mlp.down_proj.weight", st::dtype::u8, {2, 16}, weight.data(),
                      weight.size()),
         "hf weight 2");
    must(w.add_tensor("model.layers.0.mlp.down_proj.weight_scale", st::dtype::bf16,
                      std::vector<int64_t>{}, &ws_bf16, sizeof ws_bf16),
         "hf scale 2");
    write("safetensors", "hf_bitnet", st_bytes(w));
    write("cli_files", "hf_bitnet.safetensors", st_bytes(w));
  }
  {
    st::writer w;
    write("safetensors", "empty", st_bytes(w));
  }
}

std::vector<uint8_t> gg_bytes(const gg::writer& w) {
  std::vector<uint8_t> b;
  must(w.write_memory(&b), "gguf write_memory");
  return b;
}

void add_all_value_types(gg::writer& w) {
  must(w.add_u8("t.u8", 200), "u8");
  must(w.add_i8("t.i8", -100), "i8");
  must(w.add_u16("t.u16", 60000), "u16");
  must(w.add_i16("t.i16", -30000), "i16");
  must(w.add_u32("t.u32", 4000000000u), "u32");
  must(w.add_i32("t.i32", -2000000000), "i32");
  must(w.add_f32("t.f32", 0.5f), "f32");
  must(w.add_bool("t.bool", true), "bool");
  must(w.add_string("t.string", "hello"), "string");
  must(w.add_u64("t.u64", uint64_t{1} << 63), "u64");
  must(w.add_i64("t.i64", -(int64_t{1} << 62)), "i64");
  must(w.add_f64("t.f64", -0.25), "f64");
  const int32_t ints[3] = {1, -2, 3};
  must(w.add_array("t.array.i32", gg::value_type::int32, ints, 3), "array i32");
  const bool flags[2] = {true, false};
  must(w.add_array("t.array.bool", gg::value_type::boolean, flags, 2), "array bool");
  must(w.add_string_array("t.array.string", {"a", "", "tokens"}), "array string");
  gg::value inner;
  inner.type = gg::value_type::array;
  inner.elem_type = gg::value_type::uint8;
  const uint8_t raw[2] = {7, 9};
  inner.count = 2;
  inner.raw = raw;
  gg::value nested;
  nested.type = gg::value_type::array;
  nested.elem_type = gg::value_type::array;
  nested.count = 2;
  nested.arrays = {inner, inner};
  must(w.add_value("t.array.nested", nested), "array nested");
}

void gguf_seeds() {
  lcg g(8);
  std::vector<float> x(2 * 256);
  for (float& v : x) v = g.uniform();
  std::vector<uint8_t> tq1, tq2;
  must(iop::quantize_tq1_0(x.data(), 2, 256, &tq1), "quantize_tq1_0");
  must(iop::quantize_tq2_0(x.data(), 2, 256, &tq2), "quantize_tq2_0");
  const float f32[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  const int64_t ne_tq[2] = {256, 2};
  const int64_t ne4[1] = {4};
  {  // Upstream: TQ1_0, TQ2_0 and F32 tensors, every value type.
    gg::writer w;
    must(w.add_string("general.architecture", "llama"), "arch");
    add_all_value_types(w);
    must(w.add_tensor("blk.0.attn_q.weight", ne_tq, 2, 34, tq1.data(), tq1.size()), "tq1");
    must(w.add_tensor("blk.0.attn_k.weight", ne_tq, 2, 35, tq2.data(), tq2.size()), "tq2");
    must(w.add_tensor("output_norm.weight", ne4, 1, 0, f32, sizeof f32), "f32");
    write("gguf", "tq_llama", gg_bytes(w));
    std::vector<uint8_t> v2 = gg_bytes(w);
    v2[4] = 2;  // version 2 has the same layout (64-bit counts)
    write("gguf", "tq_llama_v2", v2);
  }
  {  // BitNet fork: I2_S (id 36), general.alignment 64, an F16 tensor.
    const packed_matrix m = make_matrix(9, format::bits2, 2, 128, scale_granularity::per_tensor, 0,
                                        scale_type::f32, 1, false);
    std::vector<uint8_t> i2s;
    must(iop::export_i2_s(m, &i2s), "export_i2_s");
    const uint16_t f16[4] = {0x3c00, 0x4000, 0x4200, 0x4400};
    const int64_t ne_i2s[2] = {128, 2};
    gg::writer w;
    must(w.add_string("general.architecture", "bitnet-b1.58"), "arch");
    must(w.add_u32("general.alignment", 64), "alignment");
    must(w.add_string("general.name", "seed"), "name");
    must(w.add_tensor("blk.0.ffn_up.weight", ne_i2s, 2, 36, i2s.data(), i2s.size()), "i2_s");
    must(w.add_tensor("blk.0.ffn_norm.weight", ne4, 1, 1, f16, sizeof f16), "f16");
    write("gguf", "i2s_bitnet_fork", gg_bytes(w));
  }
  {  // "bitnet" (shared ids): Q2_0 (id 42), an unknown-size id and a 3-d F32 tensor.
    std::vector<uint8_t> q2(18 * 2, 0x11);
    const int64_t ne_q2[2] = {64, 2};
    const int64_t ne3[3] = {2, 1, 2};
    gg::writer w;
    must(w.add_string("general.architecture", "bitnet"), "arch");
    must(w.add_tensor("q2", ne_q2, 2, 42, q2.data(), q2.size()), "q2_0");
    must(w.add_tensor("f32_3d", ne3, 3, 0, f32, sizeof f32), "f32 3d");
    must(w.add_tensor("unknown_id", ne4, 1, 1000, f32, sizeof f32), "unknown");
    write("gguf", "bitnet_shared_ids", gg_bytes(w));
  }
  {  // What the tool converts: ternary tensors and a plain one.
    gg::writer w;
    must(w.add_string("general.architecture", "bitnet"), "arch");
    must(w.add_tensor("blk.0.attn_q.weight", ne_tq, 2, 35, tq2.data(), tq2.size()), "tq2");
    must(w.add_tensor("blk.0.attn_k.weight", ne_tq, 2, 34, tq1.data(), tq1.size()), "tq1");
    must(w.add_tensor("output_norm.weight", ne4, 1, 0, f32, sizeof f32), "f32");
    write("cli_files", "tq.gguf", gg_bytes(w));
  }
  gg::writer empty;
  write("gguf", "empty", gg_bytes(empty));
}

/// An interop input: header bytes (see fuzz_interop.cpp) and the payload.
std::vector<uint8_t> interop_input(uint8_t op_bits, int64_t rows, uint8_t cols_byte, float ws,
                                   const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> b(7);
  b[0] = op_bits;
  b[1] = static_cast<uint8_t>(rows - 1);
  b[2] = cols_byte;
  std::memcpy(&b[3], &ws, 4);  // little-endian hosts (x86-64, AArch64)
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

void interop_seeds() {
  lcg g(10);
  std::vector<float> x(3 * 256);
  for (float& v : x) v = g.uniform();
  std::vector<uint8_t> tq1, tq2;
  must(iop::quantize_tq1_0(x.data(), 3, 256, &tq1), "quantize_tq1_0");
  must(iop::quantize_tq2_0(x.data(), 3, 256, &tq2), "quantize_tq2_0");
  write("interop", "tq1_0", interop_input(0, 3, 0, 0.0f, tq1));
  write("interop", "tq2_0", interop_input(1, 3, 0, 0.0f, tq2));
  write("interop", "tq2_0_base3", interop_input(7 | (1 << 3), 3, 0, 0.0f, tq2));
  std::vector<uint8_t> floats(x.size() * sizeof(float));
  std::memcpy(floats.data(), x.data(), floats.size());
  write("interop", "quantize_tq1_0", interop_input(5, 3, 0, 0.0f, floats));
  write("interop", "quantize_tq2_0", interop_input(6, 3, 0, 0.0f, floats));

  const packed_matrix a = make_matrix(11, format::bits2, 3, 100, scale_granularity::per_tensor, 0,
                                      scale_type::f32, 1, false);
  std::vector<uint8_t> i2s;
  must(iop::export_i2_s(a, &i2s), "export_i2_s");
  write("interop", "i2_s", interop_input(2, 3, 99, 0.0f, i2s));
  const packed_matrix s = make_matrix(12, format::sherry, 2, 64, scale_granularity::per_tensor, 0,
                                      scale_type::f32, 1, false);
  std::vector<uint8_t> i2s_sherry;
  must(iop::export_i2_s(s, &i2s_sherry), "export_i2_s sherry");
  write("interop", "i2_s_sherry", interop_input(2 | (2 << 3), 2, 63, 0.0f, i2s_sherry));

  const packed_matrix h = make_matrix(13, format::bits2, 5, 9, scale_granularity::per_tensor, 0,
                                      scale_type::f32, 1, false);
  std::vector<uint8_t> weight;
  float ws = 0.0f;
  must(iop::export_hf_bitnet(h, &weight, &ws), "export_hf_bitnet");
  write("interop", "hf_bitlinear", interop_input(3, 5, 8, ws, weight));
  write("interop", "hf_autobitlinear", interop_input(4, 5, 8, 0.75f, weight));
  write("interop", "hf_wrong_size", interop_input(3 | 0x20, 5, 8, ws, {1, 2, 3}));
}

void cli_seeds() {
  write("cli_files", "container.tern",
        container(make_matrix(14, format::base3, 2, 256, scale_granularity::per_group, 256,
                              scale_type::f16, 1, false)));
  write("cli_files", "too_short", {'G', 'G'});
  write("cli_files", "unknown", std::vector<uint8_t>(16, 'x'));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR  (writes OUTPUT_DIR/<target>/...)\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  container_seeds();
  safetensors_seeds();
  gguf_seeds();
  interop_seeds();
  cli_seeds();
  std::printf("seeds written to %s\n", argv[1]);
  return 0;
}
