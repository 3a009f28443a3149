#include "jscluster/meta.h"

#include <openssl/sha.h>

#include <algorithm>

#include "base/base64.h"
#include "base/log.h"
#include "cluster/cluster.h"
#include "jetstream/errors.h"
#include "jetstream/jetstream.h"
#include "raft/scheduler.h"
#include "raft/transport.h"
#include "server/account.h"
#include "store/env.h"

namespace fjord::jscluster {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kStepDown = "$JS.API.META.LEADER.STEPDOWN";
constexpr const char* kServerRemove = "$JS.API.SERVER.REMOVE";
constexpr const char* kGroup = "meta";
// In the group's directory while a member that opened without state has not
// caught up yet (MetaGroup::TryOpen).
constexpr const char* kRejoiningMarker = "rejoining";

Json ErrorReply(const char* type, const jetstream::ApiError& e) { return Json{{"type", type}, {"error", e.ToJson()}}; }

// An assignment as the meta log and snapshots carry it.
nlohmann::json Encode(const jetstream::StreamAssignment& a) {
  nlohmann::json j = {{"account", a.account}, {"config", a.config}, {"peers", a.peers}, {"created", a.created}};
  if (a.group_epoch) j["group_epoch"] = a.group_epoch;
  return j;
}

bool Decode(const nlohmann::json& j, jetstream::StreamAssignment* a) {
  if (!j.is_object()) return false;
  auto acc = j.find("account");
  auto cfg = j.find("config");
  auto peers = j.find("peers");
  if (acc == j.end() || !acc->is_string() || cfg == j.end() || !cfg->is_object() || peers == j.end() ||
      !peers->is_array())
    return false;
  a->account = acc->get<std::string>();
  a->config = *cfg;
  a->peers.clear();
  for (const auto& p : *peers)
    if (p.is_string()) a->peers.push_back(p.get<std::string>());
  a->created = j.value("created", int64_t(0));
  a->group_epoch = j.value("group_epoch", int64_t(0));
  return true;
}

const char* OpName(jetstream::AssignmentChange::Op op) {
  switch (op) {
    case jetstream::AssignmentChange::Op::kCreate: return "stream.create";
    case jetstream::AssignmentChange::Op::kUpdate: return "stream.update";
    case jetstream::AssignmentChange::Op::kDelete: return "stream.delete";
  }
  return "";
}

}  // namespace

std::string PeerHash(const std::string& name) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(name.data()), name.size(), d);
  // The first 8 characters of the unpadded base64url encoding: 6 bytes.
  return base64::Encode(std::string_view(reinterpret_cast<const char*>(d), 6), /*url=*/true, /*pad=*/false);
}

MetaGroup::MetaGroup(server::Account* sys, cluster::Cluster* cl, MetaOptions opts)
    : sys_(sys), cl_(cl), opts_(std::move(opts)) {
  dir_ = store::JoinPath(store::JoinPath(opts_.store_dir, "jetstream"), "$SYS/_js_/_meta_");
}

MetaGroup::~MetaGroup() { Shutdown(); }

std::string MetaGroup::Start() {
  if (opts_.server_name.empty()) return "JetStream in a cluster requires `server_name` to be set";
  transport_ = std::make_unique<raft::Transport>(sys_, opts_.server_name);
  transport_->Start();
  scheduler_ = std::make_shared<raft::Scheduler>();
  auto post = [this](std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      work_.push_back(std::move(fn));
    }
    cv_.notify_one();
  };
  subs_.push_back(sys_->SubscribeInternal(
      kStepDown,
      [this, post](const server::InternalMsg& m) {
        post([this, reply = std::string(m.reply), body = std::string(m.data)] { OnStepDown(reply, body); });
      },
      /*propagate=*/true));
  subs_.push_back(sys_->SubscribeInternal(
      kServerRemove,
      [this, post](const server::InternalMsg& m) {
        post([this, reply = std::string(m.reply), body = std::string(m.data)] { OnServerRemove(reply, body); });
      },
      /*propagate=*/true));
  thread_ = std::thread([this] { Run(); });
  return {};
}

void MetaGroup::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& s : subs_) sys_->UnsubscribeInternal(s);
  subs_.clear();
  std::shared_ptr<raft::Group> g;
  {
    std::lock_guard lock(mu_);
    g = std::move(group_);
  }
  g.reset();  // shuts the Raft server down
  if (transport_) transport_->Stop();
  if (scheduler_) scheduler_->Stop();
}

