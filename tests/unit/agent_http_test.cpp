// `goscry agent` as a user runs it: a real process on an ephemeral loopback port, tracking
// a live Go fixture. The oracles: promtool, a real Prometheus server, /proc, and `go version`.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"
#include "tests/support/prometheus_server.h"

namespace goscry::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// What `go version BINARY` says: "PATH: go1.26.8".
std::string go_version_oracle(const std::string& binary) {
  auto r = run_command({go_command(), "version", binary});
  auto colon = r.out.rfind(": ");
  if (r.exit_code != 0 || colon == std::string::npos) return "(go version failed: " + r.err + ")";
  std::string v = r.out.substr(colon + 2);
  while (!v.empty() && isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  return v;
}

std::string exe_of(pid_t pid) {
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe").string();
}

json targets(const AgentProcess& agent) {
  auto r = http_get(agent.url("/api/v1/targets"));
  json j = json::parse(r.body, nullptr, false);
  return j.is_discarded() ? json() : j;
}

bool tracks(const AgentProcess& agent, pid_t pid, bool alive = true) {
  json j = targets(agent);
  if (!j.is_object()) return false;
  for (const auto& t : j["targets"])
    if (t["pid"] == pid && t["alive"] == alive) return true;
  return false;
}

class AgentHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_ = hello_fixture();
    target_ = std::make_unique<HeldProcess>(std::vector<std::string>{fixture_, "wait"});
    pid_ = target_->pid();
    // The fixture is a Go process once exec is done.
    ASSERT_TRUE(poll_until([&] { return exe_of(pid_) == fixture_; }, 10s));
  }
  std::unique_ptr<AgentProcess> start_agent(std::vector<std::string> args = {}) {
    // The unit tier runs without BPF (the bpf tier has tests/bpf/agent_bpf_test.cpp).
    args.insert(args.begin(), {"--no-bpf", "--pid", std::to_string(pid_)});
    auto agent = std::make_unique<AgentProcess>(args);
    EXPECT_TRUE(agent->wait_listening()) << agent->log();
    EXPECT_TRUE(poll_until([&] { return tracks(*agent, pid_); })) << agent->log();
    return agent;
  }

  std::string fixture_;
  std::unique_ptr<HeldProcess> target_;
  pid_t pid_ = 0;
};

TEST_F(AgentHttp, MetricsOfALiveFixturePassPromtoolAndNameIt) {
  auto agent = start_agent();
  auto r = http_get(agent->url("/metrics"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  auto check = run_command({"promtool", "check", "metrics"}, r.body);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err << r.body;

  std::string info = "goscry_target_info{pid=\"" + std::to_string(pid_) + "\",exe=\"" +
                     exe_of(pid_) + "\",go_version=\"" + go_version_oracle(fixture_) +
                     // Not in a container: the container labels are there, empty.
                     "\",container_id=\"\",pod=\"\",namespace=\"\"} 1\n";
  EXPECT_NE(r.body.find(info), std::string::npos) << "want " << info << "in\n" << r.body;
  EXPECT_NE(r.body.find("\ngoscry_targets 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\ngoscry_build_info{version=\"" GOSCRY_VERSION "\""), std::string::npos);
  EXPECT_NE(r.body.find("\nprocess_resident_memory_bytes "), std::string::npos);
  // No BPF tracker is attached: figures only BPF can measure are absent, not zero.
  EXPECT_EQ(r.body.find("\ngoscry_goroutines{"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("\ngoscry_gc_stw_pause_seconds_bucket{"), std::string::npos);
}

TEST_F(AgentHttp, PrometheusScrapesTheAgent) {
  auto agent = start_agent();
  PrometheusServer prometheus(agent->port());
  json up = prometheus.wait_for("up{job=\"goscry\"} == 1", 1);
  json n = prometheus.wait_for("goscry_targets", 1);
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0]["value"][1], "1");
  json build = prometheus.wait_for("goscry_build_info{version=\"" GOSCRY_VERSION "\"}", 1);
  ASSERT_EQ(build.size(), 1u);
  EXPECT_EQ(build[0]["value"][1], "1");
  json info = prometheus.wait_for("goscry_target_info{pid=\"" + std::to_string(pid_) + "\"}", 1);
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0]["metric"]["go_version"], go_version_oracle(fixture_));
  EXPECT_EQ(info[0]["metric"]["exe"], exe_of(pid_));
  json reload = prometheus.wait_for("goscry_config_last_reload_successful == 1", 1);
}

