#include "base/log.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
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

TEST(Log, RotatesAtSizeLimitAndKeepsMaxNum) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("fjord-log-rot-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string path = (dir / "fjord.log").string();
  SetRotation(1000, 2);
  ASSERT_TRUE(Configure(path, false, false));
  for (int i = 0; i < 100; ++i) Info("line {} {}", i, std::string(40, 'x'));
  ASSERT_TRUE(Configure("", false, false));
  SetRotation(0, 0);
  std::vector<std::string> backups;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "fjord.log") backups.push_back(e.path().filename().string());
  // About 7 KB were written in files of 1000 bytes: many rotations, two kept.
  EXPECT_EQ(backups.size(), 2u);
  for (const auto& b : backups) EXPECT_TRUE(std::regex_match(b, std::regex(R"(fjord\.log\.\d{4}(\.\d{2}){5}\.\d{9})"))) << b;
  EXPECT_LT(fs::file_size(path), 1000u);
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  EXPECT_NE(first.find("Rotated log, backup saved as " + (dir / "fjord.log.").string()), std::string::npos) << first;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fjord::log
