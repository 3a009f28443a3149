#pragma once
// The storage contract for JetStream streams and consumers.
//
// One interface, two implementations (MemStore, FileStore), one conformance
// suite run over both. A store is owned by one thread (the stream's shard):
// none of its methods may be called concurrently, except that the callback
// passed to Sync() may run on a store-internal thread.
//
// Durability rule: a record is *appended* when Append() returns, *written*
// once write() has returned for it, *synced* once fdatasync() has returned.
// Sync(done) calls done once everything appended before the call is durable
// under the store's SyncMode: kAlways -> synced (group commit: all Sync calls
// that arrive while an fsync runs share the next one); kInterval -> written
// (an fsync also runs every `sync_interval`). The JetStream layer acks a
// publish only from inside `done`.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fjord::store {

enum class Errc {
  kOk = 0,
  kNotFound,      // no message with that sequence / subject
  kDeleted,       // the sequence existed but was removed
  kNoSpace,       // ENOSPC / EDQUOT: nothing was stored, retry later
  kIo,            // other I/O error
  kCorrupt,       // checksum mismatch or malformed record found
  kInvalid,       // bad argument
  kClosed,        // store was stopped or deleted
};

struct Status {
  Errc code = Errc::kOk;
  std::string msg;
  bool ok() const { return code == Errc::kOk; }
  static Status Ok() { return {}; }
};

// A load failed although the store holds the message: it cannot be read
// now (its record is damaged, or an I/O error), as opposed to its being
// gone (kNotFound, kDeleted).
inline bool Unreadable(const Status& s) { return s.code == Errc::kCorrupt || s.code == Errc::kIo; }

template <typename T>
struct Result {
  Status status;
  T value{};
  bool ok() const { return status.ok(); }
};

struct StoredMsg {
  uint64_t seq = 0;
  int64_t ts = 0;  // unix nanoseconds, assigned by the caller
  std::string subject;
  std::string hdr;  // raw NATS header block ("NATS/1.0\r\n..."), may be empty
  std::string data;
};

// A message as Store::Scan passes it: views into the store's read buffer,
// valid only during the callback.
struct MsgView {
  uint64_t seq = 0;
  int64_t ts = 0;
  std::string_view subject, hdr, data;
};

struct StreamState {
  uint64_t msgs = 0;
  uint64_t bytes = 0;  // as nats-server counts them: subject+hdr+data+overhead
  uint64_t first_seq = 0;  // when empty: last_seq + 1
  int64_t first_ts = 0;
  uint64_t last_seq = 0;
  int64_t last_ts = 0;
  uint64_t num_deleted = 0;  // interior gaps between first_seq and last_seq
  uint64_t num_subjects = 0;
};

// Limits the store enforces by removing the oldest messages (discard old).
// Discard-new is the stream's decision, made before Append().
// Zero or negative means unlimited.
struct Limits {
  int64_t max_msgs = -1;
  int64_t max_bytes = -1;
  int64_t max_age_ns = 0;
  int64_t max_msgs_per_subject = -1;
};

enum class SyncMode { kAlways, kInterval };

struct SubjectInfo {
  uint64_t first = 0;  // first sequence stored on that subject
  uint64_t last = 0;   // last sequence stored on that subject
  uint64_t count = 0;
};

