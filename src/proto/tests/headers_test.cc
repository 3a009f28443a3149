#include "proto/headers.h"

#include <gtest/gtest.h>

namespace fjord::proto {
namespace {

TEST(Headers, GetFindsTheFirstExactKey) {
  std::string h = "NATS/1.0\r\nA: 1\r\nNats-TTL: 5s\r\nA: 2\r\n\r\n";
  bool found = false;
  EXPECT_EQ(GetHeader(h, "A", &found), "1");
  EXPECT_TRUE(found);
  EXPECT_EQ(GetHeader(h, "Nats-TTL"), "5s");
  EXPECT_EQ(GetHeader(h, "nats-ttl", &found), "");
  EXPECT_FALSE(found);
}

TEST(Headers, RemoveDropsEveryLineOfThatKeyOnly) {
  std::string h = "NATS/1.0\r\nNats-TTL: 1\r\nNats-TTL-X: y\r\nK: v\r\nNats-TTL: 2\r\n\r\n";
  EXPECT_EQ(RemoveHeader(h, "Nats-TTL"), "NATS/1.0\r\nNats-TTL-X: y\r\nK: v\r\n\r\n");
  EXPECT_EQ(RemoveHeader(h, "Absent"), h);
  // The status line is never taken for a header.
  EXPECT_EQ(RemoveHeader("NATS/1.0\r\n\r\n", "NATS/1.0"), "NATS/1.0\r\n\r\n");
  // Removing then adding replaces a value.
  EXPECT_EQ(AddHeaders(RemoveHeader(h, "K"), {{"K", "w"}}),
            "NATS/1.0\r\nNats-TTL: 1\r\nNats-TTL-X: y\r\nNats-TTL: 2\r\nK: w\r\n\r\n");
}

TEST(Headers, RemoveWithPrefixDropsEveryMatchingKey) {
  std::string h = "NATS/1.0\r\nNats-Schedule: @at x\r\nNats-Schedule-TTL: 5s\r\nK: Nats-Schedule-\r\n"
                  "Nats-Schedules: z\r\n\r\n";
  EXPECT_EQ(RemoveHeadersWithPrefix(h, "Nats-Schedule-"),
            "NATS/1.0\r\nNats-Schedule: @at x\r\nK: Nats-Schedule-\r\nNats-Schedules: z\r\n\r\n");
  EXPECT_EQ(RemoveHeadersWithPrefix(h, "Nats-Schedule"), "NATS/1.0\r\nK: Nats-Schedule-\r\n\r\n");
  EXPECT_EQ(RemoveHeadersWithPrefix("NATS/1.0 408 Timeout\r\n\r\n", "NATS"), "NATS/1.0 408 Timeout\r\n\r\n");
}

}  // namespace
}  // namespace fjord::proto
