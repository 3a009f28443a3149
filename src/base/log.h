#pragma once
// Logging in nats-server's line format:
//   [pid] 2006/01/02 15:04:05.000000 [INF] message
// Thread-safe; writes to stderr or to a file (`-l`). Debug and trace lines are
// dropped unless enabled (`-D`, `-V`), and the check is a relaxed atomic load,
// so a disabled trace costs nothing but the branch.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace fjord::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kFatal };

// Configure once at start and again on SIGHUP. An empty file means stderr;
// `utc` prints timestamps in UTC instead of local time (`logtime_utc`).
// Returns false (and keeps the previous sink) if the file cannot be opened.
bool Configure(const std::string& file, bool debug, bool trace, bool timestamps = true, bool utc = false);

// Rotates the log file once it reaches `size_limit` bytes (0 = never),
// keeping at most `max_num` rotated files (0 = all). Only for a log file.
void SetRotation(int64_t size_limit, int max_num);

bool DebugEnabled();
bool TraceEnabled();

void Write(Level level, std::string_view msg);

template <typename... Args>
void Info(fmt::format_string<Args...> f, Args&&... args) {
  Write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Warn(fmt::format_string<Args...> f, Args&&... args) {
  Write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Error(fmt::format_string<Args...> f, Args&&... args) {
  Write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Fatal(fmt::format_string<Args...> f, Args&&... args) {
  Write(Level::kFatal, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Debug(fmt::format_string<Args...> f, Args&&... args) {
  if (DebugEnabled()) Write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Trace(fmt::format_string<Args...> f, Args&&... args) {
  if (TraceEnabled()) Write(Level::kTrace, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace fjord::log
