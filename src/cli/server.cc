// `fjord server info|ping|check`: what the server says about itself (its
// INFO line), round-trip times, and Nagios-style health checks whose exit
// codes follow the nats CLI (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/table.h"

namespace fjord::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Reads the INFO line a server sends to every new connection, from the first
// server in the (comma separated) list.
std::string ReadServerInfo(const GlobalOptions& g) {
  std::string url = g.servers.empty() ? "nats://127.0.0.1:4222" : SplitList(g.servers)[0];
  size_t scheme = url.find("://");
  if (scheme != std::string::npos) url = url.substr(scheme + 3);
  size_t at = url.rfind('@');
  if (at != std::string::npos) url = url.substr(at + 1);
  while (!url.empty() && url.back() == '/') url.pop_back();
  std::string host = url, port = "4222";
  size_t colon = url.rfind(':');
  if (colon != std::string::npos && url.find(']') == std::string::npos) {
    host = url.substr(0, colon);
    port = url.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  struct addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) Fail("cannot resolve " + host);
  int fd = -1;
  for (auto* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    struct timeval tv = {static_cast<time_t>(g.TimeoutMs() / 1000),
                         static_cast<suseconds_t>((g.TimeoutMs() % 1000) * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) Fail("could not connect to " + host + ":" + port);
  std::string line;
  char buf[4096];
  while (line.find("\r\n") == std::string::npos && line.size() < (1 << 20)) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t end = line.find("\r\n");
  if (end == std::string::npos || line.rfind("INFO ", 0) != 0) Fail("the server did not send INFO");
  return line.substr(5, end - 5);
}

void InfoCmd(CLI::App& parent, GlobalOptions& g) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = parent.add_subcommand("info", "Show the server's INFO (identity, version, limits)");
  cmd->add_flag("-j,--json", *json, "Produce JSON output");
  cmd->callback([&g, json] {
    Json info;
    try {
      info = Json::parse(ReadServerInfo(g));
    } catch (const nlohmann::json::exception& e) {
      Fail(std::string("invalid INFO from the server: ") + e.what());
    }
    if (*json) return PrintJson(info);
    KeyValues kv;
    auto str = [&](const char* label, const char* key) {
      if (info.contains(key)) kv.Add(label, info[key].is_string() ? info[key].get<std::string>() : info[key].dump());
    };
    std::cout << "Server information for " << info.value("server_name", info.value("server_id", "")) << "\n\n";
    str("Server ID", "server_id");
    str("Server Name", "server_name");
    str("Version", "version");
    str("Go Version", "go");
    str("Git Commit", "git_commit");
    str("Host", "host");
    str("Port", "port");
    str("Protocol", "proto");
    if (info.contains("max_payload")) kv.Add("Max Payload", FormatBytes(info["max_payload"].get<uint64_t>()));
    kv.Add("Headers", info.value("headers", false) ? "true" : "false");
    kv.Add("JetStream", info.value("jetstream", false) ? "true" : "false");
    kv.Add("Auth Required", info.value("auth_required", false) ? "true" : "false");
    kv.Add("TLS Required", info.value("tls_required", false) ? "true" : "false");
    str("Cluster", "cluster");
    str("Domain", "domain");
    str("Client ID", "client_id");
    str("Client IP", "client_ip");
    kv.Print(std::cout);
  });
}

void PingCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    int count = 5;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("ping", "Measure round trips (PING/PONG) to the server");
  cmd->add_option("--count", o->count, "Number of pings")->check(WholeNumber(1));
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Conn conn(g);
    char url[256] = {0};
    natsConnection_GetConnectedUrl(conn.nc(), url, sizeof url);
    std::vector<int64_t> rtts;
    for (int i = 0; i < o->count; i++) {
      int64_t rtt = 0;
      natsStatus s = natsConnection_GetRTT(conn.nc(), &rtt);
      if (s != NATS_OK) FailNats("ping failed", s);
      rtts.push_back(rtt);
      if (!o->json) std::cout << fmt::format("Ping {} to {}: rtt {}\n", i + 1, RedactUrls(url), FormatDuration(rtt));
    }
    int64_t mn = *std::min_element(rtts.begin(), rtts.end());
    int64_t mx = *std::max_element(rtts.begin(), rtts.end());
    int64_t sum = 0;
    for (auto r : rtts) sum += r;
    int64_t avg = sum / static_cast<int64_t>(rtts.size());
    if (o->json) {
      return PrintJson(Json{{"server", RedactUrls(url)}, {"count", rtts.size()}, {"rtt_ns", rtts},
                            {"min_ns", mn}, {"avg_ns", avg}, {"max_ns", mx}});
    }
    std::cout << fmt::format("\n{} pings: min {} avg {} max {}\n", rtts.size(), FormatDuration(mn),
                             FormatDuration(avg), FormatDuration(mx));
  });
}

