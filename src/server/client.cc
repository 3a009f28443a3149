#include "server/client.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "tls/tls.h"
#include "server/direct_write.h"
#include "server/operator.h"
#include "server/server.h"

namespace fjord::server {
namespace {

// Read buffer sizing, as nats-server's: a connection starts small, doubles
// the buffer while reads fill it and halves it after a few short reads, so
// an idle connection holds 512 bytes and a busy publisher 64 KiB (more only
// while one message needs it).
constexpr size_t kMinReadBuf = 512;
constexpr size_t kMaxReadBuf = 64 * 1024;
constexpr int kShortReadsToShrink = 2;
// Past this much pending output for one subscriber, the publishing
// connection pauses reading briefly, so a fast producer cannot grow a slow
// subscriber's buffer towards max_pending (and our memory with it). It
// bounds memory, not delivery: the kernel's socket buffers keep a reading
// subscriber fed. At 4 MiB the queued and in-flight strings of one
// subscriber reached 8 MiB of capacity each, and pubsub/fanout made the
// server's peak RSS on the referee bench (58-75 MiB); at 1 MiB that peak
// is about 25 MiB with the same rates and CPU. (Waiting for the subscriber
// to drain, as nats-server does, bounded it a little better but cost
// 10-15% more server CPU in queue and pubsub.)
constexpr size_t kStallPending = 1024 * 1024;
constexpr auto kStallTime = std::chrono::milliseconds(1);
constexpr size_t kKeepWriteCapacity = 1024 * 1024;
// After a read of at most this size, output up to this size is written by
// the reading thread even to connections of other threads
// (Client::TryWriteDirect): a request or a reply gets to its socket without
// waking that thread. Bulk reads leave the writes to the owners, which
// keeps them spread over the I/O threads.
constexpr size_t kDirectWriteMax = 2 * 1024;

// Set by PauseReadingUntil during a read batch, taken at its end.
thread_local std::function<bool()> t_pause_until;

// Appends a decimal number.
inline void AppendNum(std::string& s, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  s.append(buf, r.ptr);
}

}  // namespace

Client::Client(Server* server, asio::io_context& ctx, asio::ip::tcp::socket socket, uint64_t cid,
               std::shared_ptr<const Config> cfg)
    : server_(server),
      ctx_(ctx),
      socket_(std::move(socket)),
      timer_(ctx),
      stall_timer_(ctx),
      cid_(cid),
      cfg_(std::move(cfg)),
      acc_(&server->global_account()) {
  limits_.max_control_line = size_t(cfg_->max_control_line);
  limits_.max_payload = cfg_->max_payload;
  asio::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) {
    ip_ = ep.address().to_string();
    port_ = ep.port();
  }
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

Client::~Client() = default;

void Client::Start(bool reject) {
  if (is_websocket()) {
    // The HTTP upgrade (after TLS, for wss://) comes before INFO; a
    // connection over the limit is refused inside the WebSocket, where the
    // client can read why.
    reject_ = reject;
    ws_upgrading_ = true;
    start_ = Clock::now();
    NoteInput(start_);
    next_ping_ = start_ + std::chrono::milliseconds(cfg_->websocket.handshake_timeout_ms);
    ScheduleTick();
    if (cfg_->tls) {
      Handshake();
    } else {
      ReadUpgrade();
    }
    return;
  }
  Begin(reject);
}

void Client::Begin(bool reject) {
  auth_required_ = AuthRequired(*cfg_);
  // nats-server pre-fills verbose and pedantic as true before CONNECT.
  verbose_ = true;
  pedantic_ = true;
  start_ = Clock::now();
  NoteInput(start_);
  auto first_ping = std::min<int64_t>(cfg_->ping_interval_ms, 2000);
  next_ping_ = start_ + std::chrono::milliseconds(first_ping);
  if (NonceRequired(*cfg_)) nonce_ = NewNonce();
  // A rejected connection gets INFO and the error in plaintext, TLS or not.
  // A WebSocket client's TLS was done before the upgrade.
  bool tls = cfg_->tls && !reject && !ws_;
  // With TLS, INFO in plaintext says tls_required (or tls_available) and
  // the client starts its handshake when it has read it; handshake_first
  // sends INFO after the handshake instead (OnHandshake).
  if (!tls || !cfg_->tls_handshake_first) Queue(server_->InfoLine(cid_, ip_, nonce_, is_websocket()));
  if (reject) {
    log::Warn("{}:{} - cid:{} - maximum connections exceeded", ip_, 0, cid_);
    SendErrAndClose("maximum connections exceeded");
    Server::FlushDirty();
    return;
  }
  log::Debug("{} - cid:{} - Client connection created", ip_, cid_);
  Server::FlushDirty();  // before Handshake(), so INFO goes out in plaintext
  ScheduleTick();
  if (!tls) {
    // Plain TCP: other threads may write to the socket themselves.
    if (!ws_ && !reject) direct_ok_.store(true, std::memory_order_release);
    DoRead();
  } else if (cfg_->allow_non_tls && !cfg_->tls_handshake_first) {
    SniffFirstByte();
  } else {
    Handshake();
  }
}

// --- TLS ---------------------------------------------------------------------

void Client::Handshake() {
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *cfg_->tls);
  handshaking_ = true;
  auto self = shared_from_this();
  tls_->async_handshake(asio::ssl::stream_base::server,
                        [self](const asio::error_code& ec) { self->OnHandshake(ec); });
}

