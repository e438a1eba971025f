// `goscry agent --all` on a fleet (issue 15): 60 Go processes of every toolchain and variant of
// two fixtures (24 distinct binaries with the default three toolchains), started and stopped
// in overlapping waves of 20. Each is discovered within its scan, counted right
// (goscry_goroutines equal to the process's own runtime.NumGoroutine, or to the goroutines of
// its own runtime.Stack(all) dump), and forgotten after its grace period; no probe is left
// behind (the agent's perf event and BPF link fds back to what they were); the agent's
// resident memory stays within its budget throughout.
//
// Alone (RUN_SERIAL): --all tracks every Go process of the host, and the fd and memory
// figures are the agent's whole. Other Go processes that come and go meanwhile (another
// suite on a shared machine) are allowed for. 70-100 s on the 2-core development machine
// at load 15-30: three waves of 20 starts, each waited for (discovery, counts), then the
// 3 s grace period of each.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr int kWaves = 3;
constexpr int kPerWave = 20;
constexpr auto kScanInterval = 1s;
constexpr auto kGracePeriod = 3s;
constexpr std::size_t kBudgetMib = 192;
// Attaching is the agent's work between noticing a process and listing it: under a CI
// machine's load (two cores, load 20+) a scan that attaches to 20 new targets has taken up to
// ~10 s. Discovery within a scan means listed within scan_interval plus that.
constexpr auto kAttachAllowance = 20s;

#define SKIP_OR_FAIL_WITHOUT_ROOT()                                                \
  if (geteuid() != 0) {                                                            \
    const char* ci = std::getenv("CI");                                            \
    if (ci && std::string(ci) == "true") FAIL() << "needs root (BPF) and CI=true"; \
    GTEST_SKIP() << "needs root: the agent attaches BPF probes";                   \
  }

struct AgentFds {
  int all = 0;
  int perf_events = 0;  // one per uprobe attached (and per CPU of a profiled target)
  int bpf_links = 0;
  bool operator==(const AgentFds&) const = default;
};

AgentFds fds_of(pid_t pid) {
  AgentFds f;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    ++f.all;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (ec) continue;
    f.perf_events += target == "anon_inode:[perf_event]";
    f.bpf_links += target == "anon_inode:bpf_link";
  }
  return f;
}

std::string describe(const AgentFds& f) {
  return std::to_string(f.all) + " fds (" + std::to_string(f.perf_events) + " perf events, " +
         std::to_string(f.bpf_links) + " BPF links)";
}

// The agent's fds whose target starts with one of `dirs` ("/proc/42/"), one a line.
std::string fds_naming(pid_t pid, const std::set<std::string>& dirs) {
  std::string out;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const std::string t = std::filesystem::read_symlink(e.path(), ec).string();
    const auto slash = t.find('/', 6);
    if (t.rfind("/proc/", 0) == 0 && slash != std::string::npos &&
        dirs.contains(t.substr(0, slash + 1)))
      out += "  " + t + "\n";
  }
  return out;
}

// What the agent's fds are, by kind ("/proc/*/mem", "socket", "anon_inode:bpf-map"): for the
// message of a failure.
std::string fd_kinds(pid_t pid) {
  std::map<std::string, int> kinds;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::string t = std::filesystem::read_symlink(e.path(), ec).string();
    if (t.rfind("/proc/", 0) == 0) t = "/proc/*" + t.substr(t.find('/', 6));
    if (auto at = t.find(":["); at != std::string::npos && t.rfind("anon_inode", 0) != 0)
      t = t.substr(0, at);
    ++kinds[t];
  }
  std::string out;
  for (const auto& [k, n] : kinds) out += "  " + std::to_string(n) + " " + k + "\n";
  return out;
}

// pid -> goroutines (-1: not measured) of every target the agent lists alive.
std::map<pid_t, long> alive_targets(const AgentProcess& agent) {
  std::map<pid_t, long> out;
  json j = json::parse(http_get(agent.url("/api/v1/targets")).body, nullptr, false);
  if (!j.is_object() || !j["targets"].is_array()) return out;
  for (const auto& t : j["targets"])
    if (t["alive"] == true) out[t["pid"].get<pid_t>()] = t.value("goroutines", -1L);
  return out;
}

// Every pid the agent lists, alive or in its grace period.
std::set<pid_t> listed_targets(const AgentProcess& agent) {
  std::set<pid_t> out;
  json j = json::parse(http_get(agent.url("/api/v1/targets")).body, nullptr, false);
  if (j.is_object() && j["targets"].is_array())
    for (const auto& t : j["targets"]) out.insert(t["pid"].get<pid_t>());
  return out;
}

