#pragma once
// One stream: its config, its store, the publish checks, and its consumers.
// JetStream thread only.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <tuple>
#include <string>
#include <unordered_map>
#include <vector>

#include "jetstream/cluster.h"
#include "jetstream/consumer_replication.h"
#include "jetstream/types.h"
#include "store/store.h"
#include "proto/subject_transform.h"

namespace fjord::jetstream {

class JetStream;
class Consumer;
class Sourcing;
struct Inbound;

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  // Creates (or, with `recover`, reopens) the stream's store. With `held`
  // (recovering only), serves that store instead: a memory stream's, taken
  // by Close when it is reopened with another replica count.
  static std::shared_ptr<Stream> Open(JetStream* js, const StreamConfig& cfg, int64_t created,
                                      bool recover, ApiError* err, std::unique_ptr<store::Store> held = nullptr);
  ~Stream();

  const StreamConfig& config() const { return cfg_; }
  const std::string& name() const { return cfg_.name; }
  int64_t created() const { return created_; }
  store::Store& store() { return *store_; }
  JetStream* js() { return js_; }

  // Starts/stops receiving publishes on the stream's subjects (and, in a
  // cluster, its consumers' acks: `keep_acks` keeps those while the
  // subjects change).
  void Subscribe();
  void Unsubscribe(bool keep_acks = false);

  // A committed atomic batch, for the PubAck of its last message.
  struct BatchCommit {
    std::string id;
    uint64_t count = 0;
  };
  // Runs the publish checks and stores the message; the PubAck (or error)
  // is sent once the batch is durable. An `internal` publish (a subject
  // delete marker or a scheduled message, which the stream publishes
  // itself) is on a stored subject already: the stream's subject transform
  // is not applied again. A message with a Nats-Batch-Id is staged
  // (ProcessBatchMsg); `batch` marks a member of a committed one, already
  // checked.
  void ProcessPublish(Inbound& m, bool internal = false, const BatchCommit* batch = nullptr);
  // Atomic batches staged and not yet committed.
  size_t open_batches() const { return batches_.size(); }
  // The messages of a batch at the end of the stream that a crash (or, on
  // a replicated stream, the end of its leader's term) cut while it was
  // being written: its commit, written last, is missing, and it was never
  // acknowledged. Newest first.
  std::vector<uint64_t> TornBatch();
  // At recovery of a stream of one replica: removes the TornBatch. Returns
  // how many. (A replicated stream's new leader removes it through the
  // group: StartServing.)
  uint64_t DropTornBatch();
  // At recovery of a stream of one replica whose store lost messages it had
  // synced (store::Store::LostAtOpen): logs it, and skips the sequences
  // they held so none is used twice. (A replica gets them again from its
  // group: raft::StreamLog::lost_durable.)
  void SkipLostTail();
  // Applies an update (already validated against the allowed changes).
  ApiError Update(const StreamConfig& next);
  // Persists the config. Durable on return.
  store::Status WriteMeta();
  // Purge as the API defines it; returns purged count or error.
  ApiError Purge(const std::string& filter, uint64_t seq, uint64_t keep, uint64_t* purged);
  ApiError DeleteMsg(uint64_t seq, bool erase);
  // A roll-up (Nats-Rollup) by the message at `seq`: the messages before it
  // on `filter` (empty: all) go.
  void RollUp(const std::string& filter, uint64_t seq);
  // Removes message `seq` as retention or its TTL asks: at once on one
  // replica; on a replicated stream through the group, proposed when the
  // work ends (FlushRemovals), so that every replica removes it.
  void RemoveMsg(uint64_t seq);
  void FlushRemovals();
  // Interest and work-queue retention: removes what every consumer is done
  // with (a new leader's, for removals the previous one did not commit).
  void SweepRetained();
  // Removes each message up to `upto` every consumer is done with
  // (OnConsumerAck's rule).
  void RemoveDoneUpTo(uint64_t upto);
  // Removes the stream and its consumers from disk.
  void Delete();
  // With `keep`, the store is handed over open rather than closed (a memory
  // stream reopened with another replica count: its messages are nowhere
  // else).
  void Close(std::unique_ptr<store::Store>* keep = nullptr);

  Json StateJson(const std::string& subjects_filter, bool deleted_details);
  Json InfoJson(const std::string& subjects_filter = {}, bool deleted_details = false);

