#include "agent/leaks/leak_watch.h"

#include <algorithm>
#include <thread>

#include "agent/goruntime/goroutine_memo.h"

namespace goscry {

std::chrono::nanoseconds shortest_leak_watch(std::chrono::nanoseconds interval) {
  const std::chrono::duration<double> span(LeakDetectorOptions{}.min_span_seconds);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(span) + interval;
}

LeakWatch watch_for_leaks(const GoProcess& t, const LeakWatchSettings& settings,
                          const SiteCountsNow& sites,
                          const std::function<void(const LeakSuspect&)>& on_suspect,
                          const std::function<bool()>& stop) {
  using Clock = std::chrono::steady_clock;
  LeakWatch w;
  const auto start = Clock::now();
  const auto end = start + settings.duration;
  GoroutineMemo memo(t);
  for (auto next = start; !stop() && Clock::now() < end; next += settings.interval) {
    auto list = memo.read();
    if (!list) {
      w.ended_by = list.error();
      break;
    }
    auto views = memo.symbolize(std::move(list->goroutines), list->read_at);
    const auto counts = sites();
    for (const auto& s : w.detector.observe(views, list->read_at, counts ? &*counts : nullptr, &t))
      on_suspect(s);
    w.last_views = std::move(views);
    // A timer: the next read is due at a fixed time, there is nothing to poll for.
    std::this_thread::sleep_until(std::min<Clock::time_point>(next + settings.interval, end));
  }
  w.watched_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return w;
}

}  // namespace goscry
