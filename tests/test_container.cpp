// SPDX-License-Identifier: Apache-2.0
// The versioned, checksummed container: save/load and serialize/deserialize round trips, and
// rejection of every corruption (truncation at every length, every byte flipped, trailing
// bytes) with status::corrupt_data and a message. Atomic save: a failed save leaves nothing.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <unistd.h>

#include "test_util.hpp"

namespace {

using namespace ternary_test;
namespace fs = std::filesystem;

// A fresh directory removed with its contents at scope exit (unique per process and object, so
// ctest may run tests in parallel).
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("ternary_test_container_" + std::to_string(::getpid()) +
                                         "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::set<std::string> listing() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(path_)) names.insert(e.path().filename().string());
    return names;
  }

 private:
  fs::path path_;
};

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}
void write_file(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// Matrices covering every format, both scale types, 2 planes, bias and a K tail.
std::vector<TritCase> sample_cases() {
  Rng rng(31);
  std::vector<TritCase> v;
  v.push_back(make_case(rng, make_desc(format::bits2, 2, 70, scale_granularity::per_group, 64,
                                       scale_type::f16, 2, true)));
  v.push_back(make_case(rng, make_desc(format::base3, 3, 5, scale_granularity::per_tensor)));
  v.push_back(make_case(rng, make_desc(format::sherry, 1, 257, scale_granularity::per_row, 0,
                                       scale_type::f32, 1, true)));
  return v;
}

void expect_same_matrix(const packed_matrix& a, const packed_matrix& b) {
  EXPECT_EQ(a.desc().fmt, b.desc().fmt);
  EXPECT_EQ(a.desc().rows, b.desc().rows);
  EXPECT_EQ(a.desc().cols, b.desc().cols);
  EXPECT_EQ(a.desc().granularity, b.desc().granularity);
  EXPECT_EQ(a.desc().group_size, b.desc().group_size);
  EXPECT_EQ(a.desc().scale_dtype, b.desc().scale_dtype);
  EXPECT_EQ(a.desc().planes, b.desc().planes);
  EXPECT_EQ(a.desc().has_bias, b.desc().has_bias);
  ASSERT_EQ(a.storage_bytes(), b.storage_bytes());
  EXPECT_EQ(std::memcmp(a.storage(), b.storage(), a.storage_bytes()), 0) << "storage differs";
  for (int p = 0; p < a.planes(); ++p) {
    std::vector<int8_t> ta(static_cast<size_t>(a.rows() * a.cols()));
    std::vector<int8_t> tb(ta.size());
    ASSERT_EQ(a.unpack_trits(p, ta.data(), a.cols()), status::ok);
    ASSERT_EQ(b.unpack_trits(p, tb.data(), b.cols()), status::ok);
    EXPECT_EQ(ta, tb) << "plane " << p;
  }
}

// Deserializes exactly `size` bytes from a heap block of that size (so a sanitizer sees any
// over-read) and expects rejection with corrupt_data and a fresh message.
void expect_rejected(const std::vector<uint8_t>& bytes, size_t size, const std::string& what) {
  std::unique_ptr<uint8_t[]> exact(new uint8_t[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(exact.get(), bytes.data(), size);
  const std::string primed = prime_last_error();
  packed_matrix m;
  const status st = packed_matrix::deserialize(exact.get(), size, &m);
  EXPECT_EQ(st, status::corrupt_data) << what;
  const std::string msg = ternary::last_error_message();
  EXPECT_FALSE(msg.empty()) << what;
  EXPECT_NE(msg, primed) << what << ": no message recorded";
}

TEST(Container, SerializeDeserializeRoundTrip) {
  for (const TritCase& c : sample_cases()) {
    SCOPED_TRACE(describe(c.d));
    packed_matrix m;
    ASSERT_EQ(pack_case(c, &m), status::ok);
    std::vector<uint8_t> bytes;
    ASSERT_EQ(m.serialize(&bytes), status::ok) << ternary::last_error_message();
    ASSERT_GT(bytes.size(), m.storage_bytes() / 2);
    std::vector<uint8_t> again;
    ASSERT_EQ(m.serialize(&again), status::ok);
    EXPECT_EQ(bytes, again) << "serialization is not deterministic";

    // From a misaligned copy; the result owns its bytes.
    std::vector<uint8_t> shifted(bytes.size() + 1);
    std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
    packed_matrix back;
    ASSERT_EQ(packed_matrix::deserialize(shifted.data() + 1, bytes.size(), &back), status::ok)
        << ternary::last_error_message();
    EXPECT_TRUE(back.owns_storage());
    std::fill(shifted.begin(), shifted.end(), uint8_t{0});
    expect_same_matrix(m, back);
    std::vector<uint8_t> reser;
    ASSERT_EQ(back.serialize(&reser), status::ok);
    EXPECT_EQ(reser, bytes);

    // A view serializes to the same bytes.
    packed_matrix view;
    ASSERT_EQ(packed_matrix::wrap(c.d, m.storage(), m.storage_bytes(), &view), status::ok);
    std::vector<uint8_t> from_view;
    ASSERT_EQ(view.serialize(&from_view), status::ok);
    EXPECT_EQ(from_view, bytes);
  }
}

TEST(Container, SaveLoadRoundTripMatchesSerializeBytes) {
  TempDir dir;
  int i = 0;
  for (const TritCase& c : sample_cases()) {
    SCOPED_TRACE(describe(c.d));
    packed_matrix m;
    ASSERT_EQ(pack_case(c, &m), status::ok);
    const fs::path p = dir.path() / ("m" + std::to_string(i++) + ".tern");
    ASSERT_EQ(m.save(p.string().c_str()), status::ok) << ternary::last_error_message();
    std::vector<uint8_t> bytes;
    ASSERT_EQ(m.serialize(&bytes), status::ok);
    EXPECT_EQ(read_file(p), bytes) << "file bytes differ from serialize()";
    packed_matrix back;
    ASSERT_EQ(packed_matrix::load(p.string().c_str(), &back), status::ok)
        << ternary::last_error_message();
    EXPECT_TRUE(back.owns_storage());
    expect_same_matrix(m, back);
  }
  // Only the destination files exist: no temporaries left behind.
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"m0.tern", "m1.tern", "m2.tern"}));
}

