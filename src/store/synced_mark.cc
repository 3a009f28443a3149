#include "store/synced_mark.h"

#include <xxhash.h>

#include "base/log.h"
#include "store/coding.h"

namespace fjord::store {

namespace {
constexpr size_t kSize = 8 + 8 + 8;
}

std::optional<SyncedMark::Mark> SyncedMark::Read(Env* env, const std::string& path) {
  if (!env->Exists(path)) return std::nullopt;
  auto raw = ReadFileToString(env, path);
  if (!raw.ok() || raw.value.size() != kSize) return std::nullopt;
  const char* p = raw.value.data();
  if (XXH64(p, 16, 0) != DecodeU64(p + 16)) return std::nullopt;
  return Mark{DecodeU64(p), DecodeU64(p + 8)};
}

void SyncedMark::Note(uint64_t id, uint64_t offset) {
  std::lock_guard lock(mu_);
  if (broken_ || id < last_.id || (id == last_.id && offset <= last_.offset)) return;
  WriteLocked({id, offset});
  if (!keep_open_) file_.reset();
}

bool SyncedMark::Lower(uint64_t id, uint64_t offset) {
  std::lock_guard lock(mu_);
  // A mark that cannot be written any more may be above the cut: none is
  // safe.
  if (broken_) return !env_->Exists(path_) || env_->RemoveFile(path_).ok();
  // Durably: a later note may be lost to a power cut, but not this one,
  // or an older, higher mark could come back above the cut.
  bool ok = WriteLocked({id, offset}) && file_->Sync().ok();
  if (!keep_open_) file_.reset();
  if (ok) return true;
  return !env_->Exists(path_) || env_->RemoveFile(path_).ok();
}

bool SyncedMark::WriteLocked(Mark m) {
  if (!file_) {
    auto f = env_->Open(path_);
    if (!f.ok()) {
      broken_ = true;
      log::Warn("store: {}: {}; damage at the end of the file will read as a torn write", path_, f.status.msg);
      return false;
    }
    file_ = std::move(f.value);
  }
  std::string body;
  PutU64(&body, m.id);
  PutU64(&body, m.offset);
  PutU64(&body, XXH64(body.data(), body.size(), 0));
  if (auto st = file_->Write(0, body); !st.ok()) {
    broken_ = true;
    log::Warn("store: {}: {}; damage at the end of the file will read as a torn write", path_, st.msg);
    return false;
  }
  last_ = m;
  return true;
}

}  // namespace fjord::store
