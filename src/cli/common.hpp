// SPDX-License-Identifier: Apache-2.0
// Shared plumbing of the `ternary` subcommands: exit codes, error reporting, option validators.
//
// Convention: a subcommand's callback returns normally on success; on failure it prints its own
// message (report_error) and throws CLI::RuntimeError(exit_code), which main() turns into the
// process exit code without printing anything more.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "ternary/status.hpp"

namespace ternary {
namespace cli {

/// Process exit codes of every subcommand.
constexpr int exit_ok = 0;
constexpr int exit_failure = 1;  ///< a runtime failure (library error, failed check, I/O)
constexpr int exit_usage = 2;    ///< bad command line

/// Prints "ternary: error: <message>" to stderr.
inline void report_error(const std::string& message) {
  fmt::print(stderr, "ternary: error: {}\n", message);
}

/// Reports the library's last error message when `s` is not ok; returns whether it was ok.
inline bool check(status s) {
  if (s == status::ok) return true;
  const char* msg = last_error_message();
  report_error(msg != nullptr && msg[0] != '\0' ? std::string(msg) : status_name(s));
  return false;
}

/// Ends the running subcommand with `code` (the message has already been printed).
[[noreturn]] inline void exit_with(int code) { throw CLI::RuntimeError(code); }

/// Like check(), but ends the subcommand with exit_failure on error.
inline void check_or_exit(status s) {
  if (!check(s)) exit_with(exit_failure);
}

namespace detail {

/// Parses a whole decimal integer; returns false on junk, overflow or an empty string.
inline bool parse_int64(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str() || *end != '\0') return false;
  *out = static_cast<int64_t>(v);
  return true;
}

}  // namespace detail

/// No upper bound for integer_in().
constexpr int64_t no_limit = std::numeric_limits<int64_t>::max();

/// Integer option validator: a whole number in [min_value, max_value] that is a multiple of
/// `multiple_of`.
inline CLI::Validator integer_in(int64_t min_value, int64_t max_value = no_limit,
                                 int64_t multiple_of = 1) {
  std::string desc = min_value == 1   ? "INT>0"
                     : min_value == 0 ? "INT>=0"
                                      : fmt::format("INT>={}", min_value);
  if (max_value != no_limit) desc = fmt::format("INT in [{}, {}]", min_value, max_value);
  if (multiple_of > 1) desc = fmt::format("{} (multiple of {})", desc, multiple_of);
  return CLI::Validator(
      [min_value, max_value, multiple_of](std::string& text) -> std::string {
        int64_t v = 0;
        if (!detail::parse_int64(text, &v)) {
          return fmt::format("expected an integer, got '{}'", text);
        }
        if (v < min_value) {
          return min_value == 1 ? fmt::format("must be positive, got {}", v)
                                : fmt::format("must be at least {}, got {}", min_value, v);
        }
        if (v > max_value) return fmt::format("must be at most {}, got {}", max_value, v);
        if (multiple_of > 1 && v % multiple_of != 0) {
          return fmt::format("must be a multiple of {}, got {}", multiple_of, v);
        }
        return std::string();
      },
      desc);
}

}  // namespace cli
}  // namespace ternary
