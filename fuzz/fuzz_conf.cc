// libFuzzer target for the nats.conf parser and the option loader: any input
// must parse or fail cleanly, within the nesting and size bounds, and any
// parsed document must load into ServerOptions or be rejected, without
// crashing or hanging.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "conf/conf.h"
#include "conf/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fjord::conf::ParseOptions options;
  // Includes would make the result depend on whatever files exist on the
  // fuzzing machine; the include statement itself is still parsed.
  options.max_include_depth = 0;
  auto result = fjord::conf::ParseString(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.conf", options);
  if (auto* err = std::get_if<fjord::conf::ParseError>(&result)) {
    // Positions must always point inside the input.
    if (err->pos.line < 1 || err->pos.col < 1) __builtin_trap();
    return 0;
  }
  fjord::conf::ServerOptions opts;
  fjord::conf::ApplyConfig(std::get<fjord::conf::Document>(result), opts);
  return 0;
}
