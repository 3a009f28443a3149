// fjord-server: options, logging, signals, and the order in which the
// subsystems start and stop.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "app/ports_file.h"
#include "base/log.h"
#include "cluster/cluster.h"
#include "leaf/leafnodes.h"
#include "conf/options.h"
#include "fjord_version.h"
#include "jetstream/jetstream.h"
#include "jscluster/meta.h"
#include "system/system.h"
#include "monitor/monitor.h"
#include "server/server.h"
#include "store/fault_env.h"
#include "tls/tls.h"

namespace {

using namespace fjord;

server::PermissionSet ToSet(const std::optional<conf::SubjectPermission>& p) {
  server::PermissionSet s;
  if (p) {
    s.allow = p->allow;
    s.deny = p->deny;
  }
  return s;
}

using TlsContext = std::shared_ptr<asio::ssl::context>;

// The TLS contexts of the client port's and the WebSocket listener's tls
// blocks (null without one).
struct ClientTls {
  TlsContext client;
  TlsContext websocket;
};

// Both contexts, or why one cannot be built: a missing file, a key that
// does not match, ...
std::variant<ClientTls, std::string> BuildTls(const conf::ServerOptions& o) {
  ClientTls t;
  if (o.tls) {
    auto c = tls::MakeServerContext(*o.tls);
    if (auto* err = std::get_if<std::string>(&c)) return *err;
    t.client = std::get<TlsContext>(std::move(c));
  }
  if (o.websocket.port != 0 && o.websocket.tls) {
    auto w = tls::MakeServerContext(*o.websocket.tls);
    if (auto* err = std::get_if<std::string>(&w)) return "websocket: " + *err;
    t.websocket = std::get<TlsContext>(std::move(w));
  }
  return t;
}

// `cluster { tls { } }`: the context for routes we accept (a certificate
// from ca_file demanded, as nats-server forces) and the one for routes we
// dial (ours presented, the acceptor's verified unless `insecure`). Both or
// neither.
struct RouteTls {
  TlsContext server;
  TlsContext client;
};

std::variant<RouteTls, std::string> BuildRouteTls(const conf::ServerOptions& o) {
  if (!o.cluster.enabled || !o.cluster.tls) return RouteTls{};
  tls::Options t = *o.cluster.tls;
  t.verify = true;
  RouteTls r;
  auto server = tls::MakeServerContext(t);
  if (auto* err = std::get_if<std::string>(&server)) return *err;
  r.server = std::get<TlsContext>(std::move(server));
  auto client = tls::MakeClientContext(t, o.cluster.tls_insecure);
  if (auto* err = std::get_if<std::string>(&client)) return *err;
  r.client = std::get<TlsContext>(std::move(client));
  if (o.cluster.tls_insecure) {
    // nats-server's words.
    log::Warn("TLS certificate chain and hostname of solicited routes will not be verified. DO NOT "
              "USE IN PRODUCTION!");
  }
  return r;
}

// `leafnodes { }` as the leaf layer takes it, with its TLS contexts built.
std::variant<leaf::Options, std::string> BuildLeafOptions(const conf::ServerOptions& o) {
  const conf::LeafnodeOptions& l = o.leafnodes;
  leaf::Options out;
  out.listen = l.port != 0;
  if (!l.host.empty()) out.host = l.host;
  out.port = l.port < 0 ? 0 : l.port;
  out.advertise = l.advertise;
  out.no_advertise = l.no_advertise;
  out.user = l.username;
  out.password = l.password;
  out.account = l.account;
  for (const auto& u : l.users) out.users.push_back({u.username, u.password, u.account});
  out.auth_timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(l.auth_timeout).count();
  out.reconnect_ms = std::chrono::duration_cast<std::chrono::milliseconds>(l.reconnect).count();
  if (l.tls && out.listen) {
    auto ctx = tls::MakeServerContext(*l.tls);
    if (auto* err = std::get_if<std::string>(&ctx)) return "leafnodes tls: " + *err;
    out.tls = std::get<TlsContext>(std::move(ctx));
    out.tls_verify = l.tls->verify;
    out.tls_timeout_ms = int64_t(l.tls->timeout_s * 1000);
  }
  for (const auto& r : l.remotes) {
    leaf::RemoteOptions ro;
    ro.urls = r.urls;
    ro.account = r.account;
    ro.credentials = r.credentials;
    ro.hub = r.hub;
    ro.deny_imports = r.deny_imports;
    ro.deny_exports = r.deny_exports;
    ro.tls_insecure = r.tls_insecure;
    if (r.tls) {
      auto ctx = tls::MakeClientContext(*r.tls, r.tls_insecure);
      if (auto* err = std::get_if<std::string>(&ctx)) return "leafnodes remote tls: " + *err;
      ro.tls = std::get<TlsContext>(std::move(ctx));
      ro.tls_timeout_ms = int64_t(r.tls->timeout_s * 1000);
    }
    if (!r.account.empty() && !o.operator_mode) {
      bool known = r.account == o.system_account;
      for (const auto& a : o.accounts) known = known || a.name == r.account;
      if (!known) return fmt::format("leafnode remote account \"{}\" not found", r.account);
    }
    out.remotes.push_back(std::move(ro));
  }
  return out;
}

// `routes` is used only when the server starts: a reload keeps the cluster
// settings the routes started with (Server::Reload).
server::Config ToServerConfig(const conf::ServerOptions& o, const ClientTls& tls_ctx, const RouteTls& routes = {}) {
  TlsContext tls = tls_ctx.client;
  auto ms = [](conf::Duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  server::Config c;
  c.server_name = o.server_name;
  c.host = o.host;
  c.port = o.port < 0 ? 0 : o.port;
  c.max_payload = o.max_payload;
  c.max_control_line = o.max_control_line;
  c.max_connections = o.max_connections;
  c.max_pending = o.max_pending;
  c.max_subscriptions = o.max_subscriptions;
  c.ping_interval_ms = ms(o.ping_interval);
  c.ping_max = o.ping_max;
  c.write_deadline_ms = ms(o.write_deadline);
  c.auth_timeout_ms = ms(o.auth.timeout);
  c.no_header_support = o.no_header_support;
  c.token = o.auth.token;
  c.user = o.auth.username;
  c.password = o.auth.password;
  c.no_auth_user = o.no_auth_user;
  for (const auto& u : o.auth.users) {
    server::User su;
    su.name = u.username;
    su.password = u.password;
    su.nkey = u.nkey;
    su.account = u.account == "$G" ? "" : u.account;
    su.allowed_connection_types = u.allowed_connection_types;
    const auto& perms = u.permissions ? u.permissions : o.auth.default_permissions;
    if (perms) {
      su.has_permissions = true;
      su.permissions.publish = ToSet(perms->publish);
      su.permissions.subscribe = ToSet(perms->subscribe);
    }
    c.users.push_back(std::move(su));
  }
  if (tls) {
    c.tls = std::move(tls);
    c.tls_verify = o.tls->verify;
    c.tls_map = o.tls->verify_and_map;
    c.tls_handshake_first = o.tls->handshake_first;
    c.tls_timeout_ms = int64_t(o.tls->timeout_s * 1000);
    c.tls_pinned = o.tls->pinned_certs;
    c.allow_non_tls = o.allow_non_tls;
  }
  auto mappings = [](const std::vector<conf::Mapping>& ms) {
    std::vector<server::SubjectMapping> out;
    for (const auto& m : ms) {
      server::SubjectMapping sm;
      sm.source = m.source;
      for (const auto& d : m.dests) sm.dests.emplace_back(d.subject, d.weight);
      out.push_back(std::move(sm));
    }
    return out;
  };
  if (!o.mappings.empty()) {
    server::AccountConfig g;
    g.name = std::string(server::kGlobalAccount);
    g.mappings = mappings(o.mappings);
    c.accounts.push_back(std::move(g));
  }
  for (const auto& a : o.accounts) {
    server::AccountConfig ac;
    ac.name = a.name;
    ac.mappings = mappings(a.mappings);
    for (const auto& e : a.exports) {
      if (e.service) {
        server::ServiceExport se;
        se.subject = e.subject;
        se.accounts = e.accounts;
        se.response = e.response_type == "stream"    ? server::ResponseType::kStream
                      : e.response_type == "chunked" ? server::ResponseType::kChunked
                                                     : server::ResponseType::kSingleton;
        se.response_threshold_ms = ms(e.response_threshold);
        ac.service_exports.push_back(std::move(se));
      } else {
        ac.stream_exports.push_back({e.subject, e.accounts});
      }
    }
    for (const auto& i : a.imports) {
      if (i.service) {
        ac.service_imports.push_back({i.account, i.subject, i.to});
      } else {
        ac.stream_imports.push_back({i.account, i.subject, i.prefix, i.to});
      }
    }
    ac.max_connections = a.max_connections;
    ac.max_subscriptions = a.max_subscriptions;
    ac.max_payload = a.max_payload;
    c.accounts.push_back(std::move(ac));
  }
  c.system_account = o.no_system_account ? "" : o.system_account;
  if (o.operator_mode) {
    auto op = std::make_shared<server::OperatorConfig>();
    op->trusted_keys = o.operator_mode->trusted_keys;
    op->resolver = o.operator_mode->full_resolver ? server::OperatorConfig::Resolver::kFull
                                                  : server::OperatorConfig::Resolver::kMemory;
    op->dir = o.operator_mode->dir;
    op->allow_delete = o.operator_mode->allow_delete;
    op->preload = o.operator_mode->preload;
    c.operator_mode = std::move(op);
  }
  c.jetstream = o.jetstream.enabled;
  c.jetstream_domain = o.jetstream.domain;
  c.cluster.enabled = o.cluster.enabled;
  c.cluster.name = o.cluster.name;
  if (!o.cluster.host.empty()) c.cluster.host = o.cluster.host;
  c.cluster.port = o.cluster.port < 0 ? 0 : o.cluster.port;
  c.cluster.routes = o.cluster.routes;
  c.cluster.user = o.cluster.username;
  c.cluster.password = o.cluster.password;
  c.cluster.auth_timeout_ms = ms(o.cluster.auth_timeout);
  c.cluster.advertise = o.cluster.advertise;
  c.cluster.no_advertise = o.cluster.no_advertise;
  c.cluster.connect_retries = o.cluster.connect_retries;
  if (o.cluster.permissions) {
    c.cluster.has_permissions = true;
    c.cluster.permissions.publish = ToSet(o.cluster.permissions->publish);      // import
    c.cluster.permissions.subscribe = ToSet(o.cluster.permissions->subscribe);  // export
  }
  const conf::WebsocketOptions& w = o.websocket;
  auto& cw = c.websocket;
  cw.enabled = w.port != 0;
  if (!w.host.empty()) cw.host = w.host;
  cw.port = w.port < 0 ? 0 : w.port;
  if (tls_ctx.websocket && w.tls) {
    cw.tls = tls_ctx.websocket;
    cw.tls_verify = w.tls->verify;
    cw.tls_map = w.tls->verify_and_map;
    cw.tls_pinned = w.tls->pinned_certs;
    cw.tls_timeout_ms = int64_t(w.tls->timeout_s * 1000);
  }
  cw.compression = w.compression;
  cw.same_origin = w.same_origin;
  cw.allowed_origins = w.allowed_origins;
  cw.handshake_timeout_ms = ms(w.handshake_timeout);
  cw.auth_override = !w.username.empty() || !w.token.empty() || !w.no_auth_user.empty();
  cw.user = w.username;
  cw.password = w.password;
  cw.token = w.token;
  cw.no_auth_user = w.no_auth_user;
  cw.auth_timeout_ms = ms(w.auth_timeout);
  cw.ping_interval_ms = ms(w.ping_interval);
  cw.jwt_cookie = w.jwt_cookie;
  cw.user_cookie = w.user_cookie;
  cw.pass_cookie = w.pass_cookie;
  cw.token_cookie = w.token_cookie;
  cw.headers = w.headers;
  if (routes.server && routes.client && o.cluster.tls) {
    c.cluster.tls_server = routes.server;
    c.cluster.tls_client = routes.client;
    c.cluster.tls_insecure = o.cluster.tls_insecure;
    c.cluster.tls_timeout_ms = int64_t(o.cluster.tls->timeout_s * 1000);
  }
  return c;
}

// The server's max_mem/max_file, held for all JetStream accounts together.
std::shared_ptr<jetstream::ServerUsage> NewServerUsage(const jetstream::Options& base) {
  auto u = std::make_shared<jetstream::ServerUsage>();
  u->max_memory = base.max_memory;
  u->max_store = base.max_store;
  return u;
}

// One account's JetStream options: its limits narrow the server's, never
// widen them, and `shared` holds the server's across accounts.
jetstream::Options AccountJetStreamOptions(const jetstream::Options& base, const server::AccountJetStream& a,
                                           std::shared_ptr<jetstream::ServerUsage> shared) {
  auto narrow = [](int64_t server_limit, int64_t account_limit) {
    if (account_limit < 0) return server_limit;
    return server_limit < 0 ? account_limit : std::min(server_limit, account_limit);
  };
  jetstream::Options j = base;
  j.max_memory = narrow(base.max_memory, a.max_memory);
  j.max_store = narrow(base.max_store, a.max_store);
  j.max_streams = a.max_streams;
  j.max_consumers = a.max_consumers;
  j.server_usage = std::move(shared);
  return j;
}

// The accounts that get JetStream, with their limits: "$G" alone when no
// other account is configured (as nats-server), else every account whose
// `jetstream` is enabled.
std::vector<std::pair<std::string, jetstream::Options>> JetStreamAccounts(
    const conf::ServerOptions& o, const jetstream::Options& base, const std::shared_ptr<jetstream::ServerUsage>& shared) {
  std::vector<std::pair<std::string, jetstream::Options>> out;
  // In operator mode accounts come from JWTs as users connect: see
  // the account observer in main().
  if (!o.jetstream.enabled || o.operator_mode) return out;
  bool others = false;
  for (const auto& a : o.accounts) others = others || a.name != o.system_account;
  if (!others) {
    out.emplace_back(std::string(server::kGlobalAccount), base);
    return out;
  }
  for (const auto& a : o.accounts) {
    if (!a.jetstream.enabled) continue;
    server::AccountJetStream aj{true, a.jetstream.max_memory, a.jetstream.max_store, a.jetstream.max_streams,
                                a.jetstream.max_consumers};
    out.emplace_back(a.name, AccountJetStreamOptions(base, aj, shared));
  }
  return out;
}

jetstream::Options ToJetStreamOptions(const conf::ServerOptions& o) {
  jetstream::Options j;
  j.store_dir = o.jetstream.store_dir;
  j.max_memory = o.jetstream.max_memory;
  j.max_store = o.jetstream.max_store;
  j.sync_always = o.jetstream.sync == conf::SyncMode::kAlways;
  j.sync_interval_ns = o.jetstream.sync_interval.count();
  j.domain = o.jetstream.domain;
  j.clustered = o.cluster.enabled;
  j.index_cache = std::make_shared<store::CacheBudget>(static_cast<uint64_t>(o.jetstream.index_cache));
  j.scrub_interval_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(o.jetstream.scrub_interval).count();
  return j;
}

monitor::Options ToMonitorOptions(const conf::ServerOptions& o, TlsContext tls) {
  monitor::Options m;
  m.host = o.http_host.empty() ? o.host : o.http_host;
  m.port = o.http_port;
  // As nats-server: http_port wins; https_port serves with the tls block.
  if (o.http_port == 0 && o.https_port != 0) {
    m.port = o.https_port;
    m.tls = std::move(tls);
  }
  m.base_path = o.http_base_path;
  m.https_port = o.https_port;
  m.tags = o.server_tags;
  m.system_account = o.no_system_account ? "" : o.system_account;
  m.auth_user = o.http_auth_user;
  m.auth_password = o.http_auth_password;
  if (o.jetstream.enabled) {
    m.jetstream = true;
    m.js_max_memory = o.jetstream.max_memory;
    m.js_max_store = o.jetstream.max_store;
    // Where the streams are, as nats-server shows it.
    m.js_store_dir = o.jetstream.store_dir + "/jetstream";
  }
  return m;
}

bool ConfigureLogging(const conf::ServerOptions& o) {
  log::SetRotation(o.log_size_limit, o.log_max_num);
  return log::Configure(o.log_file, o.debug, o.trace, o.logtime, o.logtime_utc);
}

}  // namespace

// glibc gives a thread that allocates under contention an arena of its own
// (up to 8 per core) and keeps what is freed there: a server whose I/O
// threads, JetStream thread and sync threads take turns at bursts then
// holds the peak of each. As many arenas as I/O threads keep the
// contention away (no throughput change on the referee bench) and cut its
// peak RSS from 72 to 58 MiB; a single arena would cut it to 46 MiB but
// costs a quarter of async JetStream publish throughput. MALLOC_ARENA_MAX
// in the environment still wins.
void LimitMallocArenas(int io_threads) {
#ifdef __GLIBC__
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) return;
  int n = io_threads > 0 ? io_threads : int(std::thread::hardware_concurrency());
  mallopt(M_ARENA_MAX, std::max(2, n));
#else
  (void)io_threads;
#endif
}