void Client::OnHandshake(const asio::error_code& ec) {
  if (closed_) return;
  handshaking_ = false;
  if (ec) {
    // Plaintext on a TLS port, a wrong CA, an expired certificate...: what
    // OpenSSL says, on this connection only.
    log::Error("{}:{} - cid:{} - TLS handshake error: {}", ip_, port_, cid_, ec.message());
    CloseNow("TLS Handshake Failure");
    return;
  }
  X509* peer = SSL_get0_peer_certificate(tls_->native_handle());
  if (!cfg_->tls_pinned.empty()) {
    std::string h = tls::SpkiSha256(peer);
    const auto& pins = cfg_->tls_pinned;
    if (h.empty() || std::find(pins.begin(), pins.end(), h) == pins.end()) {
      log::Error("{}:{} - cid:{} - TLS handshake error: client certificate not in pinned_certs",
                 ip_, port_, cid_);
      CloseNow("TLS Handshake Failure");
      return;
    }
  }
  if (cfg_->tls_map) creds_.cert_ids = tls::Identities(peer);
  log::Debug("{} - cid:{} - TLS handshake complete ({}, {})", ip_, cid_,
             SSL_get_version(tls_->native_handle()), SSL_get_cipher_name(tls_->native_handle()));
  if (ws_upgrading_) {
    ReadUpgrade();
    return;
  }
  if (cfg_->tls_handshake_first) Queue(server_->InfoLine(cid_, ip_, nonce_, is_websocket()));
  Flush();
  Server::FlushDirty();
  DoRead();
}

void Client::SniffFirstByte() {
  auto self = shared_from_this();
  socket_.async_wait(asio::socket_base::wait_read, [self](const asio::error_code& ec) {
    if (self->closed_) return;
    if (ec) {
      self->CloseNow("Read Error");
      return;
    }
    unsigned char b = 0;
    asio::error_code rec;
    size_t n = self->socket_.receive(asio::buffer(&b, 1), asio::socket_base::message_peek, rec);
    if (rec == asio::error::would_block || rec == asio::error::try_again) {
      self->SniffFirstByte();
      return;
    }
    if (rec || n == 0) {
      self->CloseNow("Client Closed");
      return;
    }
    if (tls::LooksLikeTls(b)) {
      self->Handshake();
    } else {
      self->direct_ok_.store(true, std::memory_order_release);
      self->DoRead();
    }
  });
}

// --- WebSocket upgrade -------------------------------------------------------

namespace {

// nats-server's close status for why a connection ends.
uint16_t CloseCodeFor(std::string_view reason) {
  if (reason == "Maximum Payload Violation") return websocket::kCloseMessageTooBig;
  if (reason == "Unknown Protocol Operation" || reason == "invalid client protocol") {
    return websocket::kCloseProtocolError;
  }
  if (reason == "Server Shutdown" || reason == "Stale Connection") return websocket::kCloseGoingAway;
  return websocket::kClosePolicyViolation;
}

}  // namespace

template <typename Handler>
void Client::ReadSome(asio::mutable_buffer buf, Handler&& done) {
  if (tls_) {
    tls_->async_read_some(buf, std::forward<Handler>(done));
  } else {
    socket_.async_read_some(buf, std::forward<Handler>(done));
  }
}

template <typename Handler>
void Client::WriteAll(asio::const_buffer buf, Handler&& done) {
  if (tls_) {
    asio::async_write(*tls_, buf, std::forward<Handler>(done));
  } else {
    asio::async_write(socket_, buf, std::forward<Handler>(done));
  }
}

void Client::ReadUpgrade() {
  if (closed_) return;
  ws_in_.resize(1024);
  auto self = shared_from_this();
  ReadSome(asio::buffer(ws_in_.data(), ws_in_.size()),
           [self](const asio::error_code& ec, size_t n) { self->OnUpgradeRead(ec, n); });
}

void Client::OnUpgradeRead(const asio::error_code& ec, size_t n) {
  if (closed_) return;
  if (ec) {
    CloseNow("Client Closed");
    return;
  }
  ws_head_.append(ws_in_.data(), n);
  auto r = websocket::ProcessRequest(ws_head_, *cfg_->websocket.handshake);
  using State = websocket::HandshakeResult::State;
  if (r.state == State::kIncomplete) {
    ReadUpgrade();
    return;
  }
  bool accepted = r.state == State::kAccepted;
  if (accepted && r.used != ws_head_.size()) {
    // As nats-server: frames may follow only once the client has read 101.
    accepted = false;
    r.error = "client sent data before handshake is complete";
    r.response = "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n";
  }
  if (!accepted) log::Error("{}:{} - cid:{} - websocket handshake error: {}", ip_, port_, cid_, r.error);
  std::string().swap(ws_head_);
  std::vector<char>().swap(ws_in_);
  ws_upgrade_ = std::move(r.upgrade);
  ws_reply_ = std::move(r.response);
  auto self = shared_from_this();
  WriteAll(asio::buffer(ws_reply_),
           [self, accepted](const asio::error_code& wec, size_t) { self->OnUpgradeWritten(wec, accepted); });
}

