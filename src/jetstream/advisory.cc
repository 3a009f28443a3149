#include "jetstream/advisory.h"

#include "jetstream/jetstream.h"
#include "jetstream/types.h"

namespace fjord::jetstream {

std::string EventId() { return RandomToken(22); }

bool HasListeners(JetStream* js, std::string_view subject) {
  return !js->account()->sublist().Match(subject)->empty();
}

void PublishEvent(JetStream* js, const std::string& subject, const char* type,
                  const nlohmann::json& fields) {
  if (!HasListeners(js, subject)) return;
  nlohmann::json j;
  j["type"] = type;
  j["id"] = EventId();
  j["timestamp"] = FormatTime(NowNs());
  for (const auto& [k, v] : fields.items()) j[k] = v;
  js->Send(subject, "", "", j.dump());
}

void StreamActionAdvisory(JetStream* js, const std::string& stream, const char* action) {
  std::string_view verb = action;
  const char* kind = verb == "create" ? "CREATED" : verb == "delete" ? "DELETED" : "UPDATED";
  PublishEvent(js, "$JS.EVENT.ADVISORY.STREAM." + std::string(kind) + "." + stream,
               "io.nats.jetstream.advisory.v1.stream_action",
               {{"stream", stream}, {"action", action}});
}

void ConsumerActionAdvisory(JetStream* js, const std::string& stream, const std::string& consumer,
                            const char* action) {
  const char* kind = std::string_view(action) == "create" ? "CREATED" : "DELETED";
  PublishEvent(js, "$JS.EVENT.ADVISORY.CONSUMER." + std::string(kind) + "." + stream + "." + consumer,
               "io.nats.jetstream.advisory.v1.consumer_action",
               {{"stream", stream}, {"consumer", consumer}, {"action", action}});
}

void ApiAuditAdvisory(JetStream* js, const Inbound& m, const nlohmann::json& response) {
  static const std::string kSubject = "$JS.EVENT.ADVISORY.API";
  if (!HasListeners(js, kSubject)) return;
  auto cfg = js->server()->config();
  const std::string& server = cfg->server_name.empty() ? js->server()->id() : cfg->server_name;
  nlohmann::json client = {{"acc", js->account()->name()}, {"server", server}};
  if (m.client_id != 0) client["id"] = m.client_id;
  nlohmann::json fields = {
      {"server", server},
      {"client", client},
      {"subject", m.subject},
      {"request", m.data},
      {"response", response.dump()},
  };
  PublishEvent(js, kSubject, "io.nats.jetstream.advisory.v1.api_audit", fields);
}

}  // namespace fjord::jetstream
