#pragma once
// NATS subject filters as the stores use them: tokens separated by '.',
// '*' matches exactly one token, '>' (last token only) one or more.
// An empty filter and ">" match every subject.
#include <functional>
#include <string_view>

namespace fjord::store {

// Hash for string-keyed maps looked up by string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

bool MatchesAll(std::string_view filter);
// True when the filter has no wildcard token, so an exact lookup answers it.
bool IsLiteral(std::string_view filter);
bool SubjectMatches(std::string_view filter, std::string_view subject);

}  // namespace fjord::store