TEST(Container, CreatedMatrixRoundTrips) {
  packed_matrix m;
  ASSERT_EQ(packed_matrix::create(make_desc(format::sherry, 4, 100, scale_granularity::per_group,
                                            64, scale_type::f16, 2, true),
                                  &m),
            status::ok);
  static_cast<uint16_t*>(m.mutable_scales(1))[3] = ternary::float_to_half(0.75f);
  m.mutable_bias()[2] = -3.5f;
  std::vector<uint8_t> bytes;
  ASSERT_EQ(m.serialize(&bytes), status::ok);
  packed_matrix back;
  ASSERT_EQ(packed_matrix::deserialize(bytes.data(), bytes.size(), &back), status::ok)
      << ternary::last_error_message();
  expect_same_matrix(m, back);
  EXPECT_EQ(back.view().bias[2], -3.5f);
  EXPECT_EQ(ternary::scale_at(back.view(), 1, 1, 1), 0.75f);
}

TEST(Container, TruncationAtEveryLengthIsRejected) {
  for (const TritCase& c : sample_cases()) {
    SCOPED_TRACE(describe(c.d));
    packed_matrix m;
    ASSERT_EQ(pack_case(c, &m), status::ok);
    std::vector<uint8_t> bytes;
    ASSERT_EQ(m.serialize(&bytes), status::ok);
    for (size_t len = 0; len < bytes.size(); ++len) {
      expect_rejected(
          bytes, len,
          "truncated to " + std::to_string(len) + " of " + std::to_string(bytes.size()));
      if (testing::Test::HasFailure()) return;
    }
  }
}

TEST(Container, EveryFlippedByteIsRejected) {
  // Header fields (magic, version, dims, sizes), checksums and payload alike: with both
  // checksums in place no single corrupted byte may load.
  for (const TritCase& c : sample_cases()) {
    SCOPED_TRACE(describe(c.d));
    packed_matrix m;
    ASSERT_EQ(pack_case(c, &m), status::ok);
    std::vector<uint8_t> bytes;
    ASSERT_EQ(m.serialize(&bytes), status::ok);
    for (size_t pos = 0; pos < bytes.size(); ++pos) {
      for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
        std::vector<uint8_t> bad = bytes;
        bad[pos] ^= mask;
        expect_rejected(bad, bad.size(),
                        "byte " + std::to_string(pos) + " of " + std::to_string(bytes.size()) +
                            " xor " + std::to_string(mask));
      }
      if (testing::Test::HasFailure()) return;
    }
  }
}

