#pragma once
// Subject mapping as nats-server 2.9 applies it to a stream's `republish`:
// `src` is a subscription pattern; `dest` is made of literal tokens, `$N`
// or `{{wildcard(N)}}` (the token the Nth `*` of `src` matched, from 1),
// and an optional trailing `>` (the tokens `src`'s trailing `>` matched).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fjord::proto {

class SubjectTransform {
 public:
  // Validates the pair; on failure returns nullopt and sets *err.
  static std::optional<SubjectTransform> Make(std::string_view src, std::string_view dest, std::string* err);
  // As Make, with each `*` of `dest` standing for the next wildcard of
  // `src` in order: how nats-server reads an account import's `to`.
  static std::optional<SubjectTransform> MakeForImport(std::string_view src, std::string_view dest,
                                                       std::string* err);
  // The destination for a literal `subject`, or nullopt if it does not
  // match `src`.
  std::optional<std::string> Apply(std::string_view subject) const;

 private:
  struct Part {
    enum Kind { kLiteral, kWildcard, kRest } kind;
    std::string literal;
    size_t index = 0;  // kWildcard: which `*` of src (0-based)
  };
  std::vector<std::string> src_;
  std::vector<Part> dest_;
};

}  // namespace fjord::proto
