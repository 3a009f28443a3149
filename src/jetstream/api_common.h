#pragma once
// What the stream API (api.cc) and the consumer API (consumer_api.cc) share:
// typed replies, error replies, and request body parsing. JetStream thread.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jetstream/errors.h"
#include "jetstream/types.h"

namespace fjord::jetstream {

class JetStream;
class Stream;
struct Options;
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

// A request body's field, or `def` when it is missing, null or of another
// type. For both JSON flavours (no conversion between them on the way).
template <typename T, typename J>
T Field(const J& j, const char* key, T def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  try {
    return it->template get<T>();
  } catch (...) {
    return def;
  }
}

// A copy of an API request for a reply sent later (after a gather or a
// commit): what the reply and its audit advisory need, without the body.
Inbound Detached(const Inbound& m);

// Replies account info with these numbers (the account's own, or a
// cluster's gathered). (api.cc)
void ReplyAccountInfo(JetStream* js, const Inbound& m, uint64_t memory, uint64_t storage, size_t streams,
                      size_t consumers);

// A stream's info as create, update and info replies carry it: with the
// server's API level in the config's metadata (not so in lists). (api.cc)
Json InfoWithLevel(Stream& s);
// What an update may not change in a stream's config; nullopt if `cfg`
// may follow `old`. (api.cc)
std::optional<ApiError> CheckStreamUpdate(const StreamConfig& old, const StreamConfig& cfg);
// The streams `cfg` mirrors or sources, by name. (api.cc)
std::vector<std::string> Origins(const StreamConfig& cfg);
// True if following mirror and sources from `cfg` through the existing
// streams leads back to it: each stream would copy the other's copies
// forever. `origins_of(name)` gives an existing stream's origins (none for
// an unknown one). Checked on every create and update, so the edge that
// would close a cycle is the one refused. (api.cc)
bool SourcingCycle(const StreamConfig& cfg,
                   const std::function<std::vector<std::string>(const std::string& name)>& origins_of);
// 10052's "detected cycle". (api.cc)
ApiError CycleError();
// A new stream's `max_bytes` above the account's storage of its kind. (api.cc)
std::optional<ApiError> CheckStreamBytes(const Options& o, const StreamConfig& cfg);
// Whether a subject of `a` overlaps one of `b` (two streams' subjects). (api.cc)
bool AnySubjectsOverlap(const std::vector<std::string>& a, const std::vector<std::string>& b);
// The reply type of a `$JS.API.<api>` request (`api` after "$JS.API."),
// "system_response" for one this server does not know.
const char* ResponseType(std::string_view api);

// 2.12's `Nats-Required-Api-Level` request header: true when `hdr` carries
// it with a level above kApiLevel or with a value that is not a number
// (an empty value asks for nothing).
bool RequiredApiLevelUnmet(std::string_view hdr);
// Answers a `$JS.API.<api>` request (`api` after "$JS.API.") whose required
// API level is unmet, as nats-server does before the API's own checks: a
// typed 10185 error shaped like that API's reply, or for a direct get of a
// stream that serves them a `412 Required Api Level` status. Returns false,
// leaving the request to its handler, when the level is met, for unknown
// and cluster APIs (nats-server checks those later, or not at all), and
// for a body the handler refuses first (consumer create and pause read it
// before the level).
bool RefuseForApiLevel(JetStream* js, const Inbound& m, std::string_view api);

}  // namespace fjord::jetstream
