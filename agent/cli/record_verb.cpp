// `goscry record --pid P`: a CPU profile of a running process from a cpu-clock perf event
// per CPU (bpf/cpu.bpf.c), written as pprof, an interactive SVG flame graph or folded
// stacks. The sampling is agent/cpu/cpu_session.h's (stacks symbolized while the target
// lives, so a target exiting mid-record still gives named frames); the profile itself
// agent/cpu/cpu_recording.h's, its pprof encoding agent/cpu/cpu_profile.h's, shared with the
// agent. Here: the options, the renderers, and Ctrl-C, which stops early with the file
// still written.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "agent/base/duration.h"
#include "agent/base/exit_codes.h"
#include "agent/base/stop_signal.h"
#include "agent/cli/cli.h"
#include "agent/cli/verb_output.h"
#include "agent/cpu/cpu_session.h"
#include "exporters/flamegraph.h"
#include "exporters/pprof.h"
#include "symbolizer/output_file.h"

namespace goscry {
namespace {

struct RecordOptions {
  int pid = 0;
  std::string duration = "30s";
  std::string output;
  std::string format;
  int hz = 99;
  bool goid_labels = false;
  bool kernel = false;  // kernel frames in the pprof (folded and svg always have them)
};

// A finished session and what the renderers need besides.
struct RecordReport {
  const CpuSession& session;
  bool kernel;
};

Result<std::string> pprof_bytes(const RecordReport& r) {
  const CpuSession& s = r.session;
  const int hz = s.settings().hz;
  auto b = cpu_pprof(cpu_samples(s.recording(), r.kernel), s.symbolizer(), s.module_ids(), hz,
                     s.start_unix_ns(), s.elapsed().count());
  auto bytes = b.serialize_gzip();
  if (!bytes) return fail(ErrorKind::Io, bytes.error());
  return std::move(*bytes);
}

Result<std::string> folded_text(const RecordReport& r) {
  return flame::folded(flame_stacks(r.session.recording()));
}

Result<std::string> svg_text(const RecordReport& r) {
  const CpuSession& s = r.session;
  flame::SvgOptions so;
  so.title = "goscry record: pid " + std::to_string(s.settings().pid);
  char sub[128];
  std::snprintf(sub, sizeof sub, "%.1f s at %d Hz, %llu samples",
                std::chrono::duration<double>(s.elapsed()).count(), s.settings().hz,
                static_cast<unsigned long long>(s.recording().total()));
  so.subtitle = sub;
  return flame::svg(flame_stacks(s.recording()), so);
}

const Formats<Result<std::string> (*)(const RecordReport&)> kFormats = {
    {"pprof", pprof_bytes}, {"svg", svg_text}, {"folded", folded_text}};

// The format named by --format, else by the output's extension.
Result<std::string> output_format(const RecordOptions& o) {
  if (!o.format.empty()) {
    if (o.format == "pprof" || o.format == "svg" || o.format == "folded") return o.format;
    return fail(ErrorKind::BadInput, "unknown --format " + o.format + " (pprof, svg or folded)");
  }
  auto ends = [&](const char* ext) { return o.output.ends_with(ext); };
  if (ends(".svg")) return std::string("svg");
  if (ends(".folded") || ends(".txt")) return std::string("folded");
  if (ends(".pb.gz") || ends(".pprof") || ends(".pb")) return std::string("pprof");
  return fail(ErrorKind::BadInput, "cannot tell the format from " + o.output +
                                       " (.pb.gz, .svg or .folded; or give --format)");
}

// The options' own mistakes, before anything is opened: a bad path must not cost the whole
// duration. Fills in the default output.
Result<void> check_options(RecordOptions& o) {
  if (o.output.empty()) o.output = "goscry-" + std::to_string(o.pid) + ".pb.gz";
  auto format = output_format(o);
  if (!format) return std::unexpected(format.error());
  o.format = *format;
  if (auto w = check_output_path(o.output, "--output"); !w) return w;
  if (o.hz <= 0 || o.hz > 10000) return fail(ErrorKind::BadInput, "--hz must be in 1..10000");
  if (o.hz > 250)
    std::fprintf(stderr,
                 "goscry record: warning: %d Hz costs the target noticeably more than the "
                 "default 99 Hz\n",
                 o.hz);
  return {};
}

// On a terminal, where the recording is, redrawn once a second.
CpuSession::Progress progress_line(int pid, std::chrono::nanoseconds duration) {
  if (!isatty(2)) return nullptr;
  return [pid, duration](std::uint64_t samples, double secs) {
    std::fprintf(stderr, "\rrecording pid %d: %.0f/%.0f s, %llu samples   ", pid, secs,
                 std::chrono::duration<double>(duration).count(),
                 static_cast<unsigned long long>(samples));
  };
}

int run_record(RecordOptions o) {
  auto duration = parse_window("--duration", o.duration);
  if (!duration) return fail_verb("record", duration.error(), kExitBadInput);
  if (auto r = check_options(o); !r) return fail_verb("record", r.error(), kExitBadInput);
  auto session = CpuSession::open({.pid = o.pid, .hz = o.hz, .goid_labels = o.goid_labels});
  if (!session) return fail_verb("record", session.error());
  CpuSession& s = **session;
  if (!s.note().empty()) std::fprintf(stderr, "goscry record: %s\n", s.note().c_str());
  install_stop_handlers();
  // The test waits for this exact line to read the target's CPU time at the start.
  std::fprintf(stderr, "goscry record: recording pid %d at %d Hz\n", o.pid, o.hz);
  std::fflush(stderr);
  const auto progress = progress_line(o.pid, *duration);
  const auto end = s.run(*duration, stop_requested, progress);
  if (progress) std::fputs("\n", stderr);
  // The end of the window the samples cover (the test reads the target's CPU time here).
  std::fputs("goscry record: sampling stopped\n", stderr);
  std::fflush(stderr);
  auto bytes = kFormats[o.format]({s, o.kernel});
  Result<void> written = bytes ? write_output_file(o.output, *bytes)
                               : fail(bytes.error().kind, o.output + ": " + bytes.error().message);
  if (!written) return fail_verb("record", written.error());
  std::fprintf(stderr, "goscry record: %llu samples in %.1f s%s%s -> %s\n",
               static_cast<unsigned long long>(s.recording().total()),
               std::chrono::duration<double>(s.elapsed()).count(),
               end == CpuSessionEnd::TargetExited ? " (the target exited)"
               : stop_requested()                 ? " (interrupted)"
                                                  : "",
               s.lost_summary().c_str(), o.output.c_str());
  return kExitOk;
}

}  // namespace

void add_record_verb(CLI::App& app, VerbRun& run) {
  auto opts = std::make_shared<RecordOptions>();
  auto* cmd =
      app.add_subcommand("record", "a CPU profile of a running process (pprof, svg, folded)");
  cmd->add_option("--pid,-p", opts->pid, "the process to profile")->required();
  cmd->add_option("-d,--duration", opts->duration, "how long (30s, 500ms, 2m); Ctrl-C stops early");
  cmd->add_option("-o,--output", opts->output, "the file to write (default goscry-PID.pb.gz)");
  cmd->add_option("--format", opts->format, "pprof|svg|folded (default: from -o's extension)");
  cmd->add_option("--hz", opts->hz, "samples per second per CPU (default 99)");
  cmd->add_flag("--goid-labels", opts->goid_labels,
                "label each pprof sample with its goroutine id (goid)");
  cmd->add_flag("--kernel", opts->kernel,
                "keep kernel frames in the pprof profile (default: a sample taken in the kernel "
                "ends at the Go function that entered it, as in Go's own profiles)");
  cmd->callback([opts, &run] { run = [opts] { return run_record(*opts); }; });
}

}  // namespace goscry
