// Consumer engine on a memory stream, driven directly (no client
// connections): deliveries are captured by internal subscriptions.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "jetstream/consumer.h"
#include "jetstream/consumer_config.h"
#include "proto/headers.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream.h"
#include "server/server.h"

namespace fjord::jetstream {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

struct Delivery {
  std::string subject, reply, hdr, data;
};

class ConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StreamConfig cfg;
    cfg.name = "S";
    cfg.subjects = {"s.>"};
    cfg.storage = Storage::kMemory;
    ASSERT_FALSE(CheckStreamConfig(&cfg));
    ApiError err;
    stream_ = Stream::Open(&js_, cfg, NowNs(), false, &err);
    ASSERT_TRUE(stream_) << err.description;
    sub_ = srv_.global_account().SubscribeInternal("inbox.>", [this](const server::InternalMsg& m) {
      got_.push_back({std::string(m.subject), std::string(m.reply), std::string(m.hdr), std::string(m.data)});
    });
  }
  void TearDown() override {
    srv_.global_account().UnsubscribeInternal(sub_);
    for (auto& [name, c] : stream_->consumers()) c->Close();
    stream_->consumers().clear();
  }

  void Publish(const std::string& subject, const std::string& data) {
    ASSERT_TRUE(stream_->store().Append(subject, "", data, NowNs()).ok());
    for (auto& [name, c] : stream_->consumers()) c->Signal();
  }

  std::shared_ptr<Consumer> Add(const std::string& name, ConsumerConfig cfg, ApiError* err = nullptr) {
    ApiError e;
    SetConsumerDefaults(&cfg, name, stream_->config());
    auto c = Consumer::Create(stream_.get(), name, cfg, NowNs(), store::NewMemConsumerStore(), false, &e);
    if (err) *err = e;
    if (c) stream_->AddConsumer(name, c);
    return c;
  }

  static ConsumerConfig Explicit() {
    ConsumerConfig c;
    c.durable_name = "d";
    c.ack_policy = AckPolicy::kExplicit;
    return c;
  }

  std::vector<Delivery> Take() { return std::exchange(got_, {}); }

  server::Server srv_{server::Config{}};
  JetStream js_{&srv_, &srv_.global_account(), Options{}};
  std::shared_ptr<Stream> stream_;
  server::SubPtr sub_;
  std::vector<Delivery> got_;
};

// A mirror's or source's consumer on the origin's server (a feed,
// sourcing.h) delivers only what the origin has made durable, as a copy
// read from the local store does: a copy on another server never outlives
// its original after a power loss. A plain consumer does not wait.
TEST_F(ConsumerTest, ADurableOnlyConsumerWaitsForTheSync) {
  ConsumerConfig feed;
  feed.deliver_subject = "inbox.feed";
  feed.metadata[kDurableOnlyMetadata] = "true";
  ConsumerConfig plain;
  plain.deliver_subject = "inbox.plain";
  ASSERT_TRUE(Add("feed", feed));
  ASSERT_TRUE(Add("plain", plain));
  for (int i = 1; i <= 10; ++i) Publish("s.a", std::to_string(i));
  auto count = [](const std::vector<Delivery>& d, const std::string& subject) {
    return std::count_if(d.begin(), d.end(), [&](const Delivery& x) { return x.subject == "s.a" && x.hdr.empty() && x.reply.find(subject) != std::string::npos; });
  };
  auto got = Take();
  EXPECT_EQ(count(got, ".plain."), 10);
  EXPECT_EQ(count(got, ".feed."), 0);
  stream_->NoteDurable(6);  // the group commit covering 1..6 returned
  got = Take();
  EXPECT_EQ(count(got, ".feed."), 6);
  stream_->NoteDurable(10);
  got = Take();
  EXPECT_EQ(count(got, ".feed."), 4);
  EXPECT_EQ(count(got, ".plain."), 0);
}

