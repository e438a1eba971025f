// `goscry gc --pid P [-d 30s]`: one line per GC cycle of a Go process — its number (the
// runtime's own, as gctrace and NumGC count), the sweep-termination pause, the concurrent
// mark phase, the mark-termination pause (and mark restarts) — plus the stop-the-world
// pauses that were not the GC's, with their reason. Each cycle says why it ran (heap growth,
// the 2-minute timer, runtime.GC or debug.FreeOSMemory and who called it) and what the
// runtime counted for it (heap live at its start and marked at its end, its goal, GOGC and
// GOMEMLIMIT in force, its mark CPU); a figure goscry could not read is shown as "?" (JSON:
// null), never guessed. At the end (duration over, Ctrl-C, or the target gone) a summary
// per phase and a "why" line (docs/verbs/gc.md).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <limits>
#include <optional>

#include "agent/base/exit_codes.h"
#include "agent/cli/cli.h"
#include "agent/cli/verb_output.h"
#include "agent/base/duration.h"
#include "agent/base/stop_signal.h"
#include "agent/goruntime/heap_profile.h"
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

template <typename T>
nlohmann::ordered_json or_null(const std::optional<T>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

void add_why_json(nlohmann::ordered_json& j, const GcCycle& c) {
  j["trigger"] = gc_trigger_name(c.cause.trigger);
  const bool forced =
      c.cause.trigger == GcTrigger::kRuntimeGC || c.cause.trigger == GcTrigger::kFreeOSMemory;
  j["forced_by"] = forced && !c.cause.caller.empty() ? nlohmann::ordered_json(c.cause.caller)
                                                     : nlohmann::ordered_json(nullptr);
  const GcFigures& f = c.figures;
  j["heap_live_start_bytes"] = or_null(f.heap_live_start);
  j["heap_marked_bytes"] = or_null(f.heap_marked);
  j["heap_goal_bytes"] = or_null(f.heap_goal);
  j["gogc"] = or_null(f.gogc);
  j["memory_limit_bytes"] = or_null(f.memory_limit);
  j["mark_assist_ns"] = or_null(f.assist_ns);
  j["mark_dedicated_ns"] = or_null(f.dedicated_ns);
  j["mark_fractional_ns"] = or_null(f.fractional_ns);
  j["mark_idle_ns"] = or_null(f.idle_ns);
}

std::string bytes_text(const std::optional<std::uint64_t>& b) {
  if (!b) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(*b) / (1 << 20));
  return buf;
}

std::string cpu_text(const std::optional<std::int64_t>& ns) {
  return ns ? format_duration(std::uint64_t(std::max<std::int64_t>(*ns, 0))) : "?";
}

std::string why_text(const GcCycle& c) {
  std::string s;
  switch (c.cause.trigger) {
    case GcTrigger::kHeap: s = "heap growth"; break;
    case GcTrigger::kTime: s = "2-minute timer"; break;
    case GcTrigger::kRuntimeGC:
    case GcTrigger::kFreeOSMemory:
      s = std::string("forced by ") + (c.cause.caller.empty() ? "?" : c.cause.caller) + " (" +
          gc_trigger_name(c.cause.trigger) + ")";
      break;
    case GcTrigger::kUnknown: s = "cause ? (started before attach)"; break;
  }
  const GcFigures& f = c.figures;
  s += "  heap " + bytes_text(f.heap_live_start) + " -> marked " + bytes_text(f.heap_marked) +
       ", goal " + bytes_text(f.heap_goal);
  s += "  GOGC " + (f.gogc ? (*f.gogc < 0 ? std::string("off") : std::to_string(*f.gogc)) : "?");
  s += "  GOMEMLIMIT ";
  if (!f.memory_limit) s += "?";
  else if (*f.memory_limit == std::numeric_limits<std::int64_t>::max()) s += "none";
  else s += bytes_text(std::uint64_t(*f.memory_limit));
  s += "  mark CPU assist " + cpu_text(f.assist_ns) + " dedicated " + cpu_text(f.dedicated_ns) +
       " fractional " + cpu_text(f.fractional_ns) + " idle " + cpu_text(f.idle_ns);
  return s;
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
  add_why_json(j, c);
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
  s += "\n     why: " + why_text(c);
  return s;
}

std::string stats_text(const char* what, const DurationStats& d) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-22s %6llu   p50 %-9s p99 %-9s max %s\n", what,
                (unsigned long long)d.count, format_duration(d.p50_ns).c_str(),
                format_duration(d.p99_ns).c_str(), format_duration(d.max_ns).c_str());
  return buf;
}

json_report::Writer& json_lines() {
  static json_report::Writer writer(std::cout, json_report::Writer::Style::kLines);
  return writer;
}

