#include "jetstream/api.h"

#include <algorithm>
#include <set>

#include "base/log.h"
#include "jetstream/advisory.h"
#include "jetstream/api_common.h"
#include "jetstream/consumer.h"
#include "proto/headers.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream.h"
#include "proto/parser.h"

namespace fjord::jetstream {
namespace {

constexpr int kNamesLimit = 1024;
constexpr int kListLimit = 256;
constexpr int kSubjectsLimit = 100000;

template <typename T>
T Field(const nlohmann::json& j, const char* key, T def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  try {
    return it->get<T>();
  } catch (...) {
    return def;
  }
}

// 2.11's `pedantic` request flag, beside the config's fields.
bool Pedantic(const nlohmann::json& body) { return Field<bool>(body, "pedantic", false); }

void AccountInfo(JetStream* js, Inbound& m) {
  const auto& o = js->options();
  Json j = Typed("account_info_response");
  j["memory"] = js->MemoryUsed();
  j["storage"] = js->StoreUsed();
  j["reserved_memory"] = 0;
  j["reserved_storage"] = 0;
  j["streams"] = js->streams().size();
  j["consumers"] = js->ConsumerCount();
  j["limits"] = {{"max_memory", o.max_memory},
                 {"max_storage", o.max_store},
                 {"max_streams", o.max_streams},
                 {"max_consumers", o.max_consumers},
                 {"max_ack_pending", -1},
                 {"memory_max_stream_bytes", -1},
                 {"storage_max_stream_bytes", -1},
                 {"max_bytes_required", false}};
  if (!o.domain.empty()) j["domain"] = o.domain;
  js->CountApi(false);
  j["api"] = {{"total", js->api_total()}, {"errors", js->api_errors()}};
  ApiAuditAdvisory(js, m, j);
  js->Reply(m.reply, j);
}

std::optional<ApiError> CheckOverlap(JetStream* js, const StreamConfig& cfg) {
  for (const auto& [name, s] : js->streams()) {
    if (name == cfg.name) continue;
    for (const auto& a : s->config().subjects)
      for (const auto& b : cfg.subjects)
        if (proto::SubjectsOverlap(a, b)) return MakeError(Err::StreamSubjectOverlap);
  }
  return std::nullopt;
}

// True if following mirror and sources from `cfg` through the existing
// streams leads back to it: each stream would copy the other's copies
// forever. Checked on every create and update, so the edge that would
// close a cycle is the one refused.
bool SourcingCycle(JetStream* js, const StreamConfig& cfg) {
  std::vector<std::string> todo;
  std::set<std::string> seen;
  auto follow = [&](const StreamConfig& c) {
    if (c.mirror) todo.push_back(c.mirror->name);
    for (const auto& src : c.sources) todo.push_back(src.name);
  };
  follow(cfg);
  while (!todo.empty()) {
    std::string next = std::move(todo.back());
    todo.pop_back();
    if (next == cfg.name) return true;
    if (!seen.insert(next).second) continue;
    if (auto s = js->FindStream(next)) follow(s->config());
  }
  return false;
}

ApiError CycleError() { return MakeError(Err::StreamInvalidConfigF, {{"err", "detected cycle"}}); }

void StreamCreate(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_create_response";
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  StreamConfig cfg;
  if (auto e = ParseStreamConfig(body, &cfg)) return ReplyError(js, m, type, *e);
  if (cfg.name.empty()) cfg.name = name;
  if (cfg.name != name) return ReplyError(js, m, type, MakeError(Err::StreamMismatch));
  if (auto e = CheckStreamConfig(&cfg, Pedantic(body))) return ReplyError(js, m, type, *e);
  if (body.value("sealed", false))
    return ReplyError(js, m, type,
                      MakeError(Err::StreamInvalidConfigF, {{"err", "stream configuration for create can not be sealed"}}));
  if (auto existing = js->FindStream(name)) {
    if (ToJson(existing->config()) != ToJson(cfg)) return ReplyError(js, m, type, MakeError(Err::StreamNameExist));
    Json j = Typed(type);
    Merge(j, existing->InfoJson());
    j["did_create"] = true;
    return ReplyOk(js, m, j);
  }
  const auto& o = js->options();
  if (o.max_streams >= 0 && int64_t(js->streams().size()) >= o.max_streams)
    return ReplyError(js, m, type, MakeError(Err::MaximumStreamsLimit));
  if (auto e = CheckOverlap(js, cfg)) return ReplyError(js, m, type, *e);
  if (SourcingCycle(js, cfg)) return ReplyError(js, m, type, CycleError());
  if (cfg.storage == Storage::kFile && o.max_store > 0 && cfg.max_bytes > o.max_store)
    return ReplyError(js, m, type, MakeError(Err::StorageResourcesExceeded));
  if (cfg.storage == Storage::kMemory && o.max_memory > 0 && cfg.max_bytes > o.max_memory)
    return ReplyError(js, m, type, MakeError(Err::MemoryResourcesExceeded));
  auto s = Stream::Open(js, cfg, NowNs(), /*recover=*/false, &err);
  if (!s) return ReplyError(js, m, type, err);
  s->Subscribe();
  js->streams()[name] = s;
  log::Debug("JetStream stream '{}' created", name);
  StreamActionAdvisory(js, name, "create");
  Json j = Typed(type);
  Merge(j, s->InfoJson());
  j["did_create"] = true;
  ReplyOk(js, m, j);
}

void StreamUpdate(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_update_response";
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  StreamConfig cfg;
  if (auto e = ParseStreamConfig(body, &cfg)) return ReplyError(js, m, type, *e);
  if (cfg.name.empty()) cfg.name = name;
  if (cfg.name != name) return ReplyError(js, m, type, MakeError(Err::StreamMismatch));
  auto s = js->FindStream(name);
  if (!s) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
  if (auto e = CheckStreamConfig(&cfg, Pedantic(body))) return ReplyError(js, m, type, *e);
  const StreamConfig& old = s->config();
  auto bad = [&](const char* text) {
    ReplyError(js, m, type, MakeError(Err::StreamInvalidConfigF, {{"err", text}}));
  };
  if (cfg.storage != old.storage) return bad("stream configuration update can not change storage type");
  if (cfg.retention != old.retention &&
      (cfg.retention == Retention::kWorkQueue || old.retention == Retention::kWorkQueue))
    return bad("stream configuration update can not change retention policy to/from workqueue");
  if (old.sealed && !cfg.sealed) return bad("stream configuration update can not unseal a sealed stream");
  if (old.deny_delete && !cfg.deny_delete) return bad("stream configuration update can not cancel deny message deletes");
  if (old.deny_purge && !cfg.deny_purge) return bad("stream configuration update can not cancel deny purge");
  if (old.allow_msg_ttl && !cfg.allow_msg_ttl) return bad("message TTL status can not be disabled");
  // A mirror stays the mirror of the same origin from the same start, and a
  // stream never becomes one.
  if (ToJson(cfg)["mirror"] != ToJson(old)["mirror"])
    return ReplyError(js, m, type, MakeError(Err::StreamMirrorNotUpdatable));
  if (SourcingCycle(js, cfg)) return ReplyError(js, m, type, CycleError());
  if (auto e = CheckOverlap(js, cfg)) return ReplyError(js, m, type, *e);
  if (auto e = s->Update(cfg); !e.ok()) return ReplyError(js, m, type, e);
  StreamActionAdvisory(js, name, "modify");
  Json j = Typed(type);
  Merge(j, s->InfoJson());
  ReplyOk(js, m, j);
}

void StreamDelete(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_delete_response";
  auto s = js->FindStream(name);
  if (!s) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
  s->Delete();
  js->streams().erase(name);
  StreamActionAdvisory(js, name, "delete");
  Json j = Typed(type);
  j["success"] = true;
  ReplyOk(js, m, j);
}

void StreamInfo(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_info_response";
  nlohmann::json body;
  ApiError err;
  Json paged = {{"total", 0}, {"offset", 0}, {"limit", 0}};
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err, paged);
  auto s = js->FindStream(name);
  if (!s) return ReplyError(js, m, type, MakeError(Err::StreamNotFound), paged);
  std::string filter = Field<std::string>(body, "subjects_filter", "");
  bool deleted = Field<bool>(body, "deleted_details", false);
  int64_t offset = Field<int64_t>(body, "offset", 0);
  Json info = s->InfoJson(filter, deleted);
  Json j = Typed(type);
  size_t total = 0;
  if (!filter.empty() && info["state"].contains("subjects")) {
    // Page the subjects map.
    Json& subjects = info["state"]["subjects"];
    total = subjects.size();
    if (offset > 0 || total > size_t(kSubjectsLimit)) {
      Json page = Json::object();
      int64_t i = 0;
      for (auto& [k, v] : subjects.items()) {
        if (i >= offset && page.size() < size_t(kSubjectsLimit)) page[k] = v;
        ++i;
      }
      subjects = page;
    }
  }
  j["total"] = total;
  j["offset"] = offset;
  j["limit"] = filter.empty() ? 0 : kSubjectsLimit;
  Merge(j, std::move(info));
  ReplyOk(js, m, j);
}

void StreamListOrNames(JetStream* js, Inbound& m, bool list) {
  const char* type = list ? "stream_list_response" : "stream_names_response";
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  int64_t offset = std::max<int64_t>(0, Field<int64_t>(body, "offset", 0));
  std::string subject = Field<std::string>(body, "subject", "");
  std::vector<std::shared_ptr<Stream>> matched;
  for (const auto& [name, s] : js->streams()) {  // std::map: sorted by name
    if (!subject.empty()) {
      bool any = false;
      for (const auto& subj : s->config().subjects)
        if (proto::SubjectsOverlap(subj, subject)) any = true;
      if (!any) continue;
    }
    matched.push_back(s);
  }
  int limit = list ? kListLimit : kNamesLimit;
  Json j = Typed(type);
  j["total"] = matched.size();
  j["offset"] = offset;
  j["limit"] = limit;
  Json items = Json::array();
  for (size_t i = size_t(offset); i < matched.size() && items.size() < size_t(limit); ++i) {
    if (list) {
      items.push_back(matched[i]->InfoJson());
    } else {
      items.push_back(matched[i]->name());
    }
  }
  j["streams"] = (items.empty() && !list) ? Json(nullptr) : items;
  ReplyOk(js, m, j);
}

void StreamPurge(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_purge_response";
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  auto s = js->FindStream(name);
  if (!s) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
  if (s->config().sealed) return ReplyError(js, m, type, MakeError(Err::StreamSealed));
  std::string filter = Field<std::string>(body, "filter", "");
  uint64_t seq = Field<uint64_t>(body, "seq", 0);
  uint64_t keep = Field<uint64_t>(body, "keep", 0);
  if (seq && keep) return ReplyError(js, m, type, MakeError(Err::BadRequest));
  if (!filter.empty() && !proto::ValidSubscribeSubject(filter))
    return ReplyError(js, m, type, MakeError(Err::BadRequest));
  uint64_t purged = 0;
  if (auto e = s->Purge(filter, seq, keep, &purged); !e.ok()) return ReplyError(js, m, type, e);
  Json j = Typed(type);
  j["success"] = true;
  j["purged"] = purged;
  ApiAuditAdvisory(js, m, j);
  // The purge must be durable before we say so.
  js->AfterSync(s, [js, reply = m.reply, body = j.dump()] { js->Send(reply, {}, {}, body); });
  js->CountApi(false);
}

// Looks a message up by a MsgGet request; error is 10003 or 10037.
store::Result<store::StoredMsg> LookupMsg(Stream& s, const nlohmann::json& body, ApiError* err) {
  uint64_t seq = Field<uint64_t>(body, "seq", 0);
  std::string last = Field<std::string>(body, "last_by_subj", "");
  std::string next = Field<std::string>(body, "next_by_subj", "");
  int selectors = (!last.empty()) + (!next.empty());
  store::Result<store::StoredMsg> r;
  if ((seq && !last.empty()) || selectors > 1 || (!seq && selectors == 0)) {
    *err = MakeError(Err::BadRequest);
    r.status.code = store::Errc::kInvalid;
    return r;
  }
  if (!last.empty()) {
    r = s.store().LoadLast(last);
  } else if (!next.empty()) {
    r = s.store().LoadNext(next, seq ? seq : 1);
  } else {
    r = s.store().Load(seq);
  }
  if (!r.ok()) *err = MakeError(Err::NoMessageFound);
  return r;
}

void MsgGet(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_msg_get_response";
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  auto s = js->FindStream(name);
  if (!s) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
  auto r = LookupMsg(*s, body, &err);
  if (!r.ok()) return ReplyError(js, m, type, err);
  Json msg;
  msg["subject"] = r.value.subject;
  msg["seq"] = r.value.seq;
  if (!r.value.hdr.empty()) msg["hdrs"] = Base64Encode(r.value.hdr);
  if (!r.value.data.empty()) msg["data"] = Base64Encode(r.value.data);
  msg["time"] = FormatTime(r.value.ts);
  Json j = Typed(type);
  j["message"] = msg;
  ReplyOk(js, m, j);
}

void MsgDelete(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_msg_delete_response";
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  auto s = js->FindStream(name);
  if (!s) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
  if (s->config().sealed) return ReplyError(js, m, type, MakeError(Err::StreamSealed));
  uint64_t seq = Field<uint64_t>(body, "seq", 0);
  if (!seq) return ReplyError(js, m, type, MakeError(Err::BadRequest));
  bool no_erase = Field<bool>(body, "no_erase", false);
  if (auto e = s->DeleteMsg(seq, !no_erase); !e.ok()) return ReplyError(js, m, type, e);
  uint64_t first = s->store().State().first_seq;
  for (auto& [cname, c] : s->consumers()) c->OnStreamPurged(first);
  Json j = Typed(type);
  j["success"] = true;
  ApiAuditAdvisory(js, m, j);
  js->AfterSync(s, [js, reply = m.reply, body = j.dump()] { js->Send(reply, {}, {}, body); });
  js->CountApi(false);
}

void DirectGet(JetStream* js, Inbound& m, std::string_view rest) {
  // rest: "<S>" or "<S>.<subject...>"
  size_t dot = rest.find('.');
  std::string name(rest.substr(0, dot));
  auto s = js->FindStream(name);
  if (!s || !s->config().allow_direct) return;  // no reply, as nats-server
  auto status = [&](int code, const char* text) {
    js->Send(m.reply, {}, proto::StatusHeader(code, text), {});
  };
  store::Result<store::StoredMsg> r;
  if (dot != std::string_view::npos) {
    if (!m.data.empty()) return status(408, "Bad Request");
    r = s->store().LoadLast(rest.substr(dot + 1));
  } else {
    if (m.data.empty()) return status(408, "Empty Request");
    auto body = nlohmann::json::parse(m.data, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return status(408, "Malformed Request");
    ApiError err;
    r = LookupMsg(*s, body, &err);
    if (!r.ok() && err.err_code == 10003) return status(408, "Bad Request");
  }
  if (!r.ok()) return status(404, "Message Not Found");
  std::string seq = std::to_string(r.value.seq);
  std::string ts = FormatTime(r.value.ts);
  std::string hdr = proto::AddHeaders(r.value.hdr, {{"Nats-Stream", name},
                                             {"Nats-Subject", r.value.subject},
                                             {"Nats-Sequence", seq},
                                             {"Nats-Time-Stamp", ts}});
  js->Send(m.reply, {}, hdr, r.value.data);
}

}  // namespace

void HandleStreamApi(JetStream* js, Inbound& m, std::string_view rest) {
  auto after = [&](std::string_view prefix, std::string* name) {
    if (rest.substr(0, prefix.size()) != prefix) return false;
    std::string_view n = rest.substr(prefix.size());
    if (n.empty() || n.find('.') != std::string_view::npos) return false;
    *name = std::string(n);
    return true;
  };
  std::string name;
  if (rest == "INFO") return AccountInfo(js, m);
  if (rest.substr(0, 11) == "DIRECT.GET.") return DirectGet(js, m, rest.substr(11));
  if (after("STREAM.CREATE.", &name)) {
    if (!ValidStreamName(name)) return ReplyError(js, m, "stream_create_response", MakeError(Err::StreamInvalidConfigF, {{"err", "invalid stream name"}}));
    return StreamCreate(js, m, name);
  }
  if (after("STREAM.UPDATE.", &name)) return StreamUpdate(js, m, name);
  if (after("STREAM.DELETE.", &name)) return StreamDelete(js, m, name);
  if (after("STREAM.INFO.", &name)) return StreamInfo(js, m, name);
  if (rest == "STREAM.LIST") return StreamListOrNames(js, m, true);
  if (rest == "STREAM.NAMES") return StreamListOrNames(js, m, false);
  if (after("STREAM.PURGE.", &name)) return StreamPurge(js, m, name);
  if (after("STREAM.MSG.GET.", &name)) return MsgGet(js, m, name);
  if (after("STREAM.MSG.DELETE.", &name)) return MsgDelete(js, m, name);
  if (after("STREAM.LEADER.STEPDOWN.", &name) || after("STREAM.PEER.REMOVE.", &name) ||
      rest == "META.LEADER.STEPDOWN" || rest == "SERVER.REMOVE") {
    return ReplyError(js, m, "stream_leader_stepdown_response", MakeError(Err::ClusterRequired));
  }
  ReplyError(js, m, "system_response", MakeError(Err::BadRequest));
}

}  // namespace fjord::jetstream
