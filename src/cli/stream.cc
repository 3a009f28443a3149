// `fjord stream ...`: stream administration over raw `$JS.API.STREAM.*`
// requests, so `--json` prints exactly what the server answered.
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/base64.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "cli/view.h"

namespace fjord::cli {
namespace {

// Flags shared by `stream add` and `stream edit`, named as in `nats stream add`.
struct ConfigFlags {
  std::vector<std::string> subjects;
  std::string description, storage, compression, retention, discard;
  int64_t replicas = 1;
  std::vector<std::string> tags;
  std::string cluster;
  bool ack = true, discard_per_subject = false;
  uint64_t first_seq = 0;
  std::string max_age, max_bytes, max_msg_size, dupe_window, marker_ttl, persist_mode;
  int64_t max_consumers = -1, max_msgs = 0, max_msgs_per_subject = 0;
  std::string mirror;
  std::vector<std::string> sources;
  bool allow_rollup = false, deny_delete = false, deny_purge = false, allow_direct = true;
  bool allow_mirror_direct = false, allow_msg_ttl = false, allow_counter = false, allow_batch = false,
       allow_schedules = false;
  std::vector<std::string> metadata;
  std::string repub_src, repub_dest;
  std::string transform_src, transform_dest;
  bool repub_headers = false;
  std::string config_file;
  bool json = false;

  std::map<std::string, CLI::Option*> opt;

