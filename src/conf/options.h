#pragma once
// Server options: nats-server's defaults, overlaid with a nats.conf file
// (conf.h) and then with nats-server-style command-line flags.
//
// Option names, aliases, units and error texts follow nats-server 2.9.10;
// docs/configuration.md lists what Fjord supports and where it differs.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "conf/conf.h"
#include "fjord_version.h"
#include "tls/options.h"

namespace fjord::conf {

// The nats-server release Fjord advertises (INFO `version`, `--version`);
// defined once, in fjord_version.h.
using fjord::kNatsCompatVersion;

using Duration = std::chrono::nanoseconds;

// One direction (publish or subscribe) of a user's permissions. Deny wins
// over allow; an empty allow list with a non-empty deny list allows
// everything not denied.
struct SubjectPermission {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
};

// `allow_responses`: the user may publish to reply subjects of requests it
// received, at most `max_msgs` replies each within `expires`.
struct ResponsePermission {
  int max_msgs = 1;
  Duration expires = std::chrono::minutes(2);
};

struct Permissions {
  std::optional<SubjectPermission> publish;    // nullopt: publish unrestricted
  std::optional<SubjectPermission> subscribe;  // nullopt: subscribe unrestricted
  std::optional<ResponsePermission> allow_responses;
};

struct User {
  std::string username;  // empty for nkey users
  std::string password;  // plain text, or a bcrypt hash starting with "$2"
  std::string nkey;      // public user nkey ("U..."); empty for user/password users
  // nullopt: AuthOptions::default_permissions apply.
  std::optional<Permissions> permissions;
  // e.g. "STANDARD", "WEBSOCKET"; empty means any.
  std::vector<std::string> allowed_connection_types;
  std::string account;  // empty: the global account "$G"
};

// One source of `mappings { }` (top level: the global account; or an
// account's): where its messages go, each destination with a weight in
// percent (the rest keep their subject).
struct MappingDest {
  std::string subject;
  int weight = 100;
};
struct Mapping {
  std::string source;
  std::vector<MappingDest> dests;
};

// One entry of an account's `exports`.
struct AccountExport {
  bool service = false;  // else a stream
  std::string subject;
  std::vector<std::string> accounts;   // who may import; empty = anyone
  std::string response_type = "singleton";  // services: singleton, stream, chunked
  Duration response_threshold = std::chrono::minutes(2);
};

// One entry of an account's `imports`.
struct AccountImport {
  bool service = false;
  std::string account;  // the exporter
  std::string subject;  // in the exporter
  std::string prefix;   // streams only
  std::string to;
};

// `jetstream` inside an account: enabled, with optional limits (-1 none).
struct AccountJetStream {
  bool enabled = false;
  int64_t max_memory = -1;
  int64_t max_store = -1;
  int64_t max_streams = -1;
  int64_t max_consumers = -1;
};

struct AccountOptions {
  std::string name;
  std::vector<AccountExport> exports;
  std::vector<AccountImport> imports;
  AccountJetStream jetstream;
  std::vector<Mapping> mappings;
  // `limits { }`; -1: the server's.
  int64_t max_connections = -1;
  int64_t max_subscriptions = -1;
  int64_t max_payload = -1;
};

// The `authorization { ... }` block and the --user/--pass/--auth flags.
// At most one of: token, username/password, users.
struct AuthOptions {
  std::string token;
  std::string username;
  std::string password;
  std::vector<User> users;
  std::optional<Permissions> default_permissions;
  Duration timeout = std::chrono::seconds(2);  // time a client has to send CONNECT
};

enum class SyncMode {
  // Fjord's default: a publish is acknowledged only after its record is
  // fsynced (group commit).
  kAlways,
  // `sync_interval: <duration>`: acknowledge once written to the OS; fsync
  // every `sync_interval` (nats-server's default behaviour, 2m).
  kInterval,
};

struct JetStreamOptions {
  bool enabled = false;
  // Storage root; stream data lives under `<store_dir>/jetstream/` as in
  // nats-server. When JetStream is enabled without one, "$TMPDIR/nats"
  // (or "/tmp/nats") is filled in.
  std::string store_dir;
  int64_t max_memory = -1;  // bytes for memory streams; -1: automatic
  int64_t max_store = -1;   // bytes for file streams; -1: automatic
  SyncMode sync = SyncMode::kAlways;
  Duration sync_interval{0};  // only meaningful with SyncMode::kInterval
  std::string domain;
  // Fjord's own: memory for the per-message indexes of file stream blocks
  // that are not being written, shared by all streams (docs/storage-format.md).
  int64_t index_cache = 64 << 20;
  // Fjord's own: how often every stored message is read back and checked
  // (a damaged one is repaired from another replica); 0: never.
  Duration scrub_interval = std::chrono::hours(24);
};

// Operator mode: `operator` (JWT files or inline JWTs), `resolver`,
// `resolver_preload`.
struct OperatorOptions {
  std::vector<std::string> jwts;          // the operator JWTs, read and checked
  std::vector<std::string> trusted_keys;  // their keys and signing keys
  std::string system_account;             // the first operator JWT's, if any
  bool full_resolver = false;             // else MEMORY
  std::string dir;
  bool allow_delete = false;
  std::vector<std::pair<std::string, std::string>> preload;  // account key, JWT
  bool resolver_set = false;
};

// `cluster { }` and the cluster flags: routes to the other servers of a
// NATS cluster. As in nats-server, clustering is on only when a cluster
// port is set (`port`, `listen` or --cluster): a block without one, even
// with `routes`, leaves it off.
struct ClusterOptions {
  bool enabled = false;  // port != 0, set once file and flags are applied
  std::string name;      // empty: a dynamic name that gives way to a configured one
  std::string host;      // empty: 0.0.0.0
  int port = 0;          // 0: no cluster; -1: a random free port
  // Explicit routes, "nats-route://[user[:password]@]host:port" (or
  // nats://), trimmed, without duplicates.
  std::vector<std::string> routes;
  // `authorization { user, password, timeout }`: what connecting routes
  // must present. Cleared by a --cluster URL without credentials.
  std::string username;
  std::string password;
  // 2s; with `tls` and no timeout of its own, the TLS timeout + 1s (as
  // nats-server).
  Duration auth_timeout = std::chrono::seconds(2);
  bool auth_timeout_set = false;  // a non-zero authorization timeout was given
  std::string advertise;  // `advertise`/`cluster_advertise`, --cluster_advertise
  bool no_advertise = false;
  int connect_retries = 0;  // for implicit (gossiped) routes
  // `tls { }`: parsed as the top-level block, then, as nats-server's
  // getTLSConfig, verification is forced both ways (`verify` is true
  // whatever the file says, and ca_file is required): each server presents
  // its certificate when accepting and when dialling a route, and checks
  // the peer's against ca_file. A zero timeout is the default 2s.
  std::optional<tls::Options> tls;
  // `insecure` (cluster tls only): routes we dial do not verify the
  // accepting server's certificate at all (Go's InsecureSkipVerify).
  bool tls_insecure = false;
  // `permissions { import, export }` (the forms of a user's publish and
  // subscribe permissions; nats-server also takes those keys): import is
  // kept in `publish`, export in `subscribe`; `allow_responses` is
  // refused. nullopt: none. The deprecated `authorization { permissions }`
  // applies when the block has none.
  std::optional<Permissions> permissions;
};

// `websocket { }` (or `ws`): clients over WebSocket (browsers, nats.ws),
// the same client protocol inside. On when a port is set; needs `tls`
// unless `no_tls: true`, as nats-server.
struct WebsocketOptions {
  std::string host;  // empty: 0.0.0.0
  int port = 0;      // 0: off; -1: a random free port
  std::string advertise;  // parsed and kept; no cluster gossips it yet
  bool no_tls = false;
  std::optional<tls::Options> tls;
  bool same_origin = false;
  std::vector<std::string> allowed_origins;  // "http(s)://host[:port]"
  bool compression = false;                  // permessage-deflate
  Duration handshake_timeout = std::chrono::seconds(2);
  // `authorization { user, password, token, timeout }`: replaces the
  // top-level user/password/token for WebSocket clients (users stay).
  std::string username;
  std::string password;
  std::string token;
  Duration auth_timeout{0};  // 0: the top-level one
  std::string no_auth_user;
  // Cookies whose values stand in for CONNECT's jwt, user, pass, token.
  std::string jwt_cookie, user_cookie, pass_cookie, token_cookie;
  std::vector<std::pair<std::string, std::string>> headers;  // added to the 101 response
  Duration ping_interval{0};  // 0: the top-level one
};

// `leafnodes { remotes [ { } ] }`: one leaf connection this server makes
// to a hub.
struct RemoteLeafOptions {
  // "nats-leaf://[user[:password]@]host:port" (also nats://, tls://): tried
  // in turn.
  std::vector<std::string> urls;
  std::string account;      // the local account it binds; empty: the global account
  std::string credentials;  // a creds file: its user JWT, and its seed signs the hub's nonce
  // `tls { }` or tls:// URLs: TLS to the hub (verified against ca_file, or
  // the system's roots), presenting cert_file when given.
  std::optional<tls::Options> tls;
  bool tls_insecure = false;  // `tls { insecure: true }`
  bool hub = false;           // we are the hub of this connection
  std::vector<std::string> deny_imports;  // subjects not taken from the hub
  std::vector<std::string> deny_exports;  // subjects not sent to the hub
};

// `leafnodes { }`: leaf-node connections. A port makes this server a hub
// that leaf nodes connect to; `remotes` make it a leaf of other servers.
struct LeafnodeOptions {
  std::string host;  // empty: 0.0.0.0
  int port = 0;      // 0: no listener; -1: a random free port
  std::string advertise;
  bool no_advertise = false;
  // `authorization { user, password, account, timeout, users [ ] }`: what
  // connecting leaf nodes present, and the account each binds. Without it,
  // leaf nodes log in as clients would (users, accounts, operator JWTs).
  struct User {
    std::string username, password, account;
  };
  std::string username, password, account;
  std::vector<User> users;
  Duration auth_timeout{0};  // 0: nats-server's default
  std::optional<tls::Options> tls;  // TLS for accepted leaf connections
  Duration reconnect = std::chrono::seconds(1);
  std::vector<RemoteLeafOptions> remotes;
};

struct ServerOptions {
  std::string config_file;

