#include "raft/group.h"

#include <atomic>
#include <chrono>
#include <mutex>

#include <xxhash.h>

#include <libnuraft/cluster_config.hxx>
#include <libnuraft/context.hxx>
#include <libnuraft/error_code.hxx>
#include <libnuraft/raft_params.hxx>
#include <libnuraft/logger.hxx>
#include <libnuraft/raft_server.hxx>
#include <libnuraft/snapshot.hxx>
#include <libnuraft/srv_state.hxx>
#include <libnuraft/state_machine.hxx>
#include <libnuraft/state_mgr.hxx>
#include <libnuraft/timer_task.hxx>

#include "base/log.h"
#include "raft/bytes.h"
#include "raft/log_store.h"
#include "raft/scheduler.h"
#include "raft/stream_log.h"
#include "raft/transport.h"
#include "store/coding.h"

namespace fjord::raft {
namespace {

// NuRaft's append of a proposal, on a thread marked as proposing
// (AsyncLogStore::Proposing).
nuraft::ptr<nuraft::cmd_result<nuraft::ptr<nuraft::buffer>>> Append(nuraft::raft_server& server,
                                                                     std::vector<nuraft::ptr<nuraft::buffer>>& logs) {
  AsyncLogStore::Proposing proposing;
  return server.append_entries(logs);
}

// A new group's first leader (GroupOptions::first_leader) campaigns this
// often, while it knows no leader, for this many tries: its peers open the
// group as they hear of it, and refuse it at once until then (Transport).
// After that the election timers decide, as they do for any group.
constexpr int kCampaignTries = 10;
constexpr int kCampaignEveryMs = 30;

void Campaign(const std::shared_ptr<Scheduler>& scheduler, std::weak_ptr<nuraft::raft_server> server, int tries) {
  auto s = server.lock();
  if (!s || tries <= 0 || s->get_leader() >= 0) return;
  s->campaign_now();
  // A task per try, owned by the scheduler's entry alone: nothing keeps it
  // once it has run.
  std::function<void()> next = [weak = std::weak_ptr<Scheduler>(scheduler), server, tries] {
    if (auto sched = weak.lock()) Campaign(sched, server, tries - 1);
  };
  nuraft::ptr<nuraft::delayed_task> task = nuraft::cs_new<nuraft::timer_task<void>>(next);
  scheduler->schedule(task, kCampaignEveryMs);
}

// A small state file: u64 XXH64 of the body, then the body. Written with
// WriteFileDurably (tmp file, fsync, rename), so it is whole or absent; the
// checksum catches damage after the fact.
store::Status WriteChecked(store::Env* env, const std::string& path, std::string_view body) {
  std::string data;
  store::PutU64(&data, XXH64(body.data(), body.size(), 0));
  data.append(body);
  return store::WriteFileDurably(env, path, data);
}

// Empty optional-like: ok=false with no error when the file is absent.
struct Checked {
  bool present = false;
  std::string body;
  std::string error;
};
Checked ReadChecked(store::Env* env, const std::string& path) {
  Checked c;
  if (!env->Exists(path)) return c;
  auto r = store::ReadFileToString(env, path);
  if (!r.ok()) {
    c.error = r.status.msg;
    return c;
  }
  if (r.value.size() < 8 || store::DecodeU64(r.value.data()) != XXH64(r.value.data() + 8, r.value.size() - 8, 0)) {
    c.error = path + ": checksum mismatch";
    return c;
  }
  c.present = true;
  c.body = r.value.substr(8);
  return c;
}

class Logger : public nuraft::logger {
 public:
  explicit Logger(std::string group) : group_(std::move(group)) {}
  void put_details(int level, const char*, const char*, size_t, const std::string& line) override {
    // NuRaft reports a peer that is down as an error on every retry, which
    // is routine in a cluster: only its fatal errors are ours to show.
    if (level <= 1) {
      log::Error("raft {}: {}", group_, line);
    } else if (level <= 4) {
      log::Debug("raft {}: {}", group_, line);
    } else {
      log::Trace("raft {}: {}", group_, line);
    }
  }
  int get_level() override { return log::TraceEnabled() ? 6 : log::DebugEnabled() ? 4 : 1; }

