// `goscry record --pid P`: a CPU profile of a running process from a cpu-clock perf event
// per CPU (bpf/cpu.bpf.c), written as pprof, an interactive SVG flame graph or folded
// stacks. Stacks are symbolized while the target lives (each new stack id once per second)
// so that a target exiting mid-record still gives named frames; Ctrl-C stops early and
// the file is still written. The profile itself (stacks, pprof labels, goids, the pprof
// and flame graph input) is agent/cpu/cpu_recording.h's; the pprof encoding agent/cpu/cpu_profile.h's,
// shared with the agent.
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <tuple>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/base/exit_codes.h"
#include "agent/base/duration.h"
#include "symbolizer/proc_stat.h"
#include "agent/probes/bpf_loader.h"
#include "agent/cli/cli.h"
#include "agent/cpu/cpu_profile.h"
#include "agent/cpu/cpu_recording.h"
#include "agent/cpu/cpu_target.h"
#include "agent/goruntime/go_plugins.h"
#include "agent/goruntime/go_process.h"
#include "agent/goruntime/go_version.h"
#include "exporters/flamegraph.h"
#include "exporters/pprof.h"
#include "symbolizer/output_file.h"
#include "symbolizer/process_symbolizer.h"

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

std::atomic<bool> interrupted{false};

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


// What the BPF counters say was lost, "" when nothing was: samples (the ring was full),
// then stacks, whose samples are in the profile under a "[stack lost: why]" frame.
std::string lost_summary(const std::array<std::uint64_t, GOSCRY_CPU_CNT_MAX>& c) {
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  const std::uint64_t user = c[GOSCRY_CPU_USER_EFAULT] + c[GOSCRY_CPU_USER_OTHER] +
                             c[GOSCRY_CPU_USER_TABLE_FULL];
  const std::uint64_t kernel = c[GOSCRY_CPU_KERNEL_LOST] + c[GOSCRY_CPU_KERNEL_TABLE_FULL];
  std::string out;
  if (c[GOSCRY_CPU_RING_FULL] + user + kernel > 0)
    out = ", lost: " + n(c[GOSCRY_CPU_RING_FULL]) + " samples (ring full), " + n(user) +
          " user stacks (" + n(c[GOSCRY_CPU_USER_EFAULT]) + " unreadable, " +
          n(c[GOSCRY_CPU_USER_TABLE_FULL]) + " to a full stack table, " +
          n(c[GOSCRY_CPU_USER_OTHER]) + " other), " + n(kernel) +
          " kernel stacks; their samples are under a \"[stack lost: why]\" frame";
  if (c[GOSCRY_CPU_G_UNREADABLE] > 0)
    out += ", " + n(c[GOSCRY_CPU_G_UNREADABLE]) +
           " samples without a readable goroutine (no goid, no labels)";
  if (c[GOSCRY_CPU_REGS_UNKNOWN] > 0)
    out += ", " + n(c[GOSCRY_CPU_REGS_UNKNOWN]) +
           " kernel-mode samples without the user registers (no frameless leaf's caller)";
  return out;
}

