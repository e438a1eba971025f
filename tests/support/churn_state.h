// The ground truth the churn fixture prints at each quiescent point:
//   state <label> goroutines <n> site <name> <created> <exited> ... gc <cycles>
//   pauses <metric> <count> [bucket <lo-bits> <hi-bits> <count>]...
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace goscry::testing {

struct SiteTruth {
  std::uint64_t created = 0, exited = 0;
};

struct ChurnState {
  std::string label;
  std::int64_t goroutines = 0;  // runtime.NumGoroutine()
  std::map<std::string, SiteTruth> sites;
  std::uint64_t gc_cycles = 0;
  std::uint64_t pauses = 0;
  std::map<std::pair<double, double>, std::uint64_t> buckets;  // [lo, hi) seconds -> count
};

ChurnState parse_churn_state(const std::string& line);

// How many of `pauses_ns` fall outside the runtime's histogram counts between `begin`
// and `end` (pauses the runtime put in a bucket where ours has none left).
std::uint64_t misplaced_pauses(const std::vector<std::uint64_t>& pauses_ns,
                               const ChurnState& begin, const ChurnState& end);

}  // namespace goscry::testing
