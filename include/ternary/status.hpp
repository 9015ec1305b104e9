// SPDX-License-Identifier: Apache-2.0
/// \file
/// Error reporting. No exception crosses the public API: every fallible entry point is
/// `noexcept` and returns a `ternary::status`. On failure the call also records a message that
/// names the problem (argument, sizes, row, offset), readable with `last_error_message()` on the
/// same thread until the next failing call on that thread.
#pragma once

#include "ternary/config.hpp"

namespace ternary {

enum class status : int {
  ok = 0,
  invalid_argument,  ///< a value out of its domain (zero or negative size, bad enum, bad group)
  null_pointer,      ///< a required pointer was null
  size_overflow,     ///< dimensions whose byte size does not fit the index types
  buffer_too_small,  ///< a caller buffer or leading dimension is smaller than the shape needs
  invalid_scale,     ///< a NaN or infinite scale, bias or activation scale
  invalid_trit,      ///< a trit outside {-1,0,+1}, or a pattern the format cannot store
  format_mismatch,   ///< the operands disagree on format, shape or layout
  unsupported,       ///< a valid request this build or CPU cannot run (e.g. a forced ISA)
  no_cuda,           ///< a CUDA backend was requested from a build without CUDA
  corrupt_data,      ///< a container or imported file failed validation
  io_error,          ///< the operating system refused a read or write
  out_of_memory,     ///< an allocation failed
  internal_error,    ///< a bug in the library; please report it with the message
};

/// Short stable name of a status code ("ok", "invalid_argument", ...).
TERNARY_API const char* status_name(status s) noexcept;

/// Message of the last failed call on this thread ("" when none failed yet). The pointer stays
/// valid until the next ternary call on the same thread.
TERNARY_API const char* last_error_message() noexcept;

}  // namespace ternary
