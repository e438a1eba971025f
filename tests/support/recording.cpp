#include "tests/support/recording.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/pprof_raw.h"

namespace goscry::testing {

double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::vector<std::string> fields;
  for (std::string w; rest >> w;) fields.push_back(w);
  // After "(comm)": state is field 3, utime 14 and stime 15 (proc(5)).
  return (std::stod(fields.at(11)) + std::stod(fields.at(12))) / sysconf(_SC_CLK_TCK);
}

// Nanoseconds, where utime+stime only count clock ticks.
double schedstat_seconds(pid_t pid) {
  double sum = 0;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;  // a reaped target has no task directory: 0
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream f(e.path() / "schedstat");
    double ns = 0;
    if (f >> ns) sum += ns / 1e9;
  }
  return sum;
}

std::string temp_path(const std::string& suffix) {
  return std::string(::testing::TempDir()) + "goscry-record-" + std::to_string(getpid()) + "-" +
         suffix;
}

Recorded record(pid_t pid, const std::vector<std::string>& args, int hz) {
  std::vector<std::string> argv = {goscry_binary(), "record", "--pid", std::to_string(pid),
                                   "--hz", std::to_string(hz)};
  argv.insert(argv.end(), args.begin(), args.end());
  Recorded out;
  auto goscry = LiveProcess::start(
      argv, "goscry record: recording pid " + std::to_string(pid) + " at " + std::to_string(hz) + " Hz",
      std::chrono::seconds(60));
  if (!goscry) {
    ADD_FAILURE() << goscry.error().message;
    return out;
  }
  double before = cpu_seconds(pid), run_before = schedstat_seconds(pid);
  // The window ends when goscry stops sampling, not when it has written the file.
  auto stopped = (*goscry)->wait_for_line("goscry record: sampling stopped", std::chrono::seconds(120));
  double after = cpu_seconds(pid), run_after = schedstat_seconds(pid);
  EXPECT_TRUE(stopped) << stopped.error().message;
  auto status = (*goscry)->wait_exit(std::chrono::seconds(120));
  out.target_run = run_after - run_before;
  out.output = (*goscry)->output();
  if (!status) {
    ADD_FAILURE() << status.error().message;
    return out;
  }
  out.exit_code = *status;
  out.target_cpu = after - before;
  return out;
}

std::map<std::string, long> flat_samples(const std::string& profile, std::string* raw,
                                         const std::vector<std::string>& options) {
  // -nodefraction=0: pprof otherwise drops the functions under 0.5 % of the samples from
  // the table, and shares of what is left would be inflated by what it dropped (a profile
  // with more small functions, more so).
  std::vector<std::string> argv = {go_command(), "tool", "pprof", "-top", "-nodecount=100000",
                                   "-nodefraction=0", "-sample_index=samples"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back(profile);
  auto r = run_command(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (raw) *raw = r.out + r.err;
  std::map<std::string, long> flat;
  bool table = false;
  for (const auto& line : split_lines(r.out)) {
    if (line.find("flat%") != std::string::npos) {
      table = true;
      continue;
    }
    if (!table) continue;
    std::istringstream in(line);
    std::string n, p1, p2, c, p3, name;
    if (!(in >> n >> p1 >> p2 >> c >> p3)) continue;
    std::getline(in, name);
    name.erase(0, name.find_first_not_of(' '));
    for (std::string_view mark : {" (inline)", " (partial-inline)"})
      if (name.ends_with(mark)) name.resize(name.size() - mark.size());
    flat[name] += std::stol(n);
  }
  return flat;
}

long total(const std::map<std::string, long>& flat) {
  long t = 0;
  for (const auto& [k, v] : flat) t += v;
  return t;
}

std::map<std::string, double> flat_shares(const std::string& profile, long* samples,
                                          const std::vector<std::string>& options) {
  auto flat = flat_samples(profile, nullptr, options);
  *samples = total(flat);
  const double t = static_cast<double>(*samples);
  std::map<std::string, double> out;
  for (const auto& [name, n] : flat) out[name] = t > 0 ? 100.0 * n / t : 0;
  return out;
}

double share_sigma(double share, long n, long m) {
  const double p = share / 100;
  return 100 *
         std::sqrt(p * (1 - p) / double(std::max(n, 1L)) + p * (1 - p) / double(std::max(m, 1L)));
}

FlatComparison compare_flat_shares(const std::map<std::string, double>& theirs, long n_theirs,
                                   const std::map<std::string, double>& mine, long n_mine) {
  constexpr double kThreshold = 2.0, kPoints = 5.0, kSigmas = 4.0;
  std::set<std::string> big;
  for (const auto* shares : {&theirs, &mine})
    for (const auto& [name, share] : *shares)
      if (share >= kThreshold) big.insert(name);
  auto share_in = [](const std::map<std::string, double>& m, const std::string& name) {
    auto it = m.find(name);
    return it == m.end() ? 0.0 : it->second;
  };
  FlatComparison out;
  out.compared = big.size();
  for (const auto& name : big) {
    const double a = share_in(theirs, name), b = share_in(mine, name);
    const double diff = std::fabs(a - b), noise = kSigmas * share_sigma(std::max(a, b), n_theirs, n_mine);
    out.max_difference = std::max(out.max_difference, diff);
    char line[400];
    std::snprintf(line, sizeof line, "  %-60s own %5.1f%%  goscry %5.1f%%\n", name.c_str(), a, b);
    out.table += line;
    const bool one_side = (a >= kThreshold) != (b >= kThreshold);
    if (one_side && diff > noise)
      out.disagreements += "above 2 % in one profile only:" + std::string(line);
    else if (diff > std::max(kPoints, noise))
      out.disagreements += "shares more than 5 points apart:" + std::string(line);
  }
  return out;
}

std::vector<RawSample> raw_samples(const std::string& profile, std::string* raw) {
  RawPprof p = read_raw_pprof(profile);
  if (raw) *raw = p.text;
  std::vector<RawSample> out;
  for (auto& s : p.samples)
    if (!s.values.empty()) out.push_back({long(s.values[0]), std::move(s.labels)});
  return out;
}

}  // namespace goscry::testing