// Who allocated over the watch: the allocs delta of the target's heap profile between the
// start and the end (as of the last GC before each: the heap profile is published at GC
// cycles, docs/go-runtime.md "The heap profile"), by allocating function.
struct AllocSites {
  std::vector<HeapSite> top;  // at most kTopAllocSites, largest first
  std::int64_t total = 0;     // bytes over every site
  std::string error;          // why there are none: memory profiling off, a failed read
};

constexpr std::size_t kTopAllocSites = 3;

// The heap profile now; the process is opened once, at the start.
Result<HeapProfile> heap_now(const GoProcess& t) {
  auto r = read_heap_records(t);
  if (!r) return std::unexpected(r.error());
  return heap_profile(t, *r);
}

struct AllocWindow {
  std::unique_ptr<GoProcess> process;
  Result<HeapProfile> start = std::unexpected(Error{ErrorKind::NotFound, "not read"});
};

AllocWindow alloc_window_start(pid_t pid) {
  AllocWindow w;
  auto p = GoProcess::open(pid);
  if (!p) {
    w.start = std::unexpected(p.error());
    return w;
  }
  w.process = std::move(*p);
  w.start = heap_now(*w.process);
  return w;
}

AllocSites alloc_sites(const AllocWindow& w) {
  AllocSites a;
  if (!w.start) {
    a.error = w.start.error().message;
    return a;
  }
  auto end = heap_now(*w.process);
  if (!end) {
    a.error = end.error().message;
    return a;
  }
  auto sites = heap_sites(heap_delta(*w.start, *end), kAllocSpace);
  for (const auto& s : sites) a.total += s.value;
  sites.resize(std::min(sites.size(), kTopAllocSites));
  a.top = std::move(sites);
  return a;
}

// "top allocation sites over the window: main.churn 75 % (3.0 MiB), ..."
std::string alloc_sites_text(const AllocSites& a) {
  if (!a.error.empty()) return "allocation sites unknown: " + a.error;
  if (a.top.empty()) return "no allocation published over the window";
  std::string s = "top allocation sites over the window:";
  for (std::size_t i = 0; i < a.top.size(); ++i) {
    char share[64];
    std::snprintf(share, sizeof share, " %.0f %% (%s)",
                  100.0 * double(a.top[i].value) / double(a.total),
                  bytes_text(std::uint64_t(a.top[i].value)).c_str());
    s += (i ? ", " : " ") + a.top[i].function + share;
  }
  return s;
}

nlohmann::ordered_json alloc_sites_json(const AllocSites& a) {
  if (!a.error.empty()) return nullptr;
  auto arr = nlohmann::ordered_json::array();
  for (const auto& s : a.top)
    arr.push_back({{"function", s.function},
                   {"bytes", s.value},
                   {"share", a.total ? double(s.value) / double(a.total) : 0.0}});
  return arr;
}

// What the summary renderers are given: the watch at its end.
struct GcEnd {
  const TargetWatch& watch;
  std::uint64_t watched_ns;
  bool exited;
  AllocSites allocs;
};

void summary_json(const GcEnd& e) {
  const TargetWatch& w = e.watch;
  const GcTracker& gc = w.gc();
  auto j = json_report::envelope("gc_summary", 1);
  j["pid"] = w.pid();
  j["go_version"] = w.go_version();
  j["watched_ns"] = e.watched_ns;
  j["cycles"] = gc.cycles();
  if (gc.first_cycle()) {
    j["first_cycle"] = gc.first_cycle();
    j["last_cycle"] = gc.last_cycle();
  }
  j["sweep_termination"] = stats_json(gc.sweep_termination());
  j["mark_phase"] = stats_json(gc.mark_phase());
  j["mark_termination"] = stats_json(gc.mark_termination());
  j["other_stw"] = stats_json(gc.other_pauses());
  const GcCauses& why = gc.causes();
  j["why"] = gc_why_summary(why);
  j["alloc_sites"] = alloc_sites_json(e.allocs);
  j["alloc_bytes"] = e.allocs.error.empty() ? nlohmann::ordered_json(e.allocs.total)
                                            : nlohmann::ordered_json(nullptr);
  if (!e.allocs.error.empty()) j["alloc_sites_error"] = e.allocs.error;
  auto triggers = nlohmann::ordered_json::object();
  for (const auto& [t, n] : why.cycles) triggers[gc_trigger_name(t)] = n;
  j["triggers"] = triggers;
  auto forced = nlohmann::ordered_json::array();
  for (const auto& [key, n] : why.forced_by)
    forced.push_back({{"trigger", gc_trigger_name(key.first)},
                      {"caller", key.second.empty() ? nlohmann::ordered_json(nullptr)
                                                    : nlohmann::ordered_json(key.second)},
                      {"cycles", n}});
  j["forced_by"] = forced;
  j["mark_cpu"] = {{"cycles", why.cpu_cycles},
                   {"assist_seconds", why.assist_s},
                   {"dedicated_seconds", why.dedicated_s},
                   {"fractional_seconds", why.fractional_s},
                   {"idle_seconds", why.idle_s}};
  if (auto p = w.gc_pacer())
    j["pacer_now"] = {{"heap_goal_bytes", p->heap_goal},
                      {"heap_live_bytes", p->heap_live},
                      {"gogc", p->gogc},
                      {"memory_limit_bytes", p->memory_limit}};
  else
    j["pacer_now"] = nullptr;
  j["target_exited"] = e.exited;
  j["lost"] = w.lost();
  json_lines().write(j);
}