TEST(Container, WrongMagicAndTrailingGarbageAreRejected) {
  const TritCase c = sample_cases()[0];
  packed_matrix m;
  ASSERT_EQ(pack_case(c, &m), status::ok);
  std::vector<uint8_t> bytes;
  ASSERT_EQ(m.serialize(&bytes), status::ok);
  {
    std::vector<uint8_t> bad = bytes;
    std::memcpy(bad.data(), "GGUF", 4);
    expect_rejected(bad, bad.size(), "magic GGUF");
    std::fill(bad.begin(), bad.begin() + 8, uint8_t{0});
    expect_rejected(bad, bad.size(), "magic zeroed");
  }
  for (size_t extra : {size_t{1}, size_t{7}, size_t{64}}) {
    std::vector<uint8_t> bad = bytes;
    bad.resize(bytes.size() + extra, uint8_t{0});
    expect_rejected(bad, bad.size(), "trailing " + std::to_string(extra) + " zero bytes");
  }
  std::vector<uint8_t> twice = bytes;
  twice.insert(twice.end(), bytes.begin(), bytes.end());
  expect_rejected(twice, twice.size(), "two containers back to back");
  // Random garbage of the right length.
  Rng rng(32);
  for (int i = 0; i < 50; ++i) {
    std::vector<uint8_t> junk(bytes.size());
    for (auto& b : junk) b = static_cast<uint8_t>(rng.u32());
    expect_rejected(junk, junk.size(), "random bytes " + std::to_string(i));
  }
}

TEST(Container, LoadRejectsCorruptFilesAndReportsMissingOnes) {
  TempDir dir;
  const TritCase c = sample_cases()[2];
  packed_matrix m;
  ASSERT_EQ(pack_case(c, &m), status::ok);
  std::vector<uint8_t> bytes;
  ASSERT_EQ(m.serialize(&bytes), status::ok);
  const fs::path p = dir.path() / "x.tern";
  packed_matrix out;

  const std::vector<size_t> lengths = {
      0, 1, 4, 8, 16, 31, 63, 64, 65, bytes.size() / 2, bytes.size() - 1};
  for (size_t len : lengths) {
    if (len >= bytes.size()) continue;
    write_file(p, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(len)));
    EXPECT_TERNARY_ERROR(packed_matrix::load(p.string().c_str(), &out), status::corrupt_data,
                         "truncat", "short", "size", "end", "magic", "header", "corrupt", "byte");
  }
  for (size_t pos : {size_t{0}, size_t{5}, size_t{12}, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<uint8_t> bad = bytes;
    bad[pos] ^= 0x10;
    write_file(p, bad);
    const std::string primed = prime_last_error();
    EXPECT_EQ(packed_matrix::load(p.string().c_str(), &out), status::corrupt_data)
        << "flip " << pos;
    EXPECT_NE(ternary::last_error_message(), primed);
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  write_file(p, longer);
  EXPECT_EQ(packed_matrix::load(p.string().c_str(), &out), status::corrupt_data);

  write_file(p, bytes);
  ASSERT_EQ(packed_matrix::load(p.string().c_str(), &out), status::ok);
  expect_same_matrix(m, out);

  const fs::path missing = dir.path() / "does_not_exist.tern";
  EXPECT_TERNARY_ERROR(packed_matrix::load(missing.string().c_str(), &out), status::io_error,
                       "does_not_exist.tern");
  EXPECT_TERNARY_ERROR(packed_matrix::load(dir.path().string().c_str(), &out), status::io_error,
                       "ternary_test_container_");
}

TEST(Container, SaveIntoMissingDirectoryFailsAndCreatesNothing) {
  TempDir dir;
  const TritCase c = sample_cases()[1];
  packed_matrix m;
  ASSERT_EQ(pack_case(c, &m), status::ok);
  const fs::path p = dir.path() / "no_such_dir" / "w.tern";
  EXPECT_TERNARY_ERROR(m.save(p.string().c_str()), status::io_error, "no_such_dir", "w.tern");
  EXPECT_FALSE(fs::exists(dir.path() / "no_such_dir"));
  EXPECT_TRUE(dir.listing().empty());
}

TEST(Container, FailedSaveLeavesNoPartialOrTemporaryFile) {
  TempDir dir;
  const TritCase c = sample_cases()[0];
  packed_matrix m;
  ASSERT_EQ(pack_case(c, &m), status::ok);

  // Destination is an existing directory: the final rename (or open) must fail, and the
  // directory and its parent must look exactly as before.
  const fs::path target = dir.path() / "is_a_dir";
  fs::create_directory(target);
  write_file(target / "keep.txt", {1, 2, 3});
  const std::set<std::string> before = dir.listing();
  EXPECT_TERNARY_ERROR(m.save(target.string().c_str()), status::io_error, "is_a_dir");
  EXPECT_EQ(dir.listing(), before) << "a temporary or partial file was left behind";
  EXPECT_TRUE(fs::is_directory(target));
  EXPECT_EQ(read_file(target / "keep.txt"), (std::vector<uint8_t>{1, 2, 3}));

  // A file name longer than any file system allows.
  const fs::path too_long = dir.path() / std::string(300, 'n');
  EXPECT_TERNARY_ERROR(m.save(too_long.string().c_str()), status::io_error, "nnnnnnnn");
  EXPECT_EQ(dir.listing(), before);
}

TEST(Container, SaveReplacesAnExistingFileAtomically) {
  TempDir dir;
  const auto cases = sample_cases();
  packed_matrix a, b;
  ASSERT_EQ(pack_case(cases[0], &a), status::ok);
  ASSERT_EQ(pack_case(cases[2], &b), status::ok);
  const fs::path p = dir.path() / "w.tern";
  write_file(p, std::vector<uint8_t>(100000, 0xee));  // bigger than either container
  ASSERT_EQ(a.save(p.string().c_str()), status::ok) << ternary::last_error_message();
  packed_matrix back;
  ASSERT_EQ(packed_matrix::load(p.string().c_str(), &back), status::ok);
  expect_same_matrix(a, back);
  ASSERT_EQ(b.save(p.string().c_str()), status::ok) << ternary::last_error_message();
  ASSERT_EQ(packed_matrix::load(p.string().c_str(), &back), status::ok);
  expect_same_matrix(b, back);
  std::vector<uint8_t> bytes;
  ASSERT_EQ(b.serialize(&bytes), status::ok);
  EXPECT_EQ(read_file(p), bytes);
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"w.tern"}));

  // A matrix loaded from a file can be saved back over that same file.
  ASSERT_EQ(back.save(p.string().c_str()), status::ok);
  EXPECT_EQ(read_file(p), bytes);
}

