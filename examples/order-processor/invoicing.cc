// invoicing: issues an invoice for every new order and a credit note for
// every cancellation (durable consumer InvoiceProcessor).
#include <string>

#include "service.h"

int main(int argc, char** argv) {
  uint64_t invoices = 0;
  orders::ServiceSpec spec{
      "invoicing", "InvoiceProcessor", [&invoices](const orders::Order& o) {
        std::string amount = orders::FormatMoney(o.TotalCents(), o.currency);
        if (o.type == "cancelled") return "credit note for order " + o.id + ": -" + amount;
        if (o.type != "created") return "order " + o.id + " " + o.type + ", invoice unchanged";
        ++invoices;
        return "invoice INV-" + std::to_string(invoices) + " for order " + o.id + ": " + amount + " to " +
               o.customer;
      }};
  return orders::RunService(argc, argv, spec);
}