int run_record(const RecordOptions& o) {
  auto duration = parse_window("--duration", o.duration);
  if (!duration) return std::fprintf(stderr, "goscry record: %s\n", duration.error().message.c_str()), kExitBadInput;
  RecordOptions opts = o;
  if (opts.output.empty()) opts.output = "goscry-" + std::to_string(o.pid) + ".pb.gz";
  auto format = output_format(opts);
  if (!format) return std::fprintf(stderr, "goscry record: %s\n", format.error().message.c_str()), kExitBadInput;
  // Before the recording: a bad path must not cost the whole duration.
  if (auto w = check_output_path(opts.output, "--output"); !w)
    return std::fprintf(stderr, "goscry record: %s\n", w.error().message.c_str()), kExitBadInput;
  if (o.hz <= 0 || o.hz > 10000)
    return std::fprintf(stderr, "goscry record: --hz must be in 1..10000\n"), kExitBadInput;
  if (o.hz > 250)
    std::fprintf(stderr,
                 "goscry record: warning: %d Hz costs the target noticeably more than the "
                 "default 99 Hz\n",
                 o.hz);
  if (!process_alive(o.pid))
    return std::fprintf(stderr, "goscry record: pid %d: no such process\n", o.pid), kExitNoTarget;

  // A Go program that loaded a plugin is refused as by every verb, before anything is opened;
  // a C program that dlopen'ed a c-shared Go library is not a Go target and is recorded as
  // native code.
  if (go_version_of_file("/proc/" + std::to_string(o.pid) + "/exe"))
    if (auto r = refuse_go_plugins(o.pid); !r)
      return std::fprintf(stderr, "goscry record: %s\n", r.error().message.c_str()),
             exit_code(r.error());
  auto symbolizer = ProcessSymbolizer::create(o.pid);
  if (!symbolizer)
    return std::fprintf(stderr, "goscry record: %s\n", symbolizer.error().message.c_str()),
           exit_code(symbolizer.error());
  // Open the modules now (and keep their build-ids): once the target is gone they cannot
  // be reached through it.
  const ModuleIds module_ids = read_module_ids(**symbolizer);
  // A Go target's goroutines and pprof labels; any other process gets stacks only.
  auto go = GoProcess::open(o.pid);
  goscry_cpu_target what{};
  if (go)
    what = go_cpu_target(**go, o.goid_labels);
  else
    std::fprintf(stderr, "goscry record: no goroutines nor pprof labels: %s\n",
                 go.error().message.c_str());

  auto sampler = CpuSampler::open(o.hz);
  if (!sampler)
    return std::fprintf(stderr, "goscry record: %s\n", sampler.error().message.c_str()),
           exit_code(sampler.error());
  if (auto r = (*sampler)->add_target(static_cast<std::uint32_t>(o.pid), what); !r)
    return std::fprintf(stderr, "goscry record: %s\n", r.error().message.c_str()),
           exit_code(r.error());

  struct sigaction sa {};
  sa.sa_handler = [](int) { interrupted = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // The test waits for this exact line to read the target's CPU time at the start.
  std::fprintf(stderr, "goscry record: recording pid %d at %d Hz\n", o.pid, o.hz);
  std::fflush(stderr);
  CpuRecording rec(**sampler, symbolizer->get(), go ? go->get() : nullptr,
                 static_cast<std::uint32_t>(o.pid), {.goid_labels = o.goid_labels});
  const bool tty = isatty(2);
  const auto start = std::chrono::steady_clock::now();
  const auto wall_start = std::chrono::system_clock::now();
  const auto deadline = start + *duration;
  auto next_tick = start + std::chrono::seconds(1);
  bool exited = false;
  while (!interrupted) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (!process_alive(o.pid)) {
      exited = true;
      break;
    }
    // Every wake (<= 100 ms): the ring holds ~2 s of samples, read it long before.
    (*sampler)->read_ring();
    if (now >= next_tick) {
      next_tick += std::chrono::seconds(1);
      rec.add((*sampler)->drain_counts());  // symbolized now, while the target lives
      if (tty) {
        auto c = (*sampler)->counters();
        double secs = std::chrono::duration<double>(now - start).count();
        std::fprintf(stderr, "\rrecording pid %d: %.0f/%.0f s, %llu samples   ", o.pid, secs,
                     std::chrono::duration<double>(*duration).count(),
                     c ? static_cast<unsigned long long>((*c)[GOSCRY_CPU_SAMPLES]) : 0ULL);
      }
    }
    auto wake = std::min({deadline, next_tick, now + std::chrono::milliseconds(100)});
    std::this_thread::sleep_until(wake);  // a timer: nothing to poll for between ticks
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  (*sampler)->stop();
  if (tty) std::fputs("\n", stderr);
  // The end of the window the samples cover (the test reads the target's CPU time here).
  std::fputs("goscry record: sampling stopped\n", stderr);
  std::fflush(stderr);
  rec.add((*sampler)->drain_counts());

  auto counters = (*sampler)->counters();
  std::string lost = counters ? lost_summary(*counters)
                              : ", lost: unknown (" + counters.error().message + ")";
  if (rec.unreadable_label_sets() > 0)
    lost += ", " + std::to_string(rec.unreadable_label_sets()) + " pprof label sets unreadable";
  const double secs = std::chrono::duration<double>(elapsed).count();
  Result<void> written;
  if (*format == "pprof") {
    const std::int64_t start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      wall_start.time_since_epoch())
                                      .count();
    auto b = cpu_pprof(cpu_samples(rec, o.hz, o.kernel), symbolizer->get(), module_ids, o.hz,
                       start_ns,
                       std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
    auto bytes = b.serialize_gzip();
    if (bytes) written = write_output_file(opts.output, *bytes);
    else
      written = fail(ErrorKind::Io, opts.output + ": " + bytes.error());
  } else if (*format == "folded") {
    written = write_output_file(opts.output, flame::folded(flame_stacks(rec)));
  } else {
    flame::SvgOptions so;
    so.title = "goscry record: pid " + std::to_string(o.pid);
    char sub[128];
    std::snprintf(sub, sizeof sub, "%.1f s at %d Hz, %llu samples", secs, o.hz,
                  static_cast<unsigned long long>(rec.total()));
    so.subtitle = sub;
    written = write_output_file(opts.output, flame::svg(flame_stacks(rec), so));
  }
  if (!written)
    return std::fprintf(stderr, "goscry record: %s\n", written.error().message.c_str()),
           exit_code(written.error());
  std::fprintf(stderr, "goscry record: %llu samples in %.1f s%s%s -> %s\n",
               static_cast<unsigned long long>(rec.total()), secs,
               exited ? " (the target exited)" : interrupted ? " (interrupted)" : "", lost.c_str(),
               opts.output.c_str());
  return kExitOk;
}

}  // namespace

void add_record_verb(CLI::App& app, VerbRun& run) {
  auto opts = std::make_shared<RecordOptions>();
  auto* cmd = app.add_subcommand("record", "a CPU profile of a running process (pprof, svg, folded)");
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
