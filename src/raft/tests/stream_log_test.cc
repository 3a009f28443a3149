// The Raft log of a replicated stream (raft/stream_log.h): alone over a
// store, then as the log of three group members (tests/group_harness.h).
#include "raft/stream_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <libnuraft/buffer.hxx>
#include <libnuraft/log_entry.hxx>

#include "raft/bytes.h"
#include "raft/group.h"
#include "raft/tests/group_harness.h"
#include "store/coding.h"
#include "store/fault_env.h"
#include "store/locked_store.h"
#include "store/synced_mark.h"
#include "store/tests/store_test_util.h"

namespace fjord::raft {
namespace {

using namespace std::chrono_literals;

nuraft::ptr<nuraft::log_entry> Entry(uint64_t term, const std::string& data) {
  return nuraft::cs_new<nuraft::log_entry>(term, ToBuffer(data), nuraft::app_log, 0);
}
StreamEntry Decoded(const nuraft::ptr<nuraft::log_entry>& e) {
  static thread_local std::string keep;
  keep = ToString(e->get_buf());
  auto d = StreamEntry::Decode(keep);
  EXPECT_TRUE(d);
  return d ? *d : StreamEntry{};
}

// A stream store in a directory, shared as a replicated stream's is.
struct StreamFiles {
  explicit StreamFiles(std::string dir, store::Env* env = store::DefaultEnv()) : dir(std::move(dir)), env(env) {
    Reopen();
  }
  void Reopen() {
    log.reset();
    if (store) store->Close();
    store::FileStoreOptions o;
    o.dir = dir + "/msgs";
    o.block_size = 4096;
    if (lazy_ns > 0) {
      o.sync = store::SyncMode::kInterval;
      o.sync_interval_ns = lazy_ns;
    }
    auto r = store::OpenFileStore(env, o, store::Limits{});
    EXPECT_TRUE(r.ok()) << r.status.msg;
    store = std::make_unique<store::LockedStore>(std::move(r.value));
  }
  std::string OpenLog() {
    std::string err;
    log = StreamLog::Open(env, dir + "/raft", store.get(), &err, lazy_ns);
    return err;
  }
  // A leader's proposal as NuRaft appends it: staged (stored, given the
  // store's next sequence), then logged. Returns the entry's index.
  uint64_t Propose(const std::string& subject, const std::string& data, int64_t ts = 0, bool skip = false) {
    uint64_t seq = 0;
    std::string err;
    std::string staged = log->Stage(subject, "", data, ts, skip, &seq, &err);
    EXPECT_FALSE(staged.empty()) << err;
    // In the term of the log's last entry, as a leader's (term 1 in an
    // empty log).
    uint64_t term = std::max<uint64_t>(1, log->last_entry()->get_term());
    auto e = nuraft::cs_new<nuraft::log_entry>(term, ToBuffer(staged), nuraft::app_log, 0);
    uint64_t index = log->append(e);
    EXPECT_EQ(StreamEntry::Decode(ToString(e->get_buf()))->seq, seq);  // what the replicas get
    return index;
  }
  // Ends a batch as a leader does: its durability is reported later, on
  // another thread; or, in lazy mode when the stub file's sync is not due,
  // it is durable once written, before end_of_append_batch returns, and
  // NuRaft is not told (it reads last_durable_index after the batch).
  void Sync() {
    std::promise<bool> p;
    auto f = p.get_future();
    log->OnDurable([&p](bool ok) { p.set_value(ok); });
    {
      AsyncLogStore::Proposing proposing;
      log->end_of_append_batch(0, 0);
    }
    // (A told batch is told within microseconds of being durable.)
    if (lazy_ns > 0 && f.wait_for(50ms) != std::future_status::ready) {
      EXPECT_EQ(log->last_durable_index(), log->next_slot() - 1) << "neither durable nor told";
    } else {
      ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
      EXPECT_TRUE(f.get());
    }
    log->OnDurable(nullptr);
  }
  // Ends a batch as a follower does: durable when this returns, and NuRaft
  // is not told (it looks at last_durable_index).
  void SyncAsFollower() {
    bool told = false;
    log->OnDurable([&told](bool) { told = true; });
    log->end_of_append_batch(0, 0);
    EXPECT_EQ(log->last_durable_index(), log->next_slot() - 1);
    EXPECT_FALSE(told);
    log->OnDurable(nullptr);
  }
  std::string dir;
  store::Env* env;
  int64_t lazy_ns = 0;  // StreamLog::Open's lazy_sync_ns, and the store's interval
  std::unique_ptr<store::LockedStore> store;
  std::shared_ptr<StreamLog> log;
};

class StreamLogTest : public ::testing::Test {
 protected:
  store::testing::TempDir tmp_;
};

// Lazy mode (sync_interval): a batch counts as durable once written, as a
// leader's and as a follower's; the stub file is synced at most once an
// interval (its synced mark shows how far), and what was written is there
// at the next open.
TEST_F(StreamLogTest, LazyModeSyncsTheStubFileOnceAnInterval) {
  StreamFiles f(tmp_.path());
  f.lazy_ns = 60'000'000'000;
  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  const std::string mark_path = tmp_.path() + "/raft/raft.synced";
  f.Propose("a", "1");
  f.Sync();  // the first batch syncs
  auto first = store::SyncedMark::Read(f.env, mark_path);
  ASSERT_TRUE(first);
  for (int i = 2; i <= 5; i++) {
    f.Propose("a", std::to_string(i));
    f.Sync();
  }
  EXPECT_EQ(f.log->last_durable_index(), 5u);
  auto e = Entry(1, StreamEntry::Msg(6, 0, "a", "", "6"));
  f.log->append(e);
  f.SyncAsFollower();
  auto later = store::SyncedMark::Read(f.env, mark_path);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->offset, first->offset) << "no sync within the interval";
  f.log->SyncIfDue();
  EXPECT_EQ(store::SyncedMark::Read(f.env, mark_path)->offset, first->offset) << "not due yet";

  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  EXPECT_EQ(f.log->next_slot(), 7u);
  EXPECT_EQ(f.store->State().last_seq, 6u);

