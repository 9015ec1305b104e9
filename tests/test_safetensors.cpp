// SPDX-License-Identifier: Apache-2.0
// safetensors reader/writer: round trips of every dtype, one hand-made corrupt file per
// validation rule, truncation at every byte, random corruption, atomic writes, and the packed
// matrix convention for every format and scale layout.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "test_util.hpp"

#include "ternary/io/safetensors.hpp"

namespace {

using io_test::TempDir;
using ternary::last_error_message;
using ternary::status;
namespace st = ternary::io::safetensors;
using st::dtype;

const std::vector<dtype>& all_dtypes() {
  static const std::vector<dtype> v = {dtype::f64,     dtype::f32,     dtype::f16,    dtype::bf16,
                                       dtype::i64,     dtype::i32,     dtype::i16,    dtype::i8,
                                       dtype::u64,     dtype::u32,     dtype::u16,    dtype::u8,
                                       dtype::boolean, dtype::f8_e4m3, dtype::f8_e5m2};
  return v;
}

// A file from a header string and a data buffer of `buffer` bytes (filled with `fill`).
std::vector<uint8_t> make_file(const std::string& json, size_t buffer, uint8_t fill = 0) {
  io_test::Bytes b;
  b.u64(json.size()).raw(json);
  b.v.insert(b.v.end(), buffer, fill);
  return b.v;
}

std::string message() { return last_error_message(); }

TEST(Dtype, NamesSizesAndParsing) {
  const char* names[] = {"F64", "F32", "F16", "BF16", "I64",  "I32",     "I16",    "I8",
                         "U64", "U32", "U16", "U8",   "BOOL", "F8_E4M3", "F8_E5M2"};
  const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 8, 4, 2, 1, 1, 1, 1};
  for (size_t i = 0; i < all_dtypes().size(); ++i) {
    EXPECT_STREQ(st::dtype_name(all_dtypes()[i]), names[i]);
    EXPECT_EQ(st::dtype_size(all_dtypes()[i]), sizes[i]);
    dtype t = dtype::u8;
    EXPECT_TRUE(st::parse_dtype(names[i], &t));
    EXPECT_EQ(t, all_dtypes()[i]);
  }
  dtype t;
  EXPECT_FALSE(st::parse_dtype("f32", &t));
  EXPECT_FALSE(st::parse_dtype("F4", &t));
  EXPECT_EQ(st::dtype_size(static_cast<dtype>(99)), 0u);
}

