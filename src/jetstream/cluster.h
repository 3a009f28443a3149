#pragma once
// What a clustered JetStream asks of the JetStream meta group, and what the
// meta group tells it (jscluster/meta.h implements it). Kept here, as an
// interface, so JetStream does not depend on Raft.
//
// In a cluster every server hears every `$JS.API` request of an account
// (the API subscription is routed), and exactly one answers it, as with
// nats-server:
// - creating, updating and deleting streams, stream names and lists, and
//   account info: the meta leader, from the replicated stream assignments;
// - everything about one stream (info, messages, purge, direct get, its
//   consumers, pulls): the server that holds it;
// - a request about a stream no server holds: the meta leader, with the
//   same error as a single server.
// The meta leader proposes an assignment; every server applies it in log
// order, and the server it places the stream on creates, updates or
// deletes its copy and answers the client.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "jetstream/types.h"
#include "store/store.h"

namespace fjord::jetstream {

// A stream as the meta group assigned it.
struct StreamAssignment {
  std::string account;
  Json config;                     // ToJson(StreamConfig)
  std::vector<std::string> peers;  // the servers that hold it (by server_name)
  int64_t created = 0;             // unix ns
  // When the stream's current Raft group began (unix ns; a create with more
  // than one replica, or a scale-up from one): part of the group's name, so
  // a group started anew (deleted and created again, or scaled down to one
  // and up) never meets the terms or the messages of the one before.
  // 0 for one replica, and in assignments older than this field.
  int64_t group_epoch = 0;