  // An idle stream's last batch is synced once due, without a new batch.
  f.lazy_ns = 500'000'000;  // 0.5 s: batch 8 comes well within it
  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  f.Propose("a", "7");
  f.Sync();
  f.Propose("a", "8");
  f.Sync();
  uint64_t before = store::SyncedMark::Read(f.env, mark_path)->offset;
  std::this_thread::sleep_for(600ms);
  f.log->SyncIfDue();
  EXPECT_GT(store::SyncedMark::Read(f.env, mark_path)->offset, before);
}

TEST_F(StreamLogTest, EntryCodecRoundTrips) {
  std::string m = StreamEntry::Msg(7, -5, "orders.oslo", "NATS/1.0\r\n\r\n", std::string("a\0b", 3));
  auto e = StreamEntry::Decode(m);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, StreamEntry::kMsg);
  EXPECT_EQ(e->seq, 7u);
  EXPECT_EQ(e->ts, -5);
  EXPECT_EQ(e->subject, "orders.oslo");
  EXPECT_EQ(e->hdr, "NATS/1.0\r\n\r\n");
  EXPECT_EQ(e->data, std::string("a\0b", 3));
  EXPECT_FALSE(StreamEntry::Decode(m.substr(0, m.size() - 1)));
  EXPECT_FALSE(StreamEntry::Decode(m + "x"));
  EXPECT_EQ(StreamEntry::Decode(StreamEntry::Skip(9))->seq, 9u);
  EXPECT_EQ(StreamEntry::Decode(StreamEntry::Op("purge"))->data, "purge");
  EXPECT_FALSE(StreamEntry::Decode(""));
  EXPECT_FALSE(StreamEntry::Decode(std::string(1, '\x09')));
}

// The leader's messages take the store's sequences; the log keeps only a
// stub for each in its file.
TEST_F(StreamLogTest, TheLeaderGetsTheStoresSequences) {
  StreamFiles f(tmp_.path());
  ASSERT_EQ(f.OpenLog(), "");
  std::string payload(2000, 'x');
  for (int i = 0; i < 20; i++)
    EXPECT_EQ(f.Propose("orders.oslo.created", payload, 100 + i), static_cast<uint64_t>(i + 1));
  f.Propose("", "", 0, /*skip=*/true);
  auto op = Entry(1, StreamEntry::Op("purge"));
  f.log->append(op);
  f.Sync();
  EXPECT_EQ(f.log->last_durable_index(), 22u);
  EXPECT_EQ(f.log->last_logged_seq(), 21u);
  EXPECT_EQ(f.store->State().last_seq, 21u);
  EXPECT_EQ(f.store->State().msgs, 20u);
  // 20 payloads of 2000 bytes, none of them in the log's own file.
  EXPECT_LT(store::testing::DataEnd(tmp_.path() + "/raft/raft.log"), 2000u);

  // Read back after reopening (no cache): from the store.
  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  EXPECT_EQ(f.log->next_slot(), 23u);
  auto e5 = Decoded(f.log->entry_at(5));
  EXPECT_EQ(e5.kind, StreamEntry::kMsg);
  EXPECT_EQ(e5.seq, 5u);
  EXPECT_EQ(e5.ts, 104);
  EXPECT_EQ(e5.subject, "orders.oslo.created");
  EXPECT_EQ(e5.data, payload);
  EXPECT_EQ(Decoded(f.log->entry_at(21)).kind, StreamEntry::kSkip);
  EXPECT_EQ(Decoded(f.log->entry_at(22)).data, "purge");
  auto all = f.log->log_entries(1, 23);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 22u);
  EXPECT_EQ(f.log->term_at(10), 1u);

  // A message deleted since is sent as a gap.
  ASSERT_TRUE(f.store->Remove(3, false).ok());
  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  auto e3 = Decoded(f.log->entry_at(3));
  EXPECT_EQ(e3.kind, StreamEntry::kSkip);
  EXPECT_EQ(e3.seq, 3u);
}

