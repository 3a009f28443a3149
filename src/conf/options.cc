#include "conf/options.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "base/net.h"
#include "fjord_version.h"
#include "jwt/jwt.h"
#include "nkeys/nkeys.h"
#include "proto/parser.h"
#include "proto/subject_transform.h"
#include "websocket/handshake.h"

namespace fjord::conf {

namespace {

using Json = nlohmann::ordered_json;
using std::chrono::seconds;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string TypeName(const Json& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a float";
  if (v.is_object()) return "a map";
  if (v.is_array()) return "an array";
  return "null";
}

bool ParseInt(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// A URL as it may appear in an error or warning: the password of
// "scheme://user:password@host" replaced by "xxxxx", as nats-server logs them.
std::string RedactUrl(const std::string& url) {
  size_t start = url.find("://");
  if (start == std::string::npos) return url;
  start += 3;
  size_t end = url.find('/', start);
  size_t at = url.rfind('@', end == std::string::npos ? std::string::npos : end);
  if (at == std::string::npos || at < start) return url;
  size_t colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "xxxxx" + url.substr(at);
}

std::string RouteUrlError(const std::string& url, const std::string& why) {
  return fmt::format("error parsing route url [\"{}\"]: {} (expected {})", RedactUrl(url), why,
                     base::kRouteUrlForm);
}

// Walks a parsed Document and fills ServerOptions. Errors are collected
// rather than returned at the first one, as nats-server reports them all.
class Loader {
 public:
  Loader(const Document& doc, ServerOptions* opts) : doc_(doc), opts_(opts) {}

  std::vector<std::string> errors;

  void Run() {
    for (const auto& [k, v] : doc_.root.items()) TopLevel(k, v, JoinPointer("", k));
  }

 private:
  void Error(const std::string& ptr, const std::string& msg) {
    Pos pos = doc_.PosOf(ptr);
    errors.push_back(pos.line > 0 ? fmt::format("{}: {}", pos.ToString(), msg) : msg);
  }

  void Warn(const std::string& ptr, const std::string& msg) {
    Pos pos = doc_.PosOf(ptr);
    opts_->warnings.push_back(pos.line > 0 ? fmt::format("{}: {}", pos.ToString(), msg) : msg);
  }

  // Keys nobody asked for are fatal, as in nats-server, except variables
  // that were referenced somewhere (`PORT = 4222` + `port: $PORT`).
  void Unknown(const std::string& ptr, const std::string& key) {
    if (doc_.referenced.count(ptr) == 0) Error(ptr, fmt::format("unknown field \"{}\"", key));
  }

  void NotSupported(const std::string& ptr, const std::string& key) {
    Error(ptr, fmt::format("\"{}\" is not supported by Fjord", key));
  }

  void Ignored(const std::string& ptr, const std::string& key) {
    Warn(ptr, fmt::format("\"{}\" is not supported by Fjord and is ignored", key));
  }

  bool Int(const Json& v, const std::string& ptr, const std::string& key, int64_t* out) {
    if (!v.is_number_integer()) {
      Error(ptr, fmt::format("{} must be an integer, got {}", key, TypeName(v)));
      return false;
    }
    *out = v.get<int64_t>();
    return true;
  }

  template <typename T>
  bool IntIn(const Json& v, const std::string& ptr, const std::string& key, T* out,
             int64_t lo = std::numeric_limits<T>::min(), int64_t hi = std::numeric_limits<T>::max()) {
    int64_t n = 0;
    if (!Int(v, ptr, key, &n)) return false;
    if (n > hi) {
      Error(ptr, fmt::format("{} value is too big", key));
      return false;
    }
    if (n < lo) {
      Error(ptr, fmt::format("{} value {} is out of range (minimum {})", key, n, lo));
      return false;
    }
    *out = static_cast<T>(n);
    return true;
  }

  bool Bool(const Json& v, const std::string& ptr, const std::string& key, bool* out) {
    if (!v.is_boolean()) {
      Error(ptr, fmt::format("{} must be a boolean, got {}", key, TypeName(v)));
      return false;
    }
    *out = v.get<bool>();
    return true;
  }

  bool String(const Json& v, const std::string& ptr, const std::string& key, std::string* out) {
    if (!v.is_string()) {
      Error(ptr, fmt::format("{} must be a string, got {}", key, TypeName(v)));
      return false;
    }
    *out = v.get<std::string>();
    return true;
  }

  // A Go duration string; a bare number is taken as seconds with the
  // warning nats-server prints.
  bool Dur(const Json& v, const std::string& ptr, const std::string& key, Duration* out) {
    if (v.is_number_integer()) {
      Warn(ptr, fmt::format("invalid use of field \"{0}\": {0} should be converted to a duration", key));
      *out = seconds(v.get<int64_t>());
      return true;
    }
    if (!v.is_string()) {
      Error(ptr, fmt::format("error parsing {}: expected a duration string, got {}", key, TypeName(v)));
      return false;
    }
    auto d = ParseDuration(v.get<std::string>());
    if (auto* err = std::get_if<std::string>(&d)) {
      Error(ptr, fmt::format("error parsing {}: {}", key, *err));
      return false;
    }
    *out = std::get<Duration>(d);
    return true;
  }

  // JetStream storage sizes: an integer (size suffixes already applied by
  // the parser) or a string "<n>K|M|G|T" in powers of 1024.
  bool StorageSize(const Json& v, const std::string& ptr, const std::string& key, int64_t* out) {
    if (v.is_number_integer()) {
      *out = v.get<int64_t>();
      return true;
    }
    if (!v.is_string()) {
      Error(ptr, fmt::format("{} must be int64 or string", key));
      return false;
    }
    std::string s = v.get<std::string>();
    if (s.empty()) {
      *out = 0;
      return true;
    }
    static const std::string kUnits = "KMGT";
    size_t unit = kUnits.find(static_cast<char>(std::toupper(static_cast<unsigned char>(s.back()))));
    int64_t n = 0;
    if (unit == std::string::npos) {
      Error(ptr, fmt::format("{} sizes defined as strings must end in K, M, G, T", key));
      return false;
    }
    if (!ParseInt(s.substr(0, s.size() - 1), &n) ||
        __builtin_mul_overflow(n, int64_t{1} << (10 * (unit + 1)), &n)) {
      Error(ptr, fmt::format("{} size \"{}\" is not a valid number", key, s));
      return false;
    }
    *out = n;
    return true;
  }

  // A subject or a list of subjects.
  bool StringList(const Json& v, const std::string& ptr, const std::string& key,
                  std::vector<std::string>* out) {
    out->clear();
    if (v.is_string()) {
      out->push_back(v.get<std::string>());
      return true;
    }
    if (!v.is_array()) {
      Error(ptr, fmt::format("{} must be a string or an array of strings, got {}", key, TypeName(v)));
      return false;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) {
        Error(ptr + "/" + std::to_string(i),
              fmt::format("{} entries must be strings, got {}", key, TypeName(v[i])));
        return false;
      }
      out->push_back(v[i].get<std::string>());
    }
    return true;
  }

  void HostPort(const Json& v, const std::string& ptr, const std::string& key, std::string* host,
                int* port) {
    if (v.is_number_integer()) {
      IntIn(v, ptr, key, port, -1, 65535);
      return;
    }
    std::string s;
    if (!String(v, ptr, key, &s)) return;
    std::string h;
    std::string p;
    int64_t n = 0;
    if (!base::SplitHostPort(s, &h, &p) || !ParseInt(p, &n) || n < -1 || n > 65535) {
      Error(ptr, fmt::format("could not parse address string \"{}\"", s));
      return;
    }
    *host = h;
    *port = static_cast<int>(n);
  }

  void TopLevel(const std::string& k, const Json& v, const std::string& ptr) {
    ServerOptions& o = *opts_;
    const std::string key = Lower(k);
    if (key == "listen") {
      HostPort(v, ptr, key, &o.host, &o.port);
    } else if (key == "host" || key == "net") {
      String(v, ptr, key, &o.host);
    } else if (key == "port") {
      IntIn(v, ptr, key, &o.port, -1, 65535);
    } else if (key == "client_advertise") {
      String(v, ptr, key, &o.client_advertise);
    } else if (key == "server_name") {
      if (String(v, ptr, key, &o.server_name) && o.server_name.find(' ') != std::string::npos) {
        Error(ptr, "server name cannot contain spaces");
      }
    } else if (key == "max_payload") {
      IntIn(v, ptr, key, &o.max_payload, 0);
    } else if (key == "max_control_line") {
      IntIn(v, ptr, key, &o.max_control_line, 0);
    } else if (key == "max_pending") {
      IntIn(v, ptr, key, &o.max_pending, 0);
    } else if (key == "max_connections" || key == "max_conn") {
      // 2.9: 0 means the default, not "no clients".
      if (IntIn(v, ptr, key, &o.max_connections, -1) && o.max_connections == 0) {
        o.max_connections = ServerOptions{}.max_connections;
      }
    } else if (key == "max_subscriptions" || key == "max_subs") {
      IntIn(v, ptr, key, &o.max_subscriptions, 0);
    } else if (key == "ping_interval") {
      Dur(v, ptr, key, &o.ping_interval);
    } else if (key == "ping_max") {
      IntIn(v, ptr, key, &o.ping_max, 0);
    } else if (key == "write_deadline") {
      Dur(v, ptr, key, &o.write_deadline);
    } else if (key == "lame_duck_duration") {
      if (Dur(v, ptr, key, &o.lame_duck_duration) && o.lame_duck_duration < seconds(30)) {
        Error(ptr, "invalid lame_duck_duration, minimum is 30 seconds");
      }
    } else if (key == "lame_duck_grace_period") {
      if (Dur(v, ptr, key, &o.lame_duck_grace_period) && o.lame_duck_grace_period.count() < 0) {
        Error(ptr, "invalid lame_duck_grace_period, needs to be positive");
      }
    } else if (key == "no_header_support") {
      Bool(v, ptr, key, &o.no_header_support);
    } else if (key == "disable_sublist_cache" || key == "no_sublist_cache") {
      Bool(v, ptr, key, &o.disable_sublist_cache);
    } else if (key == "debug") {
      Bool(v, ptr, key, &o.debug);
    } else if (key == "trace") {
      Bool(v, ptr, key, &o.trace);
    } else if (key == "trace_verbose") {
      if (Bool(v, ptr, key, &o.trace_verbose) && o.trace_verbose) o.trace = true;
    } else if (key == "logtime") {
      Bool(v, ptr, key, &o.logtime);
    } else if (key == "logtime_utc") {
      Bool(v, ptr, key, &o.logtime_utc);
    } else if (key == "logfile" || key == "log_file") {
      String(v, ptr, key, &o.log_file);
    } else if (key == "logfile_size_limit" || key == "log_size_limit") {
      IntIn(v, ptr, key, &o.log_size_limit, 0);
    } else if (key == "logfile_max_num" || key == "log_max_num") {
      IntIn(v, ptr, key, &o.log_max_num, 0);
    } else if (key == "max_traced_msg_len") {
      IntIn(v, ptr, key, &o.max_traced_msg_len, 0);
    } else if (key == "pidfile" || key == "pid_file") {
      String(v, ptr, key, &o.pid_file);
    } else if (key == "ports_file_dir") {
      String(v, ptr, key, &o.ports_file_dir);
    } else if (key == "http") {
      HostPort(v, ptr, key, &o.http_host, &o.http_port);
    } else if (key == "https") {
      HostPort(v, ptr, key, &o.http_host, &o.https_port);
    } else if (key == "http_port" || key == "monitor_port") {
      IntIn(v, ptr, key, &o.http_port, -1, 65535);
    } else if (key == "https_port") {
      IntIn(v, ptr, key, &o.https_port, -1, 65535);
    } else if (key == "http_auth") {
      HttpAuth(v, ptr);
    } else if (key == "http_base_path") {
      String(v, ptr, key, &o.http_base_path);
    } else if (key == "system_account" || key == "system") {
      if (String(v, ptr, key, &o.system_account)) o.system_account_set = true;
    } else if (key == "no_system_account") {
      Bool(v, ptr, key, &o.no_system_account);
    } else if (key == "no_auth_user") {
      String(v, ptr, key, &o.no_auth_user);
    } else if (key == "authorization") {
      Authorization(v, ptr);
    } else if (key == "jetstream") {
      JetStream(v, ptr);
    } else if (key == "store_dir" || key == "storedir") {
      StoreDir(v, ptr, key);
    } else if (key == "server_tags") {
      ServerTags(v, ptr, key);
    } else if (key == "syslog" || key == "remote_syslog" ||
               key == "server_metadata" || key == "prof_port" || key == "max_sub_tokens" ||
               key == "connect_error_reports" || key == "reconnect_error_reports" ||
               key == "max_closed_clients" || key == "write_timeout" || key == "trace_headers") {
      Ignored(ptr, key);
    } else if (key == "tls") {
      Tls(v, ptr);
    } else if (key == "allow_non_tls") {
      Bool(v, ptr, key, &o.allow_non_tls);
    } else if (key == "accounts") {
      Accounts(v, ptr);
    } else if (key == "mappings" || key == "maps") {
      Mappings(v, ptr, &o.mappings);
    } else if (key == "operator" || key == "operators" || key == "root_operators" || key == "root_operator") {
      OperatorJwts(v, ptr);
    } else if (key == "resolver" || key == "account_resolver" || key == "accounts_resolver") {
      Resolver(v, ptr);
    } else if (key == "resolver_preload") {
      ResolverPreload(v, ptr);
    } else if (key == "cluster") {
      Cluster(v, ptr);
    } else if (key == "websocket" || key == "ws") {
      Websocket(v, ptr);
    } else if (key == "leafnodes" || key == "leaf") {
      Leafnodes(v, ptr);
    } else if (key == "gateway" || key == "mqtt" || key == "resolver_tls" || key == "trusted" ||
               key == "trusted_keys" || key == "default_js_domain" || key == "ocsp" ||
               key == "ocsp_cache") {
      NotSupported(ptr, k);
    } else {
      Unknown(ptr, k);
    }
  }

  void ServerTags(const Json& v, const std::string& ptr, const std::string& key) {
    std::vector<std::string> given;
    if (!StringList(v, ptr, key, &given)) return;
    auto& tags = opts_->server_tags;
    tags.clear();
    for (auto t : given) {
      t = Lower(t);
      auto b = t.find_first_not_of(" \t");
      auto e = t.find_last_not_of(" \t");
      t = b == std::string::npos ? "" : t.substr(b, e - b + 1);
      if (!t.empty() && std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
    }
  }

  void StoreDir(const Json& v, const std::string& ptr, const std::string& key) {
    std::string dir;
    if (!String(v, ptr, key, &dir)) return;
    if (!opts_->jetstream.store_dir.empty() && opts_->jetstream.store_dir != dir) {
      Error(ptr, "Duplicate 'store_dir' configuration");
      return;
    }
    opts_->jetstream.store_dir = dir;
  }

  // A `jetstream` value (server or account): true/false, "enabled" or
  // "disabled" set *enabled and return true; so does a wrong type, after
  // reporting `not_a_map` with the type. A map sets *enabled and returns
  // false: the caller reads its keys.
  bool JetStreamSwitch(const Json& v, const std::string& ptr, bool* enabled, std::string_view not_a_map) {
    if (v.is_boolean()) {
      *enabled = v.get<bool>();
      return true;
    }
    if (v.is_string()) {
      std::string s = Lower(v.get<std::string>());
      if (s == "enabled" || s == "enable") {
        *enabled = true;
      } else if (s == "disabled" || s == "disable") {
        *enabled = false;
      } else {
        Error(ptr, fmt::format("Expected 'enabled' or 'disabled' for string value, got '{}'",
                               v.get<std::string>()));
      }
      return true;
    }
    if (!v.is_object()) {
      Error(ptr, fmt::format("{}, got {}", not_a_map, TypeName(v)));
      return true;
    }
    *enabled = true;
    return false;
  }

  void JetStream(const Json& v, const std::string& ptr) {
    JetStreamOptions& js = opts_->jetstream;
    if (JetStreamSwitch(v, ptr, &js.enabled, "jetstream must be a boolean, a string or a map")) return;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "enabled" || key == "enable") {
        Bool(val, p, key, &js.enabled);
      } else if (key == "store_dir" || key == "store" || key == "storedir") {
        StoreDir(val, p, key);
      } else if (key == "max_memory_store" || key == "max_mem_store" || key == "max_mem") {
        StorageSize(val, p, "max_mem_store", &js.max_memory);
      } else if (key == "max_file_store" || key == "max_file") {
        StorageSize(val, p, "max_file_store", &js.max_store);
      } else if (key == "sync_interval" || key == "sync") {
        if (val.is_string() && Lower(val.get<std::string>()) == "always") {
          js.sync = SyncMode::kAlways;
        } else if (Dur(val, p, key, &js.sync_interval)) {
          if (js.sync_interval.count() <= 0) {
            Error(p, "sync_interval must be a positive duration or \"always\"");
          } else {
            js.sync = SyncMode::kInterval;
          }
        }
      } else if (key == "domain") {
        String(val, p, key, &js.domain);
      } else if (key == "index_cache") {
        if (StorageSize(val, p, key, &js.index_cache) && js.index_cache < 0) {
          Error(p, "index_cache must be a size");
        }
      } else if (key == "scrub_interval") {
        if (Dur(val, p, key, &js.scrub_interval) && js.scrub_interval.count() < 0) {
          Error(p, "scrub_interval must be a duration (0 turns the scrub off)");
        }
      } else if (key == "strict" || key == "unique_tag" || key == "max_outstanding_catchup" ||
                 key == "max_buffered_size" || key == "max_buffered_msgs" ||
                 key == "request_queue_limit" || key == "limits" || key == "extension_hint" ||
                 key == "max_catchup") {
        Ignored(p, key);
      } else if (key == "cipher" || key == "key" || key == "ek" || key == "encryption_key" ||
                 key == "prev_key" || key == "prev_encryption_key" || key == "tpm") {
        // Silently storing plain text when encryption was asked for would be
        // worse than refusing to start.
        NotSupported(p, k);
      } else {
        Unknown(p, k);
      }
    }
  }

