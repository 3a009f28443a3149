#include "cluster/cluster.h"

#include <algorithm>

#include "base/json.h"
#include "base/log.h"
#include "base/net.h"
#include "cluster/route.h"
#include "fjord_version.h"
#include "server/account.h"
#include "server/auth.h"
#include "server/random.h"
#include "server/server.h"

namespace fjord::cluster {
namespace {

// As nats-server: a dialled route is tried again every second, and a
// dropped one after a second plus a little jitter (two servers that drop
// each other's duplicate at once then do not keep colliding).
constexpr auto kDialDelay = std::chrono::seconds(1);
constexpr auto kDialTimeout = std::chrono::seconds(1);

// A route URL, or nullopt (logged by the caller) if it is not one.
std::optional<base::RouteUrl> ParseUrl(const std::string& url) {
  base::RouteUrl r;
  if (base::ParseRouteUrl(url, false, &r)) return std::nullopt;
  return r;
}

// RS+ (count > 0, with the queue group's weight) or RS- for one interest.
void AppendInterest(std::string& out, std::string_view account, std::string_view subject, std::string_view queue,
                    int32_t count) {
  out.append(count > 0 ? "RS+ " : "RS- ").append(account).append(" ").append(subject);
  if (!queue.empty()) {
    out.append(" ").append(queue);
    if (count > 0) out.append(" ").append(std::to_string(count));
  }
  out.append("\r\n");
}

// "host:port" of a route URL, as a peer's INFO gives them.
std::string HostPort(const std::string& url) {
  auto r = ParseUrl(url);
  return r ? r->host + ":" + std::to_string(r->port) : url;
}

}  // namespace

Cluster::Cluster(server::Server* srv)
    : srv_(srv), cfg_(srv->config()->cluster) {
  name_ = cfg_.name;
  if (name_.empty()) {
    // nats-server's dynamic name: random, and it gives way to a configured one.
    name_ = server::RandomToken(22);
    dynamic_ = true;
  }
  srv_->SetClusterName(name_);
  if (cfg_.has_permissions) perms_ = std::make_unique<server::PermissionChecker>(cfg_.permissions);
}

Cluster::~Cluster() { Shutdown(); }

bool Cluster::CanImport(std::string_view subject) {
  if (!perms_) return true;
  std::lock_guard lock(perms_mu_);
  return perms_->CanPublish(subject);
}

bool Cluster::CanExport(std::string_view subject) const {
  return !perms_ || perms_->CanSubscribe(subject);  // const: no cache
}

std::string Cluster::name() const {
  std::lock_guard lock(mu_);
  return name_;
}

bool Cluster::ReconcileName(const std::string& remote, bool remote_dynamic) {
  std::lock_guard lock(mu_);
  if (remote == name_) return true;
  if (dynamic_ && (!remote_dynamic || name_ < remote)) {
    log::Info("Cluster name updated to {}", remote);
    name_ = remote;
    dynamic_ = remote_dynamic;
    srv_->SetClusterName(name_);
    return true;
  }
  return false;
}

bool Cluster::IsSelf(const std::string& server_id) const { return server_id == srv_->id(); }

std::string Cluster::UrlHost(const std::string& url) {
  auto r = ParseUrl(url);
  return r ? r->host : std::string();
}

std::string Cluster::Start() {
  if (dynamic_) log::Warn("Cluster name was dynamically generated, consider setting one");
  log::Info("Cluster name is {}", name());
  accept_ctx_ = &srv_->NextContext();
  try {
    asio::ip::tcp::resolver resolver(*accept_ctx_);
    auto results = resolver.resolve(cfg_.host, std::to_string(cfg_.port), asio::ip::resolver_base::passive);
    asio::ip::tcp::endpoint ep = results.begin()->endpoint();
    acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(*accept_ctx_);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen(asio::socket_base::max_listen_connections);
    bound_port_ = acceptor_->local_endpoint().port();
  } catch (const std::exception& e) {
    return fmt::format("Error listening on router port: {}:{}, \"{}\"", cfg_.host, cfg_.port, e.what());
  }
  log::Info("Listening for route connections on {}:{}", cfg_.host, bound_port_);
  for (server::Account* acc : srv_->Accounts()) AddAccount(acc);
  asio::post(*accept_ctx_, [this] { Accept(); });
  for (const auto& url : cfg_.routes) Dial(url, true, -1, std::chrono::milliseconds(0));
  return {};
}

void Cluster::AddAccount(server::Account* acc) {
  std::string name = acc->name();
  acc->sublist().SetInterestObserver([this, name](std::string_view subject, std::string_view queue, int32_t count) {
    OnInterest(name, subject, queue, count);
  });
}

void Cluster::Shutdown() {
  if (stopping_.exchange(true)) return;
  for (server::Account* acc : srv_->Accounts()) acc->sublist().SetInterestObserver(nullptr);
  std::vector<std::shared_ptr<Route>> routes;
  {
    std::lock_guard lock(mu_);
    // Pending dials see stopping_ when their timer fires (within a second).
    for (auto& [rid, r] : routes_) routes.push_back(r);
  }
  for (auto& r : routes) r->CloseAsync("Server Shutdown");
  if (acceptor_) {
    asio::post(*accept_ctx_, [this] {
      asio::error_code ec;
      acceptor_->close(ec);
    });
  }
}

void Cluster::EnterLameDuck() {
  if (lame_duck_.exchange(true)) return;
  std::string line = InfoLine(false);
  for (auto& r : Registered()) r->QueueRaw(line);
  server::Server::FlushDirty();
}

void Cluster::Accept() {
  if (stopping_) return;
  asio::io_context& target = srv_->NextContext();
  acceptor_->async_accept(target, [this, &target](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping_) return;
      log::Error("Error accepting route connection: {}", ec.message());
      Accept();
      return;
    }
    auto r = std::make_shared<Route>(this, target, std::move(socket), next_rid_.fetch_add(1), "", false);
    {
      std::lock_guard lock(mu_);
      routes_.emplace(r->rid(), r);
    }
    asio::post(target, [r] { r->Start(); });
    Accept();
  });
}

