#include "raft/log_store.h"

#include <gtest/gtest.h>

#include <filesystem>

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

// A crash mid-append leaves a partial last record: it is cut, the rest kept.
TEST_F(RaftLogStore, TornTailIsCut) {
  Fill(3, "t");
  auto path = dir_ + "/raft.log";
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 3);
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

}  // namespace
}  // namespace fjord::raft
