// SPDX-License-Identifier: Apache-2.0
// GGUF reader/writer: round trips of every key/value type and several tensor types, versions,
// one hand-made corrupt file per validation rule, truncation at every byte, random damage,
// atomic writes, unknown type ids, and the resolution of type ids shared with the BitNet fork.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "test_util.hpp"

#include "ternary/io/gguf.hpp"

namespace {

using io_test::Bytes;
using io_test::TempDir;
using ternary::status;
namespace gg = ternary::io::gguf;
using gg::tensor_kind;
using gg::value_type;

std::string message() { return ternary::last_error_message(); }

// Hand-built files: header, then key/values and tensor infos appended by the case.
Bytes header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
  Bytes b;
  b.raw("GGUF").u32(version).u64(tensors).u64(kvs);
  return b;
}
// A tensor info.
Bytes& info(Bytes& b, const std::string& name, std::vector<uint64_t> ne, uint32_t type,
            uint64_t offset) {
  b.str(name).u32(static_cast<uint32_t>(ne.size()));
  for (auto x : ne) b.u64(x);
  return b.u32(type).u64(offset);
}

gg::value array_value(value_type elem, uint64_t count, const uint8_t* raw) {
  gg::value v;
  v.type = value_type::array;
  v.elem_type = elem;
  v.count = count;
  v.raw = raw;
  return v;
}

TEST(Names, TablesAndDialects) {
  EXPECT_STREQ(gg::value_type_name(value_type::float64), "FLOAT64");
  EXPECT_EQ(gg::value_type_size(value_type::uint16), 2u);
  EXPECT_EQ(gg::value_type_size(value_type::string), 0u);
  EXPECT_STREQ(gg::upstream_type_name(35), "TQ2_0");
  EXPECT_STREQ(gg::upstream_type_name(39), "MXFP4");
  EXPECT_EQ(gg::upstream_type_name(36), nullptr);  // retired upstream
  int64_t block = 0;
  size_t bytes = 0;
  ASSERT_TRUE(gg::upstream_type_size(34, &block, &bytes));
  EXPECT_EQ(block, 256);
  EXPECT_EQ(bytes, 54u);
  ASSERT_TRUE(gg::upstream_type_size(35, &block, &bytes));
  EXPECT_EQ(bytes, 66u);
  ASSERT_TRUE(gg::upstream_type_size(12, &block, &bytes));
  EXPECT_EQ(bytes, 144u);
  EXPECT_FALSE(gg::upstream_type_size(4, &block, &bytes));
  EXPECT_FALSE(gg::upstream_type_size(1000, &block, &bytes));
  EXPECT_EQ(gg::dialect_of_architecture("llama"), gg::dialect::upstream);
  EXPECT_EQ(gg::dialect_of_architecture("bitnet"), gg::dialect::bitnet);
  EXPECT_EQ(gg::dialect_of_architecture("BitNet"), gg::dialect::bitnet);
  EXPECT_EQ(gg::dialect_of_architecture("bitnet-25"), gg::dialect::bitnet_fork);
  EXPECT_EQ(gg::dialect_of_architecture("BITNET_25"), gg::dialect::bitnet_fork);
  EXPECT_EQ(gg::dialect_of_architecture("bitnet-b1.58"), gg::dialect::bitnet_fork);
  EXPECT_EQ(gg::dialect_of_architecture(""), gg::dialect::upstream);
  EXPECT_STREQ(gg::kind_name(tensor_kind::i2_s), "i2_s");
}

