#include "leaf/leaf.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <future>

#include "base/json.h"
#include "base/log.h"
#include "base/net.h"
#include "proto/parser.h"
#include "server/account.h"
#include "server/auth.h"
#include "server/server.h"
#include "tls/tls.h"

namespace fjord::leaf {
namespace {

constexpr size_t kInitialReadBuf = 64 * 1024;
constexpr size_t kMinReadSpace = 4 * 1024;
constexpr size_t kKeepWriteCapacity = 1024 * 1024;
constexpr size_t kStallPending = 4 * 1024 * 1024;
constexpr auto kTick = std::chrono::milliseconds(500);
// A connection that has not finished CONNECT/INFO by then is dropped.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// nats-server's leafNodeReconnectDelayAfterLoopDetected.
constexpr auto kLoopRedial = std::chrono::seconds(30);
// nats-server's default leaf authorization timeout.
constexpr auto kDefaultAuthTimeout = std::chrono::seconds(2);

// JetStream's API and the KV and Object Store subjects never cross a leaf
// connection of a (non-system) account: nats-server's denyAllClientJs.
// Each side's JetStream answers only its own clients; the other side's is
// reached through its domain ($JS.<domain>.API.>).
constexpr std::string_view kJsDeny[] = {"$JS.API.>", "$KV.>", "$OBJ.>"};

bool JsDenied(std::string_view subject) {
  if (subject.empty() || subject[0] != '$') return false;
  return subject.starts_with("$JS.API.") || subject.starts_with("$KV.") || subject.starts_with("$OBJ.");
}

// Whether interest in the pattern `sub` may pass `p` (a subscription
// permission, server::SubscribeAllowed) and is not JetStream's.
bool PatternAllowed(const server::PermissionSet& p, std::string_view sub) {
  for (auto d : kJsDeny) {
    if (proto::SubjectIsSubsetOf(sub, d)) return false;
  }
  return server::SubscribeAllowed(p, sub);
}

// nats-server's SubjectPermission JSON: {"allow":[...],"deny":[...]}.
server::PermissionSet FromJson(const nlohmann::json& j) {
  server::PermissionSet p;
  if (!j.is_object()) return p;
  for (const char* k : {"allow", "deny"}) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_array()) continue;
    auto& out = std::string_view(k) == "allow" ? p.allow : p.deny;
    for (const auto& v : *it) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return p;
}

inline void AppendNum(std::string& s, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  s.append(buf, r.ptr);
}

std::string Key(std::string_view subject, std::string_view queue) {
  std::string k(subject);
  if (!queue.empty()) k.append(" ").append(queue);
  return k;
}

}  // namespace

Leaf::Leaf(Leafnodes* mgr, asio::io_context& ctx, asio::ip::tcp::socket socket, uint64_t id,
           const RemoteOptions* remote, size_t index, std::string url)
    : mgr_(mgr),
      ctx_(ctx),
      socket_(std::move(socket)),
      timer_(ctx),
      id_(id),
      remote_(remote),
      index_(index),
      url_(std::move(url)) {
  asio::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) {
    ip_ = ep.address().to_string();
    port_ = ep.port();
  }
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  auto cfg = mgr_->server()->config();
  limits_.max_control_line = size_t(std::max<int64_t>(cfg->max_control_line, 4096)) * 16;
  limits_.max_payload = std::max<int64_t>(cfg->max_payload, 64 << 20);
  if (remote_) {
    spoke_ = !remote_->hub;
    Perms p;
    p.in.deny = remote_->deny_imports;
    p.out.deny = remote_->deny_exports;
    SetPerms(std::move(p));
  }
}

void Leaf::SetPerms(Perms p) {
  auto owned = std::make_unique<Perms>(std::move(p));
  perms_.store(owned.get(), std::memory_order_release);
  perms_owned_.push_back(std::move(owned));
}