 private:
  std::string group_;
};

}  // namespace

// Halts the group (Group::Halted) for whoever finds its log failed: the
// state manager, on NuRaft's threads, or the log's durability callback. It
// outlives the Group (NuRaft's threads may still hold it), which detaches
// itself as it closes.
struct Group::Halter {
  std::mutex mu;
  Group* group = nullptr;  // guarded by mu; null once the group closes
  void Halt(const std::string& why) {
    std::lock_guard lock(mu);
    if (group) group->Halt(why);
  }
};

class Group::StateMgr : public nuraft::state_mgr {
 public:
  StateMgr(const GroupOptions& o, int32_t self_id, std::string self_name, std::shared_ptr<nuraft::log_store> log,
           std::shared_ptr<Halter> halter)
      : o_(o), self_id_(self_id), self_name_(std::move(self_name)), log_(std::move(log)), halter_(std::move(halter)) {}

  nuraft::ptr<nuraft::cluster_config> load_config() override {
    auto c = ReadChecked(o_.env, store::JoinPath(o_.dir, "config"));
    if (c.present) {
      auto b = ToBuffer(c.body);
      return nuraft::cluster_config::deserialize(*b);
    }
    // First start: the members given, all alike; else this server alone. A
    // bootstrap server elects itself; any other waits (init_options) until
    // a leader adds it, which replaces this configuration.
    auto conf = nuraft::cs_new<nuraft::cluster_config>();
    if (!o_.members.empty()) {
      for (const auto& name : o_.members)
        conf->get_servers().push_back(nuraft::cs_new<nuraft::srv_config>(Transport::PeerId(name), name));
      return conf;
    }
    conf->get_servers().push_back(nuraft::cs_new<nuraft::srv_config>(self_id_, self_name_));
    return conf;
  }
  void save_config(const nuraft::cluster_config& config) override {
    auto b = config.serialize();
    if (auto st = WriteChecked(o_.env, store::JoinPath(o_.dir, "config"), ToString(*b)); !st.ok())
      Fail("cannot save the membership: " + st.msg);
  }
  void save_state(const nuraft::srv_state& state) override {
    auto b = state.serialize();
    if (auto st = WriteChecked(o_.env, store::JoinPath(o_.dir, "state"), ToString(*b)); !st.ok())
      return Fail("cannot save term and vote: " + st.msg);
    term_.store(state.get_term());
  }
  // The last term saved (or read): NuRaft saves a term before acting in it.
  uint64_t term() const { return term_.load(); }
  nuraft::ptr<nuraft::srv_state> read_state() override {
    auto c = ReadChecked(o_.env, store::JoinPath(o_.dir, "state"));
    if (!c.present) return nullptr;
    auto b = ToBuffer(c.body);
    auto st = nuraft::srv_state::deserialize(*b);
    if (st) term_.store(st->get_term());
    return st;
  }
  nuraft::ptr<nuraft::log_store> load_log_store() override { return log_; }
  nuraft::int32 server_id() override { return self_id_; }
  void system_exit(const int code) override {
    // Pre-votes refused by a quorum many times over with no leader known:
    // the others may still hear a leader this server does not, or wait for
    // one that is gone. A question of liveness, not of safety: the server
    // and its other groups go on, and this one keeps trying (NuRaft does
    // once this returns). Said once a minute at most.
    if (code == nuraft::N22_unrecoverable_isolation) {
      int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::steady_clock::now().time_since_epoch()).count();
      if (now - isolated_said_.exchange(now) >= 60)
        log::Error("raft {}: no leader in sight and the other members refuse this server's pre-votes: still "
                   "trying",
                   o_.name);
      return;
    }
    // The group's log failed (a full disk): that group stops, not the
    // process (Group::Halted); its owner opens it again later.
    if (code == nuraft::N21_log_flush_failed) {
      halter_->Halt("its log cannot be written");
      return;
    }
    Die(fmt::format("NuRaft stopped with code {}", code));
  }

