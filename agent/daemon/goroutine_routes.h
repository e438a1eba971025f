// The agent's goroutine and leak routes (DaemonHooks::add_routes):
//   /debug/pprof/goroutine?pid=P&debug=0|1|2      every goroutine, Go's three shapes
//   /debug/pprof/goroutineleak?pid=P&debug=0|1|2  the goroutines of the suspected leaks
//   /api/v1/leaks[?pid=P]                         the leak detector's reports (JSON)
// A pid the agent does not track is a 404, a bad debug or pid a 400, each with one
// sentence.
#pragma once

#include "agent/http/http_server.h"
#include "agent/daemon/leak_source.h"

namespace goscry {

void add_goroutine_routes(HttpServer& server, LeakSource& leaks);

}  // namespace goscry