  // The top-level `tls { }`.
  void Tls(const Json& v, const std::string& ptr) {
    tls::Options t;
    if (ParseTls(v, ptr, false, &t)) opts_->tls = std::move(t);
  }

  // nats-server's parseTLS: unknown keys are errors; the names of ciphers
  // and curves are checked here so the error has a line number. `cluster`:
  // the block inside `cluster { }`, where `insecure` means something and
  // the settings about clients (verify_and_map, pinned_certs) are refused.
  // Returns false if `v` is not a map.
  bool ParseTls(const Json& v, const std::string& ptr, bool cluster, tls::Options* out, bool need_cert = true) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("tls must be a map, got {}", TypeName(v)));
      return false;
    }
    tls::Options& t = *out;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "cert_file") {
        String(val, p, key, &t.cert_file);
      } else if (key == "key_file") {
        String(val, p, key, &t.key_file);
      } else if (key == "ca_file") {
        String(val, p, key, &t.ca_file);
      } else if (key == "verify") {
        Bool(val, p, key, &t.verify);
      } else if (key == "verify_and_map") {
        if (Bool(val, p, key, &t.verify_and_map) && t.verify_and_map) {
          t.verify = true;
          // nats-server authorizes a route whose certificate names the
          // cluster.authorization user; Fjord's routes authorize by user
          // and password only, and ignoring the key would let in routes
          // the file means to keep out.
          if (cluster) {
            Error(p, "\"cluster.tls.verify_and_map\" is not supported by Fjord (routes are "
                     "authorized by the cluster authorization user and password only)");
          }
        }
      } else if (key == "timeout") {
        // Seconds as a number, or a duration string.
        if (val.is_number()) {
          t.timeout_s = val.get<double>();
        } else {
          Duration d{};
          if (Dur(val, p, key, &d)) t.timeout_s = std::chrono::duration<double>(d).count();
        }
      } else if (key == "handshake_first" || key == "first" || key == "immediate") {
        if (val.is_string()) {
          Error(p, "handshake_first: only true or false is supported by Fjord (no \"auto\" "
                   "fallback delay)");
        } else {
          Bool(val, p, key, &t.handshake_first);
        }
      } else if (key == "min_version") {
        String(val, p, key, &t.min_version);
      } else if (key == "cipher_suites") {
        StringList(val, p, key, &t.cipher_suites);
      } else if (key == "curve_preferences") {
        StringList(val, p, key, &t.curve_preferences);
      } else if (key == "pinned_certs") {
        if (StringList(val, p, key, &t.pinned_certs)) {
          for (auto& c : t.pinned_certs) c = Lower(c);
          // nats-server checks them on every route, both ways.
          if (cluster && !t.pinned_certs.empty()) {
            Error(p, "\"cluster.tls.pinned_certs\" is not supported by Fjord (routes are not "
                     "checked against pinned certificates)");
          }
        }
      } else if (key == "insecure") {
        if (cluster) {
          Bool(val, p, key, &opts_->cluster.tls_insecure);
        } else {
          Ignored(p, k);  // a client-side setting; the server never dials out
        }
      } else if (key == "verify_cert_and_check_known_urls" || key == "cert_store" ||
                 key == "cert_match_by" || key == "cert_match" || key == "certs" ||
                 key == "ocsp_peer" || key == "connection_rate_limit" ||
                 key == "ca_certs_match" || key == "cert_match_skip_invalid") {
        NotSupported(p, k);
      } else {
        Error(p, fmt::format("error parsing tls config, unknown field [\"{}\"]", k));
      }
    }
    if (cluster) {
      // Forced, as nats-server's getTLSConfig: RequireAndVerifyClientCert,
      // and the same CAs verify the servers we dial.
      t.verify = true;
      if (t.ca_file.empty() && !t.cert_file.empty() && !t.key_file.empty()) {
        Error(ptr, "cluster tls needs 'ca_file': routes verify each other's certificates");
        return true;
      }
      if (t.timeout_s == 0) t.timeout_s = tls::Options{}.timeout_s;
    }
    std::string err = tls::Validate(t, need_cert);
    if (!err.empty()) Error(ptr, err);
    return true;
  }

  void HttpAuth(const Json& v, const std::string& ptr) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("http_auth must be a map, got {}", TypeName(v)));
      return;
    }
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "user" || key == "username") {
        String(val, p, key, &opts_->http_auth_user);
      } else if (key == "pass" || key == "password") {
        String(val, p, key, &opts_->http_auth_password);
      } else {
        Unknown(p, k);
      }
    }
    if (opts_->http_auth_user.empty() || opts_->http_auth_password.empty()) {
      Error(ptr, "http_auth needs both user and password");
    }
  }

  void Authorization(const Json& v, const std::string& ptr) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("authorization must be a map, got {}", TypeName(v)));
      return;
    }
    AuthOptions& auth = opts_->auth;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "user" || key == "username") {
        String(val, p, key, &auth.username);
      } else if (key == "pass" || key == "password") {
        String(val, p, key, &auth.password);
      } else if (key == "token") {
        String(val, p, key, &auth.token);
      } else if (key == "timeout") {
        AuthTimeout(val, p, &auth.timeout);
      } else if (key == "users") {
        Users(val, p);
      } else if (key == "default_permission" || key == "default_permissions" ||
                 key == "permissions") {
        Permissions perms;
        if (ParsePermissions(val, p, &perms)) auth.default_permissions = std::move(perms);
      } else if (key == "auth_callout" || key == "callout") {
        NotSupported(p, k);
      } else {
        Unknown(p, k);
      }
    }
  }

  // Seconds as an integer or float, or a duration string.
  void AuthTimeout(const Json& v, const std::string& ptr, Duration* out) {
    Duration d{0};
    if (v.is_number()) {
      d = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(v.get<double>()));
    } else if (v.is_string()) {
      auto parsed = ParseDuration(v.get<std::string>());
      if (auto* err = std::get_if<std::string>(&parsed)) {
        Error(ptr, fmt::format("error parsing timeout: {}", *err));
        return;
      }
      d = std::get<Duration>(parsed);
    } else {
      Error(ptr, fmt::format("error parsing timeout: expected a number or a duration, got {}",
                             TypeName(v)));
      return;
    }
    if (d > seconds(60)) {
      Warn(ptr, "timeout of more than 60 seconds; clients may give up on CONNECT first");
    }
    *out = d;
  }

  // nats-server's parseCluster. Clustering is on when a port is set
  // (`port`, `listen`); a block without one is accepted and leaves it off.
  void Cluster(const Json& v, const std::string& ptr) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("Expected map to define cluster, got {}", TypeName(v)));
      return;
    }
    ClusterOptions& c = opts_->cluster;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "name") {
        if (String(val, p, key, &c.name) && c.name.find(' ') != std::string::npos) {
          Error(p, "cluster name cannot contain spaces");
        }
      } else if (key == "listen") {
        HostPort(val, p, key, &c.host, &c.port);
      } else if (key == "port") {
        IntIn(val, p, key, &c.port, -1, 65535);
      } else if (key == "host" || key == "net") {
        String(val, p, key, &c.host);
      } else if (key == "authorization") {
        ClusterAuthorization(val, p);
      } else if (key == "routes") {
        Routes(val, p);
      } else if (key == "cluster_advertise" || key == "advertise") {
        String(val, p, key, &c.advertise);
      } else if (key == "no_advertise") {
        Bool(val, p, key, &c.no_advertise);
      } else if (key == "connect_retries") {
        IntIn(val, p, key, &c.connect_retries, 0);
      } else if (key == "pool_size" || key == "compression" || key == "accounts") {
        // Later nats-server releases: route pooling, pinned accounts, S2.
        Warn(p, fmt::format("\"cluster.{}\" is not supported by Fjord and is ignored: Fjord uses "
                            "one uncompressed route connection per server",
                            k));
      } else if (key == "ping_interval" || key == "ping_max" || key == "connect_backoff" ||
                 key == "write_deadline" || key == "write_timeout") {
        Ignored(p, "cluster." + k);
      } else if (key == "tls") {
        tls::Options t;
        if (ParseTls(val, p, true, &t)) c.tls = std::move(t);
      } else if (key == "permissions") {
        Permissions perms;
        if (ClusterPermissions(val, p, &perms)) c.permissions = std::move(perms);
      } else {
        Unknown(p, k);
      }
    }
    // nats-server: the top-level block's permissions win over the
    // deprecated authorization ones.
    if (!c.permissions && cluster_auth_permissions_) c.permissions = std::move(cluster_auth_permissions_);
    cluster_auth_permissions_.reset();
    c.enabled = c.port != 0;
    // nats-server's getDefaultAuthTimeout: the TLS handshake comes first.
    if (c.tls && !c.auth_timeout_set) {
      c.auth_timeout = std::chrono::duration_cast<Duration>(
          std::chrono::duration<double>(c.tls->timeout_s + 1.0));
    }
  }

  // nats-server's parseWebsocket.
  void Websocket(const Json& v, const std::string& ptr) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("Expected websocket to be a map, got {}", TypeName(v)));
      return;
    }
    WebsocketOptions& w = opts_->websocket;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "listen") {
        HostPort(val, p, key, &w.host, &w.port);
      } else if (key == "port") {
        IntIn(val, p, key, &w.port, -1, 65535);
      } else if (key == "host" || key == "net") {
        String(val, p, key, &w.host);
      } else if (key == "advertise") {
        String(val, p, key, &w.advertise);
      } else if (key == "no_tls") {
        Bool(val, p, key, &w.no_tls);
      } else if (key == "tls") {
        tls::Options t;
        if (ParseTls(val, p, false, &t)) w.tls = std::move(t);
      } else if (key == "same_origin") {
        Bool(val, p, key, &w.same_origin);
      } else if (key == "allowed_origins" || key == "allowed_origin" || key == "allow_origins" ||
                 key == "allow_origin" || key == "origins" || key == "origin") {
        w.allowed_origins.clear();
        if (StringList(val, p, key, &w.allowed_origins)) {
          for (const auto& o : w.allowed_origins) {
            websocket::Origin parsed;
            if (auto err = websocket::ParseOrigin(o, &parsed)) {
              Error(p, fmt::format("unable to parse allowed origin: {}", *err));
            } else if (parsed.scheme != "http" && parsed.scheme != "https") {
              Error(p, fmt::format("unable to parse allowed origin \"{}\": allowed origins must be absolute "
                                   "URLs with http or https scheme",
                                   o));
            } else if (parsed.host.empty()) {
              Error(p, fmt::format("unable to parse allowed origin \"{}\": host is required", o));
            }
          }
        }
      } else if (key == "handshake_timeout") {
        Duration d{0};
        if (val.is_number_integer()) {
          d = std::chrono::seconds(val.get<int64_t>());
        } else if (!Dur(val, p, key, &d)) {
          continue;
        }
        if (d.count() <= 0) d = WebsocketOptions{}.handshake_timeout;
        w.handshake_timeout = d;
      } else if (key == "compress" || key == "compression") {
        Bool(val, p, key, &w.compression);
      } else if (key == "authorization" || key == "authentication") {
        WebsocketAuthorization(val, p);
      } else if (key == "jwt_cookie") {
        String(val, p, key, &w.jwt_cookie);
      } else if (key == "user_cookie") {
        String(val, p, key, &w.user_cookie);
      } else if (key == "pass_cookie") {
        String(val, p, key, &w.pass_cookie);
      } else if (key == "token_cookie") {
        String(val, p, key, &w.token_cookie);
      } else if (key == "no_auth_user") {
        String(val, p, key, &w.no_auth_user);
      } else if (key == "headers") {
        if (!val.is_object()) {
          Error(p, fmt::format("error parsing headers: unsupported type {}", TypeName(val)));
          continue;
        }
        w.headers.clear();
        for (const auto& [hk, hv] : val.items()) {
          std::string hp = JoinPointer(p, hk);
          if (!hv.is_string()) {
            Error(hp, fmt::format("error parsing header key {}: unsupported type {}", hk, TypeName(hv)));
            continue;
          }
          std::string lower = Lower(hk);
          if (lower == "host" || lower == "content-length" || lower == "connection" || lower == "upgrade" ||
              lower == "nats-no-masking") {
            Error(hp, fmt::format("websocket: invalid header \"{}\" not allowed", hk));
          } else if (lower.rfind("sec-websocket-", 0) == 0) {
            Error(hp, fmt::format("websocket: invalid header \"{}\", \"Sec-WebSocket-\" prefix not allowed", hk));
          } else {
            w.headers.emplace_back(hk, hv.get<std::string>());
          }
        }
      } else if (key == "ping_interval") {
        Dur(val, p, key, &w.ping_interval);
      } else {
        Unknown(p, k);
      }
    }
  }

  // `leafnodes { }`: nats-server's parseLeafNodes.
  void Leafnodes(const Json& v, const std::string& ptr) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("Expected map to define a leafnode, got {}", TypeName(v)));
      return;
    }
    LeafnodeOptions& l = opts_->leafnodes;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "listen") {
        HostPort(val, p, key, &l.host, &l.port);
      } else if (key == "port") {
        IntIn(val, p, key, &l.port, -1, 65535);
      } else if (key == "host" || key == "net") {
        String(val, p, key, &l.host);
      } else if (key == "advertise" || key == "leafnode_advertise") {
        String(val, p, key, &l.advertise);
      } else if (key == "no_advertise") {
        Bool(val, p, key, &l.no_advertise);
      } else if (key == "authorization") {
        LeafAuthorization(val, p);
      } else if (key == "remotes") {
        LeafRemotes(val, p);
      } else if (key == "reconnect" || key == "reconnect_delay" || key == "reconnect_interval") {
        Duration d{0};
        if (Dur(val, p, key, &d) && d.count() > 0) l.reconnect = d;
      } else if (key == "tls") {
        tls::Options t;
        if (ParseTls(val, p, false, &t)) l.tls = std::move(t);
      } else if (key == "compression") {
        // Fjord does not compress leaf traffic: it takes the setting and
        // negotiates none, which every nats-server accepts (an older
        // server's answer).
        if (!(val.is_boolean() || val.is_string() || val.is_object())) {
          Error(p, fmt::format("field \"compression\": unsupported type {}", TypeName(val)));
        } else {
          Warn(p, "leaf node compression is not supported by Fjord: leaf connections are not compressed");
        }
      } else if (key == "min_version" || key == "minimum_version") {
        Ignored(p, k);
      } else {
        Unknown(p, k);
      }
    }
  }

  void LeafAuthorization(const Json& v, const std::string& ptr) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("Expected authorization to be a map/struct, got {}", TypeName(v)));
      return;
    }
    LeafnodeOptions& l = opts_->leafnodes;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "user" || key == "username") {
        String(val, p, key, &l.username);
      } else if (key == "pass" || key == "password") {
        String(val, p, key, &l.password);
      } else if (key == "account") {
        String(val, p, key, &l.account);
      } else if (key == "timeout") {
        if (val.is_number()) {
          l.auth_timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(val.get<double>()));
        } else {
          Dur(val, p, key, &l.auth_timeout);
        }
      } else if (key == "users") {
        if (!val.is_array()) {
          Error(p, fmt::format("Expected users field to be an array, got {}", TypeName(val)));
          continue;
        }
        for (size_t i = 0; i < val.size(); ++i) {
          std::string up = p + "/" + std::to_string(i);
          const Json& u = val[i];
          if (!u.is_object()) {
            Error(up, fmt::format("Expected user entry to be a map/struct, got {}", TypeName(u)));
            continue;
          }
          LeafnodeOptions::User user;
          for (const auto& [uk, uv] : u.items()) {
            std::string upp = JoinPointer(up, uk);
            std::string ukey = Lower(uk);
            if (ukey == "user" || ukey == "username") {
              String(uv, upp, ukey, &user.username);
            } else if (ukey == "pass" || ukey == "password") {
              String(uv, upp, ukey, &user.password);
            } else if (ukey == "account") {
              String(uv, upp, ukey, &user.account);
            } else {
              Unknown(upp, uk);
            }
          }
          l.users.push_back(std::move(user));
        }
      } else if (key == "nkey") {
        NotSupported(p, k);
      } else {
        Unknown(p, k);
      }
    }
  }

  void LeafRemotes(const Json& v, const std::string& ptr) {
    if (!v.is_array()) {
      Error(ptr, fmt::format("Expected remotes field to be an array, got {}", TypeName(v)));
      return;
    }
    auto& remotes = opts_->leafnodes.remotes;
    remotes.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      std::string rp = ptr + "/" + std::to_string(i);
      const Json& r = v[i];
      if (!r.is_object()) {
        Error(rp, fmt::format("Expected remote leafnode entry to be a map/struct, got {}", TypeName(r)));
        continue;
      }
      RemoteLeafOptions rem;
      bool had_url = false;
      for (const auto& [k, val] : r.items()) {
        std::string p = JoinPointer(rp, k);
        std::string key = Lower(k);
        if (key == "url" || key == "urls") {
          had_url = true;
          std::vector<std::string> urls;
          if (!StringList(val, p, key, &urls)) continue;
          for (auto& u : urls) {
            base::RouteUrl parsed;
            auto err = base::ParseRouteUrl(u, true, &parsed);
            if (!err && (parsed.host.empty() || parsed.port <= 0)) err = "a host and a port are required";
            if (!err && parsed.scheme != "nats-leaf" && parsed.scheme != "nats" && parsed.scheme != "tls") {
              err = fmt::format("scheme \"{}\" is not supported by Fjord (nats-leaf, nats or tls)", parsed.scheme);
            }
            if (err) {
              Error(p, fmt::format("Error parsing remote leafnode url \"{}\": {}", u, *err));
              continue;
            }
            rem.urls.push_back(std::move(u));
          }
        } else if (key == "account" || key == "local") {
          String(val, p, key, &rem.account);
        } else if (key == "credentials" || key == "creds") {
          String(val, p, key, &rem.credentials);
        } else if (key == "tls") {
          tls::Options t;
          Json block = val;
          if (block.is_object() && block.contains("insecure")) {
            Bool(block["insecure"], JoinPointer(p, "insecure"), "insecure", &rem.tls_insecure);
            block.erase("insecure");
          }
          if (!ParseTls(block, p, false, &t, /*need_cert=*/false)) continue;
          rem.tls = std::move(t);
        } else if (key == "hub") {
          Bool(val, p, key, &rem.hub);
        } else if (key == "deny_imports" || key == "deny_import") {
          StringList(val, p, key, &rem.deny_imports);
        } else if (key == "deny_exports" || key == "deny_export") {
          StringList(val, p, key, &rem.deny_exports);
        } else if (key == "compression") {
          Warn(p, "leaf node compression is not supported by Fjord: leaf connections are not compressed");
        } else if (key == "ws_compression" || key == "ws_no_masking" || key == "websocket" || key == "proxy" ||
                   key == "nkey" || key == "jetstream_cluster_migrate" || key == "first_info_timeout") {
          NotSupported(p, k);
        } else {
          Unknown(p, k);
        }
      }
      if (rem.urls.empty()) {
        if (!had_url) Error(rp, "Remote leafnode requires a url");
        continue;
      }
      remotes.push_back(std::move(rem));
    }
  }

  // `websocket { authorization { } }`: nats-server's parseSimpleAuth.
  void WebsocketAuthorization(const Json& v, const std::string& ptr) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("authorization must be a map, got {}", TypeName(v)));
      return;
    }
    WebsocketOptions& w = opts_->websocket;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "user" || key == "username") {
        String(val, p, key, &w.username);
      } else if (key == "pass" || key == "password") {
        String(val, p, key, &w.password);
      } else if (key == "token") {
        String(val, p, key, &w.token);
      } else if (key == "timeout") {
        AuthTimeout(val, p, &w.auth_timeout);
      } else {
        Unknown(p, k);
      }
    }
  }

  // `cluster { authorization { user, password, timeout } }`: one user, as
  // nats-server.
  void ClusterAuthorization(const Json& v, const std::string& ptr) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("authorization must be a map, got {}", TypeName(v)));
      return;
    }
    ClusterOptions& c = opts_->cluster;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "user" || key == "username") {
        String(val, p, key, &c.username);
      } else if (key == "pass" || key == "password") {
        String(val, p, key, &c.password);
      } else if (key == "timeout") {
        AuthTimeout(val, p, &c.auth_timeout);
        // 0 is the default, as nats-server's.
        c.auth_timeout_set = c.auth_timeout.count() != 0;
        if (c.auth_timeout.count() == 0) c.auth_timeout = ClusterOptions{}.auth_timeout;
      } else if (key == "token") {
        Error(p, "Cluster authorization does not support tokens");
      } else if (key == "users") {
        Error(p, "Cluster authorization does not allow multiple users");
      } else if (key == "default_permission" || key == "default_permissions" ||
                 key == "permissions") {
        Warn(p, "setting \"permissions\" within cluster authorization block is deprecated");
        Permissions perms;
        if (ClusterPermissions(val, p, &perms)) cluster_auth_permissions_ = std::move(perms);
      } else {
        Unknown(p, k);
      }
    }
  }

  // `routes`: a list of route URLs, or one.
  void Routes(const Json& v, const std::string& ptr) {
    std::vector<std::string> given;
    if (!StringList(v, ptr, "routes", &given)) return;
    auto& routes = opts_->cluster.routes;
    routes.clear();
    for (size_t i = 0; i < given.size(); ++i) {
      std::string p = v.is_array() ? ptr + "/" + std::to_string(i) : ptr;
      std::string url = Trim(given[i]);
      if (std::find(routes.begin(), routes.end(), url) != routes.end()) {
        Warn(p, fmt::format("invalid use of field \"{}\": Duplicate route entry detected",
                            RedactUrl(url)));
        continue;
      }
      base::RouteUrl parsed;
      if (auto why = base::ParseRouteUrl(url, false, &parsed)) {
        Error(p, RouteUrlError(url, *why));
        continue;
      }
      routes.push_back(url);
    }
  }

  OperatorOptions& Op() {
    if (!opts_->operator_mode) opts_->operator_mode.emplace();
    return *opts_->operator_mode;
  }

  // `operator: <file or JWT>` or a list of them.
  void OperatorJwts(const Json& v, const std::string& ptr) {
    std::vector<std::string> items;
    if (!StringList(v, ptr, "operator", &items)) return;
    OperatorOptions& op = Op();
    for (const auto& item : items) {
      std::string token = item;
      // An inline JWT starts with the base64 of `{"`; anything else is a file.
      if (item.rfind("eyJ", 0) != 0) {
        std::ifstream f(item, std::ios::binary);
        if (!f) {
          Error(ptr, fmt::format("error parsing operator JWT: open {}: no such file or directory", item));
          continue;
        }
        std::stringstream ss;
        ss << f.rdbuf();
        token = ss.str();
        // A file may hold the JWT alone or in an nsc-style armored block.
        if (auto at = token.find("-----BEGIN"); at != std::string::npos) {
          size_t start = token.find('\n', at);
          size_t end = token.find("------END", start);
          token = start == std::string::npos ? "" : token.substr(start + 1, end == std::string::npos ? std::string::npos : end - start - 1);
        }
        token.erase(std::remove_if(token.begin(), token.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
                    token.end());
      }
      auto d = jwt::Decode(token);
      if (auto* err = std::get_if<std::string>(&d)) {
        Error(ptr, fmt::format("error parsing operator JWT: {}", *err));
        continue;
      }
      const jwt::Claims& c = std::get<jwt::Claims>(d);
      if (c.type != "operator") {
        Error(ptr, "error parsing operator JWT: not an operator JWT");
        continue;
      }
      op.jwts.push_back(token);
      op.trusted_keys.push_back(c.subject);
      if (auto it = c.nats.find("signing_keys"); it != c.nats.end() && it->is_array()) {
        for (const auto& k : *it) {
          if (k.is_string()) op.trusted_keys.push_back(k.get<std::string>());
        }
      }
      if (op.system_account.empty() && c.nats.contains("system_account") && c.nats["system_account"].is_string()) {
        op.system_account = c.nats["system_account"].get<std::string>();
      }
    }
  }

  // `resolver: MEMORY` or `resolver: {type: full, dir, allow_delete, ...}`.
  void Resolver(const Json& v, const std::string& ptr) {
    OperatorOptions& op = Op();
    op.resolver_set = true;
    if (v.is_string()) {
      std::string s = Lower(v.get<std::string>());
      if (s == "mem" || s == "memory") return;
      if (s.rfind("url", 0) == 0) {
        Error(ptr, "the URL account resolver is not supported by Fjord (use MEMORY or a full directory resolver)");
        return;
      }
      Error(ptr, "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])");
      return;
    }
    if (!v.is_object()) {
      Error(ptr, fmt::format("error parsing operator resolver, wrong type {}", TypeName(v)));
      return;
    }
    std::string type;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "type") {
        String(val, p, key, &type);
      } else if (key == "dir") {
        String(val, p, key, &op.dir);
      } else if (key == "allow_delete") {
        Bool(val, p, key, &op.allow_delete);
      } else if (key == "interval" || key == "timeout" || key == "limit") {
        Ignored(p, k);  // a single server has no peers to sync with or wait for
      } else if (key == "hard_delete" || key == "ttl") {
        NotSupported(p, k);
      } else {
        Unknown(p, k);
      }
    }
    type = Lower(type);
    if (type == "full") {
      op.full_resolver = true;
      if (op.dir.empty()) Error(ptr, "dir has no value and needs to point to a directory");
    } else if (type == "mem" || type == "memory") {
      op.full_resolver = false;
    } else if (type == "cache") {
      Error(ptr, "the CACHE account resolver is not supported by Fjord (use FULL)");
    } else {
      Error(ptr, "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])");
    }
  }

  void ResolverPreload(const Json& v, const std::string& ptr) {
    if (!v.is_object()) {
      Error(ptr, "preload should be a map of account_public_key:account_jwt");
      return;
    }
    OperatorOptions& op = Op();
    for (const auto& [key, val] : v.items()) {
      std::string p = JoinPointer(ptr, key);
      if (!val.is_string()) {
        Error(p, "preload map value should be a string JWT");
        continue;
      }
      auto d = jwt::Decode(val.get<std::string>());
      if (!std::holds_alternative<jwt::Claims>(d) || std::get<jwt::Claims>(d).type != "account") {
        Error(p, "invalid account JWT");
        continue;
      }
      op.preload.emplace_back(key, val.get<std::string>());
    }
  }

  // `accounts { NAME: { users, exports, imports, jetstream, limits,
  // default_permissions } }`, or a list of bare names.
  void Accounts(const Json& v, const std::string& ptr) {
    if (v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i) {
        std::string p = ptr + "/" + std::to_string(i);
        std::string name;
        if (!String(v[i], p, "account", &name)) continue;
        AddAccount(p, name);
      }
      return;
    }
    if (!v.is_object()) {
      Error(ptr, fmt::format("Expected map entries for accounts, got {}", TypeName(v)));
      return;
    }
    for (const auto& [name, entry] : v.items()) {
      std::string p = JoinPointer(ptr, name);
      if (!entry.is_object()) {
        Error(p, "Expected map entries for accounts");
        continue;
      }
      AccountOptions* acc = AddAccount(p, name);
      if (!acc) continue;
      size_t first_user = opts_->auth.users.size();
      std::optional<Permissions> defaults;
      for (const auto& [k, val] : entry.items()) {
        std::string ap = JoinPointer(p, k);
        std::string key = Lower(k);
        if (key == "users") {
          Users(val, ap, name);
        } else if (key == "exports") {
          Exports(val, ap, acc);
        } else if (key == "imports") {
          Imports(val, ap, acc);
        } else if (key == "jetstream") {
          AccountJetStreamBlock(val, ap, acc);
        } else if (key == "limits") {
          AccountLimits(val, ap, acc);
        } else if (key == "default_permissions") {
          Permissions perms;
          if (ParsePermissions(val, ap, &perms)) defaults = std::move(perms);
        } else if (key == "mappings" || key == "maps") {
          Mappings(val, ap, &acc->mappings);
        } else if (key == "nkey" || key == "msg_trace" || key == "trace_dest") {
          NotSupported(ap, k);
        } else {
          Unknown(ap, k);
        }
      }
      if (defaults) {
        for (size_t i = first_user; i < opts_->auth.users.size(); ++i) {
          if (!opts_->auth.users[i].permissions) opts_->auth.users[i].permissions = defaults;
        }
      }
    }
  }

  // `mappings { "src": "dest" | {destination, weight} | [ {…}, … ] }`.
  void Mappings(const Json& v, const std::string& ptr, std::vector<Mapping>* out) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("mappings must be a map, got {}", TypeName(v)));
      return;
    }
    for (const auto& [src, val] : v.items()) {
      std::string p = JoinPointer(ptr, src);
      if (!proto::ValidSubscribeSubject(src)) {
        Error(p, fmt::format("Subject \"{}\" is not a valid subject", src));
        continue;
      }
      Mapping m;
      m.source = src;
      bool ok = true;
      auto dest = [&](const Json& d, const std::string& dp) {
        if (!d.is_object()) {
          Error(dp, "Expected an entry for the mapping destination");
          return false;
        }
        MappingDest md;
        bool weighted = false;
        for (const auto& [k, dv] : d.items()) {
          std::string kp = JoinPointer(dp, k);
          std::string key = Lower(k);
          if (key == "dest" || key == "destination") {
            String(dv, kp, key, &md.subject);
          } else if (key == "weight") {
            int64_t w = -1;
            if (dv.is_number_integer()) {
              w = dv.get<int64_t>();
            } else if (dv.is_string()) {
              std::string ws = dv.get<std::string>();
              if (!ws.empty() && ws.back() == '%') ws.pop_back();
              if (!ParseInt(ws, &w)) {
                Error(kp, fmt::format("Invalid weight \"{}\" for mapping destination", ws));
                return false;
              }
            }
            if (w < 0 || w > 100) {
              Error(kp, fmt::format("Invalid weight {} for mapping destination", w));
              return false;
            }
            md.weight = int(w);
            weighted = true;
          } else if (key == "cluster") {
            NotSupported(kp, k);  // no clusters
            return false;
          } else {
            Error(kp, fmt::format("Unknown field \"{}\" for mapping destination", k));
            return false;
          }
        }
        if (!weighted) {
          Error(dp, fmt::format("Missing weight for mapping destination \"{}\"", md.subject));
          return false;
        }
        m.dests.push_back(std::move(md));
        return true;
      };
      if (val.is_string()) {
        m.dests.push_back({val.get<std::string>(), 100});
      } else if (val.is_array()) {
        for (size_t i = 0; i < val.size(); ++i) ok = dest(val[i], p + "/" + std::to_string(i)) && ok;
      } else {
        ok = dest(val, p);
      }
      if (!ok) continue;
      int total = 0;
      std::set<std::string> seen;
      for (const auto& d : m.dests) {
        total += d.weight;
        std::string err;
        if (!seen.insert(d.subject).second) {
          Error(p, fmt::format("Error adding mapping for \"{}\" : duplicate entry for \"{}\"", src, d.subject));
          ok = false;
        } else if (d.subject != src && !proto::SubjectTransform::Make(src, d.subject, &err)) {
          Error(p, fmt::format("Error adding mapping for \"{}\" to \"{}\" : {}", src, d.subject, err));
          ok = false;
        }
      }
      if (total > 100) {
        Error(p, fmt::format("Error adding mapping for \"{}\" : total weight needs to be <= 100", src));
        ok = false;
      }
      if (ok) out->push_back(std::move(m));
    }
  }

  AccountOptions* AddAccount(const std::string& ptr, const std::string& name) {
    if (name == "$G") {
      Error(ptr, fmt::format("\"{}\" is a Reserved Account", name));
      return nullptr;
    }
    for (const auto& a : opts_->accounts) {
      if (a.name == name) {
        Error(ptr, fmt::format("Duplicate Account Entry: {}", name));
        return nullptr;
      }
    }
    opts_->accounts.emplace_back();
    opts_->accounts.back().name = name;
    return &opts_->accounts.back();
  }

  void Exports(const Json& v, const std::string& ptr, AccountOptions* acc) {
    if (!v.is_array()) {
      Error(ptr, fmt::format("Exports should be an array, got {}", TypeName(v)));
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      std::string p = ptr + "/" + std::to_string(i);
      if (!v[i].is_object()) {
        Error(p, fmt::format("Export Items should be a map with type entry, got {}", TypeName(v[i])));
        continue;
      }
      AccountExport e;
      bool stream = false, service = false, response_seen = false;
      for (const auto& [k, val] : v[i].items()) {
        std::string ep = JoinPointer(p, k);
        std::string key = Lower(k);
        if (key == "stream") {
          stream = String(val, ep, "stream", &e.subject);
        } else if (key == "service") {
          service = String(val, ep, "service", &e.subject);
        } else if (key == "accounts") {
          StringList(val, ep, key, &e.accounts);
        } else if (key == "response" || key == "response_type") {
          std::string t;
          if (!String(val, ep, key, &t)) continue;
          response_seen = true;
          t = Lower(t);
          if (t == "single" || t == "singleton") {
            e.response_type = "singleton";
          } else if (t == "stream") {
            e.response_type = "stream";
          } else if (t == "chunk" || t == "chunked") {
            e.response_type = "chunked";
          } else {
            Error(ep, fmt::format("Unknown response type: \"{}\"", t));
          }
        } else if (key == "threshold" || key == "response_threshold" || key == "response_max_time" ||
                   key == "response_time") {
          response_seen = true;
          Dur(val, ep, key, &e.response_threshold);
        } else if (key == "latency" || key == "account_token_position" || key == "allow_trace") {
          NotSupported(ep, k);
        } else {
          Unknown(ep, k);
        }
      }
      if (stream && service) {
        Error(p, fmt::format("Detected service \"{}\" but already saw a stream", e.subject));
        continue;
      }
      if (!stream && !service) {
        Error(p, "Export Items need a stream or a service subject");
        continue;
      }
      if (stream && response_seen) {
        Error(p, "Detected response directive on non-service");
        continue;
      }
      if (!proto::ValidSubscribeSubject(e.subject)) {
        Error(p, fmt::format("Error adding {} export \"{}\": invalid subject", stream ? "stream" : "service", e.subject));
        continue;
      }
      e.service = service;
      acc->exports.push_back(std::move(e));
    }
  }

  void Imports(const Json& v, const std::string& ptr, AccountOptions* acc) {
    if (!v.is_array()) {
      Error(ptr, fmt::format("Imports should be an array, got {}", TypeName(v)));
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      std::string p = ptr + "/" + std::to_string(i);
      if (!v[i].is_object()) {
        Error(p, fmt::format("Import Items should be a map with type entry, got {}", TypeName(v[i])));
        continue;
      }
      AccountImport imp;
      bool stream = false, service = false;
      for (const auto& [k, val] : v[i].items()) {
        std::string ip = JoinPointer(p, k);
        std::string key = Lower(k);
        if (key == "stream" || key == "service") {
          (key == "stream" ? stream : service) = true;
          if (!val.is_object()) {
            Error(ip, fmt::format("{} entry should be an account map, got {}",
                                  key == "stream" ? "Stream" : "Service", TypeName(val)));
            continue;
          }
          for (const auto& [ak, av] : val.items()) {
            std::string app = JoinPointer(ip, ak);
            std::string akey = Lower(ak);
            if (akey == "account") {
              String(av, app, akey, &imp.account);
            } else if (akey == "subject") {
              String(av, app, akey, &imp.subject);
            } else {
              Unknown(app, ak);
            }
          }
          if (imp.account.empty() || imp.subject.empty()) Error(ip, "Expect an account name and a subject");
        } else if (key == "prefix") {
          String(val, ip, key, &imp.prefix);
        } else if (key == "to") {
          String(val, ip, key, &imp.to);
        } else if (key == "share" || key == "allow_trace") {
          NotSupported(ip, k);
        } else {
          Unknown(ip, k);
        }
      }
      if (stream && service) {
        Error(p, "Detected service but already saw a stream");
        continue;
      }
      if (!stream && !service) {
        Error(p, "Import Items need a stream or a service");
        continue;
      }
      if (stream && !imp.prefix.empty() && !imp.to.empty()) {
        Error(p, "Stream import can not have a 'prefix' and a 'to' property");
        continue;
      }
      if (service && !imp.prefix.empty()) {
        Error(p, "Service import can not have a 'prefix'");
        continue;
      }
      imp.service = service;
      acc->imports.push_back(std::move(imp));
    }
  }

  void AccountJetStreamBlock(const Json& v, const std::string& ptr, AccountOptions* acc) {
    AccountJetStream& js = acc->jetstream;
    if (JetStreamSwitch(v, ptr, &js.enabled, "Expected map, bool or string to define JetStream")) return;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "max_memory" || key == "max_mem" || key == "mem" || key == "memory") {
        StorageSize(val, p, key, &js.max_memory);
      } else if (key == "max_store" || key == "max_file" || key == "max_disk" || key == "store" ||
                 key == "disk") {
        StorageSize(val, p, key, &js.max_store);
      } else if (key == "max_streams" || key == "streams") {
        IntIn(val, p, key, &js.max_streams, -1);
      } else if (key == "max_consumers" || key == "consumers") {
        IntIn(val, p, key, &js.max_consumers, -1);
      } else if (key == "max_bytes_required" || key == "max_stream_bytes" || key == "max_bytes" ||
                 key == "mem_max_stream_bytes" || key == "memory_max_stream_bytes" ||
                 key == "disk_max_stream_bytes" || key == "store_max_stream_bytes" ||
                 key == "max_ack_pending" || key == "cluster_traffic") {
        NotSupported(p, k);
      } else {
        Unknown(p, k);
      }
    }
  }

  void AccountLimits(const Json& v, const std::string& ptr, AccountOptions* acc) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("Expected account limits to be a map/struct, got {}", TypeName(v)));
      return;
    }
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "max_connections" || key == "max_conn") {
        IntIn(val, p, key, &acc->max_connections, -1);
      } else if (key == "max_subscriptions" || key == "max_subs") {
        IntIn(val, p, key, &acc->max_subscriptions, -1);
      } else if (key == "max_payload" || key == "max_pay") {
        IntIn(val, p, key, &acc->max_payload, -1);
      } else if (key == "max_leafnodes" || key == "max_leafs") {
        Ignored(p, k);  // leaf connections are not limited in number
      } else {
        Unknown(p, k);
      }
    }
  }

  void Users(const Json& v, const std::string& ptr, const std::string& account = "") {
    if (!v.is_array()) {
      Error(ptr, fmt::format("users must be an array, got {}", TypeName(v)));
      return;
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < v.size(); ++i) {
      std::string p = ptr + "/" + std::to_string(i);
      const Json& entry = v[i];
      if (!entry.is_object()) {
        Error(p, fmt::format("users entries must be maps, got {}", TypeName(entry)));
        continue;
      }
      User user;
      for (const auto& [k, val] : entry.items()) {
        std::string up = JoinPointer(p, k);
        std::string key = Lower(k);
        if (key == "user" || key == "username") {
          String(val, up, key, &user.username);
        } else if (key == "pass" || key == "password") {
          String(val, up, key, &user.password);
        } else if (key == "nkey") {
          if (String(val, up, key, &user.nkey) &&
              !nkeys::DecodePublic(user.nkey, nkeys::Role::kUser)) {
            Error(up, fmt::format("Not a valid public nkey for a user: \"{}\"", user.nkey));
          }
        } else if (key == "permissions" || key == "permission" || key == "authorization") {
          Permissions perms;
          if (ParsePermissions(val, up, &perms)) user.permissions = std::move(perms);
        } else if (key == "allowed_connection_types" || key == "connection_types" ||
                   key == "clients") {
          if (StringList(val, up, key, &user.allowed_connection_types)) {
            // As nats-server: known names, in any case, kept upper-cased;
            // the unknown ones listed in the error.
            static const std::set<std::string> kKnown = {"STANDARD", "WEBSOCKET", "LEAFNODE", "LEAFNODE_WS",
                                                         "MQTT", "MQTT_WS", "IN_PROCESS"};
            std::string unknown;
            for (auto& t : user.allowed_connection_types) {
              std::string upper = t;
              for (auto& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
              if (!kKnown.count(upper)) unknown += fmt::format("{}\"{}\"", unknown.empty() ? "" : " ", t);
              t = upper;
            }
            if (!unknown.empty()) Error(up, fmt::format("invalid connection types [{}]", unknown));
          }
        } else if (key == "account") {
          if (!account.empty()) {
            Error(up, "a user inside an account can not name another account");
          } else {
            String(val, up, key, &user.account);
          }
        } else {
          Unknown(up, k);
        }
      }
      if (!account.empty()) user.account = account;
      if (user.username.empty() && user.nkey.empty()) {
        Error(p, "User entry requires a user");
        continue;
      }
      const std::string& id = user.nkey.empty() ? user.username : user.nkey;
      if (!seen.insert(id).second) {
        Error(p, fmt::format("Duplicate user \"{}\" detected", id));
        continue;
      }
      opts_->auth.users.push_back(std::move(user));
    }
  }

  bool ParsePermissions(const Json& v, const std::string& ptr, Permissions* out) {
    if (!v.is_object()) {
      Error(ptr, fmt::format("Expected permissions to be a map/struct, got {}", TypeName(v)));
      return false;
    }
    bool ok = true;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "publish" || key == "pub" || key == "import") {
        SubjectPermission sp;
        if (SubjectPerm(val, p, &sp)) {
          out->publish = std::move(sp);
        } else {
          ok = false;
        }
      } else if (key == "subscribe" || key == "sub" || key == "export") {
        SubjectPermission sp;
        if (SubjectPerm(val, p, &sp)) {
          out->subscribe = std::move(sp);
        } else {
          ok = false;
        }
      } else if (key == "allow_responses" || key == "publish_allow_responses") {
        ok = ResponsePerm(val, p, out) && ok;
      } else {
        Error(p, fmt::format("Unknown field \"{}\" parsing permissions", k));
        ok = false;
      }
    }
    return ok;
  }

  // `cluster { permissions }`: a user's permissions (import is publish,
  // export subscribe), without response permissions, as nats-server.
  bool ClusterPermissions(const Json& v, const std::string& ptr, Permissions* out) {
    if (!ParsePermissions(v, ptr, out)) return false;
    if (out->allow_responses) {
      Error(ptr, "Cluster permissions do not support dynamic responses");
      return false;
    }
    return true;
  }

  // A subject, a list (both mean allow), or {allow: ..., deny: ...}.
  bool SubjectPerm(const Json& v, const std::string& ptr, SubjectPermission* out) {
    if (!v.is_object()) return StringList(v, ptr, "permission", &out->allow);
    bool ok = true;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "allow") {
        ok = StringList(val, p, key, &out->allow) && ok;
      } else if (key == "deny") {
        ok = StringList(val, p, key, &out->deny) && ok;
      } else {
        Error(p, fmt::format("Unknown field name \"{}\" parsing subject permissions, only 'allow' "
                             "or 'deny' are permitted",
                             k));
        ok = false;
      }
    }
    return ok;
  }

  bool ResponsePerm(const Json& v, const std::string& ptr, Permissions* out) {
    if (v.is_boolean()) {
      if (v.get<bool>()) {
        out->allow_responses = ResponsePermission{};
      } else {
        out->allow_responses.reset();
      }
      return true;
    }
    if (!v.is_object()) {
      Error(ptr, fmt::format("allow_responses must be a boolean or a map, got {}", TypeName(v)));
      return false;
    }
    ResponsePermission rp;
    bool ok = true;
    for (const auto& [k, val] : v.items()) {
      std::string p = JoinPointer(ptr, k);
      std::string key = Lower(k);
      if (key == "max" || key == "max_msgs" || key == "max_messages" || key == "max_responses") {
        ok = IntIn(val, p, key, &rp.max_msgs, 0) && ok;
      } else if (key == "expires" || key == "expiration" || key == "ttl") {
        ok = Dur(val, p, key, &rp.expires) && ok;
      } else {
        Error(p, fmt::format("Unknown field \"{}\" parsing allow_responses", k));
        ok = false;
      }
    }
    if (ok) out->allow_responses = rp;
    return ok;
  }

  const Document& doc_;
  ServerOptions* opts_;
  // `cluster { authorization { permissions } }` while the cluster block is
  // parsed.
  std::optional<Permissions> cluster_auth_permissions_;
};

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += "\n";
    out += l;
  }
  return out;
}