  bool Set(const std::string& name) const {
    auto it = opt.find(name);
    return it != opt.end() && it->second->count() > 0;
  }
};

void AddConfigFlags(CLI::App* cmd, ConfigFlags& f) {
  auto& o = f.opt;
  o["subjects"] = cmd->add_option("--subjects", f.subjects, "Subjects that are consumed by the stream (comma separated)")->allow_extra_args(false);
  o["description"] = cmd->add_option("--description", f.description, "A description of the stream");
  o["storage"] = cmd->add_option("--storage", f.storage, "Storage backend (file, memory)")
                     ->check(CLI::IsMember({"file", "f", "memory", "m"}));
  o["compression"] = cmd->add_option("--compression", f.compression, "Compression (none, s2)")
                         ->check(CLI::IsMember({"none", "s2"}));
  o["replicas"] = cmd->add_option("--replicas", f.replicas, "How many replicas of the data to keep");
  o["tag"] = cmd->add_option("--tag", f.tags, "Place the stream on servers with this tag (repeatable)")->allow_extra_args(false);
  o["cluster"] = cmd->add_option("--cluster", f.cluster, "Place the stream on a specific cluster");
  o["ack"] = cmd->add_flag("--ack,!--no-ack", f.ack, "Acknowledge publishes (default true)");
  o["retention"] = cmd->add_option("--retention", f.retention, "Retention policy (limits, interest, work)")
                       ->check(CLI::IsMember({"limits", "interest", "work", "workq", "workqueue"}));
  o["discard"] = cmd->add_option("--discard", f.discard, "Discard policy (old, new)")
                     ->check(CLI::IsMember({"old", "new"}));
  o["discard-per-subject"] = cmd->add_flag("--discard-per-subject,!--no-discard-per-subject",
                                           f.discard_per_subject, "Apply the 'new' discard policy per subject");
  o["first-sequence"] = cmd->add_option("--first-sequence", f.first_seq, "Starting sequence");
  o["max-age"] = cmd->add_option("--max-age", f.max_age, "Maximum age of messages to keep (e.g. 1h, 1d, -1)");
  o["max-bytes"] = cmd->add_option("--max-bytes", f.max_bytes, "Maximum bytes to keep (e.g. 1GB, -1)");
  o["max-consumers"] = cmd->add_option("--max-consumers", f.max_consumers, "Maximum number of consumers");
  o["max-msg-size"] = cmd->add_option("--max-msg-size", f.max_msg_size, "Maximum size of any one message");
  o["max-msgs"] = cmd->add_option("--max-msgs", f.max_msgs, "Maximum number of messages to keep");
  o["max-msgs-per-subject"] =
      cmd->add_option("--max-msgs-per-subject", f.max_msgs_per_subject, "Maximum messages to keep per subject");
  o["dupe-window"] = cmd->add_option("--dupe-window", f.dupe_window, "Duplicate message tracking window (e.g. 2m)");
  o["mirror"] = cmd->add_option("--mirror", f.mirror, "Completely mirror another stream");
  o["source"] = cmd->add_option("--source", f.sources, "Source data from other streams (repeatable)")->allow_extra_args(false);
  o["allow-rollup"] = cmd->add_flag("--allow-rollup,!--no-allow-rollup", f.allow_rollup,
                                    "Allow roll-ups with the Nats-Rollup header");
  o["deny-delete"] = cmd->add_flag("--deny-delete,!--no-deny-delete", f.deny_delete,
                                   "Deny deleting messages via the API");
  o["deny-purge"] = cmd->add_flag("--deny-purge,!--no-deny-purge", f.deny_purge,
                                  "Deny purging the stream via the API");
  o["allow-direct"] = cmd->add_flag("--allow-direct,!--no-allow-direct", f.allow_direct,
                                    "Allow direct get access (default true)");
  o["allow-mirror-direct"] = cmd->add_flag("--allow-mirror-direct,!--no-allow-mirror-direct",
                                           f.allow_mirror_direct, "Allow direct get on mirrors");
  o["allow-msg-ttl"] = cmd->add_flag("--allow-msg-ttl", f.allow_msg_ttl, "Allow per-message TTLs");
  o["allow-batch"] = cmd->add_flag("--allow-batch,!--no-allow-batch", f.allow_batch, "Allow atomic batch publishing");
  o["allow-schedules"] = cmd->add_flag("--allow-schedules,!--no-allow-schedules", f.allow_schedules,
                                       "Allow message schedules");
  o["persist-mode"] = cmd->add_option("--persist-mode", f.persist_mode, "Persistence mode (default, async)")
                          ->check(CLI::IsMember({"default", "async"}));
  o["allow-counter"] = cmd->add_flag("--allow-counter", f.allow_counter, "Configures the stream as a distributed counter");
  o["marker-ttl"] = cmd->add_option("--subject-del-markers-ttl,--marker-ttl", f.marker_ttl,
                                    "Leave a delete marker living this long (e.g. 1m) when a subject's last message ages out");
  o["metadata"] = cmd->add_option("--metadata", f.metadata, "Metadata key=value (repeatable)")->allow_extra_args(false);
  o["republish-source"] = cmd->add_option("--republish-source", f.repub_src, "Republish messages from this subject");
  o["republish-destination"] = cmd->add_option("--republish-destination", f.repub_dest, "Republish destination");
  o["republish-headers"] = cmd->add_flag("--republish-headers", f.repub_headers, "Republish only headers");
  o["transform-source"] = cmd->add_option("--transform-source", f.transform_src, "Stream subject transform source");
  o["transform-destination"] =
      cmd->add_option("--transform-destination", f.transform_dest, "Stream subject transform destination");
  o["config"] = cmd->add_option("--config", f.config_file, "JSON file to read the stream configuration from")
                    ->check(CLI::ExistingFile);
  cmd->add_flag("-j,--json", f.json, "Produce JSON output");
}

Json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) Fail("cannot read " + path);
  try {
    return Json::parse(in);
  } catch (const std::exception& e) {
    Fail("invalid JSON in " + path + ": " + e.what());
  }
}

std::vector<std::string> SplitSubjects(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    std::string t = s;
    for (auto& c : t) {
      if (c == ' ') c = ',';
    }
    for (auto& x : SplitList(t)) out.push_back(x);
  }
  return out;
}

