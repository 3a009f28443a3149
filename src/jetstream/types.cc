#include "jetstream/types.h"

#include <random>

#include <openssl/evp.h>

#include <chrono>
#include <ctime>

#include "fjord_version.h"
#include "proto/parser.h"
#include "proto/subject_transform.h"

namespace fjord::jetstream {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kDefaultDuplicateWindow = 120 * kSecond;

struct BadJson {
  std::string what;
};

template <typename T>
void Get(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    *out = it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw BadJson{std::string("json: cannot unmarshal field ") + key};
  }
}

template <typename E>
void GetEnum(const nlohmann::json& j, const char* key, E* out,
             std::initializer_list<std::pair<const char*, E>> values) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_string()) throw BadJson{std::string("json: cannot unmarshal field ") + key};
  std::string s = it->get<std::string>();
  for (const auto& [name, v] : values) {
    if (s == name) {
      *out = v;
      return;
    }
  }
  throw BadJson{"can not unmarshal " + std::string(key) + " \"" + s + "\""};
}

void GetTime(const nlohmann::json& j, const char* key, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_string() || !ParseTime(it->get<std::string>(), out))
    throw BadJson{std::string("json: cannot parse time ") + key};
}

void GetMetadata(const nlohmann::json& j, std::map<std::string, std::string>* out) {
  auto it = j.find("metadata");
  if (it == j.end() || it->is_null()) return;
  if (!it->is_object()) throw BadJson{"json: cannot unmarshal metadata"};
  for (auto& [k, v] : it->items()) {
    if (!v.is_string()) throw BadJson{"json: cannot unmarshal metadata"};
    (*out)[k] = v.get<std::string>();
  }
}

SubjectTransformConfig ParseTransform(const nlohmann::json& j) {
  if (!j.is_object()) throw BadJson{"json: cannot unmarshal subject transform"};
  SubjectTransformConfig t;
  Get(j, "src", &t.src);
  Get(j, "dest", &t.dest);
  return t;
}

ApiError ConfigError(const std::string& text) {
  return MakeError(Err::StreamInvalidConfigF, {{"err", text}});
}

// Throws BadJson for type errors; returns an error for what this server
// refuses (other accounts/domains, 2.10 subject transforms).
std::optional<ApiError> ParseSource(const nlohmann::json& j, StreamSource* out) {
  if (!j.is_object()) throw BadJson{"json: cannot unmarshal stream source"};
  Get(j, "name", &out->name);
  Get(j, "opt_start_seq", &out->opt_start_seq);
  GetTime(j, "opt_start_time", &out->opt_start_time);
  Get(j, "filter_subject", &out->filter_subject);
  // Only streams of this server (same account) can be copied from: there
  // is no route to another account's or domain's API here.
  if (auto it = j.find("external"); it != j.end() && !it->is_null())
    return ConfigError("external stream sources are not supported by this server");
  if (auto it = j.find("subject_transforms"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) throw BadJson{"json: cannot unmarshal subject_transforms"};
    for (const auto& t : *it) out->subject_transforms.push_back(ParseTransform(t));
  }
  return std::nullopt;
}

Json SourceJson(const StreamSource& s) {
  Json j;
  j["name"] = s.name;
  if (s.opt_start_seq) j["opt_start_seq"] = s.opt_start_seq;
  if (s.opt_start_time) j["opt_start_time"] = FormatTime(s.opt_start_time);
  if (!s.filter_subject.empty()) j["filter_subject"] = s.filter_subject;
  if (!s.subject_transforms.empty()) {
    j["subject_transforms"] = Json::array();
    for (const auto& t : s.subject_transforms) j["subject_transforms"].push_back(ToJson(t));
  }
  return j;
}

