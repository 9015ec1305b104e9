// SPDX-License-Identifier: Apache-2.0
// Bad-input classes of docs/RELIABILITY.md that the other suites do not cover:
//   - aliased buffers: a gemm output overlapping the activations or the weights, and the outputs
//     of quantize_activations overlapping its input (refused, nothing written);
//   - misaligned storage given to wrap(), element-aligned but not 64-byte-aligned operands;
//   - int8 activation scales that are zero or negative; tokens x leading dimension overflows;
//   - NaN/Inf activations on the fp32 path (not checked: they reach their own token only);
//   - arbitrary bytes in packed storage (codes pack never writes, garbage in the K padding):
//     every ISA computes what the reference computes, also at K = max_cols;
//   - output paths no file can be written to, for every writer (nothing is left behind).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "test_util.hpp"

#include "ternary/gemm.hpp"
#include "ternary/io/gguf.hpp"
#include "ternary/io/safetensors.hpp"
#include "ternary/ref/gemm.hpp"

namespace {

using namespace ternary_test;
using ternary::act_path;
using ternary::act_type;
using ternary::activations;
using ternary::gemm_options;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// A small valid problem: 40 x 321 (K tails of 4, 64 and 256), bias, 3 tokens.
struct Problem {
  packed_matrix w;
  int64_t n = 40, k = 321, tokens = 3;
  std::vector<float> x;
  std::vector<int8_t> xq;
  std::vector<float> xs;

