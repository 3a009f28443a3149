// FileStore: a stream as append-only block files of checksummed records,
// with the whole index in memory (IndexedStore) and per-block index files
// so restarts do not read every record. Format and recovery rules:
// docs/storage-format.md.
#include <algorithm>
#include <charconv>
#include <deque>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "base/log.h"
#include "store/block_index.h"
#include "store/env.h"
#include "store/group_commit.h"
#include "store/indexed_store.h"
#include "store/record.h"

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
// Sealed blocks are opened on demand; at most this many stay open, so a
// large stream does not hold a descriptor per block.
constexpr size_t kMaxOpenSealed = 16;
// A sequential reader (a consumer catching up) reads this much at a time.
constexpr uint64_t kReadAhead = 64 * 1024;

struct FileBody {
  uint32_t block = 0;
  uint32_t offset = 0;
  uint32_t len = 0;
};

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

struct Block {
  uint32_t id = 0;
  std::string path;
  std::shared_ptr<File> file;  // always open for the active block
  uint64_t size = 0;        // file bytes, plus buffered bytes for the active block
  uint64_t first_msg = 0;   // first message sequence written to it
  uint64_t live = 0;        // messages in it still in the index
  // Removal records that reach into older blocks: while those blocks
  // exist, this one must stay or removed messages would come back.
  bool cross_tombstones = false;
  bool has_floor = false;
};

class FileStore final : public IndexedStore<FileBody> {
 public:
  FileStore(Env* env, const FileStoreOptions& opts, const Limits& limits)
      : IndexedStore(limits), env_(env), opts_(opts), msgs_dir_(JoinPath(opts.dir, "msgs")) {
    if (opts_.block_size < 1024) opts_.block_size = 1024;
  }

  ~FileStore() override {
    if (!closed_) Close();
  }

  Status Recover();

  void Sync(std::function<void(Status)> done) override {
    if (closed_) return done({Errc::kClosed, "store closed"});
    Status s = Broken();
    if (s.ok()) s = Flush();
    if (!first_error_.ok()) {
      s = first_error_;
      first_error_ = {};
    }
    if (!s.ok()) return done(s);
    if (opts_.sync == SyncMode::kAlways) {
      group_->Submit(active_->file, std::move(done));
    } else {
      done({});
    }
  }

  Status Scan(uint64_t start, uint64_t end,
              const std::function<bool(const MsgView&)>& fn) override {
    if (closed_) return {Errc::kClosed, "store closed"};
    // The records of consecutive sequences sit next to each other in a
    // block, so one chunk read serves every message that falls inside it.
    std::string chunk;
    Status bad;
    uint32_t chunk_block = 0;
    uint64_t chunk_off = 0;
    for (uint64_t q = std::max(start, first_seq()); q <= std::min(end, last_seq()); ++q) {
      const Slot* slot = At(q);
      if (!slot->live()) continue;
      const FileBody& fb = slot->body;
      Block* b = FindBlock(fb.block);
      if (b == nullptr) return {Errc::kIo, "block missing"};
      std::string_view rec;
      if (b == active_ && fb.offset >= written_) {
        rec = std::string_view(buf_).substr(fb.offset - written_, fb.len);
      } else {
        if (fb.block != chunk_block || fb.offset < chunk_off ||
            fb.offset + fb.len > chunk_off + chunk.size()) {
          // Only bytes already written: the active block's tail is in buf_.
          uint64_t limit = b == active_ ? written_ : b->size;
          uint64_t n = std::max<uint64_t>(fb.len, std::min<uint64_t>(kScanChunk, limit - fb.offset));
          auto f = BlockFile(*b);
          if (!f.ok()) return f.status;
          chunk.resize(n);
          auto r = f.value->Read(fb.offset, n, chunk.data());
          if (!r.ok()) return r.status;
          chunk.resize(r.value);
          chunk_block = fb.block;
          chunk_off = fb.offset;
        }
        rec = std::string_view(chunk).substr(fb.offset - chunk_off, fb.len);
      }
      RecordView v;
      if (DecodeRecord(rec, &v) != DecodeResult::kOk || v.type != RecordType::kMsg || v.seq != q) {
        // As Load would for this one message: reported, and the rest
        // still visited.
        log::Error("store: {}: corrupt record for sequence {} at offset {}", b->path, q, fb.offset);
        if (bad.ok()) bad = {Errc::kCorrupt, fmt::format("corrupt record for sequence {}", q)};
        continue;
      }
      if (!fn(MsgView{q, v.ts, v.subject, v.hdr, v.data})) break;
    }
    return bad;
  }

