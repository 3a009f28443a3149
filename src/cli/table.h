#pragma once
// A small table printer in the rounded box style of the nats CLI:
//
//   ╭──────────────────────╮
//   │        Title         │
//   ├────────┬─────────────┤
//   │ Name   │ Messages    │
//   ├────────┼─────────────┤
//   │ ORDERS │ 3           │
//   ╰────────┴─────────────╯
#include <ostream>
#include <string>
#include <vector>

namespace fjord::cli {

class Table {
 public:
  explicit Table(std::string title = "") : title_(std::move(title)) {}
  void Header(std::vector<std::string> cols) { header_ = std::move(cols); }
  void Row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool Empty() const { return rows_.empty(); }
  void Print(std::ostream& out) const;

 private:
  std::string title_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Prints "label: value" lines with the labels right-aligned, as `nats stream
// info` does; an empty label prints a blank line, a label ending in ':' with
// an empty value prints a section heading.
class KeyValues {
 public:
  void Add(std::string label, std::string value) { items_.push_back({std::move(label), std::move(value)}); }
  void Blank() { items_.push_back({"", ""}); }
  void Section(std::string heading) { items_.push_back({std::move(heading), "\x01"}); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Display width of UTF-8 text (one column per code point).
size_t DisplayWidth(const std::string& s);

}  // namespace fjord::cli
