#pragma once
// The core NATS server: accepts clients, routes messages, and offers
// internal subscriptions to the layers above (JetStream).
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

#include "server/config.h"
#include "server/sublist.h"

namespace fjord::server {

class Client;

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
  // Lame duck mode: refuses new connections, keeps serving the open ones.
  void StopAccepting();
  // Blocks until Shutdown() has completed.
  void Wait();

  // Applies the parts of a new config that can change at run time
  // (authorization and limits for new connections).
  void Reload(const Config& cfg);

  // -- for layers above (JetStream) --------------------------------------
  // Adds a subscription whose handler runs on the publishing thread.
  SubPtr SubscribeInternal(std::string_view subject, InternalHandler handler);
  void UnsubscribeInternal(const SubPtr& sub);
  // Runs `fn` on the subscribing client's thread after each client
  // subscription is added, so JetStream starts a push consumer as soon as its
  // deliver subject has a subscriber. Set before Start().
  void SetSubscribeObserver(std::function<void(std::string_view subject)> fn) {
    on_subscribe_ = std::move(fn);
  }
  // Within the scope of an OutputBatch on a non-I/O thread, PublishInternal
  // defers flushing to the end of the outermost batch: one wake-up per
  // connection per batch instead of one per message.
  class OutputBatch {
   public:
    OutputBatch();
    ~OutputBatch();
    OutputBatch(const OutputBatch&) = delete;
    OutputBatch& operator=(const OutputBatch&) = delete;
  };
  // Publishes as the server; callable from any thread. Returns the number
  // of subscriptions it was delivered to.
  size_t PublishInternal(std::string_view subject, std::string_view reply, std::string_view hdr,
                         std::string_view data);
  // Like PublishInternal, but routed to the subscribers of `route_to` while
  // the message shows `subject` (JetStream delivers stored messages to a
  // consumer's inbox under their original subject).
  size_t PublishInternalAs(std::string_view route_to, std::string_view subject,
                           std::string_view reply, std::string_view hdr, std::string_view data);

  // -- for Client ------------------------------------------------------------
  const std::string& id() const { return id_; }
  void NotifySubscribed(std::string_view subject) {
    if (on_subscribe_) on_subscribe_(subject);
  }
  int bound_port() const { return bound_port_; }
  std::shared_ptr<const Config> config() const;
  Sublist& sublist() { return sublist_; }
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
  // The INFO line for a new connection (with its id and address).
  std::string InfoLine(uint64_t cid, const std::string& client_ip, const std::string& nonce = {}) const;
  // Routes a message from `src` (may be null) to the subscriptions in
  // `matches` (from sublist().Match(subject)). Returns deliveries.
  size_t Route(Client* src, const MatchResult& matches, std::string_view subject,
               std::string_view reply, uint32_t hdr_len, std::string_view payload);
  void RemoveClient(uint64_t cid);
  // Flushes every connection that got output during the current batch.
  static void FlushDirty();
  // Marks a connection as having output pending for the current batch.
  static void MarkDirty(const std::shared_ptr<Client>& c);
  // A subscriber's output is backing up: the connection that published in
  // this batch should pause before reading more.
  static void StallProducer();
  static bool TakeStall();

 private:
  void Accept();
  asio::io_context& NextContext();

  std::string id_;
  const std::chrono::system_clock::time_point start_time_ = std::chrono::system_clock::now();
  std::shared_ptr<const Config> cfg_;
  mutable std::mutex cfg_mu_;
  Sublist sublist_;
  ServerStats stats_;

  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  std::atomic<size_t> next_ctx_{0};
  std::atomic<uint64_t> next_cid_{1};
  int bound_port_ = 0;

  std::mutex clients_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Client>> clients_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::atomic<bool> shutting_down_{false};
  std::function<void(std::string_view)> on_subscribe_;
};

}  // namespace fjord::server
