// The nkey decoders take what clients and config files send: they must
// reject garbage without crashing, and whatever they accept must encode
// back to the same text. The same input as a base64 signature (CONNECT
// `sig`): what decodes must survive every encoding's round trip.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/base64.h"
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
  if (auto raw = fjord::base64::Decode(in)) {
    for (bool url : {false, true})
      for (bool pad : {false, true})
        if (fjord::base64::Decode(fjord::base64::Encode(*raw, url, pad)) != *raw) std::abort();
  }
  (void)Crc16(in);
  return 0;
}
