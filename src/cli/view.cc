#include "cli/view.h"

#include "cli/table.h"

namespace fjord::cli {

std::string LimitNumber(int64_t v) { return v <= 0 ? "unlimited" : Commas(v); }
std::string LimitBytes(int64_t v) { return v <= 0 ? "unlimited" : FormatBytes(static_cast<uint64_t>(v)); }
std::string LimitDuration(int64_t ns) { return ns <= 0 ? "unlimited" : FormatDuration(ns); }

std::string Capitalize(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(toupper(static_cast<unsigned char>(s[0])));
  return s;
}

namespace {

std::string Join(const Json& arr) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const auto& v : arr) {
    if (!out.empty()) out += ", ";
    out += v.get<std::string>();
  }
  return out;
}

std::string YesNo(bool b) { return b ? "true" : "false"; }

// A stream's or consumer's `cluster` as `nats stream info` shows it: the
// leader, then each replica with how it keeps up.
void AddCluster(KeyValues& kv, const Json& info) {
  if (!info.contains("cluster") || !info["cluster"].is_object()) return;
  const Json& cl = info["cluster"];
  kv.Section("Cluster Information:");
  kv.Add("Name", cl.value("name", ""));
  kv.Add("Leader", cl.value("leader", ""));
  if (cl.contains("replicas") && cl["replicas"].is_array()) {
    for (const auto& r : cl["replicas"]) {
      std::string line = r.value("name", "");
      line += r.value("current", false) ? ", current" : ", outdated";
      if (r.value("offline", false)) line += ", OFFLINE";
      int64_t active = r.value("active", int64_t{0});
      line += active > 0 ? ", seen " + FormatDuration(active) + " ago" : ", not seen";
      if (int64_t lag = r.value("lag", int64_t{0}); lag > 0) line += ", " + Commas(lag) + " operations behind";
      kv.Add("Replica", line);
    }
  }
  kv.Blank();
}

}  // namespace

void PrintStreamInfo(const Json& info, std::ostream& out) {
  const Json& c = info["config"];
  const Json empty = Json::object();
  const Json& st = info.contains("state") ? info["state"] : empty;
  out << "Information for Stream " << c.value("name", "") << " created "
      << ShortTime(info.value("created", "")) << "\n\n";
  KeyValues kv;
  if (c.contains("description")) kv.Add("Description", c.value("description", ""));
  if (c.contains("subjects")) kv.Add("Subjects", Join(c["subjects"]));
  if (c.contains("subject_transform")) {
    const auto& t = c["subject_transform"];
    kv.Add("Subject Transform", t.value("src", "") + " to " + t.value("dest", ""));
  }
  kv.Add("Replicas", std::to_string(c.value("num_replicas", 1)));
  kv.Add("Storage", Capitalize(c.value("storage", "file")));
  if (c.contains("mirror")) kv.Add("Mirror", c["mirror"].value("name", ""));
  if (c.contains("sources")) {
    std::string s;
    for (const auto& src : c["sources"]) s += (s.empty() ? "" : ", ") + src.value("name", "");
    kv.Add("Sources", s);
  }
  kv.Blank();
  kv.Section("Options:");
  kv.Add("Retention", Capitalize(c.value("retention", "limits")));
  kv.Add("Acknowledgments", YesNo(!c.value("no_ack", false)));
  std::string discard = Capitalize(c.value("discard", "old"));
  if (c.value("discard_new_per_subject", false)) discard += " Per Subject";
  kv.Add("Discard Policy", discard);
  kv.Add("Duplicate Window", FormatDuration(c.value("duplicate_window", int64_t{0})));
  kv.Add("Direct Get", YesNo(c.value("allow_direct", false)));
  kv.Add("Allows Msg Delete", YesNo(!c.value("deny_delete", false)));
  kv.Add("Allows Purge", YesNo(!c.value("deny_purge", false)));
  kv.Add("Allows Rollups", YesNo(c.value("allow_rollup_hdrs", false)));
  // As nats shows them: only when a 2.11 server reports them.
  if (c.value("allow_msg_ttl", false)) kv.Add("Allows Per-Message TTL", "true");
  if (c.value("allow_msg_counter", false)) kv.Add("Allows Counters", "true");
  if (c.value("allow_atomic", false)) kv.Add("Allows Atomic Batches", "true");
  if (c.value("allow_msg_schedules", false)) kv.Add("Allows Schedules", "true");
  if (c.value("persist_mode", std::string()) == "async") kv.Add("Persist Mode", "async");
  if (int64_t m = c.value("subject_delete_marker_ttl", int64_t{0}); m > 0)
    kv.Add("Subject Delete Markers TTL", FormatDuration(m));
  if (c.value("sealed", false)) kv.Add("Sealed", "true");
  kv.Blank();
  kv.Section("Limits:");
  kv.Add("Maximum Messages", LimitNumber(c.value("max_msgs", int64_t{-1})));
  kv.Add("Maximum Per Subject", LimitNumber(c.value("max_msgs_per_subject", int64_t{-1})));
  kv.Add("Maximum Bytes", LimitBytes(c.value("max_bytes", int64_t{-1})));
  kv.Add("Maximum Age", LimitDuration(c.value("max_age", int64_t{0})));
  kv.Add("Maximum Message Size", LimitBytes(c.value("max_msg_size", int64_t{-1})));
  kv.Add("Maximum Consumers", LimitNumber(c.value("max_consumers", int64_t{-1})));
  kv.Blank();
  AddCluster(kv, info);
  kv.Section("State:");
  kv.Add("Messages", Commas(st.value("messages", int64_t{0})));
  kv.Add("Bytes", FormatBytes(st.value("bytes", uint64_t{0})));
  auto seq_at = [&](const char* seq, const char* ts) {
    std::string when = ShortTime(st.value(ts, ""));
    return Commas(st.value(seq, int64_t{0})) + (when == "never" ? "" : " @ " + when);
  };
  kv.Add("First Sequence", seq_at("first_seq", "first_ts"));
  kv.Add("Last Sequence", seq_at("last_seq", "last_ts"));
  if (st.value("num_deleted", 0) > 0) kv.Add("Deleted Messages", Commas(st.value("num_deleted", int64_t{0})));
  kv.Add("Active Consumers", Commas(st.value("consumer_count", int64_t{0})));
  if (st.contains("num_subjects")) kv.Add("Number of Subjects", Commas(st.value("num_subjects", int64_t{0})));
  kv.Print(out);
}

