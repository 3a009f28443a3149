#include "jetstream/api.h"

#include <algorithm>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "base/base64.h"
#include "base/log.h"
#include "jetstream/advisory.h"
#include "jetstream/api_common.h"
#include "jetstream/cluster.h"
#include "jetstream/consumer.h"
#include "proto/headers.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream.h"
#include "proto/parser.h"

namespace fjord::jetstream {

Json InfoWithLevel(Stream& s) {
  Json info = s.InfoJson();
  info["config"] = WithServerLevel(std::move(info["config"]));
  return info;
}

std::optional<ApiError> CheckStreamUpdate(const StreamConfig& old, const StreamConfig& cfg) {
  auto bad = [&](const char* text) { return MakeError(Err::StreamInvalidConfigF, {{"err", text}}); };
  if (cfg.storage != old.storage) return bad("stream configuration update can not change storage type");
  if (cfg.retention != old.retention &&
      (cfg.retention == Retention::kWorkQueue || old.retention == Retention::kWorkQueue))
    return bad("stream configuration update can not change retention policy to/from workqueue");
  if (old.sealed && !cfg.sealed) return bad("stream configuration update can not unseal a sealed stream");
  if (old.deny_delete && !cfg.deny_delete) return bad("stream configuration update can not cancel deny message deletes");
  if (old.deny_purge && !cfg.deny_purge) return bad("stream configuration update can not cancel deny purge");
  if (old.allow_msg_ttl && !cfg.allow_msg_ttl) return bad("message TTL status can not be disabled");
  if (old.allow_msg_counter != cfg.allow_msg_counter)
    return bad("stream configuration update can not change message counter setting");
  if (old.allow_msg_schedules && !cfg.allow_msg_schedules) return bad("message schedules can not be disabled");
  if (old.persist_async != cfg.persist_async) return bad("stream configuration update can not change persist mode");
  // A mirror stays the mirror of the same origin from the same start, and a
  // stream never becomes one.
  if (ToJson(cfg)["mirror"] != ToJson(old)["mirror"]) return MakeError(Err::StreamMirrorNotUpdatable);
  return std::nullopt;
}

std::vector<std::string> Origins(const StreamConfig& cfg) {
  std::vector<std::string> out;
  if (cfg.mirror) out.push_back(cfg.mirror->name);
  for (const auto& src : cfg.sources) out.push_back(src.name);
  return out;
}

bool SourcingCycle(const StreamConfig& cfg,
                   const std::function<std::vector<std::string>(const std::string& name)>& origins_of) {
  std::vector<std::string> todo = Origins(cfg);
  std::set<std::string> seen;
  while (!todo.empty()) {
    std::string next = std::move(todo.back());
    todo.pop_back();
    if (next == cfg.name) return true;
    if (!seen.insert(next).second) continue;
    for (auto& o : origins_of(next)) todo.push_back(std::move(o));
  }
  return false;
}

ApiError CycleError() { return MakeError(Err::StreamInvalidConfigF, {{"err", "detected cycle"}}); }

std::optional<ApiError> CheckStreamBytes(const Options& o, const StreamConfig& cfg) {
  if (cfg.storage == Storage::kFile && o.max_store > 0 && cfg.max_bytes > o.max_store)
    return MakeError(Err::StorageResourcesExceeded);
  if (cfg.storage == Storage::kMemory && o.max_memory > 0 && cfg.max_bytes > o.max_memory)
    return MakeError(Err::MemoryResourcesExceeded);
  return std::nullopt;
}

bool AnySubjectsOverlap(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& x : a)
    for (const auto& y : b)
      if (proto::SubjectsOverlap(x, y)) return true;
  return false;
}

void ReplyAccountInfo(JetStream* js, const Inbound& m, uint64_t memory, uint64_t storage, size_t streams,
                      size_t consumers) {
  const auto& o = js->options();
  Json j = Typed("account_info_response");
  j["memory"] = memory;
  j["storage"] = storage;
  j["reserved_memory"] = 0;
  j["reserved_storage"] = 0;
  j["streams"] = streams;
  j["consumers"] = consumers;
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
  j["api"] = {{"level", kApiLevel}, {"total", js->api_total()}, {"errors", js->api_errors()}};
  ApiAuditAdvisory(js, m, j);
  js->Reply(m.reply, j);
}

