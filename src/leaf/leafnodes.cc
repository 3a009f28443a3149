#include "leaf/leafnodes.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "base/base64.h"
#include "base/json.h"
#include "base/log.h"
#include "base/net.h"
#include "fjord_version.h"
#include "jwt/jwt.h"
#include "leaf/leaf.h"
#include "nkeys/nkeys.h"
#include "server/account.h"
#include "server/auth.h"
#include "server/operator.h"
#include "server/random.h"
#include "server/server.h"

namespace fjord::leaf {
namespace {

constexpr auto kDialTimeout = std::chrono::seconds(2);

}  // namespace

Leafnodes::Leafnodes(server::Server* srv, Options opts) : srv_(srv), opts_(std::move(opts)) {
  next_url_.assign(opts_.remotes.size(), 0);
  failures_.assign(opts_.remotes.size(), 0);
}

Leafnodes::~Leafnodes() { Shutdown(); }

std::string Leafnodes::Start() {
  for (server::Account* acc : srv_->Accounts()) AddAccount(acc);
  if (opts_.listen) {
    accept_ctx_ = &srv_->NextContext();
    try {
      asio::ip::tcp::resolver resolver(*accept_ctx_);
      auto results = resolver.resolve(opts_.host, std::to_string(opts_.port), asio::ip::resolver_base::passive);
      asio::ip::tcp::endpoint ep = results.begin()->endpoint();
      acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(*accept_ctx_);
      acceptor_->open(ep.protocol());
      acceptor_->set_option(asio::ip::tcp::acceptor::reuse_address(true));
      acceptor_->bind(ep);
      acceptor_->listen(asio::socket_base::max_listen_connections);
      bound_port_ = acceptor_->local_endpoint().port();
    } catch (const std::exception& e) {
      return fmt::format("Error listening on leafnode port: {}:{}, \"{}\"", opts_.host, opts_.port, e.what());
    }
    log::Info("Listening for leafnode connections on {}", base::JoinHostPort(opts_.host, bound_port_));
    asio::post(*accept_ctx_, [this] { Accept(); });
  }
  for (size_t i = 0; i < opts_.remotes.size(); ++i) Dial(i, 0, std::chrono::milliseconds(0));
  return {};
}

void Leafnodes::AddAccount(server::Account* acc) {
  acc->sublist().SetSubscriptionObserver(
      [this, acc](const server::Subscription& sub, int delta) { OnSubscription(acc, sub, delta); });
}

void Leafnodes::Shutdown() {
  if (stopping_.exchange(true)) return;
  for (server::Account* acc : srv_->Accounts()) acc->sublist().SetSubscriptionObserver(nullptr);
  std::vector<std::shared_ptr<Leaf>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, l] : leafs_) all.push_back(l);
  }
  for (auto& l : all) l->CloseAsync("Server Shutdown");
  if (acceptor_) {
    asio::post(*accept_ctx_, [this] {
      asio::error_code ec;
      acceptor_->close(ec);
    });
  }
}

size_t Leafnodes::count() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [acc, list] : registered_) n += list.size();
  return n;
}

size_t Leafnodes::count(const server::Account* acc) const {
  std::lock_guard lock(mu_);
  auto it = registered_.find(const_cast<server::Account*>(acc));
  return it == registered_.end() ? 0 : it->second.size();
}

std::vector<LeafInfo> Leafnodes::Leafz(bool with_subs) {
  std::vector<std::shared_ptr<Leaf>> list;
  {
    std::lock_guard lock(mu_);
    for (const auto& [acc, ls] : registered_) {
      for (Leaf* l : ls) {
        auto it = leafs_.find(l->id());
        if (it != leafs_.end()) list.push_back(it->second);
      }
    }
  }
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a->id() < b->id(); });
  std::vector<LeafInfo> out;
  for (auto& l : list) out.push_back(l->Info(with_subs));
  return out;
}

void Leafnodes::Accept() {
  if (stopping_) return;
  asio::io_context& target = srv_->NextContext();
  acceptor_->async_accept(target, [this, &target](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping_) return;
      log::Error("Error accepting leafnode connection: {}", ec.message());
      Accept();
      return;
    }
    auto l = std::make_shared<Leaf>(this, target, std::move(socket), next_id_.fetch_add(1), nullptr, 0, "");
    {
      std::lock_guard lock(mu_);
      leafs_.emplace(l->id(), l);
    }
    asio::post(target, [l] { l->Start(); });
    Accept();
  });
}

