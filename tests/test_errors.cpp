// SPDX-License-Identifier: Apache-2.0
// Every documented error: the right status AND a fresh, non-empty last_error_message() that
// names the problem. gemm() failures are checked together with can_implement(), which must
// return what gemm() would.
#include <cstdint>
#include <limits>
#include <thread>

#include "test_util.hpp"

// Huge-allocation tests must see a null pointer, not a sanitizer abort.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }

namespace {

using namespace ternary_test;
using ternary::act_path;
using ternary::act_type;
using ternary::activations;
using ternary::backend;
using ternary::gemm_options;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// True when the message contains the decimal number n not glued to other digits.
bool has_number(const std::string& msg, int64_t n) {
  const std::string s = std::to_string(n);
  for (size_t pos = msg.find(s); pos != std::string::npos; pos = msg.find(s, pos + 1)) {
    const bool left = pos == 0 || !std::isdigit(static_cast<unsigned char>(msg[pos - 1]));
    const size_t end = pos + s.size();
    const bool right = end == msg.size() || !std::isdigit(static_cast<unsigned char>(msg[end]));
    if (left && right) return true;
  }
  return false;
}

// A valid small problem that tests break one piece at a time.
struct Fixture {
  TritCase c;
  packed_matrix w;
  std::vector<float> x;
  std::vector<int8_t> xq;
  std::vector<float> s;
  std::vector<float> y;
  int64_t n = 0, k = 0, tokens = 3;

