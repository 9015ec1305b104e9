// SPDX-License-Identifier: Apache-2.0
// A small JSON document tree built with nlohmann-json's SAX parser. Unlike nlohmann's own DOM it
// keeps every member of an object in file order, so duplicate keys can be reported instead of
// silently overwritten, and integers keep their exact signed/unsigned value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ternary {
namespace io {
namespace detail {

struct json_node {
  enum class kind { null, boolean, integer, unsigned_integer, floating, string, array, object };
  kind k = kind::null;
  bool b = false;
  int64_t i = 0;   // kind::integer (a negative number)
  uint64_t u = 0;  // kind::unsigned_integer
  double d = 0.0;  // kind::floating
  std::string s;
  std::vector<json_node> items;                            // kind::array
  std::vector<std::pair<std::string, json_node>> members;  // kind::object, file order

  /// Member by key, or null.
  const json_node* find(const std::string& key) const noexcept;
};

/// Parses `size` bytes as one JSON value (surrounding whitespace allowed). On failure returns
/// false with a message in *error (byte position included). Objects with duplicate keys are
/// rejected. `max_depth` bounds the nesting. May throw std::bad_alloc.
bool parse_json(const char* data, size_t size, int max_depth, json_node* out, std::string* error);

/// Name of a node kind with its article ("a string", "an array", ...).
const char* json_kind_name(json_node::kind k) noexcept;

}  // namespace detail
}  // namespace io
}  // namespace ternary
