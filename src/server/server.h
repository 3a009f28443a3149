#pragma once
// The core NATS server: accepts clients, authenticates them into accounts
// (account.h), routes messages within each account, and offers internal
// subscriptions to the layers above (JetStream).
//
// Threads: `io_threads` event loops, each owning the connections it accepted
// for their lifetime. A publish is routed on the publisher's thread; output
// for a connection on another thread is appended to that connection's
// outbound buffer under a short lock, and one flush is posted to its thread
// per read batch (not per message).
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/account.h"
#include "server/config.h"
#include "server/events.h"
#include "server/remote.h"
#include "server/sublist.h"

namespace fjord::server {

class Client;
class Operator;

// What may happen to a message besides delivery to local subscribers.
struct Origin {
  // It came from another server (over a route or a leaf connection): queue
  // groups get it only if named in `queues` (the sender picked us).
  bool from_remote = false;
  std::string_view queues;
  // A copy made inside this server (see Server::RouteInternal): no other
  // server gets it.
  bool local_only = false;
  // The connection it came over: it never goes back there.
  const Remote* source = nullptr;
  // Whether it may go on to routes and to leaf connections. A message from
  // a route goes to no other route (the mesh is full) but to leaf nodes; a
  // message from a leaf goes to routes only if that leaf is our spoke (as
  // nats-server: a hub forwards, a spoke does not).
  bool to_routes = true;
  bool to_leafs = true;
  // Set when the subscriptions were matched on another subject than the
  // one shown to subscribers (a JetStream delivery: matched on the inbox,
  // shown with the stored subject). Other servers get the message on this
  // subject, and the shown one after '@' in a `$JS.ACK.` reply, as
  // nats-server routes such deliveries (SplitJsDeliver undoes it).
  std::string_view routed_subject;
};

// A `$JS.ACK.<8 tokens>@<subject>` reply from another server: the ack
// reply and the subject to show. False if `reply` is not one.
bool SplitJsDeliver(std::string_view reply, std::string_view* ack_reply, std::string_view* subject);

// Server-wide counters that change rarely; per-message counters live in
// each Client so the hot path touches no shared cache line.
struct ServerStats {
  std::atomic<uint64_t> slow_consumers{0};
  std::atomic<uint64_t> total_connections{0};
  // Traffic of connections that have closed; the monitor adds the open
  // ones' counters to get the server's totals.
  std::atomic<uint64_t> closed_in_msgs{0}, closed_in_bytes{0};
  std::atomic<uint64_t> closed_out_msgs{0}, closed_out_bytes{0};
};

class Server {
 public:
  explicit Server(Config cfg);
  ~Server();

  // Binds and starts the I/O threads. Returns an error text on failure.
  std::string Start();
  // Stops accepting, closes every client, joins the threads.
  void Shutdown();
  // Lame duck mode: refuses new connections, keeps serving the open ones,
  // and tells clients that take INFO updates (INFO `ldm`), so they can move
  // to another server of the cluster.
  void StopAccepting();
  void EnterLameDuck();
  // Blocks until Shutdown() has completed.
  void Wait();

  // Applies the parts of a new config that can change at run time
  // (authorization and limits for new connections).
  void Reload(const Config& cfg);

  // -- accounts ------------------------------------------------------------
  // The global account "$G" (everyone's without an `accounts` block).
  Account& global_account() { return *global_; }
  // An account by name, or null. Accounts are made from the config at
  // construction and live as long as the server.
  Account* LookupAccount(std::string_view name) const;
  std::vector<Account*> Accounts() const;
  // Adds an account at run time (operator mode); the existing one if the
  // name is taken (*created says which). Thread-safe.
  Account* RegisterAccount(AccountConfig cfg, bool* created);
  // Wires `acc`'s imports, finding exporters with `lookup`.
  void WireImports(Account* acc, const std::function<Account*(const std::string&)>& lookup);
  // Operator mode: loads the resolver's JWTs and makes the system account.
  // Call before Start(); error text on failure. Nothing without operator mode.
  std::string LoadOperator();
  // Operator mode's JWT state; null otherwise.
  Operator* op() const { return op_.get(); }
  // Called once for every account registered after Start() (the layer
  // above gives it JetStream); set before Start().
  void SetAccountObserver(std::function<void(Account*)> fn) { on_account_ = std::move(fn); }
  void AccountRegistered(Account* acc) {
    if (on_account_) on_account_(acc);
  }
  // A new JWT changed `acc` (its limits may differ); set before Start().
  void SetAccountUpdateObserver(std::function<void(Account*)> fn) { on_account_update_ = std::move(fn); }
  void AccountUpdated(Account* acc) {
    if (on_account_update_) on_account_update_(acc);
  }
  // A lowered connection limit: the account's newest connections beyond it
  // are closed (as nats-server).
  void EnforceConnectionLimit(Account* acc);
  // Every connection of `acc` checks its credentials again (a new account
  // JWT may revoke them).
  void ReauthorizeAccount(Account* acc);

