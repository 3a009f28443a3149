#pragma once
// Env: every file operation the stores perform goes through this interface,
// so tests can substitute FaultEnv (fault_env.h) to drop unsynced data, fail
// writes with ENOSPC/EIO, tear writes and flip bits.
//
// Errors map to store::Errc: ENOSPC/EDQUOT -> kNoSpace, ENOENT -> kNotFound,
// anything else -> kIo; `msg` names the call, the path and strerror.
//
// Thread-safety: an Env may be used from any thread. A File may be used by
// two threads at once only as the stores do: one thread writes and reads
// while another calls Sync().
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace fjord::store {

class File {
 public:
  virtual ~File() = default;
  // Writes at the end of the file. On error a prefix of `data` may have been
  // written; the caller truncates back if it must not stay.
  virtual Status Append(std::string_view data) = 0;
  // Overwrites bytes at `offset` (pwrite); the file may grow.
  virtual Status Write(uint64_t offset, std::string_view data) = 0;
  // Reads up to `n` bytes at `offset` into `dst`; fewer only at end of file.
  virtual Result<size_t> Read(uint64_t offset, size_t n, char* dst) = 0;
  // fdatasync: data and the size are durable once this returns ok.
  virtual Status Sync() = 0;
  virtual Status Truncate(uint64_t size) = 0;
  virtual Result<uint64_t> Size() = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // Opens for reading and writing, creating the file (empty) if missing.
  // A new file's directory entry is durable only after SyncDir(parent).
  virtual Result<std::unique_ptr<File>> Open(const std::string& path) = 0;
  // Opens an existing file; kNotFound if missing.
  virtual Result<std::unique_ptr<File>> OpenExisting(const std::string& path) = 0;
  // fsync of a directory: makes creations, renames and removals of its
  // entries durable.
  virtual Status SyncDir(const std::string& path) = 0;
  // Atomically replaces `to` (a file) with `from`.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // Removes an empty directory.
  virtual Status RemoveDir(const std::string& path) = 0;
  // mkdir; ok if it already exists as a directory.
  virtual Status CreateDir(const std::string& path) = 0;
  // Entry names (no "." or ".."), unsorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  virtual bool IsDir(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
};

// The Env every store of the process uses: the POSIX implementation
// (never destroyed), unless SetDefaultEnv replaced it.
Env* DefaultEnv();
// Replaces what DefaultEnv returns; call before anything opens a store.
// Only the server's power-loss simulation for tests does (a FaultEnv over
// the POSIX one); `env` must live until the process exits.
void SetDefaultEnv(Env* env);

// Helpers built on Env.

// Reads a whole file.
Result<std::string> ReadFileToString(Env* env, const std::string& path);
// Replaces `path` durably: write `path`.tmp, fsync it, rename over `path`,
// fsync the directory.
Status WriteFileDurably(Env* env, const std::string& path, std::string_view data);
// mkdir -p; every directory created is made durable by fsyncing its parent.
Status CreateDirsDurably(Env* env, const std::string& path);
// rm -rf of `path` (files and directories below it, then itself). Not
// durable by itself: the caller fsyncs the parent.
Status RemoveTree(Env* env, const std::string& path);
// Deletes a directory tree so that it vanishes atomically: renames it to
// ".<name>.deleted" beside itself, fsyncs the parent, removes the tree and
// fsyncs the parent again. A crash midway leaves only the dot-directory
// (stream and consumer names never start with '.'), which the next call
// for the same path removes.
Status RemoveDirDurably(Env* env, const std::string& dir);
// Writes `data` at `offset` of a file holding zeros from *zeroed_end on
// (its size: the space written ahead of its records), first zeroing up to
// `zero_to` when that lies beyond: an fdatasync after a write into blocks
// the file already has is cheaper than one that extends it (no size change
// for the journal to commit), and a replay stops at the zeros. *zeroed_end
// is kept as the file's size; on error the caller truncates back and
// resets it.
Status WriteIntoZeros(File* file, uint64_t* zeroed_end, uint64_t offset, std::string_view data,
                      uint64_t zero_to);
// "a/b/c" -> "a/b"; "c" -> ".".
std::string ParentDir(const std::string& path);
std::string JoinPath(const std::string& dir, std::string_view name);

}  // namespace fjord::store
