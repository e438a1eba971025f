// The pprof mapping of a Go process's text, as every profile goscry writes of a Go target
// (goroutine, heap) names it: the binary's path and Go build ID, the runtime's text start
// at run time, and the flags that tell pprof the locations are already symbolized with
// their inlined frames.
#pragma once

#include "agent/goruntime/go_process.h"
#include "exporters/pprof.h"

namespace goscry {

pprof::Mapping go_text_mapping(const GoProcess& t);

}  // namespace goscry
