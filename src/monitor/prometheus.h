#pragma once
// A writer for the Prometheus text exposition format (version 0.0.4): one
// `# HELP` / `# TYPE` header per metric family, then its samples. Label
// values are escaped as the format requires (\\, \", \n).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/histogram.h"

namespace fjord::monitor {

using Labels = std::vector<std::pair<std::string, std::string>>;

class PromWriter {
 public:
  // Starts a family; `type` is "gauge", "counter" or "histogram". A family
  // already started is not repeated (samples of one family must be
  // contiguous: callers write all of a family's samples before the next).
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const Labels& labels, double value);
  // `<name>_bucket{...,le=}`, `<name>_sum`, `<name>_count`, family included.
  void Histogram(std::string_view name, std::string_view help, const Labels& labels,
                 const base::LatencyHistogram::Snapshot& h);
  const std::string& text() const { return out_; }

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  void Series(std::string_view name, const Labels& labels, std::string_view extra_label,
              std::string_view extra_value);
  std::string out_;
  std::vector<std::string> families_;
};

}  // namespace fjord::monitor
