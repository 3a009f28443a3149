#include "server/operator.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "base/base64.h"
#include "base/json.h"
#include "base/log.h"
#include "nkeys/nkeys.h"
#include "server/account.h"
#include "server/server.h"
#include "store/env.h"

namespace fjord::server {
namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> Strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end()) return out;
  if (it->is_string()) out.push_back(it->get<std::string>());
  if (it->is_array()) {
    for (const auto& v : *it) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

PermissionSet ToSet(const nlohmann::json& nats, const char* key) {
  PermissionSet p;
  if (auto it = nats.find(key); it != nats.end() && it->is_object()) {
    p.allow = Strings(*it, "allow");
    p.deny = Strings(*it, "deny");
  }
  return p;
}

}  // namespace

Operator::Operator(Server* server, std::shared_ptr<const OperatorConfig> cfg)
    : server_(server), cfg_(std::move(cfg)) {}

std::string Operator::JwtPath(const std::string& pub) const { return store::JoinPath(cfg_->dir, pub + ".jwt"); }

std::variant<jwt::Claims, std::string> Operator::CheckAccountJwt(std::string_view token) const {
  auto r = jwt::Decode(token);
  if (auto* err = std::get_if<std::string>(&r)) return *err;
  jwt::Claims c = std::get<jwt::Claims>(std::move(r));
  if (c.type != "account") return std::string("not an account JWT");
  if (!nkeys::DecodePublic(c.subject, nkeys::Role::kAccount)) return std::string("subject is not an account key");
  const auto& keys = cfg_->trusted_keys;
  if (std::find(keys.begin(), keys.end(), c.issuer) == keys.end()) {
    return std::string("issuer is not a trusted operator");
  }
  int64_t now = NowSeconds();
  if (jwt::Expired(c, now)) return std::string("account JWT has expired");
  if (jwt::NotYetValid(c, now)) return std::string("account JWT is not yet valid");
  return c;
}

std::string Operator::Load() {
  std::lock_guard lock(mu_);
  if (full_resolver()) {
    store::Env* env = store::DefaultEnv();
    if (auto st = store::CreateDirsDurably(env, cfg_->dir); !st.ok()) {
      return "can not create resolver directory " + cfg_->dir + ": " + st.msg;
    }
    auto names = env->ListDir(cfg_->dir);
    if (!names.ok()) return "can not read resolver directory " + cfg_->dir + ": " + names.status.msg;
    for (const auto& name : names.value) {
      if (!name.ends_with(".jwt")) continue;
      const std::string path = store::JoinPath(cfg_->dir, name);
      auto text = store::ReadFileToString(env, path);
      if (!text.ok()) {
        log::Error("Resolver: skipping {}: {}", path, text.status.msg);
        continue;
      }
      std::string& token = text.value;
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
      auto c = CheckAccountJwt(token);
      if (auto* err = std::get_if<std::string>(&c)) {
        log::Error("Resolver: skipping {}: {}", path, *err);
        continue;
      }
      jwts_[std::get<jwt::Claims>(c).subject] = token;
    }
  }
  for (const auto& [pub, token] : cfg_->preload) {
    auto c = CheckAccountJwt(token);
    if (auto* err = std::get_if<std::string>(&c)) return "resolver_preload " + pub + ": " + *err;
    if (std::get<jwt::Claims>(c).subject != pub) return "resolver_preload " + pub + ": the JWT is another account's";
    // A directory's newer copy (pushed since) wins over the config's.
    auto it = jwts_.find(pub);
    if (it != jwts_.end()) {
      auto old = jwt::Decode(it->second);
      if (auto* oc = std::get_if<jwt::Claims>(&old); oc && oc->issued_at >= std::get<jwt::Claims>(c).issued_at) continue;
    }
    jwts_[pub] = token;
    if (full_resolver()) {
      if (auto st = store::WriteFileDurably(store::DefaultEnv(), JwtPath(pub), token); !st.ok()) {
        return "resolver_preload " + pub + ": can not store it: " + st.msg;
      }
    }
  }
  log::Info("Operator mode: {} account JWT(s) known to the {} resolver", jwts_.size(),
            full_resolver() ? "full" : "memory");
  return {};
}

