#pragma once
// The client-protocol parser: turns bytes from a client into commands.
//
// It works on one contiguous buffer and never copies: every string_view in a
// Command points into that buffer and is valid until the caller discards the
// consumed bytes. When a command is not complete yet, Next() reports
// kIncomplete and the caller keeps the unconsumed tail and reads more.
// Limits (max control line, max payload) are checked as soon as the control
// line is known, before the payload arrives, so a client cannot make us buffer
// an oversize message.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fjord::proto {

enum class Op {
  kNone,
  kConnect,
  kPub,
  kHPub,
  kSub,
  kUnsub,
  kPing,
  kPong,
  kInfo,  // sent by clients only in exotic cases; ignored
  kOk,    // "+OK" from a client; ignored
  kErr,   // "-ERR" from a client: the server closes the connection
};

struct Command {
  Op op = Op::kNone;
  std::string_view subject;
  std::string_view reply;   // PUB/HPUB; empty when absent
  std::string_view queue;   // SUB; empty when absent
  std::string_view sid;     // SUB/UNSUB
  std::string_view json;    // CONNECT/INFO argument
  std::string_view payload; // PUB/HPUB: header block followed by body
  uint32_t hdr_len = 0;     // HPUB: length of the header block inside payload
  int64_t max_msgs = 0;     // UNSUB; 0 when absent
};

enum class Status {
  kOk,
  kIncomplete,
  // Errors that end the connection, with the -ERR text the reference sends
  // (or none, for the silent closes).
  kUnknownOp,        // -ERR 'Unknown Protocol Operation'
  kControlLine,      // -ERR 'maximum control line exceeded'
  kMaxPayload,       // -ERR 'Maximum Payload Violation'
  kBadArgs,          // silent close (malformed arguments)
};

struct Limits {
  size_t max_control_line = 4096;
  int64_t max_payload = 1024 * 1024;
};

// Parses one command from [data, data+size). On kOk, *consumed is the number
// of bytes the command used.
Status Next(const char* data, size_t size, const Limits& limits, Command* cmd, size_t* consumed);

// Subject checks shared by the server and JetStream.
// A valid subscription subject: non-empty tokens, no whitespace, '>' last.
bool ValidSubscribeSubject(std::string_view s);
// A valid literal subject (no wildcard tokens) for publishing in pedantic mode.
bool ValidLiteralSubject(std::string_view s);
bool ValidSubject(std::string_view s, bool allow_wildcards);
bool SubjectHasWildcard(std::string_view s);

}  // namespace fjord::proto

namespace fjord::proto {
// True if the literal `subject` is matched by `filter` (which may contain
// `*` and `>` tokens). An empty filter matches everything.
bool SubjectMatches(std::string_view subject, std::string_view filter);
// True if some literal subject could match both patterns.
bool SubjectsOverlap(std::string_view a, std::string_view b);
// True if every subject matched by `sub` is also matched by `super`.
bool SubjectIsSubsetOf(std::string_view sub, std::string_view super);
}  // namespace fjord::proto
