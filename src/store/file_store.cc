// FileStore: a stream as append-only block files of checksummed records.
//
// Memory does not grow with the stream's length: what stays in memory is a
// few numbers per block (sequence range, live count, a deleted-message
// bitmap only once something in it was deleted) and per subject
// {first, last, count}. Where each message sits (offset, length, timestamp,
// subject) is a block's *detail*, loaded on demand from its index file
// (block_index.h) or by scanning it, and kept in a cache of bounded size
// (FileStoreOptions::cache_bytes); the active block's detail is always
// there. A restart reads the stream summary (stream_summary.h) and replays
// only the records written after it. Format and recovery rules:
// docs/storage-format.md.
#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "base/log.h"
#include "store/block_index.h"
#include "store/coding.h"
#include "store/compressed_block.h"
#include "store/env.h"
#include "store/group_commit.h"
#include "store/record.h"
#include "store/stream_summary.h"
#include "store/subject.h"
#include "store/synced_mark.h"

namespace fjord::store {
namespace {

// Appends are buffered and written by Sync(); a burst without Sync() is
// written once the buffer reaches this size.
constexpr size_t kFlushThreshold = 1 << 20;
// Store::Scan reads sealed or written block bytes in chunks of this size.
constexpr size_t kScanChunk = 1 << 20;
// A recovered sequence this far beyond the last one is damage, not a gap
// (gaps come one skipped sequence at a time).
constexpr uint64_t kMaxReplayGap = 1 << 20;
// Space zeroed ahead of small writes (WriteBuffer).
constexpr uint64_t kZeroAhead = 64 * 1024;
constexpr size_t kSmallWrite = 4096;
// Appends that skipped more sequences than this since the block's last
// message go to a new block.
constexpr uint64_t kMaxBlockGap = 4096;
// Sealed blocks are opened on demand; at most this many stay open, so a
// large stream does not hold a descriptor per block.
constexpr size_t kMaxOpenSealed = 16;
// A sequential reader (a consumer catching up) reads this much at a time.
constexpr uint64_t kReadAhead = 64 * 1024;
constexpr uint32_t kNone = UINT32_MAX;
// Entry::subj: the block-local subject index in the low 24 bits, the
// record's overhead above it, the header flag on top.
constexpr uint32_t kHdrFlag = 1u << 31;
constexpr uint32_t kLidBits = 24;
constexpr uint32_t kLidMask = (1u << kLidBits) - 1;
// A block with this many distinct subjects is rolled, so a local subject
// index always fits kLidMask.
constexpr size_t kMaxBlockSubjects = kLidMask;
static_assert(kMaxRecordOverhead < 128, "the overhead takes 7 bits of Entry::subj");
constexpr const char* kSummaryName = "summary";
// How far the active block is known fsynced (SyncedMark).
constexpr const char* kSyncedName = "synced";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// nats-server's file store accounting: the record it would write.
uint64_t NatsFileMsgSize(std::string_view subject, std::string_view hdr, std::string_view data) {
  return 22 + subject.size() + data.size() + 8 + (hdr.empty() ? 0 : 4 + hdr.size());
}

std::string BlockFileName(uint32_t id, std::string_view ext) { return fmt::format("{:06}.{}", id, ext); }

// Parses "000012.blk" -> 12.
bool ParseBlockName(std::string_view name, std::string_view ext, uint32_t* id) {
  if (name.size() != 7 + ext.size() || name.substr(6, 1) != "." || name.substr(7) != ext) return false;
  auto r = std::from_chars(name.data(), name.data() + 6, *id);
  return r.ec == std::errc() && r.ptr == name.data() + 6 && *id > 0;
}

// One message record of a block.
struct Entry {
  uint32_t offset = 0;
  uint32_t len = 0;  // 0: no message has this sequence (it was skipped)
  int64_t ts = 0;
  uint32_t subj = 0;      // SubjBits: index into Detail::fss, overhead, headers
  uint32_t next = kNone;  // the next entry of the same subject in the block
  static uint32_t SubjBits(uint32_t lid, uint32_t overhead, bool hdr) {
    return lid | (overhead << kLidBits) | (hdr ? kHdrFlag : 0);
  }
  uint32_t lid() const { return subj & kLidMask; }
  bool hdr() const { return subj & kHdrFlag; }
  uint32_t overhead() const { return (subj & ~kHdrFlag) >> kLidBits; }
  // Bytes as accounted in StreamState::bytes.
  uint64_t size() const { return AccountedSize(len, overhead(), hdr()); }
};

// Per-subject state inside one block.
struct Fss {
  uint32_t gid = kNone;    // the subject (FileStore::names_), kNone: no longer stored
  uint32_t first = kNone;  // first live entry (kNone when none is live)
  uint32_t last = kNone;   // last entry, live or not (chain tail)
  uint32_t live = 0;
};

// A block's per-message index: entries[i] is sequence Block::first + i.
// Subjects are the store's ids, so 10,000 subjects in 100 blocks are not
// 1,000,000 strings.
struct Detail {
  std::vector<Fss> fss;  // by block-local subject index (Entry::lid)
  // Subject id -> local index: a hash map while the block is written (or
  // built), a sorted array once it is frozen (half the memory).
  std::unordered_map<uint32_t, uint32_t> building;
  std::vector<std::pair<uint32_t, uint32_t>> frozen;
  std::vector<Entry> entries;
  size_t bytes = 0;  // what it costs, as counted against the cache
  // Which local subjects match the filter asked last (-1: not yet known),
  // while no subject id was given to another subject (match_gen).
  std::string match_filter;
  std::vector<int8_t> match;
  uint64_t match_gen = 0;

  uint32_t Find(uint32_t gid) const {
    if (gid == kNone) return kNone;
    if (frozen.empty()) {
      auto it = building.find(gid);
      return it == building.end() ? kNone : it->second;
    }
    auto it = std::lower_bound(frozen.begin(), frozen.end(), std::pair<uint32_t, uint32_t>{gid, 0});
    return it != frozen.end() && it->first == gid ? it->second : kNone;
  }
  uint32_t Id(uint32_t gid) {
    if (!frozen.empty()) {
      for (const auto& [g, l] : frozen) building.emplace(g, l);
      frozen = {};
    }
    auto [it, added] = building.emplace(gid, static_cast<uint32_t>(fss.size()));
    if (added) fss.push_back(Fss{gid});
    return it->second;
  }
  void Freeze() {
    // A sealed block's vectors grew by doubling while it was written.
    entries.shrink_to_fit();
    fss.shrink_to_fit();
    if (building.empty()) return;
    frozen.assign(building.begin(), building.end());
    std::sort(frozen.begin(), frozen.end());
    building = {};
  }
  size_t Cost() const {
    return entries.capacity() * sizeof(Entry) + fss.capacity() * sizeof(Fss) +
           frozen.capacity() * sizeof(frozen[0]) + building.size() * 48;
  }
};

struct Block {
  uint32_t id = 0;
  std::string path;
  std::shared_ptr<File> file;  // always open for the active block
  uint64_t size = 0;   // file bytes, plus buffered bytes for the active block
  uint64_t lo = 0;     // the stream's last sequence + 1 when the block began
  int64_t base_ts = 0;  // message timestamps are stored relative to this
  uint64_t first = 0;  // sequence range of its message records (0: none yet)
  uint64_t last = 0;
  uint64_t live = 0;   // messages in it still stored
  uint64_t bytes = 0;  // their accounted bytes
  int64_t min_ts = INT64_MAX;
  // Bit i: sequence first+i holds no live message. Empty while nothing in
  // the block was removed or skipped.
  std::vector<uint64_t> dead;
  // Removal records that reach into older blocks: while those blocks
  // exist, this one must stay or removed messages would come back.
  bool cross_tombstones = false;
  bool has_floor = false;
  bool headers = false;  // some message in it has headers
  bool gone = false;    // recovered from the summary with its .blk removed
  bool compressed = false;  // its file is a compressed container (sealed)
  bool idx_ok = false;  // its index file is known to describe all of it
  bool pinned = false;  // its detail is never evicted (active, or being replayed)
  std::unique_ptr<Detail> detail;
  std::list<uint32_t>::iterator lru;

  bool Live(uint64_t seq) const {
    if (live == 0 || seq < first || seq > last) return false;
    uint64_t i = seq - first;
    return (i >> 6) >= dead.size() || !((dead[i >> 6] >> (i & 63)) & 1);
  }
  void MarkDead(uint64_t seq) {
    uint64_t i = seq - first;
    if ((i >> 6) >= dead.size()) dead.resize(std::max<uint64_t>((i >> 6) + 1, (last - first + 64) >> 6), 0);
    dead[i >> 6] |= uint64_t{1} << (i & 63);
  }
  // First live sequence in [from, last], 0 if none.
  uint64_t NextLive(uint64_t from) const {
    if (live == 0) return 0;
    from = std::max(from, first);
    if (from > last) return 0;
    for (uint64_t i = from - first; i <= last - first;) {
      uint64_t w = i >> 6;
      if (w >= dead.size()) return first + i;
      uint64_t bits = ~dead[w] >> (i & 63);
      if (bits != 0) {
        uint64_t q = first + i + std::countr_zero(bits);
        return q <= last ? q : 0;
      }
      i = (w + 1) << 6;
    }
    return 0;
  }
  // Last live sequence in [first, upto], 0 if none.
  uint64_t PrevLive(uint64_t upto) const {
    if (live == 0 || upto < first) return 0;
    for (uint64_t q = std::min(upto, last);; --q) {
      if (Live(q)) return q;
      if (q == first) return 0;
    }
  }
  // Forgets the sequences above `seq` (their messages already uncounted),
  // so the bitmap holds no bits past `last`.
  void Clip(uint64_t seq) {
    if (first == 0 || last <= seq) return;
    if (seq < first) {
      first = last = 0;
      dead.clear();
      return;
    }
    last = seq;
    uint64_t n = last - first + 1;
    if (dead.size() > (n + 63) >> 6) dead.resize((n + 63) >> 6);
    if ((n & 63) && (n >> 6) < dead.size()) dead[n >> 6] &= (uint64_t{1} << (n & 63)) - 1;
  }
  // Live messages in [from, to] (both inside the block's range).
  uint64_t CountLive(uint64_t from, uint64_t to) const {
    from = std::max(from, first);
    to = std::min(to, last);
    if (live == 0 || from > to) return 0;
    uint64_t n = to - from + 1;
    uint64_t i = from - first, j = to - first;
    for (uint64_t w = i >> 6; w <= (j >> 6) && w < dead.size(); ++w) {
      uint64_t bits = dead[w];
      if (w == (i >> 6)) bits &= ~uint64_t{0} << (i & 63);
      if (w == (j >> 6) && (j & 63) != 63) bits &= (uint64_t{1} << ((j & 63) + 1)) - 1;
      n -= std::popcount(bits);
    }
    return n;
  }
};

struct SubjState {
  // first/last are exact unless marked stale; then they are bounds (no
  // message of the subject below first / above last), made exact again
  // when someone needs them.
  uint64_t first = 0, last = 0, count = 0;
  bool first_stale = false, last_stale = false;
  uint32_t gid = kNone;  // the subject's id while it has messages
};

using SubjectMap = std::unordered_map<std::string, SubjState, StringHash, std::equal_to<>>;

class FileStore final : public Store {
 public:
  FileStore(Env* env, const FileStoreOptions& opts, const Limits& limits)
      : env_(env), opts_(opts), msgs_dir_(JoinPath(opts.dir, "msgs")), limits_(limits),
        budget_(opts.cache ? opts.cache : std::make_shared<CacheBudget>(opts.cache_bytes)) {
    if (opts_.block_size < 1024) opts_.block_size = 1024;
  }

  ~FileStore() override {
    if (!closed_) Close();
  }

  Status Recover();

  // -- Store ----------------------------------------------------------------

  Result<uint64_t> Append(std::string_view subject, std::string_view hdr, std::string_view data,
                          int64_t ts) override {
    return AppendLogged(subject, hdr, data, ts, {});
  }

  Result<uint64_t> AppendLogged(std::string_view subject, std::string_view hdr, std::string_view data, int64_t ts,
                                LogPos pos) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, 0};
    if (subject.empty()) return {{Errc::kInvalid, "empty subject"}, 0};
    if (subject.size() > UINT16_MAX) return {{Errc::kInvalid, "subject too long"}, 0};
    // At most this long, whatever the varints take.
    uint64_t len = kMaxRecordOverhead + subject.size() + hdr.size() + data.size();
    if (len > kMaxRecord) return {{Errc::kInvalid, "message too large"}, 0};
    if (Status s = Broken(); !s.ok()) return {s, 0};
    uint64_t seq = last_ + 1;
    // A block's range holds its skipped sequences too (a bit each, dead):
    // after a jump (a purge past the end) the next message starts a block.
    bool jump = active_->first != 0 && seq - active_->last > kMaxBlockGap;
    bool full = active_->size + len > opts_.block_size ||
                (active_->detail && active_->detail->fss.size() >= kMaxBlockSubjects);
    if (active_->first != 0 && (full || jump)) {
      if (Status s = Roll(ts); !s.ok()) return {s, 0};
    }
    WritePendingFloor();
    uint64_t offset = active_->size;
    len = AppendRecord(RecordType::kMsg, seq, ts, subject, hdr, data, pos);
    // After a failed write every append writes at once, so that while the
    // disk is full it fails with nothing stored.
    if (!write_error_.ok() || buf_.size() >= kFlushThreshold) {
      if (Status s = Flush(); !s.ok()) return {s, 0};
    }
    AddMsg(*active_, seq, ts, static_cast<uint32_t>(offset), static_cast<uint32_t>(len),
           NatsFileMsgSize(subject, hdr, data), subject, !hdr.empty());
    appending_ = true;
    EnforcePerSubject(subject);
    EnforceMsgsAndBytes();
    AfterMutation();
    return {{}, seq};
  }

