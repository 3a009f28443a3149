#include "base/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace fjord::log {
namespace {
std::atomic<bool> g_debug{false};
std::atomic<bool> g_trace{false};
std::atomic<bool> g_timestamps{true};
std::atomic<bool> g_utc{false};
std::mutex g_mu;
FILE* g_out = nullptr;  // guarded by g_mu; nullptr means stderr
// Rotation (logfile_size_limit / logfile_max_num), guarded by g_mu.
std::string g_path;
int64_t g_size = 0;
int64_t g_limit = 0;
int g_max_num = 0;

const char* Tag(Level l) {
  switch (l) {
    case Level::kTrace: return "TRC";
    case Level::kDebug: return "DBG";
    case Level::kInfo: return "INF";
    case Level::kWarn: return "WRN";
    case Level::kError: return "ERR";
    case Level::kFatal: return "FTL";
  }
  return "???";
}
}  // namespace

bool Configure(const std::string& file, bool debug, bool trace, bool timestamps, bool utc) {
  FILE* next = nullptr;
  if (!file.empty()) {
    next = std::fopen(file.c_str(), "a");
    if (!next) return false;
    setvbuf(next, nullptr, _IOLBF, 0);
  }
  std::lock_guard lock(g_mu);
  if (g_out) std::fclose(g_out);
  g_out = next;
  g_path = file;
  g_size = 0;
  if (next && std::fseek(next, 0, SEEK_END) == 0) g_size = std::ftell(next);
  g_debug = debug || trace;
  g_trace = trace;
  g_timestamps = timestamps;
  g_utc = utc;
  return true;
}

bool DebugEnabled() { return g_debug.load(std::memory_order_relaxed); }
bool TraceEnabled() { return g_trace.load(std::memory_order_relaxed); }

namespace {

// Broken-down time in the configured zone (local, or UTC with logtime_utc).
tm Calendar(time_t secs) {
  tm t;
  if (g_utc) {
    gmtime_r(&secs, &t);
  } else {
    localtime_r(&secs, &t);
  }
  return t;
}

std::string Format(Level level, std::string_view msg) {
  std::string line;
  line.reserve(msg.size() + 48);
  line += fmt::format("[{}] ", getpid());
  if (g_timestamps) {
    timeval tv;
    gettimeofday(&tv, nullptr);
    tm t = Calendar(tv.tv_sec);
    line += fmt::format("{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06} ", t.tm_year + 1900, t.tm_mon + 1,
                        t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, tv.tv_usec);
  }
  line += fmt::format("[{}] ", Tag(level));
  line.append(msg);
  line += '\n';
  return line;
}

// Renames the full log to `<file>.<yyyy.mm.dd.hh.mm.ss.nanos>` (the suffix
// nats-server uses, so existing cleanup scripts match), starts a new one,
// and keeps at most g_max_num backups. Called with g_mu held.
void Rotate() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t = Calendar(ts.tv_sec);
  std::string backup = fmt::format("{}.{:04}.{:02}.{:02}.{:02}.{:02}.{:02}.{:09}", g_path, t.tm_year + 1900,
                                   t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec);
  std::fclose(g_out);
  g_out = nullptr;
  bool renamed = std::rename(g_path.c_str(), backup.c_str()) == 0;
  g_out = std::fopen(g_path.c_str(), "a");  // on failure, lines go to stderr
  if (g_out) setvbuf(g_out, nullptr, _IOLBF, 0);
  g_size = 0;
  if (g_max_num > 0) {
    namespace fs = std::filesystem;
    fs::path p(g_path);
    std::string prefix = p.filename().string() + ".";
    std::vector<std::string> backups;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(p.has_parent_path() ? p.parent_path() : ".", ec)) {
      std::string name = e.path().filename().string();
      if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0) backups.push_back(e.path());
    }
    // Fixed-width timestamps: name order is age order.
    std::sort(backups.begin(), backups.end());
    for (size_t i = 0; i + size_t(g_max_num) < backups.size(); ++i) fs::remove(backups[i], ec);
  }
  std::string note = Format(Level::kInfo, renamed ? "Rotated log, backup saved as " + backup
                                                  : "Could not rotate the log file; continuing in it");
  FILE* out = g_out ? g_out : stderr;
  std::fwrite(note.data(), 1, note.size(), out);
  if (g_out) g_size += int64_t(note.size());
}

}  // namespace

void SetRotation(int64_t size_limit, int max_num) {
  std::lock_guard lock(g_mu);
  g_limit = size_limit;
  g_max_num = max_num;
}

void Write(Level level, std::string_view msg) {
  std::string line = Format(level, msg);
  std::lock_guard lock(g_mu);
  FILE* out = g_out ? g_out : stderr;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
  if (g_out && g_limit > 0) {
    g_size += int64_t(line.size());
    if (g_size >= g_limit) Rotate();
  }
}

}  // namespace fjord::log
