// `goscry top --pid P`: a live view of one Go process — goroutines alive, created/s and
// exited/s, the creation sites holding the most goroutines and growing fastest, GC cycles
// and stop-the-world pauses. A terminal gets a redrawn screen; a pipe gets one block (text)
// or one JSON report (json) per interval.
#include <unistd.h>

#include <algorithm>
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

struct TopOptions {
  TargetOptions target;
  std::string interval = "1s";
  bool once = false;
  std::string format = "text";
  std::size_t top = 10;
};

nlohmann::ordered_json site_json(const SiteStats& s) {
  return {{"site", s.name},         {"gopc", to_hex(s.gopc)},  {"start", s.start_function},
          {"live", s.live},         {"growth", s.growth},      {"created", s.created},
          {"exited", s.exited}};
}

nlohmann::ordered_json stats_json(const DurationStats& d) {
  return {{"count", d.count}, {"p50_ns", d.p50_ns}, {"p99_ns", d.p99_ns}, {"max_ns", d.max_ns}};
}

nlohmann::ordered_json top_json(const TargetWatch& w, std::uint64_t interval_ns, std::size_t n) {
  const auto t = w.goroutines().totals();
  auto j = json_report::envelope("top", 1);
  j["pid"] = w.pid();
  j["go_version"] = w.go_version();
  j["monotonic_ns"] = w.counted_at_ns();  // docs/json-schemas.md: when the counters were read
  j["interval_ns"] = interval_ns;
  j["goroutines"] = {{"live", t.live},
                     {"created", t.created},
                     {"exited", t.exited},
                     {"created_per_s", t.created_per_s},
                     {"exited_per_s", t.exited_per_s},
                     {"alive_at_attach", w.goroutines().snapshot_alive()}};
  // A site whose goroutines all ended is no top site by live count; it is listed apart, so
  // that JSON consumers can still sum created/exited over every site.
  auto by_live = nlohmann::ordered_json::array();
  for (const auto& s : w.goroutines().top_by_live(n)) by_live.push_back(site_json(s));
  auto by_growth = nlohmann::ordered_json::array();
  for (const auto& s : w.goroutines().top_by_growth(n))
    if (s.growth > 0) by_growth.push_back(site_json(s));
  auto ended = nlohmann::ordered_json::array();
  for (const auto& s : w.goroutines().ended_sites(n)) ended.push_back(site_json(s));
  j["sites_by_live"] = by_live;
  j["sites_by_growth"] = by_growth;
  j["sites_ended"] = ended;
  j["gc"] = {{"cycles", w.gc().cycles()}, {"stw_pause", stats_json(w.gc().gc_pauses())}};
  j["lost"] = w.lost();
  return j;
}

std::string site_line(const SiteStats& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "  %8lld %+8lld  %s\n", (long long)s.live, (long long)s.growth,
                s.name.c_str());
  return buf;
}

std::string top_text(const TargetWatch& w, std::size_t n) {
  const auto t = w.goroutines().totals();
  const auto p = w.gc().gc_pauses();
  char buf[1024];
  std::string out;
  std::snprintf(buf, sizeof buf, "goscry top — pid %d (%s) %s\n", w.pid(),
                w.go_version().c_str(), w.exe().c_str());
  out += buf;
  std::snprintf(buf, sizeof buf,
                "goroutines  live %lld   created %.1f/s   exited %.1f/s   (since attach: "
                "%llu created, %llu exited)\n",
                (long long)t.live, t.created_per_s, t.exited_per_s,
                (unsigned long long)t.created, (unsigned long long)t.exited);
  out += buf;
  std::snprintf(buf, sizeof buf, "GC          %llu cycles   STW p50 %s   p99 %s   max %s\n",
                (unsigned long long)w.gc().cycles(), format_duration(p.p50_ns).c_str(),
                format_duration(p.p99_ns).c_str(), format_duration(p.max_ns).c_str());
  out += buf;
  out += "top creation sites by live goroutines:\n      live   growth  site\n";
  for (const auto& s : w.goroutines().top_by_live(n)) out += site_line(s);
  std::string growing;
  for (const auto& s : w.goroutines().top_by_growth(n))
    if (s.growth > 0) growing += site_line(s);
  if (!growing.empty()) out += "top creation sites by growth:\n      live   growth  site\n" + growing;
  return out;
}

int run_top(const TopOptions& o) {
  auto window = parse_window("--interval", o.interval);
  if (!window) {
    std::fprintf(stderr, "goscry top: %s\n", window.error().message.c_str());
    return kExitBadInput;
  }
  const std::uint64_t interval = window->count();
  install_stop_handlers();
  auto watch = TargetWatch::open(o.target.pid);
  if (!watch) {
    std::fprintf(stderr, "goscry top: %s\n", watch.error().message.c_str());
    return exit_code(watch.error());
  }
  TargetWatch& w = **watch;
  const bool json = o.format == "json";
  const bool tty = !json && isatty(STDOUT_FILENO);
  json_report::Writer writer(std::cout, json_report::Writer::Style::kLines);
  if (!o.once)
    std::fprintf(stderr, "goscry top: watching pid %d (%s), Ctrl-C to stop\n", w.pid(),
                 w.go_version().c_str());
  bool exited = false;
  for (;;) {
    const std::uint64_t until = monotonic_ns() + interval;
    while (!stop_requested() && !exited) {
      const std::uint64_t now = monotonic_ns();
      if (now >= until) break;
      if (auto r = w.poll(int(std::min<std::uint64_t>((until - now) / 1000000 + 1, 100))); !r) {
        std::fprintf(stderr, "goscry top: %s\n", r.error().message.c_str());
        return exit_code(r.error());
      }
      exited = !process_alive(w.pid());
    }
    // After an exit too: the counters outlive the process until the watch ends.
    if (auto r = w.refresh(); !r) {
      if (process_alive(w.pid())) {
        std::fprintf(stderr, "goscry top: %s\n", r.error().message.c_str());
        return exit_code(r.error());
      }
      exited = true;
    }
    if (json) {
      auto j = top_json(w, interval, o.top);
      if (exited) j["target_exited"] = true;
      writer.write(j);
    } else {
      std::string screen = top_text(w, o.top);
      if (tty) screen = "\x1b[H\x1b[2J" + screen;
      else screen += "\n";
      std::fwrite(screen.data(), 1, screen.size(), stdout);
      std::fflush(stdout);
    }
    if (exited) {
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
      "top", "live view of a Go process: goroutines (live, created/s, exited/s), top creation "
             "sites, GC cycles and stop-the-world pauses");
  add_target_options(*cmd, o->target, false);
  cmd->get_option("--pid")->required();
  cmd->add_option("--interval", o->interval, "refresh interval (500ms, 1s, ...)")
      ->default_val("1s");
  cmd->add_flag("--once", o->once, "print one interval and exit");
  cmd->add_option("--top", o->top, "how many creation sites to show")->default_val(10);
  add_format_option(*cmd, o->format);
  cmd->callback([o, &run] { run = [o] { return run_top(*o); }; });
}

}  // namespace goscry