  Result<uint64_t> SkipMsg() override {
    if (closed_) return {{Errc::kClosed, "store closed"}, 0};
    if (Status s = Broken(); !s.ok()) return {s, 0};
    uint64_t seq = last_ + 1;
    WritePendingFloor();
    NoteTombstone(*active_, seq);
    AppendRecord(RecordType::kTombstone, seq, 0, {}, {}, {});
    RaiseLast(seq);
    appending_ = true;
    AfterMutation();
    return {{}, seq};
  }

  void Sync(std::function<void(Status)> done) override {
    if (Status s = WriteForSync(); !s.ok()) return done(s);
    if (opts_.sync == SyncMode::kAlways) {
      group_->Submit(active_->file, std::move(done), NoteSynced());
    } else {
      done({});
    }
  }

  std::optional<std::function<Status()>> PrepareSyncHere() override {
    if (opts_.sync != SyncMode::kAlways) return std::nullopt;
    if (Status s = WriteForSync(); !s.ok()) return [s] { return s; };
    return [group = group_, file = active_->file, note = NoteSynced()] { return group->SyncHere(file, note); };
  }

  // Sync's first half: the buffer goes to the file, or the error that
  // stops the sync (the store closed or broken, or a failed write or
  // erase since the last sync, reported once).
  Status WriteForSync() {
    if (closed_) return {Errc::kClosed, "store closed"};
    Status s = Broken();
    if (s.ok()) s = Flush();
    if (!first_error_.ok()) {
      s = first_error_;
      first_error_ = {};
    }
    return s;
  }

  // Run once the fsync of what is written now succeeded, before anyone is
  // told: what a publish was acknowledged for lies below the mark.
  std::function<void()> NoteSynced() {
    return [mark = synced_, id = active_->id, end = written_] { mark->Note(id, end); };
  }

