// The exit status of every verb: one table (README.md "Exit status"), so a script can tell
// what went wrong the same way whatever it ran. The status comes from the error's kind
// (symbolizer/error.h), never from its message. 0..3 keep the meaning they had before the
// kinds; 4..6 split what was 1, as LSB init scripts and sysexits.h split "not permitted" and
// "not there" from other failures, so that a script walking many pids can skip the ones
// that exited or are not Go without parsing a sentence.
#pragma once

#include "symbolizer/error.h"

namespace goscry {

enum ExitCode : int {
  kExitOk = 0,            // done (`leaks`: no leak suspected)
  kExitFailed = 1,        // could not do it: an I/O error, anything not below
  kExitBadInput = 2,      // the command line or a file it names is wrong (flags, durations,
                          // addresses, the agent's config); nothing was done to the target
  kExitLeaks = 3,         // `leaks`: leaks suspected
  kExitNotPermitted = 4,  // the kernel refused: privileges, ptrace restrictions, an LSM
  kExitNoTarget = 5,      // no such process (or file), or the target exited while goscry ran
  kExitUnsupported = 6,   // not a Go program, or a Go version, binary or kernel goscry cannot read
};

constexpr ExitCode exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::BadInput:
      return kExitBadInput;
    case ErrorKind::Permission:
      return kExitNotPermitted;
    case ErrorKind::NotFound:
    case ErrorKind::TargetGone:
      return kExitNoTarget;
    case ErrorKind::Unsupported:
      return kExitUnsupported;
    case ErrorKind::Io:
      return kExitFailed;
  }
  return kExitFailed;
}

constexpr ExitCode exit_code(const Error& e) { return exit_code(e.kind); }

}  // namespace goscry
