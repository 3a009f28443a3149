#include "proto/route_parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace fjord::proto {
namespace {

struct Parsed {
  std::shared_ptr<std::string> buf;  // the views in cmd point into it
  Status st;
  RouteCommand cmd;
  size_t used = 0;
};

Parsed Parse(const std::string& s, Limits lim = {}) {
  Parsed p;
  p.buf = std::make_shared<std::string>(s);
  p.st = NextRoute(p.buf->data(), p.buf->size(), lim, &p.cmd, &p.used);
  return p;
}

std::vector<std::string> Queues(std::string_view queues) {
  std::vector<std::string> out;
  ForEachQueue(queues, [&](std::string_view q) { out.emplace_back(q); });
  return out;
}

// Everything a command carries, for comparing two parses.
std::string Digest(const RouteCommand& c) {
  std::string d = std::to_string(int(c.op));
  for (auto v : {c.origin, c.account, c.subject, c.queue, c.reply, c.queues, c.json, c.err,
                 c.payload}) {
    d += '|';
    d.append(v);
  }
  d += '|' + std::to_string(c.weight) + '|' + std::to_string(c.hdr_len) + '|' +
       std::to_string(c.has_headers);
  return d;
}

// Feeds `in` one byte at a time, as a slow connection would: every proper
// prefix must be kIncomplete, and the whole must parse as it does at once.
void ExpectSplitConsistent(const std::string& in, Limits lim = {}) {
  for (size_t cut = 0; cut < in.size(); ++cut)
    EXPECT_EQ(Parse(in.substr(0, cut), lim).st, Status::kIncomplete) << "cut " << cut << " of " << in;
  auto whole = Parse(in, lim);
  ASSERT_EQ(whole.st, Status::kOk) << in;
  EXPECT_EQ(whole.used, in.size()) << in;
  // Trailing bytes of the next command change nothing.
  auto more = Parse(in + "PING\r\n", lim);
  ASSERT_EQ(more.st, Status::kOk);
  EXPECT_EQ(more.used, in.size());
  EXPECT_EQ(Digest(more.cmd), Digest(whole.cmd));
}

TEST(RouteParser, InfoAndConnect) {
  auto p = Parse("INFO {\"server_id\":\"S1\",\"lnoc\":true}  \r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kInfo);
  EXPECT_EQ(p.cmd.json, "{\"server_id\":\"S1\",\"lnoc\":true}");
  p = Parse("CONNECT\t {\"verbose\":false,\"name\":\"b\"}\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kConnect);
  EXPECT_EQ(p.cmd.json, "{\"verbose\":false,\"name\":\"b\"}");
  p = Parse("INFO\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.json, "");
}

TEST(RouteParser, PingPongOkErr) {
  auto p = Parse("PING\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kPing);
  EXPECT_EQ(p.used, 6u);
  EXPECT_EQ(Parse("PONG\n").cmd.op, RouteOp::kPong);
  EXPECT_EQ(Parse("+OK\r\n").cmd.op, RouteOp::kOk);
  p = Parse("-ERR 'Authorization Violation'\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kErr);
  EXPECT_EQ(p.cmd.err, "Authorization Violation");
  // Missing quotes are tolerated.
  EXPECT_EQ(Parse("-ERR Stale Connection\r\n").cmd.err, "Stale Connection");
  EXPECT_EQ(Parse("-ERR 'unterminated\r\n").cmd.err, "unterminated");
  EXPECT_EQ(Parse("-ERR\r\n").cmd.err, "");
  EXPECT_EQ(Parse("-ERR '\r\n").cmd.err, "");
}

TEST(RouteParser, CaseInsensitiveOps) {
  EXPECT_EQ(Parse("ping\r\n").cmd.op, RouteOp::kPing);
  EXPECT_EQ(Parse("PoNg\r\n").cmd.op, RouteOp::kPong);
  EXPECT_EQ(Parse("info {}\r\n").cmd.op, RouteOp::kInfo);
  EXPECT_EQ(Parse("connect {}\r\n").cmd.op, RouteOp::kConnect);
  EXPECT_EQ(Parse("+ok\r\n").cmd.op, RouteOp::kOk);
  EXPECT_EQ(Parse("-err 'x'\r\n").cmd.op, RouteOp::kErr);
  EXPECT_EQ(Parse("rs+ A foo\r\n").cmd.op, RouteOp::kSub);
  EXPECT_EQ(Parse("Rs- A foo\r\n").cmd.op, RouteOp::kUnsub);
  EXPECT_EQ(Parse("ls+ o A foo\r\n").cmd.op, RouteOp::kSub);
  EXPECT_EQ(Parse("lS- A foo\r\n").cmd.op, RouteOp::kUnsub);
  EXPECT_EQ(Parse("rmsg A foo 0\r\n\r\n").cmd.op, RouteOp::kMsg);
  EXPECT_EQ(Parse("hmsg A foo 0 0\r\n\r\n").cmd.op, RouteOp::kMsg);
  EXPECT_EQ(Parse("lmsg o A foo 0 0\r\n\r\n").cmd.op, RouteOp::kMsg);
}

TEST(RouteParser, RemoteSub) {
  auto p = Parse("RS+ $G foo.>\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kSub);
  EXPECT_EQ(p.cmd.origin, "");
  EXPECT_EQ(p.cmd.account, "$G");
  EXPECT_EQ(p.cmd.subject, "foo.>");
  EXPECT_EQ(p.cmd.queue, "");
  EXPECT_EQ(p.cmd.weight, 0);
  p = Parse("RS+\tACC  orders.*\t workers 3 \r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.account, "ACC");
  EXPECT_EQ(p.cmd.subject, "orders.*");
  EXPECT_EQ(p.cmd.queue, "workers");
  EXPECT_EQ(p.cmd.weight, 3);
  p = Parse("RS+ A s q 2147483647\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.weight, 2147483647);
}

TEST(RouteParser, RemoteSubBadArgs) {
  EXPECT_EQ(Parse("RS+\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A s q\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A s q 1 x\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A s q -1\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A s q 0\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A s q abc\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A s q 1x\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A s q +1\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A s q 2147483648\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS+ A s q 99999999999999999999\r\n").st, Status::kBadArgs);
}

TEST(RouteParser, RemoteUnsub) {
  auto p = Parse("RS- $G foo.bar\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kUnsub);
  EXPECT_EQ(p.cmd.account, "$G");
  EXPECT_EQ(p.cmd.subject, "foo.bar");
  EXPECT_EQ(p.cmd.queue, "");
  p = Parse("RS- $G foo.bar q1\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.queue, "q1");
  EXPECT_EQ(Parse("RS- A\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS-\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RS- A s q 1\r\n").st, Status::kBadArgs);
}

TEST(RouteParser, LeafSub) {
  auto p = Parse("LS+ hub A foo.*\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kSub);
  EXPECT_EQ(p.cmd.origin, "hub");
  EXPECT_EQ(p.cmd.account, "A");
  EXPECT_EQ(p.cmd.subject, "foo.*");
  EXPECT_EQ(p.cmd.queue, "");
  p = Parse("LS+ hub A foo q 12\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.origin, "hub");
  EXPECT_EQ(p.cmd.queue, "q");
  EXPECT_EQ(p.cmd.weight, 12);
  EXPECT_EQ(Parse("LS+ A foo\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("LS+ hub A foo q\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("LS+ hub A foo q 0\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("LS+ hub A foo q -3\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("LS+ hub A foo q 1 x\r\n").st, Status::kBadArgs);
}

TEST(RouteParser, LeafUnsub) {
  // As nats-server 2.9 sends it: no origin.
  auto p = Parse("LS- A foo\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kUnsub);
  EXPECT_EQ(p.cmd.origin, "");
  EXPECT_EQ(p.cmd.account, "A");
  EXPECT_EQ(p.cmd.subject, "foo");
  EXPECT_EQ(p.cmd.queue, "");
  p = Parse("LS- A foo q\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.origin, "");
  EXPECT_EQ(p.cmd.account, "A");
  EXPECT_EQ(p.cmd.subject, "foo");
  EXPECT_EQ(p.cmd.queue, "q");
  // With an origin, only in the four-field form.
  p = Parse("LS- hub A foo q\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.origin, "hub");
  EXPECT_EQ(p.cmd.account, "A");
  EXPECT_EQ(p.cmd.subject, "foo");
  EXPECT_EQ(p.cmd.queue, "q");
  EXPECT_EQ(Parse("LS- A\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("LS- hub A foo q x\r\n").st, Status::kBadArgs);
}

TEST(RouteParser, RmsgPlain) {
  std::string in = "RMSG $G foo.bar 5\r\nhello\r\n";
  auto p = Parse(in);
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kMsg);
  EXPECT_EQ(p.cmd.origin, "");
  EXPECT_EQ(p.cmd.account, "$G");
  EXPECT_EQ(p.cmd.subject, "foo.bar");
  EXPECT_EQ(p.cmd.reply, "");
  EXPECT_EQ(p.cmd.queues, "");
  EXPECT_EQ(p.cmd.payload, "hello");
  EXPECT_EQ(p.cmd.hdr_len, 0u);
  EXPECT_FALSE(p.cmd.has_headers);
  EXPECT_EQ(p.used, in.size());
  // Views point into the buffer: zero copy.
  EXPECT_EQ(p.cmd.payload.data(), p.buf->data() + in.size() - 7);
}

TEST(RouteParser, RmsgReply) {
  auto p = Parse("RMSG $G foo _INBOX.x 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "_INBOX.x");
  EXPECT_EQ(p.cmd.queues, "");
  EXPECT_EQ(p.cmd.payload, "hi");
}

TEST(RouteParser, RmsgQueuesWithReply) {
  auto p = Parse("RMSG $G foo + _INBOX.x q1 q2 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "_INBOX.x");
  EXPECT_EQ(p.cmd.queues, "q1 q2");
  EXPECT_EQ(Queues(p.cmd.queues), (std::vector<std::string>{"q1", "q2"}));
  EXPECT_EQ(p.cmd.payload, "hi");
  // "+ reply" and no queue names.
  p = Parse("RMSG $G foo + r 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "r");
  EXPECT_EQ(p.cmd.queues, "");
}

TEST(RouteParser, RmsgQueuesNoReply) {
  auto p = Parse("RMSG $G foo | q1 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "");
  EXPECT_EQ(p.cmd.queues, "q1");
  p = Parse("RMSG $G foo | q1  q2\tq3 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "");
  // The original spacing is kept; ForEachQueue splits on spaces and tabs.
  EXPECT_EQ(p.cmd.queues, "q1  q2\tq3");
  EXPECT_EQ(Queues(p.cmd.queues), (std::vector<std::string>{"q1", "q2", "q3"}));
}

TEST(RouteParser, RmsgManyQueues) {
  std::string line = "RMSG A s |";
  std::vector<std::string> want;
  for (int i = 0; i < 200; ++i) {
    want.push_back("q" + std::to_string(i));
    line += " " + want.back();
  }
  auto p = Parse(line + " 1\r\nx\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(Queues(p.cmd.queues), want);
}

TEST(RouteParser, RmsgBadArgs) {
  EXPECT_EQ(Parse("RMSG\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RMSG A\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RMSG A 5\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RMSG A s x\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RMSG A s -1\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RMSG A s r 5x\r\n").st, Status::kBadArgs);
  // Five or more fields need the '+' or '|' indicator.
  EXPECT_EQ(Parse("RMSG A s r q 1\r\nx\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RMSG A s ++ r q 1\r\nx\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RMSG A s + r q x\r\n").st, Status::kBadArgs);
}

TEST(RouteParser, HmsgArities) {
  // 4 fields: no reply.
  auto p = Parse("HMSG A foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kMsg);
  EXPECT_TRUE(p.cmd.has_headers);
  EXPECT_EQ(p.cmd.account, "A");
  EXPECT_EQ(p.cmd.subject, "foo");
  EXPECT_EQ(p.cmd.reply, "");
  EXPECT_EQ(p.cmd.hdr_len, 12u);
  EXPECT_EQ(p.cmd.payload.substr(0, 12), "NATS/1.0\r\n\r\n");
  EXPECT_EQ(p.cmd.payload.substr(12), "hello");
  // 5 fields: a reply.
  p = Parse("HMSG A foo rep 12 17\r\nNATS/1.0\r\n\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "rep");
  EXPECT_EQ(p.cmd.queues, "");
  // 6+ fields: the indicator forms.
  p = Parse("HMSG A foo + rep q1 q2 12 17\r\nNATS/1.0\r\n\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "rep");
  EXPECT_EQ(p.cmd.queues, "q1 q2");
  EXPECT_EQ(p.cmd.hdr_len, 12u);
  p = Parse("HMSG A foo + rep 12 17\r\nNATS/1.0\r\n\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "rep");
  EXPECT_EQ(p.cmd.queues, "");
  p = Parse("HMSG A foo | q1 12 17\r\nNATS/1.0\r\n\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "");
  EXPECT_EQ(p.cmd.queues, "q1");
  // A zero-length header block is still an HMSG.
  p = Parse("HMSG A foo 0 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_TRUE(p.cmd.has_headers);
  EXPECT_EQ(p.cmd.hdr_len, 0u);
}

TEST(RouteParser, HmsgBadArgs) {
  EXPECT_EQ(Parse("HMSG A foo 5\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("HMSG A foo 6 5\r\n").st, Status::kBadArgs);  // hdr > size
  EXPECT_EQ(Parse("HMSG A foo r 6 5\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("HMSG A foo | q 6 5\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("HMSG A foo x 5\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("HMSG A foo 1 -5\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("HMSG A foo r q 1 2\r\n").st, Status::kBadArgs);  // no indicator
  EXPECT_EQ(Parse("HMSG A foo * r q 1 2\r\n").st, Status::kBadArgs);
}

TEST(RouteParser, LmsgArities) {
  auto p = Parse("LMSG hub A foo 0 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kMsg);
  EXPECT_TRUE(p.cmd.has_headers);
  EXPECT_EQ(p.cmd.origin, "hub");
  EXPECT_EQ(p.cmd.account, "A");
  EXPECT_EQ(p.cmd.subject, "foo");
  EXPECT_EQ(p.cmd.reply, "");
  EXPECT_EQ(p.cmd.payload, "hi");
  p = Parse("LMSG hub A foo rep 0 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.origin, "hub");
  EXPECT_EQ(p.cmd.reply, "rep");
  p = Parse("LMSG hub A foo + rep q1 q2 0 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "rep");
  EXPECT_EQ(p.cmd.queues, "q1 q2");
  p = Parse("LMSG hub A foo | q1 q2 0 2\r\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "");
  EXPECT_EQ(p.cmd.queues, "q1 q2");
  EXPECT_EQ(Parse("LMSG A foo 0 2\r\n").st, Status::kBadArgs);  // no origin
  EXPECT_EQ(Parse("LMSG hub A foo 3 2\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("LMSG hub A foo r q 0 2\r\n").st, Status::kBadArgs);
}

TEST(RouteParser, PayloadNotTerminated) {
  EXPECT_EQ(Parse("RMSG A foo 1\r\nabc\r\n").st, Status::kBadArgs);
  EXPECT_EQ(Parse("RMSG A foo 1\r\na\rX").st, Status::kBadArgs);
  EXPECT_EQ(Parse("HMSG A foo 0 1\r\nab\r\n").st, Status::kBadArgs);
  // A bare LF after the payload is tolerated, as in the client parser.
  auto p = Parse("RMSG A foo 1\r\na\nPING\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.used, 16u);
}

TEST(RouteParser, BinaryPayloadWithCRLFInside) {
  std::string body("a\r\nb\0c", 6);
  auto p = Parse("RMSG A x 6\r\n" + body + "\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.payload, body);
}

TEST(RouteParser, BareLineFeedEndsLines) {
  auto p = Parse("RS+ A foo\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.used, 10u);
  p = Parse("RMSG A foo 2\nhi\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.payload, "hi");
}

TEST(RouteParser, SplitInputEveryOp) {
  for (const char* in : {
           "INFO {\"server_id\":\"S\"}\r\n",
           "CONNECT {\"name\":\"x\"}\r\n",
           "PING\r\n",
           "PONG\r\n",
           "+OK\r\n",
           "-ERR 'oops'\r\n",
           "RS+ A foo\r\n",
           "RS+ A foo q 2\r\n",
           "RS- A foo q\r\n",
           "LS+ hub A foo q 2\r\n",
           "LS- A foo\r\n",
           "LS- hub A foo q\r\n",
           "RMSG A foo 5\r\nhello\r\n",
           "RMSG A foo r 5\r\nhello\r\n",
           "RMSG A foo + r q1 q2 5\r\nhello\r\n",
           "RMSG A foo | q1 5\r\nhello\r\n",
           "rmsg A foo 0\r\n\r\n",
           "HMSG A foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
           "HMSG A foo r 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
           "HMSG A foo + r q 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
           "HMSG A foo | q1 q2 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
           "LMSG hub A foo + r q 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
       })
    ExpectSplitConsistent(in);
}

TEST(RouteParser, SequenceOfCommands) {
  std::string in =
      "PING\r\nRS+ A foo\r\nRMSG A foo | q 2\r\nhi\r\nHMSG A bar 0 1\r\nx\r\nLS- A foo\r\n";
  std::vector<RouteOp> ops;
  size_t start = 0;
  while (start < in.size()) {
    RouteCommand cmd;
    size_t used = 0;
    ASSERT_EQ(NextRoute(in.data() + start, in.size() - start, Limits{}, &cmd, &used), Status::kOk);
    ops.push_back(cmd.op);
    start += used;
  }
  EXPECT_EQ(ops, (std::vector<RouteOp>{RouteOp::kPing, RouteOp::kSub, RouteOp::kMsg,
                                       RouteOp::kMsg, RouteOp::kUnsub}));
}

TEST(RouteParser, MaxPayload) {
  Limits lim;
  lim.max_payload = 100;
  // Rejected as soon as the control line is complete, before the payload.
  EXPECT_EQ(Parse("RMSG A foo 101\r\n", lim).st, Status::kMaxPayload);
  EXPECT_EQ(Parse("RMSG A foo | q1 q2 101\r\n", lim).st, Status::kMaxPayload);
  EXPECT_EQ(Parse("HMSG A foo 10 101\r\n", lim).st, Status::kMaxPayload);
  EXPECT_EQ(Parse("LMSG o A foo + r q 0 101\r\n", lim).st, Status::kMaxPayload);
  EXPECT_EQ(Parse("RMSG A foo 100\r\n", lim).st, Status::kIncomplete);
  EXPECT_EQ(Parse("RMSG A foo 100\r\n" + std::string(100, 'x') + "\r\n", lim).st, Status::kOk);
}

TEST(RouteParser, MaxControlLine) {
  Limits lim;
  lim.max_control_line = 64;
  std::string queues;
  for (int i = 0; i < 20; ++i) queues += " queue" + std::to_string(i);
  EXPECT_EQ(Parse("RMSG A foo |" + queues + " 1\r\nx\r\n", lim).st, Status::kControlLine);
  // Rejected before the newline arrives.
  EXPECT_EQ(Parse("RMSG A foo |" + queues, lim).st, Status::kControlLine);
  EXPECT_EQ(Parse("RS+ A " + std::string(100, 'a'), lim).st, Status::kControlLine);
  // Exactly at the limit (the bytes after the op) is fine.
  std::string at = " A " + std::string(59, 's') + " 1";  // 64 bytes
  ASSERT_EQ(at.size(), 64u);
  EXPECT_EQ(Parse("RMSG" + at + "\r\nx\r\n", lim).st, Status::kOk);
  EXPECT_EQ(Parse("RMSG" + at + "x\r\nx\r\n", lim).st, Status::kControlLine);
  ExpectSplitConsistent("RMSG" + at + "\r\nx\r\n", lim);
}

TEST(RouteParser, UnknownOps) {
  EXPECT_EQ(Parse("XYZ\r\n").st, Status::kUnknownOp);
  EXPECT_EQ(Parse("\r\n").st, Status::kUnknownOp);
  EXPECT_EQ(Parse("MSG foo 1 1\r\nx\r\n").st, Status::kUnknownOp);
  EXPECT_EQ(Parse("PUB foo 1\r\nx\r\n").st, Status::kUnknownOp);
  EXPECT_EQ(Parse("SUB foo 1\r\n").st, Status::kUnknownOp);
  EXPECT_EQ(Parse("RS* A foo\r\n").st, Status::kUnknownOp);
  EXPECT_EQ(Parse("RS+A foo\r\n").st, Status::kUnknownOp);
  // An op longer than any known one is rejected before the line ends.
  EXPECT_EQ(Parse("CONNECTX").st, Status::kUnknownOp);
  EXPECT_EQ(Parse("CONNEC").st, Status::kIncomplete);
}

TEST(RouteParser, ForEachQueue) {
  EXPECT_TRUE(Queues("").empty());
  EXPECT_TRUE(Queues("   ").empty());
  EXPECT_EQ(Queues("a"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(Queues(" a  b\t\tc "), (std::vector<std::string>{"a", "b", "c"}));
}


Parsed ParseLeaf(const std::string& s, Limits lim = {}) {
  Parsed p;
  p.buf = std::make_shared<std::string>(s);
  p.st = NextLeaf(p.buf->data(), p.buf->size(), lim, &p.cmd, &p.used);
  return p;
}

// nats-server's leaf protocol: as the route's, without the account.
TEST(LeafParser, Subs) {
  auto p = ParseLeaf("LS+ foo.>\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kSub);
  EXPECT_EQ(p.cmd.subject, "foo.>");
  EXPECT_TRUE(p.cmd.account.empty());
  EXPECT_TRUE(p.cmd.queue.empty());
  p = ParseLeaf("LS+ foo bar 3\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.queue, "bar");
  EXPECT_EQ(p.cmd.weight, 3);
  p = ParseLeaf("LS- foo bar\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kUnsub);
  EXPECT_EQ(p.cmd.subject, "foo");
  EXPECT_EQ(p.cmd.queue, "bar");
  EXPECT_EQ(ParseLeaf("LS+ foo bar\r\n").st, Status::kBadArgs);     // queue without weight
  EXPECT_EQ(ParseLeaf("LS+ foo bar 0\r\n").st, Status::kBadArgs);   // weight must be positive
  EXPECT_EQ(ParseLeaf("LS+\r\n").st, Status::kBadArgs);
  EXPECT_EQ(ParseLeaf("LS- a b c\r\n").st, Status::kBadArgs);
  EXPECT_EQ(ParseLeaf("RS+ $G foo\r\n").st, Status::kUnknownOp);   // route ops are not leaf ops
}

TEST(LeafParser, Msgs) {
  auto p = ParseLeaf("LMSG foo 5\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.op, RouteOp::kMsg);
  EXPECT_EQ(p.cmd.subject, "foo");
  EXPECT_EQ(p.cmd.payload, "hello");
  EXPECT_FALSE(p.cmd.has_headers);
  p = ParseLeaf("LMSG foo _INBOX.1 5\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "_INBOX.1");
  p = ParseLeaf("LMSG foo + _INBOX.1 q1 q2 5\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_EQ(p.cmd.reply, "_INBOX.1");
  EXPECT_EQ(Queues(p.cmd.queues), (std::vector<std::string>{"q1", "q2"}));
  p = ParseLeaf("LMSG foo | q1 5\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_TRUE(p.cmd.reply.empty());
  EXPECT_EQ(Queues(p.cmd.queues), (std::vector<std::string>{"q1"}));
  p = ParseLeaf("HMSG foo r 12 17\r\nNATS/1.0\r\n\r\nhello\r\n");
  ASSERT_EQ(p.st, Status::kOk);
  EXPECT_TRUE(p.cmd.has_headers);
  EXPECT_EQ(p.cmd.hdr_len, 12u);
  EXPECT_EQ(p.cmd.reply, "r");
  EXPECT_EQ(p.cmd.payload.size(), 17u);
  EXPECT_EQ(ParseLeaf("LMSG foo 5\r\nhel").st, Status::kIncomplete);
  EXPECT_EQ(ParseLeaf("LMSG foo x 5\r\nhello\r\n").st, Status::kOk);  // "x" is the reply
  EXPECT_EQ(ParseLeaf("LMSG foo * q 5\r\nhello\r\n").st, Status::kBadArgs);
  EXPECT_EQ(ParseLeaf("HMSG foo 9 5\r\nhello\r\n").st, Status::kBadArgs);  // header > size
  Limits lim;
  lim.max_payload = 4;
  EXPECT_EQ(ParseLeaf("LMSG foo 5\r\nhello\r\n", lim).st, Status::kMaxPayload);
  p = ParseLeaf("PING\r\n");
  EXPECT_EQ(p.cmd.op, RouteOp::kPing);
  p = ParseLeaf("-ERR 'Loop detected'\r\n");
  EXPECT_EQ(p.cmd.op, RouteOp::kErr);
  EXPECT_EQ(p.cmd.err, "Loop detected");
}

}  // namespace
}  // namespace fjord::proto
