#pragma once
// TLS for the client port and HTTPS monitoring: nats.conf's `tls { }` block
// turned into an OpenSSL server context, and what Fjord reads off a peer's
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
std::variant<std::shared_ptr<asio::ssl::context>, std::string> MakeServerContext(const Options& o);

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
