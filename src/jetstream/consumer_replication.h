#pragma once
// Consumers of a replicated stream (num_replicas > 1 in a cluster): their
// config and state travel through the stream's Raft group, as operations
// in its log, batched per consumer per flush; no group of their own.
//
// - The stream's leader runs the consumers (deliveries, acks, timers). A
//   running consumer's store is a ReplicatedConsumerStore: its changes are
//   collected and proposed as one operation when JetStream flushes the
//   consumer (end of a batch); a sync (a confirmed ack, a create's reply)
//   waits for that operation's commit, that is for a quorum to have it
//   durable.
// - Every replica, the leader included, applies committed operations to a
//   local store of each consumer (file or memory, as for one replica), so
//   a local store holds committed state only: a change the group never
//   committed (a leader deposed mid-flush) is on no disk. A new leader
//   starts its consumers from those stores once everything committed
//   before it led is applied (Stream's "lead" barrier).
// - Applying is idempotent where the log is replayed after a restart (the
//   entries after the last snapshot are applied again over stores that
//   may have them): a delivery at or below the consumer's delivered
//   sequence is skipped, and so is a redelivery time set before a later
//   delivery that is (it would bring a superseded time back); acks and
//   resets are repeatable.
// - A snapshot of the group carries every consumer's config and state
//   (EncodeConsumerSnapshot), so a replica caught up by snapshot, or added
//   to the group, has them; the local stores are synced before a snapshot
//   lets the log be compacted.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace fjord::jetstream {

// One consumer's operation in a stream group's log: a tag byte no JSON
// operation starts with, the consumer's name, then its events in order.
class ConsumerOp {
 public:
  static constexpr char kTag = '\x01';
  static bool Is(std::string_view op) { return !op.empty() && op[0] == kTag; }

  explicit ConsumerOp(std::string_view consumer);
  void Config(std::string_view meta);  // ConsumerStore::SetConfig's text
  void Delivered(uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts);
  void Ack(uint64_t dseq, uint64_t sseq);
  // `delivered`: the consumer's delivered sequence when the due was set,
  // so a replay applies it only where no later delivery superseded it.
  void Due(uint64_t sseq, int64_t due, uint64_t delivered);
  void Reset(const store::ConsumerState& st);
  void Delete();
  bool empty() const { return events_ == 0 && !has_config_; }
  // The encoded operation; the op is empty (for the consumer) afterwards.
  std::string Take();

 private:
  std::string consumer_;
  std::string config_;  // a Config event, emitted first
  bool has_config_ = false;
  std::string buf_;     // the other events, in order
  size_t events_ = 0;
};

// A replica's local copy of one consumer (what it applies and what its
// leader starts from).
struct LocalConsumer {
  std::shared_ptr<store::ConsumerStore> store;
  // The highest consumer sequence applied: a replayed delivery at or
  // below it is skipped.
  uint64_t delivered = 0;
};

// How a replica reaches its consumers' local stores (Stream implements it).
struct LocalConsumers {
  std::map<std::string, LocalConsumer>* consumers;
  // Opens (creating) the store of consumer `name` whose config is `meta`.
  std::function<store::Result<std::unique_ptr<store::ConsumerStore>>(const std::string& name, std::string_view meta)>
      open;
};

// Applies a committed operation to the local stores; false when it cannot
// be read (nothing applied). Stores a write failed on are logged.
bool ApplyConsumerOp(std::string_view op, LocalConsumers local, const std::string& stream);

// Debug log of consumer `name`'s state at a hand-over (`when`: "recovered",
// "starts on this leader", ...): what traces a redelivery after a confirmed
// ack. The store's state is read only when debug logging is on.
void LogConsumerState(std::string_view stream, std::string_view name, std::string_view when,
                      const store::ConsumerState& st);
void LogConsumerState(std::string_view stream, std::string_view name, std::string_view when,
                      const store::ConsumerStore& cs);

// A group snapshot's consumer part: every local consumer's name, config
// and state. Restore replaces the local consumers with the snapshot's.
std::string EncodeConsumerSnapshot(const std::map<std::string, LocalConsumer>& consumers);
bool RestoreConsumerSnapshot(std::string_view app, LocalConsumers local, const std::string& stream);

// The store of a consumer running on the stream's leader. Writes nothing
// locally: it collects the changes, and Flush hands them to `propose`
// (one operation); Sync(done) flushes and calls `when_committed`, which
// runs `done` once everything proposed so far is committed. State()
// reads the local copy (`local`), which is what a leader starts from.
//
// A leader-only consumer's store (consumer_config.h LeaderOnly) proposes
// its config, its removal and a reset of its state (a create's start
// position) alone; its deliveries live in memory here, starting from the
// local copy's state, and its syncs wait only for what it proposed.
class ReplicatedConsumerStore : public store::ConsumerStore {
 public:
  struct Hooks {
    // Proposes an encoded operation; an error text when it is refused.
    std::function<std::string(std::string op)> propose;
    std::function<void(std::function<void(store::Status)>)> when_committed;
    // The local copy, null before the consumer's first operation commits.
    std::function<std::shared_ptr<store::ConsumerStore>()> local;
  };
  ReplicatedConsumerStore(std::string name, Hooks hooks, bool leader_only = false);

  store::Status SetConfig(std::string_view json) override;
  store::Result<std::string> Config() override;
  store::Status UpdateDelivered(uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts) override;
  store::Status UpdateAcks(uint64_t dseq, uint64_t sseq) override;
  store::Status UpdateDue(uint64_t sseq, int64_t due) override;
  store::Status Reset(const store::ConsumerState& state) override;
  store::ConsumerState State() const override;
  store::Status Flush() override;
  void Sync(std::function<void(store::Status)> done) override;
  // Proposes the consumer's removal (every replica removes its copy).
  store::Status Delete() override;
  // The consumer stops running here; the local copy stays.
  store::Status Close() override;

 private:
  std::string name_;
  Hooks hooks_;
  ConsumerOp op_;
  std::string config_;
  bool closed_ = false;
  // A proposal was refused (this server no longer leads): its changes are
  // lost, so no later sync may report success.
  bool refused_ = false;
  // The consumer's delivered sequence (for Due); read from the local copy
  // the first time it is needed.
  std::optional<uint64_t> delivered_;
  // Leader-only: the state, seeded from the local copy on first use;
  // `proposed_` says an operation went out since the last Sync.
  std::unique_ptr<store::ConsumerStore> own_;
  mutable bool seeded_ = false;
  bool proposed_ = false;
  store::ConsumerStore& Own() const;
};

}  // namespace fjord::jetstream