 private:
  // A member that cannot keep its promises (term, vote, membership) must
  // not go on voting: it halts, at once. The transport sends nothing more
  // for it, so the vote or term NuRaft goes on to act on never leaves, and
  // its owner reopens it from disk (with what was saved) later.
  void Fail(const std::string& why) { halter_->Halt(why); }
  // Stops the process rather than risk two leaders.
  [[noreturn]] void Die(const std::string& why) {
    log::Fatal("raft {}: {}", o_.name, why);
    std::abort();
  }
  const GroupOptions o_;
  int32_t self_id_;
  std::string self_name_;
  std::shared_ptr<nuraft::log_store> log_;
  std::shared_ptr<Halter> halter_;
  std::atomic<uint64_t> term_{0};
  std::atomic<int64_t> isolated_said_{INT64_MIN / 2};  // steady seconds
};

class Group::Machine : public nuraft::state_machine, public std::enable_shared_from_this<Group::Machine> {
 public:
  Machine(const GroupOptions& o, Fsm* fsm) : o_(o), fsm_(fsm) {}

  // Restores the saved snapshot, if any; error text.
  std::string Load() {
    auto c = ReadChecked(o_.env, store::JoinPath(o_.dir, "snapshot"));
    if (!c.error.empty()) return c.error;
    if (!c.present) return {};
    // u32 meta length, NuRaft's snapshot meta, then the Fsm's snapshot.
    if (c.body.size() < 4) return "snapshot: truncated";
    uint32_t n = store::DecodeU32(c.body.data());
    if (c.body.size() - 4 < n) return "snapshot: truncated";
    auto mb = ToBuffer(std::string_view(c.body).substr(4, n));
    auto snap = nuraft::snapshot::deserialize(*mb);
    std::string data = c.body.substr(4 + n);
    if (!fsm_->Restore(data)) return "snapshot: the state cannot be read";
    std::lock_guard lock(mu_);
    last_snapshot_ = snap;
    snapshot_data_ = std::move(data);
    last_commit_ = snap->get_last_log_idx();
    return {};
  }

  nuraft::ptr<nuraft::buffer> commit(const nuraft::ulong idx, nuraft::buffer& data) override {
    std::string result =
        fsm_->Apply(idx, std::string_view(reinterpret_cast<const char*>(data.data_begin()), data.size()));
    last_commit_ = idx;
    return result.empty() ? nullptr : ToBuffer(result);
  }
  void commit_config(const nuraft::ulong idx, nuraft::ptr<nuraft::cluster_config>&) override { last_commit_ = idx; }

  bool apply_snapshot(nuraft::snapshot& s) override {
    std::string data;
    {
      std::lock_guard lock(mu_);
      data = std::move(receiving_);
      receiving_.clear();
    }
    if (!fsm_->Restore(data)) {
      log::Error("raft {}: a snapshot received from the leader cannot be read", o_.name);
      return false;
    }
    auto meta = s.serialize();
    if (!Save(*meta, data)) return false;
    std::lock_guard lock(mu_);
    last_snapshot_ = nuraft::snapshot::deserialize(*meta);
    snapshot_data_ = std::move(data);
    last_commit_ = s.get_last_log_idx();
    return true;
  }

  void save_logical_snp_obj(nuraft::snapshot&, nuraft::ulong& obj_id, nuraft::buffer& data, bool,
                            bool) override {
    std::string part = ToString(data);
    if (obj_id == 0) {
      std::lock_guard lock(mu_);
      receiving_ = part;
    }
    // 0 is never a next part: the transfer cannot go on. NuRaft then starts
    // it over.
    obj_id = fsm_->SavePart(obj_id, part);
  }

