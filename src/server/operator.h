#pragma once
// Operator mode (decentralized authentication): accounts are described by
// JWTs an operator signed, users by JWTs their account signed, and a client
// proves it holds the user's key by signing INFO's nonce (or, for a bearer
// token, by presenting the JWT alone).
//
// The resolver keeps the account JWTs: in memory (`resolver: MEMORY` with
// `resolver_preload`), or also in a directory (`resolver: {type: full,
// dir}`), one `<account>.jwt` file each, which `$SYS.REQ.CLAIMS.UPDATE`
// pushes add to and replace (fsynced before the push is answered). An account is made the first time a user of
// it connects (or at start for the system account) and its limits follow
// every new JWT.
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "jwt/jwt.h"
#include "server/auth.h"
#include "server/config.h"

namespace fjord::server {

class Account;
class Server;

class Operator {
 public:
  Operator(Server* server, std::shared_ptr<const OperatorConfig> cfg);

  // Loads the preloads and, for a full resolver, the directory. Error text
  // (an unreadable directory, a preload that is not a valid account JWT).
  std::string Load();

  // The account `pub`, made from its JWT on first use; null (and *err set)
  // if the resolver has no valid JWT for it.
  Account* ResolveAccount(const std::string& pub, std::string* err);

  // A user's CONNECT: `jwt` and the nonce signature in `creds`. On success
  // the account's name is its public key, and `expires` is set when the
  // user JWT has `exp` (unix seconds).
  AuthResult Authenticate(const Credentials& creds);

  // `$SYS.REQ.CLAIMS.UPDATE` and friends: checks and stores a new account
  // JWT, applies it to the account if it exists (limits, signing keys,
  // revocations; connections it revokes are closed). Returns the account's
  // public key, or an error (code, description) in nats-server's terms.
  struct UpdateError {
    int code;
    std::string description;
    std::string account;
  };
  std::variant<std::string, UpdateError> Update(std::string_view jwt);
  // `$SYS.REQ.CLAIMS.DELETE` (full resolver with allow_delete): `token`
  // is a generic JWT the operator signed for itself, listing the accounts
  // in nats.accounts. Their JWTs are renamed to `<key>.jwt.deleted` and
  // their users disconnected. Returns the message for the reply.
  std::variant<std::string, UpdateError> Delete(std::string_view token);
  // The stored JWT of `pub` (`CLAIMS.LOOKUP`).
  std::optional<std::string> Lookup(const std::string& pub);

  bool full_resolver() const { return cfg_->resolver == OperatorConfig::Resolver::kFull; }

 private:
  // Decodes an account JWT and checks who signed it and when.
  std::variant<jwt::Claims, std::string> CheckAccountJwt(std::string_view token) const;
  // Limits, exports and imports of an account JWT.
  static AccountConfig ToAccountConfig(const jwt::Claims& c);
  void Apply(Account* acc, const jwt::Claims& c);
  // `<dir>/<pub>.jwt` of the full resolver.
  std::string JwtPath(const std::string& pub) const;
  // Signing keys and revocations of `c`, for user checks.
  void StoreState(const jwt::Claims& c);

  Server* server_;
  std::shared_ptr<const OperatorConfig> cfg_;
  std::mutex mu_;
  std::map<std::string, std::string> jwts_;  // account public key -> JWT, guarded by mu_
  // Per account: signing keys and revocations of its current JWT.
  struct State {
    std::vector<std::string> signing_keys;
    std::map<std::string, int64_t> revocations;  // user key (or "*") -> revoked before
  };
  std::map<std::string, State> state_;  // guarded by mu_
};

}  // namespace fjord::server
