// The agent's GC series against the target's own runtime/metrics: the gccauses fixture
// (tests/fixtures/gccauses) runs heap-triggered cycles, runtime.GC() and
// debug.FreeOSMemory(), changes GOGC and GOMEMLIMIT at run time, and prints its metrics at
// the quiescent point that ends each phase. There, /metrics of a real agent tracking it must
// say the same: goscry_go_heap_goal_bytes = /gc/heap/goal:bytes, goscry_go_gogc_percent =
// /gc/gogc:percent, goscry_go_memory_limit_bytes = /gc/gomemlimit:bytes (1.19 has neither:
// the values the fixture set), and goscry_gc_cycles_total{trigger} grown by the phase's
// /gc/cycles/automatic (heap, time) and /gc/cycles/forced (runtime.GC, debug.FreeOSMemory).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

using namespace std::chrono_literals;

#define SKIP_OR_FAIL_WITHOUT_ROOT()                                                \
  if (geteuid() != 0) {                                                            \
    const char* ci = std::getenv("CI");                                            \
    if (ci && std::string(ci) == "true") FAIL() << "needs root (BPF) and CI=true"; \
    GTEST_SKIP() << "needs root: the agent attaches BPF probes";                   \
  }

// "state gogc=100 memlimit=9223372036854775807 /gc/cycles/total:gc-cycles=12 ..."
std::map<std::string, std::string> parse_state(const std::string& line) {
  std::map<std::string, std::string> st;
  std::istringstream in(line);
  std::string word;
  in >> word;
  while (in >> word)
    if (auto eq = word.find('='); eq != std::string::npos)
      st[word.substr(0, eq)] = word.substr(eq + 1);
  return st;
}

// A target's GC series as one scrape has them; a series not exported is absent.
struct AgentGc {
  std::map<std::string, double> gauges;  // metric name -> value
  std::map<std::string, double> cycles;  // trigger -> goscry_gc_cycles_total
  double automatic() const { return at("heap") + at("time"); }
  double forced() const { return at("runtime.GC") + at("debug.FreeOSMemory"); }
  double at(const std::string& trigger) const {
    auto it = cycles.find(trigger);
    return it == cycles.end() ? -1 : it->second;
  }
};

AgentGc agent_gc(const AgentProcess& agent, const std::string& pid) {
  AgentGc g;
  const std::string of_pid = "{pid=\"" + pid + "\"";
  for (const auto& line : split_lines(http_get(agent.url("/metrics")).body)) {
    const auto brace = line.find('{');
    if (brace == std::string::npos || line.compare(brace, of_pid.size(), of_pid) != 0) continue;
    const std::string name = line.substr(0, brace);
    const double value = std::stod(line.substr(line.rfind(' ') + 1));
    if (name == "goscry_gc_cycles_total") {
      const auto t = line.find("trigger=\"") + 9;
      g.cycles[line.substr(t, line.find('"', t) - t)] = value;
    } else if (name.starts_with("goscry_go_")) {
      g.gauges[name] = value;
    }
  }
  return g;
}

struct Tracked {
  Fixture fixture;
  std::unique_ptr<LiveProcess> process;
  std::string pid;
  AgentGc before;  // the agent's series at the previous quiescent point
  std::map<std::string, std::string> state_before;
};

double number(const std::map<std::string, std::string>& st, const std::string& key) {
  return std::stod(st.at(key));
}

// The pacer gauges the agent must show at this quiescent point, given the fixture's own
// metrics.
bool pacer_agrees(const AgentGc& now, const std::map<std::string, std::string>& st) {
  const bool new_go = st.count("/gc/gogc:percent") > 0;
  const double gogc = number(st, new_go ? "/gc/gogc:percent" : "gogc");
  const double limit = number(st, new_go ? "/gc/gomemlimit:bytes" : "memlimit");
  auto gauge = [&](const char* name) {
    auto it = now.gauges.find(name);
    return it == now.gauges.end() ? -1.0 : it->second;
  };
  return gauge("goscry_go_heap_goal_bytes") == number(st, "/gc/heap/goal:bytes") &&
         gauge("goscry_go_gogc_percent") == gogc && gauge("goscry_go_memory_limit_bytes") == limit;
}

// And the cycles of the phase, by cause.
bool agrees(const Tracked& t, const AgentGc& now, const std::map<std::string, std::string>& st) {
  auto grew = [&](const char* metric) {
    return number(st, metric) - number(t.state_before, metric);
  };
  return pacer_agrees(now, st) && now.automatic() - t.before.automatic() == grew("/gc/cycles/automatic:gc-cycles") &&
         now.forced() - t.before.forced() == grew("/gc/cycles/forced:gc-cycles") &&
         now.at("unknown") == t.before.at("unknown");
}

std::string describe(const AgentGc& g, const std::string& state) {
  std::string s = "agent:";
  for (const auto& [k, v] : g.gauges) s += " " + k + "=" + std::to_string(v);
  for (const auto& [k, v] : g.cycles) s += " cycles{" + k + "}=" + std::to_string(v);
  return s + "\nfixture: " + state;
}

TEST(AgentGc, GaugesAndCyclesEqualTheTargetsRuntimeMetricsAtEachQuiescentPoint) {
  SKIP_OR_FAIL_WITHOUT_ROOT();
  std::vector<Tracked> targets;
  std::vector<std::string> args = {"--no-leaks", "--profile-hz", "0"};
  for (const auto& f : all_fixtures("gccauses")) {
    if (f.variant != "plain" && f.variant != "stripped") continue;
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    Tracked t{f, std::move(*proc), "", {}, {}};
    t.pid = std::to_string(t.process->pid());
    args.insert(args.end(), {"--pid", t.pid});
    targets.push_back(std::move(t));
  }
  ASSERT_FALSE(targets.empty()) << "no gccauses fixture was built";
  AgentProcess agent(args);
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  // Attached: the cycle counters exist (0 per trigger from attach on, bpf_source.cpp).
  for (auto& t : targets)
    ASSERT_TRUE(poll_until([&] { return agent_gc(agent, t.pid).at("heap") >= 0; }, 60s))
        << t.fixture.label() << "\n" << agent.log();
  for (int phase = 0; phase < 5; ++phase) {
    SCOPED_TRACE("phase " + std::to_string(phase));
    for (auto& t : targets) t.process->send("\n");
    for (auto& t : targets) {
      SCOPED_TRACE(t.fixture.label());
      auto line = t.process->wait_for_prefix("state ", 60s);
      ASSERT_TRUE(line) << line.error().message;
      const auto st = parse_state(*line);
      if (phase == 0) {  // the baseline: the agent's counts from here on, once it refreshed
        EXPECT_TRUE(poll_until(
            [&] {
              t.before = agent_gc(agent, t.pid);
              return pacer_agrees(t.before, st);
            },
            30s))
            << describe(t.before, *line);
        t.state_before = st;
        continue;
      }
      AgentGc now;
      // The agent publishes the pacer at each refresh and the cycles as their events come.
      const bool same = poll_until(
          [&] {
            now = agent_gc(agent, t.pid);
            return agrees(t, now, st);
          },
          30s);
      EXPECT_TRUE(same) << describe(now, *line) << "\nbefore: " << describe(t.before, "");
      t.before = now;
      t.state_before = st;
    }
  }
  for (auto& t : targets) t.process->send("\n");
}

}  // namespace
}  // namespace goscry::testing
