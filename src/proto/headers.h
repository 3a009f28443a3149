#pragma once
// Reading and writing NATS header blocks ("NATS/1.0\r\nKey: v\r\n\r\n").
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace fjord::proto {

// The value of the first header named exactly `key`; empty when absent.
// `found` (optional) tells absent from empty.
std::string_view GetHeader(std::string_view hdr, std::string_view key, bool* found = nullptr);

// Appends "Key: value\r\n" lines before the final blank line of `hdr`,
// creating a block when `hdr` is empty.
std::string AddHeaders(std::string_view hdr,
                       std::initializer_list<std::pair<std::string_view, std::string_view>> kv);

// `hdr` without any "Key: …" line of that exact key (the status line and
// other lines as they were).
std::string RemoveHeader(std::string_view hdr, std::string_view key);
// `hdr` without the lines whose key starts with `prefix`.
std::string RemoveHeadersWithPrefix(std::string_view hdr, std::string_view prefix);

// A header-only status message: "NATS/1.0 <code> <text>\r\n[extra]\r\n".
std::string StatusHeader(int code, std::string_view text, std::string_view extra = {});

}  // namespace fjord::proto
