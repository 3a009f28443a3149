#pragma once
// Client authentication and per-user permissions.
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/config.h"

namespace fjord::server {

struct Credentials {
  std::string token;
  std::string user;
  std::string pass;
  std::string nkey = {};   // CONNECT `nkey`: the user's public key
  std::string sig = {};    // CONNECT `sig`: its signature of `nonce`, base64
  std::string nonce = {};  // what this server sent in INFO
  // The client certificate's identities (tls::Identities), for
  // verify_and_map; empty without a verified certificate.
  std::vector<std::string> cert_ids = {};
  std::string jwt = {};  // CONNECT `jwt`: a user JWT (operator mode)
  // What the client connected over, in allowed_connection_types' names.
  std::string connection_type = "STANDARD";
};

// Whether a message on the literal `subject` may pass `p` (no allow list:
// everything not denied).
bool PublishAllowed(const PermissionSet& p, std::string_view subject);
// Whether interest in `pattern` may pass `p`: inside an allowed pattern and
// not inside a denied one (messages on a wider pattern are still checked
// one by one, see PermissionChecker::DeliveryDenied).
bool SubscribeAllowed(const PermissionSet& p, std::string_view pattern);

// Subject permission checks for one user, with a small cache of publish
// decisions (publish subjects repeat, and the check runs on every PUB).
// Owned by one connection; not thread-safe.
class PermissionChecker {
 public:
  explicit PermissionChecker(Permissions p) : p_(std::move(p)) {}
  bool CanPublish(std::string_view subject);
  bool CanSubscribe(std::string_view subject) const;
  // A message on `subject` must not reach this user if subscribe-deny
  // covers it, even through a wider wildcard subscription.
  bool DeliveryDenied(std::string_view subject) const;
  bool HasSubscribeDeny() const { return !p_.subscribe.deny.empty(); }
  const Permissions& permissions() const { return p_; }

 private:
  Permissions p_;
  std::unordered_map<std::string, bool> pub_cache_;
};

bool AuthRequired(const Config& cfg);
// Whether INFO carries a nonce for nkey users to sign.
bool NonceRequired(const Config& cfg);
// 11 random bytes in base64url without padding (15 characters), as
// nats-server's nonces.
std::string NewNonce();

struct AuthResult {
  bool ok = false;
  std::string user;
  std::string account;  // empty = the global account
  std::unique_ptr<PermissionChecker> permissions;
  int64_t expires = 0;     // unix seconds when the credentials lapse; 0 = never
  std::string error;       // why not, for the client when not the usual violation  // null = everything allowed
};

AuthResult Authenticate(const Config& cfg, const Credentials& creds);

// Checks a password against a plain or bcrypt stored value, in constant
// time for plain ones.
bool PasswordMatches(std::string_view stored, std::string_view given);

}  // namespace fjord::server
