#include "conf/options.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <map>

#include "fjord_version.h"

namespace fjord::conf {
namespace {

using namespace std::chrono_literals;

class TempConf {
 public:
  explicit TempConf(const std::string& text) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fjord-opts-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    path_ = dir_ + "/server.conf";
    std::ofstream(path_) << text;
  }
  ~TempConf() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string path_;
};

std::variant<ServerOptions, std::string> Load(std::vector<std::string> args) {
  args.insert(args.begin(), "fjord-server");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return LoadOptions(static_cast<int>(args.size()), argv.data());
}

ServerOptions MustLoad(std::vector<std::string> args) {
  auto r = Load(std::move(args));
  if (auto* err = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << "load failed: " << *err;
    return ServerOptions{};
  }
  return std::get<ServerOptions>(std::move(r));
}

std::string MustFail(std::vector<std::string> args) {
  auto r = Load(std::move(args));
  if (std::holds_alternative<ServerOptions>(r)) {
    ADD_FAILURE() << "expected an error";
    return "";
  }
  return std::get<std::string>(r);
}

ServerOptions LoadText(const std::string& text) {
  TempConf conf(text);
  return MustLoad({"-c", conf.path()});
}

std::string FailText(const std::string& text) {
  TempConf conf(text);
  std::string err = MustFail({"-c", conf.path()});
  // Make messages comparable: strip the temporary directory.
  for (size_t at; (at = err.find(conf.path())) != std::string::npos;) err.replace(at, conf.path().size(), "f.conf");
  return err;
}

TEST(Options, Defaults) {
  ServerOptions o = MustLoad({});
  EXPECT_EQ(o.host, "0.0.0.0");
  EXPECT_EQ(o.port, 4222);
  EXPECT_EQ(o.max_payload, 1024 * 1024);
  EXPECT_EQ(o.max_control_line, 4096);
  EXPECT_EQ(o.max_connections, 65536);
  EXPECT_EQ(o.max_pending, 64 * 1024 * 1024);
  EXPECT_EQ(o.max_subscriptions, 0);
  EXPECT_EQ(o.ping_interval, 2min);
  EXPECT_EQ(o.ping_max, 2);
  EXPECT_EQ(o.write_deadline, 10s);
  EXPECT_EQ(o.auth.timeout, 2s);
  EXPECT_TRUE(o.logtime);
  EXPECT_FALSE(o.jetstream.enabled);
  EXPECT_EQ(o.jetstream.max_memory, -1);
  EXPECT_EQ(o.jetstream.max_store, -1);
  EXPECT_EQ(o.jetstream.sync, SyncMode::kAlways);
  EXPECT_FALSE(o.exit_now);
  EXPECT_TRUE(o.warnings.empty());
}

TEST(Options, BriefExample) {
  ServerOptions o = LoadText(R"(server_name: "norway-broker-01"
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
  EXPECT_EQ(o.server_name, "norway-broker-01");
  EXPECT_EQ(o.host, "0.0.0.0");
  EXPECT_EQ(o.port, 4222);
  EXPECT_TRUE(o.jetstream.enabled);
  EXPECT_EQ(o.jetstream.store_dir, "/var/lib/nats-data");
  EXPECT_EQ(o.jetstream.max_memory, 1000000000);
  EXPECT_EQ(o.jetstream.max_store, 10000000000);
  EXPECT_EQ(o.auth.token, "s3cr3t_token_for_internal_services");
  EXPECT_TRUE(o.warnings.empty());
}

TEST(Options, TopLevelOptions) {
  ServerOptions o = LoadText(R"(
Port: 5222
host: 127.0.0.1
max_payload: 2MB
max_pending: 100MB
max_control_line: 8KB
max_conn: 10
max_subs: 100
ping_interval: "30s"
ping_max: 5
write_deadline: "1h30m"
lame_duck_duration: "45s"
lame_duck_grace_period: "500ms"
no_header_support: true
debug: yes
trace: on
logtime: false
logfile: "/tmp/x.log"
pid_file: "/tmp/x.pid"
http_port: 8222
no_auth_user: bob
client_advertise: "example.com:4222"
authorization { users: [ {user: bob, password: pw} ] }
)");
  EXPECT_EQ(o.port, 5222);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.max_payload, 2 * 1024 * 1024);
  EXPECT_EQ(o.max_pending, 100 * 1024 * 1024);
  EXPECT_EQ(o.max_control_line, 8192);
  EXPECT_EQ(o.max_connections, 10);
  EXPECT_EQ(o.max_subscriptions, 100);
  EXPECT_EQ(o.ping_interval, 30s);
  EXPECT_EQ(o.ping_max, 5);
  EXPECT_EQ(o.write_deadline, 90min);
  EXPECT_EQ(o.lame_duck_duration, 45s);
  EXPECT_EQ(o.lame_duck_grace_period, 500ms);
  EXPECT_TRUE(o.no_header_support);
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(o.trace);
  EXPECT_FALSE(o.logtime);
  EXPECT_EQ(o.log_file, "/tmp/x.log");
  EXPECT_EQ(o.pid_file, "/tmp/x.pid");
  EXPECT_EQ(o.http_port, 8222);
  EXPECT_EQ(o.no_auth_user, "bob");
  EXPECT_EQ(o.client_advertise, "example.com:4222");
  EXPECT_TRUE(o.warnings.empty());
}

TEST(Options, Listen) {
  EXPECT_EQ(LoadText("listen: 4333\n").port, 4333);
  ServerOptions o = LoadText("listen: \"127.0.0.1:4444\"\n");
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 4444);
  o = LoadText("listen: \"[::1]:4555\"\n");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 4555);
  EXPECT_EQ(FailText("listen: localhost\n"), "f.conf:1:1: could not parse address string \"localhost\"");
  o = LoadText("http: 127.0.0.1:8222\n");
  EXPECT_EQ(o.http_host, "127.0.0.1");
  EXPECT_EQ(o.http_port, 8222);
}

TEST(Options, Durations) {
  EXPECT_EQ(std::get<Duration>(ParseDuration("2m")), 2min);
  EXPECT_EQ(std::get<Duration>(ParseDuration("10s")), 10s);
  EXPECT_EQ(std::get<Duration>(ParseDuration("1h30m")), 90min);
  EXPECT_EQ(std::get<Duration>(ParseDuration("500ms")), 500ms);
  EXPECT_EQ(std::get<Duration>(ParseDuration("1.5s")), 1500ms);
  EXPECT_EQ(std::get<Duration>(ParseDuration("2us")), 2us);
  EXPECT_EQ(std::get<Duration>(ParseDuration("2\xC2\xB5s")), 2us);
  EXPECT_EQ(std::get<Duration>(ParseDuration("7ns")), 7ns);
  EXPECT_EQ(std::get<Duration>(ParseDuration("-1m")), -1min);
  EXPECT_EQ(std::get<Duration>(ParseDuration("0")), 0s);
  EXPECT_EQ(std::get<std::string>(ParseDuration("5x")), "time: unknown unit \"x\" in duration \"5x\"");
  EXPECT_EQ(std::get<std::string>(ParseDuration("5")), "time: missing unit in duration \"5\"");
  EXPECT_EQ(std::get<std::string>(ParseDuration("")), "time: invalid duration \"\"");
  EXPECT_EQ(std::get<std::string>(ParseDuration("s")), "time: invalid duration \"s\"");
  EXPECT_TRUE(std::holds_alternative<std::string>(ParseDuration("99999999999h")));
}

TEST(Options, IntegerDurationMeansSecondsWithWarning) {
  ServerOptions o = LoadText("ping_interval: 5\n");
  EXPECT_EQ(o.ping_interval, 5s);
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_NE(o.warnings[0].find("invalid use of field \"ping_interval\": ping_interval should be "
                               "converted to a duration"),
            std::string::npos)
      << o.warnings[0];
  EXPECT_NE(FailText("write_deadline: \"5x\"\n").find("error parsing write_deadline: time: unknown unit"),
            std::string::npos);
}

TEST(Options, UnknownFields) {
  EXPECT_EQ(FailText("port: 1\nfoo: 1\n"), "f.conf:2:1: unknown field \"foo\"");
  EXPECT_EQ(FailText("authorization {\n  userx: 1\n}\n"), "f.conf:2:3: unknown field \"userx\"");
  EXPECT_EQ(FailText("jetstream { max_mem: \"1G\", foo: 2 }\n"), "f.conf:1:28: unknown field \"foo\"");
  // An unused variable is an unknown field; a used one is fine.
  EXPECT_EQ(FailText("port: 4222\nVAR = 5\n"), "f.conf:2:1: unknown field \"VAR\"");
  EXPECT_EQ(LoadText("VAR = 5000\nport: $VAR\n").port, 5000);
  EXPECT_EQ(LoadText("authorization {\n  T = abc\n  token: $T\n}\n").auth.token, "abc");
  // Every error is reported, one per line.
  EXPECT_EQ(FailText("a: 1\nb: 2\n"), "f.conf:1:1: unknown field \"a\"\nf.conf:2:1: unknown field \"b\"");
}