  Result<StoredMsg> Load(uint64_t seq) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, {}};
    Block* b = BlockOf(seq);
    if (b == nullptr || !b->Live(seq)) return {MissingStatus(seq), {}};
    auto r = ReadMsg(*b, seq);
    if (!r.ok()) r.value.seq = seq;
    return r;
  }

  Status Repair(const StoredMsg& m) override {
    if (closed_) return {Errc::kClosed, "store closed"};
    if (Status s = Broken(); !s.ok()) return s;
    Block* b = BlockOf(m.seq);
    if (b == nullptr || !b->Live(m.seq)) return MissingStatus(m.seq);
    if (ReadMsg(*b, m.seq).ok()) return {};
    if (b->compressed) return {Errc::kInvalid, fmt::format("{}: a compressed block is not rewritten", b->path)};
    Detail* d = GetDetail(*b);
    if (d == nullptr) return {Errc::kIo, fmt::format("{}: block index unreadable", b->path)};
    const Entry e = d->entries[m.seq - b->first];
    // The copy is encoded as the record was: with its log position when
    // the damaged header still tells it (else the lengths differ and the
    // repair is refused, never written with a position it did not have).
    LogPos pos;
    if (auto raw = RawRecord(*b, e); raw.ok()) {
      RecordType type;
      uint64_t seq;
      uint32_t len;
      if (!PeekRecordHeader(raw.value, &type, &seq, &len, &pos.index, &pos.term) || seq != m.seq) pos = {};
    }
    std::string rec;
    EncodeRecord(&rec, RecordType::kMsg, m.seq, m.ts, b->base_ts, m.subject, m.hdr, m.data, pos.index, pos.term);
    if (e.len == 0 || rec.size() != e.len)
      return {Errc::kInvalid, fmt::format("{}: the copy of sequence {} is {} bytes, its record {}", b->path, m.seq,
                                          rec.size(), e.len)};
    if (b == active_ && e.offset >= written_) {
      rec.copy(buf_.data() + (e.offset - written_), rec.size());
      return {};
    }
    auto f = BlockFile(*b);
    if (!f.ok()) return f.status;
    Status s = f.value->Write(e.offset, rec);
    if (s.ok()) s = f.value->Sync();
    DropReadAhead();
    if (!s.ok()) return s;
    return ReadMsg(*b, m.seq).status;
  }

  std::optional<TailLoss> LostAtOpen() const override { return lost_at_open_; }

  Result<StoredMsg> LoadLast(std::string_view filter) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, {}};
    uint64_t seq = 0;
    if (MatchesAll(filter)) {
      seq = PrevLiveFrom(last_);
    } else if (IsLiteral(filter)) {
      if (auto it = subjects_.find(filter); it != subjects_.end()) seq = LastOf(it->second);
    } else {
      for (auto& [name, st] : subjects_) {
        if (st.last > seq && SubjectMatches(filter, name)) seq = std::max(seq, LastOf(st));
      }
    }
    if (seq == 0) return {{Errc::kNotFound, "no message found"}, {}};
    auto r = ReadMsg(*BlockOf(seq), seq);
    if (!r.ok()) r.value.seq = seq;
    return r;
  }

  Result<StoredMsg> LoadNext(std::string_view filter, uint64_t start) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, {}};
    uint64_t seq = NextMatch(filter, std::max(start, base_));
    if (seq == 0) return {{Errc::kNotFound, "no message found"}, {}};
    auto r = ReadMsg(*BlockOf(seq), seq);
    if (!r.ok()) r.value.seq = seq;  // which message cannot be read
    return r;
  }

  Status Scan(uint64_t start, uint64_t end,
              const std::function<bool(const MsgView&)>& fn) override {
    return ScanImpl(start, end, fn, false);
  }

  Status ScanWithHeaders(uint64_t start, uint64_t end,
                         const std::function<bool(const MsgView&)>& fn) override {
    return ScanImpl(start, end, fn, true);
  }

  Result<uint64_t> Verify(uint64_t start, uint64_t max_bytes, std::vector<uint64_t>* damaged) override {
    uint64_t end = last_, next = start, bytes = 0;
    bool stopped = false;
    Status s = ScanImpl(
        start, end,
        [&](const MsgView& m) {
          next = m.seq + 1;
          bytes += m.subject.size() + m.hdr.size() + m.data.size();
          stopped = bytes >= max_bytes;
          return !stopped;
        },
        false, damaged);
    if (s.code == Errc::kCorrupt) s = {};  // named in *damaged
    if (!s.ok()) return {s, start};
    if (!stopped) next = end + 1;
    return {{}, next};
  }

 private:
  // Scan, or ScanWithHeaders: messages without headers passed unread.
  // Records failing their checksum are skipped, logged, and added to
  // *corrupt when given.
  Status ScanImpl(uint64_t start, uint64_t end, const std::function<bool(const MsgView&)>& fn,
                  bool with_headers, std::vector<uint64_t>* corrupt = nullptr) {
    if (closed_) return {Errc::kClosed, "store closed"};
    // The records of consecutive sequences sit next to each other in a
    // block, so one chunk read serves every message that falls inside it.
    std::string chunk;
    Status bad;
    uint32_t chunk_block = 0;
    uint64_t chunk_off = 0;
    start = std::max(start, base_);
    end = std::min(end, last_);
    for (size_t i = IndexFor(start); i < blocks_.size(); ++i) {
      Block& b = *blocks_[i];
      if (b.first > end) break;
      if (b.live == 0 || b.last < start || (with_headers && !b.headers)) continue;
      Detail* d = GetDetail(b);
      if (d == nullptr) return {Errc::kIo, fmt::format("{}: block index unreadable", b.path)};
      for (uint64_t q = std::max(start, b.first); q <= std::min(end, b.last); ++q) {
        if (!b.Live(q)) continue;
        const Entry& e = d->entries[q - b.first];
        if (with_headers && e.len != 0 && !(e.subj & kHdrFlag)) continue;
        std::string_view rec;
        if (e.len == 0) {
          rec = {};
        } else if (&b == active_ && e.offset >= written_) {
          rec = std::string_view(buf_).substr(e.offset - written_, e.len);
        } else {
          if (b.id != chunk_block || e.offset < chunk_off || e.offset + e.len > chunk_off + chunk.size()) {
            // Only bytes already written: the active block's tail is in buf_.
            uint64_t limit = &b == active_ ? written_ : b.size;
            uint64_t n = std::max<uint64_t>(e.len, std::min<uint64_t>(kScanChunk, limit - e.offset));
            auto f = BlockFile(b);
            if (!f.ok()) return f.status;
            chunk.resize(n);
            auto r = f.value->Read(e.offset, n, chunk.data());
            if (!r.ok()) return r.status;
            chunk.resize(r.value);
            chunk_block = b.id;
            chunk_off = e.offset;
          }
          rec = std::string_view(chunk).substr(e.offset - chunk_off, e.len);
        }
        RecordView v;
        if (DecodeRecord(rec, b.base_ts, &v) != DecodeResult::kOk || v.type != RecordType::kMsg || v.seq != q) {
          // As Load would for this one message: reported, and the rest
          // still visited.
          log::Error("store: {}: corrupt record for sequence {} at offset {}", b.path, q, e.offset);
          if (bad.ok()) bad = {Errc::kCorrupt, fmt::format("corrupt record for sequence {}", q)};
          if (corrupt) corrupt->push_back(q);
          continue;
        }
        if (!fn(MsgView{q, v.ts, v.subject, v.hdr, v.data})) return bad;
      }
    }
    return bad;
  }

 public:
  uint64_t FirstSeqSince(int64_t ts) const override {
    // Walking back from the newest message: a block none of whose records
    // is older than `ts` is passed without reading its detail.
    for (size_t i = blocks_.size(); i-- > 0;) {
      const Block& b = *blocks_[i];
      if (b.live == 0 || b.min_ts >= ts) continue;
      const Detail* d = GetDetail(b);
      if (d == nullptr) return base_;
      for (uint64_t q = b.last;; --q) {
        if (b.Live(q) && d->entries[q - b.first].ts < ts) return q + 1;
        if (q == b.first) break;
      }
    }
    return base_;
  }

  Status Remove(uint64_t seq, bool erase) override {
    if (closed_) return {Errc::kClosed, "store closed"};
    Block* b = BlockOf(seq);
    if (b == nullptr || !b->Live(seq)) return MissingStatus(seq);
    if (!RemoveMsg(seq, erase)) return {Errc::kIo, fmt::format("{}: block index unreadable", b->path)};
    AfterMutation();
    return {};
  }

  Result<uint64_t> Purge(std::string_view filter, uint64_t upto, uint64_t keep) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, 0};
    if (upto > 1 && keep > 0) return {{Errc::kInvalid, "purge: seq and keep are exclusive"}, 0};
    uint64_t purged = 0;
    if (MatchesAll(filter)) {
      if (keep > 0) {
        if (keep < msgs_) purged = CompactTo(NthNewest(keep));
      } else if (upto == 0) {
        purged = CompactTo(last_ + 1);
      } else {
        purged = CompactTo(upto);
      }
    } else {
      purged = PurgeFiltered(filter, upto, keep);
    }
    AfterMutation();
    return {{}, purged};
  }

  uint64_t ExpireOld(int64_t now_ns) override {
    if (closed_ || limits_.max_age_ns <= 0) return 0;
    int64_t cutoff = now_ns - limits_.max_age_ns;
    uint64_t n = 0;
    while (msgs_ > 0) {
      Block* b = BlockOf(base_);
      Detail* d = GetDetail(*b);
      if (d == nullptr || d->entries[base_ - b->first].ts > cutoff) break;
      if (!RemoveMsg(base_, false)) break;
      ++n;
    }
    AfterMutation();
    return n;
  }

  // The cut is committed by a new block holding a truncate record (and the
  // removals of older messages that were recorded in the tail, written
  // again), fsynced; only then are the tail's files cut: whole blocks
  // removed, the block where the tail starts truncated (a compressed one
  // rewritten). A replay that meets the record cuts the index the same
  // way, and recovery finishes cutting the files (docs/storage-format.md).
  Status Truncate(uint64_t seq) override {
    if (closed_) return {Errc::kClosed, "store closed"};
    if (seq >= last_) return {};
    if (Status s = Broken(); !s.ok()) return s;
    // Everything before the record durable first, so that a power cut
    // never keeps the record without what it follows.
    if (Status s = Flush(); !s.ok()) return s;
    if (Status s = TrimActive(); !s.ok()) return FailTruncate(s);
    if (Status s = active_->file->Sync(); !s.ok()) return FailTruncate(s);
    // B, where the tail starts: none when every block began above seq+1.
    size_t from = blocks_[0]->lo > seq + 1 ? 0 : IndexFor(seq + 1);
    Block* b = blocks_[0]->lo > seq + 1 ? nullptr : blocks_[from].get();
    uint64_t x = 0;
    std::vector<uint64_t> removed;
    for (size_t i = from; i < blocks_.size(); ++i) {
      Block& t = *blocks_[i];
      if (t.gone) continue;
      auto r = TailStart(t, seq, &removed);
      if (!r.ok()) return r.status;  // nothing changed yet
      if (&t == b) x = r.value;
    }
    Block* sealed = b == active_ ? b : nullptr;
    uint32_t next_id = blocks_.back()->id + 1;
    std::vector<std::string> files;
    DropReadAhead();
    if (!CutIndex(seq, nullptr, &files)) return FailTruncate({Errc::kIo, "a block index is unreadable"});
    // Until the files are cut, a restart must replay every block.
    std::string summary = JoinPath(msgs_dir_, kSummaryName);
    if (env_->Exists(summary)) {
      if (Status s = env_->RemoveFile(summary); !s.ok()) return FailTruncate(s);
    }
    if (Status s = NewBlock(next_id, last_ts_ != 0 ? last_ts_ : NowNs()); !s.ok()) return FailTruncate(s);
    AppendRecord(RecordType::kTruncate, seq, 0, {}, {}, {});
    AppendRecord(RecordType::kFloor, base_, 0, {}, {}, {});
    active_->has_floor = true;
    persisted_first_ = base_;
    floor_pending_ = false;
    std::sort(removed.begin(), removed.end());
    removed.erase(std::unique(removed.begin(), removed.end()), removed.end());
    for (uint64_t q : removed) {
      if (q <= base_) continue;  // the floor covers it
      NoteTombstone(*active_, q);
      AppendRecord(RecordType::kTombstone, q, 0, {}, {}, {});
    }
    if (Status s = WriteBuffer(); !s.ok()) return FailTruncate(s);
    if (Status s = active_->file->Sync(); !s.ok()) return FailTruncate(s);
    synced_->Note(active_->id, written_);
    // Committed: the tail's records are no longer needed.
    for (const auto& path : files) {
      if (Status s = env_->RemoveFile(path); !s.ok()) return FailTruncate(s);
    }
    if (b != nullptr && !b->gone && x < b->size) {
      if (Status s = CutFile(*b, x); !s.ok()) return FailTruncate(s);
    }
    if (sealed != nullptr) {
      sealed->file.reset();
      Unpin(*sealed);
      if (opts_.compress) Compress(*sealed);
    }
    RemoveEmptyBlocks();
    WriteSummary();
    return {};
  }

  void SetCompression(bool on) override { opts_.compress = on; }

  void SetLimits(const Limits& limits) override {
    limits_ = limits;
    if (closed_) return;
    if (limits_.max_msgs_per_subject > 0) {
      std::vector<std::string> over;
      for (const auto& [name, st] : subjects_) {
        if (st.count > static_cast<uint64_t>(limits_.max_msgs_per_subject)) over.push_back(name);
      }
      for (const auto& name : over) EnforcePerSubject(name);
    }
    EnforceMsgsAndBytes();
    AfterMutation();
  }

  uint64_t MsgBytes(std::string_view subject, std::string_view hdr,
                    std::string_view data) const override {
    return NatsFileMsgSize(subject, hdr, data);
  }

  StreamState State() const override {
    StreamState st;
    st.msgs = msgs_;
    st.bytes = bytes_;
    st.first_seq = base_;
    st.last_seq = last_;
    st.first_ts = FirstTs();
    st.last_ts = last_ts_;
    st.num_deleted = msgs_ == 0 ? 0 : (last_ - base_ + 1) - msgs_;
    st.num_subjects = subjects_.size();
    return st;
  }

  std::map<std::string, SubjectInfo> Subjects(std::string_view filter) const override {
    std::map<std::string, SubjectInfo> out;
    if (IsLiteral(filter)) {
      if (auto it = subjects_.find(filter); it != subjects_.end()) {
        out.emplace(it->first, Info(it->second));
      }
      return out;
    }
    for (auto& [name, st] : subjects_) {
      if (SubjectMatches(filter, name)) out.emplace(name, Info(st));
    }
    return out;
  }

  uint64_t NumPending(std::string_view filter, uint64_t start) const override {
    if (start <= base_) start = base_;
    if (start > last_ || msgs_ == 0) return 0;
    if (MatchesAll(filter)) {
      if (start == base_) return msgs_;
      if (msgs_ == last_ + 1 - base_) return last_ + 1 - start;  // no gaps
      // Sum whichever side of `start` has fewer blocks.
      size_t s = IndexFor(start);
      const Block& sb = *blocks_[s];
      if (blocks_.size() - s <= s + 1) {
        uint64_t n = sb.CountLive(start, sb.last);
        for (size_t i = s + 1; i < blocks_.size(); ++i) n += blocks_[i]->live;
        return n;
      }
      uint64_t before = start > sb.first ? sb.CountLive(sb.first, start - 1) : 0;
      for (size_t i = 0; i < s; ++i) before += blocks_[i]->live;
      return msgs_ - before;
    }
    if (IsLiteral(filter)) {
      auto it = subjects_.find(filter);
      return it == subjects_.end() ? 0 : PendingInSubject(it->second, start);
    }
    uint64_t n = 0;
    if (start == base_) {
      for (const auto& [name, st] : subjects_) {
        if (SubjectMatches(filter, name)) n += st.count;
      }
      return n;
    }
    for (size_t i = IndexFor(start); i < blocks_.size(); ++i) {
      const Block& b = *blocks_[i];
      if (b.live == 0 || b.last < start) continue;
      Detail* d = GetDetail(b);
      if (d == nullptr) continue;
      if (start > b.first) {
        for (uint64_t q = start; q <= b.last; ++q) {
          const Entry& e = d->entries[q - b.first];
          if (e.len != 0 && b.Live(q) && Matches(*d, e.lid(), filter)) ++n;
        }
      } else {
        for (uint32_t lid = 0; lid < d->fss.size(); ++lid) {
          if (d->fss[lid].live > 0 && Matches(*d, lid, filter)) n += d->fss[lid].live;
        }
      }
    }
    return n;
  }

  Status WriteMeta(std::string_view json) override {
    return WriteFileDurably(env_, JoinPath(opts_.dir, "meta.json"), json);
  }

  Status Close() override {
    if (closed_) return {};
    if (!group_) {  // Recover() failed
      closed_ = true;
      DropBlocks();
      return {};
    }
    Status s = Broken();
    if (s.ok()) s = Flush();
    group_->Stop();
    if (s.ok()) s = group_->failed();
    if (s.ok()) s = TrimActive();
    if (s.ok()) s = active_->file->Sync();
    if (s.ok()) {
      synced_->Note(active_->id, written_);
      WriteBlockIndex(*active_);
      WriteSummary();
    }
    DropBlocks();
    closed_ = true;
    return s;
  }

  Status Delete() override {
    if (!closed_ && group_) group_->Stop();
    DropBlocks();
    closed_ = true;
    return RemoveDirDurably(env_, opts_.dir);
  }

 private:
  // -- blocks and their details -----------------------------------------------

  Status Broken() const {
    if (!fatal_.ok()) return fatal_;
    return group_->failed();
  }

  Status MissingStatus(uint64_t seq) const {
    if (seq == 0 || seq > last_) return {Errc::kNotFound, "no message found"};
    return {Errc::kDeleted, "message deleted"};
  }

  Block* FindBlock(uint32_t id) const {
    auto it = std::lower_bound(blocks_.begin(), blocks_.end(), id,
                               [](const std::unique_ptr<Block>& b, uint32_t v) { return b->id < v; });
    return it != blocks_.end() && (*it)->id == id ? it->get() : nullptr;
  }

  // Index of the block that holds `seq` if any block does: the last one
  // that began at or below it (0 when none did).
  size_t IndexFor(uint64_t seq) const {
    // Readers mostly stay in one block for a while (a consumer), or at the
    // end (appends): both are answered without a search.
    size_t n = blocks_.size();
    if (hint_ < n && blocks_[hint_]->lo <= seq && (hint_ + 1 == n || blocks_[hint_ + 1]->lo > seq)) return hint_;
    if (n > 0 && blocks_[n - 1]->lo <= seq) return n - 1;
    auto it = std::upper_bound(blocks_.begin(), blocks_.end(), seq,
                               [](uint64_t v, const std::unique_ptr<Block>& b) { return v < b->lo; });
    hint_ = it == blocks_.begin() ? 0 : static_cast<size_t>(it - blocks_.begin()) - 1;
    return hint_;
  }

  Block* BlockOf(uint64_t seq) const {
    if (blocks_.empty() || seq == 0) return nullptr;
    Block* b = blocks_[IndexFor(seq)].get();
    return b->first != 0 && seq >= b->first && seq <= b->last ? b : nullptr;
  }

  // The block's detail, loaded if it is not cached. The pointer stays
  // valid until the next GetDetail for another block (which may evict it).
  Detail* GetDetail(const Block& cb) const {
    auto& b = const_cast<Block&>(cb);
    if (b.detail) {
      if (!b.pinned && b.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, b.lru);
      return b.detail.get();
    }
    auto d = LoadDetail(b);
    if (!d) return nullptr;
    b.detail = std::move(d);
    if (!b.pinned) {
      b.detail->bytes = b.detail->Cost();
      lru_.push_front(b.id);
      b.lru = lru_.begin();
      Account(static_cast<int64_t>(b.detail->bytes));
      Evict();
    }
    return b.detail.get();
  }

  void Account(int64_t delta) const {
    cached_bytes_ += delta;
    budget_->used.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
  }

  // Forgets every block (their details with them).
  void DropBlocks() {
    Account(-static_cast<int64_t>(cached_bytes_));
    active_ = nullptr;
    blocks_.clear();
    lru_.clear();
    open_sealed_.clear();
  }

  void Evict() const {
    // The newest entry stays even alone over budget: its caller holds it.
    while (budget_->used.load(std::memory_order_relaxed) > budget_->limit && lru_.size() > 1) {
      Block* b = FindBlock(lru_.back());
      lru_.pop_back();
      if (b == nullptr || !b->detail) continue;
      Account(-static_cast<int64_t>(b->detail->bytes));
      b->detail.reset();
    }
  }

  // Pinned details (the active block's, a block being replayed) are not
  // counted against the cache and never evicted.
  void Pin(Block& b) {
    if (b.pinned) return;
    if (b.detail) {
      lru_.erase(b.lru);
      Account(-static_cast<int64_t>(b.detail->bytes));
    } else {
      b.detail = std::make_unique<Detail>();
    }
    b.pinned = true;
  }

  void Unpin(Block& b) {
    if (!b.pinned) return;
    b.pinned = false;
    if (!b.detail) return;
    b.detail->Freeze();
    b.detail->bytes = b.detail->Cost();
    lru_.push_front(b.id);
    b.lru = lru_.begin();
    Account(static_cast<int64_t>(b.detail->bytes));
    Evict();
  }

  void DropDetail(Block& b) {
    if (!b.detail) return;
    if (!b.pinned) {
      lru_.erase(b.lru);
      Account(-static_cast<int64_t>(b.detail->bytes));
    }
    b.detail.reset();
  }

  // Builds a block's detail from its index file, or by scanning it.
  std::unique_ptr<Detail> LoadDetail(const Block& b) const {
    auto d = std::make_unique<Detail>();
    if (b.first == 0) return d;
    d->entries.assign(b.last - b.first + 1, Entry{});
    // Local subject index of a name: a subject no longer stored gets an
    // index of its own (its entries are all dead).
    std::unordered_map<std::string_view, uint32_t> local;
    auto lid_of = [&](std::string_view subject) {
      auto [it, added] = local.emplace(subject, 0);
      if (added) {
        auto st = subjects_.find(subject);
        if (st != subjects_.end()) {
          it->second = d->Id(st->second.gid);
        } else {
          it->second = static_cast<uint32_t>(d->fss.size());
          d->fss.push_back(Fss{});
        }
      }
      return it->second;
    };
    auto put = [&](uint64_t seq, uint32_t offset, uint32_t len, int64_t ts, uint32_t lid, uint32_t overhead,
                   bool hdr) {
      if (seq < b.first || seq > b.last) return;
      Entry& e = d->entries[seq - b.first];
      if (e.len != 0) return;  // a duplicate: replay kept the first
      e = Entry{offset, len, ts, Entry::SubjBits(lid, overhead, hdr), kNone};
    };
    bool done = false;
    std::string idx_path = JoinPath(msgs_dir_, BlockFileName(b.id, "idx"));
    if (env_->Exists(idx_path)) {
      BlockIndex idx;
      auto raw = ReadFileToString(env_, idx_path);
      // A removed block may have grown after the summary that describes
      // it; only the messages the summary knows are taken.
      if (raw.ok() && DecodeBlockIndexHeader(raw.value, &idx) &&
          (b.gone ? idx.covered >= b.size : idx.covered == b.size)) {
        const_cast<Block&>(b).idx_ok = true;
        // Erased records too: a replay after a crash may still have to
        // remove such a message (and learn its subject) from a summary.
        // The file's own subject numbers, mapped once each.
        std::vector<uint32_t> lids(idx.subjects.size(), kNone);
        ForEachIndexEvent(raw.value, [&](const IndexEvent& e) {
          if (e.type == RecordType::kMsg || e.type == RecordType::kErased) {
            uint32_t& lid = lids[e.subj];
            if (lid == kNone) lid = lid_of(idx.subjects[e.subj]);
            put(e.seq, e.offset, e.len, e.ts, lid, RecordOverhead(e.len, e.size, e.hdr), e.hdr);
          }
        });
        done = true;
      }
    }
    if (!done) {
      if (b.gone) {
        log::Error("store: {}: removed block has no usable index", b.path);
        return nullptr;
      }
      auto& mb = const_cast<Block&>(b);
      auto f = const_cast<FileStore*>(this)->BlockFile(mb);
      if (!f.ok()) return nullptr;
      uint64_t limit = &b == active_ ? written_ : b.size;
      std::string data(limit, '\0');
      auto r = f.value->Read(0, data.size(), data.data());
      if (!r.ok()) return nullptr;
      data.resize(r.value);
      ScanRecords(data, 0, b.base_ts, [&](uint64_t off, const RecordView& rec) {
        if (HasSubject(rec)) {
          put(rec.seq, static_cast<uint32_t>(off), rec.len, rec.ts, lid_of(rec.subject), rec.overhead,
              !rec.hdr.empty());
        }
      });
    }
    // Subject chains and per-subject counts.
    for (uint32_t i = 0; i < d->entries.size(); ++i) {
      Entry& e = d->entries[i];
      if (e.len == 0) continue;
      Fss& f = d->fss[e.lid()];
      if (f.last != kNone) d->entries[f.last].next = i;
      f.last = i;
      if (b.Live(b.first + i)) {
        f.live++;
        if (f.first == kNone) f.first = i;
      }
    }
    d->Freeze();
    return d;
  }

  // Whether a block's subject `lid` matches `filter`, remembered per block
  // for the last filter asked.
  bool Matches(Detail& d, uint32_t lid, std::string_view filter) const {
    if (d.match_filter != filter || d.match_gen != gid_gen_) {
      d.match_filter.assign(filter);
      d.match_gen = gid_gen_;
      d.match.assign(d.fss.size(), -1);
    }
    if (lid >= d.match.size()) d.match.resize(d.fss.size(), -1);
    int8_t& m = d.match[lid];
    if (m < 0) {
      const std::string* name = NameOf(d.fss[lid].gid);
      m = name != nullptr && SubjectMatches(filter, *name) ? 1 : 0;
    }
    return m == 1;
  }

  // -- the index ------------------------------------------------------------

  const std::string* NameOf(uint32_t gid) const { return gid < names_.size() ? names_[gid] : nullptr; }

  // A new subject's state, with an id.
  SubjState& AddSubject(std::string_view subject) { return AddSubject(std::string(subject)); }
  SubjState& AddSubject(std::string&& subject) {
    auto it = subjects_.emplace(std::move(subject), SubjState{}).first;
    uint32_t gid;
    if (!free_gids_.empty()) {
      gid = free_gids_.back();
      free_gids_.pop_back();
      names_[gid] = &it->first;
      ++gid_gen_;  // cached filter matches by id are stale
    } else {
      gid = static_cast<uint32_t>(names_.size());
      names_.push_back(&it->first);
    }
    it->second.gid = gid;
    return it->second;
  }

  void EraseSubject(SubjectMap::iterator it) {
    names_[it->second.gid] = nullptr;
    free_gids_.push_back(it->second.gid);
    subjects_.erase(it);
  }

  void ClearSubjects() {
    ++gid_gen_;
    subjects_.clear();
    names_.clear();
    free_gids_.clear();
  }

  int64_t FirstTs() const {
    if (msgs_ == 0) return 0;
    if (first_ts_seq_ != base_) {
      const Block* b = BlockOf(base_);
      const Detail* d = b != nullptr ? GetDetail(*b) : nullptr;
      first_ts_ = d != nullptr ? d->entries[base_ - b->first].ts : 0;
      first_ts_seq_ = base_;
    }
    return first_ts_;
  }

  SubjectInfo Info(SubjState& st) const {
    SubjectInfo i;
    i.first = FirstOf(st);
    i.last = LastOf(st);
    i.count = st.count;
    return i;
  }

  // The subject's first sequence, found again from the blocks if stale.
  uint64_t FirstOf(SubjState& st) const {
    if (!st.first_stale) return st.first;
    for (size_t i = IndexFor(st.first); i < blocks_.size(); ++i) {
      const Block& b = *blocks_[i];
      if (b.live == 0 || b.last < st.first) continue;
      const Detail* d = GetDetail(b);
      if (d == nullptr) return 0;
      uint32_t lid = d->Find(st.gid);
      if (lid == kNone || d->fss[lid].live == 0) continue;
      // No live message of the subject lies below the bound, so the
      // block's first live one is the subject's.
      st.first = b.first + d->fss[lid].first;
      st.first_stale = false;
      return st.first;
    }
    return 0;
  }

  uint64_t LastOf(SubjState& st) const {
    if (!st.last_stale) return st.last;
    for (size_t i = IndexFor(std::min(st.last, last_)) + 1; i-- > 0;) {
      const Block& b = *blocks_[i];
      if (b.live == 0 || b.first > st.last) continue;
      const Detail* d = GetDetail(b);
      if (d == nullptr) return 0;
      uint32_t lid = d->Find(st.gid);
      if (lid == kNone || d->fss[lid].live == 0) continue;
      for (uint64_t q = std::min(st.last, b.first + d->fss[lid].last);; --q) {
        const Entry& e = d->entries[q - b.first];
        if (e.len != 0 && e.lid() == lid && b.Live(q)) {
          st.last = q;
          st.last_stale = false;
          return q;
        }
        if (q == b.first) break;
      }
    }
    return 0;
  }

  // Live messages of subject `lid` at or after `from` in one block: counted
  // forward from `from`, or as the block's count minus those walked on the
  // subject's chain below `from`, whichever finishes first.
  static uint64_t CountInBlockFrom(const Block& b, const Detail& d, uint32_t lid, uint64_t from) {
    const Fss& f = d.fss[lid];
    if (from <= b.first) return f.live;
    if (from > b.last) return 0;
    uint32_t start = static_cast<uint32_t>(from - b.first);
    uint32_t fi = start, ci = f.first;
    uint64_t above = 0, below = 0;
    auto n = static_cast<uint32_t>(d.entries.size());
    while (true) {
      if (fi >= n) return above;
      const Entry& e = d.entries[fi];
      if (e.len != 0 && e.lid() == lid && b.Live(b.first + fi)) ++above;
      ++fi;
      if (ci == kNone || ci >= start) return f.live - below;
      if (b.Live(b.first + ci)) ++below;
      ci = d.entries[ci].next;
    }
  }

  uint64_t PendingInSubject(SubjState& st, uint64_t start) const {
    if (start <= st.first) return st.count;  // true of a lower bound too
    if (start > st.last) return 0;
    // Sum over whichever side of `start` has fewer blocks.
    size_t s = IndexFor(start), lo = IndexFor(st.first), hi = IndexFor(st.last);
    bool after = hi - s <= s - lo;
    uint64_t n = 0;
    for (size_t i = after ? s : lo; i <= (after ? hi : s); ++i) {
      const Block& b = *blocks_[i];
      if (b.live == 0) continue;
      const Detail* d = GetDetail(b);
      if (d == nullptr) continue;
      uint32_t lid = d->Find(st.gid);
      if (lid == kNone || d->fss[lid].live == 0) continue;
      if (i == s) {
        uint64_t from = CountInBlockFrom(b, *d, lid, start);
        n += after ? from : d->fss[lid].live - from;
      } else {
        n += d->fss[lid].live;
      }
    }
    return after ? n : st.count - n;
  }

  // First live sequence >= from, 0 if none.
  uint64_t NextLiveFrom(uint64_t from) const {
    for (size_t i = IndexFor(from); i < blocks_.size(); ++i) {
      if (uint64_t q = blocks_[i]->NextLive(from)) return q;
    }
    return 0;
  }

  uint64_t PrevLiveFrom(uint64_t upto) const {
    for (size_t i = IndexFor(upto) + 1; i-- > 0;) {
      if (uint64_t q = blocks_[i]->PrevLive(upto)) return q;
    }
    return 0;
  }

  // The k-th newest live message's sequence (k >= 1, k < msgs_).
  uint64_t NthNewest(uint64_t k) const {
    for (size_t i = blocks_.size(); i-- > 0;) {
      const Block& b = *blocks_[i];
      if (b.live < k) {
        k -= b.live;
        continue;
      }
      for (uint64_t q = b.last;; --q) {
        if (b.Live(q) && --k == 0) return q;
      }
    }
    return base_;
  }

  // First live entry of subject `lid` at or after `from` in one block, 0
  // if none: a forward scan from `from` and the walk along the subject's
  // chain run in step, so a dense subject and a sparse one both end soon.
  static uint64_t FirstInBlock(const Block& b, const Detail& d, uint32_t lid, uint64_t from) {
    const Fss& f = d.fss[lid];
    if (f.live == 0 || from > b.last) return 0;
    if (f.first != kNone && b.first + f.first >= from) return b.first + f.first;
    uint32_t fi = static_cast<uint32_t>(from - b.first), ci = f.first;
    auto n = static_cast<uint32_t>(d.entries.size());
    while (true) {
      if (fi >= n) return 0;
      const Entry& e = d.entries[fi];
      if (e.len != 0 && e.lid() == lid && b.Live(b.first + fi)) return b.first + fi;
      ++fi;
      if (ci == kNone) return 0;
      ci = d.entries[ci].next;
      if (ci != kNone && b.first + ci >= from && b.Live(b.first + ci)) return b.first + ci;
    }
  }

  // First live sequence >= start matching `filter`, 0 if none.
  uint64_t NextMatch(std::string_view filter, uint64_t start) const {
    if (start > last_ || msgs_ == 0) return 0;
    if (MatchesAll(filter)) return NextLiveFrom(start);
    if (IsLiteral(filter)) {
      auto it = subjects_.find(filter);
      if (it == subjects_.end()) return 0;
      SubjState& st = it->second;
      if (start > st.last) return 0;
      if (start <= st.first) {
        if (!st.first_stale) return st.first;
        start = st.first;
      }
      for (size_t i = IndexFor(start); i < blocks_.size(); ++i) {
        const Block& b = *blocks_[i];
        if (b.first > st.last) break;
        if (b.live == 0 || b.last < start) continue;
        const Detail* d = GetDetail(b);
        if (d == nullptr) return 0;
        uint32_t lid = d->Find(st.gid);
        if (lid == kNone) continue;
        if (uint64_t q = FirstInBlock(b, *d, lid, start)) return q;
      }
      return 0;
    }
    for (size_t i = IndexFor(start); i < blocks_.size(); ++i) {
      const Block& b = *blocks_[i];
      if (b.live == 0 || b.last < start) continue;
      Detail* d = GetDetail(b);
      if (d == nullptr) return 0;
      bool any = false;
      for (uint32_t lid = 0; lid < d->fss.size() && !any; ++lid) {
        any = d->fss[lid].live > 0 && Matches(*d, lid, filter);
      }
      if (!any) continue;
      for (uint64_t q = std::max(start, b.first); q <= b.last; ++q) {
        const Entry& e = d->entries[q - b.first];
        if (e.len != 0 && b.Live(q) && Matches(*d, e.lid(), filter)) return q;
      }
    }
    return 0;
  }

  void RaiseLast(uint64_t seq) {
    if (seq <= last_) return;
    last_ = seq;
    if (msgs_ == 0) base_ = last_ + 1;
  }

  // Indexes a message stored in block `b` (the active one, or the one
  // being replayed: its detail is pinned).
  void AddMsg(Block& b, uint64_t seq, int64_t ts, uint32_t offset, uint32_t len, uint64_t size,
              std::string_view subject, bool hdr) {
    if (b.first == 0) {
      b.first = b.last = seq;
    } else {
      uint64_t prev = b.last;
      b.last = seq;
      for (uint64_t q = prev + 1; q < seq; ++q) b.MarkDead(q);  // skipped sequences
    }
    b.live++;
    b.bytes += size;
    b.min_ts = std::min(b.min_ts, ts);
    b.headers |= hdr;
    auto it = subjects_.find(subject);
    SubjState& st = it != subjects_.end() ? it->second : AddSubject(subject);
    Detail& d = *b.detail;
    auto i = static_cast<uint32_t>(seq - b.first);
    d.entries.resize(i);
    uint32_t lid = d.Id(st.gid);
    d.entries.push_back(Entry{offset, len, ts, Entry::SubjBits(lid, RecordOverhead(len, size, hdr), hdr), kNone});
    Fss& f = d.fss[lid];
    if (f.last != kNone) d.entries[f.last].next = i;
    f.last = i;
    if (f.first == kNone) f.first = i;
    f.live++;
    if (st.count++ == 0) {
      st = SubjState{seq, seq, 1, false, false, st.gid};
    } else {
      st.last = seq;
      st.last_stale = false;
    }
    if (msgs_ == 0) base_ = seq;
    msgs_++;
    bytes_ += size;
    last_ = seq;
    last_ts_ = ts;
  }

  void DropFromSubject(std::string_view name, uint64_t seq) {
    auto it = subjects_.find(name);
    if (it == subjects_.end()) {
      log::Error("store: {}: subject '{}' of sequence {} not indexed", opts_.dir, name, seq);
      return;
    }
    SubjState& st = it->second;
    if (--st.count == 0) {
      EraseSubject(it);
      return;
    }
    if (seq == st.first) {
      st.first = seq + 1;
      st.first_stale = true;
    }
    if (seq == st.last) {
      st.last = seq - 1;
      st.last_stale = true;
    }
    if (st.count == 1) {
      if (!st.last_stale) {
        st.first = st.last;
        st.first_stale = false;
      } else if (!st.first_stale) {
        st.last = st.first;
        st.last_stale = false;
      }
    }
  }

  // Removes one live message; false if its block's detail is unreadable.
  bool RemoveMsg(uint64_t seq, bool erase) {
    Block& b = *BlockOf(seq);
    Detail* d = GetDetail(b);
    if (d == nullptr) {
      log::Error("store: {}: cannot read the index of sequence {}", b.path, seq);
      return false;
    }
    auto i = static_cast<uint32_t>(seq - b.first);
    const Entry e = d->entries[i];
    bool logged = !replaying_ && active_ != nullptr;
    if (logged && erase && e.len != 0) EraseRecord(b, e, seq);
    uint64_t size = 0;
    if (e.len == 0) {
      log::Error("store: {}: no record for stored sequence {}", b.path, seq);
    } else {
      size = e.size();
      DropFromSubject(*names_[d->fss[e.lid()].gid], seq);
    }
    b.MarkDead(seq);
    b.live--;
    b.bytes -= std::min(b.bytes, size);
    if (e.len != 0) {
      Fss& f = d->fss[e.lid()];
      f.live--;
      while (f.first != kNone && !b.Live(b.first + f.first)) f.first = d->entries[f.first].next;
    }
    msgs_--;
    bytes_ -= std::min(bytes_, size);
    bool was_first = seq == base_;
    if (logged) {
      // The first message's removal is recorded by the floor that Flush()
      // writes; anything else needs its own tombstone.
      if (was_first) {
        floor_pending_ = true;
      } else {
        NoteTombstone(*active_, seq);
        AppendRecord(RecordType::kTombstone, seq, 0, {}, {}, {});
      }
    }
    if (was_first) AdvanceBase();
    return true;
  }

  void AdvanceBase() {
    uint64_t q = msgs_ == 0 ? 0 : NextLiveFrom(base_ + 1);
    base_ = q == 0 ? last_ + 1 : q;
  }

  // Marks every message of a block removed (their subjects are the
  // caller's), without a record each.
  void KillBlock(Block& b) {
    if (b.first != 0) {
      // Bits past `last` stay clear: the active block's next messages.
      uint64_t n = b.last - b.first + 1;
      b.dead.assign((n + 63) >> 6, ~uint64_t{0});
      if (n & 63) b.dead.back() = (uint64_t{1} << (n & 63)) - 1;
    }
    b.live = 0;
    b.bytes = 0;
    if (b.detail) {
      for (auto& f : b.detail->fss) {
        f.live = 0;
        f.first = kNone;
      }
    }
  }

  // Forgets every message above `seq` (last_ becomes seq), and every block
  // that began above seq+1 except `keep` (the one holding the truncate
  // record, when replaying it); adds the files of those blocks to `files`.
  // False if a block's detail was unreadable: the index is then half cut.
  bool CutIndex(uint64_t seq, const Block* keep, std::vector<std::string>* files) {
    for (size_t i = blocks_.size(); i-- > 0;) {
      Block& b = *blocks_[i];
      if (&b == keep) continue;
      if (b.lo <= seq + 1) {
        // Where the tail starts: older blocks hold nothing above seq.
        if (!ClipBlock(b, seq)) return false;
        break;
      }
      if (b.live > 0) {
        const Detail* d = GetDetail(b);
        if (d == nullptr) return false;
        for (const Fss& f : d->fss) ForgetAbove(f.gid, f.live, seq);
        msgs_ -= b.live;
        bytes_ -= std::min(bytes_, b.bytes);
      }
      if (!b.gone) files->push_back(b.path);
      idx_to_drop_.push_back(b.id);
      DropDetail(b);
      if (&b == active_) active_ = nullptr;
      blocks_.erase(blocks_.begin() + static_cast<ptrdiff_t>(i));
    }
    last_ = seq;
    if (msgs_ == 0) base_ = seq + 1;
    first_ts_seq_ = 0;
    last_ts_ = 0;
    if (uint64_t q = msgs_ > 0 ? PrevLiveFrom(seq) : 0) {
      const Block* b = BlockOf(q);
      if (const Detail* d = GetDetail(*b)) last_ts_ = d->entries[q - b->first].ts;
    }
    return true;
  }

  // Uncounts block `b`'s live messages above `seq` and clips its range.
  // Its detail is dropped, to be loaded again without them.
  bool ClipBlock(Block& b, uint64_t seq) {
    if (b.first == 0 || b.last <= seq) return true;
    if (b.NextLive(seq + 1) != 0) {
      Detail* d = GetDetail(b);
      if (d == nullptr) return false;
      std::vector<uint64_t> n(d->fss.size());
      for (uint64_t q = std::max(seq + 1, b.first); q <= b.last; ++q) {
        if (!b.Live(q)) continue;
        const Entry& e = d->entries[q - b.first];
        uint64_t size = e.len != 0 ? e.size() : 0;
        if (e.len != 0) ++n[e.lid()];
        b.live--;
        b.bytes -= std::min(b.bytes, size);
        msgs_--;
        bytes_ -= std::min(bytes_, size);
      }
      for (uint32_t lid = 0; lid < n.size(); ++lid) ForgetAbove(d->fss[lid].gid, n[lid], seq);
    }
    b.Clip(seq);
    DropDetail(b);
    return true;
  }

  // Takes `n` messages above `seq` off subject `gid`'s count.
  void ForgetAbove(uint32_t gid, uint64_t n, uint64_t seq) {
    const std::string* name = NameOf(gid);
    if (n == 0 || name == nullptr) return;
    auto it = subjects_.find(*name);
    if (it == subjects_.end()) return;
    SubjState& st = it->second;
    st.count -= std::min(st.count, n);
    if (st.count == 0) {
      EraseSubject(it);
    } else if (st.last > seq) {
      st.last = seq;
      st.last_stale = true;
    }
  }

  // Removes every message below `seq`; past the end it moves the sequence
  // forward so the next append gets `seq`. Returns messages removed.
  uint64_t CompactTo(uint64_t seq) {
    uint64_t n = 0;
    if (msgs_ > 0 && seq > last_) {
      // Everything: no block's detail is needed.
      n = msgs_;
      for (auto& b : blocks_) KillBlock(*b);
      ClearSubjects();
      msgs_ = bytes_ = 0;
      if (!replaying_ && active_ != nullptr) floor_pending_ = true;
    }
    while (msgs_ > 0 && base_ < seq) {
      Block& b = *BlockOf(base_);
      if (b.last >= seq) {
        if (!RemoveMsg(base_, false)) break;
        ++n;
        continue;
      }
      // The whole block goes: subjects lose its per-subject counts.
      Detail* d = GetDetail(b);
      if (d == nullptr) break;
      for (uint32_t lid = 0; lid < d->fss.size(); ++lid) {
        uint32_t live = d->fss[lid].live;
        if (live == 0) continue;
        const std::string* name = NameOf(d->fss[lid].gid);
        auto it = name != nullptr ? subjects_.find(*name) : subjects_.end();
        if (it == subjects_.end()) continue;
        SubjState& st = it->second;
        st.count -= std::min<uint64_t>(st.count, live);
        if (st.count == 0) {
          EraseSubject(it);
        } else if (st.first <= b.last) {
          st.first = b.last + 1;
          st.first_stale = true;
        }
      }
      n += b.live;
      msgs_ -= b.live;
      bytes_ -= std::min(bytes_, b.bytes);
      KillBlock(b);
      if (!replaying_ && active_ != nullptr) floor_pending_ = true;
      AdvanceBase();
    }
    if (msgs_ == 0 && seq > base_) {
      last_ = std::max(last_, seq - 1);
      base_ = last_ + 1;
    } else if (msgs_ == 0) {
      base_ = last_ + 1;
    }
    return n;
  }

  void EnforcePerSubject(std::string_view subject) {
    if (limits_.max_msgs_per_subject <= 0) return;
    auto max = static_cast<uint64_t>(limits_.max_msgs_per_subject);
    auto it = subjects_.find(subject);
    if (it == subjects_.end()) return;
    SubjState& st = it->second;  // stays: the count never drops below max
    while (st.count > max) {
      uint64_t q = FirstOf(st);
      if (q == 0 || !RemoveMsg(q, false)) break;
    }
  }

  void EnforceMsgsAndBytes() {
    if (limits_.max_msgs > 0) {
      while (msgs_ > static_cast<uint64_t>(limits_.max_msgs)) {
        if (!RemoveMsg(base_, false)) break;
      }
    }
    if (limits_.max_bytes > 0) {
      while (msgs_ > 0 && bytes_ > static_cast<uint64_t>(limits_.max_bytes)) {
        if (!RemoveMsg(base_, false)) break;
      }
    }
  }

  uint64_t PurgeFiltered(std::string_view filter, uint64_t upto, uint64_t keep) {
    std::vector<uint64_t> victims;
    uint64_t limit = upto > 0 ? upto : last_ + 1;
    if (IsLiteral(filter)) {
      auto it = subjects_.find(filter);
      if (it == subjects_.end()) return 0;
      SubjState& st = it->second;
      if (keep >= st.count && keep > 0) return 0;
      uint64_t max = keep > 0 ? st.count - keep : st.count;
      uint64_t first = FirstOf(st);
      for (size_t i = IndexFor(first); i < blocks_.size() && victims.size() < max; ++i) {
        const Block& b = *blocks_[i];
        if (b.first >= limit) break;
        if (b.live == 0 || b.last < first) continue;
        const Detail* d = GetDetail(b);
        if (d == nullptr) break;
        uint32_t lid = d->Find(st.gid);
        if (lid == kNone) continue;
        for (uint32_t c = d->fss[lid].first; c != kNone && victims.size() < max; c = d->entries[c].next) {
          if (b.first + c >= limit) break;
          if (b.Live(b.first + c)) victims.push_back(b.first + c);
        }
      }
    } else {
      for (size_t i = IndexFor(base_); i < blocks_.size(); ++i) {
        const Block& b = *blocks_[i];
        if (b.first >= limit) break;
        if (b.live == 0) continue;
        Detail* d = GetDetail(b);
        if (d == nullptr) break;
        for (uint64_t q = b.first; q <= b.last && q < limit; ++q) {
          const Entry& e = d->entries[q - b.first];
          if (e.len != 0 && b.Live(q) && Matches(*d, e.lid(), filter)) victims.push_back(q);
        }
      }
      if (keep > 0) victims.resize(victims.size() > keep ? victims.size() - keep : 0);
    }
    uint64_t n = 0;
    for (uint64_t q : victims) n += RemoveMsg(q, false);
    return n;
  }

  void AfterMutation() {
    // An append or skip that removed no first message moves the first
    // sequence only over sequences its own record accounts for.
    if (appending_ && !floor_pending_) persisted_first_ = std::max(persisted_first_, base_);
    appending_ = false;
  }

  void ClearIndex() {
    ClearSubjects();
    base_ = 1;
    last_ = 0;
    msgs_ = bytes_ = 0;
    last_ts_ = 0;
    first_ts_seq_ = 0;
  }

  // -- reading ----------------------------------------------------------------

  // The bytes of entry `e`'s record in `b` (views valid until the next read).
  Result<std::string_view> RawRecord(Block& b, const Entry& e) {
    if (e.len == 0) return {{}, {}};
    if (&b == active_ && e.offset >= written_) return {{}, std::string_view(buf_).substr(e.offset - written_, e.len)};
    return ReadRecord(b, e.offset, e.len);
  }

  // Message `seq`'s record in `b`, decoded (views valid until the next read).
  Status ReadView(Block& b, uint64_t seq, RecordView* v) {
    Detail* d = GetDetail(b);
    if (d == nullptr) return {Errc::kIo, fmt::format("{}: block index unreadable", b.path)};
    const Entry e = d->entries[seq - b.first];
    auto rec = RawRecord(b, e);
    if (!rec.ok()) return rec.status;
    if (DecodeRecord(rec.value, b.base_ts, v) != DecodeResult::kOk || v->type != RecordType::kMsg || v->seq != seq) {
      log::Error("store: {}: corrupt record for sequence {} at offset {}", b.path, seq, e.offset);
      return {Errc::kCorrupt, fmt::format("corrupt record for sequence {}", seq)};
    }
    return {};
  }

  bool KeepsLogPos() const override { return true; }
  std::optional<LogPos> LogPosOf(uint64_t seq) override {
    if (closed_) return std::nullopt;
    Block* b = BlockOf(seq);
    RecordView v;
    if (b == nullptr || !b->Live(seq) || !ReadView(*b, seq, &v).ok() || v.log_index == 0) return std::nullopt;
    return LogPos{v.log_index, v.log_term};
  }

  Result<StoredMsg> ReadMsg(Block& b, uint64_t seq) {
    RecordView v;
    if (Status s = ReadView(b, seq, &v); !s.ok()) return {s, {}};
    Result<StoredMsg> out;
    out.value.seq = seq;
    out.value.ts = v.ts;
    out.value.subject.assign(v.subject);
    out.value.hdr.assign(v.hdr);
    out.value.data.assign(v.data);
    return out;
  }

  // The on-disk bytes of one record. A consumer walks the stream in order,
  // so a read that continues where the last one ended fetches kReadAhead
  // bytes, and the records after it come from memory: one pread per few
  // hundred small messages instead of one each. A random read (KV get,
  // direct get) stays one record long.
  Result<std::string_view> ReadRecord(Block& b, uint32_t offset, uint32_t len) {
    if (ra_block_ == b.id && offset >= ra_offset_ && offset + len <= ra_offset_ + ra_len_) {
      ra_next_ = offset + len;
      return {{}, std::string_view(ra_buf_.get() + (offset - ra_offset_), len)};
    }
    auto f = BlockFile(b);
    if (!f.ok()) return {f.status, {}};
    uint64_t want = len;
    if (ra_block_ == b.id && offset == ra_next_) {
      want = std::max<uint64_t>(want, kReadAhead);
      // Past the written watermark the active block's file holds nothing valid.
      if (&b == active_ && offset + want > written_) want = std::max<uint64_t>(written_ - offset, len);
    }
    if (want > ra_cap_) {
      ra_buf_.reset(new char[want]);
      ra_cap_ = want;
    }
    ra_block_ = 0;
    auto r = f.value->Read(offset, want, ra_buf_.get());
    if (!r.ok()) return {r.status, {}};
    ra_block_ = b.id;
    ra_offset_ = offset;
    ra_len_ = r.value;
    ra_next_ = offset + len;
    return {{}, std::string_view(ra_buf_.get(), std::min<uint64_t>(r.value, len))};
  }

  // Called whenever bytes already on disk change or go away.
  void DropReadAhead() {
    ra_block_ = 0;
    ra_len_ = 0;
  }

  // The block's file, opening a sealed block on demand.
  Result<File*> BlockFile(Block& b) {
    if (b.file) return {{}, b.file.get()};
    if (b.gone) return {{Errc::kIo, fmt::format("{}: block removed", b.path)}, nullptr};
    auto f = env_->OpenExisting(b.path);
    if (!f.ok()) return {f.status, nullptr};
    if (b.compressed) {
      auto c = OpenCompressedBlock(env_, b.path, std::move(f.value));
      if (!c.ok()) {
        log::Error("store: {}", c.status.msg);
        return {c.status, nullptr};
      }
      f.value = std::move(c.value);
    }
    b.file = std::move(f.value);
    open_sealed_.push_back(b.id);
    while (open_sealed_.size() > kMaxOpenSealed) {
      if (Block* old = FindBlock(open_sealed_.front()); old != nullptr && old != active_) {
        old->file.reset();
      }
      open_sealed_.pop_front();
    }
    return {{}, b.file.get()};
  }

  // -- writing ----------------------------------------------------------------

  static void NoteTombstone(Block& b, uint64_t seq) {
    if (b.first == 0 || seq < b.first) b.cross_tombstones = true;
  }

  // Returns the record's length.
  uint32_t AppendRecord(RecordType type, uint64_t seq, int64_t ts, std::string_view subject,
                        std::string_view hdr, std::string_view data, LogPos pos = {}) {
    auto len = static_cast<uint32_t>(
        EncodeRecord(&buf_, type, seq, ts, active_->base_ts, subject, hdr, data, pos.index, pos.term));
    active_->size += len;
    return len;
  }

  // Overwrites a message's record with an erased one of the same length
  // (EraseRecordInPlace). In the buffer at once (it is written with the
  // removal record); in a file only once the removal record is durable
  // (ApplyErases): an erase on disk without it would leave the index
  // and summary pointing at an erased record, a message neither there
  // nor removed, for a removal never acknowledged.
  void EraseRecord(Block& b, const Entry& e, uint64_t seq) {
    if (&b == active_ && e.offset >= written_) {
      if (!EraseRecordInPlace(buf_.data() + (e.offset - written_), e.len)) {
        log::Error("store: {}: record of sequence {} was damaged; zeroed", b.path, seq);
      }
      return;
    }
    pending_erases_.push_back({b.id, e.offset, e.len, seq});
  }

  // After the buffer (holding the removal records) was written: syncs it,
  // then erases the records in their files and syncs those, so an erase is
  // durable when the Sync that follows it completes. Erase is rare (a
  // message delete without no_erase): two fsyncs on this thread for it.
  Status ApplyErases() {
    if (pending_erases_.empty()) return {};
    std::vector<PendingErase> erases = std::move(pending_erases_);
    pending_erases_.clear();
    if (Status s = active_->file->Sync(); !s.ok()) {
      log::Error("store: {}: fdatasync failed, refusing writes: {}", active_->path, s.msg);
      fatal_ = s;
      return s;
    }
    DropReadAhead();
    for (const auto& pe : erases) {
      Block* b = FindBlock(pe.block);
      if (b == nullptr || b->gone) continue;  // removed with its block
      std::string rec(pe.len, '\0');
      auto f = BlockFile(*b);
      Status s = f.status;
      if (f.ok()) {
        auto r = f.value->Read(pe.offset, rec.size(), rec.data());
        s = r.status;
        if (s.ok() && r.value != rec.size()) s = {Errc::kCorrupt, "short read"};
      }
      if (s.ok()) {
        if (!EraseRecordInPlace(rec.data(), rec.size())) {
          log::Error("store: {}: record of sequence {} was damaged; zeroed", b->path, pe.seq);
        }
        s = f.value->Write(pe.offset, rec);
      }
      if (s.ok()) s = f.value->Sync();
      if (!s.ok()) {
        log::Error("store: {}: erasing sequence {}: {}", b->path, pe.seq, s.msg);
        if (first_error_.ok()) first_error_ = s;
      }
    }
    return {};
  }

  // Writes the buffer to the active block (the "written" watermark). On
  // failure the file is cut back to a record boundary and the index is
  // reloaded from disk, so everything not written — messages and removals
  // alike — is gone, as their Sync reports.
  // Records that the first sequence moved (removals of first messages,
  // purges), before any record of a later sequence: a replay that met a
  // message far past the last one before the floor would take it for
  // damage.
  void WritePendingFloor() {
    if (base_ <= persisted_first_) return;
    AppendRecord(RecordType::kFloor, base_, 0, {}, {}, {});
    active_->has_floor = true;
    persisted_first_ = base_;
    floor_pending_ = false;
  }

  Status Flush() {
    WritePendingFloor();
    floor_pending_ = false;
    Status s = WriteBuffer();
    if (!s.ok()) {
      log::Warn("store: {}: write failed, dropping what was not written: {}", active_->path, s.msg);
      write_error_ = s;
      if (Status r = Reload(); !r.ok()) {
        log::Error("store: {}: reloading after a failed write: {}", opts_.dir, r.msg);
        fatal_ = r;
      }
      return s;
    }
    if (!write_error_.ok()) log::Info("store: {}: writes work again", active_->path);
    write_error_ = {};
    if (Status e = ApplyErases(); !e.ok()) return e;
    RemoveEmptyBlocks();
    return {};
  }

  // Small writes (a publisher waiting for each ack) go into space zeroed
  // ahead of them: overwriting blocks the file already has makes the
  // fdatasync that follows cheaper than one that extends the file (92
  // against 132 us p50 on this project's test machine), at the price of
  // one extending fsync per kZeroAhead. Large writes (many publishes per
  // sync) extend the file as they are, so bulk data is not written twice.
  // A replay stops at the zeros.
  Status WriteBuffer() {
    if (buf_.empty()) return {};
    uint64_t end = written_ + buf_.size();
    uint64_t zero_to = 0;
    if (end > zeroed_end_ && buf_.size() <= kSmallWrite && end + kZeroAhead <= opts_.block_size)
      zero_to = (end + kZeroAhead + 4095) / 4096 * 4096;
    Status s = WriteIntoZeros(active_->file.get(), &zeroed_end_, written_, buf_, zero_to);
    if (!s.ok()) {
      DropReadAhead();
      if (Status t = active_->file->Truncate(written_); !t.ok()) {
        log::Error("store: {}: truncating after failed write: {}", active_->path, t.msg);
      }
      zeroed_end_ = written_;
      return s;
    }
    written_ += buf_.size();
    buf_.clear();
    if (buf_.capacity() > 4 * kFlushThreshold) buf_.shrink_to_fit();
    if (opts_.sync == SyncMode::kInterval) group_->NoteWritten(active_->file);
    return {};
  }

  // Rebuilds the index from what is on disk.
  Status Reload() {
    DropReadAhead();
    ClearIndex();
    DropBlocks();
    buf_.clear();
    pending_erases_.clear();  // their removal records were not written either
    written_ = 0;
    return LoadBlocks();
  }

  // A sealed block ends at its last record, not in zeros.
  Status TrimActive() {
    if (zeroed_end_ <= written_) return {};
    Status s = active_->file->Truncate(written_);
    if (s.ok()) zeroed_end_ = written_;
    return s;
  }

  // `base_ts`: the new block's base timestamp (that of its first message).
  Status Roll(int64_t base_ts) {
    if (Status s = Flush(); !s.ok()) return s;
    if (Status s = TrimActive(); !s.ok()) return s;
    if (Status s = active_->file->Sync(); !s.ok()) {
      // As in GroupCommit: after a failed fsync nothing may be called durable.
      log::Error("store: {}: fdatasync failed, refusing writes: {}", active_->path, s.msg);
      fatal_ = s;
      return s;
    }
    WriteBlockIndex(*active_);
    // The summary costs about its own size to write: written once as much
    // as a few summaries has gone into blocks, so a crash replays at most
    // that much (each sealed block from its index file).
    since_summary_ += active_->size;
    if (since_summary_ >= std::max<uint64_t>(opts_.block_size, 4 * summary_size_)) WriteSummary();
    Block* sealed = active_;
    if (Status s = NewBlock(active_->id + 1, base_ts); !s.ok()) return s;
    sealed->file.reset();
    Unpin(*sealed);
    if (opts_.compress) Compress(*sealed);
    return {};
  }

  // Replaces a sealed block's file by its compressed container, durably
  // (WriteFileDurably: a crash leaves the raw block or the container, both
  // whole). Only once a newer block exists, so the last block on disk is
  // always raw. Best effort: a block that does not shrink, or a failure,
  // leaves the raw block.
  void Compress(Block& b) {
    if (b.compressed || b.gone) return;
    auto f = BlockFile(b);
    if (!f.ok()) return;
    std::string raw(b.size, '\0');
    auto r = f.value->Read(0, raw.size(), raw.data());
    if (!r.ok() || r.value != raw.size()) return;
    std::string container = CompressBlock(raw);
    if (container.empty()) return;
    b.file.reset();
    std::erase(open_sealed_, b.id);
    if (Status s = WriteFileDurably(env_, b.path, container); !s.ok()) {
      log::Warn("store: {}: compressing: {}", b.path, s.msg);
      return;
    }
    b.compressed = true;
  }

  // The offset in block `b` where the log first goes past `seq` (b.size if
  // it does not in this block): the first record of a later sequence, or a
  // floor above seq+1. Adds to `removed` the sequences at or below `seq`
  // whose tombstones lie from there on.
  Result<uint64_t> TailStart(Block& b, uint64_t seq, std::vector<uint64_t>* removed) {
    BlockIndex idx;
    auto res = ScanBlock(b, 0, &idx);
    if (!res.ok()) return {res.status, 0};
    bool found = b.lo > seq + 1;
    uint64_t x = found ? 0 : b.size;
    for (const IndexEvent& e : idx.events) {
      uint64_t reach = e.type == RecordType::kFloor ? e.seq - std::min<uint64_t>(e.seq, 1) : e.seq;
      if (!found && reach > seq) {
        found = true;
        x = e.offset;
      }
      if (found && removed != nullptr && e.type == RecordType::kTombstone && e.seq <= seq) {
        removed->push_back(e.seq);
      }
    }
    return {{}, x};
  }

  // Cuts block `b` back to its first `x` bytes, durably. A compressed block
  // is rewritten (WriteFileDurably: the old container or the new one).
  Status CutFile(Block& b, uint64_t x) {
    DropReadAhead();
    auto f = BlockFile(b);
    if (!f.ok()) return f.status;
    if (b.compressed) {
      std::string raw(x, '\0');
      auto r = f.value->Read(0, x, raw.data());
      if (!r.ok()) return r.status;
      if (r.value != x) return {Errc::kCorrupt, fmt::format("{}: short read", b.path)};
      std::string container = CompressBlock(raw);
      b.file.reset();
      std::erase(open_sealed_, b.id);
      if (Status s = WriteFileDurably(env_, b.path, container.empty() ? raw : container); !s.ok()) return s;
      b.compressed = !container.empty();
    } else {
      if (Status s = f.value->Truncate(x); !s.ok()) return s;
      if (Status s = f.value->Sync(); !s.ok()) return s;
    }
    b.size = x;
    WriteBlockIndex(b);
    return {};
  }

  // A truncation that failed part way: the index is rebuilt from the files
  // (on whichever side of the cut they are) and, as after a failed fsync,
  // the store refuses writes until it is reopened.
  Status FailTruncate(Status s) {
    log::Error("store: {}: truncating failed, refusing writes: {}", opts_.dir, s.msg);
    if (Status r = Reload(); !r.ok()) log::Error("store: {}: reloading after a failed truncate: {}", opts_.dir, r.msg);
    fatal_ = s;
    return s;
  }

  // Finishes on disk the cut of the last truncate record a replay met, which
  // a crash may have interrupted: once the record is durable, the blocks
  // that began above the cut and the tail of the block before it are no
  // longer needed. Best effort: what is left is cut again at the next open.
  void FinishCut() {
    Block* keep = cut_block_ != 0 ? FindBlock(cut_block_) : nullptr;
    if (keep == nullptr) return;
    // The record itself first: a replay after kill -9 may have read it
    // from the page cache only.
    auto kf = BlockFile(*keep);
    if (!kf.ok() || !kf.value->Sync().ok()) return;
    for (const auto& path : cut_files_) {
      if (Status s = env_->RemoveFile(path); !s.ok()) log::Warn("store: removing a truncated block: {}", s.msg);
    }
    cut_files_.clear();
    auto it = std::find_if(blocks_.begin(), blocks_.end(), [&](const auto& p) { return p.get() == keep; });
    if (it == blocks_.begin()) return;
    Block& b = **std::prev(it);
    if (b.gone) return;
    auto x = TailStart(b, cut_seq_, nullptr);
    if (!x.ok() || x.value >= b.size) return;
    log::Warn("store: {}: finishing a truncate to {}: cutting {} bytes at offset {}", b.path, cut_seq_,
              b.size - x.value, x.value);
    if (Status s = CutFile(b, x.value); !s.ok()) log::Warn("store: {}: {}", b.path, s.msg);
  }

  Status NewBlock(uint32_t id, int64_t base_ts) {
    std::string path = JoinPath(msgs_dir_, BlockFileName(id, "blk"));
    auto f = env_->Open(path);
    if (!f.ok()) return f.status;
    if (Status s = env_->SyncDir(msgs_dir_); !s.ok()) {
      f.value.reset();
      env_->RemoveFile(path);
      return s;
    }
    auto b = std::make_unique<Block>();
    b->id = id;
    b->path = path;
    b->file = std::move(f.value);
    b->lo = last_ + 1;
    b->base_ts = base_ts;
    Pin(*b);
    active_ = b.get();
    blocks_.push_back(std::move(b));
    written_ = 0;
    zeroed_end_ = 0;
    AppendRecord(RecordType::kBlockStart, last_, base_ts, {}, {}, {});
    return {};
  }

  // Removes block files none of whose records matter any more. A removed
  // block's index file stays until a summary that no longer lists the
  // block is durable: replaying records written after the last summary
  // may still need to know what the block held.
  void RemoveEmptyBlocks() {
    bool older = false;
    for (size_t i = 0; i < blocks_.size();) {
      Block& b = *blocks_[i];
      if (&b != active_ && b.live == 0 && (!older || (!b.cross_tombstones && !b.has_floor))) {
        if (!b.gone && b.first != 0 && !b.idx_ok) WriteBlockIndex(b);
        if (b.gone || b.first == 0 || b.idx_ok) {
          DropDetail(b);
          b.file.reset();
          if (!b.gone) {
            if (Status s = env_->RemoveFile(b.path); !s.ok()) log::Warn("store: removing empty block: {}", s.msg);
          }
          idx_to_drop_.push_back(b.id);
          if (ra_block_ == b.id) DropReadAhead();
          blocks_.erase(blocks_.begin() + static_cast<ptrdiff_t>(i));
          continue;
        }
      }
      older = true;
      ++i;
    }
  }

  // Best effort: the index is derived data, so failures only cost a scan.
  void WriteBlockIndex(Block& b) {
    BlockIndex idx;
    auto res = ScanBlock(b, 0, &idx);
    if (!res.ok()) return;
    idx.covered = res.value.valid_end;
    idx.base_ts = b.base_ts;
    std::string out;
    EncodeBlockIndex(idx, &out);
    std::string path = JoinPath(msgs_dir_, BlockFileName(b.id, "idx"));
    auto f = env_->Open(path + ".tmp");
    if (!f.ok()) return;
    Status s = f.value->Truncate(0);
    if (s.ok()) s = f.value->Append(out);
    // Synced so that a power cut leaves either no index or a whole one
    // (the rename becomes durable with the next fsync of the directory).
    if (s.ok()) s = f.value->Sync();
    f.value.reset();
    if (s.ok()) s = env_->Rename(path + ".tmp", path);
    if (!s.ok()) log::Warn("store: writing {}: {}", path, s.msg);
    b.idx_ok = s.ok() && idx.covered == b.size;
  }

  // Best effort as well. Exact for everything written so far: callers
  // flush first.
  void WriteSummary() {
    if (!buf_.empty() || active_ == nullptr) return;
    StreamSummary sum;
    sum.pos_block = active_->id;
    sum.pos_offset = written_;
    sum.first_seq = base_;
    sum.last_seq = last_;
    sum.msgs = msgs_;
    sum.bytes = bytes_;
    sum.last_ts = last_ts_;
    sum.blocks.reserve(blocks_.size());
    for (const auto& b : blocks_) {
      SummaryBlock& s = sum.blocks.emplace_back();
      s.id = b->id;
      s.size = b.get() == active_ ? written_ : b->size;
      s.lo = b->lo;
      s.first = b->first;
      s.last = b->last;
      s.live = b->live;
      s.bytes = b->bytes;
      s.min_ts = b->min_ts;
      s.base_ts = b->base_ts;
      s.cross_tombstones = b->cross_tombstones;
      s.has_floor = b->has_floor;
      s.headers = b->headers;
      s.dead = b->dead;  // even with nothing live: the active block takes new messages
    }
    sum.subjects.reserve(subjects_.size());
    for (const auto& [name, st] : subjects_) {
      sum.subjects.push_back({name, st.first, st.last, st.count, st.first_stale, st.last_stale});
    }
    std::string out;
    EncodeSummary(sum, &out);
    if (Status s = WriteFileDurably(env_, JoinPath(msgs_dir_, kSummaryName), out); !s.ok()) {
      log::Warn("store: {}: writing the summary: {}", opts_.dir, s.msg);
      return;
    }
    summary_size_ = out.size();
    since_summary_ = 0;
    for (uint32_t id : idx_to_drop_) {
      std::string idx = JoinPath(msgs_dir_, BlockFileName(id, "idx"));
      if (env_->Exists(idx)) env_->RemoveFile(idx);
    }
    idx_to_drop_.clear();
  }

  // -- recovery ---------------------------------------------------------------

  // Applies one recovered record (from a scan or an index file).
  void Apply(Block& b, const IndexEvent& e, std::string_view subject) {
    bool far = msgs_ > 0 && e.seq > last_ + kMaxReplayGap;
    if (far && e.type != RecordType::kFloor) {
      log::Error("store: {}: sequence {} far beyond {}, record ignored", b.path, e.seq, last_);
      return;
    }
    switch (e.type) {
      case RecordType::kMsg:
        if (e.seq <= last_) {
          log::Error("store: {}: duplicate sequence {} at offset {} ignored", b.path, e.seq, e.offset);
          return;
        }
        AddMsg(b, e.seq, e.ts, e.offset, e.len, e.size, subject, e.hdr);
        break;
      case RecordType::kTombstone:
        NoteTombstone(b, e.seq);
        if (Block* t = BlockOf(e.seq); t != nullptr && t->Live(e.seq)) {
          RemoveMsg(e.seq, false);
        } else {
          RaiseLast(e.seq);
        }
        break;
      case RecordType::kFloor:
        b.has_floor = true;
        CompactTo(e.seq);
        break;
      case RecordType::kErased:
      case RecordType::kBlockStart:
        RaiseLast(e.seq);
        break;
      case RecordType::kTruncate:
        // Written as a block's second record: the block holds nothing older.
        if (b.first != 0) {
          log::Error("store: {}: truncate record at offset {} after messages, ignored", b.path, e.offset);
          return;
        }
        b.lo = e.seq + 1;
        if (!CutIndex(e.seq, &b, &cut_files_)) {
          log::Error("store: {}: truncating to {}: a block index is unreadable", b.path, e.seq);
        }
        cut_seq_ = e.seq;
        cut_block_ = b.id;
        break;
    }
  }

  // Message records, and erased ones (which keep subject and length).
  static bool HasSubject(const RecordView& r) {
    return r.type == RecordType::kMsg || r.type == RecordType::kErased;
  }

  static IndexEvent EventOf(uint64_t off, const RecordView& r) {
    IndexEvent e{r.type, r.seq, r.ts};
    e.offset = static_cast<uint32_t>(off);
    e.len = r.len;
    if (HasSubject(r)) {
      // What NatsFileMsgSize gave the message (an erased record keeps the
      // header fields of the message).
      e.hdr = !r.hdr.empty();
      e.size = static_cast<uint32_t>(AccountedSize(r.len, r.overhead, e.hdr));
    }
    return e;
  }

  // Scans block bytes [from, b.size); applies records, or collects them into
  // `idx` when given. Returns the scan result.
  Result<ScanResult> ScanBlock(Block& b, uint64_t from, BlockIndex* idx) {
    std::string data(b.size - from, '\0');
    auto f = BlockFile(b);
    if (!f.ok()) return {f.status, {}};
    auto r = f.value->Read(from, data.size(), data.data());
    if (!r.ok()) return {r.status, {}};
    data.resize(r.value);
    std::unordered_map<std::string_view, uint32_t> local;
    ScanResult res = ScanRecords(data, from, b.base_ts, [&](uint64_t off, const RecordView& rec) {
      if (rec.type == RecordType::kBlockStart && off == 0) b.base_ts = rec.ts;
      IndexEvent e = EventOf(off, rec);
      if (idx == nullptr) return Apply(b, e, rec.subject);
      if (HasSubject(rec)) {
        auto [it, added] = local.emplace(rec.subject, static_cast<uint32_t>(idx->subjects.size()));
        if (added) idx->subjects.emplace_back(rec.subject);
        e.subj = it->second;
      }
      idx->events.push_back(e);
    });
    return {{}, std::move(res)};
  }

  // A block file's logical size: a compressed block's from its header
  // (noted in compressed_on_disk_). Refuses a block in record format 1
  // (fixed 40-byte headers, before 2026-12-05): replaying it as format 2
  // would take every record for damage and cut the last block.
  Result<uint64_t> BlockSize(const std::string& path, uint32_t id) {
    auto f = env_->OpenExisting(path);
    if (!f.ok()) return {f.status, 0};
    char head[8] = {};
    auto r = f.value->Read(0, sizeof head, head);
    if (!r.ok()) return {r.status, 0};
    // A format 1 block starts with its 40-byte block-start record:
    // u32 len 40, u16 subject length 0, u8 type 5, u8 flags 0.
    static constexpr char kFormat1[8] = {0x28, 0, 0, 0, 0, 0, 0x05, 0};
    if (r.value == sizeof head && std::memcmp(head, kFormat1, sizeof head) == 0) {
      return {{Errc::kCorrupt,
               fmt::format("{}: written in record format 1 by a development build before 2026-12-05; "
                           "this build reads format 2 only: move the stream's directory away",
                           path)},
              0};
    }
    if (!IsCompressedBlock(std::string_view(head, r.value))) return f.value->Size();
    compressed_on_disk_.insert(id);
    auto size = CompressedBlockSize(f.value.get());
    if (!size.ok()) {
      // Its records cannot be found without its chunk table: the stream
      // is not opened (and the block not touched) rather than opened
      // without them.
      return {{Errc::kCorrupt, fmt::format("{}: compressed block header damaged", path)}, 0};
    }
    return size;
  }

  Status ReplayBlock(Block& b, uint64_t from, bool last);
  // Whether block bytes [offset, size) are all zeros (space zeroed ahead).
  bool ZerosFrom(Block& b, uint64_t offset);
  // Recovery found the last block's bytes [begin, end) damaged, or missing
  // up to `synced`, although the last run had fsynced them: lost_at_open_.
  void LoseSyncedTail(Block& b, uint64_t begin, uint64_t end, uint64_t synced);
  bool RestoreSummary(const std::map<uint32_t, uint64_t>& on_disk, const std::set<uint32_t>& indexed,
                      uint32_t* pos_block, uint64_t* pos_offset);
  Status LoadBlocks();

  Env* env_;
  FileStoreOptions opts_;
  std::string msgs_dir_;
  Limits limits_;
  bool closed_ = false;
  // Every block, by id (and so by sequence).
  std::vector<std::unique_ptr<Block>> blocks_;
  std::deque<uint32_t> open_sealed_;  // sealed blocks opened on demand, oldest first
  Block* active_ = nullptr;
  std::string buf_;        // records appended but not yet written
  uint64_t written_ = 0;   // active block offset where buf_ starts
  uint64_t zeroed_end_ = 0;  // the active block file's size: zeros from written_ on
  mutable size_t hint_ = 0;  // the block IndexFor found last
  // Cached details of unpinned blocks, most recently used first.
  mutable std::list<uint32_t> lru_;
  mutable int64_t cached_bytes_ = 0;  // this store's share of budget_
  std::shared_ptr<CacheBudget> budget_;
  // The stream.
  mutable SubjectMap subjects_;
  std::vector<const std::string*> names_;  // subject id -> name (a key of subjects_)
  std::vector<uint32_t> free_gids_;
  uint64_t gid_gen_ = 1;  // bumped whenever an id may name another subject
  uint64_t base_ = 1;  // first sequence (last_ + 1 when empty)
  uint64_t last_ = 0;
  uint64_t msgs_ = 0;
  uint64_t bytes_ = 0;
  int64_t last_ts_ = 0;
  mutable uint64_t first_ts_seq_ = 0;  // FirstTs() is remembered for this sequence
  mutable int64_t first_ts_ = 0;
  // Read-ahead buffer (see ReadRecord); block id 0 = empty.
  std::unique_ptr<char[]> ra_buf_;
  uint64_t ra_cap_ = 0;
  uint32_t ra_block_ = 0;
  uint64_t ra_offset_ = 0;
  uint64_t ra_len_ = 0;
  uint64_t ra_next_ = 0;  // where a sequential reader's next record starts
  uint64_t persisted_first_ = 1;  // the first sequence the log already implies
  bool appending_ = false;
  bool floor_pending_ = false;  // a first message was removed since the last floor
  bool replaying_ = false;
  bool replayed_ = false;  // recovery applied records the summary did not cover
  Status write_error_;   // the last write failed (appends probe until one works)
  Status fatal_;  // an fsync failed or the index could not be rebuilt
  Status first_error_;  // a failed in-place erase, reported by the next Sync
  // Shared with the fsyncs PrepareSyncHere hands out, which may run as
  // the store closes.
  std::shared_ptr<GroupCommit> group_;
  uint64_t since_summary_ = 0;  // block bytes sealed since the last summary
  size_t summary_size_ = 0;
  std::vector<uint32_t> idx_to_drop_;  // index files of removed blocks
  std::set<uint32_t> compressed_on_disk_;  // LoadBlocks: block files that are compressed
  // LoadBlocks: the last truncate record replayed (its block, 0 if none,
  // and sequence) and the files of the blocks it cut (FinishCut).
  uint32_t cut_block_ = 0;
  uint64_t cut_seq_ = 0;
  std::vector<std::string> cut_files_;
  // Erases of records already in a file, waiting for their removal records
  // to be durable (EraseRecord).
  struct PendingErase {
    uint32_t block;
    uint32_t offset, len;
    uint64_t seq;
  };
  std::vector<PendingErase> pending_erases_;
  std::shared_ptr<SyncedMark> synced_;  // set by Recover; shared with the group commit's callbacks
  std::optional<SyncedMark::Mark> mark_at_open_;  // LoadBlocks: the mark the last run left
  std::optional<TailLoss> lost_at_open_;
};

