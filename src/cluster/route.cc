#include "cluster/route.h"

#include <charconv>
#include <cstring>
#include <algorithm>
#include <future>

#include "base/json.h"
#include "base/log.h"
#include "base/net.h"
#include "cluster/cluster.h"
#include "proto/parser.h"
#include "server/account.h"
#include "server/auth.h"
#include "server/direct_write.h"
#include "server/operator.h"
#include "server/server.h"

namespace fjord::cluster {
namespace {

constexpr size_t kInitialReadBuf = 64 * 1024;
constexpr size_t kMinReadSpace = 4 * 1024;
constexpr size_t kKeepWriteCapacity = 1024 * 1024;
// As for a client: a publisher whose messages back up here pauses briefly.
constexpr size_t kStallPending = 4 * 1024 * 1024;
constexpr auto kTick = std::chrono::milliseconds(500);
// A route that has not exchanged INFO by then is dropped (a stray
// connection on the cluster port, or a peer that never answers).
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

inline void AppendNum(std::string& s, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  s.append(buf, r.ptr);
}

}  // namespace

Route::Route(Cluster* cluster, asio::io_context& ctx, asio::ip::tcp::socket socket, uint64_t rid, std::string url,
             bool configured)
    : cluster_(cluster),
      ctx_(ctx),
      socket_(std::move(socket)),
      timer_(ctx),
      rid_(rid),
      url_(std::move(url)),
      configured_(configured) {
  asio::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) {
    ip_ = ep.address().to_string();
    port_ = ep.port();
  }
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  auto cfg = cluster_->server()->config();
  // An RMSG names every queue group it is for: as newer nats-servers do,
  // allow routes 16 times a client's control line.
  limits_.max_control_line = size_t(std::max<int64_t>(cfg->max_control_line, 4096)) * 16;
  // A route carries any message a client of the peer may publish; the
  // peer enforces its own max_payload. Bound it anyway.
  limits_.max_payload = std::max<int64_t>(cfg->max_payload, 64 << 20);
}

Route::~Route() = default;

std::string Route::Tag() const { return fmt::format("{}:{} - rid:{}", ip_, port_, rid_); }

void Route::Start() {
  start_ = Clock::now();
  last_in_.store(start_.time_since_epoch().count(), std::memory_order_relaxed);
  auto cfg = cluster_->server()->config();
  next_ping_ = start_ + std::chrono::milliseconds(std::min<int64_t>(cfg->ping_interval_ms, 2000));
  const auto& cc = cluster_->config();
  if (!cc.tls_server) {
    Begin();
    return;
  }
  // As nats-server: TLS first, both sides verified (the acceptor's context
  // demands a certificate from the CA; the dialler checks the acceptor's).
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, solicited() ? *cc.tls_client
                                                                                            : *cc.tls_server);
  if (solicited()) {
    std::string host = Cluster::UrlHost(url_);
    SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
    if (cc.tls_insecure) {
      tls_->set_verify_mode(asio::ssl::verify_none);
    } else {
      tls_->set_verify_mode(asio::ssl::verify_peer);
      tls_->set_verify_callback(asio::ssl::host_name_verification(host));
    }
  }
  handshaking_ = true;
  ScheduleTick();
  auto self = shared_from_this();
  tls_->async_handshake(solicited() ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
                        [self](const asio::error_code& ec) { self->OnHandshake(ec); });
}

void Route::OnHandshake(const asio::error_code& ec) {
  if (closed_) return;
  handshaking_ = false;
  if (ec) {
    log::Error("{} - TLS route handshake error: {}", Tag(), ec.message());
    CloseNow("TLS Handshake Failure");
    return;
  }
  log::Debug("{} - TLS handshake complete ({}, {})", Tag(), SSL_get_version(tls_->native_handle()),
             SSL_get_cipher_name(tls_->native_handle()));
  timer_.cancel();  // Begin schedules the tick again
  Begin();
}

void Route::Begin() {
  if (solicited()) QueueRaw(cluster_->ConnectLine(url_));
  QueueRaw(cluster_->InfoLine(true));
  log::Info("{} - Route connection created", Tag());
  rbuf_.resize(kInitialReadBuf);
  // The TLS stream is the owner thread's alone.
  if (!tls_) direct_ok_.store(true, std::memory_order_release);
  server::Server::FlushDirty();
  ScheduleTick();
  DoRead();
}

