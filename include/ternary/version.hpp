// SPDX-License-Identifier: Apache-2.0
// Single source of the library version; CMake parses these three lines.
#pragma once

#define TERNARY_VERSION_MAJOR 0
#define TERNARY_VERSION_MINOR 1
#define TERNARY_VERSION_PATCH 0

#define TERNARY_VERSION_STRING_(a, b, c) #a "." #b "." #c
#define TERNARY_VERSION_STRING_X(a, b, c) TERNARY_VERSION_STRING_(a, b, c)
/// "MAJOR.MINOR.PATCH"
#define TERNARY_VERSION_STRING \
  TERNARY_VERSION_STRING_X(TERNARY_VERSION_MAJOR, TERNARY_VERSION_MINOR, TERNARY_VERSION_PATCH)
