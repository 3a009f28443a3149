// The on-disk formats round trip: block records, block index files and the
// stream summary.
#include <gtest/gtest.h>
#include <xxhash.h>

#include "store/block_index.h"
#include "store/coding.h"
#include "store/record.h"
#include "store/stream_summary.h"

namespace fjord::store {
namespace {

constexpr int64_t kBase = 1'764'900'000'000'000'000;  // a block's base timestamp

TEST(RecordFormat, RoundTripsAndIsCompact) {
  std::string block;
  EncodeRecord(&block, RecordType::kBlockStart, 41, kBase, 0, {}, {}, {});
  std::string payload(128, 'p');
  // The story's message, 3 ms into its block.
  size_t len = EncodeRecord(&block, RecordType::kMsg, 42, kBase + 3'000'000, kBase, "orders.oslo.1", {}, payload);
  // nats-server's file store spends 30 bytes on a record (22 + an 8-byte hash).
  EXPECT_LE(len - payload.size() - 13, 20u);
  EncodeRecord(&block, RecordType::kMsg, 43, kBase - 5, kBase, "h", "NATS/1.0\r\nA: b\r\n\r\n", "x");
  EncodeRecord(&block, RecordType::kTombstone, 7, 0, kBase, {}, {}, {});
  EncodeRecord(&block, RecordType::kFloor, 1ull << 40, 0, kBase, {}, {}, {});
  std::vector<RecordView> got;
  std::vector<std::string> subjects;
  // Scanned with a wrong base: the block-start record sets it.
  ScanResult res = ScanRecords(block, 0, 0, [&](uint64_t, const RecordView& r) {
    got.push_back(r);
    subjects.emplace_back(r.subject);
  });
  EXPECT_EQ(res.valid_end, block.size());
  EXPECT_TRUE(res.corrupt.empty());
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].type, RecordType::kBlockStart);
  EXPECT_EQ(got[0].seq, 41u);
  EXPECT_EQ(got[0].ts, kBase);
  EXPECT_EQ(got[1].seq, 42u);
  EXPECT_EQ(got[1].ts, kBase + 3'000'000);
  EXPECT_EQ(subjects[1], "orders.oslo.1");
  EXPECT_EQ(got[1].data.size(), 128u);
  EXPECT_EQ(got[1].len, len);
  EXPECT_EQ(AccountedSize(got[1].len, got[1].overhead, false), 22u + 13 + 128 + 8);
  EXPECT_EQ(got[2].ts, kBase - 5);
  EXPECT_EQ(got[2].hdr.size(), 18u);
  EXPECT_EQ(AccountedSize(got[2].len, got[2].overhead, true), 22u + 1 + 1 + 8 + 4 + 18);
  EXPECT_EQ(got[3].type, RecordType::kTombstone);
  EXPECT_EQ(got[3].seq, 7u);
  EXPECT_EQ(got[4].seq, 1ull << 40);
  // Every flipped bit and every cut is caught by the checksum or the framing.
  for (size_t i = 0; i < len; ++i) {
    std::string bad(block.data() + got[0].len, len);
    bad[i] ^= static_cast<char>(1 << (i % 8));
    RecordView v;
    EXPECT_NE(DecodeRecord(bad, kBase, &v), DecodeResult::kOk) << i;
    EXPECT_NE(DecodeRecord(std::string_view(block.data() + got[0].len, i), kBase, &v), DecodeResult::kOk) << i;
  }
}

TEST(RecordFormat, EraseKeepsLengthSubjectAndSize) {
  std::string rec;
  size_t len = EncodeRecord(&rec, RecordType::kMsg, 9, kBase + 77, kBase, "kv.secret", "NATS/1.0\r\n\r\n",
                            "password=hunter2");
  RecordView before;
  ASSERT_EQ(DecodeRecord(rec, kBase, &before), DecodeResult::kOk);
  uint64_t size = AccountedSize(before.len, before.overhead, true);
  ASSERT_TRUE(EraseRecordInPlace(rec.data(), rec.size()));
  EXPECT_EQ(rec.size(), len);
  EXPECT_EQ(rec.find("hunter2"), std::string::npos);
  RecordView after;
  ASSERT_EQ(DecodeRecord(rec, kBase, &after), DecodeResult::kOk);
  EXPECT_EQ(after.type, RecordType::kErased);
  EXPECT_EQ(after.seq, 9u);
  EXPECT_EQ(after.subject, "kv.secret");
  EXPECT_EQ(AccountedSize(after.len, after.overhead, !after.hdr.empty()), size);
  // A damaged record is zeroed whole.
  std::string bad;
  EncodeRecord(&bad, RecordType::kMsg, 9, kBase, kBase, "s", {}, "secret");
  bad[0] = static_cast<char>(bad[0] + 1);
  EXPECT_FALSE(EraseRecordInPlace(bad.data(), bad.size()));
  EXPECT_EQ(bad, std::string(bad.size(), '\0'));
}

