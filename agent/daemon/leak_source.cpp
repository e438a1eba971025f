#include "agent/daemon/leak_source.h"

#include <malloc.h>

#include <algorithm>
#include <map>

#include "agent/goruntime/goroutine_formats.h"
#include "agent/goruntime/goroutine_reader.h"
#include "agent/base/log.h"
#include "agent/base/monotonic_clock.h"
#include "agent/daemon/proc_target.h"
#include "agent/daemon/target_process.h"

namespace goscry {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<prometheus::Ranked> suspects_by_site(const std::vector<LeakSuspect>& suspects) {
  std::vector<prometheus::Ranked> out;
  // Duplicates (one creation site, several blocking sites) are summed by the cap's top_n.
  for (const auto& s : suspects) out.push_back({s.key.creation.function, double(s.count)});
  return out;
}

// User goroutines per creation site (function), as the probes' live_sites names them
// (bpf_source): system goroutines and those without a creator (main) left out.
std::vector<prometheus::Ranked> live_by_site(const std::vector<GoroutineView>& views) {
  std::map<std::string, double> count;
  for (const auto& g : views)
    if (!g.system && g.created_by && !g.created_by->function.empty())
      ++count[g.created_by->function];
  std::vector<prometheus::Ranked> out;
  for (auto& [site, n] : count) out.push_back({site, n});
  return out;
}

}  // namespace

// The worker's first run only looks at the targets: each attach wakes it.
LeakSource::LeakSource(LeakWatchOptions options, SiteCounters sites, BpfStatus status)
    : options_(options),
      sites_(std::move(sites)),
      status_(std::move(status)),
      worker_("goscry-leaks", std::chrono::seconds(1), [this] { return snapshot_due(); }) {}

LeakSource::~LeakSource() { worker_.stop(); }

// The target is opened by the snapshot thread, at its first snapshot: attach runs under
// the agent's target lock (scrapes wait for it), and opening a binary is the costly part;
// done by the thread it also counts in the duty cycle. A short-lived target may so never
// be opened at all.
Result<void> LeakSource::attach(const TargetInfo& info) {
  auto w = std::make_shared<Watched>();
  w->info = info;
  w->detector = LeakDetector(options_.detector);
  w->started_ns = monotonic_ns();
  w->due = Clock::now() + options_.first_after;
  {
    std::lock_guard lock(mu_);
    w->interval =
        info.tier == GoroutineTier::kTrace ? options_.interval : options_.watch_interval;
    targets_[info.pid] = w;
  }
  // Started by the daemon's thread, after it blocked the signals it takes from a signalfd:
  // the worker inherits the mask (see bpf_source.cpp).
  worker_.start();
  worker_.wake();  // the worker looks at the new due time
  return {};
}

void LeakSource::detach(const TargetInfo& info) { forget_target(mu_, targets_, info); }

void LeakSource::read(const TargetInfo& info, TargetFigures& f) {
  auto w = find(info.pid);
  if (!w || w->info.start_ticks != info.start_ticks) return;
  std::lock_guard lock(w->figures_mu);
  if (w->by_site) f.leak_suspects_by_site = w->by_site;
  // After the BPF source (daemon.cpp asks the sources in order): its exact figures win.
  if (w->live_by_site && !f.goroutines_by_site) f.goroutines_by_site = w->live_by_site;
}

std::shared_ptr<LeakSource::Watched> LeakSource::find(pid_t pid) const {
  std::lock_guard lock(mu_);
  auto it = targets_.find(pid);
  return it == targets_.end() ? nullptr : it->second;
}

bool LeakSource::tracks(pid_t pid) const { return find(pid) != nullptr; }

Result<std::shared_ptr<LeakSource::Watched>> LeakSource::route_target(pid_t pid) const {
  if (auto w = find(pid)) return w;
  return fail(ErrorKind::NotFound, "pid " + std::to_string(pid) + " is not a target of this agent");
}

// The target read longest ago, among those not gone.
std::shared_ptr<LeakSource::Watched> LeakSource::due_first() const {
  std::lock_guard lock(mu_);
  return DutyCycle::due_first(targets_, [](const Watched& w) { return w.gone; });
}

Clock::time_point LeakSource::snapshot_due() {
  return duty_.step([](const Watched& w) { return w.interval; }, options_.max_duty,
                    [this] { return due_first(); }, [this](Watched& w) { snapshot(w); });
}

std::optional<pid_t> LeakSource::shed_one_target() {
  std::shared_ptr<Watched> largest;
  {
    std::lock_guard lock(mu_);
    for (const auto& [pid, w] : targets_)
      if (!w->gone && !w->shed && (!largest || w->goroutines > largest->goroutines)) largest = w;
    if (!largest) return std::nullopt;
    largest->shed = true;
    largest->due = Clock::now();
  }
  worker_.wake();
  return largest->info.pid;
}

// Stops snapshots of a target and frees what they held (w.mu held): its handle, lookups,
// views and detector, and its figures, which would otherwise be served stale; its report
// says why (`off`).
void LeakSource::give_up(Watched& w, std::string why) {
  w.gone = true;
  w.off = std::move(why);
  w.memo.reset();
  w.process.reset();
  w.suspect_views = {};
  w.detector = LeakDetector(options_.detector);
  {
    std::lock_guard figures(w.figures_mu);
    w.by_site.reset();
    w.live_by_site.reset();
  }
  malloc_trim(0);
}