TEST(RoundTrip, EveryValueTypeAndTensors) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  gg::writer w;
  ASSERT_EQ(w.add_string("general.architecture", "llama"), status::ok);
  ASSERT_EQ(w.add_u32("general.alignment", 64), status::ok);
  ASSERT_EQ(w.add_u8("u8", 200), status::ok);
  ASSERT_EQ(w.add_i8("i8", -100), status::ok);
  ASSERT_EQ(w.add_u16("u16", 60000), status::ok);
  ASSERT_EQ(w.add_i16("i16", -30000), status::ok);
  ASSERT_EQ(w.add_i32("i32", -2000000000), status::ok);
  ASSERT_EQ(w.add_f32("f32", 1.5f), status::ok);
  ASSERT_EQ(w.add_bool("bool", true), status::ok);
  ASSERT_EQ(w.add_u64("u64", UINT64_MAX), status::ok);
  ASSERT_EQ(w.add_i64("i64", INT64_MIN), status::ok);
  ASSERT_EQ(w.add_f64("f64", -0.1), status::ok);
  ASSERT_EQ(w.add_string("empty", ""), status::ok);
  const uint8_t a_u8[] = {1, 2, 255};
  const int8_t a_i8[] = {-1, 2};
  const uint16_t a_u16[] = {1, 65535};
  const int16_t a_i16[] = {-2, 3};
  const uint32_t a_u32[] = {7, 4000000000u};
  const int32_t a_i32[] = {-7, 8};
  const float a_f32[] = {0.5f, -2.0f, 3.25f};
  const bool a_bool[] = {true, false, true};
  const uint64_t a_u64[] = {UINT64_MAX, 0};
  const int64_t a_i64[] = {INT64_MIN, 5};
  const double a_f64[] = {1e300, -2.5};
  ASSERT_EQ(w.add_array("a.u8", value_type::uint8, a_u8, 3), status::ok);
  ASSERT_EQ(w.add_array("a.i8", value_type::int8, a_i8, 2), status::ok);
  ASSERT_EQ(w.add_array("a.u16", value_type::uint16, a_u16, 2), status::ok);
  ASSERT_EQ(w.add_array("a.i16", value_type::int16, a_i16, 2), status::ok);
  ASSERT_EQ(w.add_array("a.u32", value_type::uint32, a_u32, 2), status::ok);
  ASSERT_EQ(w.add_array("a.i32", value_type::int32, a_i32, 2), status::ok);
  ASSERT_EQ(w.add_array("a.f32", value_type::float32, a_f32, 3), status::ok);
  ASSERT_EQ(w.add_array("a.bool", value_type::boolean, a_bool, 3), status::ok);
  ASSERT_EQ(w.add_array("a.u64", value_type::uint64, a_u64, 2), status::ok);
  ASSERT_EQ(w.add_array("a.i64", value_type::int64, a_i64, 2), status::ok);
  ASSERT_EQ(w.add_array("a.f64", value_type::float64, a_f64, 2), status::ok);
  ASSERT_EQ(w.add_array("a.empty", value_type::float32, nullptr, 0), status::ok);
  ASSERT_EQ(w.add_string_array("a.str", {"<s>", "", "caf\xc3\xa9"}), status::ok);
  {
    // [[1, 2], ["x"], [[]]]: arrays of arrays of several element types.
    const uint8_t le[] = {1, 0, 0, 0, 2, 0, 0, 0};
    gg::value outer;
    outer.type = value_type::array;
    outer.elem_type = value_type::array;
    outer.count = 3;
    outer.arrays.resize(3);
    outer.arrays[0] = array_value(value_type::uint32, 2, le);
    outer.arrays[1].type = value_type::array;
    outer.arrays[1].elem_type = value_type::string;
    outer.arrays[1].count = 1;
    outer.arrays[1].strings = {"x"};
    outer.arrays[2].type = value_type::array;
    outer.arrays[2].elem_type = value_type::array;
    outer.arrays[2].count = 1;
    outer.arrays[2].arrays.resize(1);
    outer.arrays[2].arrays[0] = array_value(value_type::int64, 0, nullptr);
    ASSERT_EQ(w.add_value("a.nested", outer), status::ok) << message();
  }
  ternary_test::Rng rng(1);
  auto random_bytes = [&rng](size_t n) {
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = static_cast<uint8_t>(rng.next());
    return v;
  };
  struct T {
    const char* name;
    std::vector<int64_t> ne;
    uint32_t type;
    size_t bytes;
    tensor_kind kind;
  };
  const std::vector<T> specs = {
      {"f32", {3, 2}, 0, 24, tensor_kind::f32},
      {"f16", {5}, 1, 10, tensor_kind::f16},
      {"q8_0", {64, 2}, 8, 2 * 2 * 34, tensor_kind::other},
      {"tq1_0", {256, 3}, 34, 3 * 54, tensor_kind::tq1_0},
      {"tq2_0", {512, 1, 2}, 35, 4 * 66, tensor_kind::tq2_0},
      {"bf16", {1, 1, 1, 4}, 30, 8, tensor_kind::bf16},
      {"i8", {7}, 24, 7, tensor_kind::i8},
      {"zero", {0, 4}, 0, 0, tensor_kind::f32},
      {"mxfp4", {64}, 39, 34, tensor_kind::mxfp4},
  };
  std::vector<std::vector<uint8_t>> data;
  for (const auto& s : specs) data.push_back(random_bytes(s.bytes));
  for (size_t i = 0; i < specs.size(); ++i)
    ASSERT_EQ(w.add_tensor(specs[i].name, specs[i].ne.data(), static_cast<int>(specs[i].ne.size()),
                           specs[i].type, data[i].data(), data[i].size()),
              status::ok)
        << specs[i].name << ": " << message();
  EXPECT_EQ(w.tensor_count(), specs.size());
  EXPECT_EQ(w.kv_count(), 27u);

  const std::string path = dir.file("m.gguf");
  ASSERT_EQ(w.write(path.c_str()), status::ok) << message();
  std::vector<uint8_t> mem;
  ASSERT_EQ(w.write_memory(&mem), status::ok);
  EXPECT_EQ(io_test::read_file(path), mem);
  EXPECT_EQ(dir.entries().size(), 1u);

  gg::reader r;
  ASSERT_EQ(gg::reader::open(path.c_str(), &r), status::ok) << message();
  EXPECT_TRUE(r.is_mapped());
  EXPECT_EQ(r.version(), 3u);
  EXPECT_EQ(r.alignment(), 64u);
  EXPECT_EQ(r.file_dialect(), gg::dialect::upstream);
  EXPECT_EQ(r.data_offset() % 64, 0u);
  ASSERT_EQ(r.kvs().size(), 27u);
  EXPECT_EQ(r.kvs()[0].key, "general.architecture");
  ASSERT_NE(r.find_string("general.architecture"), nullptr);
  EXPECT_EQ(*r.find_string("general.architecture"), "llama");
  EXPECT_EQ(r.find_string("u8"), nullptr);
  EXPECT_EQ(r.find("nope"), nullptr);

  auto get = [&r](const char* k) {
    const gg::value* v = r.find(k);
    EXPECT_NE(v, nullptr) << k;
    return v ? *v : gg::value();
  };
  EXPECT_EQ(get("u8").type, value_type::uint8);
  EXPECT_EQ(get("u8").u, 200u);
  EXPECT_EQ(get("i8").i, -100);
  EXPECT_EQ(get("u16").u, 60000u);
  EXPECT_EQ(get("i16").i, -30000);
  EXPECT_EQ(get("i32").i, -2000000000);
  EXPECT_EQ(get("f32").type, value_type::float32);
  EXPECT_EQ(get("f32").f, 1.5);
  EXPECT_EQ(get("bool").type, value_type::boolean);
  EXPECT_EQ(get("bool").u, 1u);
  EXPECT_EQ(get("u64").u, UINT64_MAX);
  EXPECT_EQ(get("i64").i, INT64_MIN);
  EXPECT_EQ(get("f64").f, -0.1);
  EXPECT_EQ(get("empty").str, "");
  EXPECT_EQ(get("general.alignment").u, 64u);

  // Scalar accessors.
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  EXPECT_TRUE(get("u16").get_u64(&u));
  EXPECT_EQ(u, 60000u);
  EXPECT_FALSE(get("i8").get_u64(&u));
  EXPECT_TRUE(get("i8").get_i64(&i));
  EXPECT_EQ(i, -100);
  EXPECT_FALSE(get("u64").get_i64(&i));
  EXPECT_TRUE(get("f32").get_f64(&f));
  EXPECT_EQ(f, 1.5);
  EXPECT_FALSE(get("empty").get_f64(&f));

  auto check_array = [&](const char* k, value_type t, const std::vector<double>& want) {
    const gg::value v = get(k);
    EXPECT_EQ(v.type, value_type::array) << k;
    EXPECT_EQ(v.elem_type, t) << k;
    ASSERT_EQ(v.count, want.size()) << k;
    for (size_t j = 0; j < want.size(); ++j) {
      gg::value e;
      ASSERT_TRUE(v.element(j, &e)) << k;
      EXPECT_EQ(e.type, t);
      double got = 0;
      ASSERT_TRUE(e.get_f64(&got));
      EXPECT_EQ(got, want[j]) << k << "[" << j << "]";
    }
    gg::value e;
    EXPECT_FALSE(v.element(want.size(), &e));
  };
  check_array("a.u8", value_type::uint8, {1, 2, 255});
  check_array("a.i8", value_type::int8, {-1, 2});
  check_array("a.u16", value_type::uint16, {1, 65535});
  check_array("a.i16", value_type::int16, {-2, 3});
  check_array("a.u32", value_type::uint32, {7, 4000000000.0});
  check_array("a.i32", value_type::int32, {-7, 8});
  check_array("a.f32", value_type::float32, {0.5, -2.0, 3.25});
  check_array("a.bool", value_type::boolean, {1, 0, 1});
  check_array("a.u64", value_type::uint64, {static_cast<double>(UINT64_MAX), 0});
  check_array("a.i64", value_type::int64, {static_cast<double>(INT64_MIN), 5});
  check_array("a.f64", value_type::float64, {1e300, -2.5});
  check_array("a.empty", value_type::float32, {});
  {
    gg::value e;
    ASSERT_TRUE(get("a.u64").element(0, &e));
    EXPECT_EQ(e.u, UINT64_MAX);
    ASSERT_TRUE(get("a.i64").element(0, &e));
    EXPECT_EQ(e.i, INT64_MIN);
  }
  const gg::value s = get("a.str");
  ASSERT_EQ(s.strings.size(), 3u);
  EXPECT_EQ(s.strings[0], "<s>");
  EXPECT_EQ(s.strings[1], "");
  EXPECT_EQ(s.strings[2], "caf\xc3\xa9");
  const gg::value n = get("a.nested");
  ASSERT_EQ(n.elem_type, value_type::array);
  ASSERT_EQ(n.arrays.size(), 3u);
  gg::value e;
  ASSERT_TRUE(n.arrays[0].element(1, &e));
  EXPECT_EQ(e.u, 2u);
  ASSERT_EQ(n.arrays[1].strings.size(), 1u);
  EXPECT_EQ(n.arrays[1].strings[0], "x");
  ASSERT_EQ(n.arrays[2].arrays.size(), 1u);
  EXPECT_EQ(n.arrays[2].arrays[0].elem_type, value_type::int64);
  EXPECT_EQ(n.arrays[2].arrays[0].count, 0u);

  ASSERT_EQ(r.tensors().size(), specs.size());
  for (size_t k = 0; k < specs.size(); ++k) {
    const gg::tensor_info& t = r.tensors()[k];
    EXPECT_EQ(t.name, specs[k].name);
    EXPECT_EQ(t.type_id, specs[k].type);
    EXPECT_EQ(t.kind, specs[k].kind) << t.name;
    EXPECT_EQ(t.n_dims, static_cast<int>(specs[k].ne.size()));
    for (size_t d = 0; d < specs[k].ne.size(); ++d) EXPECT_EQ(t.ne[d], specs[k].ne[d]);
    for (size_t d = specs[k].ne.size(); d < 4; ++d) EXPECT_EQ(t.ne[d], 1);
    EXPECT_EQ(t.offset % 64, 0u);
    ASSERT_TRUE(t.size_known);
    ASSERT_EQ(t.bytes, specs[k].bytes);
    const uint8_t* p = nullptr;
    uint64_t b = 0;
    ASSERT_EQ(r.tensor_data(t, &p, &b), status::ok);
    EXPECT_EQ(b, specs[k].bytes);
    if (b) {
      EXPECT_EQ(std::memcmp(p, data[k].data(), data[k].size()), 0) << t.name;
    }
    EXPECT_EQ(r.find_tensor(specs[k].name), &t);
  }
  EXPECT_EQ(r.find_tensor("nope"), nullptr);

  // Values copied from one file into another come out equal.
  gg::writer w2;
  for (const auto& kv : r.kvs()) ASSERT_EQ(w2.add_value(kv.key, kv.val), status::ok) << kv.key;
  for (const auto& t : r.tensors())
    ASSERT_EQ(w2.add_tensor(t.name, t.ne, t.n_dims, t.type_id, t.data, t.bytes), status::ok);
  std::vector<uint8_t> mem2;
  ASSERT_EQ(w2.write_memory(&mem2), status::ok);
  EXPECT_EQ(mem2, mem);

  // Moving the reader keeps the views valid.
  const std::string_view first = r.kvs()[0].key;
  gg::reader moved(std::move(r));
  EXPECT_FALSE(r.is_open());
  EXPECT_EQ(moved.kvs()[0].key.data(), first.data());
  EXPECT_EQ(moved.kvs()[0].key, "general.architecture");
}

