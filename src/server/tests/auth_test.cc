#include "server/auth.h"

#include <gtest/gtest.h>

namespace fjord::server {
namespace {

TEST(Auth, Token) {
  Config cfg;
  cfg.token = "s3cr3t";
  EXPECT_TRUE(AuthRequired(cfg));
  EXPECT_TRUE(Authenticate(cfg, {"s3cr3t", "", ""}).ok);
  EXPECT_FALSE(Authenticate(cfg, {"nope", "", ""}).ok);
  EXPECT_FALSE(Authenticate(cfg, {}).ok);
}

TEST(Auth, AllowedConnectionTypes) {
  Config cfg;
  User& web = cfg.users.emplace_back();
  web.name = "web";
  web.password = "pw";
  web.allowed_connection_types = {"WEBSOCKET"};
  User& any = cfg.users.emplace_back();
  any.name = "any";
  any.password = "pw";
  Credentials c{"", "web", "pw"};
  EXPECT_FALSE(Authenticate(cfg, c).ok);  // STANDARD by default
  c.connection_type = "WEBSOCKET";
  EXPECT_TRUE(Authenticate(cfg, c).ok);
  Credentials a{"", "any", "pw"};
  EXPECT_TRUE(Authenticate(cfg, a).ok);
  a.connection_type = "WEBSOCKET";
  EXPECT_TRUE(Authenticate(cfg, a).ok);
  // no_auth_user goes through the same check.
  cfg.no_auth_user = "web";
  EXPECT_FALSE(Authenticate(cfg, {}).ok);
  Credentials ws_anon;
  ws_anon.connection_type = "WEBSOCKET";
  EXPECT_TRUE(Authenticate(cfg, ws_anon).ok);
}

TEST(Auth, BcryptPassword) {
  // bcrypt("password", cost 4)
  const char* hash = "$2b$04$2s5PCnzfqa4ZE1Ylbqpvp.28QoeZQd5DIFZezaLClckqwSrpd8BqW";
  EXPECT_TRUE(PasswordMatches(hash, "password"));
  EXPECT_FALSE(PasswordMatches(hash, "Password"));
  EXPECT_TRUE(PasswordMatches("plain", "plain"));
  EXPECT_FALSE(PasswordMatches("plain", "plai"));
}

TEST(Auth, UsersWithPermissions) {
  Config cfg;
  // Filled in place: copying a User with a short password trips GCC 12's
  // false -Wmaybe-uninitialized on the SSO buffer.
  User& u = cfg.users.emplace_back();
  u.name = "svc";
  u.password = "pw";
  u.has_permissions = true;
  u.permissions.publish.allow = {"orders.>"};
  u.permissions.publish.deny = {"orders.secret"};
  u.permissions.subscribe.deny = {"admin.>"};
  auto r = Authenticate(cfg, {"", "svc", "pw"});
  ASSERT_TRUE(r.ok);
  ASSERT_TRUE(r.permissions);
  EXPECT_TRUE(r.permissions->CanPublish("orders.oslo"));
  EXPECT_FALSE(r.permissions->CanPublish("orders.secret"));
  EXPECT_FALSE(r.permissions->CanPublish("other"));
  EXPECT_TRUE(r.permissions->CanSubscribe("orders.*"));
  EXPECT_FALSE(r.permissions->CanSubscribe("admin.x"));
  EXPECT_TRUE(r.permissions->DeliveryDenied("admin.x"));
  EXPECT_FALSE(Authenticate(cfg, {"", "svc", "bad"}).ok);
  EXPECT_FALSE(Authenticate(cfg, {"", "who", "pw"}).ok);
}

// Keys and signature made by the official @nats-io/nkeys (see
// src/nkeys/tests): the user signed "OcQ1ZyLa9xvjHJF".
constexpr char kUserKey[] = "UBQ2AKVVBV67I7PWVP6EVICNCM5XUV733SOCLFOTUTVNLIJM6FEBIDCG";
constexpr char kNonce[] = "OcQ1ZyLa9xvjHJF";
constexpr char kSig[] = "_80E4tXoA-jLAHFnrjNovvdSMLiwL9LM3uEA7pMKyZWq5hdfl0Rnkf2hNkebt5thtjSeVK0UZPEJ_ln6M81nCA";

TEST(Auth, NkeyUserSignsTheNonce) {
  Config cfg;
  User& u = cfg.users.emplace_back();
  u.nkey = kUserKey;
  EXPECT_TRUE(AuthRequired(cfg));
  EXPECT_TRUE(NonceRequired(cfg));
  Credentials good;
  good.nkey = kUserKey;
  good.sig = kSig;
  good.nonce = kNonce;
  auto r = Authenticate(cfg, good);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.user, kUserKey);
  Credentials other_nonce = good;
  other_nonce.nonce = "AAAAAAAAAAAAAAA";
  EXPECT_FALSE(Authenticate(cfg, other_nonce).ok);
  Credentials no_sig = good;
  no_sig.sig.clear();
  EXPECT_FALSE(Authenticate(cfg, no_sig).ok);
  Credentials unknown = good;
  unknown.nkey = "UA" + std::string(kUserKey).substr(2);
  EXPECT_FALSE(Authenticate(cfg, unknown).ok);
}

TEST(Auth, NkeyOnlyUsersRefuseEverythingElse) {
  // The hole this closes: an nkey user has no name and no password, so an
  // empty CONNECT (or any user with an empty password) matched it.
  Config cfg;
  cfg.users.emplace_back().nkey = kUserKey;
  EXPECT_FALSE(Authenticate(cfg, {}).ok);
  EXPECT_FALSE(Authenticate(cfg, {"", "", ""}).ok);
  EXPECT_FALSE(Authenticate(cfg, {"", "anyone", ""}).ok);
  EXPECT_FALSE(Authenticate(cfg, {"tok", "", ""}).ok);
  // no_auth_user may name the nkey user: a CONNECT without credentials is it.
  cfg.no_auth_user = kUserKey;
  EXPECT_TRUE(Authenticate(cfg, {}).ok);
  EXPECT_FALSE(Authenticate(cfg, {"", "x", "y"}).ok);
}

TEST(Auth, NoncesAreFifteenUrlSafeCharactersAndDiffer) {
  auto a = NewNonce(), b = NewNonce();
  EXPECT_EQ(a.size(), 15u);
  EXPECT_EQ(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace fjord::server
