#include "jetstream/errors.h"

namespace fjord::jetstream {
namespace {
struct Row {
  int code;
  int err_code;
  const char* desc;
};
constexpr Row kRows[] = {
#define X(name, code, err_code, desc) {code, err_code, desc},
#include "jetstream/errors.inc"
#undef X
};
}  // namespace

ApiError MakeError(Err e, std::initializer_list<std::pair<std::string_view, std::string>> args) {
  const Row& r = kRows[static_cast<int>(e)];
  std::string text = r.desc;
  for (const auto& [key, value] : args) {
    // Built by append: g++ 12 warns falsely (-Wrestrict) on "{" + key + "}".
    std::string ph;
    ph.reserve(key.size() + 2);
    ph.push_back('{');
    ph.append(key);
    ph.push_back('}');
    for (size_t pos = text.find(ph); pos != std::string::npos; pos = text.find(ph, pos + value.size()))
      text.replace(pos, ph.size(), value);
  }
  return {r.code, r.err_code, std::move(text)};
}

}  // namespace fjord::jetstream
