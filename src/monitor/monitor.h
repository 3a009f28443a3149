#pragma once
// The HTTP monitoring endpoint (`-m` / `http_port`): /varz, /connz, /subsz,
// /jsz, /healthz, /accountz, /accstatz and the index page, with nats-server 2.9.10's paths, query
// parameters and JSON field names, so that Kubernetes probes,
// prometheus-nats-exporter and nats-surveyor work unchanged.
//
// Threads: one of its own. It reads the core server's counters (atomics, or
// each connection's locks taken briefly) and asks the JetStream thread for a
// snapshot; it never runs on an I/O thread, so a slow HTTP client or a large
// /connz cannot delay message routing.
#include <asio.hpp>
#include <nlohmann/json.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fjord::leaf {
class Leafnodes;
}

namespace fjord::server {
class Server;
}
namespace fjord::jetstream {
class JetStream;
}

namespace asio::ssl {
class context;
}

namespace fjord::monitor {

struct Options {
  std::string host = "0.0.0.0";
  int port = 0;  // -1 = any free port (nats-server's "random")
  std::string base_path;  // prefix of every endpoint, e.g. "/nats"
  int https_port = 0;     // shown in /varz
  // Serve HTTPS with this context (the client port's tls block), as
  // nats-server does when only https_port is set.
  std::shared_ptr<asio::ssl::context> tls;
  std::vector<std::string> tags;  // `server_tags`, shown in /varz
  std::string system_account = "$SYS";  // empty: none (`no_system_account`)
  // HTTP Basic credentials every endpoint but /healthz requires; none when
  // auth_user is empty. auth_password may be a bcrypt hash.
  std::string auth_user;
  std::string auth_password;
  // For /varz and /jsz: what JetStream was configured with.
  bool jetstream = false;
  int64_t js_max_memory = -1;
  int64_t js_max_store = -1;
  std::string js_store_dir;
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::string extra_headers = {};  // complete "Name: value\r\n" lines
};

class Monitor {
 public:
  // `js`: one JetStream per account that has it (empty: JetStream off);
  // all must outlive the monitor.
  Monitor(server::Server* srv, std::vector<jetstream::JetStream*> js, Options opts);
  ~Monitor();

  // Binds the listener. Error text on failure. Called before the core
  // server starts, as nats-server does, so a bad monitor address stops the
  // server before it takes any client.
  std::string Listen();
  // Starts serving on the monitor's thread; requests that arrived since
  // Listen() wait in the backlog until then, so /healthz never answers for
  // a server that does not accept connections yet.
  void Serve();
  void Shutdown();
  int bound_port() const { return bound_port_; }
  // The configuration was (re)loaded now: /varz `config_load_time`.
  void NoteConfigLoaded();
  // An account got JetStream at run time (operator mode). Thread-safe.
  void AddJetStream(jetstream::JetStream* js);
  // The cluster's name (it may change: a generated one gives way) and its
  // bound port, for /varz; set before Serve().
  void SetCluster(std::function<std::string()> name, std::function<int()> port) {
    cluster_name_ = std::move(name);
    cluster_port_ = std::move(port);
  }
  // Clustered JetStream: the meta group's /jsz `meta_cluster`, whether it
  // has a leader, and why this server is not current (its meta member or a
  // stream replica here behind; empty when all are) for /healthz; set
  // before Serve(). Thread-safe functions.
  void SetMeta(std::function<nlohmann::ordered_json()> info, std::function<bool()> has_leader,
               std::function<std::string(bool with_replicas)> not_current) {
    meta_info_ = std::move(info);
    meta_has_leader_ = std::move(has_leader);
    not_current_ = std::move(not_current);
  }
  // The leaf-node layer, for /leafz and /varz; set before Serve(). Must
  // outlive the monitor's serving.
  void SetLeafnodes(leaf::Leafnodes* l) { leafs_ = l; }
  // SIGHUP: new HTTPS connections use `tls` (open ones finish with theirs).
  // Does nothing when the monitor serves plain HTTP. Thread-safe.
  void ReloadTls(std::shared_ptr<asio::ssl::context> tls);

  // Serves one GET of `target` (path and query) with the request's
  // Authorization header value (empty if none). Any thread; public for tests.
  Response Handle(std::string_view target, std::string_view authorization = {});
  // The JSON of one endpoint ("/varz", "/connz", "/subsz", "/jsz",
  // "/healthz", "/accountz", "/accstatz") for `query`, as the system
  // account's requests need it: no base path, authorization or request
  // counting. Blocks up to a few seconds for JetStream; never call it on an
  // I/O thread. Throws std::invalid_argument for a bad query.
  nlohmann::ordered_json Query(std::string_view path, const std::string& query);

 private:
  std::function<nlohmann::ordered_json()> meta_info_;
  std::function<bool()> meta_has_leader_;
  std::function<std::string(bool with_replicas)> not_current_;
  std::function<std::string()> cluster_name_;
  std::function<int()> cluster_port_;
  leaf::Leafnodes* leafs_ = nullptr;
  class Conn;
  void Accept();
  Response Varz();
  nlohmann::ordered_json VarzJson();
  Response Connz(const std::string& query);
  Response Subsz(const std::string& query);
  Response Routez(const std::string& query);
  Response Leafz(const std::string& query);
  std::string ClusterName() const;
  nlohmann::ordered_json SubszJson(const std::string& query);
  // `usage_only`: memory, storage and API counts, without visiting streams
  // (for /varz, which tools scrape often).
  Response Jsz(const std::string& query, bool usage_only = false);
  Response Healthz(const std::string& query);
  Response Accountz(const std::string& query);
  Response Accstatz(const std::string& query);
  // Prometheus text format: the metrics prometheus-nats-exporter derives
  // from /varz, /subsz and /jsz, under its names, plus Fjord's counters
  // and latency histograms.
  Response Metrics();
  // Whether an Authorization header value satisfies `http_auth`.
  bool Authorized(std::string_view authorization) const;
  double CpuPercent();

  server::Server* srv_;
  // One per JetStream account; grows at run time in operator mode.
  std::vector<jetstream::JetStream*> JetStreams() const;
  mutable std::mutex js_mu_;
  std::vector<jetstream::JetStream*> js_list_;  // guarded by js_mu_
  Options opts_;
  const bool https_ = opts_.tls != nullptr;
  asio::io_context ctx_{1};
  asio::ip::tcp::acceptor acceptor_{ctx_};
  std::thread thread_;
  int bound_port_ = 0;

  // /varz "cpu": process CPU time over wall time since the previous /varz
  // (since start for the first), as nats-server samples it.
  std::mutex cpu_mu_;
  std::chrono::steady_clock::time_point cpu_at_;
  double cpu_secs_ = 0;

  std::atomic<int64_t> config_load_ns_;  // unix ns
  // /varz "http_req_stats": requests per endpoint path that was served.
  std::mutex req_mu_;
  std::map<std::string, uint64_t> req_stats_;
};

// Go's time.Duration.String() subset nats-server uses for "uptime" and
// "idle": "1y2d3h4m5s", leading zero units left out. Public for tests.
std::string FormatUptime(std::chrono::nanoseconds d);
// RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's time.Time JSON.
std::string FormatTime(std::chrono::system_clock::time_point t);

}  // namespace fjord::monitor
