#pragma once
// Base64 (RFC 4648), by OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock: the
// one place that turns bytes into base64 text and back, for the JetStream
// API's message fields, nkey signatures, Object Store names and digests.
#include <optional>
#include <string>
#include <string_view>

namespace fjord::base64 {

// The standard alphabet, or (url) the URL one (`-` and `_` for `+` and `/`);
// with or without `=` padding.
std::string Encode(std::string_view in, bool url = false, bool pad = true);

// Either alphabet (not mixed), padded or not; nullopt when `in` is not
// base64 of whole bytes.
std::optional<std::string> Decode(std::string_view in);

}  // namespace fjord::base64