// The leader stages messages (stored at once, proposed together later):
// appended, their entries are logged without storing them again, and carry
// plain messages for the replicas; a refused proposal, or another leader's
// entries, take what was staged out of the store.
TEST_F(StreamLogTest, StagedMessagesAreStoredOnceAndCutWhenNotLogged) {
  StreamFiles f(tmp_.path());
  ASSERT_EQ(f.OpenLog(), "");
  std::vector<std::string> staged;
  for (uint64_t i = 1; i <= 3; i++) {
    uint64_t seq = 0;
    std::string err;
    staged.push_back(f.log->Stage("a." + std::to_string(i), "", "x", 0, /*skip=*/i == 2, &seq, &err));
    ASSERT_FALSE(staged.back().empty()) << err;
    EXPECT_EQ(seq, i);
    EXPECT_EQ(f.store->State().last_seq, i);  // readable by the stream at once
  }
  for (auto& s : staged) {
    auto e = Entry(1, s);
    f.log->append(e);
    auto d = Decoded(e);  // what the replicas get
    EXPECT_TRUE(d.kind == StreamEntry::kMsg || d.kind == StreamEntry::kSkip);
  }
  f.Sync();
  EXPECT_FALSE(f.log->failed());
  EXPECT_EQ(f.log->last_logged_seq(), 3u);
  EXPECT_EQ(f.store->State().last_seq, 3u);
  EXPECT_EQ(f.store->State().msgs, 2u);
  EXPECT_EQ(Decoded(f.log->entry_at(3)).subject, "a.3");

  // Refused: staged, never logged, cut.
  uint64_t seq = 0;
  std::string err;
  ASSERT_FALSE(f.log->Stage("b", "", "y", 0, false, &seq, &err).empty()) << err;
  EXPECT_EQ(f.store->State().last_seq, 4u);
  f.log->DropStaged();
  EXPECT_EQ(f.store->State().last_seq, 3u);

  // Staged, then another leader's entry for the same sequence arrives: the
  // staged message goes, the other leader's stays.
  ASSERT_FALSE(f.log->Stage("mine", "", "y", 0, false, &seq, &err).empty()) << err;
  auto theirs = Entry(2, StreamEntry::Msg(4, 0, "theirs", "", "z"));
  f.log->append(theirs);
  f.Sync();
  EXPECT_FALSE(f.log->failed());
  EXPECT_EQ(f.store->State().last_seq, 4u);
  EXPECT_EQ(f.store->Load(4).value.subject, "theirs");

  // A staged entry appended out of order stops the log.
  std::string a = f.log->Stage("c", "", "", 0, false, &seq, &err);
  std::string b = f.log->Stage("d", "", "", 0, false, &seq, &err);
  auto eb = Entry(2, b);
  f.log->append(eb);
  EXPECT_TRUE(f.log->failed());
}

// A follower stores the leader's sequences, and replaced entries take their
// messages out of the store.
TEST_F(StreamLogTest, FollowersKeepTheLeadersSequencesAndCutReplacedEntries) {
  StreamFiles f(tmp_.path());
  ASSERT_EQ(f.OpenLog(), "");
  for (uint64_t s = 1; s <= 6; s++) {
    auto e = Entry(1, StreamEntry::Msg(s, 0, "a." + std::to_string(s), "", "old"));
    f.log->append(e);
  }
  f.SyncAsFollower();
  // A new leader (term 2) had only entries 1..3: 4.. are replaced.
  auto e = Entry(2, StreamEntry::Msg(4, 0, "b.4", "", "new"));
  f.log->write_at(4, e);
  f.SyncAsFollower();
  EXPECT_EQ(f.log->next_slot(), 5u);
  EXPECT_EQ(f.log->term_at(4), 2u);
  auto st = f.store->State();
  EXPECT_EQ(st.last_seq, 4u);
  EXPECT_EQ(st.msgs, 4u);
  EXPECT_EQ(f.store->Load(4).value.subject, "b.4");
  EXPECT_EQ(f.store->Load(3).value.subject, "a.3");
  EXPECT_FALSE(f.store->Load(5).ok());
  // The next entry continues at 5.
  auto e5 = Entry(2, StreamEntry::Msg(5, 0, "b.5", "", "new"));
  f.log->append(e5);
  f.SyncAsFollower();
  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  EXPECT_EQ(Decoded(f.log->entry_at(5)).subject, "b.5");
  EXPECT_EQ(f.store->State().last_seq, 5u);

  // An entry that would leave a hole, or reuse a logged sequence, stops
  // the log: nothing after it is reported durable.
  auto hole = Entry(2, StreamEntry::Msg(9, 0, "c", "", ""));
  EXPECT_EQ(f.log->append(hole), 6u);
  EXPECT_TRUE(f.log->failed());
  EXPECT_EQ(f.log->last_durable_index(), 5u);
  auto after = Entry(2, StreamEntry::Msg(6, 0, "c.6", "", ""));
  f.log->append(after);
  // The process goes on (or stops) with what it wrote in the stub file in
  // place of those entries: opened again, the log ends before them, and
  // the leader's entries are taken again.
  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  EXPECT_EQ(f.log->next_slot(), 6u);
  EXPECT_EQ(f.log->last_logged_seq(), 5u);
  auto again = Entry(2, StreamEntry::Msg(6, 0, "c.6", "", ""));
  EXPECT_EQ(f.log->append(again), 6u);
  EXPECT_FALSE(f.log->failed());
  f.SyncAsFollower();
  EXPECT_EQ(f.store->Load(6).value.subject, "c.6");
}

