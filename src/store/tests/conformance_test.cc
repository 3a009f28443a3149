// One suite for every Store implementation: MemStore and FileStore in both
// sync modes. File stores are also closed and reopened in the middle of the
// randomized model test, so recovery is held to the same contract.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "store/compressed_block.h"
#include "store/env.h"
#include "store/store.h"
#include "store/subject.h"
#include "store/tests/store_test_util.h"

namespace fjord::store {
namespace {

using testing::FileMsgSize;
using testing::MemMsgSize;
using testing::SyncWait;
using testing::TempDir;

enum class Kind { kMem, kFileAlways, kFileInterval };

std::string KindName(const ::testing::TestParamInfo<Kind>& info) {
  switch (info.param) {
    case Kind::kMem: return "Mem";
    case Kind::kFileAlways: return "FileAlways";
    case Kind::kFileInterval: return "FileInterval";
  }
  return "?";
}

class StoreConformance : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override { Open({}); }
  void TearDown() override {
    if (store_) {
      EXPECT_TRUE(store_->Close().ok());
    }
  }

  bool file() const { return GetParam() != Kind::kMem; }

  void Open(const Limits& limits) {
    limits_ = limits;
    if (!file()) {
      store_ = NewMemStore(limits);
      return;
    }
    FileStoreOptions o;
    o.dir = dir_.path() + "/" + sub_;
    o.sync = GetParam() == Kind::kFileAlways ? SyncMode::kAlways : SyncMode::kInterval;
    o.sync_interval_ns = 5'000'000;
    o.block_size = 4096;  // small, so tests cross block boundaries
    // One of the two file kinds keeps a single block's detail cached, so
    // every query also runs through loading details again.
    if (GetParam() == Kind::kFileInterval) o.cache_bytes = 1;
    auto r = OpenFileStore(DefaultEnv(), o, limits);
    ASSERT_TRUE(r.ok()) << r.status.msg;
    store_ = std::move(r.value);
  }

  // Closes and reopens a file store (recovery); a no-op for memory.
  void Reopen() {
    if (!file()) return;
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    Open(limits_);
  }

  // As after kill -9 of the process: everything written stays, nothing is
  // closed cleanly (no final summary or index). The files are copied while
  // the store is open and the copy is opened; a no-op for memory.
  void CrashReopen() {
    if (!file()) return;
    ASSERT_TRUE(SyncWait(*store_).ok());
    std::string from = dir_.path() + "/" + sub_;
    sub_ = "crash" + std::to_string(++crashes_);
    std::filesystem::copy(from, dir_.path() + "/" + sub_, std::filesystem::copy_options::recursive);
    store_.reset();
    std::filesystem::remove_all(from);
    Open(limits_);
  }

  uint64_t Size(std::string_view s, std::string_view h, std::string_view d) const {
    return file() ? FileMsgSize(s, h, d) : MemMsgSize(s, h, d);
  }

  uint64_t Put(std::string_view subj, std::string_view data = "x", std::string_view hdr = "",
               int64_t ts = 1) {
    auto r = store_->Append(subj, hdr, data, ts);
    EXPECT_TRUE(r.ok()) << r.status.msg;
    return r.value;
  }

