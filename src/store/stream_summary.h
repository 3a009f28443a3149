#pragma once
// The stream summary file (`msgs/summary`): what a restart needs to know
// about every block and subject without reading them — per block its
// sequence range, live counts and deleted-message bitmap, per subject its
// first/last/count — and the log position up to which it is exact. A
// restart reads it and replays only the records after that position, so
// its cost does not grow with the stream's length. Derived data: a missing
// or damaged summary means every block is replayed (docs/storage-format.md).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fjord::store {

struct SummaryBlock {
  uint32_t id = 0;
  uint64_t size = 0;   // file bytes when the summary was written
  uint64_t lo = 0;     // lowest sequence the block can hold
  uint64_t first = 0;  // sequence range of its message records (0: none)
  uint64_t last = 0;
  uint64_t live = 0;
  uint64_t bytes = 0;
  int64_t min_ts = 0;
  int64_t base_ts = 0;  // the block's base timestamp (its block-start record's)
  bool cross_tombstones = false;
  bool has_floor = false;
  bool headers = false;  // some message in it has headers
  std::vector<uint64_t> dead;  // bit i: sequence first+i is not live
};

struct SummarySubject {
  std::string name;
  uint64_t first = 0, last = 0, count = 0;
  bool first_stale = false, last_stale = false;  // first/last are bounds only
};

struct StreamSummary {
  uint32_t pos_block = 0;  // records before (pos_block, pos_offset) are applied
  uint64_t pos_offset = 0;
  uint64_t first_seq = 0, last_seq = 0, msgs = 0, bytes = 0;
  int64_t last_ts = 0;
  std::vector<SummaryBlock> blocks;
  std::vector<SummarySubject> subjects;
};

void EncodeSummary(const StreamSummary& s, std::string* out);
bool DecodeSummary(std::string_view in, StreamSummary* s);

}  // namespace fjord::store