void Client::OnUpgradeWritten(const asio::error_code& ec, bool accepted) {
  if (closed_) return;
  std::string().swap(ws_reply_);
  if (ec || !accepted) {
    CloseNow(ec ? "Write Error" : "WebSocket Handshake Error");
    return;
  }
  websocket::SessionOptions so;
  so.compress = ws_upgrade_.compress;
  so.require_mask = !ws_upgrade_.no_masking;
  so.max_frame = ws_upgrade_.browser ? 4096 : 0;
  so.no_compressed_fragments = ws_upgrade_.no_compressed_fragments;
  so.max_payload = size_t(cfg_->max_payload);
  ws_ = std::make_unique<websocket::Session>(so);
  ws_upgrading_ = false;
  // Behind a proxy, the client's own address (as nats-server shows it).
  if (!ws_upgrade_.forwarded_for.empty()) ip_ = ws_upgrade_.forwarded_for;
  log::Debug("{} - cid:{} - websocket upgrade complete (compression {})", ip_, cid_, so.compress ? "on" : "off");
  Begin(reject_);
}

void Client::AppendInput(std::string_view data) {
  if (closing_ || closed_) return;
  if (rbuf_.size() - rend_ < data.size()) {
    if (rstart_ > 0) {
      std::memmove(rbuf_.data(), rbuf_.data() + rstart_, rend_ - rstart_);
      rend_ -= rstart_;
      rstart_ = 0;
    }
    if (rbuf_.size() - rend_ < data.size()) rbuf_.resize(std::max(rend_ + data.size(), read_size_));
  }
  std::memcpy(rbuf_.data() + rend_, data.data(), data.size());
  rend_ += data.size();
  // A large message decoded at once: parse as it comes, so the buffer
  // holds about one protocol message rather than the whole WebSocket one.
  if (rend_ - rstart_ >= kMaxReadBuf) Process();
}

// --- reading -----------------------------------------------------------------

void Client::DoRead() {
  if (closed_ || closing_) return;
  auto self = shared_from_this();
  auto done = [self](const asio::error_code& ec, size_t n) { self->OnRead(ec, n); };
  if (ws_) {
    // Frames are read into their own buffer and decoded into rbuf_.
    if (rstart_ == rend_ && rbuf_.size() > kMaxReadBuf) std::vector<char>().swap(rbuf_);
    if (ws_in_.size() != read_size_) std::vector<char>(read_size_).swap(ws_in_);
    offered_ = ws_in_.size();
    ReadSome(asio::buffer(ws_in_.data(), offered_), std::move(done));
    return;
  }
  if (rstart_ == rend_) {
    rstart_ = rend_ = 0;
    // Empty: take the size reads have asked for (this also gives back a
    // buffer that grew for one large message).
    if (rbuf_.size() != read_size_) std::vector<char>(read_size_).swap(rbuf_);
  } else {
    if (rstart_ > 0 && rbuf_.size() - rend_ < rbuf_.size() / 2) {
      std::memmove(rbuf_.data(), rbuf_.data() + rstart_, rend_ - rstart_);
      rend_ -= rstart_;
      rstart_ = 0;
    }
    // A message larger than the buffer: room for the rest of it.
    if (rend_ == rbuf_.size()) {
      rbuf_.resize(std::max(read_size_, rbuf_.size() * 2));
    } else if (rbuf_.size() < read_size_) {
      rbuf_.resize(read_size_);
    }
  }
  offered_ = rbuf_.size() - rend_;
  ReadSome(asio::buffer(rbuf_.data() + rend_, offered_), std::move(done));
}

void Client::OnRead(const asio::error_code& ec, size_t n) {
  Server::ReadBatch batch;
  if (closed_) return;
  if (ec) {
    // A TLS peer that goes without close_notify is a plain close too.
    bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
    CloseNow(eof ? "Client Closed" : "Read Error");
    return;
  }
  if (n == offered_ && read_size_ < kMaxReadBuf) {
    read_size_ *= 2;
    short_reads_ = 0;
  } else if (n < offered_ / 2 && read_size_ > kMinReadBuf) {
    if (++short_reads_ > kShortReadsToShrink) {
      read_size_ /= 2;
      short_reads_ = 0;
    }
  } else {
    short_reads_ = 0;
  }
  NoteInput(Clock::now());
  if (ws_) {
    auto st = ws_->Read(ws_in_.data(), n, [this](std::string_view d) { AppendInput(d); });
    Process();
    if (st != websocket::Session::Status::kOk) {
      if (st == websocket::Session::Status::kError) {
        log::Error("{} - cid:{} - websocket protocol error: {}", ip_, cid_, ws_->error());
      }
      // The close frame (ours, or the echo of the client's) is queued, so
      // this flush writes it after what is queued, then the connection ends.
      CloseAfterFlush(st == websocket::Session::Status::kClosed ? "Client Closed" : "Protocol Error");
      Flush();
      Server::FlushDirty();
      return;
    }
  } else {
    rend_ += n;
    Process();
  }
  // A small read is a request, a reply, an ack: its output goes straight
  // out. A large one is bulk traffic.
  Server::FlushDirty(n <= kDirectWriteMax ? kDirectWriteMax : 0);
  bool stall = Server::TakeStall();
  std::function<bool()> drained = std::move(t_pause_until);
  t_pause_until = nullptr;
  if (stall || drained) {
    ResumeReading(std::move(drained));
    return;
  }
  DoRead();
}

void Client::PauseReadingUntil(std::function<bool()> drained) { t_pause_until = std::move(drained); }

