#include "agent/daemon/cpu_profiler.h"

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>

#include "agent/probes/bpf_loader.h"
#include "agent/cpu/cpu_profile.h"
#include "agent/http/http_server.h"
#include "agent/base/log.h"
#include "agent/daemon/profiling_config.h"

namespace goscry {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::int64_t unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Symbols kept per target: far more than the PCs of a big server's hot code. Past it the
// cache starts over; pointers into it never outlive the profiler's lock.
constexpr std::size_t kMaxSymbols = 200000;

}  // namespace

struct CpuProfiler::Target {
  TargetInfo info;
  std::unique_ptr<ProcessSymbolizer> symbolizer;
  // Read at the first samples, not at attach: an idle target (most of a host's Go
  // processes) never costs the parsing of its binary.
  // Symbolizing (the first one parses the binary: up to seconds for a big one on a busy
  // host) runs under this lock only, never under the profiler's: attach, detach and the
  // daemon's refresh loop behind them must not wait for it. Order: mu_, then sym_mu.
  std::mutex sym_mu;
  std::optional<ModuleIds> module_ids;                 // guarded by sym_mu
  std::map<std::uint64_t, SymbolizedAddress> symbols;  // by call address; by sym_mu
  std::vector<StackKey> unsymbolized;                  // drained since; guarded by mu_
  Window period;  // samples since period_start_ns, for the next push
  std::int64_t period_start_ns = 0;

  void symbolize_new(const std::vector<const StackKey*>& keys) {
    if (symbols.size() > kMaxSymbols) symbols.clear();
    std::vector<std::uint64_t> lookups;
    std::set<std::uint64_t> asked;
    for (const StackKey* k : keys)
      for (const auto* stack : {&k->kernel, &k->user})
        for (std::size_t i = 0; i < stack->size(); ++i) {
          std::uint64_t a = call_address((*stack)[i], i == 0);
          if (!symbols.contains(a) && asked.insert(a).second) lookups.push_back(a);
        }
    if (lookups.empty()) return;
    if (!module_ids) module_ids = read_module_ids(*symbolizer);
    auto resolved = symbolizer->symbolize(lookups);
    for (std::size_t i = 0; i < lookups.size(); ++i) symbols[lookups[i]] = std::move(resolved[i]);
  }
};

