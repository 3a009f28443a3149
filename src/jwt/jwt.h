#pragma once
// NATS JWTs (v2): `base64url(header).base64url(claims).base64url(sig)`,
// header {"typ":"JWT","alg":"ed25519-nkey"}, the signature the Ed25519
// signature of the first two parts by the nkey named in `iss`. Operator,
// account and user claims keep their NATS-specific part in `nats`.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace fjord::jwt {

struct Claims {
  std::string jti;
  std::string issuer;   // `iss`: the public nkey that signed
  std::string subject;  // `sub`: the public nkey the claims are about
  std::string name;
  int64_t issued_at = 0;   // `iat`, unix seconds
  int64_t expires = 0;     // `exp`, unix seconds; 0 = never
  int64_t not_before = 0;  // `nbf`
  std::string type;        // nats.type: "operator", "account", "user", ...
  nlohmann::json nats = nlohmann::json::object();
};

// Decodes `token` and checks that `iss` signed it. The error says why not
// ("malformed JWT", "unsupported JWT algorithm", "invalid JWT signature"...).
std::variant<Claims, std::string> Decode(std::string_view token);

// Whether the claims are not (yet, or any longer) valid at `now`.
bool Expired(const Claims& c, int64_t now);
bool NotYetValid(const Claims& c, int64_t now);

// The user JWT and seed of a `.creds` file (the `-----BEGIN NATS USER
// JWT-----` and `-----BEGIN USER NKEY SEED-----` sections).
struct Creds {
  std::string jwt;
  std::string seed;
};
std::optional<Creds> ParseCreds(std::string_view text);

}  // namespace fjord::jwt
