// How the agent's periodic reads of target memory (goroutine snapshots, heap records) are
// paced: one target at a time, the one due first, each at most every interval (its own),
// and at most `max_duty` of one core in all: after a read that took d the worker rests at
// least d x (1/max_duty - 1), whatever the number and size of the targets.
#pragma once

#include <algorithm>
#include <chrono>

namespace goscry {

class DutyCycle {
 public:
  using Clock = std::chrono::steady_clock;

  // `due_first()`: the target due first (a pointer to something with a `due` time point),
  // or null; `read(target)` reads it; `interval(target)`: how long until it is due again.
  // Reads it if it is due and returns when the worker should look again.
  template <class Interval, class DueFirst, class Read>
  Clock::time_point step(Interval interval, double max_duty, DueFirst due_first, Read read) {
    if (auto next = due_first(); next && Clock::now() >= std::max(next->due, not_before_)) {
      const auto t0 = Clock::now();
      read(*next);
      const auto took = Clock::now() - t0;
      next->due = t0 + interval(*next);
      not_before_ =
          Clock::now() + std::chrono::duration_cast<Clock::duration>(took * (1 / max_duty - 1));
    }
    auto next = due_first();
    return next ? std::max(next->due, not_before_) : Clock::now() + std::chrono::seconds(1);
  }

  // Among `targets` (a map to pointers), the one due first that `skip` does not leave out.
  template <class Targets, class Skip>
  static typename Targets::mapped_type due_first(const Targets& targets, Skip skip) {
    typename Targets::mapped_type next;
    for (const auto& [key, w] : targets)
      if (!skip(*w) && (!next || w->due < next->due)) next = w;
    return next;
  }

 private:
  Clock::time_point not_before_;  // the rest after the last read
};

}  // namespace goscry
