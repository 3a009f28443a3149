#include "jetstream/consumer_config.h"

#include "jetstream/jetstream.h"

#include <fmt/format.h>

#include <charconv>

#include "jetstream/consumer.h"
#include "jetstream/stream.h"
#include "proto/parser.h"

namespace fjord::jetstream {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr size_t kMaxNameLen = 255;
constexpr size_t kMaxDescriptionLen = 4 * 1024;
constexpr size_t kMaxMetadataLen = 128 * 1024;

const char* PolicyName(DeliverPolicy p) {
  switch (p) {
    case DeliverPolicy::kAll: return "all";
    case DeliverPolicy::kLast: return "last";
    case DeliverPolicy::kNew: return "new";
    case DeliverPolicy::kByStartSequence: return "by start sequence";
    case DeliverPolicy::kByStartTime: return "by start time";
    case DeliverPolicy::kLastPerSubject: return "last per subject";
  }
  return "";
}

ApiError Policy(const std::string& text) { return MakeError(Err::ConsumerInvalidPolicy, {{"err", text}}); }

ApiError InvalidConfig(const std::string& text) { return MakeError(Err::StreamInvalidConfigF, {{"err", text}}); }

// sample_freq: "N" or "N%", N read as Go's strconv.Atoi reads it; nats-server
// puts Atoi's error (or "<nil>" for a negative N) into the text. Above 100
// is allowed and samples every ack.
std::optional<ApiError> CheckSampling(const std::string& freq) {
  if (freq.empty()) return std::nullopt;
  std::string_view s = freq;
  if (s.back() == '%') s.remove_suffix(1);
  std::string_view digits = s;
  if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) digits.remove_prefix(1);
  auto sampling = [](const std::string& err) { return MakeError(Err::ConsumerInvalidSampling, {{"err", err}}); };
  std::string quoted = nlohmann::json(std::string(s)).dump();
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return sampling("strconv.Atoi: parsing " + quoted + ": invalid syntax");
  int64_t n = 0;
  std::string_view parse = s.front() == '+' ? s.substr(1) : s;
  auto [end, ec] = std::from_chars(parse.data(), parse.data() + parse.size(), n);
  if (ec != std::errc()) return sampling("strconv.Atoi: parsing " + quoted + ": value out of range");
  if (n < 0) return sampling("<nil>");
  return std::nullopt;
}

std::optional<ApiError> CheckDeliverPolicy(const ConsumerConfig& c) {
  std::string p = std::string("consumer delivery policy is deliver ") + PolicyName(c.deliver_policy);
  switch (c.deliver_policy) {
    case DeliverPolicy::kAll:
    case DeliverPolicy::kLast:
    case DeliverPolicy::kNew:
    case DeliverPolicy::kLastPerSubject:
      if (c.opt_start_seq) return Policy(p + ", but optional start sequence is also set");
      if (c.opt_start_time) return Policy(p + ", but optional start time is also set");
      if (c.deliver_policy == DeliverPolicy::kLastPerSubject && c.Filters().empty())
        return Policy(p + ", but optional filter subject is not set");
      break;
    case DeliverPolicy::kByStartSequence:
      if (!c.opt_start_seq) return Policy(p + ", but optional start sequence is not set");
      if (c.opt_start_time) return Policy(p + ", but optional start time is also set");
      break;
    case DeliverPolicy::kByStartTime:
      if (!c.opt_start_time) return Policy(p + ", but optional start time is not set");
      if (c.opt_start_seq) return Policy(p + ", but optional start sequence is also set");
      break;
  }
  return std::nullopt;
}

