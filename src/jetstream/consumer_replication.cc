#include "jetstream/consumer_replication.h"

#include <set>
#include <utility>

#include "base/log.h"
#include "store/coding.h"
#include "store/consumer_state.h"

namespace fjord::jetstream {
namespace {

enum Event : uint8_t { kConfig = 1, kDelivered = 2, kAck = 3, kDue = 4, kReset = 5, kDelete = 6 };

void PutBytes(std::string* out, std::string_view b) {
  store::PutU32(out, static_cast<uint32_t>(b.size()));
  out->append(b);
}

bool GetBytes(store::Reader& r, std::string_view* b) {
  uint32_t n = 0;
  return r.U32(&n) && r.Bytes(n, b);
}

void LogFailure(const store::Status& st, const std::string& stream, const std::string& name) {
  if (!st.ok()) log::Error("JetStream stream '{}': consumer '{}': its local copy failed: {}", stream, name, st.msg);
}

// Creates or replaces the local copy of `name` with `meta` as its config.
LocalConsumer* EnsureLocal(LocalConsumers& local, const std::string& name, std::string_view meta,
                           const std::string& stream) {
  auto it = local.consumers->find(name);
  if (it == local.consumers->end()) {
    auto cs = local.open(name, meta);
    if (!cs.ok()) {
      LogFailure(cs.status, stream, name);
      return nullptr;
    }
    LocalConsumer lc;
    lc.store = std::move(cs.value);
    lc.delivered = lc.store->State().delivered_consumer;
    it = local.consumers->emplace(name, std::move(lc)).first;
  }
  LogFailure(it->second.store->SetConfig(meta), stream, name);
  return &it->second;
}

void RemoveLocal(LocalConsumers& local, const std::string& name, const std::string& stream) {
  auto it = local.consumers->find(name);
  if (it == local.consumers->end()) return;
  LogFailure(it->second.store->Delete(), stream, name);
  local.consumers->erase(it);
}

}  // namespace

ConsumerOp::ConsumerOp(std::string_view consumer) : consumer_(consumer) {}

void ConsumerOp::Config(std::string_view meta) {
  // The latest config wins; it goes first (a create's state follows it).
  config_.assign(meta);
  has_config_ = true;
}

void ConsumerOp::Delivered(uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts) {
  buf_.push_back(kDelivered);
  store::PutU64(&buf_, dseq);
  store::PutU64(&buf_, sseq);
  store::PutU64(&buf_, dc);
  store::PutU64(&buf_, static_cast<uint64_t>(ts));
  ++events_;
}

void ConsumerOp::Ack(uint64_t dseq, uint64_t sseq) {
  buf_.push_back(kAck);
  store::PutU64(&buf_, dseq);
  store::PutU64(&buf_, sseq);
  ++events_;
}

void ConsumerOp::Due(uint64_t sseq, int64_t due, uint64_t delivered) {
  buf_.push_back(kDue);
  store::PutU64(&buf_, sseq);
  store::PutU64(&buf_, static_cast<uint64_t>(due));
  store::PutU64(&buf_, delivered);
  ++events_;
}

void ConsumerOp::Reset(const store::ConsumerState& st) {
  // Every change before it is moot (a config is not a change of state).
  buf_.clear();
  events_ = 0;
  std::string enc;
  store::EncodeConsumerState(st, &enc);
  buf_.push_back(kReset);
  PutBytes(&buf_, enc);
  ++events_;
}

void ConsumerOp::Delete() {
  buf_.clear();
  has_config_ = false;
  config_.clear();
  buf_.push_back(kDelete);
  events_ = 1;
}

std::string ConsumerOp::Take() {
  std::string out(1, kTag);
  PutBytes(&out, consumer_);
  if (has_config_) {
    out.push_back(kConfig);
    PutBytes(&out, config_);
  }
  out += buf_;
  buf_.clear();
  config_.clear();
  has_config_ = false;
  events_ = 0;
  return out;
}

bool ApplyConsumerOp(std::string_view op, LocalConsumers local, const std::string& stream) {
  if (!ConsumerOp::Is(op)) return false;
  store::Reader r(op.substr(1));
  std::string_view name_view;
  if (!GetBytes(r, &name_view)) return false;
  std::string name(name_view);
  // Read whole before anything is applied: a damaged entry changes nothing.
  struct Ev {
    uint8_t kind;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    std::string_view bytes;
  };
  std::vector<Ev> events;
  while (r.remaining() > 0) {
    Ev e{};
    if (!r.U8(&e.kind)) return false;
    bool ok = true;
    switch (e.kind) {
      case kConfig:
      case kReset:
        ok = GetBytes(r, &e.bytes);
        break;
      case kDelivered:
        ok = r.U64(&e.a) && r.U64(&e.b) && r.U64(&e.c) && r.U64(&e.d);
        break;
      case kAck:
        ok = r.U64(&e.a) && r.U64(&e.b);
        break;
      case kDue:
        ok = r.U64(&e.a) && r.U64(&e.b) && r.U64(&e.c);
        break;
      case kDelete:
        break;
      default:
        return false;
    }
    if (!ok) return false;
    events.push_back(e);
  }
  std::vector<store::ConsumerState> resets(events.size());
  for (size_t i = 0; i < events.size(); ++i)
    if (events[i].kind == kReset && !store::DecodeConsumerState(events[i].bytes, &resets[i])) return false;

  LocalConsumer* lc = nullptr;
  if (auto it = local.consumers->find(name); it != local.consumers->end()) lc = &it->second;
  for (size_t i = 0; i < events.size(); ++i) {
    const Ev& e = events[i];
    if (e.kind == kConfig) {
      lc = EnsureLocal(local, name, e.bytes, stream);
      continue;
    }
    if (e.kind == kDelete) {
      RemoveLocal(local, name, stream);
      lc = nullptr;
      continue;
    }
    // Changes of a consumer this replica has no copy of: one deleted
    // later in the log (a replay), or whose creation failed here.
    if (!lc) continue;
    store::Status st;
    switch (e.kind) {
      case kDelivered:
        if (e.a <= lc->delivered) break;  // applied before this replay
        lc->delivered = e.a;
        st = lc->store->UpdateDelivered(e.a, e.b, e.c, static_cast<int64_t>(e.d));
        break;
      case kAck:
        st = lc->store->UpdateAcks(e.a, e.b);
        break;
      case kDue:
        // Set before a delivery applied already: a replay, and that
        // delivery (or the state after it) has the current time.
        if (e.c < lc->delivered) break;
        st = lc->store->UpdateDue(e.a, static_cast<int64_t>(e.b));
        break;
      case kReset:
        lc->delivered = resets[i].delivered_consumer;
        st = lc->store->Reset(resets[i]);
        break;
    }
    LogFailure(st, stream, name);
  }
  if (lc) LogFailure(lc->store->Flush(), stream, name);
  return true;
}

std::string EncodeConsumerSnapshot(const std::map<std::string, LocalConsumer>& consumers) {
  std::string out;
  store::PutU64(&out, consumers.size());
  for (const auto& [name, lc] : consumers) {
    auto meta = lc.store->Config();
    std::string state;
    store::EncodeConsumerState(lc.store->State(), &state);
    PutBytes(&out, name);
    PutBytes(&out, meta.ok() ? meta.value : std::string());
    PutBytes(&out, state);
  }
  return out;
}

void LogConsumerState(std::string_view stream, std::string_view name, std::string_view when,
                      const store::ConsumerState& st) {
  log::Debug("JetStream consumer '{} > {}' {}: delivered {}, ack floor {}, {} pending", stream, name, when,
             st.delivered_stream, st.ack_floor_stream, st.pending.size());
}

void LogConsumerState(std::string_view stream, std::string_view name, std::string_view when,
                      const store::ConsumerStore& cs) {
  if (log::DebugEnabled()) LogConsumerState(stream, name, when, cs.State());
}

bool RestoreConsumerSnapshot(std::string_view app, LocalConsumers local, const std::string& stream) {
  store::Reader r(app);
  uint64_t n = 0;
  // A snapshot from before consumers were replicated has no part.
  if (app.empty()) n = 0;
  else if (!r.U64(&n)) return false;
  struct Entry {
    std::string name;
    std::string_view meta;
    store::ConsumerState state;
  };
  std::vector<Entry> entries;
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view name, meta, state;
    if (!GetBytes(r, &name) || !GetBytes(r, &meta) || !GetBytes(r, &state)) return false;
    Entry e{std::string(name), meta, {}};
    if (!store::DecodeConsumerState(state, &e.state)) return false;
    entries.push_back(std::move(e));
  }
  std::set<std::string> keep;
  for (const auto& e : entries) {
    keep.insert(e.name);
    LocalConsumer* lc = EnsureLocal(local, e.name, e.meta, stream);
    if (!lc) continue;
    lc->delivered = e.state.delivered_consumer;
    LogConsumerState(stream, e.name, "restored from the group's snapshot", e.state);
    LogFailure(lc->store->Reset(e.state), stream, e.name);
    LogFailure(lc->store->Flush(), stream, e.name);
  }
  std::vector<std::string> gone;
  for (const auto& [name, lc] : *local.consumers)
    if (!keep.count(name)) gone.push_back(name);
  for (const auto& name : gone) RemoveLocal(local, name, stream);
  return true;
}

