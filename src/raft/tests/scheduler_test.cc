// The timer thread NuRaft's elections and heartbeats run on.
#include "raft/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <libnuraft/timer_task.hxx>

namespace fjord::raft {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Counted {
  std::atomic<int> runs{0};
  std::atomic<int64_t> at_ms{0};  // when it last ran, since `start`
  Clock::time_point start = Clock::now();
  nuraft::ptr<nuraft::delayed_task> task;
  Counted() {
    nuraft::timer_task<void>::executor fn = [this] {
      at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      runs++;
    };
    task = nuraft::cs_new<nuraft::timer_task<void>>(fn);
  }
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

TEST(SchedulerTest, ATaskRunsOnceWhenDue) {
  Scheduler s;
  Counted t;
  s.schedule(t.task, 20);
  ASSERT_TRUE(WaitFor([&] { return t.runs == 1; }, 2s));
  EXPECT_GE(t.at_ms.load(), 20);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(t.runs, 1);
}

// NuRaft re-arms a follower's election timer on every append: the new time
// replaces the old one (which must not fire), and the old entry is gone.
TEST(SchedulerTest, SchedulingAgainReplacesTheEntry) {
  Scheduler s;
  Counted t;
  s.schedule(t.task, 30);
  // The thread now waits for that entry, which the next call erases (the
  // wait must not look at it again: ASan).
  std::this_thread::sleep_for(10ms);
  s.schedule(t.task, 300);
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(t.runs, 0) << "the replaced time fired";
  ASSERT_TRUE(WaitFor([&] { return t.runs == 1; }, 2s));
  EXPECT_GE(t.at_ms.load(), 300);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(t.runs, 1);
}

// The thread sleeps until its earliest entry; an earlier one, scheduled
// while it sleeps, must wake it.
TEST(SchedulerTest, AnEarlierTaskIsNotHeldUpByALaterOne) {
  Scheduler s;
  Counted later, sooner;
  s.schedule(later.task, 5000);
  std::this_thread::sleep_for(20ms);  // the thread now waits for `later`
  s.schedule(sooner.task, 20);
  ASSERT_TRUE(WaitFor([&] { return sooner.runs == 1; }, 1s));
  EXPECT_EQ(later.runs, 0);
}

TEST(SchedulerTest, ACancelledTaskNeverRuns) {
  Scheduler s;
  Counted t, other;
  s.schedule(t.task, 30);
  s.schedule(other.task, 60);
  std::this_thread::sleep_for(10ms);  // the thread waits for `t`'s entry
  s.cancel(t.task);
  ASSERT_TRUE(WaitFor([&] { return other.runs == 1; }, 2s));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(t.runs, 0);
  // Scheduled again after a cancel, it runs.
  s.schedule(t.task, 10);
  ASSERT_TRUE(WaitFor([&] { return t.runs == 1; }, 2s));
}

// Groups may cancel their timers after the scheduler stopped (the process
// shutting down): nothing runs and nothing breaks.
TEST(SchedulerTest, CancelAndScheduleAfterStopDoNothing) {
  Scheduler s;
  Counted t;
  s.schedule(t.task, 50);
  s.Stop();
  s.cancel(t.task);
  s.schedule(t.task, 1);
  std::this_thread::sleep_for(80ms);
  EXPECT_EQ(t.runs, 0);
}

}  // namespace
}  // namespace fjord::raft
