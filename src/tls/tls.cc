#include "tls/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <utility>

namespace fjord::tls {
namespace {

// Go's cipher suite names (what nats.conf uses) and OpenSSL's. TLS 1.3
// suites map to "": Go does not let them be configured, and neither do we.
const std::vector<std::pair<std::string_view, std::string_view>>& CipherNames() {
  static const std::vector<std::pair<std::string_view, std::string_view>> k = {
      {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
      {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
      {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
      {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
      {"TLS_AES_128_GCM_SHA256", ""},
      {"TLS_AES_256_GCM_SHA384", ""},
      {"TLS_CHACHA20_POLY1305_SHA256", ""},
  };
  return k;
}

const std::vector<std::pair<std::string_view, std::string_view>>& CurveNames() {
  static const std::vector<std::pair<std::string_view, std::string_view>> k = {
      {"CurveP256", "P-256"}, {"CurveP384", "P-384"}, {"CurveP521", "P-521"}, {"X25519", "X25519"}};
  return k;
}

std::string_view Lookup(const std::vector<std::pair<std::string_view, std::string_view>>& table,
                        std::string_view name, bool* found) {
  for (const auto& [go, ossl] : table) {
    if (go == name) {
      *found = true;
      return ossl;
    }
  }
  *found = false;
  return {};
}

// The newest OpenSSL error, for a log line.
std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

std::string Validate(const Options& o, bool need_cert) {
  if ((need_cert || !o.cert_file.empty() || !o.key_file.empty()) && (o.cert_file.empty() || o.key_file.empty())) {
    return "missing 'cert_file' or 'key_file' in TLS configuration";
  }
  if ((o.verify || o.verify_and_map) && o.ca_file.empty()) {
    // Go falls back to the system roots; OpenSSL's defaults differ from
    // distribution to distribution, so we ask for the CA explicitly.
    return "'verify' needs 'ca_file' in TLS configuration";
  }
  if (!o.min_version.empty() && o.min_version != "1.2" && o.min_version != "1.3") {
    return fmt::format("unsupported TLS version: \"{}\"", o.min_version);
  }
  for (const auto& c : o.cipher_suites) {
    bool found;
    Lookup(CipherNames(), c, &found);
    if (!found) return fmt::format("unrecognized cipher suite: \"{}\"", c);
  }
  for (const auto& c : o.curve_preferences) {
    bool found;
    Lookup(CurveNames(), c, &found);
    if (!found) return fmt::format("unrecognized curve preference {}", c);
  }
  for (const auto& p : o.pinned_certs) {
    bool hex = p.size() == 64 && std::all_of(p.begin(), p.end(), [](char c) {
                 return std::isxdigit(static_cast<unsigned char>(c));
               });
    if (!hex) return fmt::format("pinned_certs: \"{}\" is not a hex SHA-256", p);
  }
  if (o.timeout_s < 0) return "TLS timeout must not be negative";
  return "";
}

namespace {

// What the server and client roles share: versions, options, the
// certificate and key we present, the CAs we trust, ciphers and curves.
// The verify mode is the caller's.
std::variant<std::shared_ptr<asio::ssl::context>, std::string> MakeContext(
    const Options& o, asio::ssl::context::method method) {
  // A client may present no certificate.
  const bool need_cert = method != asio::ssl::context::tls_client;
  if (auto err = Validate(o, need_cert); !err.empty()) return err;
  auto ctx = std::make_shared<asio::ssl::context>(method);
  SSL_CTX* s = ctx->native_handle();
  ERR_clear_error();
  int min = o.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(s, min);
  // No renegotiation, no compression; session tickets stay on (cheap
  // reconnects for clients that keep them).
  SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Asio's stream hands OpenSSL a buffer that may move between retries.
  SSL_CTX_set_mode(s, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  if (!o.cert_file.empty() && SSL_CTX_use_certificate_chain_file(s, o.cert_file.c_str()) != 1) {
    return fmt::format("error loading certificate file \"{}\": {}", o.cert_file, OpenSslError());
  }
  EVP_PKEY* key = nullptr;
  if (o.cert_file.empty()) {
    // No certificate to present (a client's choice): nothing to pair.
  } else if (BIO* bio = BIO_new_file(o.key_file.c_str(), "r")) {
    key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
  }
  if (!key && !o.cert_file.empty()) {
    return fmt::format("error loading key file \"{}\": {}", o.key_file, OpenSslError());
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_owner(key, &EVP_PKEY_free);
  if (key && X509_check_private_key(SSL_CTX_get0_certificate(s), key) != 1) {
    ERR_clear_error();
    return fmt::format("key file \"{}\" does not match certificate \"{}\"", o.key_file,
                       o.cert_file);
  }
  if (key && SSL_CTX_use_PrivateKey(s, key) != 1) {
    return fmt::format("error using key file \"{}\": {}", o.key_file, OpenSslError());
  }
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(s, o.ca_file.c_str(), nullptr) != 1) {
      return fmt::format("error loading CA file \"{}\": {}", o.ca_file, OpenSslError());
    }
  }
  if (!o.cipher_suites.empty()) {
    std::string list;
    for (const auto& c : o.cipher_suites) {
      bool found;
      auto name = Lookup(CipherNames(), c, &found);
      if (name.empty()) continue;
      if (!list.empty()) list += ':';
      list += name;
    }
    if (!list.empty() && SSL_CTX_set_cipher_list(s, list.c_str()) != 1) {
      return fmt::format("cipher_suites: OpenSSL offers none of them: {}", OpenSslError());
    }
  }
  if (!o.curve_preferences.empty()) {
    std::string list;
    for (const auto& c : o.curve_preferences) {
      bool found;
      if (!list.empty()) list += ':';
      list += Lookup(CurveNames(), c, &found);
    }
    if (SSL_CTX_set1_groups_list(s, list.c_str()) != 1) {
      return fmt::format("curve_preferences: {}", OpenSslError());
    }
  }
  return ctx;
}

}  // namespace

std::variant<std::shared_ptr<asio::ssl::context>, std::string> MakeServerContext(const Options& o) {
  auto r = MakeContext(o, asio::ssl::context::tls_server);
  if (auto* ctx = std::get_if<std::shared_ptr<asio::ssl::context>>(&r)) {
    SSL_CTX* s = (*ctx)->native_handle();
    if (o.verify || o.verify_and_map) {
      SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    } else {
      SSL_CTX_set_verify(s, SSL_VERIFY_NONE, nullptr);
    }
  }
  return r;
}

std::variant<std::shared_ptr<asio::ssl::context>, std::string> MakeClientContext(const Options& o,
                                                                                 bool insecure) {
  if (!insecure && o.ca_file.empty()) {
    // Go would fall back to the system roots; see Validate.
    return "verifying the server needs 'ca_file' in TLS configuration";
  }
  auto r = MakeContext(o, asio::ssl::context::tls_client);
  if (auto* ctx = std::get_if<std::shared_ptr<asio::ssl::context>>(&r)) {
    SSL_CTX_set_verify((*ctx)->native_handle(), insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                       nullptr);
  }
  return r;
}

std::vector<std::string> Identities(X509* cert) {
  std::vector<std::string> ids;
  if (!cert) return ids;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  auto take = [&](int type) {
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type != type) continue;
      const ASN1_IA5STRING* s = n->d.ia5;
      ids.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       size_t(ASN1_STRING_length(s)));
    }
  };
  take(GEN_EMAIL);
  take(GEN_DNS);
  take(GEN_URI);
  GENERAL_NAMES_free(names);
  if (X509_NAME* subject = X509_get_subject_name(cert)) {
    BIO* bio = BIO_new(BIO_s_mem());
    // RFC 2253 order and escaping, as Go's pkix.Name String(), keeping
    // UTF-8 as it is.
    X509_NAME_print_ex(bio, subject, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    if (len > 0) ids.emplace_back(data, size_t(len));
    BIO_free(bio);
  }
  return ids;
}

std::string SpkiSha256(X509* cert) {
  if (!cert) return "";
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_Digest(der, size_t(len), md, &mdlen, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  std::string hex;
  for (unsigned i = 0; i < mdlen; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

}  // namespace fjord::tls