std::optional<std::string> ApplyFile(const std::string& path, ServerOptions& opts) {
  ParseResult parsed = ParseFile(path);
  if (auto* err = std::get_if<ParseError>(&parsed)) return err->ToString();
  return ApplyConfig(std::get<Document>(parsed), opts);
}

// Users name accounts that exist, once each across all accounts; imports
// name accounts that export what they import, to them.
std::optional<std::string> CheckAccounts(const ServerOptions& o) {
  auto find = [&](const std::string& name) -> const AccountOptions* {
    for (const auto& a : o.accounts)
      if (a.name == name) return &a;
    return nullptr;
  };
  std::set<std::string> ids;
  for (const auto& u : o.auth.users) {
    const std::string& id = u.nkey.empty() ? u.username : u.nkey;
    if (!ids.insert(id).second) return fmt::format("Duplicate user \"{}\" detected", id);
    if (!u.account.empty() && u.account != "$G" && !find(u.account)) {
      return fmt::format("user \"{}\": account \"{}\" is not defined", id, u.account);
    }
  }
  for (const auto& a : o.accounts) {
    for (const auto& e : a.exports) {
      for (const auto& n : e.accounts) {
        if (!find(n)) {
          return fmt::format("\"{}\" account not defined for {} export", n, e.service ? "service" : "stream");
        }
      }
    }
    for (const auto& imp : a.imports) {
      const char* kind = imp.service ? "service" : "stream";
      const AccountOptions* exporter = find(imp.account);
      if (!exporter) return fmt::format("\"{}\" account not defined for {} import", imp.account, kind);
      bool authorized = false;
      for (const auto& e : exporter->exports) {
        if (e.service != imp.service || !proto::SubjectIsSubsetOf(imp.subject, e.subject)) continue;
        if (e.accounts.empty() || std::find(e.accounts.begin(), e.accounts.end(), a.name) != e.accounts.end()) {
          authorized = true;
        }
      }
      if (!authorized) {
        return fmt::format("Error adding {} import \"{}\": {} import not authorized", kind, imp.subject, kind);
      }
      // Streams map the exporter's subject onto `to`; services map `to`
      // (what the importer publishes) onto the exporter's subject.
      std::string err;
      if (!imp.to.empty() && imp.to != imp.subject &&
          !(imp.service ? proto::SubjectTransform::MakeForImport(imp.to, imp.subject, &err)
                        : proto::SubjectTransform::MakeForImport(imp.subject, imp.to, &err))) {
        return fmt::format("Error adding {} import \"{}\": {} to \"{}\"", kind, imp.subject, err, imp.to);
      }
    }
  }
  return std::nullopt;
}

