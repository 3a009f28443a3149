#pragma once
// ConsumerConfig rules: defaults as nats-server fills them, validation
// against the stream, and which fields an update may change.
#include <optional>
#include <string>
#include <string_view>

#include "jetstream/types.h"

namespace fjord::jetstream {

class Stream;

inline constexpr int64_t kDefaultAckWait = 30'000'000'000;
inline constexpr int64_t kDefaultInactiveThreshold = 5'000'000'000;
inline constexpr int64_t kDefaultMaxAckPending = 1000;
inline constexpr int64_t kDefaultMaxWaiting = 512;
inline constexpr int64_t kDefaultPinnedTimeout = 120'000'000'000;  // priority_timeout, 2m

// A stream's `consumer_limits` (2.10): defaults for, and caps on, its
// consumers' settings; 0 = none.
struct ConsumerLimits {
  int64_t inactive_threshold = 0;  // ns
  int64_t max_ack_pending = 0;
};
ConsumerLimits LimitsOf(const StreamConfig& stream);

// Fills the defaults as nats-server 2.12 does: values below their range
// become unset, then max_deliver, max_waiting, ack_wait (the first backoff
// step when there is one), the stream's consumer limits, max_ack_pending,
// inactive_threshold for ephemerals, priority_timeout, config name.
// Idempotent.
void SetConsumerDefaults(ConsumerConfig* cfg, const std::string& name, const StreamConfig& stream);

// Validates a new or updated consumer named `name` on `stream` (defaults
// already set). `existing` says an update of that consumer is checked, so
// the workqueue uniqueness rules ignore it.
std::optional<ApiError> CheckConsumerConfig(Stream& stream, const std::string& name,
                                            const ConsumerConfig& cfg, bool existing);

// What a `pedantic` create (2.11) refuses instead of filling in: values
// below their range (2.12), a backoff whose first step is not the ack
// wait, limits the stream's consumer_limits would set. Checked before
// SetConsumerDefaults.
std::optional<ApiError> CheckPedantic(const ConsumerConfig& c, const StreamConfig& stream);

// A priority group name: 1 to 16 of A-Z a-z 0-9 / _ = - (nats-server's
// pattern; its error text also names ")+").
bool ValidPriorityGroupName(std::string_view g);

// A consumer or durable name nats-server accepts: not empty, none of
// whitespace . * > \ /.
bool ValidAssetName(std::string_view name);

// A consumer of a replicated stream that runs on the stream's leader alone:
// an ephemeral with no acknowledgements that nats-server would make R1
// (`num_replicas` 1, or 0 on a limits stream: its `replicas()` rule), that
// is ordered consumers, KV watchers and mirror/source feeds. Only its
// creation, config changes and removal go through the stream's group; its
// deliveries are kept in the leader's memory (no operation per batch). A
// new leader starts it again from its creation state: its delivery
// sequence restarts, which ordered consumers and feeds take as the cue to
// recreate it from where they are.
bool LeaderOnly(const ConsumerConfig& c, const StreamConfig& stream);

// Why `next` may not replace `cur` (nats-server's texts), or empty.
std::string UpdateConflict(const ConsumerConfig& cur, const ConsumerConfig& next);

// Go's time.Duration.String() for a nanosecond count ("1s", "1.5s", "500ms").
std::string GoDuration(int64_t ns);
// Parses a Go duration such as "1.5s" or "200ms" (no sign); false on bad
// input.
bool ParseGoDuration(std::string_view s, int64_t* out);

}  // namespace fjord::jetstream
