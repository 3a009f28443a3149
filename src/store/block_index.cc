#include "store/block_index.h"

#include <xxhash.h>

#include "store/coding.h"

namespace fjord::store {
namespace {

constexpr uint32_t kMagic = 0x58494a46;  // "FJIX"
constexpr uint32_t kVersion = 2;  // 2: erased records keep offset, length and subject
constexpr size_t kEventSize = 1 + 8 + 8 + 4 * 4;

}  // namespace

void EncodeBlockIndex(const BlockIndex& idx, std::string* out) {
  size_t start = out->size();
  PutU32(out, kMagic);
  PutU32(out, kVersion);
  PutU64(out, idx.covered);
  PutU32(out, static_cast<uint32_t>(idx.subjects.size()));
  for (const auto& s : idx.subjects) {
    PutU32(out, static_cast<uint32_t>(s.size()));
    out->append(s);
  }
  PutU64(out, idx.events.size());
  out->reserve(out->size() + idx.events.size() * kEventSize + 8);
  for (const auto& e : idx.events) {
    out->push_back(static_cast<char>(e.type));
    PutU64(out, e.seq);
    PutU64(out, static_cast<uint64_t>(e.ts));
    PutU32(out, e.offset);
    PutU32(out, e.len);
    PutU32(out, e.size);
    PutU32(out, e.subj);
  }
  PutU64(out, XXH64(out->data() + start, out->size() - start, 0));
}

bool DecodeBlockIndex(std::string_view in, BlockIndex* idx) {
  if (in.size() < 8) return false;
  std::string_view body = in.substr(0, in.size() - 8);
  if (XXH64(body.data(), body.size(), 0) != DecodeU64(in.data() + body.size())) return false;
  Reader r(body);
  uint32_t magic, version, nsubj;
  if (!r.U32(&magic) || magic != kMagic || !r.U32(&version) || version != kVersion ||
      !r.U64(&idx->covered) || !r.U32(&nsubj) || nsubj > r.remaining() / 4) {
    return false;
  }
  idx->subjects.clear();
  idx->subjects.reserve(nsubj);
  for (uint32_t i = 0; i < nsubj; ++i) {
    uint32_t n;
    std::string_view s;
    if (!r.U32(&n) || !r.Bytes(n, &s)) return false;
    idx->subjects.emplace_back(s);
  }
  uint64_t nev;
  if (!r.U64(&nev) || nev != r.remaining() / kEventSize || r.remaining() % kEventSize != 0) {
    return false;
  }
  idx->events.resize(nev);
  std::string_view ev;
  r.Bytes(r.remaining(), &ev);
  const char* p = ev.data();
  for (auto& e : idx->events) {
    uint8_t t = static_cast<uint8_t>(p[0]);
    if (t < 1 || t > 5) return false;
    e.type = static_cast<RecordType>(t);
    e.seq = DecodeU64(p + 1);
    e.ts = static_cast<int64_t>(DecodeU64(p + 9));
    e.offset = DecodeU32(p + 17);
    e.len = DecodeU32(p + 21);
    e.size = DecodeU32(p + 25);
    e.subj = DecodeU32(p + 29);
    bool named = e.type == RecordType::kMsg || e.type == RecordType::kErased;
    if (named && e.subj >= idx->subjects.size()) return false;
    p += kEventSize;
  }
  return true;
}

}  // namespace fjord::store