std::string Route::remote_id() const {
  std::lock_guard lock(info_mu_);
  return remote_id_;
}

std::string Route::remote_route_url() const {
  std::lock_guard lock(info_mu_);
  return remote_route_url_;
}

std::vector<std::string> Route::client_urls() const {
  std::lock_guard lock(info_mu_);
  return client_urls_;
}

void Route::AdoptUrl(std::string url, bool configured) {
  auto self = shared_from_this();
  asio::post(ctx_, [self, url = std::move(url), configured]() mutable {
    std::lock_guard lock(self->info_mu_);
    if (self->url_.empty()) self->url_ = std::move(url);
    self->configured_ = self->configured_ || configured;
  });
}

server::RouteInfo Route::Info(bool with_subs) {
  server::RouteInfo ri;
  ri.rid = rid_;
  {
    std::lock_guard lock(info_mu_);
    ri.remote_id = remote_id_;
    ri.remote_name = remote_name_;
    ri.fjord_jetstream = remote_jetstream_;
    ri.tags = remote_tags_;
    ri.did_solicit = !url_.empty();
    ri.is_configured = configured_;
  }
  ri.ip = ip_;
  ri.port = port_;
  ri.start = created_;
  auto last = Clock::time_point(Clock::duration(last_in_.load(std::memory_order_relaxed)));
  ri.last_activity = std::chrono::system_clock::now() -
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - last);
  ri.in_msgs = in_msgs_.load(std::memory_order_relaxed);
  ri.in_bytes = in_bytes_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(out_mu_);
    ri.out_msgs = out_msgs_;
    ri.out_bytes = out_bytes_;
    ri.pending_bytes = out_.size();
  }
  if (with_subs) {
    // The map belongs to the owner thread: read it there.
    auto p = std::make_shared<std::promise<std::vector<std::string>>>();
    auto f = p->get_future();
    auto self = shared_from_this();
    asio::post(ctx_, [self, p] {
      std::vector<std::string> keys;
      for (const auto& [k, s] : self->subs_) keys.push_back(k);
      std::sort(keys.begin(), keys.end());
      p->set_value(std::move(keys));
    });
    if (f.wait_for(std::chrono::seconds(2)) == std::future_status::ready) ri.subs = f.get();
  }
  ri.num_subs = with_subs ? ri.subs.size() : num_subs_.load(std::memory_order_relaxed);
  return ri;
}

// --- reading -------------------------------------------------------------------

void Route::DoRead() {
  if (closed_ || closing_) return;
  if (rbuf_.size() - rend_ < kMinReadSpace) {
    if (rstart_ > 0) {
      std::memmove(rbuf_.data(), rbuf_.data() + rstart_, rend_ - rstart_);
      rend_ -= rstart_;
      rstart_ = 0;
    }
    if (rbuf_.size() - rend_ < kMinReadSpace) rbuf_.resize(rbuf_.size() * 2);
  }
  auto self = shared_from_this();
  auto buf = asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_);
  auto done = [self](const asio::error_code& ec, size_t n) { self->OnRead(ec, n); };
  if (tls_) {
    tls_->async_read_some(buf, std::move(done));
  } else {
    socket_.async_read_some(buf, std::move(done));
  }
}

void Route::OnRead(const asio::error_code& ec, size_t n) {
  server::Server::ReadBatch batch;
  if (closed_) return;
  if (ec) {
    bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
    CloseNow(eof ? "Client Closed" : "Read Error");
    return;
  }
  rend_ += n;
  last_in_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  Process();
  server::Server::FlushDirty();
  server::Server::TakeStall();  // a route is never paused: the peer's clients would wait on it
  if (rstart_ == rend_ && rbuf_.size() > 4 * kInitialReadBuf) {
    rbuf_.assign(kInitialReadBuf, 0);
    rstart_ = rend_ = 0;
  }
  DoRead();
}

