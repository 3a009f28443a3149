#include "jetstream/stream.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <mutex>
#include <unordered_set>

#include <xxhash.h>

#include "base/base64.h"
#include "base/log.h"
#include "jetstream/advisory.h"
#include "jetstream/api_common.h"
#include "jetstream/cluster.h"
#include "jetstream/consumer.h"
#include "jetstream/consumer_config.h"
#include "jetstream/counter.h"
#include "proto/headers.h"
#include "jetstream/jetstream.h"
#include "jetstream/sourcing.h"
#include "proto/parser.h"
#include "store/env.h"
#include "store/locked_store.h"

namespace fjord::jetstream {
namespace {

constexpr size_t kMaxHeaderSize = 65535;
constexpr std::string_view kBatchIdHeader = "Nats-Batch-Id";
constexpr std::string_view kScheduleHeader = "Nats-Schedule";
constexpr std::string_view kScheduleTtlHeader = "Nats-Schedule-TTL";
constexpr std::string_view kScheduleTargetHeader = "Nats-Schedule-Target";
constexpr std::string_view kSchedulerHeader = "Nats-Scheduler";
constexpr std::string_view kScheduleNextHeader = "Nats-Schedule-Next";

store::Limits LimitsFor(const StreamConfig& c) {
  store::Limits l;
  // With discard new the stream rejects instead; the store must not evict.
  bool evict = c.discard == Discard::kOld;
  l.max_msgs = evict ? c.max_msgs : -1;
  l.max_bytes = evict ? c.max_bytes : -1;
  // With per-message TTLs the stream expires by age itself: a "never" TTL
  // outlives max_age, and an expiring last message may leave a marker.
  l.max_age_ns = c.allow_msg_ttl ? 0 : c.max_age;
  l.max_msgs_per_subject = c.max_msgs_per_subject;
  return l;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

uint64_t MsgIdHash(std::string_view id) { return XXH3_64bits(id.data(), id.size()); }

constexpr int64_t kSecond = 1'000'000'000;
constexpr std::string_view kTtlHeader = "Nats-TTL";

// A Nats-TTL value as nats-server 2.11 reads it: "never" (any case) is -1;
// a Go duration of at least a second, or a whole number of seconds, is
// that many seconds (0 = no TTL); anything else is invalid (false).
bool ParseMessageTtl(std::string_view v, int64_t* secs) {
  *secs = 0;
  if (v.empty()) return true;
  std::string lower(v);
  for (auto& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "never") {
    *secs = -1;
    return true;
  }
  std::string_view d = v;
  if (d.front() == '+') d.remove_prefix(1);
  int64_t ns = 0;
  // Go parses "0" as a duration (too short) but no other bare number.
  if (d == "0") return false;
  if (d.front() != '-' && ParseGoDuration(d, &ns)) {
    if (ns < kSecond) return false;
    *secs = ns / kSecond;
    return true;
  }
  uint64_t n = 0;
  if (!ParseU64(v, &n) || n > uint64_t(INT64_MAX / kSecond)) return false;
  *secs = int64_t(n);
  return true;
}

// A subject delete marker, or a KV purge (nats-server's
// isSubjectDeleteMarker): its expiry leaves no marker of its own.
bool IsDeleteMarker(std::string_view hdr) {
  if (hdr.empty()) return false;
  return !proto::GetHeader(hdr, "Nats-Marker-Reason").empty() || proto::GetHeader(hdr, "KV-Operation") == "PURGE";
}

// nats-server's default sync_interval: how lazily a store or Raft log syncs
// when nothing else says.
constexpr int64_t kLazySyncDefault = 120 * kSecond;

// How often a file stream's store syncs, 0 for before every acknowledgment:
// the server's lazy mode (sync_interval), or the stream's 2.12
// `persist_mode: async` (acknowledged once written, as lazy mode does for
// the whole server; at the server's sync_interval, or nats-server's 2
// minutes).
int64_t LazySyncNs(const JetStream* js, const StreamConfig& cfg) {
  if (!js->options().sync_always) return js->options().sync_interval_ns;
  return cfg.persist_async ? kLazySyncDefault : 0;
}

}  // namespace

Stream::Stream(JetStream* js, StreamConfig cfg, int64_t created)
    : js_(js), cfg_(std::move(cfg)), created_(created) {
  SetTransforms();
}

void Stream::SetTransforms() {
  // Validated by CheckStreamConfig; a stored config that fails now (an
  // older server's) leaves subjects alone rather than stopping the stream.
  std::string err;
  republish_.reset();
  if (cfg_.republish) {
    republish_ = proto::SubjectTransform::Make(cfg_.republish->src, cfg_.republish->dest, &err);
    if (!republish_) log::Error("JetStream stream '{}': republish disabled: {}", cfg_.name, err);
  }
  input_transform_.reset();
  if (cfg_.subject_transform) {
    input_transform_ = proto::SubjectTransform::Make(cfg_.subject_transform->src, cfg_.subject_transform->dest, &err);
    if (!input_transform_) log::Error("JetStream stream '{}': subject transform disabled: {}", cfg_.name, err);
  }
}

uint64_t Stream::RepublishPrevious(const std::string& subject) {
  if (!republish_) return 0;
  auto last = store_->LoadLast(subject);
  return last.ok() ? last.value.seq : 0;
}

void Stream::Republish(const std::string& subject, std::string_view hdr, std::string_view data, uint64_t seq,
                       uint64_t previous) {
  if (!republish_) return;
  auto dest = republish_->Apply(subject);
  if (!dest) return;
  std::string seq_text = std::to_string(seq), prev_text = std::to_string(previous);
  std::string h = proto::AddHeaders(hdr, {{"Nats-Stream", cfg_.name},
                                   {"Nats-Subject", subject},
                                   {"Nats-Sequence", seq_text},
                                   {"Nats-Last-Sequence", prev_text}});
  bool headers_only = cfg_.republish->headers_only;
  if (headers_only) h = proto::AddHeaders(h, {{"Nats-Msg-Size", std::to_string(data.size())}});
  // Published once the message is durable, like its PubAck: a subscriber
  // never sees a republished message that a crash could take back.
  js_->SendAfterSync(shared_from_this(), [js = js_, to = std::move(*dest), h = std::move(h),
                                      d = headers_only ? std::string() : std::string(data)] {
    js->Send(to, "", h, d);
  });
}

// The outcome of a proposal, for whoever waits on it: the last proposal of
// a work's batch stands for all of it (the group commits in log order).
class Stream::CommitWait {
 public:
  void Done(const std::string& error) {
    std::vector<std::function<void(store::Status)>> fns;
    {
      std::lock_guard lock(mu_);
      done_ = true;
      error_ = error;
      fns.swap(fns_);
    }
    for (auto& fn : fns) fn(Status());
  }
  void Then(std::function<void(store::Status)> fn) {
    {
      std::lock_guard lock(mu_);
      if (!done_) {
        fns_.push_back(std::move(fn));
        return;
      }
    }
    fn(Status());
  }

