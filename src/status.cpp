// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "detail/error.hpp"

#include "ternary/ternary.hpp"

namespace ternary {
namespace {
constexpr size_t message_capacity = 1024;
thread_local char error_message[message_capacity] = "";
}  // namespace

const char* status_name(status s) noexcept {
  switch (s) {
    case status::ok: return "ok";
    case status::invalid_argument: return "invalid_argument";
    case status::null_pointer: return "null_pointer";
    case status::size_overflow: return "size_overflow";
    case status::buffer_too_small: return "buffer_too_small";
    case status::invalid_scale: return "invalid_scale";
    case status::invalid_trit: return "invalid_trit";
    case status::format_mismatch: return "format_mismatch";
    case status::unsupported: return "unsupported";
    case status::no_cuda: return "no_cuda";
    case status::corrupt_data: return "corrupt_data";
    case status::io_error: return "io_error";
    case status::out_of_memory: return "out_of_memory";
    case status::internal_error: return "internal_error";
  }
  return "unknown_status";
}

const char* last_error_message() noexcept { return error_message; }

const char* version_string() noexcept { return TERNARY_VERSION_STRING; }

namespace detail {

status fail(status s, const char* fmt, ...) noexcept {
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(error_message, message_capacity, fmt, args);
  va_end(args);
  return s;
}

status with_context(status s, const char* context) noexcept {
  if (s == status::ok || !context) return s;
  // Shift the message right to make room for "context: ", dropping what no longer fits.
  const size_t prefix = std::strlen(context) + 2;
  if (prefix >= message_capacity) return s;
  const size_t keep = std::min(std::strlen(error_message), message_capacity - 1 - prefix);
  std::memmove(error_message + prefix, error_message, keep);
  error_message[prefix + keep] = '\0';
  std::memcpy(error_message, context, prefix - 2);
  error_message[prefix - 2] = ':';
  error_message[prefix - 1] = ' ';
  return s;
}

}  // namespace detail
}  // namespace ternary