TEST(RoundTrip, EveryDtypeThroughAFile) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  ternary_test::Rng rng(7);
  std::vector<std::vector<uint8_t>> data;
  st::writer w;
  ASSERT_EQ(w.add_metadata("format", "pt"), status::ok);
  ASSERT_EQ(w.add_metadata("note", "caf\xc3\xa9 \"quoted\" \\ \n"), status::ok);
  for (size_t i = 0; i < all_dtypes().size(); ++i) {
    const dtype t = all_dtypes()[i];
    const std::vector<int64_t> shape = {static_cast<int64_t>(i % 3 + 1), 3};
    std::vector<uint8_t> bytes(static_cast<size_t>(shape[0] * shape[1]) * st::dtype_size(t));
    for (auto& b : bytes) b = static_cast<uint8_t>(rng.next());
    if (t == dtype::boolean)
      for (auto& b : bytes) b &= 1;
    data.push_back(bytes);
    ASSERT_EQ(w.add_tensor(std::string("t.") + st::dtype_name(t), t, shape, data.back().data(),
                           data.back().size()),
              status::ok)
        << message();
  }
  const float scalar = 2.5f;
  ASSERT_EQ(w.add_tensor("scalar", dtype::f32, nullptr, 0, &scalar, 4), status::ok);
  ASSERT_EQ(w.add_tensor("empty", dtype::f16, {0, 7}, nullptr, 0), status::ok);
  EXPECT_EQ(w.tensor_count(), all_dtypes().size() + 2);

  const std::string path = dir.file("all.safetensors");
  ASSERT_EQ(w.write(path.c_str()), status::ok) << message();
  std::vector<uint8_t> mem;
  ASSERT_EQ(w.write_memory(&mem), status::ok);
  EXPECT_EQ(io_test::read_file(path), mem);
  uint64_t predicted = 0;
  ASSERT_EQ(w.file_size(&predicted), status::ok);
  EXPECT_EQ(predicted, mem.size());
  EXPECT_EQ(dir.entries().size(), 1u);  // no temporary left behind

  st::reader r;
  ASSERT_EQ(st::reader::open(path.c_str(), &r), status::ok) << message();
  EXPECT_TRUE(r.is_mapped());
  EXPECT_EQ(r.data_offset() % 8, 0u);
  EXPECT_EQ(r.file_size(), mem.size());
  EXPECT_EQ(r.source(), path);
  ASSERT_EQ(r.tensors().size(), all_dtypes().size() + 2);
  for (size_t i = 0; i < all_dtypes().size(); ++i) {
    const auto& t = r.tensors()[i];  // insertion order is offset order
    EXPECT_EQ(t.name, std::string("t.") + st::dtype_name(all_dtypes()[i]));
    EXPECT_EQ(t.type, all_dtypes()[i]);
    EXPECT_EQ(t.shape, (std::vector<int64_t>{static_cast<int64_t>(i % 3 + 1), 3}));
    ASSERT_EQ(t.bytes(), data[i].size());
    EXPECT_EQ(std::memcmp(t.data, data[i].data(), data[i].size()), 0);
    EXPECT_EQ(r.find(t.name), &t);
  }
  const st::tensor_info* s = r.find("scalar");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->numel, 1);
  float back = 0;
  ASSERT_EQ(st::to_f32(*s, &back, 1), status::ok);
  EXPECT_EQ(back, 2.5f);
  const st::tensor_info* e = r.find("empty");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->numel, 0);
  EXPECT_EQ(e->bytes(), 0u);
  EXPECT_EQ(r.find("missing"), nullptr);
  ASSERT_EQ(r.metadata().size(), 2u);
  EXPECT_EQ(r.metadata()[0].first, "format");
  ASSERT_NE(r.find_metadata("note"), nullptr);
  EXPECT_EQ(*r.find_metadata("note"), "caf\xc3\xa9 \"quoted\" \\ \n");
  EXPECT_EQ(r.find_metadata("absent"), nullptr);

  // Moving the reader keeps every pointer valid.
  const uint8_t* first = r.tensors()[0].data;
  st::reader moved(std::move(r));
  EXPECT_FALSE(r.is_open());
  EXPECT_TRUE(r.tensors().empty());
  EXPECT_EQ(moved.tensors()[0].data, first);
  EXPECT_EQ(std::memcmp(first, data[0].data(), data[0].size()), 0);

  st::reader m;
  ASSERT_EQ(st::reader::open_memory(mem.data(), mem.size(), &m), status::ok);
  EXPECT_FALSE(m.is_mapped());
  EXPECT_EQ(m.source(), "<memory>");
  EXPECT_EQ(m.tensors().size(), moved.tensors().size());
}

TEST(RoundTrip, EmptyFileAndHeaderOrder) {
  st::writer w;
  std::vector<uint8_t> mem;
  ASSERT_EQ(w.write_memory(&mem), status::ok);
  EXPECT_EQ(mem.size() % 8, 0u);
  st::reader r;
  ASSERT_EQ(st::reader::open_memory(mem.data(), mem.size(), &r), status::ok) << message();
  EXPECT_TRUE(r.tensors().empty());

  // Offsets, not header order, decide the tensor order.
  const auto f = make_file(R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},)"
                           R"("a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
                           4);
  ASSERT_EQ(st::reader::open_memory(f.data(), f.size(), &r), status::ok) << message();
  EXPECT_EQ(r.tensors()[0].name, "a");
  EXPECT_EQ(r.tensors()[1].name, "b");
}

