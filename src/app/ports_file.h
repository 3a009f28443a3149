#pragma once
// The ports file of `ports_file_dir` / `--ports_file_dir`: test harnesses
// (nats.js's among them) start servers with `port: -1` and read which ports
// they got from `<dir>/<executable>_<pid>.ports`, a JSON object of URL lists
// in nats-server's shape. The file is removed on a clean exit.
#include <string>
#include <vector>

namespace fjord::app {

struct Ports {
  std::vector<std::string> nats;
  std::vector<std::string> monitoring;
  std::vector<std::string> cluster;
  std::vector<std::string> websocket;
  std::vector<std::string> leafnodes;
};

// The URLs a listener on `host`:`port` is reachable at, as nats-server lists
// them: one per interface address when `host` is a wildcard ("0.0.0.0",
// "::" or empty), else just `host`. IPv6 addresses are bracketed.
std::vector<std::string> ListenUrls(const std::string& scheme, const std::string& host, int port);

// `{"nats":[...],"monitoring":[...],...}`; empty lists are left out.
std::string PortsJson(const Ports& ports);

// `<dir>/<basename of argv0>_<pid>.ports`.
std::string PortsFilePath(const std::string& dir, const std::string& argv0, int pid);

// Writes the file atomically (temporary file, then rename), so a harness
// polling for it never reads half of it. Returns the error text.
std::string WritePortsFile(const std::string& path, const Ports& ports);

}  // namespace fjord::app