TEST_F(ConsumerTest, PullBatchAckSubjectsAndInfo) {
  for (int i = 1; i <= 3; ++i) Publish("s.a", "m" + std::to_string(i));
  auto c = Add("d", Explicit());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->InfoJson()["num_pending"], 3);
  c->ProcessPullRequest("inbox.1", R"({"batch":2})");
  auto d = Take();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].subject, "s.a");
  EXPECT_EQ(d[0].data, "m1");
  EXPECT_EQ(d[0].reply.rfind("$JS.ACK.S.d.1.1.1.", 0), 0u) << d[0].reply;
  EXPECT_EQ(d[1].reply.substr(d[1].reply.rfind('.')), ".1");  // one left
  auto info = c->InfoJson();
  EXPECT_EQ(info["num_ack_pending"], 2);
  EXPECT_EQ(info["num_pending"], 1);
  EXPECT_EQ(info["delivered"]["stream_seq"], 2);

  // Ack the second first: the floor waits for the first.
  c->ProcessAck(d[1].reply, "+ACK", "");
  EXPECT_EQ(c->InfoJson()["ack_floor"]["stream_seq"], 0);
  c->ProcessAck(d[0].reply, "", "");
  info = c->InfoJson();
  EXPECT_EQ(info["ack_floor"]["stream_seq"], 2);
  EXPECT_EQ(info["ack_floor"]["consumer_seq"], 2);
  EXPECT_EQ(info["num_ack_pending"], 0);
}

TEST_F(ConsumerTest, NoWaitStatuses) {
  Publish("s.a", "x");
  auto c = Add("d", Explicit());
  c->ProcessPullRequest("inbox.1", R"({"batch":5,"no_wait":true})");
  auto d = Take();
  ASSERT_EQ(d.size(), 2u);
  // A partly filled no_wait batch ends with 404, as from 2.11 (2.9 and
  // 2.10 sent 408 with the pending counts).
  EXPECT_EQ(d[1].hdr, "NATS/1.0 404 No Messages\r\n\r\n");
  c->ProcessPullRequest("inbox.2", R"({"batch":5,"no_wait":true})");
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].hdr, "NATS/1.0 404 No Messages\r\n\r\n");
}

TEST_F(ConsumerTest, WaitingRequestGetsNewMessageAndExpires) {
  auto c = Add("d", Explicit());
  c->ProcessPullRequest("inbox.1", R"({"batch":2,"expires":1000000000})");
  EXPECT_EQ(c->InfoJson()["num_waiting"], 1);
  Publish("s.b", "late");
  auto d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].data, "late");
  c->Tick(NowNs() + 2 * kSec);
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].hdr, "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\nNats-Pending-Bytes: 0\r\n\r\n");
  EXPECT_EQ(c->InfoJson()["num_waiting"], 0);
}

// The stream ticks busy consumers only, and keeps ticking one for as long
// as it stays busy (a bug once dropped it after its first tick).
TEST_F(ConsumerTest, StreamTicksAWaitingRequestUntilItEnds) {
  auto idle = Add("idle", Explicit());
  auto c = Add("d", Explicit());
  int64_t t0 = NowNs();
  c->ProcessPullRequest("inbox.hb", R"({"batch":1,"expires":1000000000,"idle_heartbeat":200000000})");
  EXPECT_TRUE(Take().empty());
  for (int i = 1; i <= 3; ++i) {
    stream_->Tick(t0 + i * 250 * kMs);
    auto d = Take();
    ASSERT_EQ(d.size(), 1u) << "tick " << i;
    EXPECT_EQ(d[0].hdr.rfind("NATS/1.0 100 Idle Heartbeat\r\n", 0), 0u) << d[0].hdr;
  }
  stream_->Tick(t0 + 1100 * kMs);
  auto d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].hdr.rfind("NATS/1.0 408 Request Timeout", 0), 0u) << d[0].hdr;
  // Idle again: later ticks send nothing.
  stream_->Tick(t0 + 2000 * kMs);
  EXPECT_TRUE(Take().empty());
  // And a new request makes it busy again.
  c->ProcessPullRequest("inbox.hb2", R"({"batch":1,"expires":5000000000,"idle_heartbeat":200000000})");
  stream_->Tick(NowNs() + 250 * kMs);
  EXPECT_EQ(Take().size(), 1u);
}

TEST_F(ConsumerTest, RedeliveryAfterAckWaitUntilMaxDeliver) {
  Publish("s.a", "x");
  auto cfg = Explicit();
  cfg.ack_wait = 100 * kMs;
  cfg.max_deliver = 2;
  auto c = Add("d", cfg);
  c->ProcessPullRequest("inbox.1", "");
  ASSERT_EQ(Take().size(), 1u);
  c->Tick(NowNs() + 200 * kMs);
  c->ProcessPullRequest("inbox.2", "");
  auto d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reply.rfind("$JS.ACK.S.d.2.1.2.", 0), 0u) << d[0].reply;
  EXPECT_EQ(c->InfoJson()["num_redelivered"], 1);
  c->Tick(NowNs() + 400 * kMs);
  c->ProcessPullRequest("inbox.3", R"({"no_wait":true})");
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].hdr, "NATS/1.0 404 No Messages\r\n\r\n");
  EXPECT_EQ(c->InfoJson()["ack_floor"]["stream_seq"], 0);
}

