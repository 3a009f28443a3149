#pragma once
// Internal to fjord_proto: the pieces the client parser (parser.cc) and the
// route parser (route_parser.cc) share. Not part of the library's API.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "proto/parser.h"

namespace fjord::proto::detail {

inline bool IsSpace(char c) { return c == ' ' || c == '\t'; }

inline char Upper(char c) { return (c >= 'a' && c <= 'z') ? char(c - 32) : c; }

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Splits `line` into at most `max` whitespace-separated fields; returns the
// count, or max+1 if there were more.
inline int Split(std::string_view line, std::string_view* out, int max) {
  int n = 0;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    if (i >= line.size()) break;
    size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    if (n == max) return max + 1;
    out[n++] = line.substr(start, i - start);
  }
  return n;
}

// The number of whitespace-separated fields in `s`.
inline size_t CountFields(std::string_view s) {
  size_t n = 0;
  bool in_field = false;
  for (char c : s) {
    bool sp = IsSpace(c);
    if (!sp && !in_field) ++n;
    in_field = !sp;
  }
  return n;
}

// The first field of `s` at or after *pos; *pos moves past it. Empty at the end.
inline std::string_view TakeField(std::string_view s, size_t* pos) {
  size_t i = *pos;
  while (i < s.size() && IsSpace(s[i])) ++i;
  size_t start = i;
  while (i < s.size() && !IsSpace(s[i])) ++i;
  *pos = i;
  return s.substr(start, i - start);
}

// The last field of `s` before *end; *end moves to its start. Empty at the start.
inline std::string_view TakeLastField(std::string_view s, size_t* end) {
  size_t i = *end;
  while (i > 0 && IsSpace(s[i - 1])) --i;
  size_t stop = i;
  while (i > 0 && !IsSpace(s[i - 1])) --i;
  *end = i;
  return s.substr(i, stop - i);
}

// Non-negative decimal; -1 on anything else or overflow past int64.
inline int64_t ParseSize(std::string_view s) {
  if (s.empty() || s.size() > 18) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// True if `op` is `name` (upper case), ignoring the case of `op`.
inline bool OpIs(std::string_view op, const char* name) {
  size_t n = std::strlen(name);
  if (op.size() != n) return false;
  for (size_t i = 0; i < n; ++i)
    if (Upper(op[i]) != name[i]) return false;
  return true;
}

struct ControlLine {
  std::string_view op;    // the operation name as sent
  std::string_view args;  // the rest of the line, without surrounding blanks
  size_t total = 0;       // bytes of the line including its '\n'
};

// Frames the control line at the start of [data, data+size). kUnknownOp if
// the op name is longer than `max_op` (decided without waiting for the line
// end), kControlLine if the bytes after the op exceed the limit, kIncomplete
// if the line has no '\n' yet.
inline Status ReadControlLine(const char* data, size_t size, size_t max_op, const Limits& limits,
                              ControlLine* out) {
  size_t op_len = 0;
  while (op_len < size && !IsSpace(data[op_len]) && data[op_len] != '\r' && data[op_len] != '\n')
    ++op_len;
  if (op_len > max_op) return Status::kUnknownOp;
  // The control-line limit applies to the raw bytes after the op, and is
  // checked the same way whether or not the line is complete yet, so the
  // outcome never depends on how the bytes were split across reads.
  const char* nl = static_cast<const char*>(std::memchr(data + op_len, '\n', size - op_len));
  if (!nl) {
    size_t rest = size - op_len;
    if (rest > 0 && data[size - 1] == '\r') --rest;
    return rest > limits.max_control_line ? Status::kControlLine : Status::kIncomplete;
  }
  size_t line_len = size_t(nl - data);
  std::string_view line(data, line_len);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() - std::min(line.size(), op_len) > limits.max_control_line)
    return Status::kControlLine;
  out->op = line.substr(0, op_len);
  out->args = Trim(line.substr(std::min(line.size(), op_len)));
  out->total = line_len + 1;
  return Status::kOk;
}

// The payload: `len` bytes at data+offset, which must be followed by CRLF (a
// bare LF is tolerated); anything else there is `bad_end`.
inline Status TakePayload(const char* data, size_t size, size_t offset, size_t len, Status bad_end,
                          std::string_view* payload, size_t* consumed) {
  size_t need = offset + len + 2;
  if (size < need) return Status::kIncomplete;
  const char* p = data + offset;
  if (p[len] == '\r') {
    if (p[len + 1] != '\n') return bad_end;
    *consumed = need;
  } else if (p[len] == '\n') {
    *consumed = need - 1;
  } else {
    return bad_end;
  }
  *payload = std::string_view(p, len);
  return Status::kOk;
}

}  // namespace fjord::proto::detail
