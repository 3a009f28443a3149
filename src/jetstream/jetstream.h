#pragma once
// JetStream: streams and consumers on top of the core server.
//
// Threading: all stream and consumer state lives on one JetStream thread
// (its own io_context), so none of it needs locks. Internal subscriptions
// (the `$JS.API.>` handlers, each stream's subjects, `$JS.ACK.>`) run on
// the publishing I/O thread and only copy the message into a queue; the
// JetStream thread drains the queue in batches, and each batch ends with one
// Sync per touched store, so every publish in the batch shares one fsync
// (group commit). Replies go out through Server::PublishInternal.
#include <asio.hpp>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/histogram.h"
#include "jetstream/types.h"
#include "server/server.h"
#include "store/env.h"
#include "store/store.h"

namespace fjord::jetstream {

class Stream;
class Consumer;
class ClusterMeta;
struct AssignmentChange;
struct StreamAssignment;
struct ClusterState;

// What the accounts' JetStreams store together, held against the server's
// max_mem_store / max_file_store (each account's own limit is separate).
// Each JetStream adds its changes after every batch, so a check sees the
// other accounts' usage as of their last batch.
struct ServerUsage {
  int64_t max_memory = -1;
  int64_t max_store = -1;
  std::atomic<int64_t> memory{0};
  std::atomic<int64_t> store{0};
};

struct Options {
  std::string store_dir;   // root; streams live in <store_dir>/jetstream/<account>/streams
  int64_t max_memory = -1; // bytes for memory streams; -1 = unlimited
  int64_t max_store = -1;  // bytes for file streams; -1 = unlimited
  int64_t max_streams = -1;    // -1 = unlimited
  int64_t max_consumers = -1;  // per stream, as nats-server counts it; -1 = unlimited
  // Shared by the JetStreams of several accounts; null with one account
  // (whose max_memory/max_store then are the server's).
  std::shared_ptr<ServerUsage> server_usage;
  bool sync_always = true; // fsync before acknowledging (group commit)
  int64_t sync_interval_ns = 0;
  std::string domain;
  // The server is part of a JetStream cluster (jetstream/cluster.h): its
  // API, stream and ack subscriptions are routed, and each request is
  // answered by one server of the cluster.
  bool clustered = false;
  // Shared by every file stream of the server; null: each its own default.
  std::shared_ptr<store::CacheBudget> index_cache;
  // How often every stored message is read back and checked (the scrub,
  // JetStream::Scrub); 0: never.
  int64_t scrub_interval_ns = 0;
};

// A message as queued for the JetStream thread.
struct Inbound {
  enum class Kind { kApi, kPublish, kAck } kind;
  std::shared_ptr<Stream> stream;  // kPublish
  std::string subject;
  std::string reply;
  std::string hdr;
  std::string data;
  int64_t ts = 0;  // arrival time, unix ns
  size_t cost = 0;  // bytes counted against the queue bound (set by Enqueue)
  uint64_t client_id = 0;  // kApi: the requesting connection, 0 if internal
};

// For an account without JetStream: answers its `$JS.API` requests
// "JetStream not enabled for account" (10039), typed per API as nats-server
// does, so clients fail fast instead of timing out. Unsubscribe to stop.
server::SubPtr ServeDisabled(server::Account* account);

class JetStream {
 public:
  // Latencies for /metrics; any thread may read them.
  struct Metrics {
    // A publish's arrival to its PubAck leaving (after the fsync).
    base::LatencyHistogram publish_ack;
    // An API request's arrival to its handler's end (a reply that waits for
    // durability leaves later).
    base::LatencyHistogram api;
  };
  // JetStream for one account: its API, streams and consumers live in
  // `account`'s subject space and under its own store directory.
  JetStream(server::Server* server, server::Account* account, Options opts);
  ~JetStream();

  // Recovers streams from disk and starts serving the API. Error text on failure.
  std::string Start();
  void Shutdown();

