#include "agent/gc_work_clock.h"

namespace goscry {

std::optional<GcWorkClock> gc_work_clock(int go_minor) {
  switch (go_minor) {
    case 19: return GcWorkClock{400, 384};
    case 20: return GcWorkClock{392, 376};
    case 21: return GcWorkClock{456, 440};
    default: return std::nullopt;
  }
}

}  // namespace goscry
