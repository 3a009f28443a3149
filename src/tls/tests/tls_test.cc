// The tls block's checks, context building from real files (made by
// tests/tls/make_certs.sh), and what is read off client certificates.
#include "tls/tls.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

namespace fjord::tls {
namespace {

namespace fs = std::filesystem;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("fjord-tls-test-" + std::to_string(getpid())));
    std::string cmd = std::string("bash ") + FJORD_SOURCE_DIR + "/tests/tls/make_certs.sh " +
                      dir_->string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string F(const char* name) { return (*dir_ / name).string(); }
  static std::unique_ptr<X509, decltype(&X509_free)> Cert(const char* name) {
    FILE* f = std::fopen(F(name).c_str(), "r");
    X509* x = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
    if (f) std::fclose(f);
    return {x, &X509_free};
  }
  static Options Good() {
    Options o;
    o.cert_file = F("server-cert.pem");
    o.key_file = F("server-key.pem");
    o.ca_file = F("ca.pem");
    return o;
  }
  static fs::path* dir_;
};
fs::path* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, ValidateNamesWhatIsWrong) {
  Options o = Good();
  EXPECT_EQ(Validate(o), "");
  o.cert_file.clear();
  EXPECT_EQ(Validate(o), "missing 'cert_file' or 'key_file' in TLS configuration");
  o = Good();
  o.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_NOT_A_CIPHER"};
  EXPECT_EQ(Validate(o), "unrecognized cipher suite: \"TLS_NOT_A_CIPHER\"");
  o = Good();
  o.curve_preferences = {"CurveP256", "Curve25519"};
  EXPECT_EQ(Validate(o), "unrecognized curve preference Curve25519");
  o = Good();
  o.min_version = "1.1";
  EXPECT_EQ(Validate(o), "unsupported TLS version: \"1.1\"");
  o = Good();
  o.pinned_certs = {"abc"};
  EXPECT_NE(Validate(o).find("not a hex SHA-256"), std::string::npos);
  o = Good();
  o.ca_file.clear();
  o.verify = true;
  EXPECT_EQ(Validate(o), "'verify' needs 'ca_file' in TLS configuration");
}

TEST_F(TlsTest, ContextFromGoodFiles) {
  Options o = Good();
  o.verify = true;
  o.min_version = "1.3";
  o.cipher_suites = {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"};
  o.curve_preferences = {"X25519", "CurveP256"};
  auto r = MakeServerContext(o);
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<asio::ssl::context>>(r))
      << std::get<std::string>(r);
  SSL_CTX* s = std::get<0>(r)->native_handle();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(s), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode(s), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
}

TEST_F(TlsTest, ContextErrorsNameTheFile) {
  Options o = Good();
  o.key_file = F("server2-key.pem");  // another key
  auto r = MakeServerContext(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("does not match certificate"), std::string::npos)
      << std::get<std::string>(r);
  o = Good();
  o.cert_file = F("missing.pem");
  r = MakeServerContext(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("missing.pem"), std::string::npos);
  o = Good();
  o.ca_file = F("server.ext");  // not a certificate
  r = MakeServerContext(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("error loading CA file"), std::string::npos);
}

// Route TLS: each side of a route presents the same certificate (here
// route-cert.pem, serverAuth and clientAuth) and verifies the other's.
Options Route(const char* cert, const std::string& ca) {
  Options o;
  o.cert_file = cert + std::string("-cert.pem");
  o.key_file = cert + std::string("-key.pem");
  o.ca_file = ca;
  o.verify = true;  // forced for routes, as nats-server
  return o;
}

struct HandshakeResult {
  asio::error_code server, client;
};

// One TLS handshake over loopback TCP, server and client each on their own
// thread; after a client-side success the client reads once, so that an
// alert the server sends after the client's Finished (TLS 1.3 client
// certificate checks) surfaces too.
HandshakeResult Handshake(asio::ssl::context& server_ctx, asio::ssl::context& client_ctx) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  HandshakeResult r;
  std::thread server([&] {
    asio::ip::tcp::socket sock(io);
    acceptor.accept(sock);
    asio::ssl::stream<asio::ip::tcp::socket&> s(sock, server_ctx);
    s.handshake(asio::ssl::stream_base::server, r.server);
    if (!r.server) {
      asio::error_code ignored;
      asio::write(s, asio::buffer("x", 1), ignored);
    }
    sock.close();
  });
  asio::ip::tcp::socket sock(io);
  sock.connect(acceptor.local_endpoint());
  asio::ssl::stream<asio::ip::tcp::socket&> c(sock, client_ctx);
  c.handshake(asio::ssl::stream_base::client, r.client);
  if (!r.client) {
    char b;
    asio::read(c, asio::buffer(&b, 1), r.client);
  }
  sock.close();
  server.join();
  return r;
}

