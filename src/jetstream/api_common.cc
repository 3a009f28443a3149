#include "jetstream/api_common.h"

#include <charconv>

#include "jetstream/advisory.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream.h"
#include "proto/headers.h"

namespace fjord::jetstream {

Json Typed(const char* type) {
  Json j;
  j["type"] = std::string("io.nats.jetstream.api.v1.") + type;
  return j;
}

void Merge(Json& dst, Json src) {
  // src is owned here: iterating a temporary's items() would dangle.
  for (auto& [k, v] : src.items()) dst[k] = std::move(v);
}

Inbound Detached(const Inbound& m) {
  Inbound copy{Inbound::Kind::kApi, nullptr, m.subject, m.reply, {}, {}, m.ts};
  copy.client_id = m.client_id;
  return copy;
}

void ReplyError(JetStream* js, const Inbound& m, const char* type, const ApiError& e, Json extra) {
  js->CountApi(true);
  Json j = Typed(type);
  j["error"] = e.ToJson();
  if (extra.is_object()) Merge(j, std::move(extra));
  ApiAuditAdvisory(js, m, j);
  js->Reply(m.reply, j);
}

void ReplyOk(JetStream* js, const Inbound& m, Json j) {
  js->CountApi(false);
  ApiAuditAdvisory(js, m, j);
  js->Reply(m.reply, j);
}

bool ParseBody(const std::string& data, nlohmann::json* out, ApiError* err) {
  if (data.find_first_not_of(" \t\r\n") == std::string::npos) {
    *out = nlohmann::json::object();
    return true;
  }
  auto parsed = nlohmann::json::parse(data, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    *err = MakeError(Err::InvalidJSON, {{"err", "invalid character in request"}});
    return false;
  }
  *out = std::move(parsed);
  return true;
}

bool Pedantic(const nlohmann::json& body) {
  auto it = body.find("pedantic");
  return it != body.end() && it->is_boolean() && it->get<bool>();
}

bool RequiredApiLevelUnmet(std::string_view hdr) {
  std::string_view v = proto::GetHeader(hdr, "Nats-Required-Api-Level");
  if (v.empty()) return false;
  // Go's strconv.Atoi: an optional sign, then only decimal digits that fit
  // 64 bits; anything else is refused like a level too high.
  if (v.front() == '+') v.remove_prefix(1);
  int64_t level = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), level);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return true;
  return level > kApiLevel;
}

namespace {

// How nats-server 2.12 shapes a refused request's reply, per API: the Go
// response struct's fields that are never omitted come along, zero.
enum class Shape { kPlain, kPaged, kStreamNames, kStreamList, kConsumerList, kPurge, kRestore, kPause };

struct LevelCheckedApi {
  std::string_view prefix;  // "INFO" is the whole API; others take a rest
  const char* type;
  Shape shape;
  bool body_first;  // the handler refuses a malformed body before the level
};

constexpr LevelCheckedApi kLevelChecked[] = {
    {"INFO", "account_info_response", Shape::kPlain, false},
    {"STREAM.CREATE.", "stream_create_response", Shape::kPlain, false},
    {"STREAM.UPDATE.", "stream_update_response", Shape::kPlain, false},
    {"STREAM.DELETE.", "stream_delete_response", Shape::kPlain, false},
    {"STREAM.INFO.", "stream_info_response", Shape::kPaged, false},
    {"STREAM.NAMES", "stream_names_response", Shape::kStreamNames, false},
    {"STREAM.LIST", "stream_list_response", Shape::kStreamList, false},
    {"STREAM.PURGE.", "stream_purge_response", Shape::kPurge, false},
    {"STREAM.MSG.GET.", "stream_msg_get_response", Shape::kPlain, false},
    {"STREAM.MSG.DELETE.", "stream_msg_delete_response", Shape::kPlain, false},
    {"STREAM.SNAPSHOT.", "stream_snapshot_response", Shape::kPlain, false},
    {"STREAM.RESTORE.", "stream_restore_response", Shape::kRestore, false},
    {"CONSUMER.CREATE.", "consumer_create_response", Shape::kPlain, true},
    {"CONSUMER.DURABLE.CREATE.", "consumer_create_response", Shape::kPlain, true},
    {"CONSUMER.INFO.", "consumer_info_response", Shape::kPlain, false},
    {"CONSUMER.DELETE.", "consumer_delete_response", Shape::kPlain, false},
    {"CONSUMER.NAMES.", "consumer_names_response", Shape::kConsumerList, false},
    {"CONSUMER.LIST.", "consumer_list_response", Shape::kConsumerList, false},
    {"CONSUMER.PAUSE.", "consumer_pause_response", Shape::kPause, true},
    {"CONSUMER.UNPIN.", "consumer_unpin_response", Shape::kPlain, false},
};

Json ShapeFields(Shape shape) {
  Json paged = {{"total", 0}, {"offset", 0}, {"limit", 0}};
  switch (shape) {
    case Shape::kPlain: return {};
    case Shape::kPaged: return paged;
    case Shape::kStreamNames: paged["streams"] = nullptr; return paged;
    case Shape::kStreamList: paged["streams"] = Json::array(); return paged;
    case Shape::kConsumerList: paged["consumers"] = Json::array(); return paged;
    case Shape::kPurge: return {{"purged", 0}};
    case Shape::kRestore: return {{"deliver_subject", ""}};
    case Shape::kPause: return {{"paused", false}, {"pause_until", FormatTime(0)}};
  }
  return {};
}

}  // namespace

const char* ResponseType(std::string_view api) {
  for (const auto& k : kLevelChecked) {
    bool whole = k.prefix.back() != '.';
    if (whole ? api == k.prefix : api.substr(0, k.prefix.size()) == k.prefix) return k.type;
  }
  return "system_response";
}

bool RefuseForApiLevel(JetStream* js, const Inbound& m, std::string_view api) {
  if (!RequiredApiLevelUnmet(m.hdr)) return false;
  if (api.substr(0, 11) == "DIRECT.GET.") {
    // Only a stream that serves direct gets answers them at all.
    std::string_view rest = api.substr(11);
    auto s = js->FindStream(std::string(rest.substr(0, rest.find('.'))));
    if (!s || !s->config().allow_direct || m.reply.empty()) return false;
    js->Send(m.reply, {}, proto::StatusHeader(412, "Required Api Level"), {});
    return true;
  }
  for (const auto& k : kLevelChecked) {
    bool whole = k.prefix.back() != '.';
    if (whole ? api != k.prefix : api.substr(0, k.prefix.size()) != k.prefix) continue;
    if (k.body_first) {
      nlohmann::json body;
      ApiError err;
      if (!ParseBody(m.data, &body, &err)) return false;
    }
    ReplyError(js, m, k.type, MakeError(Err::RequiredApiLevel), ShapeFields(k.shape));
    return true;
  }
  return false;
}

}  // namespace fjord::jetstream