void Cluster::Dial(std::string url, bool configured, int attempts, std::chrono::milliseconds delay) {
  if (stopping_) return;
  auto parsed = ParseUrl(url);
  if (!parsed) {
    log::Error("Error parsing route URL \"{}\"", url);
    return;
  }
  asio::io_context& ctx = srv_->NextContext();
  auto timer = std::make_shared<asio::steady_timer>(ctx, delay);
  // One try: resolve, connect within kDialTimeout, then hand the socket to
  // a Route; on failure, try again after kDialDelay while attempts last.
  struct Attempt {
    asio::ip::tcp::socket socket;
    asio::ip::tcp::resolver resolver;
    asio::steady_timer deadline;
    explicit Attempt(asio::io_context& c) : socket(c), resolver(c), deadline(c) {}
  };
  auto retry = [this, url, configured, attempts](const std::string& why) {
    if (stopping_) return;
    if (attempts == 0) {
      log::Debug("Giving up on route {}: {}", url, why);
      return;
    }
    log::Debug("Error trying to connect to route {}: {}", url, why);
    Dial(url, configured, attempts < 0 ? -1 : attempts - 1, kDialDelay);
  };
  timer->async_wait([this, timer, parsed = *parsed, url, configured, &ctx, retry](const asio::error_code& ec) {
    if (ec || stopping_) return;
    {
      std::lock_guard lock(mu_);
      if (std::find(self_urls_.begin(), self_urls_.end(), url) != self_urls_.end()) return;
    }
    auto at = std::make_shared<Attempt>(ctx);
    at->resolver.async_resolve(
        parsed.host, std::to_string(parsed.port),
        [this, at, url, configured, retry, &ctx](const asio::error_code& ec, asio::ip::tcp::resolver::results_type results) {
          if (stopping_) return;
          if (ec) {
            retry(ec.message());
            return;
          }
          at->deadline.expires_after(kDialTimeout);
          at->deadline.async_wait([at](const asio::error_code& ec) {
            if (!ec) {
              asio::error_code ignored;
              at->socket.close(ignored);
            }
          });
          asio::async_connect(at->socket, results,
                              [this, at, url, configured, retry, &ctx](const asio::error_code& ec, const auto&) {
                                at->deadline.cancel();
                                if (stopping_) return;
                                if (ec) {
                                  retry(ec == asio::error::operation_aborted ? "timeout" : ec.message());
                                  return;
                                }
                                auto r = std::make_shared<Route>(this, ctx, std::move(at->socket),
                                                                 next_rid_.fetch_add(1), url, configured);
                                {
                                  std::lock_guard lock(mu_);
                                  routes_.emplace(r->rid(), r);
                                }
                                r->Start();
                              });
        });
  });
}