TEST_F(ConsumerTest, NakRedeliversAndTermStops) {
  Publish("s.a", "1");
  Publish("s.a", "2");
  auto c = Add("d", Explicit());
  c->ProcessPullRequest("inbox.1", "2");
  auto d = Take();
  ASSERT_EQ(d.size(), 2u);
  c->ProcessAck(d[0].reply, "-NAK", "");
  c->ProcessAck(d[1].reply, "+TERM", "");
  c->ProcessPullRequest("inbox.2", R"({"batch":5,"no_wait":true})");
  auto again = Take();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].data, "1");
  EXPECT_EQ(again[0].reply.rfind("$JS.ACK.S.d.2.1.3.", 0), 0u) << again[0].reply;
}

TEST_F(ConsumerTest, DeliverPoliciesAndFilters) {
  Publish("s.a", "a1");
  Publish("s.b", "b1");
  Publish("s.a", "a2");
  auto last = Explicit();
  last.deliver_policy = DeliverPolicy::kLast;
  auto c = Add("last", last);
  EXPECT_EQ(c->InfoJson()["num_pending"], 1);
  EXPECT_EQ(c->InfoJson()["delivered"]["stream_seq"], 2);

  auto lps = Explicit();
  lps.deliver_policy = DeliverPolicy::kLastPerSubject;
  lps.filter_subject = "s.*";
  c = Add("lps", lps);
  EXPECT_EQ(c->InfoJson()["num_pending"], 2);
  c->ProcessPullRequest("inbox.1", R"({"batch":5,"no_wait":true})");
  auto d = Take();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].data, "b1");
  EXPECT_EQ(d[1].data, "a2");

  auto multi = Explicit();
  multi.filter_subjects = {"s.b"};
  c = Add("multi", multi);
  EXPECT_EQ(c->InfoJson()["num_pending"], 1);
  EXPECT_TRUE(c->FilterMatches("s.b"));
  EXPECT_FALSE(c->FilterMatches("s.a"));
}

TEST_F(ConsumerTest, HeadersOnly) {
  Publish("s.a", "12345");
  auto cfg = Explicit();
  cfg.headers_only = true;
  auto c = Add("d", cfg);
  c->ProcessPullRequest("inbox.1", "");
  auto d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].data, "");
  EXPECT_EQ(proto::GetHeader(d[0].hdr, "Nats-Msg-Size"), "5");
}

TEST_F(ConsumerTest, ConfigValidation) {
  ApiError err;
  auto cfg = Explicit();
  cfg.backoff = {kSec, 2 * kSec};
  cfg.max_deliver = 1;
  EXPECT_FALSE(Add("bo", cfg, &err));
  EXPECT_EQ(err.err_code, 10116);
  // 2.10.23 on: as many deliveries as steps, or unlimited, is fine.
  cfg.max_deliver = 2;
  EXPECT_TRUE(Add("bo2", cfg, &err)) << err.description;
  cfg.max_deliver = -1;
  EXPECT_TRUE(Add("bo3", cfg, &err)) << err.description;

  // 2.10: a filter outside the stream's subjects is allowed.
  cfg = Explicit();
  cfg.filter_subject = "zzz";
  EXPECT_TRUE(Add("f", cfg, &err)) << err.description;

  cfg = Explicit();
  cfg.deliver_subject = "s.x";
  EXPECT_FALSE(Add("cyc", cfg, &err));
  EXPECT_EQ(err.err_code, 10081);

  cfg = Explicit();
  cfg.filter_subjects = {"s.*", "s.a"};
  EXPECT_FALSE(Add("ov", cfg, &err));
  EXPECT_EQ(err.err_code, 10138);

  cfg = Explicit();
  cfg.deliver_policy = DeliverPolicy::kByStartSequence;
  EXPECT_FALSE(Add("bs", cfg, &err));
  EXPECT_EQ(err.err_code, 10094);

  cfg = Explicit();
  cfg.flow_control = true;
  cfg.deliver_subject = "dlv";
  EXPECT_FALSE(Add("fc", cfg, &err));
  EXPECT_EQ(err.err_code, 10108);

  EXPECT_FALSE(ValidAssetName("a.b"));
  EXPECT_FALSE(ValidAssetName("a/b"));
  EXPECT_TRUE(ValidAssetName("ok-name"));
}