  std::string server_name;  // empty: the server uses its server_id
  std::string host = "0.0.0.0";
  int port = 4222;  // -1: pick a random free port
  std::string client_advertise;  // parsed and kept; Fjord does not use it
  // `server_tags` (a list, or one string), trimmed, lowercased and without
  // duplicates, as nats-server keeps them; shown in /varz `tags`.
  std::vector<std::string> server_tags;

  int32_t max_payload = 1 << 20;
  int32_t max_control_line = 4096;
  int max_connections = 65536;
  int64_t max_pending = 64 << 20;  // per-client outbound buffer limit, bytes
  int max_subscriptions = 0;       // per connection; 0 = unlimited
  Duration ping_interval = std::chrono::minutes(2);
  int ping_max = 2;
  Duration write_deadline = std::chrono::seconds(10);
  Duration lame_duck_duration = std::chrono::minutes(2);
  Duration lame_duck_grace_period = std::chrono::seconds(10);
  bool no_header_support = false;
  bool disable_sublist_cache = false;

  std::string log_file;  // empty: stderr
  bool debug = false;
  bool trace = false;
  bool trace_verbose = false;  // also trace system-account traffic
  bool logtime = true;
  bool logtime_utc = false;
  int64_t log_size_limit = 0;  // rotate the log file at this size; 0 = never
  int log_max_num = 0;         // rotated files to keep; 0 = all
  int max_traced_msg_len = 0;  // 0 = unlimited
  std::string pid_file;
  std::string ports_file_dir;

