#include "cli/common.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <thread>
#include <iterator>
#include <mutex>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "jwt/jwt.h"
#include "nkeys/nkeys.h"

namespace fjord::cli {

void Fail(const std::string& what) { throw CliError(what); }

void FailNats(const std::string& doing, natsStatus s) {
  std::string text = s == NATS_NO_SERVER ? "no servers available for connection" : natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0' && s != NATS_NO_SERVER) {
    // libnats prefixes its messages with "(file.c:line): ".
    std::string detail = last;
    if (detail.front() == '(') {
      size_t end = detail.find("): ");
      if (end != std::string::npos) detail = detail.substr(end + 3);
    }
    if (s == NATS_ERR || s == NATS_NOT_FOUND) text = detail;
    else if (detail != text && !detail.empty()) text += " (" + detail + ")";
  }
  Fail(doing + ": " + text);
}

int64_t GlobalOptions::TimeoutMs() const {
  int64_t ns = ParseDuration(timeout);
  return ns <= 0 ? 5000 : std::max<int64_t>(1, ns / 1000000);
}

std::string GlobalOptions::ApiPrefix() const {
  if (!js_api_prefix.empty()) return js_api_prefix;
  if (!js_domain.empty()) return "$JS." + js_domain + ".API";
  return "$JS.API";
}

void AddGlobalFlags(CLI::App& app, GlobalOptions& o) {
  const char* group = "Connection";
  app.add_option("-s,--server", o.servers, "NATS server urls (comma separated)")
      ->envname("NATS_URL")
      ->group(group);
  app.add_option("--user", o.user, "Username or token")->envname("NATS_USER")->group(group);
  app.add_option("--password", o.password, "Password")->envname("NATS_PASSWORD")->group(group);
  app.add_option("--token", o.token, "Token")->envname("NATS_TOKEN")->group(group);
  app.add_option("--nkey", o.nkey, "User NKEY seed file (signs the server's nonce)")
      ->envname("NATS_NKEY")
      ->group(group);
  app.add_option("--creds", o.creds, "User credentials file (JWT and seed, operator mode)")
      ->envname("NATS_CREDS")
      ->group(group);
  app.add_option("--tlscert", o.tls_cert, "TLS client certificate file")
      ->envname("NATS_CERT")
      ->group(group);
  app.add_option("--tlskey", o.tls_key, "TLS client private key file")
      ->envname("NATS_KEY")
      ->group(group);
  app.add_option("--tlsca", o.tls_ca, "TLS certificate authority chain file")
      ->envname("NATS_CA")
      ->group(group);
  app.add_option("--timeout", o.timeout, "Time to wait on responses from NATS")
      ->envname("NATS_TIMEOUT")
      ->default_str("5s")
      ->group(group);
  app.add_option("--connection-name", o.connection_name, "Name of the NATS connection")
      ->group(group);
  app.add_option("--js-domain", o.js_domain, "JetStream domain to access")->group(group);
  app.add_option("--js-api-prefix", o.js_api_prefix, "Subject prefix for the JetStream API")
      ->group(group);
}

// The user's key and (for --creds) JWT, for libnats' callbacks.
struct NonceSigner {
  nkeys::Seed seed;
  std::string jwt;
  bool unsendable = false;  // the last signature started with a zero byte
};

namespace {

char* Dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

natsStatus UserJwt(char** jwt, char** err, void* closure) {
  *jwt = Dup(static_cast<NonceSigner*>(closure)->jwt);
  (void)err;
  return *jwt != nullptr ? NATS_OK : NATS_NO_MEMORY;
}

// We sign the nonce ourselves (rather than natsOptions_SetNKeyFromSeed or
// SetUserCredentialsFromFiles) because libnats 3.4 (Debian bookworm) then
// base64-encodes the signature as a C string: one whose first byte is zero,
// one nonce in 256, goes out empty and the server refuses the connection
// (fixed upstream in nats.c 3.8.0). Such a signature is refused here instead,
// and Conn connects again: the server sends a new nonce.
natsStatus SignNonce(char** err, unsigned char** sig, int* len, const char* nonce, void* closure) {
  auto* signer = static_cast<NonceSigner*>(closure);
  std::string raw = nkeys::Sign(signer->seed, nonce);
  if (raw.size() != 64) {
    *err = Dup("cannot sign the server's nonce");
    return NATS_ERR;
  }
  if (raw[0] == '\0') {
    signer->unsendable = true;
    *err = Dup("the signature of this server's nonce cannot be sent by libnats 3.4");
    return NATS_ERR;
  }
  *sig = reinterpret_cast<unsigned char*>(Dup(raw));
  if (*sig == nullptr) return NATS_NO_MEMORY;
  *len = 64;
  return NATS_OK;
}

}  // namespace