// nats-server's validateWebsocketOptions.
std::optional<std::string> CheckWebsocket(const ServerOptions& o) {
  const WebsocketOptions& w = o.websocket;
  if (w.port == 0) return std::nullopt;
  if (!w.tls && !w.no_tls) return std::string("websocket requires TLS configuration");
  if (!w.no_auth_user.empty()) {
    bool found = false;
    for (const auto& u : o.auth.users) found = found || u.username == w.no_auth_user || u.nkey == w.no_auth_user;
    if (!found) {
      return fmt::format(
          "no_auth_user: \"{}\" not present as user or nkey in authorization block or account configuration",
          w.no_auth_user);
    }
  }
  if (!o.auth.users.empty()) {
    if (!w.username.empty()) return std::string("websocket authentication username not compatible with presence of users/nkeys");
    if (!w.token.empty()) return std::string("websocket authentication token not compatible with presence of users/nkeys");
  }
  if (!w.token.empty() && (!w.username.empty() || !w.password.empty())) {
    return std::string("websocket authorization: cannot have a user/pass and token");
  }
  if (!w.jwt_cookie.empty() && !o.operator_mode) {
    return fmt::format("trusted operators or trusted keys configuration is required for JWT authentication via cookie \"{}\"",
                       w.jwt_cookie);
  }
  return std::nullopt;
}

