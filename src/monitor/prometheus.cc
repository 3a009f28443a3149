#include "monitor/prometheus.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace fjord::monitor {

namespace {

void AppendEscaped(std::string& out, std::string_view v, bool label) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && label) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// Integers print exactly (uint64 counters beyond 2^53 lose nothing that
// fits a double's range anyway); others with full precision.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", int64_t(v));
  return fmt::format("{}", v);
}

}  // namespace

void PromWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  if (std::find(families_.begin(), families_.end(), name) != families_.end()) return;
  families_.emplace_back(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendEscaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PromWriter::Series(std::string_view name, const Labels& labels, std::string_view extra_label,
                        std::string_view extra_value) {
  out_ += name;
  if (!labels.empty() || !extra_label.empty()) {
    out_ += '{';
    bool first = true;
    auto put = [&](std::string_view k, std::string_view v) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      AppendEscaped(out_, v, true);
      out_ += '"';
    };
    for (const auto& [k, v] : labels) put(k, v);
    if (!extra_label.empty()) put(extra_label, extra_value);
    out_ += '}';
  }
  out_ += ' ';
}

void PromWriter::Sample(std::string_view name, const Labels& labels, double value) {
  Series(name, labels, {}, {});
  out_ += Number(value);
  out_ += '\n';
}

void PromWriter::Histogram(std::string_view name, std::string_view help, const Labels& labels,
                           const base::LatencyHistogram::Snapshot& h) {
  Family(name, "histogram", help);
  std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i < base::LatencyHistogram::kBounds.size(); ++i) {
    Series(bucket, labels, "le", fmt::format("{}", base::LatencyHistogram::kBounds[i]));
    out_ += Number(double(h.buckets[i]));
    out_ += '\n';
  }
  Series(bucket, labels, "le", "+Inf");
  out_ += Number(double(h.count));
  out_ += '\n';
  Sample(std::string(name) + "_sum", labels, h.sum_seconds);
  Sample(std::string(name) + "_count", labels, double(h.count));
}

}  // namespace fjord::monitor
