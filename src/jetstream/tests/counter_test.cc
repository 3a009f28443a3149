#include "jetstream/counter.h"

#include <gtest/gtest.h>

namespace fjord::jetstream {
namespace {

TEST(CounterTest, ParseBigIntTakesWhatGoTakes) {
  EXPECT_EQ(ParseBigInt("1"), "1");
  EXPECT_EQ(ParseBigInt("+007"), "7");
  EXPECT_EQ(ParseBigInt("-0"), "0");
  EXPECT_EQ(ParseBigInt("-00012"), "-12");
  EXPECT_EQ(ParseBigInt("123456789012345678901234567890"), "123456789012345678901234567890");
  for (const char* bad : {"", "+", "-", "--1", "+-1", "1.5", "1e3", "0x10", "1_000", " 1", "1 ", "abc"})
    EXPECT_FALSE(ParseBigInt(bad)) << bad;
}

TEST(CounterTest, ArithmeticIsExactBeyondSixtyFourBits) {
  EXPECT_EQ(BigAdd("9223372036854775807", "9223372036854775807"), "18446744073709551614");
  EXPECT_EQ(BigAdd("18446744073709551614", "-18446744073709551615"), "-1");
  EXPECT_EQ(BigSub("5", "5"), "0");
  EXPECT_EQ(BigSub("-3", "4"), "-7");
  EXPECT_EQ(BigAdd("0", "0"), "0");
}

TEST(CounterTest, TotalsReadFromBodiesAsNatsServerReadsThem) {
  EXPECT_EQ(CounterTotal(R"({"val":"42"})"), "42");
  EXPECT_EQ(CounterTotal(R"({})"), "0");  // no val: starts from zero
  EXPECT_EQ(CounterTotal(R"({"val":"x"})"), "0");
  EXPECT_EQ(CounterTotal("null"), "0");
  EXPECT_FALSE(CounterTotal(R"({"val":42})"));  // a number is not Go's string field
  EXPECT_FALSE(CounterTotal("not json"));
  EXPECT_FALSE(CounterTotal("[1]"));
  EXPECT_FALSE(CounterTotal(""));
  EXPECT_EQ(CounterBody("-5"), R"({"val":"-5"})");
}

TEST(CounterTest, SourcesRoundTripAndRefuseOtherShapes) {
  CounterSources s{{"EU", {{"eu.a", "3"}, {"eu.b", "-1"}}}, {"US", {{"us.a", "10"}}}};
  std::string json = CounterSourcesJson(s);
  EXPECT_EQ(json, R"({"EU":{"eu.a":"3","eu.b":"-1"},"US":{"us.a":"10"}})");
  EXPECT_EQ(ParseCounterSources(json), s);
  EXPECT_FALSE(ParseCounterSources(R"({"EU":1})"));
  EXPECT_FALSE(ParseCounterSources(R"({"EU":{"a":1}})"));
  EXPECT_FALSE(ParseCounterSources("[]"));
}

}  // namespace
}  // namespace fjord::jetstream
