// Code shared by the order-processor example programs: connection set-up,
// signal handling, the order record, and the append-only activity logs the
// demo reads to check that no acknowledged order is lost or processed twice.
//
// The programs use only the public libnats API, so they run unchanged against
// fjord-server and nats-server.
#pragma once

#include <nats/nats.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace orders {

inline constexpr const char* kDefaultServer = "nats://127.0.0.1:4222";
inline constexpr const char* kStream = "ORDERS";

// libnats objects owned through unique_ptr so every early return releases them.
struct ConnDeleter {
  void operator()(natsConnection* c) const { natsConnection_Destroy(c); }
};
struct JsDeleter {
  void operator()(jsCtx* js) const { jsCtx_Destroy(js); }
};
struct SubDeleter {
  void operator()(natsSubscription* s) const { natsSubscription_Destroy(s); }
};
using Connection = std::unique_ptr<natsConnection, ConnDeleter>;
using JetStream = std::unique_ptr<jsCtx, JsDeleter>;
using Subscription = std::unique_ptr<natsSubscription, SubDeleter>;

// Set by SIGTERM/SIGINT. Every blocking call in the programs is bounded
// (fetch and publish time out after well under a second), so the main loops
// notice the flag promptly and shut down between two orders, never halfway
// through one.
inline std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "flag is set from a signal handler");

inline void InstallStopHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = [](int) { g_stop.store(true); };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

inline std::string StatusText(natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::string text = natsStatus_GetText(s);
  if (jerr != 0) text += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  return text;
}

// Sleeps up to `d`, waking early on a stop request.
inline void SleepUnlessStopped(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!g_stop.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Connects with settings suited to a service that must ride out a broker
// restart: the first connect is retried (the broker may still be starting),
// reconnects never give up, and the short reconnect wait keeps the outage
// seen by clients close to the broker's own downtime. Gives up after
// `connect_timeout`; on a stop request returns the not yet connected
// connection, and the caller's loop sees g_stop.
inline Connection Connect(const std::string& server, const std::string& token, const std::string& name,
                          std::chrono::seconds connect_timeout = std::chrono::seconds(10)) {
  natsOptions* raw = nullptr;
  if (natsOptions_Create(&raw) != NATS_OK) throw std::runtime_error("out of memory");
  std::unique_ptr<natsOptions, decltype(&natsOptions_Destroy)> opts(raw, natsOptions_Destroy);
  // natsOptions_SetURL takes one URL; a comma-separated list (a cluster)
  // goes to natsOptions_SetServers.
  std::vector<std::string> urls;
  for (size_t start = 0; start <= server.size();) {
    size_t comma = std::min(server.find(',', start), server.size());
    if (comma > start) urls.push_back(server.substr(start, comma - start));
    start = comma + 1;
  }
  std::vector<const char*> url_ptrs;
  for (const auto& u : urls) url_ptrs.push_back(u.c_str());
  natsStatus s = natsOptions_SetServers(opts.get(), url_ptrs.data(), static_cast<int>(url_ptrs.size()));
  if (s == NATS_OK && !token.empty()) s = natsOptions_SetToken(opts.get(), token.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), name.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), 100);
  // With a callback the first connect runs in the background (without one,
  // natsConnection_Connect would block, deaf to SIGTERM, until it succeeds).
  if (s == NATS_OK) {
    s = natsOptions_SetRetryOnFailedConnect(
        opts.get(), true, [](natsConnection*, void*) {}, nullptr);
  }
  if (s != NATS_OK) throw std::runtime_error("connection options: " + StatusText(s));

  natsConnection* nc = nullptr;
  s = natsConnection_Connect(&nc, opts.get());
  Connection conn(nc);
  if (s == NATS_NOT_YET_CONNECTED) {
    auto give_up = std::chrono::steady_clock::now() + connect_timeout;
    while (!g_stop.load() && natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) {
      if (std::chrono::steady_clock::now() >= give_up) {
        throw std::runtime_error("cannot connect to " + server);
      }
      SleepUnlessStopped(std::chrono::milliseconds(50));
    }
    s = NATS_OK;
  }
  if (s != NATS_OK) throw std::runtime_error("connect to " + server + ": " + StatusText(s));
  return conn;
}

// `wait_ms` bounds every JetStream API request and AckSync made through the
// context; the default (5 s) would make a service sit idle for long after a
// broker restart while acks of a lost batch time out one by one.
inline JetStream NewJetStream(natsConnection* nc, int64_t wait_ms) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = wait_ms;
  jsCtx* js = nullptr;
  natsStatus s = natsConnection_JetStream(&js, nc, &jo);
  if (s != NATS_OK) throw std::runtime_error("JetStream context: " + StatusText(s));
  return JetStream(js);
}

// One order event, the JSON payload of `orders.{region}.{type}`.
struct Item {
  std::string sku;
  int qty = 0;
  int64_t price_cents = 0;
};

struct Order {
  std::string id;
  std::string region;
  std::string type;  // created, updated or cancelled
  std::string customer;
  std::string currency;
  std::vector<Item> items;

  int64_t TotalCents() const {
    int64_t total = 0;
    for (const auto& it : items) total += it.qty * it.price_cents;
    return total;
  }
  std::string Subject() const { return "orders." + region + "." + type; }
};

inline void to_json(nlohmann::json& j, const Item& it) {
  j = {{"sku", it.sku}, {"qty", it.qty}, {"price_cents", it.price_cents}};
}
inline void from_json(const nlohmann::json& j, Item& it) {
  j.at("sku").get_to(it.sku);
  j.at("qty").get_to(it.qty);
  j.at("price_cents").get_to(it.price_cents);
}
inline void to_json(nlohmann::json& j, const Order& o) {
  j = {{"id", o.id},
       {"region", o.region},
       {"type", o.type},
       {"customer", o.customer},
       {"currency", o.currency},
       {"items", o.items},
       {"total_cents", o.TotalCents()}};
}
inline void from_json(const nlohmann::json& j, Order& o) {
  j.at("id").get_to(o.id);
  j.at("region").get_to(o.region);
  j.at("type").get_to(o.type);
  j.at("customer").get_to(o.customer);
  j.at("currency").get_to(o.currency);
  j.at("items").get_to(o.items);
}

inline std::string FormatMoney(int64_t cents, const std::string& currency) {
  char buf[64];
  long long abs_cents = cents < 0 ? -static_cast<long long>(cents) : cents;
  std::snprintf(buf, sizeof buf, "%s%lld.%02lld %s", cents < 0 ? "-" : "", abs_cents / 100, abs_cents % 100,
                currency.c_str());
  return buf;
}

// Append-only record of what a program did, one event per line
// ("<event> <order id> <details>"). Each line is flushed at once so that a
// SIGKILLed process leaves every completed step on disk; the demo's checker
// relies on "acked" lines being written only after the broker confirmed.
class ActivityLog {
 public:
  explicit ActivityLog(const std::string& path) {
    if (path.empty()) return;
    f_ = std::fopen(path.c_str(), "a");
    if (!f_) throw std::runtime_error("cannot open log " + path);
  }
  ~ActivityLog() {
    if (f_) std::fclose(f_);
  }
  ActivityLog(const ActivityLog&) = delete;
  ActivityLog& operator=(const ActivityLog&) = delete;

  void Write(const std::string& event, const std::string& order_id, const std::string& details) {
    if (!f_) return;
    std::fprintf(f_, "%s %s %s\n", event.c_str(), order_id.c_str(), details.c_str());
    std::fflush(f_);
  }

 private:
  std::FILE* f_ = nullptr;
};

}  // namespace orders
