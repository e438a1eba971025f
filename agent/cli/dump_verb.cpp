// `goscry dump --pid P`: every goroutine of a running Go program, like a SIGQUIT traceback
// without the kill, or like /debug/pprof/goroutine without net/http/pprof.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "agent/base/exit_codes.h"
#include "agent/cli/cli.h"
#include "agent/goruntime/goroutine_formats.h"
#include "agent/proc/target_pause.h"
#include "symbolizer/output_file.h"
#include "exporters/json_report.h"

namespace goscry {

namespace {

struct DumpOptions {
  TargetOptions target;
  std::string format = "text";
  std::string output;
  bool pause = false;
  int debug = -1;  // pprof: 0 proto, 1 counts, 2 traceback; -1 = 0 for files, 1 for a tty
  bool system = false;
};

std::string ms(std::int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f ms", double(ns) / 1e6);
  return buf;
}

// The dump in the asked shape. The tracebacks and the JSON are written as they are
// formatted, never held whole (a million goroutines are ~350 MB of text).
Result<PieceWriter> render(const DumpOptions& o, const GoProcess& t, const GoroutineList& list,
                           const std::vector<GoroutineView>& views) {
  const FormatOptions fo{o.system};
  int debug = o.debug;
  if (debug < 0) debug = (o.output.empty() && isatty(STDOUT_FILENO)) ? 1 : 0;
  if (o.format == "text" || (o.format == "pprof" && debug == 2))
    return [&views, fo](const PieceSink& sink) { return write_traceback_text(views, sink, fo); };
  if (o.format == "json")
    return [&t, &list, &views, fo](const PieceSink& sink) {
      return write_dump_json(t, list, views, sink, fo);
    };
  std::string whole;
  if (debug == 1) {
    whole = goroutine_profile_debug1(views, fo);
  } else {
    auto proto = goroutine_profile_proto(t, views, fo);
    if (!proto) return std::unexpected(proto.error());
    whole = std::move(*proto);
  }
  return [whole = std::move(whole)](const PieceSink& sink) { return sink(whole); };
}

int run_dump(const DumpOptions& o) {
  // Before the read (and any pause of the target): a bad path must not cost the target.
  if (!o.output.empty() && o.output != "-")
    if (auto w = check_output_path(o.output, "--output"); !w) {
      std::cerr << "goscry dump: " << w.error().message << "\n";
      return exit_code(w.error());
    }
  auto target = GoProcess::open(o.target.pid);
  if (!target) {
    std::cerr << "goscry dump: " << target.error().message << "\n";
    return exit_code(target.error());
  }
  std::unique_ptr<TargetPause> pause;
  if (o.pause) {
    auto p = TargetPause::stop(o.target.pid);
    if (!p) {
      std::cerr << "goscry dump: " << p.error().message << "\n";
      return exit_code(p.error());
    }
    pause = std::move(*p);
  }
  ReadOptions ro;
  // A stopped target cannot change under the read: one read is exact.
  ro.validate = !pause;
  // Running goroutines' stacks start from their threads' registers, as a debugger's do.
  if (pause) ro.threads = pause->registers();
  // Tracebacks print each frame's arguments, read from the same moment as its stack.
  ro.args = o.format == "text" || (o.format == "pprof" && o.debug == 2);
  auto list = read_goroutines(**target, ro);
  const std::int64_t paused_ns = pause ? pause->resume() : 0;
  if (!list) {
    std::cerr << "goscry dump: " << list.error().message << "\n";
    return exit_code(list.error());
  }
  const std::size_t read = list->goroutines.size();
  const auto views =
      symbolize_goroutines(**target, std::move(list->goroutines), list->read_at, list->pc_facts);
  auto writer = render(o, **target, *list, views);
  if (!writer) {
    std::cerr << "goscry dump: " << writer.error().message << "\n";
    return exit_code(writer.error());
  }
  if (auto w = write_output(o.output, *writer); !w) {
    std::cerr << "goscry dump: " << w.error().message << "\n";
    return exit_code(w.error());
  }
  std::cerr << "goscry dump: pid " << o.target.pid << " (" << target.value()->go_version()
            << "): " << read << " goroutines read in " << ms(list->read_ns)
            << ", " << list->attempts << (list->attempts == 1 ? " attempt" : " attempts") << ", "
            << list->syscalls << " syscalls";
  std::size_t system = 0;
  for (const auto& v : views) system += v.system;
  if (system && !o.system)
    std::cerr << "; " << system << " of them the runtime's own, left out as Go leaves them out "
              << "(--system shows them)";
  if (!list->consistent) std::cerr << "; the goroutine list kept changing, the last read is shown";
  if (list->torn)
    std::cerr << "; " << list->torn
              << " goroutines kept running under every read, their stacks are not shown";
  if (pause) std::cerr << "; target paused for " << ms(paused_ns);
  std::cerr << "\n";
  return kExitOk;
}

}  // namespace

void add_dump_verb(CLI::App& app, VerbRun& run) {
  auto o = std::make_shared<DumpOptions>();
  auto* cmd = app.add_subcommand(
      "dump", "every goroutine with state, wait reason, wait time, stack and creator");
  add_target_options(*cmd, o->target, false);
  cmd->get_option("--pid")->required();
  cmd->add_option("--format", o->format, "text (Go's traceback), json, or pprof")
      ->check(CLI::IsMember({"text", "json", "pprof"}))
      ->default_val("text");
  cmd->add_option("-o,--output", o->output, "write to FILE instead of stdout");
  cmd->add_flag("--pause", o->pause,
                "stop every thread of the target (ptrace) for the read; it runs on when "
                "goscry ends, however it ends");
  cmd->add_option("--debug", o->debug,
                  "pprof shape: 0 profile.proto (gzipped), 1 counted stacks, 2 traceback")
      ->check(CLI::Range(0, 2));
  cmd->add_flag("--system", o->system, "include the runtime's own goroutines");
  cmd->callback([o, &run] { run = [o] { return run_dump(*o); }; });
}

}  // namespace goscry
