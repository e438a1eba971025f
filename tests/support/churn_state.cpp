#include "tests/support/churn_state.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace goscry::testing {

namespace {
double from_bits(const std::string& hex) {
  std::uint64_t bits = std::strtoull(hex.c_str(), nullptr, 16);
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}
}  // namespace

ChurnState parse_churn_state(const std::string& line) {
  ChurnState s;
  std::istringstream in(line);
  std::string word;
  in >> word >> s.label;
  while (in >> word) {
    if (word == "goroutines") {
      in >> s.goroutines;
    } else if (word == "site") {
      std::string name;
      SiteTruth t;
      in >> name >> t.created >> t.exited;
      s.sites[name] = t;
    } else if (word == "gc") {
      in >> s.gc_cycles;
    } else if (word == "pauses") {
      std::string metric;
      in >> metric >> s.pauses;
    } else if (word == "bucket") {
      std::string lo, hi;
      std::uint64_t n;
      in >> lo >> hi >> n;
      s.buckets[{from_bits(lo), from_bits(hi)}] = n;
    }
  }
  return s;
}

std::uint64_t misplaced_pauses(const std::vector<std::uint64_t>& pauses_ns,
                               const ChurnState& begin, const ChurnState& end) {
  std::map<std::pair<double, double>, std::uint64_t> ours;
  for (auto ns : pauses_ns) {
    const double secs = double(ns) / 1e9;
    for (const auto& [range, n] : end.buckets)
      if (secs >= range.first && secs < range.second) ++ours[range];
  }
  std::uint64_t misplaced = 0;
  for (const auto& [range, n] : end.buckets) {
    auto b = begin.buckets.find(range);
    const std::uint64_t theirs = n - (b == begin.buckets.end() ? 0 : b->second);
    misplaced += theirs > ours[range] ? theirs - ours[range] : 0;
  }
  return misplaced;
}

}  // namespace goscry::testing
