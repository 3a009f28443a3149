#pragma once
// Raft RPCs between the servers of a cluster, carried as NATS messages in
// the system account over the existing routes: no port beyond the cluster
// port, and the routes' TLS and authorization cover Raft as well.
//
// A request for group G on the server named N goes to
// `$FJR.RQ.<id of N>.<G>` with the reply subject `$FJR.RS.<our id>.<seq>`;
// the receiving server hands it to G's raft_server and publishes the
// response to the reply subject. (nats-server uses `$NRG.>` for the same
// purpose; ours is a different protocol, so it has a different prefix.)
//
// Threads: requests and responses are handed from the I/O thread that
// received them to the transport's threads (kThreads), which run NuRaft's
// request handlers and the callbacks of our outgoing requests, one group's
// in order at a time (a strand per group): a follower's handler waits there
// until what it appended is durable, which holds up its own group only. A
// request that gets no response within its timeout, finds no route to its
// server, or reaches a server that has no such group (it answers at once
// with an empty response), fails (NuRaft retries with back-off).
#include <asio.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <libnuraft/raft_server.hxx>
#include <libnuraft/rpc_cli_factory.hxx>
#include <libnuraft/rpc_listener.hxx>

#include "server/sublist.h"

namespace fjord::server {
class Account;
}

namespace fjord::raft {

class Transport {
 public:
  // `sys` is the system account (must outlive this).
  Transport(server::Account* sys, std::string self_name);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void Start();
  // Fails every pending request, unsubscribes, joins the thread.
  void Stop();

  // NuRaft's server id for a server name (a 31-bit hash; 0 is never used).
  static int32_t PeerId(std::string_view server_name);
  int32_t self_id() const { return self_id_; }
  const std::string& self_name() const { return self_name_; }

  // What a group's raft_server is built with. Peers' endpoints are their
  // server names.
  nuraft::ptr<nuraft::rpc_client_factory> ClientFactory(const std::string& group);
  nuraft::ptr<nuraft::rpc_listener> Listener(const std::string& group);

  // Whether a request for `group` has arrived while this server had no
  // member of it: another server counts this one as a member already (its
  // state was lost, or it is being added).
  bool AskedFor(const std::string& group);

  // While this server's member of `group` rejoins without the state it had
  // (wiped, or set aside as damaged), it neither votes nor stands: its
  // short log would let a candidate that misses committed entries win, or
  // win itself without them. Vote and pre-vote requests to it are dropped,
  // and its own fail at once. Any thread.
  void SetVoting(const std::string& group, bool allowed);
  // This server's member of `group` halted (raft::Group::Halted): nothing
  // of the group leaves or reaches it any more (NuRaft still answers a
  // peer's response with the next entries, which would keep the others
  // from electing a successor). Cleared when a member of the group opens
  // again. Any thread.
  void SetHalted(const std::string& group, bool halted);
  // Whether this server's member of `group` has been told by the leader
  // that it was removed (a leave request it accepted). NuRaft acts on that
  // without telling its owner when the member had missed the membership
  // change itself. Any thread.
  bool ToldToLeave(const std::string& group);

  // RPCs sent and received since start (for /jsz and tests).
  uint64_t sent() const { return sent_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  class Client;
  class Factory;
  class GroupListener;
  using Strand = asio::strand<asio::io_context::executor_type>;
  struct Pending {
    nuraft::ptr<nuraft::req_msg> req;
    nuraft::rpc_handler done;
    std::chrono::steady_clock::time_point deadline;
    std::shared_ptr<Strand> strand;  // its group's
    // The sending server, alive until `done` has run: NuRaft's handler
    // calls into it, and a group closed meanwhile (its server shut down,
    // the handler then ignores the answer) must not have freed it. As
    // OnRequest holds the server it hands a request to.
    nuraft::ptr<nuraft::raft_server> keep;
  };
  static constexpr int kThreads = 4;

  void Send(const std::string& group, int32_t dst, nuraft::ptr<nuraft::req_msg>& req, nuraft::rpc_handler& done,
            uint64_t timeout_ms);
  void Fail(Pending p, const std::string& why);
  // `group`'s strand, made on first use (kept while the group has a member
  // here); mu_ held.
  std::shared_ptr<Strand> StrandLocked(const std::string& group);
  // `group`'s server here, if it listens; mu_ held.
  nuraft::ptr<nuraft::raft_server> ServerLocked(const std::string& group);
  void OnRequest(std::string group, std::string reply, std::string data);
  void OnResponse(uint64_t seq, std::string data);
  void Sweep();
  void SetHandler(const std::string& group, nuraft::ptr<nuraft::raft_server> srv);
  void ClearHandler(const std::string& group, const nuraft::raft_server* srv);

  server::Account* sys_;
  const std::string self_name_;
  const int32_t self_id_;
  asio::io_context ctx_{kThreads};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::steady_timer sweep_{ctx_};
  std::vector<std::thread> threads_;
  server::SubPtr req_sub_, resp_sub_;
  std::atomic<bool> stopped_{false};

  std::mutex mu_;
  std::unordered_map<std::string, nuraft::ptr<nuraft::raft_server>> handlers_;  // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<Strand>> strands_;            // guarded by mu_
  std::unordered_map<uint64_t, Pending> pending_;                               // guarded by mu_
  std::unordered_set<std::string> asked_for_;                                   // guarded by mu_
  std::unordered_set<std::string> no_vote_;                                     // guarded by mu_
  std::unordered_set<std::string> halted_;                                      // guarded by mu_
  std::unordered_set<std::string> told_to_leave_;                               // guarded by mu_
  uint64_t next_seq_ = 1;                                                       // guarded by mu_
  std::atomic<uint64_t> sent_{0}, failed_{0};
};

}  // namespace fjord::raft