void MetaGroup::Run() {
  pthread_setname_np(pthread_self(), "fjord-meta");
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, opts_.tick, [this] { return stop_ || !work_.empty(); });
    if (stop_) break;
    auto work = std::move(work_);
    work_.clear();
    lock.unlock();
    for (auto& w : work) w();
    Tick();
    lock.lock();
  }
}

std::shared_ptr<raft::Group> MetaGroup::group() {
  std::lock_guard lock(mu_);
  return group_;
}

void MetaGroup::Tick() {
  replicas_->TickAll();
  auto g = group();
  if (!g) return TryOpen();
  if (std::string why = g->Halted(); !why.empty()) {
    stopped_ = true;
    g.reset();  // Revive closes it: no reference outlives it here
    return Revive(why);
  }
  if (g->IsLeader()) AdmitPeers();
  if (rejoining_ && g->CaughtUp()) {
    // Everything the group had committed when we heard of it is here now.
    auto* env = store::DefaultEnv();
    auto st = env->RemoveFile(store::JoinPath(dir_, kRejoiningMarker));
    if (st.ok()) st = env->SyncDir(dir_);
    if (st.ok()) {
      rejoining_ = false;
      transport_->SetVoting(kGroup, true);
      log::Info("JetStream cluster: caught up with the meta group (entry {}); voting again", g->applied());
    }
  }
  // Caught up: a leader is known, everything it told us is committed is
  // applied, and so is every entry this server had logged before it
  // started (a stream on disk was made by one of those: until they are
  // applied, such a stream would look unknown to the cluster). A member
  // that rejoins without state (wiped, or set aside as damaged) waits for
  // all the group had committed when it rejoined: the first entries it is
  // sent, applied, name only some of the streams its disk holds, and the
  // others would be set aside as unknown.
  uint64_t applied = g->applied();
  if (!reconciled_ && !rejoining_ && !g->Leader().empty() && applied >= g->committed() &&
      applied >= g->last_index_at_open() && g->committed() > 0) {
    reconciled_ = true;
    stopped_ = false;
    ReconcileAll();
  }
}

void MetaGroup::AddJetStream(jetstream::JetStream* js) {
  js->SetClusterMeta(this);
  {
    std::lock_guard lock(js_mu_);
    jetstreams_[js->account()->name()] = js;
  }
  if (reconciled_) js->Reconcile(Streams(js->account()->name()));
}

jetstream::JetStream* MetaGroup::JetStreamOf(const std::string& account) {
  std::lock_guard lock(js_mu_);
  auto it = jetstreams_.find(account);
  return it == jetstreams_.end() ? nullptr : it->second;
}

void MetaGroup::ReconcileAll() {
  std::vector<jetstream::JetStream*> all;
  {
    std::lock_guard lock(js_mu_);
    for (auto& [name, js] : jetstreams_) all.push_back(js);
  }
  for (auto* js : all) js->Reconcile(Streams(js->account()->name()));
}

