// Consumer replication through a stream's Raft log: the operation codec,
// applying operations to local memory stores (idempotent on replay), the
// snapshot part, and the leader's ReplicatedConsumerStore, all driven
// directly with no group, no threads and no timers.
#include "jetstream/consumer_replication.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/coding.h"
#include "store/store.h"

namespace fjord::jetstream {
namespace {

using store::ConsumerState;

constexpr char kMeta[] = R"({"durable_name":"c","ack_policy":"explicit"})";

// One replica: its local consumers and how often a store was opened.
struct Replica {
  std::map<std::string, LocalConsumer> consumers;
  int opens = 0;
  LocalConsumers Local() {
    return {&consumers, [this](const std::string&, std::string_view) {
              ++opens;
              return store::Result<std::unique_ptr<store::ConsumerStore>>{{}, store::NewMemConsumerStore()};
            }};
  }
  bool Apply(const std::string& op) { return ApplyConsumerOp(op, Local(), "S"); }
  ConsumerState State(const std::string& name) { return consumers.at(name).store->State(); }
};

// Every field when `times`; else what replay must keep (floors, pending
// keys with their consumer sequence, redelivery counts).
std::string Dump(const ConsumerState& s, bool times = true) {
  std::string o = "d=" + std::to_string(s.delivered_consumer) + "/" + std::to_string(s.delivered_stream) +
                  " af=" + std::to_string(s.ack_floor_consumer) + "/" + std::to_string(s.ack_floor_stream) + " p{";
  for (const auto& [sseq, p] : s.pending) {
    o += std::to_string(sseq) + ":" + std::to_string(p.consumer_seq);
    if (times) o += "@" + std::to_string(p.ts) + "~" + std::to_string(p.due);
    o += " ";
  }
  o += "} r{";
  for (const auto& [sseq, n] : s.redelivered) o += std::to_string(sseq) + ":" + std::to_string(n) + " ";
  return o + "}";
}

// Three deliveries (the third a redelivery), an ack, a due: to any store.
void Drive(store::ConsumerStore& s) {
  s.UpdateDelivered(1, 10, 1, 100);
  s.UpdateDelivered(2, 11, 1, 200);
  s.UpdateDelivered(3, 12, 2, 300);
  s.UpdateAcks(1, 10);
  s.UpdateDue(12, 999);
}

// Deliveries 1..5 (stream seq = consumer seq), acks of 1..3, a redelivery
// of 4 as consumer seq 6, a NAK-like due on 5: one op each step.
std::vector<std::string> SampleLog(const std::string& name = "c") {
  std::vector<std::string> log;
  ConsumerOp op(name);
  op.Config(kMeta);
  for (uint64_t i = 1; i <= 5; ++i) op.Delivered(i, i, 1, static_cast<int64_t>(i) * 10);
  log.push_back(op.Take());
  for (uint64_t i = 1; i <= 3; ++i) op.Ack(i, i);
  log.push_back(op.Take());
  op.Delivered(6, 4, 2, 60);
  log.push_back(op.Take());
  op.Due(5, 500, 6);
  log.push_back(op.Take());
  return log;
}

// The basic contract: an op carries exactly what the calls did to a store.
TEST(ConsumerReplication, OpRoundTripMatchesDirectStore) {
  ConsumerOp op("c");
  op.Config(kMeta);
  op.Delivered(1, 10, 1, 100);
  op.Delivered(2, 11, 1, 200);
  op.Delivered(3, 12, 2, 300);
  op.Ack(1, 10);
  op.Due(12, 999, 3);
  EXPECT_FALSE(op.empty());
  std::string enc = op.Take();
  EXPECT_TRUE(op.empty());  // Take hands everything over
  Replica r;
  ASSERT_TRUE(r.Apply(enc));
  EXPECT_EQ(r.opens, 1);
  ASSERT_EQ(r.consumers.count("c"), 1u);
  auto ref = store::NewMemConsumerStore();
  ASSERT_TRUE(ref->SetConfig(kMeta).ok());
  Drive(*ref);
  ASSERT_EQ(ref->State().pending.size(), 2u);  // the comparison is not vacuous
  EXPECT_EQ(Dump(r.State("c")), Dump(ref->State()));
  EXPECT_EQ(r.consumers.at("c").delivered, 3u);
  EXPECT_EQ(r.consumers.at("c").store->Config().value, kMeta);
}

// A restart replays the log after the last snapshot over stores that
// already have it: the state must not move (deliveries are skipped).
TEST(ConsumerReplication, ReplayIsHarmless) {
  Replica r;
  auto log = SampleLog();
  for (const auto& op : log) ASSERT_TRUE(r.Apply(op));
  const std::string before = Dump(r.State("c"), false);
  EXPECT_EQ(before, "d=6/5 af=3/3 p{4:6 5:5 } r{4:2 }");
  for (size_t i = 1; i < log.size(); ++i) ASSERT_TRUE(r.Apply(log[i]));
  EXPECT_EQ(Dump(r.State("c"), false), before);
  // The whole log, the create included: the copy is kept, not reopened.
  for (const auto& op : log) ASSERT_TRUE(r.Apply(op));
  EXPECT_EQ(Dump(r.State("c"), false), before);
  EXPECT_EQ(r.opens, 1);
}

// A reset (ack-all, purge, compaction) replaces the state and raises the
// replay threshold to its delivered sequence.
TEST(ConsumerReplication, ResetReplacesStateAndSkipsOlderDeliveries) {
  Replica r;
  ASSERT_TRUE(r.Apply(SampleLog()[0]));
  const ConsumerState st{10, 20, 8, 18, {{19, {9, 190, 0}}, {20, {10, 200, 0}}}, {}};
  ConsumerOp op("c");
  op.Reset(st);
  ASSERT_TRUE(r.Apply(op.Take()));
  EXPECT_EQ(Dump(r.State("c")), Dump(st));
  EXPECT_EQ(r.consumers.at("c").delivered, 10u);
  op.Delivered(10, 20, 2, 999);  // a replayed delivery: skipped
  ASSERT_TRUE(r.Apply(op.Take()));
  EXPECT_EQ(Dump(r.State("c")), Dump(st));
  op.Delivered(11, 21, 1, 210);  // a new one: applied
  ASSERT_TRUE(r.Apply(op.Take()));
  EXPECT_EQ(r.State("c").delivered_consumer, 11u);
  EXPECT_EQ(r.State("c").pending.count(21), 1u);
}

// The replay of a due set before a redelivery of the same message, which
// the replay skips, must not leave the stale due (pending 5 would end with
// due=500 instead of 0: redelivered early).
TEST(ConsumerReplication, ReplayedDueBeforeSkippedRedelivery) {
  Replica r;
  std::vector<std::string> log{SampleLog()[0]};  // deliveries 1..5
  ConsumerOp op("c");
  op.Due(5, 500, 5);
  log.push_back(op.Take());
  op.Delivered(6, 5, 2, 60);  // a new ack wait: due back to 0
  log.push_back(op.Take());
  for (const auto& o : log) ASSERT_TRUE(r.Apply(o));
  const std::string before = Dump(r.State("c"));
  for (size_t i = 1; i < log.size(); ++i) ASSERT_TRUE(r.Apply(log[i]));
  EXPECT_EQ(Dump(r.State("c")), before);
}

// A deleted consumer stays deleted: later (replayed) changes without a
// config must not resurrect it.
TEST(ConsumerReplication, DeleteRemovesLocalCopy) {
  Replica r;
  ASSERT_TRUE(r.Apply(SampleLog()[0]));
  ConsumerOp op("c");
  op.Delivered(6, 6, 1, 60);
  op.Delete();  // drops the changes before it
  ASSERT_TRUE(r.Apply(op.Take()));
  EXPECT_EQ(r.consumers.count("c"), 0u);
  for (size_t i = 1; i < SampleLog().size(); ++i) ASSERT_TRUE(r.Apply(SampleLog()[i]));
  op.Delivered(7, 7, 1, 70);
  ASSERT_TRUE(r.Apply(op.Take()));
  EXPECT_TRUE(r.consumers.empty());
  EXPECT_EQ(r.opens, 1);
}

// A damaged entry is read whole before anything is applied, so a valid
// first event must not be applied when a later one is cut or unknown.
TEST(ConsumerReplication, DamagedOpChangesNothing) {
  Replica r;
  ASSERT_TRUE(r.Apply(SampleLog()[0]));
  const std::string before = Dump(r.State("c"));
  ConsumerOp op("c");
  op.Delivered(6, 6, 1, 60);
  op.Due(6, 600, 6);
  std::string enc = op.Take();
  EXPECT_FALSE(r.Apply(enc.substr(0, enc.size() - 3)));
  EXPECT_FALSE(r.Apply(enc + '\x09'));  // no such event kind
  std::string bad_reset = enc;  // a reset whose state does not decode
  bad_reset.push_back('\x05');
  store::PutU32(&bad_reset, 3);
  bad_reset += "abc";
  EXPECT_FALSE(r.Apply(bad_reset));
  EXPECT_EQ(Dump(r.State("c")), before);
  EXPECT_EQ(r.consumers.at("c").delivered, 5u);
  ConsumerOp create("x");  // a cut create opens nothing
  create.Config(kMeta);
  std::string c = create.Take();
  EXPECT_FALSE(r.Apply(c.substr(0, c.size() - 2)));
  EXPECT_EQ(r.consumers.size(), 1u);
  EXPECT_EQ(r.opens, 1);

  // The stream's own operations are JSON and must not be taken for ours.
  EXPECT_FALSE(ConsumerOp::Is("{\"op\":\"purge\"}"));
  EXPECT_FALSE(r.Apply("{\"op\":\"purge\"}"));
  EXPECT_TRUE(ConsumerOp::Is(enc));
}

// A replica caught up by snapshot must end with exactly the snapshot's
// consumers, configs and states.
TEST(ConsumerReplication, SnapshotRestore) {
  Replica src;
  for (const auto& op : SampleLog("a")) ASSERT_TRUE(src.Apply(op));
  ConsumerOp b("b");
  b.Config(R"({"durable_name":"b"})");
  b.Delivered(1, 7, 1, 70);
  b.Delivered(2, 7, 3, 80);
  ASSERT_TRUE(src.Apply(b.Take()));
  const std::string snap = EncodeConsumerSnapshot(src.consumers);
  auto same = [&](Replica& dst) {
    ASSERT_EQ(dst.consumers.size(), 2u);
    for (const char* n : {"a", "b"}) {
      EXPECT_EQ(dst.consumers.at(n).store->Config().value, src.consumers.at(n).store->Config().value) << n;
      EXPECT_EQ(Dump(dst.State(n)), Dump(src.State(n))) << n;
      EXPECT_EQ(dst.consumers.at(n).delivered, src.State(n).delivered_consumer) << n;
    }
  };
  Replica fresh;
  ASSERT_TRUE(RestoreConsumerSnapshot(snap, fresh.Local(), "S"));
  EXPECT_EQ(fresh.opens, 2);
  same(fresh);

  // A consumer the snapshot does not have was deleted meanwhile.
  Replica stale;
  ASSERT_TRUE(stale.Apply(SampleLog("c")[0]));
  ASSERT_TRUE(stale.Apply(SampleLog("a")[0]));  // and an older state of a
  ASSERT_TRUE(RestoreConsumerSnapshot(snap, stale.Local(), "S"));
  EXPECT_EQ(stale.consumers.count("c"), 0u);
  same(stale);

  // A cut snapshot is refused and changes nothing.
  EXPECT_FALSE(RestoreConsumerSnapshot(snap.substr(0, snap.size() - 3), stale.Local(), "S"));
  same(stale);

  // A snapshot with no consumer part: there are none.
  ASSERT_TRUE(RestoreConsumerSnapshot("", stale.Local(), "S"));
  EXPECT_TRUE(stale.consumers.empty());
}

// The leader's store: changes travel only as proposed operations.
class ReplicatedStoreTest : public ::testing::Test {
 protected:
  ReplicatedConsumerStore::Hooks Hooks() {
    return {[this](std::string op) {
              if (!refuse.empty()) return refuse;
              proposed.push_back(std::move(op));
              return std::string();
            },
            [this](std::function<void(store::Status)> cb) { waiting.push_back(std::move(cb)); },
            [this]() -> std::shared_ptr<store::ConsumerStore> {
              auto it = replica.consumers.find("c");
              return it == replica.consumers.end() ? nullptr : it->second.store;
            }};
  }
  std::function<void(store::Status)> Done() {
    return [this](store::Status s) { got.push_back(s); };
  }
  std::vector<std::string> proposed;
  std::string refuse;  // propose's error text when set
  std::vector<std::function<void(store::Status)>> waiting;  // when_committed's
  std::vector<store::Status> got;                           // Sync's results
  Replica replica;
};

TEST_F(ReplicatedStoreTest, FlushProposesOneOpWithTheUpdates) {
  ReplicatedConsumerStore cs("c", Hooks());
  ASSERT_TRUE(cs.SetConfig(kMeta).ok());
  Drive(cs);
  EXPECT_TRUE(proposed.empty());               // nothing before the flush
  EXPECT_EQ(cs.State().delivered_consumer, 0u);  // no local copy yet
  EXPECT_EQ(cs.Config().value, kMeta);
  ASSERT_TRUE(cs.Flush().ok());
  ASSERT_EQ(proposed.size(), 1u);
  ASSERT_TRUE(replica.Apply(proposed[0]));
  auto ref = store::NewMemConsumerStore();
  Drive(*ref);
  EXPECT_EQ(Dump(replica.State("c")), Dump(ref->State()));
  EXPECT_EQ(Dump(cs.State()), Dump(ref->State()));  // State() reads the local copy
  ASSERT_TRUE(cs.Flush().ok());  // nothing changed: nothing proposed
  EXPECT_EQ(proposed.size(), 1u);

  // A new leader's store (no SetConfig) gets the config from the copy.
  ReplicatedConsumerStore next("c", Hooks());
  EXPECT_EQ(next.Config().value, kMeta);
}

// A create with an initial state: the op must carry the config first, or
// the reset would land on no consumer.
TEST_F(ReplicatedStoreTest, ConfigThenResetTravelTogether) {
  ReplicatedConsumerStore cs("c", Hooks());
  cs.UpdateDelivered(1, 1, 1, 10);  // moot once reset
  ASSERT_TRUE(cs.SetConfig(kMeta).ok());
  const ConsumerState st{4, 4, 3, 3, {{4, {4, 40, 0}}}, {}};
  ASSERT_TRUE(cs.Reset(st).ok());
  ASSERT_TRUE(cs.Flush().ok());
  ASSERT_EQ(proposed.size(), 1u);
  ASSERT_TRUE(replica.Apply(proposed[0]));
  EXPECT_EQ(replica.opens, 1);
  EXPECT_EQ(replica.consumers.at("c").store->Config().value, kMeta);
  EXPECT_EQ(Dump(replica.State("c")), Dump(st));
}

// A confirmed ack must wait for the commit, not for the proposal.
TEST_F(ReplicatedStoreTest, SyncWaitsForCommit) {
  ReplicatedConsumerStore cs("c", Hooks());
  cs.UpdateAcks(1, 1);
  cs.Sync(Done());
  EXPECT_EQ(proposed.size(), 1u);
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(waiting.size(), 1u);
  waiting[0]({});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].ok());
}

