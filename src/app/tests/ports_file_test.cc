#include "app/ports_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace fjord::app {
namespace {

TEST(PortsFile, NamedAfterExecutableAndPid) {
  EXPECT_EQ(PortsFilePath("/tmp/d", "/usr/sbin/fjord-server", 42), "/tmp/d/fjord-server_42.ports");
  EXPECT_EQ(PortsFilePath(".", "fjord-server", 7), "./fjord-server_7.ports");
}

TEST(PortsFile, JsonLeavesOutEmptyLists) {
  Ports p;
  p.nats = {"nats://127.0.0.1:4222"};
  p.monitoring = {"http://127.0.0.1:8222"};
  EXPECT_EQ(PortsJson(p),
            R"({"nats":["nats://127.0.0.1:4222"],"monitoring":["http://127.0.0.1:8222"]})");
  p.cluster = {"nats://127.0.0.1:6222"};
  p.websocket = {"ws://127.0.0.1:8080"};
  p.leafnodes = {"nats://127.0.0.1:7422"};
  EXPECT_EQ(PortsJson(p),
            R"({"nats":["nats://127.0.0.1:4222"],"monitoring":["http://127.0.0.1:8222"],)"
            R"("cluster":["nats://127.0.0.1:6222"],"websocket":["ws://127.0.0.1:8080"],)"
            R"("leafnodes":["nats://127.0.0.1:7422"]})");
}

TEST(PortsFile, SpecificHostIsListedAsIs) {
  EXPECT_EQ(ListenUrls("nats", "127.0.0.1", 4222), std::vector<std::string>{"nats://127.0.0.1:4222"});
  EXPECT_EQ(ListenUrls("nats", "::1", 4222), std::vector<std::string>{"nats://[::1]:4222"});
}

TEST(PortsFile, WildcardHostListsLoopbackAmongInterfaceAddresses) {
  auto urls = ListenUrls("nats", "0.0.0.0", 5000);
  ASSERT_FALSE(urls.empty());
  EXPECT_NE(std::find(urls.begin(), urls.end(), "nats://127.0.0.1:5000"), urls.end());
  for (const auto& u : urls) {
    EXPECT_EQ(u.rfind("nats://", 0), 0u) << u;
    EXPECT_EQ(u.substr(u.size() - 5), ":5000") << u;
  }
}

TEST(PortsFile, WritesAtomicallyAndReportsErrors) {
  char dir[] = "/tmp/ports_file_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/x_1.ports";
  Ports p;
  p.nats = {"nats://127.0.0.1:1"};
  EXPECT_EQ(WritePortsFile(path, p), "");
  std::stringstream body;
  body << std::ifstream(path).rdbuf();
  EXPECT_EQ(body.str(), R"({"nats":["nats://127.0.0.1:1"]})");
  EXPECT_FALSE(std::ifstream(path + ".tmp").good());
  std::remove(path.c_str());
  rmdir(dir);
  auto err = WritePortsFile("/nonexistent-dir/x_1.ports", p);
  EXPECT_NE(err.find("/nonexistent-dir/x_1.ports"), std::string::npos) << err;
}

}  // namespace
}  // namespace fjord::app