namespace {

constexpr int kNamesLimit = 1024;
constexpr int kListLimit = 256;
constexpr int kSubjectsLimit = 100000;

void AccountInfo(JetStream* js, Inbound& m) {
  ReplyAccountInfo(js, m, js->MemoryUsed(), js->StoreUsed(), js->streams().size(), js->ConsumerCount());
}

std::optional<ApiError> CheckOverlap(JetStream* js, const StreamConfig& cfg) {
  for (const auto& [name, s] : js->streams())
    if (name != cfg.name && AnySubjectsOverlap(s->config().subjects, cfg.subjects))
      return MakeError(Err::StreamSubjectOverlap);
  return std::nullopt;
}

bool SourcingCycle(JetStream* js, const StreamConfig& cfg) {
  return SourcingCycle(cfg, [js](const std::string& name) {
    auto s = js->FindStream(name);
    return s ? Origins(s->config()) : std::vector<std::string>{};
  });
}

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
  SetRequiredLevel(&cfg);
  if (auto existing = js->FindStream(name)) {
    KeepStoredLevel(&cfg.metadata, existing->config().metadata);
    if (ToJson(existing->config()) != ToJson(cfg)) return ReplyError(js, m, type, MakeError(Err::StreamNameExist));
    Json j = Typed(type);
    Merge(j, InfoWithLevel(*existing));
    j["did_create"] = true;
    return ReplyOk(js, m, j);
  }
  if (js->options().max_streams >= 0 && int64_t(js->streams().size()) >= js->options().max_streams)
    return ReplyError(js, m, type, MakeError(Err::MaximumStreamsLimit));
  if (auto e = CheckOverlap(js, cfg)) return ReplyError(js, m, type, *e);
  if (SourcingCycle(js, cfg)) return ReplyError(js, m, type, CycleError());
  if (auto e = CheckStreamBytes(js->options(), cfg)) return ReplyError(js, m, type, *e);
  auto s = Stream::Open(js, cfg, NowNs(), /*recover=*/false, &err);
  if (!s) return ReplyError(js, m, type, err);
  s->Subscribe();
  js->streams()[name] = s;
  log::Debug("JetStream stream '{}' created", name);
  StreamActionAdvisory(js, name, "create");
  Json j = Typed(type);
  Merge(j, InfoWithLevel(*s));
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
  SetRequiredLevel(&cfg);
  if (auto e = CheckStreamUpdate(s->config(), cfg)) return ReplyError(js, m, type, *e);
  if (SourcingCycle(js, cfg)) return ReplyError(js, m, type, CycleError());
  if (auto e = CheckOverlap(js, cfg)) return ReplyError(js, m, type, *e);
  if (auto e = s->Update(cfg); !e.ok()) return ReplyError(js, m, type, e);
  StreamActionAdvisory(js, name, "modify");
  Json j = Typed(type);
  Merge(j, InfoWithLevel(*s));
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
  info["config"] = WithServerLevel(std::move(info["config"]));
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
  if (s->replicated()) {
    // Every replica purges once the group has committed it; the leader
    // answers then.
    return s->ProposePurge(filter, seq, keep, [js, req = Detached(m), type](const ApiError& e, Json result) {
      if (!e.ok()) return ReplyError(js, req, type, e);
      Json j = Typed(type);
      j["success"] = true;
      j["purged"] = result.value("purged", uint64_t(0));
      ReplyOk(js, req, j);
    });
  }
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

// Looks a message up by a MsgGet request; error is 10003 or 10037, or 10077
// for a message held but unreadable.
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
  if (r.ok()) return r;
  if (store::Unreadable(r.status)) {
    // Held but unreadable here: not "no message" (a replica repairing its
    // copy from this answer would give up); a leader hands over.
    s.SkipUnreadable(r.value.seq, r.status);
    *err = MakeError(Err::StreamStoreFailedF, {{"err", r.status.msg}});
    return r;
  }
  *err = MakeError(Err::NoMessageFound);
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
  if (!r.value.hdr.empty()) msg["hdrs"] = base64::Encode(r.value.hdr);
  if (!r.value.data.empty()) msg["data"] = base64::Encode(r.value.data);
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
  if (s->replicated()) {
    return s->ProposeDeleteMsg(seq, !no_erase, [js, req = Detached(m), type](const ApiError& e, Json) {
      if (!e.ok()) return ReplyError(js, req, type, e);
      Json j = Typed(type);
      j["success"] = true;
      ReplyOk(js, req, j);
    });
  }
  if (auto e = s->DeleteMsg(seq, !no_erase); !e.ok()) return ReplyError(js, m, type, e);
  uint64_t first = s->store().State().first_seq;
  for (auto& [cname, c] : s->consumers()) c->OnStreamPurged(first);
  Json j = Typed(type);
  j["success"] = true;
  ApiAuditAdvisory(js, m, j);
  js->AfterSync(s, [js, reply = m.reply, body = j.dump()] { js->Send(reply, {}, {}, body); });
  js->CountApi(false);
}