TEST(Versions, TwoAndThreeReadOthersRejected) {
  gg::writer w;
  ASSERT_EQ(w.add_u32("k", 1), status::ok);
  const float x[2] = {1, 2};
  const int64_t ne[1] = {2};
  ASSERT_EQ(w.add_tensor("t", ne, 1, 0, x, 8), status::ok);
  std::vector<uint8_t> mem;
  ASSERT_EQ(w.write_memory(&mem), status::ok);
  auto with_version = [&mem](uint32_t v) {
    auto f = mem;
    for (int i = 0; i < 4; ++i) f[static_cast<size_t>(4 + i)] = static_cast<uint8_t>(v >> (8 * i));
    return f;
  };
  gg::reader r;
  auto v2 = with_version(2);
  ASSERT_EQ(gg::reader::open_memory(v2.data(), v2.size(), &r), status::ok) << message();
  EXPECT_EQ(r.version(), 2u);
  struct C {
    uint32_t v;
    const char* expect;
  };
  for (const C& c :
       {C{1, "version 1"}, C{4, "version 4"}, C{0, "version 0"}, C{0x03000000u, "big-endian"}}) {
    auto f = with_version(c.v);
    EXPECT_EQ(gg::reader::open_memory(f.data(), f.size(), &r), status::corrupt_data) << c.v;
    EXPECT_NE(message().find(c.expect), std::string::npos) << message();
  }
  auto bad = mem;
  bad[0] = 'g';
  EXPECT_EQ(gg::reader::open_memory(bad.data(), bad.size(), &r), status::corrupt_data);
  EXPECT_NE(message().find("magic"), std::string::npos);
}

