#include "base/log.h"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <regex>
#include <string>

#include <gtest/gtest.h>

namespace fjord::log {
namespace {

// The hour printed by one log line written with the given settings.
int LoggedHour(bool utc) {
  std::string path = "/tmp/fjord-log-test-" + std::to_string(getpid()) + ".log";
  std::remove(path.c_str());
  EXPECT_TRUE(Configure(path, false, false, true, utc));
  Info("hello {}", 42);
  EXPECT_TRUE(Configure("", false, false));  // closes the file
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::remove(path.c_str());
  std::smatch m;
  // [pid] 2006/01/02 15:04:05.000000 [INF] message
  std::regex re(R"(^\[\d+\] \d{4}/\d{2}/\d{2} (\d{2}):\d{2}:\d{2}\.\d{6} \[INF\] hello 42$)");
  EXPECT_TRUE(std::regex_match(line, m, re)) << line;
  return m.empty() ? -1 : std::stoi(m[1]);
}

TEST(Log, LocalTimeOrUtc) {
  // A zone 5 hours east of UTC that needs no tzdata; restored afterwards.
  const char* old = std::getenv("TZ");
  std::string saved = old ? old : "";
  setenv("TZ", "FJT-5", 1);
  tzset();
  time_t now = time(nullptr);
  tm u;
  gmtime_r(&now, &u);
  int local = LoggedHour(false);
  int utc = LoggedHour(true);
  if (old) setenv("TZ", saved.c_str(), 1); else unsetenv("TZ");
  tzset();
  // An hour boundary may pass between the samples: allow the next hour.
  EXPECT_TRUE(utc == u.tm_hour || utc == (u.tm_hour + 1) % 24) << utc;
  EXPECT_TRUE(local == (utc + 5) % 24 || local == (utc + 4) % 24) << local << " vs " << utc;
}

}  // namespace
}  // namespace fjord::log
