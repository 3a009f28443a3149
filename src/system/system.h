#pragma once
// The system account's services: the requests `nats server list`, `nats
// server report connections|jetstream|accounts` and other tooling send
// (`$SYS.REQ.SERVER.PING[.<KIND>]`, `$SYS.REQ.SERVER.<id>.<KIND>`,
// `$SYS.REQ.ACCOUNT.<account>.<KIND>`), and the events nats-server
// publishes there: client CONNECT/DISCONNECT, account connection counts and
// the server's periodic STATSZ; in operator mode, account JWT pushes
// (`$SYS.REQ.CLAIMS.UPDATE`, `$SYS.REQ.ACCOUNT.<acc>.CLAIMS.UPDATE`) and
// lookups. Shapes follow nats-server 2.9.10.
//
// Threads: one of its own. Requests arrive on I/O threads and are handed
// over at once; answering may wait for JetStream (/jsz), which an I/O
// thread must never do.
#include <asio.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/events.h"
#include "server/sublist.h"

namespace fjord::server {
class Account;
class Server;
}  // namespace fjord::server
namespace fjord::monitor {
class Monitor;
}

namespace fjord::system {

struct Options {
  std::string host;  // shown in every message's "server" block
  std::vector<std::string> tags;
  std::string domain;
  bool jetstream = false;
};

class System {
 public:
  // `account` is the system account; all three must outlive this.
  System(server::Server* srv, server::Account* account, monitor::Monitor* mon, Options opts);
  ~System();

  // Subscribes and starts the thread; before the server takes clients, so
  // that no CONNECT goes unannounced.
  void Start();
  void Shutdown();

 private:
  void Request(std::string subject, std::string reply, std::string body);
  void Event(server::ConnectionEvent ev);
  // Operator mode: account JWT updates and lookups.
  void Claims(std::string subject, std::string reply, std::string body);
  void Statsz();
  void Publish(const std::string& subject, const std::string& body);
  bool Interest(const std::string& subject);

  server::Server* srv_;
  server::Account* account_;
  monitor::Monitor* mon_;
  Options opts_;
  asio::io_context ctx_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::steady_timer statsz_timer_{ctx_};
  std::thread thread_;
  std::vector<server::SubPtr> subs_;
  std::atomic<uint64_t> seq_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace fjord::system
