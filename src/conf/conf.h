#pragma once
// Parser for the nats-server configuration language (nats.conf).
//
// The language is a relaxed superset of JSON: `key: value`, `key = value` and
// `key value` are equivalent; the top level is an implicit map; values are
// maps `{}`, arrays `[]`, strings (double-quoted with escapes, single-quoted
// raw, bare words, or `( ... )` blocks), integers with optional size suffixes,
// floats, booleans, Zulu datetimes and `$VARIABLE` references. `include
// <path>` merges another file into the current map. See
// docs/configuration.md for the full grammar and where it differs from
// nats-server's lexer.
//
// The result is plain JSON so the option loader (options.h) can walk it
// without caring about syntax, plus a side table of source positions so that
// every later error can still say `file:line:col`.
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace fjord::conf {

// A place in a config file. Lines and columns are 1-based; columns count bytes.
struct Pos {
  std::string file;
  int line = 0;
  int col = 0;

  // "file:line:col", or just "file" when the line is unknown (line 0).
  std::string ToString() const;
};

struct ParseError {
  Pos pos;
  std::string msg;

  // "file:line:col: msg", the form nats-server uses for config errors.
  std::string ToString() const;
};

struct Document {
  // Values: objects, arrays, strings, int64 integers (size suffixes already
  // applied), doubles, booleans. Datetimes are kept as their ISO-8601 text.
  // Keys keep their spelling and file order; a repeated key keeps its first
  // position and its last value.
  nlohmann::ordered_json root = nlohmann::ordered_json::object();

  // JSON pointer (RFC 6901, e.g. "/jetstream/max_mem", "/authorization/users/0")
  // -> where the key (for map entries) or the value (for array elements) was
  // written. Entries merged by `include` carry the included file's name.
  std::map<std::string, Pos> positions;

  // JSON pointers of map entries that were read through a `$NAME` reference.
  // nats-server does not report those as unknown options: defining
  // `PORT = 4222` and using `port: $PORT` is fine, an unused `PORT` is not.
  std::set<std::string> referenced;

  // Position of `pointer`, or of its nearest recorded ancestor; a Pos with
  // line 0 when nothing is known.
  Pos PosOf(const std::string& pointer) const;
};

struct ParseOptions {
  // Nested maps/arrays deeper than this are rejected, so hostile input
  // cannot exhaust the stack.
  int max_nesting = 128;
  // Includes nested deeper than this are rejected (catches include loops
  // that a path check could miss, e.g. through symlinks). 0 disables
  // `include` entirely.
  int max_include_depth = 10;
  // Files (top-level and included) larger than this are rejected.
  size_t max_file_size = 16 << 20;
};

using ParseResult = std::variant<Document, ParseError>;

// Parses `text`. `filename` is used in positions and errors; relative
// includes are resolved against its directory (the current directory when
// it has none).
ParseResult ParseString(std::string_view text, const std::string& filename = "<string>",
                        const ParseOptions& options = {});

// Reads and parses the file at `path`.
ParseResult ParseFile(const std::string& path, const ParseOptions& options = {});

// "/a/b" for the pointer of key `b` inside `a`; escapes `~` and `/` as RFC
// 6901 requires.
std::string JoinPointer(const std::string& parent, std::string_view key);

}  // namespace fjord::conf
