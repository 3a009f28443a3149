#include "base/net.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace fjord::base {
namespace {

// Go's url.PathUnescape for the user info of a URL; false on a bad escape.
bool Unescape(const std::string& in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return false;
    }
    out->push_back(static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16)));
    i += 2;
  }
  return true;
}

}  // namespace

bool SplitHostPort(const std::string& s, std::string* host, std::string* port) {
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    *host = s.substr(1, close - 1);
    *port = s.substr(close + 2);
    return true;
  }
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || s.find(':') != colon) return false;
  *host = s.substr(0, colon);
  *port = s.substr(colon + 1);
  return true;
}

std::string BracketHost(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string JoinHostPort(const std::string& host, int port) { return BracketHost(host) + ":" + std::to_string(port); }

std::optional<std::string> ParseRouteUrl(const std::string& text, bool listen, RouteUrl* out) {
  size_t sep = text.find("://");
  if (sep == std::string::npos || sep == 0) return std::string("missing scheme");
  out->scheme = text.substr(0, sep);
  std::transform(out->scheme.begin(), out->scheme.end(), out->scheme.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  if (!listen && out->scheme != "nats-route" && out->scheme != "nats") {
    return fmt::format("unsupported scheme \"{}\"", text.substr(0, sep));
  }
  std::string rest = text.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find_first_of("/?#") != std::string::npos) return std::string("unexpected path or query");
  if (size_t at = rest.rfind('@'); at != std::string::npos) {
    std::string info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    out->has_user = true;
    size_t colon = info.find(':');
    out->has_password = colon != std::string::npos;
    if (!Unescape(info.substr(0, colon), &out->user) ||
        (out->has_password && !Unescape(info.substr(colon + 1), &out->password))) {
      return std::string("invalid escape in user info");
    }
  }
  std::string port;
  if (!SplitHostPort(rest, &out->host, &port)) return std::string("missing port");
  int n = 0;
  bool digits = !port.empty() && std::all_of(port.begin(), port.end(),
                                             [](char ch) { return ch >= '0' && ch <= '9'; });
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  bool number = ec == std::errc() && end == port.data() + port.size();
  if (!(digits || (listen && port == "-1")) || !number || n < (listen ? -1 : 1) || n > 65535) {
    return fmt::format("invalid port \"{}\"", port);
  }
  out->port = n;
  if (!listen && out->host.empty()) return std::string("missing host");
  return std::nullopt;
}

bool IsWildcardHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

std::vector<std::string> LocalAddresses(bool with_loopback) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || !(a->ifa_flags & IFF_UP)) continue;
    if (!with_loopback && (a->ifa_flags & IFF_LOOPBACK)) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (a->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf, sizeof buf);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      if (!with_loopback && IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) continue;
      inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    } else {
      continue;
    }
    // getifaddrs lists an address once per interface it is on.
    if (std::find(out.begin(), out.end(), buf) == out.end()) out.emplace_back(buf);
  }
  freeifaddrs(list);
  return out;
}

}  // namespace fjord::base