bool FileStore::ZerosFrom(Block& b, uint64_t offset) {
  std::string rest(b.size - offset, '\0');
  auto f = BlockFile(b);
  if (!f.ok()) return false;
  auto r = f.value->Read(offset, rest.size(), rest.data());
  return r.ok() &&
         std::all_of(rest.begin(), rest.begin() + static_cast<ptrdiff_t>(r.value), [](char c) { return c == 0; });
}

void FileStore::LoseSyncedTail(Block& b, uint64_t begin, uint64_t end, uint64_t synced) {
  // Which sequences the damaged records held: no more than the bytes can
  // hold records, so a header's sequence beyond that is damage too. Those
  // that can still be read name theirs; bytes that cannot may have held one
  // record per kMinRecord, all counted as possibly acknowledged (the caller
  // never gives those sequences again).
  std::string bytes(end - begin, '\0');
  if (auto f = BlockFile(b); f.ok() && !bytes.empty()) {
    auto r = f.value->Read(begin, bytes.size(), bytes.data());
    bytes.resize(r.ok() ? r.value : 0);
  }
  // Bytes fsynced but no longer in the file (cut short) held records too.
  const uint64_t missing = synced > end ? synced - end : 0;
  const uint64_t most = (end - begin + missing) / kMinRecord;
  uint64_t named = 0, walked = 0;
  std::string_view rest(bytes);
  RecordType type;
  uint64_t seq;
  uint32_t len;
  while (PeekRecordHeader(rest, &type, &seq, &len)) {
    bool plausible = seq > last_ && seq <= last_ + most;
    if (type == RecordType::kMsg || type == RecordType::kTombstone || type == RecordType::kErased) {
      ++walked;
      if (plausible) named = std::max(named, seq);
    }
    rest.remove_prefix(len);
  }
  if (uint64_t possible = walked + (rest.size() + missing) / kMinRecord; possible > 0)
    named = std::max(named, last_ + possible);
  TailLoss loss;
  loss.last_named = named;
  if (end > begin) {
    loss.why = fmt::format("{}: damaged records at offset {}..{}, below the {} bytes fsynced before the last stop",
                           b.path, begin, end, synced);
  } else {
    loss.why = fmt::format("{}: {} bytes, shorter than the {} bytes fsynced before the last stop", b.path, b.size,
                           synced);
  }
  log::Error("store: {}; they may have been acknowledged and are kept as they are{}", loss.why,
             named ? fmt::format(" (they name sequences up to {})", named) : std::string());
  lost_at_open_ = std::move(loss);
}