 private:
  store::Status Status() const {
    if (error_.empty()) return {};
    return {store::Errc::kIo, "not committed: " + error_};
  }
  std::mutex mu_;
  bool done_ = false;
  std::string error_;
  std::vector<std::function<void(store::Status)>> fns_;
};

Stream::~Stream() = default;

std::string Stream::StartReplica(const StreamAssignment& a, ReplicaStart how) {
  ClusterMeta* meta = js_->meta();
  if (!meta) return "not in a cluster";
  // A memory stream keeps no message over a restart (a replica rejoins
  // without state), so a Raft log synced at every batch would promise
  // nothing more: it syncs as a lazy file stream's does.
  how.lazy_sync_ns = cfg_.storage == Storage::kFile ? LazySyncNs(js_, cfg_) : kLazySyncDefault;
  std::weak_ptr<Stream> weak = shared_from_this();
  JetStream* js = js_;
  ReplicaEvents events;
  events.leader_changed = [weak, js](bool leader) {
    js->Post([weak, leader] {
      if (auto s = weak.lock()) s->OnLeaderChanged(leader);
    });
  };
  // In log order: the JetStream thread runs posted work in order. Counted
  // while posted: the stream is not reopened without the group (scaled
  // down to one) before what was committed is applied.
  auto applying = applying_;
  events.apply_op = [weak, js, applying](const std::string& op) {
    applying->fetch_add(1);
    js->Post([weak, op, applying] {
      if (auto s = weak.lock()) s->ApplyOp(op);
      applying->fetch_sub(1);
    });
  };
  events.roll_up = [weak, js, applying](std::string filter, uint64_t seq) {
    applying->fetch_add(1);
    js->Post([weak, filter = std::move(filter), seq, applying] {
      if (auto s = weak.lock()) s->RollUp(filter, seq);
      applying->fetch_sub(1);
    });
  };
  events.snapshot = [weak, js](std::function<void(std::optional<std::string>)> done) {
    js->Post([weak, done = std::move(done)] {
      // A stream gone takes its group with it: no snapshot is owed.
      if (auto s = weak.lock()) s->SnapshotPart(std::move(done));
    });
  };
  events.restore = [weak, js](std::string part) {
    js->Post([weak, part = std::move(part)] {
      if (auto s = weak.lock()) s->RestorePart(part);
    });
  };
  std::string dir = js_->StreamDir(cfg_.name) + "/raft";
  if (cfg_.storage == Storage::kMemory) {
    // A memory replica starts empty: its log would name messages it lost,
    // so it starts without one and the leader sends it everything.
    if (js_->env()->IsDir(dir)) {
      if (auto st = store::RemoveDirDurably(js_->env(), dir); !st.ok()) return st.msg;
    }
  }
  std::string err;
  if (how.adopt) {
    how.adopt = EncodeConsumerSnapshot(local_consumers_);
    for (const auto& [name, lc] : local_consumers_)
      LogConsumerState(cfg_.name, name, "in the new group's first snapshot", *lc.store);
  }
  group_epoch_ = a.group_epoch;
  replica_ = meta->OpenReplica(a, dir, store_.get(), std::move(events), how, &err);
  return replica_ ? std::string() : err;
}

void Stream::OnLeaderChanged(bool leader) {
  if (!replica_) return;
  if (!leader) {
    lead_pending_ = false;
    // What waits for this replica to serve stays (WhenLeading), but for
    // what nobody waits for any more.
    std::erase_if(when_leading_, [now = NowNs()](const auto& w) { return w.first < now; });
    if (!running_ && subs_.empty()) return;
    running_ = false;
    Unsubscribe();
    StopConsumers();
    return;
  }
  // Changed again since, or about to leave the group (ReadyForOne).
  if (!replica_->IsLeader() || running_ || lead_pending_ || quiet_for_one_) return;
  // Entries of earlier terms are applied after NuRaft names this server
  // leader: it serves once its own first entry is applied, so everything
  // committed before it (messages, consumer state) is in place here.
  lead_id_ = op_base_ + next_op_++;
  std::string err;
  std::weak_ptr<Stream> weak = shared_from_this();
  JetStream* js = js_;
  uint64_t id = lead_id_;
  FlushStaged();
  auto r = replica_->ProposeOp(
      Json{{"op", "lead"}, {"id", id}, {"by", js_->meta()->server_name()}}.dump(),
      [weak, js, id](const std::string& e) {
        if (e.empty()) return;
        js->Post([weak, id] {
          if (auto s = weak.lock(); s && s->lead_id_ == id) s->lead_pending_ = false;
        });
      },
      &err);
  // Refused (a leadership transfer under way): Tick tries again.
  lead_pending_ = r == ReplicaGroup::Proposed::kTaken;
}

void Stream::StartServing() {
  running_ = true;
  readable_ = store_->State().last_seq;
  // This leader's "lead" operation is applied: everything before it is
  // committed. A wait left from an earlier term (failed as that term
  // ended) must not fail what is answered now: a duplicate publish of a
  // message stored then would get no PubAck, retry after retry.
  last_commit_.reset();
  latest_.reset();
  // An atomic batch the previous leader did not finish: never readable,
  // and removed on every replica through the group.
  if (auto torn = TornBatch(); !torn.empty()) {
    readable_ = torn.back() - 1;
    log::Warn("JetStream stream '{}': removing {} message(s) of a batch the previous leader did not finish",
              cfg_.name, torn.size());
    for (uint64_t seq : torn) RemoveMsg(seq);
  }
  // What the previous leader stored is here: its msg ids count for
  // duplicates from now on.
  RebuildDedupe();
  Subscribe();
  StartReplicatedConsumers(this);
  // The previous leader's expiries and retention removals may not have
  // reached the group: this leader finds them again.
  RebuildTtls();
  SweepRetained();
  RebuildSchedules();
  // Where copying resumes, from what this leader holds (a previous
  // leader's positions may have covered a tail the group cut).
  if (sourcing_) sourcing_ = std::make_unique<Sourcing>(this);
  auto fns = std::move(when_leading_);
  when_leading_.clear();
  int64_t now = NowNs();
  for (auto& [until, fn] : fns)
    if (until >= now) fn();
}

LocalConsumers Stream::Locals() {
  LocalConsumers l;
  l.consumers = &local_consumers_;
  l.open = [this](const std::string& name, std::string_view meta) {
    ConsumerConfig cfg;
    auto j = Json::parse(meta, nullptr, false);
    if (j.is_object() && j.contains("config")) (void)ParseConsumerConfig(j["config"], &cfg);
    return OpenConsumerStore(js_, *this, name, cfg);
  };
  return l;
}

void Stream::StopConsumers() {
  for (auto& [name, c] : consumers_) c->Relinquish();
  consumers_.clear();
  tickers_.clear();
  expiring_.clear();
}

std::unique_ptr<store::ConsumerStore> Stream::NewReplicatedConsumerStore(const std::string& name,
                                                                         const ConsumerConfig& cfg) {
  if (!replicated_) return nullptr;
  std::weak_ptr<Stream> weak = shared_from_this();
  ReplicatedConsumerStore::Hooks h;
  h.propose = [weak](std::string op) -> std::string {
    auto s = weak.lock();
    return s ? s->ProposeConsumerOp(std::move(op)) : "the stream is gone";
  };
  h.when_committed = [weak](std::function<void(store::Status)> done) {
    auto s = weak.lock();
    if (!s) return done({store::Errc::kClosed, "the stream is gone"});
    s->WhenCommitted(std::move(done));
  };
  h.local = [weak, name]() -> std::shared_ptr<store::ConsumerStore> {
    auto s = weak.lock();
    if (!s) return nullptr;
    auto it = s->local_consumers_.find(name);
    return it == s->local_consumers_.end() ? nullptr : it->second.store;
  };
  return std::make_unique<ReplicatedConsumerStore>(name, std::move(h), LeaderOnly(cfg, config()));
}

std::string Stream::ProposeConsumerOp(std::string op) {
  if (!replica_ || !running_) return "this server does not lead the stream";
  FlushStaged();
  auto wait = std::make_shared<CommitWait>();
  std::string err;
  auto r = replica_->ProposeOp(std::move(op), [wait](const std::string& e) { wait->Done(e); }, &err);
  if (r != ReplicaGroup::Proposed::kTaken) return err.empty() ? "not proposed" : err;
  latest_ = std::move(wait);
  return {};
}

void Stream::WhenCommitted(std::function<void(store::Status)> done) {
  if (!latest_) return done({});
  latest_->Then(std::move(done));
}

void Stream::SnapshotPart(std::function<void(std::optional<std::string>)> done) {
  // The part is the consumers as applied up to the snapshot's point (this
  // runs after the operations before it, in log order); the log before it
  // goes only once they, and the stream's own operations, are durable.
  auto part = std::make_shared<std::string>(EncodeConsumerSnapshot(local_consumers_));
  auto remaining = std::make_shared<std::atomic<size_t>>(local_consumers_.size() + 1);
  auto failed = std::make_shared<std::atomic<bool>>(false);
  std::string name = cfg_.name;
  JetStream* js = js_;
  auto one = [part, remaining, failed, done, name, js](store::Status st) {
    if (!st.ok()) {
      failed->store(true);
      log::Error("JetStream stream '{}': a sync before a snapshot failed: {}", name, st.msg);
    }
    if (remaining->fetch_sub(1) != 1) return;
    // Not on a store's sync thread: NuRaft takes the group's lock to
    // compact, which a thread waiting for that very sync (a follower's log
    // flush) may hold.
    js->Post([part, failed, done] {
      // Without the sync, the snapshot must not let the log go (NuRaft
      // tries again later).
      if (failed->load()) return done(std::nullopt);
      done(*part);
    });
  };
  for (auto& [n, lc] : local_consumers_) lc.store->Sync(one);
  store_->Sync(one);
}

void Stream::RestorePart(const std::string& part) {
  if (!RestoreConsumerSnapshot(part, Locals(), cfg_.name))
    log::Error("JetStream stream '{}': the consumers of a snapshot cannot be read", cfg_.name);
}

void Stream::AdvanceReadable(uint64_t seq) {
  if (!running_ || seq <= readable_) return;
  readable_ = seq;
  for (auto& [name, c] : consumers_) c->Signal();
}

void Stream::ProposeOp(Json op, std::function<void(const ApiError&, Json)> done) {
  if (!replica_) return done(MakeError(Err::ClusterNotAvail), {});
  uint64_t id = op_base_ + next_op_++;
  op["id"] = id;
  op["by"] = js_->meta()->server_name();
  // Messages stored after this proposal are not the operation's: every
  // replica applies it to the sequences up to here, whatever tentative
  // tail it has at the time.
  op["upto"] = store_->State().last_seq;
  pending_ops_[id] = std::move(done);
  std::weak_ptr<Stream> weak = shared_from_this();
  JetStream* js = js_;
  std::string err;
  FlushStaged();
  auto wait = std::make_shared<CommitWait>();
  auto r = replica_->ProposeOp(op.dump(), [weak, js, id, wait](const std::string& e) {
    wait->Done(e);
    if (e.empty()) return;  // answered as it is applied
    js->Post([weak, id, e] {
      auto s = weak.lock();
      if (!s) return;
      auto it = s->pending_ops_.find(id);
      if (it == s->pending_ops_.end()) return;
      auto fn = std::move(it->second);
      s->pending_ops_.erase(it);
      log::Warn("JetStream stream '{}': an operation was not committed: {}", s->name(), e);
      fn(MakeError(Err::ClusterNotAvail), {});
    });
  }, &err);
  if (r == ReplicaGroup::Proposed::kTaken) latest_ = std::move(wait);
  if (r != ReplicaGroup::Proposed::kTaken) {
    auto fn = std::move(pending_ops_[id]);
    pending_ops_.erase(id);
    fn(r == ReplicaGroup::Proposed::kNotLeader ? MakeError(Err::ClusterNotAvail)
                                                 : MakeError(Err::StreamGeneralErrorF, {{"err", err}}),
       {});
  }
}

void Stream::ProposePurge(const std::string& filter, uint64_t seq, uint64_t keep,
                          std::function<void(const ApiError&, Json)> done) {
  if (cfg_.deny_purge) return done(MakeError(Err::StreamPurgeFailedF, {{"err", "stream purge not permitted"}}), {});
  if (keep > 0) {
    // Replicas may hold different tentative tails: they are told the
    // sequence to purge below, found here, not the count to keep. It is
    // that of the keep-th newest message on `filter` (NumPending falls as
    // its start rises).
    auto st = store_->State();
    uint64_t lo = st.first_seq, hi = st.last_seq + 1;
    if (st.msgs == 0 || store_->NumPending(filter, lo) <= keep) return done({}, Json{{"purged", 0}});
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo + 1) / 2;
      if (store_->NumPending(filter, mid) >= keep) lo = mid;
      else hi = mid - 1;
    }
    seq = lo;
  }
  ProposeOp(Json{{"op", "purge"}, {"filter", filter}, {"seq", seq}}, std::move(done));
}

void Stream::ProposeDeleteMsg(uint64_t seq, bool erase, std::function<void(const ApiError&, Json)> done) {
  if (cfg_.deny_delete)
    return done(MakeError(Err::StreamMsgDeleteFailedF, {{"err", "message delete not permitted"}}), {});
  ProposeOp(Json{{"op", "delete"}, {"seq", seq}, {"erase", erase}}, std::move(done));
}

void Stream::ApplyOp(const std::string& text) {
  if (ConsumerOp::Is(text)) {
    if (!ApplyConsumerOp(text, Locals(), cfg_.name))
      log::Error("JetStream stream '{}': a committed consumer operation cannot be read; skipped", cfg_.name);
    return;
  }
  auto op = Json::parse(text, nullptr, false);
  if (op.is_discarded() || !op.is_object()) {
    log::Error("JetStream stream '{}': a committed operation cannot be read; skipped", cfg_.name);
    return;
  }
  std::string kind = op.value("op", std::string());
  uint64_t upto = op.value("upto", uint64_t(0));
  ApiError err;
  Json result;
  if (kind == "purge") {
    // Up to the proposal's last sequence (Purge's bound is exclusive).
    uint64_t seq = op.value("seq", uint64_t(0));
    uint64_t bound = seq == 0 ? upto + 1 : std::min(seq, upto + 1);
    uint64_t purged = 0;
    err = Purge(op.value("filter", std::string()), bound, 0, &purged);
    result["purged"] = purged;
  } else if (kind == "lead") {
    if (op.value("id", uint64_t(0)) != lead_id_ || op.value("by", std::string()) != js_->meta()->server_name())
      return;
    lead_pending_ = false;
    if (!running_ && replica_ && replica_->IsLeader()) StartServing();
    return;
  } else if (kind == "remove") {
    // Retention and TTLs: not the API's message delete (deny_delete does
    // not apply), and nobody to answer.
    uint64_t first = store_->State().first_seq;
    for (const auto& seq : op.value("seqs", Json::array()))
      if (seq.is_number_unsigned() && seq.get<uint64_t>() <= upto) store_->Remove(seq.get<uint64_t>(), false);
    js_->TouchStream(shared_from_this());
    if (uint64_t now_first = store_->State().first_seq; now_first != first)
      for (auto& [name, c] : consumers_) c->OnStreamPurged(now_first);
  } else if (kind == "delete") {
    uint64_t seq = op.value("seq", uint64_t(0));
    err = seq > upto ? MakeError(Err::SequenceNotFound, {{"seq", std::to_string(seq)}})
                     : DeleteMsg(seq, op.value("erase", true));
  } else {
    log::Error("JetStream stream '{}': a committed operation '{}' is unknown here; skipped", cfg_.name, kind);
    return;
  }
  if (op.value("by", std::string()) != js_->meta()->server_name()) return;
  auto it = pending_ops_.find(op.value("id", uint64_t(0)));
  if (it == pending_ops_.end()) return;
  auto fn = std::move(it->second);
  pending_ops_.erase(it);
  fn(err, std::move(result));
}

void Stream::Leave(const std::vector<std::string>& peers) {
  leaving_ = true;
  if (replica_) replica_->SetPeers(peers);
}

void Stream::KeepAlone(const StreamConfig& cfg, const std::vector<std::string>& peers) {
  keep_alone_ = cfg;
  if (replica_) replica_->SetPeers(peers);
}