TEST(Options, TypeErrors) {
  EXPECT_EQ(FailText("port: \"abc\"\n"), "f.conf:1:1: port must be an integer, got a string");
  EXPECT_EQ(FailText("debug: \"true\"\n"), "f.conf:1:1: debug must be a boolean, got a string");
  EXPECT_EQ(FailText("max_payload: 3GB\n"), "f.conf:1:1: max_payload value is too big");
  EXPECT_EQ(FailText("server_name: \"a b\"\n"), "f.conf:1:1: server name cannot contain spaces");
  EXPECT_EQ(FailText("port: 70000\n"), "f.conf:1:1: port value is too big");
}

TEST(Options, ParseErrorsNamePosition) {
  EXPECT_EQ(FailText("port: 4222\n  debug: \"x\\q\"\n"),
            "f.conf:2:12: invalid escape '\\q'; only \\xXX, \\t, \\n, \\r, \\\" and \\\\ are allowed");
}

TEST(Options, MissingConfigFile) {
  std::string err = MustFail({"-c", "/nonexistent/fjord.conf"});
  EXPECT_NE(err.find("/nonexistent/fjord.conf"), std::string::npos) << err;
  EXPECT_NE(err.find("error opening config file"), std::string::npos) << err;
}

TEST(Options, JetStream) {
  EXPECT_TRUE(LoadText("jetstream: enabled\n").jetstream.enabled);
  EXPECT_TRUE(LoadText("jetstream: true\n").jetstream.enabled);
  EXPECT_FALSE(LoadText("jetstream: disabled\n").jetstream.enabled);
  EXPECT_FALSE(LoadText("jetstream { enabled: false }\n").jetstream.enabled);
  EXPECT_EQ(FailText("jetstream: \"yes\"\n"),
            "f.conf:1:1: Expected 'enabled' or 'disabled' for string value, got 'yes'");

  ServerOptions o = LoadText(
      "jetstream {\n  store: /d\n  max_memory_store: \"1T\"\n  max_file_store: \"512M\"\n  domain: hub\n}\n");
  EXPECT_EQ(o.jetstream.store_dir, "/d");
  EXPECT_EQ(o.jetstream.max_memory, int64_t{1} << 40);
  EXPECT_EQ(o.jetstream.max_store, int64_t{512} << 20);
  EXPECT_EQ(o.jetstream.domain, "hub");
  EXPECT_EQ(LoadText("jetstream { max_mem: \"10K\" }\n").jetstream.max_memory, 10240);
  EXPECT_EQ(FailText("jetstream { max_mem: \"1X\" }\n"),
            "f.conf:1:13: max_mem_store sizes defined as strings must end in K, M, G, T");
  EXPECT_EQ(FailText("jetstream { max_mem: 1.5 }\n"), "f.conf:1:13: max_mem_store must be int64 or string");

  EXPECT_EQ(LoadText("store_dir: /x\njetstream: enabled\n").jetstream.store_dir, "/x");
  EXPECT_EQ(FailText("store_dir: /x\njetstream { store_dir: /y }\n"),
            "f.conf:2:13: Duplicate 'store_dir' configuration");
  EXPECT_NE(FailText("jetstream { key: abc }\n").find("not supported"), std::string::npos);
}

TEST(Options, JetStreamDefaultStoreDir) {
  setenv("TMPDIR", "/some/tmp", 1);
  EXPECT_EQ(MustLoad({"-js"}).jetstream.store_dir, "/some/tmp/nats");
  unsetenv("TMPDIR");
  EXPECT_EQ(MustLoad({"-js"}).jetstream.store_dir, "/tmp/nats");
  EXPECT_EQ(MustLoad({}).jetstream.store_dir, "");
}

TEST(Options, SyncInterval) {
  ServerOptions o = LoadText("jetstream { sync_interval: \"2m\" }\n");
  EXPECT_EQ(o.jetstream.sync, SyncMode::kInterval);
  EXPECT_EQ(o.jetstream.sync_interval, 2min);
  o = LoadText("jetstream { sync: always }\n");
  EXPECT_EQ(o.jetstream.sync, SyncMode::kAlways);
  o = LoadText("jetstream { sync_interval: \"always\" }\n");
  EXPECT_EQ(o.jetstream.sync, SyncMode::kAlways);
  EXPECT_NE(FailText("jetstream { sync_interval: \"0s\" }\n").find("positive"), std::string::npos);
}

TEST(Options, IndexCache) {
  EXPECT_EQ(LoadText("jetstream {}\n").jetstream.index_cache, 64 << 20);
  EXPECT_EQ(LoadText("jetstream { index_cache: 128MB }\n").jetstream.index_cache, 128 << 20);
  EXPECT_EQ(LoadText("jetstream { index_cache: 0 }\n").jetstream.index_cache, 0);
  EXPECT_NE(FailText("jetstream { index_cache: \"lots\" }\n"), "");
  EXPECT_EQ(LoadText("jetstream {}\n").jetstream.scrub_interval, std::chrono::hours(24));
  EXPECT_EQ(LoadText("jetstream { scrub_interval: \"1s\" }\n").jetstream.scrub_interval, std::chrono::seconds(1));
  EXPECT_EQ(LoadText("jetstream { scrub_interval: \"0s\" }\n").jetstream.scrub_interval.count(), 0);
  EXPECT_NE(FailText("jetstream { scrub_interval: \"-1s\" }\n"), "");
  EXPECT_NE(FailText("jetstream { scrub_interval: \"often\" }\n"), "");
}

TEST(Options, Authorization) {
  ServerOptions o = LoadText(R"(authorization {
  user: alice
  password: "s3cret"
  timeout: 1.5
}
)");
  EXPECT_EQ(o.auth.username, "alice");
  EXPECT_EQ(o.auth.password, "s3cret");
  EXPECT_EQ(o.auth.timeout, 1500ms);
  EXPECT_EQ(LoadText("authorization { timeout: \"3s\" }\n").auth.timeout, 3s);
  EXPECT_EQ(LoadText("authorization { timeout: 3 }\n").auth.timeout, 3s);

  EXPECT_EQ(FailText("authorization { token: a, user: b, password: c }\n"),
            "Cannot have a user/pass and token");
  EXPECT_EQ(FailText("authorization { user: b, password: c, users: [{user: x, password: y}] }\n"),
            "Can not have a single user/pass and a users array");
}

TEST(Options, UsersAndPermissions) {
  ServerOptions o = LoadText(R"(authorization {
  default_permissions: { publish: "default.>" }
  users = [
    {user: alice, password: "$2a$11$abcdefghijklmnopqrstuv", permissions: {publish: ["app.>", "x"], subscribe: {deny: ["secret.>"]}}}
    {user: bob, pass: pw, permissions: {pub: {allow: "a", deny: ["b", "c"]}, sub: "_INBOX.>", allow_responses: true}}
    {nkey: UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK}
    {user: carol, password: pw, permissions: {allow_responses: {max: 3, expires: "5s"}}, allowed_connection_types: ["STANDARD"]}
  ]
}
)");
  ASSERT_EQ(o.auth.users.size(), 4u);
  const User& alice = o.auth.users[0];
  EXPECT_EQ(alice.username, "alice");
  EXPECT_EQ(alice.password, "$2a$11$abcdefghijklmnopqrstuv");
  ASSERT_TRUE(alice.permissions && alice.permissions->publish && alice.permissions->subscribe);
  EXPECT_EQ(alice.permissions->publish->allow, (std::vector<std::string>{"app.>", "x"}));
  EXPECT_TRUE(alice.permissions->publish->deny.empty());
  EXPECT_TRUE(alice.permissions->subscribe->allow.empty());
  EXPECT_EQ(alice.permissions->subscribe->deny, (std::vector<std::string>{"secret.>"}));

  const User& bob = o.auth.users[1];
  EXPECT_EQ(bob.password, "pw");
  ASSERT_TRUE(bob.permissions && bob.permissions->publish && bob.permissions->subscribe);
  EXPECT_EQ(bob.permissions->publish->allow, (std::vector<std::string>{"a"}));
  EXPECT_EQ(bob.permissions->publish->deny, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(bob.permissions->subscribe->allow, (std::vector<std::string>{"_INBOX.>"}));
  ASSERT_TRUE(bob.permissions->allow_responses);
  EXPECT_EQ(bob.permissions->allow_responses->max_msgs, 1);
  EXPECT_EQ(bob.permissions->allow_responses->expires, 2min);

  EXPECT_EQ(o.auth.users[2].nkey, "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK");
  EXPECT_FALSE(o.auth.users[2].permissions);

  const User& carol = o.auth.users[3];
  ASSERT_TRUE(carol.permissions && carol.permissions->allow_responses);
  EXPECT_FALSE(carol.permissions->publish);
  EXPECT_EQ(carol.permissions->allow_responses->max_msgs, 3);
  EXPECT_EQ(carol.permissions->allow_responses->expires, 5s);
  EXPECT_EQ(carol.allowed_connection_types, (std::vector<std::string>{"STANDARD"}));

  ASSERT_TRUE(o.auth.default_permissions && o.auth.default_permissions->publish);
  EXPECT_EQ(o.auth.default_permissions->publish->allow, (std::vector<std::string>{"default.>"}));
}

