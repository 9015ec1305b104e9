// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the fuzz targets: a check that aborts with a message (libFuzzer reports the
// abort as a crash and saves the input; the replay tests fail on it), and the rule that every
// failing call leaves a message.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ternary/status.hpp"

/// Aborts with the condition, file and line when `cond` is false.
#define FUZZ_REQUIRE(cond)                                                                   \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "last error message: %s\n", ternary::last_error_message());       \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace fuzz {

/// A failed call must say why: a known status other than internal_error (which reports a bug of
/// the library), and a non-empty message.
inline void require_reported(ternary::status s) {
  FUZZ_REQUIRE(s != ternary::status::ok);
  FUZZ_REQUIRE(s != ternary::status::internal_error);
  FUZZ_REQUIRE(std::strcmp(ternary::status_name(s), "unknown_status") != 0);
  const char* msg = ternary::last_error_message();
  FUZZ_REQUIRE(msg != nullptr && msg[0] != '\0');
}

/// `s` is ok, or a failure with a message; returns whether it was ok.
inline bool ok_or_reported(ternary::status s) {
  if (s == ternary::status::ok) return true;
  require_reported(s);
  return false;
}

/// Bitwise float equality, with every NaN equal to every NaN.
inline bool same_float(float a, float b) {
  if (a != a && b != b) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace fuzz