Status FileStore::ReplayBlock(Block& b, uint64_t from, bool last) {
  replayed_ = true;
  if (from == 0) {
    std::string idx_path = JoinPath(msgs_dir_, BlockFileName(b.id, "idx"));
    if (env_->Exists(idx_path)) {
      BlockIndex idx;
      auto raw = ReadFileToString(env_, idx_path);
      if (raw.ok() && DecodeBlockIndexHeader(raw.value, &idx) && idx.covered <= b.size) {
        b.idx_ok = idx.covered == b.size;
        b.base_ts = idx.base_ts;
        std::vector<std::string_view> names(idx.subjects.begin(), idx.subjects.end());
        ForEachIndexEvent(raw.value, [&](const IndexEvent& e) {
          bool named = e.type == RecordType::kMsg || e.type == RecordType::kErased;
          Apply(b, e, named ? names[e.subj] : std::string_view());
        });
        from = idx.covered;
      } else {
        log::Warn("store: {}: index unusable, scanning the block", idx_path);
      }
    }
  }
  uint64_t synced = last && !b.compressed && mark_at_open_ && mark_at_open_->id == b.id ? mark_at_open_->offset : 0;
  if (synced > b.size && from >= b.size) LoseSyncedTail(b, b.size, b.size, synced);
  if (from >= b.size) return {};
  auto res = ScanBlock(b, from, nullptr);
  if (!res.ok()) return res.status;
  if (synced > b.size && !res.value.zero_tail && !res.value.tail_garbage)
    LoseSyncedTail(b, b.size, b.size, synced);
  for (const auto& [begin, end] : res.value.corrupt) {
    log::Error("store: {}: corrupt bytes at offset {}..{} skipped; records after them kept", b.path,
               begin, end);
  }
  // Past the last valid record: nothing but zeros (space zeroed ahead), or
  // no record. Below what the last run knew synced, that is damage, kept;
  // above it, a write a crash tore, never acknowledged, cut.
  if ((res.value.zero_tail || res.value.tail_garbage) && synced > res.value.valid_end) {
    LoseSyncedTail(b, res.value.valid_end, std::min(synced, b.size), synced);
    if (synced < b.size && !ZerosFrom(b, synced)) {
      log::Warn("store: {}: torn record at offset {}, truncating {} bytes", b.path, synced, b.size - synced);
      auto f = BlockFile(b);
      if (!f.ok()) return f.status;
      if (Status s = f.value->Truncate(synced); !s.ok()) return s;
      if (Status s = f.value->Sync(); !s.ok()) return s;
    }
    b.size = std::min(synced, b.size);
    return {};
  }
  if (res.value.zero_tail) b.size = res.value.valid_end;  // space zeroed ahead
  if (res.value.tail_garbage) {
    uint64_t cut = res.value.valid_end;
    if (last && !b.compressed) {
      log::Warn("store: {}: torn record at offset {}, truncating {} bytes", b.path, cut, b.size - cut);
      auto f = BlockFile(b);
      if (!f.ok()) return f.status;
      if (Status s = f.value->Truncate(cut); !s.ok()) return s;
      if (Status s = f.value->Sync(); !s.ok()) return s;
      b.size = cut;
    } else {
      log::Error("store: {}: unreadable bytes at offset {}..{} kept as they are", b.path, cut, b.size);
    }
  }
  // A sealed block replayed without a whole index gets one, so the next
  // restart and a later load of its detail need not scan it.
  if (!last && !b.idx_ok) WriteBlockIndex(b);
  return {};
}

