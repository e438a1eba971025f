#include "agent/cli/top_render.h"

#include <cstdio>

#include "agent/base/duration.h"
#include "exporters/json_report.h"

namespace goscry {

namespace {

nlohmann::ordered_json site_json(const SiteStats& s) {
  return {{"site", s.name},    {"gopc", to_hex(s.gopc)}, {"start", s.start_function},
          {"live", s.live},    {"growth", s.growth},     {"created", s.created},
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
  std::snprintf(buf, sizeof buf, "goscry top — pid %d (%s) %s\n", w.pid(), w.go_version().c_str(),
                w.exe().c_str());
  out += buf;
  std::snprintf(buf, sizeof buf,
                "goroutines  live %lld   created %.1f/s   exited %.1f/s   (since attach: "
                "%llu created, %llu exited)\n",
                (long long)t.live, t.created_per_s, t.exited_per_s, (unsigned long long)t.created,
                (unsigned long long)t.exited);
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
  if (!growing.empty())
    out += "top creation sites by growth:\n      live   growth  site\n" + growing;
  return out;
}

// A terminal's screen is cleared and drawn again; a pipe gets one block per interval.
std::string render_text(const TopReport& r) {
  const std::string screen = top_text(r.watch, r.top);
  return r.terminal ? "\x1b[H\x1b[2J" + screen : screen + "\n";
}

// One compact line per interval (JSON Lines).
std::string render_json(const TopReport& r) {
  auto j = top_json(r.watch, r.interval_ns, r.top);
  if (r.target_exited) j["target_exited"] = true;
  return json_report::to_line(j) + "\n";
}

}  // namespace

const Formats<TopRender>& top_formats() {
  static const Formats<TopRender> formats = {{"text", render_text}, {"json", render_json}};
  return formats;
}

}  // namespace goscry