TEST(ToF32, ConvertsEveryNumericType) {
  auto tensor = [](dtype t, const std::vector<uint8_t>& bytes) {
    st::tensor_info info;
    info.name = "x";
    info.type = t;
    info.numel = static_cast<int64_t>(bytes.size() / st::dtype_size(t));
    info.shape = {info.numel};
    info.begin = 0;
    info.end = bytes.size();
    info.data = bytes.data();
    return info;
  };
  float out[4];
  auto check = [&](dtype t, const std::vector<uint8_t>& bytes, std::vector<float> want) {
    const std::vector<uint8_t> keep = bytes;
    const auto info = tensor(t, keep);
    ASSERT_EQ(st::to_f32(info, out, 4), status::ok) << st::dtype_name(t) << ": " << message();
    for (size_t i = 0; i < want.size(); ++i) {
      if (std::isnan(want[i]))
        EXPECT_TRUE(std::isnan(out[i])) << st::dtype_name(t) << " " << i;
      else
        EXPECT_EQ(out[i], want[i]) << st::dtype_name(t) << " " << i;
    }
  };
  check(dtype::f32, {0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}, {1.0f, -2.0f});
  check(dtype::f64, {0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0x0c, 0xc0}, {1.0f, -3.5f});
  {
    // F64 beyond the float range: rounds to FLT_MAX below the halfway point, else infinity.
    const double big[4] = {1e300, -1e300, 3.4028235e38, std::nan("")};
    std::vector<uint8_t> bytes(sizeof big);
    for (size_t k = 0; k < 4; ++k) {
      uint64_t bits;
      std::memcpy(&bits, &big[k], 8);
      for (int j = 0; j < 8; ++j)
        bytes[8 * k + static_cast<size_t>(j)] = static_cast<uint8_t>(bits >> (8 * j));
    }
    check(dtype::f64, bytes, {INFINITY, -INFINITY, std::numeric_limits<float>::max(), NAN});
  }
  check(dtype::f16, {0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00}, {1.0f, -2.0f, 0x1p-24f});
  check(dtype::bf16, {0x80, 0x3f, 0xc0, 0xbf}, {1.0f, -1.5f});
  check(dtype::f8_e5m2, {0x3c, 0xc0, 0x01}, {1.0f, -2.0f, 0x1p-16f});
  check(dtype::f8_e4m3, {0x38, 0xc0, 0x01, 0x7f}, {1.0f, -2.0f, 0x1p-9f, NAN});
  check(dtype::f8_e4m3, {0x7e}, {448.0f});
  check(dtype::i8, {0xff, 0x7f}, {-1.0f, 127.0f});
  check(dtype::u8, {0xff, 0x00}, {255.0f, 0.0f});
  check(dtype::i16, {0xfe, 0xff}, {-2.0f});
  check(dtype::u16, {0xfe, 0xff}, {65534.0f});
  check(dtype::i32, {0xfd, 0xff, 0xff, 0xff}, {-3.0f});
  check(dtype::u32, {0x10, 0, 0, 0}, {16.0f});
  check(dtype::i64, {0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {-4.0f});
  check(dtype::u64, {0, 0, 0, 0, 0, 0, 0, 1}, {0x1p56f});

  const std::vector<uint8_t> b = {0, 1};
  EXPECT_EQ(st::to_f32(tensor(dtype::boolean, b), out, 4), status::unsupported);
  EXPECT_NE(message().find("BOOL"), std::string::npos);
  const std::vector<uint8_t> big(20, 0);
  EXPECT_EQ(st::to_f32(tensor(dtype::u8, big), out, 4), status::buffer_too_small);
}

// ---- corrupt files ----------------------------------------------------------------------------

struct CorruptCase {
  const char* label;
  std::vector<uint8_t> file;
  const char* expect;  // a substring of the message
};

std::vector<CorruptCase> corrupt_cases() {
  const std::string ok_t = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  std::vector<CorruptCase> v;
  v.push_back({"seven bytes", {1, 0, 0, 0, 0, 0, 0}, "too short"});
  {
    io_test::Bytes b;
    b.u64((uint64_t{100} << 20) + 1).raw("{}");
    v.push_back({"header above 100 MiB", b.v, "100 MiB"});
  }
  {
    io_test::Bytes b;
    b.u64(64).raw("{}");
    v.push_back({"header past the end", b.v, "past the end"});
  }
  {
    io_test::Bytes b;
    b.u64(UINT64_MAX).raw("{}");
    v.push_back({"header length 2^64-1", b.v, "100 MiB"});
  }
  v.push_back({"no opening brace", make_file(" {}", 0), "'{'"});
  v.push_back({"empty header", make_file("", 0), "'{'"});
  v.push_back({"bad JSON", make_file("{\"t\":", 0), "invalid JSON"});
  v.push_back({"trailing garbage", make_file("{} x", 0), "invalid JSON"});
  v.push_back({"invalid UTF-8", make_file("{\"\xff\":1}", 0), "invalid JSON"});
  v.push_back(
      {"duplicate tensor", make_file("{" + ok_t + "," + ok_t + "}", 8), "duplicate key 't'"});
  v.push_back({"duplicate metadata key", make_file(R"({"__metadata__":{"a":"1","a":"2"}})", 0),
               "duplicate key 'a'"});
  v.push_back({"metadata not object", make_file(R"({"__metadata__":"x"})", 0), "__metadata__"});
  v.push_back({"metadata number", make_file(R"({"__metadata__":{"a":1}})", 0), "'a'"});
  v.push_back({"metadata nested", make_file(R"({"__metadata__":{"a":{"b":"c"}}})", 0), "'a'"});
  v.push_back({"entry not object", make_file(R"({"t":[1]})", 0), "expected an object"});
  v.push_back(
      {"missing dtype", make_file(R"({"t":{"shape":[],"data_offsets":[0,0]}})", 0), "dtype"});
  v.push_back(
      {"missing shape", make_file(R"({"t":{"dtype":"U8","data_offsets":[0,0]}})", 0), "shape"});
  v.push_back(
      {"missing offsets", make_file(R"({"t":{"dtype":"U8","shape":[0]}})", 0), "data_offsets"});
  v.push_back({"extra field",
               make_file(R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":1}})", 0),
               "'x'"});
  v.push_back({"unknown dtype",
               make_file(R"({"t":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}})", 1), "F4"});
  v.push_back({"dtype number",
               make_file(R"({"t":{"dtype":4,"shape":[1],"data_offsets":[0,1]}})", 1), "dtype"});
  v.push_back({"shape not array",
               make_file(R"({"t":{"dtype":"U8","shape":1,"data_offsets":[0,1]}})", 1), "shape"});
  v.push_back({"negative dim",
               make_file(R"({"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0),
               "shape[0]"});
  v.push_back({"float dim",
               make_file(R"({"t":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}})", 1),
               "shape[0]"});
  v.push_back(
      {"rank 9",
       make_file(R"({"t":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", 1),
       "rank 9"});
  v.push_back(
      {"numel overflow",
       make_file(R"({"t":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
       "overflows"});
  v.push_back(
      {"bytes overflow",
       make_file(R"({"t":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
       "bytes"});
  v.push_back({"offsets one entry",
               make_file(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1),
               "data_offsets"});
  v.push_back({"offsets negative",
               make_file(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1),
               "data_offsets"});
  v.push_back(
      {"offsets huge",
       make_file(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}})", 1),
       "data_offsets"});
  v.push_back({"begin above end",
               make_file(R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}})", 1),
               "begin > end"});
  v.push_back({"end past buffer",
               make_file(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 3),
               "past the data buffer"});
  v.push_back({"wrong byte size",
               make_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
               "needs 2 elements"});
  v.push_back({"overlap",
               make_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                         6),
               "overlap"});
  v.push_back({"same range twice",
               make_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})",
                         4),
               "overlap"});
  v.push_back({"hole",
               make_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                         R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                         6),
               "hole"});
  v.push_back({"hole at start",
               make_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4), "hole"});
  v.push_back({"trailing bytes", make_file("{" + ok_t + "}", 9), "after the last tensor"});
  v.push_back({"deep nesting",
               make_file(R"({"t":{"dtype":"U8","shape":[[[[1]]]],"data_offsets":[0,1]}})", 1),
               "deeper"});
  return v;
}