  explicit Problem(format f = format::bits2) {
    Rng rng(5100);
    EXPECT_EQ(pack_case(make_case(rng, make_desc(f, n, k, scale_granularity::per_group, 64,
                                                 scale_type::f32, 1, true)),
                        &w),
              status::ok)
        << ternary::last_error_message();
    x = random_floats(rng, static_cast<size_t>(tokens * k), -2.0f, 2.0f);
    xq.resize(x.size());
    xs.resize(static_cast<size_t>(tokens));
    EXPECT_EQ(ternary::quantize_activations(x.data(), tokens, k, k, xq.data(), k, xs.data()),
              status::ok);
  }
};

bool all_equal(const float* p, size_t n, float v) {
  for (size_t i = 0; i < n; ++i)
    if (!same_bits(p[i], v)) return false;
  return true;
}

// ---------------------------------------------------------------- aliasing

TEST(Aliasing, GemmOutputOverlappingTheActivationsIsRefused) {
  Problem p;
  // One buffer holds the activations and, at several offsets, the output: fully aliased, the
  // output starting inside the last token, and ending inside the first.
  const size_t xfloats = p.x.size();
  std::vector<float> buf(xfloats * 3, 0.0f);
  float* x = buf.data() + xfloats;
  std::memcpy(x, p.x.data(), xfloats * sizeof(float));
  const std::vector<float> before = buf;
  const int64_t yfloats = p.tokens * p.n;
  const int64_t starts[] = {0, static_cast<int64_t>(xfloats) - 1, 1 - yfloats, 7};
  for (int64_t off : starts) {
    SCOPED_TRACE("y at x + " + std::to_string(off));
    float* y = x + off;
    const activations a = activations::f32(x, p.tokens, p.k, p.k);
    EXPECT_EQ(ternary::can_implement(p.w, a, y, p.n), status::invalid_argument);
    EXPECT_TERNARY_ERROR(ternary::gemm(p.w, a, y, p.n), status::invalid_argument, "overlap");
    EXPECT_TERNARY_ERROR(ternary::gemm_rows(p.w, a, y, p.n, 0, p.n), status::invalid_argument,
                         "overlap");
    for (act_path path : {act_path::int8, act_path::f32}) {
      gemm_options opt;
      opt.path = path;
      EXPECT_TERNARY_ERROR(ternary::gemm(p.w, x, p.tokens, p.k, y, p.n, opt),
                           status::invalid_argument, "overlap");
    }
    EXPECT_EQ(buf, before) << "a refused call wrote somewhere";
  }
  EXPECT_TERNARY_ERROR(ternary::gemv(p.w, x, x), status::invalid_argument, "overlap");
  // Pre-quantized int8 activations inside the output's bytes.
  std::vector<float> y(static_cast<size_t>(p.tokens * p.n), -3.0f);
  auto* xq_in_y = reinterpret_cast<int8_t*>(y.data()) + 5;
  std::memcpy(xq_in_y, p.xq.data(), static_cast<size_t>(p.n));  // part of token 0
  const activations ai = activations::int8(xq_in_y, p.xs.data(), 1, p.k, p.k);
  EXPECT_TERNARY_ERROR(ternary::gemm(p.w, ai, y.data(), p.n), status::invalid_argument, "overlap");
  EXPECT_EQ(ternary::can_implement(p.w, ai, y.data(), p.n), status::invalid_argument);
}

TEST(Aliasing, GemmOutputOverlappingTheWeightsIsRefused) {
  Problem p;
  // A view of a copy of the storage in a float buffer, with the output inside the scales.
  std::vector<float> buf((p.w.storage_bytes() + 3) / 4 + 64, 0.0f);
  std::memcpy(buf.data(), p.w.storage(), p.w.storage_bytes());
  packed_matrix view;
  ASSERT_EQ(packed_matrix::wrap(p.w.desc(), buf.data(), p.w.storage_bytes(), &view), status::ok)
      << ternary::last_error_message();
  const std::vector<float> before = buf;
  float* y = buf.data() + (p.w.storage_bytes() / 4 - 10);
  EXPECT_TERNARY_ERROR(ternary::gemv(view, p.x.data(), y), status::invalid_argument, "overlap",
                       "weight");
  const activations a = activations::int8(p.xq.data(), p.xs.data(), 1, p.k, p.k);
  EXPECT_EQ(ternary::can_implement(view, a, y, p.n), status::invalid_argument);
  EXPECT_TERNARY_ERROR(ternary::gemm_rows(view, a, y, p.n, 0, p.n), status::invalid_argument,
                       "overlap", "weight");
  EXPECT_EQ(buf, before);
  // Right after the storage is fine, and gives the owning matrix's answer.
  float* after = buf.data() + (p.w.storage_bytes() + 3) / 4;
  ASSERT_EQ(ternary::gemv(view, p.x.data(), after), status::ok) << ternary::last_error_message();
  std::vector<float> want(static_cast<size_t>(p.n));
  ASSERT_EQ(ternary::gemv(p.w, p.x.data(), want.data()), status::ok);
  EXPECT_EQ(std::memcmp(after, want.data(), want.size() * sizeof(float)), 0);
}

TEST(Aliasing, AdjacentDisjointBuffersAreAccepted) {
  Problem p;
  // x and y in one buffer, y starting right after the last activation.
  const int64_t xfloats = p.tokens * p.k, yfloats = p.tokens * p.n;
  std::vector<float> buf(static_cast<size_t>(xfloats + yfloats));
  std::memcpy(buf.data(), p.x.data(), p.x.size() * sizeof(float));
  float* y = buf.data() + xfloats;
  ASSERT_EQ(ternary::gemm(p.w, buf.data(), p.tokens, p.k, y, p.n), status::ok)
      << ternary::last_error_message();
  std::vector<float> want(static_cast<size_t>(yfloats));
  ASSERT_EQ(ternary::gemm(p.w, p.x.data(), p.tokens, p.k, want.data(), p.n), status::ok);
  EXPECT_EQ(std::memcmp(y, want.data(), want.size() * sizeof(float)), 0);
}

TEST(Aliasing, QuantizeActivationsOutputsOverlappingTheInputAreRefused) {
  // Rows are written while later rows are unread: an int8 output over the next token's floats
  // would corrupt it, so any overlap is refused.
  Problem p;
  std::vector<float> buf = p.x;
  const std::vector<float> before = buf;
  auto* bytes = reinterpret_cast<int8_t*>(buf.data());
  std::vector<float> s(static_cast<size_t>(p.tokens));
  for (int64_t at : {int64_t{0}, p.k * 4, p.k * 4 * p.tokens - 1}) {
    SCOPED_TRACE("xq at byte " + std::to_string(at));
    EXPECT_TERNARY_ERROR(
        ternary::quantize_activations(buf.data(), p.tokens, p.k, p.k, bytes + at, p.k, s.data()),
        status::invalid_argument, "overlap");
  }
  std::vector<int8_t> q(p.xq.size());
  EXPECT_TERNARY_ERROR(ternary::quantize_activations(buf.data(), p.tokens, p.k, p.k, q.data(), p.k,
                                                     buf.data() + p.k),
                       status::invalid_argument, "overlap");
  EXPECT_TERNARY_ERROR(ternary::quantize_activations(buf.data(), p.tokens, p.k, p.k, q.data(), p.k,
                                                     reinterpret_cast<float*>(q.data() + 8)),
                       status::invalid_argument, "overlap");
  EXPECT_EQ(buf, before);
  // The int8 output right after the input is fine.
  std::vector<float> joined(p.x.size() + p.xq.size() / 4 + 1);
  std::memcpy(joined.data(), p.x.data(), p.x.size() * sizeof(float));
  auto* q_after = reinterpret_cast<int8_t*>(joined.data() + p.x.size());
  ASSERT_EQ(
      ternary::quantize_activations(joined.data(), p.tokens, p.k, p.k, q_after, p.k, s.data()),
      status::ok);
  EXPECT_EQ(std::memcmp(q_after, p.xq.data(), p.xq.size()), 0);
}

// ---------------------------------------------------------------- alignment

TEST(Alignment, WrapNeedsFourByteAlignedStorage) {
  Problem p;
  std::vector<float> want(static_cast<size_t>(p.n));
  ASSERT_EQ(ternary::gemv(p.w, p.x.data(), want.data()), status::ok);
  for (size_t offset : {size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{8}, size_t{36}}) {
    SCOPED_TRACE("storage at 64-byte boundary + " + std::to_string(offset));
    OffsetBuffer<uint8_t> buf(p.w.storage_bytes(), offset, 0);
    std::memcpy(buf.data(), p.w.storage(), p.w.storage_bytes());
    packed_matrix view;
    if (offset % 4 != 0) {
      EXPECT_TERNARY_ERROR(packed_matrix::wrap(p.w.desc(), buf.data(), p.w.storage_bytes(), &view),
                           status::invalid_argument, "align");
      EXPECT_TRUE(view.empty());
      continue;
    }
    ASSERT_EQ(packed_matrix::wrap(p.w.desc(), buf.data(), p.w.storage_bytes(), &view), status::ok)
        << ternary::last_error_message();
    std::vector<float> y(static_cast<size_t>(p.n));
    ASSERT_EQ(ternary::gemv(view, p.x.data(), y.data()), status::ok);
    EXPECT_EQ(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)), 0);
  }
}