TEST(Options, UserErrors) {
  EXPECT_EQ(FailText("authorization {\n  users [ {user: a, password: b, foo: 1} ]\n}\n"),
            "f.conf:2:34: unknown field \"foo\"");
  EXPECT_EQ(FailText("authorization {\n  users [ {user: a, permissions: {publish: {allowx: 1}}} ]\n}\n"),
            "f.conf:2:45: Unknown field name \"allowx\" parsing subject permissions, only 'allow' or "
            "'deny' are permitted");
  EXPECT_EQ(FailText("authorization { users [ {user: a}, {user: a} ] }\n"),
            "f.conf:1:36: Duplicate user \"a\" detected");
  EXPECT_EQ(FailText("authorization { users [ {password: a} ] }\n"), "f.conf:1:25: User entry requires a user");
  EXPECT_EQ(FailText("no_auth_user: x\n"), "no_auth_user: \"x\" present, but users are not defined");
  EXPECT_EQ(FailText("no_auth_user: x\nauthorization { users: [{user: y, password: z}] }\n"),
            "no_auth_user: \"x\" not present as user or nkey in authorization block or account "
            "configuration");
}

TEST(Options, NotSupported) {
  EXPECT_EQ(FailText("gateway { port: 7222 }\n"), "f.conf:1:1: \"gateway\" is not supported by Fjord");
  ServerOptions o = LoadText("prof_port: 6060\n");
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_NE(o.warnings[0].find(":1:1: \"prof_port\" is not supported by Fjord and is ignored"),
            std::string::npos)
      << o.warnings[0];
}

TEST(Options, Accounts) {
  ServerOptions o = LoadText(R"(
accounts {
  A: { users: [{user: a, password: a}, {user: a2, password: a2, permissions: {publish: "x"}}],
       default_permissions: {subscribe: {deny: "secret.>"}},
       jetstream: {max_mem: 1MB, max_file: 2G, max_streams: 3, max_consumers: 4},
       exports: [{stream: "events.>"}, {service: "svc.>", response_type: stream, response_threshold: "5s", accounts: [B]}],
       limits: {max_connections: 10, max_subscriptions: 20, max_payload: 1024} }
  B: { users: [{user: b, password: b}], jetstream: enabled,
       imports: [{stream: {account: A, subject: "events.>"}, prefix: "a"},
                 {service: {account: A, subject: "svc.x"}, to: "asvc"}] }
}
authorization { users: [{user: g, password: g}, {user: c, password: c, account: B}] }
no_auth_user: b
)");
  ASSERT_EQ(o.accounts.size(), 2u);
  const AccountOptions& a = o.accounts[0];
  EXPECT_EQ(a.name, "A");
  EXPECT_TRUE(a.jetstream.enabled);
  EXPECT_EQ(a.jetstream.max_memory, 1 << 20);
  EXPECT_EQ(a.jetstream.max_store, 2000000000);
  EXPECT_EQ(a.jetstream.max_streams, 3);
  EXPECT_EQ(a.jetstream.max_consumers, 4);
  ASSERT_EQ(a.exports.size(), 2u);
  EXPECT_FALSE(a.exports[0].service);
  EXPECT_TRUE(a.exports[1].service);
  EXPECT_EQ(a.exports[1].response_type, "stream");
  EXPECT_EQ(a.exports[1].response_threshold, std::chrono::seconds(5));
  EXPECT_EQ(a.exports[1].accounts, std::vector<std::string>{"B"});
  EXPECT_EQ(a.max_connections, 10);
  EXPECT_EQ(a.max_subscriptions, 20);
  EXPECT_EQ(a.max_payload, 1024);
  const AccountOptions& b = o.accounts[1];
  EXPECT_TRUE(b.jetstream.enabled);
  EXPECT_EQ(b.jetstream.max_streams, -1);
  ASSERT_EQ(b.imports.size(), 2u);
  EXPECT_EQ(b.imports[0].prefix, "a");
  EXPECT_TRUE(b.imports[1].service);
  EXPECT_EQ(b.imports[1].to, "asvc");
  std::map<std::string, const User*> users;
  for (const auto& u : o.auth.users) users[u.username] = &u;
  ASSERT_EQ(users.size(), 5u);
  EXPECT_EQ(users["a"]->account, "A");
  // The account's default permissions fill in for users without their own.
  ASSERT_TRUE(users["a"]->permissions && users["a"]->permissions->subscribe);
  EXPECT_EQ(users["a"]->permissions->subscribe->deny, std::vector<std::string>{"secret.>"});
  EXPECT_FALSE(users["a2"]->permissions->subscribe);
  EXPECT_EQ(users["g"]->account, "");
  EXPECT_EQ(users["c"]->account, "B");
}

TEST(Options, AccountErrors) {
  EXPECT_EQ(FailText("accounts { $G: {} }\n"), "f.conf:1:12: \"$G\" is a Reserved Account");
  EXPECT_EQ(FailText("accounts { A: { users: [{user: a, password: a}] }, B: { users: [{user: a, password: b}] } }\n"),
            "Duplicate user \"a\" detected");
  EXPECT_EQ(FailText("accounts { A: { imports: [{stream: {account: Z, subject: x}}] } }\n"),
            "\"Z\" account not defined for stream import");
  EXPECT_EQ(FailText("accounts { A: {}, B: { imports: [{stream: {account: A, subject: x}}] } }\n"),
            "Error adding stream import \"x\": stream import not authorized");
  EXPECT_EQ(FailText("accounts { A: { exports: [{service: \"s.>\", accounts: [C]}] }, C: {}, "
                     "B: { imports: [{service: {account: A, subject: s.x}}] } }\n"),
            "Error adding service import \"s.x\": service import not authorized");
  EXPECT_EQ(FailText("accounts { A: { exports: [{stream: x, response_type: singleton}] } }\n"),
            "f.conf:1:27: Detected response directive on non-service");
  EXPECT_EQ(FailText("accounts { A: { exports: [{service: x, response_type: bulk}] } }\n"),
            "f.conf:1:40: Unknown response type: \"bulk\"");
  EXPECT_EQ(FailText("accounts { A: { exports: [{stream: x}] }, B: { imports: [{stream: {account: A, subject: x}, "
                     "prefix: p, to: q}] } }\n"),
            "f.conf:1:58: Stream import can not have a 'prefix' and a 'to' property");
  EXPECT_EQ(FailText("accounts { A: { jetstream: maybe } }\n"),
            "f.conf:1:17: Expected 'enabled' or 'disabled' for string value, got 'maybe'");
  EXPECT_EQ(FailText("authorization { users: [{user: a, password: a, account: Q}] }\n"),
            "user \"a\": account \"Q\" is not defined");
  EXPECT_EQ(FailText("accounts { A: { bogus: 1 } }\n"), "f.conf:1:17: unknown field \"bogus\"");
}

// An operator JWT made by the official @nats-io/jwt 0.0.11 (operator "OP"
// with a system account).
constexpr const char* kOperatorJwt =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJhdWQiOiJOQVRTIiwibmFtZSI6Ik9QIiwic3ViIjoiT0JUQkpHSEZER"
    "FhFTFpITVpESTNNTzJIV0ZFRkdRRTcyQ0dFRlRSRUdXQzVIU1NPMkZIUUtOSVFTIiwibmF0cyI6eyJzeXN0ZW1fYWNjb3VudCI6IkFC"
    "QlFCNzJYR1hSWVo3TElWRVFTN05LM01DTERLSFlVRUlYUlBVV041Wk40UEtOQUJGS1ZGMjRSIiwidHlwZSI6Im9wZXJhdG9yIiwidmVy"
    "c2lvbiI6Mn0sImlzcyI6Ik9CVEJKR0hGRFhFTFpITVpESTNNTzJIV0ZFRkdRRTcyQ0dFRlRSRUdXQzVIU1NPMkZIUUtOSVFTIiwiaWF0"
    "IjoxNzk2MzUzNTI1LCJqdGkiOiJma0FhMlJUbENVZEFWOVF0UHpIekZyYjB3aUdxVmVBZnN0YnlsRDg1UkFxRkZyc2tueWdoa05CcE43"
    "TlREWUV5ckU3YjR4RFc0emRxK2tBRG5PRkZCUT09In0.";

TEST(Options, OperatorMode) {
  // The signature part is left out above: a token that does not verify is
  // an error naming why.
  EXPECT_NE(FailText(std::string("operator: \"") + kOperatorJwt + "xx\"\nresolver: MEMORY\n")
                .find("error parsing operator JWT: "),
            std::string::npos);
  EXPECT_EQ(FailText("operator: /nonexistent/op.jwt\nresolver: MEMORY\n"),
            "f.conf:1:1: error parsing operator JWT: open /nonexistent/op.jwt: no such file or directory");
  EXPECT_EQ(FailText("resolver: MEMORY\n"), "resolver or resolver_preload need an operator");
  EXPECT_EQ(FailText("resolver: URL(\"http://x\")\n"),
            "f.conf:1:1: the URL account resolver is not supported by Fjord (use MEMORY or a full directory resolver)");
  EXPECT_EQ(FailText("resolver: {type: full}\n"), "f.conf:1:1: dir has no value and needs to point to a directory");
  EXPECT_EQ(FailText("resolver: {type: cache, dir: /tmp}\n"),
            "f.conf:1:1: the CACHE account resolver is not supported by Fjord (use FULL)");
  EXPECT_EQ(FailText("resolver_preload: {A: 1}\n"), "f.conf:1:20: preload map value should be a string JWT");
  EXPECT_EQ(FailText("resolver_preload: {A: \"x.y.z\"}\n"), "f.conf:1:20: invalid account JWT");
}

