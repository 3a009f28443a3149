#include "raft/log_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include <libnuraft/buffer.hxx>
#include <libnuraft/log_entry.hxx>

#include "raft/bytes.h"
#include "store/tests/store_test_util.h"

namespace fjord::raft {
namespace {

nuraft::ptr<nuraft::log_entry> Entry(uint64_t term, const std::string& s) {
  return nuraft::cs_new<nuraft::log_entry>(term, ToBuffer(s), nuraft::app_log, 1000 + term);
}
std::string Data(const nuraft::ptr<nuraft::log_entry>& e) { return ToString(e->get_buf()); }

// Zeros the last `n` bytes of the file's data (before the zeros written
// ahead of it): what a write torn there leaves.
void ZeroLast(const std::string& path, size_t n) {
  auto end = store::testing::DataEnd(path);
  ASSERT_GE(end, n);
  FILE* f = fopen(path.c_str(), "r+b");
  ASSERT_TRUE(f);
  fseek(f, static_cast<long>(end - n), SEEK_SET);
  fwrite(std::string(n, '\0').data(), 1, n, f);
  fclose(f);
}

class RaftLogStore : public ::testing::Test {
 protected:
  std::shared_ptr<FileLogStore> Open() {
    std::string err;
    auto s = FileLogStore::Open(store::DefaultEnv(), dir_, &err);
    EXPECT_TRUE(s) << err;
    return s;
  }
  // Entries 1..n with `prefix` + their index as data, term 1, flushed.
  void Fill(int n, const std::string& prefix) {
    auto s = Open();
    for (int i = 1; i <= n; i++) {
      auto e = Entry(1, prefix + std::to_string(i));
      s->append(e);
    }
    s->flush();
  }
  store::testing::TempDir tmp_;
  std::string dir_ = tmp_.path() + "/log";
};

TEST_F(RaftLogStore, AppendSurvivesReopen) {
  {
    auto s = Open();
    EXPECT_EQ(s->next_slot(), 1u);
    EXPECT_EQ(s->last_entry()->get_term(), 0u);
    for (int i = 1; i <= 5; i++) {
      auto e = Entry(i, "e" + std::to_string(i));
      EXPECT_EQ(s->append(e), static_cast<uint64_t>(i));
    }
    s->end_of_append_batch(1, 5);
    EXPECT_EQ(s->last_durable_index(), 5u);
  }
  auto s = Open();
  EXPECT_EQ(s->start_index(), 1u);
  EXPECT_EQ(s->next_slot(), 6u);
  EXPECT_EQ(Data(s->entry_at(3)), "e3");
  EXPECT_EQ(s->term_at(4), 4u);
  EXPECT_EQ(s->entry_at(4)->get_timestamp(), 1004u);
  auto v = s->log_entries(2, 5);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->size(), 3u);
  EXPECT_EQ(Data((*v)[0]), "e2");
}

TEST_F(RaftLogStore, WriteAtTruncatesTheRest) {
  {
    auto s = Open();
    for (int i = 1; i <= 5; i++) {
      auto e = Entry(1, "a" + std::to_string(i));
      s->append(e);
    }
    auto e = Entry(2, "b3");
    s->write_at(3, e);
    s->flush();
    EXPECT_EQ(s->next_slot(), 4u);
  }
  auto s = Open();
  EXPECT_EQ(s->next_slot(), 4u);
  EXPECT_EQ(Data(s->entry_at(3)), "b3");
  EXPECT_EQ(s->term_at(3), 2u);
  auto e = Entry(2, "b4");
  EXPECT_EQ(s->append(e), 4u);
}

TEST_F(RaftLogStore, CompactKeepsTheRestAcrossReopen) {
  {
    auto s = Open();
    for (int i = 1; i <= 10; i++) {
      auto e = Entry(1, std::to_string(i));
      s->append(e);
    }
    s->flush();
    EXPECT_TRUE(s->compact(6));
    EXPECT_EQ(s->start_index(), 7u);
    EXPECT_EQ(Data(s->entry_at(7)), "7");
  }
  auto s = Open();
  EXPECT_EQ(s->start_index(), 7u);
  EXPECT_EQ(s->next_slot(), 11u);
  // Past the end (after a snapshot was installed): empty log from there.
  EXPECT_TRUE(s->compact(20));
  EXPECT_EQ(s->start_index(), 21u);
  EXPECT_EQ(s->next_slot(), 21u);
  auto e = Entry(3, "x");
  EXPECT_EQ(s->append(e), 21u);
}

TEST_F(RaftLogStore, PackMovesEntriesBetweenStores) {
  auto s = Open();
  for (int i = 1; i <= 4; i++) {
    auto e = Entry(1, "p" + std::to_string(i));
    s->append(e);
  }
  auto pack = s->pack(2, 3);
  std::string other = tmp_.path() + "/b";
  std::string err;
  auto t = FileLogStore::Open(store::DefaultEnv(), other, &err);
  ASSERT_TRUE(t) << err;
  t->apply_pack(2, *pack);
  EXPECT_EQ(t->start_index(), 2u);
  EXPECT_EQ(t->next_slot(), 5u);
  EXPECT_EQ(Data(t->entry_at(4)), "p4");
  t.reset();
  t = FileLogStore::Open(store::DefaultEnv(), other, &err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(Data(t->entry_at(2)), "p2");
}

// A crash mid-append leaves a partial last record, written and never
// synced: it is cut, the rest kept.
TEST_F(RaftLogStore, TornTailIsCut) {
  Fill(2, "t");
  {
    auto s = Open();
    auto e = Entry(1, "t3");
    s->append(e);
    s->Write();  // written (its batch's end), not synced: the process dies here
  }
  // Its last bytes never reached the file: zeros (written ahead) there.
  ZeroLast(dir_ + "/raft.log", 3);
  auto s = Open();
  EXPECT_EQ(s->next_slot(), 3u);
  EXPECT_EQ(Data(s->entry_at(2)), "t2");
  auto e = Entry(1, "t3b");
  EXPECT_EQ(s->append(e), 3u);
  s->flush();
  s.reset();
  s = Open();
  EXPECT_EQ(Data(s->entry_at(3)), "t3b");
}

// A bad record with valid ones after it is damage, not a torn tail: the
// store refuses to open rather than drop entries the group counted on.
TEST_F(RaftLogStore, DamageInTheMiddleIsRefused) {
  Fill(3, "payload-");
  auto path = dir_ + "/raft.log";
  std::string d;
  {
    FILE* f = fopen(path.c_str(), "rb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    d.assign(buf, n);
  }
  auto pos = d.find("payload-1");
  ASSERT_NE(pos, std::string::npos);
  d[pos] ^= 0x01;
  {
    FILE* f = fopen(path.c_str(), "wb");
    fwrite(d.data(), 1, d.size(), f);
    fclose(f);
  }
  std::string err;
  EXPECT_FALSE(FileLogStore::Open(store::DefaultEnv(), dir_, &err));
  EXPECT_NE(err.find("damaged record"), std::string::npos) << err;
}

// Reads, changes and writes back the log file.
void EditLog(const std::string& path, const std::function<void(std::string&)>& fn) {
  auto raw = store::ReadFileToString(store::DefaultEnv(), path);
  ASSERT_TRUE(raw.ok());
  fn(raw.value);
  FILE* f = fopen(path.c_str(), "wb");
  fwrite(raw.value.data(), 1, raw.value.size(), f);
  fclose(f);
}

// The last record was synced (so maybe acknowledged), then damaged: a bit
// flip, or the file cut short. Not a torn write: the open fails (the meta
// log), or, for a log whose group sends its entries again, cuts from there
// and says so.
TEST_F(RaftLogStore, DamageBelowTheSyncedMarkIsNotATornTail) {
  for (bool flip : {true, false}) {
    SCOPED_TRACE(flip ? "bit flip" : "cut short");
    std::filesystem::remove_all(dir_);
    Fill(3, "payload-");
    auto path = dir_ + "/raft.log";
    EditLog(path, [&](std::string& d) {
      if (flip) {
        d[d.find("payload-3")] ^= 0x01;
      } else {
        d.resize(d.find_last_not_of('\0') + 1 - 3);
      }
    });
    std::string err;
    bool damaged = false;
    EXPECT_FALSE(FileLogStore::Open(store::DefaultEnv(), dir_, &err, &damaged));
    EXPECT_TRUE(damaged);
    EXPECT_NE(err.find("fsynced before the last stop"), std::string::npos) << err;

    bool lost = false;
    auto s = FileLogStore::Open(store::DefaultEnv(), dir_, &err, nullptr, &lost);
    ASSERT_TRUE(s) << err;
    EXPECT_TRUE(lost);
    EXPECT_EQ(s->next_slot(), 3u);
    EXPECT_EQ(Data(s->entry_at(2)), "payload-2");
    // Cut, and the mark with it: the next open is clean.
    s.reset();
    s = FileLogStore::Open(store::DefaultEnv(), dir_, &err, nullptr, &lost);
    ASSERT_TRUE(s) << err;
    EXPECT_FALSE(lost);
  }
}

// A file cut at a record boundary below what it had synced.
TEST_F(RaftLogStore, ShorterThanSyncedIsDamage) {
  Fill(2, "s");
  auto path = dir_ + "/raft.log";
  auto two = store::testing::DataEnd(path);
  Fill(1, "s");  // entry 3
  std::filesystem::resize_file(path, two);
  std::string err;
  EXPECT_FALSE(FileLogStore::Open(store::DefaultEnv(), dir_, &err));
  EXPECT_NE(err.find("shorter than"), std::string::npos) << err;
}

// Entries replaced by a new leader (write_at) cut the file: the mark comes
// down with it, so an append torn later past the cut is still a torn tail.
TEST_F(RaftLogStore, ReplacedEntriesLowerTheMark) {
  Fill(3, "r");
  {
    auto s = Open();
    auto e = Entry(2, "x2");
    s->write_at(2, e);
    s->flush();
    auto e3 = Entry(2, "x3");
    s->append(e3);
    s->Write();  // written, not synced
  }
  ZeroLast(dir_ + "/raft.log", 3);
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->next_slot(), 3u);
  EXPECT_EQ(Data(s->entry_at(2)), "x2");
}

// A batch's records reach the file together, at its end (Write, or a
// sync): a process that dies before has written none of them, and none
// was reported durable; what was written survives it.
TEST_F(RaftLogStore, AppendsAreWrittenAtTheBatchEnd) {
  Fill(2, "b");
  auto path = dir_ + "/raft.log";
  auto end = store::testing::DataEnd(path);
  {
    auto s = Open();
    auto e3 = Entry(1, "b3"), e4 = Entry(1, "b4");
    s->append(e3);
    s->append(e4);
    EXPECT_EQ(store::testing::DataEnd(path), end) << "nothing written before the batch ends";
    EXPECT_EQ(s->last_durable_index(), 2u);
    EXPECT_TRUE(s->Write());
    EXPECT_GT(store::testing::DataEnd(path), end);
    EXPECT_EQ(s->last_durable_index(), 2u) << "written is not synced";
    auto e5 = Entry(1, "b5");
    s->append(e5);  // the process dies before its batch ends
  }
  auto s = Open();
  EXPECT_EQ(s->next_slot(), 5u);
  EXPECT_EQ(Data(s->entry_at(4)), "b4");
}

// Appends go into zeros written ahead of them (the fsync after one changes
// no file size). The zeros are the end of the log, not a torn tail or
// damage, at every open.
TEST_F(RaftLogStore, ZerosWrittenAheadAreTheEnd) {
  Fill(3, "z");
  auto path = dir_ + "/raft.log";
  auto end = store::testing::DataEnd(path);
  EXPECT_GE(std::filesystem::file_size(path), end + 4096) << "space written ahead";
  {
    auto s = Open();
    EXPECT_EQ(s->next_slot(), 4u);
    auto e = Entry(1, "z4");
    EXPECT_EQ(s->append(e), 4u);
    s->flush();
  }
  EXPECT_GT(store::testing::DataEnd(path), end) << "appended in place, after the data";
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->next_slot(), 5u);
  EXPECT_EQ(Data(s->entry_at(4)), "z4");
  // Synced data zeroed (a lost write the disk had confirmed) is still damage.
  s.reset();
  ZeroLast(path, 3);
  std::string err;
  EXPECT_FALSE(FileLogStore::Open(store::DefaultEnv(), dir_, &err));
  EXPECT_NE(err.find("fsynced before the last stop"), std::string::npos) << err;
}

}  // namespace
}  // namespace fjord::raft