  // Consumers of this stream, by name.
  std::map<std::string, std::shared_ptr<Consumer>>& consumers() { return consumers_; }
  // Deletes a consumer; with interest retention, messages only it still
  // needed are removed.
  void RemoveConsumer(const std::string& name);
  // Tells consumers that messages were stored (end of a batch).
  void NotifyConsumers();
  // Interest/workqueue retention: a consumer acknowledged `seq`; removes it
  // once no consumer still needs it.
  void OnConsumerAck(uint64_t seq);
  // Periodic work: age expiry, ephemeral consumer cleanup, redeliveries.
  void Tick(int64_t now);
  // Puts `c` under `name` (replacing any), watching its inactivity if it
  // has an inactive_threshold.
  void AddConsumer(const std::string& name, std::shared_ptr<Consumer> c);
  // `c` now has an inactive_threshold (an update set one).
  void WatchInactivity(std::shared_ptr<Consumer> c) { expiring_.push_back(std::move(c)); }
  // A consumer became busy (see Consumer::Tick): tick it until it is not.
  void WantTicks(std::shared_ptr<Consumer> c) { tickers_.push_back(std::move(c)); }
  // The copy state of a mirror or a stream with sources; null otherwise.
  Sourcing* sourcing() { return sourcing_.get(); }

  // The last sequence known durable under the stream's sync mode (synced in
  // the default mode, written in lazy mode and for memory streams). Mirrors
  // and sources copy only up to it, so no copy outlives a power loss that
  // its origin's message does not survive. Everything found at recovery is
  // durable.
  uint64_t durable_last_seq() const { return durable_last_seq_; }
  // The stream's writes up to `seq` are durable: durable-only consumers
  // (kDurableOnlyMetadata) may deliver them now.
  void NoteDurable(uint64_t seq);
  // How far mirrors and sources may copy: the durable sequence, or for a
  // replicated stream what its group committed (on any of its replicas: a
  // tentative tail may still be cut).
  uint64_t CopyLimit() const {
    if (!replicated_) return durable_last_seq_;
    return replica_ ? replica_->CommittedSeq() : 0;
  }

  // A message the store holds but cannot read (store.h: kCorrupt, kIo),
  // met by a consumer. Whether it is skipped: only a damaged record of a
  // stream with no other copy (one replica), logged once. Otherwise readers
  // wait: a replicated stream's leader hands over to another replica, and
  // as a follower writes the record again from the leader's copy (Tick);
  // an I/O error may pass.
  bool SkipUnreadable(uint64_t seq, const store::Status& st);
  // Background scrub (JetStream::Scrub): checks about `max_bytes` of stored
  // messages from `from` on; a damaged one is handled as a reader meeting
  // it would (SkipUnreadable: repaired from another replica, or reported).
  // Returns where to go on, 0 once the stream is done.
  uint64_t Scrub(uint64_t from, uint64_t max_bytes);

