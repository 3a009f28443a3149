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
// kAlways, NoteWritten(): nobody waits for this write (a plain consumer ack),
// so its fsync may wait up to kNoteDelay for company — the next waiter's
// batch, or more noted files — instead of costing an fsync per JetStream
// batch. A power loss then loses at most that many milliseconds of them.
//
// One GroupCommit may serve many files (all consumer stores of a server
// share one): a batch runs one Sync() per distinct file in it.
//
// Callbacks run on the thread. The first fsync error is kept (failed());
// after it the store refuses writes, since the page cache state is unknown.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/histogram.h"
#include "store/env.h"

namespace fjord::store {

// Every fsync a group commit runs, whatever its store (streams and consumer
// state alike), for /metrics.
base::LatencyHistogram& FsyncLatency();

class GroupCommit {
 public:
  // `name`: the thread's, as top -H and perf show it (at most 15 chars).
  GroupCommit(SyncMode mode, int64_t interval_ns, const char* name = "fjord-sync");
  ~GroupCommit();

  // `synced` (optional): run once the fsync succeeded, before any `done`
  // of the batch, and only for the last waiter of its file in the batch
  // that has one (which covers the others): a note of how far the file is
  // durable costs one write per fsync, not one per waiter.
  void Submit(std::shared_ptr<File> file, std::function<void(Status)> done,
              std::function<void()> synced = nullptr);
  void NoteWritten(std::shared_ptr<File> file);
  // One fsync of `file` on the calling thread, for a caller that would only
  // wait for this thread to run it (a replica's follower): two thread
  // hand-offs fewer. Counted and failing as the thread's own fsyncs
  // (failed() from then on); `synced` runs after a success.
  Status SyncHere(const std::shared_ptr<File>& file, const std::function<void()>& synced = nullptr);
  static constexpr std::chrono::milliseconds kNoteDelay{5};
  // Completes every queued waiter (after one last fsync) and joins.
  void Stop();
  Status failed() const;
  uint64_t fsyncs() const;
  SyncMode mode() const { return mode_; }

 private:
  struct Waiter {
    std::shared_ptr<File> file;
    std::function<void(Status)> done;
    std::function<void()> synced;
  };
  void Run();

  SyncMode mode_;
  std::chrono::nanoseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Waiter> queue_;
  std::vector<std::shared_ptr<File>> dirty_;  // NoteWritten since the last fsync
  std::chrono::steady_clock::time_point dirty_since_;  // when dirty_ stopped being empty
  bool stop_ = false;
  Status failed_;
  uint64_t fsyncs_ = 0;
  std::thread thread_;
};

}  // namespace fjord::store
