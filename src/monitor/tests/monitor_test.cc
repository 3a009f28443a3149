// The monitor against a real core server: JSON shapes and values, query
// parameters, and the HTTP handling over a socket.
#include "monitor/monitor.h"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "server/server.h"

namespace fjord::monitor {
namespace {

using asio::ip::tcp;
using Json = nlohmann::json;
using namespace std::chrono_literals;

// A raw NATS client: sends protocol, waits for a reply text.
class Raw {
 public:
  explicit Raw(int port) : sock_(ctx_) {
    sock_.connect({asio::ip::make_address("127.0.0.1"), uint16_t(port)});
  }
  void Send(const std::string& s) { asio::write(sock_, asio::buffer(s)); }
  bool Expect(const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    sock_.non_blocking(true);
    while (buf_.find(want) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      char tmp[4096];
      asio::error_code ec;
      size_t n = sock_.read_some(asio::buffer(tmp), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(2ms);
        continue;
      }
      if (ec) return false;
      buf_.append(tmp, n);
    }
    buf_.erase(0, buf_.find(want) + want.size());
    return true;
  }

 private:
  asio::io_context ctx_;
  tcp::socket sock_;
  std::string buf_;
};

// Sends `request` to the monitor and returns everything it answers with.
std::string HttpRaw(int port, const std::string& request) {
  asio::io_context ctx;
  tcp::socket s(ctx);
  s.connect({asio::ip::make_address("127.0.0.1"), uint16_t(port)});
  asio::write(s, asio::buffer(request));
  std::string out;
  asio::error_code ec;
  char tmp[4096];
  // The monitor closes after one response; a bounded number of reads.
  for (int i = 0; i < 10000 && !ec; ++i) {
    size_t n = s.read_some(asio::buffer(tmp), ec);
    out.append(tmp, n);
  }
  return out;
}

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::Config cfg;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.io_threads = 2;
    cfg.max_payload = 4096;
    srv_ = std::make_unique<server::Server>(cfg);
    ASSERT_EQ(srv_->Start(), "");
    Options o;
    o.host = "127.0.0.1";
    o.port = -1;
    mon_ = std::make_unique<Monitor>(srv_.get(), std::vector<jetstream::JetStream*>{}, o);
    ASSERT_EQ(mon_->Listen(), "");
    mon_->Serve();
  }
  void TearDown() override {
    mon_->Shutdown();
    srv_->Shutdown();
  }
  Json Get(const std::string& target) {
    auto r = mon_->Handle(target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    return Json::parse(r.body);
  }
  // Waits (bounded) until /varz shows `n` connections.
  void WaitConnections(size_t n) {
    for (int i = 0; i < 500 && Get("/varz")["connections"] != n; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(Get("/varz")["connections"], n);
  }

  std::unique_ptr<server::Server> srv_;
  std::unique_ptr<Monitor> mon_;
};

TEST(MonitorFormat, UptimeAsNatsServer) {
  EXPECT_EQ(FormatUptime(0s), "0s");
  EXPECT_EQ(FormatUptime(59s), "59s");
  EXPECT_EQ(FormatUptime(61s), "1m1s");
  EXPECT_EQ(FormatUptime(3600s), "1h0m0s");
  EXPECT_EQ(FormatUptime(std::chrono::hours(25) + 2s), "1d1h0m2s");
  EXPECT_EQ(FormatUptime(std::chrono::hours(24 * 366)), "1y1d0h0m0s");
}

TEST(MonitorFormat, TimeIsRfc3339NanoWithTrimmedZeros) {
  std::chrono::system_clock::time_point t{std::chrono::seconds(1700000000)};
  EXPECT_EQ(FormatTime(t), "2023-11-14T22:13:20Z");
  auto t2 = t + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::milliseconds(120));
  EXPECT_EQ(FormatTime(t2), "2023-11-14T22:13:20.12Z");
}

TEST_F(MonitorTest, VarzCountsConnectionsAndTraffic) {
  Json v = Get("/varz");
  EXPECT_EQ(v["server_id"], srv_->id());
  EXPECT_EQ(v["port"], srv_->bound_port());
  EXPECT_EQ(v["http_port"], mon_->bound_port());
  EXPECT_EQ(v["max_payload"], 4096);
  EXPECT_EQ(v["ping_interval"], int64_t(120) * 1000000000);
  EXPECT_EQ(v["connections"], 0);
  EXPECT_TRUE(v["mem"].get<int64_t>() > 0);
  EXPECT_TRUE(v["jetstream"].empty());

  Raw a(srv_->bound_port()), b(srv_->bound_port());
  a.Send("CONNECT {\"verbose\":false,\"name\":\"sub\",\"lang\":\"c\",\"version\":\"9\"}\r\nSUB foo 1\r\nPING\r\n");
  ASSERT_TRUE(a.Expect("PONG\r\n"));
  b.Send("CONNECT {\"verbose\":false}\r\nPUB foo 5\r\nhello\r\nPUB foo 3\r\nabc\r\nPING\r\n");
  ASSERT_TRUE(b.Expect("PONG\r\n"));
  ASSERT_TRUE(a.Expect("MSG foo 1 3\r\nabc\r\n"));
  v = Get("/varz");
  EXPECT_EQ(v["connections"], 2);
  EXPECT_EQ(v["total_connections"], 2);
  EXPECT_EQ(v["in_msgs"], 2);
  EXPECT_EQ(v["in_bytes"], 8);
  EXPECT_EQ(v["out_msgs"], 2);
  EXPECT_EQ(v["out_bytes"], 8);
  EXPECT_EQ(v["subscriptions"], 1);

  // Connz: sorted, limited, with the CONNECT details and subscriptions.
  Json c = Get("/connz?subs=1&sort=msgs_from");
  ASSERT_EQ(c["connections"].size(), 2u);
  EXPECT_EQ(c["connections"][0]["in_msgs"], 2);
  EXPECT_EQ(c["connections"][1]["name"], "sub");
  EXPECT_EQ(c["connections"][1]["lang"], "c");
  EXPECT_EQ(c["connections"][1]["subscriptions_list"], Json::array({"foo"}));
  EXPECT_FALSE(c["connections"][0].contains("subscriptions_list"));
  c = Get("/connz?limit=1&offset=1");
  EXPECT_EQ(c["num_connections"], 1);
  EXPECT_EQ(c["total"], 2);
  EXPECT_EQ(c["limit"], 1);
  EXPECT_EQ(c["offset"], 1);
  c = Get("/connz?subs=detail&sort=subs");
  EXPECT_EQ(c["connections"][0]["subscriptions_list_detail"][0]["msgs"], 2);
  EXPECT_EQ(c["connections"][0]["subscriptions_list_detail"][0]["sid"], "1");

  Json s = Get("/subsz?subs=1");
  EXPECT_EQ(s["num_subscriptions"], 1);
  EXPECT_EQ(s["subscriptions_list"][0]["subject"], "foo");
}

TEST_F(MonitorTest, TotalsSurviveClosedConnections) {
  {
    Raw b(srv_->bound_port());
    b.Send("CONNECT {\"verbose\":false}\r\nPUB foo 5\r\nhello\r\nPING\r\n");
    ASSERT_TRUE(b.Expect("PONG\r\n"));
    WaitConnections(1);
  }
  WaitConnections(0);
  Json v = Get("/varz");
  EXPECT_EQ(v["in_msgs"], 1);
  EXPECT_EQ(v["in_bytes"], 5);
  EXPECT_EQ(v["total_connections"], 1);
}

TEST_F(MonitorTest, BadParametersAre400WithNatsServerText) {
  auto r = mon_->Handle("/connz?sort=foo");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "invalid sorting option: foo");
  r = mon_->Handle("/connz?limit=abc");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax");
  r = mon_->Handle("/healthz?js-enabled-only=maybe");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(mon_->Handle("/nope").status, 404);
  EXPECT_EQ(mon_->Handle("/varz/").status, 404);
}

