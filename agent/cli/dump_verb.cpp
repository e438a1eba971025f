// `goscry dump --pid P`: every goroutine of a running Go program, like a SIGQUIT traceback
// without the kill, or like /debug/pprof/goroutine without net/http/pprof.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "agent/base/exit_codes.h"
#include "agent/cli/cli.h"
#include "agent/cli/verb_output.h"
#include "agent/goruntime/goroutine_formats.h"
#include "agent/proc/target_pause.h"
#include "symbolizer/output_file.h"

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

// One read of the target's goroutines, symbolized.
struct Dump {
  GoroutineList list;
  std::size_t read = 0;  // goroutines read (the list's are moved into the views)
  std::vector<GoroutineView> views;
  std::int64_t paused_ns = 0;
  bool paused = false;
};

struct DumpReport {
  const DumpOptions& options;
  const GoProcess& target;
  const Dump& dump;
};

std::string ms(std::int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f ms", double(ns) / 1e6);
  return buf;
}

// The renderers. The tracebacks and the JSON are written as they are formatted, never held
// whole (a million goroutines are ~350 MB of text).
Result<PieceWriter> traceback_text(const DumpReport& r) {
  const FormatOptions fo{r.options.system};
  return [&views = r.dump.views, fo](const PieceSink& sink) {
    return write_traceback_text(views, sink, fo);
  };
}

Result<PieceWriter> dump_json(const DumpReport& r) {
  const FormatOptions fo{r.options.system};
  return [&t = r.target, &list = r.dump.list, &views = r.dump.views, fo](const PieceSink& sink) {
    return write_dump_json(t, list, views, sink, fo);
  };
}

// Go's goroutine profile: debug=0 profile.proto (gzipped), 1 counted stacks, 2 traceback.
Result<PieceWriter> goroutine_profile(const DumpReport& r) {
  const FormatOptions fo{r.options.system};
  int debug = r.options.debug;
  if (debug < 0) debug = (r.options.output.empty() && isatty(STDOUT_FILENO)) ? 1 : 0;
  if (debug == 2) return traceback_text(r);
  std::string whole;
  if (debug == 1) {
    whole = goroutine_profile_debug1(r.dump.views, fo);
  } else {
    auto proto = goroutine_profile_proto(r.target, r.dump.views, fo);
    if (!proto) return std::unexpected(proto.error());
    whole = std::move(*proto);
  }
  return [whole = std::move(whole)](const PieceSink& sink) { return sink(whole); };
}

const Formats<Result<PieceWriter> (*)(const DumpReport&)> kFormats = {
    {"text", traceback_text}, {"json", dump_json}, {"pprof", goroutine_profile}};

// The goroutines, read while the target is paused when asked (resumed on every path).
Result<Dump> read_dump(const DumpOptions& o, const GoProcess& t) {
  std::unique_ptr<TargetPause> pause;
  if (o.pause) {
    auto p = TargetPause::stop(o.target.pid);
    if (!p) return std::unexpected(p.error());
    pause = std::move(*p);
  }
  ReadOptions ro;
  // A stopped target cannot change under the read: one read is exact.
  ro.validate = !pause;
  // Running goroutines' stacks start from their threads' registers, as a debugger's do.
  if (pause) ro.threads = pause->registers();
  // Tracebacks print each frame's arguments, read from the same moment as its stack.
  ro.args = o.format == "text" || (o.format == "pprof" && o.debug == 2);
  auto list = read_goroutines(t, ro);
  Dump d;
  d.paused = pause != nullptr;
  d.paused_ns = pause ? pause->resume() : 0;
  if (!list) return std::unexpected(list.error());
  d.read = list->goroutines.size();
  d.views = symbolize_goroutines(t, std::move(list->goroutines), list->read_at, list->pc_facts);
  d.list = std::move(*list);
  return d;
}

// One line on stderr: how much was read, how, and what is not shown.
void summary(const DumpOptions& o, const GoProcess& t, const Dump& d) {
  const GoroutineList& list = d.list;
  std::cerr << "goscry dump: pid " << o.target.pid << " (" << t.go_version() << "): " << d.read
            << " goroutines read in " << ms(list.read_ns) << ", " << list.attempts
            << (list.attempts == 1 ? " attempt" : " attempts") << ", " << list.syscalls
            << " syscalls";
  std::size_t system = 0;
  for (const auto& v : d.views) system += v.system;
  if (system && !o.system)
    std::cerr << "; " << system << " of them the runtime's own, left out as Go leaves them out "
              << "(--system shows them)";
  if (!list.consistent) std::cerr << "; the goroutine list kept changing, the last read is shown";
  if (list.torn)
    std::cerr << "; " << list.torn
              << " goroutines kept running under every read, their stacks are not shown";
  if (d.paused) std::cerr << "; target paused for " << ms(d.paused_ns);
  std::cerr << "\n";
}

int run_dump(const DumpOptions& o) {
  // Before the read (and any pause of the target): a bad path must not cost the target.
  if (!o.output.empty() && o.output != "-")
    if (auto w = check_output_path(o.output, "--output"); !w) return fail_verb("dump", w.error());
  auto target = GoProcess::open(o.target.pid);
  if (!target) return fail_verb("dump", target.error());
  auto dump = read_dump(o, **target);
  if (!dump) return fail_verb("dump", dump.error());
  auto writer = kFormats[o.format]({o, **target, *dump});
  if (!writer) return fail_verb("dump", writer.error());
  if (auto w = write_output(o.output, *writer); !w) return fail_verb("dump", w.error());
  summary(o, **target, *dump);
  return kExitOk;
}

}  // namespace

void add_dump_verb(CLI::App& app, VerbRun& run) {
  auto o = std::make_shared<DumpOptions>();
  auto* cmd = app.add_subcommand(
      "dump", "every goroutine with state, wait reason, wait time, stack and creator");
  add_target_options(*cmd, o->target, false);
  cmd->get_option("--pid")->required();
  add_format_option(*cmd, o->format, kFormats, "text (Go's traceback), json, or pprof");
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
