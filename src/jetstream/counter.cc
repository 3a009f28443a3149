#include "jetstream/counter.h"

#include <openssl/bn.h>

#include <memory>

#include "jetstream/types.h"

namespace fjord::jetstream {
namespace {

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

// `s` is normalised (ParseBigInt), so BN_dec2bn reads all of it.
Bn FromDecimal(std::string_view s) {
  BIGNUM* b = nullptr;
  std::string z(s);
  if (BN_dec2bn(&b, z.c_str()) == 0) return Bn(BN_new());  // only on allocation failure
  return Bn(b);
}

std::string ToDecimal(const BIGNUM* b) {
  char* text = BN_bn2dec(b);
  if (!text) return "0";
  std::string out = text;
  OPENSSL_free(text);
  return out == "-0" ? "0" : out;
}

template <typename Op>
std::string Combine(std::string_view a, std::string_view b, Op op) {
  Bn x = FromDecimal(a), y = FromDecimal(b), r(BN_new());
  op(r.get(), x.get(), y.get());
  return ToDecimal(r.get());
}

}  // namespace

std::optional<std::string> ParseBigInt(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
  if (s == "0") return std::string("0");
  return (negative ? "-" : "") + std::string(s);
}

std::string BigAdd(std::string_view a, std::string_view b) {
  return Combine(a, b, [](BIGNUM* r, const BIGNUM* x, const BIGNUM* y) { BN_add(r, x, y); });
}

std::string BigSub(std::string_view a, std::string_view b) {
  return Combine(a, b, [](BIGNUM* r, const BIGNUM* x, const BIGNUM* y) { BN_sub(r, x, y); });
}

std::string CounterBody(std::string_view total) {
  return "{\"val\":\"" + std::string(total) + "\"}";
}

std::optional<std::string> CounterTotal(std::string_view body) {
  auto j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  if (j.is_null()) return std::string("0");  // Go decodes null into an empty value
  if (!j.is_object()) return std::nullopt;
  auto it = j.find("val");
  if (it == j.end() || it->is_null()) return std::string("0");
  // Go refuses to put a JSON number into the string field: broken.
  if (!it->is_string()) return std::nullopt;
  return ParseBigInt(it->get<std::string>()).value_or("0");
}

std::optional<CounterSources> ParseCounterSources(std::string_view json) {
  auto j = Json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  CounterSources out;
  for (const auto& [stream, subjects] : j.items()) {
    if (subjects.is_null()) continue;
    if (!subjects.is_object()) return std::nullopt;
    auto& per = out[stream];
    for (const auto& [subject, total] : subjects.items()) {
      if (!total.is_string()) return std::nullopt;
      per[subject] = total.get<std::string>();
    }
  }
  return out;
}

std::string CounterSourcesJson(const CounterSources& s) {
  Json j = Json::object();
  for (const auto& [stream, subjects] : s) j[stream] = subjects;
  return j.dump();
}

}  // namespace fjord::jetstream
