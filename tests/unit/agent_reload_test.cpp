// SIGHUP reloads the agent's YAML config atomically: a good file is applied (new targets
// tracked, new log level in effect), a broken one leaves the running config untouched and
// says so in goscry_config_last_reload_successful.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::set<pid_t> tracked(const AgentProcess& agent) {
  std::set<pid_t> pids;
  json j = json::parse(http_get(agent.url("/api/v1/targets")).body, nullptr, false);
  if (j.is_object())
    for (const auto& t : j["targets"]) pids.insert(t["pid"].get<pid_t>());
  return pids;
}

// The value of an unlabelled series in /metrics, or -1.
double metric(const AgentProcess& agent, const std::string& name) {
  std::string body = http_get(agent.url("/metrics")).body;
  auto at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + name.size() + 2));
}

class AgentReload : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("goscry-reload-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    for (int i = 0; i < 2; ++i)
      targets_.emplace_back(std::vector<std::string>{hello_fixture(), "wait"});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string config(const std::string& text) {
    // Written to a new file and renamed over the old one, as config management tools do,
    // so the agent never reads half a file.
    std::ofstream(dir_ / "agent.yml.new") << text;
    std::filesystem::rename(dir_ / "agent.yml.new", dir_ / "agent.yml");
    return (dir_ / "agent.yml").string();
  }
  std::string pid(int i) const { return std::to_string(targets_[i].pid()); }

  std::filesystem::path dir_;
  std::vector<HeldProcess> targets_;
};

TEST_F(AgentReload, GoodConfigIsAppliedOnSighup) {
  auto file = config("targets: [" + pid(0) + "]\nscan_interval: 50ms\nlog_level: info\n");
  AgentProcess agent({"--no-bpf", "--config", file});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ASSERT_TRUE(poll_until([&] { return tracked(agent).contains(targets_[0].pid()); }));
  double loaded_at = metric(agent, "goscry_config_last_reload_success_timestamp_seconds");
  EXPECT_GT(loaded_at, 0);
  EXPECT_EQ(agent.log().find("level=debug"), std::string::npos) << agent.log();

  config("targets: [" + pid(0) + ", " + pid(1) + "]\nscan_interval: 50ms\nlog_level: debug\n");
  agent.signal(SIGHUP);
  ASSERT_TRUE(poll_until([&] { return tracked(agent).contains(targets_[1].pid()); }))
      << agent.log();
  EXPECT_TRUE(tracked(agent).contains(targets_[0].pid()));
  EXPECT_NE(agent.log().find("msg=\"config reloaded\""), std::string::npos);
  // The debug level is in effect: the agent's debug lines now appear.
  ASSERT_TRUE(poll_until([&] { return agent.log().find("level=debug") != std::string::npos; }))
      << agent.log();
  EXPECT_EQ(metric(agent, "goscry_config_last_reload_successful"), 1);
  EXPECT_GT(metric(agent, "goscry_config_last_reload_success_timestamp_seconds"), loaded_at);
}

TEST_F(AgentReload, BrokenConfigKeepsTheRunningOneAndReportsIt) {
  auto file = config("targets: [" + pid(0) + "]\nscan_interval: 50ms\n");
  AgentProcess agent({"--no-bpf", "--config", file});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ASSERT_TRUE(poll_until([&] { return tracked(agent).contains(targets_[0].pid()); }));
  double loaded_at = metric(agent, "goscry_config_last_reload_success_timestamp_seconds");

  // Each is broken in a different layer: YAML syntax, an unknown key, a bad value. Each
  // also names the second target, which must therefore NOT be tracked afterwards.
  const std::vector<std::pair<std::string, std::string>> broken = {
      {"targets: [" + pid(0) + ", " + pid(1) + "\n", "not valid YAML"},
      // (the log is logfmt: quotes inside a value are escaped)
      {"targets: [" + pid(1) + "]\ngrace_periode: 5s\n", R"(unknown key \"grace_periode\")"},
      {"targets: [" + pid(1) + "]\nsite_cap: -3\n", "site_cap: must be between 1 and"},
  };
  for (const auto& [text, why] : broken) {
    config(text);
    agent.signal(SIGHUP);
    ASSERT_TRUE(poll_until([&] { return agent.log().find(why) != std::string::npos; }))
        << "want \"" << why << "\" in:\n" << agent.log();
    EXPECT_EQ(metric(agent, "goscry_config_last_reload_successful"), 0);
    EXPECT_EQ(metric(agent, "goscry_config_last_reload_success_timestamp_seconds"), loaded_at);
    EXPECT_EQ(tracked(agent), std::set<pid_t>{targets_[0].pid()});
  }
  EXPECT_NE(agent.log().find("config reload failed; keeping the running config"),
            std::string::npos);

  // Fixed: applied, and the gauge says so again.
  config("targets: [" + pid(1) + "]\nscan_interval: 50ms\n");
  agent.signal(SIGHUP);
  ASSERT_TRUE(poll_until([&] { return tracked(agent).contains(targets_[1].pid()); }));
  EXPECT_EQ(metric(agent, "goscry_config_last_reload_successful"), 1);
}

TEST_F(AgentReload, BadConfigAtStartRefusesToStart) {
  auto file = config("listen: nowhere\n");
  AgentProcess agent({"--no-bpf", "--config", file}, /*add_listen=*/false);
  EXPECT_EQ(agent.wait_exit(), 2);
  EXPECT_NE(agent.log().find(R"(bad configuration: listen address \"nowhere\": no port)"),
            std::string::npos)
      << agent.log();
}

}  // namespace
}  // namespace goscry::testing
