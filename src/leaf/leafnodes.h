#pragma once
// Leaf nodes, as nats-server makes them: hub and spoke.
//
// - As a hub, the server listens on the leafnode port; a leaf node that
//   connects authenticates (the block's users, or as a client would) and
//   is bound to one account.
// - As a leaf, it dials each configured remote (retried every `reconnect`,
//   going through the remote's URLs in turn) and binds it to a local
//   account.
// - Interest: each connection is told, as LS+/LS-, of the subscriptions of
//   its account the other side should send messages for. A hub announces
//   everything of the account (clients, internal subscriptions such as
//   streams', routes', other leaf nodes'); a spoke only what is its own
//   (its clients' and its own leaf nodes'). Messages cross where the other
//   side announced interest (LMSG/HMSG), never back where they came from.
// - JetStream: `$JS.API.>`, `$KV.>` and `$OBJ.>` never cross (nats-server's
//   deny for accounts); `$JS.<domain>.API.>` does, so a client reaches the
//   other side's JetStream through its domain.
// - Loops: each account announces a `$LDS.<random>` subject; one that comes
//   back over a leaf connection closes it ("Loop detected"), and the
//   spoke waits 30 s before dialling again.
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace fjord::server {
class Account;
class PermissionChecker;
class Server;
struct Permissions;
struct Subscription;
}  // namespace fjord::server

namespace fjord::leaf {

class Leaf;

struct RemoteOptions {
  std::vector<std::string> urls;  // nats-leaf://[user[:pass]@]host:port, tried in turn
  std::string account;            // local account bound; empty = the global account
  std::string credentials;        // creds file path: JWT and nonce signature
  // TLS to the hub: set for a `tls { }` block or tls:// URLs.
  std::shared_ptr<asio::ssl::context> tls;
  bool tls_insecure = false;
  int64_t tls_timeout_ms = 2000;
  bool hub = false;  // this server is the hub of the connection
  std::vector<std::string> deny_imports, deny_exports;
};

struct Options {
  bool listen = false;  // accept leaf nodes (a port was set)
  std::string host = "0.0.0.0";
  int port = 0;  // 0 = a free port
  std::string advertise;
  bool no_advertise = false;
  struct User {
    std::string user, password, account;
  };
  // `authorization`: a single user (user/password/account) or users; both
  // empty = leaf nodes authenticate as clients would.
  std::string user, password, account;
  std::vector<User> users;
  int64_t auth_timeout_ms = 0;  // 0 = nats-server's default for leaf nodes
  std::shared_ptr<asio::ssl::context> tls;  // accepted connections
  bool tls_verify = false;
  int64_t tls_timeout_ms = 2000;
  int64_t reconnect_ms = 1000;
  std::vector<RemoteOptions> remotes;
};

// One leaf connection, as /leafz shows it.
struct LeafInfo {
  std::string name;  // the remote server's name
  bool is_spoke = false;
  std::string account;
  std::string ip;
  int port = 0;
  std::chrono::milliseconds rtt{0};
  uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
  size_t subscriptions = 0;
  std::vector<std::string> subscriptions_list;
};

class Leafnodes {
 public:
  Leafnodes(server::Server* srv, Options opts);
  ~Leafnodes();
  Leafnodes(const Leafnodes&) = delete;
  Leafnodes& operator=(const Leafnodes&) = delete;

  // Binds the leafnode port (if listening) and dials the remotes; call after
  // the server has started. Error text on failure.
  std::string Start();
  void Shutdown();
  int bound_port() const { return bound_port_; }
  const Options& options() const { return opts_; }
  // Follows `acc`'s subscriptions from now on (accounts made after Start).
  void AddAccount(server::Account* acc);
  std::vector<LeafInfo> Leafz(bool with_subs);
  size_t count() const;
  size_t count(const server::Account* acc) const;  // of one account

  // -- for Leaf ----------------------------------------------------------------
  server::Server* server() const { return srv_; }
  // Our INFO for an accepted leaf connection.
  std::string InfoLine(uint64_t cid, const std::string& nonce) const;
  // The INFO sent once a leaf's CONNECT is accepted: its bound account,
  // and the permissions of its user, if any (import: what it may take,
  // export: what it may send).
  std::string ConnectInfoLine(uint64_t cid, const std::string& account, const server::Permissions* perms) const;
  // Our CONNECT to a hub; `nonce` from its INFO; error text in *err.
  std::string ConnectLine(const RemoteOptions& r, const std::string& url, const std::string& nonce,
                          bool headers, std::string* err) const;
  // Checks an accepted leaf's CONNECT; the account it binds, or null with
  // the reason in *err.
  // The user's permissions, if it has any, go to *perms.
  server::Account* Authenticate(const nlohmann::json& connect, const std::string& nonce, std::string* err,
                                std::unique_ptr<server::PermissionChecker>* perms);
  // The account `name` (empty = global), made from its JWT in operator mode.
  server::Account* FindAccount(const std::string& name);
  // The loop-detection subject of `acc`.
  std::string LoopSubject(server::Account* acc);
  // A leaf's CONNECT/INFO is done: it starts following its account's
  // subscriptions and announces them.
  void Register(const std::shared_ptr<Leaf>& l);
  // `l` closed: forgotten, and dialled again if it was ours to dial (after
  // `delay`, or the reconnect interval).
  void Closed(Leaf* l, std::chrono::milliseconds delay);
  bool stopping() const { return stopping_; }

 private:
  void Accept();
  // Dials remote `index`, URL `url_index`, after `delay`.
  void Dial(size_t index, size_t url_index, std::chrono::milliseconds delay);
  void OnSubscription(server::Account* acc, const server::Subscription& sub, int delta);

  server::Server* srv_;
  Options opts_;
  asio::io_context* accept_ctx_ = nullptr;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  int bound_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> next_id_{1};

  mutable std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Leaf>> leafs_;                 // all open ones; guarded by mu_
  std::unordered_map<server::Account*, std::vector<Leaf*>> registered_;  // by account; guarded by mu_
  std::unordered_map<server::Account*, std::string> lds_;               // guarded by mu_
  std::vector<size_t> next_url_;  // per remote: the URL to try next; guarded by mu_
  std::vector<int> failures_;     // per remote: failed dials in a row; guarded by mu_
  // Some leaf has registered: until then subscription changes cost nothing.
  std::atomic<bool> have_registered_{false};
};

}  // namespace fjord::leaf
