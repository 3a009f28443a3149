#include "jetstream/jetstream.h"

#include <pthread.h>

#include "base/log.h"
#include "jetstream/api.h"
#include "jetstream/api_common.h"
#include "jetstream/cluster_api.h"
#include "jetstream/consumer.h"
#include "jetstream/sourcing.h"
#include "jetstream/stream.h"
#include "server/client.h"

namespace fjord::jetstream {
namespace {
constexpr auto kTick = std::chrono::milliseconds(100);
// The scrub reads at most this much a tick (2.5 MiB/s): a file stream's
// store is shared with its Raft group, which waits while it reads.
constexpr uint64_t kScrubBytes = 256 * 1024;
// The first scrub pass starts this long after start (or one interval, if
// shorter).
constexpr int64_t kFirstScrubNs = 5 * 60 * 1'000'000'000LL;
// Messages mirrors and sources copy per turn of the JetStream thread: a
// large origin is caught up over many turns, with publishes and API
// requests served in between.
constexpr size_t kSourcingBudget = 4096;
}

server::SubPtr ServeDisabled(server::Account* account) {
  return account->SubscribeInternal("$JS.API.>", [account](const server::InternalMsg& m) {
    if (m.reply.empty()) return;
    std::string_view api = m.subject.substr(8);  // after "$JS.API."
    struct Kind {
      std::string_view prefix;
      const char* type;
      const char* list;  // names and list replies carry an empty page
    };
    static constexpr Kind kKinds[] = {
        {"INFO", "account_info_response", nullptr},
        {"STREAM.CREATE.", "stream_create_response", nullptr},
        {"STREAM.UPDATE.", "stream_update_response", nullptr},
        {"STREAM.DELETE.", "stream_delete_response", nullptr},
        {"STREAM.INFO.", "stream_info_response", nullptr},
        {"STREAM.LIST", "stream_list_response", "streams"},
        {"STREAM.NAMES", "stream_names_response", "streams"},
        {"STREAM.PURGE.", "stream_purge_response", nullptr},
        {"STREAM.MSG.GET.", "stream_msg_get_response", nullptr},
        {"STREAM.MSG.DELETE.", "stream_msg_delete_response", nullptr},
        {"STREAM.SNAPSHOT.", "stream_snapshot_response", nullptr},
        {"STREAM.RESTORE.", "stream_restore_response", nullptr},
        {"CONSUMER.CREATE.", "consumer_create_response", nullptr},
        {"CONSUMER.DURABLE.CREATE.", "consumer_create_response", nullptr},
        {"CONSUMER.DELETE.", "consumer_delete_response", nullptr},
        {"CONSUMER.INFO.", "consumer_info_response", nullptr},
        {"CONSUMER.LIST.", "consumer_list_response", "consumers"},
        {"CONSUMER.NAMES.", "consumer_names_response", "consumers"},
    };
    for (const auto& k : kKinds) {
      if (api.substr(0, k.prefix.size()) != k.prefix) continue;
      if (k.prefix == "INFO" && api.size() != 4) break;
      Json j = Typed(k.type);
      j["error"] = MakeError(Err::NotEnabledForAccount).ToJson();
      if (k.list) {
        j["total"] = 0;
        j["offset"] = 0;
        j["limit"] = 0;
        j[k.list] = nullptr;
      }
      account->PublishInternal(m.reply, {}, {}, j.dump());
      return;
    }
    // Anything else (direct get, next message, unknown APIs) gets no reply,
    // as from nats-server.
  });
}

JetStream::JetStream(server::Server* server, server::Account* account, Options opts)
    : server_(server),
      account_(account),
      opts_(std::move(opts)),
      env_(store::DefaultEnv()),
      guard_(asio::make_work_guard(ctx_)),
      timer_(ctx_) {}

JetStream::~JetStream() { Shutdown(); }

std::string JetStream::StreamDir(const std::string& name) const {
  return opts_.store_dir + "/jetstream/" + account_->name() + "/streams/" + name;
}

std::string JetStream::Start() {
  if (opts_.store_dir.empty()) return "no store directory";
  // Durably: a power loss soon after the first start must not take the
  // directories, and with them the streams created in them, away.
  const std::string root = opts_.store_dir + "/jetstream/" + account_->name() + "/streams";
  if (auto st = store::CreateDirsDurably(env_, root); !st.ok()) {
    return "can not create store directory " + root + ": " + st.msg;
  }
  log::Info("Starting JetStream for account {}", account_->name());
  log::Info("  Store Directory: \"{}\"", opts_.store_dir);
  log::Info("  Max Memory:      {}", opts_.max_memory < 0 ? std::string("unlimited") : std::to_string(opts_.max_memory));
  log::Info("  Max Storage:     {}", opts_.max_store < 0 ? std::string("unlimited") : std::to_string(opts_.max_store));
  log::Info("  Durability:      {}", opts_.sync_always ? "fsync before every acknowledgement (group commit)"
                                                         : "acknowledge after write, fsync every interval");
  consumer_sync_ = store::NewConsumerSync(opts_.sync_always ? store::SyncMode::kAlways : store::SyncMode::kInterval,
                                          opts_.sync_interval_ns);
  auto names = env_->ListDir(root);
  if (!names.ok()) return "can not list " + root + ": " + names.status.msg;
  for (const auto& name : names.value) {
    std::string dir = root + "/" + name;
    if (!env_->IsDir(dir)) continue;
    auto meta = store::ReadStreamMeta(env_, dir);
    if (!meta.ok()) {
      log::Error("  Skipping stream directory \"{}\": {}", dir, meta.status.msg);
      continue;
    }
    auto j = nlohmann::json::parse(meta.value, nullptr, false);
    StreamConfig cfg;
    int64_t created = 0;
    if (j.is_discarded() || !j.contains("config") || ParseStreamConfig(j["config"], &cfg) ||
        CheckStreamConfig(&cfg, false, opts_.clustered)) {
      log::Error("  Skipping stream \"{}\": unreadable metadata", name);
      continue;
    }
    if (j.contains("created") && j["created"].is_string()) ParseTime(j["created"].get<std::string>(), &created);
    ApiError err;
    auto s = Stream::Open(this, cfg, created, /*recover=*/true, &err);
    if (!s) {
      log::Error("  Error recovering stream \"{}\": {}", name, err.description);
      continue;
    }
    RecoverConsumers(this, s.get());
    // A replica subscribes once it leads its group (cluster_api.cc starts
    // the group when the meta group has caught up).
    if (!s->replicated()) s->Subscribe();
    auto st = s->store().State();
    log::Info("  Restored {} messages for stream '{} > {}'", st.msgs, account_->name(), name);
    streams_[cfg.name] = std::move(s);
  }
  // In a cluster every server hears every request (cluster.h).
  const bool routed = opts_.clustered;
  if (routed) cluster_.reset(StartCluster(this));
  api_sub_ = account_->SubscribeInternal(
      "$JS.API.>",
      [this](const server::InternalMsg& m) {
        Inbound in{Inbound::Kind::kApi, nullptr, std::string(m.subject), std::string(m.reply),
                   std::string(m.hdr), std::string(m.data), NowNs()};
        in.client_id = m.client_id;
        Enqueue(std::move(in));
      },
      routed);
  if (!opts_.domain.empty()) {
    // A client made for domain D sends `$JS.D.API.<api>`; nats-server maps
    // that onto the local `$JS.API.<api>`, and so does this.
    std::string prefix = "$JS." + opts_.domain + ".API.";
    domain_api_sub_ = account_->SubscribeInternal(
        prefix + ">",
        [this, prefix](const server::InternalMsg& m) {
          Inbound in{Inbound::Kind::kApi, nullptr, "$JS.API." + std::string(m.subject.substr(prefix.size())),
                     std::string(m.reply), std::string(m.hdr), std::string(m.data), NowNs()};
          in.client_id = m.client_id;
          Enqueue(std::move(in));
        },
        routed);
  }
  // In a cluster each stream takes its own acks (Stream::Subscribe), so an
  // ack crosses a route only to the server that holds its stream.
  if (!opts_.clustered) {
    ack_sub_ = account_->SubscribeInternal("$JS.ACK.>", [this](const server::InternalMsg& m) { EnqueueAck(m); });
  }
  account_->SetSubscribeObserver([this](std::string_view) {
    // Bursts of subscriptions collapse into one check.
    if (interest_check_posted_.exchange(true)) return;
    asio::post(ctx_, [this] { CheckPushInterest(); });
  });
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "fjord-js");
    thread_id_ = std::this_thread::get_id();
    ctx_.run();
  });
  asio::post(ctx_, [this] { Tick(); });
  log::Info("JetStream ready: {} stream(s)", streams_.size());
  return {};
}

