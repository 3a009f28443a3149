#pragma once
// The `$JS.API` handlers for account info, streams, messages and direct
// get. Consumer requests are served by consumer.h's HandleConsumerApi.
#include <string_view>

namespace fjord::jetstream {

class JetStream;
struct Inbound;

// `rest` is the subject after "$JS.API.". JetStream thread only.
void HandleStreamApi(JetStream* js, Inbound& msg, std::string_view rest);

}  // namespace fjord::jetstream
