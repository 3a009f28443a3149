// End-to-end checks of the core server over real sockets with raw protocol.
#include "server/server.h"
#include "server/client.h"
#include "server/tests/raw.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <asio.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

namespace fjord::server {
namespace {

using asio::ip::tcp;

class ServerTest : public ::testing::Test {
 protected:
  void Start(Config cfg = {}) {
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.io_threads = 2;
    server_ = std::make_unique<Server>(cfg);
    ASSERT_EQ(server_->Start(), "");
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }
  int port() { return server_->bound_port(); }
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, HandshakeVerboseAndDelivery) {
  Start();
  Raw c(port());
  ASSERT_TRUE(c.Expect("\"max_payload\":1048576"));
  ASSERT_TRUE(c.Expect("} \r\n"));
  c.Send("CONNECT {}\r\nPING\r\n");
  ASSERT_TRUE(c.Expect("+OK\r\nPONG\r\n"));
  c.Send("SUB foo 1\r\nPUB foo 5\r\nhello\r\n");
  ASSERT_TRUE(c.Expect("+OK\r\n+OK\r\nMSG foo 1 5\r\nhello\r\n"));
  c.Send("SUB foo.* q1 2\r\nPUB foo.bar _INBOX.abc 2\r\nhi\r\n");
  ASSERT_TRUE(c.Expect("+OK\r\n+OK\r\nMSG foo.bar 2 _INBOX.abc 2\r\nhi\r\n"));
}

TEST_F(ServerTest, HeadersAndNoResponders) {
  Start();
  Raw c(port());
  c.Send("CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n");
  c.Send("SUB h.> 3\r\nHPUB h.a.b rep.ly 46 53\r\nNATS/1.0\r\nFoo: Bar\r\nFoo: Baz\r\nX-Multi: a b\r\n\r\npayload\r\n");
  ASSERT_TRUE(c.Expect("HMSG h.a.b 3 rep.ly 46 53\r\nNATS/1.0\r\nFoo: Bar\r\nFoo: Baz\r\nX-Multi: a b\r\n\r\npayload\r\n"));
  c.Send("SUB _INBOX.abc.* 9\r\nPUB nobody.here _INBOX.abc.1 1\r\nx\r\n");
  ASSERT_TRUE(c.Expect("HMSG _INBOX.abc.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"));
}

TEST_F(ServerTest, ErrorsThatClose) {
  Start();
  {
    Raw c(port());
    c.Send("XYZ\r\n");
    ASSERT_TRUE(c.Expect("-ERR 'Unknown Protocol Operation'\r\n"));
    EXPECT_TRUE(c.Closed());
  }
  {
    Raw c(port());
    c.Send("PUB foo 1\r\nabc\r\n");
    ASSERT_TRUE(c.Expect("-ERR 'Unknown Protocol Operation'\r\n"));
    EXPECT_TRUE(c.Closed());
  }
  {
    Raw c(port());
    c.Send("PUB " + std::string(5000, 'a') + " 1\r\n");
    ASSERT_TRUE(c.Expect("-ERR 'maximum control line exceeded'\r\n"));
    EXPECT_TRUE(c.Closed());
  }
}

TEST_F(ServerTest, InvalidSubjectKeepsConnection) {
  Start();
  Raw c(port());
  c.Send("CONNECT {\"verbose\":false}\r\nSUB foo..bar 5\r\nPING\r\n");
  ASSERT_TRUE(c.Expect("-ERR 'Invalid Subject'\r\nPONG\r\n"));
}

TEST_F(ServerTest, AutoUnsubscribe) {
  Start();
  Raw c(port());
  c.Send("CONNECT {\"verbose\":false}\r\nSUB u 4\r\nUNSUB 4 2\r\n");
  c.Send("PUB u 1\r\na\r\nPUB u 1\r\nb\r\nPUB u 1\r\nc\r\nPING\r\n");
  // Exactly two deliveries, then nothing.
  ASSERT_TRUE(c.Expect("MSG u 4 1\r\na\r\nMSG u 4 1\r\nb\r\nPONG\r\n"));
}

// A subscriber that never reads still becomes a slow consumer at
// max_pending: pausing its publisher (past 1 MiB pending) only slows the
// way there.
TEST_F(ServerTest, StuckSubscriberIsStillCutAtMaxPending) {
  Config cfg;
  cfg.max_pending = 2 << 20;
  Start(cfg);
  Raw sub(port());
  sub.SetReceiveBuffer(64 * 1024);
  sub.Send("CONNECT {\"verbose\":false}\r\nSUB flood 1\r\nPING\r\n");
  ASSERT_TRUE(sub.Expect("PONG\r\n"));
  std::thread publisher([&] {
    Raw pub(port());
    const std::string body(32 * 1024, 'x');
    std::string batch = "CONNECT {\"verbose\":false}\r\n";
    // Enough to fill the socket buffers on both sides and max_pending.
    for (int i = 0; i < 1000; ++i) batch += "PUB flood " + std::to_string(body.size()) + "\r\n" + body + "\r\n";
    pub.Send(batch + "PING\r\n");
    EXPECT_TRUE(pub.Expect("PONG\r\n"));
  });
  publisher.join();
  EXPECT_EQ(server_->stats().slow_consumers.load(), 1u);
  EXPECT_TRUE(sub.Closed());
}

TEST_F(ServerTest, TokenAuth) {
  Config cfg;
  cfg.token = "tok";
  Start(cfg);
  {
    Raw c(port());
    ASSERT_TRUE(c.Expect("\"auth_required\":true"));
    c.Send("CONNECT {\"auth_token\":\"bad\"}\r\n");
    ASSERT_TRUE(c.Expect("-ERR 'Authorization Violation'\r\n"));
    EXPECT_TRUE(c.Closed());
  }
  {
    Raw c(port());
    c.Send("CONNECT {\"verbose\":false,\"auth_token\":\"tok\"}\r\nPING\r\n");
    ASSERT_TRUE(c.Expect("PONG\r\n"));
  }
}

TEST_F(ServerTest, InternalSubscriptionAndPublish) {
  Start();
  std::atomic<int> got{0};
  auto sub = server_->global_account().SubscribeInternal("svc.>", [&](const InternalMsg& m) {
    if (m.data == "ping") got++;
  });
  Raw c(port());
  c.Send("CONNECT {\"verbose\":false}\r\nSUB out 1\r\nPUB svc.a 4\r\nping\r\nPING\r\n");
  ASSERT_TRUE(c.Expect("PONG\r\n"));
  EXPECT_EQ(got.load(), 1);
  server_->global_account().PublishInternal("out", "", "", "pong");
  ASSERT_TRUE(c.Expect("MSG out 1 4\r\npong\r\n"));
  server_->global_account().UnsubscribeInternal(sub);
}

// A publish made on an I/O thread outside a read batch (a timer, a
// write's completion, a route closing: a stream create's answer released
// when a route closed) is flushed at once. It used to wait in that thread's
// list for a read that never came, and as its connection's flush counted as
// scheduled, nothing for that connection was flushed again: no reply, no
// PING, and finally a close as stale that never completed.
TEST_F(ServerTest, PublishOnAnIoThreadOutsideAReadIsFlushed) {
  Start();
  Raw c(port());
  c.Send("CONNECT {\"verbose\":false}\r\nSUB out 1\r\nPING\r\n");
  ASSERT_TRUE(c.Expect("PONG\r\n"));
  // Both I/O threads (round robin): the client's and the other.
  for (int i = 0; i < 2; i++) {
    std::string text = "io" + std::to_string(i);
    asio::post(server_->NextContext(), [this, text] { server_->global_account().PublishInternal("out", "", "", text); });
    ASSERT_TRUE(c.Expect("MSG out 1 3\r\n" + text + "\r\n")) << text;
  }
  // And the connection goes on being flushed.
  c.Send("PING\r\n");
  ASSERT_TRUE(c.Expect("PONG\r\n"));
}

// Two accounts, A exporting to B; users a and b.
Config TwoAccounts(std::vector<StreamExport> streams, std::vector<ServiceExport> services,
                   std::vector<StreamImport> stream_imports, std::vector<ServiceImport> service_imports) {
  Config cfg;
  AccountConfig a, b;
  a.name = "A";
  a.stream_exports = std::move(streams);
  a.service_exports = std::move(services);
  b.name = "B";
  b.stream_imports = std::move(stream_imports);
  b.service_imports = std::move(service_imports);
  cfg.accounts = {a, b};
  User ua, ub;
  ua.name = ua.password = "a";
  ua.account = "A";
  ub.name = ub.password = "b";
  ub.account = "B";
  cfg.users = {ua, ub};
  return cfg;
}

void Login(Raw& c, const char* user) {
  c.Send(std::string("CONNECT {\"verbose\":false,\"headers\":true,\"user\":\"") + user + "\",\"pass\":\"" + user +
         "\"}\r\nPING\r\n");
  ASSERT_TRUE(c.Expect("PONG\r\n"));
}

TEST_F(ServerTest, AccountsIsolateSubjects) {
  Start(TwoAccounts({}, {}, {}, {}));
  Raw a(port()), b(port());
  Login(a, "a");
  Login(b, "b");
  a.Send("SUB x 1\r\nPING\r\n");
  ASSERT_TRUE(a.Expect("PONG\r\n"));
  b.Send("SUB x 1\r\nPUB x 2\r\nhi\r\nPING\r\n");
  ASSERT_TRUE(b.Expect("MSG x 1 2\r\nhi\r\nPONG\r\n"));
  a.Send("PING\r\n");
  ASSERT_TRUE(a.Expect("PONG\r\n"));
  EXPECT_EQ(a.buf().find("MSG"), std::string::npos) << a.buf();
  EXPECT_EQ(server_->LookupAccount("A")->subscriptions.load(), 1);
  EXPECT_EQ(server_->LookupAccount("B")->connections.load(), 1);
}

TEST_F(ServerTest, StreamImportWithPrefix) {
  Start(TwoAccounts({{"ev.>", {}}}, {}, {{"A", "ev.>", "a", ""}}, {}));
  Raw a(port()), b(port());
  Login(a, "a");
  Login(b, "b");
  b.Send("SUB a.ev.> 1\r\nPING\r\n");
  ASSERT_TRUE(b.Expect("PONG\r\n"));
  a.Send("PUB ev.one r.1 3\r\none\r\nPING\r\n");
  ASSERT_TRUE(a.Expect("PONG\r\n"));
  ASSERT_TRUE(b.Expect("MSG a.ev.one 1 r.1 3\r\none\r\n"));
}

TEST_F(ServerTest, ServiceImportRoutesOneResponseForASingleton) {
  ServiceExport svc;
  svc.subject = "svc";
  Start(TwoAccounts({}, {svc}, {}, {{"A", "svc", "asvc"}}));
  Raw a(port()), b(port());
  Login(a, "a");
  Login(b, "b");
  a.Send("SUB svc 1\r\nPING\r\n");
  ASSERT_TRUE(a.Expect("PONG\r\n"));
  b.Send("SUB inbox 7\r\nPUB asvc inbox 1\r\n?\r\nPING\r\n");
  ASSERT_TRUE(b.Expect("PONG\r\n"));
  // The service sees its own subject, a reply subject of its account and
  // which account asked.
  ASSERT_TRUE(a.Expect("HMSG svc 1 "));
  std::string reply = a.Until(" ");
  ASSERT_EQ(reply.rfind("_R_.", 0), 0u) << reply;
  ASSERT_TRUE(a.Expect("Nats-Request-Info: {\"acc\":\"B\"}\r\n\r\n?\r\n"));
  // Two answers: a singleton's route carries the first only.
  a.Send("PUB " + reply + " 3\r\none\r\nPUB " + reply + " 3\r\ntwo\r\nPING\r\n");
  ASSERT_TRUE(a.Expect("PONG\r\n"));
  ASSERT_TRUE(b.Expect("MSG inbox 7 3\r\none\r\n"));
  b.Send("PING\r\n");
  ASSERT_TRUE(b.Expect("PONG\r\n"));
  EXPECT_EQ(b.buf().find("two"), std::string::npos) << b.buf();
}

TEST_F(ServerTest, ImportLoopsAreBounded) {
  // A and B import each other's "loop" subject: a message would bounce
  // forever; it crosses a bounded number of imports and the server goes on.
  Config cfg;
  AccountConfig a, b;
  a.name = "A";
  b.name = "B";
  a.stream_exports = {{"loop", {}}};
  b.stream_exports = {{"loop", {}}};
  a.stream_imports = {{"B", "loop", "", ""}};
  b.stream_imports = {{"A", "loop", "", ""}};
  cfg.accounts = {a, b};
  User ua;
  ua.name = ua.password = "a";
  ua.account = "A";
  cfg.users = {ua};
  Start(cfg);
  Raw c(port());
  Login(c, "a");
  c.Send("SUB loop 1\r\nPUB loop 1\r\nx\r\nPING\r\n");
  std::string got = c.Until("PONG\r\n");
  size_t n = 0;
  for (size_t pos = 0; (pos = got.find("MSG loop 1 1", pos)) != std::string::npos; ++pos) ++n;
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, 8u);
}

}  // namespace
}  // namespace fjord::server