  // Monitoring (HTTP). Port 0 = disabled, -1 = random.
  std::string http_host;  // empty: same as `host`
  int http_port = 0;
  int https_port = 0;
  std::string http_base_path;
  // `http_auth { user, password }` (Fjord's own option): HTTP Basic auth on
  // every monitoring endpoint except /healthz. The password may be bcrypt.
  std::string http_auth_user;
  std::string http_auth_password;

  // `tls { }` on the client port (also what HTTPS monitoring serves with).
  std::optional<tls::Options> tls;
  bool allow_non_tls = false;  // TLS offered, plaintext accepted (2.11)
  // --tls, --tlscert, --tlskey, --tlscacert, --tlsverify: as nats-server,
  // they replace the file's tls block when --tls or --tlsverify is given.
  bool tls_flag = false;
  bool tls_verify_flag = false;
  std::string tls_cert_flag, tls_key_flag, tls_ca_flag;

  AuthOptions auth;  // users of every account, each naming its account
  std::vector<AccountOptions> accounts;  // besides "$G", in file order
  std::vector<Mapping> mappings;         // top-level `mappings`: the global account's
  std::optional<OperatorOptions> operator_mode;
  bool system_account_set = false;  // given in the file, not the default
  std::string no_auth_user;
  std::string system_account = "$SYS";
  bool no_system_account = false;

