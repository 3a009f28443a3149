#pragma once
// NATS subject filters as the stores use them: tokens separated by '.',
// '*' matches exactly one token, '>' (last token only) one or more.
// An empty filter and ">" match every subject.
#include <string_view>

namespace fjord::store {

bool MatchesAll(std::string_view filter);
// True when the filter has no wildcard token, so an exact lookup answers it.
bool IsLiteral(std::string_view filter);
bool SubjectMatches(std::string_view filter, std::string_view subject);

}  // namespace fjord::store
