#include "jetstream/consumer_deliver.h"

#include <string>

#include "server/account.h"

namespace fjord::jetstream {

size_t DeliverAs(server::Account* acc, std::string_view target, std::string_view subject,
                 std::string_view reply, std::string_view hdr, std::string_view data) {
  return acc->PublishInternalAs(target, subject, reply, hdr, data);
}

bool HasInterest(server::Account* acc, std::string_view subject) {
  return !acc->sublist().Match(subject)->empty();
}

}  // namespace fjord::jetstream
