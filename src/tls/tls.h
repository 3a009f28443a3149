#pragma once
// TLS for the client port, HTTPS monitoring and routes: nats.conf's
// `tls { }` blocks turned into OpenSSL server (and, for routes we dial,
// client) contexts, and what Fjord reads off a peer's
// certificate (verify_and_map identities, pinned_certs hashes). The record
// layer is OpenSSL's own, driven through Asio's ssl::stream.
#include <asio/ssl.hpp>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tls/options.h"

namespace fjord::tls {

// Loads the certificate chain, key and CAs and applies versions, ciphers
// and curves. An error text names the file or setting that failed.
// `verify` (or `verify_and_map`) demands a peer certificate signed by
// ca_file.
std::variant<std::shared_ptr<asio::ssl::context>, std::string> MakeServerContext(const Options& o);

// The client role (routes we dial): presents cert_file/key_file, trusts
// ca_file, and verifies the server's certificate chain unless `insecure`
// (Go's InsecureSkipVerify; ca_file may then be empty). Host name checks
// are the caller's, per connection. Versions, ciphers and curves as
// MakeServerContext; `verify` and `pinned_certs` are not looked at.
std::variant<std::shared_ptr<asio::ssl::context>, std::string> MakeClientContext(const Options& o,
                                                                                 bool insecure);

// What verify_and_map tries, in nats-server's order: the certificate's
// e-mail addresses, DNS names and URIs, then its subject in RFC 2253 form
// ("CN=alice,OU=shop,O=Oslo").
std::vector<std::string> Identities(X509* cert);

// Lower-case hex SHA-256 of the certificate's DER SubjectPublicKeyInfo, as
// pinned_certs lists them.
std::string SpkiSha256(X509* cert);

// True if `b` starts a TLS record carrying a handshake (a ClientHello).
inline bool LooksLikeTls(unsigned char b) { return b == 0x16; }

}  // namespace fjord::tls
