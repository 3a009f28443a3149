#pragma once
// Advisories and metrics on `$JS.EVENT.…`, as nats-server publishes them, so
// that tools subscribing there (`nats events`, nats-surveyor, audit
// pipelines) work unchanged. Each is built only when someone listens: an
// event without subscribers costs one subject-index lookup.
//
// JetStream thread only.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fjord::jetstream {

class JetStream;
struct Inbound;

// True when a subscription matches `subject`.
bool HasListeners(JetStream* js, std::string_view subject);

// Publishes `{"type", "id", "timestamp"}` plus `fields` on `subject`.
void PublishEvent(JetStream* js, const std::string& subject, const char* type,
                  const nlohmann::json& fields);

// `$JS.EVENT.ADVISORY.STREAM.{CREATED,DELETED,UPDATED}.<stream>`;
// `action` is "create", "delete" or "modify".
void StreamActionAdvisory(JetStream* js, const std::string& stream, const char* action);

// `$JS.EVENT.ADVISORY.CONSUMER.{CREATED,DELETED}.<stream>.<consumer>`;
// `action` is "create" or "delete".
void ConsumerActionAdvisory(JetStream* js, const std::string& stream, const std::string& consumer,
                            const char* action);

// `$JS.EVENT.ADVISORY.API`: the request an API handler answered, and its
// response (serialized only when someone listens).
void ApiAuditAdvisory(JetStream* js, const Inbound& request, const nlohmann::json& response);

// A random 22-character id, as nats-server's NUIDs look.
std::string EventId();

}  // namespace fjord::jetstream
