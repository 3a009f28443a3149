#include "store/block_index.h"

#include <functional>

#include <xxhash.h>

#include "store/coding.h"

namespace fjord::store {
namespace {

constexpr uint32_t kMagic = 0x58494a46;  // "FJIX"
// 3: events as varints, offsets implied by the previous record's length.
// 4: records of format 2 (compact): the block's base ts, and per message its
// record's overhead, from which its accounted size follows.
constexpr uint32_t kVersion = 4;
constexpr uint8_t kTagHeaders = 0x10;  // the message had headers
constexpr uint8_t kTagOffset = 0x20;   // an offset follows (damage was skipped)
constexpr uint8_t kTagNextSeq = 0x40;  // seq is the previous one + 1: no delta follows

bool Named(RecordType t) { return t == RecordType::kMsg || t == RecordType::kErased; }

}  // namespace

void EncodeBlockIndex(const BlockIndex& idx, std::string* out) {
  size_t start = out->size();
  PutU32(out, kMagic);
  PutU32(out, kVersion);
  PutU64(out, idx.covered);
  PutU64(out, static_cast<uint64_t>(idx.base_ts));
  PutU32(out, static_cast<uint32_t>(idx.subjects.size()));
  for (const auto& s : idx.subjects) {
    PutU32(out, static_cast<uint32_t>(s.size()));
    out->append(s);
  }
  PutVarint(out, idx.events.size());
  out->reserve(out->size() + idx.events.size() * 10 + 8);
  uint64_t prev_seq = 0, next_off = 0;
  int64_t prev_ts = 0;
  for (const auto& e : idx.events) {
    bool named = Named(e.type);
    uint8_t tag = static_cast<uint8_t>(e.type);
    if (named && e.hdr) tag |= kTagHeaders;
    if (e.offset != next_off) tag |= kTagOffset;
    if (e.seq == prev_seq + 1) tag |= kTagNextSeq;
    out->push_back(static_cast<char>(tag));
    if (!(tag & kTagNextSeq)) PutVarint(out, ZigZag(static_cast<int64_t>(e.seq - prev_seq)));
    prev_seq = e.seq;
    if (tag & kTagOffset) PutVarint(out, e.offset);
    PutVarint(out, e.len);
    next_off = uint64_t{e.offset} + e.len;
    if (named) {
      PutVarint(out, ZigZag(e.ts - prev_ts));
      prev_ts = e.ts;
      PutVarint(out, e.subj);
      // The record's overhead (kMinRecord .. kMaxRecordOverhead).
      out->push_back(static_cast<char>(RecordOverhead(e.len, e.size, e.hdr)));
    }
  }
  PutU64(out, XXH64(out->data() + start, out->size() - start, 0));
}

namespace {

// Reads an index file: its header into `idx` (subjects only if `subjects`),
// and each event to `fn` (when given). The checksum is checked first; a
// structure that still does not parse makes it false, possibly after some
// events went to `fn` (callers validate with fn == nullptr first).
bool Parse(std::string_view in, BlockIndex* idx, bool subjects,
           const std::function<void(const IndexEvent&)>* fn) {
  if (in.size() < 8) return false;
  std::string_view body = in.substr(0, in.size() - 8);
  if (fn == nullptr && XXH64(body.data(), body.size(), 0) != DecodeU64(in.data() + body.size())) return false;
  Reader r(body);
  uint32_t magic, version, nsubj;
  uint64_t base_ts;
  if (!r.U32(&magic) || magic != kMagic || !r.U32(&version) || version != kVersion ||
      !r.U64(&idx->covered) || !r.U64(&base_ts) || !r.U32(&nsubj) || nsubj > r.remaining() / 4) {
    return false;
  }
  if (subjects) {
    idx->subjects.clear();
    idx->subjects.reserve(nsubj);
  }
  for (uint32_t i = 0; i < nsubj; ++i) {
    uint32_t n;
    std::string_view s;
    if (!r.U32(&n) || !r.Bytes(n, &s)) return false;
    if (subjects) idx->subjects.emplace_back(s);
  }
  idx->base_ts = static_cast<int64_t>(base_ts);
  uint64_t nev;
  if (!r.Varint(&nev) || nev > r.remaining() / 2) return false;  // 2 bytes at least each
  uint64_t prev_seq = 0, next_off = 0;
  int64_t prev_ts = 0;
  for (uint64_t i = 0; i < nev; ++i) {
    uint8_t tag;
    uint64_t seq_delta, off, len;
    if (!r.U8(&tag)) return false;
    uint8_t t = tag & 0x0f;
    if (t < 1 || t > 6 || (tag & ~(0x0f | kTagHeaders | kTagOffset | kTagNextSeq)) != 0) return false;
    IndexEvent e{static_cast<RecordType>(t)};
    seq_delta = ZigZag(1);
    if (!(tag & kTagNextSeq) && !r.Varint(&seq_delta)) return false;
    e.seq = prev_seq + static_cast<uint64_t>(UnZigZag(seq_delta));
    prev_seq = e.seq;
    off = next_off;
    if ((tag & kTagOffset) && !r.Varint(&off)) return false;
    if (!r.Varint(&len) || off > UINT32_MAX || len > UINT32_MAX) return false;
    e.offset = static_cast<uint32_t>(off);
    e.len = static_cast<uint32_t>(len);
    next_off = off + len;
    if (Named(e.type)) {
      uint64_t ts, subj;
      uint8_t overhead;
      if (!r.Varint(&ts) || !r.Varint(&subj) || subj >= nsubj || !r.U8(&overhead) ||
          overhead < kMinRecord || overhead > kMaxRecordOverhead || overhead > len) {
        return false;
      }
      e.ts = prev_ts + UnZigZag(ts);
      prev_ts = e.ts;
      e.subj = static_cast<uint32_t>(subj);
      e.hdr = tag & kTagHeaders;
      e.size = static_cast<uint32_t>(AccountedSize(len, overhead, e.hdr));
    }
    if (fn != nullptr) (*fn)(e);
  }
  return r.remaining() == 0;
}

}  // namespace

bool DecodeBlockIndex(std::string_view in, BlockIndex* idx) {
  if (!Parse(in, idx, true, nullptr)) return false;
  idx->events.clear();
  std::function<void(const IndexEvent&)> add = [&](const IndexEvent& e) { idx->events.push_back(e); };
  return Parse(in, idx, false, &add);
}

bool DecodeBlockIndexHeader(std::string_view in, BlockIndex* idx) {
  idx->events.clear();
  return Parse(in, idx, true, nullptr);
}

void ForEachIndexEvent(std::string_view in, const std::function<void(const IndexEvent&)>& fn) {
  BlockIndex header;
  Parse(in, &header, false, &fn);
}

}  // namespace fjord::store