TEST(Options, Mappings) {
  ServerOptions o = LoadText(R"(
mappings {
  "a.*": "b.$1"
  w: [ {destination: x, weight: "30%"}, {destination: y, weight: 70} ]
}
accounts { A: { mappings: { in: out } } }
)");
  ASSERT_EQ(o.mappings.size(), 2u);
  EXPECT_EQ(o.mappings[0].source, "a.*");
  EXPECT_EQ(o.mappings[0].dests[0].subject, "b.$1");
  EXPECT_EQ(o.mappings[0].dests[0].weight, 100);
  ASSERT_EQ(o.mappings[1].dests.size(), 2u);
  EXPECT_EQ(o.mappings[1].dests[0].weight, 30);
  ASSERT_EQ(o.accounts[0].mappings.size(), 1u);
  EXPECT_EQ(FailText("mappings { x: [ {destination: a, weight: 60}, {destination: b, weight: 60} ] }\n"),
            "f.conf:1:12: Error adding mapping for \"x\" : total weight needs to be <= 100");
  EXPECT_EQ(FailText("mappings { x: {destination: a, weight: 101} }\n"),
            "f.conf:1:32: Invalid weight 101 for mapping destination");
  EXPECT_EQ(FailText("mappings { x: {destination: a} }\n"), "f.conf:1:12: Missing weight for mapping destination \"a\"");
  EXPECT_EQ(FailText("mappings { \"a.*\": \"b.$2\" }\n"),
            "f.conf:1:12: Error adding mapping for \"a.*\" to \"b.$2\" : invalid mapping destination: wildcard index out of range in $2");
  EXPECT_EQ(FailText("mappings { \"a..b\": c }\n"), "f.conf:1:12: Subject \"a..b\" is not a valid subject");
}

TEST(Options, MaxPayloadAboveMaxPending) {
  EXPECT_EQ(FailText("max_payload: 70MB\n"), "max_payload (73400320) cannot be higher than max_pending (67108864)");
}

TEST(Options, IncludeAndVariables) {
  TempConf conf("PORT = 4999\nport: $PORT\ninclude auth.conf\n");
  std::ofstream(conf.dir() + "/auth.conf") << "authorization { token: $TOKEN }\nTOKEN = x\n";
  // TOKEN is defined after use inside the included file: it comes from the environment.
  setenv("TOKEN", "from-env", 1);
  std::string err = MustFail({"-c", conf.path()});
  // The unused variable TOKEN defined in auth.conf is reported in auth.conf.
  EXPECT_NE(err.find("auth.conf:2:1: unknown field \"TOKEN\""), std::string::npos) << err;
  unsetenv("TOKEN");
}

TEST(Options, FlagsOverrideFile) {
  TempConf conf("port: 1111\nserver_name: file\ndebug: false\njetstream { store_dir: /from/file }\n");
  ServerOptions o = MustLoad({"-c", conf.path(), "-p", "2222", "--name=flag", "-DV", "-sd", "/from/flag",
                              "-js", "-a", "127.0.0.1", "-m", "8222", "-l", "/tmp/l.log", "-P", "/tmp/p.pid"});
  EXPECT_EQ(o.port, 2222);
  EXPECT_EQ(o.server_name, "flag");
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(o.trace);
  EXPECT_EQ(o.jetstream.store_dir, "/from/flag");
  EXPECT_TRUE(o.jetstream.enabled);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.http_port, 8222);
  EXPECT_EQ(o.log_file, "/tmp/l.log");
  EXPECT_EQ(o.pid_file, "/tmp/p.pid");
  EXPECT_EQ(o.config_file, conf.path());

  // Flags before -c still win over the file.
  o = MustLoad({"--port", "3333", "--config", conf.path()});
  EXPECT_EQ(o.port, 3333);
}

TEST(Options, FlagForms) {
  ServerOptions o = MustLoad({"--addr=10.0.0.1", "-port=5555", "-T=false", "--user", "u", "--pass", "p"});
  EXPECT_EQ(o.host, "10.0.0.1");
  EXPECT_EQ(o.port, 5555);
  EXPECT_FALSE(o.logtime);
  EXPECT_EQ(o.auth.username, "u");
  EXPECT_EQ(o.auth.password, "p");
  EXPECT_EQ(MustLoad({"--auth", "tok"}).auth.token, "tok");
  EXPECT_EQ(MustLoad({"-net", "1.2.3.4"}).host, "1.2.3.4");
  EXPECT_EQ(MustLoad({"-n", "x"}).server_name, "x");
  EXPECT_EQ(MustLoad({"--server_name", "y"}).server_name, "y");
  o = MustLoad({"-VV"});
  EXPECT_TRUE(o.trace && o.trace_verbose && !o.debug);
  o = MustLoad({"-DVV"});
  EXPECT_TRUE(o.trace && o.trace_verbose && o.debug);
  o = MustLoad({"-D", "-V"});
  EXPECT_TRUE(o.trace && o.debug);
  EXPECT_TRUE(MustLoad({"--jetstream"}).jetstream.enabled);
  EXPECT_FALSE(MustLoad({"-js=false"}).jetstream.enabled);
  EXPECT_EQ(MustLoad({"-ms", "8443", "--tls", "--tlscert", "c", "--tlskey", "k"}).https_port, 8443);
}

TEST(Options, Tls) {
  ServerOptions o = LoadText(
      "tls {\n  cert_file: c.pem\n  key_file: k.pem\n  ca_file: ca.pem\n  verify_and_map: true\n"
      "  timeout: 0.5\n  handshake_first: true\n  min_version: \"1.3\"\n"
      "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n"
      "  pinned_certs: [\"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"]\n}\n"
      "allow_non_tls: true\n");
  ASSERT_TRUE(o.tls);
  EXPECT_EQ(o.tls->cert_file, "c.pem");
  EXPECT_TRUE(o.tls->verify);  // implied by verify_and_map
  EXPECT_TRUE(o.tls->verify_and_map);
  EXPECT_DOUBLE_EQ(o.tls->timeout_s, 0.5);
  EXPECT_TRUE(o.tls->handshake_first);
  EXPECT_EQ(o.tls->min_version, "1.3");
  ASSERT_EQ(o.tls->pinned_certs.size(), 1u);
  EXPECT_EQ(o.tls->pinned_certs[0], "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  EXPECT_TRUE(o.allow_non_tls);
  EXPECT_DOUBLE_EQ(LoadText("tls { cert_file: c, key_file: k, timeout: \"250ms\" }\n").tls->timeout_s, 0.25);

  EXPECT_EQ(FailText("tls { cert_file: x }\n"),
            "f.conf:1:1: missing 'cert_file' or 'key_file' in TLS configuration");
  EXPECT_EQ(FailText("tls { cert_file: c, key_file: k, colour: blue }\n"),
            "f.conf:1:34: error parsing tls config, unknown field [\"colour\"]");
  EXPECT_EQ(FailText("tls { cert_file: c, key_file: k, cipher_suites: [NOPE] }\n"),
            "f.conf:1:1: unrecognized cipher suite: \"NOPE\"");
  EXPECT_EQ(FailText("allow_non_tls: true\n"), "allow_non_tls needs a tls block");
  EXPECT_EQ(FailText("https_port: 8443\n"), "TLS cert and key required for HTTPS");

  // Flags replace the file's block, as nats-server's.
  o = MustLoad({"--tlsverify", "--tlscert", "c", "--tlskey", "k", "--tlscacert", "ca"});
  ASSERT_TRUE(o.tls);
  EXPECT_TRUE(o.tls->verify);
  EXPECT_EQ(o.tls->ca_file, "ca");
  EXPECT_EQ(MustFail({"--tlsverify", "--tlscert", "c", "--tlskey", "k"}),
            "'verify' needs 'ca_file' in TLS configuration");
}

TEST(Options, FlagErrors) {
  EXPECT_EQ(MustFail({"--foo"}), "flag provided but not defined: -foo (see fjord-server --help)");
  EXPECT_EQ(MustFail({"-js", "-xyz", "1"}), "flag provided but not defined: -xyz (see fjord-server --help)");
  EXPECT_EQ(MustFail({"-p"}), "flag needs an argument: -p");
  EXPECT_EQ(MustFail({"-p", "abc"}), "invalid value \"abc\" for flag -port: parse error");
  EXPECT_EQ(MustFail({"-D=maybe"}), "invalid boolean value \"maybe\" for -D: parse error");
  EXPECT_EQ(MustFail({"extra"}), "unrecognized command: \"extra\"");
  EXPECT_EQ(MustFail({"-t"}), "must specify [-c, --config] option to check configuration file syntax");
  EXPECT_EQ(MustFail({"--tls"}), "missing 'cert_file' or 'key_file' in TLS configuration");
  EXPECT_EQ(MustFail({"--profile", "6060"}), "flag --profile is not supported by Fjord (no profiling)");
  EXPECT_EQ(MustFail({"---p", "1"}), "bad flag syntax: ---p");
  EXPECT_EQ(MustFail({"--user", "a", "--auth", "b"}), "Cannot have a user/pass and token");
}

