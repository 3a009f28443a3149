#include "system/system.h"

#include <pthread.h>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "base/json.h"
#include "base/log.h"
#include "fjord_version.h"
#include "monitor/monitor.h"
#include "server/account.h"
#include "server/operator.h"
#include "server/random.h"
#include "server/server.h"

namespace fjord::system {
namespace {

using Json = nlohmann::ordered_json;
constexpr auto kStatszInterval = std::chrono::seconds(10);

// An event id, 22 characters as nats-server's NUIDs.
std::string EventId() { return server::RandomToken(22); }

// A request's JSON options, as the query string of the matching HTTP
// endpoint (nats-server's ConnzOptions, JSzOptions, ... field names).
std::string QueryFor(const std::string& kind, const Json& b) {
  std::string q;
  auto add = [&](const std::string& k, const std::string& v) {
    if (v.empty()) return;
    q += (q.empty() ? "" : "&") + k + "=" + v;
  };
  auto num = [&](const std::string& k, const char* key) {
    if (int64_t n = base::JsonInt(b, key)) add(k, std::to_string(n));
  };
  if (kind == "CONNZ") {
    add("sort", base::JsonString(b, "sort"));
    if (base::JsonBool(b, "auth")) add("auth", "1");
    if (base::JsonBool(b, "subscriptions_detail")) {
      add("subs", "detail");
    } else if (base::JsonBool(b, "subscriptions")) {
      add("subs", "1");
    }
    num("offset", "offset");
    num("limit", "limit");
    num("cid", "cid");
    add("state", base::JsonString(b, "state"));
    add("acc", base::JsonString(b, "acc"));
  } else if (kind == "SUBSZ") {
    if (base::JsonBool(b, "subscriptions")) add("subs", "1");
    num("offset", "offset");
    num("limit", "limit");
    add("test", base::JsonString(b, "test"));
  } else if (kind == "JSZ") {
    for (const char* k : {"accounts", "streams", "consumers", "config"}) {
      if (base::JsonBool(b, k)) add(k, "true");
    }
    num("offset", "offset");
    num("limit", "limit");
    add("acc", base::JsonString(b, "account"));
  } else if (kind == "HEALTHZ") {
    if (base::JsonBool(b, "js-enabled-only")) add("js-enabled-only", "true");
    if (base::JsonBool(b, "js-server-only")) add("js-server-only", "true");
  } else if (kind == "ACCOUNTZ") {
    add("acc", base::JsonString(b, "account"));
  } else if (kind == "ACCSTATZ") {
    if (auto it = b.find("accounts"); it != b.end() && it->is_array()) {
      std::string list;
      for (const auto& a : *it) {
        if (a.is_string()) list += (list.empty() ? "" : ",") + a.get<std::string>();
      }
      add("accounts", list);
    }
    if (base::JsonBool(b, "include_unused")) add("unused", "1");
  }
  return q;
}

const char* PathFor(const std::string& kind) {
  if (kind == "VARZ") return "/varz";
  if (kind == "CONNZ") return "/connz";
  if (kind == "SUBSZ") return "/subsz";
  if (kind == "JSZ") return "/jsz";
  if (kind == "HEALTHZ") return "/healthz";
  if (kind == "ACCOUNTZ") return "/accountz";
  if (kind == "ACCSTATZ") return "/accstatz";
  if (kind == "ROUTEZ") return "/routez";
  return nullptr;
}

}  // namespace

System::System(server::Server* srv, server::Account* account, monitor::Monitor* mon, Options opts)
    : srv_(srv), account_(account), mon_(mon), opts_(std::move(opts)), guard_(asio::make_work_guard(ctx_)) {}

System::~System() { Shutdown(); }

void System::Start() {
  auto on_request = [this](const server::InternalMsg& m) {
    if (m.reply.empty() || stopped_) return;
    asio::post(ctx_, [this, subject = std::string(m.subject), reply = std::string(m.reply),
                      body = std::string(m.data)]() mutable {
      Request(std::move(subject), std::move(reply), std::move(body));
    });
  };
  for (const std::string& s : {std::string("$SYS.REQ.SERVER.PING"), std::string("$SYS.REQ.SERVER.PING.*"),
                               "$SYS.REQ.SERVER." + srv_->id() + ".*", std::string("$SYS.REQ.ACCOUNT.*.*")}) {
    // Every server of a cluster answers, as nats-server's do.
    subs_.push_back(account_->SubscribeInternal(s, on_request, /*propagate=*/true));
  }
  if (srv_->op()) {
    // Account JWT pushes (`nats`/`nsc push`) and lookups.
    auto on_claims = [this](const server::InternalMsg& m) {
      if (stopped_) return;
      asio::post(ctx_, [this, subject = std::string(m.subject), reply = std::string(m.reply),
                        body = std::string(m.data)]() mutable {
        Claims(std::move(subject), std::move(reply), std::move(body));
      });
    };
    for (const char* s : {"$SYS.REQ.CLAIMS.UPDATE", "$SYS.REQ.CLAIMS.DELETE", "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE",
                          "$SYS.ACCOUNT.*.CLAIMS.UPDATE", "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP"}) {
      subs_.push_back(account_->SubscribeInternal(s, on_claims, /*propagate=*/true));
    }
  }
  srv_->SetConnectionObserver([this](server::ConnectionEvent ev) {
    if (stopped_) return;
    asio::post(ctx_, [this, ev = std::move(ev)]() mutable { Event(std::move(ev)); });
  });
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "fjord-sys");
    ctx_.run();
  });
  asio::post(ctx_, [this] { Statsz(); });
}

