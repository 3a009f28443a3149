#include "raft/log_store.h"

#include <xxhash.h>

#include <cstring>

#include "base/log.h"
#include "store/coding.h"

namespace fjord::raft {
namespace {

constexpr char kMagic[8] = {'F', 'J', 'R', 'L', 'O', 'G', '1', '\0'};
constexpr size_t kHeaderSize = 16;
constexpr size_t kRecordHead = 4 + 8;              // length, checksum
constexpr size_t kBodyFixed = 8 + 8 + 1 + 8;       // index, term, type, timestamp
constexpr uint32_t kMaxBody = 256u << 20;           // larger is damage, not an entry
// Small records are written into zeros written ahead of them, as the
// store's blocks are (docs/storage-format.md): an fdatasync that changes no
// file size needs no journal commit, and a follower's answer waits for this
// file's. One extending write per kZeroAhead bytes of records. A batch's
// records are written together (WritePending), so "small" is a batch's.
constexpr size_t kZeroAhead = 64 * 1024;
constexpr size_t kSmallWrite = 16 * 1024;

bool AllZero(std::string_view s) {
  return s.find_first_not_of('\0') == std::string_view::npos;
}

nuraft::ptr<nuraft::log_entry> Clone(const nuraft::log_entry& e) {
  auto buf = e.is_buf_null() ? nuraft::buffer::alloc(0) : nuraft::buffer::clone(e.get_buf());
  return nuraft::cs_new<nuraft::log_entry>(e.get_term(), buf, e.get_val_type(), e.get_timestamp(), e.has_crc32(),
                                           e.get_crc32(), false);
}

nuraft::ptr<nuraft::log_entry> Dummy() {
  return nuraft::cs_new<nuraft::log_entry>(0, nuraft::buffer::alloc(sizeof(nuraft::ulong)));
}

std::string Header(uint64_t start) {
  std::string h(kMagic, sizeof(kMagic));
  store::PutU64(&h, start);
  return h;
}

std::string Record(uint64_t index, const nuraft::log_entry& e) {
  size_t n = e.is_buf_null() ? 0 : e.get_buf().size();
  std::string body;
  body.reserve(kBodyFixed + n);
  store::PutU64(&body, index);
  store::PutU64(&body, e.get_term());
  body.push_back(static_cast<char>(e.get_val_type()));
  store::PutU64(&body, e.get_timestamp());
  if (n) body.append(reinterpret_cast<const char*>(e.get_buf().data_begin()), n);
  std::string rec;
  rec.reserve(kRecordHead + body.size());
  store::PutU32(&rec, static_cast<uint32_t>(body.size()));
  store::PutU64(&rec, XXH64(body.data(), body.size(), 0));
  rec += body;
  return rec;
}

}  // namespace

std::shared_ptr<FileLogStore> FileLogStore::Open(store::Env* env, const std::string& dir, std::string* err,
                                                 bool* damaged, bool* lost) {
  std::shared_ptr<FileLogStore> s(new FileLogStore(env, dir));
  if (lost) *lost = false;
  *err = s->Load(lost);
  if (damaged) *damaged = s->damaged_;
  if (!err->empty()) return nullptr;
  return s;
}

std::string FileLogStore::Load(bool* lost) {
  std::string path = store::JoinPath(dir_, "raft.log");
  std::string mark_path = store::JoinPath(dir_, "raft.synced");
  auto mark = store::SyncedMark::Read(env_, mark_path);
  mark_ = std::make_shared<store::SyncedMark>(env_, mark_path);
  if (auto st = store::CreateDirsDurably(env_, dir_); !st.ok()) return st.msg;
  bool fresh = !env_->Exists(path);
  if (fresh) {
    // Created whole, header included, before it is used.
    if (auto st = store::WriteFileDurably(env_, path, Header(1)); !st.ok()) return st.msg;
  }
  auto data = store::ReadFileToString(env_, path);
  if (!data.ok()) return data.status.msg;
  const std::string& d = data.value;
  if (d.size() < kHeaderSize || std::memcmp(d.data(), kMagic, sizeof(kMagic)) != 0)
    return path + ": not a Raft log (bad header)";
  start_ = store::DecodeU64(d.data() + 8);
  if (start_ == 0) return path + ": bad header (first index 0)";
  uint64_t synced = mark && mark->id == start_ ? mark->offset : 0;
  size_t off = kHeaderSize;
  uint64_t expect = start_;
  // Damage at `off`: fails the open, or (a log whose group sends the
  // entries again) is cut from there.
  auto damage = [&](const std::string& why) -> bool {
    if (!lost) {
      damaged_ = true;
      return false;
    }
    log::Error("raft log {}: {}; the log is cut from there, its group sends the entries again", path, why);
    *lost = true;
    return true;
  };
  while (off < d.size()) {
    bool ok = d.size() - off >= kRecordHead;
    uint32_t len = ok ? store::DecodeU32(d.data() + off) : 0;
    ok = ok && len >= kBodyFixed && len <= kMaxBody && d.size() - off - kRecordHead >= len;
    const char* body = d.data() + off + kRecordHead;
    ok = ok && XXH64(body, len, 0) == store::DecodeU64(d.data() + off + 4);
    ok = ok && store::DecodeU64(body) == expect;
    if (!ok && off >= synced && AllZero(std::string_view(d).substr(off))) break;  // zeroed ahead
    if (!ok) {
      // A crash mid-append leaves a cut or partly written last record: cut
      // it if nothing valid follows. Anything valid after it is damage.
      std::string why;
      for (size_t probe = off + 1; probe + kRecordHead + kBodyFixed <= d.size() && why.empty(); probe++) {
        uint32_t l = store::DecodeU32(d.data() + probe);
        if (l < kBodyFixed || l > kMaxBody || d.size() - probe - kRecordHead < l) continue;
        if (XXH64(d.data() + probe + kRecordHead, l, 0) == store::DecodeU64(d.data() + probe + 4))
          why = fmt::format("damaged record at offset {} (entry {}) with valid records after it", off, expect);
      }
      if (why.empty() && off < synced)
        why = fmt::format("damaged record at offset {} (entry {}), below the {} bytes fsynced before the last stop",
                          off, expect, synced);
      if (why.empty()) {
        log::Warn("raft log {}: cut a torn tail at offset {} ({} bytes)", path, off, d.size() - off);
      } else if (!damage(why)) {
        return path + ": " + why;
      }
      break;
    }
    uint64_t term = store::DecodeU64(body + 8);
    auto type = static_cast<nuraft::log_val_type>(static_cast<uint8_t>(body[16]));
    uint64_t ts = store::DecodeU64(body + 17);
    auto buf = nuraft::buffer::alloc(len - kBodyFixed);
    if (len > kBodyFixed) std::memcpy(buf->data_begin(), body + kBodyFixed, len - kBodyFixed);
    entries_.push_back(nuraft::cs_new<nuraft::log_entry>(term, buf, type, ts));
    offsets_.push_back(off);
    off += kRecordHead + len;
    expect++;
  }
  if (off == d.size() && synced > d.size()) {
    std::string why = fmt::format("{} bytes, shorter than the {} bytes fsynced before the last stop", d.size(), synced);
    if (!damage(why)) return path + ": " + why;
  }
  // Cut below the mark: it comes down first (and durably), so that a torn
  // append past the cut is not taken for damage later.
  if (off < synced && !mark_->Lower(start_, off)) return mark_path + ": cannot be written";
  auto f = env_->OpenExisting(path);
  if (!f.ok()) return f.status.msg;
  file_ = std::move(f.value);
  if (off < d.size() && !AllZero(std::string_view(d).substr(off))) {
    if (auto st = file_->Truncate(off); !st.ok()) return st.msg;
    if (auto st = file_->Sync(); !st.ok()) return st.msg;
    zeroed_end_ = off;
  } else {
    zeroed_end_ = d.size();
  }
  end_offset_ = off;
  durable_ = start_ + entries_.size() - 1;
  return {};
}

nuraft::ulong FileLogStore::next_slot() const {
  std::lock_guard lock(mu_);
  return start_ + entries_.size();
}

nuraft::ulong FileLogStore::start_index() const {
  std::lock_guard lock(mu_);
  return start_;
}

nuraft::ptr<nuraft::log_entry> FileLogStore::last_entry() const {
  std::lock_guard lock(mu_);
  if (entries_.empty()) return Dummy();
  return Clone(*entries_.back());
}

void FileLogStore::Fail(const std::string& why) {
  log::Error("raft log {}: {}", dir_, why);
  if (failed_) return;
  failed_ = true;
  if (on_failed_) on_failed_(why);
}

bool FileLogStore::WriteRecord(uint64_t index, const nuraft::log_entry& e) {
  bool taken = false;
  if (!failed_) {
    // Written with the rest of its batch (WritePending): one write call a
    // batch rather than one an entry.
    offsets_.push_back(end_offset_);
    size_t before = pending_.size();
    pending_ += Record(index, e);
    end_offset_ += pending_.size() - before;
    taken = true;
  }
  // Kept in memory even when not written: NuRaft has counted the entry at
  // this index, and a leader asked for the entries after a hole would tell
  // its followers they are out of its log's range (after which they never
  // stand for election). A failed log is never durable again, and its
  // owner opens it from disk (raft::Group::Halted).
  entries_.push_back(Clone(e));
  return taken;
}

bool FileLogStore::WritePending() {
  if (pending_.empty()) return !failed_;
  if (failed_) return false;
  uint64_t at = end_offset_ - pending_.size();
  uint64_t zero_to =
      end_offset_ > zeroed_end_ && pending_.size() <= kSmallWrite ? (end_offset_ + kZeroAhead + 4095) / 4096 * 4096 : 0;
  store::Status st = store::WriteIntoZeros(file_.get(), &zeroed_end_, at, pending_, zero_to);
  pending_.clear();
  if (pending_.capacity() > 4 * kSmallWrite) pending_.shrink_to_fit();
  if (!st.ok()) {
    Fail(st.msg);
    return false;
  }
  return true;
}

bool FileLogStore::Write() {
  std::lock_guard lock(mu_);
  return WritePending();
}

nuraft::ulong FileLogStore::append(nuraft::ptr<nuraft::log_entry>& entry) {
  std::lock_guard lock(mu_);
  uint64_t index = start_ + entries_.size();
  WriteRecord(index, *entry);
  return index;
}

bool FileLogStore::Append(const nuraft::log_entry& entry) {
  std::lock_guard lock(mu_);
  return WriteRecord(start_ + entries_.size(), entry);
}

bool FileLogStore::TruncateFrom(uint64_t index) {
  if (index >= start_ + entries_.size()) return true;
  WritePending();  // a truncation is rare: the file is cut as written
  if (index < start_) index = start_;
  size_t keep = index - start_;
  entries_.resize(keep);
  if (durable_ >= index) durable_ = index - 1;
  truncations_++;
  if (failed_) return false;  // in memory only (WriteRecord)
  uint64_t off = offsets_[keep];
  offsets_.resize(keep);
  end_offset_ = off;
  if (!mark_->Lower(start_, off)) {
    Fail("its synced mark cannot be lowered");
    return false;
  }
  zeroed_end_ = off;
  if (auto st = file_->Truncate(off); !st.ok()) {
    Fail(st.msg);
    return false;
  }
  return true;
}

void FileLogStore::write_at(nuraft::ulong index, nuraft::ptr<nuraft::log_entry>& entry) {
  std::lock_guard lock(mu_);
  if (index < start_ || index > start_ + entries_.size()) {
    // NuRaft overwrites only within the log or right at its end.
    Fail(fmt::format("write at {} outside [{}, {}]", index, start_, start_ + entries_.size()));
    return;
  }
  TruncateFrom(index);
  WriteRecord(index, *entry);
}

bool FileLogStore::SyncLocked() {
  if (!WritePending()) return false;
  if (auto st = file_->Sync(); !st.ok()) {
    Fail(st.msg);
    return false;
  }
  durable_ = start_ + entries_.size() - 1;
  mark_->Note(start_, end_offset_);
  return true;
}

std::optional<FileLogStore::SyncPoint> FileLogStore::PrepareSync() {
  std::lock_guard lock(mu_);
  if (!WritePending()) return std::nullopt;
  return SyncPoint{file_, start_ + entries_.size() - 1, truncations_, start_, end_offset_};
}

bool FileLogStore::Synced(const SyncPoint& point, const store::Status& st) {
  std::lock_guard lock(mu_);
  if (!st.ok()) {
    Fail(st.msg);
    return false;
  }
  // Entries cut and written again meanwhile may not be in this sync.
  if (point.truncations == truncations_ && point.target > durable_) durable_ = point.target;
  // The same file still (not rewritten since), with nothing cut from it.
  if (point.truncations == truncations_ && point.start == start_ && point.file == file_)
    mark_->Note(point.start, point.end);
  return !failed_;
}

bool FileLogStore::Sync() {
  auto point = PrepareSync();
  return point && Synced(*point, point->file->Sync());
}

void FileLogStore::end_of_append_batch(nuraft::ulong, nuraft::ulong) { Sync(); }

bool FileLogStore::flush() { return Sync(); }

nuraft::ulong FileLogStore::last_durable_index() {
  std::lock_guard lock(mu_);
  return durable_;
}

bool FileLogStore::CutFrom(uint64_t index) {
  std::lock_guard lock(mu_);
  return TruncateFrom(index) && SyncLocked();
}

bool FileLogStore::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

nuraft::ptr<std::vector<nuraft::ptr<nuraft::log_entry>>> FileLogStore::log_entries(nuraft::ulong start,
                                                                                    nuraft::ulong end) {
  auto out = nuraft::cs_new<std::vector<nuraft::ptr<nuraft::log_entry>>>();
  std::lock_guard lock(mu_);
  if (start < start_ || end > start_ + entries_.size() || start > end) return nullptr;
  out->reserve(end - start);
  for (uint64_t i = start; i < end; i++) out->push_back(Clone(*entries_[i - start_]));
  return out;
}

nuraft::ptr<nuraft::log_entry> FileLogStore::entry_at(nuraft::ulong index) {
  std::lock_guard lock(mu_);
  if (index < start_ || index >= start_ + entries_.size()) return Dummy();
  return Clone(*entries_[index - start_]);
}

nuraft::ulong FileLogStore::term_at(nuraft::ulong index) {
  std::lock_guard lock(mu_);
  if (index < start_ || index >= start_ + entries_.size()) return 0;
  return entries_[index - start_]->get_term();
}

nuraft::ptr<nuraft::buffer> PackEntries(const std::vector<nuraft::ptr<nuraft::log_entry>>& entries) {
  std::vector<nuraft::ptr<nuraft::buffer>> bufs;
  size_t total = 0;
  for (auto& e : entries) {
    bufs.push_back(e->serialize());
    total += bufs.back()->size();
  }
  auto out = nuraft::buffer::alloc(sizeof(nuraft::int32) * (1 + bufs.size()) + total);
  out->pos(0);
  out->put(static_cast<nuraft::int32>(bufs.size()));
  for (auto& b : bufs) {
    out->put(static_cast<nuraft::int32>(b->size()));
    out->put(*b);
  }
  out->pos(0);
  return out;
}

std::vector<nuraft::ptr<nuraft::log_entry>> UnpackEntries(nuraft::buffer& pack) {
  pack.pos(0);
  nuraft::int32 n = pack.get_int();
  std::vector<nuraft::ptr<nuraft::log_entry>> out;
  for (nuraft::int32 i = 0; i < n; i++) {
    nuraft::int32 size = pack.get_int();
    auto b = nuraft::buffer::alloc(size);
    pack.get(b);
    out.push_back(nuraft::log_entry::deserialize(*b));
  }
  return out;
}

nuraft::ptr<nuraft::buffer> FileLogStore::pack(nuraft::ulong index, nuraft::int32 cnt) {
  std::vector<nuraft::ptr<nuraft::log_entry>> entries;
  {
    std::lock_guard lock(mu_);
    for (uint64_t i = index; i < index + cnt && i >= start_ && i < start_ + entries_.size(); i++)
      entries.push_back(entries_[i - start_]);
  }
  return PackEntries(entries);
}

void FileLogStore::apply_pack(nuraft::ulong index, nuraft::buffer& pack) {
  auto entries = UnpackEntries(pack);
  std::lock_guard lock(mu_);
  if (index < start_ || index > start_ + entries_.size()) {
    // The pack starts past our log (or before it): it replaces the log.
    entries_.clear();
    offsets_.clear();
    start_ = index;
    if (!Rewrite()) return;
  } else {
    TruncateFrom(index);
  }
  // Into memory even once writing fails (WriteRecord).
  for (size_t i = 0; i < entries.size(); i++) WriteRecord(index + i, *entries[i]);
  SyncLocked();
}

bool FileLogStore::compact(nuraft::ulong last_log_index) {
  std::lock_guard lock(mu_);
  if (last_log_index < start_) return true;
  uint64_t end = start_ + entries_.size();
  if (last_log_index + 1 >= end) {
    entries_.clear();
    offsets_.clear();
  } else {
    size_t drop = last_log_index + 1 - start_;
    entries_.erase(entries_.begin(), entries_.begin() + drop);
  }
  start_ = last_log_index + 1;
  return Rewrite();
}

bool FileLogStore::Rewrite() {
  pending_.clear();  // their entries are written from entries_ below
  if (failed_) return false;
  std::string data = Header(start_);
  offsets_.clear();
  for (size_t i = 0; i < entries_.size(); i++) {
    offsets_.push_back(data.size());
    data += Record(start_ + i, *entries_[i]);
  }
  std::string path = store::JoinPath(dir_, "raft.log");
  // The open file is replaced: close it first, reopen the new one.
  file_.reset();
  auto st = store::WriteFileDurably(env_, path, data);
  auto f = env_->OpenExisting(path);
  if (!st.ok() || !f.ok()) {
    Fail(st.ok() ? f.status.msg : st.msg);
    return false;
  }
  file_ = std::move(f.value);
  end_offset_ = data.size();
  zeroed_end_ = end_offset_;
  durable_ = start_ + entries_.size() - 1;
  // A new file: its mark starts at its whole (durable) size.
  if (!mark_->Lower(start_, end_offset_)) {
    Fail("its synced mark cannot be written");
    return false;
  }
  return true;
}

}  // namespace fjord::raft