void Client::ResumeReading(std::function<bool()> drained) {
  auto self = shared_from_this();
  stall_timer_.expires_after(kStallTime);
  stall_timer_.async_wait([self, drained = std::move(drained)](const asio::error_code& ec) mutable {
    // Cancelled means closing: DoRead then does nothing.
    if (!ec && !self->closed_ && drained && !drained()) {
      self->ResumeReading(std::move(drained));
      return;
    }
    self->DoRead();
  });
}

void Client::Process() {
  while (rstart_ < rend_ && !closing_ && !closed_) {
    proto::Command cmd;
    size_t used = 0;
    auto st = proto::Next(rbuf_.data() + rstart_, rend_ - rstart_, limits_, &cmd, &used);
    if (st == proto::Status::kIncomplete) break;
    switch (st) {
      case proto::Status::kOk:
        break;
      case proto::Status::kUnknownOp:
        SendErrAndClose("Unknown Protocol Operation");
        return;
      case proto::Status::kControlLine:
        SendErrAndClose("maximum control line exceeded");
        return;
      case proto::Status::kMaxPayload:
        SendErrAndClose("Maximum Payload Violation");
        return;
      default:
        CloseNow("Protocol Error");
        return;
    }
    rstart_ += used;
    Dispatch(cmd);
  }
  if (rstart_ == rend_) rstart_ = rend_ = 0;
}

void Client::Dispatch(const proto::Command& cmd) {
  using proto::Op;
  if (auth_required_ && !connected_ && cmd.op != Op::kConnect) {
    SendErrAndClose("Authorization Violation");
    return;
  }
  switch (cmd.op) {
    case Op::kConnect:
      ProcessConnect(cmd.json);
      break;
    case Op::kPub:
    case Op::kHPub:
      ProcessPub(cmd);
      break;
    case Op::kSub:
      ProcessSub(cmd);
      break;
    case Op::kUnsub:
      ProcessUnsub(cmd);
      break;
    case Op::kPing:
      Queue("PONG\r\n");
      break;
    case Op::kPong:
      pings_out_ = 0;
      break;
    case Op::kErr:
      CloseNow("Client sent -ERR");
      break;
    case Op::kInfo:
    case Op::kOk:
    case Op::kNone:
      break;
  }
}

void Client::ProcessConnect(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    CloseNow("Invalid CONNECT");
    return;
  }
  auto get_bool = [&](const char* k, bool def) {
    auto it = j.find(k);
    return (it != j.end() && it->is_boolean()) ? it->get<bool>() : def;
  };
  auto get_str = [&](const char* k) {
    auto it = j.find(k);
    return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
  };
  verbose_ = get_bool("verbose", true);
  pedantic_ = get_bool("pedantic", true);
  echo_ = get_bool("echo", true);
  headers_ = get_bool("headers", false) && !cfg_->no_header_support;
  no_responders_ = get_bool("no_responders", false);
  {
    std::lock_guard lock(info_mu_);
    name_ = get_str("name");
    lang_ = get_str("lang");
    version_ = get_str("version");
  }
  int64_t protocol = 0;
  if (auto it = j.find("protocol"); it != j.end() && it->is_number_integer()) protocol = it->get<int64_t>();
  if (protocol < 0 || protocol > 1) {
    SendErrAndClose("invalid client protocol");
    return;
  }
  async_info_ = protocol >= 1;
  if (!get_str("account").empty() || !get_str("new_account").empty()) {
    SendErrAndClose("Authorization Violation");
    return;
  }
  if (auth_required_) {
    auto cert_ids = std::move(creds_.cert_ids);  // from the handshake
    creds_ = Credentials{get_str("auth_token"), get_str("user"), get_str("pass"), get_str("nkey"),
                         get_str("sig"), nonce_, std::move(cert_ids), get_str("jwt")};
    if (ws_) {
      creds_.connection_type = "WEBSOCKET";
      // `websocket { jwt_cookie, user_cookie, ... }`: what a browser cannot
      // put in CONNECT comes from its cookies.
      auto fill = [](std::string& field, const std::string& cookie) {
        if (field.empty()) field = cookie;
      };
      fill(creds_.jwt, ws_upgrade_.cookie_jwt);
      fill(creds_.user, ws_upgrade_.cookie_user);
      fill(creds_.pass, ws_upgrade_.cookie_pass);
      fill(creds_.token, ws_upgrade_.cookie_token);
    }
    AuthResult r = server_->op() ? server_->op()->Authenticate(creds_) : Authenticate(*cfg_, creds_);
    if (!r.ok) {
      log::Error("{} - cid:{} - authentication error", ip_, cid_);
      SendErrAndClose("Authorization Violation");
      return;
    }
    perms_ = std::move(r.permissions);
    auth_expires_ = r.expires;
    {
      std::lock_guard lock(info_mu_);
      user_ = r.user;
    }
    Account* acc = r.account.empty() ? &server_->global_account() : server_->LookupAccount(r.account);
    if (!acc) {
      log::Error("{} - cid:{} - account \"{}\" does not exist", ip_, cid_, r.account);
      SendErrAndClose("Authorization Violation");
      return;
    }
    if (!BindAccount(acc)) return;
  } else if (!BindAccount(&server_->global_account())) {
    return;
  }
  if (no_responders_ && !headers_) {
    SendErrAndClose("no responders requires headers support");
    return;
  }
  connected_ = true;
  // Credentials that lapse before the next PING need their own wake-up.
  if (auth_expires_ != 0) ScheduleTick();
  if (verbose_) Queue("+OK\r\n");
  server_->NotifyConnection(Event(true, ""));
}