TEST(Options, HelpAndVersion) {
  for (const char* flag : {"-h", "--help", "help"}) {
    ServerOptions o = MustLoad({flag});
    EXPECT_TRUE(o.exit_now);
    EXPECT_EQ(o.exit_code, 0);
    EXPECT_NE(o.exit_text.find("Usage: fjord-server [options]"), std::string::npos);
    EXPECT_NE(o.exit_text.find("-js, --jetstream"), std::string::npos);
  }
  for (const char* flag : {"-v", "--version", "version"}) {
    ServerOptions o = MustLoad({flag});
    EXPECT_TRUE(o.exit_now);
    EXPECT_EQ(o.exit_text, std::string("fjord-server version ") + fjord::kFjordVersion + " (nats-server " +
                               kNatsCompatVersion + " compatible)\n");
  }
}

TEST(Options, CheckConfig) {
  TempConf good("port: 4222\n");
  ServerOptions o = MustLoad({"-t", "-c", good.path()});
  EXPECT_TRUE(o.exit_now);
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.exit_text, "fjord-server: configuration file " + good.path() + " is valid\n");
  // Warnings make -t fail, as with nats-server.
  TempConf warn("ping_interval: 5\n");
  EXPECT_NE(MustFail({"-t", "-c", warn.path()}).find("should be converted to a duration"), std::string::npos);
  // Without -t the same file loads, with a warning.
  EXPECT_EQ(MustLoad({"-c", warn.path()}).warnings.size(), 1u);
}

TEST(Options, LoadConfigFileAndReload) {
  TempConf conf("port: 1111\ndebug: true\n");
  ServerOptions o = MustLoad({"-c", conf.path(), "-p", "2222"});
  EXPECT_EQ(o.port, 2222);
  EXPECT_TRUE(o.debug);

  std::ofstream(conf.path()) << "port: 1212\ndebug: false\nserver_name: re\n";
  auto reloaded = ReloadOptions(o);
  ASSERT_TRUE(std::holds_alternative<ServerOptions>(reloaded)) << std::get<std::string>(reloaded);
  const ServerOptions& r = std::get<ServerOptions>(reloaded);
  EXPECT_EQ(r.port, 2222);  // the flag still wins
  EXPECT_FALSE(r.debug);
  EXPECT_EQ(r.server_name, "re");

  ServerOptions plain;
  ASSERT_FALSE(LoadConfigFile(conf.path(), plain).has_value());
  EXPECT_EQ(plain.port, 1212);
  EXPECT_EQ(plain.config_file, conf.path());

  std::ofstream(conf.path()) << "port: \"bad\"\n";
  ServerOptions before = plain;
  auto err = LoadConfigFile(conf.path(), plain);
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find(":1:1: port must be an integer"), std::string::npos) << *err;
  EXPECT_EQ(plain.port, before.port);
  EXPECT_TRUE(std::holds_alternative<std::string>(ReloadOptions(o)));
}

TEST(Options, SignalNeedsAPid) {
  EXPECT_EQ(MustFail({"-sl", "bogus=1"}), "unknown signal \"bogus\"");
  EXPECT_EQ(MustFail({"-sl", "reload"}), "no pid given: use -sl <signal>=<pid or pid file>");
  EXPECT_NE(MustFail({"-sl", "reload=/nonexistent/pidfile"}).find("could not read a pid"), std::string::npos);
}

TEST(Options, ServerTagsAreTrimmedLoweredAndUnique) {
  auto o = LoadText("server_tags: [\"az:1\", \" Region:Oslo \", \"AZ:1\", \"\"]\n");
  EXPECT_EQ(o.server_tags, (std::vector<std::string>{"az:1", "region:oslo"}));
  EXPECT_TRUE(o.warnings.empty());
  EXPECT_EQ(LoadText("server_tags: \"Edge\"\n").server_tags, std::vector<std::string>{"edge"});
  EXPECT_NE(FailText("server_tags: 5\n").find("server_tags must be a string or an array"),
            std::string::npos);
}

TEST(Options, PortsFileDirFromFileAndFlag) {
  EXPECT_EQ(LoadText("ports_file_dir: \"/tmp/pf\"\n").ports_file_dir, "/tmp/pf");
  EXPECT_EQ(MustLoad({"--ports_file_dir", "/tmp/q", "-p", "-1"}).ports_file_dir, "/tmp/q");
}


TEST(Options, ClusterBlock) {
  ServerOptions o = LoadText(R"(
cluster {
  name: "east"
  host: 10.0.0.1
  port: 7222
  routes: [
    nats-route://ruser:rpass@10.0.0.2:7222
    "nats://10.0.0.3:7222/"
    "  nats-route://[::1]:7222 "
  ]
  authorization { user: ruser, password: rpass, timeout: 0.5 }
  advertise: "east.example.com:7222"
  no_advertise: true
  connect_retries: 5
}
)");
  const ClusterOptions& c = o.cluster;
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.name, "east");
  EXPECT_EQ(c.host, "10.0.0.1");
  EXPECT_EQ(c.port, 7222);
  EXPECT_EQ(c.routes, (std::vector<std::string>{"nats-route://ruser:rpass@10.0.0.2:7222", "nats://10.0.0.3:7222/",
                                                "nats-route://[::1]:7222"}));
  EXPECT_EQ(c.username, "ruser");
  EXPECT_EQ(c.password, "rpass");
  EXPECT_EQ(c.auth_timeout, 500ms);
  EXPECT_EQ(c.advertise, "east.example.com:7222");
  EXPECT_TRUE(c.no_advertise);
  EXPECT_EQ(c.connect_retries, 5);
  EXPECT_TRUE(o.warnings.empty());

  // Aliases and the other forms: listen, net, cluster_advertise, one route
  // as a string, a duration timeout, `username`/`pass`.
  o = LoadText("cluster {\n  listen: \"127.0.0.1:-1\"\n  routes: \"nats://a:6222\"\n"
               "  cluster_advertise: \"x:1\"\n  authorization { username: u, pass: p, timeout: \"3s\" }\n}\n");
  EXPECT_TRUE(o.cluster.enabled);
  EXPECT_EQ(o.cluster.host, "127.0.0.1");
  EXPECT_EQ(o.cluster.port, -1);
  EXPECT_EQ(o.cluster.routes, std::vector<std::string>{"nats://a:6222"});
  EXPECT_EQ(o.cluster.advertise, "x:1");
  EXPECT_EQ(o.cluster.username, "u");
  EXPECT_EQ(o.cluster.password, "p");
  EXPECT_EQ(o.cluster.auth_timeout, 3s);
  o = LoadText("cluster { net: 1.2.3.4, listen: 6333 }\n");
  EXPECT_EQ(o.cluster.host, "1.2.3.4");
  EXPECT_EQ(o.cluster.port, 6333);
  // A zero timeout is the default, as nats-server's.
  EXPECT_EQ(LoadText("cluster { port: 1, authorization { user: u, password: p, timeout: 0 } }\n").cluster.auth_timeout,
            2s);
}

TEST(Options, ClusterOffWithoutPort) {
  // No cluster block: off, nothing set.
  ServerOptions o = MustLoad({});
  EXPECT_FALSE(o.cluster.enabled);
  EXPECT_EQ(o.cluster.port, 0);
  EXPECT_TRUE(o.cluster.host.empty());
  // As nats-server 2.9.10: a block without a port or listen (even with
  // routes) is accepted and leaves clustering off; so does port 0.
  o = LoadText("cluster { name: c, routes: [\"nats://a:6222\"] }\n");
  EXPECT_FALSE(o.cluster.enabled);
  EXPECT_EQ(o.cluster.routes.size(), 1u);
  EXPECT_TRUE(o.warnings.empty());
  EXPECT_FALSE(LoadText("cluster { port: 0 }\n").cluster.enabled);
  EXPECT_FALSE(LoadText("cluster { listen: \"0.0.0.0:0\" }\n").cluster.enabled);
  EXPECT_FALSE(LoadText("cluster {}\n").cluster.enabled);
}

TEST(Options, ClusterIgnoredAndRefused) {
  ServerOptions o = LoadText("cluster {\n  port: 6222\n  pool_size: 3\n  compression: s2_auto\n  accounts: [A]\n"
                             "  ping_interval: \"1m\"\n  ping_max: 3\n}\n");
  EXPECT_TRUE(o.cluster.enabled);
  ASSERT_EQ(o.warnings.size(), 5u);
  EXPECT_NE(o.warnings[0].find(":3:3: \"cluster.pool_size\" is not supported by Fjord and is ignored: Fjord uses "
                               "one uncompressed route connection per server"),
            std::string::npos)
      << o.warnings[0];
  EXPECT_NE(o.warnings[1].find(":4:3: \"cluster.compression\" is not supported by Fjord and is ignored: Fjord "
                               "uses one uncompressed route connection per server"),
            std::string::npos)
      << o.warnings[1];
  EXPECT_NE(o.warnings[2].find(":5:3: \"cluster.accounts\" is not supported by Fjord and is ignored"),
            std::string::npos)
      << o.warnings[2];
  EXPECT_NE(o.warnings[3].find(":6:3: \"cluster.ping_interval\" is not supported by Fjord and is ignored"),
            std::string::npos)
      << o.warnings[3];
  EXPECT_NE(o.warnings[4].find(":7:3: \"cluster.ping_max\" is not supported by Fjord and is ignored"),
            std::string::npos)
      << o.warnings[4];
  // -t fails on them, as on every warning.
  TempConf conf("cluster { port: 6222, pool_size: 3 }\n");
  EXPECT_NE(MustFail({"-t", "-c", conf.path()}).find("cluster.pool_size"), std::string::npos);

}