void JetStream::Shutdown() {
  if (stopped_.exchange(true)) return;
  if (api_sub_) account_->UnsubscribeInternal(api_sub_);
  if (domain_api_sub_) account_->UnsubscribeInternal(domain_api_sub_);
  if (ack_sub_) account_->UnsubscribeInternal(ack_sub_);
  StopCluster(this, cluster_.get());
  if (thread_.joinable()) {
    // Finish queued work, then close every store on the JetStream thread.
    asio::post(ctx_, [this] {
      Drain();
      // Nothing drains the queue from here on: let any paused publisher go.
      queued_->stopped.store(true);
      timer_.cancel();
      for (auto& [name, s] : streams_) s->Close();
      streams_.clear();
      guard_.reset();
    });
    thread_.join();
  } else {
    for (auto& [name, s] : streams_) s->Close();
    streams_.clear();
  }
}

std::shared_ptr<Stream> JetStream::FindStream(const std::string& name) const {
  auto it = streams_.find(name);
  return it == streams_.end() ? nullptr : it->second;
}

void JetStream::Send(std::string_view subject, std::string_view reply, std::string_view hdr,
                     std::string_view data) {
  account_->PublishInternal(subject, reply, hdr, data);
}

void JetStream::Reply(std::string_view reply, const Json& body) {
  if (reply.empty()) return;
  if (work_depth_ > 0) {
    deferred_replies_.emplace_back(reply, body.dump());
    return;
  }
  Send(reply, {}, {}, body.dump());
}