std::optional<ApiError> CheckFilters(const ConsumerConfig& c) {
  if (!c.filter_subject.empty() && !c.filter_subjects.empty())
    return MakeError(Err::ConsumerDuplicateFilterSubjects);
  auto filters = c.Filters();
  for (size_t i = 0; i < filters.size(); ++i) {
    const std::string& f = filters[i];
    if (f.empty()) return MakeError(Err::ConsumerEmptyFilter);
    if (!proto::ValidSubject(f, true)) return InvalidConfig("invalid subject");
    // Since 2.10 a filter need not lie inside the stream's subjects: a
    // subject transform or a source stores messages under other names.
  }
  // 2.12 refuses a filter inside another; two that only share some
  // subjects (a.*.c and a.b.*) are allowed.
  for (size_t i = 0; i < filters.size(); ++i)
    for (size_t k = 0; k < filters.size(); ++k)
      if (i != k && proto::SubjectIsSubsetOf(filters[i], filters[k]))
        return MakeError(Err::ConsumerOverlappingSubjectFilters);
  return std::nullopt;
}

std::optional<ApiError> CheckWorkQueue(Stream& stream, const std::string& name,
                                       const ConsumerConfig& c) {
  if (c.ack_policy != AckPolicy::kExplicit) return MakeError(Err::ConsumerWQRequiresExplicitAck);
  auto mine = c.Filters();
  for (const auto& [other_name, other] : stream.consumers()) {
    if (other_name == name) continue;
    if (mine.empty()) return MakeError(Err::ConsumerWQMultipleUnfiltered);
    auto theirs = other->config().Filters();
    if (theirs.empty()) return MakeError(Err::ConsumerWQConsumerNotUnique);
    for (const auto& a : mine)
      for (const auto& b : theirs)
        if (proto::SubjectsOverlap(a, b)) return MakeError(Err::ConsumerWQConsumerNotUnique);
  }
  if (c.deliver_policy != DeliverPolicy::kAll) return MakeError(Err::ConsumerWQConsumerNotDeliverAll);
  return std::nullopt;
}

}  // namespace

ConsumerLimits LimitsOf(const StreamConfig& stream) {
  ConsumerLimits lim;
  const auto& j = stream.consumer_limits;
  if (!j.is_object()) return lim;
  if (auto it = j.find("inactive_threshold"); it != j.end() && it->is_number_integer())
    lim.inactive_threshold = it->get<int64_t>();
  if (auto it = j.find("max_ack_pending"); it != j.end() && it->is_number_integer())
    lim.max_ack_pending = it->get<int64_t>();
  return lim;
}

void SetConsumerDefaults(ConsumerConfig* c, const std::string& name, const StreamConfig& stream) {
  if (c->name.empty()) c->name = name;
  // 2.12 turns values below their range into their "unset" value instead
  // of refusing them (a pedantic request is refused: CheckPedantic).
  if (c->max_deliver == 0 || c->max_deliver < -1) c->max_deliver = -1;
  if (c->max_waiting < 0) c->max_waiting = 0;
  if (c->max_ack_pending < -1) c->max_ack_pending = -1;
  if (c->max_batch < 0) c->max_batch = 0;
  if (c->max_expires < 0) c->max_expires = 0;
  if (c->max_bytes < 0) c->max_bytes = 0;
  if (c->idle_heartbeat < 0) c->idle_heartbeat = 0;
  if (c->inactive_threshold < 0) c->inactive_threshold = 0;
  if (c->priority_timeout < 0) c->priority_timeout = 0;
  if (c->is_pull() && c->max_waiting == 0) c->max_waiting = kDefaultMaxWaiting;
  if (c->ack_policy != AckPolicy::kNone && c->ack_wait == 0) c->ack_wait = kDefaultAckWait;
  // The first backoff step is the ack wait, whatever ack_wait said.
  if (!c->backoff.empty()) c->ack_wait = c->backoff.front();
  // 2.10: the stream's consumer_limits fill what the consumer left unset
  // (durables included), before the server's own defaults.
  ConsumerLimits lim = LimitsOf(stream);
  if (c->max_ack_pending == 0) c->max_ack_pending = lim.max_ack_pending;
  if (c->inactive_threshold == 0) c->inactive_threshold = lim.inactive_threshold;
  if (c->ack_policy != AckPolicy::kNone && c->max_ack_pending == 0) c->max_ack_pending = kDefaultMaxAckPending;
  if (!c->is_durable() && c->inactive_threshold == 0) c->inactive_threshold = kDefaultInactiveThreshold;
  if (c->priority_policy == PriorityPolicy::kPinnedClient && c->priority_timeout == 0)
    c->priority_timeout = kDefaultPinnedTimeout;
}

