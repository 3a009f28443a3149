// shipping: books a parcel for every new order (durable consumer
// ShippingProcessor). Updates and cancellations are acknowledged without a
// parcel, since they arrive on the same stream.
#include <string>

#include "service.h"

int main(int argc, char** argv) {
  uint64_t parcels = 0;
  orders::ServiceSpec spec{
      "shipping", "ShippingProcessor", [&parcels](const orders::Order& o) {
        if (o.type != "created") return "order " + o.id + " " + o.type + ", no parcel to book";
        int qty = 0;
        for (const auto& it : o.items) qty += it.qty;
        ++parcels;
        return "parcel " + std::to_string(parcels) + " for order " + o.id + ": " + std::to_string(qty) +
               " item(s) to " + o.customer + " via the " + o.region + " depot";
      }};
  return orders::RunService(argc, argv, spec);
}