// A batch of messages only is durable once the store is (one fsync, not
// two): each message keeps its log position in the store, and after a
// power loss took their unsynced stubs the log gets them back from there,
// over a message removed since (as a KV bucket's per-subject limit
// removes one). A message out of step (an operation before it was lost
// with the stub file's unsynced tail) and what follows it are cut.
TEST_F(StreamLogTest, AMessagesOnlyBatchIsDurableWithTheStoresSyncAlone) {
  std::string root = tmp_.path() + "/disk";
  std::filesystem::create_directories(root);
  store::FaultEnv env(store::DefaultEnv(), root);
  StreamFiles f(root, &env);
  ASSERT_EQ(f.OpenLog(), "");
  auto power_loss = [&] {
    env.Crash();
    f.log.reset();
    f.store->Close();
    f.store.reset();
    env.PowerLoss();
    f.Reopen();
    ASSERT_EQ(f.OpenLog(), "");
  };
  auto op = Entry(1, StreamEntry::Op("op"));
  EXPECT_EQ(f.log->append(op), 1u);
  f.SyncAsFollower();  // the operation's stub: synced
  uint64_t syncs = env.syncs();
  const char* subjects[] = {"k.a", "k.b", "k.a", "k.c"};
  for (uint64_t s = 1; s <= 4; s++) {
    auto e = Entry(1, StreamEntry::Msg(s, 0, subjects[s - 1], "", "v" + std::to_string(s)));
    EXPECT_EQ(f.log->append(e), s + 1);
  }
  f.SyncAsFollower();
  EXPECT_EQ(env.syncs() - syncs, 1u) << "the store's sync only";
  ASSERT_TRUE(f.store->Remove(2, false).ok());
  ASSERT_TRUE(store::testing::SyncWait(*f.store).ok());
  power_loss();
  EXPECT_EQ(f.log->next_slot(), 6u);
  EXPECT_EQ(f.log->last_logged_seq(), 4u);
  for (uint64_t i = 2; i <= 5; i++) EXPECT_EQ(f.log->term_at(i), 1u) << i;
  EXPECT_EQ(Decoded(f.log->entry_at(3)).kind, StreamEntry::kSkip);  // removed since
  EXPECT_EQ(Decoded(f.log->entry_at(3)).seq, 2u);
  EXPECT_EQ(Decoded(f.log->entry_at(4)).data, "v3");
  EXPECT_EQ(f.store->State().last_seq, 4u);

  // A new term: its first entry (the leader's membership entry) is not a
  // message, so its stub is synced with its batch.
  auto conf = nuraft::cs_new<nuraft::log_entry>(2, ToBuffer("conf"), nuraft::conf, 0);
  EXPECT_EQ(f.log->append(conf), 6u);
  auto m5 = Entry(2, StreamEntry::Msg(5, 0, "k.d", "", "v5"));
  EXPECT_EQ(f.log->append(m5), 7u);
  f.SyncAsFollower();
  // Appended, the store synced, the batch never ended: the operation at 9
  // never reached the stub file, and the message after it (at 10) is out
  // of step once it is gone.
  auto m6 = Entry(2, StreamEntry::Msg(6, 0, "k.e", "", "v6"));
  EXPECT_EQ(f.log->append(m6), 8u);
  auto op2 = Entry(2, StreamEntry::Op("op2"));
  EXPECT_EQ(f.log->append(op2), 9u);
  auto m7 = Entry(2, StreamEntry::Msg(7, 0, "k.f", "", "v7"));
  EXPECT_EQ(f.log->append(m7), 10u);
  ASSERT_TRUE(store::testing::SyncWait(*f.store).ok());
  power_loss();
  EXPECT_EQ(f.log->next_slot(), 9u);
  EXPECT_EQ(f.log->term_at(6), 2u);
  EXPECT_EQ(f.log->term_at(8), 2u);
  EXPECT_EQ(Decoded(f.log->entry_at(8)).data, "v6");
  EXPECT_EQ(f.store->State().last_seq, 6u);
  EXPECT_FALSE(f.log->lost_durable());

  // A leader's staged messages take the positions they were stored with:
  // its batch of them is durable with the store's sync too.
  syncs = env.syncs();
  uint64_t first = f.Propose("k.g", "v7");
  f.Propose("k.h", "v8");
  f.Sync();
  EXPECT_EQ(env.syncs() - syncs, 1u) << "the store's sync only";
  power_loss();
  EXPECT_EQ(f.log->next_slot(), first + 2);
  EXPECT_EQ(Decoded(f.log->entry_at(first + 1)).data, "v8");
  EXPECT_EQ(f.store->State().last_seq, 8u);
  EXPECT_FALSE(f.log->lost_durable());

  // Durable messages whose stubs a power loss took and which were removed
  // since, none after them: they cannot be logged again, and this replica
  // may have acknowledged them, so it must not vote until it has them.
  uint64_t next = f.log->next_slot();
  auto m9 = Entry(2, StreamEntry::Msg(9, 0, "k.i", "", "v9"));
  EXPECT_EQ(f.log->append(m9), next);
  f.SyncAsFollower();
  ASSERT_TRUE(f.store->Remove(9, false).ok());
  ASSERT_TRUE(store::testing::SyncWait(*f.store).ok());
  power_loss();
  EXPECT_EQ(f.log->next_slot(), next);
  EXPECT_TRUE(f.log->lost_durable());
}

