#pragma once
// JetStream API errors: one table (errors.inc, generated from the spec) so
// that every code and text the clients match on comes from one place.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace fjord::jetstream {

enum class Err {
#define X(name, code, err_code, desc) name,
#include "jetstream/errors.inc"
#undef X
};

struct ApiError {
  int code = 0;      // HTTP-like
  int err_code = 0;  // JetStream's own, what clients switch on
  std::string description;
  bool ok() const { return err_code == 0 && code == 0; }
  // In nats-server's key order.
  nlohmann::ordered_json ToJson() const {
    return {{"code", code}, {"err_code", err_code}, {"description", description}};
  }
};

// Builds the error, substituting "{name}" placeholders in its text.
ApiError MakeError(Err e, std::initializer_list<std::pair<std::string_view, std::string>> args = {});

}  // namespace fjord::jetstream