bool Stream::LeaveDone() {
  if (!leaving_ || !replica_) return false;
  auto members = replica_->Members();
  if (!replica_->Removed() &&
      std::find(members.begin(), members.end(), js_->meta()->server_name()) != members.end())
    return false;
  // Told by the leader (which has everything committed) before the change
  // removing it is committed: it stays a moment, so the group can count it
  // for that change (the last but one member's vote is needed).
  int64_t now = NowNs();
  if (!left_at_) left_at_ = now;
  return now - left_at_ >= 2 * kSecond;
}

void Stream::StayReplicated() {
  leaving_ = false;
  left_at_ = 0;
  keep_alone_.reset();
  if (quiet_for_one_) {
    quiet_for_one_ = false;
    OnLeaderChanged(replica_ && replica_->IsLeader());
  }
}

bool Stream::ReadyForOne() {
  if (!keep_alone_ || !replica_) return false;
  if (!quiet_for_one_) {
    if (!Serving()) return false;
    auto members = replica_->Members();
    if (members.size() != 1 || members[0] != js_->meta()->server_name()) return false;
    // Alone in the group. What was proposed must be applied before the
    // stream leaves it (an ack the closing group confirmed would be in no
    // consumer's store), and nothing new is proposed meanwhile: publishes
    // wait (clients retry) and consumers stop until the stream is reopened
    // as a plain one, a tick or two later.
    quiet_for_one_ = true;
    running_ = false;
    Unsubscribe();
    StopConsumers();
  }
  return replica_->Settled() && applying_->load() == 0;
}

void Stream::WhenLeading(std::function<void()> fn) {
  if (Serving() && replica_) return fn();
  when_leading_.emplace_back(NowNs() + kWhenLeadingFor, std::move(fn));
}

void Stream::FlushStaged() {
  if (!staged_) return;
  staged_ = false;
  auto wait = std::make_shared<CommitWait>();
  std::string err;
  auto r = replica_ ? replica_->Flush([wait](const std::string& e) { wait->Done(e); }, &err)
                    : ReplicaGroup::Proposed::kNotLeader;
  // Refused: the publishes waiting for it acknowledge nothing (their
  // messages left the store); clients retry.
  if (r != ReplicaGroup::Proposed::kTaken) wait->Done(err.empty() ? "not proposed" : err);
  last_commit_ = wait;
  latest_ = std::move(wait);
}

void Stream::WhenDurable(std::function<void(store::Status)> done) {
  FlushStaged();
  if (last_commit_) {
    auto wait = std::move(last_commit_);
    last_commit_.reset();
    // Consumers deliver what is committed: the batch's messages, once it is.
    uint64_t seq = store_->State().last_seq;
    std::weak_ptr<Stream> weak = shared_from_this();
    JetStream* js = js_;
    return wait->Then([done = std::move(done), weak, js, seq](store::Status st) {
      if (st.ok()) {
        js->Post([weak, seq] {
          if (auto s = weak.lock()) s->AdvanceReadable(seq);
        });
      }
      done(st);
    });
  }
  // No message this work: its operations (a consumer's removal, say).
  if (replicated_) return WhenCommitted(std::move(done));
  store_->Sync(std::move(done));
}

store::Result<uint64_t> Stream::StoreMsg(std::string_view subject, std::string_view hdr, std::string_view data,
                                         int64_t ts, bool skip) {
  if (!replicated_) return skip ? store_->SkipMsg() : store_->Append(subject, hdr, data, ts);
  if (!replica_) return {{store::Errc::kClosed, "the stream's replica is not running"}, 0};
  // Stored now, proposed with the rest of this work's messages in one
  // append (FlushStaged, as the work ends or before an operation).
  std::string err;
  uint64_t seq = 0;
  switch (replica_->StageMsg(subject, hdr, data, ts, skip, &seq, &err)) {
    case ReplicaGroup::Proposed::kTaken:
      break;
    case ReplicaGroup::Proposed::kNotLeader:
      return {{store::Errc::kClosed, err}, 0};
    case ReplicaGroup::Proposed::kFailed:
      return {{store::Errc::kIo, err}, 0};
  }
  staged_ = true;
  return {{}, seq};
}

std::shared_ptr<Stream> Stream::Open(JetStream* js, const StreamConfig& cfg, int64_t created,
                                     bool recover, ApiError* err, std::unique_ptr<store::Store> held) {
  std::shared_ptr<Stream> s(new Stream(js, cfg, created));
  if (held) {
    held->SetLimits(LimitsFor(cfg));
    s->store_ = std::move(held);
  } else if (cfg.storage == Storage::kMemory) {
    s->store_ = store::NewMemStore(LimitsFor(cfg));
  } else {
    store::FileStoreOptions fo;
    fo.dir = js->StreamDir(cfg.name);
    int64_t lazy = LazySyncNs(js, cfg);
    fo.sync = lazy > 0 ? store::SyncMode::kInterval : store::SyncMode::kAlways;
    fo.sync_interval_ns = lazy;
    fo.cache = js->options().index_cache;
    fo.compress = cfg.compression == "s2";
    auto r = store::OpenFileStore(js->env(), fo, LimitsFor(cfg));
    if (!r.ok()) {
      *err = MakeError(Err::StreamCreate, {{"err", r.status.msg}});
      return nullptr;
    }
    s->store_ = std::move(r.value);
  }
  if (cfg.num_replicas > 1 && js->options().clustered) {
    // The Raft log writes and reads it from its own threads.
    s->replicated_ = true;
    s->store_ = std::make_unique<store::LockedStore>(std::move(s->store_));
  }
  if (!recover) {
    if (cfg.first_seq > 1) {
      // Sequences start at first_seq: consume the ones before it.
      while (s->store_->State().last_seq + 1 < cfg.first_seq) s->store_->SkipMsg();
    }
    auto st = s->WriteMeta();
    if (!st.ok()) {
      s->store_->Delete();
      *err = MakeError(Err::StreamCreate, {{"err", st.msg}});
      return nullptr;
    }
  } else {
    // A replica's tail may be tentative: its leader decides (StartServing).
    if (!s->replicated_) {
      s->DropTornBatch();
      s->SkipLostTail();
    }
    s->RebuildDedupe();
    s->RebuildTtls();
    s->RebuildSchedules();
    s->durable_last_seq_ = s->store_->State().last_seq;
  }
  if (cfg.mirror || !cfg.sources.empty()) s->sourcing_ = std::make_unique<Sourcing>(s.get());
  return s;
}

void Stream::SkipLostTail() {
  auto loss = store_->LostAtOpen();
  if (!loss) return;
  uint64_t last = store_->State().last_seq;
  if (loss->last_named <= last) {
    log::Error("JetStream stream '{}': messages it had stored were found damaged on disk ({})", cfg_.name, loss->why);
    return;
  }
  // No other copy: they are gone, but their sequences are not used again
  // (a consumer may have been given and acked them already).
  log::Error("JetStream stream '{}': messages {}..{} it had stored were found damaged on disk and cannot be read "
             "({}); their sequences are skipped",
             cfg_.name, last + 1, loss->last_named, loss->why);
  while (store_->State().last_seq < loss->last_named) {
    if (!store_->SkipMsg().ok()) break;
  }
}

store::Status Stream::WriteMeta() {
  Json meta;
  meta["config"] = ToJson(cfg_);
  meta["created"] = FormatTime(created_);
  return store_->WriteMeta(meta.dump());
}

void Stream::Subscribe() {
  std::weak_ptr<Stream> weak = shared_from_this();
  JetStream* js = js_;
  for (const auto& subject : cfg_.subjects) {
    // In a cluster, publishes on other servers are routed here.
    auto sub = js_->account()->SubscribeInternal(
        subject,
        [weak, js](const server::InternalMsg& m) {
          auto self = weak.lock();
          if (!self) return;
          Inbound in{Inbound::Kind::kPublish, std::move(self), std::string(m.subject),
                     std::string(m.reply), std::string(m.hdr), std::string(m.data), NowNs()};
          js->Enqueue(std::move(in));
        },
        js_->options().clustered);
    subs_.push_back(sub);
  }
  if (js_->options().clustered && !ack_sub_) {
    // The acks of this stream's consumers, from clients of any server (a
    // single server takes every ack with one `$JS.ACK.>`). Kept while the
    // subjects are subscribed anew, so no ack is lost in between.
    ack_sub_ = js_->account()->SubscribeInternal(
        "$JS.ACK." + cfg_.name + ".>", [js](const server::InternalMsg& m) { js->EnqueueAck(m); }, true);
  }
}

void Stream::Unsubscribe(bool keep_acks) {
  for (auto& s : subs_) js_->account()->UnsubscribeInternal(std::static_pointer_cast<server::Subscription>(s));
  subs_.clear();
  if (ack_sub_ && !keep_acks) {
    js_->account()->UnsubscribeInternal(std::static_pointer_cast<server::Subscription>(ack_sub_));
    ack_sub_.reset();
  }
}

void Stream::SendPubAck(const std::string& reply, Json ack, int64_t received) {
  if (reply.empty() || cfg_.no_ack) return;
  js_->SendAfterSync(shared_from_this(), [js = js_, reply, body = ack.dump(), received] {
    js->Send(reply, {}, {}, body);
    js->metrics().publish_ack.Observe(NowNs() - received);
  });
}