TEST_F(AgentHttp, TargetsApiIndexAndHealthzDescribeTheTarget) {
  auto agent = start_agent();
  json j = targets(*agent);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["report"], "targets");
  EXPECT_EQ(j["version"], 1);
  ASSERT_EQ(j["targets"].size(), 1u);
  const json& t = j["targets"][0];
  EXPECT_EQ(t["pid"], pid_);
  EXPECT_EQ(t["exe"], exe_of(pid_));
  EXPECT_EQ(t["go_version"], go_version_oracle(fixture_));
  EXPECT_EQ(t["alive"], true);
  EXPECT_FALSE(t.contains("goroutines")) << "no tracker measures goroutines yet: " << t;

  auto index = http_get(agent->url("/"));
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<td>" + std::to_string(pid_) + "</td>"), std::string::npos);
  EXPECT_NE(index.body.find(go_version_oracle(fixture_)), std::string::npos);
  EXPECT_NE(index.body.find("href=\"/metrics\""), std::string::npos);

  auto health = http_get(agent->url("/healthz"));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(http_get(agent->url("/no-such-page")).status, 404);
}

TEST_F(AgentHttp, CtrlCAndSigtermStopCleanlyWithStatusZero) {
  for (int sig : {SIGINT, SIGTERM}) {
    auto agent = start_agent();
    agent->signal(sig);
    auto status = agent->wait_exit();
    ASSERT_TRUE(status.has_value()) << "agent did not stop on signal " << sig;
    EXPECT_EQ(*status, 0) << agent->log();
    EXPECT_NE(agent->log().find("msg=stopped"), std::string::npos) << agent->log();
  }
}

TEST_F(AgentHttp, AListedPidThatIsNotAGoProcessIsAnAttachErrorLoggedOnce) {
  // The test binary itself: alive, an ELF, not Go.
  auto agent = start_agent({"--pid", std::to_string(getpid())});
  ASSERT_TRUE(poll_until([&] {
    return http_get(agent->url("/metrics")).body.find("\ngoscry_attach_errors_total 1\n") !=
           std::string::npos;
  })) << http_get(agent->url("/metrics")).body;
  std::string log = agent->log();
  std::string line = "msg=\"cannot track target\" pid=" + std::to_string(getpid());
  auto first = log.find(line);
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_NE(log.find("not a Go binary", first), std::string::npos) << log;
  EXPECT_EQ(log.find(line, first + 1), std::string::npos) << "logged more than once:\n" << log;
  EXPECT_TRUE(tracks(*agent, pid_));
}

TEST_F(AgentHttp, JsonLogsAreOneObjectPerLine) {
  auto agent = start_agent({"--log-format", "json", "--pid", std::to_string(getpid())});
  size_t objects = 0;
  bool saw_target = false;
  for (const auto& line : split_lines(agent->log())) {
    if (line.rfind("listening on ", 0) == 0) continue;  // stdout, not a log line
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg")) << line;
    ++objects;
    if (j["msg"] == "target added" && j["pid"] == std::to_string(pid_)) {
      saw_target = true;
      EXPECT_EQ(j["exe"], exe_of(pid_));
      EXPECT_EQ(j["go_version"], go_version_oracle(fixture_));
    }
  }
  EXPECT_GE(objects, 3u);  // listening, cannot track (the test binary), target added
  EXPECT_TRUE(saw_target) << agent->log();
}

TEST_F(AgentHttp, AnExitedTargetsSeriesVanishAfterTheGracePeriod) {
  auto dir = std::filesystem::temp_directory_path() / ("goscry-grace-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "agent.yml") << "grace_period: 1500ms\nscan_interval: 50ms\n";
  auto agent = start_agent({"--config", (dir / "agent.yml").string()});
  std::string series = "goscry_target_info{pid=\"" + std::to_string(pid_) + "\"";
  ASSERT_NE(http_get(agent->url("/metrics")).body.find(series), std::string::npos);

  auto killed_at = std::chrono::steady_clock::now();
  target_->kill_and_wait();
  // Seen as exited, series still there (the grace period)...
  ASSERT_TRUE(poll_until([&] { return tracks(*agent, pid_, false); }, 10s)) << agent->log();
  EXPECT_NE(http_get(agent->url("/metrics")).body.find(series), std::string::npos);
  // ...then gone, not before the grace period after the exit.
  ASSERT_TRUE(poll_until(
      [&] { return http_get(agent->url("/metrics")).body.find(series) == std::string::npos; },
      10s));
  auto gone_after = std::chrono::steady_clock::now() - killed_at;
  EXPECT_GE(gone_after, 1500ms);
  EXPECT_LT(gone_after, 6s);
  EXPECT_EQ(targets(*agent)["targets"].size(), 0u);
  auto body = http_get(agent->url("/metrics")).body;
  EXPECT_NE(body.find("\ngoscry_targets 0\n"), std::string::npos) << body;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace goscry::testing
