// `fjord consumer ...`: consumer administration over raw
// `$JS.API.CONSUMER.*` requests, and `next`, which pulls with a raw
// `CONSUMER.MSG.NEXT` request so every status the server sends is visible.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/table.h"
#include "cli/view.h"
#include "proto/js_ack.h"

namespace fjord::cli {
namespace {

struct AddOpts {
  std::string stream, name, ack = "explicit", deliver = "all", deliver_group, description;
  bool ephemeral = false, flow_control = false, headers_only = false, pull = false, memory = false;
  std::vector<std::string> filters, metadata;
  std::string heartbeat, wait, inactive_threshold, max_pull_expire, replay = "instant", target, config_file;
  int64_t max_deliver = 0, max_pending = 0, max_waiting = 0, max_pull_batch = 0, max_pull_bytes = 0;
  int64_t replicas = 0;
  bool defaults = false, json = false;
  std::map<std::string, CLI::Option*> opt;
  bool Set(const std::string& n) const { return opt.count(n) != 0 && opt.at(n)->count() > 0; }
};

// Turns --deliver (all, new, last, subject, a sequence or a duration ago) into
// the deliver policy fields.
void ApplyDeliver(const std::string& d, Json& cfg) {
  if (d == "all" || d.empty()) {
    cfg["deliver_policy"] = "all";
  } else if (d == "new") {
    cfg["deliver_policy"] = "new";
  } else if (d == "last") {
    cfg["deliver_policy"] = "last";
  } else if (d == "subject" || d == "last_per_subject") {
    cfg["deliver_policy"] = "last_per_subject";
  } else if (std::all_of(d.begin(), d.end(), [](char c) { return isdigit(static_cast<unsigned char>(c)); })) {
    cfg["deliver_policy"] = "by_start_sequence";
    cfg["opt_start_seq"] = ParseInt(d, "start sequence", 1);
  } else {
    int64_t ago = ParseDuration(d);
    auto start = std::chrono::system_clock::now() - std::chrono::nanoseconds(ago);
    time_t secs = std::chrono::system_clock::to_time_t(start);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cfg["deliver_policy"] = "by_start_time";
    cfg["opt_start_time"] = buf;
  }
}

void AddCmd(CLI::App& parent, GlobalOptions& g) {
  auto o = std::make_shared<AddOpts>();
  auto* cmd = parent.add_subcommand("add", "Create a consumer")->alias("create")->alias("new");
  auto& m = o->opt;
  cmd->add_option("stream", o->stream, "Stream name");
  cmd->add_option("consumer", o->name, "Consumer name");
  m["ack"] = cmd->add_option("--ack", o->ack, "Acknowledgment policy (none, all, explicit)")
                 ->check(CLI::IsMember({"none", "all", "explicit"}));
  m["deliver"] = cmd->add_option("--deliver", o->deliver, "Start policy (all, new, last, subject, 1h, sequence)");
  m["deliver-group"] = cmd->add_option("--deliver-group", o->deliver_group, "Queue group for push delivery");
  m["description"] = cmd->add_option("--description", o->description, "Description of the consumer");
  cmd->add_flag("--ephemeral", o->ephemeral, "Create an ephemeral consumer");
  m["filter"] = cmd->add_option("--filter", o->filters, "Filter the stream by subjects (repeatable)")->allow_extra_args(false);
  m["flow-control"] = cmd->add_flag("--flow-control", o->flow_control, "Enable push flow control");
  m["heartbeat"] = cmd->add_option("--heartbeat", o->heartbeat, "Idle heartbeat interval for push consumers");
  m["headers-only"] = cmd->add_flag("--headers-only", o->headers_only, "Deliver only headers");
  m["max-deliver"] = cmd->add_option("--max-deliver", o->max_deliver, "Maximum delivery attempts");
  m["max-pending"] = cmd->add_option("--max-pending", o->max_pending, "Maximum pending acks");
  m["max-waiting"] = cmd->add_option("--max-waiting", o->max_waiting, "Maximum outstanding pull requests");
  m["max-pull-batch"] = cmd->add_option("--max-pull-batch", o->max_pull_batch, "Largest accepted pull batch");
  m["max-pull-expire"] = cmd->add_option("--max-pull-expire", o->max_pull_expire, "Longest accepted pull expiry");
  m["max-pull-bytes"] = cmd->add_option("--max-pull-bytes", o->max_pull_bytes, "Largest accepted pull max bytes");
  cmd->add_flag("--pull", o->pull, "Pull mode (the default unless --target is given)");
  m["replay"] = cmd->add_option("--replay", o->replay, "Replay policy (instant, original)")
                    ->check(CLI::IsMember({"instant", "original"}));
  m["target"] = cmd->add_option("--target", o->target, "Push delivery subject");
  m["wait"] = cmd->add_option("--wait", o->wait, "Acknowledgment wait time");
  m["inactive-threshold"] =
      cmd->add_option("--inactive-threshold", o->inactive_threshold, "Idle time before removal");
  m["memory"] = cmd->add_flag("--memory", o->memory, "Keep consumer state in memory");
  m["replicas"] = cmd->add_option("--replicas", o->replicas, "Replica count (default: as the stream)");
  m["metadata"] = cmd->add_option("--metadata", o->metadata, "Metadata key=value (repeatable)")->allow_extra_args(false);
  cmd->add_option("--config", o->config_file, "JSON file with the consumer configuration")->check(CLI::ExistingFile);
  cmd->add_flag("--defaults", o->defaults, "Accept defaults for everything not given");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Json cfg = Json::object();
    if (!o->config_file.empty()) {
      std::ifstream in(o->config_file);
      try {
        cfg = Json::parse(in);
      } catch (const std::exception& e) {
        Fail("invalid JSON in " + o->config_file + ": " + e.what());
      }
      if (cfg.contains("config")) cfg = cfg["config"];
      if (o->name.empty()) o->name = cfg.value("durable_name", cfg.value("name", std::string()));
    }
    if (o->stream.empty()) o->stream = Prompt("Stream Name");
    if (o->name.empty() && !o->ephemeral) {
      if (!Interactive()) Fail("a consumer name is required (or pass --ephemeral)");
      o->name = Prompt("Consumer name");
    }
    if (!o->name.empty()) {
      cfg["name"] = o->name;
      if (!o->ephemeral) cfg["durable_name"] = o->name;
    }
    if (o->config_file.empty() || o->Set("deliver")) ApplyDeliver(o->deliver, cfg);
    if (o->config_file.empty() || o->Set("ack")) cfg["ack_policy"] = o->ack;
    if (o->config_file.empty() || o->Set("replay")) cfg["replay_policy"] = o->replay;
    if (o->Set("description")) cfg["description"] = o->description;
    if (o->Set("filter")) {
      std::vector<std::string> f;
      for (const auto& x : o->filters) {
        for (auto& s : SplitList(x)) f.push_back(s);
      }
      if (f.size() == 1) cfg["filter_subject"] = f[0];
      else cfg["filter_subjects"] = f;
    }
    if (o->Set("target")) cfg["deliver_subject"] = o->target;
    if (o->Set("deliver-group")) cfg["deliver_group"] = o->deliver_group;
    if (o->Set("flow-control")) cfg["flow_control"] = o->flow_control;
    if (o->Set("heartbeat")) cfg["idle_heartbeat"] = ParseDuration(o->heartbeat);
    if (o->Set("headers-only")) cfg["headers_only"] = o->headers_only;
    if (o->Set("max-deliver")) cfg["max_deliver"] = o->max_deliver;
    if (o->Set("max-pending")) cfg["max_ack_pending"] = o->max_pending;
    if (o->Set("max-waiting")) cfg["max_waiting"] = o->max_waiting;
    if (o->Set("max-pull-batch")) cfg["max_batch"] = o->max_pull_batch;
    if (o->Set("max-pull-expire")) cfg["max_expires"] = ParseDuration(o->max_pull_expire);
    if (o->Set("max-pull-bytes")) cfg["max_bytes"] = o->max_pull_bytes;
    if (o->Set("wait")) cfg["ack_wait"] = ParseDuration(o->wait);
    if (o->Set("inactive-threshold")) cfg["inactive_threshold"] = ParseDuration(o->inactive_threshold);
    if (o->Set("memory")) cfg["mem_storage"] = o->memory;
    if (o->Set("replicas")) cfg["num_replicas"] = o->replicas;
    if (o->Set("metadata")) {
      Json md = Json::object();
      for (const auto& kv : o->metadata) {
        auto eq = kv.find('=');
        if (eq == std::string::npos) Fail("--metadata expects key=value, got \"" + kv + "\"");
        md[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      cfg["metadata"] = md;
    }
    Json req{{"stream_name", o->stream}, {"config", cfg}};
    std::string api = "CONSUMER.CREATE." + o->stream;
    if (!o->name.empty()) api += "." + o->name;
    Conn conn(g);
    Json resp = conn.Api(api, req);
    if (o->json) return PrintJson(resp);
    PrintConsumerInfo(resp, std::cout);
  });
}

void LsCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string stream;
    bool names = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("ls", "List the consumers of a stream")->alias("list");
  cmd->add_option("stream", o->stream, "Stream name")->required();
  cmd->add_flag("-n,--names", o->names, "Show just the consumer names");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Conn conn(g);
    std::string field = "consumers";
    std::string api = std::string(o->names ? "CONSUMER.NAMES." : "CONSUMER.LIST.") + o->stream;
    Json req{{"offset", 0}};
    Json resp = conn.Api(api, req);
    if (!resp[field].is_array()) resp[field] = Json::array();
    while (resp[field].size() < resp.value("total", 0u)) {
      req["offset"] = resp[field].size();
      Json next = conn.Api(api, req);
      if (!next[field].is_array() || next[field].empty()) break;
      for (auto& c : next[field]) resp[field].push_back(c);
    }
    if (o->json) return PrintJson(resp);
    if (o->names) {
      for (const auto& n : resp[field]) std::cout << n.get<std::string>() << "\n";
      return;
    }
    if (resp[field].empty()) {
      std::cout << "No Consumers defined\n";
      return;
    }
    Table t("Consumers");
    t.Header({"Name", "Description", "Created", "Ack Pending", "Unprocessed", "Last Delivery"});
    for (const auto& c : resp[field]) {
      std::string last = c["delivered"].value("last_active", "");
      t.Row({c.value("name", ""), c["config"].value("description", ""), ShortTime(c.value("created", "")),
             Commas(c.value("num_ack_pending", int64_t{0})), Commas(c.value("num_pending", int64_t{0})),
             ShortTime(last)});
    }
    t.Print(std::cout);
  });
}

void InfoCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string stream, name;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("info", "Consumer information");
  cmd->add_option("stream", o->stream, "Stream name")->required();
  cmd->add_option("consumer", o->name, "Consumer name")->required();
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Conn conn(g);
    Json resp = conn.Api("CONSUMER.INFO." + o->stream + "." + o->name);
    if (o->json) return PrintJson(resp);
    PrintConsumerInfo(resp, std::cout);
  });
}

void RmCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string stream, name;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("rm", "Remove a consumer")->alias("delete")->alias("del");
  cmd->add_option("stream", o->stream, "Stream name")->required();
  cmd->add_option("consumer", o->name, "Consumer name")->required();
  cmd->add_flag("-f,--force", o->force, "Remove without prompting");
  cmd->callback([&g, o] {
    RequireForce(o->force, "Really delete consumer " + o->stream + " > " + o->name);
    Conn conn(g);
    conn.Api("CONSUMER.DELETE." + o->stream + "." + o->name);
    std::cout << "Consumer " << o->stream << " > " << o->name << " was deleted\n";
  });
}

void NextCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string stream, name, wait;
    int count = 1;
    bool ack = true, nak = false, term = false, raw = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("next", "Retrieve messages from a pull consumer");
  cmd->add_option("stream", o->stream, "Stream name")->required();
  cmd->add_option("consumer", o->name, "Consumer name")->required();
  cmd->add_option("--count", o->count, "Number of messages to fetch")->check(WholeNumber(1));
  cmd->add_flag("--ack,!--no-ack", o->ack, "Acknowledge received messages (default true)");
  cmd->add_flag("--nak", o->nak, "Negatively acknowledge the messages");
  cmd->add_flag("--term", o->term, "Terminate the messages");
  cmd->add_flag("-r,--raw", o->raw, "Show only the message bodies");
  cmd->add_option("--wait", o->wait, "How long to wait for messages (default: --timeout)");
  cmd->callback([&g, o] {
    Conn conn(g);
    int64_t wait_ms = o->wait.empty() ? g.TimeoutMs() : ParseDuration(o->wait) / 1000000;
    natsInbox* inbox = nullptr;
    natsInbox_Create(&inbox);
    std::string reply = inbox;
    natsInbox_Destroy(inbox);
    natsSubscription* sub = nullptr;
    natsStatus s = natsConnection_SubscribeSync(&sub, conn.nc(), reply.c_str());
    if (s != NATS_OK) FailNats("could not subscribe", s);
    std::unique_ptr<natsSubscription, void (*)(natsSubscription*)> guard(sub, DropSubscription);
    Json req{{"batch", o->count}, {"expires", wait_ms * 1000000}};
    std::string body = req.dump();
    std::string subject = g.ApiPrefix() + ".CONSUMER.MSG.NEXT." + o->stream + "." + o->name;
    s = natsConnection_PublishRequest(conn.nc(), subject.c_str(), reply.c_str(), body.data(),
                                      static_cast<int>(body.size()));
    if (s != NATS_OK) FailNats("could not send the pull request", s);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms + 1000);
    int got = 0;
    while (got < o->count) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      natsMsg* raw_msg = nullptr;
      s = natsSubscription_NextMsg(&raw_msg, sub, left.count());
      if (s == NATS_TIMEOUT) break;
      if (s != NATS_OK) FailNats("waiting for messages failed", s);
      MsgPtr msg(raw_msg);
      const char* status = nullptr;
      if (natsMsg_GetDataLength(raw_msg) == 0 && natsMsgHeader_Get(raw_msg, "Status", &status) == NATS_OK) {
        const char* desc = nullptr;
        natsMsgHeader_Get(raw_msg, "Description", &desc);
        std::string st = status;
        if (st == "404" || st == "408") break;  // no (more) messages
        if (st == "100") continue;               // heartbeat
        Fail(fmt::format("pull request failed: {} {}", st, desc != nullptr ? desc : ""));
      }
      got++;
      std::string data(natsMsg_GetData(raw_msg), natsMsg_GetDataLength(raw_msg));
      const char* ack_subj = natsMsg_GetReply(raw_msg);
      proto::JsAck meta = proto::ParseJsAck(ack_subj != nullptr ? ack_subj : "").value_or(proto::JsAck{});
      if (o->raw) {
        std::cout << data << std::endl;
      } else {
        time_t t = time(nullptr);
        struct tm tm;
        localtime_r(&t, &tm);
        char ts[16];
        strftime(ts, sizeof ts, "%H:%M:%S", &tm);
        std::cout << fmt::format("[{}] subj: {} / tries: {} / cons seq: {} / str seq: {} / pending: {}\n\n", ts,
                                 natsMsg_GetSubject(raw_msg), meta.delivered, meta.consumer_seq,
                                 meta.stream_seq, meta.pending);
        std::cout << data << "\n\n";
      }
      if (ack_subj == nullptr) continue;
      const char* verdict = o->term ? "+TERM" : o->nak ? "-NAK" : o->ack ? "+ACK" : nullptr;
      if (verdict == nullptr) continue;
      natsMsg* confirm = conn.Request(ack_subj, verdict);
      natsMsg_Destroy(confirm);
      if (!o->raw) {
        std::cout << (o->term ? "Terminated message" : o->nak ? "NaK'd message" : "Acknowledged message")
                  << "\n\n";
      }
    }
    std::cout << std::flush;
    if (got == 0) Fail("no message received");
  });
}