TEST_F(ConsumerTest, UpdateRules) {
  auto c = Add("d", Explicit());
  auto next = c->config();
  next.ack_policy = AckPolicy::kNone;
  auto e = c->Update(next);
  EXPECT_EQ(e.err_code, 10012);
  EXPECT_EQ(e.description, "ack policy can not be updated");
  next = c->config();
  next.description = "changed";
  next.metadata["k"] = "v";
  EXPECT_TRUE(c->Update(next).ok());
  EXPECT_EQ(c->config().description, "changed");
}

TEST_F(ConsumerTest, PushWithHeartbeat) {
  Publish("s.a", "x");
  ConsumerConfig cfg;
  cfg.deliver_subject = "inbox.push";
  cfg.idle_heartbeat = 100 * kMs;
  auto c = Add("p", cfg);
  c->Signal();
  auto d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].subject, "s.a");
  c->Tick(NowNs() + 500 * kMs);
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].hdr, "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\nNats-Last-Stream: 1\r\n\r\n");
  // An ephemeral with interest is not expired.
  EXPECT_FALSE(c->InactiveExpired(NowNs() + 10 * kSec));
}

ConsumerConfig Priority(PriorityPolicy p) {
  ConsumerConfig c;
  c.durable_name = "p";
  c.ack_policy = AckPolicy::kExplicit;
  c.priority_policy = p;
  c.priority_groups = {"A"};
  return c;
}

TEST_F(ConsumerTest, PriorityGroupRequestErrors) {
  Publish("s.a", "1");
  auto c = Add("p", Priority(PriorityPolicy::kPinnedClient));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->config().priority_timeout, kDefaultPinnedTimeout);
  c->ProcessPullRequest("inbox.1", R"({"batch":1})");
  c->ProcessPullRequest("inbox.2", R"({"batch":1,"group":"Z"})");
  c->ProcessPullRequest("inbox.3", "1");  // no group in a plain request
  auto d = Take();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].hdr, "NATS/1.0 400 Bad Request - Priority Group missing\r\n\r\n");
  EXPECT_EQ(d[1].hdr, "NATS/1.0 400 Bad Request - Invalid Priority Group\r\n\r\n");
  EXPECT_EQ(d[2].hdr, "NATS/1.0 400 Bad Request - Priority Group missing\r\n\r\n");
  EXPECT_EQ(c->Unpin("B").err_code, 10160);
  EXPECT_TRUE(c->Unpin("A").ok());
}

TEST_F(ConsumerTest, PinnedClientServesOneRequesterUntilUnpinned) {
  for (int i = 1; i <= 4; ++i) Publish("s.a", std::to_string(i));
  auto c = Add("p", Priority(PriorityPolicy::kPinnedClient));
  ASSERT_TRUE(c);
  c->ProcessPullRequest("inbox.1", R"({"batch":1,"group":"A"})");
  auto d = Take();
  ASSERT_EQ(d.size(), 1u);
  std::string pin(proto::GetHeader(d[0].hdr, "Nats-Pin-Id"));
  EXPECT_EQ(pin.size(), 22u);
  EXPECT_EQ(d[0].data, "1");
  // Without the id: waits. With a wrong one: 423.
  c->ProcessPullRequest("inbox.2", R"({"batch":1,"group":"A","expires":60000000000})");
  c->ProcessPullRequest("inbox.3", R"({"batch":1,"group":"A","id":"nope"})");
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].subject, "inbox.3");
  EXPECT_EQ(d[0].hdr, "NATS/1.0 423 Nats-Pin-Id mismatch\r\n\r\n");
  c->ProcessPullRequest("inbox.4", R"({"batch":1,"group":"A","id":")" + pin + R"("})");
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].data, "2");  // to inbox.4: a delivery keeps its stored subject
  EXPECT_EQ(proto::GetHeader(d[0].hdr, "Nats-Pin-Id"), pin);
  EXPECT_EQ(c->InfoJson()["priority_groups"][0]["pinned_client_id"], pin);
  // Unpinned: the waiting requester is pinned anew and served.
  ASSERT_TRUE(c->Unpin("A").ok());
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  // to inbox.2
  EXPECT_EQ(d[0].data, "3");
  std::string pin2(proto::GetHeader(d[0].hdr, "Nats-Pin-Id"));
  EXPECT_FALSE(pin2.empty());
  EXPECT_NE(pin2, pin);
  // The old pin holder is now refused.
  c->ProcessPullRequest("inbox.5", R"({"batch":1,"group":"A","id":")" + pin + R"("})");
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].hdr, "NATS/1.0 423 Nats-Pin-Id mismatch\r\n\r\n");
}