  std::string name() const { return config.value("name", std::string()); }
  bool Holds(const std::string& server) const {
    return std::find(peers.begin(), peers.end(), server) != peers.end();
  }
};

// A server the meta leader may place a stream on.
struct PlacementCandidate {
  std::string name;
  std::vector<std::string> tags;
  size_t streams = 0;  // assigned to it, in all accounts
};

// One committed change of the assignments, as every server applies it.
struct AssignmentChange {
  enum class Op { kCreate, kUpdate, kDelete } op;
  // How it went against the assignments before it (the same on every
  // server): applied, or refused because the stream exists with another
  // config (create) or does not exist (update, delete).
  enum class Outcome { kApplied, kSame, kConflict, kMissing } outcome;
  StreamAssignment stream;  // the assignment after the change (before it, for a delete)
  std::string name;
  std::string reply;        // the client's reply subject; empty when none is owed
  bool replay = false;      // re-applied from the log at start: answer nobody
  // Local: a create for a replica placed here by scaling up (its group's
  // leader adds this server).
  bool join = false;
};

// A replicated stream's Raft group, as its Stream sees it (jscluster/
// stream_group.h builds it over raft::Group and raft::StreamLog). Every
// replica has one; the leader takes publishes and answers the stream's
// requests, the others store what it sends. Used on the JetStream thread.
class ReplicaGroup {
 public:
  virtual ~ReplicaGroup() = default;
  virtual bool IsLeader() = 0;
  // The leader's server name; empty when there is none.
  virtual std::string Leader() = 0;
  // What became of a proposal: taken (stored, waiting for its commit),
  // refused because this server does not lead (now), or failed to store.
  enum class Proposed { kTaken, kNotLeader, kFailed };
  // Leader only. Stores a message (a skip when `skip`) in the store now, at
  // its next sequence (*seq when taken), and stages it: what is staged goes
  // to the group in one append at the next Flush (a batch's publishes
  // reach the followers together), or ahead of the next ProposeOp.
  virtual Proposed StageMsg(std::string_view subject, std::string_view hdr, std::string_view data, int64_t ts,
                            bool skip, uint64_t* seq, std::string* error) = 0;
  // Leader only. Proposes what StageMsg staged since the last Flush.
  // `committed` then runs once, on a Raft thread (at once when nothing was
  // staged), with an empty error once a quorum has all of it durable, or
  // with the reason it never will be. Refused, the staged messages leave
  // the store.
  virtual Proposed Flush(std::function<void(const std::string& error)> committed, std::string* error) = 0;
  // Leader only. An operation every replica applies once committed, in log
  // order with the messages (ReplicaEvents::apply_op), proposed after
  // anything staged. `committed` as above. (A caller that waits for staged
  // messages flushes them first.)
  virtual Proposed ProposeOp(std::string op, std::function<void(const std::string& error)> committed,
                             std::string* error) = 0;
  // Hands leadership to `preferred` (a replica's server name), or to the
  // most suitable replica when empty. Error text, empty on success.
  virtual std::string StepDown(const std::string& preferred) = 0;
  // StreamInfo's `cluster` (ClusterInfo in the JetStream API schema).
  virtual Json ClusterInfo() = 0;
  // The servers the meta group now assigns the stream to (scaling): the
  // leader adds or removes members until the group matches.
  virtual void SetPeers(const std::vector<std::string>& peers) = 0;
  // The group's members as this server knows them, itself included.
  virtual std::vector<std::string> Members() = 0;
  // Everything in this replica's log is applied here: no proposal still
  // waits for its commit. A stream leaves its group (scaled down to one)
  // only then: a consumer's ack proposed just before would otherwise be
  // confirmed to its client by the closing group and be in no store.
  virtual bool Settled() = 0;
  // A leader has removed this server from the group (scaled down): it no
  // longer takes part, and its copy may go.
  virtual bool Removed() = 0;
  // The last stream sequence this replica knows the group committed: what
  // it holds up to there is the group's for good (copies may be made).
  virtual uint64_t CommittedSeq() = 0;
  // How long this replica has known of no leader in its group; zero while
  // it knows one or leads, and while it is stopped or rejoins without its
  // state (its copy says nothing then).
  virtual std::chrono::milliseconds Leaderless() = 0;
  // Called now and then on the JetStream thread (Stream::Tick): a replica
  // that stopped because its log failed (a full disk) opens it again once
  // a pause is over, and rejoins the group.
  virtual void Revive() = 0;
};

// How a replica starts (ClusterMeta::OpenReplica).
struct ReplicaStart {
  // The stream existed in the cluster before (a replica recovered, or
  // recreated because its files were lost), as opposed to one just created.
  bool existing = false;
  // Placed here by scaling up an existing group, whose leader adds this
  // server.
  bool joining = false;
  // The stream had one replica, held here, and is scaled up: the group
  // starts with this server alone over the store as it is, its consumers
  // being this part of a snapshot (EncodeConsumerSnapshot), and its leader
  // adds the others, who get both as a snapshot.
  std::optional<std::string> adopt;
  // The stream's file store syncs on an interval (jetstream sync_interval,
  // nats-server's lazy mode), in nanoseconds; 0: at every batch. Its Raft
  // log then syncs as seldom: an entry counts as stored once written, as
  // the store's messages do.
  int64_t lazy_sync_ns = 0;
};

// What a replica group tells its stream, on Raft threads.
struct ReplicaEvents {
  // This server became the stream's leader, or stopped being it.
  std::function<void(bool leader)> leader_changed;
  // A committed operation (ProposeOp), in log order.
  std::function<void(const std::string& op)> apply_op;
  // A committed message that rolls up (a Nats-Rollup header), in log order:
  // the messages before `seq` on `filter` (its subject; empty: all) go, on
  // every replica, as the message commits (never for a tentative one). A
  // scheduled message (Nats-Schedule-Next: purge) rolls up its schedule's
  // subject (Nats-Scheduler) the same way.
  std::function<void(std::string filter, uint64_t seq)> roll_up;
  // The group takes a snapshot, after the operations above up to its
  // point: `done` (any thread) gets the stream's part of it (its
  // consumers) once what that part covers is durable on this server, so
  // the log before it may go (nullopt: it is not, and the log stays).
  std::function<void(std::function<void(std::optional<std::string> part)> done)> snapshot;
  // A snapshot received from the leader replaces the stream's part.
  std::function<void(std::string part)> restore;
};

class ClusterMeta {
 public:
  virtual ~ClusterMeta() = default;
  virtual const std::string& server_name() const = 0;
  virtual std::string cluster_name() const = 0;
  virtual bool IsLeader() = 0;
  // Whether the group has a leader this server knows of.
  virtual bool HasLeader() = 0;
  // The group stopped on this server (its disk failed) and has not caught
  // up again since: the other servers answer for it.
  virtual bool Stopped() { return false; }
  virtual std::optional<StreamAssignment> FindStream(const std::string& account, const std::string& name) = 0;
  // The account's streams, sorted by name.
  virtual std::vector<StreamAssignment> Streams(const std::string& account) = 0;
  // Members of the meta group that are reachable now (this one included).
  virtual std::vector<PlacementCandidate> Candidates() = 0;
  // Meta leader only: proposes a change. `done` runs once, on a Raft
  // thread, with an empty error once it is committed.
  virtual void Propose(const AssignmentChange& change, std::function<void(const std::string& error)> done) = 0;
  // Opens this server's replica of stream `a` (held here), in `dir`,
  // over `store` (a store::LockedStore that outlives the group), started
  // as `how` says. Null with the reason in *error on failure.
  virtual std::unique_ptr<ReplicaGroup> OpenReplica(const StreamAssignment& a, const std::string& dir,
                                                    store::Store* store, ReplicaEvents events,
                                                    const ReplicaStart& how, std::string* error) = 0;
};

// StreamInfo's and ConsumerInfo's `cluster`, for a stream held here (one
// replica: this server leads it).
inline Json ClusterInfoJson(ClusterMeta* meta) {
  return Json{{"name", meta->cluster_name()}, {"leader", meta->server_name()}};
}

}  // namespace fjord::jetstream