TEST(Corrupt, EveryRuleHasAClearError) {
  for (const auto& c : corrupt_cases()) {
    st::reader r;
    ternary_test::prime_last_error();
    EXPECT_EQ(st::reader::open_memory(c.file.data(), c.file.size(), &r), status::corrupt_data)
        << c.label;
    EXPECT_FALSE(r.is_open()) << c.label;
    const std::string m = message();
    EXPECT_NE(m.find(c.expect), std::string::npos) << c.label << ": " << m;
    EXPECT_NE(m.find("<memory>"), std::string::npos) << c.label << ": " << m;
  }
  // The message names the tensor and the field.
  const auto f = make_file(R"({"weight":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  st::reader r;
  EXPECT_EQ(st::reader::open_memory(f.data(), f.size(), &r), status::corrupt_data);
  EXPECT_NE(message().find("'weight'"), std::string::npos) << message();
  EXPECT_NE(message().find("data_offsets"), std::string::npos) << message();
}

std::vector<uint8_t> small_valid_file() {
  static const float a[3] = {1, 2, 3};
  static const uint16_t b[2] = {0x3c00, 0x4000};
  st::writer w;
  EXPECT_EQ(w.add_metadata("k", "v"), status::ok);
  EXPECT_EQ(w.add_tensor("a", dtype::f32, {3}, a, sizeof a), status::ok);
  EXPECT_EQ(w.add_tensor("b", dtype::f16, {1, 2}, b, sizeof b), status::ok);
  std::vector<uint8_t> mem;
  EXPECT_EQ(w.write_memory(&mem), status::ok);
  return mem;
}

TEST(Corrupt, TruncationAtEveryByte) {
  const auto mem = small_valid_file();
  st::reader r;
  ASSERT_EQ(st::reader::open_memory(mem.data(), mem.size(), &r), status::ok);
  for (size_t n = 0; n < mem.size(); ++n) {
    st::reader t;
    EXPECT_EQ(st::reader::open_memory(mem.data(), n, &t), status::corrupt_data) << n;
  }
}

TEST(Corrupt, HugeHeaderLengthsAndRandomDamage) {
  const auto mem = small_valid_file();
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{7}, uint64_t{1} << 32, uint64_t{1} << 63,
                     UINT64_MAX, static_cast<uint64_t>(mem.size())}) {
    auto f = mem;
    for (int i = 0; i < 8; ++i) f[static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (8 * i));
    st::reader r;
    EXPECT_EQ(st::reader::open_memory(f.data(), f.size(), &r), status::corrupt_data) << n;
  }
  // Random byte damage: any outcome but a crash; a success must still describe a consistent file.
  ternary_test::Rng rng(11);
  for (int iter = 0; iter < 3000; ++iter) {
    auto f = mem;
    const int flips = 1 + static_cast<int>(rng.next() % 3);
    for (int k = 0; k < flips; ++k) f[rng.next() % f.size()] = static_cast<uint8_t>(rng.next());
    st::reader r;
    const status s = st::reader::open_memory(f.data(), f.size(), &r);
    ASSERT_TRUE(s == status::ok || s == status::corrupt_data) << ternary::status_name(s);
    if (s == status::ok) {
      uint64_t covered = 0;
      for (const auto& t : r.tensors()) covered += t.bytes();
      EXPECT_EQ(covered, r.file_size() - r.data_offset());
    }
  }
}

