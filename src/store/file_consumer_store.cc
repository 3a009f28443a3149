// FileConsumerStore: consumer state as an append-only log of small records
// plus a snapshot the log is compacted into (docs/storage-format.md).
//
//   config.json        the consumer config, replaced durably
//   state.snap         magic, u64 generation, encoded ConsumerState, xxh64
//   state.<gen>.log    records since that snapshot
//   state.synced       how far that log is known fsynced (SyncedMark, id =
//                      the generation): damage below it is kept and
//                      reported, never cut as a torn write
#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <xxhash.h>

#include "base/log.h"
#include "store/coding.h"
#include "store/consumer_state.h"
#include "store/env.h"
#include "store/group_commit.h"
#include "store/synced_mark.h"

namespace fjord::store {
namespace {

constexpr uint32_t kSnapMagicV1 = 0x53434a46;  // "FJCS": pending entries without `due`
constexpr uint32_t kSnapMagic = 0x32434a46;    // "FJC2"
constexpr uint32_t kLogDelivered = 1;
constexpr uint32_t kLogAck = 2;
constexpr uint32_t kLogDue = 3;
// Compact once the log outgrows both this and twice the last snapshot.
constexpr uint64_t kCompactMin = 1 << 20;
// Records are written into space zeroed ahead of them, so that a write
// neither grows the file nor allocates blocks: ext4 then needs no journal
// handle for it, and it does not stall behind the fsync of an earlier one
// (appending did, for up to 30 ms, on this machine). The space grows with the
// log, from a page (an idle consumer) to 1 MiB.
constexpr uint64_t kZeroAheadMin = 4096;
constexpr uint64_t kZeroAheadMax = 1 << 20;
constexpr size_t kLogHeader = 8;  // u32 len, u32 type

constexpr char kMarkName[] = "state.synced";

std::string LogName(uint64_t gen) { return fmt::format("state.{}.log", gen); }

bool ParseLogName(std::string_view n, uint64_t* gen) {
  if (n.size() < 11 || n.substr(0, 6) != "state." || n.substr(n.size() - 4) != ".log") return false;
  auto r = std::from_chars(n.data() + 6, n.data() + n.size() - 4, *gen);
  return r.ec == std::errc() && r.ptr == n.data() + n.size() - 4;
}

void EncodeLogRecord(std::string* out, uint32_t type, std::initializer_list<uint64_t> fields) {
  size_t start = out->size();
  PutU32(out, static_cast<uint32_t>(kLogHeader + fields.size() * 8 + 8));
  PutU32(out, type);
  for (uint64_t f : fields) PutU64(out, f);
  PutU64(out, XXH64(out->data() + start, out->size() - start, 0));
}

// Decodes one log record at the start of `in`; returns its length or 0.
size_t DecodeLogRecord(std::string_view in, uint32_t* type, uint64_t f[4]) {
  if (in.size() < kLogHeader + 8) return 0;
  uint32_t len = DecodeU32(in.data());
  *type = DecodeU32(in.data() + 4);
  size_t nf = *type == kLogDelivered ? 4 : (*type == kLogAck || *type == kLogDue) ? 2 : 0;
  if (nf == 0 || len != kLogHeader + nf * 8 + 8 || len > in.size()) return 0;
  if (XXH64(in.data(), len - 8, 0) != DecodeU64(in.data() + len - 8)) return 0;
  for (size_t i = 0; i < nf; ++i) f[i] = DecodeU64(in.data() + kLogHeader + i * 8);
  return len;
}

class FileConsumerStore final : public ConsumerStore {
 public:
  FileConsumerStore(Env* env, std::string dir, std::shared_ptr<GroupCommit> group)
      : env_(env),
        dir_(std::move(dir)),
        sync_(group->mode()),
        mark_(std::make_shared<SyncedMark>(env_, JoinPath(dir_, kMarkName), /*keep_open=*/false)),
        group_(std::move(group)) {}
  ~FileConsumerStore() override { Close(); }

  Status Open();

  Status SetConfig(std::string_view json) override {
    if (closed_) return Closed();
    return WriteFileDurably(env_, JoinPath(dir_, "config.json"), json);
  }

