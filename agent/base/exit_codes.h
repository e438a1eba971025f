// The exit status of every verb: one table (README.md "Exit status"), so a script can tell
// what went wrong the same way whatever it ran.
#pragma once

namespace goscry {

enum ExitCode : int {
  kExitOk = 0,        // done (`leaks`: no leak suspected)
  kExitFailed = 1,    // could not do it: no such process, it exited, not a Go binary, not
                      // permitted, not supported, an I/O error
  kExitBadInput = 2,  // the command line or a file it names is wrong (flags, durations,
                      // addresses, the agent's config); nothing was done to the target
  kExitLeaks = 3,     // `leaks`: leaks suspected
};

}  // namespace goscry