void Leaf::ApplyHubPermissions(const nlohmann::json& info) {
  auto imp = info.find("import");
  auto exp = info.find("export");
  if ((imp == info.end() || !imp->is_object()) && (exp == info.end() || !exp->is_object())) return;
  // As nats-server's spoke: import is what we may take (subscribe), export
  // what we may send (publish); our own deny lists stay.
  Perms p;
  if (imp != info.end()) p.in = FromJson(*imp);
  if (exp != info.end()) p.out = FromJson(*exp);
  p.in.deny.insert(p.in.deny.end(), remote_->deny_imports.begin(), remote_->deny_imports.end());
  p.out.deny.insert(p.out.deny.end(), remote_->deny_exports.begin(), remote_->deny_exports.end());
  const Perms* now = perms_.load(std::memory_order_acquire);
  if (now && now->in.allow == p.in.allow && now->in.deny == p.in.deny && now->out.allow == p.out.allow &&
      now->out.deny == p.out.deny) {
    return;
  }
  SetPerms(std::move(p));
  const Perms* cur = perms_.load(std::memory_order_acquire);
  // What we already asked for and may no longer take is withdrawn; the
  // hub would cut the connection over it.
  std::string buf;
  {
    std::lock_guard lock(smap_mu_);
    for (auto it = smap_.begin(); it != smap_.end();) {
      std::string_view key = it->first;
      std::string_view subject = key.substr(0, key.find(' '));
      if (!subject.starts_with("$LDS.") && !PatternAllowed(cur->in, subject)) {
        buf.append("LS- ").append(key).append("\r\n");
        it = smap_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (!buf.empty()) QueueRaw(buf);
}

Leaf::~Leaf() = default;

std::string Leaf::Tag() const { return fmt::format("{}:{} - lid:{}", ip_, port_, id_); }

void Leaf::Start() {
  start_ = Clock::now();
  last_in_.store(start_.time_since_epoch().count(), std::memory_order_relaxed);
  auto cfg = mgr_->server()->config();
  next_ping_ = start_ + std::chrono::milliseconds(std::min<int64_t>(cfg->ping_interval_ms, 2000));
  rbuf_.resize(kInitialReadBuf);
  if (solicited()) {
    // The hub speaks first.
    log::Debug("{} - Leafnode connection created for account: {}", Tag(),
               remote_->account.empty() ? "$G" : remote_->account);
    ScheduleTick();
    DoRead();
    return;
  }
  log::Info("{} - Leafnode connection created", Tag());
  nonce_ = server::NewNonce();
  // INFO goes out in the clear even with TLS: the leaf learns from it that
  // it must handshake. A fresh socket takes these few bytes at once.
  std::string info = mgr_->InfoLine(id_, nonce_);
  asio::error_code ec;
  asio::write(socket_, asio::buffer(info), ec);
  if (ec) {
    CloseNow("Write Error");
    return;
  }
  if (mgr_->options().tls) {
    StartTls(false);
    return;
  }
  Begin();
}

void Leaf::StartTls(bool client) {
  const auto& o = mgr_->options();
  std::shared_ptr<asio::ssl::context> ctx;
  if (client) {
    ctx = remote_->tls;
    if (!ctx) {
      // The hub demands TLS and the remote has no block: the system's roots,
      // as nats-server's default.
      auto made = tls::MakeClientContext(tls::Options{}, false);
      if (auto* err = std::get_if<std::string>(&made)) {
        log::Error("{} - TLS: {}", Tag(), *err);
        CloseNow("TLS Handshake Failure");
        return;
      }
      ctx = std::get<std::shared_ptr<asio::ssl::context>>(made);
    }
  } else {
    ctx = o.tls;
  }
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *ctx);
  if (client) {
    base::RouteUrl u;
    std::string host;
    if (!base::ParseRouteUrl(url_, true, &u)) host = u.host;
    SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
    if (remote_->tls_insecure) {
      tls_->set_verify_mode(asio::ssl::verify_none);
    } else {
      tls_->set_verify_mode(asio::ssl::verify_peer);
      tls_->set_verify_callback(asio::ssl::host_name_verification(host));
    }
  }
  handshaking_ = true;
  start_ = Clock::now();
  ScheduleTick();
  auto self = shared_from_this();
  tls_->async_handshake(client ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
                        [self](const asio::error_code& ec) { self->OnHandshake(ec); });
}

void Leaf::OnHandshake(const asio::error_code& ec) {
  if (closed_) return;
  handshaking_ = false;
  if (ec) {
    log::Error("{} - TLS leafnode handshake error: {}", Tag(), ec.message());
    CloseNow("TLS Handshake Failure");
    return;
  }
  log::Debug("{} - TLS handshake complete", Tag());
  timer_.cancel();
  if (solicited()) {
    // The INFO is in: CONNECT now goes over TLS.
    std::string err;
    std::string line = mgr_->ConnectLine(*remote_, url_, nonce_, headers_, &err);
    if (!err.empty()) {
      log::Error("{} - {}", Tag(), err);
      CloseNow("Authentication Failure");
      return;
    }
    QueueRaw(line);
    if (!await_connect_info_) Registered();
    server::Server::FlushDirty();
    ScheduleTick();
    DoRead();
    return;
  }
  Begin();
}

void Leaf::Begin() {
  ScheduleTick();
  DoRead();
}

LeafInfo Leaf::Info(bool with_subs) {
  LeafInfo li;
  {
    std::lock_guard lock(info_mu_);
    li.name = remote_name_;
    li.account = account_name_;
  }
  li.is_spoke = spoke_;
  li.ip = ip_;
  li.port = port_;
  li.rtt = std::chrono::milliseconds(rtt_ms_.load(std::memory_order_relaxed));
  li.in_msgs = in_msgs_.load(std::memory_order_relaxed);
  li.in_bytes = in_bytes_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(out_mu_);
    li.out_msgs = out_msgs_;
    li.out_bytes = out_bytes_;
  }
  li.subscriptions = num_subs_.load(std::memory_order_relaxed);
  if (with_subs) {
    auto p = std::make_shared<std::promise<std::vector<std::string>>>();
    auto f = p->get_future();
    auto self = shared_from_this();
    asio::post(ctx_, [self, p] {
      std::vector<std::string> keys;
      for (const auto& [k, s] : self->subs_) keys.push_back(k);
      std::sort(keys.begin(), keys.end());
      p->set_value(std::move(keys));
    });
    if (f.wait_for(std::chrono::seconds(2)) == std::future_status::ready) li.subscriptions_list = f.get();
  }
  return li;
}

// --- reading -------------------------------------------------------------------

void Leaf::DoRead() {
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

void Leaf::OnRead(const asio::error_code& ec, size_t n) {
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
  server::Server::TakeStall();  // as a route: never paused
  if (handshaking_ || closed_) return;  // the first INFO asked for TLS: reading resumes after it
  if (rstart_ == rend_ && rbuf_.size() > 4 * kInitialReadBuf) {
    rbuf_.assign(kInitialReadBuf, 0);
    rstart_ = rend_ = 0;
  }
  DoRead();
}

void Leaf::Process() {
  while (rstart_ < rend_ && !closing_ && !closed_ && !handshaking_) {
    proto::RouteCommand cmd;
    size_t used = 0;
    auto st = proto::NextLeaf(rbuf_.data() + rstart_, rend_ - rstart_, limits_, &cmd, &used);
    if (st == proto::Status::kIncomplete) break;
    if (st != proto::Status::kOk) {
      std::string_view bad(rbuf_.data() + rstart_, std::min<size_t>(rend_ - rstart_, 64));
      bad = bad.substr(0, bad.find_first_of("\r\n"));
      const char* what = st == proto::Status::kUnknownOp     ? "Unknown Protocol Operation"
                         : st == proto::Status::kControlLine ? "Maximum Control Line Exceeded"
                         : st == proto::Status::kMaxPayload  ? "Maximum Payload Violation"
                                                             : "Protocol Error";
      log::Error("{} - Leafnode Error: {} in \"{}\"", Tag(), what, bad);
      SendErrAndClose(what);
      return;
    }
    rstart_ += used;
    Dispatch(cmd);
  }
  if (rstart_ == rend_) rstart_ = rend_ = 0;
}

void Leaf::Dispatch(const proto::RouteCommand& cmd) {
  using proto::RouteOp;
  if (log::TraceEnabled()) {
    static const char* const kNames[] = {"", "INFO", "CONNECT", "PING", "PONG", "+OK", "-ERR", "LS+", "LS-", "LMSG"};
    log::Trace("{} - <<- [{} {}{}{}{}{}]", Tag(), kNames[int(cmd.op)], cmd.subject, cmd.queue.empty() ? "" : " ",
               cmd.queue, cmd.reply.empty() ? "" : " ", cmd.reply);
  }
  if (!solicited() && !connect_received_ && cmd.op != RouteOp::kConnect) {
    log::Error("{} - Leafnode Error: expected CONNECT", Tag());
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
    case RouteOp::kPong:
      if (pings_out_ > 0) {
        rtt_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - ping_sent_).count(),
                      std::memory_order_relaxed);
      }
      pings_out_ = 0;
      break;
    case RouteOp::kErr:
      log::Error("{} - Leafnode Error: remote says '{}'", Tag(), cmd.err);
      // The hub found a loop through us: wait before trying again, as
      // nats-server does.
      if (cmd.err.find("Loop detected") != std::string_view::npos) redial_delay_ = kLoopRedial;
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

void Leaf::ProcessConnect(std::string_view json) {
  if (solicited() || connect_received_) return;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    log::Error("{} - Leafnode Error: invalid CONNECT", Tag());
    SendErrAndClose("Invalid CONNECT");
    return;
  }
  if (!base::JsonString(j, "lang").empty()) {
    // A client on the leafnode port: nats-server's words.
    log::Error("{} - Leafnode Error: attempted to connect to leaf node port", Tag());
    SendErrAndClose("attempted to connect to leaf node port");
    return;
  }
  if (!base::JsonString(j, "gateway").empty()) {
    auto text = fmt::format("Rejecting connection from gateway \"{}\" on the leafnode port", base::JsonString(j, "gateway"));
    log::Error("{} - {}", Tag(), text);
    SendErrAndClose(text);
    return;
  }
  std::string err;
  std::unique_ptr<server::PermissionChecker> user_perms;
  server::Account* acc = mgr_->Authenticate(j, nonce_, &err, &user_perms);
  if (!acc) {
    log::Error("{} - Leafnode Error: {}", Tag(), err.empty() ? "authorization violation" : err);
    SendErrAndClose("Authorization Violation");
    return;
  }
  connect_received_ = true;
  account_ = acc;
  headers_ = base::JsonBool(j, "headers", false) && !mgr_->server()->config()->no_header_support;
  // A leaf that says it is the hub makes us its spoke.
  spoke_ = base::JsonBool(j, "hub", false);
  // As nats-server's hub: the leaf acts for its user, so what it sends us
  // are the user's publishes and what we send it the user's deliveries.
  Perms perms;
  if (user_perms) {
    perms.in = user_perms->permissions().publish;
    perms.out = user_perms->permissions().subscribe;
  }
  if (auto it = j.find("deny_pub"); it != j.end() && it->is_array()) {
    // Subjects the leaf will not take: nothing on them goes there.
    for (const auto& d : *it) {
      if (d.is_string()) perms.out.deny.push_back(d.get<std::string>());
    }
  }
  SetPerms(std::move(perms));
  {
    std::lock_guard lock(info_mu_);
    remote_name_ = base::JsonString(j, "name");
    remote_cluster_ = base::JsonString(j, "cluster");
    remote_domain_ = base::JsonString(j, "domain");
    account_name_ = acc->name();
  }
  // The leaf enforces the same on its side (nats-server's spoke reads them
  // from this INFO: import = what it may take, export = what it may send).
  QueueRaw(mgr_->ConnectInfoLine(id_, acc->name(), user_perms ? &user_perms->permissions() : nullptr));
  Registered();
}

void Leaf::ProcessInfo(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    log::Error("{} - Leafnode Error: invalid INFO", Tag());
    SendErrAndClose("Invalid INFO");
    return;
  }
  if (!solicited()) return;
  if (info_received_) {
    // Updates: the permissions the hub holds us to (sent after CONNECT);
    // URLs and the bound account we do not use.
    ApplyHubPermissions(j);
    if (await_connect_info_) {
      // The hub's answer to CONNECT: only now, under its permissions, do we
      // announce our interest (else it would cut us off for interest it
      // does not allow).
      await_connect_info_ = false;
      Registered();
    }
    return;
  }
  info_received_ = true;
  // nats-server hubs (2.9 and later) answer CONNECT with an INFO carrying
  // the permissions and say so in their first INFO.
  await_connect_info_ = base::JsonBool(j, "info_on_connect", false);
  // A leafnode port's INFO has client_id and leafnode_urls; anything
  // else is some other port.
  if (base::JsonInt(j, "client_id", 0) == 0 || !j.contains("leafnode_urls")) {
    log::Error("{} - Leafnode Error: attempted to connect to the wrong port (not a leafnode port): {}", Tag(), url_);
    CloseNow("Wrong Port");
    return;
  }
  nonce_ = base::JsonString(j, "nonce");
  headers_ = base::JsonBool(j, "headers", false) && !mgr_->server()->config()->no_header_support;
  {
    std::lock_guard lock(info_mu_);
    remote_name_ = base::JsonString(j, "server_name");
    if (remote_name_.empty()) remote_name_ = base::JsonString(j, "server_id");
    remote_domain_ = base::JsonString(j, "domain");
    remote_cluster_ = base::JsonString(j, "cluster");
  }
  account_ = mgr_->FindAccount(remote_->account);
  if (!account_) {
    log::Error("{} - Unable to lookup account {} for solicited leafnode connection", Tag(), remote_->account);
    CloseNow("Missing Account");
    return;
  }
  {
    std::lock_guard lock(info_mu_);
    account_name_ = account_->name();
  }
  bool tls_required = base::JsonBool(j, "tls_required", false);
  base::RouteUrl u;
  bool tls_url = !base::ParseRouteUrl(url_, true, &u) && u.scheme == "tls";
  if (remote_->tls || tls_required || tls_url) {
    // Nothing more comes from the hub until the handshake.
    rstart_ = rend_ = 0;
    StartTls(true);
    return;
  }
  std::string err;
  std::string line = mgr_->ConnectLine(*remote_, url_, nonce_, headers_, &err);
  if (!err.empty()) {
    log::Error("{} - {}", Tag(), err);
    CloseNow("Authentication Failure");
    return;
  }
  QueueRaw(line);
  if (!await_connect_info_) Registered();
}

