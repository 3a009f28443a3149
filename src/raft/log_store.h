#pragma once
// A Raft log in one file: the log of a small group (the meta group), whose
// entries are assignments, not messages.
//
// File `raft.log`: a 16-byte header ("FJRLOG1\0", then the index of the
// first entry kept), then records: u32 body length, u64 XXH64 of the body,
// body = u64 index, u64 term, u8 type, u64 timestamp, payload. Appends are
// collected and written together, and made durable, at the end of each
// append batch (NuRaft calls end_of_append_batch before it counts the
// entries as stored, and flush for configuration entries), so an entry a
// server has acknowledged survives kill -9 and power loss. Compaction rewrites the file (tmp file,
// fsync, rename, directory fsync).
//
// Small records go into zeros written ahead of the end (64 KiB at a time),
// so the fsync after an append changes no file size; a replay stops at
// them.
//
// At open, a torn tail (a record cut short or failing its checksum with
// nothing valid after it, above what was fsynced) is what a crash
// mid-append leaves, and is cut. A bad record followed by valid ones, or
// one the file had fsynced (`raft.synced`, a store::SyncedMark), or a file
// shorter than it had fsynced, is damage: Open fails and names it, rather
// than dropping entries the group may have counted on; or, for a log whose
// group can send them again (a stream's), cuts from there and says so.
//
// Every entry is also kept in memory; the meta log is compacted behind
// snapshots and stays small.
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <libnuraft/log_store.hxx>

#include "store/env.h"
#include "store/synced_mark.h"

namespace fjord::raft {

// NuRaft's pack format (log_store::pack / apply_pack): the entry count,
// then each serialized entry after its size.
nuraft::ptr<nuraft::buffer> PackEntries(const std::vector<nuraft::ptr<nuraft::log_entry>>& entries);
std::vector<nuraft::ptr<nuraft::log_entry>> UnpackEntries(nuraft::buffer& pack);

class FileLogStore : public nuraft::log_store {
 public:
  // Opens or creates `dir`/raft.log. Error text in *err on failure;
  // *damaged (when given) tells damage from other failures. With `lost`
  // given, damage does not fail the open: the log is cut from the damaged
  // record, and *lost tells that entries it had (maybe acknowledged) are
  // gone.
  static std::shared_ptr<FileLogStore> Open(store::Env* env, const std::string& dir, std::string* err,
                                            bool* damaged = nullptr, bool* lost = nullptr);

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

  // A sync run elsewhere (a group commit shared by many logs): what a
  // sync of the file started now covers, or nullopt once the log failed;
  // then Synced with the sync's outcome, which it returns (false: failed).
  struct SyncPoint {
    std::shared_ptr<store::File> file;
    uint64_t target = 0, truncations = 0;
    uint64_t start = 0, end = 0;  // the file's first index and size then
  };
  std::optional<SyncPoint> PrepareSync();
  bool Synced(const SyncPoint& point, const store::Status& st);

  // Called once, when a write or a sync first fails (mu_ held: it must not
  // call back in). Set before use.
  void OnFailed(std::function<void(const std::string& why)> fn) { on_failed_ = std::move(fn); }

  // append, telling whether the entry was taken (false: the log failed,
  // the entry is in memory only). Taken entries reach the file at the next
  // Write, sync or end of an append batch.
  bool Append(const nuraft::log_entry& entry);
  // Hands the entries appended since the last write to the OS (no sync):
  // from then on they survive kill -9. False once the log failed.
  bool Write();

  // Drops the entries from `index` on, durably (a stream log's entries
  // whose messages a crash lost). False on an I/O error.
  bool CutFrom(uint64_t index);

  // An I/O error has happened: the file takes no more writes, entries go
  // on in memory only (NuRaft's indexes hold) and nothing is durable again.
  // NuRaft then stops the server through state_mgr::system_exit, or a
  // stream log's group halts (raft::Group::Halted).
  bool failed() const;

 private:
  FileLogStore(store::Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  std::string Load(bool* lost);
  // Appends one record to pending_; mu_ held.
  bool WriteRecord(uint64_t index, const nuraft::log_entry& e);
  // Writes pending_ at its place in the file; mu_ held. False once the log
  // failed.
  bool WritePending();
  // Drops entries from `index` on, in memory and in the file; mu_ held.
  bool TruncateFrom(uint64_t index);
  // Rewrites the file with start_ and entries_; mu_ held.
  bool Rewrite();
  bool SyncLocked();
  // Syncs what is written so far without holding mu_ during the fsync
  // (appends go on meanwhile).
  bool Sync();

  store::Env* env_;
  std::string dir_;
  mutable std::mutex mu_;
  // Shared so a sync runs without mu_ (appends go on meanwhile) even if
  // compaction replaces the file under it.
  std::shared_ptr<store::File> file_;            // guarded by mu_
  uint64_t start_ = 1;                           // guarded by mu_
  std::deque<nuraft::ptr<nuraft::log_entry>> entries_;  // [start_, start_+size); guarded by mu_
  std::deque<uint64_t> offsets_;                 // each entry's record offset; guarded by mu_
  uint64_t end_offset_ = 0;                      // guarded by mu_ (pending_ included)
  std::string pending_;  // records after the file's written end; guarded by mu_
  uint64_t zeroed_end_ = 0;  // the file's size: zeros after its written end (end_offset_ - pending_); guarded by mu_
  uint64_t durable_ = 0;                         // last index synced; guarded by mu_
  uint64_t truncations_ = 0;                     // entries dropped from the end; guarded by mu_
  bool failed_ = false;                          // guarded by mu_
  bool damaged_ = false;                         // set by Load
  std::shared_ptr<store::SyncedMark> mark_;      // how far the file is synced; set by Load
  std::function<void(const std::string&)> on_failed_;
  // Logs `why` and marks the log failed; mu_ held.
  void Fail(const std::string& why);
};

}  // namespace fjord::raft