TEST(Files, EmptyMissingAndDirectory) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string empty = dir.file("empty.safetensors");
  io_test::write_file(empty, {});
  st::reader r;
  EXPECT_EQ(st::reader::open(empty.c_str(), &r), status::corrupt_data);
  EXPECT_NE(message().find(empty), std::string::npos) << message();
  EXPECT_NE(message().find("too short"), std::string::npos) << message();
  EXPECT_EQ(st::reader::open(dir.file("missing").c_str(), &r), status::io_error);
  EXPECT_NE(message().find("missing"), std::string::npos);
  EXPECT_EQ(st::reader::open(dir.path().c_str(), &r), status::io_error);
  EXPECT_EQ(st::reader::open(nullptr, &r), status::null_pointer);
  EXPECT_EQ(st::reader::open(empty.c_str(), nullptr), status::null_pointer);
}

// ---- writer -----------------------------------------------------------------------------------

TEST(Writer, RejectsInvalidTensorsAndMetadata) {
  const uint8_t buf[16] = {};
  st::writer w;
  ASSERT_EQ(w.add_tensor("a", dtype::u8, {4}, buf, 4), status::ok);
  EXPECT_EQ(w.add_tensor("a", dtype::u8, {4}, buf, 4), status::invalid_argument);
  EXPECT_NE(message().find("duplicate"), std::string::npos);
  EXPECT_EQ(w.add_tensor("b", dtype::f32, {4}, buf, 4), status::buffer_too_small);
  EXPECT_EQ(w.add_tensor("c", dtype::u8, {-1}, buf, 0), status::invalid_argument);
  EXPECT_EQ(w.add_tensor("", dtype::u8, {1}, buf, 1), status::invalid_argument);
  EXPECT_EQ(w.add_tensor("__metadata__", dtype::u8, {1}, buf, 1), status::invalid_argument);
  EXPECT_EQ(w.add_tensor("\xc3", dtype::u8, {1}, buf, 1), status::invalid_argument);
  EXPECT_EQ(w.add_tensor("d", dtype::u8, {1}, nullptr, 1), status::null_pointer);
  EXPECT_EQ(w.add_tensor("e", dtype::u8, {1, 1, 1, 1, 1, 1, 1, 1, 1}, buf, 1),
            status::invalid_argument);
  EXPECT_EQ(w.add_tensor("f", static_cast<dtype>(77), {1}, buf, 1), status::invalid_argument);
  EXPECT_EQ(w.add_tensor("g", dtype::u8, {INT64_MAX, 4}, buf, 1), status::size_overflow);
  EXPECT_EQ(w.add_tensor("h", dtype::u8, nullptr, 2, buf, 1), status::null_pointer);
  ASSERT_EQ(w.add_metadata("m", "1"), status::ok);
  EXPECT_EQ(w.add_metadata("m", "2"), status::invalid_argument);
  EXPECT_EQ(w.add_metadata("bad", "\xff"), status::invalid_argument);
  EXPECT_EQ(w.tensor_count(), 1u);
  EXPECT_TRUE(w.has_tensor("a"));
  EXPECT_FALSE(w.has_tensor("b"));
  EXPECT_TRUE(w.has_metadata("m"));
  // Pieces concatenate.
  const uint8_t p1[3] = {1, 2, 3}, p2[1] = {4};
  const st::data_piece pieces[2] = {{p1, 3}, {p2, 1}};
  ASSERT_EQ(w.add_tensor_pieces("p", dtype::u8, {2, 2}, pieces, 2), status::ok);
  std::vector<uint8_t> mem;
  ASSERT_EQ(w.write_memory(&mem), status::ok);
  st::reader r;
  ASSERT_EQ(st::reader::open_memory(mem.data(), mem.size(), &r), status::ok) << message();
  const auto* p = r.find("p");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::memcmp(p->data, "\x01\x02\x03\x04", 4), 0);
}