// A message's place in its replicated stream's Raft log
// (raft::StreamLog), kept in its record so that the message and its place
// in the log are made durable by the one sync.
struct LogPos {
  uint64_t index = 0;  // 0: none
  uint64_t term = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Appends at last_seq+1, then applies the limits (dropping oldest messages).
  virtual Result<uint64_t> Append(std::string_view subject, std::string_view hdr,
                                  std::string_view data, int64_t ts) = 0;
  // Consumes the next sequence (last_seq+1) without storing a message, as
  // interest retention does when no consumer wants it; the gap survives
  // restart. Returns that sequence.
  virtual Result<uint64_t> SkipMsg() = 0;
  // Append, keeping `pos` with the message for LogPosOf. A store that keeps
  // no positions (memory) just appends.
  virtual Result<uint64_t> AppendLogged(std::string_view subject, std::string_view hdr, std::string_view data,
                                        int64_t ts, LogPos pos) {
    (void)pos;
    return Append(subject, hdr, data, ts);
  }
  // Sync on the calling thread, for a caller that waits for it anyway (a
  // replica's follower): the store's part (under whatever lock guards the
  // store) returns the fsync to run, without that lock, and its outcome;
  // nullopt when the store syncs only on its own thread (then Sync).
  virtual std::optional<std::function<Status()>> PrepareSyncHere() { return std::nullopt; }
  // Whether AppendLogged keeps positions.
  virtual bool KeepsLogPos() const { return false; }
  // The position message `seq` was appended with; nullopt when it has
  // none, or is not there (removed, never stored, unreadable).
  virtual std::optional<LogPos> LogPosOf(uint64_t seq) {
    (void)seq;
    return std::nullopt;
  }
  // See the durability rule above. `done` gets the first error if any write
  // or sync since the last call failed (then nothing since is acknowledged).
  virtual void Sync(std::function<void(Status)> done) = 0;

  // kNotFound / kDeleted: no such message (any more). kCorrupt (its
  // record fails its checksum) or kIo: the store holds the message but
  // cannot read it now; the Load* calls then name it in value.seq.
  virtual Result<StoredMsg> Load(uint64_t seq) = 0;
  // Last message whose subject matches `filter` (wildcards allowed).
  virtual Result<StoredMsg> LoadLast(std::string_view filter) = 0;
  // First message with seq >= start whose subject matches `filter`
  // ("" or ">" means all).
  virtual Result<StoredMsg> LoadNext(std::string_view filter, uint64_t start) = 0;
  // Writes message `m.seq`, whose record was found damaged, again from a
  // good copy (another replica's), in place and durably before returning.
  // kInvalid when the copy cannot be the same message (it would not encode
  // to the damaged record's length) or the store cannot rewrite it (a
  // compressed block, a memory store); ok when the record reads fine.
  virtual Status Repair(const StoredMsg& m) {
    (void)m;
    return {Errc::kInvalid, "this store cannot repair a record"};
  }

  // Records this store had fsynced (and so may have acknowledged), found
  // damaged or missing at the end of its log when it opened: no later
  // record tells what they held, so they are not in the store. It keeps
  // their bytes and reports them once here, rather than taking them for a
  // write torn by a crash and cutting them as if they never existed.
  // `last_named` is the highest sequence their headers name (they may be
  // damaged too; 0 if none reads): a store without another copy skips to
  // it, so that no sequence is used twice. A replica must rather not vote
  // until its group has sent them again.
  struct TailLoss {
    std::string why;
    uint64_t last_named = 0;
  };
  virtual std::optional<TailLoss> LostAtOpen() const { return std::nullopt; }

  // Calls `fn` for every stored message with start <= seq <= end, in
  // sequence order, until it returns false. Reads in large sequential
  // chunks (one read per ~1 MiB of records, not one per message), so a
  // caller walking many messages pays for the bytes, not for a read call
  // each. `fn` must not call into the store. A read error stops the scan
  // and is returned; a record failing its checksum is skipped (as Load
  // would fail for it alone) and reported as kCorrupt once the scan ends.
  virtual Status Scan(uint64_t start, uint64_t end,
                      const std::function<bool(const MsgView&)>& fn) = 0;
  // Background scrub: reads back and checks the stored messages from
  // `start` on, about `max_bytes` of them, as Load would; the sequences
  // whose records fail their checksum go to *damaged (each also logged).
  // Returns where the next call goes on, past last_seq once every message
  // was checked; a read error (kIo) or a closed store as the status. A
  // store with nothing on disk to check (memory) is done at once.
  virtual Result<uint64_t> Verify(uint64_t start, uint64_t max_bytes, std::vector<uint64_t>* damaged) {
    (void)start, (void)max_bytes, (void)damaged;
    return {{}, State().last_seq + 1};
  }
  // Scan of only the messages that have headers; the file store passes the
  // others without reading them (a restart rebuilding msg ids).
  virtual Status ScanWithHeaders(uint64_t start, uint64_t end,
                                 const std::function<bool(const MsgView&)>& fn) {
    return Scan(start, end, [&](const MsgView& m) { return m.hdr.empty() || fn(m); });
  }
  // The sequence just after the newest message whose timestamp is below
  // `ts` (the first sequence if none is): where the window [ts, now) starts
  // when timestamps only grow. Walks back from the newest message over the
  // window only.
  virtual uint64_t FirstSeqSince(int64_t ts) const = 0;

