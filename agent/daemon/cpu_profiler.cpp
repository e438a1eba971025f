#include "agent/daemon/cpu_profiler.h"

#include <malloc.h>

#include <httplib.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "agent/base/log.h"
#include "agent/daemon/target_process.h"
#include "agent/cpu/cpu_profile.h"
#include "agent/cpu/cpu_target.h"
#include "agent/daemon/profiling_config.h"
#include "agent/http/http_server.h"
#include "agent/probes/bpf_loader.h"

namespace goscry {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::int64_t unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct CpuProfiler::Target {
  TargetInfo info;
  // Opened (open_target) only while profile_hz is above 0: an agent that does not sample
  // opens nothing for it.
  bool opened = false;
  CpuTarget cpu;         // symbolizer, Go handle, what the sampler is told of it
  ModuleIds module_ids;  // read when opened: a gone target's files cannot be reached
  // The push period's samples since period_start_ns (null when pushing is off).
  std::unique_ptr<CpuRecording> period;
  std::int64_t period_start_ns = 0;

  std::unique_ptr<CpuRecording> new_window() const {
    return std::make_unique<CpuRecording>(cpu.symbolizer.get(), cpu.go.get(),
                                          static_cast<std::uint32_t>(info.pid));
  }
};

struct CpuProfiler::Collection {
  std::shared_ptr<Target> target;
  std::unique_ptr<CpuRecording> window;  // after `target`: it points into it
};

CpuProfiler::CpuProfiler() : closed_counters_(GOSCRY_CPU_CNT_MAX, 0) {
  next_push_ = SteadyClock::now() + push_interval_;
}

CpuProfiler::~CpuProfiler() { stop(); }

void CpuProfiler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();  // the requests waiting for their profile
  worker_.stop();
}

// Every second: drain; at the end of each push period: push (outside the lock, so a slow
// server never holds up a drain or a request).
void CpuProfiler::drain_and_push() {
  std::unique_lock lock(mu_);
  if (stopping_) return;
  drain_locked();
  count_map_entries_locked();
  const auto now = SteadyClock::now();
  if (push_url_.empty() || now < next_push_) return;
  next_push_ = std::max(next_push_ + push_interval_, now);
  auto pushes = take_pushes_locked();
  const std::string url = push_url_;
  lock.unlock();
  push(std::move(pushes), url);
}

void CpuProfiler::push(std::vector<PyroscopePush> pushes, const std::string& url) {
  std::size_t failed = 0;
  std::string first_error;
  for (const auto& p : pushes) {
    auto r = push_to_pyroscope(url, p);
    if (pushes_) pushes_->with({r ? "success" : "failure"}).inc();
    if (!r && failed++ == 0) first_error = r.error().message;
  }
  // One line per round, not per target: a server that is down would flood the log.
  if (failed > 0)
    log::warn("pyroscope push failed", {{"failed", std::to_string(failed)},
                                        {"profiles", std::to_string(pushes.size())},
                                        {"error", first_error}});
}

// Every window of every target gets the samples drained since the last call; a recording
// takes only its own target's. Symbolizing is mostly lookups in indexed binaries: the
// indexing itself was done at attach, outside the lock.
void CpuProfiler::drain_locked() {
  if (!sampler_) return;
  auto counts = sampler_->drain_counts();
  if (counts.empty()) return;
  const CpuDrain drain = read_drain(*sampler_, std::move(counts), hz_);
  std::vector<std::int32_t> ids;
  for (const auto& [id, pcs] : drain.stacks) ids.push_back(id);
  sampler_->forget_stacks(ids);
  for (auto& [pid, t] : targets_)
    if (t->period) t->period->add(drain);
  for (auto& c : collections_) c->window->add(drain);
}

void CpuProfiler::ensure_sampler_locked() {
  if (sampler_ || hz_ == 0) return;
  auto s = CpuSampler::open(hz_);
  if (!s) {
    if (!sampler_error_ || sampler_error_->message != s.error().message)
      log::error("CPU profiling unavailable", {{"error", s.error().message}});
    sampler_error_ = s.error();
    return;
  }
  sampler_error_.reset();
  sampler_ = std::move(*s);
  last_hz_ = hz_;
  for (const auto& [pid, t] : targets_) {
    // Targets tracked while the rate was 0 are opened now (a reload turned it on).
    auto r = t->opened ? Result<void>{} : open_target(*t);
    if (r) r = sampler_->add_target(static_cast<std::uint32_t>(pid), t->cpu.what);
    if (!r)
      log::warn("CPU profiling: cannot add target",
                {{"pid", std::to_string(pid)}, {"error", r.error().message}});
  }
}

