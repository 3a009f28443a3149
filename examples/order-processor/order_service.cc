// order-service: publishes order events to orders.{region}.{type} and waits
// for JetStream's acknowledgement of each one.
//
// Every event carries its order id as Nats-Msg-Id, so when an ack is lost
// (timeout, broker restart) the event can simply be published again: the
// stream's duplicate window drops the second copy and answers with the
// original sequence. An order counts as taken only once acked; the --log file
// lists exactly those.
#include <CLI/CLI.hpp>
#include <cinttypes>
#include <random>

#include "common.h"

namespace {

using namespace orders;

constexpr const char* kRegions[] = {"oslo", "bergen", "trondheim", "stavanger", "tromso"};
constexpr const char* kSkus[] = {"BOOK-17", "LAMP-02", "MUG-11", "SOCKS-9", "KAYAK-1", "TENT-4"};

// Orders are generated from their number, so a rerun with the same flags
// publishes identical payloads (useful when comparing brokers).
Order MakeOrder(const std::string& prefix, uint64_t n) {
  std::mt19937_64 rng(n * 0x9E3779B97F4A7C15ULL);
  Order o;
  char id[64];
  std::snprintf(id, sizeof id, "%s-%06" PRIu64, prefix.c_str(), n);
  o.id = id;
  o.region = kRegions[rng() % std::size(kRegions)];
  uint64_t kind = rng() % 10;
  o.type = kind < 8 ? "created" : kind < 9 ? "updated" : "cancelled";
  o.customer = "customer-" + std::to_string(rng() % 500);
  o.currency = "NOK";
  int lines = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < lines; ++i) {
    o.items.push_back({kSkus[rng() % std::size(kSkus)], 1 + static_cast<int>(rng() % 4),
                       static_cast<int64_t>(4900 + rng() % 100000)});
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"order-service: publishes order events to the ORDERS stream"};
  std::string server = kDefaultServer;
  std::string token;
  std::string log_path;
  std::string prefix = "order";
  uint64_t count = 10;
  uint64_t first = 1;
  double rate = 50;
  int64_t ack_timeout_ms = 1000;
  int64_t give_up_s = 30;
  app.add_option("-s,--server", server, "NATS URL(s), comma separated")->capture_default_str();
  app.add_option("--token", token, "authentication token")->envname("NATS_TOKEN");
  app.add_option("--count", count, "orders to publish")->capture_default_str();
  app.add_option("--rate", rate, "orders per second, 0 for as fast as acks allow")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--prefix", prefix, "order id prefix (ids are PREFIX-NNNNNN)")->capture_default_str();
  app.add_option("--first", first, "number of the first order")->capture_default_str();
  app.add_option("--log", log_path, "append one line per acknowledged order to this file");
  app.add_option("--ack-timeout", ack_timeout_ms, "wait for each publish ack (ms) before retrying")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{10}, int64_t{60000}));
  app.add_option("--give-up", give_up_s, "seconds to keep retrying one order before failing")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{3600}));
  CLI11_PARSE(app, argc, argv);
  InstallStopHandlers();

  uint64_t acked = 0;
  uint64_t retries = 0;
  try {
    ActivityLog log(log_path);
    Connection nc = Connect(server, token, "order-service");
    JetStream js = NewJetStream(nc.get(), ack_timeout_ms);

    auto start = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < count && !g_stop.load(); ++i) {
      if (rate > 0) {
        auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(static_cast<double>(i) / rate));
        auto now = std::chrono::steady_clock::now();
        if (due > now) SleepUnlessStopped(std::chrono::duration_cast<std::chrono::milliseconds>(due - now));
        if (g_stop.load()) break;
      }
      Order order = MakeOrder(prefix, first + i);
      std::string payload = nlohmann::json(order).dump();
      std::string subject = order.Subject();

      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = order.id.c_str();
      po.MaxWait = ack_timeout_ms;
      po.ExpectStream = kStream;

      auto give_up_at = std::chrono::steady_clock::now() + std::chrono::seconds(give_up_s);
      for (;;) {
        jsPubAck* pa = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_Publish(&pa, js.get(), subject.c_str(), payload.data(),
                                  static_cast<int>(payload.size()), &po, &jerr);
        if (s == NATS_OK) {
          std::printf("order-service: %s %s on %s -> %s seq %" PRIu64 "%s\n", order.id.c_str(), order.type.c_str(),
                      subject.c_str(), pa->Stream, pa->Sequence, pa->Duplicate ? " (duplicate of an earlier attempt)" : "");
          log.Write("acked", order.id, "seq=" + std::to_string(pa->Sequence) + (pa->Duplicate ? " duplicate" : ""));
          jsPubAck_Destroy(pa);
          ++acked;
          break;
        }
        // A JetStream error (no such stream, wrong stream) will not go away
        // by retrying; anything else is the broker being unreachable,
        // restarting or not yet ready, which a retry of the same Nats-Msg-Id
        // rides out safely. So is "no responders" (which libnats reports
        // with a JetStream code): in a cluster, the server holding the
        // stream is restarting while this one is up. nats.go retries it too.
        if ((jerr != 0 && s != NATS_NO_RESPONDERS) || s == NATS_CONNECTION_CLOSED) {
          std::fprintf(stderr, "order-service: publish %s: %s\n", order.id.c_str(), StatusText(s, jerr).c_str());
          return 1;
        }
        if (g_stop.load() || std::chrono::steady_clock::now() >= give_up_at) {
          std::fprintf(stderr, "order-service: giving up on %s: %s\n", order.id.c_str(), StatusText(s).c_str());
          return 1;
        }
        ++retries;
        std::fprintf(stderr, "order-service: %s not acknowledged (%s), retrying\n", order.id.c_str(),
                     StatusText(s).c_str());
        // Timeouts already waited; other errors return at once, so pause.
        if (s != NATS_TIMEOUT) SleepUnlessStopped(std::chrono::milliseconds(100));
      }
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "order-service: %s\n", e.what());
    return 1;
  }
  std::printf("order-service: %" PRIu64 " orders acknowledged, %" PRIu64 " retries\n", acked, retries);
  nats_Close();
  return 0;
}