void Stream::ProcessPublish(Inbound& m, bool internal, const BatchCommit* batch) {
  // A member of a committed batch was checked with the whole batch
  // (CheckBatch): only storing is left, and nothing may refuse it now.
  const bool checks = batch == nullptr;
  // A replica that does not lead (any more) says nothing: while leadership
  // moves, two replicas may be subscribed, and the leader answers.
  if (replicated_ && !Serving()) return;
  if (checks && !internal && !m.hdr.empty()) {
    if (auto id = proto::GetHeader(m.hdr, kBatchIdHeader); !id.empty()) return ProcessBatchMsg(m, std::string(id));
  }
  std::string_view hdr = m.hdr;
  auto fail = [&](const ApiError& e) { Refuse(m.reply, e); };
  if (checks && cfg_.sealed) return fail(MakeError(Err::StreamSealed));
  // 2.10's subject transform comes before everything else: expectations,
  // limits and the stored subject all see the new name. (A batch member got
  // it on arrival.)
  if (input_transform_ && !internal && checks) {
    if (auto mapped = input_transform_->Apply(m.subject)) m.subject = std::move(*mapped);
  }
  store::StreamState st = store_->State();
  std::string_view data = m.data;
  std::string_view msg_id;
  int64_t ttl = 0;  // seconds; -1 = never
  bool ttl_valid = true;
  std::optional<std::string> incr;  // a counter increment (Nats-Incr)
  if (!hdr.empty()) {
    bool found;
    // Counter increments come first, as in nats-server: the total is
    // computed by the stream, so a payload or an expectation on what is
    // stored cannot go with one.
    if (auto v = proto::GetHeader(hdr, kIncrHeader); !v.empty()) {
      incr = ParseBigInt(v);
      if (checks) {
        if (auto e = CheckIncrement(incr.has_value(), hdr, data)) return fail(*e);
      }
    }
    ttl_valid = ParseMessageTtl(proto::GetHeader(hdr, kTtlHeader), &ttl);
    if (checks) {
      auto v = proto::GetHeader(hdr, "Nats-Expected-Stream", &found);
      if (found && v != cfg_.name) return fail(MakeError(Err::StreamNotMatch));
      // A TTL where they are not allowed is refused here; an invalid one only
      // after the other checks (nats-server's order).
      if (ttl_valid && ttl != 0 && !cfg_.allow_msg_ttl) return fail(MakeError(Err::MessageTTLDisabled));
      v = proto::GetHeader(hdr, "Nats-Expected-Last-Subject-Sequence", &found);
      if (found) {
        uint64_t want = 0;
        bool ok = ParseU64(v, &want);
        std::string_view subj_hdr = proto::GetHeader(hdr, "Nats-Expected-Last-Subject-Sequence-Subject");
        std::string filter = subj_hdr.empty() ? m.subject : std::string(subj_hdr);
        auto last = store_->LoadLast(filter);
        uint64_t have = last.ok() ? last.value.seq : 0;
        if (!ok || have != want)
          return fail(MakeError(Err::StreamWrongLastSequence, {{"seq", std::to_string(have)}}));
      } else if (!proto::GetHeader(hdr, "Nats-Expected-Last-Subject-Sequence-Subject").empty()) {
        // 2.12: the subject to check without the sequence to check for.
        return fail(MakeError(Err::StreamExpectedLastSeqPerSubjectInvalid));
      }
      v = proto::GetHeader(hdr, "Nats-Expected-Last-Sequence", &found);
      if (found) {
        uint64_t want = 0;
        if (!ParseU64(v, &want) || want != st.last_seq)
          return fail(MakeError(Err::StreamWrongLastSequence, {{"seq", std::to_string(st.last_seq)}}));
      }
    }
    // A batch member's schedule was checked with the batch; its roll-up is
    // added here in both cases.
    std::string rewritten;
    if (auto e = CheckSchedule(m.subject, &hdr, &rewritten)) {
      if (checks) return fail(*e);
    } else if (!rewritten.empty()) {
      m.hdr = std::move(rewritten);
      hdr = m.hdr;
    }
    msg_id = proto::GetHeader(hdr, "Nats-Msg-Id");
    if (!msg_id.empty() && checks) {
      ExpireMsgIds(m.ts);
      if (uint64_t dup = FindMsgId(msg_id); dup != 0) {
        Json ack;
        ack["stream"] = cfg_.name;
        ack["seq"] = dup;
        if (!js_->options().domain.empty()) ack["domain"] = js_->options().domain;
        ack["duplicate"] = true;
        ++duplicates_;
        // The original may still be waiting for its fsync: answer after it.
        SendPubAck(m.reply, std::move(ack), m.ts);
        return;
      }
    }
    auto v = proto::GetHeader(hdr, "Nats-Expected-Last-Msg-Id", &found);
    if (checks && found && v != last_msg_id_)
      return fail(MakeError(Err::StreamWrongLastMsgID, {{"id", last_msg_id_}}));
  }
  std::string_view rollup = hdr.empty() ? std::string_view() : proto::GetHeader(hdr, "Nats-Rollup");
  if (checks && !rollup.empty()) {
    if (!cfg_.allow_rollup_hdrs) return fail(MakeError(Err::StreamRollupFailedF, {{"err", "rollup not permitted"}}));
    if (rollup != "sub" && rollup != "all")
      return fail(MakeError(Err::StreamRollupFailedF,
                            {{"err", "rollup value invalid: \"" + std::string(rollup) + "\""}}));
  }
  std::string counter_hdr, counter_body;
  if (cfg_.allow_msg_counter) {
    if (!incr) return fail(MakeError(Err::MessageIncrMissing));  // never in a checked batch
    if (auto e = CountUp(m.subject, hdr, *incr, nullptr, &counter_hdr, &counter_body)) return fail(*e);
    hdr = counter_hdr;
    data = counter_body;
    if (hdr.size() + data.size() > size_t(js_->server()->config()->max_payload))
      return fail(MakeError(Err::StreamMessageExceedsMaximum));
  }
  const auto& o = js_->options();
  if (checks) {
    if (auto e = CheckLimits(m.subject, hdr, data, st)) return fail(*e);
  }
  if (checks && !ttl_valid) return fail(MakeError(Err::MessageTTLInvalid));
  // A message must not expire before a marker for its subject could:
  // markers then might be missed (nats-server raises the TTL the same way;
  // one message per subject cannot have that problem).
  std::string raised;
  int64_t marker_secs = cfg_.subject_delete_marker_ttl / kSecond;
  if (ttl > 0 && marker_secs > 0 && cfg_.max_msgs_per_subject != 1 && ttl < marker_secs) {
    ttl = marker_secs;
    raised = proto::AddHeaders(proto::RemoveHeader(hdr, kTtlHeader), {{kTtlHeader, std::to_string(ttl)}});
    hdr = raised;
  }

  uint64_t seq;
  if (cfg_.retention == Retention::kInterest && !AnyConsumerInterested(m.subject)) {
    auto r = StoreMsg({}, {}, {}, 0, /*skip=*/true);
    // Leadership lost meanwhile: the new leader answers the retry.
    if (!r.ok() && r.status.code == store::Errc::kClosed && replicated_) return;
    if (!r.ok()) return fail(MakeError(Err::StreamStoreFailedF, {{"err", r.status.msg}}));
    seq = r.value;
  } else {
    uint64_t previous = RepublishPrevious(m.subject);
    auto r = StoreMsg(m.subject, hdr, data, m.ts, /*skip=*/false);
    if (r.ok()) {
      Republish(m.subject, hdr, data, r.value, previous);
      if (ttl > 0) ttls_.emplace(m.ts + ttl * kSecond, r.value);
    }
    if (!r.ok() && r.status.code == store::Errc::kClosed && replicated_) return;  // as above
    if (!r.ok()) {
      log::Error("JetStream failed to store a msg on stream '{}': {}", cfg_.name, r.status.msg);
      return fail(MakeError(Err::StreamStoreFailedF, {{"err", r.status.msg}}));
    }
    seq = r.value;
    new_messages_ = true;
    if (replicated_) {
      // Rolled up as it commits, by every replica (ReplicaEvents::roll_up).
    } else if (rollup == "sub") {
      RollUp(m.subject, seq);
    } else if (rollup == "all") {
      RollUp("", seq);
    } else if (!hdr.empty() && proto::GetHeader(hdr, kScheduleNextHeader) == "purge") {
      // A scheduled message takes its schedule away as it is stored.
      if (auto scheduler = proto::GetHeader(hdr, kSchedulerHeader); !scheduler.empty())
        store_->Purge(scheduler, seq, 0);
    }
    if (cfg_.allow_msg_schedules) TrackSchedule(m.subject, seq, hdr);
  }
  js_->TouchStream(shared_from_this());
  if (!msg_id.empty()) {
    RememberMsgId(msg_id, seq, m.ts);
    last_msg_id_ = msg_id;
  }
  Json ack;
  ack["stream"] = cfg_.name;
  if (!o.domain.empty()) ack["domain"] = o.domain;
  ack["seq"] = seq;
  if (batch) {
    ack["batch"] = batch->id;
    ack["count"] = batch->count;
  } else if (cfg_.allow_msg_counter) {
    ack["val"] = *CounterTotal(counter_body);
  }
  ++published_;
  SendPubAck(m.reply, std::move(ack), m.ts);
}

void Stream::Refuse(const std::string& reply, const ApiError& e) {
  if (reply.empty() || cfg_.no_ack) return;
  Json j;
  j["error"] = e.ToJson();
  j["stream"] = cfg_.name;
  j["seq"] = 0;
  // Errors need no durability: answer at once.
  js_->Send(reply, {}, {}, j.dump());
}

std::optional<ApiError> Stream::CheckIncrement(bool valid, std::string_view hdr, std::string_view data) const {
  if (!valid) return MakeError(Err::MessageIncrInvalid);
  if (!cfg_.allow_msg_counter) return MakeError(Err::MessageIncrDisabled);
  if (!data.empty()) return MakeError(Err::MessageIncrPayload);
  for (auto name : {"Nats-Rollup", "Nats-Expected-Stream", "Nats-Expected-Last-Msg-Id",
                    "Nats-Expected-Last-Subject-Sequence-Subject", "Nats-Expected-Last-Sequence",
                    "Nats-Expected-Last-Subject-Sequence"})
    if (!proto::GetHeader(hdr, name).empty()) return MakeError(Err::MessageIncrInvalid);
  return std::nullopt;
}

std::optional<ApiError> Stream::CheckLimits(const std::string& subject, std::string_view hdr, std::string_view data,
                                            const store::StreamState& st) {
  int64_t size = int64_t(hdr.size() + data.size());
  if (cfg_.max_msg_size >= 0 && size > cfg_.max_msg_size) return MakeError(Err::StreamMessageExceedsMaximum);
  if (hdr.size() > kMaxHeaderSize) return MakeError(Err::StreamHeaderExceedsMaximum);
  if (auto e = DiscardNewRefusal(subject, hdr, data, st)) return e;
  return CheckResources(uint64_t(size));
}

std::optional<ApiError> Stream::CheckResources(uint64_t size) const {
  const auto& o = js_->options();
  if (cfg_.storage == Storage::kFile && o.max_store > 0 && js_->StoreUsed() + size > uint64_t(o.max_store))
    return MakeError(Err::StorageResourcesExceeded);
  if (cfg_.storage == Storage::kMemory && o.max_memory > 0 && js_->MemoryUsed() + size > uint64_t(o.max_memory))
    return MakeError(Err::MemoryResourcesExceeded);
  if (js_->ServerLimitExceeded(cfg_.storage, size))
    return MakeError(cfg_.storage == Storage::kFile ? Err::StorageResourcesExceeded : Err::MemoryResourcesExceeded);
  return std::nullopt;
}

std::optional<ApiError> Stream::DiscardNewRefusal(const std::string& subject, std::string_view hdr,
                                                  std::string_view data, const store::StreamState& st) {
  if (cfg_.discard != Discard::kNew) return std::nullopt;
  if (cfg_.max_msgs > 0 && int64_t(st.msgs) >= cfg_.max_msgs)
    return MakeError(Err::StreamStoreFailedF, {{"err", "maximum messages exceeded"}});
  // Same accounting as the file store: record overhead + subject + data.
  uint64_t rec = subject.size() + hdr.size() + data.size() + 30 + (hdr.empty() ? 0 : 4);
  if (cfg_.max_bytes > 0 && st.bytes + rec > uint64_t(cfg_.max_bytes))
    return MakeError(Err::StreamStoreFailedF, {{"err", "maximum bytes exceeded"}});
  if (cfg_.discard_new_per_subject && cfg_.max_msgs_per_subject > 0) {
    auto subj = store_->Subjects(subject);
    auto it = subj.find(subject);
    if (it != subj.end() && int64_t(it->second.count) >= cfg_.max_msgs_per_subject)
      return MakeError(Err::StreamStoreFailedF, {{"err", "maximum messages per subject exceeded"}});
  }
  return std::nullopt;
}

