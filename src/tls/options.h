#pragma once
// The `tls { }` block of nats.conf as plain values, and the checks that need
// no files. Building a context from it is tls/tls.h.
#include <string>
#include <vector>

namespace fjord::tls {

// As nats.conf spells it; names are Go's (cipher suites, curves), mapped to
// OpenSSL's here.
struct Options {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;  // trusted CAs for client certificates
  bool verify = false;          // demand a client certificate signed by ca_file
  bool verify_and_map = false;  // ... and log in as the user it names
  double timeout_s = 2.0;       // handshake deadline (nats-server's default)
  bool handshake_first = false;  // TLS before INFO (2.10)
  std::string min_version;       // "1.2" (default) or "1.3"
  std::vector<std::string> cipher_suites;      // e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
  std::vector<std::string> curve_preferences;  // CurveP256, CurveP384, CurveP521, X25519
  std::vector<std::string> pinned_certs;       // hex SHA-256 of a client's SubjectPublicKeyInfo
};

// The checks nats-server makes on the names, without touching files.
// Returns an error text or "". `need_cert` false: a client's block, which
// may name no certificate (but not half of one).
std::string Validate(const Options& o, bool need_cert = true);

}  // namespace fjord::tls