Conn::Conn(const GlobalOptions& opts) : opts_(opts) {
  natsStatus s = natsOptions_Create(&nopts_);
  if (s != NATS_OK) FailNats("could not create connection options", s);
  std::string servers = opts.servers.empty() ? "nats://127.0.0.1:4222" : opts.servers;
  std::vector<std::string> urls = SplitList(servers);
  std::vector<const char*> url_ptrs;
  for (const auto& u : urls) url_ptrs.push_back(u.c_str());
  s = natsOptions_SetServers(nopts_, url_ptrs.data(), static_cast<int>(url_ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(nopts_, true);
  if (s != NATS_OK) FailNats("invalid server url \"" + RedactUrls(servers) + "\"", s);
  if (!opts.user.empty() && opts.password.empty() && opts.token.empty()) {
    // As in nats: a user without a password is a token.
    s = natsOptions_SetToken(nopts_, opts.user.c_str());
  } else if (!opts.user.empty()) {
    s = natsOptions_SetUserInfo(nopts_, opts.user.c_str(), opts.password.c_str());
  }
  if (s == NATS_OK && !opts.token.empty()) s = natsOptions_SetToken(nopts_, opts.token.c_str());
  if (s == NATS_OK && !opts.nkey.empty()) {
    std::ifstream in(opts.nkey);
    if (!in) Fail("cannot read the nkey seed file " + opts.nkey);
    std::string word, seed_text;
    while (in >> word)
      if (word.size() == 58 && word[0] == 'S') seed_text = word;
    auto seed = nkeys::DecodeSeed(seed_text);
    if (!seed || seed->role != nkeys::Role::kUser) Fail("no user nkey seed (SU...) in " + opts.nkey);
    signer_ = std::make_unique<NonceSigner>(NonceSigner{*seed, {}});
    // libnats wants the public key too: derived from the seed, so a file
    // holding only the seed is enough.
    std::string pub = nkeys::EncodePublic(seed->public_key, nkeys::Role::kUser);
    s = natsOptions_SetNKey(nopts_, pub.c_str(), SignNonce, signer_.get());
  }
  if (s == NATS_OK && !opts.creds.empty()) {
    std::ifstream in(opts.creds);
    if (!in) Fail("cannot read the credentials file " + opts.creds);
    std::stringstream text;
    text << in.rdbuf();
    auto creds = jwt::ParseCreds(text.str());
    auto seed = creds ? nkeys::DecodeSeed(creds->seed) : std::nullopt;
    if (!creds || !seed || seed->role != nkeys::Role::kUser)
      Fail("cannot use the credentials file " + opts.creds + ": no user JWT and user nkey seed in it");
    signer_ = std::make_unique<NonceSigner>(NonceSigner{*seed, creds->jwt});
    s = natsOptions_SetUserCredentialsCallbacks(nopts_, UserJwt, signer_.get(), SignNonce, signer_.get());
    if (s != NATS_OK) FailNats("cannot use the credentials file " + opts.creds, s);
  }
  if (s == NATS_OK && (!opts.tls_ca.empty() || !opts.tls_cert.empty())) {
    s = natsOptions_SetSecure(nopts_, true);
    if (s == NATS_OK && !opts.tls_ca.empty()) {
      s = natsOptions_LoadCATrustedCertificates(nopts_, opts.tls_ca.c_str());
      if (s != NATS_OK) FailNats("cannot load the CA file " + opts.tls_ca, s);
    }
    if (s == NATS_OK && !opts.tls_cert.empty()) {
      s = natsOptions_LoadCertificatesChain(nopts_, opts.tls_cert.c_str(), opts.tls_key.c_str());
      if (s != NATS_OK) FailNats("cannot load the client certificate " + opts.tls_cert, s);
    }
  }
  if (s == NATS_OK) s = natsOptions_SetTimeout(nopts_, opts.TimeoutMs());
  if (s == NATS_OK) s = natsOptions_SetName(nopts_, opts.connection_name.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nopts_, 0);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(nopts_, false);
  if (s != NATS_OK) FailNats("invalid connection options", s);
  for (int attempt = 1;; ++attempt) {
    if (signer_) signer_->unsendable = false;
    s = natsConnection_Connect(&nc_, nopts_);
    // A new connection brings a new nonce: 2^-64 that all eight are unlucky.
    if (s == NATS_OK || !signer_ || !signer_->unsendable || attempt == 8) break;
  }
  if (s != NATS_OK) {
    natsOptions_Destroy(nopts_);
    nopts_ = nullptr;
    FailNats("could not connect to " + RedactUrls(servers), s);
  }
}

Conn::~Conn() {
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) {
    natsConnection_FlushTimeout(nc_, 1000);
    natsConnection_Destroy(nc_);
  }
  if (nopts_ != nullptr) natsOptions_Destroy(nopts_);
}

jsCtx* Conn::js() {
  if (js_ != nullptr) return js_;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = opts_.TimeoutMs();
  std::string prefix = opts_.ApiPrefix();
  jo.Prefix = prefix.c_str();
  natsStatus s = natsConnection_JetStream(&js_, nc_, &jo);
  if (s != NATS_OK) FailNats("could not create a JetStream context", s);
  return js_;
}

void MsgDeleterFwd::operator()(natsMsg* m) const { natsMsg_Destroy(m); }

namespace {
std::mutex dropped_mu;
std::vector<natsSubscription*> dropped;
}  // namespace

void DropSubscription(natsSubscription* sub) {
  if (sub == nullptr) return;
  natsSubscription_Unsubscribe(sub);
  std::lock_guard lock(dropped_mu);
  dropped.push_back(sub);
}

void FreeDroppedSubscriptions() {
  std::lock_guard lock(dropped_mu);
  for (natsSubscription* sub : dropped) natsSubscription_Destroy(sub);
  dropped.clear();
}

std::vector<MsgPtrOwned> Conn::RequestMany(const std::string& subject, const std::string& data, int64_t wait_ms,
                                           size_t max) {
  natsInbox* inbox = nullptr;
  natsSubscription* sub = nullptr;
  std::vector<MsgPtrOwned> out;
  natsStatus s = natsInbox_Create(&inbox);
  if (s == NATS_OK) s = natsConnection_SubscribeSync(&sub, nc_, inbox);
  if (s == NATS_OK) s = natsConnection_PublishRequest(nc_, subject.c_str(), inbox, data.data(), int(data.size()));
  if (s != NATS_OK) {
    DropSubscription(sub);
    natsInbox_Destroy(inbox);
    FailNats("request to " + subject + " failed", s);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (out.size() < max) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    natsMsg* m = nullptr;
    if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK) break;
    // A 503 status (no responders) ends the wait: nobody will answer.
    const char* status = nullptr;
    if (natsMsg_GetDataLength(m) == 0 && natsMsgHeader_Get(m, "Status", &status) == NATS_OK && status &&
        std::string(status) == "503") {
      natsMsg_Destroy(m);
      break;
    }
    out.emplace_back(m);
  }
  DropSubscription(sub);
  natsInbox_Destroy(inbox);
  return out;
}

