#pragma once
// Raft groups of three members in one process: their transports share one
// account, as the servers of a cluster share the system account over
// routes, so every RPC takes the same path as between servers.
//
// `M` is a test's member: it has `name`, `transport` and `group`, and the
// test's Open() opens its group with the options Options() gives.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "raft/group.h"
#include "raft/scheduler.h"
#include "raft/transport.h"
#include "server/account.h"
#include "store/tests/store_test_util.h"

namespace fjord::raft::testing {

using namespace std::chrono_literals;

template <typename M>
class GroupHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    server::AccountConfig cfg;
    cfg.name = "$SYS";
    account_ = std::make_unique<server::Account>(cfg);
    scheduler_ = std::make_shared<Scheduler>();
    for (const char* n : {"n1", "n2", "n3"}) {
      auto m = std::make_unique<M>();
      m->name = n;
      members_.push_back(std::move(m));
    }
  }
  void TearDown() override {
    for (auto& m : members_) Stop(*m);
    scheduler_->Stop();
  }

  // Opens m's group (its transport is running).
  virtual void Open(M& m, const GroupOptions& o) = 0;

  // Fast timers, so elections take a fraction of a second.
  GroupOptions Options(M& m, const std::string& group, bool bootstrap) {
    GroupOptions o;
    o.name = group;
    o.dir = root_ + "/" + m.name;
    o.env = store::DefaultEnv();
    o.bootstrap = bootstrap;
    o.heartbeat_ms = 50;
    o.election_min_ms = 300;
    o.election_max_ms = 600;
    o.snapshot_every = 20;
    o.keep_entries = 5;
    return o;
  }
  void Start(M& m, bool bootstrap) {
    m.transport = std::make_unique<Transport>(account_.get(), m.name);
    m.transport->Start();
    Open(m, Options(m, group_name_, bootstrap));
  }
  void Stop(M& m) {
    m.group.reset();
    if (m.transport) m.transport->Stop();
    m.transport.reset();
  }
  // Waits (bounded) until `pred` holds.
  template <typename F>
  bool WaitFor(F pred, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return pred();
  }
  M* Leader() {
    for (auto& m : members_)
      if (m->group && m->group->IsLeader()) return m.get();
    return nullptr;
  }
  // Until the leader's membership holds `name` (asking it to add it).
  bool WaitForMember(M& leader, const std::string& name) {
    return WaitFor([&] {
      auto mem = leader.group->Members();
      if (std::find(mem.begin(), mem.end(), name) != mem.end()) return true;
      leader.group->AddMember(name);
      return false;
    });
  }
  // Forms n1 (bootstrap) + n2 + n3, all following n1.
  void Form() {
    Start(*members_[0], true);
    Start(*members_[1], false);
    Start(*members_[2], false);
    ASSERT_TRUE(WaitFor([&] { return members_[0]->group->IsLeader(); }));
    for (int i = 1; i < 3; i++) ASSERT_TRUE(WaitForMember(*members_[0], members_[i]->name)) << members_[i]->name;
    ASSERT_TRUE(WaitFor([&] {
      for (auto& m : members_)
        if (m->group->Members().size() != 3 || m->group->Leader() != "n1") return false;
      return true;
    }));
  }

  store::testing::TempDir tmp_;
  std::string root_ = tmp_.path();
  std::string group_name_ = "G";
  std::unique_ptr<server::Account> account_;
  std::shared_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<M>> members_;
};

}  // namespace fjord::raft::testing
