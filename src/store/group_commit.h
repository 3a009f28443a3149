#pragma once
// GroupCommit: one background thread per store that runs the fsyncs.
//
// kAlways: Submit() queues a waiter for a file; the thread takes every
// waiter queued so far, runs one Sync() per distinct file, and completes the
// whole batch with the result. Waiters that arrive while an fsync runs wait
// for the next one, which starts as soon as the previous returns — so under
// load hundreds of publishes share one fsync, and a lone publisher pays one.
//
// kInterval: the thread fsyncs every file passed to NoteWritten() since the
// last fsync, every `interval`.
//
// One GroupCommit may serve many files (all consumer stores of a server
// share one): a batch runs one Sync() per distinct file in it.
//
// Callbacks run on the thread. The first fsync error is kept (failed());
// after it the store refuses writes, since the page cache state is unknown.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/env.h"

namespace fjord::store {

class GroupCommit {
 public:
  GroupCommit(SyncMode mode, int64_t interval_ns);
  ~GroupCommit();

  void Submit(std::shared_ptr<File> file, std::function<void(Status)> done);
  void NoteWritten(std::shared_ptr<File> file);
  // Completes every queued waiter (after one last fsync) and joins.
  void Stop();
  Status failed() const;
  uint64_t fsyncs() const;
  SyncMode mode() const { return mode_; }

 private:
  struct Waiter {
    std::shared_ptr<File> file;
    std::function<void(Status)> done;
  };
  void Run();

  SyncMode mode_;
  std::chrono::nanoseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Waiter> queue_;
  std::vector<std::shared_ptr<File>> dirty_;  // kInterval: written since the last fsync
  bool stop_ = false;
  Status failed_;
  uint64_t fsyncs_ = 0;
  std::thread thread_;
};

}  // namespace fjord::store
