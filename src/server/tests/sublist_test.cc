#include "server/sublist.h"

#include <gtest/gtest.h>

#include <thread>

namespace fjord::server {
namespace {

SubPtr Make(const std::string& subject, const std::string& queue = "") {
  auto s = std::make_shared<Subscription>();
  s->subject = subject;
  s->queue = queue;
  s->handler = [](const InternalMsg&) {};
  return s;
}

TEST(Sublist, LiteralAndWildcards) {
  Sublist sl;
  auto a = Make("foo.bar"), b = Make("foo.*"), c = Make("foo.>"), d = Make(">"), e = Make("*.bar.baz");
  for (auto& s : {a, b, c, d, e}) sl.Insert(s);
  EXPECT_EQ(sl.Match("foo.bar")->psubs.size(), 4u);
  EXPECT_EQ(sl.Match("foo.bar.baz")->psubs.size(), 3u);  // foo.>, >, *.bar.baz
  EXPECT_EQ(sl.Match("foo")->psubs.size(), 1u);          // >
  EXPECT_EQ(sl.Match("foo..bar")->psubs.size(), 0u);
  EXPECT_TRUE(sl.Remove(d));
  EXPECT_FALSE(sl.Remove(d));
  EXPECT_EQ(sl.Match("foo")->psubs.size(), 0u);
  EXPECT_EQ(sl.Count(), 4u);
}

TEST(Sublist, QueueGroupsMergeAcrossNodes) {
  Sublist sl;
  sl.Insert(Make("q.t", "g"));
  sl.Insert(Make("q.*", "g"));
  sl.Insert(Make("q.t", "h"));
  sl.Insert(Make("q.t"));
  auto r = sl.Match("q.t");
  EXPECT_EQ(r->psubs.size(), 1u);
  ASSERT_EQ(r->qsubs.size(), 2u);
  size_t total = r->qsubs[0].size() + r->qsubs[1].size();
  EXPECT_EQ(total, 3u);
}

TEST(Sublist, CacheSeesChanges) {
  Sublist sl;
  EXPECT_TRUE(sl.Match("x.y")->empty());
  auto s = Make("x.*");
  sl.Insert(s);
  EXPECT_EQ(sl.Match("x.y")->psubs.size(), 1u);
  sl.Remove(s);
  EXPECT_TRUE(sl.Match("x.y")->empty());
}

TEST(Sublist, ConcurrentReadersAndWriters) {
  Sublist sl;
  auto keep = Make("a.>");
  sl.Insert(keep);
  std::atomic<bool> stop{false};
  std::atomic<size_t> iterations{0};
  std::thread writer([&] {
    // Start once the reader runs, so the two overlap even on a loaded
    // machine where this thread could otherwise finish first.
    while (iterations.load() < 100) std::this_thread::yield();
    for (int i = 0; i < 2000; ++i) {
      auto s = Make("a.b." + std::to_string(i % 10));
      sl.Insert(s);
      sl.Remove(s);
    }
    stop = true;
  });
  while (!stop) {
    auto r = sl.Match("a.b.3");
    ASSERT_GE(r->psubs.size(), 1u);
    ASSERT_LE(r->psubs.size(), 2u);
    iterations.fetch_add(1);
  }
  writer.join();
}

}  // namespace
}  // namespace fjord::server