void MetaGroup::TryOpen() {
  bool has_state = raft::Group::HasState(store::DefaultEnv(), dir_);
  bool bootstrap = false;
  if (!has_state && transport_->AskedFor(kGroup)) {
    // The leader already counts this server as a member (its store was
    // lost or wiped): join, never start a second group.
    log::Warn("JetStream cluster: no meta state here, but the meta group counts this server as a member: rejoining");
  } else if (!has_state) {
    auto configured = cl_->ConfiguredPeers();
    if (!configured) return;
    std::vector<std::string> known;
    for (auto& r : cl_->Routes(false))
      if (r.fjord_jetstream && !r.remote_name.empty()) known.push_back(r.remote_name);
    std::sort(known.begin(), known.end());
    // When the configured routes name every server known (the usual config
    // lists them all), there is nobody left to hear of; otherwise gossip
    // may still bring some, so the set must hold still for `settle`.
    bool complete = known.size() <= *configured;
    auto now = std::chrono::steady_clock::now();
    if (known != known_ || known_since_ == std::chrono::steady_clock::time_point{}) {
      known_ = known;
      known_since_ = now;
      if (!complete) return;
    }
    if (!complete && now - known_since_ < opts_.settle) return;
    bootstrap = known.empty() || opts_.server_name < known.front();
    // The server that would start the group listens first: if a group
    // already exists (this server's state was lost, wiped or set aside as
    // damaged), its leader's heartbeats, or a candidate's vote requests,
    // reach it within an election timeout, and it rejoins (above) instead
    // of starting a second group.
    if (bootstrap && !known.empty() && now - known_since_ < std::chrono::milliseconds(opts_.election_max_ms + 500))
      return;
    log::Info("JetStream cluster: forming the meta group with {} other server(s){}", known.size(),
              bootstrap ? "; this server starts it" : "; waiting to be added by the leader");
  }
  // A member that opens without state (added by the leader, wiped, or set
  // aside as damaged) neither votes nor stands until it has caught up once
  // (Tick): until then its log may lack entries the group committed. The
  // marker keeps that across a restart in between.
  auto* env = store::DefaultEnv();
  std::string marker = store::JoinPath(dir_, kRejoiningMarker);
  if (!has_state && !bootstrap) {
    auto st = store::CreateDirsDurably(env, dir_);
    if (st.ok()) st = store::WriteFileDurably(env, marker, "");
    if (!st.ok()) {
      log::Error("JetStream cluster: cannot write {}: {}", marker, st.msg);
      return;
    }
  }
  rejoining_ = env->Exists(marker);
  transport_->SetVoting(kGroup, !rejoining_);
  raft::GroupOptions o;
  o.name = kGroup;
  o.dir = dir_;
  o.env = env;
  o.bootstrap = bootstrap;
  o.heartbeat_ms = opts_.heartbeat_ms;
  o.election_min_ms = opts_.election_min_ms;
  o.election_max_ms = opts_.election_max_ms;
  std::string err;
  bool damaged = false;
  auto g = raft::Group::Open(transport_.get(), scheduler_, o, this, &err, &damaged);
  if (!g && damaged) return SetAsideDamaged(err);
  if (!g) {
    log::Error("JetStream cluster: cannot open the meta group in {}: {}", dir_, err);
    return;
  }
  replay_until_ = g->last_index_at_open();
  std::lock_guard lock(mu_);
  group_ = std::move(g);
}

// The meta group halted here: its log, term, vote or membership could
// not be written (a full disk). The server and its streams go on; the
// other members carry the group. After a wait (5 s, doubling to a minute
// while it halts again) it is closed, its state forgotten, and opened
// from disk by the next tick as at a start (TryOpen): its log replayed,
// then caught up from the leader, and the streams reconciled again once
// it has.
void MetaGroup::Revive(const std::string& why) {
  auto now = std::chrono::steady_clock::now();
  if (revive_at_ == std::chrono::steady_clock::time_point{}) {
    // A halt long after the last reopening starts the waits over.
    if (now - reopened_ > kReviveMaxWait) revive_wait_ = kReviveFirstWait;
    revive_at_ = now + revive_wait_;
    log::Error("JetStream cluster: the meta group stopped on this server ({}); opening it again in {} s", why,
               std::chrono::duration_cast<std::chrono::seconds>(revive_wait_).count());
    return;
  }
  if (now < revive_at_) return;
  revive_at_ = {};
  reopened_ = now;
  revive_wait_ = std::min(revive_wait_ * 2, kReviveMaxWait);
  std::shared_ptr<raft::Group> old;
  {
    std::lock_guard lock(mu_);
    old = std::move(group_);
  }
  old.reset();
  reconciled_ = false;
  {
    std::lock_guard lock(state_mu_);
    streams_.clear();
    unknown_ = nlohmann::json::array();
  }
  log::Info("JetStream cluster: opening the meta group again from disk");
  TryOpen();
}

