#pragma once
// What the core server needs to run: filled by the application from the
// config file and command line (conf/options.h), and by tests directly.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asio::ssl {
class context;
}
namespace fjord::websocket {
struct HandshakeOptions;
}

namespace fjord::server {

inline constexpr std::string_view kGlobalAccount = "$G";

struct PermissionSet {
  std::vector<std::string> allow;  // empty = everything allowed
  std::vector<std::string> deny;
};

struct Permissions {
  PermissionSet publish;
  PermissionSet subscribe;
};

// -- accounts (account.h has what they do) ----------------------------------
enum class ResponseType { kSingleton, kStream, kChunked };

struct StreamExport {
  std::string subject;
  std::vector<std::string> accounts;  // who may import it; empty = anyone
};

struct ServiceExport {
  std::string subject;
  ResponseType response = ResponseType::kSingleton;
  // How long a stream or chunked service's responses keep reaching the
  // requester (and how long a singleton's reply route waits to be used).
  int64_t response_threshold_ms = 2 * 60 * 1000;
  std::vector<std::string> accounts;
};

struct StreamImport {
  std::string account;  // the exporter
  std::string subject;  // in the exporter
  std::string prefix;   // importer sees "<prefix>.<subject>"
  std::string to;       // or this mapping of the subject
};

struct ServiceImport {
  std::string account;  // the exporter
  std::string subject;  // in the exporter
  std::string to;       // what the importer publishes to; empty = subject
};

// An account's JetStream, for the layer that runs it (the core server only
// carries it): from the config's `jetstream` or an account JWT's limits.
struct AccountJetStream {
  bool enabled = false;
  int64_t max_memory = -1;  // -1 = none
  int64_t max_store = -1;
  int64_t max_streams = -1;
  int64_t max_consumers = -1;
};

// `mappings`: messages published to `source` go to one of `dests`, picked
// by weight (percent; whatever remains keeps its subject).
struct SubjectMapping {
  std::string source;
  std::vector<std::pair<std::string, int>> dests;  // destination, weight
};

struct AccountConfig {
  std::string name;
  AccountJetStream jetstream;
  std::vector<SubjectMapping> mappings;
  std::vector<StreamExport> stream_exports;
  std::vector<ServiceExport> service_exports;
  std::vector<StreamImport> stream_imports;
  std::vector<ServiceImport> service_imports;
  // `limits { }`; -1 = the server's own limit applies.
  int64_t max_connections = -1;
  int64_t max_subscriptions = -1;  // per account, across its connections
  int64_t max_payload = -1;
};

struct User {
  std::string name;      // empty for an nkey user; a certificate identity with verify_and_map
  std::string password;  // plain, or a bcrypt hash ("$2a$", "$2b$", "$2y$")
  std::string nkey;      // public user nkey ("U…"): signs the INFO nonce instead
  std::string account;   // empty = the global account
  bool has_permissions = false;
  Permissions permissions;
  // "STANDARD", "WEBSOCKET", ...: the kinds of connection the user may log
  // in on; empty = any.
  std::vector<std::string> allowed_connection_types;
};

// Operator mode: accounts and users come from JWTs signed by a trusted
// operator (operator.h).
struct OperatorConfig {
  // The operators' public keys and their signing keys: an account JWT must
  // be issued by one of them.
  std::vector<std::string> trusted_keys;
  enum class Resolver { kMemory, kFull } resolver = Resolver::kMemory;
  std::string dir;  // kFull: <dir>/<account public key>.jwt
  bool allow_delete = false;
  std::vector<std::pair<std::string, std::string>> preload;  // account public key, JWT
};

// `cluster { }`: routes to the other servers of a NATS cluster
// (cluster/routes.h).
struct ClusterConfig {
  bool enabled = false;  // a cluster port is set (block port/listen, or --cluster), as nats-server
  // Empty: a random name that gives way to a configured one (nats-server's
  // "dynamic" cluster name).
  std::string name;
  std::string host = "0.0.0.0";
  int port = 6222;  // 0 = a free port
  // Explicit routes, "nats-route://[user:pass@]host:port"; tried for ever.
  std::vector<std::string> routes;
  // Credentials a connecting route must present (and ours, when a route
  // URL carries none).
  std::string user;
  std::string password;
  int64_t auth_timeout_ms = 2000;
  std::string advertise;     // host:port other servers are told to use
  bool no_advertise = false;  // do not tell clients about the other servers
  // Attempts for an implicit (gossiped) route before giving up; explicit
  // routes retry for ever.
  int connect_retries = 0;
  // `cluster { tls { } }`: routes handshake TLS before anything else, both
  // sides presenting the same certificate and verifying the other's
  // against the CA (nats-server forces that for routes). Both contexts are
  // set, or neither.
  std::shared_ptr<asio::ssl::context> tls_server;  // for routes we accept
  std::shared_ptr<asio::ssl::context> tls_client;  // for routes we dial
  // Dialling: do not verify the peer's certificate at all (`insecure`, Go's
  // InsecureSkipVerify); the peer still verifies ours.
  bool tls_insecure = false;
  int64_t tls_timeout_ms = 2000;
  // `cluster { permissions { import, export } }`, as nats-server's route
  // permissions: `publish` is the import permission (the local interest
  // this server announces to its routes: only subjects it may import) and
  // `subscribe` the export permission (the routes' RS+ it accepts, i.e.
  // what it sends them: only subjects it may export). Apply to accepted and
  // dialled routes alike.
  bool has_permissions = false;
  Permissions permissions;
};

// `websocket { }`: a second listener whose clients speak the same protocol
// inside WebSocket frames (websocket/). Its clients get a Config of their
// own (Server::WebsocketClientConfig) with these settings folded in.
struct WebsocketConfig {
  bool enabled = false;
  std::string host = "0.0.0.0";
  int port = 0;  // 0 = a free port
  // TLS before the HTTP upgrade (wss://); null with no_tls.
  std::shared_ptr<asio::ssl::context> tls;
  bool tls_verify = false;
  bool tls_map = false;
  std::vector<std::string> tls_pinned;
  int64_t tls_timeout_ms = 2000;
  bool compression = false;
  bool same_origin = false;
  std::vector<std::string> allowed_origins;  // checked by the config loader
  int64_t handshake_timeout_ms = 2000;
  // user/password, token or no_auth_user given: they replace the top-level
  // ones for WebSocket clients (users stay), as nats-server's authOverride.
  bool auth_override = false;
  std::string user;
  std::string password;
  std::string token;
  std::string no_auth_user;
  int64_t auth_timeout_ms = 0;   // 0 = the top-level one
  int64_t ping_interval_ms = 0;  // 0 = the top-level one
  // Cookies standing in for CONNECT's jwt, user, pass and auth_token.
  std::string jwt_cookie, user_cookie, pass_cookie, token_cookie;
  std::vector<std::pair<std::string, std::string>> headers;  // added to the 101 response
  // The above as the upgrade checks take them (origins parsed): made once
  // per config, for WebSocket clients' Config (Server::WebsocketClientConfig).
  std::shared_ptr<const websocket::HandshakeOptions> handshake;
};

struct Config {
  std::string server_name;  // defaults to the server id
  std::string host = "0.0.0.0";
  int port = 4222;
  int io_threads = 0;  // 0 = number of cores

