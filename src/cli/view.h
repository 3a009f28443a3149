#pragma once
// Human-readable renderings of the server's stream and consumer info JSON.
#include <ostream>

#include "cli/common.h"

namespace fjord::cli {

// `info` is a StreamInfo (or a create/update/info response carrying one).
void PrintStreamInfo(const Json& info, std::ostream& out);
// `info` is a ConsumerInfo (or a create/info response carrying one).
void PrintConsumerInfo(const Json& info, std::ostream& out);

// -1 / 0 limits print as "unlimited".
std::string LimitNumber(int64_t v);
std::string LimitBytes(int64_t v);
std::string LimitDuration(int64_t ns);
std::string Capitalize(std::string s);

}  // namespace fjord::cli