// A fleet member: the process, its binary, and its goroutines as it counted them.
struct Member {
  std::unique_ptr<LiveProcess> process;
  std::string label;
  long goroutines = 0;
  SteadyClock::time_point ready;
};

// `hello wait` prints "goroutines N" (runtime.NumGoroutine) then "ready"; `quiescent` prints
// its runtime.Stack(all) and then "ready", and nothing runs after: its goroutines are the
// dump's "goroutine N [" headers. Both then block on stdin and exit when it closes.
Result<Member> start_member(const Fixture& f) {
  const bool hello = f.name == "hello";
  auto p = hello ? LiveProcess::start({f.path, "wait"}) : LiveProcess::start({f.path});
  if (!p) return std::unexpected(p.error());
  Member m{std::move(*p), f.label(), 0, SteadyClock::now()};
  std::istringstream out(m.process->output());
  for (std::string line; std::getline(out, line);) {
    if (hello && line.rfind("goroutines ", 0) == 0) m.goroutines = std::stol(line.substr(11));
    if (!hello && line.rfind("goroutine ", 0) == 0 && line.back() == ':') ++m.goroutines;
  }
  if (m.goroutines == 0)
    return fail(ErrorKind::BadInput, f.label() + ": no goroutine count in\n" + m.process->output());
  return m;
}

class Fleet : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"hello", "quiescent"})
      for (auto& f : all_fixtures(name)) binaries_.push_back(f);
    config_ = std::filesystem::path(::testing::TempDir()) /
              ("goscry-fleet-" + std::to_string(getpid()) + ".yml");
    std::ofstream(config_) << "all: true\nscan_interval: 1s\ngrace_period: 3s\n"
                           << "memory_budget_mib: " << kBudgetMib << "\n";
  }
  void TearDown() override { std::filesystem::remove(config_); }

  // The agent's resident memory now; the most seen is kept.
  void sample_memory(const AgentProcess& agent) {
    peak_rss_ = std::max(peak_rss_, agent.rss_bytes());
  }

  std::vector<Fixture> binaries_;
  std::filesystem::path config_;
  std::size_t peak_rss_ = 0;
  double per_target_fds_ = 0;
};

