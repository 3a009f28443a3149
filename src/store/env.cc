#include "store/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace fjord::store {
namespace {

Status ErrnoStatus(int err, std::string_view op, const std::string& path) {
  Errc code = Errc::kIo;
  if (err == ENOSPC || err == EDQUOT) code = Errc::kNoSpace;
  if (err == ENOENT) code = Errc::kNotFound;
  return {code, fmt::format("{} {}: {}", op, path, std::strerror(err))};
}

class PosixFile : public File {
 public:
  PosixFile(int fd, std::string path, uint64_t end) : fd_(fd), path_(std::move(path)), end_(end) {}
  ~PosixFile() override { ::close(fd_); }

  // Not O_APPEND: Linux ignores pwrite's offset on O_APPEND files, and the
  // stores overwrite records in place (erase). One writer per file tracks
  // the end itself.
  Status Append(std::string_view data) override { return Write(end_, data); }

  Status Write(uint64_t offset, std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "pwrite", path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
      if (offset > end_) end_ = offset;
    }
    return {};
  }

  Result<size_t> Read(uint64_t offset, size_t n, char* dst) override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return {ErrnoStatus(errno, "pread", path_), 0};
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return {{}, done};
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus(errno, "fdatasync", path_);
    return {};
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return ErrnoStatus(errno, "ftruncate", path_);
    end_ = size;
    return {};
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return {ErrnoStatus(errno, "fstat", path_), 0};
    return {{}, static_cast<uint64_t>(st.st_size)};
  }

 private:
  int fd_;
  std::string path_;
  uint64_t end_;
};

class PosixEnv : public Env {
 public:
  Result<std::unique_ptr<File>> Open(const std::string& path) override {
    return OpenFlags(path, O_RDWR | O_CREAT | O_CLOEXEC);
  }
  Result<std::unique_ptr<File>> OpenExisting(const std::string& path) override {
    return OpenFlags(path, O_RDWR | O_CLOEXEC);
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open dir", path);
    Status s;
    if (::fsync(fd) != 0) s = ErrnoStatus(errno, "fsync dir", path);
    ::close(fd);
    return s;
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus(errno, "rename", from);
    return {};
  }
  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink", path);
    return {};
  }
  Status RemoveDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) return ErrnoStatus(errno, "rmdir", path);
    return {};
  }
  Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0) {
      if (errno == EEXIST && IsDir(path)) return {};
      return ErrnoStatus(errno, "mkdir", path);
    }
    return {};
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return {ErrnoStatus(errno, "opendir", path), {}};
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    return {{}, std::move(names)};
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return {ErrnoStatus(errno, "stat", path), 0};
    return {{}, static_cast<uint64_t>(st.st_size)};
  }
  bool IsDir(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  bool Exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

 private:
  Result<std::unique_ptr<File>> OpenFlags(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return {ErrnoStatus(errno, "open", path), nullptr};
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = ErrnoStatus(errno, "fstat", path);
      ::close(fd);
      return {s, nullptr};
    }
    return {{}, std::make_unique<PosixFile>(fd, path, static_cast<uint64_t>(st.st_size))};
  }
};

}  // namespace

namespace {
Env* PosixDefault() {
  static Env* env = new PosixEnv();
  return env;
}
std::atomic<Env*> g_default{nullptr};
}  // namespace

Env* DefaultEnv() {
  Env* env = g_default.load(std::memory_order_acquire);
  return env ? env : PosixDefault();
}

void SetDefaultEnv(Env* env) { g_default.store(env, std::memory_order_release); }

Status WriteIntoZeros(File* file, uint64_t* zeroed_end, uint64_t offset, std::string_view data,
                      uint64_t zero_to) {
  if (zero_to > *zeroed_end) {
    if (Status s = file->Write(*zeroed_end, std::string(zero_to - *zeroed_end, '\0')); !s.ok()) return s;
    *zeroed_end = zero_to;
  }
  if (Status s = file->Write(offset, data); !s.ok()) return s;
  *zeroed_end = std::max(*zeroed_end, offset + data.size());
  return {};
}

std::string ParentDir(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return dir + std::string(name);
  return dir + "/" + std::string(name);
}

Result<std::string> ReadFileToString(Env* env, const std::string& path) {
  auto f = env->OpenExisting(path);
  if (!f.ok()) return {f.status, {}};
  auto size = f.value->Size();
  if (!size.ok()) return {size.status, {}};
  std::string out(size.value, '\0');
  auto n = f.value->Read(0, out.size(), out.data());
  if (!n.ok()) return {n.status, {}};
  out.resize(n.value);
  return {{}, std::move(out)};
}

Status WriteFileDurably(Env* env, const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  // A leftover temp file from a crash must not leak into the new contents.
  if (env->Exists(tmp)) {
    Status s = env->RemoveFile(tmp);
    if (!s.ok()) return s;
  }
  {
    auto f = env->Open(tmp);
    if (!f.ok()) return f.status;
    Status s = f.value->Append(data);
    if (s.ok()) s = f.value->Sync();
    if (!s.ok()) {
      f.value.reset();
      env->RemoveFile(tmp);
      return s;
    }
  }
  Status s = env->Rename(tmp, path);
  if (!s.ok()) return s;
  return env->SyncDir(ParentDir(path));
}

Status CreateDirsDurably(Env* env, const std::string& path) {
  if (path.empty() || env->IsDir(path)) return {};
  std::string parent = ParentDir(path);
  if (parent != path) {
    Status s = CreateDirsDurably(env, parent);
    if (!s.ok()) return s;
  }
  Status s = env->CreateDir(path);
  if (!s.ok()) return s;
  return env->SyncDir(parent);
}

Status RemoveTree(Env* env, const std::string& path) {
  if (!env->IsDir(path)) {
    if (!env->Exists(path)) return {};
    return env->RemoveFile(path);
  }
  auto names = env->ListDir(path);
  if (!names.ok()) return names.status;
  for (const auto& n : names.value) {
    Status s = RemoveTree(env, JoinPath(path, n));
    if (!s.ok()) return s;
  }
  return env->RemoveDir(path);
}

Status RemoveDirDurably(Env* env, const std::string& path) {
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string parent = ParentDir(dir);
  size_t slash = dir.rfind('/');
  std::string doomed = ".";
  doomed.append(dir, slash == std::string::npos ? 0 : slash + 1).append(".deleted");
  doomed = JoinPath(parent, doomed);
  if (Status s = RemoveTree(env, doomed); !s.ok()) return s;
  if (env->Exists(dir)) {
    if (Status s = env->Rename(dir, doomed); !s.ok()) return s;
    if (Status s = env->SyncDir(parent); !s.ok()) return s;
    if (Status s = RemoveTree(env, doomed); !s.ok()) return s;
  }
  return env->SyncDir(parent);
}

}  // namespace fjord::store