void Leaf::Registered() {
  lds_ = mgr_->LoopSubject(account_);
  registered_ = true;
  std::string name, acc;
  {
    std::lock_guard lock(info_mu_);
    name = remote_name_;
    acc = account_name_;
  }
  log::Info("{} - Leafnode connection registered with {} for account: {}", Tag(), name, acc);
  mgr_->Register(shared_from_this());
}

bool Leaf::Announces(const server::Subscription& sub) const {
  if (sub.remote) {
    if (sub.remote.get() == this) return false;
    if (sub.remote->kind() == Kind::kRoute) return !spoke_;
    // Another leaf connection: a hub passes everything on; a spoke only
    // what its own spokes want.
    if (spoke_ && static_cast<const Leaf*>(sub.remote.get())->is_spoke()) return false;
  }
  if (sub.subject.starts_with("$LDS.")) return true;
  const Perms* p = perms_.load(std::memory_order_acquire);
  return p ? PatternAllowed(p->in, sub.subject) : PatternAllowed(server::PermissionSet{}, sub.subject);
}

bool Leaf::SendDenied(std::string_view subject) const {
  if (JsDenied(subject)) return true;
  const Perms* p = perms_.load(std::memory_order_acquire);
  return p && !server::PublishAllowed(p->out, subject);
}

