// Go plugins (-buildmode=plugin, loaded with plugin.Open) are not supported yet: their code
// has its own .gopclntab and their goroutines run it, so a process that loaded one was read
// as if the executable were all its Go code (frameless goroutines in `dump`, goroutines
// missing from `top`, 0 GC cycles in `gc`). Every verb that opens a live Go target and the
// agent refuse such a process with one sentence instead.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "symbolizer/error.h"

namespace goscry {

// The path (as the target sees it) of the first Go shared object the process has mapped
// besides its executable, or nullopt. Fails when /proc/PID/maps cannot be read. A plugin
// loaded after this call is not seen: callers check once, when they open the target.
Result<std::optional<std::string>> loaded_go_plugin(pid_t pid);

// Fails with "pid N has loaded the Go plugin P: goscry does not read plugins' code and
// goroutines yet" when loaded_go_plugin finds one (or with its own error).
Result<void> refuse_go_plugins(pid_t pid);

}  // namespace goscry
