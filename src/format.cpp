// SPDX-License-Identifier: Apache-2.0
#include "ternary/format/format.hpp"

namespace ternary {

const char* format_name(format f) noexcept {
  switch (f) {
    case format::bits2: return "bits2";
    case format::base3: return "base3";
    case format::sherry: return "sherry";
  }
  return "invalid_format";
}

const char* granularity_name(scale_granularity g) noexcept {
  switch (g) {
    case scale_granularity::per_tensor: return "per_tensor";
    case scale_granularity::per_row: return "per_row";
    case scale_granularity::per_group: return "per_group";
  }
  return "invalid_granularity";
}

const char* scale_type_name(scale_type t) noexcept {
  switch (t) {
    case scale_type::f32: return "f32";
    case scale_type::f16: return "f16";
  }
  return "invalid_scale_type";
}

}  // namespace ternary
