#pragma once
// Addresses: host:port and route URLs read the way nats-server (Go's net
// and net/url) reads them (the config checks them, the cluster dials them),
// and this machine's interface addresses (what a wildcard listener is
// reachable at).
#include <optional>
#include <string>
#include <vector>

namespace fjord::base {

// Splits "host:port", "[v6]:port" or ":port" as Go's net.SplitHostPort;
// false when there is no port.
bool SplitHostPort(const std::string& s, std::string* host, std::string* port);
// "host:port", with an IPv6 host in brackets.
std::string JoinHostPort(const std::string& host, int port);
// The host as it goes before ":port" in a URL: IPv6 in brackets.
std::string BracketHost(const std::string& host);

// "<scheme>://[user[:password]@]host:port[/]": a route URL, or the
// --cluster listen URL. User and password are unescaped (%XX).
struct RouteUrl {
  std::string scheme;
  bool has_user = false;
  bool has_password = false;
  std::string user;
  std::string password;
  std::string host;
  int port = 0;
};

// The form ParseRouteUrl's errors refer to.
inline constexpr const char* kRouteUrlForm = "nats-route://[user[:password]@]host:port";

// Returns why `text` is not such a URL (nullopt when it is). Routes
// (listen = false) need the nats-route or nats scheme, a host and a port
// from 1 to 65535; the --cluster URL takes any scheme, no host (all
// interfaces) and the ports -1 (random) and 0 (no cluster), as nats-server.
std::optional<std::string> ParseRouteUrl(const std::string& text, bool listen, RouteUrl* out);

// "", "0.0.0.0", "::" or "[::]": a listener on every interface.
bool IsWildcardHost(const std::string& host);

// The addresses of the interfaces that are up, each once, in the order the
// system lists them. Without `with_loopback`, loopback and IPv6 link-local
// addresses are left out (what clients elsewhere could use).
std::vector<std::string> LocalAddresses(bool with_loopback);

}  // namespace fjord::base
