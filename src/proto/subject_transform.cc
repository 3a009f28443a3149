#include "proto/subject_transform.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "proto/parser.h"

namespace fjord::proto {
namespace {

std::vector<std::string> Split(std::string_view s, std::string_view sep = ".") {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + sep.size();
  }
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

template <typename T>
bool ParseInt(std::string_view s, T* out) {
  s = TrimSpaces(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// nats-server matches function names with patterns such as
// `[sS]plit[fF]rom[lL]eft`: an upper-case letter of `canonical` matches
// either case, a lower-case one only itself.
bool NameIs(std::string_view name, std::string_view canonical) {
  if (name.size() != canonical.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = canonical[i];
    bool ok = std::isupper(static_cast<unsigned char>(c))
                  ? std::tolower(static_cast<unsigned char>(name[i])) == std::tolower(static_cast<unsigned char>(c))
                  : name[i] == c;
    if (!ok) return false;
  }
  return true;
}

// A `{{name(args)}}` token: its name and its arguments, split as
// nats-server splits them (on a comma and the blanks after it).
struct Call {
  std::string_view name;
  std::vector<std::string_view> args;
};

std::optional<Call> ParseCall(std::string_view t) {
  std::string_view in = t.substr(2, t.size() - 4);
  while (!in.empty() && IsSpace(in.front())) in.remove_prefix(1);
  while (!in.empty() && IsSpace(in.back())) in.remove_suffix(1);
  size_t open = in.find('(');
  if (open == std::string_view::npos || in.empty() || in.back() != ')') return std::nullopt;
  Call c;
  c.name = in.substr(0, open);
  while (!c.name.empty() && IsSpace(c.name.back())) c.name.remove_suffix(1);
  std::string_view args = in.substr(open + 1, in.size() - open - 2);
  size_t start = 0;
  while (true) {
    size_t comma = args.find(',', start);
    c.args.push_back(args.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
    while (start < args.size() && IsSpace(args[start])) ++start;
  }
  return c;
}

// "$3" -> 3; nullopt when the token is not a `$N` reference (nats-server
// keeps other `$` tokens literally).
std::optional<size_t> DollarRef(std::string_view t) {
  if (t.size() < 2 || t[0] != '$') return std::nullopt;
  size_t n = 0;
  auto [p, ec] = std::from_chars(t.data() + 1, t.data() + t.size(), n);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return n;
}

}  // namespace

uint32_t SubjectTransform::Fnv1a(std::string_view data, uint32_t h) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::optional<SubjectTransform> SubjectTransform::Make(std::string_view src, std::string_view dest,
                                                       std::string* err) {
  if (src.empty()) src = ">";
  if (!ValidSubscribeSubject(src)) {
    *err = "invalid subject";
    return std::nullopt;
  }
  SubjectTransform t;
  t.src_ = Split(src);
  if (dest.empty()) {
    t.identity_ = true;
    return t;
  }
  size_t stars = 0;
  for (const auto& tok : t.src_) stars += tok == "*";
  bool src_rest = t.src_.back() == ">";
  auto bad = [&](std::string text) {
    *err = std::move(text);
    return std::nullopt;
  };
  auto dest_tokens = Split(dest);
  if (src_rest != (dest_tokens.back() == ">")) return bad("invalid subject");
  for (size_t i = 0; i < dest_tokens.size(); ++i) {
    const std::string& tok = dest_tokens[i];
    if (tok.empty()) return bad("invalid subject");
    Part part{Part::kLiteral, {}, {}, 0};
    if (tok == ">") {
      if (i + 1 != dest_tokens.size()) return bad("invalid subject");
      part.kind = Part::kRest;
    } else if (auto n = DollarRef(tok)) {
      part.kind = Part::kWildcard;
      part.refs.push_back(*n);
    } else if (tok.size() > 4 && tok.substr(0, 2) == "{{" && tok.substr(tok.size() - 2) == "}}") {
      auto call = ParseCall(tok);
      if (!call) return bad("invalid mapping destination: unknown function in " + tok);
      const auto& args = call->args;
      // The functions taking (token index, integer).
      static constexpr std::pair<std::string_view, Part::Kind> kIndexInt[] = {
          {"SplitFromLeft", Part::kSplitFromLeft}, {"SplitFromRight", Part::kSplitFromRight},
          {"SliceFromLeft", Part::kSliceFromLeft}, {"SliceFromRight", Part::kSliceFromRight},
          {"Left", Part::kLeft},                   {"Right", Part::kRight}};
      const std::string not_enough =
          "invalid mapping destination: not enough arguments passed to the function in " + tok;
      auto arity = [&](size_t want) -> std::optional<std::string> {
        if (args.size() < want || (args.size() == 1 && args[0].empty())) return not_enough;
        if (args.size() > want) return "invalid mapping destination: too many arguments passed to the function in " + tok;
        return std::nullopt;
      };
      const char* kBadArg = "invalid mapping destination: function argument is invalid or in the wrong format in ";
      size_t ref = 0;
      if (NameIs(call->name, "Wildcard")) {
        if (auto e = arity(1)) return bad(*e);
        if (!ParseInt(args[0], &ref)) return bad(kBadArg + tok);
        part.kind = Part::kWildcard;
        part.refs.push_back(ref);
      } else if (NameIs(call->name, "Partition")) {
        if (args.size() < 2) return bad(not_enough);
        // nats-server takes 0 partitions and fails at the first message;
        // here the mapping is refused up front.
        if (!ParseInt(args[0], &part.n) || part.n <= 0 || part.n > INT32_MAX) return bad(kBadArg + tok);
        for (size_t a = 1; a < args.size(); ++a) {
          if (!ParseInt(args[a], &ref)) return bad(kBadArg + tok);
          part.refs.push_back(ref);
        }
        part.kind = Part::kPartition;
      } else if (NameIs(call->name, "Split")) {
        if (auto e = arity(2)) return bad(*e);
        if (!ParseInt(args[0], &ref)) return bad(kBadArg + tok);
        std::string_view delim = args[1];
        // An empty delimiter would cut the token into single bytes, which
        // nats-server does by accident; refused here.
        if (delim.empty() || delim.find(' ') != std::string_view::npos || delim.find('.') != std::string_view::npos)
          return bad(kBadArg + tok);
        part.kind = Part::kSplit;
        part.refs.push_back(ref);
        part.text = delim;
      } else {
        bool known = false;
        for (const auto& [name, kind] : kIndexInt) {
          if (!NameIs(call->name, name)) continue;
          if (auto e = arity(2)) return bad(*e);
          if (!ParseInt(args[0], &ref) || !ParseInt(args[1], &part.n) || part.n > INT32_MAX ||
              part.n < INT32_MIN)
            return bad(kBadArg + tok);
          part.kind = kind;
          part.refs.push_back(ref);
          known = true;
          break;
        }
        if (!known) return bad("invalid mapping destination: unknown function in " + tok);
      }
    } else if (tok == "*" || std::any_of(tok.begin(), tok.end(), IsSpace)) {
      return bad("invalid subject");
    } else {
      part.text = tok;
    }
    // Every reference names one of src's `*`s, counted from 1 (a source
    // without any takes no placeholders at all).
    for (auto& r : part.refs) {
      if (r < 1 || r > stars) return bad("invalid mapping destination: wildcard index out of range in " + tok);
      --r;
    }
    t.dest_.push_back(std::move(part));
  }
  return t;
}

std::optional<SubjectTransform> SubjectTransform::MakeForImport(std::string_view src, std::string_view dest,
                                                                std::string* err) {
  std::string numbered;
  size_t star = 0;
  for (const auto& tok : Split(dest)) {
    if (!numbered.empty()) numbered += '.';
    numbered += tok == "*" ? "$" + std::to_string(++star) : tok;
  }
  auto t = Make(src, numbered, err);
  if (!t) return t;
  for (const auto& p : t->dest_) {
    if (p.kind != Part::kLiteral && p.kind != Part::kWildcard && p.kind != Part::kRest) {
      *err =
          "invalid mapping destination: the only mapping function allowed for import transforms is {{Wildcard()}}";
      return std::nullopt;
    }
  }
  return t;
}

std::optional<std::string> SubjectTransform::Apply(std::string_view subject) const {
  auto toks = Split(subject);
  std::vector<std::string_view> stars;
  std::string rest;
  size_t i = 0;
  for (; i < src_.size(); ++i) {
    if (src_[i] == ">") {
      if (i >= toks.size()) return std::nullopt;
      for (size_t k = i; k < toks.size(); ++k) {
        if (!rest.empty()) rest += '.';
        rest += toks[k];
      }
      i = toks.size();
      break;
    }
    if (i >= toks.size()) return std::nullopt;
    if (src_[i] == "*") {
      stars.push_back(toks[i]);
    } else if (src_[i] != toks[i]) {
      return std::nullopt;
    }
  }
  if (i != toks.size()) return std::nullopt;
  if (identity_) return std::string(subject);
  std::string out;
  for (const auto& p : dest_) {
    if (!out.empty()) out += '.';
    std::string_view tok = p.refs.empty() ? std::string_view() : stars[p.refs[0]];
    int64_t len = static_cast<int64_t>(tok.size());
    switch (p.kind) {
      case Part::kLiteral: out += p.text; break;
      case Part::kWildcard: out += tok; break;
      case Part::kRest: out += rest; break;
      case Part::kPartition: {
        uint32_t h = kFnv1aBasis;
        for (size_t r : p.refs) h = Fnv1a(stars[r], h);
        out += std::to_string(h % static_cast<uint32_t>(p.n));
        break;
      }
      case Part::kSplitFromLeft:
      case Part::kSplitFromRight: {
        if (p.n <= 0 || p.n >= len) {
          out += tok;
          break;
        }
        size_t at = p.kind == Part::kSplitFromLeft ? p.n : len - p.n;
        out += tok.substr(0, at);
        out += '.';
        out += tok.substr(at);
        break;
      }
      case Part::kSliceFromLeft:
      case Part::kSliceFromRight: {
        if (p.n <= 0 || p.n >= len) {
          out += tok;
          break;
        }
        // From the left the short piece is last; from the right, first.
        size_t first = p.kind == Part::kSliceFromLeft ? 0 : len % p.n;
        if (first) out.append(tok.substr(0, first)).push_back('.');
        for (size_t at = first; at < tok.size(); at += p.n) {
          if (at != first) out += '.';
          out += tok.substr(at, p.n);
        }
        break;
      }
      case Part::kSplit: {
        bool wrote = false;
        for (const auto& piece : Split(tok, p.text)) {
          if (piece.empty()) continue;
          if (wrote) out += '.';
          out += piece;
          wrote = true;
        }
        break;
      }
      case Part::kLeft: out += p.n <= 0 || p.n >= len ? tok : tok.substr(0, p.n); break;
      case Part::kRight: out += p.n <= 0 || p.n >= len ? tok : tok.substr(len - p.n); break;
    }
  }
  return out;
}

}  // namespace fjord::proto
