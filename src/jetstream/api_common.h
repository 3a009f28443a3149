#pragma once
// What the stream API (api.cc) and the consumer API (consumer_api.cc) share:
// typed replies, error replies, and request body parsing. JetStream thread.
#include <string>

#include "jetstream/errors.h"
#include "jetstream/types.h"

namespace fjord::jetstream {

class JetStream;
struct Inbound;

// `{"type": "io.nats.jetstream.api.v1.<type>"}`.
Json Typed(const char* type);
// Moves src's fields into dst.
void Merge(Json& dst, Json src);
// Replies `{"type", "error"}` plus `extra`'s fields, and counts an API error.
void ReplyError(JetStream* js, const Inbound& m, const char* type, const ApiError& e, Json extra = {});
// Replies `j` and counts an API request.
void ReplyOk(JetStream* js, const Inbound& m, Json j);
// Parses a request body as a JSON object; an empty body is `{}`. On failure
// sets *err to the invalid-JSON error clients expect.
bool ParseBody(const std::string& data, nlohmann::json* out, ApiError* err);
// 2.11's `pedantic` flag of a create or update request (beside the config).
bool Pedantic(const nlohmann::json& body);

}  // namespace fjord::jetstream
