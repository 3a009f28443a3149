#pragma once
// FaultEnv: an Env for tests that wraps another Env (normally DefaultEnv()
// on a temp directory) and models what a power loss keeps.
//
// Model: every file and directory below `root` is a node. A file's durable
// contents are its contents at its last successful File::Sync(); a
// directory's durable entries are its entries at its last SyncDir(). A
// directory rename carries the durable children along (they belong to the
// directory, not to its name). PowerLoss() rewrites the tree below `root`
// to exactly the durable state: files created, renamed or removed since the
// last SyncDir() of their directory revert, and data written since the last
// Sync() of a file is dropped. Overwrites inside synced ranges are modelled
// the same way (the whole file reverts to its synced contents).
//
// Thread-safe: every call takes one mutex, including the I/O it forwards.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "store/env.h"

namespace fjord::store {

class FaultEnv : public Env {
 public:
  // `root` must exist; its current contents are taken as durable. Paths
  // outside `root` pass straight through to `base`.
  FaultEnv(Env* base, std::string root);
  ~FaultEnv() override;

  // While on, File::Append/Write store the first half of the bytes and then
  // fail with kNoSpace (a short write, as a full disk gives).
  void SetNoSpace(bool on);
  // While on, writes, File::Sync and SyncDir fail with kIo.
  void SetIoError(bool on);
  // The process dies: from now on every call fails with kIo, so objects
  // destroyed afterwards cannot write anything, until PowerLoss().
  void Crash();
  // Crash() just before the (n+1)-th call from now that changes something
  // (a write, sync, truncate, create, rename or removal): the first n
  // happen, that one and every later one fail. -1 disarms.
  void CrashAfter(int64_t n);
  bool crash_armed() const {
    std::lock_guard lock(mu_);
    return crash_after_ >= 0;
  }
  // The process starts again after Crash() (kill -9): nothing written is
  // lost (the page cache keeps it); handles opened before are dead.
  void Restart();
  // Reboot: the tree below root becomes its durable state; handles opened
  // before are dead (kIo); calls work again.
  void PowerLoss();
  // The power goes and stays off (the server's SIGPWR simulation; the
  // process exits next): the tree below root becomes its durable state, and
  // every other call waits for ever rather than fail. A machine that loses
  // power stops; a process whose threads saw errors first could act on them
  // (a Raft leader that cannot read its log tells its followers they are out
  // of its range, which no real power loss does).
  void CutPower();
  // The last write to `path` reached the disk only partly: everything
  // before it and its first `keep` bytes become durable (the rest of the
  // write is lost at the next PowerLoss()).
  void TearLastWrite(const std::string& path, uint64_t keep);
  // Flips one bit now and in the durable contents.
  Status FlipBit(const std::string& path, uint64_t offset, int bit);
  // Successful File::Sync calls so far (group-commit tests count them).
  uint64_t syncs() const { return syncs_.load(); }

  Result<std::unique_ptr<File>> Open(const std::string& path) override;
  Result<std::unique_ptr<File>> OpenExisting(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  bool IsDir(const std::string& path) override;
  bool Exists(const std::string& path) override;

 private:
  friend class FaultFile;
  struct Node {
    bool dir = false;
    std::string durable;                // file contents at the last Sync()
    uint64_t dirty_from = UINT64_MAX;   // lowest offset changed since then
    uint64_t last_write_off = 0;
    uint64_t last_write_len = 0;
  };
  using NodePtr = std::shared_ptr<Node>;

  bool Tracked(const std::string& path) const;
  void Adopt(const std::string& dir);
  // Rewrites the tree to its durable state (mu_ held).
  void RevertLocked();
  Result<std::unique_ptr<File>> OpenImpl(const std::string& path, bool create);
  Status Dead() const;
  // Counts a changing call against CrashAfter (mu_ held).
  void Step();

  Env* base_;
  std::string root_;
  mutable std::mutex mu_;
  bool crashed_ = false;
  int64_t crash_after_ = -1;
  bool no_space_ = false;
  bool io_error_ = false;
  uint64_t generation_ = 0;  // bumped by PowerLoss(); older handles are dead
  std::atomic<uint64_t> syncs_{0};
  std::map<std::string, NodePtr> cur_;  // path -> node, as the tree is now
  std::map<std::string, NodePtr> dur_;  // path -> node, as a reboot finds it
};

}  // namespace fjord::store