  int read_logical_snp_obj(nuraft::snapshot& s, void*&, nuraft::ulong obj_id, nuraft::ptr<nuraft::buffer>& out,
                           bool& is_last) override {
    std::lock_guard lock(mu_);
    if (!last_snapshot_ || last_snapshot_->get_last_log_idx() != s.get_last_log_idx()) {
      // Asked for a snapshot we no longer hold: NuRaft starts over with
      // the newest one.
      out = nullptr;
      is_last = true;
      return -1;
    }
    std::string part;
    int r = fsm_->ReadPart(snapshot_data_, obj_id, &part);
    if (r < 0) {
      out = nullptr;
      is_last = true;
      return -1;
    }
    out = ToBuffer(part);
    is_last = r == 1;
    return 0;
  }

  nuraft::ptr<nuraft::snapshot> last_snapshot() override {
    std::lock_guard lock(mu_);
    return last_snapshot_;
  }
  nuraft::ulong last_commit_index() override { return last_commit_; }

  // GroupOptions::base_snapshot: saved as covering entry 1 with `config`.
  bool SaveBase(const std::string& data, nuraft::ptr<nuraft::cluster_config> config) {
    nuraft::snapshot snap(1, 0, config);
    return Save(*snap.serialize(), data);
  }

  void create_snapshot(nuraft::snapshot& s, nuraft::async_result<bool>::handler_type& when_done) override {
    auto meta = s.serialize();
    auto self = shared_from_this();
    fsm_->SnapshotAsync([self, meta, when_done](std::optional<std::string> data) {
      bool ok = data && self->Save(*meta, *data);
      if (ok) {
        std::lock_guard lock(self->mu_);
        self->last_snapshot_ = nuraft::snapshot::deserialize(*meta);
        self->snapshot_data_ = std::move(*data);
      }
      nuraft::ptr<std::exception> ex;
      when_done(ok, ex);
    });
  }

 private:
  // The snapshot file: NuRaft's meta (position and membership), then the
  // Fsm's bytes.
  bool Save(nuraft::buffer& meta, const std::string& data) {
    std::string body;
    store::PutU32(&body, static_cast<uint32_t>(meta.size()));
    body += ToString(meta);
    body += data;
    if (auto st = WriteChecked(o_.env, store::JoinPath(o_.dir, "snapshot"), body); !st.ok()) {
      log::Error("raft {}: cannot save a snapshot: {}", o_.name, st.msg);
      return false;
    }
    return true;
  }

  const GroupOptions o_;
  Fsm* fsm_;
  std::atomic<uint64_t> last_commit_{0};
  std::mutex mu_;
  nuraft::ptr<nuraft::snapshot> last_snapshot_;  // guarded by mu_
  std::string snapshot_data_;                    // guarded by mu_
  std::string receiving_;                        // guarded by mu_
};

bool Group::HasState(store::Env* env, const std::string& dir) {
  return env->Exists(store::JoinPath(dir, "state")) || env->Exists(store::JoinPath(dir, "config"));
}

