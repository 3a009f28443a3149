// Feeds arbitrary bytes to the WebSocket side of a connection: first as an
// upgrade request, then as frames (with and without permessage-deflate and
// masking), all at once and again split where the input says, checking that
// a split never changes what the protocol parser would get and that what
// the server writes back parses as frames.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "websocket/frame.h"
#include "websocket/handshake.h"

namespace {

using fjord::websocket::Session;
using fjord::websocket::SessionOptions;

struct Outcome {
  std::string data;
  Session::Status status = Session::Status::kOk;
  std::string out;
};

Outcome Run(const SessionOptions& o, const std::string& input, size_t split) {
  Session s(o);
  Outcome r;
  auto sink = [&](std::string_view d) { r.data.append(d); };
  std::string a = input.substr(0, split), b = input.substr(split);
  r.status = s.Read(a.data(), a.size(), sink);
  if (r.status == Session::Status::kOk) r.status = s.Read(b.data(), b.size(), sink);
  s.Write(r.data.substr(0, 1000), &r.out);
  return r;
}

// Server frames are unmasked, well formed, and end exactly at the end.
void CheckFrames(const std::string& out) {
  size_t pos = 0;
  while (pos < out.size()) {
    if (out.size() - pos < 2) std::abort();
    auto b1 = static_cast<unsigned char>(out[pos + 1]);
    if (b1 & 0x80) std::abort();
    uint64_t len = b1 & 0x7f;
    size_t hdr = 2;
    if (len == 126) {
      len = (uint64_t(static_cast<unsigned char>(out[pos + 2])) << 8) | static_cast<unsigned char>(out[pos + 3]);
      hdr = 4;
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(out[pos + 2 + i]);
      hdr = 10;
    }
    pos += hdr + len;
  }
  if (pos != out.size()) std::abort();
}

}  // namespace

// The first byte picks options, the second a split point; the rest is what
// the peer sends.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string input(reinterpret_cast<const char*>(data) + 2, size - 2);
  fjord::websocket::HandshakeOptions ho;
  ho.compression = data[0] & 1;
  ho.same_origin = data[0] & 2;
  ho.jwt_cookie = "jwt";
  auto h = fjord::websocket::ProcessRequest(input, ho);
  if (h.state != fjord::websocket::HandshakeResult::State::kIncomplete &&
      (h.used > input.size() || h.response.empty())) {
    std::abort();
  }

  SessionOptions o;
  o.compress = data[0] & 4;
  o.require_mask = !(data[0] & 8);
  o.max_frame = (data[0] & 16) ? 7 : 0;
  o.max_payload = 4096;
  size_t split = data[1] % (input.size() + 1);
  Outcome whole = Run(o, input, input.size());
  Outcome parts = Run(o, input, split);
  if (whole.status != parts.status || whole.data != parts.data || whole.out != parts.out) std::abort();
  CheckFrames(whole.out);
  return 0;
}
