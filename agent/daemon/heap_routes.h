// The agent's profile routes read from targets' memory (DaemonHooks::add_routes), in the
// shapes of Go's net/http/pprof:
//   /debug/pprof/heap?pid=P[&debug=1][&seconds=N]  in-use and allocated objects and bytes by
//                                                  stack, as of the last completed GC
//   /debug/pprof/allocs?pid=P[&debug=1][&seconds=N] the same, alloc_space shown by default;
//                                                  with seconds=N the allocations of the
//                                                  next N seconds
//   /debug/pprof/block?pid=P[&debug=1][&seconds=N]  contentions and delay by stack, as
//   /debug/pprof/mutex?pid=P[&debug=1][&seconds=N]  `goscry block` / `goscry mutex` read
//                                                  them; empty while the program's rate
//                                                  is 0, as Go's own endpoint answers
// debug=0 (default) is a gzipped profile.proto sent as an attachment named after the
// profile (`<name>-delta` for a window, which takes no debug), debug=1 the text of Go's
// debug=1 (the heap's without the runtime.MemStats trailer, which only the program can
// read). An untracked pid is a 404, a bad pid, debug or seconds a 400, gc=1 a 400 (it
// would run a GC in the target: goscry never runs code there), each one sentence.
#pragma once

#include "agent/daemon/heap_source.h"
#include "agent/http/http_server.h"

namespace goscry {

void add_heap_routes(HttpServer& server, HeapSource& heap);

}  // namespace goscry