// A leader's staged message logged at another position than it was stored
// with (here: in a later term) cannot do without its stub: its batch syncs
// the stub file too; the next batch, whose guess holds, does not.
TEST_F(StreamLogTest, AStagedMessageOffItsGuessedPositionWaitsForItsStub) {
  std::string root = tmp_.path() + "/disk";
  std::filesystem::create_directories(root);
  store::FaultEnv env(store::DefaultEnv(), root);
  StreamFiles f(root, &env);
  ASSERT_EQ(f.OpenLog(), "");
  f.Propose("a", "1");
  f.Sync();
  uint64_t seq = 0;
  std::string err;
  std::string staged = f.log->Stage("a", "", "2", 0, false, &seq, &err);
  ASSERT_FALSE(staged.empty()) << err;
  auto e = nuraft::cs_new<nuraft::log_entry>(3, ToBuffer(staged), nuraft::app_log, 0);
  EXPECT_EQ(f.log->append(e), 2u);
  uint64_t syncs = env.syncs();
  f.Sync();
  EXPECT_EQ(env.syncs() - syncs, 2u) << "the store's and the stub file's";
  syncs = env.syncs();
  EXPECT_EQ(f.Propose("a", "3"), 3u);  // guessed in term 3, the log's last
  f.Sync();
  EXPECT_EQ(env.syncs() - syncs, 1u) << "the store's only";
}

// After a crash, the log and the store agree again when the log opens.
TEST_F(StreamLogTest, OpeningReconcilesTheStoreAndTheLog) {
  StreamFiles f(tmp_.path());
  ASSERT_EQ(f.OpenLog(), "");
  for (int i = 0; i < 5; i++) f.Propose("a", "x");
  f.Sync();
  // Appended to the store, never logged (a crash between the two writes).
  ASSERT_TRUE(f.store->Append("stray", "", "y", 0).ok());
  ASSERT_TRUE(f.store->Append("stray", "", "y", 0).ok());
  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  EXPECT_EQ(f.store->State().last_seq, 5u);
  EXPECT_EQ(f.log->next_slot(), 6u);

  // Logged, while the store lost the messages (never reported durable).
  ASSERT_TRUE(f.store->Truncate(3).ok());
  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  EXPECT_EQ(f.log->next_slot(), 4u);
  EXPECT_EQ(f.log->last_logged_seq(), 3u);
  EXPECT_EQ(f.Propose("b", "z"), 4u);
  EXPECT_EQ(f.log->last_logged_seq(), 4u);
}

// A log over a stream that already had messages starts after them, and
// compaction remembers where the dropped entries ended.
TEST_F(StreamLogTest, StartsAfterExistingMessagesAndCompacts) {
  StreamFiles f(tmp_.path());
  for (int i = 0; i < 4; i++) ASSERT_TRUE(f.store->Append("before", "", "x", 0).ok());
  ASSERT_EQ(f.OpenLog(), "");
  EXPECT_EQ(f.log->last_logged_seq(), 4u);
  for (int i = 0; i < 3; i++) f.Propose("after", "x");
  auto op = Entry(1, StreamEntry::Op("o"));
  f.log->append(op);
  f.Sync();
  ASSERT_TRUE(f.log->compact(4));
  EXPECT_EQ(f.log->start_index(), 5u);
  f.Reopen();
  ASSERT_EQ(f.OpenLog(), "");
  EXPECT_EQ(f.log->last_logged_seq(), 7u);
  EXPECT_EQ(f.store->State().last_seq, 7u);
}

// Three members, each with its own store under its own StreamLog. The
// state machine tracks the last committed sequence and counts the ops.
class StreamMachine : public Fsm {
 public:
  std::string Apply(uint64_t, std::string_view data) override {
    auto e = StreamEntry::Decode(data);
    if (!e) return "malformed";
    std::lock_guard lock(mu_);
    if (e->kind != StreamEntry::kOp) committed_ = e->seq;
    else ops_++;
    return std::to_string(e->seq);
  }
  std::string Snapshot() override {
    std::lock_guard lock(mu_);
    return log->SnapshotHeader(committed_, std::to_string(ops_));
  }
  int ReadPart(std::string_view snapshot, uint64_t id, std::string* out) override {
    return log->ReadSnapshotPart(snapshot, id, out);
  }
  uint64_t SavePart(uint64_t id, std::string_view part) override {
    return log->SaveSnapshotPart(id, part, committed());
  }
  bool Restore(std::string_view s) override {
    auto app = log->FinishSnapshot(s);
    if (!app) return false;
    std::lock_guard lock(mu_);
    committed_ = *StreamLog::SnapshotLastSeq(s);
    ops_ = app->empty() ? 0 : std::stoull(*app);
    return true;
  }
  void Reset() {
    std::lock_guard lock(mu_);
    committed_ = ops_ = 0;
  }
  uint64_t ops() {
    std::lock_guard lock(mu_);
    return ops_;
  }
  std::shared_ptr<StreamLog> log;
  uint64_t committed() {
    std::lock_guard lock(mu_);
    return committed_;
  }

 private:
  std::mutex mu_;
  uint64_t committed_ = 0;
  uint64_t ops_ = 0;
};

struct Replica {
  std::string name;
  std::unique_ptr<store::FaultEnv> env;  // set by tests that cut the power
  std::unique_ptr<StreamFiles> files;
  std::unique_ptr<Transport> transport;
  StreamMachine fsm;
  std::unique_ptr<Group> group;
  // Open reopens the store too (a restart); a replica reviving after its
  // log failed (jscluster::StreamReplica::Revive) keeps it.
  bool reopen_store = true;
};