// A direct get request (2.11 adds batches and multi_last); parse errors are
// 408 Malformed Request, as Go's json.Unmarshal fails on a wrong type.
struct DirectRequest {
  uint64_t seq = 0;
  std::string last_by_subj, next_by_subj;
  int64_t batch = 0, max_bytes = 0;
  std::optional<int64_t> start_time, up_to_time;  // unix ns
  std::vector<std::string> multi_last;
  uint64_t up_to_seq = 0;
};

bool ParseDirectRequest(const nlohmann::json& j, DirectRequest* r) {
  try {
    auto get = [&](const char* key, auto* out) {
      if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(*out);
    };
    auto time = [&](const char* key, std::optional<int64_t>* out) {
      auto it = j.find(key);
      if (it == j.end() || it->is_null()) return true;
      int64_t ns = 0;
      if (!it->is_string() || !ParseTime(it->get<std::string>(), &ns)) return false;
      *out = ns;
      return true;
    };
    get("seq", &r->seq);
    get("last_by_subj", &r->last_by_subj);
    get("next_by_subj", &r->next_by_subj);
    get("batch", &r->batch);
    get("max_bytes", &r->max_bytes);
    get("multi_last", &r->multi_last);
    get("up_to_seq", &r->up_to_seq);
    return time("start_time", &r->start_time) && time("up_to_time", &r->up_to_time);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// A batch answer stops after `max_bytes`, by default the server's
// `max_pending` (nats-server's choice).
int64_t DirectBatchBytes(JetStream* js, int64_t requested) {
  return requested > 0 ? requested : js->server()->config()->max_pending;
}
// multi_last answers at most this many subjects (413 beyond).
constexpr size_t kMultiLastMax = 1024;

// The stored message as a direct get returns it: its headers, then the
// stream's, then for batches the pending count and the previous sequence.
std::string DirectHeaders(const std::string& stream, const store::StoredMsg& msg, bool batch, uint64_t pending,
                          uint64_t previous) {
  std::string h = proto::AddHeaders(msg.hdr, {{"Nats-Stream", stream},
                                             {"Nats-Subject", msg.subject},
                                             {"Nats-Sequence", std::to_string(msg.seq)},
                                             {"Nats-Time-Stamp", FormatTime(msg.ts)}});
  if (!batch) return h;
  return proto::AddHeaders(h, {{"Nats-Num-Pending", std::to_string(pending)},
                               {"Nats-Last-Sequence", std::to_string(previous)}});
}

// The last sequence on `subject` at or before `upto` (0 if none).
uint64_t LastAtOrBefore(store::Store& st, const std::string& subject, const store::SubjectInfo& info, uint64_t upto) {
  if (info.last <= upto) return info.last;
  if (info.first > upto) return 0;
  uint64_t best = 0;
  for (uint64_t seq = info.first;;) {
    auto r = st.LoadNext(subject, seq);
    if (!r.ok() || r.value.seq > upto) break;
    best = r.value.seq;
    seq = best + 1;
  }
  return best;
}

void DirectGetMulti(JetStream* js, Stream& s, const DirectRequest& req, const std::string& reply) {
  auto status = [&](int code, std::string_view text) {
    js->Send(reply, {}, proto::StatusHeader(code, text), {});
  };
  store::Store& st = s.store();
  auto state = st.State();
  uint64_t upto = req.up_to_seq;
  if (req.up_to_time) {
    // The newest message stored before that time.
    upto = st.FirstSeqSince(*req.up_to_time);
    if (upto <= state.first_seq) return status(404, "No Results");
    --upto;
  }
  if (upto == 0) upto = state.last_seq;
  std::set<uint64_t> seqs;
  for (const auto& filter : req.multi_last) {
    for (const auto& [subject, info] : st.Subjects(filter)) {
      if (uint64_t seq = LastAtOrBefore(st, subject, info, upto)) seqs.insert(seq);
      if (seqs.size() > kMultiLastMax) return status(413, "Too Many Results");
    }
  }
  if (seqs.empty()) return status(404, "No Results");
  int64_t max_bytes = DirectBatchBytes(js, req.max_bytes);
  // Each message and the EOB carry how many are left after it.
  uint64_t pending = seqs.size(), previous = 0;
  int64_t sent_bytes = 0, sent = 0;
  for (uint64_t seq : seqs) {
    if (seq < req.seq) {
      if (pending > 0) --pending;
      continue;
    }
    auto r = st.Load(seq);
    if (!r.ok()) return status(404, "Message Not Found");
    if (pending > 0) --pending;
    js->Send(reply, {}, DirectHeaders(s.name(), r.value, true, pending, previous), r.value.data);
    previous = seq;
    sent_bytes += int64_t(r.value.subject.size() + r.value.hdr.size() + r.value.data.size());
    if (sent_bytes >= max_bytes) break;
    if (req.batch > 0 && ++sent >= req.batch) break;
  }
  js->Send(reply, {},
           proto::StatusHeader(204, "EOB", fmt::format("Nats-Num-Pending: {}\r\nNats-Last-Sequence: {}\r\nNats-UpTo-Sequence: {}\r\n",
                                                       pending, previous, upto)),
           {});
}

void DirectGet(JetStream* js, Inbound& m, std::string_view rest) {
  // rest: "<S>" or "<S>.<subject...>"
  size_t dot = rest.find('.');
  std::string name(rest.substr(0, dot));
  auto s = js->FindStream(name);
  if (!s || !s->config().allow_direct) return;  // no reply, as nats-server
  auto status = [&](int code, std::string_view text) {
    js->Send(m.reply, {}, proto::StatusHeader(code, text), {});
  };
  DirectRequest req;
  if (dot != std::string_view::npos) {
    if (!m.data.empty()) return status(408, "Bad Request");
    req.last_by_subj = std::string(rest.substr(dot + 1));
  } else {
    if (m.data.empty()) return status(408, "Empty Request");
    auto body = nlohmann::json::parse(m.data, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !ParseDirectRequest(body, &req))
      return status(408, "Malformed Request");
  }
  // nats-server's rules: one way to choose messages, no batch of "last".
  const auto& r = req;
  if (!r.seq && r.last_by_subj.empty() && r.next_by_subj.empty() && r.multi_last.empty() && !r.start_time)
    return status(408, "Empty Request");
  bool last = !r.last_by_subj.empty(), next = !r.next_by_subj.empty(), multi = !r.multi_last.empty();
  if ((r.seq && last) || (r.seq && r.start_time) || (r.start_time && last) || (last && next) ||
      (last && r.batch > 0) || (last && multi) || (next && multi) || (r.up_to_seq && r.up_to_time))
    return status(408, "Bad Request");
  if (multi) return DirectGetMulti(js, *s, req, m.reply);

  store::Store& st = s->store();
  uint64_t seq = r.start_time ? st.FirstSeqSince(*r.start_time) : r.seq;
  bool batch = r.batch > 0;
  int64_t count = batch ? r.batch : 1;
  // Batches report what is left after each message, and end with an EOB
  // that says it again.
  uint64_t pending = batch ? st.NumPending(r.next_by_subj, seq) : 0, previous = 0;
  int64_t max_bytes = DirectBatchBytes(js, r.max_bytes), sent_bytes = 0;
  for (int64_t i = 0; i < count; ++i) {
    store::Result<store::StoredMsg> msg;
    if (seq > 0 && !next) {
      msg = i == 0 && !batch ? st.Load(seq) : st.LoadNext("", seq);
    } else if (next) {
      msg = st.LoadNext(r.next_by_subj, seq);
    } else {
      msg = st.LoadLast(r.last_by_subj);
    }
    if (!msg.ok()) {
      if (r.batch > 1 && i > 0) break;
      return status(404, "Message Not Found");
    }
    seq = msg.value.seq + 1;
    if (batch && pending > 0) --pending;
    js->Send(m.reply, {}, DirectHeaders(name, msg.value, batch, pending, previous), msg.value.data);
    previous = msg.value.seq;
    sent_bytes += int64_t(msg.value.subject.size() + msg.value.hdr.size() + msg.value.data.size());
    if (sent_bytes >= max_bytes) break;
  }
  if (batch) {
    js->Send(m.reply, {},
             proto::StatusHeader(204, "EOB", fmt::format("Nats-Num-Pending: {}\r\nNats-Last-Sequence: {}\r\n", pending, previous)),
             {});
  }
}

}  // namespace

void StepDownStream(JetStream* js, const Inbound& m, Stream& s, const char* type) {
  if (auto* replica = s.replica()) {
    // Hands over to the replica the request prefers, else the most
    // suitable; the new leader is elected after the answer.
    nlohmann::json body;
    ApiError err;
    if (!m.data.empty() && !ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
    std::string preferred;
    if (auto p = body.find("placement"); p != body.end() && p->is_object())
      preferred = Field<std::string>(*p, "preferred", "");
    if (auto e = replica->StepDown(preferred); !e.empty()) {
      if (e.starts_with("no such member")) return ReplyError(js, m, type, MakeError(Err::ClusterPeerNotMember));
      if (e == "already leader")
        return ReplyError(js, m, type,
                          MakeError(Err::ClusterNoPeers, {{"err", "preferred server \"" + preferred + "\" is already leader"}}));
      return ReplyError(js, m, type, MakeError(Err::ClusterNoPeers, {{"err", "no suitable peers for placement: " + e}}));
    }
  }
  // One replica: its server stays the leader, and says so (nats-server).
  Json j = Typed(type);
  j["success"] = true;
  ReplyOk(js, m, j);
}

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
  if (rest == "META.LEADER.STEPDOWN" || rest == "SERVER.REMOVE") {
    // In a cluster only the system account's requests reach the meta
    // leader; an account's go unanswered, as with nats-server 2.10 and newer.
    if (js->options().clustered) return;
    return ReplyError(js, m, "stream_leader_stepdown_response", MakeError(Err::ClusterRequired));
  }
  if (after("STREAM.LEADER.STEPDOWN.", &name)) {
    const char* type = "stream_leader_stepdown_response";
    if (!js->options().clustered) return ReplyError(js, m, type, MakeError(Err::ClusterRequired));
    auto s = js->FindStream(name);
    if (!s) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
    return StepDownStream(js, m, *s, type);
  }
  if (after("STREAM.PEER.REMOVE.", &name)) {
    const char* type = "stream_remove_peer_response";
    if (!js->options().clustered) return ReplyError(js, m, type, MakeError(Err::ClusterRequired));
    if (!js->FindStream(name)) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
    nlohmann::json body;
    ApiError err;
    if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
    std::string peer = Field<std::string>(body, "peer", "");
    if (peer.empty()) return ReplyError(js, m, type, MakeError(Err::BadRequest));
    if (peer != js->meta()->server_name()) return ReplyError(js, m, type, MakeError(Err::ClusterPeerNotMember));
    // nats-server would place the stream anew on another server, empty.
    return ReplyError(js, m, type,
                      MakeError(Err::ClusterNoPeers,
                                {{"err", "no suitable peers for placement: the stream has one replica, and removing "
                                         "its only server would lose its messages"}}));
  }
  ReplyError(js, m, "system_response", MakeError(Err::BadRequest));
}

}  // namespace fjord::jetstream
