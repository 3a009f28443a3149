#pragma once
// The rules that turn consumer events into ConsumerState, shared by the
// memory and file consumer stores (the file store replays its log through
// the same functions, so a recovered state equals the state before).
#include <string>
#include <string_view>

#include "store/store.h"

namespace fjord::store {

void ApplyDelivered(ConsumerState& st, uint64_t dseq, uint64_t sseq, uint64_t dc, int64_t ts);
void ApplyAck(ConsumerState& st, uint64_t dseq, uint64_t sseq);

// Binary snapshot of a whole state (little endian, see
// docs/storage-format.md); Decode returns false on a malformed input.
void EncodeConsumerState(const ConsumerState& st, std::string* out);
bool DecodeConsumerState(std::string_view in, ConsumerState* st);

}  // namespace fjord::store
