// The shapes goroutines are written in, each the one Go itself uses, so that tools made for
// Go's output read goscry's:
//   - traceback text: runtime.Stack(buf, true) / SIGQUIT / debug=2
//     ("goroutine 7 [chan receive, 2 minutes]:", frames, "created by ... in goroutine 1");
//   - the goroutine profile at debug=1 ("N @ 0x... 0x..." then "#\t0x...\tfunc+0x..\tfile:line");
//   - the goroutine profile at debug=0 (profile.proto, gzipped, sample type goroutine/count);
//   - a JSON report (goscry's envelope).
// Like Go's, the traceback and the profiles leave system goroutines out unless asked.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_stacks.h"
#include "symbolizer/error.h"

namespace goscry {

struct FormatOptions {
  bool system = false;  // include the runtime's own goroutines (GOTRACEBACK=system)
};

// Takes the pieces of a text as they are made (about 64 KiB each); false stops the writer
// (the reader went away).
using PieceSink = std::function<bool(std::string_view)>;

// The traceback text in pieces, so that the tracebacks of a target with a million goroutines
// (hundreds of MiB) are never held whole; false when `sink` stopped it.
bool write_traceback_text(const std::vector<GoroutineView>& gs, const PieceSink& sink,
                          const FormatOptions& opt = {});
std::string traceback_text(const std::vector<GoroutineView>& gs, const FormatOptions& opt = {});
std::string goroutine_profile_debug1(const std::vector<GoroutineView>& gs,
                                     const FormatOptions& opt = {});
// Gzipped profile.proto bytes.
Result<std::string> goroutine_profile_proto(const GoProcess& t,
                                            const std::vector<GoroutineView>& gs,
                                            const FormatOptions& opt = {});
nlohmann::ordered_json dump_json(const GoProcess& t, const GoroutineList& list,
                                 const std::vector<GoroutineView>& gs,
                                 const FormatOptions& opt = {});

// An answer of the agent's goroutine routes: whole in `body` (the gzipped proto, the
// counts: one record per distinct stack), or, for the tracebacks (one per goroutine), a
// `stream` that writes them in pieces to a sink after the read, holding only the read
// goroutines and one piece.
struct GoroutineAnswer {
  std::string body;
  std::function<bool(const PieceSink&)> stream;
};
GoroutineAnswer streamed_traceback(std::vector<GoroutineView> gs);

// What /debug/pprof/goroutine?pid=P&debug=N answers (0: gzipped proto, 1, 2: text): opens
// the target, reads and formats, for the agent's HTTP route.
Result<GoroutineAnswer> goroutine_profile(int pid, int debug);
// The same for a target already open (the agent keeps its targets open).
Result<GoroutineAnswer> goroutine_profile(const GoProcess& t, int debug);

}  // namespace goscry
