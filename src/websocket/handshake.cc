#include "websocket/handshake.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

#include "base/base64.h"
#include "base/net.h"

namespace fjord::websocket {
namespace {

// RFC 6455 §1.3.
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualFold(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

struct Request {
  std::string method;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-cased name, value

  // The first value of a header ("" if absent).
  std::string_view Get(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return {};
  }
  // Whether any value of `name`, split at commas, has the token `value`
  // (case-insensitive), as nats-server's wsHeaderContains.
  bool Contains(std::string_view name, std::string_view value) const {
    for (const auto& [n, v] : headers) {
      if (n != name) continue;
      std::string_view rest = v;
      while (true) {
        auto comma = rest.find(',');
        if (EqualFold(Trim(rest.substr(0, comma)), value)) return true;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    return false;
  }
};

// Parses the head (without the blank line). False if it is not HTTP/1.x.
bool ParseHead(std::string_view head, Request* r) {
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  if (line.substr(sp2 + 1).substr(0, 7) != "HTTP/1.") return false;
  r->method = std::string(line.substr(0, sp1));
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string_view h = head.substr(0, eol);
    if (h.empty()) continue;
    auto colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    r->headers.emplace_back(Lower(h.substr(0, colon)), std::string(Trim(h.substr(colon + 1))));
  }
  return true;
}

// host[:port] with the scheme's default port, as nats-server's
// wsGetHostAndPort. False if the port is malformed.
bool HostAndPort(bool tls, std::string_view hostport, std::string* host, std::string* port) {
  std::string h, p;
  if (base::SplitHostPort(std::string(hostport), &h, &p)) {
    if (p.empty() || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  } else {
    h = std::string(hostport);
    if (!h.empty() && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (h.find(':') != std::string::npos && h.find('.') != std::string::npos) return false;
    p = tls ? "443" : "80";
  }
  *host = Lower(h);
  *port = p;
  return true;
}

std::string HttpError(int status, std::string_view text, std::string_view reason) {
  std::string body = std::string(text) + ": " + std::string(reason) + "\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(text) +
         "\r\nSec-WebSocket-Version: 13\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

std::optional<std::string> CheckOrigin(const Request& r, const HandshakeOptions& o) {
  if (!o.same_origin && o.allowed_origins.empty()) return std::nullopt;
  std::string_view origin = r.Get("origin");
  if (origin.empty()) origin = r.Get("sec-websocket-origin");
  // Not a browser: the origin model does not apply (RFC 6455 §1.6).
  if (origin.empty()) return std::nullopt;
  Origin got;
  if (auto err = ParseOrigin(origin, &got)) return err;
  if (o.same_origin) {
    std::string rh, rp;
    if (!HostAndPort(o.tls, r.Get("host"), &rh, &rp)) return "invalid Host";
    if (got.host != rh || got.port != rp || !EqualFold(got.scheme, o.tls ? "https" : "http")) {
      return "not same origin";
    }
  }
  if (!o.allowed_origins.empty()) {
    bool ok = std::any_of(o.allowed_origins.begin(), o.allowed_origins.end(), [&](const Origin& a) {
      return a.host == got.host && a.scheme == got.scheme && a.port == got.port;
    });
    if (!ok) return "not in the allowed list";
  }
  return std::nullopt;
}

// Whether Sec-WebSocket-Extensions offers permessage-deflate.
bool OffersDeflate(const Request& r) {
  for (const auto& [n, v] : r.headers) {
    if (n != "sec-websocket-extensions") continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      auto sep = rest.find_first_of(",;");
      if (EqualFold(Trim(rest.substr(0, sep)), "permessage-deflate")) return true;
      if (sep == std::string_view::npos) break;
      rest.remove_prefix(sep + 1);
    }
  }
  return false;
}

void ReadCookies(const Request& r, const HandshakeOptions& o, Upgrade* up) {
  for (const auto& [n, v] : r.headers) {
    if (n != "cookie") continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      auto semi = rest.find(';');
      std::string_view kv = Trim(rest.substr(0, semi));
      auto eq = kv.find('=');
      if (eq != std::string_view::npos) {
        std::string_view name = kv.substr(0, eq);
        std::string_view value = kv.substr(eq + 1);
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (!o.jwt_cookie.empty() && name == o.jwt_cookie) up->cookie_jwt = value;
        else if (!o.user_cookie.empty() && name == o.user_cookie) up->cookie_user = value;
        else if (!o.pass_cookie.empty() && name == o.pass_cookie) up->cookie_pass = value;
        else if (!o.token_cookie.empty() && name == o.token_cookie) up->cookie_token = value;
      }
      if (semi == std::string_view::npos) break;
      rest.remove_prefix(semi + 1);
    }
  }
}

bool LooksLikeIp(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdefABCDEF.:") == std::string_view::npos &&
         (std::count(s.begin(), s.end(), '.') == 3 || s.find(':') != std::string_view::npos);
}

}  // namespace

std::optional<std::string> ParseOrigin(std::string_view url, Origin* out) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return "parse \"" + std::string(url) + "\": invalid URI for request";
  }
  std::string scheme = Lower(url.substr(0, sep));
  if (!std::all_of(scheme.begin(), scheme.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'; })) {
    return "parse \"" + std::string(url) + "\": invalid scheme";
  }
  std::string_view rest = url.substr(sep + 3);
  std::string_view hostport = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = hostport.rfind('@'); at != std::string_view::npos) hostport.remove_prefix(at + 1);
  Origin o;
  o.scheme = scheme;
  if (!HostAndPort(scheme == "https", hostport, &o.host, &o.port)) {
    return "parse \"" + std::string(url) + "\": invalid port";
  }
  *out = std::move(o);
  return std::nullopt;
}

std::string AcceptKey(std::string_view key) {
  std::string in(key);
  in.append(kGuid);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha1(), nullptr);
  return base64::Encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

HandshakeResult ProcessRequest(std::string_view data, const HandshakeOptions& opts) {
  HandshakeResult res;
  auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > kMaxRequestHead) {
      res.state = HandshakeResult::State::kRejected;
      res.used = data.size();
      res.error = "request head too large";
      res.response = HttpError(431, "Request Header Fields Too Large", res.error);
    }
    return res;
  }
  res.used = end + 4;
  auto reject = [&](int status, std::string_view text, std::string reason) {
    res.state = HandshakeResult::State::kRejected;
    res.response = HttpError(status, text, reason);
    res.error = std::move(reason);
    return res;
  };
  if (end + 4 > kMaxRequestHead) return reject(431, "Request Header Fields Too Large", "request head too large");
  Request r;
  if (!ParseHead(data.substr(0, end + 2), &r)) return reject(400, "Bad Request", "malformed HTTP request");
  // RFC 6455 §4.2.1, in nats-server's order and words.
  if (r.method != "GET") return reject(405, "Method Not Allowed", "request method must be GET");
  if (r.Get("host").empty()) return reject(400, "Bad Request", "'Host' missing in request");
  if (!r.Contains("upgrade", "websocket")) return reject(400, "Bad Request", "invalid value for header 'Upgrade'");
  if (!r.Contains("connection", "Upgrade")) {
    return reject(400, "Bad Request", "invalid value for header 'Connection'");
  }
  std::string_view key = r.Get("sec-websocket-key");
  if (key.empty()) return reject(400, "Bad Request", "key missing");
  if (auto k = base64::Decode(key); !k || k->size() != 16) return reject(400, "Bad Request", "invalid websocket key");
  if (!r.Contains("sec-websocket-version", "13")) return reject(400, "Bad Request", "invalid version");
  if (auto err = CheckOrigin(r, opts)) return reject(403, "Forbidden", "origin not allowed: " + *err);

  Upgrade& up = res.upgrade;
  up.compress = opts.compression && OffersDeflate(r);
  up.no_masking = r.Get("nats-no-masking") == "true";
  std::string_view ua = r.Get("user-agent");
  if (ua.substr(0, 8) == "Mozilla/") {
    up.browser = true;
    // Chrome on macOS says "Safari/" too; only Safari also says "Version/".
    up.no_compressed_fragments =
        up.compress && ua.find("Version/") != std::string_view::npos && ua.find("Safari/") != std::string_view::npos;
  }
  ReadCookies(r, opts, &up);
  if (std::string_view xff = Trim(r.Get("x-forwarded-for").substr(0, r.Get("x-forwarded-for").find(',')));
      LooksLikeIp(xff)) {
    up.forwarded_for = xff;
  }
  res.state = HandshakeResult::State::kAccepted;
  res.response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
  res.response += AcceptKey(key);
  res.response += "\r\n";
  if (up.compress) {
    res.response += "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n";
  }
  if (up.no_masking) res.response += "Nats-No-Masking: true\r\n";
  for (const auto& [k, v] : opts.headers) res.response += k + ": " + v + "\r\n";
  res.response += "\r\n";
  return res;
}

}  // namespace fjord::websocket
