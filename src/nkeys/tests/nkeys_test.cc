// Vectors made by the official @nats-io/nkeys 2.0.3 (createUser(),
// getSeed(), getPublicKey(), sign()): the encoding and the signatures must
// agree with it byte for byte.
#include "nkeys/nkeys.h"

#include <gtest/gtest.h>

#include "base/base64.h"

namespace fjord::nkeys {
namespace {

constexpr char kSeed[] = "SUAHLMDKGKUYNYEGJF5Y4OWQDYTFH7EM2B6VHJMTMK6Q6GD355BTAHTASA";
constexpr char kUser[] = "UBQ2AKVVBV67I7PWVP6EVICNCM5XUV733SOCLFOTUTVNLIJM6FEBIDCG";
constexpr char kAccount[] = "ACGXH3W544BW6YBTVAW264PGAAPYYGTY2PEDEDQUCKVCDCORQ34UXJWD";
constexpr char kNonce[] = "OcQ1ZyLa9xvjHJF";
constexpr char kSig[] = "_80E4tXoA-jLAHFnrjNovvdSMLiwL9LM3uEA7pMKyZWq5hdfl0Rnkf2hNkebt5thtjSeVK0UZPEJ_ln6M81nCA";

TEST(Nkeys, Base32RoundTripsAndRejectsJunk) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto back = Base32Decode(Base32Encode(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base32Encode("foobar"), "MZXW6YTBOI");  // RFC 4648, padding dropped
  EXPECT_FALSE(Base32Decode("MZXW6YTBO1"));         // '1' is not in the alphabet
  EXPECT_FALSE(Base32Decode("mzxw6ytboi"));         // lower case is not nkeys' alphabet
}

TEST(Nkeys, Crc16IsXmodem) { EXPECT_EQ(Crc16("123456789"), 0x31C3); }

TEST(Nkeys, DecodesTheOfficialLibrarysKeys) {
  auto user = DecodePublic(kUser, Role::kUser);
  ASSERT_TRUE(user);
  EXPECT_EQ(EncodePublic(*user, Role::kUser), kUser);
  EXPECT_FALSE(DecodePublic(kUser, Role::kAccount));  // wrong role
  auto account = DecodePublic(kAccount, Role::kAccount);
  ASSERT_TRUE(account);
  EXPECT_EQ(EncodePublic(*account, Role::kAccount), kAccount);
  auto seed = DecodeSeed(kSeed);
  ASSERT_TRUE(seed);
  EXPECT_EQ(seed->role, Role::kUser);
  EXPECT_EQ(seed->public_key, *user);
}

TEST(Nkeys, RejectsBadChecksumsLengthsAndPrefixes) {
  std::string bad = kUser;
  bad[10] = bad[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(DecodePublic(bad, Role::kUser));
  EXPECT_FALSE(DecodePublic(std::string(kUser).substr(0, 55), Role::kUser));
  EXPECT_FALSE(DecodePublic(std::string(kUser) + "A", Role::kUser));
  EXPECT_FALSE(DecodePublic(kSeed, Role::kUser));
  EXPECT_FALSE(DecodeSeed(kUser));
  std::string bad_seed = kSeed;
  bad_seed[20] = bad_seed[20] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(DecodeSeed(bad_seed));
}

TEST(Nkeys, VerifiesTheOfficialLibrarysSignature) {
  auto user = DecodePublic(kUser, Role::kUser);
  ASSERT_TRUE(user);
  auto sig = base64::Decode(kSig);
  ASSERT_TRUE(sig);
  ASSERT_EQ(sig->size(), 64u);
  EXPECT_TRUE(Verify(*user, kNonce, *sig));
  EXPECT_FALSE(Verify(*user, "another nonce", *sig));
  std::string flipped = *sig;
  flipped[0] ^= 1;
  EXPECT_FALSE(Verify(*user, kNonce, flipped));
  EXPECT_FALSE(Verify(*user, kNonce, sig->substr(0, 63)));
  // Ed25519 is deterministic: our signature is the library's.
  auto seed = DecodeSeed(kSeed);
  ASSERT_TRUE(seed);
  EXPECT_EQ(Sign(*seed, kNonce), *sig);
}

}  // namespace
}  // namespace fjord::nkeys
