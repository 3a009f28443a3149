#pragma once
// One client connection. All of its handlers run on the thread of the
// io_context it was accepted on; only QueueMsg/QueueRaw/CloseAsync may be
// called from other threads.
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/parser.h"
#include "server/account.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/events.h"
#include "server/sublist.h"
#include "websocket/frame.h"
#include "websocket/handshake.h"

namespace fjord::server {

class Server;

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(Server* server, asio::io_context& ctx, asio::ip::tcp::socket socket, uint64_t cid,
         std::shared_ptr<const Config> cfg);
  ~Client();

  // Sends INFO and starts reading. With `reject`, sends the
  // max-connections error right after INFO and closes.
  void Start(bool reject);

  uint64_t cid() const { return cid_; }
  // Accepted on the WebSocket listener (its Config has is_websocket set).
  bool is_websocket() const { return cfg_->is_websocket; }

  // What the monitoring endpoint (/connz, /varz) shows of a connection.
  struct SubInfo {
    std::string subject, queue, sid;
    uint64_t msgs = 0;
  };
  struct Stats {
    uint64_t cid = 0;
    std::string ip;
    int port = 0;
    std::chrono::system_clock::time_point start;
    std::chrono::system_clock::time_point last_activity;
    uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
    uint64_t pending_bytes = 0;
    size_t num_subs = 0;
    std::string name, lang, version;  // from CONNECT
    std::string account, user;
    std::vector<SubInfo> subs;              // only with `with_subs`
  };
  // Thread-safe: takes the connection's locks briefly.
  Stats GetStats(bool with_subs);
  asio::io_context& context() { return ctx_; }
  bool echo() const { return echo_; }
  // The account the connection is in ("$G" until CONNECT names another).
  Account* account() const { return acc_.load(std::memory_order_acquire); }

  // Thread-safe: formats a MSG/HMSG for `sub` into the outbound buffer and
  // marks the connection dirty for the current batch.
  void QueueMsg(const Subscription& sub, std::string_view subject, std::string_view reply,
                uint32_t hdr_len, std::string_view payload);
  // Thread-safe: queues protocol bytes as they are.
  void QueueRaw(std::string_view bytes);
  // Owner thread only: writes what is queued.
  void Flush();
  // Any thread: writes what is queued straight to the socket, without the
  // owner thread, when that is safe (plain TCP, no write in flight) and
  // there are at most `max` bytes. True if nothing is left to write;
  // otherwise the caller has the owner Flush().
  bool TryWriteDirect(size_t max);
  // Thread-safe: closes the connection on its own thread.
  void CloseAsync(const char* reason);
  // Thread-safe: sends `-ERR '<text>'` and closes, on its own thread.
  void ErrAndCloseAsync(std::string text);
  // Owner thread: re-checks the connection's credentials and permissions
  // against a reloaded config; closes it if they no longer pass.
  void Reauthorize(std::shared_ptr<const Config> cfg);
  // Owner thread: sends INFO again (new connect_urls) if the client said
  // it takes INFO updates (CONNECT protocol 1).
  void SendAsyncInfo();
  // Thread-safe: an auto-unsubscribe limit was reached on `sub`.
  void AutoUnsubscribed(const SubPtr& sub);

  // For a bounded queue in a layer above, called from an internal
  // subscription handler (that is, on the I/O thread that routes the
  // publish, inside the publishing connection's read batch): that
  // connection stops reading once the batch is done, until `drained()`
  // returns true (polled every millisecond on its own thread; other
  // connections on the thread go on). On any other thread it has no effect
  // until that thread next finishes a read batch, so a layer that
  // publishes from its own thread must not call it there.
  static void PauseReadingUntil(std::function<bool()> drained);

 private:
  // The rest of Start once the transport is ready (after the WebSocket
  // upgrade for a WebSocket client).
  void Begin(bool reject);
  void DoRead();
  // WebSocket: reads the HTTP upgrade request, answers it, then Begin().
  void ReadUpgrade();
  void OnUpgradeRead(const asio::error_code& ec, size_t n);
  void OnUpgradeWritten(const asio::error_code& ec, bool accepted);
  // WebSocket: decoded bytes for the protocol parser.
  void AppendInput(std::string_view data);
  // Reads into, or writes all of, `buf` through TLS if the connection has
  // it, else on the socket.
  template <typename Handler>
  void ReadSome(asio::mutable_buffer buf, Handler&& done);
  template <typename Handler>
  void WriteAll(asio::const_buffer buf, Handler&& done);
  // TLS: the server side of the handshake; with handshake_first, INFO goes
  // out after it.
  void Handshake();
  void OnHandshake(const asio::error_code& ec);
  // allow_non_tls: peeks at the client's first byte to tell a TLS hello
  // from plain protocol.
  void SniffFirstByte();
  void OnRead(const asio::error_code& ec, size_t n);
  void Process();
  void Dispatch(const proto::Command& cmd);
  void ProcessConnect(std::string_view json);
  void ProcessPub(const proto::Command& cmd);
  void ProcessSub(const proto::Command& cmd);
  void ProcessUnsub(const proto::Command& cmd);
  // Moves the connection into `acc` (at CONNECT), against its connection
  // limit. False (and the connection closing) if the account is full.
  bool BindAccount(Account* acc);
  void RemoveSub(const SubPtr& sub);
  void SendNoResponders(std::string_view reply);
  void SendErr(std::string_view text);
  void SendErrAndClose(std::string_view text);
  // Nothing more is read or queued; the connection closes with `reason`
  // once what is queued has been written.
  void CloseAfterFlush(const char* reason);
  void OnWrite(const asio::error_code& ec);
  void CloseNow(const char* reason);
  void Tick();
  void ScheduleTick();
  // Reads again after the stall time, and once `drained` (if any) holds.
  void ResumeReading(std::function<bool()> drained);
  bool Queue(std::string_view a, std::string_view b = {}, std::string_view c = {});