// A refused proposal (a deposed leader) must be reported, never taken
// for a commit.
TEST_F(ReplicatedStoreTest, RefusedProposalIsAnError) {
  ReplicatedConsumerStore cs("c", Hooks());
  refuse = "not leader";
  cs.UpdateDelivered(1, 1, 1, 10);
  EXPECT_FALSE(cs.Flush().ok());
  cs.UpdateAcks(1, 1);
  cs.Sync(Done());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].ok());
  EXPECT_TRUE(waiting.empty());
  EXPECT_TRUE(proposed.empty());
}

// Deleting proposes the removal for every replica and closes the store.
TEST_F(ReplicatedStoreTest, DeleteProposesRemovalAndCloses) {
  ReplicatedConsumerStore cs("c", Hooks());
  ASSERT_TRUE(cs.SetConfig(kMeta).ok());
  ASSERT_TRUE(cs.Flush().ok());
  ASSERT_TRUE(replica.Apply(proposed.back()));
  ASSERT_EQ(replica.consumers.count("c"), 1u);
  cs.UpdateDelivered(1, 1, 1, 10);
  ASSERT_TRUE(cs.Delete().ok());
  ASSERT_EQ(proposed.size(), 2u);
  ASSERT_TRUE(replica.Apply(proposed.back()));
  EXPECT_EQ(replica.consumers.count("c"), 0u);
  cs.UpdateAcks(1, 1);
  EXPECT_EQ(cs.Flush().code, store::Errc::kClosed);
  EXPECT_EQ(proposed.size(), 2u);
  cs.Sync(Done());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].ok());
}

