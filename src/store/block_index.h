#pragma once
// Block index files (`NNN.idx`): a block's records without the payloads.
// A block's per-message detail is loaded from it, and a replay that must go
// through a block reads it instead of the block. Derived data: a missing,
// stale or damaged index is ignored and the block is scanned instead
// (docs/storage-format.md).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "store/record.h"

namespace fjord::store {

struct IndexEvent {
  RecordType type;
  uint64_t seq = 0;
  int64_t ts = 0;       // kMsg (and kErased: 0)
  uint32_t offset = 0;  // record offset in the block
  uint32_t len = 0;     // record length
  // kMsg and kErased:
  uint32_t size = 0;    // accounted message bytes
  uint32_t subj = 0;    // index into BlockIndex::subjects
  bool hdr = false;     // the message had headers
};

struct BlockIndex {
  uint64_t covered = 0;  // block bytes [0, covered) are described
  int64_t base_ts = 0;   // the block's base timestamp (its block-start record's)
  std::vector<std::string> subjects;
  std::vector<IndexEvent> events;
};

void EncodeBlockIndex(const BlockIndex& idx, std::string* out);
// The whole file into `idx`; false if it is damaged or of another version.
bool DecodeBlockIndex(std::string_view in, BlockIndex* idx);
// Checks the whole file and reads all but its events (covered, base_ts,
// subjects); false if it is damaged or of another version. Then
// ForEachIndexEvent(in, fn) hands the events out one by one: a block's
// events are not held twice (as events, then as its detail).
bool DecodeBlockIndexHeader(std::string_view in, BlockIndex* idx);
void ForEachIndexEvent(std::string_view in, const std::function<void(const IndexEvent&)>& fn);

}  // namespace fjord::store
