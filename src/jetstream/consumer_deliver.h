#pragma once
// Delivery to a consumer's target (deliver subject or pull reply inbox)
// under the message's original subject, as nats-server delivers JetStream
// messages: the client sees `MSG <original subject> <sid> <ack reply>`.
#include <cstddef>
#include <string_view>

namespace fjord::server {
class Account;
}

namespace fjord::jetstream {

// Routes to the subscriptions matching `target` (one member per queue
// group) but presents the message as `subject`. Callable from any thread.
// Returns the number of subscriptions it reached.
size_t DeliverAs(server::Account* acc, std::string_view target, std::string_view subject,
                 std::string_view reply, std::string_view hdr, std::string_view data);

// True if anything is subscribed to `subject`.
bool HasInterest(server::Account* acc, std::string_view subject);

}  // namespace fjord::jetstream