struct CpuProfiler::Collection {
  std::shared_ptr<Target> target;
  Window window;
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
  symbolize_outside(lock);
  if (stopping_) return;
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

// The stacks drained since the last call, symbolized while their targets live, with the
// profiler's lock released (`lock` holds it on entry and on return).
void CpuProfiler::symbolize_outside(std::unique_lock<std::mutex>& lock) {
  std::vector<std::pair<std::shared_ptr<Target>, std::vector<StackKey>>> work;
  for (auto& [pid, t] : targets_)
    if (!t->unsymbolized.empty()) work.push_back({t, std::exchange(t->unsymbolized, {})});
  if (work.empty()) return;
  lock.unlock();
  for (auto& [t, keys] : work) {
    std::vector<const StackKey*> ptrs;
    for (const auto& k : keys) ptrs.push_back(&k);
    std::lock_guard symbolizing(t->sym_mu);
    t->symbolize_new(ptrs);
  }
  lock.lock();
}

void CpuProfiler::drain_locked() {
  if (!sampler_) return;
  const std::int64_t period_ns = 1'000'000'000LL / hz_;
  auto counts = sampler_->drain_counts();
  if (counts.empty()) return;
  std::map<std::int32_t, std::vector<std::uint64_t>> stacks;
  for (const auto& c : counts)
    for (std::int32_t id : {c.key.user_stack_id, c.key.kernel_stack_id})
      if (id >= 0 && !stacks.contains(id)) stacks[id] = sampler_->stack(id);
  std::vector<std::int32_t> ids;
  for (const auto& [id, pcs] : stacks) ids.push_back(id);
  sampler_->forget_stacks(ids);
  auto stack_of = [&](std::int32_t id) {
    auto it = stacks.find(id);
    return it == stacks.end() ? std::vector<std::uint64_t>{} : it->second;
  };

  std::map<Target*, std::vector<std::pair<StackKey, std::uint64_t>>> by_target;
  for (const auto& c : counts) {
    auto t = targets_.find(static_cast<pid_t>(c.key.tgid));
    if (t == targets_.end()) continue;  // detached since: its samples have no window left
    auto lost = [](std::int32_t id) { return id < 0 && id != -ENOENT ? id : 0; };
    by_target[t->second.get()].push_back(
        {StackKey{stack_of(c.key.kernel_stack_id), stack_of(c.key.user_stack_id),
                  lost(c.key.kernel_stack_id), lost(c.key.user_stack_id)},
         c.count});
  }
  for (auto& [target, samples] : by_target) {
    for (const auto& [key, n] : samples) target->unsymbolized.push_back(key);
    for (const auto& [key, n] : samples) {
      auto add = [&](Window& w) {
        auto& c = w[key];
        c.count += static_cast<std::int64_t>(n);
        c.cpu_ns += static_cast<std::int64_t>(n) * period_ns;
      };
      if (!push_url_.empty()) add(target->period);
      for (auto& col : collections_)
        if (col->target.get() == target) add(col->window);
    }
  }
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
  for (const auto& [pid, t] : targets_)
    if (auto r = sampler_->add_target(static_cast<std::uint32_t>(pid)); !r)
      log::warn("CPU profiling: cannot add target",
                {{"pid", std::to_string(pid)}, {"error", r.error().message}});
}

Result<void> CpuProfiler::attach(const TargetInfo& target) {
  // The symbolizer reads the target's maps: done before taking the lock, so drains and
  // requests go on meanwhile.
  auto symbolizer = ProcessSymbolizer::create(target.pid, module_cache_);
  if (!symbolizer) return context(symbolizer.error(), "CPU profiler");
  auto t = std::make_shared<Target>();
  t->info = target;
  t->symbolizer = std::move(*symbolizer);
  t->period_start_ns = unix_ns();
  std::lock_guard lock(mu_);
  ensure_sampler_locked();
  if (hz_ > 0 && !sampler_) return context(*sampler_error_, "CPU profiler");
  if (sampler_)
    if (auto r = sampler_->add_target(static_cast<std::uint32_t>(target.pid)); !r) return r;
  targets_[target.pid] = std::move(t);
  return {};
}

void CpuProfiler::detach(const TargetInfo& target) {
  std::lock_guard lock(mu_);
  auto it = targets_.find(target.pid);
  if (it == targets_.end() || it->second->info.start_ticks != target.start_ticks) return;
  if (sampler_) {
    drain_locked();  // its last samples, into its windows
    sampler_->remove_target(static_cast<std::uint32_t>(target.pid));
  }
  Target& t = *it->second;
  if (!push_url_.empty() && !t.period.empty()) {
    const std::int64_t now = unix_ns();
    if (auto gz = build_locked(t, t.period, t.period_start_ns, now))
      pending_.push_back({pyroscope_name(t.info.exe, t.info.pid, push_labels_),
                          t.period_start_ns / 1'000'000'000, now / 1'000'000'000, last_hz_,
                          std::move(*gz)});
  }
  targets_.erase(it);
}

void CpuProfiler::configure(const AgentConfig& config) {
  std::lock_guard lock(mu_);
  if (config.pyroscope_url != push_url_ || config.pyroscope_interval != push_interval_) {
    next_push_ = SteadyClock::now() + config.pyroscope_interval;
    const std::int64_t now = unix_ns();
    for (auto& [pid, t] : targets_) {
      t->period.clear();
      t->period_start_ns = now;
    }
  }
  push_url_ = config.pyroscope_url;
  push_interval_ = config.pyroscope_interval;
  push_labels_ = config.pyroscope_labels;
  if (config.profile_hz > kProfileHzWarn)
    log::warn("profile_hz above 250 costs the targets noticeably more than the default 19",
              {{"hz", std::to_string(config.profile_hz)}});
  // Started here, not in the constructor: the daemon has blocked the signals its loop
  // takes by now, and this thread inherits the mask (a SIGTERM must not land here).
  if (!stopping_) worker_.start();
  if (config.profile_hz == hz_) return;
  drain_locked();  // what the old rate sampled, at the old period
  if (sampler_) {
    if (auto c = sampler_->counters())
      for (std::size_t i = 0; i < c->size(); ++i) closed_counters_[i] += (*c)[i];
    sampler_.reset();
    occupancy_.clear();
    next_map_count_ = {};  // the next sampler's maps are counted at its first drain
  }
  hz_ = config.profile_hz;
  if (!targets_.empty()) ensure_sampler_locked();
  log::info("CPU profiling rate", {{"hz", std::to_string(hz_)}});
}

Result<std::string> CpuProfiler::build_locked(Target& t, const Window& w, std::int64_t start_ns,
                                              std::int64_t end_ns) {
  std::vector<const StackKey*> keys;
  for (const auto& [k, c] : w) keys.push_back(&k);
  std::lock_guard symbolizing(t.sym_mu);
  t.symbolize_new(keys);  // what the drain thread has not done yet
  std::vector<CpuSample> samples;
  for (const auto& [k, c] : w) {
    CpuSample s;
    s.count = c.count;
    s.cpu_ns = c.cpu_ns;
    for (const auto& [stack, lost, kernel] :
         {std::tuple{&k.kernel, k.kernel_lost, true}, std::tuple{&k.user, k.user_lost, false}}) {
      if (const auto* frame = lost_stack_frame(lost, kernel)) s.leaf_first.push_back({0, frame});
      for (std::size_t i = 0; i < stack->size(); ++i) {
        auto sym = t.symbols.find(call_address((*stack)[i], i == 0));
        s.leaf_first.push_back({(*stack)[i], sym == t.symbols.end() ? nullptr : &sym->second});
      }
    }
    samples.push_back(std::move(s));
  }
  if (!t.module_ids) t.module_ids = read_module_ids(*t.symbolizer);
  auto b =
      cpu_pprof(samples, t.symbolizer.get(), *t.module_ids, last_hz_, start_ns, end_ns - start_ns);
  auto gz = b.serialize_gzip();
  if (!gz)
    return fail(ErrorKind::Io, "pid " + std::to_string(t.info.pid) + ": profile: " + gz.error());
  return std::move(*gz);
}

std::vector<PyroscopePush> CpuProfiler::take_pushes_locked() {
  std::vector<PyroscopePush> out = std::move(pending_);
  pending_.clear();
  const std::int64_t now = unix_ns();
  for (auto& [pid, t] : targets_) {
    if (!t->period.empty()) {
      if (auto gz = build_locked(*t, t->period, t->period_start_ns, now))
        out.push_back({pyroscope_name(t->info.exe, pid, push_labels_),
                       t->period_start_ns / 1'000'000'000, now / 1'000'000'000, last_hz_,
                       std::move(*gz)});
      else
        log::warn("CPU profile not pushed", {{"error", gz.error().message}});
    }
    t->period.clear();
    t->period_start_ns = now;
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
  auto gz = build_locked(*c->target, c->window, start_ns, unix_ns());
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
