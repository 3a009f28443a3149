#include "monitor/monitor.h"

#include <pthread.h>

#include "leaf/leafnodes.h"

#include <unistd.h>

#include <algorithm>
#include <asio/ssl.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "base/base64.h"
#include "base/log.h"
#include "fjord_version.h"
#include "jetstream/consumer.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream.h"
#include "server/client.h"
#include "server/account.h"
#include "server/server.h"
#include "server/auth.h"
#include "server/sublist.h"
#include "monitor/console_html.h"
#include "monitor/prometheus.h"
#include "store/group_commit.h"

namespace fjord::monitor {
namespace {

using Json = nlohmann::ordered_json;
using SysClock = std::chrono::system_clock;

// Bounds for one HTTP exchange: monitoring requests are a line and a few
// headers; anything bigger or slower is not a monitoring tool.
constexpr size_t kMaxRequest = 16 * 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(10);
// How long /jsz waits for the JetStream thread's snapshot.
constexpr auto kJetStreamTimeout = std::chrono::seconds(5);

// Runs `fn(js)` on each account's JetStream thread (streams and consumers
// belong to it) and returns the results in order, or nullopt when one does
// not answer within kJetStreamTimeout. For the monitor's and the system
// account's threads, never an I/O one.
template <typename Fn>
auto OnEachJetStream(const std::vector<jetstream::JetStream*>& jss, Fn fn)
    -> std::optional<std::vector<decltype(fn(jss.front()))>> {
  using T = decltype(fn(jss.front()));
  std::vector<std::future<T>> futs;
  for (jetstream::JetStream* js : jss) {
    auto done = std::make_shared<std::promise<T>>();
    futs.push_back(done->get_future());
    asio::post(js->ctx(), [js, done, fn] { done->set_value(fn(js)); });
  }
  const auto deadline = std::chrono::steady_clock::now() + kJetStreamTimeout;
  std::vector<T> out;
  for (auto& f : futs) {
    if (f.wait_until(deadline) != std::future_status::ready) return std::nullopt;
    out.push_back(f.get());
  }
  return out;
}

Response JetStreamTimeout() { return {503, "text/plain; charset=utf-8", "JetStream did not answer in time\n"}; }

// nats-server's DefaultConnListSize and DefaultSubListSize.
constexpr int kDefaultConnLimit = 1024;
constexpr int kDefaultSubLimit = 1024;

// Go's net/http error for a bad parameter is the handler's text, status 400.
struct BadRequest {
  std::string text;
};

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// First value of each query parameter, as Go's URL.Query().Get.
std::map<std::string, std::string> ParseQuery(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view kv = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string key = UrlDecode(kv.substr(0, eq));
    std::string val = eq == std::string_view::npos ? std::string() : UrlDecode(kv.substr(eq + 1));
    out.emplace(std::move(key), std::move(val));
  }
  return out;
}

std::string Get(const std::map<std::string, std::string>& q, const std::string& k) {
  auto it = q.find(k);
  return it == q.end() ? std::string() : it->second;
}

// strconv.ParseBool, with nats-server's decodeBool error text.
bool DecodeBool(const std::map<std::string, std::string>& q, const std::string& k) {
  std::string v = Get(q, k);
  if (v.empty()) return false;
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") return false;
  throw BadRequest{"Error decoding boolean for '" + k + "': strconv.ParseBool: parsing \"" + v +
                   "\": invalid syntax"};
}

// strconv.Atoi, with nats-server's decodeInt error text.
int DecodeInt(const std::map<std::string, std::string>& q, const std::string& k) {
  std::string v = Get(q, k);
  if (v.empty()) return 0;
  size_t i = (v[0] == '-' || v[0] == '+') ? 1 : 0;
  bool ok = i < v.size() && v.size() - i <= 9 &&
            std::all_of(v.begin() + i, v.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!ok) {
    throw BadRequest{"Error decoding int for '" + k + "': strconv.Atoi: parsing \"" + v +
                     "\": invalid syntax"};
  }
  return std::stoi(v);
}

Response JsonResponse(const Json& j, int status = 200) {
  // nats-server marshals with two-space indentation.
  return {status, "application/json", j.dump(2)};
}

Response NotFound() { return {404, "text/plain; charset=utf-8", "404 page not found\n"}; }

// Resident set size in bytes, or nullopt where /proc is unreadable.
std::optional<int64_t> RssBytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (!(f >> size >> resident)) return std::nullopt;
  return resident * sysconf(_SC_PAGESIZE);
}

// User plus system CPU seconds of this process.
std::optional<double> CpuSeconds() {
  std::ifstream f("/proc/self/stat");
  std::string line;
  if (!std::getline(f, line)) return std::nullopt;
  // Fields after the command name, which is in parentheses and may hold spaces.
  size_t rp = line.rfind(')');
  if (rp == std::string::npos) return std::nullopt;
  std::istringstream in(line.substr(rp + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  if (!in) return std::nullopt;
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

const char* kIndexHtml = R"(<html lang="en">
	<head>
	<style type="text/css">
		body { font-family: ui-sans-serif,system-ui,-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif; font-size: 18; margin-left: 32px }
		a { display:block; margin-left: 7px; padding-bottom: 6px; color: rgb(72 72 92); text-decoration: none }
		a:hover { font-weight: 600; color: rgb(59 50 202) }
		a.last { padding-bottom: 16px }
	</style>
	</head>
	<body>
	<h1>Fjord {FJORD}</h1>
	<p>nats-server {NATS} compatible monitoring</p>
	<br/>
	<a href=.{BASE}/varz>General</a>
	<a href=.{BASE}/jsz>JetStream</a>
	<a href=.{BASE}/connz>Connections</a>
	<a href=.{BASE}/subsz>Subscriptions</a>
	<a href=.{BASE}/healthz>Health Probe</a>
	<a href=.{BASE}/metrics>Prometheus Metrics</a>
	<a href=.{BASE}/console class=last>Console</a>
  </body>
</html>
)";

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
}

const char* StatusText(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 401: return "Unauthorized";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// One subscription as /connz?subs=detail and (with its account)
// /subsz?subs=1 list it.
Json SubDetail(const server::Client::SubInfo& sub, uint64_t cid, const std::string& account) {
  Json d;
  if (!account.empty()) d["account"] = account;
  d["subject"] = sub.subject;
  if (!sub.queue.empty()) d["qgroup"] = sub.queue;
  d["sid"] = sub.sid;
  d["msgs"] = sub.msgs;
  d["cid"] = cid;
  return d;
}

}  // namespace

std::string FormatUptime(std::chrono::nanoseconds d) {
  int64_t tsecs = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (tsecs < 0) tsecs = 0;
  int64_t years = tsecs / (365 * 86400);
  int64_t days = tsecs / 86400 % 365;
  int64_t hours = tsecs / 3600 % 24;
  int64_t mins = tsecs / 60 % 60;
  int64_t secs = tsecs % 60;
  if (years > 0) return fmt::format("{}y{}d{}h{}m{}s", years, days, hours, mins, secs);
  if (days > 0) return fmt::format("{}d{}h{}m{}s", days, hours, mins, secs);
  if (hours > 0) return fmt::format("{}h{}m{}s", hours, mins, secs);
  if (mins > 0) return fmt::format("{}m{}s", mins, secs);
  return fmt::format("{}s", secs);
}

// A Go time.Duration's String() for whole milliseconds ("0s", "12ms",
// "1.5s"), as nats-server prints rtt.
std::string FormatGoDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms <= 0) return "0s";
  if (ms < 1000) return fmt::format("{}ms", ms);
  std::string s = fmt::format("{:.3f}", double(ms) / 1000.0);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s + "s";
}