  // -- replicated (num_replicas > 1 in a cluster; jetstream/cluster.h) -----
  // Whether the config asks for more than one replica in a cluster: the
  // store is then shared with the Raft log (store::LockedStore).
  bool replicated() const { return replicated_; }
  // This server's replica of the stream; null until StartReplica, and for
  // one replica.
  ReplicaGroup* replica() { return replica_.get(); }
  // The epoch of the group StartReplica joined (StreamAssignment::group_epoch).
  int64_t group_epoch() const { return group_epoch_; }
  // Opens this server's replica of the stream the meta group assigned;
  // started as `how` says (ClusterMeta::OpenReplica). Error text on
  // failure.
  std::string StartReplica(const StreamAssignment& a, ReplicaStart how);
  // Whether this server takes the stream's publishes, runs its consumers
  // and answers its requests: always for one replica, else while it leads
  // the group and has applied everything committed before (its "lead"
  // operation: ApplyOp).
  bool Serving() const { return !replicated_ || (replica_ && running_ && replica_->IsLeader()); }
  // A replica whose group has had no leader for kLeaderlessInfoAfter (a
  // lost quorum): it answers STREAM.INFO from its own copy, naming no
  // leader, and CONSUMER.INFO with 10008, as nats-server's leaderless
  // replicas do, so an operator sees the stream instead of a timeout. Not
  // sooner: during an ordinary election its answer would race the new
  // leader's.
  static constexpr std::chrono::seconds kLeaderlessInfoAfter{5};
  bool AnswersLeaderless() const {
    return replicated_ && replica_ && !Serving() && replica_->Leaderless() >= kLeaderlessInfoAfter;
  }
  // Runs `fn` (JetStream thread) the next time this server starts serving
  // the stream within kWhenLeadingFor, or at once if it serves it already.
  // Every replica is asked (to answer a create or an update): whichever
  // serves first answers. Kept through leader changes until then, as the
  // first leader may lose its term before it serves and be elected again
  // (a reply left to others would be lost). A replica that serves later
  // answers again: the client took the first reply.
  void WhenLeading(std::function<void()> fn);
  static constexpr int64_t kWhenLeadingFor = 60'000'000'000;  // ns: past any client's request timeout
  // Scaling a replicated stream down to one replica (cluster_api.cc):
  // - a server no longer assigned stays in the group (handing over if it
  //   leads: StreamReplica::Tick) until the leader has removed it; then
  //   LeaveDone, and its copy goes;
  // - the one kept waits until it leads a group of itself alone, having
  //   everything committed; then ReadyForOne, and the stream is reopened
  //   as a plain one with `cfg`.
  // Both hand the group the servers now assigned (`peers`: the one kept).
  void Leave(const std::vector<std::string>& peers);
  bool Leaving() const { return leaving_; }
  bool LeaveDone();
  void KeepAlone(const StreamConfig& cfg, const std::vector<std::string>& peers);
  const std::optional<StreamConfig>& keep_alone() const { return keep_alone_; }
  bool ReadyForOne();
  // A later assignment keeps this replica in a group of several: a scale
  // down to one that it overtook (or that a restart replayed from the meta
  // log) no longer applies, and a replica stopped for it serves again.
  void StayReplicated();
  // The highest sequence consumers may deliver: what the group committed,
  // for a replicated stream (a tentative tail may still be replaced).
  uint64_t ReadLimit() const { return replicated_ ? readable_ : UINT64_MAX; }
  // The store a consumer created here writes its state to: for a
  // replicated stream, its changes go through the group
  // (consumer_replication.h), but for a leader-only consumer's state
  // (consumer_config.h LeaderOnly); else nullptr (the caller opens a local
  // one).
  std::unique_ptr<store::ConsumerStore> NewReplicatedConsumerStore(const std::string& name,
                                                                   const ConsumerConfig& cfg);
  // The local copies of a replicated stream's consumers (every replica
  // keeps them; consumer_replication.h). Filled at recovery.
  std::map<std::string, LocalConsumer>& local_consumers() { return local_consumers_; }
  // A replicated stream's purge or message delete: proposed here (the
  // leader), applied by every replica once committed (ApplyOp), and
  // answered with the leader's outcome: `done` gets the reply's fields
  // ("purged") or the error. JetStream thread.
  void ProposePurge(const std::string& filter, uint64_t seq, uint64_t keep,
                    std::function<void(const ApiError&, Json)> done);
  void ProposeDeleteMsg(uint64_t seq, bool erase, std::function<void(const ApiError&, Json)> done);
  // Calls `done` (any thread) once everything this work stored is durable:
  // committed by the group for a replicated stream, synced otherwise.
  void WhenDurable(std::function<void(store::Status)> done);

  // Since the server started (for /metrics; JetStream thread): publishes
  // stored, and publishes answered as duplicates of a stored msg id.
  uint64_t published() const { return published_; }
  uint64_t duplicates() const { return duplicates_; }
  // Messages found damaged here (SkipUnreadable), still stored and not
  // repaired.
  uint64_t damaged_count() const {
    return std::distance(damaged_.lower_bound(store_->State().first_seq), damaged_.end());
  }

