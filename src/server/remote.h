#pragma once
// Another server, as the message path sees it: where a message goes when a
// remote subscription matches. cluster/route.h implements it over a route
// (a server of our cluster), leaf/leaf.h over a leaf-node connection.
#include <asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fjord::server {

// `$FJR.`: what the servers of one cluster send each other (the Raft
// transport's RPCs, raft/transport.h, and the clustered JetStream API's
// gathering). No client publishes there or names a reply there, and none of
// it crosses a leaf node connection.
inline bool ServersOnly(std::string_view subject) { return subject.starts_with("$FJR."); }

// One route, as /routez shows it.
struct RouteInfo {
  uint64_t rid = 0;
  std::string remote_id, remote_name;
  bool did_solicit = false, is_configured = false;
  std::string ip;
  int port = 0;
  std::chrono::system_clock::time_point start, last_activity;
  uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
  uint64_t pending_bytes = 0;
  size_t num_subs = 0;
  bool fjord_jetstream = false;  // a Fjord server taking part in clustered JetStream
  std::vector<std::string> tags;  // that server's `server_tags` (Fjord JetStream peers only)
  std::vector<std::string> subs;  // "account subject[ queue]" the remote announced, if asked
};

class Remote {
 public:
  enum class Kind { kRoute, kLeaf };
  virtual ~Remote() = default;
  virtual Kind kind() const = 0;
  // Thread-safe: queues a message for the remote server, to be delivered
  // there to its local subscribers (and, with `queues`, to one member of
  // each named queue group: names separated by spaces). Written at the end
  // of the current batch (Server::FlushDirty).
  virtual void QueueRoutedMsg(std::string_view account, std::string_view subject, std::string_view reply,
                              std::string_view queues, uint32_t hdr_len, std::string_view payload) = 0;
  // Owner thread: writes what is queued.
  virtual void Flush() = 0;
  // Any thread: writes what is queued at once when it is at most `max`
  // bytes and the socket takes it all, sparing the owner thread a wake-up
  // (a Raft request or response between servers); false leaves it to
  // Flush.
  virtual bool TryWriteDirect(size_t /*max*/) { return false; }
  virtual asio::io_context& context() = 0;
};

}  // namespace fjord::server
