// `goscry leaks --pid P [-d 60s]`: watches a running Go program and reports the goroutine
// leaks it finds (the watch: agent/leaks/leak_watch.h), printing each suspect as it appears
// and a report at the end. Exit status (README.md "Exit status"): 0 no leak, 3 leaks
// suspected, else the error's — so CI can run it.
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>

#include "agent/base/duration.h"
#include "agent/base/exit_codes.h"
#include "agent/base/stop_signal.h"
#include "agent/cli/cli.h"
#include "agent/cli/verb_output.h"
#include "agent/leaks/leak_watch.h"
#include "agent/proc/privileges.h"
#include "agent/probes/target_watch.h"
#include "exporters/json_report.h"
#include "symbolizer/output_file.h"

namespace goscry {

namespace {

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

  // On the process the detector reads: one handle, its binary's facts looked up once.
  void attach(std::shared_ptr<const GoProcess> go) {
    if (auto why = missing_privileges()) {
      status = "off: " + *why;
      return;
    }
    auto w = TargetWatch::open(std::move(go));
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

// What the renderers are given: the target, the watch so far and how it was set up.
struct LeaksReport {
  const GoProcess& target;
  const LeaksOptions& options;
  const std::string& bpf_status;
  const LeakWatch* watch;  // null until the watch ended
};

// The text and JSON renderers: the opening line, each suspect as it appears, the report.
struct LeaksRenderer {
  void (*start)(const LeaksReport&);
  void (*suspect)(const LeakSuspect&);
  void (*end)(const LeaksReport&);
};

void start_text(const LeaksReport& r) {
  std::cout << "goscry leaks: watching pid " << r.target.pid() << " (" << r.target.go_version()
            << ") for " << r.options.duration << "; BPF site counters " << r.bpf_status
            << std::endl;
}

void suspect_line(const LeakSuspect& s) {
  std::cout << "suspect after " << int(s.reported_after_seconds) << " s: " << suspect_text(s, false)
            << std::flush;
}

void end_text(const LeaksReport& r) {
  const auto suspects = r.watch->detector.suspects();
  if (r.watch->ended_by)
    std::cout << "goscry leaks: stopped early: " << r.watch->ended_by->message << "\n";
  std::cout << "\ngoscry leaks: " << suspects.size() << " suspected leak"
            << (suspects.size() == 1 ? "" : "s") << " after " << int(r.watch->watched_seconds)
            << " s\n";
  for (std::size_t i = 0; i < suspects.size(); ++i)
    std::cout << "\n#" << i + 1 << " " << suspect_text(suspects[i], true);
}

void start_json(const LeaksReport&) {}

void suspect_json_line(const LeakSuspect& s) {
  auto j = json_report::envelope("leak_suspect", 1);
  j.update(suspect_json(s));
  json_report::Writer(std::cout, json_report::Writer::Style::kLines).write(j);
}

void end_json(const LeaksReport& r) {
  auto j = leaks_report_json(r.target.pid(), r.target.go_version(), r.watch->watched_seconds,
                             r.watch->detector.suspects(), r.bpf_status);
  if (r.watch->ended_by) j["ended_by"] = r.watch->ended_by->message;
  json_report::Writer(std::cout, json_report::Writer::Style::kLines).write(j);
}

const Formats<LeaksRenderer> kFormats = {{"text", {start_text, suspect_line, end_text}},
                                         {"json", {start_json, suspect_json_line, end_json}}};

// The options' own mistakes, before the watch: a bad path must not cost the whole duration.
Result<LeakWatchSettings> check_options(const LeaksOptions& o) {
  auto duration = parse_window("--duration", o.duration);
  if (!duration) return std::unexpected(duration.error());
  auto interval = parse_window("--interval", o.interval);
  if (!interval) return std::unexpected(interval.error());
  if (const auto shortest = shortest_leak_watch(*interval); *duration < shortest)
    return fail(
        ErrorKind::BadInput,
        "-d " + o.duration + " is too short: a leak is reported after " +
            std::to_string(int(LeakDetectorOptions{}.min_span_seconds)) +
            " s of history, so watch at least " +
            std::to_string(int(std::ceil(std::chrono::duration<double>(shortest).count()))) +
            "s at --interval " + o.interval);
  if (!o.leak_profile.empty())
    if (auto w = check_output_path(o.leak_profile, "--leak-profile"); !w)
      return std::unexpected(w.error());
  return LeakWatchSettings{*duration, *interval};
}

Result<void> write_leak_profile(const std::string& path, const GoProcess& t, const LeakWatch& w) {
  auto bytes = goroutine_leak_profile(t, w.detector, w.last_views, 0);
  Result<void> written =
      bytes ? write_output_file(path, bytes->body) : Result<void>(std::unexpected(bytes.error()));
  if (!written)
    return fail(written.error().kind,
                path + ": cannot write the profile: " + written.error().message);
  return {};
}

int run_leaks(const LeaksOptions& o) {
  auto settings = check_options(o);
  if (!settings) return fail_verb("leaks", settings.error(), kExitBadInput);
  auto target = GoProcess::open(o.target.pid);
  if (!target) return fail_verb("leaks", target.error());
  const std::shared_ptr<const GoProcess> process = std::move(*target);
  const GoProcess& t = *process;
  SiteProbes probes;
  if (!o.no_bpf) probes.attach(process);
  const LeaksRenderer& render = kFormats[o.format];
  render.start({t, o, probes.status, nullptr});
  install_stop_handlers();
  const LeakWatch w = watch_for_leaks(
      t, *settings, [&] { return probes.counts(); }, render.suspect, stop_requested);
  if (!o.leak_profile.empty())
    if (auto r = write_leak_profile(o.leak_profile, t, w); !r) return fail_verb("leaks", r.error());
  render.end({t, o, probes.status, &w});
  // A watch cut short by a read error decided nothing about the rest of the time: not a
  // clean "no leak" (README.md "Exit status": 5 when the target exited).
  if (w.ended_by) return exit_code(*w.ended_by);
  return w.detector.suspects().empty() ? kExitOk : kExitLeaks;
}

}  // namespace

void add_leaks_verb(CLI::App& app, VerbRun& run) {
  auto o = std::make_shared<LeaksOptions>();
  auto* cmd = app.add_subcommand(
      "leaks", "watch, then report suspected goroutine leaks with creation and blocking sites");
  add_target_options(*cmd, o->target, false);
  cmd->get_option("--pid")->required();
  cmd->add_option("-d,--duration", o->duration, "how long to watch (60s, 2m)")->default_val("60s");
  cmd->add_option("--interval", o->interval, "time between two snapshots")->default_val("1s");
  add_format_option(*cmd, o->format, kFormats);
  cmd->add_option("--leak-profile", o->leak_profile,
                  "write a pprof goroutine profile of the suspected goroutines to FILE");
  cmd->add_flag("--no-bpf", o->no_bpf, "memory snapshots only, no per-site BPF counters");
  cmd->callback([o, &run] { run = [o] { return run_leaks(*o); }; });
}

}  // namespace goscry