std::string Cluster::InfoLine(bool with_nonce) const {
  auto cfg = srv_->config();
  nlohmann::ordered_json j;
  j["server_id"] = srv_->id();
  j["server_name"] = cfg->server_name;
  j["version"] = kNatsCompatVersion;
  j["go"] = fmt::format("fjord{}", kFjordVersion);
  std::string host = cfg_.host;
  int port = bound_port_;
  std::string ip;
  if (!cfg_.advertise.empty()) {
    // "host" or "host:port" (the cluster port when none).
    std::string h, p;
    if (!base::SplitHostPort(cfg_.advertise, &h, &p)) {
      h = cfg_.advertise;
      p = std::to_string(port);
    }
    host = h;
    port = std::atoi(p.c_str());
    ip = "nats-route://" + base::JoinHostPort(host, port) + "/";
  }
  j["host"] = host;
  j["port"] = port;
  j["headers"] = !cfg->no_header_support;
  if (!cfg_.user.empty()) j["auth_required"] = true;
  if (cfg_.tls_server) {
    j["tls_required"] = true;
    j["tls_verify"] = true;
  }
  j["max_payload"] = cfg->max_payload;
  // A clustered nats-server must not count a Fjord server as a JetStream
  // peer: their Raft protocols differ. Fjord servers find each other's
  // JetStream by a field of their own.
  j["jetstream"] = false;
  if (jetstream_peer_) {
    j["fjord_jetstream"] = true;
    if (!jetstream_tags_.empty()) j["fjord_tags"] = jetstream_tags_;
  }
  j["proto"] = 2;  // route protocol with accounts (nats-server's RouteProtoV2)
  {
    std::lock_guard lock(mu_);
    j["cluster"] = name_;
    if (dynamic_) j["cluster_dynamic"] = true;
  }
  if (!cfg_.no_advertise) {
    // This server's own client URLs (the other servers add them to the
    // connect_urls they give their clients).
    j["connect_urls"] = srv_->OwnClientUrls();
  }
  if (cfg_.has_permissions) {
    // As nats-server's route INFO: {"allow":[...],"deny":[...]}, empty
    // parts left out.
    auto perm = [](const server::PermissionSet& ps) {
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      if (!ps.allow.empty()) o["allow"] = ps.allow;
      if (!ps.deny.empty()) o["deny"] = ps.deny;
      return o;
    };
    const auto& p = cfg_.permissions;
    if (!p.publish.allow.empty() || !p.publish.deny.empty()) j["import"] = perm(p.publish);
    if (!p.subscribe.allow.empty() || !p.subscribe.deny.empty()) j["export"] = perm(p.subscribe);
  }
  if (!ip.empty()) j["ip"] = ip;
  if (with_nonce) j["nonce"] = server::RandomToken(11);
  if (lame_duck_) j["ldm"] = true;
  j["lnoc"] = true;
  return "INFO " + j.dump() + "\r\n";
}

