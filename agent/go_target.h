// The Go binary behind --pid or --exe, and the load bias that maps its file addresses to
// the process's (0 for --exe and for non-PIE executables).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/cli.h"
#include "symbolizer/go_binary.h"

namespace goscry {

struct GoTarget {
  std::shared_ptr<GoBinary> binary;
  std::uint64_t bias = 0;  // runtime address = file vaddr + bias
  int pid = 0;
};

Result<GoTarget> open_go_target(const TargetOptions& t);

}  // namespace goscry