natsMsg* Conn::Request(const std::string& subject, const std::string& data) {
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, nc_, subject.c_str(), data.data(),
                                        static_cast<int>(data.size()), opts_.TimeoutMs());
  if (s == NATS_TIMEOUT) Fail("timeout waiting for a response on " + subject);
  if (s == NATS_NO_RESPONDERS) Fail("no responders available for request on " + subject);
  if (s != NATS_OK) FailNats("request on " + subject + " failed", s);
  return reply;
}

Json Conn::ApiNoThrow(const std::string& api, const Json& body) {
  std::string subject = opts_.ApiPrefix() + "." + api;
  std::string data = body.is_null() ? "" : body.dump();
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, nc_, subject.c_str(), data.data(),
                                        static_cast<int>(data.size()), opts_.TimeoutMs());
  if (s == NATS_NO_RESPONDERS) {
    Fail("JetStream not enabled (no responders on " + subject + ")");
  }
  if (s == NATS_TIMEOUT) Fail("timeout waiting for a JetStream API response on " + subject);
  if (s != NATS_OK) FailNats("JetStream API request " + subject + " failed", s);
  MsgPtr msg(reply);
  std::string raw(natsMsg_GetData(reply), natsMsg_GetDataLength(reply));
  try {
    return Json::parse(raw);
  } catch (const std::exception&) {
    Fail("invalid JSON response on " + subject + ": " + raw);
  }
}