TEST(Alignment, ElementAlignedOperandsAtOddAddressesGiveTheSameResult) {
  // int8 activations at every byte offset, fp32 operands at every 4-byte offset of a cache line.
  Problem p;
  std::vector<float> want(static_cast<size_t>(p.tokens * p.n));
  ASSERT_EQ(ternary::gemm(p.w, activations::int8(p.xq.data(), p.xs.data(), p.tokens, p.k, p.k),
                          want.data(), p.n),
            status::ok);
  for (size_t off = 1; off < 16; off += 3) {
    OffsetBuffer<int8_t> xq(p.xq.size(), off, 0);
    std::memcpy(xq.data(), p.xq.data(), p.xq.size());
    OffsetBuffer<float> y(want.size(), off, -1.0f);
    ASSERT_EQ(ternary::gemm(p.w, activations::int8(xq.data(), p.xs.data(), p.tokens, p.k, p.k),
                            y.data(), p.n),
              status::ok);
    EXPECT_EQ(std::memcmp(y.data(), want.data(), want.size() * sizeof(float)), 0) << off;
  }
}

// ---------------------------------------------------------------- scales and sizes

TEST(ActivationScales, ZeroNegativeAndNonFiniteAreRefused) {
  Problem p;
  std::vector<float> y(static_cast<size_t>(p.tokens * p.n), -3.0f);
  for (float bad : {0.0f, -0.0f, -1.0f, -kInf, kInf, kNaN}) {
    std::vector<float> s = p.xs;
    s[2] = bad;
    const activations a = activations::int8(p.xq.data(), s.data(), p.tokens, p.k, p.k);
    EXPECT_EQ(ternary::can_implement(p.w, a, y.data(), p.n), status::invalid_scale) << bad;
    EXPECT_TERNARY_ERROR(ternary::gemm(p.w, a, y.data(), p.n), status::invalid_scale, "scale");
    EXPECT_TERNARY_ERROR(ternary::gemm_rows(p.w, a, y.data(), p.n, 0, p.n), status::invalid_scale,
                         "scale");
  }
  EXPECT_TRUE(all_equal(y.data(), y.size(), -3.0f));
}