ConnectionEvent Client::Event(bool connect, const char* reason) {
  auto s = GetStats(false);
  ConnectionEvent ev;
  ev.connect = connect;
  ev.cid = cid_;
  ev.ip = ip_;
  ev.account = s.account;
  ev.user = s.user;
  ev.name = s.name;
  ev.lang = s.lang;
  ev.version = s.version;
  ev.start = created_;
  ev.stop = std::chrono::system_clock::now();
  ev.reason = reason;
  ev.in_msgs = s.in_msgs;
  ev.in_bytes = s.in_bytes;
  ev.out_msgs = s.out_msgs;
  ev.out_bytes = s.out_bytes;
  return ev;
}

void Client::ProcessPub(const proto::Command& cmd) {
  if (cmd.op == proto::Op::kHPub && !headers_) {
    CloseNow("Headers not negotiated");
    return;
  }
  in_msgs_.store(in_msgs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  in_bytes_.store(in_bytes_.load(std::memory_order_relaxed) + cmd.payload.size(),
                  std::memory_order_relaxed);
  if (pedantic_ && !proto::ValidLiteralSubject(cmd.subject)) {
    SendErr("Invalid Publish Subject");
    return;
  }
  // The servers' own traffic (ServersOnly): no client may forge it, not
  // even a system account user, nor have a service answer into it.
  if ((perms_ && !perms_->CanPublish(cmd.subject)) || ServersOnly(cmd.subject)) {
    SendErr(fmt::format("Permissions Violation for Publish to \"{}\"", cmd.subject));
    return;
  }
  if (ServersOnly(cmd.reply)) {
    SendErr(fmt::format("Permissions Violation for Publish with Reply of \"{}\"", cmd.reply));
    return;
  }
  if (verbose_) Queue("+OK\r\n");
  Account* acc = account();
  std::string_view subject = cmd.subject;
  std::optional<std::string> mapped;
  // `mappings` apply after the publish permission, which is the client's
  // subject's (as nats-server).
  if (acc->has_mappings() && (mapped = acc->Map(subject))) subject = *mapped;
  // Publishers tend to repeat a subject: remember the last match, valid
  // while the index has not changed, and skip even the cache's hashing.
  Sublist& sl = acc->sublist();
  uint64_t gen = sl.generation();
  if (gen != last_gen_ || subject != last_subject_) {
    last_match_ = sl.Match(subject);
    last_subject_.assign(subject);
    last_gen_ = gen;
  }
  size_t n = server_->Route(this, *last_match_, acc->name(), subject, cmd.reply, cmd.hdr_len, cmd.payload);
  if (n == 0 && no_responders_ && !cmd.reply.empty()) SendNoResponders(cmd.reply);
}

void Client::SendNoResponders(std::string_view reply) {
  // Only to a plain subscription of this same connection that would receive
  // the reply.
  auto r = account()->sublist().Match(reply);
  for (const auto& s : r->psubs) {
    if (s->client.get() != this || s->closed) continue;
    static constexpr std::string_view kHdr = "NATS/1.0 503\r\n\r\n";
    QueueMsg(*s, reply, {}, uint32_t(kHdr.size()), kHdr);
    return;
  }
}

void Client::ProcessSub(const proto::Command& cmd) {
  if (!proto::ValidSubscribeSubject(cmd.subject) ||
      (!cmd.queue.empty() && !proto::ValidLiteralSubject(cmd.queue))) {
    SendErr("Invalid Subject");
    return;
  }
  if (perms_ && !perms_->CanSubscribe(cmd.subject)) {
    if (cmd.queue.empty()) {
      SendErr(fmt::format("Permissions Violation for Subscription to \"{}\"", cmd.subject));
    } else {
      SendErr(fmt::format("Permissions Violation for Subscription to \"{}\" using queue \"{}\"",
                          cmd.subject, cmd.queue));
    }
    return;
  }
  Account* acc = account();
  SubPtr sub;
  {
    std::lock_guard lock(subs_mu_);
    if (subs_.count(std::string(cmd.sid))) {
      if (verbose_) Queue("+OK\r\n");
      return;
    }
    if ((cfg_->max_subscriptions > 0 && int64_t(subs_.size()) >= cfg_->max_subscriptions) ||
        (acc->max_subscriptions() >= 0 &&
         acc->subscriptions.load(std::memory_order_relaxed) >= acc->max_subscriptions())) {
      SendErr("maximum subscriptions exceeded");
      return;
    }
    sub = std::make_shared<Subscription>();
    sub->client = shared_from_this();
    sub->subject = cmd.subject;
    sub->queue = cmd.queue;
    sub->sid = cmd.sid;
    subs_.emplace(sub->sid, sub);
  }
  acc->sublist().Insert(sub);
  acc->subscriptions.fetch_add(1, std::memory_order_relaxed);
  acc->NotifySubscribed(sub->subject);
  if (verbose_) Queue("+OK\r\n");
}

void Client::ProcessUnsub(const proto::Command& cmd) {
  SubPtr sub;
  {
    std::lock_guard lock(subs_mu_);
    auto it = subs_.find(std::string(cmd.sid));
    if (it != subs_.end()) {
      sub = it->second;
      uint64_t max = uint64_t(cmd.max_msgs);
      if (max > 0 && max > sub->delivered.load()) {
        sub->max.store(max);
        sub = nullptr;  // stays until the limit is reached
      } else {
        subs_.erase(it);
      }
    }
  }
  if (sub) RemoveSub(sub);
  if (verbose_) Queue("+OK\r\n");
}

void Client::Reauthorize(std::shared_ptr<const Config> cfg) {
  // cfg_ itself stays: other threads read its limits without a lock, and a
  // connection keeps the limits it was accepted with.
  if (closed_ || closing_ || !connected_) return;
  if (!AuthRequired(*cfg)) {
    perms_.reset();
    return;
  }
  AuthResult r = server_->op() ? server_->op()->Authenticate(creds_) : Authenticate(*cfg, creds_);
  if (!r.ok && server_->op()) {
    log::Error("{} - cid:{} - credentials no longer valid (account JWT updated)", ip_, cid_);
    SendErrAndClose("Authentication Revoked");
    Server::FlushDirty();
    return;
  }
  if (!r.ok) {
    log::Error("{} - cid:{} - authorization revoked by configuration reload", ip_, cid_);
    SendErrAndClose("Authorization Violation");
    Server::FlushDirty();
    return;
  }
  if (r.account.empty() ? account() != &server_->global_account() : r.account != account()->name()) {
    // Its subscriptions and in-flight requests belong to the old account:
    // the client reconnects into the new one.
    log::Error("{} - cid:{} - account changed by configuration reload", ip_, cid_);
    SendErrAndClose("Authorization Violation");
    Server::FlushDirty();
    return;
  }
  perms_ = std::move(r.permissions);
}

void Client::RemoveSub(const SubPtr& sub) {
  sub->closed = true;
  Account* acc = account();
  if (acc->sublist().Remove(sub)) acc->subscriptions.fetch_sub(1, std::memory_order_relaxed);
}

bool Client::BindAccount(Account* acc) {
  if (acc != account()) {
    // Subscriptions made before CONNECT (possible only without
    // authorization, hence in "$G") would otherwise stay in the old index.
    std::vector<SubPtr> subs;
    {
      std::lock_guard lock(subs_mu_);
      for (auto& [sid, sub] : subs_) subs.push_back(sub);
    }
    for (auto& sub : subs) {
      if (account()->sublist().Remove(sub)) account()->subscriptions.fetch_sub(1, std::memory_order_relaxed);
      acc->sublist().Insert(sub);
      acc->subscriptions.fetch_add(1, std::memory_order_relaxed);
    }
    last_match_.reset();
    last_gen_ = 0;
  }
  if (!acc_counted_) {
    int64_t limit = acc->max_connections();
    if (limit >= 0 && acc->connections.load() >= limit) {
      log::Warn("{} - cid:{} - maximum account active connections exceeded for {}", ip_, cid_, acc->name());
      SendErrAndClose("maximum account active connections exceeded");
      return false;
    }
    acc->connections.fetch_add(1);
    acc_counted_ = true;
  } else if (acc != account()) {
    account()->connections.fetch_sub(1);
    acc->connections.fetch_add(1);
  }
  acc_.store(acc, std::memory_order_release);
  if (acc->max_payload() >= 0 && acc->max_payload() < limits_.max_payload) {
    limits_.max_payload = acc->max_payload();
  }
  return true;
}

void Client::AutoUnsubscribed(const SubPtr& sub) {
  RemoveSub(sub);
  std::lock_guard lock(subs_mu_);
  auto it = subs_.find(sub->sid);
  if (it != subs_.end() && it->second == sub) subs_.erase(it);
}

// --- writing -----------------------------------------------------------------

bool Client::Queue(std::string_view a, std::string_view b, std::string_view c) {
  bool schedule = false;
  {
    std::lock_guard lock(out_mu_);
    if (dead_) return false;
    out_.append(a);
    out_.append(b);
    out_.append(c);
    if (!flush_scheduled_) schedule = flush_scheduled_ = true;
  }
  if (schedule) Server::MarkDirty(shared_from_this());
  return true;
}

void Client::QueueRaw(std::string_view bytes) { Queue(bytes); }

void Client::QueueMsg(const Subscription& sub, std::string_view subject, std::string_view reply,
                      uint32_t hdr_len, std::string_view payload) {
  if (perms_ && perms_->HasSubscribeDeny() && perms_->DeliveryDenied(subject)) return;
  bool with_headers = hdr_len > 0 && headers_;
  std::string_view body = payload;
  if (hdr_len > 0 && !headers_) body = payload.substr(hdr_len);
  bool schedule = false;
  bool slow = false;
  {
    std::lock_guard lock(out_mu_);
    if (dead_) return;
    std::string& o = out_;
    o.append(with_headers ? "HMSG " : "MSG ");
    o.append(subject);
    o.push_back(' ');
    o.append(sub.sid);
    o.push_back(' ');
    if (!reply.empty()) {
      o.append(reply);
      o.push_back(' ');
    }
    if (with_headers) {
      AppendNum(o, hdr_len);
      o.push_back(' ');
    }
    AppendNum(o, body.size());
    o.append("\r\n", 2);
    o.append(body);
    o.append("\r\n", 2);
    ++out_msgs_;
    out_bytes_ += body.size();
    if (int64_t(o.size()) > cfg_->max_pending) {
      slow = slow_ = dead_ = true;
      o.clear();
    } else {
      if (!flush_scheduled_) schedule = flush_scheduled_ = true;
      if (o.size() > kStallPending) Server::StallProducer();
    }
  }
  if (slow) {
    server_->stats().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    log::Info("{} - cid:{} - Slow Consumer Detected: MaxPending of {} Exceeded", ip_, cid_,
              cfg_->max_pending);
    CloseAsync("Slow Consumer (Pending Bytes)");
    return;
  }
  if (schedule) Server::MarkDirty(const_cast<Client*>(this)->shared_from_this());
}

void Client::Flush() {
  // Nothing goes out in the middle of a handshake; OnHandshake flushes.
  if (closed_ || handshaking_ || ws_upgrading_) return;
  std::unique_lock lock(out_mu_);
  flush_scheduled_ = false;
  bool control = ws_ && ws_->HasControl();
  if (writing_ || (out_.empty() && !control)) return;
  std::swap(out_, wbuf_);
  writing_ = true;
  lock.unlock();
  last_out_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  if (ws_) {
    // One WebSocket message per write: the client decodes each whole.
    ws_->Write(wbuf_, &ws_wbuf_);
    wbuf_.swap(ws_wbuf_);
    ws_wbuf_.clear();
  }
  write_started_ = Clock::now();
  // The write deadline needs a wake-up no later than it. A busy connection
  // re-arms at most once per deadline: later writes fall before the one set.
  if (timer_.expiry() > write_started_ + std::chrono::milliseconds(cfg_->write_deadline_ms)) ScheduleTick();
  auto self = shared_from_this();
  WriteAll(asio::buffer(wbuf_), [self](const asio::error_code& ec, size_t) { self->OnWrite(ec); });
}

bool Client::TryWriteDirect(size_t max) {
  if (!direct_ok_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(out_mu_);
  // The owner's write in flight keeps the order; a closed connection's
  // descriptor may already be gone (CloseNow sets dead_ under this lock
  // before closing it, so while the lock is held it stays open).
  if (dead_ || writing_) return false;
  if (out_.empty()) return true;
  if (!SendQueuedDirect(socket_.native_handle(), out_, last_out_, max)) return false;
  flush_scheduled_ = false;
  return true;
}

void Client::OnWrite(const asio::error_code& ec) {
  if (wbuf_.capacity() > kKeepWriteCapacity) {
    std::string().swap(wbuf_);
  } else {
    wbuf_.clear();
  }
  if (ws_wbuf_.capacity() > kKeepWriteCapacity) std::string().swap(ws_wbuf_);
  bool more;
  {
    std::lock_guard lock(out_mu_);
    writing_ = false;
    more = !out_.empty();
  }
  if (ws_ && ws_->HasControl()) more = true;
  if (closed_) return;
  if (ec) {
    CloseNow("Write Error");
    return;
  }
  if (more) {
    Flush();
  } else if (close_after_flush_) {
    CloseNow(close_reason_);
  }
}

void Client::SendErr(std::string_view text) {
  log::Debug("{} - cid:{} - -ERR '{}'", ip_, cid_, text);
  Queue("-ERR '", text, "'\r\n");
}

void Client::SendErrAndClose(std::string_view text) {
  if (closing_) return;
  log::Error("{} - cid:{} - {}", ip_, cid_, text);
  Queue("-ERR '", text, "'\r\n");
  if (ws_) ws_->QueueClose(CloseCodeFor(text), text);
  CloseAfterFlush("Closed after error");
}

void Client::CloseAfterFlush(const char* reason) {
  closing_ = true;
  close_after_flush_ = true;
  close_reason_ = reason;
  std::lock_guard lock(out_mu_);
  dead_ = true;  // nothing after what is queued
}

Client::Stats Client::GetStats(bool with_subs) {
  Stats s;
  s.cid = cid_;
  s.ip = ip_;
  s.port = port_;
  s.start = created_;
  // The steady clock's idea of the last read, moved onto the wall clock.
  bool started = last_in_.load(std::memory_order_relaxed) != 0;
  s.last_activity = started ? std::chrono::system_clock::now() -
                                  std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                      Clock::now() - LastIn())
                            : created_;
  s.in_msgs = in_msgs_.load(std::memory_order_relaxed);
  s.in_bytes = in_bytes_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(out_mu_);
    s.out_msgs = out_msgs_;
    s.out_bytes = out_bytes_;
    s.pending_bytes = out_.size();
  }
  {
    std::lock_guard lock(info_mu_);
    s.name = name_;
    s.lang = lang_;
    s.version = version_;
    s.user = user_;
  }
  s.account = account()->name();
  std::lock_guard lock(subs_mu_);
  s.num_subs = subs_.size();
  if (with_subs) {
    for (const auto& [sid, sub] : subs_) {
      // `delivered` also counts the attempt that found the max reached.
      uint64_t n = sub->delivered.load(std::memory_order_relaxed);
      uint64_t max = sub->max.load(std::memory_order_relaxed);
      s.subs.push_back({sub->subject, sub->queue, sid, max && n > max ? max : n});
    }
  }
  return s;
}

