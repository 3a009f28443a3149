#pragma once
// LatencyHistogram: a fixed-bucket histogram of durations that any thread may
// add to without a lock (relaxed atomics), and the monitor reads for
// /metrics. The buckets cover 25 µs .. 10 s, which spans an fsync on a fast
// NVMe disk up to a stalled one; slower observations land in +Inf.
#include <array>
#include <atomic>
#include <cstdint>

namespace fjord::base {

class LatencyHistogram {
 public:
  // Upper bounds in seconds (Prometheus `le`), ascending.
  static constexpr std::array<double, 18> kBounds = {
      0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};

  struct Snapshot {
    // Cumulative counts: buckets[i] = observations <= kBounds[i].
    std::array<uint64_t, kBounds.size()> buckets{};
    uint64_t count = 0;  // all observations (the +Inf bucket)
    double sum_seconds = 0;
    Snapshot& operator+=(const Snapshot& o) {
      for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += o.buckets[i];
      count += o.count;
      sum_seconds += o.sum_seconds;
      return *this;
    }
  };

  void Observe(int64_t ns) {
    if (ns < 0) ns = 0;
    double s = double(ns) / 1e9;
    size_t i = 0;
    while (i < kBounds.size() && s > kBounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(uint64_t(ns), std::memory_order_relaxed);
  }

  // Not atomic as a whole: a scrape racing an Observe may see the count
  // one ahead of the sum, which Prometheus tolerates.
  Snapshot Read() const {
    Snapshot r;
    uint64_t run = 0;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      run += counts_[i].load(std::memory_order_relaxed);
      r.buckets[i] = run;
    }
    r.count = run + counts_[kBounds.size()].load(std::memory_order_relaxed);
    r.sum_seconds = double(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return r;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};  // last: > 10 s
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace fjord::base
