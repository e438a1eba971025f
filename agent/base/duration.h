// Durations as Go writes them, the one syntax of every verb's flags and of the agent's config:
// time.ParseDuration's "300ms", "1.5h", "2h45m", "1µs", "-1m", "0". Go's own syntax, so a
// string that works in the program watched (GODEBUG, flags, configs) works here too.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "symbolizer/error.h"

namespace goscry {

// time.ParseDuration, to the nanosecond and with its overflow rule (at most 2^63-1 ns, about
// 292 years). Fails with one sentence: "bad duration \"5 minutes\": unknown unit \" minutes\"
// (Go's syntax: 500ms, 30s, 1.5m, 2h45m)".
Result<std::chrono::nanoseconds> parse_go_duration(std::string_view text);

// A window or an interval of goscry's own (`-d`, `--interval`, the config's durations): a Go
// duration of at least kMinWindow. 0, negative and tiny ones make no sense for a window, and
// below 10ms a refresh loop would spin. `what` names it in the error:
// "--duration: must be at least 10ms, not 0".
inline constexpr std::chrono::milliseconds kMinWindow{10};
Result<std::chrono::nanoseconds> parse_window(std::string_view what, std::string_view text);

// 1234 -> "1.2us", 45000000 -> "45.0ms": three significant figures, Go's units.
std::string format_duration(std::uint64_t ns);

}  // namespace goscry