std::optional<ApiError> CheckPedantic(const ConsumerConfig& c, const StreamConfig& stream) {
  // nats-server 2.12's order (setConsumerConfigDefaults).
  if (c.max_deliver < -1) return PedanticError("max_deliver must be set to -1");
  if (c.max_waiting < 0) return PedanticError("max_waiting must not be negative");
  if (c.max_ack_pending < -1) return PedanticError("max_ack_pending must be set to -1");
  if (c.max_batch < 0) return PedanticError("max_batch must not be negative");
  if (c.max_expires < 0) return PedanticError("max_expires must not be negative");
  if (c.max_bytes < 0) return PedanticError("max_bytes must not be negative");
  if (c.idle_heartbeat < 0) return PedanticError("idle_heartbeat must not be negative");
  if (c.inactive_threshold < 0) return PedanticError("inactive_threshold must not be negative");
  if (c.priority_timeout < 0) return PedanticError("priority_timeout must not be negative");
  int64_t ack_wait = c.ack_wait;
  if (ack_wait == 0 && c.ack_policy != AckPolicy::kNone) ack_wait = kDefaultAckWait;
  if (!c.backoff.empty() && ack_wait != c.backoff.front())
    return PedanticError("first backoff value has to equal batch AckWait");
  ConsumerLimits lim = LimitsOf(stream);
  if (c.max_ack_pending == 0 && lim.max_ack_pending > 0)
    return PedanticError("max_ack_pending must be set if it's configured in stream limits");
  if (c.inactive_threshold == 0 && lim.inactive_threshold > 0)
    return PedanticError("inactive_threshold must be set if it's configured in stream limits");
  return std::nullopt;
}

