// Decodes arbitrary bytes as a JWT and as a creds file: nothing may crash,
// hang or read out of bounds (the signature check rejects what it must).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "jwt/jwt.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = fjord::jwt::Decode(text);
  (void)r;
  if (auto c = fjord::jwt::ParseCreds(text)) (void)fjord::jwt::Decode(c->jwt);
  return 0;
}
