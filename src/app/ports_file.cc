#include "app/ports_file.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fjord::app {

namespace {

std::string Bracket(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

bool IsWildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

}  // namespace

std::vector<std::string> ListenUrls(const std::string& scheme, const std::string& host, int port) {
  std::vector<std::string> urls;
  if (IsWildcard(host)) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) == 0) {
      for (ifaddrs* a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || !(a->ifa_flags & IFF_UP)) continue;
        char buf[INET6_ADDRSTRLEN] = {};
        int family = a->ifa_addr->sa_family;
        if (family == AF_INET) {
          inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf,
                    sizeof buf);
        } else if (family == AF_INET6) {
          inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr, buf,
                    sizeof buf);
        } else {
          continue;
        }
        auto url = fmt::format("{}://{}:{}", scheme, Bracket(buf), port);
        // getifaddrs lists an address once per interface it is on.
        if (std::find(urls.begin(), urls.end(), url) == urls.end()) urls.push_back(url);
      }
      freeifaddrs(list);
    }
    // No interface could be read (or none is up): the loopback address
    // still reaches a wildcard listener.
    if (urls.empty()) urls.push_back(fmt::format("{}://127.0.0.1:{}", scheme, port));
    return urls;
  }
  urls.push_back(fmt::format("{}://{}:{}", scheme, Bracket(host), port));
  return urls;
}

std::string PortsJson(const Ports& p) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  auto put = [&](const char* key, const std::vector<std::string>& v) {
    if (!v.empty()) j[key] = v;
  };
  put("nats", p.nats);
  put("monitoring", p.monitoring);
  put("cluster", p.cluster);
  put("websocket", p.websocket);
  put("leafnodes", p.leafnodes);
  return j.dump();
}

std::string PortsFilePath(const std::string& dir, const std::string& argv0, int pid) {
  auto slash = argv0.find_last_of('/');
  std::string exe = slash == std::string::npos ? argv0 : argv0.substr(slash + 1);
  return fmt::format("{}/{}_{}.ports", dir, exe, pid);
}

std::string WritePortsFile(const std::string& path, const Ports& ports) {
  std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return fmt::format("cannot write ports file {}: {}", path, std::strerror(errno));
  std::string body = PortsJson(ports);
  bool ok = std::fwrite(body.data(), 1, body.size(), f) == body.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    return fmt::format("cannot write ports file {}: {}", path, std::strerror(err));
  }
  return {};
}

}  // namespace fjord::app