std::optional<ApiError> Stream::CountUp(const std::string& subject, std::string_view hdr, std::string incr,
                                        const CounterSource* from, std::string* out_hdr, std::string* out_body,
                                        const std::pair<std::string, std::string>* last) {
  std::string total = "0";
  CounterSources sources;
  std::optional<store::StoredMsg> stored;
  if (!last) {
    if (auto r = store_->LoadLast(subject); r.ok()) stored = std::move(r.value);
  }
  if (last || stored) {
    std::string_view last_hdr = last ? std::string_view(last->first) : std::string_view(stored->hdr);
    std::string_view last_body = last ? std::string_view(last->second) : std::string_view(stored->data);
    auto t = CounterTotal(last_body);
    if (!t) return MakeError(Err::MessageCounterBroken);
    total = std::move(*t);
    if (auto h = proto::GetHeader(last_hdr, kCounterSourcesHeader); !h.empty()) {
      auto parsed = ParseCounterSources(h);
      if (!parsed) return MakeError(Err::MessageCounterBroken);
      sources = std::move(*parsed);
    }
  }
  std::string out(hdr);
  if (from) {
    // A total copied from another counter stream adds what changed there
    // since the last copy, so several sources (and local increments) sum
    // up; the stored Nats-Incr says what was added.
    auto sourced = CounterTotal(from->body);
    if (!sourced) return MakeError(Err::MessageCounterBroken);
    std::string& seen = sources[from->stream][from->subject];
    incr = BigSub(*sourced, seen.empty() ? "0" : ParseBigInt(seen).value_or("0"));
    seen = *sourced;
    out = proto::AddHeaders(proto::RemoveHeader(out, kIncrHeader), {{std::string(kIncrHeader), incr}});
  }
  total = BigAdd(total, incr);
  if (!sources.empty()) {
    out = proto::AddHeaders(proto::RemoveHeader(out, kCounterSourcesHeader),
                            {{std::string(kCounterSourcesHeader), CounterSourcesJson(sources)}});
  }
  *out_hdr = std::move(out);
  *out_body = CounterBody(total);
  return std::nullopt;
}

void Stream::RememberMsgId(std::string_view id, uint64_t seq, int64_t ts) {
  uint64_t h = MsgIdHash(id);
  msg_ids_.Insert(h, seq);
  msg_id_order_.push_back({ts, h, seq});
}

uint64_t Stream::FindMsgId(std::string_view id) {
  return msg_ids_.Find(MsgIdHash(id), [&](uint64_t seq) {
    // Past the store's end: not a removal but a message that is not there
    // (never a duplicate, or a PubAck would name a message nobody stored).
    if (seq > store_->State().last_seq) return false;
    auto stored = store_->Load(seq);
    // A message removed since (purge, limits, delete) can no longer be
    // compared; its id still counts for the rest of the window, as it did
    // when ids were kept as strings.
    return !stored.ok() || proto::GetHeader(stored.value.hdr, "Nats-Msg-Id") == id;
  });
}

void Stream::ExpireMsgIds(int64_t now) {
  int64_t cutoff = now - cfg_.duplicate_window;
  while (msg_id_head_ < msg_id_order_.size() && msg_id_order_[msg_id_head_].ts < cutoff) {
    msg_ids_.Erase(msg_id_order_[msg_id_head_].hash, msg_id_order_[msg_id_head_].seq);
    ++msg_id_head_;
  }
  if (msg_id_head_ == msg_id_order_.size()) {
    msg_id_order_.clear();
    msg_id_head_ = 0;
  } else if (msg_id_head_ > 1024 && msg_id_head_ > msg_id_order_.size() / 2) {
    msg_id_order_.erase(msg_id_order_.begin(), msg_id_order_.begin() + msg_id_head_);
    msg_id_head_ = 0;
  }
}

void Stream::MsgIdTable::Reserve(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  if (cap > slots_.size()) Rehash(cap);
}

void Stream::MsgIdTable::Insert(uint64_t hash, uint64_t seq) {
  if (2 * (size_ + 1) > slots_.size()) Rehash(std::max<size_t>(16, 2 * slots_.size()));
  hash = Key(hash);
  size_t i = hash & mask();
  while (slots_[i].hash != 0) i = (i + 1) & mask();
  slots_[i] = {hash, seq};
  ++size_;
}

