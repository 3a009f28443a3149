// The nkey decoders take what clients and config files send: they must
// reject garbage without crashing, and whatever they accept must encode
// back to the same text.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nkeys/nkeys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  using namespace fjord::nkeys;
  if (auto raw = Base32Decode(in)) {
    if (Base32Encode(*raw) != in) std::abort();
  }
  for (Role r : {Role::kUser, Role::kAccount, Role::kOperator, Role::kServer, Role::kCluster}) {
    if (auto k = DecodePublic(in, r)) {
      if (EncodePublic(*k, r) != in) std::abort();
    }
  }
  if (auto s = DecodeSeed(in)) {
    if (!DecodePublic(EncodePublic(s->public_key, s->role), s->role)) std::abort();
  }
  (void)DecodeSignature(in);
  (void)Crc16(in);
  return 0;
}