void System::Shutdown() {
  if (stopped_.exchange(true)) return;
  for (auto& s : subs_) account_->UnsubscribeInternal(s);
  subs_.clear();
  asio::post(ctx_, [this] {
    statsz_timer_.cancel();
    guard_.reset();
  });
  if (thread_.joinable()) thread_.join();
}

bool System::Interest(const std::string& subject) { return !account_->sublist().Match(subject)->empty(); }

void System::Publish(const std::string& subject, const std::string& body) {
  account_->PublishInternal(subject, {}, {}, body);
}

namespace {

Json ServerInfo(server::Server* srv, const Options& o, uint64_t seq) {
  Json s;
  s["name"] = srv->config()->server_name;
  s["host"] = o.host;
  s["id"] = srv->id();
  if (!o.domain.empty()) s["domain"] = o.domain;
  s["ver"] = kNatsCompatVersion;
  if (!o.tags.empty()) s["tags"] = o.tags;
  s["seq"] = seq;
  s["jetstream"] = o.jetstream;
  s["time"] = monitor::FormatTime(std::chrono::system_clock::now());
  return s;
}

}  // namespace

void System::Request(std::string subject, std::string reply, std::string body) {
  Json b = body.empty() ? Json::object() : Json::parse(body, nullptr, false);
  if (!b.is_object()) b = Json::object();
  // "$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.<KIND>",
  // "$SYS.REQ.SERVER.<id>.<KIND>" or "$SYS.REQ.ACCOUNT.<acc>.<KIND>".
  std::string rest = subject.substr(std::string("$SYS.REQ.").size());
  std::string kind = "STATSZ";
  std::string account;
  if (rest.rfind("ACCOUNT.", 0) == 0) {
    size_t dot = rest.find('.', 8);
    account = rest.substr(8, dot - 8);
    kind = rest.substr(dot + 1);
  } else if (size_t dot = rest.find('.', 7); dot != std::string::npos) {
    kind = rest.substr(dot + 1);
  }
  // A PING may be narrowed to some servers (nats-server's EventFilterOptions);
  // the servers it does not name stay silent.
  if (account.empty()) {
    auto cfg = srv_->config();
    if (auto n = base::JsonString(b, "server_name"); !n.empty() && cfg->server_name.find(n) == std::string::npos) return;
    if (auto h = base::JsonString(b, "host"); !h.empty() && opts_.host.find(h) == std::string::npos) return;
    if (auto d = base::JsonString(b, "domain"); !d.empty() && d != opts_.domain) return;
    if (!base::JsonString(b, "cluster").empty()) return;  // not in a cluster
    if (auto t = b.find("tags"); t != b.end() && t->is_array()) {
      for (const auto& tag : *t) {
        if (!tag.is_string() || std::find(opts_.tags.begin(), opts_.tags.end(), tag.get<std::string>()) == opts_.tags.end()) {
          return;
        }
      }
    }
  }
  Json out;
  out["server"] = ServerInfo(srv_, opts_, ++seq_);
  if (kind == "STATSZ") {
    Json varz = mon_->Query("/varz", "");
    Json st;
    st["start"] = varz["start"];
    st["mem"] = varz["mem"];
    st["cores"] = varz["cores"];
    st["cpu"] = varz["cpu"];
    st["connections"] = varz["connections"];
    st["total_connections"] = varz["total_connections"];
    int active = 0;
    for (server::Account* a : srv_->Accounts()) active += a->connections.load() > 0;
    st["active_accounts"] = active;
    st["subscriptions"] = varz["subscriptions"];
    st["sent"] = {{"msgs", varz["out_msgs"]}, {"bytes", varz["out_bytes"]}};
    st["received"] = {{"msgs", varz["in_msgs"]}, {"bytes", varz["in_bytes"]}};
    st["slow_consumers"] = varz["slow_consumers"];
    st["active_servers"] = 1;
    if (varz.contains("jetstream") && varz["jetstream"].contains("config")) {
      Json js;
      js["config"] = {{"max_memory", varz["jetstream"]["config"]["max_memory"]},
                      {"max_storage", varz["jetstream"]["config"]["max_storage"]}};
      if (varz["jetstream"].contains("stats")) js["stats"] = varz["jetstream"]["stats"];
      st["jetstream"] = js;
    }
    out["statsz"] = st;
  } else if (const char* path = PathFor(kind)) {
    std::string q = QueryFor(kind, b);
    if (!account.empty()) {
      // An account-scoped request sees that account only.
      if (kind != "CONNZ" && kind != "JSZ" && kind != "ACCOUNTZ") return;
      q += (q.empty() ? "" : "&") + std::string("acc=") + account;
    }
    try {
      out["data"] = mon_->Query(path, q);
    } catch (const std::exception& e) {
      out["error"] = {{"code", 400}, {"description", e.what()}};
    }
  } else {
    return;  // an endpoint this server does not have: no reply, as nats-server
  }
  account_->PublishInternal(reply, {}, {}, out.dump());
}

