#include "server/server.h"

#include <pthread.h>
#include <openssl/rand.h>

#include <algorithm>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <random>

#include "base/log.h"
#include "base/net.h"
#include "fjord_version.h"
#include "proto/parser.h"
#include "proto/route_parser.h"
#include "server/client.h"
#include "server/operator.h"
#include "websocket/handshake.h"

namespace fjord::server {
namespace {

// Output produced during one batch, flushed once at its end.
thread_local std::vector<std::shared_ptr<Client>> t_dirty;
thread_local std::vector<std::shared_ptr<Remote>> t_dirty_remotes;
thread_local asio::io_context* t_ctx = nullptr;
thread_local bool t_stall = false;
thread_local int t_batch_depth = 0;
thread_local int t_read_depth = 0;  // ReadBatch
thread_local uint32_t t_rand = 0x9e3779b9u;

uint32_t FastRand() {
  // xorshift32: queue member choice needs spread, not cryptographic quality.
  uint32_t x = t_rand;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return t_rand = x;
}

AccountConfig NamedAccount(std::string name) {
  AccountConfig ac;
  ac.name = std::move(name);
  return ac;
}

std::string NewServerId() {
  // nkey-style: 'N' + 55 base32 characters.
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  unsigned char raw[55];
  RAND_bytes(raw, sizeof raw);
  std::string id = "N";
  for (unsigned char c : raw) id.push_back(kAlphabet[c % 32]);
  return id;
}

}  // namespace

Server::Server(Config cfg) : id_(NewServerId()) {
  if (cfg.server_name.empty()) cfg.server_name = id_;
  cfg_ = std::make_shared<const Config>(std::move(cfg));
  ws_cfg_ = std::make_shared<const Config>(WebsocketClientConfig(*cfg_));
  // "$G" always exists (the home of clients no account claims), the system
  // account when one is named, and every configured account.
  auto add = [this](AccountConfig ac) {
    std::string name = ac.name;
    if (!accounts_.count(name)) accounts_.emplace(name, std::make_shared<Account>(std::move(ac)));
  };
  for (const auto& ac : cfg_->accounts) add(ac);
  add(NamedAccount(std::string(kGlobalAccount)));
  // In operator mode the system account comes from its JWT, at Start().
  if (!cfg_->system_account.empty() && !cfg_->operator_mode) add(NamedAccount(cfg_->system_account));
  global_ = accounts_.at(std::string(kGlobalAccount)).get();
  if (cfg_->operator_mode) op_ = std::make_unique<Operator>(this, cfg_->operator_mode);
  // Imports were checked against the exports when the config was loaded;
  // one that fails here is logged and left out rather than half-wired.
  for (const auto& [name, acc] : accounts_) {
    WireImports(acc.get(), [this](const std::string& n) { return LookupAccount(n); });
  }
}

Server::~Server() { Shutdown(); }

void Server::WireImports(Account* acc, const std::function<Account*(const std::string&)>& lookup) {
  const std::string& name = acc->name();
  for (const auto& imp : acc->config().stream_imports) {
    Account* exp = lookup(imp.account);
    if (!exp || !FindStreamExport(exp->config(), name, imp.subject)) {
      log::Error("Account {}: stream import \"{}\" from {} is not authorized", name, imp.subject, imp.account);
      continue;
    }
    acc->AddStreamImport(exp, imp);
  }
  for (const auto& imp : acc->config().service_imports) {
    Account* exp = lookup(imp.account);
    const ServiceExport* se = exp ? FindServiceExport(exp->config(), name, imp.subject) : nullptr;
    if (!se) {
      log::Error("Account {}: service import \"{}\" from {} is not authorized", name, imp.subject, imp.account);
      continue;
    }
    acc->AddServiceImport(exp, imp, *se);
  }
}

std::string Server::LoadOperator() {
  if (!op_) return {};
  if (auto err = op_->Load(); !err.empty()) return err;
  // The system account exists from the start, from its JWT if the resolver
  // has one.
  auto cfg = config();
  if (!cfg->system_account.empty()) {
    std::string ignored;
    if (!op_->ResolveAccount(cfg->system_account, &ignored)) {
      bool created;
      RegisterAccount(NamedAccount(cfg->system_account), &created);
    }
  }
  return {};
}

Account* Server::RegisterAccount(AccountConfig cfg, bool* created) {
  std::lock_guard lock(accounts_mu_);
  auto it = accounts_.find(cfg.name);
  *created = it == accounts_.end();
  if (!*created) return it->second.get();
  std::string name = cfg.name;
  auto acc = std::make_shared<Account>(std::move(cfg));
  accounts_.emplace(name, acc);
  return acc.get();
}

void Server::EnforceConnectionLimit(Account* acc) {
  int64_t limit = acc->max_connections();
  if (limit < 0) return;
  std::vector<std::shared_ptr<Client>> mine;
  for (auto& c : Clients()) {
    if (c->account() == acc) mine.push_back(std::move(c));
  }
  if (int64_t(mine.size()) <= limit) return;
  std::sort(mine.begin(), mine.end(), [](const auto& a, const auto& b) { return a->cid() > b->cid(); });
  for (size_t i = 0; i < mine.size() - size_t(limit); ++i) {
    log::Warn("cid:{} - account {}: maximum account active connections exceeded after a limit change", mine[i]->cid(),
              acc->name());
    mine[i]->ErrAndCloseAsync("maximum account active connections exceeded");
  }
}

void Server::ReauthorizeAccount(Account* acc) {
  auto cfg = config();
  for (auto& c : Clients()) {
    if (c->account() != acc) continue;
    asio::post(c->context(), [c, cfg] { c->Reauthorize(cfg); });
  }
}

Account* Server::LookupAccount(std::string_view name) const {
  std::lock_guard lock(accounts_mu_);
  auto it = accounts_.find(std::string(name));
  return it == accounts_.end() ? nullptr : it->second.get();
}

std::vector<Account*> Server::Accounts() const {
  std::lock_guard lock(accounts_mu_);
  std::vector<Account*> out;
  for (const auto& [name, acc] : accounts_) out.push_back(acc.get());
  std::sort(out.begin(), out.end(), [](Account* a, Account* b) { return a->name() < b->name(); });
  return out;
}

std::shared_ptr<const Config> Server::config() const {
  std::lock_guard lock(cfg_mu_);
  return cfg_;
}

std::shared_ptr<const Config> Server::websocket_config() const {
  std::lock_guard lock(cfg_mu_);
  return ws_cfg_;
}

Config Server::WebsocketClientConfig(const Config& c) {
  Config w = c;
  const WebsocketConfig& ws = c.websocket;
  w.is_websocket = true;
  w.tls = ws.tls;
  w.tls_verify = ws.tls_verify;
  w.tls_map = ws.tls_map;
  w.tls_pinned = ws.tls_pinned;
  w.tls_timeout_ms = ws.tls_timeout_ms;
  w.tls_handshake_first = false;
  w.allow_non_tls = false;
  if (ws.auth_override) {
    w.token = ws.token;
    w.user = ws.user;
    w.password = ws.password;
    w.no_auth_user = ws.no_auth_user;
  }
  if (ws.auth_timeout_ms > 0) w.auth_timeout_ms = ws.auth_timeout_ms;
  if (ws.ping_interval_ms > 0) w.ping_interval_ms = ws.ping_interval_ms;
  auto h = std::make_shared<websocket::HandshakeOptions>();
  h->compression = ws.compression;
  h->tls = bool(ws.tls);
  h->same_origin = ws.same_origin;
  for (const auto& a : ws.allowed_origins) {
    websocket::Origin parsed;
    if (!websocket::ParseOrigin(a, &parsed)) h->allowed_origins.push_back(std::move(parsed));
  }
  h->jwt_cookie = ws.jwt_cookie;
  h->user_cookie = ws.user_cookie;
  h->pass_cookie = ws.pass_cookie;
  h->token_cookie = ws.token_cookie;
  h->headers = ws.headers;
  w.websocket.handshake = std::move(h);
  return w;
}

void Server::Reload(const Config& cfg) {
  auto next = std::make_shared<Config>(cfg);
  std::shared_ptr<const Config> ws_next;
  {
    std::lock_guard lock(cfg_mu_);
    next->server_name = cfg_->server_name;
    next->host = cfg_->host;
    next->port = cfg_->port;
    next->io_threads = cfg_->io_threads;
    next->jetstream = cfg_->jetstream;
    // Routes run with the cluster settings they started with (a restart
    // applies new ones).
    next->cluster = cfg_->cluster;
    // So does the WebSocket listener (its address, and ws:// or wss://);
    // its authorization, origins and certificate follow the file.
    next->websocket.enabled = cfg_->websocket.enabled;
    next->websocket.host = cfg_->websocket.host;
    next->websocket.port = cfg_->websocket.port;
    if (bool(next->websocket.tls) != bool(cfg_->websocket.tls)) next->websocket.tls = cfg_->websocket.tls;
    cfg_ = next;
    ws_cfg_ = std::make_shared<const Config>(WebsocketClientConfig(*next));
    ws_next = ws_cfg_;
  }
  // Connected clients are checked against the new authorization, as
  // nats-server does: a revoked token or user loses its connection.
  std::vector<std::shared_ptr<Client>> clients;
  {
    std::lock_guard lock(clients_mu_);
    for (auto& [cid, c] : clients_) clients.push_back(c);
  }
  for (auto& c : clients) {
    std::shared_ptr<const Config> mine = c->is_websocket() ? ws_next : next;
    asio::post(c->context(), [c, mine] { c->Reauthorize(mine); });
  }
}

std::string Server::Start() {
  auto cfg = config();
  int n = cfg->io_threads > 0 ? cfg->io_threads : int(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  for (int i = 0; i < n; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
  if (auto err = Listen(cfg->host, cfg->port, &acceptor_); !err.empty()) return err;
  bound_port_ = acceptor_->local_endpoint().port();
  if (cfg->websocket.enabled) {
    if (auto err = Listen(cfg->websocket.host, cfg->websocket.port, &ws_acceptor_); !err.empty()) return err;
    ws_bound_port_ = ws_acceptor_->local_endpoint().port();
  }
  Accept(*acceptor_, false);
  if (ws_acceptor_) Accept(*ws_acceptor_, true);
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this, i] {
      pthread_setname_np(pthread_self(), "fjord-io");
      t_ctx = contexts_[i].get();
      t_rand = 0x9e3779b9u * uint32_t(i + 1);
      contexts_[i]->run();
    });
  }
  log::Info("Listening for client connections on {}:{}", cfg->host, bound_port_);
  if (ws_acceptor_) {
    log::Info("Listening for websocket clients on {}://{}:{}", cfg->websocket.tls ? "wss" : "ws",
              cfg->websocket.host, ws_bound_port_);
    // nats-server's words.
    if (!cfg->websocket.tls) log::Warn("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
  }
  return {};
}

std::string Server::Listen(const std::string& host, int port, std::unique_ptr<asio::ip::tcp::acceptor>* out) {
  try {
    asio::ip::tcp::resolver resolver(*contexts_[0]);
    auto results = resolver.resolve(host, std::to_string(port), asio::ip::resolver_base::passive);
    asio::ip::tcp::endpoint ep = results.begin()->endpoint();
    auto a = std::make_unique<asio::ip::tcp::acceptor>(*contexts_[0]);
    a->open(ep.protocol());
    a->set_option(asio::ip::tcp::acceptor::reuse_address(true));
    a->bind(ep);
    a->listen(asio::socket_base::max_listen_connections);
    *out = std::move(a);
  } catch (const std::exception& e) {
    return fmt::format("Error listening on port: {}:{}, \"{}\"", host, port, e.what());
  }
  return {};
}

asio::io_context& Server::NextContext() {
  return *contexts_[next_ctx_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void Server::Accept(asio::ip::tcp::acceptor& acceptor, bool websocket) {
  asio::io_context& target = NextContext();
  acceptor.async_accept(target, [this, &target, &acceptor, websocket](const asio::error_code& ec,
                                                                      asio::ip::tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || shutting_down_) return;
      log::Error("Error accepting client connection: {}", ec.message());
      Accept(acceptor, websocket);
      return;
    }
    auto cfg = websocket ? websocket_config() : config();
    uint64_t cid = next_cid_.fetch_add(1);
    auto client = std::make_shared<Client>(this, target, std::move(socket), cid, cfg);
    bool reject;
    {
      std::lock_guard lock(clients_mu_);
      reject = int64_t(clients_.size()) >= cfg->max_connections;
      clients_.emplace(cid, client);
    }
    stats_.total_connections.fetch_add(1, std::memory_order_relaxed);
    asio::post(target, [client, reject] { client->Start(reject); });
    Accept(acceptor, websocket);
  });
}

void Server::RemoveClient(uint64_t cid) {
  std::shared_ptr<Client> c;
  {
    std::lock_guard lock(clients_mu_);
    auto it = clients_.find(cid);
    if (it == clients_.end()) return;
    c = std::move(it->second);
    clients_.erase(it);
    // Keeps /varz's totals monotonic when a connection goes away. Its
    // counters are final: it no longer reads, and output to it is dropped.
    // Folded under the same lock TrafficTotals() reads with, so a total
    // never counts a connection both as open and as closed.
    auto s = c->GetStats(false);
    Account* acc = c->account();
    acc->closed_in_msgs.fetch_add(s.in_msgs, std::memory_order_relaxed);
    acc->closed_in_bytes.fetch_add(s.in_bytes, std::memory_order_relaxed);
    acc->closed_out_msgs.fetch_add(s.out_msgs, std::memory_order_relaxed);
    acc->closed_out_bytes.fetch_add(s.out_bytes, std::memory_order_relaxed);
    stats_.closed_in_msgs.fetch_add(s.in_msgs, std::memory_order_relaxed);
    stats_.closed_in_bytes.fetch_add(s.in_bytes, std::memory_order_relaxed);
    stats_.closed_out_msgs.fetch_add(s.out_msgs, std::memory_order_relaxed);
    stats_.closed_out_bytes.fetch_add(s.out_bytes, std::memory_order_relaxed);
  }
}

Server::Traffic Server::TrafficTotals() {
  std::lock_guard lock(clients_mu_);
  Traffic t{stats_.closed_in_msgs.load(), stats_.closed_in_bytes.load(), stats_.closed_out_msgs.load(),
            stats_.closed_out_bytes.load()};
  for (auto& [cid, c] : clients_) {
    auto s = c->GetStats(false);
    t.in_msgs += s.in_msgs;
    t.in_bytes += s.in_bytes;
    t.out_msgs += s.out_msgs;
    t.out_bytes += s.out_bytes;
  }
  return t;
}

std::vector<std::shared_ptr<Client>> Server::Clients() {
  std::lock_guard lock(clients_mu_);
  std::vector<std::shared_ptr<Client>> out;
  out.reserve(clients_.size());
  for (auto& [cid, c] : clients_) out.push_back(c);
  return out;
}

std::string Server::InfoLine(uint64_t cid, const std::string& client_ip, const std::string& nonce,
                             bool websocket) const {
  auto cfg = websocket ? websocket_config() : config();
  nlohmann::ordered_json j;
  j["server_id"] = id_;
  j["server_name"] = cfg->server_name;
  j["version"] = kNatsCompatVersion;
  j["proto"] = 1;
  j["go"] = fmt::format("fjord{}", kFjordVersion);
  j["host"] = websocket ? cfg->websocket.host : cfg->host;
  j["port"] = websocket ? ws_bound_port_ : bound_port_;
  j["headers"] = !cfg->no_header_support;
  if (AuthRequired(*cfg)) j["auth_required"] = true;
  if (cfg->tls) {
    // allow_non_tls offers TLS without demanding it (2.11's tls_available).
    j[cfg->allow_non_tls ? "tls_available" : "tls_required"] = true;
    if (cfg->tls_verify) j["tls_verify"] = true;
  }
  j["max_payload"] = cfg->max_payload;
  if (cfg->jetstream) j["jetstream"] = true;
  j["client_id"] = cid;
  j["client_ip"] = client_ip;
  if (!nonce.empty()) j["nonce"] = nonce;
  if (cfg->jetstream && !cfg->jetstream_domain.empty()) j["domain"] = cfg->jetstream_domain;
  if (cfg->cluster.enabled) {
    std::lock_guard lock(urls_mu_);
    if (!cluster_name_.empty()) j["cluster"] = cluster_name_;
  }
  if (lame_duck_.load()) j["ldm"] = true;
  // The other servers' client URLs are not WebSocket ones: a WebSocket
  // client is told none (nats-server tells it their ws_connect_urls).
  if (cfg->cluster.enabled && !cfg->cluster.no_advertise && !websocket) j["connect_urls"] = ClientUrls();
  return "INFO " + j.dump() + " \r\n";
}

std::vector<std::string> Server::OwnClientUrls() const {
  auto cfg = config();
  std::vector<std::string> urls;
  auto join = [this](const std::string& host) { return base::JoinHostPort(host, bound_port_); };
  if (base::IsWildcardHost(cfg->host)) {
    // As nats-server: every non-loopback address of this machine.
    for (const auto& ip : base::LocalAddresses(false)) urls.push_back(join(ip));
    if (urls.empty()) urls.push_back(join("127.0.0.1"));
  } else {
    urls.push_back(join(cfg->host));
  }
  return urls;
}

std::vector<std::string> Server::ClientUrls() const {
  std::vector<std::string> urls = OwnClientUrls();
  std::lock_guard lock(urls_mu_);
  for (const auto& u : cluster_urls_) {
    if (std::find(urls.begin(), urls.end(), u) == urls.end()) urls.push_back(u);
  }
  return urls;
}

void Server::SetClusterUrls(std::vector<std::string> urls) {
  {
    std::lock_guard lock(urls_mu_);
    if (urls == cluster_urls_) return;
    cluster_urls_ = std::move(urls);
  }
  for (auto& c : Clients()) asio::post(c->context(), [c] { c->SendAsyncInfo(); });
}

namespace {
// Delivers to one subscription; false if it was skipped.
inline bool DeliverTo(Client* src, Subscription& s, std::string_view subject,
                      std::string_view reply, uint32_t hdr_len, std::string_view payload) {
  if (s.closed.load(std::memory_order_relaxed)) return false;
  if (s.handler) {
    InternalMsg m;
    m.subject = subject;
    m.reply = reply;
    m.hdr = payload.substr(0, hdr_len);
    m.data = payload.substr(hdr_len);
    m.client_id = src ? src->cid() : 0;
    s.handler(m);
    return true;
  }
  Client* c = s.client.get();
  if (!c || (c == src && !src->echo())) return false;
  uint64_t max = s.max.load(std::memory_order_relaxed);
  uint64_t n = s.delivered.fetch_add(1, std::memory_order_relaxed) + 1;
  if (max && n > max) return false;
  c->QueueMsg(s, subject, reply, hdr_len, payload);
  return true;
}
}  // namespace

namespace {

// Remote servers a message is going to, with the queue groups each should
// deliver it to. Taken from a per-thread pool only when a remote
// subscription matches (an internal handler may route again meanwhile, so
// each Route call takes its own), and given back with its capacity.
struct RemoteTarget {
  Remote* remote;
  std::string queues;
};
using Targets = std::vector<RemoteTarget>;
thread_local std::vector<std::unique_ptr<Targets>> t_target_pool;

class TargetList {
 public:
  ~TargetList() {
    if (!list_) return;
    list_->clear();
    t_target_pool.push_back(std::move(list_));
  }
  void Add(Remote* r, std::string_view queue) {
    if (!list_) {
      if (t_target_pool.empty()) {
        list_ = std::make_unique<Targets>();
      } else {
        list_ = std::move(t_target_pool.back());
        t_target_pool.pop_back();
      }
    }
    for (auto& t : *list_) {
      if (t.remote != r) continue;
      if (!queue.empty()) {
        if (!t.queues.empty()) t.queues.push_back(' ');
        t.queues.append(queue);
      }
      return;
    }
    list_->push_back({r, std::string(queue)});
  }
  const Targets* get() const { return list_.get(); }