void Route::Process() {
  while (rstart_ < rend_ && !closing_ && !closed_) {
    proto::RouteCommand cmd;
    size_t used = 0;
    auto st = proto::NextRoute(rbuf_.data() + rstart_, rend_ - rstart_, limits_, &cmd, &used);
    if (st == proto::Status::kIncomplete) break;
    if (st != proto::Status::kOk) {
      // What the peer sent, for the log: the start of the offending line.
      std::string_view bad(rbuf_.data() + rstart_, std::min<size_t>(rend_ - rstart_, 64));
      bad = bad.substr(0, bad.find_first_of("\r\n"));
      const char* what = st == proto::Status::kUnknownOp     ? "Unknown Protocol Operation"
                         : st == proto::Status::kControlLine ? "Maximum Control Line Exceeded"
                         : st == proto::Status::kMaxPayload  ? "Maximum Payload Violation"
                                                             : "Protocol Error";
      log::Error("{} - Route Error: {} in \"{}\"", Tag(), what, bad);
      SendErrAndClose(what);
      return;
    }
    rstart_ += used;
    Dispatch(cmd);
  }
  if (rstart_ == rend_) rstart_ = rend_ = 0;
}

void Route::Dispatch(const proto::RouteCommand& cmd) {
  using proto::RouteOp;
  // An accepted route says CONNECT first; nothing else counts before it.
  if (!solicited() && !connect_received_ && cmd.op != RouteOp::kConnect) {
    log::Error("{} - Route Error: expected CONNECT", Tag());
    SendErrAndClose("Authorization Violation");
    return;
  }
  switch (cmd.op) {
    case RouteOp::kConnect:
      ProcessConnect(cmd.json);
      break;
    case RouteOp::kInfo:
      ProcessInfo(cmd.json);
      break;
    case RouteOp::kPing:
      QueueRaw("PONG\r\n");
      break;
    case RouteOp::kPong: {
      pings_out_ = 0;
      std::function<void()> done;
      {
        std::lock_guard lock(ping_mu_);
        if (!ping_waiters_.empty()) {
          done = std::move(ping_waiters_.front());
          ping_waiters_.pop_front();
        }
      }
      if (done) done();
      break;
    }
    case RouteOp::kErr:
      log::Error("{} - Route Error: remote says '{}'", Tag(), cmd.err);
      CloseNow("Parse Error");
      break;
    case RouteOp::kSub:
      if (registered_) ProcessSub(cmd);
      break;
    case RouteOp::kUnsub:
      if (registered_) ProcessUnsub(cmd);
      break;
    case RouteOp::kMsg:
      if (registered_) ProcessMsg(cmd);
      break;
    case RouteOp::kOk:
    case RouteOp::kNone:
      break;
  }
}

void Route::ProcessConnect(std::string_view json) {
  if (solicited() || connect_received_) return;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    log::Error("{} - Route Error: invalid CONNECT", Tag());
    SendErrAndClose("Invalid CONNECT");
    return;
  }
  if (!base::JsonString(j, "lang").empty()) {
    // A client on the cluster port.
    log::Error("{} - Route Error: a client connected to the route port", Tag());
    SendErrAndClose("attempted to connect to route port");
    return;
  }
  if (!base::JsonString(j, "gateway").empty()) {
    auto text = fmt::format("Rejecting connection from gateway \"{}\" on the Route port", base::JsonString(j, "gateway"));
    log::Error("{} - {}", Tag(), text);
    SendErrAndClose(text);
    return;
  }
  const auto& cfg = cluster_->config();
  if (!cfg.user.empty()) {
    if (base::JsonString(j, "user") != cfg.user ||
        !server::PasswordMatches(cfg.password, base::JsonString(j, "pass"))) {
      log::Error("{} - Route Error: authorization failed for user \"{}\"", Tag(), base::JsonString(j, "user"));
      SendErrAndClose("Authorization Violation");
      return;
    }
  }
  std::string remote_cluster = base::JsonString(j, "cluster");
  if (!cluster_->ReconcileName(remote_cluster, base::JsonBool(j, "dynamic", false))) {
    auto text = fmt::format("Rejecting connection, cluster name \"{}\" does not match \"{}\"", remote_cluster,
                            cluster_->name());
    log::Error("{} - {}", Tag(), text);
    SendErrAndClose(text);
    return;
  }
  headers_ = base::JsonBool(j, "headers", false);
  connect_received_ = true;
}

