// 1,000 short-lived Go processes come and go under `goscry agent --all`: the agent tracks
// them up to max_targets, never exports more series than the documented budget, drops
// every series of a dead target once its grace period is over, and its RSS stays flat.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "agent/daemon/target_metrics.h"
#include "tests/support/fixtures.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr size_t kTargets = 1000;
constexpr size_t kBatch = 50;
constexpr size_t kMaxTargets = 40;  // below the batch size: the cap is exercised every batch
constexpr size_t kSiteCap = 50;
// docs/agent.md: the agent's own samples (goscry_* without pid, process_*).
// 32, plus 7 of the memory budget, 2 of the BPF trackers, 7 of CPU profiling, 6 of the
// symbolizer cache, 2 per countable BPF map (7 maps).
constexpr size_t kSelfSamples = 68;

struct Scrape {
  size_t samples = 0;
  size_t target_samples = 0;  // samples with a pid label
  std::set<pid_t> pids;
};

Scrape scrape(const AgentProcess& agent) {
  Scrape s;
  for (const auto& line : split_lines(http_get(agent.url("/metrics")).body)) {
    if (line.empty() || line[0] == '#') continue;
    ++s.samples;
    auto at = line.find("pid=\"");
    if (at != std::string::npos) {
      ++s.target_samples;
      s.pids.insert(std::stoi(line.substr(at + 5)));
    }
  }
  return s;
}

size_t live_targets(const AgentProcess& agent) {
  json j = json::parse(http_get(agent.url("/api/v1/targets")).body, nullptr, false);
  size_t n = 0;
  if (j.is_object())
    for (const auto& t : j["targets"]) n += t["alive"] == true;
  return n;
}

bool any_of(const std::set<pid_t>& seen, const std::set<pid_t>& dead) {
  for (pid_t p : seen)
    if (dead.contains(p)) return true;
  return false;
}