 private:
  friend class Sourcing;  // stores copied messages like a publish does
  friend class StreamTest;  // drives recovery steps on a memory stream
  Stream(JetStream* js, StreamConfig cfg, int64_t created);
  bool AnyConsumerInterested(const std::string& subject) const;
  void RememberMsgId(std::string_view id, uint64_t seq, int64_t ts);
  // `republish`: the transform from the config, the sequence of the last
  // message on a subject before a new one is stored, and the publish of a
  // stored message to its destination once the batch is durable.
  // Compiles `republish` and `subject_transform` from the config.
  void SetTransforms();
  uint64_t RepublishPrevious(const std::string& subject);
  void Republish(const std::string& subject, std::string_view hdr, std::string_view data, uint64_t seq,
                 uint64_t previous);
  // The refusal a publish gets (an error PubAck), sent at once.
  void Refuse(const std::string& reply, const ApiError& e);
  // 2.12 counters: what an increment may not come with (10168-10171).
  std::optional<ApiError> CheckIncrement(bool valid, std::string_view hdr, std::string_view data) const;
  // Size, discard-new and account/server limits for one message.
  std::optional<ApiError> CheckLimits(const std::string& subject, std::string_view hdr, std::string_view data,
                                      const store::StreamState& st);
  std::optional<ApiError> CheckResources(uint64_t size) const;
  // 2.12 atomic batch publish (allow_atomic). Messages with a Nats-Batch-Id
  // are staged in memory, each answered with an empty message, until the
  // one with Nats-Batch-Commit: 1. Then the whole batch is checked as
  // nats-server checks it (CheckBatch), and stored in one JetStream-thread
  // turn (no reader sees part of it) with one PubAck for the last message;
  // or nothing is stored. A batch not committed within 10 s is abandoned.
  void ProcessBatchMsg(Inbound& m, std::string id);
  std::optional<ApiError> CheckBatch(const std::vector<Inbound>& msgs);
  // Removes a staged batch and returns its messages.
  std::vector<Inbound> TakeBatch(const std::string& id);
  // Removes a staged batch; with a `reason`, says so in a
  // BATCH_ABANDONED advisory.
  void DropBatch(const std::string& id, const char* reason);
  void ExpireBatches(int64_t now);
  struct StagedBatch {
    std::vector<Inbound> msgs;
    int64_t deadline = 0;
  };
  std::map<std::string, StagedBatch> batches_;
  size_t batch_bytes_ = 0;  // staged in all of this stream's batches
  // 2.12 message schedules (allow_msg_schedules). A schedule is the last
  // message on its subject carrying `Nats-Schedule: @at <RFC 3339>`; at that
  // time the stream publishes a copy to `Nats-Schedule-Target` (with
  // `Nats-Scheduler` and `Nats-Schedule-Next: purge`, whose storing purges
  // the schedule). Checks a publish's schedule headers: the error, or
  // nothing with `hdr` given the roll-up a schedule is stored with
  // (`rewritten` then holds the new header block).
  std::optional<ApiError> CheckSchedule(const std::string& subject, std::string_view* hdr,
                                        std::string* rewritten) const;
  // After a message is stored on `subject`: it is the subject's schedule,
  // or the subject has none any more.
  void TrackSchedule(const std::string& subject, uint64_t seq, std::string_view hdr);
  // The schedule index (schedules_ and schedule_order_ together).
  void AddSchedule(const std::string& subject, int64_t at, uint64_t seq);
  void RemoveSchedule(const std::string& subject);
  void RebuildSchedules();
  void FireSchedules(int64_t now);
  struct Schedule {
    int64_t at;
    uint64_t seq;
  };
  std::map<std::string, Schedule> schedules_;            // by schedule subject
  std::set<std::tuple<int64_t, uint64_t, std::string>> schedule_order_;  // (at, seq, subject)
  // With discard new, the error a message would get for going over a limit.
  std::optional<ApiError> DiscardNewRefusal(const std::string& subject, std::string_view hdr,
                                            std::string_view data, const store::StreamState& st);
  // Counter streams: the header and body stored for an increment of
  // `subject` by `incr` (a normalised decimal), from the subject's last
  // total. A message copied from another counter stream (`from`) adds the
  // change in that stream's total instead. Errors are 10172 (broken).
  struct CounterSource {
    std::string stream;   // the origin stream
    std::string subject;  // the subject there
    std::string_view body;  // the origin's total
  };
  // `last` (header, body) stands for the subject's last message when a
  // batch is checked before it is stored.
  std::optional<ApiError> CountUp(const std::string& subject, std::string_view hdr, std::string incr,
                                  const CounterSource* from, std::string* out_hdr, std::string* out_body,
                                  const std::pair<std::string, std::string>* last = nullptr);
  void ExpireMsgIds(int64_t now);
  void RebuildDedupe();
  // Per-message TTLs (allow_msg_ttl). The stream, not the store, expires
  // messages then: each at its time + Nats-TTL, and by max_age all but
  // those whose TTL is "never". With subject_delete_marker_ttl, a subject's
  // last message expiring leaves a delete marker in its place (published
  // like a message, with a rollup that removes the expired one).
  void TrackTtl(uint64_t seq, int64_t ts, std::string_view hdr);
  void RebuildTtls();
  // Returns whether anything was removed.
  bool ExpireMessages(int64_t now);
  void ExpireMsg(const store::StoredMsg& m, int64_t now);
  // `received`: the publish's arrival (unix ns), for the publish-to-ack
  // latency histogram.
  void SendPubAck(const std::string& reply, Json ack, int64_t received);

