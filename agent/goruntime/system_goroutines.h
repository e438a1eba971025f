// Which goroutines the Go runtime counts as its own: the one rule goscry applies, so that
// the live count of `top` and the agent, the goroutines `dump` and the leak detector list,
// and runtime.NumGoroutine() agree (docs/go-runtime.md "System goroutines").
#pragma once

#include <string_view>

namespace goscry {

// runtime.isSystemGoroutine (traceback.go, Go 1.19-1.27) as newproc1 applies it when it
// adds to sched.ngsys, which runtime.NumGoroutine() subtracts: a goroutine whose start
// function is in package runtime ("runtime." — not runtime/pprof and the like), except
// runtime.main, runtime.corostart (1.23+) and runtime.handleAsyncEvent (wasm). The finalizer
// and cleanup goroutines are system ones at creation, which is when ngsys counts them.
bool is_system_start_function(std::string_view function);

}  // namespace goscry
