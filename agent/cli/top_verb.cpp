// `goscry top --pid P`: a live view of one Go process — goroutines alive, created/s and
// exited/s, the creation sites holding the most goroutines and growing fastest, GC cycles
// and stop-the-world pauses. A terminal gets a redrawn screen; a pipe gets one block (text)
// or one JSON report (json) per interval (the renderers: top_render.h).
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "agent/base/duration.h"
#include "agent/base/exit_codes.h"
#include "agent/base/stop_signal.h"
#include "agent/cli/cli.h"
#include "agent/cli/top_render.h"
#include "agent/cli/verb_output.h"
#include "agent/probes/watch_interval.h"

namespace goscry {

namespace {

struct TopOptions {
  TargetOptions target;
  std::string interval = "1s";
  bool once = false;
  std::string format = "text";
  std::size_t top = 10;
};

void write_stdout(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

int run_top(const TopOptions& o) {
  auto window = parse_window("--interval", o.interval);
  if (!window) return fail_verb("top", window.error(), kExitBadInput);
  const std::uint64_t interval = window->count();
  install_stop_handlers();
  auto watch = TargetWatch::open(o.target.pid);
  if (!watch) return fail_verb("top", watch.error());
  TargetWatch& w = **watch;
  const TopRender render = top_formats()[o.format];
  const bool terminal = isatty(STDOUT_FILENO);
  if (!o.once)
    std::fprintf(stderr, "goscry top: watching pid %d (%s), Ctrl-C to stop\n", w.pid(),
                 w.go_version().c_str());
  for (;;) {
    auto exited = watch_interval(w, interval, stop_requested);
    if (!exited) return fail_verb("top", exited.error());
    write_stdout(render({w, interval, o.top, *exited, terminal}));
    if (*exited) {
      std::fprintf(stderr, "goscry top: process %d exited\n", w.pid());
      return kExitOk;
    }
    if (o.once || stop_requested()) return kExitOk;
  }
}

}  // namespace

void add_top_verb(CLI::App& app, VerbRun& run) {
  auto o = std::make_shared<TopOptions>();
  auto* cmd = app.add_subcommand(
      "top",
      "live view of a Go process: goroutines (live, created/s, exited/s), top creation "
      "sites, GC cycles and stop-the-world pauses");
  add_target_options(*cmd, o->target, false);
  cmd->get_option("--pid")->required();
  cmd->add_option("--interval", o->interval, "refresh interval (500ms, 1s, ...)")
      ->default_val("1s");
  cmd->add_flag("--once", o->once, "print one interval and exit");
  cmd->add_option("--top", o->top, "how many creation sites to show")->default_val(10);
  add_format_option(*cmd, o->format, top_formats());
  cmd->callback([o, &run] { run = [o] { return run_top(*o); }; });
}

}  // namespace goscry
