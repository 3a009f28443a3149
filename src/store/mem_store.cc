// MemStore and MemConsumerStore: the Store contract held in memory only.
#include <algorithm>
#include <cstring>

#include "store/consumer_state.h"
#include "store/indexed_store.h"

namespace fjord::store {
namespace {

// Header and payload in one allocation.
struct MemBody {
  std::string bytes;
  uint32_t hdr_len = 0;
};

class MemStore final : public IndexedStore<MemBody> {
 public:
  explicit MemStore(const Limits& limits) : IndexedStore(limits) {}

  // Nothing to make durable: every call completes at once, inline.
  void Sync(std::function<void(Status)> done) override {
    done(closed_ ? Status{Errc::kClosed, "store closed"} : Status{});
  }
  Status Scan(uint64_t start, uint64_t end,
              const std::function<bool(const MsgView&)>& fn) override {
    if (closed_) return {Errc::kClosed, "store closed"};
    for (uint64_t q = std::max(start, first_seq()); q <= std::min(end, last_seq()); ++q) {
      const Slot* s = At(q);
      if (!s->live()) continue;
      std::string_view bytes = s->body.bytes;
      MsgView v{q, s->ts, SubjectName(s->subj), bytes.substr(0, s->body.hdr_len),
                bytes.substr(s->body.hdr_len)};
      if (!fn(v)) break;
    }
    return {};
  }
  Status WriteMeta(std::string_view json) override {
    meta_ = json;
    return {};
  }
  Status Delete() override { return Close(); }
  Status Close() override {
    closed_ = true;
    return {};
  }

 protected:
  // nats-server's memory store: subject + headers + payload + 16.
  uint64_t MsgSize(std::string_view subject, std::string_view hdr,
                   std::string_view data) const override {
    return subject.size() + hdr.size() + data.size() + 16;
  }

  Status StoreBody(uint64_t, std::string_view, std::string_view hdr, std::string_view data,
                   int64_t, MemBody* body) override {
    body->bytes.reserve(hdr.size() + data.size());
    body->bytes.append(hdr).append(data);
    body->hdr_len = static_cast<uint32_t>(hdr.size());
    return {};
  }
  Status StoreSkip(uint64_t) override { return {}; }

  Result<StoredMsg> ReadMsg(uint64_t seq, const Slot& slot) override {
    Result<StoredMsg> r;
    r.value.seq = seq;
    r.value.ts = slot.ts;
    r.value.subject = SubjectName(slot.subj);
    r.value.hdr.assign(slot.body.bytes, 0, slot.body.hdr_len);
    r.value.data.assign(slot.body.bytes, slot.body.hdr_len);
    return r;
  }

  void OnRemoved(uint64_t, Slot& slot, bool erase, bool) override {
    if (erase) std::memset(slot.body.bytes.data(), 0, slot.body.bytes.size());
  }

 private:
  std::string meta_;
};

class MemConsumerStore final : public ConsumerStore {
 public:
  Status SetConfig(std::string_view json) override {
    config_ = json;
    return {};
  }
  Result<std::string> Config() override { return {{}, config_}; }
  Status UpdateDelivered(uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts) override {
    ApplyDelivered(state_, dseq, sseq, dc, ts);
    return {};
  }
  Status UpdateAcks(uint64_t dseq, uint64_t sseq) override {
    ApplyAck(state_, dseq, sseq);
    return {};
  }
  Status UpdateDue(uint64_t sseq, int64_t due) override {
    ApplyDue(state_, sseq, due);
    return {};
  }
  Status Reset(const ConsumerState& state) override {
    state_ = state;
    return {};
  }
  ConsumerState State() const override { return state_; }
  Status Flush() override { return {}; }
  void Sync(std::function<void(Status)> done) override { done({}); }
  Status Delete() override { return {}; }
  Status Close() override { return {}; }

 private:
  std::string config_;
  ConsumerState state_;
};

}  // namespace

std::unique_ptr<Store> NewMemStore(const Limits& limits) {
  return std::make_unique<MemStore>(limits);
}

std::unique_ptr<ConsumerStore> NewMemConsumerStore() {
  return std::make_unique<MemConsumerStore>();
}

}  // namespace fjord::store
