#include "cli/table.h"

#include <algorithm>

namespace fjord::cli {

size_t DisplayWidth(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) w++;
  }
  return w;
}

namespace {

std::string Repeat(const std::string& piece, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i++) out += piece;
  return out;
}

std::string Pad(const std::string& s, size_t width) {
  size_t w = DisplayWidth(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

}  // namespace

void Table::Print(std::ostream& out) const {
  size_t ncols = header_.size();
  for (const auto& r : rows_) ncols = std::max(ncols, r.size());
  std::vector<size_t> widths(ncols, 0);
  auto measure = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); i++) widths[i] = std::max(widths[i], DisplayWidth(cells[i]));
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  size_t inner = 0;
  for (size_t w : widths) inner += w + 3;
  if (inner > 0) inner -= 1;
  if (!title_.empty() && DisplayWidth(title_) + 2 > inner) {
    widths.back() += DisplayWidth(title_) + 2 - inner;
    inner = DisplayWidth(title_) + 2;
  }
  auto rule = [&](const char* left, const char* mid, const char* right) {
    out << left;
    for (size_t i = 0; i < ncols; i++) {
      out << Repeat("─", widths[i] + 2) << (i + 1 < ncols ? mid : right);
    }
    out << "\n";
  };
  auto line = [&](const std::vector<std::string>& cells) {
    out << "│";
    for (size_t i = 0; i < ncols; i++) {
      out << " " << Pad(i < cells.size() ? cells[i] : "", widths[i]) << " │";
    }
    out << "\n";
  };
  if (!title_.empty()) {
    out << "╭" << Repeat("─", inner) << "╮\n";
    size_t tw = DisplayWidth(title_);
    size_t left = (inner - tw) / 2;
    out << "│" << std::string(left, ' ') << title_ << std::string(inner - tw - left, ' ') << "│\n";
    rule("├", "┬", "┤");
  } else {
    rule("╭", "┬", "╮");
  }
  if (!header_.empty()) {
    line(header_);
    rule("├", "┼", "┤");
  }
  for (const auto& r : rows_) line(r);
  rule("╰", "┴", "╯");
}

void KeyValues::Print(std::ostream& out) const {
  size_t width = 0;
  for (const auto& [k, v] : items_) {
    if (v != "\x01") width = std::max(width, DisplayWidth(k));
  }
  for (const auto& [k, v] : items_) {
    if (k.empty()) {
      out << "\n";
    } else if (v == "\x01") {
      out << k << "\n\n";
    } else {
      out << std::string(width - DisplayWidth(k) + 2, ' ') << k << ": " << v << "\n";
    }
  }
}

}  // namespace fjord::cli