// A meta log damaged in the middle (a record failing its checksum with
// valid ones after it) is not cut and used: entries this server
// acknowledged would be gone. Its whole meta state is moved aside, kept
// for inspection, and the server rejoins as one whose state was lost: the
// leader sends it everything again (TryOpen, next tick). Streams on its
// disk are untouched; they are reconciled once it has caught up.
void MetaGroup::SetAsideDamaged(const std::string& why) {
  auto* env = store::DefaultEnv();
  std::string aside = fmt::format("{}.damaged-{}", dir_,
                                  std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
  auto st = env->Rename(dir_, aside);
  if (st.ok()) st = env->SyncDir(store::ParentDir(dir_));
  if (!st.ok()) {
    log::Error("JetStream cluster: the meta log is damaged ({}), and setting it aside failed: {}", why, st.msg);
    return;
  }
  log::Error("JetStream cluster: the meta log is damaged ({}); its state is set aside in {} and this server "
             "rejoins the meta group, which sends it everything again",
             why, aside);
}

void MetaGroup::AdmitPeers() {
  auto g = group();
  auto members = g->Members();
  for (auto& r : cl_->Routes(false)) {
    if (!r.fjord_jetstream || r.remote_name.empty()) continue;
    if (std::find(members.begin(), members.end(), r.remote_name) != members.end()) continue;
    // NuRaft takes one membership change at a time; the others wait for
    // the next ticks.
    if (auto err = g->AddMember(r.remote_name); err.empty()) {
      log::Info("JetStream cluster: adding {} to the meta group", r.remote_name);
    } else {
      log::Debug("JetStream cluster: adding {} to the meta group: {}", r.remote_name, err);
    }
    return;
  }
}

void MetaGroup::Reply(const std::string& reply, const nlohmann::json& j) {
  if (reply.empty()) return;
  sys_->PublishInternal(reply, {}, {}, j.dump());
}

void MetaGroup::OnStepDown(std::string reply, std::string body) {
  auto g = group();
  // Every server hears the request; only the leader answers (nats-server).
  if (!g || !g->IsLeader()) return;
  const char* type = "io.nats.jetstream.api.v1.meta_leader_stepdown_response";
  std::string preferred;
  if (!body.empty()) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Reply(reply, ErrorReply(type, jetstream::MakeError(jetstream::Err::InvalidJSON, {{"err", "bad request"}})));
    }
    if (auto p = j.find("placement"); p != j.end() && p->is_object()) {
      if (auto pr = p->find("preferred"); pr != p->end() && pr->is_string()) preferred = pr->get<std::string>();
    }
  }
  if (!preferred.empty()) {
    auto m = g->Members();
    if (std::find(m.begin(), m.end(), preferred) == m.end()) {
      return Reply(reply, ErrorReply(type, jetstream::MakeError(jetstream::Err::ClusterNoPeers,
                                                                {{"err", "preferred server \"" + preferred +
                                                                             "\" not known"}})));
    }
  }
  if (auto err = g->StepDown(preferred); !err.empty()) {
    return Reply(reply, ErrorReply(type, jetstream::MakeError(jetstream::Err::ClusterNoPeers, {{"err", err}})));
  }
  log::Info("JetStream cluster: meta leader stepping down{}", preferred.empty() ? "" : " to " + preferred);
  Reply(reply, Json{{"type", type}, {"success", true}});
}

void MetaGroup::OnServerRemove(std::string reply, std::string body) {
  auto g = group();
  if (!g || !g->IsLeader()) return;
  const char* type = "io.nats.jetstream.api.v1.meta_server_remove_response";
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Reply(reply, ErrorReply(type, jetstream::MakeError(jetstream::Err::BadRequest)));
  }
  std::string peer = j.value("peer", std::string());
  std::string peer_id = j.value("peer_id", std::string());
  std::string name;
  for (auto& m : g->Members()) {
    if ((!peer.empty() && m == peer) || (!peer_id.empty() && PeerHash(m) == peer_id)) name = m;
  }
  if (name.empty()) {
    return Reply(reply, ErrorReply(type, jetstream::MakeError(jetstream::Err::ClusterServerNotMember)));
  }
  if (name == opts_.server_name) {
    // The leader cannot remove itself; it hands over first (nats-server
    // asks the operator to step it down).
    return Reply(reply, ErrorReply(type, jetstream::MakeError(jetstream::Err::ClusterNoPeers,
                                                              {{"err", "the meta leader cannot remove itself: "
                                                                       "step it down first"}})));
  }
  if (auto err = g->RemoveMember(name); !err.empty()) {
    return Reply(reply, ErrorReply(type, jetstream::MakeError(jetstream::Err::RaftGeneral, {{"err", err}})));
  }
  log::Info("JetStream cluster: removing {} from the meta group", name);
  Reply(reply, Json{{"type", type}, {"success", true}});
}

