// `goscry agent` with its BPF trackers and leak detector, as a user runs it: a real agent
// process tracking a live Go fixture, scraped by a real Prometheus. The oracles: what the
// fixture prints about itself (runtime.NumGoroutine, runtime/metrics' GC pause count), the
// line markers of the leak fixture's source, promtool and go tool pprof.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "symbolizer/runtime_layout.h"
#include "tests/support/churn_state.h"
#include "tests/support/fixtures.h"
#include "tests/support/go_traceback.h"
#include "tests/support/live_process.h"
#include "tests/support/processes.h"
#include "tests/support/prometheus_server.h"

namespace goscry::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

#define SKIP_OR_FAIL_WITHOUT_ROOT()                                                  \
  if (geteuid() != 0) {                                                              \
    const char* ci = std::getenv("CI");                                              \
    if (ci && std::string(ci) == "true") FAIL() << "needs root (BPF) and CI=true";   \
    GTEST_SKIP() << "needs root: the agent attaches BPF probes";                     \
  }

// The plain build of `name` by the newest toolchain (the manifest is sorted).
std::string newest_plain(const std::string& name) {
  std::string path;
  for (const auto& f : all_fixtures(name))
    if (f.variant == "plain") path = f.path;
  return path;
}

// Uprobes the agent holds: each is a perf event fd.
int perf_event_fds(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    auto target = std::filesystem::read_symlink(e.path(), ec);
    n += !ec && target == "anon_inode:[perf_event]";
  }
  return n;
}

std::string metrics_of(const AgentProcess& agent) { return http_get(agent.url("/metrics")).body; }

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::path(::testing::TempDir()) /
         ("goscry-agent-bpf-" + std::to_string(getpid()) + "-" + name);
}

