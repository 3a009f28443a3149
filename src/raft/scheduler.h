#pragma once
// NuRaft's timers (elections, heartbeats) on one thread of our own.
//
// NuRaft schedules and cancels tasks from several threads. Each schedule
// bumps the task's generation, kept in the task's own context, and a timer
// entry fires only if its generation is still current, so a task that was
// cancelled or scheduled again never runs twice.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <libnuraft/delayed_task_scheduler.hxx>

namespace fjord::raft {

class Scheduler : public nuraft::delayed_task_scheduler {
 public:
  Scheduler();
  ~Scheduler() override;
  // Stops the thread and drops every pending task (they never run).
  void Stop();

  void schedule(nuraft::ptr<nuraft::delayed_task>& task, nuraft::int32 milliseconds) override;

 private:
  void cancel_impl(nuraft::ptr<nuraft::delayed_task>& task) override;
  void Run();

  struct Entry {
    nuraft::ptr<nuraft::delayed_task> task;
    uint64_t gen;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, Entry> queue_;  // guarded by mu_
  bool stop_ = false;                                                  // guarded by mu_
  std::thread thread_;
};

}  // namespace fjord::raft
