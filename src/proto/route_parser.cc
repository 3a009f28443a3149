#include "proto/route_parser.h"

#include <cstdint>

#include "proto/parse_util.h"

namespace fjord::proto {
namespace {

using detail::CountFields;
using detail::OpIs;
using detail::ParseSize;
using detail::Split;
using detail::TakeField;
using detail::TakeLastField;
using detail::Trim;

// A queue weight: a positive int32, or -1.
int32_t ParseWeight(std::string_view s) {
  int64_t v = ParseSize(s);
  if (v <= 0 || v > INT32_MAX) return -1;
  return int32_t(v);
}

// RS+ after the op, or a route's LS+ after the origin:
// <account> <subject> [<queue> <weight>]; a leaf's LS+ has no account.
Status ParseSub(const std::string_view* f, int n, RouteCommand* cmd, bool with_account = true) {
  const int base = with_account ? 2 : 1;
  if (n != base && n != base + 2) return Status::kBadArgs;
  if (n == base + 2) {
    int32_t w = ParseWeight(f[base + 1]);
    if (w < 0) return Status::kBadArgs;
    cmd->queue = f[base];
    cmd->weight = w;
  }
  cmd->op = RouteOp::kSub;
  if (with_account) cmd->account = f[0];
  cmd->subject = f[base - 1];
  return Status::kOk;
}

// RMSG, HMSG (with_headers) and LMSG (with_origin and with_headers):
//   [<origin>] <account> <subject> <middle> [<hdr size>] <size>
// where <middle> is nothing, a reply, "+ <reply> <queue>..." or "| <queue>...".
// The leading and trailing fields are taken from either end, so any number
// of queue names fits between them.
Status ParseMsg(const char* data, size_t size, const Limits& limits,
                const detail::ControlLine& line, bool with_origin, bool with_headers,
                RouteCommand* cmd, size_t* consumed, bool with_account = true) {
  std::string_view args = line.args;
  const size_t fixed = (with_origin ? 1 : 0) + (with_account ? 2 : 1) + (with_headers ? 2 : 1);
  const size_t n = CountFields(args);
  if (n < fixed) return Status::kBadArgs;
  size_t pos = 0;
  if (with_origin) cmd->origin = TakeField(args, &pos);
  if (with_account) cmd->account = TakeField(args, &pos);
  cmd->subject = TakeField(args, &pos);
  size_t end = args.size();
  int64_t len = ParseSize(TakeLastField(args, &end));
  int64_t hlen = with_headers ? ParseSize(TakeLastField(args, &end)) : 0;
  std::string_view middle = Trim(args.substr(pos, end - pos));
  if (n == fixed + 1) {
    cmd->reply = middle;
  } else if (n > fixed + 1) {
    size_t mpos = 0;
    std::string_view indicator = TakeField(middle, &mpos);
    if (indicator == "+")
      cmd->reply = TakeField(middle, &mpos);
    else if (indicator != "|")
      return Status::kBadArgs;
    cmd->queues = Trim(middle.substr(mpos));
  }
  if (len < 0 || hlen < 0 || hlen > len || hlen > int64_t(UINT32_MAX)) return Status::kBadArgs;
  if (len > limits.max_payload) return Status::kMaxPayload;
  cmd->op = RouteOp::kMsg;
  cmd->has_headers = with_headers;
  cmd->hdr_len = uint32_t(hlen);
  return detail::TakePayload(data, size, line.total, size_t(len), Status::kBadArgs, &cmd->payload,
                             consumed);
}

// The commands both protocols share, after the op: INFO, CONNECT, PING,
// PONG, +OK, -ERR. kUnknownOp for anything else.
Status ParseCommon(std::string_view op, std::string_view args, RouteCommand* cmd) {
  if (OpIs(op, "PING")) {
    cmd->op = RouteOp::kPing;
    return Status::kOk;
  }
  if (OpIs(op, "PONG")) {
    cmd->op = RouteOp::kPong;
    return Status::kOk;
  }
  if (OpIs(op, "INFO")) {
    cmd->op = RouteOp::kInfo;
    cmd->json = args;
    return Status::kOk;
  }
  if (OpIs(op, "CONNECT")) {
    cmd->op = RouteOp::kConnect;
    cmd->json = args;
    return Status::kOk;
  }
  if (OpIs(op, "+OK")) {
    cmd->op = RouteOp::kOk;
    return Status::kOk;
  }
  if (OpIs(op, "-ERR")) {
    std::string_view err = args;
    if (!err.empty() && err.front() == '\'') err.remove_prefix(1);
    if (!err.empty() && err.back() == '\'') err.remove_suffix(1);
    cmd->op = RouteOp::kErr;
    cmd->err = err;
    return Status::kOk;
  }
  return Status::kUnknownOp;
}

}  // namespace

Status NextLeaf(const char* data, size_t size, const Limits& limits, RouteCommand* cmd, size_t* consumed) {
  constexpr size_t kMaxOp = 7;
  detail::ControlLine line;
  Status st = detail::ReadControlLine(data, size, kMaxOp, limits, &line);
  if (st != Status::kOk) return st;
  const std::string_view op = line.op;
  const std::string_view args = line.args;

  *cmd = RouteCommand{};
  if (OpIs(op, "LMSG")) return ParseMsg(data, size, limits, line, false, false, cmd, consumed, false);
  if (OpIs(op, "HMSG")) return ParseMsg(data, size, limits, line, false, true, cmd, consumed, false);

  *consumed = line.total;
  if (OpIs(op, "LS+")) {
    std::string_view f[3];
    return ParseSub(f, Split(args, f, 3), cmd, /*with_account=*/false);
  }
  if (OpIs(op, "LS-")) {
    std::string_view f[2];
    int n = Split(args, f, 2);
    if (n < 1 || n > 2) return Status::kBadArgs;
    cmd->op = RouteOp::kUnsub;
    cmd->subject = f[0];
    if (n == 2) cmd->queue = f[1];
    return Status::kOk;
  }
  return ParseCommon(op, args, cmd);
}

Status NextRoute(const char* data, size_t size, const Limits& limits, RouteCommand* cmd,
                 size_t* consumed) {
  // No route op is longer than CONNECT, so a longer one is rejected without
  // waiting for the line end.
  constexpr size_t kMaxOp = 7;
  detail::ControlLine line;
  Status st = detail::ReadControlLine(data, size, kMaxOp, limits, &line);
  if (st != Status::kOk) return st;
  const std::string_view op = line.op;
  const std::string_view args = line.args;

  *cmd = RouteCommand{};

  if (OpIs(op, "RMSG")) return ParseMsg(data, size, limits, line, false, false, cmd, consumed);
  if (OpIs(op, "HMSG")) return ParseMsg(data, size, limits, line, false, true, cmd, consumed);
  if (OpIs(op, "LMSG")) return ParseMsg(data, size, limits, line, true, true, cmd, consumed);

  *consumed = line.total;
  if (OpIs(op, "RS+")) {
    std::string_view f[4];
    return ParseSub(f, Split(args, f, 4), cmd);
  }
  if (OpIs(op, "LS+")) {
    std::string_view f[5];
    int n = Split(args, f, 5);
    if (n != 3 && n != 5) return Status::kBadArgs;
    cmd->origin = f[0];
    return ParseSub(f + 1, n - 1, cmd);
  }
  if (OpIs(op, "RS-") || OpIs(op, "LS-")) {
    // nats-server 2.9 sends LS- without the origin, so two or three fields
    // are <account> <subject> [<queue>]; only four carry an origin.
    const bool leaf = OpIs(op, "LS-");
    std::string_view f[4];
    int n = Split(args, f, leaf ? 4 : 3);
    if (n < 2 || n > (leaf ? 4 : 3)) return Status::kBadArgs;
    const std::string_view* g = f;
    if (n == 4) {
      cmd->origin = f[0];
      ++g;
      --n;
    }
    cmd->op = RouteOp::kUnsub;
    cmd->account = g[0];
    cmd->subject = g[1];
    if (n == 3) cmd->queue = g[2];
    return Status::kOk;
  }
  return ParseCommon(op, args, cmd);
}

}  // namespace fjord::proto