JetStream::WorkScope::~WorkScope() {
  if (--js_->work_depth_ > 0) return;
  js_->FlushConsumers();
  auto removing = std::move(js_->removing_);
  js_->removing_.clear();
  for (auto& s : removing) s->FlushRemovals();
  auto replies = std::move(js_->deferred_replies_);
  js_->deferred_replies_.clear();
  for (const auto& [subject, body] : replies) js_->Send(subject, {}, {}, body);
}

void JetStream::Enqueue(Inbound msg) {
  msg.cost = sizeof(Inbound) + msg.subject.size() + msg.reply.size() + msg.hdr.size() + msg.data.size();
  size_t queued = queued_->bytes.fetch_add(msg.cost, std::memory_order_relaxed) + msg.cost;
  // Only an I/O thread may pause its publisher; the JetStream thread
  // (stream republish, internal requests) must never wait on its own queue.
  if (queued > kQueueHigh && std::this_thread::get_id() != thread_id_.load()) {
    server::Client::PauseReadingUntil([q = queued_] {
      return q->bytes.load(std::memory_order_relaxed) <= kQueueLow || q->stopped.load();
    });
  }
  bool post = false;
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(std::move(msg));
    if (!drain_posted_) post = drain_posted_ = true;
  }
  if (post) asio::post(ctx_, [this] { Drain(); });
}

