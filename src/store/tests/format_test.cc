// The derived on-disk formats round trip: block index files and the stream
// summary.
#include <gtest/gtest.h>

#include "store/block_index.h"
#include "store/stream_summary.h"

namespace fjord::store {
namespace {

TEST(BlockIndexFormat, RoundTripsEveryRecordKind) {
  BlockIndex idx;
  idx.covered = 123456;
  idx.subjects = {"orders.oslo.created", "a", ""};
  // A block start, messages with and without headers, a tombstone for an
  // older sequence, an erased record, a floor, and a gap left by damage.
  idx.events = {
      {RecordType::kBlockStart, 99, 0, 0, 40},
      {RecordType::kMsg, 100, 1'700'000'000'000'000'000, 40, 240, 230, 0},
      {RecordType::kMsg, 101, 1'700'000'000'000'000'500, 280, 90, 84, 1},
      {RecordType::kTombstone, 7, 0, 370, 40},
      {RecordType::kErased, 102, 0, 410, 70, 60, 1},
      {RecordType::kMsg, 103, 1'699'999'999'000'000'000, 9000, 50, 40, 2},  // after a skipped range, older ts
      {RecordType::kFloor, 50, 0, 9050, 40},
  };
  std::string out;
  EncodeBlockIndex(idx, &out);
  EXPECT_LT(out.size(), 8 + 8 + 4 + 3 * 4 + 20 + idx.events.size() * 12 + 8);
  BlockIndex got;
  ASSERT_TRUE(DecodeBlockIndex(out, &got));
  EXPECT_EQ(got.covered, idx.covered);
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
  }
  // Any flipped bit is refused, as is a truncated file.
  for (size_t i = 0; i < out.size(); i += 7) {
    std::string bad = out;
    bad[i] ^= 0x04;
    EXPECT_FALSE(DecodeBlockIndex(bad, &got)) << i;
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
  s.blocks.push_back({5, 8 << 20, 1, 10, 300, 250, 60000, 1'600'000'000'000'000'000, true, false, true, {0x0f, 0}});
  s.blocks.push_back({7, 4096, 301, 301, 500, 150, 39999, 1'650'000'000'000'000'000, false, true, false, {}});
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