  // A model for the truncate tests: Add, Skip, Del and Cut change the
  // store and the model alike; ExpectModel holds the store to it.
  uint64_t Add(const std::string& subj, int64_t ts, const std::string& hdr = "", size_t pad = 0) {
    StoredMsg m{model_last_ + 1, ts, subj, hdr, "g" + std::to_string(gen_) + "-" + std::to_string(model_last_ + 1) + std::string(pad, 'p')};
    EXPECT_EQ(Put(m.subject, m.data, m.hdr, m.ts), m.seq);
    model_[m.seq] = m;
    return ++model_last_;
  }
  void Skip() {
    EXPECT_EQ(store_->SkipMsg().value, ++model_last_);
  }
  void Del(uint64_t q, bool erase = false) {
    EXPECT_TRUE(store_->Remove(q, erase).ok()) << q;
    model_.erase(q);
  }
  void Cut(uint64_t seq) {
    Status st = store_->Truncate(seq);
    ASSERT_TRUE(st.ok()) << st.msg;
    if (seq >= model_last_) return;
    model_.erase(model_.upper_bound(seq), model_.end());
    model_last_ = seq;
    ++gen_;  // sequences reused from here on carry other payloads
  }
  void ExpectModel() {
    auto st = store_->State();
    uint64_t first = model_.empty() ? model_last_ + 1 : model_.begin()->first;
    EXPECT_EQ(st.last_seq, model_last_);
    EXPECT_EQ(st.first_seq, first);
    EXPECT_EQ(st.msgs, model_.size());
    uint64_t bytes = 0;
    std::map<std::string, SubjectInfo> subjects;
    for (const auto& [q, m] : model_) {
      bytes += Size(m.subject, m.hdr, m.data);
      auto& i = subjects[m.subject];
      if (i.count++ == 0) i.first = q;
      i.last = q;
    }
    EXPECT_EQ(st.bytes, bytes);
    EXPECT_EQ(st.num_deleted, model_.empty() ? 0 : model_last_ + 1 - first - model_.size());
    EXPECT_EQ(st.num_subjects, subjects.size());
    EXPECT_EQ(st.first_ts, model_.empty() ? 0 : model_.begin()->second.ts);
    for (uint64_t q = 0; q <= model_last_ + 2; ++q) {
      auto m = store_->Load(q);
      auto it = model_.find(q);
      if (it == model_.end()) {
        EXPECT_EQ(m.status.code, q == 0 || q > model_last_ ? Errc::kNotFound : Errc::kDeleted) << q;
        continue;
      }
      ASSERT_TRUE(m.ok()) << q << ": " << m.status.msg;
      EXPECT_EQ(m.value.subject, it->second.subject) << q;
      EXPECT_EQ(m.value.hdr, it->second.hdr) << q;
      EXPECT_EQ(m.value.data, it->second.data) << q;
      EXPECT_EQ(m.value.ts, it->second.ts) << q;
    }
    auto scanned = ScanStore();
    ASSERT_EQ(scanned.size(), model_.size());
    auto it = model_.begin();
    for (const auto& m : scanned) {
      EXPECT_EQ(m.seq, it->first);
      EXPECT_EQ(m.data, it->second.data) << m.seq;
      ++it;
    }
    auto got = store_->Subjects(">");
    EXPECT_EQ(got.size(), subjects.size());
    for (const auto& [name, i] : subjects) {
      EXPECT_EQ(got[name].first, i.first) << name;
      EXPECT_EQ(got[name].last, i.last) << name;
      EXPECT_EQ(got[name].count, i.count) << name;
      EXPECT_EQ(store_->LoadLast(name).value.seq, i.last) << name;
      EXPECT_EQ(store_->LoadNext(name, 0).value.seq, i.first) << name;
      uint64_t mid = (i.first + i.last + 1) / 2, above = 0;
      for (auto q = model_.lower_bound(mid); q != model_.end(); ++q) above += q->second.subject == name;
      EXPECT_EQ(store_->NumPending(name, mid), above) << name;
      EXPECT_EQ(store_->NumPending(name, model_last_ + 1), 0u) << name;
    }
    EXPECT_EQ(store_->NumPending(">", 0), model_.size());
    uint64_t from = first + 1, pending = 0;
    for (auto q = model_.lower_bound(from); q != model_.end(); ++q) ++pending;
    EXPECT_EQ(store_->NumPending(">", from), pending);
    auto last = store_->LoadLast(">");
    EXPECT_EQ(last.ok() ? last.value.seq : 0, model_.empty() ? 0 : model_.rbegin()->first);
    EXPECT_EQ(store_->LoadNext("", model_last_ + 1).status.code, Errc::kNotFound);
    EXPECT_EQ(store_->FirstSeqSince(INT64_MAX), model_.empty() ? first : model_.rbegin()->first + 1);
  }
  // Every state of the model after a clean restart and after kill -9.
  void ExpectModelAcrossRestarts() {
    ExpectModel();
    Reopen();
    ExpectModel();
    CrashReopen();
    ExpectModel();
  }
  // The block files of a file store (raw ones only: compressed blocks
  // would hide the bytes), concatenated.
  std::string RawBlocks() {
    std::string all;
    std::string msgs = dir_.path() + "/" + sub_ + "/msgs";
    for (const auto& e : std::filesystem::directory_iterator(msgs)) {
      if (e.path().extension() != ".blk") continue;
      auto raw = ReadFileToString(DefaultEnv(), e.path().string());
      EXPECT_TRUE(raw.ok());
      if (!IsCompressedBlock(raw.value)) all += raw.value;
    }
    return all;
  }
  std::vector<StoredMsg> ScanStore() {
    std::vector<StoredMsg> out;
    Status s = store_->Scan(0, UINT64_MAX, [&](const MsgView& m) {
      out.push_back({m.seq, m.ts, std::string(m.subject), std::string(m.hdr), std::string(m.data)});
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.msg;
    return out;
  }

  std::map<uint64_t, StoredMsg> model_;
  uint64_t model_last_ = 0;
  int gen_ = 0;

  TempDir dir_;
  std::string sub_ = "stream";
  int crashes_ = 0;
  Limits limits_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, AppendAndLoad) {
  const std::string hdr = "NATS/1.0\r\nA: b\r\n\r\n";
  EXPECT_EQ(Put("a.b", "hello", "", 100), 1u);
  EXPECT_EQ(Put("a.c", "world", hdr, 200), 2u);
  EXPECT_EQ(Put("a.b", "", "", 300), 3u);
  for (int round = 0; round < 2; ++round) {
    auto m = store_->Load(2);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m.value.seq, 2u);
    EXPECT_EQ(m.value.ts, 200);
    EXPECT_EQ(m.value.subject, "a.c");
    EXPECT_EQ(m.value.hdr, hdr);
    EXPECT_EQ(m.value.data, "world");
    auto st = store_->State();
    EXPECT_EQ(st.msgs, 3u);
    EXPECT_EQ(st.first_seq, 1u);
    EXPECT_EQ(st.last_seq, 3u);
    EXPECT_EQ(st.first_ts, 100);
    EXPECT_EQ(st.last_ts, 300);
    EXPECT_EQ(st.num_subjects, 2u);
    EXPECT_EQ(st.bytes, Size("a.b", "", "hello") + Size("a.c", hdr, "world") + Size("a.b", "", ""));
    EXPECT_EQ(store_->Load(4).status.code, Errc::kNotFound);
    EXPECT_EQ(store_->Load(0).status.code, Errc::kNotFound);
    EXPECT_TRUE(SyncWait(*store_).ok());
    Reopen();
  }
}

TEST_P(StoreConformance, BytesMatchNatsServer) {
  // 3 file msgs on orders.new (payloads 5, 5+31 hdr, 1+64 hdr) = 234 bytes
  // in nats-server's file store.
  Put("orders.new", "hello");
  Put("orders.new", "hello", std::string(31, 'h'));
  Put("orders.new", "x", std::string(64, 'h'));
  EXPECT_EQ(store_->State().bytes, file() ? 234u : 184u);
  EXPECT_EQ(store_->MsgBytes("orders.new", std::string(31, 'h'), "hello"), file() ? 80u : 62u);
}

TEST_P(StoreConformance, RemoveAndDeletedGaps) {
  for (int i = 0; i < 5; ++i) Put("s");
  EXPECT_TRUE(store_->Remove(3, false).ok());
  EXPECT_EQ(store_->Remove(3, false).code, Errc::kDeleted);
  EXPECT_EQ(store_->Remove(9, false).code, Errc::kNotFound);
  EXPECT_TRUE(store_->Remove(1, true).ok());
  for (int round = 0; round < 2; ++round) {
    auto st = store_->State();
    EXPECT_EQ(st.msgs, 3u);
    EXPECT_EQ(st.first_seq, 2u);
    EXPECT_EQ(st.num_deleted, 1u);
    EXPECT_EQ(store_->Load(3).status.code, Errc::kDeleted);
    EXPECT_EQ(store_->Load(1).status.code, Errc::kDeleted);
    EXPECT_EQ(store_->Subjects("s").at("s").count, 3u);
    EXPECT_EQ(store_->Subjects("s").at("s").first, 2u);
    Reopen();
  }
  EXPECT_EQ(Put("s"), 6u);
}

TEST_P(StoreConformance, LoadNextAndLast) {
  Put("a.x");  // 1
  Put("b.x");  // 2
  Put("a.y");  // 3
  Put("a.x");  // 4
  Put("c");    // 5
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(store_->LoadNext("a.x", 1).value.seq, 1u);
    EXPECT_EQ(store_->LoadNext("a.x", 2).value.seq, 4u);
    EXPECT_EQ(store_->LoadNext("a.*", 2).value.seq, 3u);
    EXPECT_EQ(store_->LoadNext(">", 5).value.seq, 5u);
    EXPECT_EQ(store_->LoadNext("", 0).value.seq, 1u);
    EXPECT_EQ(store_->LoadNext("a.x", 5).status.code, Errc::kNotFound);
    EXPECT_EQ(store_->LoadNext("zz", 1).status.code, Errc::kNotFound);
    EXPECT_EQ(store_->LoadLast("a.x").value.seq, 4u);
    EXPECT_EQ(store_->LoadLast("*.x").value.seq, 4u);
    EXPECT_EQ(store_->LoadLast("b.>").value.seq, 2u);
    EXPECT_EQ(store_->LoadLast(">").value.seq, 5u);
    EXPECT_EQ(store_->LoadLast("nope").status.code, Errc::kNotFound);
    Reopen();
  }
}

// A consumer reads in sequence order (the file store reads ahead for it);
// what it reads must follow every removal and erase made in between.
TEST_P(StoreConformance, SequentialReadsFollowChanges) {
  auto data = [](uint64_t q) { return "m" + std::to_string(q * 7919); };
  for (uint64_t q = 1; q <= 300; ++q) Put("s." + std::to_string(q % 3), data(q));
  ASSERT_TRUE(SyncWait(*store_).ok());
  for (uint64_t q = 1; q <= 300; ++q) {
    auto m = store_->LoadNext("", q);
    ASSERT_TRUE(m.ok()) << q;
    ASSERT_EQ(m.value.seq, q);
    ASSERT_EQ(m.value.data, data(q));
  }
  for (uint64_t q = 100; q < 150; ++q) ASSERT_EQ(store_->LoadNext(">", q).value.data, data(q));
  ASSERT_TRUE(store_->Remove(150, true).ok());
  ASSERT_TRUE(store_->Remove(152, false).ok());
  EXPECT_EQ(store_->Load(150).status.code, Errc::kDeleted);
  EXPECT_EQ(store_->LoadNext(">", 150).value.seq, 151u);
  EXPECT_EQ(store_->LoadNext(">", 152).value.seq, 153u);
  EXPECT_EQ(store_->LoadNext("s.0", 152).value.data, data(153));
  // Random reads in between do not disturb a sequential reader.
  EXPECT_EQ(store_->Load(7).value.data, data(7));
  EXPECT_EQ(store_->Load(290).value.data, data(290));
  EXPECT_EQ(store_->Load(154).value.data, data(154));
  // Purged and replaced: the new messages, never the old bytes.
  ASSERT_TRUE(store_->Purge("", 0, 0).ok());
  for (uint64_t q = 301; q <= 400; ++q) Put("t", "new" + std::to_string(q));
  ASSERT_TRUE(SyncWait(*store_).ok());
  for (uint64_t q = 301; q <= 400; ++q) ASSERT_EQ(store_->LoadNext("", q).value.data, "new" + std::to_string(q));
  EXPECT_EQ(store_->LoadNext("", 1).value.seq, 301u);
}

TEST_P(StoreConformance, PurgeAll) {
  for (int i = 0; i < 4; ++i) Put("p");
  auto r = store_->Purge("", 0, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 4u);
  for (int round = 0; round < 2; ++round) {
    auto st = store_->State();
    EXPECT_EQ(st.msgs, 0u);
    EXPECT_EQ(st.first_seq, 5u);
    EXPECT_EQ(st.last_seq, 4u);
    EXPECT_EQ(st.bytes, 0u);
    EXPECT_EQ(st.num_subjects, 0u);
    Reopen();
  }
  EXPECT_EQ(Put("p"), 5u);
}

// The next sequence can be moved far ahead (purge with a sequence past the
// end, first_seq): the gap costs nothing, before and after a restart.
TEST_P(StoreConformance, PurgeFarBeyondEnd) {
  for (int i = 0; i < 6; ++i) Put("a");
  Put("b");
  ASSERT_TRUE(store_->Remove(7, false).ok());
  constexpr uint64_t kFar = 1'000'000'000'000;
  EXPECT_EQ(store_->Purge("", kFar, 0).value, 6u);
  EXPECT_EQ(Put("c"), kFar);
  EXPECT_EQ(Put("a"), kFar + 1);
  for (int round = 0; round < 2; ++round) {
    auto st = store_->State();
    EXPECT_EQ(st.msgs, 2u);
    EXPECT_EQ(st.first_seq, kFar);
    EXPECT_EQ(store_->NumPending("a", 0), 1u);
    EXPECT_EQ(store_->LoadNext("", 1).value.seq, kFar);
    EXPECT_EQ(store_->Load(kFar + 1).value.subject, "a");
    ASSERT_TRUE(SyncWait(*store_).ok());
    Reopen();
  }
  EXPECT_EQ(Put("d"), kFar + 2);
}

TEST_P(StoreConformance, PurgeUptoAndBeyondEnd) {
  for (int i = 0; i < 6; ++i) Put(i % 2 ? "odd" : "even");
  EXPECT_EQ(store_->Purge("", 3, 0).value, 2u);
  EXPECT_EQ(store_->State().first_seq, 3u);
  EXPECT_EQ(store_->Purge("", 1, 0).value, 0u);
  EXPECT_EQ(store_->Purge("", 100, 0).value, 4u);
  Reopen();
  auto st = store_->State();
  EXPECT_EQ(st.first_seq, 100u);
  EXPECT_EQ(st.last_seq, 99u);
  EXPECT_EQ(Put("x"), 100u);
}

TEST_P(StoreConformance, PurgeKeepAndFilter) {
  for (int i = 0; i < 3; ++i) Put("ev.a");  // 1..3
  Put("ev.b");                              // 4
  for (int i = 0; i < 2; ++i) Put("ev.a");  // 5, 6
  EXPECT_EQ(store_->Purge("ev.a", 0, 1).value, 4u);
  EXPECT_EQ(store_->Subjects("ev.a").at("ev.a").first, 6u);
  Put("ev.b");  // 7
  Put("ev.c");  // 8
  EXPECT_EQ(store_->Purge("ev.*", 8, 0).value, 3u);
  Reopen();
  auto st = store_->State();
  EXPECT_EQ(st.msgs, 1u);
  EXPECT_EQ(st.first_seq, 8u);
  EXPECT_EQ(store_->Purge("", 5, 1).status.code, Errc::kInvalid);
  for (int i = 0; i < 5; ++i) Put("k");  // 9..13
  EXPECT_EQ(store_->Purge(">", 0, 2).value, 4u);
  EXPECT_EQ(store_->State().first_seq, 12u);
  EXPECT_EQ(store_->Purge("", 0, 5).value, 0u);
}

TEST_P(StoreConformance, Limits) {
  store_->SetLimits({.max_msgs = 3});
  limits_ = {.max_msgs = 3};
  for (int i = 0; i < 5; ++i) Put("m");
  EXPECT_EQ(store_->State().msgs, 3u);
  EXPECT_EQ(store_->State().first_seq, 3u);
  Reopen();
  EXPECT_EQ(store_->State().first_seq, 3u);

  limits_ = {.max_msgs_per_subject = 2};
  store_->SetLimits(limits_);
  Put("kv.a");  // 6
  Put("kv.b");  // 7
  Put("kv.a");  // 8
  Put("kv.a");  // 9 evicts 6
  auto subj = store_->Subjects("kv.>");
  EXPECT_EQ(subj.at("kv.a").count, 2u);
  EXPECT_EQ(subj.at("kv.a").first, 8u);
  EXPECT_EQ(store_->Load(6).status.code, Errc::kDeleted);
  limits_ = {.max_msgs_per_subject = 1};
  store_->SetLimits(limits_);
  EXPECT_EQ(store_->Subjects("m").at("m").count, 1u);
  EXPECT_EQ(store_->State().msgs, 3u);  // m:5, kv.b:7, kv.a:9
  Reopen();
  EXPECT_EQ(store_->State().msgs, 3u);

  uint64_t one = Size("b", "", "0123456789");
  limits_ = {.max_bytes = static_cast<int64_t>(3 * one)};
  store_->SetLimits(limits_);
  EXPECT_EQ(store_->State().msgs, 3u);  // smaller messages fit
  Put("b", "0123456789");
  Put("b", "0123456789");
  Put("b", "0123456789");
  EXPECT_LE(store_->State().bytes, 3 * one);
  EXPECT_EQ(store_->State().msgs, 3u);
  EXPECT_EQ(store_->State().first_seq, 10u);
}

TEST_P(StoreConformance, ExpireOld) {
  limits_ = {.max_age_ns = 1000};
  store_->SetLimits(limits_);
  Put("t", "x", "", 100);
  Put("t", "x", "", 200);
  Put("t", "x", "", 5000);
  EXPECT_EQ(store_->ExpireOld(1150), 1u);
  EXPECT_EQ(store_->ExpireOld(1150), 0u);
  EXPECT_EQ(store_->ExpireOld(5500), 1u);
  Reopen();
  EXPECT_EQ(store_->State().first_seq, 3u);
}

// A replicated stream's log positions (raft::StreamLog): a file store keeps
// them with the messages, across restarts and a kill -9; a memory store
// keeps none (its replicas rejoin after a restart anyway).
TEST_P(StoreConformance, LogPositions) {
  ASSERT_TRUE(store_->AppendLogged("r.a", "", "x", 1, {7, 2}).ok());
  Put("r.b");
  ASSERT_TRUE(store_->AppendLogged("r.c", "", "y", 3, {1ull << 40, 3}).ok());
  for (int round = 0; round < 3; ++round) {
    if (!store_->KeepsLogPos()) {
      EXPECT_FALSE(store_->LogPosOf(1));
      EXPECT_EQ(store_->Load(1).value.data, "x");
      return;
    }
    auto a = store_->LogPosOf(1);
    ASSERT_TRUE(a) << round;
    EXPECT_EQ(a->index, 7u);
    EXPECT_EQ(a->term, 2u);
    EXPECT_FALSE(store_->LogPosOf(2));  // appended without one
    auto c = store_->LogPosOf(3);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->index, 1ull << 40);
    EXPECT_EQ(store_->Load(3).value.data, "y");
    EXPECT_FALSE(store_->LogPosOf(4));
    if (round == 0) {
      EXPECT_TRUE(SyncWait(*store_).ok());
      Reopen();
    } else {
      CrashReopen();
    }
  }
  ASSERT_TRUE(store_->Remove(1, false).ok());
  EXPECT_FALSE(store_->LogPosOf(1));
}

