#pragma once
// The `$JS.API` handlers for account info, streams, messages and direct
// get. Consumer requests are served by consumer.h's HandleConsumerApi.
#include <string_view>

namespace fjord::jetstream {

class JetStream;
class Stream;
struct Inbound;

// `rest` is the subject after "$JS.API.". JetStream thread only.
void HandleStreamApi(JetStream* js, Inbound& msg, std::string_view rest);

// A stream's (or, the same group, one of its consumers') leader stepdown:
// hands the group to the replica the request's `placement.preferred`
// names, else the most suitable; answers with `type`.
void StepDownStream(JetStream* js, const Inbound& msg, Stream& s, const char* type);

}  // namespace fjord::jetstream