void Client::SendAsyncInfo() {
  if (closed_ || closing_ || !connected_ || !async_info_) return;
  Queue(server_->InfoLine(cid_, ip_, {}, is_websocket()));
  Server::FlushDirty();
}

void Client::CloseAsync(const char* reason) {
  auto self = shared_from_this();
  asio::post(ctx_, [self, reason] { self->CloseNow(reason); });
}

void Client::ErrAndCloseAsync(std::string text) {
  auto self = shared_from_this();
  asio::post(ctx_, [self, text = std::move(text)] {
    if (self->closed_ || self->closing_) return;
    self->SendErrAndClose(text);
    Server::FlushDirty();
  });
}

void Client::CloseNow(const char* reason) {
  if (closed_) return;
  closed_ = true;
  closing_ = true;
  log::Debug("{} - cid:{} - Client connection closed: {}", ip_, cid_, reason);
  std::unordered_map<std::string, SubPtr> subs;
  {
    std::lock_guard lock(subs_mu_);
    subs.swap(subs_);
  }
  last_match_.reset();  // may hold our own subscriptions
  for (auto& [sid, sub] : subs) {
    RemoveSub(sub);
    sub->client.reset();  // break the Client <-> Subscription cycle
  }
  if (acc_counted_) {
    Account* acc = account();
    acc->connections.fetch_sub(1);
    acc_counted_ = false;
    if (connected_) server_->NotifyConnection(Event(false, reason));
  }
  {
    std::lock_guard lock(out_mu_);
    dead_ = true;
    out_.clear();
  }
  asio::error_code ec;
  timer_.cancel();
  stall_timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  server_->RemoveClient(cid_);
  // Removing the subscriptions queued RS-/LS- for routes and leaf nodes;
  // a close is not always inside a read batch that would flush them.
  Server::FlushDirty();
}

