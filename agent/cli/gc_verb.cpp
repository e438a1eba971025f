// `goscry gc --pid P [-d 30s]`: one line per GC cycle of a Go process — its number (the
// runtime's own, as gctrace and NumGC count), the sweep-termination pause, the concurrent
// mark phase, the mark-termination pause (and mark restarts) — plus the stop-the-world
// pauses that were not the GC's, with their reason; at the end (duration over, Ctrl-C, or
// the target gone) a summary per phase.
#include <cstdio>
#include <iostream>

#include "agent/base/exit_codes.h"
#include "agent/cli/cli.h"
#include "agent/base/duration.h"
#include "agent/base/stop_signal.h"
#include "agent/probes/target_watch.h"
#include "exporters/json_report.h"

namespace goscry {

namespace {

struct GcOptions {
  TargetOptions target;
  std::string duration;  // empty: until Ctrl-C or the target's end
  std::string format = "text";
};

nlohmann::ordered_json stats_json(const DurationStats& d) {
  return {{"count", d.count}, {"p50_ns", d.p50_ns}, {"p99_ns", d.p99_ns}, {"max_ns", d.max_ns}};
}

nlohmann::ordered_json cycle_json(int pid, const GcCycle& c) {
  auto j = json_report::envelope("gc_cycle", 1);
  j["pid"] = pid;
  // The runtime's number (NumGC after it, gctrace's "gc N"); null when it could not be read.
  if (c.number) j["cycle"] = c.number;
  else j["cycle"] = nullptr;
  j["seen"] = c.seen;
  j["whole"] = c.whole;
  if (c.whole) {
    j["start_ns"] = c.sweep_term.start_ns;
    j["sweep_termination_ns"] = c.sweep_term.duration_ns();
    j["mark_phase_ns"] = c.mark_phase_ns;
  }
  j["mark_termination_ns"] = c.mark_term.duration_ns();
  auto restarts = nlohmann::ordered_json::array();
  for (const auto& r : c.restarts) restarts.push_back(r.duration_ns());
  j["mark_restarts_ns"] = restarts;
  j["end_ns"] = c.mark_term.end_ns;
  return j;
}

nlohmann::ordered_json pause_json(int pid, const StwPause& p) {
  auto j = json_report::envelope("stw_pause", 1);
  j["pid"] = pid;
  j["reason"] = p.reason_name;
  j["start_ns"] = p.start_ns;
  j["duration_ns"] = p.duration_ns();
  return j;
}

std::string cycle_text(const GcCycle& c) {
  std::string s = c.number ? "gc " + std::to_string(c.number)
                           : "gc ? (#" + std::to_string(c.seen) + " since attach)";
  if (c.whole)
    s += "  sweep-term STW " + format_duration(c.sweep_term.duration_ns()) + "  mark " +
         format_duration(c.mark_phase_ns);
  else
    s += "  (attached mid-cycle)";
  s += "  mark-term STW " + format_duration(c.mark_term.duration_ns());
  if (!c.restarts.empty()) {
    s += "  mark restarts";
    for (const auto& r : c.restarts) s += " " + format_duration(r.duration_ns());
  }
  return s;
}

std::string stats_text(const char* what, const DurationStats& d) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-22s %6llu   p50 %-9s p99 %-9s max %s\n", what,
                (unsigned long long)d.count, format_duration(d.p50_ns).c_str(),
                format_duration(d.p99_ns).c_str(), format_duration(d.max_ns).c_str());
  return buf;
}