TEST(Options, ClusterPermissions) {
  // import/export take a user's publish/subscribe forms: a subject, a list,
  // or {allow, deny}. Import is kept as publish, export as subscribe.
  ServerOptions o = LoadText(R"(
cluster {
  port: 6222
  permissions {
    import: ["foo.>", "bar"]
    export: { allow: "pub.>", deny: ["secret.>"] }
  }
}
)");
  ASSERT_TRUE(o.cluster.permissions && o.cluster.permissions->publish && o.cluster.permissions->subscribe);
  EXPECT_EQ(o.cluster.permissions->publish->allow, (std::vector<std::string>{"foo.>", "bar"}));
  EXPECT_TRUE(o.cluster.permissions->publish->deny.empty());
  EXPECT_EQ(o.cluster.permissions->subscribe->allow, std::vector<std::string>{"pub.>"});
  EXPECT_EQ(o.cluster.permissions->subscribe->deny, std::vector<std::string>{"secret.>"});
  EXPECT_TRUE(o.warnings.empty());
  o = LoadText("cluster { port: 6222, permissions { import: \">\" } }\n");
  ASSERT_TRUE(o.cluster.permissions && o.cluster.permissions->publish);
  EXPECT_FALSE(o.cluster.permissions->subscribe);
  EXPECT_EQ(o.cluster.permissions->publish->allow, std::vector<std::string>{">"});
  EXPECT_FALSE(LoadText("cluster { port: 6222 }\n").cluster.permissions);
  // As nats-server (parseUserPermissions): no response permissions, and
  // the usual errors.
  EXPECT_EQ(FailText("cluster {\n  port: 6222\n  permissions { import: \">\", allow_responses: true }\n}\n"),
            "f.conf:3:3: Cluster permissions do not support dynamic responses");
  EXPECT_EQ(FailText("cluster {\n  port: 6222\n  permissions { imports: \">\" }\n}\n"),
            "f.conf:3:17: Unknown field \"imports\" parsing permissions");
  EXPECT_EQ(FailText("cluster {\n  port: 6222\n  permissions: \">\"\n}\n"),
            "f.conf:3:3: Expected permissions to be a map/struct, got a string");
  // The deprecated `authorization { permissions }`: a warning, and the
  // top-level block's permissions win.
  o = LoadText("cluster {\n  port: 6222\n  authorization {\n    user: u\n    permissions { import: \"a\" }\n  }\n}\n");
  ASSERT_TRUE(o.cluster.permissions && o.cluster.permissions->publish);
  EXPECT_EQ(o.cluster.permissions->publish->allow, std::vector<std::string>{"a"});
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_NE(o.warnings[0].find("setting \"permissions\" within cluster authorization block is deprecated"),
            std::string::npos)
      << o.warnings[0];
  o = LoadText("cluster {\n  port: 6222\n  permissions { export: \"b\" }\n  authorization {\n    user: u\n"
               "    permissions { import: \"a\" }\n  }\n}\n");
  ASSERT_TRUE(o.cluster.permissions);
  EXPECT_FALSE(o.cluster.permissions->publish);
  EXPECT_EQ(o.cluster.permissions->subscribe->allow, std::vector<std::string>{"b"});
}

TEST(Options, ClusterTls) {
  ServerOptions o = LoadText(R"(
cluster {
  port: 6222
  tls {
    cert_file: r.pem
    key_file: r-key.pem
    ca_file: ca.pem
    timeout: 0.5
    min_version: "1.3"
    cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    curve_preferences: [CurveP256]
  }
}
)");
  ASSERT_TRUE(o.cluster.tls);
  EXPECT_FALSE(o.tls);  // the client port's is another block
  const tls::Options& t = *o.cluster.tls;
  EXPECT_EQ(t.cert_file, "r.pem");
  EXPECT_EQ(t.key_file, "r-key.pem");
  EXPECT_EQ(t.ca_file, "ca.pem");
  EXPECT_TRUE(t.verify);  // forced, as nats-server
  EXPECT_DOUBLE_EQ(t.timeout_s, 0.5);
  EXPECT_EQ(t.min_version, "1.3");
  EXPECT_EQ(t.cipher_suites, std::vector<std::string>{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"});
  EXPECT_EQ(t.curve_preferences, std::vector<std::string>{"CurveP256"});
  EXPECT_FALSE(o.cluster.tls_insecure);
  // The route authorization timeout defaults to the TLS timeout + 1s.
  EXPECT_EQ(o.cluster.auth_timeout, 1500ms);
  EXPECT_TRUE(o.warnings.empty());

  // verify: false changes nothing; insecure is read here (only here); a
  // zero timeout is the default; an explicit authorization timeout stays.
  o = LoadText("cluster {\n  port: 6222\n  authorization { user: u, password: p, timeout: 5 }\n"
               "  tls { cert_file: c, key_file: k, ca_file: ca, verify: false, insecure: true, timeout: 0 }\n}\n");
  ASSERT_TRUE(o.cluster.tls);
  EXPECT_TRUE(o.cluster.tls->verify);
  EXPECT_TRUE(o.cluster.tls_insecure);
  EXPECT_DOUBLE_EQ(o.cluster.tls->timeout_s, 2.0);
  EXPECT_EQ(o.cluster.auth_timeout, 5s);
  EXPECT_TRUE(o.warnings.empty());
  EXPECT_EQ(LoadText("cluster { port: 1, tls { cert_file: c, key_file: k, ca_file: ca } }\n").cluster.auth_timeout,
            3s);
  // At the top level `insecure` is still a warning, and does not reach the
  // cluster.
  o = LoadText("tls { cert_file: c, key_file: k, insecure: true }\ncluster { port: 1 }\n");
  EXPECT_FALSE(o.cluster.tls_insecure);
  EXPECT_FALSE(o.cluster.tls);
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_NE(o.warnings[0].find("\"insecure\" is not supported by Fjord and is ignored"), std::string::npos);

  EXPECT_EQ(FailText("cluster {\n  port: 6222\n  tls { cert_file: c, key_file: k }\n}\n"),
            "f.conf:3:3: cluster tls needs 'ca_file': routes verify each other's certificates");
  EXPECT_EQ(FailText("cluster {\n  port: 6222\n  tls { cert_file: c, ca_file: ca }\n}\n"),
            "f.conf:3:3: missing 'cert_file' or 'key_file' in TLS configuration");
  EXPECT_EQ(FailText("cluster {\n  port: 6222\n  tls: true\n}\n"), "f.conf:3:3: tls must be a map, got a boolean");
  EXPECT_EQ(FailText("cluster {\n  tls {\n    cert_file: c, key_file: k, ca_file: ca\n    colour: blue\n  }\n}\n"),
            "f.conf:4:5: error parsing tls config, unknown field [\"colour\"]");
  EXPECT_EQ(FailText("cluster {\n  tls {\n    cert_file: c, key_file: k, ca_file: ca\n    insecure: 1\n  }\n}\n"),
            "f.conf:4:5: insecure must be a boolean, got an integer");
  EXPECT_EQ(FailText("cluster {\n  tls {\n    cert_file: c, key_file: k, ca_file: ca\n    verify_and_map: true\n  }\n}\n"),
            "f.conf:4:5: \"cluster.tls.verify_and_map\" is not supported by Fjord (routes are authorized by the "
            "cluster authorization user and password only)");
  EXPECT_EQ(FailText("cluster {\n  tls {\n    cert_file: c, key_file: k, ca_file: ca\n"
                     "    pinned_certs: [\"abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"]\n  }\n}\n"),
            "f.conf:4:5: \"cluster.tls.pinned_certs\" is not supported by Fjord (routes are not checked against "
            "pinned certificates)");
  EXPECT_EQ(FailText("cluster {\n  tls {\n    cert_file: c, key_file: k, ca_file: ca\n"
                     "    verify_cert_and_check_known_urls: true\n  }\n}\n"),
            "f.conf:4:5: \"verify_cert_and_check_known_urls\" is not supported by Fjord");
  EXPECT_EQ(FailText("cluster {\n  tls { cert_file: c, key_file: k, ca_file: ca, min_version: \"1.1\" }\n}\n"),
            "f.conf:2:3: unsupported TLS version: \"1.1\"");
  // Empty lists and false are no settings.
  o = LoadText("cluster { port: 1, tls { cert_file: c, key_file: k, ca_file: ca, verify_and_map: false, "
               "pinned_certs: [] } }\n");
  ASSERT_TRUE(o.cluster.tls);
  EXPECT_FALSE(o.cluster.tls->verify_and_map);
}

