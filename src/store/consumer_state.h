#pragma once
// The rules that turn consumer events into ConsumerState, shared by the
// memory and file consumer stores (the file store replays its log through
// the same functions, so a recovered state equals the state before).
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/store.h"

namespace fjord::store {

void ApplyDelivered(ConsumerState& st, uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts);
void ApplyAck(ConsumerState& st, uint64_t dseq, uint64_t sseq);
void ApplyDue(ConsumerState& st, uint64_t sseq, int64_t due);

// The lowest consumer sequence among `pending` (keyed by stream sequence),
// UINT64_MAX when empty. First deliveries take consumer sequences in stream
// order, so apart from redelivered messages (which got newer ones) the first
// pending entry holds the minimum: O(redelivered) instead of O(pending), which
// keeps in-order acks cheap with thousands of messages outstanding.
template <class PendingMap, class RedeliveredMap, class DseqOf>
uint64_t LowestPendingDseq(const PendingMap& pending, const RedeliveredMap& redelivered, DseqOf dseq_of) {
  uint64_t low = UINT64_MAX;
  for (const auto& r : redelivered) {
    auto it = pending.find(r.first);
    if (it != pending.end()) low = std::min<uint64_t>(low, dseq_of(it->second));
  }
  for (const auto& [sseq, p] : pending) {
    if (redelivered.count(sseq)) continue;
    low = std::min<uint64_t>(low, dseq_of(p));
    break;
  }
  return low;
}

// Binary snapshot of a whole state (little endian, see
// docs/storage-format.md); Decode returns false on a malformed input.
// Encode writes version 2 (pending entries carry `due`); Decode reads
// version 1 (without it) too.
void EncodeConsumerState(const ConsumerState& st, std::string* out);
bool DecodeConsumerState(std::string_view in, ConsumerState* st, int version = 2);

}  // namespace fjord::store
