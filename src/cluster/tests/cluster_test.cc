// The route protocol end to end: a real server with its cluster port, and a
// test that plays the other server over a raw socket, byte for byte as
// nats-server speaks it.
#include "cluster/cluster.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "server/server.h"
#include "server/tests/raw.h"

namespace fjord::cluster {
namespace {

using server::Raw;

constexpr const char* kPeerInfo =
    "INFO {\"server_id\":\"NPEER\",\"server_name\":\"peer\",\"version\":\"2.9.10\",\"host\":\"127.0.0.1\","
    "\"port\":1,\"headers\":true,\"cluster\":\"T\",\"connect_urls\":[\"127.0.0.1:9999\"],\"lnoc\":true}\r\n";

class ClusterTest : public ::testing::Test {
 protected:
  void Start(server::Config cfg = {}) {
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.io_threads = 2;
    cfg.server_name = "me";
    cfg.cluster.enabled = true;
    cfg.cluster.name = "T";
    cfg.cluster.host = "127.0.0.1";
    cfg.cluster.port = 0;
    server_ = std::make_unique<server::Server>(cfg);
    cluster_ = std::make_unique<Cluster>(server_.get());
    ASSERT_EQ(server_->Start(), "");
    ASSERT_EQ(cluster_->Start(), "");
  }
  void TearDown() override {
    if (cluster_) cluster_->Shutdown();
    if (server_) server_->Shutdown();
  }
  std::unique_ptr<Raw> Client() {
    auto c = std::make_unique<Raw>(server_->bound_port());
    EXPECT_TRUE(c->Expect("\r\n"));
    c->Send("CONNECT {\"verbose\":false,\"headers\":true,\"protocol\":1}\r\nPING\r\n");
    EXPECT_TRUE(c->Expect("PONG\r\n"));
    return c;
  }
  // A peer route that has exchanged CONNECT and INFO.
  std::unique_ptr<Raw> Peer(const std::string& connect = "{\"cluster\":\"T\",\"headers\":true}") {
    auto p = std::make_unique<Raw>(cluster_->bound_port());
    EXPECT_TRUE(p->Expect("INFO {"));
    EXPECT_TRUE(p->Expect("\r\n"));
    p->Send("CONNECT " + connect + "\r\n" + kPeerInfo);
    return p;
  }
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(ClusterTest, InterestAndMessagesCrossTheRoute) {
  Start();
  auto c = Client();
  c->Send("SUB foo 1\r\nSUB q.* grp 2\r\nPING\r\n");
  ASSERT_TRUE(c->Expect("PONG\r\n"));
  auto p = Peer();
  // Our interest, once per subject; the queue group with its weight.
  ASSERT_TRUE(p->Expect("RS+ $G foo\r\n"));
  // A message the peer routes reaches the local subscriber.
  p->Send("RMSG $G foo reply.1 5\r\nhello\r\n");
  ASSERT_TRUE(c->Expect("MSG foo 1 reply.1 5\r\nhello\r\n"));
  // With headers.
  p->Send("HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
  ASSERT_TRUE(c->Expect("HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"));
  // The peer's interest: a local publish crosses once, even with two
  // matching subscriptions there.
  p->Send("RS+ $G bar\r\nRS+ $G bar.>\r\nRS+ $G >\r\nPING\r\n");
  ASSERT_TRUE(p->Expect("PONG\r\n"));
  p->buf().clear();
  c->Send("PUB bar 2\r\nhi\r\nPING\r\n");
  ASSERT_TRUE(c->Expect("PONG\r\n"));
  ASSERT_TRUE(p->Expect("RMSG $G bar 2\r\nhi\r\n"));
  c->Send("PUB zzz 2\r\nyo\r\nPING\r\n");
  ASSERT_TRUE(p->Expect("RMSG $G zzz 2\r\nyo\r\n"));
  EXPECT_EQ(p->buf().find("RMSG $G bar"), std::string::npos) << p->buf();
  // Unsubscribing tells the peer.
  c->Send("UNSUB 1\r\nPING\r\n");
  ASSERT_TRUE(p->Expect("RS- $G foo\r\n"));
}

TEST_F(ClusterTest, QueueGroupsAcrossTheRoute) {
  Start();
  auto c = Client();
  auto p = Peer();
  p->Send("RS+ $G work grp 3\r\nPING\r\n");
  ASSERT_TRUE(p->Expect("PONG\r\n"));
  // No member here: every message goes to the peer, naming the group.
  c->Send("PUB work r.1 1\r\na\r\nPUB work 1\r\nb\r\nPING\r\n");
  ASSERT_TRUE(c->Expect("PONG\r\n"));
  ASSERT_TRUE(p->Expect("RMSG $G work + r.1 grp 1\r\na\r\n"));
  ASSERT_TRUE(p->Expect("RMSG $G work | grp 1\r\nb\r\n"));
  // A local member now: the peer learns the group's weight here.
  c->Send("SUB work grp 7\r\nPING\r\n");
  ASSERT_TRUE(p->Expect("RS+ $G work grp 1\r\n"));
  // A routed message for the group goes to the local member; one without
  // the group named does not (the sender picked another server for it).
  p->Send("RMSG $G work | grp 1\r\nx\r\nRMSG $G work 1\r\ny\r\nRMSG $G work | other 1\r\nz\r\n");
  ASSERT_TRUE(c->Expect("MSG work 7 1\r\nx\r\n"));
  c->Send("PING\r\n");
  std::string rest = c->Until("PONG\r\n");
  EXPECT_EQ(rest.find("MSG work"), std::string::npos) << rest;
  // Weighted: 3 members there, 1 here; over 400 messages both get some.
  int local = 0, remote = 0;
  p->buf().clear();
  c->buf().clear();
  for (int i = 0; i < 400; ++i) c->Send("PUB work 1\r\nm\r\n");
  c->Send("PING\r\n");
  std::string got_local = c->Until("PONG\r\n");
  for (size_t pos = 0; (pos = got_local.find("MSG work 7 1", pos)) != std::string::npos; ++pos) ++local;
  while (local + remote < 400 && p->Expect("RMSG $G work | grp 1\r\nm\r\n")) ++remote;
  EXPECT_EQ(local + remote, 400);
  EXPECT_GT(remote, 200);  // 3 of 4 expected: about 300
  EXPECT_LT(remote, 380);
}

TEST_F(ClusterTest, ClientsLearnTheOtherServersUrls) {
  Start();
  auto early = Client();
  auto p = Peer();
  // The connected client gets an INFO update; a new one sees it at once.
  ASSERT_TRUE(early->Expect("127.0.0.1:9999"));
  Raw late(server_->bound_port());
  ASSERT_TRUE(late.Expect("\"connect_urls\":["));
  ASSERT_TRUE(late.Expect("127.0.0.1:9999"));
}

TEST_F(ClusterTest, WrongClusterNameIsRejected) {
  Start();
  auto p = Peer("{\"cluster\":\"OTHER\"}");
  ASSERT_TRUE(p->Expect("-ERR 'Rejecting connection, cluster name \"OTHER\" does not match \"T\"'"));
  EXPECT_TRUE(p->Closed());
  auto c = Client();  // the server keeps serving
}

TEST_F(ClusterTest, RouteCredentialsAreChecked) {
  server::Config cfg;
  cfg.cluster.user = "ruser";
  cfg.cluster.password = "rpass";
  Start(cfg);
  auto bad = Peer("{\"cluster\":\"T\",\"user\":\"ruser\",\"pass\":\"nope\"}");
  ASSERT_TRUE(bad->Expect("-ERR 'Authorization Violation'"));
  EXPECT_TRUE(bad->Closed());
  auto good = Peer("{\"cluster\":\"T\",\"user\":\"ruser\",\"pass\":\"rpass\"}");
  good->Send("PING\r\n");
  ASSERT_TRUE(good->Expect("PONG\r\n"));
}

TEST_F(ClusterTest, MalformedRouteProtocolClosesOnlyThatRoute) {
  Start();
  auto c = Client();
  c->Send("SUB foo 1\r\nPING\r\n");
  ASSERT_TRUE(c->Expect("PONG\r\n"));
  auto p = Peer();
  ASSERT_TRUE(p->Expect("RS+ $G foo\r\n"));
  p->Send("RMSG $G foo notanumber\r\n");
  ASSERT_TRUE(p->Expect("-ERR"));
  EXPECT_TRUE(p->Closed());
  // A client on the cluster port, and plain garbage, are turned away too.
  Raw client_on_route_port(cluster_->bound_port());
  ASSERT_TRUE(client_on_route_port.Expect("INFO {"));
  client_on_route_port.Send("CONNECT {\"lang\":\"go\",\"version\":\"1\"}\r\n");
  ASSERT_TRUE(client_on_route_port.Expect("-ERR 'attempted to connect to route port'"));
  Raw garbage(cluster_->bound_port());
  garbage.Send("HELLO WORLD\r\n");
  EXPECT_TRUE(garbage.Closed());
  // Local traffic goes on.
  c->Send("PUB foo 2\r\nok\r\n");
  ASSERT_TRUE(c->Expect("MSG foo 1 2\r\nok\r\n"));
}

TEST_F(ClusterTest, DuplicateRouteFromTheSameServerIsClosed) {
  Start();
  auto p1 = Peer();
  p1->Send("PING\r\n");
  ASSERT_TRUE(p1->Expect("PONG\r\n"));
  auto p2 = Peer();
  EXPECT_TRUE(p2->Closed());
  p1->Send("PING\r\n");
  ASSERT_TRUE(p1->Expect("PONG\r\n"));
  EXPECT_EQ(cluster_->Routes(false).size(), 1u);
}

TEST_F(ClusterTest, PeerInterestGoesWithTheRoute) {
  Start();
  auto c = Client();
  {
    auto p = Peer();
    p->Send("RS+ $G foo\r\nPING\r\n");
    ASSERT_TRUE(p->Expect("PONG\r\n"));
    c->Send("CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n"
            "SUB _INBOX.1 9\r\nPUB foo _INBOX.1 0\r\n\r\nPING\r\n");
    ASSERT_TRUE(c->Expect("PONG\r\n"));
    EXPECT_EQ(c->buf().find("503"), std::string::npos);  // the peer counts as a responder
  }
  // Closed: its interest is gone, so no responders now.
  for (int i = 0; i < 200 && !cluster_->Routes(false).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  c->Send("PUB foo _INBOX.1 0\r\n\r\n");
  ASSERT_TRUE(c->Expect("HMSG _INBOX.1 9 16 16\r\nNATS/1.0 503\r\n\r\n"));
}

TEST_F(ClusterTest, ImportAndExportPermissionsFilterInterest) {
  server::Config cfg;
  cfg.cluster.has_permissions = true;
  cfg.cluster.permissions.publish.allow = {"foo.>", "open.>"};  // import
  cfg.cluster.permissions.subscribe.deny = {"secret.>"};        // export
  Start(cfg);
  {
    // As nats-server, the route INFO carries them.
    Raw r(cluster_->bound_port());
    ASSERT_TRUE(r.Expect("\"import\":{\"allow\":[\"foo.>\",\"open.>\"]},\"export\":{\"deny\":[\"secret.>\"]}"));
  }
  auto c = Client();
  c->Send("SUB foo.x 1\r\nSUB bar 2\r\nPING\r\n");
  ASSERT_TRUE(c->Expect("PONG\r\n"));
  auto p = Peer();
  // Only what we may import is announced, on registering and later.
  p->Send("PING\r\n");
  std::string first = p->Until("PONG\r\n");
  EXPECT_NE(first.find("RS+ $G foo.x\r\n"), std::string::npos) << first;
  EXPECT_EQ(first.find("RS+ $G bar"), std::string::npos) << first;
  c->Send("SUB bar.y 3\r\nSUB foo.y 4\r\nUNSUB 2\r\nPING\r\n");
  ASSERT_TRUE(c->Expect("PONG\r\n"));
  ASSERT_TRUE(p->Expect("RS+ $G foo.y\r\n"));
  p->Send("PING\r\n");
  std::string later = p->Until("PONG\r\n");
  EXPECT_EQ(later.find("bar"), std::string::npos) << later;
  // The peer's interest in what we may not export is ignored.
  p->Send("RS+ $G secret.x\r\nRS+ $G open.x\r\nPING\r\n");
  ASSERT_TRUE(p->Expect("PONG\r\n"));
  p->buf().clear();
  c->Send("PUB secret.x 1\r\na\r\nPUB open.x 1\r\nb\r\nPING\r\n");
  ASSERT_TRUE(c->Expect("PONG\r\n"));
  ASSERT_TRUE(p->Expect("RMSG $G open.x 1\r\nb\r\n"));
  EXPECT_EQ(p->buf().find("secret"), std::string::npos) << p->buf();
  EXPECT_EQ(cluster_->Routes(true).at(0).subs.size(), 1u);
}

}  // namespace
}  // namespace fjord::cluster
