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

TEST(Sublist, StatsCountInsertsRemovesMatchesHitsAndFanout) {
  Sublist sl;
  auto a = Make("foo.bar"), b = Make("foo.*"), q1 = Make("foo.bar", "q"), q2 = Make("foo.bar", "q");
  for (auto& s : {a, b, q1, q2}) sl.Insert(s);
  EXPECT_TRUE(sl.Remove(b));
  sl.Match("foo.bar");  // miss: 1 psub + 1 queue group
  sl.Match("foo.bar");  // hit
  sl.Match("foo.bar");  // hit
  sl.Match("nope");     // miss: nothing
  auto st = sl.Stats();
  EXPECT_EQ(st.num_subscriptions, 3u);
  EXPECT_EQ(st.num_inserts, 4u);
  EXPECT_EQ(st.num_removes, 1u);
  EXPECT_EQ(st.num_matches, 4u);
  EXPECT_DOUBLE_EQ(st.cache_hit_rate, 0.5);
  EXPECT_EQ(st.num_cache, 2u);
  EXPECT_EQ(st.max_fanout, 2u);
  EXPECT_DOUBLE_EQ(st.avg_fanout, 1.0);
  // A change empties the cache the next time this thread matches.
  sl.Insert(Make("other"));
  sl.Match("foo.bar");
  st = sl.Stats();
  EXPECT_EQ(st.num_cache, 1u);
  EXPECT_EQ(st.num_matches, 5u);
}

TEST(Sublist, StatsAddUpAcrossThreads) {
  Sublist sl;
  sl.Insert(Make("a.>"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&sl] {
      for (int i = 0; i < 1000; ++i) sl.Match("a." + std::to_string(i % 10));
    });
  }
  for (auto& t : threads) t.join();
  auto st = sl.Stats();
  EXPECT_EQ(st.num_matches, 4000u);
  EXPECT_DOUBLE_EQ(st.cache_hit_rate, 3960.0 / 4000.0);  // 10 misses per thread
  EXPECT_EQ(st.num_cache, 40u);
}

TEST(Sublist, InterestObserverSeesWhatTheClusterMustKnow) {
  Sublist sl("ACC");
  EXPECT_EQ(sl.account(), "ACC");
  std::vector<std::string> seen;
  sl.SetInterestObserver([&](std::string_view subject, std::string_view queue, int32_t n) {
    seen.push_back(std::string(subject) + "|" + std::string(queue) + "|" + std::to_string(n));
  });
  // Internal subscriptions count only when marked to propagate (a
  // client's always does).
  auto internal = Make("int");
  sl.Insert(internal);
  auto shared = Make("int.p");
  shared->propagate = true;
  sl.Insert(shared);
  // A plain subject: first and last only.
  auto a = Make("foo"), b = Make("foo");
  a->propagate = b->propagate = true;
  sl.Insert(a);
  sl.Insert(b);
  sl.Remove(a);
  sl.Remove(b);
  // A queue group: every change of its member count.
  auto q1 = Make("w", "g"), q2 = Make("w", "g");
  q1->propagate = q2->propagate = true;
  sl.Insert(q1);
  sl.Insert(q2);
  sl.Remove(q1);
  sl.Remove(q2);
  EXPECT_EQ(seen, (std::vector<std::string>{"int.p||1", "foo||1", "foo||0", "w|g|1", "w|g|2", "w|g|1", "w|g|0"}));
  std::vector<std::string> now;
  sl.ForEachInterest([&](std::string_view subject, std::string_view queue, int32_t n) {
    now.push_back(std::string(subject) + "|" + std::string(queue) + "|" + std::to_string(n));
  });
  EXPECT_EQ(now, (std::vector<std::string>{"int.p||1"}));
}

}  // namespace
}  // namespace fjord::server