TEST_P(StoreConformance, SkipMsg) {
  EXPECT_EQ(store_->SkipMsg().value, 1u);
  auto st = store_->State();
  EXPECT_EQ(st.first_seq, 2u);
  EXPECT_EQ(st.last_seq, 1u);
  Put("in.a");                           // 2
  EXPECT_EQ(store_->SkipMsg().value, 3u);  // not stored
  Reopen();
  st = store_->State();
  EXPECT_EQ(st.msgs, 1u);
  EXPECT_EQ(st.first_seq, 2u);
  EXPECT_EQ(st.last_seq, 3u);
  EXPECT_EQ(st.num_deleted, 1u);
  EXPECT_EQ(Put("in.a"), 4u);
}

TEST_P(StoreConformance, NumPendingAndSubjects) {
  for (int i = 1; i <= 30; ++i) Put("o." + std::to_string(i % 3));
  EXPECT_EQ(store_->NumPending("", 1), 30u);
  EXPECT_EQ(store_->NumPending(">", 11), 20u);
  EXPECT_EQ(store_->NumPending("o.1", 1), 10u);
  EXPECT_EQ(store_->NumPending("o.1", 29), 0u);
  EXPECT_EQ(store_->NumPending("o.1", 28), 1u);
  EXPECT_EQ(store_->NumPending("o.*", 16), 15u);
  EXPECT_EQ(store_->NumPending("x", 1), 0u);
  auto all = store_->Subjects(">");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all.at("o.0").first, 3u);
  EXPECT_EQ(all.at("o.0").last, 30u);
}

