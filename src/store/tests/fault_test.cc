// FileStore under FaultEnv: power loss, full disk, torn writes, bit flips.
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "store/compressed_block.h"
#include "store/fault_env.h"
#include "store/record.h"
#include "store/store.h"
#include "store/tests/store_test_util.h"

namespace fjord::store {
namespace {

using testing::SyncWait;
using testing::TempDir;

class FaultTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path() + "/streams/S"; }
  std::string block(int id) const {
    char name[32];
    std::snprintf(name, sizeof name, "/msgs/%06d.blk", id);
    return dir() + name;
  }

  std::unique_ptr<Store> Open(SyncMode mode, uint64_t block_size = 4096) {
    FileStoreOptions o;
    o.dir = dir();
    o.sync = mode;
    o.sync_interval_ns = 60'000'000'000;  // never fires during a test
    o.block_size = block_size;
    auto r = OpenFileStore(&env_, o, {});
    EXPECT_TRUE(r.ok()) << r.status.msg;
    return std::move(r.value);
  }

  // The process dies with `s` open, then the machine loses power.
  void CrashAndReboot(std::unique_ptr<Store>& s) {
    env_.Crash();
    s.reset();
    env_.PowerLoss();
  }

  // The process dies with `s` open (kill -9) and starts again: what it
  // wrote is kept, synced or not.
  void KillAndRestart(std::unique_ptr<Store>& s) {
    env_.Crash();
    s.reset();
    env_.Restart();
  }

  TempDir tmp_;
  FaultEnv env_{DefaultEnv(), tmp_.path()};
};

std::string Payload(uint64_t seq) { return "payload-" + std::to_string(seq * 7919); }

// Where each message record of a block file is, by sequence: {offset, length}.
std::map<uint64_t, std::pair<uint64_t, uint64_t>> MessageRecords(const std::string& path) {
  auto raw = ReadFileToString(DefaultEnv(), path);
  EXPECT_TRUE(raw.ok()) << path;
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> out;
  ScanRecords(raw.value, 0, 0, [&](uint64_t off, const RecordView& r) {
    if (r.type == RecordType::kMsg) out[r.seq] = {off, r.len};
  });
  return out;
}

TEST_F(FaultTest, PowerLossKeepsExactlyWhatWasSynced) {
  std::mt19937_64 rng(7);
  std::map<uint64_t, std::string> acked;  // live at the last successful Sync
  std::set<uint64_t> removed_acked;       // removals confirmed by a Sync
  std::set<uint64_t> removed_since;       // removals after the last Sync
  std::map<uint64_t, std::string> appended_since;
  uint64_t acked_last = 0;
  for (int round = 0; round < 12; ++round) {
    auto s = Open(SyncMode::kAlways);
    // Everything acknowledged survived; nothing removed and acknowledged
    // came back; nothing is corrupt.
    auto st = s->State();
    ASSERT_GE(st.last_seq, acked_last);
    for (uint64_t q = 1; q <= st.last_seq; ++q) {
      auto m = s->Load(q);
      ASSERT_NE(m.status.code, Errc::kCorrupt) << q;
      if (acked.count(q) && !removed_since.count(q)) {
        ASSERT_TRUE(m.ok()) << "acked seq " << q << " lost in round " << round;
      }
      if (removed_acked.count(q)) {
        ASSERT_FALSE(m.ok()) << "removed seq " << q << " is back";
      }
      if (m.ok()) {
        std::string want = acked.count(q) ? acked[q] : appended_since[q];
        ASSERT_EQ(m.value.data, want) << q;
        ASSERT_EQ(m.value.subject, "sub." + std::to_string(q % 5));
      }
    }
    // Adopt what recovery shows as the new acknowledged baseline.
    acked.clear();
    removed_since.clear();
    appended_since.clear();
    for (uint64_t q = st.first_seq; q <= st.last_seq; ++q) {
      if (auto m = s->Load(q); m.ok()) {
        acked[q] = m.value.data;
      } else {
        removed_acked.insert(q);
      }
    }
    acked_last = st.last_seq;
    int ops = 200 + static_cast<int>(rng() % 300);
    for (int i = 0; i < ops; ++i) {
      if (rng() % 5 == 0 && !acked.empty()) {
        auto it = acked.begin();
        std::advance(it, rng() % acked.size());
        if (!removed_since.count(it->first)) {
          ASSERT_TRUE(s->Remove(it->first, rng() % 2).ok());
          removed_since.insert(it->first);
        }
      } else {
        uint64_t q = s->State().last_seq + 1;
        auto r = s->Append("sub." + std::to_string(q % 5), "", Payload(q), 1);
        ASSERT_TRUE(r.ok());
        ASSERT_EQ(r.value, q);
        appended_since[q] = Payload(q);
      }
      if (rng() % 40 == 0) {
        ASSERT_TRUE(SyncWait(*s).ok());
        for (auto& [q, d] : appended_since) acked[q] = d;
        for (auto q : removed_since) {
          acked.erase(q);
          removed_acked.insert(q);
        }
        appended_since.clear();
        removed_since.clear();
        acked_last = s->State().last_seq;
      }
    }
    CrashAndReboot(s);
  }
}

