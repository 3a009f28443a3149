#pragma once
// The Raft log of a replicated stream, kept without a second copy of any
// message (docs/architecture.md, "How a stream group works"): a message
// entry's payload *is* the message in the stream's store, and the group's
// own file (`raft.log`, a FileLogStore) keeps for it only a stub naming its
// sequence. Other entries (operations on the stream, consumer state) are
// small and kept whole in that file.
//
// Entries (the payload of NuRaft's app_log entries; StreamEntry):
// - a message: sequence, timestamp, subject, header, data. The leader
//   stages it (Stage: appended to the store, which gives the sequence) and
//   proposes the entry with that sequence; followers store it there.
// - a skip: a sequence consumed without a message (store.h SkipMsg). The
//   leader also sends one in place of a message it no longer has (deleted
//   or evicted by a limit since), which the follower records as a gap.
// - an operation: opaque bytes for the group's state machine.
//
// The tentative tail: when a new leader's log disagrees (write_at), the
// messages of the replaced entries are cut from the store
// (Store::Truncate) before the new entries are appended.
//
// Durability: appends write to the store at once and collect their stubs;
// the end of each append batch writes the stubs (one write call) and makes
// both files durable (last_durable_index). A message is stored with its
// log position (index and term, store::LogPos), so a batch of messages
// only needs the store's sync: its stubs are written (kill -9 keeps them)
// and synced later (at the next batch that needs them, or within a tick),
// and Load rebuilds them from the store if a power loss took them. Any
// other entry needs its stub durable. A
// leader's batch (AsyncLogStore::Proposing) is synced in the background (the
// store by its group commit, the stub file by one the process's stream logs
// share, at the same time) and reported through the callback
// Group::Open installs, which tells NuRaft: parallel log appending, so a
// leader replicates while its own fsyncs run.
// A follower answers only once the entries are durable, and NuRaft waits
// for that on the thread that appended them: that thread syncs the stub
// file while the store's group commit syncs the store, and returns once
// both are durable (one fsync's time, not two in a row, and no hand-over
// between threads). At open, the two files are brought to
// agree: stubs naming messages the store does not have, and placeholders of
// failed appends, are cut with what follows them (never reported durable),
// and messages above the last logged one are cut from the store (appended,
// never logged).
//
// Threads: NuRaft calls in from its threads, and a leader's proposals append
// from the proposing thread; the store must be a store::LockedStore shared
// with the stream's JetStream thread.
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <libnuraft/log_store.hxx>

#include "raft/log_store.h"
#include "store/env.h"
#include "store/store.h"

namespace fjord::raft {

struct StreamEntry {
  enum Kind : uint8_t { kMsg = 1, kSkip = 2, kOp = 3 };
  Kind kind = kOp;
  uint64_t seq = 0;  // kMsg, kSkip
  int64_t ts = 0;    // kMsg
  std::string_view subject, hdr, data;  // data: the message's, or kOp's payload

  static std::string Msg(uint64_t seq, int64_t ts, std::string_view subject, std::string_view hdr,
                         std::string_view data);
  static std::string Skip(uint64_t seq);
  static std::string Op(std::string_view payload);
  // Views into `bytes`; nullopt when malformed.
  static std::optional<StreamEntry> Decode(std::string_view bytes);
};

// A log store the group does not sync by itself: it reports entries durable
// through the function Group::Open gives it (NuRaft's parallel log
// appending).
class AsyncLogStore : public nuraft::log_store {
 public:
  virtual void OnDurable(std::function<void(bool ok)> fn) = 0;
  // Told once, at the log's first failure (it then stores nothing more),
  // on whatever thread found it, maybe with the log's lock held: `fn`
  // must not call back into the log.
  virtual void OnFailed(std::function<void(const std::string& why)> fn) = 0;

  // Marks the calling thread as proposing for its lifetime (the group's
  // ProposeAll). NuRaft ends a batch on the thread that appended it: on a
  // proposing thread it is the leader's, which must not wait for its sync
  // (NuRaft replicates the batch only after); on any other it is a
  // follower's, which NuRaft waits for on that thread anyway.
  class Proposing {
   public:
    Proposing() { active_ = true; }
    ~Proposing() { active_ = false; }
    Proposing(const Proposing&) = delete;
    Proposing& operator=(const Proposing&) = delete;
    static bool active() { return active_; }

