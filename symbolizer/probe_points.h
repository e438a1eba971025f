// The runtime functions goscry hooks (docs/go-runtime.md), resolved in one binary: each with its
// entry and end, or the reason it cannot be hooked there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "symbolizer/go_binary.h"

namespace goscry {

struct ProbePoint {
  std::string function;  // "runtime.newproc1"
  std::string purpose;   // "goroutine creation (RETs)"
  std::optional<FuncBounds> bounds;
  std::string missing;  // why bounds is empty: "not used before go1.22", ...
};

// Every probe point of the binary's Go version (both exit hooks are listed; the one that
// does not apply says why). An unknown version decides by what the binary contains.
std::vector<ProbePoint> probe_points(const GoBinary& bin);

}  // namespace goscry