// FJORD_TEST_POWER_LOSS=1, for tests only: every store file goes through a
// FaultEnv that remembers what fsync made durable, and SIGPWR cuts the
// power: the store directory becomes exactly that (writes not yet synced,
// and files not yet made durable in their directory, are gone) and the
// process exits at once. The cluster fault tests use it on a minority and
// on a majority of servers. SIGTTIN fills the disk (every write fails with
// ENOSPC, as on a full disk) and SIGTTOU frees it. Returns null when off.
store::FaultEnv* SimulatedPowerLoss(const conf::ServerOptions& o) {
  const char* on = std::getenv("FJORD_TEST_POWER_LOSS");
  if (on == nullptr || std::string_view(on) != "1" || !o.jetstream.enabled) return nullptr;
  store::Env* posix = store::DefaultEnv();
  if (auto s = store::CreateDirsDurably(posix, o.jetstream.store_dir); !s.ok()) {
    log::Fatal("Power-loss simulation: {}", s.msg);
    std::exit(1);
  }
  // Never freed: stores use it until the process exits.
  auto* env = new store::FaultEnv(posix, o.jetstream.store_dir);
  store::SetDefaultEnv(env);
  log::Warn("Power-loss simulation on (FJORD_TEST_POWER_LOSS): SIGPWR drops what is not synced, SIGTTIN/SIGTTOU fill and "
            "free the disk, for tests only");
  return env;
}