  // -- for streams and consumers (JetStream thread) -----------------------
  server::Server* server() { return server_; }
  server::Account* account() { return account_; }
  asio::io_context& ctx() { return ctx_; }
  const Options& options() const { return opts_; }
  // New account limits (a pushed account JWT); applied on the JetStream
  // thread to what is checked from then on. Any thread.
  void UpdateLimits(int64_t max_memory, int64_t max_store, int64_t max_streams, int64_t max_consumers);
  store::Env* env() { return env_; }
  std::shared_ptr<Stream> FindStream(const std::string& name) const;
  // Sends a reply (or any message) as the server.
  void Send(std::string_view subject, std::string_view reply, std::string_view hdr,
            std::string_view data);
  // An API reply: inside a WorkScope it waits for the scope's end.
  void Reply(std::string_view reply, const Json& body);
  // Queues work from any thread. While the queue holds more than
  // kQueueHigh bytes, a connection publishing into it stops reading until
  // the JetStream thread has brought it below kQueueLow (see Client::
  // PauseReadingUntil): a flood of publishes without replies is slowed to
  // the rate they are stored at instead of piling up in memory. Nothing is
  // dropped, and the JetStream thread's own publishes never wait.
  void Enqueue(Inbound msg);
  // Queues an ack (`$JS.ACK.…`) as its subscription delivered it.
  void EnqueueAck(const server::InternalMsg& m) {
    Enqueue({Inbound::Kind::kAck, nullptr, std::string(m.subject), std::string(m.reply), std::string(m.hdr),
             std::string(m.data), 0});
  }
  static constexpr size_t kQueueHigh = 8 << 20;
  static constexpr size_t kQueueLow = 4 << 20;
  // Bytes queued or in the batch being processed.
  size_t queued_bytes() const { return queued_->bytes.load(std::memory_order_relaxed); }
  // Marks a store as written to in the current batch (synced at its end).
  void TouchStream(const std::shared_ptr<Stream>& s);
  // Runs `fn` on the JetStream thread once everything the current batch
  // wrote to `s`'s store, and to `c`'s state when given, is durable.
  void AfterSync(const std::shared_ptr<Stream>& s, std::function<void()> fn,
                 std::shared_ptr<Consumer> c = nullptr);
  // The same for a message the server publishes (a PubAck, a republish):
  // on a replicated stream, sent from the thread that learns that the
  // batch is durable (the stream group's commit), before the AfterSync
  // functions of the batch run, which saves the hand-over to the
  // JetStream thread on the path of every acknowledged publish. On a
  // single-replica stream, as AfterSync (the store's sync thread must get
  // on with its next fsync). `fn` may only publish (Send): it may run on
  // another thread. `c` as for AfterSync.
  void SendAfterSync(const std::shared_ptr<Stream>& s, std::function<void()> fn,
                     std::shared_ptr<Consumer> c = nullptr);

  // One piece of JetStream-thread work: a batch, a tick, a consumer timer.
  // Its output leaves in one flush per connection (Server::OutputBatch).
  // When the outermost scope ends, every consumer state change the work
  // made is written to the OS (Consumer::FlushState; fsynced by the
  // consumers' group commit, or within sync_interval), and only then are
  // the work's API replies (Reply) sent: a client that got a reply knows
  // that everything it told the server before that request — a plain ack
  // included — survives kill -9.
  class WorkScope {
   public:
    explicit WorkScope(JetStream* js) : js_(js) { ++js_->work_depth_; }
    ~WorkScope();
    WorkScope(const WorkScope&) = delete;
    WorkScope& operator=(const WorkScope&) = delete;

   private:
    server::Server::OutputBatch output_;  // destroyed last: flushes what the scope queued
    JetStream* js_;
  };
  // A consumer's state changed in this work: written out when it ends.
  void NoteConsumerChanged(std::shared_ptr<Consumer> c) { changed_consumers_.push_back(std::move(c)); }
  // A replicated stream has message removals to propose when this work
  // ends, after its consumers' changes (Stream::RemoveMsg).
  void NoteRemovals(std::shared_ptr<Stream> s) { removing_.push_back(std::move(s)); }
  // The fsync thread shared by all consumer stores.
  const std::shared_ptr<store::GroupCommit>& consumer_sync() const { return consumer_sync_; }

  std::string StreamDir(const std::string& name) const;

