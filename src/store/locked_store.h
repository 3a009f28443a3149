#pragma once
// A Store shared by two threads: a replicated stream's store is written by
// its Raft log (raft/stream_log.h: NuRaft's threads append a follower's
// entries and read the leader's for replication) and read and written by
// the stream's JetStream thread. Every call takes one mutex; the wrapped
// store keeps its one-thread contract (store.h).
//
// A Sync callback never runs with the mutex held, even when the wrapped
// store calls it at once (the memory store, `sync_interval`): the callback
// of a Raft log takes the log's own lock, which the log holds while it
// calls in here.
#include <memory>
#include <mutex>
#include <optional>

#include "store/store.h"

namespace fjord::store {

class LockedStore : public Store {
 public:
  explicit LockedStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  Result<uint64_t> Append(std::string_view subject, std::string_view hdr, std::string_view data,
                          int64_t ts) override {
    std::lock_guard lock(mu_);
    return inner_->Append(subject, hdr, data, ts);
  }
  Result<uint64_t> SkipMsg() override {
    std::lock_guard lock(mu_);
    return inner_->SkipMsg();
  }
  Result<uint64_t> AppendLogged(std::string_view subject, std::string_view hdr, std::string_view data, int64_t ts,
                                LogPos pos) override {
    std::lock_guard lock(mu_);
    return inner_->AppendLogged(subject, hdr, data, ts, pos);
  }
  bool KeepsLogPos() const override { return inner_->KeepsLogPos(); }
  // The fsync it returns runs without the lock (appends go on meanwhile).
  std::optional<std::function<Status()>> PrepareSyncHere() override {
    std::lock_guard lock(mu_);
    return inner_->PrepareSyncHere();
  }
  std::optional<LogPos> LogPosOf(uint64_t seq) override {
    std::lock_guard lock(mu_);
    return inner_->LogPosOf(seq);
  }
  void Sync(std::function<void(Status)> done) override {
    struct Call {
      std::mutex mu;
      bool returned = false;        // inner Sync has returned
      std::optional<Status> early;  // the result, if it came before that
      std::function<void(Status)> done;
    };
    auto call = std::make_shared<Call>();
    call->done = std::move(done);
    {
      std::lock_guard lock(mu_);
      inner_->Sync([call](Status s) {
        {
          std::lock_guard l(call->mu);
          if (!call->returned) {
            call->early = std::move(s);
            return;
          }
        }
        call->done(std::move(s));
      });
    }
    std::optional<Status> early;
    {
      std::lock_guard l(call->mu);
      call->returned = true;
      early = std::move(call->early);
    }
    if (early) call->done(std::move(*early));
  }
  Result<StoredMsg> Load(uint64_t seq) override {
    std::lock_guard lock(mu_);
    return inner_->Load(seq);
  }
  Result<StoredMsg> LoadLast(std::string_view filter) override {
    std::lock_guard lock(mu_);
    return inner_->LoadLast(filter);
  }
  Result<StoredMsg> LoadNext(std::string_view filter, uint64_t start) override {
    std::lock_guard lock(mu_);
    return inner_->LoadNext(filter, start);
  }
  Status Repair(const StoredMsg& m) override {
    std::lock_guard lock(mu_);
    return inner_->Repair(m);
  }
  std::optional<TailLoss> LostAtOpen() const override {
    std::lock_guard lock(mu_);
    return inner_->LostAtOpen();
  }
  Status Scan(uint64_t start, uint64_t end, const std::function<bool(const MsgView&)>& fn) override {
    std::lock_guard lock(mu_);
    return inner_->Scan(start, end, fn);
  }
  Result<uint64_t> Verify(uint64_t start, uint64_t max_bytes, std::vector<uint64_t>* damaged) override {
    std::lock_guard lock(mu_);
    return inner_->Verify(start, max_bytes, damaged);
  }
  Status ScanWithHeaders(uint64_t start, uint64_t end, const std::function<bool(const MsgView&)>& fn) override {
    std::lock_guard lock(mu_);
    return inner_->ScanWithHeaders(start, end, fn);
  }
  uint64_t FirstSeqSince(int64_t ts) const override {
    std::lock_guard lock(mu_);
    return inner_->FirstSeqSince(ts);
  }
  Status Remove(uint64_t seq, bool erase) override {
    std::lock_guard lock(mu_);
    return inner_->Remove(seq, erase);
  }
  Result<uint64_t> Purge(std::string_view filter, uint64_t upto, uint64_t keep) override {
    std::lock_guard lock(mu_);
    return inner_->Purge(filter, upto, keep);
  }
  uint64_t ExpireOld(int64_t now_ns) override {
    std::lock_guard lock(mu_);
    return inner_->ExpireOld(now_ns);
  }
  Status Truncate(uint64_t seq) override {
    std::lock_guard lock(mu_);
    return inner_->Truncate(seq);
  }
  void SetLimits(const Limits& limits) override {
    std::lock_guard lock(mu_);
    inner_->SetLimits(limits);
  }
  void SetCompression(bool on) override {
    std::lock_guard lock(mu_);
    inner_->SetCompression(on);
  }
  uint64_t MsgBytes(std::string_view subject, std::string_view hdr, std::string_view data) const override {
    std::lock_guard lock(mu_);
    return inner_->MsgBytes(subject, hdr, data);
  }
  StreamState State() const override {
    std::lock_guard lock(mu_);
    return inner_->State();
  }
  std::map<std::string, SubjectInfo> Subjects(std::string_view filter) const override {
    std::lock_guard lock(mu_);
    return inner_->Subjects(filter);
  }
  uint64_t NumPending(std::string_view filter, uint64_t start) const override {
    std::lock_guard lock(mu_);
    return inner_->NumPending(filter, start);
  }
  Status WriteMeta(std::string_view json) override {
    std::lock_guard lock(mu_);
    return inner_->WriteMeta(json);
  }
  Status Delete() override {
    std::lock_guard lock(mu_);
    return inner_->Delete();
  }
  Status Close() override {
    std::lock_guard lock(mu_);
    return inner_->Close();
  }
  // The wrapped store, open, for a stream reopened unreplicated over the
  // same memory store; this one must not be used after.
  std::unique_ptr<Store> Release() {
    std::lock_guard lock(mu_);
    return std::move(inner_);
  }

 private:
  mutable std::mutex mu_;
  std::unique_ptr<Store> inner_;
};

}  // namespace fjord::store
