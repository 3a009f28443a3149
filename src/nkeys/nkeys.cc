#include "nkeys/nkeys.h"

#include <openssl/evp.h>

#include <memory>

namespace fjord::nkeys {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// Prefix bytes: the role letter's base32 value in the top five bits, so the
// encoded text starts with that letter.
constexpr unsigned char kSeedPrefix = 18 << 3;  // 'S'

unsigned char PrefixByte(Role r) {
  switch (r) {
    case Role::kUser: return 20 << 3;
    case Role::kAccount: return 0;
    case Role::kOperator: return 14 << 3;
    case Role::kServer: return 13 << 3;
    case Role::kCluster: return 2 << 3;
  }
  return 0xff;
}

std::optional<Role> RoleOfPrefix(unsigned char b) {
  for (Role r : {Role::kUser, Role::kAccount, Role::kOperator, Role::kServer, Role::kCluster})
    if (PrefixByte(r) == b) return r;
  return std::nullopt;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// Payload plus checksum: `raw` is everything before the two CRC bytes.
std::optional<std::string> Unwrap(std::string_view text) {
  auto raw = Base32Decode(text);
  if (!raw || raw->size() < 3) return std::nullopt;
  std::string_view body(raw->data(), raw->size() - 2);
  uint16_t want = uint16_t(static_cast<unsigned char>((*raw)[raw->size() - 2])) |
                  uint16_t(static_cast<unsigned char>((*raw)[raw->size() - 1])) << 8;
  if (Crc16(body) != want) return std::nullopt;
  return std::string(body);
}

std::string Wrap(std::string body) {
  uint16_t crc = Crc16(body);
  body.push_back(char(crc & 0xff));
  body.push_back(char(crc >> 8));
  return Base32Encode(body);
}

}  // namespace

std::string Base32Encode(std::string_view raw) {
  std::string out;
  out.reserve((raw.size() * 8 + 4) / 5);
  uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buf >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buf << (5 - bits)) & 31]);
  return out;
}

std::optional<std::string> Base32Decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 5 / 8);
  uint32_t buf = 0;
  int bits = 0;
  for (char ch : text) {
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= '2' && ch <= '7') {
      v = ch - '2' + 26;
    } else {
      return std::nullopt;
    }
    buf = (buf << 5) | uint32_t(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(char((buf >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  // Leftover bits are the padding of the last character: they must be 0.
  if (bits >= 5 || (buf & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

uint16_t Crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc ^= uint16_t(c) << 8;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? uint16_t((crc << 1) ^ 0x1021) : uint16_t(crc << 1);
  }
  return crc;
}

std::optional<PublicKey> DecodePublic(std::string_view text, Role role) {
  if (text.size() != 56) return std::nullopt;
  auto body = Unwrap(text);
  if (!body || body->size() != 33 || static_cast<unsigned char>((*body)[0]) != PrefixByte(role)) return std::nullopt;
  PublicKey k;
  std::copy(body->begin() + 1, body->end(), k.begin());
  return k;
}

std::string EncodePublic(const PublicKey& key, Role role) {
  std::string body(1, char(PrefixByte(role)));
  body.append(reinterpret_cast<const char*>(key.data()), key.size());
  return Wrap(std::move(body));
}

std::optional<Seed> DecodeSeed(std::string_view text) {
  if (text.size() != 58) return std::nullopt;
  auto body = Unwrap(text);
  if (!body || body->size() != 34) return std::nullopt;
  // The two prefix bytes share bits: five of the seed marker, then five of
  // the role, then the key.
  unsigned char b0 = static_cast<unsigned char>((*body)[0]), b1 = static_cast<unsigned char>((*body)[1]);
  if ((b0 & 0xf8) != kSeedPrefix) return std::nullopt;
  auto role = RoleOfPrefix(static_cast<unsigned char>(((b0 & 7) << 5) | ((b1 & 0xf8) >> 3)));
  if (!role) return std::nullopt;
  Seed s{*role, {}, {}};
  std::copy(body->begin() + 2, body->end(), s.seed.begin());
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, s.seed.data(), s.seed.size()));
  size_t len = s.public_key.size();
  if (!pkey || EVP_PKEY_get_raw_public_key(pkey.get(), s.public_key.data(), &len) != 1 || len != 32)
    return std::nullopt;
  return s;
}

bool Verify(const PublicKey& key, std::string_view message, std::string_view sig) {
  if (sig.size() != 64) return false;
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

std::string Sign(const Seed& seed, std::string_view message) {
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.seed.data(), seed.seed.size()));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (!pkey || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return {};
  }
  sig.resize(len);
  return sig;
}

}  // namespace fjord::nkeys
