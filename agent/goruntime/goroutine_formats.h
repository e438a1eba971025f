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
#include "symbolizer/output_file.h"  // PieceSink, PieceWriter

namespace goscry {

struct FormatOptions {
  bool system = false;  // include the runtime's own goroutines (GOTRACEBACK=system)
};

// The traceback text in pieces of about 64 KiB, so that the tracebacks of a target with a million goroutines
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
// The JSON report "goroutines" (docs/json-schemas.md), pretty-printed, in pieces: one
// goroutine's subtree at a time, never the whole tree (which took 700 MiB at 100,000).
bool write_dump_json(const GoProcess& t, const GoroutineList& list,
                     const std::vector<GoroutineView>& gs, const PieceSink& sink,
                     const FormatOptions& opt = {});

// An answer of the agent's goroutine routes: whole in `body` (the gzipped proto, the
// counts: one record per distinct stack), or, for the tracebacks (one per goroutine), a
// `stream` that writes them in pieces to a sink after the read, holding only the read
// goroutines and one piece.
struct GoroutineAnswer {
  std::string body;
  PieceWriter stream;
};
GoroutineAnswer streamed_traceback(std::vector<GoroutineView> gs);

// What /debug/pprof/goroutine?pid=P&debug=N answers (0: gzipped proto, 1, 2: text): reads
// and formats, for the agent's HTTP route.
Result<GoroutineAnswer> goroutine_profile(const GoProcess& t, int debug);

}  // namespace goscry
