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

}  // namespace
}  // namespace fjord::server