  // -- cluster (cluster/routes.h) --------------------------------------------
  // An event loop for a new connection (round robin over the I/O threads).
  asio::io_context& NextContext();
  // The client URLs clients may fail over to: this server's, then the
  // other servers' of the cluster (INFO's connect_urls). Setting them
  // sends the new list to clients that take INFO updates.
  std::vector<std::string> ClientUrls() const;
  // This server's own client URLs (the first of ClientUrls()).
  std::vector<std::string> OwnClientUrls() const;
  void SetClusterUrls(std::vector<std::string> urls);
  // The cluster's name, for INFO (it may change: a generated one gives way).
  void SetClusterName(std::string name) {
    std::lock_guard lock(urls_mu_);
    cluster_name_ = std::move(name);
  }
  std::string cluster_name() const {
    std::lock_guard lock(urls_mu_);
    return cluster_name_;
  }
  // Route information for the monitor (/routez, /varz); set by the
  // cluster layer before Start().
  void SetRouteReporter(std::function<std::vector<RouteInfo>(bool with_subs)> fn) {
    route_reporter_ = std::move(fn);
  }
  std::vector<RouteInfo> Routes(bool with_subs = false) const {
    return route_reporter_ ? route_reporter_(with_subs) : std::vector<RouteInfo>{};
  }
  // Runs `done` once the other servers of the cluster have processed what
  // this one queued to them so far (interest of a new subscription, say),
  // or after a bounded wait; at once without a cluster. Any thread; `done`
  // may run on another. Set by the cluster layer before Start().
  void SetRouteBarrier(std::function<void(std::function<void()>)> fn) { route_barrier_ = std::move(fn); }
  void RouteBarrier(std::function<void()> done) const {
    if (route_barrier_) return route_barrier_(std::move(done));
    done();
  }

  // Called on the connection's I/O thread for every ConnectionEvent; must
  // not block (hand the work to another thread). Set before Start().
  void SetConnectionObserver(std::function<void(ConnectionEvent)> fn) { on_connection_ = std::move(fn); }
  void NotifyConnection(ConnectionEvent ev) {
    if (on_connection_) on_connection_(std::move(ev));
  }

  // -- for layers above (JetStream, imports) ---------------------------------
  // Within the scope of an OutputBatch on a non-I/O thread, internal
  // publishes defer flushing to the end of the outermost batch: one wake-up
  // per connection per batch instead of one per message.
  class OutputBatch {
   public:
    OutputBatch();
    ~OutputBatch();
    OutputBatch(const OutputBatch&) = delete;
    OutputBatch& operator=(const OutputBatch&) = delete;
  };
  // Routes a message published by the server to the subscribers of
  // `route_to` in `sublist`, showing it as `subject`. Output is flushed by
  // the caller's batch (FlushIfUnbatched). Returns deliveries.
  // With `local_only`, nothing goes to other servers of a cluster (a copy
  // made here that each server makes for itself, as for stream imports).
  static size_t RouteInternal(Sublist& sublist, std::string_view route_to, std::string_view subject,
                              std::string_view reply, std::string_view hdr, std::string_view data,
                              bool local_only = false);
  // Flushes pending output unless an I/O thread's read batch or an
  // OutputBatch will.
  static void FlushIfUnbatched();
  // An I/O thread's read batch (a connection's read handler), which ends
  // with FlushDirty. Output queued on an I/O thread outside one (a timer, a
  // write's completion, a connection closing) is flushed at once by
  // FlushIfUnbatched: left queued, it waited for that thread's next read,
  // which may never come, and the connection it was for stopped being
  // flushed at all (its flush counted as scheduled).
  class ReadBatch {
   public:
    ReadBatch();
    ~ReadBatch();
    ReadBatch(const ReadBatch&) = delete;
    ReadBatch& operator=(const ReadBatch&) = delete;
  };

