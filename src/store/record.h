#pragma once
// Block records: the unit of the stream's on-disk log (docs/storage-format.md).
//
//   0  u32 len        whole record, header and checksum included
//   4  u16 subj_len
//   6  u8  type       RecordType
//   7  u8  flags      0
//   8  u32 hdr_len
//   12 u32 reserved   0
//   16 u64 seq
//   24 i64 ts
//   32 subject, headers, payload
//   len-8 u64 xxh64 of bytes [0, len-8)
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fjord::store {

enum class RecordType : uint8_t {
  kMsg = 1,         // a stored message
  kTombstone = 2,   // seq was removed (or skipped, if never stored)
  kFloor = 3,       // every seq below `seq` is removed; last_seq >= seq-1
  kErased = 4,      // a kMsg overwritten in place by Remove(erase=true), subject kept
  kBlockStart = 5,  // first record of a block: the stream's last_seq then
};

constexpr size_t kRecordHeader = 32;
constexpr size_t kRecordTrailer = 8;
constexpr size_t kRecordOverhead = kRecordHeader + kRecordTrailer;
constexpr uint32_t kMaxRecord = 256u << 20;

struct RecordView {
  RecordType type = RecordType::kMsg;
  uint32_t len = 0;
  uint64_t seq = 0;
  int64_t ts = 0;
  std::string_view subject, hdr, data;
};

// Appends one record to `out`.
void EncodeRecord(std::string* out, RecordType type, uint64_t seq, int64_t ts,
                  std::string_view subject, std::string_view hdr, std::string_view data);
// Writes an erased record of exactly `len` bytes for `seq` into `dst`. It
// keeps the message's subject, and a one-byte zeroed header block if it had
// headers, so its size as accounted stays known; headers and payload are
// gone.
void EncodeErased(char* dst, uint32_t len, uint64_t seq, std::string_view subject, bool had_hdr);

enum class DecodeResult { kOk, kShort, kBad };
// Decodes the record at the start of `in`. kShort: the header is plausible
// but the record runs past the end of `in`.
DecodeResult DecodeRecord(std::string_view in, RecordView* rec);

struct ScanResult {
  uint64_t valid_end = 0;  // offset just past the last valid record
  // Damaged ranges [begin, end) between valid records, skipped.
  std::vector<std::pair<uint64_t, uint64_t>> corrupt;
  bool tail_garbage = false;  // bytes after valid_end that are no record
  bool zero_tail = false;     // only zeros after valid_end (space written ahead)
};

// Walks the records of a block image. `data` holds the block from offset
// `base`; `fn(offset, record)` is called for each valid record in order. A
// damaged record is skipped by searching forward for the next offset where
// a checksummed record starts, so valid records after damage are kept.
ScanResult ScanRecords(std::string_view data, uint64_t base,
                       const std::function<void(uint64_t, const RecordView&)>& fn);

}  // namespace fjord::store