std::string Cluster::ConnectLine(const std::string& url) const {
  auto cfg = srv_->config();
  auto parsed = ParseUrl(url);
  std::string user = parsed && !parsed->user.empty() ? parsed->user : cfg_.user;
  std::string pass = parsed && !parsed->user.empty() ? parsed->password : cfg_.password;
  nlohmann::ordered_json j;
  j["echo"] = true;
  j["verbose"] = false;
  j["pedantic"] = false;
  if (!user.empty()) {
    j["user"] = user;
    j["pass"] = pass;
  }
  j["tls_required"] = cfg_.tls_server != nullptr;
  j["headers"] = !cfg->no_header_support;
  j["name"] = srv_->id();
  {
    std::lock_guard lock(mu_);
    j["cluster"] = name_;
    j["dynamic"] = dynamic_;
  }
  j["lnoc"] = true;
  return "CONNECT " + j.dump() + "\r\n";
}

bool Cluster::Register(const std::shared_ptr<Route>& r, const nlohmann::json& info) {
  std::string id = base::JsonString(info, "server_id");
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    auto it = by_server_.find(id);
    if (it != by_server_.end()) {
      // Both servers dialled each other. The route kept must redial if it
      // drops, as the one closed would have.
      if (r->solicited()) it->second->AdoptUrl(r->url(), r->configured());
      return false;
    }
    by_server_.emplace(id, r.get());
  }
  std::vector<std::shared_ptr<Route>> others = Registered();
  std::erase(others, r);
  // Gossip: tell the other servers of the new one, at the address it
  // advertises or that it connected from.
  if (!others.empty()) {
    nlohmann::json fwd = info;
    fwd.erase("nonce");
    if (base::JsonString(fwd, "ip").empty()) fwd["ip"] = r->remote_route_url();
    std::string line = "INFO " + fwd.dump() + "\r\n";
    for (auto& o : others) o->QueueRaw(line);
    server::Server::FlushDirty();
  }
  PublishClientUrls();
  return true;
}

void Cluster::LearnedOf(const nlohmann::json& info) {
  std::string id = base::JsonString(info, "server_id");
  if (id.empty() || IsSelf(id)) return;
  std::string ip = base::JsonString(info, "ip");
  std::string hostport =
      fmt::format("{}:{}", base::JsonString(info, "host"), base::JsonInt(info, "port", 0));
  {
    std::lock_guard lock(mu_);
    if (by_server_.count(id)) return;
    // A configured route to it is being dialled anyway.
    for (const auto& u : cfg_.routes) {
      if (HostPort(u) == hostport) return;
    }
  }
  if (ip.empty()) return;
  // A URL without credentials: ConnectLine then sends our own cluster
  // credentials, as nats-server does for implicit routes.
  log::Debug("Learned of server {} at {}: connecting", id, ip);
  Dial(ip, false, cfg_.connect_retries, std::chrono::milliseconds(std::rand() % 100));
}

void Cluster::SendInterest(Route& r) {
  std::string buf;
  for (server::Account* acc : srv_->Accounts()) {
    const std::string& name = acc->name();
    acc->sublist().ForEachInterest([&](std::string_view subject, std::string_view queue, int32_t count) {
      if (CanImport(subject)) AppendInterest(buf, name, subject, queue, count);
    });
  }
  if (!buf.empty()) r.QueueRaw(buf);
  server::Server::FlushDirty();
}

void Cluster::OnInterest(const std::string& account, std::string_view subject, std::string_view queue, int32_t count) {
  // Interest this server may not import is never announced (nor withdrawn).
  if (!CanImport(subject)) return;
  std::string line;
  AppendInterest(line, account, subject, queue, count);
  {
    std::lock_guard lock(mu_);
    for (auto& [id, r] : by_server_) r->QueueRaw(line);
  }
  // Flushed by the caller's batch: a SUB arrives in a client's read batch,
  // internal subscriptions are made off the I/O threads and flush here.
  server::Server::FlushIfUnbatched();
}

