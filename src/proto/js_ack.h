#pragma once
// The reply subject of a JetStream delivery, which the client acks to:
//   $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>
// and the 2.10 form with `<domain>.<account hash>` after ACK (11 tokens,
// or 12 with a random token at the end). Read by the server (a source's
// feed positions itself by it) and by the CLI (a message's metadata).
#include <cstdint>
#include <optional>
#include <string_view>

namespace fjord::proto {

struct JsAck {
  std::string_view stream, consumer;  // views into the subject
  uint64_t delivered = 0;             // how many times this message was delivered
  uint64_t stream_seq = 0, consumer_seq = 0;
  int64_t ts = 0;  // the message's time, ns since the epoch
  uint64_t pending = 0;
};

// nullopt when `subject` is not such a subject or a number does not parse.
std::optional<JsAck> ParseJsAck(std::string_view subject);

}  // namespace fjord::proto
