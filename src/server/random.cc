#include "server/random.h"

#include <openssl/rand.h>

namespace fjord::server {

std::string RandomToken(size_t n) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string raw(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), int(n));
  for (auto& c : raw) c = kAlphabet[static_cast<unsigned char>(c) % 62];
  return raw;
}

}  // namespace fjord::server