class StreamGroupTest : public testing::GroupHarness<Replica> {
 protected:
  void SetUp() override {
    GroupHarness::SetUp();
    group_name_ = "S_ORDERS";
  }
  void Open(Replica& r, const GroupOptions& opts) override {
    if (!r.files) {
      r.files = std::make_unique<StreamFiles>(root_ + "/" + r.name, r.env ? r.env.get() : store::DefaultEnv());
    } else if (r.reopen_store) {
      r.files->Reopen();
    } else {
      r.files->log.reset();
    }
    ASSERT_EQ(r.files->OpenLog(), "");
    r.fsm.log = r.files->log;
    GroupOptions o = opts;
    o.dir = r.files->dir + "/raft";
    o.env = r.files->env;
    o.snapshot_every = snapshot_every_;
    o.log = r.files->log;
    std::string err;
    r.group = Group::Open(r.transport.get(), scheduler_, o, &r.fsm, &err);
    ASSERT_TRUE(r.group) << err;
  }
  // Proposes a message as a stream's leader does (staged, then proposed;
  // refused, it leaves the store). The refusal's text, empty if proposed.
  std::string Propose(Replica& r, const std::string& subject, const std::string& data,
                      std::function<void(const std::string&, std::string)> done) {
    if (!r.group->IsLeader()) return "not the leader";
    uint64_t seq = 0;
    std::string err;
    std::string staged = r.files->log->Stage(subject, "", data, 1, false, &seq, &err);
    if (staged.empty()) return err;
    std::string refused = r.group->ProposeWithResult(staged, std::move(done));
    if (!refused.empty()) r.files->log->DropStaged();
    return refused;
  }
  // Publishes through the leader; the sequence its commit names, or an
  // error text.
  std::string Publish(Replica& r, const std::string& subject, const std::string& data) {
    // Shared: an answer may come after this gave up waiting.
    auto p = std::make_shared<std::promise<std::string>>();
    auto f = p->get_future();
    std::string refused = Propose(r, subject, data, [p](const std::string& err, std::string result) {
      p->set_value(err.empty() ? result : "error: " + err);
    });
    if (!refused.empty()) return "error: " + refused;
    if (f.wait_for(5s) != std::future_status::ready) return "no answer";
    return f.get();
  }
  // Every member's files go through a FaultEnv (a full disk, power loss).
  void UseFaultEnvs() {
    for (auto& m : members_) {
      std::filesystem::create_directories(root_ + "/" + m->name);
      m->env = std::make_unique<store::FaultEnv>(store::DefaultEnv(), root_ + "/" + m->name);
    }
  }
  // Frees the member's disk and opens its log and group again over the
  // store it has, as a replica whose log failed revives
  // (jscluster::StreamReplica::Revive).
  void Revive(Replica& r) {
    r.env->SetNoSpace(false);
    r.reopen_store = false;
    Stop(r);
    Start(r, false);
    r.reopen_store = true;
  }
  // Every replica's store holds the same messages 1..n.
  void ExpectSameMessages(uint64_t n) {
    for (auto& r : members_) {
      ASSERT_TRUE(WaitFor([&] { return r->files->store->State().last_seq == n && r->fsm.committed() == n; }))
          << r->name << " last " << r->files->store->State().last_seq << " committed " << r->fsm.committed();
    }
    for (uint64_t s = 1; s <= n; s++) {
      auto a = members_[0]->files->store->Load(s);
      for (auto& r : members_) {
        auto b = r->files->store->Load(s);
        ASSERT_EQ(a.ok(), b.ok()) << r->name << " seq " << s;
        EXPECT_EQ(a.value.subject, b.value.subject) << r->name << " seq " << s;
        EXPECT_EQ(a.value.data, b.value.data) << r->name << " seq " << s;
      }
    }
  }

  int snapshot_every_ = 0;  // none: the log keeps every entry
};

TEST_F(StreamGroupTest, MessagesReachEveryReplicaAtTheSameSequence) {
  Form();
  for (int i = 1; i <= 50; i++) ASSERT_EQ(Publish(*members_[0], "orders.oslo", "o" + std::to_string(i)), std::to_string(i));
  ExpectSameMessages(50);
  // A follower does not take publishes.
  EXPECT_NE(Publish(*members_[1], "orders.oslo", "x").rfind("error", 0), std::string::npos);
}

TEST_F(StreamGroupTest, ANewLeaderContinuesAndTheOldOneCatchesUp) {
  Form();
  for (int i = 1; i <= 10; i++) ASSERT_EQ(Publish(*members_[0], "a", std::to_string(i)), std::to_string(i));
  Stop(*members_[0]);
  Replica* leader = nullptr;
  ASSERT_TRUE(WaitFor([&] { return (leader = Leader()) != nullptr; }));
  for (int i = 11; i <= 30; i++) ASSERT_EQ(Publish(*leader, "b", std::to_string(i)), std::to_string(i));
  Start(*members_[0], true);
  ExpectSameMessages(30);
}

