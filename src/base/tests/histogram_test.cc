#include "base/histogram.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace fjord::base {
namespace {

TEST(LatencyHistogram, BucketsAreCumulativeAndInclusive) {
  LatencyHistogram h;
  h.Observe(25'000);         // exactly 25 µs: the first bucket (le is inclusive)
  h.Observe(30'000);         // 30 µs: le=0.00005
  h.Observe(2'000'000);      // 2 ms: le=0.0025
  h.Observe(20'000'000'000);  // 20 s: only +Inf
  h.Observe(-5);             // clock went back: counted as zero
  auto s = h.Read();
  EXPECT_EQ(s.buckets[0], 2u);  // 25 µs and the negative one
  EXPECT_EQ(s.buckets[1], 3u);
  EXPECT_EQ(s.buckets[5], 3u);  // le=0.001
  EXPECT_EQ(s.buckets[6], 4u);  // le=0.0025
  EXPECT_EQ(s.buckets.back(), 4u);
  EXPECT_EQ(s.count, 5u);
  EXPECT_NEAR(s.sum_seconds, 20.002055, 1e-9);
}

TEST(LatencyHistogram, ConcurrentObserversLoseNothing) {
  LatencyHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.Observe(1000 * (i % 50));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.Read().count, 40000u);
}

}  // namespace
}  // namespace fjord::base
