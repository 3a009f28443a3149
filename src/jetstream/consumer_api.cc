// `$JS.API.CONSUMER.*` handlers and consumer recovery at start.
#include <algorithm>
#include <random>

#include "base/log.h"
#include "jetstream/advisory.h"
#include "jetstream/api.h"
#include "jetstream/api_common.h"
#include "jetstream/consumer.h"
#include "jetstream/consumer_config.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream.h"
#include "proto/headers.h"
#include "store/env.h"

namespace fjord::jetstream {
namespace {

constexpr size_t kNamesLimit = 1024;
constexpr size_t kListLimit = 256;

// A create or info reply: the consumer's info, with the server's API level
// in the config's metadata (not so in lists).
Json WithInfo(const char* type, Consumer& c) {
  Json j = Typed(type);
  Json info = c.InfoJson();
  info["config"] = WithServerLevel(std::move(info["config"]));
  Merge(j, std::move(info));
  return j;
}

std::vector<std::string> Split(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    out.emplace_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// Ephemeral consumers of file streams are stored too, as nats-server does:
// a restart must not cut a reader off in the middle of a stream.
bool UsesMemoryStore(const Stream& s, const ConsumerConfig& cfg) {
  return s.config().storage == Storage::kMemory || cfg.mem_storage;
}

std::string ObsDir(JetStream* js, const Stream& s) { return js->StreamDir(s.name()) + "/obs"; }

}  // namespace

store::Result<std::unique_ptr<store::ConsumerStore>> OpenConsumerStore(JetStream* js, Stream& s,
                                                                       const std::string& name,
                                                                       const ConsumerConfig& cfg) {
  if (UsesMemoryStore(s, cfg)) return {store::Status::Ok(), store::NewMemConsumerStore()};
  std::string obs = ObsDir(js, s);
  auto st = store::CreateDirsDurably(js->env(), obs);
  if (!st.ok()) return {st, nullptr};
  return store::OpenFileConsumerStore(js->env(), obs + "/" + name, js->consumer_sync());
}

namespace {

// Replies once the new consumer's state is durable.
void ReplyAfterSync(JetStream* js, const Inbound& m, const std::shared_ptr<Stream>& s,
                    const std::shared_ptr<Consumer>& c, Json j) {
  js->CountApi(false);
  ApiAuditAdvisory(js, m, j);
  std::string reply = m.reply;
  js->TouchStream(s);
  js->AfterSync(s, [js, reply, j = std::move(j)] { js->Reply(reply, j); }, c);
}

void Create(JetStream* js, const Inbound& m, const std::vector<std::string>& t, bool legacy_durable) {
  const char* type = "consumer_create_response";
  // t: CREATE <S> [<C> [filter...]]  or  DURABLE CREATE <S> <C>
  std::string stream_name, name, subject_filter;
  enum { kLegacyEphemeral, kLegacyDurable, kNew } form;
  if (legacy_durable) {
    if (t.size() != 4) return ReplyError(js, m, type, MakeError(Err::ConsumerDurableNameNotInSubject));
    form = kLegacyDurable;
    stream_name = t[2];
    name = t[3];
  } else if (t.size() == 2) {
    form = kLegacyEphemeral;
    stream_name = t[1];
  } else {
    form = kNew;
    stream_name = t[1];
    name = t[2];
    for (size_t i = 3; i < t.size(); ++i) subject_filter += (i > 3 ? "." : "") + t[i];
  }
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  std::string req_stream;
  if (body.contains("stream_name") && body["stream_name"].is_string()) req_stream = body["stream_name"];
  if (req_stream != stream_name) return ReplyError(js, m, type, MakeError(Err::StreamMismatch));
  // nats-server 2.9 creates a default consumer for a request without config.
  if (body.contains("config") && !body["config"].is_object())
    return ReplyError(js, m, type, MakeError(Err::ConsumerConfigRequired));
  ConsumerConfig cfg;
  if (auto e = ParseConsumerConfig(body.value("config", nlohmann::json::object()), &cfg))
    return ReplyError(js, m, type, *e);
  std::string action;
  if (body.contains("action") && body["action"].is_string()) action = body["action"];

  if (!name.empty() && name.find_first_of("\\/") != std::string::npos)
    return ReplyError(js, m, type, MakeError(Err::ConsumerNameContainsPathSeparators));
  switch (form) {
    case kLegacyDurable:
      if (cfg.durable_name.empty()) return ReplyError(js, m, type, MakeError(Err::ConsumerDurableNameNotSet));
      if (cfg.durable_name != name)
        return ReplyError(js, m, type, MakeError(Err::ConsumerDurableNameNotMatchSubject));
      break;
    case kNew:
      if (!cfg.durable_name.empty() && cfg.durable_name != name)
        return ReplyError(js, m, type, MakeError(Err::ConsumerDurableNameNotMatchSubject));
      // The name in the subject wins over config.name, as in nats-server.
      cfg.name = name;
      break;
    case kLegacyEphemeral:
      if (!cfg.durable_name.empty())
        return ReplyError(js, m, type, MakeError(Err::ConsumerEphemeralWithDurableName));
      name = cfg.name.empty() ? RandomToken(8) : cfg.name;
      break;
  }
  if (!subject_filter.empty()) {
    if (!cfg.filter_subjects.empty())
      return ReplyError(js, m, type, MakeError(Err::ConsumerMultipleFiltersNotAllowed));
    if (!cfg.filter_subject.empty() && cfg.filter_subject != subject_filter)
      return ReplyError(js, m, type, MakeError(Err::ConsumerCreateFilterSubjectMismatch));
  }
  if (!cfg.name.empty() && !cfg.durable_name.empty() && cfg.name != cfg.durable_name)
    return ReplyError(js, m, type, MakeError(Err::ConsumerCreateDurableAndNameMismatch));
  // Single server: nats-server refuses replicas here, before the stream
  // is looked up; names are checked with the config (CheckConsumerConfig).
  // In a cluster, CheckConsumerConfig holds them to the stream's.
  if (cfg.num_replicas > 1 && !js->meta())
    return ReplyError(js, m, type, MakeError(Err::StreamReplicasNotSupported));

  auto s = js->FindStream(stream_name);
  if (!s) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
  if (Pedantic(body)) {
    if (auto e = CheckPedantic(cfg, s->config())) return ReplyError(js, m, type, *e);
  }
  SetConsumerDefaults(&cfg, name, s->config());
  SetRequiredLevel(&cfg);

  auto it = s->consumers().find(name);
  bool existing = it != s->consumers().end();
  // Before any create-or-update rule, as nats-server checks the config.
  if (auto e = CheckConsumerConfig(*s, name, cfg, existing)) return ReplyError(js, m, type, *e);
  if (existing) {
    auto& c = it->second;
    KeepStoredLevel(&cfg.metadata, c->config().metadata);
    bool same = ToJson(c->config()) == ToJson(cfg);
    if (same) return ReplyOk(js, m, WithInfo(type, *c));
    // 2.10: a create that would change an existing consumer is refused
    // before any update rule is looked at.
    if (action == "create") return ReplyError(js, m, type, MakeError(Err::ConsumerAlreadyExists));
    // Another subscriber's inbox while the first still listens: refused,
    // so of many clients binding one durable at once exactly one wins.
    if (!cfg.deliver_subject.empty() && cfg.deliver_subject != c->config().deliver_subject && c->PushBound())
      return ReplyError(js, m, type, MakeError(Err::ConsumerNameExist));
    // A change no update may make reports the field (10012).
    std::string why = UpdateConflict(c->config(), cfg);
    if (!why.empty()) return ReplyError(js, m, type, MakeError(Err::ConsumerCreate, {{"err", why}}));
    auto e = c->Update(cfg);
    if (!e.ok()) return ReplyError(js, m, type, e);
    return ReplyAfterSync(js, m, s, c, WithInfo(type, *c));
  }
  if (action == "update") return ReplyError(js, m, type, MakeError(Err::ConsumerDoesNotExist));

  // A replicated stream's consumer: its state goes through the group, and
  // the reply waits for the commit of its creation (ReplyAfterSync).
  std::unique_ptr<store::ConsumerStore> cs = s->NewReplicatedConsumerStore(name, cfg);
  if (!cs) {
    auto opened = OpenConsumerStore(js, *s, name, cfg);
    if (!opened.ok())
      return ReplyError(js, m, type, MakeError(Err::ConsumerStoreFailed, {{"err", opened.status.msg}}));
    cs = std::move(opened.value);
  }
  auto c = Consumer::Create(s.get(), name, cfg, NowNs(), std::move(cs), false, &err);
  if (!c) return ReplyError(js, m, type, err);
  s->AddConsumer(name, c);
  ConsumerActionAdvisory(js, s->name(), name, "create");
  Json info = WithInfo(type, *c);
  // A push consumer may deliver before the reply is out, as nats-server does.
  c->Signal();
  ReplyAfterSync(js, m, s, c, std::move(info));
  c->AnnouncePauseAtCreate();
}

std::shared_ptr<Consumer> Lookup(JetStream* js, const Inbound& m, const char* type,
                                 const std::vector<std::string>& t, std::shared_ptr<Stream>* stream) {
  if (t.size() != 3) {
    ReplyError(js, m, type, MakeError(Err::BadRequest));
    return nullptr;
  }
  auto s = js->FindStream(t[1]);
  if (!s) {
    ReplyError(js, m, type, MakeError(Err::StreamNotFound));
    return nullptr;
  }
  auto it = s->consumers().find(t[2]);
  if (it == s->consumers().end()) {
    ReplyError(js, m, type, MakeError(Err::ConsumerNotFound));
    return nullptr;
  }
  if (stream) *stream = s;
  return it->second;
}

void Info(JetStream* js, const Inbound& m, const std::vector<std::string>& t) {
  const char* type = "consumer_info_response";
  if (auto c = Lookup(js, m, type, t, nullptr)) ReplyOk(js, m, WithInfo(type, *c));
}

void Delete(JetStream* js, const Inbound& m, const std::vector<std::string>& t) {
  const char* type = "consumer_delete_response";
  std::shared_ptr<Stream> s;
  auto c = Lookup(js, m, type, t, &s);
  if (!c) return;
  s->RemoveConsumer(c->name());
  Json j = Typed(type);
  j["success"] = true;
  // Once every replica will remove it (its removal is committed).
  if (s->replicated()) {
    js->CountApi(false);
    ApiAuditAdvisory(js, m, j);
    js->AfterSync(s, [js, reply = m.reply, j] { js->Reply(reply, j); });
    return;
  }
  ReplyOk(js, m, j);
}

void ListOrNames(JetStream* js, const Inbound& m, const std::vector<std::string>& t, bool list) {
  const char* type = list ? "consumer_list_response" : "consumer_names_response";
  // The paged responses carry their paging fields even on error.
  auto fail = [&](const ApiError& e) {
    ReplyError(js, m, type, e, {{"total", 0}, {"offset", 0}, {"limit", 0}, {"consumers", Json::array()}});
  };
  if (t.size() != 2) return fail(MakeError(Err::BadRequest));
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return fail(err);
  auto s = js->FindStream(t[1]);
  if (!s) return fail(MakeError(Err::StreamNotFound));
  size_t offset = 0;
  if (body.contains("offset") && body["offset"].is_number_integer()) {
    int64_t o = body["offset"].get<int64_t>();
    if (o > 0) offset = size_t(o);
  }
  size_t limit = list ? kListLimit : kNamesLimit;
  auto& all = s->consumers();  // std::map: sorted by name
  Json items = Json::array();
  size_t i = 0;
  for (auto& [name, c] : all) {
    if (i++ < offset) continue;
    if (items.size() >= limit) break;
    if (list) {
      items.push_back(c->InfoJson());
    } else {
      items.push_back(name);
    }
  }
  Json j = Typed(type);
  j["total"] = all.size();
  j["offset"] = offset;
  j["limit"] = limit;
  j["consumers"] = items;
  ReplyOk(js, m, j);
}

void Pause(JetStream* js, const Inbound& m, const std::vector<std::string>& t) {
  const char* type = "consumer_pause_response";
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  std::shared_ptr<Stream> s;
  auto c = Lookup(js, m, type, t, &s);
  if (!c) return;
  int64_t until = 0;
  if (body.contains("pause_until") && body["pause_until"].is_string() &&
      !ParseTime(body["pause_until"].get<std::string>(), &until))
    return ReplyError(js, m, type, MakeError(Err::InvalidJSON, {{"err", "invalid pause_until"}}));
  ConsumerConfig next = c->config();
  next.pause_until = until;
  SetRequiredLevel(&next);
  auto e = c->Update(next);
  if (!e.ok()) return ReplyError(js, m, type, e);
  int64_t now = NowNs();
  Json j = Typed(type);
  j["paused"] = until > now;
  j["pause_until"] = FormatTime(until);
  if (until > now) j["pause_remaining"] = until - now;
  ReplyAfterSync(js, m, s, c, j);
}

// `$JS.API.CONSUMER.UNPIN.<S>.<C>` `{"group"}` (2.11): the pinned client of
// that group loses its pin; the next requester is pinned.
void Unpin(JetStream* js, const Inbound& m, const std::vector<std::string>& t) {
  const char* type = "consumer_unpin_response";
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  std::string group;
  if (auto it = body.find("group"); it != body.end() && it->is_string()) group = it->get<std::string>();
  if (group.empty())
    return ReplyError(js, m, type, MakeError(Err::InvalidJSON, {{"err", "consumer group not specified"}}));
  if (!ValidPriorityGroupName(group)) return ReplyError(js, m, type, MakeError(Err::ConsumerInvalidGroupName));
  auto c = Lookup(js, m, type, t, nullptr);
  if (!c) return;
  if (auto e = c->Unpin(group); !e.ok()) return ReplyError(js, m, type, e);
  ReplyOk(js, m, Typed(type));
}

void MsgNext(JetStream* js, const Inbound& m, const std::vector<std::string>& t) {
  // Missing stream or consumer: no reply at all, as nats-server.
  if (t.size() != 4) return;
  auto s = js->FindStream(t[2]);
  if (!s) return;
  auto it = s->consumers().find(t[3]);
  if (it == s->consumers().end()) return;
  // 2.12: a pull request may ask for an API level; checked after the
  // push-consumer 409 (ProcessPullRequest's), before the request is read.
  if (!m.reply.empty() && it->second->config().is_pull() && RequiredApiLevelUnmet(m.hdr))
    return js->Send(m.reply, "", proto::StatusHeader(412, "Required Api Level"), "");
  it->second->ProcessPullRequest(m.reply, m.data);
}

}  // namespace

void HandleConsumerApi(JetStream* js, Inbound& m, std::string_view rest) {
  auto t = Split(rest);
  const std::string& op = t[0];
  if (op == "MSG" && t.size() >= 2 && t[1] == "NEXT") return MsgNext(js, m, t);
  if (op == "CREATE" && t.size() >= 2) return Create(js, m, t, false);
  if (op == "DURABLE" && t.size() >= 2 && t[1] == "CREATE") return Create(js, m, t, true);
  if (op == "INFO") return Info(js, m, t);
  if (op == "DELETE") return Delete(js, m, t);
  if (op == "LIST") return ListOrNames(js, m, t, true);
  if (op == "NAMES") return ListOrNames(js, m, t, false);
  if (op == "PAUSE") return Pause(js, m, t);
  if (op == "UNPIN") return Unpin(js, m, t);
  if (op == "LEADER" && t.size() >= 2 && t[1] == "STEPDOWN") {
    const char* type = "consumer_leader_stepdown_response";
    if (!js->options().clustered || t.size() != 4) return ReplyError(js, m, type, MakeError(Err::ClusterRequired));
    auto s = js->FindStream(t[2]);
    if (!s) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
    if (!s->consumers().count(t[3])) return ReplyError(js, m, type, MakeError(Err::ConsumerNotFound));
    // A consumer is led by its stream's leader (consumer_replication.h):
    // the stream's group moves, with all its consumers.
    return StepDownStream(js, m, *s, type);
  }
  ReplyError(js, m, "system_response", MakeError(Err::BadRequest));
}

// A consumer's config as its store keeps it: {name, created, config}.
struct StoredConsumer {
  std::string name;
  int64_t created = 0;
  ConsumerConfig cfg;
};
std::optional<StoredConsumer> ReadStoredConsumer(store::ConsumerStore& cs, const std::string& fallback_name) {
  auto meta = cs.Config();
  auto j = meta.ok() ? nlohmann::json::parse(meta.value, nullptr, false) : nlohmann::json();
  StoredConsumer out;
  if (!j.is_object() || !j.contains("config") || ParseConsumerConfig(j["config"], &out.cfg)) return std::nullopt;
  out.name = j.value("name", fallback_name);
  out.created = j.value("created", int64_t(0));
  return out;
}

void StartReplicatedConsumers(Stream* stream) {
  for (const auto& [name, lc] : stream->local_consumers()) {
    auto stored = ReadStoredConsumer(*lc.store, name);
    if (!stored) {
      log::Error("JetStream skipping consumer '{} > {}': unreadable config", stream->name(), name);
      continue;
    }
    LogConsumerState(stream->name(), name, "starts on this leader", *lc.store);
    ApiError err;
    auto c = Consumer::Create(stream, name, stored->cfg, stored->created, stream->NewReplicatedConsumerStore(name, stored->cfg),
                              true, &err);
    if (!c) {
      log::Error("JetStream can not start consumer '{} > {}': {}", stream->name(), name, err.description);
      continue;
    }
    stream->AddConsumer(name, c);
  }
}

namespace {
// A consumer's store, holding its config and state, joins the stream: as a
// local copy its leader starts (StartReplicatedConsumers) when the stream
// is replicated, else as a running consumer. Logged and dropped when its
// config cannot be read or the consumer cannot be made.
void InstallConsumer(Stream* stream, const std::string& fallback_name, std::unique_ptr<store::ConsumerStore> cs) {
  auto stored = ReadStoredConsumer(*cs, fallback_name);
  if (!stored) {
    log::Error("JetStream skipping consumer '{} > {}': unreadable config", stream->name(), fallback_name);
    return;
  }
  const std::string& name = stored->name;
  if (stream->replicated()) {
    LocalConsumer lc;
    lc.store = std::move(cs);
    lc.delivered = lc.store->State().delivered_consumer;
    stream->local_consumers()[name] = std::move(lc);
    return;
  }
  LogConsumerState(stream->name(), name, "recovered", *cs);
  ApiError err;
  auto c = Consumer::Create(stream, name, stored->cfg, stored->created, std::move(cs), true, &err);
  if (!c) {
    log::Error("JetStream can not recover consumer '{} > {}': {}", stream->name(), name, err.description);
    return;
  }
  stream->AddConsumer(name, c);
}
}  // namespace

void RecoverConsumers(JetStream* js, Stream* stream) {
  if (stream->config().storage == Storage::kMemory) return;
  std::string obs = ObsDir(js, *stream);
  if (!js->env()->IsDir(obs)) return;
  auto names = js->env()->ListDir(obs);
  if (!names.ok()) {
    log::Error("JetStream can not list consumers of stream '{}': {}", stream->name(), names.status.msg);
    return;
  }
  std::sort(names.value.begin(), names.value.end());
  for (const auto& dir_name : names.value) {
    std::string dir = obs + "/" + dir_name;
    if (!js->env()->IsDir(dir)) continue;
    auto cs = store::OpenFileConsumerStore(js->env(), dir, js->consumer_sync());
    if (!cs.ok()) {
      log::Error("JetStream can not open consumer '{} > {}': {}", stream->name(), dir_name, cs.status.msg);
      continue;
    }
    InstallConsumer(stream, dir_name, std::move(cs.value));
  }
}

std::vector<HeldConsumer> TakeMemoryConsumers(Stream& stream) {
  std::vector<HeldConsumer> held;
  auto take = [&](const std::string& name, store::ConsumerStore& cs) {
    auto meta = cs.Config();
    held.push_back({name, meta.ok() ? meta.value : std::string(), cs.State()});
  };
  if (stream.replicated()) {
    for (auto& [name, lc] : stream.local_consumers())
      if (auto stored = ReadStoredConsumer(*lc.store, name); stored && UsesMemoryStore(stream, stored->cfg))
        take(name, *lc.store);
  } else {
    for (auto& [name, c] : stream.consumers())
      if (UsesMemoryStore(stream, c->config())) take(name, c->store());
  }
  return held;
}

void GiveMemoryConsumers(Stream* stream, const std::vector<HeldConsumer>& held) {
  for (const auto& h : held) {
    auto cs = store::NewMemConsumerStore();
    (void)cs->SetConfig(h.meta);
    (void)cs->Reset(h.state);
    InstallConsumer(stream, h.name, std::move(cs));
  }
}

}  // namespace fjord::jetstream
