#include "jscluster/stream_group.h"

#include <algorithm>

#include <fmt/format.h>
#include <xxhash.h>

#include "base/log.h"
#include "jscluster/meta.h"
#include "raft/transport.h"
#include "jetstream/types.h"
#include "proto/headers.h"
#include "store/env.h"

namespace fjord::jscluster {
namespace {
constexpr const char* kRejoiningMarker = "rejoining";
// The group's epoch (jetstream::StreamAssignment::group_epoch) the state
// here belongs to; absent for epoch 0.
constexpr const char* kEpochFile = "epoch";
}  // namespace

std::string StreamReplica::GroupName(const std::string& account, const std::string& stream, int64_t epoch) {
  std::string key = account + '\0' + stream;
  if (epoch) key += '\0' + std::to_string(epoch);
  return fmt::format("S-{:016x}", XXH64(key.data(), key.size(), 0));
}

std::unique_ptr<StreamReplica> StreamReplica::Open(raft::Transport* transport,
                                                   std::shared_ptr<raft::Scheduler> scheduler, ReplicaOptions opts,
                                                   store::Store* store, jetstream::ReplicaEvents events,
                                                   std::shared_ptr<ReplicaRegistry> registry, std::string* error) {
  std::unique_ptr<StreamReplica> r(new StreamReplica(std::move(opts), std::move(events)));
  const ReplicaOptions& o = r->opts_;
  if (auto st = store::CreateDirsDurably(o.env, o.dir); !st.ok()) {
    *error = st.msg;
    return nullptr;
  }
  // Raft state of an earlier group of the stream (scaled down to one and
  // up again while this server was away): its terms and log mean nothing
  // to the group now, which adds this server as a new member.
  std::string epoch_path = store::JoinPath(o.dir, kEpochFile);
  int64_t epoch = 0;
  if (auto e = store::ReadFileToString(o.env, epoch_path); e.ok()) epoch = std::atoll(e.value.c_str());
  if (epoch != o.group_epoch) {
    if (raft::Group::HasState(o.env, o.dir)) {
      log::Warn("JetStream cluster: stream '{} > {}': the Raft state here belongs to an earlier group; starting over "
                "as a new member",
                o.account, o.stream);
      if (auto st = store::RemoveDirDurably(o.env, o.dir); !st.ok()) {
        *error = st.msg;
        return nullptr;
      }
      if (auto st = store::CreateDirsDurably(o.env, o.dir); !st.ok()) {
        *error = st.msg;
        return nullptr;
      }
      r->opts_.joining = true;
      r->opts_.existing = false;
    }
    if (auto st = store::WriteFileDurably(o.env, epoch_path, std::to_string(o.group_epoch)); !st.ok()) {
      *error = st.msg;
      return nullptr;
    }
  }
  std::string marker = store::JoinPath(o.dir, kRejoiningMarker);
  if (o.existing && !raft::Group::HasState(o.env, o.dir)) {
    if (auto st = store::WriteFileDurably(o.env, marker, ""); !st.ok()) {
      *error = st.msg;
      return nullptr;
    }
  }
  r->transport_ = transport;
  r->scheduler_ = std::move(scheduler);
  r->store_ = store;
  r->rejoining_ = o.env->Exists(marker);
  if (r->rejoining_)
    log::Info("JetStream cluster: stream '{} > {}' rejoins its group without state: not voting until caught up",
              o.account, o.stream);
  if (*error = r->OpenGroup(); !error->empty()) return nullptr;
  r->registry_ = std::move(registry);
  if (r->registry_) r->registry_->Add(r.get());
  return r;
}

std::string StreamReplica::OpenGroup() {
  const ReplicaOptions& o = opts_;
  std::string error;
  log_ = raft::StreamLog::Open(o.env, o.dir, store_, &error, o.lazy_sync_ns);
  if (!log_) return error;
  if (log_->lost_durable() && !rejoining_) {
    // As one that lost its state: caught up first, voting after.
    if (auto st = store::WriteFileDurably(o.env, store::JoinPath(o.dir, kRejoiningMarker), ""); !st.ok())
      return st.msg;
    rejoining_ = true;
    log::Warn("JetStream cluster: stream '{} > {}' lost messages it had stored (damaged on disk): not voting until "
              "caught up",
              o.account, o.stream);
  }
  raft::GroupOptions g;
  g.name = GroupName(o.account, o.stream, o.group_epoch);
  transport_->SetVoting(g.name, !rejoining_);
  g.dir = o.dir;
  g.env = o.env;
  // Every assigned server starts with all of them as members: the first
  // leader is elected by a quorum, so no publish is acknowledged by fewer
  // servers than that. One placed by scaling up is added by the leader.
  if (o.adopt) {
    // Alone, over the stream's store (raft::GroupOptions::base_snapshot);
    // Tick adds the others.
    g.bootstrap = true;
    g.base_snapshot = log_->SnapshotHeader(store_->State().last_seq, *o.adopt);
  } else if (!o.joining) {
    std::lock_guard lock(peers_mu_);
    g.members = o.peers;
    // The first leader of a new group, the same on every member; by the
    // group's name, so that leaders spread over the servers as an election
    // would spread them (the peers are in placement order, the least
    // loaded first, which is the same server for every stream of a
    // cluster of three).
    if (!g.members.empty()) g.first_leader = g.members[XXH64(g.name.data(), g.name.size(), 0) % g.members.size()];
  }
  g.heartbeat_ms = o.heartbeat_ms;
  g.election_min_ms = o.election_min_ms;
  g.election_max_ms = o.election_max_ms;
  // Snapshots name sequences, not messages: cheap, so the stub log stays
  // short (raft/stream_log.h).
  g.snapshot_every = 4096;
  g.keep_entries = 1024;
  g.log = log_;
  opening_ = true;
  group_ = raft::Group::Open(transport_, scheduler_, g, this, &error);
  opening_ = false;
  return group_ ? std::string() : error;
}

void StreamReplica::Revive() {
  auto now = std::chrono::steady_clock::now();
  std::string halted = group_ ? group_->Halted() : "it could not be opened";
  if (halted.empty()) {
    // Working again for a while: the next failure waits the shortest pause.
    if (revive_at_ && now - *revive_at_ > kReviveMaxWait) {
      revive_at_.reset();
      revive_wait_ = kReviveFirstWait;
    }
    return;
  }
  if (!halted_since_) {
    halted_since_ = now;
    revive_at_ = now + revive_wait_;
    log::Warn("JetStream cluster: stream '{} > {}': this replica stopped ({}); it opens again in {} s", opts_.account,
              opts_.stream, halted, std::chrono::duration_cast<std::chrono::seconds>(revive_wait_).count());
    revive_wait_ = std::min(revive_wait_ * 2, kReviveMaxWait);
    return;
  }
  if (now < *revive_at_) return;
  // From disk, as at a restart: the log drops what its store does not hold
  // (raft/stream_log.h), and the leader sends it again. The meta group's
  // loop (Tick, NotCurrent for /healthz) waits meanwhile.
  std::lock_guard lock(reopen_mu_);
  group_.reset();
  log_.reset();
  staged_.clear();
  opts_.adopt.reset();  // the group has its state now
  opts_.joining = false;
  std::string err = OpenGroup();
  halted_since_.reset();
  if (!err.empty()) {
    group_.reset();
    log::Error("JetStream cluster: stream '{} > {}': this replica cannot open again: {}", opts_.account, opts_.stream,
               err);
  } else {
    log::Info("JetStream cluster: stream '{} > {}': this replica opened again and rejoins its group", opts_.account,
              opts_.stream);
  }
}

StreamReplica::~StreamReplica() {
  if (registry_) registry_->Remove(this);
  group_.reset();
}

void ReplicaRegistry::Add(StreamReplica* r) {
  std::lock_guard lock(mu_);
  replicas_.insert(r);
}

void ReplicaRegistry::Remove(StreamReplica* r) {
  std::lock_guard lock(mu_);
  replicas_.erase(r);
}

std::string ReplicaRegistry::NotCurrent() {
  std::lock_guard lock(mu_);
  for (auto* r : replicas_)
    if (auto why = r->NotCurrent(); !why.empty()) return why;
  return {};
}

std::string StreamReplica::NotCurrent() {
  std::lock_guard lock(reopen_mu_);
  std::string why;
  if (!group_) why = "it stopped and could not open again";
  else if (auto halted = group_->Halted(); !halted.empty()) why = "it stopped: " + halted;
  else if (group_->IsLeader()) return {};
  else if (rejoining_) why = "rejoining its group";
  else if (group_->Leader().empty()) why = "no leader";
  else if (!group_->CaughtUp()) why = "behind the leader";
  if (why.empty()) return {};
  return fmt::format("JetStream stream '{} > {}' is not current: {}", opts_.account, opts_.stream, why);
}

void ReplicaRegistry::TickAll() {
  std::lock_guard lock(mu_);
  for (auto* r : replicas_) r->Tick();
}

void StreamReplica::Tick() {
  std::lock_guard lock(reopen_mu_);
  int64_t now = SteadyNs();
  bool leader_known = KnowsLeader();
  if (leader_known) leader_seen_ns_ = now;
  // Stopped, reopening or rejoining counts as no time without a leader:
  // a replica revived after a long stop must not answer for the stream
  // before it has had the time to hear from one.
  if (leader_known || !group_ || !group_->Halted().empty() || rejoining_) leaderless_from_ns_ = now;
  if (!group_) return;
  if (log_) log_->SyncIfDue();
  if (rejoining_) {
    bool caught_up = group_->CaughtUp();
    bool give_up = std::chrono::nanoseconds(now - leader_seen_ns_) > kRejoinGiveUp;
    if (caught_up || give_up) {
      auto st = opts_.env->RemoveFile(store::JoinPath(opts_.dir, kRejoiningMarker));
      if (st.ok()) st = opts_.env->SyncDir(opts_.dir);
      if (st.ok()) {
        rejoining_ = false;
        transport_->SetVoting(GroupName(opts_.account, opts_.stream, opts_.group_epoch), true);
        if (caught_up) {
          log::Info("JetStream cluster: stream '{} > {}' caught up with its group (entry {}); voting again",
                    opts_.account, opts_.stream, group_->applied());
        } else {
          log::Warn("JetStream cluster: stream '{} > {}' has seen no leader for {} s while rejoining: voting again",
                    opts_.account, opts_.stream, kRejoinGiveUp.count());
        }
      }
    }
  }
  if (!group_->IsLeader()) return;
  std::vector<std::string> want;
  {
    std::lock_guard lock(peers_mu_);
    want = opts_.peers;
  }
  auto have = group_->Members();
  if (std::find(want.begin(), want.end(), opts_.self) == want.end()) {
    // Scaled down to servers without this one, which leads: it hands over
    // to one of them, which then removes it (a leader does not remove
    // itself). Asked again while it still leads.
    auto now = std::chrono::steady_clock::now();
    if (!want.empty() && now - handed_over_ > std::chrono::seconds(2)) {
      handed_over_ = now;
      if (auto e = group_->StepDown(want.front()); !e.empty())
        log::Debug("JetStream cluster: stream '{} > {}': handing over to {}: {}", opts_.account, opts_.stream,
                   want.front(), e);
    }
    return;
  }
  // One change at a time (NuRaft's rule): additions first, so a replaced
  // server leaves only once its successor is in.
  // Refused while an earlier change is under way: asked again next tick.
  for (const auto& p : want)
    if (std::find(have.begin(), have.end(), p) == have.end()) {
      if (auto e = group_->AddMember(p); !e.empty())
        log::Debug("JetStream cluster: stream '{} > {}': adding {}: {}", opts_.account, opts_.stream, p, e);
      return;
    }
  for (const auto& p : have)
    if (std::find(want.begin(), want.end(), p) == want.end() && p != opts_.self) {
      if (auto e = group_->RemoveMember(p); !e.empty())
        log::Debug("JetStream cluster: stream '{} > {}': removing {}: {}", opts_.account, opts_.stream, p, e);
      return;
    }
}

void StreamReplica::SetPeers(const std::vector<std::string>& peers) {
  std::lock_guard lock(peers_mu_);
  opts_.peers = peers;
}

// Without a group (it could not open again), still a member as far as it
// knows: it neither leads nor leaves.
std::vector<std::string> StreamReplica::Members() { return group_ ? group_->Members() : std::vector{opts_.self}; }

bool StreamReplica::Settled() { return group_ && staged_.empty() && group_->applied() >= group_->last_index(); }
bool StreamReplica::Removed() { return group_ && group_->Removed(); }

bool StreamReplica::IsLeader() { return group_ && group_->IsLeader(); }
bool StreamReplica::KnowsLeader() { return group_ && (group_->IsLeader() || !group_->Leader().empty()); }

std::chrono::milliseconds StreamReplica::Leaderless() {
  int64_t now = SteadyNs();
  if (!group_ || !group_->Halted().empty() || rejoining_) return {};
  if (KnowsLeader()) {
    leaderless_from_ns_ = now;
    return {};
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(now - leaderless_from_ns_));
}
std::string StreamReplica::Leader() { return group_ ? group_->Leader() : std::string(); }

jetstream::ReplicaGroup::Proposed StreamReplica::Propose(std::string entry, std::function<void(const std::string&)> committed,
                            std::string* error) {
  std::vector<std::string> entries = std::move(staged_);
  staged_.clear();
  if (!entry.empty()) entries.push_back(std::move(entry));
  if (entries.empty()) {
    committed({});
    return Proposed::kTaken;
  }
  if (!IsLeader()) {
    if (log_) log_->DropStaged();
    *error = "this server does not lead the stream";
    return Proposed::kNotLeader;
  }
  std::string refused = group_->ProposeAllWithResult(
      std::move(entries), [committed = std::move(committed)](const std::string& err, std::string) { committed(err); });
  if (!refused.empty()) {
    log_->DropStaged();
    *error = refused;
    return Proposed::kNotLeader;
  }
  if (log_->failed()) {
    // The entry is in the log as an empty operation: nothing was stored.
    *error = "the stream's store failed";
    return Proposed::kFailed;
  }
  return Proposed::kTaken;
}

jetstream::ReplicaGroup::Proposed StreamReplica::StageMsg(std::string_view subject, std::string_view hdr,
                                                          std::string_view data, int64_t ts, bool skip, uint64_t* seq,
                                                          std::string* error) {
  if (!IsLeader()) {
    *error = "this server does not lead the stream";
    return Proposed::kNotLeader;
  }
  std::string entry = log_->Stage(subject, hdr, data, ts, skip, seq, error);
  if (entry.empty()) return Proposed::kFailed;
  staged_.push_back(std::move(entry));
  return Proposed::kTaken;
}

jetstream::ReplicaGroup::Proposed StreamReplica::Flush(std::function<void(const std::string&)> committed,
                                                       std::string* error) {
  return Propose({}, std::move(committed), error);
}

jetstream::ReplicaGroup::Proposed StreamReplica::ProposeOp(std::string op, std::function<void(const std::string&)> committed, std::string* error) {
  return Propose(raft::StreamEntry::Op(op), std::move(committed), error);
}

std::string StreamReplica::StepDown(const std::string& preferred) {
  // Asked to hand over to itself: refused as nats-server refuses it.
  if (!IsLeader()) return "not the leader";
  if (preferred == opts_.self) return "already leader";
  return group_->StepDown(preferred);
}

jetstream::Json StreamReplica::ClusterInfo() {
  jetstream::Json j;
  j["name"] = opts_.cluster;
  j["raft_group"] = GroupName(opts_.account, opts_.stream, opts_.group_epoch);
  std::string leader = Leader();
  if (!leader.empty()) j["leader"] = leader;
  if (IsLeader() && leader_since_ > 0) j["leader_since"] = jetstream::FormatTime(leader_since_);
  jetstream::Json replicas = jetstream::Json::array();
  for (const auto& p : group_ ? group_->Peers() : std::vector<raft::PeerState>{}) {
    if (p.leader) continue;
    jetstream::Json r;
    r["name"] = p.name;
    r["current"] = p.current;
    // Unknown on a follower: reported as just seen, as nats-server does
    // for peers it has no information on.
    r["active"] = p.last_seen_ms < 0 ? 0 : p.last_seen_ms * 1000000;
    // Only the leader hears from every replica.
    if (IsLeader() && (p.last_seen_ms < 0 || p.last_seen_ms > 2 * opts_.election_max_ms)) r["offline"] = true;
    if (p.lag) r["lag"] = p.lag;
    r["peer"] = PeerHash(p.name);
    replicas.push_back(std::move(r));
  }
  if (!replicas.empty()) j["replicas"] = std::move(replicas);
  return j;
}

std::string StreamReplica::Apply(uint64_t, std::string_view data) {
  auto e = raft::StreamEntry::Decode(data);
  if (!e) {
    log::Error("JetStream cluster: stream '{} > {}': a committed entry cannot be read; skipped", opts_.account,
               opts_.stream);
    return {};
  }
  if (e->kind != raft::StreamEntry::kOp) {
    committed_seq_ = e->seq;
    if (e->kind == raft::StreamEntry::kMsg && !e->hdr.empty() && events_.roll_up) {
      // Applied again after a restart (the entries after the last
      // snapshot): harmless, what it removes is gone already.
      auto rollup = proto::GetHeader(e->hdr, "Nats-Rollup");
      if (rollup == "sub") events_.roll_up(std::string(e->subject), e->seq);
      if (rollup == "all") events_.roll_up({}, e->seq);
      // A scheduled message (2.12) takes its schedule away as it commits.
      if (proto::GetHeader(e->hdr, "Nats-Schedule-Next") == "purge")
        if (auto scheduler = proto::GetHeader(e->hdr, "Nats-Scheduler"); !scheduler.empty())
          events_.roll_up(std::string(scheduler), e->seq);
    }
    return {};
  }
  // An empty operation stands in for an entry whose store write failed.
  if (!e->data.empty() && events_.apply_op) events_.apply_op(std::string(e->data));
  return {};
}

std::string StreamReplica::Snapshot() { return log_->SnapshotHeader(committed_seq_, {}); }

void StreamReplica::SnapshotAsync(std::function<void(std::optional<std::string>)> done) {
  uint64_t seq = committed_seq_;
  if (!events_.snapshot) return done(log_->SnapshotHeader(seq, {}));
  events_.snapshot([log = log_, seq, done = std::move(done)](std::optional<std::string> part) {
    if (!part) return done(std::nullopt);
    done(log->SnapshotHeader(seq, *part));
  });
}

int StreamReplica::ReadPart(std::string_view snapshot, uint64_t id, std::string* out) {
  return log_->ReadSnapshotPart(snapshot, id, out);
}

uint64_t StreamReplica::SavePart(uint64_t id, std::string_view part) {
  return log_->SaveSnapshotPart(id, part, committed_seq_);
}

bool StreamReplica::Restore(std::string_view snapshot) {
  auto app = log_->FinishSnapshot(snapshot);
  if (!app) return false;
  committed_seq_ = *raft::StreamLog::SnapshotLastSeq(snapshot);
  if (!opening_ && events_.restore) events_.restore(std::move(*app));
  return true;
}

void StreamReplica::LeaderChanged(bool leader) {
  leader_since_ = leader ? jetstream::NowNs() : 0;
  if (events_.leader_changed) events_.leader_changed(leader);
}

}  // namespace fjord::jscluster
