// SPDX-License-Identifier: Apache-2.0
// The packed-matrix container (docs/FORMATS.md, "Container"): a 128-byte little-endian header
// followed by the storage buffer as is.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define TERNARY_HAVE_MKSTEMP 1
#endif

#include "detail/crc32.hpp"
#include "detail/error.hpp"
#include "detail/layout.hpp"

#include "ternary/packed_matrix.hpp"

namespace ternary {
namespace detail {

namespace {
struct crc_table {
  uint32_t t[8][256];
  crc_table() noexcept {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xffu];
  }
};
const crc_table& table() noexcept {
  static const crc_table tab;
  return tab;
}
}  // namespace

uint32_t crc32(uint32_t crc, const void* data, size_t size) noexcept {
  const auto& t = table().t;
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (size >= 8) {
    const uint32_t lo =
        c ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
        t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    p += 8;
    size -= 8;
  }
  while (size--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xffu];
  return ~c;
}

}  // namespace detail

namespace {

using detail::fail;

constexpr uint8_t magic[8] = {'T', 'E', 'R', 'N', 'A', 'R', 'Y', 0x1a};
constexpr uint32_t container_version = 1;
constexpr size_t header_bytes = 128;
constexpr size_t header_crc_offset = 124;

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

void write_header(const packed_matrix& m, uint8_t* h) {
  std::memset(h, 0, header_bytes);
  const matrix_desc& d = m.desc();
  std::memcpy(h, magic, sizeof magic);
  put32(h + 8, container_version);
  put32(h + 12, static_cast<uint32_t>(header_bytes));
  put32(h + 16, layout_version);
  put32(h + 20, static_cast<uint32_t>(d.fmt));
  put32(h + 24, static_cast<uint32_t>(d.granularity));
  put32(h + 28, static_cast<uint32_t>(d.scale_dtype));
  put32(h + 32, static_cast<uint32_t>(d.planes));
  put32(h + 36, d.has_bias ? 1u : 0u);
  put64(h + 40, static_cast<uint64_t>(d.rows));
  put64(h + 48, static_cast<uint64_t>(d.cols));
  put64(h + 56, static_cast<uint64_t>(d.group_size));
  put64(h + 64, m.storage_bytes());
  put32(h + 72, detail::crc32(0, m.storage(), m.storage_bytes()));
  put32(h + header_crc_offset, detail::crc32(0, h, header_crc_offset));
}

// Parses and checks a header against the number of bytes that follow it.
status parse_header(const uint8_t* h, size_t available, matrix_desc* d, uint64_t* payload,
                    uint32_t* payload_crc) {
  if (available < header_bytes)
    return fail(status::corrupt_data, "container truncated: %zu bytes, the header alone needs %zu",
                available, header_bytes);
  if (std::memcmp(h, magic, sizeof magic) != 0)
    return fail(status::corrupt_data, "not a ternary packed-matrix container (bad magic)");
  const uint32_t version = get32(h + 8);
  if (version != container_version)
    return fail(status::corrupt_data, "container version %u is not supported (this build reads %u)",
                version, container_version);
  if (get32(h + header_crc_offset) != detail::crc32(0, h, header_crc_offset))
    return fail(status::corrupt_data, "container header checksum mismatch");
  if (get32(h + 12) != header_bytes)
    return fail(status::corrupt_data, "container header size %u, expected %zu", get32(h + 12),
                header_bytes);
  if (get32(h + 16) != layout_version)
    return fail(status::corrupt_data, "layout version %u is not supported (this build reads %u)",
                get32(h + 16), layout_version);
  for (size_t i = 76; i < header_crc_offset; ++i)
    if (h[i] != 0)
      return fail(status::corrupt_data, "container header reserved byte %zu is not zero", i);
  const uint32_t flags = get32(h + 36);
  if (flags > 1u) return fail(status::corrupt_data, "container flags 0x%x has unknown bits", flags);
  matrix_desc out;
  out.fmt = static_cast<format>(get32(h + 20));
  out.granularity = static_cast<scale_granularity>(get32(h + 24));
  out.scale_dtype = static_cast<scale_type>(get32(h + 28));
  out.planes = static_cast<int>(get32(h + 32) > 2u ? 0u : get32(h + 32));
  out.has_bias = flags == 1u;
  const uint64_t rows = get64(h + 40), cols = get64(h + 48), group = get64(h + 56);
  if (rows > static_cast<uint64_t>(max_rows) || cols > static_cast<uint64_t>(max_cols) ||
      group > static_cast<uint64_t>(max_cols))
    return fail(status::corrupt_data,
                "container dimensions out of range: rows=%llu cols=%llu group=%llu",
                static_cast<unsigned long long>(rows), static_cast<unsigned long long>(cols),
                static_cast<unsigned long long>(group));
  out.rows = static_cast<int64_t>(rows);
  out.cols = static_cast<int64_t>(cols);
  out.group_size = static_cast<int64_t>(group);
  detail::storage_layout l;
  const status s = detail::compute_layout(out, &l);
  if (s != status::ok) return detail::with_context(status::corrupt_data, "container header");
  *payload = get64(h + 64);
  if (*payload != l.total)
    return fail(status::corrupt_data, "container payload size %llu does not match its header (%zu)",
                static_cast<unsigned long long>(*payload), l.total);
  if (available - header_bytes != l.total)
    return fail(status::corrupt_data,
                "container has %zu payload bytes, its header describes %zu (truncated or trailing "
                "data)",
                available - header_bytes, l.total);
  *payload_crc = get32(h + 72);
  *d = out;
  return status::ok;
}

}  // namespace

