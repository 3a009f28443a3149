#include "jwt/jwt.h"

#include <gtest/gtest.h>

#include "nkeys/nkeys.h"

namespace fjord::jwt {
namespace {

// Made by the official @nats-io/jwt 0.0.11 (fmtCreds of an encodeUser
// token): a user of account ABX5G… allowed to publish a.> and denied
// subscribing to "secret".
constexpr const char* kCreds = R"(-----BEGIN NATS USER JWT-----
eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJleHAiOjE3OTYzNTcxMjUsImF1ZCI6Ik5BVFMiLCJuYW1lIjoiYWxpY2UiLCJzdWIiOiJVRFNIT0hXNDZEN0NONEM0M1c3WDdGMjJFTzNRUU9ESFdHSzYzRzJGU1lVNTdWUjY3WEtPWDVNMyIsIm5hdHMiOnsiZGF0YSI6LTEsInBheWxvYWQiOi0xLCJzdWJzIjotMSwicHViIjp7ImFsbG93IjpbImEuPiJdfSwic3ViIjp7ImRlbnkiOlsic2VjcmV0Il19LCJ0eXBlIjoidXNlciIsInZlcnNpb24iOjJ9LCJpc3MiOiJBQlg1R0paNkRJTVc0MlpLUjczREZZQ1NRRFNYTzQzTEpCRTMzNEFFSjRRUjVNU0VBRE1NQjdCQiIsImlhdCI6MTc5NjM1MzUyNSwianRpIjoiSW15Y05LSnY3bHFwVFpRQkxxaXM0UllhMnpSeFRxQVZJS3Rvb3dleEx3T1pWbjROZUpRSHBzT1dtd1dyMXF3OENCaFBodjhWaVdlb1FJd0xpVmtaL3c9PSJ9.jEyXtrPRJwcoRDpDtVjzKoVPw43-9yHgvbdlVjavsuiNTH1C3lDSbpajVPyMSJoQMZSXUyGl1Z7OZ7i5ZrlHAw
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
SUAOTYG6CE3JH22LZHNOGRU4P4ILIP4AFARE4ISI3XTU2GJJ2AVBXTMW6I
------END USER NKEY SEED------
)";

TEST(Jwt, DecodesATokenOfTheOfficialLibrary) {
  auto creds = ParseCreds(kCreds);
  ASSERT_TRUE(creds);
  auto r = Decode(creds->jwt);
  ASSERT_TRUE(std::holds_alternative<Claims>(r)) << std::get<std::string>(r);
  const Claims& c = std::get<Claims>(r);
  EXPECT_EQ(c.issuer, "ABX5GJZ6DIMW42ZKR73DFYCSQDSXO43LJBE334AEJ4QR5MSEADMMB7BB");
  EXPECT_EQ(c.subject, "UDSHOHW46D7CN4C43W7X7F22EO3QQODHWGK63G2FSYU57VR67XKOX5M3");
  EXPECT_EQ(c.name, "alice");
  EXPECT_EQ(c.type, "user");
  EXPECT_EQ(c.expires, 1796357125);
  EXPECT_EQ(c.nats["pub"]["allow"][0], "a.>");
  EXPECT_TRUE(Expired(c, 1796357125));
  EXPECT_FALSE(Expired(c, 1796357124));
  // The seed is the subject's.
  auto seed = nkeys::DecodeSeed(creds->seed);
  ASSERT_TRUE(seed);
  EXPECT_EQ(nkeys::EncodePublic(seed->public_key, nkeys::Role::kUser), c.subject);
}

TEST(Jwt, RefusesTamperingAndMalformedTokens) {
  std::string token = ParseCreds(kCreds)->jwt;
  size_t a = token.find('.'), b = token.rfind('.');
  // Another payload under the same signature.
  std::string other = token.substr(0, a + 1) + "eyJpc3MiOiJBQlg1R0paNkRJTVc0MlpLUjczREZZQ1NRRFNYTzQzTEpCRTMzNEFFSjRRUjVNU0VBRE1NQjdCQiJ9" + token.substr(b);
  EXPECT_EQ(std::get<std::string>(Decode(other)), "invalid JWT signature");
  std::string flipped = token;
  flipped[b + 5] = flipped[b + 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(std::get<std::string>(Decode(flipped)), "invalid JWT signature");
  EXPECT_EQ(std::get<std::string>(Decode("a.b")), "malformed JWT");
  EXPECT_EQ(std::get<std::string>(Decode("a.b.c.d")), "malformed JWT");
  EXPECT_EQ(std::get<std::string>(Decode("!!.??.xx")), "malformed JWT");
  // {"typ":"JWT","alg":"ed25519"}: the v1 algorithm.
  std::string v1 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5In0" + token.substr(a);
  EXPECT_EQ(std::get<std::string>(Decode(v1)), "unsupported JWT algorithm \"ed25519\"");
  EXPECT_FALSE(ParseCreds("just text"));
}

}  // namespace
}  // namespace fjord::jwt
