#include "store/fault_env.h"

#include <algorithm>
#include <vector>

namespace fjord::store {

class FaultFile : public File {
 public:
  FaultFile(FaultEnv* env, std::unique_ptr<File> base, FaultEnv::NodePtr node, uint64_t gen)
      : env_(env), base_(std::move(base)), node_(std::move(node)), gen_(gen) {}

  Status Append(std::string_view data) override {
    std::lock_guard lock(env_->mu_);
    env_->Step();
    if (Status s = Check(); !s.ok()) return s;
    auto size = base_->Size();
    if (!size.ok()) return size.status;
    return WriteLocked(size.value, data, true);
  }

  Status Write(uint64_t offset, std::string_view data) override {
    std::lock_guard lock(env_->mu_);
    env_->Step();
    if (Status s = Check(); !s.ok()) return s;
    return WriteLocked(offset, data, false);
  }

  Result<size_t> Read(uint64_t offset, size_t n, char* dst) override {
    std::lock_guard lock(env_->mu_);
    if (Status s = Check(); !s.ok()) return {s, 0};
    return base_->Read(offset, n, dst);
  }

  Status Sync() override {
    std::lock_guard lock(env_->mu_);
    env_->Step();
    if (Status s = Check(); !s.ok()) return s;
    if (env_->io_error_) return {Errc::kIo, "fault: fdatasync EIO"};
    Status s = base_->Sync();
    if (!s.ok()) return s;
    auto size = base_->Size();
    if (!size.ok()) return size.status;
    Node& n = *node_;
    uint64_t from = std::min<uint64_t>({n.dirty_from, n.durable.size(), size.value});
    n.durable.resize(size.value);
    if (size.value > from) {
      auto r = base_->Read(from, size.value - from, n.durable.data() + from);
      if (!r.ok()) return r.status;
    }
    n.dirty_from = UINT64_MAX;
    env_->syncs_++;
    return {};
  }

  Status Truncate(uint64_t size) override {
    std::lock_guard lock(env_->mu_);
    env_->Step();
    if (Status s = Check(); !s.ok()) return s;
    Status s = base_->Truncate(size);
    if (s.ok()) node_->dirty_from = std::min(node_->dirty_from, size);
    return s;
  }

  Result<uint64_t> Size() override {
    std::lock_guard lock(env_->mu_);
    if (Status s = Check(); !s.ok()) return {s, 0};
    return base_->Size();
  }

 private:
  using Node = FaultEnv::Node;

  Status Check() const {
    if (env_->crashed_ || gen_ != env_->generation_) return {Errc::kIo, "fault: dead handle"};
    return {};
  }

  Status WriteLocked(uint64_t offset, std::string_view data, bool append) {
    if (env_->io_error_) return {Errc::kIo, "fault: write EIO"};
    std::string_view part = data;
    if (env_->no_space_) part = data.substr(0, data.size() / 2);
    Status s = append ? base_->Append(part) : base_->Write(offset, part);
    if (!s.ok()) return s;
    node_->dirty_from = std::min(node_->dirty_from, offset);
    node_->last_write_off = offset;
    node_->last_write_len = part.size();
    if (env_->no_space_) return {Errc::kNoSpace, "fault: write ENOSPC"};
    return {};
  }

  FaultEnv* env_;
  std::unique_ptr<File> base_;
  FaultEnv::NodePtr node_;
  uint64_t gen_;
};

FaultEnv::FaultEnv(Env* base, std::string root) : base_(base), root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  Adopt(root_);
}

FaultEnv::~FaultEnv() = default;

void FaultEnv::Adopt(const std::string& dir) {
  auto names = base_->ListDir(dir);
  if (!names.ok()) return;
  for (const auto& name : names.value) {
    std::string p = JoinPath(dir, name);
    auto node = std::make_shared<Node>();
    if (base_->IsDir(p)) {
      node->dir = true;
      Adopt(p);
    } else if (auto c = ReadFileToString(base_, p); c.ok()) {
      node->durable = std::move(c.value);
    }
    cur_[p] = node;
    dur_[p] = node;
  }
}