  // Removes one message; `erase` overwrites its bytes on disk too.
  virtual Status Remove(uint64_t seq, bool erase) = 0;
  // Purge: subject filter ("" = all), up to (not including) seq `upto` if
  // nonzero, or keep the newest `keep` if nonzero. Returns messages purged.
  virtual Result<uint64_t> Purge(std::string_view filter, uint64_t upto, uint64_t keep) = 0;
  // Removes messages older than now - max_age; returns how many.
  virtual uint64_t ExpireOld(int64_t now_ns) = 0;
  // Drops every message (and skipped sequence) above `seq` and moves the
  // last sequence back to `seq`, so the next Append gets seq+1: a
  // replicated stream's follower cutting the tentative tail a new leader
  // replaced. Durable before it returns (after a crash the cut messages
  // never come back); a no-op when seq >= last_seq. Cutting below the
  // first sequence leaves the store empty with first_seq = seq+1. Messages
  // at or below `seq` stay as they are (removed ones stay removed);
  // last_ts becomes the newest remaining message's timestamp, 0 if none.
  virtual Status Truncate(uint64_t seq) = 0;

  virtual void SetLimits(const Limits& limits) = 0;
  // Whether blocks sealed from now on are compressed (a stream's
  // `compression`). Blocks already written stay as they are. The memory
  // store ignores it, as nats-server's does.
  virtual void SetCompression(bool on) = 0;
  // The bytes this store counts for such a message in StreamState::bytes
  // (nats-server's accounting, which differs between file and memory), so
  // discard-new can check max_bytes before appending.
  virtual uint64_t MsgBytes(std::string_view subject, std::string_view hdr,
                            std::string_view data) const = 0;
  virtual StreamState State() const = 0;
  // Per-subject index: counts for every subject matching `filter`.
  virtual std::map<std::string, SubjectInfo> Subjects(std::string_view filter) const = 0;
  // Number of messages with seq >= start matching `filter`, answered from
  // the per-subject index (never a scan of every record when filter is
  // literal or when the index is small).
  virtual uint64_t NumPending(std::string_view filter, uint64_t start) const = 0;

  // Stream metadata (its config as JSON), stored next to the messages and
  // made durable before returning.
  virtual Status WriteMeta(std::string_view json) = 0;

  // Deletes everything on disk (durably) and closes the store.
  virtual Status Delete() = 0;
  // Clean shutdown: flush, sync, write index snapshots.
  virtual Status Close() = 0;
};

// Consumer state, kept as an append log of changes plus periodic snapshots.
struct ConsumerState {
  uint64_t delivered_consumer = 0;  // last consumer sequence delivered
  uint64_t delivered_stream = 0;    // stream sequence of that delivery
  uint64_t ack_floor_consumer = 0;
  uint64_t ack_floor_stream = 0;
  struct Pending {
    uint64_t consumer_seq = 0;
    int64_t ts = 0;   // last delivery time, unix ns
    int64_t due = 0;  // redelivery due (unix ns) as a NAK or +WPI set it; 0 = ts + ack wait
  };
  std::map<uint64_t, Pending> pending;        // by stream seq
  std::map<uint64_t, uint64_t> redelivered;   // stream seq -> delivery count (>1 only)
};

