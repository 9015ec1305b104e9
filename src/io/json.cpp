// SPDX-License-Identifier: Apache-2.0
#include "io/json.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace ternary {
namespace io {
namespace detail {

const json_node* json_node::find(const std::string& key) const noexcept {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

const char* json_kind_name(json_node::kind k) noexcept {
  switch (k) {
    case json_node::kind::null: return "null";
    case json_node::kind::boolean: return "a boolean";
    case json_node::kind::integer: return "a negative integer";
    case json_node::kind::unsigned_integer: return "an integer";
    case json_node::kind::floating: return "a non-integer number";
    case json_node::kind::string: return "a string";
    case json_node::kind::array: return "an array";
    case json_node::kind::object: return "an object";
  }
  return "?";
}

namespace {

using json = nlohmann::json;

// Builds a json_node tree. Open containers are the last element of their parent, and a parent
// gains no element while a child is open, so the pointers on the stack stay valid.
class tree_builder {
 public:
  tree_builder(json_node* root, int max_depth, std::string* error)
      : root_(root), max_depth_(max_depth), error_(error) {}

  bool null() { return leaf(json_node{}); }
  bool boolean(bool v) {
    json_node n;
    n.k = json_node::kind::boolean;
    n.b = v;
    return leaf(std::move(n));
  }
  bool number_integer(json::number_integer_t v) {
    json_node n;
    if (v >= 0) {
      n.k = json_node::kind::unsigned_integer;
      n.u = static_cast<uint64_t>(v);
    } else {
      n.k = json_node::kind::integer;
      n.i = v;
    }
    return leaf(std::move(n));
  }
  bool number_unsigned(json::number_unsigned_t v) {
    json_node n;
    n.k = json_node::kind::unsigned_integer;
    n.u = v;
    return leaf(std::move(n));
  }
  bool number_float(json::number_float_t v, const json::string_t&) {
    json_node n;
    n.k = json_node::kind::floating;
    n.d = v;
    return leaf(std::move(n));
  }
  bool string(json::string_t& v) {
    json_node n;
    n.k = json_node::kind::string;
    n.s = std::move(v);
    return leaf(std::move(n));
  }
  bool binary(json::binary_t&) {
    *error_ = "binary values are not JSON";
    return false;
  }
  bool start_object(std::size_t) { return open(json_node::kind::object); }
  bool key(json::string_t& k) {
    key_ = std::move(k);
    return true;
  }
  bool end_object() {
    json_node* obj = stack_.back();
    stack_.pop_back();
    const auto& m = obj->members;
    if (m.size() > 1) {
      std::vector<const std::string*> keys;
      keys.reserve(m.size());
      for (const auto& e : m) keys.push_back(&e.first);
      std::sort(keys.begin(), keys.end(),
                [](const std::string* a, const std::string* b) { return *a < *b; });
      for (size_t i = 1; i < keys.size(); ++i) {
        if (*keys[i] == *keys[i - 1]) {
          *error_ = "duplicate key '" + *keys[i] + "'";
          return false;
        }
      }
    }
    return true;
  }
  bool start_array(std::size_t) { return open(json_node::kind::array); }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "invalid JSON at byte %zu: ", position);
    *error_ = buf;
    *error_ += e.what();
    return false;
  }

 private:
  // Places a new node where the grammar says (the root, an array element or an object member).
  json_node* place(json_node&& n) {
    if (stack_.empty()) {
      *root_ = std::move(n);
      return root_;
    }
    json_node* parent = stack_.back();
    if (parent->k == json_node::kind::array) {
      parent->items.push_back(std::move(n));
      return &parent->items.back();
    }
    parent->members.emplace_back(std::move(key_), std::move(n));
    return &parent->members.back().second;
  }
  bool leaf(json_node&& n) {
    place(std::move(n));
    return true;
  }
  bool open(json_node::kind k) {
    if (static_cast<int>(stack_.size()) >= max_depth_) {
      *error_ = "JSON nested deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    json_node n;
    n.k = k;
    stack_.push_back(place(std::move(n)));
    return true;
  }

  json_node* root_;
  int max_depth_;
  std::string* error_;
  std::vector<json_node*> stack_;
  std::string key_;
};

}  // namespace

bool parse_json(const char* data, size_t size, int max_depth, json_node* out, std::string* error) {
  *out = json_node{};
  error->clear();
  tree_builder b(out, max_depth, error);
  bool ok = false;
  try {
    ok = json::sax_parse(data, data + size, &b, json::input_format_t::json, true);
  } catch (const nlohmann::json::exception& e) {
    *error = e.what();
    ok = false;
  }
  if (!ok && error->empty()) *error = "invalid JSON";
  return ok;
}

}  // namespace detail
}  // namespace io
}  // namespace ternary