void LeakSource::snapshot(Watched& w) {
  std::lock_guard lock(w.mu);
  if (w.shed) {
    give_up(w, "leak snapshots given up: the agent was over its memory budget");
    return;
  }
  if (!w.process) {
    auto process = w.info.process->get();
    if (!process) {
      w.gone = true;
      // A target that simply exited (under --all, short-lived programs do all the time) is
      // no news; one that lives on without leak detection is.
      const bool exited = !target_alive(w.info);
      (exited ? log::debug : log::warn)(
          exited ? "leak detection off for this target: it exited"
                 : "leak detection off for this target",
          {{"pid", std::to_string(w.info.pid)}, {"error", process.error().message}});
      return;
    }
    w.process = std::move(*process);
    w.memo.emplace(*w.process);
    w.started_ns = monotonic_ns();
  }
  auto list = w.memo->read();
  if (!list) {
    // Gone, most likely: the agent notices at its next scan; keep the last figures.
    w.gone = true;
    log::debug("leak snapshots stopped",
               {{"pid", std::to_string(w.info.pid)}, {"error", list.error().message}});
    return;
  }
  w.goroutines = list->goroutines.size();
  if (list->goroutines.size() > options_.max_goroutines) {
    // Symbolized views cost ~1 KB per goroutine and the detector keeps every goid: past
    // the cap the memory would follow the target, so this target is left out.
    log::warn("leak detection off for this target: too many goroutines",
              {{"pid", std::to_string(w.info.pid)},
               {"goroutines", std::to_string(list->goroutines.size())},
               {"max", std::to_string(options_.max_goroutines)}});
    give_up(w, "leak snapshots given up: " + std::to_string(list->goroutines.size()) +
                   " goroutines, more than the " + std::to_string(options_.max_goroutines) +
                   " a snapshot may hold");
    list = {};
    return;
  }
  auto views = w.memo->symbolize(std::move(list->goroutines), list->read_at);
  release_binary_pages(*w.process);
  const auto sites = sites_ ? sites_(w.info.pid) : std::nullopt;
  for (const auto& s :
       w.detector.observe(views, list->read_at, sites ? &*sites : nullptr, w.process.get()))
    log::warn("goroutine leak suspected", {{"pid", std::to_string(w.info.pid)},
                                           {"created_by", s.key.creation.text()},
                                           {"blocked_at", s.key.blocking.text()},
                                           {"wait_reason", s.key.wait_reason},
                                           {"goroutines", std::to_string(s.count)}});
  auto live = live_by_site(views);
  std::erase_if(views, [&](const GoroutineView& g) { return !w.detector.in_suspect_group(g); });
  w.suspect_views = std::move(views);
  w.last_ns = list->read_at;
  auto by_site = suspects_by_site(w.detector.suspects());
  std::lock_guard figures(w.figures_mu);
  w.by_site = std::move(by_site);
  w.live_by_site = std::move(live);
}

Result<GoroutineAnswer> LeakSource::goroutine_profile(pid_t pid, int debug) {
  auto w = route_target(pid);
  if (!w) return std::unexpected(w.error());
  std::lock_guard lock((*w)->mu);
  auto process = (*w)->info.process->get();  // before the first snapshot too
  if (!process) return std::unexpected(process.error());
  return goscry::goroutine_profile(**process, debug);
}

Result<GoroutineAnswer> LeakSource::leak_profile(pid_t pid, int debug) {
  auto found = route_target(pid);
  if (!found) return std::unexpected(found.error());
  Watched& w = **found;
  std::lock_guard lock(w.mu);
  if (!w.process)
    return fail(ErrorKind::NotFound, "pid " + std::to_string(pid) + ": no snapshot taken yet");
  return goroutine_leak_profile(*w.process, w.detector, w.suspect_views, debug);
}

nlohmann::ordered_json LeakSource::report(Watched& w, const std::string& bpf) {
  std::lock_guard lock(w.mu);
  const double watched = w.last_ns ? double(w.last_ns - w.started_ns) / 1e9 : 0;
  auto j = leaks_report_json(w.info.pid, w.info.go_version, std::max(watched, 0.0),
                             w.detector.suspects(), bpf);
  j["exe"] = w.info.exe;
  if (!w.off.empty()) j["off"] = w.off;
  return j;
}

std::optional<nlohmann::ordered_json> LeakSource::leaks_report(pid_t pid) {
  auto w = find(pid);
  if (!w) return std::nullopt;
  return report(*w, status_ ? status_(pid) : "off");
}

nlohmann::ordered_json LeakSource::leaks_reports() {
  std::vector<std::shared_ptr<Watched>> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [pid, w] : targets_) all.push_back(w);
  }
  auto arr = nlohmann::ordered_json::array();
  for (const auto& w : all) arr.push_back(report(*w, status_ ? status_(w->info.pid) : "off"));
  return arr;
}

}  // namespace goscry
