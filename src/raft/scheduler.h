#pragma once
// NuRaft's timers (elections, heartbeats) on one thread of our own, and
// a second thread for notices that must not run where they arise (Notify).
//
// NuRaft schedules and cancels tasks from several threads. A task has at
// most one timer entry (scheduling again replaces it, cancelling removes
// it), and each schedule bumps the task's generation, kept in the task's
// own context: an entry fires only if its generation is still current, so
// a task cancelled or scheduled again while its entry was being taken to
// run never runs twice.
#include <chrono>
#include <condition_variable>
#include <map>
#include <deque>
#include <functional>
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
  // Runs `fn` on the notice thread, in the order of the calls (dropped once
  // stopped). For what takes a group's lock and is called from a thread
  // that a holder of that lock may be waiting for: a stream log's
  // durability notice comes from its store's sync thread, and NuRaft may
  // hold the lock while it flushes the log, waiting for that thread.
  void Notify(std::function<void()> fn);

  struct Entry {
    nuraft::ptr<nuraft::delayed_task> task;
    uint64_t gen;
  };

 private:
  void cancel_impl(nuraft::ptr<nuraft::delayed_task>& task) override;
  void Run();
  void RunNotices();
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, Entry> queue_;  // guarded by mu_
  bool stop_ = false;                                                  // guarded by mu_
  std::thread thread_;
  std::mutex notice_mu_;
  std::condition_variable notice_cv_;
  std::deque<std::function<void()>> notices_;  // guarded by notice_mu_
  bool notice_stop_ = false;                   // guarded by notice_mu_
  std::thread notice_thread_;
};

}  // namespace fjord::raft
