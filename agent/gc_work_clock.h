// TEMPORARY: offsets of runtime.workType's pauseStart and tEnd — the clock of the GC pause
// figures of Go <= 1.21 — read off the DWARF of go1.19.8, go1.20.14 and go1.21.13 fixtures
// (`readelf --debug-dump=info`). They belong in RuntimeLayout (symbolizer/runtime_layout.h,
// DWARF first, then the generated table); move them there and delete this file.
#pragma once

#include <cstdint>
#include <optional>

namespace goscry {

struct GcWorkClock {
  std::uint16_t pause_start = 0;  // work.pauseStart
  std::uint16_t t_end = 0;        // work.tEnd
};

// nullopt from Go 1.22 on, where startTheWorldWithSema's arguments carry the clock.
std::optional<GcWorkClock> gc_work_clock(int go_minor);

}  // namespace goscry
