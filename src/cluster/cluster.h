#pragma once
// Core NATS clustering: this server's routes to the other servers of a
// cluster, as nats-server makes them, so Fjord and nats-server nodes can
// form one cluster.
//
// - Listens on the cluster port and dials the configured routes (retried
//   for ever, every second).
// - Gossip: when a route registers, its INFO goes to every other route, and
//   a server that learns of one it is not connected to dials it (an
//   implicit route, tried `connect_retries` times), so one seed route is
//   enough for a full mesh.
// - Interest: every account's local subscriptions are announced to every
//   route (Sublist::SetInterestObserver), and a message crosses a route
//   only where the other side is interested (both filtered by the
//   cluster's import/export permissions). There are no route-to-route
//   hops: in a full mesh the publisher's server sends to every server.
// - Clients get the other servers' client URLs in INFO's connect_urls.
#include <asio.hpp>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/config.h"
#include "server/remote.h"

namespace fjord::server {
class Account;
class PermissionChecker;
class Server;
}  // namespace fjord::server

namespace fjord::cluster {

class Route;

class Cluster {
 public:
  // Make it before the server starts (the monitor asks it for routes),
  // start it after.
  explicit Cluster(server::Server* srv);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Binds the cluster port and dials the routes; call after the server has
  // started. Error text on failure.
  std::string Start();
  // Closes every route and stops dialling.
  void Shutdown();
  // Lame duck mode: tells the other servers (INFO `ldm`), which stop
  // offering this server's client URLs to their clients.
  void EnterLameDuck();
  int bound_port() const { return bound_port_; }
  // Announces `acc`'s interest to the routes from now on (accounts made
  // after Start, in operator mode).
  void AddAccount(server::Account* acc);
  std::vector<server::RouteInfo> Routes(bool with_subs);
  // Thread-safe: runs `done` once every registered route's server has
  // processed what was queued to it before the call (subscriptions
  // included), or after `timeout`, whichever comes first; at once without
  // routes. On a route's or an I/O thread.
  void Barrier(std::function<void()> done, std::chrono::milliseconds timeout);
  // Before Start: this server takes part in clustered JetStream (its route
  // INFO says so, `fjord_jetstream`, with its `server_tags` as
  // `fjord_tags` for the meta leader's placement).
  void SetJetStreamPeer(bool on, std::vector<std::string> tags = {}) {
    jetstream_peer_ = on;
    jetstream_tags_ = std::move(tags);
  }
  // Once every configured route has reached its server or turned out to
  // lead back to this one: how many other servers the configured routes
  // reached. Nothing while some are still unresolved.
  std::optional<size_t> ConfiguredPeers();

  // -- for Route ---------------------------------------------------------------
  server::Server* server() const { return srv_; }
  const server::ClusterConfig& config() const { return cfg_; }
  std::string name() const;
  // Adopts the remote's cluster name if ours was generated and should give
  // way (nats-server's rule); false if the names conflict.
  bool ReconcileName(const std::string& remote, bool remote_dynamic);
  // Our INFO for a route (with a fresh nonce for a new one).
  std::string InfoLine(bool with_nonce) const;
  // Our CONNECT for a route dialled with `url` (credentials from the URL, or
  // the cluster's own).
  std::string ConnectLine(const std::string& url) const;
  // The first INFO of `r` arrived: registers it under its server id. False
  // if a route to that server exists already (the caller closes `r`).
  bool Register(const std::shared_ptr<Route>& r, const nlohmann::json& info);
  // A registered route's INFO told of another server: dial it if new.
  void LearnedOf(const nlohmann::json& info);
  // Sends all local interest to `r` (just registered).
  void SendInterest(Route& r);
  // A peer said it is going away: its client URLs are no longer offered.
  void PeerLameDuck() { PublishClientUrls(); }
  // `r` closed: forget it and dial again if it was ours to dial.
  void Closed(Route* r, bool registered);
  bool IsSelf(const std::string& server_id) const;
  // `cluster { permissions }` (nats-server's canImport/canExport): whether
  // local interest in `subject` is announced to the routes, and whether a
  // route's RS+ on it is accepted (so messages on it are sent to it).
  // Thread-safe.
  bool CanImport(std::string_view subject);
  bool CanExport(std::string_view subject) const;
  // The host of a route URL (for TLS name verification).
  static std::string UrlHost(const std::string& url);

 private:
  void Accept();
  // Dials `url`; `attempts` left (-1 = for ever) after this one.
  void Dial(std::string url, bool configured, int attempts, std::chrono::milliseconds delay);
  void OnInterest(const std::string& account, std::string_view subject, std::string_view queue, int32_t count);
  void PublishClientUrls();
  std::vector<std::shared_ptr<Route>> Registered();

  server::Server* srv_;
  server::ClusterConfig cfg_;
  asio::io_context* accept_ctx_ = nullptr;  // set by Start
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  int bound_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> lame_duck_{false};
  std::atomic<uint64_t> next_rid_{1};
  bool jetstream_peer_ = false;
  std::vector<std::string> jetstream_tags_;

  mutable std::mutex mu_;
  std::string name_;     // guarded by mu_
  bool dynamic_ = false;  // guarded by mu_
  std::unordered_map<uint64_t, std::shared_ptr<Route>> routes_;  // all open ones, by rid; guarded by mu_
  std::unordered_map<std::string, Route*> by_server_;            // registered, by server id; guarded by mu_
  std::vector<std::string> self_urls_;  // dialled routes that led back to us; guarded by mu_
  // The server a dialled route reached before it was closed as a duplicate
  // (the peer's own route to us won): by URL; guarded by mu_.
  std::map<std::string, std::string> reached_;
  // Import = its publish check, export = its subscribe check; null = no
  // permissions. Its publish check caches, hence perms_mu_.
  std::unique_ptr<server::PermissionChecker> perms_;
  std::mutex perms_mu_;
};

}  // namespace fjord::cluster