void PrintConsumerInfo(const Json& info, std::ostream& out) {
  const Json& c = info["config"];
  out << "Information for Consumer " << info.value("stream_name", "") << " > " << info.value("name", "")
      << " created " << ShortTime(info.value("created", "")) << "\n\n";
  KeyValues kv;
  kv.Section("Configuration:");
  kv.Add("Name", info.value("name", ""));
  if (c.contains("durable_name")) kv.Add("Durable Name", c.value("durable_name", ""));
  if (c.contains("description")) kv.Add("Description", c.value("description", ""));
  if (c.contains("deliver_subject")) {
    kv.Add("Delivery Subject", c.value("deliver_subject", ""));
  } else {
    kv.Add("Pull Mode", "true");
  }
  if (c.contains("filter_subject")) kv.Add("Filter Subject", c.value("filter_subject", ""));
  if (c.contains("filter_subjects")) kv.Add("Filter Subjects", Join(c["filter_subjects"]));
  std::string policy = c.value("deliver_policy", "all");
  if (policy == "by_start_sequence") policy += " " + std::to_string(c.value("opt_start_seq", 0));
  if (policy == "by_start_time") policy += " " + c.value("opt_start_time", "");
  kv.Add("Deliver Policy", policy);
  kv.Add("Ack Policy", Capitalize(c.value("ack_policy", "none")));
  if (c.contains("ack_wait")) kv.Add("Ack Wait", FormatDuration(c.value("ack_wait", int64_t{0})));
  kv.Add("Replay Policy", Capitalize(c.value("replay_policy", "instant")));
  kv.Add("Maximum Deliveries", LimitNumber(c.value("max_deliver", int64_t{-1})));
  if (c.contains("max_ack_pending")) kv.Add("Max Ack Pending", LimitNumber(c.value("max_ack_pending", int64_t{0})));
  if (c.contains("max_waiting")) kv.Add("Max Waiting Pulls", Commas(c.value("max_waiting", int64_t{0})));
  if (c.contains("idle_heartbeat")) kv.Add("Idle Heartbeat", FormatDuration(c.value("idle_heartbeat", int64_t{0})));
  if (c.value("flow_control", false)) kv.Add("Flow Control", "true");
  if (c.value("headers_only", false)) kv.Add("Headers Only", "true");
  if (c.contains("inactive_threshold")) {
    kv.Add("Inactive Threshold", FormatDuration(c.value("inactive_threshold", int64_t{0})));
  }
  kv.Blank();
  AddCluster(kv, info);
  kv.Section("State:");
  const Json& d = info["delivered"];
  const Json& a = info["ack_floor"];
  kv.Add("Last Delivered Message", "Consumer sequence: " + Commas(d.value("consumer_seq", int64_t{0})) +
                                       " Stream sequence: " + Commas(d.value("stream_seq", int64_t{0})));
  kv.Add("Acknowledgment Floor", "Consumer sequence: " + Commas(a.value("consumer_seq", int64_t{0})) +
                                     " Stream sequence: " + Commas(a.value("stream_seq", int64_t{0})));
  kv.Add("Outstanding Acks", Commas(info.value("num_ack_pending", int64_t{0})));
  kv.Add("Redelivered Messages", Commas(info.value("num_redelivered", int64_t{0})));
  kv.Add("Unprocessed Messages", Commas(info.value("num_pending", int64_t{0})));
  if (!c.contains("deliver_subject")) kv.Add("Waiting Pulls", Commas(info.value("num_waiting", int64_t{0})));
  kv.Print(out);
}

}  // namespace fjord::cli