TEST_P(StoreConformance, SyncCallsBack) {
  Put("s");
  EXPECT_TRUE(SyncWait(*store_).ok());
  EXPECT_TRUE(SyncWait(*store_).ok());
}

const std::string kHdr = "NATS/1.0\r\nK: v\r\n\r\n";

TEST_P(StoreConformance, TruncateCutsTheActiveBlock) {
  for (int i = 1; i <= 10; ++i) Add("t." + std::to_string(i % 3), i * 10, i % 4 == 0 ? kHdr : "");
  Cut(6);
  ExpectModel();
  EXPECT_EQ(store_->State().last_ts, 60);
  EXPECT_EQ(store_->LoadLast("t.1").value.seq, 4u);
  EXPECT_EQ(store_->NumPending("t.*", 5), 2u);
  Reopen();
  EXPECT_EQ(store_->State().last_ts, 60);
  // Appends continue at seq+1, on old subjects and new ones.
  EXPECT_EQ(Add("t.new", 100), 7u);
  EXPECT_EQ(Add("t.1", 110), 8u);
  EXPECT_EQ(store_->Subjects("t.1").at("t.1").count, 3u);
  EXPECT_EQ(store_->LoadLast("t.1").value.data, model_[8].data);
  ExpectModelAcrossRestarts();
  if (file()) {
    // The cut messages are gone from the files, not only from the index.
    std::string raw = RawBlocks();
    EXPECT_EQ(raw.find("g0-7"), std::string::npos);
    EXPECT_EQ(raw.find("g0-10"), std::string::npos);
    EXPECT_NE(raw.find("g0-6"), std::string::npos);
  }
}