// 2.10's checks of a mirror's or source's filters and renames (10144-10152).
std::optional<ApiError> CheckSourceTransforms(const StreamSource& s, bool mirror) {
  if (s.subject_transforms.empty()) {
    if (!s.filter_subject.empty() && !proto::ValidSubscribeSubject(s.filter_subject))
      return ConfigError(mirror ? "invalid mirror filter subject" : "invalid source filter subject");
    return std::nullopt;
  }
  if (!s.filter_subject.empty())
    return MakeError(mirror ? Err::MirrorMultipleFiltersNotAllowed : Err::SourceMultipleFiltersNotAllowed);
  const auto& trs = s.subject_transforms;
  for (size_t i = 0; i < trs.size(); ++i) {
    std::string src = trs[i].Source();
    if (!proto::ValidSubscribeSubject(src))
      return MakeError(mirror ? Err::MirrorInvalidSubjectFilter : Err::SourceInvalidSubjectFilter,
                       {{"err", "invalid subject " + src}});
    std::string err;
    if (!proto::SubjectTransform::Make(src, trs[i].dest, &err))
      return mirror ? ConfigError("subject transform from '" + trs[i].src + "' to '" + trs[i].dest +
                                  "' for the mirror: " + err)
                    : MakeError(Err::SourceInvalidTransformDestination, {{"err", err}});
    for (size_t k = 0; k < i; ++k) {
      if (proto::SubjectsOverlap(src, trs[k].Source()))
        return MakeError(mirror ? Err::MirrorOverlappingSubjectFilters : Err::SourceOverlappingSubjectFilters);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseStreamConfig(const nlohmann::json& j, StreamConfig* c) {
  if (!j.is_object()) return MakeError(Err::InvalidJSON, {{"err", "expected an object"}});
  try {
    Get(j, "name", &c->name);
    Get(j, "description", &c->description);
    Get(j, "subjects", &c->subjects);
    GetEnum(j, "retention", &c->retention,
            {{"limits", Retention::kLimits}, {"interest", Retention::kInterest},
             {"workqueue", Retention::kWorkQueue}});
    Get(j, "max_consumers", &c->max_consumers);
    Get(j, "max_msgs", &c->max_msgs);
    Get(j, "max_bytes", &c->max_bytes);
    Get(j, "max_age", &c->max_age);
    Get(j, "max_msgs_per_subject", &c->max_msgs_per_subject);
    Get(j, "max_msg_size", &c->max_msg_size);
    GetEnum(j, "discard", &c->discard, {{"old", Discard::kOld}, {"new", Discard::kNew}});
    GetEnum(j, "storage", &c->storage, {{"file", Storage::kFile}, {"memory", Storage::kMemory}});
    Get(j, "num_replicas", &c->num_replicas);
    Get(j, "no_ack", &c->no_ack);
    Get(j, "duplicate_window", &c->duplicate_window);
    Get(j, "allow_direct", &c->allow_direct);
    Get(j, "mirror_direct", &c->mirror_direct);
    Get(j, "sealed", &c->sealed);
    Get(j, "deny_delete", &c->deny_delete);
    Get(j, "deny_purge", &c->deny_purge);
    Get(j, "allow_rollup_hdrs", &c->allow_rollup_hdrs);
    Get(j, "discard_new_per_subject", &c->discard_new_per_subject);
    Get(j, "allow_msg_ttl", &c->allow_msg_ttl);
    Get(j, "subject_delete_marker_ttl", &c->subject_delete_marker_ttl);
    Get(j, "allow_msg_counter", &c->allow_msg_counter);
    Get(j, "allow_atomic", &c->allow_atomic);
    Get(j, "allow_msg_schedules", &c->allow_msg_schedules);
    if (auto it = j.find("persist_mode"); it != j.end() && !it->is_null()) {
      std::string s;
      Get(j, "persist_mode", &s);
      if (s != "default" && s != "async" && !s.empty()) throw BadJson{"can not unmarshal \"" + s + "\""};
      c->persist_async = s == "async";
    }
    Get(j, "first_seq", &c->first_seq);
    if (auto it = j.find("compression"); it != j.end() && !it->is_null()) {
      std::string s;
      Get(j, "compression", &s);
      if (s != "none" && s != "s2" && !s.empty()) throw BadJson{"can not unmarshal compression"};
      c->compression = s.empty() ? "none" : s;
    }
    if (auto it = j.find("consumer_limits"); it != j.end() && it->is_object()) c->consumer_limits = *it;
    if (auto it = j.find("placement"); it != j.end() && it->is_object()) c->placement = *it;
    GetMetadata(j, &c->metadata);
    if (auto it = j.find("mirror"); it != j.end() && !it->is_null()) {
      StreamSource m;
      if (auto e = ParseSource(*it, &m)) return e;
      c->mirror = std::move(m);
    }
    if (auto it = j.find("sources"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) throw BadJson{"json: cannot unmarshal field sources"};
      for (const auto& src : *it) {
        StreamSource s;
        if (auto e = ParseSource(src, &s)) return e;
        c->sources.push_back(std::move(s));
      }
    }
    if (auto it = j.find("republish"); it != j.end() && !it->is_null()) {
      if (!it->is_object()) throw BadJson{"json: cannot unmarshal field republish"};
      StreamConfig::Republish r;
      r.src.clear();  // absent: ">" once CheckStreamConfig has seen it
      Get(*it, "src", &r.src);
      Get(*it, "dest", &r.dest);
      Get(*it, "headers_only", &r.headers_only);
      c->republish = std::move(r);
    }
    if (auto it = j.find("subject_transform"); it != j.end() && !it->is_null())
      c->subject_transform = ParseTransform(*it);
  } catch (const BadJson& e) {
    return MakeError(Err::InvalidJSON, {{"err", e.what}});
  }
  return std::nullopt;
}

ApiError PedanticError(const std::string& what) { return MakeError(Err::Pedantic, {{"err", what}}); }

std::optional<ApiError> CheckStreamConfig(StreamConfig* c, bool pedantic, bool clustered) {
  if (!ValidStreamName(c->name)) return MakeError(Err::StreamInvalidConfigF, {{"err", "invalid stream name"}});
  if (c->description.size() > 4096) return ConfigError("stream description is too long, maximum allowed is 4096");
  if (c->mirror) {
    // Checked before subjects get their default: a mirror has none.
    if (!c->subjects.empty()) return MakeError(Err::MirrorWithSubjects);
    if (!c->sources.empty()) return MakeError(Err::MirrorWithSources);
    if (c->allow_msg_counter) return MakeError(Err::MirrorWithCounters);
    if (c->allow_atomic) return MakeError(Err::MirrorWithAtomicPublish);
    if (c->allow_msg_schedules) return MakeError(Err::MirrorWithMsgSchedules);
    if (c->first_seq > 0) return MakeError(Err::MirrorWithFirstSeq);
    if (!ValidStreamName(c->mirror->name)) return MakeError(Err::MirrorInvalidStreamName);
    if (c->mirror->name == c->name) return ConfigError("stream mirror can not mirror itself");
    if (auto e = CheckSourceTransforms(*c->mirror, true)) return e;
  }
  for (size_t i = 0; i < c->sources.size(); ++i) {
    const auto& src = c->sources[i];
    if (!ValidStreamName(src.name)) return MakeError(Err::SourceInvalidStreamName);
    if (src.name == c->name) return ConfigError("stream source can not source itself");
    if (auto e = CheckSourceTransforms(src, false)) return e;
    // Sources are told apart by their index names (as in 2.10): one stream
    // may be sourced twice with different filters.
    for (size_t k = 0; k < i; ++k)
      if (c->sources[k].IndexName() == src.IndexName()) return MakeError(Err::SourceDuplicateDetected);
  }
  if (c->subject_transform) {
    // nats-server refuses a bad one when it creates the stream (10049).
    const auto& t = *c->subject_transform;
    std::string err;
    if (!proto::SubjectTransform::Make(t.src, t.dest, &err))
      return MakeError(Err::StreamCreate,
                       {{"err", "stream subject transform from '" + t.src + "' to '" + t.dest + "': " + err}});
  }
  if (c->subjects.empty() && !c->mirror && c->sources.empty()) c->subjects.push_back(c->name);
  for (size_t i = 0; i < c->subjects.size(); ++i) {
    const auto& s = c->subjects[i];
    if (!proto::ValidSubscribeSubject(s)) return ConfigError("invalid subject");
    for (size_t k = 0; k < i; ++k) {
      if (c->subjects[k] == s) return ConfigError("duplicate subjects detected");
      if (proto::SubjectsOverlap(c->subjects[k], s)) return ConfigError("subjects overlap");
    }
    if ((s == ">" || proto::SubjectsOverlap(s, "$JS.API.>")) && !c->no_ack)
      return ConfigError("capturing subject overlaps with JetStream API");
  }
  if (c->max_consumers == 0) c->max_consumers = -1;
  if (c->max_msgs == 0) c->max_msgs = -1;
  if (c->max_bytes == 0) c->max_bytes = -1;
  if (c->max_msgs_per_subject == 0) c->max_msgs_per_subject = -1;
  if (c->max_msg_size == 0) c->max_msg_size = -1;
  if (c->max_age < 0) return ConfigError("max age needs to be >= 0");
  if (c->max_age != 0 && c->max_age < kSecond / 10) return ConfigError("max age needs to be >= 100ms");
  if (c->num_replicas == 0) c->num_replicas = 1;
  if (c->num_replicas > 1 && !clustered) return MakeError(Err::StreamReplicasNotSupported);
  if (c->num_replicas < 0) return ConfigError("replicas > 1 not supported in non-clustered mode");
  if (c->duplicate_window < 0) return ConfigError("duplicates window can not be negative");
  if (c->mirror) {
    // A mirror takes no publishes, so it has no dedupe window (nats-server
    // reports none).
    c->duplicate_window = 0;
  } else if (c->duplicate_window == 0) {
    c->duplicate_window = kDefaultDuplicateWindow;
    if (c->max_age > 0 && c->max_age < c->duplicate_window) {
      if (pedantic) return PedanticError("duplicate window cannot be bigger than max age");
      c->duplicate_window = c->max_age;
    }
  } else {
    if (c->duplicate_window < kSecond / 10 && c->duplicate_window != 0)
      return ConfigError("duplicates window needs to be >= 100ms");
    if (c->max_age > 0 && c->duplicate_window > c->max_age)
      return MakeError(Err::StreamInvalidConfigF, {{"err", "duplicates window can not be larger then max age"}});
  }
  if (c->allow_rollup_hdrs && c->deny_purge) return ConfigError("roll-ups require the purge permission");
  // A counter's total is its subject's last message: nothing may refuse an
  // increment or remove a total behind the stream's back.
  if (c->allow_msg_counter) {
    if (c->discard == Discard::kNew) return ConfigError("counter stream cannot use discard new");
    if (c->allow_msg_ttl) return ConfigError("counter stream cannot use message TTLs");
    if (c->retention != Retention::kLimits) return ConfigError("counter stream can only use limits retention");
  }
  // nats-server 2.11's rules and texts. A marker is published with a
  // rollup and a TTL, so markers turn both on unless the request is pedantic.
  if (c->subject_delete_marker_ttl > 0) {
    if (c->subject_delete_marker_ttl < kSecond) return ConfigError("subject delete marker TTL must be at least 1 second");
    if (!c->allow_msg_ttl) {
      if (pedantic) return ConfigError("subject delete marker cannot be set if message TTLs are disabled");
      c->allow_msg_ttl = true;
    }
    if (!c->allow_rollup_hdrs) {
      if (pedantic) return ConfigError("subject delete marker cannot be set if roll-ups are disabled");
      c->allow_rollup_hdrs = true;
      c->deny_purge = false;
    }
    // Markers would take sequences the origin does not have.
    if (c->mirror) return ConfigError("subject delete markers forbidden on mirrors");
  } else if (c->subject_delete_marker_ttl < 0) {
    return ConfigError("subject delete marker TTL must not be negative");
  }
  // A schedule is stored with a roll-up, so each subject holds one.
  if (c->allow_msg_schedules && !c->allow_rollup_hdrs) {
    if (pedantic) return ConfigError("message scheduling cannot be set if roll-ups are disabled");
    c->allow_rollup_hdrs = true;
    c->deny_purge = false;
  }
  if (c->persist_async) {
    if (c->storage != Storage::kFile) return ConfigError("async persist mode is only supported on file storage");
    if (c->num_replicas > 1) return ConfigError("async persist mode is not supported on replicated streams");
    if (c->allow_atomic) return ConfigError("async persist mode is not supported with atomic batch publish");
  }
  if (c->allow_msg_schedules && !c->sources.empty()) return MakeError(Err::SourceWithMsgSchedules);
  if (c->discard_new_per_subject) {
    if (c->discard != Discard::kNew)
      return ConfigError("discard new per subject requires discard new policy to be set");
    if (c->max_msgs_per_subject <= 0)
      return ConfigError("discard new per subject requires max msgs per subject > 0");
  }
  if (c->sealed) {
    c->deny_delete = true;
    c->deny_purge = true;
    c->discard = Discard::kNew;
  }
  if (c->republish) {
    // 2.9.10's rules and texts: a destination, a source that some stream
    // subject can match, no destination the stream would store again.
    if (c->republish->src.empty()) {
      if (pedantic) return PedanticError("republish source can not be empty");
      c->republish->src = ">";
    }
    const auto& r = *c->republish;
    if (r.dest.empty() || !proto::ValidSubscribeSubject(r.dest)) return ConfigError("stream configuration for republish not valid");
    if (!proto::ValidSubscribeSubject(r.src)) return ConfigError("stream configuration for republish not valid");
    bool covered = false;
    for (const auto& s : c->subjects) {
      if (proto::SubjectsOverlap(r.dest, s)) return ConfigError("stream configuration for republish destination forms a cycle");
      covered = covered || proto::SubjectsOverlap(r.src, s);
    }
    if (!covered && !c->subjects.empty())
      return ConfigError("stream configuration for republish source is not valid subset of subjects");
    std::string err;
    if (!proto::SubjectTransform::Make(r.src, r.dest, &err))
      return ConfigError("stream configuration for republish not valid");
  }
  return std::nullopt;
}

Json ToJson(const StreamConfig& c) {
  Json j;
  j["name"] = c.name;
  if (!c.description.empty()) j["description"] = c.description;
  if (!c.subjects.empty()) j["subjects"] = c.subjects;
  j["retention"] = c.retention == Retention::kLimits    ? "limits"
                   : c.retention == Retention::kInterest ? "interest"
                                                         : "workqueue";
  j["max_consumers"] = c.max_consumers;
  j["max_msgs"] = c.max_msgs;
  j["max_bytes"] = c.max_bytes;
  j["max_age"] = c.max_age;
  j["max_msgs_per_subject"] = c.max_msgs_per_subject;
  j["max_msg_size"] = c.max_msg_size;
  j["discard"] = c.discard == Discard::kOld ? "old" : "new";
  j["storage"] = c.storage == Storage::kFile ? "file" : "memory";
  j["num_replicas"] = c.num_replicas;
  if (c.no_ack) j["no_ack"] = true;
  if (c.duplicate_window) j["duplicate_window"] = c.duplicate_window;
  if (c.mirror) j["mirror"] = SourceJson(*c.mirror);
  if (c.republish) {
    Json r = {{"src", c.republish->src}, {"dest", c.republish->dest}};
    if (c.republish->headers_only) r["headers_only"] = true;
    j["republish"] = std::move(r);
  }
  if (!c.sources.empty()) {
    Json sources = Json::array();
    for (const auto& s : c.sources) sources.push_back(SourceJson(s));
    j["sources"] = std::move(sources);
  }
  if (!c.placement.is_null()) j["placement"] = c.placement;
  // As 2.11 writes them: compression, consumer_limits and allow_msg_ttl
  // always, the other newer fields when set.
  j["compression"] = c.compression;
  if (c.first_seq) j["first_seq"] = c.first_seq;
  j["allow_direct"] = c.allow_direct;
  j["mirror_direct"] = c.mirror_direct;
  j["sealed"] = c.sealed;
  j["deny_delete"] = c.deny_delete;
  j["deny_purge"] = c.deny_purge;
  j["allow_rollup_hdrs"] = c.allow_rollup_hdrs;
  if (c.discard_new_per_subject) j["discard_new_per_subject"] = true;
  j["allow_msg_ttl"] = c.allow_msg_ttl;
  if (c.subject_delete_marker_ttl) j["subject_delete_marker_ttl"] = c.subject_delete_marker_ttl;
  if (c.allow_msg_counter) j["allow_msg_counter"] = true;
  if (c.allow_atomic) j["allow_atomic"] = true;
  if (c.allow_msg_schedules) j["allow_msg_schedules"] = true;
  if (c.persist_async) j["persist_mode"] = "async";
  j["consumer_limits"] = c.consumer_limits;
  if (!c.metadata.empty()) j["metadata"] = c.metadata;
  if (c.subject_transform) j["subject_transform"] = ToJson(*c.subject_transform);
  return j;
}

namespace {
// Metadata keys nats-server reserves for versioning.
constexpr const char* kReqLevel = "_nats.req.level";
constexpr const char* kServerVersion = "_nats.ver";
constexpr const char* kServerLevel = "_nats.level";

void SetLevel(std::map<std::string, std::string>* md, int level) {
  md->erase(kServerVersion);
  md->erase(kServerLevel);
  (*md)[kReqLevel] = std::to_string(level);
}
}  // namespace

void SetRequiredLevel(StreamConfig* c) {
  // The API level that introduced each feature the stream uses.
  int level = 0;
  if (c->allow_msg_ttl || c->subject_delete_marker_ttl > 0) level = 1;
  if (c->allow_msg_counter || c->allow_atomic || c->allow_msg_schedules || c->persist_async) level = 2;
  SetLevel(&c->metadata, level);
}

void SetRequiredLevel(ConsumerConfig* c) {
  SetLevel(&c->metadata, c->pause_until != 0 || c->priority_policy != PriorityPolicy::kNone ||
                                 c->priority_timeout != 0 || !c->priority_groups.empty()
                             ? 1
                             : 0);
}

void KeepStoredLevel(std::map<std::string, std::string>* md, const std::map<std::string, std::string>& stored) {
  if (auto lv = stored.find(kReqLevel); lv != stored.end()) {
    (*md)[kReqLevel] = lv->second;
  } else {
    md->erase(kReqLevel);
  }
}

Json WithServerLevel(Json config) {
  Json& md = config["metadata"];
  if (!md.is_object()) md = Json::object();
  md[kServerVersion] = kNatsCompatVersion;
  md[kServerLevel] = std::to_string(kApiLevel);
  return config;
}

Json ToJson(const SubjectTransformConfig& t) {
  Json j;
  j["src"] = t.src;
  j["dest"] = t.dest;
  return j;
}

std::string StreamSource::IndexName() const {
  std::string src = filter_subject.empty() ? ">" : filter_subject, dest = ">";
  if (!subject_transforms.empty()) {
    src.clear();
    dest.clear();
    for (const auto& t : subject_transforms) {
      if (!src.empty()) {
        src += '\f';
        dest += '\f';
      }
      src += t.Source();
      dest += t.dest.empty() ? ">" : t.dest;
    }
  }
  return name + " " + src + " " + dest;
}

std::vector<std::string> ConsumerConfig::Filters() const {
  if (!filter_subjects.empty()) return filter_subjects;
  if (!filter_subject.empty()) return {filter_subject};
  return {};
}

std::optional<ApiError> ParseConsumerConfig(const nlohmann::json& j, ConsumerConfig* c) {
  if (!j.is_object()) return MakeError(Err::InvalidJSON, {{"err", "expected an object"}});
  try {
    Get(j, "durable_name", &c->durable_name);
    Get(j, "name", &c->name);
    Get(j, "description", &c->description);
    GetEnum(j, "deliver_policy", &c->deliver_policy,
            {{"all", DeliverPolicy::kAll}, {"undefined", DeliverPolicy::kAll},
             {"last", DeliverPolicy::kLast}, {"new", DeliverPolicy::kNew},
             {"by_start_sequence", DeliverPolicy::kByStartSequence},
             {"by_start_time", DeliverPolicy::kByStartTime},
             {"last_per_subject", DeliverPolicy::kLastPerSubject}});
    Get(j, "opt_start_seq", &c->opt_start_seq);
    GetTime(j, "opt_start_time", &c->opt_start_time);
    GetEnum(j, "ack_policy", &c->ack_policy,
            {{"none", AckPolicy::kNone}, {"all", AckPolicy::kAll}, {"explicit", AckPolicy::kExplicit}});
    Get(j, "ack_wait", &c->ack_wait);
    Get(j, "max_deliver", &c->max_deliver);
    Get(j, "backoff", &c->backoff);
    Get(j, "filter_subject", &c->filter_subject);
    Get(j, "filter_subjects", &c->filter_subjects);
    GetEnum(j, "replay_policy", &c->replay_policy,
            {{"instant", ReplayPolicy::kInstant}, {"original", ReplayPolicy::kOriginal}});
    Get(j, "rate_limit_bps", &c->rate_limit_bps);
    Get(j, "sample_freq", &c->sample_freq);
    Get(j, "max_waiting", &c->max_waiting);
    Get(j, "max_ack_pending", &c->max_ack_pending);
    Get(j, "flow_control", &c->flow_control);
    Get(j, "headers_only", &c->headers_only);
    Get(j, "max_batch", &c->max_batch);
    Get(j, "max_expires", &c->max_expires);
    Get(j, "max_bytes", &c->max_bytes);
    Get(j, "deliver_subject", &c->deliver_subject);
    Get(j, "deliver_group", &c->deliver_group);
    Get(j, "idle_heartbeat", &c->idle_heartbeat);
    Get(j, "inactive_threshold", &c->inactive_threshold);
    Get(j, "num_replicas", &c->num_replicas);
    Get(j, "mem_storage", &c->mem_storage);
    GetMetadata(j, &c->metadata);
    GetTime(j, "pause_until", &c->pause_until);
    Get(j, "priority_groups", &c->priority_groups);
    if (auto it = j.find("priority_policy"); it != j.end() && !it->is_null()) {
      std::string p;
      Get(j, "priority_policy", &p);
      if (p == "none") c->priority_policy = PriorityPolicy::kNone;
      else if (p == "overflow") c->priority_policy = PriorityPolicy::kOverflow;
      else if (p == "pinned_client") c->priority_policy = PriorityPolicy::kPinnedClient;
      else if (p == "prioritized") c->priority_policy = PriorityPolicy::kPrioritized;
      else throw BadJson{"unknown priority policy: \"" + p + "\""};
    }
    Get(j, "priority_timeout", &c->priority_timeout);
  } catch (const BadJson& e) {
    return MakeError(Err::InvalidJSON, {{"err", e.what}});
  }
  return std::nullopt;
}

Json ToJson(const ConsumerConfig& c) {
  static const char* kDeliver[] = {"all", "last", "new", "by_start_sequence", "by_start_time",
                                   "last_per_subject"};
  static const char* kAck[] = {"none", "all", "explicit"};
  static const char* kPriority[] = {"none", "overflow", "pinned_client", "prioritized"};
  Json j;
  if (!c.durable_name.empty()) j["durable_name"] = c.durable_name;
  if (!c.name.empty()) j["name"] = c.name;
  if (!c.description.empty()) j["description"] = c.description;
  if (!c.deliver_subject.empty()) j["deliver_subject"] = c.deliver_subject;
  if (!c.deliver_group.empty()) j["deliver_group"] = c.deliver_group;
  j["deliver_policy"] = kDeliver[int(c.deliver_policy)];
  if (c.opt_start_seq) j["opt_start_seq"] = c.opt_start_seq;
  if (c.opt_start_time) j["opt_start_time"] = FormatTime(c.opt_start_time);
  j["ack_policy"] = kAck[int(c.ack_policy)];
  if (c.ack_wait) j["ack_wait"] = c.ack_wait;
  if (c.max_deliver) j["max_deliver"] = c.max_deliver;
  if (!c.backoff.empty()) j["backoff"] = c.backoff;
  if (!c.filter_subject.empty()) j["filter_subject"] = c.filter_subject;
  if (!c.filter_subjects.empty()) j["filter_subjects"] = c.filter_subjects;
  j["replay_policy"] = c.replay_policy == ReplayPolicy::kInstant ? "instant" : "original";
  if (c.rate_limit_bps) j["rate_limit_bps"] = c.rate_limit_bps;
  if (!c.sample_freq.empty()) j["sample_freq"] = c.sample_freq;
  if (c.max_waiting) j["max_waiting"] = c.max_waiting;
  if (c.max_ack_pending) j["max_ack_pending"] = c.max_ack_pending;
  if (c.flow_control) j["flow_control"] = true;
  if (c.headers_only) j["headers_only"] = true;
  if (c.max_batch) j["max_batch"] = c.max_batch;
  if (c.max_expires) j["max_expires"] = c.max_expires;
  if (c.max_bytes) j["max_bytes"] = c.max_bytes;
  if (c.idle_heartbeat) j["idle_heartbeat"] = c.idle_heartbeat;
  if (c.inactive_threshold) j["inactive_threshold"] = c.inactive_threshold;
  j["num_replicas"] = c.num_replicas;
  if (c.mem_storage) j["mem_storage"] = true;
  if (!c.metadata.empty()) j["metadata"] = c.metadata;
  if (c.pause_until) j["pause_until"] = FormatTime(c.pause_until);
  if (!c.priority_groups.empty()) j["priority_groups"] = c.priority_groups;
  if (c.priority_policy != PriorityPolicy::kNone)
    j["priority_policy"] = kPriority[int(c.priority_policy)];
  if (c.priority_timeout) j["priority_timeout"] = c.priority_timeout;
  return j;
}

std::string FormatTime(int64_t ns) {
  if (ns == 0) return "0001-01-01T00:00:00Z";
  time_t secs = ns / kSecond;
  int64_t frac = ns % kSecond;
  tm t;
  gmtime_r(&secs, &t);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::string s(buf, n);
  if (frac) {
    char f[16];
    snprintf(f, sizeof f, ".%09lld", static_cast<long long>(frac));
    std::string fs(f);
    while (fs.back() == '0') fs.pop_back();  // Go trims trailing zeros
    s += fs;
  }
  s += 'Z';
  return s;
}

bool ParseTime(const std::string& s, int64_t* out) {
  if (s == "0001-01-01T00:00:00Z") {
    *out = 0;
    return true;
  }
  tm t{};
  const char* p = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &t);
  if (!p) return false;
  int64_t frac = 0;
  if (*p == '.') {
    ++p;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (digits < 9) {
        frac = frac * 10 + (*p - '0');
        ++digits;
      }
      ++p;
    }
    while (digits++ < 9) frac *= 10;
  }
  int64_t offset = 0;
  if (*p == 'Z') {
    ++p;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1;
    int hh = 0, mm = 0;
    if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2) return false;
    offset = sign * (hh * 3600 + mm * 60);
    p += 6;
  } else {
    return false;
  }
  if (*p) return false;
  int64_t secs = int64_t(timegm(&t)) - offset;
  *out = secs * kSecond + frac;
  return true;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ValidStreamName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char ch : name)
    if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '.' ||
        ch == '*' || ch == '>' || ch == '/' || ch == '\\')
      return false;
  return true;
}

std::string RandomToken(size_t n) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s(n, ' ');
  for (auto& ch : s) ch = kAlphabet[rng() % (sizeof kAlphabet - 1)];
  return s;
}

}  // namespace fjord::jetstream
