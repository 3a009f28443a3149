#include "app/ports_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/net.h"

namespace fjord::app {

std::vector<std::string> ListenUrls(const std::string& scheme, const std::string& host, int port) {
  std::vector<std::string> urls;
  if (base::IsWildcardHost(host)) {
    for (const auto& ip : base::LocalAddresses(true)) {
      urls.push_back(fmt::format("{}://{}:{}", scheme, base::BracketHost(ip), port));
    }
    // No interface could be read (or none is up): the loopback address
    // still reaches a wildcard listener.
    if (urls.empty()) urls.push_back(fmt::format("{}://127.0.0.1:{}", scheme, port));
    return urls;
  }
  urls.push_back(fmt::format("{}://{}:{}", scheme, base::BracketHost(host), port));
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
