#pragma once
// What the core server tells the layer that publishes the system account's
// events.
#include <chrono>
#include <cstdint>
#include <string>

namespace fjord::server {

// A client connection authenticated (connect) or went away after having
// done so (disconnect), for the system account's events.
struct ConnectionEvent {
  bool connect = true;
  uint64_t cid = 0;
  std::string ip;
  std::string account, user, name, lang, version;
  std::chrono::system_clock::time_point start, stop;
  std::string reason;  // disconnect only
  uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
};

}  // namespace fjord::server
