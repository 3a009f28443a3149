// The tls block's checks, context building from real files (made by
// tests/tls/make_certs.sh), and what is read off client certificates.
#include "tls/tls.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

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
