// Feeds arbitrary bytes to the route-protocol and leaf-protocol parsers the
// way a route or leaf connection does: command after command from one
// buffer, and again split at every point the input suggests, checking that a
// split never changes the result.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "proto/route_parser.h"

namespace {

struct Outcome {
  std::vector<std::string> cmds;  // a digest of each parsed command
  fjord::proto::Status last = fjord::proto::Status::kIncomplete;
};

std::string Digest(const fjord::proto::RouteCommand& c) {
  std::string d = std::to_string(int(c.op));
  for (auto v : {c.origin, c.account, c.subject, c.queue, c.reply, c.queues, c.json, c.err,
                 c.payload}) {
    d += '|';
    d.append(v);
  }
  d += '|' + std::to_string(c.weight) + '|' + std::to_string(c.hdr_len) + '|' +
       std::to_string(c.has_headers);
  fjord::proto::ForEachQueue(c.queues, [&](std::string_view q) {
    d += '|';
    d.append(q);
  });
  return d;
}

// Parses `in` delivered in pieces of `chunk` bytes (0 = all at once), as a
// leaf connection (`leaf`) or a route.
Outcome Run(const std::string& in, size_t chunk, bool leaf) {
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
      fjord::proto::RouteCommand cmd;
      size_t used = 0;
      auto st = leaf ? fjord::proto::NextLeaf(buf.data() + start, buf.size() - start, lim, &cmd, &used)
                     : fjord::proto::NextRoute(buf.data() + start, buf.size() - start, lim, &cmd, &used);
      out.last = st;
      if (st == fjord::proto::Status::kIncomplete) break;
      if (st != fjord::proto::Status::kOk) return out;
      if (used == 0 || used > buf.size() - start) std::abort();
      // Views must point inside the buffer.
      for (auto v : {cmd.origin, cmd.account, cmd.subject, cmd.queue, cmd.reply, cmd.queues,
                     cmd.json, cmd.err, cmd.payload})
        if (!v.empty() && (v.data() < buf.data() || v.data() + v.size() > buf.data() + buf.size()))
          std::abort();
      if (cmd.hdr_len > cmd.payload.size()) std::abort();
      if (!cmd.queue.empty() && cmd.weight < 0) std::abort();
      if (leaf && !cmd.account.empty()) std::abort();  // the leaf protocol names no account
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
  size_t chunk = 1 + data[0] % 17;
  for (bool leaf : {false, true}) {
    Outcome whole = Run(in, 0, leaf);
    Outcome split = Run(in, chunk, leaf);
    // A connection must parse the same commands however the bytes arrive.
    if (whole.cmds != split.cmds) std::abort();
  }
  return 0;
}
