// `go tool pprof -raw`, the reference reader of profile.proto, parsed for the tests that
// compare goscry's profiles with the ones Go writes: every sample's values, stack and
// labels, and the period. The profile is never read with goscry's own code.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace goscry::testing {

struct RawPprofSample {
  std::vector<long long> values;  // in the order of the profile's sample types
  // One entry per location, leaf first: "function file:line", its inlined callers joined
  // after it with " | " (innermost first), as Go folds them into one location.
  std::vector<std::string> stack;
  std::map<std::string, std::string> labels;  // key:[value] lines, string and numeric alike
};

struct RawPprof {
  long long period = 0;
  std::vector<RawPprofSample> samples;
  std::string text;  // pprof's whole output, for failure messages
};

// Fails the current test (and returns what it read) when pprof cannot read `path`.
RawPprof read_raw_pprof(const std::string& path);

}  // namespace goscry::testing