// A replica that missed entries the others compacted catches up from a
// snapshot: the messages it lacks come from the leader's store, and the
// ones the leader removed meanwhile leave its store.
TEST_F(StreamGroupTest, AReplicaBehindTheCompactedLogCatchesUpFromTheStore) {
  snapshot_every_ = 10;
  Form();
  for (int i = 1; i <= 12; i++) ASSERT_EQ(Publish(*members_[0], "a", std::string(3000, 'a')), std::to_string(i));
  ExpectSameMessages(12);
  Stop(*members_[2]);
  // Removed on the leader while n3 is away (as a committed delete would).
  ASSERT_TRUE(members_[0]->files->store->Remove(4, false).ok());
  ASSERT_TRUE(members_[1]->files->store->Remove(4, false).ok());
  for (int i = 13; i <= 60; i++)
    ASSERT_EQ(Publish(*members_[0], "b." + std::to_string(i), std::string(3000, 'b')), std::to_string(i));
  ASSERT_GT(members_[0]->files->log->start_index(), 14u);  // n3's next entry is compacted away
  Start(*members_[2], false);
  ExpectSameMessages(60);
  EXPECT_FALSE(members_[2]->files->store->Load(4).ok());
  EXPECT_EQ(members_[2]->files->store->State().msgs, 59u);
  // It goes on from there, and keeps it across a restart.
  ASSERT_EQ(Publish(*members_[0], "c", "after"), "61");
  ExpectSameMessages(61);
  Stop(*members_[2]);
  Start(*members_[2], false);
  ExpectSameMessages(61);
}

// A replica added to a group whose stream already holds messages (a
// stream scaled up) gets them all.
TEST_F(StreamGroupTest, ANewReplicaGetsTheMessagesStoredBeforeIt) {
  snapshot_every_ = 10;
  Start(*members_[0], true);
  ASSERT_TRUE(WaitFor([&] { return members_[0]->group->IsLeader(); }));
  for (int i = 1; i <= 25; i++) ASSERT_EQ(Publish(*members_[0], "s." + std::to_string(i % 3), "m"), std::to_string(i));
  // The front of the stream goes (a limit), so the new replica starts at 6.
  ASSERT_TRUE(members_[0]->files->store->Purge("", 6, 0).ok());
  Start(*members_[1], false);
  ASSERT_TRUE(WaitForMember(*members_[0], "n2"));
  ASSERT_EQ(Publish(*members_[0], "s.x", "new"), "26");
  ASSERT_TRUE(WaitFor([&] { return members_[1]->files->store->State().last_seq == 26; }))
      << members_[1]->files->store->State().last_seq;
  auto st = members_[1]->files->store->State();
  EXPECT_EQ(st.first_seq, 6u);
  EXPECT_EQ(st.msgs, 21u);
  EXPECT_EQ(members_[1]->files->store->Load(26).value.subject, "s.x");
  EXPECT_EQ(members_[1]->files->store->Load(10).value.subject, "s.1");
}

// A leader that appended entries no follower got (its tentative tail) comes
// back after a new leader stored other messages at those sequences: its
// store is cut back and takes the new leader's.
TEST_F(StreamGroupTest, AReplacedTentativeTailLeavesTheOldLeadersStore) {
  Form();
  for (int i = 1; i <= 5; i++) ASSERT_EQ(Publish(*members_[0], "a", "committed"), std::to_string(i));
  Stop(*members_[1]);
  Stop(*members_[2]);
  // Stored by n1 at 6..8, never committed.
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(Propose(*members_[0], "lost", "tentative", [](const std::string&, std::string) {}), "");
  ASSERT_EQ(members_[0]->files->store->State().last_seq, 8u);
  Stop(*members_[0]);
  Start(*members_[1], false);
  Start(*members_[2], false);
  Replica* leader = nullptr;
  ASSERT_TRUE(WaitFor([&] { return (leader = Leader()) != nullptr; }));
  ASSERT_EQ(Publish(*leader, "b", "new"), "6");
  ASSERT_EQ(Publish(*leader, "b", "new"), "7");
  Start(*members_[0], false);
  ExpectSameMessages(7);
  EXPECT_EQ(members_[0]->files->store->Load(6).value.subject, "b");
  EXPECT_EQ(members_[0]->files->store->Load(7).value.data, "new");
  EXPECT_EQ(members_[0]->files->store->State().last_seq, 7u);
}

// The power goes on every replica at once while publishes are in flight:
// every publish that was acknowledged (committed) is on every replica
// afterwards, at its sequence, and the replicas agree on the rest.
TEST_F(StreamGroupTest, AcknowledgedMessagesSurvivePowerLossEverywhere) {
  UseFaultEnvs();
  Form();
  for (int i = 1; i <= 30; i++) ASSERT_EQ(Publish(*members_[0], "acked", std::to_string(i)), std::to_string(i));
  for (int i = 0; i < 10; i++)
    Propose(*members_[0], "in.flight", "x", [](const std::string&, std::string) {});
  // The servers stop at once (a follower whose disk fails stops its
  // process, which would end the test), then whatever was not fsynced is
  // gone.
  for (auto& m : members_) Stop(*m);
  for (auto& m : members_) {
    m->env->Crash();
    m->files->log.reset();
    m->files->store->Close();
    m->files->store.reset();
    m->env->PowerLoss();
    m->fsm.Reset();
  }
  for (auto& m : members_) Start(*m, false);
  Replica* leader = nullptr;
  ASSERT_TRUE(WaitFor([&] { return (leader = Leader()) != nullptr; }));
  std::string seq = Publish(*leader, "after", "y");
  uint64_t n = std::strtoull(seq.c_str(), nullptr, 10);
  ASSERT_GE(n, 31u) << seq;
  ExpectSameMessages(n);
  for (auto& m : members_)
    for (int i = 1; i <= 30; i++) {
      auto msg = m->files->store->Load(i);
      ASSERT_TRUE(msg.ok()) << m->name << " seq " << i;
      EXPECT_EQ(msg.value.data, std::to_string(i)) << m->name;
    }
}