std::string FormatTime(SysClock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  time_t secs = time_t(ns / 1000000000);
  int64_t frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (frac) {
    std::string f = fmt::format("{:09d}", frac);
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "Z";
}

// One HTTP/1.1 exchange: read a request head, answer, close.
class Monitor::Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(Monitor* m, asio::ip::tcp::socket s) : m_(m), socket_(std::move(s)), timer_(m->ctx_) {}

  void Start() {
    auto self = shared_from_this();
    timer_.expires_after(kRequestTimeout);
    timer_.async_wait([self](const asio::error_code& ec) {
      if (!ec) self->Close();
    });
    if (m_->opts_.tls) {
      // The stream keeps the context alive past a reload that replaces it.
      tls_ctx_ = m_->opts_.tls;
      tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls_ctx_);
      tls_->async_handshake(asio::ssl::stream_base::server, [self](const asio::error_code& ec) {
        if (ec) {
          log::Debug("monitor: TLS handshake error: {}", ec.message());
          self->Close();
          return;
        }
        self->ReadHead();
      });
      return;
    }
    ReadHead();
  }

 private:
  void ReadHead() {
    auto self = shared_from_this();
    auto done = [self](const asio::error_code& ec, size_t n) { self->OnHead(ec, n); };
    if (tls_) {
      asio::async_read_until(*tls_, asio::dynamic_buffer(in_, kMaxRequest), "\r\n\r\n", done);
    } else {
      asio::async_read_until(socket_, asio::dynamic_buffer(in_, kMaxRequest), "\r\n\r\n", done);
    }
  }

  void OnHead(const asio::error_code& ec, size_t n) {
    if (ec == asio::error::not_found) {  // head larger than kMaxRequest
      Reply({413, "text/plain; charset=utf-8", "request too large\n"}, true);
      return;
    }
    if (ec) {
      Close();
      return;
    }
    std::string_view head(in_.data(), n);
    std::string_view line = head.substr(0, head.find("\r\n"));
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 <= sp1 || line.substr(sp2 + 1).substr(0, 5) != "HTTP/") {
      Reply({400, "text/plain; charset=utf-8", "bad request\n"}, true);
      return;
    }
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (method != "GET" && method != "HEAD") {
      Reply({405, "text/plain; charset=utf-8", "method not allowed\n"}, true);
      return;
    }
    Reply(m_->Handle(target, HeaderValue(head, "authorization")), method == "GET");
  }

  // The value of header `name` (lower case) in a request head, trimmed.
  static std::string_view HeaderValue(std::string_view head, std::string_view name) {
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
      size_t start = pos + 2;
      size_t end = head.find("\r\n", start);
      std::string_view line = head.substr(start, end == std::string_view::npos ? end : end - start);
      size_t colon = line.find(':');
      if (colon == name.size()) {
        bool same = true;
        for (size_t i = 0; i < colon && same; ++i)
          same = std::tolower(static_cast<unsigned char>(line[i])) == name[i];
        if (same) {
          std::string_view v = line.substr(colon + 1);
          while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
          while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
          return v;
        }
      }
      pos = end;
    }
    return {};
  }

  void Reply(const Response& r, bool with_body) {
    out_ = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        r.status, StatusText(r.status), r.content_type, r.body.size(), r.extra_headers);
    if (with_body) out_ += r.body;
    auto self = shared_from_this();
    auto done = [self](const asio::error_code&, size_t) { self->Close(); };
    if (tls_) {
      asio::async_write(*tls_, asio::buffer(out_), done);
    } else {
      asio::async_write(socket_, asio::buffer(out_), done);
    }
  }

  void Close() {
    asio::error_code ec;
    timer_.cancel();
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  Monitor* m_;
  asio::ip::tcp::socket socket_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;  // HTTPS only: what tls_ uses
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  asio::steady_timer timer_;
  std::string in_;
  std::string out_;
};

Monitor::Monitor(server::Server* srv, std::vector<jetstream::JetStream*> js, Options opts)
    : srv_(srv), js_list_(std::move(js)), opts_(std::move(opts)) {
  NoteConfigLoaded();
  // Canonical base path: "" or "/x" (nats-server accepts "x", "/x", "/x/").
  std::string& b = opts_.base_path;
  while (!b.empty() && b.back() == '/') b.pop_back();
  if (!b.empty() && b.front() != '/') b.insert(b.begin(), '/');
}

Monitor::~Monitor() { Shutdown(); }

void Monitor::AddJetStream(jetstream::JetStream* js) {
  std::lock_guard lock(js_mu_);
  js_list_.push_back(js);
}

std::vector<jetstream::JetStream*> Monitor::JetStreams() const {
  std::lock_guard lock(js_mu_);
  return js_list_;
}

void Monitor::ReloadTls(std::shared_ptr<asio::ssl::context> tls) {
  if (!https_ || !tls) return;
  // opts_ belongs to the monitor's thread: swap it there.
  asio::post(ctx_, [this, tls = std::move(tls)]() mutable { opts_.tls = std::move(tls); });
}

void Monitor::NoteConfigLoaded() {
  config_load_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        SysClock::now().time_since_epoch())
                        .count();
}

std::string Monitor::Listen() {
  int port = opts_.port < 0 ? 0 : opts_.port;
  try {
    asio::ip::tcp::resolver resolver(ctx_);
    auto results =
        resolver.resolve(opts_.host, std::to_string(port), asio::ip::resolver_base::passive);
    asio::ip::tcp::endpoint ep = results.begin()->endpoint();
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    bound_port_ = acceptor_.local_endpoint().port();
  } catch (const std::exception& e) {
    // nats-server: "can't listen to the monitor port: listen tcp ...".
    return fmt::format("Can't listen to the monitor port: {}:{}, \"{}\"", opts_.host, port,
                       e.what());
  }
  log::Info("Starting {} monitor on {}:{}", opts_.tls ? "https" : "http", opts_.host, bound_port_);
  return {};
}

void Monitor::Serve() {
  {
    std::lock_guard lock(cpu_mu_);
    cpu_at_ = std::chrono::steady_clock::now();
    cpu_secs_ = CpuSeconds().value_or(0);
  }
  Accept();
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "fjord-http");
    ctx_.run();
  });
}

void Monitor::Shutdown() {
  if (!thread_.joinable()) return;
  asio::post(ctx_, [this] {
    asio::error_code ec;
    acceptor_.close(ec);
    ctx_.stop();
  });
  thread_.join();
}

void Monitor::Accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket s) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<Conn>(this, std::move(s))->Start();
    Accept();
  });
}

bool Monitor::Authorized(std::string_view authorization) const {
  if (opts_.auth_user.empty()) return true;
  constexpr std::string_view kBasic = "basic ";
  if (authorization.size() <= kBasic.size()) return false;
  for (size_t i = 0; i < kBasic.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kBasic[i]) return false;
  std::string_view b64 = authorization.substr(kBasic.size());
  if (b64.size() > 1024) return false;
  auto raw = base64::Decode(b64);
  if (!raw) return false;
  std::string_view cred(*raw);
  size_t colon = cred.find(':');
  if (colon == std::string_view::npos) return false;
  return cred.substr(0, colon) == opts_.auth_user &&
         server::PasswordMatches(opts_.auth_password, cred.substr(colon + 1));
}

