// A group of three members replicating a list (tests/group_harness.h).
#include "raft/group.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "raft/tests/group_harness.h"
#include "store/fault_env.h"
#include "store/tests/store_test_util.h"

namespace fjord::raft {
namespace {

using namespace std::chrono_literals;

class ListFsm : public Fsm {
 public:
  std::string Apply(uint64_t, std::string_view data) override {
    std::lock_guard lock(mu_);
    items_.emplace_back(data);
    return {};
  }
  std::string Snapshot() override {
    std::lock_guard lock(mu_);
    std::string out;
    for (auto& i : items_) out += i + "\n";
    return out;
  }
  bool Restore(std::string_view s) override {
    std::lock_guard lock(mu_);
    items_.clear();
    size_t pos = 0;
    while (pos < s.size()) {
      auto nl = s.find('\n', pos);
      if (nl == std::string_view::npos) return false;
      items_.emplace_back(s.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return true;
  }
  std::vector<std::string> items() {
    std::lock_guard lock(mu_);
    return items_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> items_;
};

struct Member {
  std::string name;
  std::unique_ptr<store::FaultEnv> env;  // set by tests that cut the power
  std::unique_ptr<Transport> transport;
  ListFsm fsm;
  std::unique_ptr<Group> group;
};

class RaftGroup : public testing::GroupHarness<Member> {
 protected:
  void Open(Member& m, const GroupOptions& opts) override {
    GroupOptions o = opts;
    if (m.env) o.env = m.env.get();
    std::string err;
    m.group = Group::Open(m.transport.get(), scheduler_, o, &m.fsm, &err);
    ASSERT_TRUE(m.group) << err;
  }
  std::string Propose(Member& m, const std::string& data) {
    std::promise<std::string> p;
    auto f = p.get_future();
    m.group->Propose(data, [&p](const std::string& err) { p.set_value(err); });
    if (f.wait_for(5s) != std::future_status::ready) return "no answer";
    return f.get();
  }
};

TEST_F(RaftGroup, NewMembersWaitForTheBootstrapServer) {
  Start(*members_[1], false);
  Start(*members_[2], false);
  std::this_thread::sleep_for(1500ms);  // several election timeouts
  EXPECT_FALSE(members_[1]->group->IsLeader());
  EXPECT_FALSE(members_[2]->group->IsLeader());
  EXPECT_EQ(members_[1]->group->Leader(), "");
}

// A new group's named first leader campaigns at once: with election
// timeouts far longer than the wait, only that can elect it. n2 opens the
// group before the others, whose servers refuse its first requests (they
// have no such group yet) at once instead of at their timeout, so that it
// can try again.
TEST_F(RaftGroup, ANewGroupsFirstLeaderCampaignsAtOnce) {
  auto open = [&](Member& m) {
    GroupOptions o = Options(m, group_name_, false);
    o.members = {"n1", "n2", "n3"};
    o.first_leader = "n2";
    o.election_min_ms = 20'000;
    o.election_max_ms = 30'000;
    Open(m, o);
  };
  // Every transport runs (a request reaches each server), no group yet.
  for (auto& m : members_) {
    m->transport = std::make_unique<Transport>(account_.get(), m->name);
    m->transport->Start();
  }
  open(*members_[1]);
  std::this_thread::sleep_for(60ms);  // two of its tries refused
  open(*members_[0]);
  open(*members_[2]);
  ASSERT_TRUE(WaitFor([&] { return members_[1]->group->IsLeader(); }, 5s));
  EXPECT_EQ(members_[0]->group->Leader(), "n2");
  EXPECT_EQ(Propose(*members_[1], "first"), "");
  EXPECT_TRUE(WaitFor([&] { return members_[2]->fsm.items() == std::vector<std::string>{"first"}; }));
}

TEST_F(RaftGroup, ReplicatesToEveryMember) {
  Form();
  for (int i = 0; i < 30; i++) ASSERT_EQ(Propose(*members_[0], "m" + std::to_string(i)), "");
  for (auto& m : members_) {
    ASSERT_TRUE(WaitFor([&] { return m->fsm.items().size() == 30; })) << m->name << " " << m->fsm.items().size();
    EXPECT_EQ(m->fsm.items()[29], "m29");
  }
  // A follower refuses to propose.
  EXPECT_NE(Propose(*members_[1], "x"), "");
  auto peers = members_[0]->group->Peers();
  ASSERT_EQ(peers.size(), 3u);
}

TEST_F(RaftGroup, StepDownHandsOverLeadership) {
  Form();
  ASSERT_EQ(members_[0]->group->StepDown("n3"), "");
  ASSERT_TRUE(WaitFor([&] { return members_[2]->group->IsLeader(); }));
  EXPECT_FALSE(members_[0]->group->IsLeader());
  EXPECT_EQ(Propose(*members_[2], "after"), "");
  EXPECT_NE(members_[1]->group->StepDown(""), "");  // not the leader
}

TEST_F(RaftGroup, SurvivesTheLossOfTheLeaderAndCatchesItUp) {
  Form();
  for (int i = 0; i < 10; i++) ASSERT_EQ(Propose(*members_[0], "a" + std::to_string(i)), "");
  Stop(*members_[0]);
  Member* leader = nullptr;
  ASSERT_TRUE(WaitFor([&] { return (leader = Leader()) != nullptr; }));
  for (int i = 0; i < 40; i++) ASSERT_EQ(Propose(*leader, "b" + std::to_string(i)), "");
  // The old leader comes back from its files; it has missed enough entries
  // that the others have compacted them, so it gets a snapshot.
  members_[0]->fsm.Restore("");
  Start(*members_[0], true);
  ASSERT_TRUE(WaitFor([&] { return members_[0]->fsm.items().size() == 50; }))
      << members_[0]->fsm.items().size();
  EXPECT_EQ(members_[0]->fsm.items(), leader->fsm.items());
  EXPECT_FALSE(members_[0]->group->IsLeader() && leader->group->IsLeader());
}

// Power is cut on every member at once (what was not fsynced is lost): every
// entry whose Propose succeeded is still there after the restart, on every
// member, in order.
TEST_F(RaftGroup, AcknowledgedEntriesSurvivePowerLossEverywhere) {
  for (auto& m : members_) {
    std::filesystem::create_directories(root_ + "/" + m->name);
    m->env = std::make_unique<store::FaultEnv>(store::DefaultEnv(), root_ + "/" + m->name);
  }
  Form();
  for (int i = 0; i < 25; i++) ASSERT_EQ(Propose(*members_[0], "p" + std::to_string(i)), "");
  for (auto& m : members_) Stop(*m);
  for (auto& m : members_) {
    m->env->PowerLoss();
    m->fsm.Restore("");
  }
  for (auto& m : members_) Start(*m, false);
  Member* leader = nullptr;
  ASSERT_TRUE(WaitFor([&] { return (leader = Leader()) != nullptr; }));
  ASSERT_EQ(Propose(*leader, "after"), "");
  for (auto& m : members_) {
    ASSERT_TRUE(WaitFor([&] { return m->fsm.items().size() == 26; })) << m->name << " " << m->fsm.items().size();
    auto items = m->fsm.items();
    for (int i = 0; i < 25; i++) EXPECT_EQ(items[i], "p" + std::to_string(i)) << m->name;
    EXPECT_EQ(items[25], "after");
  }
}

// A proposal is in the leader's log (last_index) as soon as it is made and
// applied only once a quorum has it: what a stream leaving its group waits
// for (StreamReplica::Settled).
TEST_F(RaftGroup, AProposalIsInTheLogBeforeItIsApplied) {
  Form();
  Group& g = *members_[0]->group;
  ASSERT_EQ(Propose(*members_[0], "first"), "");
  ASSERT_TRUE(WaitFor([&] { return g.applied() >= g.last_index(); }));
  Stop(*members_[1]);
  Stop(*members_[2]);
  uint64_t before = g.last_index();
  auto committed = std::make_shared<std::promise<std::string>>();
  std::string refused = g.ProposeWithResult("waits", [committed](const std::string& e, std::string) {
    committed->set_value(e);
  });
  ASSERT_EQ(refused, "") << "the leader still leads a moment after losing its followers";
  EXPECT_EQ(g.last_index(), before + 1);
  EXPECT_LT(g.applied(), g.last_index());
  // Never committed: the leader steps down, and the proposal fails.
  auto f = committed->get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_NE(f.get(), "");
  EXPECT_LT(g.applied(), g.last_index());
}

TEST_F(RaftGroup, NoLeaderWithoutAQuorum) {
  Form();
  Stop(*members_[1]);
  Stop(*members_[2]);
  // The leader loses its quorum and steps down by itself.
  EXPECT_TRUE(WaitFor([&] { return !members_[0]->group->IsLeader(); }, 5s));
  EXPECT_NE(Propose(*members_[0], "lonely"), "");
}

}  // namespace
}  // namespace fjord::raft
