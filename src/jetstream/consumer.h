#pragma once
// A consumer: a cursor over one stream with delivery and ack state.
// JetStream thread only. State changes are written to the consumer's
// ConsumerStore; an ack is confirmed (ack reply sent) only after the store
// synced it, through JetStream::AfterSync.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "jetstream/types.h"
#include "store/store.h"

namespace fjord::jetstream {

class JetStream;
class Stream;
struct Inbound;

// A consumer whose config's metadata sets this to "true" delivers only
// what the stream has made durable (its group commit synced, or its group
// committed): a mirror or source on another server reads its origin
// through one (sourcing.h), so that a copy never outlives its original.
inline constexpr const char* kDurableOnlyMetadata = "_fjord.durable_only";

class Consumer : public std::enable_shared_from_this<Consumer> {
 public:
  // Validates `cfg` against the stream (filters, retention rules, limits),
  // fills defaults as nats-server does, and creates the consumer. With
  // `recovering`, `cs` holds the state to resume from. On failure returns
  // null and sets *err.
  static std::shared_ptr<Consumer> Create(Stream* stream, const std::string& name,
                                          ConsumerConfig cfg, int64_t created,
                                          std::unique_ptr<store::ConsumerStore> cs,
                                          bool recovering, ApiError* err);
  ~Consumer();

  const std::string& name() const;
  const ConsumerConfig& config() const;
  int64_t created() const;
  Json InfoJson();
  // ConsumerInfo's numbers, without building JSON (for /metrics scrapes).
  struct Numbers {
    uint64_t delivered_consumer_seq = 0, delivered_stream_seq = 0;
    uint64_t ack_floor_consumer_seq = 0, ack_floor_stream_seq = 0;
    uint64_t num_ack_pending = 0, num_redelivered = 0, num_waiting = 0, num_pending = 0;
  };
  Numbers GetNumbers();
  // A push consumer whose deliver subject has a subscriber (ConsumerInfo's
  // `push_bound`).
  bool PushBound();
  // Applies an update request; error if a field that cannot change differs.
  ApiError Update(const ConsumerConfig& next);

  // A consumer created paused says so in a PAUSE advisory (nats-server
  // sends it after the create reply; the end follows when it comes).
  void AnnouncePauseAtCreate();

  // Priority groups: takes the pin of `group` away (10160 if the consumer
  // has no such group).
  ApiError Unpin(const std::string& group);

  // `$JS.API.CONSUMER.MSG.NEXT.<S>.<C>` with its reply inbox.
  void ProcessPullRequest(const std::string& reply, std::string_view payload);
  // `$JS.ACK.<S>.<C>.<dc>.<sseq>.<cseq>.<ts>.<pending>` (or the v2 form).
  void ProcessAck(std::string_view subject, std::string_view payload, const std::string& reply);
  // New messages were stored in the stream.
  void Signal();
  // Delivers only what is durable (kDurableOnlyMetadata).
  bool DurableOnly() const;
  // Some client subscribed: a push consumer without a subscriber checks
  // whether its deliver subject has one now.
  void OnSubscribed();
  // The stream removed messages below `first_seq` (purge, limits).
  void OnStreamPurged(uint64_t first_seq);
  // Interest/workqueue retention: true once this consumer no longer needs
  // stream sequence `seq` (acked, or filtered out).
  bool DoneWith(uint64_t seq, std::string_view subject) const;
  // The stream sequence it looks at next: it is done with none from here.
  uint64_t NextSeq() const;
  bool FilterMatches(std::string_view subject) const;
  // Heartbeats, pull request expiry, a push subscriber leaving. Called by
  // the stream only while the consumer is busy (it asks with
  // Stream::WantTicks); returns whether it still is.
  bool Tick(int64_t now);
  // Ephemeral (or durable with inactive_threshold) unused for too long.
  bool InactiveExpired(int64_t now) const;

  // Makes every state change so far durable (ConsumerStore::Sync); called
  // by JetStream at the end of a batch for consumers passed to AfterSync.
  void SyncState(std::function<void(store::Status)> done);
  // Writes every state change so far to the OS and queues its fsync
  // (ConsumerStore::Flush); JetStream calls it at the end of each batch for
  // the consumers that asked with NoteConsumerChanged.
  void FlushState();

  // Its store: a stream reopened with another replica count copies the
  // state of a consumer kept in memory from there (TakeMemoryConsumers).
  store::ConsumerStore& store();

  // Removes the consumer's state from disk.
  void Delete();
  void Close();
  // Close, as this server stops leading the consumer's stream: its waiting
  // pull requests get `409 Leadership Change`, so clients pull again from
  // the new leader rather than wait for their requests to expire.
  void Relinquish();

 private:
  struct Impl;
  explicit Consumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Serves `$JS.API.CONSUMER.*` requests (create, durable create, info, list,
// names, delete, pause, msg next); `rest` is the subject after
// "$JS.API.CONSUMER.".
void HandleConsumerApi(JetStream* js, Inbound& msg, std::string_view rest);

// Reopens a stream's consumers from disk at start (a replicated stream's
// local copies: consumer_replication.h).
void RecoverConsumers(JetStream* js, Stream* stream);
// A replicated stream's leader starts its consumers from their local copies.
void StartReplicatedConsumers(Stream* stream);

// A consumer kept in memory only (a memory stream's, or `mem_storage`), as
// its store holds it: config (ConsumerStore::Config) and state.
struct HeldConsumer {
  std::string name;
  std::string meta;
  store::ConsumerState state;
};
// A stream about to be reopened with another replica count (scaled to or
// from one) copies these out, as reopening recovers only what is on disk:
// from its consumers, or from their local copies when it is replicated...
std::vector<HeldConsumer> TakeMemoryConsumers(Stream& stream);
// ...and the stream opened in its place gets them back: as consumers, or as
// local copies when it is replicated.
void GiveMemoryConsumers(Stream* stream, const std::vector<HeldConsumer>& held);
// A consumer's local store: memory for a memory stream or `mem_storage`,
// else a file store in the stream's directory.
store::Result<std::unique_ptr<store::ConsumerStore>> OpenConsumerStore(JetStream* js, Stream& s,
                                                                       const std::string& name,
                                                                       const ConsumerConfig& cfg);

}  // namespace fjord::jetstream