TEST(Sizes, TokensTimesLeadingDimensionOverflowIsRefused) {
  // Never dereferenced: the size check comes first.
  Problem p;
  std::vector<float> y(static_cast<size_t>(p.tokens * p.n), -3.0f);
  const int64_t huge = std::numeric_limits<int64_t>::max() / 2;
  const activations xa = activations::f32(p.x.data(), p.tokens, p.k, huge);
  EXPECT_EQ(ternary::can_implement(p.w, xa, y.data(), p.n), status::size_overflow);
  EXPECT_TERNARY_ERROR(ternary::gemm(p.w, xa, y.data(), p.n), status::size_overflow, "overflow");
  EXPECT_TERNARY_ERROR(ternary::gemm(p.w, p.x.data(), p.tokens, p.k, y.data(), huge),
                       status::size_overflow, "overflow");
  EXPECT_TERNARY_ERROR(ternary::gemm_rows(p.w, xa, y.data(), p.n, 0, p.n), status::size_overflow,
                       "overflow");
  std::vector<int8_t> q(p.xq.size());
  std::vector<float> s(static_cast<size_t>(p.tokens));
  EXPECT_TERNARY_ERROR(
      ternary::quantize_activations(p.x.data(), p.tokens, p.k, huge, q.data(), p.k, s.data()),
      status::size_overflow, "overflow");
  EXPECT_TERNARY_ERROR(
      ternary::quantize_activations(p.x.data(), p.tokens, p.k, p.k, q.data(), huge, s.data()),
      status::size_overflow, "overflow");
  EXPECT_TRUE(all_equal(y.data(), y.size(), -3.0f));
}

// ---------------------------------------------------------------- non-finite fp32 activations

