#pragma once
// SyncedMark: how far an append-only file is known to have been fsynced, so
// that recovery can tell a torn tail from damage.
//
// A crash mid-append leaves a last record cut short or failing its
// checksum; such a record was never acknowledged, and recovery cuts it. A
// record that was fsynced (and so maybe acknowledged) and then fails its
// checksum is damage (a bit flip): cutting it would report acknowledged
// data as gone. The mark tells the two apart. After each fsync of the file
// the owner notes (file id, end offset) here: one small pwrite, not synced.
// - kill -9: the page cache keeps the write, so the mark is exact.
// - power loss: the mark may be older (its write not yet on disk), never
//   newer, because it is written only after the fsync it describes
//   returned. An old mark makes recovery take a damaged record for a torn
//   one, as it did before the mark existed; never the other way round.
// A mark that is missing, torn or from another file id reads as none.
//
// File: u64 file id, u64 offset, u64 XXH64 of those 16 bytes; rewritten in
// place at offset 0. The id names the file's incarnation (a block id, a log
// file's first index): a file rewritten under a new id reads no old mark.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "store/env.h"

namespace fjord::store {

class SyncedMark {
 public:
  struct Mark {
    uint64_t id = 0;
    uint64_t offset = 0;
  };
  // The mark in `path`, if it is whole.
  static std::optional<Mark> Read(Env* env, const std::string& path);

  // `keep_open`: the file stays open between notes (a store's few logs);
  // false opens it for each note (a consumer's: there may be 100,000 of
  // them, and a descriptor each would double what they hold).
  SyncedMark(Env* env, std::string path, bool keep_open = true)
      : env_(env), path_(std::move(path)), keep_open_(keep_open) {}
  // File `id` is durable up to `offset`. Ignored when below the mark already
  // (a later fsync's note came first); a failed write is only logged: the
  // mark then stays lower, which is safe.
  void Note(uint64_t id, uint64_t offset);
  // The file was cut to `offset` (or rewritten): the mark goes down first,
  // durably, so a torn append past the cut is not taken for damage. False
  // when the mark can neither be written nor removed; the caller must then
  // not cut.
  bool Lower(uint64_t id, uint64_t offset);

 private:
  bool WriteLocked(Mark m);

  Env* env_;
  std::string path_;
  bool keep_open_;
  std::mutex mu_;
  std::unique_ptr<File> file_;  // opened at the first note
  Mark last_;
  bool broken_ = false;
};

}  // namespace fjord::store
