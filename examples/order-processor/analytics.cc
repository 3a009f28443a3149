// analytics: keeps running revenue per region (durable consumer
// AnalyticsProcessor). The totals live in memory only: the example is about
// delivery, not about storing aggregates.
#include <map>
#include <string>

#include "service.h"

int main(int argc, char** argv) {
  std::map<std::string, int64_t> revenue;  // region -> cents
  uint64_t events = 0;
  orders::ServiceSpec spec{
      "analytics", "AnalyticsProcessor", [&](const orders::Order& o) {
        ++events;
        int64_t delta = o.type == "created" ? o.TotalCents() : o.type == "cancelled" ? -o.TotalCents() : 0;
        int64_t& region_total = revenue[o.region];
        region_total += delta;
        return "event " + std::to_string(events) + " (" + o.id + " " + o.type + "): " + o.region +
               " revenue now " + orders::FormatMoney(region_total, o.currency);
      }};
  return orders::RunService(argc, argv, spec);
}
