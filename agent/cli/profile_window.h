// What the delta-profile verbs (`heap`, `block`, `mutex`) share: their options, and the
// window of a delta (--seconds N): the records are read at its start and at its end, and
// the profile is their difference.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "agent/cli/cli.h"
#include "agent/goruntime/go_process.h"

namespace goscry {

// The options `heap`, `block` and `mutex` share: --pid (required), --format (pprof by
// default with -o, text on stdout), -o and --seconds N (the window, `seconds_help`).
struct ProfileVerbOptions {
  TargetOptions target;
  std::string format;
  std::string output;
  int seconds = 0;
};
void add_profile_verb_options(CLI::App& cmd, ProfileVerbOptions& o,
                              const std::vector<std::string>& formats,
                              const std::string& seconds_help);

// The window when --enable-sampling gives no --seconds: what was recorded before the rate
// was written is not what the user asked for.
constexpr int kDefaultEnabledSeconds = 10;

// Sleeps `seconds`, less when a stop signal comes or the target exits (then the second
// read says so at once, not at the end of the window).
void wait_window(const GoProcess& t, int seconds);

}  // namespace goscry