// Every consumer of a stream with its lag, as `nats consumer report`.
void ReportCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string stream;
    bool json = false, raw = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("report", "Report on the consumers of a stream, with their lag");
  cmd->add_option("stream", o->stream, "Stream name")->required();
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->add_flag("-r,--raw", o->raw, "Show unformatted numbers");
  cmd->callback([&g, o] {
    Conn conn(g);
    Json stream = conn.Api("STREAM.INFO." + o->stream);
    std::string api = "CONSUMER.LIST." + o->stream;
    Json req{{"offset", 0}};
    Json list = Json::array();
    for (int page = 0; page < 100000; ++page) {
      Json resp = conn.Api(api, req);
      if (!resp["consumers"].is_array() || resp["consumers"].empty()) break;
      for (auto& c : resp["consumers"]) list.push_back(c);
      if (list.size() >= resp.value("total", size_t{0})) break;
      req["offset"] = list.size();
    }
    Json rows = Json::array();
    for (const auto& c : list) {
      const Json& cfg = c["config"];
      bool pull = !cfg.contains("deliver_subject") || cfg["deliver_subject"].get<std::string>().empty();
      rows.push_back(Json{{"consumer", c.value("name", "")},
                          {"mode", pull ? "Pull" : "Push"},
                          {"ack_policy", cfg.value("ack_policy", "")},
                          {"ack_wait", cfg.value("ack_wait", int64_t{0})},
                          {"ack_pending", c.value("num_ack_pending", int64_t{0})},
                          {"redelivered", c.value("num_redelivered", int64_t{0})},
                          {"unprocessed", c.value("num_pending", int64_t{0})},
                          {"waiting", c.value("num_waiting", int64_t{0})},
                          {"ack_floor", c["ack_floor"].value("stream_seq", int64_t{0})}});
    }
    if (o->json) return PrintJson(rows);
    const Json& st = stream["state"];
    std::cout << fmt::format("Consumer report for {} with {} consumers, {} messages, last sequence {}\n\n",
                             o->stream, list.size(), Commas(st.value("messages", int64_t{0})),
                             Commas(st.value("last_seq", int64_t{0})));
    if (rows.empty()) {
      std::cout << "No Consumers defined\n";
      return;
    }
    Table t;
    t.Header({"Consumer", "Mode", "Ack Policy", "Ack Wait", "Ack Pending", "Redelivered", "Unprocessed",
              "Waiting Pulls", "Ack Floor"});
    auto num = [&](const Json& r, const char* k) {
      return o->raw ? std::to_string(r[k].get<int64_t>()) : Commas(r[k].get<int64_t>());
    };
    int64_t last = st.value("last_seq", int64_t{0});
    for (const auto& r : rows) {
      std::string lag = num(r, "unprocessed");
      // The share of the stream still to process, as nats shows it.
      if (!o->raw && last > 0 && r["unprocessed"].get<int64_t>() > 0)
        lag += fmt::format(" / {:.0f}%", 100.0 * double(r["unprocessed"].get<int64_t>()) / double(last));
      t.Row({r["consumer"], r["mode"], r["ack_policy"], FormatDuration(r["ack_wait"].get<int64_t>()),
             num(r, "ack_pending"), num(r, "redelivered"), lag, num(r, "waiting"), num(r, "ack_floor")});
    }
    t.Print(std::cout);
  });
}

}  // namespace

void AddConsumerCommands(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("consumer", "JetStream consumer management")->alias("con");
  cmd->require_subcommand(1);
  AddCmd(*cmd, g);
  LsCmd(*cmd, g);
  InfoCmd(*cmd, g);
  NextCmd(*cmd, g);
  RmCmd(*cmd, g);
  ReportCmd(*cmd, g);
}

}  // namespace fjord::cli