Response Monitor::Handle(std::string_view target, std::string_view authorization) {
  size_t qpos = target.find('?');
  std::string path(target.substr(0, qpos));
  std::string query(qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1));
  if (!opts_.base_path.empty()) {
    if (path.compare(0, opts_.base_path.size(), opts_.base_path) != 0) return NotFound();
    path.erase(0, opts_.base_path.size());
    if (path.empty()) path = "/";
  }
  // nats-server counts the endpoints it serves, whatever the outcome.
  static const char* const kCounted[] = {"/",        "/varz",     "/connz",   "/subsz",
                                         "/subscriptionsz", "/jsz", "/healthz", "/metrics",
                                         "/console", "/accountz", "/accstatz", "/routez",
                                         "/leafz"};
  if (std::find_if(std::begin(kCounted), std::end(kCounted),
                   [&](const char* c) { return path == c; }) != std::end(kCounted)) {
    std::lock_guard lock(req_mu_);
    ++req_stats_[path];
  }
  // Probes stay open: /healthz says nothing but "ok".
  if (path != "/healthz" && !Authorized(authorization)) {
    return {401, "text/plain; charset=utf-8", "401 Unauthorized\n",
            "WWW-Authenticate: Basic realm=\"fjord monitoring\", charset=\"UTF-8\"\r\n"};
  }
  try {
    if (path == "/") {
      std::string html = kIndexHtml;
      ReplaceAll(html, "{FJORD}", kFjordVersion);
      ReplaceAll(html, "{NATS}", kNatsCompatVersion);
      ReplaceAll(html, "{BASE}", opts_.base_path);
      return {200, "text/html; charset=utf-8", html};
    }
    if (path == "/varz") return Varz();
    if (path == "/connz") return Connz(query);
    if (path == "/subsz" || path == "/subscriptionsz") return Subsz(query);
    if (path == "/jsz") return Jsz(query);
    if (path == "/healthz") return Healthz(query);
    if (path == "/metrics") return Metrics();
    if (path == "/accountz") return Accountz(query);
    if (path == "/accstatz") return Accstatz(query);
    if (path == "/routez") return Routez(query);
    if (path == "/leafz") return Leafz(query);
    if (path == "/console" || path == "/console/") {
      return {200, "text/html; charset=utf-8", kConsoleHtml};
    }
  } catch (const BadRequest& e) {
    return {400, "text/plain; charset=utf-8", e.text};
  }
  return NotFound();
}

Json Monitor::Query(std::string_view path, const std::string& query) {
  Response r;
  try {
    if (path == "/varz") r = Varz();
    else if (path == "/connz") r = Connz(query);
    else if (path == "/subsz") r = Subsz(query);
    else if (path == "/jsz") r = Jsz(query);
    else if (path == "/healthz") r = Healthz(query);
    else if (path == "/accountz") r = Accountz(query);
    else if (path == "/accstatz") r = Accstatz(query);
    else if (path == "/routez") r = Routez(query);
    else if (path == "/leafz") r = Leafz(query);
    else throw std::invalid_argument("unknown endpoint " + std::string(path));
  } catch (const BadRequest& e) {
    throw std::invalid_argument(e.text);
  }
  auto j = Json::parse(r.body, nullptr, false);
  if (j.is_discarded()) throw std::invalid_argument(r.body);
  return j;
}

Response Monitor::Accountz(const std::string& query) {
  auto q = ParseQuery(query);
  Json j;
  j["server_id"] = srv_->id();
  j["now"] = FormatTime(SysClock::now());
  j["system_account"] = opts_.system_account;
  std::string name = Get(q, "acc");
  if (name.empty()) {
    Json names = Json::array();
    for (server::Account* a : srv_->Accounts()) names.push_back(a->name());
    j["accounts"] = names;
    return JsonResponse(j);
  }
  server::Account* acc = srv_->LookupAccount(name);
  if (!acc) throw BadRequest{"Account " + name + " does not exist"};
  const auto& cfg = acc->config();
  Json d;
  d["account_name"] = name;
  d["update_time"] = FormatTime(srv_->start_time());
  d["is_system"] = name == opts_.system_account;
  d["expired"] = false;
  d["complete"] = true;
  bool js = false;
  for (auto* j2 : JetStreams()) js = js || j2->account() == acc;
  d["jetstream_enabled"] = js;
  d["leafnode_connections"] = leafs_ ? leafs_->count(acc) : 0;
  d["client_connections"] = acc->connections.load();
  d["subscriptions"] = acc->sublist().Count();
  Json exports = Json::array();
  for (const auto& e : cfg.stream_exports) {
    Json x = {{"subject", e.subject}, {"type", "stream"}};
    if (!e.accounts.empty()) x["approved_accounts"] = e.accounts;
    exports.push_back(x);
  }
  for (const auto& e : cfg.service_exports) {
    Json x = {{"subject", e.subject}, {"type", "service"},
              {"response_type", e.response == server::ResponseType::kSingleton ? "Singleton"
                                : e.response == server::ResponseType::kStream  ? "Stream"
                                                                               : "Chunked"}};
    if (!e.accounts.empty()) x["approved_accounts"] = e.accounts;
    exports.push_back(x);
  }
  if (!exports.empty()) d["exports"] = exports;
  Json imports = Json::array();
  for (const auto& i : cfg.stream_imports) {
    std::string local = !i.prefix.empty() ? i.prefix + "." + i.subject : !i.to.empty() ? i.to : i.subject;
    imports.push_back({{"subject", i.subject}, {"account", i.account}, {"local_subject", local},
                       {"type", "stream"}, {"invalid", false}});
  }
  for (const auto& i : cfg.service_imports) {
    imports.push_back({{"subject", i.subject}, {"account", i.account},
                       {"local_subject", i.to.empty() ? i.subject : i.to}, {"type", "service"},
                       {"invalid", false}});
  }
  if (!imports.empty()) d["imports"] = imports;
  j["account_detail"] = d;
  return JsonResponse(j);
}

Response Monitor::Accstatz(const std::string& query) {
  auto q = ParseQuery(query);
  bool include_unused = DecodeBool(q, "unused");
  std::vector<std::string> only;
  for (std::string list = Get(q, "accounts"); !list.empty();) {
    size_t comma = list.find(',');
    only.push_back(list.substr(0, comma));
    list = comma == std::string::npos ? "" : list.substr(comma + 1);
  }
  struct Traffic {
    uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
  };
  std::map<server::Account*, Traffic> open;
  for (auto& c : srv_->Clients()) {
    auto s = c->GetStats(false);
    Traffic& t = open[c->account()];
    t.in_msgs += s.in_msgs;
    t.in_bytes += s.in_bytes;
    t.out_msgs += s.out_msgs;
    t.out_bytes += s.out_bytes;
  }
  Json list = Json::array();
  for (server::Account* a : srv_->Accounts()) {
    if (!only.empty() && std::find(only.begin(), only.end(), a->name()) == only.end()) continue;
    int64_t conns = a->connections.load();
    if (conns == 0 && !include_unused && only.empty()) continue;
    Traffic t = open[a];
    Json e;
    e["acc"] = a->name();
    e["conns"] = conns;
    const size_t leafnodes = leafs_ ? leafs_->count(a) : 0;
    e["leafnodes"] = leafnodes;
    e["total_conns"] = conns + int64_t(leafnodes);
    e["num_subscriptions"] = a->sublist().Count();
    // Seen from the server, as nats-server counts them: what the account's
    // clients received is what the server sent.
    e["sent"] = {{"msgs", t.out_msgs + a->closed_out_msgs.load()}, {"bytes", t.out_bytes + a->closed_out_bytes.load()}};
    e["received"] = {{"msgs", t.in_msgs + a->closed_in_msgs.load()}, {"bytes", t.in_bytes + a->closed_in_bytes.load()}};
    e["slow_consumers"] = 0;
    list.push_back(e);
  }
  Json j;
  j["server_id"] = srv_->id();
  j["now"] = FormatTime(SysClock::now());
  j["account_statz"] = list;
  return JsonResponse(j);
}