  JetStream* js_;
  StreamConfig cfg_;
  int64_t created_;
  std::unique_ptr<store::Store> store_;
  // Stores a message (or skips a sequence) as a publish does: through the
  // group when replicated. The sequence, or the store's error (kClosed: a
  // replica that does not lead now).
  store::Result<uint64_t> StoreMsg(std::string_view subject, std::string_view hdr, std::string_view data,
                                   int64_t ts, bool skip);
  void OnLeaderChanged(bool leader);
  void ProposeOp(Json op, std::function<void(const ApiError&, Json)> done);
  void ApplyOp(const std::string& op);
  // The "lead" barrier applied: this leader starts serving.
  void StartServing();
  // Consumers of a replicated stream (consumer_replication.h).
  LocalConsumers Locals();
  // Leadership lost: the consumers stop here (Consumer::Relinquish).
  void StopConsumers();
  // Proposes a consumer's operation; error text when refused.
  std::string ProposeConsumerOp(std::string op);
  // `done` once every proposal so far is committed (in log order).
  void WhenCommitted(std::function<void(store::Status)> done);
  void SnapshotPart(std::function<void(std::optional<std::string>)> done);
  void RestorePart(const std::string& part);
  // Messages up to `seq` are committed: consumers may deliver them.
  void AdvanceReadable(uint64_t seq);
  // Ids of operations proposed here: unique across restarts, so a
  // replayed operation of an earlier run never answers a new request.
  const uint64_t op_base_ = static_cast<uint64_t>(NowNs());
  uint64_t next_op_ = 1;
  // Operations proposed here, by id, waiting for their commit.
  std::map<uint64_t, std::function<void(const ApiError&, Json)>> pending_ops_;
  bool replicated_ = false;
  std::unique_ptr<ReplicaGroup> replica_;
  class CommitWait;
  std::shared_ptr<CommitWait> last_commit_;  // the last proposal of the current work
  std::shared_ptr<CommitWait> latest_;       // the last proposal of any kind
  // Messages stored and staged (ReplicaGroup::StageMsg) since the last
  // FlushStaged, which proposes them and makes last_commit_ wait for them.
  bool staged_ = false;
  void FlushStaged();
  // Leads, and has applied its "lead" operation (id `lead_id_`).
  bool running_ = false;
  uint64_t lead_id_ = 0;
  bool lead_pending_ = false;  // proposed, not yet applied nor failed
  uint64_t readable_ = 0;
  int64_t group_epoch_ = 0;
  // Committed operations posted to the JetStream thread, not yet applied.
  std::shared_ptr<std::atomic<int>> applying_ = std::make_shared<std::atomic<int>>(0);
  bool leaving_ = false;
  int64_t left_at_ = 0;  // when LeaveDone first found it removed
  std::optional<StreamConfig> keep_alone_;
  bool quiet_for_one_ = false;  // kept alone: serving stopped until reopened
  // Removals (RemoveMsg) of this work, proposed as one operation.
  std::vector<uint64_t> removals_;
  std::map<std::string, LocalConsumer> local_consumers_;
  std::vector<std::pair<int64_t, std::function<void()>>> when_leading_;  // (until, fn)
  std::vector<std::shared_ptr<void>> subs_;  // server::SubPtr, type-erased
  std::shared_ptr<void> ack_sub_;            // clustered: `$JS.ACK.<name>.>`
  std::map<std::string, std::shared_ptr<Consumer>> consumers_;
  // The busy consumers Tick visits (an idle one is never looked at); they
  // leave the list when Consumer::Tick says they are idle again.
  std::vector<std::weak_ptr<Consumer>> tickers_;
  // Consumers with an inactive_threshold, the only ones Tick checks for
  // expiry; those deleted or without one any more leave at the next tick.
  std::vector<std::weak_ptr<Consumer>> expiring_;
  // Consumers that deliver only what is durable, signalled by NoteDurable.
  std::vector<std::weak_ptr<Consumer>> durable_only_;
  // Sequences whose records were found damaged (SkipUnreadable): on a
  // replicated stream, to be written again from the leader's copy
  // (RepairDamaged), one request at a time.
  std::set<uint64_t> damaged_;
  int64_t handed_over_ = 0;  // when this leader last handed over for damage
  int64_t handover_at_ = 0;  // when it hands over next (Tick), 0: not due
  struct RepairFetch {
    std::shared_ptr<void> sub;  // server::SubPtr, type-erased
    std::string inbox;
    uint64_t seq = 0;  // asked for, 0 when nothing is
    int64_t asked = 0;
  } repair_;
  void HandOverIfDue(int64_t now);
  void RepairDamaged(int64_t now);
  void OnRepairReply(std::string_view data);
  std::unique_ptr<Sourcing> sourcing_;