void Route::ProcessInfo(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    log::Error("{} - Route Error: invalid INFO", Tag());
    SendErrAndClose("Invalid INFO");
    return;
  }
  std::string id = base::JsonString(j, "server_id");
  if (info_received_) {
    // A later INFO: either news of another server (gossip), or an update
    // of this one (its client URLs) that we have no use for beyond them.
    if (!id.empty() && id != remote_id()) {
      cluster_->LearnedOf(j);
    } else if (base::JsonBool(j, "ldm", false)) {
      // It is going away: clients should not be sent to it.
      log::Info("{} - Route {} is in lame duck mode", Tag(), remote_id());
      {
        std::lock_guard lock(info_mu_);
        client_urls_.clear();
      }
      cluster_->PeerLameDuck();
    } else if (auto it = j.find("connect_urls"); it != j.end() && it->is_array()) {
      std::lock_guard lock(info_mu_);
      client_urls_.clear();
      for (const auto& u : *it) {
        if (u.is_string()) client_urls_.push_back(u.get<std::string>());
      }
    }
    return;
  }
  if (id.empty()) {
    log::Error("{} - Route Error: INFO without server_id", Tag());
    SendErrAndClose("Invalid INFO");
    return;
  }
  if (cluster_->IsSelf(id)) {
    log::Debug("{} - Detected route to self, ignoring {}", Tag(), url_);
    {
      std::lock_guard lock(info_mu_);
      remote_id_ = id;
    }
    CloseNow("Duplicate Route");
    return;
  }
  std::string remote_cluster = base::JsonString(j, "cluster");
  if (!remote_cluster.empty() && !cluster_->ReconcileName(remote_cluster, base::JsonBool(j, "cluster_dynamic", false))) {
    log::Error("{} - Route Error: cluster name \"{}\" does not match \"{}\"", Tag(), remote_cluster, cluster_->name());
    CloseNow("Cluster Name Conflict");
    return;
  }
  std::string name = base::JsonString(j, "server_name");
  auto cfg = cluster_->server()->config();
  if (!solicited() && !name.empty() && name == cfg->server_name) {
    log::Error("{} - Remote server has a duplicate name: \"{}\"", Tag(), name);
    CloseNow("Duplicate Server Name");
    return;
  }
  info_received_ = true;
  // A dialled route learns what the peer takes from its INFO; an accepted
  // one from its CONNECT.
  if (solicited()) headers_ = base::JsonBool(j, "headers", false);
  {
    std::lock_guard lock(info_mu_);
    remote_id_ = id;
    remote_name_ = name;
    remote_jetstream_ = base::JsonBool(j, "fjord_jetstream", false);
    remote_tags_.clear();
    if (auto t = j.find("fjord_tags"); t != j.end() && t->is_array())
      for (const auto& tag : *t)
        if (tag.is_string()) remote_tags_.push_back(tag.get<std::string>());
    std::string host = base::JsonString(j, "host");
    int64_t port = base::JsonInt(j, "port", 0);
    // Where others should dial this server: what it advertises, or the
    // address it connected from with its route port.
    std::string ipurl = base::JsonString(j, "ip");
    if (!ipurl.empty()) {
      remote_route_url_ = ipurl;
    } else {
      std::string h = base::IsWildcardHost(host) ? ip_ : host;
      remote_route_url_ = "nats-route://" + base::JoinHostPort(h, int(port)) + "/";
    }
    if (auto it = j.find("connect_urls"); it != j.end() && it->is_array()) {
      for (const auto& u : *it) {
        if (u.is_string()) client_urls_.push_back(u.get<std::string>());
      }
    }
  }
  if (!cluster_->Register(shared_from_this(), j)) {
    log::Debug("{} - Detected duplicate remote route \"{}\"", Tag(), id);
    CloseNow("Duplicate Route");
    return;
  }
  registered_ = true;
  log::Info("{} - Route connection registered with {} ({})", Tag(), name.empty() ? id : name, id);
  cluster_->SendInterest(*this);
}