void JetStream::TouchStream(const std::shared_ptr<Stream>& s) { after_sync_[s]; }

void JetStream::AfterSync(const std::shared_ptr<Stream>& s, std::function<void()> fn,
                          std::shared_ptr<Consumer> c) {
  auto& p = after_sync_[s];
  p.fns.push_back(std::move(fn));
  if (c) p.consumers.push_back(std::move(c));
}

void JetStream::SendAfterSync(const std::shared_ptr<Stream>& s, std::function<void()> fn,
                              std::shared_ptr<Consumer> c) {
  auto& p = after_sync_[s];
  p.sends.push_back(std::move(fn));
  if (c) p.consumers.push_back(std::move(c));
}

void JetStream::Drain() {
  WorkScope work(this);
  std::vector<Inbound> batch;
  {
    std::lock_guard lock(queue_mu_);
    batch.swap(queue_);
    drain_posted_ = false;
  }
  for (auto& m : batch) {
    switch (m.kind) {
      case Inbound::Kind::kApi:
        HandleApi(m);
        metrics_.api.Observe(NowNs() - m.ts);
        break;
      case Inbound::Kind::kPublish:
        if (m.stream && streams_.count(m.stream->name()) && streams_[m.stream->name()] == m.stream)
          m.stream->ProcessPublish(m);
        break;
      case Inbound::Kind::kAck:
        HandleAck(m);
        break;
    }
  }
  // Whatever the batch stored flows on to mirrors and sources now, and
  // their writes share this batch's sync.
  if (PumpSources(this, kSourcingBudget)) WakeSourcing();
  ReportUsage();
  size_t done = 0;
  for (const auto& m : batch) done += m.cost;
  batch.clear();
  queued_->bytes.fetch_sub(done, std::memory_order_relaxed);
  // One sync per touched store covers every write of the batch (group
  // commit); replies wait for it.
  auto pending = std::move(after_sync_);
  after_sync_.clear();
  for (auto& [stream, p] : pending) {
    stream->NotifyConsumers();
    // What the batch's syncs (the stream's, each consumer's) share; the
    // last to finish sends the replies.
    struct Waiting {
      std::vector<std::function<void()>> fns, sends;
      std::atomic<int> remaining;
      std::atomic<bool> failed{false};
    };
    auto w = std::make_shared<Waiting>();
    w->fns = std::move(p.fns);
    // A replicated stream learns durability on its group's commit thread,
    // which sends at once. A single-replica stream learns it on its store's
    // sync thread, whose next fsync would wait for the sends (R1 async
    // publishes: 0.82x with them there, compare.sh): the JetStream
    // thread, woken for the new durable sequence anyway, sends them.
    auto& sends = stream->replicated() ? w->sends : w->fns;
    for (auto& fn : p.sends) sends.push_back(std::move(fn));
    w->remaining = 1 + int(p.consumers.size());
    std::string name = stream->name();
    auto done = [this, w, name](store::Status st) {
      if (!st.ok()) {
        w->failed.store(true);
        log::Error("JetStream sync failed on stream '{}': {}", name, st.msg);
      }
      if (w->remaining.fetch_sub(1) != 1) return;
      // A failed sync acknowledges nothing: clients retry, and msg-id
      // dedupe keeps the retry from storing twice.
      if (w->failed.load()) return;
      if (!w->sends.empty()) {
        server::Server::OutputBatch output;
        for (auto& fn : w->sends) fn();
      }
      if (w->fns.empty()) return;
      asio::post(ctx_, [w] {
        server::Server::OutputBatch output;
        for (auto& fn : w->fns) fn();
      });
    };
    // Once the stream's own writes are durable, copies of them may be made
    // (mirrors and sources read only up to the durable sequence).
    uint64_t upto = stream->store().State().last_seq;
    std::weak_ptr<Stream> weak = stream;
    stream->WhenDurable([this, done, upto, weak](store::Status st) {
      if (st.ok()) {
        asio::post(ctx_, [this, upto, weak] {
          auto s = weak.lock();
          if (!s || stopped_) return;
          bool advanced = upto > s->durable_last_seq();
          s->NoteDurable(upto);
          if (advanced) WakeSourcing();
        });
      }
      done(st);
    });
    for (auto& c : p.consumers) c->SyncState(done);
  }
}

