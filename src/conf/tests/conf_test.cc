#include "conf/conf.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace fjord::conf {
namespace {

using Json = nlohmann::ordered_json;

Document MustParse(std::string_view text) {
  ParseResult r = ParseString(text, "test.conf");
  if (auto* err = std::get_if<ParseError>(&r)) {
    ADD_FAILURE() << "parse failed: " << err->ToString();
    return Document{};
  }
  return std::get<Document>(std::move(r));
}

ParseError MustFail(std::string_view text, const ParseOptions& options = {}) {
  ParseResult r = ParseString(text, "bad.conf", options);
  if (std::holds_alternative<Document>(r)) {
    ADD_FAILURE() << "expected a parse error for: " << text << "\ngot "
                  << std::get<Document>(r).root.dump();
    return ParseError{};
  }
  return std::get<ParseError>(r);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fjord-conf-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = (std::filesystem::path(path_) / name).string();
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ConfParse, BriefExampleVerbatim) {
  Document d = MustParse(R"(server_name: "norway-broker-01"
listen: 0.0.0.0:4222
jetstream {
    store_dir: "/var/lib/nats-data"
    max_mem: 1G
    max_file: 10G
}
authorization {
    token: "s3cr3t_token_for_internal_services"
}
)");
  EXPECT_EQ(d.root["server_name"], "norway-broker-01");
  EXPECT_EQ(d.root["listen"], "0.0.0.0:4222");
  EXPECT_EQ(d.root["jetstream"]["store_dir"], "/var/lib/nats-data");
  EXPECT_EQ(d.root["jetstream"]["max_mem"], 1000000000);
  EXPECT_EQ(d.root["jetstream"]["max_file"], 10000000000);
  EXPECT_EQ(d.root["authorization"]["token"], "s3cr3t_token_for_internal_services");
  EXPECT_EQ(d.positions.at("/jetstream/max_mem").line, 5);
  EXPECT_EQ(d.positions.at("/jetstream/max_mem").col, 5);
  EXPECT_EQ(d.positions.at("/jetstream/max_mem").file, "test.conf");
}

TEST(ConfParse, SeparatorsAndTerminators) {
  Document d = MustParse("a: 1\nb = 2\nc 3\nd:4; e=5, f 6\n\"g h\": 7\n'i' = 8\n");
  EXPECT_EQ(d.root, Json::parse(R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g h":7,"i":8})"));
  // Order is preserved.
  EXPECT_EQ(d.root.begin().key(), "a");
}

TEST(ConfParse, MapOrArrayOnTheNextLine) {
  Document d = MustParse("authorization\n{\n  token: abc\n}\nlist =\n  # comment\n  [1, 2]\nx: 1;;\n");
  EXPECT_EQ(d.root["authorization"]["token"], "abc");
  EXPECT_EQ(d.root["list"], Json::array({1, 2}));
  EXPECT_EQ(d.root["x"], 1);
}

TEST(ConfParse, WholeFileInBraces) {
  Document d = MustParse("{\n  port: 4222\n  debug: true\n}\n");
  EXPECT_EQ(d.root["port"], 4222);
  EXPECT_EQ(d.root["debug"], true);
}

TEST(ConfParse, Comments) {
  Document d = MustParse(R"(# leading
// slash comment
a: 1 # trailing
b: 2 // trailing
c {  # after brace
  # inside
  d: 3 // inside
}
e: [ # in array
  1 # after elem
  // own line
  2
]
)");
  EXPECT_EQ(d.root["a"], 1);
  EXPECT_EQ(d.root["b"], 2);
  EXPECT_EQ(d.root["c"]["d"], 3);
  EXPECT_EQ(d.root["e"], Json::array({1, 2}));
}

TEST(ConfParse, Maps) {
  Document d = MustParse("a { x: 1, y = 2; z 3 }\nb: { }\nc = {n {m: true}}\nd {\n}\n");
  EXPECT_EQ(d.root["a"], Json::parse(R"({"x":1,"y":2,"z":3})"));
  EXPECT_TRUE(d.root["b"].is_object());
  EXPECT_TRUE(d.root["b"].empty());
  EXPECT_EQ(d.root["c"]["n"]["m"], true);
  EXPECT_TRUE(d.root["d"].empty());
}

TEST(ConfParse, Arrays) {
  Document d = MustParse(R"(a: [1, 2, 3]
b [
  "x"
  y,
  {k: v}
  [nested, 2]
]
c: []
d: [1, 2,]
)");
  EXPECT_EQ(d.root["a"], Json::array({1, 2, 3}));
  EXPECT_EQ(d.root["b"], Json::parse(R"(["x","y",{"k":"v"},["nested",2]])"));
  EXPECT_TRUE(d.root["c"].is_array());
  EXPECT_EQ(d.root["d"], Json::array({1, 2}));
  EXPECT_EQ(d.positions.at("/b/2").line, 5);
  EXPECT_EQ(d.positions.at("/b/2/k").line, 5);
}

TEST(ConfParse, Strings) {
  Document d = MustParse(R"(dq: "a\tb\n\"q\"\\ \x41"
sq: 'raw \t $x "q"'
bare: hello-world.x/y
ip: 127.0.0.1:4222
host: 0.0.0.0
colon: 1:2
digits_then_letters: 4222abc
url: nats://host:4222
escaped_bare: a\tb
hash_inside: abc#def
bcrypt: $2a$11$abcdefghij
bcrypt_b: $2b$10$xyz
)");
  EXPECT_EQ(d.root["dq"], "a\tb\n\"q\"\\ A");
  EXPECT_EQ(d.root["sq"], "raw \\t $x \"q\"");
  EXPECT_EQ(d.root["bare"], "hello-world.x/y");
  EXPECT_EQ(d.root["ip"], "127.0.0.1:4222");
  EXPECT_EQ(d.root["host"], "0.0.0.0");
  EXPECT_EQ(d.root["colon"], "1:2");
  EXPECT_EQ(d.root["digits_then_letters"], "4222abc");
  EXPECT_EQ(d.root["url"], "nats://host:4222");
  EXPECT_EQ(d.root["escaped_bare"], "a\tb");
  EXPECT_EQ(d.root["hash_inside"], "abc#def");
  EXPECT_EQ(d.root["bcrypt"], "$2a$11$abcdefghij");
  EXPECT_EQ(d.root["bcrypt_b"], "$2b$10$xyz");
}

TEST(ConfParse, BlockString) {
  Document d = MustParse("jwt (\nline1\n  line2 ) not end\n)\nafter: 1\n");
  EXPECT_EQ(d.root["jwt"], "\nline1\n  line2 ) not end\n");
  EXPECT_EQ(d.root["after"], 1);
}

TEST(ConfParse, Booleans) {
  Document d = MustParse("a: true\nb: FALSE\nc: yes\nd: No\ne: on\nf: off\ng: \"true\"\n");
  EXPECT_EQ(d.root["a"], true);
  EXPECT_EQ(d.root["b"], false);
  EXPECT_EQ(d.root["c"], true);
  EXPECT_EQ(d.root["d"], false);
  EXPECT_EQ(d.root["e"], true);
  EXPECT_EQ(d.root["f"], false);
  EXPECT_EQ(d.root["g"], "true");
}

TEST(ConfParse, NumbersAndSizes) {
  Document d = MustParse(R"(i: 42
neg: -7
f: 1.5
nf: -0.25
k: 1K
kb: 1KB
ki: 1ki
kib: 1KiB
m: 2m
mb: 2MB
g: 1G
gb: 1GB
ten_gb: 10GB
t: 1T
tb: 1TB
p: 1P
e: 1E
neg_k: -1k
max: 9223372036854775807
date: 1979-05-27T07:32:00Z
)");
  EXPECT_EQ(d.root["i"], 42);
  EXPECT_EQ(d.root["neg"], -7);
  EXPECT_DOUBLE_EQ(d.root["f"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(d.root["nf"].get<double>(), -0.25);
  EXPECT_EQ(d.root["k"], 1000);
  EXPECT_EQ(d.root["kb"], 1024);
  EXPECT_EQ(d.root["ki"], 1024);
  EXPECT_EQ(d.root["kib"], 1024);
  EXPECT_EQ(d.root["m"], 2000000);
  EXPECT_EQ(d.root["mb"], 2 * 1024 * 1024);
  EXPECT_EQ(d.root["g"], 1000000000);
  EXPECT_EQ(d.root["gb"], int64_t{1} << 30);
  EXPECT_EQ(d.root["ten_gb"], int64_t{10} << 30);
  EXPECT_EQ(d.root["t"], int64_t{1000000000000});
  EXPECT_EQ(d.root["tb"], int64_t{1} << 40);
  EXPECT_EQ(d.root["p"], int64_t{1000000000000000});
  EXPECT_EQ(d.root["e"], int64_t{1000000000000000000});
  EXPECT_EQ(d.root["neg_k"], -1000);
  EXPECT_EQ(d.root["max"], INT64_MAX);
  EXPECT_EQ(d.root["date"], "1979-05-27T07:32:00Z");
  EXPECT_TRUE(d.root["i"].is_number_integer());
  EXPECT_TRUE(d.root["f"].is_number_float());
}

TEST(ConfParse, DurationsStayStrings) {
  Document d = MustParse("a: \"2m\"\nb: \"1h30m\"\nc: 2m\n");
  EXPECT_EQ(d.root["a"], "2m");
  EXPECT_EQ(d.root["b"], "1h30m");
  // Unquoted, `2m` is a size: nats-server reads it the same way.
  EXPECT_EQ(d.root["c"], 2000000);
}

TEST(ConfParse, Variables) {
  Document d = MustParse(R"(PORT = 4222
NAME: "srv"
port: $PORT
server_name: $NAME
outer = 1
blk {
  inner = 2
  a: $outer
  b: $inner
  outer = 3
  c: $outer
}
arr: [$PORT, $NAME]
M = {x: 1}
copy: $M
)");
  EXPECT_EQ(d.root["port"], 4222);
  EXPECT_EQ(d.root["server_name"], "srv");
  EXPECT_EQ(d.root["blk"]["a"], 1);
  EXPECT_EQ(d.root["blk"]["b"], 2);
  EXPECT_EQ(d.root["blk"]["c"], 3);
  EXPECT_EQ(d.root["arr"], Json::parse(R"([4222,"srv"])"));
  EXPECT_EQ(d.root["copy"]["x"], 1);
  EXPECT_TRUE(d.referenced.count("/PORT"));
  EXPECT_TRUE(d.referenced.count("/NAME"));
  EXPECT_TRUE(d.referenced.count("/outer"));
  EXPECT_TRUE(d.referenced.count("/blk/inner"));
  EXPECT_TRUE(d.referenced.count("/blk/outer"));
  EXPECT_TRUE(d.referenced.count("/M"));
  EXPECT_FALSE(d.referenced.count("/port"));
}

TEST(ConfParse, EnvironmentVariables) {
  setenv("FJORD_TEST_PORT", "4333", 1);
  setenv("FJORD_TEST_NAME", "\"quoted name\"", 1);
  setenv("FJORD_TEST_LIST", "[a, b]", 1);
  setenv("FJORD_TEST_INDIRECT", "$FJORD_TEST_PORT", 1);
  Document d = MustParse(
      "port: $FJORD_TEST_PORT\nname: $FJORD_TEST_NAME\nl: $FJORD_TEST_LIST\ni: $FJORD_TEST_INDIRECT\n");
  EXPECT_EQ(d.root["port"], 4333);
  EXPECT_EQ(d.root["name"], "quoted name");
  EXPECT_EQ(d.root["l"], Json::array({"a", "b"}));
  EXPECT_EQ(d.root["i"], 4333);
  // A config variable shadows the environment.
  Document s = MustParse("FJORD_TEST_PORT = 1\np: $FJORD_TEST_PORT\n");
  EXPECT_EQ(s.root["p"], 1);
}

TEST(ConfParse, EnvironmentVariableCycle) {
  setenv("FJORD_TEST_A", "$FJORD_TEST_B", 1);
  setenv("FJORD_TEST_B", "$FJORD_TEST_A", 1);
  ParseError e = MustFail("x: $FJORD_TEST_A\n");
  EXPECT_NE(e.msg.find("cycle"), std::string::npos) << e.ToString();
  EXPECT_EQ(e.pos.line, 1);
  EXPECT_EQ(e.pos.col, 4);
}

TEST(ConfParse, UnknownVariable) {
  ParseError e = MustFail("a: 1\nport: $FJORD_NO_SUCH_VARIABLE_X\n");
  EXPECT_EQ(e.ToString(),
            "bad.conf:2:7: variable reference for 'FJORD_NO_SUCH_VARIABLE_X' on line 2 can not be found");
}

TEST(ConfParse, DuplicateKeyLastWins) {
  Document d = MustParse("a { x: 1 }\nb: 1\na { y: 2 }\n");
  EXPECT_EQ(d.root["a"], Json::parse(R"({"y":2})"));
  EXPECT_EQ(d.root.begin().key(), "a");
  EXPECT_EQ(d.positions.count("/a/x"), 0u);
  EXPECT_EQ(d.positions.at("/a").line, 3);
}

TEST(ConfParse, Include) {
  TempDir dir;
  dir.Write("sub/auth.conf", "authorization {\n  token: secret\n}\nAUTHVAR = 7\n");
  dir.Write("sub/js.conf", "store_dir: \"/data\"\nmax_mem: 1G\n");
  std::string main = dir.Write("main.conf",
                               "port: 4222\ninclude sub/auth.conf\njetstream {\n  include \"sub/js.conf\"\n}\n"
                               "x: $AUTHVAR\n");
  ParseResult r = ParseFile(main);
  ASSERT_TRUE(std::holds_alternative<Document>(r)) << std::get<ParseError>(r).ToString();
  const Document& d = std::get<Document>(r);
  EXPECT_EQ(d.root["authorization"]["token"], "secret");
  EXPECT_EQ(d.root["jetstream"]["store_dir"], "/data");
  EXPECT_EQ(d.root["jetstream"]["max_mem"], 1000000000);
  EXPECT_EQ(d.root["x"], 7);
  EXPECT_TRUE(d.referenced.count("/AUTHVAR"));
  Pos p = d.positions.at("/jetstream/max_mem");
  EXPECT_EQ(p.line, 2);
  EXPECT_NE(p.file.find("js.conf"), std::string::npos);
}

TEST(ConfParse, IncludeRelativeToIncludingFile) {
  TempDir dir;
  dir.Write("a/b/leaf.conf", "leaf: 1\n");
  dir.Write("a/mid.conf", "include b/leaf.conf\nmid: 2\n");
  std::string main = dir.Write("main.conf", "include a/mid.conf\n");
  ParseResult r = ParseFile(main);
  ASSERT_TRUE(std::holds_alternative<Document>(r)) << std::get<ParseError>(r).ToString();
  EXPECT_EQ(std::get<Document>(r).root["leaf"], 1);
  EXPECT_EQ(std::get<Document>(r).root["mid"], 2);
}

TEST(ConfParse, IncludeLoopIsAnError) {
  TempDir dir;
  dir.Write("a.conf", "x: 1\ninclude b.conf\n");
  dir.Write("b.conf", "include a.conf\n");
  std::string self = dir.Write("self.conf", "include self.conf\n");
  ParseResult r = ParseFile(dir.path() + "/a.conf");
  ASSERT_TRUE(std::holds_alternative<ParseError>(r));
  const ParseError& e = std::get<ParseError>(r);
  EXPECT_NE(e.msg.find("include loop"), std::string::npos) << e.ToString();
  EXPECT_NE(e.pos.file.find("b.conf"), std::string::npos);
  EXPECT_EQ(e.pos.line, 1);
  ParseResult s = ParseFile(self);
  ASSERT_TRUE(std::holds_alternative<ParseError>(s));
  EXPECT_NE(std::get<ParseError>(s).msg.find("include loop"), std::string::npos);
}

TEST(ConfParse, IncludeDepthLimit) {
  TempDir dir;
  for (int i = 0; i < 5; ++i) {
    dir.Write("f" + std::to_string(i) + ".conf", "include f" + std::to_string(i + 1) + ".conf\n");
  }
  dir.Write("f5.conf", "end: 1\n");
  ParseOptions shallow;
  shallow.max_include_depth = 3;
  ParseResult r = ParseFile(dir.path() + "/f0.conf", shallow);
  ASSERT_TRUE(std::holds_alternative<ParseError>(r));
  EXPECT_NE(std::get<ParseError>(r).msg.find("nested deeper than 3"), std::string::npos);
  ParseResult ok = ParseFile(dir.path() + "/f0.conf");
  ASSERT_TRUE(std::holds_alternative<Document>(ok));
  EXPECT_EQ(std::get<Document>(ok).root["end"], 1);
}

TEST(ConfParse, IncludeMissingFile) {
  TempDir dir;
  std::string main = dir.Write("main.conf", "a: 1\n  include nope.conf\n");
  ParseResult r = ParseFile(main);
  ASSERT_TRUE(std::holds_alternative<ParseError>(r));
  const ParseError& e = std::get<ParseError>(r);
  EXPECT_EQ(e.pos.line, 2);
  EXPECT_EQ(e.pos.col, 3);
  EXPECT_NE(e.msg.find("nope.conf"), std::string::npos);
}

TEST(ConfParse, IncludeRejectsDevices) {
  ParseError e = MustFail("include /dev/zero\n");
  EXPECT_NE(e.msg.find("not a regular file"), std::string::npos) << e.ToString();
}

TEST(ConfParse, ErrorPositions) {
  struct Case {
    const char* text;
    int line;
    int col;
    const char* fragment;
  };
  const Case cases[] = {
      {"a: 1\nb: \"unterminated\n", 2, 4, "closing '\"'"},
      {"a {\n  b: 1\n", 1, 3, "closing '}'"},
      {"a: [1, 2\n", 1, 4, "closing ']'"},
      {"a: 1 x\n", 1, 6, "after a value"},
      {"a: \"bad \\q escape\"\n", 1, 9, "invalid escape"},
      {"\n\n  b: .5\n", 3, 6, "start with a digit"},
      {"a: 1.\n", 1, 4, "digit after the '.'"},
      {"a: 1.5K\n", 1, 4, "invalid number"},
      {"a: 99999999999999999999\n", 1, 4, "out of range"},
      {"a: 10E\n", 1, 4, "out of range"},
      {"a:\nb: 1\n", 1, 3, "expected a value"},
      {"}\n", 1, 1, "without a matching"},
      {"a: [1,,2]\n", 1, 7, "unexpected ','"},
      {"a { b: 1 ] }\n", 1, 10, "after a value"},
      {"x (\nno end\n", 1, 3, "')' alone"},
      {"a: $\n", 1, 4, "variable name"},
      {"{ a: 1 } b\n", 1, 10, "after the closing"},
      {": 1\n", 1, 1, "expected a key"},
      {"a:\n  5\n", 1, 3, "expected a value for key 'a'"},
  };
  for (const auto& c : cases) {
    ParseError e = MustFail(c.text);
    EXPECT_EQ(e.pos.line, c.line) << c.text << " -> " << e.ToString();
    EXPECT_EQ(e.pos.col, c.col) << c.text << " -> " << e.ToString();
    EXPECT_NE(e.msg.find(c.fragment), std::string::npos) << c.text << " -> " << e.ToString();
    EXPECT_EQ(e.pos.file, "bad.conf");
  }
}

TEST(ConfParse, ErrorToString) {
  ParseError e = MustFail("a: 1\n  b: \"x\\z\"\n");
  EXPECT_EQ(e.ToString().rfind("bad.conf:2:8: ", 0), 0u) << e.ToString();
}

TEST(ConfParse, NestingLimit) {
  std::string deep(200, '[');
  ParseError e = MustFail("a: " + deep);
  EXPECT_NE(e.msg.find("nested deeper"), std::string::npos) << e.ToString();
  std::string maps;
  for (int i = 0; i < 200; ++i) maps += "a {";
  e = MustFail(maps);
  EXPECT_NE(e.msg.find("nested deeper"), std::string::npos) << e.ToString();
}

TEST(ConfParse, VariableExpansionIsBounded) {
  std::string text = "v0 = [1,1,1,1,1,1,1,1]\n";
  for (int i = 1; i < 12; ++i) {
    std::string p = "$v" + std::to_string(i - 1);
    text += "v" + std::to_string(i) + " = [" + p + "," + p + "," + p + "," + p + "," + p + "," + p +
            "," + p + "," + p + "]\n";
  }
  ParseError e = MustFail(text);
  EXPECT_NE(e.msg.find("more than"), std::string::npos) << e.ToString();
}

TEST(ConfParse, CrLfLineEndings) {
  Document d = MustParse("a: 1\r\nb {\r\n  c: \"x\"\r\n}\r\nd: [1,\r\n 2]\r\n");
  EXPECT_EQ(d.root["a"], 1);
  EXPECT_EQ(d.root["b"]["c"], "x");
  EXPECT_EQ(d.root["d"], Json::array({1, 2}));
}

TEST(ConfParse, IncludeDisabled) {
  ParseOptions none;
  none.max_include_depth = 0;
  ParseError e = MustFail("include x.conf\n", none);
  EXPECT_NE(e.msg.find("not allowed"), std::string::npos);
}

TEST(ConfParse, JoinPointerEscapes) {
  EXPECT_EQ(JoinPointer("/a", "b/c~d"), "/a/b~1c~0d");
}

}  // namespace
}  // namespace fjord::conf