// A replicated stream's message keeps its Raft log position in its header
// (raft::StreamLog): decoded, kept by an erase and by a header peek, and
// not counted in the message's accounted size.
TEST(RecordFormat, KeepsALogPosition) {
  std::string plain, rec;
  EncodeRecord(&plain, RecordType::kMsg, 1ull << 30, kBase + 9, kBase, "kv.a", "NATS/1.0\r\n\r\n", "v");
  size_t len = EncodeRecord(&rec, RecordType::kMsg, 1ull << 30, kBase + 9, kBase, "kv.a", "NATS/1.0\r\n\r\n", "v",
                            1ull << 40, 7);
  EXPECT_EQ(len, plain.size() + 6 + 1);  // two varints
  RecordView a, b;
  ASSERT_EQ(DecodeRecord(plain, kBase, &a), DecodeResult::kOk);
  ASSERT_EQ(DecodeRecord(rec, kBase, &b), DecodeResult::kOk);
  EXPECT_EQ(a.log_index, 0u);
  EXPECT_EQ(b.log_index, 1ull << 40);
  EXPECT_EQ(b.log_term, 7u);
  EXPECT_EQ(b.seq, 1ull << 30);
  EXPECT_EQ(b.ts, kBase + 9);
  EXPECT_EQ(b.subject, "kv.a");
  EXPECT_EQ(b.data, "v");
  EXPECT_EQ(AccountedSize(b.len, b.overhead, true), AccountedSize(a.len, a.overhead, true));
  RecordType type;
  uint64_t seq, index = 0, term = 0;
  uint32_t n;
  ASSERT_TRUE(PeekRecordHeader(rec, &type, &seq, &n, &index, &term));
  EXPECT_EQ(index, 1ull << 40);
  EXPECT_EQ(term, 7u);
  ASSERT_TRUE(EraseRecordInPlace(rec.data(), rec.size()));
  ASSERT_EQ(DecodeRecord(rec, kBase, &b), DecodeResult::kOk);
  EXPECT_EQ(b.type, RecordType::kErased);
  EXPECT_EQ(b.log_index, 1ull << 40);
  // Index 0 means none: a header that spells it out is not a record.
  std::string zero;
  EncodeRecord(&zero, RecordType::kMsg, 5, kBase, kBase, "s", {}, "x", 1, 0);
  RecordView z;
  ASSERT_EQ(DecodeRecord(zero, kBase, &z), DecodeResult::kOk);
  EXPECT_EQ(z.log_index, 1u);
  // The index's byte (before the term, subject, data and checksum), with
  // the checksum made good again.
  zero[zero.size() - 8 - 1 - 1 - 1 - 1] = 0;
  EncodeU64(zero.data() + zero.size() - 8, XXH64(zero.data(), zero.size() - 8, 0));
  EXPECT_EQ(DecodeRecord(zero, kBase, &z), DecodeResult::kBad);
}

