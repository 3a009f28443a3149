#include "raft/scheduler.h"

#include <pthread.h>

#include <atomic>

namespace fjord::raft {
namespace {

// What the scheduler keeps in a task (its impl context): the generation its
// timer entry must carry to fire, and that entry while one is queued. A
// task has at most one entry: scheduling it again replaces the entry, and
// cancelling it removes the entry (NuRaft re-arms a follower's election
// timer on every append it receives; stale entries would pile up until
// their time came).
struct TaskState {
  std::atomic<uint64_t> gen{0};
  bool queued = false;  // guarded by the scheduler's mu_
  std::multimap<std::chrono::steady_clock::time_point, Scheduler::Entry>::iterator entry;
};

TaskState& StateOf(nuraft::delayed_task& t) {
  if (!t.get_impl_context()) {
    t.set_impl_context(new TaskState, [](void* p) { delete static_cast<TaskState*>(p); });
  }
  return *static_cast<TaskState*>(t.get_impl_context());
}

}  // namespace

Scheduler::Scheduler() : thread_([this] { Run(); }), notice_thread_([this] { RunNotices(); }) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Stop() {
  std::multimap<std::chrono::steady_clock::time_point, Entry> dropped;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    dropped.swap(queue_);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::deque<std::function<void()>> dropped_notices;
  {
    std::lock_guard lock(notice_mu_);
    notice_stop_ = true;
    dropped_notices.swap(notices_);
  }
  notice_cv_.notify_all();
  if (notice_thread_.joinable()) notice_thread_.join();
}

void Scheduler::Notify(std::function<void()> fn) {
  {
    std::lock_guard lock(notice_mu_);
    if (notice_stop_) return;
    notices_.push_back(std::move(fn));
  }
  notice_cv_.notify_one();
}

void Scheduler::RunNotices() {
  pthread_setname_np(pthread_self(), "fjord-raft-ntf");
  std::unique_lock lock(notice_mu_);
  while (!notice_stop_) {
    if (notices_.empty()) {
      notice_cv_.wait(lock);
      continue;
    }
    auto fn = std::move(notices_.front());
    notices_.pop_front();
    lock.unlock();
    fn();
    fn = nullptr;  // outside the lock, as for timer tasks
    lock.lock();
  }
}

void Scheduler::schedule(nuraft::ptr<nuraft::delayed_task>& task, nuraft::int32 milliseconds) {
  bool earliest;
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    task->reset();
    TaskState& st = StateOf(*task);
    uint64_t gen = ++st.gen;
    if (st.queued) queue_.erase(st.entry);
    st.entry = queue_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(milliseconds),
                              Entry{task, gen});
    st.queued = true;
    earliest = st.entry == queue_.begin();
  }
  // The thread sleeps until the earliest entry is due: only a new earliest
  // one needs to wake it (a wake-up per re-armed timer otherwise).
  if (earliest) cv_.notify_one();
}

void Scheduler::cancel_impl(nuraft::ptr<nuraft::delayed_task>& task) {
  std::lock_guard lock(mu_);
  TaskState& st = StateOf(*task);
  ++st.gen;
  // Once stopped, the queue's entries are gone (Stop), iterators with them.
  if (st.queued && !stop_) {
    queue_.erase(st.entry);
    st.queued = false;
  }
}

void Scheduler::Run() {
  pthread_setname_np(pthread_self(), "fjord-raft-tmr");
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto it = queue_.begin();
    if (it->first > std::chrono::steady_clock::now()) {
      // A copy: the entry may be replaced or cancelled (erased) while the
      // lock is released in the wait.
      auto due = it->first;
      cv_.wait_until(lock, due);
      continue;
    }
    Entry e = std::move(it->second);
    queue_.erase(it);
    TaskState& st = StateOf(*e.task);
    st.queued = false;
    if (st.gen.load() != e.gen) continue;
    lock.unlock();
    e.task->execute();
    e.task.reset();  // outside the lock: the last reference may free a raft server's task
    lock.lock();
  }
}

}  // namespace fjord::raft
