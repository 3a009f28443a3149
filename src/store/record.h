#pragma once
// Block records: the unit of the stream's on-disk log (docs/storage-format.md).
// Format 2, compact: the fixed fields are varints and a message's timestamp
// is relative to its block's base timestamp (the block-start record's).
//
//   varint len          whole record, header and checksum included
//   u8     type | flags  RecordType in the low 4 bits; kRecHeaders: hdr_len follows
//   varint seq
//   varint ts           zigzag; kMsg/kErased: ts - block base, others: ts
//   varint subj_len
//   [varint hdr_len]
//   [varint log_index, varint log_term]  kRecLogPos: a replicated stream's Raft position
//   subject, headers, payload
//   u64    xxh64 of every byte before it
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
  kBlockStart = 5,  // first record of a block: the stream's last_seq then, and the block's base ts
  kTruncate = 6,    // every seq above `seq` is gone, last_seq = seq (Store::Truncate); a block's second record
};

constexpr size_t kRecordTrailer = 8;
// The smallest record (one-byte fields, nothing in it) and the largest
// header (10-byte seq and ts, a 5-byte len and hdr_len, a 3-byte subject
// length) plus the checksum.
constexpr size_t kMinRecord = 5 + kRecordTrailer;
constexpr size_t kMaxRecordOverhead = 5 + 1 + 10 + 10 + 3 + 5 + 10 + 10 + kRecordTrailer;
constexpr uint32_t kMaxRecord = 256u << 20;

// A message's size as StreamState::bytes counts it, nats-server's file store
// formula (22 + subject + payload + 8, plus 4 + headers when there are
// some), from its record's length and overhead.
inline uint64_t AccountedSize(uint64_t len, uint64_t overhead, bool hdr) {
  return len - overhead + 30 + (hdr ? 4 : 0);
}
// The other way: a record's overhead from its length and accounted size.
inline uint32_t RecordOverhead(uint64_t len, uint64_t size, bool hdr) {
  return static_cast<uint32_t>(len + 30 + (hdr ? 4 : 0) - size);
}

struct RecordView {
  RecordType type = RecordType::kMsg;
  uint32_t len = 0;
  uint32_t overhead = 0;  // len minus subject, headers and payload
  uint64_t seq = 0;
  int64_t ts = 0;
  // A message's place in its replicated stream's Raft log (0: none kept).
  uint64_t log_index = 0, log_term = 0;
  std::string_view subject, hdr, data;
};

// Appends one record to `out`; `base_ts` is the block's base timestamp.
// A `log_index` other than 0 is kept in the header with `log_term`.
// Returns the record's length.
size_t EncodeRecord(std::string* out, RecordType type, uint64_t seq, int64_t ts, int64_t base_ts,
                    std::string_view subject, std::string_view hdr, std::string_view data,
                    uint64_t log_index = 0, uint64_t log_term = 0);

// Turns the message record `rec` (all of it, in place) into an erased one of
// the same length: type kErased, the same header fields and subject,
// headers and payload zeroed, checksum redone. So the message's accounted
// size and subject stay known to a replay; its content is gone. If `rec`
// does not start with a record header of its own length (it was damaged),
// all of it is zeroed, which a replay then skips as damage, and false is
// returned.
bool EraseRecordInPlace(char* rec, size_t len);

enum class DecodeResult { kOk, kShort, kBad };
// Decodes the record at the start of `in`, with the block's base timestamp.
// kShort: the header is plausible but the record runs past the end of `in`.
DecodeResult DecodeRecord(std::string_view in, int64_t base_ts, RecordView* rec);

// The header of a record that fails its checksum, read as it is (it may be
// damaged too): its type, sequence and length (and log position, when
// asked). False when the header does not parse or the length runs past
// `in`.
bool PeekRecordHeader(std::string_view in, RecordType* type, uint64_t* seq, uint32_t* len,
                      uint64_t* log_index = nullptr, uint64_t* log_term = nullptr);

struct ScanResult {
  uint64_t valid_end = 0;  // offset just past the last valid record
  // Damaged ranges [begin, end) between valid records, skipped.
  std::vector<std::pair<uint64_t, uint64_t>> corrupt;
  bool tail_garbage = false;  // bytes after valid_end that are no record
  bool zero_tail = false;     // only zeros after valid_end (space written ahead)
};

// Walks the records of a block image. `data` holds the block from offset
// `base`, whose base timestamp is `base_ts` until a block-start record says
// otherwise; `fn(offset, record)` is called for each valid record in order.
// A damaged record is skipped by searching forward for the next offset
// where a checksummed record starts, so valid records after damage are
// kept.
ScanResult ScanRecords(std::string_view data, uint64_t base, int64_t base_ts,
                       const std::function<void(uint64_t, const RecordView&)>& fn);

}  // namespace fjord::store
