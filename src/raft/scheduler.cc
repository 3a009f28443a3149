#include "raft/scheduler.h"

#include <pthread.h>

#include <atomic>

namespace fjord::raft {
namespace {

// The generation a task's timer entries must carry to fire.
std::atomic<uint64_t>& Generation(nuraft::delayed_task& t) {
  if (!t.get_impl_context()) {
    t.set_impl_context(new std::atomic<uint64_t>(0),
                       [](void* p) { delete static_cast<std::atomic<uint64_t>*>(p); });
  }
  return *static_cast<std::atomic<uint64_t>*>(t.get_impl_context());
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
  std::lock_guard lock(mu_);
  if (stop_) return;
  task->reset();
  uint64_t gen = ++Generation(*task);
  queue_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(milliseconds), Entry{task, gen});
  cv_.notify_one();
}

void Scheduler::cancel_impl(nuraft::ptr<nuraft::delayed_task>& task) {
  std::lock_guard lock(mu_);
  ++Generation(*task);
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
      cv_.wait_until(lock, it->first);
      continue;
    }
    Entry e = std::move(it->second);
    queue_.erase(it);
    if (Generation(*e.task).load() != e.gen) continue;
    lock.unlock();
    e.task->execute();
    e.task.reset();  // outside the lock: the last reference may free a raft server's task
    lock.lock();
  }
}

}  // namespace fjord::raft
