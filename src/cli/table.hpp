// SPDX-License-Identifier: Apache-2.0
// A plain-text table for terminal reports: columns sized to their widest cell (UTF-8 aware),
// left- or right-aligned, with a rule under the header and optional rules between row groups.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <fmt/core.h>

namespace ternary {
namespace cli {

class text_table {
 public:
  enum class align { left, right };

  struct column {
    std::string title;
    align alignment = align::left;
  };

  explicit text_table(std::vector<column> columns) : columns_(std::move(columns)) {}

  /// Appends a row; missing trailing cells print empty, extra cells are ignored.
  void add_row(std::vector<std::string> cells) { rows_.push_back({std::move(cells), false}); }

  /// Appends a horizontal rule (e.g. between groups of rows).
  void add_rule() { rows_.push_back({{}, true}); }

  /// Writes the table to `out`, each line prefixed by `indent`.
  void print(std::FILE* out, const std::string& indent = "") const {
    std::vector<size_t> widths(columns_.size(), 0);
    for (size_t c = 0; c < columns_.size(); ++c) widths[c] = display_width(columns_[c].title);
    for (const auto& r : rows_) {
      for (size_t c = 0; c < columns_.size() && c < r.cells.size(); ++c) {
        widths[c] = std::max(widths[c], display_width(r.cells[c]));
      }
    }
    size_t total = 0;
    for (size_t c = 0; c < widths.size(); ++c) total += widths[c] + (c == 0 ? 0 : gap);
    const std::string rule(total, '-');

    std::vector<std::string> titles;
    titles.reserve(columns_.size());
    for (const auto& col : columns_) titles.push_back(col.title);
    fmt::print(out, "{}{}\n", indent, format_line(titles, widths));
    fmt::print(out, "{}{}\n", indent, rule);
    for (const auto& r : rows_) {
      fmt::print(out, "{}{}\n", indent, r.is_rule ? rule : format_line(r.cells, widths));
    }
  }

  /// Number of terminal columns of a UTF-8 string (code points; no wide characters expected).
  static size_t display_width(const std::string& s) {
    size_t n = 0;
    for (const char ch : s) n += (static_cast<unsigned char>(ch) & 0xc0u) != 0x80u ? 1 : 0;
    return n;
  }

 private:
  static constexpr size_t gap = 2;

  struct row {
    std::vector<std::string> cells;
    bool is_rule = false;
  };

  std::string format_line(const std::vector<std::string>& cells,
                          const std::vector<size_t>& widths) const {
    std::string line;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : std::string();
      const std::string pad(widths[c] - display_width(cell), ' ');
      if (c > 0) line.append(gap, ' ');
      if (columns_[c].alignment == align::right) {
        line += pad + cell;
      } else {
        line += cell;
        if (c + 1 < columns_.size()) line += pad;  // no trailing blanks
      }
    }
    return line;
  }

  std::vector<column> columns_;
  std::vector<row> rows_;
};

}  // namespace cli
}  // namespace ternary