void Leafnodes::Dial(size_t index, size_t url_index, std::chrono::milliseconds delay) {
  if (stopping_) return;
  const RemoteOptions& r = opts_.remotes[index];
  const std::string url = r.urls[url_index % r.urls.size()];
  base::RouteUrl parsed;
  if (base::ParseRouteUrl(url, true, &parsed)) {
    log::Error("Error parsing leafnode remote URL \"{}\"", url);
    return;
  }
  asio::io_context& ctx = srv_->NextContext();
  struct Attempt {
    asio::steady_timer delay;
    asio::ip::tcp::socket socket;
    asio::ip::tcp::resolver resolver;
    asio::steady_timer deadline;
    explicit Attempt(asio::io_context& c) : delay(c), socket(c), resolver(c), deadline(c) {}
  };
  auto at = std::make_shared<Attempt>(ctx);
  auto retry = [this, index, url_index, url](const std::string& why) {
    if (stopping_) return;
    int failures;
    {
      std::lock_guard lock(mu_);
      failures = ++failures_[index];
    }
    // The first failure of a streak is worth an error; the retries every
    // interval after it only at debug level.
    if (failures == 1) {
      log::Error("Error trying to connect as leafnode to remote server \"{}\": {}", url, why);
    } else {
      log::Debug("Error trying to connect as leafnode to remote server \"{}\" (attempt {}): {}", url, failures, why);
    }
    Dial(index, url_index + 1, std::chrono::milliseconds(opts_.reconnect_ms));
  };
  at->delay.expires_after(delay);
  at->delay.async_wait([this, at, parsed, url, index, url_index, retry, &ctx](const asio::error_code& ec) {
    if (ec || stopping_) return;
    at->resolver.async_resolve(
        parsed.host, std::to_string(parsed.port),
        [this, at, url, index, url_index, retry, &ctx](const asio::error_code& ec,
                                                      asio::ip::tcp::resolver::results_type results) {
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
          asio::async_connect(
              at->socket, results,
              [this, at, url, index, url_index, retry, &ctx](const asio::error_code& ec, const auto&) {
                at->deadline.cancel();
                if (stopping_) return;
                if (ec) {
                  retry(ec == asio::error::operation_aborted ? "timeout" : ec.message());
                  return;
                }
                log::Info("Connected leafnode to \"{}\"", url);
                {
                  std::lock_guard lock(mu_);
                  failures_[index] = 0;
                  next_url_[index] = url_index;
                }
                auto l = std::make_shared<Leaf>(this, ctx, std::move(at->socket), next_id_.fetch_add(1),
                                                &opts_.remotes[index], index, url);
                {
                  std::lock_guard lock(mu_);
                  leafs_.emplace(l->id(), l);
                }
                l->Start();
              });
        });
  });
}

void Leafnodes::Closed(Leaf* l, std::chrono::milliseconds delay) {
  std::shared_ptr<Leaf> keep;
  size_t url_index = 0;
  {
    std::lock_guard lock(mu_);
    auto it = leafs_.find(l->id());
    if (it != leafs_.end()) {
      keep = it->second;
      leafs_.erase(it);
    }
    if (server::Account* acc = l->account()) {
      auto r = registered_.find(acc);
      if (r != registered_.end()) std::erase(r->second, l);
    }
    if (l->solicited()) url_index = next_url_[l->remote_index()];
  }
  if (l->solicited() && !stopping_) {
    // The same URL first: the hub may only have restarted.
    Dial(l->remote_index(), url_index, delay.count() > 0 ? delay : std::chrono::milliseconds(opts_.reconnect_ms));
  }
  // Destroyed after the owner thread is done with it.
  if (keep) asio::post(l->context(), [keep] {});
}

