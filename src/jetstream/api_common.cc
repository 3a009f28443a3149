#include "jetstream/api_common.h"

#include "jetstream/advisory.h"
#include "jetstream/jetstream.h"

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

}  // namespace fjord::jetstream
