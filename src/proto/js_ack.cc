#include "proto/js_ack.h"

#include <charconv>

namespace fjord::proto {
namespace {

template <typename T>
bool Number(std::string_view s, T* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();  // an empty token is invalid_argument
}

}  // namespace

std::optional<JsAck> ParseJsAck(std::string_view subject) {
  constexpr size_t kMaxTokens = 12;
  std::string_view t[kMaxTokens];
  size_t n = 0;
  for (size_t start = 0;;) {
    if (n == kMaxTokens) return std::nullopt;
    size_t dot = subject.find('.', start);
    t[n++] = subject.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  size_t base = n == 9 ? 2 : (n == 11 || n == 12) ? 4 : 0;
  if (base == 0 || t[0] != "$JS" || t[1] != "ACK") return std::nullopt;
  JsAck a;
  a.stream = t[base];
  a.consumer = t[base + 1];
  if (!Number(t[base + 2], &a.delivered) || !Number(t[base + 3], &a.stream_seq) ||
      !Number(t[base + 4], &a.consumer_seq) || !Number(t[base + 5], &a.ts) || !Number(t[base + 6], &a.pending))
    return std::nullopt;
  return a;
}

}  // namespace fjord::proto