void Stream::MsgIdTable::Erase(uint64_t hash, uint64_t seq) {
  if (slots_.empty()) return;
  hash = Key(hash);
  size_t i = hash & mask();
  while (slots_[i].hash != 0 && !(slots_[i].hash == hash && slots_[i].seq == seq)) i = (i + 1) & mask();
  if (slots_[i].hash == 0) return;
  // Backward-shift deletion: pull later entries of the probe run into the
  // hole unless that would move one before its home slot; no tombstones.
  for (size_t j = i;;) {
    j = (j + 1) & mask();
    if (slots_[j].hash == 0) break;
    size_t home = slots_[j].hash & mask();
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = {};
  --size_;
  // Give memory back once a flood of ids has left the window.
  if (slots_.size() > 1024 && 8 * size_ < slots_.size()) Rehash(slots_.size() / 4);
}

void Stream::MsgIdTable::Rehash(size_t capacity) {
  std::vector<Entry> old(capacity);
  old.swap(slots_);
  for (const Entry& e : old) {
    if (e.hash == 0) continue;
    size_t i = e.hash & mask();
    while (slots_[i].hash != 0) i = (i + 1) & mask();
    slots_[i] = e;
  }
}

void Stream::RebuildDedupe() {
  // From the store alone: ids this server held from an earlier time as
  // leader may name messages that were never committed and are gone since
  // (cut from its store by another leader's entries).
  msg_ids_ = MsgIdTable{};
  msg_id_order_.clear();
  msg_id_head_ = 0;
  // The msg id is a stored header, so the window survives a crash: find
  // where the window starts in the in-memory index, then read the messages
  // after it in one sequential pass (a Load per message made a restart
  // with a million ids in the window take seconds).
  auto st = store_->State();
  if (st.msgs == 0) return;
  uint64_t from = store_->FirstSeqSince(NowNs() - cfg_.duplicate_window);
  if (from > st.last_seq) return;
  // Inserts trail the scan by a few ids, with each id's slot prefetched
  // when it is read: the table is far larger than the cache, and a
  // million back-to-back misses were most of the rebuild.
  constexpr size_t kAhead = 16;
  struct Pending {
    uint64_t hash, seq;
    int64_t ts;
  };
  Pending ring[kAhead];
  size_t n = 0;
  auto insert = [this](const Pending& p) {
    msg_ids_.Insert(p.hash, p.seq);
    msg_id_order_.push_back({p.ts, p.hash, p.seq});
  };
  auto s = store_->ScanWithHeaders(from, st.last_seq, [&](const store::MsgView& m) {
    if (m.hdr.empty()) return true;
    auto id = proto::GetHeader(m.hdr, "Nats-Msg-Id");
    if (id.empty()) return true;
    if (n == 0) {
      // Streams either use ids on (nearly) every publish or not at all.
      msg_ids_.Reserve(st.last_seq - m.seq + 1);
      msg_id_order_.reserve(st.last_seq - m.seq + 1);
    }
    Pending p{MsgIdHash(id), m.seq, m.ts};
    msg_ids_.Prefetch(p.hash);
    if (n >= kAhead) insert(ring[n % kAhead]);
    ring[n % kAhead] = p;
    ++n;
    last_msg_id_ = id;  // a copy: the view dies with the callback
    return true;
  });
  for (size_t i = n > kAhead ? n - kAhead : 0; i < n; ++i) insert(ring[i % kAhead]);
  if (!s.ok()) log::Error("JetStream stream '{}': rebuilding msg ids: {}", cfg_.name, s.msg);
}

void Stream::TrackTtl(uint64_t seq, int64_t ts, std::string_view hdr) {
  if (!cfg_.allow_msg_ttl || hdr.empty()) return;
  int64_t ttl = 0;
  if (ParseMessageTtl(proto::GetHeader(hdr, kTtlHeader), &ttl) && ttl > 0) ttls_.emplace(ts + ttl * kSecond, seq);
}

void Stream::RebuildTtls() {
  ttls_ = {};
  age_cursor_ = 0;
  if (!cfg_.allow_msg_ttl) return;
  // Only messages with headers are read; a stream of many TTLs pays a scan
  // of them at startup, as nats-server does when its TTL state is stale.
  auto st = store_->State();
  if (st.msgs == 0) return;
  auto status = store_->ScanWithHeaders(st.first_seq, st.last_seq, [&](const store::MsgView& m) {
    TrackTtl(m.seq, m.ts, m.hdr);
    return true;
  });
  if (!status.ok()) log::Error("JetStream stream '{}': reading message TTLs: {}", cfg_.name, status.msg);
}

bool Stream::ExpireMessages(int64_t now) {
  bool removed = false;
  while (!ttls_.empty() && ttls_.top().first <= now) {
    uint64_t seq = ttls_.top().second;
    ttls_.pop();
    auto msg = store_->Load(seq);
    if (!msg.ok()) continue;  // removed meanwhile
    ExpireMsg(msg.value, now);
    removed = true;
  }
  if (cfg_.max_age <= 0) return removed;
  int64_t cutoff = now - cfg_.max_age;
  uint64_t seq = std::max(age_cursor_, store_->State().first_seq);
  for (;;) {
    auto msg = store_->LoadNext("", seq);
    if (!msg.ok() || msg.value.ts > cutoff) break;
    seq = msg.value.seq + 1;
    age_cursor_ = seq;
    int64_t ttl = 0;
    if (ParseMessageTtl(proto::GetHeader(msg.value.hdr, kTtlHeader), &ttl) && ttl < 0) continue;
    ExpireMsg(msg.value, now);
    removed = true;
  }
  return removed;
}

void Stream::ExpireMsg(const store::StoredMsg& m, int64_t now) {
  if (cfg_.subject_delete_marker_ttl > 0 && !IsDeleteMarker(m.hdr)) {
    auto subjects = store_->Subjects(m.subject);
    auto it = subjects.find(m.subject);
    if (it != subjects.end() && it->second.count == 1) {
      // nats-server's marker: the reason, its own TTL, and a rollup that
      // takes the expired message away as the marker is stored.
      std::string hdr = proto::AddHeaders({}, {{"Nats-Marker-Reason", "MaxAge"},
                                               {kTtlHeader, GoDuration(cfg_.subject_delete_marker_ttl / kSecond * kSecond)},
                                               {"Nats-Rollup", "sub"}});
      Inbound in{Inbound::Kind::kPublish, shared_from_this(), m.subject, "", std::move(hdr), "", now};
      ProcessPublish(in, /*internal=*/true);
    }
  }
  // Not rolled up by a marker (none due, or the stream refused it, as
  // interest retention without a consumer does): the message goes all the
  // same.
  RemoveMsg(m.seq);
}

bool Stream::AnyConsumerInterested(const std::string& subject) const {
  for (const auto& [name, c] : consumers_)
    if (c->FilterMatches(subject)) return true;
  return false;
}

void Stream::OnConsumerAck(uint64_t seq) {
  if (cfg_.retention == Retention::kLimits) return;
  auto msg = store_->Load(seq);
  if (!msg.ok()) return;
  for (const auto& [name, c] : consumers_)
    if (!c->DoneWith(seq, msg.value.subject)) return;
  RemoveMsg(seq);
}

void Stream::NotifyConsumers() {
  if (!new_messages_) return;
  new_messages_ = false;
  for (auto& [name, c] : consumers_) c->Signal();
}

ApiError Stream::Update(const StreamConfig& next) {
  bool resubscribe = next.subjects != cfg_.subjects;
  // Ids that left the old window may be inside the new one: read them
  // again from the stored messages, or a republish would be stored twice.
  bool window_grew = next.duplicate_window > cfg_.duplicate_window;
  bool resource = ToJson(next)["sources"] != ToJson(cfg_)["sources"];
  bool ttls_on = next.allow_msg_ttl && !cfg_.allow_msg_ttl;
  cfg_ = next;
  if (!cfg_.allow_atomic) {
    // Batches in flight can no longer commit.
    batches_.clear();
    batch_bytes_ = 0;
  }
  if (ttls_on) RebuildTtls();  // sourced messages may carry TTLs already
  // Changed sources: positions are found again from the stored headers, so
  // a source that stays resumes where it was and a new one starts.
  if (resource) sourcing_ = cfg_.sources.empty() ? nullptr : std::make_unique<Sourcing>(this);
  store_->SetLimits(LimitsFor(cfg_));
  store_->SetCompression(cfg_.compression == "s2");
  SetTransforms();
  if (window_grew) RebuildDedupe();
  auto st = WriteMeta();
  if (!st.ok()) return MakeError(Err::StreamUpdate, {{"err", st.msg}});
  // A replica that does not lead has no subscriptions to renew.
  if (resubscribe && Serving()) {
    Unsubscribe(/*keep_acks=*/true);
    Subscribe();
  }
  return {};
}

ApiError Stream::Purge(const std::string& filter, uint64_t seq, uint64_t keep, uint64_t* purged) {
  if (cfg_.deny_purge) return MakeError(Err::StreamPurgeFailedF, {{"err", "stream purge not permitted"}});
  auto r = store_->Purge(filter, seq, keep);
  if (!r.ok()) return MakeError(Err::StreamGeneralErrorF, {{"err", r.status.msg}});
  *purged = r.value;
  uint64_t first = store_->State().first_seq;
  for (auto& [name, c] : consumers_) c->OnStreamPurged(first);
  js_->TouchStream(shared_from_this());
  return {};
}

void Stream::SweepRetained() {
  if (cfg_.retention == Retention::kLimits || consumers_.empty()) return;
  uint64_t upto = 0;
  for (const auto& [name, c] : consumers_) upto = std::max(upto, c->NextSeq() ? c->NextSeq() - 1 : 0);
  RemoveDoneUpTo(upto);
}

void Stream::RemoveDoneUpTo(uint64_t upto) {
  for (uint64_t seq = store_->State().first_seq; seq && seq <= upto;) {
    auto next = store_->LoadNext("", seq);
    if (!next.ok() || next.value.seq > upto) break;
    OnConsumerAck(next.value.seq);
    seq = next.value.seq + 1;
  }
}

void Stream::RemoveMsg(uint64_t seq) {
  js_->TouchStream(shared_from_this());
  if (!replicated_) {
    store_->Remove(seq, false);
    return;
  }
  if (removals_.empty()) js_->NoteRemovals(shared_from_this());
  removals_.push_back(seq);
}

void Stream::FlushRemovals() {
  if (removals_.empty()) return;
  Json seqs = std::move(removals_);
  removals_.clear();
  // Nobody waits: one lost with the leadership is found again by the next
  // leader (StartServing sweeps, and rebuilds the TTLs).
  if (Serving()) ProposeOp(Json{{"op", "remove"}, {"seqs", std::move(seqs)}}, [](const ApiError&, Json) {});
}

void Stream::RollUp(const std::string& filter, uint64_t seq) {
  if (auto r = store_->Purge(filter, seq, 0); !r.ok())
    log::Error("JetStream stream '{}': a roll-up at sequence {} failed: {}", cfg_.name, seq, r.status.msg);
  js_->TouchStream(shared_from_this());
}

ApiError Stream::DeleteMsg(uint64_t seq, bool erase) {
  if (cfg_.deny_delete) return MakeError(Err::StreamMsgDeleteFailedF, {{"err", "message delete not permitted"}});
  auto st = store_->Remove(seq, erase);
  if (!st.ok()) {
    return MakeError(Err::SequenceNotFound, {{"seq", std::to_string(seq)}});
  }
  js_->TouchStream(shared_from_this());
  return {};
}

void Stream::Delete() {
  Unsubscribe();
  replica_.reset();
  // A replicated stream's consumers go with its local copies (below), not
  // through the group, which is gone.
  for (auto& [name, c] : consumers_) replicated_ ? c->Close() : c->Delete();
  consumers_.clear();
  for (auto& [name, lc] : local_consumers_) lc.store->Delete();
  local_consumers_.clear();
  store_->Delete();
  // A memory stream's replica keeps its Raft state on disk all the same.
  if (std::string dir = js_->StreamDir(cfg_.name); replicated_ && js_->env()->IsDir(dir))
    store::RemoveDirDurably(js_->env(), dir);
}

bool Stream::SkipUnreadable(uint64_t seq, const store::Status& st) {
  if (st.code != store::Errc::kCorrupt) return false;  // an I/O error may pass
  bool first = damaged_.insert(seq).second;
  if (!replicated_) {
    // No other copy: readers would wait for ever. Nothing acknowledged is
    // reported gone by the stream itself (its state still counts it).
    if (first)
      log::Error("JetStream stream '{}': message {} cannot be read ({}); consumers skip it", cfg_.name, seq,
                 st.msg);
    return true;
  }
  if (first)
    log::Error("JetStream stream '{}': message {} cannot be read here ({}); it is repaired from another replica",
               cfg_.name, seq, st.msg);
  // A leader hands over to a replica that can read it (StepDown picks a
  // current one), at most once a second while the damage lasts; not at
  // once, so that what its consumers delivered and were acked so far is
  // committed first (else delivered again by the next leader).
  int64_t now = NowNs();
  if (replica_ && replica_->IsLeader() && !handover_at_)
    handover_at_ = std::max(now + 500'000'000, handed_over_ + 1'000'000'000);
  return false;
}

uint64_t Stream::Scrub(uint64_t from, uint64_t max_bytes) {
  std::vector<uint64_t> damaged;
  auto r = store_->Verify(std::max(from, uint64_t(1)), max_bytes, &damaged);
  for (uint64_t seq : damaged) SkipUnreadable(seq, {store::Errc::kCorrupt, "found by the scrub"});
  if (!r.ok()) {
    // A closed store (the stream going away) or an I/O error: the next
    // pass tries again.
    if (r.status.code != store::Errc::kClosed)
      log::Warn("JetStream stream '{}': scrub stopped at message {}: {}", cfg_.name, from, r.status.msg);
    return 0;
  }
  return r.value > store_->State().last_seq ? 0 : r.value;
}

void Stream::HandOverIfDue(int64_t now) {
  if (!handover_at_ || now < handover_at_) return;
  handover_at_ = 0;
  if (!replica_ || !replica_->IsLeader()) return;
  handed_over_ = now;
  if (auto e = replica_->StepDown(""); !e.empty())
    log::Warn("JetStream stream '{}': cannot hand over a damaged message's reads: {}", cfg_.name, e);
}

void Stream::RepairDamaged(int64_t now) {
  if (repair_.seq && now - repair_.asked < 2'000'000'000) return;  // an answer may still come
  repair_.seq = 0;
  // From the leader's copy: this replica must not answer itself.
  if (damaged_.empty() || !replica_ || replica_->IsLeader() || replica_->Leader().empty()) return;
  if (!repair_.sub) {
    repair_.inbox = "$JS.REPAIR." + RandomToken(16);
    std::weak_ptr<Stream> weak = shared_from_this();
    JetStream* js = js_;
    repair_.sub = js_->account()->SubscribeInternal(
        repair_.inbox,
        [weak, js](const server::InternalMsg& m) {
          js->Post([weak, data = std::string(m.data)] {
            if (auto s = weak.lock()) s->OnRepairReply(data);
          });
        },
        true);
  }
  repair_.seq = *damaged_.begin();
  repair_.asked = now;
  js_->Send("$JS.API.STREAM.MSG.GET." + cfg_.name, repair_.inbox, {}, Json{{"seq", repair_.seq}}.dump());
}

void Stream::OnRepairReply(std::string_view data) {
  uint64_t seq = std::exchange(repair_.seq, 0);
  if (!seq || !damaged_.count(seq)) return;
  Json j = Json::parse(data, nullptr, false);
  if (!j.is_object()) return;
  if (j.contains("error")) {
    // Gone on the leader too (removed since): nothing to repair; the
    // group's removal reaches this replica as well.
    if (j["error"].value("err_code", 0) == 10037) damaged_.erase(seq);
    return;
  }
  const Json& msg = j.value("message", Json::object());
  store::StoredMsg m;
  m.seq = msg.value("seq", uint64_t(0));
  m.subject = msg.value("subject", "");
  auto hdr = base64::Decode(msg.value("hdrs", ""));
  auto payload = base64::Decode(msg.value("data", ""));
  if (m.seq != seq || !ParseTime(msg.value("time", ""), &m.ts) || !hdr || !payload) return;
  m.hdr = std::move(*hdr);
  m.data = std::move(*payload);
  if (auto st = store_->Repair(m); !st.ok()) {
    log::Error("JetStream stream '{}': message {} cannot be repaired: {}", cfg_.name, seq, st.msg);
    return;
  }
  damaged_.erase(seq);
  log::Info("JetStream stream '{}': message {} repaired from the leader's copy", cfg_.name, seq);
}

void Stream::Close(std::unique_ptr<store::Store>* keep) {
  if (repair_.sub) {
    js_->account()->UnsubscribeInternal(std::static_pointer_cast<server::Subscription>(repair_.sub));
    repair_.sub.reset();
  }
  Unsubscribe();
  // First: the group's threads use the store until it is gone.
  replica_.reset();
  for (auto& [name, c] : consumers_) c->Close();
  for (auto& [name, lc] : local_consumers_) lc.store->Close();
  if (!keep) {
    store_->Close();
    return;
  }
  auto* locked = replicated_ ? dynamic_cast<store::LockedStore*>(store_.get()) : nullptr;
  *keep = locked ? locked->Release() : std::move(store_);
  // Work still posted for this stream finds a closed store, as after a
  // plain Close, not a null one.
  store_ = store::NewMemStore({});
  store_->Close();
}

void Stream::Tick(int64_t now) {
  if (replica_) replica_->Revive();
  if (replicated_) {
    HandOverIfDue(now);
    RepairDamaged(now);
  }
  // A leader whose "lead" operation was refused or lost proposes it again.
  if (replica_ && !running_ && !lead_pending_ && replica_->IsLeader()) OnLeaderChanged(true);
  // TTLs (and max_age with them) expire on the leader, which removes through
  // the group; plain max_age on every replica alike (timestamps are the
  // leader's).
  bool aged = cfg_.allow_msg_ttl ? Serving() && ExpireMessages(now) : cfg_.max_age > 0 && store_->ExpireOld(now) > 0;
  if (aged) {
    uint64_t first = store_->State().first_seq;
    for (auto& [name, c] : consumers_) c->OnStreamPurged(first);
  }
  ExpireMsgIds(now);
  ExpireBatches(now);
  // On a replicated stream's leader, whose store has every schedule (the
  // copy it publishes goes through the group like a publish).
  if (Serving()) FireSchedules(now);
  // Indexes, not iterators (nor erase_if): a tick may make another
  // consumer busy, which appends to the list.
  size_t keep = 0;
  for (size_t i = 0; i < tickers_.size(); ++i) {
    auto c = tickers_[i].lock();
    if (!c || !c->Tick(now)) continue;
    // No self-move: a moved-to-itself weak_ptr comes out empty.
    if (keep != i) tickers_[keep] = std::move(tickers_[i]);
    ++keep;
  }
  tickers_.resize(keep);
  std::vector<std::string> expired;
  std::erase_if(expiring_, [&](const std::weak_ptr<Consumer>& w) {
    auto c = w.lock();
    if (!c || c->config().inactive_threshold <= 0) return true;
    // A deleted consumer may outlive its entry; one of the same name may
    // have replaced it.
    auto it = consumers_.find(c->name());
    if (it == consumers_.end() || it->second != c) return true;
    if (c->InactiveExpired(now)) expired.push_back(c->name());
    return false;
  });
  for (const auto& name : expired) RemoveConsumer(name);
}

void Stream::AddConsumer(const std::string& name, std::shared_ptr<Consumer> c) {
  if (c->config().inactive_threshold > 0) expiring_.push_back(c);
  if (c->DurableOnly()) durable_only_.push_back(c);
  consumers_[name] = std::move(c);
}

void Stream::NoteDurable(uint64_t seq) {
  if (seq <= durable_last_seq_) return;
  durable_last_seq_ = seq;
  std::erase_if(durable_only_, [](const std::weak_ptr<Consumer>& w) {
    auto c = w.lock();
    if (c) c->Signal();
    return !c;
  });
}

void Stream::RemoveConsumer(const std::string& name) {
  auto it = consumers_.find(name);
  if (it == consumers_.end()) return;
  auto c = std::move(it->second);
  consumers_.erase(it);
  c->Delete();
  // API deletes and inactivity alike, as nats-server.
  ConsumerActionAdvisory(js_, cfg_.name, name, "delete");
  if (cfg_.retention != Retention::kInterest) return;
  RemoveDoneUpTo(store_->State().last_seq);
  js_->TouchStream(shared_from_this());
}

Json Stream::StateJson(const std::string& subjects_filter, bool deleted_details) {
  auto st = store_->State();
  Json j;
  j["messages"] = st.msgs;
  j["bytes"] = st.bytes;
  j["first_seq"] = st.first_seq;
  j["first_ts"] = FormatTime(st.msgs ? st.first_ts : 0);
  j["last_seq"] = st.last_seq;
  j["last_ts"] = FormatTime(st.last_ts);
  if (st.num_subjects) j["num_subjects"] = st.num_subjects;
  if (!subjects_filter.empty()) {
    Json subjects = Json::object();
    for (const auto& [subj, info] : store_->Subjects(subjects_filter)) subjects[subj] = info.count;
    if (!subjects.empty()) j["subjects"] = subjects;
  }
  if (st.num_deleted) j["num_deleted"] = st.num_deleted;
  if (deleted_details && st.num_deleted) {
    Json del = Json::array();
    for (uint64_t s = st.first_seq; s <= st.last_seq; ++s)
      if (!store_->Load(s).ok()) del.push_back(s);
    j["deleted"] = del;
  }
  j["consumer_count"] = consumers_.size();
  return j;
}

Json Stream::InfoJson(const std::string& subjects_filter, bool deleted_details) {
  Json j;
  j["config"] = ToJson(cfg_);
  j["created"] = FormatTime(created_);
  j["state"] = StateJson(subjects_filter, deleted_details);
  if (!js_->options().domain.empty()) j["domain"] = js_->options().domain;
  if (replica_) {
    j["cluster"] = replica_->ClusterInfo();
  } else if (auto* meta = js_->meta()) {
    j["cluster"] = ClusterInfoJson(meta);
  }
  int64_t now = NowNs();
  if (sourcing_) sourcing_->AddInfo(&j, now);
  j["ts"] = FormatTime(now);
  return j;
}


// -- Atomic batch publish (2.12) --------------------------------------------

namespace {
// nats-server's defaults (streamDefaultMaxBatch*).
constexpr size_t kMaxBatchesPerStream = 50;
constexpr size_t kMaxBatchesTotal = 1000;
constexpr uint64_t kMaxBatchSize = 1000;
constexpr int64_t kBatchTimeout = 10 * kSecond;
// nats-server stages uncommitted batches in a store on disk; Fjord keeps
// them in memory, so their bytes are bounded per stream.
constexpr size_t kMaxBatchBytesPerStream = 64u << 20;
constexpr std::string_view kBatchSeqHeader = "Nats-Batch-Sequence";
constexpr std::string_view kBatchCommitHeader = "Nats-Batch-Commit";
constexpr std::string_view kRequiredLevelHeader = "Nats-Required-Api-Level";
}  // namespace

void Stream::ProcessBatchMsg(Inbound& m, std::string id) {
  auto fail = [&](const ApiError& e) { Refuse(m.reply, e); };
  // nats-server's order: the stream and the message first, then the batch.
  if (cfg_.sealed) return fail(MakeError(Err::StreamSealed));
  uint64_t size = m.hdr.size() + m.data.size();
  if (auto e = CheckResources(size)) return fail(*e);
  if (cfg_.max_msg_size >= 0 && int64_t(size) > cfg_.max_msg_size)
    return fail(MakeError(Err::StreamMessageExceedsMaximum));
  if (!cfg_.allow_atomic) return fail(MakeError(Err::AtomicPublishDisabled));
  if (id.size() > 64) return fail(MakeError(Err::AtomicPublishInvalidBatchID));
  std::string_view seq_text = proto::GetHeader(m.hdr, kBatchSeqHeader);
  if (seq_text.empty()) return fail(MakeError(Err::AtomicPublishMissingSeq));
  uint64_t seq = 0;
  if (!ParseU64(seq_text, &seq)) seq = UINT64_MAX;  // Go's parseInt64 gives -1
  auto too_large = [] {
    return MakeError(Err::AtomicPublishTooLargeBatch, {{"size", std::to_string(kMaxBatchSize)}});
  };
  auto it = batches_.find(id);
  if (it == batches_.end()) {
    if (seq != 1) return fail(seq > kMaxBatchSize ? too_large() : MakeError(Err::AtomicPublishIncompleteBatch));
    size_t open = 0;
    for (const auto& [name, s] : js_->streams()) open += s->open_batches();
    if (batches_.size() >= kMaxBatchesPerStream || open >= kMaxBatchesTotal)
      return fail(MakeError(Err::AtomicPublishIncompleteBatch));
    it = batches_.emplace(id, StagedBatch{{}, m.ts + kBatchTimeout}).first;
  }
  bool commit = false;
  bool found = false;
  std::string_view c = proto::GetHeader(m.hdr, kBatchCommitHeader, &found);
  if (found) {
    if (c != "1") {
      DropBatch(id, nullptr);
      return fail(MakeError(Err::AtomicPublishInvalidBatchCommit));
    }
    commit = true;
  }
  // The header is checked here, and never stored.
  if (!proto::GetHeader(m.hdr, kRequiredLevelHeader).empty()) {
    if (RequiredApiLevelUnmet(m.hdr)) {
      DropBatch(id, nullptr);
      return fail(MakeError(Err::RequiredApiLevel));
    }
    m.hdr = proto::RemoveHeader(m.hdr, kRequiredLevelHeader);
  }
  StagedBatch& b = it->second;
  if (b.msgs.size() + 1 != seq) {
    DropBatch(id, "incomplete");
    return fail(MakeError(Err::AtomicPublishIncompleteBatch));
  }
  if (seq > kMaxBatchSize) {
    DropBatch(id, "large");
    return fail(too_large());
  }
  size_t staged = m.hdr.size() + m.data.size();  // without the level header
  if (batch_bytes_ + staged > kMaxBatchBytesPerStream) {
    DropBatch(id, "incomplete");
    return fail(MakeError(Err::AtomicPublishIncompleteBatch));
  }
  if (input_transform_) {
    if (auto mapped = input_transform_->Apply(m.subject)) m.subject = std::move(*mapped);
  }
  batch_bytes_ += staged;
  std::string reply = std::move(m.reply);
  b.msgs.push_back(std::move(m));
  if (!commit) {
    // Staged: an empty answer says so (nats.js's first() waits for it).
    if (!reply.empty() && !cfg_.no_ack) js_->Send(reply, {}, {}, {});
    return;
  }
  std::vector<Inbound> msgs = TakeBatch(id);
  if (auto e = CheckBatch(msgs)) return Refuse(reply, *e);
  BatchCommit done{id, msgs.size()};
  int64_t now = NowNs();
  for (size_t i = 0; i < msgs.size(); ++i) {
    Inbound& in = msgs[i];
    in.ts = now;
    if (i + 1 == msgs.size()) in.reply = reply;
    ProcessPublish(in, false, &done);
  }
}

std::optional<ApiError> Stream::CheckBatch(const std::vector<Inbound>& msgs) {
  // What the members before this one would have changed, staged.
  store::StreamState st = store_->State();
  std::unordered_set<std::string> ids;
  std::map<std::string, std::pair<std::string, std::string>> totals;  // counters: subject -> (hdr, body)
  std::unordered_map<std::string, uint64_t> inflight;               // messages per subject
  std::unordered_map<std::string, uint64_t> expected;               // per-subject sequences checked
  uint64_t staged_msgs = 0, staged_bytes = 0;
  ExpireMsgIds(NowNs());
  for (const Inbound& m : msgs) {
    std::string_view hdr = m.hdr, data = m.data;
    const std::string& subject = m.subject;
    if (!proto::GetHeader(hdr, "Nats-Expected-Last-Msg-Id").empty())
      return MakeError(Err::AtomicPublishUnsupportedHeaderBatch, {{"header", "Nats-Expected-Last-Msg-Id"}});
    if (hdr.size() > kMaxHeaderSize) return MakeError(Err::StreamHeaderExceedsMaximum);
    std::optional<std::string> incr;
    if (auto v = proto::GetHeader(hdr, kIncrHeader); !v.empty()) {
      incr = ParseBigInt(v);
      if (auto e = CheckIncrement(incr.has_value(), hdr, data)) return e;
    }
    bool found = false;
    auto v = proto::GetHeader(hdr, "Nats-Expected-Stream", &found);
    if (found && !v.empty() && v != cfg_.name) return MakeError(Err::StreamNotMatch);
    int64_t ttl = 0;
    bool ttl_valid = ParseMessageTtl(proto::GetHeader(hdr, kTtlHeader), &ttl);
    if (ttl != 0 || !ttl_valid) {
      if (!cfg_.allow_msg_ttl) return MakeError(Err::MessageTTLDisabled);
      if (!ttl_valid) return MakeError(Err::MessageTTLInvalid);
    }
    if (auto id = proto::GetHeader(hdr, "Nats-Msg-Id"); !id.empty()) {
      if (!ids.insert(std::string(id)).second || FindMsgId(id) != 0)
        return MakeError(Err::AtomicPublishContainsDuplicateMessage);
    }
    if (cfg_.allow_msg_counter) {
      if (!incr) return MakeError(Err::MessageIncrMissing);
      auto last = totals.find(subject);
      std::string out_hdr, out_body;
      if (auto e = CountUp(subject, hdr, *incr, nullptr, &out_hdr, &out_body,
                           last == totals.end() ? nullptr : &last->second))
        return e;
      uint64_t max = uint64_t(js_->server()->config()->max_payload);
      if (cfg_.max_msg_size >= 0) max = std::min(max, uint64_t(cfg_.max_msg_size));
      if (out_hdr.size() + out_body.size() > max) return MakeError(Err::StreamMessageExceedsMaximum);
      totals[subject] = {std::move(out_hdr), std::move(out_body)};
    }
    v = proto::GetHeader(hdr, "Nats-Expected-Last-Sequence", &found);
    if (found && !v.empty()) {
      uint64_t want = 0;
      uint64_t have = st.last_seq + staged_msgs;
      if (!ParseU64(v, &want) || want != have)
        return MakeError(Err::StreamWrongLastSequence, {{"seq", std::to_string(have)}});
      // Only the first member can know the sequence before it.
      if (staged_msgs > 0) return MakeError(Err::StreamWrongLastSequenceConstant);
    }
    std::string_view subj_hdr = proto::GetHeader(hdr, "Nats-Expected-Last-Subject-Sequence-Subject");
    v = proto::GetHeader(hdr, "Nats-Expected-Last-Subject-Sequence", &found);
    if (found && !v.empty()) {
      std::string filter = subj_hdr.empty() ? subject : std::string(subj_hdr);
      uint64_t want = 0;
      bool ok = ParseU64(v, &want);
      if (inflight.count(filter)) return MakeError(Err::StreamWrongLastSequenceConstant);
      uint64_t have;
      if (auto e = expected.find(filter); e != expected.end()) {
        have = e->second;
      } else {
        auto last = store_->LoadLast(filter);
        have = last.ok() ? last.value.seq : 0;
        expected[filter] = have;
      }
      if (!ok || have != want) return MakeError(Err::StreamWrongLastSequence, {{"seq", std::to_string(have)}});
    } else if (!subj_hdr.empty()) {
      return MakeError(Err::StreamExpectedLastSeqPerSubjectInvalid);
    }
    // A schedule brings its roll-up, which the next check sees.
    std::string scheduled;
    if (!hdr.empty()) {
      if (auto e = CheckSchedule(subject, &hdr, &scheduled)) return e;
    }
    if (auto rollup = proto::GetHeader(hdr, "Nats-Rollup"); !rollup.empty()) {
      auto failed = [](const std::string& why) { return MakeError(Err::StreamRollupFailedF, {{"err", why}}); };
      if (!cfg_.allow_rollup_hdrs || cfg_.deny_purge) return failed("rollup not permitted");
      // A roll-up would remove members stored before it.
      if (rollup == "sub") {
        if (inflight.count(subject)) return failed("batch rollup sub invalid");
      } else if (rollup == "all") {
        if (!inflight.empty()) return failed("batch rollup all invalid");
      } else {
        return failed("rollup value invalid: \"" + std::string(rollup) + "\"");
      }
    }
    uint64_t& per_subject = inflight[subject];
    ++per_subject;
    ++staged_msgs;
    auto counted = totals.find(subject);
    staged_bytes += counted == totals.end()
                        ? store_->MsgBytes(subject, hdr, data)
                        : store_->MsgBytes(subject, counted->second.first, counted->second.second);
    if (cfg_.discard == Discard::kNew) {
      auto refused = [](const char* why) { return MakeError(Err::StreamStoreFailedF, {{"err", why}}); };
      if (cfg_.max_msgs > 0 && st.msgs + staged_msgs > uint64_t(cfg_.max_msgs))
        return refused("maximum messages exceeded");
      if (cfg_.max_bytes > 0 && st.bytes + staged_bytes > uint64_t(cfg_.max_bytes))
        return refused("maximum bytes exceeded");
      if (cfg_.discard_new_per_subject && cfg_.max_msgs_per_subject > 0) {
        auto subj = store_->Subjects(subject);
        auto s = subj.find(subject);
        uint64_t have = s == subj.end() ? 0 : s->second.count;
        if (have + per_subject > uint64_t(cfg_.max_msgs_per_subject))
          return refused("maximum messages per subject exceeded");
      }
    }
  }
  return CheckResources(staged_bytes);
}

std::vector<uint64_t> Stream::TornBatch() {
  std::vector<uint64_t> seqs;
  if (!cfg_.allow_atomic) return seqs;
  store::StreamState st = store_->State();
  if (st.msgs == 0) return seqs;
  auto last = store_->Load(st.last_seq);
  if (!last.ok()) return seqs;
  std::string id(proto::GetHeader(last.value.hdr, kBatchIdHeader));
  if (id.empty()) return seqs;
  // A batch is written in one go after its checks, its commit last, and
  // acknowledged only once all of it is synced (committed). Writes reach
  // the file (and the group's log) in order, so a kill -9 or a new leader
  // can only cut the end: a tail that is a batch without its commit was
  // never acknowledged. (A commit is never removed: members missing before
  // it may have been deleted since.)
  if (proto::GetHeader(last.value.hdr, kBatchCommitHeader) == "1") return seqs;
  for (uint64_t seq = st.last_seq; seq >= st.first_seq && seq > 0; --seq) {
    auto m = store_->Load(seq);
    if (!m.ok()) continue;
    if (proto::GetHeader(m.value.hdr, kBatchIdHeader) != id) break;
    seqs.push_back(seq);
  }
  return seqs;
}

uint64_t Stream::DropTornBatch() {
  auto seqs = TornBatch();
  if (seqs.empty()) return 0;
  uint64_t dropped = 0;
  for (uint64_t seq : seqs)
    if (store_->Remove(seq, false).ok()) ++dropped;
  log::Warn("JetStream stream '{}': removed {} message(s) of a batch cut by a crash before its commit was written",
            cfg_.name, dropped);
  return dropped;
}

std::vector<Inbound> Stream::TakeBatch(const std::string& id) {
  auto it = batches_.find(id);
  if (it == batches_.end()) return {};
  std::vector<Inbound> msgs = std::move(it->second.msgs);
  for (const auto& m : msgs) batch_bytes_ -= m.hdr.size() + m.data.size();
  batches_.erase(it);
  return msgs;
}

void Stream::DropBatch(const std::string& id, const char* reason) {
  if (!batches_.count(id)) return;
  TakeBatch(id);
  if (!reason) return;
  Json fields = {{"stream", cfg_.name}};
  if (!js_->options().domain.empty()) fields["domain"] = js_->options().domain;
  fields["batch"] = id;
  fields["reason"] = reason;
  PublishEvent(js_, "$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED." + cfg_.name,
               "io.nats.jetstream.advisory.v1.stream_batch_abandoned", fields);
}

void Stream::ExpireBatches(int64_t now) {
  if (batches_.empty()) return;
  std::vector<std::string> expired;
  for (const auto& [id, b] : batches_)
    if (b.deadline <= now) expired.push_back(id);
  for (const auto& id : expired) DropBatch(id, "timeout");
}


// -- Message schedules (2.12) ------------------------------------------------

namespace {
// `@at <RFC 3339 time>`, the one pattern 2.12 knows: false if it is not
// that; `*at` 0 for Go's zero time (no schedule).
bool ParseSchedule(std::string_view v, int64_t* at) {
  if (!v.starts_with("@at ")) return false;
  return ParseTime(std::string(v.substr(4)), at);
}
}  // namespace

std::optional<ApiError> Stream::CheckSchedule(const std::string& subject, std::string_view* hdr,
                                              std::string* rewritten) const {
  if (auto v = proto::GetHeader(*hdr, kScheduleHeader); !v.empty()) {
    int64_t at = 0;
    if (!ParseSchedule(v, &at))
      return MakeError(cfg_.allow_msg_schedules ? Err::MessageSchedulesPatternInvalid : Err::MessageSchedulesDisabled);
    if (at != 0) {
      if (!cfg_.allow_msg_schedules) return MakeError(Err::MessageSchedulesDisabled);
      int64_t ttl = 0;
      std::string_view ttl_text = proto::GetHeader(*hdr, kScheduleTtlHeader);
      if (!ParseMessageTtl(ttl_text, &ttl)) return MakeError(Err::MessageSchedulesTTLInvalid);
      if (!ttl_text.empty() && !cfg_.allow_msg_ttl) return MakeError(Err::MessageTTLDisabled);
      std::string_view target = proto::GetHeader(*hdr, kScheduleTargetHeader);
      if (target.empty() || !proto::ValidLiteralSubject(target) || proto::SubjectsOverlap(target, subject))
        return MakeError(Err::MessageSchedulesTargetInvalid);
      // The copy must come back into this stream.
      if (std::none_of(cfg_.subjects.begin(), cfg_.subjects.end(),
                       [&](const std::string& s) { return proto::SubjectsOverlap(s, target); }))
        return MakeError(Err::MessageSchedulesTargetInvalid);
      std::string_view rollup = proto::GetHeader(*hdr, "Nats-Rollup");
      if (rollup.empty()) {
        *rewritten = proto::AddHeaders(*hdr, {{"Nats-Rollup", "sub"}});
        *hdr = *rewritten;
      } else if (rollup != "sub") {
        return MakeError(Err::MessageSchedulesRollupInvalid);
      }
    }
  }
  if (!cfg_.allow_msg_schedules && proto::GetHeader(*hdr, kScheduleNextHeader) == "purge")
    return MakeError(Err::MessageSchedulesDisabled);
  return std::nullopt;
}

void Stream::AddSchedule(const std::string& subject, int64_t at, uint64_t seq) {
  RemoveSchedule(subject);
  schedules_[subject] = {at, seq};
  schedule_order_.insert({at, seq, subject});
}

void Stream::RemoveSchedule(const std::string& subject) {
  if (auto old = schedules_.find(subject); old != schedules_.end()) {
    schedule_order_.erase({old->second.at, old->second.seq, subject});
    schedules_.erase(old);
  }
}

void Stream::TrackSchedule(const std::string& subject, uint64_t seq, std::string_view hdr) {
  int64_t at = 0;
  if (hdr.empty() || !ParseSchedule(proto::GetHeader(hdr, kScheduleHeader), &at) || at == 0)
    return RemoveSchedule(subject);
  AddSchedule(subject, at, seq);
}

void Stream::RebuildSchedules() {
  schedules_.clear();
  schedule_order_.clear();
  if (!cfg_.allow_msg_schedules) return;
  // Each schedule subject holds its last message only (the roll-up), so the
  // scan in order leaves exactly the live schedules.
  auto st = store_->State();
  if (st.msgs == 0) return;
  auto status = store_->Scan(st.first_seq, st.last_seq, [&](const store::MsgView& m) {
    TrackSchedule(std::string(m.subject), m.seq, m.hdr);
    // A copy stored after its schedule means the schedule fired, even if a
    // crash came before the purge that removes it was written.
    if (!m.hdr.empty() && proto::GetHeader(m.hdr, kScheduleNextHeader) == "purge") {
      std::string scheduler(proto::GetHeader(m.hdr, kSchedulerHeader));
      if (auto it = schedules_.find(scheduler); it != schedules_.end() && it->second.seq < m.seq) RemoveSchedule(scheduler);
    }
    return true;
  });
  if (!status.ok()) log::Error("JetStream stream '{}': reading message schedules: {}", cfg_.name, status.msg);
}

void Stream::FireSchedules(int64_t now) {
  while (!schedule_order_.empty() && std::get<0>(*schedule_order_.begin()) <= now) {
    auto [at, seq, subject] = *schedule_order_.begin();
    RemoveSchedule(subject);
    auto msg = store_->Load(seq);
    if (!msg.ok() || msg.value.subject != subject) continue;  // purged or replaced meanwhile
    const std::string& h = msg.value.hdr;
    std::string_view ttl = proto::GetHeader(h, kScheduleTtlHeader);
    std::string_view target = proto::GetHeader(h, kScheduleTargetHeader);
    int64_t secs = 0;
    if (target.empty() || !ParseMessageTtl(ttl, &secs)) continue;
    // The copy keeps the schedule's own headers, without those that made
    // it a schedule or would be checked against the target.
    std::string out = proto::RemoveHeader(h, kScheduleHeader);
    out = proto::RemoveHeadersWithPrefix(out, "Nats-Schedule-");
    out = proto::RemoveHeadersWithPrefix(out, "Nats-Expected-");
    for (auto name : {"Nats-Msg-Id", "Nats-TTL", "Nats-Rollup"}) out = proto::RemoveHeader(out, name);
    out = proto::AddHeaders(out, {{kSchedulerHeader, subject}, {kScheduleNextHeader, "purge"}});
    if (!ttl.empty()) out = proto::AddHeaders(out, {{kTtlHeader, ttl}});
    Inbound in{Inbound::Kind::kPublish, shared_from_this(), std::string(target), {}, std::move(out),
               std::move(msg.value.data), now};
    log::Debug("JetStream stream '{}': schedule '{}' publishes to '{}'", cfg_.name, subject, in.subject);
    uint64_t before = store_->State().last_seq;
    ProcessPublish(in, /*internal=*/true);
    if (store_->State().last_seq == before) {
      // Refused (a limit, the disk): the schedule stays and tries again in
      // a second, as nats-server keeps it until its message is stored.
      AddSchedule(subject, now + kSecond, seq);
    }
  }
}

}  // namespace fjord::jetstream
