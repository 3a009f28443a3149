#pragma once
// 2.12 counter streams (`allow_msg_counter`): each message on a subject
// holds the subject's running total as `{"val":"<decimal>"}`; a publish
// carries only its `Nats-Incr` and the stream stores the new total. Totals
// are arbitrary-precision integers (nats-server uses Go's big.Int), so
// increments beyond 64 bits add up exactly.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace fjord::jetstream {

inline constexpr std::string_view kIncrHeader = "Nats-Incr";
inline constexpr std::string_view kCounterSourcesHeader = "Nats-Counter-Sources";

// A decimal integer as Go's big.Int SetString(s, 10) takes it: an optional
// sign and at least one digit, nothing else. Returns it normalised ("+007"
// becomes "7"), or nothing if it is not one.
std::optional<std::string> ParseBigInt(std::string_view s);
// a + b and a - b of two normalised decimals.
std::string BigAdd(std::string_view a, std::string_view b);
std::string BigSub(std::string_view a, std::string_view b);

// The body of a counter message, `{"val":"123"}`.
std::string CounterBody(std::string_view total);
// The total in a stored counter message's body: nothing if the body is not
// a JSON object (the counter is broken); "0" when `val` is missing or not a
// number, as nats-server reads it.
std::optional<std::string> CounterTotal(std::string_view body);

// `Nats-Counter-Sources`: for each source stream, for each of its subjects,
// the last total seen from it ({"stream":{"subject":"123"}}). Sourced
// counter messages add only the change since that total.
using CounterSources = std::map<std::string, std::map<std::string, std::string>>;
// Nothing if the header is not such a JSON object (the counter is broken).
std::optional<CounterSources> ParseCounterSources(std::string_view json);
std::string CounterSourcesJson(const CounterSources& s);

}  // namespace fjord::jetstream