  Server* server_;
  asio::io_context& ctx_;
  asio::ip::tcp::socket socket_;
  // Set once the connection speaks TLS; reads and writes then go through
  // it. Declared after socket_, which it refers to.
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  bool handshaking_ = false;  // owner thread: no output until it ends
  asio::steady_timer timer_;
  asio::steady_timer stall_timer_;
  const uint64_t cid_;
  std::shared_ptr<const Config> cfg_;
  std::string ip_;
  int port_ = 0;
  const std::chrono::system_clock::time_point created_ = std::chrono::system_clock::now();
  proto::Limits limits_;

  // Read side (owner thread).
  std::vector<char> rbuf_;
  size_t rstart_ = 0, rend_ = 0;
  size_t read_size_ = 512;  // the buffer size reads currently ask for
  size_t offered_ = 0;      // free bytes the pending read was given
  int short_reads_ = 0;     // consecutive reads that used under half of it
  bool connected_ = false;
  bool auth_required_ = false;
  bool verbose_ = false;  // until CONNECT: see Start()
  bool pedantic_ = false;
  bool echo_ = true;
  bool headers_ = false;
  bool no_responders_ = false;
  bool async_info_ = false;
  bool closing_ = false;  // no more input is processed
  bool closed_ = false;
  std::unique_ptr<PermissionChecker> perms_;
  // Written on the owner thread (at CONNECT); the monitor reads it.
  std::atomic<Account*> acc_;
  bool acc_counted_ = false;  // counted in acc_->connections
  Credentials creds_;  // from CONNECT, for re-checks on reload
  int64_t auth_expires_ = 0;  // unix seconds the credentials lapse at; 0 = never
  std::string nonce_;  // sent in INFO for nkey users to sign; empty if none
  std::string last_subject_;
  uint64_t last_gen_ = 0;
  MatchPtr last_match_;
  std::unordered_map<std::string, SubPtr> subs_;  // by sid; guarded by subs_mu_
  std::mutex subs_mu_;

  // Keep-alive and deadlines (owner thread).
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
  // Time of the last read, in Clock ticks; atomic because the monitor reads
  // it from its own thread (0 until Start).
  std::atomic<Clock::rep> last_in_{0};
  Clock::time_point LastIn() const {
    return Clock::time_point(Clock::duration(last_in_.load(std::memory_order_relaxed)));
  }
  void NoteInput(Clock::time_point t) { last_in_.store(t.time_since_epoch().count(), std::memory_order_relaxed); }
  // CONNECT's name, lang and version, for the monitor.
  std::mutex info_mu_;
  std::string name_, lang_, version_;  // guarded by info_mu_
  std::string user_;                   // guarded by info_mu_: who authenticated
  // The connection's event for the system account.
  ConnectionEvent Event(bool connect, const char* reason);
  Clock::time_point next_ping_;
  int pings_out_ = 0;

  // WebSocket (owner thread).
  bool ws_upgrading_ = false;  // no output until the upgrade is answered
  bool reject_ = false;        // Start's `reject`, held over the upgrade
  std::string ws_head_;        // the upgrade request so far
  std::string ws_reply_;       // the upgrade response being written
  websocket::Upgrade ws_upgrade_;
  std::unique_ptr<websocket::Session> ws_;  // set once upgraded
  std::vector<char> ws_in_;    // frames as read
  std::string ws_wbuf_;        // frames being written

  // Write side.
  std::mutex out_mu_;
  std::string out_;          // guarded by out_mu_
  bool flush_scheduled_ = false;  // guarded by out_mu_
  bool writing_ = false;          // guarded by out_mu_
  bool slow_ = false;             // guarded by out_mu_
  bool dead_ = false;             // guarded by out_mu_: drop further output
  std::string wbuf_;  // owner thread: bytes being written
  // Set once the connection is plain TCP for good (no TLS, no WebSocket):
  // TryWriteDirect may then write from other threads.
  std::atomic<bool> direct_ok_{false};
  // When output last went to the socket (Clock ticks).
  std::atomic<Clock::rep> last_out_{0};
  Clock::time_point write_started_;
  bool close_after_flush_ = false;
  const char* close_reason_ = "";  // for close_after_flush_

  // Counters (read side: written by the owner thread only, read by the
  // monitor, hence atomics updated with load+store rather than a locked
  // read-modify-write; write side: under out_mu_).
  std::atomic<uint64_t> in_msgs_{0}, in_bytes_{0};
  uint64_t out_msgs_ = 0, out_bytes_ = 0;
};

}  // namespace fjord::server
