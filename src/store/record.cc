#include "store/record.h"

#include <algorithm>

#include <cstring>

#include <xxhash.h>

#include "store/coding.h"

namespace fjord::store {
namespace {

bool ValidType(uint8_t t) { return t >= 1 && t <= 5; }

}  // namespace

void EncodeRecord(std::string* out, RecordType type, uint64_t seq, int64_t ts,
                  std::string_view subject, std::string_view hdr, std::string_view data) {
  size_t len = kRecordOverhead + subject.size() + hdr.size() + data.size();
  size_t start = out->size();
  out->resize(start + kRecordHeader);
  char* h = out->data() + start;
  EncodeU32(h, static_cast<uint32_t>(len));
  EncodeU16(h + 4, static_cast<uint16_t>(subject.size()));
  h[6] = static_cast<char>(type);
  h[7] = 0;
  EncodeU32(h + 8, static_cast<uint32_t>(hdr.size()));
  EncodeU32(h + 12, 0);
  EncodeU64(h + 16, seq);
  EncodeU64(h + 24, static_cast<uint64_t>(ts));
  out->append(subject).append(hdr).append(data);
  uint64_t sum = XXH64(out->data() + start, len - kRecordTrailer, 0);
  PutU64(out, sum);
}

void EncodeErased(char* dst, uint32_t len, uint64_t seq, std::string_view subject, bool had_hdr) {
  std::memset(dst, 0, len);
  EncodeU32(dst, len);
  EncodeU16(dst + 4, static_cast<uint16_t>(subject.size()));
  dst[6] = static_cast<char>(RecordType::kErased);
  EncodeU32(dst + 8, had_hdr ? 1 : 0);
  EncodeU64(dst + 16, seq);
  std::memcpy(dst + kRecordHeader, subject.data(), subject.size());
  EncodeU64(dst + len - kRecordTrailer, XXH64(dst, len - kRecordTrailer, 0));
}

DecodeResult DecodeRecord(std::string_view in, RecordView* rec) {
  if (in.size() < kRecordHeader) return in.empty() ? DecodeResult::kBad : DecodeResult::kShort;
  const char* p = in.data();
  uint32_t len = DecodeU32(p);
  uint16_t slen = DecodeU16(p + 4);
  uint8_t type = static_cast<uint8_t>(p[6]);
  uint32_t hlen = DecodeU32(p + 8);
  if (len < kRecordOverhead || len > kMaxRecord || !ValidType(type) || p[7] != 0 ||
      DecodeU32(p + 12) != 0 || uint64_t{slen} + hlen > len - kRecordOverhead) {
    return DecodeResult::kBad;
  }
  if (len > in.size()) return DecodeResult::kShort;
  if (XXH64(p, len - kRecordTrailer, 0) != DecodeU64(p + len - kRecordTrailer)) {
    return DecodeResult::kBad;
  }
  rec->type = static_cast<RecordType>(type);
  rec->len = len;
  rec->seq = DecodeU64(p + 16);
  rec->ts = static_cast<int64_t>(DecodeU64(p + 24));
  const char* body = p + kRecordHeader;
  rec->subject = std::string_view(body, slen);
  rec->hdr = std::string_view(body + slen, hlen);
  rec->data = std::string_view(body + slen + hlen, len - kRecordOverhead - slen - hlen);
  return DecodeResult::kOk;
}

ScanResult ScanRecords(std::string_view data, uint64_t base,
                       const std::function<void(uint64_t, const RecordView&)>& fn) {
  ScanResult res;
  res.valid_end = base;
  size_t off = 0;
  RecordView rec;
  while (off < data.size()) {
    if (DecodeRecord(data.substr(off), &rec) == DecodeResult::kOk) {
      fn(base + off, rec);
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
    while (next < data.size() && DecodeRecord(data.substr(next), &rec) != DecodeResult::kOk) ++next;
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