// Checks that span several options, after file and flags are both applied.
std::optional<std::string> Finish(ServerOptions& o) {
  const AuthOptions& a = o.auth;
  if (!a.token.empty() && (!a.username.empty() || !a.password.empty())) {
    return "Cannot have a user/pass and token";
  }
  if (!a.users.empty() && !a.username.empty()) {
    return "Can not have a single user/pass and a users array";
  }
  if (!a.users.empty() && !a.token.empty()) {
    return "Can not have a token and a users array";
  }
  if (!o.no_auth_user.empty() && a.users.empty()) {
    return fmt::format("no_auth_user: \"{}\" present, but users are not defined", o.no_auth_user);
  }
  if (!o.no_auth_user.empty()) {
    bool found = false;
    for (const auto& u : a.users) found = found || u.username == o.no_auth_user || u.nkey == o.no_auth_user;
    if (!found) {
      return fmt::format(
          "no_auth_user: \"{}\" not present as user or nkey in authorization block or account "
          "configuration",
          o.no_auth_user);
    }
  }
  if (auto err = CheckAccounts(o)) return err;
  if (o.operator_mode) {
    auto& op = *o.operator_mode;
    if (op.jwts.empty()) return std::string("resolver or resolver_preload need an operator");
    if (!a.users.empty() || !a.username.empty() || !a.token.empty()) {
      return std::string("operator mode does not allow authorization users, user/password or a token");
    }
    if (!o.accounts.empty()) return std::string("operator mode and an accounts block can not be used together");
    if (!op.resolver_set) return std::string("operator mode needs a resolver (MEMORY or a full directory resolver)");
    if (!o.system_account_set && !op.system_account.empty()) o.system_account = op.system_account;
  }
  if (o.max_payload > o.max_pending) {
    return fmt::format("max_payload ({}) cannot be higher than max_pending ({})", o.max_payload,
                       o.max_pending);
  }
  if (o.tls_flag || o.tls_verify_flag) {
    tls::Options t;
    t.cert_file = o.tls_cert_flag;
    t.key_file = o.tls_key_flag;
    t.ca_file = o.tls_ca_flag;
    t.verify = o.tls_verify_flag;
    if (auto err = tls::Validate(t); !err.empty()) return err;
    o.tls = std::move(t);
  }
  if (o.allow_non_tls && !o.tls) return "allow_non_tls needs a tls block";
  if (auto err = CheckWebsocket(o)) return err;
  if (o.https_port != 0 && o.http_port == 0 && !o.tls) {
    return "TLS cert and key required for HTTPS";
  }
  o.cluster.enabled = o.cluster.port != 0;
  if (o.jetstream.enabled && o.jetstream.store_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    o.jetstream.store_dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/nats";
  }
  return std::nullopt;
}