void JetStream::WakeSourcing() {
  if (sourcing_posted_) return;
  bool any = false;
  for (const auto& [name, s] : streams_) any = any || s->sourcing() != nullptr;
  if (!any) return;
  sourcing_posted_ = true;
  asio::post(ctx_, [this] {
    sourcing_posted_ = false;
    if (!stopped_) Drain();
  });
}

void JetStream::FlushConsumers() {
  // FlushState may not add to the list, but swap first all the same.
  auto changed = std::move(changed_consumers_);
  changed_consumers_.clear();
  for (auto& c : changed) c->FlushState();
}

void JetStream::Tick() {
  // A tick already due when Shutdown cancelled the timer must not re-arm it.
  if (stopped_) return;
  WorkScope work(this);
  int64_t now = NowNs();
  for (auto& [name, s] : streams_) s->Tick(now);
  Scrub(now);
  if (meta()) FinishScaleDown(this);
  // Origins that appeared, and the `active` times of StreamInfo, are
  // looked at here too, not only when something is published.
  PumpSources(this, kSourcingBudget);
  // Ticks may deliver or remove messages: make those durable like a batch.
  if (!after_sync_.empty()) Drain();
  ReportUsage();  // max_age and purges shrink usage without a batch
  timer_.expires_after(kTick);
  timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) Tick();
  });
}

void JetStream::Scrub(int64_t now) {
  int64_t every = opts_.scrub_interval_ns;
  if (every <= 0) return;
  if (!scrub_.active) {
    if (scrub_.next_pass == 0) scrub_.next_pass = now + std::min(every, kFirstScrubNs);
    if (now < scrub_.next_pass) return;
    scrub_ = {.active = true, .next_pass = 0, .started = now, .stream = {}, .seq = 0};
    log::Debug("JetStream: scrub pass started ({} streams)", streams_.size());
  }
  // One stream's share a tick. A stream deleted meanwhile: the next one.
  auto it = scrub_.seq ? streams_.find(scrub_.stream) : streams_.end();
  if (it == streams_.end()) {
    it = streams_.upper_bound(scrub_.stream);
    scrub_.seq = 0;
  }
  if (it != streams_.end()) {
    scrub_.stream = it->first;
    scrub_.seq = it->second->Scrub(scrub_.seq, kScrubBytes);
    if (scrub_.seq || std::next(it) != streams_.end()) return;
  }
  log::Debug("JetStream: scrub pass done in {} ms", (now - scrub_.started) / 1'000'000);
  scrub_.active = false;
  scrub_.next_pass = std::max(now, scrub_.started + every);
}

void JetStream::CheckPushInterest() {
  interest_check_posted_ = false;
  if (stopped_) return;
  WorkScope work(this);
  for (auto& [name, s] : streams_)
    for (auto& [cname, c] : s->consumers()) c->OnSubscribed();
  if (!after_sync_.empty()) Drain();
}

void JetStream::HandleApi(Inbound& m) {
  std::string_view subject = m.subject;
  constexpr std::string_view kPrefix = "$JS.API.";
  subject.remove_prefix(kPrefix.size());
  if (opts_.clustered && HandleClusteredApi(this, m, subject)) return;
  if (RefuseForApiLevel(this, m, subject)) return;
  if (subject.substr(0, 9) == "CONSUMER.") {
    HandleConsumerApi(this, m, subject.substr(9));
    return;
  }
  HandleStreamApi(this, m, subject);
}