ReplicatedConsumerStore::ReplicatedConsumerStore(std::string name, Hooks hooks, bool leader_only)
    : name_(std::move(name)), hooks_(std::move(hooks)), op_(name_) {
  if (leader_only) own_ = store::NewMemConsumerStore();
}

store::ConsumerStore& ReplicatedConsumerStore::Own() const {
  if (!seeded_) {
    seeded_ = true;
    if (auto local = hooks_.local()) own_->Reset(local->State());
  }
  return *own_;
}

store::Status ReplicatedConsumerStore::SetConfig(std::string_view json) {
  config_ = json;
  op_.Config(json);
  return {};
}

store::Result<std::string> ReplicatedConsumerStore::Config() {
  if (!config_.empty()) return {{}, config_};
  if (auto local = hooks_.local()) return local->Config();
  return {{store::Errc::kNotFound, "no config"}, {}};
}

store::Status ReplicatedConsumerStore::UpdateDelivered(uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts) {
  if (own_) return Own().UpdateDelivered(dseq, sseq, dc, ts);
  op_.Delivered(dseq, sseq, dc, ts);
  delivered_ = dseq;
  return {};
}

store::Status ReplicatedConsumerStore::UpdateAcks(uint64_t dseq, uint64_t sseq) {
  if (own_) return Own().UpdateAcks(dseq, sseq);
  op_.Ack(dseq, sseq);
  return {};
}

