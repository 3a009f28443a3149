#pragma once
// Shared pieces of the `fjord` CLI: global connection options, the NATS
// connection wrapper, raw `$JS.API` requests, error reporting, terminal
// detection and the parsers/formatters for durations and sizes that every
// command group uses.
//
// Errors: commands throw CliError; main() prints "fjord: error: <what>" on
// stderr and exits with the error's code (1 unless stated otherwise).
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nats/nats.h>
#include <nlohmann/json.hpp>

namespace CLI {
class App;
class Validator;
}

namespace fjord::cli {

// Keeps the key order the server sent, so `--json` shows its answer as is.
using Json = nlohmann::ordered_json;

class CliError : public std::runtime_error {
 public:
  explicit CliError(const std::string& what, int exit_code = 1)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

[[noreturn]] void Fail(const std::string& what);
// Fails with libnats' description of `s` (and its last error text).
[[noreturn]] void FailNats(const std::string& doing, natsStatus s);

// Options shared by every command, as the official `nats` CLI spells them.
struct GlobalOptions {
  std::string servers;
  std::string user;
  std::string password;
  std::string token;
  std::string nkey;  // file holding a user nkey seed ("SU…")
  std::string creds;  // a .creds file: user JWT and seed (operator mode)
  // TLS, as the nats CLI: any of them (or a tls:// URL) turns TLS on.
  std::string tls_cert, tls_key;  // client certificate and its key
  std::string tls_ca;             // CA that signed the server's certificate
  std::string timeout = "5s";
  std::string connection_name = "fjord";
  std::string js_domain;
  std::string js_api_prefix;

  int64_t TimeoutMs() const;
  // "$JS.API" unless a domain or prefix was given.
  std::string ApiPrefix() const;
};

// Adds the global flags (--server/-s, --user, ...) with their environment
// variables to the root app.
void AddGlobalFlags(CLI::App& app, GlobalOptions& opts);

// One connection to the server for the lifetime of a command.
struct MsgDeleterFwd {
  void operator()(natsMsg* m) const;
};
using MsgPtrOwned = std::unique_ptr<natsMsg, MsgDeleterFwd>;

struct NonceSigner;  // the user's key, for nonce signatures (common.cc)

class Conn {
 public:
  explicit Conn(const GlobalOptions& opts);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  natsConnection* nc() const { return nc_; }
  // The JetStream context, created on first use.
  jsCtx* js();
  const GlobalOptions& opts() const { return opts_; }

  // Sends `body` to `<api prefix>.<api>` and returns the parsed answer, with
  // the server's key order. An answer carrying "error" throws CliError with
  // the server's description and err_code.
  Json Api(const std::string& api, const Json& body = Json());
  // Like Api() but returns answers with "error" instead of throwing.
  Json ApiNoThrow(const std::string& api, const Json& body = Json());

  // Core request/reply returning the reply (caller owns); throws on timeout or
  // no responders.
  natsMsg* Request(const std::string& subject, const std::string& data);
  // Publishes `data` with a fresh inbox as reply and collects every answer
  // that arrives within `wait_ms` (or until `max` have come).
  std::vector<MsgPtrOwned> RequestMany(const std::string& subject, const std::string& data, int64_t wait_ms,
                                       size_t max);

 private:
  const GlobalOptions& opts_;
  natsOptions* nopts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::unique_ptr<NonceSigner> signer_;  // set for --nkey and --creds
};

// Owning pointer for libnats messages.
struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

// Prompts are allowed only when both stdin and stdout are terminals.
bool Interactive();
bool StdoutIsTty();
// Unsubscribes and parks the subscription until the connections are gone:
// libnats 3.4 (before nats.c#638) looks a message's subscription up, drops
// its lock, then locks the subscription, so freeing one while a late
// message is in flight (the other servers' answers to a scatter request)
// crashes its reader thread. Unsubscribing stops new deliveries at once.
void DropSubscription(natsSubscription* sub);
// Frees the parked subscriptions; call once every connection is destroyed
// (that joins the reader threads).
void FreeDroppedSubscriptions();

std::string Prompt(const std::string& question, const std::string& def = "");
bool Confirm(const std::string& question);
// Asks on a terminal; elsewhere (pipes, scripts) `--force` is required.
void RequireForce(bool force, const std::string& question);
// After a leader stepdown: polls `leader()` every 200 ms (up to twice
// --timeout, at least 10 s; a poll that fails is tried again) until it
// names a leader other than `before`, prints `New leader elected "<after>"
// (was "<before>")`, and fails with the last poll's error, or with `what`
// ("<before> still leads <what>") if none is elected. `window_ms` > 0
// bounds it instead (tests).
void WaitForNewLeader(const GlobalOptions& g, const std::string& before, const std::function<std::string()>& leader,
                      const std::string& what, int64_t window_ms = 0);
std::string ReadAllStdin();

// A whole number in [min, max] from user input; anything else fails with
// `invalid <what> "<s>": ...` rather than a C++ exception's text.
int64_t ParseInt(const std::string& s, const std::string& what, int64_t min = INT64_MIN,
                 int64_t max = INT64_MAX);
// Flag check for counts: a whole number >= min, in plain words when not.
CLI::Validator WholeNumber(int64_t min);

// Durations: Go-style "1h30m", "500ms", "2m", plus "d", "w", "M", "y"; "-1"
// and "0" mean unlimited (returns 0). Result in nanoseconds.
int64_t ParseDuration(const std::string& s);
std::string FormatDuration(int64_t ns);
// Sizes: "1024", "1K", "10MB", "1GiB"; "-1" means unlimited.
int64_t ParseSize(const std::string& s);
std::string FormatBytes(uint64_t bytes);
// 1234567 -> "1,234,567".
std::string Commas(int64_t n);
// RFC 3339 timestamp of now in UTC with nanoseconds, as the server writes them.
std::string NowRfc3339();
// "2026-11-26T03:55:02.573897955Z" -> "2026-11-26 03:55:02"; zero time -> "never".
std::string ShortTime(const std::string& rfc3339);

// Drops "user:password@" / "token@" from each URL of a (comma separated) list,
// so credentials never reach the output.
std::string RedactUrls(const std::string& urls);

std::vector<std::string> SplitList(const std::string& s, char sep = ',');
// Prints `j` indented, the way `--json` output looks everywhere.
void PrintJson(const Json& j);

// A 22-character random identifier in NUID's alphabet.
std::string NewNuid();

}  // namespace fjord::cli
