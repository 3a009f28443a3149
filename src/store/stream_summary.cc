#include "store/stream_summary.h"

#include <xxhash.h>

#include "store/coding.h"

namespace fjord::store {
namespace {

constexpr uint32_t kMagic = 0x53534a46;  // "FJSS"
// 2: blocks of record format 2, with their base timestamps.
constexpr uint32_t kVersion = 2;

}  // namespace

void EncodeSummary(const StreamSummary& s, std::string* out) {
  size_t start = out->size();
  PutU32(out, kMagic);
  PutU32(out, kVersion);
  PutU32(out, s.pos_block);
  PutU64(out, s.pos_offset);
  PutU64(out, s.first_seq);
  PutU64(out, s.last_seq);
  PutU64(out, s.msgs);
  PutU64(out, s.bytes);
  PutU64(out, static_cast<uint64_t>(s.last_ts));
  PutU32(out, static_cast<uint32_t>(s.blocks.size()));
  for (const auto& b : s.blocks) {
    PutU32(out, b.id);
    for (uint64_t v : {b.size, b.lo, b.first, b.last, b.live, b.bytes, static_cast<uint64_t>(b.min_ts),
                       static_cast<uint64_t>(b.base_ts)}) {
      PutU64(out, v);
    }
    PutU32(out, (b.cross_tombstones ? 1u : 0u) | (b.has_floor ? 2u : 0u) | (b.headers ? 4u : 0u));
    PutU32(out, static_cast<uint32_t>(b.dead.size()));
    for (uint64_t w : b.dead) PutU64(out, w);
  }
  PutU64(out, s.subjects.size());
  for (const auto& j : s.subjects) {
    PutU32(out, static_cast<uint32_t>(j.name.size()));
    out->append(j.name);
    PutU64(out, j.first);
    PutU64(out, j.last);
    PutU64(out, j.count);
    PutU32(out, (j.first_stale ? 1u : 0u) | (j.last_stale ? 2u : 0u));
  }
  PutU64(out, XXH64(out->data() + start, out->size() - start, 0));
}

bool DecodeSummary(std::string_view in, StreamSummary* s) {
  if (in.size() < 8) return false;
  std::string_view body = in.substr(0, in.size() - 8);
  if (XXH64(body.data(), body.size(), 0) != DecodeU64(in.data() + body.size())) return false;
  Reader r(body);
  uint32_t magic, version, nblocks;
  uint64_t last_ts;
  if (!r.U32(&magic) || magic != kMagic || !r.U32(&version) || version != kVersion ||
      !r.U32(&s->pos_block) || !r.U64(&s->pos_offset) || !r.U64(&s->first_seq) ||
      !r.U64(&s->last_seq) || !r.U64(&s->msgs) || !r.U64(&s->bytes) || !r.U64(&last_ts) ||
      !r.U32(&nblocks) || nblocks > r.remaining() / 76) {
    return false;
  }
  s->last_ts = static_cast<int64_t>(last_ts);
  s->blocks.assign(nblocks, {});
  for (auto& b : s->blocks) {
    uint64_t min_ts, base_ts;
    uint32_t flags, nwords;
    if (!r.U32(&b.id) || !r.U64(&b.size) || !r.U64(&b.lo) || !r.U64(&b.first) || !r.U64(&b.last) ||
        !r.U64(&b.live) || !r.U64(&b.bytes) || !r.U64(&min_ts) || !r.U64(&base_ts) || !r.U32(&flags) ||
        !r.U32(&nwords) || nwords > r.remaining() / 8) {
      return false;
    }
    b.min_ts = static_cast<int64_t>(min_ts);
    b.base_ts = static_cast<int64_t>(base_ts);
    b.cross_tombstones = flags & 1;
    b.has_floor = flags & 2;
    b.headers = flags & 4;
    b.dead.resize(nwords);
    for (auto& w : b.dead) r.U64(&w);
  }
  uint64_t nsubj;
  if (!r.U64(&nsubj) || nsubj > r.remaining() / 32) return false;
  s->subjects.clear();
  s->subjects.reserve(nsubj);
  for (uint64_t i = 0; i < nsubj; ++i) {
    SummarySubject& j = s->subjects.emplace_back();
    uint32_t n, flags;
    std::string_view name;
    if (!r.U32(&n) || !r.Bytes(n, &name) || !r.U64(&j.first) || !r.U64(&j.last) ||
        !r.U64(&j.count) || !r.U32(&flags)) {
      return false;
    }
    j.name.assign(name);
    j.first_stale = flags & 1;
    j.last_stale = flags & 2;
  }
  return r.remaining() == 0;
}

}  // namespace fjord::store
