#include "store/subject.h"

#include <gtest/gtest.h>

namespace fjord::store {
namespace {

TEST(Subject, Matching) {
  EXPECT_TRUE(SubjectMatches("", "a.b"));
  EXPECT_TRUE(SubjectMatches(">", "a"));
  EXPECT_TRUE(SubjectMatches("a.b", "a.b"));
  EXPECT_FALSE(SubjectMatches("a.b", "a.b.c"));
  EXPECT_FALSE(SubjectMatches("a.b.c", "a.b"));
  EXPECT_TRUE(SubjectMatches("a.*", "a.b"));
  EXPECT_FALSE(SubjectMatches("a.*", "a.b.c"));
  EXPECT_TRUE(SubjectMatches("a.>", "a.b.c"));
  EXPECT_FALSE(SubjectMatches("a.>", "a"));
  EXPECT_TRUE(SubjectMatches("*.b.>", "x.b.c.d"));
  EXPECT_FALSE(SubjectMatches("*.b.>", "x.c.c"));
  EXPECT_TRUE(SubjectMatches("*", "x"));
  EXPECT_FALSE(SubjectMatches("*", "x.y"));
  // A token that merely contains '*' is literal.
  EXPECT_FALSE(SubjectMatches("a*", "ab"));
  EXPECT_TRUE(SubjectMatches("a*", "a*"));
}

TEST(Subject, Literal) {
  EXPECT_TRUE(IsLiteral("a.b"));
  EXPECT_TRUE(IsLiteral("a*"));
  EXPECT_FALSE(IsLiteral("a.*"));
  EXPECT_FALSE(IsLiteral(">"));
  EXPECT_FALSE(IsLiteral(""));
  EXPECT_TRUE(MatchesAll(""));
  EXPECT_TRUE(MatchesAll(">"));
  EXPECT_FALSE(MatchesAll("a.>"));
}

}  // namespace
}  // namespace fjord::store