// A follower's disk fills: its group halts there (the process, this test,
// goes on; NuRaft would stop it), the two others go on committing, and
// once there is room again it opens from disk, as a replica revives, and
// catches up: every replica the same. Without Group::Halt the follower's
// NuRaft thread waited for ever for the failed batch.
TEST_F(StreamGroupTest, AFollowerWhoseDiskIsFullStopsAloneAndCatchesUpLater) {
  UseFaultEnvs();
  Form();
  for (int i = 1; i <= 10; i++) ASSERT_EQ(Publish(*members_[0], "before", std::to_string(i)), std::to_string(i));
  Replica& full = *members_[2];
  full.env->SetNoSpace(true);
  // An operation first: it writes the stub file alone (no message), whose
  // failure alone must stop the replica.
  std::promise<std::string> op;
  ASSERT_EQ(members_[0]->group->ProposeWithResult(StreamEntry::Op("op"),
                                                  [&op](const std::string& err, std::string) { op.set_value(err); }),
            "");
  ASSERT_EQ(op.get_future().get(), "");
  ASSERT_TRUE(WaitFor([&] { return !full.group->Halted().empty(); }));
  for (int i = 11; i <= 40; i++) ASSERT_EQ(Publish(*members_[0], "during", std::to_string(i)), std::to_string(i));
  EXPECT_FALSE(full.group->IsLeader());
  EXPECT_EQ(full.group->Leader(), "");
  EXPECT_LT(full.files->store->State().last_seq, 40u);
  ASSERT_EQ(Publish(*members_[0], "after", "41"), "41");

  Revive(full);
  ExpectSameMessages(41);
  EXPECT_TRUE(full.group->Halted().empty());
  // A member again: without the leader, the two others elect one.
  Stop(*members_[0]);
  Replica* leader = nullptr;
  ASSERT_TRUE(WaitFor([&] { return (leader = Leader()) != nullptr; }));
  ASSERT_EQ(Publish(*leader, "later", "42"), "42");
  EXPECT_EQ(full.files->store->State().last_seq, 42u);
}

// A follower's disk fills while nothing is published, and then an election
// comes (its leader gone): it cannot save the new term or its vote, so it
// halts (it must not vote) rather than stop the process (this test), and
// the group has no quorum until it is revived; then the two elect a leader
// and every replica catches up.
TEST_F(StreamGroupTest, AFollowerThatCannotSaveItsVoteStopsAloneUntilRevived) {
  UseFaultEnvs();
  Form();
  for (int i = 1; i <= 10; i++) ASSERT_EQ(Publish(*members_[0], "before", std::to_string(i)), std::to_string(i));
  Replica& full = *members_[2];
  full.env->SetNoSpace(true);
  Stop(*members_[0]);
  ASSERT_TRUE(WaitFor([&] { return !full.group->Halted().empty(); }));
  EXPECT_NE(full.group->Halted().find("term and vote"), std::string::npos) << full.group->Halted();
  EXPECT_EQ(Leader(), nullptr);

  Revive(full);
  Replica* leader = nullptr;
  ASSERT_TRUE(WaitFor([&] { return (leader = Leader()) != nullptr; }));
  ASSERT_EQ(Publish(*leader, "after", "11"), "11");
  Start(*members_[0], false);
  ExpectSameMessages(11);
}

// The leader's disk fills: the publish it takes fails (its stub file, or
// its store, cannot be written), its group halts, and the two others elect
// a leader that takes publishes; revived, the old leader drops what it
// stored but never logged and catches up.
TEST_F(StreamGroupTest, ALeaderWhoseDiskIsFullHandsOver) {
  UseFaultEnvs();
  Form();
  for (int i = 1; i <= 10; i++) ASSERT_EQ(Publish(*members_[0], "before", std::to_string(i)), std::to_string(i));
  Replica& full = *members_[0];
  full.env->SetNoSpace(true);
  // Refused, or cancelled as the group halts: never a sequence.
  std::string r = Publish(full, "lost", "x");
  EXPECT_EQ(r.rfind("error", 0), 0u) << r;
  ASSERT_TRUE(WaitFor([&] { return !full.group->Halted().empty(); }));
  EXPECT_FALSE(full.group->IsLeader());
  Replica* leader = nullptr;
  ASSERT_TRUE(WaitFor([&] { return (leader = Leader()) != nullptr; }));
  ASSERT_NE(leader, &full);
  // The failed publish may have reached the others before the halt (sent
  // from memory): then it is stored, as a publish that timed out may be.
  std::string seq = Publish(*leader, "after", "next");
  ASSERT_TRUE(seq == "11" || seq == "12") << seq;
  uint64_t n = std::stoull(seq);

  Revive(full);
  ExpectSameMessages(n);
  EXPECT_EQ(full.files->store->Load(n).value.data, "next");
}

}  // namespace
}  // namespace fjord::raft