server::Account* Route::FindAccount(std::string_view name) {
  if (last_account_ && name == last_account_name_) return last_account_;
  server::Server* srv = cluster_->server();
  server::Account* acc = srv->LookupAccount(name);
  if (!acc && srv->op()) {
    // Operator mode makes accounts on first use: a peer's interest is such
    // a use, or it would be lost until a client of the account came here.
    std::string err;
    acc = srv->op()->ResolveAccount(std::string(name), &err);
  }
  if (acc) {
    last_account_ = acc;
    last_account_name_.assign(name);
    last_match_.reset();
    last_gen_ = 0;
  }
  return acc;
}

void Route::ProcessSub(const proto::RouteCommand& cmd) {
  if (!proto::ValidSubscribeSubject(cmd.subject) || (!cmd.queue.empty() && !proto::ValidLiteralSubject(cmd.queue))) {
    log::Error("{} - Route Error: invalid subscription \"{}\"", Tag(), cmd.subject);
    return;
  }
  server::Account* acc = FindAccount(cmd.account);
  if (!acc) {
    log::Debug("{} - Unknown account \"{}\" for remote subject \"{}\"", Tag(), cmd.account, cmd.subject);
    return;
  }
  if (!cluster_->CanExport(cmd.subject)) {
    // As nats-server: no messages on it go to this route.
    log::Debug("{} - Can not export \"{}\", ignoring remote subscription request", Tag(), cmd.subject);
    return;
  }
  std::string key;
  key.reserve(cmd.account.size() + cmd.subject.size() + cmd.queue.size() + 2);
  key.append(cmd.account).append(" ").append(cmd.subject);
  if (!cmd.queue.empty()) key.append(" ").append(cmd.queue);
  auto it = subs_.find(key);
  if (it != subs_.end()) {
    // Only a queue group's weight changes; a repeated plain RS+ is a no-op.
    if (!cmd.queue.empty()) it->second->weight.store(cmd.weight > 0 ? cmd.weight : 1, std::memory_order_relaxed);
    return;
  }
  auto sub = std::make_shared<server::Subscription>();
  sub->remote = shared_from_this();
  sub->subject = cmd.subject;
  sub->queue = cmd.queue;
  sub->sid = key;
  if (!cmd.queue.empty()) sub->weight.store(cmd.weight > 0 ? cmd.weight : 1, std::memory_order_relaxed);
  acc->sublist().Insert(sub);
  // A push consumer created before its subscriber (a watcher's ordered
  // consumer) starts when the interest arrives, here as for a local one.
  acc->NotifySubscribed(sub->subject);
  subs_.emplace(std::move(key), std::move(sub));
  num_subs_.store(subs_.size(), std::memory_order_relaxed);
}

void Route::ProcessUnsub(const proto::RouteCommand& cmd) {
  std::string key;
  key.append(cmd.account).append(" ").append(cmd.subject);
  if (!cmd.queue.empty()) key.append(" ").append(cmd.queue);
  auto it = subs_.find(key);
  if (it == subs_.end()) return;
  server::Account* acc = FindAccount(cmd.account);
  it->second->closed = true;
  if (acc) acc->sublist().Remove(it->second);
  subs_.erase(it);
  num_subs_.store(subs_.size(), std::memory_order_relaxed);
}