void JetStream::ClusterStateDeleter::operator()(ClusterState* s) const { DeleteClusterState(s); }

void JetStream::Post(std::function<void()> fn) {
  asio::post(ctx_, [this, fn = std::move(fn)] {
    if (stopped_) return;
    WorkScope scope(this);
    fn();
  });
}

void JetStream::ApplyAssignment(AssignmentChange change) {
  asio::post(ctx_, [this, change = std::move(change)] {
    if (stopped_) return;
    WorkScope scope(this);
    ApplyAssignmentChange(this, change);
  });
}

void JetStream::Reconcile(std::vector<StreamAssignment> assigned) {
  asio::post(ctx_, [this, assigned = std::move(assigned)] {
    if (stopped_) return;
    WorkScope scope(this);
    ReconcileStreams(this, assigned);
  });
}

void JetStream::HandleAck(Inbound& m) {
  // $JS.ACK.<stream>.<consumer>.<...>
  std::string_view rest = std::string_view(m.subject).substr(8);
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return;
  std::string stream(rest.substr(0, dot));
  rest.remove_prefix(dot + 1);
  // v2 form: $JS.ACK.<domain>.<account hash>.<stream>... is not produced by
  // Fjord, so only v1 subjects arrive here.
  dot = rest.find('.');
  if (dot == std::string_view::npos) return;
  std::string consumer(rest.substr(0, dot));
  auto s = FindStream(stream);
  if (!s) return;
  auto it = s->consumers().find(consumer);
  if (it == s->consumers().end()) return;
  it->second->ProcessAck(m.subject, m.data, m.reply);
}

uint64_t JetStream::MemoryUsed() const {
  uint64_t n = 0;
  for (const auto& [name, s] : streams_)
    if (s->config().storage == Storage::kMemory) n += s->store().State().bytes;
  return n;
}

uint64_t JetStream::StoreUsed() const {
  uint64_t n = 0;
  for (const auto& [name, s] : streams_)
    if (s->config().storage == Storage::kFile) n += s->store().State().bytes;
  return n;
}

void JetStream::UpdateLimits(int64_t max_memory, int64_t max_store, int64_t max_streams, int64_t max_consumers) {
  asio::post(ctx_, [=, this] {
    opts_.max_memory = max_memory;
    opts_.max_store = max_store;
    opts_.max_streams = max_streams;
    opts_.max_consumers = max_consumers;
  });
}

bool JetStream::ServerLimitExceeded(Storage storage, uint64_t bytes) const {
  const auto& u = opts_.server_usage;
  if (!u) return false;
  if (storage == Storage::kFile && u->max_store > 0) {
    int64_t others = u->store.load(std::memory_order_relaxed) - reported_store_;
    return uint64_t(std::max<int64_t>(others, 0)) + StoreUsed() + bytes > uint64_t(u->max_store);
  }
  if (storage == Storage::kMemory && u->max_memory > 0) {
    int64_t others = u->memory.load(std::memory_order_relaxed) - reported_memory_;
    return uint64_t(std::max<int64_t>(others, 0)) + MemoryUsed() + bytes > uint64_t(u->max_memory);
  }
  return false;
}

void JetStream::ReportUsage() {
  const auto& u = opts_.server_usage;
  if (!u || (u->max_memory <= 0 && u->max_store <= 0)) return;
  int64_t mem = int64_t(MemoryUsed()), store = int64_t(StoreUsed());
  u->memory.fetch_add(mem - reported_memory_, std::memory_order_relaxed);
  u->store.fetch_add(store - reported_store_, std::memory_order_relaxed);
  reported_memory_ = mem;
  reported_store_ = store;
}

size_t JetStream::ConsumerCount() const {
  size_t n = 0;
  for (const auto& [name, s] : streams_) n += s->consumers().size();
  return n;
}

}  // namespace fjord::jetstream
