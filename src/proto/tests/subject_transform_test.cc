#include "proto/subject_transform.h"

#include <gtest/gtest.h>

namespace fjord::proto {
namespace {

std::optional<std::string> Map(std::string_view src, std::string_view dest, std::string_view subject) {
  std::string err;
  auto t = SubjectTransform::Make(src, dest, &err);
  EXPECT_TRUE(t) << src << " -> " << dest << ": " << err;
  return t ? t->Apply(subject) : std::nullopt;
}

TEST(SubjectTransform, WildcardsAndRest) {
  // The forms nats-server 2.9.10 accepted for republish (see the interop test).
  EXPECT_EQ(Map("r.*", "rp.$1", "r.a"), "rp.a");
  EXPECT_EQ(Map("c5.*", "rp5.{{wildcard(1)}}", "c5.x"), "rp5.x");
  EXPECT_EQ(Map("c5.*", "rp5.{{ wildcard( 1 ) }}", "c5.x"), "rp5.x");
  EXPECT_EQ(Map(">", "rp.h.>", "h.x"), "rp.h.h.x");
  EXPECT_EQ(Map("a.*.b.*", "x.$2.$1", "a.1.b.2"), "x.2.1");
  EXPECT_EQ(Map("a.*.>", "x.$1.>", "a.1.b.c"), "x.1.b.c");
  EXPECT_EQ(Map("orders.>", "copy", "orders.oslo.created"), "copy");
}

TEST(SubjectTransform, NonMatchingSubjects) {
  EXPECT_EQ(Map("r.*", "rp.$1", "r.a.deep"), std::nullopt);
  EXPECT_EQ(Map("r.*", "rp.$1", "r"), std::nullopt);
  EXPECT_EQ(Map("r.>", "rp.>", "r"), std::nullopt);
  EXPECT_EQ(Map("r.a", "x", "r.b"), std::nullopt);
}

TEST(SubjectTransform, InvalidPairs) {
  std::string err;
  EXPECT_FALSE(SubjectTransform::Make("r.*", "rp.$2", &err));
  EXPECT_FALSE(SubjectTransform::Make("r.*", "rp.$0", &err));
  EXPECT_FALSE(SubjectTransform::Make("r.*", "rp.>", &err));  // src has no '>'
  EXPECT_FALSE(SubjectTransform::Make("r.>", "rp.>.x", &err));
  EXPECT_FALSE(SubjectTransform::Make("r.>", "rp..x", &err));
  EXPECT_FALSE(SubjectTransform::Make("r.>", "rp.*", &err));
  EXPECT_FALSE(SubjectTransform::Make("r..x", "rp", &err));
  EXPECT_FALSE(SubjectTransform::Make("r.*", "rp.{{wildcard(x)}}", &err));
}

}  // namespace
}  // namespace fjord::proto