bool Leaf::ReceiveDenied(std::string_view subject) const {
  if (JsDenied(subject)) return true;
  const Perms* p = perms_.load(std::memory_order_acquire);
  return p && !server::PublishAllowed(p->in, subject);
}

void Leaf::OnSubscription(const server::Subscription& sub, int delta, bool send) {
  if (!Announces(sub)) return;
  std::string key = Key(sub.subject, sub.queue);
  std::lock_guard lock(smap_mu_);
  int32_t n;
  if (delta > 0) {
    n = ++smap_[key];
  } else {
    auto it = smap_.find(key);
    if (it == smap_.end()) return;
    n = --it->second;
    if (n <= 0) smap_.erase(it);
  }
  if (!send) return;
  // A plain subject matters at its first and last subscription, a queue
  // group at every change of its weight.
  if (sub.queue.empty() && (delta > 0 ? n != 1 : n != 0)) return;
  std::string line;
  if (n > 0) {
    line.append("LS+ ").append(key);
    if (!sub.queue.empty()) line.append(" ").append(std::to_string(n));
  } else {
    line.append("LS- ").append(key);
  }
  line.append("\r\n");
  QueueRaw(line);
}

void Leaf::SendAllInterest(const std::string& lds) {
  std::string buf;
  {
    std::lock_guard lock(smap_mu_);
    for (const auto& [key, n] : smap_) {
      buf.append("LS+ ").append(key);
      if (key.find(' ') != std::string::npos) buf.append(" ").append(std::to_string(n));
      buf.append("\r\n");
    }
  }
  buf.append("LS+ ").append(lds).append("\r\n");
  QueueRaw(buf);
}