bool FaultEnv::Tracked(const std::string& path) const {
  return path.size() > root_.size() && path.compare(0, root_.size(), root_) == 0 &&
         path[root_.size()] == '/';
}

Status FaultEnv::Dead() const { return {Errc::kIo, "fault: crashed"}; }

void FaultEnv::SetNoSpace(bool on) {
  std::lock_guard lock(mu_);
  no_space_ = on;
}

void FaultEnv::SetIoError(bool on) {
  std::lock_guard lock(mu_);
  io_error_ = on;
}

void FaultEnv::Crash() {
  std::lock_guard lock(mu_);
  crashed_ = true;
}

void FaultEnv::CrashAfter(int64_t n) {
  std::lock_guard lock(mu_);
  crash_after_ = n;
}

void FaultEnv::Step() {
  if (crash_after_ < 0) return;
  if (crash_after_ == 0) {
    crashed_ = true;
    crash_after_ = -1;
    return;
  }
  --crash_after_;
}

void FaultEnv::PowerLoss() {
  std::lock_guard lock(mu_);
  RevertLocked();
  crashed_ = false;
}

void FaultEnv::Restart() {
  std::lock_guard lock(mu_);
  generation_++;
  crashed_ = false;
}

void FaultEnv::CutPower() {
  // Locked and never unlocked: every thread that reaches the store from
  // now on waits, until the process exits.
  mu_.lock();
  crashed_ = true;
  RevertLocked();
}

void FaultEnv::RevertLocked() {
  // An entry survives only if every directory on its way from root does.
  std::map<std::string, NodePtr> keep;
  for (const auto& [path, node] : dur_) {
    std::string parent = ParentDir(path);
    if (parent == root_ || keep.count(parent)) keep[path] = node;
  }
  if (auto names = base_->ListDir(root_); names.ok()) {
    for (const auto& n : names.value) RemoveTree(base_, JoinPath(root_, n));
  }
  // std::map order puts every directory before its children.
  for (const auto& [path, node] : keep) {
    if (node->dir) {
      base_->CreateDir(path);
      continue;
    }
    if (auto f = base_->Open(path); f.ok()) f.value->Append(node->durable);
    node->dirty_from = UINT64_MAX;
    node->last_write_len = 0;
  }
  cur_ = keep;
  dur_ = std::move(keep);
  generation_++;
}

void FaultEnv::TearLastWrite(const std::string& path, uint64_t keep) {
  std::lock_guard lock(mu_);
  auto it = cur_.find(path);
  if (it == cur_.end()) return;
  Node& n = *it->second;
  uint64_t end = n.last_write_off + std::min(keep, n.last_write_len);
  auto f = base_->OpenExisting(path);
  if (!f.ok()) return;
  n.durable.resize(end);
  auto r = f.value->Read(0, end, n.durable.data());
  if (r.ok()) n.durable.resize(r.value);
}

Status FaultEnv::FlipBit(const std::string& path, uint64_t offset, int bit) {
  std::lock_guard lock(mu_);
  auto f = base_->OpenExisting(path);
  if (!f.ok()) return f.status;
  char c;
  auto r = f.value->Read(offset, 1, &c);
  if (!r.ok()) return r.status;
  if (r.value != 1) return {Errc::kInvalid, "offset past end of file"};
  c = static_cast<char>(c ^ (1 << bit));
  Status s = f.value->Write(offset, std::string_view(&c, 1));
  if (!s.ok()) return s;
  if (auto it = cur_.find(path); it != cur_.end() && offset < it->second->durable.size()) {
    it->second->durable[offset] = c;
  }
  return {};
}

