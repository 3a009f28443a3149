#include "monitor/prometheus.h"

#include <gtest/gtest.h>

namespace fjord::monitor {
namespace {

TEST(PromWriter, FamiliesSamplesAndEscaping) {
  PromWriter w;
  w.Family("x_total", "counter", "what\nx counts \\ \"quoted\"");
  w.Sample("x_total", {{"a", "1"}, {"b", "q\"u\\o\nte"}}, 3);
  w.Family("x_total", "counter", "repeated: not written again");
  w.Sample("x_total", {}, 0.25);
  EXPECT_EQ(w.text(),
            "# HELP x_total what\\nx counts \\\\ \"quoted\"\n"
            "# TYPE x_total counter\n"
            "x_total{a=\"1\",b=\"q\\\"u\\\\o\\nte\"} 3\n"
            "x_total 0.25\n");
}

TEST(PromWriter, HistogramHasEveryBucketSumAndCount) {
  base::LatencyHistogram h;
  h.Observe(1'000'000);  // 1 ms
  h.Observe(3'000'000);  // 3 ms
  PromWriter w;
  w.Histogram("lat_seconds", "latency", {{"s", "1"}}, h.Read());
  const std::string& t = w.text();
  EXPECT_NE(t.find("# TYPE lat_seconds histogram\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_bucket{s=\"1\",le=\"0.0005\"} 0\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{s=\"1\",le=\"0.001\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{s=\"1\",le=\"0.005\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{s=\"1\",le=\"+Inf\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_sum{s=\"1\"} 0.004\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_count{s=\"1\"} 2\n"), std::string::npos) << t;
}

}  // namespace
}  // namespace fjord::monitor
