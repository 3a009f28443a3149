#pragma once
// One Raft group on this server: NuRaft's raft_server with Fjord's log
// store, state files, timers and transport, applying committed entries to
// an Fsm the caller provides.
//
// On disk, in the group's directory: `raft.log` (log_store.h), `state`
// (term and vote) and `config` (membership), each replaced durably and
// guarded by a checksum, and `snapshot` (the Fsm's snapshot with the log
// position and membership it covers). A restarted member restores its
// snapshot, then NuRaft replays the committed entries after it.
//
// Membership uses server names: a peer's NuRaft id is Transport::PeerId of
// its name and its endpoint is the name itself.
#include <atomic>
#include <functional>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/env.h"

namespace nuraft {
class raft_server;
class rpc_listener;
}

namespace fjord::raft {

class AsyncLogStore;
class Scheduler;
class Transport;

// What a group replicates. Apply runs on the group's commit thread, in log
// order, once per committed entry; Snapshot runs on the same thread between
// two applies, so it sees the state at a log position exactly.
class Fsm {
 public:
  virtual ~Fsm() = default;
  // Returns what the proposer of the entry gets (ProposeWithResult), if it
  // was proposed on this server.
  virtual std::string Apply(uint64_t index, std::string_view data) = 0;
  virtual std::string Snapshot() = 0;
  // Snapshot(), when it cannot be taken at once (a stream group waits for
  // its consumers' stores to sync). `done` may run later, on any thread,
  // with nullopt when no snapshot can be taken now (the log stays whole);
  // the snapshot covers what was applied when this was called.
  virtual void SnapshotAsync(std::function<void(std::optional<std::string>)> done) { done(Snapshot()); }
  // Replaces the state with a snapshot's; false if it cannot be read.
  virtual bool Restore(std::string_view snapshot) = 0;
  // Snapshots that travel in parts (a stream group's messages, read from
  // its store in batches). Part 0 is what Snapshot() returned. The leader's
  // ReadPart sets *out to part `id` of `snapshot` and returns 1 if it is
  // the last, 0 if more follow, -1 if it cannot be read. A follower's
  // SavePart keeps part `id` and returns the id of the part it wants next
  // (0: it cannot go on); once the last is saved, Restore gets part 0.
  // The defaults send the snapshot whole, in part 0.
  virtual int ReadPart(std::string_view snapshot, uint64_t id, std::string* out) {
    if (id != 0) return -1;
    *out = snapshot;
    return 1;
  }
  virtual uint64_t SavePart(uint64_t id, std::string_view) { return id + 1; }
  // This server became the group's leader, or stopped being it. After
  // becoming leader, everything committed before is applied first.
  virtual void LeaderChanged(bool /*leader*/) {}
};

struct PeerState {
  std::string name;
  bool leader = false;
  bool self = false;
  // Whether its log matches the leader's (known on the leader only; a
  // follower reports its own view: itself current, others unknown).
  bool current = false;
  uint64_t lag = 0;            // entries behind the leader's last index
  int64_t last_seen_ms = -1;   // since its last response to the leader; -1 unknown
};

struct GroupOptions {
  std::string name;  // [A-Za-z0-9_-]+; a subject token of the transport
  std::string dir;
  store::Env* env = nullptr;
  // For a group with no state on disk yet: start as its only member and
  // elect itself (the bootstrap server), or wait to be added by a leader.
  bool bootstrap = false;
  // With `bootstrap`, for a group over state that exists already (a stream
  // that had one replica): the Fsm's snapshot of that state. The first
  // start saves it as covering entry 1, this server the only member, and
  // the log starts after it; a member added later is behind the log's
  // start, so NuRaft sends it this snapshot (Fsm::ReadPart) before any
  // entry. Ignored when the group has state.
  std::string base_snapshot;
  // Or, when the members are known from the start (a stream group's, from
  // its assignment): every member starts with all of them, and they elect
  // a leader by quorum as any group does. Names, this server's included.
  std::vector<std::string> members;
  // With `members`, for a group with no state yet: the member that starts
  // the first election at once (Group::Open), so that a new group has a
  // leader in milliseconds instead of after an election timeout. The
  // others' timers run as ever, so a first leader that is down or slow
  // only costs that timeout. Empty: every member waits for its timer.
  std::string first_leader;
  int heartbeat_ms = 150;
  int election_min_ms = 750;
  int election_max_ms = 1500;
  // Entries between snapshots; the log keeps `keep_entries` behind one.
  int snapshot_every = 1024;
  int keep_entries = 256;
  // The group's log when it is not the default FileLogStore in `dir` (a
  // stream group's StreamLog): it reports durability itself, and the
  // leader replicates while its own write runs (parallel log appending).
  std::shared_ptr<AsyncLogStore> log;
};

class Group {
 public:
  // Whether `dir` holds a member's state (it was started before).
  static bool HasState(store::Env* env, const std::string& dir);
  // Error text in *err on failure; *damaged (when given): the log is
  // damaged (raft::FileLogStore), as opposed to unreadable.
  static std::unique_ptr<Group> Open(Transport* transport, std::shared_ptr<Scheduler> scheduler, GroupOptions opts,
                                     Fsm* fsm, std::string* err, bool* damaged = nullptr);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  const std::string& name() const { return opts_.name; }
  bool IsLeader() const;
  // The current leader's server name; empty when there is none.
  std::string Leader() const;
  uint64_t term() const;
  uint64_t committed() const;
  // The leader's commit index as this server last heard it (its own when
  // it leads).
  uint64_t leader_committed() const;
  // The last entry applied here (committed entries and membership changes).
  uint64_t applied() const;
  // The log's last entry, committed or not (a leader's own proposals are
  // in its log as soon as they are made).
  uint64_t last_index() const;
  // Whether a leader is known and everything it had committed when this
  // server last heard from it is applied here (a member rejoining without
  // state may vote again).
  bool CaughtUp() const { return !Leader().empty() && leader_committed() > 0 && applied() >= leader_committed(); }
  // The last entry of the log when it was opened: entries up to it were
  // received before this start, and applying them is a replay.
  uint64_t last_index_at_open() const { return last_index_at_open_; }
  // The members, this server included.
  std::vector<std::string> Members() const;
  // A leader removed this server from the group: NuRaft said so, or the
  // leader's leave request reached it (Transport::ToldToLeave).
  bool Removed() const;
  // Why this member stopped taking part, empty while it does. A group
  // whose own log (GroupOptions::log) fails, a full disk say, halts: it
  // neither answers, votes nor leads from then on, and the process with
  // its other groups goes on (the other members carry the group). Its
  // owner opens it again from disk to rejoin.
  std::string Halted() const;
  std::vector<PeerState> Peers() const;