// One agent on one churn fixture: at each of the fixture's quiescent points, Prometheus
// answers the fixture's own NumGoroutine for goscry_goroutines and, summed over the GC
// phases, as many STW pause observations as runtime/metrics counted since the agent
// attached; /metrics with the BPF series passes promtool; when the fixture exits, the
// agent's probes go at once (its series stay for the grace period).
void check_agent_on_churn(const Fixture& f) {
  const std::string path = f.path;
  const bool exact = go_minor_version(f.go_version).value_or(0) >= 22;
  auto fixture = LiveProcess::start({path});
  ASSERT_TRUE(fixture) << fixture.error().message;
  const std::string pid = std::to_string((*fixture)->pid());

  const auto config = temp_file("agent.yml");
  std::ofstream(config) << "scan_interval: 100ms\ngrace_period: 30s\n";
  // --profile-hz 0: CPU profiling holds perf events of its own; this test counts the
  // probes' (agent_profile_test covers profiling).
  AgentProcess agent({"--pid", pid, "--config", config.string(), "--profile-hz", "0"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  // Attached (the series appear) before the fixture moves: every pause from now on counts.
  const std::string series = "goscry_goroutines{pid=\"" + pid + "\"";
  ASSERT_TRUE(poll_until([&] { return metrics_of(agent).find(series) != std::string::npos; }))
      << agent.log();
  EXPECT_GT(perf_event_fds(agent.pid()), 0);
  PrometheusServer prometheus(agent.port());

  const std::string sel = "{pid=\"" + pid + "\"";
  ChurnState begin;
  for (int phase = 0; phase < 4; ++phase) {
    ASSERT_TRUE((*fixture)->send("\n"));
    auto line = (*fixture)->wait_for_prefix("state ", 30s);
    ASSERT_TRUE(line) << line.error().message;
    const ChurnState st = parse_churn_state(*line);
    SCOPED_TRACE(*line);
    if (phase == 0) begin = st;
    // Equal at a quiescent point: wait_for() polls until the comparison holds (a failure
    // after 60 s).
    auto n = prometheus.wait_for("goscry_goroutines" + sel + "} == " +
                                     std::to_string(st.goroutines), 1);
    EXPECT_EQ(n.size(), 1u);
    const std::uint64_t pauses = st.pauses - begin.pauses;
    const std::string count = "sum(goscry_gc_stw_pause_seconds_count" + sel +
                              ",phase=~\"sweep termination|mark termination\"})";
    if (exact) {
      EXPECT_EQ(prometheus.wait_for(count + " == " + std::to_string(pauses), 1).size(), 1u);
    } else {  // <= 1.21: /gc/pauses:seconds, within 10 %
      EXPECT_EQ(prometheus.wait_for("abs(" + count + " - " + std::to_string(pauses) + ") <= " +
                                        std::to_string(0.1 * double(pauses)), 1).size(), 1u);
    }
    // Summed over the triggers (heap, runtime.GC, ...): every cycle has one.
    EXPECT_EQ(prometheus.wait_for("sum(goscry_gc_cycles_total" + sel + "}) == " +
                                      std::to_string(st.gc_cycles - begin.gc_cycles), 1).size(), 1u);
    if (st.label == "grown") {
      const std::string body = metrics_of(agent);
      auto check = run_command({"promtool", "check", "metrics"}, body);
      EXPECT_EQ(check.exit_code, 0) << check.out << check.err << body;
      for (const char* want : {"\ngoscry_goroutines_created_total{", "\ngoscry_goroutines_exited_total{",
                               "site=\"main.spawnBlocked\"", "\ngoscry_gc_mark_phase_seconds_count{",
                               "phase=\"sweep termination\"", "phase=\"other\"",
                               "\ngoscry_events_lost_total 0\n"})
        EXPECT_NE(body.find(want), std::string::npos) << want << "\n" << body;
      // The top site by live goroutines: spawnBlocked's 100 parked goroutines.
      EXPECT_EQ(prometheus.wait_for("goscry_goroutines_by_creation_site" + sel +
                                        ",site=\"main.spawnBlocked\"} == 100", 1).size(), 1u);
    }
  }
  // Goroutines created since attach have their creation sites in the probes' `sites` map,
  // which the agent counts every 10 s; its capacity is exported next to it.
  EXPECT_EQ(prometheus.wait_for("goscry_bpf_map_entries{object=\"runtime\",map=\"sites\"} > 0",
                                1).size(), 1u);
  EXPECT_EQ(prometheus.wait_for("goscry_bpf_map_capacity{object=\"runtime\",map=\"sites\"} > 0",
                                1).size(), 1u);
  // The fixture's one ReadMemStats is the one pause that is not the GC's.
  EXPECT_EQ(prometheus.wait_for("goscry_gc_stw_pause_seconds_count" + sel + ",phase=\"other\"} == 1",
                                1).size(), 1u);

  // The fixture exits: its probes go at the next poll, its series stay (grace period).
  ASSERT_TRUE((*fixture)->send("\n"));
  ASSERT_TRUE((*fixture)->wait_exit(10s));
  EXPECT_TRUE(poll_until([&] { return perf_event_fds(agent.pid()) == 0; }, 10s))
      << perf_event_fds(agent.pid()) << " uprobes left\n" << agent.log();
  // Logged right after the removal.
  EXPECT_TRUE(poll_until([&] {
    return agent.log().find("BPF probes removed: target exited") != std::string::npos;
  }, 5s)) << agent.log();
  EXPECT_NE(metrics_of(agent).find(series), std::string::npos);
  std::filesystem::remove(config);
}

// The oldest and the newest toolchain of the run.
TEST(AgentBpf, PrometheusSeesTheFixturesGoroutinesAndGcPauses) {
  SKIP_OR_FAIL_WITHOUT_ROOT();
  std::vector<Fixture> plain;
  for (const auto& f : all_fixtures("churn"))
    if (f.variant == "plain") plain.push_back(f);
  ASSERT_FALSE(plain.empty()) << "no churn fixture was built";
  std::vector<Fixture> runs = {plain.front()};
  if (plain.back().go_version != plain.front().go_version) runs.push_back(plain.back());
  for (const auto& f : runs) {
    SCOPED_TRACE(f.label());
    check_agent_on_churn(f);
  }
}

// Without the capabilities BPF needs, each target's BPF attach fails — logged, counted in
// goscry_attach_errors_total — and the target stays tracked with its /proc figures.
TEST(AgentBpf, WithoutBpfCapabilitiesTargetsKeepTheirProcFigures) {
  SKIP_OR_FAIL_WITHOUT_ROOT();
  HeldProcess target({hello_fixture(), "wait"});
  const std::string pid = std::to_string(target.pid());
  ASSERT_TRUE(poll_until([&] {
    return std::filesystem::read_symlink("/proc/" + pid + "/exe").string() == hello_fixture();
  }, 10s));
  // --profile-hz 0: without capabilities CPU profiling fails too (a second attach error).
  AgentProcess agent({"--pid", pid, "--profile-hz", "0"}, true,
                     {"setpriv", "--bounding-set=-bpf,-perfmon,-sys_admin", "--"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ASSERT_TRUE(poll_until([&] {
    return metrics_of(agent).find("goscry_target_info{pid=\"" + pid + "\"") != std::string::npos;
  })) << agent.log();
  const std::string body = metrics_of(agent);
  EXPECT_NE(body.find("\ngoscry_attach_errors_total 1\n"), std::string::npos) << body;
  EXPECT_EQ(body.find("\ngoscry_goroutines{"), std::string::npos) << body;
  EXPECT_NE(body.find("\ngoscry_targets 1\n"), std::string::npos) << body;
  const std::string log = agent.log();
  const auto failed = log.find("msg=\"attach failed\" pid=" + pid + " source=bpf");
  ASSERT_NE(failed, std::string::npos) << log;
  EXPECT_NE(log.find("CAP_BPF", failed), std::string::npos) << log;
  // The leak detector reads memory, which needs no BPF: its report says why BPF is off.
  json j = json::parse(http_get(agent.url("/api/v1/leaks?pid=" + pid)).body, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(j["bpf"].get<std::string>().starts_with("off: ")) << j;
}

// "// creation:<mode>" / "// blocks:<mode>" markers of the leaks fixture: line numbers.
int marker_line(const std::string& marker) {
  std::ifstream in(source_dir() + "/tests/fixtures/leaks/main.go");
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.ends_with("// " + marker)) return n;
  }
  return -1;
}

json leaks_of(const AgentProcess& agent, const std::string& pid) {
  json j = json::parse(http_get(agent.url("/api/v1/leaks?pid=" + pid)).body, nullptr, false);
  return j.is_discarded() ? json() : j;
}

// One agent on one leaking fixture (a receiver nobody sends to, 4 per second): the
// goroutine profile in Go's three shapes, the errors of the routes, then the leak report,
// the goroutineleak profile and the suspects metric once the detector has decided; SIGTERM
// removes every probe.
TEST(AgentBpf, GoroutineRoutesAndLeaksOfALeakingFixture) {
  SKIP_OR_FAIL_WITHOUT_ROOT();
  const std::string path = newest_plain("leaks");
  ASSERT_FALSE(path.empty()) << "no leaks fixture was built";
  auto fixture = LiveProcess::start({path, "-rate", "4", "recv"});
  ASSERT_TRUE(fixture) << fixture.error().message;
  const std::string pid = std::to_string((*fixture)->pid());
  AgentProcess agent({"--pid", pid, "--profile-hz", "0"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ASSERT_TRUE(poll_until([&] { return leaks_of(agent, pid).is_object(); })) << agent.log();
  // The fixture leaks its first goroutine a tick (250 ms) after it starts: wait for one.
  const std::string base = "/debug/pprof/goroutine?pid=" + pid;
  ASSERT_TRUE(poll_until([&] {
    return http_get(agent.url(base + "&debug=1")).body.find("main.leakRecv") != std::string::npos;
  })) << agent.log();

  // debug=0: a gzipped profile.proto that go tool pprof reads, holding the leaked stacks.
  const auto pb = temp_file("goroutine.pb.gz");
  {
    auto r = http_get(agent.url(base + "&debug=0"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.content_type, "application/octet-stream");
    std::ofstream(pb, std::ios::binary) << r.body;
  }
  auto raw = run_command({go_command(), "tool", "pprof", "-raw", pb.string()});
  EXPECT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_NE(raw.out.find("goroutine/count"), std::string::npos) << raw.out;
  EXPECT_NE(raw.out.find("main.leakRecv.func1"), std::string::npos) << raw.out;
  // debug=1 and 2: Go's own text shapes.
  auto d1 = http_get(agent.url(base + "&debug=1"));
  EXPECT_EQ(d1.status, 200);
  EXPECT_TRUE(d1.body.starts_with("goroutine profile: total ")) << d1.body.substr(0, 200);
  EXPECT_NE(d1.body.find("\n#\t0x"), std::string::npos);
  auto d2 = http_get(agent.url(base + "&debug=2"));
  EXPECT_EQ(d2.status, 200);
  EXPECT_TRUE(d2.body.starts_with("goroutine ")) << d2.body.substr(0, 200);
  EXPECT_NE(d2.body.find(" [chan receive"), std::string::npos);
  EXPECT_NE(d2.body.find("\ncreated by main.leakRecv in goroutine "), std::string::npos)
      << d2.body.substr(0, 2000);
  // Errors: one sentence each.
  EXPECT_EQ(http_get(agent.url(base + "&debug=3")).status, 400);
  EXPECT_EQ(http_get(agent.url("/debug/pprof/goroutine")).status, 400);
  auto unknown = http_get(agent.url("/debug/pprof/goroutine?pid=" + std::to_string(agent.pid())));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body, "pid " + std::to_string(agent.pid()) + " is not a target of this agent\n");
  EXPECT_EQ(http_get(agent.url("/debug/pprof/goroutineleak?pid=1")).status, 404);
  EXPECT_EQ(http_get(agent.url("/api/v1/leaks?pid=1")).status, 404);

  // The leak, with its creation and blocking lines, within the detector's window.
  const int created = marker_line("creation:recv"), blocks = marker_line("blocks:recv");
  json found;
  ASSERT_TRUE(poll_until([&] {
    json j = leaks_of(agent, pid);
    if (!j.is_object()) return false;
    for (const auto& s : j["suspects"])
      if (s["creation_site"]["line"] == created && s["blocking_site"]["line"] == blocks &&
          s["creation_site"]["function"] == "main.leakRecv")
        found = s;
    return found.is_object();
  }, 60s)) << leaks_of(agent, pid).dump(2) << agent.log();
  EXPECT_EQ(leaks_of(agent, pid)["report"], "leaks");
  EXPECT_TRUE(leaks_of(agent, pid)["bpf"].get<std::string>().starts_with("on ("));
  auto all = json::parse(http_get(agent.url("/api/v1/leaks")).body, nullptr, false);
  ASSERT_TRUE(all.is_object());
  EXPECT_EQ(all["targets"].size(), 1u);

  // The goroutineleak profile: only the suspects' goroutines, readable by go tool pprof.
  const auto leak_pb = temp_file("goroutineleak.pb.gz");
  {
    auto r = http_get(agent.url("/debug/pprof/goroutineleak?pid=" + pid));
    ASSERT_EQ(r.status, 200) << r.body;
    std::ofstream(leak_pb, std::ios::binary) << r.body;
  }
  auto top = run_command({go_command(), "tool", "pprof", "-top", leak_pb.string()});
  EXPECT_EQ(top.exit_code, 0) << top.err;
  EXPECT_NE(top.out.find("main.leakRecv.func1"), std::string::npos) << top.out;
  auto leak_text = http_get(agent.url("/debug/pprof/goroutineleak?pid=" + pid + "&debug=1"));
  EXPECT_TRUE(leak_text.body.starts_with("goroutineleak profile: total ")) << leak_text.body;

  // debug=2 and the suspect's example stack print each frame's arguments as the runtime
  // does: byte for byte the fixture's own runtime.Stack of those goroutines, asked for after
  // (a leaked goroutine never moves on).
  auto leak_tb = http_get(agent.url("/debug/pprof/goroutineleak?pid=" + pid + "&debug=2"));
  ASSERT_EQ(leak_tb.status, 200) << leak_tb.body;
  const json& example = found;
  ASSERT_TRUE((*fixture)->send("traceback\n"));
  ASSERT_TRUE((*fixture)->wait_for_line("end traceback", 30s));
  const auto oracle = parse_traceback(oracle_traceback((*fixture)->output()));
  auto leaked = parse_traceback(leak_tb.body);
  const auto example_id = example["example_goroutine"].get<std::uint64_t>();
  const auto shown = parse_traceback(example["example_stack"].get<std::string>());
  ASSERT_TRUE(shown.count(example_id)) << example.dump(2);
  leaked.emplace(~std::uint64_t(0), shown.at(example_id));  // compared as one more
  ASSERT_GE(leaked.size(), 2u) << leak_tb.body;
  for (const auto& [key, g] : leaked) {
    const std::uint64_t id = key == ~std::uint64_t(0) ? example_id : key;
    SCOPED_TRACE("goroutine " + std::to_string(id));
    auto it = oracle.find(id);
    ASSERT_NE(it, oracle.end()) << "not in the fixture's own traceback";
    EXPECT_EQ(g.printed, it->second.printed) << leak_tb.body;
    EXPECT_EQ(g.created_by, it->second.created_by);
  }

  // The metric: the suspects' goroutines under their creation site; promtool accepts it.
  const std::string body = metrics_of(agent);
  const std::string metric = "\ngoscry_goroutine_leak_suspects{pid=\"" + pid + "\"";
  auto at = body.find(metric);
  ASSERT_NE(at, std::string::npos) << body;
  EXPECT_NE(body.find("site=\"main.leakRecv\"}", at), std::string::npos) << body;
  auto check = run_command({"promtool", "check", "metrics"}, body);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  // SIGTERM: every probe removed, exit 0.
  agent.signal(SIGTERM);
  auto status = agent.wait_exit();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0) << agent.log();
  EXPECT_NE(agent.log().find("BPF probes removed: agent stopping"), std::string::npos)
      << agent.log();
  std::filesystem::remove(pb);
  std::filesystem::remove(leak_pb);
}

// Over its memory budget with nothing left to release, the agent degrades one target per
// scan, the one with the most goroutines first: that target's leak snapshots go (counted,
// logged with its pid, its report says why), its other figures stay. Two leaking fixtures,
// one leaking 20 times faster; the budget is cut below the agent's RSS by a reload once
// both were snapshotted, so the detector knows which is larger.
TEST(AgentMemoryBudget, OverBudgetTheLargestTargetsLeakSnapshotsGoFirst) {
  SKIP_OR_FAIL_WITHOUT_ROOT();
  const std::string path = newest_plain("leaks");
  ASSERT_FALSE(path.empty()) << "no leaks fixture was built";
  auto small = LiveProcess::start({path, "-rate", "1", "recv"});
  auto large = LiveProcess::start({path, "-rate", "20", "recv"});
  ASSERT_TRUE(small && large);
  const std::string small_pid = std::to_string((*small)->pid()),
                    large_pid = std::to_string((*large)->pid());
  const auto config = temp_file("budget.yml");
  std::ofstream(config) << "scan_interval: 1s\n";
  AgentProcess agent({"--pid", small_pid, "--pid", large_pid, "--config", config.string(),
                      "--profile-hz", "0"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  auto watched = [&](const std::string& pid) {
    json j = leaks_of(agent, pid);
    return j.is_object() && j.value("watched_seconds", 0.0) > 0;
  };
  ASSERT_TRUE(poll_until([&] { return watched(small_pid) && watched(large_pid); })) << agent.log();
  std::ofstream(config) << "scan_interval: 1s\nmemory_budget_mib: 1\n";
  agent.signal(SIGHUP);

  auto shed = [&] {
    const std::string m = metrics_of(agent);
    auto at = m.find("goscry_agent_memory_degradations_total{action=\"shed_target\"} ");
    return at == std::string::npos ? -1 : std::stoi(m.substr(m.find('}', at) + 2));
  };
  ASSERT_TRUE(poll_until([&] { return shed() == 2; }, 60s)) << shed() << "\n" << agent.log();
  // The order, from the agent's warnings: the larger target first.
  const std::string log = agent.log();
  const auto first = log.find("a target's watch given up");
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_NE(log.find("leaks " + large_pid, first), std::string::npos) << log;
  EXPECT_LT(log.find("leaks " + large_pid, first), log.find("leaks " + small_pid, first)) << log;
  for (const auto& pid : {small_pid, large_pid}) {
    SCOPED_TRACE(pid);
    json j = leaks_of(agent, pid);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j.value("off", ""), "leak snapshots given up: the agent was over its memory budget");
    EXPECT_TRUE(j["suspects"].empty()) << j.dump();
  }
  // Degraded, not dropped: the probes' figures of both targets are still served, and no
  // leak figure of either is left behind.
  ASSERT_TRUE(poll_until([&] {
    return metrics_of(agent).find("goscry_goroutine_leak_suspects{") == std::string::npos;
  })) << metrics_of(agent);
  const std::string m = metrics_of(agent);
  for (const auto& pid : {small_pid, large_pid})
    EXPECT_NE(m.find("goscry_goroutines{pid=\"" + pid + "\""), std::string::npos)
        << pid << "\n" << m;
  EXPECT_NE(m.find("\ngoscry_agent_memory_over_budget 1\n"), std::string::npos);
  EXPECT_NE(http_get(agent.url("/")).body.find("Leak snapshots given up for 2 targets"),
            std::string::npos);
  std::filesystem::remove(config);
}

}  // namespace
}  // namespace goscry::testing