void System::Claims(std::string subject, std::string reply, std::string body) {
  server::Operator* op = srv_->op();
  if (subject.size() > 7 && subject.compare(subject.size() - 7, 7, ".LOOKUP") == 0) {
    // "$SYS.REQ.ACCOUNT.<acc>.CLAIMS.LOOKUP": the JWT itself, or nothing.
    std::string acc = subject.substr(17, subject.size() - 17 - 14);
    if (reply.empty()) return;
    if (auto token = op->Lookup(acc)) account_->PublishInternal(reply, {}, {}, *token);
    return;
  }
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.pop_back();
  const bool del = subject == "$SYS.REQ.CLAIMS.DELETE";
  auto r = del ? op->Delete(body) : op->Update(body);
  Json out;
  out["server"] = ServerInfo(srv_, opts_, ++seq_);
  if (auto* ok = std::get_if<std::string>(&r)) {
    if (del) {
      log::Info("Account JWTs: {}", *ok);
      out["data"] = {{"account", ""}, {"code", 200}, {"message", *ok}};
    } else {
      log::Info("Account {}: JWT updated", *ok);
      out["data"] = {{"account", *ok}, {"code", 200}, {"message", "jwt updated"}};
    }
  } else {
    const auto& e = std::get<server::Operator::UpdateError>(r);
    log::Warn("Account JWT update refused: {}", e.description);
    out["error"] = {{"account", e.account}, {"code", e.code}, {"description", e.description}};
  }
  if (!reply.empty()) account_->PublishInternal(reply, {}, {}, out.dump());
}