// A refused Flush drops its changes: a Sync right after (a confirmed ack
// on a leader deposed meanwhile) must not report success once the previous
// operation commits.
TEST_F(ReplicatedStoreTest, SyncAfterRefusedFlushFails) {
  ReplicatedConsumerStore cs("c", Hooks());
  cs.UpdateAcks(1, 1);
  refuse = "not leader";
  EXPECT_FALSE(cs.Flush().ok());
  cs.Sync(Done());
  for (auto& w : waiting) w({});  // the earlier, accepted operation commits
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].ok());
}


// A leader-only consumer (ordered, KV watcher, feed): its deliveries stay
// in the leader's memory, only its config and removal are proposed, and a
// sync with nothing of its own proposed does not wait for the group.
TEST_F(ReplicatedStoreTest, LeaderOnlyProposesItsConfigAndRemovalAlone) {
  ReplicatedConsumerStore cs("c", Hooks(), /*leader_only=*/true);
  ASSERT_TRUE(cs.SetConfig(kMeta).ok());
  const ConsumerState start{0, 7, 0, 7, {}, {}};  // where a create starts it
  ASSERT_TRUE(cs.Reset(start).ok());
  cs.Sync(Done());  // the create's reply waits for the config's commit
  ASSERT_EQ(proposed.size(), 1u);
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_TRUE(got.empty());
  waiting[0]({});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(replica.Apply(proposed[0]));

  EXPECT_EQ(Dump(replica.State("c")), Dump(start));

  Drive(cs);
  ASSERT_TRUE(cs.Flush().ok());
  EXPECT_EQ(proposed.size(), 1u);  // no operation for the deliveries
  auto ref = store::NewMemConsumerStore();
  ref->Reset(start);
  Drive(*ref);
  EXPECT_EQ(Dump(cs.State()), Dump(ref->State()));
  EXPECT_EQ(Dump(replica.State("c")), Dump(start));  // the copy keeps the creation state
  cs.Sync(Done());
  EXPECT_EQ(got.size(), 2u);  // at once: nothing proposed since
  EXPECT_EQ(waiting.size(), 1u);
  EXPECT_TRUE(got[1].ok());

  ASSERT_TRUE(cs.Delete().ok());
  ASSERT_EQ(proposed.size(), 2u);
  ASSERT_TRUE(replica.Apply(proposed.back()));
  EXPECT_EQ(replica.consumers.count("c"), 0u);
}