TEST_P(StoreConformance, TruncateAcrossBlocks) {
  // About 30 messages a 4 KiB block.
  for (int i = 1; i <= 200; ++i) Add("b." + std::to_string(i % 7), i, i % 5 == 0 ? kHdr : "", 100);
  Cut(57);
  ExpectModelAcrossRestarts();
  for (int i = 0; i < 40; ++i) Add("b.x", 1000 + i, "", 100);
  EXPECT_EQ(model_last_, 97u);
  Cut(70);  // within the messages appended since the last cut
  ExpectModelAcrossRestarts();
  Cut(20);
  ExpectModelAcrossRestarts();
  EXPECT_EQ(Add("b.1", 2000), 21u);
  ExpectModelAcrossRestarts();
  if (file()) {
    std::string raw = RawBlocks();
    for (uint64_t q = 58; q <= 200; ++q) {
      EXPECT_EQ(raw.find("g0-" + std::to_string(q) + "p"), std::string::npos) << q;
    }
  }
}

TEST_P(StoreConformance, TruncateKeepsRemovalsOnBothSides) {
  for (int i = 1; i <= 10; ++i) Add("r." + std::to_string(i % 4), i);
  Del(3);
  Del(5, true);
  for (int i = 11; i <= 30; ++i) Add("r." + std::to_string(i % 4), i);
  // Removals recorded after the tail began, of messages below the cut
  // (interior, erased, and the first ones) and above it.
  Del(7);
  Del(12, true);
  Del(1);
  Del(2);
  Del(25);
  Del(28, true);
  Skip();
  Cut(20);
  ExpectModelAcrossRestarts();
  EXPECT_EQ(Add("r.1", 40), 21u);
  Del(20);  // the last one below the cut
  Cut(21);
  ExpectModelAcrossRestarts();
  EXPECT_EQ(store_->State().num_deleted, 4u);  // 5, 7, 12, 20 between 4 and 21
}