std::string MetaGroup::cluster_name() const { return cl_->name(); }

nlohmann::ordered_json MetaGroup::ClusterInfo() {
  auto g = group();
  Json j;
  j["name"] = cluster_name();
  if (!g) {
    j["cluster_size"] = 0;
    return j;
  }
  std::string leader = g->Leader();
  if (!leader.empty()) {
    j["leader"] = leader;
    j["peer"] = PeerHash(leader);
  }
  auto peers = g->Peers();
  // The leader knows how its followers do; it alone lists them.
  if (g->IsLeader()) {
    Json reps = Json::array();
    for (auto& p : peers) {
      if (p.self) continue;
      Json r;
      r["name"] = p.name;
      r["current"] = p.current;
      bool offline = p.last_seen_ms < 0 || p.last_seen_ms > 2 * opts_.election_max_ms;
      if (offline) r["offline"] = true;
      r["active"] = p.last_seen_ms < 0 ? 0 : p.last_seen_ms * 1000000;
      if (p.lag) r["lag"] = p.lag;
      r["peer"] = PeerHash(p.name);
      reps.push_back(r);
    }
    if (!reps.empty()) j["replicas"] = reps;
  }
  j["cluster_size"] = peers.size();
  return j;
}

std::string MetaGroup::NotCurrent(bool with_replicas) {
  // nats-server's wording for a meta member that is not current.
  if (rejoining_) return "JetStream is not current with the meta leader";
  return with_replicas ? replicas_->NotCurrent() : std::string();
}

bool MetaGroup::HasLeader() {
  auto g = group();
  return g && !g->Leader().empty();
}

bool MetaGroup::IsLeader() {
  auto g = group();
  return g && g->IsLeader();
}

std::optional<jetstream::StreamAssignment> MetaGroup::FindStream(const std::string& account,
                                                                const std::string& name) {
  std::lock_guard lock(state_mu_);
  auto acc = streams_.find(account);
  if (acc == streams_.end()) return std::nullopt;
  auto it = acc->second.find(name);
  if (it == acc->second.end()) return std::nullopt;
  return it->second;
}

std::vector<jetstream::StreamAssignment> MetaGroup::Streams(const std::string& account) {
  std::vector<jetstream::StreamAssignment> out;
  std::lock_guard lock(state_mu_);
  if (auto acc = streams_.find(account); acc != streams_.end())
    for (const auto& [name, a] : acc->second) out.push_back(a);
  return out;
}

std::vector<jetstream::PlacementCandidate> MetaGroup::Candidates() {
  auto g = group();
  if (!g) return {};
  auto members = g->Members();
  auto is_member = [&](const std::string& n) { return std::find(members.begin(), members.end(), n) != members.end(); };
  std::vector<jetstream::PlacementCandidate> out;
  if (is_member(opts_.server_name)) out.push_back({opts_.server_name, opts_.server_tags, 0});
  for (auto& r : cl_->Routes(false))
    if (r.fjord_jetstream && is_member(r.remote_name)) out.push_back({r.remote_name, r.tags, 0});
  std::lock_guard lock(state_mu_);
  for (auto& c : out)
    for (const auto& [account, streams] : streams_)
      for (const auto& [name, a] : streams)
        if (a.Holds(c.name)) c.streams++;
  return out;
}

void MetaGroup::Propose(const jetstream::AssignmentChange& c, std::function<void(const std::string& error)> done) {
  auto g = group();
  if (!g) return done("the meta group is not running");
  nlohmann::json op = {{"op", OpName(c.op)}, {"name", c.name}, {"stream", Encode(c.stream)}};
  if (!c.reply.empty()) op["reply"] = c.reply;
  g->Propose(op.dump(), std::move(done));
}

std::unique_ptr<jetstream::ReplicaGroup> MetaGroup::OpenReplica(const jetstream::StreamAssignment& a,
                                                                 const std::string& dir, store::Store* store,
                                                                 jetstream::ReplicaEvents events,
                                                                 const jetstream::ReplicaStart& how,
                                                                 std::string* error) {
  if (!transport_) {
    *error = "the meta group has not started";
    return nullptr;
  }
  ReplicaOptions o;
  o.account = a.account;
  o.stream = a.name();
  o.group_epoch = a.group_epoch;
  o.cluster = cluster_name();
  o.self = opts_.server_name;
  o.peers = a.peers;
  o.dir = dir;
  o.env = store::DefaultEnv();
  o.existing = how.existing;
  o.joining = how.joining;
  o.adopt = how.adopt;
  o.lazy_sync_ns = how.lazy_sync_ns;
  o.heartbeat_ms = opts_.heartbeat_ms;
  o.election_min_ms = opts_.election_min_ms;
  o.election_max_ms = opts_.election_max_ms;
  return StreamReplica::Open(transport_.get(), scheduler_, std::move(o), store, std::move(events), replicas_, error);
}

