// A Go program that has loaded a Go plugin (plugin.Open of a -buildmode=plugin .so) is refused
// until goscry reads plugins: it used to be read as if the executable were all its Go code
// (0 GC cycles while gctrace printed 5, the plugin's goroutines missing from `top`, frameless
// goroutines in `dump`). Every verb that opens a live Go target and the agent say so in one
// sentence naming the plugin, exit non-zero, and leave the target as it was. The fixture is
// tests/fixtures/goplugin, built per toolchain (scripts/build-fixtures.sh); the oracle for the
// plugin's path is the fixture itself, which prints the path its own /proc/self/maps gives.
// The control is the same host program with no plugin loaded: accepted.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "symbolizer/proc_stat.h"
#include "tests/support/child_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/goscry_verb.h"
#include "tests/support/probe_bytes.h"
#include "tests/support/processes.h"

namespace goscry {
namespace {

using namespace std::chrono_literals;
using testing::AgentProcess;
using testing::ChildProcess;
using testing::goscry_binary;
using testing::http_get;
using testing::poll_until;
using testing::PluginBuild;
using testing::plugin_builds;
using testing::run_command;

// The host started with the plugin (or without, the control), past its "ready"; `path` is
// what it printed after "plugin ": the plugin's path as its own mappings name it.
struct Host {
  std::unique_ptr<ChildProcess> process;
  std::string path;
};

Host start_host(const PluginBuild& b, bool with_plugin) {
  Host h;
  std::vector<std::string> argv = {b.host};
  if (with_plugin) argv.push_back(b.plugin);
  h.process = std::make_unique<ChildProcess>(argv);
  auto first = h.process->read_line();
  EXPECT_TRUE(first) << h.process->rest_of_stderr();
  if (!first) return h;
  if (with_plugin) {
    EXPECT_TRUE(first->starts_with("plugin /")) << *first;
    if (first->starts_with("plugin ")) h.path = first->substr(7);
  } else {
    EXPECT_EQ(*first, "no plugin");
  }
  EXPECT_EQ(h.process->read_line(), "ready");
  return h;
}

std::string refusal(pid_t pid, const std::string& path) {
  return "pid " + std::to_string(pid) + " has loaded the Go plugin " + path +
         ": goscry does not read plugins' code and goroutines yet";
}

// `goscry <verb...>` bounded to a minute (a verb that hangs is a failure, 124).
testing::CommandResult run_goscry(const std::vector<std::string>& verb) {
  std::vector<std::string> argv = {"timeout", "60", goscry_binary()};
  argv.insert(argv.end(), verb.begin(), verb.end());
  return run_command(argv);
}

std::vector<std::vector<std::string>> verbs(pid_t pid, const std::string& out_file) {
  const std::string p = std::to_string(pid);
  return {{"top", "--once", "--pid", p},
          {"dump", "--pid", p},
          {"gc", "-d", "1s", "--pid", p},
          {"leaks", "-d", "20s", "--pid", p},
          {"heap", "--pid", p},
          {"record", "-d", "1s", "-o", out_file, "--pid", p}};
}

TEST(GoPlugin, EveryVerbRefusesAProcessThatLoadedAGoPluginAndLeavesItAsItWas) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  const auto builds = plugin_builds();
  ASSERT_FALSE(builds.empty()) << "goplugin not built (scripts/build-fixtures.sh)";
  for (const PluginBuild& b : builds) {
    SCOPED_TRACE(b.go_version);
    Host host = start_host(b, true);
    ASSERT_FALSE(host.path.empty());
    ASSERT_EQ(std::filesystem::path(host.path).filename(), "goplugin.so");
    const pid_t pid = host.process->pid();
    const auto before = testing::probe_bytes(pid, b.host, b.go_version);
    ASSERT_FALSE(before.file.empty());
    ASSERT_EQ(before.breakpoints(), 0u);
    const std::string profile =
        (std::filesystem::temp_directory_path() / ("goplugin-" + std::to_string(pid) + ".pb.gz"))
            .string();
    for (const auto& verb : verbs(pid, profile)) {
      SCOPED_TRACE(verb[0]);
      auto r = run_goscry(verb);
      EXPECT_NE(r.exit_code, 0) << r.out;
      EXPECT_NE(r.exit_code, 124) << "timed out";
      EXPECT_EQ(r.err, "goscry " + verb[0] + ": " + refusal(pid, host.path) + "\n");
      EXPECT_EQ(r.out, "");
      EXPECT_EQ(testing::probe_bytes(pid, b.host, b.go_version).breakpoints(), 0u);
    }
    EXPECT_FALSE(std::filesystem::exists(profile)) << "record wrote " << profile;
    std::filesystem::remove(profile);
    // Unharmed: it runs on, and ends as it would have (stdin closed: exit 0, nothing on
    // stderr).
    EXPECT_TRUE(process_alive(pid));
    host.process->close_stdin();
    EXPECT_EQ(host.process->rest_of_stderr(), "");
    EXPECT_EQ(host.process->wait(), 0);
  }
}

TEST(GoPlugin, TheSameHostWithoutAPluginIsAccepted) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  const auto builds = plugin_builds();
  ASSERT_FALSE(builds.empty()) << "goplugin not built (scripts/build-fixtures.sh)";
  for (const PluginBuild& b : builds) {
    SCOPED_TRACE(b.go_version);
    Host host = start_host(b, false);
    const std::string p = std::to_string(host.process->pid());
    for (const std::vector<std::string>& verb : std::vector<std::vector<std::string>>{
             {"top", "--once", "--pid", p}, {"dump", "--pid", p}, {"gc", "-d", "1s", "--pid", p}}) {
      SCOPED_TRACE(verb[0]);
      auto r = run_goscry(verb);
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.err.find("plugin"), std::string::npos) << r.err;
      // The host's main goroutine, blocked reading stdin, is in any dump of it (its whole
      // stack: GoroutineDump.TheGoroutineInASyscallMatchesItsSigquitTraceback).
      if (verb[0] == "dump") {
        EXPECT_NE(r.out.find("goroutine 1 ["), std::string::npos) << r.out;
      }
    }
    host.process->close_stdin();
    EXPECT_EQ(host.process->wait(), 0);
  }
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The agent logs the sentence once for the process and tracks the others it was given. Two
// controls end one after the other: the second's exit is noticed by a later scan than the
// first's, so by then a whole scan has passed the plugin's pid again without a second line.
TEST(GoPlugin, TheAgentSkipsAProcessThatLoadedAGoPluginAndSaysWhyOnce) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  const auto builds = plugin_builds();
  ASSERT_FALSE(builds.empty()) << "goplugin not built (scripts/build-fixtures.sh)";
  const PluginBuild& b = builds.back();
  Host host = start_host(b, true);
  ASSERT_FALSE(host.path.empty());
  Host first = start_host(b, false), second = start_host(b, false);
  const pid_t pid = host.process->pid();
  const std::string p = std::to_string(pid), c1 = std::to_string(first.process->pid()),
                    c2 = std::to_string(second.process->pid());
  const std::filesystem::path config =
      std::filesystem::temp_directory_path() / ("goplugin-agent-" + p + ".yml");
  std::ofstream(config) << "targets: [" << p << ", " << c1 << ", " << c2
                        << "]\nscan_interval: 50ms\n";
  AgentProcess agent({"--config", config.string()});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  const std::string why = refusal(pid, host.path);
  auto tracked = [&](const std::string& pid_text) {
    return http_get(agent.url("/api/v1/targets")).body.find("\"pid\":" + pid_text) !=
           std::string::npos;
  };
  auto exited = [&](const std::string& pid_text) {
    return agent.log().find("msg=\"target exited\" pid=" + pid_text) != std::string::npos;
  };
  ASSERT_TRUE(poll_until([&] { return tracked(c1) && tracked(c2); })) << agent.log();
  ASSERT_TRUE(poll_until([&] { return agent.log().find(why) != std::string::npos; }))
      << agent.log();
  EXPECT_FALSE(tracked(p));
  first.process->close_stdin();
  EXPECT_EQ(first.process->wait(), 0);
  ASSERT_TRUE(poll_until([&] { return exited(c1); })) << agent.log();
  second.process->close_stdin();
  EXPECT_EQ(second.process->wait(), 0);
  ASSERT_TRUE(poll_until([&] { return exited(c2); })) << agent.log();
  EXPECT_EQ(count(agent.log(), why), 1u) << agent.log();
  EXPECT_FALSE(tracked(p));
  // No series at all for it (not zeros), while the controls have theirs.
  const std::string metrics = http_get(agent.url("/metrics")).body;
  EXPECT_EQ(metrics.find("pid=\"" + p + "\""), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("pid=\"" + c1 + "\""), std::string::npos) << metrics;
  EXPECT_EQ(testing::probe_bytes(pid, b.host, b.go_version).breakpoints(), 0u);
  std::filesystem::remove(config);
  host.process->close_stdin();
  EXPECT_EQ(host.process->wait(), 0);
}

}  // namespace
}  // namespace goscry