TEST_P(StoreConformance, TruncateSkippedSequences) {
  Add("a", 1);  // 1
  Skip();       // 2
  Add("b", 3);  // 3
  Skip();       // 4
  Skip();       // 5
  Add("a", 6);  // 6
  Skip();       // 7
  Cut(5);
  ExpectModelAcrossRestarts();
  EXPECT_EQ(store_->State().num_deleted, 3u);
  EXPECT_EQ(store_->State().last_ts, 3);
  EXPECT_EQ(Add("c", 9), 6u);
  Cut(4);
  ExpectModelAcrossRestarts();
  Skip();  // 5
  Skip();  // 6
  Cut(2);
  EXPECT_EQ(store_->State().msgs, 1u);
  ExpectModelAcrossRestarts();
  Del(1);
  Skip();  // 3
  Cut(2);  // only skips were left above the first sequence
  ExpectModelAcrossRestarts();
  EXPECT_EQ(Add("d", 10), 3u);
  ExpectModelAcrossRestarts();
}

TEST_P(StoreConformance, TruncateBelowFirstEmptiesTheStore) {
  for (int i = 1; i <= 10; ++i) Add("e." + std::to_string(i % 2), i);
  ASSERT_EQ(store_->Purge("", 6, 0).value, 5u);
  for (uint64_t q = 1; q < 6; ++q) model_.erase(q);
  Cut(3);
  ExpectModelAcrossRestarts();
  auto st = store_->State();
  EXPECT_EQ(st.msgs, 0u);
  EXPECT_EQ(st.first_seq, 4u);
  EXPECT_EQ(st.last_ts, 0);
  EXPECT_EQ(Add("e.0", 20), 4u);
  Cut(0);
  ExpectModelAcrossRestarts();
  EXPECT_EQ(Add("e.1", 30), 1u);
  // After a purge past the end the last sequence comes back down too.
  ASSERT_TRUE(store_->Purge("", 1000, 0).ok());
  model_.clear();
  model_last_ = 999;
  ExpectModel();
  Cut(500);
  ExpectModelAcrossRestarts();
  EXPECT_EQ(Add("e.2", 40), 501u);
  ExpectModelAcrossRestarts();
}

TEST_P(StoreConformance, TruncateAtOrAboveLastIsANoOp) {
  for (int i = 1; i <= 5; ++i) Add("n", i);
  Del(5);
  Cut(5);
  Cut(9);
  ExpectModelAcrossRestarts();
  EXPECT_EQ(store_->State().last_ts, 5);
  EXPECT_EQ(Add("n", 6), 6u);
}

TEST_P(StoreConformance, TruncateCompressedBlocks) {
  store_->SetCompression(true);
  // Compressible messages over many blocks: the sealed ones are compressed.
  for (int i = 1; i <= 300; ++i) Add("z." + std::to_string(i % 3), i, "", 200);
  if (file()) {
    ASSERT_TRUE(SyncWait(*store_).ok());
    size_t compressed = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() + "/" + sub_ + "/msgs")) {
      auto raw = ReadFileToString(DefaultEnv(), e.path().string());
      compressed += e.path().extension() == ".blk" && raw.ok() && IsCompressedBlock(raw.value);
    }
    ASSERT_GT(compressed, 3u);
  }
  Del(40);
  Cut(45);  // in an early, compressed block
  ExpectModelAcrossRestarts();
  for (int i = 0; i < 60; ++i) Add("z.n", 1000 + i, "", 200);
  Cut(80);
  ExpectModelAcrossRestarts();
}

TEST_P(StoreConformance, ClosedStoreRefuses) {
  ASSERT_TRUE(store_->Close().ok());
  EXPECT_EQ(store_->Append("a", "", "", 1).status.code, Errc::kClosed);
  EXPECT_EQ(store_->Truncate(0).code, Errc::kClosed);
  EXPECT_EQ(store_->Load(1).status.code, Errc::kClosed);
  store_.reset();
}

// Random operations against a plain std::map model.
struct Model {
  std::map<uint64_t, StoredMsg> msgs;
  uint64_t last = 0;
  Limits limits;
  bool file = false;

  uint64_t first() const { return msgs.empty() ? last + 1 : msgs.begin()->first; }
  uint64_t Size(const StoredMsg& m) const {
    return file ? FileMsgSize(m.subject, m.hdr, m.data) : MemMsgSize(m.subject, m.hdr, m.data);
  }
  uint64_t Bytes() const {
    uint64_t b = 0;
    for (auto& [s, m] : msgs) b += Size(m);
    return b;
  }
  uint64_t CountSubj(const std::string& subj) const {
    uint64_t n = 0;
    for (auto& [s, m] : msgs) n += m.subject == subj;
    return n;
  }
  void Append(StoredMsg m) {
    m.seq = ++last;
    msgs[m.seq] = m;
    if (limits.max_msgs_per_subject > 0) {
      while (CountSubj(m.subject) > static_cast<uint64_t>(limits.max_msgs_per_subject)) {
        for (auto it = msgs.begin(); it != msgs.end(); ++it) {
          if (it->second.subject == m.subject) {
            msgs.erase(it);
            break;
          }
        }
      }
    }
    if (limits.max_msgs > 0) {
      while (msgs.size() > static_cast<uint64_t>(limits.max_msgs)) msgs.erase(msgs.begin());
    }
    if (limits.max_bytes > 0) {
      while (!msgs.empty() && Bytes() > static_cast<uint64_t>(limits.max_bytes)) {
        msgs.erase(msgs.begin());
      }
    }
  }
  uint64_t Purge(const std::string& filter, uint64_t upto, uint64_t keep) {
    std::vector<uint64_t> v;
    for (auto& [s, m] : msgs) {
      if (SubjectMatches(filter, m.subject) && (upto == 0 || s < upto)) v.push_back(s);
    }
    if (keep > 0) v.resize(v.size() > keep ? v.size() - keep : 0);
    for (auto s : v) msgs.erase(s);
    if (MatchesAll(filter) && upto > last + 1) last = upto - 1;
    return v.size();
  }
};