  explicit Fixture(format f = format::bits2, int planes = 1) {
    Rng rng(900);
    c = make_case(
        rng, make_desc(f, 6, 100, scale_granularity::per_row, 0, scale_type::f32, planes, true));
    n = c.d.rows;
    k = c.d.cols;
    EXPECT_EQ(pack_case(c, &w), status::ok) << ternary::last_error_message();
    x = random_floats(rng, static_cast<size_t>(tokens * k), -1.0f, 1.0f);
    xq.assign(static_cast<size_t>(tokens * k), 3);
    s.assign(static_cast<size_t>(tokens), 10.0f);
    y.assign(static_cast<size_t>(tokens * n), -123.0f);
  }
  activations xf() const { return activations::f32(x.data(), tokens, k, k); }
  activations xi() const { return activations::int8(xq.data(), s.data(), tokens, k, k); }
  bool y_untouched() const {
    for (float v : y) {
      if (v != -123.0f) return false;
    }
    return true;
  }
};

// gemm(view) and can_implement() agree on the failure; y stays untouched.
#define EXPECT_GEMM_ERROR(fx, acts, yptr, ldy, opt, expected, ...)                                \
  do {                                                                                            \
    EXPECT_EQ(ternary::can_implement((fx).w, acts, yptr, ldy, opt), expected) << "can_implement"; \
    EXPECT_TERNARY_ERROR(ternary::gemm((fx).w, acts, yptr, ldy, opt), expected, __VA_ARGS__);     \
    EXPECT_TRUE((fx).y_untouched()) << "a failed gemm wrote to y";                                \
  } while (0)

// ---------------------------------------------------------------- status plumbing

TEST(Status, NamesAreTheEnumeratorSpellings) {
  const std::pair<status, const char*> names[] = {
      {status::ok, "ok"},
      {status::invalid_argument, "invalid_argument"},
      {status::null_pointer, "null_pointer"},
      {status::size_overflow, "size_overflow"},
      {status::buffer_too_small, "buffer_too_small"},
      {status::invalid_scale, "invalid_scale"},
      {status::invalid_trit, "invalid_trit"},
      {status::format_mismatch, "format_mismatch"},
      {status::unsupported, "unsupported"},
      {status::no_cuda, "no_cuda"},
      {status::corrupt_data, "corrupt_data"},
      {status::io_error, "io_error"},
      {status::out_of_memory, "out_of_memory"},
      {status::internal_error, "internal_error"},
  };
  for (const auto& p : names) EXPECT_STREQ(ternary::status_name(p.first), p.second);
  EXPECT_NE(ternary::status_name(static_cast<status>(99)), nullptr);
}

TEST(Status, LastErrorMessageIsPerThread) {
  std::string fresh, after_fail, after_other_thread;
  std::thread t1([&] {
    fresh = ternary::last_error_message();
    isa i;
    (void)ternary::parse_isa("thread_one_bad_isa", &i);
    after_fail = ternary::last_error_message();
    std::thread t2([] {
      isa j;
      (void)ternary::parse_isa("thread_two_bad_isa", &j);
    });
    t2.join();
    after_other_thread = ternary::last_error_message();
  });
  t1.join();
  EXPECT_EQ(fresh, "") << "a thread that never failed has a message";
  EXPECT_NE(after_fail.find("thread_one_bad_isa"), std::string::npos) << after_fail;
  EXPECT_EQ(after_other_thread, after_fail) << "another thread's failure replaced this message";
}

TEST(Status, VersionStringMatchesHeaders) {
  EXPECT_STREQ(ternary::version_string(), TERNARY_VERSION_STRING);
}

// ---------------------------------------------------------------- pack / validate

TEST(PackErrors, NullPointers) {
  Fixture fx(format::bits2, 2);
  const matrix_desc& d = fx.c.d;
  const int8_t* trits[2] = {fx.c.trits[0].data(), fx.c.trits[1].data()};
  const float* scales[2] = {fx.c.scales[0].data(), fx.c.scales[1].data()};
  const float* bias = fx.c.bias.data();
  packed_matrix m;
  EXPECT_TERNARY_ERROR(
      packed_matrix::pack(d, static_cast<const int8_t* const*>(nullptr), fx.c.ld, scales, bias, &m),
      status::null_pointer, "trit");
  const int8_t* trits_null1[2] = {trits[0], nullptr};
  EXPECT_TERNARY_ERROR(packed_matrix::pack(d, trits_null1, fx.c.ld, scales, bias, &m),
                       status::null_pointer, "trit");
  const int8_t* trits_null0[2] = {nullptr, trits[1]};
  EXPECT_TERNARY_ERROR(packed_matrix::pack(d, trits_null0, fx.c.ld, scales, bias, &m),
                       status::null_pointer, "trit");
  EXPECT_TERNARY_ERROR(
      packed_matrix::pack(d, trits, fx.c.ld, static_cast<const float* const*>(nullptr), bias, &m),
      status::null_pointer, "scale");
  const float* scales_null1[2] = {scales[0], nullptr};
  EXPECT_TERNARY_ERROR(packed_matrix::pack(d, trits, fx.c.ld, scales_null1, bias, &m),
                       status::null_pointer, "scale");
  EXPECT_TERNARY_ERROR(packed_matrix::pack(d, trits, fx.c.ld, scales, nullptr, &m),
                       status::null_pointer, "bias");
  EXPECT_TERNARY_ERROR(packed_matrix::pack(d, trits, fx.c.ld, scales, bias, nullptr),
                       status::null_pointer, "out");
  // Single-plane overload.
  matrix_desc d1 = d;
  d1.planes = 1;
  EXPECT_TERNARY_ERROR(
      packed_matrix::pack(d1, static_cast<const int8_t*>(nullptr), fx.c.ld, scales[0], bias, &m),
      status::null_pointer, "trit");
  EXPECT_TERNARY_ERROR(
      packed_matrix::pack(d1, trits[0], fx.c.ld, static_cast<const float*>(nullptr), bias, &m),
      status::null_pointer, "scale");
  // A bias without has_bias is a contradiction, not something to ignore silently.
  matrix_desc no_bias = d;
  no_bias.has_bias = false;
  EXPECT_TERNARY_ERROR(packed_matrix::pack(no_bias, trits, fx.c.ld, scales, bias, &m),
                       status::invalid_argument, "bias");
}

TEST(PackErrors, BadSizesAreRejectedByEveryEntryPoint) {
  struct Bad {
    int64_t rows, cols;
    const char* keyword;
  };
  Fixture fx;
  auto check_all = [&](const Bad& b, bool over_limit) {
    SCOPED_TRACE("rows " + std::to_string(b.rows) + " cols " + std::to_string(b.cols));
    matrix_desc d = fx.c.d;
    d.rows = b.rows;
    d.cols = b.cols;
    size_t bytes = 0;
    packed_matrix m;
    std::vector<uint8_t> buf(4096);
    if (!over_limit) {
      EXPECT_TERNARY_ERROR(ternary::validate(d), status::invalid_argument, b.keyword);
      EXPECT_TERNARY_ERROR(ternary::storage_size(d, &bytes), status::invalid_argument, b.keyword);
      EXPECT_TERNARY_ERROR(packed_matrix::create(d, &m), status::invalid_argument, b.keyword);
      EXPECT_TERNARY_ERROR(packed_matrix::pack(d, fx.c.trits[0].data(), fx.c.ld,
                                               fx.c.scales[0].data(), fx.c.bias.data(), &m),
                           status::invalid_argument, b.keyword);
      EXPECT_TERNARY_ERROR(packed_matrix::wrap(d, buf.data(), buf.size(), &m),
                           status::invalid_argument, b.keyword);
      return;
    }
    // Beyond max_rows / max_cols: invalid_argument ("out of its domain") or size_overflow; the
    // headers support both readings (reported as an ambiguity).
    const status ia = status::invalid_argument, so = status::size_overflow;
    EXPECT_TERNARY_ERROR_EITHER(ternary::validate(d), ia, so, b.keyword);
    EXPECT_TERNARY_ERROR_EITHER(ternary::storage_size(d, &bytes), ia, so, b.keyword);
    EXPECT_TERNARY_ERROR_EITHER(packed_matrix::create(d, &m), ia, so, b.keyword);
    EXPECT_TERNARY_ERROR_EITHER(packed_matrix::pack(d, fx.c.trits[0].data(), fx.c.ld,
                                                    fx.c.scales[0].data(), fx.c.bias.data(), &m),
                                ia, so, b.keyword);
    EXPECT_TERNARY_ERROR_EITHER(packed_matrix::wrap(d, buf.data(), buf.size(), &m), ia, so,
                                b.keyword);
  };
  for (const Bad& b : {Bad{0, 100, "row"}, Bad{-1, 100, "row"}, Bad{6, 0, "col"}, Bad{6, -5, "col"},
                       Bad{std::numeric_limits<int64_t>::min(), 100, "row"}}) {
    check_all(b, false);
  }
  for (const Bad& b : {Bad{6, ternary::max_cols + 1, "col"}, Bad{ternary::max_rows + 1, 100, "row"},
                       Bad{std::numeric_limits<int64_t>::max(), 100, "row"},
                       Bad{6, std::numeric_limits<int64_t>::max(), "col"}}) {
    check_all(b, true);
  }
}

TEST(PackErrors, HugeButValidShapes) {
  // max_rows x max_cols is a valid description. With 64-bit size_t its byte size fits and the
  // allocation must fail cleanly; with 32-bit size_t the byte size itself overflows.
  matrix_desc d = make_desc(format::bits2, ternary::max_rows, ternary::max_cols,
                            scale_granularity::per_group, 64, scale_type::f32, 2, true);
  EXPECT_EQ(ternary::validate(d), status::ok) << ternary::last_error_message();
  size_t bytes = 0;
  packed_matrix m;
  if (sizeof(size_t) >= 8) {
    ASSERT_EQ(ternary::storage_size(d, &bytes), status::ok) << ternary::last_error_message();
    EXPECT_GE(bytes, static_cast<size_t>(2) * static_cast<size_t>(ternary::max_rows) *
                         static_cast<size_t>(ternary::max_cols / 4));
    EXPECT_TERNARY_ERROR(packed_matrix::create(d, &m), status::out_of_memory, "memory", "alloc");
    EXPECT_TRUE(m.empty());
  } else {
    EXPECT_TERNARY_ERROR(ternary::storage_size(d, &bytes), status::size_overflow, "size",
                         "overflow");
    EXPECT_TERNARY_ERROR(packed_matrix::create(d, &m), status::size_overflow, "size", "overflow");
  }
}

TEST(PackErrors, LeadingDimensionBelowCols) {
  Fixture fx;
  packed_matrix m;
  EXPECT_TERNARY_ERROR(packed_matrix::pack(fx.c.d, fx.c.trits[0].data(), fx.k - 1,
                                           fx.c.scales[0].data(), fx.c.bias.data(), &m),
                       status::buffer_too_small, "ld", "leading");
  EXPECT_TERNARY_ERROR(packed_matrix::pack(fx.c.d, fx.c.trits[0].data(), 0, fx.c.scales[0].data(),
                                           fx.c.bias.data(), &m),
                       status::buffer_too_small, "ld", "leading");
}

TEST(PackErrors, NonFiniteScalesAndBias) {
  for (scale_type st : {scale_type::f32, scale_type::f16}) {
    for (float bad : {kNaN, kInf, -kInf}) {
      Rng rng(901);
      const matrix_desc d =
          make_desc(format::base3, 4, 130, scale_granularity::per_group, 64, st, 2, true);
      TritCase c = make_case(rng, d);
      packed_matrix m;
      for (int p = 0; p < 2; ++p) {
        TritCase cs = c;
        cs.scales[p][5] = bad;
        EXPECT_TERNARY_ERROR(pack_case(cs, &m), status::invalid_scale, "scale");
      }
      TritCase cb = c;
      cb.bias[2] = bad;
      EXPECT_TERNARY_ERROR(pack_case(cb, &m), status::invalid_scale, "bias");
    }
  }
  // A finite fp32 scale that overflows fp16 would be stored as infinity.
  Rng rng(902);
  TritCase c = make_case(
      rng, make_desc(format::bits2, 2, 10, scale_granularity::per_row, 0, scale_type::f16));
  c.scales[0][1] = 1e6f;
  packed_matrix m;
  EXPECT_TERNARY_ERROR(pack_case(c, &m), status::invalid_scale, "scale");
}

TEST(PackErrors, GroupSize) {
  Fixture fx;
  struct Bad {
    scale_granularity g;
    int64_t group_size;
  };
  const Bad bads[] = {{scale_granularity::per_group, 0},   {scale_granularity::per_group, 32},
                      {scale_granularity::per_group, 65},  {scale_granularity::per_group, 100},
                      {scale_granularity::per_group, -64}, {scale_granularity::per_row, 64},
                      {scale_granularity::per_tensor, 128}};
  for (const Bad& b : bads) {
    SCOPED_TRACE(std::string(ternary::granularity_name(b.g)) +
                 " G=" + std::to_string(b.group_size));
    matrix_desc d = fx.c.d;
    d.granularity = b.g;
    d.group_size = b.group_size;
    EXPECT_TERNARY_ERROR(ternary::validate(d), status::invalid_argument, "group");
    packed_matrix m;
    EXPECT_TERNARY_ERROR(packed_matrix::create(d, &m), status::invalid_argument, "group");
    std::vector<float> many(10000, 1.0f);
    EXPECT_TERNARY_ERROR(
        packed_matrix::pack(d, fx.c.trits[0].data(), fx.c.ld, many.data(), fx.c.bias.data(), &m),
        status::invalid_argument, "group");
  }
}

TEST(PackErrors, PlanesAndEnums) {
  Fixture fx;
  for (int planes : {0, 3, -1}) {
    matrix_desc d = fx.c.d;
    d.planes = planes;
    EXPECT_TERNARY_ERROR(ternary::validate(d), status::invalid_argument, "plane");
    packed_matrix m;
    EXPECT_TERNARY_ERROR(packed_matrix::create(d, &m), status::invalid_argument, "plane");
  }
  for (uint32_t v : {0u, 4u, 99u}) {
    matrix_desc d = fx.c.d;
    d.fmt = static_cast<format>(v);
    EXPECT_TERNARY_ERROR(ternary::validate(d), status::invalid_argument, "format");
    d = fx.c.d;
    d.granularity = static_cast<scale_granularity>(v);
    EXPECT_TERNARY_ERROR(ternary::validate(d), status::invalid_argument, "granularity");
    d = fx.c.d;
    d.scale_dtype = static_cast<scale_type>(v);
    EXPECT_TERNARY_ERROR(ternary::validate(d), status::invalid_argument, "scale", "type");
    packed_matrix m;
    EXPECT_TERNARY_ERROR(packed_matrix::pack(d, fx.c.trits[0].data(), fx.c.ld,
                                             fx.c.scales[0].data(), fx.c.bias.data(), &m),
                         status::invalid_argument, "scale", "type");
  }
}

TEST(PackErrors, TritsOutsideTheTernaryRangeNameRowAndColumn) {
  for (format f : {format::bits2, format::base3}) {
    for (int8_t bad : {int8_t{2}, int8_t{-2}, int8_t{127}, int8_t{-128}}) {
      Fixture fx(f);
      TritCase c = fx.c;
      c.trits[0][static_cast<size_t>(4 * c.ld + 37)] = bad;
      packed_matrix m;
      EXPECT_TERNARY_ERROR(pack_case(c, &m), status::invalid_trit, "trit", "value");
      const std::string msg = ternary::last_error_message();
      EXPECT_TRUE(has_number(msg, 4) && has_number(msg, 37))
          << "message does not name row 4, column 37: " << msg;
    }
  }
}

TEST(PackErrors, SherryQuadsWithoutExactlyOneZeroNameRowAndColumn) {
  Rng rng(903);
  const matrix_desc d = make_desc(format::sherry, 8, 64, scale_granularity::per_row);
  const TritCase base = make_case(rng, d);
  const int8_t no_zero[4] = {1, -1, 1, 1};
  const int8_t two_zeros[4] = {0, 1, 0, -1};
  const int8_t four_zeros[4] = {0, 0, 0, 0};
  const int8_t bad_value[4] = {0, 1, 2, 1};
  for (const int8_t* quad : {no_zero, two_zeros, four_zeros, bad_value}) {
    TritCase c = base;
    for (int l = 0; l < 4; ++l) c.trits[0][static_cast<size_t>(6 * c.ld + 40 + l)] = quad[l];
    packed_matrix m;
    EXPECT_TERNARY_ERROR(pack_case(c, &m), status::invalid_trit, "quad", "zero", "3:4", "sherry",
                         "trit");
    const std::string msg = ternary::last_error_message();
    const bool names_col = has_number(msg, 40) || has_number(msg, 41) || has_number(msg, 42) ||
                           has_number(msg, 43) || has_number(msg, 10);
    EXPECT_TRUE(has_number(msg, 6) && names_col)
        << "message does not name row 6 and the quad at columns 40..43: " << msg;
  }
  // A quad cut by K: two zeros among the two real columns is already too many.
  const matrix_desc dk = make_desc(format::sherry, 2, 42, scale_granularity::per_row);
  TritCase c = make_case(rng, dk);
  c.trits[0][static_cast<size_t>(1 * c.ld + 40)] = 0;
  c.trits[0][static_cast<size_t>(1 * c.ld + 41)] = 0;
  packed_matrix m;
  EXPECT_TERNARY_ERROR(pack_case(c, &m), status::invalid_trit, "quad", "zero", "3:4", "sherry",
                       "trit");
}

// ---------------------------------------------------------------- wrap / matrix methods

TEST(MatrixErrors, Wrap) {
  Fixture fx(format::base3, 2);
  const matrix_desc& d = fx.c.d;
  packed_matrix v;
  EXPECT_TERNARY_ERROR(packed_matrix::wrap(d, nullptr, fx.w.storage_bytes(), &v),
                       status::null_pointer, "storage", "buffer", "data");
  EXPECT_TERNARY_ERROR(packed_matrix::wrap(d, fx.w.storage(), fx.w.storage_bytes(), nullptr),
                       status::null_pointer, "out");
  EXPECT_TERNARY_ERROR(packed_matrix::wrap(d, fx.w.storage(), fx.w.storage_bytes() - 1, &v),
                       status::buffer_too_small, "byte", "size", "small");
  EXPECT_TERNARY_ERROR(packed_matrix::wrap(d, fx.w.storage(), 0, &v), status::buffer_too_small,
                       "byte", "size", "small");
  // Scales and bias are validated on wrap.
  packed_matrix owned(fx.w);
  static_cast<float*>(owned.mutable_scales(1))[3] = kNaN;
  EXPECT_TERNARY_ERROR(packed_matrix::wrap(d, owned.storage(), owned.storage_bytes(), &v),
                       status::invalid_scale, "scale");
  packed_matrix owned2(fx.w);
  owned2.mutable_bias()[1] = kInf;
  EXPECT_TERNARY_ERROR(packed_matrix::wrap(d, owned2.storage(), owned2.storage_bytes(), &v),
                       status::invalid_scale, "bias");
}

TEST(MatrixErrors, CheckValuesNamesPlaneAndIndex) {
  packed_matrix m;
  ASSERT_EQ(packed_matrix::create(make_desc(format::sherry, 5, 300, scale_granularity::per_group,
                                            64, scale_type::f16, 2, true),
                                  &m),
            status::ok);
  EXPECT_EQ(m.check_values(), status::ok);
  static_cast<uint16_t*>(m.mutable_scales(1))[17] = 0x7e00;  // fp16 NaN
  EXPECT_TERNARY_ERROR(m.check_values(), status::invalid_scale, "scale");
  std::string msg = ternary::last_error_message();
  EXPECT_TRUE(has_number(msg, 1) && has_number(msg, 17)) << "plane 1, index 17: " << msg;
  static_cast<uint16_t*>(m.mutable_scales(1))[17] = 0x7c00;  // fp16 infinity
  EXPECT_TERNARY_ERROR(m.check_values(), status::invalid_scale, "scale");
  static_cast<uint16_t*>(m.mutable_scales(1))[17] = 0;
  m.mutable_bias()[3] = -kInf;
  EXPECT_TERNARY_ERROR(m.check_values(), status::invalid_scale, "bias");
  msg = ternary::last_error_message();
  EXPECT_TRUE(has_number(msg, 3)) << "bias index 3: " << msg;
}

TEST(MatrixErrors, UnpackAndDequantize) {
  Fixture fx;
  std::vector<int8_t> t(static_cast<size_t>(fx.n * fx.k));
  std::vector<float> f(static_cast<size_t>(fx.n * fx.k));
  EXPECT_TERNARY_ERROR(fx.w.unpack_trits(0, nullptr, fx.k), status::null_pointer, "out");
  EXPECT_TERNARY_ERROR(fx.w.unpack_trits(1, t.data(), fx.k), status::invalid_argument, "plane");
  EXPECT_TERNARY_ERROR(fx.w.unpack_trits(-1, t.data(), fx.k), status::invalid_argument, "plane");
  EXPECT_TERNARY_ERROR(fx.w.unpack_trits(0, t.data(), fx.k - 1), status::buffer_too_small, "ld",
                       "leading");
  EXPECT_TERNARY_ERROR(fx.w.unpack_scales(0, nullptr), status::null_pointer, "out");
  EXPECT_TERNARY_ERROR(fx.w.unpack_scales(2, f.data()), status::invalid_argument, "plane");
  EXPECT_TERNARY_ERROR(fx.w.dequantize(nullptr, fx.k), status::null_pointer, "out");
  EXPECT_TERNARY_ERROR(fx.w.dequantize(f.data(), fx.k - 1), status::buffer_too_small, "ld",
                       "leading");
  packed_matrix empty;
  EXPECT_TERNARY_ERROR(empty.unpack_trits(0, t.data(), fx.k), status::invalid_argument, "empty");
  EXPECT_TERNARY_ERROR(empty.dequantize(f.data(), fx.k), status::invalid_argument, "empty");
  EXPECT_TERNARY_ERROR(empty.unpack_scales(0, f.data()), status::invalid_argument, "empty");
}

TEST(MatrixErrors, NullOutputsOfFactoriesAndContainers) {
  Fixture fx;
  size_t bytes;
  (void)bytes;
  EXPECT_TERNARY_ERROR(ternary::storage_size(fx.c.d, nullptr), status::null_pointer, "out", "bytes",
                       "size");
  EXPECT_TERNARY_ERROR(packed_matrix::create(fx.c.d, nullptr), status::null_pointer, "out");
  EXPECT_TERNARY_ERROR(fx.w.serialize(nullptr), status::null_pointer, "out");
  std::vector<uint8_t> data;
  ASSERT_EQ(fx.w.serialize(&data), status::ok);
  packed_matrix m;
  EXPECT_TERNARY_ERROR(packed_matrix::deserialize(nullptr, data.size(), &m), status::null_pointer,
                       "data");
  EXPECT_TERNARY_ERROR(packed_matrix::deserialize(data.data(), data.size(), nullptr),
                       status::null_pointer, "out");
  EXPECT_TERNARY_ERROR(packed_matrix::load(nullptr, &m), status::null_pointer, "path");
  EXPECT_TERNARY_ERROR(packed_matrix::load("/nonexistent/x.tern", nullptr), status::null_pointer,
                       "out");
  EXPECT_TERNARY_ERROR(fx.w.save(nullptr), status::null_pointer, "path");
}

// ---------------------------------------------------------------- gemm family

TEST(GemmErrors, NullPointers) {
  Fixture fx;
  const gemm_options opt;
  activations a = fx.xf();
  a.data = nullptr;
  EXPECT_GEMM_ERROR(fx, a, fx.y.data(), fx.n, opt, status::null_pointer, "x", "activation", "input",
                    "data");
  EXPECT_GEMM_ERROR(fx, fx.xf(), nullptr, fx.n, opt, status::null_pointer, "y", "output");
  activations ai = fx.xi();
  ai.scales = nullptr;
  EXPECT_GEMM_ERROR(fx, ai, fx.y.data(), fx.n, opt, status::null_pointer, "scale");
  ai = fx.xi();
  ai.data = nullptr;
  EXPECT_GEMM_ERROR(fx, ai, fx.y.data(), fx.n, opt, status::null_pointer, "x", "activation",
                    "input", "data");
  EXPECT_TERNARY_ERROR(ternary::gemm(fx.w, nullptr, fx.tokens, fx.k, fx.y.data(), fx.n),
                       status::null_pointer, "x", "activation", "input");
  EXPECT_TERNARY_ERROR(ternary::gemm(fx.w, fx.x.data(), fx.tokens, fx.k, nullptr, fx.n),
                       status::null_pointer, "y", "output");
  EXPECT_TERNARY_ERROR(ternary::gemv(fx.w, nullptr, fx.y.data()), status::null_pointer, "x",
                       "activation", "input");
  EXPECT_TERNARY_ERROR(ternary::gemv(fx.w, fx.x.data(), nullptr), status::null_pointer, "y",
                       "output");
  EXPECT_TERNARY_ERROR(ternary::gemm_rows(fx.w, ai, fx.y.data(), fx.n, 0, fx.n),
                       status::null_pointer, "x", "activation", "input", "data");
  EXPECT_TERNARY_ERROR(ternary::gemm_rows(fx.w, fx.xi(), nullptr, fx.n, 0, fx.n),
                       status::null_pointer, "y", "output");
  EXPECT_TRUE(fx.y_untouched());
}

TEST(GemmErrors, ShapesAndLeadingDimensions) {
  Fixture fx;
  const gemm_options opt;
  // Activation columns must equal the matrix's K; the message gives both.
  for (int64_t cols : {fx.k - 1, fx.k + 1}) {
    activations a = fx.xf();
    a.cols = cols;
    a.ld = fx.k + 1;
    std::vector<float> bigger(static_cast<size_t>(fx.tokens * (fx.k + 1)), 0.5f);
    a.data = bigger.data();
    EXPECT_GEMM_ERROR(fx, a, fx.y.data(), fx.n, opt, status::format_mismatch, "col", "k");
    const std::string msg = ternary::last_error_message();
    EXPECT_TRUE(has_number(msg, cols) && has_number(msg, fx.k)) << msg;
  }
  activations a = fx.xf();
  a.ld = fx.k - 1;
  EXPECT_GEMM_ERROR(fx, a, fx.y.data(), fx.n, opt, status::buffer_too_small, "ld", "leading");
  activations ai = fx.xi();
  ai.ld = 0;
  EXPECT_GEMM_ERROR(fx, ai, fx.y.data(), fx.n, opt, status::buffer_too_small, "ld", "leading");
  EXPECT_GEMM_ERROR(fx, fx.xf(), fx.y.data(), fx.n - 1, opt, status::buffer_too_small, "ldy",
                    "leading");
  EXPECT_TERNARY_ERROR(ternary::gemm(fx.w, fx.x.data(), fx.tokens, fx.k - 1, fx.y.data(), fx.n),
                       status::buffer_too_small, "ld", "leading");
  EXPECT_TERNARY_ERROR(ternary::gemm(fx.w, fx.x.data(), fx.tokens, fx.k, fx.y.data(), fx.n - 1),
                       status::buffer_too_small, "ldy", "leading");
  EXPECT_TERNARY_ERROR(ternary::gemm_rows(fx.w, fx.xi(), fx.y.data(), fx.n - 1, 0, fx.n),
                       status::buffer_too_small, "ldy", "leading");
  EXPECT_TRUE(fx.y_untouched());
}

TEST(GemmErrors, TokenCounts) {
  // The headers do not say whether 0 tokens is a no-op; like every other size, it must be
  // positive (see the report).
  Fixture fx;
  const gemm_options opt;
  for (int64_t tokens : {int64_t{0}, int64_t{-1}}) {
    SCOPED_TRACE("tokens " + std::to_string(tokens));
    activations a = fx.xf();
    a.tokens = tokens;
    EXPECT_GEMM_ERROR(fx, a, fx.y.data(), fx.n, opt, status::invalid_argument, "token");
    EXPECT_TERNARY_ERROR(ternary::gemm(fx.w, fx.x.data(), tokens, fx.k, fx.y.data(), fx.n),
                         status::invalid_argument, "token");
    EXPECT_TERNARY_ERROR(ternary::gemm_rows(fx.w, a, fx.y.data(), fx.n, 0, fx.n),
                         status::invalid_argument, "token");
    std::vector<int8_t> q(16);
    float s;
    EXPECT_TERNARY_ERROR(
        ternary::quantize_activations(fx.x.data(), tokens, fx.k, fx.k, q.data(), fx.k, &s),
        status::invalid_argument, "token");
  }
  // Beyond max_rows: invalid_argument or size_overflow (ambiguous in the headers).
  const int64_t tokens = ternary::max_rows + 1;
  const status ia = status::invalid_argument, so = status::size_overflow;
  activations a = fx.xf();
  a.tokens = tokens;
  const status ci = ternary::can_implement(fx.w, a, fx.y.data(), fx.n, opt);
  EXPECT_TERNARY_ERROR_EITHER(ternary::gemm(fx.w, a, fx.y.data(), fx.n, opt), ia, so, "token");
  EXPECT_EQ(ci, ternary::gemm(fx.w, a, fx.y.data(), fx.n, opt)) << "can_implement disagrees";
  EXPECT_TERNARY_ERROR_EITHER(ternary::gemm(fx.w, fx.x.data(), tokens, fx.k, fx.y.data(), fx.n), ia,
                              so, "token");
  EXPECT_TERNARY_ERROR_EITHER(ternary::gemm_rows(fx.w, a, fx.y.data(), fx.n, 0, fx.n), ia, so,
                              "token");
  std::vector<int8_t> q(16);
  float s;
  EXPECT_TERNARY_ERROR_EITHER(
      ternary::quantize_activations(fx.x.data(), tokens, fx.k, fx.k, q.data(), fx.k, &s), ia, so,
      "token");
  EXPECT_TRUE(fx.y_untouched());
}

TEST(GemmErrors, NonFiniteInt8ActivationScales) {
  Fixture fx;
  for (float bad : {kNaN, kInf, -kInf}) {
    fx.s[1] = bad;
    EXPECT_GEMM_ERROR(fx, fx.xi(), fx.y.data(), fx.n, gemm_options{}, status::invalid_scale,
                      "scale");
    EXPECT_TERNARY_ERROR(ternary::gemm_rows(fx.w, fx.xi(), fx.y.data(), fx.n, 0, fx.n),
                         status::invalid_scale, "scale");
    EXPECT_TRUE(fx.y_untouched());
  }
}

TEST(GemmErrors, NonFiniteFloatActivationsOnTheInt8Path) {
  // quantize_activations names the token and the column; gemm's int8 path quantizes, so it
  // must refuse the same input.
  Fixture fx;
  for (float bad : {kNaN, kInf, -kInf}) {
    std::vector<float> x = fx.x;
    x[static_cast<size_t>(1 * fx.k + 17)] = bad;
    std::vector<int8_t> q(x.size());
    std::vector<float> s(static_cast<size_t>(fx.tokens));
    EXPECT_TERNARY_ERROR(
        ternary::quantize_activations(x.data(), fx.tokens, fx.k, fx.k, q.data(), fx.k, s.data()),
        status::invalid_argument, "nan", "inf", "finite");
    const std::string msg = ternary::last_error_message();
    EXPECT_TRUE(has_number(msg, 1) && has_number(msg, 17)) << "token 1, column 17: " << msg;
    EXPECT_TERNARY_ERROR(ternary::gemm(fx.w, x.data(), fx.tokens, fx.k, fx.y.data(), fx.n),
                         status::invalid_argument, "nan", "inf", "finite");
    EXPECT_TERNARY_ERROR(ternary::gemv(fx.w, x.data() + fx.k, fx.y.data()),
                         status::invalid_argument, "nan", "inf", "finite");
  }
}

TEST(GemmErrors, QuantizeActivationsArguments) {
  Fixture fx;
  std::vector<int8_t> q(static_cast<size_t>(fx.tokens * fx.k));
  std::vector<float> s(static_cast<size_t>(fx.tokens));
  const float* x = fx.x.data();
  const int64_t t = fx.tokens, k = fx.k;
  EXPECT_TERNARY_ERROR(ternary::quantize_activations(nullptr, t, k, k, q.data(), k, s.data()),
                       status::null_pointer, "x", "input");
  EXPECT_TERNARY_ERROR(ternary::quantize_activations(x, t, k, k, nullptr, k, s.data()),
                       status::null_pointer, "xq", "output");
  EXPECT_TERNARY_ERROR(ternary::quantize_activations(x, t, k, k, q.data(), k, nullptr),
                       status::null_pointer, "scale");
  EXPECT_TERNARY_ERROR(ternary::quantize_activations(x, t, 0, k, q.data(), k, s.data()),
                       status::invalid_argument, "col");
  EXPECT_TERNARY_ERROR(ternary::quantize_activations(x, t, -3, k, q.data(), k, s.data()),
                       status::invalid_argument, "col");
  EXPECT_TERNARY_ERROR_EITHER(
      ternary::quantize_activations(x, 1, ternary::max_cols + 1, ternary::max_cols + 1, q.data(),
                                    ternary::max_cols + 1, s.data()),
      status::invalid_argument, status::size_overflow, "col");
  EXPECT_TERNARY_ERROR(ternary::quantize_activations(x, t, k, k - 1, q.data(), k, s.data()),
                       status::buffer_too_small, "ld", "leading");
  EXPECT_TERNARY_ERROR(ternary::quantize_activations(x, t, k, k, q.data(), k - 1, s.data()),
                       status::buffer_too_small, "ld", "leading");
}

TEST(GemmErrors, BadEnumsInOptionsAndActivations) {
  Fixture fx;
  activations a = fx.xf();
  a.type = static_cast<act_type>(99);
  EXPECT_GEMM_ERROR(fx, a, fx.y.data(), fx.n, gemm_options{}, status::invalid_argument,
                    "activation", "type");
  gemm_options opt;
  opt.path = static_cast<act_path>(99);
  EXPECT_TERNARY_ERROR(ternary::gemm(fx.w, fx.x.data(), fx.tokens, fx.k, fx.y.data(), fx.n, opt),
                       status::invalid_argument, "path");
  EXPECT_TERNARY_ERROR(ternary::gemv(fx.w, fx.x.data(), fx.y.data(), opt), status::invalid_argument,
                       "path");
  opt = gemm_options{};
  opt.target = static_cast<backend>(99);
  EXPECT_GEMM_ERROR(fx, fx.xf(), fx.y.data(), fx.n, opt, status::invalid_argument, "backend");
  opt = gemm_options{};
  opt.threads = -1;
  EXPECT_GEMM_ERROR(fx, fx.xf(), fx.y.data(), fx.n, opt, status::invalid_argument, "thread");
  EXPECT_TERNARY_ERROR(ternary::set_isa(static_cast<isa>(99)), status::invalid_argument, "isa");
  EXPECT_FALSE(ternary::isa_available(static_cast<isa>(99)));
  EXPECT_FALSE(ternary::isa_available(static_cast<isa>(-1)));
}

TEST(GemmErrors, CudaBackendInACpuBuild) {
  Fixture fx;
  gemm_options opt;
  opt.target = backend::cuda;
  if (ternary::cuda_built()) {
    // A CUDA build either runs or explains why not (no device); it never fails silently.
    const status st = ternary::gemm(fx.w, fx.xf(), fx.y.data(), fx.n, opt);
    if (st != status::ok) {
      EXPECT_STRNE(ternary::last_error_message(), "");
    }
    return;
  }
  EXPECT_GEMM_ERROR(fx, fx.xf(), fx.y.data(), fx.n, opt, status::no_cuda, "cuda");
  EXPECT_GEMM_ERROR(fx, fx.xi(), fx.y.data(), fx.n, opt, status::no_cuda, "cuda");
  EXPECT_TERNARY_ERROR(ternary::gemm(fx.w, fx.x.data(), fx.tokens, fx.k, fx.y.data(), fx.n, opt),
                       status::no_cuda, "cuda");
  EXPECT_TERNARY_ERROR(ternary::gemv(fx.w, fx.x.data(), fx.y.data(), opt), status::no_cuda, "cuda");
  EXPECT_STREQ(ternary::kernel_name(fx.w, act_type::int8, opt), "");
  // backend::automatic and backend::cpu run on the CPU.
  opt.target = backend::cpu;
  EXPECT_EQ(ternary::gemm(fx.w, fx.xf(), fx.y.data(), fx.n, opt), status::ok);
  opt.target = backend::automatic;
  EXPECT_EQ(ternary::gemm(fx.w, fx.xf(), fx.y.data(), fx.n, opt), status::ok);
}

TEST(GemmErrors, RowRanges) {
  Fixture fx;
  const int64_t n = fx.n;
  const int64_t bad[][2] = {{3, 2}, {0, n + 1}, {-1, 2}, {n + 1, n + 1}, {n, n + 2}};
  for (const auto& r : bad) {
    SCOPED_TRACE("rows [" + std::to_string(r[0]) + ", " + std::to_string(r[1]) + ")");
    EXPECT_TERNARY_ERROR(ternary::gemm_rows(fx.w, fx.xi(), fx.y.data(), n, r[0], r[1]),
                         status::invalid_argument, "row", "range");
    EXPECT_TRUE(fx.y_untouched());
  }
  // An empty range is valid and writes nothing.
  EXPECT_EQ(ternary::gemm_rows(fx.w, fx.xi(), fx.y.data(), n, 2, 2), status::ok);
  EXPECT_TRUE(fx.y_untouched());
}

TEST(GemmErrors, EmptyMatrix) {
  Fixture fx;
  const packed_matrix empty;
  const gemm_options opt;
  EXPECT_EQ(ternary::can_implement(empty, fx.xf(), fx.y.data(), fx.n, opt),
            status::invalid_argument);
  EXPECT_TERNARY_ERROR(ternary::gemm(empty, fx.xf(), fx.y.data(), fx.n, opt),
                       status::invalid_argument, "empty");
  EXPECT_TERNARY_ERROR(ternary::gemm(empty, fx.x.data(), fx.tokens, fx.k, fx.y.data(), fx.n),
                       status::invalid_argument, "empty");
  EXPECT_TERNARY_ERROR(ternary::gemv(empty, fx.x.data(), fx.y.data()), status::invalid_argument,
                       "empty");
  EXPECT_TERNARY_ERROR(ternary::gemm_rows(empty, fx.xi(), fx.y.data(), fx.n, 0, 0),
                       status::invalid_argument, "empty");
  EXPECT_STREQ(ternary::kernel_name(empty, act_type::int8), "");
  EXPECT_TRUE(fx.y_untouched());
}

TEST(GemmErrors, ValidRequestPassesCanImplement) {
  Fixture fx(format::sherry, 2);
  EXPECT_EQ(ternary::can_implement(fx.w, fx.xf(), fx.y.data(), fx.n), status::ok);
  EXPECT_EQ(ternary::can_implement(fx.w, fx.xi(), fx.y.data(), fx.n), status::ok);
  EXPECT_EQ(ternary::gemm(fx.w, fx.xi(), fx.y.data(), fx.n), status::ok)
      << ternary::last_error_message();
}

}  // namespace
