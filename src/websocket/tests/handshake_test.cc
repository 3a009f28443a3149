#include "websocket/handshake.h"

#include <gtest/gtest.h>

namespace fjord::websocket {
namespace {

using State = HandshakeResult::State;

std::string Request(std::string extra = "", std::string method = "GET") {
  return method +
         " / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

TEST(Handshake, AcceptKeyIsRfc6455Example) {
  // RFC 6455 §1.3's worked example.
  EXPECT_EQ(AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, AcceptsAndAnswers101) {
  std::string req = Request();
  auto r = ProcessRequest(req, {});
  ASSERT_EQ(r.state, State::kAccepted) << r.error;
  EXPECT_EQ(r.used, req.size());
  EXPECT_NE(r.response.find("HTTP/1.1 101 Switching Protocols\r\n"), std::string::npos);
  EXPECT_NE(r.response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_EQ(r.response.find("permessage-deflate"), std::string::npos);
  EXPECT_EQ(r.response.substr(r.response.size() - 4), "\r\n\r\n");
}

TEST(Handshake, IncompleteUntilBlankLine) {
  std::string req = Request();
  for (size_t i = 0; i + 1 < req.size(); ++i) {
    EXPECT_EQ(ProcessRequest(req.substr(0, i), {}).state, State::kIncomplete) << i;
  }
  // Bytes after the head are not part of it.
  auto r = ProcessRequest(req + "\x82", {});
  EXPECT_EQ(r.state, State::kAccepted);
  EXPECT_EQ(r.used, req.size());
}

TEST(Handshake, RejectsWhatNatsServerRejects) {
  struct Case {
    std::string req;
    int status;
    std::string error;
  };
  std::vector<Case> cases = {
      {Request("", "POST"), 405, "request method must be GET"},
      {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
       "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "'Host' missing in request"},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
       "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "invalid value for header 'Upgrade'"},
      {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "
       "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "invalid value for header 'Connection'"},
      {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "key missing"},
      {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
       "c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "invalid websocket key"},
      {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
       "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
       400, "invalid version"},
      {"HELLO\r\n\r\n", 400, "malformed HTTP request"},
  };
  for (const auto& c : cases) {
    auto r = ProcessRequest(c.req, {});
    ASSERT_EQ(r.state, State::kRejected) << c.req;
    EXPECT_EQ(r.error, c.error);
    EXPECT_EQ(r.response.substr(0, 12), "HTTP/1.1 " + std::to_string(c.status)) << r.response;
    EXPECT_NE(r.response.find("Connection: close"), std::string::npos);
  }
}

TEST(Handshake, RejectsAnOversizedHead) {
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(kMaxRequestHead, 'a');
  auto r = ProcessRequest(big, {});
  EXPECT_EQ(r.state, State::kRejected);
  EXPECT_EQ(r.response.substr(0, 12), "HTTP/1.1 431");
}

TEST(Handshake, NegotiatesDeflateOnlyWhenBothWant) {
  HandshakeOptions on;
  on.compression = true;
  std::string offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
  auto r = ProcessRequest(Request(offer), on);
  ASSERT_EQ(r.state, State::kAccepted);
  EXPECT_TRUE(r.upgrade.compress);
  EXPECT_NE(r.response.find("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                            "client_no_context_takeover\r\n"),
            std::string::npos);
  EXPECT_FALSE(ProcessRequest(Request(offer), {}).upgrade.compress);   // server off
  EXPECT_FALSE(ProcessRequest(Request(), on).upgrade.compress);         // client did not ask
}

TEST(Handshake, OriginChecks) {
  HandshakeOptions same;
  same.same_origin = true;
  EXPECT_EQ(ProcessRequest(Request("Origin: http://127.0.0.1:8080\r\n"), same).state, State::kAccepted);
  auto r = ProcessRequest(Request("Origin: http://evil.example:8080\r\n"), same);
  EXPECT_EQ(r.state, State::kRejected);
  EXPECT_EQ(r.error, "origin not allowed: not same origin");
  EXPECT_EQ(r.response.substr(0, 12), "HTTP/1.1 403");
  // No Origin: not a browser, nothing to check.
  EXPECT_EQ(ProcessRequest(Request(), same).state, State::kAccepted);

  HandshakeOptions list;
  Origin o;
  ASSERT_FALSE(ParseOrigin("https://www.example.com", &o));
  EXPECT_EQ(o.port, "443");
  list.allowed_origins.push_back(o);
  ASSERT_FALSE(ParseOrigin("http://LocalHost:3000/app", &o));
  EXPECT_EQ(o.host, "localhost");
  list.allowed_origins.push_back(o);
  EXPECT_EQ(ProcessRequest(Request("Origin: https://www.example.com:443\r\n"), list).state, State::kAccepted);
  EXPECT_EQ(ProcessRequest(Request("Origin: http://localhost:3000\r\n"), list).state, State::kAccepted);
  EXPECT_EQ(ProcessRequest(Request("Origin: http://www.example.com\r\n"), list).error,
            "origin not allowed: not in the allowed list");
  EXPECT_EQ(ProcessRequest(Request("Origin: null\r\n"), list).state, State::kRejected);
}

TEST(Handshake, CookiesMaskingAndBrowsers) {
  HandshakeOptions o;
  o.jwt_cookie = "jwt";
  o.token_cookie = "tok";
  auto r = ProcessRequest(Request("Cookie: a=b; jwt=\"eyJ0\"; tok=s3cr3t\r\nNats-No-Masking: true\r\n"
                                  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120\r\n"
                                  "X-Forwarded-For: 10.1.2.3, 10.0.0.1\r\n"),
                          o);
  ASSERT_EQ(r.state, State::kAccepted);
  EXPECT_EQ(r.upgrade.cookie_jwt, "eyJ0");
  EXPECT_EQ(r.upgrade.cookie_token, "s3cr3t");
  EXPECT_TRUE(r.upgrade.no_masking);
  EXPECT_NE(r.response.find("Nats-No-Masking: true\r\n"), std::string::npos);
  EXPECT_TRUE(r.upgrade.browser);
  EXPECT_EQ(r.upgrade.forwarded_for, "10.1.2.3");
}

TEST(Handshake, ExtraHeaders) {
  HandshakeOptions o;
  o.headers = {{"X-Frame-Options", "DENY"}};
  auto r = ProcessRequest(Request(), o);
  EXPECT_NE(r.response.find("\r\nX-Frame-Options: DENY\r\n"), std::string::npos);
}

TEST(Handshake, ParseOriginErrors) {
  Origin o;
  EXPECT_TRUE(ParseOrigin("www.example.com", &o));
  EXPECT_TRUE(ParseOrigin("http://host:port", &o));
  EXPECT_FALSE(ParseOrigin("http://[::1]:8080", &o));
  EXPECT_EQ(o.host, "::1");
}

}  // namespace
}  // namespace fjord::websocket
