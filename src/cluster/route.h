#pragma once
// One route: a connection to another server of the cluster, speaking
// nats-server's route protocol (proto/route_parser.h).
//
// Both ends send INFO; the end that dialled also sends CONNECT first. Once
// the peer's INFO is in, the route registers with the Cluster (a second
// route to the same server is closed) and each side sends all of its
// local interest as RS+; from then on RS+/RS- follow subscriptions, and a
// message crosses only where the other side announced interest (RMSG/HMSG).
//
// Threads: like a Client, a route lives on one I/O thread; QueueRoutedMsg,
// QueueRaw and CloseAsync may be called from any.
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/route_parser.h"
#include "server/remote.h"
#include "server/sublist.h"

namespace fjord::server {
class Account;
}

namespace fjord::cluster {

class Cluster;

class Route : public server::Remote, public std::enable_shared_from_this<Route> {
 public:
  // `url` is set for a route this server dialled (the URL it used), empty
  // for one it accepted; `configured` for an explicit route.
  Route(Cluster* cluster, asio::io_context& ctx, asio::ip::tcp::socket socket, uint64_t rid,
        std::string url, bool configured);
  ~Route() override;

  // Owner thread: with route TLS, handshakes first; then sends CONNECT (if
  // dialled) and INFO, and starts reading.
  void Start();

  uint64_t rid() const { return rid_; }
  bool solicited() const { return !url_.empty(); }
  bool configured() const { return configured_; }
  const std::string& url() const { return url_; }
  // Set once the peer's INFO has been taken (owner thread), then fixed.
  std::string remote_id() const;
  // The remote's address and advertised route port, "host:port".
  std::string remote_route_url() const;
  std::vector<std::string> client_urls() const;
  server::RouteInfo Info(bool with_subs);

  // server::Remote
  Kind kind() const override { return Kind::kRoute; }
  void QueueRoutedMsg(std::string_view account, std::string_view subject, std::string_view reply,
                      std::string_view queues, uint32_t hdr_len, std::string_view payload) override;
  void Flush() override;
  bool TryWriteDirect(size_t max) override;
  asio::io_context& context() override { return ctx_; }

  // Thread-safe: queues protocol bytes as they are.
  void QueueRaw(std::string_view bytes);
  // Thread-safe: closes on the owner thread.
  void CloseAsync(const char* reason);
  // Thread-safe: sends a PING after everything queued so far, and runs
  // `done` once its PONG is back (the peer has then processed all of it,
  // interest included) or when the route closes. On the owner thread.
  void Barrier(std::function<void()> done);
  // The dialled URL a duplicate route carried: this route now reconnects
  // to it when it closes (so two servers that each dropped the other's
  // duplicate still end up connected).
  void AdoptUrl(std::string url, bool configured);

 private:
  void Begin();  // after the handshake, if any
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
  server::Account* FindAccount(std::string_view name);
  void OnWrite(const asio::error_code& ec);
  void SendErrAndClose(std::string_view text);
  void CloseNow(const char* reason);
  void ScheduleTick();
  void Tick();
  std::string Tag() const;  // "<ip>:<port> - rid:<n>" for log lines

  Cluster* cluster_;
  asio::io_context& ctx_;
  asio::ip::tcp::socket socket_;
  // Set with route TLS; reads and writes go through it. After socket_,
  // which it refers to.
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  bool handshaking_ = false;  // owner thread: no output until it ends
  asio::steady_timer timer_;
  const uint64_t rid_;
  std::string url_;  // guarded by info_mu_ after Start (AdoptUrl)
  bool configured_;
  std::string ip_;
  int port_ = 0;
  const std::chrono::system_clock::time_point created_ = std::chrono::system_clock::now();
  proto::Limits limits_;

  // Read side (owner thread).
  std::vector<char> rbuf_;
  size_t rstart_ = 0, rend_ = 0;
  bool connect_received_ = false;  // accepted routes: CONNECT checked
  bool info_received_ = false;
  bool registered_ = false;
  bool headers_ = true;  // the peer takes HMSG
  bool closing_ = false, closed_ = false;
  bool close_after_flush_ = false;
  // Remote interest by "account subject[ queue]".
  std::unordered_map<std::string, server::SubPtr> subs_;
  std::atomic<size_t> num_subs_{0};
  // The last account and subject a message came for, and their match.
  std::string last_account_name_;
  server::Account* last_account_ = nullptr;
  std::string last_subject_;
  uint64_t last_gen_ = 0;
  server::MatchPtr last_match_;

  mutable std::mutex info_mu_;
  std::string remote_id_, remote_name_;     // guarded by info_mu_
  bool remote_jetstream_ = false;           // guarded by info_mu_
  std::vector<std::string> remote_tags_;    // its `fjord_tags`; guarded by info_mu_
  std::string remote_route_url_;            // guarded by info_mu_
  std::vector<std::string> client_urls_;    // guarded by info_mu_

  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
  std::atomic<Clock::rep> last_in_{0};
  Clock::time_point next_ping_;
  int pings_out_ = 0;
  // One per PING in flight, in order (peers answer PINGs in order): the
  // Barrier's callback, or an empty one for a keepalive PING.
  std::mutex ping_mu_;
  std::deque<std::function<void()>> ping_waiters_;  // guarded by ping_mu_
  bool pings_closed_ = false;                        // guarded by ping_mu_
  void QueuePing(std::function<void()> done);

  // Write side.
  std::mutex out_mu_;
  std::string out_;               // guarded by out_mu_
  bool flush_scheduled_ = false;  // guarded by out_mu_
  bool writing_ = false;          // guarded by out_mu_
  bool dead_ = false;             // guarded by out_mu_
  // Other threads may write to the socket (TryWriteDirect): a plaintext
  // route, once begun.
  std::atomic<bool> direct_ok_{false};
  std::atomic<Clock::rep> last_out_{0};  // when output last went out
  std::string wbuf_;
  Clock::time_point write_started_;

  std::atomic<uint64_t> in_msgs_{0}, in_bytes_{0};
  uint64_t out_msgs_ = 0, out_bytes_ = 0;  // guarded by out_mu_
};

}  // namespace fjord::cluster
