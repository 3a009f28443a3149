#include "proto/headers.h"

namespace fjord::proto {

std::string_view GetHeader(std::string_view hdr, std::string_view key, bool* found) {
  if (found) *found = false;
  size_t pos = hdr.find("\r\n");
  if (pos == std::string_view::npos) return {};
  pos += 2;
  while (pos < hdr.size()) {
    size_t end = hdr.find("\r\n", pos);
    if (end == std::string_view::npos || end == pos) break;
    std::string_view line = hdr.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && line.substr(0, colon) == key) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      if (found) *found = true;
      return v;
    }
    pos = end + 2;
  }
  return {};
}

std::string AddHeaders(std::string_view hdr,
                       std::initializer_list<std::pair<std::string_view, std::string_view>> kv) {
  std::string out;
  if (hdr.size() >= 4 && hdr.substr(hdr.size() - 4) == "\r\n\r\n") {
    out.assign(hdr.substr(0, hdr.size() - 2));
  } else {
    out = "NATS/1.0\r\n";
  }
  for (const auto& [k, v] : kv) {
    out.append(k);
    out.append(": ");
    out.append(v);
    out.append("\r\n");
  }
  out.append("\r\n");
  return out;
}

namespace {
// `hdr` without the header lines (never the status line) `drop` matches.
template <typename Drop>
std::string FilterLines(std::string_view hdr, Drop drop) {
  std::string out;
  out.reserve(hdr.size());
  size_t pos = 0;
  while (pos < hdr.size()) {
    size_t eol = hdr.find("\r\n", pos);
    size_t end = eol == std::string_view::npos ? hdr.size() : eol + 2;
    std::string_view line = hdr.substr(pos, end - pos);
    if (pos == 0 || !drop(line)) out.append(line);
    pos = end;
  }
  return out;
}
}  // namespace

std::string RemoveHeader(std::string_view hdr, std::string_view key) {
  return FilterLines(hdr, [&](std::string_view line) {
    return line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':';
  });
}

std::string RemoveHeadersWithPrefix(std::string_view hdr, std::string_view prefix) {
  return FilterLines(hdr, [&](std::string_view line) {
    size_t colon = line.find(':');
    return colon != std::string_view::npos && line.substr(0, colon).starts_with(prefix);
  });
}

std::string StatusHeader(int code, std::string_view text, std::string_view extra) {
  std::string out = "NATS/1.0 " + std::to_string(code);
  if (!text.empty()) {
    out += ' ';
    out.append(text);
  }
  out += "\r\n";
  out.append(extra);
  out += "\r\n";
  return out;
}

}  // namespace fjord::proto
