#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include <xxhash.h>

#include "store/coding.h"
#include "store/env.h"
#include "store/fault_env.h"
#include "store/group_commit.h"
#include "store/store.h"
#include "store/tests/store_test_util.h"

namespace fjord::store {
namespace {

using testing::SyncWait;
using testing::TempDir;

void ExpectSameState(const ConsumerState& a, const ConsumerState& b) {
  EXPECT_EQ(a.delivered_consumer, b.delivered_consumer);
  EXPECT_EQ(a.delivered_stream, b.delivered_stream);
  EXPECT_EQ(a.ack_floor_consumer, b.ack_floor_consumer);
  EXPECT_EQ(a.ack_floor_stream, b.ack_floor_stream);
  ASSERT_EQ(a.pending.size(), b.pending.size());
  for (const auto& [seq, p] : a.pending) {
    ASSERT_TRUE(b.pending.count(seq)) << seq;
    EXPECT_EQ(b.pending.at(seq).consumer_seq, p.consumer_seq);
    EXPECT_EQ(b.pending.at(seq).ts, p.ts);
    EXPECT_EQ(b.pending.at(seq).due, p.due);
  }
  EXPECT_EQ(a.redelivered, b.redelivered);
}

std::unique_ptr<ConsumerStore> OpenCs(Env* env, const std::string& dir, SyncMode m = SyncMode::kAlways) {
  auto r = OpenFileConsumerStore(env, dir, m);
  EXPECT_TRUE(r.ok()) << r.status.msg;
  return std::move(r.value);
}

TEST(FileConsumerStore, PersistsAcrossRestart) {
  TempDir tmp;
  std::string dir = tmp.path() + "/obs/C1";
  ConsumerState want;
  {
    auto cs = OpenCs(DefaultEnv(), dir);
    ASSERT_TRUE(cs->SetConfig(R"({"durable_name":"C1"})").ok());
    for (uint64_t i = 1; i <= 50; ++i) ASSERT_TRUE(cs->UpdateDelivered(i, i + 100, 1, 1000 + i).ok());
    ASSERT_TRUE(cs->UpdateDelivered(51, 105, 2, 2000).ok());
    for (uint64_t i = 1; i <= 20; ++i) ASSERT_TRUE(cs->UpdateAcks(i, i + 100).ok());
    want = cs->State();
    EXPECT_EQ(want.ack_floor_stream, 120u);
    EXPECT_EQ(want.ack_floor_consumer, 20u);
    EXPECT_EQ(want.pending.size(), 30u);
    EXPECT_EQ(want.redelivered.size(), 0u);  // 105 acked
    ASSERT_TRUE(cs->Close().ok());
  }
  auto cs = OpenCs(DefaultEnv(), dir);
  ExpectSameState(want, cs->State());
  EXPECT_EQ(cs->Config().value, R"({"durable_name":"C1"})");
  ASSERT_TRUE(cs->Delete().ok());
  EXPECT_FALSE(DefaultEnv()->Exists(dir));
}

TEST(FileConsumerStore, CompactsIntoSnapshot) {
  TempDir tmp;
  std::string dir = tmp.path() + "/c";
  ConsumerState want;
  {
    auto cs = OpenCs(DefaultEnv(), dir, SyncMode::kInterval);
    for (uint64_t i = 1; i <= 60000; ++i) {
      ASSERT_TRUE(cs->UpdateDelivered(i, i, 1, static_cast<int64_t>(i)).ok());
      if (i % 3 != 0) {
        ASSERT_TRUE(cs->UpdateAcks(i, i).ok());
      }
      if (i % 1000 == 0) {
        ASSERT_TRUE(SyncWait(*cs).ok());
      }
    }
    want = cs->State();
    EXPECT_EQ(want.pending.size(), 20000u);
    ASSERT_TRUE(cs->Close().ok());
  }
  EXPECT_TRUE(DefaultEnv()->Exists(dir + "/state.snap"));
  // The log was restarted by compaction, so it holds only recent records.
  auto names = DefaultEnv()->ListDir(dir).value;
  uint64_t log_bytes = 0;
  for (auto& n : names) {
    if (n.find(".log") != std::string::npos) log_bytes += DefaultEnv()->FileSize(dir + "/" + n).value;
  }
  EXPECT_LT(log_bytes, 4u << 20);
  auto cs = OpenCs(DefaultEnv(), dir);
  ExpectSameState(want, cs->State());
}

TEST(FileConsumerStore, ResetIsDurable) {
  TempDir tmp;
  FaultEnv env(DefaultEnv(), tmp.path());
  std::string dir = tmp.path() + "/c";
  ConsumerState st;
  st.delivered_consumer = 7;
  st.delivered_stream = 70;
  st.ack_floor_consumer = 5;
  st.ack_floor_stream = 50;
  st.pending[60] = {6, 123};
  st.redelivered[60] = 3;
  {
    auto cs = OpenCs(&env, dir);
    ASSERT_TRUE(cs->Reset(st).ok());
    env.Crash();
  }
  env.PowerLoss();
  auto cs = OpenCs(&env, dir);
  ExpectSameState(st, cs->State());
}

TEST(FileConsumerStore, PowerLossKeepsSyncedChanges) {
  TempDir tmp;
  FaultEnv env(DefaultEnv(), tmp.path());
  std::string dir = tmp.path() + "/c";
  ConsumerState synced;
  uint64_t dseq = 0;
  for (int round = 0; round < 5; ++round) {
    {
      auto cs = OpenCs(&env, dir);
      ExpectSameState(synced, cs->State());
      for (int i = 0; i < 30000; ++i) {
        ++dseq;
        ASSERT_TRUE(cs->UpdateDelivered(dseq, dseq, 1, 1).ok());
        if (dseq % 2) {
        ASSERT_TRUE(cs->UpdateAcks(dseq, dseq).ok());
      }
        if (i % 997 == 0) {
          ASSERT_TRUE(SyncWait(*cs).ok());
          synced = cs->State();
        }
      }
      ASSERT_TRUE(SyncWait(*cs).ok());
      synced = cs->State();
      // Unsynced changes: lost at the power cut.
      ASSERT_TRUE(cs->UpdateDelivered(dseq + 1, dseq + 1, 1, 1).ok());
      env.Crash();
    }
    env.PowerLoss();
  }
  auto cs = OpenCs(&env, dir);
  ExpectSameState(synced, cs->State());
}

TEST(FileConsumerStore, TornLogTailIsCut) {
  TempDir tmp;
  FaultEnv env(DefaultEnv(), tmp.path());
  std::string dir = tmp.path() + "/c";
  ConsumerState synced;
  {
    auto cs = OpenCs(&env, dir);
    ASSERT_TRUE(cs->UpdateDelivered(1, 1, 1, 1).ok());
    ASSERT_TRUE(SyncWait(*cs).ok());
    synced = cs->State();
    ASSERT_TRUE(cs->UpdateDelivered(2, 2, 1, 1).ok());
    ASSERT_TRUE(cs->UpdateDelivered(3, 3, 1, 1).ok());
    ASSERT_TRUE(SyncWait(*cs).ok());
    env.TearLastWrite(dir + "/state.1.log", 60);  // one record and a bit
    env.Crash();
  }
  env.PowerLoss();
  auto cs = OpenCs(&env, dir);
  EXPECT_EQ(cs->State().delivered_consumer, 2u);
  ASSERT_TRUE(cs->UpdateDelivered(3, 3, 1, 1).ok());
  ASSERT_TRUE(cs->Close().ok());
  cs = OpenCs(&env, dir);
  EXPECT_EQ(cs->State().delivered_consumer, 3u);
  EXPECT_EQ(cs->State().pending.size(), 3u);
}

// Three deliveries, fsynced, then an ack of 2, confirmed (Sync) or only
// written (Flush); the process dies, and a bit of the ack's record flips.
void DamagedAckAfterKill(FaultEnv& env, const std::string& dir, bool confirmed) {
  {
    auto cs = OpenCs(&env, dir);
    for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(cs->UpdateDelivered(i, i, 1, 1).ok());
    ASSERT_TRUE(SyncWait(*cs).ok());
    ASSERT_TRUE(cs->UpdateAcks(2, 2).ok());
    ASSERT_TRUE((confirmed ? SyncWait(*cs) : cs->Flush()).ok());
    env.Crash();
  }
  // Three delivery records of 48 bytes, then the ack's 32: a field's bit.
  ASSERT_TRUE(env.FlipBit(dir + "/state.1.log", 3 * 48 + 10, 2).ok());
}

// A confirmed ack (Sync returned) that is damaged on disk after kill -9 is
// not a torn write: the bytes are kept (reported in the log), the ack is
// lost (the message is delivered again), and what comes after is written
// after them. Before the synced mark, the record was cut as torn.
TEST(FileConsumerStore, DamagedConfirmedAckIsKeptNotCut) {
  TempDir tmp;
  FaultEnv env(DefaultEnv(), tmp.path());
  std::string dir = tmp.path() + "/c";
  std::string log = dir + "/state.1.log";
  DamagedAckAfterKill(env, dir, /*confirmed=*/true);
  {
    auto cs = OpenCs(DefaultEnv(), dir);
    EXPECT_EQ(cs->State().pending.count(2), 1u) << "the damaged ack cannot be read";
    EXPECT_EQ(cs->State().delivered_consumer, 3u);
    ASSERT_TRUE(cs->UpdateAcks(3, 3).ok());
    ASSERT_TRUE(SyncWait(*cs).ok());
    ASSERT_TRUE(cs->Close().ok());
  }
  std::string bytes;
  {
    auto f = DefaultEnv()->OpenExisting(log);
    ASSERT_TRUE(f.ok());
    bytes.resize(3 * 48 + 2 * 32);
    ASSERT_EQ(f.value->Read(0, bytes.size(), bytes.data()).value, bytes.size());
  }
  // The damaged ack record stays where it was; the ack of 3 comes after it.
  EXPECT_NE(DecodeU64(bytes.data() + 3 * 48 + 8), 3u) << "the damaged record was cut";
  EXPECT_EQ(DecodeU64(bytes.data() + 3 * 48 + 32 + 8), 3u);
  auto cs = OpenCs(DefaultEnv(), dir);
  EXPECT_EQ(cs->State().pending.count(2), 1u);
  EXPECT_EQ(cs->State().pending.count(3), 0u) << "the ack after the damage is read";
}

// Without a synced mark over it (written but never fsynced, as a crash
// leaves it), a bad last record is still a torn write, and cut.
TEST(FileConsumerStore, BadUnsyncedTailIsCut) {
  TempDir tmp;
  FaultEnv env(DefaultEnv(), tmp.path());
  std::string dir = tmp.path() + "/c";
  std::string log = dir + "/state.1.log";
  DamagedAckAfterKill(env, dir, /*confirmed=*/false);
  auto cs = OpenCs(DefaultEnv(), dir);
  EXPECT_EQ(cs->State().pending.count(2), 1u);
  ASSERT_TRUE(cs->UpdateAcks(3, 3).ok());
  ASSERT_TRUE(cs->Close().ok());
  cs = OpenCs(DefaultEnv(), dir);
  EXPECT_EQ(cs->State().pending.count(2), 1u);
  EXPECT_EQ(cs->State().pending.count(3), 0u);
  std::string bytes(32, '\0');
  auto f = DefaultEnv()->OpenExisting(log);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f.value->Read(3 * 48, 32, bytes.data()).value, 32u);
  uint32_t type = 0;
  std::memcpy(&type, bytes.data() + 4, 4);
  EXPECT_EQ(type, 2u) << "the ack of 3 took the cut record's place";
}

// kill -9 keeps whatever was written: every kind of change handed to the OS
// by Flush is there when the consumer is opened again, and nothing more.
TEST(FileConsumerStore, FlushedChangesSurviveKill) {
  for (SyncMode mode : {SyncMode::kAlways, SyncMode::kInterval}) {
    TempDir tmp;
    FaultEnv env(DefaultEnv(), tmp.path());
    std::string dir = tmp.path() + "/c";
    ConsumerState flushed;
    {
      auto cs = OpenCs(&env, dir, mode);
      for (uint64_t i = 1; i <= 10; ++i) ASSERT_TRUE(cs->UpdateDelivered(i, i, 1, 100 + i).ok());
      ASSERT_TRUE(cs->UpdateAcks(1, 1).ok());                 // +ACK
      ASSERT_TRUE(cs->UpdateDue(2, 5000).ok());               // -NAK with delay
      ASSERT_TRUE(cs->UpdateDelivered(11, 3, 2, 200).ok());   // a redelivery
      ASSERT_TRUE(cs->UpdateAcks(4, 4).ok());                 // +TERM
      ASSERT_TRUE(cs->UpdateDue(5, 7000).ok());               // +WPI
      ASSERT_TRUE(cs->Flush().ok());
      flushed = cs->State();
      // Told but never flushed: a kill now loses it.
      ASSERT_TRUE(cs->UpdateAcks(6, 6).ok());
      env.Crash();  // the process dies: nothing more reaches the files
    }
    EXPECT_EQ(flushed.pending.at(2).due, 5000);
    EXPECT_EQ(flushed.redelivered.at(3), 2u);
    // The kernel still has what was written: reopen without a power loss.
    auto cs = OpenCs(DefaultEnv(), dir, mode);
    ExpectSameState(flushed, cs->State());
  }
}

// A Flush queues an fsync on the shared group commit; a later Sync of any
// store on that group completes only after it ran, so a power loss then
// keeps every flushed change of every store.
TEST(FileConsumerStore, SharedGroupCommitSyncsFlushedStores) {
  TempDir tmp;
  FaultEnv env(DefaultEnv(), tmp.path());
  auto group = NewConsumerSync(SyncMode::kAlways, 0);
  ConsumerState a_state, b_state;
  uint64_t syncs_before = 0;
  {
    auto a = OpenFileConsumerStore(&env, tmp.path() + "/a", group).value;
    auto b = OpenFileConsumerStore(&env, tmp.path() + "/b", group).value;
    auto c = OpenFileConsumerStore(&env, tmp.path() + "/c", group).value;
    syncs_before = env.syncs();
    for (uint64_t i = 1; i <= 100; ++i) {
      ASSERT_TRUE(a->UpdateDelivered(i, i, 1, 1).ok());
      ASSERT_TRUE(b->UpdateDelivered(i, i * 2, 1, 1).ok());
      if (i % 2) {
        ASSERT_TRUE(b->UpdateAcks(i, i * 2).ok());
      }
    }
    ASSERT_TRUE(a->Flush().ok());
    ASSERT_TRUE(b->Flush().ok());
    a_state = a->State();
    b_state = b->State();
    ASSERT_TRUE(c->UpdateDelivered(1, 1, 1, 1).ok());
    ASSERT_TRUE(SyncWait(*c).ok());
    env.Crash();
  }
  EXPECT_GE(env.syncs() - syncs_before, 3u);
  env.PowerLoss();
  ExpectSameState(a_state, OpenCs(&env, tmp.path() + "/a")->State());
  ExpectSameState(b_state, OpenCs(&env, tmp.path() + "/b")->State());
}

// Stores written before `due` existed (snapshot version 1) still open.
TEST(FileConsumerStore, ReadsVersion1Snapshot) {
  TempDir tmp;
  std::string dir = tmp.path() + "/c";
  ASSERT_TRUE(CreateDirsDurably(DefaultEnv(), dir).ok());
  std::string snap;
  PutU32(&snap, 0x53434a46);  // "FJCS"
  PutU64(&snap, 1);           // generation
  for (uint64_t v : {9, 90, 7, 70}) PutU64(&snap, v);
  PutU64(&snap, 1);  // one pending: stream seq, consumer seq, ts
  for (uint64_t v : {80, 8, 1234}) PutU64(&snap, v);
  PutU64(&snap, 1);  // one redelivered: stream seq, count
  for (uint64_t v : {80, 3}) PutU64(&snap, v);
  PutU64(&snap, XXH64(snap.data(), snap.size(), 0));
  ASSERT_TRUE(WriteFileDurably(DefaultEnv(), dir + "/state.snap", snap).ok());
  auto cs = OpenCs(DefaultEnv(), dir);
  auto st = cs->State();
  EXPECT_EQ(st.delivered_consumer, 9u);
  EXPECT_EQ(st.ack_floor_stream, 70u);
  ASSERT_EQ(st.pending.size(), 1u);
  EXPECT_EQ(st.pending.at(80).ts, 1234);
  EXPECT_EQ(st.pending.at(80).due, 0);
  EXPECT_EQ(st.redelivered.at(80), 3u);
  // The next compaction writes version 2, which opens too.
  ASSERT_TRUE(cs->UpdateDue(80, 99).ok());
  ASSERT_TRUE(cs->Reset(cs->State()).ok());
  ASSERT_TRUE(cs->Close().ok());
  EXPECT_EQ(OpenCs(DefaultEnv(), dir)->State().pending.at(80).due, 99);
}

bool SameState(const ConsumerState& a, const ConsumerState& b) {
  if (a.delivered_consumer != b.delivered_consumer || a.delivered_stream != b.delivered_stream ||
      a.ack_floor_consumer != b.ack_floor_consumer || a.ack_floor_stream != b.ack_floor_stream ||
      a.redelivered != b.redelivered || a.pending.size() != b.pending.size()) {
    return false;
  }
  for (const auto& [seq, p] : a.pending) {
    auto it = b.pending.find(seq);
    if (it == b.pending.end() || it->second.consumer_seq != p.consumer_seq || it->second.ts != p.ts ||
        it->second.due != p.due) {
      return false;
    }
  }
  return true;
}

// The crash model at the store level: random histories of deliveries, acks,
// due times and resets, with Flush (end of a batch) and Sync (a confirmed
// ack) in between, cut by a kill -9 or a power loss. What opens afterwards is
// the state after some prefix of the history: at least everything flushed
// (kill) or synced (power loss), at most everything told.
TEST(FileConsumerStore, RandomHistoriesSurviveKillAndPowerLoss) {
  for (uint64_t seed = 1; seed <= 24; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    TempDir tmp;
    FaultEnv env(DefaultEnv(), tmp.path());
    std::string dir = tmp.path() + "/c";
    bool power_loss = seed % 2 == 0;
    // kInterval: Sync means written, so only a Reset's snapshot is sure to
    // outlive a power loss (the interval fsync may or may not have run).
    SyncMode mode = seed % 3 == 0 ? SyncMode::kInterval : SyncMode::kAlways;
    std::vector<ConsumerState> history{ConsumerState{}};
    size_t floor = 0;  // the prefix that must survive
    {
      auto cs = OpenCs(&env, dir, mode);
      uint64_t dseq = 0, sseq = 0;
      int ops = 200 + int(rng() % 800);
      for (int i = 0; i < ops; ++i) {
        auto st = cs->State();
        int r = int(rng() % 100);
        if (r < 45 || st.pending.empty()) {
          ++dseq;
          bool again = !st.pending.empty() && rng() % 5 == 0;
          uint64_t seq = again ? st.pending.begin()->first : (sseq += 1 + rng() % 2);
          ASSERT_TRUE(cs->UpdateDelivered(dseq, seq, again ? 2 : 1, int64_t(i)).ok());
        } else if (r < 85) {
          auto it = st.pending.begin();
          std::advance(it, rng() % st.pending.size());
          ASSERT_TRUE(cs->UpdateAcks(it->second.consumer_seq, it->first).ok());
        } else if (r < 97) {
          ASSERT_TRUE(cs->UpdateDue(st.pending.begin()->first, int64_t(1000 + i)).ok());
        } else {
          ASSERT_TRUE(cs->Reset(st).ok());  // a purge rewrites the state durably
          history.push_back(cs->State());
          floor = history.size() - 1;
          continue;
        }
        history.push_back(cs->State());
        if (rng() % 10 == 0) {
          ASSERT_TRUE(cs->Flush().ok());
          if (!power_loss) floor = history.size() - 1;
        }
        if (rng() % 40 == 0) {
          ASSERT_TRUE(SyncWait(*cs).ok());
          if (!power_loss || mode == SyncMode::kAlways) floor = history.size() - 1;
        }
      }
      env.Crash();
    }
    ConsumerState got;
    if (power_loss) {
      env.PowerLoss();
      got = OpenCs(&env, dir)->State();
    } else {
      got = OpenCs(DefaultEnv(), dir)->State();  // the kernel kept what was written
    }
    bool found = false;
    for (size_t p = floor; p < history.size() && !found; ++p) found = SameState(history[p], got);
    EXPECT_TRUE(found) << "recovered state is no prefix of the history at or after op " << floor << " of "
                       << history.size() - 1 << " (" << (power_loss ? "power loss" : "kill") << ")";
  }
}

// The memory and file consumer stores apply the same random history the same
// way, and the file store recovers it.
// A redelivery gives a message a newer consumer sequence, so the consumer
// floor follows the lowest consumer sequence still pending, which need not be
// the one of the lowest stream sequence.
TEST(ConsumerStores, AckFloorUnderRedelivery) {
  TempDir tmp;
  auto mem = NewMemConsumerStore();
  auto file = OpenCs(DefaultEnv(), tmp.path() + "/c");
  for (ConsumerStore* cs : {mem.get(), file.get()}) {
    for (uint64_t i = 1; i <= 4; ++i) ASSERT_TRUE(cs->UpdateDelivered(i, i, 1, 10).ok());
    ASSERT_TRUE(cs->UpdateDelivered(5, 2, 2, 20).ok());  // stream seq 2 again
    ASSERT_TRUE(cs->UpdateAcks(1, 1).ok());
    auto st = cs->State();
    EXPECT_EQ(st.ack_floor_stream, 1u);
    EXPECT_EQ(st.ack_floor_consumer, 2u);  // 3 (stream seq 3) is the lowest pending
    ASSERT_TRUE(cs->UpdateAcks(5, 2).ok());
    st = cs->State();
    EXPECT_EQ(st.ack_floor_stream, 2u);
    EXPECT_EQ(st.ack_floor_consumer, 2u);
    ASSERT_TRUE(cs->UpdateAcks(3, 3).ok());
    ASSERT_TRUE(cs->UpdateAcks(4, 4).ok());
    st = cs->State();
    EXPECT_EQ(st.ack_floor_stream, 4u);
    EXPECT_EQ(st.ack_floor_consumer, 5u);
    EXPECT_TRUE(st.pending.empty());
  }
}

TEST(ConsumerStores, SameStateForSameHistory) {
  TempDir tmp;
  auto mem = NewMemConsumerStore();
  auto file = OpenCs(DefaultEnv(), tmp.path() + "/c");
  std::mt19937_64 rng(3);
  uint64_t dseq = 0, sseq = 0;
  for (int i = 0; i < 5000; ++i) {
    if (rng() % 3 != 0) {
      ++dseq;
      sseq += 1 + rng() % 3;
      uint64_t dc = rng() % 5 == 0 ? 2 + rng() % 3 : 1;
      ASSERT_TRUE(mem->UpdateDelivered(dseq, sseq, dc, i).ok());
      ASSERT_TRUE(file->UpdateDelivered(dseq, sseq, dc, i).ok());
    } else {
      auto st = mem->State();
      if (st.pending.empty()) continue;
      auto it = st.pending.begin();
      std::advance(it, rng() % st.pending.size());
      if (rng() % 4 == 0) {
        int64_t due = i * 10;
        ASSERT_TRUE(mem->UpdateDue(it->first, due).ok());
        ASSERT_TRUE(file->UpdateDue(it->first, due).ok());
        continue;
      }
      ASSERT_TRUE(mem->UpdateAcks(it->second.consumer_seq, it->first).ok());
      ASSERT_TRUE(file->UpdateAcks(it->second.consumer_seq, it->first).ok());
    }
  }
  ExpectSameState(mem->State(), file->State());
  ASSERT_TRUE(file->Close().ok());
  file = OpenCs(DefaultEnv(), tmp.path() + "/c");
  ExpectSameState(mem->State(), file->State());
}

}  // namespace
}  // namespace fjord::store