  Result<std::string> Config() override {
    if (closed_) return {Closed(), {}};
    return ReadFileToString(env_, JoinPath(dir_, "config.json"));
  }

  Status UpdateDelivered(uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts) override {
    if (Status s = Writable(); !s.ok()) return s;
    ApplyDelivered(state_, dseq, sseq, dc, ts);
    EncodeLogRecord(&buf_, kLogDelivered, {dseq, sseq, dc, static_cast<uint64_t>(ts)});
    return AfterChange();
  }

  Status UpdateAcks(uint64_t dseq, uint64_t sseq) override {
    if (Status s = Writable(); !s.ok()) return s;
    ApplyAck(state_, dseq, sseq);
    EncodeLogRecord(&buf_, kLogAck, {dseq, sseq});
    return AfterChange();
  }

  Status UpdateDue(uint64_t sseq, int64_t due) override {
    if (Status s = Writable(); !s.ok()) return s;
    ApplyDue(state_, sseq, due);
    EncodeLogRecord(&buf_, kLogDue, {sseq, static_cast<uint64_t>(due)});
    return AfterChange();
  }

  Status Reset(const ConsumerState& state) override {
    if (Status s = Writable(); !s.ok()) return s;
    state_ = state;
    return Compact();
  }

  ConsumerState State() const override { return state_; }

  Status Flush() override {
    if (closed_) return Closed();
    Status s = Write();
    if (s.ok()) s = group_->failed();
    if (!s.ok()) return s;
    // kInterval files are noted by Write(). kAlways: an fsync nobody waits
    // for, within GroupCommit::kNoteDelay, shared with what else is synced.
    if (sync_ == SyncMode::kAlways && unsynced_) {
      unsynced_ = false;
      group_->NoteWritten(log_);
    }
    return {};
  }

  void Sync(std::function<void(Status)> done) override {
    if (closed_) return done(Closed());
    Status s = Write();
    if (s.ok()) s = group_->failed();
    if (!s.ok()) return done(s);
    if (sync_ == SyncMode::kAlways) {
      // Also when nothing is new: an fsync submitted by Flush may still run,
      // and this waiter completes only after a later one.
      unsynced_ = false;
      // What a confirmed ack waits for: once fsynced, recovery must not
      // take a bad record up to here for a torn write.
      group_->Submit(log_, std::move(done), [mark = mark_, id = gen_, end = log_size_] { mark->Note(id, end); });
    } else {
      done({});
    }
  }

  Status Close() override {
    if (closed_) return {};
    closed_ = true;
    if (!log_) return {};  // Open() failed
    // The group is shared: fsync this store's log here instead of stopping it.
    Status s = Write();
    if (s.ok()) s = group_->failed();
    if (s.ok()) s = log_->Sync();
    if (s.ok()) mark_->Note(gen_, log_size_);
    log_.reset();
    return s;
  }

  Status Delete() override {
    log_.reset();
    closed_ = true;
    return RemoveDirDurably(env_, dir_);
  }

 private:
  static Status Closed() { return {Errc::kClosed, "consumer store closed"}; }

  Status Writable() {
    if (closed_) return Closed();
    if (Status s = group_->failed(); !s.ok()) return s;
    if (!write_error_.ok()) return Write();
    return {};
  }

  Status AfterChange() {
    if (log_size_ + buf_.size() > std::max(kCompactMin, 2 * snap_size_)) return Compact();
    return {};
  }

  // Hands buf_ to the OS (write), nothing more.
  Status Write() {
    if (buf_.empty()) return {};
    uint64_t zero_to = 0;
    if (log_size_ + buf_.size() > zeroed_end_) {
      uint64_t ahead = std::clamp<uint64_t>(log_size_, kZeroAheadMin, kZeroAheadMax);
      zero_to = (log_size_ + buf_.size() + ahead + kZeroAheadMin - 1) / kZeroAheadMin * kZeroAheadMin;
    }
    Status s = WriteIntoZeros(log_.get(), &zeroed_end_, log_size_, buf_, zero_to);
    if (!s.ok()) {
      if (Status t = log_->Truncate(log_size_); !t.ok()) {
        log::Error("store: {}: truncating after failed write: {}", dir_, t.msg);
      }
      zeroed_end_ = log_size_;
      write_error_ = s;
      return s;
    }
    log_size_ += buf_.size();
    buf_.clear();
    write_error_ = {};
    unsynced_ = true;
    if (sync_ == SyncMode::kInterval) group_->NoteWritten(log_);
    return {};
  }