  int64_t max_payload = 1024 * 1024;
  int64_t max_control_line = 4096;
  int64_t max_connections = 65536;
  int64_t max_pending = 64 * 1024 * 1024;
  int64_t max_subscriptions = 0;  // 0 = unlimited
  int64_t ping_interval_ms = 2 * 60 * 1000;
  int ping_max = 2;
  int64_t write_deadline_ms = 10 * 1000;
  int64_t auth_timeout_ms = 2000;
  bool no_header_support = false;

  // Authorization: at most one of token, user/password or users applies;
  // users win over user/password, which win over token (as nats-server).
  std::string token;
  std::string user;
  std::string password;
  std::vector<User> users;
  std::string no_auth_user;
  // Accounts besides "$G"; the system account is made if not among them
  // (empty: none).
  std::vector<AccountConfig> accounts;
  std::string system_account = "$SYS";
  // Set in operator mode (then `users` and `accounts` are empty).
  std::shared_ptr<const OperatorConfig> operator_mode;

  // TLS on the client port: set when nats.conf has a `tls` block (built
  // and checked before the config is handed over, so a reload with a bad
  // certificate never reaches the server).
  std::shared_ptr<asio::ssl::context> tls;
  bool tls_verify = false;           // a client certificate is demanded
  bool tls_map = false;              // ... and names the user (verify_and_map)
  bool tls_handshake_first = false;  // TLS before INFO
  bool allow_non_tls = false;        // TLS offered, plaintext accepted
  int64_t tls_timeout_ms = 2000;
  std::vector<std::string> tls_pinned;  // hex SPKI SHA-256 of allowed client certificates

  ClusterConfig cluster;
  WebsocketConfig websocket;
  // Set in the Config WebSocket clients run with.
  bool is_websocket = false;

  bool jetstream = false;  // advertised in INFO
  std::string jetstream_domain;
};

}  // namespace fjord::server