TEST(Options, ClusterErrors) {
  EXPECT_EQ(FailText("cluster {\n  port: 6222\n  colour: blue\n}\n"), "f.conf:3:3: unknown field \"colour\"");
  EXPECT_EQ(FailText("cluster {\n  authorization { user: u, foo: 1 }\n}\n"), "f.conf:2:28: unknown field \"foo\"");
  EXPECT_EQ(FailText("cluster: 1\n"), "f.conf:1:1: Expected map to define cluster, got an integer");
  EXPECT_EQ(FailText("cluster {\n  port: \"x\"\n}\n"), "f.conf:2:3: port must be an integer, got a string");
  EXPECT_EQ(FailText("cluster {\n  port: 70000\n}\n"), "f.conf:2:3: port value is too big");
  EXPECT_EQ(FailText("cluster {\n  port: -2\n}\n"), "f.conf:2:3: port value -2 is out of range (minimum -1)");
  EXPECT_EQ(FailText("cluster {\n  listen: \"x\"\n}\n"), "f.conf:2:3: could not parse address string \"x\"");
  EXPECT_EQ(FailText("cluster {\n  name: \"a b\"\n}\n"), "f.conf:2:3: cluster name cannot contain spaces");
  EXPECT_EQ(FailText("cluster {\n  connect_retries: -1\n}\n"),
            "f.conf:2:3: connect_retries value -1 is out of range (minimum 0)");
  EXPECT_EQ(FailText("cluster {\n  no_advertise: 1\n}\n"), "f.conf:2:3: no_advertise must be a boolean, got an integer");
  EXPECT_EQ(FailText("cluster {\n  routes: 5\n}\n"),
            "f.conf:2:3: routes must be a string or an array of strings, got an integer");
  EXPECT_EQ(FailText("cluster {\n  authorization { token: x }\n}\n"),
            "f.conf:2:19: Cluster authorization does not support tokens");
  EXPECT_EQ(FailText("cluster {\n  authorization { users: [{user: a, password: b}] }\n}\n"),
            "f.conf:2:19: Cluster authorization does not allow multiple users");
  EXPECT_EQ(FailText("cluster {\n  authorization: 1\n}\n"), "f.conf:2:3: authorization must be a map, got an integer");
}

TEST(Options, ClusterRouteUrls) {
  auto route_error = [](const std::string& url) {
    return FailText("cluster {\n  port: 6222\n  routes: [\n    \"" + url + "\"\n  ]\n}\n");
  };
  const std::string form = " (expected nats-route://[user[:password]@]host:port)";
  EXPECT_EQ(route_error("::bad"), "f.conf:4:5: error parsing route url [\"::bad\"]: missing scheme" + form);
  EXPECT_EQ(route_error("a:6222"), "f.conf:4:5: error parsing route url [\"a:6222\"]: missing scheme" + form);
  EXPECT_EQ(route_error("tls://a:6222"),
            "f.conf:4:5: error parsing route url [\"tls://a:6222\"]: unsupported scheme \"tls\"" + form);
  EXPECT_EQ(route_error("nats://a"), "f.conf:4:5: error parsing route url [\"nats://a\"]: missing port" + form);
  EXPECT_EQ(route_error("nats://a:x"), "f.conf:4:5: error parsing route url [\"nats://a:x\"]: invalid port \"x\"" + form);
  EXPECT_EQ(route_error("nats://a:0"), "f.conf:4:5: error parsing route url [\"nats://a:0\"]: invalid port \"0\"" + form);
  EXPECT_EQ(route_error("nats://a:65536"),
            "f.conf:4:5: error parsing route url [\"nats://a:65536\"]: invalid port \"65536\"" + form);
  EXPECT_EQ(route_error("nats://:6222"), "f.conf:4:5: error parsing route url [\"nats://:6222\"]: missing host" + form);
  EXPECT_EQ(route_error("nats://a:6222/x"),
            "f.conf:4:5: error parsing route url [\"nats://a:6222/x\"]: unexpected path or query" + form);
  // The password is not repeated in the error.
  EXPECT_EQ(route_error("nats://u:secret@a"),
            "f.conf:4:5: error parsing route url [\"nats://u:xxxxx@a\"]: missing port" + form);
  // One string is the same as a list of one.
  EXPECT_EQ(FailText("cluster {\n  port: 6222\n  routes: \"nats://a\"\n}\n"),
            "f.conf:3:3: error parsing route url [\"nats://a\"]: missing port" + form);
  // Case of the scheme, percent-escaped credentials.
  EXPECT_EQ(LoadText("cluster { port: 6222, routes: [\"NATS-ROUTE://u%40x:p%3Aw@a:1\"] }\n").cluster.routes.size(), 1u);
  EXPECT_NE(route_error("nats://u%zz:p@a:1").find("invalid escape in user info"), std::string::npos);

  // Duplicates: dropped with nats-server's warning.
  ServerOptions o = LoadText("cluster {\n  port: 6222\n  routes: [\"nats://a:1\", \"nats://a:1\"]\n}\n");
  EXPECT_EQ(o.cluster.routes, std::vector<std::string>{"nats://a:1"});
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_NE(o.warnings[0].find(":3:26: invalid use of field \"nats://a:1\": Duplicate route entry detected"),
            std::string::npos)
      << o.warnings[0];
}

TEST(Options, ClusterFlags) {
  ServerOptions o = MustLoad({"--cluster", "nats://127.0.0.1:7244", "--cluster_name", "c1", "--routes",
                              "nats://a:1, nats-route://u:p@b:2,,nats://a:1", "--cluster_advertise", "adv:1",
                              "--no_advertise", "--connect_retries", "3"});
  EXPECT_TRUE(o.cluster.enabled);
  EXPECT_EQ(o.cluster.host, "127.0.0.1");
  EXPECT_EQ(o.cluster.port, 7244);
  EXPECT_EQ(o.cluster.name, "c1");
  EXPECT_EQ(o.cluster.routes, (std::vector<std::string>{"nats://a:1", "nats-route://u:p@b:2"}));
  EXPECT_EQ(o.cluster.advertise, "adv:1");
  EXPECT_TRUE(o.cluster.no_advertise);
  EXPECT_EQ(o.cluster.connect_retries, 3);

  o = MustLoad({"--cluster_listen", "nats://ru:rp@[::1]:-1"});
  EXPECT_TRUE(o.cluster.enabled);
  EXPECT_EQ(o.cluster.host, "::1");
  EXPECT_EQ(o.cluster.port, -1);
  EXPECT_EQ(o.cluster.username, "ru");
  EXPECT_EQ(o.cluster.password, "rp");
  o = MustLoad({"-cluster=nats-route://:6222"});
  EXPECT_TRUE(o.cluster.host.empty());  // all interfaces
  EXPECT_EQ(o.cluster.port, 6222);

  EXPECT_EQ(MustFail({"--routes", "nats://a:6222"}), "solicited routes require cluster capabilities, e.g. --cluster");
  EXPECT_EQ(MustFail({"--cluster", "", "--routes", "nats://a:6222"}),
            "solicited routes require cluster capabilities, e.g. --cluster");
  EXPECT_EQ(MustFail({"--cluster", "nats://u@a:1"}), "expected cluster password to be set");
  EXPECT_EQ(MustFail({"--cluster", "0.0.0.0:6222"}),
            "invalid value \"0.0.0.0:6222\" for flag -cluster: missing scheme (expected nats://host:port)");
  EXPECT_EQ(MustFail({"--cluster_listen", "nats://a"}),
            "invalid value \"nats://a\" for flag -cluster_listen: missing port (expected nats://host:port)");
  EXPECT_EQ(MustFail({"--cluster", "nats://u:pw@a:x"}),
            "invalid value \"nats://u:xxxxx@a:x\" for flag -cluster: invalid port \"x\" (expected nats://host:port)");
  EXPECT_EQ(MustFail({"--cluster", "nats://a:1", "--routes", "nats://b"}),
            "flag -routes: error parsing route url [\"nats://b\"]: missing port (expected "
            "nats-route://[user[:password]@]host:port)");
  EXPECT_EQ(MustFail({"--cluster_name", "a b"}), "cluster name cannot contain spaces");
  EXPECT_EQ(MustFail({"--connect_retries", "x"}), "invalid value \"x\" for flag -connect_retries: parse error");
  EXPECT_EQ(MustFail({"--connect_retries", "-1"}), "invalid value \"-1\" for flag -connect_retries: value out of range");
  EXPECT_EQ(MustFail({"--no_advertise=maybe"}), "invalid boolean value \"maybe\" for -no_advertise: parse error");
}