void print_summary(const TargetWatch& w, bool json, std::uint64_t watched_ns, bool exited) {
  const GcTracker& gc = w.gc();
  if (json) {
    auto j = json_report::envelope("gc_summary", 1);
    j["pid"] = w.pid();
    j["go_version"] = w.go_version();
    j["watched_ns"] = watched_ns;
    j["cycles"] = gc.cycles();
    if (gc.first_cycle()) {
      j["first_cycle"] = gc.first_cycle();
      j["last_cycle"] = gc.last_cycle();
    }
    j["sweep_termination"] = stats_json(gc.sweep_termination());
    j["mark_phase"] = stats_json(gc.mark_phase());
    j["mark_termination"] = stats_json(gc.mark_termination());
    j["other_stw"] = stats_json(gc.other_pauses());
    j["target_exited"] = exited;
    j["lost"] = w.lost();
    json_report::Writer(std::cout, json_report::Writer::Style::kLines).write(j);
    return;
  }
  std::string s = "summary: " + std::to_string(gc.cycles()) + " GC cycles";
  if (gc.first_cycle())
    s += " (gc " + std::to_string(gc.first_cycle()) + "-" + std::to_string(gc.last_cycle()) + ")";
  s += " in " + format_duration(watched_ns) + "\n";
  s += stats_text("sweep termination STW", gc.sweep_termination());
  s += stats_text("mark phase", gc.mark_phase());
  s += stats_text("mark termination STW", gc.mark_termination());
  s += stats_text("other STW", gc.other_pauses());
  if (auto lost = w.lost()) s += "  (" + std::to_string(lost) + " events lost in BPF)\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

int run_gc(const GcOptions& o) {
  std::uint64_t duration = 0;
  if (!o.duration.empty()) {
    auto d = parse_window("--duration", o.duration);
    if (!d) {
      std::fprintf(stderr, "goscry gc: %s\n", d.error().message.c_str());
      return kExitBadInput;
    }
    duration = d->count();
  }
  install_stop_handlers();
  auto watch = TargetWatch::open(o.target.pid);
  if (!watch) {
    std::fprintf(stderr, "goscry gc: %s\n", watch.error().message.c_str());
    return exit_code(watch.error());
  }
  TargetWatch& w = **watch;
  const bool json = o.format == "json";
  json_report::Writer writer(std::cout, json_report::Writer::Style::kLines);
  std::fprintf(stderr, "goscry gc: watching pid %d (%s), Ctrl-C to stop\n", w.pid(),
               w.go_version().c_str());
  auto on_gc = [&](const GcUpdate& u) {
    if (u.cycle) {
      if (json) writer.write(cycle_json(w.pid(), *u.cycle));
      else std::printf("%s\n", cycle_text(*u.cycle).c_str());
    }
    if (u.other) {
      if (json) writer.write(pause_json(w.pid(), *u.other));
      else std::printf("stw  %s  %s\n", u.other->reason_name.c_str(),
                       format_duration(u.other->duration_ns()).c_str());
    }
    if (!json) std::fflush(stdout);
  };
  const std::uint64_t start = monotonic_ns();
  bool exited = false;
  while (!stop_requested()) {
    if (duration && monotonic_ns() - start >= duration) break;
    if (auto r = w.poll(100, on_gc); !r) {
      std::fprintf(stderr, "goscry gc: %s\n", r.error().message.c_str());
      return exit_code(r.error());
    }
    if (!process_alive(w.pid())) {
      exited = true;
      break;
    }
  }
  (void)w.poll(0, on_gc);  // what the target did last
  if (exited) std::fprintf(stderr, "goscry gc: process %d exited\n", w.pid());
  print_summary(w, json, monotonic_ns() - start, exited);
  return kExitOk;
}

}  // namespace

void add_gc_verb(CLI::App& app, VerbRun& run) {
  auto o = std::make_shared<GcOptions>();
  auto* cmd = app.add_subcommand(
      "gc", "one line per GC cycle (stop-the-world pauses, mark phase), a summary at the end");
  add_target_options(*cmd, o->target, false);
  cmd->get_option("--pid")->required();
  cmd->add_option("-d,--duration", o->duration, "how long to watch (30s, 2m); default: until "
                                                 "Ctrl-C or the target ends");
  add_format_option(*cmd, o->format);
  cmd->callback([o, &run] { run = [o] { return run_gc(*o); }; });
}

}  // namespace goscry
