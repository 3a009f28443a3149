#include <iostream>
#include <sstream>

#include <gtest/gtest.h>

#include "cli/common.h"
#include "cli/table.h"
#include "cli/view.h"

namespace fjord::cli {
namespace {

TEST(ParseDuration, GoStyleAndExtraUnits) {
  EXPECT_EQ(ParseDuration("500ms"), 500000000);
  EXPECT_EQ(ParseDuration("2m"), 120000000000);
  EXPECT_EQ(ParseDuration("1h30m"), 5400000000000);
  EXPECT_EQ(ParseDuration("1.5s"), 1500000000);
  EXPECT_EQ(ParseDuration("1d"), 86400000000000);
  EXPECT_EQ(ParseDuration("1w"), 7 * 86400000000000);
  EXPECT_EQ(ParseDuration("10us"), 10000);
}

TEST(ParseDuration, UnlimitedAndErrors) {
  EXPECT_EQ(ParseDuration("-1"), 0);
  EXPECT_EQ(ParseDuration("0"), 0);
  EXPECT_EQ(ParseDuration(""), 0);
  EXPECT_THROW(ParseDuration("soon"), CliError);
  EXPECT_THROW(ParseDuration("5"), CliError);
  EXPECT_THROW(ParseDuration("5x"), CliError);
  EXPECT_THROW(ParseDuration("-5s"), CliError);
}

TEST(ParseDuration, MalformedNumbersAreCliErrors) {
  // std::stod would throw std::invalid_argument("stod") for these.
  EXPECT_THROW(ParseDuration("."), CliError);
  EXPECT_THROW(ParseDuration(".s"), CliError);
  EXPECT_THROW(ParseDuration("1.2.3s"), CliError);
  EXPECT_THROW(ParseSize("."), CliError);
  EXPECT_THROW(ParseSize("1..5MB"), CliError);
  EXPECT_EQ(ParseSize("1.5K"), 1536);
}

// A poll landing in the election (no leader answers it: a timeout) is
// tried again; only the last poll's failure fails the command.
TEST(WaitForNewLeader, AnUnansweredPollIsTriedAgain) {
  GlobalOptions g;
  int polls = 0;
  auto leader = [&]() -> std::string {
    if (++polls < 3) throw CliError("timeout waiting for a JetStream API response on $JS.API.STREAM.INFO.ORDERS");
    return "n2";
  };
  std::ostringstream out;
  auto* old = std::cout.rdbuf(out.rdbuf());
  EXPECT_NO_THROW(WaitForNewLeader(g, "n1", leader, "stream ORDERS", 5000));
  std::cout.rdbuf(old);
  EXPECT_EQ(polls, 3);
  EXPECT_EQ(out.str(), "New leader elected \"n2\" (was \"n1\")\n");

  // Never answered: the poll's own error; answered, the old leader still.
  auto never = []() -> std::string { throw CliError("timeout waiting for a response"); };
  try {
    WaitForNewLeader(g, "n1", never, "stream ORDERS", 300);
    ADD_FAILURE() << "no error";
  } catch (const CliError& e) {
    EXPECT_STREQ(e.what(), "timeout waiting for a response");
  }
  try {
    WaitForNewLeader(g, "n1", [] { return std::string("n1"); }, "stream ORDERS", 300);
    ADD_FAILURE() << "no error";
  } catch (const CliError& e) {
    EXPECT_STREQ(e.what(), "n1 still leads stream ORDERS");
  }
}

TEST(ParseInt, WholeNumbersInRangeElsePlainWords) {
  EXPECT_EQ(ParseInt("42", "count"), 42);
  EXPECT_EQ(ParseInt("-3", "offset"), -3);
  EXPECT_EQ(ParseInt("64", "history", 1, 64), 64);
  auto message = [](const std::string& in, int64_t min, int64_t max) {
    try {
      ParseInt(in, "sequence", min, max);
    } catch (const CliError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("abc", 1, INT64_MAX), "invalid sequence \"abc\": a whole number is expected");
  EXPECT_EQ(message("", 1, INT64_MAX), "invalid sequence \"\": a whole number is expected");
  EXPECT_EQ(message("12x", 1, INT64_MAX), "invalid sequence \"12x\": a whole number is expected");
  EXPECT_EQ(message("0", 1, INT64_MAX), "invalid sequence \"0\": must be at least 1");
  EXPECT_EQ(message("65", 1, 64), "invalid sequence \"65\": must be between 1 and 64");
  EXPECT_EQ(message("99999999999999999999", 1, INT64_MAX), "invalid sequence \"99999999999999999999\": too large");
}

TEST(FormatDuration, LikeGo) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(120000000000), "2m0s");
  EXPECT_EQ(FormatDuration(5400000000000), "1h30m0s");
  EXPECT_EQ(FormatDuration(1500000000), "1.5s");
  EXPECT_EQ(FormatDuration(1500000), "1.5ms");
  EXPECT_EQ(FormatDuration(999), "999ns");
  EXPECT_EQ(FormatDuration(90000000000000), "1d1h0m0s");
}

TEST(ParseSize, UnitsArePowersOf1024) {
  EXPECT_EQ(ParseSize("1024"), 1024);
  EXPECT_EQ(ParseSize("1K"), 1024);
  EXPECT_EQ(ParseSize("10KB"), 10240);
  EXPECT_EQ(ParseSize("1MiB"), 1048576);
  EXPECT_EQ(ParseSize("1gb"), 1073741824);
  EXPECT_EQ(ParseSize("-1"), -1);
  EXPECT_THROW(ParseSize("lots"), CliError);
  EXPECT_THROW(ParseSize("1PB"), CliError);
}

TEST(Format, BytesAndCommas) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(1048576), "1.0 MiB");
  EXPECT_EQ(Commas(0), "0");
  EXPECT_EQ(Commas(100000), "100,000");
  EXPECT_EQ(Commas(-1234567), "-1,234,567");
  EXPECT_EQ(LimitNumber(-1), "unlimited");
  EXPECT_EQ(LimitNumber(5), "5");
}

