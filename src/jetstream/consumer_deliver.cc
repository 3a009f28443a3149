#include "jetstream/consumer_deliver.h"

#include <string>

#include "server/server.h"

namespace fjord::jetstream {

size_t DeliverAs(server::Server* srv, std::string_view target, std::string_view subject,
                 std::string_view reply, std::string_view hdr, std::string_view data) {
  return srv->PublishInternalAs(target, subject, reply, hdr, data);
}

bool HasInterest(server::Server* srv, std::string_view subject) {
  return !srv->sublist().Match(subject)->empty();
}

}  // namespace fjord::jetstream
