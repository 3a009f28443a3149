#pragma once
// One leaf-node connection, speaking nats-server's leaf protocol
// (proto/route_parser.h, NextLeaf).
//
// Accepted (we are the hub): we send INFO (with a nonce), the leaf answers
// CONNECT; once it is authenticated and bound to an account we send an
// INFO naming the account, and both sides announce their interest.
// Dialled (we are the leaf): we wait for the hub's INFO, handshake TLS if
// either side wants it, send CONNECT and announce our interest.
//
// Threads: lives on one I/O thread, like a Route; QueueRoutedMsg, QueueRaw,
// OnSubscription and CloseAsync may be called from any.
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

#include "leaf/leafnodes.h"
#include "proto/route_parser.h"
#include "server/config.h"
#include "server/remote.h"
#include "server/sublist.h"

namespace fjord::server {
class Account;
}

namespace fjord::leaf {

class Leaf : public server::Remote, public std::enable_shared_from_this<Leaf> {
 public:
  // `remote` is set for a connection we dialled (remote index `index`,
  // URL `url`), null for one we accepted.
  Leaf(Leafnodes* mgr, asio::io_context& ctx, asio::ip::tcp::socket socket, uint64_t id,
       const RemoteOptions* remote, size_t index, std::string url);
  ~Leaf() override;

  void Start();  // owner thread

  uint64_t id() const { return id_; }
  bool solicited() const { return remote_ != nullptr; }
  size_t remote_index() const { return index_; }
  // We are the spoke of this connection (we dialled a hub, or the other
  // side said it is the hub).
  bool is_spoke() const { return spoke_; }
  server::Account* account() const { return account_; }
  LeafInfo Info(bool with_subs);

  // server::Remote
  Kind kind() const override { return Kind::kLeaf; }
  void QueueRoutedMsg(std::string_view account, std::string_view subject, std::string_view reply,
                      std::string_view queues, uint32_t hdr_len, std::string_view payload) override;
  void Flush() override;
  asio::io_context& context() override { return ctx_; }

  void QueueRaw(std::string_view bytes);
  void CloseAsync(const char* reason);

  // -- for Leafnodes (under the account's sublist lock) ----------------------
  // Counts `sub` in or out of what this connection announces, and sends
  // LS+/LS- when that changes. `send` false while the first announcement
  // is being collected.
  void OnSubscription(const server::Subscription& sub, int delta, bool send);
  // Sends LS+ for everything collected (and the loop-detection subject).
  void SendAllInterest(const std::string& lds);

 private:
  void Begin();
  void StartTls(bool client);
  void OnHandshake(const asio::error_code& ec);
  void DoRead();
  void OnRead(const asio::error_code& ec, size_t n);
  void Process();
  void Dispatch(const proto::RouteCommand& cmd);
  void ProcessConnect(std::string_view json);
  void ProcessInfo(std::string_view json);
  void ProcessSub(const proto::RouteCommand& cmd);
  void ProcessUnsub(const proto::RouteCommand& cmd);
  void ProcessMsg(const proto::RouteCommand& cmd);
  void Registered();
  // Whether messages on `subject` may go to / come from the other side.
  bool SendDenied(std::string_view subject) const;
  bool ReceiveDenied(std::string_view subject) const;
  // Whether `sub` is interest this connection announces.
  bool Announces(const server::Subscription& sub) const;
  void OnWrite(const asio::error_code& ec);
  void SendErrAndClose(std::string_view text, std::chrono::milliseconds redial_delay = {});
  void CloseNow(const char* reason);
  void ScheduleTick();
  void Tick();
  std::string Tag() const;

  Leafnodes* mgr_;
  asio::io_context& ctx_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  bool handshaking_ = false;
  asio::steady_timer timer_;
  const uint64_t id_;
  const RemoteOptions* remote_;
  const size_t index_;
  const std::string url_;
  std::string ip_;
  int port_ = 0;
  proto::Limits limits_;
  std::string nonce_;  // accepted: what we sent; dialled: what the hub sent

  // Set when the CONNECT/INFO exchange is done; fixed after.
  std::atomic<bool> registered_{false};
  server::Account* account_ = nullptr;
  bool spoke_ = false;
  bool headers_ = true;
  // What may cross, besides JetStream's deny list: `in` from the other
  // side (and the interest we announce to it), `out` to it (and the
  // interest we accept from it). On a hub: the leaf user's publish and
  // subscribe permissions and the leaf's deny_pub; on a spoke: the
  // remote's deny_imports/deny_exports, and the permissions the hub sends
  // in INFO (import/export). Replaced, never changed in place: readers on
  // any thread load the pointer; the owner thread keeps every version.
  struct Perms {
    server::PermissionSet in, out;
  };
  std::atomic<const Perms*> perms_{nullptr};
  std::vector<std::unique_ptr<Perms>> perms_owned_;  // owner thread
  void SetPerms(Perms p);
  // The hub's INFO import/export (a spoke): applied, and interest already
  // announced that they no longer allow is withdrawn.
  void ApplyHubPermissions(const nlohmann::json& info);
  std::string lds_;  // our account's loop-detection subject

  // Read side (owner thread).
  std::vector<char> rbuf_;
  size_t rstart_ = 0, rend_ = 0;
  bool connect_received_ = false;
  bool info_received_ = false;
  bool await_connect_info_ = false;  // dialled: CONNECT sent, the hub's answering INFO not in yet
  bool closing_ = false, closed_ = false;
  bool close_after_flush_ = false;
  std::chrono::milliseconds redial_delay_{0};
  std::unordered_map<std::string, server::SubPtr> subs_;  // the other side's interest, by "subject[ queue]"
  std::atomic<size_t> num_subs_{0};
  std::string last_subject_;
  uint64_t last_gen_ = 0;
  server::MatchPtr last_match_;

  mutable std::mutex info_mu_;
  std::string remote_name_, remote_cluster_, remote_domain_, account_name_;  // guarded by info_mu_

  // What we announced: count per "subject[ queue]". Guarded by smap_mu_
  // (and changed only under the account's sublist lock, so in order).
  std::mutex smap_mu_;
  std::unordered_map<std::string, int32_t> smap_;

  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
  std::atomic<Clock::rep> last_in_{0};
  Clock::time_point next_ping_;
  Clock::time_point ping_sent_;
  std::atomic<int64_t> rtt_ms_{0};
  int pings_out_ = 0;

  std::mutex out_mu_;
  std::string out_;               // guarded by out_mu_
  bool flush_scheduled_ = false;  // guarded by out_mu_
  bool writing_ = false;          // guarded by out_mu_
  bool dead_ = false;             // guarded by out_mu_
  std::string wbuf_;
  Clock::time_point write_started_;

  std::atomic<uint64_t> in_msgs_{0}, in_bytes_{0};
  uint64_t out_msgs_ = 0, out_bytes_ = 0;  // guarded by out_mu_
};

}  // namespace fjord::leaf