// Collects what Scan visits as StoredMsgs.
std::vector<StoredMsg> ScanAll(Store& st, uint64_t start, uint64_t end, size_t stop_after = SIZE_MAX,
                               Status* status = nullptr) {
  std::vector<StoredMsg> out;
  Status s = st.Scan(start, end, [&](const MsgView& m) {
    out.push_back({m.seq, m.ts, std::string(m.subject), std::string(m.hdr), std::string(m.data)});
    return out.size() < stop_after;
  });
  if (status) *status = s;
  return out;
}

TEST_P(StoreConformance, ScanVisitsStoredMessagesInOrder) {
  const std::string hdr = "NATS/1.0\r\nNats-Msg-Id: m\r\n\r\n";
  // Enough bytes for several 4 KiB blocks, so chunks cross block files;
  // the last ones stay in the unwritten buffer (no Sync before the scan).
  for (int i = 1; i <= 300; ++i) {
    Put(i % 3 ? "a" : "b", std::string(size_t(i % 50), char('a' + i % 26)), i % 2 ? hdr : "", i);
  }
  ASSERT_TRUE(store_->Remove(1, false).ok());
  ASSERT_TRUE(store_->Remove(150, false).ok());
  ASSERT_TRUE(store_->Remove(151, true).ok());
  for (int round = 0; round < 2; ++round) {
    Status s;
    auto got = ScanAll(*store_, 0, UINT64_MAX, SIZE_MAX, &s);
    EXPECT_TRUE(s.ok()) << s.msg;
    ASSERT_EQ(got.size(), 297u);
    uint64_t want = 2;
    for (const auto& m : got) {
      if (want == 150) want = 152;
      EXPECT_EQ(m.seq, want);
      auto l = store_->Load(want);
      ASSERT_TRUE(l.ok());
      EXPECT_EQ(m.ts, l.value.ts);
      EXPECT_EQ(m.subject, l.value.subject);
      EXPECT_EQ(m.hdr, l.value.hdr);
      EXPECT_EQ(m.data, l.value.data);
      ++want;
    }
    // A range, and stopping early.
    got = ScanAll(*store_, 148, 153);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].seq, 148u);
    EXPECT_EQ(got[2].seq, 152u);
    got = ScanAll(*store_, 10, 300, 3);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[2].seq, 12u);
    EXPECT_TRUE(ScanAll(*store_, 301, UINT64_MAX).empty());
    EXPECT_TRUE(ScanAll(*store_, 150, 151).empty());
    EXPECT_TRUE(SyncWait(*store_).ok());
    Reopen();
  }
}

TEST_P(StoreConformance, FirstSeqSince) {
  EXPECT_EQ(store_->FirstSeqSince(5), 1u);  // empty: the next sequence
  Put("t", "x", "", 10);  // 1
  Put("t", "x", "", 20);  // 2
  Put("t", "x", "", 30);  // 3
  Put("t", "x", "", 40);  // 4
  ASSERT_TRUE(store_->Remove(3, false).ok());
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(store_->FirstSeqSince(5), 1u);   // nothing older
    EXPECT_EQ(store_->FirstSeqSince(20), 2u);  // 1 is older
    EXPECT_EQ(store_->FirstSeqSince(25), 3u);  // after 2, the newest older one
    EXPECT_EQ(store_->FirstSeqSince(35), 3u);  // 3 is gone: the window starts at 4 anyway
    EXPECT_EQ(store_->FirstSeqSince(41), 5u);  // everything older
    EXPECT_TRUE(SyncWait(*store_).ok());
    Reopen();
  }
}