TEST_F(ConsumerTest, OverflowServesOnlyAboveTheMinimum) {
  for (int i = 1; i <= 5; ++i) Publish("s.a", std::to_string(i));
  auto c = Add("p", Priority(PriorityPolicy::kOverflow));
  ASSERT_TRUE(c);
  c->ProcessPullRequest("inbox.1", R"({"batch":1,"group":"A","min_pending":10,"expires":60000000000})");
  EXPECT_TRUE(Take().empty());
  EXPECT_EQ(c->InfoJson()["num_waiting"], 1);
  c->ProcessPullRequest("inbox.2", R"({"batch":1,"group":"A","min_pending":5})");
  auto d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].data, "1");  // to inbox.2; inbox.1 still waits
  // One unacknowledged: a min_ack_pending of 1 is met.
  c->ProcessPullRequest("inbox.3", R"({"batch":1,"group":"A","min_ack_pending":1})");
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].data, "2");  // to inbox.3
  // Enough new messages let the first request through.
  for (int i = 6; i <= 12; ++i) Publish("s.a", std::to_string(i));
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].data, "3");  // to inbox.1
}

// prioritized (2.12): the lowest priority number is served first; requests
// of one priority take turns, a message each; a plain body comes last.
TEST_F(ConsumerTest, PrioritizedServesLowestPriorityFirstInTurns) {
  auto c = Add("p", Priority(PriorityPolicy::kPrioritized));
  ASSERT_TRUE(c);
  // Deliveries keep their stored subject, so each inbox gets its own
  // subscription to tell the requesters apart.
  std::vector<std::string> order;
  std::vector<server::SubPtr> subs;
  for (std::string inbox : {"in.plain", "in.p5", "in.p1a", "in.p1b", "in.p0"})
    subs.push_back(srv_.global_account().SubscribeInternal(inbox, [&order, inbox](const server::InternalMsg& m) {
      if (m.hdr.empty()) order.push_back(inbox + ":" + std::string(m.data));
    }));
  const std::string wait = R"(,"expires":60000000000})";
  c->ProcessPullRequest("in.plain", "5");
  c->ProcessPullRequest("in.p5", R"({"batch":5,"group":"A","priority":5)" + wait);
  c->ProcessPullRequest("in.p1a", R"({"batch":2,"group":"A","priority":1)" + wait);
  c->ProcessPullRequest("in.p1b", R"({"batch":2,"group":"A","priority":1)" + wait);
  c->ProcessPullRequest("in.p0", R"({"batch":1,"group":"A")" + wait);  // no priority is 0
  EXPECT_EQ(c->InfoJson()["num_waiting"], 5);
  for (int i = 1; i <= 7; ++i) Publish("s.a", std::to_string(i));
  EXPECT_EQ(order, (std::vector<std::string>{"in.p0:1", "in.p1a:2", "in.p1b:3", "in.p1a:4", "in.p1b:5",
                                             "in.p5:6", "in.p5:7"}));
  for (auto& sub : subs) srv_.global_account().UnsubscribeInternal(sub);
}

TEST_F(ConsumerTest, PriorityOutOfRangeIsRefusedUnderEveryPolicy) {
  Publish("s.a", "1");
  auto p = Add("p", Priority(PriorityPolicy::kPrioritized));
  auto n = Add("n", Explicit());
  ASSERT_TRUE(p && n);
  p->ProcessPullRequest("inbox.1", R"({"batch":1,"group":"A","priority":10})");
  p->ProcessPullRequest("inbox.2", R"({"batch":1,"group":"A","priority":-1})");
  n->ProcessPullRequest("inbox.3", R"({"batch":1,"priority":10})");
  auto d = Take();
  ASSERT_EQ(d.size(), 3u);
  for (const auto& m : d) EXPECT_EQ(m.hdr, "NATS/1.0 400 Bad Request - Priority must be between 0 and 9\r\n\r\n");
  // In range, another policy ignores it.
  n->ProcessPullRequest("inbox.4", R"({"batch":1,"priority":9})");
  d = Take();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].data, "1");
}

