// SPDX-License-Identifier: Apache-2.0
#include "io/common.hpp"

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/stat.h>
#define TERNARY_IO_POSIX 1
#endif

#include "detail/error.hpp"

namespace ternary {
namespace io {
namespace detail {

using ternary::detail::fail;

void append_le(std::vector<uint8_t>* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

bool valid_utf8(const char* s, size_t n) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// ---- file_buffer --------------------------------------------------------------------------------

file_buffer::~file_buffer() { release(); }

void file_buffer::release() noexcept {
#if defined(TERNARY_IO_POSIX)
  if (map_) ::munmap(map_, map_size_);
#endif
  map_ = nullptr;
  map_size_ = 0;
  data_ = nullptr;
  size_ = 0;
  std::vector<uint8_t>().swap(owned_);
}

status file_buffer::copy(const void* data, size_t size) noexcept {
  release();
  if (!data && size != 0) return fail(status::null_pointer, "data is null");
  try {
    owned_.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + size);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "cannot allocate %zu bytes", size);
  }
  data_ = owned_.data();
  size_ = size;
  return status::ok;
}

status file_buffer::open(const char* path) noexcept {
  release();
  if (!path) return fail(status::null_pointer, "path is null");
#if defined(TERNARY_IO_POSIX)
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(status::io_error, "cannot open: %s", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return fail(status::io_error, "cannot stat: %s", std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(status::io_error, "not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > SIZE_MAX) {
    ::close(fd);
    return fail(status::io_error, "file of %lld bytes does not fit the address space",
                static_cast<long long>(st.st_size));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      ::close(fd);
      map_ = m;
      map_size_ = size;
      data_ = static_cast<const uint8_t*>(m);
      size_ = size;
      return status::ok;
    }
  }
  // No mapping (an empty file, or a file system without mmap): read the bytes.
  try {
    owned_.resize(size);
  } catch (const std::bad_alloc&) {
    ::close(fd);
    return fail(status::out_of_memory, "cannot allocate %zu bytes", size);
  }
  size_t done = 0;
  while (done < size) {
    const ssize_t r = ::read(fd, owned_.data() + done, size - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int e = r < 0 ? errno : 0;
      ::close(fd);
      std::vector<uint8_t>().swap(owned_);
      return fail(status::io_error, "read failed at byte %zu of %zu: %s", done, size,
                  e ? std::strerror(e) : "unexpected end of file");
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  data_ = owned_.data();
  size_ = size;
  return status::ok;
#else
  std::FILE* f = std::fopen(path, "rb");
  if (!f) return fail(status::io_error, "cannot open: %s", std::strerror(errno));
  status s = status::ok;
  long size = -1;
  if (std::fseek(f, 0, SEEK_END) == 0) size = std::ftell(f);
  if (size < 0 || std::fseek(f, 0, SEEK_SET) != 0) {
    s = fail(status::io_error, "cannot determine the file size");
  } else {
    try {
      owned_.resize(static_cast<size_t>(size));
    } catch (const std::bad_alloc&) {
      s = fail(status::out_of_memory, "cannot allocate %ld bytes", size);
    }
    if (s == status::ok && std::fread(owned_.data(), 1, owned_.size(), f) != owned_.size())
      s = fail(status::io_error, "read failed");
  }
  std::fclose(f);
  if (s != status::ok) {
    std::vector<uint8_t>().swap(owned_);
    return s;
  }
  data_ = owned_.data();
  size_ = owned_.size();
  return status::ok;
#endif
}

// ---- sinks --------------------------------------------------------------------------------------

status sink::fill(size_t count, uint8_t byte) noexcept {
  uint8_t buf[256];
  std::memset(buf, byte, sizeof buf);
  while (count > 0) {
    const size_t n = count < sizeof buf ? count : sizeof buf;
    const status s = put(buf, n);
    if (s != status::ok) return s;
    count -= n;
  }
  return status::ok;
}

status memory_sink::put(const void* data, size_t size) noexcept {
  if (size == 0) return status::ok;
  try {
    const auto* p = static_cast<const uint8_t*>(data);
    out_->insert(out_->end(), p, p + size);
  } catch (const std::bad_alloc&) {
    return fail(status::out_of_memory, "cannot grow the output to %zu bytes", out_->size() + size);
  } catch (const std::length_error&) {
    return fail(status::out_of_memory, "output too large");
  }
  return status::ok;
}

atomic_file_sink::~atomic_file_sink() { abort(); }

void atomic_file_sink::abort() noexcept {
  if (f_) {
    std::fclose(f_);
    f_ = nullptr;
  }
  if (!tmp_.empty()) {
    std::remove(tmp_.c_str());
    tmp_.clear();
  }
}

status atomic_file_sink::open(const char* path) noexcept {
  abort();
  if (!path) return fail(status::null_pointer, "path is null");
  if (!*path) return fail(status::invalid_argument, "path is empty");
  try {
    path_ = path;
    tmp_ = path_ + ".tmp.XXXXXX";
  } catch (const std::bad_alloc&) {
    tmp_.clear();
    return fail(status::out_of_memory, "out of memory");
  }
#if defined(TERNARY_IO_POSIX)
  const int fd = ::mkstemp(&tmp_[0]);
  if (fd < 0) {
    const int e = errno;
    tmp_.clear();
    return fail(status::io_error, "cannot create a temporary file next to '%s': %s", path,
                std::strerror(e));
  }
  f_ = ::fdopen(fd, "wb");
  if (!f_) {
    const int e = errno;
    ::close(fd);
    abort();
    return fail(status::io_error, "cannot open a temporary file next to '%s': %s", path,
                std::strerror(e));
  }
#else
  tmp_.resize(tmp_.size() - 6);
  tmp_ += "partial";
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) {
    const int e = errno;
    tmp_.clear();
    return fail(status::io_error, "cannot create a temporary file next to '%s': %s", path,
                std::strerror(e));
  }
#endif
  return status::ok;
}

status atomic_file_sink::put(const void* data, size_t size) noexcept {
  if (!f_) return fail(status::internal_error, "write to a closed file");
  if (size == 0) return status::ok;
  errno = 0;
  if (std::fwrite(data, 1, size, f_) != size) {
    const int e = errno;
    abort();
    return fail(status::io_error, "writing '%s' failed: %s", path_.c_str(),
                e ? std::strerror(e) : "short write");
  }
  return status::ok;
}

status atomic_file_sink::commit() noexcept {
  if (!f_) return fail(status::internal_error, "commit of a closed file");
  errno = 0;
  bool ok = std::fflush(f_) == 0;
#if defined(TERNARY_IO_POSIX)
  ok = ok && ::fsync(::fileno(f_)) == 0;
#endif
  int e = errno;
  const bool closed = std::fclose(f_) == 0;
  f_ = nullptr;
  if (ok && !closed) e = errno;
  if (!ok || !closed) {
    abort();
    return fail(status::io_error, "writing '%s' failed: %s", path_.c_str(),
                e ? std::strerror(e) : "flush failed");
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    e = errno;
    abort();
    return fail(status::io_error, "cannot move the finished file to '%s': %s", path_.c_str(),
                std::strerror(e));
  }
  tmp_.clear();
  return status::ok;
}

}  // namespace detail
}  // namespace io
}  // namespace ternary