// ---- corrupt files ----------------------------------------------------------------------------

struct CorruptCase {
  const char* label;
  std::vector<uint8_t> file;
  const char* expect;
};

std::vector<CorruptCase> corrupt_cases() {
  std::vector<CorruptCase> v;
  v.push_back({"three bytes", {'G', 'G', 'U'}, "too short"});
  v.push_back({"no counts", Bytes().raw("GGUF").u32(3).u64(0).v, "kv_count"});
  {
    Bytes b = header(0, 1);
    b.u64(1000).raw("k").zeros(20);
    v.push_back({"key length past end", b.v, "length 1000"});
  }
  {
    Bytes b = header(0, 1);
    b.u64(UINT64_MAX).raw("k").u32(0).u8(0);
    v.push_back({"key length 2^64-1", b.v, "runs past the end"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(8).u64(UINT64_MAX - 3);
    v.push_back({"string value length huge", b.v, "'k'"});
  }
  {
    Bytes b = header(0, 1);
    b.str("").u32(0).u8(0);
    v.push_back({"empty key", b.v, "empty key"});
  }
  {
    Bytes b = header(0, 2);
    b.str("k").u32(0).u8(1).str("k").u32(4).u32(2);
    v.push_back({"duplicate key", b.v, "duplicate key 'k'"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(13).u8(0);
    v.push_back({"unknown value type", b.v, "value type 13"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(7).u8(2);
    v.push_back({"bool 2", b.v, "BOOL"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(9).u32(7).u64(3).u8(1).u8(5).u8(0);
    v.push_back({"bool array element 5", b.v, "BOOL element 1"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(9).u32(99).u64(0);
    v.push_back({"unknown array element type", b.v, "element type 99"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(9).u32(0).u64(uint64_t{1} << 60).zeros(16);
    v.push_back({"u8 array count huge", b.v, "array of"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(9).u32(10).u64(UINT64_MAX / 4).zeros(16);
    v.push_back({"u64 array count x size overflows", b.v, "array of"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(9).u32(8).u64(uint64_t{1} << 40).zeros(64);
    v.push_back({"string array count huge", b.v, "array of"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(9).u32(8).u64(2).str("a").u64(50);
    v.push_back({"string array element past end", b.v, "array string"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(9);
    for (int d = 0; d < 9; ++d) b.u32(9).u64(1);
    b.u32(0).u64(0);
    v.push_back({"arrays nested 10 deep", b.v, "nested deeper"});
  }
  {
    Bytes b = header(0, 1);
    b.str("k").u32(9).u32(9).u64(uint64_t{1} << 40).zeros(64);
    v.push_back({"nested array count huge", b.v, "array of"});
  }
  v.push_back({"tensor_count huge", header(uint64_t{1} << 59, 0).zeros(64).v, "cannot fit"});
  v.push_back({"kv_count huge", header(0, UINT64_MAX).zeros(64).v, "cannot fit"});
  v.push_back({"counts fit separately, not together", header(2, 2).zeros(70).v, "cannot fit"});
  {
    Bytes b = header(0, 1);
    b.str("general.alignment").u32(10).u64(32);
    v.push_back({"alignment u64", b.v, "UINT32"});
  }
  {
    Bytes b = header(0, 1);
    b.str("general.alignment").u32(4).u32(48);
    v.push_back({"alignment 48", b.v, "power of two"});
  }
  {
    Bytes b = header(0, 1);
    b.str("general.alignment").u32(4).u32(0);
    v.push_back({"alignment 0", b.v, "power of two"});
  }
  {
    Bytes b = header(0, 1);
    b.str("general.architecture").u32(4).u32(1);
    v.push_back({"architecture not string", b.v, "STRING"});
  }
  {
    Bytes b = header(1, 0);
    b.str("t").u32(0).u32(0).u64(0).zeros(32);
    v.push_back({"n_dims 0", b.v, "n_dims 0"});
  }
  {
    Bytes b = header(1, 0);
    b.str("t").u32(5).zeros(40).u32(0).u64(0);
    v.push_back({"n_dims 5", b.v, "n_dims 5"});
  }
  {
    Bytes b = header(1, 0);
    info(b, "", {1}, 0, 0).pad_to(32).zeros(32);
    v.push_back({"empty tensor name", b.v, "empty name"});
  }
  {
    Bytes b = header(1, 0);
    info(b, "t", {UINT64_MAX}, 0, 0).pad_to(32).zeros(32);
    v.push_back({"negative ne", b.v, "ne[0]"});
  }
  {
    Bytes b = header(1, 0);
    info(b, "t", {uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0).pad_to(32).zeros(32);
    v.push_back({"ne product overflows", b.v, "overflows"});
  }
  {
    Bytes b = header(2, 0);
    info(b, "t", {8}, 0, 0);
    info(b, "t", {8}, 0, 32).pad_to(32).zeros(64);
    v.push_back({"duplicate tensor name", b.v, "duplicate tensor name 't'"});
  }
  {
    Bytes b = header(1, 0);
    info(b, "t", {8}, 0, 16).pad_to(32).zeros(64);
    v.push_back({"misaligned offset", b.v, "not a multiple of the alignment"});
  }
  {
    Bytes b = header(1, 0);
    info(b, "t", {8}, 0, 64).pad_to(32).zeros(32);
    v.push_back({"offset past end", b.v, "past the end of the data"});
  }
  {
    Bytes b = header(1, 0);
    info(b, "t", {8}, 0, 0).pad_to(32).zeros(31);
    v.push_back({"data past end", b.v, "run past the end"});
  }
  {
    Bytes b = header(1, 0);
    info(b, "t", {8}, 0, 0);
    v.push_back({"no data section", b.v, "data section starts"});
  }
  {
    Bytes b = header(2, 0);
    info(b, "a", {16}, 0, 0);  // 64 bytes
    info(b, "b", {8}, 0, 32).pad_to(32).zeros(96);
    v.push_back({"overlap", b.v, "overlaps tensor 'a'"});
  }
  {
    Bytes b = header(2, 0);
    info(b, "a", {16}, 0, 0);
    info(b, "b", {300}, 200, 32).pad_to(32).zeros(96);  // unknown type inside a's bytes
    v.push_back({"unknown type inside another tensor", b.v, "overlaps"});
  }
  {
    Bytes b = header(1, 0);
    info(b, "q", {33}, 8, 0).pad_to(32).zeros(64);
    v.push_back({"block mismatch", b.v, "not a multiple of the Q8_0 block size 32"});
  }
  {
    Bytes b = header(1, 0);
    b.str("tensor_with_long_name").u32(1).u64(8).u32(0).zeros(4);
    v.push_back({"info truncated inside offset", b.v, "offset needs 8 bytes, only 4 remain"});
  }
  return v;
}

TEST(Corrupt, EveryRuleHasAClearError) {
  for (const auto& c : corrupt_cases()) {
    gg::reader r;
    ternary_test::prime_last_error();
    EXPECT_EQ(gg::reader::open_memory(c.file.data(), c.file.size(), &r), status::corrupt_data)
        << c.label;
    EXPECT_FALSE(r.is_open());
    const std::string m = message();
    EXPECT_NE(m.find(c.expect), std::string::npos) << c.label << ": " << m;
    EXPECT_NE(m.find("<memory>"), std::string::npos) << c.label << ": " << m;
  }
}

std::vector<uint8_t> small_valid_file(uint64_t* required_end) {
  static const float t0[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  static const uint8_t t1[3] = {1, 2, 3};
  gg::writer w;
  EXPECT_EQ(w.add_string("general.architecture", "bitnet-25"), status::ok);
  EXPECT_EQ(w.add_u32("n", 5), status::ok);
  EXPECT_EQ(w.add_string_array("tok", {"a", "bc"}), status::ok);
  const uint32_t arr[2] = {1, 2};
  EXPECT_EQ(w.add_array("arr", value_type::uint32, arr, 2), status::ok);
  const int64_t ne0[2] = {4, 2}, ne1[1] = {3};
  EXPECT_EQ(w.add_tensor("a", ne0, 2, 0, t0, sizeof t0), status::ok);
  EXPECT_EQ(w.add_tensor("b", ne1, 1, 24, t1, sizeof t1), status::ok);
  std::vector<uint8_t> mem;
  EXPECT_EQ(w.write_memory(&mem), status::ok);
  gg::reader r;
  EXPECT_EQ(gg::reader::open_memory(mem.data(), mem.size(), &r), status::ok);
  const auto& b = r.tensors().back();
  *required_end = r.data_offset() + b.offset + b.bytes;
  return mem;
}

TEST(Corrupt, TruncationAtEveryByte) {
  uint64_t required = 0;
  const auto mem = small_valid_file(&required);
  ASSERT_LT(required, mem.size());  // the last tensor is followed by padding
  for (size_t n = 0; n < mem.size(); ++n) {
    gg::reader r;
    const status s = gg::reader::open_memory(mem.data(), n, &r);
    // Padding after the last tensor is optional.
    EXPECT_EQ(s, n < required ? status::corrupt_data : status::ok) << n << ": " << message();
  }
}

TEST(Corrupt, RandomDamageNeverCrashes) {
  uint64_t required = 0;
  const auto mem = small_valid_file(&required);
  ternary_test::Rng rng(9);
  int ok = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    auto f = mem;
    const int flips = 1 + static_cast<int>(rng.next() % 4);
    for (int k = 0; k < flips; ++k) {
      const size_t at = rng.next() % f.size();
      // Length-like values too: set a whole 8-byte word to something large now and then.
      if (rng.next() % 4 == 0 && at + 8 <= f.size()) {
        const uint64_t big = rng.next() >> (rng.next() % 64);
        for (int i = 0; i < 8; ++i)
          f[at + static_cast<size_t>(i)] = static_cast<uint8_t>(big >> (8 * i));
      } else {
        f[at] = static_cast<uint8_t>(rng.next());
      }
    }
    gg::reader r;
    const status s = gg::reader::open_memory(f.data(), f.size(), &r);
    ASSERT_TRUE(s == status::ok || s == status::corrupt_data) << ternary::status_name(s);
    if (s == status::ok) {
      ++ok;
      for (const auto& t : r.tensors()) {
        if (!t.size_known) continue;
        EXPECT_LE(r.data_offset() + t.offset + t.bytes, r.file_size());
      }
    }
  }
  EXPECT_GT(ok, 0);
}

TEST(Files, EmptyMissingDirectory) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string empty = dir.file("empty.gguf");
  io_test::write_file(empty, {});
  gg::reader r;
  EXPECT_EQ(gg::reader::open(empty.c_str(), &r), status::corrupt_data);
  EXPECT_NE(message().find(empty), std::string::npos);
  EXPECT_EQ(gg::reader::open(dir.file("missing.gguf").c_str(), &r), status::io_error);
  EXPECT_EQ(gg::reader::open(dir.path().c_str(), &r), status::io_error);
  EXPECT_EQ(gg::reader::open(nullptr, &r), status::null_pointer);
  // An empty GGUF (no key/values, no tensors) is valid.
  gg::writer w;
  std::vector<uint8_t> mem;
  ASSERT_EQ(w.write_memory(&mem), status::ok);
  ASSERT_EQ(gg::reader::open_memory(mem.data(), mem.size(), &r), status::ok) << message();
  EXPECT_TRUE(r.tensors().empty());
}

TEST(UnknownTypes, ListedButDataRefused) {
  Bytes b = header(2, 0);
  info(b, "future", {256}, 250, 0);
  info(b, "f", {2}, 0, 64).pad_to(32).zeros(64 + 8);
  gg::reader r;
  ASSERT_EQ(gg::reader::open_memory(b.v.data(), b.v.size(), &r), status::ok) << message();
  const gg::tensor_info* t = r.find_tensor("future");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type_id, 250u);
  EXPECT_EQ(t->kind, tensor_kind::unknown);
  EXPECT_FALSE(t->size_known);
  EXPECT_EQ(t->data, nullptr);
  const uint8_t* p = nullptr;
  uint64_t n = 0;
  EXPECT_EQ(r.tensor_data(*t, &p, &n), status::unsupported);
  EXPECT_NE(message().find("250"), std::string::npos) << message();
  EXPECT_NE(message().find("'future'"), std::string::npos) << message();
  ASSERT_EQ(r.tensor_data(*r.find_tensor("f"), &p, &n), status::ok);
  EXPECT_EQ(n, 8u);
}

// ---- writer -----------------------------------------------------------------------------------

TEST(Writer, RejectsInvalidInput) {
  gg::writer w;
  const float x[4] = {};
  const int64_t ne[2] = {4, 1};
  ASSERT_EQ(w.add_u32("k", 1), status::ok);
  EXPECT_EQ(w.add_u32("k", 2), status::invalid_argument);
  EXPECT_NE(message().find("duplicate"), std::string::npos);
  EXPECT_EQ(w.add_u8("", 1), status::invalid_argument);
  EXPECT_EQ(w.add_u64("general.alignment", 32), status::invalid_argument);
  EXPECT_EQ(w.add_u32("general.alignment", 24), status::invalid_argument);
  EXPECT_EQ(w.add_u32("general.architecture", 1), status::invalid_argument);
  gg::value bad;
  bad.type = value_type::boolean;
  bad.u = 2;
  EXPECT_EQ(w.add_value("b", bad), status::invalid_argument);
  bad.type = value_type::uint8;
  bad.u = 256;
  EXPECT_EQ(w.add_value("b", bad), status::invalid_argument);
  bad.type = static_cast<value_type>(40);
  EXPECT_EQ(w.add_value("b", bad), status::invalid_argument);
  gg::value arr;
  arr.type = value_type::array;
  arr.elem_type = value_type::string;
  arr.count = 2;
  arr.strings = {"one"};
  EXPECT_EQ(w.add_value("b", arr), status::invalid_argument);
  arr.elem_type = value_type::uint32;
  arr.raw = nullptr;
  EXPECT_EQ(w.add_value("b", arr), status::null_pointer);
  EXPECT_EQ(w.add_array("b", value_type::string, x, 1), status::invalid_argument);
  EXPECT_EQ(w.kv_count(), 1u);

  ASSERT_EQ(w.add_tensor("t", ne, 2, 0, x, 16), status::ok);
  EXPECT_EQ(w.add_tensor("t", ne, 2, 0, x, 16), status::invalid_argument);
  EXPECT_EQ(w.add_tensor("u", ne, 2, 0, x, 12), status::buffer_too_small);
  EXPECT_NE(message().find("needs 16"), std::string::npos) << message();
  EXPECT_EQ(w.add_tensor("u", ne, 0, 0, x, 16), status::invalid_argument);
  EXPECT_EQ(w.add_tensor("u", ne, 5, 0, x, 16), status::invalid_argument);
  const int64_t neg[1] = {-4};
  EXPECT_EQ(w.add_tensor("u", neg, 1, 0, x, 16), status::invalid_argument);
  const int64_t odd[1] = {33};
  EXPECT_EQ(w.add_tensor("u", odd, 1, 8, x, 16), status::invalid_argument);
  EXPECT_EQ(w.add_tensor("", ne, 2, 0, x, 16), status::invalid_argument);
  EXPECT_EQ(w.add_tensor("u", ne, 2, 0, nullptr, 16), status::null_pointer);
  EXPECT_EQ(w.add_u32("general.alignment", 64), status::invalid_argument);  // after tensors
  EXPECT_EQ(w.tensor_count(), 1u);
}

TEST(Writer, NoPaddingWithoutTensors) {
  // A file without tensors has no data section to align: a general.alignment of 2^31 (valid)
  // must not make the writer emit 2 GiB of padding (found by fuzz_gguf,
  // tests/fuzz/regressions/gguf/no_tensors_alignment_2g).
  gg::writer w;
  ASSERT_EQ(w.add_u32("general.alignment", uint32_t{1} << 31), status::ok);
  ASSERT_EQ(w.add_string("general.name", "vocab only"), status::ok);
  std::vector<uint8_t> bytes;
  ASSERT_EQ(w.write_memory(&bytes), status::ok);
  EXPECT_LT(bytes.size(), 128u);
  gg::reader r;
  ASSERT_EQ(gg::reader::open_memory(bytes.data(), bytes.size(), &r), status::ok);
  EXPECT_EQ(r.alignment(), uint32_t{1} << 31);
  EXPECT_EQ(r.kvs().size(), 2u);
  EXPECT_TRUE(r.tensors().empty());
  // With a tensor the data section is aligned as before.
  gg::writer t;
  const float x[4] = {1, 2, 3, 4};
  const int64_t ne[1] = {4};
  ASSERT_EQ(t.add_tensor("x", ne, 1, 0, x, sizeof x), status::ok);
  ASSERT_EQ(t.write_memory(&bytes), status::ok);
  EXPECT_EQ(bytes.size() % gg::default_alignment, 0u);
  ASSERT_EQ(gg::reader::open_memory(bytes.data(), bytes.size(), &r), status::ok);
  EXPECT_EQ(r.data_offset() % gg::default_alignment, 0u);
}

TEST(Writer, AtomicReplacement) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::vector<uint8_t> big(1 << 16, 7);
  gg::writer w;
  const int64_t ne[1] = {static_cast<int64_t>(big.size())};
  ASSERT_EQ(w.add_tensor("big", ne, 1, 24, big.data(), big.size()), status::ok);
  const std::string target = dir.file("m.gguf");
  const std::vector<uint8_t> old = {'o', 'l', 'd'};
  io_test::write_file(target, old);
  {
    io_test::ScopedFileSizeLimit limit(4096);
    ASSERT_TRUE(limit.ok());
    EXPECT_EQ(w.write(target.c_str()), status::io_error);
  }
  EXPECT_NE(message().find(target), std::string::npos) << message();
  EXPECT_EQ(io_test::read_file(target), old);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"m.gguf"});
  EXPECT_EQ(w.write(dir.file("no/such/dir.gguf").c_str()), status::io_error);
  EXPECT_EQ(dir.entries().size(), 1u);
  ASSERT_EQ(w.write(target.c_str()), status::ok);
  gg::reader r;
  ASSERT_EQ(gg::reader::open(target.c_str(), &r), status::ok);
  EXPECT_EQ(r.tensors()[0].bytes, big.size());
  EXPECT_EQ(dir.entries().size(), 1u);
}

// ---- BitNet dialect -----------------------------------------------------------------------------

// A file with general.architecture = arch (none when empty) and one tensor per (name, id,
// bytes); the writer lays them out in order with 32-byte alignment.
struct DialectTensor {
  const char* name;
  uint32_t id;
  std::vector<int64_t> ne;
  size_t bytes;
};

gg::reader dialect_file(const std::string& arch, const std::vector<DialectTensor>& ts,
                        std::vector<uint8_t>* keep) {
  // Built by hand: the writer itself refuses sizes that disagree with its dialect.
  Bytes b = header(ts.size(), arch.empty() ? 0 : 1);
  if (!arch.empty()) b.str("general.architecture").u32(8).str(arch);
  uint64_t off = 0;
  for (const auto& t : ts) {
    std::vector<uint64_t> ne(t.ne.begin(), t.ne.end());
    info(b, t.name, ne, t.id, off);
    off += (t.bytes + 31) / 32 * 32;
  }
  b.pad_to(32).zeros(static_cast<size_t>(off));
  *keep = b.v;
  gg::reader r;
  EXPECT_EQ(gg::reader::open_memory(keep->data(), keep->size(), &r), status::ok) << message();
  return r;
}

TEST(Dialect, SharedIdsNeedMetadata) {
  std::vector<uint8_t> keep;
  const std::vector<int64_t> ne = {256, 4};  // 1024 weights: I2_S is 1024/4 + 32 = 288 bytes
  // Id 36 is I2_S only in a BitNet file; upstream retired it.
  {
    auto r = dialect_file("llama", {{"w", 36, ne, 288}}, &keep);
    EXPECT_EQ(r.file_dialect(), gg::dialect::upstream);
    EXPECT_EQ(r.tensors()[0].kind, tensor_kind::unknown);
    EXPECT_FALSE(r.tensors()[0].size_known);
  }
  for (const char* arch : {"bitnet-25", "BITNET_25", "bitnet-b1.58", "bitnet"}) {
    auto r = dialect_file(arch, {{"w", 36, ne, 288}}, &keep);
    ASSERT_EQ(r.tensors().size(), 1u) << arch;
    const auto& t = r.tensors()[0];
    EXPECT_EQ(t.kind, tensor_kind::i2_s) << arch;
    ASSERT_TRUE(t.size_known) << arch;
    EXPECT_EQ(t.bytes, 288u);
    const uint8_t* p = nullptr;
    uint64_t n = 0;
    EXPECT_EQ(r.tensor_data(t, &p, &n), status::ok);
  }
  // Under the shared "bitnet" name the I2_S size must fit before the next tensor...
  {
    auto r = dialect_file("bitnet", {{"w", 36, ne, 256}, {"f", 0, {4}, 16}}, &keep);
    EXPECT_EQ(r.find_tensor("w")->kind, tensor_kind::unknown);
  }
  // ...while a fork-only architecture makes it I2_S, and the tensor then overlaps the next.
  {
    Bytes b = header(2, 1);
    b.str("general.architecture").u32(8).str("bitnet-25");
    info(b, "w", {256, 4}, 36, 0);
    info(b, "f", {4}, 0, 256).pad_to(32).zeros(288);
    gg::reader r;
    EXPECT_EQ(gg::reader::open_memory(b.v.data(), b.v.size(), &r), status::corrupt_data);
    EXPECT_NE(message().find("overlaps"), std::string::npos) << message();
  }
  // Id 39: MXFP4 upstream, TL2 in the fork; "bitnet" decides by the space the tensor has.
  const std::vector<int64_t> ne39 = {64, 2};  // MXFP4: 4 blocks x 17 = 68 bytes
  {
    auto r = dialect_file("", {{"w", 39, ne39, 68}}, &keep);
    EXPECT_EQ(r.tensors()[0].kind, tensor_kind::mxfp4);
    EXPECT_EQ(r.tensors()[0].bytes, 68u);
  }
  {
    auto r = dialect_file("llama", {{"w", 39, ne39, 68}}, &keep);
    EXPECT_EQ(r.tensors()[0].kind, tensor_kind::mxfp4);
  }
  {
    auto r = dialect_file("bitnet-25", {{"w", 39, ne39, 40}}, &keep);
    EXPECT_EQ(r.tensors()[0].kind, tensor_kind::tl2);
    EXPECT_FALSE(r.tensors()[0].size_known);
    const uint8_t* p = nullptr;
    uint64_t n = 0;
    EXPECT_EQ(r.tensor_data(r.tensors()[0], &p, &n), status::unsupported);
    EXPECT_NE(message().find("tl2"), std::string::npos) << message();
  }
  {
    auto r = dialect_file("bitnet", {{"w", 39, ne39, 68}}, &keep);
    EXPECT_EQ(r.tensors()[0].kind, tensor_kind::mxfp4);
  }
  {
    auto r = dialect_file("bitnet", {{"w", 39, ne39, 32}, {"f", 0, {4}, 16}}, &keep);
    EXPECT_EQ(r.find_tensor("w")->kind, tensor_kind::tl2);
  }
  // Id 42: Q2_0 upstream, TL2 in the newer fork revision; 37 and 38 are fork-only.
  {
    auto r = dialect_file("", {{"w", 42, {128}, 36}}, &keep);
    EXPECT_EQ(r.tensors()[0].kind, tensor_kind::q2_0);
    EXPECT_EQ(r.tensors()[0].bytes, 36u);
  }
  {
    auto r = dialect_file("bitnet-25", {{"w", 42, {128}, 36}, {"a", 37, {8}, 8}, {"b", 38, {8}, 8}},
                          &keep);
    EXPECT_EQ(r.find_tensor("w")->kind, tensor_kind::tl2);
    EXPECT_EQ(r.find_tensor("a")->kind, tensor_kind::i8_s);
    EXPECT_EQ(r.find_tensor("b")->kind, tensor_kind::tl1);
  }
  {
    auto r = dialect_file("llama", {{"a", 37, {8}, 8}, {"b", 38, {8}, 8}}, &keep);
    EXPECT_EQ(r.find_tensor("a")->kind, tensor_kind::unknown);
    EXPECT_EQ(r.find_tensor("b")->kind, tensor_kind::unknown);
  }
  // The public resolver agrees.
  uint64_t bytes = 0;
  bool known = false;
  EXPECT_EQ(gg::resolve_kind(36, gg::dialect::bitnet_fork, ne.data(), 2, 0, &bytes, &known),
            tensor_kind::i2_s);
  EXPECT_TRUE(known);
  EXPECT_EQ(bytes, 288u);
  EXPECT_EQ(gg::resolve_kind(36, gg::dialect::upstream, ne.data(), 2, 1000, &bytes, &known),
            tensor_kind::unknown);
  EXPECT_FALSE(known);
  EXPECT_EQ(gg::resolve_kind(35, gg::dialect::bitnet, ne.data(), 2, 0, &bytes, &known),
            tensor_kind::tq2_0);
  EXPECT_EQ(bytes, 4u * 66u);
}

TEST(Dialect, WriterChecksSizesInItsDialect) {
  const std::vector<uint8_t> data(288, 0);
  const int64_t ne[2] = {256, 4};
  gg::writer fork;
  ASSERT_EQ(fork.add_string("general.architecture", "bitnet-25"), status::ok);
  EXPECT_EQ(fork.add_tensor("bad", ne, 2, 36, data.data(), 256), status::buffer_too_small);
  ASSERT_EQ(fork.add_tensor("w", ne, 2, 36, data.data(), 288), status::ok) << message();
  EXPECT_EQ(fork.add_string("general.architecture", "llama"), status::invalid_argument);
  std::vector<uint8_t> mem;
  ASSERT_EQ(fork.write_memory(&mem), status::ok);
  gg::reader r;
  ASSERT_EQ(gg::reader::open_memory(mem.data(), mem.size(), &r), status::ok) << message();
  EXPECT_EQ(r.file_dialect(), gg::dialect::bitnet_fork);
  EXPECT_EQ(r.tensors()[0].kind, tensor_kind::i2_s);
  // Upstream: 39 is MXFP4 and its size is checked.
  gg::writer up;
  const int64_t ne39[1] = {64};
  EXPECT_EQ(up.add_tensor("m", ne39, 1, 39, data.data(), 40), status::buffer_too_small);
  EXPECT_EQ(up.add_tensor("m", ne39, 1, 39, data.data(), 34), status::ok);
}

}  // namespace