Result<void> CpuProfiler::open_target(Target& t) {
  auto cpu = open_cpu_target(t.info.pid, /*goid=*/false, t.info.process->get(), module_cache_);
  if (!cpu) return context(cpu.error(), "CPU profiler");
  t.cpu = std::move(*cpu);
  t.module_ids = read_module_ids(*t.cpu.symbolizer);
  t.opened = true;
  if (t.period) t.period = t.new_window();  // the one made before had no symbolizer
  if (!t.cpu.note.empty())
    log::info("CPU profiling: stacks only",
              {{"pid", std::to_string(t.info.pid)}, {"why", t.cpu.note}});
  return {};
}

bool CpuProfiler::sampling() const {
  std::lock_guard lock(mu_);
  return hz_ > 0;
}

Result<void> CpuProfiler::attach(const TargetInfo& target) {
  auto t = std::make_shared<Target>();
  t->info = target;
  // Opening the target reads its maps and indexes its binary (once per build-id, the
  // cache's): done before taking the lock, so drains and requests go on meanwhile.
  if (sampling())
    if (auto r = open_target(*t); !r) return r;
  std::lock_guard lock(mu_);
  if (hz_ > 0 && !t->opened)  // a reload turned the rate on meanwhile
    if (auto r = open_target(*t); !r) return r;
  ensure_sampler_locked();
  if (hz_ > 0 && !sampler_) return context(*sampler_error_, "CPU profiler");
  if (sampler_)
    if (auto r = sampler_->add_target(static_cast<std::uint32_t>(target.pid), t->cpu.what); !r)
      return r;
  if (!push_url_.empty()) {
    t->period = t->new_window();
    t->period_start_ns = unix_ns();
  }
  targets_[target.pid] = std::move(t);
  return {};
}

void CpuProfiler::detach(const TargetInfo& target) {
  {
    std::lock_guard lock(mu_);
    if (!forget_locked(target)) return;
  }
  malloc_trim(0);
}

bool CpuProfiler::forget_locked(const TargetInfo& target) {
  auto it = targets_.find(target.pid);
  if (it == targets_.end() || it->second->info.start_ticks != target.start_ticks) return false;
  if (sampler_) {
    drain_locked();  // its last samples, into its windows
    sampler_->remove_target(static_cast<std::uint32_t>(target.pid));
  }
  Target& t = *it->second;
  if (t.period && t.period->total() > 0) {
    if (auto p = period_push_locked(t, unix_ns())) pending_.push_back(std::move(*p));
  }
  targets_.erase(it);
  // No target left: a sampler on every CPU would go on firing for nothing (and holding its
  // perf events and BPF links); the next target opens one again.
  if (targets_.empty()) close_sampler_locked();
  return true;
}

void CpuProfiler::close_sampler_locked() {
  if (!sampler_) return;
  if (auto c = sampler_->counters())
    for (std::size_t i = 0; i < c->size(); ++i) closed_counters_[i] += (*c)[i];
  sampler_.reset();
  occupancy_.clear();
  next_map_count_ = {};  // the next sampler's maps are counted at its first drain
}

// A new push period for every target, from now (none when pushing is off).
void CpuProfiler::restart_periods_locked() {
  const std::int64_t now = unix_ns();
  for (auto& [pid, t] : targets_) {
    t->period = push_url_.empty() ? nullptr : t->new_window();
    t->period_start_ns = now;
  }
}

void CpuProfiler::configure(const AgentConfig& config) {
  // The decoded tables' part of symbol_cache_mib (docs/agent.md "Memory budget").
  module_cache_->set_budget_bytes(std::uint64_t(config.symbol_cache_mib) << 20);
  std::lock_guard lock(mu_);
  const bool push_changed =
      config.pyroscope_url != push_url_ || config.pyroscope_interval != push_interval_;
  push_url_ = config.pyroscope_url;
  push_interval_ = config.pyroscope_interval;
  if (push_changed) {
    next_push_ = SteadyClock::now() + config.pyroscope_interval;
    restart_periods_locked();
  }
  push_labels_ = config.pyroscope_labels;
  if (config.profile_hz > kProfileHzWarn)
    log::warn("profile_hz above 250 costs the targets noticeably more than the default 19",
              {{"hz", std::to_string(config.profile_hz)}});
  // Started here, not in the constructor: the daemon has blocked the signals its loop
  // takes by now, and this thread inherits the mask (a SIGTERM must not land here).
  if (!stopping_) worker_.start();
  if (config.profile_hz == hz_) return;
  drain_locked();  // what the old rate sampled, at the old period
  close_sampler_locked();
  hz_ = config.profile_hz;
  if (!targets_.empty()) ensure_sampler_locked();
  log::info("CPU profiling rate", {{"hz", std::to_string(hz_)}});
}

