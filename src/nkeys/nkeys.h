#pragma once
// NATS nkeys: Ed25519 keys in the text form the official nkeys libraries
// use. A key is a prefix byte (its role), the 32 raw key bytes and a CRC-16
// (XMODEM, little-endian), in RFC 4648 base32 without padding:
//   U… user   A… account   O… operator   N… server   C… cluster
//   S… seed: two prefix bytes (seed, then the role of its public key)
// The curve is OpenSSL's; only the encoding is written here. The caller
// links OpenSSL's libcrypto (the server its own, the CLI the one libnats
// loads), so this library names no OpenSSL target itself.
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace fjord::nkeys {

enum class Role : char { kUser = 'U', kAccount = 'A', kOperator = 'O', kServer = 'N', kCluster = 'C' };

using PublicKey = std::array<unsigned char, 32>;

// RFC 4648 base32 (no padding) and the CRC-16 nkeys checksums with.
std::string Base32Encode(std::string_view raw);
std::optional<std::string> Base32Decode(std::string_view text);
uint16_t Crc16(std::string_view data);

// Decodes a public key of `role` ("U…" for a user); nullopt if the text is
// not one (wrong length, alphabet, prefix or checksum).
std::optional<PublicKey> DecodePublic(std::string_view text, Role role);
std::string EncodePublic(const PublicKey& key, Role role);

// A seed ("SU…" for a user) and the public key it derives; nullopt if
// malformed. The public key's role is the seed's.
struct Seed {
  Role role;
  std::array<unsigned char, 32> seed;
  PublicKey public_key;
};
std::optional<Seed> DecodeSeed(std::string_view text);

// True if `sig` (64 bytes) is `key`'s Ed25519 signature of `message`.
bool Verify(const PublicKey& key, std::string_view message, std::string_view sig);

// Ed25519 signature of `message` by `seed` (64 bytes); for tests and tools.
std::string Sign(const Seed& seed, std::string_view message);

}  // namespace fjord::nkeys
