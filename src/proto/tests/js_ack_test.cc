#include "proto/js_ack.h"

#include <gtest/gtest.h>

namespace fjord::proto {
namespace {

TEST(JsAck, V1) {
  auto a = ParseJsAck("$JS.ACK.ORDERS.C1.2.10.7.1795666457363468328.3");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->stream, "ORDERS");
  EXPECT_EQ(a->consumer, "C1");
  EXPECT_EQ(a->delivered, 2u);
  EXPECT_EQ(a->stream_seq, 10u);
  EXPECT_EQ(a->consumer_seq, 7u);
  EXPECT_EQ(a->ts, 1795666457363468328);
  EXPECT_EQ(a->pending, 3u);
}

// 2.10's form: a domain ("_" for none) and an account hash after ACK, and
// maybe a random token at the end.
TEST(JsAck, V2WithAndWithoutTheRandomToken) {
  auto a = ParseJsAck("$JS.ACK.hub.ACCHASH.ORDERS.src1.2.43.8.1733500000000000001.0.rAnd");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->stream, "ORDERS");
  EXPECT_EQ(a->consumer, "src1");
  EXPECT_EQ(a->stream_seq, 43u);
  EXPECT_EQ(a->consumer_seq, 8u);
  EXPECT_EQ(a->pending, 0u);
  auto b = ParseJsAck("$JS.ACK._.ACCHASH.ORDERS.src1.1.44.9.1733500000000000002.0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->stream_seq, 44u);
  EXPECT_EQ(b->ts, 1733500000000000002);
}

TEST(JsAck, OtherSubjectsAreRefused) {
  EXPECT_FALSE(ParseJsAck(""));
  EXPECT_FALSE(ParseJsAck("_INBOX.abc"));
  EXPECT_FALSE(ParseJsAck("_INBOX.a.b.c.d.e.f.g.h"));
  EXPECT_FALSE(ParseJsAck("$JS.FC.ORDERS.src1.abcd"));
  EXPECT_FALSE(ParseJsAck("$JS.ACK.S.C.x.1.1.1.1"));
  EXPECT_FALSE(ParseJsAck("$JS.ACK.S.C.1..1.1.1"));
  // Ten or thirteen tokens are neither form.
  EXPECT_FALSE(ParseJsAck("$JS.ACK.d.S.C.1.1.1.1.1"));
  EXPECT_FALSE(ParseJsAck("$JS.ACK.d.h.S.C.1.1.1.1.1.r.x"));
}

}  // namespace
}  // namespace fjord::proto
