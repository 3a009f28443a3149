#pragma once
// One replica of a replicated stream: a Raft group (raft/group.h) whose
// log is the stream's store (raft/stream_log.h), behind the interface
// JetStream sees (jetstream::ReplicaGroup).
//
// The group: named after the account and stream (a hash, so any stream
// name fits a subject token), its members the servers the meta group
// assigned, all of them from the start (they elect the first leader by
// quorum); the leader adds (or removes) members until they match the
// assignment (Tick, from the meta group's loop).
//
// A member that opens without Raft state for a stream that existed before
// (its files were lost, or a memory stream's replica restarted) neither
// votes nor stands until it has caught up with the leader once, as the
// meta group's members (meta.h): its empty log would let a replica that
// misses committed messages win. A `rejoining` marker keeps that across a
// restart in between. If no leader shows up for kRejoinGiveUp (every
// replica rejoining: a memory stream after a full restart), it votes
// again, with a warning: nothing it had can be lost then.
//
// Committed entries: a message advances the committed sequence and answers
// its proposer; an operation goes to the stream (ReplicaEvents::apply_op)
// on every replica. Snapshots are the stream log's (catch-up from the
// leader's store), with the stream's part (its consumers) in the header.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "jetstream/cluster.h"
#include "raft/group.h"
#include "raft/stream_log.h"

namespace fjord::raft {
class Scheduler;
class Transport;
}  // namespace fjord::raft

namespace fjord::jscluster {

struct ReplicaOptions {
  std::string account, stream, cluster, self;
  int64_t group_epoch = 0;
  std::vector<std::string> peers;
  std::string dir;
  store::Env* env = nullptr;
  // The stream existed before (jetstream::ClusterMeta::OpenReplica): a
  // member without Raft state then rejoins (see StreamReplica).
  bool existing = false;
  // Without Raft state, wait for the group's leader to add this server
  // (a replica placed by scaling up) rather than start as a member.
  bool joining = false;
  // The stream had one replica, held here (jetstream::ReplicaStart::adopt,
  // the consumers' snapshot part): the group starts with this server alone,
  // its store as it is being the group's first snapshot.
  std::optional<std::string> adopt;
  // jetstream::ReplicaStart::lazy_sync_ns (raft::StreamLog::Open).
  int64_t lazy_sync_ns = 0;
  // Raft timing (raft::GroupOptions).
  int heartbeat_ms = 150;
  int election_min_ms = 750;
  int election_max_ms = 1500;
};

class StreamReplica;

// The replicas of a server, for the meta group's loop to tick.
class ReplicaRegistry {
 public:
  void Add(StreamReplica* r);
  void Remove(StreamReplica* r);
  void TickAll();
  // The first replica that is not current (StreamReplica::NotCurrent), as
  // /healthz words it; empty when every one is.
  std::string NotCurrent();

 private:
  std::mutex mu_;
  std::set<StreamReplica*> replicas_;  // guarded by mu_
};

class StreamReplica : public jetstream::ReplicaGroup, public raft::Fsm {
 public:
  static constexpr std::chrono::seconds kRejoinGiveUp{30};
  // A replica whose log failed (raft::Group::Halted) opens again after
  // this pause, doubled at each failure up to the longest.
  static constexpr std::chrono::steady_clock::duration kReviveFirstWait = std::chrono::seconds(5);
  static constexpr std::chrono::steady_clock::duration kReviveMaxWait = std::chrono::seconds(60);
  // The group's name for a stream of an account.
  // The group's name for a stream of an account, in the incarnation begun
  // at `epoch` (jetstream::StreamAssignment::group_epoch).
  static std::string GroupName(const std::string& account, const std::string& stream, int64_t epoch);
  static std::unique_ptr<StreamReplica> Open(raft::Transport* transport, std::shared_ptr<raft::Scheduler> scheduler,
                                             ReplicaOptions opts, store::Store* store,
                                             jetstream::ReplicaEvents events,
                                             std::shared_ptr<ReplicaRegistry> registry, std::string* error);
  ~StreamReplica() override;