  // -- for Client ------------------------------------------------------------
  const std::string& id() const { return id_; }
  int bound_port() const { return bound_port_; }
  // The WebSocket listener's port (0 without one).
  int websocket_port() const { return ws_bound_port_; }
  std::shared_ptr<const Config> config() const;
  // What WebSocket clients run with: config() with `websocket { }`'s TLS,
  // authorization and timeouts in place of the top-level ones.
  std::shared_ptr<const Config> websocket_config() const;
  static Config WebsocketClientConfig(const Config& c);
  ServerStats& stats() { return stats_; }
  // -- for the monitor (any thread) ------------------------------------------
  // The open client connections, ordered by nothing.
  std::vector<std::shared_ptr<Client>> Clients();
  // Messages and bytes in and out since start, open and closed connections
  // alike, each counted once.
  struct Traffic {
    uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
  };
  Traffic TrafficTotals();
  std::chrono::system_clock::time_point start_time() const { return start_time_; }
  // The INFO line for a new connection (with its id and address); a
  // WebSocket client's names the WebSocket listener and its TLS and
  // authorization.
  std::string InfoLine(uint64_t cid, const std::string& client_ip, const std::string& nonce = {},
                       bool websocket = false) const;
  // Routes a message from `src` (may be null) to the subscriptions in
  // `matches` (from the sublist of `account`, matched on the subject).
  // Remote subscriptions get it once per server. Returns deliveries (a
  // server counts once).
  static size_t Route(Client* src, const MatchResult& matches, std::string_view account,
                      std::string_view subject, std::string_view reply, uint32_t hdr_len,
                      std::string_view payload, const Origin& origin = {});
  void RemoveClient(uint64_t cid);
  // Flushes every connection that got output during the current batch.
  // Output of up to `direct_max` bytes for a connection of another thread
  // is written from this thread (Client::TryWriteDirect) instead of waking
  // its own: right for a request, a reply or an ack, wrong for a bulk
  // batch, whose writes are better left spread over the threads. The
  // default suits the JetStream thread (acks, one or two messages).
  static void FlushDirty(size_t direct_max = 512);
  // Marks a connection as having output pending for the current batch.
  static void MarkDirty(const std::shared_ptr<Client>& c);
  static void MarkDirty(const std::shared_ptr<Remote>& r);
  // A subscriber's output is backing up: the connection that published in
  // this batch should pause before reading more.
  static void StallProducer();
  static bool TakeStall();

 private:
  void Accept(asio::ip::tcp::acceptor& acceptor, bool websocket);
  // Opens a listener; an error text on failure.
  std::string Listen(const std::string& host, int port, std::unique_ptr<asio::ip::tcp::acceptor>* out);

  std::string id_;
  const std::chrono::system_clock::time_point start_time_ = std::chrono::system_clock::now();
  std::shared_ptr<const Config> cfg_;
  std::shared_ptr<const Config> ws_cfg_;  // guarded by cfg_mu_, as cfg_
  mutable std::mutex cfg_mu_;
  mutable std::mutex accounts_mu_;
  std::unordered_map<std::string, std::shared_ptr<Account>> accounts_;  // guarded by accounts_mu_
  std::unique_ptr<Operator> op_;
  std::function<void(Account*)> on_account_;
  std::function<void(Account*)> on_account_update_;
  Account* global_ = nullptr;
  ServerStats stats_;

  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  std::unique_ptr<asio::ip::tcp::acceptor> ws_acceptor_;
  int ws_bound_port_ = 0;
  std::atomic<size_t> next_ctx_{0};
  std::atomic<uint64_t> next_cid_{1};
  int bound_port_ = 0;

  std::mutex clients_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Client>> clients_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> lame_duck_{false};
  std::function<void(ConnectionEvent)> on_connection_;
  std::function<std::vector<RouteInfo>(bool)> route_reporter_;
  std::function<void(std::function<void()>)> route_barrier_;
  mutable std::mutex urls_mu_;
  std::vector<std::string> cluster_urls_;  // guarded by urls_mu_
  std::string cluster_name_;               // guarded by urls_mu_
};

}  // namespace fjord::server