AccountConfig Operator::ToAccountConfig(const jwt::Claims& c) {
  AccountConfig ac;
  ac.name = c.subject;
  const nlohmann::json& limits = c.nats.contains("limits") && c.nats["limits"].is_object() ? c.nats["limits"] : nlohmann::json::object();
  // A limit the JWT leaves out is 0, as nats-server reads it (nsc and
  // the JWT libraries write -1 for "none").
  ac.max_connections = base::JsonInt(limits, "conn", 0);
  ac.max_subscriptions = base::JsonInt(limits, "subs", 0);
  ac.max_payload = base::JsonInt(limits, "payload", 0);
  int64_t mem = base::JsonInt(limits, "mem_storage", 0), disk = base::JsonInt(limits, "disk_storage", 0);
  ac.jetstream.enabled = mem != 0 || disk != 0;
  ac.jetstream.max_memory = mem;
  ac.jetstream.max_store = disk;
  ac.jetstream.max_streams = base::JsonInt(limits, "streams", -1);
  ac.jetstream.max_consumers = base::JsonInt(limits, "consumer", -1);
  if (auto it = c.nats.find("exports"); it != c.nats.end() && it->is_array()) {
    for (const auto& e : *it) {
      std::string subject = base::JsonString(e, "subject");
      if (subject.empty()) continue;
      // An export that wants activation tokens admits nobody here: Fjord
      // does not read activations.
      std::vector<std::string> accounts;
      if (base::JsonBool(e, "token_req")) accounts.push_back("");
      if (base::JsonString(e, "type") == "service") {
        ServiceExport se;
        se.subject = subject;
        se.accounts = accounts;
        std::string rt = base::JsonString(e, "response_type");
        se.response = rt == "Stream" ? ResponseType::kStream : rt == "Chunked" ? ResponseType::kChunked : ResponseType::kSingleton;
        if (int64_t ns = base::JsonInt(e, "response_threshold", 0); ns > 0) se.response_threshold_ms = ns / 1000000;
        ac.service_exports.push_back(std::move(se));
      } else {
        ac.stream_exports.push_back({subject, accounts});
      }
    }
  }
  if (auto it = c.nats.find("imports"); it != c.nats.end() && it->is_array()) {
    for (const auto& i : *it) {
      std::string subject = base::JsonString(i, "subject"), account = base::JsonString(i, "account");
      if (subject.empty() || account.empty()) continue;
      std::string local = base::JsonString(i, "local_subject");
      if (base::JsonString(i, "type") == "service") {
        ac.service_imports.push_back({account, subject, local.empty() ? base::JsonString(i, "to") : local});
      } else if (!local.empty()) {
        ac.stream_imports.push_back({account, subject, "", local});
      } else {
        // In account JWTs a stream import's `to` is a prefix.
        ac.stream_imports.push_back({account, subject, base::JsonString(i, "to"), ""});
      }
    }
  }
  return ac;
}

void Operator::StoreState(const jwt::Claims& c) {
  State st;
  if (auto it = c.nats.find("signing_keys"); it != c.nats.end() && it->is_array()) {
    for (const auto& k : *it) {
      if (k.is_string()) st.signing_keys.push_back(k.get<std::string>());
      if (k.is_object()) st.signing_keys.push_back(base::JsonString(k, "key"));
    }
  }
  if (auto it = c.nats.find("revocations"); it != c.nats.end() && it->is_object()) {
    for (const auto& [user, at] : it->items()) {
      if (at.is_number_integer()) st.revocations[user] = at.get<int64_t>();
    }
  }
  std::lock_guard lock(mu_);
  state_[c.subject] = std::move(st);
}

void Operator::Apply(Account* acc, const jwt::Claims& c) {
  AccountConfig ac = ToAccountConfig(c);
  acc->SetLimits(ac.max_connections, ac.max_subscriptions, ac.max_payload);
  acc->SetJetStreamLimits(ac.jetstream);
  StoreState(c);
}