   private:
    static thread_local bool active_;
  };
};

class StreamLog : public AsyncLogStore, public std::enable_shared_from_this<StreamLog> {
 public:
  // Opens or creates the log in `dir` over `store` (a store::LockedStore
  // that outlives the log). Error text in *err on failure. Damage to the
  // stub file does not fail it: the log is cut from there (lost_durable).
  // `lazy_sync_ns` > 0: the store syncs on that interval (lazy mode), and
  // the stub file is synced at most that often too, at the end of a batch;
  // a batch counts as durable once written (kill -9 keeps it, a power
  // loss may not), as the store's messages do in that mode.
  static std::shared_ptr<StreamLog> Open(store::Env* env, const std::string& dir, store::Store* store,
                                         std::string* err, int64_t lazy_sync_ns = 0);

  void OnDurable(std::function<void(bool ok)> fn) override;
  void OnFailed(std::function<void(const std::string& why)> fn) override;

  nuraft::ulong next_slot() const override;
  nuraft::ulong start_index() const override;
  nuraft::ptr<nuraft::log_entry> last_entry() const override;
  nuraft::ulong append(nuraft::ptr<nuraft::log_entry>& entry) override;
  void write_at(nuraft::ulong index, nuraft::ptr<nuraft::log_entry>& entry) override;
  void end_of_append_batch(nuraft::ulong start, nuraft::ulong cnt) override;
  nuraft::ptr<std::vector<nuraft::ptr<nuraft::log_entry>>> log_entries(nuraft::ulong start,
                                                                        nuraft::ulong end) override;
  nuraft::ptr<nuraft::log_entry> entry_at(nuraft::ulong index) override;
  nuraft::ulong term_at(nuraft::ulong index) override;
  nuraft::ptr<nuraft::buffer> pack(nuraft::ulong index, nuraft::int32 cnt) override;
  void apply_pack(nuraft::ulong index, nuraft::buffer& pack) override;
  bool compact(nuraft::ulong last_log_index) override;
  bool flush() override;
  nuraft::ulong last_durable_index() override;

  // Snapshots (catch-up). A stream group's snapshot is not its messages:
  // part 0 is a header (the leader's first sequence, the last committed
  // one, and the state machine's own bytes); the follower then asks for
  // the rest by sequence: first which of the messages it kept the leader
  // no longer has (it removes them), then the messages it lacks, in
  // batches read from the leader's store. A part's id is its first
  // sequence times two, plus one when it carries messages.
  //
  // The leader: the header of a snapshot at committed sequence `last_seq`.
  std::string SnapshotHeader(uint64_t last_seq, std::string_view app) const;
  // The committed sequence a header names; nullopt when malformed.
  static std::optional<uint64_t> SnapshotLastSeq(std::string_view header);
  // The leader: Fsm::ReadPart.
  int ReadSnapshotPart(std::string_view header, uint64_t id, std::string* out);
  // A follower: Fsm::SavePart. `committed` is the last sequence this
  // replica has applied as committed: its messages up to there are kept.
  uint64_t SaveSnapshotPart(uint64_t id, std::string_view part, uint64_t committed);
  // A follower, once every part is saved: its store is the leader's up to
  // the header's last sequence, durably, and the log continues from there.
  // Also for a snapshot restored at open (nothing was received: the store
  // has it). The state machine's bytes, or nullopt when the header is
  // unreadable or the store cannot be synced.
  std::optional<std::string> FinishSnapshot(std::string_view header);

  // The sequence of the last message or skip in the log (the store's last
  // logged sequence); what the log started from when it has none.
  uint64_t last_logged_seq() const;
  // A write to the store or the stub file failed: nothing appended since is
  // reported durable.
  bool failed() const;
  // Lazy mode: syncs the stub file if it has entries not synced for an
  // interval, so an idle stream's last batch is not left unsynced for good
  // (its store syncs on the interval by itself). Called periodically.
  void SyncIfDue();
  // Load cut entries whose messages the store had made durable and then
  // lost (store::Store::LostAtOpen: found damaged at open), or stubs the
  // stub file had made durable and then lost (damaged): this replica
  // may have acknowledged them, so it must not vote until its group has
  // sent them again (a vote from a log shorter than what it acknowledged
  // could elect a leader without them).
  bool lost_durable() const { return lost_durable_; }

