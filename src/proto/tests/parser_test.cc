#include "proto/parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace fjord::proto {
namespace {

struct Parsed {
  std::shared_ptr<std::string> buf;  // the views in cmd point into it
  Status st;
  Command cmd;
  size_t used = 0;
};

Parsed Parse(const std::string& s, Limits lim = {}) {
  Parsed p;
  p.buf = std::make_shared<std::string>(s);
  p.st = Next(p.buf->data(), p.buf->size(), lim, &p.cmd, &p.used);
  return p;
}

TEST(Parser, Pub) {
  std::string in = "PUB foo.bar 5\r\nhello\r\n";
  auto p = Parse(in);
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, Op::kPub);
  EXPECT_EQ(p.cmd.subject, "foo.bar");
  EXPECT_EQ(p.cmd.reply, "");
  EXPECT_EQ(p.cmd.payload, "hello");
  EXPECT_EQ(p.used, in.size());
}

TEST(Parser, PubWithReplyTabsAndLowercase) {
  auto p = Parse("pub\tfoo\t\t_INBOX.1  2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.subject, "foo");
  EXPECT_EQ(p.cmd.reply, "_INBOX.1");
  EXPECT_EQ(p.cmd.payload, "hi");
}

TEST(Parser, BinaryPayloadWithCRLFInside) {
  std::string body("a\r\nb\0c", 6);
  std::string in = "PUB x 6\r\n" + body + "\r\n";
  auto p = Parse(in);
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.payload, body);
}

TEST(Parser, IncompleteAtEveryCut) {
  std::string in = "HPUB h.a rep.ly 12 17\r\nNATS/1.0\r\n\r\nhello\r\n";
  for (size_t cut = 0; cut < in.size(); ++cut) {
    auto p = Parse(in.substr(0, cut));
    EXPECT_EQ(p.st, Status::kIncomplete) << "cut " << cut;
  }
  auto p = Parse(in);
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, Op::kHPub);
  EXPECT_EQ(p.cmd.hdr_len, 12u);
  EXPECT_EQ(p.cmd.payload.substr(12), "hello");
}

TEST(Parser, PayloadNotTerminated) {
  EXPECT_EQ(Parse("PUB foo 1\r\nabc\r\n").st, Status::kUnknownOp);
}

TEST(Parser, BadArgsCloseSilently) {
  EXPECT_EQ(Parse("PUB foo\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("PUB foo bar\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("PUB a b c d\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("SUB foo 1 2 3\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("SUB a\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("HPUB a 5 3\r\n").st, Status::kBadArgs);
}

TEST(Parser, UnknownOps) {
  EXPECT_EQ(Parse("XYZ\r\n").st, Status::kUnknownOp);
  EXPECT_EQ(Parse("MSG foo 1 1\r\nx\r\n").st, Status::kUnknownOp);
  EXPECT_EQ(Parse("UNSUB\r\n").st, Status::kUnknownOp);
}

TEST(Parser, Limits) {
  Limits lim;
  lim.max_payload = 100;
  EXPECT_EQ(Parse("PUB ok.1 101\r\n", lim).st, Status::kMaxPayload);
  EXPECT_EQ(Parse("PUB ok.1 100\r\n", lim).st, Status::kIncomplete);
  std::string long_line = "PUB " + std::string(5000, 'a') + " 1\r\nx\r\n";
  EXPECT_EQ(Parse(long_line).st, Status::kControlLine);
  // Rejected before the newline arrives.
  EXPECT_EQ(Parse("PUB " + std::string(5000, 'a')).st, Status::kControlLine);
}

TEST(Parser, SubUnsubPingConnect) {
  auto p = Parse("SUB foo.* q1 7\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.queue, "q1");
  EXPECT_EQ(p.cmd.sid, "7");
  p = Parse("UNSUB 7 3\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.max_msgs, 3);
  EXPECT_EQ(Parse("PING x\r\n").cmd.op, Op::kPing);
  EXPECT_EQ(Parse("PONG\n").cmd.op, Op::kPong);
  p = Parse("CONNECT {\"verbose\":false}\r\n");
  EXPECT_EQ(p.cmd.op, Op::kConnect);
  EXPECT_EQ(p.cmd.json, "{\"verbose\":false}");
}

TEST(Subjects, Validity) {
  EXPECT_TRUE(ValidSubscribeSubject("foo.*.>"));
  EXPECT_TRUE(ValidSubscribeSubject("foo*.bar"));
  EXPECT_FALSE(ValidSubscribeSubject("foo..bar"));
  EXPECT_FALSE(ValidSubscribeSubject(".foo"));
  EXPECT_FALSE(ValidSubscribeSubject("foo.>.bar"));
  EXPECT_FALSE(ValidLiteralSubject("foo.*"));
  EXPECT_TRUE(ValidLiteralSubject("foo.bar"));
}

TEST(Subjects, Matching) {
  EXPECT_TRUE(SubjectMatches("orders.oslo.created", "orders.>"));
  EXPECT_TRUE(SubjectMatches("orders.oslo.created", "orders.*.created"));
  EXPECT_FALSE(SubjectMatches("orders", "orders.>"));
  EXPECT_FALSE(SubjectMatches("orders.oslo", "orders.*.created"));
  EXPECT_TRUE(SubjectMatches("a", ""));
  EXPECT_TRUE(SubjectsOverlap("orders.*", "orders.oslo"));
  EXPECT_TRUE(SubjectsOverlap("a.>", "*.b.c"));
  EXPECT_FALSE(SubjectsOverlap("a.b", "a.c"));
  EXPECT_FALSE(SubjectsOverlap("a.*", "a.b.c"));
  EXPECT_TRUE(SubjectIsSubsetOf("a.b", "a.*"));
  EXPECT_TRUE(SubjectIsSubsetOf("a.*", "a.>"));
  EXPECT_FALSE(SubjectIsSubsetOf("a.>", "a.*"));
}

}  // namespace
}  // namespace fjord::proto