TEST_F(FaultTest, NoSpaceThenRecovery) {
  auto s = Open(SyncMode::kAlways);
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(s->Append("a", "", Payload(i), i).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  uint64_t size_before = env_.FileSize(block(1)).value;

  env_.SetNoSpace(true);
  ASSERT_TRUE(s->Append("a", "", Payload(11), 11).ok());  // buffered
  ASSERT_TRUE(s->Remove(3, false).ok());                  // buffered
  EXPECT_EQ(SyncWait(*s).code, Errc::kNoSpace);
  // The short write was cut back (with the space zeroed ahead of the
  // writer) and what it carried is gone: the store is what the disk holds.
  EXPECT_LE(env_.FileSize(block(1)).value, size_before);
  EXPECT_EQ(s->State().last_seq, 10u);
  EXPECT_EQ(s->Load(11).status.code, Errc::kNotFound);
  EXPECT_TRUE(s->Load(3).ok());
  // While the disk is full an append fails with nothing stored.
  auto r = s->Append("a", "", Payload(11), 11);
  EXPECT_EQ(r.status.code, Errc::kNoSpace);
  EXPECT_EQ(s->State().last_seq, 10u);
  EXPECT_EQ(s->State().msgs, 10u);
  EXPECT_LE(env_.FileSize(block(1)).value, size_before);
  EXPECT_TRUE(s->Load(5).ok());  // earlier data untouched

  env_.SetNoSpace(false);
  r = s->Append("a", "", Payload(11), 11);
  ASSERT_TRUE(r.ok()) << r.status.msg;
  EXPECT_EQ(r.value, 11u);
  ASSERT_TRUE(s->Append("a", "", Payload(12), 12).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  CrashAndReboot(s);

  s = Open(SyncMode::kAlways);
  auto st = s->State();
  EXPECT_EQ(st.msgs, 12u);
  for (uint64_t q = 1; q <= 12; ++q) {
    auto m = s->Load(q);
    ASSERT_TRUE(m.ok()) << q;
    EXPECT_EQ(m.value.data, Payload(q));
  }
}

TEST_F(FaultTest, FailedRollStoresNothing) {
  auto s = Open(SyncMode::kAlways, 1024);
  while (!env_.Exists(block(2))) ASSERT_TRUE(s->Append("a", "", std::string(100, 'x'), 1).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  uint64_t synced = s->State().last_seq;
  env_.SetIoError(true);
  Status err;
  for (int i = 0; i < 20 && err.ok(); ++i) err = s->Append("a", "", std::string(100, 'y'), 1).status;
  EXPECT_EQ(err.code, Errc::kIo);
  // Nothing unsynced survives a failed write.
  EXPECT_EQ(s->State().last_seq, synced);
  env_.SetIoError(false);
  ASSERT_TRUE(s->Append("a", "", "z", 1).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  ASSERT_TRUE(s->Close().ok());
  s = Open(SyncMode::kAlways, 1024);
  EXPECT_EQ(s->State().last_seq, synced + 1);
  EXPECT_EQ(s->Load(synced + 1).value.data, "z");
  EXPECT_EQ(s->State().msgs, synced + 1);
}

TEST_F(FaultTest, TornTailIsCut) {
  auto s = Open(SyncMode::kInterval, 1 << 20);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(s->Append("t", "", Payload(i), i).ok());
  ASSERT_TRUE(s->Close().ok());  // durable
  s = Open(SyncMode::kInterval, 1 << 20);
  for (int i = 6; i <= 8; ++i) ASSERT_TRUE(s->Append("t", "", Payload(i), i).ok());
  ASSERT_TRUE(SyncWait(*s).ok());  // written in one write(), not synced
  uint64_t rec6 = MessageRecords(block(1))[6].second;
  ASSERT_GT(rec6, Payload(6).size());
  env_.TearLastWrite(block(1), rec6 + 10);
  CrashAndReboot(s);

  s = Open(SyncMode::kInterval, 1 << 20);
  auto st = s->State();
  EXPECT_EQ(st.last_seq, 6u);
  EXPECT_EQ(st.msgs, 6u);
  EXPECT_EQ(s->Load(6).value.data, Payload(6));
  auto r = s->Append("t", "", "again", 9);
  EXPECT_EQ(r.value, 7u);
  ASSERT_TRUE(s->Close().ok());
  s = Open(SyncMode::kInterval, 1 << 20);
  EXPECT_EQ(s->State().msgs, 7u);
  EXPECT_EQ(s->Load(7).value.data, "again");
}

// kill -9 after the last message was fsynced (and so acknowledged), then
// damage to that last record: a bit flip, or its bytes zeroed. Recovery
// must not take it for a torn write and cut it silently: it keeps the
// bytes, says so (LostAtOpen, with the sequence the header names), and
// the store goes on after them.
TEST_F(FaultTest, DamagedSyncedTailIsKeptAndReported) {
  for (bool zero : {false, true}) {
    SCOPED_TRACE(zero ? "zeroed" : "bit flip");
    auto s = Open(SyncMode::kAlways, 1 << 20);
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(s->Append("f", "", Payload(i), i).ok());
    ASSERT_TRUE(SyncWait(*s).ok());
    KillAndRestart(s);
    auto [off, len] = MessageRecords(block(1))[5];
    uint64_t size = env_.FileSize(block(1)).value;  // zeroed ahead: more than off + len
    if (zero) {
      auto f = env_.OpenExisting(block(1));
      ASSERT_TRUE(f.ok());
      ASSERT_TRUE(f.value->Write(off, std::string(len, '\0')).ok());
    } else {
      ASSERT_TRUE(env_.FlipBit(block(1), off + len - 10, 3).ok());
    }

    s = Open(SyncMode::kAlways, 1 << 20);
    auto lost = s->LostAtOpen();
    ASSERT_TRUE(lost.has_value());
    EXPECT_NE(lost->why.find("below the"), std::string::npos) << lost->why;
    // A zeroed record names nothing: each kMinRecord of it may have been a
    // record, so all those sequences count as possibly given out.
    EXPECT_EQ(lost->last_named, zero ? 4u + len / kMinRecord : 5u);
    EXPECT_EQ(s->State().last_seq, 4u);
    EXPECT_EQ(env_.FileSize(block(1)).value, size);  // kept
    for (uint64_t q = 1; q <= 4; ++q) EXPECT_EQ(s->Load(q).value.data, Payload(q)) << q;
    // The caller decides what the sequence becomes; the store goes on
    // after the damaged bytes, which later opens skip as damage.
    ASSERT_TRUE(s->SkipMsg().ok());
    ASSERT_EQ(s->Append("f", "", "after", 6).value, 6u);
    ASSERT_TRUE(SyncWait(*s).ok());
    KillAndRestart(s);
    s = Open(SyncMode::kAlways, 1 << 20);
    EXPECT_FALSE(s->LostAtOpen().has_value());
    EXPECT_EQ(s->State().last_seq, 6u);
    EXPECT_EQ(s->Load(6).value.data, "after");
    EXPECT_EQ(s->Load(4).value.data, Payload(4));
    ASSERT_TRUE(s->Delete().ok());
  }
}

// A last block cut short below what was fsynced (truncation, not a torn
// write) is reported the same way.
TEST_F(FaultTest, TruncatedSyncedTailIsReported) {
  auto s = Open(SyncMode::kAlways, 1 << 20);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(s->Append("f", "", Payload(i), i).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  KillAndRestart(s);
  auto [off, len] = MessageRecords(block(1))[5];
  {
    auto f = env_.OpenExisting(block(1));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f.value->Truncate(off).ok());
  }
  s = Open(SyncMode::kAlways, 1 << 20);
  auto lost = s->LostAtOpen();
  ASSERT_TRUE(lost.has_value());
  EXPECT_NE(lost->why.find("shorter than"), std::string::npos) << lost->why;
  EXPECT_EQ(lost->last_named, 4u + len / kMinRecord);
  EXPECT_EQ(s->State().last_seq, 4u);
}

// A bit flip in the sequence of a damaged synced record cannot make the
// caller skip more sequences than the damaged bytes can have held.
TEST_F(FaultTest, DamagedSequenceIsBoundedByTheDamagedBytes) {
  auto s = Open(SyncMode::kAlways, 1 << 20);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(s->Append("f", "", Payload(i), i).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  KillAndRestart(s);
  auto [off, len] = MessageRecords(block(1))[5];
  // One-byte length and type, then the sequence: 5 becomes 5 + 2^6.
  ASSERT_LT(len, 128u);
  ASSERT_TRUE(env_.FlipBit(block(1), off + 2, 6).ok());
  s = Open(SyncMode::kAlways, 1 << 20);
  auto lost = s->LostAtOpen();
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ(lost->last_named, 5u) << "one record's bytes name one sequence";
  EXPECT_EQ(s->State().last_seq, 4u);
}

// What was written after the last fsync and torn by the crash is still cut
// as before: it was never acknowledged.
TEST_F(FaultTest, TornTailAboveTheSyncedMarkIsCut) {
  auto s = Open(SyncMode::kAlways, 1 << 20);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(s->Append("f", "", Payload(i), i).ok());
  ASSERT_TRUE(s->Close().ok());
  s = Open(SyncMode::kInterval, 1 << 20);
  for (int i = 6; i <= 8; ++i) ASSERT_TRUE(s->Append("f", "", Payload(i), i).ok());
  ASSERT_TRUE(SyncWait(*s).ok());  // written, not synced
  KillAndRestart(s);
  auto [off, len] = MessageRecords(block(1))[7];
  {
    auto f = env_.OpenExisting(block(1));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f.value->Truncate(off + len / 2).ok());
  }
  s = Open(SyncMode::kAlways, 1 << 20);
  EXPECT_FALSE(s->LostAtOpen().has_value());
  EXPECT_EQ(s->State().last_seq, 6u);
  EXPECT_EQ(env_.FileSize(block(1)).value, off);
}

class BitFlipTest : public FaultTest, public ::testing::WithParamInterface<bool> {};

// Flip a bit inside message 10 of 20 (payload or length field); with and
// without the block's index file.
TEST_P(BitFlipTest, MiddleCorruptionKeepsLaterRecords) {
  bool keep_index = GetParam();
  // A payload byte (10 from the end: 8 are the checksum), then the length.
  for (bool in_payload : {true, false}) {
    {
      auto s = Open(SyncMode::kAlways, 1 << 20);
      for (int i = 1; i <= 20; ++i) ASSERT_TRUE(s->Append("f", "", Payload(i), i).ok());
      ASSERT_TRUE(s->Close().ok());
    }
    if (!keep_index) {
      ASSERT_TRUE(env_.RemoveFile(dir() + "/msgs/000001.idx").ok());
    }
    auto [off, len] = MessageRecords(block(1))[10];
    ASSERT_GT(off, 0u);
    ASSERT_TRUE(env_.FlipBit(block(1), in_payload ? off + len - 10 : off, 3).ok());

    auto s = Open(SyncMode::kAlways, 1 << 20);
    auto m = s->Load(10);
    EXPECT_FALSE(m.ok());
    if (keep_index) {
      EXPECT_EQ(m.status.code, Errc::kCorrupt);
    }
    for (uint64_t q = 1; q <= 20; ++q) {
      if (q == 10) continue;
      auto r = s->Load(q);
      ASSERT_TRUE(r.ok()) << q;
      EXPECT_EQ(r.value.data, Payload(q));
    }
    EXPECT_EQ(s->State().last_seq, 20u);
    // The damaged block is not truncated or removed.
    EXPECT_TRUE(env_.Exists(block(1)));
    ASSERT_TRUE(s->Delete().ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Index, BitFlipTest, ::testing::Bool());

// A damaged message record is named by the loads that meet it, and a good
// copy (another replica's) writes it again, in place and durably; a copy
// that is not the same message is refused.
TEST_F(FaultTest, RepairRewritesADamagedRecordFromACopy) {
  {
    auto s = Open(SyncMode::kAlways, 1 << 20);
    for (int i = 1; i <= 20; ++i) ASSERT_TRUE(s->Append("f", "", Payload(i), i).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  auto [off, len] = MessageRecords(block(1))[10];
  ASSERT_TRUE(env_.FlipBit(block(1), off + len - 10, 3).ok());

  auto s = Open(SyncMode::kAlways, 1 << 20);
  auto m = s->Load(10);
  EXPECT_EQ(m.status.code, Errc::kCorrupt);
  EXPECT_EQ(m.value.seq, 10u);
  auto next = s->LoadNext(">", 9);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value.seq, 9u);
  next = s->LoadNext(">", 10);
  EXPECT_EQ(next.status.code, Errc::kCorrupt);
  EXPECT_EQ(next.value.seq, 10u);  // which one could not be read

  StoredMsg copy{10, 10, "f", "", Payload(10)};
  StoredMsg other = copy;
  other.data += "x";
  EXPECT_EQ(s->Repair(other).code, Errc::kInvalid);
  EXPECT_EQ(s->Load(10).status.code, Errc::kCorrupt);
  ASSERT_TRUE(s->Repair(copy).ok());
  EXPECT_EQ(s->Load(10).value.data, Payload(10));
  ASSERT_TRUE(s->Repair({11, 11, "f", "", Payload(11)}).ok());  // intact: nothing to do
  EXPECT_EQ(s->Repair({21, 21, "f", "", "y"}).code, Errc::kNotFound);

  // Durable: a power loss right after keeps the repaired record.
  CrashAndReboot(s);
  s = Open(SyncMode::kAlways, 1 << 20);
  for (uint64_t q = 1; q <= 20; ++q) EXPECT_EQ(s->Load(q).value.data, Payload(q)) << q;
}

// The scrub (Verify) reads every message back without being asked for any:
// it names damaged records in sealed blocks and in the one being written,
// goes on after them, and stops near its byte budget where the next call
// resumes. A memory store has nothing to check.
TEST_F(FaultTest, VerifyNamesDamagedRecordsAndResumes) {
  {
    auto s = Open(SyncMode::kAlways, 512);  // several blocks
    for (int i = 1; i <= 40; ++i) ASSERT_TRUE(s->Append("f", "", Payload(i), i).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  int last_block = 1;
  while (env_.Exists(block(last_block + 1))) last_block++;
  ASSERT_GE(last_block, 2);
  auto recs = MessageRecords(block(last_block));
  ASSERT_GE(recs.size(), 2u);
  uint64_t in_last = recs.begin()->first;  // not its last record: no torn tail
  ASSERT_TRUE(env_.FlipBit(block(last_block), recs.begin()->second.first + 10, 0).ok());
  ASSERT_TRUE(env_.FlipBit(block(1), MessageRecords(block(1))[4].first + 10, 2).ok());
  auto s = Open(SyncMode::kAlways, 512);
  ASSERT_TRUE(s->Append("f", "", Payload(41), 41).ok());

  std::vector<uint64_t> damaged;
  auto all = s->Verify(1, 1 << 20, &damaged);
  ASSERT_TRUE(all.ok()) << all.status.msg;
  EXPECT_EQ(all.value, 42u) << "past the last sequence: done";
  EXPECT_EQ(damaged, (std::vector<uint64_t>{4, in_last}));
  // A small budget: the same two found over several calls, each going on
  // where the last stopped.
  std::vector<uint64_t> again;
  int calls = 0;
  for (uint64_t from = 1; from <= 41 && calls < 100; calls++) {
    auto r = s->Verify(from, 64, &again);
    ASSERT_TRUE(r.ok());
    ASSERT_GT(r.value, from);
    from = r.value;
  }
  EXPECT_GT(calls, 5);
  EXPECT_EQ(again, damaged);

  auto mem = NewMemStore({});
  ASSERT_TRUE(mem->Append("f", "", "x", 1).ok());
  std::vector<uint64_t> none;
  EXPECT_EQ(mem->Verify(1, 1 << 20, &none).value, 2u);
  EXPECT_TRUE(none.empty());
}

// A block whose block-start record (its base timestamp) is damaged and
// whose index is gone: every message still loads, with its sequence,
// subject and payload; only timestamps may be off.
TEST_F(FaultTest, DamagedBlockStartKeepsMessages) {
  {
    auto s = Open(SyncMode::kAlways, 1 << 20);
    for (int i = 1; i <= 20; ++i) ASSERT_TRUE(s->Append("f", "", Payload(i), 1'764'900'000'000'000'000 + i).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  ASSERT_TRUE(env_.RemoveFile(dir() + "/msgs/000001.idx").ok());
  ASSERT_TRUE(env_.RemoveFile(dir() + "/msgs/summary").ok());
  ASSERT_TRUE(env_.FlipBit(block(1), 3, 1).ok());
  auto s = Open(SyncMode::kAlways, 1 << 20);
  EXPECT_EQ(s->State().msgs, 20u);
  for (uint64_t q = 1; q <= 20; ++q) {
    auto r = s->Load(q);
    ASSERT_TRUE(r.ok()) << q;
    EXPECT_EQ(r.value.data, Payload(q));
    EXPECT_EQ(r.value.subject, "f");
  }
  EXPECT_TRUE(s->Append("f", "", "after", 1'764'900'000'000'000'100).ok());
}

// A store written in record format 1 (fixed 40-byte headers) is refused
// with an error that says so, and left as it is: read as format 2 it would
// look like damage and its last block would be cut.
TEST_F(FaultTest, Format1StoreIsRefusedUntouched) {
  ASSERT_TRUE(CreateDirsDurably(&env_, dir() + "/msgs").ok());
  std::string old(40, '\0');
  old[0] = 0x28;
  old[6] = 0x05;
  old += std::string(100, 'x');
  {
    auto f = env_.Open(block(1));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f.value->Append(old).ok());
    ASSERT_TRUE(f.value->Sync().ok());
  }
  FileStoreOptions o;
  o.dir = dir();
  auto r = OpenFileStore(&env_, o, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.msg.find("record format 1"), std::string::npos) << r.status.msg;
  auto raw = ReadFileToString(&env_, block(1));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw.value, old);
}

TEST_F(FaultTest, DeletesSurvivePowerLoss) {
  auto s = Open(SyncMode::kAlways, 1024);
  for (int i = 1; i <= 100; ++i) ASSERT_TRUE(s->Append("d." + std::to_string(i % 3), "", Payload(i), i).ok());
  ASSERT_TRUE(s->Remove(50, false).ok());
  ASSERT_TRUE(s->Remove(1, true).ok());
  ASSERT_EQ(s->Purge("d.0", 0, 0).value, 33u);
  ASSERT_EQ(s->Purge("", 20, 0).value, 12u);
  ASSERT_TRUE(SyncWait(*s).ok());
  auto want = s->State();
  CrashAndReboot(s);
  s = Open(SyncMode::kAlways, 1024);
  auto st = s->State();
  EXPECT_EQ(st.msgs, want.msgs);
  EXPECT_EQ(st.first_seq, want.first_seq);
  EXPECT_EQ(st.last_seq, want.last_seq);
  EXPECT_EQ(st.bytes, want.bytes);
  EXPECT_FALSE(s->Load(50).ok());
  EXPECT_FALSE(s->Load(3).ok());
  EXPECT_TRUE(s->Subjects("d.0").empty());

  // Purge everything: old blocks go, the sequence survives.
  ASSERT_TRUE(s->Purge("", 0, 0).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  CrashAndReboot(s);
  s = Open(SyncMode::kAlways, 1024);
  st = s->State();
  EXPECT_EQ(st.msgs, 0u);
  EXPECT_EQ(st.last_seq, 100u);
  EXPECT_EQ(st.first_seq, 101u);
  auto names = env_.ListDir(dir() + "/msgs").value;
  size_t blocks = 0;
  for (auto& n : names) blocks += n.find(".blk") != std::string::npos;
  EXPECT_EQ(blocks, 1u);
}

TEST_F(FaultTest, MetaAndDeleteAreDurable) {
  auto s = Open(SyncMode::kAlways);
  ASSERT_TRUE(s->WriteMeta(R"({"name":"S"})").ok());
  CrashAndReboot(s);
  EXPECT_EQ(ReadStreamMeta(&env_, dir()).value, R"({"name":"S"})");
  s = Open(SyncMode::kAlways);
  ASSERT_TRUE(s->Append("a", "", "b", 1).ok());
  ASSERT_TRUE(s->WriteMeta(R"({"name":"S","v":2})").ok());
  ASSERT_TRUE(s->Delete().ok());
  env_.Crash();
  s.reset();
  env_.PowerLoss();
  EXPECT_FALSE(env_.Exists(dir()));
  EXPECT_TRUE(env_.Exists(tmp_.path() + "/streams"));
}

// A caller that waits for its sync anyway (a replica's follower) runs the
// fsync itself: what it appended survives a power loss, and a failed fsync
// breaks the store as one on the sync thread does. Interval mode syncs on
// its thread only.
TEST_F(FaultTest, SyncHereRunsTheFsyncOnTheCallingThread) {
  EXPECT_FALSE(Open(SyncMode::kInterval)->PrepareSyncHere());
  auto s = Open(SyncMode::kAlways);
  ASSERT_TRUE(s->Append("h", "", "kept", 1).ok());
  auto sync = s->PrepareSyncHere();
  ASSERT_TRUE(sync);
  uint64_t before = env_.syncs();
  ASSERT_TRUE((*sync)().ok());
  EXPECT_EQ(env_.syncs() - before, 1u);
  CrashAndReboot(s);
  s = Open(SyncMode::kAlways);
  ASSERT_EQ(s->Load(1).value.data, "kept");
  ASSERT_TRUE(s->Append("h", "", "lost", 2).ok());
  sync = s->PrepareSyncHere();
  ASSERT_TRUE(sync);
  env_.SetIoError(true);
  EXPECT_FALSE((*sync)().ok());
  env_.SetIoError(false);
  EXPECT_FALSE(s->Append("h", "", "after", 3).ok());
  EXPECT_FALSE(SyncWait(*s).ok());
}

TEST_F(FaultTest, GroupCommitSharesFsyncs) {
  auto s = Open(SyncMode::kAlways, 1 << 20);
  const int n = 2000;
  std::atomic<int> done{0}, failed{0};
  uint64_t before = env_.syncs();
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(s->Append("g", "", "x", i).ok());
    s->Sync([&](Status st) {
      if (!st.ok()) failed++;
      done++;
    });
  }
  ASSERT_TRUE(SyncWait(*s).ok());
  EXPECT_EQ(done.load(), n);
  EXPECT_EQ(failed.load(), 0);
  uint64_t fsyncs = env_.syncs() - before;
  EXPECT_LE(fsyncs, static_cast<uint64_t>(n + 1));
  std::printf("group commit: %d Sync calls completed by %llu fsyncs\n", n,
              static_cast<unsigned long long>(fsyncs));
}

size_t OpenFds() {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// What a recovered store holds, read message by message, and whether its
// own counts agree with that.
struct Holding {
  std::map<uint64_t, std::pair<std::string, std::string>> msgs;  // seq -> subject, data
};

Holding ReadAll(Store& s) {
  Holding h;
  auto st = s.State();
  for (uint64_t q = st.first_seq; q <= st.last_seq; ++q) {
    auto m = s.Load(q);
    EXPECT_NE(m.status.code, Errc::kCorrupt) << q;
    if (m.ok()) h.msgs[q] = {m.value.subject, m.value.data};
  }
  EXPECT_EQ(st.msgs, h.msgs.size());
  std::map<std::string, SubjectInfo> want;
  for (const auto& [q, m] : h.msgs) {
    auto& i = want[m.first];
    if (i.count++ == 0) i.first = q;
    i.last = q;
  }
  auto got = s.Subjects(">");
  EXPECT_EQ(got.size(), want.size());
  for (const auto& [name, i] : want) {
    EXPECT_EQ(got[name].count, i.count) << name;
    EXPECT_EQ(got[name].first, i.first) << name;
    EXPECT_EQ(got[name].last, i.last) << name;
    EXPECT_EQ(s.NumPending(name, 0), i.count) << name;
  }
  return h;
}

// Blocks of 1 KiB whose details are reloaded (from index files or scans)
// at once: a few dozen messages make many blocks.
FileStoreOptions TinyBlocks(const std::string& dir, bool compress) {
  FileStoreOptions o;
  o.dir = dir;
  o.block_size = 1024;
  o.cache_bytes = 1;
  o.compress = compress;
  return o;
}

// Message i: one of five subjects, every third with a header.
void PutNumbered(Store& s, int i) {
  std::string hdr = i % 3 == 0 ? "NATS/1.0\r\nK: v\r\n\r\n" : "";
  ASSERT_TRUE(s.Append("s." + std::to_string(i % 5), hdr, "payload-" + std::to_string(i), i).ok());
}

// A power cut at every step of the work around block rolls — flushing and
// syncing the sealed block, writing its index file and the stream summary,
// deleting emptied blocks and their index files, creating the next block —
// loses no acknowledged message or removal, and the recovered store's counts
// match what it holds. Step k crashes the k-th file operation of the
// sequence, for every k until the sequence completes without a crash. With
// compression, each roll also replaces the sealed block by its compressed
// container (and the erase rewrites one).
class FaultRoll : public ::testing::TestWithParam<bool> {};

TEST_P(FaultRoll, PowerLossAtEveryStepOfARoll) {
  for (int64_t k = 0;; ++k) {
    SCOPED_TRACE("crash at operation " + std::to_string(k));
    TempDir tmp;
    FaultEnv env(DefaultEnv(), tmp.path());
    FileStoreOptions o = TinyBlocks(tmp.path() + "/s", GetParam());
    auto open = [&] {
      auto r = OpenFileStore(&env, o, {});
      EXPECT_TRUE(r.ok()) << r.status.msg;
      return std::move(r.value);
    };
    auto s = open();
    auto put = [&](int i) { PutNumbered(*s, i); };
    for (int i = 1; i <= 40; ++i) put(i);
    ASSERT_TRUE(SyncWait(*s).ok());
    // Removals of every kind, acknowledged: the first messages (a floor),
    // one in the middle (a tombstone), an erased one, a purge of a subject.
    for (uint64_t q = 1; q <= 12; ++q) ASSERT_TRUE(s->Remove(q, false).ok());
    ASSERT_TRUE(s->Remove(20, false).ok());
    ASSERT_TRUE(s->Remove(22, true).ok());
    ASSERT_TRUE(s->Purge("s.4", 30, 0).ok());
    ASSERT_TRUE(SyncWait(*s).ok());
    Holding before = ReadAll(*s);
    // The sequence under test: enough appends to roll a few blocks (and
    // delete the emptied ones), a removal reaching into an older block,
    // then a sync.
    env.CrashAfter(k);
    for (int i = 41; i <= 70; ++i) s->Append("s." + std::to_string(i % 5), "", "payload-" + std::to_string(i), i);
    s->Remove(30, false);
    bool acked = SyncWait(*s).ok();
    s.reset();  // Close: index and summary of the active block
    bool finished = env.crash_armed();
    env.CrashAfter(-1);
    env.Crash();
    env.PowerLoss();
    s = open();
    Holding after = ReadAll(*s);
    // Every acknowledged message is there, whole; nothing acknowledged as
    // removed is back; what the unacknowledged sequence added is a prefix
    // of it.
    for (const auto& [q, m] : before.msgs) {
      if (q == 30 && acked) continue;
      ASSERT_TRUE(after.msgs.count(q)) << "acked seq " << q << " lost";
      EXPECT_EQ(after.msgs[q], m) << q;
    }
    for (uint64_t q : {1, 5, 12, 20, 22, 29}) EXPECT_FALSE(after.msgs.count(q)) << q << " is back";
    if (acked) {
      EXPECT_FALSE(after.msgs.count(30));
    }
    uint64_t added = 0;
    for (const auto& [q, m] : after.msgs) {
      if (q <= 40) continue;
      EXPECT_EQ(q, 41 + added) << "a gap in what survived";
      EXPECT_EQ(m.second, "payload-" + std::to_string(q));
      ++added;
    }
    if (acked) {
      EXPECT_EQ(added, 30u);
    }
    // And it goes on: a new message is stored after them, and a clean
    // restart (from the summary) agrees.
    uint64_t next = s->State().last_seq + 1;
    ASSERT_EQ(s->Append("s.new", "", "x", 1000).value, next);
    ASSERT_TRUE(SyncWait(*s).ok());
    Holding now = ReadAll(*s);
    ASSERT_TRUE(s->Close().ok());
    s = open();
    EXPECT_EQ(ReadAll(*s).msgs, now.msgs);
    if (finished) {
      // The test saw compressed blocks (or, without compression, none).
      int compressed = 0;
      for (const auto& n : env.ListDir(o.dir + "/msgs").value) {
        if (n.ends_with(".blk")) {
          auto raw = ReadFileToString(&env, o.dir + "/msgs/" + n);
          compressed += raw.ok() && IsCompressedBlock(raw.value);
        }
      }
      EXPECT_EQ(compressed > 0, GetParam());
      break;
    }
    ASSERT_LT(k, 600) << "the sequence never completed";
  }
}

INSTANTIATE_TEST_SUITE_P(Compression, FaultRoll, ::testing::Bool());

// A power cut at every step of a Truncate — syncing what came before,
// scanning the tail, writing and syncing the block with the truncate
// record, removing the summary and the blocks above the cut, cutting (or,
// compressed, rewriting) the block where the tail starts, its index file,
// the new summary — leaves the store before or after the cut, nothing
// else: every message at or below the cut whole, every acknowledged
// removal still removed, and once Truncate returned ok, the cut. With
// reopen, a summary written after the tail describes it; with compression,
// the tail starts in a compressed block.
class FaultTruncate : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(FaultTruncate, PowerLossAtEveryStepOfATruncate) {
  auto [compress, reopen] = GetParam();
  const uint64_t seq = 30;
  for (int64_t k = 0;; ++k) {
    SCOPED_TRACE("crash at operation " + std::to_string(k));
    TempDir tmp;
    FaultEnv env(DefaultEnv(), tmp.path());
    FileStoreOptions o = TinyBlocks(tmp.path() + "/s", compress);
    auto open = [&] {
      auto r = OpenFileStore(&env, o, {});
      EXPECT_TRUE(r.ok()) << r.status.msg;
      return std::move(r.value);
    };
    auto s = open();
    auto put = [&](int i) { PutNumbered(*s, i); };
    for (int i = 1; i <= 60; ++i) put(i);
    ASSERT_TRUE(s->Remove(3, false).ok());  // below the cut, before the tail
    ASSERT_TRUE(s->Remove(10, true).ok());
    ASSERT_EQ(s->SkipMsg().value, 61u);
    for (int i = 62; i <= 80; ++i) put(i);
    // Removals recorded in the tail: of the first message, of others
    // below the cut, and above it.
    ASSERT_TRUE(s->Remove(1, false).ok());
    ASSERT_TRUE(s->Remove(20, false).ok());
    ASSERT_TRUE(s->Remove(25, true).ok());
    ASSERT_TRUE(s->Remove(70, false).ok());
    ASSERT_TRUE(SyncWait(*s).ok());
    if (reopen) {
      ASSERT_TRUE(s->Close().ok());
      s = open();
    }
    Holding before = ReadAll(*s);
    ASSERT_EQ(s->State().last_seq, 80u);
    Holding cut = before;
    cut.msgs.erase(cut.msgs.upper_bound(seq), cut.msgs.end());
    ASSERT_EQ(cut.msgs.size(), 25u);

    env.CrashAfter(k);
    Status st = s->Truncate(seq);
    bool finished = env.crash_armed();
    env.CrashAfter(-1);
    env.Crash();
    s.reset();
    env.PowerLoss();

    s = open();
    Holding after = ReadAll(*s);
    uint64_t last = s->State().last_seq;
    bool is_before = after.msgs == before.msgs && last == 80;
    bool is_cut = after.msgs == cut.msgs && last == seq;
    EXPECT_TRUE(is_before || is_cut) << "last " << last << ", " << after.msgs.size() << " messages";
    if (st.ok()) {
      EXPECT_TRUE(is_cut) << "Truncate returned ok, the cut did not survive";
    }
    // It goes on from there, and a clean restart agrees.
    ASSERT_EQ(s->Append("s.new", "", "x", 1000).value, last + 1);
    ASSERT_TRUE(SyncWait(*s).ok());
    Holding now = ReadAll(*s);
    ASSERT_TRUE(s->Close().ok());
    s = open();
    EXPECT_EQ(ReadAll(*s).msgs, now.msgs);
    EXPECT_EQ(s->State().last_seq, last + 1);
    // So does a replay of every block, without the summary.
    ASSERT_TRUE(s->Close().ok());
    ASSERT_TRUE(env.RemoveFile(o.dir + "/msgs/summary").ok());
    s = open();
    EXPECT_EQ(ReadAll(*s).msgs, now.msgs);
    EXPECT_EQ(s->State().last_seq, last + 1);
    if (finished) {
      ASSERT_TRUE(st.ok()) << st.msg;
      break;
    }
    ASSERT_LT(k, 400) << "the truncate never completed";
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, FaultTruncate, ::testing::Combine(::testing::Bool(), ::testing::Bool()));

// Truncate's own durability: acknowledged by returning, nothing more.
TEST_F(FaultTest, TruncateIsDurableWhenItReturns) {
  auto s = Open(SyncMode::kInterval, 1024);
  for (int i = 1; i <= 100; ++i) ASSERT_TRUE(s->Append("d." + std::to_string(i % 3), "", Payload(i), i).ok());
  ASSERT_TRUE(s->Truncate(98).ok());  // no Sync: the messages below were never synced either
  CrashAndReboot(s);
  s = Open(SyncMode::kInterval, 1024);
  auto st = s->State();
  EXPECT_EQ(st.last_seq, 98u);
  EXPECT_EQ(st.msgs, 98u);
  for (uint64_t q = 1; q <= 98; ++q) ASSERT_EQ(s->Load(q).value.data, Payload(q)) << q;
  EXPECT_EQ(s->Subjects("d.2").at("d.2").last, 98u);
  EXPECT_EQ(s->Subjects("d.0").at("d.0").last, 96u);
  EXPECT_EQ(s->Append("d.1", "", "after", 200).value, 99u);
}

TEST(FileStoreBlocks, SealedBlocksAreOpenedOnDemand) {
  TempDir tmp;
  FileStoreOptions o;
  o.dir = tmp.path() + "/s";
  o.block_size = 1024;
  size_t before = OpenFds();
  for (int round = 0; round < 2; ++round) {
    auto s = OpenFileStore(DefaultEnv(), o, {}).value;
    if (round == 0) {
      for (int i = 1; i <= 3000; ++i) ASSERT_TRUE(s->Append("b", "", Payload(i), i).ok());
    }
    for (uint64_t q = 1; q <= 3000; ++q) ASSERT_EQ(s->Load(q).value.data, Payload(q));
    // ~300 blocks; only a bounded few stay open.
    EXPECT_LT(OpenFds() - before, 24u);
    ASSERT_TRUE(s->Close().ok());
  }
  EXPECT_EQ(OpenFds(), before);
}

}  // namespace
}  // namespace fjord::store