std::string MetaGroup::Apply(uint64_t index, std::string_view data) {
  ApplyChange(index, data);
  return {};
}

void MetaGroup::ApplyChange(uint64_t index, std::string_view data) {
  auto op = nlohmann::json::parse(data, nullptr, false);
  if (op.is_discarded() || !op.is_object()) {
    log::Error("JetStream cluster: meta entry {} cannot be read; skipped", index);
    return;
  }
  using Change = jetstream::AssignmentChange;
  std::string kind = op.value("op", std::string());
  Change c{Change::Op::kCreate, Change::Outcome::kApplied, {}, op.value("name", std::string()),
           op.value("reply", std::string()), index <= replay_until_};
  jetstream::StreamAssignment a;
  bool known = kind == "stream.create" || kind == "stream.update" || kind == "stream.delete";
  if (!known || !op.contains("stream") || !Decode(op["stream"], &a) || c.name.empty()) {
    // An entry of a newer server, kept for it rather than dropped.
    std::lock_guard lock(state_mu_);
    unknown_.push_back(op);
    return;
  }
  {
    std::lock_guard lock(state_mu_);
    auto& acc = streams_[a.account];
    auto it = acc.find(c.name);
    if (kind == "stream.create") {
      if (it == acc.end()) {
        acc[c.name] = a;
        c.stream = a;
      } else {
        c.outcome = it->second.config == a.config ? Change::Outcome::kSame : Change::Outcome::kConflict;
        c.stream = it->second;
      }
    } else if (it == acc.end()) {
      c.op = kind == "stream.update" ? Change::Op::kUpdate : Change::Op::kDelete;
      c.outcome = Change::Outcome::kMissing;
      c.stream = a;
    } else if (kind == "stream.update") {
      c.op = Change::Op::kUpdate;
      it->second.config = a.config;
      // Scaling changes where it is held (an update carries the peers), and
      // up from one replica begins a group (its epoch).
      if (!a.peers.empty()) it->second.peers = a.peers;
      if (a.group_epoch) it->second.group_epoch = a.group_epoch;
      c.stream = it->second;
    } else {
      c.op = Change::Op::kDelete;
      c.stream = it->second;
      acc.erase(it);
    }
    if (acc.empty()) streams_.erase(a.account);
  }
  if (auto* js = JetStreamOf(a.account)) js->ApplyAssignment(std::move(c));
}

std::string MetaGroup::Snapshot() {
  nlohmann::json streams = nlohmann::json::array();
  std::lock_guard lock(state_mu_);
  for (const auto& [account, acc] : streams_)
    for (const auto& [name, a] : acc) streams.push_back(Encode(a));
  return nlohmann::json{{"streams", std::move(streams)}, {"unknown", unknown_}}.dump();
}

bool MetaGroup::Restore(std::string_view snapshot) {
  auto j = nlohmann::json::parse(snapshot, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  std::map<std::string, std::map<std::string, jetstream::StreamAssignment>> streams;
  if (auto s = j.find("streams"); s != j.end() && s->is_array()) {
    for (const auto& e : *s) {
      jetstream::StreamAssignment a;
      if (!Decode(e, &a) || a.name().empty()) return false;
      streams[a.account][a.name()] = std::move(a);
    }
  }
  {
    std::lock_guard lock(state_mu_);
    streams_ = std::move(streams);
    unknown_ = j.value("unknown", nlohmann::json::array());
  }
  // A snapshot from the leader replaces the state wholesale: streams may
  // have come or gone without an entry to apply.
  if (reconciled_) ReconcileAll();
  return true;
}

void MetaGroup::LeaderChanged(bool leader) {
  if (leader) log::Info("JetStream cluster: this server is the meta leader");
}

}  // namespace fjord::jscluster