TEST(AgentChurn, ThousandShortLivedTargetsStayWithinTheSeriesBudget) {
  auto dir = std::filesystem::temp_directory_path() / ("goscry-churn-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  // profile_hz: 0: with `all` on a shared host, CPU profiling samples whatever other Go
  // programs run meanwhile (a build's go, compile, link) and indexes their binaries, so the
  // RSS figure below would measure the host, not the churn. Profiling's own CPU and RSS are
  // scripts/bench-agent-profile.sh's figures.
  // include: the churn's binary only, so that the other Go programs of a shared host (another
  // test's fixtures) are not opened and cached either.
  const std::string hello = hello_fixture();
  std::ofstream(dir / "agent.yml") << "all: true\nscan_interval: 50ms\ngrace_period: 500ms\nprofile_hz: 0\n"
                                   << "max_targets: " << kMaxTargets << "\nsite_cap: " << kSiteCap
                                   << "\ninclude:\n  - exe: \"" << hello << "\"\n";
  // --all also finds the host's long-lived Go programs; with leak detection or heap profiles
  // on, the agent would index their binaries (a one-time cost, not growth) and blur the RSS
  // figures.
  AgentProcess agent({"--no-bpf", "--no-leaks", "--no-heap", "--config", (dir / "agent.yml").string(),
                      "--log-level", "warn"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  const size_t budget =
      kSelfSamples + kMaxTargets * TargetMetrics::max_samples_per_target(kSiteCap);

  std::set<pid_t> dead;
  size_t max_samples = 0;
  std::size_t rss_start = agent.rss_bytes(), rss_middle = 0;
  auto started = std::chrono::steady_clock::now();

  for (size_t done = 0; done < kTargets; done += kBatch) {
    std::vector<HeldProcess> batch;
    for (size_t i = 0; i < kBatch; ++i) batch.emplace_back(std::vector<std::string>{hello, "wait"});
    // The agent fills every slot (the batch alone is larger than max_targets)...
    ASSERT_TRUE(poll_until([&] { return live_targets(agent) == kMaxTargets; }, 20s))
        << "batch at " << done << ": " << live_targets(agent) << " live targets\n" << agent.log();
    Scrape s = scrape(agent);
    max_samples = std::max(max_samples, s.samples);
    EXPECT_LE(s.samples, budget);
    EXPECT_LE(s.target_samples, kMaxTargets * TargetMetrics::max_samples_per_target(kSiteCap));
    for (auto& p : batch) {
      dead.insert(p.pid());
      p.kill_and_wait();
    }
    if (done + kBatch == kTargets / 2) {
      // ...and half-way, every series of the 500 dead ones is gone after the grace period.
      EXPECT_TRUE(poll_until([&] { return !any_of(scrape(agent).pids, dead); }, 5s));
      rss_middle = agent.rss_bytes();
    }
  }
  auto killed_last = std::chrono::steady_clock::now();
  ASSERT_TRUE(poll_until([&] { return !any_of(scrape(agent).pids, dead); }, 10s))
      << "series of dead targets remain";
  double vanished_after =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_last).count();
  std::size_t rss_end = agent.rss_bytes();
  double seconds = std::chrono::duration<double>(killed_last - started).count();

  std::string metrics = http_get(agent.url("/metrics")).body;
  const std::string kSkipped = "\ngoscry_targets_skipped_total ";
  auto at = metrics.find(kSkipped);
  ASSERT_NE(at, std::string::npos) << metrics;
  std::string skipped = metrics.substr(at + kSkipped.size(),
                                       metrics.find('\n', at + 1) - at - kSkipped.size());
  EXPECT_GE(std::stoul(skipped), (kTargets / kBatch) * (kBatch - kMaxTargets) / 2)
      << "the cap left out too few";
  std::printf(
      "churn: %zu targets in %.1f s; max %zu samples per scrape (budget %zu); "
      "last series gone %.2f s after the last kill (grace 0.5 s); agent RSS start %.1f MiB, "
      "middle %.1f MiB, end %.1f MiB; %s skipped over the cap\n",
      kTargets, seconds, max_samples, budget, vanished_after, rss_start / 1048576.0,
      rss_middle / 1048576.0, rss_end / 1048576.0, skipped.c_str());
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine holds freed memory (up to 256 MiB) by design
  EXPECT_LT(rss_end, rss_start + 8 * 1048576) << "RSS grew by more than 8 MiB";
#endif
  std::filesystem::remove_all(dir);
}

// The agent's log lines that name `pid` (logfmt: " pid=P" then a space or the line's end).
std::vector<std::string> log_lines_of(const std::string& log, pid_t pid) {
  const std::string field = " pid=" + std::to_string(pid);
  std::vector<std::string> out;
  for (const auto& line : split_lines(log)) {
    auto at = line.find(field);
    const auto after = at + field.size();
    if (at != std::string::npos && (after == line.size() || line[after] == ' '))
      out.push_back(line);
  }
  return out;
}

// Under --all short-lived programs come and go all the time: one that exits before its first
// leak snapshot is news for the debug log only. Each was a warning (issue 14, finding 11), a
// line per process on a busy node.
TEST(AgentChurn, TargetsThatExitBeforeTheirFirstLeakSnapshotAreNotWarnedAbout) {
  auto dir = std::filesystem::temp_directory_path() / ("goscry-exits-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  // A grace period longer than the snapshots of 20 new targets take at the detector's 5 %
  // duty: each dead target is still listed when its turn comes.
  std::ofstream(dir / "agent.yml") << "all: true\nscan_interval: 50ms\ngrace_period: 10s\n"
                                   << "profile_hz: 0\n";
  AgentProcess agent({"--no-bpf", "--config", (dir / "agent.yml").string(), "--log-level",
                      "debug"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  std::vector<HeldProcess> programs;
  for (int i = 0; i < 20; ++i) programs.emplace_back(std::vector<std::string>{hello_fixture(), "wait"});
  auto listed = [&](pid_t pid) {
    return agent.log().find("msg=\"target added\" pid=" + std::to_string(pid) + " ") !=
           std::string::npos;
  };
  ASSERT_TRUE(poll_until([&] {
    return std::all_of(programs.begin(), programs.end(), [&](auto& p) { return listed(p.pid()); });
  })) << agent.log();
  std::vector<pid_t> pids;
  for (auto& p : programs) {
    pids.push_back(p.pid());
    p.kill_and_wait();
  }
  // Each dead target's leak snapshots end with a debug line: "it exited" when the exit came
  // before the first one, "leak snapshots stopped" after.
  auto ended = [&](pid_t pid) {
    for (const auto& line : log_lines_of(agent.log(), pid))
      if (line.find("leak detection off") != std::string::npos ||
          line.find("leak snapshots stopped") != std::string::npos)
        return true;
    return false;
  };
  EXPECT_TRUE(poll_until([&] { return std::all_of(pids.begin(), pids.end(), ended); }, 60s))
      << agent.log();
  int exited_first = 0;
  for (pid_t pid : pids)
    for (const auto& line : log_lines_of(agent.log(), pid)) {
      EXPECT_EQ(line.find("level=warn"), std::string::npos) << line;
      exited_first += line.find("leak detection off for this target: it exited") !=
                      std::string::npos;
    }
  std::printf("20 programs killed after being listed: %d exited before their first snapshot\n",
              exited_first);
  EXPECT_GE(exited_first, 1) << "no exit came before a first snapshot: the case was not tried";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace goscry::testing