// Per-message TTLs and delete markers, driven with Stream::Tick's clock.
TEST_F(ConsumerTest, MessageTtlAndDeleteMarkers) {
  StreamConfig cfg;
  cfg.name = "T";
  cfg.subjects = {"t.>"};
  cfg.storage = Storage::kMemory;
  cfg.subject_delete_marker_ttl = 2 * kSec;
  ASSERT_FALSE(CheckStreamConfig(&cfg));
  EXPECT_TRUE(cfg.allow_msg_ttl);
  EXPECT_TRUE(cfg.allow_rollup_hdrs);
  ApiError err;
  auto s = Stream::Open(&js_, cfg, NowNs(), false, &err);
  ASSERT_TRUE(s) << err.description;
  int64_t t0 = NowNs();
  auto publish = [&](const std::string& subject, const std::string& hdr) {
    Inbound in{Inbound::Kind::kPublish, s, subject, "", hdr, "x", t0};
    s->ProcessPublish(in);
  };
  publish("t.a", "NATS/1.0\r\nNats-TTL: 1\r\n\r\n");  // raised to the marker TTL
  publish("t.b", "NATS/1.0\r\nNats-TTL: never\r\n\r\n");
  publish("t.c", "");
  ASSERT_EQ(s->store().State().msgs, 3u);
  EXPECT_EQ(proto::GetHeader(s->store().Load(1).value.hdr, "Nats-TTL"), "2");
  s->Tick(t0 + 1500 * kMs);
  EXPECT_EQ(s->store().State().msgs, 3u);
  // t.a expires: its marker takes its place.
  s->Tick(t0 + 2500 * kMs);
  auto st = s->store().State();
  EXPECT_EQ(st.msgs, 3u);
  EXPECT_EQ(st.last_seq, 4u);
  auto marker = s->store().Load(4);
  ASSERT_TRUE(marker.ok());
  EXPECT_EQ(marker.value.subject, "t.a");
  EXPECT_EQ(proto::GetHeader(marker.value.hdr, "Nats-Marker-Reason"), "MaxAge");
  EXPECT_EQ(proto::GetHeader(marker.value.hdr, "Nats-TTL"), "2s");
  EXPECT_FALSE(s->store().Load(1).ok());
  // The marker expires without a marker of its own.
  s->Tick(t0 + 5000 * kMs);
  st = s->store().State();
  EXPECT_EQ(st.msgs, 2u);
  EXPECT_EQ(st.last_seq, 4u);
  s->Close();
}

// Which consumers of a replicated stream run on its leader alone:
// nats-server's R1 ephemerals (num_replicas 1, or 0 on a limits stream)
// that take no acknowledgements.
TEST(LeaderOnlyTest, FollowsNatsServersR1RuleForEphemeralsWithoutAcks) {
  StreamConfig limits, interest;
  limits.num_replicas = interest.num_replicas = 3;
  interest.retention = Retention::kInterest;
  ConsumerConfig ordered;  // what clients send for an ordered consumer
  ordered.ack_policy = AckPolicy::kNone;
  ordered.num_replicas = 1;
  ordered.mem_storage = true;
  EXPECT_TRUE(LeaderOnly(ordered, limits));
  EXPECT_TRUE(LeaderOnly(ordered, interest));
  ConsumerConfig watcher;  // a KV watcher: replicas left unset
  watcher.ack_policy = AckPolicy::kNone;
  EXPECT_TRUE(LeaderOnly(watcher, limits));
  EXPECT_FALSE(LeaderOnly(watcher, interest));  // nats-server: the stream's replicas
  ConsumerConfig c = ordered;
  c.durable_name = "D";
  EXPECT_FALSE(LeaderOnly(c, limits));
  c = ordered;
  c.ack_policy = AckPolicy::kExplicit;  // acked: its state is replicated
  EXPECT_FALSE(LeaderOnly(c, limits));
  c = ordered;
  c.num_replicas = 3;
  EXPECT_FALSE(LeaderOnly(c, limits));
}

TEST(GoDurationTest, Formats) {
  EXPECT_EQ(GoDuration(kSec), "1s");
  EXPECT_EQ(GoDuration(1500 * kMs), "1.5s");
  EXPECT_EQ(GoDuration(500 * kMs), "500ms");
  EXPECT_EQ(GoDuration(90 * kSec), "1m30s");
  EXPECT_EQ(GoDuration(3600 * kSec), "1h0m0s");
}

}  // namespace
}  // namespace fjord::jetstream