// The agent's profiles have the kernel's frames on top of the user ones.
Result<std::string> CpuProfiler::build_locked(const Target& t, const CpuRecording& window,
                                              std::int64_t start_ns, std::int64_t end_ns) const {
  auto b = cpu_pprof(cpu_samples(window, /*kernel=*/true), t.cpu.symbolizer.get(), t.module_ids,
                     last_hz_, start_ns, end_ns - start_ns);
  auto gz = b.serialize_gzip();
  if (!gz)
    return fail(ErrorKind::Io, "pid " + std::to_string(t.info.pid) + ": profile: " + gz.error());
  return std::move(*gz);
}

// The target's period so far as a push; its next period starts now.
Result<PyroscopePush> CpuProfiler::period_push_locked(Target& t, std::int64_t now_ns) {
  auto gz = build_locked(t, *t.period, t.period_start_ns, now_ns);
  PyroscopePush p{pyroscope_name(t.info.exe, t.info.pid, push_labels_),
                  t.period_start_ns / 1'000'000'000, now_ns / 1'000'000'000, last_hz_, ""};
  t.period = t.new_window();
  t.period_start_ns = now_ns;
  if (!gz) return std::unexpected(gz.error());
  p.profile_gz = std::move(*gz);
  return p;
}

std::vector<PyroscopePush> CpuProfiler::take_pushes_locked() {
  std::vector<PyroscopePush> out = std::move(pending_);
  pending_.clear();
  const std::int64_t now = unix_ns();
  for (auto& [pid, t] : targets_) {
    if (!t->period) continue;
    if (t->period->total() == 0) {
      t->period_start_ns = now;
      continue;
    }
    if (auto p = period_push_locked(*t, now))
      out.push_back(std::move(*p));
    else
      log::warn("CPU profile not pushed", {{"error", p.error().message}});
  }
  return out;
}

// How often a collection looks whether its requester is still there.
constexpr auto kAbandonCheck = std::chrono::milliseconds(200);

std::expected<std::string, ProfileRefusal> CpuProfiler::collect(
    pid_t pid, std::chrono::seconds duration, const std::function<bool()>& abandoned) {
  std::unique_lock lock(mu_);
  auto it = targets_.find(pid);
  if (it == targets_.end())
    return std::unexpected(
        ProfileRefusal{404, "pid " + std::to_string(pid) + " is not a tracked Go process"});
  if (hz_ == 0) return std::unexpected(ProfileRefusal{503, "CPU profiling is off (profile_hz: 0)"});
  if (!sampler_)
    return std::unexpected(ProfileRefusal{
        503, "CPU profiling is unavailable: " + (sampler_error_ ? sampler_error_->message : "")});
  if (stopping_) return std::unexpected(ProfileRefusal{503, "the agent is stopping"});
  if (collections_.size() >= kMaxCollections)
    return std::unexpected(ProfileRefusal{429, "too many profiles being collected (at most " +
                                                   std::to_string(kMaxCollections) + ")"});
  drain_locked();  // samples taken before now belong to the other windows
  auto c = std::make_shared<Collection>();
  c->target = it->second;
  c->window = c->target->new_window();
  collections_.push_back(c);
  const std::int64_t start_ns = unix_ns();
  const auto end = SteadyClock::now() + duration;
  bool gone = false;
  while (!stopping_ && !gone && SteadyClock::now() < end) {
    cv_.wait_until(lock, std::min(end, SteadyClock::now() + kAbandonCheck),
                   [this] { return stopping_; });
    gone = abandoned();
  }
  drain_locked();
  std::erase(collections_, c);
  if (stopping_) return std::unexpected(ProfileRefusal{503, "the agent is stopping"});
  if (gone) return std::unexpected(ProfileRefusal{499, "the client closed the connection"});
  auto gz = build_locked(*c->target, *c->window, start_ns, unix_ns());
  if (!gz) return std::unexpected(ProfileRefusal{500, gz.error().message});
  return std::move(*gz);
}

