#include "proto/parser.h"

#include "proto/parse_util.h"

namespace fjord::proto {

using detail::OpIs;
using detail::ParseSize;
using detail::Split;

Status Next(const char* data, size_t size, const Limits& limits, Command* cmd, size_t* consumed) {
  // No valid op is longer than CONNECT, so a longer one is rejected without
  // waiting for the line end.
  constexpr size_t kMaxOp = 7;
  detail::ControlLine line;
  Status st = detail::ReadControlLine(data, size, kMaxOp, limits, &line);
  if (st != Status::kOk) return st;
  std::string_view op = line.op;
  std::string_view args = line.args;

  *cmd = Command{};
  const size_t line_total = line.total;

  if (op.size() == 3 && OpIs(op, "PUB")) {
    std::string_view f[3];
    int n = Split(args, f, 3);
    if (n < 2 || n > 3) return Status::kBadArgs;
    int64_t len = ParseSize(f[n - 1]);
    if (len < 0) return Status::kBadArgs;
    if (len > limits.max_payload) return Status::kMaxPayload;
    cmd->op = Op::kPub;
    cmd->subject = f[0];
    if (n == 3) cmd->reply = f[1];
    return detail::TakePayload(data, size, line_total, size_t(len), Status::kUnknownOp, &cmd->payload,
                               consumed);
  }
  if (op.size() == 4 && OpIs(op, "HPUB")) {
    std::string_view f[4];
    int n = Split(args, f, 4);
    if (n < 3 || n > 4) return Status::kBadArgs;
    int64_t hlen = ParseSize(f[n - 2]);
    int64_t len = ParseSize(f[n - 1]);
    if (hlen < 0 || len < 0 || hlen > len) return Status::kBadArgs;
    if (len > limits.max_payload) return Status::kMaxPayload;
    cmd->op = Op::kHPub;
    cmd->subject = f[0];
    if (n == 4) cmd->reply = f[1];
    cmd->hdr_len = uint32_t(hlen);
    return detail::TakePayload(data, size, line_total, size_t(len), Status::kUnknownOp, &cmd->payload,
                               consumed);
  }
  *consumed = line_total;
  if (op.size() == 3 && OpIs(op, "SUB")) {
    std::string_view f[3];
    int n = Split(args, f, 3);
    if (n < 2 || n > 3) return Status::kBadArgs;
    cmd->op = Op::kSub;
    cmd->subject = f[0];
    if (n == 3) cmd->queue = f[1];
    cmd->sid = f[n - 1];
    return Status::kOk;
  }
  if (op.size() == 5 && OpIs(op, "UNSUB")) {
    std::string_view f[2];
    int n = Split(args, f, 2);
    if (n == 0) return Status::kUnknownOp;
    if (n > 2) return Status::kBadArgs;
    cmd->op = Op::kUnsub;
    cmd->sid = f[0];
    if (n == 2) {
      int64_t m = ParseSize(f[1]);
      if (m < 0) return Status::kBadArgs;
      cmd->max_msgs = m;
    }
    return Status::kOk;
  }
  if (op.size() == 4 && OpIs(op, "PING")) {
    cmd->op = Op::kPing;
    return Status::kOk;
  }
  if (op.size() == 4 && OpIs(op, "PONG")) {
    cmd->op = Op::kPong;
    return Status::kOk;
  }
  if (op.size() == 7 && OpIs(op, "CONNECT")) {
    cmd->op = Op::kConnect;
    cmd->json = args;
    return Status::kOk;
  }
  if (op.size() == 4 && OpIs(op, "INFO")) {
    cmd->op = Op::kInfo;
    cmd->json = args;
    return Status::kOk;
  }
  if (op.size() == 3 && OpIs(op, "+OK")) {
    cmd->op = Op::kOk;
    return Status::kOk;
  }
  if (op.size() == 4 && OpIs(op, "-ERR")) {
    cmd->op = Op::kErr;
    return Status::kOk;
  }
  return Status::kUnknownOp;
}

bool ValidSubject(std::string_view s, bool allow_wildcards) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view tok = s.substr(start, dot == std::string_view::npos ? s.size() - start : dot - start);
    if (tok.empty()) return false;
    for (char c : tok)
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f') return false;
    if (tok.size() == 1 && (tok[0] == '*' || tok[0] == '>')) {
      if (!allow_wildcards) return false;
      if (tok[0] == '>' && dot != std::string_view::npos) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool ValidSubscribeSubject(std::string_view s) { return ValidSubject(s, true); }
bool ValidLiteralSubject(std::string_view s) { return ValidSubject(s, false); }

bool SubjectHasWildcard(std::string_view s) {
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    size_t end = dot == std::string_view::npos ? s.size() : dot;
    if (end - start == 1 && (s[start] == '*' || s[start] == '>')) return true;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return false;
}

}  // namespace fjord::proto

namespace fjord::proto {
namespace {
// Tokenizes lazily: returns the next token of s at *pos, advancing past the dot.
inline std::string_view NextToken(std::string_view s, size_t* pos, bool* done) {
  size_t dot = s.find('.', *pos);
  std::string_view tok;
  if (dot == std::string_view::npos) {
    tok = s.substr(*pos);
    *done = true;
  } else {
    tok = s.substr(*pos, dot - *pos);
    *pos = dot + 1;
  }
  return tok;
}
}  // namespace

bool SubjectMatches(std::string_view subject, std::string_view filter) {
  if (filter.empty()) return true;
  size_t sp = 0, fp = 0;
  bool sdone = false, fdone = false;
  while (true) {
    if (fdone) return sdone;
    std::string_view ft = NextToken(filter, &fp, &fdone);
    if (sdone) return false;
    if (ft == ">") return true;
    std::string_view st = NextToken(subject, &sp, &sdone);
    if (ft != "*" && ft != st) return false;
  }
}

bool SubjectsOverlap(std::string_view a, std::string_view b) {
  size_t ap = 0, bp = 0;
  bool adone = false, bdone = false;
  while (true) {
    if (adone || bdone) return adone && bdone;
    std::string_view at = NextToken(a, &ap, &adone);
    std::string_view bt = NextToken(b, &bp, &bdone);
    if (at == ">" || bt == ">") return true;
    if (at != "*" && bt != "*" && at != bt) return false;
  }
}

bool SubjectIsSubsetOf(std::string_view sub, std::string_view super) {
  size_t ap = 0, bp = 0;
  bool adone = false, bdone = false;
  while (true) {
    if (adone || bdone) return adone && bdone;
    std::string_view at = NextToken(sub, &ap, &adone);
    std::string_view bt = NextToken(super, &bp, &bdone);
    if (bt == ">") return true;
    if (at == ">") return false;
    if (bt == "*") continue;
    if (at == "*" || at != bt) return false;
  }
}
}  // namespace fjord::proto
