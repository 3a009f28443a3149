#include "conf/conf.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include <fmt/format.h>

namespace fjord::conf {

std::string Pos::ToString() const {
  if (line == 0) return file;
  return fmt::format("{}:{}:{}", file, line, col);
}

std::string ParseError::ToString() const { return fmt::format("{}: {}", pos.ToString(), msg); }

std::string JoinPointer(const std::string& parent, std::string_view key) {
  std::string out = parent;
  out.reserve(parent.size() + key.size() + 1);
  out.push_back('/');
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Pos Document::PosOf(const std::string& pointer) const {
  std::string p = pointer;
  while (!p.empty()) {
    auto it = positions.find(p);
    if (it != positions.end()) return it->second;
    p.resize(p.rfind('/'));
  }
  return Pos{};
}

namespace {

// Thrown inside the parser only; the public functions turn it into a
// ParseError. Unwinding keeps every grammar function free of error plumbing.
struct Failure {
  ParseError error;
};

// State shared by a parser and the parsers it starts for includes and
// environment variables.
struct Shared {
  ParseOptions options;
  // Canonical paths of the files currently being parsed, outermost first.
  std::vector<std::string> include_stack;
  // Environment variables currently being expanded, to catch `A=$B B=$A`.
  std::vector<std::string> env_stack;
  // Values created so far, counting every copy a variable reference makes,
  // so that `a=[$b,$b] b=[$c,$c] ...` cannot explode.
  size_t values = 0;
};

constexpr size_t kMaxValues = 1 << 20;

bool IsSpace(int c) { return c == ' ' || c == '\t' || c == '\r'; }

bool IsDigit(int c) { return c >= '0' && c <= '9'; }

// Characters that end a bare (unquoted) value.
bool EndsBareValue(int c) {
  return c < 0 || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' ||
         c == ']' || c == '}';
}

bool IsKeyChar(int c) {
  if (c <= ' ' || c == 0x7f) return false;
  switch (c) {
    case ':': case '=': case '{': case '}': case '[': case ']':
    case ',': case ';': case '#': case '"': case '\'':
      return false;
    default:
      return true;
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// How a character is shown in an error message.
std::string Describe(int c) {
  if (c < 0) return "end of file";
  if (c == '\n') return "a new line";
  if (c < ' ' || c == 0x7f) return fmt::format("byte 0x{:02x}", c);
  return fmt::format("'{}'", static_cast<char>(c));
}

const std::string& KeyOf(const std::string& key) { return key; }
template <typename Pair>
const std::string& KeyOf(const Pair& entry) {
  return entry.first;
}

// Erases `pointer` and every pointer below it from a sorted container.
template <typename Container>
void EraseSubtree(Container& c, const std::string& pointer) {
  c.erase(pointer);
  std::string prefix = pointer + "/";
  auto it = c.lower_bound(prefix);
  while (it != c.end() && KeyOf(*it).compare(0, prefix.size(), prefix) == 0) it = c.erase(it);
}

size_t CountValues(const nlohmann::ordered_json& v) {
  size_t n = 1;
  if (v.is_structured()) {
    for (const auto& child : v) n += CountValues(child);
  }
  return n;
}

// Reads a whole regular file of at most `max` bytes. Devices and FIFOs are
// refused so that `include /dev/zero` cannot hang the server.
bool ReadRegularFile(const std::string& path, size_t max, std::string* out, std::string* err) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec) {
    *err = ec.message();
    return false;
  }
  if (!std::filesystem::is_regular_file(status)) {
    *err = "not a regular file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *err = std::error_code(errno, std::generic_category()).message();
    return false;
  }
  out->clear();
  char buf[65536];
  while (in) {
    in.read(buf, sizeof(buf));
    out->append(buf, static_cast<size_t>(in.gcount()));
    if (out->size() > max) {
      *err = fmt::format("file is larger than {} bytes", max);
      return false;
    }
  }
  if (in.bad()) {
    *err = "read error";
    return false;
  }
  return true;
}

std::string DirOf(const std::string& file) {
  return std::filesystem::path(file).parent_path().string();
}

class Parser {
 public:
  Parser(std::string_view text, std::string file, Shared* shared, int include_depth)
      : text_(text), file_(std::move(file)), shared_(shared), include_depth_(include_depth) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text_.size(); ++i) {
      if (text_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  // Throws Failure.
  Document Run() {
    SkipBlank();
    if (Peek() == '{') {
      // The whole file may be wrapped in braces, JSON style.
      size_t open = pos_++;
      ParseMapBody(doc_.root, "", '}', open);
      SkipBlank();
      if (Peek() >= 0) Fail(pos_, fmt::format("unexpected {} after the closing '}}'", Describe(Peek())));
    } else {
      ParseMapBody(doc_.root, "", -1, 0);
    }
    return std::move(doc_);
  }

 private:
  struct Scope {
    nlohmann::ordered_json* map;
    std::string pointer;
  };

  int Peek(size_t ahead = 0) const {
    size_t i = pos_ + ahead;
    return i < text_.size() ? static_cast<unsigned char>(text_[i]) : -1;
  }

  Pos PosAt(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    size_t line = static_cast<size_t>(it - line_starts_.begin());
    return Pos{file_, static_cast<int>(line), static_cast<int>(offset - line_starts_[line - 1] + 1)};
  }

  [[noreturn]] void Fail(size_t offset, std::string msg) const {
    throw Failure{ParseError{PosAt(offset), std::move(msg)}};
  }

  void CountValue(size_t n, size_t offset) {
    shared_->values += n;
    if (shared_->values > kMaxValues) {
      Fail(offset, fmt::format("configuration has more than {} values", kMaxValues));
    }
  }

  bool AtComment() const { return Peek() == '#' || (Peek() == '/' && Peek(1) == '/'); }

  void SkipSpaces() {
    while (IsSpace(Peek())) ++pos_;
  }

  void SkipComment() {
    while (Peek() >= 0 && Peek() != '\n') ++pos_;
  }

  // Skips whitespace, new lines and comments.
  void SkipBlank() {
    for (;;) {
      int c = Peek();
      if (IsSpace(c) || c == '\n') {
        ++pos_;
      } else if (AtComment()) {
        SkipComment();
      } else {
        return;
      }
    }
  }

  // After a value: spaces and a trailing comment are allowed before the
  // terminator.
  void SkipToTerminator() {
    SkipSpaces();
    if (AtComment()) SkipComment();
  }

  void EnterNesting(size_t offset) {
    if (++depth_ > shared_->options.max_nesting) {
      Fail(offset, fmt::format("maps and arrays nested deeper than {}", shared_->options.max_nesting));
    }
  }

  // Forgets what was recorded about `pointer` and its children before the
  // key is assigned again.
  void ForgetSubtree(const std::string& pointer) {
    EraseSubtree(doc_.positions, pointer);
    EraseSubtree(doc_.referenced, pointer);
  }

  // A map or array may open on a line after its key (brace-on-own-line
  // style); any other value must start on the key's line.
  void SkipToMapOrArrayOnNextLine() {
    size_t saved = pos_;
    SkipBlank();
    if (Peek() != '{' && Peek() != '[') pos_ = saved;
  }

  // Parses `key value` entries until `closer` ('}' or -1 for end of input).
  void ParseMapBody(nlohmann::ordered_json& map, const std::string& pointer, int closer,
                    size_t open) {
    scopes_.push_back(Scope{&map, pointer});
    for (;;) {
      SkipBlank();
      int c = Peek();
      if (c == ';' || c == ',') {  // An empty entry, as in `a: 1;;`.
        ++pos_;
        continue;
      }
      if (c == closer) {
        if (c == '}') ++pos_;
        break;
      }
      if (c < 0) Fail(open, "map is missing its closing '}'");
      if (c == '}') Fail(pos_, "unexpected '}' without a matching '{'");
      ParseEntry(map, pointer);
      SkipToTerminator();
      c = Peek();
      if (c == '\n' || c == ',' || c == ';') {
        ++pos_;
      } else if (c != closer) {
        Fail(pos_, fmt::format("expected a new line, ',', ';' or {} after a value, found {}",
                               closer == '}' ? "'}'" : "end of file", Describe(c)));
      }
    }
    scopes_.pop_back();
  }

  std::string ParseKey(bool* quoted) {
    size_t start = pos_;
    int q = Peek();
    if (q == '"' || q == '\'') {
      *quoted = true;
      ++pos_;
      size_t end = text_.find(static_cast<char>(q), pos_);
      if (end == std::string_view::npos) Fail(start, "quoted key is missing its closing quote");
      std::string key(text_.substr(pos_, end - pos_));
      pos_ = end + 1;
      return key;
    }
    *quoted = false;
    while (IsKeyChar(Peek())) ++pos_;
    if (pos_ == start) Fail(pos_, fmt::format("expected a key, found {}", Describe(Peek())));
    return std::string(text_.substr(start, pos_ - start));
  }

  void ParseEntry(nlohmann::ordered_json& map, const std::string& pointer) {
    size_t key_offset = pos_;
    bool quoted = false;
    std::string key = ParseKey(&quoted);
    if (!quoted && (Peek() == ' ' || Peek() == '\t') && Lower(key) == "include") {
      ParseInclude(map, pointer, key_offset);
      return;
    }
    SkipSpaces();
    if (Peek() == ':' || Peek() == '=') {
      ++pos_;
      SkipSpaces();
    }
    if (Peek() == '\n' || AtComment()) SkipToMapOrArrayOnNextLine();
    int c = Peek();
    if (c < 0 || c == '\n' || AtComment()) {
      Fail(pos_, fmt::format("expected a value for key '{}', found {}", key,
                             AtComment() ? "a comment" : Describe(c)));
    }
    std::string child = JoinPointer(pointer, key);
    if (map.contains(key)) ForgetSubtree(child);
    nlohmann::ordered_json value = ParseValue(child);
    map[key] = std::move(value);
    doc_.positions[child] = PosAt(key_offset);
  }

  nlohmann::ordered_json ParseValue(const std::string& pointer) {
    size_t start = pos_;
    CountValue(1, start);
    switch (Peek()) {
      case '{': {
        ++pos_;
        EnterNesting(start);
        nlohmann::ordered_json map = nlohmann::ordered_json::object();
        ParseMapBody(map, pointer, '}', start);
        --depth_;
        return map;
      }
      case '[':
        return ParseArray(pointer);
      case '"':
        return ParseDoubleQuoted();
      case '\'': {
        ++pos_;
        size_t end = text_.find('\'', pos_);
        if (end == std::string_view::npos) Fail(start, "string is missing its closing quote");
        std::string s(text_.substr(pos_, end - pos_));
        pos_ = end + 1;
        return s;
      }
      case '(':
        return ParseBlock();
      default:
        return ParseBare();
    }
  }

  nlohmann::ordered_json ParseArray(const std::string& pointer) {
    size_t open = pos_++;
    EnterNesting(open);
    nlohmann::ordered_json array = nlohmann::ordered_json::array();
    for (;;) {
      SkipBlank();
      int c = Peek();
      if (c < 0) Fail(open, "array is missing its closing ']'");
      if (c == ']') {
        ++pos_;
        break;
      }
      if (c == ',') Fail(pos_, "unexpected ',' in array (missing value?)");
      std::string child = pointer + "/" + std::to_string(array.size());
      doc_.positions[child] = PosAt(pos_);
      array.push_back(ParseValue(child));
      SkipToTerminator();
      c = Peek();
      if (c == ',' || c == '\n') {
        ++pos_;
      } else if (c == ']') {
        ++pos_;
        break;
      } else {
        Fail(pos_, fmt::format("expected ',', a new line or ']' after an array element, found {}",
                               Describe(c)));
      }
    }
    --depth_;
    return array;
  }

  // Handles the escape whose backslash is at pos_; appends the result.
  void ParseEscape(std::string* out) {
    size_t at = pos_++;
    int c = Peek();
    switch (c) {
      case 't': out->push_back('\t'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case 'x': {
        auto hex = [](int h) {
          if (IsDigit(h)) return h - '0';
          h = std::tolower(h);
          return h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
        };
        int hi = hex(Peek(1));
        int lo = hex(Peek(2));
        if (hi < 0 || lo < 0) Fail(at, "expected two hexadecimal digits after '\\x'");
        out->push_back(static_cast<char>(hi * 16 + lo));
        pos_ += 3;
        return;
      }
      default:
        Fail(at, fmt::format("invalid escape {}; only \\xXX, \\t, \\n, \\r, \\\" and \\\\ are allowed",
                             c < 0 ? "at end of file" : "'\\" + std::string(1, static_cast<char>(c)) + "'"));
    }
    ++pos_;
  }

  std::string ParseDoubleQuoted() {
    size_t open = pos_++;
    std::string out;
    for (;;) {
      int c = Peek();
      if (c < 0) Fail(open, "string is missing its closing '\"'");
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        ParseEscape(&out);
      } else {
        out.push_back(static_cast<char>(c));
        ++pos_;
      }
    }
  }

  // `( ... )`: everything up to a line holding only ')', verbatim. The text
  // keeps the new line that precedes the ')', as nats-server does.
  std::string ParseBlock() {
    size_t open = pos_++;
    size_t content = pos_;
    size_t search = pos_;
    for (;;) {
      size_t nl = text_.find('\n', search);
      if (nl == std::string_view::npos) Fail(open, "block is missing a ')' alone on a line");
      size_t line = nl + 1;
      size_t end = text_.find('\n', line);
      if (end == std::string_view::npos) end = text_.size();
      std::string_view l = text_.substr(line, end - line);
      while (!l.empty() && IsSpace(static_cast<unsigned char>(l.back()))) l.remove_suffix(1);
      if (l == ")") {
        pos_ = line + 1;
        return std::string(text_.substr(content, line - content));
      }
      search = line;
    }
  }

  nlohmann::ordered_json ParseBare() {
    size_t start = pos_;
    std::string token;
    bool escaped = false;
    while (!EndsBareValue(Peek())) {
      if (Peek() == '\\') {
        escaped = true;
        ParseEscape(&token);
      } else {
        token.push_back(static_cast<char>(Peek()));
        ++pos_;
      }
    }
    if (pos_ == start) Fail(start, fmt::format("expected a value, found {}", Describe(Peek())));
    if (escaped) return token;

    std::string lower = Lower(token);
    if (lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "no" || lower == "off") return false;
    if (token[0] == '$') {
      // `$2a$...` is a bcrypt hash, not a variable (nats-server knows only
      // 2a; 2b and 2y are what other bcrypt tools write).
      if (token.compare(1, 3, "2a$") == 0 || token.compare(1, 3, "2b$") == 0 ||
          token.compare(1, 3, "2y$") == 0) {
        return token;
      }
      return LookupVariable(token.substr(1), start);
    }
    bool negative = token[0] == '-';
    if (IsDigit(token[0]) || (negative && token.size() > 1 && IsDigit(token[1]))) {
      return ParseNumber(token, start);
    }
    if (token[0] == '.' && token.size() > 1 && IsDigit(token[1])) {
      Fail(start, "floats must start with a digit");
    }
    return token;
  }

  // A token starting with an optional '-' and a digit: an integer with an
  // optional size suffix, a float, or (IP addresses, `1:2`, `4222abc`) a
  // string.
  nlohmann::ordered_json ParseNumber(const std::string& token, size_t offset) {
    size_t i = token[0] == '-' ? 1 : 0;
    while (i < token.size() && IsDigit(token[i])) ++i;
    std::string_view digits(token.data(), i);
    std::string suffix = Lower(std::string_view(token).substr(i));

    auto parse_int = [&]() -> int64_t {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(std::string(digits).c_str(), &end, 10);
      if (errno == ERANGE) Fail(offset, fmt::format("integer '{}' is out of range", token));
      return v;
    };

    if (suffix.empty()) return parse_int();

    if (suffix[0] == '.') {
      size_t j = i + 1;
      while (j < token.size() && IsDigit(token[j])) ++j;
      if (j == i + 1) Fail(offset, fmt::format("floats must have a digit after the '.' in '{}'", token));
      if (j == token.size()) {
        double v = std::strtod(token.c_str(), nullptr);
        if (!std::isfinite(v)) Fail(offset, fmt::format("float '{}' is out of range", token));
        return v;
      }
      if (token[j] == '.') return token;  // An IP address such as 127.0.0.1:4222.
      Fail(offset, fmt::format("invalid number '{}'", token));
    }

    // Size suffixes: k/m/g/t/p/e are powers of 1000; followed by "b", "i"
    // or "ib" they are powers of 1024 (1K = 1000, 1KB = 1KiB = 1024).
    static constexpr std::string_view kUnits = "kmgtpe";
    size_t unit = kUnits.find(suffix[0]);
    std::string_view rest = std::string_view(suffix).substr(1);
    if (unit != std::string_view::npos && (rest.empty() || rest == "b" || rest == "i" || rest == "ib")) {
      int64_t base = rest.empty() ? 1000 : 1024;
      int64_t v = parse_int();
      for (size_t n = 0; n <= unit; ++n) {
        if (__builtin_mul_overflow(v, base, &v)) {
          Fail(offset, fmt::format("integer '{}' is out of range", token));
        }
      }
      return v;
    }
    return token;
  }

  nlohmann::ordered_json LookupVariable(const std::string& name, size_t offset) {
    if (name.empty()) Fail(offset, "'$' must be followed by a variable name");
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->map->find(name);
      if (found != it->map->end()) {
        doc_.referenced.insert(JoinPointer(it->pointer, name));
        CountValue(CountValues(*found), offset);
        return *found;
      }
    }
    const char* env = std::getenv(name.c_str());
    if (env == nullptr) {
      Fail(offset, fmt::format("variable reference for '{}' on line {} can not be found", name,
                               PosAt(offset).line));
    }
    auto& stack = shared_->env_stack;
    if (std::find(stack.begin(), stack.end(), name) != stack.end()) {
      Fail(offset, fmt::format("variable reference cycle through environment variable '{}'", name));
    }
    // Environment values are read with the value grammar, so NATS_PORT=4222
    // yields an integer and a value may itself reference another variable.
    std::string source = "pk=" + std::string(env);
    stack.push_back(name);
    Document env_doc;
    try {
      env_doc = Parser(source, "<environment variable " + name + ">", shared_, include_depth_).Run();
    } catch (Failure& f) {
      stack.pop_back();
      Fail(offset, fmt::format("environment variable '{}': {}", name, f.error.msg));
    }
    stack.pop_back();
    if (!env_doc.root.contains("pk")) {
      Fail(offset, fmt::format("environment variable '{}' has no usable value", name));
    }
    return env_doc.root["pk"];
  }

  void ParseInclude(nlohmann::ordered_json& map, const std::string& pointer, size_t key_offset) {
    SkipSpaces();
    size_t start = pos_;
    int c = Peek();
    std::string path;
    if (c == '"' || c == '\'') {
      ++pos_;
      size_t end = text_.find(static_cast<char>(c), pos_);
      if (end == std::string_view::npos) Fail(start, "include path is missing its closing quote");
      path = std::string(text_.substr(pos_, end - pos_));
      pos_ = end + 1;
    } else {
      if (c == '[' || c == '{' || c == '(') Fail(start, "include expects a file path");
      while (!EndsBareValue(Peek())) ++pos_;
      path = std::string(text_.substr(start, pos_ - start));
    }
    if (path.empty()) Fail(start, "include expects a file path");

    const ParseOptions& options = shared_->options;
    if (include_depth_ >= options.max_include_depth) {
      Fail(key_offset, options.max_include_depth == 0
                           ? std::string("include is not allowed here")
                           : fmt::format("includes nested deeper than {} (include loop?)",
                                         options.max_include_depth));
    }
    std::filesystem::path resolved(path);
    if (resolved.is_relative()) {
      std::string dir = DirOf(file_);
      if (!dir.empty()) resolved = std::filesystem::path(dir) / resolved;
    }
    std::error_code ec;
    std::string canonical = std::filesystem::weakly_canonical(resolved, ec).string();
    if (ec) canonical = resolved.string();
    auto& stack = shared_->include_stack;
    if (std::find(stack.begin(), stack.end(), canonical) != stack.end()) {
      Fail(key_offset, fmt::format("include loop: '{}' is already being read", path));
    }
    std::string text;
    std::string err;
    if (!ReadRegularFile(resolved.string(), options.max_file_size, &text, &err)) {
      Fail(key_offset, fmt::format("error reading include file '{}': {}", path, err));
    }

    stack.push_back(canonical);
    Document included;
    try {
      included = Parser(text, resolved.string(), shared_, include_depth_ + 1).Run();
    } catch (Failure& f) {
      stack.pop_back();
      f.error.msg += fmt::format(" (included from {})", PosAt(key_offset).ToString());
      throw;
    }
    stack.pop_back();

    for (auto& [key, value] : included.root.items()) {
      std::string child = JoinPointer(pointer, key);
      if (map.contains(key)) ForgetSubtree(child);
      map[key] = std::move(value);
    }
    for (auto& [p, pos] : included.positions) doc_.positions[pointer + p] = std::move(pos);
    for (const auto& p : included.referenced) doc_.referenced.insert(pointer + p);
  }

  std::string_view text_;
  std::string file_;
  Shared* shared_;
  int include_depth_;
  std::vector<size_t> line_starts_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::vector<Scope> scopes_;
  Document doc_;
};

ParseResult ParseWith(std::string_view text, const std::string& filename, Shared* shared) {
  try {
    return Parser(text, filename, shared, 0).Run();
  } catch (Failure& f) {
    return std::move(f.error);
  }
}

}  // namespace

ParseResult ParseString(std::string_view text, const std::string& filename,
                        const ParseOptions& options) {
  Shared shared{options, {}, {}, 0};
  return ParseWith(text, filename, &shared);
}

ParseResult ParseFile(const std::string& path, const ParseOptions& options) {
  std::string text;
  std::string err;
  if (!ReadRegularFile(path, options.max_file_size, &text, &err)) {
    return ParseError{Pos{path, 0, 0}, fmt::format("error opening config file: {}", err)};
  }
  Shared shared{options, {}, {}, 0};
  std::error_code ec;
  std::string canonical = std::filesystem::weakly_canonical(path, ec).string();
  shared.include_stack.push_back(ec ? path : canonical);
  return ParseWith(text, path, &shared);
}

}  // namespace fjord::conf
