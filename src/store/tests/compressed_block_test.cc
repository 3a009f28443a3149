// Compressed blocks: the container on its own, and file stores that
// compress their sealed blocks.
#include <random>

#include <gtest/gtest.h>

#include "store/compressed_block.h"
#include "store/env.h"
#include "store/fault_env.h"
#include "store/record.h"
#include "store/store.h"
#include "store/tests/store_test_util.h"

namespace fjord::store {
namespace {

using testing::SyncWait;
using testing::TempDir;

// An order as the story's order service would publish it.
std::string Order(uint64_t i) {
  return "{\"order_id\":\"ord-" + std::to_string(100000 + i) + "\",\"city\":\"oslo\",\"customer\":\"c-" +
         std::to_string(i * 7919 % 5000) + "\",\"items\":[{\"sku\":\"sku-" + std::to_string(i % 97) +
         "\",\"qty\":" + std::to_string(1 + i % 4) + "}],\"total\":" + std::to_string(100 + i % 900) + "}";
}

std::string Image(size_t n) {
  std::string raw;
  for (uint64_t i = 0; raw.size() < n; ++i) raw += Order(i);
  raw.resize(n);
  return raw;
}

Result<std::unique_ptr<File>> OpenContainer(Env* env, const std::string& path, std::string_view bytes) {
  EXPECT_TRUE(WriteFileDurably(env, path, bytes).ok());
  auto f = env->OpenExisting(path);
  EXPECT_TRUE(f.ok());
  return OpenCompressedBlock(env, path, std::move(f.value));
}

TEST(CompressedBlock, ReadsAnyRangeOfTheLogicalBytes) {
  TempDir tmp;
  std::string raw = Image(300'000);  // five chunks, the last one short
  std::string container = CompressBlock(raw);
  ASSERT_FALSE(container.empty());
  EXPECT_LT(container.size(), raw.size() / 3);
  EXPECT_TRUE(IsCompressedBlock(container));
  EXPECT_FALSE(IsCompressedBlock(raw));
  auto f = OpenContainer(DefaultEnv(), tmp.path() + "/b", container);
  ASSERT_TRUE(f.ok()) << f.status.msg;
  EXPECT_EQ(f.value->Size().value, raw.size());
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    uint64_t off = rng() % raw.size();
    size_t n = rng() % 150'000;
    std::string got(n, '\0');
    auto r = f.value->Read(off, n, got.data());
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.value, std::min<size_t>(n, raw.size() - off));
    got.resize(r.value);
    ASSERT_EQ(got, raw.substr(off, r.value)) << off << "+" << n;
  }
  EXPECT_FALSE(f.value->Append("x").ok());
  EXPECT_FALSE(f.value->Truncate(0).ok());
}

TEST(CompressedBlock, IncompressibleDataStaysRaw) {
  std::string raw(100'000, '\0');
  std::mt19937_64 rng(5);
  for (auto& c : raw) c = static_cast<char>(rng());
  EXPECT_TRUE(CompressBlock(raw).empty());
  EXPECT_FALSE(CompressBlock(raw, true).empty());
}

TEST(CompressedBlock, DamageFailsOnlyTheChunkItIsIn) {
  TempDir tmp;
  std::string raw = Image(300'000);
  std::string container = CompressBlock(raw);
  // A byte in the middle of the compressed data of the last chunks.
  container[container.size() - 100] ^= 0x10;
  auto f = OpenContainer(DefaultEnv(), tmp.path() + "/b", container);
  ASSERT_TRUE(f.ok());
  std::string got(1000, '\0');
  auto first = f.value->Read(0, got.size(), got.data());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(got, raw.substr(0, 1000));
  // The damaged chunk reads as 0xff bytes (its records then fail their own
  // checksums); the reads around it are whole.
  auto last = f.value->Read(raw.size() - 1000, got.size(), got.data());
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(got, std::string(1000, '\xff'));
  ASSERT_TRUE(f.value->Read(0, got.size(), got.data()).ok());
  EXPECT_EQ(got, raw.substr(0, 1000));
  // A damaged chunk table refuses the whole container.
  std::string bad = CompressBlock(raw);
  bad[30] ^= 0x01;
  EXPECT_EQ(OpenContainer(DefaultEnv(), tmp.path() + "/c", bad).status.code, Errc::kCorrupt);
}

TEST(CompressedBlock, WriteRewritesTheContainer) {
  TempDir tmp;
  std::string raw = Image(200'000);
  auto f = OpenContainer(DefaultEnv(), tmp.path() + "/b", CompressBlock(raw));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.value->Write(70'000, std::string(5000, '\0')).ok());
  raw.replace(70'000, 5000, std::string(5000, '\0'));
  std::string got(raw.size(), '\0');
  ASSERT_EQ(f.value->Read(0, got.size(), got.data()).value, raw.size());
  EXPECT_EQ(got, raw);
  // And on disk: opened again.
  auto g = DefaultEnv()->OpenExisting(tmp.path() + "/b");
  auto h = OpenCompressedBlock(DefaultEnv(), tmp.path() + "/b", std::move(g.value));
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h.value->Read(0, got.size(), got.data()).value, raw.size());
  EXPECT_EQ(got, raw);
}

class CompressedStore : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path() + "/s"; }
  std::unique_ptr<Store> Open(bool compress = true, uint64_t block_size = 64 * 1024) {
    FileStoreOptions o;
    o.dir = dir();
    o.block_size = block_size;
    o.compress = compress;
    auto r = OpenFileStore(&env_, o, {});
    EXPECT_TRUE(r.ok()) << r.status.msg;
    return std::move(r.value);
  }
  uint64_t DiskBytes() {
    uint64_t n = 0;
    for (const auto& f : env_.ListDir(dir() + "/msgs").value) {
      if (f.ends_with(".blk")) n += env_.FileSize(dir() + "/msgs/" + f).value;
    }
    return n;
  }
  int CompressedBlocks() {
    int n = 0;
    for (const auto& f : env_.ListDir(dir() + "/msgs").value) {
      if (!f.ends_with(".blk")) continue;
      auto raw = ReadFileToString(&env_, dir() + "/msgs/" + f);
      n += raw.ok() && IsCompressedBlock(raw.value);
    }
    return n;
  }
  // 3,000 orders in blocks of 256 KiB (four chunks each), closed; the
  // first block is compressed.
  void FillCompressed() {
    {
      auto s = Open(true, 256 * 1024);
      for (uint64_t i = 1; i <= 3000; ++i) ASSERT_TRUE(s->Append("o", "", Order(i), 1).ok());
      ASSERT_TRUE(s->Close().ok());
    }
    auto raw = ReadFileToString(&env_, dir() + "/msgs/000001.blk");
    ASSERT_TRUE(raw.ok() && IsCompressedBlock(raw.value));
  }

  TempDir tmp_;
  FaultEnv env_{DefaultEnv(), tmp_.path()};
};

TEST_F(CompressedStore, SealedBlocksAreCompressedAndReadBack) {
  constexpr uint64_t kN = 5000;
  uint64_t raw_bytes = 0;
  {
    auto s = Open();
    for (uint64_t i = 1; i <= kN; ++i) {
      ASSERT_EQ(s->Append("orders.oslo.created", "", Order(i), 1'764'900'000'000'000'000 + int64_t(i)).value, i);
    }
    ASSERT_TRUE(SyncWait(*s).ok());
    raw_bytes = s->State().bytes;
    EXPECT_GT(CompressedBlocks(), 5);
    EXPECT_LT(DiskBytes(), raw_bytes / 2);
    for (uint64_t i = 1; i <= kN; i += 7) ASSERT_EQ(s->Load(i).value.data, Order(i)) << i;
    // Limits and StreamInfo count the messages' own bytes, as nats-server does.
    EXPECT_EQ(s->State().msgs, kN);
    // An erase in a compressed block.
    ASSERT_TRUE(s->Remove(10, true).ok());
    ASSERT_TRUE(SyncWait(*s).ok());
  }
  // A restart (clean), then a power loss after more messages.
  auto s = Open();
  EXPECT_EQ(s->State().msgs, kN - 1);
  EXPECT_EQ(s->State().bytes, raw_bytes - (22 + 19 + Order(10).size() + 8));
  EXPECT_FALSE(s->Load(10).ok());
  uint64_t n = 0;
  ASSERT_TRUE(s->Scan(1, kN, [&](const MsgView& m) {
    EXPECT_EQ(m.data, Order(m.seq));
    ++n;
    return true;
  }).ok());
  EXPECT_EQ(n, kN - 1);
  auto erased = ReadFileToString(&env_, dir() + "/msgs/000001.blk");
  ASSERT_TRUE(IsCompressedBlock(erased.value));
  for (uint64_t i = kN + 1; i <= kN + 500; ++i) ASSERT_TRUE(s->Append("orders.oslo.created", "", Order(i), 1).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  env_.Crash();
  s.reset();
  env_.PowerLoss();
  s = Open();
  EXPECT_EQ(s->State().msgs, kN + 500 - 1);
  for (uint64_t i = 1; i <= kN + 500; ++i) {
    if (i == 10) continue;
    ASSERT_EQ(s->Load(i).value.data, Order(i)) << i;
  }
  // Compression off: blocks already compressed stay readable, new ones are raw.
  s.reset();
  s = Open(false);
  int before = CompressedBlocks();
  for (uint64_t i = 1; i <= 2000; ++i) ASSERT_TRUE(s->Append("orders.oslo.created", "", Order(i), 1).ok());
  EXPECT_EQ(CompressedBlocks(), before);
  EXPECT_EQ(s->Load(2).value.data, Order(2));
}

TEST_F(CompressedStore, DamagedChunkFailsOnlyItsMessages) {
  ASSERT_NO_FATAL_FAILURE(FillCompressed());
  std::string path = dir() + "/msgs/000001.blk";
  auto raw = ReadFileToString(&env_, path);
  ASSERT_TRUE(env_.FlipBit(path, raw.value.size() - 50, 2).ok());
  auto s = Open(true, 256 * 1024);
  EXPECT_EQ(s->State().msgs, 3000u);  // from the summary and index: nothing dropped
  int corrupt = 0, ok = 0;
  for (uint64_t i = 1; i <= 3000; ++i) {
    auto m = s->Load(i);
    if (m.ok()) {
      EXPECT_EQ(m.value.data, Order(i));
      ++ok;
    } else {
      EXPECT_EQ(m.status.code, Errc::kCorrupt) << i;
      ++corrupt;
    }
  }
  // Only the messages of the damaged chunk (about 520 orders in 64 KiB).
  EXPECT_GT(corrupt, 0);
  EXPECT_LT(corrupt, 600);
  EXPECT_EQ(ok + corrupt, 3000);
  // The damaged block is not rewritten or removed.
  EXPECT_TRUE(env_.Exists(path));
}

// The last chunk of a block damaged, and no index file or summary to
// describe the block: the replay scans it, loses only the damaged records,
// keeps every other message, and leaves the block file as it was.
TEST_F(CompressedStore, DamagedLastChunkIsNotTheEndOfTheLog) {
  ASSERT_NO_FATAL_FAILURE(FillCompressed());
  std::string path = dir() + "/msgs/000001.blk";
  auto raw = ReadFileToString(&env_, path);
  ASSERT_TRUE(env_.FlipBit(path, raw.value.size() - 20, 4).ok());
  ASSERT_TRUE(env_.RemoveFile(dir() + "/msgs/000001.idx").ok());
  ASSERT_TRUE(env_.RemoveFile(dir() + "/msgs/summary").ok());
  auto s = Open(true, 256 * 1024);
  auto st = s->State();
  EXPECT_EQ(st.last_seq, 3000u);
  EXPECT_GT(st.msgs, 2000u);
  EXPECT_LT(st.msgs, 3000u);
  for (uint64_t i = 1; i <= 3000; ++i) {
    auto m = s->Load(i);
    if (m.ok()) {
      EXPECT_EQ(m.value.data, Order(i));
    }
  }
  // The block is as it was: no cut.
  EXPECT_EQ(ReadFileToString(&env_, path).value.size(), raw.value.size());
}

// An erase reaches the disk only after the removal record that explains
// it: a power cut between them must not leave the index pointing at an
// erased record (kCorrupt) for a removal that was never acknowledged. In a
// compressed block an erase is a durable rewrite, so the order is visible.
TEST_F(CompressedStore, EraseIsNotDurableBeforeItsTombstone) {
  auto s = Open();
  for (uint64_t i = 1; i <= 2000; ++i) ASSERT_TRUE(s->Append("o", "", Order(i), 1).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  ASSERT_GT(CompressedBlocks(), 0);
  ASSERT_TRUE(s->Remove(7, true).ok());  // not synced: not acknowledged
  env_.Crash();
  s.reset();
  env_.PowerLoss();
  s = Open();
  auto m = s->Load(7);
  EXPECT_NE(m.status.code, Errc::kCorrupt) << m.status.msg;
  if (m.ok()) {
    EXPECT_EQ(m.value.data, Order(7));
  }
  for (uint64_t i = 1; i <= 2000; ++i) {
    if (i != 7) {
      ASSERT_EQ(s->Load(i).value.data, Order(i)) << i;
    }
  }
  // Acknowledged, the erase holds after a power cut.
  ASSERT_TRUE(s->Remove(9, true).ok());
  ASSERT_TRUE(SyncWait(*s).ok());
  env_.Crash();
  s.reset();
  env_.PowerLoss();
  s = Open();
  auto gone = s->Load(9);
  EXPECT_FALSE(gone.ok());
  EXPECT_NE(gone.status.code, Errc::kCorrupt);
  auto raw = ReadFileToString(&env_, dir() + "/msgs/000001.blk");
  ASSERT_TRUE(raw.ok());
  auto f = DefaultEnv()->OpenExisting(dir() + "/msgs/000001.blk");
  auto c = OpenCompressedBlock(DefaultEnv(), dir() + "/msgs/000001.blk", std::move(f.value));
  ASSERT_TRUE(c.ok());
  std::string logical(c.value->Size().value, '\0');
  ASSERT_TRUE(c.value->Read(0, logical.size(), logical.data()).ok());
  EXPECT_EQ(logical.find(Order(9)), std::string::npos) << "erased content still on disk";
}

}  // namespace
}  // namespace fjord::store