store::Status ReplicatedConsumerStore::UpdateDue(uint64_t sseq, int64_t due) {
  if (own_) return Own().UpdateDue(sseq, due);
  if (!delivered_) delivered_ = State().delivered_consumer;
  op_.Due(sseq, due, *delivered_);
  return {};
}

store::Status ReplicatedConsumerStore::Reset(const store::ConsumerState& state) {
  // Proposed even for a leader-only consumer: a create's initial state (its
  // start position) is where a new leader starts it again.
  if (own_) Own().Reset(state);
  op_.Reset(state);
  delivered_ = state.delivered_consumer;
  return {};
}

store::ConsumerState ReplicatedConsumerStore::State() const {
  if (own_) return Own().State();
  if (auto local = hooks_.local()) return local->State();
  return {};
}

store::Status ReplicatedConsumerStore::Flush() {
  if (closed_) return {store::Errc::kClosed, "consumer closed"};
  if (refused_) return {store::Errc::kIo, "an earlier change was not proposed"};
  if (op_.empty()) return {};
  std::string err = hooks_.propose(op_.Take());
  if (!err.empty()) {
    refused_ = true;
    return {store::Errc::kIo, err};
  }
  proposed_ = true;
  return {};
}

void ReplicatedConsumerStore::Sync(std::function<void(store::Status)> done) {
  if (auto st = Flush(); !st.ok()) return done(st);
  // A leader-only consumer's acknowledgements are in memory already; only
  // its own proposals (its creation, a config change) are waited for.
  if (own_ && !std::exchange(proposed_, false)) return done({});
  hooks_.when_committed(std::move(done));
}

store::Status ReplicatedConsumerStore::Delete() {
  if (closed_) return {store::Errc::kClosed, "consumer closed"};
  op_.Delete();
  auto st = Flush();
  closed_ = true;
  return st;
}

store::Status ReplicatedConsumerStore::Close() {
  closed_ = true;
  return {};
}

}  // namespace fjord::jetstream
