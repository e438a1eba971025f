#include "agent/cpu/cpu_session.h"

#include <algorithm>
#include <thread>

#include "agent/goruntime/go_plugins.h"
#include "agent/goruntime/go_version.h"
#include "symbolizer/proc_stat.h"

namespace goscry {

namespace {

std::string lost_counters_summary(const std::array<std::uint64_t, GOSCRY_CPU_CNT_MAX>& c) {
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  const std::uint64_t user =
      c[GOSCRY_CPU_USER_EFAULT] + c[GOSCRY_CPU_USER_OTHER] + c[GOSCRY_CPU_USER_TABLE_FULL];
  const std::uint64_t kernel = c[GOSCRY_CPU_KERNEL_LOST] + c[GOSCRY_CPU_KERNEL_TABLE_FULL];
  std::string out;
  if (c[GOSCRY_CPU_RING_FULL] + user + kernel > 0)
    out = ", lost: " + n(c[GOSCRY_CPU_RING_FULL]) + " samples (ring full), " + n(user) +
          " user stacks (" + n(c[GOSCRY_CPU_USER_EFAULT]) + " unreadable, " +
          n(c[GOSCRY_CPU_USER_TABLE_FULL]) + " to a full stack table, " +
          n(c[GOSCRY_CPU_USER_OTHER]) + " other), " + n(kernel) +
          " kernel stacks; their samples are under a \"[stack lost: why]\" frame";
  if (c[GOSCRY_CPU_G_UNREADABLE] > 0)
    out += ", " + n(c[GOSCRY_CPU_G_UNREADABLE]) +
           " samples without a readable goroutine (no goid, no labels)";
  if (c[GOSCRY_CPU_REGS_UNKNOWN] > 0)
    out += ", " + n(c[GOSCRY_CPU_REGS_UNKNOWN]) +
           " kernel-mode samples without the user registers (no frameless leaf's caller)";
  return out;
}

}  // namespace

Result<std::unique_ptr<CpuSession>> CpuSession::open(const CpuSessionSettings& settings) {
  const int pid = settings.pid;
  if (!process_alive(pid))
    return fail(ErrorKind::NotFound, "pid " + std::to_string(pid) + ": no such process");
  // A Go program that loaded a plugin is refused before anything is opened.
  if (go_version_of_file("/proc/" + std::to_string(pid) + "/exe"))
    if (auto r = refuse_go_plugins(pid); !r) return std::unexpected(r.error());
  std::unique_ptr<CpuSession> s(new CpuSession());
  s->settings_ = settings;
  auto target = open_cpu_target(pid, settings.goid_labels, GoProcess::open(pid));
  if (!target) return std::unexpected(target.error());
  s->target_ = std::move(*target);
  // Open the modules now (and keep their build-ids): once the target is gone they cannot
  // be reached through it.
  s->module_ids_ = read_module_ids(*s->target_.symbolizer);
  auto sampler = CpuSampler::open(settings.hz);
  if (!sampler) return std::unexpected(sampler.error());
  s->sampler_ = std::move(*sampler);
  if (auto r = s->sampler_->add_target(static_cast<std::uint32_t>(pid), s->target_.what); !r)
    return std::unexpected(r.error());
  s->recording_.emplace(s->target_.symbolizer.get(), s->target_.go.get(),
                        static_cast<std::uint32_t>(pid),
                        CpuRecordingOptions{.goid_labels = settings.goid_labels});
  return s;
}

void CpuSession::drain() {
  recording_->add(read_drain(*sampler_, sampler_->drain_counts(), settings_.hz));
}

CpuSessionEnd CpuSession::run(std::chrono::nanoseconds duration, const std::function<bool()>& stop,
                              const Progress& progress) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  start_unix_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const auto deadline = start + duration;
  auto next_tick = start + std::chrono::seconds(1);
  CpuSessionEnd end = CpuSessionEnd::Stopped;
  for (;;) {
    const auto now = Clock::now();
    if (stop()) break;
    if (now >= deadline) {
      end = CpuSessionEnd::Duration;
      break;
    }
    if (!process_alive(settings_.pid)) {
      end = CpuSessionEnd::TargetExited;
      break;
    }
    // Every wake (<= 100 ms): the ring holds ~2 s of samples, read it long before.
    sampler_->read_ring();
    if (now >= next_tick) {
      next_tick += std::chrono::seconds(1);
      drain();  // symbolized now, while the target lives
      if (progress) {
        auto c = sampler_->counters();
        progress(c ? (*c)[GOSCRY_CPU_SAMPLES] : 0,
                 std::chrono::duration<double>(now - start).count());
      }
    }
    auto wake = std::min({deadline, next_tick, now + std::chrono::milliseconds(100)});
    std::this_thread::sleep_until(wake);  // a timer: nothing to poll for between ticks
  }
  elapsed_ = Clock::now() - start;
  sampler_->stop();
  drain();
  return end;
}

std::string CpuSession::lost_summary() const {
  auto counters = sampler_->counters();
  std::string lost = counters ? lost_counters_summary(*counters)
                              : ", lost: unknown (" + counters.error().message + ")";
  if (recording_->unreadable_label_sets() > 0)
    lost +=
        ", " + std::to_string(recording_->unreadable_label_sets()) + " pprof label sets unreadable";
  return lost;
}

}  // namespace goscry