  Status WriteMeta(std::string_view json) override {
    return WriteFileDurably(env_, JoinPath(opts_.dir, "meta.json"), json);
  }

  Status Close() override {
    if (closed_) return {};
    if (!group_) {  // Recover() failed
      closed_ = true;
      blocks_.clear();
      return {};
    }
    Status s = Broken();
    if (s.ok()) s = Flush();
    group_->Stop();
    if (s.ok()) s = group_->failed();
    if (s.ok()) s = active_->file->Sync();
    if (s.ok()) WriteBlockIndex(*active_);
    active_ = nullptr;
    blocks_.clear();
    closed_ = true;
    return s;
  }

  Status Delete() override {
    if (!closed_ && group_) group_->Stop();
    active_ = nullptr;
    blocks_.clear();
    closed_ = true;
    return RemoveDirDurably(env_, opts_.dir);
  }

 protected:
  uint64_t MsgSize(std::string_view subject, std::string_view hdr,
                   std::string_view data) const override {
    return NatsFileMsgSize(subject, hdr, data);
  }

  Status StoreBody(uint64_t seq, std::string_view subject, std::string_view hdr,
                   std::string_view data, int64_t ts, FileBody* body) override {
    if (subject.size() > UINT16_MAX) return {Errc::kInvalid, "subject too long"};
    uint64_t len = kRecordOverhead + subject.size() + hdr.size() + data.size();
    if (len > kMaxRecord) return {Errc::kInvalid, "message too large"};
    if (Status s = Broken(); !s.ok()) return s;
    if (active_->first_msg != 0 && active_->size + len > opts_.block_size) {
      if (Status s = Roll(); !s.ok()) return s;
    }
    uint64_t offset = active_->size;
    AppendRecord(RecordType::kMsg, seq, ts, subject, hdr, data);
    // After a failed write every append writes at once, so that while the
    // disk is full it fails with nothing stored.
    if (!write_error_.ok() || buf_.size() >= kFlushThreshold) {
      if (Status s = Flush(); !s.ok()) return s;
    }
    body->block = active_->id;
    body->offset = static_cast<uint32_t>(offset);
    body->len = static_cast<uint32_t>(len);
    active_->live++;
    if (active_->first_msg == 0) active_->first_msg = seq;
    appending_ = true;
    return {};
  }

  Status StoreSkip(uint64_t seq) override {
    if (Status s = Broken(); !s.ok()) return s;
    NoteTombstone(*active_, seq);
    AppendRecord(RecordType::kTombstone, seq, 0, {}, {}, {});
    appending_ = true;
    return {};
  }