// A new leader starts a leader-only consumer from its local copy (the
// creation state), and what it delivers then stays in its memory.
TEST_F(ReplicatedStoreTest, LeaderOnlyStartsFromTheLocalCopy) {
  ReplicatedConsumerStore first("c", Hooks());
  ASSERT_TRUE(first.SetConfig(kMeta).ok());
  const ConsumerState st{4, 4, 0, 0, {}, {}};
  ASSERT_TRUE(first.Reset(st).ok());
  ASSERT_TRUE(first.Flush().ok());
  ASSERT_TRUE(replica.Apply(proposed[0]));

  ReplicatedConsumerStore next("c", Hooks(), /*leader_only=*/true);
  EXPECT_EQ(next.Config().value, kMeta);
  EXPECT_EQ(Dump(next.State()), Dump(st));
  ASSERT_TRUE(next.UpdateDelivered(5, 9, 1, 50).ok());
  ASSERT_TRUE(next.Flush().ok());
  EXPECT_EQ(proposed.size(), 1u);
  EXPECT_EQ(next.State().delivered_consumer, 5u);
  EXPECT_EQ(next.State().delivered_stream, 9u);
  EXPECT_EQ(Dump(replica.State("c")), Dump(st));
}

}  // namespace
}  // namespace fjord::jetstream
