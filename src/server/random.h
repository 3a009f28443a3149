#pragma once
// Unguessable identifiers (reply tokens, event ids) from OpenSSL's generator.
#include <cstddef>
#include <string>

namespace fjord::server {

// `n` characters of [A-Za-z0-9].
std::string RandomToken(size_t n);

}  // namespace fjord::server