double Monitor::CpuPercent() {
  std::lock_guard lock(cpu_mu_);
  auto now = std::chrono::steady_clock::now();
  double wall = std::chrono::duration<double>(now - cpu_at_).count();
  auto cpu = CpuSeconds();
  if (!cpu || wall <= 0) return 0;
  double pct = (*cpu - cpu_secs_) / wall * 100;
  // A new window only after a second, so two quick requests do not divide
  // a few ticks by a few milliseconds.
  if (wall >= 1) {
    cpu_at_ = now;
    cpu_secs_ = *cpu;
  }
  return std::max(0.0, std::round(pct * 100) / 100);
}

Response Monitor::Varz() { return JsonResponse(VarzJson()); }

Json Monitor::VarzJson() {
  auto cfg = srv_->config();
  auto now = SysClock::now();
  auto clients = srv_->Clients();
  auto& st = srv_->stats();
  auto traffic = srv_->TrafficTotals();
  uint64_t in_msgs = traffic.in_msgs, in_bytes = traffic.in_bytes;
  uint64_t out_msgs = traffic.out_msgs, out_bytes = traffic.out_bytes;
  auto ns = [](int64_t ms) { return ms * 1000000; };
  Json j;
  j["server_id"] = srv_->id();
  j["server_name"] = cfg->server_name;
  j["version"] = kNatsCompatVersion;
  j["proto"] = 1;
  j["go"] = fmt::format("fjord{}", kFjordVersion);  // as in INFO
  j["host"] = cfg->host;
  j["port"] = srv_->bound_port();
  if (server::AuthRequired(*cfg)) j["auth_required"] = true;
  j["max_connections"] = cfg->max_connections;
  j["ping_interval"] = ns(cfg->ping_interval_ms);
  j["ping_max"] = cfg->ping_max;
  j["http_host"] = opts_.host;
  j["http_port"] = bound_port_;
  j["http_base_path"] = opts_.base_path;
  j["https_port"] = opts_.https_port;
  j["auth_timeout"] = double(cfg->auth_timeout_ms) / 1000;
  j["max_control_line"] = cfg->max_control_line;
  j["max_payload"] = cfg->max_payload;
  j["max_pending"] = cfg->max_pending;
  {
    Json c = Json::object();
    if (cfg->cluster.enabled) {
      // What nats-server shows: the configured routes' host:port.
      c["name"] = ClusterName();
      c["addr"] = cfg->cluster.host;
      c["cluster_port"] = cluster_port_ ? cluster_port_() : cfg->cluster.port;
      c["auth_timeout"] = double(cfg->cluster.auth_timeout_ms) / 1000;
      Json urls = Json::array();
      for (const auto& u : cfg->cluster.routes) {
        std::string_view v = u;
        if (auto p = v.find("://"); p != std::string_view::npos) v.remove_prefix(p + 3);
        if (auto at = v.rfind('@'); at != std::string_view::npos) v.remove_prefix(at + 1);
        while (!v.empty() && v.back() == '/') v.remove_suffix(1);
        urls.push_back(std::string(v));
      }
      c["urls"] = urls;
      c["tls_timeout"] = 2.0;
    }
    j["cluster"] = c;
  }
  if (cfg->cluster.enabled && !cfg->cluster.no_advertise) j["connect_urls"] = srv_->ClientUrls();
  j["gateway"] = Json::object();
  Json lf = Json::object();
  if (leafs_ && (leafs_->options().listen || !leafs_->options().remotes.empty())) {
    // nats-server's LeafNodeOptsVarz (omitempty fields left out).
    const auto& lo = leafs_->options();
    if (lo.listen) {
      lf["host"] = lo.host;
      lf["port"] = leafs_->bound_port();
      lf["auth_timeout"] = double(lo.auth_timeout_ms > 0 ? lo.auth_timeout_ms : 2000) / 1000.0;
      if (lo.tls) {
        lf["tls_timeout"] = double(lo.tls_timeout_ms) / 1000.0;
        lf["tls_required"] = true;
        lf["tls_verify"] = lo.tls_verify;
      }
    }
    if (!lo.remotes.empty()) {
      Json rs = Json::array();
      for (const auto& r : lo.remotes) {
        Json urls = Json::array();
        for (const auto& u : r.urls) {
          // Without credentials, as nats-server shows them.
          std::string_view v = u;
          if (auto p = v.find("://"); p != std::string_view::npos) v.remove_prefix(p + 3);
          if (auto at = v.rfind('@'); at != std::string_view::npos) v.remove_prefix(at + 1);
          urls.push_back(std::string(v));
        }
        rs.push_back({{"local_account", r.account.empty() ? "$G" : r.account}, {"urls", urls}});
      }
      lf["remotes"] = rs;
    }
  }
  j["leaf"] = lf;
  j["mqtt"] = Json::object();
  Json ws = Json::object();
  if (const auto& w = cfg->websocket; w.enabled) {
    // nats-server's WebsocketOptsVarz (its omitempty fields left out).
    ws["host"] = w.host;
    ws["port"] = srv_->websocket_port();
    if (!w.no_auth_user.empty()) ws["no_auth_user"] = w.no_auth_user;
    if (!w.jwt_cookie.empty()) ws["jwt_cookie"] = w.jwt_cookie;
    ws["handshake_timeout"] = w.handshake_timeout_ms * 1000000;
    if (w.auth_timeout_ms > 0) ws["auth_timeout"] = double(w.auth_timeout_ms) / 1000.0;
    if (!w.tls) ws["no_tls"] = true;
    if (w.tls_map) ws["tls_map"] = true;
    if (!w.tls_pinned.empty()) ws["tls_pinned_certs"] = w.tls_pinned;
    if (w.same_origin) ws["same_origin"] = true;
    if (!w.allowed_origins.empty()) ws["allowed_origins"] = w.allowed_origins;
    if (w.compression) ws["compression"] = true;
  }
  j["websocket"] = ws;
  Json jsj = Json::object();
  if (!JetStreams().empty()) {
    Json c;
    c["max_memory"] = opts_.js_max_memory;
    c["max_storage"] = opts_.js_max_store;
    c["store_dir"] = opts_.js_store_dir;
    if (!cfg->jetstream_domain.empty()) c["domain"] = cfg->jetstream_domain;
    jsj["config"] = c;
    // Usage lives on the JetStream thread; /jsz has it exactly. The stats
    // here come from the same snapshot, without the per-stream walk.
    auto snap = Jsz("", true);
    if (snap.status == 200) {
      Json s = Json::parse(snap.body);
      Json stats;
      for (const char* k : {"memory", "storage", "reserved_memory", "reserved_storage",
                            "accounts", "ha_assets", "api"}) {
        if (s.contains(k)) stats[k] = s[k];
      }
      jsj["stats"] = stats;
    }
  }
  j["jetstream"] = jsj;
  if (cfg->tls && !cfg->allow_non_tls) j["tls_required"] = true;
  if (cfg->tls && cfg->tls_verify) j["tls_verify"] = true;
  // Seconds, as nats-server shows it (its default of 2 without TLS too).
  j["tls_timeout"] = cfg->tls ? double(cfg->tls_timeout_ms) / 1000 : 2.0;
  j["write_deadline"] = ns(cfg->write_deadline_ms);
  j["start"] = FormatTime(srv_->start_time());
  j["now"] = FormatTime(now);
  j["uptime"] = FormatUptime(now - srv_->start_time());
  if (auto rss = RssBytes()) j["mem"] = *rss;
  j["cores"] = std::max(1u, std::thread::hardware_concurrency());
  // Go's GOMAXPROCS is how many threads run the server's work; Fjord's
  // counterpart is its I/O threads.
  j["gomaxprocs"] = cfg->io_threads > 0 ? unsigned(cfg->io_threads) : j["cores"].get<unsigned>();
  j["cpu"] = CpuPercent();
  j["connections"] = clients.size();
  j["total_connections"] = st.total_connections.load();
  const size_t routes = srv_->Routes().size();
  j["routes"] = routes;
  j["remotes"] = routes;
  j["leafnodes"] = leafs_ ? leafs_->count() : 0;
  j["in_msgs"] = in_msgs;
  j["out_msgs"] = out_msgs;
  j["in_bytes"] = in_bytes;
  j["out_bytes"] = out_bytes;
  j["slow_consumers"] = st.slow_consumers.load();
  size_t nsubs = 0;
  for (server::Account* acc : srv_->Accounts()) nsubs += acc->sublist().Count();
  j["subscriptions"] = nsubs;
  {
    std::lock_guard lock(req_mu_);
    j["http_req_stats"] = req_stats_;
  }
  j["config_load_time"] =
      FormatTime(SysClock::time_point(std::chrono::duration_cast<SysClock::duration>(
          std::chrono::nanoseconds(config_load_ns_.load()))));
  if (!opts_.tags.empty()) j["tags"] = opts_.tags;
  if (!opts_.system_account.empty()) j["system_account"] = opts_.system_account;
  return j;
}