  // Msg-id dedupe window. Ids are kept as 64-bit hashes, not strings: a
  // restart rebuilds the table from every message in the window (a million
  // ids must load in well under a second) and a window full of ids costs a
  // few dozen bytes each. A hash match is confirmed against the stored
  // message's own header (FindMsgId), so a collision cannot turn a new
  // message into a duplicate while the original is still stored.
  //
  // The table is open addressing with linear probing: one cache line per
  // insert and no allocation per id (a node-based map spent seconds on a
  // million inserts).
  class MsgIdTable {
   public:
    void Reserve(size_t n);
    // Starts loading the slot an Insert of `hash` will probe first, so a
    // bulk load overlaps its cache misses.
    void Prefetch(uint64_t hash) const {
      if (!slots_.empty()) __builtin_prefetch(&slots_[Key(hash) & mask()], 1);
    }
    void Insert(uint64_t hash, uint64_t seq);
    void Erase(uint64_t hash, uint64_t seq);
    // Calls fn(seq) for each entry with this hash until it returns true;
    // returns that seq, or 0.
    template <typename F>
    uint64_t Find(uint64_t hash, F fn) const {
      // The newest match: after the window grew, an id may be in the
      // table twice (stored again once its first entry had expired).
      if (slots_.empty()) return 0;
      hash = Key(hash);
      uint64_t found = 0;
      for (size_t i = hash & mask(); slots_[i].hash != 0; i = (i + 1) & mask()) {
        if (slots_[i].hash == hash && slots_[i].seq > found && fn(slots_[i].seq)) found = slots_[i].seq;
      }
      return found;
    }

   private:
    struct Entry {
      uint64_t hash = 0;  // 0 marks a free slot
      uint64_t seq = 0;
    };
    static uint64_t Key(uint64_t h) { return h == 0 ? 1 : h; }
    size_t mask() const { return slots_.size() - 1; }
    void Rehash(size_t capacity);
    std::vector<Entry> slots_;  // size is zero or a power of two
    size_t size_ = 0;
  };
  struct MsgIdOrder {
    int64_t ts;
    uint64_t hash;
    uint64_t seq;
  };
  // Sequence of the message stored with this id inside the window, or 0.
  uint64_t FindMsgId(std::string_view id);
  MsgIdTable msg_ids_;
  // Oldest first from msg_id_head_; a vector rather than a deque (whose
  // small chunks cost a malloc per 21 ids), compacted as the head advances.
  std::vector<MsgIdOrder> msg_id_order_;
  size_t msg_id_head_ = 0;
  std::string last_msg_id_;
  bool new_messages_ = false;
  uint64_t durable_last_seq_ = 0;
  std::optional<proto::SubjectTransform> republish_;
  std::optional<proto::SubjectTransform> input_transform_;
  uint64_t published_ = 0;
  uint64_t duplicates_ = 0;
  // Messages with a TTL, soonest expiry first: (expiry unix ns, seq). Those
  // removed otherwise meanwhile are skipped when they come up.
  using TtlEntry = std::pair<int64_t, uint64_t>;
  std::priority_queue<TtlEntry, std::vector<TtlEntry>, std::greater<TtlEntry>> ttls_;
  // max_age with TTLs allowed: below this sequence, what is left outlives
  // max_age ("never" TTLs), so each tick starts here, not at the first.
  uint64_t age_cursor_ = 0;
};

}  // namespace fjord::jetstream