void System::Event(server::ConnectionEvent ev) {
  const std::string& acc = ev.account;
  std::string subject = "$SYS.ACCOUNT." + acc + (ev.connect ? ".CONNECT" : ".DISCONNECT");
  if (Interest(subject)) {
    Json e;
    e["type"] = ev.connect ? "io.nats.server.advisory.v1.client_connect" : "io.nats.server.advisory.v1.client_disconnect";
    e["id"] = EventId();
    e["timestamp"] = monitor::FormatTime(std::chrono::system_clock::now());
    e["server"] = ServerInfo(srv_, opts_, ++seq_);
    Json c;
    c["start"] = monitor::FormatTime(ev.start);
    c["host"] = ev.ip;
    c["id"] = ev.cid;
    c["acc"] = acc;
    if (!ev.user.empty()) c["user"] = ev.user;
    if (!ev.name.empty()) c["name"] = ev.name;
    if (!ev.lang.empty()) c["lang"] = ev.lang;
    if (!ev.version.empty()) c["ver"] = ev.version;
    if (!ev.connect) c["stop"] = monitor::FormatTime(ev.stop);
    c["kind"] = "Client";
    c["client_type"] = "nats";
    e["client"] = c;
    if (!ev.connect) {
      // The client's point of view, as nats-server reports it: what it
      // sent is what the server read from it.
      e["sent"] = {{"msgs", ev.in_msgs}, {"bytes", ev.in_bytes}};
      e["received"] = {{"msgs", ev.out_msgs}, {"bytes", ev.out_bytes}};
      e["reason"] = ev.reason;
    }
    Publish(subject, e.dump());
  }
  // The account's connection count, under both subjects nats-server uses.
  const std::string conns_a = "$SYS.ACCOUNT." + acc + ".SERVER.CONNS";
  const std::string conns_b = "$SYS.SERVER.ACCOUNT." + acc + ".CONNS";
  bool a = Interest(conns_a), b = Interest(conns_b);
  if (!a && !b) return;
  server::Account* account = srv_->LookupAccount(acc);
  if (!account) return;
  Json e;
  e["type"] = "io.nats.server.advisory.v1.account_connections";
  e["id"] = EventId();
  e["timestamp"] = monitor::FormatTime(std::chrono::system_clock::now());
  e["server"] = ServerInfo(srv_, opts_, ++seq_);
  e["acc"] = acc;
  e["conns"] = account->connections.load();
  e["leafnodes"] = 0;
  e["total_conns"] = account->connections.load();
  Json statz = mon_->Query("/accstatz", "unused=1&accounts=" + acc);
  Json sent = {{"msgs", 0}, {"bytes", 0}}, received = sent;
  if (statz.contains("account_statz") && !statz["account_statz"].empty()) {
    sent = statz["account_statz"][0]["sent"];
    received = statz["account_statz"][0]["received"];
  }
  e["sent"] = sent;
  e["received"] = received;
  e["slow_consumers"] = 0;
  if (b) Publish(conns_b, e.dump());
  if (a) Publish(conns_a, e.dump());
}

void System::Statsz() {
  if (stopped_) return;
  const std::string subject = "$SYS.SERVER." + srv_->id() + ".STATSZ";
  if (Interest(subject)) {
    // The same message a PING gets, published for whoever listens.
    Request("$SYS.REQ.SERVER.PING", subject, "");
  }
  statsz_timer_.expires_after(kStatszInterval);
  statsz_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) Statsz();
  });
}

}  // namespace fjord::system
