#pragma once
// The JetStream meta group: one Raft group (raft/group.h) over every
// JetStream server of a Fjord cluster. It elects the meta leader, which
// admits servers into the group as their routes come up, and it will hold
// the cluster's stream and consumer assignments (docs/architecture.md,
// "Replicated streams").
//
// Forming the group on first start, when no server has meta state yet:
// - a server waits until each of its configured routes has reached its
//   server (or led back to itself); if it knows of servers beyond those
//   (by gossip), it also waits for that set to stay unchanged for `settle`;
// - the server with the lowest name among them starts the group alone and
//   elects itself; every other waits to be added and never elects itself
//   before (so two halves of a cluster that start apart cannot each form a
//   group, as long as each knows the lowest-named server through its
//   configured routes);
// - the leader then adds every JetStream server it has a route to, one at
//   a time, as nats-server's meta leader adds peers it learns of.
// A server with meta state on disk rejoins with its saved membership. One
// without, that the leader already counts as a member (its store was lost),
// hears the leader's heartbeats and joins at once rather than forming.
//
// The group's state is the stream assignments (jetstream/cluster.h): the
// meta leader of an account's JetStream proposes them, and every server
// applies them in log order and hands each change to the account's
// JetStream. Once this server's state has caught up with the leader's (and
// after each snapshot it installs), each JetStream reconciles the streams
// it holds with its assignments.
//
// Requests (system account): `$JS.API.META.LEADER.STEPDOWN` (the leader
// hands over, optionally to `placement.preferred`), `$JS.API.SERVER.REMOVE`
// (the leader removes a server from the group by `peer` name).
//
// Threads: one of its own for the formation loop and requests; the Raft
// transport's and NuRaft's threads for the group.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <map>

#include "jetstream/cluster.h"
#include "jscluster/stream_group.h"
#include "raft/group.h"
#include "server/sublist.h"

namespace fjord::server {
class Account;
}
namespace fjord::cluster {
class Cluster;
}
namespace fjord::jetstream {
class JetStream;
}
namespace fjord::raft {
class Scheduler;
class Transport;
}  // namespace fjord::raft

namespace fjord::jscluster {

struct MetaOptions {
  std::string server_name;
  std::vector<std::string> server_tags;  // for placement (`placement.tags`)
  std::string store_dir;  // the group's files go under <store_dir>/jetstream/_meta_
  std::chrono::milliseconds settle{2000};
  std::chrono::milliseconds tick{250};
  // Raft timing (raft::GroupOptions).
  int heartbeat_ms = 150;
  int election_min_ms = 750;
  int election_max_ms = 1500;
};

// nats-server's short peer id of a server name (8 characters of the
// base64url SHA-256 of the name), shown in /jsz and cluster info.
std::string PeerHash(const std::string& server_name);

class MetaGroup : public raft::Fsm, public jetstream::ClusterMeta {
 public:
  // `sys` is the system account, `cl` the cluster layer; both outlive this.
  MetaGroup(server::Account* sys, cluster::Cluster* cl, MetaOptions opts);
  ~MetaGroup() override;

  // After the cluster has started. Error text on failure.
  std::string Start();
  void Shutdown();

  // An account's JetStream takes part from now on (it is told the meta
  // group, and gets the assignment changes). Before Start, or any time.
  void AddJetStream(jetstream::JetStream* js);

  // /jsz `meta_cluster` (nats-server's MetaClusterInfo). Thread-safe.
  nlohmann::ordered_json ClusterInfo();

  // jetstream::ClusterMeta (thread-safe)
  const std::string& server_name() const override { return opts_.server_name; }
  std::string cluster_name() const override;
  bool IsLeader() override;
  bool HasLeader() override;  // also for /healthz
  bool Stopped() override { return stopped_.load(); }
  // Why /healthz should say this server is not current (empty when it is):
  // its meta member still catching up (not voting: a rolling restart that
  // stopped the next server now could leave the group without a quorum),
  // or (`with_replicas`) a stream replica here behind its leader (the first
  // found). Any thread.
  std::string NotCurrent(bool with_replicas);
  std::optional<jetstream::StreamAssignment> FindStream(const std::string& account, const std::string& name) override;
  std::vector<jetstream::StreamAssignment> Streams(const std::string& account) override;
  std::vector<jetstream::PlacementCandidate> Candidates() override;
  void Propose(const jetstream::AssignmentChange& change, std::function<void(const std::string& error)> done) override;
  std::unique_ptr<jetstream::ReplicaGroup> OpenReplica(const jetstream::StreamAssignment& a, const std::string& dir,
                                                       store::Store* store, jetstream::ReplicaEvents events,
                                                       const jetstream::ReplicaStart& how, std::string* error) override;

  // raft::Fsm
  std::string Apply(uint64_t index, std::string_view data) override;
  std::string Snapshot() override;
  bool Restore(std::string_view snapshot) override;
  void LeaderChanged(bool leader) override;

 private:
  // The group once the loop has opened it; null before.
  std::shared_ptr<raft::Group> group();
  void Run();
  void Tick();
  void TryOpen();
  void SetAsideDamaged(const std::string& why);
  void Revive(const std::string& why);
  void ApplyChange(uint64_t index, std::string_view data);
  void AdmitPeers();
  void OnStepDown(std::string reply, std::string body);
  void OnServerRemove(std::string reply, std::string body);
  void Reply(const std::string& reply, const nlohmann::json& j);
  // Hands each account's assignments to its JetStream (caught up, or a
  // snapshot installed).
  void ReconcileAll();
  jetstream::JetStream* JetStreamOf(const std::string& account);

  server::Account* sys_;
  cluster::Cluster* cl_;
  MetaOptions opts_;
  std::string dir_;
  std::unique_ptr<raft::Transport> transport_;
  std::shared_ptr<raft::Scheduler> scheduler_;
  std::shared_ptr<ReplicaRegistry> replicas_ = std::make_shared<ReplicaRegistry>();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                      // guarded by mu_
  std::vector<std::function<void()>> work_;                // guarded by mu_
  std::shared_ptr<raft::Group> group_;                     // set once by the loop; guarded by mu_
  std::vector<std::string> known_;                         // peers seen at the last tick (loop thread)
  std::chrono::steady_clock::time_point known_since_{};    // loop thread
  std::vector<server::SubPtr> subs_;
  std::thread thread_;

  std::mutex js_mu_;
  std::map<std::string, jetstream::JetStream*> jetstreams_;  // by account; guarded by js_mu_

  // The replicated state, guarded by state_mu_: the stream assignments by
  // account and name, and entries of a newer server this one cannot read
  // (kept in its snapshots, not dropped).
  std::mutex state_mu_;
  std::map<std::string, std::map<std::string, jetstream::StreamAssignment>> streams_;
  nlohmann::json unknown_ = nlohmann::json::array();
  // Entries up to this index are replayed from the log at start: nobody is
  // answered for them (set once the group is open).
  std::atomic<uint64_t> replay_until_{UINT64_MAX};
  std::atomic<bool> reconciled_{false};  // caught up once since start
  std::atomic<bool> stopped_{false};     // halted here, not caught up since (Revive)
  // The meta group halted here: when it is opened again (loop thread).
  static constexpr std::chrono::milliseconds kReviveFirstWait{5000}, kReviveMaxWait{60000};
  std::chrono::steady_clock::time_point revive_at_{}, reopened_{};
  std::chrono::milliseconds revive_wait_ = kReviveFirstWait;
  // Opened without state, not caught up yet: not voting (set on the loop
  // thread, read by /healthz too).
  std::atomic<bool> rejoining_{false};
};

}  // namespace fjord::jscluster