 private:
  std::unique_ptr<Targets> list_;
};

bool QueueListed(std::string_view queues, std::string_view name) {
  bool found = false;
  proto::ForEachQueue(queues, [&](std::string_view q) { found = found || q == name; });
  return found;
}

inline bool Deliverable(const Client* src, const Subscription& s) {
  return !(s.client && s.client.get() == src && !src->echo());
}

inline uint32_t Weight(const Subscription& s) {
  return uint32_t(std::max<int32_t>(1, s.weight.load(std::memory_order_relaxed)));
}

}  // namespace

size_t Server::Route(Client* src, const MatchResult& r, std::string_view account, std::string_view subject,
                     std::string_view reply, uint32_t hdr_len, std::string_view payload, const Origin& origin) {
  const bool any_remote_ok = !origin.local_only && (origin.to_routes || origin.to_leafs);
  auto remote_ok = [&](const Remote* rem) {
    if (!any_remote_ok || rem == origin.source) return false;
    return rem->kind() == Remote::Kind::kLeaf ? origin.to_leafs : origin.to_routes;
  };
  TargetList targets;
  size_t n = 0;
  for (const auto& s : r.psubs) {
    if (s->remote) {
      if (remote_ok(s->remote.get()) && !s->closed.load(std::memory_order_relaxed)) targets.Add(s->remote.get(), {});
      continue;
    }
    if (DeliverTo(src, *s, subject, reply, hdr_len, payload)) {
      ++n;
      if (s->max && s->delivered.load() >= s->max.load() && s->client) s->client->AutoUnsubscribed(s);
    }
  }
  for (const auto& group : r.qsubs) {
    size_t size = group.size();
    if (origin.from_remote && !QueueListed(origin.queues, group[0]->queue)) continue;
    size_t start = 0;
    bool any_remote = false;
    if (r.remote_qsubs) {
      for (const auto& s : group) any_remote = any_remote || s->remote;
    }
    if (!any_remote) {
      start = FastRand() % size;
    } else {
      // Members on other servers weigh as many as they stand for there; a
      // message that came over a route (or stays here) goes to a member
      // here or behind a leaf connection: the sender already chose this
      // server.
      uint32_t total = 0;
      for (const auto& s : group) total += s->remote ? (remote_ok(s->remote.get()) ? Weight(*s) : 0) : 1;
      if (total == 0) continue;
      uint32_t pick = FastRand() % total;
      for (size_t i = 0; i < size; ++i) {
        uint32_t w = group[i]->remote ? (remote_ok(group[i]->remote.get()) ? Weight(*group[i]) : 0) : 1;
        if (pick < w) {
          start = i;
          break;
        }
        pick -= w;
      }
    }
    for (size_t k = 0; k < size; ++k) {
      const SubPtr& s = group[(start + k) % size];
      if (s->remote) {
        if (!remote_ok(s->remote.get()) || s->closed.load(std::memory_order_relaxed)) continue;
        targets.Add(s->remote.get(), s->queue);
        ++n;
        break;
      }
      if (!Deliverable(src, *s)) continue;
      if (DeliverTo(src, *s, subject, reply, hdr_len, payload)) {
        ++n;
        if (s->max && s->delivered.load() >= s->max.load() && s->client) s->client->AutoUnsubscribed(s);
        break;
      }
    }
  }
  if (const Targets* list = targets.get()) {
    std::string_view rsubject = subject, rreply = reply;
    std::string encoded;
    if (!origin.routed_subject.empty() && origin.routed_subject != subject) {
      rsubject = origin.routed_subject;
      if (!reply.empty()) {
        encoded.reserve(reply.size() + 1 + subject.size());
        encoded.append(reply).append("@").append(subject);
        rreply = encoded;
      }
    }
    for (const auto& t : *list) {
      t.remote->QueueRoutedMsg(account, rsubject, rreply, t.queues, hdr_len, payload);
      if (t.queues.empty()) ++n;  // a server with plain interest counts once
    }
  }
  return n;
}

bool SplitJsDeliver(std::string_view reply, std::string_view* ack_reply, std::string_view* subject) {
  if (!reply.starts_with("$JS.ACK.")) return false;
  // The stream and consumer names may hold '@': the first one after the
  // eighth dot separates (nats-server's rule).
  int dots = 0;
  for (size_t i = 0; i < reply.size(); ++i) {
    if (reply[i] == '.') {
      ++dots;
    } else if (reply[i] == '@' && dots >= 8) {
      if (i + 1 >= reply.size()) return false;
      *ack_reply = reply.substr(0, i);
      *subject = reply.substr(i + 1);
      return true;
    }
  }
  return false;
}

size_t Server::RouteInternal(Sublist& sublist, std::string_view route_to, std::string_view subject,
                             std::string_view reply, std::string_view hdr, std::string_view data,
                             bool local_only) {
  MatchPtr r = sublist.Match(route_to);
  if (r->empty()) return 0;
  Origin origin;
  origin.local_only = local_only;
  origin.routed_subject = route_to;
  const std::string& acc = sublist.account();
  if (hdr.empty()) return Route(nullptr, *r, acc, subject, reply, 0, data, origin);
  // Header and body are usually adjacent views of one message already.
  if (hdr.data() + hdr.size() == data.data()) {
    return Route(nullptr, *r, acc, subject, reply, uint32_t(hdr.size()),
                 std::string_view(hdr.data(), hdr.size() + data.size()), origin);
  }
  std::string payload;
  payload.reserve(hdr.size() + data.size());
  payload.append(hdr);
  payload.append(data);
  return Route(nullptr, *r, acc, subject, reply, uint32_t(hdr.size()), payload, origin);
}

void Server::FlushIfUnbatched() {
  // Outside a read batch and an OutputBatch nothing else would flush this
  // output, on an I/O thread as on any other.
  if (t_batch_depth == 0 && t_read_depth == 0) FlushDirty();
}

Server::ReadBatch::ReadBatch() { ++t_read_depth; }
Server::ReadBatch::~ReadBatch() { --t_read_depth; }

Server::OutputBatch::OutputBatch() { ++t_batch_depth; }

Server::OutputBatch::~OutputBatch() {
  if (--t_batch_depth == 0) FlushDirty();
}

void Server::StallProducer() { t_stall = true; }

bool Server::TakeStall() {
  bool s = t_stall;
  t_stall = false;
  return s;
}

void Server::MarkDirty(const std::shared_ptr<Client>& c) { t_dirty.push_back(c); }
void Server::MarkDirty(const std::shared_ptr<Remote>& r) { t_dirty_remotes.push_back(r); }

void Server::FlushDirty(size_t direct_max) {
  if (!t_dirty_remotes.empty()) {
    std::vector<std::shared_ptr<Remote>> dirty;
    dirty.swap(t_dirty_remotes);
    for (auto& r : dirty) {
      if (&r->context() == t_ctx) {
        r->Flush();
      } else if (direct_max == 0 || !r->TryWriteDirect(direct_max)) {
        asio::post(r->context(), [r] { r->Flush(); });
      }
    }
  }
  if (t_dirty.empty()) return;
  std::vector<std::shared_ptr<Client>> dirty;
  dirty.swap(t_dirty);
  for (auto& c : dirty) {
    if (&c->context() == t_ctx) {
      c->Flush();
    } else if (direct_max == 0 || !c->TryWriteDirect(direct_max)) {
      asio::post(c->context(), [c] { c->Flush(); });
    }
  }
  dirty.clear();
  if (t_dirty.empty()) t_dirty.swap(dirty);  // keep the capacity
}

void Server::EnterLameDuck() {
  if (lame_duck_.exchange(true)) return;
  StopAccepting();
  for (auto& c : Clients()) asio::post(c->context(), [c] { c->SendAsyncInfo(); });
}

void Server::StopAccepting() {
  if (!acceptor_) return;
  asio::post(*contexts_[0], [this] {
    asio::error_code ec;
    acceptor_->close(ec);
    if (ws_acceptor_) ws_acceptor_->close(ec);
  });
}

void Server::Shutdown() {
  if (shutting_down_.exchange(true)) {
    return;
  }
  if (acceptor_) {
    asio::post(*contexts_[0], [this] {
      asio::error_code ec;
      acceptor_->close(ec);
      if (ws_acceptor_) ws_acceptor_->close(ec);
    });
  }
  std::vector<std::shared_ptr<Client>> clients;
  {
    std::lock_guard lock(clients_mu_);
    for (auto& [cid, c] : clients_) clients.push_back(c);
  }
  for (auto& c : clients) c->CloseAsync("Server Shutdown");
  clients.clear();
  for (auto& g : guards_) g.reset();
  for (auto& t : threads_) {
    if (t.joinable()) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();
      } else {
        t.join();
      }
    }
  }
  {
    std::lock_guard lock(clients_mu_);
    clients_.clear();
  }
  std::lock_guard lock(done_mu_);
  done_ = true;
  done_cv_.notify_all();
}

void Server::Wait() {
  std::unique_lock lock(done_mu_);
  done_cv_.wait(lock, [this] { return done_; });
}

}  // namespace fjord::server