TEST(Writer, AtomicReplacement) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::vector<uint8_t> big(1 << 16, 0x5a);
  st::writer w;
  ASSERT_EQ(
      w.add_tensor("big", dtype::u8, {static_cast<int64_t>(big.size())}, big.data(), big.size()),
      status::ok);
  const std::string target = dir.file("model.safetensors");
  const std::vector<uint8_t> old = {'o', 'l', 'd'};
  io_test::write_file(target, old);

  // A write that the OS cuts off part-way: the target keeps its old bytes, no temporary remains.
  {
    io_test::ScopedFileSizeLimit limit(4096);
    ASSERT_TRUE(limit.ok());
    EXPECT_EQ(w.write(target.c_str()), status::io_error);
  }
  EXPECT_NE(message().find(target), std::string::npos) << message();
  EXPECT_EQ(io_test::read_file(target), old);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});

  // A directory that does not exist: nothing is created.
  EXPECT_EQ(w.write(dir.file("nodir/x.safetensors").c_str()), status::io_error);
  EXPECT_EQ(dir.entries().size(), 1u);

  // The target is a directory: the rename fails and the temporary is removed.
  ASSERT_TRUE(std::filesystem::create_directory(dir.file("sub")));
  io_test::write_file(dir.file("sub/keep"), old);
  EXPECT_EQ(w.write(dir.file("sub").c_str()), status::io_error);
  EXPECT_EQ(dir.entries().size(), 2u);
  EXPECT_EQ(io_test::read_file(dir.file("sub/keep")), old);

  // A successful write replaces the file.
  ASSERT_EQ(w.write(target.c_str()), status::ok) << message();
  st::reader r;
  ASSERT_EQ(st::reader::open(target.c_str(), &r), status::ok);
  EXPECT_EQ(r.find("big")->bytes(), big.size());
  EXPECT_EQ(dir.entries().size(), 2u);
}

// ---- packed matrices --------------------------------------------------------------------------

struct PackedCase {
  ternary::format fmt;
  ternary_test::Gran gran;
  int planes;
  bool bias;
  ternary::scale_type sdt;
};

TEST(Packed, RoundTripEveryLayout) {
  ternary_test::Rng rng(3);
  std::vector<PackedCase> cases;
  for (auto f : ternary_test::all_formats())
    for (const auto& g : ternary_test::all_grans())
      for (int planes : {1, 2})
        for (bool bias : {false, true})
          for (auto sdt : {ternary::scale_type::f32, ternary::scale_type::f16})
            cases.push_back({f, g, planes, bias, sdt});
  std::vector<ternary::packed_matrix> mats(cases.size());
  st::writer w;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto d = ternary_test::make_desc(c.fmt, 5, 300, c.gran.g, c.gran.group_size, c.sdt,
                                           c.planes, c.bias);
    const auto tc = ternary_test::make_case(rng, d);
    ASSERT_EQ(ternary_test::pack_case(tc, &mats[i]), status::ok) << message();
    ASSERT_EQ(st::store_packed(w, "layer." + std::to_string(i), mats[i],
                               {{"method", "absmean"}, {"index", std::to_string(i)}}),
              status::ok)
        << ternary_test::describe(d) << ": " << message();
  }
  const float plain = 1.0f;
  ASSERT_EQ(w.add_tensor("plain", dtype::f32, {1}, &plain, 4), status::ok);
  ASSERT_EQ(w.add_metadata("ternary.not_a_tensor", "{}"), status::ok);
  std::vector<uint8_t> mem;
  ASSERT_EQ(w.write_memory(&mem), status::ok);

  st::reader r;
  ASSERT_EQ(st::reader::open_memory(mem.data(), mem.size(), &r), status::ok) << message();
  std::vector<std::string> names;
  ASSERT_EQ(st::list_packed(r, &names), status::ok);
  ASSERT_EQ(names.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(names[i], "layer." + std::to_string(i));
    ternary::packed_matrix m;
    st::string_pairs extras;
    ASSERT_EQ(st::load_packed(r, names[i], &m, &extras), status::ok) << message();
    const auto& a = mats[i].desc();
    const auto& b = m.desc();
    EXPECT_EQ(b.fmt, a.fmt);
    EXPECT_EQ(b.rows, a.rows);
    EXPECT_EQ(b.cols, a.cols);
    EXPECT_EQ(b.granularity, a.granularity);
    EXPECT_EQ(b.group_size, a.group_size);
    EXPECT_EQ(b.scale_dtype, a.scale_dtype);
    EXPECT_EQ(b.planes, a.planes);
    EXPECT_EQ(b.has_bias, a.has_bias);
    ASSERT_EQ(m.storage_bytes(), mats[i].storage_bytes());
    EXPECT_EQ(std::memcmp(m.storage(), mats[i].storage(), m.storage_bytes()), 0)
        << ternary_test::describe(a);
    EXPECT_TRUE(m.owns_storage());
    ASSERT_EQ(extras.size(), 2u);
    EXPECT_EQ(extras[0], (std::pair<std::string, std::string>{"method", "absmean"}));
    EXPECT_EQ(extras[1].second, std::to_string(i));
  }
  // The tensors follow the documented convention.
  const auto* wt = r.find("layer.0");
  ASSERT_NE(wt, nullptr);
  EXPECT_EQ(wt->type, dtype::u8);
  EXPECT_EQ(wt->shape, (std::vector<int64_t>{1, 5, mats[0].view().row_bytes}));
  const auto* sc = r.find("layer.0.ternary_scale");
  ASSERT_NE(sc, nullptr);
  EXPECT_EQ(sc->shape, (std::vector<int64_t>{1, 1}));
  ASSERT_NE(r.find_metadata("ternary.layer.0"), nullptr);
  EXPECT_EQ(r.find_metadata("ternary.layer.0")->rfind("{\"format\":\"bits2\",\"rows\":5,", 0), 0u)
      << *r.find_metadata("ternary.layer.0");
}

