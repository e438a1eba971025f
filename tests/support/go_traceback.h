// Go's traceback text (runtime.Stack(buf, true), SIGQUIT, /debug/pprof/goroutine?debug=2)
// parsed for comparisons: the fixtures print their own as the oracle of goscry dump.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace goscry::testing {

struct TracebackGoroutine {
  std::string header;  // the whole "goroutine 7 [chan receive, 2 minutes]:" line
  std::string state;   // "chan receive" (", N minutes" and ", locked to thread" dropped)
  bool locked = false;  // ", locked to thread"
  std::vector<std::string> functions;  // "main.deeper" (arguments dropped)
  // Every frame as "function\tfile:line +0xoff", arguments dropped: what two tracebacks of
  // one stack share byte for byte.
  std::vector<std::string> frames;
  // Every frame as printed, arguments included: "main.deeper(0x0?, 0x0?)\tfile:line +0xoff".
  std::vector<std::string> printed;
  std::string created_by;     // "main.main in goroutine 1"
  std::string created_at;     // its "file:line +0xoff"
};

// "main.deeper(0x0?, 0x0?)" -> "main.deeper"; "internal/poll.(*FD).Read({...})" -> "...Read".
std::string traceback_function(const std::string& line);

std::map<std::uint64_t, TracebackGoroutine> parse_traceback(const std::string& text);

// The text between "begin traceback" and "end traceback" lines of a fixture's output.
std::string oracle_traceback(const std::string& output);

}  // namespace goscry::testing
