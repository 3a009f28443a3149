#pragma once
// One stream: its config, its store, the publish checks, and its consumers.
// JetStream thread only.
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "jetstream/types.h"
#include "store/store.h"

namespace fjord::jetstream {

class JetStream;
class Consumer;
struct Inbound;

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  // Creates (or, with `recover`, reopens) the stream's store.
  static std::shared_ptr<Stream> Open(JetStream* js, const StreamConfig& cfg, int64_t created,
                                      bool recover, ApiError* err);
  ~Stream();

  const StreamConfig& config() const { return cfg_; }
  const std::string& name() const { return cfg_.name; }
  int64_t created() const { return created_; }
  store::Store& store() { return *store_; }
  JetStream* js() { return js_; }

  // Starts/stops receiving publishes on the stream's subjects.
  void Subscribe();
  void Unsubscribe();

  // Runs the publish checks and stores the message; the PubAck (or error)
  // is sent once the batch is durable.
  void ProcessPublish(Inbound& m);
  // Applies an update (already validated against the allowed changes).
  ApiError Update(const StreamConfig& next);
  // Persists the config. Durable on return.
  store::Status WriteMeta();
  // Purge as the API defines it; returns purged count or error.
  ApiError Purge(const std::string& filter, uint64_t seq, uint64_t keep, uint64_t* purged);
  ApiError DeleteMsg(uint64_t seq, bool erase);
  // Removes the stream and its consumers from disk.
  void Delete();
  void Close();

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

 private:
  Stream(JetStream* js, StreamConfig cfg, int64_t created);
  bool AnyConsumerInterested(const std::string& subject) const;
  void RememberMsgId(std::string_view id, uint64_t seq, int64_t ts);
  void ExpireMsgIds(int64_t now);
  void RebuildDedupe();
  void SendPubAck(const std::string& reply, Json ack);

  JetStream* js_;
  StreamConfig cfg_;
  int64_t created_;
  std::unique_ptr<store::Store> store_;
  std::vector<std::shared_ptr<void>> subs_;  // server::SubPtr, type-erased
  std::map<std::string, std::shared_ptr<Consumer>> consumers_;

  struct MsgIdEntry {
    uint64_t seq;
    int64_t ts;
  };
  std::unordered_map<std::string, MsgIdEntry> msg_ids_;
  std::deque<std::pair<int64_t, std::string>> msg_id_order_;
  std::string last_msg_id_;
  bool new_messages_ = false;
};

}  // namespace fjord::jetstream
