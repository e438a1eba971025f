#include "agent/cli/profile_window.h"

#include <time.h>

#include <algorithm>
#include <chrono>

#include "agent/base/stop_signal.h"
#include "agent/cli/verb_output.h"

namespace goscry {

void add_profile_verb_options(CLI::App& cmd, ProfileVerbOptions& o,
                              const std::vector<std::string>& formats,
                              const std::string& seconds_help) {
  add_target_options(cmd, o.target, false);
  cmd.get_option("--pid")->required();
  add_format_option(cmd, o.format, formats,
                    "pprof (profile.proto, gzipped), text (Go's debug=1) or json; default pprof "
                    "with -o, text on stdout");
  cmd.add_option("-o,--output", o.output, "write to FILE instead of stdout");
  cmd.add_option("--seconds", o.seconds, seconds_help)->check(CLI::Range(1, 86400));
}

void wait_window(const GoProcess& t, int seconds) {
  using namespace std::chrono;
  const auto end = steady_clock::now() + std::chrono::seconds(seconds);
  for (auto now = steady_clock::now(); now < end && !stop_requested() && t.process().alive();
       now = steady_clock::now()) {
    const auto step = std::min<nanoseconds>(end - now, milliseconds(200));
    timespec ts{time_t(step.count() / 1'000'000'000), long(step.count() % 1'000'000'000)};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace goscry
