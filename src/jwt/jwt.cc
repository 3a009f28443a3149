#include "jwt/jwt.h"

#include "base/base64.h"
#include "base/json.h"
#include "nkeys/nkeys.h"

namespace fjord::jwt {
namespace {

std::optional<nlohmann::json> Segment(std::string_view part) {
  auto raw = base64::Decode(part);  // base64url, unpadded
  if (!raw) return std::nullopt;
  auto j = nlohmann::json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::optional<nkeys::PublicKey> IssuerKey(const std::string& iss) {
  // Operators sign operators and accounts; accounts sign users.
  for (auto role : {nkeys::Role::kOperator, nkeys::Role::kAccount}) {
    if (auto k = nkeys::DecodePublic(iss, role)) return k;
  }
  return std::nullopt;
}

}  // namespace

std::variant<Claims, std::string> Decode(std::string_view token) {
  size_t a = token.find('.');
  size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) {
    return std::string("malformed JWT");
  }
  auto header = Segment(token.substr(0, a));
  auto body = Segment(token.substr(a + 1, b - a - 1));
  if (!header || !body) return std::string("malformed JWT");
  if (base::JsonString(*header, "typ") != "JWT") return std::string("JWT type is not \"JWT\"");
  // v1 tokens ("ed25519") signed the base64 text differently; nats-server
  // still reads them, Fjord does not (every current tool writes v2).
  if (base::JsonString(*header, "alg") != "ed25519-nkey") {
    return "unsupported JWT algorithm \"" + base::JsonString(*header, "alg") + "\"";
  }
  Claims c;
  c.jti = base::JsonString(*body, "jti");
  c.issuer = base::JsonString(*body, "iss");
  c.subject = base::JsonString(*body, "sub");
  c.name = base::JsonString(*body, "name");
  c.issued_at = base::JsonInt(*body, "iat");
  c.expires = base::JsonInt(*body, "exp");
  c.not_before = base::JsonInt(*body, "nbf");
  if (auto it = body->find("nats"); it != body->end() && it->is_object()) c.nats = *it;
  c.type = base::JsonString(c.nats, "type");
  auto key = IssuerKey(c.issuer);
  if (!key) return std::string("JWT issuer is not an operator or account nkey");
  auto sig = base64::Decode(token.substr(b + 1));
  if (!sig || sig->size() != 64 || !nkeys::Verify(*key, token.substr(0, b), *sig)) {
    return std::string("invalid JWT signature");
  }
  return c;
}

bool Expired(const Claims& c, int64_t now) { return c.expires != 0 && now >= c.expires; }

bool NotYetValid(const Claims& c, int64_t now) { return c.not_before != 0 && now < c.not_before; }

std::optional<Creds> ParseCreds(std::string_view text) {
  // Each section is the first non-empty line after its BEGIN marker.
  auto section = [&](std::string_view marker) -> std::string {
    size_t at = text.find(marker);
    if (at == std::string_view::npos) return {};
    size_t pos = text.find('\n', at);
    while (pos != std::string_view::npos && pos + 1 < text.size()) {
      size_t end = text.find('\n', pos + 1);
      std::string_view line = text.substr(pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (!line.empty()) return std::string(line);
      pos = end;
    }
    return {};
  };
  Creds c{section("BEGIN NATS USER JWT"), section("BEGIN USER NKEY SEED")};
  if (c.jwt.empty() || c.seed.empty()) return std::nullopt;
  return c;
}

}  // namespace fjord::jwt