void Leaf::ProcessSub(const proto::RouteCommand& cmd) {
  if (!proto::ValidSubscribeSubject(cmd.subject) || (!cmd.queue.empty() && !proto::ValidLiteralSubject(cmd.queue))) {
    log::Error("{} - Leafnode Error: invalid subscription \"{}\"", Tag(), cmd.subject);
    return;
  }
  const bool lds = cmd.subject.starts_with("$LDS.");
  if (cmd.subject == lds_) {
    std::string acc;
    {
      std::lock_guard lock(info_mu_);
      acc = account_name_;
    }
    auto text = fmt::format("Loop detected for leafnode account=\"{}\". Delaying attempt to reconnect for {}s", acc,
                            std::chrono::duration_cast<std::chrono::seconds>(kLoopRedial).count());
    log::Error("{} - {}", Tag(), text);
    SendErrAndClose(text, kLoopRedial);
    return;
  }
  // Interest in what may never go there is not recorded (messages on it
  // are checked one by one anyway, for wider subscriptions).
  // Loop detection subjects pass whatever the permissions (nats-server's
  // exception too).
  const Perms* perms = perms_.load(std::memory_order_acquire);
  if (!lds && !PatternAllowed(perms ? perms->out : server::PermissionSet{}, cmd.subject)) {
    // nats-server closes a leaf for this; the leaf node then redials and
    // asks again. Ignoring the interest keeps the rest of the connection.
    log::Debug("{} - Not permitted to send \"{}\" to the leafnode, ignoring its interest", Tag(), cmd.subject);
    return;
  }
  std::string key = Key(cmd.subject, cmd.queue);
  auto it = subs_.find(key);
  if (it != subs_.end()) {
    if (!cmd.queue.empty()) it->second->weight.store(cmd.weight > 0 ? cmd.weight : 1, std::memory_order_relaxed);
    return;
  }
  auto sub = std::make_shared<server::Subscription>();
  sub->remote = shared_from_this();
  sub->subject = cmd.subject;
  sub->queue = cmd.queue;
  sub->sid = key;
  // A spoke's interest is announced to our routes, as a client's would be.
  sub->propagate = !spoke_;
  if (!cmd.queue.empty()) sub->weight.store(cmd.weight > 0 ? cmd.weight : 1, std::memory_order_relaxed);
  account_->sublist().Insert(sub);
  account_->NotifySubscribed(sub->subject);  // as a route's (cluster/route.cc)
  subs_.emplace(std::move(key), std::move(sub));
  num_subs_.store(subs_.size(), std::memory_order_relaxed);
  server::Server::FlushIfUnbatched();
}