TEST_F(MonitorTest, HealthzAndJszWithoutJetStream) {
  auto r = mon_->Handle("/healthz?js-enabled-only=true");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok"})");
  Json j = Get("/jsz");
  EXPECT_EQ(j["disabled"], true);
  EXPECT_EQ(j["streams"], 0);
  auto idx = mon_->Handle("/");
  EXPECT_EQ(idx.status, 200);
  EXPECT_NE(idx.body.find("href=./varz"), std::string::npos);
}

// A clustered server: no meta leader, its meta member catching up, or a
// stream replica here that is not current, is unhealthy; js-server-only
// leaves the replicas out (not the meta member) and js-enabled-only checks
// neither.
TEST_F(MonitorTest, HealthzReportsMetaLeaderAndReplicas) {
  bool leader = true, meta_current = true;
  std::string why = "JetStream stream 'APP > ORDERS' is not current: behind the leader";
  mon_->SetMeta([] { return nlohmann::ordered_json::object(); }, [&] { return leader; },
                [&](bool with_replicas) {
                  if (!meta_current) return std::string("JetStream is not current with the meta leader");
                  return with_replicas ? why : std::string();
                });
  auto r = mon_->Handle("/healthz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Json::parse(r.body)["error"], why);
  EXPECT_EQ(mon_->Handle("/healthz?js-server-only=true").status, 200);
  EXPECT_EQ(mon_->Handle("/healthz?js-enabled-only=true").status, 200);
  meta_current = false;
  r = mon_->Handle("/healthz?js-server-only=true");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Json::parse(r.body)["error"], "JetStream is not current with the meta leader");
  EXPECT_EQ(mon_->Handle("/healthz?js-enabled-only=true").status, 200);
  meta_current = true;
  leader = false;
  r = mon_->Handle("/healthz?js-server-only=true");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("meta leader"), std::string::npos);
  EXPECT_EQ(mon_->Handle("/healthz?js-enabled-only=true").status, 200);
  leader = true;
  why.clear();
  EXPECT_EQ(mon_->Handle("/healthz").status, 200);
}

TEST_F(MonitorTest, ServesHttpOverTheSocket) {
  std::string r = HttpRaw(mon_->bound_port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Length: 15\r\n"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 15), R"({"status":"ok"})");
  r = HttpRaw(mon_->bound_port(), "POST /varz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 405", 0), 0u) << r;
  // A head that never ends is cut off at the size bound.
  r = HttpRaw(mon_->bound_port(), "GET /varz HTTP/1.1\r\nX: " + std::string(20000, 'a'));
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r.substr(0, 100);
}

TEST_F(MonitorTest, PortInUseIsAnError) {
  Options o;
  o.host = "127.0.0.1";
  o.port = mon_->bound_port();
  Monitor second(srv_.get(), std::vector<jetstream::JetStream*>{}, o);
  std::string err = second.Listen();
  EXPECT_NE(err.find("monitor port"), std::string::npos) << err;
}

TEST_F(MonitorTest, BasePathPrefixesEveryEndpoint) {
  Options o;
  o.host = "127.0.0.1";
  o.port = -1;
  o.base_path = "nats/";
  Monitor m(srv_.get(), std::vector<jetstream::JetStream*>{}, o);
  EXPECT_EQ(m.Handle("/nats/healthz").status, 200);
  EXPECT_EQ(m.Handle("/healthz").status, 404);
}

}  // namespace
}  // namespace fjord::monitor