Account* Operator::ResolveAccount(const std::string& pub, std::string* err) {
  if (Account* acc = server_->LookupAccount(pub)) return acc;
  std::string token;
  {
    std::lock_guard lock(mu_);
    auto it = jwts_.find(pub);
    if (it == jwts_.end()) {
      *err = "account " + pub + " is not known to the resolver";
      return nullptr;
    }
    token = it->second;
  }
  auto c = CheckAccountJwt(token);
  if (auto* e = std::get_if<std::string>(&c)) {
    *err = "account " + pub + ": " + *e;
    return nullptr;
  }
  const jwt::Claims& claims = std::get<jwt::Claims>(c);
  // Signing keys and revocations are in place before the account can be
  // found, so no user slips in between.
  StoreState(claims);
  bool created = false;
  Account* acc = server_->RegisterAccount(ToAccountConfig(claims), &created);
  if (created) {
    // Exporters are made on demand too; an import whose exporter is not
    // known, or does not export it to this account, is left out (logged).
    server_->WireImports(acc, [this](const std::string& name) {
      std::string ignored;
      return ResolveAccount(name, &ignored);
    });
    server_->AccountRegistered(acc);
  }
  return acc;
}

AuthResult Operator::Authenticate(const Credentials& creds) {
  AuthResult r;
  auto fail = [&](const std::string& why) {
    log::Error("JWT authentication failed: {}", why);
    r.ok = false;
    return std::move(r);
  };
  if (creds.jwt.empty()) return fail("no user JWT in CONNECT");
  auto d = jwt::Decode(creds.jwt);
  if (auto* e = std::get_if<std::string>(&d)) return fail(*e);
  const jwt::Claims& u = std::get<jwt::Claims>(d);
  if (u.type != "user") return fail("not a user JWT");
  auto user_key = nkeys::DecodePublic(u.subject, nkeys::Role::kUser);
  if (!user_key) return fail("user JWT subject is not a user key");
  int64_t now = NowSeconds();
  if (jwt::Expired(u, now)) return fail("user JWT has expired");
  if (jwt::NotYetValid(u, now)) return fail("user JWT is not yet valid");
  if (!nkeys::DecodePublic(u.issuer, nkeys::Role::kAccount)) return fail("user JWT issuer is not an account key");
  std::string account = base::JsonString(u.nats, "issuer_account");
  if (account.empty()) account = u.issuer;
  std::string err;
  Account* acc = ResolveAccount(account, &err);
  if (!acc) return fail(err);
  {
    std::lock_guard lock(mu_);
    if (!jwts_.count(account)) return fail("account " + account + " was deleted");
    const State& st = state_[account];
    if (u.issuer != account &&
        std::find(st.signing_keys.begin(), st.signing_keys.end(), u.issuer) == st.signing_keys.end()) {
      return fail("user JWT issuer is not a signing key of account " + account);
    }
    for (const std::string& who : {u.subject, std::string("*")}) {
      auto it = st.revocations.find(who);
      if (it != st.revocations.end() && u.issued_at <= it->second) return fail("user " + u.subject + " is revoked");
    }
  }
  if (!base::JsonBool(u.nats, "bearer_token")) {
    auto sig = base64::Decode(creds.sig);
    if (!sig || creds.nonce.empty() || !nkeys::Verify(*user_key, creds.nonce, *sig)) {
      return fail("signature of the nonce does not verify");
    }
  }
  // Restrictions Fjord does not enforce are refused rather than ignored.
  if (!Strings(u.nats, "src").empty() || (u.nats.contains("times") && !u.nats["times"].empty())) {
    return fail("user JWT limits source addresses or times, which Fjord does not support");
  }
  if (auto types = Strings(u.nats, "allowed_connection_types");
      !types.empty() && std::find(types.begin(), types.end(), creds.connection_type) == types.end()) {
    return fail("user JWT does not allow " + creds.connection_type + " connections");
  }
  Permissions p;
  p.publish = ToSet(u.nats, "pub");
  p.subscribe = ToSet(u.nats, "sub");
  if (!p.publish.allow.empty() || !p.publish.deny.empty() || !p.subscribe.allow.empty() || !p.subscribe.deny.empty()) {
    r.permissions = std::make_unique<PermissionChecker>(std::move(p));
  }
  r.ok = true;
  r.user = u.subject;
  r.account = account;
  r.expires = u.expires;
  return r;
}

