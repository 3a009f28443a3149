#pragma once
// Writing a connection's queued output from a thread other than its own
// (Client::TryWriteDirect, Remote::TryWriteDirect): a request or a reply
// reaches its socket without waking the connection's I/O thread.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>

namespace fjord::server {

// Sends all of `out` (not empty) to socket `fd` without blocking, and
// empties it. False leaves the rest to the owner thread: more than `max`
// bytes, the socket full, or output less than 50 us ago (`last_out`): a
// connection being streamed to is written by its own thread, rather than
// every producer taking turns at its socket. The caller holds the lock
// guarding `out` and knows no write of the owner is in flight.
inline bool SendQueuedDirect(int fd, std::string& out, std::atomic<std::chrono::steady_clock::rep>& last_out,
                             size_t max) {
  constexpr auto kStreamingGap =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::microseconds(50)).count();
  if (out.size() > max) return false;
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (now - last_out.load(std::memory_order_relaxed) < kStreamingGap) return false;
  last_out.store(now, std::memory_order_relaxed);
  ssize_t n = ::send(fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n <= 0) return false;  // full, or an error the owner's write will meet
  if (static_cast<size_t>(n) < out.size()) {
    out.erase(0, static_cast<size_t>(n));
    return false;
  }
  out.clear();
  return true;
}

}  // namespace fjord::server