// --- Command line ----------------------------------------------------------

struct Flag {
  std::vector<std::string> names;  // first is canonical
  bool is_bool;
  // Returns an error text.
  std::function<std::optional<std::string>(ServerOptions&, const std::string& value)> apply;
};

std::optional<std::string> SetInt(const std::string& flag, const std::string& value, int64_t lo,
                                  int64_t hi, int64_t* out) {
  int64_t n = 0;
  if (!ParseInt(value, &n)) return fmt::format("invalid value \"{}\" for flag -{}: parse error", value, flag);
  if (n < lo || n > hi) {
    return fmt::format("invalid value \"{}\" for flag -{}: value out of range", value, flag);
  }
  *out = n;
  return std::nullopt;
}

template <typename T>
Flag IntFlag(std::vector<std::string> names, T ServerOptions::*field, int64_t lo, int64_t hi) {
  std::string name = names[0];
  return Flag{std::move(names), false,
              [name, field, lo, hi](ServerOptions& o, const std::string& v) -> std::optional<std::string> {
                int64_t n = 0;
                if (auto err = SetInt(name, v, lo, hi, &n)) return err;
                o.*field = static_cast<T>(n);
                return std::nullopt;
              }};
}

Flag StringFlag(std::vector<std::string> names,
                std::function<void(ServerOptions&, const std::string&)> set) {
  return Flag{std::move(names), false,
              [set](ServerOptions& o, const std::string& v) -> std::optional<std::string> {
                set(o, v);
                return std::nullopt;
              }};
}