int main(int argc, char** argv) {
  auto loaded = conf::LoadOptions(argc, argv);
  if (auto* err = std::get_if<std::string>(&loaded)) {
    std::fprintf(stderr, "fjord-server: %s\n", err->c_str());
    return 1;
  }
  auto opts = std::get<conf::ServerOptions>(std::move(loaded));
  if (opts.exit_now) {
    std::fputs(opts.exit_text.c_str(), opts.exit_code == 0 ? stdout : stderr);
    return opts.exit_code;
  }
  if (!ConfigureLogging(opts)) {
    std::fprintf(stderr, "fjord-server: cannot open log file %s\n", opts.log_file.c_str());
    return 1;
  }
  log::Info("Starting fjord-server");
  log::Info("  Version:  {} (nats-server {} compatible)", kFjordVersion, kNatsCompatVersion);
  log::Info("  PID:      {}", getpid());
  if (!opts.config_file.empty()) log::Info("Using configuration file: {}", opts.config_file);
  for (const auto& w : opts.warnings) log::Warn("{}", w);
  if (!opts.pid_file.empty()) {
    std::ofstream(opts.pid_file) << getpid();
  }

  store::FaultEnv* power = SimulatedPowerLoss(opts);

  auto built = BuildTls(opts);
  if (auto* err = std::get_if<std::string>(&built)) {
    log::Fatal("TLS configuration: {}", *err);
    return 1;
  }
  ClientTls client_tls = std::get<ClientTls>(built);
  TlsContext tls_ctx = client_tls.client;
  auto route_tls = BuildRouteTls(opts);
  if (auto* err = std::get_if<std::string>(&route_tls)) {
    log::Fatal("Cluster TLS configuration: {}", *err);
    return 1;
  }
  auto leaf_opts = BuildLeafOptions(opts);
  if (auto* err = std::get_if<std::string>(&leaf_opts)) {
    log::Fatal("Leafnode configuration: {}", *err);
    return 1;
  }
  server::Server srv(ToServerConfig(opts, client_tls, std::get<RouteTls>(route_tls)));
  LimitMallocArenas(srv.config()->io_threads);
  if (auto err = srv.LoadOperator(); !err.empty()) {
    log::Fatal("Operator mode: {}", err);
    return 1;
  }
  // One JetStream per account that has it; the other accounts' API
  // requests are answered "JetStream not enabled for account".
  std::vector<std::unique_ptr<jetstream::JetStream>> js;
  std::vector<jetstream::JetStream*> js_ptrs;
  const jetstream::Options js_base = ToJetStreamOptions(opts);
  const auto js_usage = NewServerUsage(js_base);
  for (auto& [name, jo] : JetStreamAccounts(opts, js_base, js_usage)) {
    js.push_back(std::make_unique<jetstream::JetStream>(&srv, srv.LookupAccount(name), jo));
    js_ptrs.push_back(js.back().get());
  }
  std::vector<server::SubPtr> js_disabled;
  std::mutex js_mu;  // the observers below add and update accounts from other threads
  if (opts.jetstream.enabled) {
    for (server::Account* acc : srv.Accounts()) {
      bool has = false;
      for (auto* j : js_ptrs) has = has || j->account() == acc;
      if (!has && acc->name() != opts.system_account) js_disabled.push_back(jetstream::ServeDisabled(acc));
    }
  }
  // The monitor binds first, as nats-server's does: a bad monitor address
  // stops the server before it takes any client. It serves from
  // mon->Serve() below, once clients can connect. It exists without a
  // monitoring port too: the system account's requests are answered from it.
  const monitor::Options mon_opts = ToMonitorOptions(opts, tls_ctx);
  const bool monitoring = opts.http_port != 0 || opts.https_port != 0;
  auto mon = std::make_unique<monitor::Monitor>(&srv, js_ptrs, mon_opts);
  if (monitoring) {
    if (auto err = mon->Listen(); !err.empty()) {
      log::Fatal("{}", err);
      return 1;
    }
  }
  // Operator mode: an account made from its JWT when its first user
  // connects gets its JetStream then (its directory is recovered on that
  // connection's thread, once).
  std::unique_ptr<cluster::Cluster> cl;
  if (srv.config()->cluster.enabled) {
    cl = std::make_unique<cluster::Cluster>(&srv);
    srv.SetRouteReporter([&cl](bool with_subs) { return cl->Routes(with_subs); });
    srv.SetRouteBarrier([&cl](std::function<void()> done) { cl->Barrier(std::move(done), std::chrono::seconds(2)); });
    mon->SetCluster([&cl] { return cl->name(); }, [&cl] { return cl->bound_port(); });
    if (opts.jetstream.enabled) {
      // As nats-server: clustered JetStream needs names to tell its
      // servers apart, and the system account to talk over.
      if (opts.server_name.empty() || opts.no_system_account) {
        log::Fatal("JetStream in a cluster requires `server_name` to be set{}",
                   opts.no_system_account ? " and the system account" : "");
        return 1;
      }
      cl->SetJetStreamPeer(true, opts.server_tags);
    }
  }
  // Clustered JetStream's meta group: made here so that accounts'
  // JetStreams started later (operator mode) join it; started below, once
  // the routes listen.
  std::unique_ptr<jscluster::MetaGroup> meta;
  if (cl && opts.jetstream.enabled) {
    jscluster::MetaOptions mo;
    mo.server_name = opts.server_name;
    mo.server_tags = opts.server_tags;
    mo.store_dir = opts.jetstream.store_dir;
    meta = std::make_unique<jscluster::MetaGroup>(srv.LookupAccount(opts.system_account), cl.get(), mo);
    for (auto* j : js_ptrs) meta->AddJetStream(j);
  }
  std::unique_ptr<leaf::Leafnodes> leafs;
  if (const auto& lo = std::get<leaf::Options>(leaf_opts); lo.listen || !lo.remotes.empty()) {
    leafs = std::make_unique<leaf::Leafnodes>(&srv, lo);
    mon->SetLeafnodes(leafs.get());
  }
  if (cl || leafs || (opts.jetstream.enabled && opts.operator_mode)) {
    srv.SetAccountObserver([&](server::Account* acc) {
      if (cl) cl->AddAccount(acc);
      if (leafs) leafs->AddAccount(acc);
      if (!opts.jetstream.enabled || !opts.operator_mode) return;
      std::lock_guard lock(js_mu);
      const auto& aj = acc->config().jetstream;
      if (!aj.enabled || acc->name() == opts.system_account) {
        if (acc->name() != opts.system_account) js_disabled.push_back(jetstream::ServeDisabled(acc));
        return;
      }
      auto j = std::make_unique<jetstream::JetStream>(&srv, acc, AccountJetStreamOptions(js_base, aj, js_usage));
      if (auto err = j->Start(); !err.empty()) {
        log::Error("Can't start JetStream for account {}: {}", acc->name(), err);
        js_disabled.push_back(jetstream::ServeDisabled(acc));
        return;
      }
      mon->AddJetStream(j.get());
      if (meta) meta->AddJetStream(j.get());
      js.push_back(std::move(j));
    });
  }
  if (opts.operator_mode) {
    srv.SetAccountUpdateObserver([&](server::Account* acc) {
      std::lock_guard lock(js_mu);
      for (auto& j : js) {
        if (j->account() != acc) continue;
        auto o = AccountJetStreamOptions(js_base, acc->jetstream_limits(), js_usage);
        j->UpdateLimits(o.max_memory, o.max_store, o.max_streams, o.max_consumers);
      }
    });
  }
  std::unique_ptr<system::System> sys;
  if (server::Account* sys_acc = opts.no_system_account ? nullptr : srv.LookupAccount(opts.system_account)) {
    system::Options so;
    so.host = opts.host;
    so.tags = opts.server_tags;
    so.domain = opts.jetstream.domain;
    so.jetstream = !js_ptrs.empty();
    sys = std::make_unique<system::System>(&srv, sys_acc, mon.get(), so);
    sys->Start();
  }
  for (auto& j : js) {
    if (auto err = j->Start(); !err.empty()) {
      log::Fatal("Can't start JetStream: {}", err);
      return 1;
    }
  }
  if (auto err = srv.Start(); !err.empty()) {
    log::Fatal("{}", err);
    for (auto& j : js) j->Shutdown();
    return 1;
  }
  if (cl) {
    if (auto err = cl->Start(); !err.empty()) {
      log::Fatal("{}", err);
      cl->Shutdown();
      srv.Shutdown();
      for (auto& j : js) j->Shutdown();
      return 1;
    }
  }
  if (meta) {
    if (auto err = meta->Start(); !err.empty()) {
      log::Fatal("{}", err);
      meta->Shutdown();
      cl->Shutdown();
      srv.Shutdown();
      for (auto& j : js) j->Shutdown();
      return 1;
    }
    mon->SetMeta([&meta] { return meta->ClusterInfo(); }, [&meta] { return meta->HasLeader(); },
                 [&meta](bool with_replicas) { return meta->NotCurrent(with_replicas); });
  }
  if (leafs) {
    if (auto err = leafs->Start(); !err.empty()) {
      log::Fatal("{}", err);
      leafs->Shutdown();
      if (meta) meta->Shutdown();
      if (cl) cl->Shutdown();
      srv.Shutdown();
      for (auto& j : js) j->Shutdown();
      return 1;
    }
  }
  if (monitoring) mon->Serve();
  std::string ports_file;
  if (!opts.ports_file_dir.empty()) {
    app::Ports ports;
    ports.nats = app::ListenUrls(tls_ctx ? "tls" : "nats", opts.host, srv.bound_port());
    if (cl) ports.cluster = app::ListenUrls("nats", srv.config()->cluster.host, cl->bound_port());
    if (leafs && leafs->options().listen) {
      ports.leafnodes = app::ListenUrls(leafs->options().tls ? "tls" : "nats", leafs->options().host,
                                        leafs->bound_port());
    }
    if (srv.websocket_port() != 0) {
      const auto& w = srv.config()->websocket;
      ports.websocket = app::ListenUrls(w.tls ? "wss" : "ws", w.host, srv.websocket_port());
    }
    if (monitoring) {
      ports.monitoring =
          app::ListenUrls(mon_opts.tls ? "https" : "http", mon_opts.host, mon->bound_port());
    }
    ports_file = app::PortsFilePath(opts.ports_file_dir, argv[0], getpid());
    // As nats-server: a ports file that cannot be written is logged, and the
    // server keeps serving.
    if (auto err = app::WritePortsFile(ports_file, ports); !err.empty()) {
      log::Error("{}", err);
      ports_file.clear();
    }
  }
  log::Info("Server is ready");

  asio::io_context signals_ctx(1);
  asio::signal_set signals(signals_ctx, SIGINT, SIGTERM, SIGHUP);
  // `--signal reopen` (logrotate) and `--signal ldm`, as nats-server.
  signals.add(SIGUSR1);
  signals.add(SIGUSR2);
  if (power) {
    signals.add(SIGPWR);
    signals.add(SIGTTIN);
    signals.add(SIGTTOU);
  }
  asio::steady_timer lame_duck(signals_ctx);
  bool in_lame_duck = false;
  std::function<void(const asio::error_code&, int)> on_signal = [&](const asio::error_code& ec,
                                                                    int sig) {
    if (ec) return;
    if (sig == SIGPWR && power) {
      log::Warn("Simulated power loss: dropping what is not synced, exiting");
      power->CutPower();  // from here no thread reads, writes or syncs anything
      std::_Exit(1);
    }
    if ((sig == SIGTTIN || sig == SIGTTOU) && power) {
      bool full = sig == SIGTTIN;
      log::Warn("Simulated full disk {}", full ? "on: writes fail with ENOSPC" : "off");
      power->SetNoSpace(full);
      signals.async_wait(on_signal);
      return;
    }
    if (sig == SIGHUP) {
      auto next = conf::ReloadOptions(opts);
      std::variant<ClientTls, std::string> next_tls = ClientTls();
      if (auto* o = std::get_if<conf::ServerOptions>(&next)) next_tls = BuildTls(*o);
      if (auto* err = std::get_if<std::string>(&next)) {
        log::Error("Failed to reload server configuration: {}", *err);
      } else if (auto* terr = std::get_if<std::string>(&next_tls)) {
        // A bad new certificate or key: the old ones keep serving.
        log::Error("Failed to reload server configuration: TLS configuration: {}", *terr);
      } else {
        opts = std::get<conf::ServerOptions>(std::move(next));
        ConfigureLogging(opts);
        // New connections handshake with the new context; open ones keep
        // the one they were accepted with.
        srv.Reload(ToServerConfig(opts, std::get<ClientTls>(next_tls)));
        mon->ReloadTls(std::get<ClientTls>(next_tls).client);
        mon->NoteConfigLoaded();
        log::Info("Reloaded server configuration");
      }
      signals.async_wait(on_signal);
      return;
    }
    if (sig == SIGUSR1) {
      if (!ConfigureLogging(opts)) log::Error("Could not reopen log file {}", opts.log_file);
      log::Info("File log re-opened");
      signals.async_wait(on_signal);
      return;
    }
    if (sig == SIGUSR2) {
      // Stop taking new clients, tell the open ones and the cluster (INFO
      // ldm), let them finish for the grace period, then shut down (all at
      // once, not spread over lame_duck_duration).
      if (!in_lame_duck) {
        in_lame_duck = true;
        log::Info("Entering lame duck mode, stop accepting new clients");
        srv.EnterLameDuck();
        if (cl) cl->EnterLameDuck();
        lame_duck.expires_after(opts.lame_duck_grace_period);
        lame_duck.async_wait([&](const asio::error_code& e) {
          if (e) return;
          log::Info("Lame duck grace period over, shutting down");
          signals_ctx.stop();
        });
      }
      signals.async_wait(on_signal);
      return;
    }
    log::Info("Trapped \"{}\" signal", sig == SIGINT ? "interrupt" : "terminated");
    signals_ctx.stop();
  };
  signals.async_wait(on_signal);
  signals_ctx.run();

  log::Info("Initiating Shutdown...");
  if (sys) sys->Shutdown();
  if (meta) meta->Shutdown();
  if (leafs) leafs->Shutdown();
  if (cl) cl->Shutdown();
  mon->Shutdown();
  srv.Shutdown();
  {
    std::lock_guard lock(js_mu);
    for (auto& j : js) j->Shutdown();
  }
  if (!opts.pid_file.empty()) unlink(opts.pid_file.c_str());
  if (!ports_file.empty()) unlink(ports_file.c_str());
  log::Info("Server Exiting..");
  return 0;
}