std::shared_ptr<asio::ssl::context> Must(std::variant<std::shared_ptr<asio::ssl::context>, std::string> r) {
  if (auto* err = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << *err;
    return nullptr;
  }
  return std::get<0>(r);
}

TEST_F(TlsTest, RouteContextsVerifyBothWays) {
  const std::string ca = F("ca.pem");
  Options mine = Route(F("route").c_str(), ca);
  auto server = Must(MakeServerContext(mine));
  auto client = Must(MakeClientContext(mine, false));
  ASSERT_TRUE(server && client);
  EXPECT_EQ(SSL_CTX_get_verify_mode(server->native_handle()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  EXPECT_EQ(SSL_CTX_get_verify_mode(client->native_handle()), SSL_VERIFY_PEER);

  // Same certificate on both sides, both verified: a route.
  auto ok = Handshake(*server, *client);
  EXPECT_FALSE(ok.server) << ok.server.message();
  EXPECT_FALSE(ok.client) << ok.client.message();

  // A dialler whose certificate another CA signed is refused by the acceptor.
  auto other = Must(MakeClientContext(Route(F("other-route").c_str(), ca), false));
  auto r = Handshake(*server, *other);
  EXPECT_TRUE(r.server);
  EXPECT_TRUE(r.client);

  // ... and so is one with no certificate at all.
  asio::ssl::context bare(asio::ssl::context::tls_client);
  bare.load_verify_file(ca);
  bare.set_verify_mode(asio::ssl::verify_peer);
  r = Handshake(*server, bare);
  EXPECT_TRUE(r.server);
  EXPECT_TRUE(r.client);

  // A certificate for serverAuth only is no client certificate.
  auto server_only = Must(MakeClientContext(Route(F("server").c_str(), ca), false));
  r = Handshake(*server, *server_only);
  EXPECT_TRUE(r.server);

  // The dialler does not trust the acceptor's CA: refused by the dialler,
  // unless insecure (the acceptor still checks the dialler's certificate).
  Options trusts_other = Route(F("route").c_str(), F("other-ca.pem"));
  auto strict = Must(MakeClientContext(trusts_other, false));
  r = Handshake(*server, *strict);
  EXPECT_TRUE(r.client);
  auto insecure = Must(MakeClientContext(trusts_other, true));
  EXPECT_EQ(SSL_CTX_get_verify_mode(insecure->native_handle()), SSL_VERIFY_NONE);
  r = Handshake(*server, *insecure);
  EXPECT_FALSE(r.server) << r.server.message();
  EXPECT_FALSE(r.client) << r.client.message();
}

TEST_F(TlsTest, ClientContextErrors) {
  Options o = Route(F("route").c_str(), "");
  o.verify = false;
  auto r = MakeClientContext(o, false);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r), "verifying the server needs 'ca_file' in TLS configuration");
  EXPECT_TRUE(std::holds_alternative<std::shared_ptr<asio::ssl::context>>(MakeClientContext(o, true)));
  o = Route(F("route").c_str(), F("server.ext"));
  r = MakeClientContext(o, false);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("error loading CA file"), std::string::npos) << std::get<std::string>(r);
  o = Route(F("route").c_str(), F("ca.pem"));
  o.key_file = F("server-key.pem");
  r = MakeClientContext(o, false);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("does not match certificate"), std::string::npos);
  o = Route(F("route").c_str(), F("ca.pem"));
  o.min_version = "1.3";
  o.cipher_suites = {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"};
  o.curve_preferences = {"CurveP256"};
  auto ctx = Must(MakeClientContext(o, false));
  ASSERT_TRUE(ctx);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->native_handle()), TLS1_3_VERSION);
}

TEST_F(TlsTest, IdentitiesInNatsServersOrder) {
  auto alice = Cert("alice-cert.pem");
  ASSERT_TRUE(alice);
  EXPECT_EQ(Identities(alice.get()),
            (std::vector<std::string>{"alice@shop.example", "CN=alice,OU=shop,O=Oslo"}));
  auto server = Cert("server-cert.pem");
  ASSERT_TRUE(server);
  // DNS names; an IP SAN is not an identity.
  EXPECT_EQ(Identities(server.get()), (std::vector<std::string>{"localhost", "CN=localhost"}));
  EXPECT_TRUE(Identities(nullptr).empty());
}

TEST_F(TlsTest, SpkiHashMatchesOpenSslCommand) {
  std::string cmd = "openssl x509 -in " + F("bob-cert.pem") +
                    " -pubkey -noout | openssl pkey -pubin -outform der | sha256sum";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  char buf[128] = {};
  ASSERT_TRUE(std::fgets(buf, sizeof buf, p));
  pclose(p);
  std::string want(buf, 64);
  auto bob = Cert("bob-cert.pem");
  EXPECT_EQ(SpkiSha256(bob.get()), want);
  auto alice = Cert("alice-cert.pem");
  EXPECT_NE(SpkiSha256(alice.get()), want);
}

}  // namespace
}  // namespace fjord::tls