Response Monitor::Connz(const std::string& query) {
  auto q = ParseQuery(query);
  std::string subs_opt = Get(q, "subs");
  bool detail = subs_opt == "detail";
  bool subs = detail || DecodeBool(q, "subs");
  int offset = std::max(0, DecodeInt(q, "offset"));
  int limit = DecodeInt(q, "limit");
  if (limit <= 0) limit = kDefaultConnLimit;
  std::string sort = Get(q, "sort");
  if (sort.empty()) sort = "cid";
  static const std::vector<std::string> kSorts = {
      "cid", "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to", "bytes_from",
      "last", "idle", "uptime", "rtt", "stop", "reason"};
  if (std::find(kSorts.begin(), kSorts.end(), sort) == kSorts.end()) {
    throw BadRequest{"invalid sorting option: " + sort};
  }
  std::string state = Get(q, "state");
  if (!state.empty() && state != "open" && state != "closed" && state != "all" && state != "any") {
    throw BadRequest{"Error decoding state: " + state};
  }
  // Fjord keeps no record of closed connections.
  if (sort == "stop" || sort == "reason") {
    throw BadRequest{"invalid sorting option: " + sort + " (Fjord keeps no closed connections)"};
  }
  uint64_t only_cid = 0;
  if (auto c = Get(q, "cid"); !c.empty()) only_cid = uint64_t(std::max(0, DecodeInt(q, "cid")));
  bool auth = DecodeBool(q, "auth");
  std::string only_acc = Get(q, "acc");

  auto now = SysClock::now();
  std::vector<server::Client::Stats> conns;
  if (state != "closed") {
    for (auto& c : srv_->Clients()) {
      if (only_cid && c->cid() != only_cid) continue;
      if (!only_acc.empty() && c->account()->name() != only_acc) continue;
      conns.push_back(c->GetStats(subs));
    }
  }
  using S = server::Client::Stats;
  auto by = [&](auto key, bool desc) {
    std::stable_sort(conns.begin(), conns.end(), [&](const S& a, const S& b) {
      auto ka = key(a), kb = key(b);
      if (ka != kb) return desc ? kb < ka : ka < kb;
      return a.cid < b.cid;
    });
  };
  // nats-server: cid and start ascending, everything else largest first.
  // Fjord measures no RTT, so "rtt" keeps cid order.
  if (sort == "cid" || sort == "rtt") by([](const S& s) { return s.cid; }, false);
  else if (sort == "start") by([](const S& s) { return s.start; }, false);
  else if (sort == "subs") by([](const S& s) { return s.num_subs; }, true);
  else if (sort == "pending") by([](const S& s) { return s.pending_bytes; }, true);
  else if (sort == "msgs_to") by([](const S& s) { return s.out_msgs; }, true);
  else if (sort == "msgs_from") by([](const S& s) { return s.in_msgs; }, true);
  else if (sort == "bytes_to") by([](const S& s) { return s.out_bytes; }, true);
  else if (sort == "bytes_from") by([](const S& s) { return s.in_bytes; }, true);
  else if (sort == "last") by([](const S& s) { return s.last_activity; }, true);
  else if (sort == "idle") by([](const S& s) { return s.last_activity; }, false);
  else if (sort == "uptime") by([](const S& s) { return s.start; }, false);

  Json list = Json::array();
  size_t total = conns.size();
  for (size_t i = size_t(offset); i < total && list.size() < size_t(limit); ++i) {
    const S& s = conns[i];
    Json c;
    c["cid"] = s.cid;
    c["kind"] = "Client";
    c["type"] = "nats";
    c["ip"] = s.ip;
    c["port"] = s.port;
    c["start"] = FormatTime(s.start);
    c["last_activity"] = FormatTime(s.last_activity);
    c["uptime"] = FormatUptime(now - s.start);
    c["idle"] = FormatUptime(now - s.last_activity);
    c["pending_bytes"] = s.pending_bytes;
    c["in_msgs"] = s.in_msgs;
    c["out_msgs"] = s.out_msgs;
    c["in_bytes"] = s.in_bytes;
    c["out_bytes"] = s.out_bytes;
    c["subscriptions"] = s.num_subs;
    if (!s.name.empty()) c["name"] = s.name;
    if (!s.lang.empty()) c["lang"] = s.lang;
    if (!s.version.empty()) c["version"] = s.version;
    if (auth || !only_acc.empty()) c["account"] = s.account;
    if (subs && !s.subs.empty()) {
      Json sl = Json::array();
      for (const auto& sub : s.subs) {
        if (!detail) {
          sl.push_back(sub.subject);
          continue;
        }
        sl.push_back(SubDetail(sub, s.cid, ""));
      }
      c[detail ? "subscriptions_list_detail" : "subscriptions_list"] = sl;
    }
    list.push_back(c);
  }
  Json j;
  j["server_id"] = srv_->id();
  j["now"] = FormatTime(now);
  j["num_connections"] = list.size();
  j["total"] = total;
  j["offset"] = offset;
  j["limit"] = limit;
  j["connections"] = list;
  return JsonResponse(j);
}

Response Monitor::Subsz(const std::string& query) { return JsonResponse(SubszJson(query)); }

std::string Monitor::ClusterName() const { return cluster_name_ ? cluster_name_() : srv_->config()->cluster.name; }