std::unique_ptr<Group> Group::Open(Transport* transport, std::shared_ptr<Scheduler> scheduler, GroupOptions opts,
                                   Fsm* fsm, std::string* err, bool* damaged) {
  bool had_state = HasState(opts.env, opts.dir);
  transport->SetHalted(opts.name, false);  // an earlier member here halted
  std::unique_ptr<Group> g(new Group(std::move(opts), transport));
  const GroupOptions& o = g->opts_;
  std::shared_ptr<nuraft::log_store> log = o.log;
  g->fsm_ = fsm;
  g->halter_ = std::make_shared<Halter>();
  g->halter_->group = g.get();
  if (!log) {
    auto file = FileLogStore::Open(o.env, o.dir, err, damaged);
    if (!file) return nullptr;
    // A write or sync that fails halts the group at once, before NuRaft
    // counts the entry as stored or sends it on (the meta group's
    // log is synchronous: NuRaft never hears of the failure otherwise).
    file->OnFailed([halter = g->halter_](const std::string& why) { halter->Halt("its log failed: " + why); });
    log = std::move(file);
  }
  g->machine_ = std::make_shared<Machine>(o, fsm);
  g->mgr_ = std::make_shared<StateMgr>(o, transport->self_id(), transport->self_name(), log, g->halter_);
  if (!had_state && o.bootstrap && !o.base_snapshot.empty()) {
    // The snapshot and the log's start first, the membership last: saved,
    // it makes the next start one with state, which finds them.
    auto config = g->mgr_->load_config();
    if (!g->machine_->SaveBase(o.base_snapshot, config) || !log->compact(1)) {
      *err = "cannot save the group's first snapshot";
      return nullptr;
    }
    g->mgr_->save_config(*config);
  }
  g->last_index_at_open_ = log->next_slot() - 1;
  if (*err = g->machine_->Load(); !err->empty()) return nullptr;

  nuraft::raft_params p;
  p.heart_beat_interval_ = o.heartbeat_ms;
  p.election_timeout_lower_bound_ = o.election_min_ms;
  p.election_timeout_upper_bound_ = o.election_max_ms;
  p.rpc_failure_backoff_ = o.heartbeat_ms / 2;
  p.snapshot_distance_ = o.snapshot_every;
  p.reserved_log_items_ = o.keep_entries;
  p.client_req_timeout_ = 3000;
  p.return_method_ = nuraft::raft_params::async_handler;
  p.auto_forwarding_ = false;
  p.parallel_log_appending_ = o.log != nullptr;
  // A leader that hears from no quorum for this long steps down by itself,
  // before the others' shortest election timeout can elect a successor.
  p.leadership_expiry_ = std::max(o.election_min_ms - o.heartbeat_ms, 2 * o.heartbeat_ms);

  nuraft::ptr<nuraft::state_mgr> mgr = g->mgr_;
  nuraft::ptr<nuraft::state_machine> sm = g->machine_;
  nuraft::ptr<nuraft::rpc_listener> listener = transport->Listener(o.name);
  nuraft::ptr<nuraft::logger> logger = nuraft::cs_new<Logger>(o.name);
  nuraft::ptr<nuraft::rpc_client_factory> factory = transport->ClientFactory(o.name);
  nuraft::ptr<nuraft::delayed_task_scheduler> sched = scheduler;
  auto* ctx = new nuraft::context(mgr, sm, listener, logger, factory, sched, p);
  Group* gp = g.get();
  ctx->set_cb_func([gp, fsm](nuraft::cb_func::Type type, nuraft::cb_func::Param*) {
    if (type == nuraft::cb_func::BecomeLeader) {
      // The term lets a test's checker see that no term had two leaders.
      log::Info("raft {}: this server is the leader now (term {})", gp->opts_.name, gp->mgr_->term());
      fsm->LeaderChanged(true);
    } else if (type == nuraft::cb_func::BecomeFollower) {
      fsm->LeaderChanged(false);
    } else if (type == nuraft::cb_func::RemovedFromCluster) {
      log::Info("raft {}: this server was removed from the group", gp->opts_.name);
      gp->removed_ = true;
    }
    return nuraft::cb_func::ReturnCode::Ok;
  });
  nuraft::raft_server::init_options init;
  // A new member that is not the bootstrap server must never elect itself
  // alone: it waits for the leader that adds it (NuRaft keeps this in the
  // saved state across restarts until the first heartbeat).
  init.skip_initial_election_timeout_ = !had_state && !o.bootstrap && o.members.empty();
  init.start_server_in_constructor_ = true;
  // The log may report durability as soon as the server starts (in its
  // constructor): the callback is in place before, and finds the server
  // once it exists.
  struct ServerRef {
    std::mutex mu;
    std::weak_ptr<nuraft::raft_server> server;
  };
  auto ref = std::make_shared<ServerRef>();
  if (o.log) {
    // Wherever the log fails (a write, a sync, a leader's store refusing a
    // message), the group halts; told on the notice thread, as the log's
    // lock may be held.
    o.log->OnFailed([halter = g->halter_, notices = scheduler](const std::string& why) {
      notices->Notify([halter, why] { halter->Halt("its log failed: " + why); });
    });
    // Told on the store's sync thread; NuRaft takes the group's lock to
    // hear it, which a thread flushing the log may hold while it waits for
    // that very sync thread: so heard on the scheduler's notice thread.
    o.log->OnDurable([ref, notices = scheduler](bool ok) {
      // A failed batch is not told to NuRaft, which would stop the process
      // (a follower) or resign and go on with a log that stores nothing (a
      // leader): the log failed, and OnFailed halts the group.
      if (!ok) return;
      notices->Notify([ref, ok] {
        std::shared_ptr<nuraft::raft_server> s;
        {
          std::lock_guard lock(ref->mu);
          s = ref->server.lock();
        }
        if (s) s->notify_log_append_completion(ok);
      });
    });
  }
  g->server_ = std::make_shared<nuraft::raft_server>(ctx, init);
  {
    std::lock_guard lock(ref->mu);
    ref->server = g->server_;
  }
  // Halted while NuRaft started (the log failed at once): stopped now.
  if (g->halted_) g->server_->stop_server();
  g->listener_ = listener;
  nuraft::ptr<nuraft::msg_handler> h = g->server_;
  listener->listen(h);
  if (!had_state && !o.members.empty() && o.first_leader == transport->self_name())
    Campaign(scheduler, g->server_, kCampaignTries);
  return g;
}

