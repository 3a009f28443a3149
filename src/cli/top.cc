// `fjord top`: the busiest connections, refreshed, from the server's
// monitoring endpoint (/varz and /connz) as `nats top` shows them. HTTP goes
// through libcurl.
#include <curl/curl.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/table.h"

namespace fjord::cli {
namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET `url` and parse the JSON body; a transport error or a non-200 status
// fails the command with the reason.
Json GetJson(const std::string& url, int64_t timeout_ms) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) Fail("cannot initialise libcurl");
  std::string body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) Fail(fmt::format("cannot read {}: {}", url, curl_easy_strerror(rc)));
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) Fail(fmt::format("{} answered HTTP {}", url, status));
  auto j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) Fail(fmt::format("{} did not answer JSON", url));
  return j;
}

// http://<host of the first --server URL>:8222 unless --monitor is given.
std::string DefaultMonitorUrl(const GlobalOptions& g) {
  std::string s = g.servers.empty() ? "nats://127.0.0.1:4222" : SplitList(g.servers).front();
  if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
  if (auto at = s.rfind('@'); at != std::string::npos) s = s.substr(at + 1);
  std::string host = s;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  if (host.empty()) host = "127.0.0.1";
  return "http://" + host + ":8222";
}

}  // namespace

void AddTopCommand(CLI::App& app, GlobalOptions& g) {
  struct Opts {
    std::string monitor, sort = "msgs_to", delay = "2s";
    int conns = 10;
    int count = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("top", "Show the busiest connections, refreshed (reads the monitoring port)");
  cmd->add_option("--monitor", o->monitor, "Monitoring URL (default http://<server host>:8222)");
  cmd->add_option("-n,--conns", o->conns, "Connections to show")->check(CLI::Range(1, 100000));
  cmd->add_option("--sort", o->sort, "Order: msgs_to, msgs_from, bytes_to, bytes_from, subs, pending, cid, idle")
      ->check(CLI::IsMember({"msgs_to", "msgs_from", "bytes_to", "bytes_from", "subs", "pending", "cid", "idle"}));
  cmd->add_option("-d,--delay", o->delay, "Time between refreshes");
  cmd->add_option("--count", o->count, "Refreshes before exiting (default: until interrupted on a terminal, else 1)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_flag("-j,--json", o->json, "Print each refresh as one JSON line");
  cmd->callback([&g, o] {
    std::string base = o->monitor.empty() ? DefaultMonitorUrl(g) : o->monitor;
    while (!base.empty() && base.back() == '/') base.pop_back();
    int64_t delay_ms = std::max<int64_t>(100, ParseDuration(o->delay) / 1000000);
    bool tty = StdoutIsTty();
    int count = o->count > 0 ? o->count : (tty ? 0 : 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    // Previous totals per connection and for the server, for rates.
    std::map<int64_t, Json> prev;
    Json prev_varz;
    auto prev_at = std::chrono::steady_clock::now();
    for (int i = 0; count == 0 || i < count; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      Json varz = GetJson(base + "/varz", g.TimeoutMs());
      Json connz = GetJson(fmt::format("{}/connz?sort={}&limit={}", base, o->sort, o->conns), g.TimeoutMs());
      auto now = std::chrono::steady_clock::now();
      double dt = i == 0 ? 0 : std::chrono::duration<double>(now - prev_at).count();
      auto rate = [&](const Json& cur, const Json& before, const char* k) -> double {
        if (dt <= 0 || !before.is_object()) return 0;
        return std::max(0.0, double(cur.value(k, int64_t{0}) - before.value(k, int64_t{0})) / dt);
      };
      Json rows = Json::array();
      for (const auto& c : connz.value("connections", Json::array())) {
        int64_t cid = c.value("cid", int64_t{0});
        const Json& before = prev.count(cid) ? prev[cid] : Json();
        rows.push_back(Json{{"cid", cid},
                            {"name", c.value("name", "")},
                            {"host", fmt::format("{}:{}", c.value("ip", ""), c.value("port", 0))},
                            {"lang", c.value("lang", "")},
                            {"version", c.value("version", "")},
                            {"subs", c.value("subscriptions", int64_t{0})},
                            {"pending", c.value("pending_bytes", int64_t{0})},
                            {"msgs_to", c.value("out_msgs", int64_t{0})},
                            {"msgs_from", c.value("in_msgs", int64_t{0})},
                            {"bytes_to", c.value("out_bytes", int64_t{0})},
                            {"bytes_from", c.value("in_bytes", int64_t{0})},
                            {"msgs_to_rate", rate(c, before, "out_msgs")},
                            {"msgs_from_rate", rate(c, before, "in_msgs")},
                            {"uptime", c.value("uptime", "")},
                            {"last_activity", c.value("last_activity", "")}});
      }
      Json summary{{"server", varz.value("server_name", "")},
                   {"version", varz.value("version", "")},
                   {"uptime", varz.value("uptime", "")},
                   {"connections", varz.value("connections", int64_t{0})},
                   {"cpu", varz.value("cpu", 0.0)},
                   {"mem", varz.value("mem", int64_t{0})},
                   {"in_msgs_rate", rate(varz, prev_varz, "in_msgs")},
                   {"out_msgs_rate", rate(varz, prev_varz, "out_msgs")},
                   {"in_bytes_rate", rate(varz, prev_varz, "in_bytes")},
                   {"out_bytes_rate", rate(varz, prev_varz, "out_bytes")}};
      prev.clear();
      for (const auto& c : connz.value("connections", Json::array())) prev[c.value("cid", int64_t{0})] = c;
      prev_varz = varz;
      prev_at = now;
      if (o->json) {
        std::cout << Json{{"server", summary}, {"connections", rows}}.dump() << std::endl;
        continue;
      }
      if (tty) std::cout << "\033[H\033[2J";
      std::cout << fmt::format(
          "Server {} (nats-server {} compatible), up {}, {} connections, cpu {:.1f}%, memory {}\n"
          "In: {} msgs/s {}/s   Out: {} msgs/s {}/s\n\n",
          summary["server"].get<std::string>(), summary["version"].get<std::string>(),
          summary["uptime"].get<std::string>(), summary["connections"].get<int64_t>(),
          summary["cpu"].get<double>(), FormatBytes(summary["mem"].get<uint64_t>()),
          Commas(int64_t(summary["in_msgs_rate"].get<double>())),
          FormatBytes(uint64_t(summary["in_bytes_rate"].get<double>())),
          Commas(int64_t(summary["out_msgs_rate"].get<double>())),
          FormatBytes(uint64_t(summary["out_bytes_rate"].get<double>())));
      Table t;
      t.Header({"CID", "Name", "Host", "Client", "Subs", "Pending", "Msgs To", "Msgs From", "To/s", "From/s",
                "Bytes To", "Bytes From", "Uptime", "Last Activity"});
      for (const auto& r : rows) {
        t.Row({std::to_string(r["cid"].get<int64_t>()), r["name"], r["host"],
               fmt::format("{} {}", r["lang"].get<std::string>(), r["version"].get<std::string>()),
               Commas(r["subs"].get<int64_t>()), FormatBytes(r["pending"].get<uint64_t>()),
               Commas(r["msgs_to"].get<int64_t>()), Commas(r["msgs_from"].get<int64_t>()),
               Commas(int64_t(r["msgs_to_rate"].get<double>())),
               Commas(int64_t(r["msgs_from_rate"].get<double>())), FormatBytes(r["bytes_to"].get<uint64_t>()),
               FormatBytes(r["bytes_from"].get<uint64_t>()), r["uptime"], ShortTime(r["last_activity"])});
      }
      t.Print(std::cout);
      std::cout.flush();
    }
    curl_global_cleanup();
  });
}

}  // namespace fjord::cli