  // -- clustered (jetstream/cluster.h) ------------------------------------
  // The meta group, once it runs; until then the cluster's requests get
  // no answer from this server. Any thread.
  void SetClusterMeta(ClusterMeta* meta) { meta_.store(meta, std::memory_order_release); }
  ClusterMeta* meta() const { return meta_.load(std::memory_order_acquire); }
  // Runs `fn` on the JetStream thread, as a piece of work (WorkScope),
  // unless JetStream has stopped. Any thread.
  void Post(std::function<void()> fn);
  // A stream became durable further, or a mirror or source got messages
  // from another server: mirrors and sources copy on (a Drain soon, once
  // however many wake it). JetStream thread.
  void WakeSourcing();
  // A committed change of the account's stream assignments, applied on the
  // JetStream thread in the order of the calls. Any thread.
  void ApplyAssignment(AssignmentChange change);
  // The meta group caught up: the streams held here follow `assigned` (the
  // account's assignments). Any thread.
  void Reconcile(std::vector<StreamAssignment> assigned);
  ClusterState* cluster_state() { return cluster_.get(); }
  // Usage across all streams, for account info and limits.
  uint64_t MemoryUsed() const;
  // Whether `bytes` more of `storage` would pass the server's limit shared
  // with other accounts.
  bool ServerLimitExceeded(Storage storage, uint64_t bytes) const;
  uint64_t StoreUsed() const;
  size_t ConsumerCount() const;

 private:
  friend class Api;
  void Drain();
  void HandleApi(Inbound& msg);
  void HandleAck(Inbound& msg);
  void Tick();
  // A client subscribed somewhere: push consumers waiting for a subscriber
  // on their deliver subject look again (instead of on the next tick).
  void CheckPushInterest();

  server::Server* server_;
  server::Account* account_;
  Options opts_;
  store::Env* env_;
  asio::io_context ctx_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::steady_timer timer_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};  // thread_'s, once it runs

  std::mutex queue_mu_;
  std::vector<Inbound> queue_;  // guarded by queue_mu_
  // Shared with paused connections' resume checks, which may outlive us.
  struct QueueGauge {
    std::atomic<size_t> bytes{0};
    std::atomic<bool> stopped{false};  // nothing drains any more: resume all
  };
  std::shared_ptr<QueueGauge> queued_ = std::make_shared<QueueGauge>();
  bool drain_posted_ = false;   // guarded by queue_mu_

  // JetStream thread only.
  std::map<std::string, std::shared_ptr<Stream>> streams_;
  std::vector<std::shared_ptr<Stream>> touched_;
  struct PendingSync {
    std::vector<std::function<void()>> fns;
    std::vector<std::function<void()>> sends;  // SendAfterSync
    std::vector<std::shared_ptr<Consumer>> consumers;
  };
  std::map<std::shared_ptr<Stream>, PendingSync> after_sync_;
  void FlushConsumers();
  // The background scrub, from Tick: a pass reads back every stored message
  // of every stream, one stream after another in name order, at most
  // kScrubBytes a tick, so that damage on disk is found (and, with other
  // replicas, repaired: Stream::Scrub) before a reader needs the message.
  // The first pass starts a few minutes after start (a restart is when the
  // page cache no longer hides the disk), then one every scrub interval.
  void Scrub(int64_t now);
  struct ScrubState {
    bool active = false;
    int64_t next_pass = 0;  // 0: not planned yet
    int64_t started = 0;
    std::string stream;  // the stream being checked, or the last one done
    uint64_t seq = 0;    // where it goes on in `stream`; 0: `stream` is done
  } scrub_;
  // Adds this account's usage change to opts_.server_usage.
  void ReportUsage();
  int64_t reported_memory_ = 0, reported_store_ = 0;
  std::vector<std::shared_ptr<Consumer>> changed_consumers_;
  std::vector<std::shared_ptr<Stream>> removing_;
  int work_depth_ = 0;  // WorkScopes open
  std::vector<std::pair<std::string, std::string>> deferred_replies_;  // (subject, body)
  std::shared_ptr<store::GroupCommit> consumer_sync_;
  std::atomic<ClusterMeta*> meta_{nullptr};
  struct ClusterStateDeleter {
    void operator()(ClusterState* s) const;
  };
  std::unique_ptr<ClusterState, ClusterStateDeleter> cluster_;  // clustered only
  server::SubPtr api_sub_;
  server::SubPtr domain_api_sub_;  // `$JS.<domain>.API.>`, when a domain is set
  server::SubPtr ack_sub_;
  uint64_t api_total_ = 0;
  uint64_t api_errors_ = 0;
  Metrics metrics_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> interest_check_posted_{false};
  bool sourcing_posted_ = false;  // a Drain to continue copying is queued

 public:
  // API handlers use these (JetStream thread only).
  std::map<std::string, std::shared_ptr<Stream>>& streams() { return streams_; }
  void CountApi(bool error) {
    ++api_total_;
    if (error) ++api_errors_;
  }
  uint64_t api_total() const { return api_total_; }
  Metrics& metrics() { return metrics_; }
  uint64_t api_errors() const { return api_errors_; }
};

}  // namespace fjord::jetstream
