// Feeds arbitrary bytes to the client-protocol parser the way a connection
// does: command after command from one buffer, and again split at every
// point the input suggests, checking that a split never changes the result.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "proto/parser.h"

namespace {

struct Outcome {
  std::vector<std::string> cmds;  // a digest of each parsed command
  fjord::proto::Status last = fjord::proto::Status::kIncomplete;
};

std::string Digest(const fjord::proto::Command& c) {
  std::string d = std::to_string(int(c.op));
  for (auto v : {c.subject, c.reply, c.queue, c.sid, c.json, c.payload}) {
    d += '|';
    d.append(v);
  }
  d += '|' + std::to_string(c.hdr_len) + '|' + std::to_string(c.max_msgs);
  return d;
}

// Parses `in` delivered in pieces of `chunk` bytes (0 = all at once).
Outcome Run(const std::string& in, size_t chunk) {
  fjord::proto::Limits lim;
  lim.max_payload = 4096;
  lim.max_control_line = 256;
  Outcome out;
  std::string buf;
  size_t fed = 0;
  while (true) {
    if (chunk == 0) {
      buf.append(in, fed);
      fed = in.size();
    } else if (fed < in.size()) {
      size_t n = std::min(chunk, in.size() - fed);
      buf.append(in, fed, n);
      fed += n;
    }
    size_t start = 0;
    while (start < buf.size()) {
      fjord::proto::Command cmd;
      size_t used = 0;
      auto st = fjord::proto::Next(buf.data() + start, buf.size() - start, lim, &cmd, &used);
      out.last = st;
      if (st == fjord::proto::Status::kIncomplete) break;
      if (st != fjord::proto::Status::kOk) return out;
      if (used == 0 || used > buf.size() - start) std::abort();
      // Views must point inside the buffer.
      for (auto v : {cmd.subject, cmd.reply, cmd.queue, cmd.sid, cmd.json, cmd.payload})
        if (!v.empty() && (v.data() < buf.data() || v.data() + v.size() > buf.data() + buf.size()))
          std::abort();
      if (cmd.hdr_len > cmd.payload.size()) std::abort();
      out.cmds.push_back(Digest(cmd));
      start += used;
    }
    buf.erase(0, start);
    if (fed >= in.size()) return out;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string in(reinterpret_cast<const char*>(data), size);
  Outcome whole = Run(in, 0);
  size_t chunk = 1 + data[0] % 17;
  Outcome split = Run(in, chunk);
  // A connection must parse the same commands however the bytes arrive.
  if (whole.cmds != split.cmds) std::abort();
  return 0;
}
