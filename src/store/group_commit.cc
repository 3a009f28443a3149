#include "store/group_commit.h"

#include <pthread.h>

#include <algorithm>
#include <vector>

namespace fjord::store {
namespace {

// One fsync, timed for FsyncLatency.
Status TimedSync(File& file) {
  auto t0 = std::chrono::steady_clock::now();
  Status s = file.Sync();
  FsyncLatency().Observe(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  return s;
}

}  // namespace

GroupCommit::GroupCommit(SyncMode mode, int64_t interval_ns, const char* name)
    : mode_(mode), interval_(interval_ns > 0 ? interval_ns : 1'000'000'000) {
  thread_ = std::thread([this, name] {
    pthread_setname_np(pthread_self(), name);
    Run();
  });
}

GroupCommit::~GroupCommit() { Stop(); }

void GroupCommit::Submit(std::shared_ptr<File> file, std::function<void(Status)> done,
                         std::function<void()> synced) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back({std::move(file), std::move(done), std::move(synced)});
  }
  cv_.notify_one();
}

void GroupCommit::NoteWritten(std::shared_ptr<File> file) {
  bool first = false;
  {
    std::lock_guard lock(mu_);
    // Files are few per interval; a linear check keeps one entry each.
    for (const auto& f : dirty_)
      if (f == file) return;
    first = dirty_.empty();
    if (first) dirty_since_ = std::chrono::steady_clock::now();
    dirty_.push_back(std::move(file));
  }
  // kAlways: the thread starts counting kNoteDelay.
  if (first && mode_ == SyncMode::kAlways) cv_.notify_one();
}

void GroupCommit::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

Status GroupCommit::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

uint64_t GroupCommit::fsyncs() const {
  std::lock_guard lock(mu_);
  return fsyncs_;
}

Status GroupCommit::SyncHere(const std::shared_ptr<File>& file, const std::function<void()>& synced) {
  {
    std::lock_guard lock(mu_);
    if (!failed_.ok()) return failed_;
  }
  Status s = TimedSync(*file);
  if (s.ok() && synced) synced();
  std::lock_guard lock(mu_);
  ++fsyncs_;
  if (!s.ok() && failed_.ok()) failed_ = s;
  return s;
}

void GroupCommit::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    auto ready = [this] { return stop_ || !queue_.empty(); };
    if (mode_ == SyncMode::kAlways) {
      // A waiter runs a batch at once; noted files alone after kNoteDelay.
      while (!ready()) {
        if (dirty_.empty()) {
          cv_.wait(lock);
        } else if (cv_.wait_until(lock, dirty_since_ + kNoteDelay) == std::cv_status::timeout) {
          break;
        }
      }
    } else {
      cv_.wait_for(lock, interval_, ready);
    }
    std::deque<Waiter> batch;
    batch.swap(queue_);
    std::vector<std::shared_ptr<File>> files;
    for (const auto& w : batch) {
      if (files.empty() || files.back() != w.file) files.push_back(w.file);
    }
    for (auto& f : dirty_) files.push_back(std::move(f));
    dirty_.clear();
    bool stopping = stop_ && queue_.empty();
    Status failed = failed_;
    lock.unlock();
    Status s = failed;
    uint64_t n = 0;
    if (s.ok()) {
      // A shared GroupCommit sees many files: drop repeats in O(n log n).
      std::sort(files.begin(), files.end());
      files.erase(std::unique(files.begin(), files.end()), files.end());
      for (size_t i = 0; i < files.size(); ++i) {
        s = TimedSync(*files[i]);
        ++n;
        if (!s.ok()) break;
      }
    }
    if (s.ok()) {
      // The last `synced` of each file: files are few per batch.
      std::vector<const File*> noted;
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
        if (!it->synced || std::find(noted.begin(), noted.end(), it->file.get()) != noted.end()) continue;
        noted.push_back(it->file.get());
        it->synced();
      }
    }
    for (auto& w : batch) w.done(s);
    batch.clear();
    files.clear();
    lock.lock();
    fsyncs_ += n;
    if (!s.ok() && failed_.ok()) failed_ = s;
    if (stopping) break;
  }
}

base::LatencyHistogram& FsyncLatency() {
  static base::LatencyHistogram h;
  return h;
}

}  // namespace fjord::store