  // The leader adds or removes one member towards the assigned servers.
  void Tick();
  // Why this replica cannot serve as an up-to-date copy now: stopped (its
  // log failed), no leader known, rejoining without state, or behind what
  // the leader committed. Empty when it is current (the leader always is).
  std::string NotCurrent();

  // jetstream::ReplicaGroup
  bool IsLeader() override;
  std::string Leader() override;
  Proposed StageMsg(std::string_view subject, std::string_view hdr, std::string_view data, int64_t ts, bool skip,
                    uint64_t* seq, std::string* error) override;
  Proposed Flush(std::function<void(const std::string& error)> committed, std::string* error) override;
  Proposed ProposeOp(std::string op, std::function<void(const std::string& error)> committed,
                     std::string* error) override;
  std::string StepDown(const std::string& preferred) override;
  jetstream::Json ClusterInfo() override;
  void SetPeers(const std::vector<std::string>& peers) override;
  std::vector<std::string> Members() override;
  bool Settled() override;
  bool Removed() override;
  uint64_t CommittedSeq() override { return committed_seq_; }
  std::chrono::milliseconds Leaderless() override;
  // A replica whose log failed (a full disk: raft::Group::Halted) opens it
  // again from disk once the pause is over, and rejoins; the pause grows
  // while it keeps failing.
  void Revive() override;

  // raft::Fsm
  std::string Apply(uint64_t index, std::string_view data) override;
  std::string Snapshot() override;
  void SnapshotAsync(std::function<void(std::optional<std::string>)> done) override;
  int ReadPart(std::string_view snapshot, uint64_t id, std::string* out) override;
  uint64_t SavePart(uint64_t id, std::string_view part) override;
  bool Restore(std::string_view snapshot) override;
  void LeaderChanged(bool leader) override;

 private:
  StreamReplica(ReplicaOptions opts, jetstream::ReplicaEvents events)
      : opts_(std::move(opts)), events_(std::move(events)) {}
  // Opens the log and the group over the stream's store, as opts_ say.
  // Error text.
  std::string OpenGroup();
  // It leads, or knows which member does (the clocks of Tick, Leaderless).
  bool KnowsLeader();
  // Proposes what is staged, then `entry` when not empty, in one append.
  Proposed Propose(std::string entry, std::function<void(const std::string& error)> committed, std::string* error);

  ReplicaOptions opts_;
  std::mutex peers_mu_;  // opts_.peers: set on the JetStream thread, read by Tick
  jetstream::ReplicaEvents events_;
  std::shared_ptr<raft::StreamLog> log_;
  // Replaced as the replica revives (Revive, on the JetStream thread, with
  // reopen_mu_ held, which Tick and NotCurrent take: the meta group's loop
  // calls them); group_ is null while it cannot open.
  std::mutex reopen_mu_;
  std::unique_ptr<raft::Group> group_;
  raft::Transport* transport_ = nullptr;
  std::shared_ptr<raft::Scheduler> scheduler_;
  store::Store* store_ = nullptr;
  std::optional<std::chrono::steady_clock::time_point> halted_since_, revive_at_;
  std::chrono::steady_clock::duration revive_wait_ = kReviveFirstWait;
  // Not voting until caught up (Tick).
  std::atomic<bool> rejoining_{false};
  // When a leader was last known (steady clock, ns; Tick): the rejoin's
  // give-up counts from it.
  std::atomic<int64_t> leader_seen_ns_{SteadyNs()};
  // Since when this replica has been leaderless while able to answer
  // (Tick, Leaderless): not stopped, reopening or rejoining.
  std::atomic<int64_t> leaderless_from_ns_{SteadyNs()};
  static int64_t SteadyNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  // The last handover Tick asked for (a leader no longer assigned).
  std::chrono::steady_clock::time_point handed_over_{};
  std::atomic<uint64_t> committed_seq_{0};
  std::atomic<int64_t> leader_since_{0};
  std::shared_ptr<ReplicaRegistry> registry_;
  // StageMsg's entries not yet proposed (the JetStream thread's).
  std::vector<std::string> staged_;
  // Group::Open restores the saved snapshot: the stream's own state is
  // newer than it (synced before it was saved), so only the log takes it.
  bool opening_ = false;
};

}  // namespace fjord::jscluster