// Takes the stream's state from the summary if it is whole and agrees with
// the block files; false (and nothing changed) otherwise.
bool FileStore::RestoreSummary(const std::map<uint32_t, uint64_t>& on_disk, const std::set<uint32_t>& indexed,
                               uint32_t* pos_block, uint64_t* pos_offset) {
  std::string path = JoinPath(msgs_dir_, kSummaryName);
  if (!env_->Exists(path)) return false;
  auto raw = ReadFileToString(env_, path);
  StreamSummary sum;
  if (!raw.ok() || !DecodeSummary(raw.value, &sum)) {
    log::Warn("store: {}: summary unusable, replaying every block", opts_.dir);
    return false;
  }
  auto bad = [&](std::string_view why) {
    log::Warn("store: {}: summary does not match the blocks ({}), replaying every block", opts_.dir, why);
    return false;
  };
  if (sum.blocks.empty() || sum.blocks.back().id != sum.pos_block) return bad("no position block");
  for (size_t i = 0; i < sum.blocks.size(); ++i) {
    const SummaryBlock& sb = sum.blocks[i];
    if (i > 0 && sb.id <= sum.blocks[i - 1].id) return bad("block order");
    if (sb.first > sb.last || (sb.first != 0 && sb.live > sb.last - sb.first + 1)) return bad("block range");
    auto it = on_disk.find(sb.id);
    if (it == on_disk.end()) {
      // Removed since (its messages all were); what it held is still
      // needed to replay their removals, from its index file.
      if (sb.live > 0 && !indexed.count(sb.id)) return bad("removed block without index");
      continue;
    }
    if (sb.id == sum.pos_block ? it->second < sum.pos_offset : it->second != sb.size) return bad("block size");
  }
  for (const auto& sb : sum.blocks) {
    bool gone = !on_disk.count(sb.id);
    if (gone && sb.live == 0) continue;
    auto b = std::make_unique<Block>();
    b->id = sb.id;
    b->path = JoinPath(msgs_dir_, BlockFileName(sb.id, "blk"));
    b->size = gone ? sb.size : on_disk.at(sb.id);
    b->compressed = compressed_on_disk_.count(sb.id) > 0;
    b->lo = sb.lo;
    b->first = sb.first;
    b->last = sb.last;
    b->live = sb.live;
    b->bytes = sb.bytes;
    b->min_ts = sb.min_ts;
    b->base_ts = sb.base_ts;
    b->cross_tombstones = sb.cross_tombstones;
    b->has_floor = sb.has_floor;
    b->headers = sb.headers;
    b->dead = std::move(sb.dead);
    b->gone = gone;
    blocks_.push_back(std::move(b));
  }
  // Sized once: a million subjects would otherwise rehash twenty times.
  subjects_.reserve(sum.subjects.size());
  names_.reserve(sum.subjects.size());
  for (auto& j : sum.subjects) {
    SubjState& st = AddSubject(std::move(j.name));
    st = SubjState{j.first, j.last, j.count, j.first_stale, j.last_stale, st.gid};
  }
  base_ = sum.first_seq;
  last_ = sum.last_seq;
  msgs_ = sum.msgs;
  bytes_ = sum.bytes;
  last_ts_ = sum.last_ts;
  *pos_block = sum.pos_block;
  *pos_offset = sum.pos_offset;
  return true;
}