std::variant<std::string, Operator::UpdateError> Operator::Update(std::string_view token) {
  auto c = CheckAccountJwt(token);
  if (auto* e = std::get_if<std::string>(&c)) {
    std::string who;
    if (auto d = jwt::Decode(token); std::holds_alternative<jwt::Claims>(d)) who = std::get<jwt::Claims>(d).subject;
    return UpdateError{400, "jwt validation failed: " + *e, who};
  }
  const jwt::Claims& claims = std::get<jwt::Claims>(c);
  const std::string& pub = claims.subject;
  // Updates come one at a time (the system account's thread); the lock
  // guards against connections reading, and is not held over the fsync.
  std::optional<std::string> stored = Lookup(pub);
  if (stored) {
    auto old = jwt::Decode(*stored);
    if (auto* oc = std::get_if<jwt::Claims>(&old); oc && oc->issued_at > claims.issued_at) {
      return UpdateError{400, "jwt update resulted in error: jwt is older than the one stored", pub};
    }
  }
  // Durable before the reply says "jwt updated": a crash or power loss
  // afterwards keeps it.
  if (full_resolver()) {
    if (auto st = store::WriteFileDurably(store::DefaultEnv(), JwtPath(pub), token); !st.ok()) {
      return UpdateError{500, "jwt update failed: can not store it: " + st.msg, pub};
    }
  }
  {
    std::lock_guard lock(mu_);
    jwts_[pub] = std::string(token);
  }
  if (Account* acc = server_->LookupAccount(pub)) {
    Apply(acc, claims);
    server_->AccountUpdated(acc);
    // Revocations and a lower connection limit take effect on open
    // connections.
    server_->ReauthorizeAccount(acc);
    server_->EnforceConnectionLimit(acc);
  }
  return pub;
}

std::variant<std::string, Operator::UpdateError> Operator::Delete(std::string_view token) {
  auto d = jwt::Decode(token);
  std::string who;
  auto refuse = [&](const std::string& why) {
    return UpdateError{500, "delete accounts request by " + who + " failed: " + why, ""};
  };
  if (auto* e = std::get_if<std::string>(&d)) return refuse(*e);
  const jwt::Claims& g = std::get<jwt::Claims>(d);
  who = g.subject;
  if (!full_resolver() || !cfg_->allow_delete) return refuse("delete must be enabled in server config");
  if (g.subject != g.issuer) return refuse("not self signed");
  const auto& keys = cfg_->trusted_keys;
  if (std::find(keys.begin(), keys.end(), g.issuer) == keys.end()) return refuse("not trusted");
  auto list = g.nats.find("accounts");
  if (list == g.nats.end() || !list->is_array()) return refuse("malformed request");
  std::vector<std::string> accounts;
  const std::string sys = server_->config()->system_account;
  for (const auto& a : *list) {
    if (!a.is_string() || !nkeys::DecodePublic(a.get<std::string>(), nkeys::Role::kAccount)) {
      return refuse("malformed request");
    }
    if (a.get<std::string>() == sys) return refuse("not allowed to delete system account");
    accounts.push_back(a.get<std::string>());
  }
  size_t deleted = 0;
  std::vector<std::string> failed;
  for (const auto& pub : accounts) {
    {
      std::lock_guard lock(mu_);
      if (!jwts_.erase(pub)) {
        failed.push_back("account " + pub + " not found");
        continue;
      }
    }
    store::Env* env = store::DefaultEnv();
    if (env->Rename(JwtPath(pub), JwtPath(pub) + ".deleted").ok()) env->SyncDir(cfg_->dir);
    ++deleted;
    // Its users go: their account no longer has a JWT.
    if (Account* acc = server_->LookupAccount(pub)) server_->ReauthorizeAccount(acc);
  }
  if (!failed.empty()) {
    std::string all;
    for (const auto& f : failed) all += (all.empty() ? "" : "\n") + f;
    return UpdateError{500, fmt::format("deleted {} accounts, failed for {}: {}", deleted, failed.size(), all), ""};
  }
  return fmt::format("deleted {} accounts", deleted);
}

std::optional<std::string> Operator::Lookup(const std::string& pub) {
  std::lock_guard lock(mu_);
  auto it = jwts_.find(pub);
  if (it == jwts_.end()) return std::nullopt;
  return it->second;
}

}  // namespace fjord::server
