#pragma once
// Accounts: isolated subject spaces on one server.
//
// Each account has its own subject index, so a message published in one
// never reaches a subscriber of another. The only ways across are the
// exports an account offers and the imports another takes of them:
// - a stream import copies messages published in the exporter onto the
//   importer's subjects (renamed by `prefix` or `to`);
// - a service import carries requests published in the importer to the
//   exporter's subject, under a generated reply subject that routes the
//   responses back (once for a singleton service, until the response
//   threshold passes for stream and chunked ones).
// Without an `accounts` block every client is in the global account "$G".
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proto/subject_transform.h"
#include "server/config.h"
#include "server/sublist.h"

namespace fjord::server {

// The export of `exporter` that lets `importer` import `subject`, or null.
const StreamExport* FindStreamExport(const AccountConfig& exporter, std::string_view importer,
                                     std::string_view subject);
const ServiceExport* FindServiceExport(const AccountConfig& exporter, std::string_view importer,
                                       std::string_view subject);

class Account {
 public:
  explicit Account(AccountConfig cfg);
  ~Account();
  Account(const Account&) = delete;
  Account& operator=(const Account&) = delete;

  const std::string& name() const { return cfg_.name; }
  // As created; the limits below may have changed since (operator mode).
  const AccountConfig& config() const { return cfg_; }

  // `limits`, -1 = none; changed by a new account JWT in operator mode.
  int64_t max_connections() const { return max_connections_.load(std::memory_order_relaxed); }
  int64_t max_subscriptions() const { return max_subscriptions_.load(std::memory_order_relaxed); }
  int64_t max_payload() const { return max_payload_.load(std::memory_order_relaxed); }
  void SetLimits(int64_t connections, int64_t subscriptions, int64_t payload) {
    max_connections_.store(connections);
    max_subscriptions_.store(subscriptions);
    max_payload_.store(payload);
  }
  // The JetStream limits now in force (a newer JWT's, in operator mode).
  AccountJetStream jetstream_limits() const {
    std::lock_guard lock(js_mu_);
    return js_limits_;
  }
  void SetJetStreamLimits(const AccountJetStream& js) {
    std::lock_guard lock(js_mu_);
    js_limits_ = js;
  }
  Sublist& sublist() { return sublist_; }

  // `mappings`: the subject a client's publish to `subject` goes to, or
  // nullopt to keep it. Weighted destinations are picked at random.
  bool has_mappings() const { return !mappings_.empty(); }
  std::optional<std::string> Map(std::string_view subject) const;

  // Subscriptions whose handler runs on the publishing thread, inside this
  // account (JetStream's API, stream subjects, import plumbing). With
  // `propagate`, the other servers of a cluster route matching messages
  // here as for a client's subscription; otherwise it sees only what is
  // published on this server.
  SubPtr SubscribeInternal(std::string_view subject, InternalHandler handler, bool propagate = false);
  void UnsubscribeInternal(const SubPtr& sub);
  // Publishes as the server, inside this account; callable from any thread
  // (see Server::OutputBatch). Returns the deliveries.
  size_t PublishInternal(std::string_view subject, std::string_view reply, std::string_view hdr,
                         std::string_view data);
  // Routed to the subscribers of `route_to` while the message shows
  // `subject` (JetStream delivering a stored message to an inbox).
  size_t PublishInternalAs(std::string_view route_to, std::string_view subject,
                           std::string_view reply, std::string_view hdr, std::string_view data);

  // Called on the subscribing client's thread after each client
  // subscription in this account is added. May be set while clients are
  // connected (operator mode starts an account's JetStream then).
  void SetSubscribeObserver(std::function<void(std::string_view subject)> fn) {
    on_subscribe_.store(std::make_shared<const std::function<void(std::string_view)>>(std::move(fn)));
  }
  void NotifySubscribed(std::string_view subject) {
    if (auto fn = on_subscribe_.load(std::memory_order_acquire)) (*fn)(subject);
  }

  // Connections and subscriptions counted against `limits`.
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> subscriptions{0};
  // Traffic of the account's connections that have closed.
  std::atomic<uint64_t> closed_in_msgs{0}, closed_in_bytes{0}, closed_out_msgs{0}, closed_out_bytes{0};

  // -- import plumbing (Server wires it at start) ---------------------------
  // The subscriptions made here live as long as the indexes they are in
  // (accounts are never removed).
  // Copies what `exporter` publishes on `imp.subject` into this account.
  void AddStreamImport(Account* exporter, const StreamImport& imp);
  // Carries requests on `imp.to` in this account to `exporter`.
  void AddServiceImport(Account* exporter, const ServiceImport& imp, const ServiceExport& exp);

 private:
  // Where the responses to one forwarded request go.
  struct ResponseRoute {
    Account* requester;
    std::string reply;
    ResponseType type;
    std::chrono::steady_clock::time_point expires;
  };
  // A reply subject in this (the exporting) account whose responses reach
  // `reply` in `requester`.
  std::string AddResponseRoute(Account* requester, std::string_view reply, const ServiceExport& exp);
  void OnResponse(const InternalMsg& m);

  AccountConfig cfg_;
  struct Mapping {
    std::string source;
    // Cumulative weights: a draw r in [0, 100) takes the first with r < weight.
    std::vector<std::pair<std::optional<proto::SubjectTransform>, int>> dests;
  };
  std::vector<Mapping> mappings_;
  std::atomic<int64_t> max_connections_, max_subscriptions_, max_payload_;
  mutable std::mutex js_mu_;
  AccountJetStream js_limits_;  // guarded by js_mu_
  Sublist sublist_;
  std::atomic<std::shared_ptr<const std::function<void(std::string_view)>>> on_subscribe_;

  std::mutex responses_mu_;
  std::string response_prefix_;  // "_R_.<random>." once this account serves an import
  SubPtr response_sub_;
  std::unordered_map<std::string, ResponseRoute> responses_;  // by the token after the prefix
  uint64_t next_response_ = 0;
  std::chrono::steady_clock::time_point next_sweep_{};
};

}  // namespace fjord::server