Response Monitor::Routez(const std::string& query) {
  auto q = ParseQuery(query);
  bool subs = DecodeBool(q, "subs");
  auto now = SysClock::now();
  auto routes = srv_->Routes(subs);
  Json j;
  j["server_id"] = srv_->id();
  j["server_name"] = srv_->config()->server_name;
  j["now"] = FormatTime(now);
  j["num_routes"] = routes.size();
  Json list = Json::array();
  for (const auto& r : routes) {
    Json e;
    e["rid"] = r.rid;
    e["remote_id"] = r.remote_id;
    e["remote_name"] = r.remote_name;
    e["did_solicit"] = r.did_solicit;
    e["is_configured"] = r.is_configured;
    e["ip"] = r.ip;
    e["port"] = r.port;
    e["start"] = FormatTime(r.start);
    e["last_activity"] = FormatTime(r.last_activity);
    e["uptime"] = FormatUptime(now - r.start);
    e["idle"] = FormatUptime(now - r.last_activity);
    e["pending_size"] = r.pending_bytes;
    e["in_msgs"] = r.in_msgs;
    e["out_msgs"] = r.out_msgs;
    e["in_bytes"] = r.in_bytes;
    e["out_bytes"] = r.out_bytes;
    e["subscriptions"] = r.num_subs;
    if (subs) {
      // nats-server lists the subjects only (no account, no queue group).
      Json sl = Json::array();
      for (const auto& k : r.subs) {
        std::string_view v = k;
        if (auto sp = v.find(' '); sp != std::string_view::npos) v.remove_prefix(sp + 1);
        sl.push_back(std::string(v.substr(0, v.find(' '))));
      }
      e["subscriptions_list"] = sl;
    }
    list.push_back(e);
  }
  j["routes"] = list;
  return JsonResponse(j);
}

Response Monitor::Leafz(const std::string& query) {
  auto q = ParseQuery(query);
  bool subs = DecodeBool(q, "subs");
  std::string acc = q.count("acc") ? q["acc"] : std::string();
  auto leafs = leafs_ ? leafs_->Leafz(subs) : std::vector<leaf::LeafInfo>{};
  if (!acc.empty()) std::erase_if(leafs, [&](const leaf::LeafInfo& l) { return l.account != acc; });
  Json j;
  j["server_id"] = srv_->id();
  j["now"] = FormatTime(SysClock::now());
  j["leafnodes"] = leafs.size();
  Json list = Json::array();
  for (const auto& l : leafs) {
    // nats-server's LeafInfo.
    Json e;
    e["name"] = l.name;
    e["is_spoke"] = l.is_spoke;
    e["account"] = l.account;
    e["ip"] = l.ip;
    e["port"] = l.port;
    e["rtt"] = FormatGoDuration(l.rtt);
    e["in_msgs"] = l.in_msgs;
    e["out_msgs"] = l.out_msgs;
    e["in_bytes"] = l.in_bytes;
    e["out_bytes"] = l.out_bytes;
    e["subscriptions"] = l.subscriptions;
    if (subs) {
      Json sl = Json::array();
      for (const auto& k : l.subscriptions_list) sl.push_back(k.substr(0, k.find(' ')));
      e["subscriptions_list"] = sl;
    }
    list.push_back(e);
  }
  j["leafs"] = list;
  return JsonResponse(j);
}

Json Monitor::SubszJson(const std::string& query) {
  auto q = ParseQuery(query);
  bool subs = DecodeBool(q, "subs");
  int offset = std::max(0, DecodeInt(q, "offset"));
  int limit = DecodeInt(q, "limit");
  if (limit <= 0) limit = kDefaultSubLimit;
  Json j;
  if (subs) {
    j["server_id"] = srv_->id();
    j["now"] = FormatTime(SysClock::now());
  }
  // Over every account's index; hit rate and fan-out weighted by matches.
  server::SublistStats st;
  double hits = 0, fanout = 0;
  uint64_t computed = 0;
  for (server::Account* acc : srv_->Accounts()) {
    auto a = acc->sublist().Stats();
    st.num_subscriptions += a.num_subscriptions;
    st.num_cache += a.num_cache;
    st.num_inserts += a.num_inserts;
    st.num_removes += a.num_removes;
    st.num_matches += a.num_matches;
    hits += a.cache_hit_rate * double(a.num_matches);
    st.max_fanout = std::max(st.max_fanout, a.max_fanout);
    uint64_t misses = a.num_matches - uint64_t(a.cache_hit_rate * double(a.num_matches) + 0.5);
    fanout += a.avg_fanout * double(misses);
    computed += misses;
  }
  st.cache_hit_rate = st.num_matches ? hits / double(st.num_matches) : 0;
  st.avg_fanout = computed ? fanout / double(computed) : 0;
  j["num_subscriptions"] = st.num_subscriptions;
  j["num_cache"] = st.num_cache;
  j["num_inserts"] = st.num_inserts;
  j["num_removes"] = st.num_removes;
  j["num_matches"] = st.num_matches;
  j["cache_hit_rate"] = st.cache_hit_rate;
  j["max_fanout"] = st.max_fanout;
  j["avg_fanout"] = st.avg_fanout;
  if (subs) {
    // Client subscriptions only: internal (JetStream) ones have no
    // connection, account or sid to show.
    Json list = Json::array();
    size_t total = 0;
    for (auto& c : srv_->Clients()) {
      auto s = c->GetStats(true);
      for (const auto& sub : s.subs) {
        if (total++ < size_t(offset) || list.size() >= size_t(limit)) continue;
        list.push_back(SubDetail(sub, s.cid, s.account));
      }
    }
    j["total"] = total;
    j["offset"] = offset;
    j["limit"] = limit;
    j["subscriptions_list"] = list;
  }
  return j;
}

Response Monitor::Jsz(const std::string& query, bool usage_only) {
  auto q = ParseQuery(query);
  bool consumers = DecodeBool(q, "consumers");
  bool streams = consumers || DecodeBool(q, "streams");
  bool accounts = streams || DecodeBool(q, "accounts");
  bool config = DecodeBool(q, "config");
  Json j;
  j["server_id"] = srv_->id();
  j["now"] = FormatTime(SysClock::now());
  const auto jss = JetStreams();
  if (jss.empty()) {
    j["disabled"] = true;
    j["config"] = {{"max_memory", 0}, {"max_storage", 0}};
    for (const char* k : {"memory", "storage", "reserved_memory", "reserved_storage", "accounts",
                          "ha_assets"})
      j[k] = 0;
    j["api"] = {{"total", 0}, {"errors", 0}};
    for (const char* k : {"streams", "consumers", "messages", "bytes"}) j[k] = 0;
    return JsonResponse(j);
  }
  Json c;
  c["max_memory"] = opts_.js_max_memory;
  c["max_storage"] = opts_.js_max_store;
  c["store_dir"] = opts_.js_store_dir;
  if (auto d = srv_->config()->jetstream_domain; !d.empty()) c["domain"] = d;
  j["config"] = c;
  if (meta_info_) j["meta_cluster"] = meta_info_();

  // Streams and consumers belong to each account's JetStream thread: build
  // the rest there and wait for it here (on the monitor's thread, never an
  // I/O one).
  auto results = OnEachJetStream(jss, [streams, consumers, config, usage_only](jetstream::JetStream* js) {
    Json r;
    uint64_t messages = 0, bytes = 0;
    Json details = Json::array();
    for (auto& [name, s] : js->streams()) {
      if (usage_only) break;
      auto st = s->store().State();
      messages += st.msgs;
      bytes += st.bytes;
      if (!streams) continue;
      Json info = s->InfoJson();
      Json d;
      d["name"] = name;
      d["created"] = info["created"];
      if (config) d["config"] = info["config"];
      d["state"] = info["state"];
      if (consumers) {
        Json cl = Json::array();
        for (auto& [cname, con] : s->consumers()) {
          Json ci = con->InfoJson();
          ci.erase("ts");
          if (!config) ci.erase("config");
          cl.push_back(ci);
        }
        if (!cl.empty()) d["consumer_detail"] = cl;
      }
      details.push_back(d);
    }
    r["account"] = js->account()->name();
    r["memory"] = js->MemoryUsed();
    r["storage"] = js->StoreUsed();
    r["api"] = {{"total", js->api_total()}, {"errors", js->api_errors()}};
    r["streams"] = js->streams().size();
    r["consumers"] = js->ConsumerCount();
    r["messages"] = messages;
    r["bytes"] = bytes;
    r["stream_detail"] = details;
    return r;
  });
  if (!results) return JetStreamTimeout();
  uint64_t memory = 0, storage = 0, api_total = 0, api_errors = 0, nstreams = 0, nconsumers = 0,
           messages = 0, bytes = 0;
  Json details = Json::array();
  for (Json& r : *results) {
    memory += r["memory"].get<uint64_t>();
    storage += r["storage"].get<uint64_t>();
    api_total += r["api"]["total"].get<uint64_t>();
    api_errors += r["api"]["errors"].get<uint64_t>();
    nstreams += r["streams"].get<uint64_t>();
    nconsumers += r["consumers"].get<uint64_t>();
    messages += r["messages"].get<uint64_t>();
    bytes += r["bytes"].get<uint64_t>();
    if (accounts) {
      // Reservations are nats-server's "no reservation" (math.MaxUint64):
      // account limits cap usage, they do not set space aside.
      Json a;
      a["name"] = r["account"];
      a["id"] = r["account"];
      a["memory"] = r["memory"];
      a["storage"] = r["storage"];
      a["reserved_memory"] = UINT64_MAX;
      a["reserved_storage"] = UINT64_MAX;
      a["accounts"] = 0;
      a["ha_assets"] = 0;
      a["api"] = r["api"];
      if (streams && !r["stream_detail"].empty()) a["stream_detail"] = r["stream_detail"];
      details.push_back(a);
    }
  }
  j["memory"] = memory;
  j["storage"] = storage;
  j["reserved_memory"] = 0;
  j["reserved_storage"] = 0;
  j["accounts"] = jss.size();
  j["ha_assets"] = 0;
  j["api"] = {{"total", api_total}, {"errors", api_errors}};
  j["streams"] = nstreams;
  j["consumers"] = nconsumers;
  j["messages"] = messages;
  j["bytes"] = bytes;
  if (accounts) j["account_details"] = details;
  return JsonResponse(j);
}