// --- keep-alive and deadlines -------------------------------------------------

void Client::ScheduleTick() {
  // One wake-up at the earliest deadline rather than a periodic tick, so a
  // quiet connection sleeps until its next PING: thousands of idle clients
  // cost no CPU.
  using std::chrono::milliseconds;
  Clock::time_point next = next_ping_;
  auto at_most = [&](Clock::time_point t) { next = std::min(next, t); };
  if (handshaking_) at_most(start_ + milliseconds(cfg_->tls_timeout_ms));
  if (!connected_ && auth_required_) at_most(start_ + milliseconds(cfg_->auth_timeout_ms));
  if (auth_expires_ != 0) {
    auto left = std::chrono::system_clock::time_point(std::chrono::seconds(auth_expires_)) -
                std::chrono::system_clock::now();
    // A millisecond late, so the check in Tick (on the system clock) holds.
    at_most(Clock::now() + std::chrono::duration_cast<Clock::duration>(std::max(left, left.zero())) +
            milliseconds(1));
  }
  bool writing;
  {
    std::lock_guard lock(out_mu_);
    writing = writing_;
  }
  if (writing) at_most(write_started_ + milliseconds(cfg_->write_deadline_ms));
  timer_.expires_at(next);
  auto self = shared_from_this();
  timer_.async_wait([self](const asio::error_code& ec) {
    if (!ec && !self->closed_) self->Tick();
  });
}

