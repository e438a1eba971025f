// The window of a delta profile (`heap`, `block`, `mutex` with --seconds N): the records are
// read at its start and at its end, and the profile is their difference.
#pragma once

#include "agent/goruntime/go_process.h"

namespace goscry {

// The window when --enable-sampling gives no --seconds: what was recorded before the rate
// was written is not what the user asked for.
constexpr int kDefaultEnabledSeconds = 10;

// Sleeps `seconds`, less when a stop signal comes or the target exits (then the second
// read says so at once, not at the end of the window).
void wait_window(const GoProcess& t, int seconds);

}  // namespace goscry
