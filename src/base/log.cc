#include "base/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <mutex>

namespace fjord::log {
namespace {
std::atomic<bool> g_debug{false};
std::atomic<bool> g_trace{false};
std::atomic<bool> g_timestamps{true};
std::atomic<bool> g_utc{false};
std::mutex g_mu;
FILE* g_out = nullptr;  // guarded by g_mu; nullptr means stderr

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
  g_debug = debug || trace;
  g_trace = trace;
  g_timestamps = timestamps;
  g_utc = utc;
  return true;
}

bool DebugEnabled() { return g_debug.load(std::memory_order_relaxed); }
bool TraceEnabled() { return g_trace.load(std::memory_order_relaxed); }

void Write(Level level, std::string_view msg) {
  std::string line;
  line.reserve(msg.size() + 48);
  line += fmt::format("[{}] ", getpid());
  if (g_timestamps) {
    timeval tv;
    gettimeofday(&tv, nullptr);
    tm t;
    if (g_utc) {
      gmtime_r(&tv.tv_sec, &t);
    } else {
      localtime_r(&tv.tv_sec, &t);
    }
    line += fmt::format("{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06} ", t.tm_year + 1900, t.tm_mon + 1,
                        t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, tv.tv_usec);
  }
  line += fmt::format("[{}] ", Tag(level));
  line.append(msg);
  line += '\n';
  std::lock_guard lock(g_mu);
  FILE* out = g_out ? g_out : stderr;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

}  // namespace fjord::log
