#include "base/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace fjord::base64 {
namespace {

TEST(Base64, EncodesInEitherAlphabetWithOrWithoutPadding) {
  EXPECT_EQ(Encode(""), "");
  EXPECT_EQ(Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(Encode("data/blob.bin", /*url=*/true), "ZGF0YS9ibG9iLmJpbg==");  // Object Store names
  EXPECT_EQ(Encode(std::string("\xfb\xff", 2)), "+/8=");
  EXPECT_EQ(Encode(std::string("\xfb\xff", 2), true), "-_8=");
  EXPECT_EQ(Encode(std::string("\xfb\xff", 2), true, /*pad=*/false), "-_8");  // nkey signatures
}

TEST(Base64, DecodesEitherAlphabetPaddedOrNot) {
  EXPECT_EQ(Decode(""), "");
  EXPECT_EQ(Decode("aGVsbG8="), "hello");
  EXPECT_EQ(Decode("aGVsbG8"), "hello");
  EXPECT_EQ(Decode("-_8"), std::string("\xfb\xff", 2));
  EXPECT_EQ(Decode("+/8="), std::string("\xfb\xff", 2));
  EXPECT_EQ(Decode("-_8="), std::string("\xfb\xff", 2));
  std::string all;
  for (int i = 0; i < 256; i++) all += char(i);
  for (size_t n = 0; n <= all.size(); n += 37)
    for (bool url : {false, true})
      for (bool pad : {false, true}) EXPECT_EQ(Decode(Encode(all.substr(0, n), url, pad)), all.substr(0, n));
}

TEST(Base64, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(Decode("a b"));
  EXPECT_FALSE(Decode(" aGVsbG8="));   // no white space, even where OpenSSL skips it
  EXPECT_FALSE(Decode("aGVsbG8=\n"));
  EXPECT_FALSE(Decode("a"));           // not whole bytes
  EXPECT_FALSE(Decode("aGVsbG8=="));   // more padding than it needs
  EXPECT_FALSE(Decode("a=GV"));        // padding inside
  EXPECT_FALSE(Decode("+_8"));         // the two alphabets mixed
  EXPECT_FALSE(Decode("aGVs!G8="));
}

}  // namespace
}  // namespace fjord::base64
