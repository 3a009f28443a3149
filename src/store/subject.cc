#include "store/subject.h"

namespace fjord::store {
namespace {

// Splits off the next token; returns false when `s` is exhausted.
bool NextToken(std::string_view& s, std::string_view& tok) {
  if (s.data() == nullptr) return false;
  size_t dot = s.find('.');
  if (dot == std::string_view::npos) {
    tok = s;
    s = std::string_view();
  } else {
    tok = s.substr(0, dot);
    s = s.substr(dot + 1);
  }
  return true;
}

}  // namespace

bool MatchesAll(std::string_view filter) { return filter.empty() || filter == ">"; }

bool IsLiteral(std::string_view filter) {
  if (filter.empty()) return false;
  std::string_view rest = filter, tok;
  while (NextToken(rest, tok)) {
    if (tok == "*" || tok == ">") return false;
  }
  return true;
}

bool SubjectMatches(std::string_view filter, std::string_view subject) {
  if (MatchesAll(filter)) return !subject.empty();
  std::string_view f = filter, s = subject, ft, st;
  while (NextToken(f, ft)) {
    if (ft == ">") return NextToken(s, st);
    if (!NextToken(s, st)) return false;
    if (ft != "*" && ft != st) return false;
  }
  return !NextToken(s, st);
}

}  // namespace fjord::store