Status FileStore::Recover() {
  if (Status s = CreateDirsDurably(env_, msgs_dir_); !s.ok()) return s;
  std::string mark = JoinPath(msgs_dir_, kSyncedName);
  mark_at_open_ = SyncedMark::Read(env_, mark);
  synced_ = std::make_shared<SyncedMark>(env_, mark);
  if (Status s = LoadBlocks(); !s.ok()) return s;
  RemoveEmptyBlocks();
  group_ = std::make_shared<GroupCommit>(opts_.sync, opts_.sync_interval_ns);
  if (replayed_) {
    // The next crash then replays from here, not from the old summary. The
    // records it covers may never have been synced (written, then kill -9):
    // sync them first, or a power cut could leave a summary counting
    // messages the disk lost.
    if (Flush().ok() && active_->file->Sync().ok()) {
      synced_->Note(active_->id, written_);
      WriteSummary();
    }
    replayed_ = false;
  }
  return {};
}

Status FileStore::LoadBlocks() {
  auto names = env_->ListDir(msgs_dir_);
  if (!names.ok()) return names.status;
  std::map<uint32_t, uint64_t> on_disk;  // block id -> file size
  std::set<uint32_t> indexed;
  for (const auto& n : names.value) {
    uint32_t id;
    if (ParseBlockName(n, "blk", &id)) {
      auto size = BlockSize(JoinPath(msgs_dir_, n), id);
      if (!size.ok()) return size.status;
      on_disk[id] = size.value;
    } else if (ParseBlockName(n, "idx", &id)) {
      indexed.insert(id);
    } else if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) {
      env_->RemoveFile(JoinPath(msgs_dir_, n));
    }
  }
  // A mark naming no block on disk describes none: were every block gone,
  // the next one would take id 1 again, and an old mark on it would read
  // as data lost.
  if (mark_at_open_ && !on_disk.count(static_cast<uint32_t>(mark_at_open_->id))) {
    mark_at_open_.reset();
    env_->RemoveFile(JoinPath(msgs_dir_, kSyncedName));
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    cut_files_.clear();
    cut_block_ = 0;
    uint32_t pos_block = 0;
    uint64_t pos_offset = 0;
    bool summary = attempt == 0 && RestoreSummary(on_disk, indexed, &pos_block, &pos_offset);
    replaying_ = true;
    if (summary) {
      // The position block continues from where the summary ends.
      Block* pb = FindBlock(pos_block);
      if (pb != nullptr && !pb->gone && pb->size > pos_offset) {
        Block& p = *pb;
        if (GetDetail(p) == nullptr) return {Errc::kIo, fmt::format("{}: unreadable", p.path)};
        Pin(p);
        Status s = ReplayBlock(p, pos_offset, on_disk.rbegin()->first == p.id);
        Unpin(p);
        if (!s.ok()) return s;
      }
    }
    std::vector<uint32_t> leftovers;
    for (const auto& [id, size] : on_disk) {
      if (summary && id <= pos_block) {
        // Removed, with all its messages, before the summary: its removal
        // just did not reach the disk.
        if (id < pos_block && FindBlock(id) == nullptr) leftovers.push_back(id);
        continue;
      }
      auto b = std::make_unique<Block>();
      b->id = id;
      b->path = JoinPath(msgs_dir_, BlockFileName(id, "blk"));
      b->size = size;
      b->compressed = compressed_on_disk_.count(id) > 0;
      b->lo = last_ + 1;
      // Until its block-start record (or index file) says: only a block
      // whose start record is damaged keeps this guess.
      b->base_ts = last_ts_;
      Block& ref = *b;
      blocks_.push_back(std::move(b));
      Pin(ref);
      Status s = ReplayBlock(ref, 0, id == on_disk.rbegin()->first);
      Unpin(ref);
      if (!s.ok()) return s;
    }
    replaying_ = false;
    bool consistent = true;
    for (const auto& b : blocks_) {
      if (b->gone && b->live > 0) consistent = false;
    }
    if (consistent) {
      for (uint32_t id : leftovers) env_->RemoveFile(JoinPath(msgs_dir_, BlockFileName(id, "blk")));
      break;
    }
    log::Warn("store: {}: records after the summary do not match it, replaying every block", opts_.dir);
    ClearIndex();
    DropBlocks();
  }
  // Index files whose block is gone and no longer needed are stale.
  for (uint32_t id : indexed) {
    if (!on_disk.count(id) && FindBlock(id) == nullptr) {
      env_->RemoveFile(JoinPath(msgs_dir_, BlockFileName(id, "idx")));
    }
  }
  uint32_t max_id = blocks_.empty() ? 0 : blocks_.back()->id;
  if (!on_disk.empty()) max_id = std::max(max_id, on_disk.rbegin()->first);
  Block* last = blocks_.empty() ? nullptr : blocks_.back().get();
  // A compressed block is sealed: appends go to a new one.
  if (last == nullptr || last->gone || last->id != max_id || last->size >= opts_.block_size || last->compressed) {
    // A full last block is sealed here rather than by Roll(): index it as
    // Roll() would.
    if (last != nullptr && !last->gone && last->first != 0 && !last->idx_ok) WriteBlockIndex(*last);
    // Timestamps of the messages to come are closest to the last one's.
    if (Status s = NewBlock(max_id + 1, last_ts_ != 0 ? last_ts_ : NowNs()); !s.ok()) return s;
  } else {
    active_ = last;
    written_ = active_->size;
    auto f = BlockFile(*active_);
    if (!f.ok()) return f.status;
    auto file_size = f.value->Size();
    if (!file_size.ok()) return file_size.status;
    zeroed_end_ = std::max(file_size.value, written_);
    // The active block's file stays open: take it off the on-demand list.
    std::erase(open_sealed_, active_->id);
    if (GetDetail(*active_) == nullptr) return {Errc::kIo, fmt::format("{}: unreadable", active_->path)};
    Pin(*active_);
  }
  FinishCut();
  persisted_first_ = base_;
  floor_pending_ = false;
  return {};
}

}  // namespace

Result<std::unique_ptr<Store>> OpenFileStore(Env* env, const FileStoreOptions& opts,
                                             const Limits& limits) {
  if (opts.dir.empty()) return {{Errc::kInvalid, "no directory"}, nullptr};
  auto fs = std::make_unique<FileStore>(env, opts, limits);
  if (Status s = fs->Recover(); !s.ok()) {
    fs->Close();
    return {s, nullptr};
  }
  // Limits may have shrunk while the store was closed.
  fs->SetLimits(limits);
  return {{}, std::move(fs)};
}

Result<std::string> ReadStreamMeta(Env* env, const std::string& dir) {
  return ReadFileToString(env, JoinPath(dir, "meta.json"));
}

}  // namespace fjord::store