Json Conn::Api(const std::string& api, const Json& body) {
  Json j = ApiNoThrow(api, body);
  if (j.contains("error")) {
    const Json& e = j["error"];
    std::string desc = e.value("description", std::string("unknown error"));
    if (e.contains("err_code")) desc += fmt::format(" ({})", e["err_code"].get<int64_t>());
    Fail(desc);
  }
  return j;
}

bool StdoutIsTty() { return isatty(STDOUT_FILENO) == 1; }
bool Interactive() { return isatty(STDIN_FILENO) == 1 && StdoutIsTty(); }

std::string Prompt(const std::string& question, const std::string& def) {
  if (!Interactive()) Fail(question + ": input required, but not running on a terminal");
  std::cout << "? " << question;
  if (!def.empty()) std::cout << " (" << def << ")";
  std::cout << " " << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) Fail("no input for: " + question);
  return line.empty() ? def : line;
}

bool Confirm(const std::string& question) {
  std::string a = Prompt(question + " [y/N]");
  return a == "y" || a == "Y" || a == "yes";
}

void RequireForce(bool force, const std::string& question) {
  if (force) return;
  if (!Interactive()) Fail("--force is required when not running interactively");
  if (!Confirm(question)) Fail("aborted");
}

void WaitForNewLeader(const GlobalOptions& g, const std::string& before, const std::function<std::string()>& leader,
                      const std::string& what, int64_t window_ms) {
  // Elected within a few heartbeats. A poll that goes unanswered (the
  // election under way) is tried again, as `nats` does, within the bound.
  if (window_ms <= 0) window_ms = 2 * std::max<int64_t>(g.TimeoutMs(), 5000);
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(window_ms);
  std::string after, failed;
  while (std::chrono::steady_clock::now() < end) {
    try {
      after = leader();
      failed.clear();
    } catch (const CliError& e) {
      after.clear();
      failed = e.what();
    }
    if (!after.empty() && after != before) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!failed.empty()) Fail(failed);
  if (after.empty() || after == before) Fail(fmt::format("{} still leads {}", before, what));
  std::cout << fmt::format("New leader elected \"{}\" (was \"{}\")\n", after, before);
}

std::string ReadAllStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

int64_t ParseInt(const std::string& s, const std::string& what, int64_t min, int64_t max) {
  int64_t v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec == std::errc::invalid_argument || ptr != end) {
    Fail(fmt::format("invalid {} \"{}\": a whole number is expected", what, s));
  }
  if (ec == std::errc::result_out_of_range) {
    Fail(fmt::format("invalid {} \"{}\": too {}", what, s, s[0] == '-' ? "small" : "large"));
  }
  if (v < min || v > max) {
    if (max == INT64_MAX) Fail(fmt::format("invalid {} \"{}\": must be at least {}", what, s, min));
    Fail(fmt::format("invalid {} \"{}\": must be between {} and {}", what, s, min, max));
  }
  return v;
}

CLI::Validator WholeNumber(int64_t min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        try {
          ParseInt(s, "number", min);
        } catch (const CliError&) {
          return fmt::format("\"{}\" is not a whole number of at least {}", s, min);
        }
        return "";
      },
      fmt::format("INT>={}", min));
}

// The digits of a duration or size; std::stod alone would throw its own
// name ("stod") at input like ".".
static double ParseDecimal(const std::string& digits, const std::string& what, const std::string& in) {
  if (digits.find_first_of("0123456789") == std::string::npos || digits.find('.') != digits.rfind('.')) {
    Fail(fmt::format("invalid {} \"{}\"", what, in));
  }
  return std::stod(digits);
}