// ---------------------------------------------------------------- documented byte layout
// docs/FORMATS.md: a 128-byte little-endian header, then the storage buffer; CRC-32 (IEEE, as
// zlib) of the payload at 72 and of header bytes 0..123 at 124. With our own CRC the tests can
// forge internally consistent headers and check the semantic validation behind the checksums.

uint32_t crc32_ieee(const uint8_t* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int b = 0; b < 8; ++b) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}
uint64_t get_le(const std::vector<uint8_t>& b, size_t off, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | b[off + static_cast<size_t>(i)];
  return v;
}
void put_le(std::vector<uint8_t>* b, size_t off, int bytes, uint64_t v) {
  for (int i = 0; i < bytes; ++i)
    (*b)[off + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}
void reseal(std::vector<uint8_t>* b, bool payload_too) {
  if (payload_too) put_le(b, 72, 4, crc32_ieee(b->data() + 128, b->size() - 128));
  put_le(b, 124, 4, crc32_ieee(b->data(), 124));
}

TEST(ContainerLayout, HeaderMatchesTheDocumentation) {
  const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  ASSERT_EQ(crc32_ieee(check, 9), 0xcbf43926u);  // the standard CRC-32 check value
  for (const TritCase& c : sample_cases()) {
    SCOPED_TRACE(describe(c.d));
    packed_matrix m;
    ASSERT_EQ(pack_case(c, &m), status::ok);
    std::vector<uint8_t> b;
    ASSERT_EQ(m.serialize(&b), status::ok);
    ASSERT_EQ(b.size(), 128 + m.storage_bytes());
    const uint8_t magic[8] = {0x54, 0x45, 0x52, 0x4e, 0x41, 0x52, 0x59, 0x1a};
    EXPECT_EQ(std::memcmp(b.data(), magic, 8), 0);
    EXPECT_EQ(get_le(b, 8, 4), 1u);
    EXPECT_EQ(get_le(b, 12, 4), 128u);
    EXPECT_EQ(get_le(b, 16, 4), ternary::layout_version);
    EXPECT_EQ(get_le(b, 20, 4), static_cast<uint64_t>(c.d.fmt));
    EXPECT_EQ(get_le(b, 24, 4), static_cast<uint64_t>(c.d.granularity));
    EXPECT_EQ(get_le(b, 28, 4), static_cast<uint64_t>(c.d.scale_dtype));
    EXPECT_EQ(get_le(b, 32, 4), static_cast<uint64_t>(c.d.planes));
    EXPECT_EQ(get_le(b, 36, 4), c.d.has_bias ? 1u : 0u);
    EXPECT_EQ(get_le(b, 40, 8), static_cast<uint64_t>(c.d.rows));
    EXPECT_EQ(get_le(b, 48, 8), static_cast<uint64_t>(c.d.cols));
    EXPECT_EQ(get_le(b, 56, 8), static_cast<uint64_t>(c.d.group_size));
    size_t bytes = 0;
    ASSERT_EQ(ternary::storage_size(c.d, &bytes), status::ok);
    EXPECT_EQ(get_le(b, 64, 8), bytes);
    EXPECT_EQ(get_le(b, 72, 4), crc32_ieee(b.data() + 128, b.size() - 128));
    for (size_t i = 76; i < 124; ++i) EXPECT_EQ(b[i], 0) << "reserved byte " << i;
    EXPECT_EQ(get_le(b, 124, 4), crc32_ieee(b.data(), 124));
    EXPECT_EQ(std::memcmp(b.data() + 128, m.storage(), m.storage_bytes()), 0)
        << "payload is not the storage buffer";
    // A container we build from scratch (header by the documentation) loads.
    std::vector<uint8_t> own(128, 0);
    std::memcpy(own.data(), magic, 8);
    put_le(&own, 8, 4, 1);
    put_le(&own, 12, 4, 128);
    put_le(&own, 16, 4, 1);
    put_le(&own, 20, 4, static_cast<uint64_t>(c.d.fmt));
    put_le(&own, 24, 4, static_cast<uint64_t>(c.d.granularity));
    put_le(&own, 28, 4, static_cast<uint64_t>(c.d.scale_dtype));
    put_le(&own, 32, 4, static_cast<uint64_t>(c.d.planes));
    put_le(&own, 36, 4, c.d.has_bias ? 1 : 0);
    put_le(&own, 40, 8, static_cast<uint64_t>(c.d.rows));
    put_le(&own, 48, 8, static_cast<uint64_t>(c.d.cols));
    put_le(&own, 56, 8, static_cast<uint64_t>(c.d.group_size));
    put_le(&own, 64, 8, bytes);
    const auto* st = static_cast<const uint8_t*>(m.storage());
    own.insert(own.end(), st, st + m.storage_bytes());
    reseal(&own, true);
    packed_matrix back;
    ASSERT_EQ(packed_matrix::deserialize(own.data(), own.size(), &back), status::ok)
        << ternary::last_error_message();
    expect_same_matrix(m, back);
  }
}

TEST(ContainerLayout, ConsistentlySealedButInvalidHeadersAreRejectedWithTheReason) {
  const TritCase c = sample_cases()[0];  // bits2 2x70 per_group 64, f16, 2 planes, bias
  packed_matrix m;
  ASSERT_EQ(pack_case(c, &m), status::ok);
  std::vector<uint8_t> good;
  ASSERT_EQ(m.serialize(&good), status::ok);
  struct Edit {
    const char* what;
    size_t off;
    int bytes;
    uint64_t value;
    std::initializer_list<const char*> keywords;
  };
  const Edit edits[] = {
      {"future container version", 8, 4, 2, {"version"}},
      {"container version 0", 8, 4, 0, {"version"}},
      {"header size 64", 12, 4, 64, {"header", "size"}},
      {"header size 256", 12, 4, 256, {"header", "size"}},
      {"future layout version", 16, 4, 2, {"version", "layout"}},
      {"format 0", 20, 4, 0, {"format"}},
      {"format 99", 20, 4, 99, {"format"}},
      {"granularity 99", 24, 4, 99, {"granularity"}},
      {"scale type 3", 28, 4, 3, {"scale"}},
      {"planes 3", 32, 4, 3, {"plane"}},
      {"planes 0", 32, 4, 0, {"plane"}},
      {"unknown flag bit", 36, 4, 3, {"flag"}},
      {"rows 0", 40, 8, 0, {"row", "dimension", "size"}},
      {"rows + 1", 40, 8, 3, {"size", "payload", "row"}},
      {"rows huge", 40, 8, uint64_t{1} << 62, {"row", "dimension", "size", "range"}},
      {"cols 0", 48, 8, 0, {"col", "dimension", "size"}},
      {"cols beyond max_cols",
       48,
       8,
       (uint64_t{1} << 23) + 1,
       {"col", "dimension", "size", "range"}},
      {"cols negative", 48, 8, ~uint64_t{0}, {"col", "dimension", "size", "range"}},
      {"group size 100", 56, 8, 100, {"group"}},
      {"group size 0 with per_group", 56, 8, 0, {"group"}},
      {"payload size - 1", 64, 8, good.size() - 128 - 1, {"size", "payload"}},
      {"payload size + 64", 64, 8, good.size() - 128 + 64, {"size", "payload"}},
      {"reserved byte 76", 76, 1, 1, {"reserved"}},
      {"reserved byte 123", 123, 1, 0x80, {"reserved"}},
  };
  for (const Edit& e : edits) {
    std::vector<uint8_t> bad = good;
    put_le(&bad, e.off, e.bytes, e.value);
    reseal(&bad, false);
    packed_matrix out;
    const std::string primed = prime_last_error();
    EXPECT_EQ(packed_matrix::deserialize(bad.data(), bad.size(), &out), status::corrupt_data)
        << e.what;
    const std::string msg = ternary::last_error_message();
    EXPECT_NE(msg, primed) << e.what;
    EXPECT_TRUE(mentions(msg, e.keywords)) << e.what << ": message \"" << msg << "\"";
  }
  // has_bias cleared: the description now wants fewer payload bytes than are there.
  {
    std::vector<uint8_t> bad = good;
    put_le(&bad, 36, 4, 0);
    reseal(&bad, false);
    packed_matrix out;
    EXPECT_EQ(packed_matrix::deserialize(bad.data(), bad.size(), &out), status::corrupt_data);
  }
}

TEST(ContainerLayout, NonFiniteScalesOrBiasInASealedPayloadAreRejected) {
  const TritCase c = sample_cases()[0];  // f16 scales, 2 planes, bias
  packed_matrix m;
  ASSERT_EQ(pack_case(c, &m), status::ok);
  std::vector<uint8_t> good;
  ASSERT_EQ(m.serialize(&good), status::ok);
  const auto* base = static_cast<const uint8_t*>(m.storage());
  const size_t scale1 =
      128 + static_cast<size_t>(static_cast<const uint8_t*>(m.view().scales[1]) - base);
  const size_t bias =
      128 + static_cast<size_t>(reinterpret_cast<const uint8_t*>(m.view().bias) - base);
  for (uint16_t h : {uint16_t{0x7c00}, uint16_t{0xfc00}, uint16_t{0x7e00}}) {
    std::vector<uint8_t> bad = good;
    put_le(&bad, scale1 + 2, 2, h);
    reseal(&bad, true);
    packed_matrix out;
    EXPECT_TERNARY_ERROR(packed_matrix::deserialize(bad.data(), bad.size(), &out),
                         status::corrupt_data, "scale");
  }
  for (uint32_t f : {0x7f800000u, 0xff800000u, 0x7fc00000u}) {
    std::vector<uint8_t> bad = good;
    put_le(&bad, bias + 4, 4, f);
    reseal(&bad, true);
    packed_matrix out;
    EXPECT_TERNARY_ERROR(packed_matrix::deserialize(bad.data(), bad.size(), &out),
                         status::corrupt_data, "bias");
  }
}

TEST(Container, EmptyMatrixCannotBeSavedOrSerialized) {
  TempDir dir;
  packed_matrix empty;
  std::vector<uint8_t> bytes;
  EXPECT_TERNARY_ERROR(empty.serialize(&bytes), status::invalid_argument, "empty");
  const fs::path p = dir.path() / "e.tern";
  EXPECT_TERNARY_ERROR(empty.save(p.string().c_str()), status::invalid_argument, "empty");
  EXPECT_TRUE(dir.listing().empty());
}

}  // namespace
