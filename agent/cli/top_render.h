// `goscry top`'s renderers: one interval of a watched target as a screen of text or as one
// JSON report (docs/json-schemas.md "top").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/cli/verb_output.h"
#include "agent/probes/target_watch.h"

namespace goscry {

struct TopReport {
  const TargetWatch& watch;
  std::uint64_t interval_ns;
  std::size_t top;  // creation sites per list
  bool target_exited;
  bool terminal;  // stdout is one: the screen is redrawn in place
};

// The report as written to stdout.
using TopRender = std::string (*)(const TopReport&);
const Formats<TopRender>& top_formats();

}  // namespace goscry