TEST(Options, ClusterFlagsOverrideFile) {
  TempConf conf(
      "cluster {\n  name: file\n  listen: \"0.0.0.0:6222\"\n  routes: [\"nats://f:1\"]\n"
      "  authorization { user: fu, password: fp }\n  no_advertise: true\n  connect_retries: 1\n"
      "  advertise: \"file:1\"\n}\n");
  ServerOptions o = MustLoad({"-c", conf.path(), "--cluster_name", "flag", "--routes", "nats://g:2",
                              "--no_advertise=false", "--connect_retries", "9", "--cluster_advertise", "flag:2"});
  EXPECT_TRUE(o.cluster.enabled);
  EXPECT_EQ(o.cluster.name, "flag");
  EXPECT_EQ(o.cluster.port, 6222);
  EXPECT_EQ(o.cluster.routes, std::vector<std::string>{"nats://g:2"});
  EXPECT_FALSE(o.cluster.no_advertise);
  EXPECT_EQ(o.cluster.connect_retries, 9);
  EXPECT_EQ(o.cluster.advertise, "flag:2");
  EXPECT_EQ(o.cluster.username, "fu");  // no --cluster: the file's credentials stay

  // --cluster replaces the listen address and the credentials (none given:
  // cleared, as nats-server's overrideCluster).
  o = MustLoad({"--cluster", "nats://127.0.0.1:-1", "-c", conf.path()});
  EXPECT_EQ(o.cluster.host, "127.0.0.1");
  EXPECT_EQ(o.cluster.port, -1);
  EXPECT_TRUE(o.cluster.username.empty());
  EXPECT_TRUE(o.cluster.password.empty());
  EXPECT_EQ(o.cluster.routes, std::vector<std::string>{"nats://f:1"});
  // An empty --cluster turns clustering off; an empty --routes clears them.
  o = MustLoad({"-c", conf.path(), "--cluster", "", "--routes", ""});
  EXPECT_FALSE(o.cluster.enabled);
  EXPECT_TRUE(o.cluster.routes.empty());
  // The file's cluster listen satisfies --routes.
  EXPECT_EQ(MustLoad({"-c", conf.path(), "--routes", "nats://h:3"}).cluster.routes,
            std::vector<std::string>{"nats://h:3"});
  // ... and so does a host alone (nats-server checks host or port), though
  // without a port clustering stays off.
  TempConf host_only("cluster { host: 1.2.3.4 }\n");
  o = MustLoad({"-c", host_only.path(), "--routes", "nats://h:3"});
  EXPECT_FALSE(o.cluster.enabled);

  // Flags keep overriding the file on reload.
  o = MustLoad({"-c", conf.path(), "--cluster", "nats://127.0.0.1:7777"});
  auto r = ReloadOptions(o);
  ASSERT_TRUE(std::holds_alternative<ServerOptions>(r)) << std::get<std::string>(r);
  EXPECT_EQ(std::get<ServerOptions>(r).cluster.port, 7777);
  EXPECT_EQ(std::get<ServerOptions>(r).cluster.name, "file");
}

TEST(Options, ClusterInUsage) {
  ServerOptions o = MustLoad({"--help"});
  EXPECT_NE(o.exit_text.find("--routes <rurl-1, rurl-2>"), std::string::npos);
  EXPECT_NE(o.exit_text.find("--cluster_listen <url>"), std::string::npos);
}

TEST(Options, Leafnodes) {
  ServerOptions o = LoadText(R"(
leafnodes {
  listen: "127.0.0.1:-1"
  advertise: "edge.example:7422"
  authorization { users: [ {user: edge, password: pw, account: ORDERS} ], timeout: 1.5 }
  reconnect: "2s"
  remotes: [
    { url: "nats-leaf://u:p@hub1:7422", account: ORDERS, deny_imports: ["secret.>"], deny_exports: "local.>" }
    { urls: ["nats-leaf://hub2:7422", "tls://hub3:7422"], hub: true }
  ]
}
accounts { ORDERS { users: [{user: a, password: b}] } }
)");
  const auto& l = o.leafnodes;
  EXPECT_EQ(l.host, "127.0.0.1");
  EXPECT_EQ(l.port, -1);
  EXPECT_EQ(l.advertise, "edge.example:7422");
  ASSERT_EQ(l.users.size(), 1u);
  EXPECT_EQ(l.users[0].username, "edge");
  EXPECT_EQ(l.users[0].account, "ORDERS");
  EXPECT_EQ(l.auth_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(l.reconnect, std::chrono::seconds(2));
  ASSERT_EQ(l.remotes.size(), 2u);
  EXPECT_EQ(l.remotes[0].urls, std::vector<std::string>{"nats-leaf://u:p@hub1:7422"});
  EXPECT_EQ(l.remotes[0].account, "ORDERS");
  EXPECT_EQ(l.remotes[0].deny_imports, std::vector<std::string>{"secret.>"});
  EXPECT_EQ(l.remotes[0].deny_exports, std::vector<std::string>{"local.>"});
  EXPECT_EQ(l.remotes[1].urls.size(), 2u);
  EXPECT_TRUE(l.remotes[1].hub);
  // Compression is taken with a warning: leaf traffic is not compressed.
  o = LoadText("leafnodes { port: 7422, compression: s2_auto }\n");
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_NE(o.warnings[0].find("not compressed"), std::string::npos) << o.warnings[0];
}

TEST(Options, LeafnodesErrors) {
  EXPECT_EQ(FailText("leafnodes: 7422\n"), "f.conf:1:1: Expected map to define a leafnode, got an integer");
  EXPECT_EQ(FailText("leafnodes { remotes: [ { account: A } ] }\n"), "f.conf:1:24: Remote leafnode requires a url");
  EXPECT_NE(FailText("leafnodes { remotes: [ { url: \"http://hub:80\" } ] }\n").find("is not supported by Fjord"),
            std::string::npos);
  EXPECT_NE(FailText("leafnodes { remotes: [ { url: \"nats-leaf://hub\" } ] }\n").find("missing port"),
            std::string::npos);
  EXPECT_EQ(FailText("leafnodes { bogus: 1 }\n"), "f.conf:1:13: unknown field \"bogus\"");
  EXPECT_EQ(FailText("leafnodes { remotes: [ { url: \"nats-leaf://h:1\", websocket: {} } ] }\n"),
            "f.conf:1:50: \"websocket\" is not supported by Fjord");
}

TEST(Options, Websocket) {
  ServerOptions o = LoadText(R"(
authorization { users: [{user: web, password: pw}] }
ws {
  listen: "127.0.0.1:8443"
  no_tls: true
  compression: true
  same_origin: true
  allowed_origins: ["https://shop.example", "http://localhost:3000"]
  handshake_timeout: "5s"
  no_auth_user: web
  authorization { timeout: 3 }
  token_cookie: tok
  headers { "X-Frame-Options": "DENY" }
  ping_interval: "30s"
}
)");
  const WebsocketOptions& w = o.websocket;
  EXPECT_EQ(w.host, "127.0.0.1");
  EXPECT_EQ(w.port, 8443);
  EXPECT_TRUE(w.no_tls);
  EXPECT_TRUE(w.compression);
  EXPECT_TRUE(w.same_origin);
  EXPECT_EQ(w.allowed_origins, (std::vector<std::string>{"https://shop.example", "http://localhost:3000"}));
  EXPECT_EQ(w.handshake_timeout, std::chrono::seconds(5));
  EXPECT_EQ(w.no_auth_user, "web");
  EXPECT_EQ(w.auth_timeout, std::chrono::seconds(3));
  EXPECT_EQ(w.token_cookie, "tok");
  ASSERT_EQ(w.headers.size(), 1u);
  EXPECT_EQ(w.headers[0].first, "X-Frame-Options");
  EXPECT_EQ(w.ping_interval, std::chrono::seconds(30));
  // handshake_timeout as a bare integer is seconds; port -1 picks one.
  o = LoadText("websocket { port: -1, no_tls: true, handshake_timeout: 4 }\n");
  EXPECT_EQ(o.websocket.port, -1);
  EXPECT_EQ(o.websocket.handshake_timeout, std::chrono::seconds(4));
  // A block without a port is off and needs nothing else.
  EXPECT_EQ(LoadText("websocket { compression: true }\n").websocket.port, 0);
}

TEST(Options, AllowedConnectionTypes) {
  ServerOptions o = LoadText("authorization { users: [{user: a, password: b, connection_types: [standard, Websocket]}] }\n");
  EXPECT_EQ(o.auth.users[0].allowed_connection_types, (std::vector<std::string>{"STANDARD", "WEBSOCKET"}));
  EXPECT_EQ(FailText("authorization { users: [{user: a, password: b, allowed_connection_types: [STANDARD, X, \"Y\"]}] }\n"),
            "f.conf:1:48: invalid connection types [\"X\" \"Y\"]");
}

TEST(Options, WebsocketErrors) {
  // nats-server's words.
  EXPECT_EQ(FailText("websocket { port: 8080 }\n"), "websocket requires TLS configuration");
  EXPECT_EQ(FailText("websocket: 1\n"), "f.conf:1:1: Expected websocket to be a map, got an integer");
  EXPECT_NE(FailText("websocket { port: 8080, no_tls: true, allowed_origins: [\"ftp://x\"] }\n")
                .find("allowed origins must be absolute URLs with http or https scheme"),
            std::string::npos);
  EXPECT_NE(FailText("websocket { port: 8080, no_tls: true, allowed_origins: \"http://x:port\" }\n")
                .find("unable to parse allowed origin"),
            std::string::npos);
  EXPECT_NE(FailText("websocket { port: 8080, no_tls: true, headers { Connection: x } }\n")
                .find("websocket: invalid header \"Connection\" not allowed"),
            std::string::npos);
  EXPECT_NE(FailText("websocket { port: 8080, no_tls: true, headers { Sec-WebSocket-Protocol: x } }\n")
                .find("\"Sec-WebSocket-\" prefix not allowed"),
            std::string::npos);
  EXPECT_EQ(FailText("authorization { users: [{user: a, password: b}] }\n"
                     "websocket { port: 8080, no_tls: true, authorization { user: x, password: y } }\n"),
            "websocket authentication username not compatible with presence of users/nkeys");
  EXPECT_NE(FailText("websocket { port: 8080, no_tls: true, no_auth_user: ghost }\n").find("no_auth_user: \"ghost\""),
            std::string::npos);
  EXPECT_NE(FailText("websocket { port: 8080, no_tls: true, jwt_cookie: jwt }\n")
                .find("trusted operators or trusted keys configuration is required"),
            std::string::npos);
  EXPECT_NE(FailText("websocket { port: 8080, no_tls: true, bogus: 1 }\n").find("bogus"), std::string::npos);
}

}  // namespace
}  // namespace fjord::conf
