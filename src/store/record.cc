#include "store/record.h"

#include <algorithm>
#include <cstring>

#include <xxhash.h>

#include "store/coding.h"

namespace fjord::store {
namespace {

constexpr uint8_t kRecHeaders = 0x10;  // hdr_len follows subj_len
constexpr uint8_t kRecLogPos = 0x20;   // log_index and log_term follow (hdr_len)

bool ValidType(uint8_t t) { return t >= 1 && t <= 6; }

// Whether the ts field is relative to the block's base timestamp.
bool RelativeTs(RecordType t) { return t == RecordType::kMsg || t == RecordType::kErased; }

size_t VarintLen(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

char* PutVarintAt(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// The header of the record at `p` (at most `n` bytes available), without
// its checksum. Returns the header's length, 0 if `p` cannot start a
// record, or SIZE_MAX if more bytes are needed to tell.
struct Header {
  uint64_t len = 0;
  size_t type_at = 0;
  uint8_t type = 0, flags = 0;
  uint64_t seq = 0, ts = 0, subj_len = 0, hdr_len = 0;
  uint64_t log_index = 0, log_term = 0;
};
constexpr size_t kNeedMore = SIZE_MAX;

size_t ParseHeader(const char* p, size_t n, Header* h) {
  size_t i = 0;
  auto varint = [&](uint64_t* v) -> int {  // 1 ok, 0 bad, -1 short
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= n) return -1;
      auto b = static_cast<uint8_t>(p[i++]);
      r |= uint64_t{b & 0x7fu} << shift;
      if (b < 0x80) {
        // Minimal encoding only: a trailing zero byte would make two
        // encodings of one record.
        if (b == 0 && shift > 0) return 0;
        *v = r;
        return 1;
      }
    }
    return 0;
  };
  int r = varint(&h->len);
  if (r <= 0) return r < 0 ? kNeedMore : 0;
  if (h->len < kMinRecord || h->len > kMaxRecord) return 0;
  if (i >= n) return kNeedMore;
  h->type_at = i;
  auto tf = static_cast<uint8_t>(p[i++]);
  h->type = tf & 0x0f;
  h->flags = tf & 0xf0;
  if (!ValidType(h->type) || (h->flags & ~(kRecHeaders | kRecLogPos)) != 0) return 0;
  for (uint64_t* v : {&h->seq, &h->ts, &h->subj_len}) {
    if ((r = varint(v)) <= 0) return r < 0 ? kNeedMore : 0;
  }
  h->hdr_len = 0;
  if ((h->flags & kRecHeaders) && (r = varint(&h->hdr_len)) <= 0) return r < 0 ? kNeedMore : 0;
  h->log_index = h->log_term = 0;
  if (h->flags & kRecLogPos) {
    for (uint64_t* v : {&h->log_index, &h->log_term}) {
      if ((r = varint(v)) <= 0) return r < 0 ? kNeedMore : 0;
    }
    // Index 0 is "none": encoded without the flag, so one record has one
    // encoding.
    if (h->log_index == 0) return 0;
  }
  if (h->subj_len > UINT16_MAX || i + kRecordTrailer > h->len ||
      h->subj_len + h->hdr_len > h->len - kRecordTrailer - i) {
    return 0;
  }
  return i;
}

}  // namespace

size_t EncodeRecord(std::string* out, RecordType type, uint64_t seq, int64_t ts, int64_t base_ts,
                    std::string_view subject, std::string_view hdr, std::string_view data,
                    uint64_t log_index, uint64_t log_term) {
  uint64_t tsf = ZigZag(RelativeTs(type) ? ts - base_ts : ts);
  bool has_hdr = !hdr.empty();
  bool has_pos = log_index != 0;
  size_t fields = 1 + VarintLen(seq) + VarintLen(tsf) + VarintLen(subject.size()) +
                  (has_hdr ? VarintLen(hdr.size()) : 0) +
                  (has_pos ? VarintLen(log_index) + VarintLen(log_term) : 0);
  size_t body = subject.size() + hdr.size() + data.size() + kRecordTrailer;
  // The length counts its own bytes.
  size_t len = fields + body + 1;
  while (VarintLen(len) + fields + body != len) len = VarintLen(len) + fields + body;
  size_t start = out->size();
  out->resize(start + len - body + subject.size() + hdr.size() + data.size());
  char* p = out->data() + start;
  p = PutVarintAt(p, len);
  *p++ = static_cast<char>(static_cast<uint8_t>(type) | (has_hdr ? kRecHeaders : 0) | (has_pos ? kRecLogPos : 0));
  p = PutVarintAt(p, seq);
  p = PutVarintAt(p, tsf);
  p = PutVarintAt(p, subject.size());
  if (has_hdr) p = PutVarintAt(p, hdr.size());
  if (has_pos) {
    p = PutVarintAt(p, log_index);
    p = PutVarintAt(p, log_term);
  }
  if (!subject.empty()) std::memcpy(p, subject.data(), subject.size());
  p += subject.size();
  if (!hdr.empty()) std::memcpy(p, hdr.data(), hdr.size());
  p += hdr.size();
  if (!data.empty()) std::memcpy(p, data.data(), data.size());
  PutU64(out, XXH64(out->data() + start, len - kRecordTrailer, 0));
  return len;
}

bool EraseRecordInPlace(char* rec, size_t len) {
  Header h;
  size_t at = ParseHeader(rec, len, &h);
  if (at == 0 || at == kNeedMore || h.len != len) {
    std::memset(rec, 0, len);
    return false;
  }
  rec[h.type_at] = static_cast<char>(static_cast<uint8_t>(RecordType::kErased) | h.flags);
  size_t keep = at + h.subj_len;
  std::memset(rec + keep, 0, len - keep);
  EncodeU64(rec + len - kRecordTrailer, XXH64(rec, len - kRecordTrailer, 0));
  return true;
}

DecodeResult DecodeRecord(std::string_view in, int64_t base_ts, RecordView* rec) {
  if (in.empty()) return DecodeResult::kBad;
  Header h;
  size_t at = ParseHeader(in.data(), in.size(), &h);
  if (at == 0) return DecodeResult::kBad;
  if (at == kNeedMore || h.len > in.size()) return DecodeResult::kShort;
  const char* p = in.data();
  if (XXH64(p, h.len - kRecordTrailer, 0) != DecodeU64(p + h.len - kRecordTrailer)) {
    return DecodeResult::kBad;
  }
  rec->type = static_cast<RecordType>(h.type);
  rec->len = static_cast<uint32_t>(h.len);
  rec->overhead = static_cast<uint32_t>(at + kRecordTrailer);
  rec->seq = h.seq;
  rec->log_index = h.log_index;
  rec->log_term = h.log_term;
  rec->ts = UnZigZag(h.ts) + (RelativeTs(rec->type) ? base_ts : 0);
  const char* body = p + at;
  rec->subject = std::string_view(body, h.subj_len);
  rec->hdr = std::string_view(body + h.subj_len, h.hdr_len);
  rec->data = std::string_view(body + h.subj_len + h.hdr_len, h.len - rec->overhead - h.subj_len - h.hdr_len);
  return DecodeResult::kOk;
}

bool PeekRecordHeader(std::string_view in, RecordType* type, uint64_t* seq, uint32_t* len, uint64_t* log_index,
                      uint64_t* log_term) {
  Header h;
  size_t at = in.empty() ? 0 : ParseHeader(in.data(), in.size(), &h);
  if (at == 0 || at == kNeedMore || h.len > in.size()) return false;
  *type = static_cast<RecordType>(h.type);
  *seq = h.seq;
  *len = static_cast<uint32_t>(h.len);
  if (log_index) *log_index = h.log_index;
  if (log_term) *log_term = h.log_term;
  return true;
}

ScanResult ScanRecords(std::string_view data, uint64_t base, int64_t base_ts,
                       const std::function<void(uint64_t, const RecordView&)>& fn) {
  ScanResult res;
  res.valid_end = base;
  size_t off = 0;
  RecordView rec;
  auto found = [&](size_t at) {
    if (rec.type == RecordType::kBlockStart) base_ts = rec.ts;
    fn(base + at, rec);
  };
  while (off < data.size()) {
    if (DecodeRecord(data.substr(off), base_ts, &rec) == DecodeResult::kOk) {
      found(off);
      off += rec.len;
      res.valid_end = base + off;
      continue;
    }
    // Space zeroed ahead of the writer: the log ends here.
    if (std::all_of(data.begin() + static_cast<ptrdiff_t>(off), data.end(), [](char c) { return c == 0; })) {
      res.zero_tail = true;
      break;
    }
    // Damage: find the next offset where a whole valid record starts.
    size_t next = off + 1;
    while (next < data.size() && DecodeRecord(data.substr(next), base_ts, &rec) != DecodeResult::kOk) ++next;
    if (next >= data.size()) {
      res.tail_garbage = true;
      break;
    }
    res.corrupt.emplace_back(base + off, base + next);
    off = next;
  }
  return res;
}

}  // namespace fjord::store