class ConsumerStore {
 public:
  virtual ~ConsumerStore() = default;
  virtual Status SetConfig(std::string_view json) = 0;  // durable before return
  virtual Result<std::string> Config() = 0;
  // A delivery of stream seq `sseq` as consumer seq `dseq`, `dc`-th time.
  virtual Status UpdateDelivered(uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts) = 0;
  // An ack of (dseq, sseq); ack-all semantics are the caller's.
  virtual Status UpdateAcks(uint64_t dseq, uint64_t sseq) = 0;
  // The redelivery of pending stream seq `sseq` is due at `due` (unix ns):
  // a NAK (now, or after its delay) or a +WPI (a new ack wait) moved it.
  virtual Status UpdateDue(uint64_t sseq, int64_t due) = 0;
  // Replace the whole state (used for ack-all, purge, and compaction).
  virtual Status Reset(const ConsumerState& state) = 0;
  virtual ConsumerState State() const = 0;
  // Consumer state is told state: the JetStream layer calls Flush at the end
  // of every batch that changed it. Flush hands every change so far to the
  // operating system (so kill -9 of the process loses none) and queues it
  // for the next group commit (kAlways: fsynced within milliseconds) or the
  // next interval fsync (kInterval). Nobody waits for that fsync.
  virtual Status Flush() = 0;
  // Flush, then `done` once every change so far is durable under the sync
  // mode (the rule at the top of this file); a confirmed ack waits for it.
  virtual void Sync(std::function<void(Status)> done) = 0;
  virtual Status Delete() = 0;
  virtual Status Close() = 0;
};

// Memory for the per-message indexes of file store blocks (see
// FileStoreOptions), shared by the stores of a server: each store drops its
// least recently used ones while the total is over the limit.
struct CacheBudget {
  explicit CacheBudget(uint64_t limit) : limit(limit) {}
  const uint64_t limit;
  std::atomic<uint64_t> used{0};
};

struct FileStoreOptions {
  std::string dir;  // the stream's directory, created if missing
  SyncMode sync = SyncMode::kAlways;
  int64_t sync_interval_ns = 0;  // kInterval only
  uint64_t block_size = 8 * 1024 * 1024;
  // Memory for the per-message indexes of blocks other than the one being
  // written (loaded on demand, least recently used dropped first): `cache`
  // if given, else a budget of `cache_bytes` for this store alone.
  std::shared_ptr<CacheBudget> cache;
  uint64_t cache_bytes = 64 * 1024 * 1024;
  // Compress blocks as they are sealed (the stream's `compression: s2`).
  bool compress = false;
};

class Env;  // env.h: all file I/O, with a fault-injecting implementation

std::unique_ptr<Store> NewMemStore(const Limits& limits);
// Opens or creates a stream store; recovers what is on disk.
Result<std::unique_ptr<Store>> OpenFileStore(Env* env, const FileStoreOptions& opts,
                                             const Limits& limits);
Result<std::string> ReadStreamMeta(Env* env, const std::string& dir);

std::unique_ptr<ConsumerStore> NewMemConsumerStore();

// The fsync thread of consumer stores. One is shared by all the consumers of
// a server, so 10,000 consumers do not cost 10,000 threads, and the fsyncs of
// one batch's consumer changes run together (group commit).
class GroupCommit;  // group_commit.h
std::shared_ptr<GroupCommit> NewConsumerSync(SyncMode sync, int64_t sync_interval_ns);
Result<std::unique_ptr<ConsumerStore>> OpenFileConsumerStore(Env* env, const std::string& dir,
                                                             std::shared_ptr<GroupCommit> sync);
// With a GroupCommit of its own (tests, tools).
Result<std::unique_ptr<ConsumerStore>> OpenFileConsumerStore(Env* env, const std::string& dir,
                                                             SyncMode sync);

}  // namespace fjord::store