TEST(NonFinite, Fp32PathActivationsReachOnlyTheirOwnToken) {
  // The fp32 path does not scan its input (the int8 path refuses NaN/Inf while quantizing): a
  // non-finite activation makes its token's outputs non-finite wherever its trit is nonzero,
  // on every ISA and kernel (GEMV and GEMM panels), and leaves every other token bit-identical.
  for (format f : all_formats()) {
    Rng rng(5200);
    const matrix_desc d = make_desc(f, 40, 321, scale_granularity::per_row);
    const TritCase c = make_case(rng, d);
    packed_matrix w;
    ASSERT_EQ(pack_case(c, &w), status::ok);
    for (isa i : available_isas()) {
      ScopedIsa guard(i);
      ASSERT_EQ(guard.result(), status::ok);
      for (int64_t tokens : {int64_t{1}, int64_t{5}, int64_t{17}}) {
        const std::vector<float> x = random_floats(rng, static_cast<size_t>(tokens * 321), -2, 2);
        gemm_options opt;
        opt.path = act_path::f32;
        std::vector<float> clean(static_cast<size_t>(tokens * 40));
        ASSERT_EQ(ternary::gemm(w, x.data(), tokens, 321, clean.data(), 40, opt), status::ok);
        const int64_t bad_token = tokens / 2, col = 100;
        for (float bad : {kNaN, kInf, -kInf}) {
          std::vector<float> xb = x;
          xb[static_cast<size_t>(bad_token * 321 + col)] = bad;
          std::vector<float> y(clean.size());
          ASSERT_EQ(ternary::gemm(w, xb.data(), tokens, 321, y.data(), 40, opt), status::ok);
          for (int64_t t = 0; t < tokens; ++t) {
            for (int64_t r = 0; r < 40; ++r) {
              const float v = y[static_cast<size_t>(t * 40 + r)];
              if (t != bad_token) {
                ASSERT_TRUE(same_bits(v, clean[static_cast<size_t>(t * 40 + r)]))
                    << ternary::format_name(f) << " " << ternary::isa_name(i) << " token " << t
                    << " row " << r << " changed";
              } else if (c.trit(0, r, col) != 0) {
                ASSERT_FALSE(std::isfinite(v))
                    << ternary::format_name(f) << " " << ternary::isa_name(i) << " row " << r;
              }
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- corrupt packed storage

TEST(CorruptStorage, ArbitraryWeightBytesRunLikeTheReferenceOnEveryIsa) {
  // A matrix whose weight bytes are random (bits2 code 3, base3 bytes no encoding produces,
  // garbage in the padding past K) is accepted by create/wrap and the container, decodes
  // deterministically, and every ISA's int8 result equals ref::gemm_int8 bit for bit.
  Rng rng(5300);
  for (format f : all_formats()) {
    for (const Gran& g :
         {Gran{scale_granularity::per_row, 0}, Gran{scale_granularity::per_group, 128}}) {
      const matrix_desc d = make_desc(f, 37, 333, g.g, g.group_size, scale_type::f32, 2, true);
      packed_matrix m;
      ASSERT_EQ(packed_matrix::create(d, &m), status::ok);
      for (int p = 0; p < 2; ++p) {
        uint8_t* wb = m.mutable_weights(p);
        for (size_t i = 0; i < m.weight_bytes() / 2; ++i) wb[i] = static_cast<uint8_t>(rng.u32());
        auto* sc = static_cast<float*>(m.mutable_scales(p));
        for (int64_t i = 0; i < m.scale_count(); ++i) sc[i] = rng.uniform_float(-1.0f, 1.0f);
      }
      for (int64_t r = 0; r < d.rows; ++r) m.mutable_bias()[r] = rng.uniform_float(-1.0f, 1.0f);
      ASSERT_EQ(m.check_values(), status::ok);
      std::vector<uint8_t> bytes;
      ASSERT_EQ(m.serialize(&bytes), status::ok);
      packed_matrix back;
      ASSERT_EQ(packed_matrix::deserialize(bytes.data(), bytes.size(), &back), status::ok)
          << ternary::last_error_message();
      for (int64_t tokens : {int64_t{1}, int64_t{7}, int64_t{17}}) {
        std::vector<int8_t> xq(static_cast<size_t>(tokens * d.cols));
        for (int8_t& v : xq) v = static_cast<int8_t>(rng.u32());
        std::vector<float> xs(static_cast<size_t>(tokens), 0.75f);
        std::vector<float> want(static_cast<size_t>(tokens * d.rows));
        ternary::ref::gemm_int8(back.view(), xq.data(), xs.data(), tokens, d.cols, want.data(),
                                d.rows, 0, d.rows);
        for (isa i : available_isas()) {
          ScopedIsa guard(i);
          std::vector<float> y(want.size());
          ASSERT_EQ(
              ternary::gemm(back, activations::int8(xq.data(), xs.data(), tokens, d.cols, d.cols),
                            y.data(), d.rows),
              status::ok);
          EXPECT_EQ(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)), 0)
              << ternary::format_name(f) << " " << gran_label(g) << " " << ternary::isa_name(i)
              << " tokens " << tokens;
        }
      }
    }
  }
}

TEST(CorruptStorage, InvalidBits2CodesAtMaxColsStayExact) {
  // Every code 3 (decoded as +2) with activations at -128 and 127 over K = max_cols: the offset
  // sums of the SIMD kernels leave int32 while the result, -2^31 and 254 * 2^23, still fits.
  const int64_t k = ternary::max_cols;
  packed_matrix w;
  ASSERT_EQ(
      packed_matrix::create(make_desc(format::bits2, 1, k, scale_granularity::per_tensor), &w),
      status::ok);
  std::memset(w.mutable_weights(0), 0xff, w.weight_bytes());
  *static_cast<float*>(w.mutable_scales(0)) = 1.0f;
  std::vector<int8_t> xq(static_cast<size_t>(2 * k), int8_t{-128});
  std::fill(xq.begin() + k, xq.end(), int8_t{127});
  const float s[2] = {1.0f, 1.0f};
  for (isa i : available_isas()) {
    ScopedIsa guard(i);
    float y[2] = {0.0f, 0.0f};
    ASSERT_EQ(ternary::gemm(w, activations::int8(xq.data(), s, 2, k, k), y, 1), status::ok);
    EXPECT_EQ(y[0], -2147483648.0f) << ternary::isa_name(i);
    EXPECT_EQ(y[1], 254.0f * 8388608.0f) << ternary::isa_name(i);
  }
}

// ---------------------------------------------------------------- unwritable output paths

std::set<std::string> listing(const io_test::TempDir& dir) {
  const std::vector<std::string> v = dir.entries();
  return std::set<std::string>(v.begin(), v.end());
}

TEST(Files, UnwritableOutputPathsWriteNothingAnywhere) {
  io_test::TempDir dir;
  ASSERT_TRUE(dir.ok());
  Problem p;
  namespace st = ternary::io::safetensors;
  namespace gg = ternary::io::gguf;
  st::writer sw;
  ASSERT_EQ(st::store_packed(sw, "w", p.w), status::ok);
  gg::writer gw;
  const int64_t ne[1] = {static_cast<int64_t>(p.x.size())};
  ASSERT_EQ(gw.add_tensor("x", ne, 1, 0, p.x.data(), p.x.size() * sizeof(float)), status::ok);
  io_test::write_file(dir.file("file"), {1, 2, 3});
  ASSERT_TRUE(std::filesystem::create_directory(dir.file("sub")));
  io_test::write_file(dir.file("sub/keep"), {4, 5});
  const std::set<std::string> before = listing(dir);
  const std::string bad_paths[] = {
      dir.file("missing/out.bin"),      // a directory that does not exist
      dir.file("file/out.bin"),         // a regular file used as a directory
      dir.file("sub"),                  // an existing directory as the target
      dir.file(std::string(300, 'n')),  // a name longer than file systems allow
  };
  for (const std::string& path : bad_paths) {
    SCOPED_TRACE(path);
    EXPECT_TERNARY_ERROR(p.w.save(path.c_str()), status::io_error, "save", "cannot");
    EXPECT_TERNARY_ERROR(sw.write(path.c_str()), status::io_error, "cannot", "temporary");
    EXPECT_TERNARY_ERROR(gw.write(path.c_str()), status::io_error, "cannot", "temporary");
    EXPECT_EQ(listing(dir), before) << "a failed write left a file behind";
  }
  EXPECT_EQ(io_test::read_file(dir.file("sub/keep")), (std::vector<uint8_t>{4, 5}));
  EXPECT_EQ(io_test::read_file(dir.file("file")), (std::vector<uint8_t>{1, 2, 3}));
  // A write the operating system cuts off part-way (file size limit): the existing file keeps
  // its bytes and no temporary remains.
  const std::string target = dir.file("file");
  {
    io_test::ScopedFileSizeLimit limit(1024);
    ASSERT_TRUE(limit.ok());
    EXPECT_TERNARY_ERROR(p.w.save(target.c_str()), status::io_error, "writing", "too large");
    EXPECT_TERNARY_ERROR(sw.write(target.c_str()), status::io_error, "writing", "too large");
    EXPECT_TERNARY_ERROR(gw.write(target.c_str()), status::io_error, "writing", "too large");
  }
  EXPECT_EQ(listing(dir), before);
  EXPECT_EQ(io_test::read_file(target), (std::vector<uint8_t>{1, 2, 3}));
  // An empty path is refused before anything is created.
  EXPECT_TERNARY_ERROR(sw.write(""), status::invalid_argument, "empty");
  EXPECT_TERNARY_ERROR(gw.write(""), status::invalid_argument, "empty");
}

TEST(Files, ZeroSizedTensorsAreValid) {
  // A dimension of 0 is a valid, empty tensor in both file formats (not an error, no data).
  namespace st = ternary::io::safetensors;
  namespace gg = ternary::io::gguf;
  const float dummy = 0.0f;
  st::writer sw;
  ASSERT_EQ(sw.add_tensor("empty", st::dtype::f32, {0, 7}, nullptr, 0), status::ok);
  ASSERT_EQ(sw.add_tensor("one", st::dtype::f32, std::vector<int64_t>{}, &dummy, 4), status::ok);
  std::vector<uint8_t> mem;
  ASSERT_EQ(sw.write_memory(&mem), status::ok);
  st::reader sr;
  ASSERT_EQ(st::reader::open_memory(mem.data(), mem.size(), &sr), status::ok)
      << ternary::last_error_message();
  ASSERT_NE(sr.find("empty"), nullptr);
  EXPECT_EQ(sr.find("empty")->numel, 0);
  EXPECT_EQ(sr.find("empty")->bytes(), 0u);
  EXPECT_EQ(sr.find("one")->numel, 1);

  gg::writer gw;
  const int64_t ne[2] = {0, 4};
  ASSERT_EQ(gw.add_tensor("empty", ne, 2, 0, &dummy, 0), status::ok)
      << ternary::last_error_message();
  ASSERT_EQ(gw.write_memory(&mem), status::ok);
  gg::reader gr;
  ASSERT_EQ(gg::reader::open_memory(mem.data(), mem.size(), &gr), status::ok)
      << ternary::last_error_message();
  ASSERT_NE(gr.find_tensor("empty"), nullptr);
  EXPECT_EQ(gr.find_tensor("empty")->numel, 0);
  EXPECT_EQ(gr.find_tensor("empty")->bytes, 0u);
}

}  // namespace