// Overlays every flag the user gave on `cfg`.
void ApplyFlags(const ConfigFlags& f, Json& cfg) {
  if (f.Set("subjects")) cfg["subjects"] = SplitSubjects(f.subjects);
  if (f.Set("description")) cfg["description"] = f.description;
  if (f.Set("storage")) cfg["storage"] = f.storage[0] == 'm' ? "memory" : "file";
  if (f.Set("compression")) cfg["compression"] = f.compression;
  if (f.Set("replicas")) cfg["num_replicas"] = f.replicas;
  if (f.Set("tag") || f.Set("cluster")) {
    Json p = Json::object();
    if (f.Set("cluster")) p["cluster"] = f.cluster;
    if (f.Set("tag")) p["tags"] = f.tags;
    cfg["placement"] = p;
  }
  if (f.Set("ack")) cfg["no_ack"] = !f.ack;
  if (f.Set("retention")) {
    cfg["retention"] = f.retention == "limits" ? "limits" : f.retention == "interest" ? "interest" : "workqueue";
  }
  if (f.Set("discard")) cfg["discard"] = f.discard;
  if (f.Set("discard-per-subject")) {
    cfg["discard_new_per_subject"] = f.discard_per_subject;
    if (f.discard_per_subject) cfg["discard"] = "new";
  }
  if (f.Set("first-sequence")) cfg["first_seq"] = f.first_seq;
  if (f.Set("max-age")) cfg["max_age"] = ParseDuration(f.max_age);
  if (f.Set("max-bytes")) cfg["max_bytes"] = ParseSize(f.max_bytes);
  if (f.Set("max-consumers")) cfg["max_consumers"] = f.max_consumers <= 0 ? -1 : f.max_consumers;
  if (f.Set("max-msg-size")) cfg["max_msg_size"] = ParseSize(f.max_msg_size);
  if (f.Set("max-msgs")) cfg["max_msgs"] = f.max_msgs <= 0 ? -1 : f.max_msgs;
  if (f.Set("max-msgs-per-subject")) {
    cfg["max_msgs_per_subject"] = f.max_msgs_per_subject <= 0 ? -1 : f.max_msgs_per_subject;
  }
  if (f.Set("dupe-window")) cfg["duplicate_window"] = ParseDuration(f.dupe_window);
  if (f.Set("mirror")) {
    cfg["mirror"] = Json{{"name", f.mirror}};
    cfg.erase("subjects");
  }
  if (f.Set("source")) {
    Json srcs = Json::array();
    for (const auto& s : f.sources) srcs.push_back(Json{{"name", s}});
    cfg["sources"] = srcs;
  }
  if (f.Set("allow-rollup")) cfg["allow_rollup_hdrs"] = f.allow_rollup;
  if (f.Set("deny-delete")) cfg["deny_delete"] = f.deny_delete;
  if (f.Set("deny-purge")) cfg["deny_purge"] = f.deny_purge;
  if (f.Set("allow-direct")) cfg["allow_direct"] = f.allow_direct;
  if (f.Set("allow-mirror-direct")) cfg["mirror_direct"] = f.allow_mirror_direct;
  if (f.Set("allow-msg-ttl")) cfg["allow_msg_ttl"] = f.allow_msg_ttl;
  if (f.Set("allow-schedules")) cfg["allow_msg_schedules"] = f.allow_schedules;
  if (f.Set("persist-mode")) cfg["persist_mode"] = f.persist_mode;
  if (f.Set("allow-batch")) cfg["allow_atomic"] = f.allow_batch;
  if (f.Set("allow-counter")) cfg["allow_msg_counter"] = f.allow_counter;
  if (f.Set("marker-ttl")) cfg["subject_delete_marker_ttl"] = ParseDuration(f.marker_ttl);
  if (f.Set("metadata")) {
    Json m = cfg.contains("metadata") ? cfg["metadata"] : Json::object();
    for (const auto& kv : f.metadata) {
      auto eq = kv.find('=');
      if (eq == std::string::npos) Fail("--metadata expects key=value, got \"" + kv + "\"");
      m[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    cfg["metadata"] = m;
  }
  if (f.Set("republish-source") || f.Set("republish-destination")) {
    if (f.repub_dest.empty()) Fail("--republish-destination is required with --republish-source");
    Json r{{"src", f.repub_src.empty() ? ">" : f.repub_src}, {"dest", f.repub_dest}};
    if (f.repub_headers) r["headers_only"] = true;
    cfg["republish"] = r;
  }
  if (f.Set("transform-source") || f.Set("transform-destination")) {
    // As nats: no source means every subject.
    cfg["subject_transform"] = {{"src", f.transform_src}, {"dest", f.transform_dest}};
  }
}

void AddCmd(CLI::App& parent, GlobalOptions& g) {
  auto f = std::make_shared<ConfigFlags>();
  auto name = std::make_shared<std::string>();
  auto defaults = std::make_shared<bool>(false);
  auto* cmd = parent.add_subcommand("add", "Create a new stream")->alias("create")->alias("new");
  cmd->add_option("stream", *name, "Stream name");
  cmd->add_flag("--defaults", *defaults, "Accept default values for everything not given");
  AddConfigFlags(cmd, *f);
  cmd->callback([&g, f, name, defaults] {
    Json cfg = Json::object();
    if (!f->config_file.empty()) {
      cfg = ReadJsonFile(f->config_file);
      if (name->empty()) *name = cfg.value("name", std::string());
    }
    if (name->empty()) *name = Prompt("Stream Name");
    if (name->empty()) Fail("a stream name is required");
    cfg["name"] = *name;
    if (f->config_file.empty()) {
      cfg["retention"] = "limits";
      cfg["max_consumers"] = -1;
      cfg["max_msgs_per_subject"] = -1;
      cfg["max_msgs"] = -1;
      cfg["max_bytes"] = -1;
      cfg["max_age"] = 0;
      cfg["max_msg_size"] = -1;
      cfg["storage"] = "file";
      cfg["discard"] = "old";
      cfg["num_replicas"] = 1;
      cfg["allow_direct"] = true;
      if (!f->Set("subjects") && !f->Set("mirror") && !f->Set("source")) {
        if (*defaults) {
          cfg["subjects"] = Json::array({*name});
        } else if (Interactive()) {
          cfg["subjects"] = SplitSubjects({Prompt("Subjects", *name)});
        } else {
          Fail("--subjects is required when not running interactively (or pass --defaults)");
        }
      }
    }
    ApplyFlags(*f, cfg);
    Conn conn(g);
    Json resp = conn.Api("STREAM.CREATE." + *name, cfg);
    if (f->json) return PrintJson(resp);
    std::cout << "Stream " << *name << " was created\n\n";
    PrintStreamInfo(resp, std::cout);
  });
}

void EditCmd(CLI::App& parent, GlobalOptions& g) {
  auto f = std::make_shared<ConfigFlags>();
  auto name = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto* cmd = parent.add_subcommand("edit", "Change the configuration of a stream")->alias("update");
  cmd->add_option("stream", *name, "Stream name")->required();
  cmd->add_flag("-f,--force", *force, "Edit without prompting");
  AddConfigFlags(cmd, *f);
  cmd->callback([&g, f, name, force] {
    Conn conn(g);
    Json cfg = conn.Api("STREAM.INFO." + *name)["config"];
    if (!f->config_file.empty()) cfg = ReadJsonFile(f->config_file);
    cfg["name"] = *name;
    ApplyFlags(*f, cfg);
    if (!*force && Interactive()) {
      std::cout << cfg.dump(2) << "\n";
      if (!Confirm("Really edit stream " + *name)) Fail("aborted");
    }
    Json resp = conn.Api("STREAM.UPDATE." + *name, cfg);
    if (f->json) return PrintJson(resp);
    std::cout << "Stream " << *name << " was updated\n\n";
    PrintStreamInfo(resp, std::cout);
  });
}

// Fetches every page of a paged list API, merged into the first answer.
Json ListAll(Conn& conn, const std::string& api, const std::string& field, Json req) {
  if (!req.is_object()) req = Json::object();
  req["offset"] = 0;
  Json first = conn.Api(api, req);
  if (!first[field].is_array()) first[field] = Json::array();
  while (first[field].size() < first.value("total", 0u)) {
    req["offset"] = first[field].size();
    Json next = conn.Api(api, req);
    if (!next[field].is_array() || next[field].empty()) break;
    for (auto& item : next[field]) first[field].push_back(item);
  }
  return first;
}

void LsCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    bool names = false, json = false;
    std::string subject;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("ls", "List streams")->alias("list");
  cmd->add_flag("-n,--names", o->names, "Show just the stream names");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->add_option("--subject", o->subject, "Limit the list to streams with matching subjects");
  cmd->callback([&g, o] {
    Conn conn(g);
    Json req = Json::object();
    if (!o->subject.empty()) req["subject"] = o->subject;
    if (o->names) {
      Json resp = ListAll(conn, "STREAM.NAMES", "streams", req);
      if (o->json) return PrintJson(resp);
      for (const auto& n : resp["streams"]) std::cout << n.get<std::string>() << "\n";
      return;
    }
    Json resp = ListAll(conn, "STREAM.LIST", "streams", req);
    if (o->json) return PrintJson(resp);
    if (resp["streams"].empty()) {
      std::cout << "No Streams defined\n";
      return;
    }
    Table t("Streams");
    t.Header({"Name", "Description", "Created", "Messages", "Size", "Last Message"});
    for (const auto& s : resp["streams"]) {
      const Json& st = s["state"];
      t.Row({s["config"].value("name", ""), s["config"].value("description", ""),
             ShortTime(s.value("created", "")), Commas(st.value("messages", int64_t{0})),
             FormatBytes(st.value("bytes", uint64_t{0})), ShortTime(st.value("last_ts", ""))});
    }
    t.Print(std::cout);
  });
}

void InfoCmd(CLI::App& parent, GlobalOptions& g) {
  auto name = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = parent.add_subcommand("info", "Stream information");
  cmd->add_option("stream", *name, "Stream name")->required();
  cmd->add_flag("-j,--json", *json, "Produce JSON output");
  cmd->callback([&g, name, json] {
    Conn conn(g);
    Json resp = conn.Api("STREAM.INFO." + *name);
    if (*json) return PrintJson(resp);
    PrintStreamInfo(resp, std::cout);
  });
}

void RmCmd(CLI::App& parent, GlobalOptions& g) {
  auto name = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto* cmd = parent.add_subcommand("rm", "Remove a stream and all its messages")->alias("delete")->alias("del");
  cmd->add_option("stream", *name, "Stream name")->required();
  cmd->add_flag("-f,--force", *force, "Remove without prompting");
  cmd->callback([&g, name, force] {
    RequireForce(*force, "Really delete stream " + *name);
    Conn conn(g);
    conn.Api("STREAM.DELETE." + *name);
    std::cout << "Stream " << *name << " was deleted\n";
  });
}

void PurgeCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string name, subject;
    uint64_t seq = 0, keep = 0;
    bool force = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("purge", "Remove messages from a stream");
  cmd->add_option("stream", o->name, "Stream name")->required();
  cmd->add_flag("-f,--force", o->force, "Purge without prompting");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->add_option("--subject", o->subject, "Limit the purge to a subject");
  auto* seq = cmd->add_option("--seq", o->seq, "Purge up to but not including this sequence");
  cmd->add_option("--keep", o->keep, "Keep this many of the newest messages")->excludes(seq);
  cmd->callback([&g, o] {
    RequireForce(o->force, "Really purge stream " + o->name);
    Json req = Json::object();
    if (!o->subject.empty()) req["filter"] = o->subject;
    if (o->seq != 0) req["seq"] = o->seq;
    if (o->keep != 0) req["keep"] = o->keep;
    Conn conn(g);
    Json resp = conn.Api("STREAM.PURGE." + o->name, req);
    if (o->json) return PrintJson(resp);
    std::cout << "Purged " << Commas(resp.value("purged", int64_t{0})) << " messages from " << o->name << "\n";
  });
}

void GetCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string name, last_for;
    uint64_t seq = 0;
    bool json = false, raw = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("get", "Retrieve a message from a stream");
  cmd->add_option("stream", o->name, "Stream name")->required();
  auto* seq = cmd->add_option("sequence", o->seq, "Message sequence to retrieve");
  cmd->add_option("-S,--last-for", o->last_for, "Retrieve the last message for a subject")->excludes(seq);
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->add_flag("--raw", o->raw, "Print only the message body");
  cmd->callback([&g, o] {
    Json req;
    if (!o->last_for.empty()) req = Json{{"last_by_subj", o->last_for}};
    else if (o->seq != 0) req = Json{{"seq", o->seq}};
    else if (Interactive()) req = Json{{"seq", ParseInt(Prompt("Message Sequence"), "message sequence", 1)}};
    else Fail("a message sequence or --last-for is required");
    Conn conn(g);
    Json resp = conn.Api("STREAM.MSG.GET." + o->name, req);
    if (o->json) return PrintJson(resp);
    const Json& m = resp["message"];
    std::string data = base64::Decode(m.value("data", "")).value_or("");
    if (o->raw) {
      std::cout << data << std::flush;
      return;
    }
    std::cout << "Item: " << o->name << "#" << m.value("seq", uint64_t{0}) << " received "
              << ShortTime(m.value("time", "")) << " on Subject " << m.value("subject", "") << "\n\n";
    std::string hdrs = base64::Decode(m.value("hdrs", "")).value_or("");
    if (!hdrs.empty()) {
      std::istringstream hs(hdrs);
      std::string line;
      std::getline(hs, line);  // NATS/1.0 status line
      std::cout << "Headers:\n\n";
      while (std::getline(hs, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) std::cout << "  " << line << "\n";
      }
      std::cout << "\n";
    }
    std::cout << data << "\n";
  });
}

void RmmCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string name;
    uint64_t seq = 0;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("rmm", "Securely remove one message from a stream");
  cmd->add_option("stream", o->name, "Stream name")->required();
  cmd->add_option("sequence", o->seq, "Message sequence to remove")->required();
  cmd->add_flag("-f,--force", o->force, "Remove without prompting");
  cmd->callback([&g, o] {
    RequireForce(o->force, fmt::format("Really remove message {} from stream {}", o->seq, o->name));
    Conn conn(g);
    conn.Api("STREAM.MSG.DELETE." + o->name, Json{{"seq", o->seq}});
    std::cout << "Message " << o->seq << " was removed from stream " << o->name << "\n";
  });
}

void ReportCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    bool json = false, raw = false;
    std::string subject;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("report", "Report on the state of all streams");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->add_flag("-r,--raw", o->raw, "Show unformatted numbers");
  cmd->add_option("--subject", o->subject, "Limit the report to streams with matching subjects");
  cmd->callback([&g, o] {
    Conn conn(g);
    Json req = Json::object();
    if (!o->subject.empty()) req["subject"] = o->subject;
    Json resp = ListAll(conn, "STREAM.LIST", "streams", req);
    Json rows = Json::array();
    for (const auto& s : resp["streams"]) {
      const Json& c = s["config"];
      const Json& st = s["state"];
      rows.push_back(Json{{"stream", c.value("name", "")},
                          {"storage", c.value("storage", "")},
                          {"consumers", st.value("consumer_count", int64_t{0})},
                          {"messages", st.value("messages", int64_t{0})},
                          {"bytes", st.value("bytes", int64_t{0})},
                          {"deleted", st.value("num_deleted", int64_t{0})},
                          {"replicas", c.value("num_replicas", int64_t{1})}});
    }
    if (o->json) return PrintJson(rows);
    if (rows.empty()) {
      std::cout << "No Streams defined\n";
      return;
    }
    Table t("Stream Report");
    t.Header({"Stream", "Storage", "Consumers", "Messages", "Bytes", "Deleted", "Replicas"});
    for (const auto& r : rows) {
      auto num = [&](const char* k) {
        return o->raw ? std::to_string(r[k].get<int64_t>()) : Commas(r[k].get<int64_t>());
      };
      std::string storage = r["storage"] == "memory" ? "Memory" : "File";
      std::string bytes = o->raw ? std::to_string(r["bytes"].get<int64_t>())
                                 : FormatBytes(r["bytes"].get<uint64_t>());
      t.Row({r["stream"], storage, num("consumers"), num("messages"), bytes, num("deleted"),
             std::to_string(r["replicas"].get<int64_t>())});
    }
    t.Print(std::cout);
  });
}

