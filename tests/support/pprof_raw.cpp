#include "tests/support/pprof_raw.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "tests/support/fixtures.h"

namespace goscry::testing {
namespace {

// "key:[value] key:[value]" after a sample line.
void add_labels(const std::string& line, std::map<std::string, std::string>& labels) {
  for (std::size_t at = 0;;) {
    auto open = line.find(":[", at);
    if (open == std::string::npos) return;
    auto start = line.rfind(' ', open);
    start = start == std::string::npos ? 0 : start + 1;
    auto close = line.find(']', open);
    if (close == std::string::npos) return;
    labels[line.substr(start, open - start)] = line.substr(open + 2, close - open - 2);
    at = close + 1;
  }
}

}  // namespace

// -raw prints the header (PeriodType, Period, Time, Duration), "Samples:", the types line,
// one line per sample "  V V ...: LOC LOC ..." optionally followed by an indented labels
// line, then "Locations" ("id: 0xaddr M=n func file:line:col s=n" and one indented line per
// inlined caller) and "Mappings".
RawPprof read_raw_pprof(const std::string& path) {
  RawPprof p;
  auto r = run_command({go_command(), "tool", "pprof", "-raw", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  p.text = r.out;
  static const std::regex sample(R"(^\s*((?:-?\d+\s+)*-?\d+):((?: \d+)*)\s*$)");
  // A C function's location has no file: "goscry_c_burn :0:0".
  static const std::regex location(R"(^\s*(\d+): 0x[0-9a-f]+ M=\d+ (\S+) (\S*):(\d+):\d+ s=\d+$)");
  static const std::regex inlined(R"(^\s+(\S+) (\S+):(\d+):\d+ s=\d+$)");
  static const std::regex period(R"(^Period: (\d+)$)");
  std::vector<std::vector<int>> location_ids;  // per sample
  std::map<int, std::string> locations;
  int current = -1;
  std::string section;
  for (const auto& line : split_lines(r.out)) {
    std::smatch m;
    if (line == "Samples:" || line == "Locations" || line == "Mappings") {
      section = line;
      continue;
    }
    if (section.empty() && std::regex_match(line, m, period)) p.period = std::stoll(m[1]);
    if (section == "Samples:" && std::regex_match(line, m, sample)) {
      RawPprofSample s;
      std::istringstream values(m[1].str()), ids(m[2].str());
      for (long long v; values >> v;) s.values.push_back(v);
      location_ids.emplace_back();
      for (int id; ids >> id;) location_ids.back().push_back(id);
      p.samples.push_back(std::move(s));
    } else if (section == "Samples:" && line.find(":[") != std::string::npos &&
               !p.samples.empty()) {
      add_labels(line, p.samples.back().labels);
    } else if (section == "Locations" && std::regex_match(line, m, location)) {
      current = std::stoi(m[1]);
      locations[current] = m[2].str() + " " + m[3].str() + ":" + m[4].str();
    } else if (section == "Locations" && std::regex_match(line, m, inlined) && current >= 0) {
      locations[current] += " | " + m[1].str() + " " + m[2].str() + ":" + m[3].str();
    }
  }
  for (std::size_t i = 0; i < p.samples.size(); ++i)
    for (int id : location_ids[i]) p.samples[i].stack.push_back(locations[id]);
  return p;
}

}  // namespace goscry::testing