// Go's strconv.ParseBool, as used by nats-server's flag package.
std::optional<bool> GoBool(const std::string& s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False") return false;
  return std::nullopt;
}

Flag BoolFlag(std::vector<std::string> names, std::function<void(ServerOptions&, bool)> set) {
  return Flag{std::move(names), true,
              [set](ServerOptions& o, const std::string& v) -> std::optional<std::string> {
                set(o, v == "true");
                return std::nullopt;
              }};
}

Flag Unsupported(std::vector<std::string> names, bool is_bool) {
  std::string name = names[0];
  return Flag{std::move(names), is_bool,
              [name](ServerOptions&, const std::string&) -> std::optional<std::string> {
                return fmt::format("flag --{} is not supported by Fjord (no profiling)", name);
              }};
}

// --routes: comma-separated route URLs; they replace the file's (an empty
// value clears them), as nats-server's.
std::optional<std::string> RoutesFlag(ServerOptions& o, const std::string& value) {
  std::vector<std::string> routes;
  std::stringstream in(value);
  for (std::string url; std::getline(in, url, ',');) {
    url = Trim(url);
    if (url.empty() || std::find(routes.begin(), routes.end(), url) != routes.end()) continue;
    base::RouteUrl parsed;
    if (auto why = base::ParseRouteUrl(url, false, &parsed)) {
      return "flag -routes: " + RouteUrlError(url, *why);
    }
    routes.push_back(url);
  }
  o.cluster.routes = std::move(routes);
  return std::nullopt;
}

// --cluster / --cluster_listen <scheme://[user:password@]host:port>, as
// nats-server's overrideCluster: port -1 is random, an empty value turns
// clustering off, and credentials in the URL replace the file's
// cluster authorization user (none clears it).
Flag ClusterListenFlag(const std::string& name) {
  auto apply = [name](ServerOptions& o, const std::string& v) -> std::optional<std::string> {
    if (v.empty()) {
      o.cluster.port = 0;
      return std::nullopt;
    }
    base::RouteUrl u;
    if (auto why = base::ParseRouteUrl(Trim(v), true, &u)) {
      return fmt::format("invalid value \"{}\" for flag -{}: {} (expected nats://host:port)",
                         RedactUrl(v), name, *why);
    }
    if (u.has_user && !u.has_password) return std::string("expected cluster password to be set");
    o.cluster.host = u.host;
    o.cluster.port = u.port;
    o.cluster.username = u.user;
    o.cluster.password = u.password;
    return std::nullopt;
  };
  return Flag{{name}, false, apply};
}

// Flags that change options. -c, -t, -h, -v, -sl and --help_tls are
// handled by LoadOptions itself.
const std::vector<Flag>& OptionFlags() {
  static const std::vector<Flag> flags = {
      StringFlag({"addr", "a", "net"}, [](ServerOptions& o, const std::string& v) { o.host = v; }),
      IntFlag({"port", "p"}, &ServerOptions::port, -1, 65535),
      StringFlag({"server_name", "n", "name"},
                 [](ServerOptions& o, const std::string& v) { o.server_name = v; }),
      StringFlag({"pid", "P"}, [](ServerOptions& o, const std::string& v) { o.pid_file = v; }),
      IntFlag({"http_port", "m"}, &ServerOptions::http_port, -1, 65535),
      IntFlag({"https_port", "ms"}, &ServerOptions::https_port, -1, 65535),
      StringFlag({"client_advertise"},
                 [](ServerOptions& o, const std::string& v) { o.client_advertise = v; }),
      StringFlag({"ports_file_dir"},
                 [](ServerOptions& o, const std::string& v) { o.ports_file_dir = v; }),
      StringFlag({"log", "l"}, [](ServerOptions& o, const std::string& v) { o.log_file = v; }),
      BoolFlag({"logtime", "T"}, [](ServerOptions& o, bool b) { o.logtime = b; }),
      BoolFlag({"debug", "D"}, [](ServerOptions& o, bool b) { o.debug = b; }),
      BoolFlag({"trace", "V"}, [](ServerOptions& o, bool b) { o.trace = b; }),
      BoolFlag({"VV"}, [](ServerOptions& o, bool b) { o.trace = o.trace_verbose = b; }),
      BoolFlag({"DV"}, [](ServerOptions& o, bool b) { o.debug = o.trace = b; }),
      BoolFlag({"DVV"}, [](ServerOptions& o, bool b) { o.debug = o.trace = o.trace_verbose = b; }),
      IntFlag({"log_size_limit"}, &ServerOptions::log_size_limit, 0,
              std::numeric_limits<int64_t>::max()),
      IntFlag({"max_traced_msg_len"}, &ServerOptions::max_traced_msg_len, 0,
              std::numeric_limits<int>::max()),
      BoolFlag({"jetstream", "js"}, [](ServerOptions& o, bool b) { o.jetstream.enabled = b; }),
      StringFlag({"store_dir", "sd"},
                 [](ServerOptions& o, const std::string& v) { o.jetstream.store_dir = v; }),
      StringFlag({"user"}, [](ServerOptions& o, const std::string& v) { o.auth.username = v; }),
      StringFlag({"pass"}, [](ServerOptions& o, const std::string& v) { o.auth.password = v; }),
      StringFlag({"auth"}, [](ServerOptions& o, const std::string& v) { o.auth.token = v; }),
      BoolFlag({"syslog", "s"},
               [](ServerOptions& o, bool b) {
                 if (b) o.warnings.push_back("syslog is not supported by Fjord; logging to " +
                                             (o.log_file.empty() ? std::string("stderr") : o.log_file));
               }),
      StringFlag({"remote_syslog", "r"},
                 [](ServerOptions& o, const std::string&) {
                   o.warnings.push_back("remote syslog is not supported by Fjord and is ignored");
                 }),
      BoolFlag({"tls"}, [](ServerOptions& o, bool b) { o.tls_flag = b; }),
      StringFlag({"tlscert"}, [](ServerOptions& o, const std::string& v) { o.tls_cert_flag = v; }),
      StringFlag({"tlskey"}, [](ServerOptions& o, const std::string& v) { o.tls_key_flag = v; }),
      BoolFlag({"tlsverify"}, [](ServerOptions& o, bool b) { o.tls_verify_flag = b; }),
      StringFlag({"tlscacert"}, [](ServerOptions& o, const std::string& v) { o.tls_ca_flag = v; }),
      Flag{{"routes"}, false, RoutesFlag},
      ClusterListenFlag("cluster"),
      ClusterListenFlag("cluster_listen"),
      Flag{{"cluster_name"}, false,
           [](ServerOptions& o, const std::string& v) -> std::optional<std::string> {
             if (v.find(' ') != std::string::npos) {
               return std::string("cluster name cannot contain spaces");
             }
             o.cluster.name = v;
             return std::nullopt;
           }},
      BoolFlag({"no_advertise"}, [](ServerOptions& o, bool b) { o.cluster.no_advertise = b; }),
      StringFlag({"cluster_advertise"},
                 [](ServerOptions& o, const std::string& v) { o.cluster.advertise = v; }),
      Flag{{"connect_retries"}, false,
           [](ServerOptions& o, const std::string& v) -> std::optional<std::string> {
             int64_t n = 0;
             if (auto err = SetInt("connect_retries", v, 0, std::numeric_limits<int>::max(), &n)) {
               return err;
             }
             o.cluster.connect_retries = static_cast<int>(n);
             return std::nullopt;
           }},
      Unsupported({"profile"}, false),
  };
  return flags;
}