  // Writes the whole state as a snapshot of the next generation and starts
  // an empty log for it; the old log is then obsolete.
  Status Compact() {
    uint64_t gen = gen_ + 1;
    std::string log_path = JoinPath(dir_, LogName(gen));
    auto f = env_->Open(log_path);
    if (!f.ok()) return f.status;
    if (Status s = f.value->Truncate(0); !s.ok()) return s;
    if (Status s = env_->SyncDir(dir_); !s.ok()) return s;
    std::string snap;
    PutU32(&snap, kSnapMagic);
    PutU64(&snap, gen);
    EncodeConsumerState(state_, &snap);
    PutU64(&snap, XXH64(snap.data(), snap.size(), 0));
    if (Status s = WriteFileDurably(env_, JoinPath(dir_, "state.snap"), snap); !s.ok()) {
      f.value.reset();
      env_->RemoveFile(log_path);
      return s;
    }
    // Everything buffered or written to the old log is in the snapshot,
    // which is durable already.
    buf_.clear();
    write_error_ = {};
    unsynced_ = false;
    env_->RemoveFile(JoinPath(dir_, LogName(gen_)));
    gen_ = gen;
    log_ = std::move(f.value);
    log_size_ = 0;
    zeroed_end_ = 0;
    snap_size_ = snap.size();
    return {};
  }

  Status Replay(const std::string& path) {
    auto f = env_->OpenExisting(path);
    if (!f.ok()) return f.status;
    auto size = f.value->Size();
    if (!size.ok()) return size.status;
    std::string data(size.value, '\0');
    auto r = f.value->Read(0, data.size(), data.data());
    if (!r.ok()) return r.status;
    data.resize(r.value);
    size_t off = 0, valid_end = 0;
    uint32_t type;
    uint64_t fl[4];
    while (off < data.size()) {
      size_t n = DecodeLogRecord(std::string_view(data).substr(off), &type, fl);
      if (n == 0 && data.find_first_not_of('\0', off) == std::string::npos) {
        break;  // the space zeroed ahead: the log ends here
      }
      if (n == 0) {
        size_t next = off + 1;
        while (next < data.size() && DecodeLogRecord(std::string_view(data).substr(next), &type, fl) == 0) {
          ++next;
        }
        if (next >= data.size()) break;
        log::Error("store: {}: corrupt bytes at offset {}..{} skipped", path, off, next);
        off = next;
        continue;
      }
      if (type == kLogDelivered) {
        ApplyDelivered(state_, fl[0], fl[1], fl[2], static_cast<int64_t>(fl[3]));
      } else if (type == kLogAck) {
        ApplyAck(state_, fl[0], fl[1]);
      } else {
        ApplyDue(state_, fl[0], static_cast<int64_t>(fl[1]));
      }
      off += n;
      valid_end = off;
    }
    zeroed_end_ = data.size();
    // Past the last valid record: zeros (space zeroed ahead) or bytes no
    // record. Below what was fsynced before the last stop, that is damage
    // (a confirmed ack may be in it): kept and reported, appends go on
    // after it (a later open skips it as damage in the middle). Above, a
    // write a crash tore, never confirmed: cut.
    auto mark = SyncedMark::Read(env_, JoinPath(dir_, kMarkName));
    uint64_t synced = mark && mark->id == gen_ ? mark->offset : 0;
    uint64_t keep = valid_end;
    if (synced > valid_end) {
      keep = std::min<uint64_t>(synced, data.size());
      std::string damaged = synced > data.size()
                     ? fmt::format("{}: {} bytes, shorter than the {} fsynced before the last stop", path,
                                   data.size(), synced)
                     : fmt::format("{}: damaged records at offset {}..{}, below the {} bytes fsynced before the last "
                                   "stop",
                                   path, valid_end, keep, synced);
      log::Error("store: {}; kept as they are: acks, deliveries or redelivery times recorded there are lost (their "
                 "messages may be delivered again)",
                 damaged);
    }
    if (keep < data.size() && data.find_first_not_of('\0', keep) != std::string::npos) {
      log::Warn("store: {}: torn record at offset {}, truncating {} bytes", path, keep, data.size() - keep);
      if (Status s = f.value->Truncate(keep); !s.ok()) return s;
      if (Status s = f.value->Sync(); !s.ok()) return s;
      zeroed_end_ = keep;
    }
    log_ = std::move(f.value);
    log_size_ = keep;
    return {};
  }

