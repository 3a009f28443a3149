#pragma once
// JetStream configuration types and their JSON forms, as the API sends them.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jetstream/errors.h"

namespace fjord::jetstream {

using Json = nlohmann::ordered_json;

enum class Retention { kLimits, kInterest, kWorkQueue };
enum class Discard { kOld, kNew };
enum class Storage { kFile, kMemory };

// `{src, dest}`: subjects matching `src` ("" = ">") are renamed to `dest`
// ("" = unchanged), as proto::SubjectTransform does it.
struct SubjectTransformConfig {
  std::string src;
  std::string dest;
  bool operator==(const SubjectTransformConfig&) const = default;
  // The filter it applies to: `src`, or ">" when empty.
  std::string Source() const { return src.empty() ? ">" : src; }
};
Json ToJson(const SubjectTransformConfig& t);

// Where a mirror or source copies from: a stream of this server.
struct StreamSource {
  std::string name;
  uint64_t opt_start_seq = 0;
  int64_t opt_start_time = 0;  // unix ns; 0 = unset
  std::string filter_subject;
  // 2.10: several filters, each with its own rename; exclusive with
  // filter_subject.
  std::vector<SubjectTransformConfig> subject_transforms;

  // nats-server 2.10's index name, "<name> <filters> <destinations>" (each
  // list joined by form feeds, ">" for none): what tells two sources from
  // one stream apart, and what the Nats-Stream-Source header carries.
  std::string IndexName() const;
};

struct StreamConfig {
  std::string name;
  std::string description;
  std::vector<std::string> subjects;
  Retention retention = Retention::kLimits;
  int64_t max_consumers = -1;
  int64_t max_msgs = -1;
  int64_t max_bytes = -1;
  int64_t max_age = 0;  // ns
  int64_t max_msgs_per_subject = -1;
  int64_t max_msg_size = -1;
  Discard discard = Discard::kOld;
  Storage storage = Storage::kFile;
  int64_t num_replicas = 1;
  bool no_ack = false;
  int64_t duplicate_window = 0;  // ns; 0 = default (2m, capped by max_age)
  bool allow_direct = false;
  bool mirror_direct = false;
  bool sealed = false;
  bool deny_delete = false;
  bool deny_purge = false;
  bool allow_rollup_hdrs = false;
  bool discard_new_per_subject = false;
  // 2.11: the Nats-TTL header is honoured (it cannot be turned off again),
  // and, with a marker TTL, a subject whose last message expires keeps a
  // delete marker (`Nats-Marker-Reason: MaxAge`) that lives that long.
  bool allow_msg_ttl = false;
  int64_t subject_delete_marker_ttl = 0;  // ns; 0 = no markers
  // 2.12: every message is a counter total (see counter.h); set at
  // creation only.
  bool allow_msg_counter = false;
  // 2.12: messages with a Nats-Batch-Id are stored all together, or none.
  bool allow_atomic = false;
  // 2.12: a message with `Nats-Schedule: @at <time>` and a
  // `Nats-Schedule-Target` is published to the target at that time.
  bool allow_msg_schedules = false;
  // 2.12 `persist_mode: async`: this file stream acknowledges once written,
  // not fsynced (the server's lazy mode, for one stream).
  bool persist_async = false;
  uint64_t first_seq = 0;
  std::string compression = "none";
  Json consumer_limits = Json::object();
  Json placement;  // kept as sent
  std::map<std::string, std::string> metadata;
  // 2.10: applied to every published message before anything else.
  std::optional<SubjectTransformConfig> subject_transform;
  std::optional<StreamSource> mirror;
  std::vector<StreamSource> sources;
  // `republish`: every stored message whose subject matches `src` is also
  // published to `dest` (with the `src` wildcards substituted).
  struct Republish {
    std::string src = ">";
    std::string dest;
    bool headers_only = false;
  };
  std::optional<Republish> republish;
};


// Parses a StreamConfig request body; fills defaults. Unknown fields are
// ignored, wrong types give 10025.
std::optional<ApiError> ParseStreamConfig(const nlohmann::json& j, StreamConfig* out);
// Validates and normalises (defaults, derived limits). `error` gets a 10052
// style text on failure. `pedantic` (2.11's create/update flag) refuses
// what would otherwise be adjusted silently.
// `clustered`: more than one replica may be asked for (cluster_api.cc
// checks what replicated streams support).
std::optional<ApiError> CheckStreamConfig(StreamConfig* cfg, bool pedantic = false, bool clustered = false);
// 10157 for a `pedantic` request, in nats-server's words.
ApiError PedanticError(const std::string& what);
Json ToJson(const StreamConfig& c);

enum class DeliverPolicy { kAll, kLast, kNew, kByStartSequence, kByStartTime, kLastPerSubject };
enum class AckPolicy { kNone, kAll, kExplicit };
enum class ReplayPolicy { kInstant, kOriginal };
// 2.11 priority groups of a pull consumer: `overflow` serves requests that
// name a minimum backlog only while it is there; `pinned_client` serves one
// requester (its pin id) until it stops asking for priority_timeout.
// 2.12's `prioritized` serves waiting requests by their `priority` (0 first).
enum class PriorityPolicy { kNone, kOverflow, kPinnedClient, kPrioritized };

struct ConsumerConfig {
  std::string durable_name;
  std::string name;
  std::string description;
  DeliverPolicy deliver_policy = DeliverPolicy::kAll;
  uint64_t opt_start_seq = 0;
  int64_t opt_start_time = 0;  // unix ns; 0 = unset
  AckPolicy ack_policy = AckPolicy::kNone;
  int64_t ack_wait = 0;  // ns
  int64_t max_deliver = -1;
  std::vector<int64_t> backoff;
  std::string filter_subject;
  std::vector<std::string> filter_subjects;
  ReplayPolicy replay_policy = ReplayPolicy::kInstant;
  uint64_t rate_limit_bps = 0;
  std::string sample_freq;
  int64_t max_waiting = 0;
  int64_t max_ack_pending = 0;
  bool flow_control = false;
  bool headers_only = false;
  int64_t max_batch = 0;
  int64_t max_expires = 0;
  int64_t max_bytes = 0;
  std::string deliver_subject;
  std::string deliver_group;
  int64_t idle_heartbeat = 0;
  int64_t inactive_threshold = 0;
  int64_t num_replicas = 0;
  bool mem_storage = false;
  std::map<std::string, std::string> metadata;
  int64_t pause_until = 0;  // unix ns; 0 = not paused
  std::vector<std::string> priority_groups;
  PriorityPolicy priority_policy = PriorityPolicy::kNone;
  int64_t priority_timeout = 0;  // ns; pinned_client: 2m when 0