status packed_matrix::serialize(std::vector<uint8_t>* out) const noexcept {
  if (!out) return fail(status::null_pointer, "serialize: out is null");
  if (empty()) return fail(status::invalid_argument, "serialize: the matrix is empty");
  try {
    out->resize(header_bytes + storage_bytes_);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "serialize: cannot allocate %zu bytes",
                header_bytes + storage_bytes_);
  }
  write_header(*this, out->data());
  std::memcpy(out->data() + header_bytes, storage_, storage_bytes_);
  return status::ok;
}

status packed_matrix::deserialize(const void* data, size_t size, packed_matrix* out) noexcept {
  if (!out) return fail(status::null_pointer, "deserialize: out is null");
  if (!data && size != 0) return fail(status::null_pointer, "deserialize: data is null");
  const auto* bytes = static_cast<const uint8_t*>(data);
  matrix_desc d;
  uint64_t payload = 0;
  uint32_t crc = 0;
  status s = parse_header(bytes, data ? size : 0, &d, &payload, &crc);
  if (s != status::ok) return s;
  if (detail::crc32(0, bytes + header_bytes, payload) != crc)
    return fail(status::corrupt_data, "container payload checksum mismatch");
  packed_matrix m;
  s = create(d, &m);
  if (s != status::ok) return s;
  std::memcpy(const_cast<uint8_t*>(m.storage_), bytes + header_bytes, payload);
  s = m.check_values();
  if (s != status::ok) return detail::with_context(status::corrupt_data, "container");
  *out = std::move(m);
  return status::ok;
}

status packed_matrix::save(const char* path) const noexcept {
  if (!path) return fail(status::null_pointer, "save: path is null");
  if (empty()) return fail(status::invalid_argument, "save: the matrix is empty");
  uint8_t header[header_bytes];
  write_header(*this, header);
  std::string tmp;
  std::FILE* f = nullptr;
  try {
    tmp = std::string(path) + ".tmp-XXXXXX";
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "save: out of memory");
  }
#if defined(TERNARY_HAVE_MKSTEMP)
  const int fd = ::mkstemp(&tmp[0]);
  if (fd < 0)
    return fail(status::io_error, "save: cannot create a temporary file next to '%s': %s", path,
                std::strerror(errno));
  f = ::fdopen(fd, "wb");
  if (!f) ::close(fd);
#else
  tmp.resize(tmp.size() - 6);
  tmp += "partial";
  f = std::fopen(tmp.c_str(), "wb");
#endif
  if (!f)
    return fail(status::io_error, "save: cannot open '%s' for writing: %s", tmp.c_str(),
                std::strerror(errno));
  bool ok = std::fwrite(header, 1, header_bytes, f) == header_bytes &&
            std::fwrite(storage_, 1, storage_bytes_, f) == storage_bytes_;
  ok = (std::fflush(f) == 0) && ok;
#if defined(TERNARY_HAVE_MKSTEMP)
  ok = ok && ::fsync(::fileno(f)) == 0;
#endif
  const int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    return fail(status::io_error, "save: writing '%s' failed: %s", path, std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    return fail(status::io_error, "save: cannot move the finished file to '%s': %s", path,
                std::strerror(e));
  }
  return status::ok;
}

status packed_matrix::load(const char* path, packed_matrix* out) noexcept {
  if (!path) return fail(status::null_pointer, "load: path is null");
  if (!out) return fail(status::null_pointer, "load: out is null");
  std::FILE* f = std::fopen(path, "rb");
  if (!f) return fail(status::io_error, "load: cannot open '%s': %s", path, std::strerror(errno));
  std::vector<uint8_t> buf;
  status s = status::ok;
  uint8_t header[header_bytes];
  const size_t got = std::fread(header, 1, header_bytes, f);
  if (got < header_bytes && std::ferror(f)) {
    const int e = errno;
    std::fclose(f);
    return fail(status::io_error, "load: reading '%s' failed: %s", path, std::strerror(e));
  }
  long size = -1;
  if (std::fseek(f, 0, SEEK_END) == 0) size = std::ftell(f);
  if (size < 0) {
    s = fail(status::io_error, "load: cannot determine the size of '%s'", path);
  } else {
    matrix_desc d;
    uint64_t payload = 0;
    uint32_t crc = 0;
    // Validate the header against the real file size before allocating what it promises.
    s = parse_header(header, got < header_bytes ? got : static_cast<size_t>(size), &d, &payload,
                     &crc);
    if (s == status::ok) {
      try {
        buf.resize(static_cast<size_t>(size));
      } catch (const std::bad_alloc&) {
        s = fail(status::out_of_memory, "load: cannot allocate %ld bytes", size);
      }
      if (s == status::ok && (std::fseek(f, 0, SEEK_SET) != 0 ||
                              std::fread(buf.data(), 1, buf.size(), f) != buf.size()))
        s = fail(status::io_error, "load: reading '%s' failed", path);
    }
  }
  std::fclose(f);
  if (s != status::ok) return detail::with_context(s, path);
  s = deserialize(buf.data(), buf.size(), out);
  return detail::with_context(s, path);
}

}  // namespace ternary
