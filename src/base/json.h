#pragma once
// Lenient reads of fields from JSON that came from outside (JWT claims,
// request bodies): a missing field, or one of another type, gives the
// default instead of throwing. Works with nlohmann::json and ordered_json.
#include <cstdint>
#include <string>

namespace fjord::base {

template <typename Json>
std::string JsonString(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->template get<std::string>() : std::string();
}

template <typename Json>
int64_t JsonInt(const Json& j, const char* key, int64_t def = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->template get<int64_t>() : def;
}

template <typename Json>
bool JsonBool(const Json& j, const char* key, bool def = false) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->template get<bool>() : def;
}

}  // namespace fjord::base