  Result<StoredMsg> ReadMsg(uint64_t seq, const Slot& slot) override {
    const FileBody& fb = slot.body;
    std::string_view rec;
    Block* b = FindBlock(fb.block);
    if (b == nullptr) return {{Errc::kIo, "block missing"}, {}};
    if (b == active_ && fb.offset >= written_) {
      rec = std::string_view(buf_).substr(fb.offset - written_, fb.len);
    } else {
      auto r = ReadRecord(*b, fb);
      if (!r.ok()) return {r.status, {}};
      rec = r.value;
    }
    RecordView v;
    if (DecodeRecord(rec, &v) != DecodeResult::kOk || v.type != RecordType::kMsg || v.seq != seq) {
      log::Error("store: {}: corrupt record for sequence {} at offset {}", b->path, seq, fb.offset);
      return {{Errc::kCorrupt, fmt::format("corrupt record for sequence {}", seq)}, {}};
    }
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
  Result<std::string_view> ReadRecord(Block& b, const FileBody& fb) {
    if (ra_block_ == b.id && fb.offset >= ra_offset_ && fb.offset + fb.len <= ra_offset_ + ra_len_) {
      ra_next_ = fb.offset + fb.len;
      return {{}, std::string_view(ra_buf_.get() + (fb.offset - ra_offset_), fb.len)};
    }
    auto f = BlockFile(b);
    if (!f.ok()) return {f.status, {}};
    uint64_t want = fb.len;
    if (ra_block_ == b.id && fb.offset == ra_next_) {
      want = std::max<uint64_t>(want, kReadAhead);
      // Past the written watermark the active block's file holds nothing valid.
      if (&b == active_ && fb.offset + want > written_) want = std::max<uint64_t>(written_ - fb.offset, fb.len);
    }
    if (want > ra_cap_) {
      ra_buf_.reset(new char[want]);
      ra_cap_ = want;
    }
    ra_block_ = 0;
    auto r = f.value->Read(fb.offset, want, ra_buf_.get());
    if (!r.ok()) return {r.status, {}};
    ra_block_ = b.id;
    ra_offset_ = fb.offset;
    ra_len_ = r.value;
    ra_next_ = fb.offset + fb.len;
    return {{}, std::string_view(ra_buf_.get(), std::min<uint64_t>(r.value, fb.len))};
  }

  // Called whenever bytes already on disk change or go away.
  void DropReadAhead() {
    ra_block_ = 0;
    ra_len_ = 0;
  }

  void OnRemoved(uint64_t seq, Slot& slot, bool erase, bool was_first) override {
    if (Block* b = FindBlock(slot.body.block)) b->live--;
    if (replaying_ || active_ == nullptr) return;
    if (erase) EraseRecord(seq, slot.body);
    // The first message's removal is recorded by the floor that Flush()
    // writes; anything else needs its own tombstone.
    if (was_first) {
      floor_pending_ = true;
    } else {
      NoteTombstone(*active_, seq);
      AppendRecord(RecordType::kTombstone, seq, 0, {}, {}, {});
    }
  }

  void AfterMutation() override {
    // An append or skip that removed no first message moves the first
    // sequence only over sequences its own record accounts for.
    if (appending_ && !floor_pending_) persisted_first_ = std::max(persisted_first_, first_seq());
    appending_ = false;
  }

 private:
  Status Broken() const {
    if (!fatal_.ok()) return fatal_;
    return group_->failed();
  }

  // The block's file, opening a sealed block on demand.
  Result<File*> BlockFile(Block& b) {
    if (b.file) return {{}, b.file.get()};
    auto f = env_->OpenExisting(b.path);
    if (!f.ok()) return {f.status, nullptr};
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

  Block* FindBlock(uint32_t id) {
    auto it = blocks_.find(id);
    return it == blocks_.end() ? nullptr : &it->second;
  }

  static void NoteTombstone(Block& b, uint64_t seq) {
    if (b.first_msg == 0 || seq < b.first_msg) b.cross_tombstones = true;
  }

  void AppendRecord(RecordType type, uint64_t seq, int64_t ts, std::string_view subject,
                    std::string_view hdr, std::string_view data) {
    size_t before = buf_.size();
    EncodeRecord(&buf_, type, seq, ts, subject, hdr, data);
    active_->size += buf_.size() - before;
  }

  void EraseRecord(uint64_t seq, const FileBody& fb) {
    Block* b = FindBlock(fb.block);
    if (b == nullptr) return;
    DropReadAhead();
    if (b == active_ && fb.offset >= written_) {
      EncodeErased(buf_.data() + (fb.offset - written_), fb.len, seq);
      return;
    }
    std::string rec(fb.len, '\0');
    EncodeErased(rec.data(), fb.len, seq);
    auto f = BlockFile(*b);
    Status s = f.ok() ? f.value->Write(fb.offset, rec) : f.status;
    if (!s.ok()) {
      log::Error("store: {}: erasing sequence {}: {}", b->path, seq, s.msg);
      if (first_error_.ok()) first_error_ = s;
    }
  }

  // Writes the buffer to the active block (the "written" watermark). On
  // failure the file is cut back to a record boundary and the index is
  // reloaded from disk, so everything not written — messages and removals
  // alike — is gone, as their Sync reports.
  Status Flush() {
    if (first_seq() > persisted_first_) {
      AppendRecord(RecordType::kFloor, first_seq(), 0, {}, {}, {});
      active_->has_floor = true;
      persisted_first_ = first_seq();
    }
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
    RemoveEmptyBlocks();
    return {};
  }

  Status WriteBuffer() {
    if (buf_.empty()) return {};
    Status s = active_->file->Append(buf_);
    if (!s.ok()) {
      DropReadAhead();
      if (Status t = active_->file->Truncate(written_); !t.ok()) {
        log::Error("store: {}: truncating after failed write: {}", active_->path, t.msg);
      }
      return s;
    }
    written_ += buf_.size();
    buf_.clear();
    if (buf_.capacity() > 4 * kFlushThreshold) buf_.shrink_to_fit();
    if (opts_.sync == SyncMode::kInterval) group_->NoteWritten(active_->file);
    return {};
  }

  // Rebuilds the index from the block files alone.
  Status Reload() {
    DropReadAhead();
    ClearIndex();
    active_ = nullptr;
    blocks_.clear();
    open_sealed_.clear();
    buf_.clear();
    written_ = 0;
    return LoadBlocks();
  }

  Status Roll() {
    if (Status s = Flush(); !s.ok()) return s;
    if (Status s = active_->file->Sync(); !s.ok()) {
      // As in GroupCommit: after a failed fsync nothing may be called durable.
      log::Error("store: {}: fdatasync failed, refusing writes: {}", active_->path, s.msg);
      fatal_ = s;
      return s;
    }
    WriteBlockIndex(*active_);
    Block* sealed = active_;
    if (Status s = NewBlock(active_->id + 1); !s.ok()) return s;
    sealed->file.reset();
    return {};
  }

  Status NewBlock(uint32_t id) {
    std::string path = JoinPath(msgs_dir_, BlockFileName(id, "blk"));
    auto f = env_->Open(path);
    if (!f.ok()) return f.status;
    if (Status s = env_->SyncDir(msgs_dir_); !s.ok()) {
      f.value.reset();
      env_->RemoveFile(path);
      return s;
    }
    Block& b = blocks_[id];
    b.id = id;
    b.path = path;
    b.file = std::move(f.value);
    active_ = &b;
    written_ = 0;
    AppendRecord(RecordType::kBlockStart, last_seq(), 0, {}, {}, {});
    return {};
  }

  // Removes block files none of whose records matter any more.
  void RemoveEmptyBlocks() {
    bool older = false;
    for (auto it = blocks_.begin(); it != blocks_.end();) {
      Block& b = it->second;
      if (&b != active_ && b.live == 0 && (!older || (!b.cross_tombstones && !b.has_floor))) {
        b.file.reset();
        if (Status s = env_->RemoveFile(b.path); !s.ok()) {
          log::Warn("store: removing empty block: {}", s.msg);
        }
        std::string idx = JoinPath(msgs_dir_, BlockFileName(b.id, "idx"));
        if (env_->Exists(idx)) env_->RemoveFile(idx);
        if (ra_block_ == b.id) DropReadAhead();
        it = blocks_.erase(it);
        continue;
      }
      older = true;
      ++it;
    }
  }

  // Applies one recovered record (from a scan or an index file).
  void Apply(Block& b, const IndexEvent& e, std::string_view subject) {
    bool far = msgs() > 0 && e.seq > last_seq() + kMaxReplayGap;
    if (far && e.type != RecordType::kFloor) {
      log::Error("store: {}: sequence {} far beyond {}, record ignored", b.path, e.seq, last_seq());
      return;
    }
    switch (e.type) {
      case RecordType::kMsg:
        if (e.seq <= last_seq()) {
          log::Error("store: {}: duplicate sequence {} at offset {} ignored", b.path, e.seq, e.offset);
          return;
        }
        AddSlot(e.seq, subject, e.ts, e.size, FileBody{b.id, e.offset, e.len});
        b.live++;
        if (b.first_msg == 0) b.first_msg = e.seq;
        break;
      case RecordType::kTombstone:
        NoteTombstone(b, e.seq);
        if (const Slot* s = At(e.seq); s != nullptr && s->live()) {
          RemoveSlot(e.seq, false);
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
    }
  }

  static IndexEvent EventOf(uint64_t off, const RecordView& r) {
    IndexEvent e{r.type, r.seq, r.ts};
    if (r.type == RecordType::kMsg) {
      e.offset = static_cast<uint32_t>(off);
      e.len = r.len;
      e.size = static_cast<uint32_t>(NatsFileMsgSize(r.subject, r.hdr, r.data));
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
    ScanResult res = ScanRecords(data, from, [&](uint64_t off, const RecordView& rec) {
      IndexEvent e = EventOf(off, rec);
      if (idx == nullptr) return Apply(b, e, rec.subject);
      if (rec.type == RecordType::kMsg) {
        auto [it, added] = local.emplace(rec.subject, static_cast<uint32_t>(idx->subjects.size()));
        if (added) idx->subjects.emplace_back(rec.subject);
        e.subj = it->second;
      }
      idx->events.push_back(e);
    });
    return {{}, std::move(res)};
  }

  // Best effort: the index is derived data, so failures only cost a scan.
  void WriteBlockIndex(Block& b) {
    BlockIndex idx;
    auto res = ScanBlock(b, 0, &idx);
    if (!res.ok()) return;
    idx.covered = res.value.valid_end;
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
  }

  Status RecoverBlock(Block& b, bool last);
  Status LoadBlocks();

  Env* env_;
  FileStoreOptions opts_;
  std::string msgs_dir_;
  std::map<uint32_t, Block> blocks_;
  std::deque<uint32_t> open_sealed_;  // sealed blocks opened on demand, oldest first
  Block* active_ = nullptr;
  std::string buf_;        // records appended but not yet written
  uint64_t written_ = 0;   // active block offset where buf_ starts
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
  Status write_error_;   // the last write failed (appends probe until one works)
  Status fatal_;  // an fsync failed or the index could not be rebuilt
  Status first_error_;  // a failed in-place erase, reported by the next Sync
  std::unique_ptr<GroupCommit> group_;
};

Status FileStore::RecoverBlock(Block& b, bool last) {
  uint64_t from = 0;
  std::string idx_path = JoinPath(msgs_dir_, BlockFileName(b.id, "idx"));
  if (env_->Exists(idx_path)) {
    BlockIndex idx;
    auto raw = ReadFileToString(env_, idx_path);
    if (raw.ok() && DecodeBlockIndex(raw.value, &idx) && idx.covered <= b.size) {
      std::vector<std::string_view> names(idx.subjects.begin(), idx.subjects.end());
      for (const auto& e : idx.events) {
        Apply(b, e, e.type == RecordType::kMsg ? names[e.subj] : std::string_view());
      }
      from = idx.covered;
    } else {
      log::Warn("store: {}: index unusable, scanning the block", idx_path);
    }
  }
  if (from >= b.size) return {};
  auto res = ScanBlock(b, from, nullptr);
  if (!res.ok()) return res.status;
  for (const auto& [begin, end] : res.value.corrupt) {
    log::Error("store: {}: corrupt bytes at offset {}..{} skipped; records after them kept", b.path,
               begin, end);
  }
  if (res.value.tail_garbage) {
    uint64_t cut = res.value.valid_end;
    if (last) {
      log::Warn("store: {}: torn record at offset {}, truncating {} bytes", b.path, cut, b.size - cut);
      if (Status s = b.file->Truncate(cut); !s.ok()) return s;
      if (Status s = b.file->Sync(); !s.ok()) return s;
      b.size = cut;
    } else {
      log::Error("store: {}: unreadable bytes at offset {}..{} kept as they are", b.path, cut, b.size);
    }
  }
  return {};
}

Status FileStore::Recover() {
  if (Status s = CreateDirsDurably(env_, msgs_dir_); !s.ok()) return s;
  if (Status s = LoadBlocks(); !s.ok()) return s;
  RemoveEmptyBlocks();
  group_ = std::make_unique<GroupCommit>(opts_.sync, opts_.sync_interval_ns);
  return {};
}

Status FileStore::LoadBlocks() {
  auto names = env_->ListDir(msgs_dir_);
  if (!names.ok()) return names.status;
  std::vector<uint32_t> ids;
  for (const auto& n : names.value) {
    uint32_t id;
    if (ParseBlockName(n, "blk", &id)) {
      ids.push_back(id);
    } else if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) {
      env_->RemoveFile(JoinPath(msgs_dir_, n));
    }
  }
  std::sort(ids.begin(), ids.end());
  replaying_ = true;
  for (size_t i = 0; i < ids.size(); ++i) {
    Block& b = blocks_[ids[i]];
    b.id = ids[i];
    b.path = JoinPath(msgs_dir_, BlockFileName(b.id, "blk"));
    auto f = env_->OpenExisting(b.path);
    if (!f.ok()) return f.status;
    b.file = std::move(f.value);
    auto size = b.file->Size();
    if (!size.ok()) return size.status;
    b.size = size.value;
    if (Status s = RecoverBlock(b, i + 1 == ids.size()); !s.ok()) return s;
    if (i + 1 < ids.size()) b.file.reset();
  }
  replaying_ = false;
  // Index files whose block is gone are stale.
  for (const auto& n : names.value) {
    uint32_t id;
    if (ParseBlockName(n, "idx", &id) && !blocks_.count(id)) env_->RemoveFile(JoinPath(msgs_dir_, n));
  }
  if (blocks_.empty() || blocks_.rbegin()->second.size >= opts_.block_size) {
    uint32_t id = blocks_.empty() ? 1 : blocks_.rbegin()->first + 1;
    if (Status s = NewBlock(id); !s.ok()) return s;
  } else {
    active_ = &blocks_.rbegin()->second;
    written_ = active_->size;
  }
  persisted_first_ = first_seq();
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