void CpuProfiler::register_metrics(prometheus::Registry& registry) {
  samples_total_ = &registry
                        .counter("goscry_cpu_samples_total",
                                 "CPU samples the perf events took of tracked targets.")
                        .with({});
  samples_lost_ = &registry
                       .counter("goscry_cpu_samples_lost_total",
                                "CPU samples lost because the BPF samples ring was full.")
                       .with({});
  stacks_lost_ = &registry.counter(
      "goscry_cpu_stacks_lost_total",
      "Stacks of CPU samples lost (the sample kept under a \"[stack lost: why]\" frame), by "
      "reason: unreadable user stack, the agent's stack table full, kernel stack, other.",
      {"reason"});
  pushes_ = &registry.counter("goscry_profile_pushes_total",
                              "CPU profiles pushed to pyroscope_url, by result.", {"result"});
  map_metrics_ = std::make_unique<BpfMapMetrics>(registry);
  // The binaries symbolized for profiles, shared by every target (one entry per build-id):
  // the hits show targets sharing a binary, the binaries what the cache holds now.
  auto counter = [&](const char* name, const char* help) {
    return &registry.counter(name, help).with({});
  };
  cache_counters_ = CacheCounters{
      counter("goscry_symbolizer_cache_hits_total",
              "Lookups of a binary the symbolizer had already indexed (any target)."),
      counter("goscry_symbolizer_cache_misses_total",
              "Binaries the symbolizer opened and indexed because no target had them cached."),
      counter("goscry_symbolizer_cache_evictions_total",
              "Indexed binaries dropped from the symbolizer cache, least recently used first."),
      counter("goscry_symbolizer_cache_errors_total",
              "Binaries the symbolizer could not open or index."),
      &registry
           .gauge("goscry_symbolizer_cache_binaries", "Indexed binaries in the symbolizer cache.")
           .with({}),
      &registry
           .gauge("goscry_symbolizer_cache_bytes",
                  "The decoded tables the symbolizer cache holds (bounded by symbol_cache_mib).")
           .with({})};
  registry.add_collector([this] {
    publish_counters();
    publish_cache_stats();
  });
}

void CpuProfiler::publish_cache_stats() {
  const BinaryCacheStats s = module_cache_->stats();  // the cache's own lock, not mu_
  cache_counters_->hits->set(double(s.hits));
  cache_counters_->misses->set(double(s.misses));
  cache_counters_->evictions->set(double(s.evictions));
  cache_counters_->errors->set(double(s.errors));
  cache_counters_->binaries->set(double(s.entries));
  cache_counters_->bytes->set(double(s.bytes));
}

void CpuProfiler::count_map_entries_locked() {
  const auto now = SteadyClock::now();
  if (!sampler_ || now < next_map_count_) return;
  next_map_count_ = now + std::chrono::seconds(10);
  occupancy_ = sampler_->map_occupancy();
}

void CpuProfiler::publish_counters() {
  std::lock_guard lock(mu_);
  std::vector<std::uint64_t> c = closed_counters_;
  if (sampler_)
    if (auto now = sampler_->counters())
      for (std::size_t i = 0; i < c.size(); ++i) c[i] += (*now)[i];
  if (map_metrics_) map_metrics_->publish("cpu", occupancy_);
  samples_total_->set(static_cast<double>(c[GOSCRY_CPU_SAMPLES]));
  samples_lost_->set(static_cast<double>(c[GOSCRY_CPU_RING_FULL]));
  stacks_lost_->with({"unreadable"}).set(static_cast<double>(c[GOSCRY_CPU_USER_EFAULT]));
  stacks_lost_->with({"table_full"})
      .set(static_cast<double>(c[GOSCRY_CPU_USER_TABLE_FULL] + c[GOSCRY_CPU_KERNEL_TABLE_FULL]));
  stacks_lost_->with({"kernel"}).set(static_cast<double>(c[GOSCRY_CPU_KERNEL_LOST]));
  stacks_lost_->with({"other"}).set(static_cast<double>(c[GOSCRY_CPU_USER_OTHER]));
}

void CpuProfiler::hook_into(DaemonHooks& hooks) {
  hooks.sources.push_back(this);
  chain_hook<HttpServer&>(hooks.add_routes, [this](HttpServer& s) { add_profile_route(s, *this); });
  chain_hook<prometheus::Registry&>(hooks.add_metrics,
                               [this](prometheus::Registry& r) { register_metrics(r); });
  chain_hook<const AgentConfig&>(hooks.on_config, [this](const AgentConfig& c) { configure(c); });
  chain_hook<>(hooks.on_stop, [this] { stop(); });
}

}  // namespace goscry