  // Proposes an entry (leader only). `done` runs once, on a NuRaft thread:
  // with an empty error once the entry is committed and applied here, or
  // with the reason it was not.
  void Propose(std::string data, std::function<void(const std::string& error)> done);
  // The same, handing `done` what Fsm::Apply returned for the entry; the
  // entry is in the log when this returns. A refusal (not the leader) is
  // returned at once, as error text, and `done` is not called.
  std::string ProposeWithResult(std::string data,
                                std::function<void(const std::string& error, std::string result)> done);
  // Several entries in one append (NuRaft sends them to the followers
  // together); `done` as above, for the last of them: every one before it
  // is committed too.
  std::string ProposeAllWithResult(std::vector<std::string> entries,
                                   std::function<void(const std::string& error, std::string result)> done);
  // Leader only: hands leadership to `preferred` (a member's name), or to
  // the most suitable member when empty. Error text, empty on success.
  std::string StepDown(const std::string& preferred);
  // Leader only, one change at a time. Error text, empty when started.
  std::string AddMember(const std::string& server_name);
  std::string RemoveMember(const std::string& server_name);

 private:
  class StateMgr;
  class Machine;
  struct Halter;
  Group(GroupOptions opts, Transport* transport) : opts_(std::move(opts)), transport_(transport) {}
  std::string NameOf(int32_t id) const;
  // Stops this member (see Halted); any thread, NuRaft's lock held or not.
  void Halt(const std::string& why);

  GroupOptions opts_;
  Transport* transport_;
  uint64_t last_index_at_open_ = 0;
  std::shared_ptr<StateMgr> mgr_;
  std::shared_ptr<Machine> machine_;
  std::shared_ptr<nuraft::rpc_listener> listener_;
  std::shared_ptr<nuraft::raft_server> server_;
  std::atomic<bool> removed_{false};
  Fsm* fsm_ = nullptr;
  std::shared_ptr<Halter> halter_;
  std::atomic<bool> halted_{false};
  mutable std::mutex halt_mu_;
  std::string halt_why_;  // guarded by halt_mu_
};

}  // namespace fjord::raft
