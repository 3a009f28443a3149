#include "server/auth.h"

#include <algorithm>

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/base64.h"
#include "nkeys/nkeys.h"
#include "proto/parser.h"

namespace fjord::server {
namespace {

bool MatchesAny(const std::vector<std::string>& patterns, std::string_view subject) {
  for (const auto& p : patterns)
    if (proto::SubjectMatches(subject, p)) return true;
  return false;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

bool PublishAllowed(const PermissionSet& p, std::string_view subject) {
  return (p.allow.empty() || MatchesAny(p.allow, subject)) && !MatchesAny(p.deny, subject);
}

bool SubscribeAllowed(const PermissionSet& p, std::string_view pattern) {
  if (!p.allow.empty()) {
    bool allowed = false;
    for (const auto& a : p.allow)
      if (proto::SubjectIsSubsetOf(pattern, a)) allowed = true;
    if (!allowed) return false;
  }
  for (const auto& d : p.deny)
    if (proto::SubjectIsSubsetOf(pattern, d)) return false;
  return true;
}

bool PermissionChecker::CanPublish(std::string_view subject) {
  auto it = pub_cache_.find(std::string(subject));
  if (it != pub_cache_.end()) return it->second;
  bool ok = PublishAllowed(p_.publish, subject);
  if (pub_cache_.size() > 1024) pub_cache_.clear();
  pub_cache_.emplace(std::string(subject), ok);
  return ok;
}

bool PermissionChecker::CanSubscribe(std::string_view subject) const {
  return SubscribeAllowed(p_.subscribe, subject);
}

bool PermissionChecker::DeliveryDenied(std::string_view subject) const {
  return MatchesAny(p_.subscribe.deny, subject);
}

bool AuthRequired(const Config& cfg) {
  return !cfg.token.empty() || !cfg.user.empty() || !cfg.users.empty() || cfg.operator_mode;
}

bool NonceRequired(const Config& cfg) {
  if (cfg.operator_mode) return true;
  for (const auto& u : cfg.users)
    if (!u.nkey.empty()) return true;
  return false;
}

std::string NewNonce() {
  unsigned char raw[11];
  RAND_bytes(raw, sizeof raw);
  return base64::Encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw), /*url=*/true,
                        /*pad=*/false);
}

bool PasswordMatches(std::string_view stored, std::string_view given) {
  if (stored.size() > 4 && stored[0] == '$' && stored[1] == '2' && stored[3] == '$') {
    crypt_data data{};
    std::string s(stored), g(given);
    const char* out = crypt_r(g.c_str(), s.c_str(), &data);
    return out && out[0] != '*' && ConstantTimeEquals(out, stored);
  }
  return ConstantTimeEquals(stored, given);
}

AuthResult Authenticate(const Config& cfg, const Credentials& creds) {
  AuthResult r;
  if (!cfg.users.empty()) {
    auto grant = [&](const User& u) {
      const auto& types = u.allowed_connection_types;
      if (!types.empty() && std::find(types.begin(), types.end(), creds.connection_type) == types.end()) {
        return std::move(r);  // not over this kind of connection
      }
      r.ok = true;
      r.user = u.name.empty() ? u.nkey : u.name;
      r.account = u.account;
      if (u.has_permissions) r.permissions = std::make_unique<PermissionChecker>(u.permissions);
      return std::move(r);
    };
    if (cfg.tls_map) {
      // verify_and_map: the verified certificate names the user; whatever
      // CONNECT says is not looked at (as nats-server).
      for (const auto& id : creds.cert_ids) {
        for (const auto& u : cfg.users) {
          if (!u.name.empty() && u.name == id) return grant(u);
        }
      }
      return r;
    }
    if (!creds.nkey.empty()) {
      // An nkey user proves itself by signing this connection's nonce.
      for (const auto& u : cfg.users) {
        if (u.nkey.empty() || u.nkey != creds.nkey) continue;
        auto key = nkeys::DecodePublic(u.nkey, nkeys::Role::kUser);
        // The URL alphabet unpadded, as clients send it; nats-server takes the standard one too.
        auto sig = base64::Decode(creds.sig);
        if (!key || !sig || creds.nonce.empty() || !nkeys::Verify(*key, creds.nonce, *sig)) return r;
        return grant(u);
      }
      return r;
    }
    std::string_view name = creds.user;
    bool by_default = false;
    if (name.empty() && creds.pass.empty() && !cfg.no_auth_user.empty()) {
      name = cfg.no_auth_user;
      by_default = true;
    }
    for (const auto& u : cfg.users) {
      // no_auth_user may name an nkey user; a password never logs one in.
      bool named = !u.name.empty() ? u.name == name : (by_default && u.nkey == name);
      if (!named) continue;
      if (!by_default && !PasswordMatches(u.password, creds.pass)) return r;
      return grant(u);
    }
    return r;
  }
  if (!cfg.user.empty()) {
    r.ok = creds.user == cfg.user && PasswordMatches(cfg.password, creds.pass);
    r.user = cfg.user;
    return r;
  }
  if (!cfg.token.empty()) {
    r.ok = PasswordMatches(cfg.token, creds.token);
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace fjord::server