void Client::Tick() {
  auto now = Clock::now();
  if (handshaking_) {
    if (now - start_ >= std::chrono::milliseconds(cfg_->tls_timeout_ms)) {
      log::Error("{}:{} - cid:{} - TLS handshake timeout", ip_, port_, cid_);
      CloseNow("TLS Handshake Timeout");
      return;
    }
    // Authentication and pings wait for the handshake: nothing can be
    // sent before it ends.
    ScheduleTick();
    return;
  }
  if (ws_upgrading_) {
    if (now - start_ >= std::chrono::milliseconds(cfg_->websocket.handshake_timeout_ms)) {
      log::Error("{}:{} - cid:{} - websocket handshake timeout", ip_, port_, cid_);
      CloseNow("WebSocket Handshake Timeout");
      return;
    }
    ScheduleTick();
    return;
  }
  if (!connected_ && auth_required_ &&
      now - start_ >= std::chrono::milliseconds(cfg_->auth_timeout_ms)) {
    SendErrAndClose("Authentication Timeout");
    Server::FlushDirty();
    return;
  }
  if (auth_expires_ != 0 && std::chrono::system_clock::now() >= std::chrono::system_clock::time_point(
                                                                      std::chrono::seconds(auth_expires_))) {
    // A user JWT's `exp`: the connection ends with it (as nats-server).
    log::Info("{} - cid:{} - user authentication expired", ip_, cid_);
    SendErrAndClose("User Authentication Expired");
    Server::FlushDirty();
    return;
  }
  bool writing;
  {
    std::lock_guard lock(out_mu_);
    writing = writing_;
  }
  if (writing && now - write_started_ >= std::chrono::milliseconds(cfg_->write_deadline_ms)) {
    server_->stats().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    log::Info("{} - cid:{} - Slow Consumer Detected: WriteDeadline of {}ms Exceeded", ip_, cid_,
              cfg_->write_deadline_ms);
    CloseNow("Slow Consumer (Write Deadline)");
    return;
  }
  if (now >= next_ping_) {
    auto interval = std::chrono::milliseconds(cfg_->ping_interval_ms);
    next_ping_ = now + interval;
    // Skip the PING if the client has been talking to us recently.
    bool recent = pings_out_ == 0 && now - LastIn() < interval && now - start_ > interval;
    if (!recent) {
      if (pings_out_ + 1 > cfg_->ping_max) {
        SendErrAndClose("Stale Connection");
        Server::FlushDirty();
        return;
      }
      ++pings_out_;
      Queue("PING\r\n");
      Server::FlushDirty();
    }
  }
  ScheduleTick();
}

}  // namespace fjord::server
