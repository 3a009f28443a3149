#include "proto/subject_transform.h"

#include <charconv>

#include "proto/parser.h"

namespace fjord::proto {
namespace {

std::vector<std::string> Split(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    out.emplace_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// "$3" or "{{wildcard(3)}}" (spaces allowed inside the braces) -> 3.
std::optional<size_t> WildcardRef(std::string_view t) {
  std::string_view num;
  if (t.size() > 1 && t[0] == '$') {
    num = t.substr(1);
  } else if (t.size() > 4 && t.substr(0, 2) == "{{" && t.substr(t.size() - 2) == "}}") {
    std::string_view in = t.substr(2, t.size() - 4);
    while (!in.empty() && in.front() == ' ') in.remove_prefix(1);
    while (!in.empty() && in.back() == ' ') in.remove_suffix(1);
    constexpr std::string_view kFn = "wildcard(";
    if (in.substr(0, kFn.size()) != kFn || in.empty() || in.back() != ')') return std::nullopt;
    num = in.substr(kFn.size(), in.size() - kFn.size() - 1);
    while (!num.empty() && num.front() == ' ') num.remove_prefix(1);
    while (!num.empty() && num.back() == ' ') num.remove_suffix(1);
  } else {
    return std::nullopt;
  }
  size_t n = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (ec != std::errc() || p != num.data() + num.size()) return std::nullopt;
  return n;
}

}  // namespace

std::optional<SubjectTransform> SubjectTransform::Make(std::string_view src, std::string_view dest,
                                                       std::string* err) {
  if (!ValidSubscribeSubject(src)) {
    *err = "invalid source subject";
    return std::nullopt;
  }
  SubjectTransform t;
  t.src_ = Split(src);
  size_t stars = 0;
  for (const auto& tok : t.src_) stars += tok == "*";
  bool src_rest = t.src_.back() == ">";
  auto dest_tokens = Split(dest);
  for (size_t i = 0; i < dest_tokens.size(); ++i) {
    const std::string& tok = dest_tokens[i];
    if (tok.empty()) {
      *err = "invalid destination subject";
      return std::nullopt;
    }
    if (tok == ">") {
      if (i + 1 != dest_tokens.size() || !src_rest) {
        *err = "invalid destination subject";
        return std::nullopt;
      }
      t.dest_.push_back({Part::kRest, {}, 0});
    } else if (auto n = WildcardRef(tok)) {
      if (*n < 1 || *n > stars) {
        *err = "invalid destination subject: wildcard index out of range";
        return std::nullopt;
      }
      t.dest_.push_back({Part::kWildcard, {}, *n - 1});
    } else if (tok.rfind("{{", 0) == 0) {
      // A mapping function this server does not have (2.10's partition,
      // split and friends): refused rather than published literally.
      *err = "invalid destination subject: unsupported mapping function " + tok;
      return std::nullopt;
    } else if (tok == "*" || tok.find_first_of(" \t") != std::string::npos) {
      *err = "invalid destination subject";
      return std::nullopt;
    } else {
      t.dest_.push_back({Part::kLiteral, tok, 0});
    }
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
  return Make(src, numbered, err);
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
  std::string out;
  for (const auto& p : dest_) {
    if (!out.empty()) out += '.';
    switch (p.kind) {
      case Part::kLiteral: out += p.literal; break;
      case Part::kWildcard: out += stars[p.index]; break;
      case Part::kRest: out += rest; break;
    }
  }
  return out;
}

}  // namespace fjord::proto