  // The leader's messages go to the group several at a time: Stage appends
  // a message (a skip when `skip`) to the store at once, at its next
  // sequence (*seq), so the stream reads its own writes, and returns the
  // entry to propose for it (Group::ProposeAllWithResult, with the others
  // staged since). Appended, that entry is logged without storing the
  // message again, and its replicas get a plain message. Empty, with the
  // reason in *err, on failure. Staged messages not appended in order are
  // a failure of the log.
  std::string Stage(std::string_view subject, std::string_view hdr, std::string_view data, int64_t ts, bool skip,
                    uint64_t* seq, std::string* err);
  // Their proposal was refused (leadership lost): what was staged and not
  // logged is cut from the store.
  void DropStaged();

 private:
  StreamLog(store::Env* env, std::string dir, store::Store* store) : env_(env), dir_(std::move(dir)), store_(store) {}
  std::string Load();
  // Appends `entry`'s message or skip to the store at its sequence (a
  // staged one is there already) and returns the stub to log in its place;
  // the entry itself for other entries; null on failure. mu_ held.
  nuraft::ptr<nuraft::log_entry> StoreEntry(nuraft::ptr<nuraft::log_entry>& entry, uint64_t index);
  // The full entry at `index` (its message read back from the store, or
  // from the cache of recent entries); mu_ held.
  nuraft::ptr<nuraft::log_entry> Rebuild(uint64_t index);
  void Cache(uint64_t index, const nuraft::ptr<nuraft::log_entry>& entry);
  void Fail(const std::string& why);
  // Forgets what was staged and cuts it from the store; mu_ held.
  void CutStaged();
  bool WriteBase(uint64_t seq);
  bool SyncStore();
  // A batch up to `target` (logged in generation `gen`) is durable, or its
  // sync failed (`why`); NuRaft is told when `tell`, or on failure.
  void SyncDone(uint64_t target, uint64_t gen, bool ok, const std::string& why, bool tell);

  store::Env* env_;
  std::string dir_;
  store::Store* store_;
  std::shared_ptr<FileLogStore> stubs_;
  mutable std::mutex mu_;
  uint64_t last_seq_ = 0;  // last logged sequence; guarded by mu_
  uint64_t base_seq_ = 0;  // last sequence covered by compacted entries; guarded by mu_
  // Recently appended full entries, so the leader replicates and commits
  // them without reading the store back; bounded by kCacheBytes.
  std::map<uint64_t, nuraft::ptr<nuraft::log_entry>> cache_;  // guarded by mu_
  size_t cache_bytes_ = 0;                                      // guarded by mu_
  uint64_t gen_ = 0;  // bumped when entries are replaced; guarded by mu_
  std::atomic<uint64_t> durable_{0};
  int64_t lazy_ns_ = 0;  // see Open
  std::atomic<int64_t> stubs_synced_at_{0};  // steady clock ns of the last stub sync started
  // Lazy mode: whether this batch may skip syncing the stub file (synced
  // less than an interval ago); when not, the sync about to run counts as
  // the last one from now.
  bool SkipStubSync();
  std::atomic<bool> failed_{false};
  bool lost_durable_ = false;  // set by Load
  std::function<void(bool)> on_durable_;  // set once before use
  std::function<void(const std::string&)> on_failed_;  // set once before use
  // A snapshot being received, keeping this replica's messages up to
  // `catchup_keep_`. Guarded by mu_.
  bool receiving_ = false;
  uint64_t catchup_keep_ = 0;
  // What Stage stored, in order, not yet logged: each message's sequence
  // and the log position it was stored with (the one it will take if
  // nothing else is appended first). Guarded by mu_.
  struct Staged {
    uint64_t seq;
    store::LogPos pos;
  };
  std::deque<Staged> staged_;
  // The last index whose stub must be durable before it counts: any entry
  // but a message stored with its log position (an operation, a skip, a
  // membership change, a replacement). A batch of such messages only is
  // durable once the store is: Load rebuilds their stubs from the store.
  // Guarded by mu_.
  uint64_t stubs_needed_upto_ = 0;
  // The store keeps log positions and the log is not lazy: batches of
  // messages only leave the stub file unsynced (set by Open).
  bool stubs_from_store_ = false;
  // Load: logs the stubs of messages past the last stub kept whose
  // positions the store has; the log's last sequence after.
  std::string RecoverStubs(const store::StreamState& st);
};

}  // namespace fjord::raft