  Env* env_;
  std::string dir_;
  SyncMode sync_;
  ConsumerState state_;
  std::shared_ptr<File> log_;
  uint64_t gen_ = 1;
  std::shared_ptr<SyncedMark> mark_;
  uint64_t log_size_ = 0;   // bytes written to the current log
  uint64_t zeroed_end_ = 0;  // the file's size: zeros from log_size_ on
  uint64_t snap_size_ = 0;
  std::string buf_;
  Status write_error_;  // the last write failed; buf_ is unwritten
  bool unsynced_ = false;  // written since the last fsync was submitted
  bool closed_ = false;
  std::shared_ptr<GroupCommit> group_;
};

Status FileConsumerStore::Open() {
  if (Status s = CreateDirsDurably(env_, dir_); !s.ok()) return s;
  std::string snap_path = JoinPath(dir_, "state.snap");
  if (env_->Exists(snap_path)) {
    auto raw = ReadFileToString(env_, snap_path);
    if (!raw.ok()) return raw.status;
    std::string_view v = raw.value;
    uint32_t magic = v.size() >= 20 ? DecodeU32(v.data()) : 0;
    int version = magic == kSnapMagic ? 2 : magic == kSnapMagicV1 ? 1 : 0;
    if (version == 0 || XXH64(v.data(), v.size() - 8, 0) != DecodeU64(v.data() + v.size() - 8) ||
        !DecodeConsumerState(v.substr(12, v.size() - 20), &state_, version)) {
      log::Error("store: {}: consumer state snapshot is corrupt", snap_path);
      return {Errc::kCorrupt, snap_path + ": corrupt snapshot"};
    }
    gen_ = DecodeU64(v.data() + 4);
    snap_size_ = v.size();
  }
  auto names = env_->ListDir(dir_);
  if (!names.ok()) return names.status;
  for (const auto& n : names.value) {
    uint64_t gen;
    bool stale_log = ParseLogName(n, &gen) && gen != gen_;
    bool tmp = n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0;
    if (stale_log || tmp) env_->RemoveFile(JoinPath(dir_, n));
  }
  std::string log_path = JoinPath(dir_, LogName(gen_));
  if (env_->Exists(log_path)) {
    if (Status s = Replay(log_path); !s.ok()) return s;
  } else {
    auto f = env_->Open(log_path);
    if (!f.ok()) return f.status;
    if (Status s = env_->SyncDir(dir_); !s.ok()) return s;
    log_ = std::move(f.value);
  }
  return {};
}

}  // namespace

std::shared_ptr<GroupCommit> NewConsumerSync(SyncMode sync, int64_t sync_interval_ns) {
  return std::make_shared<GroupCommit>(sync, sync_interval_ns);
}

Result<std::unique_ptr<ConsumerStore>> OpenFileConsumerStore(Env* env, const std::string& dir,
                                                             std::shared_ptr<GroupCommit> sync) {
  auto cs = std::make_unique<FileConsumerStore>(env, dir, std::move(sync));
  if (Status s = cs->Open(); !s.ok()) return {s, nullptr};
  return {{}, std::move(cs)};
}

Result<std::unique_ptr<ConsumerStore>> OpenFileConsumerStore(Env* env, const std::string& dir,
                                                             SyncMode sync) {
  return OpenFileConsumerStore(env, dir, NewConsumerSync(sync, 1'000'000'000));
}

}  // namespace fjord::store
