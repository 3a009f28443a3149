// The processing loop shared by shipping, invoicing and analytics: each reads
// the ORDERS stream through its own durable pull consumer and acknowledges an
// order only after processing it. The services differ only in what they do
// with an order (ServiceSpec::process).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "common.h"

namespace orders {

struct ServiceSpec {
  std::string name;     // used in output and as the connection name
  std::string durable;  // durable consumer name, e.g. InvoiceProcessor
  // Does the work for one order and returns the line to print for it.
  std::function<std::string(const Order&)> process;
};

namespace internal {

// Creates the durable consumer unless it exists. Creating it explicitly,
// rather than letting js_PullSubscribe do it, keeps the consumer (and its
// position in the stream) independent of this process: libnats deletes a
// consumer it created itself when the subscription is unsubscribed.
inline natsStatus EnsureConsumer(jsCtx* js, const ServiceSpec& spec, int64_t ack_wait_ms,
                                 jsErrCode* jerr) {
  jsConsumerInfo* ci = nullptr;
  natsStatus s = js_GetConsumerInfo(&ci, js, kStream, spec.durable.c_str(), nullptr, jerr);
  if (s == NATS_NOT_FOUND) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = spec.durable.c_str();
    cc.AckPolicy = js_AckExplicit;
    // A short ack wait makes orders whose ack was lost (broker restart) come
    // back quickly; processing one order takes microseconds.
    cc.AckWait = ack_wait_ms * 1'000'000;
    cc.FilterSubject = "orders.>";
    s = js_AddConsumer(&ci, js, kStream, &cc, nullptr, jerr);
  }
  if (ci) jsConsumerInfo_Destroy(ci);
  return s;
}

}  // namespace internal

// Parses flags, then processes orders until SIGTERM/SIGINT. Returns the
// process exit code.
inline int RunService(int argc, char** argv, const ServiceSpec& spec) {
  CLI::App app{spec.name + ": processes ORDERS through the durable consumer " + spec.durable};
  std::string server = kDefaultServer;
  std::string token;
  std::string log_path;
  int batch = 20;
  int64_t ack_wait_ms = 2000;
  app.add_option("-s,--server", server, "NATS URL(s), comma separated")->capture_default_str();
  app.add_option("--token", token, "authentication token")->envname("NATS_TOKEN");
  app.add_option("--log", log_path, "append processed/acked events to this file");
  app.add_option("--batch", batch, "orders fetched per pull request")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--ack-wait", ack_wait_ms, "consumer ack wait (ms) when creating it")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  CLI11_PARSE(app, argc, argv);
  InstallStopHandlers();

  const char* who = spec.name.c_str();
  uint64_t processed = 0;
  try {
    ActivityLog log(log_path);
    // Declared before the connection so it is freed after it: the closed
    // connection has joined its reader thread, which in libnats 3.4 may
    // still hold a pointer to a subscription being freed (nats.c#637).
    Subscription sub;
    Connection nc = Connect(server, token, spec.name);
    // AckSync and API calls give up after a second: during a broker outage
    // a quick failure lets the loop drop the batch and fetch again once the
    // broker is back, instead of waiting out a long timeout per order.
    JetStream js = NewJetStream(nc.get(), 1000);

    // The stream may be created just after the service starts, and the
    // broker may be restarting: retry for a while before giving up.
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = NATS_ERR;
    for (int attempt = 0; attempt < 100 && !g_stop.load(); ++attempt) {
      s = internal::EnsureConsumer(js.get(), spec, ack_wait_ms, &jerr);
      if (s == NATS_OK) break;
      SleepUnlessStopped(std::chrono::milliseconds(200));
    }
    if (g_stop.load()) return 0;
    if (s != NATS_OK) {
      std::fprintf(stderr, "%s: consumer %s: %s\n", who, spec.durable.c_str(), StatusText(s, jerr).c_str());
      return 1;
    }

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = kStream;
    so.Consumer = spec.durable.c_str();
    natsSubscription* raw_sub = nullptr;
    s = js_PullSubscribe(&raw_sub, js.get(), "orders.>", spec.durable.c_str(), nullptr, &so, &jerr);
    sub.reset(raw_sub);
    if (s != NATS_OK) {
      std::fprintf(stderr, "%s: pull subscribe: %s\n", who, StatusText(s, jerr).c_str());
      return 1;
    }
    std::printf("%s: reading %s through durable consumer %s\n", who, kStream, spec.durable.c_str());
    std::fflush(stdout);

    natsStatus last_error = NATS_OK;
    while (!g_stop.load()) {
      natsMsgList list = {};
      // The short fetch timeout bounds how long a stop request waits.
      s = natsSubscription_Fetch(&list, sub.get(), batch, 500, &jerr);
      if (s == NATS_TIMEOUT) continue;  // nothing new
      if (s == NATS_CONNECTION_CLOSED) {
        std::fprintf(stderr, "%s: connection closed\n", who);
        return 1;
      }
      if (s != NATS_OK) {
        // Usually a broker restart; libnats reconnects on its own.
        if (s != last_error) std::fprintf(stderr, "%s: fetch: %s, retrying\n", who, StatusText(s, jerr).c_str());
        last_error = s;
        SleepUnlessStopped(std::chrono::milliseconds(100));
        continue;
      }
      last_error = NATS_OK;

      // Once an ack fails the rest of the batch is left alone: the broker
      // redelivers those orders after the ack wait, so processing them now
      // would only produce duplicates.
      bool ack_failed = false;
      for (int i = 0; i < list.Count && !ack_failed && !g_stop.load(); ++i) {
        natsMsg* m = list.Msgs[i];
        Order order;
        try {
          order = nlohmann::json::parse(natsMsg_GetData(m), natsMsg_GetData(m) + natsMsg_GetDataLength(m))
                      .get<Order>();
        } catch (const nlohmann::json::exception& e) {
          // A malformed event would be redelivered forever; terminate it.
          std::fprintf(stderr, "%s: dropping malformed order on %s: %s\n", who, natsMsg_GetSubject(m), e.what());
          natsMsg_Term(m, nullptr);
          continue;
        }
        uint64_t seq = 0;
        uint64_t delivered = 0;
        jsMsgMetaData* meta = nullptr;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
          seq = meta->Sequence.Stream;
          delivered = meta->NumDelivered;
          jsMsgMetaData_Destroy(meta);
        }

        std::string line = spec.process(order);
        std::printf("%s: %s\n", who, line.c_str());
        log.Write("processed", order.id, "seq=" + std::to_string(seq) + " delivered=" + std::to_string(delivered));

        // AckSync waits for the broker's confirmation, so an "acked" line
        // means the broker has recorded the ack and must never deliver this
        // order to this consumer again.
        s = natsMsg_AckSync(m, nullptr, &jerr);
        if (s == NATS_OK) {
          log.Write("acked", order.id, "seq=" + std::to_string(seq));
          ++processed;
        } else {
          log.Write("ack-failed", order.id, "seq=" + std::to_string(seq) + " " + natsStatus_GetText(s));
          std::fprintf(stderr, "%s: ack of %s not confirmed (%s); it will be redelivered\n", who,
                       order.id.c_str(), StatusText(s, jerr).c_str());
          ack_failed = true;
        }
      }
      std::fflush(stdout);
      natsMsgList_Destroy(&list);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", who, e.what());
    return 1;
  }
  std::printf("%s: stopped after %llu orders\n", who, static_cast<unsigned long long>(processed));
  // Releases libnats' threads after every connection above is destroyed.
  nats_Close();
  return 0;
}

}  // namespace orders