// One check's outcome, rendered as Nagios text or JSON.
struct CheckResult {
  std::string name, suite;
  std::vector<std::string> ok, warning, critical;
  struct Perf {
    std::string name;
    double value, warn, crit;
    std::string unit;
  };
  std::vector<Perf> perf;

  int ExitCode() const { return !critical.empty() ? 2 : !warning.empty() ? 1 : 0; }
  std::string Status() const {
    return !critical.empty() ? "CRITICAL" : !warning.empty() ? "WARNING" : "OK";
  }
  // Thresholds compare "bigger is worse" values.
  void Grade(const std::string& what, double value, double warn, double crit) {
    if (crit > 0 && value >= crit) critical.push_back(what);
    else if (warn > 0 && value >= warn) warning.push_back(what);
    else ok.push_back(what);
  }
  void Render(const std::string& format) const {
    if (format == "json") {
      Json perfs = Json::array();
      for (const auto& p : perf) {
        perfs.push_back(Json{{"name", p.name}, {"value", p.value}, {"warning", p.warn},
                             {"critical", p.crit}, {"unit", p.unit}});
      }
      return PrintJson(Json{{"name", name}, {"check_suite", suite}, {"status", Status()},
                            {"ok", ok}, {"warning", warning}, {"critical", critical},
                            {"perf_data", perfs}});
    }
    std::string out = Status() + " " + name;
    for (const auto& c : critical) out += " CRIT:" + c;
    for (const auto& w : warning) out += " WARN:" + w;
    for (const auto& k : ok) out += " OK:" + k;
    if (!perf.empty()) {
      out += " |";
      for (const auto& p : perf) {
        out += fmt::format(" {}={:.4f}{};{:.4f};{:.4f}", p.name, p.value, p.unit, p.warn, p.crit);
      }
    }
    std::cout << out << std::endl;
  }
};