// `fjord stream cluster step-down|peer-remove`, as `nats stream cluster`:
// the stream's Raft group (a replicated stream on a cluster).
void ClusterCmds(CLI::App& parent, GlobalOptions& g) {
  auto* cluster = parent.add_subcommand("cluster", "Manage a replicated stream's group");
  cluster->require_subcommand(1);

  struct StepDown {
    std::string name, preferred;
  };
  auto sd = std::make_shared<StepDown>();
  auto* step = cluster->add_subcommand("step-down", "Make the stream's leader hand leadership to another replica");
  step->add_option("stream", sd->name, "Stream name")->required();
  step->add_option("--preferred", sd->preferred, "The replica that should take over");
  step->callback([&g, sd] {
    Conn conn(g);
    auto leader = [&] {
      Json info = conn.ApiNoThrow("STREAM.INFO." + sd->name);
      if (info.contains("error")) return std::string();
      return info.value("cluster", Json::object()).value("leader", std::string());
    };
    std::string before = leader();
    Json body = Json::object();
    if (!sd->preferred.empty()) body["placement"] = {{"preferred", sd->preferred}};
    conn.Api("STREAM.LEADER.STEPDOWN." + sd->name, body);
    WaitForNewLeader(g, before, leader, "stream " + sd->name);
  });

  struct PeerRemove {
    std::string name, peer;
    bool force = false;
  };
  auto pr = std::make_shared<PeerRemove>();
  auto* rm = cluster->add_subcommand("peer-remove", "Replace a replica of the stream by another server");
  rm->add_option("stream", pr->name, "Stream name")->required();
  rm->add_option("peer", pr->peer, "The replica's server name")->required();
  rm->add_flag("-f,--force", pr->force, "Remove without prompting");
  rm->callback([&g, pr] {
    RequireForce(pr->force, fmt::format("Really remove peer {} from stream {}", pr->peer, pr->name));
    Conn conn(g);
    conn.Api("STREAM.PEER.REMOVE." + pr->name, Json{{"peer", pr->peer}});
    std::cout << fmt::format("Removed peer \"{}\" from stream {}; another server takes its place\n", pr->peer,
                             pr->name);
  });
}

}  // namespace

void AddStreamCommands(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("stream", "JetStream stream management")->alias("str");
  cmd->require_subcommand(1);
  AddCmd(*cmd, g);
  LsCmd(*cmd, g);
  InfoCmd(*cmd, g);
  EditCmd(*cmd, g);
  RmCmd(*cmd, g);
  PurgeCmd(*cmd, g);
  GetCmd(*cmd, g);
  RmmCmd(*cmd, g);
  ReportCmd(*cmd, g);
  ClusterCmds(*cmd, g);
}

}  // namespace fjord::cli