bool ValidPriorityGroupName(std::string_view g) {
  if (g.empty() || g.size() > 16) return false;
  for (char ch : g) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '/' ||
              ch == '_' || ch == '=' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

bool ValidAssetName(std::string_view name) {
  return !name.empty() && name.find_first_of(" \t\r\n\f.*>\\/") == std::string_view::npos;
}

std::optional<ApiError> CheckConsumerConfig(Stream& stream, const std::string& name,
                                            const ConsumerConfig& c, bool existing) {
  // nats-server 2.12.8's order: checkConsumerCfg, then what
  // addConsumerWithAssignment checks after it (consumer count, workqueue
  // rules, name length).
  if (!c.name.empty() && !ValidAssetName(c.name))
    return InvalidConfig("consumer name can not contain '.', '*', '>', '\\', '/'");
  if (!c.durable_name.empty() && !ValidAssetName(c.durable_name))
    return InvalidConfig("consumer durable name can not contain '.', '*', '>', '\\', '/'");
  if (c.num_replicas > 0 && c.num_replicas > stream.config().num_replicas)
    return MakeError(Err::ConsumerReplicasExceedsStream);
  if (c.num_replicas < 0) return MakeError(Err::ReplicasCountCannotBeNegative);
  // 10181/10182 (ack and replay policy invalid) cannot happen here: an
  // unknown policy name already fails to parse (10025), as in nats-server.
  for (int64_t b : c.backoff)
    if (b < 0) return MakeError(Err::ConsumerBackOffNegative);
  if (c.ack_wait < 0) return MakeError(Err::ConsumerAckWaitNegative);
  // The rule of 2.10.23 on: more backoff steps than deliveries is refused,
  // an unlimited max_deliver (-1) is fine. 2.9.10 also refused max_deliver
  // equal to the steps or -1.
  if (!c.backoff.empty() && c.max_deliver != -1 && int64_t(c.backoff.size()) > c.max_deliver)
    return MakeError(Err::ConsumerMaxDeliverBackoff);
  if (c.description.size() > kMaxDescriptionLen)
    return MakeError(Err::ConsumerDescriptionTooLong, {{"max", std::to_string(kMaxDescriptionLen)}});

  bool workqueue = stream.config().retention == Retention::kWorkQueue;
  if (!c.deliver_subject.empty()) {
    if (proto::SubjectHasWildcard(c.deliver_subject)) return MakeError(Err::ConsumerDeliverToWildcards);
    if (!proto::ValidSubject(c.deliver_subject, true)) return MakeError(Err::ConsumerInvalidDeliverSubject);
    for (const auto& s : stream.config().subjects)
      if (proto::SubjectsOverlap(c.deliver_subject, s)) return MakeError(Err::ConsumerDeliverCycle);
    if (c.max_waiting != 0) return MakeError(Err::ConsumerPushMaxWaiting);
    if (c.max_ack_pending > 0 && c.ack_policy == AckPolicy::kNone)
      return MakeError(Err::ConsumerMaxPendingAckPolicyRequired);
    if (c.idle_heartbeat > 0 && c.idle_heartbeat < 100 * kMs) return MakeError(Err::ConsumerSmallHeartbeat);
  } else {
    if (workqueue && c.ack_policy == AckPolicy::kNone) return MakeError(Err::ConsumerPullRequiresAck);
    if (c.rate_limit_bps > 0) return MakeError(Err::ConsumerPullWithRateLimit);
    if (c.max_waiting < 0) return MakeError(Err::ConsumerMaxWaitingNegative);
    if (c.idle_heartbeat > 0) return MakeError(Err::ConsumerHBRequiresPush);
    if (c.flow_control) return MakeError(Err::ConsumerFCRequiresPush);
    if (c.max_batch < 0) return MakeError(Err::ConsumerMaxRequestBatchNegative);
    if (c.max_expires != 0 && c.max_expires < kMs) return MakeError(Err::ConsumerMaxRequestExpiresTooSmall);
  }
  ConsumerLimits lim = LimitsOf(stream.config());
  if (lim.max_ack_pending > 0 && c.max_ack_pending > lim.max_ack_pending)
    return MakeError(Err::ConsumerMaxPendingAckExcess, {{"limit", std::to_string(lim.max_ack_pending)}});
  if (lim.inactive_threshold > 0 && c.inactive_threshold > lim.inactive_threshold)
    return MakeError(Err::ConsumerInactiveThresholdExcess, {{"limit", GoDuration(lim.inactive_threshold)}});
  if (auto e = CheckFilters(c)) return e;
  if (auto e = CheckDeliverPolicy(c)) return e;
  if (auto e = CheckSampling(c.sample_freq)) return e;
  if (c.flow_control && c.idle_heartbeat == 0) return MakeError(Err::ConsumerWithFlowControlNeedsHeartbeats);
  size_t meta = 0;
  for (const auto& [k, v] : c.metadata) meta += k.size() + v.size();
  if (meta > kMaxMetadataLen)
    return MakeError(Err::ConsumerMetadataLength, {{"limit", std::to_string(kMaxMetadataLen / 1024) + "KB"}});
  if (c.priority_policy != PriorityPolicy::kNone) {
    if (!c.deliver_subject.empty()) return MakeError(Err::ConsumerPushWithPriorityGroup);
    if (c.priority_groups.empty()) return MakeError(Err::ConsumerPriorityPolicyWithoutGroup);
    for (const auto& g : c.priority_groups) {
      if (g.empty()) return MakeError(Err::ConsumerEmptyGroupName);
      if (!ValidPriorityGroupName(g)) return MakeError(Err::ConsumerInvalidGroupName);
    }
  } else {
    // 2.12: groups or a pin timeout without a policy are refused (2.11
    // kept them unused).
    if (!c.priority_groups.empty()) return MakeError(Err::ConsumerPriorityGroupWithPolicyNone);
    if (c.priority_timeout > 0) return MakeError(Err::ConsumerPinnedTTLWithoutPriorityPolicyNone);
  }

  // The stream's max_consumers, or the account's when that is tighter: as
  // in nats-server, the account limit counts each stream's consumers.
  int64_t maxc = stream.config().max_consumers;
  int64_t acc_limit = stream.js()->options().max_consumers;
  if (maxc <= 0 || (acc_limit > 0 && acc_limit < maxc)) maxc = acc_limit;
  if (!existing && maxc > 0 && int64_t(stream.consumers().size()) >= maxc)
    return MakeError(Err::MaximumConsumersLimit);
  if (workqueue) {
    if (auto e = CheckWorkQueue(stream, name, c)) return e;
  }
  if (c.durable_name.size() > kMaxNameLen)
    return MakeError(Err::ConsumerNameTooLong, {{"max", std::to_string(kMaxNameLen)}});
  return std::nullopt;
}

bool LeaderOnly(const ConsumerConfig& c, const StreamConfig& stream) {
  if (c.is_durable() || c.ack_policy != AckPolicy::kNone) return false;
  return c.num_replicas == 1 || (c.num_replicas == 0 && stream.retention == Retention::kLimits);
}

std::string UpdateConflict(const ConsumerConfig& cur, const ConsumerConfig& next) {
  if (cur.is_pull() != next.is_pull())
    return cur.is_pull() ? "can not update pull consumer to push based"
                         : "can not update push consumer to pull based";
  if (cur.ack_policy != next.ack_policy) return "ack policy can not be updated";
  if (cur.deliver_policy != next.deliver_policy) return "deliver policy can not be updated";
  if (cur.opt_start_seq != next.opt_start_seq) return "start sequence can not be updated";
  if (cur.opt_start_time != next.opt_start_time) return "start time can not be updated";
  if (cur.replay_policy != next.replay_policy) return "replay policy can not be updated";
  if (cur.idle_heartbeat != next.idle_heartbeat) return "heart beats can not be updated";
  if (cur.flow_control != next.flow_control) return "flow control can not be updated";
  if (cur.max_waiting != next.max_waiting) return "max waiting can not be updated";
  if (cur.mem_storage != next.mem_storage) return "can not change memory storage of a consumer";
  if (cur.durable_name != next.durable_name) return "can not update durable name of a consumer";
  return {};
}

bool ParseGoDuration(std::string_view s, int64_t* out) {
  double total = 0;
  if (s.empty()) return false;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == 0) return false;
    double v = std::stod(std::string(s.substr(0, i)));
    s.remove_prefix(i);
    size_t u = 0;
    while (u < s.size() && !((s[u] >= '0' && s[u] <= '9') || s[u] == '.')) ++u;
    std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "µs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return false;
    total += v * mult;
  }
  *out = int64_t(total);
  return true;
}

std::string GoDuration(int64_t ns) {
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  uint64_t u = ns < 0 ? uint64_t(-ns) : uint64_t(ns);
  auto frac = [](uint64_t v, uint64_t unit, const char* suffix) {
    std::string s = std::to_string(v / unit);
    uint64_t rem = v % unit;
    if (rem) {
      std::string f = fmt::format("{:0{}}", rem, std::to_string(unit).size() - 1);
      while (!f.empty() && f.back() == '0') f.pop_back();
      s += "." + f;
    }
    return s + suffix;
  };
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1'000'000) return sign + frac(u, 1000, "µs");
  if (u < 1'000'000'000) return sign + frac(u, 1'000'000, "ms");
  uint64_t secs = u / 1'000'000'000;
  uint64_t h = secs / 3600, m = (secs % 3600) / 60;
  std::string out = sign;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  out += frac(u % 60'000'000'000, 1'000'000'000, "s");
  return out;
}

}  // namespace fjord::jetstream