TEST(BlockIndexFormat, RoundTripsEveryRecordKind) {
  BlockIndex idx;
  idx.covered = 123456;
  idx.base_ts = kBase;
  idx.subjects = {"orders.oslo.created", "a", ""};
  // A block start, messages with and without headers, a tombstone for an
  // older sequence, an erased record, a floor, and a gap left by damage.
  idx.events = {
      {RecordType::kBlockStart, 99, 0, 0, 40},
      {RecordType::kMsg, 100, 1'700'000'000'000'000'000, 40, 240, 250, 0, false},  // overhead 20
      {RecordType::kMsg, 101, 1'700'000'000'000'000'500, 280, 90, 104, 1, true},   // 20, headers
      {RecordType::kTombstone, 7, 0, 370, 40},
      {RecordType::kErased, 102, 0, 410, 70, 70, 1, false},  // 30
      {RecordType::kMsg, 103, 1'699'999'999'000'000'000, 9000, 50, 67, 2, false},  // 13: after a skipped range, older ts
      {RecordType::kFloor, 50, 0, 9050, 40},
  };
  std::string out;
  EncodeBlockIndex(idx, &out);
  EXPECT_LT(out.size(), 8 + 8 + 8 + 4 + 3 * 4 + 20 + idx.events.size() * 12 + 8);
  BlockIndex got;
  ASSERT_TRUE(DecodeBlockIndex(out, &got));
  EXPECT_EQ(got.covered, idx.covered);
  EXPECT_EQ(got.base_ts, idx.base_ts);
  EXPECT_EQ(got.subjects, idx.subjects);
  ASSERT_EQ(got.events.size(), idx.events.size());
  for (size_t i = 0; i < idx.events.size(); ++i) {
    const IndexEvent& w = idx.events[i];
    const IndexEvent& g = got.events[i];
    EXPECT_EQ(g.type, w.type) << i;
    EXPECT_EQ(g.seq, w.seq) << i;
    EXPECT_EQ(g.ts, w.ts) << i;
    EXPECT_EQ(g.offset, w.offset) << i;
    EXPECT_EQ(g.len, w.len) << i;
    EXPECT_EQ(g.size, w.size) << i;
    EXPECT_EQ(g.subj, w.subj) << i;
    EXPECT_EQ(g.hdr, w.hdr) << i;
  }
  // The same, header first and events one by one.
  BlockIndex head;
  ASSERT_TRUE(DecodeBlockIndexHeader(out, &head));
  EXPECT_EQ(head.subjects, idx.subjects);
  EXPECT_EQ(head.base_ts, idx.base_ts);
  EXPECT_TRUE(head.events.empty());
  size_t n = 0;
  ForEachIndexEvent(out, [&](const IndexEvent& e) {
    ASSERT_LT(n, got.events.size());
    EXPECT_EQ(e.seq, got.events[n].seq);
    EXPECT_EQ(e.size, got.events[n].size);
    ++n;
  });
  EXPECT_EQ(n, idx.events.size());
  // Any flipped bit is refused, as is a truncated file.
  for (size_t i = 0; i < out.size(); i += 7) {
    std::string bad = out;
    bad[i] ^= 0x04;
    EXPECT_FALSE(DecodeBlockIndex(bad, &got)) << i;
    EXPECT_FALSE(DecodeBlockIndexHeader(bad, &got)) << i;
  }
  EXPECT_FALSE(DecodeBlockIndex(std::string_view(out).substr(0, out.size() - 1), &got));
}

TEST(SummaryFormat, RoundTrips) {
  StreamSummary s;
  s.pos_block = 7;
  s.pos_offset = 4096;
  s.first_seq = 10;
  s.last_seq = 500;
  s.msgs = 400;
  s.bytes = 99999;
  s.last_ts = 1'700'000'000'000'000'000;
  s.blocks.push_back(
      {5, 8 << 20, 1, 10, 300, 250, 60000, 1'600'000'000'000'000'000, kBase, true, false, true, {0x0f, 0}});
  s.blocks.push_back({7, 4096, 301, 301, 500, 150, 39999, 1'650'000'000'000'000'000, kBase + 1, false, true, false, {}});
  s.subjects.push_back({"orders.oslo.created", 10, 480, 300, false, true});
  s.subjects.push_back({"kv.k", 11, 500, 100, true, false});
  std::string out;
  EncodeSummary(s, &out);
  StreamSummary g;
  ASSERT_TRUE(DecodeSummary(out, &g));
  EXPECT_EQ(g.pos_block, 7u);
  EXPECT_EQ(g.pos_offset, 4096u);
  EXPECT_EQ(g.msgs, 400u);
  EXPECT_EQ(g.last_ts, s.last_ts);
  ASSERT_EQ(g.blocks.size(), 2u);
  EXPECT_EQ(g.blocks[0].dead, s.blocks[0].dead);
  EXPECT_TRUE(g.blocks[0].cross_tombstones);
  EXPECT_TRUE(g.blocks[0].headers);
  EXPECT_TRUE(g.blocks[1].has_floor);
  EXPECT_EQ(g.blocks[1].min_ts, s.blocks[1].min_ts);
  EXPECT_EQ(g.blocks[0].base_ts, kBase);
  EXPECT_EQ(g.blocks[1].base_ts, kBase + 1);
  ASSERT_EQ(g.subjects.size(), 2u);
  EXPECT_EQ(g.subjects[0].name, "orders.oslo.created");
  EXPECT_TRUE(g.subjects[0].last_stale);
  EXPECT_TRUE(g.subjects[1].first_stale);
  EXPECT_EQ(g.subjects[1].count, 100u);
  std::string bad = out;
  bad[out.size() / 2] ^= 1;
  EXPECT_FALSE(DecodeSummary(bad, &g));
}

}  // namespace
}  // namespace fjord::store
