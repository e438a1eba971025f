#include "agent/cli/profile_window.h"

#include <time.h>

#include <algorithm>
#include <chrono>

#include "agent/base/stop_signal.h"

namespace goscry {

void wait_window(const GoProcess& t, int seconds) {
  using namespace std::chrono;
  const auto end = steady_clock::now() + std::chrono::seconds(seconds);
  for (auto now = steady_clock::now(); now < end && !stop_requested() && t.process().alive();
       now = steady_clock::now()) {
    const auto step = std::min<nanoseconds>(end - now, milliseconds(200));
    timespec ts{time_t(step.count() / 1'000'000'000), long(step.count() % 1'000'000'000)};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace goscry