Group::~Group() {
  if (halter_) {
    std::lock_guard lock(halter_->mu);
    halter_->group = nullptr;
  }
  // No more requests reach the server once it is shutting down.
  if (listener_) listener_->stop();
  if (server_) server_->shutdown();
}

void Group::Halt(const std::string& why) {
  {
    std::lock_guard lock(halt_mu_);
    if (halted_) return;
    halt_why_ = why;
    halted_ = true;
  }
  log::Error("raft {}: {}: this server stops taking part in the group, which the other members carry on",
             opts_.name, why);
  transport_->SetHalted(opts_.name, true);
  if (!server_) return;  // Open stops it once it exists
  bool was_leader = server_->is_leader();
  // Lock-free in NuRaft: callers may hold its lock. Its threads see
  // `stopping` and end what they were doing (a follower's wait for the
  // batch too, see third_party/nuraft/README.fjord.md); its pending
  // proposals are cancelled (their proposers told), and it no longer
  // answers, votes or sends heartbeats.
  server_->stop_server();
  if (was_leader) fsm_->LeaderChanged(false);
}

std::string Group::Halted() const {
  if (!halted_) return {};
  std::lock_guard lock(halt_mu_);
  return halt_why_;
}

bool Group::IsLeader() const { return !halted_ && server_->is_leader(); }

bool Group::Removed() const { return removed_.load() || transport_->ToldToLeave(opts_.name); }

std::string Group::NameOf(int32_t id) const {
  auto conf = server_->get_config();
  if (auto s = conf->get_server(id)) return s->get_endpoint();
  return {};
}

std::string Group::Leader() const {
  if (halted_) return {};  // it no longer hears from one
  int32_t id = server_->get_leader();
  if (id < 0) return {};
  return NameOf(id);
}

uint64_t Group::term() const { return server_->get_term(); }
uint64_t Group::committed() const { return server_->get_committed_log_idx(); }
uint64_t Group::leader_committed() const { return server_->get_leader_committed_log_idx(); }

uint64_t Group::applied() const { return machine_->last_commit_index(); }
uint64_t Group::last_index() const { return server_->get_last_log_idx(); }

std::vector<std::string> Group::Members() const {
  std::vector<std::string> out;
  for (auto& s : server_->get_config()->get_servers()) out.push_back(s->get_endpoint());
  return out;
}