void Leafnodes::Register(const std::shared_ptr<Leaf>& l) {
  server::Account* acc = l->account();
  std::string lds = LoopSubject(acc);
  // Collected, recorded and announced with no subscription change in
  // between (see Sublist::ForEachSubscription).
  acc->sublist().ForEachSubscription([&l](const server::Subscription& sub) { l->OnSubscription(sub, 1, false); },
                                     [&] {
                                       {
                                         std::lock_guard lock(mu_);
                                         registered_[acc].push_back(l.get());
                                         have_registered_.store(true, std::memory_order_release);
                                       }
                                       l->SendAllInterest(lds);
                                     });
}

void Leafnodes::OnSubscription(server::Account* acc, const server::Subscription& sub, int delta) {
  if (!have_registered_.load(std::memory_order_acquire)) return;
  {
    std::lock_guard lock(mu_);
    auto it = registered_.find(acc);
    if (it == registered_.end() || it->second.empty()) return;
    for (Leaf* l : it->second) l->OnSubscription(sub, delta, true);
  }
  server::Server::FlushIfUnbatched();
}

std::string Leafnodes::LoopSubject(server::Account* acc) {
  std::lock_guard lock(mu_);
  auto& s = lds_[acc];
  if (s.empty()) s = "$LDS." + server::RandomToken(22);
  return s;
}

server::Account* Leafnodes::FindAccount(const std::string& name) {
  if (name.empty()) return &srv_->global_account();
  server::Account* acc = srv_->LookupAccount(name);
  if (!acc && srv_->op()) {
    std::string err;
    acc = srv_->op()->ResolveAccount(name, &err);
  }
  return acc;
}

server::Account* Leafnodes::Authenticate(const nlohmann::json& j, const std::string& nonce, std::string* err,
                                         std::unique_ptr<server::PermissionChecker>* perms) {
  std::string user = base::JsonString(j, "user");
  std::string pass = base::JsonString(j, "pass");
  std::string account;
  if (!opts_.users.empty()) {
    const Options::User* found = nullptr;
    for (const auto& u : opts_.users) {
      if (u.user == user && server::PasswordMatches(u.password, pass)) found = &u;
    }
    if (!found) {
      *err = fmt::format("authentication failed for user \"{}\"", user);
      return nullptr;
    }
    account = found->account;
  } else if (!opts_.user.empty()) {
    if (user != opts_.user || !server::PasswordMatches(opts_.password, pass)) {
      *err = fmt::format("authentication failed for user \"{}\"", user);
      return nullptr;
    }
    account = opts_.account;
  } else {
    // No leafnode authorization: the leaf logs in as a client would.
    server::Credentials creds;
    creds.user = user;
    creds.pass = pass;
    creds.token = base::JsonString(j, "auth_token");
    if (creds.token.empty()) creds.token = base::JsonString(j, "token");
    creds.jwt = base::JsonString(j, "jwt");
    creds.sig = base::JsonString(j, "sig");
    creds.nkey = base::JsonString(j, "nkey");
    creds.nonce = nonce;
    creds.connection_type = "LEAFNODE";
    auto cfg = srv_->config();
    server::AuthResult r = srv_->op() ? srv_->op()->Authenticate(creds) : server::Authenticate(*cfg, creds);
    if (!r.ok) {
      *err = r.error.empty() ? "authorization violation" : r.error;
      return nullptr;
    }
    account = r.account;
    *perms = std::move(r.permissions);
  }
  server::Account* acc = FindAccount(account);
  if (!acc) *err = fmt::format("unknown account \"{}\"", account);
  return acc;
}

