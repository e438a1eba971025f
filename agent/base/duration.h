// Durations on the command line, as Go writes them: "500ms", "1s", "1.5s", "2m", "1h".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "symbolizer/error.h"

namespace goscry {

// Nanoseconds; fails with "bad duration \"x\" (use 500ms, 1s, 2m, ...)".
Result<std::uint64_t> parse_duration(std::string_view text);
// 1234 -> "1.2us", 45000000 -> "45.0ms": three significant figures, Go's units.
std::string format_duration(std::uint64_t ns);

}  // namespace goscry