  JetStreamOptions jetstream;

  ClusterOptions cluster;
  WebsocketOptions websocket;
  LeafnodeOptions leafnodes;

  // Problems that do not stop the server (e.g. a bare integer where a
  // duration is expected, an option Fjord ignores). The caller logs them.
  std::vector<std::string> warnings;

  // Command line. When exit_now is set the caller prints exit_text to
  // stdout and exits with exit_code instead of starting (--help,
  // --version, -t, --signal).
  bool exit_now = false;
  int exit_code = 0;
  std::string exit_text;
  // Flags as given (canonical name, value), re-applied over the file on
  // reload so that the command line keeps overriding the file.
  std::vector<std::pair<std::string, std::string>> cli_flags;
};

// Builds options from nats-server defaults, the file named by -c (if any)
// and the flags in argv (argv[0] is the program name). Returns the error
// text otherwise; the caller prints "fjord-server: <error>" and exits 1.
// Config file errors have the form "file:line:col: message" (one per line
// when there are several).
std::variant<ServerOptions, std::string> LoadOptions(int argc, char** argv);

// Applies the config file at `path` over `opts` and validates the result.
// On error `opts` is left unchanged and the error text is returned.
std::optional<std::string> LoadConfigFile(const std::string& path, ServerOptions& opts);

// Applies an already parsed document over `opts` (per-option checks only,
// not the cross-option ones LoadConfigFile adds). Returns the error text;
// `opts` may be partly updated on error.
std::optional<std::string> ApplyConfig(const Document& doc, ServerOptions& opts);

// For SIGHUP: re-reads `current.config_file` over fresh defaults and
// re-applies `current.cli_flags`, so the result is what a restart with the
// same command line would give.
std::variant<ServerOptions, std::string> ReloadOptions(const ServerOptions& current);

// Parses a Go duration string ("1h30m", "500ms", "2.5s", "-1m"; units ns,
// us, µs, ms, s, m, h). Returns the error text on failure, in Go's words.
std::variant<Duration, std::string> ParseDuration(const std::string& text);

// The --help text.
std::string UsageText();

// The --help_tls text.
std::string TlsHelpText();

// The --version text (one line, with a trailing new line).
std::string VersionText();

}  // namespace fjord::conf