Response Monitor::Healthz(const std::string& query) {
  auto q = ParseQuery(query);
  // As nats-server: js-enabled-only checks only that JetStream is on,
  // js-server-only leaves out the streams (here: their replicas).
  bool enabled_only = DecodeBool(q, "js-enabled-only");
  bool server_only = DecodeBool(q, "js-server-only");
  DecodeBool(q, "js-enabled");
  if (opts_.jetstream && JetStreams().empty()) {
    return JsonResponse({{"status", "unavailable"}, {"error", "JetStream not enabled"}}, 503);
  }
  if (enabled_only) return {200, "application/json", R"({"status":"ok"})"};
  if (meta_has_leader_ && !meta_has_leader_()) {
    return JsonResponse({{"status", "unavailable"}, {"error", "JetStream has not established contact with a meta leader"}},
                        503);
  }
  // A meta member still catching up does not vote, and a replica behind
  // its leader cannot take over without losing recent messages: a rolling
  // restart waits for them (nats-server's checks too; js-server-only leaves
  // out the replicas).
  if (not_current_) {
    if (std::string why = not_current_(!server_only); !why.empty())
      return JsonResponse({{"status", "unavailable"}, {"error", why}}, 503);
  }
  // nats-server writes this one compactly.
  return {200, "application/json", R"({"status":"ok"})"};
}

namespace {

// What /metrics reads of one stream and its consumers, copied on the
// JetStream thread (in-memory counters only: no store is walked).
struct StreamSample {
  std::string account, name;
  uint64_t msgs = 0, bytes = 0, first_seq = 0, last_seq = 0, consumers = 0;
  uint64_t published = 0, duplicates = 0, damaged = 0;
};
struct ConsumerSample {
  std::string account, stream, name, desc, created;
  uint64_t delivered_cseq = 0, delivered_sseq = 0, ack_floor_cseq = 0, ack_floor_sseq = 0;
  uint64_t num_ack_pending = 0, num_redelivered = 0, num_waiting = 0, num_pending = 0;
};

// prometheus-nats-exporter's generic collector: every numeric top-level
// field of an endpoint becomes `gnatsd_<endpoint>_<field>{server_id}`.
void ExporterGauges(PromWriter& w, const std::string& endpoint, const Json& j,
                    const std::string& server_id) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number()) continue;
    std::string name = "gnatsd_" + endpoint + "_" + it.key();
    w.Family(name, "gauge", it.key());
    w.Sample(name, {{"server_id", server_id}}, it.value().get<double>());
  }
}

}  // namespace