void CheckConnectionCmd(CLI::App& parent, GlobalOptions& g, std::shared_ptr<std::string> format) {
  struct Opts {
    std::string connect_warn = "500ms", connect_crit = "1s", rtt_warn = "500ms", rtt_crit = "1s";
    std::string req_warn = "500ms", req_crit = "1s";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("connection", "Check connecting, RTT and a request round trip")->alias("conn");
  cmd->add_option("--connect-warn", o->connect_warn, "Warning threshold for connecting")->default_str("500ms");
  cmd->add_option("--connect-critical", o->connect_crit, "Critical threshold for connecting")->default_str("1s");
  cmd->add_option("--rtt-warn", o->rtt_warn, "Warning threshold for the RTT")->default_str("500ms");
  cmd->add_option("--rtt-critical", o->rtt_crit, "Critical threshold for the RTT")->default_str("1s");
  cmd->add_option("--req-warn", o->req_warn, "Warning threshold for a request round trip")->default_str("500ms");
  cmd->add_option("--req-critical", o->req_crit, "Critical threshold for a request round trip")->default_str("1s");
  cmd->callback([&g, o, format] {
    CheckResult r{"Connection", "connection", {}, {}, {}, {}};
    auto sec = [](const std::string& d) { return ParseDuration(d) / 1e9; };
    auto start = Clock::now();
    std::unique_ptr<Conn> conn;
    try {
      conn = std::make_unique<Conn>(g);
    } catch (const CliError& e) {
      r.critical.push_back(std::string("connection failed: ") + e.what());
      r.Render(*format);
      throw CliError("", 2);
    }
    double connect = Seconds(Clock::now() - start);
    char url[256] = {0};
    natsConnection_GetConnectedUrl(conn->nc(), url, sizeof url);
    r.Grade(fmt::format("connected to {} in {}", RedactUrls(url), FormatDuration(static_cast<int64_t>(connect * 1e9))),
            connect, sec(o->connect_warn), sec(o->connect_crit));
    r.perf.push_back({"connect_time", connect, sec(o->connect_warn), sec(o->connect_crit), "s"});
    int64_t rtt = 0;
    natsStatus s = natsConnection_GetRTT(conn->nc(), &rtt);
    if (s != NATS_OK) {
      r.critical.push_back(std::string("rtt failed: ") + natsStatus_GetText(s));
    } else {
      r.Grade("rtt time " + FormatDuration(rtt), rtt / 1e9, sec(o->rtt_warn), sec(o->rtt_crit));
      r.perf.push_back({"rtt", rtt / 1e9, sec(o->rtt_warn), sec(o->rtt_crit), "s"});
    }
    // A request to our own subscription exercises the whole message path.
    natsInbox* inbox = nullptr;
    natsInbox_Create(&inbox);
    std::string subject = inbox;
    natsInbox_Destroy(inbox);
    natsSubscription* sub = nullptr;
    s = natsConnection_SubscribeSync(&sub, conn->nc(), subject.c_str());
    if (s == NATS_OK) s = natsConnection_FlushTimeout(conn->nc(), g.TimeoutMs());
    auto req_start = Clock::now();
    if (s == NATS_OK) s = natsConnection_PublishString(conn->nc(), subject.c_str(), "fjord check");
    natsMsg* m = nullptr;
    if (s == NATS_OK) s = natsSubscription_NextMsg(&m, sub, g.TimeoutMs());
    double req = Seconds(Clock::now() - req_start);
    natsMsg_Destroy(m);
    DropSubscription(sub);
    if (s != NATS_OK) {
      r.critical.push_back(std::string("round trip failed: ") + natsStatus_GetText(s));
    } else {
      r.Grade(fmt::format("round trip took {:.6f}s", req), req, sec(o->req_warn), sec(o->req_crit));
      r.perf.push_back({"request_time", req, sec(o->req_warn), sec(o->req_crit), "s"});
    }
    r.Render(*format);
    if (r.ExitCode() != 0) throw CliError("", r.ExitCode());
  });
}

void CheckJetStreamCmd(CLI::App& parent, GlobalOptions& g, std::shared_ptr<std::string> format) {
  struct Opts {
    int mem_warn = 75, mem_crit = 90, store_warn = 75, store_crit = 90;
    int streams_warn = -1, streams_crit = -1, consumers_warn = -1, consumers_crit = -1;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("jetstream", "Check JetStream availability and account usage")->alias("js");
  cmd->add_option("--mem-warn", o->mem_warn, "Warning threshold for memory use, percent of limit");
  cmd->add_option("--mem-critical", o->mem_crit, "Critical threshold for memory use, percent of limit");
  cmd->add_option("--store-warn", o->store_warn, "Warning threshold for storage use, percent of limit");
  cmd->add_option("--store-critical", o->store_crit, "Critical threshold for storage use, percent of limit");
  cmd->add_option("--streams-warn", o->streams_warn, "Warning threshold for streams, percent of limit");
  cmd->add_option("--streams-critical", o->streams_crit, "Critical threshold for streams, percent of limit");
  cmd->add_option("--consumers-warn", o->consumers_warn, "Warning threshold for consumers, percent of limit");
  cmd->add_option("--consumers-critical", o->consumers_crit, "Critical threshold for consumers, percent of limit");
  cmd->callback([&g, o, format] {
    CheckResult r{"JetStream", "jetstream", {}, {}, {}, {}};
    Json info;
    try {
      Conn conn(g);
      info = conn.Api("INFO");
    } catch (const CliError& e) {
      r.critical.push_back(e.what());
      r.Render(*format);
      throw CliError("", 2);
    }
    const Json& lim = info["limits"];
    auto usage = [&](const std::string& what, double used, double limit, int warn, int crit, bool bytes) {
      std::string shown = bytes ? FormatBytes(static_cast<uint64_t>(used)) : Commas(static_cast<int64_t>(used));
      if (limit <= 0) {
        r.ok.push_back(what + ":" + shown);
        r.perf.push_back({what, used, 0, 0, bytes ? "B" : ""});
        return;
      }
      double pct = used * 100.0 / limit;
      r.Grade(fmt::format("{}:{} ({:.0f}% of limit)", what, shown, pct), pct, warn, crit);
      r.perf.push_back({what, used, 0, 0, bytes ? "B" : ""});
      r.perf.push_back({what + "_pct", pct, static_cast<double>(warn), static_cast<double>(crit), "%"});
    };
    usage("memory", info.value("memory", 0.0), lim.value("max_memory", -1.0), o->mem_warn, o->mem_crit, true);
    usage("storage", info.value("storage", 0.0), lim.value("max_storage", -1.0), o->store_warn, o->store_crit,
          true);
    usage("streams", info.value("streams", 0.0), lim.value("max_streams", -1.0), o->streams_warn,
          o->streams_crit, false);
    usage("consumers", info.value("consumers", 0.0), lim.value("max_consumers", -1.0), o->consumers_warn,
          o->consumers_crit, false);
    r.Render(*format);
    if (r.ExitCode() != 0) throw CliError("", r.ExitCode());
  });
}

// `fjord server report jetstream`: what `nats server report jetstream`
// shows, for the server the CLI is connected to (read through the
// JetStream API, so no system account is needed).
void ReportJetStreamCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    bool json = false, raw = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("jetstream", "JetStream usage of the server: streams, consumers, storage, API")
                  ->alias("js");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->add_flag("-r,--raw", o->raw, "Show unformatted numbers");
  cmd->callback([&g, o] {
    Json info;
    try {
      info = Json::parse(ReadServerInfo(g));
    } catch (const nlohmann::json::exception& e) {
      Fail(std::string("invalid INFO from the server: ") + e.what());
    }
    Conn conn(g);
    Json acct = conn.Api("INFO");
    uint64_t messages = 0, bytes = 0;
    Json req{{"offset", 0}};
    size_t seen = 0;
    for (int page = 0; page < 100000; ++page) {
      Json resp = conn.Api("STREAM.LIST", req);
      if (!resp["streams"].is_array() || resp["streams"].empty()) break;
      for (const auto& s : resp["streams"]) {
        messages += s["state"].value("messages", uint64_t{0});
        bytes += s["state"].value("bytes", uint64_t{0});
      }
      seen += resp["streams"].size();
      if (seen >= resp.value("total", size_t{0})) break;
      req["offset"] = seen;
    }
    const Json& api = acct["api"];
    Json row{{"server", info.value("server_name", info.value("server_id", ""))},
             {"cluster", info.value("cluster", "")},
             {"domain", acct.value("domain", "")},
             {"streams", acct.value("streams", uint64_t{0})},
             {"consumers", acct.value("consumers", uint64_t{0})},
             {"messages", messages},
             {"bytes", bytes},
             {"memory", acct.value("memory", uint64_t{0})},
             {"file", acct.value("storage", uint64_t{0})},
             {"api_requests", api.value("total", uint64_t{0})},
             {"api_errors", api.value("errors", uint64_t{0})}};
    if (o->json) return PrintJson(Json::array({row}));
    auto num = [&](const char* k) {
      uint64_t v = row[k].get<uint64_t>();
      return o->raw ? std::to_string(v) : Commas(static_cast<int64_t>(v));
    };
    auto size = [&](const char* k) {
      uint64_t v = row[k].get<uint64_t>();
      return o->raw ? std::to_string(v) : FormatBytes(v);
    };
    Table t("JetStream Summary");
    t.Header({"Server", "Cluster", "Domain", "Streams", "Consumers", "Messages", "Bytes", "Memory", "File",
              "API Req", "API Err"});
    t.Row({row["server"], row["cluster"], row["domain"], num("streams"), num("consumers"), num("messages"),
           size("bytes"), size("memory"), size("file"), num("api_requests"), num("api_errors")});
    t.Print(std::cout);
  });
}

// `fjord server list`: every server answering the system account's PING,
// as `nats server list` shows them (needs a system account user).
void ListCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    int expect = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("list", "List the servers that answer the system account's PING");
  cmd->add_option("expect", o->expect, "How many servers to wait for (default: all that answer in --timeout)")
      ->check(WholeNumber(0));
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Conn conn(g);
    auto msgs = conn.RequestMany("$SYS.REQ.SERVER.PING", "", g.TimeoutMs(),
                                 o->expect > 0 ? size_t(o->expect) : SIZE_MAX);
    if (msgs.empty()) {
      Fail("no server answered $SYS.REQ.SERVER.PING (are these system account credentials?)");
    }
    Json all = Json::array();
    for (auto& m : msgs) {
      auto j = Json::parse(std::string(natsMsg_GetData(m.get()), natsMsg_GetDataLength(m.get())), nullptr, false);
      if (!j.is_discarded() && j.contains("server")) all.push_back(std::move(j));
    }
    if (o->json) return PrintJson(all);
    Table t("Server Overview");
    t.Header({"Name", "Version", "JS", "Conns", "Subs", "Memory", "CPU %", "Started"});
    uint64_t conns = 0;
    for (const auto& j : all) {
      const Json& srv = j["server"];
      const Json st = j.value("statsz", Json::object());
      conns += st.value("connections", uint64_t(0));
      t.Row({srv.value("name", ""), srv.value("ver", ""), srv.value("jetstream", false) ? "yes" : "no",
             std::to_string(st.value("connections", uint64_t(0))), std::to_string(st.value("subscriptions", uint64_t(0))),
             FormatBytes(st.value("mem", uint64_t(0))), fmt::format("{:.1f}", st.value("cpu", 0.0)),
             st.value("start", "")});
    }
    t.Print(std::cout);
    std::cout << all.size() << " server(s), " << conns << " connection(s)\n";
    if (o->expect > 0 && int(all.size()) < o->expect) Fail(fmt::format("expected {} servers, {} answered", o->expect, all.size()));
  });
}

