// `goscry leaks --pid P [-d 60s]`: watches a running Go program and reports the goroutine
// leaks it finds (agent/leaks/leak_detector.h), printing each suspect as it appears and a report
// at the end. Exit status: 0 no leak, 1 leaks found, 2 error — so CI can run it.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "agent/base/duration.h"
#include "agent/base/exit_codes.h"
#include "agent/cli/cli.h"
#include "agent/goruntime/goroutine_reader.h"
#include "agent/leaks/leak_detector.h"
#include "agent/probes/target_watch.h"
#include "exporters/json_report.h"
#include "symbolizer/output_file.h"

namespace goscry {

namespace {

std::atomic<bool> g_stop{false};
void on_stop_signal(int) { g_stop = true; }

struct LeaksOptions {
  TargetOptions target;
  std::string duration = "60s";
  std::string interval = "1s";
  std::string format = "text";
  bool no_bpf = false;
  std::string leak_profile;  // write the goroutineleak profile (pprof) of the suspects here
};

// BPF per-site counters when the probes can be attached; the detector works without them.
// Through a TargetWatch: some goroutines' ends come as events rather than counts
// (bpf/runtime.h, event_goid_max), and the watch adds them back per site.
struct SiteProbes {
  std::unique_ptr<TargetWatch> watch;
  std::string status = "off";

  void attach(int pid) {
    auto w = TargetWatch::open(pid);
    if (!w) {
      status = "off: " + w.error().message;
      return;
    }
    watch = std::move(*w);
    status = "on (" + std::to_string(watch->probe_count()) + " probes)";
  }

  std::optional<std::unordered_map<std::uint64_t, SiteCounter>> counts() {
    if (!watch || !watch->refresh()) return std::nullopt;
    std::unordered_map<std::uint64_t, SiteCounter> out;
    for (const auto& s : watch->site_counts()) out[s.gopc] = {s.created, s.exited};
    return out;
  }
};

int run_leaks(const LeaksOptions& o) {
  auto duration = parse_window("--duration", o.duration);
  auto interval = parse_window("--interval", o.interval);
  if (!duration || !interval) {
    std::cerr << "goscry leaks: " << (duration ? interval.error() : duration.error()).message
              << "\n";
    return kExitBadInput;
  }
  // A suspect needs min_span_seconds of history: a shorter watch could only ever say "0
  // suspected leaks", which reads as "no leak" (it said so on a target leaking 1,200/min).
  const auto min_span = std::chrono::duration<double>(LeakDetectorOptions{}.min_span_seconds);
  if (*duration < min_span + *interval) {
    std::cerr << "goscry leaks: -d " << o.duration << " is too short: a leak is reported after "
              << int(min_span.count()) << " s of history, so watch at least "
              << int(std::ceil(std::chrono::duration<double>(min_span + *interval).count()))
              << "s at --interval "
              << o.interval << "\n";
    return kExitBadInput;
  }
  // Before the watch: a bad path must not cost the whole duration.
  if (!o.leak_profile.empty())
    if (auto w = check_output_path(o.leak_profile, "--leak-profile"); !w) {
      std::cerr << "goscry leaks: " << w.error().message << "\n";
      return kExitBadInput;
    }
  auto target = GoProcess::open(o.target.pid);
  if (!target) {
    std::cerr << "goscry leaks: " << target.error().message << "\n";
    return exit_code(target.error());
  }
  const GoProcess& t = **target;
  SiteProbes probes;
  if (!o.no_bpf) probes.attach(t.pid());
  const bool json = o.format == "json";
  json_report::Writer writer(std::cout, json_report::Writer::Style::kLines);
  if (!json)
    std::cout << "goscry leaks: watching pid " << t.pid() << " (" << t.go_version() << ") for "
              << o.duration << "; BPF site counters " << probes.status << std::endl;

  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  LeakDetector detector;
  std::vector<GoroutineView> last_views;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + *duration;
  std::optional<Error> ended_by;
  for (auto next = start; !g_stop && std::chrono::steady_clock::now() < end; next += *interval) {
    auto list = read_goroutines(t);
    if (!list) {
      ended_by = list.error();
      break;
    }
    auto views =
        symbolize_goroutines(t, std::move(list->goroutines), list->read_at, list->pc_facts);
    const auto sites = probes.counts();
    for (const auto& s : detector.observe(views, list->read_at, sites ? &*sites : nullptr, &t)) {
      if (json) {
        auto j = json_report::envelope("leak_suspect", 1);
        j.update(suspect_json(s));
        writer.write(j);
      } else {
        std::cout << "suspect after " << int(s.reported_after_seconds) << " s: "
                  << suspect_text(s, false) << std::flush;
      }
    }
    last_views = std::move(views);
    std::this_thread::sleep_until(std::min(next + *interval, end));
  }
  const double watched =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto suspects = detector.suspects();
  if (!o.leak_profile.empty()) {
    auto bytes = goroutine_leak_profile(t, detector, last_views, 0);
    Result<void> written = bytes ? write_output_file(o.leak_profile, bytes->body)
                                 : Result<void>(std::unexpected(bytes.error()));
    if (!written) {
      std::cerr << "goscry leaks: " << o.leak_profile << ": cannot write the profile: "
                << written.error().message << "\n";
      return exit_code(written.error());
    }
  }
  if (json) {
    auto j = leaks_report_json(t.pid(), t.go_version(), watched, suspects, probes.status);
    if (ended_by) j["ended_by"] = ended_by->message;
    writer.write(j);
  } else {
    if (ended_by) std::cout << "goscry leaks: stopped early: " << ended_by->message << "\n";
    std::cout << "\ngoscry leaks: " << suspects.size() << " suspected leak"
              << (suspects.size() == 1 ? "" : "s") << " after " << int(watched) << " s\n";
    for (std::size_t i = 0; i < suspects.size(); ++i)
      std::cout << "\n#" << i + 1 << " " << suspect_text(suspects[i], true);
  }
  // A watch cut short by a read error decided nothing about the rest of the time: not a
  // clean "no leak" (README.md "Exit status": 5 when the target exited).
  if (ended_by) return exit_code(*ended_by);
  return suspects.empty() ? kExitOk : kExitLeaks;
}

}  // namespace


void add_leaks_verb(CLI::App& app, VerbRun& run) {
  auto o = std::make_shared<LeaksOptions>();
  auto* cmd = app.add_subcommand(
      "leaks", "watch, then report suspected goroutine leaks with creation and blocking sites");
  add_target_options(*cmd, o->target, false);
  cmd->get_option("--pid")->required();
  cmd->add_option("-d,--duration", o->duration, "how long to watch (60s, 2m)")
      ->default_val("60s");
  cmd->add_option("--interval", o->interval, "time between two snapshots")->default_val("1s");
  add_format_option(*cmd, o->format);
  cmd->add_option("--leak-profile", o->leak_profile,
                  "write a pprof goroutine profile of the suspected goroutines to FILE");
  cmd->add_flag("--no-bpf", o->no_bpf, "memory snapshots only, no per-site BPF counters");
  cmd->callback([o, &run] { run = [o] { return run_leaks(*o); }; });
}

}  // namespace goscry
