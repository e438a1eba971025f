// goscry's dump of a real program checked against the program's own traceback
// (/debug/pprof/goroutine?debug=2) read just before and just after it: every goroutine that
// reads the same in the program's two must read byte for byte the same in goscry's. What the
// realworld suite checks on every server (tests/realworld/).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <map>
#include <string>

namespace goscry::testing {

// Whether CI=true: there a skipped realworld test is a failure.
bool under_ci();

// Each goroutine's whole block of a traceback ("goroutine N [state]:" to the blank line),
// by id.
std::map<std::string, std::string> traceback_blocks(const std::string& text);

struct SandwichResult {
  std::size_t compared = 0;   // goroutines that held still between the program's two reads
  std::size_t identical = 0;  // of those, the ones goscry's dump printed byte for byte alike
  std::string differences;    // the others, each with both versions; empty when all agree
};

// Compares the goroutines that did not change between `before` and `after` (the program's
// tracebacks) with goscry's `dump` taken between them.
SandwichResult compare_held_still(const std::string& before, const std::string& dump,
                                  const std::string& after);

// `goscry dump --pid pid` between two calls of `own_debug2` (the program's traceback),
// up to `attempts` times: a goroutine may move and come back between the reads, so the first
// sandwich without differences, or else the last one, is the answer. A test failure when
// goscry fails or the program does not answer.
SandwichResult dump_between_own_tracebacks(pid_t pid,
                                           const std::function<std::string()>& own_debug2,
                                           int attempts = 3);

// GET url (processes.h's http_get, 10 s at most): the body of a 2xx answer, else empty.
std::string http_body(const std::string& url);

// Polls `url` until it answers (or `timeout_s` passes): its body, or empty.
std::string wait_for_http(const std::string& url, int timeout_s);

}  // namespace goscry::testing