void Leaf::ProcessUnsub(const proto::RouteCommand& cmd) {
  auto it = subs_.find(Key(cmd.subject, cmd.queue));
  if (it == subs_.end()) return;
  it->second->closed = true;
  account_->sublist().Remove(it->second);
  subs_.erase(it);
  num_subs_.store(subs_.size(), std::memory_order_relaxed);
}

void Leaf::ProcessMsg(const proto::RouteCommand& cmd) {
  in_msgs_.store(in_msgs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  in_bytes_.store(in_bytes_.load(std::memory_order_relaxed) + cmd.payload.size(), std::memory_order_relaxed);
  if (ReceiveDenied(cmd.subject)) {
    log::Debug("{} - Not permitted to take \"{}\" from the leafnode, dropped", Tag(), cmd.subject);
    return;
  }
  // The cluster's own traffic (server::ServersOnly): a leaf node bound to
  // the system account must not inject into it, nor answer into it.
  if (server::ServersOnly(cmd.subject) || server::ServersOnly(cmd.reply)) return;
  if (!proto::ValidLiteralSubject(cmd.subject)) return;
  server::Sublist& sl = account_->sublist();
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
  origin.to_routes = !spoke_;  // a hub passes its spokes' messages on to the cluster
  std::string_view subject = cmd.subject, reply = cmd.reply;
  if (server::SplitJsDeliver(cmd.reply, &reply, &subject)) origin.routed_subject = cmd.subject;
  server::Server::Route(nullptr, *last_match_, account_->name(), subject, reply, cmd.hdr_len, cmd.payload, origin);
}

// --- writing -------------------------------------------------------------------

void Leaf::QueueRaw(std::string_view bytes) {
  bool schedule = false;
  {
    std::lock_guard lock(out_mu_);
    if (dead_) return;
    out_.append(bytes);
    if (!flush_scheduled_) schedule = flush_scheduled_ = true;
  }
  if (schedule) server::Server::MarkDirty(std::static_pointer_cast<server::Remote>(shared_from_this()));
}

void Leaf::QueueRoutedMsg(std::string_view, std::string_view subject, std::string_view reply,
                          std::string_view queues, uint32_t hdr_len, std::string_view payload) {
  // Acquire: what registration set (headers_, the deny lists) is visible.
  if (!registered_.load(std::memory_order_acquire) || SendDenied(subject)) return;
  // Nor does the cluster's Raft traffic leave for a leaf node (which might
  // be another cluster's server, sharing the system account).
  if (server::ServersOnly(subject)) return;
  bool with_headers = hdr_len > 0 && headers_;
  std::string_view body = hdr_len > 0 && !headers_ ? payload.substr(hdr_len) : payload;
  bool schedule = false, slow = false;
  {
    std::lock_guard lock(out_mu_);
    if (dead_) return;
    std::string& o = out_;
    o.append(with_headers ? "HMSG " : "LMSG ");
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
    if (int64_t(o.size()) > mgr_->server()->config()->max_pending) {
      slow = dead_ = true;
      o.clear();
    } else {
      if (!flush_scheduled_) schedule = flush_scheduled_ = true;
      if (o.size() > kStallPending) server::Server::StallProducer();
    }
  }
  if (slow) {
    mgr_->server()->stats().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    log::Error("{} - Slow Consumer Detected: leafnode pending bytes exceeded", Tag());
    CloseAsync("Slow Consumer (Pending Bytes)");
    return;
  }
  if (schedule) server::Server::MarkDirty(std::static_pointer_cast<server::Remote>(shared_from_this()));
}

void Leaf::Flush() {
  if (closed_ || handshaking_) return;
  std::unique_lock lock(out_mu_);
  flush_scheduled_ = false;
  if (writing_ || out_.empty()) return;
  std::swap(out_, wbuf_);
  writing_ = true;
  lock.unlock();
  write_started_ = Clock::now();
  auto self = shared_from_this();
  auto done = [self](const asio::error_code& ec, size_t) { self->OnWrite(ec); };
  if (tls_) {
    asio::async_write(*tls_, asio::buffer(wbuf_), std::move(done));
  } else {
    asio::async_write(socket_, asio::buffer(wbuf_), std::move(done));
  }
}

void Leaf::OnWrite(const asio::error_code& ec) {
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

void Leaf::SendErrAndClose(std::string_view text, std::chrono::milliseconds redial_delay) {
  if (closing_) return;
  redial_delay_ = redial_delay;
  QueueRaw(fmt::format("-ERR '{}'\r\n", text));
  closing_ = true;
  close_after_flush_ = true;
  {
    std::lock_guard lock(out_mu_);
    dead_ = true;
  }
  server::Server::FlushDirty();
}

void Leaf::CloseAsync(const char* reason) {
  auto self = shared_from_this();
  asio::post(ctx_, [self, reason] { self->CloseNow(reason); });
}

void Leaf::CloseNow(const char* reason) {
  if (closed_) return;
  closed_ = true;
  closing_ = true;
  registered_ = false;
  log::Info("{} - Leafnode connection closed: {}", Tag(), reason);
  for (auto& [key, sub] : subs_) {
    sub->closed = true;
    account_->sublist().Remove(sub);
  }
  subs_.clear();
  num_subs_.store(0, std::memory_order_relaxed);
  last_match_.reset();
  {
    std::lock_guard lock(out_mu_);
    dead_ = true;
    out_.clear();
  }
  asio::error_code ec;
  timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  server::Server::FlushIfUnbatched();
  mgr_->Closed(this, redial_delay_);
}

// --- keep-alive ------------------------------------------------------------------

void Leaf::ScheduleTick() {
  timer_.expires_after(kTick);
  auto self = shared_from_this();
  timer_.async_wait([self](const asio::error_code& ec) {
    if (!ec && !self->closed_) self->Tick();
  });
}

void Leaf::Tick() {
  auto now = Clock::now();
  auto cfg = mgr_->server()->config();
  if (handshaking_) {
    int64_t limit = solicited() ? remote_->tls_timeout_ms : mgr_->options().tls_timeout_ms;
    if (now - start_ >= std::chrono::milliseconds(limit)) {
      log::Error("{} - TLS leafnode handshake timeout", Tag());
      CloseNow("TLS Handshake Timeout");
      return;
    }
    ScheduleTick();
    return;
  }
  if (!solicited() && !connect_received_) {
    auto limit = mgr_->options().auth_timeout_ms > 0 ? std::chrono::milliseconds(mgr_->options().auth_timeout_ms)
                                                     : std::chrono::milliseconds(kDefaultAuthTimeout);
    if (now - start_ >= limit) {
      log::Error("{} - Leafnode Error: authentication timeout", Tag());
      SendErrAndClose("Authentication Timeout");
      return;
    }
  }
  if (!registered_ && now - start_ >= kHandshakeTimeout) {
    log::Error("{} - Leafnode Error: no INFO within {}s", Tag(), kHandshakeTimeout.count());
    CloseNow("Stale Connection");
    return;
  }
  bool writing;
  {
    std::lock_guard lock(out_mu_);
    writing = writing_;
  }
  if (writing && now - write_started_ >= std::chrono::milliseconds(cfg->write_deadline_ms)) {
    mgr_->server()->stats().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    log::Error("{} - Slow Consumer Detected: WriteDeadline of {}ms Exceeded", Tag(), cfg->write_deadline_ms);
    CloseNow("Slow Consumer (Write Deadline)");
    return;
  }
  if (registered_ && now >= next_ping_) {
    next_ping_ = now + std::chrono::milliseconds(cfg->ping_interval_ms);
    if (pings_out_ + 1 > cfg->ping_max) {
      log::Error("{} - Leafnode Error: stale connection", Tag());
      SendErrAndClose("Stale Connection");
      return;
    }
    ++pings_out_;
    ping_sent_ = now;
    QueueRaw("PING\r\n");
    server::Server::FlushDirty();
  }
  ScheduleTick();
}

}  // namespace fjord::leaf
