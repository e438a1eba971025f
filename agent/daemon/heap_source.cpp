#include "agent/daemon/heap_source.h"

#include <time.h>

#include <algorithm>

#include "agent/base/log.h"
#include "agent/daemon/proc_target.h"
#include "agent/daemon/target_process.h"

namespace goscry {
namespace {

using Clock = std::chrono::steady_clock;

std::string who(pid_t pid) { return "pid " + std::to_string(pid); }

std::vector<prometheus::Ranked> alloc_space_by_site(const HeapProfile& p) {
  std::vector<prometheus::Ranked> out;
  for (const auto& s : heap_sites(p, kAllocSpace)) out.push_back({s.function, double(s.value)});
  return out;
}

void nap_200ms() {
  timespec ts{0, 200'000'000};
  nanosleep(&ts, nullptr);
}

}  // namespace

HeapSource::HeapSource(HeapWatchOptions options)
    : options_(options),
      worker_("goscry-heap", std::chrono::seconds(1), [this] { return read_due(); }) {}

HeapSource::~HeapSource() {
  stop();
  worker_.stop();
}

void HeapSource::stop() { stopping_ = true; }

// Opened (target_process.h) by the reading thread at the first read, as the leak source
// does: attach runs under the agent's target lock, and opening a binary is the costly part.
Result<void> HeapSource::attach(const TargetInfo& info) {
  auto w = std::make_shared<Watched>();
  w->info = info;
  w->due = Clock::now() + options_.first_after;
  {
    std::lock_guard lock(mu_);
    targets_[info.pid] = w;
  }
  // Started by the daemon's thread, after it blocked its signals (see leak_source.cpp).
  worker_.start();
  worker_.wake();
  return {};
}

void HeapSource::detach(const TargetInfo& info) { forget_target(mu_, targets_, info); }

void HeapSource::read(const TargetInfo& info, TargetFigures& f) {
  auto w = find(info.pid);
  if (!w || w->info.start_ticks != info.start_ticks) return;
  std::lock_guard lock(w->figures_mu);
  if (w->alloc_by_site) f.alloc_bytes_by_site = w->alloc_by_site;
}

std::shared_ptr<HeapSource::Watched> HeapSource::find(pid_t pid) const {
  std::lock_guard lock(mu_);
  auto it = targets_.find(pid);
  return it == targets_.end() ? nullptr : it->second;
}

std::shared_ptr<HeapSource::Watched> HeapSource::due_first() const {
  std::lock_guard lock(mu_);
  return DutyCycle::due_first(targets_, [](const Watched& w) { return w.off; });
}

Clock::time_point HeapSource::read_due() {
  return duty_.step([this](const Watched&) { return options_.interval; }, options_.max_duty,
                    [this] { return due_first(); }, [this](Watched& w) { read_sites(w); });
}

Result<HeapProfile> HeapSource::read_now(Watched& w, std::optional<HeapStamp>* settled) {
  auto t = w.info.process->get();
  if (!t) return std::unexpected(t.error());
  auto records = read_heap_records(**t);
  if (!records) return std::unexpected(records.error());
  if (settled && records->settled && records->consistent) *settled = records->stamp();
  auto profile = heap_profile(**t, *records);
  release_binary_pages(**t);
  return profile;
}

// Most of a node's processes sit between the GCs that publish heap counts (an idle one
// runs one every 2 minutes): for them a periodic read is two words, not a walk of every
// bucket and a symbolization of their stacks.
bool HeapSource::unchanged_since_last_read(Watched& w) {
  if (!w.read_at) return false;
  auto t = w.info.process->get();
  if (!t) return false;  // the full read says why
  auto now = read_heap_stamp(**t);
  return now && *now == *w.read_at;
}

void HeapSource::read_sites(Watched& w) {
  std::unique_lock lock(w.mu);
  if (unchanged_since_last_read(w)) return;
  w.read_at.reset();
  auto p = read_now(w, &w.read_at);
  if (!p) {
    // A target that exited is no news; one that lives on without heap figures (memory
    // profiling off, a layout goscry cannot read) is, once.
    w.off = true;
    const bool exited = !target_alive(w.info);
    (exited ? log::debug : log::info)("heap profile off for this target",
                                      {{"pid", std::to_string(w.info.pid)},
                                       {"error", p.error().message}});
    return;
  }
  auto sites = alloc_space_by_site(*p);
  lock.unlock();
  std::lock_guard figures(w.figures_mu);
  w.alloc_by_site = std::move(sites);
}

bool HeapSource::wait_window(const HeapRequest& r, const Watched& w) {
  const auto end = Clock::now() + std::chrono::seconds(r.seconds);
  while (Clock::now() < end) {
    if (stopping_ || (r.cancelled && r.cancelled())) return false;
    if (!target_alive(w.info)) return true;  // the second read says the target exited
    nap_200ms();
  }
  return true;
}

template <typename Profile, typename Read, typename Delta>
std::expected<ProfileAnswer<Profile>, HeapRefusal> HeapSource::serve(const HeapRequest& r,
                                                                     Read read_profile,
                                                                     Delta delta) {
  auto w = find(r.pid);
  if (!w) return std::unexpected(HeapRefusal{404, who(r.pid) + " is not a target of this agent"});
  if (stopping_) return std::unexpected(HeapRefusal{503, "the agent is stopping"});
  // One request per target at a time: a read costs the agent, never the target, but a
  // flood of requests for one target must not queue reads without end.
  if (w->serving.exchange(true))
    return std::unexpected(
        HeapRefusal{429, who(r.pid) + ": a profile of this target is being read; retry"});
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag = false; }
  } release{w->serving};
  auto read = [&]() -> std::expected<Profile, HeapRefusal> {
    std::lock_guard lock(w->mu);
    auto p = read_profile(*w);
    if (!p) {
      const int status = p.error().kind == ErrorKind::TargetGone ||
                                 p.error().kind == ErrorKind::NotFound
                             ? 404
                             : 500;
      return std::unexpected(HeapRefusal{status, p.error().message});
    }
    return std::move(*p);
  };
  auto first = read();
  if (!first) return std::unexpected(first.error());
  if (r.seconds > 0) {
    if (!wait_window(r, *w))
      return std::unexpected(HeapRefusal{503, who(r.pid) + ": the window was cut short"});
    auto second = read();
    if (!second) return std::unexpected(second.error());
    *first = delta(*first, *second);
  }
  // The read succeeded, so the handle is open.
  return ProfileAnswer<Profile>{std::move(*first), *w->info.process->get()};
}

std::expected<HeapAnswer, HeapRefusal> HeapSource::profile(const HeapRequest& r) {
  auto a = serve<HeapProfile>(r, [this](Watched& w) { return read_now(w); }, heap_delta);
  if (a) a->profile.allocs = r.allocs;
  return a;
}

std::expected<ContentionAnswer, HeapRefusal> HeapSource::contention(const HeapRequest& r,
                                                                    ContentionKind kind) {
  auto read = [kind](Watched& w) -> Result<ContentionProfile> {
    auto t = w.info.process->get();
    if (!t) return std::unexpected(t.error());
    auto records = read_contention_records(**t, kind);
    if (!records) return std::unexpected(records.error());
    return contention_profile(**t, *records);
  };
  return serve<ContentionProfile>(r, read, contention_delta);
}

}  // namespace goscry
