#pragma once
// The server side of the WebSocket opening handshake (RFC 6455 §4.2): reads
// the client's HTTP/1.1 upgrade request and answers it with 101 Switching
// Protocols or an HTTP error, checking what nats-server checks (method,
// Host, Upgrade, Connection, key, version, Origin) and negotiating
// permessage-deflate (RFC 7692) without context takeover either way.
//
// Pure functions over bytes: the connection (server/client.cc) reads and
// writes, this decides.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fjord::websocket {

// An origin as the Origin header and `allowed_origins` name it: scheme,
// lower-cased host, and port (80/443 when the URL has none).
struct Origin {
  std::string scheme;
  std::string host;
  std::string port;
};

// Parses "http(s)://host[:port][/path]" as nats-server's allowed_origins
// check does. Returns why not, or nullopt with *out set.
std::optional<std::string> ParseOrigin(std::string_view url, Origin* out);

struct HandshakeOptions {
  bool compression = false;  // permessage-deflate offered to clients that ask
  bool tls = false;          // the listener speaks TLS (same_origin's scheme)
  bool same_origin = false;  // Origin must be the request's own host
  std::vector<Origin> allowed_origins;  // empty: any origin
  // Names of cookies whose values stand in for CONNECT's fields.
  std::string jwt_cookie, user_cookie, pass_cookie, token_cookie;
  // Extra response headers (`websocket { headers { } }`).
  std::vector<std::pair<std::string, std::string>> headers;
};

// What an accepted upgrade agreed on.
struct Upgrade {
  bool compress = false;    // permessage-deflate, no context takeover
  bool no_masking = false;  // "Nats-No-Masking: true": client frames unmasked
  bool browser = false;     // User-Agent "Mozilla/...": frames of at most 4 KiB
  bool no_compressed_fragments = false;  // Safari cannot take them
  std::string cookie_jwt, cookie_user, cookie_pass, cookie_token;
  std::string forwarded_for;  // X-Forwarded-For, when it is an IP address
};

// The request head may be at most this long.
inline constexpr size_t kMaxRequestHead = 16 * 1024;

struct HandshakeResult {
  enum class State { kIncomplete, kAccepted, kRejected } state = State::kIncomplete;
  size_t used = 0;        // bytes of the request head (kAccepted/kRejected)
  std::string response;   // to write: 101, or the HTTP error
  std::string error;      // kRejected: why, for the log (nats-server's words)
  Upgrade upgrade;        // kAccepted
};

// Looks at the bytes received so far. kIncomplete until the head's blank
// line arrives (kRejected past kMaxRequestHead).
HandshakeResult ProcessRequest(std::string_view data, const HandshakeOptions& opts);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string AcceptKey(std::string_view key);

}  // namespace fjord::websocket