TEST_P(StoreConformance, RandomAgainstModel) {
  // FJORD_STORE_SEED / FJORD_STORE_STEPS run other histories by hand.
  uint64_t seed = getenv("FJORD_STORE_SEED") ? std::strtoull(getenv("FJORD_STORE_SEED"), nullptr, 10) : 42;
  int steps = getenv("FJORD_STORE_STEPS") ? std::atoi(getenv("FJORD_STORE_STEPS")) : 3000;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Model model;
  model.file = file();
  const std::vector<std::string> subjects = {"a.1", "a.2", "b.1", "b.2.x", "c"};
  const std::vector<std::string> filters = {"", ">", "a.*", "a.1", "b.>", "*.1", "c", "zz"};
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  for (int step = 0; step < steps; ++step) {
    int op = static_cast<int>(rng() % 100);
    if (op < 60) {
      StoredMsg m;
      m.subject = subjects[pick(subjects.size())];
      m.data = std::string(pick(40), 'd');
      if (rng() % 4 == 0) m.hdr = "NATS/1.0\r\nK: v\r\n\r\n";
      m.ts = step;
      auto r = store_->Append(m.subject, m.hdr, m.data, m.ts);
      ASSERT_TRUE(r.ok());
      model.Append(m);
      ASSERT_EQ(r.value, model.last);
    } else if (op < 75) {
      uint64_t seq = model.first() + rng() % (model.last - model.first() + 2);
      bool live = model.msgs.count(seq) > 0;
      EXPECT_EQ(store_->Remove(seq, rng() % 2).ok(), live) << seq;
      model.msgs.erase(seq);
    } else if (op < 78) {
      std::string f = filters[pick(filters.size())];
      uint64_t keep = rng() % 2 ? rng() % 5 : 0;
      uint64_t upto = keep == 0 && rng() % 2 ? model.first() + rng() % 20 : 0;
      auto r = store_->Purge(f, upto, keep);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r.value, model.Purge(f, upto, keep)) << f << " " << upto << " " << keep;
    } else if (op < 80) {
      Limits l;
      l.max_msgs = rng() % 3 ? -1 : 20 + static_cast<int64_t>(rng() % 50);
      l.max_msgs_per_subject = rng() % 3 ? -1 : 1 + static_cast<int64_t>(rng() % 10);
      l.max_bytes = rng() % 4 ? -1 : 2000 + static_cast<int64_t>(rng() % 3000);
      store_->SetLimits(l);
      limits_ = l;
      model.limits = l;
      // Apply the new limits to the model the way the store does.
      if (l.max_msgs_per_subject > 0) {
        for (auto& s : subjects) {
          while (model.CountSubj(s) > static_cast<uint64_t>(l.max_msgs_per_subject)) {
            for (auto it = model.msgs.begin(); it != model.msgs.end(); ++it) {
              if (it->second.subject == s) {
                model.msgs.erase(it);
                break;
              }
            }
          }
        }
      }
      if (l.max_msgs > 0) {
        while (model.msgs.size() > static_cast<uint64_t>(l.max_msgs)) model.msgs.erase(model.msgs.begin());
      }
      if (l.max_bytes > 0) {
        while (!model.msgs.empty() && model.Bytes() > static_cast<uint64_t>(l.max_bytes)) {
          model.msgs.erase(model.msgs.begin());
        }
      }
    } else if (op < 81 && rng() % 3 == 0) {
      // Back to a random point around the first sequence or after it.
      uint64_t seq = model.first() - std::min<uint64_t>(model.first(), 2) + rng() % (model.last + 3 - model.first());
      ASSERT_TRUE(store_->Truncate(seq).ok()) << seq;
      if (seq < model.last) {
        model.msgs.erase(model.msgs.upper_bound(seq), model.msgs.end());
        model.last = seq;
      }
    } else if (op < 81) {
      if (rng() % 2) {
        Reopen();
      } else {
        CrashReopen();
      }
    } else {
      std::string f = filters[pick(filters.size())];
      uint64_t start = rng() % (model.last + 3);
      uint64_t want_next = 0, want_pending = 0, want_last = 0;
      for (auto& [s, m] : model.msgs) {
        if (!SubjectMatches(f, m.subject)) continue;
        if (s >= start && want_next == 0) want_next = s;
        if (s >= start) want_pending++;
        want_last = s;
      }
      auto next = store_->LoadNext(f, start);
      EXPECT_EQ(next.ok() ? next.value.seq : 0, want_next) << f << " " << start;
      if (next.ok()) {
        const StoredMsg& m = model.msgs[want_next];
        EXPECT_EQ(next.value.subject, m.subject);
        EXPECT_EQ(next.value.hdr, m.hdr);
        EXPECT_EQ(next.value.data, m.data);
        EXPECT_EQ(next.value.ts, m.ts);
      }
      EXPECT_EQ(store_->NumPending(f, start), want_pending) << f << " " << start;
      auto last = store_->LoadLast(f);
      EXPECT_EQ(last.ok() ? last.value.seq : 0, want_last) << f;
      // Scan over a random range sees exactly the model's messages there.
      uint64_t end = start + rng() % 20;
      auto scanned = ScanAll(*store_, start, end);
      auto it = model.msgs.lower_bound(start);
      for (const auto& m : scanned) {
        ASSERT_TRUE(it != model.msgs.end() && it->first <= end) << "extra seq " << m.seq;
        EXPECT_EQ(m.seq, it->first);
        EXPECT_EQ(m.subject, it->second.subject);
        EXPECT_EQ(m.hdr, it->second.hdr);
        EXPECT_EQ(m.data, it->second.data);
        EXPECT_EQ(m.ts, it->second.ts);
        ++it;
      }
      EXPECT_TRUE(it == model.msgs.end() || it->first > end) << "missed seq " << it->first;
    }
    auto st = store_->State();
    ASSERT_EQ(st.msgs, model.msgs.size()) << "step " << step;
    ASSERT_EQ(st.first_seq, model.first()) << "step " << step;
    ASSERT_EQ(st.last_seq, model.last) << "step " << step;
    ASSERT_EQ(st.bytes, model.Bytes()) << "step " << step;
    if (step % 50 == 0) {
      std::map<std::string, SubjectInfo> want;
      for (auto& [s, m] : model.msgs) {
        auto& i = want[m.subject];
        if (i.count++ == 0) i.first = s;
        i.last = s;
      }
      auto got = store_->Subjects("");
      ASSERT_EQ(got.size(), want.size());
      for (auto& [name, i] : want) {
        EXPECT_EQ(got[name].first, i.first) << name;
        EXPECT_EQ(got[name].last, i.last) << name;
        EXPECT_EQ(got[name].count, i.count) << name;
      }
      EXPECT_EQ(st.num_subjects, want.size());
      EXPECT_EQ(st.num_deleted, model.msgs.empty() ? 0 : model.last - model.first() + 1 - model.msgs.size());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, StoreConformance, ::testing::Values(Kind::kMem, Kind::kFileAlways, Kind::kFileInterval), KindName);

TEST(MemConsumerStore, DeliverAndAck) {
  auto cs = NewMemConsumerStore();
  ASSERT_TRUE(cs->SetConfig("{}").ok());
  EXPECT_EQ(cs->Config().value, "{}");
  cs->UpdateDelivered(1, 10, 1, 100);
  cs->UpdateDelivered(2, 11, 1, 101);
  cs->UpdateDelivered(3, 10, 2, 102);
  auto st = cs->State();
  EXPECT_EQ(st.delivered_consumer, 3u);
  EXPECT_EQ(st.delivered_stream, 11u);
  EXPECT_EQ(st.pending.size(), 2u);
  EXPECT_EQ(st.redelivered.at(10), 2u);
  cs->UpdateAcks(3, 10);
  st = cs->State();
  EXPECT_EQ(st.ack_floor_stream, 10u);
  EXPECT_EQ(st.pending.size(), 1u);
  cs->UpdateAcks(2, 11);
  st = cs->State();
  EXPECT_EQ(st.ack_floor_stream, 11u);
  EXPECT_EQ(st.ack_floor_consumer, 3u);
  EXPECT_TRUE(st.pending.empty());
  EXPECT_TRUE(st.redelivered.empty());
}

}  // namespace
}  // namespace fjord::store