  bool is_pull() const { return deliver_subject.empty(); }
  bool is_durable() const { return !durable_name.empty(); }
  // The filters in effect: filter_subjects, or filter_subject, or none.
  std::vector<std::string> Filters() const;
};

// The API level (2: nats-server 2.12.0-2.12.4) and the metadata nats-server keeps about it
// (jetstream_versioning.go): `_nats.req.level`, the level a stream's or
// consumer's config needs, is stored with it on every create and update
// (a client's own value is replaced); `_nats.ver` and `_nats.level`, the
// server's, are only added to create, update and info replies.
inline constexpr int kApiLevel = 2;
void SetRequiredLevel(StreamConfig* c);
void SetRequiredLevel(ConsumerConfig* c);
// A create of something that exists is compared with the level stored with
// it, whatever this request's config would need (nats-server does so):
// `md` takes `stored`'s `_nats.req.level`, or loses its own.
void KeepStoredLevel(std::map<std::string, std::string>* md, const std::map<std::string, std::string>& stored);
// `config` (a config's JSON) with `_nats.ver` and `_nats.level` added.
Json WithServerLevel(Json config);

std::optional<ApiError> ParseConsumerConfig(const nlohmann::json& j, ConsumerConfig* out);
Json ToJson(const ConsumerConfig& c);

// RFC 3339 with nanoseconds in UTC, as Go prints time.Time; 0 gives the
// zero time "0001-01-01T00:00:00Z".
std::string FormatTime(int64_t unix_ns);
// Parses the same form (and offsets); returns false on bad input.
bool ParseTime(const std::string& s, int64_t* unix_ns);
int64_t NowNs();
// `n` random letters and digits (ephemeral consumer names, flow-control
// subjects, advisory ids); not for secrets.
std::string RandomToken(size_t n);

bool ValidStreamName(std::string_view name);

}  // namespace fjord::jetstream