Response Monitor::Metrics() {
  PromWriter w;
  std::string id = srv_->id();
  auto cfg = srv_->config();
  Json varz = VarzJson();
  ExporterGauges(w, "varz", varz, id);
  for (const char* k : {"server_name", "version"}) {
    std::string name = std::string("gnatsd_varz_") + k;
    w.Family(name, "gauge", k);
    w.Sample(name, {{"server_id", id}, {"value", varz.value(k, "")}}, 1);
  }
  ExporterGauges(w, "subsz", SubszJson(""), id);

  w.Family("fjord_info", "gauge", "Fjord's version and the nats-server version it is compatible with");
  w.Sample("fjord_info", {{"server_id", id}, {"version", kFjordVersion}, {"nats_version", kNatsCompatVersion}}, 1);
  Labels server{{"server_id", id}, {"server_name", cfg->server_name}};
  w.Histogram("fjord_store_fsync_seconds", "Duration of each fsync the group commits ran (streams and consumer state)",
              server, store::FsyncLatency().Read());

  const auto jss = JetStreams();
  if (jss.empty()) {
    w.Family("jetstream_server_jetstream_disabled", "gauge", "JetStream disabled or not");
    w.Sample("jetstream_server_jetstream_disabled",
             {{"server_id", id}, {"server_name", cfg->server_name}, {"cluster", ""}, {"domain", ""},
              {"meta_leader", ""}, {"is_meta_leader", "true"}},
             1);
    return {200, PromWriter::kContentType, w.text()};
  }

  struct Snapshot {
    std::vector<StreamSample> streams;
    std::vector<ConsumerSample> consumers;
    uint64_t memory = 0, storage = 0, api_total = 0, api_errors = 0, consumer_count = 0;
  };
  auto results = OnEachJetStream(jss, [](jetstream::JetStream* js) {
    Snapshot r;
    const std::string& acc = js->account()->name();
    for (auto& [name, s] : js->streams()) {
      auto st = s->store().State();
      StreamSample ss;
      ss.account = acc;
      ss.name = name;
      ss.msgs = st.msgs;
      ss.bytes = st.bytes;
      ss.first_seq = st.first_seq;
      ss.last_seq = st.last_seq;
      ss.consumers = s->consumers().size();
      ss.published = s->published();
      ss.duplicates = s->duplicates();
      ss.damaged = s->damaged_count();
      r.streams.push_back(std::move(ss));
      for (auto& [cname, con] : s->consumers()) {
        auto n = con->GetNumbers();
        ConsumerSample c;
        c.account = acc;
        c.stream = name;
        c.name = cname;
        c.desc = con->config().description;
        c.created = FormatTime(SysClock::time_point(std::chrono::duration_cast<SysClock::duration>(
            std::chrono::nanoseconds(con->created()))));
        c.delivered_cseq = n.delivered_consumer_seq;
        c.delivered_sseq = n.delivered_stream_seq;
        c.ack_floor_cseq = n.ack_floor_consumer_seq;
        c.ack_floor_sseq = n.ack_floor_stream_seq;
        c.num_ack_pending = n.num_ack_pending;
        c.num_redelivered = n.num_redelivered;
        c.num_waiting = n.num_waiting;
        c.num_pending = n.num_pending;
        r.consumers.push_back(std::move(c));
      }
    }
    r.memory = js->MemoryUsed();
    r.storage = js->StoreUsed();
    r.api_total = js->api_total();
    r.api_errors = js->api_errors();
    r.consumer_count = js->ConsumerCount();
    return r;
  });
  if (!results) return JetStreamTimeout();
  Snapshot snap;
  base::LatencyHistogram::Snapshot publish_ack, api_latency;
  for (size_t i = 0; i < results->size(); ++i) {
    const Snapshot& r = (*results)[i];
    snap.streams.insert(snap.streams.end(), r.streams.begin(), r.streams.end());
    snap.consumers.insert(snap.consumers.end(), r.consumers.begin(), r.consumers.end());
    snap.memory += r.memory;
    snap.storage += r.storage;
    snap.api_total += r.api_total;
    snap.api_errors += r.api_errors;
    snap.consumer_count += r.consumer_count;
    publish_ack += jss[i]->metrics().publish_ack.Read();
    api_latency += jss[i]->metrics().api.Read();
  }

  // prometheus-nats-exporter's JetStream collector: its names and labels
  // (a single server is its own meta, stream and consumer leader).
  Labels srv_labels{{"server_id", id},  {"server_name", cfg->server_name},
                    {"cluster", ""},    {"domain", cfg->jetstream_domain},
                    {"meta_leader", ""}, {"is_meta_leader", "true"}};
  auto gauge = [&](const char* name, const char* help, const Labels& l, double v) {
    w.Family(name, "gauge", help);
    w.Sample(name, l, v);
  };
  gauge("jetstream_server_jetstream_disabled", "JetStream disabled or not", srv_labels, 0);
  gauge("jetstream_server_max_memory", "JetStream Max Memory", srv_labels, double(opts_.js_max_memory));
  gauge("jetstream_server_max_storage", "JetStream Max Storage", srv_labels, double(opts_.js_max_store));
  gauge("jetstream_server_total_streams", "Total number of streams in JetStream", srv_labels,
        double(snap.streams.size()));
  gauge("jetstream_server_total_consumers", "Total number of consumers in JetStream", srv_labels,
        double(snap.consumer_count));
  uint64_t msgs = 0, bytes = 0;
  for (const auto& s : snap.streams) {
    msgs += s.msgs;
    bytes += s.bytes;
  }
  gauge("jetstream_server_total_messages", "Total number of stored messages in JetStream", srv_labels, double(msgs));
  gauge("jetstream_server_total_message_bytes", "Total number of bytes stored in JetStream", srv_labels,
        double(bytes));

  auto stream_labels = [&](const std::string& account, const std::string& stream) {
    Labels l = srv_labels;
    l.insert(l.end(), {{"account", account}, {"account_id", account}, {"stream_name", stream},
                       {"stream_leader", ""}, {"is_stream_leader", "true"}});
    return l;
  };
  struct StreamMetric {
    const char* name;
    const char* type;
    const char* help;
    uint64_t StreamSample::*field;
  };
  static const StreamMetric kStream[] = {
      {"jetstream_stream_total_messages", "gauge", "Total number of messages from a stream", &StreamSample::msgs},
      {"jetstream_stream_total_bytes", "gauge", "Total stored bytes from a stream", &StreamSample::bytes},
      {"jetstream_stream_first_seq", "gauge", "First sequence from a stream", &StreamSample::first_seq},
      {"jetstream_stream_last_seq", "gauge", "Last sequence from a stream", &StreamSample::last_seq},
      {"jetstream_stream_consumer_count", "gauge", "Total number of consumers from a stream",
       &StreamSample::consumers},
      {"fjord_stream_published_messages_total", "counter",
       "Publishes stored by the stream since the server started (its rate is the publish rate)",
       &StreamSample::published},
      {"fjord_stream_duplicate_messages_total", "counter",
       "Publishes answered as duplicates of a msg id in the duplicate window since the server started",
       &StreamSample::duplicates},
      {"fjord_stream_damaged_messages", "gauge",
       "Messages this replica holds but cannot read (a record failing its checksum, found by a read or the scrub) and "
       "has not repaired",
       &StreamSample::damaged},
  };
  for (const auto& m : kStream) {
    w.Family(m.name, m.type, m.help);
    for (const auto& s : snap.streams) w.Sample(m.name, stream_labels(s.account, s.name), double(s.*m.field));
  }

  struct ConsumerMetric {
    const char* name;
    const char* help;
    uint64_t ConsumerSample::*field;
  };
  static const ConsumerMetric kConsumer[] = {
      {"jetstream_consumer_delivered_consumer_seq", "Latest sequence number of a stream consumer",
       &ConsumerSample::delivered_cseq},
      {"jetstream_consumer_delivered_stream_seq", "Latest sequence number of a stream",
       &ConsumerSample::delivered_sseq},
      {"jetstream_consumer_num_ack_pending", "Number of pending acks from a consumer",
       &ConsumerSample::num_ack_pending},
      {"jetstream_consumer_num_redelivered", "Number of redelivered messages from a consumer",
       &ConsumerSample::num_redelivered},
      {"jetstream_consumer_num_waiting", "Number of inflight fetch requests from a pull consumer",
       &ConsumerSample::num_waiting},
      {"jetstream_consumer_num_pending", "Number of pending messages from a consumer",
       &ConsumerSample::num_pending},
      {"jetstream_consumer_ack_floor_stream_seq", "Number of ack floor stream seq from a consumer",
       &ConsumerSample::ack_floor_sseq},
      {"jetstream_consumer_ack_floor_consumer_seq", "Number of ack floor consumer seq from a consumer",
       &ConsumerSample::ack_floor_cseq},
  };
  std::vector<Labels> clabels;
  clabels.reserve(snap.consumers.size());
  for (const auto& c : snap.consumers) {
    Labels l = stream_labels(c.account, c.stream);
    l.insert(l.end(), {{"consumer_name", c.name}, {"consumer_leader", ""}, {"is_consumer_leader", "true"},
                       {"consumer_desc", c.desc}, {"consumer_created", c.created}});
    clabels.push_back(std::move(l));
  }
  for (const auto& m : kConsumer) {
    w.Family(m.name, "gauge", m.help);
    for (size_t i = 0; i < snap.consumers.size(); ++i)
      w.Sample(m.name, clabels[i], double(snap.consumers[i].*m.field));
  }

  gauge("fjord_jetstream_memory_bytes", "Bytes used by memory streams", server, double(snap.memory));
  gauge("fjord_jetstream_storage_bytes", "Bytes used by file streams", server, double(snap.storage));
  w.Family("fjord_jetstream_api_requests_total", "counter", "JetStream API requests served");
  w.Sample("fjord_jetstream_api_requests_total", server, double(snap.api_total));
  w.Family("fjord_jetstream_api_errors_total", "counter", "JetStream API requests answered with an error");
  w.Sample("fjord_jetstream_api_errors_total", server, double(snap.api_errors));
  w.Histogram("fjord_jetstream_publish_ack_seconds",
              "A JetStream publish's arrival to its PubAck leaving, fsync included", server,
              publish_ack);
  w.Histogram("fjord_jetstream_api_request_seconds",
              "A JetStream API request's arrival to the end of its handling", server,
              api_latency);
  return {200, PromWriter::kContentType, w.text()};
}

}  // namespace fjord::monitor
