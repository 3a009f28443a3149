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
  EXPECT_EQ(Map("orders.*", "copy", "orders.oslo"), "copy");
  EXPECT_EQ(Map("", "prefix.>", "foo"), "prefix.foo");  // no source is ">"
  EXPECT_EQ(Map("foo", "", "foo"), "foo");               // no destination keeps it
  EXPECT_EQ(Map("foo.*.bar.*.baz", "req.{{wildcard(2)}}.{{wildcard(1)}}", "foo.A.bar.B.baz"), "req.B.A");
  EXPECT_EQ(Map("baz.>", "my.pre.>", "baz.1.2.3"), "my.pre.1.2.3");
  EXPECT_EQ(Map("*", "foo.bar.$1", "foo"), "foo.bar.foo");
}

// nats-server's documented examples for the 2.10 mapping functions
// (subject_transform_test.go).
TEST(SubjectTransform, Functions) {
  EXPECT_EQ(Map("*", "{{splitfromleft(1,3)}}", "12345"), "123.45");
  EXPECT_EQ(Map("*", "{{SplitFromRight(1,3)}}", "12345"), "12.345");
  EXPECT_EQ(Map("*", "{{SliceFromLeft(1,3)}}", "1234567890"), "123.456.789.0");
  EXPECT_EQ(Map("*", "{{SliceFromRight(1,3)}}", "1234567890"), "1.234.567.890");
  EXPECT_EQ(Map("*", "{{SliceFromLeft(1,3)}}", "123456"), "123.456");
  EXPECT_EQ(Map("*", "{{SliceFromRight(1,3)}}", "123456"), "123.456");
  EXPECT_EQ(Map("*", "{{split(1,-)}}", "-abc-def--ghi-"), "abc.def.ghi");
  EXPECT_EQ(Map("*", "{{split(1,-)}}", "abc-def--ghi-"), "abc.def.ghi");
  EXPECT_EQ(Map("*.*", "{{split(2,-)}}.{{splitfromleft(1,2)}}", "foo.-abc-def--ghij-"), "abc.def.ghij.fo.o");
  EXPECT_EQ(Map("*", "{{right(1,1)}}", "1234"), "4");
  EXPECT_EQ(Map("*", "{{right(1,3)}}", "1234"), "234");
  EXPECT_EQ(Map("*", "{{right(1,6)}}", "1234"), "1234");
  EXPECT_EQ(Map("*", "{{left(1,1)}}", "1234"), "1");
  EXPECT_EQ(Map("*", "{{left(1,3)}}", "1234"), "123");
  EXPECT_EQ(Map("*", "{{left(1,6)}}", "1234"), "1234");
  EXPECT_EQ(Map("*", "{{splitfromleft(1,9)}}", "12345"), "12345");  // too short: unchanged
  EXPECT_EQ(Map("*", "{{ Wildcard( 1 ) }}", "x"), "x");
}

TEST(SubjectTransform, PartitionIsFnv1aOfTheTokens) {
  // FNV-1a 32 test vectors.
  EXPECT_EQ(SubjectTransform::Fnv1a(""), 0x811c9dc5u);
  EXPECT_EQ(SubjectTransform::Fnv1a("a"), 0xe40c292cu);
  EXPECT_EQ(SubjectTransform::Fnv1a("foobar"), 0xbf9cf968u);
  // The key is the named tokens concatenated, in the order named.
  for (const char* s : {"a.b", "oslo.created", "x.y"}) {
    std::string subj = s;
    auto dot = subj.find('.');
    std::string t1 = subj.substr(0, dot), t2 = subj.substr(dot + 1);
    EXPECT_EQ(Map("*.*", "p.{{partition(10,1,2)}}", subj), "p." + std::to_string(SubjectTransform::Fnv1a(t1 + t2) % 10));
    EXPECT_EQ(Map("*.*", "p.{{partition(7,2)}}.$1", subj),
              "p." + std::to_string(SubjectTransform::Fnv1a(t2) % 7) + "." + t1);
  }
  EXPECT_EQ(Map("foo.*.*", "foo.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(5,1,2)}}", "foo.a.b"),
            "foo.a.b." + std::to_string(SubjectTransform::Fnv1a("ab") % 5));
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
  // nats-server's refusals (subject_transform_test.go).
  EXPECT_FALSE(SubjectTransform::Make("foo..", "bar", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "bar.*", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "bar.$1.>", &err));  // full wildcards must match
  EXPECT_FALSE(SubjectTransform::Make("foo.>", "bar.baz", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "foo.{{wildcard(2)}}", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "foo.{{unimplemented(1)}}", &err));
  EXPECT_NE(err.find("unknown function"), std::string::npos) << err;
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "foo.{{partition(10)}}", &err));
  EXPECT_NE(err.find("not enough arguments"), std::string::npos) << err;
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "foo.{{wildcard(foo)}}", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "foo.{{wildcard()}}", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "foo.{{wildcard(1,2)}}", &err));
  EXPECT_NE(err.find("too many arguments"), std::string::npos) << err;
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "foo.{{ wildcard5) }}", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "foo.{{splitLeft(2,2}}", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo", "bla.{{wildcard(1)}}", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "p.{{partition(0,1)}}", &err));  // no partitions
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "p.{{split(1, )}}", &err));
  EXPECT_FALSE(SubjectTransform::Make("foo.*", "p.{{PARTITION(2,1)}}", &err));  // as nats-server's patterns
  // Imports take wildcard references only.
  EXPECT_FALSE(SubjectTransform::MakeForImport("foo.*", "bar.{{partition(2,1)}}", &err));
  EXPECT_TRUE(SubjectTransform::MakeForImport("foo.*", "bar.{{Wildcard(1)}}", &err));
  EXPECT_TRUE(SubjectTransform::MakeForImport("foo.*", "bar.*", &err));
}

}  // namespace
}  // namespace fjord::proto