Result<std::unique_ptr<File>> FaultEnv::OpenImpl(const std::string& path, bool create) {
  std::lock_guard lock(mu_);
  if (create) Step();
  if (crashed_) return {Dead(), nullptr};
  if (!Tracked(path)) return create ? base_->Open(path) : base_->OpenExisting(path);
  auto f = create ? base_->Open(path) : base_->OpenExisting(path);
  if (!f.ok()) return f;
  NodePtr& node = cur_[path];
  if (!node) {
    node = std::make_shared<Node>();
    node->dirty_from = 0;
  }
  return {{}, std::make_unique<FaultFile>(this, std::move(f.value), node, generation_)};
}

Result<std::unique_ptr<File>> FaultEnv::Open(const std::string& path) { return OpenImpl(path, true); }

Result<std::unique_ptr<File>> FaultEnv::OpenExisting(const std::string& path) {
  return OpenImpl(path, false);
}

Status FaultEnv::SyncDir(const std::string& path) {
  std::lock_guard lock(mu_);
  Step();
  if (crashed_) return Dead();
  if (io_error_) return {Errc::kIo, "fault: fsync dir EIO"};
  Status s = base_->SyncDir(path);
  if (!s.ok()) return s;
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  for (auto it = dur_.begin(); it != dur_.end();) {
    it = ParentDir(it->first) == dir ? dur_.erase(it) : std::next(it);
  }
  for (const auto& [p, node] : cur_) {
    if (ParentDir(p) == dir) dur_[p] = node;
  }
  return {};
}

namespace {
// Re-keys `from` and everything below it to `to`.
template <typename Map>
void MoveSubtree(Map& m, const std::string& from, const std::string& to, bool include_self) {
  std::vector<std::pair<std::string, typename Map::mapped_type>> moved;
  std::string prefix = from + "/";
  for (auto it = m.begin(); it != m.end();) {
    bool self = it->first == from;
    bool below = it->first.compare(0, prefix.size(), prefix) == 0;
    if ((self && include_self) || below) {
      moved.emplace_back(to + it->first.substr(from.size()), it->second);
      it = m.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [p, n] : moved) m[p] = n;
}
}  // namespace

Status FaultEnv::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  Step();
  if (crashed_) return Dead();
  Status s = base_->Rename(from, to);
  if (!s.ok() || !Tracked(from)) return s;
  cur_.erase(to);
  MoveSubtree(cur_, from, to, true);
  // A directory's durable children follow the directory inode; the entry
  // naming the directory itself changes only when its parent is synced.
  MoveSubtree(dur_, from, to, false);
  return {};
}

Status FaultEnv::RemoveFile(const std::string& path) {
  std::lock_guard lock(mu_);
  Step();
  if (crashed_) return Dead();
  Status s = base_->RemoveFile(path);
  if (s.ok()) cur_.erase(path);
  return s;
}

Status FaultEnv::RemoveDir(const std::string& path) {
  std::lock_guard lock(mu_);
  Step();
  if (crashed_) return Dead();
  Status s = base_->RemoveDir(path);
  if (s.ok()) cur_.erase(path);
  return s;
}

Status FaultEnv::CreateDir(const std::string& path) {
  std::lock_guard lock(mu_);
  Step();
  if (crashed_) return Dead();
  Status s = base_->CreateDir(path);
  if (s.ok() && Tracked(path) && !cur_.count(path)) {
    auto node = std::make_shared<Node>();
    node->dir = true;
    cur_[path] = node;
  }
  return s;
}

Result<std::vector<std::string>> FaultEnv::ListDir(const std::string& path) {
  std::lock_guard lock(mu_);
  if (crashed_) return {Dead(), {}};
  return base_->ListDir(path);
}

Result<uint64_t> FaultEnv::FileSize(const std::string& path) {
  std::lock_guard lock(mu_);
  if (crashed_) return {Dead(), 0};
  return base_->FileSize(path);
}

bool FaultEnv::IsDir(const std::string& path) {
  std::lock_guard lock(mu_);
  return !crashed_ && base_->IsDir(path);
}

bool FaultEnv::Exists(const std::string& path) {
  std::lock_guard lock(mu_);
  return !crashed_ && base_->Exists(path);
}

}  // namespace fjord::store