void summary_text(const GcEnd& e) {
  const TargetWatch& w = e.watch;
  const GcTracker& gc = w.gc();
  std::string s = "summary: " + std::to_string(gc.cycles()) + " GC cycles";
  if (gc.first_cycle())
    s += " (gc " + std::to_string(gc.first_cycle()) + "-" + std::to_string(gc.last_cycle()) + ")";
  s += " in " + format_duration(e.watched_ns) + "\n";
  s += stats_text("sweep termination STW", gc.sweep_termination());
  s += stats_text("mark phase", gc.mark_phase());
  s += stats_text("mark termination STW", gc.mark_termination());
  s += stats_text("other STW", gc.other_pauses());
  if (auto lost = w.lost()) s += "  (" + std::to_string(lost) + " events lost in BPF)\n";
  auto why = gc_why_summary(gc.causes());
  s += "why: " + (why.empty() ? "" : why + "; ") + alloc_sites_text(e.allocs) + "\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// The text and JSON renderers: each cycle and each other pause as it comes, the summary.
struct GcRenderer {
  void (*cycle)(int pid, const GcCycle&);
  void (*other)(int pid, const StwPause&);
  void (*summary)(const GcEnd&);
};

const Formats<GcRenderer> kFormats{
    {"text",
     {[](int, const GcCycle& c) { std::printf("%s\n", cycle_text(c).c_str()); },
      [](int, const StwPause& p) {
        std::printf("stw  %s  %s\n", p.reason_name.c_str(),
                    format_duration(p.duration_ns()).c_str());
      },
      summary_text}},
    {"json",
     {[](int pid, const GcCycle& c) { json_lines().write(cycle_json(pid, c)); },
      [](int pid, const StwPause& p) { json_lines().write(pause_json(pid, p)); }, summary_json}},
};

// Watches until the duration is over, Ctrl-C, or the target's end, rendering what comes.
Result<GcEnd> watch_gc(TargetWatch& w, std::uint64_t duration, const GcRenderer& render) {
  const AllocWindow allocs = alloc_window_start(w.pid());
  auto on_gc = [&](const GcUpdate& u) {
    if (u.cycle) render.cycle(w.pid(), *u.cycle);
    if (u.other) render.other(w.pid(), *u.other);
    std::fflush(stdout);
  };
  const std::uint64_t start = monotonic_ns();
  bool exited = false;
  while (!stop_requested() && !(duration && monotonic_ns() - start >= duration)) {
    if (auto r = w.poll(100, on_gc); !r) return std::unexpected(r.error());
    if ((exited = !process_alive(w.pid()))) break;
  }
  (void)w.poll(0, on_gc);  // what the target did last
  const std::uint64_t watched = monotonic_ns() - start;
  return GcEnd{w, watched, exited, alloc_sites(allocs)};
}

int run_gc(const GcOptions& o) {
  std::uint64_t duration = 0;
  if (!o.duration.empty()) {
    auto d = parse_window("--duration", o.duration);
    if (!d) return fail_verb("gc", d.error(), kExitBadInput);
    duration = d->count();
  }
  install_stop_handlers();
  auto watch = TargetWatch::open(o.target.pid);
  if (!watch) return fail_verb("gc", watch.error());
  TargetWatch& w = **watch;
  std::fprintf(stderr, "goscry gc: watching pid %d (%s), Ctrl-C to stop\n", w.pid(),
               w.go_version().c_str());
  const GcRenderer& render = kFormats[o.format];
  auto end = watch_gc(w, duration, render);
  if (!end) return fail_verb("gc", end.error());
  if (end->exited) std::fprintf(stderr, "goscry gc: process %d exited\n", w.pid());
  render.summary(*end);
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
  add_format_option(*cmd, o->format, kFormats);
  cmd->callback([o, &run] { run = [o] { return run_gc(*o); }; });
}

}  // namespace goscry
