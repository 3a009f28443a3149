#pragma once
// Helpers shared by the store tests: temp directories and a Sync that waits.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "store/env.h"
#include "store/store.h"

namespace fjord::store::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fjord-store-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Where a file's data ends: its size without the zeros written ahead of
// appends (the stores' blocks and logs, raft.log).
inline uint64_t DataEnd(const std::string& path) {
  auto raw = ReadFileToString(DefaultEnv(), path);
  EXPECT_TRUE(raw.ok()) << path;
  auto last = raw.value.find_last_not_of('\0');
  return last == std::string::npos ? 0 : last + 1;
}

// Calls Sync and waits (bounded) for its callback.
template <typename S>
Status SyncWait(S& store) {
  auto p = std::make_shared<std::promise<Status>>();
  auto f = p->get_future();
  store.Sync([p](Status s) { p->set_value(std::move(s)); });
  if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "Sync callback never ran";
    return {Errc::kIo, "timeout"};
  }
  return f.get();
}

inline uint64_t FileMsgSize(std::string_view s, std::string_view h, std::string_view d) {
  return 30 + s.size() + d.size() + (h.empty() ? 0 : 4 + h.size());
}
inline uint64_t MemMsgSize(std::string_view s, std::string_view h, std::string_view d) {
  return 16 + s.size() + h.size() + d.size();
}

}  // namespace fjord::store::testing