std::vector<PeerState> Group::Peers() const {
  std::vector<PeerState> out;
  int32_t leader = server_->get_leader();
  bool is_leader = server_->is_leader();
  uint64_t last = server_->get_last_log_idx();
  std::vector<nuraft::raft_server::peer_info> infos;
  if (is_leader) infos = server_->get_peer_info_all();
  for (auto& s : server_->get_config()->get_servers()) {
    PeerState ps;
    ps.name = s->get_endpoint();
    ps.self = s->get_id() == transport_->self_id();
    ps.leader = s->get_id() == leader;
    if (ps.self) {
      ps.current = true;
      ps.last_seen_ms = 0;
    }
    for (auto& i : infos) {
      if (i.id_ != s->get_id()) continue;
      ps.lag = last > i.last_log_idx_ ? last - i.last_log_idx_ : 0;
      ps.last_seen_ms = static_cast<int64_t>(i.last_succ_resp_us_ / 1000);
      ps.current = ps.lag == 0 || ps.last_seen_ms < 2 * opts_.election_min_ms;
    }
    out.push_back(std::move(ps));
  }
  return out;
}

void Group::Propose(std::string data, std::function<void(const std::string&)> done) {
  std::vector<nuraft::ptr<nuraft::buffer>> logs{ToBuffer(data)};
  auto res = Append(*server_, logs);
  if (!res->get_accepted() && res->get_result_code() != nuraft::cmd_result_code::OK) {
    done(res->get_result_str());
    return;
  }
  res->when_ready([done = std::move(done)](nuraft::cmd_result<nuraft::ptr<nuraft::buffer>>& r,
                                           nuraft::ptr<std::exception>&) {
    if (r.get_result_code() == nuraft::cmd_result_code::OK) {
      done({});
    } else {
      done(r.get_result_str());
    }
  });
}

std::string Group::ProposeWithResult(std::string data,
                                     std::function<void(const std::string&, std::string)> done) {
  std::vector<std::string> one;
  one.push_back(std::move(data));
  return ProposeAllWithResult(std::move(one), std::move(done));
}

std::string Group::ProposeAllWithResult(std::vector<std::string> entries,
                                        std::function<void(const std::string&, std::string)> done) {
  if (halted_) return "this server stopped taking part in the group";
  std::vector<nuraft::ptr<nuraft::buffer>> logs;
  logs.reserve(entries.size());
  for (const auto& e : entries) logs.push_back(ToBuffer(e));
  auto res = Append(*server_, logs);
  if (!res->get_accepted() && res->get_result_code() != nuraft::cmd_result_code::OK) {
    std::string err = res->get_result_str();
    return err.empty() ? "refused" : err;
  }
  res->when_ready([done = std::move(done)](nuraft::cmd_result<nuraft::ptr<nuraft::buffer>>& r,
                                           nuraft::ptr<std::exception>&) {
    if (r.get_result_code() != nuraft::cmd_result_code::OK) {
      done(r.get_result_str(), {});
      return;
    }
    auto b = r.get();
    done({}, b ? ToString(*b) : std::string());
  });
  // Halted while appending (its log failed on this very append): the halt
  // may have cancelled what was pending before this proposal was, so it is
  // cancelled now (its `done` told), not when the group closes.
  if (halted_) server_->stop_server();
  return {};
}

std::string Group::StepDown(const std::string& preferred) {
  if (!server_->is_leader()) return "not the leader";
  int successor = -1;
  if (!preferred.empty()) {
    successor = Transport::PeerId(preferred);
    if (!server_->get_config()->get_server(successor)) return "no such member: " + preferred;
  }
  if (server_->get_config()->get_servers().size() < 2) return "no other member to take over";
  // The graceful handover: writes pause, and once the successor (named,
  // or the most responsive member) has the whole log it is told to take
  // over; an immediate yield would ignore the successor.
  server_->yield_leadership(/*immediate_yield=*/false, successor);
  return {};
}

std::string Group::AddMember(const std::string& name) {
  if (!server_->is_leader()) return "not the leader";
  nuraft::srv_config sc(Transport::PeerId(name), name);
  auto r = server_->add_srv(sc);
  if (!r->get_accepted()) return r->get_result_str();
  return {};
}

std::string Group::RemoveMember(const std::string& name) {
  if (!server_->is_leader()) return "not the leader";
  auto r = server_->remove_srv(Transport::PeerId(name));
  if (!r->get_accepted()) return r->get_result_str();
  return {};
}

}  // namespace fjord::raft
