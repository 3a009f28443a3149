#include "store/consumer_state.h"

#include "store/coding.h"

namespace fjord::store {

void ApplyDelivered(ConsumerState& st, uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts) {
  if (dseq > st.delivered_consumer) st.delivered_consumer = dseq;
  if (sseq > st.delivered_stream) st.delivered_stream = sseq;
  // A delivery at or below the ack floor was already acknowledged.
  if (sseq <= st.ack_floor_stream) return;
  auto& p = st.pending[sseq];
  p.consumer_seq = dseq;
  p.ts = ts;
  p.due = 0;  // a new delivery starts a new ack wait
  if (dc > 1) {
    uint64_t& n = st.redelivered[sseq];
    if (n < dc) n = dc;
  }
}

void ApplyAck(ConsumerState& st, uint64_t /*dseq*/, uint64_t sseq) {
  st.pending.erase(sseq);
  st.redelivered.erase(sseq);
  if (st.pending.empty()) {
    st.ack_floor_consumer = st.delivered_consumer;
    st.ack_floor_stream = st.delivered_stream;
    return;
  }
  // The floor rises to just below the oldest message still pending, and the
  // consumer floor to just below the lowest consumer sequence still pending.
  uint64_t low_sseq = st.pending.begin()->first;
  if (low_sseq - 1 <= st.ack_floor_stream) return;
  st.ack_floor_stream = low_sseq - 1;
  uint64_t low_dseq =
      LowestPendingDseq(st.pending, st.redelivered, [](const ConsumerState::Pending& p) { return p.consumer_seq; });
  if (low_dseq > 0 && low_dseq - 1 > st.ack_floor_consumer) st.ack_floor_consumer = low_dseq - 1;
}

void ApplyDue(ConsumerState& st, uint64_t sseq, int64_t due) {
  auto it = st.pending.find(sseq);
  if (it != st.pending.end()) it->second.due = due;
}

void EncodeConsumerState(const ConsumerState& st, std::string* out) {
  PutU64(out, st.delivered_consumer);
  PutU64(out, st.delivered_stream);
  PutU64(out, st.ack_floor_consumer);
  PutU64(out, st.ack_floor_stream);
  PutU64(out, st.pending.size());
  for (const auto& [sseq, p] : st.pending) {
    PutU64(out, sseq);
    PutU64(out, p.consumer_seq);
    PutU64(out, static_cast<uint64_t>(p.ts));
    PutU64(out, static_cast<uint64_t>(p.due));
  }
  PutU64(out, st.redelivered.size());
  for (const auto& [sseq, n] : st.redelivered) {
    PutU64(out, sseq);
    PutU64(out, n);
  }
}

bool DecodeConsumerState(std::string_view in, ConsumerState* st, int version) {
  if (version != 1 && version != 2) return false;
  const uint64_t entry = version == 1 ? 24 : 32;
  Reader r(in);
  ConsumerState s;
  uint64_t n = 0;
  if (!r.U64(&s.delivered_consumer) || !r.U64(&s.delivered_stream) ||
      !r.U64(&s.ack_floor_consumer) || !r.U64(&s.ack_floor_stream) || !r.U64(&n)) {
    return false;
  }
  if (n > r.remaining() / entry) return false;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t sseq, dseq, ts, due = 0;
    if (!r.U64(&sseq) || !r.U64(&dseq) || !r.U64(&ts)) return false;
    if (version >= 2 && !r.U64(&due)) return false;
    s.pending[sseq] = {dseq, static_cast<int64_t>(ts), static_cast<int64_t>(due)};
  }
  if (!r.U64(&n) || n > r.remaining() / 16) return false;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t sseq, c;
    if (!r.U64(&sseq) || !r.U64(&c)) return false;
    s.redelivered[sseq] = c;
  }
  if (r.remaining() != 0) return false;
  *st = std::move(s);
  return true;
}

}  // namespace fjord::store