TEST_F(Fleet, WavesOfGoProcessesAreTrackedCountedAndForgottenWithinTheMemoryBudget) {
  SKIP_OR_FAIL_WITHOUT_ROOT();
  // 2 fixtures x 4 variants x 3 toolchains by default (scripts/test.sh).
  ASSERT_GE(binaries_.size(), 20u) << "fewer fixture builds than the fleet needs";
  AgentProcess agent({"--config", config_.string()});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  // The first scan is over once the agent measured its memory (right after it).
  ASSERT_TRUE(poll_until([&] {
    return http_get(agent.url("/metrics")).body.find("\ngoscry_agent_resident_bytes{") !=
           std::string::npos;
  }, 60s)) << agent.log();
  EXPECT_NE(http_get(agent.url("/metrics"))
                .body.find("\ngoscry_agent_memory_budget_bytes " +
                           std::to_string(kBudgetMib << 20) + "\n"),
            std::string::npos);
  const std::set<pid_t> before_pids = listed_targets(agent);
  const AgentFds before = fds_of(agent.pid());
  const std::string kinds_before = fd_kinds(agent.pid());

  std::vector<std::vector<Member>> waves;
  std::size_t next_binary = 0;
  SteadyClock::duration slowest_discovery{}, slowest_forgetting{};
  auto forget = [&](std::vector<Member>& wave) {
    std::map<pid_t, SteadyClock::time_point> exited;
    for (auto& m : wave) {
      // Before it can exit: the grace period runs from a scan after the exit, so from here
      // to being forgotten is at least grace_period.
      exited[m.process->pid()] = SteadyClock::now();
      m.process->close_stdin();
      ASSERT_TRUE(m.process->wait_exit(10s)) << m.label;
    }
    ASSERT_TRUE(poll_until([&] {
      sample_memory(agent);
      const auto listed = listed_targets(agent);
      for (auto it = exited.begin(); it != exited.end();) {
        if (listed.contains(it->first)) {
          ++it;
          continue;
        }
        const auto after = SteadyClock::now() - it->second;
        EXPECT_GE(after, kGracePeriod) << "pid " << it->first << " forgotten early";
        slowest_forgetting = std::max(slowest_forgetting, after);
        it = exited.erase(it);
      }
      return exited.empty();
    }, kGracePeriod + kScanInterval + kAttachAllowance))
        << exited.size() << " exited targets still listed\n" << agent.log();
  };

  for (int w = 0; w < kWaves; ++w) {
    std::vector<Member> wave;
    for (int i = 0; i < kPerWave; ++i) {
      const Fixture& f = binaries_[next_binary++ % binaries_.size()];
      auto m = start_member(f);
      ASSERT_TRUE(m) << m.error().message;
      wave.push_back(std::move(*m));
    }
    // Discovered: every member listed alive, at most a scan and its attaching after ready.
    std::map<pid_t, const Member*> unseen;
    for (const auto& m : wave) unseen[m.process->pid()] = &m;
    ASSERT_TRUE(poll_until([&] {
      sample_memory(agent);
      const auto alive = alive_targets(agent);
      for (auto it = unseen.begin(); it != unseen.end();) {
        if (!alive.contains(it->first)) {
          ++it;
          continue;
        }
        slowest_discovery = std::max(slowest_discovery, SteadyClock::now() - it->second->ready);
        it = unseen.erase(it);
      }
      return unseen.empty();
    }, kScanInterval + kAttachAllowance))
        << unseen.size() << " of wave " << w << " not discovered\n" << agent.log();
    // What a target costs in fds, at the height of the wave (for the check at the end).
    {
      const long added = long(listed_targets(agent).size()) - long(before_pids.size());
      if (added > 0)
        per_target_fds_ = std::max(per_target_fds_,
                                   double(fds_of(agent.pid()).all - before.all) / double(added));
    }
    // Quiet points: nothing runs in the members; each one's count is its own.
    for (const auto& m : wave) {
      const pid_t pid = m.process->pid();
      long seen = -2;
      EXPECT_TRUE(poll_until([&] {
        seen = alive_targets(agent)[pid];
        return seen == m.goroutines;
      }, 20s)) << m.label << " pid " << pid << ": goscry_goroutines " << seen
               << ", the process counted " << m.goroutines;
    }
    waves.push_back(std::move(wave));
    // The previous wave goes while this one runs: waves overlap as on a node.
    if (w > 0) forget(waves[w - 1]);
    sample_memory(agent);
  }
  forget(waves.back());

  // No probe left behind: the agent holds the perf events and BPF links it held before the
  // waves, plus, for each other Go process it tracks now and did not then (another suite's,
  // on a shared machine), at most what one fleet target cost at the height of a wave.
  std::set<std::string> fleet_proc_dirs;
  for (const auto& wave : waves)
    for (const auto& m : wave)
      fleet_proc_dirs.insert("/proc/" + std::to_string(m.process->pid()) + "/");
  AgentFds after;
  long others = 0;
  std::string left;
  EXPECT_TRUE(poll_until([&] {
    after = fds_of(agent.pid());
    others = long(listed_targets(agent).size()) - long(before_pids.size());
    left = fds_naming(agent.pid(), fleet_proc_dirs);
    const double allowed = std::max(0L, others) * per_target_fds_;
    // Not checked yet: /proc/PID/mem fds outlive their forgotten target (found by this test,
    // one per target of the last wave, still open 23 s after it was forgotten; issue 15,
    // left for the one-handle work, which owns the process handles). The uprobes are.
    return after.perf_events + after.bpf_links <=
           before.perf_events + before.bpf_links + allowed;
  }, kGracePeriod + kAttachAllowance))
      << "fds naming fleet processes:\n" << left << "before the waves " << describe(before)
      << ":\n" << kinds_before << "after " << describe(after) << ":\n"
      << fd_kinds(agent.pid()) << "other targets since: " << others << ", a fleet target cost "
      << per_target_fds_ << " fds";
  sample_memory(agent);
  EXPECT_LE(peak_rss_, kBudgetMib << 20);
  const std::string metrics = http_get(agent.url("/metrics")).body;
  EXPECT_NE(metrics.find("\ngoscry_agent_memory_over_budget 0\n"), std::string::npos) << metrics;
  std::printf("fleet: %d processes of %zu binaries; slowest discovery %.1f s after ready, "
              "slowest forgetting %.1f s after exit; agent peak RSS %.1f MiB (budget %zu)\n",
              kWaves * kPerWave, std::min<std::size_t>(binaries_.size(), kWaves * kPerWave),
              std::chrono::duration<double>(slowest_discovery).count(),
              std::chrono::duration<double>(slowest_forgetting).count(),
              double(peak_rss_) / (1 << 20), kBudgetMib);
}

}  // namespace
}  // namespace goscry::testing
