// SPDX-License-Identifier: Apache-2.0
// Recording error messages for last_error_message().
#pragma once

#include "ternary/config.hpp"
#include "ternary/status.hpp"

namespace ternary {
namespace detail {

// Exported from the shared library because ternary::quant and ternary::io report through it too.

/// Formats a message (printf-style) into the calling thread's error buffer and returns `s`.
TERNARY_API status fail(status s, const char* fmt, ...) noexcept
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/// Passes `s` through; when it is not ok, prefixes the thread's message with `context: `.
TERNARY_API status with_context(status s, const char* context) noexcept;

}  // namespace detail
}  // namespace ternary