void Route::ProcessMsg(const proto::RouteCommand& cmd) {
  in_msgs_.store(in_msgs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  in_bytes_.store(in_bytes_.load(std::memory_order_relaxed) + cmd.payload.size(), std::memory_order_relaxed);
  server::Account* acc = FindAccount(cmd.account);
  if (!acc) {
    log::Debug("{} - Unknown account \"{}\" for routed message on subject \"{}\"", Tag(), cmd.account, cmd.subject);
    return;
  }
  server::Sublist& sl = acc->sublist();
  uint64_t gen = sl.generation();
  if (!last_match_ || gen != last_gen_ || cmd.subject != last_subject_) {
    last_match_ = sl.Match(cmd.subject);
    last_subject_.assign(cmd.subject);
    last_gen_ = gen;
  }
  if (last_match_->empty()) return;
  server::Origin origin;
  origin.from_remote = true;
  origin.queues = cmd.queues;
  origin.source = this;
  origin.to_routes = false;
  std::string_view subject = cmd.subject, reply = cmd.reply;
  if (server::SplitJsDeliver(cmd.reply, &reply, &subject)) origin.routed_subject = cmd.subject;
  server::Server::Route(nullptr, *last_match_, acc->name(), subject, reply, cmd.hdr_len, cmd.payload, origin);
}

// --- writing -------------------------------------------------------------------

void Route::QueueRaw(std::string_view bytes) {
  bool schedule = false;
  {
    std::lock_guard lock(out_mu_);
    if (dead_) return;
    out_.append(bytes);
    if (!flush_scheduled_) schedule = flush_scheduled_ = true;
  }
  if (schedule) server::Server::MarkDirty(std::static_pointer_cast<server::Remote>(shared_from_this()));
}

void Route::QueuePing(std::function<void()> done) {
  {
    std::lock_guard lock(ping_mu_);
    if (!pings_closed_) {
      // Queued under ping_mu_ so the waiters stay in the order of the PINGs.
      ping_waiters_.push_back(std::move(done));
      QueueRaw("PING\r\n");
      return;
    }
  }
  if (done) done();
}

void Route::Barrier(std::function<void()> done) {
  QueuePing(std::move(done));
  server::Server::FlushIfUnbatched();
}

void Route::QueueRoutedMsg(std::string_view account, std::string_view subject, std::string_view reply,
                           std::string_view queues, uint32_t hdr_len, std::string_view payload) {
  bool with_headers = hdr_len > 0 && headers_;
  std::string_view body = hdr_len > 0 && !headers_ ? payload.substr(hdr_len) : payload;
  bool schedule = false, slow = false;
  {
    std::lock_guard lock(out_mu_);
    if (dead_) return;
    std::string& o = out_;
    o.append(with_headers ? "HMSG " : "RMSG ");
    o.append(account);
    o.push_back(' ');
    o.append(subject);
    o.push_back(' ');
    if (!queues.empty()) {
      if (!reply.empty()) {
        o.append("+ ");
        o.append(reply);
        o.push_back(' ');
      } else {
        o.append("| ");
      }
      o.append(queues);
      o.push_back(' ');
    } else if (!reply.empty()) {
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
    if (int64_t(o.size()) > cluster_->server()->config()->max_pending) {
      slow = dead_ = true;
      o.clear();
    } else {
      if (!flush_scheduled_) schedule = flush_scheduled_ = true;
      if (o.size() > kStallPending) server::Server::StallProducer();
    }
  }
  if (slow) {
    cluster_->server()->stats().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    log::Error("{} - Slow Consumer Detected: route pending bytes exceeded", Tag());
    CloseAsync("Slow Consumer (Pending Bytes)");
    return;
  }
  if (schedule) server::Server::MarkDirty(std::static_pointer_cast<server::Remote>(shared_from_this()));
}

void Route::Flush() {
  // Nothing goes out in the middle of a handshake; Begin flushes.
  if (closed_ || handshaking_) return;
  std::unique_lock lock(out_mu_);
  flush_scheduled_ = false;
  if (writing_ || out_.empty()) return;
  std::swap(out_, wbuf_);
  writing_ = true;
  lock.unlock();
  write_started_ = Clock::now();
  last_out_.store(write_started_.time_since_epoch().count(), std::memory_order_relaxed);
  auto self = shared_from_this();
  auto done = [self](const asio::error_code& ec, size_t) { self->OnWrite(ec); };
  if (tls_) {
    asio::async_write(*tls_, asio::buffer(wbuf_), std::move(done));
  } else {
    asio::async_write(socket_, asio::buffer(wbuf_), std::move(done));
  }
}

bool Route::TryWriteDirect(size_t max) {
  if (!direct_ok_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(out_mu_);
  // The owner's write in flight keeps the order; a closed route's socket
  // may be gone (CloseNow sets dead_ under this lock before closing it).
  if (dead_ || writing_) return false;
  if (out_.empty()) return true;
  if (!server::SendQueuedDirect(socket_.native_handle(), out_, last_out_, max)) return false;
  flush_scheduled_ = false;
  return true;
}

void Route::OnWrite(const asio::error_code& ec) {
  if (wbuf_.capacity() > kKeepWriteCapacity) {
    std::string().swap(wbuf_);
  } else {
    wbuf_.clear();
  }
  bool more;
  {
    std::lock_guard lock(out_mu_);
    writing_ = false;
    more = !out_.empty();
  }
  if (closed_) return;
  if (ec) {
    CloseNow("Write Error");
    return;
  }
  if (more) {
    Flush();
  } else if (close_after_flush_) {
    CloseNow("Closed after error");
  }
}

void Route::SendErrAndClose(std::string_view text) {
  if (closing_) return;
  QueueRaw(fmt::format("-ERR '{}'\r\n", text));
  closing_ = true;
  close_after_flush_ = true;
  {
    std::lock_guard lock(out_mu_);
    dead_ = true;
  }
  server::Server::FlushDirty();
}

void Route::CloseAsync(const char* reason) {
  auto self = shared_from_this();
  asio::post(ctx_, [self, reason] { self->CloseNow(reason); });
}

void Route::CloseNow(const char* reason) {
  if (closed_) return;
  closed_ = true;
  closing_ = true;
  log::Info("{} - Route connection closed: {}", Tag(), reason);
  // The remote's interest goes with it.
  for (auto& [key, sub] : subs_) {
    sub->closed = true;
    std::string_view k = key;
    if (server::Account* acc = FindAccount(k.substr(0, k.find(' ')))) acc->sublist().Remove(sub);
  }
  subs_.clear();
  num_subs_.store(0, std::memory_order_relaxed);
  last_match_.reset();
  {
    std::lock_guard lock(out_mu_);
    dead_ = true;
    out_.clear();
  }
  // Nobody will answer the PINGs in flight: their waiters go on now.
  std::deque<std::function<void()>> waiters;
  {
    std::lock_guard lock(ping_mu_);
    pings_closed_ = true;
    waiters.swap(ping_waiters_);
  }
  for (auto& done : waiters)
    if (done) done();
  asio::error_code ec;
  timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  cluster_->Closed(this, registered_);
}

// --- keep-alive ------------------------------------------------------------------

void Route::ScheduleTick() {
  timer_.expires_after(kTick);
  auto self = shared_from_this();
  timer_.async_wait([self](const asio::error_code& ec) {
    if (!ec && !self->closed_) self->Tick();
  });
}

void Route::Tick() {
  auto now = Clock::now();
  auto cfg = cluster_->server()->config();
  if (handshaking_) {
    if (now - start_ >= std::chrono::milliseconds(cluster_->config().tls_timeout_ms)) {
      log::Error("{} - TLS route handshake timeout", Tag());
      CloseNow("TLS Handshake Timeout");
      return;
    }
    ScheduleTick();
    return;
  }
  if (!registered_ && now - start_ >= kHandshakeTimeout) {
    log::Error("{} - Route Error: no INFO within {}s", Tag(), kHandshakeTimeout.count());
    CloseNow("Authentication Timeout");
    return;
  }
  if (!solicited() && !connect_received_ && !cluster_->config().user.empty() &&
      now - start_ >= std::chrono::milliseconds(cluster_->config().auth_timeout_ms)) {
    SendErrAndClose("Authentication Timeout");
    return;
  }
  bool writing;
  {
    std::lock_guard lock(out_mu_);
    writing = writing_;
  }
  if (writing && now - write_started_ >= std::chrono::milliseconds(cfg->write_deadline_ms)) {
    // A peer that stops reading must not hold our memory: drop the route
    // (the side that dialled it reconnects).
    cluster_->server()->stats().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    log::Error("{} - Slow Consumer Detected: WriteDeadline of {}ms Exceeded", Tag(), cfg->write_deadline_ms);
    CloseNow("Slow Consumer (Write Deadline)");
    return;
  }
  if (now >= next_ping_) {
    next_ping_ = now + std::chrono::milliseconds(cfg->ping_interval_ms);
    if (pings_out_ + 1 > cfg->ping_max) {
      log::Error("{} - Route Error: stale connection", Tag());
      SendErrAndClose("Stale Connection");
      return;
    }
    ++pings_out_;
    QueuePing(nullptr);
    server::Server::FlushDirty();
  }
  ScheduleTick();
}

}  // namespace fjord::cluster