TEST(Packed, StoreRejectsClashesWithoutPartialState) {
  ternary_test::Rng rng(5);
  const auto d =
      ternary_test::make_desc(ternary::format::bits2, 2, 64, ternary::scale_granularity::per_row);
  ternary::packed_matrix m;
  ASSERT_EQ(ternary_test::pack_case(ternary_test::make_case(rng, d), &m), status::ok);
  st::writer w;
  EXPECT_EQ(st::store_packed(w, "w", m, {{"format", "x"}}), status::invalid_argument);
  EXPECT_NE(message().find("reserved"), std::string::npos) << message();
  EXPECT_EQ(w.tensor_count(), 0u);
  const float x = 0;
  ASSERT_EQ(w.add_tensor("w.ternary_scale", dtype::f32, {1}, &x, 4), status::ok);
  EXPECT_EQ(st::store_packed(w, "w", m), status::invalid_argument);
  EXPECT_EQ(w.tensor_count(), 1u);
  EXPECT_EQ(st::store_packed(w, "", m), status::invalid_argument);
  EXPECT_EQ(st::store_packed(w, "v", ternary::packed_matrix()), status::invalid_argument);
}

// Builds a file holding one packed matrix "w" whose description and tensors a case can alter.
struct PackedFile {
  std::string desc =
      R"({"format":"bits2","rows":2,"cols":64,"granularity":"per_row","group_size":0,)"
      R"("scale_dtype":"f32","planes":1,"bias":false,"layout_version":1})";
  std::vector<int64_t> wshape = {1, 2, 64};
  dtype wtype = dtype::u8;
  std::vector<int64_t> sshape = {1, 2};
  dtype stype = dtype::f32;
  std::vector<float> scales = {0.5f, 0.25f};
  bool add_bias = false;
  bool add_scale = true;

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> weights(64 * st::dtype_size(wtype), 0x55);
    size_t wb = st::dtype_size(wtype);
    for (auto x : wshape) wb *= static_cast<size_t>(x);
    weights.resize(wb, 0x55);
    size_t sb = st::dtype_size(stype);
    for (auto x : sshape) sb *= static_cast<size_t>(x);
    std::vector<uint8_t> sbytes(sb, 0);
    std::memcpy(sbytes.data(), scales.data(), std::min(sb, scales.size() * 4));
    const float bias[2] = {1, 2};
    st::writer w;
    EXPECT_EQ(w.add_tensor("w", wtype, wshape, weights.data(), weights.size()), status::ok);
    if (add_scale) {
      EXPECT_EQ(w.add_tensor("w.ternary_scale", stype, sshape, sbytes.data(), sbytes.size()),
                status::ok);
    }
    if (add_bias) {
      EXPECT_EQ(w.add_tensor("w.ternary_bias", dtype::f32, {2}, bias, 8), status::ok);
    }
    EXPECT_EQ(w.add_metadata("ternary.w", desc), status::ok);
    std::vector<uint8_t> mem;
    EXPECT_EQ(w.write_memory(&mem), status::ok);
    return mem;
  }
};

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(Packed, LoadValidatesEverything) {
  {
    PackedFile ok;
    const auto mem = ok.build();
    st::reader r;
    ASSERT_EQ(st::reader::open_memory(mem.data(), mem.size(), &r), status::ok);
    ternary::packed_matrix m;
    ASSERT_EQ(st::load_packed(r, "w", &m), status::ok) << message();
    EXPECT_EQ(st::load_packed(r, "absent", &m), status::invalid_argument);
  }
  struct Case {
    const char* label;
    PackedFile f;
    const char* expect;
  };
  std::vector<Case> cases;
  auto with_desc = [](const std::string& from, const std::string& to) {
    PackedFile f;
    f.desc = replace(f.desc, from, to);
    return f;
  };
  cases.push_back({"format", with_desc("\"bits2\"", "\"bits3\""), "bits3"});
  cases.push_back({"granularity", with_desc("\"per_row\"", "\"per_col\""), "per_col"});
  cases.push_back({"scale dtype", with_desc("\"f32\"", "\"bf16\""), "bf16"});
  cases.push_back({"layout version", with_desc("\"layout_version\":1", "\"layout_version\":2"),
                   "layout_version 2"});
  cases.push_back({"no version", with_desc(",\"layout_version\":1", ""), "layout_version"});
  cases.push_back({"rows string", with_desc("\"rows\":2", "\"rows\":\"2\""), "rows"});
  cases.push_back({"negative cols", with_desc("\"cols\":64", "\"cols\":-64"), "cols"});
  cases.push_back({"planes 3", with_desc("\"planes\":1", "\"planes\":3"), "planes"});
  cases.push_back({"bias not bool", with_desc("\"bias\":false", "\"bias\":0"), "bias"});
  cases.push_back(
      {"group on per_row", with_desc("\"group_size\":0", "\"group_size\":64"), "group"});
  cases.push_back({"extra number", with_desc("\"bias\":false", "\"bias\":false,\"x\":1"), "\"x\""});
  cases.push_back({"not JSON", with_desc("{", "["), "description"});
  cases.push_back({"duplicate field", with_desc("\"bias\":false", "\"bias\":false,\"bias\":true"),
                   "duplicate"});
  {
    PackedFile f;
    f.wshape = {1, 3, 64};
    cases.push_back({"rows mismatch", f, "shape [1,3,64]"});
  }
  {
    PackedFile f;
    f.wshape = {1, 2, 20};
    cases.push_back({"row bytes mismatch", f, "[1,2,64]"});
  }
  {
    PackedFile f;
    f.wtype = dtype::i8;
    cases.push_back({"weights dtype", f, "I8"});
  }
  {
    PackedFile f;
    f.stype = dtype::f16;
    cases.push_back({"scale dtype mismatch", f, "F16"});
  }
  {
    PackedFile f;
    f.sshape = {1, 1};
    cases.push_back({"scale count", f, "ternary_scale"});
  }
  {
    PackedFile f;
    f.add_scale = false;
    cases.push_back({"missing scales", f, "missing"});
  }
  {
    PackedFile f;
    f.add_bias = true;
    cases.push_back({"unexpected bias", f, "no bias"});
  }
  {
    PackedFile f = with_desc("\"bias\":false", "\"bias\":true");
    cases.push_back({"missing bias", f, "ternary_bias"});
  }
  {
    PackedFile f;
    f.scales = {0.5f, std::numeric_limits<float>::quiet_NaN()};
    cases.push_back({"NaN scale", f, "scale"});
  }
  for (const auto& c : cases) {
    const auto mem = c.f.build();
    st::reader r;
    ASSERT_EQ(st::reader::open_memory(mem.data(), mem.size(), &r), status::ok) << c.label;
    ternary::packed_matrix m;
    EXPECT_EQ(st::load_packed(r, "w", &m), status::corrupt_data) << c.label;
    EXPECT_TRUE(m.empty()) << c.label;
    EXPECT_NE(message().find(c.expect), std::string::npos) << c.label << ": " << message();
    EXPECT_NE(message().find("'w'"), std::string::npos) << c.label << ": " << message();
  }
}

TEST(Packed, HugeDescriptionDoesNotAllocate) {
  PackedFile f;
  f.desc = replace(f.desc, "\"rows\":2", "\"rows\":2000000000");
  f.desc = replace(f.desc, "\"cols\":64", "\"cols\":8000000");
  const auto mem = f.build();
  st::reader r;
  ASSERT_EQ(st::reader::open_memory(mem.data(), mem.size(), &r), status::ok);
  ternary::packed_matrix m;
  EXPECT_EQ(st::load_packed(r, "w", &m), status::corrupt_data);
  EXPECT_NE(message().find("shape"), std::string::npos) << message();
}

}  // namespace