// The meta leader's name as the servers report it ($SYS.REQ.SERVER.PING.JSZ,
// system account); empty when none answers with one.
std::string MetaLeader(Conn& conn, const GlobalOptions& g) {
  // Every server reports the leader it follows: the first answer will do
  // (a caller that waits for a change asks again).
  for (auto& m : conn.RequestMany("$SYS.REQ.SERVER.PING.JSZ", "{}", std::min<int64_t>(g.TimeoutMs(), 2000), 1)) {
    auto j = Json::parse(std::string(natsMsg_GetData(m.get()), natsMsg_GetDataLength(m.get())), nullptr, false);
    if (j.is_discarded()) continue;
    const Json& meta = j.value("data", Json::object()).value("meta_cluster", Json::object());
    if (auto l = meta.value("leader", std::string()); !l.empty()) return l;
  }
  return {};
}

// `fjord server raft step-down|peer-remove`: the JetStream meta group's
// requests, as `nats server raft` sends them (a system account user).
void RaftCmds(CLI::App& parent, GlobalOptions& g) {
  auto* raft = parent.add_subcommand("raft", "Manage the JetStream meta group (needs a system account user)");
  raft->require_subcommand(1);

  auto preferred = std::make_shared<std::string>();
  auto* sd = raft->add_subcommand("step-down", "Make the meta leader hand leadership to another server");
  sd->add_option("--preferred", *preferred, "The server that should take over");
  sd->callback([&g, preferred] {
    Conn conn(g);
    std::string before = MetaLeader(conn, g);
    if (before.empty()) Fail("no server reports a meta leader (are these system account credentials?)");
    Json body = Json::object();
    if (!preferred->empty()) body["placement"] = {{"preferred", *preferred}};
    conn.Api("META.LEADER.STEPDOWN", body);
    WaitForNewLeader(g, before, [&] { return MetaLeader(conn, g); }, "the meta group");
  });

  auto peer = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto* pr = raft->add_subcommand("peer-remove", "Remove a server from the meta group (it should be offline)");
  pr->add_option("name", *peer, "The server's name")->required();
  pr->add_flag("-f,--force", *force, "Remove without prompting");
  pr->callback([&g, peer, force] {
    RequireForce(*force, "Really remove server " + *peer + " from the meta group");
    Conn conn(g);
    conn.Api("SERVER.REMOVE", Json{{"peer", *peer}});
    std::cout << fmt::format("Removed server \"{}\" from the meta group\n", *peer);
  });
}

}  // namespace

void AddServerCommands(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("server", "Server information and health checks")->alias("srv");
  cmd->require_subcommand(1);
  InfoCmd(*cmd, g);
  PingCmd(*cmd, g);
  ListCmd(*cmd, g);
  auto format = std::make_shared<std::string>("nagios");
  auto* check = cmd->add_subcommand("check", "Health checks with Nagios exit codes (0 OK, 1 WARN, 2 CRIT)");
  check->require_subcommand(1);
  check->add_option("--format", *format, "Output format (nagios, json)")->check(CLI::IsMember({"nagios", "json"}));
  CheckConnectionCmd(*check, g, format);
  CheckJetStreamCmd(*check, g, format);
  auto* report = cmd->add_subcommand("report", "Reports on the server's JetStream usage");
  report->require_subcommand(1);
  ReportJetStreamCmd(*report, g);
  RaftCmds(*cmd, g);
}

}  // namespace fjord::cli