TEST(Urls, CredentialsAreRedacted) {
  EXPECT_EQ(RedactUrls("nats://bob:pw@127.0.0.1:4222"), "nats://127.0.0.1:4222");
  EXPECT_EQ(RedactUrls("nats://tok@a:1,b:2"), "nats://a:1,b:2");
  EXPECT_EQ(RedactUrls("u:p@host:4222"), "host:4222");
  EXPECT_EQ(RedactUrls("localhost:4222"), "localhost:4222");
}

TEST(SplitList, TrimsAndDropsEmpty) {
  EXPECT_EQ(SplitList("a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(SplitList("").empty());
}

TEST(ShortTime, ZeroTimeIsNever) {
  EXPECT_EQ(ShortTime("0001-01-01T00:00:00Z"), "never");
  EXPECT_EQ(ShortTime("2026-11-26T03:55:02.573897955Z"), "2026-11-26 03:55:02");
}

TEST(Table, BoxesAlignUnicodeAndTitle) {
  Table t("Streams");
  t.Header({"Name", "Messages"});
  t.Row({"ORDERS", "3"});
  t.Row({"µ", "100,000"});
  std::ostringstream out;
  t.Print(out);
  std::istringstream lines(out.str());
  std::string line;
  size_t width = 0;
  int n = 0;
  while (std::getline(lines, line)) {
    if (n++ == 0) width = DisplayWidth(line);
    EXPECT_EQ(DisplayWidth(line), width) << line;
  }
  EXPECT_EQ(n, 8);
  EXPECT_NE(out.str().find("│ ORDERS │ 3        │"), std::string::npos) << out.str();
}

TEST(KeyValues, RightAlignsLabels) {
  KeyValues kv;
  kv.Add("Subjects", "orders.>");
  kv.Add("Maximum Messages", "100,000");
  std::ostringstream out;
  kv.Print(out);
  EXPECT_EQ(out.str(), "          Subjects: orders.>\n  Maximum Messages: 100,000\n");
}

}  // namespace
}  // namespace fjord::cli