const Flag* FindFlag(const std::string& name) {
  for (const auto& f : OptionFlags()) {
    for (const auto& n : f.names) {
      if (n == name) return &f;
    }
  }
  return nullptr;
}

std::optional<std::string> ApplyFlags(const std::vector<std::pair<std::string, std::string>>& flags,
                                      ServerOptions& o) {
  const std::string* routes = nullptr;
  const std::string* cluster_url = nullptr;
  for (const auto& [name, value] : flags) {
    if (auto err = FindFlag(name)->apply(o, value)) return err;
    if (name == "routes") routes = &value;
    if (name == "cluster" || name == "cluster_listen") cluster_url = &value;
  }
  // nats-server: --routes needs a cluster port from the file or --cluster.
  if (routes != nullptr && !routes->empty() && (cluster_url == nullptr || cluster_url->empty()) &&
      o.cluster.host.empty() && o.cluster.port == 0) {
    return std::string("solicited routes require cluster capabilities, e.g. --cluster");
  }
  return std::nullopt;
}

// `-sl cmd[=pid|pidfile]`: signals a running server, as nats-server does.
// Returns the error text.
std::optional<std::string> SendSignal(const std::string& arg, const ServerOptions& o) {
  std::string cmd = arg;
  std::string target = o.pid_file;
  if (size_t eq = arg.find('='); eq != std::string::npos) {
    cmd = arg.substr(0, eq);
    target = arg.substr(eq + 1);
  }
  static const std::vector<std::pair<std::string, int>> kSignals = {
      {"stop", SIGKILL},   {"quit", SIGINT},   {"term", SIGTERM},
      {"reopen", SIGUSR1}, {"reload", SIGHUP}, {"ldm", SIGUSR2}};
  int sig = 0;
  for (const auto& [name, s] : kSignals) {
    if (name == cmd) sig = s;
  }
  if (sig == 0) return fmt::format("unknown signal \"{}\"", cmd);
  if (target.empty()) return std::string("no pid given: use -sl <signal>=<pid or pid file>");
  int64_t pid = 0;
  if (!ParseInt(target, &pid)) {
    std::ifstream in(target);
    std::string text;
    if (!(in >> text) || !ParseInt(text, &pid)) {
      return fmt::format("could not read a pid from \"{}\"", target);
    }
  }
  if (pid <= 0 || ::kill(static_cast<pid_t>(pid), sig) != 0) {
    return fmt::format("could not signal process {}: {}", pid, std::strerror(errno));
  }
  return std::nullopt;
}

}  // namespace

std::variant<Duration, std::string> ParseDuration(const std::string& text) {
  const std::string quoted = "\"" + text + "\"";
  std::string_view s(text);
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Duration{0};
  if (s.empty()) return "time: invalid duration " + quoted;
  static const std::vector<std::pair<std::string_view, int64_t>> kUnits = {
      {"ns", 1},          {"us", 1000},        {"\xC2\xB5s", 1000}, {"\xCE\xBCs", 1000},
      {"ms", 1000000},    {"s", 1000000000},   {"m", 60000000000},  {"h", 3600000000000}};
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    size_t int_digits = i;
    size_t frac_digits = 0;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac_digits;
    }
    if (int_digits + frac_digits == 0) return "time: invalid duration " + quoted;
    long double number = std::strtold(std::string(s.substr(0, i)).c_str(), nullptr);
    s.remove_prefix(i);
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && (s[u] < '0' || s[u] > '9')) ++u;
    if (u == 0) return "time: missing unit in duration " + quoted;
    std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    int64_t scale = 0;
    for (const auto& [name, ns] : kUnits) {
      if (name == unit) scale = ns;
    }
    if (scale == 0) return fmt::format("time: unknown unit \"{}\" in duration {}", unit, quoted);
    total += number * static_cast<long double>(scale);
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      return "time: invalid duration " + quoted;
    }
  }
  auto ns = static_cast<int64_t>(total + 0.5L);
  return Duration{negative ? -ns : ns};
}

std::string UsageText() {
  return R"(
Usage: fjord-server [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to fjord-server process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/fjord-server.pid)
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (traces system account as well)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (traces system account as well)
        --log_size_limit <limit>     Logfile size limit (default: auto)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version

nats-server's syslog and profiling flags are recognised but not supported
by Fjord.
)";
}

std::string TlsHelpText() {
  return R"(
TLS Options (flags, or a tls { } block in the configuration file):
    --tls                        Enable TLS, do not verify clients (default: false)
    --tlscert <file>             Server certificate file
    --tlskey <file>              Private key for server certificate
    --tlsverify                  Enable TLS, verify client certificates
    --tlscacert <file>           Client certificate CA for verification

The tls block also takes verify_and_map, timeout, handshake_first,
min_version, cipher_suites, curve_preferences and pinned_certs; see
docs/configuration.md.
)";
}

std::string VersionText() {
  return fmt::format("fjord-server version {} (nats-server {} compatible)\n", fjord::kFjordVersion,
                     kNatsCompatVersion);
}

std::optional<std::string> ApplyConfig(const Document& doc, ServerOptions& opts) {
  Loader loader(doc, &opts);
  loader.Run();
  if (!loader.errors.empty()) return JoinLines(loader.errors);
  return std::nullopt;
}

std::optional<std::string> LoadConfigFile(const std::string& path, ServerOptions& opts) {
  ServerOptions next = opts;
  next.config_file = path;
  if (auto err = ApplyFile(path, next)) return err;
  if (auto err = Finish(next)) return err;
  opts = std::move(next);
  return std::nullopt;
}

std::variant<ServerOptions, std::string> ReloadOptions(const ServerOptions& current) {
  ServerOptions o;
  o.config_file = current.config_file;
  o.cli_flags = current.cli_flags;
  if (!o.config_file.empty()) {
    if (auto err = ApplyFile(o.config_file, o)) return *err;
  }
  if (auto err = ApplyFlags(o.cli_flags, o)) return *err;
  if (auto err = Finish(o)) return *err;
  return o;
}

std::variant<ServerOptions, std::string> LoadOptions(int argc, char** argv) {
  ServerOptions o;
  bool check_config = false;
  bool show_help = false;
  bool show_version = false;
  std::string signal_arg;
  // Go flag package rules, as nats-server uses it: one or two dashes,
  // `-name value` or `-name=value`, bool flags take only `-name[=bool]`,
  // parsing stops at the first non-flag argument or "--".
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') break;
    if (arg == "--") {
      ++i;
      break;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    if (name.empty() || name[0] == '-' || name[0] == '=') return "bad flag syntax: " + arg;
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    auto bool_value = [&]() -> std::variant<bool, std::string> {
      if (!value) return true;
      if (auto b = GoBool(*value)) return *b;
      return fmt::format("invalid boolean value \"{}\" for -{}: parse error", *value, name);
    };
    auto take_value = [&]() -> std::optional<std::string> {
      if (value) return value;
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (name == "h" || name == "help" || name == "v" || name == "version" || name == "t" ||
        name == "help_tls") {
      auto b = bool_value();
      if (auto* err = std::get_if<std::string>(&b)) return *err;
      bool on = std::get<bool>(b);
      if (name == "h" || name == "help") show_help = on;
      if (name == "v" || name == "version") show_version = on;
      if (name == "t") check_config = on;
      if (name == "help_tls" && on) {
        o.exit_now = true;
        o.exit_text = TlsHelpText();
        return o;
      }
      continue;
    }
    if (name == "c" || name == "config" || name == "sl" || name == "signal") {
      auto v = take_value();
      if (!v) return "flag needs an argument: -" + name;
      (name == "c" || name == "config" ? o.config_file : signal_arg) = *v;
      continue;
    }
    const Flag* flag = FindFlag(name);
    if (flag == nullptr) {
      return fmt::format("flag provided but not defined: -{} (see fjord-server --help)", name);
    }
    std::string v;
    if (flag->is_bool) {
      auto b = bool_value();
      if (auto* err = std::get_if<std::string>(&b)) return *err;
      v = std::get<bool>(b) ? "true" : "false";
    } else {
      auto taken = take_value();
      if (!taken) return "flag needs an argument: -" + name;
      v = *taken;
    }
    o.cli_flags.emplace_back(flag->names[0], v);
  }
  if (i < argc) {
    std::string cmd = argv[i];
    if (cmd == "version") {
      show_version = true;
    } else if (cmd == "help") {
      show_help = true;
    } else {
      return fmt::format("unrecognized command: \"{}\"", cmd);
    }
  }

  if (show_help || show_version) {
    o.exit_now = true;
    o.exit_text = show_help ? UsageText() : VersionText();
    return o;
  }
  if (check_config && o.config_file.empty()) {
    return "must specify [-c, --config] option to check configuration file syntax";
  }

  if (!o.config_file.empty()) {
    if (auto err = ApplyFile(o.config_file, o)) return *err;
  }
  if (auto err = ApplyFlags(o.cli_flags, o)) return *err;
  if (auto err = Finish(o)) return *err;

  if (!signal_arg.empty()) {
    if (auto err = SendSignal(signal_arg, o)) return *err;
    o.exit_now = true;
    return o;
  }
  if (check_config) {
    // nats-server -t treats warnings as failures.
    if (!o.warnings.empty()) return JoinLines(o.warnings);
    o.exit_now = true;
    o.exit_text = fmt::format("fjord-server: configuration file {} is valid\n", o.config_file);
  }
  return o;
}

}  // namespace fjord::conf
