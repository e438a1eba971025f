// How a goroutine's creation site is named: as Go's own traceback names it in "created by"
// — the function holding the `go` statement (the physical one, inlining aside) and the
// file:line of the statement itself (the innermost frame at the call to newproc).
#pragma once

#include <cstdint>
#include <string>

#include "agent/goruntime/code_location.h"
#include "symbolizer/go_binary.h"

namespace goscry {

struct CreationSite : CodeLocation {
  // Goroutine 1: started by the runtime's bootstrap (rt0_go calls newproc for runtime.main),
  // not by a `go` statement, so Go's traceback names no creator for it.
  bool bootstrap = false;
  // "main.spawnShort main.go:55" (file base name), for text output and JSON "site";
  // "runtime.rt0_go (runtime bootstrap)" for goroutine 1's.
  std::string display() const;
};

// `gopc`: g.gopc as a file virtual address (the return address of the call to newproc).
CreationSite creation_site(const GoBinary& bin, std::uint64_t gopc);

}  // namespace goscry