void Cluster::Closed(Route* r, bool registered) {
  std::shared_ptr<Route> keep;
  std::string id = r->remote_id();
  bool redial = false;
  {
    std::lock_guard lock(mu_);
    auto it = routes_.find(r->rid());
    if (it != routes_.end()) {
      keep = it->second;
      routes_.erase(it);
    }
    if (registered) {
      auto b = by_server_.find(id);
      if (b != by_server_.end() && b->second == r) by_server_.erase(b);
    }
    if (IsSelf(id) && r->solicited()) {
      self_urls_.push_back(r->url());
      return;
    }
    if (r->solicited() && !id.empty()) reached_[r->url()] = id;
    // Dial again what we dialled, unless another route to that server is up.
    redial = r->solicited() && !stopping_ && !(by_server_.count(id) && !id.empty());
  }
  if (registered) PublishClientUrls();
  if (redial) {
    int attempts = r->configured() ? -1 : cfg_.connect_retries;
    Dial(r->url(), r->configured(), attempts,
         kDialDelay * (r->configured() ? 1 : 0) + std::chrono::milliseconds(std::rand() % 100));
  }
}

void Cluster::Barrier(std::function<void()> done, std::chrono::milliseconds timeout) {
  auto routes = Registered();
  if (routes.empty()) return done();
  struct Wait {
    explicit Wait(asio::io_context& ctx) : timer(ctx) {}
    std::atomic<size_t> left{0};
    std::atomic<bool> fired{false};
    std::function<void()> done;
    asio::steady_timer timer;
    void Fire() {
      if (!fired.exchange(true)) done();
    }
  };
  auto w = std::make_shared<Wait>(srv_->NextContext());
  w->left = routes.size();
  w->done = std::move(done);
  // The timer keeps the wait alive until it expires; it is not cancelled
  // (that would need its own thread), its handler just finds it fired.
  w->timer.expires_after(timeout);
  w->timer.async_wait([w](const asio::error_code&) { w->Fire(); });
  for (auto& r : routes)
    r->Barrier([w] {
      if (w->left.fetch_sub(1) == 1) w->Fire();
    });
}

std::vector<std::shared_ptr<Route>> Cluster::Registered() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Route>> out;
  for (auto& [rid, r] : routes_) {
    auto id = r->remote_id();
    auto it = by_server_.find(id);
    if (it != by_server_.end() && it->second == r.get()) out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->rid() < b->rid(); });
  return out;
}

void Cluster::PublishClientUrls() {
  if (cfg_.no_advertise) return;
  std::vector<std::string> urls;
  for (auto& r : Registered()) {
    for (auto& u : r->client_urls()) {
      if (std::find(urls.begin(), urls.end(), u) == urls.end()) urls.push_back(u);
    }
  }
  srv_->SetClusterUrls(std::move(urls));
}

std::optional<size_t> Cluster::ConfiguredPeers() {
  std::lock_guard lock(mu_);
  size_t peers = 0;
  for (const auto& url : cfg_.routes) {
    if (std::find(self_urls_.begin(), self_urls_.end(), url) != self_urls_.end()) continue;
    bool up = false;
    for (auto& [id, r] : by_server_) up = up || r->url() == url;
    // Or the server it reached is connected by its own route to us (ours
    // was closed as a duplicate, and is not dialled again).
    if (auto it = reached_.find(url); !up && it != reached_.end()) up = by_server_.count(it->second) > 0;
    if (!up) return std::nullopt;
    peers++;
  }
  return peers;
}

std::vector<server::RouteInfo> Cluster::Routes(bool with_subs) {
  std::vector<server::RouteInfo> out;
  for (auto& r : Registered()) out.push_back(r->Info(with_subs));
  return out;
}

}  // namespace fjord::cluster
