#pragma once
// The route-protocol parser: what one server of a NATS cluster says to
// another over a route connection (nats-server's route protocol as 2.9
// speaks it, plus the leaf-origin forms LS+/LS-/LMSG that servers send to a
// peer which announced `lnoc`).
//
//   INFO {json}                    CONNECT {json}
//   PING  PONG  +OK  -ERR 'text'
//   RS+ <account> <subject> [<queue> <weight>]
//   RS- <account> <subject> [<queue>]
//   LS+ <origin> <account> <subject> [<queue> <weight>]
//   LS- <origin> <account> <subject> [<queue>]      (origin optional: 2.9
//        sends none, so 2 or 3 fields are <account> <subject> [<queue>])
//   RMSG <account> <subject> [<reply>] <size>
//   RMSG <account> <subject> (+ <reply> | '|') <queue>... <size>
//   HMSG <account> <subject> [<reply>] <hdr size> <size>
//   HMSG <account> <subject> (+ <reply> | '|') <queue>... <hdr size> <size>
//   LMSG <origin> <account> <subject> ... <hdr size> <size>  (as HMSG)
//
// Same contract as parser.h: one contiguous buffer, no copies; every view
// points into it and is valid until the caller discards the consumed bytes.
// Limits are checked on the control line, before the payload arrives.
// Operation names are case-insensitive, as in nats-server.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proto/parser.h"

namespace fjord::proto {

enum class RouteOp {
  kNone,
  kInfo,
  kConnect,
  kPing,
  kPong,
  kOk,
  kErr,
  kSub,    // RS+ or LS+
  kUnsub,  // RS- or LS-
  kMsg,    // RMSG, HMSG or LMSG
};

struct RouteCommand {
  RouteOp op = RouteOp::kNone;
  std::string_view origin;   // LS+/LS-/LMSG: the origin cluster; empty otherwise
  std::string_view account;  // kSub, kUnsub, kMsg
  std::string_view subject;  // kSub, kUnsub, kMsg
  std::string_view queue;    // kSub/kUnsub: the queue group; empty if none
  int32_t weight = 0;        // kSub with a queue: the group's member count there
  std::string_view reply;    // kMsg; empty when absent
  // kMsg: the queue groups the receiver should deliver to, as sent: names
  // separated by blanks ("q1 q2"); empty if none. Use ForEachQueue.
  std::string_view queues;
  std::string_view json;     // kInfo, kConnect
  std::string_view err;      // kErr: the text, without the quotes
  std::string_view payload;  // kMsg: header block followed by body
  uint32_t hdr_len = 0;      // kMsg: length of the header block inside payload
  bool has_headers = false;  // HMSG or LMSG (hdr_len may still be 0)
};

// Parses one command from [data, data+size). On kOk, *consumed is the
// number of bytes the command used. Statuses as in parser.h: kUnknownOp,
// kControlLine and kMaxPayload, or kBadArgs for malformed arguments
// (wrong count, a size that is not a number, hdr size > size, a weight that
// is not a positive number, a missing '+'/'|' indicator before queues).
Status NextRoute(const char* data, size_t size, const Limits& limits, RouteCommand* cmd,
                 size_t* consumed);

// The leaf-node protocol (nats-server's leafnode.go): the same commands
// without the account, which the connection itself is bound to.
//
//   LS+ <subject> [<queue> <weight>]      LS- <subject> [<queue>]
//   LMSG <subject> [<reply>] <size>
//   LMSG <subject> (+ <reply> | '|') <queue>... <size>
//   HMSG <subject> ... <hdr size> <size>   (as LMSG, with headers)
//   INFO, CONNECT, PING, PONG, +OK, -ERR as above.
//
// RouteCommand::account is always empty. Statuses as NextRoute.
Status NextLeaf(const char* data, size_t size, const Limits& limits, RouteCommand* cmd, size_t* consumed);

// Calls fn(name) for every queue name in RouteCommand::queues (names are
// separated by spaces or tabs, as on the wire).
template <typename Fn>
void ForEachQueue(std::string_view queues, Fn&& fn) {
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  size_t i = 0;
  while (i < queues.size()) {
    while (i < queues.size() && blank(queues[i])) ++i;
    size_t j = i;
    while (j < queues.size() && !blank(queues[j])) ++j;
    if (j > i) fn(queues.substr(i, j - i));
    i = j;
  }
}

}  // namespace fjord::proto