namespace {

nlohmann::ordered_json BaseInfo(server::Server* srv, const Options& o, int port) {
  auto cfg = srv->config();
  nlohmann::ordered_json j;
  j["server_id"] = srv->id();
  j["server_name"] = cfg->server_name;
  j["version"] = kNatsCompatVersion;
  j["go"] = fmt::format("fjord{}", kFjordVersion);
  std::string host = o.host;
  int p = port;
  if (!o.advertise.empty()) {
    std::string h, ps;
    if (base::SplitHostPort(o.advertise, &h, &ps)) {
      host = h;
      p = std::atoi(ps.c_str());
    } else {
      host = o.advertise;
    }
  }
  j["host"] = host;
  j["port"] = p;
  j["auth_required"] = true;  // as nats-server: a leaf always sends CONNECT
  if (o.tls) {
    j["tls_required"] = true;
    j["tls_verify"] = o.tls_verify;
  }
  j["max_payload"] = cfg->max_payload;
  j["headers"] = !cfg->no_header_support;
  j["jetstream"] = cfg->jetstream;
  if (!cfg->jetstream_domain.empty()) j["domain"] = cfg->jetstream_domain;
  j["proto"] = 1;
  // Where leaf nodes can reach this server ("host:port"); nats-server's
  // leaves require the list (its absence means the wrong port).
  nlohmann::ordered_json urls = nlohmann::ordered_json::array();
  if (!o.no_advertise) {
    if (!o.advertise.empty() || !base::IsWildcardHost(o.host)) {
      urls.push_back(base::JoinHostPort(host, p));
    } else {
      for (const auto& ip : base::LocalAddresses(false)) urls.push_back(base::JoinHostPort(ip, p));
      if (urls.empty()) urls.push_back(base::JoinHostPort("127.0.0.1", p));
    }
  }
  j["leafnode_urls"] = urls;
  return j;
}

}  // namespace

std::string Leafnodes::InfoLine(uint64_t cid, const std::string& nonce) const {
  auto j = BaseInfo(srv_, opts_, bound_port_);
  j["info_on_connect"] = true;
  j["nonce"] = nonce;
  j["client_id"] = cid;
  return "INFO " + j.dump() + "\r\n";
}

std::string Leafnodes::ConnectInfoLine(uint64_t cid, const std::string& account,
                                       const server::Permissions* perms) const {
  auto j = BaseInfo(srv_, opts_, bound_port_);
  j["client_id"] = cid;
  if (perms) {
    auto set = [](const server::PermissionSet& ps) {
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      if (!ps.allow.empty()) o["allow"] = ps.allow;
      if (!ps.deny.empty()) o["deny"] = ps.deny;
      return o;
    };
    j["import"] = set(perms->subscribe);
    j["export"] = set(perms->publish);
  }
  j["remote_account"] = account;
  j["connect_info"] = true;
  return "INFO " + j.dump() + "\r\n";
}

std::string Leafnodes::ConnectLine(const RemoteOptions& r, const std::string& url, const std::string& nonce,
                                   bool headers, std::string* err) const {
  auto cfg = srv_->config();
  nlohmann::ordered_json j;
  j["version"] = kNatsCompatVersion;
  j["id"] = srv_->id();
  if (!cfg->jetstream_domain.empty()) j["domain"] = cfg->jetstream_domain;
  j["name"] = cfg->server_name.empty() ? srv_->id() : cfg->server_name;
  j["hub"] = r.hub;
  std::string cluster = srv_->cluster_name();
  if (!cluster.empty()) j["cluster"] = cluster;
  j["headers"] = headers;
  j["jetstream"] = cfg->jetstream;
  if (!r.deny_imports.empty()) j["deny_pub"] = r.deny_imports;
  j["remote_account"] = r.account.empty() ? std::string(server::kGlobalAccount) : r.account;
  if (!r.credentials.empty()) {
    std::ifstream in(r.credentials);
    std::stringstream text;
    text << in.rdbuf();
    auto creds = in ? jwt::ParseCreds(text.str()) : std::nullopt;
    if (!creds) {
      *err = fmt::format("leafnode credentials file \"{}\" can not be read or is malformed", r.credentials);
      return {};
    }
    auto seed = nkeys::DecodeSeed(creds->seed);
    if (!seed) {
      *err = fmt::format("leafnode credentials file \"{}\" has a malformed seed", r.credentials);
      return {};
    }
    j["jwt"] = creds->jwt;
    j["sig"] = base64::Encode(nkeys::Sign(*seed, nonce), /*url=*/true, /*pad=*/false);
  }
  base::RouteUrl u;
  if (!base::ParseRouteUrl(url, true, &u) && u.has_user) {
    j["user"] = u.user;
    if (u.has_password) {
      j["pass"] = u.password;
    } else {
      // A user alone is a token, as nats-server sends it.
      j["auth_token"] = u.user;
    }
  }
  return "CONNECT " + j.dump() + "\r\n";
}

}  // namespace fjord::leaf
