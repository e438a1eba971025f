#include "agent/daemon/status_pages.h"

#include <cstdio>

#include "exporters/json_report.h"

namespace goscry {
namespace {

struct PauseSummary {
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

PauseSummary summarize(const TargetFigures& f) {
  PauseSummary s;
  for (const auto& [phase, c] : f.stw_pauses) {
    s.count += c.count();
    s.sum_seconds += c.sum_seconds;
  }
  return s;
}

std::string format_seconds(double s) {
  char buf[32];
  if (s < 0.001) std::snprintf(buf, sizeof buf, "%.1f µs", s * 1e6);
  else if (s < 1) std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

std::int64_t to_ns(double seconds) { return std::int64_t(seconds * 1e9); }

}  // namespace

nlohmann::ordered_json targets_report(const std::vector<TargetView>& targets) {
  auto report = json_report::envelope("targets", 1);
  auto list = nlohmann::ordered_json::array();
  for (const auto& t : targets) {
    nlohmann::ordered_json j;
    j["pid"] = t.info.pid;
    j["exe"] = t.info.exe;
    j["go_version"] = t.info.go_version;
    j["container_id"] = t.info.container_id;
    j["pod"] = t.info.pod;
    j["namespace"] = t.info.kube_namespace;
    j["alive"] = !t.exited_seconds_ago.has_value();
    if (t.exited_seconds_ago) j["exited_ns_ago"] = to_ns(*t.exited_seconds_ago);
    // Figures no source measured are left out, never written as 0.
    const auto& f = t.figures;
    if (f.goroutines) j["goroutines"] = *f.goroutines;
    if (f.goroutines_created_total) j["goroutines_created_total"] = *f.goroutines_created_total;
    if (f.goroutines_exited_total) j["goroutines_exited_total"] = *f.goroutines_exited_total;
    if (f.gc_cycles_total) j["gc_cycles_total"] = *f.gc_cycles_total;
    if (!f.stw_pauses.empty()) {
      auto pauses = nlohmann::ordered_json::object();
      for (const auto& [phase, c] : f.stw_pauses)
        pauses[phase] = {{"count", c.count()}, {"sum_ns", to_ns(c.sum_seconds)}};
      j["stw_pauses"] = pauses;
    }
    list.push_back(std::move(j));
  }
  report["targets"] = std::move(list);
  return report;
}

namespace {

// "namespace/pod", a container's short id (docker's 12 digits), or "host".
std::string where_it_runs(const TargetInfo& t) {
  if (!t.pod.empty()) return t.kube_namespace.empty() ? t.pod : t.kube_namespace + "/" + t.pod;
  if (!t.container_id.empty()) return t.container_id.substr(0, 12);
  return "host";
}

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1 << 20));
  return buf;
}

// "Memory: 41.2 MiB of a 192.0 MiB budget (12.0 MiB file-backed, ...)": and what was given
// up to stay within it.
std::string memory_paragraph(const MemoryView& m) {
  const std::uint64_t total = m.resident.file_bytes + m.resident.anon_bytes;
  std::string h = "<h2>Memory</h2>\n<p>" + mib(total) + " resident of a " +
                  mib(m.budget_bytes) + " budget (" + mib(m.resident.file_bytes) +
                  " file-backed, " + mib(m.resident.anon_bytes) + " anonymous); " +
                  "binaries' pages released " + std::to_string(m.releases) +
                  " times to keep file-backed pages under " + mib(m.symbol_share_bytes) +
                  " more than the agent's own, free heap returned " +
                  std::to_string(m.heap_trims) + " times.";
  if (m.shed_targets > 0)
    h += " Leak snapshots given up for " + std::to_string(m.shed_targets) +
         " targets to shrink (the largest first).";
  if (m.over_budget) h += " <strong>Over budget.</strong>";
  return h + "</p>\n";
}

}  // namespace

std::string index_html(const std::vector<TargetView>& targets,
                       const std::vector<PageLinks>& links,
                       const std::optional<MemoryView>& memory) {
  std::string h =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>goscry agent</title>\n"
      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
      ".gone{color:#888}</style></head><body>\n<h1>goscry agent</h1>\n<p>";
  for (const auto& l : links)
    h += "<a href=\"" + markup_escape(l.path) + "\">" + markup_escape(l.path) + "</a> " +
         markup_escape(l.what) + "<br>\n";
  h += "</p>\n";
  if (memory) h += memory_paragraph(*memory);
  h += "<h2>Targets (" + std::to_string(targets.size()) + ")</h2>\n";
  h += "<table><tr><th>pid</th><th>executable</th><th>Go</th><th>runs in</th>"
       "<th>live goroutines</th>"
       "<th>GC pauses</th><th>state</th></tr>\n";
  for (const auto& t : targets) {
    const auto& f = t.figures;
    auto pauses = summarize(f);
    h += t.exited_seconds_ago ? "<tr class=\"gone\">" : "<tr>";
    h += "<td>" + std::to_string(t.info.pid) + "</td><td>" + markup_escape(t.info.exe) +
         "</td><td>" + markup_escape(t.info.go_version) + "</td><td>" +
         markup_escape(where_it_runs(t.info)) + "</td><td>";
    h += f.goroutines ? std::to_string(*f.goroutines) : "—";
    h += "</td><td>";
    if (pauses.count > 0)
      h += std::to_string(pauses.count) + " pauses, mean " +
           format_seconds(pauses.sum_seconds / double(pauses.count));
    else
      h += "—";
    h += "</td><td>";
    h += t.exited_seconds_ago ? "exited" : "running";
    h += "</td></tr>\n";
  }
  h += "</table>\n<p>— : needs the BPF trackers (not attached to this target).</p>\n"
       "</body></html>\n";
  return h;
}

}  // namespace goscry