int64_t ParseDuration(const std::string& in) {
  std::string s = in;
  if (s.empty() || s == "0" || s == "-1" || s == "unlimited" || s == "never") return 0;
  double total = 0;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i = 1;
  }
  bool any = false;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) i++;
    if (start == i) Fail("invalid duration \"" + in + "\"");
    double v = ParseDecimal(s.substr(start, i - start), "duration", in);
    size_t ustart = i;
    while (i < s.size() && !isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') i++;
    std::string unit = s.substr(ustart, i - ustart);
    double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "µs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else if (unit == "d") mult = 86400e9;
    else if (unit == "w") mult = 7 * 86400e9;
    else if (unit == "M") mult = 30 * 86400e9;
    else if (unit == "y") mult = 365 * 86400e9;
    else Fail("invalid duration \"" + in + "\" (use units like 500ms, 10s, 5m, 2h, 1d)");
    total += v * mult;
    any = true;
  }
  if (!any) Fail("invalid duration \"" + in + "\"");
  if (neg) Fail("invalid duration \"" + in + "\": negative");
  return static_cast<int64_t>(std::llround(total));
}

std::string FormatDuration(int64_t ns) {
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  uint64_t u = ns < 0 ? static_cast<uint64_t>(-ns) : static_cast<uint64_t>(ns);
  auto trim = [](std::string v) {
    if (v.find('.') != std::string::npos) {
      while (v.back() == '0') v.pop_back();
      if (v.back() == '.') v.pop_back();
    }
    return v;
  };
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + trim(fmt::format("{:.3f}", u / 1e3)) + "µs";
  if (u < 1000000000) return sign + trim(fmt::format("{:.6f}", u / 1e6)) + "ms";
  uint64_t secs = u / 1000000000, frac = u % 1000000000;
  std::string out = sign;
  if (secs >= 86400) {
    out += std::to_string(secs / 86400) + "d";
    secs %= 86400;
  }
  if (out.size() > sign.size() || secs >= 3600) out += std::to_string(secs / 3600) + "h";
  secs %= 3600;
  if (out.size() > sign.size() || secs >= 60) out += std::to_string(secs / 60) + "m";
  secs %= 60;
  std::string s = std::to_string(secs);
  if (frac != 0) s = trim(fmt::format("{}.{:09d}", secs, frac));
  return out + s + "s";
}

int64_t ParseSize(const std::string& in) {
  if (in.empty() || in == "-1" || in == "unlimited") return -1;
  size_t i = 0;
  while (i < in.size() && (isdigit(static_cast<unsigned char>(in[i])) || in[i] == '.')) i++;
  if (i == 0) Fail("invalid size \"" + in + "\"");
  double v = ParseDecimal(in.substr(0, i), "size", in);
  std::string unit = in.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  for (auto& c : unit) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  double mult;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") mult = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TB" || unit == "TIB") mult = 1024.0 * 1024 * 1024 * 1024;
  else Fail("invalid size \"" + in + "\" (use e.g. 1024, 10KB, 5MB, 1GB)");
  return static_cast<int64_t>(std::llround(v * mult));
}

std::string FormatBytes(uint64_t b) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (b < 1024) return std::to_string(b) + " B";
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

std::string Commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string NowRfc3339() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09d}Z", buf, ns % 1000000000);
}

std::string ShortTime(const std::string& t) {
  if (t.empty() || t.rfind("0001-01-01", 0) == 0) return "never";
  if (t.size() < 19) return t;
  return t.substr(0, 10) + " " + t.substr(11, 8);
}

std::string RedactUrls(const std::string& urls) {
  std::string out;
  for (const auto& u : SplitList(urls)) {
    std::string v = u;
    size_t scheme = v.find("://");
    size_t host = scheme == std::string::npos ? 0 : scheme + 3;
    size_t at = v.find('@', host);
    if (at != std::string::npos) v.erase(host, at + 1 - host);
    out += (out.empty() ? "" : ",") + v;
  }
  return out;
}

std::vector<std::string> SplitList(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(start, end - start);
    while (!item.empty() && isspace(static_cast<unsigned char>(item.front()))) item.erase(0, 1);
    while (!item.empty() && isspace(static_cast<unsigned char>(item.back()))) item.pop_back();
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

void PrintJson(const Json& j) { std::cout << j.dump(2) << std::endl; }

std::string NewNuid() {
  static const char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string out(22, '0');
  for (auto& c : out) c = kAlphabet[rng() % 62];
  return out;
}

}  // namespace fjord::cli
